/* retrograd-bench end to end, on sizes small enough for a test: every workload's JSON has the
 * figures docs/performance.md and tools/bench/compare read, the counts it reports are the
 * model's, no step allocates, and a bad command line exits 2 with one line on stderr. The
 * figures themselves are timings and are not compared with anything here. The binary's path
 * comes in RETROGRAD_BIN. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runbin.h"
#include "suite.h"

/* The number under "key" in the JSON object of run_out (json_get, runbin.h). */
static double num(const char *key)
{
    return json_get(run_out, key);
}

/* The string under "key"; fails when it is missing or not `want`. */
static void text_is(const char *key, const char *want)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\": \"%s\"", key, want);
    ck_assert_msg(strstr(run_out, pat) != NULL, "no %s in %s", pat, run_out);
}

/* A successful run printing one JSON object on one line. */
static void assert_json(void)
{
    ck_assert_msg(run_status == 0, "status %d, stderr: %s", run_status, run_err);
    const size_t len = strlen(run_out);
    ck_assert_msg(len > 2 && run_out[0] == '{' && strcmp(run_out + len - 2, "}\n") == 0 &&
                      !memchr(run_out, '\n', len - 1),
                  "not one JSON object: %s", run_out);
}

/* The figures every workload reports. */
static void assert_common(int threads)
{
    ck_assert_msg(strstr(run_out, "\"blas\": \"") != NULL, "no blas in %s", run_out);
    ck_assert_int_eq((int)num("threads"), threads);
    ck_assert(num("peak_rss_mib") > 0);
    ck_assert(num("allocs_per_step") == 0);
}

/* An error: status 2, nothing on stdout, one line on stderr naming the program and `what`. */
static void assert_usage_error(const char *what)
{
    ck_assert_msg(run_status == 2, "status %d, expected 2 (stderr: %s)", run_status, run_err);
    ck_assert_msg(run_out[0] == '\0', "stdout: %s", run_out);
    ck_assert_msg(strncmp(run_err, "retrograd-bench: ", 17) == 0, "stderr: %s", run_err);
    ck_assert_msg(strstr(run_err, what) != NULL, "stderr '%s' lacks '%s'", run_err, what);
    const char *nl = strchr(run_err, '\n');
    ck_assert_msg(nl != NULL, "stderr not ended by a newline: %s", run_err);
    /* a usage text may follow the message, never a second message */
    ck_assert_msg(nl[1] == '\0' || strncmp(nl + 1, "usage:", 6) == 0, "stderr: %s", run_err);
}

#define MLP_SMALL                                                                                  \
    "--layers", "16,8,4", "--batch", "4", "--steps", "3", "--warmup", "1", "--runs", "1"

START_TEST(test_mlp_json)
{
    RUN("mlp", MLP_SMALL, "--json");
    assert_json();
    text_is("workload", "mlp");
    text_is("layers", "16-8-4");
    text_is("gemm_shapes_verified", "yes");
    ck_assert_int_eq((int)num("batch"), 4);
    ck_assert_int_eq((int)num("parameters"), 16 * 8 + 8 + 8 * 4 + 4);
    ck_assert(num("samples_per_s") > 0);
    ck_assert(num("gemm_bound_samples_per_s") > 0);
    /* the ratio of the two figures above, as measured run by run */
    const double f = num("fraction_of_gemm_bound");
    ck_assert(f > 0 && isfinite(f));
    const double c = num("fraction_ceiling");
    ck_assert_msg(c > 0 && c <= 1, "ceiling %g", c);
    ck_assert(num("update_floor_us") >= 0);
    /* the bare step: the same GEMMs, and timings that are positive and finite */
    text_is("bare_step_verified", "yes");
    ck_assert(num("bare_step_us") > 0);
    const double bf = num("bare_fraction_of_gemm_bound"), ob = num("step_over_bare");
    ck_assert_msg(bf > 0 && isfinite(bf), "bare fraction %g", bf);
    ck_assert_msg(ob > 0 && isfinite(ob), "step over bare %g", ob);
    ck_assert(isfinite(num("final_loss")));
    assert_common(1);
}
END_TEST

