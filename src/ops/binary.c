/* Elementwise binary ops with NumPy broadcasting: y = f(a, b), y's shape the broadcast of
 * a's and b's.
 *
 * Each op below is its forward kernel (one expression, both dtypes: see
 * kernels/elementwise.inc, which walks the broadcast with kernels/broadcast.c), its VJP and
 * its table row, side by side. A VJP computes the gradient at y's shape and sums it back to
 * each input's shape with rg_sum_to() (a no-op when the input was not broadcast). */
#include "internal.h"

#include "kernels/elementwise.inc"

#include <math.h>

/* y's shape is the NumPy broadcast of a's and b's: dimensions aligned from the right, each
 * pair equal or one of them 1. */
static rg_status shape_binary(rg_node *n)
{
    const rg_node *a = n->in[0], *b = n->in[1];
    if (rg__same_shape(a, b)) {
        rg__set_shape_of(n, a);
        return RG_OK;
    }
    int64_t shape[RG_MAX_DIMS];
    int nd = rg__broadcast_shape(a->ndim, a->shape, b->ndim, b->shape, shape);
    if (nd < 0) {
        char sa[160], sb[160];
        return rg_node_fail(n, RG_ERR_SHAPE, "%s: shapes do not broadcast: %s and %s",
                            rg__def(n)->name, rg_shape_str(a->ndim, a->shape, sa, sizeof sa),
                            rg_shape_str(b->ndim, b->shape, sb, sizeof sb));
    }
    return rg_node_set_shape(n, nd, shape);
}

/* The VJP's result: RG_OK when every needed gradient was built, else the error that
 * stopped it. */
static rg_status vjp_done(const rg_node *n, const bool *need, rg_node *const *gin)
{
    for (int i = 0; i < 2; i++) {
        if (need[i] && !gin[i]) {
            rg_status st = rg_graph_status(n->g);
            return st != RG_OK ? st : RG_ERR_NOMEM;
        }
    }
    return RG_OK;
}

/* g (at y's shape) summed back to x's shape. */
static rg_node *unbroadcast(rg_node *g, const rg_node *x)
{
    return rg_sum_to(g, x->ndim, x->shape);
}

static rg_node *binary(rg_node *a, rg_node *b, int op)
{
    rg_node *in[2] = {a, b};
    return rg__make(rg__graph_of(2, in), op, 2, in, NULL);
}

#define BINARY_DEF(lower, kink_fn)                                                         \
    const rg_op_def rg__op_##lower = {                                                     \
        .name = #lower,                                                                    \
        .arity = 2,                                                                        \
        .shape = shape_binary,                                                             \
        .forward_f32 = fwd_##lower##_f32,                                                  \
        .forward_f64 = fwd_##lower##_f64,                                                  \
        .vjp = vjp_##lower,                                                                \
        .kink = kink_fn,                                                                   \
    }

/* add: y = a + b; dy/da = 1, dy/db = 1. */
RG__EW_BINARY(add, x + y)
static rg_status vjp_add(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    if (need[0])
        gin[0] = unbroadcast(gy, n->in[0]);
    if (need[1])
        gin[1] = unbroadcast(gy, n->in[1]);
    return vjp_done(n, need, gin);
}
BINARY_DEF(add, NULL);
rg_node *rg_add(rg_node *a, rg_node *b)
{
    return binary(a, b, RG_OP_ADD);
}

/* sub: y = a - b; dy/da = 1, dy/db = -1 (negated after the reduction: fewer elements). */
RG__EW_BINARY(sub, x - y)
static rg_status vjp_sub(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    if (need[0])
        gin[0] = unbroadcast(gy, n->in[0]);
    if (need[1])
        gin[1] = rg_neg(unbroadcast(gy, n->in[1]));
    return vjp_done(n, need, gin);
}
BINARY_DEF(sub, NULL);
rg_node *rg_sub(rg_node *a, rg_node *b)
{
    return binary(a, b, RG_OP_SUB);
}

/* mul: y = a b; dy/da = b, dy/db = a. */
RG__EW_BINARY(mul, x * y)
static rg_status vjp_mul(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    rg_node *a = n->in[0], *b = n->in[1];
    if (need[0])
        gin[0] = unbroadcast(rg_mul(gy, b), a);
    if (need[1])
        gin[1] = unbroadcast(rg_mul(gy, a), b);
    return vjp_done(n, need, gin);
}
BINARY_DEF(mul, NULL);
rg_node *rg_mul(rg_node *a, rg_node *b)
{
    return binary(a, b, RG_OP_MUL);
}

/* div: y = a / b; dy/da = 1/b, dy/db = -a/b^2 = -y/b (reusing the node itself). */
RG__EW_BINARY(div, x / y)
static rg_status vjp_div(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    rg_node *a = n->in[0], *b = n->in[1];
    if (need[0])
        gin[0] = unbroadcast(rg_div(gy, b), a);
    if (need[1])
        gin[1] = rg_neg(unbroadcast(rg_mul(gy, rg_div(n, b)), b));
    return vjp_done(n, need, gin);
}
BINARY_DEF(div, NULL);
rg_node *rg_div(rg_node *a, rg_node *b)
{
    return binary(a, b, RG_OP_DIV);
}

