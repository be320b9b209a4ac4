/* Shapes and indexing: reshape, broadcast_to, sum_to, concat, slice, pad, gather,
 * scatter_add, one_hot. Each op is its shape rule, kernels, VJP and table row side by side.
 *
 * Ops that only move elements have one kernel for both dtypes: either byte copies of
 * n->g->elem-sized elements, or a template over the element's width (uint32_t for f32,
 * uint64_t for f64). Index tensors hold integer values in the graph's dtype; their kernels
 * check every value and reject a bad one with RG_ERR_DOMAIN, the only way they can fail. */
#include "internal.h"
#include "kernels/broadcast.h"

#include <string.h>

static rg_status vjp_done(const rg_node *n, const bool *need, rg_node *const *gin)
{
    for (int i = 0; i < n->arity; i++) {
        if (need[i] && !gin[i]) {
            rg_status st = rg_graph_status(n->g);
            return st != RG_OK ? st : RG_ERR_NOMEM;
        }
    }
    return RG_OK;
}

/* axis normalised against ndim; an invalid axis is kept as given, for the shape rule to
 * report in the user's terms. */
static int32_t norm_axis(int axis, int ndim)
{
    const int a = axis == RG_AXIS_ALL ? -1 : rg__axis(axis, ndim);
    return a >= 0 ? a : axis;
}

/* Product of shape[from..to). */
static int64_t span(const int64_t *shape, int from, int to)
{
    int64_t p = 1;
    for (int i = from; i < to; i++)
        p *= shape[i];
    return p;
}

/* True when (ndim, shape) is a valid shape equal to x's: shape ops then return x itself. */
static bool same_target(const rg_node *x, int ndim, const int64_t *shape)
{
    return x && ndim >= 0 && ndim <= RG_MAX_DIMS && (shape || ndim == 0) &&
           rg__shape_eq(ndim, shape, x->ndim, x->shape);
}

/* y = x, for ops whose output has x's data in x's order. */
static rg_status fwd_copy(rg_node *n)
{
    memcpy(n->data, n->in[0]->data, (size_t)n->size * n->g->elem);
    return RG_OK;
}

/* ---------------------------------------------------------------------------------------
 * reshape: y = x with a new shape of the same size (the shape given to rg__make_shaped);
 * gx = reshape(gy, x.shape).
 * ------------------------------------------------------------------------------------- */

static rg_status shape_reshape(rg_node *n)
{
    const rg_node *x = n->in[0];
    char sx[160], sy[160];
    if (n->size < 0)
        return rg_node_fail(n, RG_ERR_SHAPE, "reshape: no target shape given");
    if (n->size != x->size)
        return rg_node_fail(n, RG_ERR_SHAPE, "reshape: cannot reshape %s (%lld elements) to %s "
                            "(%lld elements)", rg_shape_str(x->ndim, x->shape, sx, sizeof sx),
                            (long long)x->size, rg_shape_str(n->ndim, n->shape, sy, sizeof sy),
                            (long long)n->size);
    return RG_OK;
}

static rg_status vjp_reshape(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    gin[0] = rg_reshape(gy, n->in[0]->ndim, n->in[0]->shape);
    return vjp_done(n, need, gin);
}

const rg_op_def rg__op_reshape = {
    .name = "reshape",
    .arity = 1,
    .shape = shape_reshape,
    .forward_f32 = fwd_copy,
    .forward_f64 = fwd_copy,
    .vjp = vjp_reshape,
};

