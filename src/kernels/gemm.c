/* GEMM on row-major matrices: C[m,n] = alpha op(A)[m,k] op(B)[k,n] + beta C.
 *
 * op(A) is A ([m,k], leading dimension lda >= k) or, with ta, the transpose of A stored as
 * [k,m] (lda >= m); likewise op(B) is [k,n] (ldb >= n) or, with tb, B stored as [n,k]
 * (ldb >= k). C has leading dimension ldc >= n. As in BLAS, beta == 0 overwrites C without
 * reading it (a NaN already in C does not leak into the result).
 *
 * When a BLAS is available (blas.c: OpenBLAS loaded at run time, or a linked CBLAS) the work
 * goes to its cblas_[sd]gemm. The portable loop below is the fallback and also covers sizes
 * that do not fit CBLAS's int arguments.
 *
 * Threads: a BLAS that runs on one thread (rg_blas_set_threads(1)) while the kernels' pool
 * has more (rg_set_threads) gets a large GEMM in parts, one per thread of the pool: C's
 * columns, or its rows when it has more of them, each part one BLAS call. The BLAS's own
 * threads would instead spin between GEMMs, on the cores the pool needs for the kernels in
 * between (docs/performance.md). Every element of C is computed by the same BLAS code from
 * the same operands whichever part holds it. */
#include "internal.h"
#include "kernels/blas.h"
#include "kernels/parallel.h"

#include <limits.h>

/* Block sizes of the portable loop. A KC x NC panel of op(B) is reused by every row of C,
 * so it should sit in L2 and one of its rows (NC elements) in L1; the packing buffer lives
 * on the stack, which keeps this at 64 KiB for double. */
#define GEMM_KC 64
#define GEMM_NC 128

/* Rows of C updated together: each loaded element of op(B) feeds this many rows. */
#define GEMM_MR 4
/* Columns per step of the inner loop: a fixed count the compiler unrolls into vector
 * instructions even at -O2, where it does not vectorise a loop that needs a scalar tail. */
#define GEMM_NR 8

/* The portable kernel for element type T (float or double), named gemm_portable_<sfx>.
 *
 * Loop order: for each NC-wide column block j0 and KC-deep block p0 of op(B), get a panel
 * P[p][j] = op(B)[p0+p][j0+j] that is contiguous in j (B itself when not transposed, a packed
 * copy when it is); then for each row i of C and each p, C[i, j0:] += alpha op(A)[i,p0+p] P[p]
 * (the i-k-j order: the innermost loop runs over contiguous j in both C and P, so it
 * vectorises, and op(A) is read one scalar per inner loop whatever its layout). */
