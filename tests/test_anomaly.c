/* Anomaly mode (rg_graph_set_check_finite): a NaN or infinity is traced to the op that made
 * it, forward or backward, in one run, with a message naming the node and its inputs'
 * ranges; a non-finite input or parameter is reported as such; with the mode off nothing is
 * checked; the check allocates nothing. Then `retrograd expr --check-finite` and `retrograd
 * train --check-finite` end to end (the binary's path comes in RETROGRAD_BIN).
 *
 * Expected messages are written out in full: the node ids are creation indices, counted by
 * hand from the order the test builds the nodes in. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retrograd.h"

#include "runbin.h"
#include "suite.h"

/* ---- helpers --------------------------------------------------------------------------- */

static rg_node *param_f64(rg_graph *g, const char *name, int64_t n, const double *v)
{
    rg_node *p = rg_param(g, name, 1, &n, NULL);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(rg_feed_f64(p, v, n), RG_OK);
    return p;
}

static rg_node *named(rg_node *n, const char *name)
{
    ck_assert_ptr_nonnull(n);
    ck_assert_int_eq(rg_node_set_name(n, name), RG_OK);
    return n;
}

/* Evaluates the targets with anomaly mode on; expects RG_ERR_DOMAIN and exactly `msg`. */
static void assert_caught(rg_graph *g, int n, rg_node *const *targets, const char *msg)
{
    rg_graph_set_check_finite(g, true);
    ck_assert_int_eq(rg_eval(g, n, targets), RG_ERR_DOMAIN);
    ck_assert_int_eq(rg_graph_status(g), RG_ERR_DOMAIN);
    ck_assert_str_eq(rg_graph_errmsg(g), msg);
}

/* ---- forward: the op that made the NaN ------------------------------------------------- */

/* a = x - 2.5 = [0.5, 1.5, -1.5, -0.5]; log(a) is NaN at elements 2 and 3. Ids: x 0, the
 * scalar 2.5 1, a 2, b 3. */
START_TEST(test_log_of_negative)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = param_f64(g, "x", 4, (double[]){3, 4, 1, 2});
    rg_node *a = named(rg_sub(x, rg_scalar(g, 2.5)), "a");
    rg_node *b = named(rg_log(a), "b");
    rg_node *y = rg_sum(rg_exp(b), RG_AXIS_ALL, false);
    assert_caught(g, 1, &y,
                  "check_finite: node 3 'log' (b) produced nan at element 2 (2 of 4 "
                  "non-finite); inputs: #2 'sub' (a) [min -1.5, max 1.5]");
    rg_graph_free(g);
}
END_TEST

/* 0/0 in element 1 of an unnamed div: ids x 0, x / x 1. */
START_TEST(test_zero_over_zero)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = param_f64(g, "x", 3, (double[]){2, 0, -4});
    rg_node *y = rg_sum(rg_div(x, x), RG_AXIS_ALL, false);
    assert_caught(g, 1, &y,
                  "check_finite: node 1 'div' produced nan at element 1 (1 of 3 non-finite); "
                  "inputs: #0 'param' (x) [min -4, max 2], #0 'param' (x) [min -4, max 2]");
    rg_graph_free(g);
}
END_TEST

/* inf - inf where the infinities come from a constant: constants are not blamed on their
 * own, so the sub that turns them into NaN is, and its input shows no finite value. Ids: c 0,
 * s 1 (c - c), y 2. */
START_TEST(test_inf_minus_inf)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *c = rg_scalar(g, INFINITY);
    rg_node *s = named(rg_sub(c, c), "s");
    rg_node *y = rg_mul(s, rg_scalar(g, 2));
    assert_caught(g, 1, &y,
                  "check_finite: node 1 'sub' (s) produced nan at element 0 (1 of 1 "
                  "non-finite); inputs: #0 'const' [no finite value, 1 non-finite], #0 'const' "
                  "[no finite value, 1 non-finite]");
    rg_graph_free(g);
}
END_TEST

