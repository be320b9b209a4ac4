/* The graph: allocator hooks, the node arena, errors, node creation and node properties. */
#define _DEFAULT_SOURCE /* madvise() and its advice values, beside POSIX */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- status ---- */

static const char *const status_text[] = {
#define RG__STATUS_TEXT(name, text) text,
    RG_STATUS_LIST(RG__STATUS_TEXT)
#undef RG__STATUS_TEXT
};

const char *rg_strerror(rg_status s)
{
    if ((int)s < 0 || s >= RG__STATUS_COUNT)
        return "unknown status";
    return status_text[s];
}

const char *rg_version(void)
{
    return RG_VERSION_STRING;
}

/* ---- memory ---- */

static void *default_malloc(void *ctx, size_t size)
{
    (void)ctx;
    return malloc(size);
}

static void *default_realloc(void *ctx, void *p, size_t size)
{
    (void)ctx;
    return realloc(p, size);
}

static void default_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

/* The process-wide allocator (rg_set_allocator()): the default of every new graph and the
 * allocator of every object that belongs to no graph (data sets, IDX arrays, batch
 * iterators, models, the readers' buffers). It is global state by design, so that a test
 * can fail allocations inside the readers; the contract that makes it safe without a lock
 * is that it is set before any other call and not changed while other threads use the
 * library or while an object made under the previous one is alive (a block must be freed by
 * the allocator that made it). Threads created after the call see it (pthread_create orders
 * memory). */
static rg_allocator process_alloc = {default_malloc, default_realloc, default_free, NULL};

void rg_set_allocator(const rg_allocator *alloc)
{
    rg_allocator a = {default_malloc, default_realloc, default_free, NULL};
    if (alloc && alloc->malloc_fn && alloc->free_fn)
        a = *alloc;
    process_alloc = a;
}

/* Every path allocates at least one byte, so a NULL result always means failure. */
void *rg__mem_malloc(size_t size)
{
    return process_alloc.malloc_fn(process_alloc.ctx, size ? size : 1);
}

void *rg__mem_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = rg__mem_malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *rg__mem_realloc(void *p, size_t old_size, size_t size)
{
    if (!size)
        size = 1;
    if (process_alloc.realloc_fn)
        return process_alloc.realloc_fn(process_alloc.ctx, p, size);
    void *q = rg__mem_malloc(size);
    if (q && p) {
        memcpy(q, p, old_size < size ? old_size : size);
        rg__mem_free(p);
    }
    return q;
}

void rg__mem_free(void *p)
{
    if (p)
        process_alloc.free_fn(process_alloc.ctx, p);
}

