/* Gradient checking: rg_grad() against central differences, on f64 graphs.
 *
 * The check perturbs leaf buffers in place (every value is saved and written back exactly,
 * also on error paths), evaluates the graph through the public executor and compares:
 * - rg_gradcheck():         every element of every x, (f(x+eps) - f(x-eps)) / 2eps against
 *                           the evaluated gradient nodes built by rg_grad();
 * - rg_gradcheck_adjoint(): one random direction, <v, (f(x+eps u) - f(x-eps u)) / 2eps>
 *                           against <u, J^T v> from one rg_vjp().
 * Before comparing, every op y depends on is asked for its distance to a kink at the base
 * point, so that a mismatch caused by a non-differentiable point is reported as such.
 *
 * Why central differences with eps = 1e-6 in f64: the truncation error is O(eps^2 f''') and
 * the rounding error O(u |f| / eps) with u = 1.1e-16, so both stay near 1e-10 for values of
 * order one, far below the default atol 1e-5. In f32 (u = 6e-8) no eps separates rounding
 * from a real error, hence the f64 requirement.
 */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* An op is flagged non-smooth when its kink is within KINK_MARGIN * eps of its inputs at
 * the base point. The margin exceeds 1 because the perturbation of x reaches an
 * intermediate value scaled by the local derivative, which may be larger than one. */
#define KINK_MARGIN 10.0

rg_gradcheck_opts rg_gradcheck_defaults(void)
{
    rg_gradcheck_opts o;
    o.eps = 1e-6;
    o.atol = 1e-5;
    o.rtol = 1e-3;
    o.seed = 1;
    return o;
}

static void report_init(rg_gradcheck_report *r)
{
    memset(r, 0, sizeof *r);
    r->passed = false;
    r->worst_input = -1;
    r->worst_index = -1;
}

/* splitmix64: the adjoint test's directions depend only on opts->seed. */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static double next_sym(uint64_t *s)
{
    return 2.0 * ((double)(next_u64(s) >> 11) * 0x1.0p-53) - 1.0;
}

/* State shared by both checks: what to restore when they end. */
struct ctx {
    rg_graph *g;
    rg_node *y;
    int n;
    rg_node *const *xs;
    rg_gradcheck_opts o;
    bool keep_before;
    /* per x: the pointer it borrowed before the check (NULL when it used its own buffer) */
    const void **borrowed;
};

/* Validates y, xs and the options; fills c. `scalar` requires y to have one element. */
static rg_status begin(struct ctx *c, const char *what, rg_node *y, int n,
                       rg_node *const *xs, const rg_gradcheck_opts *opts,
                       rg_gradcheck_report *report, bool scalar)
{
    memset(c, 0, sizeof *c);
    if (!report)
        return y ? rg__fail(y->g, RG_ERR_ARG, "%s: report is NULL", what) : RG_ERR_ARG;
    report_init(report);
    if (!y)
        return RG_ERR_ARG;
    rg_graph *g = y->g;
    c->g = g;
    c->y = y;
    c->n = n;
    c->xs = xs;
    c->o = opts ? *opts : rg_gradcheck_defaults();
    if (g->status != RG_OK)
        return g->status;
    if (g->dtype != RG_F64)
        return rg__fail(g, RG_ERR_DTYPE,
                        "%s: needs an f64 graph (an f32 finite difference cannot separate "
                        "rounding from error)",
                        what);
    if (n < 0 || (n > 0 && !xs))
        return rg__fail(g, RG_ERR_ARG, "%s: bad input list (n = %d)", what, n);
    if (!(c->o.eps > 0.0) || !(c->o.atol >= 0.0) || !(c->o.rtol >= 0.0))
        return rg__fail(g, RG_ERR_ARG, "%s: eps must be > 0, atol and rtol >= 0", what);
    if (scalar && y->size != 1) {
        char buf[64];
        return rg__fail(g, RG_ERR_SHAPE, "%s: y must be a scalar, got shape %s (use the "
                        "adjoint check or reduce it to a scalar)", what,
                        rg_shape_str(y->ndim, y->shape, buf, sizeof buf));
    }
    for (int i = 0; i < n; i++) {
        const rg_node *x = xs[i];
        if (!x)
            return rg__fail(g, RG_ERR_ARG, "%s: xs[%d] is NULL", what, i);
        if (x->g != g)
            return rg__fail(g, RG_ERR_GRAPH, "%s: xs[%d] belongs to another graph", what, i);
        if (x->kind == RG_KIND_OP || x->op == RG_OP_FILL || !x->own)
            return rg__fail(g, RG_ERR_ARG,
                            "%s: xs[%d] (%s) is not an input, parameter or stored constant",
                            what, i, rg_node_op_name(x));
    }
    return RG_OK;
}

