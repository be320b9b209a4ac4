/* CSV reader: a streaming RFC 4180 record reader, strict number parsing in the "C" locale,
 * header detection, and label columns holding class indices, class names or real targets.
 * Every fault is reported with the line and column where it is and the text found there. */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"
#include "internal.h"

rg_csv_opts rg_csv_defaults(void)
{
    rg_csv_opts o = {
        .header = RG_CSV_HEADER_AUTO,
        .target = RG_CSV_TARGET_AUTO,
        .label_col = -1,
        .label_name = NULL,
        .delimiter = ',',
        .allow_nonfinite = false,
        .max_record = (size_t)64 << 20,
        .class_names = NULL,
        .nclasses = 0,
    };
    return o;
}

/* ---------------------------------------------------------------------------------------
 * Records
 * ------------------------------------------------------------------------------------- */

typedef struct field {
    size_t off, len; /* into the record buffer; the text is NUL-terminated there */
    int64_t line;    /* line where the field starts */
    bool quoted;
} field;

typedef struct record {
    char *buf;
    size_t len, cap;
    field *f;
    size_t nf, fcap;
    int64_t line; /* line where the record starts */
} record;

typedef struct reader {
    FILE *fp;
    const char *path;
    char delim;
    size_t max_record;
    unsigned char chunk[1 << 16];
    size_t clen, cpos;
    int64_t line; /* current line, 1-based */
    char *err;
    size_t errlen;
    rg_status status; /* of the failure that stopped reading */
} reader;

static int rd_get(reader *r)
{
    if (r->cpos == r->clen) {
        r->clen = fread(r->chunk, 1, sizeof r->chunk, r->fp);
        r->cpos = 0;
        if (r->clen == 0)
            return EOF;
    }
    return r->chunk[r->cpos++];
}

static int rd_peek(reader *r)
{
    int c = rd_get(r);
    if (c != EOF)
        r->cpos--;
    return c;
}

static void record_free(record *rec)
{
    rg__mem_free(rec->buf);
    rg__mem_free(rec->f);
}

static bool rec_put(reader *r, record *rec, char c)
{
    if (rec->len >= r->max_record) {
        rg__errf(r->err, r->errlen,
                 "%s: line %lld: record longer than the %zu-byte limit (max_record)", r->path,
                 (long long)rec->line, r->max_record);
        r->status = RG_ERR_FORMAT;
        return false;
    }
    if (rec->len + 1 >= rec->cap) {
        size_t cap = rec->cap ? rec->cap * 2 : 256;
        char *b = rg__mem_realloc(rec->buf, rec->cap, cap);
        if (!b) {
            rg__errf(r->err, r->errlen, "%s: out of memory", r->path);
            r->status = RG_ERR_NOMEM;
            return false;
        }
        rec->buf = b;
        rec->cap = cap;
    }
    rec->buf[rec->len++] = c;
    return true;
}

static bool rec_field(reader *r, record *rec, size_t off, int64_t line, bool quoted)
{
    if (!rec_put(r, rec, '\0'))
        return false;
    if (rec->nf == rec->fcap) {
        size_t cap = rec->fcap ? rec->fcap * 2 : 16;
        field *f = rg__mem_realloc(rec->f, rec->fcap * sizeof *f, cap * sizeof *f);
        if (!f) {
            rg__errf(r->err, r->errlen, "%s: out of memory", r->path);
            r->status = RG_ERR_NOMEM;
            return false;
        }
        rec->f = f;
        rec->fcap = cap;
    }
    size_t len = rec->len - 1 - off;
    if (!quoted) {
        /* spaces around an unquoted field are padding, not content */
        while (len > 0 && (rec->buf[off] == ' ' || rec->buf[off] == '\t'))
            off++, len--;
        while (len > 0 && (rec->buf[off + len - 1] == ' ' || rec->buf[off + len - 1] == '\t'))
            len--;
        rec->buf[off + len] = '\0';
    }
    rec->f[rec->nf++] = (field){off, len, line, quoted};
    return true;
}

static bool is_eol(int c)
{
    return c == '\n' || c == '\r' || c == EOF;
}

/* Reads the next non-blank record into rec: 1 when read, 0 at the end of the file, -1 on
 * an error (message set). */
