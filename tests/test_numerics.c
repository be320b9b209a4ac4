/* Kernels at the extremes, in f32 and f64: softmax, log_softmax and cross-entropy with logits
 * of +-1e30 and with one huge entry stay finite and reach their limits; sigmoid and softplus
 * at +-1000 give their exact limits without raising the overflow flag; log, sqrt and pow at 0
 * and exp and tanh at +-1000 give the values (and gradients) include/retrograd.h documents.
 *
 * Expected values are the mathematical limits, worked out by hand beside each case: with one
 * logit 1e30 above the others, e^(others - 1e30) is 0 in any floating-point type, so softmax
 * is exactly one-hot and log_softmax is exactly (x - max) at the others and 0 at the max. */
#include <check.h>
#include <fenv.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "retrograd.h"
#include "retrograd/check.h"
#include "suite.h"

#define N_OF(a) ((int)(sizeof(a) / sizeof *(a)))

static const rg_dtype dtypes[2] = {RG_F32, RG_F64};
static const char *const dtype_names[2] = {"f32", "f64"};

/* A parameter holding v (converted to the graph's dtype). */
static rg_node *param_of(rg_graph *g, int ndim, const int64_t *shape, const double *v)
{
    rg_node *p = rg_param(g, "x", ndim, shape, NULL);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(rg_feed_f64(p, v, rg_node_size(p)), RG_OK);
    return p;
}

static rg_node *input_of(rg_graph *g, int ndim, const int64_t *shape, const double *v)
{
    rg_node *c = rg_input(g, NULL, ndim, shape);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(rg_feed_f64(c, v, rg_node_size(c)), RG_OK);
    return c;
}

/* Exact equality, infinities and signed zeros included (a zero's sign is not checked). */
static bool same(double got, double want)
{
    return got == want || (isnan(got) && isnan(want));
}

/* Element-wise: exact when rel is 0, else |got - want| <= rel |want| (for values that an f32
 * graph rounds, like -2e30). Infinities and NaN must match exactly. */
static void assert_values(const char *what, const char *dt, rg_node *n, const double *want,
                          int64_t count, double rel)
{
    ck_assert_ptr_nonnull(n);
    ck_assert_int_eq(rg_node_size(n), count);
    for (int64_t i = 0; i < count; i++) {
        double got = rg_node_get(n, i);
        bool ok = isfinite(want[i]) && rel > 0 ? fabs(got - want[i]) <= rel * fabs(want[i])
                                               : same(got, want[i]);
        ck_assert_msg(ok, "%s (%s): element %lld: got %.17g, expected %.17g", what, dt,
                      (long long)i, got, want[i]);
    }
}

/* Relative tolerance for values an f32 graph rounds (f64: exact, but 1e30 - 1 rounds). */
static double tol(int d)
{
    return d == 0 ? 1e-6 : 1e-15;
}

/* ---- softmax, log_softmax, cross-entropy ----------------------------------------------- */

struct logits_case {
    const char *name;
    int64_t cols;
    double x[4];
    double softmax[4];
    double log_softmax[4];
    double ce[4]; /* cross-entropy of the row for each label */
};

static const double LN2 = 0.69314718055994530942;
static const double LN3 = 1.0986122886681098;

/* By hand: the max is subtracted, so a row's entries below the max by ~1e30 contribute
 * e^-1e30 = 0 to the sum. Rows of equal entries, however large, are uniform. */
static const struct logits_case logits_cases[] = {
    {"plus_minus_1e30", 3, {1e30, -1e30, 0}, {1, 0, 0}, {0, -2e30, -1e30}, {0, 2e30, 1e30}},
    {"all_minus_1e30", 2, {-1e30, -1e30}, {0.5, 0.5}, {-LN2, -LN2}, {LN2, LN2}},
    {"all_plus_1e30", 3, {1e30, 1e30, 1e30}, {1. / 3, 1. / 3, 1. / 3}, {-LN3, -LN3, -LN3},
     {LN3, LN3, LN3}},
    {"one_huge", 4, {1, 2, 1e30, 3}, {0, 0, 1, 0}, {1 - 1e30, 2 - 1e30, 0, 3 - 1e30},
     {1e30 - 1, 1e30 - 2, 0, 1e30 - 3}},
    {"one_very_negative", 3, {0, -1e30, 0}, {0.5, 0, 0.5}, {-LN2, -1e30, -LN2},
     {LN2, 1e30, LN2}},
};

