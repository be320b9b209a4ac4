/* io (src/io): CRC-32 against its catalogue value and a bitwise implementation; model files
 * saved and loaded bit for bit; the byte layout of docs/formats.md assembled by hand; every
 * truncation and every bit flip of a small file rejected; wrong magic, wrong version,
 * checksum and absurd sizes each with their own message; and atomic saving: a failed save
 * (missing directory, a write that fails part way under RLIMIT_FSIZE) leaves an existing
 * model as it was and no temporary file behind. */
#define _XOPEN_SOURCE 700 /* nftw, in tmpdir.h */
#include "testutil.h"
#include "tmpdir.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static char tmpdir[256];

static const char *tmp_path(const char *name)
{
    static char path[2][512];
    static int k;
    k ^= 1;
    snprintf(path[k], sizeof path[k], "%s/%s", tmpdir, name);
    return path[k];
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void write_all(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, n, f), n);
    fclose(f);
}

/* Files in tmpdir whose name holds ".tmp-" (leftover temporaries of a save). */
static int leftover_temps(void)
{
    DIR *d = opendir(tmpdir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strstr(e->d_name, ".tmp-") != NULL;
    closedir(d);
    return n;
}

/* ---- CRC-32 --------------------------------------------------------------------------- */

/* The CRC bit by bit: reflected polynomial 0xEDB88320, init and final xor all ones. */
static uint32_t crc_bitwise(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    }
    return ~c;
}

START_TEST(test_crc32)
{
    ck_assert_uint_eq(rg_crc32(0, "123456789", 9), 0xCBF43926u);
    ck_assert_uint_eq(rg_crc32(0, "", 0), 0);
    ck_assert_uint_eq(rg_crc32(rg_crc32(0, "12345", 5), "6789", 4), 0xCBF43926u);
    /* "The quick brown fox jumps over the lazy dog": 0x414FA339 (zlib's crc32) */
    ck_assert_uint_eq(rg_crc32(0, "The quick brown fox jumps over the lazy dog", 43),
                      0x414FA339u);
    unsigned char buf[4096];
    uint64_t s = 5;
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)tu_next(&s);
    for (size_t n = 0; n <= sizeof buf; n += 257)
        ck_assert_uint_eq(rg_crc32(0, buf, n), crc_bitwise(buf, n));
    /* every single byte value, i.e. each table entry's contribution */
    for (int b = 0; b < 256; b++) {
        unsigned char c = (unsigned char)b;
        ck_assert_uint_eq(rg_crc32(0, &c, 1), crc_bitwise(&c, 1));
    }
}
END_TEST

/* ---- round trip ----------------------------------------------------------------------- */

/* A model with every part filled, f32 and f64 tensors, a scalar, an empty tensor and
 * awkward values (-0, a subnormal, infinity, a NaN with a payload). */
static rg_model *sample_model(void)
{
    rg_model *m = rg_model_new();
    m->desc.nlayers = 2;
    m->desc.sizes[0] = 2;
    m->desc.sizes[1] = 3;
    m->desc.sizes[2] = 2;
    strcpy(m->desc.activation, "leaky_relu");
    strcpy(m->desc.loss, "ce");
    m->desc.act_param = 0.01;
    ck_assert_int_eq(rg_model_set_stats(m, 2, (const double[]){1.5, -2}, (const double[]){0.5, 3}),
                     RG_OK);
    ck_assert_int_eq(rg_model_set_class_names(m, 2, (const char *const[]){"cat", "dog"}), RG_OK);
    uint32_t nan_bits = 0x7FC12345u;
    float w1[6] = {1.0f, -0.0f, 1e-40f, 3.25f, -7.5f, 0};
    memcpy(&w1[5], &nan_bits, 4);
    double w2[6] = {0.1, -0.2, 1e-310, INFINITY, 5, -6};
    ck_assert_int_eq(rg_model_add_param(m, "W1", RG_F32, 2, (const int64_t[]){2, 3}, w1), RG_OK);
    ck_assert_int_eq(rg_model_add_param(m, "b1", RG_F32, 1, (const int64_t[]){3},
                                        (const float[]){1, 2, 3}), RG_OK);
    ck_assert_int_eq(rg_model_add_param(m, "W2", RG_F64, 2, (const int64_t[]){3, 2}, w2), RG_OK);
    ck_assert_int_eq(rg_model_add_param(m, "b2", RG_F64, 1, (const int64_t[]){2},
                                        (const double[]){-1, 1}), RG_OK);
    ck_assert_int_eq(rg_model_add_param(m, "scale", RG_F32, 0, NULL, (const float[]){2.5f}),
                     RG_OK);
    ck_assert_int_eq(rg_model_add_param(m, "none", RG_F64, 2, (const int64_t[]){0, 4}, NULL),
                     RG_OK);
    strcpy(m->opt_name, "adam");
    m->opt_step = 17;
    ck_assert_int_eq(rg_model_add_opt(m, "m.W1", RG_F32, 2, (const int64_t[]){2, 3}, w1), RG_OK);
    ck_assert_int_eq(rg_model_add_opt(m, "lr", RG_F64, 0, NULL, (const double[]){1e-3}), RG_OK);
    return m;
}

