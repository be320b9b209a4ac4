/* Drawing: the DOT written for several graphs is read back with libcgraph and checked (node
 * and edge counts, dashed gradient ties, sweep steps, values in labels), options and frames,
 * escaping of hostile names, rendering to SVG and PNG, and large graphs. */
#include <cgraph.h>
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "retrograd.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static char *dot_text(rg_graph *g, const rg_dot_opts *o)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_msg(rg_dot_write(g, f, o) == RG_OK, "rg_dot_write: %s", rg_graph_errmsg(g));
    fclose(f);
    return buf;
}

static Agraph_t *dot_read(rg_graph *g, const rg_dot_opts *o)
{
    char *text = dot_text(g, o);
    Agraph_t *a = agmemread(text);
    ck_assert_msg(a != NULL, "the DOT does not parse:\n%s", text);
    free(text);
    return a;
}

static Agnode_t *dnode(Agraph_t *a, const rg_node *n)
{
    char id[24];
    snprintf(id, sizeof id, "%zu", rg_node_id(n));
    Agnode_t *an = agnode(a, id, 0);
    ck_assert_msg(an != NULL, "node %s is not drawn", id);
    return an;
}

static const char *attr(void *obj, const char *name)
{
    const char *v = agget(obj, (char *)name);
    return v ? v : "";
}

static const char *label(void *obj)
{
    return attr(obj, "label");
}

/* Ties carry their dL/dx as an external label, input positions sit at the consumer's end. */
static const char *tie_label(void *edge)
{
    return attr(edge, "xlabel");
}

static const char *pos_label(void *edge)
{
    return attr(edge, "headlabel");
}

static bool has(const char *hay, const char *needle)
{
    return strstr(hay, needle) != NULL;
}

/* Drawn graph nodes (the legend is not one). */
static int count_nodes(Agraph_t *a)
{
    int n = 0;
    for (Agnode_t *v = agfstnode(a); v; v = agnxtnode(a, v))
        n += strcmp(agnameof(v), "legend") != 0;
    return n;
}

static int count_edges(Agraph_t *a, bool dashed)
{
    int n = 0;
    for (Agnode_t *v = agfstnode(a); v; v = agnxtnode(a, v))
        for (Agedge_t *e = agfstout(a, v); e; e = agnxtout(a, e))
            n += (strcmp(attr(e, "style"), "dashed") == 0) == dashed;
    return n;
}

/* The dashed tie from forward node x, or NULL. */
static Agedge_t *tie_of(Agraph_t *a, const rg_node *x)
{
    Agnode_t *v = dnode(a, x);
    for (Agedge_t *e = agfstout(a, v); e; e = agnxtout(a, e))
        if (strcmp(attr(e, "style"), "dashed") == 0)
            return e;
    return NULL;
}

static int64_t arity_sum(const rg_graph *g)
{
    int64_t n = 0;
    for (size_t i = 0; i < rg_graph_node_count(g); i++)
        n += rg_node_arity(rg_graph_node(g, i));
    return n;
}

/* "step k" in the label of every gradient node, k its sweep step. */
static void assert_steps(Agraph_t *a, const rg_graph *g)
{
    char want[32];
    for (size_t i = 0; i < rg_graph_node_count(g); i++) {
        const rg_node *n = rg_graph_node(g, i);
        if (!rg_node_is_grad(n))
            continue;
        snprintf(want, sizeof want, " step %d<", rg_node_sweep_step(n));
        ck_assert_msg(has(label(dnode(a, n)), want), "node %zu: no '%s' in %s", i, want,
                      label(dnode(a, n)));
    }
}

/* The lecture's neuron y = tanh(x1*w1 + x2*w2 + b) at x1=2, x2=0, w1=-3, w2=1,
 * b=6.8813735870195432 (so that the sum is atanh(1/sqrt 2)), differentiated with respect to
 * the five leaves and evaluated keeping every value. Hand values: n = 0.881374, y = 1/sqrt 2
 * = 0.707107, dy/dn = 1 - y^2 = 0.5, dy/dx1 = w1 * 0.5 = -1.5, dy/dw1 = x1 * 0.5 = 1,
 * dy/dx2 = w2 * 0.5 = 0.5, dy/dw2 = x2 * 0.5 = 0, dy/db = 0.5. */
typedef struct neuron {
    rg_graph *g;
    rg_node *x1, *x2, *w1, *w2, *b, *m1, *m2, *s, *n, *y;
    rg_node *grads[5];
} neuron;

static neuron make_neuron(void)
{
    neuron t;
    t.g = rg_graph_new(RG_F64);
    rg_graph_set_keep_values(t.g, true);
    t.x1 = rg_param(t.g, "x1", 0, NULL, (double[]){2});
    t.x2 = rg_param(t.g, "x2", 0, NULL, (double[]){0});
    t.w1 = rg_param(t.g, "w1", 0, NULL, (double[]){-3});
    t.w2 = rg_param(t.g, "w2", 0, NULL, (double[]){1});
    t.b = rg_param(t.g, "b", 0, NULL, (double[]){6.8813735870195432});
    t.m1 = rg_mul(t.x1, t.w1);
    t.m2 = rg_mul(t.x2, t.w2);
    t.s = rg_add(t.m1, t.m2);
    t.n = rg_add(t.s, t.b);
    t.y = rg_tanh(t.n);
    rg_node_set_name(t.n, "n");
    rg_node_set_name(t.y, "y");
    rg_node *xs[5] = {t.x1, t.x2, t.w1, t.w2, t.b};
    ck_assert_int_eq(rg_grad(t.y, 5, xs, t.grads), RG_OK);
    rg_node *targets[6] = {t.y, t.grads[0], t.grads[1], t.grads[2], t.grads[3], t.grads[4]};
    ck_assert_int_eq(rg_eval(t.g, 6, targets), RG_OK);
    return t;
}

