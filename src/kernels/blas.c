/* The BLAS behind the GEMM kernels, chosen once per process.
 *
 * Three builds (src/meson.build picks one):
 * - RG_BLAS_DLOPEN: OpenBLAS is loaded with dlopen() at the first GEMM (or rg_blas_*() call),
 *   and GEMM falls back to the portable loop of gemm.c when it cannot be loaded;
 * - RG_HAVE_CBLAS: a CBLAS other than OpenBLAS, linked at build time;
 * - neither: the portable loop only (meson -Dblas=disabled, or no dlopen()).
 *
 * Why OpenBLAS is loaded at run time rather than linked. A DYNAMIC_ARCH OpenBLAS (Debian's and
 * most distributions') picks its kernels once, in a constructor that runs when the library is
 * loaded: from OPENBLAS_CORETYPE when that is set, else from the CPU model. A model newer than
 * the library is not recognised and silently gets the generic SSE3 "Prescott" kernels: on a
 * family 6 model 207 Xeon (AVX-512), Debian 12's OpenBLAS 0.3.21 runs sgemm at 33 GFLOP/s per
 * core instead of ~150 with OPENBLAS_CORETYPE=SkylakeX. OpenBLAS has no API to choose the
 * kernels afterwards: 0.3.21's cblas.h declares openblas_get_corename() but no setter, and
 * gotoblas_dynamic_init() returns at once when a core is already chosen (re-running it after
 * the undeclared gotoblas_dynamic_quit() would swap the kernel table of a running library,
 * under its thread pool). So the variable must be in the environment before the constructor
 * runs, which a link-time dependency cannot arrange (the constructor runs before main()).
 *
 * Loading lazily, when OPENBLAS_CORETYPE is unset we set it from the CPU's features for the
 * time of the dlopen() call and unset it again: the constructor reads it, and the process's
 * environment is left as the user had it. A value the user set, even an empty one, is never
 * touched. The mapping uses the features the kernels need, not the CPU model, so it keeps
 * working on CPUs newer than the library:
 *   AVX-512 F, BW, VL and DQ usable  -> SkylakeX
 *   else AVX2 and FMA usable         -> Haswell
 *   else                             -> unset (OpenBLAS's own detection)
 * If OpenBLAS is already in the process (loaded by the program or another library), its
 * kernels were chosen before we could act, and it is used as it is.
 *
 * The choice is process-wide state by nature (the library is loaded once per process); it is
 * made under pthread_once, so concurrent first GEMMs are safe. The library is never closed:
 * its thread pool and buffers live until the process exits. */
#include "internal.h"
#include "kernels/blas.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(RG_BLAS_DLOPEN)
#include <dlfcn.h>
#elif defined(RG_HAVE_CBLAS)
#include <cblas.h>
#endif

/* Where the kernel type in use came from. */
typedef enum core_origin {
    CORE_NONE,      /* not OpenBLAS */
    CORE_USER,      /* OPENBLAS_CORETYPE set by the user */
    CORE_CHOSEN,    /* set by us from the CPU's features */
    CORE_DETECTED,  /* OpenBLAS's own detection (no feature set we map) */
    CORE_PRELOADED  /* OpenBLAS was loaded before we looked */
} core_origin;

static struct {
    rg__blas fns;
    bool have;           /* fns hold a working sgemm and dgemm */
    char backend[48];    /* "OpenBLAS 0.3.21", "CBLAS", "portable blocked GEMM" */
    char file[160];      /* the library loaded, or why GEMM is portable */
    core_origin origin;
    char user_core[32];  /* the user's OPENBLAS_CORETYPE, for the report */
    char *(*corename)(void);
    int (*get_threads)(void);
    void (*set_threads)(int);
} blas;

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

#if defined(RG_BLAS_DLOPEN)

/* The OpenBLAS kernel type for this CPU, or NULL to leave the choice to OpenBLAS.
 * __builtin_cpu_supports() reports a feature only when the OS also saves its registers
 * (libgcc checks XCR0 through XGETBV), so a kernel chosen here never faults. */
static const char *core_for_cpu(void)
{
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "Haswell";
#endif
    return NULL;
}

/* dlsym() into a function pointer: POSIX guarantees the conversion works, ISO C does not
 * define it, so the bits are copied. */