rg_node *rg_reshape(rg_node *x, int ndim, const int64_t *shape)
{
    if (!x)
        return NULL;
    char sx[160], sy[160];
    if (ndim < 0 || ndim > RG_MAX_DIMS || (ndim > 0 && !shape)) {
        rg__fail(x->g, RG_ERR_SHAPE, "reshape: a tensor has 0 to %d dimensions, not %d",
                 RG_MAX_DIMS, ndim);
        return NULL;
    }
    int64_t s[RG_MAX_DIMS];
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < ndim; i++) {
        s[i] = shape[i];
        if (shape[i] == -1 && infer < 0) {
            infer = i;
        } else if (shape[i] < 0) {
            rg__fail(x->g, RG_ERR_SHAPE, "reshape: invalid target shape %s (one -1 at most, "
                     "other dimensions >= 0)", rg_shape_str(ndim, shape, sy, sizeof sy));
            return NULL;
        } else if (shape[i] > 0) {
            /* saturates: a product past INT64_MAX cannot divide the size anyway */
            known = known > INT64_MAX / shape[i] ? INT64_MAX : known * shape[i];
        }
    }
    if (infer >= 0) {
        if (known == 0 || x->size % known != 0) {
            rg__fail(x->g, RG_ERR_SHAPE, "reshape: cannot reshape %s (%lld elements) to %s",
                     rg_shape_str(x->ndim, x->shape, sx, sizeof sx), (long long)x->size,
                     rg_shape_str(ndim, shape, sy, sizeof sy));
            return NULL;
        }
        s[infer] = x->size / known;
    }
    if (rg__shape_eq(ndim, s, x->ndim, x->shape))
        return x;
    rg_node *in[1] = {x};
    return rg__make_shaped(x->g, RG_OP_RESHAPE, 1, in, NULL, ndim, s);
}

/* ---------------------------------------------------------------------------------------
 * broadcast_to: y = x repeated along the axes where x has size 1 or lacks them (NumPy
 * rules), y.shape the target; gx = sum_to(gy, x.shape).
 * ------------------------------------------------------------------------------------- */

/* True when `from` broadcasts to `to` (aligned from the right, each dimension equal or 1). */
static bool broadcasts(int nf, const int64_t *from, int nt, const int64_t *to)
{
    if (nf > nt)
        return false;
    for (int i = 0; i < nf; i++) {
        const int64_t d = from[nf - 1 - i];
        if (d != 1 && d != to[nt - 1 - i])
            return false;
    }
    return true;
}

static rg_status shape_broadcast_to(rg_node *n)
{
    const rg_node *x = n->in[0];
    char sx[160], sy[160];
    if (n->size < 0)
        return rg_node_fail(n, RG_ERR_SHAPE, "broadcast_to: no target shape given");
    if (!broadcasts(x->ndim, x->shape, n->ndim, n->shape))
        return rg_node_fail(n, RG_ERR_SHAPE, "broadcast_to: cannot broadcast %s to %s",
                            rg_shape_str(x->ndim, x->shape, sx, sizeof sx),
                            rg_shape_str(n->ndim, n->shape, sy, sizeof sy));
    return RG_OK;
}

/* Walks y in order, reading x through its broadcast strides (0 along repeated axes). */
static rg_status fwd_broadcast_to(rg_node *n)
{
    int64_t st[RG_MAX_DIMS];
    rg__bcast_strides(n->in[0], n->ndim, n->shape, st);
    rg__strided_copy(n->data, n->in[0]->data, n->g->elem, n->ndim, n->shape, st);
    return RG_OK;
}

static rg_status vjp_broadcast_to(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    gin[0] = rg_sum_to(gy, n->in[0]->ndim, n->in[0]->shape);
    return vjp_done(n, need, gin);
}

const rg_op_def rg__op_broadcast_to = {
    .name = "broadcast_to",
    .arity = 1,
    .shape = shape_broadcast_to,
    .forward_f32 = fwd_broadcast_to,
    .forward_f64 = fwd_broadcast_to,
    .vjp = vjp_broadcast_to,
};

rg_node *rg_broadcast_to(rg_node *x, int ndim, const int64_t *shape)
{
    if (same_target(x, ndim, shape))
        return x;
    rg_node *in[1] = {x};
    return rg__make_shaped(x ? x->g : NULL, RG_OP_BROADCAST_TO, 1, in, NULL, ndim, shape);
}

