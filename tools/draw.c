/* Drawing options of the retrograd command: parsed here once for every subcommand that draws
 * its graph, and carried out with the library's DOT export and renderer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "draw.h"

void draw_init(draw_opts *d)
{
    memset(d, 0, sizeof *d);
    d->dot_opts = rg_dot_defaults();
}

static const char *const value_options[] = {"--dot", "--svg", "--png", "--frames", "--rankdir",
                                            "--highlight"};
static const char *const flag_options[] = {"--forward-only", "--backward-only", "--no-values",
                                           "--no-grads"};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* arg is `name` or `name=...` */
static bool matches(const char *arg, const char *name)
{
    size_t len = strlen(name);
    return strncmp(arg, name, len) == 0 && (arg[len] == '\0' || arg[len] == '=');
}

bool draw_is_option(const char *arg)
{
    for (size_t k = 0; k < COUNT(value_options); k++)
        if (matches(arg, value_options[k]))
            return true;
    for (size_t k = 0; k < COUNT(flag_options); k++)
        if (matches(arg, flag_options[k]))
            return true;
    return false;
}

int draw_parse(draw_opts *d, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    char q[CLI_QUOTE_LEN];
    for (size_t k = 0; k < COUNT(flag_options); k++) {
        if (!matches(a, flag_options[k]))
            continue;
        if (strchr(a, '='))
            return cli_fail("option '%s' takes no value", flag_options[k]);
        if (k == 0 || k == 1) {
            if (d->dot_opts.part != RG_DOT_BOTH)
                return cli_fail("--forward-only and --backward-only exclude each other");
            d->dot_opts.part = k == 0 ? RG_DOT_FORWARD : RG_DOT_BACKWARD;
        } else if (k == 2) {
            d->dot_opts.values = false;
        } else {
            d->dot_opts.grads = false;
        }
        return CLI_OK;
    }
    const char *name = NULL;
    for (size_t k = 0; k < COUNT(value_options) && !name; k++)
        if (matches(a, value_options[k]))
            name = value_options[k];
    if (!name)
        return cli_fail("unknown drawing option '%s'", cli_quote(a, strcspn(a, "="), q));
    const char *v = NULL;
    if (a[strlen(name)] == '=')
        v = a + strlen(name) + 1;
    else if (*i + 1 < argc)
        v = argv[++*i];
    if (!v || !*v)
        return cli_fail("%s needs a value", name);
    if (strcmp(name, "--dot") == 0) {
        d->dot = v;
    } else if (strcmp(name, "--svg") == 0) {
        d->svg = v;
    } else if (strcmp(name, "--png") == 0) {
        d->png = v;
    } else if (strcmp(name, "--frames") == 0) {
        d->frames = v;
    } else if (strcmp(name, "--rankdir") == 0) {
        if (strcmp(v, "LR") != 0 && strcmp(v, "TB") != 0)
            return cli_fail("--rankdir is LR (left to right) or TB (top to bottom), not '%s'",
                            cli_quote(v, strlen(v), q));
        d->dot_opts.rankdir = v;
    } else {
        const char *colon = strchr(v, ':');
        if (!colon || colon == v || !colon[1])
            return cli_fail("--highlight needs A:B, two node names (or #ids), not '%s'",
                            cli_quote(v, strlen(v), q));
        d->highlight = v;
    }
    return CLI_OK;
}

bool draw_wanted(const draw_opts *d)
{
    return d->dot || d->svg || d->png || d->frames;
}

void draw_usage(FILE *f)
{
    fputs("drawing (Graphviz; see docs/teaching.md):\n"
          "  --dot FILE        write the graph, forward and backward, in DOT\n"
          "  --svg FILE        render it to SVG\n"
          "  --png FILE        render it to PNG\n"
          "  --frames DIR      one picture per step of the reverse sweep: DIR/frame_NNN.dot,\n"
          "                    and .png when this build renders\n"
          "  --forward-only    leave out the nodes the reverse sweep built\n"
          "  --backward-only   draw the nodes the reverse sweep built\n"
          "  --no-values       leave the values out of the labels\n"
          "  --no-grads        leave the gradients out of the forward nodes' labels\n"
          "  --rankdir LR|TB   lay the graph out left to right (default) or top to bottom\n"
          "  --highlight A:B   highlight every path from node A to node B (names, or #ids)\n",
          f);
}

/* The node called `name` (the first so named), or #ID. */
static const rg_node *find_node(const rg_graph *g, const char *name, size_t len)
{
    size_t count = rg_graph_node_count(g);
    if (len > 1 && name[0] == '#') {
        char *end;
        unsigned long long id = strtoull(name + 1, &end, 10);
        if (end == name + len && id < count)
            return rg_graph_node(g, (size_t)id);
        return NULL;
    }
    for (size_t id = 0; id < count; id++) {
        const char *n = rg_node_name(rg_graph_node(g, id));
        if (n && strlen(n) == len && memcmp(n, name, len) == 0)
            return rg_graph_node(g, id);
    }
    return NULL;
}

static int graph_fail(rg_graph *g)
{
    int rc = cli_fail("%s", rg_graph_errmsg(g));
    rg_graph_clear_error(g);
    return rc;
}

static int write_frames(const draw_opts *d, rg_graph *g, const rg_dot_opts *o)
{
    if (mkdir(d->frames, 0777) != 0 && errno != EEXIST)
        return cli_fail("%s: cannot create the directory: %s", d->frames, strerror(errno));
    if (rg_dot_sweep_count(g) < o->sweep)
        return cli_fail("--frames: there is no reverse sweep to step through (the output "
                        "was not differentiated)");
    int count = 0;
    if (rg_dot_save_frames(g, d->frames, "dot", o, &count) != RG_OK)
        return graph_fail(g);
    if (rg_dot_can_render() && rg_dot_save_frames(g, d->frames, "png", o, &count) != RG_OK)
        return graph_fail(g);
    return CLI_OK;
}

int draw_write(const draw_opts *d, rg_graph *g)
{
    rg_dot_opts o = d->dot_opts;
    if (d->highlight) {
        const char *colon = strchr(d->highlight, ':');
        char q[CLI_QUOTE_LEN];
        o.from = find_node(g, d->highlight, (size_t)(colon - d->highlight));
        o.to = find_node(g, colon + 1, strlen(colon + 1));
        if (!o.from || !o.to) {
            const char *bad = o.from ? colon + 1 : d->highlight;
            size_t len = o.from ? strlen(colon + 1) : (size_t)(colon - d->highlight);
            return cli_fail("--highlight: no node is called '%s'", cli_quote(bad, len, q));
        }
    }
    if (d->dot && rg_dot_save(g, d->dot, &o) != RG_OK)
        return graph_fail(g);
    if (d->svg && rg_dot_render_file(g, d->svg, "svg", &o) != RG_OK)
        return graph_fail(g);
    if (d->png && rg_dot_render_file(g, d->png, "png", &o) != RG_OK)
        return graph_fail(g);
    if (d->frames)
        return write_frames(d, g, &o);
    return CLI_OK;
}
