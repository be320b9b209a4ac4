/* Internal declarations shared by the library's files. Not installed. */
#ifndef RG_INTERNAL_H
#define RG_INTERNAL_H

#include "retrograd.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The built-in op list: one row per op, X(ENUM_SUFFIX, lower_name). The row generates the
 * op id RG_OP_<ENUM_SUFFIX> and a table entry pointing at `rg__op_<lower_name>`, an
 * rg_op_def defined in the op's family file (a missing definition fails to link). Leaves
 * come first. Order is the op id order and otherwise carries no meaning. */
#define RG__OP_LIST(X)                                                                     \
    /* leaves: src/ops/leaf.c */                                                           \
    X(INPUT, input)                                                                        \
    X(PARAM, param)                                                                        \
    X(CONST, const)                                                                        \
    X(FILL, fill)                                                                          \
    /* elementwise binary: src/ops/binary.c */                                             \
    X(ADD, add)                                                                            \
    X(SUB, sub)                                                                            \
    X(MUL, mul)                                                                            \
    X(DIV, div)                                                                            \
    X(POW, pow)                                                                            \
    X(MAXIMUM, maximum)                                                                    \
    X(MINIMUM, minimum)                                                                    \
    /* elementwise unary: src/ops/unary.c */                                               \
    X(NEG, neg)                                                                            \
    X(EXP, exp)                                                                            \
    X(LOG, log)                                                                            \
    X(SQRT, sqrt)                                                                          \
    X(SQUARE, square)                                                                      \
    X(ABS, abs)                                                                            \
    X(SIN, sin)                                                                            \
    X(COS, cos)                                                                            \
    X(TANH, tanh)                                                                          \
    X(SIGMOID, sigmoid)                                                                    \
    X(RELU, relu)                                                                          \
    X(LEAKY_RELU, leaky_relu)                                                              \
    X(SOFTPLUS, softplus)                                                                  \
    X(HEAVISIDE, heaviside)                                                                \
    /* linear algebra: src/ops/linalg.c */                                                 \
    X(MATMUL, matmul)                                                                      \
    X(PERMUTE, permute)                                                                    \
    /* shapes and indexing: src/ops/shape.c */                                             \
    X(RESHAPE, reshape)                                                                    \
    X(BROADCAST_TO, broadcast_to)                                                          \
    X(SUM_TO, sum_to)                                                                      \
    X(CONCAT, concat)                                                                      \
    X(SLICE, slice)                                                                        \
    X(PAD, pad)                                                                            \
    X(GATHER, gather)                                                                      \
    X(SCATTER_ADD, scatter_add)                                                            \
    X(ONE_HOT, one_hot)                                                                    \
    /* reductions: src/ops/reduce.c */                                                     \
    X(SUM, sum)                                                                            \
    X(MEAN, mean)                                                                          \
    X(MAX, max)                                                                            \
    X(MAX_MASK, max_mask)                                                                  \
    /* softmax and losses: src/ops/loss.c */                                               \
    X(SOFTMAX, softmax)                                                                    \
    X(LOG_SOFTMAX, log_softmax)                                                            \
    X(CROSS_ENTROPY, cross_entropy)                                                        \
    /* fused backward ops: src/ops/grad_ops.c */                                           \
    X(TANH_GRAD, tanh_grad)                                                                \
    X(SIGMOID_GRAD, sigmoid_grad)                                                          \
    X(RELU_GRAD, relu_grad)

enum rg__op_id {
#define RG__OP_ENUM(ID, lower) RG_OP_##ID,
    RG__OP_LIST(RG__OP_ENUM)
#undef RG__OP_ENUM
        RG_OP__BUILTIN_COUNT
};

#define RG__OP_DECL(ID, lower) extern const rg_op_def rg__op_##lower;
RG__OP_LIST(RG__OP_DECL)
#undef RG__OP_DECL

/* Attributes of a node, set by its constructor before shape inference. Each op documents
 * which fields it uses; the rest stay zero. */
struct rg__attr {
    double f;          /* leaky_relu slope, fill value */
    int32_t axis;      /* reductions, softmax, concat, slice, pad (normalised, >= 0) */
    int8_t keepdims;   /* reductions */
    int8_t ta, tb;     /* matmul transpose flags */
    int64_t i0, i1;    /* slice [i0, i1); pad start i0 and size i1; one_hot depth i0;
                          scatter_add rows i0 */
    int8_t perm[RG_MAX_DIMS]; /* permute */
};