/* ---- what the DOT holds ----------------------------------------------------------------- */

START_TEST(test_neuron)
{
    neuron t = make_neuron();
    rg_dot_opts o = rg_dot_defaults();
    Agraph_t *a = dot_read(t.g, &o);
    ck_assert_int_eq(count_nodes(a), (int)rg_graph_node_count(t.g));
    ck_assert_ptr_nonnull(agnode(a, "legend", 0));
    ck_assert_int_eq(count_edges(a, false), arity_sum(t.g));

    /* values (hand values above, printed with 6 significant digits) */
    ck_assert(has(label(dnode(a, t.x1)), ">= 2<"));
    ck_assert(has(label(dnode(a, t.b)), ">= 6.88137<"));
    ck_assert(has(label(dnode(a, t.n)), ">= 0.881374<"));
    ck_assert(has(label(dnode(a, t.y)), ">= 0.707107<"));
    /* every forward node shows its gradient */
    const struct {
        rg_node *x;
        const char *text;
    } grads[] = {
        {t.x1, ">dL/dx1 = -1.5<"}, {t.w1, ">dL/dw1 = 1<"},   {t.x2, ">dL/dx2 = 0.5<"},
        {t.w2, ">dL/dw2 = 0<"},    {t.b, ">dL/db = 0.5<"},    {t.n, ">dL/dn = 0.5<"},
        {t.y, ">dL/dy = 1<"},      {t.s, ">dL/d#7 = 0.5<"},   {t.m1, ">dL/d#5 = 0.5<"},
    };
    for (size_t i = 0; i < sizeof grads / sizeof grads[0]; i++)
        ck_assert_msg(has(label(dnode(a, grads[i].x)), grads[i].text), "%s not in %s",
                      grads[i].text, label(dnode(a, grads[i].x)));

    /* one dashed tie per differentiated forward node, to the node holding its gradient */
    ck_assert_int_eq(count_edges(a, true), 10);
    rg_node *xs[5] = {t.x1, t.x2, t.w1, t.w2, t.b};
    const char *names[5] = {"dL/dx1", "dL/dx2", "dL/dw1", "dL/dw2", "dL/db"};
    for (int i = 0; i < 5; i++) {
        Agedge_t *e = tie_of(a, xs[i]);
        ck_assert_ptr_nonnull(e);
        ck_assert_str_eq(tie_label(e), names[i]);
        ck_assert_ptr_eq(aghead(e), dnode(a, t.grads[i]));
    }
    /* the add passes dL/dn on unchanged: b, n and the partial sum share one gradient node,
     * whose label names all three */
    ck_assert_ptr_eq(aghead(tie_of(a, t.b)), aghead(tie_of(a, t.n)));
    ck_assert_ptr_eq(aghead(tie_of(a, t.s)), aghead(tie_of(a, t.n)));
    const char *shared = label(aghead(tie_of(a, t.n)));
    ck_assert(has(shared, "dL/dn") && has(shared, "= dL/db") && has(shared, "= dL/d#7"));

    /* sweep steps: tanh first (step 1), then the adds, then x2*w2 (step 4) and x1*w1 (5) */
    assert_steps(a, t.g);
    ck_assert_int_eq(rg_node_sweep_step(t.grads[0]), 5);
    ck_assert(has(label(dnode(a, t.grads[0])), " step 5<"));
    ck_assert(has(label(dnode(a, t.grads[1])), " step 4<"));
    /* kinds are told apart: parameters are boxes, ops ellipses, gradients purple */
    ck_assert_str_eq(attr(dnode(a, t.x1), "shape"), "box");
    ck_assert_str_eq(attr(dnode(a, t.y), "shape"), "ellipse");
    ck_assert_str_eq(attr(dnode(a, t.grads[0]), "color"), "#7e22ce");
    /* gradient nodes sit in the backward box */
    Agraph_t *back = agsubg(a, "cluster_sweep1", 0);
    ck_assert_ptr_nonnull(back);
    ck_assert_ptr_nonnull(agsubnode(back, dnode(a, t.grads[0]), 0));
    ck_assert_ptr_null(agsubnode(back, dnode(a, t.x1), 0));
    agclose(a);
    rg_graph_free(t.g);
}
END_TEST

/* Builds the lecture's two-layer MLP on a batch of two: a1 = X W1 + b1, h1 = tanh(a1),
 * a2 = h1 W2 + b2, L = cross_entropy(a2, labels), and runs rg_backward. */
