/* A two-layer network built by hand with the retrograd graph API. docs/tutorial.md walks
 * through this file step by step. Exit status 0 when training lowered the loss to below
 * half its initial value and the gradient check passed. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "retrograd.h"

enum { N = 64, D = 2, H = 16, C = 2 }; /* points, input size, hidden units, classes */

/* splitmix64: a seeded generator, so every run sees the same data and weights. */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static double uniform(uint64_t *s)
{
    return 2.0 * ((double)(next_u64(s) >> 11) * 0x1.0p-53) - 1.0;
}

/* n points of [-1,1]^2, label 1 when both coordinates have the same sign, else 0. No line
 * separates the two classes, so the hidden layer is needed. */
static void make_data(uint64_t *seed, int n, double *x, double *labels)
{
    for (int i = 0; i < n; i++) {
        x[2 * i] = uniform(seed);
        x[2 * i + 1] = uniform(seed);
        labels[i] = x[2 * i] * x[2 * i + 1] > 0 ? 1.0 : 0.0;
    }
}

struct model {
    rg_graph *g;
    rg_node *x, *labels;        /* inputs: fed before each run */
    rg_node *w1, *b1, *w2, *b2; /* parameters: kept across runs */
    rg_node *logits, *loss;
};

/* A parameter with values uniform in [-scale, scale). */
static rg_node *make_param(rg_graph *g, const char *name, int ndim, const int64_t *shape,
                           double scale, uint64_t *seed)
{
    rg_node *p = rg_param(g, name, ndim, shape, NULL);
    double v[D * H + H * C]; /* room for the largest parameter */
    int64_t n = rg_node_size(p); /* -1 if p is NULL: nothing is fed */
    for (int64_t i = 0; i < n; i++)
        v[i] = scale * uniform(seed);
    if (p)
        rg_feed_f64(p, v, n);
    return p;
}

/* logits = relu(x W1 + b1) W2 + b2, loss = mean cross-entropy of softmax(logits). */
static int build_model(struct model *m, rg_dtype dtype, int n, uint64_t *seed)
{
    rg_graph *g = rg_graph_new(dtype);
    if (!g)
        return -1;
    m->g = g;
    int64_t sx[2] = {n, D}, sl[1] = {n};
    int64_t sw1[2] = {D, H}, sb1[1] = {H}, sw2[2] = {H, C}, sb2[1] = {C};
    m->x = rg_input(g, "x", 2, sx);
    m->labels = rg_input(g, "labels", 1, sl);
    m->w1 = make_param(g, "W1", 2, sw1, 1.0, seed);
    m->b1 = make_param(g, "b1", 1, sb1, 0.1, seed);
    m->w2 = make_param(g, "W2", 2, sw2, 0.5, seed);
    m->b2 = make_param(g, "b2", 1, sb2, 0.1, seed);

    rg_node *h1 = rg_relu(rg_add(rg_matmul(m->x, m->w1), m->b1)); /* [n,H]; b1 broadcasts */
    m->logits = rg_add(rg_matmul(h1, m->w2), m->b2);               /* [n,C] */
    m->loss = rg_cross_entropy(m->logits, m->labels);              /* [] */
    if (!m->loss) {
        fprintf(stderr, "building the model failed: %s\n", rg_graph_errmsg(g));
        rg_graph_free(g);
        return -1;
    }
    return 0;
}

/* Fraction of rows whose larger logit is the label's (logits must have been evaluated). */
static double accuracy(const struct model *m, const double *labels, int n)
{
    int right = 0;
    for (int i = 0; i < n; i++) {
        int guess = rg_node_get(m->logits, 2 * i + 1) > rg_node_get(m->logits, 2 * i);
        right += guess == (int)labels[i];
    }
    return (double)right / n;
}

/* Runs the network forward; returns the loss (NaN on error). */
static double evaluate(struct model *m, const double *labels, int n)
{
    rg_node *targets[2] = {m->loss, m->logits};
    if (rg_eval(m->g, 2, targets) != RG_OK) {
        fprintf(stderr, "%s\n", rg_graph_errmsg(m->g));
        return NAN;
    }
    printf("loss %.4f, accuracy %.2f\n", rg_node_item(m->loss), accuracy(m, labels, n));
    return rg_node_item(m->loss);
}

/* Builds the gradient nodes of the loss, evaluates them and prints one. */
static int show_gradients(struct model *m)
{
    rg_node *params[4] = {m->w1, m->b1, m->w2, m->b2};
    rg_node *grads[4];
    if (rg_grad(m->loss, 4, params, grads) != RG_OK || rg_eval(m->g, 4, grads) != RG_OK) {
        fprintf(stderr, "%s\n", rg_graph_errmsg(m->g));
        return -1;
    }
    printf("dloss/db2 = [%.4f, %.4f]\n", rg_node_get(grads[3], 0), rg_node_get(grads[3], 1));
    return 0;
}

/* w <- w - lr dw, in place in the parameter's buffer (an f32 graph holds floats). */
static void sgd_step(rg_node *p, double lr)
{
    float *w = rg_node_data(p);
    const float *dw = rg_node_data(rg_node_grad(p));
    for (int64_t i = 0; i < rg_node_size(p); i++)
        w[i] -= (float)(lr * dw[i]);
}

/* Full-batch gradient descent; returns 0 on success. */
static int train(struct model *m, int steps, double lr)
{
    rg_node *params[4] = {m->w1, m->b1, m->w2, m->b2};
    for (int step = 1; step <= steps; step++) {
        if (rg_backward(m->loss) != RG_OK) {
            fprintf(stderr, "%s\n", rg_graph_errmsg(m->g));
            return -1;
        }
        for (int i = 0; i < 4; i++)
            sgd_step(params[i], lr);
        if (step % 100 == 0)
            printf("step %d: loss %.4f\n", step, rg_node_item(m->loss));
    }
    return 0;
}

/* The same network on an f64 graph with 8 points, checked against central differences. */
static int check_gradients(void)
{
    uint64_t seed = 42;
    struct model m;
    double x[8 * D], labels[8];
    if (build_model(&m, RG_F64, 8, &seed) != 0)
        return -1;
    make_data(&seed, 8, x, labels);
    rg_feed_f64(m.x, x, 8 * D);
    rg_feed_f64(m.labels, labels, 8);

    rg_node *params[4] = {m.w1, m.b1, m.w2, m.b2};
    rg_gradcheck_report report;
    rg_status st = rg_gradcheck(m.loss, 4, params, NULL, &report);
    char text[512];
    if (st != RG_OK)
        printf("gradcheck could not run: %s\n", rg_graph_errmsg(m.g));
    else
        printf("%s\n", rg_gradcheck_format(&report, text, sizeof text));
    rg_graph_free(m.g);
    return st == RG_OK && (report.passed || report.nonsmooth) ? 0 : -1;
}

int main(void)
{
    uint64_t seed = 1;
    struct model m;
    double x[N * D], labels[N];
    if (build_model(&m, RG_F32, N, &seed) != 0)
        return 1;
    make_data(&seed, N, x, labels);
    rg_feed_f64(m.x, x, N * D);
    rg_feed_f64(m.labels, labels, N);

    double first = evaluate(&m, labels, N);
    int ok = show_gradients(&m) == 0 && train(&m, 500, 0.5) == 0;
    double last = evaluate(&m, labels, N);
    rg_graph_free(m.g);

    ok = ok && last < 0.5 * first;
    ok = check_gradients() == 0 && ok;
    return ok ? 0 : 1;
}
