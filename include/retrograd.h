/*
 * retrograd: reverse-mode automatic differentiation in C11.
 *
 * Operations build a directed acyclic graph of nodes. Every op has a local derivative rule
 * (its vector-Jacobian product, VJP) written with the same constructors declared below, so
 * rg_grad() returns gradients as new nodes of the same graph: they are evaluated by the same
 * executor, can be differentiated again (Hessians), drawn, and gradient-checked.
 *
 * Conventions used throughout this header:
 * - Builders return NULL on error and record the first error on the graph (its status and a
 *   message naming the op and the shapes: rg_graph_status(), rg_graph_errmsg()). A builder
 *   given a NULL input returns NULL, so a whole expression can be built and checked once.
 * - Shapes are row-major, at most RG_MAX_DIMS dimensions; a scalar has 0 dimensions.
 *   Negative axes count from the end, as in NumPy.
 * - Elementwise binary ops broadcast their operands as NumPy does.
 * - Every _new has one _free; _free(NULL) is a no-op. Data passed in is copied unless the
 *   function's name says it borrows.
 * - At a kink every op takes the mean of its one-sided derivatives, from the single rule
 *   H(0) = 1/2 for the Heaviside step: relu'(0) = 1/2, leaky_relu'(0) = (1 + slope) / 2,
 *   abs'(0) = 0, maximum/minimum split a tie 1/2 : 1/2, and max over an axis shares the
 *   gradient equally among the entries that tie for the maximum.
 * - The library never prints, exits or aborts on a user error.
 */
#ifndef RETROGRAD_H
#define RETROGRAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RG_VERSION_MAJOR 0
#define RG_VERSION_MINOR 1
#define RG_VERSION_PATCH 0
#define RG_VERSION_STRING "0.1.0"

/* Most dimensions a tensor can have. */
#define RG_MAX_DIMS 8
/* Most inputs an op (built-in or user-registered) can take. */
#define RG_MAX_ARITY 4
/* Pass as the axis of a reduction to reduce over every axis. */
#define RG_AXIS_ALL (-1000)

/* ---------------------------------------------------------------------------------------
 * Status codes
 * ------------------------------------------------------------------------------------- */

#define RG_STATUS_LIST(X)                                                                  \
    X(OK, "success")                                                                       \
    X(ERR_NOMEM, "out of memory")                                                          \
    X(ERR_ARG, "invalid argument")                                                         \
    X(ERR_SHAPE, "shape mismatch")                                                         \
    X(ERR_DTYPE, "wrong dtype")                                                            \
    X(ERR_GRAPH, "nodes belong to different graphs")                                       \
    X(ERR_NO_VJP, "op has no derivative rule")                                             \
    X(ERR_NOT_EVALUATED, "value not evaluated")                                            \
    X(ERR_DOMAIN, "value out of range")                                                    \
    X(ERR_IO, "input/output error")                                                        \
    X(ERR_FORMAT, "malformed data")                                                        \
    X(ERR_UNSUPPORTED, "not supported by this build")

typedef enum rg_status {
#define RG__STATUS_ENUM(name, text) RG_##name,
    RG_STATUS_LIST(RG__STATUS_ENUM)
#undef RG__STATUS_ENUM
        RG__STATUS_COUNT
} rg_status;

/* A constant string describing status s ("unknown status" for a value out of range). */
const char *rg_strerror(rg_status s);

/* The library version as "major.minor.patch". */
const char *rg_version(void);

/* ---------------------------------------------------------------------------------------
 * Graphs and nodes
 * ------------------------------------------------------------------------------------- */

typedef enum rg_dtype { RG_F32 = 1, RG_F64 = 2 } rg_dtype;

/* What a node is. Inputs are fed before each run; parameters keep their values across runs
 * and are what rg_backward() differentiates; constants are fixed at creation. */
typedef enum rg_kind { RG_KIND_INPUT, RG_KIND_PARAM, RG_KIND_CONST, RG_KIND_OP } rg_kind;

