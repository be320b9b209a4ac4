/* retrograd predict: load a model file, apply its standardisation to the data, compute the
 * scores through the same evaluation network train uses, and report accuracy and the
 * confusion matrix (labelled data) and/or write the predictions as CSV. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "outfile.h"
#include "progress.h"
#include "train.h"

typedef struct predict_opts {
    const char *model, *data, *out;
    label_spec label;
    bool json, check_finite;
} predict_opts;

static void usage(FILE *f)
{
    fputs("usage: retrograd predict --model MODEL --data FILE [--label-col N|NAME] [--json]\n"
          "                         [--out FILE.csv] [--check-finite]\n"
          "\n"
          "Classifies the rows of FILE with a model saved by 'retrograd train --save', after\n"
          "standardising them with the statistics saved in the model.\n"
          "\n"
          "options:\n"
          "  --model MODEL       the model file\n"
          "  --data FILE         a CSV file, IDX files (IMAGES.idx:LABELS.idx, or IMAGES.idx),\n"
          "                      or a built-in set (spiral, moons, circles, xor)\n"
          "  --label-col N|NAME  CSV column of the labels (index from 0, negative from the end,\n"
          "                      or header name). Without it, a CSV file with one column more\n"
          "                      than the model's features has its labels in the last column.\n"
          "  --out FILE.csv      write the predictions: a header, then per row the true label\n"
          "                      (when known), the predicted class and each class's probability\n"
          "  --json              end with one JSON line: rows, accuracy, confusion, seconds, ...\n"
          "  --check-finite      stop at the first NaN or infinity an op of the network\n"
          "                      produces, naming the op and the ranges of its inputs\n"
          "  -h, --help          show this help\n"
          "\n"
          "With labels it prints the accuracy and the confusion matrix (rows: true class,\n"
          "columns: predicted class). A row whose scores are NaN or infinite (a value\n"
          "overflowed in the network) is an error, not a prediction.\n"
          "\n"
          "exit status: 0 success, 1 the predictions could not be written, 2 bad input\n"
          "(options, data, a model that does not fit the data, a damaged model file)\n",
          f);
}

static int parse(int argc, char **argv, predict_opts *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        char q[CLI_QUOTE_LEN];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return CLI_OK;
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (strcmp(a, "--check-finite") == 0) {
            o->check_finite = true;
        } else if (opt_is(a, "--json") || opt_is(a, "--help") || opt_is(a, "--check-finite")) {
            return cli_fail("option '%s' takes no value", cli_quote(a, strcspn(a, "="), q));
        } else if (opt_is(a, "--model") || opt_is(a, "--data") || opt_is(a, "--out")) {
            const char *name = a[2] == 'm' ? "--model" : a[2] == 'd' ? "--data" : "--out";
            if (!(v = opt_value(argc, argv, &i, name)))
                return CLI_BAD_INPUT;
            if (!*v)
                return cli_fail("%s: empty file name", name);
            *(a[2] == 'm' ? &o->model : a[2] == 'd' ? &o->data : &o->out) = v;
        } else if (opt_is(a, "--label-col")) {
            if (!(v = opt_value(argc, argv, &i, "--label-col")) || !opt_label(v, &o->label))
                return CLI_BAD_INPUT;
        } else {
            return opt_unknown("predict", a);
        }
    }
    if (!o->model)
        return cli_fail("missing --model MODEL (see 'retrograd predict --help')");
    if (!o->data)
        return cli_fail("missing --data FILE (see 'retrograd predict --help')");
    return -1;
}

/* A CSV field: quoted (with "" for a quote) when it holds a delimiter, quote or newline. */
static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void class_field(FILE *f, const rg_model *model, int64_t k)
{
    if (model->nclass_names)
        csv_field(f, model->class_names[k]);
    else
        fprintf(f, "%lld", (long long)k);
}

static int write_out(const predict_opts *o, const rg_model *model, const rg_dataset *ds,
                     const int64_t *pred, const double *prob, int64_t k, bool probs)
{
    char err[TRAIN_ERRLEN];
    outfile of;
    if (!outfile_open(&of, o->out, err, sizeof err))
        return cli_fail("%s", err);
    FILE *f = of.f;
    bool labelled = ds->kind == RG_TARGET_CLASS;
    if (labelled)
        fputs("label,", f);
    fputs("predicted", f);
    for (int64_t c = 0; c < k; c++) {
        char name[300];
        if (model->nclass_names)
            snprintf(name, sizeof name, "%s_%s", probs ? "p" : "score", model->class_names[c]);
        else
            snprintf(name, sizeof name, "%s_%lld", probs ? "p" : "score", (long long)c);
        fputc(',', f);
        csv_field(f, name);
    }
    fputc('\n', f);
    for (int64_t i = 0; i < ds->n; i++) {
        if (labelled) {
            class_field(f, model, ds->labels[i]);
            fputc(',', f);
        }
        class_field(f, model, pred[i]);
        for (int64_t c = 0; c < k; c++)
            fprintf(f, ",%.6g", prob[i * k + c]);
        fputc('\n', f);
    }
    return outfile_commit(&of, err, sizeof err) ? CLI_OK : cli_fail("%s", err);
}

static void class_label(const rg_model *model, int64_t k, char *buf, size_t len)
{
    if (model->nclass_names)
        snprintf(buf, len, "%.14s", model->class_names[k]);
    else
        snprintf(buf, len, "%lld", (long long)k);
}

