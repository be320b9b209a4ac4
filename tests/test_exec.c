/* Executor: plans are built once and reused, re-runs allocate nothing, intermediates share
 * buffers by liveness, targets keep their values, kernels report bad data. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "retrograd.h"
#include "testutil.h"

/* A two-layer network's loss and gradients, the shape of a training step. */
struct net {
    rg_graph *g;
    rg_node *x, *labels, *w1, *b1, *w2, *b2, *loss;
};

static struct net build_net(rg_dtype dt)
{
    struct net n;
    uint64_t seed = 3;
    n.g = rg_graph_new(dt);
    n.x = rg_input(n.g, "x", 2, (int64_t[]){8, 5});
    n.labels = rg_input(n.g, "labels", 1, (int64_t[]){8});
    n.w1 = tu_param(n.g, "W1", 2, (int64_t[]){5, 16}, -0.5, 0.5, &seed);
    n.b1 = tu_param(n.g, "b1", 1, (int64_t[]){16}, -0.1, 0.1, &seed);
    n.w2 = tu_param(n.g, "W2", 2, (int64_t[]){16, 3}, -0.5, 0.5, &seed);
    n.b2 = tu_param(n.g, "b2", 1, (int64_t[]){3}, -0.1, 0.1, &seed);
    rg_node *h1 = rg_relu(rg_add(rg_matmul(n.x, n.w1), n.b1));
    rg_node *logits = rg_add(rg_matmul(h1, n.w2), n.b2);
    n.loss = rg_cross_entropy(logits, n.labels);
    double xv[40], lv[8];
    for (int i = 0; i < 40; i++)
        xv[i] = tu_uniform(&seed, -1, 1);
    for (int i = 0; i < 8; i++)
        lv[i] = i % 3;
    rg_feed_f64(n.x, xv, 40);
    rg_feed_f64(n.labels, lv, 8);
    return n;
}

START_TEST(test_rerun_allocates_nothing)
{
    struct net n = build_net(RG_F32);
    ck_assert_int_eq(rg_backward(n.loss), RG_OK);
    uint64_t before = rg_graph_alloc_count(n.g);
    double first = rg_node_item(n.loss);
    for (int step = 0; step < 20; step++) {
        /* a plain SGD step in place, then a re-run of the same plan */
        rg_node *ps[4] = {n.w1, n.b1, n.w2, n.b2};
        for (int p = 0; p < 4; p++) {
            float *w = rg_node_data(ps[p]);
            const float *gw = rg_node_data(rg_node_grad(ps[p]));
            for (int64_t i = 0; i < rg_node_size(ps[p]); i++)
                w[i] -= 0.1f * gw[i];
        }
        ck_assert_int_eq(rg_backward(n.loss), RG_OK);
    }
    ck_assert_uint_eq(rg_graph_alloc_count(n.g), before);
    ck_assert_double_lt(rg_node_item(n.loss), first);
    rg_graph_free(n.g);
}
END_TEST

START_TEST(test_plan_cache_and_values)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = rg_input(g, "x", 1, (int64_t[]){4});
    rg_feed_f64(x, (double[]){1, 2, 3, 4}, 4);
    rg_node *a = rg_mul(x, x);        /* 1 4 9 16 */
    rg_node *b = rg_add(a, rg_scalar(g, 1)); /* 2 5 10 17 */
    rg_node *c = rg_sum(b, RG_AXIS_ALL, false);
    ck_assert_ptr_null(rg_node_data(c)); /* not evaluated yet */
    ck_assert_int_eq(rg_eval1(c), RG_OK);
    ck_assert_double_eq(rg_node_item(c), 34.0);
    uint64_t allocs = rg_graph_alloc_count(g);
    rg_feed_f64(x, (double[]){0, 0, 0, 1}, 4);
    ck_assert_int_eq(rg_eval1(c), RG_OK);
    ck_assert_double_eq(rg_node_item(c), 5.0); /* 1+1+1+2 */
    ck_assert_uint_eq(rg_graph_alloc_count(g), allocs);
    /* two targets at once, and a different target list gets its own plan */
    ck_assert_int_eq(rg_eval(g, 2, (rg_node *[]){a, c}), RG_OK);
    tu_assert_values(a, (double[]){0, 0, 0, 1}, 4, 0);
    ck_assert_double_eq(rg_node_item(c), 5.0); /* 1+1+1+2 */
    rg_graph_free(g);
}
END_TEST

