/* Gradient checking: the checker itself, and user-registered ops end to end. */
#include "testutil.h"

#include <string.h>

/* ---- a custom op: cube(x) = x^3, derivative 3x^2, shape of x ---- */

static rg_status shape_same(rg_node *n)
{
    const rg_node *x = rg_node_input(n, 0);
    return rg_node_set_shape(n, rg_node_ndim(x), rg_node_shape(x));
}

static rg_status fwd_cube_f64(rg_node *n)
{
    const double *x = rg_node_data(rg_node_input(n, 0));
    double *y = rg_node_data(n);
    for (int64_t i = 0; i < rg_node_size(n); i++)
        y[i] = x[i] * x[i] * x[i];
    return RG_OK;
}

static rg_status fwd_cube_f32(rg_node *n)
{
    const float *x = rg_node_data(rg_node_input(n, 0));
    float *y = rg_node_data(n);
    for (int64_t i = 0; i < rg_node_size(n); i++)
        y[i] = x[i] * x[i] * x[i];
    return RG_OK;
}

/* The factor of 3x^2 comes from the op's data so the same VJP serves the correct op (3) and
 * the deliberately wrong one (6: off by a factor 2). */
static rg_status vjp_cube(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    rg_node *x = rg_node_input(n, 0);
    double k = *(const double *)rg_node_op_data(n);
    if (need[0])
        gin[0] = rg_mul(gy, rg_mul(rg_scalar(rg_node_graph(n), k), rg_square(x)));
    return gin[0] ? RG_OK : rg_graph_status(rg_node_graph(n));
}

static double k_right = 3.0, k_wrong = 6.0;

static int register_cube(rg_graph *g, const char *name, double *k, bool with_vjp)
{
    rg_op_def def = {
        .name = name,
        .arity = 1,
        .shape = shape_same,
        .forward_f32 = fwd_cube_f32,
        .forward_f64 = fwd_cube_f64,
        .vjp = with_vjp ? vjp_cube : NULL,
        .data = k,
    };
    return rg_op_register(g, &def);
}

static rg_node *apply1(rg_graph *g, int op, rg_node *x)
{
    return rg_apply(g, op, 1, &x);
}

static rg_node *vec_param(rg_graph *g, const char *name, int64_t n, const double *v)
{
    rg_node *p = rg_param(g, name, 1, &n, NULL);
    ck_assert_int_eq(rg_feed_f64(p, v, n), RG_OK);
    return p;
}

/* ---- correct graphs pass ---- */

START_TEST(test_passes_on_correct_graph)
{
    rg_graph *g = rg_graph_new(RG_F64);
    uint64_t seed = 7;
    int64_t sw[2] = {3, 4}, sx[2] = {4, 2};
    rg_node *w = tu_param(g, "w", 2, sw, -1, 1, &seed);
    rg_node *x = tu_param(g, "x", 2, sx, -1, 1, &seed);
    rg_node *y = tu_scalarize(rg_tanh(rg_matmul(w, x)), &seed);
    rg_node *xs[] = {w, x};
    rg_gradcheck_report r;
    ck_assert_int_eq(rg_gradcheck(y, 2, xs, NULL, &r), RG_OK);
    ck_assert(r.passed);
    ck_assert(!r.nonsmooth);
    ck_assert_int_eq(r.checked, 12 + 8);
    ck_assert(r.max_abs_err < 1e-7);
    ck_assert_int_ge(r.worst_input, 0);
    ck_assert_gradcheck(y, 2, xs);
    ck_assert_gradcheck(y, 2, (rg_node *[]){x, w});
    rg_graph_free(g);
}
END_TEST

/* ---- custom ops end to end, and a wrong VJP caught ---- */

