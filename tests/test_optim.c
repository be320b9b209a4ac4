/* optim (src/optim): every optimiser for three steps on a tiny problem, against values
 * computed by hand and against the lecture's formulas written out below; weight decay and
 * its bias exclusion; clipping; schedules; f32 graphs; saving and restoring the state; no
 * allocation per training step; errors.
 *
 * The tiny problem: a weight w = [1, -2], a bias b = [0.5] and
 *     L = sum(c * w^2) + (b - 3)^2,  c = [1, 0.5],
 * so dL/dw = 2 c w = [2 w0, w1] and dL/db = 2 (b - 3). */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const double W0[2] = {1.0, -2.0}, B0 = 0.5, C[2] = {1.0, 0.5};

struct tiny {
    rg_graph *g;
    rg_node *w, *b, *loss;
};

static struct tiny tiny_new(rg_dtype dt)
{
    struct tiny t;
    t.g = rg_graph_new(dt);
    const int64_t two = 2, one = 1;
    t.w = rg_param(t.g, "w", 1, &two, NULL);
    t.b = rg_param(t.g, "b", 1, &one, NULL);
    rg_feed_f64(t.w, W0, 2);
    rg_feed_f64(t.b, &B0, 1);
    const float cf[2] = {(float)C[0], (float)C[1]};
    rg_node *c = rg_const(t.g, 1, &two, dt == RG_F32 ? (const void *)cf : (const void *)C);
    rg_node *lw = rg_sum(rg_mul(c, rg_square(t.w)), RG_AXIS_ALL, false);
    rg_node *lb = rg_sum(rg_square(rg_sub(t.b, rg_scalar(t.g, 3.0))), RG_AXIS_ALL, false);
    t.loss = rg_add(lw, lb);
    ck_assert_msg(t.loss != NULL, "%s", rg_graph_errmsg(t.g));
    return t;
}

/* An optimiser for {w, b} (w a weight, b a bias) using rg_node_grad() from rg_backward(). */
static rg_optim *tiny_optim(const struct tiny *t, const rg_optim_opts *o)
{
    rg_node *params[2] = {t->w, t->b};
    const bool is_weight[2] = {true, false};
    rg_optim *opt = rg_optim_new(o, 2, params, NULL, is_weight);
    ck_assert_msg(opt != NULL, "%s", rg_graph_errmsg(t->g));
    return opt;
}

static void tiny_step(const struct tiny *t, rg_optim *opt)
{
    ck_assert_int_eq(rg_backward(t->loss), RG_OK);
    ck_assert_int_eq(rg_optim_step(opt), RG_OK);
}

/* ---- hand-computed values --------------------------------------------------------------- */

/* SGD, eta = 0.1: w0 <- w0 - 0.1 * 2 w0 = 0.8 w0: 0.8, 0.64, 0.512; w1 <- w1 - 0.1 w1 = 0.9 w1:
 * -1.8, -1.62, -1.458; b <- b - 0.1 * 2 (b - 3) = 0.8 b + 0.6: 1.0, 1.4, 1.72.
 * Momentum, mu = 0.9, eta = 0.1 (Delta <- 0.9 Delta + g; p <- p - 0.1 Delta):
 *   w0: g = 2, D = 2, w0 = 0.8; g = 1.6, D = 1.8 + 1.6 = 3.4, w0 = 0.46;
 *       g = 0.92, D = 3.06 + 0.92 = 3.98, w0 = 0.062
 *   w1: g = -2, D = -2, w1 = -1.8; g = -1.8, D = -3.6, w1 = -1.44;
 *       g = -1.44, D = -3.24 - 1.44 = -4.68, w1 = -0.972
 *   b:  g = -5, D = -5, b = 1.0; g = -4, D = -8.5, b = 1.85; g = -2.3, D = -9.95, b = 2.845
 * Adam, eta = 0.1, first step: m_hat = g, v_hat = g^2, so each parameter moves by
 * eta g / (|g| + eps) ~ 0.1 against its gradient's sign: w = [0.9, -1.9], b = 0.6. */
START_TEST(test_hand_values)
{
    static const struct {
        rg_optim_kind kind;
        int steps;
        double w0[3], w1[3], b[3];
        double tol;
    } cases[] = {
        {RG_OPTIM_SGD, 3, {0.8, 0.64, 0.512}, {-1.8, -1.62, -1.458}, {1.0, 1.4, 1.72}, 1e-14},
        {RG_OPTIM_MOMENTUM, 3, {0.8, 0.46, 0.062}, {-1.8, -1.44, -0.972}, {1.0, 1.85, 2.845},
         1e-14},
        {RG_OPTIM_ADAM, 1, {0.9}, {-1.9}, {0.6}, 1e-8},
    };
    for (int c = 0; c < N_OF(cases); c++) {
        struct tiny t = tiny_new(RG_F64);
        rg_optim_opts o = rg_optim_defaults(cases[c].kind);
        o.lr = 0.1;
        rg_optim *opt = tiny_optim(&t, &o);
        for (int s = 0; s < cases[c].steps; s++) {
            tiny_step(&t, opt);
            ck_assert_double_eq_tol(rg_node_get(t.w, 0), cases[c].w0[s], cases[c].tol);
            ck_assert_double_eq_tol(rg_node_get(t.w, 1), cases[c].w1[s], cases[c].tol);
            ck_assert_double_eq_tol(rg_node_get(t.b, 0), cases[c].b[s], cases[c].tol);
        }
        ck_assert_uint_eq(rg_optim_steps(opt), cases[c].steps);
        rg_optim_free(opt);
        rg_graph_free(t.g);
    }
}
END_TEST

