/*
 * retrograd/nn.h: random numbers, layers, initialisers, losses and the multi-layer
 * perceptron. Included by retrograd.h.
 *
 * Nothing here has its own backward pass: a model is a graph of ordinary ops (matmul, add,
 * relu, cross_entropy, ...) and its gradients come from rg_grad()/rg_backward() like those
 * of any other expression.
 *
 * Objects that hold memory (rg_mlp) allocate it through their graph's allocator: free them
 * before the graph.
 */
#ifndef RETROGRAD_NN_H
#define RETROGRAD_NN_H

#include <stdbool.h>
#include <stdint.h>

#include "retrograd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------
 * Random numbers
 *
 * xoshiro256** (Blackman and Vigna, 2018) with its 256-bit state seeded from one 64-bit
 * seed by splitmix64, as its authors recommend. Every derived quantity uses only integer
 * arithmetic and IEEE-754 +, -, *, / and sqrt (correctly rounded everywhere), never the
 * platform's libm, so the same seed gives bit-identical numbers on every machine:
 * - uniform:  the top 53 bits of a draw, times 2^-53: a multiple of 2^-53 in [0, 1);
 * - normal:   Marsaglia's polar method (pairs from uniforms in the unit disc, the second of
 *             a pair kept for the next call), with a logarithm computed by the library
 *             (frexp and an atanh series) instead of libm's log;
 * - below(n): rejection of the top partial range, so every integer in [0, n) is exactly
 *             equally likely;
 * - shuffle:  Fisher-Yates from the last element down, using below().
 * The struct is a plain value: copy it to save the generator's position. The fields are
 * private; set them only with rg_rng_seed().
 * ------------------------------------------------------------------------------------- */

typedef struct rg_rng {
    uint64_t s[4];
    double spare;   /* the second normal of the last polar pair */
    bool has_spare;
} rg_rng;

/* Seeds r. Any seed, including 0, gives a valid generator. */
void rg_rng_seed(rg_rng *r, uint64_t seed);
/* The next 64 random bits. */
uint64_t rg_rng_next(rg_rng *r);
/* Uniform double in [0, 1). */
double rg_rng_uniform(rg_rng *r);
/* Uniform double in [lo, hi): lo + (hi - lo) * rg_rng_uniform(r). */
double rg_rng_range(rg_rng *r, double lo, double hi);
/* Standard normal (mean 0, standard deviation 1). */
double rg_rng_normal(rg_rng *r);
/* Uniform integer in [0, n); 0 when n <= 1. */
uint64_t rg_rng_below(rg_rng *r, uint64_t n);
/* Shuffles idx[0..n-1] in place (Fisher-Yates). */
void rg_rng_shuffle(rg_rng *r, int64_t *idx, int64_t n);

/* ---------------------------------------------------------------------------------------
 * Initialisers and the dense layer
 * ------------------------------------------------------------------------------------- */

typedef enum rg_init {
    RG_INIT_AUTO,           /* He-normal for relu and leaky_relu, Glorot-uniform otherwise */
    RG_INIT_GLOROT_UNIFORM, /* U(-a, a), a = sqrt(6 / (fan_in + fan_out)) */
    RG_INIT_HE_NORMAL,      /* N(0, 2 / fan_in) */
    RG_INIT_ZEROS
} rg_init;

/* Fills parameter w (a 2-D [fan_in, fan_out] node; a 1-D node has fan_in = fan_out = its
 * size) from rng by `init` (RG_INIT_AUTO is taken as Glorot-uniform). Values are drawn in
 * row-major order as doubles, then rounded to the graph's dtype. RG_ERR_ARG if w is not a
 * parameter or rng is NULL (for the random kinds). */
rg_status rg_init_param(rg_node *w, rg_init init, rg_rng *rng);

/* A dense (fully connected) layer: a = x W + b with W [in, out] and b [out] parameters. */
typedef struct rg_dense {
    rg_node *W;
    rg_node *b;
} rg_dense;

/* Creates the parameters of a dense layer in g, named `wname` and `bname` (may be NULL),
 * W initialised by `init` from rng (RG_INIT_AUTO: Glorot-uniform) and b zero. On failure
 * layer->W and layer->b are NULL and the error is recorded on g. */
