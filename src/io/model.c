/* Models in memory: creation, copying setters, lookup, and the validation that both saving
 * and loading apply, so a file the library writes is always one it accepts. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"
#include "io/model_format.h"
#include "internal.h"

size_t rg__dtype_size(rg_dtype t)
{
    return t == RG_F32 ? 4 : t == RG_F64 ? 8 : 0;
}

int64_t rg_model_numel(int ndim, const int64_t *shape)
{
    if (ndim < 0 || ndim > RG_MAX_DIMS || (ndim > 0 && !shape))
        return -1;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return -1;
        if (shape[i] > 0 && n > INT64_MAX / shape[i])
            return -1;
        n *= shape[i];
    }
    return n;
}

rg_model *rg_model_new(void)
{
    return rg__mem_calloc(1, sizeof(rg_model));
}

static void free_tensors(rg_model_tensor *t, int32_t n)
{
    if (!t)
        return;
    for (int32_t i = 0; i < n; i++) {
        rg__mem_free(t[i].name);
        rg__mem_free(t[i].data);
    }
    rg__mem_free(t);
}

void rg_model_free(rg_model *m)
{
    if (!m)
        return;
    rg__mem_free(m->mean);
    rg__mem_free(m->std);
    if (m->class_names)
        for (int32_t i = 0; i < m->nclass_names; i++)
            rg__mem_free(m->class_names[i]);
    rg__mem_free(m->class_names);
    free_tensors(m->params, m->nparams);
    free_tensors(m->opt, m->nopt);
    rg__mem_free(m);
}

static const rg_model_tensor *find(const rg_model_tensor *t, int32_t n, const char *name)
{
    if (!t || !name)
        return NULL;
    for (int32_t i = 0; i < n; i++)
        if (t[i].name && strcmp(t[i].name, name) == 0)
            return &t[i];
    return NULL;
}

const rg_model_tensor *rg_model_param(const rg_model *m, const char *name)
{
    return m ? find(m->params, m->nparams, name) : NULL;
}

const rg_model_tensor *rg_model_opt(const rg_model *m, const char *name)
{
    return m ? find(m->opt, m->nopt, name) : NULL;
}

static rg_status add_tensor(rg_model_tensor **list, int32_t *count, const char *name,
                            rg_dtype dtype, int ndim, const int64_t *shape, const void *data)
{
    int64_t numel = rg_model_numel(ndim, shape);
    size_t esize = rg__dtype_size(dtype);
    if (!name || rg__model_name_fault(name, strlen(name)) || numel < 0 || esize == 0 ||
        (numel > 0 && !data) || find(*list, *count, name) || *count == INT32_MAX ||
        (uint64_t)numel > SIZE_MAX / esize)
        return RG_ERR_ARG;
    rg_model_tensor *grown = rg__mem_realloc(*list, sizeof(rg_model_tensor) * (size_t)*count,
                                             sizeof(rg_model_tensor) * (size_t)(*count + 1));
    if (!grown)
        return RG_ERR_NOMEM;
    *list = grown;
    rg_model_tensor t = {.dtype = dtype, .ndim = ndim};
    t.name = rg__mem_strndup(name, strlen(name));
    t.data = rg__mem_malloc(numel > 0 ? (size_t)numel * esize : 1);
    if (!t.name || !t.data) {
        rg__mem_free(t.name);
        rg__mem_free(t.data);
        return RG_ERR_NOMEM;
    }
    if (ndim > 0)
        memcpy(t.shape, shape, sizeof(int64_t) * (size_t)ndim);
    if (numel > 0)
        memcpy(t.data, data, (size_t)numel * esize);
    grown[(*count)++] = t;
    return RG_OK;
}

rg_status rg_model_add_param(rg_model *m, const char *name, rg_dtype dtype, int ndim,
                             const int64_t *shape, const void *data)
{
    return m ? add_tensor(&m->params, &m->nparams, name, dtype, ndim, shape, data) : RG_ERR_ARG;
}

rg_status rg_model_add_opt(rg_model *m, const char *name, rg_dtype dtype, int ndim,
                           const int64_t *shape, const void *data)
{
    if (!m)
        return RG_ERR_ARG;
    rg_status st = add_tensor(&m->opt, &m->nopt, name, dtype, ndim, shape, data);
    if (st == RG_OK)
        m->has_opt = true;
    return st;
}

rg_status rg_model_set_stats(rg_model *m, int64_t n, const double *mean, const double *std)
{
    if (!m || n < 0 || (n > 0 && (!mean || !std)) || (uint64_t)n > SIZE_MAX / sizeof(double))
        return RG_ERR_ARG;
    double *a = rg__mem_malloc(sizeof(double) * (size_t)(n ? n : 1));
    double *b = rg__mem_malloc(sizeof(double) * (size_t)(n ? n : 1));
    if (!a || !b) {
        rg__mem_free(a);
        rg__mem_free(b);
        return RG_ERR_NOMEM;
    }
    if (n > 0) {
        memcpy(a, mean, sizeof(double) * (size_t)n);
        memcpy(b, std, sizeof(double) * (size_t)n);
    }
    rg__mem_free(m->mean);
    rg__mem_free(m->std);
    m->mean = a;
    m->std = b;
    m->nstats = n;
    return RG_OK;
}

rg_status rg_model_set_class_names(rg_model *m, int32_t n, const char *const *names)
{
    if (!m || n < 0 || n > RG__MAX_CLASS_NAMES || (n > 0 && !names))
        return RG_ERR_ARG;
    char **copy = rg__mem_calloc((size_t)(n ? n : 1), sizeof(char *));
    if (!copy)
        return RG_ERR_NOMEM;
    for (int32_t i = 0; i < n; i++) {
        if (!names[i] || !(copy[i] = rg__mem_strndup(names[i], strlen(names[i])))) {
            for (int32_t j = 0; j < i; j++)
                rg__mem_free(copy[j]);
            rg__mem_free(copy);
            return names[i] ? RG_ERR_NOMEM : RG_ERR_ARG;
        }
    }
    if (m->class_names)
        for (int32_t i = 0; i < m->nclass_names; i++)
            rg__mem_free(m->class_names[i]);
    rg__mem_free(m->class_names);
    m->class_names = copy;
    m->nclass_names = n;
    return RG_OK;
}

/* ---------------------------------------------------------------------------------------
 * Validation
 * ------------------------------------------------------------------------------------- */

