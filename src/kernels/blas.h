/* The CBLAS GEMM backend (blas.c), used by the GEMM kernels (gemm.c). */
#ifndef RG_KERNELS_BLAS_H
#define RG_KERNELS_BLAS_H

/* CBLAS argument values, fixed by the CBLAS standard (the enums of every cblas.h). */
#define RG__CBLAS_ROW_MAJOR 101
#define RG__CBLAS_NO_TRANS 111
#define RG__CBLAS_TRANS 112

/* cblas_sgemm and cblas_dgemm of the LP64 interface (int sizes, enums passed as int). */
typedef void (*rg__sgemm_fn)(int layout, int ta, int tb, int m, int n, int k, float alpha,
                             const float *a, int lda, const float *b, int ldb, float beta,
                             float *c, int ldc);
typedef void (*rg__dgemm_fn)(int layout, int ta, int tb, int m, int n, int k, double alpha,
                             const double *a, int lda, const double *b, int ldb, double beta,
                             double *c, int ldc);

typedef struct rg__blas {
    rg__sgemm_fn sgemm;
    rg__dgemm_fn dgemm;
} rg__blas;

/* The GEMM entry points of the BLAS in use, or NULL when GEMM runs on the portable loop.
 * The first call (from any thread; later calls wait for it) chooses the backend and, when
 * OpenBLAS is loaded at run time, loads it; after that a call costs one atomic load. */
const rg__blas *rg__blas_get(void);

/* Threads the BLAS runs one GEMM on: 1 for the portable loop, 0 when unknown (a linked CBLAS
 * other than OpenBLAS). */
int rg__blas_threads(void);

#endif
