/*
 * retrograd/optim.h: optimisers, learning-rate schedules and gradient clipping. Included by
 * retrograd.h.
 *
 * An optimiser updates parameter buffers in place from gradient values the executor has
 * computed (rg_backward(), rg_mlp_backward(), or rg_eval() of rg_grad() nodes). It never
 * builds or evaluates nodes itself, and a step allocates nothing.
 *
 * With eta the learning rate of the step, g = dL/dW (after clipping, plus lambda W when L2
 * weight decay applies to W), and t the number of the step (1 for the first):
 *   SGD       W <- W - eta g
 *   momentum  Delta <- mu Delta + g;  W <- W - eta Delta
 *             Nesterov: Delta <- mu Delta + g;  W <- W - eta (g + mu Delta)
 *   Adam      m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
 *             W <- W - eta (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 *   AdamW     Adam without lambda W in g, and before it W <- W - eta lambda W (decoupled)
 * Delta, m and v start at zero. Arithmetic is done in the graph's dtype.
 */
#ifndef RETROGRAD_OPTIM_H
#define RETROGRAD_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

#include "retrograd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------
 * Learning-rate schedules: the rate of step t (t = 0 for the first step) from the base rate.
 *   constant  eta_t = eta
 *   step      eta_t = eta * gamma^floor(t / step_size)
 *   cosine    eta_t = min + (eta - min) (1 + cos(pi min(t, total) / total)) / 2
 *             (eta at t = 0, min from t = total on)
 * t counts whatever the caller counts; an optimiser passes its step count, so "every k
 * epochs" is step_size = k * (steps per epoch).
 * ------------------------------------------------------------------------------------- */

typedef enum rg_schedule_kind {
    RG_SCHEDULE_CONSTANT,
    RG_SCHEDULE_STEP,
    RG_SCHEDULE_COSINE
} rg_schedule_kind;

typedef struct rg_schedule {
    rg_schedule_kind kind; /* default RG_SCHEDULE_CONSTANT */
    uint64_t step_size;    /* step: steps between decays; default 1 */
    double gamma;          /* step: decay factor; default 0.1 */
    uint64_t total;        /* cosine: steps to reach min_lr; default 1 */
    double min_lr;         /* cosine: the final rate; default 0 */
} rg_schedule;

/* The defaults given above: a constant rate. */
rg_schedule rg_schedule_defaults(void);
/* The rate of step t for base rate `base` (NaN if s is NULL, its kind unknown, or a step
 * size or total is 0). */
double rg_schedule_lr(const rg_schedule *s, double base, uint64_t t);
/* "constant", "step", "cosine" (NULL out of range), and back (-1 for an unknown name). */
const char *rg_schedule_name(rg_schedule_kind kind);
int rg_schedule_from_name(const char *name);

/* ---------------------------------------------------------------------------------------
 * Gradient clipping by global norm
 * ------------------------------------------------------------------------------------- */

/* The global norm sqrt(sum over the n nodes of sum g^2) of the evaluated nodes grads[], and,
 * when it exceeds max_norm > 0, every value scaled in place by max_norm / norm so the global
 * norm becomes max_norm. Returns the norm before scaling (NaN if a node has no value, or if
 * n < 0; nothing is scaled then). max_norm <= 0 only measures. */
double rg_clip_grad_norm(int n, rg_node *const *grads, double max_norm);

/* ---------------------------------------------------------------------------------------
 * Optimisers
 * ------------------------------------------------------------------------------------- */

typedef enum rg_optim_kind {
    RG_OPTIM_SGD,      /* plain SGD; with momentum set it is the momentum method */
    RG_OPTIM_MOMENTUM, /* SGD with momentum (mu default 0.9) */
    RG_OPTIM_ADAM,
    RG_OPTIM_ADAMW
} rg_optim_kind;

