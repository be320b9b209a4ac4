/* The library's random generator: xoshiro256** seeded by splitmix64, with derived draws that
 * use only IEEE-754 basic arithmetic and sqrt, so a seed gives the same numbers everywhere
 * (see retrograd/nn.h for the algorithms). */
#include "retrograd.h"

#include <math.h>

/* splitmix64 (Vigna): spreads one 64-bit seed into well-mixed words, so that seeds that
 * differ in one bit still give unrelated xoshiro states, and no seed gives the all-zero
 * state xoshiro cannot leave. */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void rg_rng_seed(rg_rng *r, uint64_t seed)
{
    if (!r)
        return;
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
    r->spare = 0.0;
    r->has_spare = false;
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256** 1.0 (Blackman and Vigna). */
uint64_t rg_rng_next(rg_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double rg_rng_uniform(rg_rng *r)
{
    /* 53 bits fill a double's significand exactly: the result is k * 2^-53, k < 2^53. */
    return (double)(rg_rng_next(r) >> 11) * 0x1.0p-53;
}

double rg_rng_range(rg_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * rg_rng_uniform(r);
}

/* Natural logarithm of x > 0 (finite) with basic arithmetic only: x = m 2^e with m in
 * [sqrt(1/2), sqrt(2)), and log m = 2 atanh(z) = 2 (z + z^3/3 + z^5/5 + ...) with
 * z = (m - 1) / (m + 1), |z| <= 0.1716. Twelve terms leave a remainder below
 * 0.1716^25 / 25 < 1e-20, far under the rounding of the result. libm's log is not used
 * because its last bit differs between platforms. */
static double det_log(double x)
{
    static const double ln2 = 0.693147180559945309417232121458176568;
    static const double sqrt_half = 0.707106781186547524400844362104849039;
    int e;
    double m = frexp(x, &e); /* exact: m in [0.5, 1) */
    if (m < sqrt_half) {
        m *= 2.0;
        e--;
    }
    double z = (m - 1.0) / (m + 1.0);
    double z2 = z * z;
    double poly = 1.0 / 23.0;
    for (int k = 10; k >= 0; k--)
        poly = 1.0 / (double)(2 * k + 1) + z2 * poly;
    return 2.0 * z * poly + (double)e * ln2;
}

double rg_rng_normal(rg_rng *r)
{
    if (r->has_spare) {
        r->has_spare = false;
        return r->spare;
    }
    /* Marsaglia's polar method: a uniform point of the unit disc gives two independent
     * normals, u sqrt(-2 ln s / s) and v sqrt(-2 ln s / s), without sin or cos. */
    double u, v, s;
    do {
        u = 2.0 * rg_rng_uniform(r) - 1.0;
        v = 2.0 * rg_rng_uniform(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double f = sqrt(-2.0 * det_log(s) / s);
    r->spare = v * f;
    r->has_spare = true;
    return u * f;
}

uint64_t rg_rng_below(rg_rng *r, uint64_t n)
{
    if (n <= 1)
        return 0;
    /* 2^64 mod n draws at the bottom of the range would make small results more likely;
     * rejecting them leaves a range that is a whole multiple of n. */
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t x = rg_rng_next(r);
        if (x >= threshold)
            return x % n;
    }
}

void rg_rng_shuffle(rg_rng *r, int64_t *idx, int64_t n)
{
    if (!r || !idx)
        return;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)rg_rng_below(r, (uint64_t)i + 1);
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