/* Makes every x read from a buffer the check may write: an input that borrows user data is
 * switched back to its own buffer holding a copy (the user's data is never written), and
 * switched back to the borrowed pointer by finish(). Also turns keep_values on so the kink
 * scan can read every intermediate value. */
static rg_status prepare(struct ctx *c)
{
    rg_graph *g = c->g;
    if (c->n > 0) {
        c->borrowed = rg__calloc(g, (size_t)c->n, sizeof *c->borrowed);
        if (!c->borrowed)
            return rg__fail(g, RG_ERR_NOMEM, "gradcheck: out of memory");
    }
    for (int i = 0; i < c->n; i++) {
        rg_node *x = c->xs[i];
        if (x->data == x->own)
            continue;
        bool seen = false; /* the same x listed twice is switched once */
        for (int j = 0; j < i; j++)
            seen = seen || c->xs[j] == x;
        if (seen)
            continue;
        const void *user = x->data;
        rg_status st = rg_feed_borrow(x, NULL);
        if (st == RG_OK)
            st = rg_feed(x, user);
        if (st != RG_OK) {
            rg_feed_borrow(x, user);
            return rg__fail(g, st, "gradcheck: cannot perturb borrowed input '%s'",
                            x->name ? x->name : "?");
        }
        c->borrowed[i] = user;
    }
    c->keep_before = g->keep_values;
    rg_graph_set_keep_values(g, true);
    return RG_OK;
}

static void finish(struct ctx *c)
{
    if (!c->g)
        return;
    if (c->borrowed) {
        for (int i = 0; i < c->n; i++)
            if (c->borrowed[i])
                rg_feed_borrow(c->xs[i], c->borrowed[i]);
        rg__free(c->g, c->borrowed);
        c->borrowed = NULL;
    }
    rg_graph_set_keep_values(c->g, c->keep_before);
}

/* Evaluates y at the base point and asks every op among y's ancestors for its distance to
 * a kink; sets report->nonsmooth and kink_op for the nearest one within the margin. */
static rg_status scan_kinks(struct ctx *c, rg_gradcheck_report *r)
{
    rg_graph *g = c->g;
    rg_status st = rg_eval1(c->y);
    if (st != RG_OK)
        return st;
    size_t top = c->y->id;
    bool *mark = rg__calloc(g, top + 1, sizeof *mark);
    if (!mark)
        return rg__fail(g, RG_ERR_NOMEM, "gradcheck: out of memory");
    mark[top] = true;
    double limit = KINK_MARGIN * c->o.eps;
    double nearest = INFINITY;
    /* Creation order is a topological order, so one downward pass marks all ancestors. */
    for (size_t id = top + 1; id-- > 0;) {
        if (!mark[id])
            continue;
        rg_node *node = g->nodes[id];
        for (int k = 0; k < node->arity; k++)
            mark[node->in[k]->id] = true;
        const rg_op_def *def = rg__def(node);
        if (node->kind != RG_KIND_OP || !def->kink)
            continue;
        double d = def->kink(node);
        if (d <= limit && d < nearest) {
            nearest = d;
            r->nonsmooth = true;
            snprintf(r->kink_op, sizeof r->kink_op, "%s", def->name);
        }
    }
    rg__free(g, mark);
    return RG_OK;
}

/* |a - b| / max(|a|, |b|), 0 when both are 0 (bounded by 2, defined at num = 0). */
static double rel_err(double a, double b)
{
    double d = fabs(a - b), m = fmax(fabs(a), fabs(b));
    return m > 0.0 ? d / m : (d > 0.0 ? INFINITY : 0.0);
}

/* Folds one comparison into the report. The worst element is the one that most exceeds its
 * tolerance, measured as |a - num| / (atol + rtol |num|); NaN counts as the worst. */
static void record(const rg_gradcheck_opts *o, rg_gradcheck_report *r, double *worst_ratio,
                   int input, int64_t index, double a, double num)
{
    double d = fabs(a - num);
    double tol = o->atol + o->rtol * fabs(num);
    bool ok = d <= tol; /* false for NaN */
    double ratio = d / fmax(tol, 1e-300);
    if (isnan(ratio))
        ratio = INFINITY;
    if (!ok)
        r->passed = false;
    if (!(d <= r->max_abs_err))
        r->max_abs_err = isnan(d) ? INFINITY : d;
    double re = rel_err(a, num);
    if (!(re <= r->max_rel_err))
        r->max_rel_err = isnan(re) ? INFINITY : re;
    if (r->checked == 0 || ratio > *worst_ratio) {
        *worst_ratio = ratio;
        r->worst_input = input;
        r->worst_index = index;
        r->worst_analytic = a;
        r->worst_numeric = num;
    }
    r->checked++;
}

