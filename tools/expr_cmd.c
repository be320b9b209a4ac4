/* retrograd expr: parse the options, build the program on an f64 graph, differentiate it
 * (gradients, optionally the Hessian by differentiating each gradient element again), run
 * the gradient check if asked, and print. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "draw.h"
#include "expr.h"

/* The Hessian costs one reverse sweep per element of the --wrt variables and holds N^2
 * numbers; past this many elements it is refused rather than left to run for minutes. */
#define MAX_HESSIAN 1024
/* Largest program read from standard input. */
#define MAX_STDIN (16u << 20)

void expr_usage(FILE *f)
{
    fputs("usage: retrograd expr [--at NAME=VALUE]... [--wrt NAME[,NAME...]] [--json] [--hessian]\n"
          "                      [--check] [--check-finite] [drawing options] PROGRAM\n"
          "\n"
          "Builds PROGRAM as an f64 graph, evaluates it and prints its value and its gradients\n"
          "with respect to the variables.\n"
          "\n"
          "PROGRAM is statements separated by ';' or newlines, each 'name = expression' or an\n"
          "expression; the last statement is the output. '#' starts a comment. A PROGRAM of '-'\n"
          "is read from standard input.\n"
          "\n"
          "options:\n"
          "  --at NAME=VALUE  value of variable NAME: a number or a nested list of numbers\n"
          "                   ('W=[[1,2],[3,4]]')\n"
          "  --wrt NAMES      comma-separated variables to differentiate with respect to\n"
          "                   (default: every variable given with --at, in that order)\n"
          "  --json           print one JSON object {\"value\": V, \"grad\": {\"x\": G, ...}}\n"
          "  --hessian        also print the Hessian over the elements of the --wrt variables\n"
          "  --check          also compare the gradients with central differences (exit 1 if\n"
          "                   they disagree)\n"
          "  --check-finite   stop at the first NaN or infinity an op produces, forward or\n"
          "                   backward, naming the node and its inputs' ranges (exit 1)\n"
          "  -h, --help       show this help\n"
          "\n",
          f);
    draw_usage(f);
    fputs("\n"
          "operators, loosest first: + -, then * / @ (matrix product), then unary -, then ^\n"
          "(right-associative: -x^2 is -(x^2), 2^3^2 is 2^9)\n"
          "\n"
          "functions:\n",
          f);
    expr_print_functions(f);
    fputs("\n"
          "exit status: 0 success, 1 gradient check failed or --check-finite found a NaN\n"
          "or infinity, 2 bad input\n"
          "\n"
          "example:\n"
          "  retrograd expr --at x=2 --at 'W=[[1,2],[3,4]]' 'y = x*x; sum(W*y) + sin(x)'\n",
          f);
}

typedef struct options {
    expr_var *vars;
    int nvars;
    int *wrt; /* indices into vars */
    int nwrt;
    bool wrt_given, json, hessian, check, check_finite;
    const char *program;
    draw_opts draw;
} options;

static int find_var(const options *o, const char *name, size_t len)
{
    for (int i = 0; i < o->nvars; i++)
        if (strlen(o->vars[i].name) == len && memcmp(o->vars[i].name, name, len) == 0)
            return i;
    return -1;
}

static int add_var(options *o, const char *arg)
{
    char err[EXPR_ERRLEN];
    expr_var v;
    if (!expr_var_parse(arg, &v, err, sizeof err))
        return cli_fail("%s", err);
    if (find_var(o, v.name, strlen(v.name)) >= 0) {
        int rc = cli_fail("--at: '%s' is given twice", v.name);
        expr_var_clear(&v);
        return rc;
    }
    expr_var *vars = realloc(o->vars, (size_t)(o->nvars + 1) * sizeof *vars);
    if (!vars) {
        expr_var_clear(&v);
        return cli_fail("out of memory");
    }
    o->vars = vars;
    o->vars[o->nvars++] = v;
    return CLI_OK;
}

/* The --wrt names are resolved after every --at is known; this only collects the text. */
static int add_wrt(const char ***list, int *n, const char *arg)
{
    const char **l = realloc(*list, (size_t)(*n + 1) * sizeof *l);
    if (!l)
        return cli_fail("out of memory");
    *list = l;
    l[(*n)++] = arg;
    return CLI_OK;
}

