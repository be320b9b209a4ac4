/* Writes the binary seeds of the fuzz corpus: IDX files and model files, valid ones made by
 * the library (models) or by the format's definition (IDX), and a few broken variants of
 * each. Run from the source tree: make_seeds fuzz/corpus (the idx/ and model/ directories
 * must exist). The text seeds (expr/, csv/) are written by hand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retrograd.h"

static const char *dir;

static void put(const char *sub, const char *name, const unsigned char *b, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "make_seeds: cannot write %s\n", path);
        exit(1);
    }
}

/* ---- IDX: magic 0 0 type ndim, ndim big-endian u32 sizes, big-endian elements ---------- */

typedef struct idx_buf {
    unsigned char b[512];
    size_t n;
} idx_buf;

static void be(idx_buf *x, unsigned long long v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        x->b[x->n++] = (unsigned char)(v >> (8 * i));
}

static void idx_head(idx_buf *x, int type, int ndim, const unsigned *dims)
{
    x->n = 0;
    be(x, 0, 2);
    be(x, (unsigned)type, 1);
    be(x, (unsigned)ndim, 1);
    for (int i = 0; i < ndim; i++)
        be(x, dims[i], 4);
}

static void idx_seeds(void)
{
    idx_buf x;
    /* three 2x2 ubyte images, as MNIST's images file */
    idx_head(&x, 0x08, 3, (const unsigned[]){3, 2, 2});
    for (int i = 0; i < 12; i++)
        be(&x, (unsigned)(i * 21), 1);
    put("idx", "images-ubyte", x.b, x.n);
    /* the same with the last byte missing, and with one byte too many */
    put("idx", "images-truncated", x.b, x.n - 1);
    be(&x, 7, 1);
    put("idx", "images-trailing", x.b, x.n);

    /* labels: ubyte [4] */
    idx_head(&x, 0x08, 1, (const unsigned[]){4});
    for (int i = 0; i < 4; i++)
        be(&x, (unsigned)(i % 3), 1);
    put("idx", "labels-ubyte", x.b, x.n);
    /* labels: int [3], one negative */
    idx_head(&x, 0x0C, 1, (const unsigned[]){3});
    be(&x, 1, 4);
    be(&x, 0xFFFFFFFFu, 4);
    be(&x, 2, 4);
    put("idx", "labels-int-negative", x.b, x.n);

    /* sbyte [2,3], short [2,2], float [2,2] (one NaN), double [3] */
    idx_head(&x, 0x09, 2, (const unsigned[]){2, 3});
    for (int i = 0; i < 6; i++)
        be(&x, (unsigned)(0x80 + 40 * i), 1);
    put("idx", "sbyte-2x3", x.b, x.n);
    idx_head(&x, 0x0B, 2, (const unsigned[]){2, 2});
    be(&x, 1, 2);
    be(&x, 0x8000, 2);
    be(&x, 0x7FFF, 2);
    be(&x, 3, 2);
    put("idx", "short-2x2", x.b, x.n);
    idx_head(&x, 0x0D, 2, (const unsigned[]){2, 2});
    be(&x, 0x3F800000u, 4); /* 1.0f */
    be(&x, 0xC0000000u, 4); /* -2.0f */
    be(&x, 0x7FC00000u, 4); /* NaN */
    be(&x, 0x00000001u, 4); /* the smallest subnormal */
    put("idx", "float-nan", x.b, x.n);
    idx_head(&x, 0x0E, 1, (const unsigned[]){3});
    be(&x, 0x3FF0000000000000ull, 8); /* 1.0 */
    be(&x, 0x7FEFFFFFFFFFFFFFull, 8); /* DBL_MAX */
    be(&x, 0x8000000000000000ull, 8); /* -0.0 */
    put("idx", "double-3", x.b, x.n);

    /* headers: zero items, eight dimensions, a size that lies, an unknown type, no
     * dimensions, gzip */
    idx_head(&x, 0x08, 2, (const unsigned[]){0, 5});
    put("idx", "empty-0x5", x.b, x.n);
    idx_head(&x, 0x08, 8, (const unsigned[]){1, 1, 1, 1, 1, 1, 1, 2});
    be(&x, 1, 1);
    be(&x, 2, 1);
    put("idx", "ubyte-8d", x.b, x.n);
    idx_head(&x, 0x08, 2, (const unsigned[]){0xFFFFFFFFu, 0xFFFFFFFFu});
    be(&x, 1, 1);
    put("idx", "lying-sizes", x.b, x.n);
    idx_head(&x, 0x0A, 1, (const unsigned[]){1});
    be(&x, 1, 1);
    put("idx", "unknown-type", x.b, x.n);
    idx_head(&x, 0x08, 0, NULL);
    put("idx", "no-dims", x.b, x.n);
    put("idx", "gzip", (const unsigned char *)"\x1f\x8b\x08\x00\x00\x00\x00\x00", 8);
}

