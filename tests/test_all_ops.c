/* Every op of the built-in table, gradient-checked.
 *
 * The test walks op ids 0 .. rg_op_count() - 1 of a fresh graph and looks each op up by
 * name in the table below, which gives a builder of a sample with random inputs. An op
 * without a row fails the test, so a new op is checked the moment its table row exists.
 * For each op and two sample shapes (broadcasting ones for binary ops):
 * - first order: rg_gradcheck of a random mix of the op's output (tu_scalarize);
 * - second order: rg_gradcheck of a Hessian-vector product (tu_second_order), which
 *   differentiates every VJP the op uses;
 * - dtypes: the f32 forward agrees with the f64 one within 1e-5 (mixed absolute/relative).
 */
#include "testutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_X 4

typedef struct sample {
    rg_node *out;        /* the op's output */
    rg_node *xs[MAX_X];  /* leaves the gradient is checked against */
    int nx;
} sample;

struct op_case;
/* Builds a sample of the op on g; `variant` 0 or 1 selects the shapes. */
typedef void (*build_fn)(const struct op_case *c, rg_graph *g, int variant, uint64_t *seed,
                         sample *s);

typedef struct op_case {
    const char *name;
    build_fn build;
    rg_node *(*unary)(rg_node *);
    rg_node *(*binary)(rg_node *, rg_node *);
    double lo, hi;   /* range of the (first) input */
    double lo2, hi2; /* range of the second input of a binary op */
    bool first_only; /* not twice differentiable: skip the second-order check */
} op_case;

/* A random dimension in [lo, hi]. */
static int64_t rdim(uint64_t *seed, int lo, int hi)
{
    return lo + (int64_t)(tu_next(seed) % (uint64_t)(hi - lo + 1));
}

static rg_node *param(rg_graph *g, int ndim, const int64_t *shape, double lo, double hi,
                      uint64_t *seed, sample *s)
{
    rg_node *p = tu_param(g, NULL, ndim, shape, lo, hi, seed);
    s->xs[s->nx++] = p;
    return p;
}

/* A constant of integer values (class or row indices), exact in both dtypes. */
static rg_node *index_const(rg_graph *g, int ndim, const int64_t *shape, const int *idx)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    double d[64];
    float f[64];
    ck_assert_int_le(n, 64);
    for (int64_t i = 0; i < n; i++) {
        d[i] = idx[i];
        f[i] = (float)idx[i];
    }
    return rg_const(g, ndim, shape, rg_graph_dtype(g) == RG_F64 ? (void *)d : (void *)f);
}

/* ---- builders ---- */

/* Variant 0: a random matrix; variant 1: a random 3-D tensor. */
static void build_unary(const op_case *c, rg_graph *g, int variant, uint64_t *seed,
                        sample *s)
{
    int64_t sh[3] = {rdim(seed, 1, 4), rdim(seed, 1, 4), rdim(seed, 2, 3)};
    rg_node *x = param(g, variant ? 3 : 2, sh, c->lo, c->hi, seed, s);
    s->out = c->unary(x);
}

/* Variant 0: equal shapes; variant 1: [m,1,k] with [n,1], broadcast to [m,n,k]. */
static void build_binary(const op_case *c, rg_graph *g, int variant, uint64_t *seed,
                         sample *s)
{
    int64_t m = rdim(seed, 1, 3), n = rdim(seed, 2, 3), k = rdim(seed, 2, 3);
    rg_node *a, *b;
    if (variant == 0) {
        int64_t sh[2] = {m, k};
        a = param(g, 2, sh, c->lo, c->hi, seed, s);
        b = param(g, 2, sh, c->lo2, c->hi2, seed, s);
    } else {
        int64_t sa[3] = {m, 1, k}, sb[2] = {n, 1};
        a = param(g, 3, sa, c->lo, c->hi, seed, s);
        b = param(g, 2, sb, c->lo2, c->hi2, seed, s);
    }
    s->out = c->binary(a, b);
}

/* Two inputs of one shape (the fused backward ops): variant 0 a matrix, 1 a 3-D tensor. */
static void build_same2(const op_case *c, rg_graph *g, int variant, uint64_t *seed,
                        sample *s)
{
    int64_t sh[3] = {rdim(seed, 1, 3), rdim(seed, 2, 3), rdim(seed, 2, 3)};
    rg_node *a = param(g, variant ? 3 : 2, sh, c->lo, c->hi, seed, s);
    rg_node *b = param(g, variant ? 3 : 2, sh, c->lo2, c->hi2, seed, s);
    s->out = c->binary(a, b);
}