static int read_record(reader *r, record *rec)
{
    for (;;) {
        rec->len = 0;
        rec->nf = 0;
        int c = rd_get(r);
        if (c == EOF && ferror(r->fp)) {
            rg__errf(r->err, r->errlen, "%s: read error: %s", r->path, strerror(errno));
            r->status = RG_ERR_IO;
            return -1;
        }
        if (c == EOF)
            return 0;
        rec->line = r->line;
        for (;;) {
            size_t off = rec->len;
            int64_t fline = r->line;
            bool quoted = false;
            while (c == ' ' || c == '\t') {
                if (!rec_put(r, rec, (char)c))
                    return -1;
                c = rd_get(r);
            }
            if (c == '"') {
                quoted = true;
                rec->len = off; /* the padding before a quote is not content */
                for (;;) {
                    c = rd_get(r);
                    if (c == EOF) {
                        rg__errf(r->err, r->errlen,
                                 "%s: line %lld, column %zu: quoted field not closed before the "
                                 "end of the file",
                                 r->path, (long long)fline, rec->nf + 1);
                        r->status = RG_ERR_FORMAT;
                        return -1;
                    }
                    if (c == '"') {
                        c = rd_get(r);
                        if (c != '"')
                            break;
                    } else if (c == '\n') {
                        r->line++;
                    }
                    if (!rec_put(r, rec, (char)c))
                        return -1;
                }
                while (c == ' ' || c == '\t')
                    c = rd_get(r);
                if (c != r->delim && !is_eol(c)) {
                    char q[64];
                    char ch = (char)c;
                    rg__quote(q, sizeof q, &ch, 1);
                    rg__errf(r->err, r->errlen,
                             "%s: line %lld, column %zu: '%s' after the closing quote (expected "
                             "the delimiter or the end of the line)",
                             r->path, (long long)r->line, rec->nf + 1, q);
                    r->status = RG_ERR_FORMAT;
                    return -1;
                }
            } else {
                while (c != r->delim && !is_eol(c)) {
                    if (!rec_put(r, rec, (char)c))
                        return -1;
                    c = rd_get(r);
                }
            }
            if (!rec_field(r, rec, off, fline, quoted))
                return -1;
            if (c == r->delim) {
                c = rd_get(r);
                continue;
            }
            if (c == '\r' && rd_peek(r) == '\n')
                rd_get(r);
            if (c != EOF)
                r->line++;
            break;
        }
        if (ferror(r->fp)) {
            rg__errf(r->err, r->errlen, "%s: read error: %s", r->path, strerror(errno));
            r->status = RG_ERR_IO;
            return -1;
        }
        if (rec->nf == 1 && !rec->f[0].quoted && rec->f[0].len == 0)
            continue; /* a blank line */
        return 1;
    }
}

static const char *ftext(const record *rec, size_t j)
{
    return rec->buf + rec->f[j].off;
}

/* ---------------------------------------------------------------------------------------
 * Numbers
 * ------------------------------------------------------------------------------------- */

/* Parses a whole field as a double. Returns NULL and sets *v, or the reason it is not an
 * acceptable number. */
static const char *parse_num(const char *s, size_t len, bool allow_nonfinite, double *v)
{
    while (len > 0 && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len == 0)
        return "empty field";
    if (memchr(s, '\0', len))
        return "NUL byte in field";
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end != s + len || end == s)
        return "not a number";
    if (isnan(x) || isinf(x)) {
        if (errno == ERANGE)
            return "out of the range of a double";
        if (!allow_nonfinite)
            return "NaN and infinity are not accepted (allow_nonfinite is off)";
    }
    *v = x;
    return NULL;
}

/* ---------------------------------------------------------------------------------------
 * Class names: an open-addressing table interning label texts in order of first appearance
 * ------------------------------------------------------------------------------------- */

typedef struct names {
    char **name;  /* by id */
    int32_t n, cap;
    int32_t *slot; /* hash slots: id + 1, 0 empty */
    size_t nslot;
} names;

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001B3ull;
    return h;
}

static void names_free(names *t)
{
    for (int32_t i = 0; i < t->n; i++)
        rg__mem_free(t->name[i]);
    rg__mem_free(t->name);
    rg__mem_free(t->slot);
    memset(t, 0, sizeof *t);
}

