/* Private helpers of the data and io modules: error messages and a seed mixer. */
#ifndef RG_DATA_INTERNAL_H
#define RG_DATA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define RG__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define RG__PRINTF(f, a)
#endif

/* Formats a message into err[0..len-1] when err is not NULL and len > 0 (always
 * NUL-terminated, truncated if long). */
void rg__errf(char *err, size_t len, const char *fmt, ...) RG__PRINTF(3, 4);

/* Appends a printable rendering of text[0..n-1] to out (at most cap bytes, NUL included):
 * at most 40 characters, non-printable bytes as \xNN, "..." when cut. For messages that
 * quote untrusted input. */
void rg__quote(char *out, size_t cap, const char *text, size_t n);

/* splitmix64's step (Vigna): a bijective mixer, used to derive seeds from (seed, k) pairs
 * and temporary-file names. */
static inline uint64_t rg__splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

#endif
