/* Graph module: creation, leaves, feeding, errors and their messages, custom ops. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retrograd.h"
#include "testutil.h"

START_TEST(test_new_and_free)
{
    ck_assert_ptr_null(rg_graph_new((rg_dtype)7));
    rg_graph_free(NULL); /* a no-op */
    rg_graph *g = rg_graph_new(RG_F32);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(rg_graph_dtype(g), RG_F32);
    ck_assert_uint_eq(rg_graph_node_count(g), 0);
    ck_assert_int_eq(rg_graph_status(g), RG_OK);
    ck_assert_str_eq(rg_graph_errmsg(g), "");
    rg_graph_free(g);
}
END_TEST

START_TEST(test_leaves)
{
    rg_graph *g = rg_graph_new(RG_F64);
    int64_t shape[2] = {2, 3};
    double v[6] = {1, 2, 3, 4, 5, 6};
    rg_node *x = rg_input(g, "x", 2, shape);
    rg_node *w = rg_param(g, "w", 2, shape, v);
    rg_node *c = rg_const(g, 2, shape, v);
    rg_node *s = rg_scalar(g, 2.5);
    ck_assert_int_eq(rg_node_kind(x), RG_KIND_INPUT);
    ck_assert_int_eq(rg_node_kind(w), RG_KIND_PARAM);
    ck_assert_int_eq(rg_node_kind(c), RG_KIND_CONST);
    ck_assert_str_eq(rg_node_name(x), "x");
    ck_assert_ptr_null(rg_node_name(c));
    ck_assert_str_eq(rg_node_op_name(w), "param");
    ck_assert_uint_eq(rg_node_id(x), 0);
    ck_assert_uint_eq(rg_node_id(s), 3);
    ck_assert_ptr_eq(rg_graph_node(g, 1), w);
    ck_assert_ptr_null(rg_graph_node(g, 4));
    ck_assert_int_eq(rg_node_ndim(s), 0);
    ck_assert_int_eq(rg_node_size(s), 1);
    ck_assert_int_eq(rg_node_size(x), 6);
    ck_assert_double_eq(rg_node_item(s), 2.5);
    /* inputs start zeroed; parameters and constants hold a copy of the data */
    ck_assert_double_eq(rg_node_get(x, 5), 0.0);
    v[5] = 99;
    ck_assert_double_eq(rg_node_get(w, 5), 6.0);
    ck_assert(isnan(rg_node_get(w, 6)));
    double in[6] = {6, 5, 4, 3, 2, 1};
    ck_assert_int_eq(rg_feed(x, in), RG_OK);
    ck_assert_double_eq(rg_node_get(x, 0), 6.0);
    ck_assert_int_eq(rg_feed_f64(x, in, 5), RG_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g), "holds 6 values, given 5"));
    rg_graph_clear_error(g);
    /* a borrowed buffer is read in place */
    double borrowed[6] = {7, 7, 7, 7, 7, 8};
    ck_assert_int_eq(rg_feed_borrow(x, borrowed), RG_OK);
    ck_assert_ptr_eq(rg_node_data(x), borrowed);
    ck_assert_int_eq(rg_feed_borrow(x, NULL), RG_OK);
    ck_assert_double_eq(rg_node_get(x, 0), 6.0);
    char buf[32];
    ck_assert_str_eq(rg_shape_str(2, shape, buf, sizeof buf), "[2,3]");
    ck_assert_str_eq(rg_shape_str(0, NULL, buf, sizeof buf), "[]");
    rg_graph_free(g);
}
END_TEST

START_TEST(test_f32_feed_converts)
{
    rg_graph *g = rg_graph_new(RG_F32);
    int64_t shape[1] = {3};
    rg_node *x = rg_input(g, "x", 1, shape);
    double v[3] = {0.5, -1.25, 3};
    ck_assert_int_eq(rg_feed_f64(x, v, 3), RG_OK);
    const float *f = rg_node_data(x);
    ck_assert_float_eq(f[1], -1.25f);
    double out[3];
    ck_assert_int_eq(rg_node_read_f64(x, out), RG_OK);
    ck_assert_double_eq(out[2], 3.0);
    rg_graph_free(g);
}
END_TEST