/* The arena places nodes at 64-byte boundaries, so the fields up to `data` share one cache
 * line: all that the reverse sweep and the walks over a graph's edges read of a node. */
struct rg_node {
    rg_graph *g;
    uint32_t id;    /* creation index: nodes only refer to earlier nodes */
    int16_t op;     /* index into the graph's op table */
    uint8_t kind;   /* rg_kind */
    uint8_t ndim;
    uint8_t arity;
    uint8_t is_grad; /* built by a reverse sweep */
    uint8_t own_in_arena; /* a leaf's small buffer lives in the node arena */
    int32_t step;    /* sweep step that built it (0: none) */
    union {
        rg_node *in[RG_MAX_ARITY]; /* an op's inputs (arity of them) */
        void *own; /* a leaf's own buffer (data points here unless borrowed); leaves have
                      no inputs, so the two share the space */
    };
    void *data;      /* current value: leaf buffer, or a slot of the running plan */
    int64_t size;
    int64_t shape[RG_MAX_DIMS];
    const char *name;
    union {
        rg_node *grad;    /* a parameter's gradient node, built by rg_backward() */
        rg_node *grad_of; /* a gradient node's forward node (is_grad set); a parameter is
                             never a gradient node, so the two share the space */
    };
    struct rg__attr attr;
};

struct rg__plan; /* exec.c */
struct rg__chunk;

#define RG__PLAN_CACHE 8
#define RG__ERRMSG_LEN 512

struct rg_graph {
    rg_dtype dtype;
    size_t elem; /* bytes per element */
    rg_allocator alloc;
    uint64_t nalloc;
    rg_status status;
    char msg[RG__ERRMSG_LEN];

    rg_node **nodes; /* by id */
    size_t n, cap;
    size_t heap_leaves; /* leaves whose buffer is not in the arena: rg_graph_free() frees them */
    struct rg__chunk *chunks; /* bump arena for nodes and names */

    rg_op_def *ops; /* built-in rows first, then registered ones */
    int nops, capops;

    struct rg__plan *plans[RG__PLAN_CACHE];
    uint64_t plan_clock;
    bool keep_values;
    bool check_finite; /* anomaly mode: rg_graph_set_check_finite() */

    /* rg_backward(): the loss it was built for and the list it evaluates */
    rg_node *bw_loss;
    rg_node **bw_targets;
    int bw_n;

    /* state of the reverse sweep currently building nodes (0: none) */
    int32_t sweep_step;
};

/* Memory through the graph's allocator; all count towards rg_graph_alloc_count(). */
void *rg__malloc(rg_graph *g, size_t size);
void *rg__calloc(rg_graph *g, size_t n, size_t size);
void *rg__realloc(rg_graph *g, void *p, size_t old_size, size_t size);
void rg__free(rg_graph *g, void *p);

/* The executor's buffers (the plan's arena, the fused groups' scratch) start on a cache line:
 * the allocator's 16 bytes would split every other vector access across two lines. */
#define RG__ALIGN 64

/* x rounded up to a multiple of RG__ALIGN. */
static inline size_t rg__align_up(size_t x)
{
    return (x + RG__ALIGN - 1) / RG__ALIGN * RG__ALIGN;
}

/* `size` bytes from the graph's allocator starting on an RG__ALIGN boundary, or NULL; *mem
 * receives the allocation itself, the pointer to give rg__free(). */
static inline void *rg__malloc_aligned(rg_graph *g, size_t size, void **mem)
{
    *mem = rg__malloc(g, size + RG__ALIGN);
    return *mem ? (void *)rg__align_up((size_t)(uintptr_t)*mem) : NULL;
}

/* Memory through the process-wide allocator (rg_set_allocator()), for what belongs to no
 * graph: data sets, IDX arrays, batch iterators, models and the readers' buffers. Sizes of 0
 * allocate 1 byte, so NULL always means failure; rg__mem_realloc needs the old size for
 * allocators without realloc_fn; rg__mem_free(NULL) is a no-op. */
void *rg__mem_malloc(size_t size);
void *rg__mem_calloc(size_t n, size_t size);
void *rg__mem_realloc(void *p, size_t old_size, size_t size);
void rg__mem_free(void *p);
/* A NUL-terminated copy of s[0..n-1]. */
char *rg__mem_strndup(const char *s, size_t n);

