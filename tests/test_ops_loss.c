/* Softmax, log-softmax, cross-entropy and mse (src/ops/loss.c): forward values in f32 and
 * f64, stability at extreme logits, first- and second-order gradients along each axis, the
 * cross-entropy gradient by hand, shape errors at build time and bad labels at evaluation.
 *
 * Reference values (Python's math module, textbook formulas without the max shift):
 * for x = [1,2,3], s = e + e^2 + e^3, log s = 3.40760596444438;
 * softmax = [0.09003057317038046, 0.24472847105479767, 0.6652409557748219],
 * log_softmax = x - log s = [-2.40760596444438, -1.40760596444438, -0.40760596444438].
 * Cross-entropy of logits [[1,2,3],[1,1,1]] with labels [2,0]: row 0 log s - 3 =
 * 0.40760596444438, row 1 log 3 = 1.0986122886681098, mean 0.753109126556245. */
#include "testutil.h"

#include <string.h>

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const rg_dtype dtypes[2] = {RG_F64, RG_F32};

#define LOGS 3.40760596444438
static const double SOFTMAX123[] = {0.09003057317038046, 0.24472847105479767,
                                    0.6652409557748219};

static rg_node *leaf(rg_graph *g, bool param, int ndim, const int64_t *shape, const double *v)
{
    rg_node *p = param ? rg_param(g, NULL, ndim, shape, NULL) : rg_input(g, NULL, ndim, shape);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(rg_feed_f64(p, v, rg_node_size(p)), RG_OK);
    return p;
}

/* f32 results are compared at f32 precision. */
static double tol_of(rg_dtype dt)
{
    return dt == RG_F32 ? 1e-6 : 1e-14;
}

/* ---- softmax and log_softmax ------------------------------------------------------------- */

/* [1,2,3] as a row of [2,3] (axis 1 and -1) and as a column of [3,2] (axis 0); the other
 * row/column is [1,2,3] + 100, which a correct shift-invariant softmax maps to the same. */
START_TEST(test_softmax_values)
{
    for (int d = 0; d < 2; d++) {
        const double tol = tol_of(dtypes[d]);
        rg_graph *g = rg_graph_new(dtypes[d]);
        rg_node *r = leaf(g, false, 2, (int64_t[]){2, 3}, (double[]){1, 2, 3, 101, 102, 103});
        rg_node *c = leaf(g, false, 2, (int64_t[]){3, 2}, (double[]){1, 101, 2, 102, 3, 103});
        rg_node *ys[6] = {rg_softmax(r, 1), rg_softmax(r, -1), rg_softmax(c, 0),
                          rg_log_softmax(r, 1), rg_log_softmax(c, -2), rg_log_softmax(r, -1)};
        ck_assert_int_eq(rg_eval(g, 6, ys), RG_OK);
        double row[6], col[6], lrow[6], lcol[6];
        for (int i = 0; i < 3; i++) {
            row[i] = row[3 + i] = col[2 * i] = col[2 * i + 1] = SOFTMAX123[i];
            lrow[i] = lrow[3 + i] = lcol[2 * i] = lcol[2 * i + 1] = (i + 1) - LOGS;
        }
        tu_assert_values(ys[0], row, 6, tol);
        tu_assert_values(ys[1], row, 6, tol);
        tu_assert_values(ys[2], col, 6, tol);
        tu_assert_values(ys[3], lrow, 6, tol);
        tu_assert_values(ys[4], lcol, 6, tol);
        tu_assert_values(ys[5], lrow, 6, tol);
        rg_graph_free(g);
    }
}
END_TEST

/* Logits of +-1e30 and one huge entry: without the max shift exp overflows (inf/inf) or
 * every term underflows (0/0). Expected by hand: exp(-2e30) and exp(-1000) are 0 in both
 * dtypes, so softmax is one-hot on the top entry and log_softmax is x - max. All-equal huge
 * logits give the uniform distribution. */
