/* Graphviz export through libcgraph: the graph becomes an Agraph_t (one DOT node per graph
 * node, named by its creation index), written with agwrite or handed to libgvc (render.c).
 * The only file that includes cgraph. */
#include "dot_priv.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
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

/* Statically initialised, so no first use can race with another. */
static pthread_mutex_t graphviz_lock = PTHREAD_MUTEX_INITIALIZER;

void rg__graphviz_lock(void)
{
    pthread_mutex_lock(&graphviz_lock);
}

void rg__graphviz_unlock(void)
{
    pthread_mutex_unlock(&graphviz_lock);
}

/* Object ids. cgraph's default discipline uses the address of an object's interned name as
 * its id, and agwrite orders subgraphs by id, so the same graph could be written with its
 * boxes in a different order from one run to the next. These ids number names in the order
 * they are first seen (even ids; anonymous objects get odd ones, as by default), which makes
 * the output a function of the graph alone. */
typedef struct idmap {
    Agraph_t *g;      /* the root graph, whose string table holds the names */
    char **names;     /* id 2k+2 is names[k], a cgraph string (agwrite reads its flags) */
    size_t n, cap;
    uint32_t *slots;  /* open addressing: k+1, or 0 when empty */
    size_t nslots;    /* a power of two, kept at least twice n */
    IDTYPE anon;
} idmap;

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void *id_open(Agraph_t *g, Agdisc_t *disc)
{
    (void)disc;
    idmap *m = calloc(1, sizeof *m);
    if (m) {
        m->g = g;
        m->anon = 1;
    }
    return m;
}

static bool id_grow(idmap *m)
{
    size_t nslots = m->nslots ? 2 * m->nslots : 1024;
    uint32_t *slots = calloc(nslots, sizeof *slots);
    if (!slots)
        return false;
    for (size_t k = 0; k < m->n; k++) {
        size_t i = (size_t)name_hash(m->names[k]) & (nslots - 1);
        while (slots[i])
            i = (i + 1) & (nslots - 1);
        slots[i] = (uint32_t)(k + 1);
    }
    free(m->slots);
    m->slots = slots;
    m->nslots = nslots;
    return true;
}

static long id_map(void *state, int objtype, char *str, IDTYPE *id, int createflag)
{
    (void)objtype;
    idmap *m = state;
    if (!str) {
        *id = m->anon;
        m->anon += 2;
        return 1;
    }
    size_t i = m->nslots ? (size_t)name_hash(str) & (m->nslots - 1) : 0;
    for (; m->nslots && m->slots[i]; i = (i + 1) & (m->nslots - 1))
        if (strcmp(m->names[m->slots[i] - 1], str) == 0) {
            *id = (IDTYPE)m->slots[i] * 2;
            return 1;
        }
    if (!createflag || m->n >= UINT32_MAX - 1)
        return 0;
    if (2 * (m->n + 1) > m->nslots || m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 512;
        char **names = m->n == m->cap ? realloc(m->names, cap * sizeof *names) : m->names;
        if (!names)
            return 0;
        m->names = names;
        m->cap = m->n == m->cap ? cap : m->cap;
        if (2 * (m->n + 1) > m->nslots && !id_grow(m))
            return 0;
    }
    char *copy = agstrdup(m->g, str);
    if (!copy)
        return 0;
    m->names[m->n++] = copy;
    i = (size_t)name_hash(str) & (m->nslots - 1);
    while (m->slots[i])
        i = (i + 1) & (m->nslots - 1);
    m->slots[i] = (uint32_t)m->n;
    *id = (IDTYPE)m->n * 2;
    return 1;
}

static long id_alloc(void *state, int objtype, IDTYPE request)
{
    (void)state, (void)objtype, (void)request;
    return 0; /* as by default: an id is only ever made from a name */
}

static void id_free(void *state, int objtype, IDTYPE id)
{
    (void)state, (void)objtype, (void)id; /* names live until the graph is closed */
}

static char *id_print(void *state, int objtype, IDTYPE id)
{
    (void)objtype;
    const idmap *m = state;
    return id % 2 == 0 && id >= 2 && id / 2 <= m->n ? m->names[id / 2 - 1] : NULL;
}

static void id_close(void *state)
{
    idmap *m = state;
    for (size_t k = 0; k < m->n; k++)
        agstrfree(m->g, m->names[k]);
    free(m->names);
    free(m->slots);
    free(m);
}

static void id_register(void *state, int objtype, void *obj)
{
    (void)state, (void)objtype, (void)obj;
}

static Agiddisc_t id_disc = {id_open, id_map, id_alloc, id_free, id_print, id_close,
                             id_register};
static Agdisc_t disc = {&AgMemDisc, &id_disc, &AgIoDisc};

typedef struct look {
    const char *shape, *style, *fill, *color;
} look;

