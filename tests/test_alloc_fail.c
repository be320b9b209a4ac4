/* alloc_fail: every allocation of an operation made to fail, one at a time.
 *
 * The process-wide allocator (rg_set_allocator) is a hook that counts allocation attempts,
 * refuses the k-th one after it is armed, and counts the blocks alive. For each operation
 * (building a graph, evaluating it, rg_grad, rg_backward, gradient checking, the CSV and IDX
 * readers, model construction, saving and loading, data sets, an MLP with its optimiser, and
 * a training step) the test runs it with k = 1, 2, ... until a run makes no failing
 * allocation, and checks each time that:
 * - the operation reports RG_ERR_NOMEM (the graph's sticky status says so too, readers write
 *   "out of memory" into their message) and returns no object;
 * - nothing leaks: once everything is freed the hook holds no block;
 * - the graph is still usable: after rg_graph_clear_error() the same operation on the same
 *   graph gives the values of a run that never failed, bit for bit (a fresh graph computes
 *   the reference; the values of each op are tested in their own suites).
 * Each block carries a header, so a block the library frees through the hook but allocated
 * elsewhere (or the reverse, under ASan or valgrind) is caught. Every test runs four times: with
 * the hook's realloc_fn and without one (the library then allocates, copies and frees, which
 * needs the right old sizes), and each either refusing the k-th attempt alone or every attempt
 * from the k-th on. The number of failure points per operation is printed. */
#define _XOPEN_SOURCE 700 /* nftw, in tmpdir.h */
#include "testutil.h"
#include "tmpdir.h"

#include <dirent.h>
#include <stdalign.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- the failing allocator --------------------------------------------------------------- */

static struct {
    long calls;   /* allocation attempts (malloc and realloc) since arm() */
    long fail_at; /* the attempt refused, 1-based; 0 when disarmed */
    bool after;   /* refuse every attempt from fail_at on (memory stays exhausted) */
    bool failed;  /* an attempt was refused since arm() */
    long live;    /* blocks allocated through the hook and not yet freed */
} H;

#define MAGIC 0x5247414c4c4f43ull /* "RGALLOC" */

typedef union header {
    struct {
        uint64_t magic;
        size_t size;
    } h;
    max_align_t align;
} header;

static bool refuse(void)
{
    H.calls++;
    if (H.fail_at && (H.calls == H.fail_at || (H.after && H.calls > H.fail_at))) {
        H.failed = true;
        return true;
    }
    return false;
}

static void *h_malloc(void *ctx, size_t n)
{
    (void)ctx;
    ck_assert_msg(n > 0, "the library asked for 0 bytes");
    if (refuse())
        return NULL;
    header *b = malloc(sizeof *b + n);
    if (!b)
        return NULL;
    b->h.magic = MAGIC;
    b->h.size = n;
    H.live++;
    return b + 1;
}

static void *h_realloc(void *ctx, void *p, size_t n)
{
    if (!p)
        return h_malloc(ctx, n);
    ck_assert_msg(n > 0, "the library asked for 0 bytes");
    header *b = (header *)p - 1;
    ck_assert_msg(b->h.magic == MAGIC, "realloc of a block the hook did not allocate");
    if (refuse())
        return NULL;
    header *nb = realloc(b, sizeof *nb + n);
    if (!nb)
        return NULL;
    nb->h.size = n;
    return nb + 1;
}

static void h_free(void *ctx, void *p)
{
    (void)ctx;
    if (!p)
        return;
    header *b = (header *)p - 1;
    ck_assert_msg(b->h.magic == MAGIC, "free of a block the hook did not allocate");
    b->h.magic = 0;
    H.live--;
    free(b);
}

/* The loop index picks the variant: bit 0 set, the hook has no realloc_fn; bit 1 set, every
 * attempt from the k-th on is refused rather than the k-th alone (so that clean-up paths
 * that would allocate fail too). */
static void install(int variant)
{
    rg_allocator a = {h_malloc, variant & 1 ? NULL : h_realloc, h_free, NULL};
    rg_set_allocator(&a);
    memset(&H, 0, sizeof H);
    H.after = variant & 2;
}

static void arm(long k)
{
    H.calls = 0;
    H.fail_at = k;
    H.failed = false;
}

static void disarm(void)
{
    H.fail_at = 0;
}