static void assert_same_tensors(const rg_model_tensor *a, const rg_model_tensor *b, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        ck_assert_str_eq(a[i].name, b[i].name);
        ck_assert_int_eq(a[i].dtype, b[i].dtype);
        ck_assert_int_eq(a[i].ndim, b[i].ndim);
        for (int k = 0; k < a[i].ndim; k++)
            ck_assert_int_eq(a[i].shape[k], b[i].shape[k]);
        int64_t numel = rg_model_numel(a[i].ndim, a[i].shape);
        size_t bytes = (size_t)numel * (a[i].dtype == RG_F32 ? 4 : 8);
        if (bytes)
            ck_assert_mem_eq(a[i].data, b[i].data, bytes);
    }
}

static void assert_same_model(const rg_model *a, const rg_model *b)
{
    ck_assert_mem_eq(&a->desc.sizes, &b->desc.sizes, sizeof(int64_t) * 3);
    ck_assert_int_eq(a->desc.nlayers, b->desc.nlayers);
    ck_assert_str_eq(a->desc.activation, b->desc.activation);
    ck_assert_str_eq(a->desc.loss, b->desc.loss);
    ck_assert_mem_eq(&a->desc.act_param, &b->desc.act_param, sizeof(double));
    ck_assert_int_eq(a->nstats, b->nstats);
    if (a->nstats) {
        ck_assert_mem_eq(a->mean, b->mean, sizeof(double) * (size_t)a->nstats);
        ck_assert_mem_eq(a->std, b->std, sizeof(double) * (size_t)a->nstats);
    }
    ck_assert_int_eq(a->nclass_names, b->nclass_names);
    for (int32_t i = 0; i < a->nclass_names; i++)
        ck_assert_str_eq(a->class_names[i], b->class_names[i]);
    ck_assert_int_eq(a->nparams, b->nparams);
    assert_same_tensors(a->params, b->params, a->nparams);
    ck_assert_int_eq(a->has_opt, b->has_opt);
    if (a->has_opt) {
        ck_assert_str_eq(a->opt_name, b->opt_name);
        ck_assert_uint_eq(a->opt_step, b->opt_step);
        ck_assert_int_eq(a->nopt, b->nopt);
        assert_same_tensors(a->opt, b->opt, a->nopt);
    }
}

