/* Saving models: the little-endian encoder (docs/formats.md) and the atomic replacement of
 * the target: temporary file in the same directory, fflush, fsync, rename. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "data/data_internal.h"
#include "io/model_format.h"
#include "internal.h"

typedef struct writer {
    FILE *fp;
    uint32_t crc; /* of the current section so far */
    bool failed;
    int err;      /* errno of the first failure */
} writer;

static void w_bytes(writer *w, const void *p, size_t n)
{
    if (w->failed || n == 0)
        return;
    w->crc = rg_crc32(w->crc, p, n);
    errno = 0;
    if (fwrite(p, 1, n, w->fp) != n) {
        w->failed = true;
        w->err = errno ? errno : EIO;
    }
}

static void w_le(writer *w, uint64_t v, int n)
{
    unsigned char b[8];
    for (int i = 0; i < n; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    w_bytes(w, b, (size_t)n);
}

static void w_f64(writer *w, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    w_le(w, u, 8);
}

/* Tensor values as little-endian IEEE words, a buffer at a time, whatever the host order. */
static void w_values(writer *w, rg_dtype dtype, const void *data, int64_t numel)
{
    unsigned char buf[4096];
    size_t es = rg__dtype_size(dtype), per = sizeof buf / es;
    const unsigned char *src = data;
    for (int64_t i = 0; i < numel && !w->failed;) {
        size_t k = (size_t)(numel - i) < per ? (size_t)(numel - i) : per;
        for (size_t j = 0; j < k; j++, i++) {
            uint64_t u = 0;
            if (es == 4) {
                uint32_t u32;
                memcpy(&u32, src + (size_t)i * 4, 4);
                u = u32;
            } else {
                memcpy(&u, src + (size_t)i * 8, 8);
            }
            for (size_t b = 0; b < es; b++)
                buf[j * es + b] = (unsigned char)(u >> (8 * b));
        }
        w_bytes(w, buf, k * es);
    }
}

static uint64_t tensors_size(const rg_model_tensor *t, int32_t n)
{
    uint64_t s = 4;
    for (int32_t i = 0; i < n; i++)
        s += 2 + strlen(t[i].name) + 2 + 8 * (uint64_t)t[i].ndim +
             (uint64_t)rg_model_numel(t[i].ndim, t[i].shape) * rg__dtype_size(t[i].dtype);
    return s;
}

static void w_tensors(writer *w, const rg_model_tensor *t, int32_t n)
{
    w_le(w, (uint64_t)n, 4);
    for (int32_t i = 0; i < n; i++) {
        size_t len = strlen(t[i].name);
        w_le(w, len, 2);
        w_bytes(w, t[i].name, len);
        w_le(w, (uint64_t)t[i].dtype, 1);
        w_le(w, (uint64_t)t[i].ndim, 1);
        for (int k = 0; k < t[i].ndim; k++)
            w_le(w, (uint64_t)t[i].shape[k], 8);
        w_values(w, t[i].dtype, t[i].data, rg_model_numel(t[i].ndim, t[i].shape));
    }
}

/* Starts a section: tag and payload length, both covered by the section's CRC. */
static void w_begin(writer *w, const char *tag, uint64_t len)
{
    w->crc = 0;
    w_bytes(w, tag, 4);
    w_le(w, len, 8);
}

static void w_end(writer *w)
{
    uint32_t crc = w->crc;
    w_le(w, crc, 4);
}

static void write_model(writer *w, const rg_model *m)
{
    const rg_model_desc *d = &m->desc;
    uint32_t nsec = 2 + (m->nstats > 0) + (m->nclass_names > 0) + (m->has_opt ? 1 : 0);
    unsigned char head[RG__MODEL_HEADER_LEN];
    memcpy(head, RG__MODEL_MAGIC, RG__MODEL_MAGIC_LEN);
    for (int i = 0; i < 4; i++) {
        head[8 + i] = (unsigned char)((uint32_t)RG_MODEL_VERSION >> (8 * i));
        head[12 + i] = (unsigned char)(nsec >> (8 * i));
    }
    uint32_t hcrc = rg_crc32(0, head, 16);
    for (int i = 0; i < 4; i++)
        head[16 + i] = (unsigned char)(hcrc >> (8 * i));
    w_bytes(w, head, sizeof head);

    w_begin(w, RG__TAG_ARCH, 4 + 8 * ((uint64_t)d->nlayers + 1) + 2 * RG_MODEL_NAME_LEN + 8);
    w_le(w, (uint64_t)d->nlayers, 4);
    for (int i = 0; i <= d->nlayers; i++)
        w_le(w, (uint64_t)d->sizes[i], 8);
    w_bytes(w, d->activation, RG_MODEL_NAME_LEN);
    w_bytes(w, d->loss, RG_MODEL_NAME_LEN);
    w_f64(w, d->act_param);
    w_end(w);

    if (m->nstats > 0) {
        w_begin(w, RG__TAG_NORM, 8 + 16 * (uint64_t)m->nstats);
        w_le(w, (uint64_t)m->nstats, 8);
        for (int64_t j = 0; j < m->nstats; j++)
            w_f64(w, m->mean[j]);
        for (int64_t j = 0; j < m->nstats; j++)
            w_f64(w, m->std[j]);
        w_end(w);
    }
    if (m->nclass_names > 0) {
        uint64_t len = 4;
        for (int32_t i = 0; i < m->nclass_names; i++)
            len += 2 + strlen(m->class_names[i]);
        w_begin(w, RG__TAG_CLAS, len);
        w_le(w, (uint64_t)m->nclass_names, 4);
        for (int32_t i = 0; i < m->nclass_names; i++) {
            size_t n = strlen(m->class_names[i]);
            w_le(w, n, 2);
            w_bytes(w, m->class_names[i], n);
        }
        w_end(w);
    }
    w_begin(w, RG__TAG_PARM, tensors_size(m->params, m->nparams));
    w_tensors(w, m->params, m->nparams);
    w_end(w);
    if (m->has_opt) {
        w_begin(w, RG__TAG_OPTM, RG_MODEL_NAME_LEN + 8 + tensors_size(m->opt, m->nopt));
        w_bytes(w, m->opt_name, RG_MODEL_NAME_LEN);
        w_le(w, m->opt_step, 8);
        w_tensors(w, m->opt, m->nopt);
        w_end(w);
    }
}

/* Creates a new file "<path>.tmp-<16 hex digits>" exclusively (O_EXCL: never reusing
 * another file), with the permissions of the file it will replace, or 0666 less the umask
 * for a new one. Returns the descriptor and the name in tmp, or -1 with errno set. */
static int create_temp(const char *path, char *tmp, size_t tmplen)
{
    struct stat sb;
    mode_t mode = 0666;
    bool keep_mode = stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    x ^= (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)&sb;
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(tmp, tmplen, "%s.tmp-%016llx", path, (unsigned long long)rg__splitmix64(&x));
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, mode);
        if (fd >= 0) {
            if (keep_mode)
                fchmod(fd, sb.st_mode & 07777);
            return fd;
        }
        if (errno != EEXIST)
            return -1;
    }
    errno = EEXIST;
    return -1;
}

