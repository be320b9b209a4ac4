/* Graphviz export through libcgraph: the graph becomes an Agraph_t (one DOT node per graph
 * node, named by its creation index), written with agwrite or handed to libgvc (render.c).
 * The only file that includes cgraph. */
#include "dot_priv.h"

#include <errno.h>
#include <string.h>

#ifdef RG_HAVE_CGRAPH
#include <cgraph.h>
#endif

rg_dot_opts rg_dot_defaults(void)
{
    return (rg_dot_opts){
        .part = RG_DOT_BOTH,
        .values = true,
        .grads = true,
        .legend = true,
        .clusters = true,
        .rankdir = "LR",
        .precision = 6,
        .max_inline = 16,
        .sweep = 1,
        .frame = -1,
    };
}

#ifndef RG_HAVE_CGRAPH

static rg_status no_cgraph(rg_graph *g)
{
    return g ? rg__fail(g, RG_ERR_UNSUPPORTED,
                        "dot: this build of retrograd has no Graphviz libcgraph; install it "
                        "(Debian: libgraphviz-dev) and rebuild")
             : RG_ERR_UNSUPPORTED;
}

rg_status rg_dot_write(rg_graph *g, FILE *f, const rg_dot_opts *opts)
{
    (void)f, (void)opts;
    return no_cgraph(g);
}

void *rg__dot_graph(rg_graph *g, const rg_dot_opts *opts)
{
    (void)opts;
    no_cgraph(g);
    return NULL;
}

void rg__dot_graph_close(void *agraph)
{
    (void)agraph;
}

#else /* RG_HAVE_CGRAPH */

/* Colours: one hue per kind of node, light fills so black text stays readable. */
#define C_TEXT "#1f2937"
#define C_MUTED "#6b7280"
#define C_GRAD "#7e22ce"
#define C_GRAD_FILL "#f3e8ff"
#define C_BAD "#dc2626"
#define C_BAD_FILL "#fee2e2"
#define C_HOT "#ea580c"
#define C_HOT_FILL "#fed7aa"
#define C_FADED "#9ca3af"

typedef struct look {
    const char *shape, *style, *fill, *color;
} look;

static const look LOOK_INPUT = {"box", "rounded,filled", "#dbeafe", "#1d4ed8"};
static const look LOOK_PARAM = {"box", "filled", "#fef3c7", "#b45309"};
static const look LOOK_CONST = {"box", "filled,dashed", "#f3f4f6", C_MUTED};
static const look LOOK_OP = {"ellipse", "filled", "#ffffff", C_TEXT};
static const look LOOK_GRAD = {"ellipse", "filled", C_GRAD_FILL, C_GRAD};
static const look LOOK_GRAD_LEAF = {"box", "filled,dashed", C_GRAD_FILL, C_GRAD};

enum { HIDDEN = 0, SHOWN = 1, FADED = 2 };

typedef struct builder {
    rg_graph *g;
    const rg_dot_opts *o;
    rg__dot_info info;
    Agraph_t *root, *fwd, **sweepg;
    Agnode_t **an;    /* per node id: its DOT node, NULL when not drawn */
    uint8_t *draw;    /* per node id: HIDDEN, SHOWN, FADED (context for the backward part) */
    uint8_t *path;    /* per node id: on a highlighted path */
    int32_t *alias;   /* per node id: next node sharing the same gradient node (-1 ends) */
    int32_t *alias_head; /* per gradient node id: first node that shares it (-1: none) */
    rg__sb sb, tmp;
    Agsym_t *label, *shape, *style, *fill, *color, *pen, *fontcolor, *tooltip;
    Agsym_t *ehead, *etail, *exlabel, *estyle, *ecolor, *edir, *econstraint, *epen, *efontcolor, *eminlen,
        *eweight;
    bool frames; /* drawing one frame of the selected sweep */
    int last;    /* last frame of the selected sweep */
} builder;

/* cgraph's 2.x API takes char * for strings it only reads. */
static char *S(const char *s)
{
    return (char *)s;
}