START_TEST(test_mlp)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_graph_set_keep_values(g, true);
    uint64_t seed = 7;
    rg_node *X = rg_input(g, "X", 2, (int64_t[]){2, 3});
    rg_node *y = rg_input(g, "labels", 1, (int64_t[]){2});
    ck_assert_int_eq(rg_feed_f64(X, (double[]){0.5, -1, 2, 1, 0.25, -0.5}, 6), RG_OK);
    ck_assert_int_eq(rg_feed_f64(y, (double[]){0, 2}, 2), RG_OK);
    rg_node *W1 = tu_param(g, "W1", 2, (int64_t[]){3, 4}, -1, 1, &seed);
    rg_node *b1 = tu_param(g, "b1", 1, (int64_t[]){4}, -1, 1, &seed);
    rg_node *W2 = tu_param(g, "W2", 2, (int64_t[]){4, 3}, -1, 1, &seed);
    rg_node *b2 = tu_param(g, "b2", 1, (int64_t[]){3}, -1, 1, &seed);
    rg_node *xw = rg_matmul(X, W1);
    rg_node *a1 = rg_add(xw, b1);
    rg_node *h1 = rg_tanh(a1);
    rg_node *a2 = rg_add(rg_matmul(h1, W2), b2);
    rg_node *L = rg_cross_entropy(a2, y);
    rg_node_set_name(a1, "a1");
    rg_node_set_name(h1, "h1");
    rg_node_set_name(a2, "a2");
    rg_node_set_name(L, "L");
    ck_assert_int_eq(rg_backward(L), RG_OK);

    rg_dot_opts o = rg_dot_defaults();
    Agraph_t *a = dot_read(g, &o);
    ck_assert_int_eq(count_nodes(a), (int)rg_graph_node_count(g));
    ck_assert_int_eq(count_edges(a, false), arity_sum(g));
    assert_steps(a, g);
    rg_node *params[4] = {W1, b1, W2, b2};
    const char *names[4] = {"dL/dW1", "dL/db1", "dL/dW2", "dL/db2"};
    for (int i = 0; i < 4; i++) {
        Agedge_t *e = tie_of(a, params[i]);
        ck_assert_ptr_nonnull(e);
        ck_assert_str_eq(tie_label(e), names[i]);
        ck_assert_ptr_eq(aghead(e), dnode(a, rg_node_grad(params[i])));
        /* the gradient's values (at most 16) appear in full in both labels: the first entry
         * printed with 4 digits as the library prints tensor entries */
        char first[64];
        snprintf(first, sizeof first, "[%.4g", rg_node_get(rg_node_grad(params[i]), 0));
        ck_assert_msg(has(label(dnode(a, params[i])), first), "%s not in %s", first,
                      label(dnode(a, params[i])));
        ck_assert(has(label(aghead(e)), first));
    }
    /* the hidden layer's pre-activation and the matmul feeding it share delta_1 */
    ck_assert_ptr_nonnull(tie_of(a, a1));
    ck_assert_str_eq(tie_label(tie_of(a, a1)), "dL/da1");
    ck_assert_ptr_eq(aghead(tie_of(a, xw)), aghead(tie_of(a, a1)));
    ck_assert(has(label(dnode(a, h1)), ">dL/dh1 = "));
    /* labels are data, not differentiated: no tie */
    ck_assert_ptr_null(tie_of(a, y));
    /* matmul edges carry the input position */
    Agedge_t *e = agedge(a, dnode(a, X), dnode(a, xw), NULL, 0);
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(pos_label(e), "0");
    e = agedge(a, dnode(a, W1), dnode(a, xw), NULL, 0);
    ck_assert_str_eq(pos_label(e), "1");
    e = agedge(a, dnode(a, xw), dnode(a, a1), NULL, 0);
    ck_assert_str_eq(pos_label(e), ""); /* add is symmetric */
    agclose(a);
    rg_graph_free(g);
}
END_TEST

/* y = x*x + x at x = 3: dy/dx = 2x + 1 = 7, summed from three uses of x. */
START_TEST(test_fan_out)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_graph_set_keep_values(g, true);
    rg_node *x = rg_param(g, "x", 0, NULL, (double[]){3});
    rg_node *y = rg_add(rg_mul(x, x), x), *gx;
    ck_assert_int_eq(rg_grad(y, 1, &x, &gx), RG_OK);
    ck_assert_int_eq(rg_eval(g, 2, (rg_node *[]){y, gx}), RG_OK);
    Agraph_t *a = dot_read(g, NULL);
    ck_assert_int_eq(count_nodes(a), (int)rg_graph_node_count(g));
    ck_assert_int_eq(count_edges(a, false), arity_sum(g));
    ck_assert(has(label(dnode(a, x)), ">dL/dx = 7<"));
    Agedge_t *e = tie_of(a, x);
    ck_assert_ptr_eq(aghead(e), dnode(a, gx));
    ck_assert(has(label(dnode(a, gx)), ">= 7<"));
    ck_assert_str_eq(rg_node_op_name(gx), "add"); /* the contributions are summed */
    ck_assert(has(label(dnode(a, y)), ">= 12<"));
    assert_steps(a, g);
    agclose(a);
    rg_graph_free(g);
}
END_TEST

/* cube(x) = x^3, d/dx = 3x^2: a user-registered op is drawn under its own name. */
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
        gin[0] = rg_mul(gy, rg_mul(rg_scalar(rg_node_graph(x), 3), rg_square(x)));
    return gin[0] ? RG_OK : rg_graph_status(rg_node_graph(n));
}