/* ---- model files: written by rg_model_save, then read back to derive broken copies ----- */

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b = malloc(1 << 16);
    if (!f || !b) {
        fprintf(stderr, "make_seeds: cannot read %s\n", path);
        exit(1);
    }
    *n = fread(b, 1, 1 << 16, f);
    fclose(f);
    return b;
}

static void save(rg_model *m, const char *name)
{
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/model/%s", dir, name);
    if (rg_model_save(path, m, err, sizeof err) != RG_OK) {
        fprintf(stderr, "make_seeds: %s\n", err);
        exit(1);
    }
    rg_model_free(m);
}

static void model_seeds(void)
{
    /* a 2-3-2 network as `retrograd train` saves one: f32 parameters W1 b1 W2 b2,
     * standardisation, class names and Adam's state */
    rg_model *m = rg_model_new();
    m->desc.nlayers = 2;
    m->desc.sizes[0] = 2;
    m->desc.sizes[1] = 3;
    m->desc.sizes[2] = 2;
    strcpy(m->desc.activation, "relu");
    strcpy(m->desc.loss, "ce");
    float w1[6] = {0.5f, -1, 0.25f, 2, 0, -0.5f}, b1[3] = {0, 0.1f, -0.1f};
    float w2[6] = {1, -1, 0.5f, 0.5f, -2, 1}, b2[2] = {0.2f, -0.2f};
    double mean[2] = {0.5, -1}, sd[2] = {1, 2};
    const char *classes[2] = {"cat", "dog"};
    rg_model_add_param(m, "W1", RG_F32, 2, (const int64_t[]){2, 3}, w1);
    rg_model_add_param(m, "b1", RG_F32, 1, (const int64_t[]){3}, b1);
    rg_model_add_param(m, "W2", RG_F32, 2, (const int64_t[]){3, 2}, w2);
    rg_model_add_param(m, "b2", RG_F32, 1, (const int64_t[]){2}, b2);
    rg_model_set_stats(m, 2, mean, sd);
    rg_model_set_class_names(m, 2, classes);
    m->has_opt = true;
    strcpy(m->opt_name, "adam");
    m->opt_step = 3;
    rg_model_add_opt(m, "W1.m", RG_F32, 2, (const int64_t[]){2, 3}, w1);
    rg_model_add_opt(m, "W1.v", RG_F32, 2, (const int64_t[]){2, 3}, w2);
    double lr = 0.01;
    rg_model_add_opt(m, "lr", RG_F64, 0, NULL, &lr);
    save(m, "mlp-2-3-2");

    /* the smallest: one 1-1 layer in f64, nothing else */
    m = rg_model_new();
    m->desc.nlayers = 1;
    m->desc.sizes[0] = 1;
    m->desc.sizes[1] = 1;
    strcpy(m->desc.activation, "leaky_relu");
    strcpy(m->desc.loss, "mse");
    m->desc.act_param = 0.01;
    double w[1] = {1.5}, b[1] = {-0.5};
    rg_model_add_param(m, "W1", RG_F64, 2, (const int64_t[]){1, 1}, w);
    rg_model_add_param(m, "b1", RG_F64, 1, (const int64_t[]){1}, b);
    save(m, "linear-1-1");

    /* broken copies of the first: cut in the middle, one payload byte flipped (checksum
     * mismatch), the version changed (header checksum then wrong too), the magic changed */
    char path[1024];
    snprintf(path, sizeof path, "%s/model/mlp-2-3-2", dir);
    size_t n;
    unsigned char *b0 = slurp(path, &n);
    put("model", "mlp-truncated", b0, n / 2);
    b0[n / 2] ^= 0x40;
    put("model", "mlp-bad-crc", b0, n);
    b0[n / 2] ^= 0x40;
    b0[8] = 2;
    put("model", "mlp-version-2", b0, n);
    b0[8] = 1;
    b0[1] = 'X';
    put("model", "mlp-bad-magic", b0, n);
    free(b0);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds CORPUS_DIR (fuzz/corpus)\n");
        return 2;
    }
    dir = argv[1];
    idx_seeds();
    model_seeds();
    return 0;
}
