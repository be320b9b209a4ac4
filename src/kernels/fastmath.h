/* Fast f32 elementary functions that the compiler can vectorise. Not installed.
 *
 * glibc's expf, tanhf and logf are accurate but are calls: a loop over them runs one element
 * at a time, and in the f32 kernels they cost more than reading and writing the data. The
 * functions here are branch-free (both sides of every case are computed and one is
 * selected), use only float arithmetic, integer arithmetic on the float's bits and
 * comparisons, and are always inlined, so a loop calling them vectorises (at -O2, in blocks
 * of constant length: see RG__EW_FOR in kernels/elementwise.inc) for each instruction set
 * RG__VECTOR_CLONES lists. The f64 kernels keep libm: gradient checking needs its accuracy.
 *
 * Accuracy: the largest error against the f64 libm result, in f32 ulps of that result (the
 * spacing of floats there; below FLT_MIN, the smallest subnormal), measured over every f32
 * input, and the bound tests/test_fastmath.c asserts on a dense sweep, around every
 * threshold and at the special values:
 *
 *     function             measured   bound
 *     rg__expf             0.99       1
 *     rg__logf             0.83       1
 *     rg__tanhf            2.50       2.5
 *     rg__sigmoidf         2.40       2.5
 *     rg__softplusf        1.99       2
 *     rg__log1pf_unit      1.26       2     (on [0, 1], where softplus uses it)
 *
 * Special values follow C99 Annex F: exp(-inf) = 0, exp(+inf) = +inf, overflow to +inf above
 * 88.72, gradual underflow (subnormal results below -87.34, 0 below -103.97); tanh(+-0) =
 * +-0, tanh(+-inf) = +-1; log(+-0) = -inf, log(x < 0) = NaN, log(+inf) = +inf; NaN in, NaN
 * out.
 *
 * The result of each function depends on its argument only, never on the instruction set
 * the loop was compiled for: the build does not contract a * b + c into a fused
 * multiply-add (-std=c11 implies -ffp-contract=off in GCC; FP_CONTRACT is switched off below
 * for clang), so SSE, AVX2 and AVX-512 code and the scalar tail round alike. That is
 * what makes a kernel split across threads give the same bits as one thread. */
#ifndef RG_KERNELS_FASTMATH_H
#define RG_KERNELS_FASTMATH_H

#include <math.h>
#include <stdint.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* Always inlined: a call in a loop stops vectorisation, and GCC's size limits would keep the
 * larger functions out of line once a loop is compiled for several targets. */
#if defined(__GNUC__)
#define RG__FM_INLINE static inline __attribute__((always_inline))
#else
#define RG__FM_INLINE static inline
#endif

/* Function multiversioning: GCC (and clang) compile the function once per listed target and
 * pick one at load time through an ifunc, so the default build runs AVX-512 or AVX2 code
 * where the CPU has it without -march=native. ELF x86-64 only; elsewhere one version. Not
 * under ThreadSanitizer, whose instrumentation of the ifunc resolvers crashes the program
 * before its runtime starts (the resolvers run while the dynamic loader relocates). */
#if defined(__SANITIZE_THREAD__)
#define RG__NO_CLONES 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RG__NO_CLONES 1
#endif
#endif
#if defined(__GNUC__) && defined(__x86_64__) && defined(__ELF__) && defined(__has_attribute) && \
    !defined(RG__NO_CLONES)
#if __has_attribute(target_clones)
#define RG__VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef RG__VECTOR_CLONES
#define RG__VECTOR_CLONES
#endif

/* Type punning through a union is defined in C11 and vectorises to nothing. */
RG__FM_INLINE uint32_t rg__fm_bits(float f)
{
    union {
        float f;
        uint32_t u;
    } v = {.f = f};
    return v.u;
}

RG__FM_INLINE float rg__fm_float(uint32_t u)
{
    union {
        uint32_t u;
        float f;
    } v = {.u = u};
    return v.f;
}