static void print_confusion(const rg_model *model, const int64_t *conf, int64_t k)
{
    /* columns as wide as the widest name or count */
    int w = 3;
    for (int64_t c = 0; c < k; c++) {
        char buf[32];
        class_label(model, c, buf, sizeof buf);
        if ((int)strlen(buf) > w)
            w = (int)strlen(buf);
    }
    for (int64_t i = 0; i < k * k; i++) {
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%lld", (long long)conf[i]);
        if (n > w)
            w = n;
    }
    printf("confusion matrix (rows: true class, columns: predicted class):\n%*s", w, "");
    for (int64_t c = 0; c < k; c++) {
        char buf[32];
        class_label(model, c, buf, sizeof buf);
        printf("  %*s", w, buf);
    }
    putchar('\n');
    for (int64_t r = 0; r < k; r++) {
        char buf[32];
        class_label(model, r, buf, sizeof buf);
        printf("%-*s", w, buf);
        for (int64_t c = 0; c < k; c++)
            printf("  %*lld", w, (long long)conf[r * k + c]);
        putchar('\n');
    }
}

static void print_json(const predict_opts *o, const net_arch *arch, const rg_dataset *ds,
                       int64_t correct, const int64_t *conf, double seconds)
{
    char a[96];
    int64_t k = arch->outputs;
    printf("{\"model\": ");
    json_str(stdout, data_display_name(o->model));
    printf(", \"network\": ");
    json_str(stdout, net_arch_str(arch, a, sizeof a));
    printf(", \"data\": ");
    json_str(stdout, data_display_name(o->data));
    printf(", \"rows\": %lld, \"features\": %lld, \"classes\": %lld", (long long)ds->n,
           (long long)ds->d, (long long)k);
    if (ds->kind == RG_TARGET_CLASS) {
        printf(", \"accuracy\": ");
        json_num(stdout, (double)correct / (double)ds->n);
        printf(", \"correct\": %lld, \"confusion\": [", (long long)correct);
        for (int64_t r = 0; r < k; r++) {
            printf("%s[", r ? ", " : "");
            for (int64_t c = 0; c < k; c++)
                printf("%s%lld", c ? ", " : "", (long long)conf[r * k + c]);
            putchar(']');
        }
        putchar(']');
    }
    printf(", \"seconds\": ");
    json_num(stdout, seconds);
    printf("}\n");
}

int predict_main(int argc, char **argv)
{
    predict_opts o;
    int rc = parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (o.out && (rc = out_path_check("--out", o.out)) != CLI_OK)
        return rc;
    double t0 = progress_now();
    rg_model *model = NULL;
    rg_dataset *ds = NULL;
    evaluator ev = {0};
    double *scores = NULL;
    int64_t *pred = NULL, *conf = NULL, correct = 0;
    net_arch arch;
    if ((rc = net_load_model(o.model, &model, &arch)) != CLI_OK)
        goto done;
    data_req req = {
        .label = o.label,
        .features = arch.inputs,
        .class_names = model->nclass_names ? (const char *const *)model->class_names : NULL,
        .nclasses = (int32_t)arch.outputs,
    };
    if ((rc = data_load(o.data, &req, &ds)) != CLI_OK)
        goto done;
    if (model->nstats && rg_dataset_standardize(ds, model->mean, model->std) != RG_OK) {
        rc = cli_fail("%s: bad standardisation statistics", o.model);
        goto done;
    }
    int64_t k = arch.outputs;
    scores = malloc((size_t)(ds->n * k) * sizeof *scores);
    pred = malloc((size_t)ds->n * sizeof *pred);
    conf = calloc((size_t)(k * k), sizeof *conf);
    if (!scores || !pred || !conf) {
        rc = cli_fail("out of memory");
        goto done;
    }
    if ((rc = eval_init(&ev, &arch, o.check_finite)) != CLI_OK ||
        (rc = net_set_params(ev.m, model)) != CLI_OK ||
        (rc = eval_predict(&ev, ds, scores, pred, &correct)) != CLI_OK)
        goto done;
    bool labelled = ds->kind == RG_TARGET_CLASS;
    for (int64_t i = 0; labelled && i < ds->n; i++)
        conf[ds->labels[i] * k + pred[i]]++;
    /* a model trained with squared error outputs scores, not probabilities */
    bool probs = arch.loss == RG_LOSS_CROSS_ENTROPY;
    if (probs)
        softmax_rows(scores, ds->n, k, scores);
    /* the path was checked first: a failure now is the system's, exit status 1 */
    if (o.out && write_out(&o, model, ds, pred, scores, k, probs) != CLI_OK) {
        rc = CLI_FAILED;
        goto done;
    }
    double seconds = progress_now() - t0;
    if (o.json) {
        print_json(&o, &arch, ds, correct, conf, seconds);
    } else {
        char a[96];
        printf("model: %s (%s, loss %s%s)\n", o.model, net_arch_str(&arch, a, sizeof a),
               net_loss_name(arch.loss), model->nstats ? ", standardised inputs" : "");
        printf("data: %s, %lld rows, %lld features%s\n", data_display_name(o.data),
               (long long)ds->n, (long long)ds->d, labelled ? ", labelled" : "");
        if (labelled) {
            printf("accuracy %.4f (%lld/%lld)\n", (double)correct / (double)ds->n,
                   (long long)correct, (long long)ds->n);
            print_confusion(model, conf, k);
        }
        if (o.out)
            printf("wrote predictions %s\n", o.out);
    }
    if (fflush(stdout) != 0)
        rc = cli_fail("cannot write the output");
done:
    eval_free(&ev);
    rg_model_free(model);
    rg_dataset_free(ds);
    free(scores);
    free(pred);
    free(conf);
    return rc;
}