static void set(void *obj, Agsym_t *sym, const char *value)
{
    agxset(obj, sym, S(value));
}

static void set_html(builder *b, void *obj, Agsym_t *sym, const char *html)
{
    char *h = agstrdup_html(b->root, S(html));
    agxset(obj, sym, h);
    agstrfree(b->root, h);
}

/* Gradient nodes a frame does not show yet (or sweeps after the selected one). */
static bool invisible(const builder *b, const rg_node *n)
{
    if (!b->frames || !n->is_grad)
        return false;
    int s = b->info.sweep_of[n->id];
    return s > b->info.sel || (s == b->info.sel && n->step > b->o->frame);
}

/* One table row holding `prefix` followed by the value (rows of a tensor on their own lines),
 * in red when it holds a NaN or an infinity. A value a frame must not reveal yet is written
 * in transparent ink: it keeps its room, so the layout stays put from frame to frame. */
static void value_row(const builder *b, rg__sb *l, const char *prefix, const rg__value *v,
                      const char *color, bool hidden)
{
    const char *ink = v->nan || v->inf ? C_BAD : color;
    rg__sb_printf(l, "<TR><TD><FONT COLOR=\"%s\">", ink);
    rg__sb_str(l, prefix);
    if (hidden)
        rg__sb_str(l, "</FONT><FONT COLOR=\"transparent\">");
    if (v->node->ndim > 0 && v->node->size <= b->o->max_inline &&
        v->node->size > v->node->shape[v->node->ndim - 1])
        rg__sb_str(l, "<BR/>"); /* a matrix starts on its own line */
    rg__dot_value_text(l, v, b->o->precision, b->o->max_inline, "<BR/>");
    rg__sb_str(l, "</FONT></TD></TR>");
}

/* In a frame: the selected sweep has not completed x's gradient yet. */
static bool unknown_yet(const builder *b, size_t x)
{
    return b->frames && b->info.known_step[x] > b->o->frame;
}

static const char *kind_text(const rg_node *n)
{
    switch (n->kind) {
    case RG_KIND_INPUT: return "input";
    case RG_KIND_PARAM: return "parameter";
    case RG_KIND_CONST: return "constant";
    default: return NULL;
    }
}

/* The gradient row of a node the selected sweep differentiated: "dL/dx = value", the value
 * hidden in a frame before the step that completes it. */
static void grad_row(builder *b, const rg_node *n, rg__sb *l)
{
    const rg__dot_info *in = &b->info;
    const rg_node *gn = in->grad[n->id];
    if (!gn || !b->o->grads)
        return;
    rg__sb_init(&b->tmp, b->g);
    rg__dot_grad_name(&b->tmp, n);
    rg__sb_str(&b->tmp, " = ");
    rg__value v;
    if (b->o->values && rg__dot_value(gn, &v))
        value_row(b, l, rg__sb_get(&b->tmp), &v, C_GRAD, unknown_yet(b, n->id));
    if (b->tmp.oom)
        l->oom = true;
    rg__sb_free(&b->tmp);
}

/* The HTML label of node n: a title (its name, the derivative it holds, or its op), a small
 * line with op, shape, creation index and sweep step, its value, and its gradient. Sets *bad
 * when the value holds a NaN or an infinity. */
