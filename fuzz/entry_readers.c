/* The calls behind the reader fuzz targets (CSV, IDX, model files) and the checks on what
 * they return (fuzz_entry.h). */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_entry.h"
#include "retrograd.h"

/* Room for a reader's message: long enough that a cut message still shows what went wrong. */
#define ERRLEN 512

/* A reader's outcome: success with a result, or failure with a message and no result. */
static int outcome(rg_status st, bool have_result, const char *err)
{
    if (st == RG_OK)
        return have_result ? 0 : -1;
    return !have_result && err[0] != '\0' ? 1 : -1;
}

/* Adds one call's outcome to a running count; -1 sticks. */
static void tally(int *count, int one)
{
    if (*count >= 0)
        *count = one < 0 ? -1 : *count + one;
}

/* ---------------------------------------------------------------------------------------
 * Data sets
 * ------------------------------------------------------------------------------------- */

/* Whether a data set a reader returned is well-formed; features must be finite unless
 * non-finite values were allowed. */
static bool dataset_sane(const rg_dataset *ds, bool finite)
{
    if (ds->n < 1 || ds->d < 1 || !ds->x)
        return false;
    if (finite)
        for (int64_t i = 0; i < ds->n * ds->d; i++)
            if (!isfinite(ds->x[i]))
                return false;
    switch (ds->kind) {
    case RG_TARGET_NONE:
        if (ds->labels || ds->targets || ds->nclasses != 0)
            return false;
        break;
    case RG_TARGET_CLASS:
        if (!ds->labels || ds->targets || ds->nclasses < 1)
            return false;
        for (int64_t i = 0; i < ds->n; i++)
            if (ds->labels[i] < 0 || ds->labels[i] >= ds->nclasses)
                return false;
        for (int32_t c = 0; ds->class_names && c < ds->nclasses; c++)
            if (!ds->class_names[c])
                return false;
        break;
    case RG_TARGET_REAL:
        if (ds->labels || !ds->targets || ds->nclasses != 0)
            return false;
        break;
    default:
        return false;
    }
    for (int64_t j = 0; ds->feature_names && j < ds->d; j++)
        if (!ds->feature_names[j])
            return false;
    return true;
}

/* What training does with a data set once read: statistics, standardisation (refused
 * cleanly when a statistic is not finite), one shuffled epoch of batches. */
static bool dataset_use(rg_dataset *ds)
{
    double *mean = malloc(sizeof(double) * (size_t)ds->d);
    double *std = malloc(sizeof(double) * (size_t)ds->d);
    double *x = malloc(sizeof(double) * (size_t)ds->d * 7);
    double y[7];
    bool sane = true;
    if (mean && std && x && rg_dataset_stats(ds, mean, std) == RG_OK) {
        rg_status st = rg_dataset_standardize(ds, mean, std);
        sane = st == RG_OK || st == RG_ERR_ARG;
    }
    rg_batch_opts bo = rg_batch_defaults();
    bo.batch = 7;
    rg_batch_iter *it = x ? rg_batch_iter_new(ds, &bo) : NULL;
    if (it) {
        int64_t rows = 0, got;
        while ((got = rg_batch_next_f64(it, x, ds->kind == RG_TARGET_NONE ? NULL : y)) > 0)
            rows += got;
        sane = sane && rows == ds->n;
    }
    rg_batch_iter_free(it);
    free(mean);
    free(std);
    free(x);
    return sane;
}

int fz_csv(const char *path)
{
    static const char *const names[] = {"a", "b", "c"};
    rg_csv_opts opts[6];
    for (int i = 0; i < 6; i++)
        opts[i] = rg_csv_defaults();
    opts[1].header = RG_CSV_HEADER_YES;
    opts[1].target = RG_CSV_TARGET_CLASS;
    opts[1].label_col = 0;
    opts[2].header = RG_CSV_HEADER_NO;
    opts[2].target = RG_CSV_TARGET_REAL;
    opts[2].delimiter = ';';
    opts[2].allow_nonfinite = true;
    opts[2].label_col = -2;
    opts[3].target = RG_CSV_TARGET_NONE;
    opts[3].delimiter = '\t';
    opts[3].max_record = 64;
    opts[4].label_name = "y";
    opts[5].class_names = names;
    opts[5].nclasses = 3;

    int count = 0;
    for (int i = 0; i < 6 && count >= 0; i++) {
        rg_dataset *ds = NULL;
        char err[ERRLEN] = "";
        rg_status st = rg_csv_read(path, &opts[i], &ds, err, sizeof err);
        int one = outcome(st, ds != NULL, err);
        if (ds && !(dataset_sane(ds, !opts[i].allow_nonfinite) && dataset_use(ds)))
            one = -1;
        rg_dataset_free(ds);
        tally(&count, one);
    }
    return count;
}

