/* The multi-layer perceptron: a graph of dense layers and activations, its loss, and the
 * gradients of its parameters from rg_grad(). Backpropagation here is the generic reverse
 * sweep; the model only decides which nodes to build and which to evaluate together. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

struct rg_mlp {
    rg_graph *g;
    rg_mlp_opts opts;
    int64_t *hidden; /* the model's copy of opts.hidden */
    int L;           /* layers */
    rg_node *x, *y, *logits, *loss;
    rg_node **W, **b, **a, **h; /* indexed 1..L (h[0] = x, h[L] = a[L]) */
    rg_node **params;           /* W1 b1 ... WL bL */
    rg_node **grads;
    bool *is_weight;
    rg_node **targets; /* loss, logits, grads: what one training run evaluates */
    int ntargets;
};

rg_mlp_opts rg_mlp_defaults(void)
{
    return (rg_mlp_opts){
        .inputs = 0,
        .hidden = NULL,
        .nhidden = 0,
        .outputs = 0,
        .act = RG_ACT_RELU,
        .leaky_slope = 0.01,
        .loss = RG_LOSS_CROSS_ENTROPY,
        .init = RG_INIT_AUTO,
        .batch = 32,
        .seed = 1,
    };
}

void rg_mlp_free(rg_mlp *m)
{
    if (!m)
        return;
    rg_graph *g = m->g;
    rg__free(g, m->hidden);
    rg__free(g, m->W);
    rg__free(g, m->b);
    rg__free(g, m->a);
    rg__free(g, m->h);
    rg__free(g, m->params);
    rg__free(g, m->grads);
    rg__free(g, m->is_weight);
    rg__free(g, m->targets);
    rg__free(g, m);
}

static rg_status check_opts(rg_graph *g, const rg_mlp_opts *o)
{
    if (o->inputs < 1 || o->outputs < 1)
        return rg__fail(g, RG_ERR_ARG, "mlp: input and output sizes must be positive, got %lld "
                        "and %lld", (long long)o->inputs, (long long)o->outputs);
    if (o->nhidden < 0 || (o->nhidden > 0 && !o->hidden))
        return rg__fail(g, RG_ERR_ARG, "mlp: %d hidden layers announced, sizes not given",
                        o->nhidden);
    for (int i = 0; i < o->nhidden; i++)
        if (o->hidden[i] < 1)
            return rg__fail(g, RG_ERR_ARG, "mlp: hidden layer %d has size %lld", i + 1,
                            (long long)o->hidden[i]);
    if (o->batch < 1)
        return rg__fail(g, RG_ERR_ARG, "mlp: batch size must be positive, got %lld",
                        (long long)o->batch);
    if (!rg_activation_name(o->act))
        return rg__fail(g, RG_ERR_ARG, "mlp: unknown activation %d", (int)o->act);
    if (o->act == RG_ACT_LEAKY_RELU && !isfinite(o->leaky_slope))
        return rg__fail(g, RG_ERR_ARG, "mlp: leaky_relu slope is not finite");
    if (!rg_loss_name(o->loss))
        return rg__fail(g, RG_ERR_ARG, "mlp: unknown loss %d", (int)o->loss);
    if ((int)o->init < RG_INIT_AUTO || o->init > RG_INIT_ZEROS)
        return rg__fail(g, RG_ERR_ARG, "mlp: unknown initialiser %d", (int)o->init);
    return RG_OK;
}

static rg_status alloc_arrays(rg_mlp *m)
{
    rg_graph *g = m->g;
    size_t L1 = (size_t)m->L + 1, np = 2 * (size_t)m->L;
    m->hidden = rg__calloc(g, m->opts.nhidden ? (size_t)m->opts.nhidden : 1, sizeof(int64_t));
    m->W = rg__calloc(g, L1, sizeof *m->W);
    m->b = rg__calloc(g, L1, sizeof *m->b);
    m->a = rg__calloc(g, L1, sizeof *m->a);
    m->h = rg__calloc(g, L1, sizeof *m->h);
    m->params = rg__calloc(g, np, sizeof *m->params);
    m->grads = rg__calloc(g, np, sizeof *m->grads);
    m->is_weight = rg__calloc(g, np, sizeof *m->is_weight);
    m->targets = rg__calloc(g, np + 2, sizeof *m->targets);
    if (!m->hidden || !m->W || !m->b || !m->a || !m->h || !m->params || !m->grads ||
        !m->is_weight || !m->targets)
        return rg__fail(g, RG_ERR_NOMEM, "mlp: out of memory");
    return RG_OK;
}

/* The network proper: for k = 1..L, a_k = h_{k-1} W_k + b_k and h_k = g(a_k) below the
 * output. Weights are drawn layer by layer in row-major order from one generator, so the
 * seed fixes every initial value. */