START_TEST(test_round_trip)
{
    rg_model *m = sample_model();
    char err[512] = "";
    const char *p1 = tmp_path("rt1.rgm"), *p2 = tmp_path("rt2.rgm");
    ck_assert_msg(rg_model_save(p1, m, err, sizeof err) == RG_OK, "%s", err);
    rg_model *l = NULL;
    ck_assert_msg(rg_model_load(p1, &l, err, sizeof err) == RG_OK, "%s", err);
    assert_same_model(m, l);
    const rg_model_tensor *t = rg_model_param(l, "W2");
    ck_assert_ptr_nonnull(t);
    ck_assert_double_eq(((const double *)t->data)[2], 1e-310);
    ck_assert_ptr_null(rg_model_param(l, "W3"));
    ck_assert_ptr_nonnull(rg_model_opt(l, "lr"));
    /* the loaded model saves to the same bytes: the file is a function of the model */
    ck_assert_int_eq(rg_model_save(p2, l, err, sizeof err), RG_OK);
    size_t n1, n2;
    unsigned char *b1 = read_all(p1, &n1), *b2 = read_all(p2, &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert_mem_eq(b1, b2, n1);
    free(b1);
    free(b2);
    ck_assert_int_eq(leftover_temps(), 0);
    rg_model_free(l);
    rg_model_free(m);
    rg_model_free(NULL);
}
END_TEST

/* A model struct filled by the caller, pointing at the caller's buffers: nothing copied. */
START_TEST(test_borrowed_struct)
{
    float w[2] = {0.5f, -0.5f};
    rg_model_tensor params[1] = {{.name = "W1", .dtype = RG_F32, .ndim = 2, .shape = {2, 1},
                                  .data = w}};
    rg_model m = {.desc = {.nlayers = 1, .sizes = {2, 1}, .activation = "", .loss = "mse"},
                  .nparams = 1, .params = params};
    char err[256];
    const char *p = tmp_path("borrowed.rgm");
    ck_assert_int_eq(rg_model_save(p, &m, err, sizeof err), RG_OK);
    rg_model *l;
    ck_assert_int_eq(rg_model_load(p, &l, err, sizeof err), RG_OK);
    assert_same_model(&m, l);
    ck_assert(!l->has_opt && l->nstats == 0 && l->nclass_names == 0);
    rg_model_free(l);
}
END_TEST

/* ---- the documented layout, assembled by hand ----------------------------------------- */

typedef struct bytes {
    unsigned char b[4096];
    size_t n;
} bytes;

static void put(bytes *o, const void *p, size_t n)
{
    ck_assert_uint_le(o->n + n, sizeof o->b);
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

static void put_le(bytes *o, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) {
        unsigned char c = (unsigned char)(v >> (8 * i));
        put(o, &c, 1);
    }
}

/* header: magic, version, section count, CRC-32 of the 16 bytes before it */
static void put_header(bytes *o, uint32_t version, uint32_t nsec)
{
    put(o, "\x89RGM\r\n\x1A\n", 8);
    put_le(o, version, 4);
    put_le(o, nsec, 4);
    put_le(o, rg_crc32(0, o->b + o->n - 16, 16), 4);
}

/* section: tag, payload length (u64), payload, CRC-32 of tag + length + payload */
static void put_section(bytes *o, const char *tag, const bytes *payload)
{
    size_t start = o->n;
    put(o, tag, 4);
    put_le(o, payload->n, 8);
    put(o, payload->b, payload->n);
    put_le(o, rg_crc32(0, o->b + start, o->n - start), 4);
}

/* ARCH payload of a 2 -> 1 model, activation "relu", loss "mse", parameter 0 */
static void put_arch(bytes *o, uint32_t nlayers)
{
    char name[16] = "relu";
    put_le(o, nlayers, 4);
    for (uint32_t i = 0; i <= nlayers; i++)
        put_le(o, i == 0 ? 2 : 1, 8);
    put(o, name, 16);
    memset(name, 0, 16);
    strcpy(name, "mse");
    put(o, name, 16);
    put_le(o, 0, 8);
}

/* one tensor: u16 name length, name, u8 dtype, u8 ndim, u64 dims, values */
static void put_tensor_head(bytes *o, const char *name, int dtype, int ndim,
                            const uint64_t *dims)
{
    put_le(o, strlen(name), 2);
    put(o, name, strlen(name));
    put_le(o, (uint64_t)dtype, 1);
    put_le(o, (uint64_t)ndim, 1);
    for (int k = 0; k < ndim; k++)
        put_le(o, dims[k], 8);
}

START_TEST(test_layout_by_hand)
{
    /* the model: W1 f32 [2,1] = {1, -2}; standardisation mean {0, 1}, std {1, 4} */
    bytes want = {0}, arch = {0}, norm = {0}, parm = {0};
    put_arch(&arch, 1);
    put_le(&norm, 2, 8);
    put_le(&norm, 0x0000000000000000ull, 8);  /* 0.0 */
    put_le(&norm, 0x3FF0000000000000ull, 8);  /* 1.0 */
    put_le(&norm, 0x3FF0000000000000ull, 8);  /* 1.0 */
    put_le(&norm, 0x4010000000000000ull, 8);  /* 4.0 */
    put_le(&parm, 1, 4);
    put_tensor_head(&parm, "W1", 1, 2, (const uint64_t[]){2, 1});
    put_le(&parm, 0x3F800000u, 4); /* 1.0f */
    put_le(&parm, 0xC0000000u, 4); /* -2.0f */
    put_header(&want, 1, 3);
    put_section(&want, "ARCH", &arch);
    put_section(&want, "NORM", &norm);
    put_section(&want, "PARM", &parm);
    ck_assert_uint_eq(arch.n, 4 + 16 + 32 + 8);
    /* the example of docs/formats.md: 202 bytes, whose CRCs Python's zlib.crc32 gives as
     * 0x924a3c9d (header), 0x2083c413, 0x80dcfc7f, 0x44ccddb6 (sections) */
    ck_assert_uint_eq(want.n, 202);
    static const struct {
        size_t at;
        uint32_t crc;
    } crcs[] = {{0x10, 0x924A3C9Du}, {0x5C, 0x2083C413u}, {0x94, 0x80DCFC7Fu},
                {0xC6, 0x44CCDDB6u}};
    for (int i = 0; i < N_OF(crcs); i++) {
        uint32_t v = 0;
        for (int k = 3; k >= 0; k--)
            v = (v << 8) | want.b[crcs[i].at + (size_t)k];
        ck_assert_uint_eq(v, crcs[i].crc);
    }

    rg_model m = {.desc = {.nlayers = 1, .sizes = {2, 1}, .activation = "relu", .loss = "mse"},
                  .nstats = 2, .mean = (double[]){0, 1}, .std = (double[]){1, 4}, .nparams = 1,
                  .params = (rg_model_tensor[]){{.name = "W1", .dtype = RG_F32, .ndim = 2,
                                                 .shape = {2, 1}, .data = (float[]){1, -2}}}};
    char err[256];
    const char *p = tmp_path("layout.rgm");
    ck_assert_int_eq(rg_model_save(p, &m, err, sizeof err), RG_OK);
    size_t n;
    unsigned char *got = read_all(p, &n);
    ck_assert_uint_eq(n, want.n);
    ck_assert_mem_eq(got, want.b, n);
    free(got);
    /* and the hand-made bytes load */
    rg_model *l;
    ck_assert_int_eq(rg_model_load_mem(want.b, want.n, "hand", &l, err, sizeof err), RG_OK);
    ck_assert_double_eq(l->std[1], 4.0);
    rg_model_free(l);
}
END_TEST

/* ---- corrupted files ------------------------------------------------------------------ */

/* The bytes of sample_model() minus the large parts: a small file for exhaustive tests. */
static unsigned char *small_file(size_t *len)
{
    rg_model *m = sample_model();
    char err[256];
    const char *p = tmp_path("small.rgm");
    ck_assert_int_eq(rg_model_save(p, m, err, sizeof err), RG_OK);
    rg_model_free(m);
    return read_all(p, len);
}

START_TEST(test_every_truncation)
{
    size_t len;
    unsigned char *b = small_file(&len);
    char err[512];
    for (size_t n = 0; n < len; n++) {
        rg_model *l = (rg_model *)1;
        rg_status st = rg_model_load_mem(n ? b : NULL, n, "cut", &l, err, sizeof err);
        ck_assert_msg(st == RG_ERR_FORMAT, "length %zu: status %d", n, st);
        ck_assert_ptr_null(l);
        ck_assert_msg(strstr(err, "cut: truncated model file") == err, "length %zu: %s", n, err);
    }
    /* also from a file, and an empty file */
    const char *p = tmp_path("cut.rgm");
    write_all(p, b, len / 2);
    rg_model *l;
    ck_assert_int_eq(rg_model_load(p, &l, err, sizeof err), RG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err, "truncated model file"));
    write_all(p, b, 0);
    ck_assert_int_eq(rg_model_load(p, &l, err, sizeof err), RG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err, "(empty)"));
    free(b);
}
END_TEST

