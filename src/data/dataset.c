/* Data sets: creation, subsets, shuffling, splitting, standardisation, mini-batches. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"
#include "internal.h"

void rg__errf(char *err, size_t len, const char *fmt, ...)
{
    if (!err || len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

void rg__quote(char *out, size_t cap, const char *text, size_t n)
{
    size_t o = 0;
    size_t shown = n > 40 ? 40 : n;
    if (cap == 0)
        return;
    for (size_t i = 0; i < shown && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c >= 0x20 && c < 0x7F) {
            out[o++] = (char)c;
        } else {
            snprintf(out + o, cap - o, "\\x%02X", c);
            o += 4;
        }
    }
    if (shown < n && o + 4 < cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

static char *dup_str(const char *s)
{
    if (!s)
        return NULL;
    return rg__mem_strndup(s, strlen(s));
}

static void free_names(char **names, int64_t n)
{
    if (!names)
        return;
    for (int64_t i = 0; i < n; i++)
        rg__mem_free(names[i]);
    rg__mem_free(names);
}

/* Copies n names (NULL stays NULL); false when memory runs out. */
static bool copy_names(char ***dst, char *const *src, int64_t n)
{
    *dst = NULL;
    if (!src)
        return true;
    char **d = rg__mem_calloc((size_t)(n ? n : 1), sizeof(char *));
    if (!d)
        return false;
    for (int64_t i = 0; i < n; i++) {
        if (src[i] && !(d[i] = dup_str(src[i]))) {
            free_names(d, n);
            return false;
        }
    }
    *dst = d;
    return true;
}

rg_dataset *rg_dataset_new(int64_t n, int64_t d, rg_target_kind kind, int32_t nclasses)
{
    if (n < 0 || d < 0 || (kind == RG_TARGET_CLASS && nclasses < 1) ||
        (kind != RG_TARGET_CLASS && kind != RG_TARGET_REAL && kind != RG_TARGET_NONE))
        return NULL;
    if (d > 0 && n > (int64_t)(SIZE_MAX / sizeof(double)) / d)
        return NULL;
    rg_dataset *ds = rg__mem_calloc(1, sizeof *ds);
    if (!ds)
        return NULL;
    ds->n = n;
    ds->d = d;
    ds->kind = kind;
    /* one element at least, so an empty set still has valid pointers */
    ds->x = rg__mem_calloc(n * d > 0 ? (size_t)(n * d) : 1, sizeof(double));
    bool ok = ds->x != NULL;
    if (kind == RG_TARGET_CLASS) {
        ds->nclasses = nclasses;
        ds->labels = rg__mem_calloc((size_t)(n ? n : 1), sizeof(int32_t));
        ok = ok && ds->labels;
    } else if (kind == RG_TARGET_REAL) {
        ds->targets = rg__mem_calloc((size_t)(n ? n : 1), sizeof(double));
        ok = ok && ds->targets;
    }
    if (!ok) {
        rg_dataset_free(ds);
        return NULL;
    }
    return ds;
}

void rg_dataset_free(rg_dataset *ds)
{
    if (!ds)
        return;
    rg__mem_free(ds->x);
    rg__mem_free(ds->labels);
    rg__mem_free(ds->targets);
    free_names(ds->class_names, ds->nclasses);
    free_names(ds->feature_names, ds->d);
    rg__mem_free(ds->target_name);
    rg__mem_free(ds);
}

rg_dataset *rg_dataset_subset(const rg_dataset *ds, const int64_t *idx, int64_t m)
{
    if (!ds || m < 0 || (m > 0 && !idx))
        return NULL;
    for (int64_t i = 0; i < m; i++)
        if (idx[i] < 0 || idx[i] >= ds->n)
            return NULL;
    rg_dataset *out = rg_dataset_new(m, ds->d, ds->kind, ds->nclasses);
    if (!out)
        return NULL;
    for (int64_t i = 0; i < m; i++) {
        int64_t r = idx[i];
        if (ds->d > 0)
            memcpy(out->x + i * ds->d, ds->x + r * ds->d, sizeof(double) * (size_t)ds->d);
        if (ds->labels)
            out->labels[i] = ds->labels[r];
        if (ds->targets)
            out->targets[i] = ds->targets[r];
    }
    if (!copy_names(&out->class_names, ds->class_names, ds->nclasses) ||
        !copy_names(&out->feature_names, ds->feature_names, ds->d) ||
        (ds->target_name && !(out->target_name = dup_str(ds->target_name)))) {
        rg_dataset_free(out);
        return NULL;
    }
    return out;
}

