/* Loading models: the file is read whole, then every header field, section length, CRC,
 * count, name and shape is checked against the bytes actually present before it is used
 * to size anything. The result then passes the same validation as a model being saved. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/data_internal.h"
#include "io/model_format.h"
#include "internal.h"

/* A bounded view of the bytes still to parse. */
typedef struct cur {
    const unsigned char *p;
    size_t n; /* bytes left */
} cur;

static uint64_t le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Takes k bytes (NULL when fewer are left). */
static const unsigned char *take(cur *c, size_t k)
{
    if (c->n < k)
        return NULL;
    const unsigned char *p = c->p;
    c->p += k;
    c->n -= k;
    return p;
}

typedef struct loader {
    const char *name; /* for messages */
    char *err;
    size_t errlen;
    const char *sec;  /* tag of the section being parsed */
} loader;

static rg_status bad(loader *L, const char *fmt, ...) RG__PRINTF(2, 3);

/* Reports a fault inside the section being parsed. */
static rg_status bad(loader *L, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rg__errf(L->err, L->errlen, "%s: corrupt model file: section %s: %s", L->name, L->sec, msg);
    return RG_ERR_FORMAT;
}

/* A length-prefixed (u16) name into a new string. */
static rg_status take_name(loader *L, cur *c, const char *what, char **out)
{
    const unsigned char *p = take(c, 2);
    if (!p)
        return bad(L, "%s name length cut off", what);
    size_t n = (size_t)le(p, 2);
    const unsigned char *s = take(c, n);
    if (!s)
        return bad(L, "%s name runs past the end of the section", what);
    const char *fault = rg__model_name_fault((const char *)s, n);
    if (fault) {
        char q[64];
        rg__quote(q, sizeof q, (const char *)s, n);
        return bad(L, "%s name '%s': %s", what, q, fault);
    }
    if (!(*out = rg__mem_strndup((const char *)s, n)))
        return RG_ERR_NOMEM;
    return RG_OK;
}

/* Decodes little-endian IEEE values into host doubles or floats. */
static void get_values(void *dst, const unsigned char *src, rg_dtype dtype, int64_t numel)
{
    for (int64_t i = 0; i < numel; i++) {
        if (dtype == RG_F32) {
            uint32_t u = (uint32_t)le(src + 4 * i, 4);
            memcpy((unsigned char *)dst + 4 * i, &u, 4);
        } else {
            uint64_t u = le(src + 8 * i, 8);
            memcpy((unsigned char *)dst + 8 * i, &u, 8);
        }
    }
}

static rg_status take_tensors(loader *L, cur *c, rg_model_tensor **list, int32_t *count)
{
    const unsigned char *p = take(c, 4);
    if (!p)
        return bad(L, "tensor count cut off");
    uint64_t n = le(p, 4);
    /* the smallest tensor (1-byte name, a scalar f32) takes 9 bytes: a count the section
     * cannot hold is rejected before anything is allocated for it */
    if (n > c->n / 9 || n > INT32_MAX) {
        return bad(L, "%llu tensors cannot fit in the section's %zu remaining bytes",
                   (unsigned long long)n, c->n);
    }
    *list = rg__mem_calloc((size_t)(n ? n : 1), sizeof(rg_model_tensor));
    if (!*list)
        return RG_ERR_NOMEM;
    *count = (int32_t)n; /* entries not filled yet are zero, which rg_model_free() skips */
    for (uint64_t i = 0; i < n; i++) {
        rg_model_tensor *t = &(*list)[i];
        rg_status st = take_name(L, c, "tensor", &t->name);
        if (st != RG_OK)
            return st;
        if (!(p = take(c, 2)))
            return bad(L, "tensor '%s': dtype and ndim cut off", t->name);
        if (p[0] != RG_F32 && p[0] != RG_F64)
            return bad(L, "tensor '%s': unknown dtype code", t->name);
        if (p[1] > RG_MAX_DIMS)
            return bad(L, "tensor '%s': more than 8 dimensions", t->name);
        t->dtype = (rg_dtype)p[0];
        t->ndim = p[1];
        if (!(p = take(c, 8 * (size_t)t->ndim)))
            return bad(L, "tensor '%s': shape cut off", t->name);
        for (int k = 0; k < t->ndim; k++) {
            uint64_t dim = le(p + 8 * k, 8);
            if (dim > (uint64_t)INT64_MAX)
                return bad(L, "tensor '%s': negative dimension", t->name);
            t->shape[k] = (int64_t)dim;
        }
        int64_t numel = rg_model_numel(t->ndim, t->shape);
        size_t es = rg__dtype_size(t->dtype);
        if (numel < 0 || (uint64_t)numel > c->n / es) {
            char sh[RG_MAX_DIMS * 24 + 2];
            rg_shape_str(t->ndim, t->shape, sh, sizeof sh);
            return bad(L, "tensor '%s' of shape %s needs more than the section's %zu remaining "
                       "bytes", t->name, sh, c->n);
        }
        p = take(c, (size_t)numel * es);
        if (!(t->data = rg__mem_malloc(numel ? (size_t)numel * es : 1)))
            return RG_ERR_NOMEM;
        get_values(t->data, p, t->dtype, numel);
    }
    const char *dup = NULL;
    if (rg__model_duplicate(&(*list)[0].name, (size_t)n, sizeof **list, &dup) != RG_OK)
        return RG_ERR_NOMEM;
    if (dup)
        return bad(L, "two tensors are named '%s'", dup);
    return RG_OK;
}