/* The status an armed operation must return: NOMEM when an allocation was refused. */
static void expect(rg_status st, const char *what, long k)
{
    if (H.failed)
        ck_assert_msg(st == RG_ERR_NOMEM, "%s: allocation %ld refused, got '%s'", what, k,
                      rg_strerror(st));
    else
        ck_assert_msg(st == RG_OK, "%s: no allocation refused, got '%s'", what,
                      rg_strerror(st));
}

/* Runs op(k) for k = 1, 2, ... until a run refuses nothing; op arms the hook itself (after
 * its set-up) and frees everything it made. Returns the number of failure points. */
static long every_k(const char *what, bool (*op)(long k))
{
    long k = 1;
    for (;; k++) {
        ck_assert_int_eq(H.live, 0);
        bool failed = op(k);
        disarm();
        ck_assert_msg(H.live == 0, "%s: refusing allocation %ld leaked %ld blocks", what, k,
                      H.live);
        if (!failed)
            break;
        ck_assert_msg(k < 100000, "%s: no end to the allocations", what);
    }
    printf("alloc_fail: %-22s %4ld allocations, each refused once\n", what, k - 1);
    ck_assert_msg(k > 1, "%s: made no allocation through the hook", what);
    return k - 1;
}

/* ---- graphs ----------------------------------------------------------------------------- */

/* y = 2x, registered at run time (its derivative: 2). */
static rg_status twice_shape(rg_node *n)
{
    const rg_node *x = rg_node_input(n, 0);
    return rg_node_set_shape(n, rg_node_ndim(x), rg_node_shape(x));
}

static rg_status twice_fwd(rg_node *n)
{
    const double *x = rg_node_data(rg_node_input(n, 0));
    double *y = rg_node_data(n);
    for (int64_t i = 0; i < rg_node_size(n); i++)
        y[i] = 2.0 * x[i];
    return RG_OK;
}

static rg_status twice_vjp(rg_node *n, rg_node *gy, const bool *need, rg_node **gin)
{
    (void)need;
    gin[0] = rg_mul(gy, rg_scalar(rg_node_graph(n), 2.0));
    return gin[0] ? RG_OK : rg_graph_status(rg_node_graph(n));
}

/* More ops than the op table's initial spare room, so registering grows it. */
static const char *const twice_names[] = {"twice0", "twice1", "twice2", "twice3", "twice4",
                                          "twice5", "twice6", "twice7", "twice8", "twice9"};

static const double XV[12] = {0.5, -1.0, 0.25, 1.5, 0.0, -0.75, 2.0, 0.125, -0.5, 1.0, 0.3, -2.0};
static const double WV[6] = {0.2, -0.4, 0.6, 0.1, -0.3, 0.5};
static const double BV[2] = {0.05, -0.1};
static const double LV[4] = {0, 1, 1, 0};

struct expr {
    rg_node *x, *w, *y, *mid;
};

/* A smooth scalar of X [4,3] and W [3,2] touching named leaves, broadcasting, matmul,
 * reductions, reshape, concat, softmax, cross-entropy and a registered op. Registers the ops
 * only when the graph lacks them, so it can run again on a graph where it failed. */
static struct expr build(rg_graph *g)
{
    struct expr e = {NULL, NULL, NULL, NULL};
    int op = -1;
    for (int i = 0; i < N_OF(twice_names); i++) {
        op = rg_op_lookup(g, twice_names[i]);
        if (op < 0) {
            rg_op_def def = {.name = twice_names[i], .arity = 1, .shape = twice_shape,
                             .forward_f64 = twice_fwd, .vjp = twice_vjp};
            if ((op = rg_op_register(g, &def)) < 0)
                return e;
        }
    }
    const int64_t xs[2] = {4, 3}, ws[2] = {3, 2}, bs[1] = {2}, ls[1] = {4}, r[2] = {2, 6};
    e.x = rg_param(g, "X", 2, xs, XV);
    e.w = rg_param(g, "W", 2, ws, WV);
    rg_node *b = rg_const(g, 1, bs, BV);
    rg_node *labels = rg_const(g, 1, ls, LV);
    rg_node *in[1] = {rg_tanh(rg_add(rg_matmul(e.x, e.w), b))};
    rg_node *a = rg_apply(g, op, 1, in);
    e.mid = a;
    rg_node *ce = rg_cross_entropy(a, labels);
    rg_node *sq = rg_mean(rg_square(rg_reshape(e.x, 2, r)), RG_AXIS_ALL, false);
    rg_node *cat = rg_sum(rg_softmax(rg_concat(e.x, e.x, 1), -1), 0, false);
    rg_node *y = rg_add(rg_add(ce, sq), rg_sum(rg_sin(cat), RG_AXIS_ALL, false));
    if (y && rg_node_set_name(y, "y") != RG_OK)
        y = NULL;
    e.y = y;
    return e;
}