rg_status rg_dataset_class_counts(const rg_dataset *ds, int64_t *counts)
{
    if (!ds || !counts || ds->kind != RG_TARGET_CLASS)
        return RG_ERR_ARG;
    memset(counts, 0, sizeof(int64_t) * (size_t)ds->nclasses);
    for (int64_t i = 0; i < ds->n; i++) {
        if (ds->labels[i] < 0 || ds->labels[i] >= ds->nclasses)
            return RG_ERR_DOMAIN;
        counts[ds->labels[i]]++;
    }
    return RG_OK;
}

/* A generator for stream k of a seed: k is mixed in, so nearby (seed, k) pairs give
 * unrelated streams. */
static void seed_stream(rg_rng *r, uint64_t seed, uint64_t k)
{
    uint64_t x = seed ^ (k * 0xD1B54A32D192ED03ull);
    rg_rng_seed(r, rg__splitmix64(&x));
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

rg_status rg_dataset_split(const rg_dataset *ds, double test_fraction, uint64_t seed,
                           rg_dataset **train, rg_dataset **test)
{
    if (train)
        *train = NULL;
    if (test)
        *test = NULL;
    if (!ds || !train || !test || !(test_fraction >= 0.0 && test_fraction < 1.0))
        return RG_ERR_ARG;
    int64_t ntest = (int64_t)llround(test_fraction * (double)ds->n);
    int64_t ntrain = ds->n - ntest;
    if (ntrain < 1)
        return RG_ERR_ARG;
    int64_t *idx = rg__mem_malloc(sizeof(int64_t) * (size_t)ds->n);
    if (!idx)
        return RG_ERR_NOMEM;
    for (int64_t i = 0; i < ds->n; i++)
        idx[i] = i;
    rg_rng r;
    seed_stream(&r, seed, 0);
    rg_rng_shuffle(&r, idx, ds->n);
    /* each part keeps the file order, so a split of sorted data is still easy to read */
    qsort(idx, (size_t)ntest, sizeof(int64_t), cmp_i64);
    qsort(idx + ntest, (size_t)ntrain, sizeof(int64_t), cmp_i64);
    *test = rg_dataset_subset(ds, idx, ntest);
    *train = rg_dataset_subset(ds, idx + ntest, ntrain);
    rg__mem_free(idx);
    if (!*test || !*train) {
        rg_dataset_free(*test);
        rg_dataset_free(*train);
        *test = *train = NULL;
        return RG_ERR_NOMEM;
    }
    return RG_OK;
}

rg_status rg_dataset_stats(const rg_dataset *ds, double *mean, double *std)
{
    if (!ds || !mean || !std || ds->n < 1)
        return RG_ERR_ARG;
    int64_t n = ds->n, d = ds->d;
    /* two passes (mean, then squared deviations): the one-pass sum of squares loses every
     * digit when the mean is large compared with the spread */
    for (int64_t j = 0; j < d; j++) {
        double s = 0.0;
        for (int64_t i = 0; i < n; i++)
            s += ds->x[i * d + j];
        mean[j] = s / (double)n;
    }
    for (int64_t j = 0; j < d; j++) {
        double s = 0.0;
        for (int64_t i = 0; i < n; i++) {
            double t = ds->x[i * d + j] - mean[j];
            s += t * t;
        }
        double sd = sqrt(s / (double)n);
        /* a spread at rounding level of the values is a constant feature: scale by 1 so it
         * standardises to 0 instead of amplifying rounding noise (or dividing by zero) */
        if (!(sd > 1e-12 * fabs(mean[j])) || sd == 0.0)
            sd = 1.0;
        std[j] = sd;
    }
    return RG_OK;
}

rg_status rg_dataset_standardize(rg_dataset *ds, const double *mean, const double *std)
{
    if (!ds || !mean || !std)
        return RG_ERR_ARG;
    for (int64_t j = 0; j < ds->d; j++)
        if (!(std[j] > 0.0 && isfinite(std[j]) && isfinite(mean[j])))
            return RG_ERR_ARG;
    for (int64_t i = 0; i < ds->n; i++)
        for (int64_t j = 0; j < ds->d; j++)
            ds->x[i * ds->d + j] = (ds->x[i * ds->d + j] - mean[j]) / std[j];
    return RG_OK;
}

/* ---------------------------------------------------------------------------------------
 * Mini-batches
 * ------------------------------------------------------------------------------------- */

struct rg_batch_iter {
    const rg_dataset *ds;
    rg_batch_opts o;
    int64_t *order; /* row order of the current epoch */
    int64_t pos;    /* next position in order */
    int64_t last;   /* start of the batch last returned in order */
};

rg_batch_opts rg_batch_defaults(void)
{
    rg_batch_opts o = {.batch = 32, .shuffle = true, .drop_last = false, .seed = 1};
    return o;
}

rg_batch_iter *rg_batch_iter_new(const rg_dataset *ds, const rg_batch_opts *opts)
{
    rg_batch_opts o = opts ? *opts : rg_batch_defaults();
    if (!ds || o.batch < 1)
        return NULL;
    rg_batch_iter *it = rg__mem_calloc(1, sizeof *it);
    if (!it)
        return NULL;
    it->ds = ds;
    it->o = o;
    it->order = rg__mem_malloc(sizeof(int64_t) * (size_t)(ds->n ? ds->n : 1));
    if (!it->order) {
        rg__mem_free(it);
        return NULL;
    }
    rg_batch_iter_epoch(it, 0);
    return it;
}

void rg_batch_iter_free(rg_batch_iter *it)
{
    if (!it)
        return;
    rg__mem_free(it->order);
    rg__mem_free(it);
}

void rg_batch_iter_epoch(rg_batch_iter *it, uint64_t epoch)
{
    if (!it)
        return;
    /* start from the identity every time: the order is a function of (seed, epoch) only */
    for (int64_t i = 0; i < it->ds->n; i++)
        it->order[i] = i;
    if (it->o.shuffle) {
        rg_rng r;
        seed_stream(&r, it->o.seed, epoch + 1);
        rg_rng_shuffle(&r, it->order, it->ds->n);
    }
    it->pos = 0;
    it->last = 0;
}

/* The number of rows of the next batch (0 at the end of the epoch). */
static int64_t next_rows(rg_batch_iter *it)
{
    int64_t left = it->ds->n - it->pos;
    int64_t rows = left < it->o.batch ? left : it->o.batch;
    if (rows < it->o.batch && it->o.drop_last)
        rows = 0;
    it->last = it->pos;
    it->pos += rows;
    return rows;
}

#define RG__BATCH_COPY(T)                                                                  \
    do {                                                                                   \
        const rg_dataset *ds = it->ds;                                                     \
        for (int64_t i = 0; i < rows; i++) {                                               \
            int64_t r = it->order[it->last + i];                                           \
            const double *src = ds->x + r * ds->d;                                         \
            for (int64_t j = 0; j < ds->d; j++)                                            \
                x[i * ds->d + j] = (T)src[j];                                              \
            if (y && ds->labels)                                                           \
                y[i] = (T)ds->labels[r];                                                   \
            else if (y && ds->targets)                                                     \
                y[i] = (T)ds->targets[r];                                                  \
        }                                                                                  \
    } while (0)

int64_t rg_batch_next_f64(rg_batch_iter *it, double *x, double *y)
{
    if (!it || !x)
        return 0;
    int64_t rows = next_rows(it);
    RG__BATCH_COPY(double);
    return rows;
}

int64_t rg_batch_next_f32(rg_batch_iter *it, float *x, float *y)
{
    if (!it || !x)
        return 0;
    int64_t rows = next_rows(it);
    RG__BATCH_COPY(float);
    return rows;
}

const int64_t *rg_batch_iter_rows(const rg_batch_iter *it)
{
    return it ? it->order + it->last : NULL;
}

int64_t rg_batch_iter_count(const rg_batch_iter *it)
{
    if (!it)
        return 0;
    int64_t n = it->ds->n, b = it->o.batch;
    return it->o.drop_last ? n / b : (n + b - 1) / b;
}
