/* What retrograd train and retrograd predict share: option values, JSON numbers and strings,
 * and reading --data (built-in sets, CSV and IDX files) with the checks a model needs. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "train.h"

/* Widest hidden layer accepted: far beyond what trains on a CPU, small enough that the sizes
 * of W never overflow. */
#define MAX_WIDTH (1 << 20)

/* ---- options ------------------------------------------------------------------------ */

bool opt_is(const char *arg, const char *name)
{
    size_t len = strlen(name);
    return strncmp(arg, name, len) == 0 && (arg[len] == '\0' || arg[len] == '=');
}

const char *opt_value(int argc, char **argv, int *i, const char *name)
{
    size_t len = strlen(name);
    if (argv[*i][len] == '=')
        return argv[*i] + len + 1;
    if (*i + 1 >= argc) {
        cli_fail("%s needs a value", name);
        return NULL;
    }
    return argv[++*i];
}

bool opt_f64(const char *name, const char *text, double lo, double hi, double *out)
{
    char q[CLI_QUOTE_LEN];
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || errno == ERANGE || !isfinite(v)) {
        cli_fail("%s: '%s' is not a number", name, cli_quote(text, strlen(text), q));
        return false;
    }
    if (v < lo || v > hi) {
        cli_fail("%s: %s is out of range (%g to %g)", name, cli_quote(text, strlen(text), q),
                 lo, hi);
        return false;
    }
    *out = v;
    return true;
}

bool opt_i64(const char *name, const char *text, int64_t lo, int64_t hi, int64_t *out)
{
    char q[CLI_QUOTE_LEN];
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end != '\0' || errno == ERANGE) {
        cli_fail("%s: '%s' is not an integer", name, cli_quote(text, strlen(text), q));
        return false;
    }
    if (v < lo || v > hi) {
        cli_fail("%s: %lld is out of range (%lld to %lld)", name, v, (long long)lo,
                 (long long)hi);
        return false;
    }
    *out = (int64_t)v;
    return true;
}

bool opt_hidden(const char *text, int64_t *sizes, int *n)
{
    *n = 0;
    /* an empty value is refused rather than read as no layers: it is more often an unset
     * shell variable than a wish for a linear model, which 'none' asks for */
    if (strcmp(text, "none") == 0)
        return true;
    const char *s = text;
    for (;;) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        char q[CLI_QUOTE_LEN], num[32];
        bool digits = len > 0 && len < sizeof num;
        for (size_t i = 0; digits && i < len; i++)
            digits = s[i] >= '0' && s[i] <= '9';
        long long v = 0;
        if (digits) {
            memcpy(num, s, len);
            num[len] = '\0';
            v = strtoll(num, NULL, 10);
        }
        if (!digits || v < 1 || v > MAX_WIDTH) {
            cli_fail("--hidden: '%s' is not a layer size (sizes are integers from 1 to %d, "
                     "separated by commas, as in 64,64)",
                     cli_quote(s, len, q), MAX_WIDTH);
            return false;
        }
        if (*n == TRAIN_MAX_HIDDEN) {
            cli_fail("--hidden: more than %d layers", TRAIN_MAX_HIDDEN);
            return false;
        }
        sizes[(*n)++] = v;
        if (!end)
            return true;
        s = end + 1;
    }
}

bool opt_label(const char *text, label_spec *l)
{
    char q[CLI_QUOTE_LEN];
    if (*text == '\0') {
        cli_fail("--label-col: empty column name");
        return false;
    }
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    l->given = true;
    if (*end == '\0' && errno == 0) {
        if (v < -65536 || v > 65535) {
            cli_fail("--label-col: column %s is out of range", cli_quote(text, strlen(text), q));
            return false;
        }
        l->index = (int)v;
        l->name = NULL;
    } else {
        l->name = text;
    }
    return true;
}

int opt_unknown(const char *cmd, const char *arg)
{
    char q[CLI_QUOTE_LEN];
    if (arg[0] != '-')
        return cli_fail("unexpected argument '%s' (see 'retrograd %s --help')",
                        cli_quote(arg, strlen(arg), q), cmd);
    return cli_fail("unknown option '%s' (see 'retrograd %s --help')",
                    cli_quote(arg, strcspn(arg, "="), q), cmd);
}

/* ---- output ------------------------------------------------------------------------- */

