/* The drawing's view of reverse sweeps: which gradient nodes form each sweep, which node each
 * step differentiated, and the gradient of every node the sweep visited.
 *
 * A sweep (autodiff.c) visits the nodes its output y depends on in decreasing creation order
 * and applies the VJP of each one that depends on a differentiated input; the k-th VJP applied
 * is step k, and every node built meanwhile carries k. When it visits x, the gradient
 * accumulated for x is tied to x (rg_node_grad_of) unless that node is already tied: an add
 * passes its own gradient node to its inputs unchanged, and that node stays tied to the add
 * only. Replaying the visiting order here recovers those shared gradients (so the drawing can
 * say dL/db = dL/ds for s = a + b) and which node each step differentiated (for frames). */
#include "dot_priv.h"

#include <string.h>

enum { LIVE = 1, DEP = 2, RELEVANT = LIVE | DEP };

/* The node rg_grad() seeds a sweep with: fill(1) built at step 1 and tied to y. */
static bool is_seed(const rg_node *n)
{
    return n->op == RG_OP_FILL && n->arity == 0 && n->step == 1 && n->grad_of &&
           n->attr.f == 1.0 && n->grad_of->id < n->id;
}

/* Splits the gradient nodes into sweeps. Consecutive gradient nodes belong to one sweep while
 * their step numbers do not decrease and no new seed starts; forward nodes built between two
 * rg_grad calls (the Hessian's slices) also separate them. */
static rg_status find_sweeps(rg_graph *g, rg__dot_info *info)
{
    int cap = 0;
    bool prev_grad = false;
    int32_t prev_step = 0;
    for (size_t id = 0; id < g->n; id++) {
        const rg_node *node = g->nodes[id];
        info->sweep_of[id] = -1;
        if (!node->is_grad) {
            prev_grad = false;
            continue;
        }
        bool fresh = !prev_grad || node->step < prev_step ||
                     (is_seed(node) && info->sweeps[info->nsweeps - 1].start < id);
        if (fresh) {
            if (info->nsweeps == cap) {
                int ncap = cap ? 2 * cap : 4;
                rg__sweep *s = rg__realloc(g, info->sweeps, (size_t)cap * sizeof *s,
                                           (size_t)ncap * sizeof *s);
                if (!s)
                    return rg__fail(g, RG_ERR_NOMEM, "dot: out of memory");
                info->sweeps = s;
                cap = ncap;
            }
            rg__sweep *s = &info->sweeps[info->nsweeps++];
            memset(s, 0, sizeof *s);
            s->start = id;
            s->root = is_seed(node) ? node->grad_of : NULL;
        }
        rg__sweep *s = &info->sweeps[info->nsweeps - 1];
        s->end = id + 1;
        if (node->step > s->maxstep)
            s->maxstep = node->step;
        info->sweep_of[id] = info->nsweeps - 1;
        prev_grad = true;
        prev_step = node->step;
    }
    return RG_OK;
}

/* True when the VJP of c hands its own gradient to input `pos` unchanged: add (either
 * input) and sub (the first) when no broadcast has to be undone. */
static bool passes_through(const rg_node *c, int pos)
{
    const rg_node *x = c->in[pos];
    return (c->op == RG_OP_ADD || (c->op == RG_OP_SUB && pos == 0)) &&
           rg__shape_eq(x->ndim, x->shape, c->ndim, c->shape);
}

/* Consumers of every node below `limit`, as compressed rows: the edges into node x are
 * edge[first[x] .. first[x+1]), each (consumer id << 3 | input position). */
static rg_status consumers(rg_graph *g, size_t limit, size_t **first_out, uint64_t **edge_out)
{
    size_t *first = rg__calloc(g, limit + 1, sizeof *first);
    if (!first)
        return rg__fail(g, RG_ERR_NOMEM, "dot: out of memory");
    size_t total = 0;
    for (size_t id = 0; id < limit; id++)
        for (int k = 0; k < g->nodes[id]->arity; k++) {
            first[g->nodes[id]->in[k]->id + 1]++;
            total++;
        }
    for (size_t id = 0; id < limit; id++)
        first[id + 1] += first[id];
    uint64_t *edge = rg__malloc(g, (total ? total : 1) * sizeof *edge);
    size_t *fill = rg__malloc(g, (limit ? limit : 1) * sizeof *fill);
    if (!edge || !fill) {
        rg__free(g, first);
        rg__free(g, edge);
        rg__free(g, fill);
        return rg__fail(g, RG_ERR_NOMEM, "dot: out of memory");
    }
    memcpy(fill, first, limit * sizeof *fill);
    for (size_t id = 0; id < limit; id++)
        for (int k = 0; k < g->nodes[id]->arity; k++)
            edge[fill[g->nodes[id]->in[k]->id]++] = (uint64_t)id << 3 | (uint64_t)k;
    rg__free(g, fill);
    *first_out = first;
    *edge_out = edge;
    return RG_OK;
}

