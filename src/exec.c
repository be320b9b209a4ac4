/* The executor: plans (which nodes to run, where their values live) built once per target
 * list and reused, so re-running an unchanged graph allocates nothing. */
#include "exec.h"
#include "kernels/broadcast.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    rg__fuse_free(g, p->fused);
    rg__free(g, p->targets);
    rg__free(g, p->steps);
    rg__free(g, p->arena_mem);
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
    return rg__align_up((size_t)n->size * n->g->elem);
}

/* Walks a plan's units in order: a fused group, or a step alone. */
struct units {
    size_t gi, first, span; /* the next group */
};

static struct units units_start(const struct rg__plan *p)
{
    struct units it = {0};
    it.span = rg__fuse_span(p, 0, &it.first);
    return it;
}

/* The end of the unit that starts at step s. */
static size_t unit_end(const struct rg__plan *p, struct units *it, size_t s)
{
    if (s != it->first)
        return s + 1;
    const size_t end = s + it->span;
    it->span = rg__fuse_span(p, ++it->gi, &it->first);
    return end;
}

/* The values step st reads: its node's inputs, except that an add run with its matmul
 * reads the matmul's inputs instead of the matmul, and a matmul run by the next step reads
 * nothing. r holds RG_MAX_ARITY + 1 entries. */
static int step_reads(const struct rg__step *st, const rg_node **r)
{
    if (st->run == RG__RUN_NONE)
        return 0;
    const rg_node *node = st->node;
    int n = 0;
    for (int k = 0; k < node->arity; k++) {
        const rg_node *in = node->in[k];
        if (st->run == RG__RUN_MATMUL_ADD && k == st->mm_arg) {
            r[n++] = in->in[0];
            r[n++] = in->in[1];
        } else {
            r[n++] = in;
        }
    }
    return n;
}

/* Marks each add whose operand is a matmul computed by the step just before it, read by
 * nothing else and not a target, to run the two as one step (enum rg__run); the matmul's
 * value then never exists. Steps of fused groups stay as they are. Sets *any when it marks
 * one; returns false when out of memory. */
static bool absorb_matmuls(rg_graph *g, struct rg__plan *p, const uint8_t *need, size_t count,
                           bool *any)
{
    size_t s = 1;
    while (s < p->nsteps && !(p->steps[s].node->op == RG_OP_ADD &&
                               p->steps[s - 1].node->op == RG_OP_MATMUL))
        s++;
    if (s >= p->nsteps)
        return true; /* no candidate: plans without a dense layer allocate nothing more */
    /* readers of each value, then whether each step is in a fused group */
    uint32_t *readers = rg__calloc(g, count * sizeof *readers + p->nsteps, 1);
    if (!readers)
        return false;
    uint8_t *grouped = (uint8_t *)(readers + count);
    for (size_t t = 0; t < p->nsteps; t++)
        for (int k = 0; k < p->steps[t].node->arity; k++)
            readers[p->steps[t].node->in[k]->id]++;
    size_t first, span;
    for (size_t gi = 0; (span = rg__fuse_span(p, gi, &first)) > 0; gi++)
        memset(grouped + first, 1, span);
    for (; s < p->nsteps; s++) {
        struct rg__step *st = &p->steps[s], *prev = &p->steps[s - 1];
        const rg_node *add = st->node, *mm = prev->node;
        if (add->op != RG_OP_ADD || mm->op != RG_OP_MATMUL || grouped[s] || grouped[s - 1] ||
            prev->run != RG__RUN_KERNEL)
            continue;
        const int k = add->in[0] == mm ? 0 : 1;
        if (add->in[k] != mm || add->in[1 - k] == mm || need[mm->id] == 2 ||
            readers[mm->id] != 1 || mm->size != add->size)
            continue;
        prev->run = RG__RUN_NONE;
        prev->offset = RG__NO_SLOT;
        st->run = RG__RUN_MATMUL_ADD;
        st->mm_arg = (uint8_t)k;
        *any = true;
    }
    rg__free(g, readers);
    return true;
}

/* Builds the plan for targets: the op nodes they need, in a topological order (creation
 * order, with runs of elementwise steps gathered into fused groups unless every value is
 * kept or anomaly mode checks each op), each value given an arena offset. A value's block
 * is released after its last consumer has run, never before, so a kernel's output never
 * aliases its inputs; a fused group counts as one step, all its outputs assigned before any
 * of its inputs is released. */
