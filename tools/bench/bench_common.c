/* retrograd-bench: timing, options, the report, and a byte-counting allocator. */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

double bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_median(double *v, int n)
{
    if (n <= 0)
        return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double bench_peak_rss_mib(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return NAN;
    return (double)ru.ru_maxrss / 1024.0; /* ru_maxrss is in KiB on Linux */
}

/* ---- options ---------------------------------------------------------------------------- */

void bench_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("retrograd-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

bool bench_parse_int(const char *opt, const char *value, int64_t max, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || end == value || *end || v < 1 || v > max) {
        bench_fail("%s: expected an integer from 1 to %lld, got '%s'", opt, (long long)max,
                    value);
        return false;
    }
    *out = v;
    return true;
}

int bench_opt(int argc, char **argv, int *i, const char *name, const char **value)
{
    if (strcmp(argv[*i], name) != 0)
        return 0;
    if (*i + 1 >= argc) {
        bench_fail("%s needs a value", name);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

int bench_graph_fail(const rg_graph *g, const char *what)
{
    bench_fail("%s failed: %s", what,
               g ? (rg_graph_errmsg(g)[0] ? rg_graph_errmsg(g) : rg_strerror(rg_graph_status(g)))
                 : "out of memory");
    return BENCH_FAILED;
}

/* Both thread settings: the BLAS's for GEMM and the kernels' pool for everything else. */
void bench_set_threads(int threads)
{
    /* one pool for everything: the BLAS on one thread, its large products split over the
     * kernels' threads (docs/performance.md, "Threads") */
    if (rg_set_threads(threads) != RG_OK)
        bench_fail("warning: the kernels cannot run on %d threads", threads);
    rg_status st = rg_blas_set_threads(1);
    if (st != RG_OK && threads > 1)
        bench_fail("warning: GEMM cannot be split over %d threads (%s): %s", threads,
                   rg_strerror(st), rg_blas_info());
}

/* ---- the report ------------------------------------------------------------------------- */

void bench_report_init(bench_report *r, const char *workload)
{
    memset(r, 0, sizeof *r);
    r->workload = workload;
}

static bench_figure *add_figure(bench_report *r, const char *key, const char *label)
{
    if (r->n >= BENCH_MAX_FIGURES)
        return NULL; /* a programming error in the bench; the figure is dropped */
    bench_figure *f = &r->fig[r->n++];
    memset(f, 0, sizeof *f);
    f->key = key;
    f->label = label;
    return f;
}

void bench_num(bench_report *r, const char *key, double value, int decimals, const char *label,
               const char *unit)
{
    bench_figure *f = add_figure(r, key, label);
    if (!f)
        return;
    f->value = value;
    f->decimals = decimals;
    f->unit = unit;
}

void bench_text(bench_report *r, const char *key, const char *text, const char *label)
{
    bench_figure *f = add_figure(r, key, label);
    if (!f)
        return;
    f->is_text = true;
    snprintf(f->text, sizeof f->text, "%s", text);
}

void bench_common(bench_report *r, int threads, double rss_mib, double allocs_per_step)
{
    bench_text(r, "blas", rg_blas_info(), "BLAS");
    bench_num(r, "threads", threads, 0, "threads", NULL);
    bench_num(r, "peak_rss_mib", rss_mib, 1, "peak RSS", "MiB");
    bench_num(r, "allocs_per_step", allocs_per_step, 2, "heap allocations per step (steady)",
              NULL);
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        const unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

void bench_print(const bench_report *r, FILE *f, bool json)
{
    if (json) {
        fputs("{\"workload\": ", f);
        json_string(f, r->workload);
        for (int i = 0; i < r->n; i++) {
            const bench_figure *x = &r->fig[i];
            fputs(", ", f);
            json_string(f, x->key);
            fputs(": ", f);
            if (x->is_text)
                json_string(f, x->text);
            else if (isfinite(x->value))
                fprintf(f, "%.*f", x->decimals, x->value);
            else
                fputs("null", f); /* JSON has no NaN */
        }
        fputs("}\n", f);
        return;
    }
    fprintf(f, "%s\n", r->workload);
    for (int i = 0; i < r->n; i++) {
        const bench_figure *x = &r->fig[i];
        if (!x->label)
            continue;
        if (x->is_text)
            fprintf(f, "  %-36s %s\n", x->label, x->text);
        else
            fprintf(f, "  %-36s %.*f%s%s\n", x->label, x->decimals, x->value, x->unit ? " " : "",
                    x->unit ? x->unit : "");
    }
}

/* ---- the counting allocator ------------------------------------------------------------- */

/* Each block carries its size in a header of max_align_t's size, so alignment is kept. */
#define HDR sizeof(max_align_t)

static void *count_malloc(void *ctx, size_t size)
{
    bench_counter *c = ctx;
    unsigned char *p = malloc(HDR + size);
    if (!p)
        return NULL;
    memcpy(p, &size, sizeof size);
    c->live += size;
    if (c->live > c->peak)
        c->peak = c->live;
    return p + HDR;
}

static void count_free(void *ctx, void *ptr)
{
    if (!ptr)
        return;
    bench_counter *c = ctx;
    unsigned char *p = (unsigned char *)ptr - HDR;
    size_t size;
    memcpy(&size, p, sizeof size);
    c->live -= size;
    free(p);
}

static void *count_realloc(void *ctx, void *ptr, size_t size)
{
    if (!ptr)
        return count_malloc(ctx, size);
    bench_counter *c = ctx;
    unsigned char *p = (unsigned char *)ptr - HDR;
    size_t old;
    memcpy(&old, p, sizeof old);
    unsigned char *q = realloc(p, HDR + size);
    if (!q)
        return NULL;
    memcpy(q, &size, sizeof size);
    c->live = c->live - old + size;
    if (c->live > c->peak)
        c->peak = c->live;
    return q + HDR;
}

rg_allocator bench_counting_allocator(bench_counter *c)
{
    return (rg_allocator){count_malloc, count_realloc, count_free, c};
}