typedef struct rg_graph rg_graph;
typedef struct rg_node rg_node;

/* Memory hooks: every allocation the library makes goes through these. realloc_fn may be
 * NULL (the library then allocates, copies and frees). Functions are called with ctx and
 * are never asked for 0 bytes; a NULL result is an allocation failure (RG_ERR_NOMEM). On
 * Linux a graph advises the system (madvise) on the memory it is about to fill: fault its
 * pages in with one call rather than one fault per page, and back the 2 MiB-aligned
 * stretches inside its node arena's chunks with huge pages where the system allows it; the
 * advice never changes the contents. */
typedef struct rg_allocator {
    void *(*malloc_fn)(void *ctx, size_t size);
    void *(*realloc_fn)(void *ctx, void *ptr, size_t size);
    void (*free_fn)(void *ctx, void *ptr);
    void *ctx;
} rg_allocator;

/* Sets the process-wide allocator: the default of graphs made afterwards, and the allocator
 * of everything that belongs to no graph (data sets, IDX arrays, batch iterators, models, and
 * the buffers of the readers and of model files). `alloc` is copied; NULL, or one without
 * malloc_fn or free_fn, restores the C library's malloc/realloc/free. This is global state:
 * set it before any other call, and do not change it while other threads use the library or
 * while an object made under the previous allocator is alive (it would be freed by the wrong
 * allocator). What the C library allocates on its own inside a call (FILE buffers, locales)
 * and what Graphviz allocates for drawing do not go through it. */
void rg_set_allocator(const rg_allocator *alloc);

/* A new empty graph whose tensors all have dtype `dtype` (RG_F32 for training, RG_F64 for
 * gradient checking), allocating through the process-wide allocator. NULL if dtype is
 * invalid or memory runs out. */
rg_graph *rg_graph_new(rg_dtype dtype);

/* As rg_graph_new(), with every allocation of the graph going through `alloc` (copied; NULL
 * means the process-wide allocator, see rg_set_allocator()). Objects tied to the graph
 * (rg_mlp, rg_optim) allocate through it too. */
rg_graph *rg_graph_new_with_allocator(rg_dtype dtype, const rg_allocator *alloc);

/* Releases the graph, all its nodes, their buffers and plans. NULL is a no-op. */
void rg_graph_free(rg_graph *g);

rg_dtype rg_graph_dtype(const rg_graph *g);

/* Number of nodes created so far; node ids run from 0 to this minus one. */
size_t rg_graph_node_count(const rg_graph *g);

/* The node with creation index `id`, or NULL if there is none. */
rg_node *rg_graph_node(const rg_graph *g, size_t id);

/* First error recorded on the graph (RG_OK if none) and its message ("" if none). */
rg_status rg_graph_status(const rg_graph *g);
const char *rg_graph_errmsg(const rg_graph *g);
/* Forgets the recorded error so later errors are recorded again. */
void rg_graph_clear_error(rg_graph *g);

/* Number of allocations the graph has made through its allocator since creation. A re-run
 * of an unchanged graph leaves it unchanged; tests use it to prove that. */
uint64_t rg_graph_alloc_count(const rg_graph *g);

/* When on, every evaluated node keeps its value after rg_eval() (for inspection, drawing
 * and teaching) and nothing is fused; when off (the default), intermediate nodes share
 * buffers by liveness, a value read only inside a run of elementwise ops over the same number
 * of elements (a fused group, evaluated tile by tile) or a matmul read only by the add after
 * it (the add's output is filled with its other operand and the product accumulated onto
 * it) never exists whole and its rg_node_data() is NULL, and only the targets, inputs,
 * parameters and constants are guaranteed readable afterwards. */
void rg_graph_set_keep_values(rg_graph *g, bool keep);
bool rg_graph_keep_values(const rg_graph *g);

