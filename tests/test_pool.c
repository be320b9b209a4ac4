/* pool: the kernels' thread pool (src/kernels/parallel.c) on its own. Every element of a job
 * is handed to exactly one call, whatever the thread count, the sizes, the alignment, a change
 * of the thread count between jobs, or a second caller running jobs at the same time; ranges
 * start on the alignment asked for. Each job is checked after it returns, so a part run twice
 * or never fails here, and CI's ThreadSanitizer build reports any race in claiming parts. */
#include "kernels/parallel.h"

#include "retrograd.h"
#include "testutil.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#define MAX_N 200000

/* One caller's job: a count per element, and the first misaligned range start seen. */
struct job {
    _Atomic int *hits;
    int64_t n, align;
    _Atomic int64_t misaligned; /* -1, or the start of a range that is not aligned */
};

static void count_range(void *ctx, int64_t b, int64_t e)
{
    struct job *j = ctx;
    if (b % j->align != 0)
        atomic_store(&j->misaligned, b);
    for (int64_t i = b; i < e; i++)
        atomic_fetch_add_explicit(&j->hits[i], 1, memory_order_relaxed);
}

/* Runs `jobs` jobs of random sizes, grains and alignments; returns the first job (counted
 * from 1) whose elements were not each counted once or whose ranges were misaligned, or 0. */
static int run_jobs(int jobs, uint64_t seed, _Atomic int *hits)
{
    uint64_t s = seed;
    for (int k = 1; k <= jobs; k++) {
        struct job j = {hits, (int64_t)(tu_next(&s) % MAX_N) + 1, tu_next(&s) % 2 ? 16 : 1, -1};
        /* grains from 1 (as many parts as the pool makes) to larger than n (no split) */
        const int64_t grain = (int64_t)(tu_next(&s) % 70000) + 1;
        for (int64_t i = 0; i < j.n; i++)
            atomic_store_explicit(&hits[i], 0, memory_order_relaxed);
        rg__parallel_for(j.n, grain, j.align, count_range, &j);
        if (atomic_load(&j.misaligned) != -1)
            return k;
        for (int64_t i = 0; i < j.n; i++)
            if (atomic_load_explicit(&hits[i], memory_order_relaxed) != 1)
                return k;
    }
    return 0;
}

static _Atomic int *new_hits(void)
{
    _Atomic int *h = malloc(sizeof *h * MAX_N);
    ck_assert_ptr_nonnull(h);
    return h;
}

START_TEST(test_each_element_once)
{
    _Atomic int *hits = new_hits();
    for (int t = 1; t <= 4; t++) {
        ck_assert_int_eq(rg_set_threads(t), RG_OK);
        const int bad = run_jobs(400, 0x9e3779b97f4a7c15u + (uint64_t)t, hits);
        ck_assert_msg(bad == 0, "%d threads: job %d miscounted", t, bad);
    }
    rg_set_threads(1);
    free(hits);
}
END_TEST

/* Small jobs back to back: the workers are still spinning on the last job when the next is
 * published, which is when a late claim could take a part of the wrong job. */
START_TEST(test_back_to_back_small_jobs)
{
    _Atomic int *hits = new_hits();
    ck_assert_int_eq(rg_set_threads(3), RG_OK);
    for (int k = 0; k < 20000; k++) {
        struct job j = {hits, 64 + k % 64, 1, -1};
        for (int64_t i = 0; i < j.n; i++)
            atomic_store_explicit(&hits[i], 0, memory_order_relaxed);
        rg__parallel_for(j.n, 1, 1, count_range, &j);
        for (int64_t i = 0; i < j.n; i++)
            ck_assert_msg(atomic_load_explicit(&hits[i], memory_order_relaxed) == 1,
                          "job %d: element %lld counted %d times", k, (long long)i,
                          atomic_load(&hits[i]));
    }
    rg_set_threads(1);
    free(hits);
}
END_TEST

START_TEST(test_thread_count_changes)
{
    _Atomic int *hits = new_hits();
    const int counts[] = {2, 4, 1, 3, 2, 8, 2};
    for (int c = 0; c < (int)(sizeof counts / sizeof *counts); c++) {
        ck_assert_int_eq(rg_set_threads(counts[c]), RG_OK);
        const int bad = run_jobs(60, 1000u + (uint64_t)c, hits);
        ck_assert_msg(bad == 0, "after rg_set_threads(%d): job %d miscounted", counts[c], bad);
    }
    rg_set_threads(1);
    free(hits);
}
END_TEST

struct caller {
    uint64_t seed;
    int bad;
};

static void *caller_main(void *arg)
{
    struct caller *c = arg;
    _Atomic int *hits = malloc(sizeof *hits * MAX_N);
    c->bad = hits ? run_jobs(150, c->seed, hits) : -1;
    free(hits);
    return NULL;
}

/* Two threads of the program running jobs at once: one has the pool, the other's jobs run
 * on itself, and neither loses or repeats an element. */
START_TEST(test_two_callers)
{
    ck_assert_int_eq(rg_set_threads(2), RG_OK);
    struct caller c[2] = {{77, 0}, {78, 0}};
    pthread_t tid;
    ck_assert_int_eq(pthread_create(&tid, NULL, caller_main, &c[1]), 0);
    caller_main(&c[0]);
    ck_assert_int_eq(pthread_join(tid, NULL), 0);
    ck_assert_msg(c[0].bad == 0 && c[1].bad == 0, "jobs miscounted: %d and %d", c[0].bad,
                  c[1].bad);
    rg_set_threads(1);
}
END_TEST

static Suite *pool_suite(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_each_element_once);
    tcase_add_test(tc, test_back_to_back_small_jobs);
    tcase_add_test(tc, test_thread_count_changes);
    tcase_add_test(tc, test_two_callers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(pool_suite());
}
