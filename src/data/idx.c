/* IDX reader (the MNIST format): a 4-byte magic (0, 0, element type, ndim), ndim big-endian
 * 32-bit sizes, then the elements, big-endian, row-major. The sizes must account for the
 * file's length exactly; that is checked before anything is allocated, so a header claiming
 * more data than the file holds costs nothing. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/data_internal.h"
#include "internal.h"

static int type_size(int type)
{
    switch (type) {
    case RG_IDX_UBYTE:
    case RG_IDX_SBYTE: return 1;
    case RG_IDX_SHORT: return 2;
    case RG_IDX_INT:
    case RG_IDX_FLOAT: return 4;
    case RG_IDX_DOUBLE: return 8;
    default: return 0;
    }
}

static const char *type_name(int type)
{
    switch (type) {
    case RG_IDX_UBYTE: return "ubyte";
    case RG_IDX_SBYTE: return "sbyte";
    case RG_IDX_SHORT: return "short";
    case RG_IDX_INT: return "int";
    case RG_IDX_FLOAT: return "float";
    default: return "double";
    }
}

static uint64_t be_u(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Element `p` (of type `type`, big-endian) as a double. */
static double decode(const unsigned char *p, int type)
{
    switch (type) {
    case RG_IDX_UBYTE: return (double)p[0];
    case RG_IDX_SBYTE: return (double)(int8_t)p[0];
    case RG_IDX_SHORT: return (double)(int16_t)(uint16_t)be_u(p, 2);
    case RG_IDX_INT: return (double)(int32_t)(uint32_t)be_u(p, 4);
    case RG_IDX_FLOAT: {
        uint32_t u = (uint32_t)be_u(p, 4);
        float f;
        memcpy(&f, &u, sizeof f);
        return (double)f;
    }
    default: {
        uint64_t u = be_u(p, 8);
        double d;
        memcpy(&d, &u, sizeof d);
        return d;
    }
    }
}

void rg_idx_array_free(rg_idx_array *a)
{
    if (!a)
        return;
    rg__mem_free(a->data);
    rg__mem_free(a);
}

/* "[60000,28,28]" */
static void dims_str(const int64_t *dims, int ndim, char *buf, size_t len)
{
    size_t o = 0;
    o += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? "," : "", (long long)dims[i]);
    if (o < len)
        snprintf(buf + o, len - o, "]");
}