/* ---------------------------------------------------------------------------------------
 * sum_to: y = x summed over its leading axes and over the axes where the target has size 1,
 * so that y broadcasts back to x (the adjoint of broadcast_to); gx = broadcast_to(gy, x).
 * ------------------------------------------------------------------------------------- */

static rg_status shape_sum_to(rg_node *n)
{
    const rg_node *x = n->in[0];
    char sx[160], sy[160];
    if (n->size < 0)
        return rg_node_fail(n, RG_ERR_SHAPE, "sum_to: no target shape given");
    if (!broadcasts(n->ndim, n->shape, x->ndim, x->shape))
        return rg_node_fail(n, RG_ERR_SHAPE, "sum_to: cannot sum %s to %s, which does not "
                            "broadcast to it", rg_shape_str(x->ndim, x->shape, sx, sizeof sx),
                            rg_shape_str(n->ndim, n->shape, sy, sizeof sy));
    return RG_OK;
}

/* out[0:n] += in[0:n]. restrict and the fixed-width inner loop let the compiler vectorise
 * it at -O2 (it does not vectorise a loop that needs a scalar tail there). */
#define ADD_ROW(T, sfx)                                                                    \
    static void add_row_##sfx(T *restrict out, const T *restrict in, int64_t n)            \
    {                                                                                      \
        int64_t j = 0;                                                                     \
        for (; j + 8 <= n; j += 8)                                                         \
            for (int k = 0; k < 8; k++)                                                    \
                out[j + k] += in[j + k];                                                   \
        for (; j < n; j++)                                                                 \
            out[j] += in[j];                                                               \
    }
ADD_ROW(float, f32)
ADD_ROW(double, f64)

/* Walks x in order and adds each element into y at y's broadcast strides (0 along the
 * summed axes): rows of x along its last axis either add into a row of y or, when that
 * axis is summed, into one element. */
#define SUM_TO_FWD(T, sfx)                                                                 \
    static rg_status fwd_sum_to_##sfx(rg_node *n)                                          \
    {                                                                                      \
        const rg_node *x = n->in[0];                                                       \
        const T *src = x->data;                                                            \
        T *dst = n->data;                                                                  \
        const int nd = x->ndim;                                                            \
        for (int64_t i = 0; i < n->size; i++)                                              \
            dst[i] = 0;                                                                    \
        if (x->size == 0)                                                                  \
            return RG_OK;                                                                  \
        if (n->size == 1) {                                                                \
            double s = 0;                                                                  \
            for (int64_t i = 0; i < x->size; i++)                                          \
                s += src[i];                                                               \
            dst[0] = (T)s;                                                                 \
            return RG_OK;                                                                  \
        }                                                                                  \
        int64_t st[RG_MAX_DIMS], idx[RG_MAX_DIMS] = {0};                                   \
        rg__bcast_strides(n, nd, x->shape, st);                                            \
        const int64_t inner = x->shape[nd - 1];                                            \
        int64_t off = 0;                                                                   \
        for (int64_t o = 0; o < x->size; o += inner) {                                     \
            const T *row = src + o;                                                        \
            if (st[nd - 1] == 0) {                                                         \
                T s = 0;                                                                   \
                for (int64_t j = 0; j < inner; j++)                                        \
                    s += row[j];                                                           \
                dst[off] += s;                                                             \
            } else {                                                                       \
                add_row_##sfx(dst + off, row, inner);                                      \
            }                                                                              \
            for (int ax = nd - 2; ax >= 0; ax--) {                                         \
                off += st[ax];                                                             \
                if (++idx[ax] < x->shape[ax])                                              \
                    break;                                                                 \
                off -= st[ax] * x->shape[ax];                                              \
                idx[ax] = 0;                                                               \
            }                                                                              \
        }                                                                                  \
        return RG_OK;                                                                      \
    }
SUM_TO_FWD(float, f32)
SUM_TO_FWD(double, f64)