/* The first non-finite value stops the run: exp(1000) is +inf before anything downstream
 * (the later inf - inf would be NaN) runs. Ids: x 0, e 1, d 2. */
START_TEST(test_stops_at_first)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = param_f64(g, "x", 2, (double[]){1, 1000});
    rg_node *e = named(rg_exp(x), "e");
    rg_node *d = named(rg_sub(e, e), "d");
    rg_node *y = rg_sum(d, RG_AXIS_ALL, false);
    assert_caught(g, 1, &y,
                  "check_finite: node 1 'exp' (e) produced inf at element 1 (1 of 2 "
                  "non-finite); inputs: #0 'param' (x) [min 1, max 1000]");
    /* d never ran: with the option off it is NaN at element 1 (inf - inf), so a value there
     * would have been computed by this run */
    ck_assert_ptr_null(rg_node_data(d));
    rg_graph_free(g);
}
END_TEST

/* The same on an f32 graph, where e^100 already overflows (the f32 maximum is 3.4e38). */
START_TEST(test_f32)
{
    rg_graph *g = rg_graph_new(RG_F32);
    int64_t n = 2;
    rg_node *x = rg_input(g, "x", 1, &n);
    ck_assert_int_eq(rg_feed(x, (float[]){-100, 100}), RG_OK);
    rg_node *y = rg_sum(rg_exp(x), RG_AXIS_ALL, false);
    assert_caught(g, 1, &y,
                  "check_finite: node 1 'exp' produced inf at element 1 (1 of 2 non-finite); "
                  "inputs: #0 'input' (x) [min -100, max 100]");
    rg_graph_free(g);
}
END_TEST

/* ---- backward: the gradient node that made the NaN ------------------------------------- */

/* y = sqrt(x) * 0 at x = 0: the forward pass is finite (0), but sqrt's VJP divides the
 * incoming gradient 0 * 0.5 by sqrt(0) = 0: 0/0. That div is the gradient of x. */
START_TEST(test_backward_sqrt)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = param_f64(g, "x", 1, (double[]){0});
    rg_node *y = rg_sum(rg_mul(rg_sqrt(x), rg_scalar(g, 0)), RG_AXIS_ALL, false);
    rg_node *gx = NULL;
    ck_assert_int_eq(rg_grad(y, 1, &x, &gx), RG_OK);
    ck_assert(rg_node_is_grad(gx));
    ck_assert_ptr_eq(rg_node_grad_of(gx), x);
    ck_assert_str_eq(rg_node_op_name(gx), "div");
    rg_node *num = rg_node_input(gx, 0), *den = rg_node_input(gx, 1);
    ck_assert_str_eq(rg_node_op_name(den), "sqrt");
    char want[512];
    snprintf(want, sizeof want,
             "check_finite: node %zu 'div' (gradient of x) in the backward pass (sweep step "
             "%d) produced nan at element 0 (1 of 1 non-finite); inputs: #%zu 'mul' [min 0, "
             "max 0], #%zu 'sqrt' [min 0, max 0]",
             rg_node_id(gx), rg_node_sweep_step(gx), rg_node_id(num), rg_node_id(den));
    assert_caught(g, 2, (rg_node *[]){y, gx}, want);
    /* the forward value was computed and is finite: only the backward pass failed */
    ck_assert_double_eq(rg_node_item(y), 0);
    rg_graph_free(g);
}
END_TEST

/* A gradient node tied to an unnamed forward node is named by that node's id and op:
 * a = x * 1 (id 2, unnamed), y = sqrt(a); at x = 0 the gradient of a is 0.5 / 0 = +inf. */
