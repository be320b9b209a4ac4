/* The broadcasting loop shared by the binary elementwise kernels. Not installed. */
#ifndef RG_KERNELS_BROADCAST_H
#define RG_KERNELS_BROADCAST_H

#include "internal.h"

/* One row of a binary elementwise loop: out[i] = f(a[i * sa], b[i * sb]) for i < count,
 * strides in elements. `out` is contiguous, or NULL when the row only reads (a reduction
 * over the pairs, such as a kink distance, kept in ctx). */
typedef void (*rg__bcast_row_fn)(void *ctx, void *out, const void *a, int64_t sa,
                                 const void *b, int64_t sb, int64_t count);

/* Visits every element of the broadcast of node->in[0] and node->in[1] to node's shape in
 * row-major order, calling `row` on runs as long as possible: the whole tensor when both
 * inputs have node's size or one is a scalar, otherwise the innermost axis after merging
 * axes along which neither input's layout breaks. `out` (node->size contiguous elements of
 * the graph's dtype, or NULL) advances with the output index. */
void rg__bcast_loop(const rg_node *node, rg__bcast_row_fn row, void *ctx, void *out);

/* dst[i] = src[offset(i)] for every element i of a row-major tensor of shape (nd, shape),
 * where offset(i) is the dot product of i's index with `strides` (in elements; 0 repeats an
 * axis). The one strided walk behind permute (strides of the source axes in a new order)
 * and broadcast_to (0 along broadcast axes). elem is the element size, 4 or 8 bytes. */
void rg__strided_copy(void *dst, const void *src, size_t elem, int nd, const int64_t *shape,
                      const int64_t *strides);

#endif