/* ---- the lecture's formulas, written out ------------------------------------------------ */

/* Three parameters p = [w0, w1, b]; the first two are weights. */
static void reference(const rg_optim_opts *o, int steps, double out[][3])
{
    double p[3] = {W0[0], W0[1], B0};
    double D[3] = {0}, m[3] = {0}, v[3] = {0};
    for (int t = 1; t <= steps; t++) {
        double g[3] = {2 * C[0] * p[0], 2 * C[1] * p[1], 2 * (p[2] - 3)};
        double eta = rg_schedule_lr(&o->schedule, o->lr, (uint64_t)(t - 1));
        if (o->clip_norm > 0) {
            double norm = sqrt(g[0] * g[0] + g[1] * g[1] + g[2] * g[2]);
            if (norm > o->clip_norm)
                for (int i = 0; i < 3; i++)
                    g[i] *= o->clip_norm / norm;
        }
        for (int i = 0; i < 3; i++) {
            double lambda = i < 2 || o->decay_biases ? o->weight_decay : 0;
            switch (o->kind) {
            case RG_OPTIM_SGD:
            case RG_OPTIM_MOMENTUM:
                g[i] += lambda * p[i];
                if (o->momentum == 0) {
                    p[i] -= eta * g[i]; /* W <- W - eta dL/dW */
                } else {
                    D[i] = o->momentum * D[i] + g[i]; /* Delta <- mu Delta + dL/dW */
                    p[i] -= eta * (o->nesterov ? g[i] + o->momentum * D[i] : D[i]);
                }
                break;
            case RG_OPTIM_ADAM:
            case RG_OPTIM_ADAMW:
                if (o->kind == RG_OPTIM_ADAMW)
                    p[i] -= eta * lambda * p[i]; /* decoupled: not seen by the moments */
                else
                    g[i] += lambda * p[i];
                m[i] = o->beta1 * m[i] + (1 - o->beta1) * g[i];
                v[i] = o->beta2 * v[i] + (1 - o->beta2) * g[i] * g[i];
                double mhat = m[i] / (1 - pow(o->beta1, t));
                double vhat = v[i] / (1 - pow(o->beta2, t));
                p[i] -= eta * mhat / (sqrt(vhat) + o->eps);
                break;
            }
        }
        memcpy(out[t - 1], p, sizeof p);
    }
}

struct fcase {
    const char *what;
    rg_optim_kind kind;
    double lr, momentum, weight_decay, clip;
    bool nesterov, decay_biases;
    rg_schedule_kind sched;
};

static const struct fcase fcases[] = {
    {"sgd", RG_OPTIM_SGD, 0.1, 0, 0, 0, false, false, RG_SCHEDULE_CONSTANT},
    {"sgd+decay", RG_OPTIM_SGD, 0.1, 0, 0.5, 0, false, false, RG_SCHEDULE_CONSTANT},
    {"momentum", RG_OPTIM_MOMENTUM, 0.05, 0.9, 0, 0, false, false, RG_SCHEDULE_CONSTANT},
    {"nesterov", RG_OPTIM_MOMENTUM, 0.05, 0.8, 0, 0, true, false, RG_SCHEDULE_CONSTANT},
    {"momentum+decay all", RG_OPTIM_MOMENTUM, 0.05, 0.9, 0.3, 0, false, true,
     RG_SCHEDULE_CONSTANT},
    {"sgd+momentum field", RG_OPTIM_SGD, 0.1, 0.5, 0, 0, false, false, RG_SCHEDULE_CONSTANT},
    {"adam", RG_OPTIM_ADAM, 0.1, 0, 0, 0, false, false, RG_SCHEDULE_CONSTANT},
    {"adam+l2", RG_OPTIM_ADAM, 0.1, 0, 0.2, 0, false, false, RG_SCHEDULE_CONSTANT},
    {"adamw", RG_OPTIM_ADAMW, 0.1, 0, 0.2, 0, false, false, RG_SCHEDULE_CONSTANT},
    {"adamw decay all", RG_OPTIM_ADAMW, 0.1, 0, 0.2, 0, false, true, RG_SCHEDULE_CONSTANT},
    {"sgd+clip", RG_OPTIM_SGD, 0.1, 0, 0, 1.0, false, false, RG_SCHEDULE_CONSTANT},
    {"adam+clip", RG_OPTIM_ADAM, 0.1, 0, 0, 2.0, false, false, RG_SCHEDULE_CONSTANT},
    {"momentum+step", RG_OPTIM_MOMENTUM, 0.1, 0.9, 0, 0, false, false, RG_SCHEDULE_STEP},
    {"adam+cosine", RG_OPTIM_ADAM, 0.1, 0, 0, 0, false, false, RG_SCHEDULE_COSINE},
};

static rg_optim_opts fcase_opts(const struct fcase *c)
{
    rg_optim_opts o = rg_optim_defaults(c->kind);
    o.lr = c->lr;
    if (c->kind == RG_OPTIM_SGD || c->kind == RG_OPTIM_MOMENTUM)
        o.momentum = c->momentum;
    o.nesterov = c->nesterov;
    o.weight_decay = c->weight_decay;
    o.decay_biases = c->decay_biases;
    o.clip_norm = c->clip;
    o.schedule.kind = c->sched;
    o.schedule.step_size = 2;
    o.schedule.gamma = 0.5;
    o.schedule.total = 3;
    o.schedule.min_lr = 0.01;
    return o;
}

