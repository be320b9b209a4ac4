/* libFuzzer target: `retrograd expr` (fz_expr in fuzz_entry.c) on each input as a program.
 * A program is one command-line argument or standard input, where the command refuses a NUL
 * byte: inputs holding one are skipped. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_entry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (memchr(data, '\0', size))
        return 0;
    char *program = malloc(size + 1);
    if (!program)
        return 0;
    memcpy(program, data, size);
    program[size] = '\0';
    int rc = fz_expr(program);
    free(program);
    if (rc < 0)
        abort();
    return 0;
}
