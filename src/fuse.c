/* Fused groups: runs of elementwise steps executed tile by tile.
 *
 * Run one op at a time, sum(tanh(a * b + c)) and its gradients make eight passes over
 * arrays of n elements, each pass reading and writing memory. A group instead runs all of
 * its steps on a tile of TILE elements before moving to the next tile, so the values read
 * only inside the group (a * b, the tanh, the sum's gradient spread to n elements) exist one
 * tile at a time in a per-thread scratch that stays in the cache, and memory sees only the
 * group's inputs and the values that outlive it.
 *
 * Members, all over the same n elements (the group's count, at least FUSE_MIN):
 * - elementwise ops, run by their own forward kernel on a tile-sized view of the node (a
 *   shadow: a copy of the node whose data and inputs point at the tile), the op's inputs
 *   having n elements or one;
 * - broadcast_to of a one-element value (the gradient of a full sum): that value itself for
 *   readers whose kernels take a one-element operand (ROLE_SCALAR), else a fill of the tile;
 * - a sum or mean of every element (a sink): its input is added tile by tile to the lane
 *   sums of ops/reduce.c, in the blocks the sum kernel uses, so it gives the kernel's bits.
 *   Nothing in the group may read a sink, whose value exists only once the group is done.
 *
 * Threads: the blocks of the sum (which depend on n only) are the units of work, claimed
 * one at a time by the threads of the kernels' pool, each with its own scratch slot. Every
 * element and every block sum is computed as on one thread, and the block sums are added in
 * order on the caller, so the bits do not depend on the thread count. */
#include "exec.h"

#include "kernels/parallel.h"
#include "ops/reduce.h"

#include <stdatomic.h>
#include <string.h>

/* Elements per tile: a multiple of 16 (the sum's lanes), small enough that a group's tiles
 * stay in the L1 and L2 caches. */
#define TILE 1024
/* Below this many elements every value of a group fits in the caches anyway. */
#define FUSE_MIN TILE
#define MAX_MEMBERS 64
#define MAX_SINKS 8
/* Steps looked at past the last member before a group is closed. */
#define WINDOW 32

/* ROLE_SCALAR: a broadcast of a one-element value read only by ops whose kernels take a
 * one-element operand as it is; its readers get that value instead, and it does nothing. */
enum role { ROLE_NONE, ROLE_EW, ROLE_FILL, ROLE_SINK, ROLE_SCALAR };

/* Where a member's input comes from: a member (index >= 0), the input node as it is (a
 * one-element value), or external value k of n elements (EXT(k)). */
#define SRC_NODE (-1)
#define EXT(k) (-2 - (k))

struct member {
    rg_status (*fwd)(rg_node *); /* the op's kernel for the graph's dtype (ROLE_EW) */
    double scale;                /* ROLE_SINK: 1, or 1 / count for a mean */
    uint8_t role;
    bool whole;                  /* written to the arena, not to a tile buffer */
    int8_t sink;                 /* ROLE_SINK: its lanes and block sums */
    int16_t buf;                 /* its tile buffer, or -1 */
    int16_t src[RG_MAX_ARITY];
};

struct group {
    size_t first, count; /* its steps */
    int64_t n, block, nblocks;
    int nbuf, next, nsinks;
    struct member *m; /* count */
    rg_node **ext;    /* next: values of n elements from outside the group */
};

struct rg__fused {
    struct group *groups;
    size_t ngroups, cap;
    size_t slot_bytes; /* one thread's scratch: shadows, then tile buffers */
    int slots;
    void *scratch_mem;
    unsigned char *scratch; /* slots * slot_bytes, aligned */
    double *partials;       /* block sums of the running group's sinks */
    size_t npartials;
};

static size_t shadow_bytes(const struct group *gr)
{
    return rg__align_up((gr->count + (size_t)gr->next) * sizeof(rg_node));
}

/* The binary elementwise ops: the loops of kernels/elementwise.inc, whose operands each
 * have the output's size or one element (read as a scalar). */
