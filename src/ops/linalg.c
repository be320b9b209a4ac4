/* Linear algebra: matmul (with transpose flags, batched, or one operand shared across a
 * batch) and permute. Each op is its shape rule, kernels, VJP and table row side by side. */
#include "internal.h"
#include "kernels/broadcast.h"

/* The VJP's result: RG_OK when every needed gradient was built, else the error that
 * stopped it. */
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

/* ---------------------------------------------------------------------------------------
 * matmul: C = op(A) op(B), op transposing the last two axes when attr.ta / attr.tb is set.
 * Shapes: [m,k]@[k,n] -> [m,n]; [B,m,k]@[B,k,n] -> [B,m,n]; a 2-D operand is shared by
 * every matrix of a 3-D one -> [B,m,n]. (Shapes of op(A), op(B) shown.)
 * dC/dA: dop(A) = G op(B)^T, dop(B) = op(A)^T G, written with flags so no transpose is ever
 * materialised; an operand shared across the batch gets its gradients summed over it.
 * ------------------------------------------------------------------------------------- */

/* The GEMM calls a matmul node makes. */
struct mm_plan {
    int64_t batch;  /* GEMM calls */
    int64_t m, n, k;
    int64_t lda, ldb;
    int64_t sa, sb; /* element offsets between consecutive matrices (0: shared) */
};

static void mm_plan(const rg_node *node, struct mm_plan *p)
{
    const rg_node *a = node->in[0], *b = node->in[1];
    const bool ta = node->attr.ta, tb = node->attr.tb;
    const int64_t *as = a->shape + a->ndim - 2, *bs = b->shape + b->ndim - 2;
    p->m = ta ? as[1] : as[0];
    p->k = ta ? as[0] : as[1];
    p->n = tb ? bs[0] : bs[1];
    p->lda = as[1];
    p->ldb = bs[1];
    p->batch = node->ndim == 3 ? node->shape[0] : 1;
    p->sa = a->ndim == 3 ? as[0] * as[1] : 0;
    p->sb = b->ndim == 3 ? bs[0] * bs[1] : 0;
    if (a->ndim == 3 && b->ndim == 2 && !ta) {
        /* the rows of all of A's matrices are consecutive rows of one [B*m, k] matrix, and
         * so are C's: one large GEMM instead of B small ones */
        p->m *= p->batch;
        p->batch = 1;
    }
}

static rg_status shape_matmul(rg_node *n)
{
    const rg_node *a = n->in[0], *b = n->in[1];
    const bool ta = n->attr.ta, tb = n->attr.tb;
    char sa[160], sb[160];
    rg_shape_str(a->ndim, a->shape, sa, sizeof sa);
    rg_shape_str(b->ndim, b->shape, sb, sizeof sb);
    if (a->ndim < 2 || a->ndim > 3 || b->ndim < 2 || b->ndim > 3)
        return rg_node_fail(n, RG_ERR_SHAPE, "matmul: operands must be 2-D or 3-D: %s @ %s",
                            sa, sb);
    const int64_t *as = a->shape + a->ndim - 2, *bs = b->shape + b->ndim - 2;
    const int64_t m = ta ? as[1] : as[0], ka = ta ? as[0] : as[1];
    const int64_t kb = tb ? bs[1] : bs[0], nn = tb ? bs[0] : bs[1];
    if (ka != kb)
        return rg_node_fail(n, RG_ERR_SHAPE, "matmul: inner dimensions differ: %s%s @ %s%s", sa,
                            ta ? "^T" : "", sb, tb ? "^T" : "");
    if (a->ndim == 3 && b->ndim == 3 && a->shape[0] != b->shape[0])
        return rg_node_fail(n, RG_ERR_SHAPE, "matmul: batch sizes differ: %s @ %s", sa, sb);
    if (a->ndim == 2 && b->ndim == 2) {
        const int64_t shape[2] = {m, nn};
        return rg_node_set_shape(n, 2, shape);
    }
    const int64_t shape[3] = {a->ndim == 3 ? a->shape[0] : b->shape[0], m, nn};
    return rg_node_set_shape(n, 3, shape);
}

