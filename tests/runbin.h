/* Running the built `retrograd` binary from a Check test: its path comes in RETROGRAD_BIN,
 * its exit status, standard output and standard error land in run_status, run_out and
 * run_err. It runs in the test directory `dir` when the suite has set one (a suite that
 * writes files makes a fresh one per test), else in the test's own working directory.
 * Header-only and all inline, so a suite that calls only some of it compiles without warnings;
 * each end-to-end suite includes it once. */
#ifndef RG_TESTS_RUNBIN_H
#define RG_TESTS_RUNBIN_H

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int run_status;
static char run_out[1 << 17];
static char run_err[1 << 14];
/* Where the binary runs and the test's files go; empty until the suite sets it. */
static char dir[256];

static inline void slurp(FILE *f, char *buf, size_t cap)
{
    rewind(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
}

/* Runs RETROGRAD_BIN with argv (NULL-terminated, without argv[0]), feeding `input` (NULL:
 * nothing, so the binary never waits on the terminal) on stdin; stdout and stderr go to
 * run_out and run_err. Returns the exit status, or minus the signal's number when a signal
 * killed the binary. */
static inline int run_argv(const char *input, const char *const *argv)
{
    const char *bin = getenv("RETROGRAD_BIN");
    ck_assert_msg(bin && *bin, "RETROGRAD_BIN is not set");
    FILE *in = tmpfile(), *out = tmpfile(), *err = tmpfile();
    ck_assert(in && out && err);
    if (input)
        fputs(input, in);
    fflush(in);
    rewind(in);
    int nargs = 0;
    while (argv[nargs])
        nargs++;
    const char **args = calloc((size_t)nargs + 2, sizeof *args);
    ck_assert_ptr_nonnull(args);
    args[0] = bin;
    memcpy(args + 1, argv, (size_t)nargs * sizeof *args);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (dir[0] && chdir(dir) != 0)
            _exit(126);
        dup2(fileno(in), 0);
        dup2(fileno(out), 1);
        dup2(fileno(err), 2);
        execv(bin, (char *const *)args);
        _exit(127);
    }
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    run_status = WIFEXITED(ws) ? WEXITSTATUS(ws) : WIFSIGNALED(ws) ? -WTERMSIG(ws) : -1000;
    slurp(out, run_out, sizeof run_out);
    slurp(err, run_err, sizeof run_err);
    fclose(in);
    fclose(out);
    fclose(err);
    free(args);
    return run_status;
}

#define RUN(...) run_argv(NULL, (const char *const[]){__VA_ARGS__, NULL})
#define RUN_STDIN(input, ...) run_argv(input, (const char *const[]){__VA_ARGS__, NULL})

/* A successful run: status 0 and nothing on stderr. */
static inline void assert_ok(void)
{
    ck_assert_msg(run_status == 0, "status %d, stderr: %s", run_status, run_err);
    ck_assert_msg(run_err[0] == '\0', "stderr: %s", run_err);
}

/* An error: status 2, nothing on stdout, one line on stderr starting "retrograd: " and
 * containing `what`. */
static inline void assert_error(const char *what)
{
    ck_assert_msg(run_status == 2, "status %d, expected 2 (stderr: %s)", run_status, run_err);
    ck_assert_msg(run_out[0] == '\0', "stdout: %s", run_out);
    ck_assert_msg(strncmp(run_err, "retrograd: ", 11) == 0, "stderr: %s", run_err);
    size_t len = strlen(run_err);
    ck_assert_msg(len > 0 && run_err[len - 1] == '\n' && !memchr(run_err, '\n', len - 1),
                  "not one line: %s", run_err);
    ck_assert_msg(strstr(run_err, what), "stderr '%s' lacks '%s'", run_err, what);
}

/* The number under "key" in the JSON text `json` (the binary's --json output); fails the
 * test when it is missing or not a number. */
static inline double json_get(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(json, pat);
    ck_assert_msg(p, "no %s in %s", key, json);
    char *end;
    double v = strtod(p + strlen(pat), &end);
    ck_assert_msg(end != p + strlen(pat), "%s is not a number in %s", key, json);
    return v;
}

/* ---- files in the test directory ------------------------------------------------------- */

/* dir/name, in one of four rotating buffers so a call can take a few paths at once. */
static inline char *path_in(const char *name)
{
    static char buf[4][sizeof dir + 128];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

/* The whole of dir/name, NUL-terminated (free it); its length goes to *len when len is set. */
static inline char *read_file(const char *name, size_t *len)
{
    FILE *f = fopen(path_in(name), "rb");
    ck_assert_msg(f != NULL, "cannot open %s", name);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

static inline void write_file(const char *name, const void *data, size_t len)
{
    FILE *f = fopen(path_in(name), "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

#endif
