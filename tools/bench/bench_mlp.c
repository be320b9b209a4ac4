/* retrograd-bench mlp: workload W1 of the reference benchmarks (../shared/bench/README.md).
 *
 * An f32 MLP (default 784-512-256-10) with ReLU and mean softmax cross-entropy, built with
 * the public graph API (matmul, add, relu, cross_entropy) and trained with rg_backward() and
 * the library's optimiser in its torch.optim.SGD configuration: momentum 0.9, lr 0.01, weight
 * decay 1e-4 on every parameter (g += 1e-4 W; v = 0.9 v + g; W -= 0.01 v). Weights and biases
 * start as in the numpy reference, U(-1/sqrt(in), 1/sqrt(in)). Data: a pool of 16 batches of
 * N(0, 1) inputs and uniform labels, cycled. Timing: warm-up steps, then `runs` runs of
 * `steps` steps; the figure is the median samples/s.
 *
 * The bound: the step's GEMMs, each timed alone at its shape and transposes (as the graph
 * runs it) in this process, summed; batch / that sum is the samples/s the step would reach if
 * everything but its GEMMs cost nothing. The GEMMs are timed after every training run, not
 * once, so that a change in the machine's load during the benchmark weighs on both sides of
 * the ratio; the fraction reported is the median of the per-run ratios.
 *
 * The ceiling: the update of the step cannot cost nothing. The gradients, velocities and
 * weights are separate f32 arrays (the library's gradients are readable after the step, as
 * torch's are), so the update reads three arrays and writes two, 20 bytes per parameter,
 * and with the step's other data in between they no longer sit in a core's L2. The update's
 * floor is that traffic as one plain loop over arrays of the model's size, timed after a
 * write of as many bytes again has pushed them out (update_floor below); batch / (GEMMs alone
 * + floor / threads) is then the most any implementation of the step reaches, and its ratio
 * to the bound the highest fraction it can show.
 *
 * The bare step: that ceiling still assumes the GEMMs run inside the step as fast as alone,
 * where each repeats on operands already in the caches. In a step they do not: the batch is
 * new, the weights were just rewritten by the update. The bare step is a second graph holding
 * the step's GEMMs and nothing else (the activations and gradients they read are constant
 * inputs, the batch comes from the same pool), evaluated and followed by the library's
 * optimiser over the weights, with the dW products as their gradients (bare_step below). It
 * is the step without bias, ReLU, loss, reductions or autodiff: what is left of the step when
 * everything but its GEMMs and its update costs nothing, measured. */
#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LAYERS 16
#define MAX_GEMMS (3 * MAX_LAYERS)

typedef struct mlp_opts {
    int64_t width[MAX_LAYERS + 1]; /* layer sizes, input first */
    int nlayers;                   /* weight layers: entries of width minus one */
    int64_t batch, steps, threads, warmup, runs, pool;
    bool json;
} mlp_opts;

typedef struct gemm_shape {
    int64_t m, n, k;
    bool ta, tb;
    const char *what; /* "fwd", "dW", "dX" */
    int layer;
} gemm_shape;

static const char mlp_usage[] =
    "usage: retrograd-bench mlp [--layers 784,512,256,10] [--batch 64] [--steps 200]\n"
    "                           [--threads 1] [--warmup 20] [--runs 5] [--json]\n";

static bool parse_layers(const char *s, mlp_opts *o)
{
    int n = 0;
    const char *p = s;
    while (*p) {
        char item[32];
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof item || n > MAX_LAYERS) {
            bench_fail("--layers: expected 2 to %d sizes separated by commas, got '%s'",
                       MAX_LAYERS + 1, s);
            return false;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (!bench_parse_int("--layers", item, 1 << 20, &o->width[n++]))
            return false;
        p += len + (p[len] == ',');
    }
    if (n < 2) {
        bench_fail("--layers: expected at least an input and an output size, got '%s'", s);
        return false;
    }
    o->nlayers = n - 1;
    return true;
}

