/* `retrograd dot` end to end: every test runs the built binary (its path comes in
 * RETROGRAD_BIN) in a temporary directory of its own, on a model that `retrograd train` saves
 * there, and checks the exit status, the pictures written and the one-line error messages. */
#define _XOPEN_SOURCE 700 /* nftw, in tmpdir.h */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "retrograd.h"

#include "runbin.h"
#include "suite.h"
#include "tmpdir.h"

/* ---- files --------------------------------------------------------------------------- */

static bool exists(const char *name)
{
    struct stat st;
    return stat(path_in(name), &st) == 0;
}

/* Every test starts with a fresh directory holding M, a tiny model trained on xor (the
 * default network, 2-64-64-2 relu with cross-entropy). */
static void setup(void)
{
    ck_assert_ptr_nonnull(tu_tmpdir_make(dir, sizeof dir, "rg_dotcmd"));
    RUN("train", "--data", "xor", "--epochs", "5", "--save", "M", "--quiet");
    ck_assert_msg(run_status == 0, "training failed (%d): %s", run_status, run_err);
    ck_assert(exists("M"));
}

static void teardown(void)
{
    tu_tmpdir_remove(dir);
}

/* ---- DOT ----------------------------------------------------------------------------- */

/* The node whose title (the bold first line of its label) is `name`. */
static bool has_node(const char *dot, const char *name)
{
    char pat[64];
    snprintf(pat, sizeof pat, "<B>%s</B>", name);
    return strstr(dot, pat) != NULL;
}

/* A dashed edge labelled `label`: the gradient tie from a gradient node to the forward node
 * it is the gradient of. The attributes of one edge statement lie between its "->" and the
 * "]" that closes its attribute list. */
static bool has_dashed_tie(const char *dot, const char *label)
{
    char pat[64];
    snprintf(pat, sizeof pat, "label=<%s>", label);
    for (const char *p = strstr(dot, pat); p; p = strstr(p + 1, pat)) {
        const char *arrow = NULL;
        for (const char *q = dot; (q = strstr(q, "->")) && q < p; q++)
            arrow = q;
        if (!arrow || memchr(arrow, ']', (size_t)(p - arrow)))
            continue;
        const char *close = strchr(p, ']');
        const char *dashed = strstr(arrow, "style=dashed");
        if (dashed && close && dashed < close)
            return true;
    }
    return false;
}

