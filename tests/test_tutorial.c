/* The documentation cannot rot: the tutorial's program is compiled into this test and run,
 * the tutorial page shows that program exactly, and the API reference names every public
 * identifier of every header under include/. */
#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retrograd.h"
#include "retrograd/check.h"
#include "suite.h"

/* The tutorial's program, its main renamed. */
int tutorial_main(void);
#define main tutorial_main
#include "../docs/tutorial_example.c"
#undef main

/* ---- reading source files ---- */

/* Reads a whole file; NULL if it cannot be opened. The caller frees. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len - 1 == 0) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    return buf;
}

/* A file of the source tree, given relative to its root. The tests run from the build
 * directory, against which the compiler saw this file as __FILE__; running from the source
 * root, or with RG_SOURCE_ROOT set, works too. */
static char *read_source(const char *rel)
{
    char path[4096];
    const char *root = getenv("RG_SOURCE_ROOT");
    if (root) {
        snprintf(path, sizeof path, "%s/%s", root, rel);
        char *s = slurp(path);
        if (s)
            return s;
    }
    const char *me = __FILE__;
    const char *slash = strrchr(me, '/');
    if (slash) {
        snprintf(path, sizeof path, "%.*s/../%s", (int)(slash - me), me, rel);
        char *s = slurp(path);
        if (s)
            return s;
    }
    char *s = slurp(rel);
    ck_assert_msg(s != NULL, "cannot read %s (set RG_SOURCE_ROOT to the source tree)", rel);
    return s;
}

/* ---- the program runs ---- */

START_TEST(test_example_runs)
{
    /* Exit status 0: the loss fell below half its initial value and the check passed. */
    ck_assert_int_eq(tutorial_main(), 0);
}
END_TEST

/* ---- the page shows the program ---- */

/* The ```c blocks of a Markdown text, joined by one blank line. The caller frees. */
static char *c_blocks(const char *md)
{
    size_t cap = strlen(md) + 1, len = 0;
    char *out = malloc(cap);
    ck_assert_ptr_nonnull(out);
    bool in = false, first = true;
    for (const char *line = md; *line;) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) + 1 : strlen(line);
        if (!in && n == 5 && strncmp(line, "```c\n", 5) == 0) {
            in = true;
            if (!first)
                out[len++] = '\n';
            first = false;
        } else if (in && strncmp(line, "```", 3) == 0 && (n == 3 || line[3] == '\n')) {
            in = false;
        } else if (in) {
            memcpy(out + len, line, n);
            len += n;
        }
        line += n;
    }
    out[len] = '\0';
    return out;
}

START_TEST(test_doc_shows_example)
{
    char *md = read_source("docs/tutorial.md");
    char *code = read_source("docs/tutorial_example.c");
    char *shown = c_blocks(md);
    if (strcmp(shown, code) != 0) {
        size_t i = 0, line = 1;
        while (shown[i] && shown[i] == code[i])
            line += shown[i++] == '\n';
        ck_abort_msg("docs/tutorial.md differs from docs/tutorial_example.c at line %zu of "
                     "the program",
                     line);
    }
    free(shown);
    free(code);
    free(md);
}
END_TEST

/* ---- the API reference names every public identifier ---- */

static bool ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* True when `word` occurs in text as a whole identifier. */
static bool has_word(const char *text, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = strstr(text, word); p; p = strstr(p + 1, word))
        if ((p == text || !ident_char(p[-1])) && !ident_char(p[n]))
            return true;
    return false;
}

/* Every identifier of the header starting with rg_, RG_ or ck_assert_gradcheck, except
 * internal ones (rg__, RG__), must be named in api.md. Appends the missing ones to `miss`,
 * after the header's name, and returns how many there were. */
