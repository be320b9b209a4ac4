/* Running the built `retrograd` binary from a Check test: its path comes in RETROGRAD_BIN,
 * it runs in the test's directory `dir` (which the including test creates), and its exit
 * status, standard output and standard error land in run_status, run_out and run_err.
 * Header-only: each end-to-end suite includes it once. */
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
/* Where the test's files go: a fresh directory per test process. */
static char dir[64];

static void slurp(FILE *f, char *buf, size_t cap)
{
    rewind(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
}

/* Runs RETROGRAD_BIN with argv (NULL-terminated, without argv[0]) in the test directory;
 * stdout and stderr go to run_out and run_err. Returns the exit status. */
static int run_argv(const char *const *argv)
{
    const char *bin = getenv("RETROGRAD_BIN");
    ck_assert_msg(bin && *bin, "RETROGRAD_BIN is not set");
    FILE *out = tmpfile(), *err = tmpfile();
    ck_assert(out && err);
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
        if (chdir(dir) != 0)
            _exit(126);
        dup2(fileno(out), 1);
        dup2(fileno(err), 2);
        execv(bin, (char *const *)args);
        _exit(127);
    }
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    /* a child killed by a signal reads as minus the signal's number */
    run_status = WIFEXITED(ws) ? WEXITSTATUS(ws) : WIFSIGNALED(ws) ? -WTERMSIG(ws) : -1000;
    slurp(out, run_out, sizeof run_out);
    slurp(err, run_err, sizeof run_err);
    fclose(out);
    fclose(err);
    free(args);
    return run_status;
}

#define RUN(...) run_argv((const char *const[]){__VA_ARGS__, NULL})

/* A successful run: status 0 and nothing on stderr. */
static void assert_ok(void)
{
    ck_assert_msg(run_status == 0, "status %d, stderr: %s", run_status, run_err);
    ck_assert_msg(run_err[0] == '\0', "stderr: %s", run_err);
}

/* An error: status 2, nothing on stdout, one line on stderr starting "retrograd: " and
 * containing `what`. */
static void assert_error(const char *what)
{
    ck_assert_msg(run_status == 2, "status %d, expected 2 (stderr: %s)", run_status, run_err);
    ck_assert_msg(run_out[0] == '\0', "stdout: %s", run_out);
    ck_assert_msg(strncmp(run_err, "retrograd: ", 11) == 0, "stderr: %s", run_err);
    size_t len = strlen(run_err);
    ck_assert_msg(len > 0 && run_err[len - 1] == '\n' && !memchr(run_err, '\n', len - 1),
                  "not one line: %s", run_err);
    ck_assert_msg(strstr(run_err, what), "stderr '%s' lacks '%s'", run_err, what);
}

#endif