/* Every error below must name the op and the shapes, return NULL and leave the first error. */
START_TEST(test_errors_are_sticky_and_null_propagates)
{
    rg_graph *g = rg_graph_new(RG_F64);
    int64_t s34[2] = {3, 4}, s52[2] = {5, 2};
    rg_node *a = rg_input(g, "a", 2, s34);
    rg_node *b = rg_input(g, "b", 2, s52);
    rg_node *bad = rg_matmul(a, b);
    ck_assert_ptr_null(bad);
    ck_assert_int_eq(rg_graph_status(g), RG_ERR_SHAPE);
    ck_assert_str_eq(rg_graph_errmsg(g), "matmul: inner dimensions differ: [3,4] @ [5,2]");
    /* the rest of the expression builds to NULL without a second error */
    rg_node *y = rg_sum(rg_tanh(rg_add(bad, a)), RG_AXIS_ALL, false);
    ck_assert_ptr_null(y);
    ck_assert_str_eq(rg_graph_errmsg(g), "matmul: inner dimensions differ: [3,4] @ [5,2]");
    size_t nodes = rg_graph_node_count(g);
    ck_assert_ptr_null(rg_add(a, b)); /* a later error is not recorded over the first */
    ck_assert_str_eq(rg_graph_errmsg(g), "matmul: inner dimensions differ: [3,4] @ [5,2]");
    ck_assert_uint_eq(rg_graph_node_count(g), nodes); /* failed builders add no node */
    rg_graph_clear_error(g);
    ck_assert_int_eq(rg_graph_status(g), RG_OK);
    ck_assert_ptr_null(rg_add(a, b));
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g), "[3,4]"));
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g), "[5,2]"));
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g), "add"));
    rg_graph_free(g);
}
END_TEST

START_TEST(test_bad_shapes_and_graphs)
{
    rg_graph *g = rg_graph_new(RG_F64), *h = rg_graph_new(RG_F64);
    int64_t neg[2] = {2, -1}, nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    ck_assert_ptr_null(rg_input(g, "x", 2, neg));
    ck_assert_int_eq(rg_graph_status(g), RG_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g), "invalid dimension -1"));
    rg_graph_clear_error(g);
    ck_assert_ptr_null(rg_input(g, "x", 9, nine));
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g), "0 to 8 dimensions"));
    rg_graph_clear_error(g);
    rg_node *a = rg_scalar(g, 1), *b = rg_scalar(h, 2);
    ck_assert_ptr_null(rg_add(a, b));
    ck_assert_int_eq(rg_graph_status(g), RG_ERR_GRAPH);
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g), "another graph"));
    /* an op node cannot be fed */
    rg_graph_clear_error(g);
    rg_node *n = rg_neg(a);
    double v = 1;
    ck_assert_int_eq(rg_feed(n, &v), RG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g), "not an input or parameter"));
    rg_graph_free(g);
    rg_graph_free(h);
}
END_TEST

START_TEST(test_strerror)
{
    ck_assert_str_eq(rg_strerror(RG_OK), "success");
    ck_assert_str_eq(rg_strerror(RG_ERR_SHAPE), "shape mismatch");
    ck_assert_str_eq(rg_strerror(RG_ERR_NO_VJP), "op has no derivative rule");
    ck_assert_str_eq(rg_strerror((rg_status)1000), "unknown status");
    ck_assert_str_eq(rg_version(), RG_VERSION_STRING);
}
END_TEST

/* A user op: cube(x) = x^3 elementwise, derivative 3x^2 built from public ops. */
static rg_status cube_shape(rg_node *n)
{
    const rg_node *x = rg_node_input(n, 0);
    return rg_node_set_shape(n, rg_node_ndim(x), rg_node_shape(x));
}

static rg_status cube_f64(rg_node *n)
{
    const double *x = rg_node_data(rg_node_input(n, 0));
    double *y = rg_node_data(n);
    for (int64_t i = 0; i < rg_node_size(n); i++)
        y[i] = x[i] * x[i] * x[i];
    return RG_OK;
}

static rg_status cube_vjp(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    rg_node *x = rg_node_input(n, 0);
    if (need[0])
        gin[0] = rg_mul(gy, rg_mul(rg_scalar(rg_node_graph(n), 3.0), rg_square(x)));
    return rg_graph_status(rg_node_graph(n));
}

