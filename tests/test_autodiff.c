/* The reverse sweep: fan-out, disconnected inputs, seeds, deep chains, grad of grad,
 * rg_backward, and its errors. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "retrograd.h"
#include "testutil.h"

static double eval_item(rg_node *n)
{
    ck_assert_int_eq(rg_eval1(n), RG_OK);
    return rg_node_item(n);
}

/* y = x*x at x = 3: the two uses of x each contribute, dy/dx = 2x = 6. */
START_TEST(test_fan_out)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = rg_param(g, "x", 0, NULL, (double[]){3});
    rg_node *y = rg_mul(x, x), *gx;
    ck_assert_int_eq(rg_grad(y, 1, &x, &gx), RG_OK);
    ck_assert_double_eq(eval_item(gx), 6.0);
    /* a shared subexpression: s = x + 1 used three times in s*s*s; d/dx = 3 s^2 = 48 */
    rg_node *s = rg_add(x, rg_scalar(g, 1));
    rg_node *z = rg_mul(rg_mul(s, s), s);
    ck_assert_int_eq(rg_grad(z, 1, &x, &gx), RG_OK);
    ck_assert_double_eq(eval_item(gx), 48.0);
    rg_graph_free(g);
}
END_TEST

/* An input the output does not depend on gets exact zeros of its own shape. */
START_TEST(test_disconnected_gets_zeros)
{
    rg_graph *g = rg_graph_new(RG_F64);
    uint64_t seed = 1;
    rg_node *x = tu_param(g, "x", 1, (int64_t[]){3}, -1, 1, &seed);
    rg_node *u = tu_param(g, "u", 2, (int64_t[]){2, 2}, -1, 1, &seed);
    rg_node *y = rg_sum(rg_tanh(x), RG_AXIS_ALL, false);
    rg_node *gr[2];
    ck_assert_int_eq(rg_grad(y, 2, (rg_node *[]){x, u}, gr), RG_OK);
    ck_assert_int_eq(rg_eval(g, 2, gr), RG_OK);
    ck_assert_int_eq(rg_node_ndim(gr[1]), 2);
    for (int i = 0; i < 4; i++)
        ck_assert(rg_node_get(gr[1], i) == 0.0);
    for (int i = 0; i < 3; i++) {
        double t = tanh(rg_node_get(x, i));
        ck_assert_double_eq_tol(rg_node_get(gr[0], i), 1 - t * t, 1e-15);
    }
    /* the gradient of y with respect to itself is 1 */
    rg_node *gy;
    ck_assert_int_eq(rg_grad(y, 1, &y, &gy), RG_OK);
    ck_assert_double_eq(eval_item(gy), 1.0);
    rg_graph_free(g);
}
END_TEST

/* Inputs anywhere among the nodes: after unrelated ones, an op node in the middle, one made
 * after y (zeros). y = m j + x with m = x^2, j = exp(a): dy/dm = j, dy/dx = 2 x j + 1,
 * dy/da = m j. */
START_TEST(test_inputs_anywhere)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *a = rg_param(g, "a", 0, NULL, (double[]){0.3});
    rg_node *j = rg_exp(a);
    rg_node *x = rg_param(g, "x", 0, NULL, (double[]){1.5});
    rg_node *m = rg_mul(x, x);
    rg_node *y = rg_add(rg_mul(m, j), x);
    rg_node *late = rg_param(g, "late", 0, NULL, (double[]){2});
    const double e = exp(0.3);
    rg_node *gr[3];
    ck_assert_int_eq(rg_grad(y, 3, (rg_node *[]){m, x, late}, gr), RG_OK);
    ck_assert_int_eq(rg_eval(g, 3, gr), RG_OK);
    ck_assert_double_eq_tol(rg_node_item(gr[0]), e, 1e-15);
    ck_assert_double_eq_tol(rg_node_item(gr[1]), 3 * e + 1, 1e-14);
    ck_assert(rg_node_item(gr[2]) == 0.0);
    ck_assert_int_eq(rg_grad(y, 1, &x, gr), RG_OK);
    ck_assert_double_eq_tol(eval_item(gr[0]), 3 * e + 1, 1e-14);
    ck_assert_int_eq(rg_grad(y, 1, &a, gr), RG_OK);
    ck_assert_double_eq_tol(eval_item(gr[0]), 2.25 * e, 1e-14);
    rg_graph_free(g);
}
END_TEST