static void read_values(const rg_node *n, double *out)
{
    ck_assert_int_eq(rg_node_read_f64(n, out), RG_OK);
}

/* Reference values from a graph that never failed. */
static struct {
    double y, mid[8], gx[12], gw[6];
} ref;

static void make_reference(void)
{
    rg_graph *g = rg_graph_new(RG_F64);
    struct expr e = build(g);
    ck_assert_msg(e.y != NULL, "%s", rg_graph_errmsg(g));
    rg_node *xs[2] = {e.x, e.w}, *gr[2];
    ck_assert_int_eq(rg_grad(e.y, 2, xs, gr), RG_OK);
    rg_node *t[4] = {e.y, e.mid, gr[0], gr[1]};
    ck_assert_int_eq(rg_eval(g, 4, t), RG_OK);
    ref.y = rg_node_item(e.y);
    read_values(e.mid, ref.mid);
    read_values(gr[0], ref.gx);
    read_values(gr[1], ref.gw);
    rg_graph_free(g);
}

static void assert_same(const double *a, const double *b, int n, const char *what, long k)
{
    for (int i = 0; i < n; i++)
        ck_assert_msg(memcmp(&a[i], &b[i], sizeof a[i]) == 0,
                      "%s after refusing allocation %ld: element %d is %.17g, not %.17g", what, k,
                      i, a[i], b[i]);
}

/* The graph's status after a refused allocation, and its recovery. */
static void assert_sticky(rg_graph *g, const char *what, long k)
{
    ck_assert_msg(rg_graph_status(g) == RG_ERR_NOMEM, "%s: allocation %ld refused, graph says '%s'",
                  what, k, rg_strerror(rg_graph_status(g)));
    ck_assert_msg(strlen(rg_graph_errmsg(g)) > 0, "%s: no message", what);
    rg_graph_clear_error(g);
}

static bool op_build(long k)
{
    arm(k);
    rg_graph *g = rg_graph_new(RG_F64);
    if (!g) {
        ck_assert(H.failed);
        return true;
    }
    struct expr e = build(g);
    disarm();
    bool failed = H.failed;
    if (failed) {
        ck_assert_msg(e.y == NULL, "build: allocation %ld refused, yet y was built", k);
        assert_sticky(g, "build", k);
        e = build(g); /* the same graph builds the expression again */
        ck_assert_msg(e.y != NULL, "%s", rg_graph_errmsg(g));
    }
    ck_assert_int_eq(rg_eval1(e.y), RG_OK);
    double y = rg_node_item(e.y);
    assert_same(&y, &ref.y, 1, "build", k);
    rg_graph_free(g);
    return failed;
}

static bool op_eval(long k)
{
    rg_graph *g = rg_graph_new(RG_F64);
    struct expr e = build(g);
    rg_node *t[2] = {e.y, e.mid};
    arm(k);
    rg_status st = rg_eval(g, 2, t);
    disarm();
    expect(st, "eval", k);
    bool failed = H.failed;
    if (failed) {
        assert_sticky(g, "eval", k);
        ck_assert_int_eq(rg_eval(g, 2, t), RG_OK);
    }
    double y = rg_node_item(e.y), mid[8];
    read_values(e.mid, mid);
    assert_same(&y, &ref.y, 1, "eval", k);
    assert_same(mid, ref.mid, 8, "eval", k);
    rg_graph_free(g);
    return failed;
}

static bool op_grad(long k)
{
    rg_graph *g = rg_graph_new(RG_F64);
    struct expr e = build(g);
    rg_node *xs[2] = {e.x, e.w}, *gr[2];
    arm(k);
    rg_status st = rg_grad(e.y, 2, xs, gr);
    disarm();
    expect(st, "grad", k);
    bool failed = H.failed;
    if (failed) {
        ck_assert(gr[0] == NULL && gr[1] == NULL);
        assert_sticky(g, "grad", k);
        ck_assert_int_eq(rg_grad(e.y, 2, xs, gr), RG_OK);
    }
    ck_assert_int_eq(rg_eval(g, 2, gr), RG_OK);
    double gx[12], gw[6];
    read_values(gr[0], gx);
    read_values(gr[1], gw);
    assert_same(gx, ref.gx, 12, "grad", k);
    assert_same(gw, ref.gw, 6, "grad", k);
    rg_graph_free(g);
    return failed;
}