static void label_of(builder *b, const rg_node *n, rg__sb *l, bool *bad)
{
    const rg__dot_info *in = &b->info;
    int32_t alias = b->alias_head[n->id];
    bool op_title = false;
    rg__sb_str(l, "<TABLE BORDER=\"0\" CELLBORDER=\"0\" CELLSPACING=\"0\" CELLPADDING=\"1\">"
                  "<TR><TD><B>");
    if (n->name) {
        rg__sb_html(l, n->name);
    } else if (n->is_grad && n->grad_of) {
        rg__dot_grad_name(l, n->grad_of);
    } else if (alias >= 0) {
        rg__dot_grad_name(l, b->g->nodes[alias]);
        alias = b->alias[alias];
    } else {
        rg__dot_op_text(l, n);
        op_title = true;
    }
    rg__sb_str(l, "</B></TD></TR>");
    /* the same node is also the gradient of these (an add passes its gradient through) */
    for (; alias >= 0; alias = b->alias[alias]) {
        rg__sb_printf(l, "<TR><TD><FONT COLOR=\"%s\"><B>= ",
                      unknown_yet(b, (size_t)alias) ? "transparent" : C_TEXT);
        rg__dot_grad_name(l, b->g->nodes[alias]);
        rg__sb_str(l, "</B></FONT></TD></TR>");
    }

    rg__sb_str(l, "<TR><TD><FONT POINT-SIZE=\"9\" COLOR=\"" C_MUTED "\">");
    if (!op_title) {
        const char *k = kind_text(n);
        if (k)
            rg__sb_str(l, k);
        else
            rg__dot_op_text(l, n);
        rg__sb_str(l, " ");
    }
    rg__dot_shape_text(l, n);
    rg__sb_printf(l, " #%u", n->id);
    if (n->is_grad)
        rg__sb_printf(l, " step %d", n->step);
    rg__sb_str(l, "</FONT></TD></TR>");

    rg__value v;
    *bad = false;
    if (b->o->values && b->draw[n->id] == SHOWN && rg__dot_value(n, &v)) {
        *bad = v.nan || v.inf;
        value_row(b, l, "= ", &v, C_TEXT, false);
    }
    if (b->draw[n->id] == SHOWN && in->sel >= 0)
        grad_row(b, n, l);
    rg__sb_str(l, "</TABLE>");
}

static const look *look_of(const rg_node *n)
{
    if (n->is_grad)
        return n->arity == 0 ? &LOOK_GRAD_LEAF : &LOOK_GRAD;
    switch (n->kind) {
    case RG_KIND_INPUT: return &LOOK_INPUT;
    case RG_KIND_PARAM: return &LOOK_PARAM;
    case RG_KIND_CONST: return &LOOK_CONST;
    default: return n->op == RG_OP_FILL ? &LOOK_CONST : &LOOK_OP;
    }
}

static Agraph_t *cluster_of(const builder *b, const rg_node *n)
{
    if (!b->o->clusters)
        return b->root;
    int s = b->info.sweep_of[n->id];
    return s >= 0 ? b->sweepg[s] : b->fwd;
}

static void style_node(builder *b, const rg_node *n, Agnode_t *an, bool bad)
{
    const rg__dot_info *in = &b->info;
    const look *lk = look_of(n);
    const char *color = lk->color, *fill = lk->fill, *style = lk->style, *font = NULL;
    const char *pen = NULL;
    if (b->draw[n->id] == FADED) {
        color = font = C_FADED;
        fill = "#ffffff";
        style = "filled,dashed";
    }
    if (bad) {
        color = font = C_BAD;
        fill = C_BAD_FILL;
        pen = "2.5";
    }
    if (b->path[n->id]) {
        color = C_HOT;
        pen = "3";
    }
    if (b->frames && b->o->frame >= 1 && b->o->frame <= in->sweeps[in->sel].nsteps &&
        in->step_node[b->o->frame] == n) {
        color = C_HOT; /* the node whose VJP this step applies */
        pen = "4";
    }
    if (b->frames && n->is_grad && in->sweep_of[n->id] == in->sel && n->step == b->o->frame) {
        color = C_HOT; /* built by this step */
        fill = C_HOT_FILL;
        pen = "2";
    }
    if (invisible(b, n))
        style = "invis";
    if (strcmp(lk->shape, LOOK_OP.shape) != 0)
        set(an, b->shape, lk->shape);
    if (strcmp(style, LOOK_OP.style) != 0)
        set(an, b->style, style);
    if (strcmp(fill, LOOK_OP.fill) != 0)
        set(an, b->fill, fill);
    if (strcmp(color, LOOK_OP.color) != 0)
        set(an, b->color, color);
    if (font)
        set(an, b->fontcolor, font);
    if (pen)
        set(an, b->pen, pen);
}

