/* The network of retrograd train and predict: building it from an architecture, model files
 * (saving with the optimiser state and training settings; loading with every check needed
 * before a parameter is used), and evaluation on a graph of its own. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train.h"

static const char *const setting_names[] = {
    "train.epochs", "train.seed", "train.batch", "train.lr", "train.momentum",
    "train.nesterov", "train.weight_decay", "train.clip", "train.schedule",
};
#define NSETTINGS (sizeof setting_names / sizeof *setting_names)

static double *setting_field(train_settings *s, size_t i)
{
    double *f[NSETTINGS] = {&s->epochs, &s->seed, &s->batch, &s->lr, &s->momentum,
                            &s->nesterov, &s->weight_decay, &s->clip, &s->schedule};
    return f[i];
}

const char *net_loss_name(rg_loss loss)
{
    return loss == RG_LOSS_MSE_ONEHOT ? "mse" : "ce";
}

char *net_arch_str(const net_arch *a, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "%lld", (long long)a->inputs);
    for (int i = 0; i < a->nhidden && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "-%lld", (long long)a->hidden[i]);
    if (n < len)
        n += (size_t)snprintf(buf + n, len - n, "-%lld", (long long)a->outputs);
    if (n < len && a->nhidden > 0)
        snprintf(buf + n, len - n, " %s", rg_activation_name(a->act));
    return buf;
}

rg_mlp *net_build(const net_arch *a, int64_t batch, uint64_t seed, rg_graph **g)
{
    *g = rg_graph_new(RG_F32);
    if (!*g) {
        cli_fail("out of memory");
        return NULL;
    }
    rg_mlp_opts o = rg_mlp_defaults();
    o.inputs = a->inputs;
    o.outputs = a->outputs;
    o.hidden = a->nhidden ? a->hidden : NULL;
    o.nhidden = a->nhidden;
    o.act = a->act;
    o.leaky_slope = a->slope;
    o.loss = a->loss;
    o.batch = batch;
    o.seed = seed;
    rg_mlp *m = rg_mlp_new(*g, &o);
    if (!m) {
        cli_fail("building the network: %s", rg_graph_errmsg(*g));
        rg_graph_free(*g);
        *g = NULL;
    }
    return m;
}

void net_free(rg_mlp *m)
{
    if (!m)
        return;
    rg_graph *g = rg_mlp_graph(m);
    rg_mlp_free(m);
    rg_graph_free(g);
}

/* ---- loading ------------------------------------------------------------------------ */

static int check_tensor(const char *path, const rg_model *model, const char *name, int ndim,
                        const int64_t *shape)
{
    const rg_model_tensor *t = rg_model_param(model, name);
    char want[64], got[64];
    if (!t)
        return cli_fail("%s: parameter '%s' is missing", path, name);
    rg_shape_str(ndim, shape, want, sizeof want);
    rg_shape_str(t->ndim, t->shape, got, sizeof got);
    if (t->ndim != ndim || memcmp(t->shape, shape, (size_t)ndim * sizeof *shape) != 0)
        return cli_fail("%s: parameter '%s' has shape %s, the architecture needs %s", path,
                        name, got, want);
    return CLI_OK;
}

int net_load_model(const char *path, rg_model **out, net_arch *arch)
{
    char err[TRAIN_ERRLEN] = "";
    *out = NULL;
    rg_model *model = NULL;
    if (rg_model_load(path, &model, err, sizeof err) != RG_OK)
        return cli_fail("%s", err);
    const rg_model_desc *d = &model->desc;
    int rc = CLI_OK;
    memset(arch, 0, sizeof *arch);
    int act = rg_activation_from_name(d->activation);
    if (d->nlayers - 1 > TRAIN_MAX_HIDDEN)
        rc = cli_fail("%s: %d layers, more than this command builds", path, d->nlayers);
    else if (act < 0)
        rc = cli_fail("%s: unknown activation '%s'", path, d->activation);
    else if (strcmp(d->loss, "ce") != 0 && strcmp(d->loss, "mse") != 0)
        rc = cli_fail("%s: unknown loss '%s' (this command trains with ce or mse)", path,
                      d->loss);
    else if (model->nclass_names != 0 && model->nclass_names != d->sizes[d->nlayers])
        rc = cli_fail("%s: %d class names for %lld outputs", path, (int)model->nclass_names,
                      (long long)d->sizes[d->nlayers]);
    if (rc != CLI_OK) {
        rg_model_free(model);
        return rc;
    }
    arch->inputs = d->sizes[0];
    arch->outputs = d->sizes[d->nlayers];
    arch->nhidden = d->nlayers - 1;
    for (int i = 0; i < arch->nhidden; i++)
        arch->hidden[i] = d->sizes[i + 1];
    arch->act = (rg_activation)act;
    arch->slope = act == RG_ACT_LEAKY_RELU ? d->act_param : 0.01;
    arch->loss = strcmp(d->loss, "mse") == 0 ? RG_LOSS_MSE_ONEHOT : RG_LOSS_CROSS_ENTROPY;
    for (int k = 1; k <= d->nlayers && rc == CLI_OK; k++) {
        char wn[16], bn[16];
        snprintf(wn, sizeof wn, "W%d", k);
        snprintf(bn, sizeof bn, "b%d", k);
        int64_t wshape[2] = {d->sizes[k - 1], d->sizes[k]};
        rc = check_tensor(path, model, wn, 2, wshape);
        if (rc == CLI_OK)
            rc = check_tensor(path, model, bn, 1, wshape + 1);
    }
    if (rc != CLI_OK) {
        rg_model_free(model);
        return rc;
    }
    *out = model;
    return CLI_OK;
}