START_TEST(test_custom_op_correct)
{
    rg_graph *g = rg_graph_new(RG_F64);
    int op = register_cube(g, "cube", &k_right, true);
    ck_assert_int_ge(op, 0);
    ck_assert_str_eq(rg_op_name(g, op), "cube");
    ck_assert_int_eq(rg_op_lookup(g, "cube"), op);
    double v[3] = {0.5, -1.0, 2.0};
    rg_node *x = vec_param(g, "x", 3, v);
    rg_node *c = apply1(g, op, x);
    ck_assert_ptr_nonnull(c);
    ck_assert_str_eq(rg_node_op_name(c), "cube");
    ck_assert_int_eq(rg_eval1(c), RG_OK);
    const double cubes[3] = {0.125, -1.0, 8.0}; /* by hand */
    tu_assert_values(c, cubes, 3, 1e-15);
    rg_node *y = rg_sum(c, RG_AXIS_ALL, false);
    ck_assert_gradcheck(y, 1, &x);
    rg_graph_free(g);
}
END_TEST

START_TEST(test_wrong_vjp_fails)
{
    rg_graph *g = rg_graph_new(RG_F64);
    int op = register_cube(g, "badcube", &k_wrong, true);
    double v[3] = {0.5, -1.0, 2.0};
    rg_node *x = vec_param(g, "x", 3, v);
    rg_node *y = rg_sum(apply1(g, op, x), RG_AXIS_ALL, false);
    rg_gradcheck_report r;
    ck_assert_int_eq(rg_gradcheck(y, 1, &x, NULL, &r), RG_OK);
    ck_assert(!r.passed);
    ck_assert(!r.nonsmooth);
    ck_assert_int_eq(r.checked, 3);
    /* True derivative 3x^2 = {0.75, 3, 12}, reported 6x^2 = {1.5, 6, 24}. The worst element
     * (error / (atol + rtol |numeric|)) is element 2: 12 / 0.01201 beats 3 / 0.00301. */
    ck_assert_int_eq(r.worst_input, 0);
    ck_assert_int_eq(r.worst_index, 2);
    ck_assert_double_eq_tol(r.worst_analytic, 24.0, 1e-12);
    ck_assert_double_eq_tol(r.worst_numeric, 12.0, 1e-6);
    ck_assert_double_eq_tol(r.max_abs_err, 12.0, 1e-6);
    ck_assert_double_eq_tol(r.max_rel_err, 0.5, 1e-6); /* |24-12| / max(24, 12) */
    char buf[512];
    rg_gradcheck_format(&r, buf, sizeof buf);
    ck_assert_ptr_nonnull(strstr(buf, "FAILED"));
    ck_assert_ptr_nonnull(strstr(buf, "input 0 element 2"));
    ck_assert_ptr_nonnull(strstr(buf, "analytic 24"));
    rg_graph_free(g);
}
END_TEST

START_TEST(test_adjoint)
{
    rg_graph *g = rg_graph_new(RG_F64);
    uint64_t seed = 11;
    int64_t sa[2] = {3, 4}, sb[2] = {4, 5};
    rg_node *a = tu_param(g, "a", 2, sa, -1, 1, &seed);
    rg_node *b = tu_param(g, "b", 2, sb, -1, 1, &seed);
    rg_node *y = rg_sigmoid(rg_matmul(a, b)); /* [3,5]: the adjoint check takes any shape */
    rg_node *xs[] = {a, b};
    rg_gradcheck_report r;
    ck_assert_int_eq(rg_gradcheck_adjoint(y, 2, xs, NULL, &r), RG_OK);
    ck_assert(r.passed);
    ck_assert_int_eq(r.checked, 1);
    ck_assert_int_eq(r.worst_input, -1);
    ck_assert(r.worst_analytic != 0.0);
    ck_assert_gradcheck_adjoint(y, 2, xs);

    int op = register_cube(g, "badcube", &k_wrong, true);
    rg_node *z = rg_mul(apply1(g, op, a), rg_scalar(g, 0.5));
    ck_assert_int_eq(rg_gradcheck_adjoint(z, 1, &a, NULL, &r), RG_OK);
    ck_assert(!r.passed);
    /* J^T v is doubled, so the analytic side is twice the numeric one. */
    ck_assert_double_eq_tol(r.worst_analytic, 2.0 * r.worst_numeric,
                            1e-6 * (1.0 + fabs(r.worst_numeric)));
    char buf[512];
    ck_assert_ptr_nonnull(strstr(rg_gradcheck_format(&r, buf, sizeof buf), "directional"));
    rg_graph_free(g);
}
END_TEST

