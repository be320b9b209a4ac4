/* The pictures of docs/teaching.md: the lecture's neuron and its two-layer MLP, built through
 * the graph API, differentiated, evaluated keeping every value, and drawn.
 *
 * usage: teaching OUTDIR
 * Writes OUTDIR/NAME.dot for every picture, and OUTDIR/NAME.png too when retrograd was built
 * with libgvc (docs/make_pictures.sh renders the DOT files with `dot` otherwise). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "retrograd.h"

static const char *outdir;

/* Writes OUTDIR/name.dot and, when this build renders, OUTDIR/name.png. */
static int draw(rg_graph *g, const char *name, const rg_dot_opts *o)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.dot", outdir, name);
    rg_status st = rg_dot_save(g, path, o);
    if (st == RG_OK && rg_dot_can_render()) {
        snprintf(path, sizeof path, "%s/%s.png", outdir, name);
        st = rg_dot_render_file(g, path, "png", o);
    }
    if (st != RG_OK)
        fprintf(stderr, "teaching: %s: %s\n", name, rg_graph_errmsg(g));
    return st == RG_OK ? 0 : 1;
}

/* o = tanh(x1*w1 + x2*w2 + b) at the lecture's values: b is chosen so that n = atanh(1/sqrt 2),
 * which makes o = 0.7071 and do/dn = 1 - o^2 = 0.5 exactly. The pictures write every
 * derivative as dL/d..., L standing for the output differentiated, here o. */
static int neuron(void)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_graph_set_keep_values(g, true); /* draw every value, not only the outputs */

    rg_node *x1 = rg_input(g, "x1", 0, NULL);
    rg_node *x2 = rg_input(g, "x2", 0, NULL);
    rg_node *w1 = rg_param(g, "w1", 0, NULL, (double[]){-3.0});
    rg_node *w2 = rg_param(g, "w2", 0, NULL, (double[]){1.0});
    rg_node *b = rg_param(g, "b", 0, NULL, (double[]){6.8813735870195432});
    rg_feed_f64(x1, (double[]){2.0}, 1);
    rg_feed_f64(x2, (double[]){0.0}, 1);

    rg_node *x1w1 = rg_mul(x1, w1);
    rg_node *x2w2 = rg_mul(x2, w2);
    rg_node *sum = rg_add(x1w1, x2w2);
    rg_node *n = rg_add(sum, b);
    rg_node *o = rg_tanh(n);
    rg_node_set_name(x1w1, "x1*w1");
    rg_node_set_name(x2w2, "x2*w2");
    rg_node_set_name(sum, "x1*w1 + x2*w2");
    rg_node_set_name(n, "n");
    rg_node_set_name(o, "o");

    /* every leaf's gradient, the inputs' included, as the lecture draws them */
    rg_node *xs[5] = {x1, x2, w1, w2, b}, *grads[5];
    rg_status st = rg_grad(o, 5, xs, grads);
    rg_node *targets[6] = {o, grads[0], grads[1], grads[2], grads[3], grads[4]};
    if (st == RG_OK)
        st = rg_eval(g, 6, targets);
    if (st != RG_OK) {
        fprintf(stderr, "teaching: neuron: %s\n", rg_graph_errmsg(g));
        rg_graph_free(g);
        return 1;
    }

    int rc = 0;
    rg_dot_opts opts = rg_dot_defaults();
    opts.part = RG_DOT_FORWARD; /* one node per value, its gradient written on it */
    rc |= draw(g, "neuron_forward", &opts);
    opts = rg_dot_defaults(); /* and the nodes the reverse sweep built */
    rc |= draw(g, "neuron", &opts);
    /* the reverse sweep one step at a time */
    char name[64];
    for (int k = 0; k < rg_dot_frame_count(g, 1); k++) {
        opts.frame = k;
        snprintf(name, sizeof name, "neuron_step%d", k);
        rc |= draw(g, name, &opts);
    }
    rg_graph_free(g);
    return rc;
}