START_TEST(test_custom_op)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_op_def def = {.name = "cube", .arity = 1, .shape = cube_shape, .forward_f64 = cube_f64,
                     .vjp = cube_vjp};
    int op = rg_op_register(g, &def);
    ck_assert_int_ge(op, 0);
    ck_assert_int_eq(rg_op_lookup(g, "cube"), op);
    ck_assert_str_eq(rg_op_name(g, op), "cube");
    ck_assert_int_eq(rg_op_arity(g, op), 1);
    ck_assert_int_eq(rg_op_count(g), op + 1);
    ck_assert_int_eq(rg_op_register(g, &def), -1); /* same name twice */
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g), "exists already"));
    rg_graph_clear_error(g);

    int64_t shape[1] = {3};
    uint64_t seed = 7;
    rg_node *x = tu_param(g, "x", 1, shape, -2, 2, &seed);
    rg_node *y = rg_apply(g, op, 1, &x);
    ck_assert_str_eq(rg_node_op_name(y), "cube");
    rg_node *loss = rg_sum(y, RG_AXIS_ALL, false);
    ck_assert_int_eq(rg_eval1(loss), RG_OK);
    double want = 0;
    for (int i = 0; i < 3; i++)
        want += pow(rg_node_get(x, i), 3);
    ck_assert_double_eq_tol(rg_node_item(loss), want, 1e-12);
    ck_assert_gradcheck(loss, 1, &x);
    rg_node *h = tu_second_order(loss, 1, &x, &seed);
    ck_assert_gradcheck(h, 1, &x);

    /* wrong arity, unknown op, leaf op */
    ck_assert_ptr_null(rg_apply(g, op, 2, (rg_node *[]){x, x}));
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g), "cube: takes 1 inputs, given 2"));
    rg_graph_clear_error(g);
    ck_assert_ptr_null(rg_apply(g, 999, 1, &x));
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g), "unknown op id 999"));
    rg_graph_clear_error(g);
    ck_assert_ptr_null(rg_apply(g, rg_op_lookup(g, "input"), 0, NULL));
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g), "is a leaf"));
    rg_graph_free(g);

    /* no f32 kernel: an f32 graph refuses the op when it is built */
    rg_graph *g32 = rg_graph_new(RG_F32);
    op = rg_op_register(g32, &def);
    rg_node *x32 = rg_input(g32, "x", 1, shape);
    ck_assert_ptr_null(rg_apply(g32, op, 1, &x32));
    ck_assert_int_eq(rg_graph_status(g32), RG_ERR_DTYPE);
    ck_assert_str_eq(rg_graph_errmsg(g32), "cube: no f32 kernel");
    rg_graph_free(g32);
}
END_TEST

START_TEST(test_register_rejects_incomplete)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_op_def def = {.name = "half", .arity = 1};
    ck_assert_int_eq(rg_op_register(g, &def), -1);
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g), "half: needs an arity"));
    rg_graph_clear_error(g);
    def.name = NULL;
    ck_assert_int_eq(rg_op_register(g, &def), -1);
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g), "needs a name"));
    rg_graph_free(g);
}
END_TEST

/* Allocation hook: counts calls and can fail the k-th one. */
struct counting {
    long calls, fail_at, live;
};

static void *c_malloc(void *ctx, size_t n)
{
    struct counting *c = ctx;
    if (++c->calls == c->fail_at)
        return NULL;
    c->live++;
    return malloc(n);
}

static void c_free(void *ctx, void *p)
{
    struct counting *c = ctx;
    if (p)
        c->live--;
    free(p);
}

START_TEST(test_allocator_hook_and_failure)
{
    /* Build and evaluate a small graph failing each allocation in turn: every run either
     * succeeds or reports out-of-memory, and frees everything it took. */
    for (long k = 1; k < 200; k++) {
        struct counting c = {0, k, 0};
        rg_allocator a = {c_malloc, NULL, c_free, &c};
        rg_graph *g = rg_graph_new_with_allocator(RG_F64, &a);
        if (g) {
            int64_t shape[2] = {2, 3};
            rg_node *x = rg_param(g, "x", 2, shape, NULL);
            rg_node *y = rg_sum(rg_tanh(rg_mul(x, x)), RG_AXIS_ALL, false);
            rg_node *gx = NULL;
            rg_status st = y ? rg_grad(y, 1, &x, &gx) : rg_graph_status(g);
            if (st == RG_OK)
                st = rg_eval(g, 2, (rg_node *[]){y, gx});
            ck_assert(st == RG_OK || st == RG_ERR_NOMEM);
            if (st == RG_OK && c.fail_at > c.calls) {
                rg_graph_free(g);
                ck_assert_int_eq(c.live, 0);
                break; /* every allocation point has been failed once */
            }
            rg_graph_free(g);
        }
        ck_assert_int_eq(c.live, 0);
    }
}
END_TEST

