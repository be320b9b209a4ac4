/* The executor: plans (which nodes to run, where their values live) built once per target
 * list and reused, so re-running an unchanged graph allocates nothing. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* Buffers are aligned so kernels (and BLAS) see vector-friendly addresses. */
#define ALIGN 64

struct step {
    rg_node *node;
    size_t offset; /* into the plan's arena */
};

struct rg__plan {
    int ntargets;
    uint32_t *targets; /* ids */
    struct step *steps;
    size_t nsteps;
    unsigned char *arena;
    size_t arena_size;
    uint64_t last_used;
};

static void plan_free(rg_graph *g, struct rg__plan *p)
{
    if (!p)
        return;
    /* values living in this arena are gone: forget them rather than leave dangling data */
    for (size_t s = 0; s < p->nsteps && p->arena; s++) {
        rg_node *node = p->steps[s].node;
        unsigned char *d = node->data;
        if (d >= p->arena && d < p->arena + p->arena_size)
            node->data = NULL;
    }
    rg__free(g, p->targets);
    rg__free(g, p->steps);
    rg__free(g, p->arena);
    rg__free(g, p);
}

void rg__plans_clear(rg_graph *g)
{
    for (int i = 0; i < RG__PLAN_CACHE; i++) {
        plan_free(g, g->plans[i]);
        g->plans[i] = NULL;
    }
}

/* ---- buffer assignment by liveness ----
 * A free list of [offset, offset+size) blocks, kept sorted and coalesced. Values are placed
 * best-fit; a block at the top of the arena may grow. */
struct block {
    size_t off, size;
};

struct freelist {
    struct block *b;
    size_t n, cap;
    size_t top; /* arena high-water mark */
};

static size_t fl_alloc(struct freelist *fl, size_t size)
{
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < fl->n; i++)
        if (fl->b[i].size >= size && (best == SIZE_MAX || fl->b[i].size < fl->b[best].size))
            best = i;
    if (best != SIZE_MAX) {
        size_t off = fl->b[best].off;
        fl->b[best].off += size;
        fl->b[best].size -= size;
        if (!fl->b[best].size) {
            memmove(&fl->b[best], &fl->b[best + 1], (fl->n - best - 1) * sizeof *fl->b);
            fl->n--;
        }
        return off;
    }
    if (fl->n && fl->b[fl->n - 1].off + fl->b[fl->n - 1].size == fl->top) {
        /* grow the topmost free block rather than leave it stranded */
        size_t off = fl->b[fl->n - 1].off;
        fl->top = off + size;
        fl->n--;
        return off;
    }
    size_t off = fl->top;
    fl->top += size;
    return off;
}

/* Returns false when the free list cannot grow. */
static bool fl_release(rg_graph *g, struct freelist *fl, size_t off, size_t size)
{
    size_t i = 0;
    while (i < fl->n && fl->b[i].off < off)
        i++;
    bool merge_prev = i > 0 && fl->b[i - 1].off + fl->b[i - 1].size == off;
    bool merge_next = i < fl->n && off + size == fl->b[i].off;
    if (merge_prev && merge_next) {
        fl->b[i - 1].size += size + fl->b[i].size;
        memmove(&fl->b[i], &fl->b[i + 1], (fl->n - i - 1) * sizeof *fl->b);
        fl->n--;
    } else if (merge_prev) {
        fl->b[i - 1].size += size;
    } else if (merge_next) {
        fl->b[i].off = off;
        fl->b[i].size += size;
    } else {
        if (fl->n == fl->cap) {
            size_t cap = fl->cap ? fl->cap * 2 : 64;
            struct block *b =
                rg__realloc(g, fl->b, fl->cap * sizeof *b, cap * sizeof *b);
            if (!b)
                return false;
            fl->b = b;
            fl->cap = cap;
        }
        memmove(&fl->b[i + 1], &fl->b[i], (fl->n - i) * sizeof *fl->b);
        fl->b[i].off = off;
        fl->b[i].size = size;
        fl->n++;
    }
    return true;
}

static size_t value_bytes(const rg_node *n)
{
    size_t bytes = (size_t)n->size * n->g->elem;
    return (bytes + ALIGN - 1) / ALIGN * ALIGN;
}

/* Builds the plan for targets: the op nodes they need, in creation order (a topological
 * order), each given an arena offset. A value's block is released after its last consumer
 * has run, never before, so a kernel's output never aliases its inputs. */
static struct rg__plan *plan_build(rg_graph *g, int n, rg_node *const *targets)
{
    uint32_t maxid = 0;
    for (int i = 0; i < n; i++)
        if (targets[i]->id > maxid)
            maxid = targets[i]->id;
    size_t count = (size_t)maxid + 1;

    struct rg__plan *p = rg__calloc(g, 1, sizeof *p);
    size_t *last = rg__malloc(g, count * sizeof *last); /* last consuming step, or SIZE_MAX */
    size_t *where = rg__malloc(g, count * sizeof *where); /* offset of a live value */
    uint8_t *need = rg__calloc(g, count, 1);
    struct freelist fl = {0};
    if (!p || !last || !where || !need)
        goto nomem;
    p->ntargets = n;
    p->targets = rg__malloc(g, (size_t)n * sizeof *p->targets);
    if (!p->targets)
        goto nomem;
    for (int i = 0; i < n; i++) {
        p->targets[i] = targets[i]->id;
        need[targets[i]->id] = 2; /* 2: a target, kept to the end */
    }