static bool ew_binary(int op)
{
    switch (op) {
    case RG_OP_ADD: case RG_OP_SUB: case RG_OP_MUL: case RG_OP_DIV: case RG_OP_POW:
    case RG_OP_MAXIMUM: case RG_OP_MINIMUM: case RG_OP_TANH_GRAD: case RG_OP_SIGMOID_GRAD:
    case RG_OP_RELU_GRAD:
        return true;
    default:
        return false;
    }
}

/* What node m would be in a group of n elements. */
static enum role role_of(const rg_node *m, int64_t n, double *scale)
{
    if (ew_binary(m->op)) {
        if (m->size != n)
            return ROLE_NONE;
        for (int k = 0; k < 2; k++)
            if (m->in[k]->size != n && m->in[k]->size != 1)
                return ROLE_NONE;
        return ROLE_EW;
    }
    switch (m->op) {
    case RG_OP_NEG: case RG_OP_EXP: case RG_OP_LOG: case RG_OP_SQRT: case RG_OP_SQUARE:
    case RG_OP_ABS: case RG_OP_SIN: case RG_OP_COS: case RG_OP_TANH: case RG_OP_SIGMOID:
    case RG_OP_RELU: case RG_OP_LEAKY_RELU: case RG_OP_SOFTPLUS: case RG_OP_HEAVISIDE:
        return m->size == n ? ROLE_EW : ROLE_NONE;
    case RG_OP_BROADCAST_TO:
        return m->size == n && m->in[0]->size == 1 ? ROLE_FILL : ROLE_NONE;
    case RG_OP_SUM: case RG_OP_MEAN:
        return m->in[0]->size == n && rg__sum_full(m, scale) ? ROLE_SINK : ROLE_NONE;
    default:
        return ROLE_NONE;
    }
}

/* ---- planning ---- */

/* A group being gathered: its members' step indices (in the creation order), roles and
 * how often each is read by the others. memb[id] is 1 + the member index of node id. */
struct cand {
    size_t idx[MAX_MEMBERS];
    uint8_t role[MAX_MEMBERS];
    double scale[MAX_MEMBERS];
    uint32_t inuse[MAX_MEMBERS];
    bool whole[MAX_MEMBERS]; /* its value outlives the group */
    int nm, nsinks;
};

struct planner {
    rg_graph *g;
    struct rg__plan *p;
    const uint8_t *need;
    uint8_t *memb;     /* per id: 1 + member index in the candidate, 0 */
    uint32_t *uses;    /* per id: reads by the plan's steps */
    struct rg__step *order;
};

static void cand_add(struct planner *pl, struct cand *c, size_t s, enum role r, double scale)
{
    const rg_node *node = pl->p->steps[s].node;
    c->idx[c->nm] = s;
    c->role[c->nm] = (uint8_t)r;
    c->scale[c->nm] = scale;
    c->inuse[c->nm] = 0;
    c->nsinks += r == ROLE_SINK;
    for (int k = 0; k < node->arity; k++)
        if (pl->memb[node->in[k]->id])
            c->inuse[pl->memb[node->in[k]->id] - 1]++;
    pl->memb[node->id] = (uint8_t)++c->nm;
}

/* Gathers the group seeded by step i (of n elements); returns the last step looked at
 * that joined it. */