START_TEST(test_backward_unnamed_forward)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = param_f64(g, "x", 1, (double[]){0});
    rg_node *a = rg_mul(x, rg_scalar(g, 1));
    ck_assert_uint_eq(rg_node_id(a), 2);
    rg_node *y = rg_sum(rg_sqrt(a), RG_AXIS_ALL, false);
    rg_node *gx = NULL;
    ck_assert_int_eq(rg_grad(y, 1, &x, &gx), RG_OK);
    rg_graph_set_check_finite(g, true);
    ck_assert_int_eq(rg_eval(g, 1, &gx), RG_ERR_DOMAIN);
    const char *msg = rg_graph_errmsg(g);
    ck_assert_msg(strstr(msg, "'div' (gradient of node 2 'mul') in the backward pass (sweep "
                              "step ") &&
                      strstr(msg, ") produced inf at element 0 (1 of 1 non-finite); inputs:"),
                  "message: %s", msg);
    rg_graph_free(g);
}
END_TEST

/* rg_backward runs the same executor: a NaN in a parameter's gradient stops it too, and a
 * clean graph passes with the same values as with the option off. */
START_TEST(test_backward_clean_and_same_values)
{
    rg_graph *g = rg_graph_new(RG_F64);
    int64_t xs[2] = {2, 3}, ws[2] = {3, 2};
    rg_node *x = rg_const(g, 2, xs, (double[]){1, -2, 0.5, 3, 0, -1});
    rg_node *w = rg_param(g, "w", 2, ws, (double[]){0.1, -0.2, 0.3, 0.4, -0.5, 0.6});
    rg_node *labels = rg_const(g, 1, (int64_t[]){2}, (double[]){0, 1});
    rg_node *h = rg_tanh(rg_matmul(x, w));
    rg_node *loss = rg_cross_entropy(rg_softplus(h), labels);
    ck_assert_int_eq(rg_backward(loss), RG_OK);
    double off[7];
    off[0] = rg_node_item(loss);
    ck_assert_int_eq(rg_node_read_f64(rg_node_grad(w), off + 1), RG_OK);
    rg_graph_set_check_finite(g, true);
    ck_assert(rg_graph_check_finite(g));
    ck_assert_int_eq(rg_backward(loss), RG_OK);
    double on[7];
    on[0] = rg_node_item(loss);
    ck_assert_int_eq(rg_node_read_f64(rg_node_grad(w), on + 1), RG_OK);
    ck_assert_mem_eq(on, off, sizeof on);
    rg_graph_free(g);
}
END_TEST

/* ---- inputs and parameters that are already non-finite --------------------------------- */

/* Ids: x 0, the scalar 2 1, the mul 2. The op is not blamed: the input is. */
START_TEST(test_nonfinite_input)
{
    rg_graph *g = rg_graph_new(RG_F64);
    int64_t n = 3;
    rg_node *x = rg_input(g, "x", 1, &n);
    ck_assert_int_eq(rg_feed_f64(x, (double[]){1, NAN, 3}, 3), RG_OK);
    rg_node *y = rg_sum(rg_mul(x, rg_scalar(g, 2)), RG_AXIS_ALL, false);
    assert_caught(g, 1, &y,
                  "check_finite: node 0 'input' (x) holds nan at element 1 (1 of 3 "
                  "non-finite), read by node 2 'mul'");
    /* fed again with finite data, the same graph runs clean */
    rg_graph_clear_error(g);
    ck_assert_int_eq(rg_feed_f64(x, (double[]){1, 2, 3}, 3), RG_OK);
    ck_assert_int_eq(rg_eval1(y), RG_OK);
    ck_assert_double_eq(rg_node_item(y), 12);
    rg_graph_free(g);
}
END_TEST

/* A parameter an optimiser pushed to infinity, read by exp (which would turn -inf into a
 * harmless 0: the parameter is still reported). Ids: w 0, exp 1. */
