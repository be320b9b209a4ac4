/* libFuzzer target: the model loader (fz_model in fuzz_entry.c) on each input. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_entry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fz_model(data, size) < 0)
        abort();
    return 0;
}