char *rg__mem_strndup(const char *s, size_t n)
{
    char *d = rg__mem_malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static uintptr_t align_up(uintptr_t p, uintptr_t to)
{
    return (p + to - 1) & ~(to - 1);
}

/* madvise() on the whole pages inside [from, to). */
static void advise(const void *from, const void *to, int advice)
{
    const long page = sysconf(_SC_PAGESIZE);
    if (page <= 0)
        return;
    const uintptr_t lo = align_up((uintptr_t)from, (uintptr_t)page);
    const uintptr_t hi = (uintptr_t)to & ~((uintptr_t)page - 1);
    if (hi > lo)
        (void)madvise((void *)lo, hi - lo, advice);
}

/* Faults in the pages of [from, to), which the graph is about to fill, with one call: memory
 * a graph takes is usually new to the process (the allocator gave the previous graph's back
 * to the system), and a fault per page as the writes reach them costs several times more (in
 * a virtual machine every fault is a trap to the kernel). A hint: contents never change, and
 * where the call is unknown or fails the pages fault one by one. */
static void prefault(const void *from, const void *to)
{
#if defined(MADV_POPULATE_WRITE)
    advise(from, to, MADV_POPULATE_WRITE);
#else
    (void)from, (void)to;
#endif
}

void *rg__malloc(rg_graph *g, size_t size)
{
    void *p = g->alloc.malloc_fn(g->alloc.ctx, size ? size : 1);
    g->nalloc++;
    return p;
}

void *rg__calloc(rg_graph *g, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    unsigned char *p = rg__malloc(g, n * size);
    if (p) {
        prefault(p, p + n * size);
        memset(p, 0, n * size);
    }
    return p;
}

void *rg__realloc(rg_graph *g, void *p, size_t old_size, size_t size)
{
    if (!size)
        size = 1;
    if (g->alloc.realloc_fn) {
        g->nalloc++;
        return g->alloc.realloc_fn(g->alloc.ctx, p, size);
    }
    void *q = rg__malloc(g, size);
    if (q && p) {
        memcpy(q, p, old_size < size ? old_size : size);
        rg__free(g, p);
    }
    return q;
}

void rg__free(rg_graph *g, void *p)
{
    if (p)
        g->alloc.free_fn(g->alloc.ctx, p);
}

/* The node arena: chunks that are never moved, so node pointers stay valid for the life of
 * the graph. Nodes are taken from the bottom of a chunk upwards, at 64-byte boundaries
 * (whole cache lines, see struct rg_node), the rest (names, small leaf values) from the top
 * downwards, so the nodes of a chunk lie back to back.
 *
 * The pages ahead of the nodes are faulted in (prefault()) one 2 MiB stretch at a time, so a
 * chunk's unused end is never touched, and the 2 MiB-aligned stretches lying wholly inside a
 * chunk are asked to be huge pages (transparent huge pages in "madvise" mode): one page to
 * clear and map instead of 512. Faulting in page by page cost more than building the nodes
 * that fill the pages. */
struct rg__chunk {
    struct rg__chunk *next;
    unsigned char *lo, *hi; /* the free space between the nodes and the rest */
    unsigned char *ready;   /* nodes fit below this: pages faulted in, and at most hi */
    size_t cap;
    _Alignas(max_align_t) unsigned char mem[];
};

enum { NODE_ALIGN = 64, NODE_SLOT = (sizeof(rg_node) + NODE_ALIGN - 1) & ~(NODE_ALIGN - 1) };
_Static_assert(offsetof(rg_node, data) + sizeof(void *) <= NODE_ALIGN,
               "the fields of a node up to `data` fit in its first cache line");
#define HUGE_PAGE ((uintptr_t)2 << 20)

/* A new chunk with at least `size` bytes free, made the newest. */
static struct rg__chunk *arena_chunk(rg_graph *g, size_t size)
{
    struct rg__chunk *c = g->chunks;
    size_t cap = c ? c->cap * 2 : 16384;
    /* Capped so that a large graph's unused tail of its last chunk stays moderate: it is
     * never faulted in, but the allocator has it. Large enough that 7 of a chunk's 8 2 MiB
     * stretches can be huge pages (a chunk rarely starts on a 2 MiB boundary). */
    if (cap > ((size_t)1 << 24))
        cap = (size_t)1 << 24;
    if (cap < size + NODE_ALIGN)
        cap = (size + NODE_ALIGN + 15) & ~(size_t)15;
    struct rg__chunk *nc = rg__malloc(g, sizeof *nc + cap);
    if (!nc)
        return NULL;
#if defined(MADV_HUGEPAGE)
    const uintptr_t first = align_up((uintptr_t)nc->mem, HUGE_PAGE);
    const uintptr_t end = ((uintptr_t)nc->mem + cap) & ~(HUGE_PAGE - 1);
    if (end > first)
        advise((const void *)first, (const void *)end, MADV_HUGEPAGE);
#endif
    nc->next = c;
    nc->lo = nc->ready = nc->mem + (-(uintptr_t)nc->mem & (NODE_ALIGN - 1));
    nc->hi = nc->mem + cap;
    nc->cap = cap;
    g->chunks = nc;
    return nc;
}

/* A node slot when the pages ahead must be faulted in first, or a new chunk is needed:
 * faults in up to the next 2 MiB boundary. */
static rg_node *arena_node_ahead(rg_graph *g)
{
    struct rg__chunk *c = g->chunks;
    if (!c || (size_t)(c->hi - c->lo) < NODE_SLOT) {
        c = arena_chunk(g, NODE_SLOT);
        if (!c)
            return NULL;
    }
    unsigned char *to = c->lo + (align_up((uintptr_t)c->lo + NODE_SLOT, HUGE_PAGE) -
                                 (uintptr_t)c->lo);
    if (to > c->hi)
        to = c->hi;
    prefault(c->ready, to);
    c->ready = to;
    rg_node *node = (rg_node *)c->lo;
    c->lo += NODE_SLOT;
    return node;
}

static rg_node *arena_node(rg_graph *g)
{
    struct rg__chunk *c = g->chunks;
    if (!c || (size_t)(c->ready - c->lo) < NODE_SLOT)
        return arena_node_ahead(g);
    rg_node *node = (rg_node *)c->lo;
    c->lo += NODE_SLOT;
    return node;
}

static void *arena_alloc(rg_graph *g, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    struct rg__chunk *c = g->chunks;
    if (!c || (size_t)(c->hi - c->lo) < size) {
        c = arena_chunk(g, size);
        if (!c)
            return NULL;
    }
    c->hi -= size;
    if (c->ready > c->hi)
        c->ready = c->hi;
    return c->hi;
}

/* ---- errors ---- */

rg_status rg__vfail(rg_graph *g, rg_status status, const char *fmt, va_list ap)
{
    if (g && g->status == RG_OK) {
        g->status = status;
        vsnprintf(g->msg, sizeof g->msg, fmt, ap);
    }
    return status;
}

rg_status rg__fail(rg_graph *g, rg_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rg__vfail(g, status, fmt, ap);
    va_end(ap);
    return status;
}

rg_status rg_node_fail(rg_node *node, rg_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rg__vfail(node ? node->g : NULL, status, fmt, ap);
    va_end(ap);
    return status;
}

rg_status rg_graph_status(const rg_graph *g)
{
    return g ? g->status : RG_ERR_ARG;
}

const char *rg_graph_errmsg(const rg_graph *g)
{
    return g ? g->msg : "no graph";
}

void rg_graph_clear_error(rg_graph *g)
{
    if (g) {
        g->status = RG_OK;
        g->msg[0] = '\0';
    }
}

/* ---- graphs ---- */

rg_graph *rg_graph_new(rg_dtype dtype)
{
    return rg_graph_new_with_allocator(dtype, NULL);
}

rg_graph *rg_graph_new_with_allocator(rg_dtype dtype, const rg_allocator *alloc)
{
    if (dtype != RG_F32 && dtype != RG_F64)
        return NULL;
    rg_allocator a = process_alloc;
    if (alloc && alloc->malloc_fn && alloc->free_fn)
        a = *alloc;
    rg_graph *g = a.malloc_fn(a.ctx, sizeof *g);
    if (!g)
        return NULL;
    memset(g, 0, sizeof *g);
    g->alloc = a;
    g->nalloc = 1;
    g->dtype = dtype;
    g->elem = dtype == RG_F32 ? sizeof(float) : sizeof(double);
    if (rg__ops_init(g) != RG_OK) {
        rg_graph_free(g);
        return NULL;
    }
    return g;
}

void rg_graph_free(rg_graph *g)
{
    if (!g)
        return;
    rg__plans_clear(g);
    /* stops at the last such leaf: a graph of ops on small constants has none */
    for (size_t i = 0, left = g->heap_leaves; left > 0 && i < g->n; i++) {
        if (g->nodes[i]->kind != RG_KIND_OP && !g->nodes[i]->own_in_arena) {
            rg__free(g, g->nodes[i]->own);
            left--;
        }
    }
    rg__free(g, g->nodes);
    for (struct rg__chunk *c = g->chunks, *next; c; c = next) {
        next = c->next;
        rg__free(g, c);
    }
    rg__free(g, g->ops);
    rg__free(g, g->bw_targets);
    rg_allocator a = g->alloc;
    a.free_fn(a.ctx, g);
}

rg_dtype rg_graph_dtype(const rg_graph *g)
{
    return g->dtype;
}

size_t rg_graph_node_count(const rg_graph *g)
{
    return g ? g->n : 0;
}

rg_node *rg_graph_node(const rg_graph *g, size_t id)
{
    return g && id < g->n ? g->nodes[id] : NULL;
}

uint64_t rg_graph_alloc_count(const rg_graph *g)
{
    return g ? g->nalloc : 0;
}

void rg_graph_set_keep_values(rg_graph *g, bool keep)
{
    if (g && g->keep_values != keep) {
        g->keep_values = keep;
        rg__plans_clear(g);
    }
}

bool rg_graph_keep_values(const rg_graph *g)
{
    return g && g->keep_values;
}

/* ---- shapes ---- */

int64_t rg__numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    return n;
}

