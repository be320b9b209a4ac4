/* Optimisers: SGD, momentum (and Nesterov), Adam, AdamW, with L2 weight decay, global-norm
 * clipping and a learning-rate schedule. Parameters are updated in place; state is allocated
 * once, when the optimiser is made, so a step allocates nothing. */
#include "internal.h"
#include "kernels/fastmath.h"
#include "kernels/parallel.h"
#include "ops/reduce.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

struct rg_optim {
    rg_graph *g;
    rg_optim_opts opts;
    int n;
    rg_node **params;
    rg_node **grads;   /* NULL entries: rg_node_grad() of the parameter at each step */
    bool *is_weight;
    void **gdata;      /* scratch: gradient buffers of the current step */
    int *slot;         /* first state entry of parameter i, or -1 */
    int nstate;
    void **state;      /* nstate buffers of the parameter's size, graph dtype */
    char **names;
    int *owner;        /* parameter of each state entry */
    uint64_t steps;
    double last_norm;
    /* Every parameter cut into blocks of at most BLOCK elements: the unit of work of a step
     * and of the gradient norm, so the norm's rounding depends on the shapes alone. */
    struct block *blocks;
    double *partial; /* sum of squares of each block's gradient */
    int64_t nblocks;
};

struct block {
    int param;
    int64_t begin, len;
};

/* independent partial sums in sumsq(): two AVX-512 registers of doubles */
#define SUMSQ_LANES 16
/* Elements per block: 16 KiB of f32, so the update's second read of a block's gradient
 * (after its sum of squares) hits the L1 cache. */
#define BLOCK 4096
#define T float
#define FN(name) name##_f32
#define SQRT sqrtf
#include "update.inc"
#undef T
#undef FN
#undef SQRT
#define T double
#define FN(name) name##_f64
#define SQRT sqrt
#include "update.inc"
#undef T
#undef FN
#undef SQRT

/* ---- options ---- */

rg_optim_opts rg_optim_defaults(rg_optim_kind kind)
{
    rg_optim_opts o = {
        .kind = kind,
        .lr = 0.01,
        .momentum = 0.0,
        .nesterov = false,
        .beta1 = 0.9,
        .beta2 = 0.999,
        .eps = 1e-8,
        .weight_decay = 0.0,
        .decay_biases = false,
        .clip_norm = 0.0,
        .schedule = rg_schedule_defaults(),
    };
    switch (kind) {
    case RG_OPTIM_SGD:
        break;
    case RG_OPTIM_MOMENTUM:
        o.momentum = 0.9;
        break;
    case RG_OPTIM_ADAM:
        o.lr = 0.001;
        break;
    case RG_OPTIM_ADAMW:
        o.lr = 0.001;
        o.weight_decay = 0.01;
        break;
    }
    return o;
}

static const char *const optim_names[] = {"sgd", "momentum", "adam", "adamw"};

const char *rg_optim_name(rg_optim_kind kind)
{
    if ((int)kind < 0 || (size_t)kind >= sizeof optim_names / sizeof optim_names[0])
        return NULL;
    return optim_names[kind];
}

int rg_optim_from_name(const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < sizeof optim_names / sizeof optim_names[0]; i++)
        if (strcmp(name, optim_names[i]) == 0)
            return (int)i;
    return -1;
}

static bool is_adam(const rg_optim_opts *o)
{
    return o->kind == RG_OPTIM_ADAM || o->kind == RG_OPTIM_ADAMW;
}