/* Makes the rename durable: fsync of the directory that holds path. Best effort: the new
 * file is complete either way, only its name might not survive a power cut. */
static void sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else
        return;
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

rg_status rg_model_save(const char *path, const rg_model *m, char *err, size_t errlen)
{
    if (!path || !*path || !m) {
        rg__errf(err, errlen, "model save: no path or no model");
        return RG_ERR_ARG;
    }
    char why[256];
    rg_status st = rg__model_check(m, why, sizeof why);
    if (st != RG_OK) {
        rg__errf(err, errlen, "%s: not saved: %s", path, why);
        return st;
    }
    size_t tmplen = strlen(path) + 32;
    char *tmp = rg__mem_malloc(tmplen);
    if (!tmp) {
        rg__errf(err, errlen, "%s: out of memory", path);
        return RG_ERR_NOMEM;
    }
    const char *step = "cannot create a temporary file next to it";
    int fd = create_temp(path, tmp, tmplen);
    if (fd < 0) {
        rg__errf(err, errlen, "%s: %s: %s", path, step, strerror(errno));
        rg__mem_free(tmp);
        return RG_ERR_IO;
    }
    writer w = {.fp = fdopen(fd, "wb")};
    int e = 0;
    if (!w.fp) {
        e = errno;
        close(fd);
        step = "cannot open the temporary file";
        goto fail;
    }
    write_model(&w, m);
    step = "write failed";
    if (w.failed) {
        e = w.err;
        fclose(w.fp);
        goto fail;
    }
    /* the data must be on the disk before the rename makes it the model: otherwise a crash
     * could leave the new name pointing at a file whose blocks were never written */
    if (fflush(w.fp) != 0 || fsync(fd) != 0) {
        e = errno;
        step = "flushing to disk failed";
        fclose(w.fp);
        goto fail;
    }
    if (fclose(w.fp) != 0) {
        e = errno;
        step = "closing failed";
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        step = "cannot rename the temporary file over it";
        goto fail;
    }
    sync_dir(path);
    rg__mem_free(tmp);
    return RG_OK;
fail:
    unlink(tmp);
    rg__errf(err, errlen, "%s: not saved (an existing file is unchanged): %s: %s", path, step,
             strerror(e ? e : EIO));
    rg__mem_free(tmp);
    return RG_ERR_IO;
}