static bool op_backward(long k)
{
    rg_graph *g = rg_graph_new(RG_F64);
    struct expr e = build(g);
    arm(k);
    rg_status st = rg_backward(e.y);
    disarm();
    expect(st, "backward", k);
    bool failed = H.failed;
    if (failed) {
        assert_sticky(g, "backward", k);
        ck_assert_int_eq(rg_backward(e.y), RG_OK);
    }
    double gx[12], gw[6];
    read_values(rg_node_grad(e.x), gx);
    read_values(rg_node_grad(e.w), gw);
    assert_same(gx, ref.gx, 12, "backward", k);
    assert_same(gw, ref.gw, 6, "backward", k);
    rg_graph_free(g);
    return failed;
}

static bool gradcheck_op(long k, bool adjoint)
{
    const char *what = adjoint ? "gradcheck_adjoint" : "gradcheck";
    rg_graph *g = rg_graph_new(RG_F64);
    struct expr e = build(g);
    rg_node *xs[2] = {e.x, e.w};
    rg_gradcheck_report rep;
    arm(k);
    rg_status st = adjoint ? rg_gradcheck_adjoint(e.y, 2, xs, NULL, &rep)
                           : rg_gradcheck(e.y, 2, xs, NULL, &rep);
    disarm();
    expect(st, what, k);
    bool failed = H.failed;
    /* the perturbed values are restored however the check ended */
    double x[12], w[6];
    read_values(e.x, x);
    read_values(e.w, w);
    assert_same(x, XV, 12, what, k);
    assert_same(w, WV, 6, what, k);
    if (failed) {
        assert_sticky(g, what, k);
        st = adjoint ? rg_gradcheck_adjoint(e.y, 2, xs, NULL, &rep)
                     : rg_gradcheck(e.y, 2, xs, NULL, &rep);
        ck_assert_int_eq(st, RG_OK);
    }
    ck_assert_msg(rep.passed, "%s", what);
    rg_graph_free(g);
    return failed;
}

static bool op_gradcheck(long k)
{
    return gradcheck_op(k, false);
}

static bool op_gradcheck_adjoint(long k)
{
    return gradcheck_op(k, true);
}

START_TEST(test_graph_build)
{
    install(_i);
    make_reference();
    every_k("graph building", op_build);
}
END_TEST

START_TEST(test_eval)
{
    install(_i);
    make_reference();
    every_k("eval", op_eval);
}
END_TEST

START_TEST(test_grad)
{
    install(_i);
    make_reference();
    every_k("rg_grad", op_grad);
    every_k("rg_backward", op_backward);
}
END_TEST

START_TEST(test_gradcheck)
{
    install(_i);
    make_reference();
    every_k("gradcheck", op_gradcheck);
    every_k("gradcheck_adjoint", op_gradcheck_adjoint);
}
END_TEST

/* ---- files ------------------------------------------------------------------------------ */

static char tmpdir[256];

static const char *tmp_path(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

/* Entries of tmpdir (to see that a failed save leaves no temporary file). */
static int count_files(void)
{
    int n = 0;
    DIR *d = opendir(tmpdir);
    ck_assert_ptr_nonnull(d);
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* A CSV large enough to grow every buffer of the reader: a header whose first name is longer
 * than the record buffer's first size (256), 20 feature columns (the field array starts at
 * 16), 300 rows (the row arrays start at 256) and 40 text labels (the class-name table starts
 * at 16 names and 64 hash slots). Label of row i: "c<i mod 40>"; feature j of row i: i + j. */
static void write_csv(const char *path)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputc('"', f);
    for (int i = 0; i < 300; i++)
        fputc('a' + i % 26, f);
    fputc('"', f);
    for (int j = 1; j < 20; j++)
        fprintf(f, ",f%d", j);
    fprintf(f, ",label\n");
    for (int i = 0; i < 300; i++) {
        for (int j = 0; j < 20; j++)
            fprintf(f, "%d,", i + j);
        fprintf(f, "c%d\n", i % 40);
    }
    ck_assert_int_eq(fclose(f), 0);
}