static rg_status build_layers(rg_mlp *m)
{
    rg_graph *g = m->g;
    const rg_mlp_opts *o = &m->opts;
    rg_init init = o->init;
    if (init == RG_INIT_AUTO)
        init = o->act == RG_ACT_RELU || o->act == RG_ACT_LEAKY_RELU ? RG_INIT_HE_NORMAL
                                                                     : RG_INIT_GLOROT_UNIFORM;
    rg_rng rng;
    rg_rng_seed(&rng, o->seed);
    m->h[0] = m->x;
    for (int k = 1; k <= m->L; k++) {
        int64_t in = k == 1 ? o->inputs : m->hidden[k - 2];
        int64_t out = k == m->L ? o->outputs : m->hidden[k - 1];
        char wn[24], bn[24], an[24], hn[24];
        snprintf(wn, sizeof wn, "W%d", k);
        snprintf(bn, sizeof bn, "b%d", k);
        snprintf(an, sizeof an, "a%d", k);
        snprintf(hn, sizeof hn, "h%d", k);
        rg_dense layer;
        rg_status st = rg_dense_init(&layer, g, in, out, init, &rng, wn, bn);
        if (st != RG_OK)
            return st;
        m->W[k] = layer.W;
        m->b[k] = layer.b;
        m->a[k] = rg_dense_apply(&layer, m->h[k - 1]);
        if (!m->a[k] || rg_node_set_name(m->a[k], an) != RG_OK)
            return rg_graph_status(g);
        if (k < m->L) {
            m->h[k] = rg_activate(m->a[k], o->act, o->leaky_slope);
            if (!m->h[k] || rg_node_set_name(m->h[k], hn) != RG_OK)
                return rg_graph_status(g);
        } else {
            m->h[k] = m->a[k];
        }
        m->params[2 * (k - 1)] = layer.W;
        m->params[2 * (k - 1) + 1] = layer.b;
        m->is_weight[2 * (k - 1)] = true;
        m->is_weight[2 * (k - 1) + 1] = false;
    }
    m->logits = m->a[m->L];
    return RG_OK;
}

static rg_node *build_loss(rg_mlp *m)
{
    switch (m->opts.loss) {
    case RG_LOSS_CROSS_ENTROPY:
        return rg_cross_entropy(m->logits, m->y);
    case RG_LOSS_MSE:
        return rg_mse(m->logits, m->y);
    case RG_LOSS_MSE_ONEHOT:
        return rg_mse(m->logits, rg_one_hot(m->y, m->opts.outputs));
    case RG_LOSS_BCE_LOGITS:
        return rg_bce_logits(m->logits, m->y);
    }
    return NULL;
}

rg_mlp *rg_mlp_new(rg_graph *g, const rg_mlp_opts *opts)
{
    if (!g)
        return NULL;
    if (!opts) {
        rg__fail(g, RG_ERR_ARG, "mlp: no options given");
        return NULL;
    }
    if (check_opts(g, opts) != RG_OK)
        return NULL;
    rg_mlp *m = rg__calloc(g, 1, sizeof *m);
    if (!m) {
        rg__fail(g, RG_ERR_NOMEM, "mlp: out of memory");
        return NULL;
    }
    m->g = g;
    m->opts = *opts;
    m->L = opts->nhidden + 1;
    if (alloc_arrays(m) != RG_OK)
        goto fail;
    if (opts->nhidden)
        memcpy(m->hidden, opts->hidden, (size_t)opts->nhidden * sizeof *m->hidden);
    m->opts.hidden = opts->nhidden ? m->hidden : NULL;

    int64_t xshape[2] = {opts->batch, opts->inputs};
    int64_t yshape[2] = {opts->batch, opts->outputs};
    bool real_targets = opts->loss == RG_LOSS_MSE || opts->loss == RG_LOSS_BCE_LOGITS;
    m->x = rg_input(g, "x", 2, xshape);
    m->y = rg_input(g, "y", real_targets ? 2 : 1, yshape);
    if (!m->x || !m->y || build_layers(m) != RG_OK)
        goto fail;
    m->loss = build_loss(m);
    if (!m->loss || rg_node_set_name(m->loss, "loss") != RG_OK)
        goto fail;

    int np = 2 * m->L;
    if (rg_grad(m->loss, np, m->params, m->grads) != RG_OK)
        goto fail;
    m->targets[0] = m->loss;
    m->targets[1] = m->logits;
    memcpy(m->targets + 2, m->grads, (size_t)np * sizeof *m->grads);
    m->ntargets = np + 2;
    return m;

fail:
    if (rg_graph_status(g) == RG_OK)
        rg__fail(g, RG_ERR_NOMEM, "mlp: could not build the model");
    rg_mlp_free(m);
    return NULL;
}

/* ---- accessors ---- */

rg_graph *rg_mlp_graph(const rg_mlp *m)
{
    return m ? m->g : NULL;
}

const rg_mlp_opts *rg_mlp_options(const rg_mlp *m)
{
    return m ? &m->opts : NULL;
}