static size_t gather(struct planner *pl, struct cand *c, size_t i, int64_t n)
{
    const struct rg__step *steps = pl->p->steps;
    double scale = 1;
    c->nm = c->nsinks = 0;
    cand_add(pl, c, i, role_of(steps[i].node, n, &scale), scale);
    size_t last = i;
    for (size_t j = i + 1; j < pl->p->nsteps && c->nm < MAX_MEMBERS && j - last <= WINDOW;
         j++) {
        const rg_node *m = steps[j].node;
        bool reads = false;
        for (int k = 0; k < m->arity; k++) {
            const uint8_t mi = pl->memb[m->in[k]->id];
            if (mi && c->role[mi - 1] == ROLE_SINK)
                return last; /* a sink's value exists only after the group */
            reads |= mi != 0;
        }
        enum role r = role_of(m, n, &scale);
        if (r == ROLE_SINK && c->nsinks == MAX_SINKS)
            r = ROLE_NONE;
        if (r != ROLE_NONE) {
            cand_add(pl, c, j, r, scale);
            last = j;
        } else if (reads) {
            break; /* needs the group's values whole: the group ends here */
        }
        /* else it reads nothing of the group and will run before it */
    }
    return last;
}

/* Marks which members' values outlive the group; true when some do not (fusing saves a
 * pass over memory). */
static bool cand_worth(const struct planner *pl, struct cand *c)
{
    bool worth = false;
    for (int k = 0; k < c->nm; k++) {
        const uint32_t id = pl->p->steps[c->idx[k]].node->id;
        c->whole[k] = pl->need[id] == 2 || pl->uses[id] > c->inuse[k];
        worth |= !c->whole[k];
    }
    return worth;
}

/* Assigns tile buffers to the members whose values live in tiles, by liveness within the
 * group (a buffer is free again after its value's last reader has run), and records where
 * each member's inputs come from. */
static void describe(struct planner *pl, const struct cand *c, struct group *gr)
{
    int last[MAX_MEMBERS], freebuf[MAX_MEMBERS], nfree = 0;
    bool scalar_ok[MAX_MEMBERS];
    for (int k = 0; k < c->nm; k++) {
        last[k] = -1;
        scalar_ok[k] = true;
        const rg_node *node = pl->p->steps[c->idx[k]].node;
        for (int a = 0; a < node->arity; a++) {
            const uint8_t mi = pl->memb[node->in[a]->id];
            if (mi) {
                last[mi - 1] = k;
                scalar_ok[mi - 1] &= ew_binary(node->op);
            }
        }
    }
    for (int k = 0; k < c->nm; k++) {
        const rg_node *node = pl->p->steps[c->idx[k]].node;
        struct member *m = &gr->m[k];
        m->role = c->role[k];
        m->whole = c->whole[k];
        if (m->role == ROLE_FILL && !m->whole && scalar_ok[k])
            m->role = ROLE_SCALAR;
        m->scale = c->scale[k];
        m->sink = (int8_t)(m->role == ROLE_SINK ? gr->nsinks++ : -1);
        m->fwd = pl->g->dtype == RG_F32 ? pl->g->ops[node->op].forward_f32
                                        : pl->g->ops[node->op].forward_f64;
        m->buf = -1;
        if (!m->whole && m->role != ROLE_SCALAR)
            m->buf = (int16_t)(nfree ? freebuf[--nfree] : gr->nbuf++);
        for (int a = 0; a < node->arity; a++) {
            const rg_node *in = node->in[a];
            const uint8_t mi = pl->memb[in->id];
            if (mi) {
                m->src[a] = (int16_t)(mi - 1);
                if (last[mi - 1] == k && gr->m[mi - 1].buf >= 0) {
                    freebuf[nfree++] = gr->m[mi - 1].buf;
                    last[mi - 1] = -1; /* freed once even if read twice */
                }
            } else if (in->size == 1) {
                m->src[a] = SRC_NODE;
            } else {
                int e = 0;
                while (e < gr->next && gr->ext[e] != in)
                    e++;
                if (e == gr->next)
                    gr->ext[gr->next++] = (rg_node *)in;
                m->src[a] = (int16_t)EXT(e);
            }
        }
    }
}

/* Emits the candidate: the steps among its span that are not members first, then the
 * members, recorded as a group. */