static const char *const given_names[40] = {
    "c0",  "c1",  "c2",  "c3",  "c4",  "c5",  "c6",  "c7",  "c8",  "c9",
    "c10", "c11", "c12", "c13", "c14", "c15", "c16", "c17", "c18", "c19",
    "c20", "c21", "c22", "c23", "c24", "c25", "c26", "c27", "c28", "c29",
    "c30", "c31", "c32", "c33", "c34", "c35", "c36", "c37", "c38", "c39"};

static int csv_mode; /* 0: defaults (names collected); 1: class names given; 2: label by name */

static bool op_csv(long k)
{
    rg_csv_opts o = rg_csv_defaults();
    if (csv_mode == 1) {
        o.class_names = given_names;
        o.nclasses = 40;
    } else if (csv_mode == 2) {
        o.label_name = "label";
        o.target = RG_CSV_TARGET_CLASS;
    }
    rg_dataset *ds = NULL;
    char err[256] = "";
    arm(k);
    rg_status st = rg_csv_read(tmp_path("big.csv"), &o, &ds, err, sizeof err);
    disarm();
    ck_assert_msg(st == RG_OK || H.failed, "csv: %s", err);
    expect(st, "csv", k);
    if (H.failed) {
        ck_assert_ptr_null(ds);
        ck_assert_msg(strstr(err, "out of memory"), "csv: allocation %ld: message '%s'", k, err);
        return true;
    }
    ck_assert_int_eq(ds->n, 300);
    ck_assert_int_eq(ds->d, 20);
    ck_assert_int_eq(ds->nclasses, 40);
    /* names in byte order (c0 c1 c10 ... c19 c2 ...) make row 2's "c2" class 12; given names
     * keep their order */
    ck_assert_str_eq(ds->class_names[ds->labels[2]], "c2");
    ck_assert_int_eq(ds->labels[2], csv_mode == 1 ? 2 : 12);
    ck_assert_str_eq(ds->target_name, "label");
    ck_assert_int_eq(strlen(ds->feature_names[0]), 300);
    ck_assert(ds->x[299 * ds->d + 19] == 299 + 19);
    rg_dataset_free(ds);
    return false;
}

START_TEST(test_csv)
{
    install(_i);
    write_csv(tmp_path("big.csv"));
    static const char *const what[3] = {"csv read", "csv read, names given",
                                        "csv read, label named"};
    for (csv_mode = 0; csv_mode < 3; csv_mode++)
        every_k(what[csv_mode], op_csv);
}
END_TEST

static void write_idx(const char *path, int ndim, const uint32_t *dims, int count)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    unsigned char head[4] = {0, 0, 0x08, (unsigned char)ndim};
    fwrite(head, 1, 4, f);
    for (int i = 0; i < ndim; i++) {
        unsigned char d[4] = {(unsigned char)(dims[i] >> 24), (unsigned char)(dims[i] >> 16),
                              (unsigned char)(dims[i] >> 8), (unsigned char)dims[i]};
        fwrite(d, 1, 4, f);
    }
    for (int i = 0; i < count; i++)
        fputc(ndim == 1 ? i % 10 : (i * 7) % 256, f);
    ck_assert_int_eq(fclose(f), 0);
}

static bool op_idx(long k)
{
    rg_dataset *ds = NULL;
    char err[256] = "";
    arm(k);
    char images[512];
    snprintf(images, sizeof images, "%s", tmp_path("img.idx"));
    rg_status st = rg_idx_load(images, tmp_path("lab.idx"), true, &ds, err, sizeof err);
    disarm();
    ck_assert_msg(st == RG_OK || H.failed, "idx: %s", err);
    expect(st, "idx", k);
    if (H.failed) {
        ck_assert_ptr_null(ds);
        ck_assert_msg(strstr(err, "out of memory"), "idx: allocation %ld: message '%s'", k, err);
        return true;
    }
    /* 50 images of 4x4 bytes (i * 7 mod 256 for byte i), labels i mod 10 */
    ck_assert_int_eq(ds->n, 50);
    ck_assert_int_eq(ds->d, 16);
    ck_assert_int_eq(ds->nclasses, 10);
    ck_assert_int_eq(ds->labels[13], 3);
    ck_assert(ds->x[20] == (20 * 7 % 256) / 255.0);
    rg_dataset_free(ds);
    return false;
}