START_TEST(test_softmax_extremes)
{
    const struct logits_case *c = &logits_cases[_i];
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dtypes[d]);
        int64_t shape[2] = {1, c->cols};
        rg_node *x = param_of(g, 2, shape, c->x);
        rg_node *ys[2] = {rg_softmax(x, 1), rg_log_softmax(x, 1)};
        ck_assert_int_eq(rg_eval(g, 2, ys), RG_OK);
        assert_values(c->name, dtype_names[d], ys[0], c->softmax, c->cols, tol(d));
        assert_values(c->name, dtype_names[d], ys[1], c->log_softmax, c->cols, tol(d));
        rg_graph_free(g);
    }
}
END_TEST

/* The loss of the row for every label, and its gradient softmax - one_hot (finite). */
START_TEST(test_cross_entropy_extremes)
{
    const struct logits_case *c = &logits_cases[_i];
    for (int d = 0; d < 2; d++) {
        for (int64_t label = 0; label < c->cols; label++) {
            rg_graph *g = rg_graph_new(dtypes[d]);
            int64_t shape[2] = {1, c->cols}, one = 1;
            rg_node *x = param_of(g, 2, shape, c->x);
            rg_node *l = input_of(g, 1, &one, (double[]){(double)label});
            rg_node *loss = rg_cross_entropy(x, l);
            rg_node *gx = NULL;
            ck_assert_int_eq(rg_grad(loss, 1, &x, &gx), RG_OK);
            ck_assert_int_eq(rg_eval(g, 2, (rg_node *[]){loss, gx}), RG_OK);
            assert_values(c->name, dtype_names[d], loss, &c->ce[label], 1, tol(d));
            double want[4];
            for (int64_t k = 0; k < c->cols; k++)
                want[k] = c->softmax[k] - (k == label);
            assert_values(c->name, dtype_names[d], gx, want, c->cols, tol(d));
            rg_graph_free(g);
        }
    }
}
END_TEST

/* The VJPs of softmax and log_softmax at the extremes: weights w on the outputs, by hand.
 * softmax one-hot at k: d/dx sum(w softmax) = y (w - sum(w y)) = 0 everywhere (y_k (w_k - w_k)
 * at k, 0 elsewhere). log_softmax: g - softmax sum(g) = w - onehot_k sum(w). */
START_TEST(test_softmax_vjp_extremes)
{
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dtypes[d]);
        int64_t shape[2] = {1, 4};
        rg_node *x = param_of(g, 2, shape, (double[]){1, 2, 1e30, -1e30});
        rg_node *w = input_of(g, 2, shape, (double[]){1, 2, 3, 4});
        rg_node *s = rg_sum(rg_mul(rg_softmax(x, 1), w), RG_AXIS_ALL, false);
        rg_node *ls = rg_sum(rg_mul(rg_log_softmax(x, 1), w), RG_AXIS_ALL, false);
        rg_node *gs = NULL, *gls = NULL;
        ck_assert_int_eq(rg_grad(s, 1, &x, &gs), RG_OK);
        ck_assert_int_eq(rg_grad(ls, 1, &x, &gls), RG_OK);
        ck_assert_int_eq(rg_eval(g, 2, (rg_node *[]){gs, gls}), RG_OK);
        assert_values("softmax vjp", dtype_names[d], gs, (double[]){0, 0, 0, 0}, 4, 0);
        assert_values("log_softmax vjp", dtype_names[d], gls, (double[]){1, 2, 3 - 10, 4}, 4, 0);
        rg_graph_free(g);
    }
}
END_TEST

/* ---- elementwise ops at the extremes --------------------------------------------------- */

/* y = f(x) at the given points, and dy/dx there (from rg_grad of sum(f(x))). */
struct unary_case {
    const char *name;
    rg_node *(*f)(rg_node *);
    int n;
    double x[4];
    double y[4];
    double dy[4];
};

/* By hand, from the limits: sigmoid(+-1000) = 1, 0 and s(1-s) = 0; softplus(1000) = 1000
 * (+ log1p(e^-1000) = 0), softplus(-1000) = e^-1000, which is 0 in both types, and its
 * derivative sigmoid: 1, 0; log 0 = -inf with derivative 1/0 = +inf; sqrt 0 = 0 with
 * derivative 1/(2*0) = +inf; e^1000 = inf (beyond the f64 maximum 1.8e308) and e^-1000 = 0,
 * derivatives the same; tanh(+-1000) = +-1, derivative 1 - 1 = 0. */
static const struct unary_case unary_cases[] = {
    {"sigmoid", rg_sigmoid, 4, {1000, -1000, 0, -50}, {1, 0, 0.5, 1.928749847963918e-22},
     {0, 0, 0.25, 1.928749847963918e-22}},
    {"softplus", rg_softplus, 3, {1000, -1000, 0}, {1000, 0, LN2}, {1, 0, 0.5}},
    {"log", rg_log, 2, {0, 1}, {-INFINITY, 0}, {INFINITY, 1}},
    {"sqrt", rg_sqrt, 2, {0, 4}, {0, 2}, {INFINITY, 0.25}},
    {"exp", rg_exp, 3, {1000, -1000, 0}, {INFINITY, 0, 1}, {INFINITY, 0, 1}},
    {"tanh", rg_tanh, 3, {1000, -1000, 0}, {1, -1, 0}, {0, 0, 1}},
};

