/* Softmax, log-softmax and the fused cross-entropy loss; mse as a composite.
 *
 * Numerics: softmax(x) = softmax(x - c) for any c, and the kernels take c = max(x) along
 * the axis. Then every exponent is <= 0, so no exp() overflows (e^89 is already inf in f32,
 * e^710 in f64: logits of 1e30 would give inf/inf = NaN), and the largest term is e^0 = 1, so
 * the sum is >= 1 and its log never underflows to -inf (all-negative logits like -1e30 would
 * otherwise give 0/0). Log-softmax is computed as (x - c) - log(sum e^(x - c)), never as
 * log(softmax), for the same reasons and so that tiny probabilities keep their exact log. */
#include "internal.h"

#include "kernels/fastmath.h"
#include "kernels/parallel.h"
#include "ops/reduce.h"

#include <math.h>

/* The libm function of x's type: expf for float, exp for double. */
#define MATH(fn, x) _Generic((x), float: fn##f, default: fn)(x)
/* e^x: the vectorisable rg__expf of kernels/fastmath.h for float, libm's exp for double. */
#define FAST_EXP(x) _Generic((x), float: rg__expf, default: exp)(x)

static rg_status vjp_done(const rg_node *n, const bool *need, rg_node *const *gin)
{
    for (int i = 0; i < n->arity; i++) {
        if (need[i] && !gin[i]) {
            rg_status st = rg_graph_status(n->g);
            return st != RG_OK ? st : RG_ERR_NOMEM;
        }
    }
    return RG_OK;
}

/* ---------------------------------------------------------------------------------------
 * softmax / log_softmax over attr.axis; y has x's shape.
 * softmax:     y = e^(x - m) / sum e^(x - m);   gx = y (g - sum(g y, axis, keepdims))
 * log_softmax: y = (x - m) - log sum e^(x - m); gx = g - e^y sum(g, axis, keepdims)
 * ------------------------------------------------------------------------------------- */

static rg_status shape_softmax(rg_node *n)
{
    const rg_node *x = n->in[0];
    const int axis = n->attr.axis;
    if (axis < 0 || axis >= x->ndim) {
        char sx[160];
        return rg_node_fail(n, RG_ERR_SHAPE, "%s: axis %d out of range for %s",
                            rg__def(n)->name, axis,
                            rg_shape_str(x->ndim, x->shape, sx, sizeof sx));
    }
    return rg_node_set_shape(n, x->ndim, x->shape);
}

/* x as [outer, red, inner] around the axis: each (outer, inner) pair is one line of red
 * elements, `inner` apart. */
static void lines(const rg_node *n, int64_t *outer, int64_t *red, int64_t *inner)
{
    const rg_node *x = n->in[0];
    const int a = n->attr.axis;
    *outer = 1;
    *inner = 1;
    for (int i = 0; i < a; i++)
        *outer *= x->shape[i];
    for (int i = a + 1; i < x->ndim; i++)
        *inner *= x->shape[i];
    *red = x->shape[a];
}

/* e^(x[r] - m) into out[r] for r < count, and their sum (rg__sum_run, ops/reduce.h). f32
 * uses rg__expf (kernels/fastmath.h, vectorised), f64 libm's exp. */
#define EXP_SHIFT(T, sfx)                                                                  \
    RG__VECTOR_CLONES static double exp_shift_##sfx(T *restrict out, const T *restrict x,  \
                                                    int64_t count, T m)                    \
    {                                                                                      \
        int64_t i = 0;                                                                     \
        for (; i + 16 <= count; i += 16)                                                   \
            for (int k = 0; k < 16; k++)                                                   \
                out[i + k] = FAST_EXP((T)(x[i + k] - m));                                  \
        for (; i < count; i++)                                                             \
            out[i] = FAST_EXP((T)(x[i] - m));                                              \
        return rg__sum_run_##sfx(out, count);                                              \
    }                                                                                      \
    RG__VECTOR_CLONES static void exp_inplace_##sfx(T *restrict v, int64_t count)          \
    {                                                                                      \
        int64_t i = 0;                                                                     \
        for (; i + 16 <= count; i += 16)                                                   \
            for (int k = 0; k < 16; k++)                                                   \
                v[i + k] = FAST_EXP(v[i + k]);                                             \
        for (; i < count; i++)                                                             \
            v[i] = FAST_EXP(v[i]);                                                         \
    }
EXP_SHIFT(float, f32)
EXP_SHIFT(double, f64)