static rg_status check_opts(rg_graph *g, const rg_optim_opts *o)
{
    if (!rg_optim_name(o->kind))
        return rg__fail(g, RG_ERR_ARG, "optim: unknown kind %d", (int)o->kind);
    if (!(o->lr >= 0.0) || !isfinite(o->lr))
        return rg__fail(g, RG_ERR_ARG, "optim: learning rate %g is not a finite value >= 0",
                        o->lr);
    if (!is_adam(o) && !(o->momentum >= 0.0 && o->momentum < 1.0))
        return rg__fail(g, RG_ERR_ARG, "optim: momentum %g is outside [0, 1)", o->momentum);
    if (!is_adam(o) && o->nesterov && o->momentum == 0.0)
        return rg__fail(g, RG_ERR_ARG, "optim: Nesterov's update needs a momentum > 0");
    if (is_adam(o) && (!(o->beta1 >= 0.0 && o->beta1 < 1.0) ||
                       !(o->beta2 >= 0.0 && o->beta2 < 1.0)))
        return rg__fail(g, RG_ERR_ARG, "optim: Adam betas (%g, %g) must lie in [0, 1)",
                        o->beta1, o->beta2);
    if (is_adam(o) && (!(o->eps >= 0.0) || !isfinite(o->eps)))
        return rg__fail(g, RG_ERR_ARG, "optim: eps %g is not a finite value >= 0", o->eps);
    if (!(o->weight_decay >= 0.0) || !isfinite(o->weight_decay))
        return rg__fail(g, RG_ERR_ARG, "optim: weight decay %g is not a finite value >= 0",
                        o->weight_decay);
    if (!(o->clip_norm >= 0.0))
        return rg__fail(g, RG_ERR_ARG, "optim: clip norm %g is negative", o->clip_norm);
    const rg_schedule *s = &o->schedule;
    if (!rg_schedule_name(s->kind))
        return rg__fail(g, RG_ERR_ARG, "optim: unknown schedule %d", (int)s->kind);
    if (s->kind == RG_SCHEDULE_STEP && (!s->step_size || !(s->gamma >= 0.0)))
        return rg__fail(g, RG_ERR_ARG, "optim: step schedule needs step_size >= 1 and "
                        "gamma >= 0");
    if (s->kind == RG_SCHEDULE_COSINE && (!s->total || !isfinite(s->min_lr)))
        return rg__fail(g, RG_ERR_ARG, "optim: cosine schedule needs total >= 1 and a "
                        "finite min_lr");
    return RG_OK;
}

static const char *param_label(const rg_node *p, char *buf, size_t len, int i)
{
    if (rg_node_name(p))
        return rg_node_name(p);
    snprintf(buf, len, "p%d", i);
    return buf;
}

static rg_status check_params(rg_graph *g, int n, rg_node *const *params, rg_node *const *grads)
{
    for (int i = 0; i < n; i++) {
        const rg_node *p = params[i];
        char buf[32];
        if (!p)
            return rg__fail(g, RG_ERR_ARG, "optim: parameter %d is NULL", i);
        if (p->g != g)
            return rg__fail(g, RG_ERR_GRAPH, "optim: parameter %d belongs to another graph", i);
        if (p->kind != RG_KIND_PARAM)
            return rg__fail(g, RG_ERR_ARG, "optim: node '%s' is a %s, not a parameter",
                            param_label(p, buf, sizeof buf, i), rg_node_op_name(p));
        const rg_node *gr = grads ? grads[i] : NULL;
        if (gr && gr->g != g)
            return rg__fail(g, RG_ERR_GRAPH, "optim: gradient %d belongs to another graph", i);
        if (gr && !rg__same_shape(gr, p)) {
            char a[128], b[128];
            return rg__fail(g, RG_ERR_SHAPE, "optim: gradient of '%s' has shape %s, not %s",
                            param_label(p, buf, sizeof buf, i),
                            rg_shape_str(gr->ndim, gr->shape, a, sizeof a),
                            rg_shape_str(p->ndim, p->shape, b, sizeof b));
        }
    }
    return RG_OK;
}

/* ---- life cycle ---- */

void rg_optim_free(rg_optim *o)
{
    if (!o)
        return;
    rg_graph *g = o->g;
    for (int s = 0; s < o->nstate; s++) {
        if (o->state)
            rg__free(g, o->state[s]);
        if (o->names)
            rg__free(g, o->names[s]);
    }
    rg__free(g, o->blocks);
    rg__free(g, o->partial);
    rg__free(g, o->state);
    rg__free(g, o->names);
    rg__free(g, o->owner);
    rg__free(g, o->slot);
    rg__free(g, o->gdata);
    rg__free(g, o->is_weight);
    rg__free(g, o->grads);
    rg__free(g, o->params);
    rg__free(g, o);
}