START_TEST(test_idx)
{
    install(_i);
    const uint32_t idims[3] = {50, 4, 4}, ldims[1] = {50};
    write_idx(tmp_path("img.idx"), 3, idims, 800);
    write_idx(tmp_path("lab.idx"), 1, ldims, 50);
    every_k("idx load", op_idx);
}
END_TEST

/* A model with every kind of content; NOMEM (or another error) stops at the first failure. */
static rg_status make_model(rg_model **out)
{
    static const float w[6] = {1, 2, 3, 4, 5, 6}, b[2] = {0.5f, -0.5f};
    static const double mean[3] = {0, 1, 2}, sd[3] = {1, 1, 2};
    static const char *const names[2] = {"cat", "dog"};
    const int64_t ws[2] = {3, 2}, bs[1] = {2};
    *out = NULL;
    rg_model *m = rg_model_new();
    if (!m)
        return RG_ERR_NOMEM;
    m->desc.nlayers = 1;
    m->desc.sizes[0] = 3;
    m->desc.sizes[1] = 2;
    strcpy(m->desc.activation, "relu");
    strcpy(m->desc.loss, "ce");
    rg_status st = rg_model_add_param(m, "W1", RG_F32, 2, ws, w);
    if (st == RG_OK)
        st = rg_model_add_param(m, "b1", RG_F32, 1, bs, b);
    if (st == RG_OK)
        st = rg_model_set_stats(m, 3, mean, sd);
    if (st == RG_OK)
        st = rg_model_set_class_names(m, 2, names);
    if (st == RG_OK)
        st = rg_model_add_opt(m, "W1.m", RG_F32, 2, ws, w);
    if (st == RG_OK)
        st = rg_model_add_opt(m, "b1.m", RG_F32, 1, bs, b);
    if (st != RG_OK) {
        rg_model_free(m);
        return st;
    }
    m->opt_step = 7;
    strcpy(m->opt_name, "adam");
    *out = m;
    return RG_OK;
}

static bool op_model_new(long k)
{
    rg_model *m;
    arm(k);
    rg_status st = make_model(&m);
    disarm();
    expect(st, "model construction", k);
    ck_assert(H.failed == (m == NULL));
    rg_model_free(m);
    return H.failed;
}

static bool op_model_save(long k)
{
    rg_model *m;
    ck_assert_int_eq(make_model(&m), RG_OK);
    const char *path = tmp_path("model.rgm");
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("the old model", f);
    ck_assert_int_eq(fclose(f), 0);
    int before = count_files();
    char err[256] = "";
    arm(k);
    rg_status st = rg_model_save(path, m, err, sizeof err);
    disarm();
    expect(st, "model save", k);
    bool failed = H.failed;
    if (failed) {
        char buf[64] = "";
        f = fopen(path, "r");
        ck_assert_ptr_nonnull(f);
        ck_assert_ptr_nonnull(fgets(buf, sizeof buf, f));
        fclose(f);
        ck_assert_str_eq(buf, "the old model");
        ck_assert_int_eq(count_files(), before);
        ck_assert_msg(strstr(err, "out of memory"), "model save: message '%s'", err);
    }
    rg_model_free(m);
    return failed;
}

static bool op_model_load(long k)
{
    rg_model *m = NULL;
    char err[256] = "";
    arm(k);
    rg_status st = rg_model_load(tmp_path("saved.rgm"), &m, err, sizeof err);
    disarm();
    expect(st, "model load", k);
    if (H.failed) {
        ck_assert_ptr_null(m);
        ck_assert_msg(strstr(err, "out of memory"), "model load: allocation %ld: message '%s'",
                      k, err);
        return true;
    }
    ck_assert_int_eq(m->nparams, 2);
    ck_assert_int_eq(m->nopt, 2);
    ck_assert_str_eq(m->class_names[1], "dog");
    ck_assert(((const float *)rg_model_param(m, "W1")->data)[5] == 6.0f);
    ck_assert(m->std[2] == 2.0);
    ck_assert_uint_eq(m->opt_step, 7);
    rg_model_free(m);
    return false;
}

START_TEST(test_model)
{
    install(_i);
    every_k("model construction", op_model_new);
    every_k("model save", op_model_save);
    rg_model *m;
    ck_assert_int_eq(make_model(&m), RG_OK);
    ck_assert_int_eq(rg_model_save(tmp_path("saved.rgm"), m, NULL, 0), RG_OK);
    rg_model_free(m);
    every_k("model load", op_model_load);
}
END_TEST