/* Only nodes on a path from the requested inputs to y get gradient work. */
START_TEST(test_no_work_off_the_path)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = rg_param(g, "x", 0, NULL, (double[]){0.5});
    rg_node *c = rg_param(g, "c", 0, NULL, (double[]){2});
    rg_node *big = c;
    for (int i = 0; i < 50; i++)
        big = rg_exp(rg_sin(big)); /* depends on c only */
    rg_node *y = rg_mul(x, big);
    size_t before = rg_graph_node_count(g);
    rg_node *gx;
    ck_assert_int_eq(rg_grad(y, 1, &x, &gx), RG_OK);
    /* the seed, and mul's VJP for x (gy * big): a few nodes, not hundreds */
    ck_assert_uint_le(rg_graph_node_count(g) - before, 4);
    ck_assert_double_eq_tol(eval_item(gx), eval_item(big), 1e-15);
    rg_graph_free(g);
}
END_TEST

START_TEST(test_vjp_with_seed)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = rg_param(g, "x", 1, (int64_t[]){3}, (double[]){1, 2, 3});
    rg_node *y = rg_square(x); /* Jacobian diag(2x) */
    rg_node *v = rg_const(g, 1, (int64_t[]){3}, (double[]){1, 10, 100});
    rg_node *gx;
    ck_assert_int_eq(rg_vjp(y, v, 1, &x, &gx), RG_OK);
    ck_assert_int_eq(rg_eval1(gx), RG_OK);
    tu_assert_values(gx, (double[]){2, 40, 600}, 3, 0);
    rg_node *bad = rg_const(g, 1, (int64_t[]){2}, (double[]){1, 1});
    ck_assert_int_eq(rg_vjp(y, bad, 1, &x, &gx), RG_ERR_SHAPE);
    ck_assert_ptr_null(gx);
    ck_assert_str_eq(rg_graph_errmsg(g), "vjp: seed shape [2] differs from output shape [3]");
    rg_graph_free(g);
}
END_TEST

START_TEST(test_grad_needs_scalar)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = rg_param(g, "x", 1, (int64_t[]){3}, NULL);
    rg_node *y = rg_tanh(x), *gx = x;
    ck_assert_int_eq(rg_grad(y, 1, &x, &gx), RG_ERR_SHAPE);
    ck_assert_ptr_null(gx);
    ck_assert_str_eq(rg_graph_errmsg(g),
                     "grad: output 'tanh' has shape [3], not a scalar (use rg_vjp with a seed)");
    rg_graph_free(g);
}
END_TEST

/* d/dx x^3 = 3x^2, d2/dx2 = 6x, d3/dx3 = 6: at x = 2: 8, 12, 12, 6. */
START_TEST(test_grad_of_grad)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = rg_param(g, "x", 0, NULL, (double[]){2});
    rg_node *y = rg_mul(rg_mul(x, x), x);
    rg_node *d1, *d2, *d3;
    ck_assert_int_eq(rg_grad(y, 1, &x, &d1), RG_OK);
    ck_assert_int_eq(rg_grad(d1, 1, &x, &d2), RG_OK);
    ck_assert_int_eq(rg_grad(d2, 1, &x, &d3), RG_OK);
    ck_assert_int_eq(rg_eval(g, 4, (rg_node *[]){y, d1, d2, d3}), RG_OK);
    ck_assert_double_eq(rg_node_item(y), 8.0);
    ck_assert_double_eq(rg_node_item(d1), 12.0);
    ck_assert_double_eq(rg_node_item(d2), 12.0);
    ck_assert_double_eq(rg_node_item(d3), 6.0);
    /* the same through pow, and numerically through the gradcheck */
    rg_node *p = rg_pow(x, rg_scalar(g, 3));
    ck_assert_int_eq(rg_grad(p, 1, &x, &d1), RG_OK);
    ck_assert_int_eq(rg_grad(d1, 1, &x, &d2), RG_OK);
    ck_assert_double_eq_tol(eval_item(d2), 12.0, 1e-12);
    ck_assert_gradcheck(d1, 1, &x);
    rg_graph_free(g);
}
END_TEST

