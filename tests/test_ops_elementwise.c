/* Elementwise ops (src/ops/unary.c, src/ops/binary.c, src/kernels/broadcast.c): forward
 * values in f32 and f64, NumPy broadcasting, first and second derivatives, the H(0) = 1/2
 * convention at kinks, shape errors and NULL propagation.
 *
 * Two tables drive everything: one row per unary op and one per binary op, each with its
 * constructor, a domain where the op is smooth, whether it is twice differentiable, an
 * independent scalar reference (plain libm formulas, not the library's stable rewrites), and
 * a few hand-computed points. Constants in the hand-computed points: ln 2 = 0.693147...,
 * ln 3 = 1.098612..., e = 2.718281..., pi/6, pi/3, pi/2 (printed by Python's math module);
 * the expected values follow from identities: tanh(ln 3) = (9-1)/(9+1) = 0.8,
 * sigmoid(ln 3) = 3/4, softplus(ln 3) = ln 4, softplus(-ln 3) = ln(4/3). */
#include <check.h>
#include <fenv.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h" /* rg__def(): the kink hook of an op */
#include "retrograd.h"
#include "retrograd/check.h"
#include "testutil.h"

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

#define LN2 0.6931471805599453
#define LN3 1.0986122886681098
#define LN4 1.3862943611198906
#define E1 2.718281828459045
#define PI 3.141592653589793

#define LEAKY_SLOPE 0.1

/* ---- reference scalar functions, written the textbook way ---- */

static double ref_neg(double x) { return -x; }
static double ref_square(double x) { return x * x; }
static double ref_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double ref_relu(double x) { return x > 0 ? x : 0.0; }
static double ref_leaky(double x) { return x > 0 ? x : LEAKY_SLOPE * x; }
static double ref_softplus(double x) { return log(1.0 + exp(x)); }
static double ref_heaviside(double x) { return x > 0 ? 1.0 : x < 0 ? 0.0 : 0.5; }

static double ref_add(double a, double b) { return a + b; }
static double ref_sub(double a, double b) { return a - b; }
static double ref_mul(double a, double b) { return a * b; }
static double ref_div(double a, double b) { return a / b; }
static double ref_max(double a, double b) { return a > b ? a : b; }
static double ref_min(double a, double b) { return a < b ? a : b; }

static rg_node *leaky(rg_node *x) { return rg_leaky_relu(x, LEAKY_SLOPE); }

/* ---- the tables ---- */

#define MAXPTS 5

struct unary_case {
    const char *name;
    rg_node *(*make)(rg_node *);
    double lo, hi; /* sampling domain: defined and (away from 0 for kinks) smooth */
    bool smooth2;  /* twice differentiable everywhere on the domain */
    double (*ref)(double);
    int npts;      /* hand-computed points */
    double x[MAXPTS], y[MAXPTS];
};

static const struct unary_case unary_cases[] = {
    {"neg", rg_neg, -2, 2, true, ref_neg, 3, {-2, 0, 1.5}, {2, 0, -1.5}},
    {"exp", rg_exp, -2, 2, true, exp, 4, {0, 1, -1, LN2}, {1, E1, 0.36787944117144233, 2}},
    {"log", rg_log, 0.5, 3, true, log, 4, {1, E1, 0.5, 4}, {0, 1, -LN2, LN4}},
    {"sqrt", rg_sqrt, 0.5, 3, true, sqrt, 4, {4, 2, 0.25, 0}, {2, 1.4142135623730951, 0.5, 0}},
    {"square", rg_square, -2, 2, true, ref_square, 3, {-3, 0.5, 0}, {9, 0.25, 0}},
    {"abs", rg_abs, -2, 2, false, fabs, 3, {-3, 0, 2.5}, {3, 0, 2.5}},
    {"sin", rg_sin, -3, 3, true, sin, 4, {0, PI / 6, PI / 2, -PI / 2}, {0, 0.5, 1, -1}},
    {"cos", rg_cos, -3, 3, true, cos, 3, {0, PI / 3, PI}, {1, 0.5, -1}},
    {"tanh", rg_tanh, -2, 2, true, tanh, 4, {0, LN3, -LN3, 20}, {0, 0.8, -0.8, 1}},
    /* +-1000: e^1000 overflows both dtypes; the kernel must still give 1 and 0 */
    {"sigmoid", rg_sigmoid, -4, 4, true, ref_sigmoid, 5, {0, LN3, -LN3, 1000, -1000},
     {0.5, 0.75, 0.25, 1, 0}},
    {"relu", rg_relu, -2, 2, false, ref_relu, 3, {-2, 0, 3}, {0, 0, 3}},
    {"leaky_relu", leaky, -2, 2, false, ref_leaky, 3, {-2, 0, 3}, {-0.2, 0, 3}},
    {"softplus", rg_softplus, -4, 4, true, ref_softplus, 5, {0, LN3, -LN3, 1000, -1000},
     {LN2, LN4, LN4 - LN3, 1000, 0}},
    {"heaviside", rg_heaviside, -2, 2, false, ref_heaviside, 4, {-2, 0, 3, -1e-30},
     {0, 0.5, 1, 0}},
};

