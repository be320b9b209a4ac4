/* fastmath: the vectorisable f32 functions of src/kernels/fastmath.h against the f64 libm,
 * the f32 kernels built on them, and the kernels' thread pool (src/kernels/parallel.c).
 *
 * Reference values are libm's double functions, which are accurate to well under an f32
 * ulp: an error is |fast(x) - ref(x)| in units of the f32 spacing at ref(x) (the smallest
 * subnormal below FLT_MIN). The bounds asserted are the ones fastmath.h documents, measured
 * there over every f32 input; here a sweep of every 4093rd bit pattern (about a million
 * inputs of every sign and exponent), every float within 2048 ulps of each threshold and the
 * special values are checked. The threaded kernels must give the same bits at every thread
 * count (ThreadSanitizer runs this suite in CI). No timings are asserted. */
#include "testutil.h"

#include "kernels/fastmath.h"

#include <float.h>
#include <pthread.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define SWEEP_STRIDE 4093u
#define WINDOW 2048

static double ref_sigmoid(double x)
{
    return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
}

static double ref_softplus(double x)
{
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

/* Out-of-line copies, so the table can point at them. */
static float f_exp(float x)
{
    return rg__expf(x);
}
static float f_log(float x)
{
    return rg__logf(x);
}
static float f_tanh(float x)
{
    return rg__tanhf(x);
}
static float f_sigmoid(float x)
{
    return rg__sigmoidf(x);
}
static float f_softplus(float x)
{
    return rg__softplusf(x);
}
static float f_log1p(float x)
{
    return rg__log1pf_unit(x);
}

struct fn_case {
    const char *name;
    float (*fast)(float);
    double (*ref)(double);
    double max_ulp;       /* the bound fastmath.h documents */
    float lo, hi;         /* the domain swept (the whole line unless narrower) */
    float thresholds[8];  /* where behaviour changes: overflow, underflow, clamps, branches */
    int nthresholds;
};

static const struct fn_case fns[] = {
    /* ln FLT_MAX, ln 2^-126 (results turn subnormal), ln 2^-150 (results round to 0), the
     * clamps, and the edges of the reduction interval */
    {"exp", f_exp, exp, 1.0, -INFINITY, INFINITY,
     {88.7228394f, -87.3365479f, -103.972076f, 89.0f, -104.0f, 0.34657359f, -0.34657359f, 0},
     8},
    /* the subnormal boundary, 1, the mantissa split at sqrt(1/2), the largest float */
    {"log", f_log, log, 1.0, -INFINITY, INFINITY,
     {0x1p-126f, 1.0f, 0.70710677f, 1.41421354f, FLT_MAX, 0x1p-149f}, 6},
    /* 0, the end of the n = 0 reduction range (2|x| = ln2/2), saturation to 1, the clamp */
    {"tanh", f_tanh, tanh, 2.5, -INFINITY, INFINITY,
     {0, 0.17328680f, -0.17328680f, 9.01091290f, -9.01091290f, 9.5f, -9.5f}, 7},
    /* 0, saturation to 1 (e^-x < 2^-25), the subnormal and zero ranges of e^x */
    {"sigmoid", f_sigmoid, ref_sigmoid, 2.5, -INFINITY, INFINITY,
     {0, 17.3286800f, -87.3365479f, -103.972076f, 16.6355324f}, 5},
    {"softplus", f_softplus, ref_softplus, 2.0, -INFINITY, INFINITY,
     {0, 16.6355324f, -87.3365479f, -103.972076f, 88.7228394f}, 5},
    {"log1p on [0, 1]", f_log1p, log1p, 2.0, 0.0f, 1.0f, {0, 0x1p-24f, 0x1p-23f, 1.0f}, 4},
};

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float float_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The f32 spacing at |r|. */
static double ulp_at(double r)
{
    const double a = fabs(r);
    if (a < FLT_MIN)
        return 0x1p-149;
    int e;
    frexp(a > FLT_MAX ? FLT_MAX : a, &e);
    return ldexp(1.0, e - 24);
}

/* Error of y against the exact r in ulps; NaN, infinities and signed zeros must match
 * exactly (returns INFINITY when they do not). */
static double ulp_error(float y, double r)
{
    const float rr = (float)r;
    if (isnan(rr) || isnan(y))
        return isnan(rr) && isnan(y) ? 0 : INFINITY;
    if (isinf(rr) || isinf(y))
        return rr == y ? 0 : INFINITY;
    if (y == 0 && rr == 0 && signbit(y) != signbit(rr))
        return INFINITY;
    return fabs((double)y - r) / ulp_at(r);
}

struct worst {
    double err;
    float x;
};

static void check_at(const struct fn_case *c, float x, struct worst *w)
{
    if (!(x >= c->lo && x <= c->hi) && !isnan(x))
        return;
    if ((isnan(x) || signbit(x)) && c->lo == 0) /* log1p_unit takes e^-|x|: never -0 */
        return;
    const double e = ulp_error(c->fast(x), c->ref((double)x));
    if (e > w->err) {
        w->err = e;
        w->x = x;
    }
}

/* The function against libm on the sweep and around its thresholds. */
START_TEST(test_accuracy)
{
    const struct fn_case *c = &fns[_i];
    struct worst w = {0, 0};
    for (uint64_t u = 0; u <= UINT32_MAX; u += SWEEP_STRIDE)
        check_at(c, float_of((uint32_t)u), &w);
    for (int t = 0; t < c->nthresholds; t++) {
        for (int sign = 0; sign < 2; sign++) {
            const uint32_t mid = bits_of(c->thresholds[t]) ^ (sign ? 0x80000000u : 0);
            for (int64_t d = -WINDOW; d <= WINDOW; d++) {
                const int64_t u = (int64_t)mid + d;
                if (u >= 0 && u <= (int64_t)UINT32_MAX)
                    check_at(c, float_of((uint32_t)u), &w);
            }
        }
    }
    ck_assert_msg(w.err <= c->max_ulp, "%s: %.3f ulp at %a (bound %.1f)", c->name, w.err,
                  (double)w.x, c->max_ulp);
}
END_TEST

/* Exact results at the special values (C99 Annex F) and where the functions saturate. */
static const struct {
    int fn; /* index into fns */
    float x, want;
} specials[] = {
    {0, -INFINITY, 0.0f}, {0, INFINITY, INFINITY}, {0, NAN, NAN}, {0, 0.0f, 1.0f},
    {0, -0.0f, 1.0f}, {0, 89.0f, INFINITY}, {0, -104.0f, 0.0f}, {0, 1000.0f, INFINITY},
    {0, -1000.0f, 0.0f}, {0, -103.28f, 0x1p-149f},
    {1, 0.0f, -INFINITY}, {1, -0.0f, -INFINITY}, {1, -1.0f, NAN}, {1, -INFINITY, NAN},
    {1, INFINITY, INFINITY}, {1, NAN, NAN}, {1, 1.0f, 0.0f}, {1, -0x1p-149f, NAN},
    {2, 0.0f, 0.0f}, {2, -0.0f, -0.0f}, {2, INFINITY, 1.0f}, {2, -INFINITY, -1.0f},
    {2, NAN, NAN}, {2, 1000.0f, 1.0f}, {2, -1000.0f, -1.0f}, {2, 1e-30f, 1e-30f},
    {2, -1e-40f, -1e-40f},
    {3, 0.0f, 0.5f}, {3, INFINITY, 1.0f}, {3, -INFINITY, 0.0f}, {3, NAN, NAN},
    {3, 1000.0f, 1.0f}, {3, -1000.0f, 0.0f},
    {4, INFINITY, INFINITY}, {4, -INFINITY, 0.0f}, {4, NAN, NAN}, {4, 1000.0f, 1000.0f},
    {4, -1000.0f, 0.0f},
    {5, 0.0f, 0.0f}, {5, 0x1p-30f, 0x1p-30f},
};

START_TEST(test_specials)
{
    const float y = fns[specials[_i].fn].fast(specials[_i].x), want = specials[_i].want;
    const bool same = isnan(want) ? isnan(y) : y == want && signbit(y) == signbit(want);
    ck_assert_msg(same, "%s(%a) = %a, expected %a", fns[specials[_i].fn].name,
                  (double)specials[_i].x, (double)y, (double)want);
}
END_TEST

/* ---- the kernels ---- */

#define BIG 70001 /* above the pool's split size, odd: every loop has a tail */

/* Bit patterns spread over the whole float line (NaNs and infinities included). */
static void fill_patterns(float *v, int64_t n, uint64_t seed)
{
    for (int64_t i = 0; i < n; i++)
        v[i] = float_of((uint32_t)(tu_next(&seed) >> 32));
    v[0] = INFINITY;
    v[1] = -INFINITY;
    v[2] = 0.0f;
    v[3] = -0.0f;
}

static bool same_bits(float a, float b)
{
    return (isnan(a) && isnan(b)) || bits_of(a) == bits_of(b);
}

typedef rg_node *(*unary_fn)(rg_node *);
static const struct {
    unary_fn op;
    int fn;       /* index into fns */
    double lo, hi; /* inputs uniform in [lo, hi); lo == hi: bit patterns over the whole line */
} kernels[] = {
    {rg_exp, 0, 0, 0},         {rg_log, 1, 0, 0},          {rg_tanh, 2, 0, 0},
    {rg_sigmoid, 3, 0, 0},     {rg_softplus, 4, 0, 0},     {rg_exp, 0, -110, 95},
    {rg_log, 1, 0, 4},         {rg_tanh, 2, -12, 12},      {rg_sigmoid, 3, -110, 30},
    {rg_softplus, 4, -110, 95},
};

/* The f32 kernel (vectorised blocks, scalar tail, split over threads) gives exactly what
 * the scalar function gives for every element, at 1 and 3 threads. */
START_TEST(test_kernel_matches_scalar)
{
    const int64_t n = BIG;
    float *v = malloc(sizeof(float) * n);
    uint64_t seed = 7 + (uint64_t)_i;
    fill_patterns(v, n, seed);
    if (kernels[_i].lo < kernels[_i].hi)
        for (int64_t i = 4; i < n; i++)
            v[i] = (float)tu_uniform(&seed, kernels[_i].lo, kernels[_i].hi);
    for (int threads = 1; threads <= 3; threads += 2) {
        ck_assert_int_eq(rg_set_threads(threads), RG_OK);
        rg_graph *g = rg_graph_new(RG_F32);
        rg_node *x = rg_input(g, "x", 1, &n);
        ck_assert_int_eq(rg_feed(x, v), RG_OK);
        rg_node *y = kernels[_i].op(x);
        ck_assert_int_eq(rg_eval1(y), RG_OK);
        /* (Check writes to a pipe at every assertion: one per array, not per element) */
        const float *out = rg_node_data(y);
        int64_t bad = -1;
        for (int64_t i = 0; i < n && bad < 0; i++)
            if (!same_bits(out[i], fns[kernels[_i].fn].fast(v[i])))
                bad = i;
        ck_assert_msg(bad < 0, "%s(%a): kernel %a, function %a (%d threads)",
                      rg_node_op_name(y), (double)v[bad < 0 ? 0 : bad],
                      (double)out[bad < 0 ? 0 : bad],
                      (double)fns[kernels[_i].fn].fast(v[bad < 0 ? 0 : bad]), threads);
        rg_graph_free(g);
    }
    ck_assert_int_eq(rg_set_threads(1), RG_OK);
    free(v);
}
END_TEST

/* ---- the thread pool ---- */

#define NA 200003
#define ROWS 301
#define COLS 1000

/* A graph touching every split kernel: W3 (sum(tanh(a b + c)) and its gradients), a
 * broadcasting add, softmax and log_softmax over rows, a permute, sums over each axis, a
 * mean, and scalar-operand ops. */
struct net {
    rg_graph *g;
    rg_node *out[12];
    int nout;
};

static void net_build(struct net *t, uint64_t seed)
{
    memset(t, 0, sizeof *t);
    rg_graph *g = t->g = rg_graph_new(RG_F32);
    const int64_t na = NA, m[2] = {ROWS, COLS}, row[1] = {COLS};
    rg_node *xs[3] = {tu_param(g, "a", 1, &na, -3, 3, &seed),
                      tu_param(g, "b", 1, &na, -3, 3, &seed),
                      tu_param(g, "c", 1, &na, -3, 3, &seed)};
    rg_node *y = rg_sum(rg_tanh(rg_add(rg_mul(xs[0], xs[1]), xs[2])), RG_AXIS_ALL, false);
    t->out[0] = y;
    ck_assert_int_eq(rg_grad(y, 3, xs, t->out + 1), RG_OK);
    rg_node *mat = tu_param(g, "m", 2, m, -20, 20, &seed);
    rg_node *bias = tu_param(g, "bias", 1, row, -1, 1, &seed);
    rg_node *h = rg_add(mat, bias);
    t->out[4] = rg_softmax(h, 1);
    t->out[5] = rg_log_softmax(h, 0);
    t->out[6] = rg_permute(h, (const int[]){1, 0});
    t->out[7] = rg_sum(h, 0, false);
    t->out[8] = rg_sum(h, 1, false);
    t->out[9] = rg_mean(rg_exp(rg_mul(h, rg_scalar(g, 0.1))), RG_AXIS_ALL, false);
    t->out[10] = rg_sub(rg_scalar(g, 1.0), rg_sigmoid(h));
    t->out[11] = rg_broadcast_to(bias, 2, m);
    t->nout = 12;
    for (int i = 0; i < t->nout; i++)
        ck_assert_ptr_nonnull(t->out[i]);
}

static void net_run(struct net *t)
{
    ck_assert_int_eq(rg_eval(t->g, t->nout, t->out), RG_OK);
}

/* Asserts that every output of b has a's bits. */
static void net_same(const struct net *a, const struct net *b, const char *what)
{
    for (int i = 0; i < a->nout; i++) {
        const int64_t n = rg_node_size(a->out[i]);
        ck_assert_int_eq(n, rg_node_size(b->out[i]));
        const float *x = rg_node_data(a->out[i]), *y = rg_node_data(b->out[i]);
        int64_t k = 0;
        while (k < n && same_bits(x[k], y[k]))
            k++;
        ck_assert_msg(k == n, "%s: output %d (%s) element %lld: %a vs %a", what, i,
                      rg_node_op_name(a->out[i]), (long long)k, (double)x[k < n ? k : 0],
                      (double)y[k < n ? k : 0]);
    }
}

/* Every thread count gives the bits of one thread, run after run. */
START_TEST(test_threads_same_bits)
{
    struct net ref, t;
    ck_assert_int_eq(rg_set_threads(1), RG_OK);
    net_build(&ref, 11);
    net_run(&ref);
    net_build(&t, 11);
    const int counts[] = {2, 3, 8, 1, 2};
    for (int c = 0; c < N_OF(counts); c++) {
        ck_assert_int_eq(rg_set_threads(counts[c]), RG_OK);
        ck_assert_int_eq(rg_get_threads(), counts[c]);
        for (int rep = 0; rep < 2; rep++) {
            net_run(&t);
            char what[64];
            snprintf(what, sizeof what, "%d threads, run %d", counts[c], rep);
            net_same(&ref, &t, what);
        }
    }
    ck_assert_int_eq(rg_set_threads(1), RG_OK);
    rg_graph_free(ref.g);
    rg_graph_free(t.g);
}
END_TEST

/* A long f32 sum split over threads stays accurate and identical: 1e6 + 7 values in
 * [-1, 1), against the same sum in long double. */
START_TEST(test_sum_blocks)
{
    const int64_t n = 1000007;
    float *v = malloc(sizeof(float) * n);
    uint64_t seed = 5;
    long double exact = 0;
    for (int64_t i = 0; i < n; i++) {
        v[i] = (float)tu_uniform(&seed, -1, 1);
        exact += v[i];
    }
    float first = 0;
    for (int threads = 1; threads <= 4; threads++) {
        ck_assert_int_eq(rg_set_threads(threads), RG_OK);
        rg_graph *g = rg_graph_new(RG_F32);
        rg_node *x = rg_input(g, "x", 1, &n);
        ck_assert_int_eq(rg_feed(x, v), RG_OK);
        rg_node *s = rg_sum(x, RG_AXIS_ALL, false);
        ck_assert_int_eq(rg_eval1(s), RG_OK);
        const float got = *(const float *)rg_node_data(s);
        if (threads == 1)
            first = got;
        ck_assert_msg(bits_of(got) == bits_of(first), "%d threads: %a, 1 thread: %a", threads,
                      (double)got, (double)first);
        ck_assert_double_eq_tol(got, (double)exact, fabs((double)exact) * 1e-6 + 1e-3);
        rg_graph_free(g);
    }
    ck_assert_int_eq(rg_set_threads(1), RG_OK);
    free(v);
}
END_TEST

/* Graphs evaluated from several threads at once share the pool (a kernel that finds it
 * busy runs on its own thread) and still give the serial bits. */
struct job {
    struct net t;
    const struct net *ref;
    int runs;
};

static void *job_main(void *arg)
{
    struct job *j = arg;
    for (int r = 0; r < j->runs; r++)
        if (rg_eval(j->t.g, j->t.nout, j->t.out) != RG_OK)
            return arg;
    return NULL;
}

START_TEST(test_threads_concurrent_graphs)
{
    struct net ref;
    ck_assert_int_eq(rg_set_threads(1), RG_OK);
    net_build(&ref, 23);
    net_run(&ref);
    ck_assert_int_eq(rg_set_threads(2), RG_OK);
    struct job jobs[3];
    pthread_t tid[3];
    for (int k = 0; k < 3; k++) {
        net_build(&jobs[k].t, 23);
        jobs[k].ref = &ref;
        jobs[k].runs = 3;
    }
    for (int k = 0; k < 3; k++)
        ck_assert_int_eq(pthread_create(&tid[k], NULL, job_main, &jobs[k]), 0);
    for (int k = 0; k < 3; k++) {
        void *res = &jobs[k];
        ck_assert_int_eq(pthread_join(tid[k], &res), 0);
        ck_assert_ptr_null(res);
    }
    for (int k = 0; k < 3; k++) {
        net_same(&ref, &jobs[k].t, "concurrent graphs");
        rg_graph_free(jobs[k].t.g);
    }
    ck_assert_int_eq(rg_set_threads(1), RG_OK);
    rg_graph_free(ref.g);
}
END_TEST

/* After fork() the child has no workers: its kernels run (on its own thread) and give the
 * parent's bits. ThreadSanitizer does not support starting threads after a fork of a
 * multi-threaded process, so there the child runs on one thread. */
START_TEST(test_threads_fork)
{
    struct net ref, t;
    ck_assert_int_eq(rg_set_threads(2), RG_OK);
    net_build(&ref, 31);
    net_run(&ref); /* the workers exist now */
    net_build(&t, 31);
    const pid_t pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
#if defined(__SANITIZE_THREAD__)
        rg_set_threads(1);
#endif
        int status = rg_eval(t.g, t.nout, t.out) == RG_OK ? 0 : 2;
        for (int i = 0; !status && i < t.nout; i++)
            if (memcmp(rg_node_data(ref.out[i]), rg_node_data(t.out[i]),
                       sizeof(float) * (size_t)rg_node_size(t.out[i])) != 0)
                status = 10 + i;
        /* _exit skips the destructor that joins the workers: stop them first */
        rg_set_threads(1);
        rg_graph_free(ref.g);
        rg_graph_free(t.g);
        _exit(status);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    ck_assert_int_eq(rg_set_threads(1), RG_OK);
    rg_graph_free(ref.g);
    rg_graph_free(t.g);
}
END_TEST

START_TEST(test_set_threads_arguments)
{
    ck_assert_int_eq(rg_set_threads(1), RG_OK);
    ck_assert_int_eq(rg_get_threads(), 1);
    ck_assert_int_eq(rg_set_threads(0), RG_ERR_ARG);
    ck_assert_int_eq(rg_set_threads(-3), RG_ERR_ARG);
    ck_assert_int_eq(rg_get_threads(), 1);
    ck_assert_int_eq(rg_set_threads(65), RG_ERR_DOMAIN);
    ck_assert_int_eq(rg_get_threads(), 64);
    ck_assert_int_eq(rg_set_threads(4), RG_OK);
    ck_assert_int_eq(rg_get_threads(), 4);
    ck_assert_int_eq(rg_set_threads(1), RG_OK);
    ck_assert_int_eq(rg_get_threads(), 1);
}
END_TEST

static Suite *fastmath_suite(void)
{
    Suite *s = suite_create("fastmath");
    const tu_case cases[] = {
        {"accuracy_against_libm", test_accuracy, N_OF(fns)},
        {"special_values", test_specials, N_OF(specials)},
        {"kernel_matches_scalar", test_kernel_matches_scalar, N_OF(kernels)},
        {"threads_same_bits", test_threads_same_bits, 0},
        {"sum_blocks", test_sum_blocks, 0},
        {"threads_concurrent_graphs", test_threads_concurrent_graphs, 0},
        {"threads_fork", test_threads_fork, 0},
        {"set_threads_arguments", test_set_threads_arguments, 0},
    };
    tu_add_cases(s, cases, sizeof cases / sizeof *cases);
    return s;
}

int main(void)
{
    return tu_run_suite(fastmath_suite());
}
