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

/* The lane arithmetic itself, inlined into the vectorised kernels that sum (the sum kernel
 * and the softmax and cross-entropy kernels of ops/loss.c): x[i] goes to lane i % 16, and
 * the lanes are separate accumulators, not a reassociated sum, so the result is the same on
 * every instruction set. */
#define RG__LANES_ADD(T, sfx)                                                              \
    static inline void rg__lanes_add_##sfx(double *restrict lanes, const T *restrict x,   \
                                           int64_t count)                                  \
    {                                                                                      \
        int64_t i = 0;                                                                     \
        for (; i + 16 <= count; i += 16)                                                   \
            for (int k = 0; k < 16; k++)                                                   \
                lanes[k] += x[i + k];                                                      \
        for (int k = 0; i < count; i++, k++)                                               \
            lanes[k] += x[i];                                                              \
    }
RG__LANES_ADD(float, f32)
RG__LANES_ADD(double, f64)

/* A block's sum from its lanes (combined pairwise in place). */
static inline double rg__sum_lanes_total(double *lanes)
{
    for (int w = 8; w >= 1; w /= 2)
        for (int k = 0; k < w; k++)
            lanes[k] += lanes[k + w];
    return lanes[0];
}

/* The sum of a whole run x[0..count): fresh lanes, then their total. Inlined, like the lane
 * arithmetic, into the vectorised kernel that calls it. */
#define RG__SUM_RUN(T, sfx)                                                                \
    static inline double rg__sum_run_##sfx(const T *restrict x, int64_t count)             \
    {                                                                                      \
        double lanes[16] = {0};                                                            \
        rg__lanes_add_##sfx(lanes, x, count);                                              \
        return rg__sum_lanes_total(lanes);                                                 \
    }
RG__SUM_RUN(float, f32)
RG__SUM_RUN(double, f64)

/* The sum of the blocks' sums, added in block order. */
double rg__sum_partials(const double *partial, int64_t nblocks);

#endif
