/*
 * retrograd/data.h: data sets for training. Included by retrograd.h.
 *
 * A data set is n rows of d features (doubles, row-major) with, per row, a class label (an
 * index in [0, nclasses)), a real target, or nothing. It comes from a CSV file, a pair of
 * IDX files (the MNIST format), or one of the built-in 2-D teaching sets; it is then
 * shuffled, split, standardised and cut into mini-batches by the functions below.
 *
 * Readers never trust their input: every field, size and count is checked before use. A
 * failing reader returns a status and, when `err` is not NULL, writes a one-line message into
 * err[0..errlen-1] (always NUL-terminated) that names the file and what is wrong; for CSV
 * fields it gives the line, the column and the offending text. Nothing is printed.
 *
 * Randomness: every function that shuffles or samples takes a seed and draws from the
 * library's generator (rg_rng, retrograd/nn.h), and the teaching sets compute their sines
 * and cosines with basic IEEE arithmetic rather than libm, so the same seed gives
 * bit-identical data and orders on every machine.
 */
#ifndef RETROGRAD_DATA_H
#define RETROGRAD_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "retrograd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What each row of a data set is labelled with. */
typedef enum rg_target_kind {
    RG_TARGET_NONE = 0, /* features only (data to predict on) */
    RG_TARGET_CLASS,    /* labels[i] in [0, nclasses) */
    RG_TARGET_REAL      /* targets[i], any finite double */
} rg_target_kind;

/* A data set. Everything it points to belongs to it and is released by rg_dataset_free().
 * The fields may be read and the values of x, labels and targets changed in place; the
 * sizes and pointers must not be changed. */
typedef struct rg_dataset {
    int64_t n;            /* rows */
    int64_t d;            /* features per row */
    double *x;            /* n * d features, row i at x + i * d */
    rg_target_kind kind;
    int32_t *labels;      /* RG_TARGET_CLASS: n class indices; else NULL */
    double *targets;      /* RG_TARGET_REAL: n targets; else NULL */
    int32_t nclasses;     /* RG_TARGET_CLASS: number of classes (>= 1); else 0 */
    char **class_names;   /* nclasses names when the labels were text, else NULL */
    char **feature_names; /* d column names when the source had a header, else NULL */
    char *target_name;    /* name of the label column when known, else NULL */
} rg_dataset;

/* A data set of n rows of d zero features, with zeroed labels (kind RG_TARGET_CLASS, then
 * nclasses >= 1) or targets (RG_TARGET_REAL). NULL on a bad argument or out of memory. */
rg_dataset *rg_dataset_new(int64_t n, int64_t d, rg_target_kind kind, int32_t nclasses);

/* Releases the data set and everything it owns. NULL is a no-op. */
void rg_dataset_free(rg_dataset *ds);

/* A new data set holding copies of rows idx[0..m-1] of ds (in that order; an index may
 * repeat), with the same kind, classes and names. NULL on a bad index or out of memory. */
rg_dataset *rg_dataset_subset(const rg_dataset *ds, const int64_t *idx, int64_t m);

/* Number of rows of each class: counts[c] for c in [0, ds->nclasses). RG_ERR_ARG unless
 * ds has class labels. */
rg_status rg_dataset_class_counts(const rg_dataset *ds, int64_t *counts);

/* ---------------------------------------------------------------------------------------
 * Splitting, standardising, batching (to shuffle indices: rg_rng_shuffle())
 * ------------------------------------------------------------------------------------- */

/* Splits ds at random (determined by seed) into a training part and a test part holding
 * round(test_fraction * n) rows, with 0 <= test_fraction < 1 and at least one training row.
 * Rows keep their relative order inside each part. Both parts are new data sets. */
rg_status rg_dataset_split(const rg_dataset *ds, double test_fraction, uint64_t seed,
                           rg_dataset **train, rg_dataset **test);

/* Per-feature mean and standard deviation of ds (population, divisor n: the statistics
 * StandardScaler uses) into mean[0..d-1] and std[0..d-1]. A feature that is constant (std
 * below 1e-12 times its magnitude, or exactly 0) gets std = 1 so that standardising maps it
 * to 0 instead of dividing by zero. RG_ERR_ARG on an empty data set. */
rg_status rg_dataset_stats(const rg_dataset *ds, double *mean, double *std);

/* x <- (x - mean) / std for every row of ds, feature by feature. Pass statistics taken from
 * the training part (rg_dataset_stats()) to standardise training and test data alike.
 * RG_ERR_ARG if a std is not positive and finite. */
rg_status rg_dataset_standardize(rg_dataset *ds, const double *mean, const double *std);