/* ---- data sets, the MLP, the optimiser, training ----------------------------------------- */

static bool op_datasets(long k)
{
    arm(k);
    rg_dataset *ds = rg_data_spiral(20, 3, 0.1, 5);
    rg_dataset *train = NULL, *test = NULL;
    rg_batch_iter *it = NULL;
    rg_status st = ds ? rg_dataset_split(ds, 0.25, 3, &train, &test) : RG_ERR_NOMEM;
    if (st == RG_OK) {
        rg_batch_opts bo = rg_batch_defaults();
        bo.batch = 8;
        it = rg_batch_iter_new(train, &bo);
        st = it ? RG_OK : RG_ERR_NOMEM;
    }
    disarm();
    expect(st, "data sets", k);
    if (st == RG_OK) {
        ck_assert_int_eq(train->n + test->n, 60);
        ck_assert_int_eq(rg_batch_iter_count(it), 6); /* 45 rows in batches of 8 */
    }
    rg_batch_iter_free(it);
    rg_dataset_free(train);
    rg_dataset_free(test);
    rg_dataset_free(ds);
    return H.failed;
}

static const int64_t HIDDEN[2] = {8, 6};

static rg_mlp_opts mlp_opts(void)
{
    rg_mlp_opts o = rg_mlp_defaults();
    o.inputs = 2;
    o.hidden = HIDDEN;
    o.nhidden = 2;
    o.outputs = 3;
    o.batch = 8;
    o.seed = 11;
    return o;
}

static rg_optim *mlp_optim(rg_mlp *m)
{
    int n;
    rg_node *const *params = rg_mlp_params(m, &n);
    rg_optim_opts oo = rg_optim_defaults(RG_OPTIM_ADAM);
    return rg_optim_new(&oo, n, params, rg_mlp_grads(m, NULL), rg_mlp_is_weight(m));
}

static bool op_mlp_new(long k)
{
    rg_mlp_opts o = mlp_opts();
    arm(k);
    rg_graph *g = rg_graph_new(RG_F32);
    rg_mlp *m = g ? rg_mlp_new(g, &o) : NULL;
    rg_optim *opt = m ? mlp_optim(m) : NULL;
    disarm();
    expect(opt ? RG_OK : RG_ERR_NOMEM, "mlp and optimiser", k);
    if (g && !opt)
        ck_assert_int_eq(rg_graph_status(g), RG_ERR_NOMEM);
    rg_optim_free(opt);
    rg_mlp_free(m);
    rg_graph_free(g);
    return H.failed;
}

/* One batch of the spiral, fed to the MLP's input and labels. */
static void feed_batch(rg_mlp *m)
{
    rg_dataset *ds = rg_data_spiral(8, 3, 0.1, 2);
    ck_assert_ptr_nonnull(ds);
    float x[16], y[8];
    for (int i = 0; i < 8; i++) {
        int r = (i * 3) % 24; /* rows from every arm */
        x[2 * i] = (float)ds->x[2 * r];
        x[2 * i + 1] = (float)ds->x[2 * r + 1];
        y[i] = (float)ds->labels[r];
    }
    rg_dataset_free(ds);
    ck_assert_int_eq(rg_feed(rg_mlp_input(m), x), RG_OK);
    ck_assert_int_eq(rg_feed(rg_mlp_labels(m), y), RG_OK);
}

static float ref_params[128];
static int ref_nvalues;

/* The parameters, flattened. */
static int flatten(rg_mlp *m, float *out)
{
    int n, count = 0;
    rg_node *const *p = rg_mlp_params(m, &n);
    for (int i = 0; i < n; i++) {
        int64_t sz = rg_node_size(p[i]);
        ck_assert_int_le(count + sz, 128);
        memcpy(out + count, rg_node_data(p[i]), sizeof(float) * (size_t)sz);
        count += (int)sz;
    }
    return count;
}

static rg_status step(rg_mlp *m, rg_optim *o)
{
    rg_status st = rg_mlp_backward(m);
    return st == RG_OK ? rg_optim_step(o) : st;
}