_Static_assert(sizeof(void *) == sizeof(rg__sgemm_fn), "function and data pointers differ");
#define LOAD_SYM(h, name, fp)                                                              \
    do {                                                                                   \
        void *sym_ = dlsym(h, name);                                                       \
        memcpy(&(fp), &sym_, sizeof(fp));                                                  \
    } while (0)

#ifdef __APPLE__
#define OPENBLAS_SONAME "libopenblas.0.dylib"
#define OPENBLAS_DEVNAME "libopenblas.dylib"
#else
#define OPENBLAS_SONAME "libopenblas.so.0"
#define OPENBLAS_DEVNAME "libopenblas.so"
#endif

/* The names tried, in order: the soname (the system's choice: alternatives, LD_LIBRARY_PATH),
 * the library meson found at build time (an OpenBLAS outside the loader's path), then the
 * development name. Returns the count; the build-time path is formatted into `path`. */
static int candidates(const char **names, char *path, size_t len)
{
    int n = 0;
    names[n++] = OPENBLAS_SONAME;
#ifdef RG_OPENBLAS_LIBDIR
    size_t dl = strlen(RG_OPENBLAS_LIBDIR);
    const char *sep = dl > 0 && RG_OPENBLAS_LIBDIR[dl - 1] == '/' ? "" : "/";
    if (dl > 0 && snprintf(path, len, "%s%s%s", RG_OPENBLAS_LIBDIR, sep, OPENBLAS_SONAME) <
                      (int)len)
        names[n++] = path;
#else
    (void)path;
    (void)len;
#endif
    names[n++] = OPENBLAS_DEVNAME;
    return n;
}

/* "OpenBLAS 0.3.21" from openblas_get_config()'s "OpenBLAS 0.3.21 DYNAMIC_ARCH ...". */
static void backend_name(char *(*get_config)(void))
{
    snprintf(blas.backend, sizeof blas.backend, "OpenBLAS");
    const char *cfg = get_config ? get_config() : NULL;
    if (!cfg || strncmp(cfg, "OpenBLAS ", 9) != 0)
        return;
    size_t v = strcspn(cfg + 9, " ");
    if (v > 0 && v < 16)
        snprintf(blas.backend, sizeof blas.backend, "OpenBLAS %.*s", (int)v, cfg + 9);
}

static void blas_init(void)
{
    const char *names[3];
    char path[256];
    int count = candidates(names, path, sizeof path);

    void *h = NULL;
    const char *file = NULL;
    for (int i = 0; i < count && !h; i++)
        if ((h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD)))
            file = names[i];
    if (h) {
        blas.origin = CORE_PRELOADED;
    } else {
        const char *user = getenv("OPENBLAS_CORETYPE");
        const char *chosen = user ? NULL : core_for_cpu();
        if (user) {
            blas.origin = CORE_USER;
            snprintf(blas.user_core, sizeof blas.user_core, "%s", user);
        } else {
            blas.origin = chosen ? CORE_CHOSEN : CORE_DETECTED;
        }
        /* A failed setenv() (out of memory) only loses the choice: OpenBLAS detects. */
        if (chosen && setenv("OPENBLAS_CORETYPE", chosen, 1) != 0)
            blas.origin = CORE_DETECTED;
        for (int i = 0; i < count && !h; i++)
            if ((h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL)))
                file = names[i];
        if (blas.origin == CORE_CHOSEN)
            unsetenv("OPENBLAS_CORETYPE");
    }
    if (!h) {
        snprintf(blas.backend, sizeof blas.backend, "portable blocked GEMM");
        snprintf(blas.file, sizeof blas.file, "OpenBLAS not found at run time");
        blas.origin = CORE_NONE;
        return;
    }
    LOAD_SYM(h, "cblas_sgemm", blas.fns.sgemm);
    LOAD_SYM(h, "cblas_dgemm", blas.fns.dgemm);
    if (!blas.fns.sgemm || !blas.fns.dgemm) {
        snprintf(blas.backend, sizeof blas.backend, "portable blocked GEMM");
        snprintf(blas.file, sizeof blas.file, "%s has no cblas_sgemm/cblas_dgemm", file);
        /* dlopen() counted a reference even for a library already loaded: drop ours. */
        dlclose(h);
        blas.origin = CORE_NONE;
        blas.fns = (rg__blas){0};
        return;
    }
    char *(*get_config)(void);
    LOAD_SYM(h, "openblas_get_config", get_config);
    LOAD_SYM(h, "openblas_get_corename", blas.corename);
    LOAD_SYM(h, "openblas_get_num_threads", blas.get_threads);
    LOAD_SYM(h, "openblas_set_num_threads", blas.set_threads);
    backend_name(get_config);
    snprintf(blas.file, sizeof blas.file, "%s", file);
    blas.have = true;
}