typedef struct rg_optim_opts {
    rg_optim_kind kind;
    double lr;           /* base learning rate eta: 0.01 for SGD/momentum, 0.001 for Adam(W) */
    double momentum;     /* mu in [0, 1): 0 for SGD, 0.9 for momentum (other kinds: unused) */
    bool nesterov;       /* Nesterov's update (needs momentum > 0); default false */
    double beta1, beta2; /* Adam: 0.9, 0.999 */
    double eps;          /* Adam: 1e-8, added to sqrt(v) so a zero v divides safely */
    double weight_decay; /* lambda >= 0: 0, except 0.01 for AdamW */
    bool decay_biases;   /* also decay parameters not flagged as weights; default false */
    double clip_norm;    /* > 0: clip the global gradient norm to this first; default 0 (off) */
    rg_schedule schedule; /* default constant */
} rg_optim_opts;

/* The defaults of `kind` given above (an unknown kind gives SGD's, with that kind). */
rg_optim_opts rg_optim_defaults(rg_optim_kind kind);
/* "sgd", "momentum", "adam", "adamw" (NULL out of range), and back (-1 if unknown). */
const char *rg_optim_name(rg_optim_kind kind);
int rg_optim_from_name(const char *name);

typedef struct rg_optim rg_optim;

/* An optimiser for the n parameters params[] (parameter nodes of one graph). grads[i] is
 * the gradient node of params[i]; grads may be NULL, or hold NULLs, to use
 * rg_node_grad(params[i]) (set by rg_backward()) at each step. is_weight[i] tells weights
 * (decayed) from biases (decayed only with decay_biases); is_weight NULL: all weights. The
 * arrays are copied. State (momentum or Adam moments, in the graph's dtype) is allocated
 * here, zeroed, through the graph's allocator: free the optimiser before the graph.
 * NULL with the error recorded on the graph for invalid options or nodes; NULL without a
 * message when n < 1 or params[0] is NULL (there is no graph to record it on). */
rg_optim *rg_optim_new(const rg_optim_opts *opts, int n, rg_node *const *params,
                       rg_node *const *grads, const bool *is_weight);
/* Releases the optimiser. NULL is a no-op. */
void rg_optim_free(rg_optim *o);

/* One update of every parameter from the current values of the gradients, at the rate the
 * schedule gives for the step count, which it then increments. Allocates nothing.
 * RG_ERR_NOT_EVALUATED (recorded on the graph, nothing updated) if a gradient has no value. */
rg_status rg_optim_step(rg_optim *o);

/* The options in use (the caller may not change them through this pointer). */
const rg_optim_opts *rg_optim_options(const rg_optim *o);
/* The learning rate the next step will use. */
double rg_optim_lr(const rg_optim *o);
/* Replaces the base learning rate (the schedule scales it from then on). */
void rg_optim_set_lr(rg_optim *o, double lr);
/* The global gradient norm sqrt(sum of g^2 over every parameter) seen by the last step,
 * before clipping and weight decay (NaN before the first step). */
double rg_optim_last_grad_norm(const rg_optim *o);

/* Steps taken so far (drives the schedule and Adam's bias correction); settable to restore a
 * saved optimiser. */
uint64_t rg_optim_steps(const rg_optim *o);
void rg_optim_set_steps(rg_optim *o, uint64_t steps);

/* The state buffers, for saving and restoring: rg_optim_state_count() of them (none for SGD
 * with momentum 0, one "<param>.velocity" per parameter for SGD or momentum with momentum > 0,
 * "<param>.m" and "<param>.v" per parameter for Adam and AdamW, in parameter order; <param> is the parameter's name, or
 * "p<i>" when it has none). rg_optim_state_get() gives entry i's name (owned by the
 * optimiser), its buffer (`count` values of the graph's dtype, rg_optim_dtype(); writable, so
 * a loader can restore it) and its parameter's index. Any out-pointer may be NULL.
 * RG_ERR_ARG if i is out of range. */
int rg_optim_state_count(const rg_optim *o);
rg_status rg_optim_state_get(const rg_optim *o, int i, const char **name, void **data,
                             int64_t *count, int *param);
/* The dtype of the state buffers: the graph's. */
rg_dtype rg_optim_dtype(const rg_optim *o);
/* Sets every state buffer to zero and the step count to 0. */
void rg_optim_reset(rg_optim *o);

#ifdef __cplusplus
}
#endif
#endif /* RETROGRAD_OPTIM_H */