/* The id of s, adding it if new; -1 when memory runs out. */
static int32_t names_intern(names *t, const char *s)
{
    if ((size_t)t->n * 2 + 2 > t->nslot) {
        size_t ns = t->nslot ? t->nslot * 2 : 64;
        int32_t *slot = rg__mem_calloc(ns, sizeof *slot);
        if (!slot)
            return -1;
        for (int32_t i = 0; i < t->n; i++) {
            size_t k = (size_t)(fnv1a(t->name[i]) & (ns - 1));
            while (slot[k])
                k = (k + 1) & (ns - 1);
            slot[k] = i + 1;
        }
        rg__mem_free(t->slot);
        t->slot = slot;
        t->nslot = ns;
    }
    size_t k = (size_t)(fnv1a(s) & (t->nslot - 1));
    while (t->slot[k]) {
        if (strcmp(t->name[t->slot[k] - 1], s) == 0)
            return t->slot[k] - 1;
        k = (k + 1) & (t->nslot - 1);
    }
    if (t->n == t->cap) {
        int32_t cap = t->cap ? t->cap * 2 : 16;
        char **nm = rg__mem_realloc(t->name, sizeof(char *) * (size_t)t->cap,
                                     sizeof(char *) * (size_t)cap);
        if (!nm)
            return -1;
        t->name = nm;
        t->cap = cap;
    }
    char *copy = rg__mem_strndup(s, strlen(s));
    if (!copy)
        return -1;
    t->name[t->n] = copy;
    t->slot[k] = t->n + 1;
    return t->n++;
}

/* The id of s, or -1 when it is not in the table. */
static int32_t names_find(const names *t, const char *s)
{
    if (!t->nslot)
        return -1;
    size_t mask = t->nslot - 1;
    for (size_t k = (size_t)(fnv1a(s) & mask); t->slot[k]; k = (k + 1) & mask)
        if (strcmp(t->name[t->slot[k] - 1], s) == 0)
            return t->slot[k] - 1;
    return -1;
}

typedef struct named_id {
    const char *name;
    int32_t id;
} named_id;

static int cmp_named(const void *a, const void *b)
{
    return strcmp(((const named_id *)a)->name, ((const named_id *)b)->name);
}

/* ---------------------------------------------------------------------------------------
 * The reader
 * ------------------------------------------------------------------------------------- */

typedef struct csv_state {
    reader *r;
    const rg_csv_opts *o;
    const record *header; /* NULL when there is none */
    size_t ncols;
    int64_t label;    /* label column, -1 for none */
    int64_t d;
    int64_t n, rowcap;
    double *x;
    double *lab_num;  /* label as a number (NaN when it is text) */
    int32_t *lab_id;  /* label's interned text id (or given class index) */
    names nm;
    names given;           /* opts.class_names, hashed at the first label */
    int32_t *given_index;  /* given's id -> index in opts.class_names */
    bool all_num, all_int, too_many;
    int64_t max_int;
    int64_t first_line;
} csv_state;

/* "line L, column C (name)" into buf. */
static const char *where(const csv_state *s, const record *rec, size_t j, char *buf, size_t n)
{
    int k = snprintf(buf, n, "line %lld, column %zu", (long long)rec->f[j].line, j + 1);
    if (s->header && j < s->header->nf && s->header->f[j].len > 0 && k > 0 && (size_t)k < n) {
        char q[64];
        rg__quote(q, sizeof q, ftext(s->header, j), s->header->f[j].len);
        snprintf(buf + k, n - (size_t)k, " (%s)", q);
    }
    return buf;
}

static rg_status fail_field(csv_state *s, const record *rec, size_t j, const char *why)
{
    char w[128], q[64];
    rg__quote(q, sizeof q, ftext(rec, j), rec->f[j].len);
    rg__errf(s->r->err, s->r->errlen, "%s: %s: '%s': %s", s->r->path,
             where(s, rec, j, w, sizeof w), q, why);
    return RG_ERR_FORMAT;
}

static rg_status grow_rows(csv_state *s)
{
    int64_t cap = s->rowcap ? s->rowcap * 2 : 256;
    if (s->d > 0 && cap > (int64_t)(SIZE_MAX / sizeof(double) / (size_t)s->d)) {
        rg__errf(s->r->err, s->r->errlen, "%s: too many rows", s->r->path);
        return RG_ERR_NOMEM;
    }
    size_t row = sizeof(double) * (size_t)(s->d ? s->d : 1);
    double *x = rg__mem_realloc(s->x, row * (size_t)s->rowcap, row * (size_t)cap);
    if (!x)
        goto nomem;
    s->x = x;
    if (s->label >= 0) {
        double *ln = rg__mem_realloc(s->lab_num, sizeof(double) * (size_t)s->rowcap,
                                     sizeof(double) * (size_t)cap);
        if (!ln)
            goto nomem;
        s->lab_num = ln;
        int32_t *li = rg__mem_realloc(s->lab_id, sizeof(int32_t) * (size_t)s->rowcap,
                                      sizeof(int32_t) * (size_t)cap);
        if (!li)
            goto nomem;
        s->lab_id = li;
    }
    s->rowcap = cap;
    return RG_OK;
nomem:
    rg__errf(s->r->err, s->r->errlen, "%s: out of memory", s->r->path);
    return RG_ERR_NOMEM;
}