const char *rg__model_name_fault(const char *text, size_t n)
{
    if (n == 0)
        return "empty name";
    if (n > RG_MODEL_MAX_NAME)
        return "name longer than 255 bytes";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        /* bytes from 0x80 up are allowed: UTF-8 names */
        if (c < 0x20 || c == 0x7F)
            return "control character in name";
    }
    return NULL;
}

const char *rg__model_field_fault(const char *f)
{
    size_t len = 0;
    while (len < RG_MODEL_NAME_LEN && f[len])
        len++;
    if (len == RG_MODEL_NAME_LEN)
        return "not NUL-terminated within 16 bytes";
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)f[i] < 0x21 || (unsigned char)f[i] > 0x7E)
            return "character outside printable ASCII";
    /* the padding is part of the format: a file is a function of the model alone */
    for (size_t i = len; i < RG_MODEL_NAME_LEN; i++)
        if (f[i])
            return "nonzero byte after the terminating NUL";
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

rg_status rg__model_duplicate(const void *first, size_t n, size_t stride, const char **dup)
{
    *dup = NULL;
    if (n < 2)
        return RG_OK;
    const char **v = rg__mem_malloc(n * sizeof *v);
    if (!v)
        return RG_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = *(const char *const *)((const char *)first + i * stride);
    qsort(v, n, sizeof *v, cmp_str);
    for (size_t i = 1; i < n && !*dup; i++)
        if (strcmp(v[i - 1], v[i]) == 0)
            *dup = v[i];
    rg__mem_free(v);
    return RG_OK;
}

static rg_status check_tensors(const rg_model_tensor *t, int32_t n, const char *what,
                               char *why, size_t len)
{
    if (n < 0 || (n > 0 && !t)) {
        rg__errf(why, len, "%s: bad tensor count %d", what, (int)n);
        return RG_ERR_ARG;
    }
    for (int32_t i = 0; i < n; i++) {
        const char *nm = t[i].name;
        const char *f = nm ? rg__model_name_fault(nm, strlen(nm)) : "no name";
        if (f) {
            char q[64];
            rg__quote(q, sizeof q, nm ? nm : "", nm ? strlen(nm) : 0);
            rg__errf(why, len, "%s: tensor %d '%s': %s", what, (int)i, q, f);
            return RG_ERR_ARG;
        }
        int64_t numel = rg_model_numel(t[i].ndim, t[i].shape);
        if (rg__dtype_size(t[i].dtype) == 0) {
            rg__errf(why, len, "%s: tensor '%s': unknown dtype %d", what, nm, (int)t[i].dtype);
            return RG_ERR_ARG;
        }
        if (numel < 0) {
            rg__errf(why, len, "%s: tensor '%s': invalid shape (ndim %d)", what, nm, t[i].ndim);
            return RG_ERR_ARG;
        }
        if ((uint64_t)numel > SIZE_MAX / 8) {
            rg__errf(why, len, "%s: tensor '%s': %lld elements is too large", what, nm,
                     (long long)numel);
            return RG_ERR_ARG;
        }
        if (numel > 0 && !t[i].data) {
            rg__errf(why, len, "%s: tensor '%s': no data", what, nm);
            return RG_ERR_ARG;
        }
    }
    const char *dup = NULL;
    if (n > 0 && rg__model_duplicate(&t[0].name, (size_t)n, sizeof *t, &dup) != RG_OK) {
        rg__errf(why, len, "out of memory");
        return RG_ERR_NOMEM;
    }
    if (dup) {
        rg__errf(why, len, "%s: two tensors are named '%s'", what, dup);
        return RG_ERR_ARG;
    }
    return RG_OK;
}

