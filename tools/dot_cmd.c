/* retrograd dot: draw the graph of a saved model. The model file becomes the same network
 * retrograd train builds (W1 b1 a1 h1 ... a_L, loss, and the gradients rg_grad() built when
 * the network was made), evaluated once, forward and backward, on one batch, so every node
 * shows its value and every parameter its gradient. The drawing options are those of
 * retrograd expr (tools/draw.c). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "draw.h"
#include "train.h"

/* The entry point of the subcommand table in retrograd.c. */
int dot_main(int argc, char **argv);

/* The largest --batch: a picture summarises big tensors anyway, and a batch this size
 * already takes a noticeable time to lay out. */
#define DOT_MAX_BATCH 4096

typedef struct dot_cmd_opts {
    const char *model, *data;
    label_spec label;
    int64_t batch;
    draw_opts draw;
} dot_cmd_opts;

static void usage(FILE *f)
{
    fputs("usage: retrograd dot --model MODEL [--batch N] [--data FILE] [--label-col N|NAME]\n"
          "                     [drawing options]\n"
          "\n"
          "Draws the graph of a model saved by 'retrograd train --save': the forward pass\n"
          "(W1 b1 a1 h1 ... aL, loss) and the backward pass that computes the gradient of\n"
          "every parameter, evaluated once on one batch so each node shows its value and\n"
          "each parameter its gradient (dL/dW1, ...).\n"
          "\n"
          "options:\n"
          "  --model MODEL       the model file\n"
          "  --batch N           rows in the batch (default 1)\n"
          "  --data FILE         take the batch from the first N rows of FILE (a CSV file, IDX\n"
          "                      files or a built-in set: spiral, moons, circles, xor),\n"
          "                      standardised with the model's statistics; without it the\n"
          "                      inputs are zeros and the labels class 0\n"
          "  --label-col N|NAME  CSV column of the labels (as for 'retrograd predict')\n"
          "  -h, --help          show this help\n"
          "\n",
          f);
    draw_usage(f);
    fputs("\n"
          "exit status: 0 success, 2 bad input (options, a damaged model file, data that\n"
          "does not fit the model, a picture that cannot be written)\n",
          f);
}

/* Returns -1 to go on, or the exit status (after --help or a bad option). */
static int parse(int argc, char **argv, dot_cmd_opts *o)
{
    memset(o, 0, sizeof *o);
    o->batch = 1;
    draw_init(&o->draw);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        char q[CLI_QUOTE_LEN];
        int rc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return CLI_OK;
        } else if (opt_is(a, "--help")) {
            return cli_fail("option '%s' takes no value", cli_quote(a, strcspn(a, "="), q));
        } else if (opt_is(a, "--model") || opt_is(a, "--data")) {
            bool model = a[2] == 'm';
            const char *name = model ? "--model" : "--data";
            if (!(v = opt_value(argc, argv, &i, name)))
                return CLI_BAD_INPUT;
            if (!*v)
                return cli_fail("%s: empty file name", name);
            *(model ? &o->model : &o->data) = v;
        } else if (opt_is(a, "--batch")) {
            if (!(v = opt_value(argc, argv, &i, "--batch")) ||
                !opt_i64("--batch", v, 1, DOT_MAX_BATCH, &o->batch))
                return CLI_BAD_INPUT;
        } else if (opt_is(a, "--label-col")) {
            if (!(v = opt_value(argc, argv, &i, "--label-col")) || !opt_label(v, &o->label))
                return CLI_BAD_INPUT;
        } else if (draw_is_option(a)) {
            if ((rc = draw_parse(&o->draw, argc, argv, &i)) != CLI_OK)
                return rc;
        } else {
            return opt_unknown("dot", a);
        }
    }
    if (!o->model)
        return cli_fail("missing --model MODEL (see 'retrograd dot --help')");
    if (!draw_wanted(&o->draw))
        return cli_fail("nothing to draw: give --dot FILE, --svg FILE, --png FILE or "
                        "--frames DIR");
    if (o->label.given && !o->data)
        return cli_fail("--label-col needs --data FILE");
    return -1;
}

/* Feeds the batch: the first rows of the data, standardised as training saw them, or zeros
 * (inputs) and class 0 (labels), which every model accepts. */
static int feed_batch(rg_mlp *m, const dot_cmd_opts *o, const rg_model *model,
                      const net_arch *arch)
{
    rg_dataset *ds = NULL;
    int rc = CLI_OK;
    int64_t b = o->batch;
    if (o->data) {
        data_req req = {
            .label = o->label,
            .features = arch->inputs,
            .class_names = model->nclass_names ? (const char *const *)model->class_names
                                               : NULL,
            .nclasses = (int32_t)arch->outputs,
        };
        if ((rc = data_load(o->data, &req, &ds)) != CLI_OK)
            return rc;
        if (model->nstats && rg_dataset_standardize(ds, model->mean, model->std) != RG_OK)
            rc = cli_fail("%s: bad standardisation statistics", o->model);
        else if (ds->n < b)
            rc = cli_fail("--batch %lld: %s has only %lld rows", (long long)b,
                          data_display_name(o->data), (long long)ds->n);
    }
    double *x = calloc((size_t)(b * arch->inputs), sizeof *x);
    double *y = calloc((size_t)b, sizeof *y);
    if (rc == CLI_OK && (!x || !y))
        rc = cli_fail("out of memory");
    if (rc == CLI_OK && ds) {
        memcpy(x, ds->x, (size_t)(b * arch->inputs) * sizeof *x);
        for (int64_t i = 0; ds->labels && i < b; i++)
            y[i] = (double)ds->labels[i];
    }
    rg_graph *g = rg_mlp_graph(m);
    if (rc == CLI_OK && (rg_feed_f64(rg_mlp_input(m), x, b * arch->inputs) != RG_OK ||
                         rg_feed_f64(rg_mlp_labels(m), y, b) != RG_OK))
        rc = cli_fail("feeding the batch: %s", rg_graph_errmsg(g));
    free(x);
    free(y);
    rg_dataset_free(ds);
    return rc;
}

int dot_main(int argc, char **argv)
{
    dot_cmd_opts o;
    int rc = parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    rg_model *model = NULL;
    rg_mlp *m = NULL;
    net_arch arch;
    if ((rc = net_load_model(o.model, &model, &arch)) != CLI_OK)
        return rc;
    rg_graph *g = NULL;
    if (!(m = net_build(&arch, o.batch, 1, &g))) {
        rc = CLI_BAD_INPUT;
        goto done;
    }
    if ((rc = net_set_params(m, model)) != CLI_OK ||
        (rc = feed_batch(m, &o, model, &arch)) != CLI_OK)
        goto done;
    /* every value kept, not only the leaves', so each op node shows its own */
    rg_graph_set_keep_values(g, true);
    /* the network's gradient nodes were built by rg_grad() when it was made; this evaluates
     * loss and gradients in one run (rg_backward() would build a second set of them) */
    if (rg_mlp_backward(m) != RG_OK) {
        rc = cli_fail("evaluating the network: %s", rg_graph_errmsg(g));
        goto done;
    }
    char title[200], a[96];
    snprintf(title, sizeof title, "retrograd dot: %s (%s, loss %s), batch %lld",
             data_display_name(o.model), net_arch_str(&arch, a, sizeof a),
             net_loss_name(arch.loss), (long long)o.batch);
    o.draw.dot_opts.title = title;
    rc = draw_write(&o.draw, g);
done:
    net_free(m);
    rg_model_free(model);
    return rc;
}