static void add_nodes(builder *b)
{
    char id[24];
    for (size_t i = 0; i < b->info.n; i++) {
        if (b->draw[i] == HIDDEN)
            continue;
        const rg_node *n = b->g->nodes[i];
        snprintf(id, sizeof id, "%zu", i);
        Agnode_t *an = agnode(cluster_of(b, n), id, 1);
        if (!an) {
            b->sb.oom = true;
            return;
        }
        b->an[i] = an;
        bool bad;
        b->sb.len = 0;
        if (b->sb.s)
            b->sb.s[0] = '\0';
        label_of(b, n, &b->sb, &bad);
        set_html(b, an, b->label, rg__sb_get(&b->sb));
        style_node(b, n, an, bad);
    }
}

/* Gradient nodes flow against the forward pass. Their edges are declared reversed (and drawn
 * with dir=back, so arrows still follow the data), which ranks each gradient next to the
 * forward node it belongs to: the backward pass reads as the forward pass mirrored. Edges from
 * forward values into gradient computations do not constrain the layout. */
static void add_edge(builder *b, const rg_node *from, const rg_node *to, int pos)
{
    bool back = to->is_grad && from->is_grad;
    Agedge_t *e = back ? agedge(b->root, b->an[to->id], b->an[from->id], NULL, 1)
                       : agedge(b->root, b->an[from->id], b->an[to->id], NULL, 1);
    if (!e) {
        b->sb.oom = true;
        return;
    }
    if (back)
        set(e, b->edir, "back");
    if (to->is_grad && !from->is_grad) {
        set(e, b->ecolor, C_FADED);
        set(e, b->econstraint, "false");
    } else if (to->is_grad) {
        set(e, b->ecolor, C_GRAD);
    }
    if (pos >= 0) {
        char t[8];
        snprintf(t, sizeof t, "%d", pos);
        set(e, back ? b->etail : b->ehead, t); /* at the consumer's end */
    }
    if (b->path[from->id] && b->path[to->id]) {
        set(e, b->ecolor, C_HOT);
        set(e, b->epen, "3");
    }
    if (invisible(b, from) || invisible(b, to))
        set(e, b->estyle, "invis");
}

/* The dashed edge from forward node x to gn, the node holding its gradient. */
static void add_tie(builder *b, const rg_node *gn, const rg_node *x, bool hidden)
{
    Agedge_t *e = agedge(b->root, b->an[x->id], b->an[gn->id], NULL, 1);
    if (!e) {
        b->sb.oom = true;
        return;
    }
    b->sb.len = 0;
    if (b->sb.s)
        b->sb.s[0] = '\0';
    rg__dot_grad_name(&b->sb, x);
    set_html(b, e, b->exlabel, rg__sb_get(&b->sb));
    set(e, b->estyle, hidden || invisible(b, gn) ? "invis" : "dashed");
    set(e, b->ecolor, C_GRAD);
    set(e, b->efontcolor, C_GRAD);
    set(e, b->edir, "none");
    /* rank the gradient with its forward node: the backward pass mirrors the forward one */
    set(e, b->eminlen, "0");
    set(e, b->eweight, "8");
}

static void add_edges(builder *b)
{
    const rg__dot_info *in = &b->info;
    for (size_t i = 0; i < in->n; i++) {
        if (!b->an[i])
            continue;
        const rg_node *n = b->g->nodes[i];
        if (b->draw[i] == FADED)
            continue; /* the backward part shows forward values, not how they were computed */
        bool ordered = rg__dot_ordered(n);
        for (int k = 0; k < n->arity; k++)
            if (b->an[n->in[k]->id])
                add_edge(b, n->in[k], n, ordered ? k : -1);
        if (n->is_grad && n->grad_of && b->an[n->grad_of->id])
            add_tie(b, n, n->grad_of, false);
    }
    if (in->sel < 0)
        return;
    for (size_t i = 0; i < in->n; i++)
        if (in->shared[i] && b->an[i] && b->an[in->grad[i]->id])
            add_tie(b, in->grad[i], b->g->nodes[i], unknown_yet(b, i));
}

