/* Fused groups (src/fuse.c): runs of elementwise steps over the same number of elements,
 * executed tile by tile, give the bits of the unfused kernels at every size, dtype and thread
 * count; targets and values read outside a group are kept whole; kept values and anomaly mode
 * run unfused; re-runs allocate nothing; fused gradients match central differences. The
 * unfused reference is the same graph evaluated with every value kept. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "testutil.h"

#define MAX_T 8

static size_t elem_of(const rg_graph *g)
{
    return rg_graph_dtype(g) == RG_F32 ? sizeof(float) : sizeof(double);
}

/* Evaluates the targets with every value kept (nothing fused), then twice as planned
 * (fused), on `threads` threads; each fused run must give every target's bits. Returns the
 * number of fused groups of the plan. */
static long fused_matches(rg_graph *g, int n, rg_node *const *t, int threads)
{
    ck_assert_int_le(n, MAX_T);
    ck_assert_int_eq(rg_set_threads(threads), RG_OK);
    rg_graph_set_keep_values(g, true);
    ck_assert_int_eq(rg_eval(g, n, t), RG_OK);
    ck_assert_int_eq(rg__eval_fused_groups(g, n, t), 0);
    void *want[MAX_T];
    size_t bytes[MAX_T];
    for (int i = 0; i < n; i++) {
        bytes[i] = (size_t)rg_node_size(t[i]) * elem_of(g);
        want[i] = malloc(bytes[i]);
        memcpy(want[i], rg_node_data(t[i]), bytes[i]);
    }
    rg_graph_set_keep_values(g, false);
    for (int run = 0; run < 2; run++) {
        ck_assert_int_eq(rg_eval(g, n, t), RG_OK);
        for (int i = 0; i < n; i++)
            ck_assert_msg(memcmp(want[i], rg_node_data(t[i]), bytes[i]) == 0,
                          "target %d (%lld values) differs, %d threads, run %d", i,
                          (long long)rg_node_size(t[i]), threads, run);
    }
    for (int i = 0; i < n; i++)
        free(want[i]);
    return rg__eval_fused_groups(g, n, t);
}

/* A graph of dtype f32 (loop index 0) or f64 with two parameters of n elements: x in
 * [-2, 2), w in [lo, hi). */
struct two {
    rg_graph *g;
    rg_node *x, *w;
};

static struct two two_params(int i, int64_t n, uint64_t seed, double lo, double hi)
{
    struct two p;
    p.g = rg_graph_new(i ? RG_F64 : RG_F32);
    p.x = tu_param(p.g, "x", 1, &n, -2, 2, &seed);
    p.w = tu_param(p.g, "w", 1, &n, lo, hi, &seed);
    return p;
}

/* y and its gradients to x and w, unfused and fused, on one thread and two: the bits agree
 * and the plan has at least min_groups groups. */
static void check_with_grads(rg_node *y, rg_node *x, rg_node *w, long min_groups)
{
    rg_node *t[3] = {y};
    ck_assert_int_eq(rg_grad(y, 2, (rg_node *[]){x, w}, t + 1), RG_OK);
    for (int threads = 1; threads <= 2; threads++)
        ck_assert_int_ge(fused_matches(rg_node_graph(y), 3, t, threads), min_groups);
}

/* W3 of the benchmarks: y = sum(tanh(a * b + c)) and its gradients to a, b and c. */
struct wide {
    rg_graph *g;
    rg_node *x[3], *t[4], *pre;
};

static struct wide build_wide(rg_dtype dt, int64_t n, uint64_t seed)
{
    struct wide w;
    w.g = rg_graph_new(dt);
    for (int i = 0; i < 3; i++)
        w.x[i] = tu_param(w.g, "x", 1, &n, -2, 2, &seed);
    w.pre = rg_add(rg_mul(w.x[0], w.x[1]), w.x[2]);
    w.t[0] = rg_sum(rg_tanh(w.pre), RG_AXIS_ALL, false);
    ck_assert_int_eq(rg_grad(w.t[0], 3, w.x, w.t + 1), RG_OK);
    return w;
}