/* pow: y = a^b; dy/da = b a^(b-1), dy/db = a^b ln a = y ln a.
 * dy/da is not written b y / a, which is 0/0 at a = 0. dy/db is only built when asked for:
 * ln a is NaN for a < 0 (where a^b is real only for integer b) and would poison a gradient
 * that nobody needs, e.g. x^2 differentiated in x.
 * At a = 0, y ln a is 0 * -inf = NaN; dy/db is taken as 0 there, as PyTorch does (0^b = 0 for
 * every b > 0: flat to the right). It is computed as y ln(a + z) with z = 2 H(-|a|), which is
 * 1 exactly where a == 0 and 0 elsewhere (H(0) = 1/2), so ln sees 1 at a = 0 and a itself
 * everywhere else (|a|, not a^2, so a tiny a cannot underflow into the mask). z has a zero
 * derivative, so the rule stays differentiable. For b < 0, y = +inf at a = 0 and the result
 * is inf * 0 = NaN: 0^b has no derivative there.
 * dy/da at b = 0 is b a^-1 = 0 * inf = NaN at a = 0, though a^0 = 1 is flat in a; it is taken
 * as 0 everywhere, as PyTorch does, by the same kind of mask on the exponent: b a^(b - 1 + w)
 * with w = 2 H(-|b|), 1 exactly where b == 0, so the power is a^0 = 1 there and a^(b-1)
 * elsewhere. The mask's derivative is zero too, and the power's own rule applies the mask
 * again, so every order of d/da is 0 at b = 0. */
RG__EW_BINARY(pow, RG__M2(pow, x, y))

/* 2 H(-|x|): 1 exactly where x == 0, else 0, with a zero derivative. */
static rg_node *is_zero(rg_node *x)
{
    return rg_mul(rg_scalar(x->g, 2.0), rg_heaviside(rg_neg(rg_abs(x))));
}

static rg_status vjp_pow(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    rg_node *a = n->in[0], *b = n->in[1];
    if (need[0]) {
        rg_node *da = rg_mul(b, rg_pow(a, rg_add(rg_sub(b, rg_scalar(n->g, 1.0)), is_zero(b))));
        gin[0] = unbroadcast(rg_mul(gy, da), a);
    }
    if (need[1]) {
        rg_node *ln_a = rg_log(rg_add(a, is_zero(a)));
        gin[1] = unbroadcast(rg_mul(gy, rg_mul(n, ln_a)), b);
    }
    return vjp_done(n, need, gin);
}
BINARY_DEF(pow, NULL);
rg_node *rg_pow(rg_node *a, rg_node *b)
{
    return binary(a, b, RG_OP_POW);
}

/* Kink distance of maximum and minimum: min |a - b| over the broadcast pairs (a tie). */
#define GAP_ROW(T, sfx)                                                                    \
    static void row_gap_##sfx(void *ctx, void *out, const void *pa, int64_t sa,           \
                              const void *pb, int64_t sb, int64_t count)                   \
    {                                                                                      \
        const T *a = pa, *b = pb;                                                          \
        double *best = ctx;                                                                \
        for (int64_t i = 0; i < count; i++) {                                              \
            double d = fabs((double)a[i * sa] - (double)b[i * sb]);                        \
            if (d < *best)                                                                 \
                *best = d;                                                                 \
        }                                                                                  \
    }
GAP_ROW(float, f32)
GAP_ROW(double, f64)

static double kink_tie(const rg_node *n)
{
    double best = INFINITY;
    if (!n->in[0]->data || !n->in[1]->data)
        return best;
    rg__bcast_loop(n, n->g->dtype == RG_F32 ? row_gap_f32 : row_gap_f64, &best, NULL);
    return best;
}

/* maximum: y = max(a, b) (NaN if either is); dy/da = H(a - b), dy/db = H(b - a), so a tie
 * sends half the gradient to each side. */
RG__EW_BINARY(maximum, (x >= y || x != x) ? x : y)
static rg_status vjp_maximum(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    rg_node *a = n->in[0], *b = n->in[1];
    if (need[0])
        gin[0] = unbroadcast(rg_mul(gy, rg_heaviside(rg_sub(a, b))), a);
    if (need[1])
        gin[1] = unbroadcast(rg_mul(gy, rg_heaviside(rg_sub(b, a))), b);
    return vjp_done(n, need, gin);
}
BINARY_DEF(maximum, kink_tie);
rg_node *rg_maximum(rg_node *a, rg_node *b)
{
    return binary(a, b, RG_OP_MAXIMUM);
}

/* minimum: y = min(a, b) (NaN if either is); dy/da = H(b - a), dy/db = H(a - b), a tie
 * split half and half. */
RG__EW_BINARY(minimum, (x <= y || x != x) ? x : y)
static rg_status vjp_minimum(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    rg_node *a = n->in[0], *b = n->in[1];
    if (need[0])
        gin[0] = unbroadcast(rg_mul(gy, rg_heaviside(rg_sub(b, a))), a);
    if (need[1])
        gin[1] = unbroadcast(rg_mul(gy, rg_heaviside(rg_sub(a, b))), b);
    return vjp_done(n, need, gin);
}
BINARY_DEF(minimum, kink_tie);
rg_node *rg_minimum(rg_node *a, rg_node *b)
{
    return binary(a, b, RG_OP_MINIMUM);
}