START_TEST(test_unary_extremes)
{
    const struct unary_case *c = &unary_cases[_i];
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dtypes[d]);
        int64_t n = c->n;
        rg_node *x = param_of(g, 1, &n, c->x);
        rg_node *y = c->f(x);
        rg_node *gx = NULL;
        ck_assert_int_eq(rg_grad(rg_sum(y, RG_AXIS_ALL, false), 1, &x, &gx), RG_OK);
        ck_assert_int_eq(rg_eval(g, 2, (rg_node *[]){y, gx}), RG_OK);
        /* 1.9e-22 and log 2 are rounded in f32 */
        assert_values(c->name, dtype_names[d], y, c->y, c->n, d == 0 ? 1e-6 : 1e-15);
        assert_values(c->name, dtype_names[d], gx, c->dy, c->n, d == 0 ? 1e-6 : 1e-15);
        rg_graph_free(g);
    }
}
END_TEST

/* sigmoid and softplus, forward and backward, at +-1000 raise no overflow: every
 * exponential they take is of a non-positive number. */
START_TEST(test_no_overflow_flag)
{
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dtypes[d]);
        int64_t n = 2;
        rg_node *x = param_of(g, 1, &n, (double[]){1000, -1000});
        rg_node *y = rg_add(rg_sigmoid(x), rg_softplus(x));
        rg_node *gx = NULL;
        ck_assert_int_eq(rg_grad(rg_sum(y, RG_AXIS_ALL, false), 1, &x, &gx), RG_OK);
        feclearexcept(FE_OVERFLOW);
        ck_assert_int_eq(rg_eval(g, 2, (rg_node *[]){y, gx}), RG_OK);
        ck_assert_msg(!fetestexcept(FE_OVERFLOW), "overflow flag raised (%s)", dtype_names[d]);
        /* sigmoid + softplus: 1 + 1000 and 0 + 0; derivative s(1-s) + s: 0 + 1 and 0 + 0 */
        assert_values("sigmoid+softplus", dtype_names[d], y, (double[]){1001, 0}, 2, 0);
        assert_values("its gradient", dtype_names[d], gx, (double[]){1, 0}, 2, 0);
        rg_graph_free(g);
    }
}
END_TEST

/* ---- pow at 0 -------------------------------------------------------------------------- */

/* a^b with a = 0, and both partial derivatives, from rg_grad of sum(a^b) in a and in b.
 * Values: 0^0 = 1 (C's pow and the usual convention), 0^b = 0 for b > 0, +inf for b < 0.
 * d/da = b a^(b-1): 0 for b = 2 (2 * 0^1), 1 for b = 1 (1 * 0^0), +inf for b = 0.5, and 0
 * for b = 0, where a^0 = 1 is flat in a (as PyTorch takes it; b a^(b-1) would be 0 * inf).
 * d/db = a^b ln a would be 0 * -inf = NaN at a = 0; the library takes 0 there for b >= 0,
 * as PyTorch does (0^b is 0 for every b > 0, so it is flat to the right), and NaN for b < 0,
 * where 0^b is +inf and has no derivative. */
struct pow_case {
    double b, y, da, db;
};

static const struct pow_case pow_cases[] = {
    {0, 1, 0, 0}, /* 0^0 = 1 is flat in a: 0, not b 0^-1 = 0 * inf */
    {2, 0, 0, 0},
    {1, 0, 1, 0},
    {0.5, 0, INFINITY, 0},
    {-1, INFINITY, -INFINITY, NAN},
};

START_TEST(test_pow_at_zero)
{
    for (int d = 0; d < 2; d++) {
        for (int i = 0; i < N_OF(pow_cases); i++) {
            const struct pow_case *c = &pow_cases[i];
            rg_graph *g = rg_graph_new(dtypes[d]);
            rg_node *a = param_of(g, 0, NULL, (double[]){0});
            rg_node *b = param_of(g, 0, NULL, &c->b);
            rg_node *y = rg_pow(a, b);
            rg_node *grads[2] = {NULL, NULL};
            ck_assert_int_eq(rg_grad(y, 2, (rg_node *[]){a, b}, grads), RG_OK);
            ck_assert_int_eq(rg_eval(g, 3, (rg_node *[]){y, grads[0], grads[1]}), RG_OK);
            char what[64];
            snprintf(what, sizeof what, "0^%g", c->b);
            assert_values(what, dtype_names[d], y, &c->y, 1, 0);
            snprintf(what, sizeof what, "d/da 0^%g", c->b);
            assert_values(what, dtype_names[d], grads[0], &c->da, 1, 0);
            snprintf(what, sizeof what, "d/db 0^%g", c->b);
            assert_values(what, dtype_names[d], grads[1], &c->db, 1, 0);
            rg_graph_free(g);
        }
    }
}
END_TEST