int rg__axis(int axis, int ndim)
{
    if (axis == RG_AXIS_ALL)
        return axis;
    if (axis < 0)
        axis += ndim;
    return axis >= 0 && axis < ndim ? axis : -1;
}

int rg__broadcast_shape(int na, const int64_t *a, int nb, const int64_t *b, int64_t *out)
{
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int64_t da = i < n - na ? 1 : a[i - (n - na)];
        int64_t db = i < n - nb ? 1 : b[i - (n - nb)];
        if (da != db && da != 1 && db != 1)
            return -1;
        out[i] = da == 1 ? db : da;
    }
    return n;
}

char *rg_shape_str(int ndim, const int64_t *shape, char *buf, size_t len)
{
    size_t pos = 0;
    if (!buf || !len)
        return buf;
    pos += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && pos < len; i++)
        pos += (size_t)snprintf(buf + pos, len - pos, "%s%lld", i ? "," : "",
                                (long long)shape[i]);
    if (pos < len)
        snprintf(buf + pos, len - pos, "]");
    return buf;
}

/* ---- node creation ---- */

rg_graph *rg__graph_of(int n, rg_node *const *in)
{
    for (int i = 0; i < n; i++)
        if (in[i])
            return in[i]->g;
    return NULL;
}

/* Doubles the table of nodes by id. Not realloc(): the new table is faulted in before the
 * old one is copied into it (a copy into fresh pages takes a fault per page). */