/* loop index: case * 2 + (0: f64, 1: f32) */
START_TEST(test_formulas)
{
    const struct fcase *c = &fcases[_i / 2];
    const bool f32 = _i % 2;
    rg_optim_opts o = fcase_opts(c);
    double ref[3][3];
    reference(&o, 3, ref);
    struct tiny t = tiny_new(f32 ? RG_F32 : RG_F64);
    rg_optim *opt = tiny_optim(&t, &o);
    const double tol = f32 ? 2e-6 : 1e-13;
    for (int s = 0; s < 3; s++) {
        tiny_step(&t, opt);
        const double got[3] = {rg_node_get(t.w, 0), rg_node_get(t.w, 1), rg_node_get(t.b, 0)};
        for (int i = 0; i < 3; i++)
            ck_assert_msg(fabs(got[i] - ref[s][i]) <= tol * (1 + fabs(ref[s][i])),
                          "%s (%s), step %d, parameter %d: %.17g, formula %.17g", c->what,
                          f32 ? "f32" : "f64", s + 1, i, got[i], ref[s][i]);
    }
    rg_optim_free(opt);
    rg_graph_free(t.g);
}
END_TEST

/* ---- large parameters ------------------------------------------------------------------ */

/* Parameters of 100,003, 4,097 and 5 values (the middle one a bias): sizes that cross the
 * optimiser's blocks and the kernels' thread split at odd places. L = sum(c p^2) / 2 over
 * each, so dL/dp = c p. */
#define NBIG 3
static const int64_t big_sizes[NBIG] = {100003, 4097, 5};

struct big {
    rg_graph *g;
    rg_node *p[NBIG], *loss;
};

static struct big big_new(rg_dtype dt)
{
    struct big t;
    uint64_t seed = 7;
    t.g = rg_graph_new(dt);
    t.loss = NULL;
    for (int i = 0; i < NBIG; i++) {
        t.p[i] = tu_param(t.g, NULL, 1, &big_sizes[i], -2.0, 2.0, &seed);
        rg_node *c = tu_const(t.g, 1, &big_sizes[i], 0.1, 1.0, &seed);
        rg_node *l = rg_mul(rg_scalar(t.g, 0.5),
                            rg_sum(rg_mul(c, rg_square(t.p[i])), RG_AXIS_ALL, false));
        t.loss = t.loss ? rg_add(t.loss, l) : l;
    }
    ck_assert_msg(t.loss != NULL, "%s", rg_graph_errmsg(t.g));
    return t;
}

/* Three steps of case c on 1 or 2 threads; the parameters' final values into out (in
 * parameter order) and the norms of each step into norms. For the momentum kinds in f64 each
 * step is also checked against the formula applied element by element to the gradient, and
 * every norm against a sum in long double. */
static void big_run(const struct fcase *c, rg_dtype dt, int threads, double *out,
                    double norms[3])
{
    ck_assert_int_eq(rg_set_threads(threads), RG_OK);
    struct big t = big_new(dt);
    rg_optim_opts o = fcase_opts(c);
    const bool is_weight[NBIG] = {true, false, true};
    rg_optim *opt = rg_optim_new(&o, NBIG, t.p, NULL, is_weight);
    ck_assert_msg(opt != NULL, "%s", rg_graph_errmsg(t.g));
    const bool check = dt == RG_F64 && (c->kind == RG_OPTIM_SGD || c->kind == RG_OPTIM_MOMENTUM);
    int64_t total = 0;
    for (int i = 0; i < NBIG; i++)
        total += big_sizes[i];
    double *w = malloc(sizeof(double) * (size_t)total), *v = calloc((size_t)total, sizeof *v);
    ck_assert(w && v);
    for (int s = 0; s < 3; s++) {
        ck_assert_int_eq(rg_backward(t.loss), RG_OK);
        long double ss = 0;
        for (int i = 0, k = 0; i < NBIG; i++)
            for (int64_t j = 0; j < big_sizes[i]; j++, k++) {
                const double gj = rg_node_get(rg_node_grad(t.p[i]), j);
                ss += (long double)gj * gj;
                w[k] = rg_node_get(t.p[i], j);
            }
        const double norm = sqrt((double)ss);
        const double lr = rg_optim_lr(opt);
        ck_assert_int_eq(rg_optim_step(opt), RG_OK);
        norms[s] = rg_optim_last_grad_norm(opt);
        ck_assert_msg(fabs(norms[s] - norm) <= 1e-12 * norm, "%s: norm %.17g, expected %.17g",
                      c->what, norms[s], norm);
        const double scale = c->clip > 0 && norm > c->clip ? c->clip / norm : 1.0;
        for (int i = 0, k = 0; i < NBIG; i++)
            for (int64_t j = 0; j < big_sizes[i]; j++, k++) {
                if (!check)
                    continue;
                const double lam = is_weight[i] || c->decay_biases ? c->weight_decay : 0.0;
                const double gj = scale * rg_node_get(rg_node_grad(t.p[i]), j) + lam * w[k];
                const double mu = c->momentum;
                v[k] = mu * v[k] + gj;
                const double d = mu == 0 ? gj : c->nesterov ? gj + mu * v[k] : v[k];
                const double want = w[k] - lr * d, got = rg_node_get(t.p[i], j);
                ck_assert_msg(fabs(got - want) <= 1e-13 * (1 + fabs(want)),
                              "%s: step %d, parameter %d[%ld]: %.17g, formula %.17g", c->what,
                              s + 1, i, (long)j, got, want);
            }
    }
    for (int i = 0, k = 0; i < NBIG; i++)
        for (int64_t j = 0; j < big_sizes[i]; j++, k++)
            out[k] = rg_node_get(t.p[i], j);
    free(w);
    free(v);
    rg_optim_free(opt);
    rg_graph_free(t.g);
}

