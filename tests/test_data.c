/* data (src/data): data sets, splitting, standardisation with training statistics, the
 * mini-batch iterator, the built-in teaching sets against their formulas, and the CSV and
 * IDX readers on valid files and on each kind of malformed input (files are generated into
 * a temporary directory at run time). */
#define _XOPEN_SOURCE 700 /* nftw, in tmpdir.h */
#include "testutil.h"
#include "tmpdir.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static char tmpdir[256];

/* Writes len bytes (len < 0: strlen) to tmpdir/name; returns the path (static buffer). */
static const char *put_file(const char *name, const void *data, long len)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    size_t n = len < 0 ? strlen(data) : (size_t)len;
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
    return path;
}

/* ---- data sets, split, standardisation ------------------------------------------------ */

/* A 10 x 2 data set: x[i] = (i, 10 i), labels i % 3. */
static rg_dataset *ten_rows(void)
{
    rg_dataset *ds = rg_dataset_new(10, 2, RG_TARGET_CLASS, 3);
    ck_assert_ptr_nonnull(ds);
    for (int i = 0; i < 10; i++) {
        ds->x[2 * i] = i;
        ds->x[2 * i + 1] = 10.0 * i;
        ds->labels[i] = i % 3;
    }
    return ds;
}

START_TEST(test_dataset_basics)
{
    ck_assert_ptr_null(rg_dataset_new(-1, 2, RG_TARGET_NONE, 0));
    ck_assert_ptr_null(rg_dataset_new(3, 2, RG_TARGET_CLASS, 0));
    rg_dataset_free(NULL);
    rg_dataset *ds = ten_rows();
    int64_t counts[3];
    ck_assert_int_eq(rg_dataset_class_counts(ds, counts), RG_OK);
    ck_assert_int_eq(counts[0], 4); /* 0 3 6 9 */
    ck_assert_int_eq(counts[1], 3);
    ck_assert_int_eq(counts[2], 3);
    int64_t idx[4] = {9, 0, 9, 4};
    rg_dataset *sub = rg_dataset_subset(ds, idx, 4);
    ck_assert_ptr_nonnull(sub);
    ck_assert_int_eq(sub->n, 4);
    ck_assert_double_eq(sub->x[0], 9);
    ck_assert_double_eq(sub->x[5], 90);
    ck_assert_double_eq(sub->x[7], 40);
    ck_assert_int_eq(sub->labels[3], 1);
    idx[1] = 10;
    ck_assert_ptr_null(rg_dataset_subset(ds, idx, 4));
    rg_dataset *reg = rg_dataset_new(2, 1, RG_TARGET_REAL, 0);
    ck_assert_int_eq(rg_dataset_class_counts(reg, counts), RG_ERR_ARG);
    rg_dataset_free(reg);
    rg_dataset_free(sub);
    rg_dataset_free(ds);
}
END_TEST

START_TEST(test_split)
{
    rg_dataset *ds = ten_rows(), *tr, *te, *tr2, *te2;
    ck_assert_int_eq(rg_dataset_split(ds, 0.3, 5, &tr, &te), RG_OK);
    ck_assert_int_eq(te->n, 3);
    ck_assert_int_eq(tr->n, 7);
    /* the parts partition the rows, each in the original order */
    int seen[10] = {0};
    for (int part = 0; part < 2; part++) {
        const rg_dataset *p = part ? te : tr;
        for (int64_t i = 0; i < p->n; i++) {
            int row = (int)p->x[2 * i];
            ck_assert_double_eq(p->x[2 * i + 1], 10.0 * row);
            ck_assert_int_eq(p->labels[i], row % 3);
            seen[row]++;
            if (i > 0)
                ck_assert(p->x[2 * i] > p->x[2 * i - 2]);
        }
    }
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(seen[i], 1);
    /* same seed, same split; another seed, another one */
    ck_assert_int_eq(rg_dataset_split(ds, 0.3, 5, &tr2, &te2), RG_OK);
    ck_assert_mem_eq(te->x, te2->x, sizeof(double) * 6);
    rg_dataset_free(tr2);
    rg_dataset_free(te2);
    int differ = 0;
    for (uint64_t seed = 6; seed < 16; seed++) {
        ck_assert_int_eq(rg_dataset_split(ds, 0.3, seed, &tr2, &te2), RG_OK);
        differ += memcmp(te->x, te2->x, sizeof(double) * 6) != 0;
        rg_dataset_free(tr2);
        rg_dataset_free(te2);
    }
    ck_assert_int_ge(differ, 8);
    ck_assert_int_eq(rg_dataset_split(ds, 1.0, 5, &tr2, &te2), RG_ERR_ARG);
    ck_assert_ptr_null(tr2);
    ck_assert_int_eq(rg_dataset_split(ds, -0.1, 5, &tr2, &te2), RG_ERR_ARG);
    ck_assert_int_eq(rg_dataset_split(ds, 0.0, 5, &tr2, &te2), RG_OK);
    ck_assert_int_eq(te2->n, 0);
    rg_dataset_free(tr2);
    rg_dataset_free(te2);
    rg_dataset_free(tr);
    rg_dataset_free(te);
    rg_dataset_free(ds);
}
END_TEST

