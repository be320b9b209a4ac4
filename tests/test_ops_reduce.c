/* Reductions (src/ops/reduce.c): sum, mean and max over each axis, negative axes and every
 * axis, with and without keepdims. Forward values in f32 and f64, first- and second-order
 * gradients, the equal sharing of max's gradient among ties, kink detection at ties, and
 * shape errors.
 *
 * Hand-computed reference on x = [[1,2,3],[4,5,6]]: column sums [5,7,9], row sums [6,15],
 * total 21; means [2.5,3.5,4.5], [2,5], 3.5; maxima [4,5,6], [3,6], 6. */
#include "testutil.h"

#include <string.h>

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const rg_dtype dtypes[2] = {RG_F64, RG_F32};
static const double X23[] = {1, 2, 3, 4, 5, 6};

static rg_node *leaf(rg_graph *g, bool param, int ndim, const int64_t *shape, const double *v)
{
    rg_node *p = param ? rg_param(g, NULL, ndim, shape, NULL) : rg_input(g, NULL, ndim, shape);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(rg_feed_f64(p, v, rg_node_size(p)), RG_OK);
    return p;
}

typedef rg_node *(*reduce_fn)(rg_node *, int, bool);

struct hand_case {
    const char *name;
    reduce_fn f;
    int axis;
    int ndim;         /* without keepdims */
    int64_t shape[2]; /* without keepdims */
    int64_t kshape[2];
    double want[3];
};

static const struct hand_case hand_cases[] = {
    {"sum", rg_sum, 0, 1, {3}, {1, 3}, {5, 7, 9}},
    {"sum", rg_sum, 1, 1, {2}, {2, 1}, {6, 15}},
    {"sum", rg_sum, -1, 1, {2}, {2, 1}, {6, 15}},
    {"sum", rg_sum, -2, 1, {3}, {1, 3}, {5, 7, 9}},
    {"sum", rg_sum, RG_AXIS_ALL, 0, {0}, {1, 1}, {21}},
    {"mean", rg_mean, 0, 1, {3}, {1, 3}, {2.5, 3.5, 4.5}},
    {"mean", rg_mean, 1, 1, {2}, {2, 1}, {2, 5}},
    {"mean", rg_mean, RG_AXIS_ALL, 0, {0}, {1, 1}, {3.5}},
    {"max", rg_max, 0, 1, {3}, {1, 3}, {4, 5, 6}},
    {"max", rg_max, -1, 1, {2}, {2, 1}, {3, 6}},
    {"max", rg_max, RG_AXIS_ALL, 0, {0}, {1, 1}, {6}},
};

START_TEST(test_hand_values)
{
    const struct hand_case *c = &hand_cases[_i];
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dtypes[d]);
        rg_node *x = leaf(g, false, 2, (int64_t[]){2, 3}, X23);
        rg_node *y = c->f(x, c->axis, false), *yk = c->f(x, c->axis, true);
        ck_assert_ptr_nonnull(y);
        ck_assert_ptr_nonnull(yk);
        ck_assert_str_eq(rg_node_op_name(y), c->name);
        ck_assert_int_eq(rg_node_ndim(y), c->ndim);
        for (int i = 0; i < c->ndim; i++)
            ck_assert_int_eq(rg_node_shape(y)[i], c->shape[i]);
        ck_assert_int_eq(rg_node_ndim(yk), 2);
        for (int i = 0; i < 2; i++)
            ck_assert_int_eq(rg_node_shape(yk)[i], c->kshape[i]);
        ck_assert_int_eq(rg_eval(g, 2, (rg_node *[]){y, yk}), RG_OK);
        tu_assert_values(y, c->want, rg_node_size(y), 0);
        tu_assert_values(yk, c->want, rg_node_size(y), 0);
        rg_graph_free(g);
    }
}
END_TEST

/* A long f32 sum stays accurate: 1e6 copies of 0.1f, against the same sum in double
 * (0.1f is 0.100000001490116..., so the exact total is 100000.00149...). A naive float
 * accumulator would be off by hundreds. */