static void legend_row(rg__sb *l, const look *lk, const char *name, const char *what)
{
    rg__sb_printf(l,
                  "<TR><TD BGCOLOR=\"%s\" COLOR=\"%s\"><FONT POINT-SIZE=\"9\">%s</FONT></TD>"
                  "<TD ALIGN=\"LEFT\" BORDER=\"0\"><FONT POINT-SIZE=\"9\">%s</FONT></TD></TR>",
                  lk->fill, lk->color, name, what);
}

static void add_legend(builder *b, bool grads)
{
    static const look ties = {"", "", "#ffffff", C_GRAD};
    static const look bad = {"", "", C_BAD_FILL, C_BAD};
    static const look hot = {"", "", C_HOT_FILL, C_HOT};
    rg__sb *l = &b->sb;
    l->len = 0;
    if (l->s)
        l->s[0] = '\0';
    rg__sb_str(l, "<TABLE BORDER=\"0\" CELLBORDER=\"1\" CELLSPACING=\"2\" CELLPADDING=\"3\">"
                  "<TR><TD COLSPAN=\"2\" BORDER=\"0\"><B>legend</B></TD></TR>");
    legend_row(l, &LOOK_INPUT, "input", "fed before each run");
    legend_row(l, &LOOK_PARAM, "parameter", "learned; keeps its value");
    legend_row(l, &LOOK_CONST, "constant", "fixed value");
    legend_row(l, &LOOK_OP, "operation", "= its value; edge numbers: input order");
    if (grads) {
        legend_row(l, &LOOK_GRAD, "gradient", "built by the reverse sweep at step k");
        legend_row(l, &ties, "- - -  dL/dx", "holds the gradient of x");
    }
    legend_row(l, &bad, "red", "value has a NaN or an Inf");
    if (b->frames)
        legend_row(l, &hot, "orange", "thick: differentiated at this step; filled: built by it");
    else if (b->o->from && b->o->to)
        legend_row(l, &hot, "orange", "the highlighted path");
    rg__sb_str(l, "</TABLE>");
    Agnode_t *an = agnode(b->root, S("legend"), 1);
    if (!an) {
        l->oom = true;
        return;
    }
    set(an, b->shape, "plain");
    set(an, b->style, "solid");
    set_html(b, an, b->label, rg__sb_get(l));
}

/* Which nodes are drawn (part), which lie on the highlighted path, and which nodes share each
 * gradient node (for its label). */
static void choose(builder *b)
{
    const rg__dot_info *in = &b->info;
    rg_graph *g = b->g;
    rg_dot_part part = b->o->part;
    for (size_t i = 0; i < in->n; i++) {
        const rg_node *n = g->nodes[i];
        b->alias_head[i] = b->alias[i] = -1;
        if (part == RG_DOT_BOTH || (part == RG_DOT_FORWARD && !n->is_grad) ||
            (part == RG_DOT_BACKWARD && n->is_grad))
            b->draw[i] = SHOWN;
    }
    if (part == RG_DOT_BACKWARD)
        for (size_t i = 0; i < in->n; i++) {
            const rg_node *n = g->nodes[i];
            if (in->sel >= 0 && in->grad[i] && b->draw[i] == HIDDEN)
                b->draw[i] = FADED;
            if (!n->is_grad)
                continue;
            for (int k = 0; k < n->arity; k++)
                if (b->draw[n->in[k]->id] == HIDDEN)
                    b->draw[n->in[k]->id] = FADED;
            if (n->grad_of && b->draw[n->grad_of->id] == HIDDEN)
                b->draw[n->grad_of->id] = FADED;
        }
    for (size_t i = in->n; i-- > 0;)
        if (in->sel >= 0 && in->shared[i]) {
            size_t gid = in->grad[i]->id;
            b->alias[i] = b->alias_head[gid];
            b->alias_head[gid] = (int32_t)i;
        }
    const rg_node *from = b->o->from, *to = b->o->to;
    if (from && to && from->g == g && to->g == g && from->id <= to->id) {
        /* descendants of `from` that are ancestors of `to` */
        uint8_t *down = b->path;
        down[from->id] = 1;
        for (size_t i = from->id + 1; i <= to->id; i++)
            for (int k = 0; k < g->nodes[i]->arity; k++)
                if (down[g->nodes[i]->in[k]->id] & 1)
                    down[i] |= 1;
        down[to->id] |= 2;
        for (size_t i = to->id + 1; i-- > from->id;)
            if (down[i] & 2)
                for (int k = 0; k < g->nodes[i]->arity; k++)
                    down[g->nodes[i]->in[k]->id] |= 2;
        for (size_t i = 0; i < in->n; i++)
            down[i] = down[i] == 3;
    }
}