/* C = op(A) op(B) + beta C for each matrix of the batch. */
#define MATMUL_FWD(T, sfx, gemm)                                                           \
    static void matmul_##sfx(const rg_node *node, T *c, T beta)                            \
    {                                                                                      \
        struct mm_plan p;                                                                  \
        mm_plan(node, &p);                                                                 \
        const T *a = node->in[0]->data, *b = node->in[1]->data;                            \
        for (int64_t i = 0; i < p.batch; i++)                                              \
            gemm(node->attr.ta, node->attr.tb, p.m, p.n, p.k, 1, a + i * p.sa, p.lda,      \
                 b + i * p.sb, p.ldb, beta, c + i * p.m * p.n, p.n);                       \
    }                                                                                      \
    static rg_status fwd_matmul_##sfx(rg_node *node)                                       \
    {                                                                                      \
        matmul_##sfx(node, node->data, 0);                                                 \
        return RG_OK;                                                                      \
    }
MATMUL_FWD(float, f32, rg__sgemm)
MATMUL_FWD(double, f64, rg__dgemm)

void rg__matmul_accumulate(const rg_node *mm, void *c)
{
    if (mm->g->dtype == RG_F32)
        matmul_f32(mm, c, 1);
    else
        matmul_f64(mm, c, 1);
}

static rg_status vjp_matmul(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    rg_node *a = n->in[0], *b = n->in[1];
    const bool ta = n->attr.ta, tb = n->attr.tb;
    if (need[0]) {
        /* dA = G op(B)^T, or its transpose op(B) G^T when A is stored transposed */
        rg_node *d = ta ? rg_matmul_t(b, gy, tb, true) : rg_matmul_t(gy, b, false, !tb);
        gin[0] = rg_sum_to(d, a->ndim, a->shape);
    }
    if (need[1]) {
        rg_node *d;
        if (a->ndim == 3 && b->ndim == 2 && !ta) {
            /* B is shared by the batch: sum_b A_b^T G_b is one GEMM over the stacked rows
             * ([B*m, k]^T @ [B*m, n]), without a [B, k, n] intermediate to sum */
            const int64_t a2[2] = {a->shape[0] * a->shape[1], a->shape[2]};
            const int64_t g2[2] = {gy->shape[0] * gy->shape[1], gy->shape[2]};
            rg_node *af = rg_reshape(a, 2, a2), *gf = rg_reshape(gy, 2, g2);
            d = tb ? rg_matmul_t(gf, af, true, false) : rg_matmul_t(af, gf, true, false);
        } else {
            /* dB = op(A)^T G, or its transpose G^T op(A) when B is stored transposed */
            d = tb ? rg_matmul_t(gy, a, true, ta) : rg_matmul_t(a, gy, !ta, false);
        }
        gin[1] = rg_sum_to(d, b->ndim, b->shape);
    }
    return vjp_done(n, need, gin);
}

const rg_op_def rg__op_matmul = {
    .name = "matmul",
    .arity = 2,
    .shape = shape_matmul,
    .forward_f32 = fwd_matmul_f32,
    .forward_f64 = fwd_matmul_f64,
    .vjp = vjp_matmul,
};

rg_node *rg_matmul_t(rg_node *a, rg_node *b, bool trans_a, bool trans_b)
{
    rg_node *in[2] = {a, b};
    struct rg__attr attr = {.ta = trans_a, .tb = trans_b};
    return rg__make(rg__graph_of(2, in), RG_OP_MATMUL, 2, in, &attr);
}

rg_node *rg_matmul(rg_node *a, rg_node *b)
{
    return rg_matmul_t(a, b, false, false);
}