START_TEST(test_standardize_train_stats)
{
    /* training rows: feature 0 = 1, 2, 3, 6 (mean 3, population variance (4+1+0+9)/4 = 3.5),
     * feature 1 constant 5 (std taken as 1); test rows standardised with those numbers */
    rg_dataset *tr = rg_dataset_new(4, 2, RG_TARGET_NONE, 0);
    rg_dataset *te = rg_dataset_new(2, 2, RG_TARGET_NONE, 0);
    const double xtr[8] = {1, 5, 2, 5, 3, 5, 6, 5};
    const double xte[4] = {10, 5, -1, 7};
    memcpy(tr->x, xtr, sizeof xtr);
    memcpy(te->x, xte, sizeof xte);
    double mean[2], std[2];
    ck_assert_int_eq(rg_dataset_stats(tr, mean, std), RG_OK);
    ck_assert_double_eq_tol(mean[0], 3.0, 1e-15);
    ck_assert_double_eq_tol(std[0], sqrt(3.5), 1e-15);
    ck_assert_double_eq(mean[1], 5.0);
    ck_assert_double_eq(std[1], 1.0);
    ck_assert_int_eq(rg_dataset_standardize(tr, mean, std), RG_OK);
    ck_assert_int_eq(rg_dataset_standardize(te, mean, std), RG_OK);
    double m2[2], s2[2];
    rg_dataset_stats(tr, m2, s2);
    ck_assert_double_eq_tol(m2[0], 0.0, 1e-15);
    ck_assert_double_eq_tol(s2[0], 1.0, 1e-15);
    ck_assert_double_eq(tr->x[1], 0.0);
    /* the test part is not centred on its own mean: it uses the training statistics */
    ck_assert_double_eq_tol(te->x[0], (10 - 3) / sqrt(3.5), 1e-15);
    ck_assert_double_eq_tol(te->x[2], (-1 - 3) / sqrt(3.5), 1e-15);
    ck_assert_double_eq(te->x[3], 2.0);
    std[0] = 0;
    ck_assert_int_eq(rg_dataset_standardize(te, mean, std), RG_ERR_ARG);
    /* a large offset with a small spread: the two-pass variance keeps it */
    rg_dataset *big = rg_dataset_new(3, 1, RG_TARGET_NONE, 0);
    big->x[0] = 1e9 + 1;
    big->x[1] = 1e9 + 2;
    big->x[2] = 1e9 + 3;
    rg_dataset_stats(big, mean, std);
    ck_assert_double_eq_tol(std[0], sqrt(2.0 / 3.0), 1e-9);
    rg_dataset_free(big);
    rg_dataset_free(tr);
    rg_dataset_free(te);
}
END_TEST

/* ---- mini-batches --------------------------------------------------------------------- */

START_TEST(test_batches_cover_epoch)
{
    rg_dataset *ds = ten_rows();
    rg_batch_opts o = rg_batch_defaults();
    o.batch = 4;
    o.seed = 11;
    rg_batch_iter *it = rg_batch_iter_new(ds, &o);
    ck_assert_int_eq(rg_batch_iter_count(it), 3);
    double x[8], y[4];
    int seen[10] = {0};
    int64_t sizes[4], nb = 0, rows;
    while ((rows = rg_batch_next_f64(it, x, y)) > 0) {
        const int64_t *r = rg_batch_iter_rows(it);
        for (int64_t i = 0; i < rows; i++) {
            ck_assert_double_eq(x[2 * i], (double)r[i]);
            ck_assert_double_eq(x[2 * i + 1], 10.0 * (double)r[i]);
            ck_assert_double_eq(y[i], (double)(r[i] % 3));
            seen[r[i]]++;
        }
        sizes[nb++] = rows;
    }
    ck_assert_int_eq(nb, 3);
    ck_assert_int_eq(sizes[0], 4);
    ck_assert_int_eq(sizes[2], 2);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(seen[i], 1);
    ck_assert_int_eq(rg_batch_next_f64(it, x, y), 0);
    /* drop_last skips the short batch; no shuffling keeps the file order; f32 copies */
    rg_batch_iter_free(it);
    o.drop_last = true;
    o.shuffle = false;
    it = rg_batch_iter_new(ds, &o);
    ck_assert_int_eq(rg_batch_iter_count(it), 2);
    float xf[8], yf[4];
    ck_assert_int_eq(rg_batch_next_f32(it, xf, yf), 4);
    ck_assert_int_eq(rg_batch_next_f32(it, xf, NULL), 4);
    ck_assert(xf[0] == 4.0f && xf[7] == 70.0f);
    ck_assert_int_eq(rg_batch_next_f32(it, xf, yf), 0);
    rg_batch_iter_free(it);
    o.batch = 0;
    ck_assert_ptr_null(rg_batch_iter_new(ds, &o));
    rg_dataset_free(ds);
}
END_TEST

/* The order of an epoch: rows of all its batches. */
static void epoch_order(rg_batch_iter *it, uint64_t epoch, int64_t *order)
{
    double x[2 * 3];
    int64_t k = 0, rows;
    rg_batch_iter_epoch(it, epoch);
    while ((rows = rg_batch_next_f64(it, x, NULL)) > 0)
        for (int64_t i = 0; i < rows; i++)
            order[k++] = rg_batch_iter_rows(it)[i];
    ck_assert_int_eq(k, 10);
}

