/* retrograd-bench: shared pieces of the workloads (timing, options, the report). The
 * benchmark uses the public API only, like any program built on the library. */
#ifndef RG_BENCH_H
#define RG_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "retrograd.h"

/* Exit statuses: 0 success, 1 the library failed, 2 bad command line. */
enum { BENCH_OK = 0, BENCH_FAILED = 1, BENCH_USAGE = 2 };

/* Monotonic time in seconds. */
double bench_now(void);
/* Median of v[0..n-1] (sorts v). */
double bench_median(double *v, int n);
/* Peak resident set size of the process so far, in MiB (getrusage). */
double bench_peak_rss_mib(void);

/* ---- command-line options --------------------------------------------------------------- */

/* Parses a positive integer option value into *out (at most `max`); prints the error and
 * returns false otherwise. */
bool bench_parse_int(const char *opt, const char *value, int64_t max, int64_t *out);
/* Looks at argv[*i]: if it is `name`, takes the next argument as its value into *value and
 * advances *i. Returns 1 when matched, 0 when not, -1 (error printed) when the value is
 * missing. */
int bench_opt(int argc, char **argv, int *i, const char *name, const char **value);
/* Prints "retrograd-bench: <message>" to stderr. */
void bench_fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Reports a failed library call with the graph's message; returns BENCH_FAILED. */
int bench_graph_fail(const rg_graph *g, const char *what);
/* Sets the GEMM thread count, warning (not failing) when the backend cannot take it. */
void bench_set_threads(int threads);

/* ---- the report: every figure once, printed as text or as one JSON object -------------- */

#define BENCH_MAX_FIGURES 64

typedef struct bench_figure {
    const char *key;   /* JSON key */
    const char *label; /* text label; NULL: JSON only */
    const char *unit;
    bool is_text;
    double value;
    int decimals;
    char text[384];
} bench_figure;

typedef struct bench_report {
    const char *workload;
    int n;
    bench_figure fig[BENCH_MAX_FIGURES];
} bench_report;

void bench_report_init(bench_report *r, const char *workload);
void bench_num(bench_report *r, const char *key, double value, int decimals, const char *label,
               const char *unit);
void bench_text(bench_report *r, const char *key, const char *text, const char *label);
/* The figures every workload reports: the BLAS, the thread count, peak RSS (`rss_mib`, taken
 * by the caller at the end of its measured part) and allocations per step. */
void bench_common(bench_report *r, int threads, double rss_mib, double allocs_per_step);
/* Prints the report: as text lines, or with json as one JSON object on one line. */
void bench_print(const bench_report *r, FILE *f, bool json);

/* ---- an allocator that counts live bytes (for bytes per node) --------------------------- */

typedef struct bench_counter {
    size_t live; /* bytes currently allocated through it */
    size_t peak;
} bench_counter;

/* Allocator hooks whose ctx is `c`. */
rg_allocator bench_counting_allocator(bench_counter *c);

/* ---- the workloads ---------------------------------------------------------------------- */

int bench_mlp(int argc, char **argv);
int bench_chain(int argc, char **argv);
int bench_wide(int argc, char **argv);

#endif