#define RG__DEFINE_GEMM(T, sfx)                                                            \
    static void scale_##sfx(int64_t m, int64_t n, T beta, T *c, int64_t ldc)               \
    {                                                                                      \
        for (int64_t i = 0; i < m; i++) {                                                  \
            T *ci = c + i * ldc;                                                           \
            if (beta == (T)0) {                                                            \
                for (int64_t j = 0; j < n; j++)                                            \
                    ci[j] = (T)0;                                                          \
            } else if (beta != (T)1) {                                                     \
                for (int64_t j = 0; j < n; j++)                                            \
                    ci[j] *= beta;                                                         \
            }                                                                              \
        }                                                                                  \
    }                                                                                      \
                                                                                           \
    /* c_r[0:nb] += a_r b[0:nb] for four rows r; restrict tells the compiler the rows do not\
     * overlap, so it can vectorise. */                                                    \
    static void rows4_##sfx(int64_t nb, T a0, T a1, T a2, T a3, const T *restrict b,       \
                            T *restrict c0, T *restrict c1, T *restrict c2, T *restrict c3)\
    {                                                                                      \
        int64_t j = 0;                                                                     \
        for (; j + GEMM_NR <= nb; j += GEMM_NR) {                                          \
            for (int jj = 0; jj < GEMM_NR; jj++) {                                         \
                const T bv = b[j + jj];                                                    \
                c0[j + jj] += a0 * bv;                                                     \
                c1[j + jj] += a1 * bv;                                                     \
                c2[j + jj] += a2 * bv;                                                     \
                c3[j + jj] += a3 * bv;                                                     \
            }                                                                              \
        }                                                                                  \
        for (; j < nb; j++) {                                                              \
            const T bv = b[j];                                                             \
            c0[j] += a0 * bv;                                                              \
            c1[j] += a1 * bv;                                                              \
            c2[j] += a2 * bv;                                                              \
            c3[j] += a3 * bv;                                                              \
        }                                                                                  \
    }                                                                                      \
                                                                                           \
    /* c[0:nb] += a b[0:nb] */                                                             \
    static void row1_##sfx(int64_t nb, T a, const T *restrict b, T *restrict c)            \
    {                                                                                      \
        int64_t j = 0;                                                                     \
        for (; j + GEMM_NR <= nb; j += GEMM_NR)                                            \
            for (int jj = 0; jj < GEMM_NR; jj++)                                           \
                c[j + jj] += a * b[j + jj];                                                \
        for (; j < nb; j++)                                                                \
            c[j] += a * b[j];                                                              \
    }                                                                                      \
                                                                                           \
    static void gemm_portable_##sfx(bool ta, bool tb, int64_t m, int64_t n, int64_t k,     \
                                    T alpha, const T *a, int64_t lda, const T *b,          \
                                    int64_t ldb, T beta, T *c, int64_t ldc)                \
    {                                                                                      \
        T panel[GEMM_KC * GEMM_NC];                                                        \
        scale_##sfx(m, n, beta, c, ldc);                                                   \
        if (alpha == (T)0 || k == 0)                                                       \
            return;                                                                        \
        /* op(A)[i][p] */                                                                  \
        const int64_t si = ta ? 1 : lda, sp = ta ? lda : 1;                                \
        for (int64_t j0 = 0; j0 < n; j0 += GEMM_NC) {                                      \
            const int64_t nb = n - j0 < GEMM_NC ? n - j0 : GEMM_NC;                        \
            for (int64_t p0 = 0; p0 < k; p0 += GEMM_KC) {                                  \
                const int64_t kb = k - p0 < GEMM_KC ? k - p0 : GEMM_KC;                    \
                const T *pb;                                                               \
                int64_t ldp;                                                               \
                if (tb) {                                                                  \
                    /* op(B)[p][j] = B[j][p]: read rows of B, write the panel transposed */\
                    for (int64_t j = 0; j < nb; j++) {                                     \
                        const T *bj = b + (j0 + j) * ldb + p0;                             \
                        for (int64_t p = 0; p < kb; p++)                                   \
                            panel[p * nb + j] = bj[p];                                     \
                    }                                                                      \
                    pb = panel;                                                            \
                    ldp = nb;                                                              \
                } else {                                                                   \
                    pb = b + p0 * ldb + j0;                                                \
                    ldp = ldb;                                                             \
                }                                                                          \
                int64_t i = 0;                                                             \
                for (; i + GEMM_MR <= m; i += GEMM_MR) {                                   \
                    T *c0 = c + i * ldc + j0;                                              \
                    const T *ai = a + i * si + p0 * sp;                                    \
                    for (int64_t p = 0; p < kb; p++) {                                     \
                        const T *aip = ai + p * sp;                                        \
                        rows4_##sfx(nb, alpha * aip[0], alpha * aip[si], alpha * aip[2 * si],\
                                    alpha * aip[3 * si], pb + p * ldp, c0, c0 + ldc,       \
                                    c0 + 2 * ldc, c0 + 3 * ldc);                           \
                    }                                                                      \
                }                                                                          \
                for (; i < m; i++) {                                                       \
                    const T *ai = a + i * si + p0 * sp;                                    \
                    for (int64_t p = 0; p < kb; p++)                                       \
                        row1_##sfx(nb, alpha * ai[p * sp], pb + p * ldp, c + i * ldc + j0);\
                }                                                                          \
            }                                                                              \
        }                                                                                  \
    }

RG__DEFINE_GEMM(float, f32)
RG__DEFINE_GEMM(double, f64)

/* CBLAS takes int sizes and rejects (printing through xerbla) a leading dimension of 0,
 * which a k == 0 product would pass: those cases stay on the portable path. */
static bool cblas_fits(int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldc)
{
    return m > 0 && n > 0 && k > 0 && m <= INT_MAX && n <= INT_MAX && k <= INT_MAX &&
           lda >= 1 && lda <= INT_MAX && ldb >= 1 && ldb <= INT_MAX && ldc >= 1 &&
           ldc <= INT_MAX;
}

