/* Reductions over one axis (attr.axis, normalised to >= 0) or over every axis
 * (RG_AXIS_ALL): sum, mean, max; attr.keepdims keeps reduced axes as size 1.
 *
 * Every kernel sees x as [outer, red, inner]: outer the product of the axes before the
 * reduced one, red the reduced length, inner the product of the axes after it (for
 * RG_AXIS_ALL: [1, size, 1]). The VJPs view the gradient at the keepdims shape so that it
 * broadcasts back over the reduced axis. */
#include "internal.h"

#include "ops/reduce.h"

#include "kernels/fastmath.h"
#include "kernels/parallel.h"

#include <math.h>

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

struct red_dims {
    int64_t outer, red, inner;
};

static struct red_dims red_dims(const rg_node *n)
{
    const rg_node *x = n->in[0];
    struct red_dims d = {1, x->size, 1};
    if (n->attr.axis != RG_AXIS_ALL) {
        const int a = n->attr.axis;
        d.red = x->shape[a];
        d.outer = 1;
        for (int i = 0; i < a; i++)
            d.outer *= x->shape[i];
        for (int i = a + 1; i < x->ndim; i++)
            d.inner *= x->shape[i];
    }
    return d;
}

/* x's shape with the reduced axes kept as size 1; returns its ndim. */
static int keep_shape(const rg_node *n, int64_t *shape)
{
    const rg_node *x = n->in[0];
    for (int i = 0; i < x->ndim; i++)
        shape[i] = n->attr.axis == RG_AXIS_ALL || i == n->attr.axis ? 1 : x->shape[i];
    return x->ndim;
}

static rg_status check_axis(rg_node *n)
{
    const rg_node *x = n->in[0];
    const int axis = n->attr.axis;
    if (axis != RG_AXIS_ALL && (axis < 0 || axis >= x->ndim)) {
        char sx[160];
        return rg_node_fail(n, RG_ERR_SHAPE, "%s: axis %d out of range for %s",
                            rg__def(n)->name, axis, rg_shape_str(x->ndim, x->shape, sx,
                                                                 sizeof sx));
    }
    return RG_OK;
}

static rg_status shape_reduce(rg_node *n)
{
    const rg_node *x = n->in[0];
    const int axis = n->attr.axis;
    const rg_status st = check_axis(n);
    if (st != RG_OK)
        return st;
    int64_t shape[RG_MAX_DIMS];
    if (n->attr.keepdims)
        return rg_node_set_shape(n, keep_shape(n, shape), shape);
    if (axis == RG_AXIS_ALL)
        return rg_node_set_shape(n, 0, NULL);
    int nd = 0;
    for (int i = 0; i < x->ndim; i++)
        if (i != axis)
            shape[nd++] = x->shape[i];
    return rg_node_set_shape(n, nd, shape);
}

static rg_node *reduce(rg_node *x, int op, int axis, bool keepdims)
{
    if (!x)
        return NULL;
    struct rg__attr attr = {.keepdims = keepdims};
    if (axis == RG_AXIS_ALL) {
        attr.axis = RG_AXIS_ALL;
    } else {
        /* an invalid axis is kept as given for the shape rule's message */
        const int a = rg__axis(axis, x->ndim);
        attr.axis = a >= 0 ? a : axis;
    }
    rg_node *in[1] = {x};
    return rg__make(x->g, op, 1, in, &attr);
}

/* A value of the reduction's output shape (y or gy) viewed so that it broadcasts against x:
 * at the keepdims shape, or as it is when the reduced axes are leading ones (every axis, or
 * axis 0), which broadcasting restores by itself without a reshape node. */
static rg_node *keep_view(const rg_node *n, rg_node *v)
{
    if (!n->attr.keepdims && (n->attr.axis == RG_AXIS_ALL || n->attr.axis == 0))
        return v;
    int64_t shape[RG_MAX_DIMS];
    const int nd = keep_shape(n, shape);
    return rg_reshape(v, nd, shape);
}

