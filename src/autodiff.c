/* Reverse-mode differentiation: one reverse sweep over creation order (a topological
 * order), asking each op for its VJP. VJPs build ordinary nodes, so gradients are graphs:
 * the executor evaluates them, and rg_grad() can differentiate them again. */
#include "internal.h"

#include <string.h>

/* Flags per node: DEP, depends on an x (the sweep); LIVE, y depends on it (rg_backward). */
enum { DEP = 1, LIVE = 2 };

/* Marks LIVE every node y depends on (and y). Creation order makes this one backward pass,
 * with no recursion: a ten-million-node chain needs no stack. */
static void mark_live(const rg_graph *g, const rg_node *y, uint8_t *flag)
{
    flag[y->id] |= LIVE;
    for (size_t id = y->id + 1; id-- > 0;) {
        const rg_node *node = g->nodes[id];
        if (!(flag[id] & LIVE))
            continue;
        for (int k = 0; k < node->arity; k++)
            flag[node->in[k]->id] |= LIVE;
    }
}

static rg_status check_args(rg_node *y, int n, rg_node *const *xs, rg_node **grads,
                            const char *what)
{
    if (!y)
        return RG_ERR_ARG;
    rg_graph *g = y->g;
    if (n < 0 || (n > 0 && (!xs || !grads)))
        return rg__fail(g, RG_ERR_ARG, "%s: %d inputs announced, none given", what, n);
    for (int i = 0; i < n; i++) {
        grads[i] = NULL;
        if (!xs[i])
            return g->status != RG_OK ? g->status
                                      : rg__fail(g, RG_ERR_ARG, "%s: input %d is NULL", what, i);
        if (xs[i]->g != g)
            return rg__fail(g, RG_ERR_GRAPH, "%s: input %d belongs to another graph", what, i);
    }
    return RG_OK;
}

/* Ties a finished gradient node to the forward node it is the gradient of (for drawing). */
static void tie(rg_node *gn, rg_node *x)
{
    if (gn && gn->is_grad && !gn->grad_of)
        gn->grad_of = x;
}

/* Only nodes between the earliest x and y can carry a gradient to an x: the sweep's
 * bookkeeping covers that span. A node's inputs need a gradient when they depend on an x
 * (DEP); they need no LIVE mark, since the sweep only reaches nodes that received a gradient
 * from y, and their inputs are y's ancestors too. */
static rg_status sweep(rg_node *y, rg_node *seed, int n, rg_node *const *xs, rg_node **grads)
{
    rg_graph *g = y->g;
    const size_t count = (size_t)y->id + 1;
    size_t first = count;
    for (int i = 0; i < n; i++)
        if (xs[i]->id < first)
            first = xs[i]->id;
    /* one block: the gradients accumulated so far, then the flags; both by id - first */
    const size_t span = count - first;
    rg_node **acc = rg__calloc(g, span, sizeof *acc + 1);
    if (!acc)
        return rg__fail(g, RG_ERR_NOMEM, "grad: out of memory for %zu nodes", span);
    uint8_t *flag = (uint8_t *)(acc + span);

    for (int i = 0; i < n; i++)
        if (xs[i]->id < count)
            flag[xs[i]->id - first] = DEP;
    for (size_t id = first; id < count; id++) {
        const rg_node *node = g->nodes[id];
        for (int k = 0; k < node->arity && !flag[id - first]; k++)
            if (node->in[k]->id >= first && flag[node->in[k]->id - first])
                flag[id - first] = DEP;
    }

    rg_status prev = g->status;
    rg_status st = RG_OK;
    int32_t step = 0;
    if (span)
        acc[y->id - first] = seed;
    for (size_t id = count; id-- > first && st == RG_OK;) {
        rg_node *node = g->nodes[id];
        rg_node *gy = acc[id - first];
        if (!flag[id - first] || !gy)
            continue;
        tie(gy, node);
        if (node->kind != RG_KIND_OP)
            continue;
        bool need[RG_MAX_ARITY] = {false};
        bool any = false;
        for (int k = 0; k < node->arity; k++) {
            const size_t in = node->in[k]->id;
            any |= need[k] = in >= first && flag[in - first];
        }
        if (!any)
            continue;
        const rg_op_def *def = &g->ops[node->op];
        if (!def->vjp) {
            st = rg__fail(g, RG_ERR_NO_VJP, "grad: op '%s' (node %u) has no derivative rule",
                          def->name, node->id);
            break;
        }
        g->sweep_step = ++step;
        rg_node *gin[RG_MAX_ARITY] = {NULL};
        st = def->vjp(node, gy, need, gin);
        for (int k = 0; k < node->arity && st == RG_OK; k++) {
            if (!need[k])
                continue;
            rg_node *in = node->in[k];
            if (!gin[k]) {
                st = g->status != RG_OK
                         ? g->status
                         : rg__fail(g, RG_ERR_NO_VJP,
                                    "grad: the VJP of '%s' (node %u) gave no gradient for input %d",
                                    def->name, node->id, k);
                break;
            }
            if (!rg__same_shape(gin[k], in)) {
                char a[128], b[128];
                st = rg__fail(g, RG_ERR_SHAPE,
                              "grad: the VJP of '%s' gave a gradient of shape %s for input %d "
                              "of shape %s",
                              def->name, rg_shape_str(gin[k]->ndim, gin[k]->shape, a, sizeof a),
                              k, rg_shape_str(in->ndim, in->shape, b, sizeof b));
                break;
            }
            /* fan-out: contributions from several consumers are summed */
            rg_node **sum = &acc[in->id - first];
            *sum = *sum ? rg_add(*sum, gin[k]) : gin[k];
            if (!*sum)
                st = g->status != RG_OK ? g->status : RG_ERR_NOMEM;
        }
        if (st == RG_OK && prev == RG_OK && g->status != RG_OK)
            st = g->status; /* a constructor inside the VJP failed */
    }
    if (st == RG_OK) {
        /* inputs y does not depend on get exact zeros, never a missing gradient */
        g->sweep_step = step + 1;
        for (int i = 0; i < n && st == RG_OK; i++) {
            rg_node *x = xs[i];
            grads[i] = x->id < count && acc[x->id - first] ? acc[x->id - first]
                                                            : rg__zeros_like(x);
            if (!grads[i])
                st = g->status != RG_OK ? g->status : RG_ERR_NOMEM;
            else
                tie(grads[i], x);
        }
    }
    g->sweep_step = 0;
    if (st != RG_OK)
        for (int i = 0; i < n; i++)
            grads[i] = NULL;
    rg__free(g, acc);
    return st;
}