/* Every case on large parameters, f64 and f32: the norm agrees with an independent sum, the
 * momentum kinds follow their formula element by element, and two threads give the same bits
 * as one. loop index: case * 2 + (0: f64, 1: f32) */
START_TEST(test_large_params)
{
    const struct fcase *c = &fcases[_i / 2];
    const rg_dtype dt = _i % 2 ? RG_F32 : RG_F64;
    int64_t total = 0;
    for (int i = 0; i < NBIG; i++)
        total += big_sizes[i];
    double *one = malloc(sizeof(double) * (size_t)total);
    double *two = malloc(sizeof(double) * (size_t)total);
    ck_assert(one && two);
    double n1[3], n2[3];
    big_run(c, dt, 1, one, n1);
    big_run(c, dt, 2, two, n2);
    ck_assert_int_eq(rg_set_threads(1), RG_OK);
    for (int s = 0; s < 3; s++)
        ck_assert_msg(n1[s] == n2[s], "%s: norm of step %d differs across threads", c->what,
                      s + 1);
    for (int64_t k = 0; k < total; k++)
        ck_assert_msg(memcmp(&one[k], &two[k], sizeof one[k]) == 0,
                      "%s: value %ld differs across threads: %.17g and %.17g", c->what, (long)k,
                      one[k], two[k]);
    free(one);
    free(two);
}
END_TEST

/* ---- weight decay ----------------------------------------------------------------------- */

/* SGD, eta 0.1, lambda 0.5, one step: w0 gets g = 2 + 0.5 * 1 = 2.5, so 1 - 0.25 = 0.75;
 * b gets g = -5 alone (biases excluded by default): 1.0; with decay_biases
 * g = -5 + 0.5 * 0.5 = -4.75: 0.975. The defaults leave decay off for SGD and Adam and at
 * 0.01 for AdamW, with biases excluded. */
START_TEST(test_weight_decay_biases)
{
    for (int all = 0; all < 2; all++) {
        struct tiny t = tiny_new(RG_F64);
        rg_optim_opts o = rg_optim_defaults(RG_OPTIM_SGD);
        o.lr = 0.1;
        o.weight_decay = 0.5;
        o.decay_biases = all;
        rg_optim *opt = tiny_optim(&t, &o);
        tiny_step(&t, opt);
        ck_assert_double_eq_tol(rg_node_get(t.w, 0), 0.75, 1e-15);
        ck_assert_double_eq_tol(rg_node_get(t.b, 0), all ? 0.975 : 1.0, 1e-15);
        rg_optim_free(opt);
        rg_graph_free(t.g);
    }
    ck_assert_double_eq(rg_optim_defaults(RG_OPTIM_SGD).weight_decay, 0.0);
    ck_assert_double_eq(rg_optim_defaults(RG_OPTIM_ADAM).weight_decay, 0.0);
    ck_assert_double_eq(rg_optim_defaults(RG_OPTIM_ADAMW).weight_decay, 0.01);
    ck_assert(!rg_optim_defaults(RG_OPTIM_ADAMW).decay_biases);
    ck_assert_double_eq(rg_optim_defaults(RG_OPTIM_MOMENTUM).momentum, 0.9);
    ck_assert_double_eq(rg_optim_defaults(RG_OPTIM_SGD).momentum, 0.0);
}
END_TEST

/* ---- clipping --------------------------------------------------------------------------- */

/* Gradients [3, 4] and [12] have global norm sqrt(9 + 16 + 144) = 13; clipped to 6.5 every
 * value halves: [1.5, 2], [6]. A larger limit leaves them alone. */
START_TEST(test_clip_grad_norm)
{
    for (int dt = 0; dt < 2; dt++) {
        rg_graph *g = rg_graph_new(dt ? RG_F32 : RG_F64);
        const int64_t two = 2, one = 1;
        rg_node *a = rg_input(g, NULL, 1, &two), *b = rg_input(g, NULL, 1, &one);
        rg_feed_f64(a, (const double[]){3, 4}, 2);
        rg_feed_f64(b, (const double[]){12}, 1);
        rg_node *gs[2] = {a, b};
        ck_assert_double_eq_tol(rg_clip_grad_norm(2, gs, 20.0), 13.0, 1e-12);
        ck_assert_double_eq(rg_node_get(a, 0), 3.0);
        ck_assert_double_eq_tol(rg_clip_grad_norm(2, gs, 6.5), 13.0, 1e-12);
        ck_assert_double_eq_tol(rg_node_get(a, 0), 1.5, 1e-6);
        ck_assert_double_eq_tol(rg_node_get(a, 1), 2.0, 1e-6);
        ck_assert_double_eq_tol(rg_node_get(b, 0), 6.0, 1e-6);
        ck_assert_double_eq_tol(rg_clip_grad_norm(2, gs, 0.0), 6.5, 1e-6); /* measure only */
        rg_node *none[1] = {rg_add(a, a)};                                /* not evaluated */
        ck_assert(isnan(rg_clip_grad_norm(1, none, 1.0)));
        rg_graph_free(g);
    }
}
END_TEST