START_TEST(test_batches_seeded)
{
    rg_dataset *ds = ten_rows();
    rg_batch_opts o = rg_batch_defaults();
    o.batch = 3;
    o.seed = 7;
    rg_batch_iter *a = rg_batch_iter_new(ds, &o), *b = rg_batch_iter_new(ds, &o);
    int64_t e[4][10], again[10];
    for (int k = 0; k < 4; k++)
        epoch_order(a, (uint64_t)k, e[k]);
    /* an epoch's order depends on (seed, epoch) only: a fresh iterator jumping to epoch 3
     * (a resumed run) sees what the first saw */
    epoch_order(b, 3, again);
    ck_assert_mem_eq(again, e[3], sizeof again);
    epoch_order(b, 0, again);
    ck_assert_mem_eq(again, e[0], sizeof again);
    ck_assert(memcmp(e[0], e[1], sizeof e[0]) != 0 || memcmp(e[1], e[2], sizeof e[0]) != 0);
    rg_batch_iter_free(a);
    rg_batch_iter_free(b);
    rg_dataset_free(ds);
}
END_TEST

/* ---- teaching sets -------------------------------------------------------------------- */

/* The cs231n spiral written out with libm's sin and cos and the same normal draws:
 * for class j, r = linspace(0, 1, N), t = linspace(4j, 4(j+1), N) + noise * randn. */
START_TEST(test_spiral_formula)
{
    const int n = 50, k = 3;
    const double noise = 0.2;
    rg_dataset *ds = rg_data_spiral(n, k, noise, 42);
    ck_assert_ptr_nonnull(ds);
    ck_assert_int_eq(ds->n, n * k);
    ck_assert_int_eq(ds->d, 2);
    ck_assert_int_eq(ds->nclasses, k);
    rg_rng r;
    rg_rng_seed(&r, 42);
    for (int j = 0; j < k; j++)
        for (int i = 0; i < n; i++) {
            int row = j * n + i;
            double rad = (double)i / (n - 1);
            double t = 4.0 * j + 4.0 * i / (n - 1) + noise * rg_rng_normal(&r);
            ck_assert_double_eq_tol(ds->x[2 * row], rad * sin(t), 1e-14);
            ck_assert_double_eq_tol(ds->x[2 * row + 1], rad * cos(t), 1e-14);
            ck_assert_int_eq(ds->labels[row], j);
        }
    rg_dataset_free(ds);
}
END_TEST

/* moons, circles and xor without noise are exact geometric figures; with noise they
 * differ from those by noise * N(0,1), drawn x then y, point by point. */
START_TEST(test_moons_circles_xor_formula)
{
    const int n = 20;
    rg_dataset *m = rg_data_moons(n, 0.0, 1), *c = rg_data_circles(n, 0.0, 0.3, 1);
    rg_dataset *x = rg_data_xor(n, 0.0, 1);
    const double pi = 3.14159265358979323846;
    for (int i = 0; i < n; i++) {
        double s = pi * i / (n - 1);
        ck_assert_double_eq_tol(m->x[2 * i], cos(s), 1e-15);
        ck_assert_double_eq_tol(m->x[2 * i + 1], sin(s), 1e-15);
        ck_assert_double_eq_tol(m->x[2 * (n + i)], 1 - cos(s), 1e-15);
        ck_assert_double_eq_tol(m->x[2 * (n + i) + 1], 0.5 - sin(s), 1e-15);
        double a = 2 * pi * i / n;
        ck_assert_double_eq_tol(c->x[2 * i], cos(a), 1e-15);
        ck_assert_double_eq_tol(c->x[2 * (n + i) + 1], 0.3 * sin(a), 1e-15);
        /* xor: class 0 on (1,1), (-1,-1); class 1 on (1,-1), (-1,1) */
        ck_assert_double_eq(x->x[2 * i] * x->x[2 * i + 1], 1.0);
        ck_assert_double_eq(x->x[2 * (n + i)] * x->x[2 * (n + i) + 1], -1.0);
        ck_assert_double_eq(x->x[2 * i], i % 2 ? -1.0 : 1.0);
        ck_assert_int_eq(x->labels[i], 0);
        ck_assert_int_eq(x->labels[n + i], 1);
    }
    rg_dataset *cn = rg_data_circles(n, 0.1, 0.3, 9);
    rg_rng r;
    rg_rng_seed(&r, 9);
    for (int row = 0; row < 2 * n; row++) {
        double dx = 0.1 * rg_rng_normal(&r), dy = 0.1 * rg_rng_normal(&r);
        ck_assert_double_eq_tol(cn->x[2 * row] - c->x[2 * row], dx, 1e-15);
        ck_assert_double_eq_tol(cn->x[2 * row + 1] - c->x[2 * row + 1], dy, 1e-15);
    }
    rg_dataset_free(cn);
    rg_dataset_free(m);
    rg_dataset_free(c);
    rg_dataset_free(x);
}
END_TEST