START_TEST(test_softmax_extreme)
{
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dtypes[d]);
        const double v[] = {1e30, -1e30, 0, 1000, 0, -5, -1e30, -1e30, -1e30};
        rg_node *x = leaf(g, false, 2, (int64_t[]){3, 3}, v);
        rg_node *s = rg_softmax(x, 1), *l = rg_log_softmax(x, 1);
        ck_assert_int_eq(rg_eval(g, 2, (rg_node *[]){s, l}), RG_OK);
        tu_assert_values(s, (double[]){1, 0, 0, 1, 0, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3}, 9, 1e-6);
        const double lw[] = {0, -2e30, -1e30, 0, -1000, -1005, -log(3), -log(3), -log(3)};
        for (int i = 0; i < 9; i++) {
            ck_assert(isfinite(rg_node_get(l, i)));
            ck_assert_double_eq_tol(rg_node_get(l, i), lw[i], 1e-6 * (1 + fabs(lw[i])));
        }
        rg_graph_free(g);
    }
}
END_TEST

/* Loop index: shape/axis case x op (softmax, log_softmax). */
static const struct {
    int ndim;
    int64_t shape[3];
    int axis;
} sm_cases[] = {
    {1, {5}, 0}, {2, {3, 4}, 0}, {2, {3, 4}, 1}, {2, {3, 4}, -1},
    {3, {2, 3, 4}, 0}, {3, {2, 3, 4}, 1}, {3, {2, 3, 4}, 2}, {2, {4, 1}, 1},
};

START_TEST(test_softmax_gradcheck)
{
    const int c = _i / 2;
    rg_node *(*f)(rg_node *, int) = _i % 2 ? rg_log_softmax : rg_softmax;
    uint64_t seed = 300 + (uint64_t)_i;
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = tu_param(g, "x", sm_cases[c].ndim, sm_cases[c].shape, -3, 3, &seed);
    rg_node *y = tu_scalarize(f(x, sm_cases[c].axis), &seed);
    ck_assert_gradcheck(y, 1, (rg_node *[]){x});
    ck_assert_gradcheck(tu_second_order(y, 1, &x, &seed), 1, (rg_node *[]){x});
    rg_graph_free(g);
}
END_TEST

/* ---- cross_entropy ----------------------------------------------------------------------- */

START_TEST(test_cross_entropy_values)
{
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dtypes[d]);
        rg_node *x = leaf(g, true, 2, (int64_t[]){2, 3}, (double[]){1, 2, 3, 1, 1, 1});
        rg_node *l = leaf(g, false, 1, (int64_t[]){2}, (double[]){2, 0});
        rg_node *y = rg_cross_entropy(x, l);
        ck_assert_int_eq(rg_node_ndim(y), 0);
        ck_assert_int_eq(rg_backward(y), RG_OK);
        ck_assert_double_eq_tol(rg_node_item(y), 0.753109126556245, 1e-6);
        /* (softmax - one_hot) / N by hand: row 0 softmax([1,2,3]) - [0,0,1], row 1
         * [1/3,1/3,1/3] - [1,0,0], halved */
        const double want[6] = {SOFTMAX123[0] / 2, SOFTMAX123[1] / 2, (SOFTMAX123[2] - 1) / 2,
                                (1.0 / 3 - 1) / 2, 1.0 / 6, 1.0 / 6};
        tu_assert_values(rg_node_grad(x), want, 6, 1e-6);
        rg_graph_free(g);
    }
}
END_TEST

/* Logits of +-1e30: row 0 [1e30,-1e30] label 0 costs 0, row 1 [-1e30,1e30] label 0 costs
 * 2e30; mean 1e30, finite in f32 (max 3.4e38). Row 2 has one huge entry [1000,0] with
 * label 1: 1000 + log(1 + e^-1000) = 1000. Mean of the three: (0 + 2e30 + 1000) / 3. The
 * gradient is finite too: (softmax - one_hot) / 3 with softmax one-hot on the top entry. */
START_TEST(test_cross_entropy_extreme)
{
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dtypes[d]);
        rg_node *x = leaf(g, true, 2, (int64_t[]){3, 2},
                          (double[]){1e30, -1e30, -1e30, 1e30, 1000, 0});
        rg_node *l = leaf(g, false, 1, (int64_t[]){3}, (double[]){0, 0, 1});
        rg_node *y = rg_cross_entropy(x, l);
        ck_assert_int_eq(rg_backward(y), RG_OK);
        ck_assert(isfinite(rg_node_item(y)));
        ck_assert_double_eq_tol(rg_node_item(y), 2e30 / 3, 1e-6 * 2e30 / 3);
        const double want[6] = {0, 0, -1.0 / 3, 1.0 / 3, 1.0 / 3, -1.0 / 3};
        tu_assert_values(rg_node_grad(x), want, 6, 1e-6);
        rg_graph_free(g);
    }
}
END_TEST