static int parse(int argc, char **argv, mlp_opts *o)
{
    *o = (mlp_opts){.width = {784, 512, 256, 10}, .nlayers = 3, .batch = 64, .steps = 200,
                    .threads = 1, .warmup = 20, .runs = 5, .pool = 16};
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if (strcmp(argv[i], "--json") == 0) {
            o->json = true;
        } else if (strcmp(argv[i], "--help") == 0) {
            fputs(mlp_usage, stdout);
            return -1;
        } else if ((r = bench_opt(argc, argv, &i, "--layers", &v)) != 0) {
            if (r < 0 || !parse_layers(v, o))
                return BENCH_USAGE;
        } else if ((r = bench_opt(argc, argv, &i, "--batch", &v)) != 0) {
            if (r < 0 || !bench_parse_int("--batch", v, 1 << 16, &o->batch))
                return BENCH_USAGE;
        } else if ((r = bench_opt(argc, argv, &i, "--steps", &v)) != 0) {
            if (r < 0 || !bench_parse_int("--steps", v, 1 << 30, &o->steps))
                return BENCH_USAGE;
        } else if ((r = bench_opt(argc, argv, &i, "--threads", &v)) != 0) {
            if (r < 0 || !bench_parse_int("--threads", v, 1024, &o->threads))
                return BENCH_USAGE;
        } else if ((r = bench_opt(argc, argv, &i, "--warmup", &v)) != 0) {
            if (r < 0 || !bench_parse_int("--warmup", v, 1 << 30, &o->warmup))
                return BENCH_USAGE;
        } else if ((r = bench_opt(argc, argv, &i, "--runs", &v)) != 0) {
            if (r < 0 || !bench_parse_int("--runs", v, 1000, &o->runs))
                return BENCH_USAGE;
        } else {
            bench_fail("mlp: unknown option '%s'", argv[i]);
            fputs(mlp_usage, stderr);
            return BENCH_USAGE;
        }
    }
    return BENCH_OK;
}

/* The GEMMs of one training step by the VJP rule of matmul (include/retrograd.h: for
 * y = a @ b, da = g @ b^T and db = a^T @ g, built with transpose flags): per layer the forward
 * h W (NN), dW = h^T g (TN) and, except for the first layer, whose input needs no gradient,
 * dh = g W^T (NT). */
static int step_gemms(const mlp_opts *o, gemm_shape *out)
{
    int n = 0;
    const int64_t b = o->batch;
    for (int l = 0; l < o->nlayers; l++) {
        const int64_t in = o->width[l], ou = o->width[l + 1];
        out[n++] = (gemm_shape){b, ou, in, false, false, "fwd", l + 1};
        out[n++] = (gemm_shape){in, ou, b, true, false, "dW", l + 1};
        if (l > 0)
            out[n++] = (gemm_shape){b, in, ou, false, true, "dX", l + 1};
    }
    return n;
}

static int cmp_mnk(const void *pa, const void *pb)
{
    const int64_t *a = pa, *b = pb;
    for (int i = 0; i < 3; i++)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return 0;
}

/* True when the graph's matmul nodes are exactly the expected GEMMs, compared as (m, n, k)
 * multisets (m, n from the output; k = size of the first input / m). */
static bool gemms_match(const rg_graph *g, const gemm_shape *want, int nwant)
{
    int64_t have[MAX_GEMMS + 1][3], exp[MAX_GEMMS][3];
    int nhave = 0;
    for (size_t id = 0; id < rg_graph_node_count(g); id++) {
        const rg_node *n = rg_graph_node(g, id);
        if (strcmp(rg_node_op_name(n), "matmul") != 0)
            continue;
        if (nhave > MAX_GEMMS || rg_node_ndim(n) != 2)
            return false;
        const int64_t *s = rg_node_shape(n);
        have[nhave][0] = s[0];
        have[nhave][1] = s[1];
        have[nhave][2] = s[0] ? rg_node_size(rg_node_input(n, 0)) / s[0] : 0;
        nhave++;
    }
    if (nhave != nwant)
        return false;
    for (int i = 0; i < nwant; i++) {
        exp[i][0] = want[i].m;
        exp[i][1] = want[i].n;
        exp[i][2] = want[i].k;
    }
    qsort(have, (size_t)nhave, sizeof have[0], cmp_mnk);
    qsort(exp, (size_t)nwant, sizeof exp[0], cmp_mnk);
    return memcmp(have, exp, sizeof exp[0] * (size_t)nwant) == 0;
}

/* A parameter of `count` f32 values drawn uniformly from [-bound, bound). */
static rg_node *uniform_param(rg_graph *g, const char *name, int ndim, const int64_t *shape,
                              double bound, rg_rng *rng)
{
    int64_t count = 1;
    for (int i = 0; i < ndim; i++)
        count *= shape[i];
    float *v = malloc(sizeof(float) * (size_t)count);
    if (!v)
        return NULL;
    for (int64_t i = 0; i < count; i++)
        v[i] = (float)rg_rng_range(rng, -bound, bound);
    rg_node *p = rg_param(g, name, ndim, shape, v);
    free(v);
    return p;
}