START_TEST(test_toy_deterministic_balanced)
{
    static const char *names[] = {"spiral", "moons", "circles", "xor"};
    for (int s = 0; s < N_OF(names); s++) {
        rg_toy_opts o = rg_toy_defaults();
        o.n = 37;
        o.classes = 4;
        o.seed = 3;
        rg_dataset *a, *b, *c;
        char err[256];
        ck_assert_int_eq(rg_toy_make(names[s], &o, &a, err, sizeof err), RG_OK);
        ck_assert_int_eq(rg_toy_make(names[s], &o, &b, err, sizeof err), RG_OK);
        o.seed = 4;
        ck_assert_int_eq(rg_toy_make(names[s], &o, &c, err, sizeof err), RG_OK);
        int k = s == 0 ? 4 : 2;
        ck_assert_int_eq(a->n, 37 * k);
        ck_assert_int_eq(a->nclasses, k);
        int64_t counts[4];
        rg_dataset_class_counts(a, counts);
        for (int j = 0; j < k; j++)
            ck_assert_int_eq(counts[j], 37);
        ck_assert_mem_eq(a->x, b->x, sizeof(double) * (size_t)(a->n * 2));
        ck_assert(memcmp(a->x, c->x, sizeof(double) * (size_t)(a->n * 2)) != 0);
        for (int64_t i = 0; i < a->n * 2; i++)
            ck_assert(isfinite(a->x[i]));
        rg_dataset_free(a);
        rg_dataset_free(b);
        rg_dataset_free(c);
    }
    rg_dataset *ds = (rg_dataset *)1;
    char err[256];
    ck_assert_int_eq(rg_toy_make("swirl", NULL, &ds, err, sizeof err), RG_ERR_ARG);
    ck_assert_ptr_null(ds);
    ck_assert_ptr_nonnull(strstr(err, "unknown data set 'swirl'"));
    rg_toy_opts o = rg_toy_defaults();
    o.factor = 1.5;
    ck_assert_int_eq(rg_toy_make("circles", &o, &ds, err, sizeof err), RG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err, "factor"));
    o = rg_toy_defaults();
    o.n = 0;
    ck_assert_int_eq(rg_toy_make("xor", &o, &ds, err, sizeof err), RG_ERR_ARG);
    /* the defaults: the cs231n set, 3 arms of 100 points */
    ck_assert_int_eq(rg_toy_make("spiral", NULL, &ds, err, sizeof err), RG_OK);
    ck_assert_int_eq(ds->n, 300);
    rg_dataset_free(ds);
}
END_TEST

/* ---- CSV: valid files ----------------------------------------------------------------- */

static rg_dataset *csv_ok(const char *text, const rg_csv_opts *o)
{
    char err[512] = "";
    rg_dataset *ds = NULL;
    rg_status st = rg_csv_read(put_file("ok.csv", text, -1), o, &ds, err, sizeof err);
    ck_assert_msg(st == RG_OK, "status %d: %s", st, err);
    return ds;
}

START_TEST(test_csv_header_names_classes)
{
    /* header detected; text labels sorted by name: iris-setosa 0, iris-virginica 1 */
    rg_dataset *ds = csv_ok("sepal,petal,species\n5.1,1.4,iris-virginica\n4.9, 1.3 ,"
                            "iris-setosa\n\n6.0,2.0,iris-virginica\n", NULL);
    ck_assert_int_eq(ds->n, 3);
    ck_assert_int_eq(ds->d, 2);
    ck_assert_int_eq(ds->kind, RG_TARGET_CLASS);
    ck_assert_int_eq(ds->nclasses, 2);
    ck_assert_str_eq(ds->class_names[0], "iris-setosa");
    ck_assert_str_eq(ds->class_names[1], "iris-virginica");
    ck_assert_int_eq(ds->labels[0], 1);
    ck_assert_int_eq(ds->labels[1], 0);
    ck_assert_double_eq(ds->x[3], 1.3);
    ck_assert_str_eq(ds->feature_names[1], "petal");
    ck_assert_str_eq(ds->target_name, "species");
    rg_dataset_free(ds);
    /* label by name, in the middle; integer labels are class indices */
    rg_csv_opts o = rg_csv_defaults();
    o.label_name = "y";
    ds = csv_ok("a,y,b\n1,2,3\n4,0,6\n", &o);
    ck_assert_int_eq(ds->nclasses, 3);
    ck_assert_ptr_null(ds->class_names);
    ck_assert_int_eq(ds->labels[0], 2);
    ck_assert_double_eq(ds->x[1], 3);
    ck_assert_str_eq(ds->feature_names[1], "b");
    rg_dataset_free(ds);
    /* label by index from the front, and given class names (a model's) */
    static const char *const cls[] = {"no", "yes"};
    o = rg_csv_defaults();
    o.label_col = 0;
    o.class_names = cls;
    o.nclasses = 2;
    ds = csv_ok("yes,1.5\nno,2.5\nyes,3\n", &o);
    ck_assert_ptr_null(ds->feature_names);
    ck_assert_int_eq(ds->labels[0], 1);
    ck_assert_int_eq(ds->labels[1], 0);
    ck_assert_double_eq(ds->x[2], 3.0);
    rg_dataset_free(ds);
}
END_TEST