struct binary_case {
    const char *name;
    rg_node *(*make)(rg_node *, rg_node *);
    double lo[2], hi[2]; /* sampling domains of a and b */
    bool smooth2;
    double (*ref)(double, double);
    double a[4], b[4], y[4]; /* hand-computed points */
};

static const struct binary_case binary_cases[] = {
    {"add", rg_add, {-2, -2}, {2, 2}, true, ref_add,
     {1, -2, 3, 0.5}, {2, 4, -1, 0.5}, {3, 2, 2, 1}},
    {"sub", rg_sub, {-2, -2}, {2, 2}, true, ref_sub,
     {1, -2, 3, 0.5}, {2, 4, -1, 0.5}, {-1, -6, 4, 0}},
    {"mul", rg_mul, {-2, -2}, {2, 2}, true, ref_mul,
     {1, -2, 3, 0.5}, {2, 4, -1, 0.5}, {2, -8, -3, 0.25}},
    {"div", rg_div, {-2, 0.5}, {2, 2}, true, ref_div,
     {1, -2, 3, 0.5}, {2, 4, -1, 0.5}, {0.5, -0.5, -3, 1}},
    /* 9^-0.5 = 1/3 */
    {"pow", rg_pow, {0.5, -2}, {2, 2}, true, pow,
     {2, 4, 9, 0.5}, {3, 0.5, -0.5, 2}, {8, 2, 1.0 / 3.0, 0.25}},
    {"maximum", rg_maximum, {-2, -2}, {2, 2}, false, ref_max,
     {1, -2, 3, 0.5}, {2, 4, -1, 0.5}, {2, 4, 3, 0.5}},
    {"minimum", rg_minimum, {-2, -2}, {2, 2}, false, ref_min,
     {1, -2, 3, 0.5}, {2, 4, -1, 0.5}, {1, -2, -1, 0.5}},
};

/* Shape pairs covering every path of the broadcasting loop: same shape, scalar either
 * side, a trailing vector, outer-product shapes, axes missing on the left, and a 3-D case
 * that leaves the loop three non-mergeable axes. */
struct shape_pair {
    int na, nb, ny;
    int64_t a[3], b[3], y[3];
};

static const struct shape_pair pairs[] = {
    {2, 2, 2, {2, 3}, {2, 3}, {2, 3}},
    {2, 1, 2, {3, 4}, {4}, {3, 4}},
    {1, 2, 2, {4}, {3, 4}, {3, 4}},
    {2, 2, 2, {3, 1}, {1, 4}, {3, 4}},
    {0, 2, 2, {0}, {2, 3}, {2, 3}},
    {2, 0, 2, {2, 3}, {0}, {2, 3}},
    {0, 0, 0, {0}, {0}, {0}},
    {3, 2, 3, {2, 3, 4}, {3, 1}, {2, 3, 4}},
    {2, 3, 3, {3, 1}, {2, 1, 4}, {2, 3, 4}},
    {3, 1, 3, {2, 1, 3}, {1}, {2, 1, 3}},
};

/* ---- helpers ---- */

/* A parameter of g holding v (converted to the graph's dtype). */
static rg_node *param_of(rg_graph *g, int ndim, const int64_t *shape, const double *v)
{
    rg_node *p = rg_param(g, NULL, ndim, shape, NULL);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(rg_feed_f64(p, v, rg_node_size(p)), RG_OK);
    return p;
}

/* Uniform values in [lo, hi), rounded to float so f32 and f64 graphs see the same inputs. */
static void fill_uniform(double *v, int64_t n, double lo, double hi, uint64_t *seed)
{
    for (int64_t i = 0; i < n; i++)
        v[i] = (double)(float)tu_uniform(seed, lo, hi);
}

/* Flat index into an input of shape (nin, in) that broadcasts to (nout, out), for output
 * flat index i: computed from the NumPy rule directly, independently of the library. */
static int64_t bcast_index(int nout, const int64_t *out, int64_t i, int nin, const int64_t *in)
{
    int64_t idx = 0, stride = 1;
    for (int k = nout - 1; k >= 0; k--) {
        int64_t coord = i % out[k];
        i /= out[k];
        int j = k - (nout - nin);
        if (j >= 0) {
            if (in[j] != 1)
                idx += coord * stride;
            stride *= in[j];
        }
    }
    return idx;
}