/* Hashes opts.class_names: looking a label up among up to RG_CSV_MAX_CLASSES names one by
 * one, row after row, made a file of 100 000 rows take 20 s. A name given twice maps to its
 * last index. */
static rg_status index_class_names(csv_state *s)
{
    const rg_csv_opts *o = s->o;
    s->given_index = rg__mem_malloc(sizeof(int32_t) * (size_t)o->nclasses);
    if (!s->given_index)
        goto nomem;
    for (int32_t c = 0; c < o->nclasses; c++) {
        int32_t id = names_intern(&s->given, o->class_names[c]);
        if (id < 0)
            goto nomem;
        s->given_index[id] = c;
    }
    return RG_OK;
nomem:
    rg__errf(s->r->err, s->r->errlen, "%s: out of memory", s->r->path);
    return RG_ERR_NOMEM;
}

/* The label of row i from field j of rec. */
static rg_status take_label(csv_state *s, const record *rec, size_t j, int64_t i)
{
    const rg_csv_opts *o = s->o;
    const char *t = ftext(rec, j);
    size_t len = rec->f[j].len;
    double v = NAN;
    const char *why = parse_num(t, len, o->allow_nonfinite, &v);
    s->lab_num[i] = why ? NAN : v;
    s->lab_id[i] = -1;
    if (o->class_names) {
        rg_status st;
        if (!s->given_index && (st = index_class_names(s)) != RG_OK)
            return st;
        int32_t id = names_find(&s->given, t);
        if (id >= 0)
            s->lab_id[i] = s->given_index[id];
        if (s->lab_id[i] < 0)
            return fail_field(s, rec, j, "not one of the model's class names");
        return RG_OK;
    }
    if (o->target == RG_CSV_TARGET_REAL) {
        return why ? fail_field(s, rec, j, why) : RG_OK;
    }
    if (len == 0)
        return fail_field(s, rec, j, "empty label");
    for (size_t k = 0; k < len; k++)
        if ((unsigned char)t[k] < 0x20 || t[k] == 0x7F)
            return fail_field(s, rec, j, "control character in label");
    if (why) {
        s->all_num = s->all_int = false;
    } else if (!(v >= 0.0 && v < RG_CSV_MAX_CLASSES && v == floor(v))) {
        s->all_int = false;
    } else if ((int64_t)v > s->max_int) {
        s->max_int = (int64_t)v;
    }
    if (s->too_many) {
        if (!s->all_num)
            return fail_field(s, rec, j,
                              "text label, but the column has more distinct values than "
                              "RG_CSV_MAX_CLASSES classes");
        return RG_OK;
    }
    int32_t id = names_intern(&s->nm, t);
    if (id < 0) {
        rg__errf(s->r->err, s->r->errlen, "%s: out of memory", s->r->path);
        return RG_ERR_NOMEM;
    }
    s->lab_id[i] = id;
    if (s->nm.n > RG_CSV_MAX_CLASSES) {
        /* only a numeric (real-valued) column can have this many distinct values */
        if (!s->all_num)
            return fail_field(s, rec, j, "more distinct class names than RG_CSV_MAX_CLASSES");
        s->too_many = true;
        names_free(&s->nm);
    }
    return RG_OK;
}