static rg_status parse_arch(loader *L, cur *c, rg_model *m)
{
    rg_model_desc *d = &m->desc;
    const unsigned char *p = take(c, 4);
    if (!p)
        return bad(L, "layer count cut off");
    uint64_t nl = le(p, 4);
    if (nl < 1 || nl > RG_MODEL_MAX_LAYERS)
        return bad(L, "layer count out of range (1 to 64)");
    d->nlayers = (int)nl;
    if (c->n != 8 * (nl + 1) + 2 * RG_MODEL_NAME_LEN + 8)
        return bad(L, "length does not match the layer count");
    p = take(c, 8 * (nl + 1));
    for (uint64_t i = 0; i <= nl; i++) {
        uint64_t s = le(p + 8 * i, 8);
        if (s < 1 || s > (uint64_t)RG__MAX_WIDTH)
            return bad(L, "a layer size is out of range (1 to 2^31 - 1)");
        d->sizes[i] = (int64_t)s;
    }
    memcpy(d->activation, take(c, RG_MODEL_NAME_LEN), RG_MODEL_NAME_LEN);
    memcpy(d->loss, take(c, RG_MODEL_NAME_LEN), RG_MODEL_NAME_LEN);
    uint64_t u = le(take(c, 8), 8);
    memcpy(&d->act_param, &u, 8);
    return RG_OK;
}

static rg_status parse_norm(loader *L, cur *c, rg_model *m)
{
    const unsigned char *p = take(c, 8);
    if (!p)
        return bad(L, "feature count cut off");
    uint64_t n = le(p, 8);
    if (n < 1 || n > c->n / 16 || c->n != 16 * n)
        return bad(L, "length does not match the feature count");
    m->mean = rg__mem_malloc(sizeof(double) * (size_t)n);
    m->std = rg__mem_malloc(sizeof(double) * (size_t)n);
    if (!m->mean || !m->std)
        return RG_ERR_NOMEM;
    m->nstats = (int64_t)n;
    get_values(m->mean, take(c, 8 * (size_t)n), RG_F64, (int64_t)n);
    get_values(m->std, take(c, 8 * (size_t)n), RG_F64, (int64_t)n);
    return RG_OK;
}

static rg_status parse_clas(loader *L, cur *c, rg_model *m)
{
    const unsigned char *p = take(c, 4);
    if (!p)
        return bad(L, "class count cut off");
    uint64_t n = le(p, 4);
    /* each name takes at least 3 bytes */
    if (n < 1 || n > RG__MAX_CLASS_NAMES || n > c->n / 3)
        return bad(L, "class count out of range");
    if (!(m->class_names = rg__mem_calloc((size_t)n, sizeof(char *))))
        return RG_ERR_NOMEM;
    m->nclass_names = (int32_t)n;
    for (uint64_t i = 0; i < n; i++) {
        rg_status st = take_name(L, c, "class", &m->class_names[i]);
        if (st != RG_OK)
            return st;
    }
    return RG_OK;
}