/* A mini-batch iterator. It holds a row order (allocated once, at creation) and copies each
 * batch into buffers the caller owns, so iterating allocates nothing. */
typedef struct rg_batch_iter rg_batch_iter;

typedef struct rg_batch_opts {
    int64_t batch;  /* rows per batch, >= 1; default 32 */
    bool shuffle;   /* reorder the rows at every epoch; default true */
    bool drop_last; /* skip a last batch smaller than `batch`; default false */
    uint64_t seed;  /* the order of epoch e is a function of (seed, e) alone; default 1 */
} rg_batch_opts;

rg_batch_opts rg_batch_defaults(void);

/* An iterator over ds (borrowed: it must outlive the iterator and keep its size), positioned
 * at the start of epoch 0. NULL on a bad argument or out of memory. */
rg_batch_iter *rg_batch_iter_new(const rg_dataset *ds, const rg_batch_opts *opts);
void rg_batch_iter_free(rg_batch_iter *it);

/* Restarts at the first batch of epoch `epoch` (with shuffling, in that epoch's order). The
 * order depends only on the seed and the epoch number, so training resumed at epoch e sees
 * the batches it would have seen. */
void rg_batch_iter_epoch(rg_batch_iter *it, uint64_t epoch);

/* Copies the next batch: its rows' features into x (rows * d values) and, when y is not
 * NULL, their labels (class indices as values) or targets into y (rows values). Writes
 * doubles (f64) or floats (f32). Returns the number of rows copied: opts.batch, or fewer for
 * the last batch of an epoch, or 0 when the epoch is over. rg_batch_iter_rows() gives the
 * data set row of each copied row. */
int64_t rg_batch_next_f64(rg_batch_iter *it, double *x, double *y);
int64_t rg_batch_next_f32(rg_batch_iter *it, float *x, float *y);

/* The data set row indices of the batch last returned (as many as it had rows). */
const int64_t *rg_batch_iter_rows(const rg_batch_iter *it);

/* Number of batches per epoch. */
int64_t rg_batch_iter_count(const rg_batch_iter *it);

/* ---------------------------------------------------------------------------------------
 * CSV files
 * ------------------------------------------------------------------------------------- */

typedef enum rg_csv_header {
    RG_CSV_HEADER_AUTO = 0, /* the first row is a header if some field of it is not a number
                               where the second row has a number (if there is only one row:
                               if none of its fields is a number) */
    RG_CSV_HEADER_YES,
    RG_CSV_HEADER_NO
} rg_csv_header;

typedef enum rg_csv_target {
    RG_CSV_TARGET_AUTO = 0, /* class labels if every label is text or every label is an
                               integer in [0, RG_CSV_MAX_CLASSES); else real targets */
    RG_CSV_TARGET_CLASS,    /* integer indices if all labels are such, else text names */
    RG_CSV_TARGET_REAL,     /* every label must be a number */
    RG_CSV_TARGET_NONE      /* no label column: every column is a feature */
} rg_csv_target;

/* Most classes a CSV label column may have. */
#define RG_CSV_MAX_CLASSES 65536

typedef struct rg_csv_opts {
    rg_csv_header header;      /* default RG_CSV_HEADER_AUTO */
    rg_csv_target target;      /* default RG_CSV_TARGET_AUTO */
    int label_col;             /* label column, 0-based; negative counts from the end;
                                  default -1 (the last column) */
    const char *label_name;    /* if not NULL, the label column is the header column of this
                                  name (a header is then required) and label_col is unused */
    char delimiter;            /* default ',' */
    bool allow_nonfinite;      /* accept nan, inf, infinity (any case) as values; default
                                  false: they are rejected, naming the field */
    size_t max_record;         /* longest accepted record (line) in bytes; default 64 MiB */
    /* Class names to map text labels to (e.g. those a model was trained with): when not
     * NULL, every label must be one of class_names[0..nclasses-1] and its index is the
     * label. Default NULL: names are collected from the file and sorted (byte order). */
    const char *const *class_names;
    int32_t nclasses;
} rg_csv_opts;

rg_csv_opts rg_csv_defaults(void);

/* Reads a CSV file (RFC 4180: fields may be quoted with ", a quoted field may hold the
 * delimiter, newlines and "" for a quote; lines end with LF, CRLF or CR; a UTF-8 byte-order
 * mark and blank lines are skipped; spaces around unquoted fields are ignored). Every row
 * must have as many fields as the first; every feature must be a finite number, parsed in
 * the "C" locale whatever the program's locale. opts NULL means the defaults. On failure
 * *out is NULL, the status is RG_ERR_IO (cannot read), RG_ERR_FORMAT (malformed: the
 * message gives "line L, column C" (1-based; column counts fields) and the text),
 * RG_ERR_ARG (bad options) or RG_ERR_NOMEM. */