static const look LOOK_INPUT = {"box", "rounded,filled", "#dbeafe", "#1d4ed8"};
static const look LOOK_PARAM = {"box", "filled", "#fef3c7", "#b45309"};
static const look LOOK_CONST = {"box", "filled,dashed", "#f3f4f6", C_MUTED};
static const look LOOK_OP = {"ellipse", "filled", "#ffffff", C_TEXT};
static const look LOOK_GRAD = {"ellipse", "filled", C_GRAD_FILL, C_GRAD};
static const look LOOK_GRAD_LEAF = {"box", "filled,dashed", C_GRAD_FILL, C_GRAD};

typedef struct builder {
    rg__dot_view v;
    Agraph_t *root, *fwd, **sweepg;
    Agnode_t **an; /* per node id: its DOT node, NULL when not drawn */
    rg__sb sb;
    Agsym_t *label, *shape, *style, *fill, *color, *pen, *fontcolor;
    Agsym_t *ehead, *etail, *exlabel, *estyle, *ecolor, *edir, *econstraint, *epen, *efontcolor,
        *eminlen, *eweight;
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
    if (!b->v.o->clusters)
        return b->root;
    int s = b->v.info.sweep_of[n->id];
    return s >= 0 ? b->sweepg[s] : b->fwd;
}