/* The lecture's two-layer MLP on a batch of two points with three classes:
 *   a1 = X W1 + b1,  h1 = relu(a1),  a2 = h1 W2 + b2,  L = cross_entropy(a2, y).
 * Rows are examples, so the lecture's column-vector W_k h_k is h_k W_k here. Returns L; the
 * parameters W1, b1, W2, b2 go to params. */
static rg_node *mlp_graph(rg_graph *g, rg_node **params)
{
    rg_node *X = rg_input(g, "X", 2, (int64_t[]){2, 2});
    rg_node *y = rg_input(g, "y", 1, (int64_t[]){2});
    rg_node *W1 = rg_param(g, "W1", 2, (int64_t[]){2, 3},
                           (double[]){0.5, -0.3, 0.8, -0.6, 0.4, 0.2});
    rg_node *b1 = rg_param(g, "b1", 1, (int64_t[]){3}, (double[]){0.1, 0.2, -0.1});
    rg_node *W2 = rg_param(g, "W2", 2, (int64_t[]){3, 3},
                           (double[]){0.7, -0.2, 0.1, -0.4, 0.6, 0.3, 0.2, 0.5, -0.3});
    rg_node *b2 = rg_param(g, "b2", 1, (int64_t[]){3}, (double[]){0.0, 0.1, -0.1});
    rg_feed_f64(X, (double[]){1.0, 0.5, -0.5, 1.5}, 4);
    rg_feed_f64(y, (double[]){0, 2}, 2); /* class indices */

    rg_node *XW1 = rg_matmul(X, W1);
    rg_node *a1 = rg_add(XW1, b1);
    rg_node *h1 = rg_relu(a1);
    rg_node *h1W2 = rg_matmul(h1, W2);
    rg_node *a2 = rg_add(h1W2, b2);
    rg_node *L = rg_cross_entropy(a2, y);
    rg_node_set_name(XW1, "X@W1");
    rg_node_set_name(h1W2, "h1@W2");
    rg_node_set_name(a1, "a1");
    rg_node_set_name(h1, "h1");
    rg_node_set_name(a2, "a2");
    rg_node_set_name(L, "L");
    params[0] = W1, params[1] = b1, params[2] = W2, params[3] = b2;
    return L;
}

static int mlp(void)
{
    /* The pictures show gradients a class can trust: a copy of the network is checked
     * against central differences first (the check builds its own gradient nodes, which
     * would crowd the picture). */
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *params[4];
    rg_node *L = mlp_graph(g, params);
    rg_gradcheck_opts check = rg_gradcheck_defaults();
    rg_gradcheck_report report;
    if (rg_gradcheck(L, 4, params, &check, &report) != RG_OK || !report.passed) {
        fprintf(stderr, "teaching: mlp: %s\n",
                rg_graph_status(g) != RG_OK ? rg_graph_errmsg(g) : "gradient check failed");
        rg_graph_free(g);
        return 1;
    }
    rg_graph_free(g);

    g = rg_graph_new(RG_F64);
    rg_graph_set_keep_values(g, true);
    L = mlp_graph(g, params);
    if (rg_backward(L) != RG_OK) { /* dL/dW1, dL/db1, dL/dW2, dL/db2 */
        fprintf(stderr, "teaching: mlp: %s\n", rg_graph_errmsg(g));
        rg_graph_free(g);
        return 1;
    }
    int rc = 0;
    rg_dot_opts opts = rg_dot_defaults();
    opts.rankdir = "TB";
    rc |= draw(g, "mlp", &opts);
    opts.part = RG_DOT_BACKWARD;
    rc |= draw(g, "mlp_backward", &opts);
    rg_graph_free(g);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: teaching OUTDIR\n");
        return 2;
    }
    outdir = argv[1];
    mkdir(outdir, 0777);
    return neuron() | mlp();
}
