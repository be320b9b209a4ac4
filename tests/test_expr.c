/* The `retrograd` command and its `expr` subcommand, end to end: every test runs the built
 * binary (its path comes in RETROGRAD_BIN) and checks its exit status, its output and its
 * one-line error messages. Expected numbers are derived by hand in the comments. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retrograd.h"

#include "runbin.h"
#include "suite.h"

/* ---- reading the JSON output --------------------------------------------------------- */

/* Flattens the JSON value that follows `key` (searched after the first occurrence of
 * `within`, when given) into out[]: numbers in order, null as NaN. Returns the count. */
static int json_numbers(const char *json, const char *within, const char *key, double *out,
                        int max)
{
    const char *p = json;
    char pat[64];
    if (within) {
        snprintf(pat, sizeof pat, "\"%s\": {", within);
        p = strstr(p, pat);
        ck_assert_msg(p, "no %s in %s", pat, json);
    }
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    p = strstr(p, pat);
    ck_assert_msg(p, "no %s in %s", pat, json);
    p += strlen(pat);
    int n = 0, depth = 0;
    do {
        if (*p == '[') {
            depth++;
            p++;
        } else if (*p == ']') {
            depth--;
            p++;
        } else if (*p == ',' || *p == ' ') {
            p++;
        } else if (strncmp(p, "null", 4) == 0) {
            ck_assert_int_lt(n, max);
            out[n++] = NAN;
            p += 4;
        } else {
            char *end;
            double v = strtod(p, &end);
            ck_assert_msg(end != p, "not a number at '%.20s'", p);
            ck_assert_int_lt(n, max);
            out[n++] = v;
            p = end;
        }
    } while (depth > 0);
    return n;
}

static void assert_close(const double *got, const double *expect, int n, const char *what)
{
    for (int i = 0; i < n; i++) {
        if (isnan(expect[i])) {
            ck_assert_msg(isnan(got[i]), "%s[%d]: got %.17g, expected NaN", what, i, got[i]);
            continue;
        }
        ck_assert_msg(fabs(got[i] - expect[i]) <= 1e-12 * (1 + fabs(expect[i])),
                      "%s[%d]: got %.17g, expected %.17g", what, i, got[i], expect[i]);
    }
}

/* Asserts that the JSON in run_out has `key` (inside `within`) equal to expect[0..n-1]. */
static void assert_json(const char *within, const char *key, const double *expect, int n)
{
    double got[256];
    int count = json_numbers(run_out, within, key, got, 256);
    ck_assert_msg(count == n, "%s: %d numbers, expected %d (%s)", key, count, n, run_out);
    assert_close(got, expect, n, key);
}

/* ---- the command --------------------------------------------------------------------- */

START_TEST(test_command_help_version)
{
    ck_assert_int_eq(RUN("--help"), 0);
    ck_assert_ptr_nonnull(strstr(run_out, "usage: retrograd"));
    ck_assert_ptr_nonnull(strstr(run_out, "expr"));
    ck_assert_str_eq(run_err, "");

    ck_assert_int_eq(RUN("--version"), 0);
    char expect[64];
    snprintf(expect, sizeof expect, "%s\n", rg_version());
    ck_assert_str_eq(run_out, expect);

    ck_assert_int_eq(RUN("expr", "--help"), 0);
    ck_assert_ptr_nonnull(strstr(run_out, "usage: retrograd expr"));
    ck_assert_ptr_nonnull(strstr(run_out, "--hessian"));
    ck_assert_ptr_nonnull(strstr(run_out, "log_softmax"));
    ck_assert_str_eq(run_err, "");
}
END_TEST

START_TEST(test_command_usage_errors)
{
    /* No command, an unknown one, an unknown option: usage on stderr, status 2. */
    ck_assert_int_eq(RUN("frobnicate"), 2);
    ck_assert_str_eq(run_out, "");
    ck_assert_ptr_nonnull(strstr(run_err, "retrograd: unknown command 'frobnicate'"));
    ck_assert_ptr_nonnull(strstr(run_err, "usage: retrograd"));

    ck_assert_int_eq(run_argv(NULL, (const char *const[]){NULL}), 2);
    ck_assert_ptr_nonnull(strstr(run_err, "usage: retrograd"));

    ck_assert_int_eq(RUN("--frob"), 2);
    ck_assert_ptr_nonnull(strstr(run_err, "usage: retrograd"));

    RUN("expr", "--frob", "1");
    assert_error("unknown option '--frob'");
    RUN("expr");
    assert_error("missing PROGRAM");
    RUN("expr", "1", "2");
    assert_error("unexpected argument '2'");
    RUN("expr", "--at");
    assert_error("--at needs NAME=VALUE");
    RUN("expr", "--json=yes", "1");
    assert_error("option '--json' takes no value");
    RUN_STDIN("1 +", "expr", "-");
    assert_error("1:4: expected an expression");
}
END_TEST