static int resolve_wrt(options *o, const char *const *lists, int nlists)
{
    if (!o->wrt_given) {
        o->wrt = malloc((size_t)(o->nvars ? o->nvars : 1) * sizeof *o->wrt);
        if (!o->wrt)
            return cli_fail("out of memory");
        for (int i = 0; i < o->nvars; i++)
            o->wrt[i] = i;
        o->nwrt = o->nvars;
        return CLI_OK;
    }
    size_t cap = 1;
    for (int i = 0; i < nlists; i++)
        cap += strlen(lists[i]) + 1;
    o->wrt = malloc(cap * sizeof *o->wrt);
    if (!o->wrt)
        return cli_fail("out of memory");
    for (int i = 0; i < nlists; i++) {
        const char *s = lists[i];
        for (;;) {
            const char *end = strchr(s, ',');
            size_t len = end ? (size_t)(end - s) : strlen(s);
            char q[CLI_QUOTE_LEN];
            if (!expr_is_name(s, len))
                return cli_fail("--wrt: '%s' is not a variable name", cli_quote(s, len, q));
            int v = find_var(o, s, len);
            if (v < 0)
                return cli_fail("--wrt: '%s' is not a variable given with --at",
                                cli_quote(s, len, q));
            for (int k = 0; k < o->nwrt; k++)
                if (o->wrt[k] == v)
                    return cli_fail("--wrt: '%s' is named twice", cli_quote(s, len, q));
            o->wrt[o->nwrt++] = v;
            if (!end)
                break;
            s = end + 1;
        }
    }
    return CLI_OK;
}

/* The value of an option: the rest of "--opt=value", or the next argument. */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
    size_t len = strlen(name);
    if (argv[*i][len] == '=')
        return argv[*i] + len + 1;
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

static bool is_option(const char *arg, const char *name)
{
    size_t len = strlen(name);
    return strncmp(arg, name, len) == 0 && (arg[len] == '\0' || arg[len] == '=');
}

/* An option is "--" and a lower-case name, alone or followed by '=' (or -h). Anything else,
 * "-x^2" or "--3" included, is the program; "--" ends the options. */
static bool looks_like_option(const char *a)
{
    if (strcmp(a, "-h") == 0 || strcmp(a, "--") == 0)
        return true;
    if (strncmp(a, "--", 2) != 0 || !islower((unsigned char)a[2]))
        return false;
    const char *p = a + 2;
    while (islower((unsigned char)*p) || *p == '-')
        p++;
    return *p == '\0' || *p == '=';
}

/* Returns -1 to go on, or an exit status. */
static int parse_args(int argc, char **argv, options *o)
{
    const char **wrt_lists = NULL;
    int nwrt_lists = 0, rc = CLI_OK;
    bool options_done = false;
    for (int i = 1; i < argc && rc == CLI_OK; i++) {
        const char *a = argv[i];
        char q[CLI_QUOTE_LEN];
        if (options_done || !looks_like_option(a)) {
            if (o->program)
                rc = cli_fail("unexpected argument '%s' (the program must be one argument: "
                              "quote it)",
                              cli_quote(a, strlen(a), q));
            o->program = a;
        } else if (strcmp(a, "--") == 0) {
            options_done = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            expr_usage(stdout);
            free(wrt_lists);
            return CLI_OK;
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (strcmp(a, "--hessian") == 0) {
            o->hessian = true;
        } else if (strcmp(a, "--check") == 0) {
            o->check = true;
        } else if (strcmp(a, "--check-finite") == 0) {
            o->check_finite = true;
        } else if (is_option(a, "--at")) {
            const char *v = option_value(argc, argv, &i, "--at");
            rc = v ? add_var(o, v) : cli_fail("--at needs NAME=VALUE");
        } else if (is_option(a, "--wrt")) {
            const char *v = option_value(argc, argv, &i, "--wrt");
            o->wrt_given = true;
            rc = v ? add_wrt(&wrt_lists, &nwrt_lists, v) : cli_fail("--wrt needs NAME[,NAME...]");
        } else if (draw_is_option(a)) {
            rc = draw_parse(&o->draw, argc, argv, &i);
        } else if (is_option(a, "--json") || is_option(a, "--hessian") ||
                   is_option(a, "--check") || is_option(a, "--check-finite") ||
                   is_option(a, "--help")) {
            rc = cli_fail("option '%s' takes no value", cli_quote(a, strcspn(a, "="), q));
        } else {
            rc = cli_fail("unknown option '%s' (see 'retrograd expr --help')",
                          cli_quote(a, strcspn(a, "="), q));
        }
    }
    if (rc == CLI_OK && !o->program)
        rc = cli_fail("missing PROGRAM (see 'retrograd expr --help')");
    if (rc == CLI_OK)
        rc = resolve_wrt(o, wrt_lists, nwrt_lists);
    free(wrt_lists);
    return rc == CLI_OK ? -1 : rc;
}

/* Reads standard input into a string; NULL (with the message printed) on a read error, a
 * program over MAX_STDIN bytes or a NUL byte, which would silently cut the program short. */
static char *read_stdin(void)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 == cap) {
            if (cap >= MAX_STDIN) {
                cli_fail("the program on standard input is larger than %u bytes", MAX_STDIN);
                free(buf);
                return NULL;
            }
            char *b = realloc(buf, 2 * cap);
            if (!b)
                break;
            buf = b;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, stdin);
        n += got;
        if (got == 0)
            break;
    }
    if (!buf || ferror(stdin)) {
        cli_fail("cannot read the program from standard input");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (strlen(buf) != n) {
        cli_fail("the program on standard input contains a NUL byte");
        free(buf);
        return NULL;
    }
    return buf;
}