static int64_t numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    return n;
}

static double f32_or_f64_tol(rg_dtype dt)
{
    /* f32: a few ulps (6e-8) of the output, amplified by conditioning near 1e-6 at most
     * for these domains; f64: libm is within an ulp or two. */
    return dt == RG_F32 ? 2e-6 : 1e-13;
}

/* ---- forward values ---- */

START_TEST(test_unary_hand_values)
{
    const struct unary_case *c = &unary_cases[_i];
    const rg_dtype dts[2] = {RG_F32, RG_F64};
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dts[d]);
        int64_t shape[1] = {c->npts};
        rg_node *x = param_of(g, 1, shape, c->x);
        rg_node *y = c->make(x);
        ck_assert_ptr_nonnull(y);
        ck_assert_str_eq(rg_node_op_name(y), c->name);
        ck_assert_int_eq(rg_node_ndim(y), 1);
        ck_assert_int_eq(rg_node_shape(y)[0], c->npts);
        ck_assert_int_eq(rg_eval1(y), RG_OK);
        tu_assert_values(y, c->y, c->npts, f32_or_f64_tol(dts[d]));
        rg_graph_free(g);
    }
}
END_TEST

/* Random points of the domain in a 3-D tensor against the reference function. */
START_TEST(test_unary_reference)
{
    const struct unary_case *c = &unary_cases[_i];
    const rg_dtype dts[2] = {RG_F32, RG_F64};
    uint64_t seed = 11 + (uint64_t)_i;
    int64_t shape[3] = {2, 3, 5};
    double x[30], expect[30];
    fill_uniform(x, 30, c->lo, c->hi, &seed);
    for (int i = 0; i < 30; i++)
        expect[i] = c->ref(x[i]);
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dts[d]);
        rg_node *y = c->make(param_of(g, 3, shape, x));
        ck_assert_int_eq(rg_eval1(y), RG_OK);
        ck_assert_int_eq(rg_node_ndim(y), 3);
        tu_assert_values(y, expect, 30, dts[d] == RG_F32 ? 1e-5 : 1e-12);
        rg_graph_free(g);
    }
}
END_TEST

START_TEST(test_binary_hand_values)
{
    const struct binary_case *c = &binary_cases[_i];
    const rg_dtype dts[2] = {RG_F32, RG_F64};
    int64_t shape[1] = {4};
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dts[d]);
        rg_node *y = c->make(param_of(g, 1, shape, c->a), param_of(g, 1, shape, c->b));
        ck_assert_ptr_nonnull(y);
        ck_assert_str_eq(rg_node_op_name(y), c->name);
        ck_assert_int_eq(rg_eval1(y), RG_OK);
        tu_assert_values(y, c->y, 4, f32_or_f64_tol(dts[d]));
        rg_graph_free(g);
    }
}
END_TEST

/* Every shape pair, both dtypes, both operand orders, against an index computation done
 * here from the NumPy rule. */
START_TEST(test_binary_broadcast_values)
{
    const struct binary_case *c = &binary_cases[_i];
    const rg_dtype dts[2] = {RG_F32, RG_F64};
    uint64_t seed = 101 + (uint64_t)_i;
    for (int p = 0; p < N_OF(pairs); p++) {
        const struct shape_pair *s = &pairs[p];
        int64_t na = numel(s->na, s->a), nb = numel(s->nb, s->b), ny = numel(s->ny, s->y);
        double a[24], b[24], expect[24];
        fill_uniform(a, na, c->lo[0], c->hi[0], &seed);
        fill_uniform(b, nb, c->lo[1], c->hi[1], &seed);
        for (int64_t i = 0; i < ny; i++)
            expect[i] = c->ref(a[bcast_index(s->ny, s->y, i, s->na, s->a)],
                               b[bcast_index(s->ny, s->y, i, s->nb, s->b)]);
        for (int d = 0; d < 2; d++) {
            rg_graph *g = rg_graph_new(dts[d]);
            rg_node *y = c->make(param_of(g, s->na, s->a, a), param_of(g, s->nb, s->b, b));
            ck_assert_msg(y != NULL, "%s, pair %d: %s", c->name, p, rg_graph_errmsg(g));
            ck_assert_int_eq(rg_node_ndim(y), s->ny);
            for (int k = 0; k < s->ny; k++)
                ck_assert_int_eq(rg_node_shape(y)[k], s->y[k]);
            ck_assert_int_eq(rg_eval1(y), RG_OK);
            tu_assert_values(y, expect, ny, dts[d] == RG_F32 ? 1e-5 : 1e-13);
            rg_graph_free(g);
        }
    }
}
END_TEST