static bool op_train_step(long k)
{
    /* m takes two steps that never fail; m2, the same model, takes its first step with the
     * k-th allocation refused (retried after a failure), then a second one */
    rg_mlp_opts mo = mlp_opts();
    rg_graph *g = rg_graph_new(RG_F32);
    rg_mlp *m = rg_mlp_new(g, &mo);
    rg_optim *o = mlp_optim(m);
    ck_assert_ptr_nonnull(o);
    feed_batch(m);
    ck_assert_int_eq(step(m, o), RG_OK);
    rg_graph *g2 = rg_graph_new(RG_F32);
    rg_mlp *m2 = rg_mlp_new(g2, &mo);
    rg_optim *o2 = mlp_optim(m2);
    feed_batch(m2);
    arm(k);
    rg_status st = step(m2, o2);
    disarm();
    expect(st, "training step", k);
    bool failed = H.failed;
    if (failed) {
        assert_sticky(g2, "training step", k);
        ck_assert_int_eq(step(m2, o2), RG_OK);
    }
    /* a step that ran after a failed one is the step that never failed */
    uint64_t before = rg_graph_alloc_count(g2);
    ck_assert_int_eq(step(m, o), RG_OK);
    ck_assert_int_eq(step(m2, o2), RG_OK);
    ck_assert_uint_eq(rg_graph_alloc_count(g2), before); /* later steps allocate nothing */
    float a[128], b[128];
    int na = flatten(m, a), nb = flatten(m2, b);
    ck_assert_int_eq(na, nb);
    ck_assert_msg(memcmp(a, b, sizeof(float) * (size_t)na) == 0,
                  "training step: allocation %ld refused, then the parameters differ", k);
    if (!ref_nvalues) {
        memcpy(ref_params, a, sizeof(float) * (size_t)na);
        ref_nvalues = na;
    }
    ck_assert(memcmp(ref_params, a, sizeof(float) * (size_t)na) == 0);
    rg_optim_free(o2);
    rg_mlp_free(m2);
    rg_graph_free(g2);
    rg_optim_free(o);
    rg_mlp_free(m);
    rg_graph_free(g);
    return failed;
}

START_TEST(test_data_sets)
{
    install(_i);
    every_k("data sets", op_datasets);
}
END_TEST

START_TEST(test_mlp)
{
    install(_i);
    every_k("mlp and optimiser", op_mlp_new);
    every_k("training step", op_train_step);
}
END_TEST

/* rg_set_allocator(NULL) and an allocator lacking free_fn both restore the C library's. */
START_TEST(test_restore)
{
    install(0);
    rg_graph *g = rg_graph_new(RG_F64);
    ck_assert_int_gt(H.live, 0);
    rg_graph_free(g);
    ck_assert_int_eq(H.live, 0);
    long calls = H.calls;
    rg_set_allocator(NULL);
    g = rg_graph_new(RG_F64);
    rg_dataset *ds = rg_dataset_new(3, 2, RG_TARGET_CLASS, 2);
    ck_assert_int_eq(H.calls, calls); /* nothing went through the hook */
    rg_dataset_free(ds);
    rg_graph_free(g);
    rg_allocator half = {h_malloc, h_realloc, NULL, NULL};
    rg_set_allocator(&half);
    g = rg_graph_new(RG_F64);
    ck_assert_int_eq(H.calls, calls);
    rg_graph_free(g);
    /* a graph's own allocator wins over the process-wide one */
    rg_allocator a = {h_malloc, h_realloc, h_free, NULL};
    g = rg_graph_new_with_allocator(RG_F64, &a);
    ck_assert_int_gt(H.live, 0);
    rg_graph_free(g);
    ck_assert_int_eq(H.live, 0);
}
END_TEST

static Suite *alloc_fail_suite(void)
{
    Suite *s = suite_create("alloc_fail");
    const struct {
        const char *name;
        const TTest *fn;
    } cases[] = {
        {"graph_build", test_graph_build}, {"eval", test_eval},
        {"grad", test_grad},               {"gradcheck", test_gradcheck},
        {"csv", test_csv},                 {"idx", test_idx},
        {"model", test_model},             {"data_sets", test_data_sets},
        {"mlp", test_mlp},
    };
    for (int i = 0; i < N_OF(cases); i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_loop_test(tc, cases[i].fn, 0, 4);
        suite_add_tcase(s, tc);
    }
    TCase *tc = tcase_create("restore");
    tcase_add_test(tc, test_restore);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (!tu_tmpdir_make(tmpdir, sizeof tmpdir, "rg_test_alloc")) {
        perror("mkdtemp");
        return 1;
    }
    const int status = tu_run_suite(alloc_fail_suite());
    tu_tmpdir_remove(tmpdir);
    return status;
}