/* Everything computed, kept as plain numbers before anything is printed (the gradient
 * check re-runs the graph, which may reuse the buffers of intermediate nodes). */
typedef struct results {
    rg_node *out;
    double *value;
    double **grads; /* per --wrt variable: ngrads of them */
    int ngrads;
    double *hessian; /* n_elems x n_elems, row-major */
    int64_t n_elems;
    bool scalar;
    rg_gradcheck_report check;
    bool check_ok;
} results;

static int graph_fail(const rg_graph *g, const char *what)
{
    const char *msg = rg_graph_errmsg(g);
    return cli_fail("%s: %s", what, msg && *msg ? msg : rg_strerror(rg_graph_status(g)));
}

static int read_node(rg_node *n, double **out)
{
    int64_t size = rg_node_size(n);
    *out = malloc((size_t)(size ? size : 1) * sizeof **out);
    if (!*out)
        return cli_fail("out of memory");
    if (rg_node_read_f64(n, *out) != RG_OK)
        return graph_fail(rg_node_graph(n), "reading a result");
    return CLI_OK;
}

/* Row r of the Hessian is the gradient of element r of the flattened gradient vector: each
 * gradient element is sliced out as a scalar node and differentiated again with rg_grad.
 * Fills hnodes with one node per (row, variable): row r, variable m at r * nwrt + m. */
static int build_hessian(rg_graph *g, rg_node *const *xs, rg_node *const *grads, int nwrt,
                         rg_node **hnodes)
{
    int64_t row = 0;
    for (int j = 0; j < nwrt; j++) {
        int64_t size = rg_node_size(grads[j]);
        rg_node *flat = rg_reshape(grads[j], 1, &size);
        for (int64_t k = 0; k < size; k++, row++) {
            rg_node *e = rg_reshape(rg_slice(flat, 0, k, k + 1), 0, NULL);
            if (!e)
                return graph_fail(g, "hessian");
            if (rg_grad(e, nwrt, xs, hnodes + row * nwrt) != RG_OK)
                return graph_fail(g, "hessian");
        }
    }
    return CLI_OK;
}

