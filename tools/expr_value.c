/* Values given with --at NAME=VALUE: a number or a rectangular nested list of numbers. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "expr.h"

typedef struct value_parser {
    const char *start; /* the value text, for column numbers */
    const char *p;
    int ndim;
    int64_t shape[RG_MAX_DIMS];
    double *data;
    int64_t n, cap;
    char *err;
    size_t errlen;
} value_parser;

static bool fail(value_parser *vp, const char *fmt, ...)
{
    char msg[EXPR_ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(vp->err, vp->errlen, "column %d: %s", (int)(vp->p - vp->start) + 1, msg);
    return false;
}

static void skip_space(value_parser *vp)
{
    while (isspace((unsigned char)*vp->p))
        vp->p++;
}

/* A number: an optional sign, then decimal digits with an optional fraction and exponent,
 * or inf, infinity or nan (any case). Non-finite values are taken as given. */
static bool parse_number(value_parser *vp, double *out)
{
    const char *s = vp->p;
    size_t i = 0;
    if (s[i] == '+' || s[i] == '-')
        i++;
    size_t body = i, digits = 0;
    if (strncasecmp(s + i, "infinity", 8) == 0) {
        i += 8;
    } else if (strncasecmp(s + i, "inf", 3) == 0 || strncasecmp(s + i, "nan", 3) == 0) {
        i += 3;
    } else {
        while (isdigit((unsigned char)s[i]))
            i++, digits++;
        if (s[i] == '.') {
            i++;
            while (isdigit((unsigned char)s[i]))
                i++, digits++;
        }
        if (digits == 0)
            return fail(vp, "expected a number or '['");
        if (s[i] == 'e' || s[i] == 'E') {
            size_t j = i + 1;
            if (s[j] == '+' || s[j] == '-')
                j++;
            if (!isdigit((unsigned char)s[j]))
                return fail(vp, "malformed number");
            while (isdigit((unsigned char)s[j]))
                j++;
            i = j;
        }
    }
    if (isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.')
        return fail(vp, "malformed number");
    char buf[128];
    if (i >= sizeof buf)
        return fail(vp, "number too long");
    memcpy(buf, s, i);
    buf[i] = '\0';
    if (strncasecmp(buf + body, "nan", 3) == 0) /* strtod's NaN sign is not portable */
        *out = NAN;
    else
        *out = strtod(buf, NULL);
    vp->p += i;
    return true;
}

static bool push(value_parser *vp, double v)
{
    if (vp->n == vp->cap) {
        int64_t cap = vp->cap ? 2 * vp->cap : 16;
        double *d = realloc(vp->data, (size_t)cap * sizeof *d);
        if (!d)
            return fail(vp, "out of memory");
        vp->data = d;
        vp->cap = cap;
    }
    vp->data[vp->n++] = v;
    return true;
}

/* One element at nesting `level`: a list when level < ndim, else a number. The first list
 * seen at each level fixes that dimension; every later one must match it. */
static bool parse_level(value_parser *vp, int level)
{
    skip_space(vp);
    if (level == vp->ndim) {
        if (*vp->p == '[')
            return fail(vp, "ragged list: a list where a number was expected");
        double v = 0;
        return parse_number(vp, &v) && push(vp, v);
    }
    if (*vp->p != '[')
        return fail(vp, "ragged list: a number where a list of %lld was expected",
                    (long long)vp->shape[level]);
    vp->p++;
    skip_space(vp);
    if (*vp->p == ']')
        return fail(vp, "empty list");
    int64_t count = 0;
    for (;;) {
        if (!parse_level(vp, level + 1))
            return false;
        count++;
        skip_space(vp);
        if (*vp->p == ',') {
            vp->p++;
            continue;
        }
        if (*vp->p == ']')
            break;
        return fail(vp, *vp->p ? "expected ',' or ']'" : "missing ']'");
    }
    if (vp->shape[level] < 0)
        vp->shape[level] = count;
    else if (vp->shape[level] != count)
        return fail(vp, "ragged list: %lld element%s here but %lld in the first list at this "
                    "depth",
                    (long long)count, count == 1 ? "" : "s", (long long)vp->shape[level]);
    vp->p++;
    return true;
}

bool expr_var_parse(const char *arg, expr_var *var, char *err, size_t errlen)
{
    memset(var, 0, sizeof *var);
    const char *eq = strchr(arg, '=');
    char q[CLI_QUOTE_LEN];
    if (!eq) {
        snprintf(err, errlen, "--at expects NAME=VALUE, got '%s'", cli_quote(arg, strlen(arg), q));
        return false;
    }
    size_t len = (size_t)(eq - arg);
    if (!expr_is_name(arg, len)) {
        snprintf(err, errlen, "--at: '%s' is not a valid variable name", cli_quote(arg, len, q));
        return false;
    }
    value_parser vp = {.start = eq + 1, .p = eq + 1, .err = err, .errlen = errlen};
    /* The number of leading '[' fixes the rank; parse_level then checks every element. */
    const char *lead = vp.p;
    for (;;) {
        while (isspace((unsigned char)*lead))
            lead++;
        if (*lead != '[')
            break;
        if (vp.ndim == RG_MAX_DIMS) {
            vp.p = lead;
            fail(&vp, "more than %d dimensions", RG_MAX_DIMS);
            goto bad;
        }
        vp.shape[vp.ndim++] = -1;
        lead++;
    }
    if (!parse_level(&vp, 0))
        goto bad;
    skip_space(&vp);
    if (*vp.p) {
        fail(&vp, "unexpected text after the value");
        goto bad;
    }
    var->name = malloc(len + 1);
    if (!var->name) {
        snprintf(err, errlen, "out of memory");
        free(vp.data);
        return false;
    }
    memcpy(var->name, arg, len);
    var->name[len] = '\0';
    var->ndim = vp.ndim;
    memcpy(var->shape, vp.shape, sizeof vp.shape);
    var->size = vp.n;
    var->data = vp.data;
    return true;
bad:;
    /* Prefix the message with the variable it is about. */
    char msg[EXPR_ERRLEN];
    snprintf(msg, sizeof msg, "%s", err);
    snprintf(err, errlen, "bad --at value for '%s': %s", cli_quote(arg, len, q), msg);
    free(vp.data);
    return false;
}

void expr_var_clear(expr_var *var)
{
    free(var->name);
    free(var->data);
    memset(var, 0, sizeof *var);
}