/* Variant 0: [m,k] @ [k,n]; variant 1: batched and transposed, [B,k,m]^T @ [n,k]^T shared
 * across the batch. */
static void build_matmul(const op_case *c, rg_graph *g, int variant, uint64_t *seed,
                         sample *s)
{
    int64_t m = rdim(seed, 1, 3), k = rdim(seed, 2, 4), n = rdim(seed, 1, 3);
    if (variant == 0) {
        int64_t sa[2] = {m, k}, sb[2] = {k, n};
        rg_node *a = param(g, 2, sa, -1, 1, seed, s);
        rg_node *b = param(g, 2, sb, -1, 1, seed, s);
        s->out = rg_matmul(a, b);
    } else {
        int64_t sa[3] = {2, k, m}, sb[2] = {n, k};
        rg_node *a = param(g, 3, sa, -1, 1, seed, s);
        rg_node *b = param(g, 2, sb, -1, 1, seed, s);
        s->out = rg_matmul_t(a, b, true, true);
    }
    (void)c;
}

static void build_permute(const op_case *c, rg_graph *g, int variant, uint64_t *seed,
                          sample *s)
{
    static const int p3[3] = {2, 0, 1}, p2[2] = {1, 0};
    int64_t sh[3] = {2, 3, 4};
    rg_node *x = param(g, variant ? 2 : 3, sh, -1, 1, seed, s);
    s->out = rg_permute(x, variant ? p2 : p3);
    (void)c;
}

static void build_reshape(const op_case *c, rg_graph *g, int variant, uint64_t *seed,
                          sample *s)
{
    int64_t s0[2] = {2, 6}, t0[2] = {3, -1}, s1[3] = {2, 3, 2}, t1[1] = {12};
    rg_node *x = param(g, variant ? 3 : 2, variant ? s1 : s0, -1, 1, seed, s);
    s->out = variant ? rg_reshape(x, 1, t1) : rg_reshape(x, 2, t0);
    (void)c;
}

static void build_broadcast_to(const op_case *c, rg_graph *g, int variant, uint64_t *seed,
                               sample *s)
{
    int64_t s0[2] = {3, 1}, t0[3] = {2, 3, 4}, t1[2] = {2, 2};
    rg_node *x = param(g, variant ? 0 : 2, s0, -1, 1, seed, s);
    s->out = variant ? rg_broadcast_to(x, 2, t1) : rg_broadcast_to(x, 3, t0);
    (void)c;
}

static void build_sum_to(const op_case *c, rg_graph *g, int variant, uint64_t *seed,
                         sample *s)
{
    int64_t s0[3] = {2, 3, 4}, t0[2] = {3, 1}, s1[2] = {2, 3};
    rg_node *x = param(g, variant ? 2 : 3, variant ? s1 : s0, -1, 1, seed, s);
    s->out = variant ? rg_sum_to(x, 0, NULL) : rg_sum_to(x, 2, t0);
    (void)c;
}

static void build_concat(const op_case *c, rg_graph *g, int variant, uint64_t *seed,
                         sample *s)
{
    int64_t a0[2] = {2, 3}, b0[2] = {2, 2}, a1[2] = {1, 3}, b1[2] = {2, 3};
    rg_node *a = param(g, 2, variant ? a1 : a0, -1, 1, seed, s);
    rg_node *b = param(g, 2, variant ? b1 : b0, -1, 1, seed, s);
    s->out = variant ? rg_concat(a, b, -2) : rg_concat(a, b, 1);
    (void)c;
}

static void build_slice(const op_case *c, rg_graph *g, int variant, uint64_t *seed,
                        sample *s)
{
    int64_t s0[2] = {4, 3}, s1[2] = {2, 5};
    rg_node *x = param(g, 2, variant ? s1 : s0, -1, 1, seed, s);
    s->out = variant ? rg_slice(x, -1, 0, 2) : rg_slice(x, 0, 1, 3);
    (void)c;
}

static void build_pad(const op_case *c, rg_graph *g, int variant, uint64_t *seed, sample *s)
{
    int64_t s0[2] = {2, 3}, s1[1] = {3};
    rg_node *x = param(g, variant ? 1 : 2, variant ? s1 : s0, -1, 1, seed, s);
    s->out = variant ? rg_pad(x, 0, 0, 4) : rg_pad(x, 1, 1, 5);
    (void)c;
}