START_TEST(test_mlp_two_threads)
{
    RUN("mlp", MLP_SMALL, "--threads", "2", "--json");
    assert_json();
    text_is("gemm_shapes_verified", "yes");
    text_is("bare_step_verified", "yes");
    assert_common(2);
}
END_TEST

START_TEST(test_mlp_text)
{
    RUN("mlp", MLP_SMALL);
    ck_assert_msg(run_status == 0, "status %d, stderr: %s", run_status, run_err);
    ck_assert(run_err[0] == '\0');
    const char *const lines[] = {"training",
                                 "GEMM-only bound",
                                 "fraction of the bound",
                                 "update's floor",
                                 "highest fraction reachable",
                                 "bare step: GEMMs + update only",
                                 "training step / bare step",
                                 "BLAS",
                                 "heap allocations per step"};
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++)
        ck_assert_msg(strstr(run_out, lines[i]) != NULL, "no '%s' in %s", lines[i], run_out);
}
END_TEST

START_TEST(test_chain_json)
{
    RUN("chain", "--n", "999", "--json");
    assert_json();
    text_is("workload", "chain");
    /* whole blocks of tanh, mul, add */
    ck_assert_int_eq((int)num("ops"), 999);
    ck_assert(num("nodes") > 999);
    ck_assert(num("build_ns_per_op") > 0);
    ck_assert(num("rerun_ns_per_op") > 0);
    ck_assert(num("bytes_per_node") > 0);
    assert_common(1);
}
END_TEST

START_TEST(test_wide_json)
{
    RUN("wide", "--n", "1000", "--threads", "2", "--json");
    assert_json();
    text_is("workload", "wide");
    ck_assert_int_eq((int)num("n"), 1000);
    ck_assert(num("us_per_call") > 0);
    /* sum(tanh(.)) over 1000 elements */
    ck_assert(fabs(num("y")) < 1000);
    assert_common(2);
}
END_TEST

START_TEST(test_help)
{
    RUN("--help");
    ck_assert_int_eq(run_status, 0);
    ck_assert(strncmp(run_out, "usage: retrograd-bench", 22) == 0);
    RUN("mlp", "--help");
    ck_assert_int_eq(run_status, 0);
    ck_assert_msg(strstr(run_out, "--layers") != NULL, "%s", run_out);
}
END_TEST

START_TEST(test_bad_command_lines)
{
    RUN("mlp", "--batch", "0");
    assert_usage_error("--batch");
    RUN("mlp", "--layers", "5");
    assert_usage_error("--layers");
    RUN("mlp", "--layers", "5,,3");
    assert_usage_error("--layers");
    RUN("mlp", "--steps");
    assert_usage_error("--steps");
    RUN("mlp", "--frobnicate");
    assert_usage_error("--frobnicate");
    RUN("chain", "--n", "-4");
    assert_usage_error("--n");
    RUN("wide", "--threads", "x");
    assert_usage_error("--threads");
    RUN("nonsense");
    assert_usage_error("nonsense");
}
END_TEST

static Suite *bench_suite(void)
{
    Suite *s = suite_create("bench");
    const tu_case cases[] = {
        {"mlp_json", test_mlp_json, 0},
        {"mlp_two_threads", test_mlp_two_threads, 0},
        {"mlp_text", test_mlp_text, 0},
        {"chain_json", test_chain_json, 0},
        {"wide_json", test_wide_json, 0},
        {"help", test_help, 0},
        {"bad_command_lines", test_bad_command_lines, 0},
    };
    tu_add_cases(s, cases, sizeof cases / sizeof *cases);
    return s;
}

int main(void)
{
    return tu_run_suite(bench_suite());
}