/* State entries per parameter: Adam keeps two moments, momentum one velocity, SGD none. */
static int state_per_param(const rg_optim_opts *o)
{
    return is_adam(o) ? 2 : o->momentum > 0.0 ? 1 : 0;
}

static rg_status alloc_state(rg_optim *o)
{
    rg_graph *g = o->g;
    int per = state_per_param(&o->opts);
    static const char *const suffix[2][2] = {{".velocity", ""}, {".m", ".v"}};
    const char *const *sfx = suffix[is_adam(&o->opts)];
    o->nstate = per * o->n;
    size_t ns = o->nstate ? (size_t)o->nstate : 1;
    o->state = rg__calloc(g, ns, sizeof *o->state);
    o->names = rg__calloc(g, ns, sizeof *o->names);
    o->owner = rg__calloc(g, ns, sizeof *o->owner);
    if (!o->state || !o->names || !o->owner)
        return RG_ERR_NOMEM;
    for (int i = 0; i < o->n; i++) {
        o->slot[i] = per ? per * i : -1;
        char buf[32];
        const char *label = param_label(o->params[i], buf, sizeof buf, i);
        for (int k = 0; k < per; k++) {
            int s = per * i + k;
            size_t len = strlen(label) + strlen(sfx[k]) + 1;
            o->names[s] = rg__malloc(g, len);
            o->state[s] = rg__calloc(g, (size_t)rg_node_size(o->params[i]), g->elem);
            if (!o->names[s] || !o->state[s])
                return RG_ERR_NOMEM;
            snprintf(o->names[s], len, "%s%s", label, sfx[k]);
            o->owner[s] = i;
        }
    }
    return RG_OK;
}

static rg_status alloc_blocks(rg_optim *o)
{
    for (int i = 0; i < o->n; i++)
        o->nblocks += (rg_node_size(o->params[i]) + BLOCK - 1) / BLOCK;
    size_t nb = o->nblocks ? (size_t)o->nblocks : 1;
    o->blocks = rg__calloc(o->g, nb, sizeof *o->blocks);
    o->partial = rg__calloc(o->g, nb, sizeof *o->partial);
    if (!o->blocks || !o->partial)
        return RG_ERR_NOMEM;
    int64_t k = 0;
    for (int i = 0; i < o->n; i++)
        for (int64_t b = 0, size = rg_node_size(o->params[i]); b < size; b += BLOCK)
            o->blocks[k++] = (struct block){i, b, size - b < BLOCK ? size - b : BLOCK};
    return RG_OK;
}

rg_optim *rg_optim_new(const rg_optim_opts *opts, int n, rg_node *const *params,
                       rg_node *const *grads, const bool *is_weight)
{
    if (n < 1 || !params || !params[0])
        return NULL;
    rg_graph *g = params[0]->g;
    if (!opts) {
        rg__fail(g, RG_ERR_ARG, "optim: no options given");
        return NULL;
    }
    if (check_opts(g, opts) != RG_OK || check_params(g, n, params, grads) != RG_OK)
        return NULL;
    rg_optim *o = rg__calloc(g, 1, sizeof *o);
    if (!o) {
        rg__fail(g, RG_ERR_NOMEM, "optim: out of memory");
        return NULL;
    }
    o->g = g;
    o->opts = *opts;
    o->n = n;
    o->last_norm = NAN;
    o->params = rg__calloc(g, (size_t)n, sizeof *o->params);
    o->grads = rg__calloc(g, (size_t)n, sizeof *o->grads);
    o->is_weight = rg__calloc(g, (size_t)n, sizeof *o->is_weight);
    o->gdata = rg__calloc(g, (size_t)n, sizeof *o->gdata);
    o->slot = rg__calloc(g, (size_t)n, sizeof *o->slot);
    if (!o->params || !o->grads || !o->is_weight || !o->gdata || !o->slot)
        goto nomem;
    for (int i = 0; i < n; i++) {
        o->params[i] = params[i];
        o->grads[i] = grads ? grads[i] : NULL;
        o->is_weight[i] = is_weight ? is_weight[i] : true;
    }
    if (alloc_state(o) != RG_OK || alloc_blocks(o) != RG_OK)
        goto nomem;
    return o;

nomem:
    rg_optim_free(o);
    rg__fail(g, RG_ERR_NOMEM, "optim: out of memory for the state of %d parameters", n);
    return NULL;
}