/* Tensor values as doubles (the file may hold f32 or f64). */
static double *tensor_f64(const rg_model_tensor *t, int64_t n)
{
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v)
        return NULL;
    for (int64_t i = 0; i < n; i++)
        v[i] = t->dtype == RG_F32 ? (double)((const float *)t->data)[i]
                                  : ((const double *)t->data)[i];
    return v;
}

int net_set_params(rg_mlp *m, const rg_model *model)
{
    int np = 0;
    rg_node *const *params = rg_mlp_params(m, &np);
    for (int p = 0; p < np; p++) {
        const rg_model_tensor *t = rg_model_param(model, rg_node_name(params[p]));
        int64_t n = rg_node_size(params[p]);
        /* net_load_model() checked every shape; this guards the invariant */
        if (!t || rg_model_numel(t->ndim, t->shape) != n)
            return cli_fail("model parameter '%s' does not fit", rg_node_name(params[p]));
        double *v = tensor_f64(t, n);
        if (!v)
            return cli_fail("out of memory");
        rg_status st = rg_feed_f64(params[p], v, n);
        free(v);
        if (st != RG_OK)
            return cli_fail("setting '%s': %s", rg_node_name(params[p]),
                            rg_graph_errmsg(rg_mlp_graph(m)));
    }
    return CLI_OK;
}

bool net_settings(const rg_model *model, train_settings *s)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        const rg_model_tensor *t = rg_model_opt(model, setting_names[i]);
        if (!t || rg_model_numel(t->ndim, t->shape) != 1)
            return false;
        double v = t->dtype == RG_F32 ? (double)*(const float *)t->data
                                      : *(const double *)t->data;
        if (!isfinite(v))
            return false;
        *setting_field(s, i) = v;
    }
    return true;
}

int net_set_optim(rg_optim *o, const char *path, const rg_model *model)
{
    int n = rg_optim_state_count(o);
    bool f32 = rg_optim_dtype(o) == RG_F32;
    for (int i = 0; i < n; i++) {
        const char *name;
        void *data;
        int64_t count;
        rg_optim_state_get(o, i, &name, &data, &count, NULL);
        const rg_model_tensor *t = rg_model_opt(model, name);
        if (!t)
            continue;
        if (rg_model_numel(t->ndim, t->shape) != count)
            return cli_fail("%s: optimiser state '%s' has %lld values, the network needs %lld",
                            path, name, (long long)rg_model_numel(t->ndim, t->shape),
                            (long long)count);
        for (int64_t k = 0; k < count; k++) {
            double v = t->dtype == RG_F32 ? (double)((const float *)t->data)[k]
                                          : ((const double *)t->data)[k];
            if (f32)
                ((float *)data)[k] = (float)v;
            else
                ((double *)data)[k] = v;
        }
    }
    rg_optim_set_steps(o, model->opt_step);
    return CLI_OK;
}

/* ---- saving ------------------------------------------------------------------------- */

