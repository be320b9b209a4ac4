/* Elementwise unary ops: y[i] = f(x[i]), y has x's shape.
 *
 * Each op below is its forward kernel (one expression, both dtypes: see
 * kernels/elementwise.inc), its VJP and its table row, side by side. VJPs are written with
 * the public constructors, so they can be differentiated again; where the derivative is a
 * function of the output (exp, tanh, sigmoid, sqrt) they reuse the node itself. Kinked ops
 * follow the library's rule H(0) = 1/2 and report their distance to the kink at 0.
 * The f32 kernels of exp, log, tanh, sigmoid and softplus use the vectorisable functions of
 * kernels/fastmath.h (within 2 ulp of the exact result); the f64 kernels use libm. */
#include "internal.h"

#include "kernels/elementwise.inc"

#include <math.h>

/* y = f(x): same shape. */
static rg_status shape_unary(rg_node *n)
{
    rg__set_shape_of(n, n->in[0]);
    return RG_OK;
}

/* The VJP's result: RG_OK when the gradient was built, else the error that stopped it. */
static rg_status vjp_done(const rg_node *n, const rg_node *gin)
{
    if (gin)
        return RG_OK;
    rg_status st = rg_graph_status(n->g);
    return st != RG_OK ? st : RG_ERR_NOMEM;
}

double rg__kink_at_zero(const rg_node *n)
{
    const rg_node *x = n->in[0];
    double best = INFINITY;
    for (int64_t i = 0; i < x->size; i++) {
        double d = fabs(rg_node_get(x, i));
        if (d < best)
            best = d;
    }
    return best;
}

static rg_node *unary(rg_node *x, int op, const struct rg__attr *attr)
{
    rg_node *in[1] = {x};
    return rg__make(rg__graph_of(1, in), op, 1, in, attr);
}

#define UNARY_DEF(lower, vjp_fn, kink_fn)                                                  \
    const rg_op_def rg__op_##lower = {                                                     \
        .name = #lower,                                                                    \
        .arity = 1,                                                                        \
        .shape = shape_unary,                                                              \
        .forward_f32 = fwd_##lower##_f32,                                                  \
        .forward_f64 = fwd_##lower##_f64,                                                  \
        .vjp = vjp_fn,                                                                     \
        .kink = kink_fn,                                                                   \
    }

/* neg: y = -x; dy/dx = -1. */
RG__EW_UNARY(neg, -x)
static rg_status vjp_neg(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    gin[0] = rg_neg(gy);
    return vjp_done(n, gin[0]);
}
UNARY_DEF(neg, vjp_neg, NULL);
rg_node *rg_neg(rg_node *x)
{
    return unary(x, RG_OP_NEG, NULL);
}

/* exp: y = e^x; dy/dx = e^x = y (the node itself). */
RG__EW_UNARY(exp, RG__FAST(exp, x))
static rg_status vjp_exp(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    gin[0] = rg_mul(gy, n);
    return vjp_done(n, gin[0]);
}
UNARY_DEF(exp, vjp_exp, NULL);
rg_node *rg_exp(rg_node *x)
{
    return unary(x, RG_OP_EXP, NULL);
}

/* log: y = ln x (ln 0 = -inf, NaN below); dy/dx = 1/x. */
RG__EW_UNARY(log, RG__FAST(log, x))
static rg_status vjp_log(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    gin[0] = rg_div(gy, n->in[0]);
    return vjp_done(n, gin[0]);
}
UNARY_DEF(log, vjp_log, NULL);
rg_node *rg_log(rg_node *x)
{
    return unary(x, RG_OP_LOG, NULL);
}

/* sqrt: y = sqrt x; dy/dx = 1/(2 sqrt x) = 0.5 / y. */
RG__EW_UNARY(sqrt, RG__M(sqrt, x))
static rg_status vjp_sqrt(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    gin[0] = rg_div(rg_mul(gy, rg_scalar(n->g, 0.5)), n);
    return vjp_done(n, gin[0]);
}
UNARY_DEF(sqrt, vjp_sqrt, NULL);
rg_node *rg_sqrt(rg_node *x)
{
    return unary(x, RG_OP_SQRT, NULL);
}

/* square: y = x^2; dy/dx = 2x. */
RG__EW_UNARY(square, x * x)
static rg_status vjp_square(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    gin[0] = rg_mul(gy, rg_mul(rg_scalar(n->g, 2.0), n->in[0]));
    return vjp_done(n, gin[0]);
}
UNARY_DEF(square, vjp_square, NULL);
rg_node *rg_square(rg_node *x)
{
    return unary(x, RG_OP_SQUARE, NULL);
}

/* abs: y = |x|; dy/dx = 2H(x) - 1, the sign with abs'(0) = 0 (mean of -1 and 1). */
RG__EW_UNARY(abs, RG__M(fabs, x))
static rg_status vjp_abs(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    rg_node *x = n->in[0];
    rg_node *sign = rg_sub(rg_mul(rg_scalar(n->g, 2.0), rg_heaviside(x)), rg_scalar(n->g, 1.0));
    gin[0] = rg_mul(gy, sign);
    return vjp_done(n, gin[0]);
}
UNARY_DEF(abs, vjp_abs, rg__kink_at_zero);
rg_node *rg_abs(rg_node *x)
{
    return unary(x, RG_OP_ABS, NULL);
}

