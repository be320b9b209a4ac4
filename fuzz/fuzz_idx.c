/* libFuzzer target: the IDX reader (fz_idx in fuzz_entry.c) on each input, as a file. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_entry.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fz_idx(fz_file_put(data, size)) < 0)
        abort();
    return 0;
}