static void style_node(builder *b, const rg_node *n, Agnode_t *an, bool bad)
{
    const rg__dot_info *in = &b->v.info;
    const look *lk = look_of(n);
    const char *color = lk->color, *fill = lk->fill, *style = lk->style, *font = NULL;
    const char *pen = NULL;
    if (b->v.draw[n->id] == RG__FADED) {
        color = font = C_FADED;
        fill = "#ffffff";
        style = "filled,dashed";
    }
    if (bad) {
        color = font = C_BAD;
        fill = C_BAD_FILL;
        pen = "2.5";
    }
    if (b->v.path[n->id]) {
        color = C_HOT;
        pen = "3";
    }
    if (b->v.frames && b->v.o->frame >= 1 && b->v.o->frame <= in->sweeps[in->sel].nsteps &&
        in->step_node[b->v.o->frame] == n) {
        color = C_HOT; /* the node whose VJP this step applies */
        pen = "4";
    }
    if (b->v.frames && n->is_grad && in->sweep_of[n->id] == in->sel && n->step == b->v.o->frame) {
        color = C_HOT; /* built by this step */
        fill = C_HOT_FILL;
        pen = "2";
    }
    if (rg__dot_invisible(&b->v, n))
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
    for (size_t i = 0; i < b->v.info.n; i++) {
        if (b->v.draw[i] == RG__HIDDEN)
            continue;
        const rg_node *n = b->v.g->nodes[i];
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
        rg__dot_label(&b->v, n, &b->sb, &bad);
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
    if (b->v.path[from->id] && b->v.path[to->id]) {
        set(e, b->ecolor, C_HOT);
        set(e, b->epen, "3");
    }
    if (rg__dot_invisible(&b->v, from) || rg__dot_invisible(&b->v, to))
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
    set(e, b->estyle, hidden || rg__dot_invisible(&b->v, gn) ? "invis" : "dashed");
    set(e, b->ecolor, C_GRAD);
    set(e, b->efontcolor, C_GRAD);
    set(e, b->edir, "none");
    /* rank the gradient with its forward node: the backward pass mirrors the forward one */
    set(e, b->eminlen, "0");
    set(e, b->eweight, "8");
}

static void add_edges(builder *b)
{
    const rg__dot_info *in = &b->v.info;
    for (size_t i = 0; i < in->n; i++) {
        if (!b->an[i])
            continue;
        const rg_node *n = b->v.g->nodes[i];
        if (b->v.draw[i] == RG__FADED)
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
            add_tie(b, in->grad[i], b->v.g->nodes[i], rg__dot_unknown_yet(&b->v, i));
}

static void legend_row(rg__sb *l, const look *lk, const char *name, const char *what)
{
    rg__sb_printf(l,
                  "<TR><TD BGCOLOR=\"%s\" COLOR=\"%s\"><FONT POINT-SIZE=\"9\">%s</FONT></TD>"
                  "<TD ALIGN=\"LEFT\" BORDER=\"0\"><FONT POINT-SIZE=\"9\">%s</FONT></TD></TR>",
                  lk->fill, lk->color, name, what);
}

/* grad_nodes: gradient nodes are drawn; grad_text: forward nodes show their gradients. */
static void add_legend(builder *b, bool grad_nodes, bool grad_text)
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
    if (grad_text)
        legend_row(l, &ties, "<FONT COLOR=\"" C_GRAD "\">dL/dx = g</FONT>",
                   "the gradient of L, the output, at this node x");
    if (grad_nodes) {
        legend_row(l, &LOOK_GRAD, "gradient", "built by the reverse sweep at step k");
        legend_row(l, &ties, "- - -  dL/dx", "holds the gradient of x");
    }
    legend_row(l, &bad, "red", "value has a NaN or an Inf");
    if (b->v.frames)
        legend_row(l, &hot, "orange", "thick: differentiated at this step; filled: built by it");
    else if (b->v.o->from && b->v.o->to)
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

static void add_clusters(builder *b)
{
    const rg__dot_info *in = &b->v.info;
    if (!b->v.o->clusters)
        return;
    b->fwd = agsubg(b->root, S("cluster_forward"), 1);
    if (!b->fwd) {
        b->sb.oom = true;
        return;
    }
    agsafeset(b->fwd, S("label"), S(b->v.o->part == RG_DOT_BACKWARD ? "forward values read"
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
    const rg__dot_info *in = &b->v.info;
    rg__sb *l = &b->sb;
    l->len = 0;
    if (l->s)
        l->s[0] = '\0';
    if (b->v.o->title)
        rg__sb_html(l, b->v.o->title);
    if (b->v.frames) {
        int k = b->v.o->frame;
        const rg__sweep *s = &in->sweeps[in->sel];
        if (l->len)
            rg__sb_str(l, "<BR/>");
        if (k == 0) {
            rg__sb_str(l, "frame 0: the forward pass; the reverse sweep has not started");
        } else if (k <= s->nsteps) {
            const rg_node *c = in->step_node[k];
            rg__sb_printf(l, "step %d of %d: the chain rule through ", k, b->v.last);
            rg__dot_op_text(l, c);
            rg__sb_str(l, " ");
            rg__dot_node_name(l, c);
            bool built = false;
            for (size_t i = s->start; i < s->end && !built; i++)
                built = b->v.g->nodes[i]->step == k;
            if (!built)
                rg__sb_str(l, ": its inputs receive its gradient unchanged");
        } else {
            rg__sb_printf(l, "step %d of %d: exact zeros for the inputs the output does not "
                             "depend on",
                          k, b->v.last);
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
    agattr(r, AGRAPH, S("rankdir"), S(b->v.o->rankdir ? b->v.o->rankdir : "LR"));
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
    rg_graph *g = b->v.g;
    rg__free(g, b->an);
    rg__free(g, b->v.draw);
    rg__free(g, b->v.path);
    rg__free(g, b->v.alias);
    rg__free(g, b->v.alias_head);
    rg__free(g, b->sweepg);
    rg__sb_free(&b->sb);
    rg__dot_info_free(g, &b->v.info);
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
    b.v.g = g;
    b.v.o = o;
    rg__sb_init(&b.sb, g);
    if (rg__dot_analyse(g, o->sweep, &b.v.info) != RG_OK)
        return NULL;
    const rg__dot_info *in = &b.v.info;
    if (o->frame >= 0) {
        if (in->sel < 0) {
            rg__fail(g, RG_ERR_ARG, "dot: frame %d of reverse sweep %d: the graph has %d sweeps",
                     o->frame, o->sweep, in->nsweeps);
            builder_free(&b);
            return NULL;
        }
        const rg__sweep *s = &in->sweeps[in->sel];
        b.v.last = s->maxstep > s->nsteps ? s->maxstep : s->nsteps;
        if (o->frame > b.v.last) {
            rg__fail(g, RG_ERR_ARG, "dot: reverse sweep %d has frames 0 to %d, not %d",
                     o->sweep, b.v.last, o->frame);
            builder_free(&b);
            return NULL;
        }
        b.v.frames = true;
    }
    size_t n = in->n ? in->n : 1;
    b.an = rg__calloc(g, n, sizeof *b.an);
    b.v.draw = rg__calloc(g, n, 1);
    b.v.path = rg__calloc(g, n, 1);
    b.v.alias = rg__malloc(g, n * sizeof *b.v.alias);
    b.v.alias_head = rg__malloc(g, n * sizeof *b.v.alias_head);
    b.sweepg = rg__calloc(g, (size_t)in->nsweeps + 1, sizeof *b.sweepg);
    b.root = agopen(S("retrograd"), Agdirected, &disc);
    if (!b.an || !b.v.draw || !b.v.path || !b.v.alias || !b.v.alias_head || !b.sweepg || !b.root) {
        if (b.root)
            agclose(b.root);
        builder_free(&b);
        rg__fail(g, RG_ERR_NOMEM, "dot: out of memory");
        return NULL;
    }
    rg__dot_choose(&b.v);
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
        add_legend(&b, any_grad, o->grads && in->sel >= 0);
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
    rg__graphviz_lock();
    Agraph_t *root = rg__dot_graph(g, opts);
    if (!root) {
        rg__graphviz_unlock();
        return g->status != RG_OK ? g->status : RG_ERR_NOMEM;
    }
    int rc = agwrite(root, f);
    agclose(root);
    rg__graphviz_unlock();
    if (rc == EOF || ferror(f))
        return rg__fail(g, RG_ERR_IO, "dot: write failed: %s", strerror(errno));
    return RG_OK;
}

#endif /* RG_HAVE_CGRAPH */
