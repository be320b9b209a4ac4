/* threads: separate graphs used from separate threads at once.
 *
 * A job is what one user of the library does on its own: make a teaching set, split and
 * standardise it, train an MLP with Adam on mini-batches, score the test part, save the model
 * and load it back, read a CSV file, gradient-check a small f64 network and draw it in DOT.
 * Each job has its own graphs and objects and a seed of its own. The jobs run one after the
 * other, then all at once in threads (twice); every result of the threaded runs must be
 * identical, bit for bit, to the serial one: the library has no hidden shared state that one
 * graph's work could disturb in another's (its only process-wide state is listed in
 * docs/reliability.md). Run under ThreadSanitizer by CI (meson -Db_sanitize=thread), which
 * reports any data race the runs make. */
#define _XOPEN_SOURCE 700 /* nftw, open_memstream */
#include "testutil.h"
#include "tmpdir.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define JOBS 6
#define EPOCHS 30
#define BATCH 16
#define MAX_STEPS 256
#define MAX_PARAMS 512

static char tmpdir[256];

struct result {
    rg_status status;   /* the first failure, RG_OK when the job ran through */
    char where[128];    /* what failed */
    int steps;
    float loss[MAX_STEPS];
    int nparams;
    float params[MAX_PARAMS];
    double accuracy;
    bool model_round_trip; /* the loaded model holds the trained parameters */
    double csv_sum;        /* sum of every feature and label of the CSV file */
    double gc_max_abs_err; /* gradcheck of the small f64 network */
    bool gc_passed;
    uint64_t dot_hash;     /* FNV-1a of the DOT text */
    size_t dot_len;
};

struct job {
    int id;
    struct result r;
};

static bool failed(struct result *r, rg_status st, const char *where)
{
    if (st == RG_OK)
        return false;
    if (r->status == RG_OK) {
        r->status = st;
        snprintf(r->where, sizeof r->where, "%s", where);
    }
    return true;
}

/* Trains the job's MLP; fills steps, loss, params and accuracy. */
static void train(struct job *j, const rg_dataset *trainset, const rg_dataset *testset)
{
    struct result *r = &j->r;
    const int64_t hidden[2] = {16, 12};
    rg_mlp_opts mo = rg_mlp_defaults();
    mo.inputs = 2;
    mo.hidden = hidden;
    mo.nhidden = 2;
    mo.outputs = 3;
    mo.batch = BATCH;
    mo.seed = 100 + (uint64_t)j->id;
    rg_graph *g = rg_graph_new(RG_F32);
    rg_mlp *m = rg_mlp_new(g, &mo);
    int np = 0;
    rg_node *const *params = rg_mlp_params(m, &np);
    rg_optim_opts oo = rg_optim_defaults(RG_OPTIM_ADAM);
    oo.lr = 0.01;
    rg_optim *o = m ? rg_optim_new(&oo, np, params, rg_mlp_grads(m, NULL), rg_mlp_is_weight(m))
                    : NULL;
    rg_batch_opts bo = rg_batch_defaults();
    bo.batch = BATCH;
    bo.drop_last = true;
    bo.seed = 7 + (uint64_t)j->id;
    rg_batch_iter *it = rg_batch_iter_new(trainset, &bo);
    if (!o || !it) {
        failed(r, RG_ERR_NOMEM, rg_graph_errmsg(g));
        goto done;
    }
    float x[BATCH * 2], y[BATCH];
    for (int e = 0; e < EPOCHS; e++) {
        rg_batch_iter_epoch(it, (uint64_t)e);
        while (rg_batch_next_f32(it, x, y) == BATCH && r->steps < MAX_STEPS) {
            if (failed(r, rg_feed(rg_mlp_input(m), x), "feed x") ||
                failed(r, rg_feed(rg_mlp_labels(m), y), "feed y") ||
                failed(r, rg_mlp_backward(m), "backward") ||
                failed(r, rg_optim_step(o), "step"))
                goto done;
            r->loss[r->steps++] = (float)rg_node_item(rg_mlp_loss(m));
        }
    }
    for (int p = 0; p < np; p++) {
        int64_t n = rg_node_size(params[p]);
        if (r->nparams + n > MAX_PARAMS) {
            failed(r, RG_ERR_ARG, "too many parameters for the result");
            goto done;
        }
        memcpy(r->params + r->nparams, rg_node_data(params[p]), sizeof(float) * (size_t)n);
        r->nparams += (int)n;
    }
    double scores[3 * 64];
    int64_t rows = testset->n < 64 ? testset->n : 64, pred[64];
    if (failed(r, rg_mlp_scores(m, testset->x, rows, scores), "scores"))
        goto done;
    rg_argmax_rows_f64(scores, rows, 3, pred);
    int right = 0;
    for (int64_t i = 0; i < rows; i++)
        right += pred[i] == testset->labels[i];
    r->accuracy = (double)right / (double)rows;

    /* the model through a file of the job's own and back */
    char path[320], err[256];
    snprintf(path, sizeof path, "%s/model_%d.rgm", tmpdir, j->id);
    rg_model *md = rg_model_new(), *back = NULL;
    md->desc.nlayers = 3;
    const int64_t sizes[4] = {2, 16, 12, 3};
    memcpy(md->desc.sizes, sizes, sizeof sizes);
    strcpy(md->desc.activation, "relu");
    strcpy(md->desc.loss, "ce");
    for (int p = 0; p < np; p++)
        if (failed(r, rg_model_add_param(md, rg_node_name(params[p]), RG_F32,
                                         rg_node_ndim(params[p]), rg_node_shape(params[p]),
                                         rg_node_data(params[p])), "model"))
            break;
    if (!failed(r, rg_model_save(path, md, err, sizeof err), "save") &&
        !failed(r, rg_model_load(path, &back, err, sizeof err), "load")) {
        bool same = back->nparams == np;
        for (int p = 0; same && p < np; p++)
            same = memcmp(back->params[p].data, rg_node_data(params[p]),
                          sizeof(float) * (size_t)rg_node_size(params[p])) == 0;
        r->model_round_trip = same;
    }
    rg_model_free(back);
    rg_model_free(md);
done:
    rg_batch_iter_free(it);
    rg_optim_free(o);
    rg_mlp_free(m);
    rg_graph_free(g);
}

