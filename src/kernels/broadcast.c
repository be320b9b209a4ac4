/* NumPy broadcasting: strides of an input seen through a larger output, and the loop that
 * walks an output index with one such stride vector per input. */
#include "kernels/broadcast.h"

#include "kernels/parallel.h"

#include <assert.h>
#include <string.h>

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

/* The broadcast walk after axis merging: the output's dims and each input's strides. */
struct bcast_walk {
    int nd;
    int64_t dim[RG_MAX_DIMS], ga[RG_MAX_DIMS], gb[RG_MAX_DIMS];
    const char *pa, *pb;
    char *po;
    size_t elem;
    rg__bcast_row_fn row;
    void *ctx;
};

/* Rows [r0, r1) of the walk (a row is one run along the innermost merged axis): the outer
 * index of row r0 is unravelled, then advanced like an odometer. */
static void bcast_rows(void *arg, int64_t r0, int64_t r1)
{
    const struct bcast_walk *w = arg;
    const int nd = w->nd;
    const int64_t inner = w->dim[nd - 1];
    int64_t idx[RG_MAX_DIMS] = {0};
    int64_t oa = 0, ob = 0; /* element offsets of the current row in a and b */
    int64_t rest = r0;
    for (int k = nd - 2; k >= 0; k--) {
        idx[k] = rest % w->dim[k];
        rest /= w->dim[k];
        oa += idx[k] * w->ga[k];
        ob += idx[k] * w->gb[k];
    }
    for (int64_t r = r0; r < r1; r++) {
        w->row(w->ctx, w->po ? w->po + (size_t)(r * inner) * w->elem : NULL,
               w->pa + (size_t)oa * w->elem, w->ga[nd - 1], w->pb + (size_t)ob * w->elem,
               w->gb[nd - 1], inner);
        for (int k = nd - 2; k >= 0; k--) {
            oa += w->ga[k];
            ob += w->gb[k];
            if (++idx[k] < w->dim[k])
                break;
            oa -= w->ga[k] * w->dim[k];
            ob -= w->gb[k] * w->dim[k];
            idx[k] = 0;
        }
    }
}

void rg__bcast_loop(const rg_node *node, rg__bcast_row_fn row, void *ctx, void *out)
{
    const rg_node *a = node->in[0], *b = node->in[1];
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
    struct bcast_walk w = {.pa = a->data, .pb = b->data, .po = out, .elem = node->g->elem,
                           .row = row, .ctx = ctx};
    int nd = 0;
    for (int k = 0; k < node->ndim; k++) {
        int64_t d = node->shape[k];
        if (d == 1)
            continue;
        if (nd > 0 && w.ga[nd - 1] == sa[k] * d && w.gb[nd - 1] == sb[k] * d) {
            w.dim[nd - 1] *= d;
            w.ga[nd - 1] = sa[k];
            w.gb[nd - 1] = sb[k];
            continue;
        }
        w.dim[nd] = d;
        w.ga[nd] = sa[k];
        w.gb[nd] = sb[k];
        nd++;
    }
    assert(nd >= 1); /* total > 1 here, or a fast path would have taken it */
    w.nd = nd;

    /* Rows write disjoint parts of `out`, so they can run on the thread pool; a row that only
     * reads (out NULL) reduces into ctx and runs on this thread. */
    const int64_t inner = w.dim[nd - 1], rows = total / inner;
    if (!out) {
        bcast_rows(&w, 0, rows);
        return;
    }
    const int64_t grain = inner >= RG__PAR_MIN / 2 ? 1 : (RG__PAR_MIN / 2) / inner;
    rg__parallel_for(rows, grain, 1, bcast_rows, &w);
}

/* A strided copy (see rg__strided_copy) of output elements [b, e): the source offset of
 * element b is unravelled from its index, then the innermost axis runs as a fill (stride
 * 0: broadcasting), a copy (stride 1) or a gather, and outer axes advance like an odometer. */
struct copy_job {
    void *dst;
    const void *src;
    int nd;
    const int64_t *shape, *st;
};

#define STRIDED_COPY(U)                                                                    \
    static void strided_copy_##U(void *arg, int64_t b, int64_t e)                          \
    {                                                                                      \
        const struct copy_job *j = arg;                                                    \
        U *restrict dst = j->dst;                                                          \
        const U *restrict src = j->src;                                                    \
        const int nd = j->nd;                                                              \
        const int64_t *shape = j->shape, *st = j->st;                                      \
        int64_t idx[RG_MAX_DIMS] = {0}, off = 0, rest = b;                                 \
        for (int ax = nd - 1; ax >= 0; ax--) {                                             \
            idx[ax] = rest % shape[ax];                                                    \
            rest /= shape[ax];                                                             \
            off += idx[ax] * st[ax];                                                       \
        }                                                                                  \
        const int64_t inner = shape[nd - 1], sin = st[nd - 1];                             \
        for (int64_t o = b; o < e;) {                                                      \
            const int64_t cnt = inner - idx[nd - 1] < e - o ? inner - idx[nd - 1] : e - o; \
            U *restrict d = dst + o;                                                       \
            const U *restrict s = src + off;                                               \
            if (sin == 0) {                                                                \
                const U v = s[0];                                                          \
                int64_t i = 0;                                                             \
                for (; i + 16 <= cnt; i += 16) /* blocks: vectorised at -O2 */             \
                    for (int k = 0; k < 16; k++)                                           \
                        d[i + k] = v;                                                      \
                for (; i < cnt; i++)                                                       \
                    d[i] = v;                                                              \
            } else if (sin == 1) {                                                         \
                memcpy(d, s, (size_t)cnt * sizeof(U));                                     \
            } else {                                                                       \
                for (int64_t i = 0; i < cnt; i++)                                          \
                    d[i] = s[i * sin];                                                     \
            }                                                                              \
            o += cnt;                                                                      \
            off += cnt * sin;                                                              \
            idx[nd - 1] += cnt;                                                            \
            for (int ax = nd - 1; ax > 0 && idx[ax] == shape[ax]; ax--) {                  \
                off -= shape[ax] * st[ax];                                                 \
                idx[ax] = 0;                                                               \
                off += st[ax - 1];                                                         \
                idx[ax - 1]++;                                                             \
            }                                                                              \
        }                                                                                  \
    }
STRIDED_COPY(uint32_t)
STRIDED_COPY(uint64_t)

/* Elements are only moved, never computed, so one loop per element width serves both
 * dtypes, and the output's disjoint ranges can be copied by the thread pool. */
void rg__strided_copy(void *dst, const void *src, size_t elem, int nd, const int64_t *shape,
                      const int64_t *strides)
{
    const int64_t size = rg__numel(nd, shape);
    if (size == 0)
        return;
    if (nd == 0) {
        memcpy(dst, src, elem);
        return;
    }
    struct copy_job j = {.dst = dst, .src = src, .nd = nd, .shape = shape, .st = strides};
    rg__parallel_elems(size, elem == sizeof(uint32_t) ? strided_copy_uint32_t
                                                      : strided_copy_uint64_t, &j);
}