START_TEST(test_csv_targets_and_modes)
{
    /* a non-integer label makes AUTO read real targets */
    rg_dataset *ds = csv_ok("1,2,0.5\n3,4,7\n", NULL);
    ck_assert_int_eq(ds->kind, RG_TARGET_REAL);
    ck_assert_double_eq(ds->targets[0], 0.5);
    ck_assert_double_eq(ds->targets[1], 7.0);
    rg_dataset_free(ds);
    /* forced: integers as real targets; no label column; no header for a numeric first row */
    rg_csv_opts o = rg_csv_defaults();
    o.target = RG_CSV_TARGET_REAL;
    ds = csv_ok("1,2,3\n", &o);
    ck_assert_int_eq(ds->kind, RG_TARGET_REAL);
    rg_dataset_free(ds);
    o = rg_csv_defaults();
    o.target = RG_CSV_TARGET_NONE;
    ds = csv_ok("x1;x2\n1;2\n3;4e-1\n", &(rg_csv_opts){.header = RG_CSV_HEADER_AUTO,
                                                       .target = RG_CSV_TARGET_NONE,
                                                       .label_col = -1, .delimiter = ';',
                                                       .max_record = 1024});
    ck_assert_int_eq(ds->kind, RG_TARGET_NONE);
    ck_assert_int_eq(ds->d, 2);
    ck_assert_double_eq(ds->x[3], 0.4);
    rg_dataset_free(ds);
    /* CLASS mode keeps "1.5" as a name; header NO reads a textual first row as data */
    o = rg_csv_defaults();
    o.target = RG_CSV_TARGET_CLASS;
    ds = csv_ok("1,1.5\n2,2\n", &o);
    ck_assert_int_eq(ds->nclasses, 2);
    ck_assert_str_eq(ds->class_names[0], "1.5");
    rg_dataset_free(ds);
    /* allow_nonfinite lets NaN and infinities through */
    o = rg_csv_defaults();
    o.allow_nonfinite = true;
    ds = csv_ok("nan,-inf,0\nInfinity,1,1\n", &o);
    ck_assert(isnan(ds->x[0]) && isinf(ds->x[1]) && ds->x[1] < 0 && isinf(ds->x[2]));
    rg_dataset_free(ds);
}
END_TEST

START_TEST(test_csv_syntax)
{
    /* BOM, CRLF, quoted fields holding the delimiter, a quote and a newline; no final EOL */
    const char *text = "\xEF\xBB\xBF\"f,\n1\",\"f \"\"2\"\"\",label\r\n"
                       "1,\"2.5\",\"a,b\"\r\n"
                       "3, 4 ,\"c\"\r\n"
                       "5,6,\"a,b\"";
    rg_dataset *ds = csv_ok(text, NULL);
    ck_assert_int_eq(ds->n, 3);
    ck_assert_str_eq(ds->feature_names[0], "f,\n1");
    ck_assert_str_eq(ds->feature_names[1], "f \"2\"");
    ck_assert_int_eq(ds->nclasses, 2);
    ck_assert_str_eq(ds->class_names[0], "a,b");
    ck_assert_str_eq(ds->class_names[1], "c");
    ck_assert_double_eq(ds->x[1], 2.5);
    ck_assert_double_eq(ds->x[3], 4.0);
    ck_assert_int_eq(ds->labels[2], 0);
    rg_dataset_free(ds);
    /* old Mac line ends (CR alone) */
    ds = csv_ok("1,2,0\r3,4,1\r", NULL);
    ck_assert_int_eq(ds->n, 2);
    rg_dataset_free(ds);
}
END_TEST

/* One record of 100000 features (about 700 kB on one line) reads like any other. */
START_TEST(test_csv_huge_line)
{
    const int d = 100000;
    size_t cap = (size_t)d * 8 + 64, len = 0;
    char *text = malloc(cap);
    for (int rep = 0; rep < 2; rep++) {
        for (int j = 0; j < d; j++)
            len += (size_t)snprintf(text + len, cap - len, "%d.5,", j % 1000);
        len += (size_t)snprintf(text + len, cap - len, "%d\n", rep);
        if (rep == 0) {
            cap *= 2;
            text = realloc(text, cap);
        }
    }
    rg_dataset *ds = csv_ok(text, NULL);
    ck_assert_int_eq(ds->d, d);
    ck_assert_int_eq(ds->n, 2);
    ck_assert_double_eq(ds->x[d + 99999], 999.5);
    ck_assert_int_eq(ds->labels[1], 1);
    rg_dataset_free(ds);
    /* the same line against a 64 kB record limit */
    rg_csv_opts o = rg_csv_defaults();
    o.max_record = 65536;
    char err[256];
    ck_assert_int_eq(rg_csv_read(put_file("huge.csv", text, -1), &o, &ds, err, sizeof err),
                     RG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err, "line 1: record longer than the 65536-byte limit"));
    free(text);
}
END_TEST

/* ---- CSV: malformed files, each with its message ---------------------------------------- */

