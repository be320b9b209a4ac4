/*
 * retrograd/io.h: model files. Included by retrograd.h.
 *
 * A model file holds what is needed to use or resume a trained model: a generic description
 * of the architecture, the standardisation statistics, class names, the parameters as named
 * tensors, and optionally the optimiser state. The format (docs/formats.md, byte by byte) is
 * little-endian binary: a header with magic and version, then sections each with a tag, a
 * length and a CRC-32. Saving is atomic: a crash or a failed save never leaves a
 * half-written model where the old one was. Loading checks every length, count, shape,
 * string and checksum before it uses them.
 *
 * Errors: like the data readers, functions return a status and, when `err` is not NULL,
 * write a one-line message into err[0..errlen-1] naming the file and what is wrong.
 */
#ifndef RETROGRAD_IO_H
#define RETROGRAD_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "retrograd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The model file version this library writes (and the only one it reads). */
#define RG_MODEL_VERSION 1
/* Most layers a model description holds. */
#define RG_MODEL_MAX_LAYERS 64
/* Size of the name fields of a description, NUL included. */
#define RG_MODEL_NAME_LEN 16
/* Longest tensor or class name, in bytes. */
#define RG_MODEL_MAX_NAME 255

/* CRC-32 (IEEE 802.3 polynomial, reflected, as zlib and PNG): pass crc = 0 to start and the
 * previous result to continue. rg_crc32(0, "123456789", 9) == 0xCBF43926. */
uint32_t rg_crc32(uint32_t crc, const void *data, size_t n);

/* The architecture of a layered model, independent of how the nn layer builds it:
 * nlayers dense layers mapping sizes[0] (the input features) through sizes[1..] to
 * sizes[nlayers] (the outputs); the hidden activation and the loss by name ("relu",
 * "tanh", "ce", "mse", ...: printable ASCII, NUL-terminated, NUL-padded) and one number for
 * the activation (the leaky_relu slope; 0 when unused). */
typedef struct rg_model_desc {
    int nlayers;
    int64_t sizes[RG_MODEL_MAX_LAYERS + 1];
    char activation[RG_MODEL_NAME_LEN];
    char loss[RG_MODEL_NAME_LEN];
    double act_param;
} rg_model_desc;

/* A named tensor: ndim (0..RG_MAX_DIMS) dimensions, rg_model_numel() values of dtype. */
typedef struct rg_model_tensor {
    char *name;
    rg_dtype dtype;
    int ndim;
    int64_t shape[RG_MAX_DIMS];
    void *data;
} rg_model_tensor;

/* A model in memory. To save, fill one (pointing at your own buffers: nothing is copied);
 * a loaded one, or one from rg_model_new(), owns what it points to and is released with
 * rg_model_free(). */
typedef struct rg_model {
    rg_model_desc desc;
    /* standardisation: nstats = 0 (none) or desc.sizes[0] features */
    int64_t nstats;
    double *mean;
    double *std;
    /* class names (nclass_names = 0: none) */
    int32_t nclass_names;
    char **class_names;
    /* parameters (unique names) */
    int32_t nparams;
    rg_model_tensor *params;
    /* optimiser state: has_opt, its name, step count and tensors (unique names) */
    bool has_opt;
    char opt_name[RG_MODEL_NAME_LEN];
    uint64_t opt_step;
    int32_t nopt;
    rg_model_tensor *opt;
} rg_model;

/* An empty model owning its contents (fill desc, then add with the functions below). */
rg_model *rg_model_new(void);
/* Releases a model from rg_model_new() or rg_model_load() and all it owns. NULL: no-op. */
void rg_model_free(rg_model *m);

/* Copying setters for a model from rg_model_new(). Adding a tensor whose name is taken
 * fails with RG_ERR_ARG. */
rg_status rg_model_add_param(rg_model *m, const char *name, rg_dtype dtype, int ndim,
                             const int64_t *shape, const void *data);
rg_status rg_model_add_opt(rg_model *m, const char *name, rg_dtype dtype, int ndim,
                           const int64_t *shape, const void *data);
rg_status rg_model_set_stats(rg_model *m, int64_t n, const double *mean, const double *std);
rg_status rg_model_set_class_names(rg_model *m, int32_t n, const char *const *names);

/* The parameter / optimiser tensor called `name`, or NULL. */
const rg_model_tensor *rg_model_param(const rg_model *m, const char *name);
const rg_model_tensor *rg_model_opt(const rg_model *m, const char *name);

/* Number of elements of a shape (1 for ndim 0), or -1 if it is invalid or overflows. */
int64_t rg_model_numel(int ndim, const int64_t *shape);

/* Checks that m is well-formed: everything rg_model_load() checks (names, sizes, counts,
 * standardisation size, unique tensor names). RG_ERR_ARG with a message otherwise
 * (RG_ERR_NOMEM if memory runs out while checking). */
rg_status rg_model_validate(const rg_model *m, char *err, size_t errlen);

/* Validates m, then writes it to a temporary file in the target's directory, flushes it to
 * the disk (fsync) and renames it over `path`. On any failure the temporary file is removed
 * and a file already at `path` is left as it was. */
rg_status rg_model_save(const char *path, const rg_model *m, char *err, size_t errlen);

/* Reads a model file. Rejects, each with its own message: a file that is not a model file
 * (wrong magic), another version, a truncated file, a section whose checksum does not
 * match, and sizes, counts, names or shapes that are invalid or inconsistent. RG_ERR_IO
 * when the file cannot be read, RG_ERR_FORMAT when it is malformed. */
rg_status rg_model_load(const char *path, rg_model **out, char *err, size_t errlen);

/* The same from a buffer holding a whole file (`name` is used in messages; may be NULL). */
rg_status rg_model_load_mem(const void *buf, size_t len, const char *name, rg_model **out,
                            char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif /* RETROGRAD_IO_H */