/* y evaluated at the current leaf values. */
static rg_status eval_y(rg_node *y, double *out)
{
    rg_status st = rg_eval1(y);
    if (st == RG_OK)
        *out = rg_node_item(y);
    return st;
}

rg_status rg_gradcheck(rg_node *y, int n, rg_node *const *xs, const rg_gradcheck_opts *opts,
                       rg_gradcheck_report *report)
{
    struct ctx c;
    rg_status st = begin(&c, "gradcheck", y, n, xs, opts, report, true);
    if (st != RG_OK)
        return st;
    rg_graph *g = c.g;
    rg_node **grads = NULL;
    double **analytic = NULL;
    st = prepare(&c);
    if (st != RG_OK)
        goto out;
    st = scan_kinks(&c, report);
    if (st != RG_OK)
        goto out;
    if (n == 0) {
        report->passed = true;
        goto out;
    }

    grads = rg__calloc(g, (size_t)n, sizeof *grads);
    analytic = rg__calloc(g, (size_t)n, sizeof *analytic);
    if (!grads || !analytic) {
        st = rg__fail(g, RG_ERR_NOMEM, "gradcheck: out of memory");
        goto out;
    }
    st = rg_grad(y, n, xs, grads);
    if (st == RG_OK)
        st = rg_eval(g, n, grads);
    if (st != RG_OK)
        goto out;
    /* Copied out: the evaluations below may reuse the gradient nodes' buffers. */
    for (int i = 0; i < n; i++) {
        analytic[i] = rg__malloc(g, sizeof(double) * (size_t)(xs[i]->size ? xs[i]->size : 1));
        if (!analytic[i]) {
            st = rg__fail(g, RG_ERR_NOMEM, "gradcheck: out of memory");
            goto out;
        }
        st = rg_node_read_f64(grads[i], analytic[i]);
        if (st != RG_OK)
            goto out;
    }

    report->passed = true;
    double worst_ratio = 0.0, eps = c.o.eps;
    for (int i = 0; i < n && st == RG_OK; i++) {
        double *v = (double *)xs[i]->data;
        for (int64_t j = 0; j < xs[i]->size; j++) {
            double saved = v[j], fp = 0.0, fm = 0.0;
            v[j] = saved + eps;
            st = eval_y(y, &fp);
            if (st == RG_OK) {
                v[j] = saved - eps;
                st = eval_y(y, &fm);
            }
            v[j] = saved;
            if (st != RG_OK)
                break;
            record(&c.o, report, &worst_ratio, i, j, analytic[i][j], (fp - fm) / (2.0 * eps));
        }
    }
    /* Leave y holding its value at the restored point. */
    if (st == RG_OK)
        st = rg_eval1(y);

out:
    if (st != RG_OK)
        report->passed = false;
    if (analytic)
        for (int i = 0; i < n; i++)
            rg__free(g, analytic[i]);
    rg__free(g, analytic);
    rg__free(g, grads);
    finish(&c);
    return st;
}

