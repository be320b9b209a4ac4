/* The BLAS backend (src/kernels/blas.c): GEMM through the lazily loaded library agrees with a
 * naive loop (one and two threads, every transpose, padded leading dimensions, beta 0 over
 * NaN and beta != 0), rg_blas_info() names the backend, rg_blas_set_threads() checks its
 * argument, and the choice of OpenBLAS's kernel type, seen from child processes started
 * with a controlled environment: a user's OPENBLAS_CORETYPE is used as it is and left in the
 * environment; an unset one is chosen from the CPU's features and the environment is left
 * unset; an OpenBLAS already in the process is used as it is.
 *
 * The suite passes on any machine: where OpenBLAS cannot be loaded it checks the portable
 * backend's report instead. */
#include "internal.h"
#include "kernels/blas.h"
#include "testutil.h"

#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* The option that makes this executable print its report and exit (see main()). */
#define CHILD_FLAG "--print-blas-info"

static char self_path[4096]; /* this executable, to start it as a child */

static bool is_openblas(const char *info)
{
    return strncmp(info, "OpenBLAS ", 9) == 0;
}

/* ---- GEMM after lazy loading ------------------------------------------------------------ */

/* C = alpha op(A) op(B) + beta C0 by the definition, in double. */
static void naive_gemm(bool ta, bool tb, int m, int n, int k, double alpha, const double *a,
                       int lda, const double *b, int ldb, double beta, const double *c0,
                       double *c, int ldc)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p < k; p++) {
                const double x = ta ? a[p * lda + i] : a[i * lda + p];
                s += x * (tb ? b[j * ldb + p] : b[p * ldb + j]);
            }
            c[i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * c0[i * ldc + j]);
        }
}

/* Shapes {m, n, k, alpha, beta}: odd sizes around OpenBLAS's blocking, three large enough for
 * threads to split the work (OpenBLAS stays on one thread below about 2^18 products, and so
 * does retrograd's split; the last of them has more rows than columns),
 * the shape of the benchmark's last layer, and k = 0 (the portable path). */
static const struct {
    int m, n, k;
    double alpha, beta;
} gemm_cases[] = {
    {1, 1, 1, 1, 0},       {17, 33, 5, 1, 0},      {67, 45, 129, 0.5, 0.25},
    {192, 160, 200, 1, 0}, {64, 256, 300, 1, 0.5}, {64, 10, 256, -1, 1},
    {300, 70, 128, 1, 0.5}, {1000, 40, 130, 1, 0}, {4, 3, 0, 1, 0.5},
};

/* Runs every case with the four transpose pairs through rg__sgemm and rg__dgemm, leading
 * dimensions padded by 3 so a kernel that ignores them fails, C0 all NaN when beta is 0 (BLAS
 * overwrites C then, so no NaN may leak). f32 tolerance: k products of values in [-1, 1]
 * rounded at 2^-24 each accumulate at most ~k 2^-24 in the worst case; 4e-6 k leaves room for
 * a different summation order. */
static void check_gemm_cases(void)
{
    uint64_t seed = 11;
    for (int c = 0; c < N_OF(gemm_cases); c++) {
        for (int t = 0; t < 4; t++) {
            const bool ta = t & 1, tb = t & 2;
            const int m = gemm_cases[c].m, n = gemm_cases[c].n, k = gemm_cases[c].k;
            const double alpha = gemm_cases[c].alpha, beta = gemm_cases[c].beta;
            const int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 3, ldc = n + 3;
            const size_t na = (size_t)(ta ? k : m) * lda, nb = (size_t)(tb ? n : k) * ldb;
            const size_t nc = (size_t)m * ldc;
            double *a = malloc(sizeof(double) * (na + 1)), *b = malloc(sizeof(double) * (nb + 1));
            double *c0 = malloc(sizeof(double) * nc), *want = malloc(sizeof(double) * nc);
            double *cd = malloc(sizeof(double) * nc);
            float *af = malloc(sizeof(float) * (na + 1)), *bf = malloc(sizeof(float) * (nb + 1));
            float *cf = malloc(sizeof(float) * nc);
            for (size_t i = 0; i < na; i++)
                af[i] = (float)(a[i] = (float)tu_uniform(&seed, -1, 1));
            for (size_t i = 0; i < nb; i++)
                bf[i] = (float)(b[i] = (float)tu_uniform(&seed, -1, 1));
            for (size_t i = 0; i < nc; i++) {
                c0[i] = beta == 0 ? NAN : (float)tu_uniform(&seed, -1, 1);
                cd[i] = c0[i];
                cf[i] = (float)c0[i];
            }
            naive_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c0, want, ldc);
            rg__dgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, cd, ldc);
            rg__sgemm(ta, tb, m, n, k, (float)alpha, af, lda, bf, ldb, (float)beta, cf, ldc);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    const size_t at = (size_t)i * ldc + j;
                    ck_assert_msg(fabs(cd[at] - want[at]) <= 1e-12 * (k + 1),
                                  "dgemm %dx%dx%d t%d [%d,%d]: %.17g vs %.17g", m, n, k, t, i,
                                  j, cd[at], want[at]);
                    ck_assert_msg(fabs(cf[at] - want[at]) <= 4e-6 * (k + 1),
                                  "sgemm %dx%dx%d t%d [%d,%d]: %.9g vs %.17g", m, n, k, t, i, j,
                                  (double)cf[at], want[at]);
                }
            free(a), free(b), free(c0), free(want), free(cd), free(af), free(bf), free(cf);
        }
    }
}