START_TEST(test_nonfinite_param)
{
    rg_graph *g = rg_graph_new(RG_F32);
    int64_t n = 2;
    rg_node *w = rg_param(g, "w", 1, &n, (float[]){-INFINITY, 1});
    rg_node *y = named(rg_exp(w), "y");
    assert_caught(g, 1, &y,
                  "check_finite: node 0 'param' (w) holds -inf at element 0 (1 of 2 "
                  "non-finite), read by node 1 'exp' (y)");
    rg_graph_free(g);
}
END_TEST

/* ---- the option off, and the cost of the option on ------------------------------------- */

START_TEST(test_off_evaluates)
{
    rg_graph *g = rg_graph_new(RG_F64);
    ck_assert(!rg_graph_check_finite(g));
    rg_node *x = param_f64(g, "x", 4, (double[]){3, 4, 1, 2});
    rg_node *b = rg_log(rg_sub(x, rg_scalar(g, 2.5)));
    rg_node *y = rg_sum(b, RG_AXIS_ALL, false);
    rg_node *z = rg_div(rg_sub(x, x), rg_sub(x, x)); /* 0/0 everywhere */
    ck_assert_int_eq(rg_eval(g, 2, (rg_node *[]){y, z}), RG_OK);
    ck_assert_int_eq(rg_graph_status(g), RG_OK);
    ck_assert(isnan(rg_node_item(y)));
    for (int64_t i = 0; i < 4; i++)
        ck_assert(isnan(rg_node_get(z, i)));
    /* on, then off again: the run is clean again */
    rg_graph_set_check_finite(g, true);
    ck_assert_int_eq(rg_eval(g, 2, (rg_node *[]){y, z}), RG_ERR_DOMAIN);
    rg_graph_clear_error(g);
    rg_graph_set_check_finite(g, false);
    ck_assert_int_eq(rg_eval(g, 2, (rg_node *[]){y, z}), RG_OK);
    /* NULL is harmless */
    rg_graph_set_check_finite(NULL, true);
    ck_assert(!rg_graph_check_finite(NULL));
    rg_graph_free(g);
}
END_TEST

/* Re-running with the option on allocates nothing, whether the run passes or stops; turning
 * the option on or off keeps the cached plan. */
START_TEST(test_no_allocation)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = param_f64(g, "x", 3, (double[]){1, 2, 3});
    rg_node *y = rg_sum(rg_log(x), RG_AXIS_ALL, false);
    rg_node *gx = NULL;
    ck_assert_int_eq(rg_grad(y, 1, &x, &gx), RG_OK);
    rg_node *t[2] = {y, gx};
    ck_assert_int_eq(rg_eval(g, 2, t), RG_OK); /* builds the plan */
    uint64_t count = rg_graph_alloc_count(g);
    rg_graph_set_check_finite(g, true);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(rg_eval(g, 2, t), RG_OK);
    ck_assert_uint_eq(rg_graph_alloc_count(g), count);
    ck_assert_int_eq(rg_feed_f64(x, (double[]){1, -2, 3}, 3), RG_OK);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(rg_eval(g, 2, t), RG_ERR_DOMAIN);
        rg_graph_clear_error(g);
    }
    ck_assert_uint_eq(rg_graph_alloc_count(g), count);
    rg_graph_set_check_finite(g, false);
    ck_assert_int_eq(rg_eval(g, 2, t), RG_OK);
    ck_assert_uint_eq(rg_graph_alloc_count(g), count);
    rg_graph_free(g);
}
END_TEST

/* A kernel's own complaint (a label out of range) is still reported as the kernel's. */
START_TEST(test_kernel_error_unchanged)
{
    rg_graph *g = rg_graph_new(RG_F64);
    int64_t s[2] = {1, 2};
    rg_node *logits = rg_const(g, 2, s, (double[]){0, 1});
    rg_node *labels = rg_const(g, 1, (int64_t[]){1}, (double[]){5});
    rg_node *y = rg_cross_entropy(logits, labels);
    rg_graph_set_check_finite(g, true);
    ck_assert_int_eq(rg_eval1(y), RG_ERR_DOMAIN);
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g), "cross_entropy: label 5"));
    rg_graph_free(g);
}
END_TEST

