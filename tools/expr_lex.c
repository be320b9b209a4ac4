/* Lexer of the expression language: numbers, names, one-character operators and statement
 * separators, each with its line and column for error messages. */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "expr.h"

static bool is_name_start(int c)
{
    return isalpha((unsigned char)c) || c == '_';
}

static bool is_name_char(int c)
{
    return isalnum((unsigned char)c) || c == '_';
}

bool expr_is_name(const char *s, size_t len)
{
    if (len == 0 || !is_name_start(s[0]))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!is_name_char(s[i]))
            return false;
    return true;
}

/* Length of the number starting at s (digits, one '.', an exponent), 0 if malformed. The
 * value is then read by strtod on a copy, so the grammar stays ours and not the locale's
 * or strtod's (which would also take "inf", hex and a sign). */
static size_t scan_number(const char *s)
{
    size_t i = 0, digits = 0;
    while (isdigit((unsigned char)s[i]))
        i++, digits++;
    if (s[i] == '.') {
        i++;
        while (isdigit((unsigned char)s[i]))
            i++, digits++;
    }
    if (digits == 0)
        return 0;
    if (s[i] == 'e' || s[i] == 'E') {
        size_t j = i + 1;
        if (s[j] == '+' || s[j] == '-')
            j++;
        if (!isdigit((unsigned char)s[j]))
            return 0;
        while (isdigit((unsigned char)s[j]))
            j++;
        i = j;
    }
    return i;
}

static void lex_error(char *err, size_t errlen, int line, int col, const char *fmt, ...)
{
    char msg[EXPR_ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%d:%d: %s", line, col, msg);
}

expr_token *expr_lex(const char *src, size_t *ntok, char *err, size_t errlen)
{
    /* Every token but TOK_END consumes at least one byte. */
    size_t cap = strlen(src) + 1, n = 0;
    expr_token *toks = malloc(cap * sizeof *toks);
    if (!toks) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    const char *p = src, *line_start = src;
    int line = 1, parens = 0;
    for (;;) {
        expr_token t = {.text = p, .line = line, .col = (int)(p - line_start) + 1};
        char c = *p;
        if (c == ' ' || c == '\t' || c == '\r') {
            p++;
            continue;
        }
        if (c == '#') { /* comment to the end of the line */
            while (*p && *p != '\n')
                p++;
            continue;
        }
        if (c == '\0') {
            t.kind = TOK_END;
            toks[n++] = t;
            break;
        }
        if (c == '\n') {
            p++;
            line++;
            line_start = p;
            /* Inside parentheses a newline only continues the expression. */
            if (parens > 0)
                continue;
            t.kind = TOK_SEP;
            t.newline = true;
            t.len = 1;
        } else if (c == ';') {
            t.kind = TOK_SEP;
            t.len = 1;
            p++;
        } else if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)p[1]))) {
            size_t len = scan_number(p);
            if (len == 0) {
                lex_error(err, errlen, t.line, t.col, "malformed number");
                free(toks);
                return NULL;
            }
            char buf[128];
            if (len >= sizeof buf) {
                lex_error(err, errlen, t.line, t.col, "number too long");
                free(toks);
                return NULL;
            }
            memcpy(buf, p, len);
            buf[len] = '\0';
            /* An overflowing literal reads as infinity and an underflowing one as 0 or a
             * subnormal, as strtod gives them; the number is taken as written. */
            t.num = strtod(buf, NULL);
            t.kind = TOK_NUMBER;
            t.len = len;
            p += len;
            if (is_name_char(*p)) {
                lex_error(err, errlen, line, (int)(p - line_start) + 1,
                          "unexpected '%c' after a number", *p);
                free(toks);
                return NULL;
            }
        } else if (is_name_start(c)) {
            size_t len = 1;
            while (is_name_char(p[len]))
                len++;
            t.kind = TOK_NAME;
            t.len = len;
            p += len;
        } else if (c != '\0' && strchr("+-*/^@(),=", c)) {
            if (c == '(')
                parens++;
            else if (c == ')' && parens > 0)
                parens--;
            t.kind = TOK_PUNCT;
            t.punct = c;
            t.len = 1;
            p++;
        } else {
            if (isprint((unsigned char)c))
                lex_error(err, errlen, t.line, t.col, "unexpected character '%c'", c);
            else
                lex_error(err, errlen, t.line, t.col, "unexpected byte 0x%02x",
                          (unsigned)(unsigned char)c);
            free(toks);
            return NULL;
        }
        toks[n++] = t;
    }
    *ntok = n;
    return toks;
}

void expr_tok_describe(const expr_token *t, char *buf, size_t len)
{
    char q[CLI_QUOTE_LEN];
    switch (t->kind) {
    case TOK_END:
        snprintf(buf, len, "end of input");
        break;
    case TOK_SEP:
        snprintf(buf, len, t->newline ? "end of line" : "';'");
        break;
    case TOK_NUMBER:
        snprintf(buf, len, "number %s", cli_quote(t->text, t->len, q));
        break;
    case TOK_NAME:
        snprintf(buf, len, "'%s'", cli_quote(t->text, t->len, q));
        break;
    case TOK_PUNCT:
        snprintf(buf, len, "'%c'", t->punct);
        break;
    }
}