/* c ? a : b, as a blend of bits. Both a and b are computed before it, so the compiler cannot
 * move either into a branch: with a plain ?: it sinks an arithmetic operand into its arm,
 * and then (floating-point operations may trap, -ftrapping-math) will not if-convert the
 * branch back, and the loop stays scalar. */
RG__FM_INLINE float rg__fm_select(int c, float a, float b)
{
    const uint32_t m = (uint32_t)0 - (uint32_t)(c != 0);
    return rg__fm_float((rg__fm_bits(a) & m) | (rg__fm_bits(b) & ~m));
}

/* The same for double, for kernel templates instantiated for both types. */
RG__FM_INLINE double rg__fm_selectd(int c, double a, double b)
{
    union {
        double f;
        uint64_t u;
    } va = {.f = a}, vb = {.f = b}, vr;
    const uint64_t m = (uint64_t)0 - (uint64_t)(c != 0);
    vr.u = (va.u & m) | (vb.u & ~m);
    return vr.f;
}

/* e^x. x = n ln2 + r with n = round(x / ln2) and |r| <= ln2/2 (ln2 split in two parts, the
 * first with few enough bits that n * ln2_hi is exact: Cody and Waite), e^r from a minimax
 * polynomial (Cephes' expf), and e^x = e^r 2^n1 2^n2 with n = n1 + n2: each factor is a
 * normal float for every n in [-150, 128], and the last product rounds once, so results in
 * the subnormal range underflow gradually and correctly. The clamp to [-104, 89] keeps n in
 * that range (e^-104 < 2^-150 rounds to 0; e^89 overflows to inf by itself). NaN passes
 * the clamp and the arithmetic untouched; its n is garbage but only unsigned arithmetic
 * touches it. */
RG__FM_INLINE float rg__expf(float x)
{
    const float shifter = 0x1.8p23f; /* adding it rounds to an integer in the low bits */
    float xc = rg__fm_select(x < -104.0f, -104.0f, x);
    xc = rg__fm_select(xc > 89.0f, 89.0f, xc);
    const float t = xc * 0x1.715476p+0f + shifter;
    const float n = t - shifter;
    const int32_t ni = (int32_t)(rg__fm_bits(t) - rg__fm_bits(shifter));
    const float r = (xc - n * 0x1.63p-1f) - n * -0x1.bd0106p-13f;
    const float r2 = r * r;
    const float p = ((((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r +
                        4.1665795894e-2f) * r + 1.6666665459e-1f) * r + 5.0000001201e-1f) * r2 +
                     r) + 1.0f;
    const int32_t n1 = ni / 2, n2 = ni - n1;
    const float s1 = rg__fm_float(((uint32_t)n1 + 127u) << 23);
    const float s2 = rg__fm_float(((uint32_t)n2 + 127u) << 23);
    return p * s1 * s2;
}

/* ln x. x = m 2^k with m in [sqrt(1/2), sqrt(2)), ln x = k ln2 + ln(1 + f), f = m - 1 in
 * [-0.29, 0.41], from Cephes' logf polynomial; subnormal x are scaled by 2^23 first. The
 * special cases (0, negative, +inf, NaN) are selected at the end. */
RG__FM_INLINE float rg__logf(float x)
{
    const int sub = x < 0x1p-126f;
    const float xs = rg__fm_select(sub, x * 0x1p23f, x);
    /* Adding (1 - sqrt(1/2)) in the mantissa's units carries into the exponent exactly when
     * the mantissa is at least sqrt(1/2). */
    const uint32_t u = rg__fm_bits(xs) + (0x3f800000u - 0x3f3504f3u);
    const int32_t k = (int32_t)(u >> 23) - 127 - 23 * sub;
    const float m = rg__fm_float((u & 0x007fffffu) + 0x3f3504f3u);
    const float f = m - 1.0f;
    const float z = f * f;
    const float kf = (float)k;
    float y = ((((((((7.0376836292e-2f * f - 1.1514610310e-1f) * f + 1.1676998740e-1f) * f -
                    1.2420140846e-1f) * f + 1.4249322787e-1f) * f - 1.6668057665e-1f) * f +
                 2.0000714765e-1f) * f - 2.4999993993e-1f) * f + 3.3333331174e-1f) * f * z;
    y += kf * -2.12194440e-4f;
    y += -0.5f * z;
    float r = (f + y) + kf * 0.693359375f;
    r = rg__fm_select(x == INFINITY, x, r);
    r = rg__fm_select(x == 0.0f, -INFINITY, r);
    r = rg__fm_select(x < 0.0f, NAN, r);
    return rg__fm_select(x != x, x, r);
}