int rg_mlp_layers(const rg_mlp *m)
{
    return m ? m->L : 0;
}

rg_node *rg_mlp_input(const rg_mlp *m)
{
    return m ? m->x : NULL;
}

rg_node *rg_mlp_labels(const rg_mlp *m)
{
    return m ? m->y : NULL;
}

rg_node *rg_mlp_logits(const rg_mlp *m)
{
    return m ? m->logits : NULL;
}

rg_node *rg_mlp_loss(const rg_mlp *m)
{
    return m ? m->loss : NULL;
}

static rg_node *layer_node(const rg_mlp *m, rg_node *const *v, int k, int lo)
{
    return m && k >= lo && k <= m->L ? v[k] : NULL;
}

rg_node *rg_mlp_weight(const rg_mlp *m, int k)
{
    return m ? layer_node(m, m->W, k, 1) : NULL;
}

rg_node *rg_mlp_bias(const rg_mlp *m, int k)
{
    return m ? layer_node(m, m->b, k, 1) : NULL;
}

rg_node *rg_mlp_pre(const rg_mlp *m, int k)
{
    return m ? layer_node(m, m->a, k, 1) : NULL;
}

rg_node *rg_mlp_hidden(const rg_mlp *m, int k)
{
    return m ? layer_node(m, m->h, k, 0) : NULL;
}

rg_node *const *rg_mlp_params(const rg_mlp *m, int *n)
{
    if (n)
        *n = m ? 2 * m->L : 0;
    return m ? m->params : NULL;
}

rg_node *const *rg_mlp_grads(const rg_mlp *m, int *n)
{
    if (n)
        *n = m ? 2 * m->L : 0;
    return m ? m->grads : NULL;
}

const bool *rg_mlp_is_weight(const rg_mlp *m)
{
    return m ? m->is_weight : NULL;
}

/* ---- running ---- */

rg_status rg_mlp_forward(rg_mlp *m)
{
    if (!m)
        return RG_ERR_ARG;
    return rg_eval1(m->logits);
}

rg_status rg_mlp_backward(rg_mlp *m)
{
    if (!m)
        return RG_ERR_ARG;
    return rg_eval(m->g, m->ntargets, m->targets);
}

rg_status rg_mlp_scores(rg_mlp *m, const double *x, int64_t rows, double *scores)
{
    if (!m)
        return RG_ERR_ARG;
    if (rows < 0 || (rows > 0 && (!x || !scores)))
        return rg__fail(m->g, RG_ERR_ARG, "mlp_scores: no data or no output buffer");
    rg_status st = rg_feed_borrow(m->x, NULL);
    if (st != RG_OK)
        return st;
    int64_t batch = m->opts.batch, in = m->opts.inputs, out = m->opts.outputs;
    bool f32 = rg_graph_dtype(m->g) == RG_F32;
    void *buf = rg_node_data(m->x);
    for (int64_t r0 = 0; r0 < rows; r0 += batch) {
        int64_t n = rows - r0 < batch ? rows - r0 : batch;
        const double *src = x + r0 * in;
        /* rows past the end are zeros: they are computed and thrown away */
        for (int64_t i = 0; i < batch * in; i++) {
            double v = i < n * in ? src[i] : 0.0;
            if (f32)
                ((float *)buf)[i] = (float)v;
            else
                ((double *)buf)[i] = v;
        }
        st = rg_eval1(m->logits);
        if (st != RG_OK)
            return st;
        for (int64_t i = 0; i < n * out; i++)
            scores[r0 * out + i] = rg_node_get(m->logits, i);
    }
    return RG_OK;
}

rg_status rg_mlp_copy_params(rg_mlp *dst, const rg_mlp *src)
{
    if (!dst || !src)
        return RG_ERR_ARG;
    bool same = dst->opts.inputs == src->opts.inputs && dst->opts.outputs == src->opts.outputs &&
                dst->L == src->L;
    for (int i = 0; same && i < dst->opts.nhidden; i++)
        same = dst->hidden[i] == src->hidden[i];
    if (!same)
        return rg__fail(dst->g, RG_ERR_SHAPE, "mlp_copy_params: the architectures differ");
    for (int p = 0; p < 2 * dst->L; p++) {
        rg_node *d = dst->params[p];
        const rg_node *s = src->params[p];
        void *dd = rg_node_data(d);
        int64_t n = rg_node_size(d);
        bool f32 = rg_graph_dtype(dst->g) == RG_F32;
        if (rg_graph_dtype(dst->g) == rg_graph_dtype(src->g)) {
            memcpy(dd, rg_node_data(s), (size_t)n * (f32 ? sizeof(float) : sizeof(double)));
            continue;
        }
        for (int64_t i = 0; i < n; i++) {
            double v = rg_node_get(s, i);
            if (f32)
                ((float *)dd)[i] = (float)v;
            else
                ((double *)dd)[i] = v;
        }
    }
    return RG_OK;
}
