/* Helpers shared by the subcommands of the retrograd command. */
#ifndef RG_TOOLS_CLI_H
#define RG_TOOLS_CLI_H

#include <stddef.h>

/* Exit statuses of every subcommand. */
enum { CLI_OK = 0, CLI_FAILED = 1, CLI_BAD_INPUT = 2 };

/* Room for a quoted piece of user input (see cli_quote). */
#define CLI_QUOTE_LEN 96

/* Prints "retrograd: MESSAGE" and a newline on stderr; returns CLI_BAD_INPUT. */
int cli_fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Copies at most the first 48 bytes of s[0..len) into buf (CLI_QUOTE_LEN bytes) for an
 * error message, escaping control and non-ASCII bytes (\n, \x80) so the message stays one
 * printable line, and appending "..." when cut. Returns buf. */
const char *cli_quote(const char *s, size_t len, char *buf);

#endif