/* ---------------------------------------------------------------------------------------
 * permute: y[i_0..i_{d-1}] = x[j] with j[perm[k]] = i_k, i.e. output axis k is input axis
 * perm[k] (attr.perm); shape y.shape[k] = x.shape[perm[k]].
 * The VJP is the permutation back: gx = permute(gy, inverse(perm)).
 * ------------------------------------------------------------------------------------- */

static rg_status shape_permute(rg_node *n)
{
    const rg_node *x = n->in[0];
    bool seen[RG_MAX_DIMS] = {false};
    int64_t shape[RG_MAX_DIMS];
    for (int k = 0; k < x->ndim; k++) {
        const int p = n->attr.perm[k];
        if (p < 0 || p >= x->ndim || seen[p]) {
            char sx[160], sp[160];
            int64_t perm[RG_MAX_DIMS];
            for (int i = 0; i < x->ndim; i++)
                perm[i] = n->attr.perm[i];
            return rg_node_fail(n, RG_ERR_SHAPE, "permute: %s is not a permutation of the %d "
                                "axes of %s", rg_shape_str(x->ndim, perm, sp, sizeof sp),
                                x->ndim, rg_shape_str(x->ndim, x->shape, sx, sizeof sx));
        }
        seen[p] = true;
        shape[k] = x->shape[p];
    }
    return rg_node_set_shape(n, x->ndim, shape);
}

/* y walks in order; x is read with y's axes' strides in x. */
static rg_status fwd_permute(rg_node *n)
{
    const rg_node *x = n->in[0];
    const int nd = n->ndim;
    int64_t xst[RG_MAX_DIMS], st[RG_MAX_DIMS];
    if (nd > 0)
        xst[nd - 1] = 1;
    for (int i = nd - 2; i >= 0; i--)
        xst[i] = xst[i + 1] * x->shape[i + 1];
    for (int i = 0; i < nd; i++)
        st[i] = xst[n->attr.perm[i]];
    rg__strided_copy(n->data, x->data, n->g->elem, nd, n->shape, st);
    return RG_OK;
}

static rg_status vjp_permute(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    int inv[RG_MAX_DIMS];
    for (int k = 0; k < n->ndim; k++)
        inv[n->attr.perm[k]] = k;
    gin[0] = rg_permute(gy, inv);
    return vjp_done(n, need, gin);
}

const rg_op_def rg__op_permute = {
    .name = "permute",
    .arity = 1,
    .shape = shape_permute,
    .forward_f32 = fwd_permute,
    .forward_f64 = fwd_permute,
    .vjp = vjp_permute,
};

/* perm has x's ndim entries; a negative entry counts from the end. The identity returns x
 * itself. Repeated axes are left for the shape rule to report. */
rg_node *rg_permute(rg_node *x, const int *perm)
{
    if (!x)
        return NULL;
    if (!perm && x->ndim > 0) {
        rg__fail(x->g, RG_ERR_ARG, "permute: perm is NULL");
        return NULL;
    }
    struct rg__attr attr = {0};
    bool identity = true;
    for (int k = 0; k < x->ndim; k++) {
        const int p = perm[k] == RG_AXIS_ALL ? -1 : rg__axis(perm[k], x->ndim);
        if (p < 0) {
            char sx[160];
            rg__fail(x->g, RG_ERR_SHAPE, "permute: axis %d out of range for %s", perm[k],
                     rg_shape_str(x->ndim, x->shape, sx, sizeof sx));
            return NULL;
        }
        attr.perm[k] = (int8_t)p;
        identity &= p == k;
    }
    if (identity)
        return x;
    rg_node *in[1] = {x};
    return rg__make(x->g, RG_OP_PERMUTE, 1, in, &attr);
}

rg_node *rg_transpose(rg_node *x)
{
    if (!x || x->ndim < 2)
        return x;
    int perm[RG_MAX_DIMS];
    for (int k = 0; k < x->ndim; k++)
        perm[k] = k;
    perm[x->ndim - 2] = x->ndim - 1;
    perm[x->ndim - 1] = x->ndim - 2;
    return rg_permute(x, perm);
}