/* A longer tensor than the tables use, so vectorised inner loops see their tails, and an
 * operand that repeats along a middle axis ([5,1,7] with [5,6,7]). */
START_TEST(test_broadcast_large)
{
    rg_graph *g = rg_graph_new(RG_F64);
    int64_t sa[3] = {5, 1, 7}, sb[3] = {5, 6, 7};
    double a[35], b[210], expect[210];
    for (int i = 0; i < 35; i++)
        a[i] = i;
    for (int i = 0; i < 210; i++)
        b[i] = 1000.0 * i;
    for (int i = 0; i < 210; i++)
        expect[i] = 1000.0 * i + a[bcast_index(3, sb, i, 3, sa)];
    rg_node *y = rg_add(param_of(g, 3, sa, a), param_of(g, 3, sb, b));
    ck_assert_int_eq(rg_eval1(y), RG_OK);
    tu_assert_values(y, expect, 210, 0);
    /* hand check of one element: out[4,5,6] = b[4*42+5*7+6] + a[4*7+6] = 209000 + 34 */
    ck_assert_double_eq(rg_node_get(y, 209), 209034.0);
    rg_graph_free(g);
}
END_TEST

/* ---- first derivatives ---- */

START_TEST(test_unary_gradcheck)
{
    const struct unary_case *c = &unary_cases[_i];
    const int64_t shapes[4][3] = {{0}, {5}, {3, 4}, {2, 3, 2}};
    const int ndims[4] = {0, 1, 2, 3};
    uint64_t seed = 201 + (uint64_t)_i;
    for (int s = 0; s < 4; s++) {
        rg_graph *g = rg_graph_new(RG_F64);
        rg_node *x = tu_param(g, "x", ndims[s], shapes[s], c->lo, c->hi, &seed);
        rg_node *y = tu_scalarize(c->make(x), &seed);
        ck_assert_gradcheck(y, 1, (rg_node *[]){x});
        rg_graph_free(g);
    }
}
END_TEST

START_TEST(test_binary_gradcheck)
{
    const struct binary_case *c = &binary_cases[_i];
    uint64_t seed = 301 + (uint64_t)_i;
    for (int p = 0; p < N_OF(pairs); p++) {
        const struct shape_pair *s = &pairs[p];
        rg_graph *g = rg_graph_new(RG_F64);
        rg_node *a = tu_param(g, "a", s->na, s->a, c->lo[0], c->hi[0], &seed);
        rg_node *b = tu_param(g, "b", s->nb, s->b, c->lo[1], c->hi[1], &seed);
        rg_node *y = tu_scalarize(c->make(a, b), &seed);
        ck_assert_gradcheck(y, 2, (rg_node *[]){a, b});
        /* one side at a time: the VJP builds only what is asked for */
        ck_assert_gradcheck(y, 1, (rg_node *[]){a});
        ck_assert_gradcheck(y, 1, (rg_node *[]){b});
        rg_graph_free(g);
    }
}
END_TEST

/* The same op on both sides (x * x, x - x): contributions through both inputs add up. */
START_TEST(test_binary_shared_input)
{
    const struct binary_case *c = &binary_cases[_i];
    uint64_t seed = 351 + (uint64_t)_i;
    int64_t shape[2] = {3, 2};
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = tu_param(g, "x", 2, shape, 0.5, 2, &seed);
    rg_node *y = tu_scalarize(c->make(x, x), &seed);
    ck_assert_gradcheck(y, 1, (rg_node *[]){x});
    rg_graph_free(g);
}
END_TEST

/* x^2 for x <= 0, differentiated in x only: d/db would need ln x (NaN) and must not be
 * built, and d/da must not be written 2 y / x (0/0 at x = 0), so the gradient is exactly 2x
 * (by hand: 2 * -1.5 = -3, 2 * -0.25 = -0.5, 0). */
START_TEST(test_pow_nonpositive_base)
{
    rg_graph *g = rg_graph_new(RG_F64);
    int64_t shape[1] = {3};
    rg_node *x = param_of(g, 1, shape, (double[]){-1.5, -0.25, 0});
    rg_node *y = rg_sum(rg_pow(x, rg_scalar(g, 2.0)), RG_AXIS_ALL, false);
    rg_node *gx = NULL;
    ck_assert_int_eq(rg_grad(y, 1, &x, &gx), RG_OK);
    ck_assert_int_eq(rg_eval1(gx), RG_OK);
    tu_assert_values(gx, (double[]){-3, -0.5, 0}, 3, 1e-15);
    ck_assert_int_eq(rg_eval1(y), RG_OK);
    ck_assert_double_eq_tol(rg_node_item(y), 2.3125, 1e-15);
    rg_graph_free(g);
}
END_TEST