START_TEST(test_long_sum_f32)
{
    const int64_t n = 1000000;
    rg_graph *g = rg_graph_new(RG_F32);
    rg_node *x = rg_input(g, "x", 1, &n);
    float *v = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        v[i] = 0.1f;
    ck_assert_int_eq(rg_feed(x, v), RG_OK);
    free(v);
    rg_node *s = rg_sum(x, RG_AXIS_ALL, false), *m = rg_mean(x, 0, false);
    ck_assert_int_eq(rg_eval(g, 2, (rg_node *[]){s, m}), RG_OK);
    const double exact = (double)0.1f * (double)n;
    ck_assert_double_eq_tol(rg_node_item(s), exact, exact * 1e-7);
    ck_assert_double_eq_tol(rg_node_item(m), (double)0.1f, 1e-8);
    rg_graph_free(g);
}
END_TEST

/* Loop index: op (3) x axis (0, 1, 2, -1, all) x keepdims (2), on [2,3,4]. Values are
 * random, so max has no ties (almost surely; a tie would be reported non-smooth). */
static const reduce_fn ops[3] = {rg_sum, rg_mean, rg_max};
static const int axes[5] = {0, 1, 2, -1, RG_AXIS_ALL};

START_TEST(test_gradcheck)
{
    const reduce_fn f = ops[_i / 10];
    const int axis = axes[(_i / 2) % 5];
    const bool keep = _i % 2;
    uint64_t seed = 100 + (uint64_t)_i;
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = tu_param(g, "x", 3, (int64_t[]){2, 3, 4}, -2, 2, &seed);
    rg_node *y = f(x, axis, keep);
    ck_assert_gradcheck(tu_scalarize(y, &seed), 1, (rg_node *[]){x});
    /* second order through a square: the HVP differentiates the VJP (reshape, broadcast_to,
     * and for max its max_mask) */
    rg_node *y2 = tu_scalarize(rg_square(y), &seed);
    ck_assert_gradcheck(tu_second_order(y2, 1, &x, &seed), 1, (rg_node *[]){x});
    rg_graph_free(g);
}
END_TEST

/* Other shapes: a vector, a 4-D tensor, a scalar, axes of size 1. */
START_TEST(test_gradcheck_shapes)
{
    const int64_t shapes[][4] = {{7}, {2, 1, 3, 2}, {0}, {1, 5}};
    const int nds[] = {1, 4, 0, 2};
    for (int s = 0; s < N_OF(nds); s++)
        for (int o = 0; o < 3; o++) {
            uint64_t seed = 200 + (uint64_t)(s * 3 + o);
            rg_graph *g = rg_graph_new(RG_F64);
            rg_node *x = tu_param(g, "x", nds[s], shapes[s], -2, 2, &seed);
            for (int a = -1; a < nds[s]; a++) {
                const int axis = a < 0 ? RG_AXIS_ALL : a;
                rg_node *y = ops[o](x, axis, a % 2 == 0);
                ck_assert_gradcheck(tu_scalarize(y, &seed), 1, (rg_node *[]){x});
            }
            rg_graph_free(g);
        }
}
END_TEST

/* Ties for the maximum share the gradient equally: rows [1,3,3] and [2,2,2] give
 * [0,1/2,1/2] and [1/3,1/3,1/3]; over every element of [1,5,5,5,0,5] each 5 gets 1/4.
 * With keepdims and an upstream weight w, each share is scaled by w. */