    size_t nsteps = 0;
    for (size_t id = count; id-- > 0;) {
        const rg_node *node = g->nodes[id];
        if (!need[id] || node->kind != RG_KIND_OP)
            continue;
        nsteps++;
        for (int k = 0; k < node->arity; k++)
            if (!need[node->in[k]->id])
                need[node->in[k]->id] = 1;
    }
    p->steps = rg__malloc(g, (nsteps ? nsteps : 1) * sizeof *p->steps);
    if (!p->steps)
        goto nomem;

    size_t s = 0;
    for (size_t id = 0; id < count; id++) {
        rg_node *node = g->nodes[id];
        last[id] = need[id] == 2 || g->keep_values ? SIZE_MAX : 0;
        if (!need[id] || node->kind != RG_KIND_OP)
            continue;
        for (int k = 0; k < node->arity; k++) {
            uint32_t in = node->in[k]->id;
            if (last[in] != SIZE_MAX)
                last[in] = s;
        }
        p->steps[s++].node = node;
    }
    p->nsteps = nsteps;

    for (s = 0; s < nsteps; s++) {
        rg_node *node = p->steps[s].node;
        p->steps[s].offset = where[node->id] = fl_alloc(&fl, value_bytes(node));
        for (int k = 0; k < node->arity; k++) {
            const rg_node *in = node->in[k];
            if (in->kind == RG_KIND_OP && last[in->id] == s) {
                last[in->id] = SIZE_MAX - 1; /* released once even if consumed twice */
                if (!fl_release(g, &fl, where[in->id], value_bytes(in)))
                    goto nomem;
            }
        }
    }
    p->arena_size = fl.top;
    p->arena = rg__malloc(g, p->arena_size ? p->arena_size : 1);
    if (!p->arena)
        goto nomem;
    rg__free(g, fl.b);
    rg__free(g, last);
    rg__free(g, where);
    rg__free(g, need);
    return p;

nomem:
    rg__free(g, fl.b);
    rg__free(g, last);
    rg__free(g, where);
    rg__free(g, need);
    plan_free(g, p);
    rg__fail(g, RG_ERR_NOMEM, "eval: out of memory while planning %d targets", n);
    return NULL;
}

static bool plan_matches(const struct rg__plan *p, int n, rg_node *const *targets)
{
    if (!p || p->ntargets != n)
        return false;
    for (int i = 0; i < n; i++)
        if (p->targets[i] != targets[i]->id)
            return false;
    return true;
}

static struct rg__plan *plan_get(rg_graph *g, int n, rg_node *const *targets)
{
    int victim = 0;
    for (int i = 0; i < RG__PLAN_CACHE; i++) {
        if (plan_matches(g->plans[i], n, targets)) {
            g->plans[i]->last_used = ++g->plan_clock;
            return g->plans[i];
        }
        if (!g->plans[i] ||
            (g->plans[victim] && g->plans[i]->last_used < g->plans[victim]->last_used))
            victim = i;
    }
    struct rg__plan *p = plan_build(g, n, targets);
    if (!p)
        return NULL;
    plan_free(g, g->plans[victim]);
    g->plans[victim] = p;
    p->last_used = ++g->plan_clock;
    return p;
}

rg_status rg_eval(rg_graph *g, int n, rg_node *const *targets)
{
    if (!g)
        return RG_ERR_ARG;
    if (n < 0 || (n > 0 && !targets))
        return rg__fail(g, RG_ERR_ARG, "eval: %d targets, none given", n);
    for (int i = 0; i < n; i++) {
        if (!targets[i])
            return g->status != RG_OK
                       ? g->status
                       : rg__fail(g, RG_ERR_ARG, "eval: target %d is NULL", i);
        if (targets[i]->g != g)
            return rg__fail(g, RG_ERR_GRAPH, "eval: target %d belongs to another graph", i);
    }
    if (n == 0)
        return RG_OK;
    struct rg__plan *p = plan_get(g, n, targets);
    if (!p)
        return g->status;

    /* A kernel's complaint (a label out of range) describes this run, so it is recorded even
     * when an earlier error is on the graph; without one, that earlier error stays. */
    rg_status prev = g->status;
    g->status = RG_OK;
    rg_status st = RG_OK;
    for (size_t s = 0; s < p->nsteps && st == RG_OK; s++) {
        rg_node *node = p->steps[s].node;
        const rg_op_def *def = &g->ops[node->op];
        node->data = p->arena + p->steps[s].offset;
        st = g->dtype == RG_F32 ? def->forward_f32(node) : def->forward_f64(node);
        if (st != RG_OK && g->status == RG_OK)
            rg__fail(g, st, "%s: kernel failed on node %u", def->name, node->id);
    }
    if (st == RG_OK)
        g->status = prev;
    return st;
}

rg_status rg_eval1(rg_node *target)
{
    if (!target)
        return RG_ERR_ARG;
    return rg_eval(target->g, 1, &target);
}