/* ---- second derivatives ---- */

START_TEST(test_unary_second_order)
{
    const struct unary_case *c = &unary_cases[_i];
    const int64_t shapes[3][2] = {{0}, {5}, {3, 4}};
    uint64_t seed = 401 + (uint64_t)_i;
    for (int s = 0; s < 3; s++) {
        rg_graph *g = rg_graph_new(RG_F64);
        rg_node *x = tu_param(g, "x", s, shapes[s], c->lo, c->hi, &seed);
        rg_node *y = tu_scalarize(c->make(x), &seed);
        rg_node *h = tu_second_order(y, 1, (rg_node *[]){x}, &seed);
        /* kinked ops too: away from 0 their derivative is piecewise constant and the
         * check compares a zero second derivative with a zero difference quotient */
        ck_assert_msg(h != NULL, "%s: %s", c->name, rg_graph_errmsg(g));
        ck_assert_gradcheck(h, 1, (rg_node *[]){x});
        rg_graph_free(g);
    }
}
END_TEST

START_TEST(test_binary_second_order)
{
    const struct binary_case *c = &binary_cases[_i];
    const int sel[4] = {1, 3, 4, 7}; /* [3,4]+[4], [3,1]+[1,4], []+[2,3], [2,3,4]+[3,1] */
    uint64_t seed = 501 + (uint64_t)_i;
    for (int k = 0; k < 4; k++) {
        const struct shape_pair *s = &pairs[sel[k]];
        rg_graph *g = rg_graph_new(RG_F64);
        rg_node *a = tu_param(g, "a", s->na, s->a, c->lo[0], c->hi[0], &seed);
        rg_node *b = tu_param(g, "b", s->nb, s->b, c->lo[1], c->hi[1], &seed);
        rg_node *y = tu_scalarize(c->make(a, b), &seed);
        rg_node *h = tu_second_order(y, 2, (rg_node *[]){a, b}, &seed);
        ck_assert_msg(h != NULL, "%s: %s", c->name, rg_graph_errmsg(g));
        ck_assert_gradcheck(h, 2, (rg_node *[]){a, b});
        rg_graph_free(g);
    }
}
END_TEST

/* Kinked ops: the second-derivative graph builds, and away from the kink its value is
 * exactly zero (relu'' = abs'' = leaky'' = H' = 0, and the same for max/min in a and b). */
START_TEST(test_kinked_second_derivative_zero)
{
    double xv[4] = {-1.5, -0.25, 0.75, 2};
    int64_t shape[1] = {4};
    for (int u = 0; u < N_OF(unary_cases); u++) {
        const struct unary_case *c = &unary_cases[u];
        if (c->smooth2)
            continue;
        rg_graph *g = rg_graph_new(RG_F64);
        rg_node *x = param_of(g, 1, shape, xv);
        rg_node *gx = NULL, *hx = NULL;
        ck_assert_int_eq(rg_grad(rg_sum(c->make(x), RG_AXIS_ALL, false), 1, &x, &gx), RG_OK);
        ck_assert_int_eq(rg_grad(rg_sum(gx, RG_AXIS_ALL, false), 1, &x, &hx), RG_OK);
        ck_assert_int_eq(rg_eval1(hx), RG_OK);
        tu_assert_values(hx, (double[]){0, 0, 0, 0}, 4, 0);
        rg_graph_free(g);
    }
    double bv[4] = {1, -1, 0, 3};
    for (int k = 0; k < N_OF(binary_cases); k++) {
        const struct binary_case *c = &binary_cases[k];
        if (c->smooth2)
            continue;
        rg_graph *g = rg_graph_new(RG_F64);
        rg_node *xs[2] = {param_of(g, 1, shape, xv), param_of(g, 1, shape, bv)};
        rg_node *g1[2] = {0}, *h0[2] = {0}, *h1[2] = {0};
        rg_node *y = rg_sum(c->make(xs[0], xs[1]), RG_AXIS_ALL, false);
        ck_assert_int_eq(rg_grad(y, 2, xs, g1), RG_OK);
        ck_assert_int_eq(rg_grad(rg_sum(g1[0], RG_AXIS_ALL, false), 2, xs, h0), RG_OK);
        ck_assert_int_eq(rg_grad(rg_sum(g1[1], RG_AXIS_ALL, false), 2, xs, h1), RG_OK);
        ck_assert_int_eq(rg_eval(g, 4, (rg_node *[]){h0[0], h0[1], h1[0], h1[1]}), RG_OK);
        for (int i = 0; i < 2; i++) {
            tu_assert_values(h0[i], (double[]){0, 0, 0, 0}, 4, 0);
            tu_assert_values(h1[i], (double[]){0, 0, 0, 0}, 4, 0);
        }
        rg_graph_free(g);
    }
}
END_TEST