rg_status rg__model_check(const rg_model *m, char *why, size_t len)
{
    const rg_model_desc *d = &m->desc;
    const char *f;
    if (d->nlayers < 1 || d->nlayers > RG_MODEL_MAX_LAYERS) {
        rg__errf(why, len, "architecture: %d layers (need 1 to %d)", d->nlayers,
                 RG_MODEL_MAX_LAYERS);
        return RG_ERR_ARG;
    }
    for (int i = 0; i <= d->nlayers; i++)
        if (d->sizes[i] < 1 || d->sizes[i] > RG__MAX_WIDTH) {
            rg__errf(why, len, "architecture: size %d is %lld (need 1 to %lld)", i,
                     (long long)d->sizes[i], (long long)RG__MAX_WIDTH);
            return RG_ERR_ARG;
        }
    if ((f = rg__model_field_fault(d->activation)) != NULL) {
        rg__errf(why, len, "architecture: activation name: %s", f);
        return RG_ERR_ARG;
    }
    if ((f = rg__model_field_fault(d->loss)) != NULL) {
        rg__errf(why, len, "architecture: loss name: %s", f);
        return RG_ERR_ARG;
    }
    if (!isfinite(d->act_param)) {
        rg__errf(why, len, "architecture: activation parameter is not finite");
        return RG_ERR_ARG;
    }
    if (m->nstats != 0) {
        if (m->nstats != d->sizes[0]) {
            rg__errf(why, len, "standardisation: %lld features, but the input has %lld",
                     (long long)m->nstats, (long long)d->sizes[0]);
            return RG_ERR_ARG;
        }
        if (!m->mean || !m->std) {
            rg__errf(why, len, "standardisation: no mean or std");
            return RG_ERR_ARG;
        }
        for (int64_t j = 0; j < m->nstats; j++)
            if (!isfinite(m->mean[j]) || !(m->std[j] > 0.0) || !isfinite(m->std[j])) {
                rg__errf(why, len, "standardisation: feature %lld: mean %g, std %g (need "
                         "finite, std > 0)", (long long)j, m->mean[j], m->std[j]);
                return RG_ERR_ARG;
            }
    }
    if (m->nclass_names < 0 || m->nclass_names > RG__MAX_CLASS_NAMES ||
        (m->nclass_names > 0 && !m->class_names)) {
        rg__errf(why, len, "class names: bad count %d", (int)m->nclass_names);
        return RG_ERR_ARG;
    }
    for (int32_t i = 0; i < m->nclass_names; i++) {
        const char *nm = m->class_names[i];
        f = nm ? rg__model_name_fault(nm, strlen(nm)) : "no name";
        if (f) {
            rg__errf(why, len, "class name %d: %s", (int)i, f);
            return RG_ERR_ARG;
        }
    }
    const char *dup = NULL;
    if (m->nclass_names > 0 &&
        rg__model_duplicate(m->class_names, (size_t)m->nclass_names, sizeof(char *), &dup) !=
            RG_OK) {
        rg__errf(why, len, "out of memory");
        return RG_ERR_NOMEM;
    }
    if (dup) {
        char q[64];
        rg__quote(q, sizeof q, dup, strlen(dup));
        rg__errf(why, len, "class names: '%s' appears twice", q);
        return RG_ERR_ARG;
    }
    rg_status st = check_tensors(m->params, m->nparams, "parameters", why, len);
    if (st != RG_OK)
        return st;
    if (m->has_opt) {
        if ((f = rg__model_field_fault(m->opt_name)) != NULL) {
            rg__errf(why, len, "optimiser name: %s", f);
            return RG_ERR_ARG;
        }
        if ((st = check_tensors(m->opt, m->nopt, "optimiser state", why, len)) != RG_OK)
            return st;
    }
    return RG_OK;
}

rg_status rg_model_validate(const rg_model *m, char *err, size_t errlen)
{
    if (!m) {
        rg__errf(err, errlen, "no model");
        return RG_ERR_ARG;
    }
    return rg__model_check(m, err, errlen);
}
