/* regress: inputs that once crashed or hung a reader, and the fuzzers' seed corpora
 * (fuzz/corpus/<target>/), replayed through the fuzz targets' own entry points
 * (fuzz/fuzz_entry.h), so that each runs here exactly as it ran in the fuzzer, under the
 * sanitizers of the build. An entry point returns -1 when a reader returned a malformed result
 * or failed without a message; a crash, a leak or undefined behaviour stops the test.
 *
 * Inputs a fuzzer found are committed under tests/regress/<target>/ and listed in `found`
 * with the clean outcome they must now get; inputs too large to commit (those that took
 * quadratic time) are built by the tests that need them. RG_REGRESS_DIR and RG_CORPUS_DIR
 * (set by tests/meson.build) locate the files. */
#include <check.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz_entry.h"
#include "retrograd.h"
#include "suite.h"

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    char *b = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    b[n] = '\0';
    *len = (size_t)n;
    return b;
}

/* Feeds the file to the entry point of `target`, as the fuzz target would. Returns its
 * result: the number of calls that failed cleanly, or -1. */
static int replay(const char *target, const char *path)
{
    if (strcmp(target, "csv") == 0)
        return fz_csv(path);
    if (strcmp(target, "idx") == 0)
        return fz_idx(path);
    size_t len;
    char *b = slurp(path, &len);
    int r;
    if (strcmp(target, "model") == 0) {
        r = fz_model((const unsigned char *)b, len);
    } else {
        ck_assert_str_eq(target, "expr");
        /* the fuzz target skips inputs holding a NUL byte, as the command refuses them */
        r = strlen(b) == len ? fz_expr(b) : 0;
    }
    free(b);
    return r;
}

static const char *dir_env(const char *name)
{
    const char *d = getenv(name);
    ck_assert_msg(d != NULL && *d, "%s is not set (run through meson test)", name);
    return d;
}

/* ---- the inputs that crashed --------------------------------------------------------- */

typedef struct found_input {
    const char *target;
    const char *file; /* under tests/regress/<target>/ */
    int failures;     /* calls of the entry point that must fail cleanly */
} found_input;

/* Inputs a fuzzer made crash, hang or leak, with the number of calls of their entry point
 * that must now fail cleanly. None so far: the faults found while fuzzing needed inputs too
 * large to commit, and are built by the tests of the "quadratic" case below. */
static const found_input found[] = {
    {NULL, NULL, 0}, /* end */
};

START_TEST(test_found)
{
    const found_input *f = &found[_i];
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/%s", dir_env("RG_REGRESS_DIR"), f->target, f->file);
    ck_assert_msg(replay(f->target, path) == f->failures, "%s/%s: expected %d clean failures",
                  f->target, f->file, f->failures);
}
END_TEST

/* Every file under tests/regress/ is listed in `found`, so none is silently left out. */
START_TEST(test_found_listed)
{
    static const char *const targets[] = {"expr", "csv", "idx", "model"};
    for (int t = 0; t < N_OF(targets); t++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir_env("RG_REGRESS_DIR"), targets[t]);
        DIR *d = opendir(path);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            bool listed = false;
            for (int i = 0; found[i].target; i++)
                listed = listed || (strcmp(found[i].target, targets[t]) == 0 &&
                                    strcmp(found[i].file, e->d_name) == 0);
            ck_assert_msg(listed, "tests/regress/%s/%s is not in the table of test_regress.c",
                          targets[t], e->d_name);
        }
        closedir(d);
    }
}
END_TEST

/* ---- inputs too large to commit, built here ------------------------------------------ */

/* Inputs that took quadratic time: a model file of many tensors or class names (each name
 * compared with every earlier one: 50 000 tensors in half a megabyte took half a minute,
 * the largest class list 20 s), a program of many statements (each name looked up among
 * every earlier assignment: 100 000 statements took ten seconds) and a CSV file read with
 * a model's many class names (each label compared with every name: 100 000 rows took 20 s).
 * Each must now be read within a bound far below the old times and far above the new ones
 * (a tenth of a second; about five times that under the sanitizers). Valgrind slows the
 * new code as much as the bound, so under it the bound is not checked (it preloads its
 * vgpreload library). */
#define TIME_BOUND 5.0