/* ---- refusals ---- */

START_TEST(test_f32_refused)
{
    rg_graph *g = rg_graph_new(RG_F32);
    int64_t n = 3;
    rg_node *x = rg_param(g, "x", 1, &n, NULL);
    rg_node *y = rg_sum(rg_square(x), RG_AXIS_ALL, false);
    rg_gradcheck_report r;
    ck_assert_int_eq(rg_gradcheck(y, 1, &x, NULL, &r), RG_ERR_DTYPE);
    ck_assert(!r.passed);
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g), "f64"));
    rg_graph_clear_error(g);
    ck_assert_int_eq(rg_gradcheck_adjoint(y, 1, &x, NULL, &r), RG_ERR_DTYPE);
    rg_graph_free(g);
}
END_TEST

START_TEST(test_nonscalar_refused)
{
    rg_graph *g = rg_graph_new(RG_F64);
    int64_t n = 3;
    rg_node *x = rg_param(g, "x", 1, &n, NULL);
    rg_node *y = rg_square(x);
    rg_gradcheck_report r;
    ck_assert_int_eq(rg_gradcheck(y, 1, &x, NULL, &r), RG_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g), "scalar"));
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g), "[3]"));
    rg_graph_free(g);
}
END_TEST

START_TEST(test_op_node_refused)
{
    rg_graph *g = rg_graph_new(RG_F64);
    int64_t n = 3;
    rg_node *x = rg_param(g, "x", 1, &n, NULL);
    rg_node *sq = rg_square(x);
    rg_node *y = rg_sum(sq, RG_AXIS_ALL, false);
    rg_gradcheck_report r;
    ck_assert_int_eq(rg_gradcheck(y, 1, &sq, NULL, &r), RG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g), "square"));
    ck_assert_int_eq(rg_gradcheck(NULL, 1, &x, NULL, &r), RG_ERR_ARG);
    ck_assert(!r.passed);
    rg_graph_free(g);
}
END_TEST

/* ---- kinks ---- */

/* At exactly 0 relu takes the mean of its one-sided slopes (1/2) and so does the central
 * difference; the check is flagged non-smooth all the same, and must not fail. */
START_TEST(test_relu_kink_at_zero)
{
    rg_graph *g = rg_graph_new(RG_F64);
    double v[3] = {0.0, 0.7, -0.4};
    rg_node *x = vec_param(g, "x", 3, v);
    rg_node *y = rg_sum(rg_relu(x), RG_AXIS_ALL, false);
    rg_gradcheck_report r;
    ck_assert_int_eq(rg_gradcheck(y, 1, &x, NULL, &r), RG_OK);
    ck_assert(r.nonsmooth);
    ck_assert_str_eq(r.kink_op, "relu");
    ck_assert(r.passed);
    ck_assert_gradcheck(y, 1, &x);
    rg_graph_free(g);
}
END_TEST

/* Half a step from the kink the central difference straddles it: relu(x) at x = eps/2 has
 * slope 1, the difference quotient (1.5 eps - 0) / 2 eps = 0.75. The mismatch is reported
 * (passed false) but flagged non-smooth, which the assertion accepts. */
START_TEST(test_relu_near_kink)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_gradcheck_opts o = rg_gradcheck_defaults();
    double v[2] = {0.5 * o.eps, 1.0};
    rg_node *x = vec_param(g, "x", 2, v);
    rg_node *y = rg_sum(rg_relu(x), RG_AXIS_ALL, false);
    rg_gradcheck_report r;
    ck_assert_int_eq(rg_gradcheck(y, 1, &x, &o, &r), RG_OK);
    ck_assert(!r.passed);
    ck_assert(r.nonsmooth);
    ck_assert_str_eq(r.kink_op, "relu");
    ck_assert_int_eq(r.worst_index, 0);
    ck_assert_double_eq_tol(r.worst_analytic, 1.0, 1e-12);
    ck_assert_double_eq_tol(r.worst_numeric, 0.75, 1e-6);
    char buf[512];
    ck_assert_ptr_nonnull(strstr(rg_gradcheck_format(&r, buf, sizeof buf), "non-smooth"));
    ck_assert_gradcheck(y, 1, &x);
    rg_graph_free(g);
}
END_TEST