/* Every bit of every byte flipped in turn: each flip is caught, because every byte is either
 * a validated header field (magic, version) or covered by a CRC-32, which detects every
 * error burst of up to 32 bits. */
START_TEST(test_every_bit_flip)
{
    size_t len;
    unsigned char *b = small_file(&len);
    char err[512];
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 9; bit++) {
            unsigned char mask = bit == 8 ? 0xFF : (unsigned char)(1u << bit);
            b[i] ^= mask;
            rg_model *l = NULL;
            rg_status st = rg_model_load_mem(b, len, "flip", &l, err, sizeof err);
            b[i] ^= mask;
            ck_assert_msg(st == RG_ERR_FORMAT, "byte %zu mask 0x%02X: loaded (status %d)", i,
                          mask, st);
            ck_assert_ptr_null(l);
            const char *expect = i < 8    ? "not a retrograd model file"
                                 : i < 12 ? "unsupported model file version"
                                 : i < 20 ? "header checksum mismatch"
                                          : NULL;
            if (expect)
                ck_assert_msg(strstr(err, expect), "byte %zu: %s", i, err);
            else
                ck_assert_msg(strstr(err, "checksum mismatch in section") ||
                                  strstr(err, "truncated model file"),
                              "byte %zu: %s", i, err);
        }
    }
    free(b);
}
END_TEST