static const struct csv_bad {
    const char *text;
    int label_col;          /* 0: default */
    const char *label_name; /* NULL: none */
    rg_status status;
    const char *msg;        /* expected in the message */
} csv_bad[] = {
    {"a,b,c\n1,2,0\n3,abc,1\n", 0, NULL, RG_ERR_FORMAT,
     "line 3, column 2 (b): 'abc': not a number"},
    {"1,2,0\n3,4x,1\n", 0, NULL, RG_ERR_FORMAT, "line 2, column 2: '4x': not a number"},
    {"1,2,0\n3,,1\n", 0, NULL, RG_ERR_FORMAT, "line 2, column 2: '': empty field"},
    {"1,2,0\nnan,4,1\n", 0, NULL, RG_ERR_FORMAT,
     "line 2, column 1: 'nan': NaN and infinity are not accepted"},
    {"1,2,0\n3,-Inf,1\n", 0, NULL, RG_ERR_FORMAT,
     "line 2, column 2: '-Inf': NaN and infinity are not accepted"},
    {"1,2,0\n3,1e999,1\n", 0, NULL, RG_ERR_FORMAT,
     "line 2, column 2: '1e999': out of the range of a double"},
    {"1,2,0\n3,4,1\n5,6\n", 0, NULL, RG_ERR_FORMAT,
     "line 3, column 3: missing field: the row has 2 fields, expected 3 as on line 1"},
    {"x,y,z\n1,2,0\n\n5,6,1,9\n", 0, NULL, RG_ERR_FORMAT,
     "line 4, column 4: extra field '9': the row has 4 fields, expected 3"},
    {"", 0, NULL, RG_ERR_FORMAT, "empty file"},
    {"\n\r\n  \n", 0, NULL, RG_ERR_FORMAT, "empty file"},
    {"a,b,c\n", 0, NULL, RG_ERR_FORMAT, "no data rows after the header"},
    {"1,2,0\n3,\"4,1\n5,6,1\n", 0, NULL, RG_ERR_FORMAT,
     "line 2, column 2: quoted field not closed before the end of the file"},
    {"1,2,0\n3,\"4\"x,1\n", 0, NULL, RG_ERR_FORMAT,
     "line 2, column 2: 'x' after the closing quote"},
    /* a quoted newline moves the line count on: the bad field is on line 4 */
    {"\"p\n\",q,r\n1,2,0\n3,zz,1\n", 0, NULL, RG_ERR_FORMAT, "line 4, column 2 (q): 'zz'"},
    {"a,b\n1,2\n", 0, "label", RG_ERR_ARG, "no column named 'label' (columns: a, b)"},
    {"1,2\n3,4\n", 5, NULL, RG_ERR_ARG, "label column 5 is out of range: line 1 has 2 columns"},
    {"0\n1\n", 0, NULL, RG_ERR_FORMAT, "no feature columns"},
    {"1,2,\"\"\n", 0, NULL, RG_ERR_FORMAT, "line 1, column 3: '': empty label"},
    {"1,2,x\x01y\n", 0, NULL, RG_ERR_FORMAT,
     "line 1, column 3: 'x\\x01y': control character in label"},
};

START_TEST(test_csv_malformed)
{
    const struct csv_bad *c = &csv_bad[_i];
    rg_csv_opts o = rg_csv_defaults();
    if (c->label_col)
        o.label_col = c->label_col;
    o.label_name = c->label_name;
    char err[512] = "";
    rg_dataset *ds = (rg_dataset *)1;
    const char *path = put_file("bad.csv", c->text, -1);
    rg_status st = rg_csv_read(path, &o, &ds, err, sizeof err);
    ck_assert_msg(st == c->status, "case %d: status %d, message %s", _i, st, err);
    ck_assert_ptr_null(ds);
    ck_assert_msg(strstr(err, c->msg) != NULL, "case %d: '%s' lacks '%s'", _i, err, c->msg);
    ck_assert_msg(strncmp(err, path, strlen(path)) == 0, "case %d: no file name: %s", _i, err);
}
END_TEST

START_TEST(test_csv_other_errors)
{
    char err[512];
    rg_dataset *ds;
    ck_assert_int_eq(rg_csv_read("/nonexistent/x.csv", NULL, &ds, err, sizeof err), RG_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err, "cannot open"));
    rg_csv_opts o = rg_csv_defaults();
    o.target = RG_CSV_TARGET_REAL;
    ck_assert_int_eq(rg_csv_read(put_file("r.csv", "1,2\n3,cat\n", -1), &o, &ds, err,
                                 sizeof err), RG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err, "line 2, column 2: 'cat': not a number"));
    static const char *const cls[] = {"cat", "dog"};
    o = rg_csv_defaults();
    o.class_names = cls;
    o.nclasses = 2;
    ck_assert_int_eq(rg_csv_read(put_file("c.csv", "1,cat\n3,emu\n", -1), &o, &ds, err,
                                 sizeof err), RG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err, "line 2, column 2: 'emu': not one of the model's class"));
    o = rg_csv_defaults();
    o.label_name = "label";
    o.header = RG_CSV_HEADER_NO;
    ck_assert_int_eq(rg_csv_read(put_file("n.csv", "1,2\n", -1), &o, &ds, err, sizeof err),
                     RG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err, "asked by name, but the file has no header"));
    o = rg_csv_defaults();
    o.delimiter = '"';
    ck_assert_int_eq(rg_csv_read(put_file("d.csv", "1,2\n", -1), &o, &ds, err, sizeof err),
                     RG_ERR_ARG);
    /* a long bad field is quoted only in part */
    char line[300] = "1,2,0\n";
    memset(line + 6, 'q', 200);
    strcpy(line + 206, ",1,1\n");
    ck_assert_int_eq(rg_csv_read(put_file("l.csv", line, -1), NULL, &ds, err, sizeof err),
                     RG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err, "'qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq...'"));
    /* messages are cut to the buffer given, NUL-terminated */
    char small[12];
    rg_csv_read("/nonexistent/x.csv", NULL, &ds, small, sizeof small);
    ck_assert_uint_eq(strlen(small), 11);
}
END_TEST