/* Several batch and class counts; the labels are constants, the check is against the
 * logits. Second order through the softmax inside the VJP. */
START_TEST(test_cross_entropy_gradcheck)
{
    const int64_t sizes[][2] = {{1, 1}, {1, 4}, {4, 3}, {6, 10}};
    const int64_t *sz = sizes[_i];
    uint64_t seed = 400 + (uint64_t)_i;
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = tu_param(g, "x", 2, sz, -3, 3, &seed);
    double lab[6];
    for (int64_t i = 0; i < sz[0]; i++)
        lab[i] = (double)(tu_next(&seed) % (uint64_t)sz[1]);
    rg_node *l = leaf(g, false, 1, sz, lab);
    rg_node *y = rg_cross_entropy(x, l);
    ck_assert_gradcheck(y, 1, (rg_node *[]){x});
    ck_assert_gradcheck(tu_second_order(y, 1, &x, &seed), 1, (rg_node *[]){x});
    /* the labels get exact zeros */
    rg_node *gl;
    ck_assert_int_eq(rg_grad(y, 1, &l, &gl), RG_OK);
    ck_assert_int_eq(rg_eval1(gl), RG_OK);
    for (int64_t i = 0; i < sz[0]; i++)
        ck_assert_double_eq(rg_node_get(gl, i), 0);
    rg_graph_free(g);
}
END_TEST

/* The fused op agrees with its unfused definition -mean(sum(one_hot * log_softmax)). */
START_TEST(test_cross_entropy_matches_composite)
{
    uint64_t seed = 77;
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = tu_param(g, "x", 2, (int64_t[]){5, 7}, -4, 4, &seed);
    rg_node *l = leaf(g, false, 1, (int64_t[]){5}, (double[]){6, 0, 3, 3, 1});
    rg_node *fused = rg_cross_entropy(x, l);
    rg_node *picked = rg_sum(rg_mul(rg_one_hot(l, 7), rg_log_softmax(x, 1)), 1, false);
    rg_node *comp = rg_neg(rg_mean(picked, 0, false));
    ck_assert_int_eq(rg_eval(g, 2, (rg_node *[]){fused, comp}), RG_OK);
    ck_assert_double_eq_tol(rg_node_item(fused), rg_node_item(comp), 1e-12);
    rg_graph_free(g);
}
END_TEST

/* Bad labels are found by the kernel: RG_ERR_DOMAIN naming the row and the value. */
static const struct {
    double labels[3];
    const char *msg;
} bad_labels[] = {
    {{0, 3, 1}, "cross_entropy: label 3 in row 1 is not a class index in [0, 3)"},
    {{0, 1, -1}, "cross_entropy: label -1 in row 2 is not a class index in [0, 3)"},
    {{0.5, 1, 1}, "cross_entropy: label 0.5 in row 0 is not a class index in [0, 3)"},
    {{NAN, 1, 1}, "cross_entropy: label nan in row 0 is not a class index in [0, 3)"},
};

START_TEST(test_cross_entropy_bad_labels)
{
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dtypes[d]);
        rg_node *x = rg_input(g, "x", 2, (int64_t[]){3, 3});
        rg_node *l = rg_input(g, "l", 1, (int64_t[]){3});
        rg_node *y = rg_cross_entropy(x, l);
        ck_assert_ptr_nonnull(y);
        ck_assert_int_eq(rg_feed_f64(l, bad_labels[_i].labels, 3), RG_OK);
        ck_assert_int_eq(rg_eval1(y), RG_ERR_DOMAIN);
        ck_assert_str_eq(rg_graph_errmsg(g), bad_labels[_i].msg);
        rg_graph_free(g);
    }
}
END_TEST