/* The first GEMM loads the backend; when that is OpenBLAS, the GEMM entry points are its. */
START_TEST(test_gemm_after_lazy_load)
{
    check_gemm_cases();
    const char *info = rg_blas_info();
    if (is_openblas(info))
        ck_assert_ptr_nonnull(rg__blas_get());
    else
        ck_assert_ptr_null(strstr(info, "core "));
}
END_TEST

/* Two threads (where the backend has them): the two large cases are split across them. */
START_TEST(test_gemm_two_threads)
{
    rg_status st = rg_blas_set_threads(2);
    if (is_openblas(rg_blas_info())) {
        ck_assert_int_eq(st, RG_OK);
        ck_assert_ptr_nonnull(strstr(rg_blas_info(), ", 2 threads"));
    } else {
        ck_assert(st == RG_ERR_UNSUPPORTED || st == RG_OK);
    }
    check_gemm_cases();
}
END_TEST

/* A BLAS on one thread and the kernels' pool on two: large products are split over the
 * pool by columns or rows. The results agree with the naive loop, and every product gives
 * the same bits as on one thread. */
START_TEST(test_gemm_split_over_pool)
{
    const rg_status st = rg_blas_set_threads(1);
    ck_assert_int_eq(rg_set_threads(2), RG_OK);
    check_gemm_cases();
    if (st == RG_OK && !strstr(rg_blas_info(), "portable"))
        ck_assert_msg(strstr(rg_blas_info(), "split over the kernels' 2 threads"), "%s",
                      rg_blas_info());
    uint64_t seed = 21;
    for (int c = 0; c < N_OF(gemm_cases); c++) {
        const int m = gemm_cases[c].m, n = gemm_cases[c].n, k = gemm_cases[c].k;
        if ((int64_t)m * n * k < (1 << 18))
            continue; /* one call on one thread: nothing to compare */
        for (int t = 0; t < 4; t++) {
            const bool ta = t & 1, tb = t & 2;
            const size_t na = (size_t)m * k, nb = (size_t)k * n, nc = (size_t)m * n;
            float *af = malloc(sizeof(float) * na), *bf = malloc(sizeof(float) * nb);
            double *a = malloc(sizeof(double) * na), *b = malloc(sizeof(double) * nb);
            float *cf[2] = {malloc(sizeof(float) * nc), malloc(sizeof(float) * nc)};
            double *cd[2] = {malloc(sizeof(double) * nc), malloc(sizeof(double) * nc)};
            for (size_t i = 0; i < na; i++)
                af[i] = (float)(a[i] = tu_uniform(&seed, -1, 1));
            for (size_t i = 0; i < nb; i++)
                bf[i] = (float)(b[i] = tu_uniform(&seed, -1, 1));
            for (int p = 0; p < 2; p++) {
                ck_assert_int_eq(rg_set_threads(1 + p), RG_OK);
                for (size_t i = 0; i < nc; i++)
                    cf[p][i] = (float)(cd[p][i] = 0.5);
                rg__sgemm(ta, tb, m, n, k, 1, af, ta ? m : k, bf, tb ? k : n, 0.75f, cf[p], n);
                rg__dgemm(ta, tb, m, n, k, 1, a, ta ? m : k, b, tb ? k : n, 0.75, cd[p], n);
            }
            ck_assert_msg(memcmp(cf[0], cf[1], sizeof(float) * nc) == 0 &&
                              memcmp(cd[0], cd[1], sizeof(double) * nc) == 0,
                          "%dx%dx%d t%d: two threads differ from one", m, n, k, t);
            free(af), free(bf), free(a), free(b);
            free(cf[0]), free(cf[1]), free(cd[0]), free(cd[1]);
        }
    }
    ck_assert_int_eq(rg_set_threads(1), RG_OK);
}
END_TEST