/* ---- kinks: the H(0) = 1/2 convention and kink detection ---- */

/* d/dx sum(f(x)) at x = {-1, 0, 2}, from the convention in retrograd.h:
 * relu' = H(x) = {0, 1/2, 1}; leaky' = 0.1 + 0.9 H(x) = {0.1, 0.55, 1};
 * abs' = 2H(x) - 1 = {-1, 0, 1}; heaviside' = 0. */
START_TEST(test_unary_kink_convention)
{
    static const struct {
        rg_node *(*make)(rg_node *);
        double d[3];
    } cases[] = {
        {rg_relu, {0, 0.5, 1}},
        {leaky, {0.1, 0.55, 1}},
        {rg_abs, {-1, 0, 1}},
        {rg_heaviside, {0, 0, 0}},
    };
    const rg_dtype dts[2] = {RG_F32, RG_F64};
    int64_t shape[1] = {3};
    for (int d = 0; d < 2; d++) {
        for (int k = 0; k < N_OF(cases); k++) {
            rg_graph *g = rg_graph_new(dts[d]);
            rg_node *x = param_of(g, 1, shape, (double[]){-1, 0, 2});
            rg_node *gx = NULL;
            ck_assert_int_eq(rg_grad(rg_sum(cases[k].make(x), RG_AXIS_ALL, false), 1, &x, &gx),
                             RG_OK);
            ck_assert_int_eq(rg_eval1(gx), RG_OK);
            tu_assert_values(gx, cases[k].d, 3, 1e-7);
            rg_graph_free(g);
        }
    }
}
END_TEST

/* a = {1, 2, 3}, b = {1, 5, 0}: element 0 ties and splits 1/2 : 1/2; elsewhere the larger
 * (maximum) or smaller (minimum) side takes all of it. */
START_TEST(test_binary_tie_convention)
{
    const rg_dtype dts[2] = {RG_F32, RG_F64};
    int64_t shape[1] = {3};
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dts[d]);
        rg_node *xs[2] = {param_of(g, 1, shape, (double[]){1, 2, 3}),
                          param_of(g, 1, shape, (double[]){1, 5, 0})};
        rg_node *gmax[2] = {0}, *gmin[2] = {0};
        ck_assert_int_eq(rg_grad(rg_sum(rg_maximum(xs[0], xs[1]), RG_AXIS_ALL, false), 2, xs,
                                 gmax), RG_OK);
        ck_assert_int_eq(rg_grad(rg_sum(rg_minimum(xs[0], xs[1]), RG_AXIS_ALL, false), 2, xs,
                                 gmin), RG_OK);
        ck_assert_int_eq(rg_eval(g, 4, (rg_node *[]){gmax[0], gmax[1], gmin[0], gmin[1]}),
                         RG_OK);
        tu_assert_values(gmax[0], (double[]){0.5, 0, 1}, 3, 0);
        tu_assert_values(gmax[1], (double[]){0.5, 1, 0}, 3, 0);
        tu_assert_values(gmin[0], (double[]){0.5, 1, 0}, 3, 0);
        tu_assert_values(gmin[1], (double[]){0.5, 0, 1}, 3, 0);
        rg_graph_free(g);
    }
}
END_TEST

/* Gradient checking at a kink is reported as non-smooth and names the op; away from it, it
 * is not. For maximum the tie sits inside a broadcast ([3,1] against [1,4]: a[1] = b[3]),
 * so the kink distance walks the broadcast pairs. */
