/* The kernels' thread pool (kernels/parallel.h): a fixed set of workers that a caller hands
 * one job at a time, a job being a function called on the ranges ("parts") of [0, n).
 *
 * Claiming: the job's parts are claimed one by one, by the workers and by the caller itself,
 * through one 64-bit word holding the job's generation (high 32 bits), its number of parts
 * (16 bits) and the next unclaimed part (low 16 bits). A claim is a compare-and-swap that
 * only succeeds while the word still names the worker's generation, so a worker that wakes
 * late never takes a part of a later job, and reads the job's description only after a
 * successful claim. The caller returns when every part is done (it never waits for a worker
 * that has not claimed anything), so a descheduled or not yet started worker costs nothing
 * but its share of the parallelism.
 *
 * Waiting: an idle worker spins on the word for SPIN_NS, so the kernels of one rg_eval() find
 * it awake, yielding its core now and then to any other runnable thread (the BLAS's workers,
 * between two kernels), then sleeps on a condition variable. Publishing a job and going to
 * sleep form a Dekker pair (store the word, then read the sleeper count; increment the sleeper
 * count, then re-read the word; both sequentially consistent), so either the caller sees a
 * sleeper and broadcasts under the mutex, or the sleeper sees the new job.
 *
 * Lifetime: workers are created by the first job after rg_set_threads() asks for them and
 * joined by a destructor at exit, or when rg_set_threads() changes the count. After fork()
 * the child has no workers (pthread_atfork), and its jobs run on the caller. */
#include "kernels/parallel.h"

#include "retrograd.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* How long an idle worker spins before it sleeps: longer than the stretches of small serial
 * kernels inside one training step (the loss and the last layer of W1 take about 100 us), so
 * that the next parallel kernel does not pay a wake-up (30 us in a KVM guest: W1's relu_grad
 * at B=256 went from 44 to 15 us on two threads). */
#define SPIN_NS 300000
/* Parts per thread: more than one, so a thread that runs late leaves its parts to others. */
#define PARTS_PER_THREAD 4

struct pool {
    pthread_mutex_t lock; /* workers' creation and joining, sleeping */
    pthread_cond_t wake;
    pthread_mutex_t busy; /* held by the caller whose job runs */
    _Atomic int threads;  /* the setting: caller plus workers */
    int nworkers;         /* running workers (under lock and busy) */
    pthread_t tid[RG__MAX_THREADS];
    _Atomic uint64_t word; /* generation << 32 | parts << 16 | next part */
    _Atomic int sleepers;
    _Atomic int done; /* parts finished in the current job */
    _Atomic bool stop;
    /* the current job, written by its caller before it publishes the word */
    rg__range_fn fn;
    void *ctx;
    int64_t n, align;
};

static struct pool pool = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
    .busy = PTHREAD_MUTEX_INITIALIZER,
    .threads = 1,
};

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static inline uint32_t gen_of(uint64_t w)
{
    return (uint32_t)(w >> 32);
}

static inline uint32_t parts_of(uint64_t w)
{
    return (uint32_t)(w >> 16) & 0xffffu;
}

/* Start of part k of [0, n) cut in `parts`: aligned down, except the end of the last. */
static int64_t part_begin(int64_t n, uint32_t parts, int64_t align, uint32_t k)
{
    if (k >= parts)
        return n;
    const int64_t b = (n / parts) * k + (n % parts) * k / parts; /* floor(n k / parts) */
    return b - b % align;
}