START_TEST(test_program_argument)
{
    /* An argument that is not "--" and a lower-case name is the program, wherever it is. */
    ck_assert_int_eq(RUN("expr", "-x^2", "--at", "x=3"), 0);
    ck_assert_str_eq(run_out, "value: -9\nd/dx: -6\n");
    ck_assert_int_eq(RUN("expr", "--3"), 0);
    ck_assert_str_eq(run_out, "value: 3\n");
    /* After "--" everything is the program. */
    ck_assert_int_eq(RUN("expr", "--at", "x=3", "--", "x"), 0);
    ck_assert_str_eq(run_out, "value: 3\nd/dx: 1\n");
    RUN("expr", "--", "--json");
    assert_error("1:3: no value for 'json'"); /* --json read as -(-json) */
}
END_TEST

/* ---- values: precedence, associativity, functions ------------------------------------ */

typedef struct value_case {
    const char *program;
    const char *at[3]; /* --at arguments */
    int n;
    double value[4];
} value_case;

#define W "W=[[1,2],[3,4]]"

static const value_case value_cases[] = {
    {"-x^2", {"x=3"}, 1, {-9}}, /* ^ binds tighter than unary minus */
    {"(-x)^2", {"x=3"}, 1, {9}},
    {"2^3^2", {0}, 1, {512}},   /* right-associative: 2^(3^2) */
    {"2^-1", {0}, 1, {0.5}},
    {"-2^-2", {0}, 1, {-0.25}},
    {"1 - 2 - 3", {0}, 1, {-4}}, /* left-associative */
    {"8 / 4 / 2", {0}, 1, {1}},
    {"2 + 3 * 4", {0}, 1, {14}},
    {"(2 + 3) * 4", {0}, 1, {20}},
    {"2 * 3 ^ 2", {0}, 1, {18}},
    {"--3", {0}, 1, {3}},
    {"+3 - -3", {0}, 1, {6}},
    {"1e-3 * 1000 + .5 + 2. + 1E2", {0}, 1, {103.5}},
    {"x = 2; y = x * x; y + x", {0}, 1, {6}},
    {"a = 1\na = a + 1\n\n# a comment\na * 3  # trailing comment\n", {0}, 1, {6}},
    {"(1 +\n 2) * 2;;", {0}, 1, {6}}, /* a newline inside parentheses continues the line */
    {"exp(0) + log(1) + sqrt(16) + abs(-3)", {0}, 1, {8}},
    {"square(3) + neg(2) + sin(0) + cos(0) + tanh(0)", {0}, 1, {8}},
    {"sigmoid(0) + relu(-2) + relu(2) + heaviside(0)", {0}, 1, {3}},
    {"softplus(0)", {0}, 1, {0.69314718055994531}}, /* ln 2 */
    {"leaky_relu(-2, 0.1) + leaky_relu(-2) + leaky_relu(3)", {0}, 1, {-0.2 - 0.02 + 3}},
    {"maximum(2, 3) * minimum(2, 3) + pow(2, 10)", {0}, 1, {1030}},
    {"sum(W) + mean(W) + max(W)", {W}, 1, {10 + 2.5 + 4}},
    {"sum(W, 0)", {W}, 2, {4, 6}},
    {"sum(W, -1)", {W}, 2, {3, 7}},
    {"mean(W, 1)", {W}, 2, {1.5, 3.5}},
    {"max(W, 0)", {W}, 2, {3, 4}},
    {"W @ W", {W}, 4, {7, 10, 15, 22}},
    {"matmul(W, transpose(W))", {W}, 4, {5, 11, 11, 25}},
    {"W * 2 - 1", {W}, 4, {1, 3, 5, 7}},
    {"W + v", {W, "v=[10,20]"}, 4, {11, 22, 13, 24}}, /* broadcasting */
    {"softmax(v)", {"v=[3,3]"}, 2, {0.5, 0.5}},
    {"softmax(W, 0)", {"W=[[1,5],[1,5]]"}, 4, {0.5, 0.5, 0.5, 0.5}},
    {"log_softmax(v)", {"v=[0,0]"}, 2, {-0.69314718055994531, -0.69314718055994531}},
    {"mse(W, 0)", {W}, 1, {7.5}}, /* (1 + 4 + 9 + 16) / 4 */
    {"t", {"t=[[[1],[2]],[[3],[4]]]"}, 4, {1, 2, 3, 4}},
};