/* ---- IDX ------------------------------------------------------------------------------ */

/* An IDX header: magic 0 0 type ndim, then big-endian 32-bit sizes. Returns its length. */
static size_t idx_header(unsigned char *b, int type, int ndim, const uint32_t *dims)
{
    b[0] = b[1] = 0;
    b[2] = (unsigned char)type;
    b[3] = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++)
        for (int k = 0; k < 4; k++)
            b[4 + 4 * i + k] = (unsigned char)(dims[i] >> (24 - 8 * k));
    return 4 + 4 * (size_t)ndim;
}

START_TEST(test_idx_mnist_pair)
{
    /* three 2x2 "images" of ubytes and their labels */
    unsigned char im[64], lb[64];
    size_t n = idx_header(im, 0x08, 3, (const uint32_t[]){3, 2, 2});
    for (int i = 0; i < 12; i++)
        im[n + (size_t)i] = (unsigned char)(i * 20);
    im[n + 11] = 255;
    size_t m = idx_header(lb, 0x08, 1, (const uint32_t[]){3});
    lb[m] = 7, lb[m + 1] = 0, lb[m + 2] = 3;
    char err[512], ipath[512];
    snprintf(ipath, sizeof ipath, "%s", put_file("im.idx", im, (long)n + 12));
    const char *lpath = put_file("lb.idx", lb, (long)m + 3);
    rg_dataset *ds;
    ck_assert_int_eq(rg_idx_load(ipath, lpath, true, &ds, err, sizeof err), RG_OK);
    ck_assert_int_eq(ds->n, 3);
    ck_assert_int_eq(ds->d, 4);
    ck_assert_int_eq(ds->nclasses, 8);
    ck_assert_int_eq(ds->labels[0], 7);
    ck_assert_double_eq(ds->x[5], 100.0 / 255.0);
    ck_assert_double_eq(ds->x[11], 1.0);
    rg_dataset_free(ds);
    ck_assert_int_eq(rg_idx_load(ipath, NULL, false, &ds, err, sizeof err), RG_OK);
    ck_assert_int_eq(ds->kind, RG_TARGET_NONE);
    ck_assert_double_eq(ds->x[5], 100.0);
    rg_dataset_free(ds);
    /* counts must agree */
    lb[m - 1] = 2;
    lpath = put_file("lb2.idx", lb, (long)m + 2);
    ck_assert_int_eq(rg_idx_load(ipath, lpath, true, &ds, err, sizeof err), RG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err, "has 3 items but"));
    ck_assert_ptr_nonnull(strstr(err, "has 2 labels"));
    /* labels must be integers of one dimension, not negative */
    size_t k = idx_header(lb, 0x0D, 1, (const uint32_t[]){3});
    memset(lb + k, 0, 12);
    lpath = put_file("lbf.idx", lb, (long)k + 12);
    ck_assert_int_eq(rg_idx_load(ipath, lpath, true, &ds, err, sizeof err), RG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err, "labels must be integers, the file holds float"));
    k = idx_header(lb, 0x09, 1, (const uint32_t[]){3});
    lb[k] = 1, lb[k + 1] = 0xFF, lb[k + 2] = 2;
    lpath = put_file("lbn.idx", lb, (long)k + 3);
    ck_assert_int_eq(rg_idx_load(ipath, lpath, true, &ds, err, sizeof err), RG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err, "label 1 is negative (-1)"));
}
END_TEST

/* Every element type, big-endian, against values worked out by hand. */
START_TEST(test_idx_types)
{
    static const struct {
        int type;
        unsigned char bytes[16];
        int nbytes;
        double v0, v1;
    } cases[] = {
        {0x08, {0x00, 0xFF}, 2, 0, 255},
        {0x09, {0x7F, 0x80}, 2, 127, -128},
        {0x0B, {0x01, 0x02, 0xFF, 0xFE}, 4, 258, -2},
        {0x0C, {0x00, 0x01, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00}, 8, 65536, -2147483648.0},
        /* 0x3FC00000 = 1.5f, 0xC1200000 = -10.0f */
        {0x0D, {0x3F, 0xC0, 0, 0, 0xC1, 0x20, 0, 0}, 8, 1.5, -10},
        /* 0x3FF8... = 1.5, 0xBFD0... = -0.25 */
        {0x0E, {0x3F, 0xF8, 0, 0, 0, 0, 0, 0, 0xBF, 0xD0, 0, 0, 0, 0, 0, 0}, 16, 1.5, -0.25},
    };
    for (int c = 0; c < N_OF(cases); c++) {
        unsigned char b[64];
        size_t n = idx_header(b, cases[c].type, 1, (const uint32_t[]){2});
        memcpy(b + n, cases[c].bytes, (size_t)cases[c].nbytes);
        rg_idx_array *a;
        char err[256];
        ck_assert_int_eq(rg_idx_read(put_file("t.idx", b, (long)n + cases[c].nbytes), false,
                                     &a, err, sizeof err), RG_OK);
        ck_assert_int_eq(a->type, cases[c].type);
        ck_assert_int_eq(a->count, 2);
        ck_assert_double_eq(a->data[0], cases[c].v0);
        ck_assert_double_eq(a->data[1], cases[c].v1);
        rg_idx_array_free(a);
    }
}
END_TEST