/* sin: y = sin x; dy/dx = cos x. */
RG__EW_UNARY(sin, RG__M(sin, x))
static rg_status vjp_sin(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    gin[0] = rg_mul(gy, rg_cos(n->in[0]));
    return vjp_done(n, gin[0]);
}
UNARY_DEF(sin, vjp_sin, NULL);
rg_node *rg_sin(rg_node *x)
{
    return unary(x, RG_OP_SIN, NULL);
}

/* cos: y = cos x; dy/dx = -sin x. */
RG__EW_UNARY(cos, RG__M(cos, x))
static rg_status vjp_cos(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    gin[0] = rg_neg(rg_mul(gy, rg_sin(n->in[0])));
    return vjp_done(n, gin[0]);
}
UNARY_DEF(cos, vjp_cos, NULL);
rg_node *rg_cos(rg_node *x)
{
    return unary(x, RG_OP_COS, NULL);
}

/* tanh: y = tanh x; dy/dx = 1 - y^2. Both rg__tanhf and libm's tanh saturate to +-1
 * without overflow. */
RG__EW_UNARY(tanh, RG__FAST(tanh, x))
static rg_status vjp_tanh(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    gin[0] = rg_tanh_grad(n, gy); /* gy (1 - y^2) in one node */
    return vjp_done(n, gin[0]);
}
UNARY_DEF(tanh, vjp_tanh, NULL);
rg_node *rg_tanh(rg_node *x)
{
    return unary(x, RG_OP_TANH, NULL);
}

/* sigmoid: y = 1/(1+e^-x); dy/dx = y (1 - y).
 * e^-x overflows for x below about -89 (f32) or -710 (f64); writing the x < 0 half as
 * e^x / (1 + e^x) keeps every exponential of a non-positive number, in (0, 1] (rg__sigmoidf
 * does the same for f32). */
static double sigmoid_f64(double x)
{
    return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
}
RG__EW_UNARY(sigmoid, RG__PICK(x, rg__sigmoidf, sigmoid_f64))
static rg_status vjp_sigmoid(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    gin[0] = rg_sigmoid_grad(n, gy); /* gy y (1 - y) in one node */
    return vjp_done(n, gin[0]);
}
UNARY_DEF(sigmoid, vjp_sigmoid, NULL);
rg_node *rg_sigmoid(rg_node *x)
{
    return unary(x, RG_OP_SIGMOID, NULL);
}

/* relu: y = max(x, 0); dy/dx = H(x), relu'(0) = 1/2. NaN passes through. */
RG__EW_UNARY(relu, x < 0 ? 0 : x)
static rg_status vjp_relu(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    gin[0] = rg_relu_grad(n->in[0], gy); /* gy H(x) in one node */
    return vjp_done(n, gin[0]);
}
UNARY_DEF(relu, vjp_relu, rg__kink_at_zero);
rg_node *rg_relu(rg_node *x)
{
    return unary(x, RG_OP_RELU, NULL);
}

/* leaky_relu: y = x > 0 ? x : p x with slope p = attr.f;
 * dy/dx = p + (1 - p) H(x), so (1 + p)/2 at 0. */
RG__EW_UNARY(leaky_relu, RG__SEL(x < 0, p * x, x))
static rg_status vjp_leaky_relu(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    double p = n->attr.f;
    rg_node *d = rg_add(rg_scalar(n->g, p),
                        rg_mul(rg_scalar(n->g, 1.0 - p), rg_heaviside(n->in[0])));
    gin[0] = rg_mul(gy, d);
    return vjp_done(n, gin[0]);
}
UNARY_DEF(leaky_relu, vjp_leaky_relu, rg__kink_at_zero);
rg_node *rg_leaky_relu(rg_node *x, double slope)
{
    struct rg__attr attr = {.f = slope};
    return unary(x, RG_OP_LEAKY_RELU, &attr);
}

/* softplus: y = ln(1 + e^x); dy/dx = sigmoid x.
 * Computed as max(x, 0) + log1p(e^-|x|): the exponential never exceeds 1, and log1p keeps
 * the small term accurate where ln(1 + e^x) would round 1 + tiny to 1 (x very negative).
 * rg__softplusf is the same formula in f32. */
static double softplus_f64(double x)
{
    return (x > 0 ? x : 0) + log1p(exp(-fabs(x)));
}
RG__EW_UNARY(softplus, RG__PICK(x, rg__softplusf, softplus_f64))
static rg_status vjp_softplus(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    gin[0] = rg_mul(gy, rg_sigmoid(n->in[0]));
    return vjp_done(n, gin[0]);
}
UNARY_DEF(softplus, vjp_softplus, NULL);
rg_node *rg_softplus(rg_node *x)
{
    return unary(x, RG_OP_SOFTPLUS, NULL);
}

/* heaviside: y = H(x) = 1 for x > 0, 1/2 at 0, 0 below (NaN passes through: RG__STEP);
 * dy/dx = 0 everywhere it exists, and the library takes 0 at the jump too. */
RG__EW_UNARY(heaviside, RG__STEP(elem_t, x))
static rg_status vjp_heaviside(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    gin[0] = rg__zeros_like(n->in[0]);
    return vjp_done(n, gin[0]);
}
UNARY_DEF(heaviside, vjp_heaviside, rg__kink_at_zero);
rg_node *rg_heaviside(rg_node *x)
{
    return unary(x, RG_OP_HEAVISIDE, NULL);
}