static bool timed(void)
{
    const char *p = getenv("LD_PRELOAD");
    return !p || !strstr(p, "vgpreload");
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct bytes {
    unsigned char *b;
    size_t n, cap;
} bytes;

static void put(bytes *x, const void *p, size_t k)
{
    if (x->n + k > x->cap) {
        x->cap = 2 * (x->n + k);
        x->b = realloc(x->b, x->cap);
        ck_assert_ptr_nonnull(x->b);
    }
    memcpy(x->b + x->n, p, k);
    x->n += k;
}

static void put_le(bytes *x, uint64_t v, int k)
{
    unsigned char b[8];
    for (int i = 0; i < k; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    put(x, b, (size_t)k);
}

/* A section (docs/formats.md): tag, u64 length, payload, CRC-32 of all three. */
static void put_section(bytes *file, const char *tag, const bytes *payload)
{
    size_t at = file->n;
    put(file, tag, 4);
    put_le(file, payload->n, 8);
    put(file, payload->b, payload->n);
    put_le(file, rg_crc32(0, file->b + at, 12 + payload->n), 4);
}

/* Name number i: three printable characters. */
static void put_name(bytes *x, int64_t i)
{
    char nm[3] = {(char)(0x21 + i % 94), (char)(0x21 + i / 94 % 94), (char)(0x21 + i / 8836)};
    put_le(x, 3, 2);
    put(x, nm, 3);
}

/* A 1-1 model with ntensors scalar f32 parameters and nclasses class names, all named
 * differently unless `dup`, which names the last as the first. */
static bytes many_names(int64_t ntensors, int64_t nclasses, bool dup)
{
    bytes arch = {0}, parm = {0}, clas = {0}, file = {0};
    put_le(&arch, 1, 4);
    put_le(&arch, 1, 8);
    put_le(&arch, 1, 8);
    char field[16] = "relu";
    put(&arch, field, 16);
    memset(field, 0, sizeof field);
    strcpy(field, "ce");
    put(&arch, field, 16);
    put_le(&arch, 0, 8);
    put_le(&parm, (uint64_t)ntensors, 4);
    for (int64_t i = 0; i < ntensors; i++) {
        put_name(&parm, dup && i == ntensors - 1 ? 0 : i);
        put_le(&parm, RG_F32, 1);
        put_le(&parm, 0, 1);
        put_le(&parm, 0x3F800000u, 4);
    }
    put_le(&clas, (uint64_t)nclasses, 4);
    for (int64_t i = 0; i < nclasses; i++)
        put_name(&clas, dup && i == nclasses - 1 ? 0 : i);
    put(&file, "\x89RGM\r\n\x1A\n", 8);
    put_le(&file, 1, 4);
    put_le(&file, nclasses ? 3 : 2, 4);
    put_le(&file, rg_crc32(0, file.b, 16), 4);
    put_section(&file, "ARCH", &arch);
    if (nclasses)
        put_section(&file, "CLAS", &clas);
    put_section(&file, "PARM", &parm);
    free(arch.b);
    free(parm.b);
    free(clas.b);
    return file;
}

START_TEST(test_model_many_names)
{
    static const struct {
        int64_t ntensors, nclasses;
        const char *dup_message;
    } cases[] = {
        {50000, 0, "section PARM: two tensors are named '!!!'"},
        {1, 65536, "class names: '!!!' appears twice"},
    };
    for (int i = 0; i < N_OF(cases); i++) {
        for (int dup = 0; dup < 2; dup++) {
            bytes f = many_names(cases[i].ntensors, cases[i].nclasses, dup);
            double t0 = now();
            int r = fz_model(f.b, f.n);
            double dt = now() - t0;
            ck_assert_msg(r == dup, "case %d, dup %d: %d failures", i, dup, r);
            ck_assert_msg(dt < TIME_BOUND || !timed(), "case %d: %.1f s to load", i, dt);
            rg_model *m = NULL;
            char err[512] = "";
            rg_status st = rg_model_load_mem(f.b, f.n, "many", &m, err, sizeof err);
            ck_assert_int_eq(st, dup ? RG_ERR_FORMAT : RG_OK);
            if (dup)
                ck_assert_msg(strstr(err, cases[i].dup_message), "message: %s", err);
            else
                ck_assert_int_eq(m->nparams + m->nclass_names,
                                 cases[i].ntensors + cases[i].nclasses);
            rg_model_free(m);
            free(f.b);
        }
    }
}
END_TEST

START_TEST(test_expr_many_statements)
{
    /* "b00000 = x", then 100 000 assignments "aNNNNN = b00000" that each look b00000 up
     * (names of one length, which the old scan could not tell apart by length), then the
     * name alone */
    const int n = 100000;
    bytes p = {0};
    put(&p, "b00000 = x\n", 11);
    for (int i = 0; i < n; i++) {
        char line[32];
        int k = snprintf(line, sizeof line, "a%05d = b00000\n", i);
        put(&p, line, (size_t)k);
    }
    put(&p, "b00000", 7); /* with its NUL */
    double t0 = now();
    /* evaluated and differentiated; not an --at value: one failure */
    int r = fz_expr((const char *)p.b);
    double dt = now() - t0;
    ck_assert_int_eq(r, 1);
    ck_assert_msg(dt < TIME_BOUND || !timed(), "%.1f s for %d statements", dt, n);
    free(p.b);
}
END_TEST

START_TEST(test_csv_many_classes)
{
    /* RG_CSV_MAX_CLASSES given class names ("aaaa" ... four letters) and 100 000 rows
     * labelled with the last one, which the old scan reached after comparing every other */
    static char names[RG_CSV_MAX_CLASSES][5];
    static const char *list[RG_CSV_MAX_CLASSES];
    for (int c = 0; c < RG_CSV_MAX_CLASSES; c++) {
        for (int k = 0, v = c; k < 4; k++, v /= 26)
            names[c][3 - k] = (char)('a' + v % 26);
        list[c] = names[c];
    }
    char path[] = "/tmp/retrograd-regress-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    const int rows = 100000;
    for (int i = 0; i < rows; i++)
        fprintf(f, "%d,%s\n", i, names[RG_CSV_MAX_CLASSES - 1]);
    ck_assert_int_eq(fclose(f), 0);
    rg_csv_opts o = rg_csv_defaults();
    o.class_names = list;
    o.nclasses = RG_CSV_MAX_CLASSES;
    rg_dataset *ds = NULL;
    char err[512] = "";
    double t0 = now();
    rg_status st = rg_csv_read(path, &o, &ds, err, sizeof err);
    double dt = now() - t0;
    remove(path);
    ck_assert_msg(st == RG_OK, "%s", err);
    ck_assert_int_eq(ds->n, rows);
    ck_assert_int_eq(ds->labels[rows - 1], RG_CSV_MAX_CLASSES - 1);
    ck_assert_msg(dt < TIME_BOUND || !timed(), "%.1f s to read %d rows", dt, rows);
    rg_dataset_free(ds);
}
END_TEST

/* ---- the seed corpora ---------------------------------------------------------------- */

static void replay_corpus(const char *target, int *nfiles, int *nfailing)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir_env("RG_CORPUS_DIR"), target);
    DIR *d = opendir(path);
    ck_assert_msg(d != NULL, "no corpus at %s", path);
    struct dirent *e;
    *nfiles = *nfailing = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char file[1300];
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        int r = replay(target, file);
        ck_assert_msg(r >= 0, "%s: a malformed result or a failure without a message", file);
        ++*nfiles;
        *nfailing += r > 0;
    }
    closedir(d);
}