static struct rg__plan *plan_build(rg_graph *g, int n, rg_node *const *targets)
{
    uint32_t maxid = 0;
    for (int i = 0; i < n; i++)
        if (targets[i]->id > maxid)
            maxid = targets[i]->id;
    size_t count = (size_t)maxid + 1;

    struct rg__plan *p = rg__calloc(g, 1, sizeof *p);
    size_t *last = rg__malloc(g, count * sizeof *last); /* last consuming unit, or SIZE_MAX */
    size_t *where = rg__malloc(g, count * sizeof *where); /* offset of a live value */
    uint8_t *need = rg__calloc(g, count, 1);
    struct freelist fl = {0};
    if (!p || !last || !where || !need)
        goto nomem;
    p->ntargets = n;
    p->checked = g->check_finite;
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
        for (int k = 0; k < node->arity; k++)
            if (last[node->in[k]->id] != SIZE_MAX)
                last[node->in[k]->id] = s;
        p->steps[s++] = (struct rg__step){.node = node};
    }
    p->nsteps = nsteps;
    bool absorbed = false;
    if (!g->keep_values && !g->check_finite &&
        (!rg__fuse_plan(g, p, need) || !absorb_matmuls(g, p, need, count, &absorbed)))
        goto nomem;

    /* units: a fused group or a step alone, each known by its first step; the steps
     * were reordered if there are groups, and their last readers are found anew */
    struct units it = units_start(p);
    const rg_node *reads[RG_MAX_ARITY + 1];
    if (p->fused || absorbed) {
        for (size_t id = 0; id < count; id++)
            if (last[id] != SIZE_MAX)
                last[id] = 0;
        for (s = 0; s < nsteps;) {
            const size_t u = s, end = unit_end(p, &it, s);
            for (; s < end; s++)
                for (int k = 0, nr = step_reads(&p->steps[s], reads); k < nr; k++)
                    if (last[reads[k]->id] != SIZE_MAX)
                        last[reads[k]->id] = u;
        }
        it = units_start(p);
    }
    for (s = 0; s < nsteps;) {
        const size_t u = s, end = unit_end(p, &it, s);
        for (size_t t = u; t < end; t++) {
            struct rg__step *st = &p->steps[t];
            if (st->offset != RG__NO_SLOT)
                st->offset = fl_alloc(&fl, value_bytes(st->node));
            where[st->node->id] = st->offset;
        }
        for (; s < end; s++) {
            for (int k = 0, nr = step_reads(&p->steps[s], reads); k < nr; k++) {
                const rg_node *in = reads[k];
                /* a group's own intermediates have no block */
                if (in->kind == RG_KIND_OP && last[in->id] == u && where[in->id] != RG__NO_SLOT) {
                    last[in->id] = SIZE_MAX - 1; /* released once even if consumed twice */
                    if (!fl_release(g, &fl, where[in->id], value_bytes(in)))
                        goto nomem;
                }
            }
        }
    }
    p->arena_size = fl.top;
    p->arena = rg__malloc_aligned(g, p->arena_size, &p->arena_mem);
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

/* A plan with fused groups does not serve anomaly mode, and one built for anomaly mode
 * (nothing fused) is not kept for ordinary runs. */