static bool emit(struct planner *pl, const struct cand *c, size_t i, size_t last, size_t *out,
                 int64_t n)
{
    rg_graph *g = pl->g;
    struct rg__fused *f = pl->p->fused;
    const struct rg__step *steps = pl->p->steps;
    if (f->ngroups == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 4;
        struct group *gs = rg__realloc(g, f->groups, f->cap * sizeof *gs, cap * sizeof *gs);
        if (!gs)
            return false;
        f->groups = gs;
        f->cap = cap;
    }
    struct group *gr = &f->groups[f->ngroups];
    memset(gr, 0, sizeof *gr);
    gr->m = rg__calloc(g, (size_t)c->nm, sizeof *gr->m);
    gr->ext = rg__calloc(g, (size_t)c->nm * RG_MAX_ARITY, sizeof *gr->ext);
    if (!gr->m || !gr->ext) {
        rg__free(g, gr->m);
        rg__free(g, gr->ext);
        return false;
    }
    f->ngroups++;
    for (size_t s = i; s <= last; s++)
        if (!pl->memb[steps[s].node->id])
            pl->order[(*out)++] = steps[s];
    gr->first = *out;
    gr->count = (size_t)c->nm;
    gr->n = n;
    gr->block = rg__sum_block(n);
    gr->nblocks = (n + gr->block - 1) / gr->block;
    describe(pl, c, gr);
    for (int k = 0; k < c->nm; k++) {
        struct rg__step st = steps[c->idx[k]];
        st.offset = c->whole[k] ? 0 : RG__NO_SLOT;
        pl->order[(*out)++] = st;
    }
    const size_t slot = shadow_bytes(gr) + (size_t)gr->nbuf * rg__align_up(TILE * g->elem);
    if (slot > f->slot_bytes)
        f->slot_bytes = slot;
    if ((size_t)(gr->nsinks * gr->nblocks) > f->npartials)
        f->npartials = (size_t)(gr->nsinks * gr->nblocks);
    return true;
}

/* The per-id tables and the new order, made when the first seed turns up (a graph of small
 * values never pays for them). */
static bool planner_start(struct planner *pl, size_t count, size_t done)
{
    rg_graph *g = pl->g;
    struct rg__plan *p = pl->p;
    pl->memb = rg__calloc(g, count, 1);
    pl->uses = rg__calloc(g, count, sizeof *pl->uses);
    pl->order = rg__malloc(g, p->nsteps * sizeof *pl->order);
    p->fused = rg__calloc(g, 1, sizeof *p->fused);
    if (!pl->memb || !pl->uses || !pl->order || !p->fused)
        return false;
    for (size_t s = 0; s < p->nsteps; s++) {
        const rg_node *node = p->steps[s].node;
        for (int k = 0; k < node->arity; k++)
            pl->uses[node->in[k]->id]++;
    }
    memcpy(pl->order, p->steps, done * sizeof *pl->order);
    return true;
}

static bool reserve_scratch(rg_graph *g, struct rg__fused *f, int slots)
{
    void *mem;
    unsigned char *scratch = rg__malloc_aligned(g, f->slot_bytes * (size_t)slots, &mem);
    if (!scratch)
        return false;
    rg__free(g, f->scratch_mem);
    f->scratch_mem = mem;
    f->scratch = scratch;
    f->slots = slots;
    return true;
}