/* Repeated indices check that gradients of a row picked twice accumulate. */
static void build_gather(const op_case *c, rg_graph *g, int variant, uint64_t *seed,
                         sample *s)
{
    static const int i0[4] = {0, 3, 3, 1}, i1[3] = {2, 0, 2};
    int64_t t0[2] = {5, 3}, t1[1] = {4}, s0[2] = {2, 2}, s1[1] = {3};
    rg_node *table = param(g, variant ? 1 : 2, variant ? t1 : t0, -1, 1, seed, s);
    rg_node *idx = variant ? index_const(g, 1, s1, i1) : index_const(g, 2, s0, i0);
    s->out = rg_gather(table, idx);
    (void)c;
}

static void build_scatter_add(const op_case *c, rg_graph *g, int variant, uint64_t *seed,
                              sample *s)
{
    static const int i0[4] = {4, 0, 4, 2}, i1[3] = {1, 1, 3};
    int64_t s0[2] = {4, 3}, s1[1] = {3}, n0[1] = {4};
    rg_node *src = param(g, variant ? 1 : 2, variant ? s1 : s0, -1, 1, seed, s);
    rg_node *idx = variant ? index_const(g, 1, s1, i1) : index_const(g, 1, n0, i0);
    s->out = rg_scatter_add(src, idx, variant ? 4 : 5);
    (void)c;
}

/* one_hot has no differentiable input (its index is an integer), so the sample scales it
 * by a parameter: the check then runs a sweep through a graph holding one_hot. */
static void build_one_hot(const op_case *c, rg_graph *g, int variant, uint64_t *seed,
                          sample *s)
{
    static const int i0[3] = {2, 0, 3}, i1[4] = {1, 1, 0, 2};
    int64_t s0[1] = {3}, s1[2] = {2, 2}, w0[2] = {3, 4}, w1[3] = {2, 2, 3};
    rg_node *idx = variant ? index_const(g, 2, s1, i1) : index_const(g, 1, s0, i0);
    rg_node *w = param(g, variant ? 3 : 2, variant ? w1 : w0, -1, 1, seed, s);
    s->out = rg_mul(rg_one_hot(idx, variant ? 3 : 4), w);
    (void)c;
}

static rg_node *reduce_op(const char *name, rg_node *x, int axis, bool keep)
{
    if (strcmp(name, "sum") == 0)
        return rg_sum(x, axis, keep);
    if (strcmp(name, "mean") == 0)
        return rg_mean(x, axis, keep);
    return rg_max(x, axis, keep);
}

/* Variant 0: one axis of a matrix; variant 1: a 3-D tensor, keepdims on axis -2, and all
 * axes at once. */
static void build_reduce(const op_case *c, rg_graph *g, int variant, uint64_t *seed,
                         sample *s)
{
    int64_t s0[2] = {3, 4}, s1[3] = {2, 3, 2};
    rg_node *x = param(g, variant ? 3 : 2, variant ? s1 : s0, -1, 1, seed, s);
    if (variant == 0) {
        s->out = reduce_op(c->name, x, 1, false);
    } else {
        rg_node *a = reduce_op(c->name, x, -2, true);
        rg_node *b = reduce_op(c->name, x, RG_AXIS_ALL, false);
        s->out = rg_add(a, b);
    }
}

/* Piecewise constant (derivative 0), with max's kink: checked away from ties. */
static void build_max_mask(const op_case *c, rg_graph *g, int variant, uint64_t *seed,
                           sample *s)
{
    (void)c;
    int64_t s0[2] = {3, 4}, s1[3] = {2, 3, 2};
    rg_node *x = param(g, variant ? 3 : 2, variant ? s1 : s0, -1, 1, seed, s);
    s->out = variant ? rg_add(rg_max_mask(x, -2), rg_max_mask(x, RG_AXIS_ALL))
                     : rg_max_mask(x, 1);
}

static void build_softmax(const op_case *c, rg_graph *g, int variant, uint64_t *seed,
                          sample *s)
{
    int64_t s0[2] = {3, 4}, s1[3] = {2, 3, 2};
    rg_node *x = param(g, variant ? 3 : 2, variant ? s1 : s0, -2, 2, seed, s);
    bool log = strcmp(c->name, "log_softmax") == 0;
    int axis = variant ? 1 : -1;
    s->out = log ? rg_log_softmax(x, axis) : rg_softmax(x, axis);
}

