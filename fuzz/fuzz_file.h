/* The readers of CSV and IDX files take a path: each input is written to an in-memory file
 * (memfd) that they open as /proc/self/fd/N, so fuzzing does not touch the disk. */
#ifndef RG_FUZZ_FILE_H
#define RG_FUZZ_FILE_H

#include <stddef.h>
#include <stdint.h>

/* Replaces the file's content with data[0..size-1] and returns its path; aborts if the
 * file cannot be made or written (a fault of the harness, not of the code under test). */
const char *fz_file_put(const uint8_t *data, size_t size);

#endif