START_TEST(test_custom_op)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_graph_set_keep_values(g, true);
    rg_op_def def = {.name = "cube", .arity = 1, .shape = cube_shape, .forward_f64 = cube_f64,
                     .vjp = cube_vjp};
    int op = rg_op_register(g, &def);
    ck_assert_int_ge(op, 0);
    rg_node *x = rg_param(g, "x", 0, NULL, (double[]){2});
    rg_node *y = rg_apply(g, op, 1, &x), *gx;
    ck_assert_int_eq(rg_grad(y, 1, &x, &gx), RG_OK);
    ck_assert_int_eq(rg_eval(g, 2, (rg_node *[]){y, gx}), RG_OK);
    Agraph_t *a = dot_read(g, NULL);
    ck_assert_int_eq(count_nodes(a), (int)rg_graph_node_count(g));
    ck_assert_int_eq(count_edges(a, false), arity_sum(g));
    ck_assert_int_eq(count_edges(a, true), 2); /* dL/dy (the seed) and dL/dx */
    ck_assert(has(label(dnode(a, y)), "<B>cube</B>"));
    ck_assert(has(label(dnode(a, y)), ">= 8<"));
    ck_assert(has(label(dnode(a, x)), ">dL/dx = 12<"));
    ck_assert_str_eq(tie_label(tie_of(a, x)), "dL/dx");
    ck_assert_int_eq(rg_dot_frame_count(g, 1), 2);
    ck_assert_ptr_eq(rg_dot_step_node(g, 1, 1), y);
    assert_steps(a, g);
    agclose(a);
    rg_graph_free(g);
}
END_TEST

/* ---- options ------------------------------------------------------------------------------ */

START_TEST(test_parts_and_switches)
{
    neuron t = make_neuron();
    size_t forward = (size_t)rg_node_id(t.y) + 1; /* the sweep's nodes come after y */
    rg_dot_opts o = rg_dot_defaults();
    o.part = RG_DOT_FORWARD;
    Agraph_t *a = dot_read(t.g, &o);
    ck_assert_int_eq(count_nodes(a), (int)forward);
    ck_assert_int_eq(count_edges(a, true), 0);
    ck_assert(has(label(dnode(a, t.x1)), "dL/dx1 = -1.5")); /* gradients still annotated */
    agclose(a);

    o.part = RG_DOT_BACKWARD;
    a = dot_read(t.g, &o);
    /* every gradient node, and faded the forward nodes they read (x1, x2, w1, w2, y) or are
     * gradients of (all ten) */
    ck_assert_int_eq(count_nodes(a), (int)rg_graph_node_count(t.g));
    ck_assert_str_eq(attr(dnode(a, t.x1), "fontcolor"), "#9ca3af");
    ck_assert(!has(label(dnode(a, t.x1)), ">= 2<"));
    agclose(a);

    o = rg_dot_defaults();
    o.values = false;
    o.grads = false;
    o.legend = false;
    o.clusters = false;
    o.rankdir = "TB";
    a = dot_read(t.g, &o);
    ck_assert(!has(label(dnode(a, t.y)), "0.707"));
    ck_assert(!has(label(dnode(a, t.x1)), "dL/dx1 ="));
    ck_assert_ptr_null(agnode(a, "legend", 0));
    ck_assert_ptr_null(agsubg(a, "cluster_sweep1", 0));
    ck_assert_str_eq(attr(a, "rankdir"), "TB");
    agclose(a);

    o = rg_dot_defaults();
    o.rankdir = "sideways";
    FILE *f = tmpfile();
    ck_assert_int_eq(rg_dot_write(t.g, f, &o), RG_ERR_ARG);
    ck_assert(has(rg_graph_errmsg(t.g), "sideways"));
    rg_graph_clear_error(t.g);
    o = rg_dot_defaults();
    o.frame = 9;
    ck_assert_int_eq(rg_dot_write(t.g, f, &o), RG_ERR_ARG);
    ck_assert(has(rg_graph_errmsg(t.g), "frames 0 to 5"));
    rg_graph_clear_error(t.g);
    fclose(f);
    rg_graph_free(t.g);
}
END_TEST

/* The path from x1 to y runs through x1*w1, the partial sum and n; w2's branch is not on it. */
START_TEST(test_highlight_path)
{
    neuron t = make_neuron();
    rg_dot_opts o = rg_dot_defaults();
    o.from = t.x1;
    o.to = t.y;
    Agraph_t *a = dot_read(t.g, &o);
    rg_node *on[] = {t.x1, t.m1, t.s, t.n, t.y};
    for (size_t i = 0; i < 5; i++)
        ck_assert_str_eq(attr(dnode(a, on[i]), "color"), "#ea580c");
    ck_assert_str_ne(attr(dnode(a, t.w1), "color"), "#ea580c");
    ck_assert_str_ne(attr(dnode(a, t.m2), "color"), "#ea580c");
    ck_assert_str_eq(attr(agedge(a, dnode(a, t.m1), dnode(a, t.s), NULL, 0), "color"),
                     "#ea580c");
    ck_assert_str_ne(attr(agedge(a, dnode(a, t.w1), dnode(a, t.m1), NULL, 0), "color"),
                     "#ea580c");
    agclose(a);
    rg_graph_free(t.g);
}
END_TEST

/* sub, div and pow label their edges with the input position; add and mul do not. */
START_TEST(test_edge_positions)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *p = rg_param(g, "p", 0, NULL, (double[]){2});
    rg_node *q = rg_param(g, "q", 0, NULL, (double[]){3});
    rg_node *ops[] = {rg_sub(p, q), rg_div(p, q), rg_pow(p, q), rg_add(p, q), rg_mul(p, q)};
    Agraph_t *a = dot_read(g, NULL);
    for (int i = 0; i < 5; i++) {
        Agedge_t *ep = agedge(a, dnode(a, p), dnode(a, ops[i]), NULL, 0);
        Agedge_t *eq = agedge(a, dnode(a, q), dnode(a, ops[i]), NULL, 0);
        ck_assert_str_eq(pos_label(ep), i < 3 ? "0" : "");
        ck_assert_str_eq(pos_label(eq), i < 3 ? "1" : "");
    }
    agclose(a);
    rg_graph_free(g);
}
END_TEST