/* One GEMM of the step, alone in a one-node graph: op(a) @ op(b) at the step's shape. */
typedef struct gemm_timer {
    rg_graph *g;
    rg_node *c;
    int64_t iters; /* calls per timing, for about 20 ms */
} gemm_timer;

static bool gemm_timer_init(gemm_timer *t, const gemm_shape *s, rg_rng *rng)
{
    t->g = rg_graph_new(RG_F32);
    const int64_t sa[2] = {s->ta ? s->k : s->m, s->ta ? s->m : s->k};
    const int64_t sb[2] = {s->tb ? s->n : s->k, s->tb ? s->k : s->n};
    rg_node *a = uniform_param(t->g, "a", 2, sa, 0.5, rng);
    rg_node *b = uniform_param(t->g, "b", 2, sb, 0.5, rng);
    t->c = rg_matmul_t(a, b, s->ta, s->tb);
    if (!t->c || rg_eval1(t->c) != RG_OK || rg_eval1(t->c) != RG_OK)
        return false;
    t->iters = 0;
    const double t0 = bench_now();
    do {
        rg_eval1(t->c);
        t->iters++;
    } while (bench_now() - t0 < 0.02);
    return true;
}

/* Seconds per call, over one timing of `iters` calls. */
static double gemm_timer_run(const gemm_timer *t)
{
    const double t0 = bench_now();
    for (int64_t i = 0; i < t->iters; i++)
        rg_eval1(t->c);
    return (bench_now() - t0) / (double)t->iters;
}

/* Arrays for the update's floor: gradient, velocity and weights of `n` parameters, and a
 * buffer as large as the three to push them out of the caches before each timing. */
typedef struct update_floor {
    float *g, *v, *w, *flush;
    int64_t n;
} update_floor;

static bool update_floor_init(update_floor *u, int64_t n)
{
    u->n = n;
    u->g = malloc(sizeof(float) * (size_t)n);
    u->v = calloc((size_t)n, sizeof(float));
    u->w = malloc(sizeof(float) * (size_t)n);
    u->flush = calloc(3 * (size_t)n, sizeof(float));
    if (!u->g || !u->v || !u->w || !u->flush)
        return false;
    for (int64_t i = 0; i < n; i++) {
        u->g[i] = 1e-3f * (float)(i % 7);
        u->w[i] = 1e-2f * (float)(i % 11);
    }
    return true;
}

static void update_floor_free(update_floor *u)
{
    free(u->g);
    free(u->v);
    free(u->w);
    free(u->flush);
}

/* torch.optim.SGD's step with momentum and weight decay, in one pass. noinline: the loop is
 * timed as compiled here, not folded into its caller. */
__attribute__((noinline)) static void update_floor_pass(int64_t n, const float *restrict g,
                                                        float *restrict v, float *restrict w)
{
    for (int64_t i = 0; i < n; i++) {
        const float d = g[i] + 1e-4f * w[i];
        v[i] = 0.9f * v[i] + d;
        w[i] -= 0.01f * v[i];
    }
}

/* Seconds of one pass, the median of 9, each after the flush. */
static double update_floor_run(update_floor *u)
{
    double t[9];
    for (int r = 0; r < 9; r++) {
        for (int64_t i = 0; i < 3 * u->n; i++)
            u->flush[i] += 1.0f;
        const double t0 = bench_now();
        update_floor_pass(u->n, u->g, u->v, u->w);
        t[r] = bench_now() - t0;
    }
    return bench_median(t, 9);
}

/* The bare step (see the top of the file): a graph of the step's GEMMs, at the shapes and
 * with the transposes of step_gemms(), and an optimiser over its weights. */
typedef struct bare_step {
    rg_graph *g;
    rg_node *x;
    rg_node *gemm[MAX_GEMMS];
    int ngemm;
    rg_optim *opt;
} bare_step;