static void add_clusters(builder *b)
{
    const rg__dot_info *in = &b->info;
    if (!b->o->clusters)
        return;
    b->fwd = agsubg(b->root, S("cluster_forward"), 1);
    if (!b->fwd) {
        b->sb.oom = true;
        return;
    }
    agsafeset(b->fwd, S("label"), S(b->o->part == RG_DOT_BACKWARD ? "forward values read"
                                                                  : "forward pass"),
              S(""));
    agsafeset(b->fwd, S("style"), S("rounded"), S(""));
    agsafeset(b->fwd, S("color"), S("#d1d5db"), S(""));
    char name[32];
    for (int s = 0; s < in->nsweeps; s++) {
        snprintf(name, sizeof name, "cluster_sweep%d", s + 1);
        b->sweepg[s] = agsubg(b->root, name, 1);
        if (!b->sweepg[s]) {
            b->sb.oom = true;
            return;
        }
        rg__sb *l = &b->sb;
        l->len = 0;
        if (l->s)
            l->s[0] = '\0';
        rg__sb_str(l, "backward pass");
        if (in->nsweeps > 1)
            rg__sb_printf(l, " %d", s + 1);
        const rg_node *root = in->sweeps[s].root;
        if (root) {
            rg__sb_str(l, ": the reverse sweep from L");
            if (!root->name || strcmp(root->name, "L") != 0) {
                rg__sb_str(l, " = ");
                rg__dot_node_name(l, root);
            }
        }
        set_html(b, b->sweepg[s], agattr(b->root, AGRAPH, S("label"), S("")), rg__sb_get(l));
        agsafeset(b->sweepg[s], S("style"), S("rounded,filled"), S(""));
        agsafeset(b->sweepg[s], S("color"), S(C_GRAD), S(""));
        agsafeset(b->sweepg[s], S("fillcolor"), S("#faf5ff"), S(""));
        agsafeset(b->sweepg[s], S("fontcolor"), S(C_GRAD), S(""));
    }
}

static void add_title(builder *b)
{
    const rg__dot_info *in = &b->info;
    rg__sb *l = &b->sb;
    l->len = 0;
    if (l->s)
        l->s[0] = '\0';
    if (b->o->title)
        rg__sb_html(l, b->o->title);
    if (b->frames) {
        int k = b->o->frame;
        const rg__sweep *s = &in->sweeps[in->sel];
        if (l->len)
            rg__sb_str(l, "<BR/>");
        if (k == 0) {
            rg__sb_str(l, "frame 0: the forward pass; the reverse sweep has not started");
        } else if (k <= s->nsteps) {
            const rg_node *c = in->step_node[k];
            rg__sb_printf(l, "step %d of %d: the chain rule through ", k, b->last);
            rg__dot_op_text(l, c);
            rg__sb_str(l, " ");
            rg__dot_node_name(l, c);
            bool built = false;
            for (size_t i = s->start; i < s->end && !built; i++)
                built = b->g->nodes[i]->step == k;
            if (!built)
                rg__sb_str(l, ": its inputs receive its gradient unchanged");
        } else {
            rg__sb_printf(l, "step %d of %d: exact zeros for the inputs the output does not "
                             "depend on",
                          k, b->last);
        }
    }
    if (l->len) {
        set_html(b, b->root, agattr(b->root, AGRAPH, S("label"), S("")), rg__sb_get(l));
        agsafeset(b->root, S("labelloc"), S("t"), S(""));
        agsafeset(b->root, S("fontsize"), S("16"), S(""));
    }
}