/* Anomaly mode. When on, rg_eval() checks the output of every op it runs, forward and
 * backward nodes alike, and stops at the first NaN or infinity with RG_ERR_DOMAIN and a
 * message naming the node (id, op, name; a gradient node as "gradient of <forward node>"),
 * whether it belongs to the backward pass and its sweep step, the first bad element, and the
 * range of each of its inputs (min, max over the finite values, count of non-finite ones):
 *   check_finite: node 12 'log' (a2) produced -inf at element 3 (1 of 4 non-finite);
 *   inputs: #11 'relu' (h1) [min 0, max 2.5]
 * An input or parameter that already holds a NaN or infinity when an op reads it is reported
 * as such ("node 0 'input' (x) holds nan at element 2 ..., read by node 5 'log'"), before the
 * op runs. Constants are not checked on their own (a -inf constant is a deliberate mask);
 * what an op makes of one is. Every op runs alone in this mode (nothing is fused). Off by
 * default; when off the executor does no checking at all. The check allocates nothing and
 * costs one pass over each value. */
void rg_graph_set_check_finite(rg_graph *g, bool on);
bool rg_graph_check_finite(const rg_graph *g);

/* Leaves. `shape` has `ndim` entries (ndim 0: a scalar; shape may then be NULL). The name is
 * copied and may be NULL. Inputs and parameters start zeroed unless `data` is given;
 * `data`, when not NULL, holds rg_node_size() values of the graph's dtype and is copied. */
rg_node *rg_input(rg_graph *g, const char *name, int ndim, const int64_t *shape);
rg_node *rg_param(rg_graph *g, const char *name, int ndim, const int64_t *shape,
                  const void *data);
rg_node *rg_const(rg_graph *g, int ndim, const int64_t *shape, const void *data);
/* A scalar constant. */
rg_node *rg_scalar(rg_graph *g, double value);
/* A constant of shape `shape` whose every element is `value` (computed, not stored). */
rg_node *rg_fill(rg_graph *g, int ndim, const int64_t *shape, double value);

/* Copies rg_node_size(n) values of the graph's dtype from `data` into input or parameter n. */
rg_status rg_feed(rg_node *n, const void *data);
/* Makes input n read from `data` directly, which the caller keeps alive and unchanged while
 * the graph runs (no copy). Pass NULL to return to the node's own buffer. */
rg_status rg_feed_borrow(rg_node *n, const void *data);
/* Copies `count` doubles into n (converted to the graph's dtype); count must equal the size. */
rg_status rg_feed_f64(rg_node *n, const double *data, int64_t count);

/* Node properties. */
rg_graph *rg_node_graph(const rg_node *n);
size_t rg_node_id(const rg_node *n);
rg_kind rg_node_kind(const rg_node *n);
/* Name of the node's op: "input", "param", "const", "add", ...; custom ops their own name. */
const char *rg_node_op_name(const rg_node *n);
/* The op id (see rg_op_register()); leaves have ids too. */
int rg_node_op(const rg_node *n);
const char *rg_node_name(const rg_node *n); /* NULL when unnamed */
rg_status rg_node_set_name(rg_node *n, const char *name);
int rg_node_ndim(const rg_node *n);
const int64_t *rg_node_shape(const rg_node *n);
int64_t rg_node_size(const rg_node *n);
int rg_node_arity(const rg_node *n);
rg_node *rg_node_input(const rg_node *n, int i);
/* Formats the shape as "[3,4]" ("[]" for a scalar) into buf; returns buf. */
char *rg_shape_str(int ndim, const int64_t *shape, char *buf, size_t len);

/* The node's value buffer (rg_node_size() values of the graph's dtype), or NULL if it has not
 * been evaluated. See rg_graph_set_keep_values() for which values survive an evaluation. */
void *rg_node_data(const rg_node *n);
/* Element i of the value, converted to double (NaN if there is no value or i is out of
 * range). rg_node_item() is element 0, for scalars. */