START_TEST(test_values)
{
    const value_case *c = &value_cases[_i];
    const char *args[12] = {"expr", "--json"};
    int n = 2;
    for (int i = 0; i < 3 && c->at[i]; i++) {
        args[n++] = "--at";
        args[n++] = c->at[i];
    }
    /* A non-scalar output with no --wrt prints the value only. */
    args[n++] = c->program;
    args[n] = NULL;
    ck_assert_msg(run_argv(NULL, args) == 0, "%s: status %d: %s", c->program, run_status,
                  run_err);
    assert_json(NULL, "value", c->value, c->n);
    ck_assert_int_eq(strstr(run_out, "\"grad\"") != NULL, c->n == 1);
}
END_TEST

START_TEST(test_program_from_stdin)
{
    ck_assert_int_eq(RUN_STDIN("y = x * x\ny + 1\n", "expr", "--json", "--at", "x=3", "-"), 0);
    assert_json(NULL, "value", (double[]){10}, 1);
    assert_json("grad", "x", (double[]){6}, 1);
}
END_TEST

/* ---- gradients and Hessians, derived by hand ----------------------------------------- */

START_TEST(test_grad_two_variables)
{
    /* f = x y + sin x at (2, 3): df/dx = y + cos x, df/dy = x;
     * d2f/dx2 = -sin x, d2f/dxdy = 1, d2f/dy2 = 0. */
    ck_assert_int_eq(RUN("expr", "--json", "--hessian", "--at", "x=2", "--at", "y=3",
                         "x*y + sin(x)"),
                     0);
    assert_json(NULL, "value", (double[]){6 + sin(2.0)}, 1);
    assert_json("grad", "x", (double[]){3 + cos(2.0)}, 1);
    assert_json("grad", "y", (double[]){2}, 1);
    assert_json(NULL, "hessian", (double[]){-sin(2.0), 1, 1, 0}, 4);
}
END_TEST

START_TEST(test_grad_order_follows_wrt)
{
    /* Same f, --wrt y,x: the gradient keys and the Hessian follow that order. */
    ck_assert_int_eq(RUN("expr", "--json", "--hessian", "--at", "x=2", "--at", "y=3", "--wrt",
                         "y,x", "x*y + sin(x)"),
                     0);
    ck_assert_ptr_nonnull(strstr(run_out, "\"grad\": {\"y\": 2, \"x\": "));
    assert_json(NULL, "hessian", (double[]){0, 1, 1, -sin(2.0)}, 4);
    /* --wrt repeated is the same as one list. */
    ck_assert_int_eq(RUN("expr", "--json", "--at", "x=2", "--at", "y=3", "--wrt", "y", "--wrt=x",
                         "x*y"),
                     0);
    ck_assert_ptr_nonnull(strstr(run_out, "\"grad\": {\"y\": 2, \"x\": 3}"));
    /* Only x: y gets no gradient. */
    ck_assert_int_eq(RUN("expr", "--json", "--at", "x=2", "--at=y=3", "--wrt=x", "x*y"), 0);
    ck_assert_str_eq(run_out, "{\"value\": 6, \"grad\": {\"x\": 3}}\n");
}
END_TEST