/* Short lines: fewer than 16 contiguous values (ten classes, say) would leave exp_shift only
 * its scalar tail, so lines go by blocks of at most SHORT_BLOCK values: every line's shift
 * x - m first, then one vectorised exp over the block, then each line's sum. The values and
 * sums are exp_shift's, bit for bit. */
#define SHORT_BLOCK 256
#define SHORT_EXP(T, sfx)                                                                  \
    /* lines [0, n) of red values at x (n red <= SHORT_BLOCK): their maxima into m,        \
     * e^(x - m) into y, the sums into s */                                                \
    static void short_exp_##sfx(T *restrict y, const T *restrict x, int64_t n, int64_t red, \
                                T *m, double *s)                                           \
    {                                                                                      \
        for (int64_t l = 0; l < n; l++) {                                                  \
            const T *xl = x + l * red;                                                     \
            T mx = (T)-INFINITY;                                                           \
            for (int64_t r = 0; r < red; r++)                                              \
                if (xl[r] > mx)                                                            \
                    mx = xl[r];                                                            \
            m[l] = mx;                                                                     \
            for (int64_t r = 0; r < red; r++)                                              \
                y[l * red + r] = (T)(xl[r] - mx);                                          \
        }                                                                                  \
        exp_inplace_##sfx(y, n * red);                                                     \
        for (int64_t l = 0; l < n; l++)                                                    \
            s[l] = rg__sum_run_##sfx(y + l * red, red);                                    \
    }
SHORT_EXP(float, f32)
SHORT_EXP(double, f64)

struct softmax_job {
    const void *x;
    void *y;
    int64_t red, inner;
};

/* One kernel per dtype and flavour (is_log = 0: softmax, 1: log_softmax) over lines
 * [o0, o1) x all of inner. Sums run in double: the terms are in (0, 1] and there may be
 * many. A contiguous line (inner == 1) takes the vectorised exp_shift, short ones by blocks
 * (short_exp); log_softmax uses its output as the scratch for the exponentials before
 * writing (x - m) - log s over them. */
#define SOFTMAX_FINISH(T, is_log, xl, yl, m, s, red, inner)                                \
    do {                                                                                   \
        if (is_log) {                                                                      \
            const T ls_ = (T)MATH(log, s);                                                 \
            for (int64_t r_ = 0; r_ < red; r_++)                                           \
                yl[r_ * inner] = (T)(xl[r_ * inner] - m) - ls_;                            \
        } else {                                                                           \
            const T inv_ = (T)(1.0 / s);                                                   \
            for (int64_t r_ = 0; r_ < red; r_++)                                           \
                yl[r_ * inner] *= inv_;                                                    \
        }                                                                                  \
    } while (0)
#define SOFTMAX_LINES(T, sfx, name, is_log)                                                \
    static void name##_lines_##sfx(void *arg, int64_t o0, int64_t o1)                      \
    {                                                                                      \
        const struct softmax_job *j = arg;                                                 \
        const int64_t red = j->red, inner = j->inner;                                      \
        const T *x = j->x;                                                                 \
        T *y = j->y;                                                                       \
        if (inner == 1 && red < 16) {                                                      \
            T m[SHORT_BLOCK];                                                              \
            double s[SHORT_BLOCK];                                                         \
            const int64_t per = SHORT_BLOCK / (red > 0 ? red : 1);                         \
            for (int64_t o = o0; o < o1; o += per) {                                       \
                const int64_t n = o1 - o < per ? o1 - o : per;                             \
                short_exp_##sfx(y + o * red, x + o * red, n, red, m, s);                   \
                for (int64_t l = 0; l < n; l++)                                            \
                    SOFTMAX_FINISH(T, is_log, (x + (o + l) * red), (y + (o + l) * red),    \
                                   m[l], s[l], red, 1);                                    \
            }                                                                              \
            return;                                                                        \
        }                                                                                  \
        for (int64_t o = o0; o < o1; o++) {                                                \
            for (int64_t i = 0; i < inner; i++) {                                          \
                const T *xl = x + o * red * inner + i;                                     \
                T *yl = y + o * red * inner + i;                                           \
                T m = (T)-INFINITY;                                                        \
                for (int64_t r = 0; r < red; r++)                                          \
                    if (xl[r * inner] > m)                                                 \
                        m = xl[r * inner];                                                 \
                double s = 0;                                                              \
                if (inner == 1) {                                                          \
                    s = exp_shift_##sfx(yl, xl, red, m);                                   \
                } else {                                                                   \
                    for (int64_t r = 0; r < red; r++) {                                    \
                        const T e = FAST_EXP((T)(xl[r * inner] - m));                      \
                        yl[r * inner] = e;                                                 \
                        s += e;                                                            \
                    }                                                                      \
                }                                                                          \
                SOFTMAX_FINISH(T, is_log, xl, yl, m, s, red, inner);                       \
            }                                                                              \
        }                                                                                  \
    }                                                                                      \
    static rg_status fwd_##name##_##sfx(rg_node *n)                                        \
    {                                                                                      \
        int64_t outer, red, inner;                                                         \
        lines(n, &outer, &red, &inner);                                                    \
        struct softmax_job j = {.x = n->in[0]->data, .y = n->data, .red = red,             \
                                .inner = inner};                                           \
        const int64_t per = red * inner > 0 ? red * inner : 1;                             \
        rg__parallel_for(outer, (RG__PAR_MIN / 2 + per - 1) / per, 1, name##_lines_##sfx,  \
                         &j);                                                              \
        return RG_OK;                                                                      \
    }