/* ---- values restored ---- */

START_TEST(test_values_restored)
{
    rg_graph *g = rg_graph_new(RG_F64);
    uint64_t seed = 5;
    int64_t s[2] = {2, 3};
    rg_node *p = tu_param(g, "p", 2, s, -1, 1, &seed);
    rg_node *in = rg_input(g, "in", 2, s);
    rg_node *c = tu_const(g, 2, s, -1, 1, &seed);
    double user[6] = {0.1, -0.2, 0.3, 0.4, -0.5, 0.6}, user_copy[6];
    memcpy(user_copy, user, sizeof user);
    ck_assert_int_eq(rg_feed_borrow(in, user), RG_OK);
    double before_p[6], before_c[6];
    memcpy(before_p, rg_node_data(p), sizeof before_p);
    memcpy(before_c, rg_node_data(c), sizeof before_c);
    rg_node *y = rg_sum(rg_mul(rg_exp(p), rg_sin(rg_add(in, c))), RG_AXIS_ALL, false);
    ck_assert_int_eq(rg_eval1(y), RG_OK);
    double y0 = rg_node_item(y);

    rg_node *xs[] = {p, in, c};
    rg_gradcheck_report r;
    ck_assert_int_eq(rg_gradcheck(y, 3, xs, NULL, &r), RG_OK);
    ck_assert(r.passed);
    ck_assert_int_eq(r.checked, 18);
    ck_assert_int_eq(rg_gradcheck_adjoint(y, 3, xs, NULL, &r), RG_OK);
    ck_assert(r.passed);

    /* Bit-exact: the check writes values back, never x + eps - eps. */
    ck_assert_int_eq(memcmp(before_p, rg_node_data(p), sizeof before_p), 0);
    ck_assert_int_eq(memcmp(before_c, rg_node_data(c), sizeof before_c), 0);
    /* The borrowed input still borrows, and the user's array was never written. */
    ck_assert_ptr_eq(rg_node_data(in), user);
    ck_assert_int_eq(memcmp(user, user_copy, sizeof user), 0);
    ck_assert(!rg_graph_keep_values(g));
    ck_assert_int_eq(rg_eval1(y), RG_OK);
    ck_assert(rg_node_item(y) == y0);
    rg_graph_free(g);
}
END_TEST

START_TEST(test_keep_values_setting_restored)
{
    rg_graph *g = rg_graph_new(RG_F64);
    uint64_t seed = 9;
    int64_t n = 4;
    rg_node *x = tu_param(g, "x", 1, &n, -1, 1, &seed);
    rg_node *y = rg_sum(rg_tanh(x), RG_AXIS_ALL, false);
    rg_graph_set_keep_values(g, true);
    ck_assert_gradcheck(y, 1, &x);
    ck_assert(rg_graph_keep_values(g));
    rg_graph_free(g);
}
END_TEST

/* ---- an op without a derivative ---- */

START_TEST(test_op_without_vjp)
{
    rg_graph *g = rg_graph_new(RG_F64);
    int op = register_cube(g, "opaque_cube", &k_right, false);
    double v[2] = {1.0, 2.0};
    rg_node *x = vec_param(g, "x", 2, v);
    rg_node *y = rg_sum(apply1(g, op, x), RG_AXIS_ALL, false);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(rg_eval1(y), RG_OK); /* forward works */
    ck_assert_double_eq_tol(rg_node_item(y), 9.0, 1e-15);
    rg_node *gx = (rg_node *)1;
    ck_assert_int_eq(rg_grad(y, 1, &x, &gx), RG_ERR_NO_VJP);
    ck_assert_ptr_null(gx);
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g), "opaque_cube"));

    rg_graph *g2 = rg_graph_new(RG_F64);
    op = register_cube(g2, "opaque_cube", &k_right, false);
    x = vec_param(g2, "x", 2, v);
    y = rg_sum(apply1(g2, op, x), RG_AXIS_ALL, false);
    rg_gradcheck_report r;
    ck_assert_int_eq(rg_gradcheck(y, 1, &x, NULL, &r), RG_ERR_NO_VJP);
    ck_assert(!r.passed);
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g2), "opaque_cube"));
    ck_assert_double_eq(rg_node_get(x, 0), 1.0);
    ck_assert_double_eq(rg_node_get(x, 1), 2.0);
    rg_graph_free(g2);
    rg_graph_free(g);
}
END_TEST