bool rg__fuse_plan(rg_graph *g, struct rg__plan *p, const uint8_t *need)
{
    uint32_t maxid = 0;
    for (size_t s = 0; s < p->nsteps; s++)
        if (p->steps[s].node->id > maxid)
            maxid = p->steps[s].node->id;
    struct planner pl = {.g = g, .p = p, .need = need};
    struct cand c;
    size_t out = 0, i = 0;
    bool ok = true;
    while (i < p->nsteps && ok) {
        const rg_node *seed = p->steps[i].node;
        double scale;
        const enum role r = seed->size >= FUSE_MIN ? role_of(seed, seed->size, &scale)
                                                   : ROLE_NONE;
        if (r == ROLE_EW || r == ROLE_FILL) {
            if (!pl.order && !(ok = planner_start(&pl, (size_t)maxid + 1, out)))
                break;
            const size_t last = gather(&pl, &c, i, seed->size);
            if (cand_worth(&pl, &c)) {
                ok = emit(&pl, &c, i, last, &out, seed->size);
                i = last + 1;
            } else {
                pl.order[out++] = p->steps[i++];
            }
            for (int k = 0; k < c.nm; k++)
                pl.memb[p->steps[c.idx[k]].node->id] = 0;
        } else {
            if (pl.order)
                pl.order[out] = p->steps[i];
            out++;
            i++;
        }
    }
    if (ok && p->fused && p->fused->ngroups) {
        memcpy(p->steps, pl.order, p->nsteps * sizeof *p->steps);
        const int threads = rg_get_threads();
        ok = (p->fused->partials = rg__malloc(g, p->fused->npartials * sizeof(double))) &&
             reserve_scratch(g, p->fused, threads > 1 ? threads : 1);
    }
    if (!ok || (p->fused && !p->fused->ngroups)) {
        rg__fuse_free(g, p->fused);
        p->fused = NULL;
    }
    rg__free(g, pl.memb);
    rg__free(g, pl.uses);
    rg__free(g, pl.order);
    return ok;
}

size_t rg__fuse_span(const struct rg__plan *p, size_t gi, size_t *first)
{
    if (!p->fused || gi >= p->fused->ngroups) {
        *first = SIZE_MAX;
        return 0;
    }
    *first = p->fused->groups[gi].first;
    return p->fused->groups[gi].count;
}

void rg__fuse_free(rg_graph *g, struct rg__fused *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->ngroups; i++) {
        rg__free(g, f->groups[i].m);
        rg__free(g, f->groups[i].ext);
    }
    rg__free(g, f->groups);
    rg__free(g, f->scratch_mem);
    rg__free(g, f->partials);
    rg__free(g, f);
}

/* ---- running ---- */

struct run {
    const struct group *gr;
    const struct rg__step *steps; /* the group's */
    struct rg__fused *f;
    size_t elem;
    bool f32;
    _Atomic int64_t next_block;
    _Atomic int status; /* the first kernel failure */
};

static void fill(void *out, const void *v, int64_t len, bool f32)
{
    if (f32) {
        float *o = out, x = *(const float *)v;
        for (int64_t i = 0; i < len; i++)
            o[i] = x;
    } else {
        double *o = out, x = *(const double *)v;
        for (int64_t i = 0; i < len; i++)
            o[i] = x;
    }
}

/* The group's steps on one tile, [off, off + len). */
static void run_tile(struct run *r, rg_node *sh, rg_node *xs, int64_t off, int64_t len,
                     double (*lanes)[16])
{
    const struct group *gr = r->gr;
    const size_t at = (size_t)off * r->elem;
    for (int k = 0; k < gr->next; k++) {
        xs[k].data = (unsigned char *)gr->ext[k]->data + at;
        xs[k].size = xs[k].shape[0] = len;
    }
    for (size_t k = 0; k < gr->count; k++) {
        const struct member *m = &gr->m[k];
        rg_node *s = &sh[k];
        if (m->whole && m->role != ROLE_SINK)
            s->data = (unsigned char *)r->steps[k].node->data + at;
        s->size = s->shape[0] = len;
        if (m->role == ROLE_EW) {
            const rg_status st = m->fwd(s);
            if (st != RG_OK) {
                int ok = RG_OK;
                atomic_compare_exchange_strong(&r->status, &ok, (int)st);
            }
        } else if (m->role == ROLE_FILL) {
            fill(s->data, s->in[0]->data, len, r->f32);
        } else if (m->role == ROLE_SCALAR) {
            continue;
        } else if (r->f32) {
            rg__sum_lanes_f32(lanes[m->sink], s->in[0]->data, len);
        } else {
            rg__sum_lanes_f64(lanes[m->sink], s->in[0]->data, len);
        }
    }
}