static void declare(builder *b)
{
    Agraph_t *r = b->root;
    agattr(r, AGRAPH, S("rankdir"), S(b->o->rankdir ? b->o->rankdir : "LR"));
    agattr(r, AGRAPH, S("newrank"), S("true"));
    agattr(r, AGRAPH, S("fontname"), S("Helvetica"));
    agattr(r, AGRAPH, S("nodesep"), S("0.25"));
    agattr(r, AGRAPH, S("ranksep"), S("0.35"));
    agattr(r, AGNODE, S("fontname"), S("Helvetica"));
    agattr(r, AGNODE, S("fontsize"), S("11"));
    agattr(r, AGNODE, S("margin"), S("0.06,0.03"));
    b->label = agattr(r, AGNODE, S("label"), S("\\N"));
    b->shape = agattr(r, AGNODE, S("shape"), S(LOOK_OP.shape));
    b->style = agattr(r, AGNODE, S("style"), S(LOOK_OP.style));
    b->fill = agattr(r, AGNODE, S("fillcolor"), S(LOOK_OP.fill));
    b->color = agattr(r, AGNODE, S("color"), S(LOOK_OP.color));
    b->fontcolor = agattr(r, AGNODE, S("fontcolor"), S(C_TEXT));
    b->pen = agattr(r, AGNODE, S("penwidth"), S("1"));
    agattr(r, AGEDGE, S("fontname"), S("Helvetica"));
    agattr(r, AGEDGE, S("fontsize"), S("9"));
    agattr(r, AGEDGE, S("arrowsize"), S("0.7"));
    /* Edge text is attached as head labels and external labels, never as `label`: Graphviz
     * 2.4x frees memory twice when laying out a labelled edge between nodes of one rank. */
    agattr(r, AGEDGE, S("labelfontsize"), S("9"));
    agattr(r, AGEDGE, S("labeldistance"), S("1.3"));
    b->ehead = agattr(r, AGEDGE, S("headlabel"), S(""));
    b->etail = agattr(r, AGEDGE, S("taillabel"), S(""));
    b->exlabel = agattr(r, AGEDGE, S("xlabel"), S(""));
    b->estyle = agattr(r, AGEDGE, S("style"), S("solid"));
    b->ecolor = agattr(r, AGEDGE, S("color"), S(C_TEXT));
    b->efontcolor = agattr(r, AGEDGE, S("fontcolor"), S(C_TEXT));
    b->edir = agattr(r, AGEDGE, S("dir"), S("forward"));
    b->econstraint = agattr(r, AGEDGE, S("constraint"), S("true"));
    b->epen = agattr(r, AGEDGE, S("penwidth"), S("1"));
    b->eminlen = agattr(r, AGEDGE, S("minlen"), S("1"));
    b->eweight = agattr(r, AGEDGE, S("weight"), S("1"));
}

static void builder_free(builder *b)
{
    rg_graph *g = b->g;
    rg__free(g, b->an);
    rg__free(g, b->draw);
    rg__free(g, b->path);
    rg__free(g, b->alias);
    rg__free(g, b->alias_head);
    rg__free(g, b->sweepg);
    rg__sb_free(&b->sb);
    rg__dot_info_free(g, &b->info);
}

static rg_status check_opts(rg_graph *g, const rg_dot_opts *o)
{
    const char *r = o->rankdir;
    if (r && strcmp(r, "LR") != 0 && strcmp(r, "TB") != 0 && strcmp(r, "RL") != 0 &&
        strcmp(r, "BT") != 0)
        return rg__fail(g, RG_ERR_ARG, "dot: rank direction '%.16s' is not LR, TB, RL or BT", r);
    if (o->part != RG_DOT_BOTH && o->part != RG_DOT_FORWARD && o->part != RG_DOT_BACKWARD)
        return rg__fail(g, RG_ERR_ARG, "dot: invalid part %d", (int)o->part);
    if (o->precision < 1 || o->precision > 17 || o->max_inline < 0)
        return rg__fail(g, RG_ERR_ARG, "dot: precision must be 1 to 17 and max_inline >= 0");
    if ((o->from && o->from->g != g) || (o->to && o->to->g != g))
        return rg__fail(g, RG_ERR_GRAPH, "dot: a highlighted node belongs to another graph");
    return RG_OK;
}