/* Sizes around the tile (1024 elements) and the sum's blocks (one block below 16384
 * elements, blocks of 8192 above, the last one shorter). */
static const int64_t sizes[] = {2053, 6149, 40007, 131075};
#define NSIZES (int)(sizeof sizes / sizeof *sizes)

START_TEST(test_wide_bits)
{
    const rg_dtype dt = _i / NSIZES ? RG_F64 : RG_F32;
    const int64_t n = sizes[_i % NSIZES];
    struct wide w = build_wide(dt, n, 11 + (uint64_t)_i);
    for (int threads = 1; threads <= 2; threads++) {
        ck_assert_int_eq(fused_matches(w.g, 4, w.t, threads), 1);
        ck_assert_int_eq(fused_matches(w.g, 1, w.t, threads), 1); /* the forward alone */
    }
    /* a * b + c and tanh lived in tiles only */
    ck_assert_ptr_null(rg_node_data(w.pre));
    rg_graph_free(w.g);
}
END_TEST

/* One thread and two give the same bits fused, and the sum the bits of one thread. */
START_TEST(test_threads_same_bits)
{
    struct wide w = build_wide(RG_F32, 200003, 5);
    ck_assert_int_eq(rg_set_threads(1), RG_OK);
    ck_assert_int_eq(rg_eval(w.g, 4, w.t), RG_OK);
    float *one[4];
    for (int i = 0; i < 4; i++) {
        one[i] = malloc(sizeof(float) * (size_t)rg_node_size(w.t[i]));
        memcpy(one[i], rg_node_data(w.t[i]), sizeof(float) * (size_t)rg_node_size(w.t[i]));
    }
    ck_assert_int_eq(rg_set_threads(2), RG_OK);
    for (int run = 0; run < 3; run++) {
        ck_assert_int_eq(rg_eval(w.g, 4, w.t), RG_OK);
        for (int i = 0; i < 4; i++)
            ck_assert(memcmp(one[i], rg_node_data(w.t[i]),
                             sizeof(float) * (size_t)rg_node_size(w.t[i])) == 0);
    }
    for (int i = 0; i < 4; i++)
        free(one[i]);
    rg_graph_free(w.g);
}
END_TEST

/* A target in the middle of a chain is written whole; what only the chain reads is not. */
START_TEST(test_target_mid_chain)
{
    struct two p = two_params(_i, 9001, 3, -1, 1);
    rg_graph *g = p.g;
    rg_node *x = p.x, *w = p.w;
    rg_node *u = rg_exp(rg_mul(x, rg_scalar(g, 0.25)));
    rg_node *v = rg_add(rg_mul(u, w), rg_scalar(g, 0.5));
    rg_node *y = rg_sum(rg_log(rg_add(rg_mul(v, v), rg_scalar(g, 1))), RG_AXIS_ALL, false);
    rg_node *t[5] = {y, u};
    ck_assert_int_eq(rg_grad(y, 2, (rg_node *[]){x, w}, t + 2), RG_OK);
    t[4] = v;
    for (int threads = 1; threads <= 2; threads++) {
        ck_assert_int_ge(fused_matches(g, 2, t, threads), 1);
        ck_assert_ptr_nonnull(rg_node_data(u));
        ck_assert_ptr_null(rg_node_data(v));
        ck_assert_int_ge(fused_matches(g, 4, t, threads), 1);
        ck_assert_int_ge(fused_matches(g, 5, t, threads), 1);
    }
    rg_graph_free(g);
}
END_TEST

/* h is read by a column sum, which no group holds: h is written whole, and the group still
 * spares the values only it reads. */