START_TEST(test_errors)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = rg_input(g, "x", 2, (int64_t[]){2, 3});
    const struct {
        int ndim;
        int64_t shape[2];
        int lndim;
        int64_t lshape[2];
        const char *msg;
    } cases[] = {
        {2, {2, 3}, 1, {3}, "cross_entropy: labels [3] do not match logits [2,3] (expected [2])"},
        {2, {2, 3}, 2, {2, 1},
         "cross_entropy: labels [2,1] do not match logits [2,3] (expected [2])"},
        {1, {3}, 1, {3}, "cross_entropy: logits must be [N,C], not [3]"},
        {2, {2, 0}, 1, {2}, "cross_entropy: logits [2,0] have no classes"},
    };
    for (int i = 0; i < N_OF(cases); i++) {
        rg_node *lg = rg_input(g, NULL, cases[i].ndim, cases[i].shape);
        rg_node *lb = rg_input(g, NULL, cases[i].lndim, cases[i].lshape);
        ck_assert_ptr_null(rg_cross_entropy(lg, lb));
        ck_assert_int_eq(rg_graph_status(g), RG_ERR_SHAPE);
        ck_assert_str_eq(rg_graph_errmsg(g), cases[i].msg);
        rg_graph_clear_error(g);
    }
    ck_assert_ptr_null(rg_softmax(x, 2));
    ck_assert_str_eq(rg_graph_errmsg(g), "softmax: axis 2 out of range for [2,3]");
    rg_graph_clear_error(g);
    ck_assert_ptr_null(rg_log_softmax(rg_scalar(g, 1), 0));
    ck_assert_str_eq(rg_graph_errmsg(g), "log_softmax: axis 0 out of range for []");
    rg_graph_clear_error(g);
    ck_assert_ptr_null(rg_softmax(x, RG_AXIS_ALL));
    rg_graph_clear_error(g);
    ck_assert_ptr_null(rg_mse(x, rg_input(g, NULL, 1, (int64_t[]){2})));
    ck_assert_int_eq(rg_graph_status(g), RG_ERR_SHAPE);
    rg_graph_clear_error(g);
    ck_assert_ptr_null(rg_softmax(NULL, 0));
    ck_assert_ptr_null(rg_cross_entropy(NULL, x));
    ck_assert_int_eq(rg_graph_status(g), RG_OK);
    rg_graph_free(g);
}
END_TEST

/* ---- many rows ---------------------------------------------------------------------------- */

/* Row counts and class counts around the kernels' cases: fewer than 16 classes (rows go by
 * blocks), exactly 16, more, and a block boundary (25 rows of 10 classes make one block) in
 * the middle; softmax, log_softmax and cross_entropy against sums in long double. A bad label
 * in a late row is reported with its row. loop index: case * 2 + dtype. */
static const int64_t many_rows[][2] = {{300, 10}, {257, 1}, {77, 15}, {40, 16}, {9, 37}};

START_TEST(test_many_rows)
{
    const int64_t rows = many_rows[_i / 2][0], cls = many_rows[_i / 2][1];
    const rg_dtype dt = dtypes[_i % 2];
    const double tol = tol_of(dt);
    uint64_t seed = 500 + (uint64_t)_i;
    rg_graph *g = rg_graph_new(dt);
    const int64_t shape[2] = {rows, cls};
    double *xv = malloc(sizeof(double) * (size_t)(rows * cls));
    double *lv = malloc(sizeof(double) * (size_t)rows);
    for (int64_t i = 0; i < rows * cls; i++) /* values f32 holds exactly */
        xv[i] = (double)(float)tu_uniform(&seed, -20, 20);
    for (int64_t i = 0; i < rows; i++)
        lv[i] = (double)(tu_next(&seed) % (uint64_t)cls);
    rg_node *x = leaf(g, false, 2, shape, xv), *l = leaf(g, false, 1, shape, lv);
    rg_node *sm = rg_softmax(x, 1), *ls = rg_log_softmax(x, -1), *ce = rg_cross_entropy(x, l);
    ck_assert_int_eq(rg_eval(g, 3, (rg_node *[]){sm, ls, ce}), RG_OK);
    long double total = 0;
    for (int64_t i = 0; i < rows; i++) {
        const double *xi = xv + i * cls;
        double m = xi[0];
        for (int64_t c = 1; c < cls; c++)
            m = xi[c] > m ? xi[c] : m;
        long double sum = 0;
        for (int64_t c = 0; c < cls; c++)
            sum += expl((long double)xi[c] - m);
        for (int64_t c = 0; c < cls; c++) {
            const double want_s = (double)(expl((long double)xi[c] - m) / sum);
            const double want_l = (double)((long double)xi[c] - m - logl(sum));
            const double got_s = rg_node_get(sm, i * cls + c), got_l = rg_node_get(ls, i * cls + c);
            ck_assert_msg(fabs(got_s - want_s) <= tol * (1 + fabs(want_s)) &&
                              fabs(got_l - want_l) <= tol * (1 + fabs(want_l)),
                          "[%ld,%ld] of [%ld,%ld]: softmax %.17g (want %.17g), log_softmax %.17g "
                          "(want %.17g)", (long)i, (long)c, (long)rows, (long)cls, got_s, want_s,
                          got_l, want_l);
        }
        total += m + logl(sum) - xi[(int64_t)lv[i]];
    }
    const double want_ce = (double)(total / rows);
    ck_assert_msg(fabs(rg_node_item(ce) - want_ce) <= tol * (1 + fabs(want_ce)),
                  "cross_entropy %.17g, want %.17g", rg_node_item(ce), want_ce);
    /* a label out of range in the last row */
    lv[rows - 1] = (double)cls;
    ck_assert_int_eq(rg_feed_f64(l, lv, rows), RG_OK);
    ck_assert_int_eq(rg_eval1(ce), RG_ERR_DOMAIN);
    char want[128];
    snprintf(want, sizeof want,
             "cross_entropy: label %ld in row %ld is not a class index in [0, %ld)", (long)cls,
             (long)(rows - 1), (long)cls);
    ck_assert_str_eq(rg_graph_errmsg(g), want);
    free(xv);
    free(lv);
    rg_graph_free(g);
}
END_TEST