static bool plan_matches(const rg_graph *g, const struct rg__plan *p, int n,
                         rg_node *const *targets)
{
    if (!p || p->ntargets != n || (g->check_finite ? p->fused != NULL : p->checked))
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
        if (plan_matches(g, g->plans[i], n, targets)) {
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

/* An add and the matmul before it as one step: the add's other operand broadcast into the
 * output, then the product accumulated onto it. */
static void run_matmul_add(const struct rg__step *st)
{
    rg_node *add = st->node, *mm = add->in[st->mm_arg];
    const rg_node *other = add->in[1 - st->mm_arg];
    int64_t strides[RG_MAX_DIMS];
    rg__bcast_strides(other, add->ndim, add->shape, strides);
    rg__strided_copy(add->data, other->data, add->g->elem, add->ndim, add->shape, strides);
    rg__matmul_accumulate(mm, add->data);
}

/* Runs step s of plan p: its node's kernel, writing into the node's slot of the arena. */
static inline rg_status run_step(rg_graph *g, const struct rg__plan *p, size_t s)
{
    const struct rg__step *step = &p->steps[s];
    rg_node *node = step->node;
    if (step->run != RG__RUN_KERNEL) {
        /* the matmul's value never exists whole: nothing is left to read */
        if (step->run == RG__RUN_NONE) {
            node->data = NULL;
            return RG_OK;
        }
        node->data = p->arena + step->offset;
        run_matmul_add(step);
        return RG_OK;
    }
    const rg_op_def *def = &g->ops[node->op];
    node->data = p->arena + step->offset;
    rg_status st = g->dtype == RG_F32 ? def->forward_f32(node) : def->forward_f64(node);
    if (st != RG_OK && g->status == RG_OK)
        rg__fail(g, st, "%s: kernel failed on node %u", def->name, node->id);
    return st;
}

/* ---- anomaly mode: rg_graph_set_check_finite() ---- */

void rg_graph_set_check_finite(rg_graph *g, bool on)
{
    if (g)
        g->check_finite = on;
}

bool rg_graph_check_finite(const rg_graph *g)
{
    return g && g->check_finite;
}

/* What a value holds: its non-finite elements (count, first index and value) and the range
 * of its finite ones (min > max when there are none). */
struct finite_scan {
    int64_t bad, first;
    double first_value, min, max;
};

/* The quick pass (count only) runs after every op; the full one only to write a message. */
#define FINITE_SCAN(T, sfx)                                                                \
    static int64_t count_bad_##sfx(const T *x, int64_t size)                               \
    {                                                                                      \
        int64_t bad = 0;                                                                   \
        for (int64_t i = 0; i < size; i++)                                                 \
            bad += !isfinite(x[i]);                                                        \
        return bad;                                                                        \
    }                                                                                      \
    static void scan_##sfx(const T *x, int64_t size, struct finite_scan *r)                \
    {                                                                                      \
        for (int64_t i = 0; i < size; i++) {                                               \
            if (!isfinite(x[i])) {                                                         \
                if (!r->bad++) {                                                           \
                    r->first = i;                                                          \
                    r->first_value = x[i];                                                 \
                }                                                                          \
            } else {                                                                       \
                if (x[i] < r->min)                                                         \
                    r->min = x[i];                                                         \
                if (x[i] > r->max)                                                         \
                    r->max = x[i];                                                         \
            }                                                                              \
        }                                                                                  \
    }
FINITE_SCAN(float, f32)
FINITE_SCAN(double, f64)

static int64_t count_bad(const rg_node *n)
{
    return n->g->dtype == RG_F32 ? count_bad_f32(n->data, n->size)
                                 : count_bad_f64(n->data, n->size);
}

static struct finite_scan scan(const rg_node *n)
{
    struct finite_scan r = {.first = -1, .min = INFINITY, .max = -INFINITY};
    if (n->g->dtype == RG_F32)
        scan_f32(n->data, n->size, &r);
    else
        scan_f64(n->data, n->size, &r);
    return r;
}

/* Appends printf-style text at *len in buf (cap bytes), truncating at the end. */
static void put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static void put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    if (*len >= cap - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (k > 0)
        *len = *len + (size_t)k < cap - 1 ? *len + (size_t)k : cap - 1;
}

/* "nan", "inf" or "-inf": a NaN's sign (0/0 is -nan on x86) says nothing, so it is dropped. */
static const char *bad_str(double v)
{
    return isnan(v) ? "nan" : v > 0 ? "inf" : "-inf";
}

/* "'log' (a2)": the op and the node's name; a gradient node without a name of its own is
 * named after the forward node it is the gradient of. */
static void put_node(char *buf, size_t cap, size_t *len, const rg_node *n)
{
    put(buf, cap, len, "'%s'", n->g->ops[n->op].name);
    if (n->name) {
        put(buf, cap, len, " (%s)", n->name);
    } else if (n->is_grad && n->grad_of) {
        const rg_node *f = n->grad_of;
        if (f->name)
            put(buf, cap, len, " (gradient of %s)", f->name);
        else
            put(buf, cap, len, " (gradient of node %u '%s')", f->id, f->g->ops[f->op].name);
    }
}

/* "holds nan at element 3 (1 of 4 non-finite)" */
static void put_bad(char *buf, size_t cap, size_t *len, const rg_node *n,
                    const struct finite_scan *r)
{
    put(buf, cap, len, "%s at element %lld (%lld of %lld non-finite)", bad_str(r->first_value),
        (long long)r->first, (long long)r->bad, (long long)n->size);
}

/* An input or parameter read by `reader` holds a NaN or infinity: the op is not to blame. */
static rg_status fail_leaf(rg_graph *g, const rg_node *leaf, const rg_node *reader)
{
    char msg[RG__ERRMSG_LEN];
    size_t len = 0;
    struct finite_scan r = scan(leaf);
    put(msg, sizeof msg, &len, "check_finite: node %u ", leaf->id);
    put_node(msg, sizeof msg, &len, leaf);
    put(msg, sizeof msg, &len, " holds ");
    put_bad(msg, sizeof msg, &len, leaf, &r);
    put(msg, sizeof msg, &len, ", read by node %u ", reader->id);
    put_node(msg, sizeof msg, &len, reader);
    return rg__fail(g, RG_ERR_DOMAIN, "%s", msg);
}

/* Op node n produced a NaN or infinity from its inputs, whose ranges the message lists. */
static rg_status fail_op(rg_graph *g, const rg_node *n)
{
    char msg[RG__ERRMSG_LEN];
    size_t len = 0;
    struct finite_scan r = scan(n);
    put(msg, sizeof msg, &len, "check_finite: node %u ", n->id);
    put_node(msg, sizeof msg, &len, n);
    if (n->is_grad)
        put(msg, sizeof msg, &len, " in the backward pass (sweep step %d)", (int)n->step);
    put(msg, sizeof msg, &len, " produced ");
    put_bad(msg, sizeof msg, &len, n, &r);
    put(msg, sizeof msg, &len, n->arity ? "; inputs:" : "; no inputs");
    for (int k = 0; k < n->arity; k++) {
        const rg_node *in = n->in[k];
        struct finite_scan ri = scan(in);
        put(msg, sizeof msg, &len, "%s #%u ", k ? "," : "", in->id);
        put_node(msg, sizeof msg, &len, in);
        if (ri.min <= ri.max)
            put(msg, sizeof msg, &len, " [min %.6g, max %.6g", ri.min, ri.max);
        else
            put(msg, sizeof msg, &len, " [no finite value");
        if (ri.bad)
            put(msg, sizeof msg, &len, ", %lld non-finite", (long long)ri.bad);
        put(msg, sizeof msg, &len, "]");
    }
    return rg__fail(g, RG_ERR_DOMAIN, "%s", msg);
}

/* The plan's steps with every op's output checked after its kernel, and every input or
 * parameter checked before the first op that reads it (at each reader: leaves have no step
 * of their own, and a check per read costs no more than the read). Allocates nothing. */
static rg_status run_checked(rg_graph *g, const struct rg__plan *p)
{
    for (size_t s = 0; s < p->nsteps; s++) {
        rg_node *node = p->steps[s].node;
        for (int k = 0; k < node->arity; k++) {
            const rg_node *in = node->in[k];
            if ((in->kind == RG_KIND_INPUT || in->kind == RG_KIND_PARAM) && in->data &&
                count_bad(in))
                return fail_leaf(g, in, node);
        }
        rg_status st = run_step(g, p, s);
        if (st != RG_OK)
            return st;
        if (count_bad(node))
            return fail_op(g, node);
    }
    return RG_OK;
}

/* The plan's steps, a fused group at a time where it has them; between groups, the loop of
 * a plan without any. */
static rg_status run_plain(rg_graph *g, const struct rg__plan *p)
{
    rg_status st = RG_OK;
    size_t s = 0, gi = 0, first, span = rg__fuse_span(p, 0, &first);
    for (;;) {
        const size_t stop = first < p->nsteps ? first : p->nsteps;
        for (; s < stop && st == RG_OK; s++)
            st = run_step(g, p, s);
        if (st != RG_OK || s == p->nsteps)
            return st;
        st = rg__fuse_run(g, p, gi);
        s += span;
        span = rg__fuse_span(p, ++gi, &first);
    }
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
    /* anomaly mode is decided once per run, so the plain loop carries no check at all */
    rg_status st = RG_OK;
    if (g->check_finite)
        st = run_checked(g, p);
    else
        st = run_plain(g, p);
    if (st == RG_OK)
        g->status = prev;
    return st;
}

long rg__eval_fused_groups(rg_graph *g, int n, rg_node *const *targets)
{
    for (int i = 0; i < RG__PLAN_CACHE; i++) {
        if (plan_matches(g, g->plans[i], n, targets)) {
            size_t groups = 0, first;
            while (rg__fuse_span(g->plans[i], groups, &first))
                groups++;
            return (long)groups;
        }
    }
    return -1;
}

rg_status rg_eval1(rg_node *target)
{
    if (!target)
        return RG_ERR_ARG;
    return rg_eval(target->g, 1, &target);
}