START_TEST(test_value_read_outside)
{
    const rg_dtype dt = _i ? RG_F64 : RG_F32;
    uint64_t seed = 7;
    rg_graph *g = rg_graph_new(dt);
    rg_node *x = tu_param(g, "x", 2, (int64_t[]){301, 23}, -2, 2, &seed);
    rg_node *pre = rg_sub(rg_mul(x, rg_scalar(g, 0.7)), rg_scalar(g, 0.1));
    rg_node *h = rg_sigmoid(pre);
    rg_node *s1 = rg_sum(rg_square(h), RG_AXIS_ALL, false);
    rg_node *s2 = rg_sum(h, 0, false);
    rg_node *loss = rg_add(s1, rg_sum(rg_mul(s2, s2), RG_AXIS_ALL, false));
    rg_node *t[3] = {loss, s2};
    ck_assert_int_eq(rg_grad(loss, 1, &x, t + 2), RG_OK);
    for (int threads = 1; threads <= 2; threads++) {
        ck_assert_int_ge(fused_matches(g, 3, t, threads), 1);
        ck_assert_ptr_nonnull(rg_node_data(h));
        ck_assert_ptr_null(rg_node_data(pre));
    }
    rg_graph_free(g);
}
END_TEST

/* relu_grad takes the sum's gradient as a one-element operand, like the other binary ops. A
 * mean is a sink too. A sink's value is read only after its group. */
START_TEST(test_relu_mean_and_sink_readers)
{
    struct two p = two_params(_i, 50001, 9, 0.5, 1.5);
    rg_graph *g = p.g;
    rg_node *x = p.x, *a = p.w;
    rg_node *m = rg_mean(rg_mul(rg_relu(rg_sub(x, rg_scalar(g, 0.1))), a), RG_AXIS_ALL, false);
    rg_node *s = rg_sum(rg_tanh(x), RG_AXIS_ALL, false);
    /* reads the sinks m and s over n elements */
    rg_node *y = rg_sum(rg_square(rg_sub(rg_mul(x, s), m)), RG_AXIS_ALL, false);
    check_with_grads(y, x, a, 2);
    rg_graph_free(g);
}
END_TEST

/* A unary op reads its operand whole: a one-element value broadcast to it is filled into the
 * tile. */
START_TEST(test_fill_for_unary_reader)
{
    struct two p = two_params(_i, 20011, 21, -1, 1);
    rg_graph *g = p.g;
    uint64_t seed = 22;
    rg_node *c = tu_param(g, "c", 0, NULL, 0.5, 1.5, &seed);
    const int64_t n = rg_node_size(p.x);
    rg_node *e = rg_exp(rg_broadcast_to(c, 1, &n));
    rg_node *y = rg_sum(rg_mul(e, p.x), RG_AXIS_ALL, false);
    check_with_grads(y, p.x, c, 1);
    rg_graph_free(g);
}
END_TEST

/* Every elementwise op, forward and backward. */
START_TEST(test_every_op)
{
    struct two p = two_params(_i, 5003, 13, 0.5, 2);
    rg_graph *g = p.g;
    rg_node *x = p.x, *b = p.w;
    rg_node *t = rg_neg(rg_sin(x));
    t = rg_add(t, rg_cos(rg_mul(x, b)));
    t = rg_sub(rg_exp(rg_mul(t, rg_scalar(g, 0.3))), rg_sqrt(rg_abs(x)));
    t = rg_div(t, rg_add(rg_square(b), rg_scalar(g, 1)));
    t = rg_mul(rg_sigmoid(t), rg_softplus(rg_leaky_relu(x, 0.1)));
    t = rg_add(t, rg_log(rg_add(rg_abs(t), rg_scalar(g, 1))));
    t = rg_maximum(rg_pow(rg_add(rg_abs(t), rg_scalar(g, 0.5)), b), rg_relu(rg_neg(x)));
    t = rg_minimum(t, rg_add(rg_tanh(b), rg_heaviside(x)));
    check_with_grads(rg_mean(t, RG_AXIS_ALL, false), x, b, 1);
    rg_graph_free(g);
}
END_TEST