START_TEST(test_grad_tensor)
{
    /* f = sum(W * W): grad 2W, Hessian 2I over the 4 elements of W. */
    ck_assert_int_eq(RUN("expr", "--json", "--hessian", "--at", W, "sum(W * W)"), 0);
    assert_json(NULL, "value", (double[]){30}, 1);
    assert_json("grad", "W", (double[]){2, 4, 6, 8}, 4);
    assert_json(NULL, "hessian",
                (double[]){2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2}, 16);

    /* f = sum(A @ v), A [2,2], v [2,1]: f = sum_ij A_ij v_j, so df/dA_ij = v_j and
     * df/dv_j = sum_i A_ij; d2f/dA_ij dv_k = [j = k], d2f/dA2 = d2f/dv2 = 0. */
    ck_assert_int_eq(RUN("expr", "--json", "--hessian", "--at", "A=[[1,2],[3,4]]", "--at",
                         "v=[[5],[6]]", "sum(A @ v)"),
                     0);
    assert_json(NULL, "value", (double[]){5 + 12 + 15 + 24}, 1);
    assert_json("grad", "A", (double[]){5, 6, 5, 6}, 4);
    assert_json("grad", "v", (double[]){4, 6}, 2);
    /* Rows and columns: A00 A01 A10 A11 v0 v1. */
    assert_json(NULL, "hessian",
                (double[]){0, 0, 0, 0, 1, 0, /* A00 */
                           0, 0, 0, 0, 0, 1, /* A01 */
                           0, 0, 0, 0, 1, 0, /* A10 */
                           0, 0, 0, 0, 0, 1, /* A11 */
                           1, 0, 1, 0, 0, 0, /* v0 */
                           0, 1, 0, 1, 0, 0},
                36);
}
END_TEST

START_TEST(test_grad_scalar_functions)
{
    /* sigmoid: s' = s(1-s), s'' = s(1-s)(1-2s), at x = 0.5. */
    double s = 1 / (1 + exp(-0.5));
    ck_assert_int_eq(RUN("expr", "--json", "--hessian", "--at", "x=0.5", "sigmoid(x)"), 0);
    assert_json(NULL, "value", &s, 1);
    assert_json("grad", "x", (double[]){s * (1 - s)}, 1);
    assert_json(NULL, "hessian", (double[]){s * (1 - s) * (1 - 2 * s)}, 1);

    /* x^3 at 2: 8, 12, 12. */
    ck_assert_int_eq(RUN("expr", "--json", "--hessian", "--at", "x=2", "x^3"), 0);
    assert_json(NULL, "value", (double[]){8}, 1);
    assert_json("grad", "x", (double[]){12}, 1);
    assert_json(NULL, "hessian", (double[]){12}, 1);

    /* log(x)/x at 3: (1 - ln x)/x^2, (2 ln x - 3)/x^3. */
    double l = log(3.0);
    ck_assert_int_eq(RUN("expr", "--json", "--hessian", "--at", "x=3", "log(x) / x"), 0);
    assert_json(NULL, "value", (double[]){l / 3}, 1);
    assert_json("grad", "x", (double[]){(1 - l) / 9}, 1);
    assert_json(NULL, "hessian", (double[]){(2 * l - 3) / 27}, 1);

    /* sum(log_softmax(v) * c) with c = [1, 0]: d/dv = c - softmax(v) sum(c); at v = [0, 0]:
     * [0.5, -0.5]. The Hessian is -(diag(p) - p p^T) = [[-1/4, 1/4], [1/4, -1/4]]. */
    ck_assert_int_eq(RUN("expr", "--json", "--hessian", "--at", "v=[0,0]", "--at", "c=[1,0]",
                         "--wrt", "v", "sum(log_softmax(v) * c)"),
                     0);
    assert_json("grad", "v", (double[]){0.5, -0.5}, 2);
    assert_json(NULL, "hessian", (double[]){-0.25, 0.25, 0.25, -0.25}, 4);
}
END_TEST

START_TEST(test_grad_unused_variable_is_zero)
{
    ck_assert_int_eq(RUN("expr", "--json", "--hessian", "--at", "x=2", "--at", "z=[1,2]",
                         "x*x"),
                     0);
    assert_json("grad", "x", (double[]){4}, 1);
    assert_json("grad", "z", (double[]){0, 0}, 2);
    assert_json(NULL, "hessian", (double[]){2, 0, 0, 0, 0, 0, 0, 0, 0}, 9);
    /* No variable at all: a value and an empty gradient. */
    ck_assert_int_eq(RUN("expr", "--json", "--hessian", "1 + 2"), 0);
    ck_assert_str_eq(run_out, "{\"value\": 3, \"grad\": {}, \"hessian\": []}\n");
}
END_TEST

/* ---- output formats ------------------------------------------------------------------ */

