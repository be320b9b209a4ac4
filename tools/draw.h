/* The drawing options shared by the subcommands that draw their graph (--dot, --svg, --png,
 * --frames and how to draw). Uses the public API only. */
#ifndef RG_TOOLS_DRAW_H
#define RG_TOOLS_DRAW_H

#include <stdbool.h>
#include <stdio.h>

#include "retrograd.h"

typedef struct draw_opts {
    const char *dot, *svg, *png; /* files to write, or NULL */
    const char *frames;          /* directory for one picture per reverse-sweep step */
    const char *highlight;       /* "A:B", resolved against the graph's node names */
    rg_dot_opts dot_opts;
} draw_opts;

void draw_init(draw_opts *d);

/* True if argv[i] is a drawing option (with or without "=VALUE"). */
bool draw_is_option(const char *arg);

/* Consumes the drawing option argv[*i] (and its value, advancing *i). Returns CLI_OK, or
 * CLI_BAD_INPUT with the message printed. */
int draw_parse(draw_opts *d, int argc, char **argv, int *i);

/* True when any picture was asked for. */
bool draw_wanted(const draw_opts *d);

/* Prints the option lines for a subcommand's --help. */
void draw_usage(FILE *f);

/* Writes every picture asked for of graph g (evaluated with rg_graph_set_keep_values(g, true)
 * so that every node shows its value). Returns CLI_OK or CLI_BAD_INPUT with the message
 * printed. */
int draw_write(const draw_opts *d, rg_graph *g);

#endif