/* Below a tile nothing is fused; kept values and anomaly mode run unfused. */
START_TEST(test_when_not_fused)
{
    struct wide small = build_wide(RG_F64, 100, 1);
    ck_assert_int_eq(rg_eval(small.g, 4, small.t), RG_OK);
    ck_assert_int_eq(rg__eval_fused_groups(small.g, 4, small.t), 0);
    ck_assert_ptr_nonnull(rg_node_data(small.pre));
    rg_graph_free(small.g);

    struct wide w = build_wide(RG_F32, 30000, 2);
    rg_graph_set_keep_values(w.g, true);
    ck_assert_int_eq(rg_eval(w.g, 4, w.t), RG_OK);
    ck_assert_int_eq(rg__eval_fused_groups(w.g, 4, w.t), 0);
    ck_assert_ptr_nonnull(rg_node_data(w.pre));
    rg_graph_set_keep_values(w.g, false);

    rg_graph_set_check_finite(w.g, true);
    ck_assert_int_eq(rg_eval(w.g, 4, w.t), RG_OK);
    ck_assert_int_eq(rg__eval_fused_groups(w.g, 4, w.t), 0);
    const double checked = rg_node_item(w.t[0]);
    rg_graph_set_check_finite(w.g, false);
    ck_assert_int_eq(rg_eval(w.g, 4, w.t), RG_OK);
    ck_assert_int_eq(rg__eval_fused_groups(w.g, 4, w.t), 1);
    ck_assert_double_eq(rg_node_item(w.t[0]), checked);
    /* both plans stay cached: switching back and forth plans nothing anew */
    const uint64_t allocs = rg_graph_alloc_count(w.g);
    for (int i = 0; i < 4; i++) {
        rg_graph_set_check_finite(w.g, i % 2 == 0);
        ck_assert_int_eq(rg_eval(w.g, 4, w.t), RG_OK);
    }
    ck_assert_uint_eq(rg_graph_alloc_count(w.g), allocs);
    rg_graph_free(w.g);
}
END_TEST

/* Anomaly mode finds a NaN a fused group would have hidden in a tile. */
START_TEST(test_check_finite_sees_inside)
{
    const int64_t n = 4096;
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = rg_input(g, "x", 1, &n);
    double *v = calloc((size_t)n, sizeof *v);
    v[3000] = -1;
    rg_feed_f64(x, v, n);
    rg_node *y = rg_sum(rg_exp(rg_log(x)), RG_AXIS_ALL, false);
    ck_assert_int_eq(rg_eval1(y), RG_OK);
    ck_assert(isnan(rg_node_item(y)));
    rg_graph_set_check_finite(g, true);
    ck_assert_int_eq(rg_eval1(y), RG_ERR_DOMAIN);
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g), "'log'"));
    free(v);
    rg_graph_free(g);
}
END_TEST

/* Re-runs allocate nothing; more threads than at planning allocate once. A borrowed input
 * is read where it points at each run. */