/* log(-1) is NaN and 1/0 is inf: both nodes are drawn in red. */
START_TEST(test_nan_in_red)
{
    rg_graph *g = rg_graph_new(RG_F32);
    rg_graph_set_keep_values(g, true);
    rg_node *x = rg_param(g, "x", 1, (int64_t[]){2}, (float[]){-1, 1});
    rg_node *l = rg_log(x);
    rg_node *d = rg_div(rg_scalar(g, 1), rg_sub(x, x));
    rg_node *fine = rg_exp(x);
    ck_assert_int_eq(rg_eval(g, 3, (rg_node *[]){l, d, fine}), RG_OK);
    Agraph_t *a = dot_read(g, NULL);
    ck_assert_str_eq(attr(dnode(a, l), "color"), "#dc2626");
    ck_assert(has(label(dnode(a, l)), "nan"));
    ck_assert_str_eq(attr(dnode(a, d), "color"), "#dc2626");
    ck_assert(has(label(dnode(a, d)), "inf"));
    ck_assert_str_ne(attr(dnode(a, fine), "color"), "#dc2626");
    agclose(a);
    rg_graph_free(g);
}
END_TEST

/* Without keep_values an op's buffer may have been reused, so only leaves show values. */
START_TEST(test_values_need_keep)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = rg_param(g, "x", 0, NULL, (double[]){0.5});
    rg_node *y = rg_exp(rg_sin(x));
    ck_assert_int_eq(rg_eval1(y), RG_OK);
    Agraph_t *a = dot_read(g, NULL);
    ck_assert(has(label(dnode(a, x)), ">= 0.5<"));
    ck_assert(!has(label(dnode(a, y)), "= "));
    agclose(a);
    rg_graph_free(g);
}
END_TEST

/* An empty graph, a graph of leaves, and bad arguments. */
START_TEST(test_small_and_bad)
{
    rg_graph *g = rg_graph_new(RG_F32);
    Agraph_t *a = dot_read(g, NULL);
    ck_assert_int_eq(count_nodes(a), 0);
    agclose(a);
    ck_assert_int_eq(rg_dot_sweep_count(g), 0);
    ck_assert_int_eq(rg_dot_frame_count(g, 1), 0);
    ck_assert_ptr_null(rg_dot_step_node(g, 1, 1));
    rg_node *c = rg_const(g, 1, (int64_t[]){20}, NULL); /* zeros, summarised */
    a = dot_read(g, NULL);
    ck_assert_int_eq(count_nodes(a), 1);
    ck_assert(has(label(dnode(a, c)), "min 0  mean 0  max 0"));
    agclose(a);
    ck_assert_int_eq(rg_dot_write(NULL, stdout, NULL), RG_ERR_ARG);
    ck_assert_int_eq(rg_dot_write(g, NULL, NULL), RG_ERR_ARG);
    rg_graph_clear_error(g);
    rg_dot_opts o = rg_dot_defaults();
    o.frame = 0; /* no sweep to take frames of */
    FILE *f = tmpfile();
    ck_assert_int_eq(rg_dot_write(g, f, &o), RG_ERR_ARG);
    rg_graph_clear_error(g);
    ck_assert_int_eq(rg_dot_save_frames(g, "/tmp", "dot", NULL, NULL), RG_ERR_ARG);
    ck_assert(has(rg_graph_errmsg(g), "no reverse sweep"));
    rg_graph_clear_error(g);
    o = rg_dot_defaults();
    o.precision = 0;
    ck_assert_int_eq(rg_dot_write(g, f, &o), RG_ERR_ARG);
    rg_graph_clear_error(g);
    /* a node of another graph cannot be highlighted */
    rg_graph *h = rg_graph_new(RG_F32);
    o = rg_dot_defaults();
    o.from = o.to = rg_scalar(h, 1);
    ck_assert_int_eq(rg_dot_write(g, f, &o), RG_ERR_GRAPH);
    fclose(f);
    rg_graph_free(h);
    rg_graph_free(g);
}
END_TEST

/* ---- frames ------------------------------------------------------------------------------- */