int out_path_check(const char *option, const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return cli_fail("%s %s: is a directory", option, path);
    const char *slash = strrchr(path, '/');
    char *dir = slash ? malloc((size_t)(slash - path) + 2) : NULL;
    if (slash && !dir)
        return cli_fail("out of memory");
    if (dir) {
        size_t len = slash == path ? 1 : (size_t)(slash - path); /* "/file": the root */
        memcpy(dir, path, len);
        dir[len] = '\0';
    }
    int rc = CLI_OK;
    /* the file itself is created later, as a temporary file in this directory */
    if (access(dir ? dir : ".", W_OK | X_OK) != 0)
        rc = cli_fail("%s %s: cannot write in %s: %s", option, path, dir ? dir : ".",
                      strerror(errno));
    free(dir);
    return rc;
}

void json_num(FILE *f, double v)
{
    if (!isfinite(v)) {
        fputs("null", f);
        return;
    }
    char buf[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    fputs(buf, f);
}

void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* ---- data --------------------------------------------------------------------------- */

static const char *const builtin_sets[] = {"spiral", "moons", "circles", "xor"};

bool data_is_builtin(const char *spec)
{
    for (size_t i = 0; i < sizeof builtin_sets / sizeof *builtin_sets; i++)
        if (strcmp(spec, builtin_sets[i]) == 0)
            return true;
    return false;
}

const char *data_display_name(const char *spec)
{
    const char *slash = strrchr(spec, '/');
    return slash && slash[1] ? slash + 1 : spec;
}

/* The first bytes of an IDX file: two zero bytes, a known element type, 1 to RG_MAX_DIMS
 * dimensions. A CSV file cannot start with a NUL byte, so the test cannot mistake one. */
static bool sniff_idx(const char *path, bool *ubyte)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    unsigned char h[4];
    bool idx = fread(h, 1, 4, f) == 4 && h[0] == 0 && h[1] == 0 &&
               (h[2] == 0x08 || h[2] == 0x09 || h[2] == 0x0B || h[2] == 0x0C || h[2] == 0x0D ||
                h[2] == 0x0E) &&
               h[3] >= 1 && h[3] <= RG_MAX_DIMS;
    fclose(f);
    *ubyte = idx && h[2] == 0x08;
    return idx;
}

static bool file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

static int load_idx(const char *spec, const data_req *req, rg_dataset **out)
{
    char err[TRAIN_ERRLEN] = "";
    char *images = NULL;
    const char *labels = NULL;
    if (!file_exists(spec)) {
        /* IMAGES:LABELS, split at the last colon (a colon inside a directory name still
         * works as long as the labels' path has none) */
        const char *colon = strrchr(spec, ':');
        images = malloc((size_t)(colon - spec) + 1);
        if (!images)
            return cli_fail("out of memory");
        memcpy(images, spec, (size_t)(colon - spec));
        images[colon - spec] = '\0';
        labels = colon + 1;
    }
    const char *img = images ? images : spec;
    bool ubyte = false;
    sniff_idx(img, &ubyte);
    if (!labels && req->labels_required) {
        free(images);
        return cli_fail("%s: IDX images need their labels: --data IMAGES.idx:LABELS.idx", spec);
    }
    /* bytes are pixels: scaled to [0, 1], the range the initialisers expect */
    rg_status st = rg_idx_load(img, labels, ubyte, out, err, sizeof err);
    free(images);
    if (st != RG_OK)
        return cli_fail("%s", err);
    return CLI_OK;
}

static rg_status read_csv(const char *path, rg_csv_target target, const label_spec *l,
                          const data_req *req, rg_dataset **out, char *err, size_t errlen)
{
    rg_csv_opts o = rg_csv_defaults();
    o.target = target;
    if (target != RG_CSV_TARGET_NONE) {
        if (l->given && l->name)
            o.label_name = l->name;
        else if (l->given)
            o.label_col = l->index;
        o.class_names = req->class_names;
        o.nclasses = req->class_names ? req->nclasses : 0;
    }
    return rg_csv_read(path, &o, out, err, errlen);
}