static const struct idx_bad {
    unsigned char bytes[40];
    int len;
    const char *msg;
} idx_bad[] = {
    /* a header claiming 2^20 x 2^20 ubytes (2^40) in a 24-byte file: refused, not allocated */
    {{0, 0, 0x08, 2, 0, 0x10, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 24,
     "truncated or lying header: sizes [1048576,1048576] of ubyte need more than the file's "
     "24 bytes"},
    /* the largest claim the format allows: 8 sizes of 2^32 - 1 doubles */
    {{0, 0, 0x0E, 8, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
      255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255},
     36, "truncated or lying header"},
    {{0, 0, 0x08, 1, 0, 0, 0, 3, 1, 2}, 10, "truncated or lying header: sizes [3] of ubyte"},
    {{0, 0, 0x08, 1, 0, 0, 0, 1, 1, 2}, 10, "1 bytes after the data"},
    {{0, 0, 0x0C, 1, 0, 0, 0, 1, 0, 0, 0}, 11, "truncated or lying header"},
    {{0, 1, 0x08, 1, 0, 0, 0, 1, 9}, 9, "bad magic 0x00010801"},
    {{0x1F, 0x8B, 8, 0, 0, 0}, 6, "gzip-compressed"},
    {{0, 0, 0x0A, 1, 0, 0, 0, 1, 9}, 9, "unknown element type 0x0A"},
    {{0, 0, 0x08, 0}, 4, "0 dimensions"},
    {{0, 0, 0x08, 9}, 4, "9 dimensions"},
    {{0, 0, 0x08, 3, 0, 0, 0, 1, 0, 0}, 10, "truncated header: 3 dimensions need 16 bytes"},
    {{0, 0}, 2, "2 bytes: too short for an IDX header"},
    /* a float NaN (0x7FC00000) */
    {{0, 0, 0x0D, 1, 0, 0, 0, 1, 0x7F, 0xC0, 0, 0}, 12, "item 0 is not finite"},
};

START_TEST(test_idx_malformed)
{
    const struct idx_bad *c = &idx_bad[_i];
    rg_idx_array *a = (rg_idx_array *)1;
    char err[512] = "";
    rg_status st = rg_idx_read(put_file("bad.idx", c->bytes, c->len), false, &a, err,
                               sizeof err);
    ck_assert_msg(st == RG_ERR_FORMAT, "case %d: status %d: %s", _i, st, err);
    ck_assert_ptr_null(a);
    ck_assert_msg(strstr(err, c->msg) != NULL, "case %d: '%s' lacks '%s'", _i, err, c->msg);
}
END_TEST

START_TEST(test_idx_other_errors)
{
    char err[256];
    rg_idx_array *a;
    ck_assert_int_eq(rg_idx_read("/nonexistent.idx", false, &a, err, sizeof err), RG_ERR_IO);
    ck_assert_int_eq(rg_idx_read(tmpdir, false, &a, err, sizeof err), RG_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
    unsigned char b[16];
    size_t n = idx_header(b, 0x0B, 1, (const uint32_t[]){1});
    b[n] = 0, b[n + 1] = 1;
    ck_assert_int_eq(rg_idx_read(put_file("s.idx", b, (long)n + 2), true, &a, err, sizeof err),
                     RG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err, "scaling to [0,1] is defined for ubyte data"));
}
END_TEST

/* ---- suite ---------------------------------------------------------------------------- */

static Suite *data_suite(void)
{
    Suite *s = suite_create("data");
    const tu_case cases[] = {
        {"dataset_basics", test_dataset_basics, 0},
        {"split", test_split, 0},
        {"standardize_train_stats", test_standardize_train_stats, 0},
        {"batches_cover_epoch", test_batches_cover_epoch, 0},
        {"batches_seeded", test_batches_seeded, 0},
        {"spiral_formula", test_spiral_formula, 0},
        {"moons_circles_xor_formula", test_moons_circles_xor_formula, 0},
        {"toy_deterministic_balanced", test_toy_deterministic_balanced, 0},
        {"csv_header_names_classes", test_csv_header_names_classes, 0},
        {"csv_targets_and_modes", test_csv_targets_and_modes, 0},
        {"csv_syntax", test_csv_syntax, 0},
        {"csv_huge_line", test_csv_huge_line, 0},
        {"csv_malformed", test_csv_malformed, N_OF(csv_bad)},
        {"csv_other_errors", test_csv_other_errors, 0},
        {"idx_mnist_pair", test_idx_mnist_pair, 0},
        {"idx_types", test_idx_types, 0},
        {"idx_malformed", test_idx_malformed, N_OF(idx_bad)},
        {"idx_other_errors", test_idx_other_errors, 0},
    };
    tu_add_cases(s, cases, sizeof cases / sizeof *cases);
    return s;
}

int main(void)
{
    if (!tu_tmpdir_make(tmpdir, sizeof tmpdir, "rg_test_data")) {
        perror("mkdtemp");
        return 1;
    }
    const int status = tu_run_suite(data_suite());
    tu_tmpdir_remove(tmpdir);
    return status;
}