static rg_status take_row(csv_state *s, const record *rec)
{
    if (rec->nf != s->ncols) {
        size_t j = rec->nf < s->ncols ? rec->nf : s->ncols;
        char w[128], q[64];
        if (rec->nf < s->ncols) {
            rg__errf(s->r->err, s->r->errlen,
                     "%s: line %lld, column %zu: missing field: the row has %zu fields, expected "
                     "%zu as on line %lld",
                     s->r->path, (long long)rec->line, j + 1, rec->nf, s->ncols,
                     (long long)s->first_line);
        } else {
            rg__quote(q, sizeof q, ftext(rec, j), rec->f[j].len);
            rg__errf(s->r->err, s->r->errlen,
                     "%s: %s: extra field '%s': the row has %zu fields, expected %zu as on line "
                     "%lld",
                     s->r->path, where(s, rec, j, w, sizeof w), q, rec->nf, s->ncols,
                     (long long)s->first_line);
        }
        return RG_ERR_FORMAT;
    }
    rg_status st;
    if (s->n == s->rowcap && (st = grow_rows(s)) != RG_OK)
        return st;
    double *row = s->x + s->n * s->d;
    int64_t k = 0;
    for (size_t j = 0; j < rec->nf; j++) {
        if ((int64_t)j == s->label) {
            if ((st = take_label(s, rec, j, s->n)) != RG_OK)
                return st;
            continue;
        }
        const char *why = parse_num(ftext(rec, j), rec->f[j].len, s->o->allow_nonfinite, &row[k]);
        if (why)
            return fail_field(s, rec, j, why);
        k++;
    }
    s->n++;
    return RG_OK;
}

/* Whether field j of rec reads as a number (infinities and NaN included). */
static bool numeric(const record *rec, size_t j)
{
    double v;
    return parse_num(ftext(rec, j), rec->f[j].len, true, &v) == NULL;
}

static bool detect_header(const record *a, const record *b)
{
    if (!b) {
        for (size_t j = 0; j < a->nf; j++)
            if (numeric(a, j))
                return false;
        return true;
    }
    for (size_t j = 0; j < a->nf && j < b->nf; j++)
        if (!numeric(a, j) && numeric(b, j))
            return true;
    return false;
}

/* Chooses the label column from the options and the header. */
static rg_status pick_label(csv_state *s)
{
    const rg_csv_opts *o = s->o;
    reader *r = s->r;
    if (o->target == RG_CSV_TARGET_NONE && !o->class_names) {
        s->label = -1;
        return RG_OK;
    }
    if (o->label_name) {
        if (!s->header) {
            rg__errf(r->err, r->errlen, "%s: label column '%.40s' asked by name, but the file "
                     "has no header", r->path, o->label_name);
            return RG_ERR_ARG;
        }
        s->label = -1;
        for (size_t j = 0; j < s->header->nf; j++) {
            if (strcmp(ftext(s->header, j), o->label_name) != 0)
                continue;
            if (s->label >= 0) {
                rg__errf(r->err, r->errlen, "%s: line %lld: two columns are named '%.40s' "
                         "(columns %lld and %zu)", r->path, (long long)s->header->line,
                         o->label_name, (long long)s->label + 1, j + 1);
                return RG_ERR_FORMAT;
            }
            s->label = (int64_t)j;
        }
        if (s->label < 0) {
            char list[256] = "";
            size_t used = 0;
            for (size_t j = 0; j < s->header->nf && used + 70 < sizeof list; j++) {
                char q[64];
                rg__quote(q, sizeof q, ftext(s->header, j), s->header->f[j].len);
                used += (size_t)snprintf(list + used, sizeof list - used, "%s%s",
                                         j ? ", " : "", q);
            }
            rg__errf(r->err, r->errlen, "%s: no column named '%.40s' (columns: %s)", r->path,
                     o->label_name, list);
            return RG_ERR_ARG;
        }
        return RG_OK;
    }
    int64_t c = o->label_col < 0 ? (int64_t)s->ncols + o->label_col : o->label_col;
    if (c < 0 || c >= (int64_t)s->ncols) {
        rg__errf(r->err, r->errlen, "%s: label column %d is out of range: line %lld has %zu "
                 "columns", r->path, o->label_col, (long long)s->first_line, s->ncols);
        return RG_ERR_ARG;
    }
    s->label = c;
    return RG_OK;
}

