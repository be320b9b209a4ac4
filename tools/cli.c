/* Helpers shared by the subcommands of the retrograd command. */
#include <stdarg.h>
#include <stdio.h>

#include "cli.h"

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("retrograd: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_BAD_INPUT;
}

const char *cli_quote(const char *s, size_t len, char *buf)
{
    size_t n = 0, i = 0;
    /* Worst case per byte is 4 characters ("\xNN"): 48 of them plus "..." fit. */
    for (; i < len && i < 48 && n + 8 < CLI_QUOTE_LEN; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            n += (size_t)snprintf(buf + n, CLI_QUOTE_LEN - n, "\\n");
        else if (c == '\t')
            n += (size_t)snprintf(buf + n, CLI_QUOTE_LEN - n, "\\t");
        else if (c < 0x20 || c >= 0x7f)
            n += (size_t)snprintf(buf + n, CLI_QUOTE_LEN - n, "\\x%02x", c);
        else
            buf[n++] = (char)c;
    }
    buf[n] = '\0';
    if (i < len)
        snprintf(buf + n, CLI_QUOTE_LEN - n, "...");
    return buf;
}
