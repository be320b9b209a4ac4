/* The executor's plan, shared by exec.c (planning, running) and fuse.c (fused groups of
 * elementwise steps). Not installed. */
#ifndef RG_EXEC_H
#define RG_EXEC_H

#include "internal.h"

/* The offset of a value that never exists whole: an intermediate of a fused group, which
 * lives one tile at a time in the group's scratch. */
#define RG__NO_SLOT SIZE_MAX

/* How a step runs. A matmul whose only reader is the next step, an add, is not run alone:
 * the add fills its output with its other operand and the GEMM accumulates into it (beta 1),
 * so the product never takes a pass of its own (the bias add of a dense layer). */
enum rg__run {
    RG__RUN_KERNEL,     /* the node's kernel */
    RG__RUN_NONE,       /* a matmul the next step computes */
    RG__RUN_MATMUL_ADD, /* an add whose operand `mm_arg` is the previous step's matmul */
};

struct rg__step {
    rg_node *node;
    size_t offset; /* into the plan's arena, or RG__NO_SLOT */
    uint8_t run;   /* enum rg__run */
    uint8_t mm_arg;
};

struct rg__fused; /* fuse.c */

struct rg__plan {
    int ntargets;
    uint32_t *targets; /* ids */
    struct rg__step *steps;
    size_t nsteps;
    unsigned char *arena; /* RG__ALIGN-aligned, inside arena_mem */
    size_t arena_size;
    void *arena_mem;
    uint64_t last_used;
    struct rg__fused *fused; /* NULL: every step runs alone */
    bool checked;            /* built for anomaly mode, which runs every step alone */
};

/* Reorders p->steps (a topological order, offsets 0) into another topological order in
 * which runs of elementwise steps over the same number of elements, worth running tile by
 * tile, are consecutive; marks the values that live in tiles only with RG__NO_SLOT and
 * records the groups in p->fused (left NULL when there is none). need[id] is 2 for a
 * target, 1 for another value the plan computes or reads. Returns false when out of
 * memory. */
bool rg__fuse_plan(rg_graph *g, struct rg__plan *p, const uint8_t *need);

/* Group gi of p: returns its number of steps and sets *first to its first step; returns 0
 * and sets *first to SIZE_MAX past the last group. */
size_t rg__fuse_span(const struct rg__plan *p, size_t gi, size_t *first);

/* Runs group gi of p (its values' offsets assigned). Allocates only when the thread count
 * grew since the last run. */
rg_status rg__fuse_run(rg_graph *g, const struct rg__plan *p, size_t gi);

void rg__fuse_free(rg_graph *g, struct rg__fused *f);

/* The number of fused groups in the plan rg_eval() uses for these targets, or -1 if it has
 * none yet (for the tests). */
long rg__eval_fused_groups(rg_graph *g, int n, rg_node *const *targets);

#endif