START_TEST(test_frames)
{
    neuron t = make_neuron();
    ck_assert_int_eq(rg_dot_sweep_count(t.g), 1);
    /* frame 0 and five VJPs: tanh, the two adds, x2*w2, x1*w1 (decreasing creation order) */
    ck_assert_int_eq(rg_dot_frame_count(t.g, 1), 6);
    ck_assert_int_eq(rg_dot_frame_count(t.g, 2), 0);
    rg_node *order[] = {t.y, t.n, t.s, t.m2, t.m1};
    for (int k = 1; k <= 5; k++)
        ck_assert_ptr_eq(rg_dot_step_node(t.g, 1, k), order[k - 1]);
    ck_assert_ptr_null(rg_dot_step_node(t.g, 1, 6));

    rg_dot_opts o = rg_dot_defaults();
    o.frame = 4;
    Agraph_t *a = dot_read(t.g, &o);
    ck_assert_int_eq(count_nodes(a), (int)rg_graph_node_count(t.g)); /* the layout keeps all */
    for (size_t i = 0; i < rg_graph_node_count(t.g); i++) {
        const rg_node *n = rg_graph_node(t.g, i);
        bool hidden = rg_node_is_grad(n) && rg_node_sweep_step(n) > 4;
        ck_assert_int_eq(strcmp(attr(dnode(a, n), "style"), "invis") == 0, hidden);
    }
    ck_assert_str_eq(attr(dnode(a, t.m2), "penwidth"), "4"); /* differentiated at step 4 */
    ck_assert_str_eq(attr(dnode(a, t.grads[1]), "fillcolor"), "#fed7aa"); /* built by it */
    ck_assert(has(label(a), "step 4 of 5"));
    /* x1's gradient is not known until step 5: its value is written in transparent ink */
    ck_assert(has(label(dnode(a, t.x1)), "dL/dx1 = </FONT><FONT COLOR=\"transparent\">"));
    ck_assert(!has(label(dnode(a, t.x2)), "transparent"));
    agclose(a);

    char dir[] = "/tmp/rg_frames_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    int count = 0;
    ck_assert_int_eq(rg_dot_save_frames(t.g, dir, "dot", NULL, &count), RG_OK);
    ck_assert_int_eq(count, 6);
    char path[64];
    for (int k = 0; k < 6; k++) {
        snprintf(path, sizeof path, "%s/frame_%03d.dot", dir, k);
        FILE *f = fopen(path, "r");
        ck_assert_ptr_nonnull(f);
        Agraph_t *fa = agread(f, NULL);
        ck_assert_ptr_nonnull(fa);
        agclose(fa);
        fclose(f);
        unlink(path);
    }
    ck_assert_int_eq(rg_dot_save_frames(t.g, dir, "gif", NULL, &count), RG_ERR_ARG);
    rg_graph_clear_error(t.g);
    rmdir(dir);
    rg_graph_free(t.g);
}
END_TEST

/* Grad of grad: two sweeps, numbered in creation order, each its own box. */
START_TEST(test_two_sweeps)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_graph_set_keep_values(g, true);
    rg_node *x = rg_param(g, "x", 0, NULL, (double[]){2});
    rg_node *y = rg_mul(rg_square(x), x), *g1, *g2; /* x^3: 12 and 12 at x = 2 */
    ck_assert_int_eq(rg_grad(y, 1, &x, &g1), RG_OK);
    ck_assert_int_eq(rg_grad(g1, 1, &x, &g2), RG_OK);
    ck_assert_int_eq(rg_eval(g, 2, (rg_node *[]){g1, g2}), RG_OK);
    ck_assert_int_eq(rg_dot_sweep_count(g), 2);
    ck_assert_int_gt(rg_dot_frame_count(g, 2), 1);
    rg_dot_opts o = rg_dot_defaults();
    Agraph_t *a = dot_read(g, &o);
    ck_assert_ptr_nonnull(agsubg(a, "cluster_sweep2", 0));
    ck_assert(has(label(dnode(a, x)), ">dL/dx = 12<"));
    agclose(a);
    o.sweep = 2;
    a = dot_read(g, &o);
    ck_assert(has(label(dnode(a, x)), ">dL/dx = 12<")); /* d(3x^2)/dx = 6x */
    agclose(a);
    rg_graph_free(g);
}
END_TEST

/* rg_vjp with the caller's seed: no known output, still drawn with ties. */
START_TEST(test_vjp_seed)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_graph_set_keep_values(g, true);
    rg_node *x = rg_param(g, "x", 1, (int64_t[]){2}, (double[]){1, 2});
    rg_node *y = rg_exp(x), *seed = rg_const(g, 1, (int64_t[]){2}, (double[]){1, 1}), *gx;
    ck_assert_int_eq(rg_vjp(y, seed, 1, &x, &gx), RG_OK);
    ck_assert_int_eq(rg_eval1(gx), RG_OK);
    Agraph_t *a = dot_read(g, NULL);
    ck_assert_ptr_eq(aghead(tie_of(a, x)), dnode(a, gx));
    ck_assert_int_eq(rg_dot_frame_count(g, 1), 2);
    agclose(a);
    rg_graph_free(g);
}
END_TEST

/* ---- escaping and files ------------------------------------------------------------------- */

static const char *const hostile[] = {
    "say \"hi\"", "back\\slash\\", "<b>bold</b>", "a|b", "{c}", "θ₁ naïve ∂", "bad\xff\xfe",
    "line\nbreak", "&amp;", "\\N",
};
#define NHOSTILE (sizeof hostile / sizeof hostile[0])

/* The hostile names as parameters summed up; p[i] is named hostile[i]. */
static rg_graph *hostile_graph(rg_node **p)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_graph_set_keep_values(g, true);
    rg_node *acc = NULL;
    for (size_t i = 0; i < NHOSTILE; i++) {
        p[i] = rg_param(g, hostile[i], 0, NULL, (double[]){(double)i});
        acc = acc ? rg_add(acc, p[i]) : p[i];
    }
    rg_node_set_name(acc, "\"L\" <total>");
    ck_assert_int_eq(rg_backward(acc), RG_OK);
    return g;
}