double rg_node_get(const rg_node *n, int64_t i);
double rg_node_item(const rg_node *n);
/* Copies the value into `out` as doubles (rg_node_size() of them). */
rg_status rg_node_read_f64(const rg_node *n, double *out);

/* Gradient bookkeeping, set by rg_grad()/rg_backward():
 * rg_node_grad(x)       the gradient node of x built by the last rg_backward() (or NULL);
 * rg_node_grad_of(gn)   for a gradient node gn, the forward node whose gradient it is;
 * rg_node_sweep_step(n) 0 for nodes built outside a sweep, else k >= 1: n was built while
 *                       the reverse sweep applied its k-th VJP (numbering is per rg_grad call);
 * rg_node_is_grad(n)    true for every node built by a reverse sweep. */
rg_node *rg_node_grad(const rg_node *x);
rg_node *rg_node_grad_of(const rg_node *gn);
int rg_node_sweep_step(const rg_node *n);
bool rg_node_is_grad(const rg_node *n);

/* ---------------------------------------------------------------------------------------
 * Ops. Each comment gives the formula and the derivative used by its VJP.
 * ------------------------------------------------------------------------------------- */

/* Elementwise binary, with broadcasting. */
rg_node *rg_add(rg_node *a, rg_node *b);     /* a + b;   d/da 1, d/db 1 */
rg_node *rg_sub(rg_node *a, rg_node *b);     /* a - b;   d/da 1, d/db -1 */
rg_node *rg_mul(rg_node *a, rg_node *b);     /* a * b;   d/da b, d/db a */
rg_node *rg_div(rg_node *a, rg_node *b);     /* a / b;   d/da 1/b, d/db -a/b^2 */
rg_node *rg_pow(rg_node *a, rg_node *b);     /* a ^ b;   d/da b a^(b-1), d/db a^b log a */
rg_node *rg_maximum(rg_node *a, rg_node *b); /* max(a,b); d/da H(a-b), d/db H(b-a) */
rg_node *rg_minimum(rg_node *a, rg_node *b); /* min(a,b); d/da H(b-a), d/db H(a-b) */
/* pow at a = 0: 0^0 = 1, 0^b = 0 for b > 0, +inf for b < 0. d/da there is b 0^(b-1): 0 for
 * b > 1, 1 for b = 1, +inf for 0 < b < 1. At b = 0, d/da is 0 for every a, a = 0 included,
 * and so is every higher derivative in a (a^0 = 1 is flat; b a^-1 would be 0 * inf at a = 0),
 * as in PyTorch. d/db at a = 0 is taken as 0 for b >= 0, as in PyTorch (0^b is flat for
 * b > 0; a^b log a would be 0 * -inf), and is NaN for b < 0. For a < 0, d/db is NaN (log a);
 * it is only built when asked for. */

/* Elementwise unary. */
rg_node *rg_neg(rg_node *x);      /* -x;         -1 */
rg_node *rg_exp(rg_node *x);      /* e^x;        e^x  (e^1000 = inf, e^-1000 = 0, both types) */
rg_node *rg_log(rg_node *x);      /* ln x;       1/x  (log 0 = -inf, its gradient +inf; x<0: NaN) */
rg_node *rg_sqrt(rg_node *x);     /* sqrt x;     1/(2 sqrt x)  (sqrt 0 = 0, its gradient +inf) */
rg_node *rg_square(rg_node *x);   /* x^2;        2x */
rg_node *rg_abs(rg_node *x);      /* |x|;        2H(x) - 1 (sign) */
rg_node *rg_sin(rg_node *x);      /* sin x;      cos x */
rg_node *rg_cos(rg_node *x);      /* cos x;      -sin x */
rg_node *rg_tanh(rg_node *x);     /* tanh x;     1 - tanh^2 x  (+-1 and gradient 0 at +-1000) */
/* sigmoid and softplus exponentiate only non-positive numbers, so they never overflow: at
 * +-1000 sigmoid is exactly 1 and 0 (gradient 0), softplus exactly 1000 and 0 (gradient 1, 0). */
