/* retrograd-bench wide: workload W3 of the reference benchmarks, elementwise throughput.
 * y = sum(tanh(a * b + c)) over f32 vectors of n elements (default 1e6, N(0, 1) values) with
 * its gradients to a, b and c, built once; a call is one rg_eval() of y and the three
 * gradients. 10 warm-up calls, then 7 runs of 100 calls; the figure is the median time per
 * call. The forward alone (y only) is timed the same way for reference. */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

#define RUNS 7
#define CALLS 100
#define WARMUP 10

static const char wide_usage[] =
    "usage: retrograd-bench wide [--n 1000000] [--threads 1] [--json]\n";

/* Median seconds per call of rg_eval(g, n, targets). */
static double time_calls(rg_graph *g, int n, rg_node *const *targets, double *tmin)
{
    double t[RUNS];
    for (int r = 0; r < RUNS; r++) {
        const double t0 = bench_now();
        for (int c = 0; c < CALLS; c++)
            rg_eval(g, n, targets);
        t[r] = (bench_now() - t0) / CALLS;
    }
    const double m = bench_median(t, RUNS);
    *tmin = t[0];
    return m;
}

static rg_node *normal_param(rg_graph *g, const char *name, int64_t n, rg_rng *rng)
{
    float *v = malloc(sizeof(float) * (size_t)n);
    if (!v)
        return NULL;
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)rg_rng_normal(rng);
    rg_node *p = rg_param(g, name, 1, &n, v);
    free(v);
    return p;
}

int bench_wide(int argc, char **argv)
{
    int64_t n = 1000000, threads = 1;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--help") == 0) {
            fputs(wide_usage, stdout);
            return BENCH_OK;
        } else if ((r = bench_opt(argc, argv, &i, "--n", &v)) != 0) {
            if (r < 0 || !bench_parse_int("--n", v, INT64_C(1) << 34, &n))
                return BENCH_USAGE;
        } else if ((r = bench_opt(argc, argv, &i, "--threads", &v)) != 0) {
            if (r < 0 || !bench_parse_int("--threads", v, 1024, &threads))
                return BENCH_USAGE;
        } else {
            bench_fail("wide: unknown option '%s'", argv[i]);
            fputs(wide_usage, stderr);
            return BENCH_USAGE;
        }
    }
    /* W3 has no GEMM: of the two settings, the kernels' pool is the one that matters */
    bench_set_threads((int)threads);

    rg_graph *g = rg_graph_new(RG_F32);
    if (!g)
        return bench_graph_fail(NULL, "rg_graph_new");
    rg_rng rng;
    rg_rng_seed(&rng, 0);
    rg_node *xs[3] = {normal_param(g, "a", n, &rng), normal_param(g, "b", n, &rng),
                      normal_param(g, "c", n, &rng)};
    rg_node *y = rg_sum(rg_tanh(rg_add(rg_mul(xs[0], xs[1]), xs[2])), RG_AXIS_ALL, false);
    rg_node *targets[4] = {y};
    if (!y || rg_grad(y, 3, xs, targets + 1) != RG_OK)
        return bench_graph_fail(g, "building the graph");

    for (int c = 0; c < WARMUP; c++)
        if (rg_eval(g, 4, targets) != RG_OK)
            return bench_graph_fail(g, "evaluating");
    const uint64_t alloc0 = rg_graph_alloc_count(g);
    double tmin, fmin;
    const double t = time_calls(g, 4, targets, &tmin);
    const double allocs = (double)(rg_graph_alloc_count(g) - alloc0) / (RUNS * CALLS);
    const double yv = rg_node_item(y);
    const double rss = bench_peak_rss_mib();
    for (int c = 0; c < WARMUP; c++)
        rg_eval1(y);
    const double tf = time_calls(g, 1, targets, &fmin);

    bench_report rep;
    bench_report_init(&rep, "wide");
    bench_num(&rep, "n", (double)n, 0, "elements", NULL);
    bench_num(&rep, "us_per_call", t * 1e6, 1, "forward + backward", "us/call");
    bench_num(&rep, "us_per_call_min", tmin * 1e6, 1, "  fastest run", "us/call");
    bench_num(&rep, "ns_per_element", t / (double)n * 1e9, 3, "  per element", "ns");
    bench_num(&rep, "fwd_us_per_call", tf * 1e6, 1, "forward only", "us/call");
    bench_num(&rep, "y", yv, 3, "y", NULL);
    bench_common(&rep, (int)threads, rss, allocs);
    bench_print(&rep, stdout, json);
    rg_graph_free(g);
    return BENCH_OK;
}