/* Replays the visiting order of the selected sweep (see the file comment). */
static rg_status replay(rg_graph *g, rg__dot_info *info)
{
    rg__sweep *s = &info->sweeps[info->sel];
    size_t limit = s->start; /* nodes the sweep differentiates through */
    const rg_node *root = s->root;
    uint8_t *flag = rg__calloc(g, limit ? limit : 1, 1);
    size_t *first = NULL;
    uint64_t *edge = NULL;
    if (!flag)
        return rg__fail(g, RG_ERR_NOMEM, "dot: out of memory");
    rg_status st = consumers(g, limit, &first, &edge);
    if (st != RG_OK) {
        rg__free(g, flag);
        return st;
    }

    /* LIVE: what y depends on. Without a known y (rg_vjp with the caller's seed) every
     * earlier node is taken as live. */
    if (root) {
        flag[root->id] |= LIVE;
        for (size_t id = root->id + 1; id-- > 0;)
            if (flag[id] & LIVE)
                for (int k = 0; k < g->nodes[id]->arity; k++)
                    flag[g->nodes[id]->in[k]->id] |= LIVE;
    } else {
        for (size_t id = 0; id < limit; id++)
            flag[id] |= LIVE;
    }

    /* The gradients the sweep tied, and those rg_backward() recorded on parameters. */
    for (size_t id = s->start; id < s->end; id++) {
        const rg_node *gn = g->nodes[id];
        if (gn->grad_of && gn->grad_of->id < limit && !info->grad[gn->grad_of->id])
            info->grad[gn->grad_of->id] = gn;
    }
    bool backward = root && g->bw_loss == root;
    for (size_t id = 0; id < limit; id++) {
        const rg_node *x = g->nodes[id];
        if (x->kind == RG_KIND_PARAM && x->grad && !info->grad[id] && x->grad->id >= s->start &&
            x->grad->id < s->end) {
            info->grad[id] = x->grad;
            info->shared[id] = 1;
        }
    }

    /* DEP: what depends on a differentiated input. Those inputs are the tied nodes (every
     * node the sweep visits is tied unless its gradient was shared); after rg_backward() they
     * are exactly the live parameters. An untied input or parameter whose only live consumer
     * passes gradients through is taken as differentiated too: its gradient, if asked for,
     * was that consumer's, and mathematically is in any case. */
    for (size_t id = 0; id < limit; id++) {
        const rg_node *x = g->nodes[id];
        if (backward) {
            if (x->kind == RG_KIND_PARAM && (flag[id] & LIVE))
                flag[id] |= DEP;
            continue;
        }
        if (info->grad[id]) {
            flag[id] |= DEP;
        } else if ((x->kind == RG_KIND_INPUT || x->kind == RG_KIND_PARAM) && (flag[id] & LIVE)) {
            int live = 0, pass = 0;
            for (size_t e = first[id]; e < first[id + 1]; e++) {
                const rg_node *c = g->nodes[edge[e] >> 3];
                if (flag[c->id] & LIVE) {
                    live++;
                    pass += passes_through(c, (int)(edge[e] & 7));
                }
            }
            if (live == 1 && pass == 1)
                flag[id] |= DEP;
        }
    }
    for (size_t id = 0; id < limit; id++) {
        const rg_node *x = g->nodes[id];
        for (int k = 0; k < x->arity && !(flag[id] & DEP); k++)
            if (flag[x->in[k]->id] & DEP)
                flag[id] |= DEP;
    }

    /* Steps: the relevant op nodes with a relevant input, in decreasing creation order. */
    size_t top = root ? root->id + 1 : limit;
    int step = 0;
    for (size_t id = top; id-- > 0;) {
        const rg_node *c = g->nodes[id];
        if ((flag[id] & RELEVANT) != RELEVANT || c->kind != RG_KIND_OP)
            continue;
        bool any = false;
        for (int k = 0; k < c->arity; k++)
            any |= (flag[c->in[k]->id] & RELEVANT) == RELEVANT;
        if (any)
            info->vjp_step[id] = ++step;
    }
    s->nsteps = step;
    info->step_node = rg__calloc(g, (size_t)step + 1, sizeof *info->step_node);
    if (!info->step_node) {
        st = rg__fail(g, RG_ERR_NOMEM, "dot: out of memory");
        goto done;
    }
    for (size_t id = 0; id < top; id++)
        if (info->vjp_step[id])
            info->step_node[info->vjp_step[id]] = g->nodes[id];

    /* Gradients in visiting order: a node's consumers are visited before it. */
    for (size_t id = top; id-- > 0;) {
        const rg_node *gn = info->grad[id];
        int32_t known = gn ? gn->step : 0, nedges = 0;
        const rg_node *via = NULL;
        int via_pos = 0;
        if ((flag[id] & RELEVANT) == RELEVANT) {
            for (size_t e = first[id]; e < first[id + 1]; e++) {
                size_t c = (size_t)(edge[e] >> 3);
                if (!info->vjp_step[c])
                    continue;
                nedges++;
                via = g->nodes[c];
                via_pos = (int)(edge[e] & 7);
                if (info->vjp_step[c] > known)
                    known = info->vjp_step[c];
            }
        }
        if (!gn && nedges == 1 && passes_through(via, via_pos) && info->grad[via->id]) {
            info->grad[id] = info->grad[via->id];
            info->shared[id] = 1;
        }
        info->known_step[id] = root && id == root->id ? 1 : known;
    }
done:
    rg__free(g, flag);
    rg__free(g, first);
    rg__free(g, edge);
    return st;
}