/* A chain of a million nodes: building, differentiating and evaluating it must not recurse. */
START_TEST(test_million_node_chain)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = rg_param(g, "x", 0, NULL, (double[]){1});
    rg_node *c = rg_scalar(g, 1.0000001);
    rg_node *y = x;
    for (int i = 0; i < 1000000; i++)
        y = rg_mul(y, c);
    ck_assert_ptr_nonnull(y);
    rg_node *gx;
    ck_assert_int_eq(rg_grad(y, 1, &x, &gx), RG_OK);
    ck_assert_int_eq(rg_eval(g, 2, (rg_node *[]){y, gx}), RG_OK);
    double want = pow(1.0000001, 1e6);
    ck_assert_double_eq_tol(rg_node_item(y), want, 1e-9);
    ck_assert_double_eq_tol(rg_node_item(gx), want, 1e-9);
    rg_graph_free(g);
}
END_TEST

START_TEST(test_backward_fills_param_grads)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *w = rg_param(g, "w", 1, (int64_t[]){2}, (double[]){1, -2});
    rg_node *b = rg_param(g, "b", 0, NULL, (double[]){0.5});
    rg_node *unused = rg_param(g, "unused", 0, NULL, NULL);
    rg_node *x = rg_input(g, "x", 1, (int64_t[]){2});
    rg_feed_f64(x, (double[]){3, 4}, 2);
    /* loss = (w.x + b)^2 = (3 - 8 + 0.5)^2 = 20.25; dl/dw = 2(w.x+b) x = -9 x; dl/db = -9 */
    rg_node *loss = rg_square(rg_add(rg_sum(rg_mul(w, x), RG_AXIS_ALL, false), b));
    ck_assert_int_eq(rg_backward(loss), RG_OK);
    ck_assert_double_eq(rg_node_item(loss), 20.25);
    tu_assert_values(rg_node_grad(w), (double[]){-27, -36}, 2, 1e-15);
    tu_assert_values(rg_node_grad(b), (double[]){-9}, 1, 1e-15);
    ck_assert_ptr_null(rg_node_grad(unused));
    ck_assert_ptr_null(rg_node_grad(x)); /* inputs are not differentiated by backward */
    rg_node *gw = rg_node_grad(w);
    size_t nodes = rg_graph_node_count(g);
    ck_assert_int_eq(rg_backward(loss), RG_OK); /* reuses what it built */
    ck_assert_uint_eq(rg_graph_node_count(g), nodes);
    ck_assert_ptr_eq(rg_node_grad(w), gw);
    /* gradient nodes know what they are the gradient of, and when they were built */
    ck_assert_ptr_eq(rg_node_grad_of(gw), w);
    ck_assert(rg_node_is_grad(gw));
    ck_assert_int_ge(rg_node_sweep_step(gw), 1);
    ck_assert(!rg_node_is_grad(loss));
    ck_assert_int_eq(rg_node_sweep_step(loss), 0);
    rg_graph_free(g);
}
END_TEST

/* Sweep steps count VJP applications in reverse creation order. */
START_TEST(test_sweep_steps)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = rg_param(g, "x", 0, NULL, (double[]){0.3});
    rg_node *a = rg_tanh(x);   /* VJP applied second */
    rg_node *y = rg_exp(a);    /* VJP applied first */
    rg_node *gx;
    ck_assert_int_eq(rg_grad(y, 1, &x, &gx), RG_OK);
    ck_assert_int_eq(rg_node_sweep_step(gx), 2);
    ck_assert_ptr_eq(rg_node_grad_of(gx), x);
    int max_step = 0;
    for (size_t id = rg_node_id(y) + 1; id < rg_graph_node_count(g); id++) {
        rg_node *n = rg_graph_node(g, id);
        ck_assert(rg_node_is_grad(n));
        if (rg_node_sweep_step(n) > max_step)
            max_step = rg_node_sweep_step(n);
    }
    ck_assert_int_eq(max_step, 2);
    double t = tanh(0.3);
    ck_assert_double_eq_tol(eval_item(gx), exp(t) * (1 - t * t), 1e-15);
    rg_graph_free(g);
}
END_TEST