START_TEST(test_output_text)
{
    ck_assert_int_eq(RUN("expr", "--at", "x=3", "x*x"), 0);
    ck_assert_str_eq(run_out, "value: 9\nd/dx: 6\n");
    ck_assert_str_eq(run_err, "");

    ck_assert_int_eq(RUN("expr", "--hessian", "--at", W, "--at", "x=0.5", "sum(W * W) * x"), 0);
    ck_assert_str_eq(run_out, "value: 15\n"
                              "d/dW: [[1, 2], [3, 4]]\n"
                              "d/dx: 30\n"
                              "hessian: [[1, 0, 0, 0, 2], [0, 1, 0, 0, 4], [0, 0, 1, 0, 6], "
                              "[0, 0, 0, 1, 8], [2, 4, 6, 8, 0]]\n");

    /* Non-scalar output, no --wrt: the value alone. */
    ck_assert_int_eq(RUN("expr", "--at", W, "W / 2"), 0);
    ck_assert_str_eq(run_out, "value: [[0.5, 1], [1.5, 2]]\n");

    /* 17 significant digits. */
    ck_assert_int_eq(RUN("expr", "0.1"), 0);
    ck_assert_str_eq(run_out, "value: 0.10000000000000001\n");
}
END_TEST

START_TEST(test_output_json)
{
    ck_assert_int_eq(RUN("expr", "--json", "--hessian", "--at", "x=3", "x*x"), 0);
    ck_assert_str_eq(run_out, "{\"value\": 9, \"grad\": {\"x\": 6}, \"hessian\": [[2]]}\n");
    ck_assert_int_eq(RUN("expr", "--json", "--at", W, "W"), 0);
    ck_assert_str_eq(run_out, "{\"value\": [[1, 2], [3, 4]]}\n");
}
END_TEST

START_TEST(test_output_nonfinite)
{
    /* log 0 = -inf, its derivative 1/0 = inf: null in JSON, inf in text. */
    ck_assert_int_eq(RUN("expr", "--json", "--at", "x=0", "log(x)"), 0);
    ck_assert_str_eq(run_out, "{\"value\": null, \"grad\": {\"x\": null}}\n");
    ck_assert_int_eq(RUN("expr", "--at", "x=0", "log(x)"), 0);
    ck_assert_str_eq(run_out, "value: -inf\nd/dx: inf\n");
    ck_assert_int_eq(RUN("expr", "--at", "x=nan", "--at", "y=[inf,-Infinity]", "y * 0 + x"), 0);
    ck_assert_str_eq(run_out, "value: [nan, nan]\n");
    ck_assert_int_eq(RUN("expr", "1e999"), 0); /* an overflowing literal is infinity */
    ck_assert_str_eq(run_out, "value: inf\n");
}
END_TEST

/* ---- --check -------------------------------------------------------------------------- */

START_TEST(test_check)
{
    ck_assert_int_eq(RUN("expr", "--check", "--at", "x=0.7", "--at", W, "tanh(x) * sum(W^2)"),
                     0);
    ck_assert_ptr_nonnull(strstr(run_out, "check: passed (5 elements"));

    ck_assert_int_eq(RUN("expr", "--json", "--check", "--at", "x=0.7", "exp(x)"), 0);
    ck_assert_ptr_nonnull(strstr(run_out, "\"check\": {\"passed\": true, \"nonsmooth\": false, "
                                          "\"checked\": 1, \"max_abs_err\": "));

    /* At relu's kink the one-sided slopes differ: flagged, not failed. */
    ck_assert_int_eq(RUN("expr", "--check", "--at", "x=0", "relu(x)"), 0);
    ck_assert_ptr_nonnull(strstr(run_out, "check: passed"));
    ck_assert_ptr_nonnull(strstr(run_out, "kink of relu"));

    /* sin(1e8 x): a central difference with step 1e-6 spans 100 radians, so it cannot follow
     * the derivative 1e8 cos(1e8 x); the check fails and the status is 1. */
    ck_assert_int_eq(RUN("expr", "--check", "--at", "x=0.3", "sin(100000000 * x)"), 1);
    ck_assert_ptr_nonnull(strstr(run_out, "check: FAILED"));
    ck_assert_ptr_nonnull(strstr(run_out, "worst d/dx[0]"));
}
END_TEST

/* ---- bad input ----------------------------------------------------------------------- */

