/* Fused backward ops: the VJPs of tanh, sigmoid and relu as one node each.
 *
 * Written with generic ops, tanh's VJP gy (1 - y^2) is four nodes (square, a constant, sub,
 * mul) and four passes over memory; relu's gy H(x) is two. These ops compute the same in one
 * pass, which is what a training step spends most of its non-GEMM time on. They are ordinary
 * ops with VJPs of their own, so second derivatives still work. Both inputs have the same
 * shape (the VJP of an elementwise op hands its gradient back at the op's own shape). */
#include "internal.h"
#include "kernels/elementwise.inc"

#include <math.h>

static rg_status shape_same2(rg_node *n)
{
    const rg_node *a = n->in[0], *b = n->in[1];
    if (!rg__same_shape(a, b)) {
        char sa[128], sb[128];
        return rg_node_fail(n, RG_ERR_SHAPE, "%s: shapes differ: %s and %s",
                            rg__def(n)->name, rg_shape_str(a->ndim, a->shape, sa, sizeof sa),
                            rg_shape_str(b->ndim, b->shape, sb, sizeof sb));
    }
    rg__set_shape_of(n, a);
    return RG_OK;
}

#define GRAD_DEF(op, kink_fn)                                                              \
    const rg_op_def rg__op_##op = {                                                        \
        .name = #op,                                                                       \
        .arity = 2,                                                                        \
        .shape = shape_same2,                                                              \
        .forward_f32 = fwd_##op##_f32,                                                     \
        .forward_f64 = fwd_##op##_f64,                                                     \
        .vjp = vjp_##op,                                                                   \
        .kink = kink_fn,                                                                   \
    }

static rg_node *make2(int op, rg_node *a, rg_node *b)
{
    rg_node *in[2] = {a, b};
    return rg__make(rg__graph_of(2, in), op, 2, in, NULL);
}

/* Status of a VJP that built its gradients with constructors (NULL means one failed). */
static rg_status built(const rg_node *n, const bool *need, rg_node *const *gin)
{
    for (int i = 0; i < 2; i++)
        if (need[i] && !gin[i])
            return n->g->status != RG_OK ? n->g->status : RG_ERR_NOMEM;
    return RG_OK;
}

/* tanh_grad(y, gy) = gy (1 - y^2), the VJP of y = tanh x given its output y.
 * d/dgy: (1 - y^2), so g -> tanh_grad(y, g); d/dy: -2 y gy, so g -> -2 y gy g. */
/* x: y, y: gy (the elementwise templates' names); vectorised and split over the pool */
RG__EW_BINARY(tanh_grad, y * (1 - x * x))
static rg_status vjp_tanh_grad(rg_node *n, rg_node *gz, const bool *need, rg_node **gin)
{
    rg_node *y = n->in[0], *gy = n->in[1];
    if (need[0])
        gin[0] = rg_mul(rg_mul(rg_scalar(n->g, -2.0), y), rg_mul(gy, gz));
    if (need[1])
        gin[1] = rg_tanh_grad(y, gz);
    return built(n, need, gin);
}
GRAD_DEF(tanh_grad, NULL);

rg_node *rg_tanh_grad(rg_node *y, rg_node *gy)
{
    return make2(RG_OP_TANH_GRAD, y, gy);
}

/* sigmoid_grad(s, gy) = gy s (1 - s), the VJP of s = sigmoid x given its output s.
 * d/dgy: s (1 - s), so g -> sigmoid_grad(s, g); d/ds: gy (1 - 2s), so g -> gy g (1 - 2s). */
RG__EW_BINARY(sigmoid_grad, y * x * (1 - x))
static rg_status vjp_sigmoid_grad(rg_node *n, rg_node *gz, const bool *need, rg_node **gin)
{
    rg_node *s = n->in[0], *gy = n->in[1];
    if (need[0]) {
        rg_node *one_minus_2s = rg_sub(rg_scalar(n->g, 1.0), rg_mul(rg_scalar(n->g, 2.0), s));
        gin[0] = rg_mul(rg_mul(gy, gz), one_minus_2s);
    }
    if (need[1])
        gin[1] = rg_sigmoid_grad(s, gz);
    return built(n, need, gin);
}
GRAD_DEF(sigmoid_grad, NULL);

rg_node *rg_sigmoid_grad(rg_node *s, rg_node *gy)
{
    return make2(RG_OP_SIGMOID_GRAD, s, gy);
}

/* relu_grad(x, gy) = gy H(x) with H(0) = 1/2, the VJP of relu.
 * d/dgy: H(x), so g -> relu_grad(x, g); d/dx: 0 (H is flat away from its jump). NaN in x
 * passes through, as relu passes it. */
/* x: x, y: gy; vectorised and split over the pool like heaviside. As gy * H(x) in IEEE
 * arithmetic, an infinite gy times H = 0 is NaN. */
RG__EW_BINARY(relu_grad, y * RG__STEP(elem_t, x))
static rg_status vjp_relu_grad(rg_node *n, rg_node *gz, const bool *need, rg_node **gin)
{
    rg_node *x = n->in[0];
    if (need[0])
        gin[0] = rg__zeros_like(x);
    if (need[1])
        gin[1] = rg_relu_grad(x, gz);
    return built(n, need, gin);
}

/* x's distance from 0, where H jumps */
GRAD_DEF(relu_grad, rg__kink_at_zero);

rg_node *rg_relu_grad(rg_node *x, rg_node *gy)
{
    return make2(RG_OP_RELU_GRAD, x, gy);
}