START_TEST(test_kink_detection)
{
    int64_t s3[1] = {3};
    for (int u = 0; u < N_OF(unary_cases); u++) {
        const struct unary_case *c = &unary_cases[u];
        if (c->smooth2)
            continue;
        for (int at = 0; at < 2; at++) {
            rg_graph *g = rg_graph_new(RG_F64);
            rg_node *x = param_of(g, 1, s3, (double[]){-1, at ? 0.0 : 0.5, 2});
            rg_node *y = rg_sum(c->make(x), RG_AXIS_ALL, false);
            rg_gradcheck_report r;
            ck_assert_int_eq(rg_gradcheck(y, 1, &x, NULL, &r), RG_OK);
            ck_assert_msg(r.nonsmooth == (at == 1), "%s: nonsmooth %d", c->name, r.nonsmooth);
            if (at)
                ck_assert_str_eq(r.kink_op, c->name);
            rg_graph_free(g);
        }
    }
    int64_t sa[2] = {3, 1}, sb[2] = {1, 4};
    for (int k = 0; k < N_OF(binary_cases); k++) {
        const struct binary_case *c = &binary_cases[k];
        if (c->smooth2)
            continue;
        for (int at = 0; at < 2; at++) {
            rg_graph *g = rg_graph_new(RG_F64);
            rg_node *xs[2] = {param_of(g, 2, sa, (double[]){0, 1, 2}),
                              param_of(g, 2, sb, (double[]){5, 6, 7, at ? 1.0 : 1.5})};
            rg_node *y = rg_sum(c->make(xs[0], xs[1]), RG_AXIS_ALL, false);
            rg_gradcheck_report r;
            ck_assert_int_eq(rg_gradcheck(y, 2, xs, NULL, &r), RG_OK);
            ck_assert_msg(r.nonsmooth == (at == 1), "%s: nonsmooth %d", c->name, r.nonsmooth);
            if (at)
                ck_assert_str_eq(r.kink_op, c->name);
            ck_assert(r.passed || r.nonsmooth);
            rg_graph_free(g);
        }
    }
}
END_TEST

/* The distance to the kink reported to gradient checking (an internal hook, reached
 * through the op table). relu at {-1, 0.25, 2}: min |x| = 0.25. maximum/minimum of [3,1]
 * {0, 1, 2} against [1,4] {5, 6, 7, 1.7}: the closest pair is 2 and 1.7, 0.3 apart; against
 * the scalar 7.5: 5.5. */
START_TEST(test_kink_distance)
{
    const rg_dtype dts[2] = {RG_F32, RG_F64};
    int64_t s3[1] = {3}, sa[2] = {3, 1}, sb[2] = {1, 4};
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dts[d]);
        rg_node *x = param_of(g, 1, s3, (double[]){-1, 0.25, 2});
        rg_node *a = param_of(g, 2, sa, (double[]){0, 1, 2});
        rg_node *b = param_of(g, 2, sb, (double[]){5, 6, 7, 1.7});
        rg_node *ys[6] = {rg_relu(x),       rg_abs(x),        leaky(x),
                          rg_maximum(a, b), rg_minimum(b, a), rg_maximum(rg_scalar(g, 7.5), a)};
        const double expect[6] = {0.25, 0.25, 0.25, 0.3, 0.3, 5.5};
        ck_assert_int_eq(rg_eval(g, 6, ys), RG_OK);
        for (int k = 0; k < 6; k++) {
            double got = rg__def(ys[k])->kink(ys[k]);
            ck_assert_double_eq_tol(got, expect[k], dts[d] == RG_F32 ? 1e-6 : 1e-15);
        }
        rg_graph_free(g);
    }
}
END_TEST

/* ---- special values ---- */

/* NaN propagates, as in NumPy: through maximum/minimum on either side, relu, leaky_relu and
 * heaviside (whose comparisons would otherwise turn it into a number). */
START_TEST(test_nan_propagates)
{
    const rg_dtype dts[2] = {RG_F32, RG_F64};
    int64_t s2[1] = {2};
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dts[d]);
        rg_node *a = param_of(g, 1, s2, (double[]){NAN, 1});
        rg_node *b = param_of(g, 1, s2, (double[]){1, NAN});
        rg_node *ys[7] = {rg_maximum(a, b), rg_minimum(a, b), rg_relu(a), leaky(a),
                          rg_heaviside(a), rg_abs(a), rg_sigmoid(a)};
        ck_assert_int_eq(rg_eval(g, 7, ys), RG_OK);
        for (int k = 0; k < 7; k++)
            ck_assert_msg(isnan(rg_node_get(ys[k], 0)), "%s", rg_node_op_name(ys[k]));
        ck_assert(isnan(rg_node_get(ys[0], 1)));
        ck_assert(isnan(rg_node_get(ys[1], 1)));
        rg_graph_free(g);
    }
}
END_TEST

/* sigmoid and softplus at +-1000 never form e^1000: no overflow is raised, in either dtype,
 * and the values are 1 and 0 (sigmoid), 1000 and 0 (softplus) to within e^-100. */
START_TEST(test_no_overflow)
{
    const rg_dtype dts[2] = {RG_F32, RG_F64};
    int64_t s4[1] = {4};
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dts[d]);
        rg_node *x = param_of(g, 1, s4, (double[]){1000, -1000, 100, -100});
        rg_node *ys[2] = {rg_sigmoid(x), rg_softplus(x)};
        feclearexcept(FE_OVERFLOW);
        ck_assert_int_eq(rg_eval(g, 2, ys), RG_OK);
        ck_assert(!fetestexcept(FE_OVERFLOW));
        tu_assert_values(ys[0], (double[]){1, 0, 1, 0}, 4, 1e-30); /* e^-100 ~ 4e-44 */
        tu_assert_values(ys[1], (double[]){1000, 0, 100, 0}, 4, 1e-30);
        rg_graph_free(g);
    }
}
END_TEST