static bool bare_step_init(bare_step *b, const mlp_opts *o, const rg_optim_opts *oo,
                           rg_rng *rng)
{
    *b = (bare_step){.g = rg_graph_new(RG_F32)};
    if (!b->g)
        return false;
    const int64_t B = o->batch;
    rg_node *h[MAX_LAYERS], *gy[MAX_LAYERS], *w[MAX_LAYERS], *dw[MAX_LAYERS];
    for (int l = 0; l < o->nlayers; l++) {
        const int64_t in = o->width[l], ou = o->width[l + 1];
        const int64_t sw[2] = {in, ou}, sh[2] = {B, in}, sg[2] = {B, ou};
        /* the layer's input: the batch for the first, a constant activation after it */
        h[l] = l == 0 ? (b->x = rg_input(b->g, "x", 2, sh))
                      : uniform_param(b->g, "h", 2, sh, 1.0, rng);
        gy[l] = uniform_param(b->g, "g", 2, sg, 1e-3, rng);
        w[l] = uniform_param(b->g, "W", 2, sw, 1.0 / sqrt((double)in), rng);
    }
    /* in the step's order (the executor runs nodes in the order they were made): the
     * forward products from the first layer up, then each layer's products from the top */
    for (int l = 0; l < o->nlayers; l++)
        b->gemm[b->ngemm++] = rg_matmul(h[l], w[l]);
    for (int l = o->nlayers - 1; l >= 0; l--) {
        if (l > 0)
            b->gemm[b->ngemm++] = rg_matmul_t(gy[l], w[l], false, true);
        b->gemm[b->ngemm++] = dw[l] = rg_matmul_t(h[l], gy[l], true, false);
    }
    for (int i = 0; i < b->ngemm; i++)
        if (!b->gemm[i])
            return false;
    b->opt = rg_optim_new(oo, o->nlayers, w, dw, NULL);
    return b->opt != NULL;
}

/* Seconds per bare step, over `steps` steps fed from the pool as the training is (*next: the
 * pool's batch for the next step). NAN if a step fails. */
static double bare_step_run(bare_step *b, const mlp_opts *o, int64_t steps, const float *px,
                            int64_t *next)
{
    const int64_t B = o->batch, nin = o->width[0];
    const double t0 = bench_now();
    for (int64_t i = 0; i < steps; i++) {
        rg_feed_borrow(b->x, px + (*next)++ % o->pool * B * nin);
        if (rg_eval(b->g, b->ngemm, b->gemm) != RG_OK || rg_optim_step(b->opt) != RG_OK)
            return NAN;
    }
    return (bench_now() - t0) / (double)steps;
}

static void bare_step_free(bare_step *b)
{
    rg_optim_free(b->opt);
    rg_graph_free(b->g);
}

