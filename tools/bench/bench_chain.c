/* retrograd-bench chain: workload W2 of the reference benchmarks, the cost of the graph
 * itself. A scalar f32 x goes through x -> tanh(x) * 0.5 + 0.1 repeated ceil(n / 3) times
 * (tanh, mul and add count as one op each: 100,002 ops for n = 100000), then the gradient
 * with respect to x.
 *
 * Figures, per forward op:
 * - build: creating the forward nodes plus rg_grad() building the backward nodes (1 warm-up
 *   run discarded, median of 5, each on a new graph);
 * - first evaluation: planning plus the first forward and backward run;
 * - re-run: rg_eval() of the planned graph (forward and backward), median of 5;
 * and the bytes a graph holds per node (nodes, names, plan and buffers, counted through an
 * allocator hook, divided by every node: forward and backward). */
#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RUNS 5

static const char chain_usage[] = "usage: retrograd-bench chain [--n 100000] [--json]\n";

/* Builds the chain of `blocks` blocks and its gradient in g; *y and *gx get the output and
 * dy/dx, *t_build and *t_grad the seconds each part took. */
static bool build(rg_graph *g, int64_t blocks, rg_node **y, rg_node **gx, double *t_build,
                  double *t_grad)
{
    const double t0 = bench_now();
    const float x0 = 0.5f;
    rg_node *x = rg_param(g, "x", 0, NULL, &x0);
    rg_node *half = rg_scalar(g, 0.5), *shift = rg_scalar(g, 0.1);
    rg_node *v = x;
    for (int64_t i = 0; i < blocks; i++)
        v = rg_add(rg_mul(rg_tanh(v), half), shift);
    const double t1 = bench_now();
    *y = v;
    if (!v || rg_grad(v, 1, &x, gx) != RG_OK)
        return false;
    const double t2 = bench_now();
    *t_build = t1 - t0;
    *t_grad = t2 - t1;
    return true;
}

int bench_chain(int argc, char **argv)
{
    int64_t nops = 100000;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--help") == 0) {
            fputs(chain_usage, stdout);
            return BENCH_OK;
        } else if ((r = bench_opt(argc, argv, &i, "--n", &v)) != 0) {
            if (r < 0 || !bench_parse_int("--n", v, INT64_C(1) << 40, &nops))
                return BENCH_USAGE;
        } else {
            bench_fail("chain: unknown option '%s'", argv[i]);
            fputs(chain_usage, stderr);
            return BENCH_USAGE;
        }
    }
    bench_set_threads(1); /* no GEMM here; the report states one thread throughout */
    const int64_t blocks = (nops + 2) / 3;
    const double ops = 3.0 * (double)blocks;

    double tb[RUNS], tg[RUNS], te[RUNS], tr[RUNS];
    rg_graph *g = NULL;
    rg_node *y = NULL, *gx = NULL;
    for (int r = -1; r < RUNS; r++) { /* r = -1: warm-up, discarded */
        rg_graph_free(g);
        g = rg_graph_new(RG_F32);
        double t_build, t_grad;
        if (!g || !build(g, blocks, &y, &gx, &t_build, &t_grad))
            return bench_graph_fail(g, "building the chain");
        rg_node *targets[2] = {y, gx};
        const double t0 = bench_now();
        if (rg_eval(g, 2, targets) != RG_OK)
            return bench_graph_fail(g, "evaluating the chain");
        if (r >= 0) {
            tb[r] = t_build;
            tg[r] = t_grad;
            te[r] = bench_now() - t0;
        }
    }
    /* re-runs of the last graph */
    rg_node *targets[2] = {y, gx};
    const uint64_t alloc0 = rg_graph_alloc_count(g);
    for (int r = 0; r < RUNS; r++) {
        const double t0 = bench_now();
        if (rg_eval(g, 2, targets) != RG_OK)
            return bench_graph_fail(g, "re-running the chain");
        tr[r] = bench_now() - t0;
    }
    const double allocs = (double)(rg_graph_alloc_count(g) - alloc0) / RUNS;
    const size_t nodes = rg_graph_node_count(g);
    const double yv = rg_node_item(y), gv = rg_node_item(gx);
    rg_graph_free(g);

    /* memory: the same graph once more, through a counting allocator */
    bench_counter cnt = {0, 0};
    rg_allocator al = bench_counting_allocator(&cnt);
    g = rg_graph_new_with_allocator(RG_F32, &al);
    double t_build, t_grad;
    if (!g || !build(g, blocks, &y, &gx, &t_build, &t_grad))
        return bench_graph_fail(g, "building the chain");
    rg_node *t2[2] = {y, gx};
    if (rg_eval(g, 2, t2) != RG_OK)
        return bench_graph_fail(g, "evaluating the chain");
    const double bytes = (double)cnt.live / (double)rg_graph_node_count(g);
    const double rss = bench_peak_rss_mib();
    rg_graph_free(g);

    const double mb = bench_median(tb, RUNS), mg = bench_median(tg, RUNS);
    bench_report rep;
    bench_report_init(&rep, "chain");
    bench_num(&rep, "ops", ops, 0, "forward ops", NULL);
    bench_num(&rep, "nodes", (double)nodes, 0, "nodes (forward and backward)", NULL);
    bench_num(&rep, "build_ns_per_op", (mb + mg) / ops * 1e9, 1, "build + grad construction",
              "ns/op");
    bench_num(&rep, "forward_build_ns_per_op", mb / ops * 1e9, 1, "  forward nodes", "ns/op");
    bench_num(&rep, "grad_build_ns_per_op", mg / ops * 1e9, 1, "  rg_grad", "ns/op");
    bench_num(&rep, "first_eval_ns_per_op", bench_median(te, RUNS) / ops * 1e9, 1,
              "first evaluation (plan + run)", "ns/op");
    bench_num(&rep, "rerun_ns_per_op", bench_median(tr, RUNS) / ops * 1e9, 1,
              "re-run (forward + backward)", "ns/op");
    bench_num(&rep, "bytes_per_node", bytes, 1, "bytes per node", "B");
    bench_num(&rep, "y", yv, 6, "y", NULL);
    bench_num(&rep, "dy_dx", gv, 6, "dy/dx", NULL);
    bench_common(&rep, 1, rss, allocs);
    bench_print(&rep, stdout, json);
    return BENCH_OK;
}