#elif defined(RG_HAVE_CBLAS)

/* The linked CBLAS behind the LP64 function types of blas.h (the enums of cblas.h differ in
 * name between implementations, their values do not). */
static void linked_sgemm(int layout, int ta, int tb, int m, int n, int k, float alpha,
                         const float *a, int lda, const float *b, int ldb, float beta, float *c,
                         int ldc)
{
    (void)layout; /* always row-major */
    cblas_sgemm(CblasRowMajor, ta == RG__CBLAS_TRANS ? CblasTrans : CblasNoTrans,
                tb == RG__CBLAS_TRANS ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b,
                ldb, beta, c, ldc);
}

static void linked_dgemm(int layout, int ta, int tb, int m, int n, int k, double alpha,
                         const double *a, int lda, const double *b, int ldb, double beta,
                         double *c, int ldc)
{
    (void)layout;
    cblas_dgemm(CblasRowMajor, ta == RG__CBLAS_TRANS ? CblasTrans : CblasNoTrans,
                tb == RG__CBLAS_TRANS ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b,
                ldb, beta, c, ldc);
}

static void blas_init(void)
{
    blas.fns = (rg__blas){linked_sgemm, linked_dgemm};
    blas.have = true;
    snprintf(blas.backend, sizeof blas.backend, "CBLAS");
    snprintf(blas.file, sizeof blas.file, "linked at build time");
}

#else

static void blas_init(void)
{
    snprintf(blas.backend, sizeof blas.backend, "portable blocked GEMM");
    snprintf(blas.file, sizeof blas.file, "built without BLAS");
}

#endif

const rg__blas *rg__blas_get(void)
{
    pthread_once(&blas_once, blas_init);
    return blas.have ? &blas.fns : NULL;
}

int rg__blas_threads(void)
{
    if (!blas.have)
        return 1;
    return blas.get_threads ? blas.get_threads() : 0;
}

const char *rg_blas_info(void)
{
    /* Per thread, so concurrent callers do not write over each other's report. */
    static _Thread_local char info[384];
    pthread_once(&blas_once, blas_init);

    char core[128] = "";
    const char *name = blas.corename ? blas.corename() : NULL;
    switch (blas.origin) {
    case CORE_USER:
        snprintf(core, sizeof core, ", core %s (OPENBLAS_CORETYPE=%s set by the user)",
                 name ? name : "?", blas.user_core);
        break;
    case CORE_CHOSEN:
        snprintf(core, sizeof core, ", core %s (chosen by retrograd from the CPU's features)",
                 name ? name : "?");
        break;
    case CORE_DETECTED:
        snprintf(core, sizeof core, ", core %s (OpenBLAS's own detection)", name ? name : "?");
        break;
    case CORE_PRELOADED:
        snprintf(core, sizeof core, ", core %s (OpenBLAS was loaded before retrograd)",
                 name ? name : "?");
        break;
    case CORE_NONE:
        break;
    }
    int threads = rg__blas_threads(), pool = rg_get_threads();
    char nthreads[96] = "";
    if (threads == 1 && pool > 1 && blas.have)
        snprintf(nthreads, sizeof nthreads, ", 1 thread per call (large products split over "
                 "the kernels' %d threads)", pool);
    else if (threads > 0)
        snprintf(nthreads, sizeof nthreads, ", %d thread%s", threads, threads == 1 ? "" : "s");
    snprintf(info, sizeof info, "%s (%s)%s%s", blas.backend, blas.file, core, nthreads);
    return info;
}

rg_status rg_blas_set_threads(int n)
{
    if (n < 1)
        return RG_ERR_ARG;
    pthread_once(&blas_once, blas_init);
    if (!blas.have)
        return n == 1 ? RG_OK : RG_ERR_UNSUPPORTED;
    if (!blas.set_threads)
        return RG_ERR_UNSUPPORTED;
    blas.set_threads(n);
    /* OpenBLAS caps the count at the maximum it was built for. */
    if (blas.get_threads && blas.get_threads() != n)
        return RG_ERR_DOMAIN;
    return RG_OK;
}