/* ---- allocation failures ---- */

struct budget {
    long left; /* allocations still allowed; negative: unlimited */
};

static void *b_malloc(void *ctx, size_t size)
{
    struct budget *b = ctx;
    if (b->left == 0)
        return NULL;
    if (b->left > 0)
        b->left--;
    return malloc(size ? size : 1);
}

static void *b_realloc(void *ctx, void *p, size_t size)
{
    struct budget *b = ctx;
    if (b->left == 0)
        return NULL;
    if (b->left > 0)
        b->left--;
    return realloc(p, size ? size : 1);
}

static void b_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

/* Every allocation the check makes may fail: it must then report RG_ERR_NOMEM and still
 * restore the values. Budgets grow one allocation at a time until each check completes. */
START_TEST(test_allocation_failures)
{
    for (int adjoint = 0; adjoint < 2; adjoint++) {
        bool completed = false;
        int failures = 0;
        for (long k = 0; k < 1000 && !completed; k++) {
            struct budget b = {-1};
            rg_allocator a = {b_malloc, b_realloc, b_free, &b};
            rg_graph *g = rg_graph_new_with_allocator(RG_F64, &a);
            ck_assert_ptr_nonnull(g);
            double v[3] = {0.3, -0.6, 0.9};
            rg_node *x = vec_param(g, "x", 3, v);
            rg_node *y = rg_sum(rg_mul(rg_tanh(x), x), RG_AXIS_ALL, false);
            ck_assert_ptr_nonnull(y);
            b.left = k;
            rg_gradcheck_report r;
            rg_status st = adjoint ? rg_gradcheck_adjoint(y, 1, &x, NULL, &r)
                                   : rg_gradcheck(y, 1, &x, NULL, &r);
            if (st == RG_OK) {
                ck_assert(r.passed);
                completed = true;
            } else {
                ck_assert_int_eq(st, RG_ERR_NOMEM);
                ck_assert(!r.passed);
                failures++;
            }
            for (int i = 0; i < 3; i++)
                ck_assert(rg_node_get(x, i) == v[i]);
            ck_assert(!rg_graph_keep_values(g));
            rg_graph_free(g);
        }
        ck_assert_msg(completed, "check never completed within the allocation budget");
        ck_assert_int_gt(failures, 0);
    }
}
END_TEST

static Suite *gradcheck_suite(void)
{
    Suite *s = suite_create("gradcheck");
    const tu_case cases[] = {
        {"passes on correct graph", test_passes_on_correct_graph, 0},
        {"custom op end to end", test_custom_op_correct, 0},
        {"wrong VJP fails", test_wrong_vjp_fails, 0},
        {"adjoint check", test_adjoint, 0},
        {"f32 refused", test_f32_refused, 0},
        {"non-scalar refused", test_nonscalar_refused, 0},
        {"op node refused", test_op_node_refused, 0},
        {"relu kink at zero", test_relu_kink_at_zero, 0},
        {"relu near kink", test_relu_near_kink, 0},
        {"values restored", test_values_restored, 0},
        {"keep_values restored", test_keep_values_setting_restored, 0},
        {"op without VJP", test_op_without_vjp, 0},
        {"allocation failures", test_allocation_failures, 0},
    };
    tu_add_cases(s, cases, sizeof cases / sizeof *cases);
    return s;
}

int main(void)
{
    return tu_run_suite(gradcheck_suite());
}