static bool node_table_grow(rg_graph *g, const char *what)
{
    size_t cap = g->cap ? g->cap * 2 : 256;
    rg_node **nodes = rg__malloc(g, cap * sizeof *nodes);
    if (!nodes) {
        rg__fail(g, RG_ERR_NOMEM, "%s: out of memory", what);
        return false;
    }
    prefault(nodes, nodes + cap);
    if (g->n)
        memcpy(nodes, g->nodes, g->n * sizeof *nodes);
    rg__free(g, g->nodes);
    g->nodes = nodes;
    g->cap = cap;
    return true;
}

/* Nodes are built in place: node_begin() takes a blank slot above the arena's last node,
 * node_commit() gives it the next id, node_discard() returns the slot when its shape rule
 * rejects it (nothing else has been taken from the arena in between). */

static rg_node *node_begin(rg_graph *g, const char *what)
{
    if (g->n >= UINT32_MAX) {
        rg__fail(g, RG_ERR_NOMEM, "%s: graph is full", what);
        return NULL;
    }
    if (g->n == g->cap && !node_table_grow(g, what))
        return NULL;
    rg_node *node = arena_node(g);
    if (!node) {
        rg__fail(g, RG_ERR_NOMEM, "%s: out of memory", what);
        return NULL;
    }
    /* a copy rather than memset(), which compilers tend to turn into a `rep stos` whose
     * start-up costs more than the stores of a node */
    static const rg_node blank;
    *node = blank;
    node->g = g;
    return node;
}

static void node_discard(rg_graph *g, rg_node *node)
{
    struct rg__chunk *c = g->chunks;
    if ((unsigned char *)node + NODE_SLOT == c->lo)
        c->lo = (unsigned char *)node;
}

static rg_node *node_commit(rg_graph *g, rg_node *node)
{
    node->id = (uint32_t)g->n;
    if (g->sweep_step) {
        node->is_grad = 1;
        node->step = g->sweep_step;
    }
    g->nodes[g->n++] = node;
    return node;
}