/* In the optimiser: SGD with eta 1 and clip 1 on the tiny problem, whose gradient
 * [2, -2, -5] has norm sqrt(33): w0 = 1 - 2 / sqrt(33), b = 0.5 + 5 / sqrt(33); the
 * gradient buffers themselves are not changed. */
START_TEST(test_optim_clips)
{
    struct tiny t = tiny_new(RG_F64);
    rg_optim_opts o = rg_optim_defaults(RG_OPTIM_SGD);
    o.lr = 1.0;
    o.clip_norm = 1.0;
    rg_optim *opt = tiny_optim(&t, &o);
    ck_assert(isnan(rg_optim_last_grad_norm(opt)));
    tiny_step(&t, opt);
    ck_assert_double_eq_tol(rg_optim_last_grad_norm(opt), sqrt(33.0), 1e-14);
    ck_assert_double_eq_tol(rg_node_get(t.w, 0), 1 - 2 / sqrt(33.0), 1e-14);
    ck_assert_double_eq_tol(rg_node_get(t.w, 1), -2 + 2 / sqrt(33.0), 1e-14);
    ck_assert_double_eq_tol(rg_node_get(t.b, 0), 0.5 + 5 / sqrt(33.0), 1e-14);
    ck_assert_double_eq(rg_node_get(rg_node_grad(t.b), 0), -5.0);
    /* the step taken has length exactly the clip norm */
    double dw0 = rg_node_get(t.w, 0) - 1, dw1 = rg_node_get(t.w, 1) + 2,
           db = rg_node_get(t.b, 0) - 0.5;
    ck_assert_double_eq_tol(sqrt(dw0 * dw0 + dw1 * dw1 + db * db), 1.0, 1e-14);
    rg_optim_free(opt);
    rg_graph_free(t.g);
}
END_TEST

/* ---- schedules -------------------------------------------------------------------------- */

/* base 0.1. step (size 3, gamma 0.5): 0.1 for t = 0..2, 0.05 for 3..5, 0.025 at 6.
 * cosine (total 10, min 0.01): 0.1 at 0; at 2 0.01 + 0.09 (1 + cos(0.2 pi)) / 2 with
 * cos(0.2 pi) = (1 + sqrt 5) / 4 = 0.80901699437494742: 0.091405764746872634; 0.055 at 5;
 * 0.01 at 10 and after. */
START_TEST(test_schedules)
{
    rg_schedule s = rg_schedule_defaults();
    ck_assert_int_eq(s.kind, RG_SCHEDULE_CONSTANT);
    ck_assert_double_eq(rg_schedule_lr(&s, 0.1, 0), 0.1);
    ck_assert_double_eq(rg_schedule_lr(&s, 0.1, 1000000), 0.1);

    s.kind = RG_SCHEDULE_STEP;
    s.step_size = 3;
    s.gamma = 0.5;
    static const double step_lr[] = {0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025};
    for (int t = 0; t < N_OF(step_lr); t++)
        ck_assert_double_eq_tol(rg_schedule_lr(&s, 0.1, (uint64_t)t), step_lr[t], 1e-17);

    s.kind = RG_SCHEDULE_COSINE;
    s.total = 10;
    s.min_lr = 0.01;
    static const struct {
        uint64_t t;
        double lr;
    } cos_lr[] = {{0, 0.1}, {2, 0.091405764746872634}, {5, 0.055}, {10, 0.01}, {25, 0.01}};
    for (int i = 0; i < N_OF(cos_lr); i++)
        ck_assert_double_eq_tol(rg_schedule_lr(&s, 0.1, cos_lr[i].t), cos_lr[i].lr, 1e-16);

    s.total = 0;
    ck_assert(isnan(rg_schedule_lr(&s, 0.1, 1)));
    ck_assert(isnan(rg_schedule_lr(NULL, 0.1, 1)));
    for (int k = 0; k < 3; k++)
        ck_assert_int_eq(rg_schedule_from_name(rg_schedule_name((rg_schedule_kind)k)), k);
    ck_assert_int_eq(rg_schedule_from_name("linear"), -1);

    /* the optimiser reads the schedule at its step count */
    struct tiny t = tiny_new(RG_F64);
    rg_optim_opts o = rg_optim_defaults(RG_OPTIM_SGD);
    o.lr = 0.1;
    o.schedule.kind = RG_SCHEDULE_STEP;
    o.schedule.step_size = 3;
    o.schedule.gamma = 0.5;
    rg_optim *opt = tiny_optim(&t, &o);
    for (int k = 0; k < N_OF(step_lr); k++) {
        ck_assert_double_eq_tol(rg_optim_lr(opt), step_lr[k], 1e-17);
        tiny_step(&t, opt);
    }
    rg_optim_set_steps(opt, 0);
    ck_assert_double_eq(rg_optim_lr(opt), 0.1);
    rg_optim_set_lr(opt, 0.4);
    rg_optim_set_steps(opt, 3);
    ck_assert_double_eq(rg_optim_lr(opt), 0.2);
    rg_optim_free(opt);
    rg_graph_free(t.g);
}
END_TEST

/* ---- an MLP: allocations, state ---------------------------------------------------------- */

static rg_mlp *mlp(rg_graph *g, uint64_t seed)
{
    static const int64_t hidden[] = {16, 8};
    rg_mlp_opts o = rg_mlp_defaults();
    o.inputs = 4;
    o.hidden = hidden;
    o.nhidden = 2;
    o.outputs = 3;
    o.batch = 8;
    o.seed = seed;
    rg_mlp *m = rg_mlp_new(g, &o);
    ck_assert_msg(m != NULL, "%s", rg_graph_errmsg(g));
    return m;
}