/* gy repeated over the reduced axes: x's shape. */
static rg_node *spread(const rg_node *n, rg_node *gy)
{
    const rg_node *x = n->in[0];
    return rg_broadcast_to(keep_view(n, gy), x->ndim, x->shape);
}

/* Sum of a contiguous run in double. Sixteen partial sums, one per lane of the vectorised
 * loop (one AVX-512 vector of floats), break the chain of dependent additions and add the
 * elements in sixteen interleaved groups, which also slows the growth of the rounding error;
 * they are combined pairwise (rg__lanes_add_*, rg__sum_lanes_total). A run may be fed in pieces
 * (rg__sum_lanes_*, ops/reduce.h): every piece but the last a multiple of 16 long keeps
 * each element in its lane, so the pieces give the bits of the whole run. */
#define SUM_LANES(T, sfx)                                                                  \
    /* static: clang gives a cloned function with external linkage no symbol of its name */ \
    RG__VECTOR_CLONES static void sum_lanes_##sfx(double *lanes, const T *restrict x,      \
                                                  int64_t count)                           \
    {                                                                                      \
        double s[16]; /* in registers, not through the caller's pointer */                \
        for (int k = 0; k < 16; k++)                                                       \
            s[k] = lanes[k];                                                               \
        rg__lanes_add_##sfx(s, x, count);                                                  \
        for (int k = 0; k < 16; k++)                                                       \
            lanes[k] = s[k];                                                               \
    }                                                                                      \
    void rg__sum_lanes_##sfx(double *lanes, const T *x, int64_t count)                     \
    {                                                                                      \
        sum_lanes_##sfx(lanes, x, count);                                                  \
    }                                                                                      \
    RG__VECTOR_CLONES static double sum_run_##sfx(const T *restrict x, int64_t count)     \
    {                                                                                      \
        return rg__sum_run_##sfx(x, count);                                                \
    }
SUM_LANES(float, f32)
SUM_LANES(double, f64)

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

/* Parallel sums (kernels/parallel.h). A sum over everything is cut in at most SUM_BLOCKS
 * blocks of at least SUM_BLOCK elements, a cut that depends on the size only: each block's
 * sum is one partial, and the partials are added in order on the calling thread, so the
 * result is the same bits for every thread count. Row sums (inner == 1) split the rows and
 * column sums (inner > 1) the columns: each output element is then computed whole by one
 * thread, in the same order as on one. */
#define SUM_BLOCKS 1024
#define SUM_BLOCK 8192

int64_t rg__sum_block(int64_t n)
{
    if (n < SUM_BLOCK * 2)
        return n > 0 ? n : 1; /* one run: the row loop below */
    const int64_t block = (n + SUM_BLOCKS - 1) / SUM_BLOCKS;
    return block < SUM_BLOCK ? SUM_BLOCK : (block + 15) / 16 * 16;
}

double rg__sum_partials(const double *partial, int64_t nblocks)
{
    if (nblocks == 1)
        return partial[0];
    double s = 0;
    for (int64_t b = 0; b < nblocks; b++)
        s += partial[b];
    return s;
}

struct sum_job {
    const void *x;
    void *y;
    struct red_dims d;
    int64_t block;
    double scale;
    double *partial;
};