typedef struct error_case {
    const char *args[8]; /* after "expr" */
    const char *message;
} error_case;

static const error_case error_cases[] = {
    {{"1 +"}, "1:4: expected an expression, found end of input"},
    {{"(1 + 2"}, "1:7: expected ')', found end of input"},
    {{"x = 1\ny = x +\nz"}, "2:8: expected an expression, found end of line"},
    {{"1 $ 2"}, "1:3: unexpected character '$'"},
    {{"1 2"}, "1:3: expected an operator, ';' or end of line, found number 2"},
    {{"2x"}, "1:2: unexpected 'x' after a number"},
    {{"1e+"}, "1:1: malformed number"},
    {{"x + y = 3", "--at", "x=1", "--at", "y=1"}, "1:7: expected an operator"},
    {{""}, "empty program"},
    {{" ;\n# nothing\n"}, "empty program"},
    {{"foo(1)"}, "1:1: unknown function 'foo'"},
    {{"exp"}, "1:1: 'exp' is a function"},
    {{"exp(1, 2)"}, "1:1: exp expects 1 argument, got 2 (usage: exp(x))"},
    {{"exp()"}, "exp expects 1 argument, got 0"},
    {{"1 + pow(1)"}, "1:5: pow expects 2 arguments, got 1"},
    {{"sum(W, 0, (1, 2), 3)", "--at", W}, "sum expects 1 or 2 arguments, got 4"},
    {{"sum(W, 1.5)", "--at", W}, "sum: axis must be a small integer"},
    {{"sum(W, x)", "--at", W, "--at", "x=1"}, "1:8: expected a number, found 'x'"},
    {{"x + 1"}, "1:1: no value for 'x' (give one with --at x=VALUE)"},
    {{"y = 2; x * y"}, "1:8: no value for 'x'"},
    {{"x = 1; x", "--at", "x=2"}, "1:1: cannot assign to 'x'"},
    {{"W @ v", "--at", W, "--at", "v=[[1,2,3]]"}, "1:3: matmul"},
    {{"W + v", "--at", W, "--at", "v=[1,2,3]"}, "1:3: add"},
    {{"sum(W, 2)", "--at", W}, "1:1: sum"},
    {{"x", "--at", "W=[[1,2],[3]]"}, "bad --at value for 'W'"},
    {{"x", "--at", "W=[[1,2],[3]]"}, "ragged"},
    {{"x", "--at", "W=[[1,2],3]"}, "ragged"},
    {{"x", "--at", "W=[1,[2]]"}, "ragged"},
    {{"x", "--at", "W=[]"}, "empty list"},
    {{"x", "--at", "W=[1,2"}, "missing ']'"},
    {{"x", "--at", "x="}, "bad --at value for 'x'"},
    {{"x", "--at", "x=1,2"}, "unexpected text after the value"},
    {{"x", "--at", "x=abc"}, "expected a number"},
    {{"x", "--at", "x=1.2.3"}, "malformed number"},
    {{"x", "--at", "x=[[[[[[[[[1]]]]]]]]]"}, "more than 8 dimensions"},
    {{"x", "--at", "2x=1"}, "'2x' is not a valid variable name"},
    {{"x", "--at", "x"}, "--at expects NAME=VALUE"},
    {{"x", "--at", "x=1", "--at", "x=2"}, "'x' is given twice"},
    {{"x", "--at", "x=1", "--wrt", "y"}, "--wrt: 'y' is not a variable given with --at"},
    {{"x", "--at", "x=1", "--wrt", "x,x"}, "--wrt: 'x' is named twice"},
    {{"x", "--at", "x=1", "--wrt", "x,"}, "--wrt: '' is not a variable name"},
    {{"W", "--at", W, "--wrt", "W"}, "output is not a scalar (shape [2,2])"},
    {{"W", "--at", W, "--hessian"}, "output is not a scalar"},
    {{"W", "--at", W, "--check"}, "output is not a scalar"},
};

START_TEST(test_errors)
{
    const error_case *c = &error_cases[_i];
    const char *args[10] = {"expr"};
    for (int i = 0; i < 8 && c->args[i]; i++)
        args[i + 1] = c->args[i];
    run_argv(NULL, args);
    assert_error(c->message);
}
END_TEST