START_TEST(test_hostile_names)
{
    rg_node *p[NHOSTILE];
    rg_graph *g = hostile_graph(p);
    Agraph_t *a = dot_read(g, NULL);
    ck_assert_int_eq(count_nodes(a), (int)rg_graph_node_count(g));
    /* as XML text (entities), with backslashes doubled against Graphviz's \N escapes */
    const char *want[NHOSTILE] = {
        "say &quot;hi&quot;", "back\\\\slash\\\\", "&lt;b&gt;bold&lt;/b&gt;", "a|b", "{c}",
        "θ₁ naïve ∂", "bad\xEF\xBF\xBD\xEF\xBF\xBD", "line break", "&amp;amp;", "\\\\N",
    };
    for (size_t i = 0; i < NHOSTILE; i++)
        ck_assert_msg(has(label(dnode(a, p[i])), want[i]), "%s not in %s", want[i],
                      label(dnode(a, p[i])));
    /* derivative names of non-identifiers are parenthesised */
    ck_assert(has(label(dnode(a, p[3])), "dL/d(a|b) = 1"));
    agclose(a);
    rg_graph_free(g);
}
END_TEST

/* A minimal XML check: one root element <svg>, every tag closed in order, attribute values
 * quoted, nothing but whitespace after the root. */
static bool svg_well_formed(const char *s)
{
    const char *stack[64];
    size_t len[64];
    int depth = 0;
    bool root_seen = false;
    while (*s) {
        if (*s != '<') {
            if (root_seen && depth == 0 && *s != ' ' && *s != '\n' && *s != '\r' && *s != '\t')
                return false;
            s++;
            continue;
        }
        if (strncmp(s, "<?", 2) == 0 || strncmp(s, "<!--", 4) == 0) {
            const char *end = strstr(s, s[1] == '?' ? "?>" : "-->");
            if (!end)
                return false;
            s = end + 2;
            continue;
        }
        if (strncmp(s, "<!", 2) == 0) {
            s = strchr(s, '>');
            if (!s)
                return false;
            s++;
            continue;
        }
        bool closing = s[1] == '/';
        const char *name = s + 1 + closing;
        size_t n = strcspn(name, " \t\r\n/>");
        const char *p = name + n;
        char quote = 0;
        for (; *p && (quote || *p != '>'); p++)
            if (quote && *p == quote)
                quote = 0;
            else if (!quote && (*p == '"' || *p == '\''))
                quote = *p;
        if (!*p || n == 0)
            return false;
        bool self = p[-1] == '/';
        if (closing) {
            if (depth == 0 || len[depth - 1] != n || strncmp(stack[depth - 1], name, n) != 0)
                return false;
            depth--;
        } else if (!self) {
            if (depth == 0 && (root_seen || n != 3 || strncmp(name, "svg", 3) != 0))
                return false;
            if (depth == 64)
                return false;
            root_seen = true;
            stack[depth] = name;
            len[depth++] = n;
        }
        s = p + 1;
    }
    return root_seen && depth == 0;
}

static char *render(rg_graph *g, const char *format, const rg_dot_opts *o, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    ck_assert_ptr_nonnull(f);
    ck_assert_msg(rg_dot_render(g, f, format, o) == RG_OK, "render %s: %s", format,
                  rg_graph_errmsg(g));
    fclose(f);
    return buf;
}

START_TEST(test_render)
{
    if (!rg_dot_can_render()) {
        neuron t = make_neuron();
        FILE *f = tmpfile();
        ck_assert_int_eq(rg_dot_render(t.g, f, "svg", NULL), RG_ERR_UNSUPPORTED);
        ck_assert(has(rg_graph_errmsg(t.g), "dot -Tsvg"));
        fclose(f);
        rg_graph_free(t.g);
        return;
    }
    ck_assert(svg_well_formed("<?xml version=\"1.0\"?><svg a=\"x>y\"><g><t/></g></svg>\n"));
    ck_assert(!svg_well_formed("<svg><g></svg>"));
    ck_assert(!svg_well_formed("<svg></svg><svg></svg>"));
    neuron t = make_neuron();
    size_t len;
    char *svg = render(t.g, "svg", NULL, &len);
    ck_assert_msg(svg_well_formed(svg), "malformed SVG:\n%s", svg);
    ck_assert(has(svg, "dL/dx1 = &#45;1.5") || has(svg, "dL/dx1 = -1.5"));
    free(svg);
    char *png = render(t.g, "png", NULL, &len);
    ck_assert_uint_gt(len, 8);
    ck_assert(memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0);
    free(png);

    /* hostile names still render, and the text survives into the SVG */
    rg_node *p[NHOSTILE];
    rg_graph *h = hostile_graph(p);
    svg = render(h, "svg", NULL, &len);
    ck_assert_msg(svg_well_formed(svg), "malformed SVG:\n%s", svg);
    ck_assert(has(svg, "θ₁ naïve ∂"));
    ck_assert(has(svg, "say &quot;hi&quot;") || has(svg, "say \"hi\""));
    ck_assert(has(svg, ">back\\slash\\<"));
    ck_assert(has(svg, ">\\N<")); /* not replaced by the node's id */
    free(svg);
    rg_graph_free(h);

    char dir[] = "/tmp/rg_render_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/n.png", dir);
    ck_assert_int_eq(rg_dot_render_file(t.g, path, NULL, NULL), RG_OK);
    FILE *f = fopen(path, "rb");
    unsigned char sig[8];
    ck_assert_uint_eq(fread(sig, 1, 8, f), 8);
    ck_assert(memcmp(sig, "\x89PNG\r\n\x1a\n", 8) == 0);
    fclose(f);
    unlink(path);
    int count;
    ck_assert_int_eq(rg_dot_save_frames(t.g, dir, "svg", NULL, &count), RG_OK);
    ck_assert_int_eq(count, 6);
    for (int k = 0; k < count; k++) {
        snprintf(path, sizeof path, "%s/frame_%03d.svg", dir, k);
        ck_assert_int_eq(unlink(path), 0);
    }
    snprintf(path, sizeof path, "%s/n", dir);
    ck_assert_int_eq(rg_dot_render_file(t.g, path, NULL, NULL), RG_ERR_ARG);
    rg_graph_clear_error(t.g);
    f = tmpfile();
    ck_assert_int_eq(rg_dot_render(t.g, f, "no-such-format", NULL), RG_ERR_UNSUPPORTED);
    fclose(f);
    ck_assert(has(rg_graph_errmsg(t.g), "no-such-format"));
    rg_graph_clear_error(t.g);
    rmdir(dir);
    rg_graph_free(t.g);
}
END_TEST