rg_node *rg_sigmoid(rg_node *x);  /* 1/(1+e^-x); s (1 - s) */
rg_node *rg_relu(rg_node *x);     /* max(x, 0);  H(x) */
rg_node *rg_leaky_relu(rg_node *x, double slope); /* x>0 ? x : slope x; slope + (1-slope) H(x) */
rg_node *rg_softplus(rg_node *x); /* ln(1+e^x);  sigmoid x */
rg_node *rg_heaviside(rg_node *x); /* H(x): 1 for x>0, 1/2 at 0, 0 below; derivative 0 */

/* Fused backward ops: the VJPs of tanh, sigmoid and relu as one node (and one pass) each,
 * which those ops' VJPs use. Both inputs have the same shape. Differentiable themselves. */
rg_node *rg_tanh_grad(rg_node *y, rg_node *gy);    /* gy (1 - y^2), y = tanh x */
rg_node *rg_sigmoid_grad(rg_node *s, rg_node *gy); /* gy s (1 - s), s = sigmoid x */
rg_node *rg_relu_grad(rg_node *x, rg_node *gy);    /* gy H(x); x is relu's input */

/* Linear algebra and shapes. */
/* op(a) @ op(b), op transposing the last two axes when the flag is set. 2-D: [m,k]@[k,n];
 * 3-D batched: [B,m,k]@[B,k,n]; a 2-D operand is shared across the batch of a 3-D one.
 * d/da = g @ op(b)^T, d/db = op(a)^T @ g (built with flags, so no transposes are copied). */
rg_node *rg_matmul_t(rg_node *a, rg_node *b, bool trans_a, bool trans_b);
rg_node *rg_matmul(rg_node *a, rg_node *b);
/* Axes reordered: output axis i is input axis perm[i]. */
rg_node *rg_permute(rg_node *x, const int *perm);
/* Swaps the last two axes (a 1-D or 0-D x is returned as is). */
rg_node *rg_transpose(rg_node *x);
/* Same data, new shape of equal size; one entry may be -1 (inferred). */
rg_node *rg_reshape(rg_node *x, int ndim, const int64_t *shape);
/* NumPy broadcasting of x to `shape`; its VJP is rg_sum_to(). */
rg_node *rg_broadcast_to(rg_node *x, int ndim, const int64_t *shape);
/* Sums x down to `shape` (the inverse of broadcasting); its VJP is rg_broadcast_to(). */
rg_node *rg_sum_to(rg_node *x, int ndim, const int64_t *shape);
/* Joins a and b along `axis` (all other dimensions equal). */
rg_node *rg_concat(rg_node *a, rg_node *b, int axis);
/* Elements [start, stop) of x along `axis`; its VJP is rg_pad(). */
rg_node *rg_slice(rg_node *x, int axis, int64_t start, int64_t stop);
/* x placed at offset `start` along `axis` of a zero tensor whose size there is `size`. */
rg_node *rg_pad(rg_node *x, int axis, int64_t start, int64_t size);
/* Rows of `table` ([V, ...]) picked by `index` (any shape, integer values in [0, V)):
 * shape index.shape + table.shape[1:]. The embedding lookup. */
rg_node *rg_gather(rg_node *table, rg_node *index);
/* The adjoint of gather: a zero tensor of `rows` rows with rows of `src` added at `index`. */
rg_node *rg_scatter_add(rg_node *src, rg_node *index, int64_t rows);
/* One-hot rows: index (any shape, integers in [0, depth)) -> index.shape + [depth]. */
rg_node *rg_one_hot(rg_node *index, int64_t depth);

/* Reductions over one axis, or every axis with RG_AXIS_ALL; keepdims keeps reduced axes as
 * size 1. max shares the gradient equally among entries that tie for the maximum. */