#define SUM_KERNEL(T, sfx)                                                                 \
    static void sum_blocks_##sfx(void *arg, int64_t b0, int64_t b1)                        \
    {                                                                                      \
        const struct sum_job *j = arg;                                                     \
        const T *x = j->x;                                                                 \
        const int64_t n = j->d.red;                                                        \
        for (int64_t b = b0; b < b1; b++) {                                                \
            const int64_t start = b * j->block;                                            \
            const int64_t len = n - start < j->block ? n - start : j->block;               \
            j->partial[b] = sum_run_##sfx(x + start, len);                                 \
        }                                                                                  \
    }                                                                                      \
    static void sum_rows_##sfx(void *arg, int64_t o0, int64_t o1)                          \
    {                                                                                      \
        const struct sum_job *j = arg;                                                     \
        const T *x = j->x;                                                                 \
        T *y = j->y;                                                                       \
        for (int64_t o = o0; o < o1; o++)                                                  \
            y[o] = (T)(sum_run_##sfx(x + o * j->d.red, j->d.red) * j->scale);              \
    }                                                                                      \
    /* y[o, i0:i1] = scale sum_r x[o, r, i0:i1]: rows of x added into the row of y. */     \
    static void sum_cols_##sfx(void *arg, int64_t i0, int64_t i1)                          \
    {                                                                                      \
        const struct sum_job *j = arg;                                                     \
        const struct red_dims d = j->d;                                                    \
        const T *x = j->x;                                                                 \
        T *y = j->y;                                                                       \
        for (int64_t o = 0; o < d.outer; o++) {                                            \
            T *yo = y + o * d.inner + i0;                                                  \
            for (int64_t i = 0; i < i1 - i0; i++)                                          \
                yo[i] = 0;                                                                 \
            for (int64_t r = 0; r < d.red; r++)                                            \
                add_row_##sfx(yo, x + (o * d.red + r) * d.inner + i0, i1 - i0);            \
            if (j->scale != 1.0)                                                           \
                for (int64_t i = 0; i < i1 - i0; i++)                                      \
                    yo[i] = (T)(yo[i] * j->scale);                                         \
        }                                                                                  \
    }                                                                                      \
    /* y[o, i] = scale sum_r x[o, r, i]. */                                                \
    static void sum_scaled_##sfx(rg_node *n, double scale)                                 \
    {                                                                                      \
        struct sum_job j = {.x = n->in[0]->data, .y = n->data, .d = red_dims(n),           \
                            .scale = scale};                                               \
        const int64_t total = j.d.outer * j.d.red * j.d.inner;                             \
        if (j.d.inner > 1) {                                                               \
            const int64_t per_col = j.d.outer * j.d.red > 0 ? j.d.outer * j.d.red : 1;     \
            const int64_t grain = (RG__PAR_MIN / 2 + per_col - 1) / per_col;               \
            rg__parallel_for(j.d.inner, grain < 16 ? 16 : grain, 16, sum_cols_##sfx, &j);  \
        } else if (j.d.outer > 1 || total < SUM_BLOCK * 2) {                               \
            const int64_t per_row = j.d.red > 0 ? j.d.red : 1;                             \
            const int64_t grain = (RG__PAR_MIN / 2 + per_row - 1) / per_row;              \
            rg__parallel_for(j.d.outer, grain, 1, sum_rows_##sfx, &j);                     \
        } else {                                                                           \
            double partial[SUM_BLOCKS];                                                    \
            const int64_t block = rg__sum_block(j.d.red);                                  \
            const int64_t nblocks = (j.d.red + block - 1) / block;                         \
            j.block = block;                                                               \
            j.partial = partial;                                                           \
            rg__parallel_for(nblocks, (RG__PAR_MIN / 2 + block - 1) / block, 1,            \
                             sum_blocks_##sfx, &j);                                        \
            *(T *)j.y = (T)(rg__sum_partials(partial, nblocks) * scale);                   \
        }                                                                                  \
    }
SUM_KERNEL(float, f32)
SUM_KERNEL(double, f64)

/* ---------------------------------------------------------------------------------------
 * sum: y = sum_r x[.., r, ..]; gx = broadcast_to(reshape(gy, keepdims shape), x.shape).
 * ------------------------------------------------------------------------------------- */

static rg_status fwd_sum_f32(rg_node *n)
{
    sum_scaled_f32(n, 1.0);
    return RG_OK;
}

static rg_status fwd_sum_f64(rg_node *n)
{
    sum_scaled_f64(n, 1.0);
    return RG_OK;
}

static rg_status vjp_sum(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    gin[0] = spread(n, gy);
    return vjp_done(n, need, gin);
}

const rg_op_def rg__op_sum = {
    .name = "sum",
    .arity = 1,
    .shape = shape_reduce,
    .forward_f32 = fwd_sum_f32,
    .forward_f64 = fwd_sum_f64,
    .vjp = vjp_sum,
};

rg_node *rg_sum(rg_node *x, int axis, bool keepdims)
{
    return reduce(x, RG_OP_SUM, axis, keepdims);
}

/* ---------------------------------------------------------------------------------------
 * mean: y = sum / count (count = reduced length; the mean of nothing is NaN);
 * gx = broadcast_to(reshape(gy, keepdims shape), x.shape) / count.
 * ------------------------------------------------------------------------------------- */

static rg_status fwd_mean_f32(rg_node *n)
{
    sum_scaled_f32(n, 1.0 / (double)red_dims(n).red);
    return RG_OK;
}

static rg_status fwd_mean_f64(rg_node *n)
{
    sum_scaled_f64(n, 1.0 / (double)red_dims(n).red);
    return RG_OK;
}

static rg_status vjp_mean(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    const double count = (double)red_dims(n).red;
    gin[0] = rg_div(spread(n, gy), rg_scalar(n->g, count));
    return vjp_done(n, need, gin);
}

const rg_op_def rg__op_mean = {
    .name = "mean",
    .arity = 1,
    .shape = shape_reduce,
    .forward_f32 = fwd_mean_f32,
    .forward_f64 = fwd_mean_f64,
    .vjp = vjp_mean,
};

rg_node *rg_mean(rg_node *x, int axis, bool keepdims)
{
    return reduce(x, RG_OP_MEAN, axis, keepdims);
}

bool rg__sum_full(const rg_node *n, double *scale)
{
    if ((n->op != RG_OP_SUM && n->op != RG_OP_MEAN) || n->size != 1)
        return false;
    *scale = n->op == RG_OP_MEAN ? 1.0 / (double)red_dims(n).red : 1.0;
    return true;
}

/* ---------------------------------------------------------------------------------------
 * max: y = max_r x[.., r, ..] (-inf over nothing; NaN if any element is NaN).
 * gx = gy * m / sum_r m with the mask m = max_mask(x) = 2 H(x - y) (1 where x equals the
 * max, 0 below): entries tied for the maximum share the gradient equally, the mean of the
 * one-sided derivatives. Not differentiable where two entries tie: the kink distance is the
 * smallest gap between the top value and the runner-up.
 * The mask is an op of its own, not heaviside(x - y): its derivative is zero, and it keeps
 * max's kink distance. heaviside's would be |x - y|, 0 at the top entry itself, so every
 * gradient check of max's derivatives would report a kink even where the top value stands
 * clear of the rest and the mask cannot change.
 * ------------------------------------------------------------------------------------- */

/* v replaces the running max m when larger, or when NaN (a NaN max then stays). */
#define MAX_TAKES(v, m) ((v) > (m) || (v) != (v))

#define MAX_FWD(T, sfx)                                                                    \
    static rg_status fwd_max_##sfx(rg_node *n)                                             \
    {                                                                                      \
        const struct red_dims d = red_dims(n);                                             \
        const T *x = n->in[0]->data;                                                       \
        T *y = n->data;                                                                    \
        for (int64_t o = 0; o < d.outer; o++) {                                            \
            T *yo = y + o * d.inner;                                                       \
            for (int64_t i = 0; i < d.inner; i++)                                          \
                yo[i] = (T)-INFINITY;                                                      \
            for (int64_t r = 0; r < d.red; r++) {                                          \
                const T *xr = x + (o * d.red + r) * d.inner;                               \
                for (int64_t i = 0; i < d.inner; i++)                                      \
                    if (MAX_TAKES(xr[i], yo[i]))                                           \
                        yo[i] = xr[i];                                                     \
            }                                                                              \
        }                                                                                  \
        return RG_OK;                                                                      \
    }                                                                                      \
                                                                                           \
    static double kink_max_##sfx(const rg_node *n)                                         \
    {                                                                                      \
        const struct red_dims d = red_dims(n);                                             \
        const T *x = n->in[0]->data;                                                       \
        double best = INFINITY;                                                            \
        for (int64_t o = 0; o < d.outer; o++) {                                            \
            for (int64_t i = 0; i < d.inner; i++) {                                        \
                double top = -INFINITY, second = -INFINITY;                                \
                for (int64_t r = 0; r < d.red; r++) {                                      \
                    const double v = x[(o * d.red + r) * d.inner + i];                     \
                    if (v > top) {                                                         \
                        second = top;                                                      \
                        top = v;                                                           \
                    } else if (v > second) {                                               \
                        second = v;                                                        \
                    }                                                                      \
                }                                                                          \
                if (d.red > 1 && top - second < best)                                      \
                    best = top - second;                                                   \
            }                                                                              \
        }                                                                                  \
        return best;                                                                       \
    }
MAX_FWD(float, f32)
MAX_FWD(double, f64)

static double kink_max(const rg_node *n)
{
    if (!n->in[0]->data)
        return INFINITY;
    return n->g->dtype == RG_F32 ? kink_max_f32(n) : kink_max_f64(n);
}

static rg_status vjp_max(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    rg_node *x = n->in[0];
    /* gy broadcasts against x in the elementwise ops */
    rg_node *gk = keep_view(n, gy);
    rg_node *mask = rg_max_mask(x, n->attr.axis);
    rg_node *ties = rg_sum(mask, n->attr.axis, true);
    gin[0] = rg_mul(mask, rg_div(gk, ties));
    return vjp_done(n, need, gin);
}

const rg_op_def rg__op_max = {
    .name = "max",
    .arity = 1,
    .shape = shape_reduce,
    .forward_f32 = fwd_max_f32,
    .forward_f64 = fwd_max_f64,
    .vjp = vjp_max,
    .kink = kink_max,
};

rg_node *rg_max(rg_node *x, int axis, bool keepdims)
{
    return reduce(x, RG_OP_MAX, axis, keepdims);
}

/* max_mask: y = 2 H(x - max_r x) along the axis, at x's shape: 1 where x holds the line's
 * maximum (each of tied maxima), 0 below it, NaN along a line holding a NaN (its max is NaN),
 * as max's VJP had it from heaviside. Piecewise constant: both derivatives are zero, and the
 * kink distance is max's (the gap between the top value and the runner-up). */
static rg_status shape_max_mask(rg_node *n)
{
    const rg_status st = check_axis(n);
    if (st == RG_OK)
        rg__set_shape_of(n, n->in[0]);
    return st;
}

#define MAX_MASK_FWD(T, sfx)                                                               \
    static rg_status fwd_max_mask_##sfx(rg_node *n)                                        \
    {                                                                                      \
        const struct red_dims d = red_dims(n);                                             \
        const T *x = n->in[0]->data;                                                       \
        T *y = n->data;                                                                    \
        for (int64_t o = 0; o < d.outer; o++) {                                            \
            for (int64_t i = 0; i < d.inner; i++) {                                        \
                const int64_t at = o * d.red * d.inner + i;                                \
                T m = (T)-INFINITY;                                                        \
                for (int64_t r = 0; r < d.red; r++)                                        \
                    if (MAX_TAKES(x[at + r * d.inner], m))                                 \
                        m = x[at + r * d.inner];                                           \
                for (int64_t r = 0; r < d.red; r++) {                                      \
                    const T v = x[at + r * d.inner] - m;                                   \
                    y[at + r * d.inner] = (T)2 * RG__STEP(T, v);                           \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
        return RG_OK;                                                                      \
    }
MAX_MASK_FWD(float, f32)
MAX_MASK_FWD(double, f64)

static rg_status vjp_max_mask(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    (void)gy;
    gin[0] = rg__zeros_like(n->in[0]);
    return vjp_done(n, need, gin);
}

const rg_op_def rg__op_max_mask = {
    .name = "max_mask",
    .arity = 1,
    .shape = shape_max_mask,
    .forward_f32 = fwd_max_mask_f32,
    .forward_f64 = fwd_max_mask_f64,
    .vjp = vjp_max_mask,
    .kink = kink_max,
};

rg_node *rg_max_mask(rg_node *x, int axis)
{
    return reduce(x, RG_OP_MAX_MASK, axis, false);
}
