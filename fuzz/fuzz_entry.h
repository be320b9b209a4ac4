/* What each fuzz target does with one input, shared by the libFuzzer targets (fuzz/fuzz_*.c)
 * and the regression suite (tests/test_regress.c), so that an input the fuzzer found is
 * replayed through exactly the same calls.
 *
 * Each function feeds one input to a reader (or to the expression command) in several ways
 * and checks what comes back: a success must give a well-formed result, a failure a status
 * and a non-empty message with nothing returned. It returns the number of calls that ended
 * in a clean failure (0 when every call succeeded), or -1 when a result broke one of those
 * rules: the fuzz targets abort on -1, so the fuzzer reports it like a crash. */
#ifndef RG_FUZZ_ENTRY_H
#define RG_FUZZ_ENTRY_H

#include <stddef.h>

/* The variables every program may use, as `--at` arguments: a scalar x, a vector y, a
 * matrix W and a 3-D tensor T (for batched matrix products). */
extern const char *const fz_expr_vars[];
extern const int fz_expr_nvars;

/* `program` (NUL-terminated) through expr_run(): built, evaluated and differentiated with the
 * variables above; when that succeeds and the program is short, again with the Hessian and
 * the gradient check, and again with the finite check (anomaly mode). The text is also read
 * as the value of an `--at` argument. Failures are printed on stderr, as the command prints
 * them. */
int fz_expr(const char *program);

/* The CSV file at `path` through rg_csv_read() with each of a fixed list of option sets
 * (defaults, forced header and class labels, real targets with ';' and non-finite values,
 * no label with tabs and a small record limit, a label column by name, given class names);
 * each data set read is then standardised and cut into batches. */
int fz_csv(const char *path);

/* The IDX file at `path` through rg_idx_read() with and without scale01, and rg_idx_load()
 * with the file as both images and labels, and as images alone. */
int fz_idx(const char *path);

/* A model file held in buf[0..len-1] through rg_model_load_mem(): as it is, and with its
 * header and section checksums recomputed so that mutations reach the section parsers
 * behind them; a loaded model must pass rg_model_validate(). */
int fz_model(const unsigned char *buf, size_t len);

#endif