static void build_cross_entropy(const op_case *c, rg_graph *g, int variant, uint64_t *seed,
                                sample *s)
{
    static const int l0[4] = {0, 2, 1, 2}, l1[1] = {4};
    int64_t s0[2] = {4, 3}, s1[2] = {1, 5}, n0[1] = {4}, n1[1] = {1};
    rg_node *logits = param(g, 2, variant ? s1 : s0, -2, 2, seed, s);
    rg_node *labels = variant ? index_const(g, 1, n1, l1) : index_const(g, 1, n0, l0);
    s->out = rg_cross_entropy(logits, labels);
    (void)c;
}

static rg_node *leaky(rg_node *x)
{
    return rg_leaky_relu(x, 0.1);
}

/* ---- the table, by op name ---- */

/* Ranges keep inputs inside each op's domain (log, sqrt, pow base and divisor positive).
 * Every op is currently twice differentiable almost everywhere (the derivatives of kinked
 * ops are built from heaviside or max_mask, whose derivatives are zero), so no row sets
 * first_only. */
#define UN(name, fn, lo, hi) {name, build_unary, fn, NULL, lo, hi, 0, 0, false}
#define BIN(name, fn, lo, hi, lo2, hi2) {name, build_binary, NULL, fn, lo, hi, lo2, hi2, false}
#define OTHER(name, fn) {name, fn, NULL, NULL, 0, 0, 0, 0, false}

static const op_case cases[] = {
    BIN("add", rg_add, -1, 1, -1, 1),
    BIN("sub", rg_sub, -1, 1, -1, 1),
    BIN("mul", rg_mul, -1, 1, -1, 1),
    BIN("div", rg_div, -1, 1, 0.5, 1.5),
    BIN("pow", rg_pow, 0.5, 2, -1.5, 1.5),
    BIN("maximum", rg_maximum, -1, 1, -1, 1),
    BIN("minimum", rg_minimum, -1, 1, -1, 1),
    UN("neg", rg_neg, -1, 1),
    UN("exp", rg_exp, -1, 1),
    UN("log", rg_log, 0.5, 2),
    UN("sqrt", rg_sqrt, 0.5, 2),
    UN("square", rg_square, -1, 1),
    UN("abs", rg_abs, -1, 1),
    UN("sin", rg_sin, -2, 2),
    UN("cos", rg_cos, -2, 2),
    UN("tanh", rg_tanh, -2, 2),
    UN("sigmoid", rg_sigmoid, -2, 2),
    UN("relu", rg_relu, -1, 1),
    UN("leaky_relu", leaky, -1, 1),
    UN("softplus", rg_softplus, -2, 2),
    UN("heaviside", rg_heaviside, -1, 1),
    OTHER("matmul", build_matmul),
    OTHER("permute", build_permute),
    OTHER("reshape", build_reshape),
    OTHER("broadcast_to", build_broadcast_to),
    OTHER("sum_to", build_sum_to),
    OTHER("concat", build_concat),
    OTHER("slice", build_slice),
    OTHER("pad", build_pad),
    OTHER("gather", build_gather),
    OTHER("scatter_add", build_scatter_add),
    OTHER("one_hot", build_one_hot),
    OTHER("sum", build_reduce),
    OTHER("mean", build_reduce),
    OTHER("max", build_reduce),
    OTHER("max_mask", build_max_mask),
    OTHER("softmax", build_softmax),
    OTHER("log_softmax", build_softmax),
    OTHER("cross_entropy", build_cross_entropy),
    {"tanh_grad", build_same2, NULL, rg_tanh_grad, -0.9, 0.9, -1, 1, false},
    {"sigmoid_grad", build_same2, NULL, rg_sigmoid_grad, 0.1, 0.9, -1, 1, false},
    {"relu_grad", build_same2, NULL, rg_relu_grad, -1, 1, -1, 1, false},
};

static const char *const leaves[] = {"input", "param", "const", "fill"};

static bool is_leaf(const char *name)
{
    for (size_t i = 0; i < sizeof leaves / sizeof leaves[0]; i++)
        if (strcmp(name, leaves[i]) == 0)
            return true;
    return false;
}