static int missing_words(const char *name, const char *header, const char *api, char *miss,
                         size_t cap)
{
    int count = 0;
    char found[4096] = "";
    for (const char *p = header; *p; p++) {
        if (p != header && ident_char(p[-1]))
            continue;
        bool ours = strncmp(p, "rg_", 3) == 0 || strncmp(p, "RG_", 3) == 0 ||
                    strncmp(p, "ck_assert_gradcheck", 19) == 0;
        if (!ours || strncmp(p, "rg__", 4) == 0 || strncmp(p, "RG__", 4) == 0)
            continue;
        size_t n = 0;
        while (ident_char(p[n]))
            n++;
        char word[128];
        /* A trailing underscore marks a token-pasting prefix (RG_##name) or a macro's
         * local variable, not an identifier of the API. */
        if (n >= sizeof word || p[n - 1] == '_') {
            p += n - 1;
            continue;
        }
        memcpy(word, p, n);
        word[n] = '\0';
        if (!has_word(api, word) && !has_word(found, word)) {
            size_t used = strlen(found);
            snprintf(found + used, sizeof found - used, " %s", word);
            count++;
        }
        p += n - 1;
    }
    if (count > 0) {
        size_t used = strlen(miss);
        snprintf(miss + used, cap - used, "\n  %s:%s", name, found);
    }
    return count;
}

/* Opens a directory of the source tree, looked for where read_source() looks for files; the
 * path that worked is written to `path`. NULL if it is nowhere. */
static DIR *open_source_dir(const char *rel, char *path, size_t len)
{
    const char *root = getenv("RG_SOURCE_ROOT");
    if (root) {
        snprintf(path, len, "%s/%s", root, rel);
        DIR *d = opendir(path);
        if (d)
            return d;
    }
    const char *me = __FILE__;
    const char *slash = strrchr(me, '/');
    if (slash) {
        snprintf(path, len, "%.*s/../%s", (int)(slash - me), me, rel);
        DIR *d = opendir(path);
        if (d)
            return d;
    }
    snprintf(path, len, "%s", rel);
    return opendir(path);
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The public headers: include/retrograd.h and every .h file in include/retrograd/, found by
 * listing the directory so that a new sub-header is checked without editing this test. Paths
 * are relative to the source root, sorted; returns their count. The caller frees each. */
static size_t public_headers(char **out, size_t cap)
{
    char dir[4096];
    DIR *d = open_source_dir("include/retrograd", dir, sizeof dir);
    ck_assert_msg(d != NULL, "cannot list include/retrograd (set RG_SOURCE_ROOT to the source "
                             "tree)");
    size_t n = 0;
    out[n++] = strdup("include/retrograd.h");
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 3 || strcmp(e->d_name + len - 2, ".h") != 0)
            continue;
        ck_assert_msg(n < cap, "more than %zu headers under include/", cap);
        char rel[512];
        snprintf(rel, sizeof rel, "include/retrograd/%s", e->d_name);
        out[n++] = strdup(rel);
    }
    closedir(d);
    for (size_t i = 0; i < n; i++)
        ck_assert_ptr_nonnull(out[i]);
    qsort(out, n, sizeof out[0], compare_strings);
    return n;
}

START_TEST(test_api_reference_complete)
{
    char *api = read_source("docs/api.md");
    char *headers[64];
    size_t nheaders = public_headers(headers, sizeof headers / sizeof headers[0]);
    /* The listing worked: the one sub-header every build has (the test helpers) is in it. */
    bool has_check = false;
    for (size_t i = 0; i < nheaders; i++)
        has_check |= strcmp(headers[i], "include/retrograd/check.h") == 0;
    ck_assert_msg(has_check, "include/retrograd/check.h not found by listing include/retrograd");
    char miss[8192] = "";
    int count = 0;
    for (size_t i = 0; i < nheaders; i++) {
        char *h = read_source(headers[i]);
        count += missing_words(headers[i], h, api, miss, sizeof miss);
        free(h);
        free(headers[i]);
    }
    ck_assert_msg(count == 0, "docs/api.md does not mention %d identifier(s):%s", count,
                  miss);
    free(api);
}
END_TEST

static Suite *tutorial_suite(void)
{
    Suite *s = suite_create("tutorial");
    const tu_case cases[] = {
        {"example trains and passes gradcheck", test_example_runs, 0},
        {"tutorial page shows the example", test_doc_shows_example, 0},
        {"API reference names every public identifier", test_api_reference_complete, 0},
    };
    tu_add_cases(s, cases, sizeof cases / sizeof *cases);
    return s;
}

int main(void)
{
    return tu_run_suite(tutorial_suite());
}