/* ---- mse --------------------------------------------------------------------------------- */

/* mse([1,2,3], [1,0,0]) = (0 + 4 + 9) / 3 = 13/3; d/da = 2 (a - b) / 3 = [0, 4/3, 2]. With
 * b a broadcast scalar 1: (0 + 1 + 4) / 3 = 5/3. */
START_TEST(test_mse)
{
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dtypes[d]);
        rg_node *a = leaf(g, true, 1, (int64_t[]){3}, (double[]){1, 2, 3});
        rg_node *b = leaf(g, false, 1, (int64_t[]){3}, (double[]){1, 0, 0});
        rg_node *y = rg_mse(a, b), *y1 = rg_mse(a, rg_scalar(g, 1));
        ck_assert_str_eq(rg_node_op_name(y), "mean");
        ck_assert_int_eq(rg_backward(y), RG_OK);
        ck_assert_double_eq_tol(rg_node_item(y), 13.0 / 3, 1e-6);
        tu_assert_values(rg_node_grad(a), (double[]){0, 4.0 / 3, 2}, 3, 1e-6);
        ck_assert_int_eq(rg_eval1(y1), RG_OK);
        ck_assert_double_eq_tol(rg_node_item(y1), 5.0 / 3, 1e-6);
        rg_graph_free(g);
    }
    uint64_t seed = 9;
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *a = tu_param(g, "a", 2, (int64_t[]){3, 4}, -1, 1, &seed);
    rg_node *b = tu_param(g, "b", 1, (int64_t[]){4}, -1, 1, &seed);
    rg_node *y = rg_mse(a, b);
    ck_assert_gradcheck(y, 2, (rg_node *[]){a, b});
    ck_assert_gradcheck(tu_second_order(y, 2, (rg_node *[]){a, b}, &seed), 2,
                        (rg_node *[]){a, b});
    rg_graph_free(g);
}
END_TEST

static Suite *ops_loss_suite(void)
{
    Suite *s = suite_create("ops_loss");
    const tu_case cases[] = {
        {"softmax_values", test_softmax_values, 0},
        {"softmax_extreme", test_softmax_extreme, 0},
        {"softmax_gradcheck", test_softmax_gradcheck, N_OF(sm_cases) * 2},
        {"cross_entropy_values", test_cross_entropy_values, 0},
        {"cross_entropy_extreme", test_cross_entropy_extreme, 0},
        {"cross_entropy_gradcheck", test_cross_entropy_gradcheck, 4},
        {"cross_entropy_matches_composite", test_cross_entropy_matches_composite, 0},
        {"cross_entropy_bad_labels", test_cross_entropy_bad_labels, N_OF(bad_labels)},
        {"many_rows", test_many_rows, 2 * N_OF(many_rows)},
        {"errors", test_errors, 0},
        {"mse", test_mse, 0},
    };
    tu_add_cases(s, cases, sizeof cases / sizeof *cases);
    return s;
}

int main(void)
{
    return tu_run_suite(ops_loss_suite());
}
