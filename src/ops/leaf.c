/* Leaves: inputs (fed per run), parameters (kept across runs), constants, and fill (a
 * constant computed by the executor rather than stored, used for the exact zeros of VJPs). */
#include "internal.h"

#include <string.h>

/* Leaves are never scheduled: their value is their buffer. They have no VJP because the
 * sweep stops at them (they are what gradients are taken with respect to). */
const rg_op_def rg__op_input = {.name = "input", .arity = 0};
const rg_op_def rg__op_param = {.name = "param", .arity = 0};
const rg_op_def rg__op_const = {.name = "const", .arity = 0};

rg_node *rg_input(rg_graph *g, const char *name, int ndim, const int64_t *shape)
{
    return rg__make_leaf(g, RG_OP_INPUT, RG_KIND_INPUT, name, ndim, shape, NULL);
}

rg_node *rg_param(rg_graph *g, const char *name, int ndim, const int64_t *shape,
                  const void *data)
{
    return rg__make_leaf(g, RG_OP_PARAM, RG_KIND_PARAM, name, ndim, shape, data);
}

rg_node *rg_const(rg_graph *g, int ndim, const int64_t *shape, const void *data)
{
    return rg__make_leaf(g, RG_OP_CONST, RG_KIND_CONST, NULL, ndim, shape, data);
}

rg_node *rg_scalar(rg_graph *g, double value)
{
    if (!g)
        return NULL;
    float f = (float)value;
    return rg_const(g, 0, NULL, g->dtype == RG_F32 ? (const void *)&f : (const void *)&value);
}

static rg_status check_writable(const rg_node *n, const char *what)
{
    if (n->kind == RG_KIND_OP)
        return rg__fail(n->g, RG_ERR_ARG, "%s: node %u is a %s op, not an input or parameter",
                        what, n->id, rg_node_op_name(n));
    return RG_OK;
}

rg_status rg_feed(rg_node *n, const void *data)
{
    if (!n || !data)
        return RG_ERR_ARG;
    rg_status st = check_writable(n, "feed");
    if (st != RG_OK)
        return st;
    n->data = n->own;
    memcpy(n->own, data, (size_t)n->size * n->g->elem);
    return RG_OK;
}

rg_status rg_feed_borrow(rg_node *n, const void *data)
{
    if (!n)
        return RG_ERR_ARG;
    rg_status st = check_writable(n, "feed_borrow");
    if (st != RG_OK)
        return st;
    /* const is cast away: the executor only reads leaf buffers. */
    n->data = data ? (void *)data : n->own;
    return RG_OK;
}

rg_status rg_feed_f64(rg_node *n, const double *data, int64_t count)
{
    if (!n || (!data && count))
        return RG_ERR_ARG;
    rg_status st = check_writable(n, "feed");
    if (st != RG_OK)
        return st;
    if (count != n->size)
        return rg__fail(n->g, RG_ERR_SHAPE, "feed: node '%s' holds %lld values, given %lld",
                        n->name ? n->name : rg_node_op_name(n), (long long)n->size,
                        (long long)count);
    n->data = n->own;
    if (n->g->dtype == RG_F64) {
        memcpy(n->own, data, (size_t)count * sizeof(double));
    } else {
        float *f = n->own;
        for (int64_t i = 0; i < count; i++)
            f[i] = (float)data[i];
    }
    return RG_OK;
}

/* fill: out[i] = value; shape given; derivative: none needed (no inputs). */
static rg_status shape_fill(rg_node *n)
{
    return n->size >= 0 ? RG_OK : rg_node_fail(n, RG_ERR_SHAPE, "fill: no shape given");
}

static rg_status fwd_fill_f32(rg_node *n)
{
    float *y = n->data, v = (float)n->attr.f;
    for (int64_t i = 0; i < n->size; i++)
        y[i] = v;
    return RG_OK;
}

static rg_status fwd_fill_f64(rg_node *n)
{
    double *y = n->data, v = n->attr.f;
    for (int64_t i = 0; i < n->size; i++)
        y[i] = v;
    return RG_OK;
}

static rg_status vjp_fill(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    (void)n, (void)gy, (void)need, (void)gin;
    return RG_OK; /* no inputs */
}

const rg_op_def rg__op_fill = {
    .name = "fill",
    .arity = 0,
    .shape = shape_fill,
    .forward_f32 = fwd_fill_f32,
    .forward_f64 = fwd_fill_f64,
    .vjp = vjp_fill,
};

rg_node *rg_fill(rg_graph *g, int ndim, const int64_t *shape, double value)
{
    struct rg__attr a = {.f = value};
    return rg__make_shaped(g, RG_OP_FILL, 0, NULL, &a, ndim, shape);
}

rg_node *rg__zeros_like(rg_node *x)
{
    return x ? rg_fill(x->g, x->ndim, x->shape, 0.0) : NULL;
}