START_TEST(test_distinct_messages)
{
    size_t len;
    unsigned char *b = small_file(&len);
    char err[4][512];
    rg_model *l;
    /* wrong version, with a header checksum that matches it */
    unsigned char *v = malloc(len);
    memcpy(v, b, len);
    v[8] = 2;
    uint32_t c = rg_crc32(0, v, 16);
    for (int i = 0; i < 4; i++)
        v[16 + i] = (unsigned char)(c >> (8 * i));
    ck_assert_int_eq(rg_model_load_mem(v, len, "m", &l, err[0], 512), RG_ERR_FORMAT);
    ck_assert_str_eq(err[0], "m: unsupported model file version 2 (this library reads version "
                             "1)");
    /* wrong magic: a PNG */
    memcpy(v, b, len);
    memcpy(v, "\x89PNG\r\n\x1A\n", 8);
    ck_assert_int_eq(rg_model_load_mem(v, len, "m", &l, err[1], 512), RG_ERR_FORMAT);
    ck_assert_str_eq(err[1], "m: not a retrograd model file (wrong magic number)");
    /* one flipped bit in the NORM section: the second, at byte 20 + (12 + 68 + 4) = 104, past
     * ARCH's tag and length, its 68-byte payload (4 + 3 * 8 + 2 * 16 + 8) and CRC */
    memcpy(v, b, len);
    v[104 + 12 + 3] ^= 0x10;
    ck_assert_int_eq(rg_model_load_mem(v, len, "m", &l, err[2], 512), RG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err[2], "m: corrupt model file: checksum mismatch in section 2 "
                                         "('NORM', at byte 104)"));
    /* truncated */
    ck_assert_int_eq(rg_model_load_mem(b, len - 1, "m", &l, err[3], 512), RG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err[3], "m: truncated model file"));
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            if (i != j)
                ck_assert_str_ne(err[i], err[j]);
    /* bytes after the last section */
    unsigned char *t = malloc(len + 3);
    memcpy(t, b, len);
    memset(t + len, 0, 3);
    ck_assert_int_eq(rg_model_load_mem(t, len + 3, "m", &l, err[0], 512), RG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err[0], "3 bytes after the last section"));
    free(t);
    free(v);
    free(b);
}
END_TEST