/* Builds the data set from the collected rows and labels. */
static rg_status finish(csv_state *s, rg_dataset **out)
{
    const rg_csv_opts *o = s->o;
    rg_target_kind kind = RG_TARGET_NONE;
    int32_t nclasses = 0;
    bool by_name = false;
    if (s->label >= 0) {
        if (o->class_names) {
            kind = RG_TARGET_CLASS;
            nclasses = o->nclasses;
            by_name = true;
        } else if (o->target == RG_CSV_TARGET_REAL) {
            kind = RG_TARGET_REAL;
        } else if (s->all_num && s->all_int) {
            kind = RG_TARGET_CLASS;
            nclasses = (int32_t)s->max_int + 1;
        } else if (s->all_num && o->target == RG_CSV_TARGET_AUTO) {
            kind = RG_TARGET_REAL;
        } else if (s->too_many) {
            rg__errf(s->r->err, s->r->errlen, "%s: the label column has more than %d distinct "
                     "values: too many for classes (read it as real targets)", s->r->path,
                     RG_CSV_MAX_CLASSES);
            return RG_ERR_FORMAT;
        } else {
            kind = RG_TARGET_CLASS;
            nclasses = s->nm.n;
            by_name = true;
        }
    }
    rg_dataset *ds = rg__mem_calloc(1, sizeof *ds);
    if (!ds) {
        rg__errf(s->r->err, s->r->errlen, "%s: out of memory", s->r->path);
        return RG_ERR_NOMEM;
    }
    ds->n = s->n;
    ds->d = s->d;
    ds->kind = kind;
    ds->nclasses = nclasses;
    ds->x = s->x;
    s->x = NULL;
    bool ok = true;
    if (kind == RG_TARGET_REAL) {
        ds->targets = s->lab_num;
        s->lab_num = NULL;
    } else if (kind == RG_TARGET_CLASS) {
        ds->labels = s->lab_id; /* reused in place: same size, rewritten below */
        s->lab_id = NULL;
        if (!by_name) {
            for (int64_t i = 0; i < s->n; i++)
                ds->labels[i] = (int32_t)s->lab_num[i];
        } else if (o->class_names) {
            ok = (ds->class_names = rg__mem_calloc((size_t)nclasses, sizeof(char *))) != NULL;
            for (int32_t c = 0; ok && c < nclasses; c++)
                ok = (ds->class_names[c] = rg__mem_strndup(o->class_names[c],
                                                 strlen(o->class_names[c]))) != NULL;
        } else {
            /* classes in byte order of their names, so the numbering does not depend on the
             * order of the rows */
            named_id *order = rg__mem_malloc(sizeof(named_id) * (size_t)nclasses);
            int32_t *rank = rg__mem_malloc(sizeof(int32_t) * (size_t)nclasses);
            ds->class_names = rg__mem_calloc((size_t)nclasses, sizeof(char *));
            ok = order && rank && ds->class_names;
            if (ok) {
                for (int32_t c = 0; c < nclasses; c++)
                    order[c] = (named_id){s->nm.name[c], c};
                qsort(order, (size_t)nclasses, sizeof(named_id), cmp_named);
                for (int32_t c = 0; c < nclasses; c++) {
                    rank[order[c].id] = c;
                    ds->class_names[c] = s->nm.name[order[c].id];
                    s->nm.name[order[c].id] = NULL;
                }
                for (int64_t i = 0; i < s->n; i++)
                    ds->labels[i] = rank[ds->labels[i]];
            }
            rg__mem_free(order);
            rg__mem_free(rank);
        }
    }
    if (ok && s->header) {
        ok = (ds->feature_names = rg__mem_calloc((size_t)(s->d ? s->d : 1), sizeof(char *))) !=
             NULL;
        int64_t k = 0;
        for (size_t j = 0; ok && j < s->header->nf; j++) {
            char *nm = rg__mem_strndup(ftext(s->header, j), s->header->f[j].len);
            ok = nm != NULL;
            if ((int64_t)j == s->label)
                ds->target_name = nm;
            else if (ok)
                ds->feature_names[k++] = nm;
        }
    }
    if (!ok) {
        rg_dataset_free(ds);
        rg__errf(s->r->err, s->r->errlen, "%s: out of memory", s->r->path);
        return RG_ERR_NOMEM;
    }
    *out = ds;
    return RG_OK;
}

static rg_status check_opts(const rg_csv_opts *o, const char *path, char *err, size_t errlen)
{
    const char *why = NULL;
    if (o->delimiter == '"' || o->delimiter == '\n' || o->delimiter == '\r' ||
        o->delimiter == '\0' || o->delimiter == ' ')
        why = "the delimiter cannot be a quote, a space, NUL or a line end";
    else if (o->max_record < 1)
        why = "max_record must be positive";
    else if (o->class_names && (o->nclasses < 1 || o->nclasses > RG_CSV_MAX_CLASSES))
        why = "class_names given with nclasses outside [1, RG_CSV_MAX_CLASSES]";
    else if ((unsigned)o->header > RG_CSV_HEADER_NO || (unsigned)o->target > RG_CSV_TARGET_NONE)
        why = "unknown header or target mode";
    if (o->class_names)
        for (int32_t c = 0; !why && c < o->nclasses; c++)
            if (!o->class_names[c])
                why = "a class name is NULL";
    if (why) {
        rg__errf(err, errlen, "%s: %s", path, why);
        return RG_ERR_ARG;
    }
    return RG_OK;
}