SOFTMAX_LINES(float, f32, softmax, 0)
SOFTMAX_LINES(double, f64, softmax, 0)
SOFTMAX_LINES(float, f32, log_softmax, 1)
SOFTMAX_LINES(double, f64, log_softmax, 1)

static rg_status vjp_softmax(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    rg_node *dot = rg_sum(rg_mul(gy, n), n->attr.axis, true);
    gin[0] = rg_mul(n, rg_sub(gy, dot));
    return vjp_done(n, need, gin);
}

static rg_status vjp_log_softmax(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    gin[0] = rg_sub(gy, rg_mul(rg_exp(n), rg_sum(gy, n->attr.axis, true)));
    return vjp_done(n, need, gin);
}

const rg_op_def rg__op_softmax = {
    .name = "softmax",
    .arity = 1,
    .shape = shape_softmax,
    .forward_f32 = fwd_softmax_f32,
    .forward_f64 = fwd_softmax_f64,
    .vjp = vjp_softmax,
};

const rg_op_def rg__op_log_softmax = {
    .name = "log_softmax",
    .arity = 1,
    .shape = shape_softmax,
    .forward_f32 = fwd_log_softmax_f32,
    .forward_f64 = fwd_log_softmax_f64,
    .vjp = vjp_log_softmax,
};

static rg_node *softmax_op(rg_node *x, int op, int axis)
{
    if (!x)
        return NULL;
    /* an invalid axis is kept as given for the shape rule's message */
    const int a = axis == RG_AXIS_ALL ? -1 : rg__axis(axis, x->ndim);
    struct rg__attr attr = {.axis = a >= 0 ? a : axis};
    rg_node *in[1] = {x};
    return rg__make(x->g, op, 1, in, &attr);
}

rg_node *rg_softmax(rg_node *x, int axis)
{
    return softmax_op(x, RG_OP_SOFTMAX, axis);
}

rg_node *rg_log_softmax(rg_node *x, int axis)
{
    return softmax_op(x, RG_OP_LOG_SOFTMAX, axis);
}

/* ---------------------------------------------------------------------------------------
 * cross_entropy: logits x [N,C], labels l [N] (class indices as values); scalar
 * y = (1/N) sum_i (logsumexp(x_i) - x_i[l_i]), with logsumexp(x_i) = m_i + log sum_c
 * e^(x_ic - m_i), m_i = max_c x_ic (stable, see the top of the file).
 * gx = gy (softmax(x, 1) - one_hot(l, C)) / N; the labels get a zero gradient.
 * ------------------------------------------------------------------------------------- */

static rg_status shape_cross_entropy(rg_node *n)
{
    const rg_node *x = n->in[0], *l = n->in[1];
    char sx[160], sl[160];
    rg_shape_str(x->ndim, x->shape, sx, sizeof sx);
    rg_shape_str(l->ndim, l->shape, sl, sizeof sl);
    if (x->ndim != 2)
        return rg_node_fail(n, RG_ERR_SHAPE, "cross_entropy: logits must be [N,C], not %s", sx);
    if (x->shape[1] < 1)
        return rg_node_fail(n, RG_ERR_SHAPE, "cross_entropy: logits %s have no classes", sx);
    if (l->ndim != 1 || l->shape[0] != x->shape[0])
        return rg_node_fail(n, RG_ERR_SHAPE, "cross_entropy: labels %s do not match logits %s "
                            "(expected [%lld])", sl, sx, (long long)x->shape[0]);
    return rg_node_set_shape(n, 0, NULL);
}