/* ---- the commands ---------------------------------------------------------------------- */

START_TEST(test_expr_check_finite)
{
    /* ids: x 0, log 1 */
    ck_assert_int_eq(RUN("expr", "--check-finite", "log(x)", "--at", "x=-1"), 1);
    ck_assert_str_eq(run_err, "retrograd: evaluation: check_finite: node 1 'log' produced nan "
                              "at element 0 (1 of 1 non-finite); inputs: #0 'param' (x) "
                              "[min -1, max -1]\n");
    ck_assert_str_eq(run_out, "");
    /* without the option the NaN is printed and the run succeeds */
    ck_assert_int_eq(RUN("expr", "log(x)", "--at", "x=-1"), 0);
    ck_assert_ptr_nonnull(strstr(run_out, "value: nan"));
    /* a finite program is unaffected */
    ck_assert_int_eq(RUN("expr", "--check-finite", "log(x)", "--at", "x=1"), 0);
    ck_assert_str_eq(run_err, "");
    /* the backward pass: finite value, NaN gradient, traced to the gradient node */
    ck_assert_int_eq(RUN("expr", "--check-finite", "y = sqrt(x) * 0; y", "--at", "x=0"), 1);
    ck_assert_msg(strstr(run_err, "(gradient of x) in the backward pass (sweep step"),
                  "stderr: %s", run_err);
    /* the option takes no value */
    ck_assert_int_eq(RUN("expr", "--check-finite=1", "x", "--at", "x=1"), 2);
}
END_TEST

START_TEST(test_train_check_finite)
{
    /* sgd at the largest rate the command accepts blows the weights up within a few steps */
    ck_assert_int_eq(RUN("train", "--check-finite", "--opt", "sgd", "--lr", "1e6", "--quiet",
                         "--epochs", "5"),
                     1);
    ck_assert_msg(strncmp(run_err, "retrograd: epoch 1, step ", 25) == 0, "stderr: %s", run_err);
    ck_assert_msg(strstr(run_err, ": check_finite: node ") && strstr(run_err, "; inputs: #"),
                  "stderr: %s", run_err);
    size_t len = strlen(run_err);
    ck_assert_msg(len > 0 && !memchr(run_err, '\n', len - 1), "not one line: %s", run_err);
    /* a sane run with the option passes */
    ck_assert_int_eq(RUN("train", "--check-finite", "--quiet", "--epochs", "2"), 0);
    ck_assert_str_eq(run_err, "");
}
END_TEST

static Suite *anomaly_suite(void)
{
    Suite *s = suite_create("anomaly");
    const tu_case cases[] = {
        {"log_of_negative", test_log_of_negative, 0},
        {"zero_over_zero", test_zero_over_zero, 0},
        {"inf_minus_inf", test_inf_minus_inf, 0},
        {"stops_at_first", test_stops_at_first, 0},
        {"f32", test_f32, 0},
        {"backward_sqrt", test_backward_sqrt, 0},
        {"backward_unnamed_forward", test_backward_unnamed_forward, 0},
        {"backward_clean_and_same_values", test_backward_clean_and_same_values, 0},
        {"nonfinite_input", test_nonfinite_input, 0},
        {"nonfinite_param", test_nonfinite_param, 0},
        {"off_evaluates", test_off_evaluates, 0},
        {"no_allocation", test_no_allocation, 0},
        {"kernel_error_unchanged", test_kernel_error_unchanged, 0},
        {"expr_check_finite", test_expr_check_finite, 0},
        {"train_check_finite", test_train_check_finite, 0},
    };
    tu_add_cases(s, cases, sizeof cases / sizeof *cases);
    return s;
}

int main(void)
{
    return tu_run_suite(anomaly_suite());
}