rg_status rg_gradcheck_adjoint(rg_node *y, int n, rg_node *const *xs,
                               const rg_gradcheck_opts *opts, rg_gradcheck_report *report)
{
    struct ctx c;
    rg_status st = begin(&c, "gradcheck_adjoint", y, n, xs, opts, report, false);
    if (st != RG_OK)
        return st;
    rg_graph *g = c.g;
    rg_node **grads = NULL;
    double **u = NULL, **saved = NULL, *v = NULL;
    st = prepare(&c);
    if (st != RG_OK)
        goto out;
    st = scan_kinks(&c, report);
    if (st != RG_OK)
        goto out;

    uint64_t seed = c.o.seed;
    size_t ny = (size_t)(y->size ? y->size : 1);
    v = rg__malloc(g, sizeof(double) * ny);
    grads = rg__calloc(g, (size_t)(n ? n : 1), sizeof *grads);
    u = rg__calloc(g, (size_t)(n ? n : 1), sizeof *u);
    saved = rg__calloc(g, (size_t)(n ? n : 1), sizeof *saved);
    if (!v || !grads || !u || !saved) {
        st = rg__fail(g, RG_ERR_NOMEM, "gradcheck_adjoint: out of memory");
        goto out;
    }
    for (int64_t k = 0; k < y->size; k++)
        v[k] = next_sym(&seed);
    for (int i = 0; i < n; i++) {
        size_t sz = (size_t)(xs[i]->size ? xs[i]->size : 1);
        u[i] = rg__malloc(g, sizeof(double) * sz);
        saved[i] = rg__malloc(g, sizeof(double) * sz);
        if (!u[i] || !saved[i]) {
            st = rg__fail(g, RG_ERR_NOMEM, "gradcheck_adjoint: out of memory");
            goto out;
        }
        for (int64_t j = 0; j < xs[i]->size; j++)
            u[i][j] = next_sym(&seed);
        memcpy(saved[i], xs[i]->data, sizeof(double) * (size_t)xs[i]->size);
    }

    /* Analytic: <u, J^T v>, one reverse sweep seeded with v. */
    rg_node *seed_node = rg_const(g, y->ndim, y->shape, v);
    st = seed_node ? rg_vjp(y, seed_node, n, xs, grads) : rg_graph_status(g);
    if (st == RG_OK && n > 0)
        st = rg_eval(g, n, grads);
    if (st != RG_OK)
        goto out;
    double analytic = 0.0;
    for (int i = 0; i < n; i++)
        for (int64_t j = 0; j < xs[i]->size; j++)
            analytic += u[i][j] * rg_node_get(grads[i], j);

    /* Numeric: the directional derivative of <v, f> along u. Every x moves together, so an
     * x listed twice moves twice, as its gradient is also counted twice above. */
    double f[2] = {0.0, 0.0};
    for (int side = 0; side < 2 && st == RG_OK; side++) {
        double h = side == 0 ? c.o.eps : -c.o.eps;
        for (int i = 0; i < n; i++) {
            double *x = (double *)xs[i]->data;
            for (int64_t j = 0; j < xs[i]->size; j++)
                x[j] += h * u[i][j];
        }
        st = rg_eval1(y);
        if (st == RG_OK)
            for (int64_t k = 0; k < y->size; k++)
                f[side] += v[k] * rg_node_get(y, k);
        for (int i = 0; i < n; i++)
            memcpy(xs[i]->data, saved[i], sizeof(double) * (size_t)xs[i]->size);
    }
    if (st != RG_OK)
        goto out;
    st = rg_eval1(y);
    if (st != RG_OK)
        goto out;
    report->passed = true;
    double worst_ratio = 0.0;
    record(&c.o, report, &worst_ratio, -1, -1, analytic, (f[0] - f[1]) / (2.0 * c.o.eps));

out:
    if (st != RG_OK)
        report->passed = false;
    for (int i = 0; i < n; i++) {
        if (u)
            rg__free(g, u[i]);
        if (saved)
            rg__free(g, saved[i]);
    }
    rg__free(g, u);
    rg__free(g, saved);
    rg__free(g, v);
    rg__free(g, grads);
    finish(&c);
    return st;
}

char *rg_gradcheck_format(const rg_gradcheck_report *r, char *buf, size_t len)
{
    if (!buf || len == 0)
        return buf;
    if (!r) {
        snprintf(buf, len, "gradcheck: no report");
        return buf;
    }
    int w = snprintf(buf, len, "gradcheck %s: %lld element%s checked, max abs error %.3g, "
                     "max rel error %.3g",
                     r->passed ? "passed" : "FAILED", (long long)r->checked,
                     r->checked == 1 ? "" : "s", r->max_abs_err, r->max_rel_err);
    size_t used = w < 0 ? len : (size_t)w;
    if (used < len && r->checked > 0) {
        if (r->worst_input >= 0)
            w = snprintf(buf + used, len - used,
                         "; worst: input %d element %lld, analytic %.10g vs numeric %.10g",
                         r->worst_input, (long long)r->worst_index, r->worst_analytic,
                         r->worst_numeric);
        else
            w = snprintf(buf + used, len - used,
                         "; directional: analytic <u, J^T v> %.10g vs numeric %.10g",
                         r->worst_analytic, r->worst_numeric);
        used += w < 0 ? len - used : (size_t)w;
    }
    if (used < len && r->nonsmooth)
        snprintf(buf + used, len - used,
                 "; non-smooth: op '%s' is within eps of a kink, a mismatch may be expected",
                 r->kink_op);
    return buf;
}