/* Gradient check and DOT drawing of a small f64 network. */
static void check_and_draw(struct job *j)
{
    struct result *r = &j->r;
    rg_mlp_opts mo = rg_mlp_defaults();
    const int64_t hidden[1] = {4};
    mo.inputs = 2;
    mo.hidden = hidden;
    mo.nhidden = 1;
    mo.outputs = 3;
    mo.batch = 4;
    mo.act = RG_ACT_TANH;
    mo.seed = 200 + (uint64_t)j->id;
    rg_graph *g = rg_graph_new(RG_F64);
    rg_mlp *m = rg_mlp_new(g, &mo);
    if (!m) {
        failed(r, RG_ERR_NOMEM, "small mlp");
        rg_graph_free(g);
        return;
    }
    const double x[8] = {0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.7, -0.8};
    const double y[4] = {0, 1, 2, (double)(j->id % 3)};
    int np;
    rg_node *const *params = rg_mlp_params(m, &np);
    rg_gradcheck_report rep;
    if (!failed(r, rg_feed_f64(rg_mlp_input(m), x, 8), "feed") &&
        !failed(r, rg_feed_f64(rg_mlp_labels(m), y, 4), "feed") &&
        !failed(r, rg_gradcheck(rg_mlp_loss(m), np, params, NULL, &rep), "gradcheck")) {
        r->gc_passed = rep.passed;
        r->gc_max_abs_err = rep.max_abs_err;
    }
    if (!failed(r, rg_backward(rg_mlp_loss(m)), "backward")) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        rg_status st = rg_dot_write(g, f, NULL);
        fclose(f);
        if (st != RG_ERR_UNSUPPORTED) /* a build without Graphviz draws nothing */
            failed(r, st, "dot");
        uint64_t h = 1469598103934665603ull;
        for (size_t i = 0; i < len; i++)
            h = (h ^ (unsigned char)buf[i]) * 1099511628211ull;
        r->dot_hash = h;
        r->dot_len = len;
        free(buf);
    }
    rg_mlp_free(m);
    rg_graph_free(g);
}

static void *run_job(void *arg)
{
    struct job *j = arg;
    struct result *r = &j->r;
    memset(r, 0, sizeof *r);
    char err[256] = "";
    rg_dataset *ds = rg_data_spiral(50, 3, 0.2, 1 + (uint64_t)j->id), *tr = NULL, *te = NULL;
    if (!ds || failed(r, rg_dataset_split(ds, 0.2, 3 + (uint64_t)j->id, &tr, &te), "split")) {
        failed(r, RG_ERR_NOMEM, "data");
    } else {
        double mean[2], sd[2];
        if (!failed(r, rg_dataset_stats(tr, mean, sd), "stats") &&
            !failed(r, rg_dataset_standardize(tr, mean, sd), "standardize") &&
            !failed(r, rg_dataset_standardize(te, mean, sd), "standardize"))
            train(j, tr, te);
    }
    rg_dataset_free(tr);
    rg_dataset_free(te);
    rg_dataset_free(ds);

    char path[320];
    snprintf(path, sizeof path, "%s/shared.csv", tmpdir);
    rg_dataset *csv = NULL;
    if (!failed(r, rg_csv_read(path, NULL, &csv, err, sizeof err), "csv")) {
        for (int64_t i = 0; i < csv->n * csv->d; i++)
            r->csv_sum += csv->x[i];
        for (int64_t i = 0; i < csv->n; i++)
            r->csv_sum += csv->labels[i];
    }
    rg_dataset_free(csv);
    check_and_draw(j);
    /* per-thread report: it must name the backend whatever other threads do */
    if (strlen(rg_blas_info()) == 0)
        failed(r, RG_ERR_ARG, "blas info");
    return NULL;
}

