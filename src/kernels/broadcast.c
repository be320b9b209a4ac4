/* NumPy broadcasting: strides of an input seen through a larger output, and the loop that
 * walks an output index with one such stride vector per input. */
#include "kernels/broadcast.h"

#include <assert.h>

void rg__bcast_strides(const rg_node *in, int ndim, const int64_t *shape, int64_t *strides)
{
    assert(in->ndim <= ndim);
    int lead = ndim - in->ndim; /* axes the input lacks: it repeats along them */
    int64_t step = 1;
    for (int k = ndim - 1; k >= 0; k--) {
        if (k < lead) {
            strides[k] = 0;
            continue;
        }
        int64_t d = in->shape[k - lead];
        /* A size-1 input axis is read again for every output index along it. */
        strides[k] = (d == 1 && shape[k] != 1) ? 0 : step;
        step *= d;
    }
}

void rg__bcast_loop(const rg_node *node, rg__bcast_row_fn row, void *ctx, void *out)
{
    const rg_node *a = node->in[0], *b = node->in[1];
    const size_t elem = node->g->elem;
    const int64_t total = node->size;
    if (total == 0)
        return;

    /* Fast paths. An input with the output's size has its layout (broadcasting only adds
     * size-1 axes then), and a one-element input is a scalar. */
    if (a->size == total && b->size == total) {
        row(ctx, out, a->data, 1, b->data, 1, total);
        return;
    }
    if (a->size == 1 && b->size == total) {
        row(ctx, out, a->data, 0, b->data, 1, total);
        return;
    }
    if (b->size == 1 && a->size == total) {
        row(ctx, out, a->data, 1, b->data, 0, total);
        return;
    }

    int64_t sa[RG_MAX_DIMS], sb[RG_MAX_DIMS];
    rg__bcast_strides(a, node->ndim, node->shape, sa);
    rg__bcast_strides(b, node->ndim, node->shape, sb);

    /* Drop size-1 output axes and merge an axis into the one before it whenever both inputs
     * step through the pair as through one axis (stride[k-1] == stride[k] * dim[k]): fewer,
     * longer rows. E.g. [2,3,4] + [3,4] becomes [2,12] + [12]. */
    int64_t dim[RG_MAX_DIMS], ga[RG_MAX_DIMS], gb[RG_MAX_DIMS];
    int nd = 0;
    for (int k = 0; k < node->ndim; k++) {
        int64_t d = node->shape[k];
        if (d == 1)
            continue;
        if (nd > 0 && ga[nd - 1] == sa[k] * d && gb[nd - 1] == sb[k] * d) {
            dim[nd - 1] *= d;
            ga[nd - 1] = sa[k];
            gb[nd - 1] = sb[k];
            continue;
        }
        dim[nd] = d;
        ga[nd] = sa[k];
        gb[nd] = sb[k];
        nd++;
    }
    assert(nd >= 1); /* total > 1 here, or a fast path would have taken it */

    /* Iterate the outer axes with an odometer; the innermost axis is one row call. */
    const int64_t inner = dim[nd - 1];
    const int64_t rows = total / inner;
    int64_t idx[RG_MAX_DIMS] = {0};
    int64_t oa = 0, ob = 0; /* element offsets of the current row in a and b */
    const char *pa = a->data, *pb = b->data;
    char *po = out;
    for (int64_t r = 0; r < rows; r++) {
        row(ctx, po ? po + (size_t)(r * inner) * elem : NULL, pa + (size_t)oa * elem,
            ga[nd - 1], pb + (size_t)ob * elem, gb[nd - 1], inner);
        for (int k = nd - 2; k >= 0; k--) {
            oa += ga[k];
            ob += gb[k];
            if (++idx[k] < dim[k])
                break;
            oa -= ga[k] * dim[k];
            ob -= gb[k] * dim[k];
            idx[k] = 0;
        }
    }
}

/* Elements are only moved, never computed, so one loop per element width serves both
 * dtypes. The innermost axis is the tight loop; outer axes advance like an odometer. */
#define STRIDED_COPY(U)                                                                    \
    static void strided_copy_##U(U *dst, const U *src, int nd, const int64_t *shape,       \
                                 const int64_t *st)                                        \
    {                                                                                      \
        const int64_t size = rg__numel(nd, shape);                                         \
        if (size == 0)                                                                     \
            return;                                                                        \
        if (nd == 0) {                                                                     \
            dst[0] = src[0];                                                               \
            return;                                                                        \
        }                                                                                  \
        int64_t idx[RG_MAX_DIMS] = {0};                                                    \
        const int64_t inner = shape[nd - 1], sin = st[nd - 1];                             \
        int64_t off = 0;                                                                   \
        for (int64_t o = 0; o < size; o += inner) {                                        \
            for (int64_t j = 0; j < inner; j++)                                            \
                dst[o + j] = src[off + j * sin];                                           \
            for (int ax = nd - 2; ax >= 0; ax--) {                                         \
                off += st[ax];                                                             \
                if (++idx[ax] < shape[ax])                                                 \
                    break;                                                                 \
                off -= st[ax] * shape[ax];                                                 \
                idx[ax] = 0;                                                               \
            }                                                                              \
        }                                                                                  \
    }
STRIDED_COPY(uint32_t)
STRIDED_COPY(uint64_t)

void rg__strided_copy(void *dst, const void *src, size_t elem, int nd, const int64_t *shape,
                      const int64_t *strides)
{
    if (elem == sizeof(uint32_t))
        strided_copy_uint32_t(dst, src, nd, shape, strides);
    else
        strided_copy_uint64_t(dst, src, nd, shape, strides);
}