static rg_status read_open(FILE *fp, const char *path, bool scale01, rg_idx_array **out,
                           char *err, size_t errlen)
{
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        rg__errf(err, errlen, "%s: not a regular file", path);
        return RG_ERR_IO;
    }
    uint64_t fsize = (uint64_t)sb.st_size;
    unsigned char head[4 + 4 * RG_MAX_DIMS];
    size_t got = fread(head, 1, 4, fp);
    if (got < 4) {
        rg__errf(err, errlen, "%s: %zu bytes: too short for an IDX header", path, got);
        return RG_ERR_FORMAT;
    }
    if (head[0] == 0x1F && head[1] == 0x8B) {
        rg__errf(err, errlen, "%s: gzip-compressed: decompress it first (gunzip)", path);
        return RG_ERR_FORMAT;
    }
    if (head[0] != 0 || head[1] != 0) {
        rg__errf(err, errlen, "%s: bad magic 0x%02X%02X%02X%02X: an IDX file starts with two "
                 "zero bytes", path, head[0], head[1], head[2], head[3]);
        return RG_ERR_FORMAT;
    }
    int type = head[2], ndim = head[3];
    int esize = type_size(type);
    if (esize == 0) {
        rg__errf(err, errlen, "%s: unknown element type 0x%02X (known: 0x08 ubyte, 0x09 "
                 "sbyte, 0x0B short, 0x0C int, 0x0D float, 0x0E double)", path, type);
        return RG_ERR_FORMAT;
    }
    if (ndim < 1 || ndim > RG_MAX_DIMS) {
        rg__errf(err, errlen, "%s: %d dimensions (supported: 1 to %d)", path, ndim,
                 RG_MAX_DIMS);
        return RG_ERR_FORMAT;
    }
    got = fread(head + 4, 1, 4 * (size_t)ndim, fp);
    if (got < 4 * (size_t)ndim) {
        rg__errf(err, errlen, "%s: truncated header: %d dimensions need %d bytes, the file has "
                 "%llu", path, ndim, 4 + 4 * ndim, (unsigned long long)fsize);
        return RG_ERR_FORMAT;
    }
    int64_t dims[RG_MAX_DIMS];
    /* sizes are at most 2^32 - 1 each; the product is tracked against the file size, so it
     * stops growing long before it could overflow */
    uint64_t hsize = 4 + 4 * (uint64_t)ndim, count = 1;
    bool too_big = false;
    for (int i = 0; i < ndim; i++) {
        dims[i] = (int64_t)be_u(head + 4 + 4 * i, 4);
        if (!too_big && dims[i] > 0 && count > (fsize / (uint64_t)esize) / (uint64_t)dims[i])
            too_big = true;
        count *= too_big ? 1 : (uint64_t)dims[i];
    }
    char ds[160];
    dims_str(dims, ndim, ds, sizeof ds);
    if (too_big || hsize + count * (uint64_t)esize > fsize) {
        rg__errf(err, errlen, "%s: truncated or lying header: sizes %s of %s need more than "
                 "the file's %llu bytes", path, ds, type_name(type), (unsigned long long)fsize);
        return RG_ERR_FORMAT;
    }
    if (hsize + count * (uint64_t)esize < fsize) {
        rg__errf(err, errlen, "%s: %llu bytes after the data: sizes %s of %s account for %llu "
                 "of the file's %llu bytes", path,
                 (unsigned long long)(fsize - hsize - count * (uint64_t)esize), ds,
                 type_name(type), (unsigned long long)(hsize + count * (uint64_t)esize),
                 (unsigned long long)fsize);
        return RG_ERR_FORMAT;
    }
    if (scale01 && type != RG_IDX_UBYTE) {
        rg__errf(err, errlen, "%s: scaling to [0,1] is defined for ubyte data, this file holds "
                 "%s", path, type_name(type));
        return RG_ERR_ARG;
    }
    rg_idx_array *a = rg__mem_calloc(1, sizeof *a);
    if (!a || !(a->data = rg__mem_malloc(sizeof(double) * (size_t)(count ? count : 1)))) {
        rg__mem_free(a);
        rg__errf(err, errlen, "%s: out of memory for %llu values", path,
                 (unsigned long long)count);
        return RG_ERR_NOMEM;
    }
    a->type = (rg_idx_type)type;
    a->ndim = ndim;
    memcpy(a->dims, dims, sizeof(int64_t) * (size_t)ndim);
    a->count = (int64_t)count;
    unsigned char chunk[1 << 15];
    size_t per = sizeof chunk / (size_t)esize;
    for (uint64_t i = 0; i < count;) {
        size_t want = count - i < per ? (size_t)(count - i) : per;
        if (fread(chunk, (size_t)esize, want, fp) != want) {
            rg__errf(err, errlen, "%s: read error at item %llu: %s", path, (unsigned long long)i,
                     ferror(fp) ? strerror(errno) : "file shrank while reading");
            rg_idx_array_free(a);
            return RG_ERR_IO;
        }
        for (size_t k = 0; k < want; k++, i++) {
            double v = decode(chunk + k * (size_t)esize, type);
            if (!isfinite(v)) {
                rg__errf(err, errlen, "%s: item %llu is not finite", path, (unsigned long long)i);
                rg_idx_array_free(a);
                return RG_ERR_FORMAT;
            }
            /* 1/255 is not exact in binary: divide, so 255 maps to exactly 1 */
            a->data[i] = scale01 ? v / 255.0 : v;
        }
    }
    *out = a;
    return RG_OK;
}