/* Files with valid checksums but contents a loader must not trust. */
enum { F_HUGE_SHAPE, F_COUNT, F_LAYERS, F_NORM_SIZE, F_UNKNOWN_REQ, F_UNKNOWN_OPT, F_DUP_ARCH,
       F_NO_PARM, F_NAME_CTRL, F_DUP_NAME, F_DTYPE, F_NDIM, F_ACT_NUL, F_NSEC, F_LEFTOVER };

static const struct crafted {
    int kind;
    const char *msg; /* NULL: loads */
} crafted[] = {
    {F_HUGE_SHAPE, "section PARM: tensor 'W' of shape [1099511627776,1099511627776] needs more "
                   "than the section's 4 remaining bytes"},
    {F_COUNT, "section PARM: 2147483647 tensors cannot fit in the section's 0 remaining bytes"},
    {F_LAYERS, "section ARCH: layer count out of range (1 to 64)"},
    {F_NORM_SIZE, "standardisation: 3 features, but the input has 2"},
    {F_UNKNOWN_REQ, "unknown required section 'ZZZZ'"},
    {F_UNKNOWN_OPT, NULL},
    {F_DUP_ARCH, "two ARCH sections"},
    {F_NO_PARM, "no PARM section"},
    {F_NAME_CTRL, "section PARM: tensor name 'a\\x0Ab': control character in name"},
    {F_DUP_NAME, "section PARM: two tensors are named 'W'"},
    {F_DTYPE, "tensor 'W': unknown dtype code"},
    {F_NDIM, "tensor 'W': more than 8 dimensions"},
    {F_ACT_NUL, "activation name: not NUL-terminated within 16 bytes"},
    {F_NSEC, "truncated model file: ends at byte"},
    {F_LEFTOVER, "section PARM: bytes left over after the last entry"},
};

START_TEST(test_crafted_sizes)
{
    const struct crafted *c = &crafted[_i];
    bytes f = {0}, arch = {0}, parm = {0}, extra = {0};
    put_arch(&arch, c->kind == F_LAYERS ? 65 : 1);
    if (c->kind == F_ACT_NUL)
        memset(arch.b + 4 + 16, 'x', 16);
    put_le(&parm, c->kind == F_COUNT ? 0x7FFFFFFF : c->kind == F_DUP_NAME ? 2 : 1, 4);
    if (c->kind == F_HUGE_SHAPE) {
        put_tensor_head(&parm, "W", 1, 2, (const uint64_t[]){1ull << 40, 1ull << 40});
        put_le(&parm, 0, 4);
    } else if (c->kind != F_COUNT) {
        int reps = c->kind == F_DUP_NAME ? 2 : 1;
        for (int r = 0; r < reps; r++) {
            put_tensor_head(&parm, c->kind == F_NAME_CTRL ? "a\nb" : "W",
                            c->kind == F_DTYPE ? 3 : 1, c->kind == F_NDIM ? 9 : 1,
                            (const uint64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1});
            put_le(&parm, 0x3F800000u, 4);
        }
        if (c->kind == F_LEFTOVER)
            put_le(&parm, 0, 1);
    }
    int nsec = 2;
    if (c->kind == F_NORM_SIZE || c->kind == F_UNKNOWN_REQ || c->kind == F_UNKNOWN_OPT ||
        c->kind == F_DUP_ARCH)
        nsec = 3;
    if (c->kind == F_NO_PARM)
        nsec = 1;
    put_header(&f, 1, c->kind == F_NSEC ? 1000 : (uint32_t)nsec);
    put_section(&f, "ARCH", &arch);
    if (c->kind == F_NORM_SIZE) {
        put_le(&extra, 3, 8);
        for (int i = 0; i < 6; i++)
            put_le(&extra, 0x3FF0000000000000ull, 8);
        put_section(&f, "NORM", &extra);
    } else if (c->kind == F_UNKNOWN_REQ || c->kind == F_UNKNOWN_OPT) {
        put_le(&extra, 42, 4);
        put_section(&f, c->kind == F_UNKNOWN_REQ ? "ZZZZ" : "zzzz", &extra);
    } else if (c->kind == F_DUP_ARCH) {
        put_section(&f, "ARCH", &arch);
    }
    if (c->kind != F_NO_PARM)
        put_section(&f, "PARM", &parm);
    rg_model *l = NULL;
    char err[512] = "";
    rg_status st = rg_model_load_mem(f.b, f.n, "crafted", &l, err, sizeof err);
    if (!c->msg) {
        ck_assert_msg(st == RG_OK, "case %d: %s", _i, err);
        ck_assert_int_eq(l->nparams, 1);
        rg_model_free(l);
        return;
    }
    ck_assert_msg(st == RG_ERR_FORMAT, "case %d: status %d: %s", _i, st, err);
    ck_assert_ptr_null(l);
    ck_assert_msg(strstr(err, c->msg) != NULL, "case %d: '%s' lacks '%s'", _i, err, c->msg);
}
END_TEST