static int load_csv(const char *spec, const data_req *req, rg_dataset **out)
{
    char err[TRAIN_ERRLEN] = "";
    rg_status st;
    if (req->labels_required || req->label.given || req->features < 0) {
        st = read_csv(spec, RG_CSV_TARGET_CLASS, &req->label, req, out, err, sizeof err);
        return st == RG_OK ? CLI_OK : cli_fail("%s", err);
    }
    /* Data to predict on may come with or without labels: the model's input size tells
     * which, the label then being the last column. */
    st = read_csv(spec, RG_CSV_TARGET_NONE, &req->label, req, out, err, sizeof err);
    if (st == RG_OK && (*out)->d != req->features + 1)
        return CLI_OK; /* features only (a wrong count is reported by the caller) */
    if (st == RG_ERR_IO || st == RG_ERR_NOMEM)
        return cli_fail("%s", err);
    bool features_ok = st == RG_OK;
    char first_err[TRAIN_ERRLEN];
    memcpy(first_err, err, sizeof err);
    rg_dataset_free(*out);
    *out = NULL;
    /* one column more than the model takes, or a field that is no number (a text label) */
    st = read_csv(spec, RG_CSV_TARGET_CLASS, &req->label, req, out, err, sizeof err);
    if (st != RG_OK)
        return cli_fail("%s", err);
    if (!features_ok && (*out)->d != req->features) {
        /* the last column was not a label column after all: the first reading's message
         * names the field that is wrong */
        rg_dataset_free(*out);
        *out = NULL;
        return cli_fail("%s", first_err);
    }
    return CLI_OK;
}

/* Checks the data against what the model expects. */
static int check_fit(const char *spec, const data_req *req, const rg_dataset *ds)
{
    if (req->features >= 0 && ds->d != req->features)
        return cli_fail("%s has %lld feature%s per row, the model takes %lld", spec,
                        (long long)ds->d, ds->d == 1 ? "" : "s", (long long)req->features);
    if (req->labels_required && ds->kind != RG_TARGET_CLASS)
        return cli_fail("%s has no class labels", spec);
    /* text labels would be numbered in sorted order, which need not be the model's order */
    if (req->nclasses > 0 && !req->class_names && ds->class_names)
        return cli_fail("%s: the labels are names ('%.40s', ...), but the model's classes are "
                        "numbers (0 to %d)",
                        spec, ds->class_names[0], (int)req->nclasses - 1);
    if (ds->kind == RG_TARGET_CLASS && req->nclasses > 0)
        for (int64_t i = 0; i < ds->n; i++)
            if (ds->labels[i] >= req->nclasses)
                return cli_fail("%s: row %lld has label %d, but the model knows %d classes "
                                "(0 to %d)",
                                spec, (long long)i + 1, (int)ds->labels[i], (int)req->nclasses,
                                (int)req->nclasses - 1);
    return CLI_OK;
}

int data_load(const char *spec, const data_req *req, rg_dataset **out)
{
    *out = NULL;
    int rc;
    if (data_is_builtin(spec)) {
        char err[TRAIN_ERRLEN] = "";
        rg_toy_opts o = rg_toy_defaults();
        o.seed = TRAIN_TOY_SEED;
        rc = rg_toy_make(spec, &o, out, err, sizeof err) == RG_OK ? CLI_OK : cli_fail("%s", err);
    } else {
        bool ubyte;
        bool idx = sniff_idx(spec, &ubyte) || (!file_exists(spec) && strchr(spec, ':'));
        rc = idx ? load_idx(spec, req, out) : load_csv(spec, req, out);
    }
    if (rc == CLI_OK && (*out)->n < 1)
        rc = cli_fail("%s: no rows", spec);
    if (rc == CLI_OK)
        rc = check_fit(spec, req, *out);
    if (rc != CLI_OK) {
        rg_dataset_free(*out);
        *out = NULL;
    }
    return rc;
}

void softmax_rows(const double *scores, int64_t rows, int64_t cols, double *p)
{
    for (int64_t i = 0; i < rows; i++) {
        const double *s = scores + i * cols;
        double *q = p + i * cols;
        /* subtracting the row's maximum keeps every exponent <= 0: no overflow, and the
         * largest term is exactly 1, so the sum is never 0 */
        double mx = s[0];
        for (int64_t j = 1; j < cols; j++)
            if (s[j] > mx)
                mx = s[j];
        double sum = 0.0;
        for (int64_t j = 0; j < cols; j++) {
            q[j] = exp(s[j] - mx);
            sum += q[j];
        }
        for (int64_t j = 0; j < cols; j++)
            q[j] /= sum;
    }
}