rg_status rg_idx_read(const char *path, bool scale01, rg_idx_array **out, char *err,
                      size_t errlen)
{
    if (out)
        *out = NULL;
    if (!path || !out) {
        rg__errf(err, errlen, "idx: no path or no output");
        return RG_ERR_ARG;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        rg__errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return RG_ERR_IO;
    }
    rg_status st = read_open(fp, path, scale01, out, err, errlen);
    fclose(fp);
    return st;
}

rg_status rg_idx_load(const char *images, const char *labels, bool scale01, rg_dataset **out,
                      char *err, size_t errlen)
{
    if (out)
        *out = NULL;
    if (!images || !out) {
        rg__errf(err, errlen, "idx: no images path or no output");
        return RG_ERR_ARG;
    }
    rg_idx_array *im = NULL, *lb = NULL;
    rg_status st = rg_idx_read(images, scale01, &im, err, errlen);
    if (st != RG_OK)
        return st;
    int64_t n = im->dims[0];
    if (n < 1 || im->count == 0) {
        rg__errf(err, errlen, "%s: no items (sizes start with %lld)", images, (long long)n);
        rg_idx_array_free(im);
        return RG_ERR_FORMAT;
    }
    int32_t nclasses = 0;
    if (labels) {
        if ((st = rg_idx_read(labels, false, &lb, err, errlen)) != RG_OK)
            goto fail;
        st = RG_ERR_FORMAT;
        if (lb->ndim != 1) {
            rg__errf(err, errlen, "%s: labels must have 1 dimension, the file has %d", labels,
                     lb->ndim);
            goto fail;
        }
        if (lb->type == RG_IDX_FLOAT || lb->type == RG_IDX_DOUBLE) {
            rg__errf(err, errlen, "%s: labels must be integers, the file holds %s", labels,
                     type_name(lb->type));
            goto fail;
        }
        if (lb->dims[0] != n) {
            rg__errf(err, errlen, "%s has %lld items but %s has %lld labels", images,
                     (long long)n, labels, (long long)lb->dims[0]);
            goto fail;
        }
        double maxl = 0;
        for (int64_t i = 0; i < n; i++) {
            if (lb->data[i] < 0) {
                rg__errf(err, errlen, "%s: label %lld is negative (%g)", labels, (long long)i,
                         lb->data[i]);
                goto fail;
            }
            if (lb->data[i] > maxl)
                maxl = lb->data[i];
        }
        if (maxl >= RG_CSV_MAX_CLASSES) {
            rg__errf(err, errlen, "%s: label %g: more than %d classes", labels, maxl,
                     RG_CSV_MAX_CLASSES);
            goto fail;
        }
        nclasses = (int32_t)maxl + 1;
    }
    rg_dataset *ds = rg_dataset_new(0, 0, labels ? RG_TARGET_CLASS : RG_TARGET_NONE,
                                    labels ? nclasses : 0);
    int32_t *lab = labels ? rg__mem_malloc(sizeof(int32_t) * (size_t)n) : NULL;
    if (!ds || (labels && !lab)) {
        rg_dataset_free(ds);
        rg__mem_free(lab);
        rg__errf(err, errlen, "%s: out of memory", images);
        st = RG_ERR_NOMEM;
        goto fail;
    }
    for (int64_t i = 0; labels && i < n; i++)
        lab[i] = (int32_t)lb->data[i];
    /* the image values become the features without another copy */
    rg__mem_free(ds->x);
    rg__mem_free(ds->labels);
    ds->x = im->data;
    im->data = NULL;
    ds->labels = lab;
    ds->n = n;
    ds->d = im->count / n;
    rg_idx_array_free(im);
    rg_idx_array_free(lb);
    *out = ds;
    return RG_OK;
fail:
    rg_idx_array_free(im);
    rg_idx_array_free(lb);
    return st;
}