/* The DOT of the model holds the lecture's names, values and the gradient ties. */
START_TEST(dot_file)
{
    RUN("dot", "--model", "M", "--dot", "out.dot");
    assert_ok();
    char *dot = read_file("out.dot", NULL);
    ck_assert(strncmp(dot, "digraph", 7) == 0);
    static const char *const names[] = {"x", "y", "W1", "b1", "a1", "h1", "W2", "b2", "a2",
                                        "h2", "W3", "b3", "a3", "loss"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        ck_assert_msg(has_node(dot, names[i]), "no node %s", names[i]);
    /* two hidden layers: no fourth layer */
    ck_assert(!has_node(dot, "W4"));
    static const char *const ties[] = {"dL/dW1", "dL/db1", "dL/da1", "dL/dh1", "dL/dW3"};
    for (size_t i = 0; i < sizeof ties / sizeof *ties; i++)
        ck_assert_msg(has_dashed_tie(dot, ties[i]), "no dashed tie %s", ties[i]);
    /* the parameter shows its gradient, the input its value: one row of zeros (the default
     * batch of 1 without --data), the label class 0 */
    ck_assert(strstr(dot, "dL/dW1 = "));
    ck_assert(strstr(dot, "input [1,2] #0"));
    ck_assert(strstr(dot, "= [0, 0]"));
    ck_assert(strstr(dot, "batch 1"));
    free(dot);
}
END_TEST

/* --data takes the first --batch rows: the input's shape follows, and its values are no
 * longer zeros. The drawing options reach the picture. */
START_TEST(data_batch_and_options)
{
    RUN("dot", "--model", "M", "--data", "xor", "--batch", "4", "--dot", "b.dot",
        "--forward-only", "--rankdir", "TB", "--highlight", "W1:loss");
    assert_ok();
    char *dot = read_file("b.dot", NULL);
    ck_assert(strstr(dot, "input [4,2] #0"));
    ck_assert(strstr(dot, "batch 4"));
    ck_assert(!strstr(dot, "= [0, 0, 0, 0, 0, 0, 0, 0]"));
    ck_assert(strstr(dot, "rankdir=TB"));
    /* forward only: no gradient node, hence no tie */
    ck_assert(has_node(dot, "W1"));
    ck_assert(!has_dashed_tie(dot, "dL/dW1"));
    free(dot);

    RUN("dot", "--model", "M", "--dot", "n.dot", "--no-values", "--no-grads");
    assert_ok();
    dot = read_file("n.dot", NULL);
    ck_assert(has_node(dot, "W1"));
    ck_assert(!strstr(dot, "dL/dW1 = "));
    ck_assert(!strstr(dot, "= [0, 0]"));
    free(dot);
}
END_TEST

/* --svg renders a real SVG document when the build renders; otherwise it says how to. */
START_TEST(svg_render)
{
    RUN("dot", "--model", "M", "--svg", "out.svg");
    if (!rg_dot_can_render()) {
        assert_error("dot -Tsvg");
        return;
    }
    assert_ok();
    size_t len;
    char *svg = read_file("out.svg", &len);
    ck_assert(strncmp(svg, "<?xml", 5) == 0);
    ck_assert(strstr(svg, "<svg"));
    ck_assert(len > 7 && strstr(svg + len - 8, "</svg>"));
    free(svg);
}
END_TEST

/* --frames writes one DOT picture per step of the reverse sweep, frame 0 the forward pass. */
START_TEST(frames)
{
    RUN("dot", "--model", "M", "--frames", "fr");
    assert_ok();
    ck_assert(exists("fr/frame_000.dot"));
    ck_assert(exists("fr/frame_001.dot"));
}
END_TEST

/* A damaged model: garbage, and the real file cut in half. */
START_TEST(corrupt_model)
{
    write_file("garbage", "not a model\n", 12);
    RUN("dot", "--model", "garbage", "--dot", "x.dot");
    assert_error("garbage");
    ck_assert(!exists("x.dot"));

    size_t len;
    char *m = read_file("M", &len);
    write_file("half", m, len / 2);
    free(m);
    RUN("dot", "--model", "half", "--dot", "x.dot");
    assert_error("half");
    ck_assert(!exists("x.dot"));

    RUN("dot", "--model", "missing", "--dot", "x.dot");
    assert_error("missing");
}
END_TEST

static const struct {
    const char *args[8];
    const char *what;
} bad_cases[] = {
    {{"dot", "--model", "M", "--dot", "x.dot", "--bogus"}, "unknown option '--bogus'"},
    {{"dot", "--dot", "x.dot"}, "missing --model"},
    {{"dot", "--model", "M"}, "nothing to draw"},
    {{"dot", "--model", "M", "--dot", "x.dot", "--batch=0"}, "--batch"},
    {{"dot", "--model", "M", "--dot", "x.dot", "--rankdir=XY"}, "--rankdir"},
    {{"dot", "--model", "M", "--dot", "x.dot", "--highlight=W1:nope"}, "nope"},
    {{"dot", "--model", "M", "--dot", "x.dot", "--forward-only", "--backward-only"},
     "exclude"},
    {{"dot", "--model", "M", "--dot", "x.dot", "stray"}, "unexpected argument 'stray'"},
    {{"dot", "--model", "M", "--dot", "x.dot", "--data=nosuch.csv"}, "nosuch.csv"},
};

START_TEST(bad_input)
{
    const char *argv[9] = {0};
    memcpy(argv, bad_cases[_i].args, sizeof bad_cases[_i].args);
    run_argv(NULL, argv);
    assert_error(bad_cases[_i].what);
    ck_assert(!exists("x.dot"));
}
END_TEST

START_TEST(help)
{
    RUN("dot", "--help");
    assert_ok();
    ck_assert(strstr(run_out, "usage: retrograd dot --model MODEL"));
    ck_assert(strstr(run_out, "--highlight A:B"));
    RUN("--help");
    assert_ok();
    ck_assert(strstr(run_out, "  dot "));
}
END_TEST

static Suite *dot_cmd_suite(void)
{
    Suite *s = suite_create("dot_cmd");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"dot_file", dot_file},   {"data_batch", data_batch_and_options},
        {"svg", svg_render},      {"frames", frames},
        {"corrupt", corrupt_model}, {"help", help},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
    }
    TCase *tc = tcase_create("bad_input");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, bad_input, 0, (int)(sizeof bad_cases / sizeof *bad_cases));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(dot_cmd_suite());
}