/* Every seed goes through its entry point without a malformed result. (Most seeds fail some
 * call: a program is rarely also an --at value, and the CSV option sets disagree.) */
START_TEST(test_corpus)
{
    static const char *const targets[] = {"expr", "csv", "idx", "model"};
    const char *target = targets[_i];
    int nfiles, nfailing;
    replay_corpus(target, &nfiles, &nfailing);
    ck_assert_msg(nfiles >= 5, "%s: only %d seeds", target, nfiles);
    ck_assert_msg(nfailing > 0, "%s: no seed is refused anywhere", target);
}
END_TEST

/* Known outcomes of a few seeds, so that an entry point that stops calling its reader (and
 * so never fails) is noticed. The counts follow from the entry points' lists of calls. */
START_TEST(test_corpus_outcomes)
{
    static const struct {
        const char *target, *file;
        int failures;
    } cases[] = {
        /* evaluated, differentiated, Hessian and check, finite check: all pass; the text is
         * not an --at value */
        {"expr", "scalar-poly", 1},
        /* refused by the parser; read as an --at value */
        {"expr", "value-list", 1},
        /* a syntax error, and not a value */
        {"expr", "syntax-error", 2},
        /* the CSV option sets: defaults (read: header, classes 0 1 2), header + class column
         * 0 (read: labels 1.5 -3 5 as names), then refused: ';' leaves one column, too few
         * for a label at -2; tabs make one text column of features; no column "y"; labels
         * 0 1 2 are not among the class names a b c */
        {"csv", "numeric-header", 4},
        {"csv", "empty", 6},
        /* ubyte [4] with values 0 1 2 0: read, scaled, as labels and as images */
        {"idx", "labels-ubyte", 0},
        /* three dimensions: not a labels file (1 failure) */
        {"idx", "images-ubyte", 1},
        {"idx", "gzip", 4},
        /* a valid model loads as it is (its checksums are already right) */
        {"model", "mlp-2-3-2", 0},
        /* refused for its magic as it is, and again once its header checksum, which covers
         * the magic, is recomputed */
        {"model", "mlp-bad-magic", 2},
    };
    for (int i = 0; i < N_OF(cases); i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s/%s", dir_env("RG_CORPUS_DIR"), cases[i].target,
                 cases[i].file);
        int r = replay(cases[i].target, path);
        ck_assert_msg(r == cases[i].failures, "%s/%s: %d failures, expected %d",
                      cases[i].target, cases[i].file, r, cases[i].failures);
    }
}
END_TEST

static Suite *regress_suite(void)
{
    Suite *s = suite_create("regress");
    TCase *tc = tcase_create("found");
    tcase_add_loop_test(tc, test_found, 0, N_OF(found) - 1);
    tcase_add_test(tc, test_found_listed);
    suite_add_tcase(s, tc);
    tc = tcase_create("quadratic");
    tcase_add_test(tc, test_model_many_names);
    tcase_add_test(tc, test_expr_many_statements);
    tcase_add_test(tc, test_csv_many_classes);
    suite_add_tcase(s, tc);
    tc = tcase_create("corpus");
    tcase_add_loop_test(tc, test_corpus, 0, 4);
    tcase_add_test(tc, test_corpus_outcomes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(regress_suite());
}