rg_status rg_csv_read(const char *path, const rg_csv_opts *opts, rg_dataset **out, char *err,
                      size_t errlen)
{
    rg_csv_opts o = opts ? *opts : rg_csv_defaults();
    if (out)
        *out = NULL;
    if (!path || !out) {
        rg__errf(err, errlen, "csv: no path or no output");
        return RG_ERR_ARG;
    }
    rg_status st = check_opts(&o, path, err, errlen);
    if (st != RG_OK)
        return st;
    reader *r = rg__mem_calloc(1, sizeof *r);
    if (!r) {
        rg__errf(err, errlen, "%s: out of memory", path);
        return RG_ERR_NOMEM;
    }
    *r = (reader){.path = path, .delim = o.delimiter, .max_record = o.max_record, .line = 1,
                  .err = err, .errlen = errlen};
    r->fp = fopen(path, "rb");
    if (!r->fp) {
        rg__errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        rg__mem_free(r);
        return RG_ERR_IO;
    }
    /* strtod follows LC_NUMERIC; a CSV decimal point is '.' whatever the program's locale */
    locale_t cloc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    locale_t prev = cloc ? uselocale(cloc) : (locale_t)0;

    record rec[2] = {{0}};
    csv_state s = {.r = r, .o = &o, .all_num = true, .all_int = true, .max_int = -1};
    /* a UTF-8 byte-order mark, as spreadsheets write, is not part of the first field */
    if (rd_peek(r) == 0xEF) {
        unsigned char *c = r->chunk + r->cpos;
        if (r->clen - r->cpos >= 3 && c[1] == 0xBB && c[2] == 0xBF)
            r->cpos += 3;
    }
    int got0 = read_record(r, &rec[0]);
    int got1 = got0 > 0 ? read_record(r, &rec[1]) : 0;
    if (got0 < 0 || got1 < 0) {
        st = r->status;
        goto done;
    }
    if (got0 == 0) {
        rg__errf(err, errlen, "%s: empty file: no header and no data", path);
        st = RG_ERR_FORMAT;
        goto done;
    }
    bool has_header = o.header == RG_CSV_HEADER_YES ||
                      (o.header == RG_CSV_HEADER_AUTO &&
                       (o.label_name || detect_header(&rec[0], got1 ? &rec[1] : NULL)));
    s.header = has_header ? &rec[0] : NULL;
    s.ncols = rec[0].nf;
    s.first_line = rec[0].line;
    if ((st = pick_label(&s)) != RG_OK)
        goto done;
    s.d = (int64_t)s.ncols - (s.label >= 0);
    if (s.d < 1) {
        rg__errf(err, errlen, "%s: no feature columns (line %lld has %zu column%s, the label "
                 "included)", path, (long long)s.first_line, s.ncols, s.ncols == 1 ? "" : "s");
        st = RG_ERR_FORMAT;
        goto done;
    }
    if (!has_header && (st = take_row(&s, &rec[0])) != RG_OK)
        goto done;
    /* rec[0] stays as the header; rows stream through rec[1] */
    for (int got = got1; got > 0; got = read_record(r, &rec[1]))
        if ((st = take_row(&s, &rec[1])) != RG_OK)
            goto done;
    if (r->status != RG_OK) {
        st = r->status;
        goto done;
    }
    if (s.n == 0) {
        rg__errf(err, errlen, "%s: no data rows after the header", path);
        st = RG_ERR_FORMAT;
        goto done;
    }
    st = finish(&s, out);
done:
    if (cloc) {
        uselocale(prev);
        freelocale(cloc);
    }
    fclose(r->fp);
    rg__mem_free(r);
    record_free(&rec[0]);
    record_free(&rec[1]);
    names_free(&s.nm);
    names_free(&s.given);
    rg__mem_free(s.given_index);
    rg__mem_free(s.x);
    rg__mem_free(s.lab_num);
    rg__mem_free(s.lab_id);
    return st;
}