START_TEST(test_max_ties_share)
{
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dtypes[d]);
        rg_node *x = leaf(g, true, 2, (int64_t[]){2, 3}, (double[]){1, 3, 3, 2, 2, 2});
        rg_node *w = leaf(g, false, 2, (int64_t[]){2, 1}, (double[]){2, 6});
        rg_node *y = rg_sum(rg_mul(rg_max(x, 1, true), w), RG_AXIS_ALL, false);
        ck_assert_int_eq(rg_backward(y), RG_OK);
        ck_assert_double_eq(rg_node_item(y), 3 * 2 + 2 * 6);
        tu_assert_values(rg_node_grad(x), (double[]){0, 1, 1, 2, 2, 2}, 6, 1e-6);
        rg_node *v = leaf(g, true, 1, (int64_t[]){6}, (double[]){1, 5, 5, 5, 0, 5});
        rg_node *gv;
        ck_assert_int_eq(rg_grad(rg_max(v, RG_AXIS_ALL, false), 1, &v, &gv), RG_OK);
        ck_assert_int_eq(rg_eval1(gv), RG_OK);
        tu_assert_values(gv, (double[]){0, 0.25, 0.25, 0.25, 0, 0.25}, 6, 1e-6);
        rg_graph_free(g);
    }
}
END_TEST

/* At a tie the gradient check reports max as non-smooth instead of failing; away from ties
 * (gap 0.5) it passes outright. */
START_TEST(test_max_kink)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = leaf(g, true, 2, (int64_t[]){2, 3}, (double[]){1, 3, 3, 2, 2.5, 0});
    rg_gradcheck_report r;
    rg_node *y = rg_sum(rg_max(x, 1, false), RG_AXIS_ALL, false);
    ck_assert_int_eq(rg_gradcheck(y, 1, &x, NULL, &r), RG_OK);
    ck_assert(r.nonsmooth);
    ck_assert_str_eq(r.kink_op, "max");
    ck_assert_int_eq(rg_feed_f64(x, (double[]){1, 3, 2.5, 2, 2.5, 0}, 6), RG_OK);
    ck_assert_int_eq(rg_gradcheck(y, 1, &x, NULL, &r), RG_OK);
    ck_assert(!r.nonsmooth);
    ck_assert(r.passed);
    rg_graph_free(g);
}
END_TEST

/* max's derivatives of every order are compared, not waved through as non-smooth: the
 * second-order check of sum(max(x)^2) (second derivative 2 at each row's top entry, 0
 * elsewhere) passes with no kink reported when the top values stand 0.5 clear of the rest,
 * and reports max's kink only at a tie. The mask itself: 1 on each tied maximum, 0 below,
 * NaN along a line holding a NaN. */
START_TEST(test_max_higher_order_checked)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = leaf(g, true, 2, (int64_t[]){2, 3}, (double[]){1, 3, 2.5, 2, 2.5, 0});
    rg_node *y = rg_sum(rg_square(rg_max(x, 1, false)), RG_AXIS_ALL, false);
    rg_node *gx = NULL;
    ck_assert_int_eq(rg_grad(y, 1, &x, &gx), RG_OK);
    rg_node *w = leaf(g, false, 2, (int64_t[]){2, 3}, (double[]){0.5, -1, 2, 1.5, 0.25, -2});
    rg_node *second = rg_sum(rg_mul(gx, w), RG_AXIS_ALL, false);
    rg_gradcheck_report r;
    ck_assert_int_eq(rg_gradcheck(second, 1, &x, NULL, &r), RG_OK);
    ck_assert_msg(r.passed && !r.nonsmooth, "passed %d nonsmooth %d kink '%s'", r.passed,
                  r.nonsmooth, r.kink_op);
    ck_assert_int_eq(r.checked, 6);
    /* d/dx of 2 max(x) w at the top entries: 2 w there, 0 elsewhere */
    rg_node *hv = NULL;
    ck_assert_int_eq(rg_grad(second, 1, &x, &hv), RG_OK);
    ck_assert_int_eq(rg_eval1(hv), RG_OK);
    tu_assert_values(hv, (double[]){0, -2, 0, 0, 0.5, 0}, 6, 1e-12);
    /* a tie in the first row: flagged at max's kink */
    ck_assert_int_eq(rg_feed_f64(x, (double[]){1, 3, 3, 2, 2.5, 0}, 6), RG_OK);
    ck_assert_int_eq(rg_gradcheck(second, 1, &x, NULL, &r), RG_OK);
    ck_assert(r.nonsmooth);
    ck_assert_msg(strncmp(r.kink_op, "max", 3) == 0, "kink '%s'", r.kink_op);
    /* the mask's values */
    rg_node *v = leaf(g, false, 2, (int64_t[]){2, 3}, (double[]){1, 3, 3, NAN, 2, 0});
    rg_node *m = rg_max_mask(v, 1);
    ck_assert_int_eq(rg_eval1(m), RG_OK);
    ck_assert_double_eq(rg_node_get(m, 0), 0);
    ck_assert_double_eq(rg_node_get(m, 1), 1);
    ck_assert_double_eq(rg_node_get(m, 2), 1);
    for (int i = 3; i < 6; i++)
        ck_assert(isnan(rg_node_get(m, i)));
    rg_graph_free(g);
}
END_TEST