/* Claims and runs parts of generation `gen` until none is left. */
static void run_parts(uint32_t gen)
{
    uint64_t w = atomic_load_explicit(&pool.word, memory_order_acquire);
    for (;;) {
        if (gen_of(w) != gen)
            return;
        const uint32_t k = (uint32_t)w & 0xffffu, parts = parts_of(w);
        if (k >= parts)
            return;
        if (!atomic_compare_exchange_weak_explicit(&pool.word, &w, w + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        /* the job's fields are stable until every claimed part is done */
        const int64_t b = part_begin(pool.n, parts, pool.align, k);
        const int64_t e = part_begin(pool.n, parts, pool.align, k + 1);
        if (e > b)
            pool.fn(pool.ctx, b, e);
        atomic_fetch_add_explicit(&pool.done, 1, memory_order_release);
        w = atomic_load_explicit(&pool.word, memory_order_acquire);
    }
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *worker(void *arg)
{
    uint32_t seen = (uint32_t)(uintptr_t)arg;
    for (;;) {
        uint64_t w = atomic_load_explicit(&pool.word, memory_order_acquire);
        if (gen_of(w) == seen) {
            const int64_t until = now_ns() + SPIN_NS;
            for (int i = 1; gen_of(w) == seen && !atomic_load(&pool.stop); i++) {
                CPU_RELAX();
                if (i % 64 == 0) {
                    if (now_ns() > until)
                        break;
                    /* the BLAS's threads run between the kernels of one rg_eval(): a GEMM
                     * waiting for this core must not wait for the spin to end */
                    sched_yield();
                }
                w = atomic_load_explicit(&pool.word, memory_order_acquire);
            }
        }
        if (gen_of(w) == seen) {
            pthread_mutex_lock(&pool.lock);
            atomic_fetch_add(&pool.sleepers, 1);
            while (gen_of(w = atomic_load(&pool.word)) == seen && !atomic_load(&pool.stop))
                pthread_cond_wait(&pool.wake, &pool.lock);
            atomic_fetch_sub(&pool.sleepers, 1);
            pthread_mutex_unlock(&pool.lock);
        }
        if (atomic_load(&pool.stop))
            return NULL;
        seen = gen_of(w);
        run_parts(seen);
    }
}

/* Stops and joins every worker. The caller holds busy (no job runs). */
static void stop_workers(void)
{
    pthread_mutex_lock(&pool.lock);
    atomic_store(&pool.stop, true);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    for (int i = 0; i < pool.nworkers; i++)
        pthread_join(pool.tid[i], NULL);
    pool.nworkers = 0;
    atomic_store(&pool.stop, false);
}

/* A fork() copies only the forking thread: the child starts with no workers and the pool's
 * locks free (the prepare handler holds them across the fork, so none is mid-use, and the
 * child's thread owns them). The condition variable is made anew: the copy may still count
 * the parent's sleeping workers as waiters, and a broadcast would wait for them forever. */
static void atfork_prepare(void)
{
    pthread_mutex_lock(&pool.busy);
    pthread_mutex_lock(&pool.lock);
}

static void atfork_parent(void)
{
    pthread_mutex_unlock(&pool.lock);
    pthread_mutex_unlock(&pool.busy);
}

static void atfork_child(void)
{
    pool.nworkers = 0;
    atomic_store(&pool.sleepers, 0);
    pthread_cond_init(&pool.wake, NULL);
    pthread_mutex_unlock(&pool.lock);
    pthread_mutex_unlock(&pool.busy);
}

static void register_atfork(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* Brings the workers to threads - 1 (fewer if the system refuses more). The caller holds
 * busy. Workers block every signal, so signals reach the application's own threads. */
static void ensure_workers(int threads)
{
    if (pool.nworkers == threads - 1)
        return;
    if (pool.nworkers > threads - 1)
        stop_workers();
    pthread_once(&atfork_once, register_atfork);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    const uint32_t gen = gen_of(atomic_load(&pool.word));
    while (pool.nworkers < threads - 1) {
        if (pthread_create(&pool.tid[pool.nworkers], NULL, worker, (void *)(uintptr_t)gen) != 0)
            break;
        pool.nworkers++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Joins the workers when the process exits, so that no thread outlives the library's
 * code and leak checkers see every thread's memory returned. */
__attribute__((destructor)) static void pool_fini(void)
{
    pthread_mutex_lock(&pool.busy);
    stop_workers();
    pthread_mutex_unlock(&pool.busy);
}

void rg__parallel_for(int64_t n, int64_t grain, int64_t align, rg__range_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    const int threads = atomic_load_explicit(&pool.threads, memory_order_relaxed);
    if (grain < 1)
        grain = 1;
    if (align < 1)
        align = 1;
    int64_t parts = n / grain;
    if (parts > (int64_t)threads * PARTS_PER_THREAD)
        parts = (int64_t)threads * PARTS_PER_THREAD;
    if (threads < 2 || parts < 2 || pthread_mutex_trylock(&pool.busy) != 0) {
        fn(ctx, 0, n);
        return;
    }
    ensure_workers(threads);
    if (pool.nworkers == 0) {
        pthread_mutex_unlock(&pool.busy);
        fn(ctx, 0, n);
        return;
    }
    pool.fn = fn;
    pool.ctx = ctx;
    pool.n = n;
    pool.align = align;
    atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
    const uint32_t gen = gen_of(atomic_load(&pool.word)) + 1;
    atomic_store(&pool.word, (uint64_t)gen << 32 | (uint64_t)parts << 16);
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.lock);
    }
    run_parts(gen);
    /* Every part is claimed now; wait for the ones workers are running. */
    for (int i = 1; atomic_load_explicit(&pool.done, memory_order_acquire) < (int)parts; i++) {
        CPU_RELAX();
        if (i % 1024 == 0)
            sched_yield();
    }
    pthread_mutex_unlock(&pool.busy);
}

void rg__parallel_elems(int64_t n, rg__range_fn fn, void *ctx)
{
    rg__parallel_for(n, RG__PAR_MIN / 2, 16, fn, ctx);
}

rg_status rg_set_threads(int n)
{
    if (n < 1)
        return RG_ERR_ARG;
    rg_status st = RG_OK;
    if (n > RG__MAX_THREADS) {
        n = RG__MAX_THREADS;
        st = RG_ERR_DOMAIN;
    }
    /* Wait for a running job, and let the next job create the workers it needs. */
    pthread_mutex_lock(&pool.busy);
    atomic_store(&pool.threads, n);
    if (pool.nworkers > n - 1)
        stop_workers();
    pthread_mutex_unlock(&pool.busy);
    return st;
}

int rg_get_threads(void)
{
    return atomic_load(&pool.threads);
}