static int compute(rg_graph *g, const options *o, const char *src, results *r)
{
    char err[EXPR_ERRLEN] = "";
    for (int i = 0; i < o->nvars; i++) {
        expr_var *v = &o->vars[i];
        v->node = rg_param(g, v->name, v->ndim, v->shape, v->data);
        if (!v->node)
            return graph_fail(g, v->name);
    }
    r->out = expr_build(g, src, o->vars, o->nvars, err, sizeof err);
    if (!r->out)
        return cli_fail("%s", err);
    r->scalar = rg_node_ndim(r->out) == 0;
    if (!r->scalar && (o->wrt_given || o->hessian || o->check)) {
        char shape[128];
        rg_shape_str(rg_node_ndim(r->out), rg_node_shape(r->out), shape, sizeof shape);
        return cli_fail("output is not a scalar (shape %s): gradients need one; reduce it, e.g. "
                    "with sum(...)",
                    shape);
    }
    int nwrt = r->scalar ? o->nwrt : 0;
    rg_node **xs = calloc((size_t)nwrt + 1, sizeof *xs);
    rg_node **grads = calloc((size_t)nwrt + 1, sizeof *grads);
    rg_node **targets = NULL, **hnodes = NULL;
    int rc = CLI_OK;
    if (!xs || !grads) {
        rc = cli_fail("out of memory");
        goto done;
    }
    r->n_elems = 0;
    for (int i = 0; i < nwrt; i++) {
        xs[i] = o->vars[o->wrt[i]].node;
        r->n_elems += rg_node_size(xs[i]);
    }
    if (nwrt > 0 && rg_grad(r->out, nwrt, xs, grads) != RG_OK) {
        rc = graph_fail(g, "gradient");
        goto done;
    }
    int64_t nh = 0;
    if (o->hessian) {
        if (r->n_elems > MAX_HESSIAN) {
            rc = cli_fail("hessian: %lld elements to differentiate, more than the limit of %d",
                      (long long)r->n_elems, MAX_HESSIAN);
            goto done;
        }
        nh = r->n_elems * nwrt;
        hnodes = calloc((size_t)nh + 1, sizeof *hnodes);
        if (!hnodes) {
            rc = cli_fail("out of memory");
            goto done;
        }
        if ((rc = build_hessian(g, xs, grads, nwrt, hnodes)) != CLI_OK)
            goto done;
    }
    /* One evaluation for everything, so shared subexpressions are computed once. */
    int ntargets = 1 + nwrt + (int)nh;
    targets = malloc((size_t)ntargets * sizeof *targets);
    if (!targets) {
        rc = cli_fail("out of memory");
        goto done;
    }
    targets[0] = r->out;
    memcpy(targets + 1, grads, (size_t)nwrt * sizeof *grads);
    if (nh)
        memcpy(targets + 1 + nwrt, hnodes, (size_t)nh * sizeof *hnodes);
    if (draw_wanted(&o->draw))
        rg_graph_set_keep_values(g, true); /* a picture shows every node's value */
    rg_graph_set_check_finite(g, o->check_finite);
    if (rg_eval(g, ntargets, targets) != RG_OK) {
        rc = graph_fail(g, "evaluation");
        /* a NaN found by --check-finite is a finding about the program, not bad input */
        if (o->check_finite && strncmp(rg_graph_errmsg(g), "check_finite:", 13) == 0)
            rc = CLI_FAILED;
        goto done;
    }
    /* the gradient check's evaluations at x +- eps may leave the domain (sqrt near 0) on
     * purpose: anomaly mode is for the program's own evaluation */
    rg_graph_set_check_finite(g, false);
    if ((rc = read_node(r->out, &r->value)) != CLI_OK)
        goto done;
    r->grads = calloc((size_t)nwrt + 1, sizeof *r->grads);
    if (!r->grads) {
        rc = cli_fail("out of memory");
        goto done;
    }
    r->ngrads = nwrt;
    for (int i = 0; i < nwrt; i++)
        if ((rc = read_node(grads[i], &r->grads[i])) != CLI_OK)
            goto done;
    if (o->hessian) {
        int64_t n = r->n_elems;
        r->hessian = malloc((size_t)(n * n + 1) * sizeof *r->hessian);
        if (!r->hessian) {
            rc = cli_fail("out of memory");
            goto done;
        }
        for (int64_t row = 0; row < n; row++) {
            int64_t col = 0;
            for (int m = 0; m < nwrt; m++) {
                rg_node *h = hnodes[row * nwrt + m];
                if (rg_node_read_f64(h, r->hessian + row * n + col) != RG_OK) {
                    rc = graph_fail(g, "reading the hessian");
                    goto done;
                }
                col += rg_node_size(h);
            }
        }
    }
    /* drawn before the gradient check, whose evaluations leave other values in the nodes */
    if (draw_wanted(&o->draw) && (rc = draw_write(&o->draw, g)) != CLI_OK)
        goto done;
    r->check_ok = true;
    if (o->check && nwrt > 0) {
        rg_gradcheck_opts opts = rg_gradcheck_defaults();
        if (rg_gradcheck(r->out, nwrt, xs, &opts, &r->check) != RG_OK) {
            rc = graph_fail(g, "gradient check");
            goto done;
        }
        /* Near a kink a mismatch is expected and not counted (the library's convention). */
        r->check_ok = r->check.passed || r->check.nonsmooth;
    } else if (o->check) {
        r->check.passed = true;
        r->check.worst_input = -1;
    }
done:
    free(xs);
    free(grads);
    free(hnodes);
    free(targets);
    return rc;
}

static void print_text(const options *o, const results *r)
{
    printf("value: ");
    out_tensor(stdout, r->value, rg_node_ndim(r->out), rg_node_shape(r->out), false);
    putchar('\n');
    if (!r->scalar)
        return;
    for (int i = 0; i < o->nwrt; i++) {
        const expr_var *v = &o->vars[o->wrt[i]];
        printf("d/d%s: ", v->name);
        out_tensor(stdout, r->grads[i], v->ndim, v->shape, false);
        putchar('\n');
    }
    if (o->hessian) {
        int64_t shape[2] = {r->n_elems, r->n_elems};
        printf("hessian: ");
        out_tensor(stdout, r->hessian, 2, shape, false);
        putchar('\n');
    }
    if (o->check) {
        const rg_gradcheck_report *c = &r->check;
        printf("check: %s (%lld element%s, max abs error %.3g, max rel error %.3g)",
               r->check_ok ? "passed" : "FAILED", (long long)c->checked,
               c->checked == 1 ? "" : "s", c->max_abs_err, c->max_rel_err);
        if (c->nonsmooth)
            printf("; at a kink of %s, where a mismatch is not counted", c->kink_op);
        if (!r->check_ok && c->worst_input >= 0)
            printf("; worst d/d%s[%lld]: analytic %.17g, numeric %.17g",
                   o->vars[o->wrt[c->worst_input]].name, (long long)c->worst_index,
                   c->worst_analytic, c->worst_numeric);
        putchar('\n');
    }
}