static const op_case *find_case(const char *name)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (strcmp(cases[i].name, name) == 0)
            return &cases[i];
    return NULL;
}

/* The names of every non-leaf op of a fresh graph that has a case. An op without one is
 * left out here and fails "every op has a case". */
static int op_names(const char **names, int cap)
{
    rg_graph *g = rg_graph_new(RG_F64);
    ck_assert_ptr_nonnull(g);
    int n = 0;
    for (int op = 0; op < rg_op_count(g); op++) {
        const char *name = rg_op_name(g, op);
        if (!name || is_leaf(name) || !find_case(name))
            continue;
        ck_assert_int_lt(n, cap);
        names[n++] = name; /* built-in names are static strings */
    }
    rg_graph_free(g);
    return n;
}

static uint64_t seed_for(int op_index, int variant)
{
    return 0x5eed0000u + 97u * (uint64_t)op_index + (uint64_t)variant;
}

/* Failures are collected over all ops and reported together, so one broken op does not
 * hide the state of the others. */
typedef struct failures {
    int count;
    char text[8192];
} failures;

static void fail_note(failures *f, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void fail_note(failures *f, const char *fmt, ...)
{
    size_t used = strlen(f->text);
    if (used + 2 < sizeof f->text) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(f->text + used, sizeof f->text - used - 1, fmt, ap);
        va_end(ap);
        used = strlen(f->text);
        f->text[used] = '\n';
        f->text[used + 1] = '\0';
    }
    f->count++;
}

/* Builds the sample; false (noted) if the builder failed. */
static bool build(const op_case *c, rg_graph *g, int variant, uint64_t seed, sample *s,
                  failures *f)
{
    memset(s, 0, sizeof *s);
    c->build(c, g, variant, &seed, s);
    if (!s->out) {
        fail_note(f, "%s (variant %d, %s): builder failed: %s", c->name, variant,
                  rg_graph_dtype(g) == RG_F64 ? "f64" : "f32", rg_graph_errmsg(g));
        return false;
    }
    return true;
}

/* The op of the sample is reached: the output's own op, or one of its inputs' for the
 * samples that wrap it (one_hot scaled, reductions added). */
static bool sample_uses(const sample *s, const char *name)
{
    if (strcmp(rg_node_op_name(s->out), name) == 0)
        return true;
    for (int i = 0; i < rg_node_arity(s->out); i++)
        if (strcmp(rg_node_op_name(rg_node_input(s->out, i)), name) == 0)
            return true;
    return false;
}

/* Gradient-checks y (first or second order) and notes a failure. */
static void check(const op_case *c, int variant, const char *order, rg_node *y,
                  const sample *s, failures *f)
{
    rg_graph *g = rg_node_graph(s->out);
    if (!y) {
        fail_note(f, "%s (variant %d, %s): building the checked scalar failed: %s", c->name,
                  variant, order, rg_graph_errmsg(g));
        return;
    }
    rg_gradcheck_report r;
    rg_status st = rg_gradcheck(y, s->nx, s->xs, NULL, &r);
    char buf[512];
    if (st != RG_OK)
        fail_note(f, "%s (variant %d, %s): %s: %s", c->name, variant, order, rg_strerror(st),
                  rg_graph_errmsg(g));
    else if (!(r.passed || r.nonsmooth))
        fail_note(f, "%s (variant %d, %s): %s", c->name, variant, order,
                  rg_gradcheck_format(&r, buf, sizeof buf));
    else if (r.checked == 0)
        fail_note(f, "%s (variant %d, %s): nothing checked", c->name, variant, order);
}

#define MAX_OPS 128

START_TEST(test_every_op_has_a_case)
{
    rg_graph *g = rg_graph_new(RG_F64);
    failures *f = calloc(1, sizeof *f);
    ck_assert_int_gt(rg_op_count(g), (int)(sizeof leaves / sizeof leaves[0]));
    for (int op = 0; op < rg_op_count(g); op++) {
        const char *name = rg_op_name(g, op);
        if (!name)
            fail_note(f, "op %d has no name", op);
        else if (!is_leaf(name) && !find_case(name))
            fail_note(f, "op %s has no gradcheck case", name);
    }
    /* And no stale row: every case names an op that exists. */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (rg_op_lookup(g, cases[i].name) < 0)
            fail_note(f, "case %s names no op", cases[i].name);
    rg_graph_free(g);
    ck_assert_msg(f->count == 0, "%d problem(s):\n%s", f->count, f->text);
    free(f);
}
END_TEST

