/* retrograd train: its options (train_opts.c) and the run (train_cmd.c, train_plot.c). */
#ifndef RG_TOOLS_TRAIN_CMD_H
#define RG_TOOLS_TRAIN_CMD_H

#include "draw.h"
#include "train.h"

typedef struct train_opts {
    const char *data, *test_data;
    label_spec label;
    double test_split;
    bool standardize;
    net_arch arch; /* inputs and outputs come from the data */
    rg_optim_kind opt;
    double lr;       /* NaN: the optimiser's default */
    double momentum; /* NaN: the optimiser's default */
    bool nesterov;
    double weight_decay; /* NaN: the optimiser's default */
    rg_schedule_kind schedule;
    double clip;
    int64_t batch, epochs, threads;
    uint64_t seed;
    const char *save, *resume, *plot, *curve;
    draw_opts draw; /* --dot, --svg, --png, --frames and how to draw */
    bool json, quiet;
    bool check_finite; /* anomaly mode on the training graph */
    /* which options were given, for --resume to tell them from the model's settings */
    bool hidden_given, act_given, loss_given, opt_given, lr_given, momentum_given,
        nesterov_given, wd_given, schedule_given, clip_given, batch_given, seed_given,
        standardize_given;
} train_opts;

/* A run of the command: what it loaded, built and measured. */
typedef struct train_run {
    train_opts o;
    rg_model *resume;         /* the --resume model file */
    rg_dataset *train, *test; /* test NULL when there is no test data */
    double *mean, *std;       /* standardisation statistics, or NULL */
    rg_mlp *m;                /* the training network (batch rows), in its own graph */
    rg_optim *opt;
    evaluator ev;             /* the evaluation network */
    int64_t batch, steps_per_epoch;
    int64_t first_epoch;      /* epochs trained before this run (--resume) */
    double *hist_loss, *hist_acc, *hist_test; /* per epoch of this run */
    int64_t epochs_run;       /* epochs completed */
    int64_t *pred_train, *pred_test;
    int64_t correct_train, correct_test;
    double final_loss, seconds, samples_per_s;
    uint64_t steps, step_allocs; /* allocations by the graph in every step but the first */
    int threads;
} train_run;

void train_usage(FILE *f);

/* Fills o from the arguments. Returns -1 to go on, or an exit status (--help: 0). */
int train_parse(int argc, char **argv, train_opts *o);

/* With --resume: checks the options against the model and takes the model's training
 * settings for those not given. */
int train_merge_resume(train_opts *o, const char *path, const rg_model *model,
                       const net_arch *arch);

/* Fills in the defaults that depend on the optimiser (learning rate, momentum, decay). */
void train_resolve_defaults(train_opts *o);

/* The pictures of a finished run (train_plot.c): --plot and --curve. */
int train_write_plot(train_run *r, const char *path);
int train_write_curve(const train_run *r, const char *path);

/* Sets the thread count when n > 0: the kernels' pool (rg_set_threads) takes n, and the BLAS
 * runs on one thread with its large products split over the pool. Returns the pool's count,
 * or 0 when n <= 0. */
int train_set_threads(int64_t n);

#endif
