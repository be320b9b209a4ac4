/* retrograd train and retrograd predict: what the two commands share (option parsing, data
 * loading, the network's architecture, model files and evaluation). Everything goes through
 * the public header. Functions returning int return CLI_OK or an exit status after printing
 * the one-line message. */
#ifndef RG_TOOLS_TRAIN_H
#define RG_TOOLS_TRAIN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "retrograd.h"

int train_main(int argc, char **argv);
int predict_main(int argc, char **argv);

/* Room for messages from the library's readers and writers. */
#define TRAIN_ERRLEN 512
/* Most hidden layers --hidden accepts (a model file holds up to RG_MODEL_MAX_LAYERS layers). */
#define TRAIN_MAX_HIDDEN (RG_MODEL_MAX_LAYERS - 1)
/* Rows per evaluation run: a fixed batch, so training and predict compute every score with
 * the same sequence of operations and report the same accuracy to the last bit. */
#define TRAIN_EVAL_BATCH 256
/* The seed of the built-in data sets: they are fixed data, like a file; --seed varies the
 * weights, the batch order and the split, not the data. */
#define TRAIN_TOY_SEED 1

/* ---- options -------------------------------------------------------------------------- */

/* True if arg is --name or --name=VALUE. */
bool opt_is(const char *arg, const char *name);
/* The value of option `name` at argv[*i]: after '=', or the next argument (advancing *i).
 * NULL, with the message printed, when it is missing. */
const char *opt_value(int argc, char **argv, int *i, const char *name);
/* Numbers with range checks; false, with the message printed, when the text is not a
 * number in [lo, hi]. */
bool opt_f64(const char *name, const char *text, double lo, double hi, double *out);
bool opt_i64(const char *name, const char *text, int64_t lo, int64_t hi, int64_t *out);
/* "64,64" into sizes[0..*n-1] (at most TRAIN_MAX_HIDDEN); "none" gives *n = 0. */
bool opt_hidden(const char *text, int64_t *sizes, int *n);
/* The unknown-option message for `cmd`; returns CLI_BAD_INPUT. */
int opt_unknown(const char *cmd, const char *arg);

/* ---- output -------------------------------------------------------------------------- */

/* Checks, before any work, that an output file can be created where `path` says: its
 * directory exists and is writable, and path is not a directory. */
int out_path_check(const char *option, const char *path);

/* A JSON number: the shortest decimal that reads back as the same double; null for NaN and
 * infinities (which JSON lacks). */
void json_num(FILE *f, double v);
/* A JSON string, escaped. */
void json_str(FILE *f, const char *s);

/* ---- data ---------------------------------------------------------------------------- */

/* Which column holds the labels: by name, or by index (negative from the end), or, when
 * neither was given, the last column if the file has one more than the model's features. */
typedef struct label_spec {
    const char *name;
    int index;
    bool given;
} label_spec;

bool opt_label(const char *text, label_spec *l);

/* What data_load() is asked for. */
typedef struct data_req {
    label_spec label;
    bool labels_required;           /* training data: a label column must be there */
    int64_t features;               /* the model's input size, or -1 when not known yet */
    const char *const *class_names; /* map text labels to these (a model's), or NULL */
    int32_t nclasses;               /* their count; also the bound on integer labels (0: none) */
} data_req;

/* Reads --data SPEC: a built-in set (spiral, moons, circles, xor), a CSV file, or IDX files
 * (IMAGES.idx:LABELS.idx, or IMAGES.idx alone for features only). The readers' messages
 * (with line and column) are passed through. */
int data_load(const char *spec, const data_req *req, rg_dataset **out);

/* True if spec names a built-in data set. */
bool data_is_builtin(const char *spec);

/* The name shown for a data spec: the file's base name or the set's name. */
const char *data_display_name(const char *spec);

/* ---- the network -------------------------------------------------------------------- */