/* ---- the step ---- */

/* x^k by repeated squaring: the same rounding on every machine, unlike pow(). */
static double ipow(double x, uint64_t k)
{
    double r = 1.0;
    while (k) {
        if (k & 1)
            r *= x;
        x *= x;
        k >>= 1;
    }
    return r;
}

/* A step as a job for the thread pool: blocks [b, e) of the optimiser. Pass NORM stores each
 * block's sum of squares, pass UPDATE updates its elements, and pass BOTH does the two on a
 * block while it is in the cache (when clipping is off, the norm does not change the update).
 * Each element's update reads only that element, and each block's sum only that block, so
 * any split gives the same bits. */
enum pass { PASS_NORM = 1, PASS_UPDATE = 2, PASS_BOTH = 3 };

struct step_job {
    const rg_optim *o;
    enum pass pass;
    double lr, scale, bc1, bc2;
};

static void step_range(void *ctx, int64_t b, int64_t e)
{
    const struct step_job *j = ctx;
    const rg_optim *o = j->o;
    const bool f32 = o->g->dtype == RG_F32;
    for (int64_t k = b; k < e; k++) {
        const struct block *bl = &o->blocks[k];
        const int i = bl->param;
        const size_t off = (size_t)bl->begin * o->g->elem;
        const unsigned char *gd = (const unsigned char *)o->gdata[i] + off;
        if (j->pass & PASS_NORM)
            o->partial[k] = f32 ? sumsq_f32((const float *)gd, bl->len)
                                : sumsq_f64((const double *)gd, bl->len);
        if (!(j->pass & PASS_UPDATE))
            continue;
        const double lambda = o->is_weight[i] || o->opts.decay_biases ? o->opts.weight_decay : 0.0;
        unsigned char *w = (unsigned char *)rg_node_data(o->params[i]) + off;
        if (f32)
            update_f32(o, i, bl->begin, bl->len, (float *)w, (const float *)gd, j->lr, j->scale,
                       lambda, j->bc1, j->bc2);
        else
            update_f64(o, i, bl->begin, bl->len, (double *)w, (const double *)gd, j->lr,
                       j->scale, lambda, j->bc1, j->bc2);
    }
}

/* Blocks per part of a split: about RG__PAR_MIN / 2 elements, as for elementwise kernels. */
static void run_pass(struct step_job *job, enum pass pass)
{
    job->pass = pass;
    rg__parallel_for(job->o->nblocks, RG__PAR_MIN / 2 / BLOCK, 1, step_range, job);
}

/* The norm from the blocks' sums, added in block order as the sum kernel adds its blocks. */
static double blocks_norm(const rg_optim *o)
{
    return sqrt(rg__sum_partials(o->partial, o->nblocks));
}

static double sumsq(const rg_graph *g, const void *data, int64_t n)
{
    return g->dtype == RG_F32 ? sumsq_f32(data, n) : sumsq_f64(data, n);
}