/* max of nothing is -inf, sum 0, mean NaN (0/0); max propagates NaN. */
START_TEST(test_edge_values)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *e = rg_input(g, "e", 2, (int64_t[]){2, 0});
    rg_node *mx = rg_max(e, 1, false), *sm = rg_sum(e, 1, false), *mn = rg_mean(e, 1, false);
    rg_node *n = leaf(g, false, 1, (int64_t[]){3}, (double[]){1, NAN, 2});
    rg_node *mxn = rg_max(n, 0, false);
    ck_assert_int_eq(rg_eval(g, 4, (rg_node *[]){mx, sm, mn, mxn}), RG_OK);
    ck_assert(isinf(rg_node_get(mx, 0)) && rg_node_get(mx, 0) < 0);
    ck_assert_double_eq(rg_node_get(sm, 1), 0);
    ck_assert(isnan(rg_node_get(mn, 0)));
    ck_assert(isnan(rg_node_item(mxn)));
    rg_graph_free(g);
}
END_TEST

/* Expects the last builder to have failed with exactly `msg`; clears the error. */
static void assert_error(rg_graph *g, const rg_node *n, const char *msg)
{
    ck_assert_ptr_null(n);
    ck_assert_int_eq(rg_graph_status(g), RG_ERR_SHAPE);
    ck_assert_str_eq(rg_graph_errmsg(g), msg);
    rg_graph_clear_error(g);
}

START_TEST(test_errors)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = rg_input(g, "x", 2, (int64_t[]){2, 3});
    assert_error(g, rg_sum(x, 2, false), "sum: axis 2 out of range for [2,3]");
    assert_error(g, rg_mean(x, -3, true), "mean: axis -3 out of range for [2,3]");
    assert_error(g, rg_max(rg_scalar(g, 1), 0, false), "max: axis 0 out of range for []");
    ck_assert_ptr_null(rg_sum(NULL, 0, false));
    ck_assert_ptr_null(rg_mean(NULL, RG_AXIS_ALL, false));
    ck_assert_ptr_null(rg_max(NULL, 0, true));
    ck_assert_int_eq(rg_graph_status(g), RG_OK);
    rg_graph_free(g);
}
END_TEST

static Suite *ops_reduce_suite(void)
{
    Suite *s = suite_create("ops_reduce");
    const tu_case cases[] = {
        {"hand_values", test_hand_values, N_OF(hand_cases)},
        {"long_sum_f32", test_long_sum_f32, 0},
        {"gradcheck", test_gradcheck, 30},
        {"gradcheck_shapes", test_gradcheck_shapes, 0},
        {"max_ties_share", test_max_ties_share, 0},
        {"max_kink", test_max_kink, 0},
        {"max_higher_order_checked", test_max_higher_order_checked, 0},
        {"edge_values", test_edge_values, 0},
        {"errors", test_errors, 0},
    };
    tu_add_cases(s, cases, sizeof cases / sizeof *cases);
    return s;
}

int main(void)
{
    return tu_run_suite(ops_reduce_suite());
}