rg_status rg_csv_read(const char *path, const rg_csv_opts *opts, rg_dataset **out, char *err,
                      size_t errlen);

/* ---------------------------------------------------------------------------------------
 * IDX files (the MNIST format: http://yann.lecun.com/exdb/mnist/)
 * ------------------------------------------------------------------------------------- */

/* Element types of the format (the third byte of the magic number). */
typedef enum rg_idx_type {
    RG_IDX_UBYTE = 0x08,
    RG_IDX_SBYTE = 0x09,
    RG_IDX_SHORT = 0x0B, /* 16-bit signed, big-endian */
    RG_IDX_INT = 0x0C,   /* 32-bit signed, big-endian */
    RG_IDX_FLOAT = 0x0D, /* IEEE 754 binary32, big-endian */
    RG_IDX_DOUBLE = 0x0E /* IEEE 754 binary64, big-endian */
} rg_idx_type;

/* One IDX file: an array of ndim dimensions (1 <= ndim <= RG_MAX_DIMS) converted to double. */
typedef struct rg_idx_array {
    rg_idx_type type;
    int ndim;
    int64_t dims[RG_MAX_DIMS];
    int64_t count; /* product of the dims */
    double *data;  /* count values, row-major */
} rg_idx_array;

/* Reads an IDX file. The header (magic 0x00 0x00 type ndim, then ndim big-endian 32-bit
 * sizes) must describe exactly the file's length: the sizes are checked against it before
 * anything is allocated. scale01: divide unsigned-byte values by 255 (an error for other
 * types). Messages name the file and the fault (bad magic, unknown type, a gzip file, sizes
 * that do not match the length). */
rg_status rg_idx_read(const char *path, bool scale01, rg_idx_array **out, char *err,
                      size_t errlen);
void rg_idx_array_free(rg_idx_array *a);

/* A data set from an images file ([n, ...]: each item flattened into one row) and a labels
 * file ([n], an integer type, values in [0, 2^31); nclasses = largest + 1), or labels NULL
 * for features only. The two counts must agree. scale01 as for rg_idx_read() (for MNIST:
 * pixels in [0, 1]). */
rg_status rg_idx_load(const char *images, const char *labels, bool scale01, rg_dataset **out,
                      char *err, size_t errlen);

/* ---------------------------------------------------------------------------------------
 * Built-in 2-D teaching sets (two features; class labels; rows grouped class by class)
 * ------------------------------------------------------------------------------------- */

/* The cs231n spiral: k arms of n points; for arm j and point i of it (t = i / (n - 1)),
 * radius r = t and angle a = 4 (j + t) + noise * N(0, 1); x = (r sin a, r cos a). Class j. */
rg_dataset *rg_data_spiral(int64_t n, int k, double noise, uint64_t seed);

/* Two interleaving half circles (as scikit-learn's make_moons): class 0 the upper arc
 * (cos s, sin s), class 1 the lower (1 - cos s, 1/2 - sin s), s evenly spaced over [0, pi],
 * n points each, plus noise * N(0, 1) on each coordinate. */
rg_dataset *rg_data_moons(int64_t n, double noise, uint64_t seed);

/* Two concentric circles (as scikit-learn's make_circles): class 0 of radius 1, class 1 of
 * radius `factor` (0 < factor < 1), n points each at angles 2 pi i / n, plus noise * N(0, 1)
 * on each coordinate. */
rg_dataset *rg_data_circles(int64_t n, double noise, double factor, uint64_t seed);

/* Exclusive or: clusters around the corners (+-1, +-1), noise * N(0, 1) on each coordinate;
 * class 1 where the signs of the corner differ. n points per class, alternating between the
 * class's two corners. */
rg_dataset *rg_data_xor(int64_t n, double noise, uint64_t seed);

typedef struct rg_toy_opts {
    int64_t n;      /* points per class (per arm); default 100 */
    int classes;    /* spiral arms; default 3 */
    double noise;   /* negative: the set's default (spiral 0.2, moons 0.1, circles 0.05,
                       xor 0.2); default -1 */
    double factor;  /* circles: inner radius; default 0.5 */
    uint64_t seed;  /* default 1 */
} rg_toy_opts;

rg_toy_opts rg_toy_defaults(void);

/* The teaching set called `name` ("spiral", "moons", "circles", "xor"). opts NULL means the
 * defaults. RG_ERR_ARG with a message for an unknown name or a bad option. */
rg_status rg_toy_make(const char *name, const rg_toy_opts *opts, rg_dataset **out, char *err,
                      size_t errlen);

#ifdef __cplusplus
}
#endif
#endif /* RETROGRAD_DATA_H */
