/* Private: constants of the model file format (docs/formats.md) shared by the writer and
 * the reader, and the in-memory checks both apply. */
#ifndef RG_MODEL_FORMAT_H
#define RG_MODEL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "retrograd.h"

/* "\x89RGM\r\n\x1A\n": a non-ASCII first byte and a CR LF pair, so a file mangled by a
 * text-mode transfer (high bit stripped, line ends converted) fails at the magic. */
#define RG__MODEL_MAGIC "\x89RGM\r\n\x1A\n"
#define RG__MODEL_MAGIC_LEN 8
/* magic, version, section count, header CRC */
#define RG__MODEL_HEADER_LEN 20
/* tag and length before a payload, CRC after it */
#define RG__SECTION_HEAD 12
#define RG__SECTION_TAIL 4

#define RG__TAG_ARCH "ARCH"
#define RG__TAG_NORM "NORM"
#define RG__TAG_CLAS "CLAS"
#define RG__TAG_PARM "PARM"
#define RG__TAG_OPTM "OPTM"

/* Most class names a model may carry. */
#define RG__MAX_CLASS_NAMES 65536
/* Widest layer a description may declare. */
#define RG__MAX_WIDTH ((int64_t)INT32_MAX)

/* Why the name text[0..n-1] is not acceptable (empty, too long, a control byte), or NULL. */
const char *rg__model_name_fault(const char *text, size_t n);

/* Why the fixed-size NUL-padded field f[0..RG_MODEL_NAME_LEN-1] is not acceptable (no NUL,
 * a byte after the NUL that is not 0, a character outside printable ASCII), or NULL. */
const char *rg__model_field_fault(const char *f);

/* Sets *dup to a name held twice among the n strings at first, first + stride bytes, ...
 * (the name field of an array of structs, or an array of strings), or to NULL. Sorts a copy
 * of the pointers, so that a file of many tensors or class names is checked in n log n time
 * rather than n^2 (100 000 tensors: a tenth of a second instead of minutes). RG_ERR_NOMEM
 * when that copy cannot be allocated. */
rg_status rg__model_duplicate(const void *first, size_t n, size_t stride, const char **dup);

/* Checks m as rg_model_validate() does, writing the reason without any file prefix:
 * RG_ERR_ARG when m is not well-formed, RG_ERR_NOMEM (why: "out of memory") when memory ran
 * out while checking. */
rg_status rg__model_check(const rg_model *m, char *why, size_t len);

/* Bytes per element of a tensor dtype (0 for an invalid one). */
size_t rg__dtype_size(rg_dtype t);

#endif
