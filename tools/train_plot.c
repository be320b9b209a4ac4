/* retrograd train --plot and --curve: the data of a finished run turned into pictures. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "svg_plot.h"
#include "train_cmd.h"

/* Grid cells along each axis of the decision-region picture: 2 pixels each on its 500-pixel
 * plot, fine enough that boundaries look smooth, 62,500 evaluations of the network. */
#define GRID 250

static void describe(const train_run *r, char *buf, size_t len)
{
    char arch[96];
    const train_opts *o = &r->o;
    int n = snprintf(buf, len, "MLP %s, %s, %lld epochs; train accuracy %.1f%%",
                     net_arch_str(&o->arch, arch, sizeof arch), rg_optim_name(o->opt),
                     (long long)(r->first_epoch + r->epochs_run),
                     100.0 * (double)r->correct_train / (double)r->train->n);
    if (r->test && n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, ", test accuracy %.1f%%",
                 100.0 * (double)r->correct_test / (double)r->test->n);
}

/* Feature j of row i as it was read, before standardisation. */
static double raw(const train_run *r, const rg_dataset *ds, int64_t i, int j)
{
    double z = ds->x[i * 2 + j];
    return r->mean ? z * r->std[j] + r->mean[j] : z;
}

/* The extent around every point, with a margin. Features of comparable spans share one
 * scale, so circles stay round; features in unrelated units (a span a hundred times the
 * other's) each get their own, or one of them would be squashed flat. */
static void extent(const train_run *r, double *x0, double *x1, double *y0, double *y1)
{
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
    const rg_dataset *sets[2] = {r->train, r->test};
    for (int s = 0; s < 2; s++)
        for (int64_t i = 0; sets[s] && i < sets[s]->n; i++)
            for (int j = 0; j < 2; j++) {
                double v = raw(r, sets[s], i, j);
                lo[j] = fmin(lo[j], v);
                hi[j] = fmax(hi[j], v);
            }
    double span[2];
    for (int j = 0; j < 2; j++)
        span[j] = hi[j] - lo[j] > 0 ? hi[j] - lo[j] : fmax(fabs(hi[j]), 1.0);
    if (fmax(span[0], span[1]) < 3 * fmin(span[0], span[1]))
        span[0] = span[1] = fmax(span[0], span[1]);
    double c[2] = {(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2};
    *x0 = c[0] - 0.58 * span[0];
    *x1 = c[0] + 0.58 * span[0];
    *y0 = c[1] - 0.58 * span[1];
    *y1 = c[1] + 0.58 * span[1];
}

/* Class and confidence of every grid cell: the softmax probability of the winning class,
 * rescaled so that a tie between all classes is 0 and certainty is 1. */
static int grid(train_run *r, regions_plot *p, int64_t *cls, double *conf)
{
    int64_t cells = (int64_t)GRID * GRID, k = r->o.arch.outputs;
    double *x = malloc((size_t)cells * 2 * sizeof *x);
    double *s = malloc((size_t)(cells * k) * sizeof *s);
    if (!x || !s) {
        free(x);
        free(s);
        return cli_fail("out of memory");
    }
    for (int j = 0; j < GRID; j++)
        for (int i = 0; i < GRID; i++) {
            int64_t c = (int64_t)j * GRID + i;
            x[2 * c] = p->x0 + (i + 0.5) * (p->x1 - p->x0) / GRID;
            x[2 * c + 1] = p->y0 + (j + 0.5) * (p->y1 - p->y0) / GRID;
            for (int d = 0; r->mean && d < 2; d++)
                x[2 * c + d] = (x[2 * c + d] - r->mean[d]) / r->std[d];
        }
    int rc = eval_scores(&r->ev, x, cells, s);
    if (rc == CLI_OK) {
        rg_argmax_rows_f64(s, cells, k, cls);
        softmax_rows(s, cells, k, s);
        double chance = 1.0 / (double)k;
        for (int64_t c = 0; c < cells; c++)
            conf[c] = (s[c * k + cls[c]] - chance) / (1.0 - chance);
    }
    free(x);
    free(s);
    return rc;
}

int train_write_plot(train_run *r, const char *path)
{
    const rg_dataset *tr = r->train, *te = r->test;
    int64_t n = tr->n + (te ? te->n : 0), cells = (int64_t)GRID * GRID;
    double *px = malloc((size_t)n * sizeof *px), *py = malloc((size_t)n * sizeof *py);
    int32_t *label = malloc((size_t)n * sizeof *label);
    int64_t *pred = malloc((size_t)n * sizeof *pred), *cls = malloc((size_t)cells * sizeof *cls);
    bool *is_test = malloc((size_t)n * sizeof *is_test);
    double *conf = malloc((size_t)cells * sizeof *conf);
    int rc = CLI_OK;
    if (!px || !py || !label || !pred || !cls || !is_test || !conf) {
        rc = cli_fail("out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        bool t = i >= tr->n;
        const rg_dataset *ds = t ? te : tr;
        int64_t k = t ? i - tr->n : i;
        px[i] = raw(r, ds, k, 0);
        py[i] = raw(r, ds, k, 1);
        label[i] = ds->labels[k];
        pred[i] = t ? r->pred_test[k] : r->pred_train[k];
        is_test[i] = t;
    }
    char title[160], sub[200];
    snprintf(title, sizeof title, "Decision regions: %s", data_display_name(r->o.data));
    describe(r, sub, sizeof sub);
    regions_plot p = {
        .title = title,
        .subtitle = sub,
        .xlabel = tr->feature_names ? tr->feature_names[0] : "x1",
        .ylabel = tr->feature_names ? tr->feature_names[1] : "x2",
        .nx = GRID,
        .ny = GRID,
        .cell_class = cls,
        .cell_conf = conf,
        .nclasses = (int)r->o.arch.outputs,
        .class_names = (const char *const *)tr->class_names,
        .npoints = n,
        .px = px,
        .py = py,
        .label = label,
        .pred = pred,
        .is_test = te ? is_test : NULL,
    };
    extent(r, &p.x0, &p.x1, &p.y0, &p.y1);
    rc = grid(r, &p, cls, conf);
    char err[TRAIN_ERRLEN];
    if (rc == CLI_OK && !svg_regions(path, &p, err, sizeof err))
        rc = cli_fail("%s", err);
done:
    free(px);
    free(py);
    free(label);
    free(pred);
    free(cls);
    free(is_test);
    free(conf);
    return rc;
}

int train_write_curve(const train_run *r, const char *path)
{
    char title[160], sub[200];
    snprintf(title, sizeof title, "Learning curves: %s", data_display_name(r->o.data));
    describe(r, sub, sizeof sub);
    curve_plot c = {
        .title = title,
        .subtitle = sub,
        .loss_label = r->o.arch.loss == RG_LOSS_MSE_ONEHOT ? "squared error (one-hot)"
                                                            : "cross-entropy loss",
        .n = r->epochs_run,
        .first_epoch = r->first_epoch,
        .loss = r->hist_loss,
        .train_acc = r->hist_acc,
        .test_acc = r->test ? r->hist_test : NULL,
    };
    char err[TRAIN_ERRLEN];
    return svg_curve(path, &c, err, sizeof err) ? CLI_OK : cli_fail("%s", err);
}