void *rg__dot_graph(rg_graph *g, const rg_dot_opts *opts)
{
    if (!g)
        return NULL;
    rg_dot_opts defaults = rg_dot_defaults();
    const rg_dot_opts *o = opts ? opts : &defaults;
    if (check_opts(g, o) != RG_OK)
        return NULL;
    builder b;
    memset(&b, 0, sizeof b);
    b.g = g;
    b.o = o;
    rg__sb_init(&b.sb, g);
    if (rg__dot_analyse(g, o->sweep, &b.info) != RG_OK)
        return NULL;
    const rg__dot_info *in = &b.info;
    if (o->frame >= 0) {
        if (in->sel < 0) {
            rg__fail(g, RG_ERR_ARG, "dot: frame %d of reverse sweep %d: the graph has %d sweeps",
                     o->frame, o->sweep, in->nsweeps);
            builder_free(&b);
            return NULL;
        }
        const rg__sweep *s = &in->sweeps[in->sel];
        b.last = s->maxstep > s->nsteps ? s->maxstep : s->nsteps;
        if (o->frame > b.last) {
            rg__fail(g, RG_ERR_ARG, "dot: reverse sweep %d has frames 0 to %d, not %d",
                     o->sweep, b.last, o->frame);
            builder_free(&b);
            return NULL;
        }
        b.frames = true;
    }
    size_t n = in->n ? in->n : 1;
    b.an = rg__calloc(g, n, sizeof *b.an);
    b.draw = rg__calloc(g, n, 1);
    b.path = rg__calloc(g, n, 1);
    b.alias = rg__malloc(g, n * sizeof *b.alias);
    b.alias_head = rg__malloc(g, n * sizeof *b.alias_head);
    b.sweepg = rg__calloc(g, (size_t)in->nsweeps + 1, sizeof *b.sweepg);
    b.root = agopen(S("retrograd"), Agdirected, NULL);
    if (!b.an || !b.draw || !b.path || !b.alias || !b.alias_head || !b.sweepg || !b.root) {
        if (b.root)
            agclose(b.root);
        builder_free(&b);
        rg__fail(g, RG_ERR_NOMEM, "dot: out of memory");
        return NULL;
    }
    choose(&b);
    declare(&b);
    add_clusters(&b);
    add_title(&b);
    if (!b.sb.oom)
        add_nodes(&b);
    if (!b.sb.oom)
        add_edges(&b);
    bool any_grad = false;
    for (size_t i = 0; i < in->n && !any_grad; i++)
        any_grad = b.an[i] && g->nodes[i]->is_grad;
    if (!b.sb.oom && o->legend)
        add_legend(&b, any_grad || (o->grads && in->sel >= 0));
    Agraph_t *root = b.root;
    bool oom = b.sb.oom;
    builder_free(&b);
    if (oom) {
        agclose(root);
        rg__fail(g, RG_ERR_NOMEM, "dot: out of memory");
        return NULL;
    }
    return root;
}

void rg__dot_graph_close(void *agraph)
{
    if (agraph)
        agclose(agraph);
}

rg_status rg_dot_write(rg_graph *g, FILE *f, const rg_dot_opts *opts)
{
    if (!g)
        return RG_ERR_ARG;
    if (!f)
        return rg__fail(g, RG_ERR_ARG, "dot: no file to write to");
    Agraph_t *root = rg__dot_graph(g, opts);
    if (!root)
        return g->status != RG_OK ? g->status : RG_ERR_NOMEM;
    int rc = agwrite(root, f);
    agclose(root);
    if (rc == EOF || ferror(f))
        return rg__fail(g, RG_ERR_IO, "dot: write failed: %s", strerror(errno));
    return RG_OK;
}

#endif /* RG_HAVE_CGRAPH */