rg_status rg__dot_analyse(const rg_graph *cg, int sweep, rg__dot_info *info)
{
    /* The analysis only reads the graph; the cast lets its scratch memory go through the
     * graph's allocator, whose counter is bookkeeping rather than graph state. */
    rg_graph *g = (rg_graph *)cg;
    memset(info, 0, sizeof *info);
    info->sel = -1;
    info->n = g->n;
    size_t n = g->n ? g->n : 1;
    info->sweep_of = rg__malloc(g, n * sizeof *info->sweep_of);
    info->grad = rg__calloc(g, n, sizeof *info->grad);
    info->shared = rg__calloc(g, n, 1);
    info->vjp_step = rg__calloc(g, n, sizeof *info->vjp_step);
    info->known_step = rg__calloc(g, n, sizeof *info->known_step);
    if (!info->sweep_of || !info->grad || !info->shared || !info->vjp_step ||
        !info->known_step) {
        rg__dot_info_free(g, info);
        return rg__fail(g, RG_ERR_NOMEM, "dot: out of memory");
    }
    rg_status st = find_sweeps(g, info);
    if (st == RG_OK && sweep >= 1 && sweep <= info->nsweeps) {
        info->sel = sweep - 1;
        st = replay(g, info);
    }
    if (st != RG_OK)
        rg__dot_info_free(g, info);
    return st;
}

void rg__dot_info_free(const rg_graph *cg, rg__dot_info *info)
{
    rg_graph *g = (rg_graph *)cg;
    rg__free(g, info->sweeps);
    rg__free(g, info->sweep_of);
    rg__free(g, info->grad);
    rg__free(g, info->shared);
    rg__free(g, info->vjp_step);
    rg__free(g, info->known_step);
    rg__free(g, info->step_node);
    memset(info, 0, sizeof *info);
    info->sel = -1;
}

int rg_dot_sweep_count(const rg_graph *g)
{
    if (!g)
        return 0;
    rg__dot_info info;
    if (rg__dot_analyse(g, 0, &info) != RG_OK)
        return 0;
    int n = info.nsweeps;
    rg__dot_info_free(g, &info);
    return n;
}

/* The last frame is the largest step any node of the sweep carries, or the last VJP when the
 * final VJPs built nothing (an add only passes its gradient on). */
static int last_step(const rg__dot_info *info)
{
    const rg__sweep *s = &info->sweeps[info->sel];
    return s->maxstep > s->nsteps ? s->maxstep : s->nsteps;
}

int rg_dot_frame_count(const rg_graph *g, int sweep)
{
    if (!g)
        return 0;
    rg__dot_info info;
    if (rg__dot_analyse(g, sweep, &info) != RG_OK)
        return 0;
    int n = info.sel >= 0 ? last_step(&info) + 1 : 0;
    rg__dot_info_free(g, &info);
    return n;
}

const rg_node *rg_dot_step_node(const rg_graph *g, int sweep, int step)
{
    if (!g || step < 1)
        return NULL;
    rg__dot_info info;
    if (rg__dot_analyse(g, sweep, &info) != RG_OK)
        return NULL;
    const rg_node *n = NULL;
    if (info.sel >= 0 && step <= info.sweeps[info.sel].nsteps)
        n = info.step_node[step];
    rg__dot_info_free(g, &info);
    return n;
}