static bool valid_shape(rg_graph *g, const char *what, int ndim, const int64_t *shape)
{
    if (ndim < 0 || ndim > RG_MAX_DIMS || (ndim > 0 && !shape)) {
        rg__fail(g, RG_ERR_SHAPE, "%s: a tensor has 0 to %d dimensions, not %d", what,
                 RG_MAX_DIMS, ndim);
        return false;
    }
    int64_t size = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (shape[i] > 0 && size > INT64_MAX / 8 / shape[i])) {
            char buf[160];
            rg__fail(g, RG_ERR_SHAPE, "%s: invalid dimension %lld in shape %s", what,
                     (long long)shape[i], rg_shape_str(ndim, shape, buf, sizeof buf));
            return false;
        }
        size *= shape[i];
    }
    return true;
}

rg_status rg_node_set_shape(rg_node *node, int ndim, const int64_t *shape)
{
    if (!node)
        return RG_ERR_ARG;
    if (!valid_shape(node->g, node->g->ops[node->op].name, ndim, shape))
        return node->g->status;
    node->ndim = (uint8_t)ndim;
    for (int i = 0; i < ndim; i++)
        node->shape[i] = shape[i];
    node->size = rg__numel(ndim, shape);
    return RG_OK;
}

rg_node *rg__make(rg_graph *g, int op, int n, rg_node *const *in, const struct rg__attr *attr)
{
    return rg__make_shaped(g, op, n, in, attr, -1, NULL);
}

rg_node *rg__make_shaped(rg_graph *g, int op, int n, rg_node *const *in,
                         const struct rg__attr *attr, int ndim, const int64_t *shape)
{
    if (!g)
        return NULL; /* every input NULL: an earlier builder failed */
    if (op < 0 || op >= g->nops) {
        rg__fail(g, RG_ERR_ARG, "apply: unknown op id %d", op);
        return NULL;
    }
    const rg_op_def *def = &g->ops[op];
    if (n != def->arity || n > RG_MAX_ARITY) {
        rg__fail(g, RG_ERR_ARG, "%s: takes %d inputs, given %d", def->name, def->arity, n);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if (!in[i])
            return NULL;
        if (in[i]->g != g) {
            rg__fail(g, RG_ERR_GRAPH, "%s: input %d belongs to another graph", def->name, i);
            return NULL;
        }
    }
    if (!(g->dtype == RG_F32 ? def->forward_f32 : def->forward_f64)) {
        rg__fail(g, RG_ERR_DTYPE, "%s: no %s kernel", def->name,
                 g->dtype == RG_F32 ? "f32" : "f64");
        return NULL;
    }
    rg_node *node = node_begin(g, def->name);
    if (!node)
        return NULL;
    node->op = (int16_t)op;
    node->kind = RG_KIND_OP;
    node->arity = (uint8_t)n;
    for (int i = 0; i < n; i++)
        node->in[i] = in[i];
    if (attr)
        node->attr = *attr;
    node->size = -1;
    if (ndim >= 0 && rg_node_set_shape(node, ndim, shape) != RG_OK) {
        node_discard(g, node);
        return NULL;
    }
    rg_status st = def->shape ? def->shape(node) : RG_ERR_ARG;
    if (st != RG_OK || node->size < 0) {
        if (g->status == RG_OK)
            rg__fail(g, st != RG_OK ? st : RG_ERR_SHAPE, "%s: shape rule set no shape",
                     def->name);
        node_discard(g, node);
        return NULL;
    }
    return node_commit(g, node);
}