static int cblas_trans(bool t)
{
    return t ? RG__CBLAS_TRANS : RG__CBLAS_NO_TRANS;
}

/* The least work (m n k) of a part. OpenBLAS multiplies matrices of up to 10^6 products with
 * kernels of their own, which round differently from its blocked path: with every part above
 * that size, each element of C is computed the same way whether the product is split or not
 * (tests/test_blas.c checks the bits), and the parts are large enough (a millisecond of work
 * or so) for waking the pool not to matter. */
#define SPLIT_MIN_PART (1 << 21)

/* One BLAS GEMM, in f32 or f64; parts of it run on the pool (gemm_part). */
struct gemm_job {
    const rg__blas *blas;
    bool f32, ta, tb, cols; /* cols: parts are column ranges of C, else row ranges */
    int64_t m, n, k, lda, ldb, ldc;
    double alpha, beta;
    const void *a, *b;
    void *c;
};

/* Columns (or rows) [lo, hi) of C: the matching columns of op(B) (or rows of op(A)). */
static void gemm_part(void *ctx, int64_t lo, int64_t hi)
{
    const struct gemm_job *j = ctx;
    const size_t el = j->f32 ? sizeof(float) : sizeof(double);
    const char *a = j->a, *b = j->b;
    char *c = j->c;
    int64_t m = j->m, n = j->n;
    if (j->cols) {
        n = hi - lo;
        b += (size_t)(j->tb ? lo * j->ldb : lo) * el;
        c += (size_t)lo * el;
    } else {
        m = hi - lo;
        a += (size_t)(j->ta ? lo : lo * j->lda) * el;
        c += (size_t)(lo * j->ldc) * el;
    }
    if (j->f32)
        j->blas->sgemm(RG__CBLAS_ROW_MAJOR, cblas_trans(j->ta), cblas_trans(j->tb), (int)m,
                       (int)n, (int)j->k, (float)j->alpha, (const float *)a, (int)j->lda,
                       (const float *)b, (int)j->ldb, (float)j->beta, (float *)c, (int)j->ldc);
    else
        j->blas->dgemm(RG__CBLAS_ROW_MAJOR, cblas_trans(j->ta), cblas_trans(j->tb), (int)m,
                       (int)n, (int)j->k, j->alpha, (const double *)a, (int)j->lda,
                       (const double *)b, (int)j->ldb, j->beta, (double *)c, (int)j->ldc);
}

/* Runs the GEMM through the BLAS: in parts over the pool when that pays (see the top of the
 * file), else as one call. */
static void gemm_blas(struct gemm_job *j)
{
    const int threads = rg_get_threads();
    const int64_t len = j->n >= j->m ? j->n : j->m;
    if (threads > 1 && j->m * j->n * j->k >= SPLIT_MIN_PART * (int64_t)threads &&
        len >= 16 * (int64_t)threads && rg__blas_threads() == 1) {
        j->cols = j->n >= j->m;
        /* one part per thread: each part packs its own copy of the shared operand */
        const int64_t align = j->cols ? 16 : 1; /* 64-byte lines of f32 columns */
        int64_t grain = (len + threads - 1) / threads;
        grain = (grain + align - 1) / align * align;
        rg__parallel_for(len, grain, align, gemm_part, j);
        return;
    }
    j->cols = true;
    gemm_part(j, 0, j->n);
}

void rg__sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
               int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    if (m <= 0 || n <= 0)
        return;
    const rg__blas *blas = rg__blas_get();
    if (blas && cblas_fits(m, n, k, lda, ldb, ldc)) {
        struct gemm_job j = {blas, true, ta, tb, false, m, n, k, lda, ldb, ldc, alpha, beta,
                             a, b, c};
        gemm_blas(&j);
        return;
    }
    gemm_portable_f32(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void rg__dgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double *a,
               int64_t lda, const double *b, int64_t ldb, double beta, double *c, int64_t ldc)
{
    if (m <= 0 || n <= 0)
        return;
    const rg__blas *blas = rg__blas_get();
    if (blas && cblas_fits(m, n, k, lda, ldb, ldc)) {
        struct gemm_job j = {blas, false, ta, tb, false, m, n, k, lda, ldb, ldc, alpha, beta,
                             a, b, c};
        gemm_blas(&j);
        return;
    }
    gemm_portable_f64(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