static rg_optim *mlp_optim(rg_mlp *m, const rg_optim_opts *o)
{
    int np;
    rg_node *const *p = rg_mlp_params(m, &np);
    rg_optim *opt = rg_optim_new(o, np, p, rg_mlp_grads(m, NULL), rg_mlp_is_weight(m));
    ck_assert_ptr_nonnull(opt);
    return opt;
}

/* Batch number `step` of a fixed pseudo-random stream: the same step, the same data. */
static void feed_batch(rg_mlp *m, int step)
{
    uint64_t s = 1000 + (uint64_t)step;
    double x[8 * 4], y[8];
    for (int i = 0; i < 32; i++)
        x[i] = tu_uniform(&s, -1, 1);
    for (int i = 0; i < 8; i++)
        y[i] = (double)(tu_next(&s) % 3);
    ck_assert_int_eq(rg_feed_f64(rg_mlp_input(m), x, 32), RG_OK);
    ck_assert_int_eq(rg_feed_f64(rg_mlp_labels(m), y, 8), RG_OK);
}

static void mlp_step(rg_mlp *m, rg_optim *opt, int step)
{
    feed_batch(m, step);
    ck_assert_int_eq(rg_mlp_backward(m), RG_OK);
    ck_assert_int_eq(rg_optim_step(opt), RG_OK);
}

/* loop index: optimiser kind; f32 graphs, every option that runs per step switched on. */
START_TEST(test_no_alloc_per_step)
{
    rg_graph *g = rg_graph_new(RG_F32);
    rg_mlp *m = mlp(g, 3);
    rg_optim_opts o = rg_optim_defaults((rg_optim_kind)_i);
    o.weight_decay = 1e-3;
    o.clip_norm = 0.5;
    o.nesterov = _i == RG_OPTIM_MOMENTUM;
    o.schedule.kind = RG_SCHEDULE_COSINE;
    o.schedule.total = 100;
    rg_optim *opt = mlp_optim(m, &o);
    mlp_step(m, opt, 0);
    uint64_t after_first = rg_graph_alloc_count(g);
    for (int s = 1; s <= 20; s++)
        mlp_step(m, opt, s);
    ck_assert_uint_eq(rg_graph_alloc_count(g), after_first);
    ck_assert(isfinite(rg_node_item(rg_mlp_loss(m))));
    rg_optim_free(opt);
    rg_mlp_free(m);
    rg_graph_free(g);
}
END_TEST

/* Training 6 steps straight equals training 3, copying parameters, optimiser state and step
 * count into a fresh model and optimiser (as a model file would), and training 3 more: bit
 * for bit. loop index: optimiser kind. */
START_TEST(test_state_save_restore)
{
    rg_optim_opts o = rg_optim_defaults((rg_optim_kind)_i);
    if (_i == RG_OPTIM_SGD)
        o.momentum = 0.5;
    o.schedule.kind = RG_SCHEDULE_STEP;
    o.schedule.step_size = 2;
    o.schedule.gamma = 0.7;

    rg_graph *ga = rg_graph_new(RG_F32), *gb = rg_graph_new(RG_F32), *gc = rg_graph_new(RG_F32);
    rg_mlp *a = mlp(ga, 5), *b = mlp(gb, 5), *c = mlp(gc, 6);
    rg_optim *oa = mlp_optim(a, &o), *ob = mlp_optim(b, &o), *oc = mlp_optim(c, &o);
    for (int s = 0; s < 6; s++)
        mlp_step(a, oa, s);
    for (int s = 0; s < 3; s++)
        mlp_step(b, ob, s);

    ck_assert_int_eq(rg_mlp_copy_params(c, b), RG_OK);
    int ns = rg_optim_state_count(ob);
    ck_assert_int_eq(ns, rg_optim_state_count(oc));
    ck_assert_int_eq(ns, (_i >= RG_OPTIM_ADAM ? 2 : 1) * 6);
    ck_assert_int_eq(rg_optim_dtype(ob), RG_F32);
    for (int i = 0; i < ns; i++) {
        const char *nb, *nc;
        void *db, *dc;
        int64_t cb, cc;
        int pb;
        ck_assert_int_eq(rg_optim_state_get(ob, i, &nb, &db, &cb, &pb), RG_OK);
        ck_assert_int_eq(rg_optim_state_get(oc, i, &nc, &dc, &cc, NULL), RG_OK);
        ck_assert_str_eq(nb, nc);
        ck_assert_int_eq(cb, cc);
        ck_assert_int_eq(cb, rg_node_size(rg_mlp_params(b, NULL)[pb]));
        memcpy(dc, db, sizeof(float) * (size_t)cb);
    }
    rg_optim_set_steps(oc, rg_optim_steps(ob));
    for (int s = 3; s < 6; s++)
        mlp_step(c, oc, s);

    int np;
    rg_node *const *pa = rg_mlp_params(a, &np);
    rg_node *const *pc = rg_mlp_params(c, NULL);
    for (int i = 0; i < np; i++)
        ck_assert_int_eq(memcmp(rg_node_data(pa[i]), rg_node_data(pc[i]),
                                sizeof(float) * (size_t)rg_node_size(pa[i])),
                         0);
    ck_assert_int_eq(rg_optim_state_get(oa, ns, NULL, NULL, NULL, NULL), RG_ERR_ARG);

    /* reset forgets the state */
    rg_optim_reset(oa);
    ck_assert_uint_eq(rg_optim_steps(oa), 0);
    void *d;
    int64_t cnt;
    ck_assert_int_eq(rg_optim_state_get(oa, 0, NULL, &d, &cnt, NULL), RG_OK);
    for (int64_t j = 0; j < cnt; j++)
        ck_assert_float_eq(((float *)d)[j], 0.0f);

    rg_optim_free(oa);
    rg_optim_free(ob);
    rg_optim_free(oc);
    rg_mlp_free(a);
    rg_mlp_free(b);
    rg_mlp_free(c);
    rg_graph_free(ga);
    rg_graph_free(gb);
    rg_graph_free(gc);
}
END_TEST