/* The per-row terms are summed in double (a batch mean of many rows). The exponentials of a
 * row go through a scratch buffer of SHORT_BLOCK values, SHORT_BLOCK classes at a time, or
 * several rows at a time when they have fewer than 16 classes (short_exp). */
#define CROSS_ENTROPY_FWD(T, sfx)                                                          \
    static rg_status fwd_cross_entropy_##sfx(rg_node *n)                                   \
    {                                                                                      \
        const rg_node *xn = n->in[0];                                                      \
        const int64_t rows = xn->shape[0], classes = xn->shape[1];                         \
        const T *x = xn->data, *labels = n->in[1]->data;                                   \
        const int64_t per = classes < 16 ? SHORT_BLOCK / classes : 1;                      \
        double total = 0;                                                                  \
        T scratch[SHORT_BLOCK], m[SHORT_BLOCK];                                            \
        double s[SHORT_BLOCK];                                                             \
        for (int64_t i0 = 0; i0 < rows; i0 += per) {                                       \
            const int64_t nr = rows - i0 < per ? rows - i0 : per;                          \
            for (int64_t i = i0; i < i0 + nr; i++) {                                       \
                const T l = labels[i];                                                     \
                if (!(l >= 0 && l < (T)classes && (T)(int64_t)l == l))                     \
                    return rg_node_fail(n, RG_ERR_DOMAIN, "cross_entropy: label %g in row " \
                                        "%lld is not a class index in [0, %lld)",          \
                                        (double)l, (long long)i, (long long)classes);      \
            }                                                                              \
            if (classes < 16) {                                                            \
                short_exp_##sfx(scratch, x + i0 * classes, nr, classes, m, s);             \
            } else {                                                                       \
                const T *xi = x + i0 * classes;                                            \
                m[0] = xi[0];                                                              \
                for (int64_t c = 1; c < classes; c++)                                      \
                    if (xi[c] > m[0])                                                      \
                        m[0] = xi[c];                                                      \
                s[0] = 0;                                                                  \
                for (int64_t c = 0; c < classes; c += SHORT_BLOCK) {                       \
                    const int64_t len = classes - c < SHORT_BLOCK ? classes - c : SHORT_BLOCK; \
                    s[0] += exp_shift_##sfx(scratch, xi + c, len, m[0]);                   \
                }                                                                          \
            }                                                                              \
            /* (m - x_l) >= 0 and log s in [0, log C]: no cancellation between huge       \
             * terms */                                                                    \
            for (int64_t k = 0; k < nr; k++)                                               \
                total += ((double)m[k] -                                                   \
                          (double)x[(i0 + k) * classes + (int64_t)labels[i0 + k]]) +       \
                         log(s[k]);                                                        \
        }                                                                                  \
        *(T *)n->data = (T)(total / (double)rows);                                         \
        return RG_OK;                                                                      \
    }
CROSS_ENTROPY_FWD(float, f32)
CROSS_ENTROPY_FWD(double, f64)

static rg_status vjp_cross_entropy(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    rg_node *x = n->in[0], *labels = n->in[1];
    if (need[0]) {
        rg_node *diff = rg_sub(rg_softmax(x, 1), rg_one_hot(labels, x->shape[1]));
        gin[0] = rg_mul(diff, rg_div(gy, rg_scalar(n->g, (double)x->shape[0])));
    }
    if (need[1])
        gin[1] = rg__zeros_like(labels);
    return vjp_done(n, need, gin);
}

const rg_op_def rg__op_cross_entropy = {
    .name = "cross_entropy",
    .arity = 2,
    .shape = shape_cross_entropy,
    .forward_f32 = fwd_cross_entropy_f32,
    .forward_f64 = fwd_cross_entropy_f64,
    .vjp = vjp_cross_entropy,
};

rg_node *rg_cross_entropy(rg_node *logits, rg_node *labels)
{
    rg_node *in[2] = {logits, labels};
    return rg__make(rg__graph_of(2, in), RG_OP_CROSS_ENTROPY, 2, in, NULL);
}

/* mse: mean((a - b)^2) over every element, a composite of sub, square and mean. */
rg_node *rg_mse(rg_node *a, rg_node *b)
{
    return rg_mean(rg_square(rg_sub(a, b)), RG_AXIS_ALL, false);
}