/* A classifier's architecture: what a model file describes. */
typedef struct net_arch {
    int64_t inputs, outputs;
    int nhidden;
    int64_t hidden[TRAIN_MAX_HIDDEN];
    rg_activation act;
    double slope; /* leaky_relu */
    rg_loss loss; /* RG_LOSS_CROSS_ENTROPY or RG_LOSS_MSE_ONEHOT */
} net_arch;

/* "2-64-64-3 relu" */
char *net_arch_str(const net_arch *a, char *buf, size_t len);
/* "ce" or "mse", the names of --loss and of model files. */
const char *net_loss_name(rg_loss loss);

/* The network for a batch of `batch` rows, weights drawn from `seed`, in a new f32 graph
 * (*g). On failure prints the message and returns NULL (*g freed). */
rg_mlp *net_build(const net_arch *a, int64_t batch, uint64_t seed, rg_graph **g);
/* Frees the network and its graph. */
void net_free(rg_mlp *m);

/* Reads a model file and checks that it describes a network this command can build: known
 * activation and loss, every parameter present with the shape the architecture implies.
 * Fills *arch. Prints "retrograd: MODEL: WHAT IS WRONG" and returns CLI_BAD_INPUT if not. */
int net_load_model(const char *path, rg_model **out, net_arch *arch);
/* Sets the network's parameters from a checked model. */
int net_set_params(rg_mlp *m, const rg_model *model);

/* ---- evaluation ---------------------------------------------------------------------- */

/* A network of TRAIN_EVAL_BATCH rows that computes scores for any number of rows: its own
 * graph, so evaluating never disturbs the training graph's buffers or plans. */
typedef struct evaluator {
    rg_mlp *m;
    int64_t outputs;
} evaluator;

/* check_finite: anomaly mode on the network's graph (rg_graph_set_check_finite), so that a
 * non-finite score is traced to the op that made it. */
int eval_init(evaluator *ev, const net_arch *a, bool check_finite);
void eval_free(evaluator *ev);
/* Copies the parameters of `from` (same architecture) into the evaluator. */
int eval_copy_params(evaluator *ev, const rg_mlp *from);
/* Scores of rows x[0..rows*inputs) into scores[0..rows*outputs). */
int eval_scores(evaluator *ev, const double *x, int64_t rows, double *scores);
/* Predicted classes of ds into pred[0..n), and the number equal to the labels (when ds has
 * labels; else 0). scores may be NULL (a buffer is allocated) or hold n*outputs values,
 * which are then left filled. A row whose scores are not all finite (a value overflowed in
 * the network) is an error: its class would be made up. */
int eval_predict(evaluator *ev, const rg_dataset *ds, double *scores, int64_t *pred,
                 int64_t *correct);

/* Probabilities from scores: softmax of each row, into p (may equal scores). */
void softmax_rows(const double *scores, int64_t rows, int64_t cols, double *p);

#endif

/* ---- model files -------------------------------------------------------------------- */

/* The training settings a model file keeps next to the optimiser state, so --resume goes on
 * as the first run would have (stored as f64 scalars named "train.<field>"). */
typedef struct train_settings {
    double epochs; /* epochs trained so far */
    double seed, batch, lr, momentum, nesterov, weight_decay, clip, schedule;
} train_settings;

/* What net_save() writes. mean/std NULL: no standardisation. o NULL: no optimiser state. */
typedef struct net_save_args {
    const rg_mlp *m;
    const net_arch *arch;
    const rg_optim *o;
    const double *mean, *std;
    const rg_dataset *classes; /* its class names, if any, are saved */
    const train_settings *settings;
} net_save_args;

/* Saves atomically (the library writes a temporary file and renames it). */
int net_save(const char *path, const net_save_args *a);
/* The settings stored in a model, if it has all of them. */
bool net_settings(const rg_model *model, train_settings *s);
/* Restores optimiser state from a model: every state buffer found under its name (a missing
 * one stays zero) and the step count. A buffer of the wrong size is an error. */
int net_set_optim(rg_optim *o, const char *path, const rg_model *model);