/* ln(1 + e) for e in [0, 1] (and NaN): with u = 1 + e rounded, ln(1 + e) = ln u + (e - (u - 1))
 * / u to first order, which restores what the rounding of u lost (exact for tiny e, where
 * u = 1 and the result is e). */
RG__FM_INLINE float rg__log1pf_unit(float e)
{
    const float u = 1.0f + e;
    return rg__logf(u) - ((u - 1.0f) - e) / u;
}

/* e^y - 1 for y in [-20, 0], accurate relative to the result (also for tiny y, where
 * e^y - 1 would cancel): y = n ln2 + r as in rg__expf, e^r - 1 = r + r^2 P(r) (Taylor to
 * degree 7, below 0.2 ulp on |r| <= ln2/2), and e^y - 1 = 2^n (e^r - 1) + (2^n - 1), where
 * 2^n - 1 is exact and the two terms do not cancel (n = 0: the second is 0; n < 0: the
 * first is less than half the second). n >= -28 keeps 2^n normal. */
RG__FM_INLINE float rg__fm_expm1_nonpos(float y)
{
    const float shifter = 0x1.8p23f;
    const float t = y * 0x1.715476p+0f + shifter;
    const float n = t - shifter;
    const int32_t ni = (int32_t)(rg__fm_bits(t) - rg__fm_bits(shifter));
    const float r = (y - n * 0x1.63p-1f) - n * -0x1.bd0106p-13f;
    const float r2 = r * r;
    const float p = (((((1.98412698e-4f * r + 1.38888889e-3f) * r + 8.33333333e-3f) * r +
                       4.16666667e-2f) * r + 1.66666667e-1f) * r + 0.5f) * r2 + r;
    const float s = rg__fm_float(((uint32_t)ni + 127u) << 23);
    return s * p + (s - 1.0f);
}

/* tanh x = -m / (2 + m) with m = e^(-2|x|) - 1 in (-1, 0], given x's sign at the end (so
 * tanh(-0) = -0). One exponential and one division, no cancellation: for small |x|, m is
 * accurate relative to its own small size; for large |x|, 2 + m is near 1. |x| is clamped
 * at 9.5, past which tanh rounds to 1 in f32 (1 - tanh x < 2^-25 from x = 9.02); NaN passes
 * the clamp and stays NaN. */
RG__FM_INLINE float rg__tanhf(float x)
{
    const float ax = fabsf(x);
    const float m = rg__fm_expm1_nonpos(-2.0f * rg__fm_select(ax > 9.5f, 9.5f, ax));
    return copysignf(-m / (2.0f + m), x);
}

/* 1 / (1 + e^-x). With e = e^-|x| in (0, 1], it is 1 / (1 + e) for x >= 0 and e / (1 + e)
 * below: no exponential of a positive number, so nothing overflows, and the small values of
 * the x < 0 side keep their relative accuracy. */
RG__FM_INLINE float rg__sigmoidf(float x)
{
    const float e = rg__expf(-fabsf(x));
    return rg__fm_select(x >= 0.0f, 1.0f, e) / (1.0f + e);
}

/* ln(1 + e^x) = max(x, 0) + ln(1 + e^-|x|): the exponential is at most 1, and the log1p
 * form keeps e^x's accuracy where x is very negative. */
RG__FM_INLINE float rg__softplusf(float x)
{
    return rg__fm_select(x > 0.0f, x, 0.0f) + rg__log1pf_unit(rg__expf(-fabsf(x)));
}

#endif