START_TEST(test_deep_nesting)
{
    /* 300 levels of each recursive construct: a clear error, not a stack overflow. */
    static char buf[4096];
    const char *shapes[][2] = {{"(", ")"}, {"-", ""}, {"2^", ""}, {"exp(", ")"}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        size_t n = 0;
        for (int i = 0; i < 300; i++)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s", shapes[s][0]);
        n += (size_t)snprintf(buf + n, sizeof buf - n, "1");
        for (int i = 0; i < 300; i++)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s", shapes[s][1]);
        RUN("expr", buf);
        assert_error("nested too deeply (more than 256 levels)");
    }
    /* 200 levels are fine. */
    size_t n = 0;
    for (int i = 0; i < 200; i++)
        buf[n++] = '(';
    buf[n++] = '1';
    for (int i = 0; i < 200; i++)
        buf[n++] = ')';
    buf[n] = '\0';
    ck_assert_int_eq(RUN("expr", buf), 0);
    ck_assert_str_eq(run_out, "value: 1\n");
}
END_TEST

/* Random programs from the language's own pieces and stray characters: whatever they are,
 * the command exits 0 with a value or 2 with one line on stderr, and never crashes. */
START_TEST(test_fuzz)
{
    static const char *pieces[] = {
        "x", "W", "v", "1", "2.5", "1e3", "+", "-", "*", "/", "^", "@", "(", ")", ",", "=",
        ";", "\n", " ", "sum(", "max(", "softmax(", "exp(", "log(", "transpose(", "pow(",
        "leaky_relu(", "y", "y = ", "$", "[", "#", "\t", ".", "1e", "\x80", "0"};
    const size_t npieces = sizeof pieces / sizeof pieces[0];
    uint64_t state = 12345;
    char program[256];
    for (int iter = 0; iter < 300; iter++) {
        size_t n = 0;
        program[0] = '\0';
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        int len = 1 + (int)((state >> 33) % 24);
        for (int k = 0; k < len; k++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            const char *p = pieces[(state >> 33) % npieces];
            if (n + strlen(p) + 1 >= sizeof program)
                break;
            n += (size_t)snprintf(program + n, sizeof program - n, "%s", p);
        }
        int st = RUN("expr", "--hessian", "--at", "x=0.5", "--at", "v=[1,-2]", "--at",
                     "W=[[1,2],[3,4]]", program);
        ck_assert_msg(st == 0 || st == 2, "status %d for program '%s': %s", st, program,
                      run_err);
        if (st == 0) {
            ck_assert_msg(strncmp(run_out, "value: ", 7) == 0, "'%s': %s", program, run_out);
        } else {
            ck_assert_msg(strncmp(run_err, "retrograd: ", 11) == 0, "'%s': %s", program,
                          run_err);
            ck_assert_msg(strchr(run_err, '\n') == run_err + strlen(run_err) - 1,
                          "'%s': not one line: %s", program, run_err);
        }
    }
}
END_TEST

static Suite *expr_suite(void)
{
    Suite *s = suite_create("expr");
    TCase *tc = tcase_create("command");
    tcase_add_test(tc, test_command_help_version);
    tcase_add_test(tc, test_command_usage_errors);
    tcase_add_test(tc, test_program_argument);
    suite_add_tcase(s, tc);

    tc = tcase_create("values");
    tcase_add_loop_test(tc, test_values, 0, (int)(sizeof value_cases / sizeof value_cases[0]));
    tcase_add_test(tc, test_program_from_stdin);
    suite_add_tcase(s, tc);

    tc = tcase_create("gradients");
    tcase_add_test(tc, test_grad_two_variables);
    tcase_add_test(tc, test_grad_order_follows_wrt);
    tcase_add_test(tc, test_grad_tensor);
    tcase_add_test(tc, test_grad_scalar_functions);
    tcase_add_test(tc, test_grad_unused_variable_is_zero);
    suite_add_tcase(s, tc);

    tc = tcase_create("output");
    tcase_add_test(tc, test_output_text);
    tcase_add_test(tc, test_output_json);
    tcase_add_test(tc, test_output_nonfinite);
    suite_add_tcase(s, tc);

    tc = tcase_create("check");
    tcase_add_test(tc, test_check);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_loop_test(tc, test_errors, 0, (int)(sizeof error_cases / sizeof error_cases[0]));
    tcase_add_test(tc, test_deep_nesting);
    tcase_add_test(tc, test_fuzz);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(expr_suite());
}