START_TEST(test_reruns)
{
    ck_assert_int_eq(rg_set_threads(1), RG_OK);
    const int64_t n = 70001;
    rg_graph *g = rg_graph_new(RG_F32);
    rg_node *x = rg_input(g, "x", 1, &n);
    float *b1 = malloc(sizeof(float) * (size_t)n), *b2 = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        b1[i] = (float)(i % 7) * 0.25f;
        b2[i] = (float)(i % 5) * -0.5f;
    }
    rg_node *y = rg_sum(rg_square(rg_tanh(x)), RG_AXIS_ALL, false);
    rg_node *gx;
    ck_assert_int_eq(rg_grad(y, 1, &x, &gx), RG_OK);
    rg_node *t[2] = {y, gx};
    ck_assert_int_eq(rg_feed_borrow(x, b1), RG_OK);
    ck_assert_int_eq(rg_eval(g, 2, t), RG_OK);
    ck_assert_int_eq(rg__eval_fused_groups(g, 2, t), 1);
    const double y1 = rg_node_item(y);
    uint64_t allocs = rg_graph_alloc_count(g);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(rg_eval(g, 2, t), RG_OK);
    ck_assert_uint_eq(rg_graph_alloc_count(g), allocs);
    ck_assert_int_eq(rg_set_threads(2), RG_OK);
    ck_assert_int_eq(rg_eval(g, 2, t), RG_OK);
    ck_assert_uint_le(rg_graph_alloc_count(g), allocs + 2);
    allocs = rg_graph_alloc_count(g);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(rg_eval(g, 2, t), RG_OK);
    ck_assert_uint_eq(rg_graph_alloc_count(g), allocs);
    ck_assert_double_eq(rg_node_item(y), y1);

    ck_assert_int_eq(rg_feed_borrow(x, b2), RG_OK);
    ck_assert_int_eq(rg_eval(g, 2, t), RG_OK);
    const double y2 = rg_node_item(y);
    ck_assert_int_eq(fused_matches(g, 2, t, 2), 1);
    ck_assert_double_eq(rg_node_item(y), y2);
    ck_assert_double_ne(y1, y2);
    rg_graph_free(g);
    free(b1);
    free(b2);
}
END_TEST

/* The fused gradients of W3 in f64 against central differences of the fused forward. */
START_TEST(test_gradient_central_differences)
{
    ck_assert_int_eq(rg_set_threads(_i + 1), RG_OK);
    const int64_t n = 20011;
    struct wide w = build_wide(RG_F64, n, 17);
    ck_assert_int_eq(rg_eval(w.g, 4, w.t), RG_OK);
    ck_assert_int_eq(rg__eval_fused_groups(w.g, 4, w.t), 1);
    const double eps = 1e-6;
    uint64_t seed = 99;
    for (int k = 0; k < 3; k++) {
        double *xv = rg_node_data(w.x[k]);
        const double *gv = rg_node_data(w.t[1 + k]);
        for (int probe = 0; probe < 6; probe++) {
            const int64_t i = (int64_t)(tu_next(&seed) % (uint64_t)n);
            const double keep = xv[i], analytic = gv[i];
            xv[i] = keep + eps;
            ck_assert_int_eq(rg_eval1(w.t[0]), RG_OK);
            const double up = rg_node_item(w.t[0]);
            xv[i] = keep - eps;
            ck_assert_int_eq(rg_eval1(w.t[0]), RG_OK);
            const double down = rg_node_item(w.t[0]);
            xv[i] = keep;
            const double numeric = (up - down) / (2 * eps);
            ck_assert_msg(fabs(numeric - analytic) <= 1e-5 * (1 + fabs(analytic)),
                          "d/dx%d[%lld]: %.12g numeric, %.12g fused", k, (long long)i, numeric,
                          analytic);
        }
    }
    ck_assert_int_eq(rg__eval_fused_groups(w.g, 1, w.t), 1);
    /* gradient checking itself keeps every value, so it runs unfused */
    rg_gradcheck_report rep;
    ck_assert_int_eq(rg_gradcheck_adjoint(w.t[0], 3, w.x, NULL, &rep), RG_OK);
    ck_assert(rep.passed);
    rg_graph_free(w.g);
    struct wide small = build_wide(RG_F64, 1500, 19);
    ck_assert_int_eq(rg_gradcheck(small.t[0], 3, small.x, NULL, &rep), RG_OK);
    ck_assert(rep.passed);
    ck_assert_int_eq(rg_eval(small.g, 4, small.t), RG_OK);
    ck_assert_int_eq(rg__eval_fused_groups(small.g, 4, small.t), 1);
    rg_graph_free(small.g);
}
END_TEST

