/* The kernels' thread pool: large elementwise kernels and reductions split over contiguous
 * ranges. Not installed; the public side is rg_set_threads() and rg_get_threads().
 *
 * The pool is process-wide state (docs/api.md): one setting, worker threads created at the
 * first kernel that can use them and joined when the process exits. The executor runs one
 * kernel at a time, so the pool never runs beside the BLAS's own threads for the same graph.
 * One job runs at a time: a kernel that finds the pool busy (another thread's graph, or a
 * kernel nested in a kernel) runs on its calling thread alone. Results never depend on which
 * thread ran a range, so a kernel must give the same bits however [0, n) is cut: elementwise
 * loops do by construction, reductions cut their input into blocks that depend on n only. */
#ifndef RG_KERNELS_PARALLEL_H
#define RG_KERNELS_PARALLEL_H

#include <stdint.h>

/* Most threads rg_set_threads() accepts (the calling thread and 63 workers). */
#define RG__MAX_THREADS 64

/* The element count from which an elementwise kernel is split: below it, waking the workers
 * costs more than the loop (a 64k-element f32 add takes ~10-20 us). */
#define RG__PAR_MIN 65536

/* Calls fn(ctx, begin, end) on ranges that cover [0, n) exactly once, each range except the
 * last beginning and ending at a multiple of `align` (for elementwise kernels 16 elements:
 * 64 bytes of f32, so two threads never write one cache line) and, when split, holding at
 * least `grain` items. The ranges run in parallel on the pool when it has more than one
 * thread, n >= 2 grain and the pool is free; otherwise fn(ctx, 0, n) runs on the caller.
 * Returns when every range has run. n <= 0 calls nothing. */
typedef void (*rg__range_fn)(void *ctx, int64_t begin, int64_t end);
void rg__parallel_for(int64_t n, int64_t grain, int64_t align, rg__range_fn fn, void *ctx);

/* rg__parallel_for for elementwise loops over n elements: grain RG__PAR_MIN / 2, aligned to
 * 16 elements. */
void rg__parallel_elems(int64_t n, rg__range_fn fn, void *ctx);

#endif