static rg_status vjp_sum_to(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    gin[0] = rg_broadcast_to(gy, n->in[0]->ndim, n->in[0]->shape);
    return vjp_done(n, need, gin);
}

const rg_op_def rg__op_sum_to = {
    .name = "sum_to",
    .arity = 1,
    .shape = shape_sum_to,
    .forward_f32 = fwd_sum_to_f32,
    .forward_f64 = fwd_sum_to_f64,
    .vjp = vjp_sum_to,
};

rg_node *rg_sum_to(rg_node *x, int ndim, const int64_t *shape)
{
    if (same_target(x, ndim, shape))
        return x;
    rg_node *in[1] = {x};
    return rg__make_shaped(x ? x->g : NULL, RG_OP_SUM_TO, 1, in, NULL, ndim, shape);
}

/* ---------------------------------------------------------------------------------------
 * concat: y = [a, b] joined along attr.axis (other dimensions equal);
 * ga = slice(gy, axis, 0, na), gb = slice(gy, axis, na, na + nb).
 * ------------------------------------------------------------------------------------- */

static rg_status shape_concat(rg_node *n)
{
    const rg_node *a = n->in[0], *b = n->in[1];
    const int axis = n->attr.axis;
    char sa[160], sb[160];
    rg_shape_str(a->ndim, a->shape, sa, sizeof sa);
    rg_shape_str(b->ndim, b->shape, sb, sizeof sb);
    if (axis < 0 || axis >= a->ndim)
        return rg_node_fail(n, RG_ERR_SHAPE, "concat: axis %d out of range for %s", axis, sa);
    bool same = a->ndim == b->ndim;
    for (int i = 0; same && i < a->ndim; i++)
        same = i == axis || a->shape[i] == b->shape[i];
    if (!same)
        return rg_node_fail(n, RG_ERR_SHAPE, "concat: shapes differ outside axis %d: %s and %s",
                            axis, sa, sb);
    int64_t shape[RG_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    shape[axis] += b->shape[axis];
    return rg_node_set_shape(n, a->ndim, shape);
}

/* Byte copies: for each index over the axes before `axis`, a's block then b's block. */
static rg_status fwd_concat(rg_node *n)
{
    const rg_node *a = n->in[0], *b = n->in[1];
    const int axis = n->attr.axis;
    const size_t elem = n->g->elem;
    const int64_t outer = span(n->shape, 0, axis), inner = span(n->shape, axis + 1, n->ndim);
    const size_t ca = (size_t)(a->shape[axis] * inner) * elem;
    const size_t cb = (size_t)(b->shape[axis] * inner) * elem;
    const char *pa = a->data, *pb = b->data;
    char *y = n->data;
    for (int64_t o = 0; o < outer; o++) {
        memcpy(y, pa + (size_t)o * ca, ca);
        memcpy(y + ca, pb + (size_t)o * cb, cb);
        y += ca + cb;
    }
    return RG_OK;
}

static rg_status vjp_concat(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    const int axis = n->attr.axis;
    const int64_t na = n->in[0]->shape[axis];
    if (need[0])
        gin[0] = rg_slice(gy, axis, 0, na);
    if (need[1])
        gin[1] = rg_slice(gy, axis, na, n->shape[axis]);
    return vjp_done(n, need, gin);
}

const rg_op_def rg__op_concat = {
    .name = "concat",
    .arity = 2,
    .shape = shape_concat,
    .forward_f32 = fwd_concat,
    .forward_f64 = fwd_concat,
    .vjp = vjp_concat,
};

rg_node *rg_concat(rg_node *a, rg_node *b, int axis)
{
    rg_node *in[2] = {a, b};
    struct rg__attr attr = {.axis = a ? norm_axis(axis, a->ndim) : axis};
    return rg__make(rg__graph_of(2, in), RG_OP_CONCAT, 2, in, &attr);
}

/* ---------------------------------------------------------------------------------------
 * slice: y = x[..., i0:i1, ...] along attr.axis (0 <= i0 <= i1 <= x.shape[axis]);
 * gx = pad(gy, axis, i0, x.shape[axis]).
 * ------------------------------------------------------------------------------------- */

static rg_status shape_slice(rg_node *n)
{
    const rg_node *x = n->in[0];
    const int axis = n->attr.axis;
    char sx[160];
    rg_shape_str(x->ndim, x->shape, sx, sizeof sx);
    if (axis < 0 || axis >= x->ndim)
        return rg_node_fail(n, RG_ERR_SHAPE, "slice: axis %d out of range for %s", axis, sx);
    const int64_t start = n->attr.i0, stop = n->attr.i1;
    if (start < 0 || start > stop || stop > x->shape[axis])
        return rg_node_fail(n, RG_ERR_SHAPE, "slice: [%lld, %lld) out of range for axis %d of %s",
                            (long long)start, (long long)stop, axis, sx);
    int64_t shape[RG_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[axis] = stop - start;
    return rg_node_set_shape(n, x->ndim, shape);
}

static rg_status fwd_slice(rg_node *n)
{
    const rg_node *x = n->in[0];
    const int axis = n->attr.axis;
    const size_t elem = n->g->elem;
    const int64_t outer = span(x->shape, 0, axis), inner = span(x->shape, axis + 1, x->ndim);
    const size_t row = (size_t)(x->shape[axis] * inner) * elem;
    const size_t len = (size_t)(n->shape[axis] * inner) * elem;
    const char *src = (const char *)x->data + (size_t)(n->attr.i0 * inner) * elem;
    char *y = n->data;
    for (int64_t o = 0; o < outer; o++)
        memcpy(y + (size_t)o * len, src + (size_t)o * row, len);
    return RG_OK;
}

static rg_status vjp_slice(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    const int axis = n->attr.axis;
    gin[0] = rg_pad(gy, axis, n->attr.i0, n->in[0]->shape[axis]);
    return vjp_done(n, need, gin);
}

const rg_op_def rg__op_slice = {
    .name = "slice",
    .arity = 1,
    .shape = shape_slice,
    .forward_f32 = fwd_slice,
    .forward_f64 = fwd_slice,
    .vjp = vjp_slice,
};

/* The whole axis returns x itself. */
rg_node *rg_slice(rg_node *x, int axis, int64_t start, int64_t stop)
{
    if (!x)
        return NULL;
    struct rg__attr attr = {.axis = norm_axis(axis, x->ndim), .i0 = start, .i1 = stop};
    if (attr.axis >= 0 && attr.axis < x->ndim && start == 0 && stop == x->shape[attr.axis])
        return x;
    rg_node *in[1] = {x};
    return rg__make(x->g, RG_OP_SLICE, 1, in, &attr);
}

/* ---------------------------------------------------------------------------------------
 * pad: y = zeros with y.shape[axis] = attr.i1 and x placed at offset attr.i0 along
 * attr.axis (0 <= i0, i0 + x.shape[axis] <= i1); gx = slice(gy, axis, i0, i0 + x.shape[axis]).
 * ------------------------------------------------------------------------------------- */

static rg_status shape_pad(rg_node *n)
{
    const rg_node *x = n->in[0];
    const int axis = n->attr.axis;
    char sx[160];
    rg_shape_str(x->ndim, x->shape, sx, sizeof sx);
    if (axis < 0 || axis >= x->ndim)
        return rg_node_fail(n, RG_ERR_SHAPE, "pad: axis %d out of range for %s", axis, sx);
    const int64_t start = n->attr.i0, size = n->attr.i1;
    if (start < 0 || size < 0 || start > size - x->shape[axis])
        return rg_node_fail(n, RG_ERR_SHAPE, "pad: %s at offset %lld does not fit in size %lld "
                            "along axis %d", sx, (long long)start, (long long)size, axis);
    int64_t shape[RG_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[axis] = size;
    return rg_node_set_shape(n, x->ndim, shape);
}

static rg_status fwd_pad(rg_node *n)
{
    const rg_node *x = n->in[0];
    const int axis = n->attr.axis;
    const size_t elem = n->g->elem;
    const int64_t outer = span(x->shape, 0, axis), inner = span(x->shape, axis + 1, x->ndim);
    const size_t len = (size_t)(x->shape[axis] * inner) * elem;
    const size_t row = (size_t)(n->shape[axis] * inner) * elem;
    const size_t off = (size_t)(n->attr.i0 * inner) * elem;
    const char *src = x->data;
    char *y = n->data;
    memset(y, 0, (size_t)n->size * elem);
    for (int64_t o = 0; o < outer; o++)
        memcpy(y + (size_t)o * row + off, src + (size_t)o * len, len);
    return RG_OK;
}

static rg_status vjp_pad(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    const int axis = n->attr.axis;
    gin[0] = rg_slice(gy, axis, n->attr.i0, n->attr.i0 + n->in[0]->shape[axis]);
    return vjp_done(n, need, gin);
}

const rg_op_def rg__op_pad = {
    .name = "pad",
    .arity = 1,
    .shape = shape_pad,
    .forward_f32 = fwd_pad,
    .forward_f64 = fwd_pad,
    .vjp = vjp_pad,
};

/* Padding to the same size at offset 0 returns x itself. */
rg_node *rg_pad(rg_node *x, int axis, int64_t start, int64_t size)
{
    if (!x)
        return NULL;
    struct rg__attr attr = {.axis = norm_axis(axis, x->ndim), .i0 = start, .i1 = size};
    if (attr.axis >= 0 && attr.axis < x->ndim && start == 0 && size == x->shape[attr.axis])
        return x;
    rg_node *in[1] = {x};
    return rg__make(x->g, RG_OP_PAD, 1, in, &attr);
}

/* ---------------------------------------------------------------------------------------
 * Index tensors: gather, scatter_add, one_hot.
 * ------------------------------------------------------------------------------------- */

/* An index value is usable when it is an integer in [0, limit) (NaN fails the first test;
 * the range test comes first so the conversion to int64_t is defined). */
#define INDEX_OK(v, limit) ((v) >= 0 && (v) < (double)(limit) && (double)(int64_t)(v) == (v))

static rg_status bad_index(rg_node *n, const char *what, double v, int64_t pos, int64_t limit)
{
    return rg_node_fail(n, RG_ERR_DOMAIN, "%s: index %g at position %lld is not an integer "
                        "in [0, %lld)", what, v, (long long)pos, (long long)limit);
}

/* gather: y[i, ...] = table[index[i], ...] for every position i of index;
 * y.shape = index.shape + table.shape[1:]. gtable = scatter_add(gy, index, V) (rows picked
 * several times get every contribution); index is piecewise constant: zero gradient. */
static rg_status shape_gather(rg_node *n)
{
    const rg_node *t = n->in[0], *ix = n->in[1];
    char st[160], si[160];
    rg_shape_str(t->ndim, t->shape, st, sizeof st);
    rg_shape_str(ix->ndim, ix->shape, si, sizeof si);
    if (t->ndim < 1)
        return rg_node_fail(n, RG_ERR_SHAPE, "gather: table %s has no rows to pick", st);
    const int nd = ix->ndim + t->ndim - 1;
    if (nd > RG_MAX_DIMS)
        return rg_node_fail(n, RG_ERR_SHAPE, "gather: table %s picked by index %s would have "
                            "%d dimensions (at most %d)", st, si, nd, RG_MAX_DIMS);
    int64_t shape[RG_MAX_DIMS];
    memcpy(shape, ix->shape, sizeof(int64_t) * (size_t)ix->ndim);
    memcpy(shape + ix->ndim, t->shape + 1, sizeof(int64_t) * (size_t)(t->ndim - 1));
    return rg_node_set_shape(n, nd, shape);
}

#define GATHER_FWD(T, sfx)                                                                 \
    static rg_status fwd_gather_##sfx(rg_node *n)                                          \
    {                                                                                      \
        const rg_node *t = n->in[0], *ix = n->in[1];                                       \
        const int64_t rows = t->shape[0], width = span(t->shape, 1, t->ndim);              \
        const T *table = t->data, *index = ix->data;                                       \
        T *y = n->data;                                                                    \
        for (int64_t i = 0; i < ix->size; i++) {                                           \
            const T v = index[i];                                                          \
            if (!INDEX_OK(v, rows))                                                        \
                return bad_index(n, "gather", v, i, rows);                                 \
            memcpy(y + i * width, table + (int64_t)v * width, sizeof(T) * (size_t)width);  \
        }                                                                                  \
        return RG_OK;                                                                      \
    }
GATHER_FWD(float, f32)
GATHER_FWD(double, f64)

static rg_status vjp_gather(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    if (need[0])
        gin[0] = rg_scatter_add(gy, n->in[1], n->in[0]->shape[0]);
    if (need[1])
        gin[1] = rg__zeros_like(n->in[1]);
    return vjp_done(n, need, gin);
}

const rg_op_def rg__op_gather = {
    .name = "gather",
    .arity = 2,
    .shape = shape_gather,
    .forward_f32 = fwd_gather_f32,
    .forward_f64 = fwd_gather_f64,
    .vjp = vjp_gather,
};

rg_node *rg_gather(rg_node *table, rg_node *index)
{
    rg_node *in[2] = {table, index};
    return rg__make(rg__graph_of(2, in), RG_OP_GATHER, 2, in, NULL);
}

/* scatter_add: y = zeros [rows] + R, then y[index[i], ...] += src[i, ...] for every
 * position i of index, where src.shape = index.shape + R; rows is attr.i0.
 * gsrc = gather(gy, index); index: zero gradient. */
static rg_status shape_scatter_add(rg_node *n)
{
    const rg_node *src = n->in[0], *ix = n->in[1];
    char ss[160], si[160];
    rg_shape_str(src->ndim, src->shape, ss, sizeof ss);
    rg_shape_str(ix->ndim, ix->shape, si, sizeof si);
    if (n->attr.i0 < 0)
        return rg_node_fail(n, RG_ERR_SHAPE, "scatter_add: negative row count %lld",
                            (long long)n->attr.i0);
    if (src->ndim < ix->ndim || !rg__shape_eq(ix->ndim, src->shape, ix->ndim, ix->shape))
        return rg_node_fail(n, RG_ERR_SHAPE, "scatter_add: src %s does not start with the "
                            "index shape %s", ss, si);
    const int nd = 1 + src->ndim - ix->ndim;
    if (nd > RG_MAX_DIMS)
        return rg_node_fail(n, RG_ERR_SHAPE, "scatter_add: result would have %d dimensions "
                            "(at most %d)", nd, RG_MAX_DIMS);
    int64_t shape[RG_MAX_DIMS];
    shape[0] = n->attr.i0;
    memcpy(shape + 1, src->shape + ix->ndim, sizeof(int64_t) * (size_t)(nd - 1));
    return rg_node_set_shape(n, nd, shape);
}

#define SCATTER_FWD(T, sfx)                                                                \
    static rg_status fwd_scatter_add_##sfx(rg_node *n)                                     \
    {                                                                                      \
        const rg_node *s = n->in[0], *ix = n->in[1];                                       \
        const int64_t rows = n->shape[0], width = span(n->shape, 1, n->ndim);              \
        const T *src = s->data, *index = ix->data;                                         \
        T *y = n->data;                                                                    \
        for (int64_t i = 0; i < n->size; i++)                                              \
            y[i] = 0;                                                                      \
        for (int64_t i = 0; i < ix->size; i++) {                                           \
            const T v = index[i];                                                          \
            if (!INDEX_OK(v, rows))                                                        \
                return bad_index(n, "scatter_add", v, i, rows);                            \
            T *row = y + (int64_t)v * width;                                               \
            const T *from = src + i * width;                                               \
            for (int64_t j = 0; j < width; j++)                                            \
                row[j] += from[j];                                                         \
        }                                                                                  \
        return RG_OK;                                                                      \
    }
SCATTER_FWD(float, f32)
SCATTER_FWD(double, f64)

static rg_status vjp_scatter_add(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    if (need[0])
        gin[0] = rg_gather(gy, n->in[1]);
    if (need[1])
        gin[1] = rg__zeros_like(n->in[1]);
    return vjp_done(n, need, gin);
}

const rg_op_def rg__op_scatter_add = {
    .name = "scatter_add",
    .arity = 2,
    .shape = shape_scatter_add,
    .forward_f32 = fwd_scatter_add_f32,
    .forward_f64 = fwd_scatter_add_f64,
    .vjp = vjp_scatter_add,
};

rg_node *rg_scatter_add(rg_node *src, rg_node *index, int64_t rows)
{
    rg_node *in[2] = {src, index};
    struct rg__attr attr = {.i0 = rows};
    return rg__make(rg__graph_of(2, in), RG_OP_SCATTER_ADD, 2, in, &attr);
}

/* one_hot: y[i, c] = (index[i] == c) for c < depth (attr.i0); y.shape = index.shape +
 * [depth]. Piecewise constant in index: zero gradient. */
static rg_status shape_one_hot(rg_node *n)
{
    const rg_node *ix = n->in[0];
    char si[160];
    rg_shape_str(ix->ndim, ix->shape, si, sizeof si);
    if (n->attr.i0 < 0)
        return rg_node_fail(n, RG_ERR_SHAPE, "one_hot: negative depth %lld",
                            (long long)n->attr.i0);
    if (ix->ndim + 1 > RG_MAX_DIMS)
        return rg_node_fail(n, RG_ERR_SHAPE, "one_hot: index %s already has %d dimensions", si,
                            RG_MAX_DIMS);
    int64_t shape[RG_MAX_DIMS];
    memcpy(shape, ix->shape, sizeof(int64_t) * (size_t)ix->ndim);
    shape[ix->ndim] = n->attr.i0;
    return rg_node_set_shape(n, ix->ndim + 1, shape);
}

#define ONE_HOT_FWD(T, sfx)                                                                \
    static rg_status fwd_one_hot_##sfx(rg_node *n)                                         \
    {                                                                                      \
        const rg_node *ix = n->in[0];                                                      \
        const int64_t depth = n->attr.i0;                                                  \
        const T *index = ix->data;                                                         \
        T *y = n->data;                                                                    \
        for (int64_t i = 0; i < n->size; i++)                                              \
            y[i] = 0;                                                                      \
        for (int64_t i = 0; i < ix->size; i++) {                                           \
            const T v = index[i];                                                          \
            if (!INDEX_OK(v, depth))                                                       \
                return bad_index(n, "one_hot", v, i, depth);                               \
            y[i * depth + (int64_t)v] = 1;                                                 \
        }                                                                                  \
        return RG_OK;                                                                      \
    }
ONE_HOT_FWD(float, f32)
ONE_HOT_FWD(double, f64)

static rg_status vjp_one_hot(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    gin[0] = rg__zeros_like(n->in[0]);
    return vjp_done(n, need, gin);
}

const rg_op_def rg__op_one_hot = {
    .name = "one_hot",
    .arity = 1,
    .shape = shape_one_hot,
    .forward_f32 = fwd_one_hot_f32,
    .forward_f64 = fwd_one_hot_f64,
    .vjp = vjp_one_hot,
};

rg_node *rg_one_hot(rg_node *index, int64_t depth)
{
    rg_node *in[1] = {index};
    struct rg__attr attr = {.i0 = depth};
    return rg__make(index ? index->g : NULL, RG_OP_ONE_HOT, 1, in, &attr);
}