rg_status rg_dense_init(rg_dense *layer, rg_graph *g, int64_t in, int64_t out, rg_init init,
                        rg_rng *rng, const char *wname, const char *bname);
/* x W + b for x [N, in]: the [N, out] pre-activation. NULL propagates. */
rg_node *rg_dense_apply(const rg_dense *layer, rg_node *x);

/* ---------------------------------------------------------------------------------------
 * Activations and losses
 * ------------------------------------------------------------------------------------- */

typedef enum rg_activation {
    RG_ACT_RELU,
    RG_ACT_TANH,
    RG_ACT_SIGMOID,
    RG_ACT_LEAKY_RELU
} rg_activation;

/* "relu", "tanh", "sigmoid", "leaky_relu" (NULL for a value out of range), and back
 * (-1 for an unknown name). */
const char *rg_activation_name(rg_activation act);
int rg_activation_from_name(const char *name);
/* g(x) for the activation (leaky_relu uses `slope` for x < 0; the others ignore it). */
rg_node *rg_activate(rg_node *x, rg_activation act, double slope);

/* Binary cross-entropy on logits, averaged over every element: with x the logits and y the
 * targets in [0, 1] (same shape, or broadcastable to it),
 *     mean( max(x, 0) - x y + log(1 + exp(-|x|)) ),
 * which equals -y log sigmoid(x) - (1 - y) log(1 - sigmoid(x)) but never takes the
 * exponential of a positive number, so it neither overflows nor loses the loss to
 * log(0) for large |x|. Built from public ops, so it is differentiable (twice, too); at x = 0
 * the kink conventions (relu'(0) = 1/2, abs'(0) = 0) give exactly sigmoid(0) - y. */
rg_node *rg_bce_logits(rg_node *logits, rg_node *targets);

typedef enum rg_loss {
    RG_LOSS_CROSS_ENTROPY, /* softmax cross-entropy; labels [N] hold class indices */
    RG_LOSS_MSE,           /* mean squared error; labels [N, out] hold real targets */
    RG_LOSS_MSE_ONEHOT,    /* mean squared error against one_hot(labels); labels [N] */
    RG_LOSS_BCE_LOGITS     /* rg_bce_logits(); labels [N, out] hold targets in [0, 1] */
} rg_loss;

/* "cross_entropy", "mse", "mse_onehot", "bce_logits" (NULL out of range), and back (-1). */
const char *rg_loss_name(rg_loss loss);
int rg_loss_from_name(const char *name);

/* ---------------------------------------------------------------------------------------
 * Predictions
 * ------------------------------------------------------------------------------------- */

/* The predicted class of each of `rows` rows of scores [rows, cols] (row-major), into
 * out[0..rows-1]: the index of the row's largest score (the first one on a tie; NaN scores
 * are never chosen unless the whole row is NaN, giving 0). With one column the scores are
 * binary logits: class 1 when the score is > 0, else 0. */
void rg_argmax_rows_f64(const double *scores, int64_t rows, int64_t cols, int64_t *out);
/* The same for an evaluated node of shape [N, C] (or [N], taken as [N, 1]). RG_ERR_SHAPE
 * for other shapes, RG_ERR_NOT_EVALUATED when it has no value. */
rg_status rg_argmax_rows(const rg_node *scores, int64_t *out);
/* The fraction of rows whose predicted class (as rg_argmax_rows()) equals the label, for an
 * evaluated scores node [N, C] and a labels node of N class indices (any shape of size N,
 * values rounded to the nearest integer). NaN if a value is missing or the sizes differ. */
double rg_accuracy(const rg_node *scores, const rg_node *labels);

/* ---------------------------------------------------------------------------------------
 * The multi-layer perceptron
 *
 * With L = nhidden + 1 layers, h0 = x and, for k = 1..L,
 *     a_k = h_{k-1} W_k + b_k,    h_k = g(a_k)   (k < L),
 * and a_L is the output: the scores (logits) the loss reads. Nodes are named after this:
 * "x", "y" (labels), "W1" "b1" "a1" "h1" ... "WL" "bL" "aL", "loss"; the gradient of each
 * parameter is a node of the same graph, built once by rg_grad() when the model is made.
 * ------------------------------------------------------------------------------------- */

typedef struct rg_mlp rg_mlp;

