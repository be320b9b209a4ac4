/* Initialisers, the dense layer, activations by name and the binary cross-entropy loss.
 * Everything is built from public op constructors: the engine differentiates it. */
#include "internal.h"

#include <math.h>
#include <string.h>

/* ---- initialisers ---- */

rg_status rg_init_param(rg_node *w, rg_init init, rg_rng *rng)
{
    if (!w)
        return RG_ERR_ARG;
    rg_graph *g = rg_node_graph(w);
    if (rg_node_kind(w) != RG_KIND_PARAM)
        return rg__fail(g, RG_ERR_ARG, "init: node '%s' is not a parameter",
                        rg_node_name(w) ? rg_node_name(w) : rg_node_op_name(w));
    if (init != RG_INIT_ZEROS && !rng)
        return rg__fail(g, RG_ERR_ARG, "init: no random generator given");
    int64_t n = rg_node_size(w);
    int nd = rg_node_ndim(w);
    const int64_t *shape = rg_node_shape(w);
    int64_t fan_in = nd >= 2 ? shape[nd - 2] : n;
    int64_t fan_out = nd >= 2 ? shape[nd - 1] : n;
    if (fan_in < 1)
        fan_in = 1;
    if (fan_out < 1)
        fan_out = 1;

    double lo = 0.0, hi = 0.0, sd = 0.0;
    bool normal = false;
    switch (init) {
    case RG_INIT_AUTO:
    case RG_INIT_GLOROT_UNIFORM:
        /* Glorot and Bengio (2010): Var(W) = 2 / (fan_in + fan_out) keeps the variance of
         * activations and of gradients roughly constant across tanh/sigmoid layers; a
         * uniform on [-a, a] has variance a^2 / 3. */
        hi = sqrt(6.0 / (double)(fan_in + fan_out));
        lo = -hi;
        break;
    case RG_INIT_HE_NORMAL:
        /* He et al. (2015): relu zeroes half its inputs, so Var(W) = 2 / fan_in. */
        sd = sqrt(2.0 / (double)fan_in);
        normal = true;
        break;
    case RG_INIT_ZEROS:
        break;
    default:
        return rg__fail(g, RG_ERR_ARG, "init: unknown initialiser %d", (int)init);
    }
    void *data = rg_node_data(w);
    if (!data)
        return rg__fail(g, RG_ERR_ARG, "init: parameter has no buffer");
    bool f32 = rg_graph_dtype(g) == RG_F32;
    for (int64_t i = 0; i < n; i++) {
        double v = init == RG_INIT_ZEROS ? 0.0
                   : normal             ? sd * rg_rng_normal(rng)
                                        : rg_rng_range(rng, lo, hi);
        if (f32)
            ((float *)data)[i] = (float)v;
        else
            ((double *)data)[i] = v;
    }
    return RG_OK;
}

/* ---- the dense layer ---- */

rg_status rg_dense_init(rg_dense *layer, rg_graph *g, int64_t in, int64_t out, rg_init init,
                        rg_rng *rng, const char *wname, const char *bname)
{
    if (!layer)
        return g ? rg__fail(g, RG_ERR_ARG, "dense: no layer given") : RG_ERR_ARG;
    layer->W = layer->b = NULL;
    if (!g)
        return RG_ERR_ARG;
    if (in < 1 || out < 1)
        return rg__fail(g, RG_ERR_ARG, "dense: sizes must be positive, got %lld -> %lld",
                        (long long)in, (long long)out);
    int64_t wshape[2] = {in, out};
    rg_node *W = rg_param(g, wname, 2, wshape, NULL);
    rg_node *b = rg_param(g, bname, 1, &out, NULL);
    if (!W || !b)
        return rg_graph_status(g);
    rg_status st = rg_init_param(W, init, rng);
    if (st != RG_OK)
        return st;
    layer->W = W;
    layer->b = b;
    return RG_OK;
}

/* a = x W + b: [N, in] @ [in, out] + [out] (b broadcast over the rows). Its gradients are the
 * VJPs of matmul and add: dW = x^T da, dx = da W^T, db = sum of da over the rows. */
rg_node *rg_dense_apply(const rg_dense *layer, rg_node *x)
{
    if (!layer)
        return NULL;
    return rg_add(rg_matmul(x, layer->W), layer->b);
}

/* ---- activations ---- */

static const char *const act_names[] = {"relu", "tanh", "sigmoid", "leaky_relu"};

const char *rg_activation_name(rg_activation act)
{
    if ((int)act < 0 || (size_t)act >= sizeof act_names / sizeof act_names[0])
        return NULL;
    return act_names[act];
}

int rg_activation_from_name(const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < sizeof act_names / sizeof act_names[0]; i++)
        if (strcmp(name, act_names[i]) == 0)
            return (int)i;
    return -1;
}

rg_node *rg_activate(rg_node *x, rg_activation act, double slope)
{
    switch (act) {
    case RG_ACT_RELU:
        return rg_relu(x);
    case RG_ACT_TANH:
        return rg_tanh(x);
    case RG_ACT_SIGMOID:
        return rg_sigmoid(x);
    case RG_ACT_LEAKY_RELU:
        return rg_leaky_relu(x, slope);
    }
    if (x)
        rg__fail(rg_node_graph(x), RG_ERR_ARG, "activate: unknown activation %d", (int)act);
    return NULL;
}

/* ---- losses ---- */

static const char *const loss_names[] = {"cross_entropy", "mse", "mse_onehot", "bce_logits"};

const char *rg_loss_name(rg_loss loss)
{
    if ((int)loss < 0 || (size_t)loss >= sizeof loss_names / sizeof loss_names[0])
        return NULL;
    return loss_names[loss];
}

int rg_loss_from_name(const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < sizeof loss_names / sizeof loss_names[0]; i++)
        if (strcmp(name, loss_names[i]) == 0)
            return (int)i;
    return -1;
}

/* mean(max(x,0) - x y + log(1 + e^-|x|)). The naive -y log s(x) - (1-y) log(1 - s(x))
 * overflows in e^-x for x << 0 and takes log(0) once s(x) rounds to 1; here the only
 * exponential is of -|x| <= 0, computed by softplus(-|x|) = log(1 + e^-|x|).
 * d/dx = H(x) - y - s(-|x|) sign(x) = s(x) - y, and the kink rules give the same at x = 0. */
rg_node *rg_bce_logits(rg_node *logits, rg_node *targets)
{
    rg_node *x = logits;
    if (x && targets) {
        /* targets [N] against logits [N,1] would broadcast to [N,N]: refuse what would
         * change the logits' shape rather than silently average N^2 terms */
        int64_t out[RG_MAX_DIMS];
        int nd = rg__broadcast_shape(x->ndim, x->shape, targets->ndim, targets->shape, out);
        if (nd < 0 || !rg__shape_eq(nd, out, x->ndim, x->shape)) {
            char a[128], b[128];
            rg__fail(x->g, RG_ERR_SHAPE, "bce_logits: targets %s do not match logits %s",
                     rg_shape_str(targets->ndim, targets->shape, a, sizeof a),
                     rg_shape_str(x->ndim, x->shape, b, sizeof b));
            return NULL;
        }
    }
    rg_node *pos = rg_relu(x);
    rg_node *xy = rg_mul(x, targets);
    rg_node *tail = rg_softplus(rg_neg(rg_abs(x)));
    rg_node *per = rg_add(rg_sub(pos, xy), tail);
    return rg_mean(per, RG_AXIS_ALL, false);
}