rg_node *rg_sum(rg_node *x, int axis, bool keepdims);
rg_node *rg_mean(rg_node *x, int axis, bool keepdims);
rg_node *rg_max(rg_node *x, int axis, bool keepdims);
/* The entries of x that hold the maximum along `axis` (or RG_AXIS_ALL): 1 there (each of tied
 * maxima), 0 elsewhere, NaN along a line that holds a NaN; x's shape. The mask max's
 * gradient is built from. Its derivative is 0; for gradient checking its kink is max's (the
 * gap between the largest value and the runner-up). */
rg_node *rg_max_mask(rg_node *x, int axis);

/* Softmax and log-softmax over `axis`, computed with the maximum subtracted so no
 * exponential overflows. softmax' = y (g - sum(g y)); log_softmax' = g - e^y sum(g).
 * Logits as large as +-1e30 (f32 and f64) give finite results and their exact limits: an
 * entry below the row's maximum by ~1e30 has softmax 0 and log_softmax (x - max); equal
 * entries, however large, are uniform (log_softmax -ln C). */
rg_node *rg_softmax(rg_node *x, int axis);
rg_node *rg_log_softmax(rg_node *x, int axis);
/* Mean over the batch of -log softmax(logits)[label]: logits [N,C], labels [N] holding class
 * indices in [0, C) as values of the graph's dtype. Fused and stable (log-sum-exp): a row
 * whose label's logit is 1e30 above the others costs 0; 1e30 below, 1e30 (finite).
 * d/dlogits = (softmax(logits) - one_hot(labels)) / N. Labels get no gradient. */
rg_node *rg_cross_entropy(rg_node *logits, rg_node *labels);
/* mean((a - b)^2) over every element (a and b broadcast). Built from sub, square and mean. */
rg_node *rg_mse(rg_node *a, rg_node *b);

/* ---------------------------------------------------------------------------------------
 * Evaluation
 * ------------------------------------------------------------------------------------- */

/* Computes the `n` targets and what they need, in creation order. The plan (order and
 * buffer assignment) is built on the first call for a given target list and reused after:
 * evaluating the same targets again allocates nothing. Fails on a sticky graph error, or
 * when a kernel rejects data (an index out of range), with the message on the graph. */
rg_status rg_eval(rg_graph *g, int n, rg_node *const *targets);
/* Shorthand for one target. */
rg_status rg_eval1(rg_node *target);

/* ---------------------------------------------------------------------------------------
 * Automatic differentiation
 * ------------------------------------------------------------------------------------- */

/* Gradients of scalar y with respect to xs[0..n-1], written to grads[0..n-1] as new nodes
 * of y's graph (evaluate them with rg_eval()). An x that y does not depend on gets a node of
 * exact zeros. Fails (grads all NULL) if y is not a scalar, if the nodes span graphs, or if
 * an op on the way has no VJP (the message names it). Differentiating a gradient again works
 * for every op whose derivative is differentiable. */
rg_status rg_grad(rg_node *y, int n, rg_node *const *xs, rg_node **grads);

/* The vector-Jacobian product seed^T (dy/dx) for any y: seed has y's shape. */
rg_status rg_vjp(rg_node *y, rg_node *seed, int n, rg_node *const *xs, rg_node **grads);

/* The PyTorch-like convenience: builds (on first use for this loss) the gradients of every
 * parameter that `loss` depends on, then evaluates the loss and all of them. Afterwards
 * rg_node_grad(p) is the gradient node of each such parameter p and rg_node_data() of it
 * holds its value. Later calls for the same loss only re-evaluate. */
rg_status rg_backward(rg_node *loss);

/* ---------------------------------------------------------------------------------------
 * User-defined ops
 * ------------------------------------------------------------------------------------- */