/* Away from 0 the exponent's derivative is the textbook a^b ln a: by hand 2^3 ln 2 =
 * 8 * 0.693147... = 5.545177444479562, and at a tiny base (1e-300, not 0) it keeps its
 * ln: (1e-300)^0.5 ln(1e-300) = 1e-150 * -690.7755278982137. */
START_TEST(test_pow_exponent_gradient_away_from_zero)
{
    rg_graph *g = rg_graph_new(RG_F64);
    int64_t n = 2;
    rg_node *a = param_of(g, 1, &n, (double[]){2, 1e-300});
    rg_node *b = param_of(g, 1, &n, (double[]){3, 0.5});
    rg_node *gb = NULL;
    ck_assert_int_eq(rg_grad(rg_sum(rg_pow(a, b), RG_AXIS_ALL, false), 1, &b, &gb), RG_OK);
    ck_assert_int_eq(rg_eval1(gb), RG_OK);
    assert_values("d/db", "f64", gb, (double[]){5.545177444479562, -6.907755278982136e-148}, 2,
                  1e-14);
    rg_graph_free(g);
}
END_TEST

/* a^0 is 1 for every a, so every derivative in a is 0, at a = 0 too: the first, the second
 * and the third, in f64 and f32. */
START_TEST(test_pow_zero_exponent_flat_in_base)
{
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dtypes[d]);
        int64_t n = 3;
        rg_node *a = param_of(g, 1, &n, (double[]){0, 2, -3});
        rg_node *b = param_of(g, 0, NULL, (double[]){0});
        rg_node *f = rg_sum(rg_pow(a, b), RG_AXIS_ALL, false);
        const double zeros[3] = {0, 0, 0};
        for (int order = 1; order <= 3; order++) {
            rg_node *ga = NULL;
            ck_assert_int_eq(rg_grad(f, 1, &a, &ga), RG_OK);
            ck_assert_int_eq(rg_eval1(ga), RG_OK);
            char what[32];
            snprintf(what, sizeof what, "d^%d/da^%d a^0", order, order);
            assert_values(what, dtype_names[d], ga, zeros, 3, 0);
            f = rg_sum(ga, RG_AXIS_ALL, false);
        }
        rg_graph_free(g);
    }
}
END_TEST

/* The zero-base rule keeps pow differentiable: first and second derivatives in both
 * operands pass the numerical check at positive bases. */
START_TEST(test_pow_gradcheck)
{
    rg_graph *g = rg_graph_new(RG_F64);
    int64_t n = 4;
    rg_node *a = param_of(g, 1, &n, (double[]){0.5, 1.5, 3, 2});
    rg_node *b = param_of(g, 1, &n, (double[]){-1.5, 0.5, 2, 0});
    rg_node *y = rg_sum(rg_pow(a, b), RG_AXIS_ALL, false);
    rg_node *xs[2] = {a, b};
    ck_assert_gradcheck(y, 2, xs);
    rg_node *grads[2] = {NULL, NULL};
    ck_assert_int_eq(rg_grad(y, 2, xs, grads), RG_OK);
    rg_node *second = rg_add(rg_sum(grads[0], RG_AXIS_ALL, false),
                             rg_sum(grads[1], RG_AXIS_ALL, false));
    ck_assert_gradcheck(second, 2, xs);
    rg_graph_free(g);
}
END_TEST

static Suite *numerics_suite(void)
{
    Suite *s = suite_create("numerics");
    const tu_case cases[] = {
        {"softmax_extremes", test_softmax_extremes, N_OF(logits_cases)},
        {"cross_entropy_extremes", test_cross_entropy_extremes, N_OF(logits_cases)},
        {"softmax_vjp_extremes", test_softmax_vjp_extremes, 0},
        {"unary_extremes", test_unary_extremes, N_OF(unary_cases)},
        {"no_overflow_flag", test_no_overflow_flag, 0},
        {"pow_at_zero", test_pow_at_zero, 0},
        {"pow_exponent_gradient_away_from_zero", test_pow_exponent_gradient_away_from_zero, 0},
        {"pow_gradcheck", test_pow_gradcheck, 0},
        {"pow_zero_exponent_flat_in_base", test_pow_zero_exponent_flat_in_base, 0},
    };
    tu_add_cases(s, cases, sizeof cases / sizeof *cases);
    return s;
}

int main(void)
{
    return tu_run_suite(numerics_suite());
}