/* Names of 3 to 45 characters. */
static void param_name(char *buf, size_t len, int k)
{
    snprintf(buf, len, "p%d_%.*s", k, k % 40, "abcdefghijklmnopqrstuvwxyz0123456789ABCD");
}

/* A graph spanning many arena chunks, with names (one longer than a whole first chunk),
 * small constants and a rejected node in between: every node keeps its id, inputs, name
 * and value, and the result matches the same recurrence computed here. */
START_TEST(test_large_graph_keeps_every_node)
{
    rg_graph *g = rg_graph_new(RG_F64);
    char *long_name = malloc(40001);
    memset(long_name, 'n', 40000);
    long_name[40000] = '\0';
    rg_node *v = rg_param(g, long_name, 0, NULL, (double[]){1});
    rg_node *half = rg_scalar(g, 0.5);
    rg_node *pair = rg_const(g, 1, (int64_t[]){2}, (double[]){1, 2});
    rg_node *params[200];
    char name[64];
    double want = 1;
    int np = 0;
    size_t wrong = 0; /* counted, not asserted node by node: a Check assertion is slow */
    for (int i = 0; i < 200000; i++) {
        if (i % 1000 == 0) {
            param_name(name, sizeof name, np);
            params[np] = rg_param(g, name, 0, NULL, (double[]){np * 0.25});
            v = rg_add(v, params[np]);
            want += np * 0.25;
            np++;
        }
        if (i == 100000) { /* a node rejected by its shape rule leaves no gap */
            size_t n = rg_graph_node_count(g);
            ck_assert_ptr_null(rg_add(pair, rg_const(g, 1, (int64_t[]){3}, NULL)));
            ck_assert_uint_eq(rg_graph_node_count(g), n + 1);
            rg_graph_clear_error(g);
        }
        rg_node *prev = v;
        v = rg_mul(v, half);
        wrong += rg_node_input(v, 0) != prev || rg_node_id(v) != rg_graph_node_count(g) - 1;
        want *= 0.5;
    }
    for (size_t id = 0; id < rg_graph_node_count(g); id++)
        wrong += rg_node_id(rg_graph_node(g, id)) != id;
    ck_assert_uint_eq(wrong, 0);
    ck_assert_str_eq(rg_node_name(rg_graph_node(g, 0)), long_name);
    for (int k = 0; k < np; k++) {
        param_name(name, sizeof name, k);
        ck_assert_str_eq(rg_node_name(params[k]), name);
        ck_assert_double_eq(rg_node_item(params[k]), k * 0.25);
    }
    ck_assert_double_eq(rg_node_item(half), 0.5);
    ck_assert_double_eq(rg_node_get(pair, 1), 2.0);
    ck_assert_int_eq(rg_eval1(v), RG_OK);
    ck_assert_double_eq_tol(rg_node_item(v), want, 1e-12 * fabs(want));
    free(long_name);
    rg_graph_free(g);
}
END_TEST

static Suite *graph_suite(void)
{
    Suite *s = suite_create("graph");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_new_and_free);
    tcase_add_test(tc, test_leaves);
    tcase_add_test(tc, test_f32_feed_converts);
    tcase_add_test(tc, test_strerror);
    tcase_add_test(tc, test_large_graph_keeps_every_node);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, test_errors_are_sticky_and_null_propagates);
    tcase_add_test(tc, test_bad_shapes_and_graphs);
    suite_add_tcase(s, tc);
    tc = tcase_create("custom_ops");
    tcase_add_test(tc, test_custom_op);
    tcase_add_test(tc, test_register_rejects_incomplete);
    suite_add_tcase(s, tc);
    tc = tcase_create("allocator");
    tcase_add_test(tc, test_allocator_hook_and_failure);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(graph_suite());
}