int bench_mlp(int argc, char **argv)
{
    mlp_opts o;
    int st = parse(argc, argv, &o);
    if (st != BENCH_OK)
        return st < 0 ? BENCH_OK : st;
    bench_set_threads((int)o.threads);

    const int64_t B = o.batch, nin = o.width[0], nout = o.width[o.nlayers];
    rg_graph *g = rg_graph_new(RG_F32);
    if (!g)
        return bench_graph_fail(NULL, "rg_graph_new");
    rg_rng rng;
    rg_rng_seed(&rng, 0);

    /* the model */
    const int64_t sx[2] = {B, nin}, sy[1] = {B};
    rg_node *x = rg_input(g, "x", 2, sx), *y = rg_input(g, "y", 1, sy), *h = x;
    rg_node *params[2 * MAX_LAYERS];
    for (int l = 0; l < o.nlayers; l++) {
        const int64_t in = o.width[l], ou = o.width[l + 1];
        const int64_t sw[2] = {in, ou}, sb[1] = {ou};
        const double bound = 1.0 / sqrt((double)in);
        char wn[16], bn[16];
        snprintf(wn, sizeof wn, "W%d", l + 1);
        snprintf(bn, sizeof bn, "b%d", l + 1);
        params[2 * l] = uniform_param(g, wn, 2, sw, bound, &rng);
        params[2 * l + 1] = uniform_param(g, bn, 1, sb, bound, &rng);
        rg_node *a = rg_add(rg_matmul(h, params[2 * l]), params[2 * l + 1]);
        h = l + 1 < o.nlayers ? rg_relu(a) : a;
    }
    rg_node *loss = rg_cross_entropy(h, y);
    if (!loss)
        return bench_graph_fail(g, "building the model");

    rg_optim_opts oo = rg_optim_defaults(RG_OPTIM_MOMENTUM);
    oo.lr = 0.01;
    oo.momentum = 0.9;
    oo.weight_decay = 1e-4;
    oo.decay_biases = true; /* torch's weight_decay applies to every parameter */
    rg_optim *opt = rg_optim_new(&oo, 2 * o.nlayers, params, NULL, NULL);
    if (!opt)
        return bench_graph_fail(g, "rg_optim_new");

    /* the data: a pool of batches, fed by pointer (no copy per step) */
    float *px = malloc(sizeof(float) * (size_t)(o.pool * B * nin));
    float *py = malloc(sizeof(float) * (size_t)(o.pool * B));
    if (!px || !py) {
        bench_fail("out of memory for the data pool");
        return BENCH_FAILED;
    }
    for (int64_t i = 0; i < o.pool * B * nin; i++)
        px[i] = (float)rg_rng_normal(&rng);
    for (int64_t i = 0; i < o.pool * B; i++)
        py[i] = (float)rg_rng_below(&rng, (uint64_t)nout);

    int64_t step = 0;
#define TRAIN_STEP()                                                                       \
    do {                                                                                   \
        const int64_t j_ = step++ % o.pool;                                                \
        rg_feed_borrow(x, px + j_ * B * nin);                                              \
        rg_feed_borrow(y, py + j_ * B);                                                    \
        if (rg_backward(loss) != RG_OK || rg_optim_step(opt) != RG_OK)                     \
            return bench_graph_fail(g, "a training step");                                 \
    } while (0)

    for (int64_t i = 0; i < o.warmup; i++)
        TRAIN_STEP();
    gemm_shape gemms[MAX_GEMMS];
    const int ngemm = step_gemms(&o, gemms);
    const bool verified = gemms_match(g, gemms, ngemm);

    /* per run: samples/s, then the GEMMs alone (gt[i * runs + r]) */
    const int runs = (int)o.runs;
    double *rate = malloc(sizeof(double) * (size_t)runs);
    double *bound = malloc(sizeof(double) * (size_t)runs);
    double *frac = malloc(sizeof(double) * (size_t)runs);
    double *gt = malloc(sizeof(double) * (size_t)(ngemm * runs));
    gemm_timer timers[MAX_GEMMS];
    if (!rate || !bound || !frac || !gt) {
        bench_fail("out of memory");
        return BENCH_FAILED;
    }
    update_floor uf = {0};
    double *floor_s = malloc(sizeof(double) * (size_t)runs);
    int64_t nparams = 0;
    for (int i = 0; i < 2 * o.nlayers; i++)
        nparams += rg_node_size(params[i]);
    /* per run: the bare step's seconds, its fraction of the bound, the step's time over it */
    double *bare = malloc(sizeof(double) * (size_t)(3 * runs));
    double *bare_frac = bare + runs, *over_bare = bare + 2 * runs;
    bare_step bs = {0};
    int64_t bare_next = 0;
    if (!floor_s || !bare) {
        bench_fail("out of memory");
        return BENCH_FAILED;
    }
    const uint64_t alloc0 = rg_graph_alloc_count(g);
    double rss = NAN;
    for (int r = 0; r < runs; r++) {
        const double t0 = bench_now();
        for (int64_t i = 0; i < o.steps; i++)
            TRAIN_STEP();
        rate[r] = (double)(o.steps * B) / (bench_now() - t0);
        if (r == 0) {
            /* the training's footprint, before the GEMM graphs below add theirs */
            rss = bench_peak_rss_mib();
            for (int i = 0; i < ngemm; i++)
                if (!gemm_timer_init(&timers[i], &gemms[i], &rng))
                    return bench_graph_fail(timers[i].g, "timing a GEMM alone");
            if (!update_floor_init(&uf, nparams)) {
                bench_fail("out of memory for the update's floor");
                return BENCH_FAILED;
            }
            if (!bare_step_init(&bs, &o, &oo, &rng))
                return bench_graph_fail(bs.g, "building the bare step");
            if (isnan(bare_step_run(&bs, &o, o.warmup, px, &bare_next)))
                return bench_graph_fail(bs.g, "a bare step");
        }
        floor_s[r] = update_floor_run(&uf);
        double sum = 0;
        for (int i = 0; i < ngemm; i++)
            sum += gt[i * runs + r] = gemm_timer_run(&timers[i]);
        bound[r] = (double)B / sum;
        frac[r] = rate[r] / bound[r];
        if (isnan(bare[r] = bare_step_run(&bs, &o, o.steps, px, &bare_next)))
            return bench_graph_fail(bs.g, "a bare step");
        bare_frac[r] = sum / bare[r];
        over_bare[r] = (double)B / rate[r] / bare[r];
    }
#undef TRAIN_STEP
    /* the GEMM graphs allocate through their own graphs, not this one */
    const double allocs = (double)(rg_graph_alloc_count(g) - alloc0) / (double)(runs * o.steps);
    const double final_loss = rg_node_item(loss);
    const double samples = bench_median(rate, runs); /* sorts rate */
    const double rmin = rate[0], rmax = rate[runs - 1];

    bench_report rep;
    bench_report_init(&rep, "mlp");
    char arch[128] = "";
    for (int l = 0; l <= o.nlayers; l++)
        snprintf(arch + strlen(arch), sizeof arch - strlen(arch), "%s%lld", l ? "-" : "",
                 (long long)o.width[l]);
    bench_text(&rep, "layers", arch, "layers");
    bench_num(&rep, "batch", (double)B, 0, "batch", NULL);
    bench_num(&rep, "steps", (double)o.steps, 0, "steps per run", NULL);
    bench_num(&rep, "runs", (double)runs, 0, "runs (median taken)", NULL);
    bench_num(&rep, "samples_per_s", samples, 0, "training", "samples/s");
    bench_num(&rep, "samples_per_s_min", rmin, 0, "  slowest run", "samples/s");
    bench_num(&rep, "samples_per_s_max", rmax, 0, "  fastest run", "samples/s");
    bench_num(&rep, "us_per_step", 1e6 * (double)B / samples, 1, "  per step", "us");
    static char labels[MAX_GEMMS][64];
    static char keys[MAX_GEMMS][32];
    double gemm_s = 0, flops = 0;
    for (int i = 0; i < ngemm; i++) {
        const gemm_shape *sh = &gemms[i];
        const double t = bench_median(gt + i * runs, runs);
        const double f = 2.0 * (double)(sh->m * sh->n * sh->k);
        gemm_s += t;
        flops += f;
        snprintf(labels[i], sizeof labels[i], "  GEMM L%d %-3s %lldx%lldx%lld %c%c", sh->layer,
                 sh->what, (long long)sh->m, (long long)sh->n, (long long)sh->k,
                 sh->ta ? 'T' : 'N', sh->tb ? 'T' : 'N');
        snprintf(keys[i], sizeof keys[i], "gemm_L%d_%s_gflops", sh->layer, sh->what);
        bench_num(&rep, keys[i], f / t * 1e-9, 2, labels[i], "GFLOP/s");
        rg_graph_free(timers[i].g);
    }
    bench_num(&rep, "gemm_us_per_step", gemm_s * 1e6, 1, "GEMMs alone, per step (median)",
              "us");
    bench_num(&rep, "gemm_gflops", flops / gemm_s * 1e-9, 2, "GEMMs alone", "GFLOP/s");
    bench_num(&rep, "gemm_bound_samples_per_s", bench_median(bound, runs), 0, "GEMM-only bound",
              "samples/s");
    bench_num(&rep, "fraction_of_gemm_bound", bench_median(frac, runs), 3,
              "fraction of the bound (per run)", NULL);
    /* perfect scaling over the threads: a floor no update on them can beat */
    const double floor_med = bench_median(floor_s, runs) / (double)o.threads;
    bench_num(&rep, "parameters", (double)nparams, 0, "parameters", NULL);
    bench_num(&rep, "update_floor_us", floor_med * 1e6, 1, "update's floor, one pass", "us");
    bench_num(&rep, "fraction_ceiling", gemm_s / (gemm_s + floor_med), 3,
              "highest fraction reachable", NULL);
    bench_num(&rep, "bare_step_us", bench_median(bare, runs) * 1e6, 1,
              "bare step: GEMMs + update only", "us");
    bench_num(&rep, "bare_fraction_of_gemm_bound", bench_median(bare_frac, runs), 3,
              "  its fraction of the bound", NULL);
    bench_num(&rep, "step_over_bare", bench_median(over_bare, runs), 3,
              "  training step / bare step", NULL);
    bench_text(&rep, "bare_step_verified",
               gemms_match(bs.g, gemms, ngemm) ? "yes" : "NO: its matmuls differ",
               "bare step's GEMMs are the step's");
    bench_text(&rep, "gemm_shapes_verified", verified ? "yes" : "NO: the graph's matmuls differ",
               "GEMMs match the graph's matmuls");
    bench_num(&rep, "final_loss", final_loss, 4, "final loss", NULL);
    bench_common(&rep, (int)o.threads, rss, allocs);
    bench_print(&rep, stdout, o.json);

    free(rate);
    free(bound);
    free(frac);
    free(gt);
    free(floor_s);
    free(bare);
    bare_step_free(&bs);
    update_floor_free(&uf);
    free(px);
    free(py);
    rg_optim_free(opt);
    rg_graph_free(g);
    return BENCH_OK;
}