/* ---- saving: validation and atomicity ------------------------------------------------- */

START_TEST(test_save_validates)
{
    char err[512];
    const char *p = tmp_path("invalid.rgm");
    rg_model *m = sample_model();
    m->desc.nlayers = 0;
    ck_assert_int_eq(rg_model_save(p, m, err, sizeof err), RG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err, "not saved: architecture: 0 layers"));
    m->desc.nlayers = 2;
    m->desc.sizes[0] = 3;
    ck_assert_int_eq(rg_model_save(p, m, err, sizeof err), RG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err, "standardisation: 2 features, but the input has 3"));
    m->desc.sizes[0] = 2;
    m->std[1] = 0;
    ck_assert_int_eq(rg_model_save(p, m, err, sizeof err), RG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err, "feature 1"));
    m->std[1] = 1;
    free(m->params[1].name);
    m->params[1].name = strdup("W1");
    ck_assert_int_eq(rg_model_validate(m, err, sizeof err), RG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err, "parameters: two tensors are named 'W1'"));
    ck_assert_int_eq(access(p, F_OK), -1);
    ck_assert_int_eq(leftover_temps(), 0);
    /* the copying setters refuse what the file could not hold */
    ck_assert_int_eq(rg_model_add_param(m, "W2", RG_F64, 1, (const int64_t[]){1},
                                        (const double[]){1}), RG_ERR_ARG);
    ck_assert_int_eq(rg_model_add_param(m, "x\ty", RG_F64, 0, NULL, (const double[]){1}),
                     RG_ERR_ARG);
    ck_assert_int_eq(rg_model_add_param(m, "neg", RG_F64, 1, (const int64_t[]){-1}, NULL),
                     RG_ERR_ARG);
    ck_assert_int_eq(rg_model_add_param(m, "dt", (rg_dtype)9, 0, NULL, (const double[]){1}),
                     RG_ERR_ARG);
    rg_model_free(m);
}
END_TEST

START_TEST(test_save_replaces_atomically)
{
    char err[512];
    const char *p = tmp_path("replace.rgm");
    rg_model *m = sample_model();
    write_all(p, "old contents", 12);
    chmod(p, 0640);
    ck_assert_int_eq(rg_model_save(p, m, err, sizeof err), RG_OK);
    struct stat sb;
    ck_assert_int_eq(stat(p, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0640);
    rg_model *l;
    ck_assert_int_eq(rg_model_load(p, &l, err, sizeof err), RG_OK);
    rg_model_free(l);
    ck_assert_int_eq(leftover_temps(), 0);
    /* a directory that does not exist: nothing is created anywhere */
    const char *q = tmp_path("no-such-dir/m.rgm");
    ck_assert_int_eq(rg_model_save(q, m, err, sizeof err), RG_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err, "cannot create a temporary file next to it"));
    ck_assert_int_eq(access(tmp_path("no-such-dir"), F_OK), -1);
    /* a target that is a directory: the rename fails, the temporary is removed */
    const char *d = tmp_path("a-directory");
    ck_assert_int_eq(mkdir(d, 0755), 0);
    ck_assert_int_eq(rg_model_save(d, m, err, sizeof err), RG_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err, "cannot rename the temporary file over it"));
    ck_assert_int_eq(leftover_temps(), 0);
    rmdir(d);
    rg_model_free(m);
}
END_TEST