typedef struct rg_mlp_opts {
    int64_t inputs;        /* size of an input row; required */
    const int64_t *hidden; /* sizes of the hidden layers (copied); NULL when nhidden is 0 */
    int nhidden;           /* default 0 */
    int64_t outputs;       /* size of the output row (classes); required */
    rg_activation act;     /* default RG_ACT_RELU */
    double leaky_slope;    /* for RG_ACT_LEAKY_RELU; default 0.01 */
    rg_loss loss;          /* default RG_LOSS_CROSS_ENTROPY */
    rg_init init;          /* default RG_INIT_AUTO */
    int64_t batch;         /* rows per evaluation; default 32 */
    uint64_t seed;         /* for the initial weights; default 1 */
} rg_mlp_opts;

/* The defaults above; inputs and outputs are 0 and must be set. */
rg_mlp_opts rg_mlp_defaults(void);

/* Builds the network, its loss and the gradients of its parameters in graph g (whose dtype
 * it uses), with weights drawn from an rg_rng seeded with opts->seed and biases zero. Returns
 * NULL with the error recorded on g (bad sizes, unknown activation or loss, memory). Free it
 * with rg_mlp_free() before freeing g. */
rg_mlp *rg_mlp_new(rg_graph *g, const rg_mlp_opts *opts);
/* Releases the model's bookkeeping (its nodes belong to the graph). NULL is a no-op. */
void rg_mlp_free(rg_mlp *m);

/* The graph the model was built in. */
rg_graph *rg_mlp_graph(const rg_mlp *m);
/* The options it was built with (hidden points into the model's own copy). */
const rg_mlp_opts *rg_mlp_options(const rg_mlp *m);
/* Number of layers L (= nhidden + 1). */
int rg_mlp_layers(const rg_mlp *m);

/* The input x [batch, inputs]; the labels y ([batch], or [batch, outputs] for RG_LOSS_MSE
 * and RG_LOSS_BCE_LOGITS); the scores a_L [batch, outputs]; the scalar loss. */
rg_node *rg_mlp_input(const rg_mlp *m);
rg_node *rg_mlp_labels(const rg_mlp *m);
rg_node *rg_mlp_logits(const rg_mlp *m);
rg_node *rg_mlp_loss(const rg_mlp *m);

/* Layer k in 1..L: W_k, b_k, a_k and h_k (h_L is a_L; h_0 is x). NULL when k is out of range. */
rg_node *rg_mlp_weight(const rg_mlp *m, int k);
rg_node *rg_mlp_bias(const rg_mlp *m, int k);
rg_node *rg_mlp_pre(const rg_mlp *m, int k);
rg_node *rg_mlp_hidden(const rg_mlp *m, int k);

/* The parameters W1, b1, ..., WL, bL (2L of them; *n set to the count when n is not NULL),
 * their gradient nodes in the same order, and for each whether it is a weight (true) or a
 * bias (false), which is what weight decay looks at. The arrays belong to the model. */
rg_node *const *rg_mlp_params(const rg_mlp *m, int *n);
rg_node *const *rg_mlp_grads(const rg_mlp *m, int *n);
const bool *rg_mlp_is_weight(const rg_mlp *m);

/* Evaluates the scores of the batch in the input (labels are not needed). */
rg_status rg_mlp_forward(rg_mlp *m);
/* Evaluates, in one run of the executor, the loss, the scores and the gradient of every
 * parameter for the batch fed to the input and labels; afterwards rg_node_data() of the
 * loss, the logits and each gradient node holds its value. After the first call a call
 * allocates nothing. */
rg_status rg_mlp_backward(rg_mlp *m);

/* The scores of `rows` rows of x (rows * inputs doubles, row-major) into scores (rows *
 * outputs doubles), run batch by batch through the model's input (whose content it
 * replaces), the last batch padded with zeros. Works for any number of rows. */
rg_status rg_mlp_scores(rg_mlp *m, const double *x, int64_t rows, double *scores);

/* Copies the parameter values of src into dst (same architecture; batch sizes and dtypes may
 * differ: values are converted). RG_ERR_SHAPE if the architectures differ. */
rg_status rg_mlp_copy_params(rg_mlp *dst, const rg_mlp *src);

#ifdef __cplusplus
}
#endif
#endif /* RETROGRAD_NN_H */
