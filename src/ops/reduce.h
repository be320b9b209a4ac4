/* The blocked sum of ops/reduce.c, for the executor's fused groups (fuse.c), which sum a
 * value tile by tile as it is produced and must give the bits of the sum kernel. */
#ifndef RG_OPS_REDUCE_H
#define RG_OPS_REDUCE_H

#include "internal.h"

/* True when n is a sum or mean of every element of its input (its output has one element);
 * *scale is then what the sum is multiplied by (1, or 1 / count for a mean). */
bool rg__sum_full(const rg_node *n, double *scale);

/* The blocks a full sum of n elements is cut into: [b block, (b + 1) block) for every b, the
 * last one shorter. A multiple of 16 unless there is one block. Depends on n only. */
int64_t rg__sum_block(int64_t n);

/* Adds x[0..count) to the sixteen lane sums of a block's run (lanes start at 0). Feeding a
 * block piece by piece gives the same lanes as feeding it whole, as long as every piece but
 * the last is a multiple of 16 long. */
void rg__sum_lanes_f32(double *lanes, const float *x, int64_t count);
void rg__sum_lanes_f64(double *lanes, const double *x, int64_t count);

/* A block's sum from its lanes (combined pairwise in place). */
double rg__sum_lanes_total(double *lanes);

/* The sum of the blocks' sums, added in block order. */
double rg__sum_partials(const double *partial, int64_t nblocks);

#endif
