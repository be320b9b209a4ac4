/* retrograd-bench: the performance workloads of issue 5, W1 to W3 of the reference benchmarks
 * (../shared/bench/README.md), measured through the public API. tools/bench/compare runs it
 * next to the reference scripts; docs/performance.md has the figures. */
#include <stdio.h>
#include <string.h>

#include "bench.h"

static const char usage[] =
    "usage: retrograd-bench WORKLOAD [OPTIONS]\n"
    "\n"
    "workloads:\n"
    "  mlp   [--layers 784,512,256,10] [--batch 64] [--steps 200] [--threads 1] [--json]\n"
    "        W1: train an f32 ReLU MLP (softmax cross-entropy, SGD momentum 0.9, lr 0.01,\n"
    "        weight decay 1e-4); median samples/s against the GEMM-only bound, the\n"
    "        highest fraction of it the update's memory traffic leaves reachable, and a\n"
    "        bare step of the same GEMMs and update alone\n"
    "  chain [--n 100000] [--json]\n"
    "        W2: x -> tanh(x)*0.5+0.1 repeated; ns per op to build, differentiate, re-run\n"
    "  wide  [--n 1000000] [--threads 1] [--json]\n"
    "        W3: sum(tanh(a*b+c)) and its gradients; us per call\n"
    "\n"
    "--threads N runs the kernels on N threads and the BLAS on one, its large products split\n"
    "over the same N threads. Every run reports the BLAS in use, peak RSS and heap allocations\n"
    "per step; --json prints one JSON object instead of the text report.\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return BENCH_USAGE;
    }
    const char *w = argv[1];
    if (strcmp(w, "--help") == 0 || strcmp(w, "-h") == 0) {
        fputs(usage, stdout);
        return BENCH_OK;
    }
    if (strcmp(w, "mlp") == 0)
        return bench_mlp(argc - 1, argv + 1);
    if (strcmp(w, "chain") == 0)
        return bench_chain(argc - 1, argv + 1);
    if (strcmp(w, "wide") == 0)
        return bench_wide(argc - 1, argv + 1);
    bench_fail("unknown workload '%s'", w);
    fputs(usage, stderr);
    return BENCH_USAGE;
}