static rg_status parse_optm(loader *L, cur *c, rg_model *m)
{
    const unsigned char *p = take(c, RG_MODEL_NAME_LEN + 8);
    if (!p)
        return bad(L, "optimiser name and step cut off");
    memcpy(m->opt_name, p, RG_MODEL_NAME_LEN);
    m->opt_step = le(p + RG_MODEL_NAME_LEN, 8);
    m->has_opt = true;
    return take_tensors(L, c, &m->opt, &m->nopt);
}

static rg_status parse(loader *L, const unsigned char *buf, size_t len, rg_model *m)
{
    const char *name = L->name;
    cur c = {buf, len};
    size_t ml = len < RG__MODEL_MAGIC_LEN ? len : RG__MODEL_MAGIC_LEN;
    if (memcmp(buf, RG__MODEL_MAGIC, ml) != 0) {
        rg__errf(L->err, L->errlen, "%s: not a retrograd model file (wrong magic number)",
                 name);
        return RG_ERR_FORMAT;
    }
    if (len < RG__MODEL_HEADER_LEN) {
        rg__errf(L->err, L->errlen, "%s: truncated model file: %zu bytes, shorter than the "
                 "%d-byte header%s", name, len, RG__MODEL_HEADER_LEN, len ? "" : " (empty)");
        return RG_ERR_FORMAT;
    }
    const unsigned char *h = take(&c, RG__MODEL_HEADER_LEN);
    uint64_t version = le(h + 8, 4);
    if (version != RG_MODEL_VERSION) {
        rg__errf(L->err, L->errlen, "%s: unsupported model file version %llu (this library "
                 "reads version %d)", name, (unsigned long long)version, RG_MODEL_VERSION);
        return RG_ERR_FORMAT;
    }
    if (rg_crc32(0, h, 16) != (uint32_t)le(h + 16, 4)) {
        rg__errf(L->err, L->errlen, "%s: corrupt model file: header checksum mismatch", name);
        return RG_ERR_FORMAT;
    }
    uint64_t nsec = le(h + 12, 4);
    bool seen[5] = {false};
    static const char *const tags[5] = {RG__TAG_ARCH, RG__TAG_NORM, RG__TAG_CLAS, RG__TAG_PARM,
                                        RG__TAG_OPTM};
    for (uint64_t s = 0; s < nsec; s++) {
        size_t at = len - c.n;
        const unsigned char *sh = take(&c, RG__SECTION_HEAD);
        if (!sh) {
            rg__errf(L->err, L->errlen, "%s: truncated model file: %s at byte %zu (the header "
                     "announces %llu sections, %llu found)", name,
                     c.n ? "section header cut off" : "ends", at, (unsigned long long)nsec,
                     (unsigned long long)s);
            return RG_ERR_FORMAT;
        }
        char tag[5], q[24];
        memcpy(tag, sh, 4);
        tag[4] = '\0';
        rg__quote(q, sizeof q, tag, 4);
        uint64_t plen = le(sh + 4, 8);
        if (plen > c.n || c.n - plen < RG__SECTION_TAIL) {
            rg__errf(L->err, L->errlen, "%s: truncated model file: section %llu ('%s', at byte "
                     "%zu) declares %llu bytes and a %d-byte checksum, %zu remain", name,
                     (unsigned long long)s + 1, q, at, (unsigned long long)plen,
                     RG__SECTION_TAIL, c.n);
            return RG_ERR_FORMAT;
        }
        const unsigned char *payload = take(&c, (size_t)plen);
        uint32_t stored = (uint32_t)le(take(&c, 4), 4);
        uint32_t crc = rg_crc32(0, sh, RG__SECTION_HEAD);
        crc = rg_crc32(crc, payload, (size_t)plen);
        if (crc != stored) {
            rg__errf(L->err, L->errlen, "%s: corrupt model file: checksum mismatch in section "
                     "%llu ('%s', at byte %zu): stored 0x%08X, computed 0x%08X", name,
                     (unsigned long long)s + 1, q, at, stored, crc);
            return RG_ERR_FORMAT;
        }
        int which = -1;
        for (int k = 0; k < 5; k++)
            if (memcmp(tag, tags[k], 4) == 0)
                which = k;
        if (which < 0) {
            /* PNG's rule: a tag starting with a lowercase letter is optional and skipped by
             * readers that do not know it; any other unknown tag is required */
            if (tag[0] >= 'a' && tag[0] <= 'z')
                continue;
            rg__errf(L->err, L->errlen, "%s: unknown required section '%s' (a newer format?)",
                     name, q);
            return RG_ERR_FORMAT;
        }
        L->sec = tags[which];
        if (seen[which]) {
            rg__errf(L->err, L->errlen, "%s: corrupt model file: two %s sections", name,
                     L->sec);
            return RG_ERR_FORMAT;
        }
        seen[which] = true;
        cur pc = {payload, (size_t)plen};
        rg_status st;
        switch (which) {
        case 0: st = parse_arch(L, &pc, m); break;
        case 1: st = parse_norm(L, &pc, m); break;
        case 2: st = parse_clas(L, &pc, m); break;
        case 3: st = take_tensors(L, &pc, &m->params, &m->nparams); break;
        default: st = parse_optm(L, &pc, m); break;
        }
        if (st == RG_OK && pc.n != 0)
            st = bad(L, "bytes left over after the last entry");
        if (st == RG_ERR_NOMEM)
            rg__errf(L->err, L->errlen, "%s: out of memory", name);
        if (st != RG_OK)
            return st;
    }
    if (c.n != 0) {
        rg__errf(L->err, L->errlen, "%s: corrupt model file: %zu bytes after the last section",
                 name, c.n);
        return RG_ERR_FORMAT;
    }
    if (!seen[0] || !seen[3]) {
        rg__errf(L->err, L->errlen, "%s: corrupt model file: no %s section", name,
                 seen[0] ? RG__TAG_PARM : RG__TAG_ARCH);
        return RG_ERR_FORMAT;
    }
    char why[256];
    rg_status st = rg__model_check(m, why, sizeof why);
    if (st == RG_ERR_NOMEM) {
        rg__errf(L->err, L->errlen, "%s: out of memory", name);
        return st;
    }
    if (st != RG_OK) {
        rg__errf(L->err, L->errlen, "%s: corrupt model file: %s", name, why);
        return RG_ERR_FORMAT;
    }
    return RG_OK;
}