static int fill_model(rg_model *model, const net_save_args *a)
{
    const net_arch *arch = a->arch;
    rg_model_desc *d = &model->desc;
    d->nlayers = arch->nhidden + 1;
    d->sizes[0] = arch->inputs;
    for (int i = 0; i < arch->nhidden; i++)
        d->sizes[i + 1] = arch->hidden[i];
    d->sizes[d->nlayers] = arch->outputs;
    /* the fields are NUL-padded: the file is a function of the model alone */
    memset(d->activation, 0, sizeof d->activation);
    memset(d->loss, 0, sizeof d->loss);
    snprintf(d->activation, sizeof d->activation, "%s", rg_activation_name(arch->act));
    snprintf(d->loss, sizeof d->loss, "%s", net_loss_name(arch->loss));
    d->act_param = arch->act == RG_ACT_LEAKY_RELU ? arch->slope : 0.0;

    rg_status st = RG_OK;
    int np = 0;
    rg_node *const *params = rg_mlp_params(a->m, &np);
    for (int p = 0; p < np && st == RG_OK; p++)
        st = rg_model_add_param(model, rg_node_name(params[p]), RG_F32,
                                rg_node_ndim(params[p]), rg_node_shape(params[p]),
                                rg_node_data(params[p]));
    if (st == RG_OK && a->mean)
        st = rg_model_set_stats(model, arch->inputs, a->mean, a->std);
    if (st == RG_OK && a->classes && a->classes->class_names &&
        a->classes->nclasses == arch->outputs)
        st = rg_model_set_class_names(model, a->classes->nclasses,
                                      (const char *const *)a->classes->class_names);
    if (st == RG_OK && a->o) {
        const rg_optim *o = a->o;
        model->has_opt = true;
        memset(model->opt_name, 0, sizeof model->opt_name);
        snprintf(model->opt_name, sizeof model->opt_name, "%s",
                 rg_optim_name(rg_optim_options(o)->kind));
        model->opt_step = rg_optim_steps(o);
        for (int i = 0; i < rg_optim_state_count(o) && st == RG_OK; i++) {
            const char *name;
            void *data;
            int param;
            rg_optim_state_get(o, i, &name, &data, NULL, &param);
            st = rg_model_add_opt(model, name, rg_optim_dtype(o), rg_node_ndim(params[param]),
                                  rg_node_shape(params[param]), data);
        }
    }
    if (st == RG_OK && a->o && a->settings) {
        train_settings s = *a->settings;
        for (size_t i = 0; i < NSETTINGS && st == RG_OK; i++)
            st = rg_model_add_opt(model, setting_names[i], RG_F64, 0, NULL,
                                  setting_field(&s, i));
    }
    return st == RG_OK ? CLI_OK : cli_fail("preparing the model: %s", rg_strerror(st));
}

int net_save(const char *path, const net_save_args *a)
{
    rg_model *model = rg_model_new();
    if (!model)
        return cli_fail("out of memory");
    int rc = fill_model(model, a);
    char err[TRAIN_ERRLEN] = "";
    if (rc == CLI_OK && rg_model_save(path, model, err, sizeof err) != RG_OK)
        rc = cli_fail("%s", err);
    rg_model_free(model);
    return rc;
}

/* ---- evaluation --------------------------------------------------------------------- */

int eval_init(evaluator *ev, const net_arch *a, bool check_finite)
{
    rg_graph *g;
    ev->m = net_build(a, TRAIN_EVAL_BATCH, 1, &g);
    ev->outputs = a->outputs;
    if (!ev->m)
        return CLI_BAD_INPUT;
    rg_graph_set_check_finite(g, check_finite);
    return CLI_OK;
}

void eval_free(evaluator *ev)
{
    net_free(ev->m);
    ev->m = NULL;
}

int eval_copy_params(evaluator *ev, const rg_mlp *from)
{
    if (rg_mlp_copy_params(ev->m, from) != RG_OK)
        return cli_fail("copying parameters: %s", rg_graph_errmsg(rg_mlp_graph(ev->m)));
    return CLI_OK;
}

int eval_scores(evaluator *ev, const double *x, int64_t rows, double *scores)
{
    if (rg_mlp_scores(ev->m, x, rows, scores) != RG_OK)
        return cli_fail("evaluation: %s", rg_graph_errmsg(rg_mlp_graph(ev->m)));
    return CLI_OK;
}

int eval_predict(evaluator *ev, const rg_dataset *ds, double *scores, int64_t *pred,
                 int64_t *correct)
{
    double *own = NULL;
    if (!scores) {
        own = malloc((size_t)(ds->n * ev->outputs) * sizeof *own);
        if (!own)
            return cli_fail("out of memory");
        scores = own;
    }
    int rc = eval_scores(ev, ds->x, ds->n, scores);
    for (int64_t i = 0; rc == CLI_OK && i < ds->n * ev->outputs; i++)
        if (!isfinite(scores[i]))
            rc = cli_fail("row %lld of the data: the network's score for class %lld is %s (a "
                          "value overflowed inside it; --check-finite names the op)",
                          (long long)(i / ev->outputs + 1), (long long)(i % ev->outputs),
                          isnan(scores[i]) ? "NaN" : scores[i] > 0 ? "+inf" : "-inf");
    if (rc == CLI_OK) {
        rg_argmax_rows_f64(scores, ds->n, ev->outputs, pred);
        *correct = 0;
        for (int64_t i = 0; ds->labels && i < ds->n; i++)
            *correct += pred[i] == ds->labels[i];
    }
    free(own);
    return rc;
}