/* One thread's share: scratch slot `slot`, blocks claimed one at a time. */
static void run_part(void *ctx, int64_t slot, int64_t end)
{
    (void)end;
    struct run *r = ctx;
    const struct group *gr = r->gr;
    unsigned char *base = r->f->scratch + (size_t)slot * r->f->slot_bytes;
    rg_node *sh = (rg_node *)base, *xs = sh + gr->count;
    unsigned char *bufs = base + shadow_bytes(gr);
    for (int k = 0; k < gr->next; k++) {
        xs[k] = *gr->ext[k];
        xs[k].ndim = 1;
    }
    for (size_t k = 0; k < gr->count; k++) {
        const struct member *m = &gr->m[k];
        rg_node *s = &sh[k];
        *s = *r->steps[k].node;
        s->ndim = 1;
        if (m->buf >= 0)
            s->data = bufs + (size_t)m->buf * rg__align_up(TILE * r->elem);
        for (int a = 0; a < s->arity; a++) {
            const int src = m->src[a];
            if (src >= 0 && gr->m[src].role == ROLE_SCALAR)
                s->in[a] = r->steps[src].node->in[0];
            else if (src >= 0)
                s->in[a] = &sh[src];
            else if (src != SRC_NODE)
                s->in[a] = &xs[EXT(src)];
        }
    }
    double lanes[MAX_SINKS][16];
    for (;;) {
        const int64_t b = atomic_fetch_add_explicit(&r->next_block, 1, memory_order_relaxed);
        if (b >= gr->nblocks)
            return;
        memset(lanes, 0, sizeof lanes);
        const int64_t end_b = b == gr->nblocks - 1 ? gr->n : (b + 1) * gr->block;
        for (int64_t off = b * gr->block; off < end_b; off += TILE)
            run_tile(r, sh, xs, off, end_b - off < TILE ? end_b - off : TILE, lanes);
        for (int k = 0; k < gr->nsinks; k++)
            r->f->partials[k * gr->nblocks + b] = rg__sum_lanes_total(lanes[k]);
    }
}

rg_status rg__fuse_run(rg_graph *g, const struct rg__plan *p, size_t gi)
{
    struct rg__fused *f = p->fused;
    const struct group *gr = &f->groups[gi];
    const int threads = rg_get_threads();
    if (threads > f->slots && !reserve_scratch(g, f, threads))
        return rg__fail(g, RG_ERR_NOMEM, "eval: out of memory for %d threads' scratch",
                        threads);
    struct run r = {.gr = gr, .steps = p->steps + gr->first, .f = f, .elem = g->elem,
                    .f32 = g->dtype == RG_F32};
    atomic_init(&r.next_block, 0);
    atomic_init(&r.status, RG_OK);
    for (size_t k = 0; k < gr->count; k++) {
        const struct rg__step *st = &r.steps[k];
        st->node->data = st->offset == RG__NO_SLOT ? NULL : p->arena + st->offset;
    }
    /* split as a kernel of that much work would be (kernels/parallel.h) */
    int64_t parts = gr->nblocks < threads ? gr->nblocks : threads;
    if (gr->n * (int64_t)gr->count < RG__PAR_MIN)
        parts = 1;
    rg__parallel_for(parts, 1, 1, run_part, &r);
    for (size_t k = 0; k < gr->count; k++) {
        const struct member *m = &gr->m[k];
        if (m->role != ROLE_SINK)
            continue;
        const double s = rg__sum_partials(f->partials + m->sink * gr->nblocks, gr->nblocks);
        if (r.f32)
            *(float *)r.steps[k].node->data = (float)(s * m->scale);
        else
            *(double *)r.steps[k].node->data = s * m->scale;
    }
    const rg_status st = (rg_status)atomic_load(&r.status);
    if (st != RG_OK && g->status == RG_OK)
        rg__fail(g, st, "eval: a kernel failed in a fused group of %zu steps", gr->count);
    return st;
}