/* A save that fails part way through writing: the file-size limit (RLIMIT_FSIZE, which
 * binds root too) makes write() fail with EFBIG once the temporary file reaches 16 kB, while
 * the model needs about 400 kB. The old model must be intact and no temporary left. */
START_TEST(test_failed_save_keeps_old_model)
{
    char err[512];
    const char *p = tmp_path("keep.rgm");
    rg_model *small = sample_model();
    ck_assert_int_eq(rg_model_save(p, small, err, sizeof err), RG_OK);
    size_t n0;
    unsigned char *before = read_all(p, &n0);
    ck_assert_uint_lt(n0, 16384);

    rg_model *big = sample_model();
    float *w = calloc(100000, sizeof(float));
    ck_assert_int_eq(rg_model_add_param(big, "big", RG_F32, 1, (const int64_t[]){100000}, w),
                     RG_OK);
    free(w);
    struct rlimit old, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 16384;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN); /* else the signal ends the process */
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    rg_status st = rg_model_save(p, big, err, sizeof err);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    ck_assert_int_eq(st, RG_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err, "not saved (an existing file is unchanged)"));
    ck_assert_ptr_nonnull(strstr(err, "File too large"));

    size_t n1;
    unsigned char *after = read_all(p, &n1);
    ck_assert_uint_eq(n0, n1);
    ck_assert_mem_eq(before, after, n0);
    ck_assert_int_eq(leftover_temps(), 0);
    rg_model *l;
    ck_assert_int_eq(rg_model_load(p, &l, err, sizeof err), RG_OK);
    assert_same_model(small, l);
    rg_model_free(l);
    /* without the limit the same save succeeds */
    ck_assert_int_eq(rg_model_save(p, big, err, sizeof err), RG_OK);
    ck_assert_int_eq(rg_model_load(p, &l, err, sizeof err), RG_OK);
    ck_assert_int_eq(l->nparams, 7);
    rg_model_free(l);
    free(before);
    free(after);
    rg_model_free(small);
    rg_model_free(big);
}
END_TEST

START_TEST(test_load_errors)
{
    char err[512];
    rg_model *l;
    ck_assert_int_eq(rg_model_load(tmp_path("absent.rgm"), &l, err, sizeof err), RG_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err, "cannot open"));
    ck_assert_int_eq(rg_model_load(tmpdir, &l, err, sizeof err), RG_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
    ck_assert_int_eq(rg_model_load(NULL, &l, err, sizeof err), RG_ERR_ARG);
}
END_TEST

/* ---- suite ---------------------------------------------------------------------------- */

static Suite *io_suite(void)
{
    Suite *s = suite_create("io");
    const tu_case cases[] = {
        {"crc32", test_crc32, 0},
        {"round_trip", test_round_trip, 0},
        {"borrowed_struct", test_borrowed_struct, 0},
        {"layout_by_hand", test_layout_by_hand, 0},
        {"every_truncation", test_every_truncation, 0},
        {"every_bit_flip", test_every_bit_flip, 0},
        {"distinct_messages", test_distinct_messages, 0},
        {"crafted_sizes", test_crafted_sizes, N_OF(crafted)},
        {"save_validates", test_save_validates, 0},
        {"save_replaces_atomically", test_save_replaces_atomically, 0},
        {"failed_save_keeps_old_model", test_failed_save_keeps_old_model, 0},
        {"load_errors", test_load_errors, 0},
    };
    tu_add_cases(s, cases, sizeof cases / sizeof *cases);
    return s;
}

int main(void)
{
    if (!tu_tmpdir_make(tmpdir, sizeof tmpdir, "rg_test_io")) {
        perror("mkdtemp");
        return 1;
    }
    const int status = tu_run_suite(io_suite());
    tu_tmpdir_remove(tmpdir);
    return status;
}