static void print_json(const options *o, const results *r)
{
    printf("{\"value\": ");
    out_tensor(stdout, r->value, rg_node_ndim(r->out), rg_node_shape(r->out), true);
    if (r->scalar) {
        printf(", \"grad\": {");
        for (int i = 0; i < o->nwrt; i++) {
            const expr_var *v = &o->vars[o->wrt[i]];
            printf("%s\"%s\": ", i ? ", " : "", v->name); /* names need no escaping */
            out_tensor(stdout, r->grads[i], v->ndim, v->shape, true);
        }
        putchar('}');
    }
    if (o->hessian) {
        int64_t shape[2] = {r->n_elems, r->n_elems};
        printf(", \"hessian\": ");
        if (r->n_elems)
            out_tensor(stdout, r->hessian, 2, shape, true);
        else
            printf("[]");
    }
    if (o->check) {
        const rg_gradcheck_report *c = &r->check;
        printf(", \"check\": {\"passed\": %s, \"nonsmooth\": %s, \"checked\": %lld, "
               "\"max_abs_err\": ",
               r->check_ok ? "true" : "false", c->nonsmooth ? "true" : "false",
               (long long)c->checked);
        out_number(stdout, c->max_abs_err, true);
        printf(", \"max_rel_err\": ");
        out_number(stdout, c->max_rel_err, true);
        putchar('}');
    }
    printf("}\n");
}

/* Frees what parse_args and compute allocated, and the graph. */
static void release(options *o, results *r, rg_graph *g)
{
    for (int i = 0; i < r->ngrads; i++)
        free(r->grads[i]);
    free(r->grads);
    free(r->value);
    free(r->hessian);
    rg_graph_free(g);
    for (int i = 0; i < o->nvars; i++)
        expr_var_clear(&o->vars[i]);
    free(o->vars);
    free(o->wrt);
}

int expr_main(int argc, char **argv)
{
    options o = {0};
    results r = {0};
    rg_graph *g = NULL;
    char *stdin_text = NULL;
    draw_init(&o.draw);
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        goto done;
    const char *src = o.program;
    if (strcmp(src, "-") == 0) {
        stdin_text = read_stdin();
        if (!stdin_text) {
            rc = CLI_BAD_INPUT;
            goto done;
        }
        src = stdin_text;
    }
    g = rg_graph_new(RG_F64);
    if (!g) {
        rc = cli_fail("out of memory");
        goto done;
    }
    rc = compute(g, &o, src, &r);
    if (rc != CLI_OK)
        goto done;
    if (o.json)
        print_json(&o, &r);
    else
        print_text(&o, &r);
    if (fflush(stdout) != 0)
        rc = cli_fail("cannot write the output");
    else if (!r.check_ok)
        rc = CLI_FAILED;
done:
    release(&o, &r, g);
    free(stdin_text);
    return rc;
}

int expr_run(const char *src, int nat, const char *const *at, unsigned flags)
{
    options o = {.hessian = (flags & EXPR_RUN_HESSIAN) != 0,
                 .check = (flags & EXPR_RUN_CHECK) != 0,
                 .check_finite = (flags & EXPR_RUN_CHECK_FINITE) != 0,
                 .program = src};
    results r = {0};
    rg_graph *g = NULL;
    draw_init(&o.draw);
    int rc = CLI_OK;
    for (int i = 0; i < nat && rc == CLI_OK; i++)
        rc = add_var(&o, at[i]);
    if (rc == CLI_OK)
        rc = resolve_wrt(&o, NULL, 0);
    if (rc == CLI_OK && !(g = rg_graph_new(RG_F64)))
        rc = cli_fail("out of memory");
    if (rc == CLI_OK)
        rc = compute(g, &o, src, &r);
    if (rc == CLI_OK && !r.check_ok)
        rc = CLI_FAILED;
    release(&o, &r, g);
    return rc;
}