/* One row of the op table: built-in ops are rows of the same structure.
 * - shape:   set the output shape from the inputs with rg_node_set_shape(); on a mismatch,
 *            report it with rg_node_fail() (which returns the status to return).
 * - forward: read the inputs' rg_node_data() and write the node's; one per dtype (a NULL
 *            one makes graphs of that dtype refuse the op at build time).
 * - vjp:     given the gradient gy of the node's output, build with public constructors the
 *            gradient of each input i for which need[i] is true into gin[i]. NULL: the op has
 *            no derivative and rg_grad() through it fails naming the op.
 * - kink:    optional: distance of the current input values from the nearest point where
 *            the op is not differentiable (gradient checking reports such points as
 *            non-smooth rather than failed). NULL for smooth ops.
 * - data:    free for the op's use (rg_node_op_data()). */
typedef struct rg_op_def {
    const char *name;
    int arity;
    rg_status (*shape)(rg_node *node);
    rg_status (*forward_f32)(rg_node *node);
    rg_status (*forward_f64)(rg_node *node);
    rg_status (*vjp)(rg_node *node, rg_node *gy, const bool *need, rg_node **gin);
    double (*kink)(const rg_node *node);
    void *data;
} rg_op_def;

/* Registers an op on graph g (the definition is copied; the name must stay valid). Returns
 * its op id, or -1 with the error recorded on g. */
int rg_op_register(rg_graph *g, const rg_op_def *def);
/* Number of ops known to g (built-in and registered; ids run from 0 to this minus one),
 * the name of op `op` (NULL if there is none), and the id of the op called `name` (-1). */