START_TEST(test_first_order)
{
    const char *names[MAX_OPS];
    int n = op_names(names, MAX_OPS);
    failures *f = calloc(1, sizeof *f);
    for (int k = 0; k < n; k++) {
        const op_case *c = find_case(names[k]);
        for (int variant = 0; variant < 2; variant++) {
            rg_graph *g = rg_graph_new(RG_F64);
            sample s;
            uint64_t seed = seed_for(k, variant);
            if (build(c, g, variant, seed, &s, f)) {
                if (!sample_uses(&s, c->name))
                    fail_note(f, "%s: the sample does not use the op", c->name);
                uint64_t wseed = seed + 1000;
                check(c, variant, "first order", tu_scalarize(s.out, &wseed), &s, f);
            }
            rg_graph_free(g);
        }
    }
    ck_assert_msg(f->count == 0, "%d failure(s):\n%s", f->count, f->text);
    free(f);
}
END_TEST

START_TEST(test_second_order)
{
    const char *names[MAX_OPS];
    int n = op_names(names, MAX_OPS);
    failures *f = calloc(1, sizeof *f);
    for (int k = 0; k < n; k++) {
        const op_case *c = find_case(names[k]);
        for (int variant = 0; variant < 2 && !c->first_only; variant++) {
            rg_graph *g = rg_graph_new(RG_F64);
            sample s;
            uint64_t seed = seed_for(k, variant);
            if (build(c, g, variant, seed, &s, f)) {
                uint64_t wseed = seed + 2000;
                rg_node *y = tu_scalarize(s.out, &wseed);
                check(c, variant, "second order", tu_second_order(y, s.nx, s.xs, &wseed), &s,
                      f);
            }
            rg_graph_free(g);
        }
    }
    ck_assert_msg(f->count == 0, "%d failure(s):\n%s", f->count, f->text);
    free(f);
}
END_TEST

/* f32 forward values of the same sample (inputs drawn in double, rounded to float) agree
 * with f64 ones within 1e-5 (1 + |f64 value|). */
START_TEST(test_f32_matches_f64)
{
    const char *names[MAX_OPS];
    int n = op_names(names, MAX_OPS);
    failures *f = calloc(1, sizeof *f);
    for (int k = 0; k < n; k++) {
        const op_case *c = find_case(names[k]);
        for (int variant = 0; variant < 2; variant++) {
            rg_graph *g64 = rg_graph_new(RG_F64), *g32 = rg_graph_new(RG_F32);
            sample s64, s32;
            uint64_t seed = seed_for(k, variant);
            if (build(c, g64, variant, seed, &s64, f) && build(c, g32, variant, seed, &s32, f)) {
                rg_status st64 = rg_eval1(s64.out), st32 = rg_eval1(s32.out);
                if (st64 != RG_OK || st32 != RG_OK) {
                    fail_note(f, "%s (variant %d): eval failed: f64 '%s', f32 '%s'", c->name,
                              variant, rg_graph_errmsg(g64), rg_graph_errmsg(g32));
                } else {
                    for (int64_t i = 0; i < rg_node_size(s64.out); i++) {
                        double a = rg_node_get(s64.out, i), b = rg_node_get(s32.out, i);
                        if (!(fabs(a - b) <= 1e-5 * (1.0 + fabs(a)))) {
                            fail_note(f, "%s (variant %d) element %lld: f64 %.9g, f32 %.9g",
                                      c->name, variant, (long long)i, a, b);
                            break;
                        }
                    }
                }
            }
            rg_graph_free(g64);
            rg_graph_free(g32);
        }
    }
    ck_assert_msg(f->count == 0, "%d failure(s):\n%s", f->count, f->text);
    free(f);
}
END_TEST

static Suite *all_ops_suite(void)
{
    Suite *s = suite_create("all_ops");
    struct {
        const char *name;
        const TTest *fn;
    } tcs[] = {
        {"every op has a case", test_every_op_has_a_case},
        {"first order", test_first_order},
        {"second order", test_second_order},
        {"f32 matches f64", test_f32_matches_f64},
    };
    for (size_t i = 0; i < sizeof tcs / sizeof tcs[0]; i++) {
        TCase *tc = tcase_create(tcs[i].name);
        tcase_add_test(tc, tcs[i].fn);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    return tu_run_suite(all_ops_suite());
}