rg_status rg_optim_step(rg_optim *o)
{
    if (!o)
        return RG_ERR_ARG;
    rg_graph *g = o->g;
    /* gather every gradient first, so a missing one leaves all parameters untouched */
    for (int i = 0; i < o->n; i++) {
        rg_node *p = o->params[i];
        const rg_node *gr = o->grads[i] ? o->grads[i] : rg_node_grad(p);
        char buf[32];
        if (!gr || !rg_node_data(gr))
            return rg__fail(g, RG_ERR_NOT_EVALUATED,
                            "optim: the gradient of '%s' has not been evaluated",
                            param_label(p, buf, sizeof buf, i));
        if (!rg__same_shape(gr, p))
            return rg__fail(g, RG_ERR_SHAPE, "optim: the gradient of '%s' has the wrong shape",
                            param_label(p, buf, sizeof buf, i));
        o->gdata[i] = rg_node_data(gr);
    }
    struct step_job job = {.o = o, .lr = rg_optim_lr(o), .scale = 1.0, .bc1 = 1.0, .bc2 = 1.0};
    if (is_adam(&o->opts)) {
        /* Adam's moments start at zero, so early averages are biased towards it by the
         * factor 1 - beta^t; dividing by it removes the bias. */
        job.bc1 = 1.0 - ipow(o->opts.beta1, o->steps + 1);
        job.bc2 = 1.0 - ipow(o->opts.beta2, o->steps + 1);
    }
    if (o->opts.clip_norm > 0.0) {
        /* clipping rescales the gradient as a whole: its direction is kept, only a step that
         * would be too long is shortened. A NaN norm clips nothing (the NaN shows in the
         * loss). */
        run_pass(&job, PASS_NORM);
        o->last_norm = blocks_norm(o);
        if (o->last_norm > o->opts.clip_norm)
            job.scale = o->opts.clip_norm / o->last_norm;
        run_pass(&job, PASS_UPDATE);
    } else {
        run_pass(&job, PASS_BOTH);
        o->last_norm = blocks_norm(o);
    }
    o->steps++;
    return RG_OK;
}

/* ---- clipping without an optimiser ---- */

double rg_clip_grad_norm(int n, rg_node *const *grads, double max_norm)
{
    if (n < 0 || (n > 0 && !grads))
        return NAN;
    double ss = 0.0;
    for (int i = 0; i < n; i++) {
        if (!grads[i] || !rg_node_data(grads[i]))
            return NAN;
        ss += sumsq(grads[i]->g, rg_node_data(grads[i]), grads[i]->size);
    }
    double norm = sqrt(ss);
    if (max_norm > 0.0 && norm > max_norm) {
        double f = max_norm / norm;
        for (int i = 0; i < n; i++) {
            if (grads[i]->g->dtype == RG_F32)
                scale_f32(rg_node_data(grads[i]), grads[i]->size, f);
            else
                scale_f64(rg_node_data(grads[i]), grads[i]->size, f);
        }
    }
    return norm;
}

/* ---- state ---- */

const rg_optim_opts *rg_optim_options(const rg_optim *o)
{
    return o ? &o->opts : NULL;
}

double rg_optim_lr(const rg_optim *o)
{
    return o ? rg_schedule_lr(&o->opts.schedule, o->opts.lr, o->steps) : NAN;
}

void rg_optim_set_lr(rg_optim *o, double lr)
{
    if (o)
        o->opts.lr = lr;
}

double rg_optim_last_grad_norm(const rg_optim *o)
{
    return o ? o->last_norm : NAN;
}

uint64_t rg_optim_steps(const rg_optim *o)
{
    return o ? o->steps : 0;
}

void rg_optim_set_steps(rg_optim *o, uint64_t steps)
{
    if (o)
        o->steps = steps;
}

int rg_optim_state_count(const rg_optim *o)
{
    return o ? o->nstate : 0;
}

rg_status rg_optim_state_get(const rg_optim *o, int i, const char **name, void **data,
                             int64_t *count, int *param)
{
    if (!o || i < 0 || i >= o->nstate)
        return RG_ERR_ARG;
    if (name)
        *name = o->names[i];
    if (data)
        *data = o->state[i];
    if (count)
        *count = rg_node_size(o->params[o->owner[i]]);
    if (param)
        *param = o->owner[i];
    return RG_OK;
}

rg_dtype rg_optim_dtype(const rg_optim *o)
{
    return o ? o->g->dtype : RG_F32;
}

void rg_optim_reset(rg_optim *o)
{
    if (!o)
        return;
    for (int s = 0; s < o->nstate; s++)
        memset(o->state[s], 0, (size_t)rg_node_size(o->params[o->owner[s]]) * o->g->elem);
    o->steps = 0;
    o->last_norm = NAN;
}
