/*
 * retrograd/dot.h: drawing graphs with Graphviz, for teaching and debugging.
 *
 * The whole graph is drawn, forward and backward: one DOT node per graph node, whose DOT id is
 * the node's creation index (so two drawings of the same construction diff cleanly). Each
 * node shows its name, op, shape and, once evaluated, its value; a forward node also shows its
 * gradient (dL/dx = ...) where a reverse sweep computed one. Inputs, parameters, constants,
 * ops and gradient nodes differ in shape and colour, explained by a legend. Gradient nodes
 * (built by rg_grad()/rg_backward()) sit in a box per reverse sweep, carry the sweep step that
 * built them, and are tied by a dashed edge labelled dL/dx to the forward node x whose gradient
 * they are. Values holding a NaN or an infinity are drawn in red.
 *
 * Values: leaves always show theirs. An op node's buffer may have been reused by another node
 * unless the graph keeps values, so op values are shown only when rg_graph_keep_values() is on:
 * call rg_graph_set_keep_values(g, true) before rg_eval()/rg_backward() to draw every value.
 *
 * The export goes through libcgraph; rendering to SVG or PNG goes through libgvc. A build
 * without them returns RG_ERR_UNSUPPORTED from the functions that need them, with a message
 * on the graph saying what to do instead. Errors are recorded on the graph as for every call
 * (rg_graph_status(), rg_graph_errmsg(); rg_graph_clear_error() forgets them).
 *
 * Threads: Graphviz is not thread-safe (agwrite keeps state in static variables), so every
 * function here holds one process-wide lock while it uses Graphviz: drawings of separate
 * graphs from several threads are correct, and take turns.
 */
#ifndef RETROGRAD_DOT_H
#define RETROGRAD_DOT_H

#include <stdbool.h>
#include <stdio.h>

#include "retrograd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which nodes are drawn. */
typedef enum rg_dot_part {
    RG_DOT_BOTH,     /* every node */
    RG_DOT_FORWARD,  /* only nodes not built by a reverse sweep */
    RG_DOT_BACKWARD  /* only gradient nodes, plus (faded) the forward nodes they read or are
                        the gradients of */
} rg_dot_part;

typedef struct rg_dot_opts {
    rg_dot_part part;    /* default RG_DOT_BOTH */
    bool values;         /* show values; default true */
    bool grads;          /* show each forward node's gradient in its label; default true */
    bool legend;         /* draw the legend; default true */
    bool clusters;       /* box the forward pass and each reverse sweep; default true */
    const char *rankdir; /* Graphviz rank direction: "LR" (default), "TB", "RL" or "BT" */
    int precision;       /* significant digits of scalars (default 6; tensor entries and
                            summaries use at most 4) */
    int max_inline;      /* tensors of at most this many elements are printed in full
                            (default 16); larger ones as min, mean, max and L2 norm */
    const rg_node *from; /* with `to`: highlight every path from `from` to `to` */
    const rg_node *to;
    int sweep;           /* the reverse sweep (1 = first built, the default) whose gradients
                            forward nodes show and whose steps frames follow */
    int frame;           /* -1 (default): the whole picture. k >= 0: frame k of that sweep:
                            gradient nodes built after step k are hidden (the layout does not
                            move), the node whose VJP step k applies and the gradient nodes it
                            builds are highlighted. Frame 0 is the forward pass alone. */
    const char *title;   /* label of the whole picture, or NULL */
} rg_dot_opts;

rg_dot_opts rg_dot_defaults(void);

/* Writes graph g in DOT to f. NULL opts means the defaults. */
rg_status rg_dot_write(rg_graph *g, FILE *f, const rg_dot_opts *opts);

/* Writes the DOT to `path` atomically: to a temporary file in the same directory, then
 * renamed over `path`, so a reader never sees a half-written file. */
rg_status rg_dot_save(rg_graph *g, const char *path, const rg_dot_opts *opts);

/* True when this build renders in-process (it was built with libgvc). */
bool rg_dot_can_render(void);

/* Lays the graph out with Graphviz's dot and renders it in `format` ("svg", "png", or any
 * format the installed Graphviz plugins know) to f. Without libgvc: RG_ERR_UNSUPPORTED.
 * Graphviz is not reentrant: the process keeps one Graphviz context, made on the first
 * render, and renders from several threads take turns (with DOT export too). */
rg_status rg_dot_render(rg_graph *g, FILE *f, const char *format, const rg_dot_opts *opts);

/* As rg_dot_render() to `path`, atomically. A NULL format is taken from the path's extension
 * (".svg", ".png"). */
rg_status rg_dot_render_file(rg_graph *g, const char *path, const char *format,
                             const rg_dot_opts *opts);

/* Number of reverse sweeps (rg_grad/rg_vjp/rg_backward calls that built nodes) in g. */
int rg_dot_sweep_count(const rg_graph *g);

/* Number of frames of sweep `sweep` (1-based): its steps plus frame 0, or 0 if there is no
 * such sweep. */
int rg_dot_frame_count(const rg_graph *g, int sweep);

/* The forward node whose VJP step `step` (>= 1) of sweep `sweep` applies, or NULL (no such
 * step, or the step that builds the exact zeros of inputs the output does not depend on). */
const rg_node *rg_dot_step_node(const rg_graph *g, int sweep, int step);

/* Writes every frame of sweep opts->sweep into directory `dir` (which must exist) as
 * frame_000.EXT, frame_001.EXT, ..., where EXT is `format` ("dot", "svg" or "png"; "svg" and
 * "png" need libgvc). The count written goes to *count when count is not NULL. */
rg_status rg_dot_save_frames(rg_graph *g, const char *dir, const char *format,
                             const rg_dot_opts *opts, int *count);

#ifdef __cplusplus
}
#endif
#endif /* RETROGRAD_DOT_H */