START_TEST(test_state_names)
{
    static const struct {
        rg_optim_kind kind;
        int count;
        const char *first, *second;
    } cases[] = {
        {RG_OPTIM_SGD, 0, NULL, NULL},
        {RG_OPTIM_MOMENTUM, 2, "w.velocity", "p1.velocity"},
        {RG_OPTIM_ADAM, 4, "w.m", "w.v"},
        {RG_OPTIM_ADAMW, 4, "w.m", "w.v"},
    };
    for (int c = 0; c < N_OF(cases); c++) {
        rg_graph *g = rg_graph_new(RG_F64);
        const int64_t n = 3;
        rg_node *p[2] = {rg_param(g, "w", 1, &n, NULL), rg_param(g, NULL, 1, &n, NULL)};
        rg_optim_opts o = rg_optim_defaults(cases[c].kind);
        rg_optim *opt = rg_optim_new(&o, 2, p, NULL, NULL);
        ck_assert_ptr_nonnull(opt);
        ck_assert_int_eq(rg_optim_state_count(opt), cases[c].count);
        const char *name;
        int param;
        if (cases[c].count) {
            ck_assert_int_eq(rg_optim_state_get(opt, 0, &name, NULL, NULL, &param), RG_OK);
            ck_assert_str_eq(name, cases[c].first);
            ck_assert_int_eq(param, 0);
            ck_assert_int_eq(rg_optim_state_get(opt, 1, &name, NULL, NULL, &param), RG_OK);
            ck_assert_str_eq(name, cases[c].second);
        }
        static const char *const kind_names[] = {"sgd", "momentum", "adam", "adamw"};
        ck_assert_str_eq(rg_optim_name(cases[c].kind), kind_names[c]);
        ck_assert_int_eq(rg_optim_from_name(rg_optim_name(cases[c].kind)), (int)cases[c].kind);
        rg_optim_free(opt);
        rg_graph_free(g);
    }
    ck_assert_int_eq(rg_optim_from_name("rmsprop"), -1);
}
END_TEST

/* ---- errors ----------------------------------------------------------------------------- */

START_TEST(test_bad_options)
{
    static const struct {
        rg_optim_kind kind;
        const char *field;
        double value;
        const char *msg;
    } cases[] = {
        {RG_OPTIM_SGD, "lr", -1, "learning rate"},
        {RG_OPTIM_SGD, "lr", NAN, "learning rate"},
        {RG_OPTIM_MOMENTUM, "momentum", 1.0, "momentum"},
        {RG_OPTIM_SGD, "nesterov", 1, "Nesterov"},
        {RG_OPTIM_ADAM, "beta1", 1.0, "betas"},
        {RG_OPTIM_ADAMW, "beta2", -0.1, "betas"},
        {RG_OPTIM_ADAM, "eps", -1, "eps"},
        {RG_OPTIM_SGD, "weight_decay", -0.1, "weight decay"},
        {RG_OPTIM_SGD, "clip_norm", -1, "clip"},
        {RG_OPTIM_SGD, "step_size", 0, "step schedule"},
        {RG_OPTIM_SGD, "total", 0, "cosine"},
        {(rg_optim_kind)7, "kind", 0, "unknown kind"},
    };
    for (int c = 0; c < N_OF(cases); c++) {
        struct tiny t = tiny_new(RG_F64);
        rg_optim_opts o = rg_optim_defaults(cases[c].kind);
        const char *f = cases[c].field;
        double v = cases[c].value;
        if (!strcmp(f, "lr"))
            o.lr = v;
        else if (!strcmp(f, "momentum"))
            o.momentum = v;
        else if (!strcmp(f, "nesterov"))
            o.nesterov = true;
        else if (!strcmp(f, "beta1"))
            o.beta1 = v;
        else if (!strcmp(f, "beta2"))
            o.beta2 = v;
        else if (!strcmp(f, "eps"))
            o.eps = v;
        else if (!strcmp(f, "weight_decay"))
            o.weight_decay = v;
        else if (!strcmp(f, "clip_norm"))
            o.clip_norm = v;
        else if (!strcmp(f, "step_size")) {
            o.schedule.kind = RG_SCHEDULE_STEP;
            o.schedule.step_size = 0;
        } else if (!strcmp(f, "total")) {
            o.schedule.kind = RG_SCHEDULE_COSINE;
            o.schedule.total = 0;
        }
        rg_node *params[2] = {t.w, t.b};
        ck_assert_ptr_null(rg_optim_new(&o, 2, params, NULL, NULL));
        ck_assert_int_eq(rg_graph_status(t.g), RG_ERR_ARG);
        ck_assert_msg(strstr(rg_graph_errmsg(t.g), cases[c].msg) != NULL, "case %d: '%s'", c,
                      rg_graph_errmsg(t.g));
        rg_graph_free(t.g);
    }
}
END_TEST