/* rg_dot_save replaces the file whole and leaves no temporary behind; a missing directory is
 * an I/O error with the path in the message. */
START_TEST(test_atomic_save)
{
    neuron t = make_neuron();
    char dir[] = "/tmp/rg_save_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[96];
    snprintf(path, sizeof path, "%s/g.dot", dir);
    FILE *f = fopen(path, "w");
    fputs("old", f);
    fclose(f);
    ck_assert_int_eq(rg_dot_save(t.g, path, NULL), RG_OK);
    f = fopen(path, "r");
    Agraph_t *a = agread(f, NULL);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(count_nodes(a), (int)rg_graph_node_count(t.g));
    agclose(a);
    fclose(f);
    DIR *d = opendir(dir);
    int entries = 0;
    for (struct dirent *e; (e = readdir(d));)
        entries += e->d_name[0] != '.';
    closedir(d);
    ck_assert_int_eq(entries, 1);
    unlink(path);
    rmdir(dir);
    snprintf(path, sizeof path, "%s/missing/g.dot", dir);
    ck_assert_int_eq(rg_dot_save(t.g, path, NULL), RG_ERR_IO);
    ck_assert(has(rg_graph_errmsg(t.g), "missing/g.dot"));
    rg_graph_free(t.g);
}
END_TEST

/* ---- scale -------------------------------------------------------------------------------- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SLOWDOWN 10.0 /* sanitizer builds run several times slower */
#else
#define SLOWDOWN 1.0
#endif

/* The time limit's factor: SLOWDOWN, or RG_TEST_SLOWDOWN when set (CI sets it for runs under
 * valgrind, some fifty times slower than a plain build). */
static double slowdown(void)
{
    const char *s = getenv("RG_TEST_SLOWDOWN");
    double f = s ? atof(s) : 0.0;
    return f > 0.0 ? f : SLOWDOWN;
}

/* 10,000 nodes holding 100 values each: exported well under a second, every tensor
 * summarised (min, mean, max, L2 norm) rather than printed. */
START_TEST(test_large_graph)
{
    rg_graph *g = rg_graph_new(RG_F32);
    rg_graph_set_keep_values(g, true);
    uint64_t seed = 3;
    rg_node *v = tu_param(g, "x", 1, (int64_t[]){100}, -1, 1, &seed);
    while (rg_graph_node_count(g) < 10000)
        v = rg_graph_node_count(g) % 2 ? rg_sin(v) : rg_tanh(v);
    ck_assert_int_eq(rg_eval1(v), RG_OK);
    double t0 = now();
    char *text = dot_text(g, NULL);
    double took = now() - t0;
    ck_assert_msg(took < 1.0 * slowdown(), "export took %.2f s", took);
    Agraph_t *a = agmemread(text);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(count_nodes(a), 10000);
    for (Agnode_t *n = agfstnode(a); n; n = agnxtnode(a, n)) {
        if (strcmp(agnameof(n), "legend") == 0)
            continue;
        ck_assert(has(label(n), "mean"));
        ck_assert(has(label(n), "L2 norm"));
        ck_assert_uint_lt(strlen(label(n)), 600);
    }
    agclose(a);
    free(text);
    rg_graph_free(g);
}
END_TEST

static Suite *dot_suite(void)
{
    Suite *s = suite_create("dot");
    TCase *tc = tcase_create("content");
    tcase_add_test(tc, test_neuron);
    tcase_add_test(tc, test_mlp);
    tcase_add_test(tc, test_fan_out);
    tcase_add_test(tc, test_custom_op);
    tcase_add_test(tc, test_two_sweeps);
    tcase_add_test(tc, test_vjp_seed);
    suite_add_tcase(s, tc);
    tc = tcase_create("options");
    tcase_add_test(tc, test_parts_and_switches);
    tcase_add_test(tc, test_highlight_path);
    tcase_add_test(tc, test_edge_positions);
    tcase_add_test(tc, test_nan_in_red);
    tcase_add_test(tc, test_values_need_keep);
    tcase_add_test(tc, test_small_and_bad);
    suite_add_tcase(s, tc);
    tc = tcase_create("frames");
    tcase_add_test(tc, test_frames);
    suite_add_tcase(s, tc);
    tc = tcase_create("files");
    tcase_add_test(tc, test_hostile_names);
    tcase_add_test(tc, test_render);
    tcase_add_test(tc, test_atomic_save);
    suite_add_tcase(s, tc);
    tc = tcase_create("scale");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_large_graph);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(dot_suite());
}