rg_status rg_model_load_mem(const void *buf, size_t len, const char *name, rg_model **out,
                            char *err, size_t errlen)
{
    if (out)
        *out = NULL;
    if (!name)
        name = "model";
    if (!out || (!buf && len > 0)) {
        rg__errf(err, errlen, "%s: no buffer or no output", name);
        return RG_ERR_ARG;
    }
    rg_model *m = rg_model_new();
    if (!m) {
        rg__errf(err, errlen, "%s: out of memory", name);
        return RG_ERR_NOMEM;
    }
    loader L = {.name = name, .err = err, .errlen = errlen, .sec = ""};
    static const unsigned char none[1] = {0};
    rg_status st = parse(&L, buf ? buf : none, len, m);
    if (st != RG_OK) {
        rg_model_free(m);
        return st;
    }
    *out = m;
    return RG_OK;
}

rg_status rg_model_load(const char *path, rg_model **out, char *err, size_t errlen)
{
    if (out)
        *out = NULL;
    if (!path || !out) {
        rg__errf(err, errlen, "model load: no path or no output");
        return RG_ERR_ARG;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        rg__errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return RG_ERR_IO;
    }
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        rg__errf(err, errlen, "%s: not a regular file", path);
        fclose(fp);
        return RG_ERR_IO;
    }
    /* the buffer is sized by the file itself, never by a count read from it */
    size_t len = (size_t)sb.st_size;
    unsigned char *buf = rg__mem_malloc(len ? len : 1);
    if (!buf) {
        rg__errf(err, errlen, "%s: out of memory reading %zu bytes", path, len);
        fclose(fp);
        return RG_ERR_NOMEM;
    }
    size_t got = fread(buf, 1, len, fp);
    bool rerr = ferror(fp) != 0;
    fclose(fp);
    if (got != len || rerr) {
        rg__errf(err, errlen, "%s: read error: %s", path,
                 rerr ? strerror(errno) : "file changed while reading");
        rg__mem_free(buf);
        return RG_ERR_IO;
    }
    rg_status st = rg_model_load_mem(buf, len, path, out, err, errlen);
    rg__mem_free(buf);
    return st;
}