/* ---- allocation failures: a graph allocator refusing its k-th allocation ---- */

static struct {
    long calls, fail_at, live;
    bool failed;
} H;

static void *h_malloc(void *ctx, size_t n)
{
    (void)ctx;
    if (H.fail_at && ++H.calls == H.fail_at) {
        H.failed = true;
        return NULL;
    }
    void *p = malloc(n);
    H.live += p != NULL;
    return p;
}

static void h_free(void *ctx, void *p)
{
    (void)ctx;
    H.live -= p != NULL;
    free(p);
}

static void arm(long k)
{
    H.calls = 0;
    H.fail_at = k;
    H.failed = false;
}

/* Planning a fused graph, and growing its scratch for more threads, fail cleanly at every
 * allocation: RG_ERR_NOMEM, nothing leaked, and the next run gives the right bits. */
START_TEST(test_out_of_memory)
{
    const rg_allocator al = {.malloc_fn = h_malloc, .free_fn = h_free};
    struct wide ref = build_wide(RG_F32, 20011, 21);
    ck_assert_int_eq(rg_set_threads(1), RG_OK);
    ck_assert_int_eq(rg_eval(ref.g, 4, ref.t), RG_OK);
    bool done = false;
    for (long k = 1; !done; k++) {
        arm(0);
        rg_graph *g = rg_graph_new_with_allocator(RG_F32, &al);
        const int64_t n = 20011;
        uint64_t seed = 21;
        rg_node *x[3], *t[4];
        for (int i = 0; i < 3; i++)
            x[i] = tu_param(g, "x", 1, &n, -2, 2, &seed);
        t[0] = rg_sum(rg_tanh(rg_add(rg_mul(x[0], x[1]), x[2])), RG_AXIS_ALL, false);
        ck_assert_int_eq(rg_grad(t[0], 3, x, t + 1), RG_OK);
        /* plan on one thread, then grow the scratch for two */
        bool refused = false;
        for (int threads = 1; threads <= 2; threads++) {
            ck_assert_int_eq(rg_set_threads(threads), RG_OK);
            arm(k);
            const rg_status st = rg_eval(g, 4, t);
            if (H.failed) {
                ck_assert_int_eq(st, RG_ERR_NOMEM);
                rg_graph_clear_error(g);
                refused = true;
            }
            arm(0);
            ck_assert_int_eq(rg_eval(g, 4, t), RG_OK);
            for (int i = 0; i < 4; i++)
                ck_assert(memcmp(rg_node_data(t[i]), rg_node_data(ref.t[i]),
                                 sizeof(float) * (size_t)rg_node_size(t[i])) == 0);
        }
        done = !refused;
        ck_assert_int_eq(rg__eval_fused_groups(g, 4, t), 1);
        rg_graph_free(g);
        ck_assert_int_eq(H.live, 0);
    }
    rg_graph_free(ref.g);
}
END_TEST

static Suite *fusion_suite(void)
{
    Suite *s = suite_create("fusion");
    TCase *tc = tcase_create("fusion");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_wide_bits, 0, 2 * NSIZES);
    tcase_add_test(tc, test_threads_same_bits);
    tcase_add_loop_test(tc, test_target_mid_chain, 0, 2);
    tcase_add_loop_test(tc, test_value_read_outside, 0, 2);
    tcase_add_loop_test(tc, test_relu_mean_and_sink_readers, 0, 2);
    tcase_add_loop_test(tc, test_fill_for_unary_reader, 0, 2);
    tcase_add_loop_test(tc, test_every_op, 0, 2);
    tcase_add_test(tc, test_when_not_fused);
    tcase_add_test(tc, test_check_finite_sees_inside);
    tcase_add_test(tc, test_reruns);
    tcase_add_loop_test(tc, test_gradient_central_differences, 0, 2);
    tcase_add_test(tc, test_out_of_memory);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(fusion_suite());
}