/* matmul of a public f32 graph through the loaded backend: [2,3] @ [3,2] by hand
 * (see test_ops_linalg.c: [[58, 64], [139, 154]]) and its transposed-flag twin. */
START_TEST(test_matmul_through_backend)
{
    rg_graph *g = rg_graph_new(RG_F32);
    const int64_t s23[] = {2, 3}, s32[] = {3, 2};
    const float av[] = {1, 2, 3, 4, 5, 6}, bv[] = {7, 8, 9, 10, 11, 12};
    const float bt[] = {7, 9, 11, 8, 10, 12}; /* bv transposed, stored [2,3] */
    rg_node *a = rg_const(g, 2, s23, av), *b = rg_const(g, 2, s32, bv);
    rg_node *b_t = rg_const(g, 2, s23, bt);
    rg_node *y = rg_matmul(a, b), *y2 = rg_matmul_t(a, b_t, false, true);
    rg_node *targets[] = {y, y2};
    ck_assert_int_eq(rg_eval(g, 2, targets), RG_OK);
    const double want[] = {58, 64, 139, 154};
    tu_assert_values(y, want, 4, 0);
    tu_assert_values(y2, want, 4, 0);
    rg_graph_free(g);
}
END_TEST

/* ---- the report and the thread setting -------------------------------------------------- */

START_TEST(test_info_names_backend)
{
    const char *info = rg_blas_info();
    ck_assert_ptr_nonnull(info);
    const bool known = is_openblas(info) || strncmp(info, "CBLAS (", 7) == 0 ||
                       strncmp(info, "portable blocked GEMM (", 23) == 0;
    ck_assert_msg(known, "unknown backend: %s", info);
    if (is_openblas(info)) {
        ck_assert_msg(strstr(info, ", core ") && strstr(info, " thread"), "%s", info);
        ck_assert_ptr_nonnull(rg__blas_get());
    }
    /* the same report twice (it is rebuilt per call from the same state) */
    char first[512];
    snprintf(first, sizeof first, "%s", info);
    ck_assert_str_eq(rg_blas_info(), first);
}
END_TEST

START_TEST(test_set_threads)
{
    ck_assert_int_eq(rg_blas_set_threads(0), RG_ERR_ARG);
    ck_assert_int_eq(rg_blas_set_threads(-3), RG_ERR_ARG);
    rg_status st = rg_blas_set_threads(1);
    const char *info = rg_blas_info();
    if (strncmp(info, "CBLAS (", 7) == 0) {
        ck_assert_int_eq(st, RG_ERR_UNSUPPORTED);
    } else {
        ck_assert_int_eq(st, RG_OK);
        ck_assert_msg(strstr(info, ", 1 thread") && !strstr(info, "threads"), "%s", info);
    }
    if (strncmp(info, "portable", 8) == 0)
        ck_assert_int_eq(rg_blas_set_threads(2), RG_ERR_UNSUPPORTED);
}
END_TEST

/* ---- the kernel type, seen from child processes ----------------------------------------- */

/* True when environment entry `entry` sets one of the variables named in extra[]. */
static bool overridden(const char *entry, const char *const *extra)
{
    for (size_t i = 0; extra[i]; i++) {
        size_t n = strcspn(extra[i], "=");
        if (strncmp(entry, extra[i], n + 1) == 0)
            return true;
    }
    return false;
}

/* Starts this executable with CHILD_FLAG, its environment being ours without
 * OPENBLAS_CORETYPE, with extra[] ("NAME=value" strings, NULL-terminated) replacing or adding
 * variables, and returns what it printed (a static buffer). */