int rg_op_count(const rg_graph *g);
const char *rg_op_name(const rg_graph *g, int op);
int rg_op_lookup(const rg_graph *g, const char *name);
/* Arity of op `op` (-1 if there is none). */
int rg_op_arity(const rg_graph *g, int op);
/* Applies op `op` (built-in or registered) to inputs[0..n-1]. */
rg_node *rg_apply(rg_graph *g, int op, int n, rg_node *const *inputs);
/* For shape functions: set the output shape, or record an error naming the op. */
rg_status rg_node_set_shape(rg_node *node, int ndim, const int64_t *shape);
rg_status rg_node_fail(rg_node *node, rg_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* The `data` field of the node's op definition. */
void *rg_node_op_data(const rg_node *node);

/* ---------------------------------------------------------------------------------------
 * Gradient checking (f64 graphs only)
 * ------------------------------------------------------------------------------------- */

typedef struct rg_gradcheck_opts {
    double eps;  /* central-difference step; default 1e-6 */
    double atol; /* pass when |analytic - numeric| <= atol + rtol |numeric|; default 1e-5 */
    double rtol; /* default 1e-3 */
    uint64_t seed; /* random directions of the adjoint test; default 1 */
} rg_gradcheck_opts;

rg_gradcheck_opts rg_gradcheck_defaults(void);

typedef struct rg_gradcheck_report {
    bool passed;         /* every checked element within tolerance */
    bool nonsmooth;      /* an op was evaluated within 10 eps of a kink: a mismatch there is
                            expected and is not counted as a failure */
    int64_t checked;     /* elements compared */
    double max_abs_err;
    double max_rel_err;
    int worst_input;     /* index into xs of the worst element (-1 if none) */
    int64_t worst_index; /* flat index of that element */
    double worst_analytic;
    double worst_numeric;
    char kink_op[32];    /* name of an op found at a kink, when nonsmooth */
} rg_gradcheck_report;

/* Compares rg_grad() of scalar y with central differences (f(x+eps)-f(x-eps))/2eps for every
 * element of each x in xs (leaves: inputs, parameters or constants; values restored after).
 * Returns RG_OK when the check ran (see report->passed), RG_ERR_DTYPE for an f32 graph (an
 * f32 finite difference cannot separate rounding from error), or the error that stopped it. */
rg_status rg_gradcheck(rg_node *y, int n, rg_node *const *xs, const rg_gradcheck_opts *opts,
                       rg_gradcheck_report *report);

/* The cheap check for large tensors: with random directions u (over xs) and v (over y, any
 * shape), compares <v, (f(x+eps u) - f(x-eps u)) / 2eps> with <u, J^T v> from one VJP.
 * Fills the report with that single comparison. */
rg_status rg_gradcheck_adjoint(rg_node *y, int n, rg_node *const *xs,
                               const rg_gradcheck_opts *opts, rg_gradcheck_report *report);

/* Writes a one-paragraph summary of the report into buf; returns buf. */
char *rg_gradcheck_format(const rg_gradcheck_report *r, char *buf, size_t len);

/* ---------------------------------------------------------------------------------------
 * The BLAS behind matmul
 *
 * GEMM runs on OpenBLAS when the build allows it and the library can be loaded, else on a
 * portable blocked loop. OpenBLAS is loaded at the first matmul (or the first call below), and
 * when OPENBLAS_CORETYPE is unset its kernels are chosen from the CPU's features (AVX-512
 * F/BW/VL/DQ: SkylakeX; AVX2 and FMA: Haswell) so that CPUs newer than the library still get
 * fast ones; a value the user set is used as it is. See docs/performance.md.
 * ------------------------------------------------------------------------------------- */

/* One line naming the backend, where it was loaded from, its kernel type and where that came
 * from, and its thread count, e.g. "OpenBLAS 0.3.21 (libopenblas.so.0), core SkylakeX (chosen
 * by retrograd from the CPU's features), 2 threads". The string belongs to the calling thread
 * and stays valid until its next call. Loads the backend if no matmul has yet. */
const char *rg_blas_info(void);

/* Makes each BLAS call use n threads: RG_OK when the backend now runs on n; RG_ERR_ARG for
 * n < 1; RG_ERR_DOMAIN when it capped the count (rg_blas_info() tells the count in use);
 * RG_ERR_UNSUPPORTED when the backend cannot be told (the portable loop runs on one thread,
 * so n = 1 is RG_OK for it). The setting is process-wide. With n = 1 and the kernels' pool on
 * more threads (rg_set_threads), large products are split over the pool instead, which is
 * the faster arrangement for training: the BLAS's own threads would spin between products on
 * the cores the pool needs. */
rg_status rg_blas_set_threads(int n);

/* ---------------------------------------------------------------------------------------
 * Threads for the kernels
 *
 * Elementwise ops, reductions, softmax, broadcasting copies and the optimisers' update of
 * more than 65,536 elements are split over a pool of n threads (the calling thread and n - 1
 * workers), and so are matrix products of more than n 2^21 multiply-adds when the BLAS runs
 * on one thread (rg_blas_set_threads(1)): one part of C's columns or rows per thread, each a
 * BLAS call. The setting is process-wide (default 1: no worker threads); the workers are
 * created by the first kernel that needs them, sleep when idle, and are joined at exit. The
 * executor runs one kernel (or one fused group of elementwise ops, split by blocks) at a
 * time, so the pool and the BLAS's threads are never busy at once for one graph. Results do
 * not depend on n: elementwise results are the same bits for any n, reductions split their
 * input in blocks that depend on its size only, and a split product computes every element
 * as the whole product does. Graphs used from several threads at once share the pool: a
 * kernel that finds it busy runs on its own thread.
 * ------------------------------------------------------------------------------------- */

/* Sets the thread count n: RG_OK; RG_ERR_ARG for n < 1 (nothing changes); RG_ERR_DOMAIN when
 * n is above 64 (64 is used). Waits for a kernel running on the pool to finish. */
rg_status rg_set_threads(int n);
/* The thread count set by rg_set_threads() (1 until it is called). */
int rg_get_threads(void);

#ifdef __cplusplus
}
#endif

#include "retrograd/nn.h"
#include "retrograd/optim.h"
#include "retrograd/data.h"
#include "retrograd/io.h"
#include "retrograd/dot.h"

#endif /* RETROGRAD_H */