static bool idx_sane(const rg_idx_array *a, bool scale01)
{
    if (a->ndim < 1 || a->ndim > RG_MAX_DIMS || !a->data)
        return false;
    int64_t count = 1;
    for (int i = 0; i < a->ndim; i++)
        count *= a->dims[i];
    if (count != a->count)
        return false;
    for (int64_t i = 0; i < a->count; i++)
        if (!isfinite(a->data[i]) || (scale01 && !(a->data[i] >= 0 && a->data[i] <= 1)))
            return false;
    return true;
}

int fz_idx(const char *path)
{
    int count = 0;
    for (int scale = 0; scale < 2; scale++) {
        rg_idx_array *a = NULL;
        char err[ERRLEN] = "";
        rg_status st = rg_idx_read(path, scale, &a, err, sizeof err);
        int one = outcome(st, a != NULL, err);
        if (a && !idx_sane(a, scale))
            one = -1;
        rg_idx_array_free(a);
        tally(&count, one);
    }
    for (int labels = 1; labels >= 0; labels--) {
        rg_dataset *ds = NULL;
        char err[ERRLEN] = "";
        rg_status st = rg_idx_load(path, labels ? path : NULL, !labels, &ds, err, sizeof err);
        int one = outcome(st, ds != NULL, err);
        if (ds && !dataset_sane(ds, true))
            one = -1;
        if (ds && (ds->kind != (labels ? RG_TARGET_CLASS : RG_TARGET_NONE)))
            one = -1;
        rg_dataset_free(ds);
        tally(&count, one);
    }
    return count;
}

/* ---------------------------------------------------------------------------------------
 * Model files
 * ------------------------------------------------------------------------------------- */

/* Layout (docs/formats.md): a 20-byte header whose CRC over bytes 0..15 is at 16, then
 * sections of a 4-byte tag, a 64-bit length, the payload and a CRC over tag, length and
 * payload. Rewrites every CRC the bytes allow; stops at the first section that runs past
 * the end. */
static void fix_crcs(unsigned char *b, size_t len)
{
    if (len < 20)
        return;
    uint32_t crc = rg_crc32(0, b, 16);
    for (int k = 0; k < 4; k++)
        b[16 + k] = (unsigned char)(crc >> (8 * k));
    size_t at = 20;
    while (len - at >= 16) {
        uint64_t plen = 0;
        for (int k = 7; k >= 0; k--)
            plen = (plen << 8) | b[at + 4 + k];
        if (plen > len - at - 16)
            return;
        crc = rg_crc32(0, b + at, 12 + (size_t)plen);
        for (int k = 0; k < 4; k++)
            b[at + 12 + plen + k] = (unsigned char)(crc >> (8 * k));
        at += 16 + (size_t)plen;
    }
}

static int model_once(const unsigned char *buf, size_t len)
{
    rg_model *m = NULL;
    char err[ERRLEN] = "";
    rg_status st = rg_model_load_mem(buf, len, "fuzz.rgm", &m, err, sizeof err);
    int one = outcome(st, m != NULL, err);
    if (m) {
        char why[ERRLEN] = "";
        if (rg_model_validate(m, why, sizeof why) != RG_OK)
            one = -1;
    }
    rg_model_free(m);
    return one;
}

int fz_model(const unsigned char *buf, size_t len)
{
    int count = 0;
    tally(&count, model_once(buf, len));
    unsigned char *copy = malloc(len ? len : 1);
    if (copy) {
        memcpy(copy, buf, len);
        fix_crcs(copy, len);
        if (memcmp(copy, buf, len) != 0)
            tally(&count, model_once(copy, len));
        free(copy);
    }
    return count;
}