static const char *child_report(const char *const *extra)
{
    static char out[2048];
    size_t nenv = 0, nextra = 0;
    while (environ[nenv])
        nenv++;
    while (extra[nextra])
        nextra++;
    char **envp = calloc(nenv + nextra + 1, sizeof *envp);
    ck_assert_ptr_nonnull(envp);
    size_t e = 0;
    for (size_t i = 0; i < nenv; i++)
        if (strncmp(environ[i], "OPENBLAS_CORETYPE=", 18) != 0 && !overridden(environ[i], extra))
            envp[e++] = environ[i];
    for (size_t i = 0; i < nextra; i++)
        envp[e++] = (char *)extra[i];

    int fd[2];
    ck_assert_int_eq(pipe(fd), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, fd[0]);
    char *argv[] = {self_path, CHILD_FLAG, NULL};
    pid_t pid;
    ck_assert_int_eq(posix_spawn(&pid, self_path, &fa, NULL, argv, envp), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(fd[1]);
    size_t len = 0;
    ssize_t r;
    while (len + 1 < sizeof out && (r = read(fd[0], out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = '\0';
    close(fd[0]);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed: %s", out);
    free(envp);
    return out;
}

/* What the child prints: its report, then OPENBLAS_CORETYPE as it found it afterwards. */
static int child_main(void)
{
    printf("%s\n", rg_blas_info());
    const char *v = getenv("OPENBLAS_CORETYPE");
    printf("OPENBLAS_CORETYPE after: %s\n", v ? v : "<unset>");
    return 0;
}

/* Prescott (SSE3) runs on every x86-64 CPU and is never what retrograd chooses, so a report
 * naming it can only come from the user's value. */
START_TEST(test_user_coretype_kept)
{
    const char *extra[] = {"OPENBLAS_CORETYPE=Prescott", NULL};
    const char *out = child_report(extra);
    if (!is_openblas(out))
        return; /* no OpenBLAS here: nothing to choose */
#if defined(__x86_64__)
    ck_assert_msg(strstr(out, ", core Prescott (OPENBLAS_CORETYPE=Prescott set by the user)"),
                  "%s", out);
#else
    ck_assert_msg(strstr(out, "(OPENBLAS_CORETYPE=Prescott set by the user)"), "%s", out);
#endif
    ck_assert_msg(strstr(out, "OPENBLAS_CORETYPE after: Prescott\n"), "%s", out);
}
END_TEST

/* The kernel type for this CPU by the documented rule, checked here with the compiler's
 * feature tests (NULL: no rule applies and OpenBLAS detects). */
static const char *expected_core(void)
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

START_TEST(test_unset_coretype_chosen)
{
    const char *extra[] = {NULL};
    const char *out = child_report(extra);
    if (!is_openblas(out))
        return;
    const char *core = expected_core();
    char want[128];
    if (core)
        snprintf(want, sizeof want, ", core %s (chosen by retrograd from the CPU's features)",
                 core);
    else
        snprintf(want, sizeof want, "(OpenBLAS's own detection)");
    ck_assert_msg(strstr(out, want), "expected '%s' in: %s", want, out);
    /* the variable was only set while the library loaded */
    ck_assert_msg(strstr(out, "OPENBLAS_CORETYPE after: <unset>\n"), "%s", out);
}
END_TEST

/* An OpenBLAS in the process before retrograd looks (here: preloaded) chose its kernels at
 * start-up; it is used as it is and reported so. The sanitizer runtime must come first in
 * the list of loaded libraries unless told not to check, hence the ASAN_OPTIONS entry. */
START_TEST(test_preloaded_used_as_is)
{
    if (!is_openblas(rg_blas_info()))
        return;
    char asan[512];
    const char *old = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof asan, "ASAN_OPTIONS=%s%sverify_asan_link_order=0", old ? old : "",
             old && *old ? ":" : "");
    const char *extra[] = {"LD_PRELOAD=libopenblas.so.0", asan, NULL};
    const char *out = child_report(extra);
    ck_assert_msg(strstr(out, "(OpenBLAS was loaded before retrograd)"), "%s", out);
}
END_TEST

static Suite *blas_suite(void)
{
    Suite *s = suite_create("blas");
    TCase *tc = tcase_create("gemm");
    tcase_add_test(tc, test_gemm_after_lazy_load);
    tcase_add_test(tc, test_gemm_two_threads);
    tcase_add_test(tc, test_gemm_split_over_pool);
    tcase_add_test(tc, test_matmul_through_backend);
    suite_add_tcase(s, tc);
    tc = tcase_create("report");
    tcase_add_test(tc, test_info_names_backend);
    tcase_add_test(tc, test_set_threads);
    suite_add_tcase(s, tc);
    tc = tcase_create("coretype");
    tcase_add_test(tc, test_user_coretype_kept);
    tcase_add_test(tc, test_unset_coretype_chosen);
    tcase_add_test(tc, test_preloaded_used_as_is);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], CHILD_FLAG) == 0)
        return child_main();
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (n > 0)
        self_path[n] = '\0';
    else
        snprintf(self_path, sizeof self_path, "%s", argv[0]);
    return tu_run_suite(blas_suite());
}
