/* Internal declarations of the drawing module (dot_sweep.c, dot.c, render.c). */
#ifndef RG_DOT_PRIV_H
#define RG_DOT_PRIV_H

#include <stdio.h>

#include "internal.h"
#include "retrograd/dot.h"

/* One reverse sweep: the gradient nodes with ids in [start, end). */
typedef struct rg__sweep {
    size_t start, end;
    const rg_node *root; /* the y of rg_grad(y, ...); NULL when the caller gave the seed */
    int nsteps;          /* VJPs applied (found by replaying the sweep's order) */
    int maxstep;         /* largest step number carried by its nodes */
} rg__sweep;

/* What the drawing knows about a graph's reverse sweeps. The sweep records on every gradient
 * node the step that built it and, on the accumulated gradient of each node it visits, which
 * node that was (rg_node_grad_of). A gradient passed through unchanged (the two inputs of an
 * add receive the add's own gradient node) is recorded once, for the add; the analysis
 * replays the sweep's visiting order to find such shared gradients and which node each step
 * differentiated. */
typedef struct rg__dot_info {
    size_t n;           /* nodes */
    int nsweeps;
    rg__sweep *sweeps;
    int32_t *sweep_of;  /* per node: index of its sweep, -1 for forward nodes */

    /* for the selected sweep (`sel`, -1 if none) */
    int sel;
    const rg_node **grad;   /* per node: its gradient node, or NULL */
    uint8_t *shared;        /* per node: grad[] is shared with the consumer it came through */
    int32_t *vjp_step;      /* per node: the step applying its VJP, 0 if none */
    int32_t *known_step;    /* per node: the step after which grad[] is complete */
    const rg_node **step_node; /* per step 1..nsteps: the node differentiated */
} rg__dot_info;

/* Analyses g; `sweep` is 1-based (0 or out of range: no selected sweep). The info's arrays
 * come from the graph's allocator. */
rg_status rg__dot_analyse(const rg_graph *g, int sweep, rg__dot_info *info);
void rg__dot_info_free(const rg_graph *g, rg__dot_info *info);

/* Runs write(g, f, ctx) into a temporary file next to `path`, then renames it over `path`.
 * Errors (the write's, or the file system's) are recorded on g. */
typedef rg_status (*rg__dot_writer)(rg_graph *g, FILE *f, const void *ctx);
rg_status rg__dot_atomic(rg_graph *g, const char *path, rg__dot_writer write, const void *ctx);

/* The cgraph graph of a drawing (an Agraph_t *), built by dot.c and released with
 * rg__dot_graph_close(); render.c hands it to libgvc. NULL with the error recorded on g. */
void *rg__dot_graph(rg_graph *g, const rg_dot_opts *opts);
void rg__dot_graph_close(void *agraph);

/* libcgraph and libgvc are not thread-safe (agwrite keeps its indentation level and port
 * symbols in static variables; the error level and callback are process-wide), so all use of
 * Graphviz in the process, from rg__dot_graph() to rg__dot_graph_close(), holds this lock. */
void rg__graphviz_lock(void);
void rg__graphviz_unlock(void);

/* ---- text (dot_label.c) ---- */

/* A growable string in the graph's allocator; after a failed allocation it stops growing and
 * oom is set. */
typedef struct rg__sb {
    rg_graph *g;
    char *s;
    size_t len, cap;
    bool oom;
} rg__sb;

void rg__sb_init(rg__sb *b, rg_graph *g);
void rg__sb_free(rg__sb *b);
void rg__sb_add(rg__sb *b, const char *s, size_t n);
void rg__sb_str(rg__sb *b, const char *s);
void rg__sb_printf(rg__sb *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
const char *rg__sb_get(const rg__sb *b); /* "" when empty */
/* Appends text escaped for a Graphviz HTML label (also repairs invalid UTF-8). */
void rg__sb_html(rg__sb *b, const char *text);

/* The node's name, or "#id" for an unnamed node (escaped). */
void rg__dot_node_name(rg__sb *b, const rg_node *n);
/* "dL/dx" for the gradient of x. L always stands for the output of the sweep, whatever its
 * name (the sweep's box says which node it is), so every picture uses the lecture's notation. */
void rg__dot_grad_name(rg__sb *b, const rg_node *x);
/* The op's name with the attributes that change its meaning ("sum(axis=1)", "fill 0",
 * "matmul(A^T, B)"). */
void rg__dot_op_text(rg__sb *b, const rg_node *n);
/* The shape as "[3,4]", or "scalar". */
void rg__dot_shape_text(rg__sb *b, const rg_node *n);
/* True for ops whose inputs' order matters (edges then carry the input's position). */
bool rg__dot_ordered(const rg_node *n);

/* A node's value as far as the drawing can trust it. */
typedef struct rg__value {
    const rg_node *node;
    bool ok;   /* there is a value to show */
    bool fill; /* the value is the fill attribute */
    int64_t nan, inf;
} rg__value;

/* Fills v; returns v->ok. Leaves show their buffers, fills their value; other ops only when
 * the graph keeps values (their buffers are otherwise shared with later nodes). */
bool rg__dot_value(const rg_node *n, rg__value *v);
double rg__dot_get(const rg__value *v, int64_t i);
/* The value: a scalar in `precision` digits; a tensor of at most max_inline elements in full,
 * one row per line; a larger one as min, mean, max and L2 norm. Lines are joined with br. */
void rg__dot_value_text(rg__sb *b, const rg__value *v, int precision, int max_inline,
                        const char *br);

/* ---- what a drawing shows (dot_label.c) ---- */

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

enum { RG__HIDDEN = 0, RG__SHOWN = 1, RG__FADED = 2 };

/* The drawing's decisions, independent of Graphviz. */
typedef struct rg__dot_view {
    rg_graph *g;
    const rg_dot_opts *o;
    rg__dot_info info;
    uint8_t *draw;       /* per node id: RG__HIDDEN, RG__SHOWN, or RG__FADED (context for the
                            backward part) */
    uint8_t *path;       /* per node id: on the highlighted path */
    int32_t *alias;      /* per node id: next node sharing the same gradient node (-1 ends) */
    int32_t *alias_head; /* per gradient node id: first node that shares it (-1: none) */
    bool frames;         /* drawing one frame of the selected sweep */
    int last;            /* last frame of the selected sweep */
} rg__dot_view;

/* Fills draw, path and the alias lists from the options and the analysis. */
void rg__dot_choose(rg__dot_view *v);
/* A gradient node a frame does not show yet (or one of a later sweep). */
bool rg__dot_invisible(const rg__dot_view *v, const rg_node *n);
/* In a frame: the selected sweep has not completed x's gradient yet. */
bool rg__dot_unknown_yet(const rg__dot_view *v, size_t x);
/* The HTML label of node n; *bad is set when its value holds a NaN or an infinity. */
void rg__dot_label(const rg__dot_view *v, const rg_node *n, rg__sb *l, bool *bad);

#endif