static rg_status id_shape(rg_node *n)
{
    const rg_node *x = rg_node_input(n, 0);
    return rg_node_set_shape(n, rg_node_ndim(x), rg_node_shape(x));
}

static rg_status id_f64(rg_node *n)
{
    memcpy(rg_node_data(n), rg_node_data(rg_node_input(n, 0)),
           (size_t)rg_node_size(n) * sizeof(double));
    return RG_OK;
}

static rg_status bad_vjp(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    (void)n, (void)gy, (void)need, (void)gin;
    return RG_OK; /* forgets to produce a gradient */
}

START_TEST(test_missing_vjp_is_an_error)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_op_def def = {.name = "opaque", .arity = 1, .shape = id_shape, .forward_f64 = id_f64};
    int op = rg_op_register(g, &def);
    rg_node *x = rg_param(g, "x", 0, NULL, (double[]){1});
    rg_node *y = rg_exp(rg_apply(g, op, 1, &x)), *gx = x;
    ck_assert_int_eq(rg_grad(y, 1, &x, &gx), RG_ERR_NO_VJP);
    ck_assert_ptr_null(gx);
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g), "op 'opaque'"));
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g), "no derivative rule"));
    rg_graph_clear_error(g);
    /* forward still works, and an op off the path does not matter */
    ck_assert_double_eq_tol(eval_item(y), exp(1), 1e-15);
    rg_node *z = rg_add(rg_exp(x), rg_apply(g, op, 1, &(rg_node *){rg_scalar(g, 2)}));
    ck_assert_int_eq(rg_grad(z, 1, &x, &gx), RG_OK);
    ck_assert_double_eq_tol(eval_item(gx), exp(1), 1e-15);

    def.name = "forgetful";
    def.vjp = bad_vjp;
    op = rg_op_register(g, &def);
    y = rg_apply(g, op, 1, &x);
    ck_assert_int_eq(rg_grad(y, 1, &x, &gx), RG_ERR_NO_VJP);
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g), "'forgetful'"));
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g), "no gradient for input 0"));
    rg_graph_free(g);
}
END_TEST

START_TEST(test_grad_arguments)
{
    rg_graph *g = rg_graph_new(RG_F64), *h = rg_graph_new(RG_F64);
    rg_node *x = rg_param(g, "x", 0, NULL, NULL), *other = rg_param(h, "o", 0, NULL, NULL);
    rg_node *y = rg_exp(x), *gx;
    ck_assert_int_eq(rg_grad(NULL, 1, &x, &gx), RG_ERR_ARG);
    ck_assert_int_eq(rg_grad(y, 1, &other, &gx), RG_ERR_GRAPH);
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g), "another graph"));
    rg_graph_clear_error(g);
    ck_assert_int_eq(rg_grad(y, 1, (rg_node *[]){NULL}, &gx), RG_ERR_ARG);
    rg_graph_free(g);
    rg_graph_free(h);
}
END_TEST

static Suite *autodiff_suite(void)
{
    Suite *s = suite_create("autodiff");
    TCase *tc = tcase_create("sweep");
    tcase_add_test(tc, test_fan_out);
    tcase_add_test(tc, test_disconnected_gets_zeros);
    tcase_add_test(tc, test_inputs_anywhere);
    tcase_add_test(tc, test_no_work_off_the_path);
    tcase_add_test(tc, test_vjp_with_seed);
    tcase_add_test(tc, test_grad_needs_scalar);
    tcase_add_test(tc, test_sweep_steps);
    suite_add_tcase(s, tc);
    tc = tcase_create("higher_order");
    tcase_add_test(tc, test_grad_of_grad);
    suite_add_tcase(s, tc);
    tc = tcase_create("deep");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_million_node_chain);
    suite_add_tcase(s, tc);
    tc = tcase_create("backward");
    tcase_add_test(tc, test_backward_fills_param_grads);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, test_missing_vjp_is_an_error);
    tcase_add_test(tc, test_grad_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(autodiff_suite());
}