static struct job serial[JOBS];

static void assert_same(const struct result *a, const struct result *b, int id)
{
    ck_assert_msg(b->status == RG_OK, "job %d: %s: %s", id, b->where, rg_strerror(b->status));
    ck_assert_int_eq(a->steps, b->steps);
    ck_assert_msg(memcmp(a->loss, b->loss, sizeof(float) * (size_t)a->steps) == 0,
                  "job %d: the losses differ from the serial run", id);
    ck_assert_int_eq(a->nparams, b->nparams);
    ck_assert_msg(memcmp(a->params, b->params, sizeof(float) * (size_t)a->nparams) == 0,
                  "job %d: the trained parameters differ from the serial run", id);
    ck_assert(memcmp(&a->accuracy, &b->accuracy, sizeof a->accuracy) == 0);
    ck_assert(b->model_round_trip);
    ck_assert(memcmp(&a->csv_sum, &b->csv_sum, sizeof a->csv_sum) == 0);
    ck_assert(b->gc_passed);
    ck_assert(memcmp(&a->gc_max_abs_err, &b->gc_max_abs_err, sizeof a->gc_max_abs_err) == 0);
    ck_assert_uint_eq(a->dot_len, b->dot_len);
    ck_assert_msg(a->dot_hash == b->dot_hash, "job %d: the DOT text differs", id);
}

/* The serial runs: each job once, one after the other. They must work on their own. */
static void run_serial(void)
{
    for (int i = 0; i < JOBS; i++) {
        serial[i].id = i;
        run_job(&serial[i]);
        const struct result *r = &serial[i].r;
        ck_assert_msg(r->status == RG_OK, "job %d: %s: %s", i, r->where, rg_strerror(r->status));
        ck_assert_int_gt(r->steps, 50);
        /* training went somewhere: the last loss is below the first */
        ck_assert_msg(r->loss[r->steps - 1] < r->loss[0], "job %d: %g -> %g", i, r->loss[0],
                      r->loss[r->steps - 1]);
        ck_assert(r->model_round_trip);
        ck_assert(r->gc_passed);
    }
    /* the jobs differ from each other (so identical results across threads mean something) */
    ck_assert(memcmp(serial[0].r.params, serial[1].r.params, sizeof(float) * 8) != 0);
}

START_TEST(test_parallel_training_matches_serial)
{
    run_serial();
    for (int round = 0; round < 2; round++) {
        static struct job par[JOBS];
        pthread_t t[JOBS];
        for (int i = 0; i < JOBS; i++) {
            par[i].id = i;
            ck_assert_int_eq(pthread_create(&t[i], NULL, run_job, &par[i]), 0);
        }
        for (int i = 0; i < JOBS; i++)
            ck_assert_int_eq(pthread_join(t[i], NULL), 0);
        for (int i = 0; i < JOBS; i++)
            assert_same(&serial[i].r, &par[i].r, i);
    }
}
END_TEST

static bool write_shared_csv(void)
{
    char path[320];
    snprintf(path, sizeof path, "%s/shared.csv", tmpdir);
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    fprintf(f, "a,b,label\n");
    for (int i = 0; i < 40; i++)
        fprintf(f, "%d.25,-%d.5,%d\n", i, i, i % 4);
    return fclose(f) == 0;
}

START_TEST(test_csv_sum)
{
    /* the CSV file's sum by hand: a = i + 0.25, b = -i - 0.5 (written "-i.5", which reads as
     * -(i + 0.5)), labels i mod 4: sum over i < 40 of (i + 0.25) + (-i - 0.5) + (i mod 4)
     * = 40 * -0.25 + 10 * (0 + 1 + 2 + 3) = -10 + 60 = 50 */
    struct job j = {.id = 0};
    run_job(&j);
    ck_assert_msg(j.r.status == RG_OK, "%s", j.r.where);
    ck_assert(j.r.csv_sum == 50.0);
}
END_TEST

static Suite *threads_suite(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("parallel_training_matches_serial");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_parallel_training_matches_serial);
    suite_add_tcase(s, tc);
    tc = tcase_create("csv_sum");
    tcase_add_test(tc, test_csv_sum);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (!tu_tmpdir_make(tmpdir, sizeof tmpdir, "rg_test_threads")) {
        perror("mkdtemp");
        return 1;
    }
    if (!write_shared_csv()) {
        perror("shared.csv");
        return 1;
    }
    const int status = tu_run_suite(threads_suite());
    tu_tmpdir_remove(tmpdir);
    return status;
}