START_TEST(test_bad_nodes)
{
    struct tiny t = tiny_new(RG_F64);
    rg_optim_opts o = rg_optim_defaults(RG_OPTIM_SGD);
    ck_assert_ptr_null(rg_optim_new(&o, 0, NULL, NULL, NULL));
    /* a non-parameter */
    rg_node *bad[2] = {t.w, t.loss};
    ck_assert_ptr_null(rg_optim_new(&o, 2, bad, NULL, NULL));
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(t.g), "not a parameter"));
    rg_graph_clear_error(t.g);
    /* a parameter of another graph */
    struct tiny u = tiny_new(RG_F64);
    rg_node *mixed[2] = {t.w, u.b};
    ck_assert_ptr_null(rg_optim_new(&o, 2, mixed, NULL, NULL));
    ck_assert_int_eq(rg_graph_status(t.g), RG_ERR_GRAPH);
    rg_graph_clear_error(t.g);
    /* a gradient of the wrong shape */
    rg_node *params[2] = {t.w, t.b}, *grads[2] = {t.b, NULL};
    ck_assert_ptr_null(rg_optim_new(&o, 2, params, grads, NULL));
    ck_assert_int_eq(rg_graph_status(t.g), RG_ERR_SHAPE);
    rg_graph_clear_error(t.g);
    /* no gradient evaluated yet: nothing is updated */
    rg_optim *opt = rg_optim_new(&o, 2, params, NULL, NULL);
    ck_assert_ptr_nonnull(opt);
    ck_assert_int_eq(rg_optim_step(opt), RG_ERR_NOT_EVALUATED);
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(t.g), "'w'"));
    ck_assert_double_eq(rg_node_get(t.w, 0), 1.0);
    ck_assert_uint_eq(rg_optim_steps(opt), 0);
    rg_optim_free(opt);
    rg_optim_free(NULL);
    ck_assert_int_eq(rg_optim_step(NULL), RG_ERR_ARG);
    rg_graph_free(t.g);
    rg_graph_free(u.g);
}
END_TEST

/* ---- allocation failures ---------------------------------------------------------------- */

struct failing {
    int64_t left; /* allocations that still succeed */
};

static void *f_malloc(void *ctx, size_t size)
{
    struct failing *f = ctx;
    return f->left-- > 0 ? malloc(size) : NULL;
}

static void *f_realloc(void *ctx, void *p, size_t size)
{
    struct failing *f = ctx;
    return f->left-- > 0 ? realloc(p, size) : NULL;
}

static void f_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

/* Every allocation of building a model and an optimiser and of the first step fails in turn:
 * each call reports the failure (NULL or a status) and nothing leaks (the sanitizer build
 * checks that) or crashes. */
START_TEST(test_alloc_failures)
{
    bool done = false;
    for (int64_t budget = 1; !done; budget++) {
        ck_assert_int_lt(budget, 100000);
        struct failing f = {budget};
        rg_allocator a = {f_malloc, f_realloc, f_free, &f};
        rg_graph *g = rg_graph_new_with_allocator(RG_F32, &a);
        if (!g)
            continue;
        static const int64_t hidden[] = {4};
        rg_mlp_opts o = rg_mlp_defaults();
        o.inputs = 2;
        o.hidden = hidden;
        o.nhidden = 1;
        o.outputs = 2;
        o.batch = 3;
        rg_mlp *m = rg_mlp_new(g, &o);
        rg_optim *opt = NULL;
        if (!m) {
            ck_assert_int_ne(rg_graph_status(g), RG_OK);
        } else {
            rg_optim_opts oo = rg_optim_defaults(RG_OPTIM_ADAM);
            int np;
            rg_node *const *p = rg_mlp_params(m, &np);
            opt = rg_optim_new(&oo, np, p, rg_mlp_grads(m, NULL), rg_mlp_is_weight(m));
            if (!opt)
                ck_assert_int_eq(rg_graph_status(g), RG_ERR_NOMEM);
            else if (rg_mlp_backward(m) == RG_OK)
                done = rg_optim_step(opt) == RG_OK;
        }
        rg_optim_free(opt);
        rg_mlp_free(m);
        rg_graph_free(g);
    }
}
END_TEST

/* ---- suite ------------------------------------------------------------------------------ */

static Suite *optim_suite(void)
{
    Suite *s = suite_create("optim");
    const tu_case cases[] = {
        {"hand_values", test_hand_values, 0},
        {"formulas", test_formulas, 2 * N_OF(fcases)},
        {"large_params", test_large_params, 2 * N_OF(fcases)},
        {"weight_decay_biases", test_weight_decay_biases, 0},
        {"clip_grad_norm", test_clip_grad_norm, 0},
        {"optim_clips", test_optim_clips, 0},
        {"schedules", test_schedules, 0},
        {"no_alloc_per_step", test_no_alloc_per_step, 4},
        {"state_save_restore", test_state_save_restore, 4},
        {"state_names", test_state_names, 0},
        {"bad_options", test_bad_options, 0},
        {"bad_nodes", test_bad_nodes, 0},
        {"alloc_failures", test_alloc_failures, 0},
    };
    tu_add_cases(s, cases, sizeof cases / sizeof *cases);
    return s;
}

int main(void)
{
    return tu_run_suite(optim_suite());
}