/* A long chain of elementwise ops needs two live buffers at a time, not one per node. */
START_TEST(test_liveness_shares_buffers)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = rg_input(g, "x", 1, (int64_t[]){1000});
    rg_node *y = x;
    rg_node *mid = NULL;
    for (int i = 0; i < 100; i++) {
        y = rg_mul(y, rg_scalar(g, 1.01));
        if (i == 50)
            mid = y;
    }
    uint64_t before = rg_graph_alloc_count(g);
    ck_assert_int_eq(rg_eval1(y), RG_OK);
    /* planning allocated a handful of blocks, not 100 buffers */
    ck_assert_uint_lt(rg_graph_alloc_count(g) - before, 10);
    rg_feed_f64(x, (double[1000]){[0] = 1.0}, 1000);
    ck_assert_int_eq(rg_eval1(y), RG_OK);
    ck_assert_double_eq_tol(rg_node_get(y, 0), pow(1.01, 100), 1e-9);
    /* with keep_values every node keeps its own value */
    rg_graph_set_keep_values(g, true);
    ck_assert(rg_graph_keep_values(g));
    ck_assert_int_eq(rg_eval1(y), RG_OK);
    ck_assert_double_eq_tol(rg_node_get(mid, 0), pow(1.01, 51), 1e-9);
    ck_assert_double_eq_tol(rg_node_get(y, 0), pow(1.01, 100), 1e-9);
    rg_graph_free(g);
}
END_TEST

START_TEST(test_kernel_rejects_bad_labels)
{
    struct net n = build_net(RG_F64);
    rg_feed_f64(n.labels, (double[]){0, 1, 2, 0, 1, 7, 0, 1}, 8);
    ck_assert_int_eq(rg_eval1(n.loss), RG_ERR_DOMAIN);
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(n.g), "cross_entropy"));
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(n.g), "7"));
    /* fixed data evaluates again once the error is cleared */
    rg_graph_clear_error(n.g);
    rg_feed_f64(n.labels, (double[]){0, 1, 2, 0, 1, 2, 0, 1}, 8);
    ck_assert_int_eq(rg_eval1(n.loss), RG_OK);
    ck_assert(isfinite(rg_node_item(n.loss)));
    rg_graph_free(n.g);
}
END_TEST

START_TEST(test_eval_arguments)
{
    rg_graph *g = rg_graph_new(RG_F64), *h = rg_graph_new(RG_F64);
    rg_node *a = rg_scalar(g, 1), *b = rg_scalar(h, 1);
    ck_assert_int_eq(rg_eval(g, 1, (rg_node *[]){NULL}), RG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g), "target 0 is NULL"));
    rg_graph_clear_error(g);
    ck_assert_int_eq(rg_eval(g, 1, &b), RG_ERR_GRAPH);
    rg_graph_clear_error(g);
    ck_assert_int_eq(rg_eval(g, 0, NULL), RG_OK);
    ck_assert_int_eq(rg_eval1(a), RG_OK); /* a leaf target: nothing to run */
    ck_assert_int_eq(rg_eval1(NULL), RG_ERR_ARG);
    rg_graph_free(g);
    rg_graph_free(h);
}
END_TEST

/* f32 and f64 graphs of the same network agree to f32 precision. */
START_TEST(test_f32_matches_f64)
{
    struct net a = build_net(RG_F32), b = build_net(RG_F64);
    ck_assert_int_eq(rg_backward(a.loss), RG_OK);
    ck_assert_int_eq(rg_backward(b.loss), RG_OK);
    ck_assert_double_eq_tol(rg_node_item(a.loss), rg_node_item(b.loss), 1e-5);
    rg_node *ga = rg_node_grad(a.w1), *gb = rg_node_grad(b.w1);
    for (int64_t i = 0; i < rg_node_size(ga); i++)
        ck_assert_double_eq_tol(rg_node_get(ga, i), rg_node_get(gb, i), 1e-5);
    rg_graph_free(a.g);
    rg_graph_free(b.g);
}
END_TEST

static Suite *exec_suite(void)
{
    Suite *s = suite_create("exec");
    TCase *tc = tcase_create("plans");
    tcase_add_test(tc, test_rerun_allocates_nothing);
    tcase_add_test(tc, test_plan_cache_and_values);
    tcase_add_test(tc, test_liveness_shares_buffers);
    tcase_add_test(tc, test_eval_arguments);
    suite_add_tcase(s, tc);
    tc = tcase_create("kernels");
    tcase_add_test(tc, test_kernel_rejects_bad_labels);
    tcase_add_test(tc, test_f32_matches_f64);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(exec_suite());
}