rg_status rg_grad(rg_node *y, int n, rg_node *const *xs, rg_node **grads)
{
    rg_status st = check_args(y, n, xs, grads, "grad");
    if (st != RG_OK)
        return st;
    if (y->size != 1) {
        char buf[128];
        return rg__fail(y->g, RG_ERR_SHAPE,
                        "grad: output '%s' has shape %s, not a scalar (use rg_vjp with a seed)",
                        y->name ? y->name : rg_node_op_name(y),
                        rg_shape_str(y->ndim, y->shape, buf, sizeof buf));
    }
    y->g->sweep_step = 1;
    rg_node *seed = rg_fill(y->g, y->ndim, y->shape, 1.0);
    y->g->sweep_step = 0;
    if (!seed)
        return y->g->status;
    return sweep(y, seed, n, xs, grads);
}

rg_status rg_vjp(rg_node *y, rg_node *seed, int n, rg_node *const *xs, rg_node **grads)
{
    rg_status st = check_args(y, n, xs, grads, "vjp");
    if (st != RG_OK)
        return st;
    if (!seed)
        return y->g->status != RG_OK ? y->g->status
                                     : rg__fail(y->g, RG_ERR_ARG, "vjp: seed is NULL");
    if (seed->g != y->g)
        return rg__fail(y->g, RG_ERR_GRAPH, "vjp: seed belongs to another graph");
    if (!rg__same_shape(seed, y)) {
        char a[128], b[128];
        return rg__fail(y->g, RG_ERR_SHAPE, "vjp: seed shape %s differs from output shape %s",
                        rg_shape_str(seed->ndim, seed->shape, a, sizeof a),
                        rg_shape_str(y->ndim, y->shape, b, sizeof b));
    }
    return sweep(y, seed, n, xs, grads);
}

rg_status rg_backward(rg_node *loss)
{
    if (!loss)
        return RG_ERR_ARG;
    rg_graph *g = loss->g;
    if (g->bw_loss != loss) {
        size_t count = (size_t)loss->id + 1;
        uint8_t *flag = rg__calloc(g, count, 1);
        if (!flag)
            return rg__fail(g, RG_ERR_NOMEM, "backward: out of memory");
        mark_live(g, loss, flag);
        int np = 0;
        for (size_t id = 0; id < count; id++)
            np += (flag[id] & LIVE) && g->nodes[id]->kind == RG_KIND_PARAM;
        rg_node **targets = rg__malloc(g, (size_t)(2 * np + 1) * sizeof *targets);
        if (!targets) {
            rg__free(g, flag);
            return rg__fail(g, RG_ERR_NOMEM, "backward: out of memory");
        }
        rg_node **params = targets + np + 1;
        np = 0;
        for (size_t id = 0; id < count; id++)
            if ((flag[id] & LIVE) && g->nodes[id]->kind == RG_KIND_PARAM)
                params[np++] = g->nodes[id];
        rg__free(g, flag);
        targets[0] = loss;
        rg_status st = rg_grad(loss, np, params, targets + 1);
        if (st != RG_OK) {
            rg__free(g, targets);
            return st;
        }
        for (int i = 0; i < np; i++)
            params[i]->grad = targets[1 + i];
        rg__free(g, g->bw_targets);
        g->bw_targets = targets;
        g->bw_n = np + 1;
        g->bw_loss = loss;
    }
    return rg_eval(g, g->bw_n, g->bw_targets);
}