/* Records the first error on the graph; returns status. */
rg_status rg__fail(rg_graph *g, rg_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
rg_status rg__vfail(rg_graph *g, rg_status status, const char *fmt, va_list ap);

/* The op definition of node n / of op id `op` in g. */
const rg_op_def *rg__def(const rg_node *n);

/* Builds an op node: checks the inputs (NULL propagates as NULL; nodes of another graph are
 * an error), copies `attr` (may be NULL), runs the op's shape rule, then commits the node.
 * Returns NULL with the error recorded when anything fails. */
rg_node *rg__make(rg_graph *g, int op, int n, rg_node *const *in, const struct rg__attr *attr);

/* As rg__make, with the output shape given up front (ndim >= 0): the prototype carries it
 * when the shape rule runs, and the rule validates it against the inputs (reshape,
 * broadcast_to, sum_to, fill: ops whose output shape is an argument). */
rg_node *rg__make_shaped(rg_graph *g, int op, int n, rg_node *const *in,
                         const struct rg__attr *attr, int ndim, const int64_t *shape);

/* Creates a leaf (input, param, const) owning a zeroed buffer, or a copy of `data`. */
rg_node *rg__make_leaf(rg_graph *g, int op, rg_kind kind, const char *name, int ndim,
                       const int64_t *shape, const void *data);

/* Fills g->ops with the built-in table (op_table.c). */
rg_status rg__ops_init(rg_graph *g);

/* The graph of the first non-NULL node among in[0..n-1], or NULL. */
rg_graph *rg__graph_of(int n, rg_node *const *in);

/* Normalises axis (negative counts from the end) for a tensor of ndim dimensions; returns
 * -1 if out of range. RG_AXIS_ALL is returned unchanged. */
int rg__axis(int axis, int ndim);

/* True when the two shapes are identical. Inline: every elementwise constructor and every
 * step of the reverse sweep asks. */
static inline bool rg__shape_eq(int na, const int64_t *a, int nb, const int64_t *b)
{
    if (na != nb)
        return false;
    for (int i = 0; i < na; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

static inline bool rg__same_shape(const rg_node *a, const rg_node *b)
{
    return rg__shape_eq(a->ndim, a->shape, b->ndim, b->shape);
}

/* For shape rules whose output has input x's shape: copies it without the checks of
 * rg_node_set_shape(), which x passed when it was built. */
static inline void rg__set_shape_of(rg_node *n, const rg_node *x)
{
    n->ndim = x->ndim;
    for (int i = 0; i < x->ndim; i++)
        n->shape[i] = x->shape[i];
    n->size = x->size;
}

/* NumPy broadcast of two shapes into out (RG_MAX_DIMS entries); returns the result's ndim
 * or -1 if they do not broadcast. */
int rg__broadcast_shape(int na, const int64_t *a, int nb, const int64_t *b, int64_t *out);

/* Element strides of tensor `in` seen through an output of shape (ndim, shape) it
 * broadcasts to: 0 along broadcast axes. strides has ndim entries. */
void rg__bcast_strides(const rg_node *in, int ndim, const int64_t *shape, int64_t *strides);

/* The library's step H(x) in type T: 1 above 0, 0 below, 1/2 at 0, NaN for NaN (heaviside,
 * relu_grad, max_mask). NaN is tested first: the vectorised form of a trailing
 * `x == 0 ? .. : x` uses an ordered not-equal compare that valgrind emulates as unordered,
 * so memcheck runs saw 0. */
#define RG__STEP(T, x) ((x) != (x) ? (x) : (x) > 0 ? (T)1 : (x) < 0 ? (T)0 : (T)0.5)

/* A kink function (rg_op_def.kink): the distance of in[0]'s values from 0, where relu,
 * leaky_relu, abs, heaviside and relu_grad change their rule (src/ops/unary.c). */
double rg__kink_at_zero(const rg_node *n);

/* A zero tensor with x's shape (for VJPs whose derivative is exactly zero). */
rg_node *rg__zeros_like(rg_node *x);

/* Element count of a shape. */
int64_t rg__numel(int ndim, const int64_t *shape);

/* GEMM on row-major matrices: C[m,n] = alpha op(A) op(B) + beta C, with leading dimensions.
 * Uses CBLAS when the build has it, otherwise a portable blocked loop. */
void rg__sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
               int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
void rg__dgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double *a,
               int64_t lda, const double *b, int64_t ldb, double beta, double *c, int64_t ldc);

/* Adds the product of matmul node mm (its inputs evaluated) into c, an array of mm's shape:
 * the executor's bias epilogue, c holding the other operand of the add that reads mm. */
void rg__matmul_accumulate(const rg_node *mm, void *c);

/* Invalidates cached plans (the op table of a graph changed, keep_values toggled). */
void rg__plans_clear(rg_graph *g);

#endif
