/* The op table: the built-in rows generated from RG__OP_LIST, and ops registered at run
 * time, which use the same row structure. */
#include "internal.h"

#include <string.h>

static const rg_op_def *const builtin[] = {
#define RG__OP_ROW(ID, lower) [RG_OP_##ID] = &rg__op_##lower,
    RG__OP_LIST(RG__OP_ROW)
#undef RG__OP_ROW
};

rg_status rg__ops_init(rg_graph *g)
{
    g->capops = RG_OP__BUILTIN_COUNT + 8;
    g->ops = rg__calloc(g, (size_t)g->capops, sizeof *g->ops);
    if (!g->ops)
        return RG_ERR_NOMEM;
    for (int i = 0; i < RG_OP__BUILTIN_COUNT; i++)
        g->ops[i] = *builtin[i];
    g->nops = RG_OP__BUILTIN_COUNT;
    return RG_OK;
}

int rg_op_register(rg_graph *g, const rg_op_def *def)
{
    if (!g)
        return -1;
    if (!def || !def->name || !def->name[0]) {
        rg__fail(g, RG_ERR_ARG, "op_register: an op needs a name");
        return -1;
    }
    if (def->arity < 0 || def->arity > RG_MAX_ARITY || !def->shape ||
        (!def->forward_f32 && !def->forward_f64)) {
        rg__fail(g, RG_ERR_ARG,
                 "op_register: %s: needs an arity in 0..%d, a shape rule and a kernel",
                 def->name, RG_MAX_ARITY);
        return -1;
    }
    if (rg_op_lookup(g, def->name) >= 0) {
        rg__fail(g, RG_ERR_ARG, "op_register: an op named '%s' exists already", def->name);
        return -1;
    }
    if (g->nops >= INT16_MAX) {
        rg__fail(g, RG_ERR_ARG, "op_register: %s: too many ops", def->name);
        return -1;
    }
    if (g->nops == g->capops) {
        int cap = g->capops * 2;
        rg_op_def *ops = rg__realloc(g, g->ops, (size_t)g->capops * sizeof *ops,
                                     (size_t)cap * sizeof *ops);
        if (!ops) {
            rg__fail(g, RG_ERR_NOMEM, "op_register: %s: out of memory", def->name);
            return -1;
        }
        g->ops = ops;
        g->capops = cap;
    }
    g->ops[g->nops] = *def;
    return g->nops++;
}

int rg_op_count(const rg_graph *g)
{
    return g ? g->nops : 0;
}

const char *rg_op_name(const rg_graph *g, int op)
{
    return g && op >= 0 && op < g->nops ? g->ops[op].name : NULL;
}

int rg_op_arity(const rg_graph *g, int op)
{
    return g && op >= 0 && op < g->nops ? g->ops[op].arity : -1;
}

int rg_op_lookup(const rg_graph *g, const char *name)
{
    if (!g || !name)
        return -1;
    for (int i = 0; i < g->nops; i++)
        if (strcmp(g->ops[i].name, name) == 0)
            return i;
    return -1;
}

rg_node *rg_apply(rg_graph *g, int op, int n, rg_node *const *inputs)
{
    if (!g)
        return NULL;
    if (op >= 0 && op < g->nops && !g->ops[op].shape) {
        rg__fail(g, RG_ERR_ARG, "apply: '%s' is a leaf; create it with rg_%s()",
                 g->ops[op].name, g->ops[op].name);
        return NULL;
    }
    if (n > 0 && !inputs) {
        rg__fail(g, RG_ERR_ARG, "apply: %d inputs announced, none given", n);
        return NULL;
    }
    return rg__make(g, op, n, inputs, NULL);
}