/* ---- errors ---- */

START_TEST(test_shape_error)
{
    const struct binary_case *c = &binary_cases[_i];
    rg_graph *g = rg_graph_new(RG_F32);
    int64_t sa[2] = {3, 4}, sb[1] = {5};
    rg_node *a = rg_param(g, "a", 2, sa, NULL), *b = rg_param(g, "b", 1, sb, NULL);
    size_t before = rg_graph_node_count(g);
    ck_assert_ptr_null(c->make(a, b));
    ck_assert_int_eq(rg_graph_status(g), RG_ERR_SHAPE);
    char expect[128];
    snprintf(expect, sizeof expect, "%s: shapes do not broadcast: [3,4] and [5]", c->name);
    ck_assert_str_eq(rg_graph_errmsg(g), expect);
    ck_assert_uint_eq(rg_graph_node_count(g), before); /* nothing committed */
    /* [2,3] against [3,2]: both dimensions conflict */
    rg_graph_clear_error(g);
    int64_t s23[2] = {2, 3}, s32[2] = {3, 2};
    ck_assert_ptr_null(c->make(rg_param(g, NULL, 2, s23, NULL), rg_param(g, NULL, 2, s32, NULL)));
    snprintf(expect, sizeof expect, "%s: shapes do not broadcast: [2,3] and [3,2]", c->name);
    ck_assert_str_eq(rg_graph_errmsg(g), expect);
    rg_graph_free(g);
}
END_TEST

/* A failed builder's NULL flows through every op without a new error: the first message
 * stays the one to read. */
START_TEST(test_null_propagates)
{
    rg_graph *g = rg_graph_new(RG_F64);
    int64_t s[1] = {3};
    rg_node *x = rg_param(g, "x", 1, s, NULL);
    for (int u = 0; u < N_OF(unary_cases); u++)
        ck_assert_ptr_null(unary_cases[u].make(NULL));
    for (int k = 0; k < N_OF(binary_cases); k++) {
        ck_assert_ptr_null(binary_cases[k].make(NULL, x));
        ck_assert_ptr_null(binary_cases[k].make(x, NULL));
        ck_assert_ptr_null(binary_cases[k].make(NULL, NULL));
    }
    ck_assert_int_eq(rg_graph_status(g), RG_OK);
    int64_t s5[1] = {5};
    rg_node *bad = rg_add(x, rg_param(g, "y", 1, s5, NULL));
    ck_assert_ptr_null(rg_exp(rg_mul(rg_relu(bad), x)));
    ck_assert_str_eq(rg_graph_errmsg(g), "add: shapes do not broadcast: [3] and [5]");
    rg_graph_free(g);
}
END_TEST

/* ---- the suite ---- */

static Suite *ops_elementwise_suite(void)
{
    Suite *s = suite_create("ops_elementwise");
    const int nu = N_OF(unary_cases), nb = N_OF(binary_cases);
    const tu_case cases[] = {
        {"unary_hand_values", test_unary_hand_values, nu},
        {"unary_reference", test_unary_reference, nu},
        {"binary_hand_values", test_binary_hand_values, nb},
        {"binary_broadcast_values", test_binary_broadcast_values, nb},
        {"broadcast_large", test_broadcast_large, 0},
        {"unary_gradcheck", test_unary_gradcheck, nu},
        {"binary_gradcheck", test_binary_gradcheck, nb},
        {"binary_shared_input", test_binary_shared_input, nb},
        {"pow_nonpositive_base", test_pow_nonpositive_base, 0},
        {"unary_second_order", test_unary_second_order, nu},
        {"binary_second_order", test_binary_second_order, nb},
        {"kinked_second_derivative_zero", test_kinked_second_derivative_zero, 0},
        {"unary_kink_convention", test_unary_kink_convention, 0},
        {"binary_tie_convention", test_binary_tie_convention, 0},
        {"kink_detection", test_kink_detection, 0},
        {"kink_distance", test_kink_distance, 0},
        {"nan_propagates", test_nan_propagates, 0},
        {"no_overflow", test_no_overflow, 0},
        {"shape_error", test_shape_error, nb},
        {"null_propagates", test_null_propagates, 0},
    };
    tu_add_cases(s, cases, sizeof cases / sizeof *cases);
    return s;
}

int main(void)
{
    return tu_run_suite(ops_elementwise_suite());
}