/* Leaves are created here so the arena stays private to this file. */
rg_node *rg__make_leaf(rg_graph *g, int op, rg_kind kind, const char *name, int ndim,
                       const int64_t *shape, const void *data)
{
    if (!g)
        return NULL;
    const char *what = g->ops[op].name;
    if (!valid_shape(g, what, ndim, shape))
        return NULL;
    int64_t size = rg__numel(ndim, shape);
    size_t bytes = (size_t)size * g->elem;
    rg_node *node = node_begin(g, what);
    if (!node)
        return NULL;
    node->op = (int16_t)op;
    node->kind = (uint8_t)kind;
    node->ndim = (uint8_t)ndim;
    for (int i = 0; i < ndim; i++)
        node->shape[i] = shape[i];
    node->size = size;
    /* Scalars and other small values (the constants of VJPs, mostly) live in the arena
     * beside their node: no allocation of their own, nothing to free. */
    node->own_in_arena = bytes <= 64;
    void *own = node->own_in_arena ? arena_alloc(g, bytes) : rg__malloc(g, bytes);
    if (!own) {
        node_discard(g, node);
        rg__fail(g, RG_ERR_NOMEM, "%s: out of memory for %zu bytes", what, bytes);
        return NULL;
    }
    if (data)
        memcpy(own, data, bytes);
    else
        memset(own, 0, bytes);
    node->own = node->data = own;
    g->heap_leaves += !node->own_in_arena;
    node_commit(g, node);
    if (name && rg_node_set_name(node, name) != RG_OK)
        return NULL; /* the buffer stays owned by the node and is freed with the graph */
    return node;
}

/* ---- node properties ---- */

rg_graph *rg_node_graph(const rg_node *n)
{
    return n ? n->g : NULL;
}

size_t rg_node_id(const rg_node *n)
{
    return n ? n->id : 0;
}

rg_kind rg_node_kind(const rg_node *n)
{
    return (rg_kind)n->kind;
}

int rg_node_op(const rg_node *n)
{
    return n ? n->op : -1;
}

const char *rg_node_op_name(const rg_node *n)
{
    return n ? n->g->ops[n->op].name : NULL;
}

const rg_op_def *rg__def(const rg_node *n)
{
    return &n->g->ops[n->op];
}

void *rg_node_op_data(const rg_node *node)
{
    return node ? node->g->ops[node->op].data : NULL;
}

const char *rg_node_name(const rg_node *n)
{
    return n ? n->name : NULL;
}

rg_status rg_node_set_name(rg_node *n, const char *name)
{
    if (!n)
        return RG_ERR_ARG;
    if (!name) {
        n->name = NULL;
        return RG_OK;
    }
    size_t len = strlen(name);
    char *copy = arena_alloc(n->g, len + 1);
    if (!copy)
        return rg__fail(n->g, RG_ERR_NOMEM, "set_name: out of memory");
    memcpy(copy, name, len + 1);
    n->name = copy;
    return RG_OK;
}

int rg_node_ndim(const rg_node *n)
{
    return n ? n->ndim : -1;
}

const int64_t *rg_node_shape(const rg_node *n)
{
    return n ? n->shape : NULL;
}

int64_t rg_node_size(const rg_node *n)
{
    return n ? n->size : -1;
}

int rg_node_arity(const rg_node *n)
{
    return n ? n->arity : 0;
}

rg_node *rg_node_input(const rg_node *n, int i)
{
    return n && i >= 0 && i < n->arity ? n->in[i] : NULL;
}

void *rg_node_data(const rg_node *n)
{
    return n ? n->data : NULL;
}

double rg_node_get(const rg_node *n, int64_t i)
{
    if (!n || !n->data || i < 0 || i >= n->size)
        return NAN;
    if (n->g->dtype == RG_F32)
        return ((const float *)n->data)[i];
    return ((const double *)n->data)[i];
}

double rg_node_item(const rg_node *n)
{
    return rg_node_get(n, 0);
}

rg_status rg_node_read_f64(const rg_node *n, double *out)
{
    if (!n || !out)
        return RG_ERR_ARG;
    if (!n->data)
        return rg__fail(n->g, RG_ERR_NOT_EVALUATED, "read: node %u (%s) has no value", n->id,
                        rg_node_op_name(n));
    for (int64_t i = 0; i < n->size; i++)
        out[i] = rg_node_get(n, i);
    return RG_OK;
}

rg_node *rg_node_grad(const rg_node *x)
{
    return x && x->kind == RG_KIND_PARAM ? x->grad : NULL;
}

rg_node *rg_node_grad_of(const rg_node *gn)
{
    return gn && gn->is_grad ? gn->grad_of : NULL;
}

int rg_node_sweep_step(const rg_node *n)
{
    return n ? n->step : 0;
}

bool rg_node_is_grad(const rg_node *n)
{
    return n && n->is_grad;
}
