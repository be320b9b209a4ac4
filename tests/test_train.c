/* `retrograd train` and `retrograd predict` end to end: every test runs the built binary (its
 * path comes in RETROGRAD_BIN) on built-in data or on files the test writes, and checks the
 * exit status, the JSON summary, the files written and the one-line error messages. */
#define _XOPEN_SOURCE 700 /* nftw, in tmpdir.h */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "retrograd.h"

#include "runbin.h"
#include "suite.h"
#include "tmpdir.h"

/* ---- JSON summary -------------------------------------------------------------------- */

/* The last line of stdout, which must be one JSON object. */
static const char *last_line(void)
{
    size_t len = strlen(run_out);
    ck_assert_msg(len > 1 && run_out[len - 1] == '\n', "no output: '%s'", run_out);
    const char *p = run_out + len - 1;
    while (p > run_out && p[-1] != '\n')
        p--;
    ck_assert_msg(p[0] == '{' && run_out[len - 2] == '}', "last line is not a JSON object: %s",
                  p);
    return p;
}

static bool json_has(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    return strstr(json, pat) != NULL;
}

/* The JSON line without the fields that measure time, which differ between runs. */
static void json_untimed(const char *json, char *out, size_t len)
{
    snprintf(out, len, "%s", json);
    const char *timed[] = {"\"seconds\": ", "\"samples_per_second\": "};
    for (int i = 0; i < 2; i++) {
        char *p = strstr(out, timed[i]);
        ck_assert_ptr_nonnull(p);
        char *end = p + strlen(timed[i]);
        while (*end && *end != ',' && *end != '}')
            end++;
        memmove(p, end, strlen(end) + 1);
    }
}

/* ---- files --------------------------------------------------------------------------- */

static int count_lines(const char *s, const char *prefix)
{
    int n = 0;
    for (const char *p = s; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        n += strncmp(p, prefix, strlen(prefix)) == 0;
    return n;
}

/* Three well-separated Gaussian classes in four features on very different scales (so
 * standardisation matters), with text labels: class c has mean (10c, 100 + 20c, -5c,
 * 1000 + 50c) and standard deviations (2, 4, 1, 10), i.e. the means are 5 standard
 * deviations apart in every feature. Drawn from the library's seeded generator, so the file
 * is the same on every machine. */
static void write_blobs(const char *name, int n_per_class, uint64_t seed, bool labels)
{
    static const char *const names[3] = {"red", "green", "blue"};
    const double mean[4] = {0, 100, 0, 1000}, step[4] = {10, 20, -5, 50}, sd[4] = {2, 4, 1, 10};
    rg_rng r;
    rg_rng_seed(&r, seed);
    FILE *f = fopen(path_in(name), "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "f1,f2,f3,f4%s\n", labels ? ",colour" : "");
    for (int i = 0; i < 3 * n_per_class; i++) {
        int c = i % 3;
        for (int j = 0; j < 4; j++)
            fprintf(f, "%s%.5f", j ? "," : "", mean[j] + step[j] * c + sd[j] * rg_rng_normal(&r));
        fprintf(f, labels ? ",%s\n" : "\n", names[c]);
    }
    ck_assert_int_eq(fclose(f), 0);
}

/* No temporary file of an atomic write is left in the directory. */
static void assert_no_temporaries(void)
{
    char cmd[sizeof dir + 64];
    snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -q '\\.tmp-'", dir);
    ck_assert_msg(system(cmd) != 0, "a temporary file was left in %s", dir);
}

static void setup(void)
{
    ck_assert_ptr_nonnull(tu_tmpdir_make(dir, sizeof dir, "rg_train"));
}

static void teardown(void)
{
    tu_tmpdir_remove(dir);
}

/* ---- training ------------------------------------------------------------------------ */

/* The issue's main job: with no options, the 3-class spiral to >= 0.95 training accuracy. */
START_TEST(default_spiral)
{
    RUN("train", "--quiet", "--json");
    assert_ok();
    const char *j = last_line();
    ck_assert_msg(json_get(j, "train_accuracy") >= 0.95, "%s", j);
    ck_assert_int_eq((int)json_get(j, "epochs"), 100);
    ck_assert_int_eq((int)json_get(j, "classes"), 3);
    ck_assert_int_eq((int)json_get(j, "train_rows"), 300);
    ck_assert(json_get(j, "final_loss") > 0 && json_get(j, "final_loss") < 0.2);
    ck_assert(json_get(j, "seconds") >= 0);
    ck_assert_msg(!json_has(j, "test_accuracy"), "no test data, yet %s", j);
    /* the graph is planned once: no step after the first allocates */
    ck_assert_int_eq((int)json_get(j, "step_allocations"), 0);
    /* --quiet: the JSON line is all there is */
    ck_assert_int_eq(count_lines(run_out, ""), 1);
}
END_TEST

START_TEST(xor_is_learned_exactly)
{
    RUN("train", "--data", "xor", "--quiet", "--json");
    assert_ok();
    ck_assert_double_eq(json_get(last_line(), "train_accuracy"), 1.0);
}
END_TEST

/* Not on a terminal: a header, one line per epoch, then the summary. */
START_TEST(plain_progress_lines)
{
    RUN("train", "--data", "moons", "--epochs", "7");
    assert_ok();
    ck_assert_int_eq(count_lines(run_out, "epoch "), 7);
    ck_assert_int_eq(count_lines(run_out, "data: moons, 200 rows"), 1);
    ck_assert_int_eq(count_lines(run_out, "train accuracy "), 1);
    ck_assert_msg(!strchr(run_out, '\r'), "a progress bar was drawn off a terminal");
}
END_TEST

/* Same seed, same numbers to the last bit (only the timings differ); another seed differs. */
START_TEST(same_seed_same_numbers)
{
    char a[2048], b[2048];
    RUN("train", "--data", "circles", "--epochs", "20", "--seed", "7", "--test-split", "0.25",
        "--quiet", "--json");
    assert_ok();
    json_untimed(last_line(), a, sizeof a);
    RUN("train", "--data", "circles", "--epochs", "20", "--seed", "7", "--test-split", "0.25",
        "--quiet", "--json");
    assert_ok();
    json_untimed(last_line(), b, sizeof b);
    ck_assert_str_eq(a, b);
    double loss7 = json_get(a, "final_loss");
    RUN("train", "--data", "circles", "--epochs", "20", "--seed", "8", "--test-split", "0.25",
        "--quiet", "--json");
    assert_ok();
    ck_assert(json_get(last_line(), "final_loss") != loss7);
}
END_TEST

/* The issue's CSV run: standardised, one hidden layer of 64, SGD with momentum 0.9, 30
 * epochs. The classes are 5 standard deviations apart, so nearly every row is separable;
 * the held-out fifth must be classified as well. */
START_TEST(csv_sgd_momentum)
{
    write_blobs("blobs.csv", 100, 11, true);
    RUN("train", "--data", "blobs.csv", "--standardize", "--hidden", "64", "--opt", "sgd",
        "--momentum", "0.9", "--epochs", "30", "--test-split", "0.2", "--quiet", "--json");
    assert_ok();
    const char *j = last_line();
    ck_assert_int_eq((int)json_get(j, "train_rows"), 240);
    ck_assert_int_eq((int)json_get(j, "test_rows"), 60);
    ck_assert_int_eq((int)json_get(j, "features"), 4);
    ck_assert_int_eq((int)json_get(j, "classes"), 3);
    ck_assert_msg(json_get(j, "train_accuracy") >= 0.95, "%s", j);
    ck_assert_msg(json_get(j, "test_accuracy") >= 0.9, "%s", j);
    ck_assert_msg(strstr(j, "\"network\": \"4-64-3 relu\""), "%s", j);
}
END_TEST

/* Training, then predict on the same file: the model file carries the standardisation and
 * the class names, and predict computes the same scores, so the accuracies agree exactly. */
START_TEST(save_then_predict)
{
    write_blobs("blobs.csv", 60, 12, true);
    RUN("train", "--data", "blobs.csv", "--standardize", "--hidden", "16", "--epochs", "5",
        "--save", "m.rgm", "--quiet", "--json");
    assert_ok();
    double acc = json_get(last_line(), "train_accuracy");
    RUN("predict", "--model", "m.rgm", "--data", "blobs.csv", "--json", "--out", "pred.csv");
    assert_ok();
    const char *j = last_line();
    ck_assert_double_eq(json_get(j, "accuracy"), acc);
    ck_assert_int_eq((int)json_get(j, "rows"), 180);
    ck_assert_msg(strstr(j, "\"confusion\": [["), "%s", j);
    assert_no_temporaries();

    /* the predictions file: a header naming the classes, then label, prediction and
     * probabilities per row; the probabilities sum to 1 and the prediction is the largest */
    char *csv = read_file("pred.csv", NULL);
    ck_assert_msg(strncmp(csv, "label,predicted,p_blue,p_green,p_red\n", 37) == 0, "%.80s", csv);
    int rows = 0, correct = 0;
    for (char *p = strchr(csv, '\n') + 1; *p; p = strchr(p, '\n') + 1, rows++) {
        char label[16], pred[16];
        double q[3];
        ck_assert_int_eq(sscanf(p, "%15[^,],%15[^,],%lf,%lf,%lf", label, pred, &q[0], &q[1],
                                &q[2]), 5);
        ck_assert(fabs(q[0] + q[1] + q[2] - 1) < 1e-5);
        static const char *const names[3] = {"blue", "green", "red"};
        int best = q[1] > q[0] ? 1 : 0;
        best = q[2] > q[best] ? 2 : best;
        ck_assert_str_eq(pred, names[best]);
        correct += strcmp(label, pred) == 0;
    }
    ck_assert_int_eq(rows, 180);
    ck_assert_double_eq((double)correct / rows, acc);
    free(csv);

    /* text output: the accuracy line and a confusion matrix whose rows add up to the data */
    RUN("predict", "--model", "m.rgm", "--data", "blobs.csv");
    assert_ok();
    ck_assert_int_eq(count_lines(run_out, "accuracy "), 1);
    ck_assert_int_eq(count_lines(run_out, "confusion matrix"), 1);
    ck_assert_int_eq(count_lines(run_out, "red "), 1);
}
END_TEST

/* Features only: no accuracy, and the predictions file has no label column. */
START_TEST(predict_without_labels)
{
    write_blobs("train.csv", 30, 13, true);
    write_blobs("new.csv", 5, 14, false);
    RUN("train", "--data", "train.csv", "--standardize", "--epochs", "3", "--save", "m.rgm",
        "--quiet");
    assert_ok();
    RUN("predict", "--model", "m.rgm", "--data", "new.csv", "--out", "p.csv", "--json");
    assert_ok();
    const char *j = last_line();
    ck_assert_int_eq((int)json_get(j, "rows"), 15);
    ck_assert_msg(!json_has(j, "accuracy"), "%s", j);
    char *csv = read_file("p.csv", NULL);
    ck_assert_msg(strncmp(csv, "predicted,p_blue,p_green,p_red\n", 31) == 0, "%.80s", csv);
    ck_assert_int_eq(count_lines(csv, ""), 16);
    free(csv);
}
END_TEST

/* Resuming from a model saved after 10 epochs for 10 more gives, bit for bit, the model of
 * 20 epochs in one run: weights, optimiser moments, step count and batch order all carry
 * over. */
START_TEST(resume_continues)
{
    write_blobs("blobs.csv", 40, 15, true);
    RUN("train", "--data", "blobs.csv", "--standardize", "--epochs", "20", "--save", "full.rgm",
        "--quiet", "--json");
    assert_ok();
    char full[2048];
    snprintf(full, sizeof full, "%s", last_line());
    RUN("train", "--data", "blobs.csv", "--standardize", "--epochs", "10", "--save",
        "half.rgm", "--quiet");
    assert_ok();
    RUN("train", "--resume", "half.rgm", "--data", "blobs.csv", "--epochs", "10", "--save",
        "resumed.rgm", "--json");
    assert_ok();
    const char *j = last_line();
    ck_assert_int_eq((int)json_get(j, "epochs"), 10);
    ck_assert_int_eq((int)json_get(j, "total_epochs"), 20);
    ck_assert_double_eq(json_get(j, "train_accuracy"), json_get(full, "train_accuracy"));
    ck_assert_double_eq(json_get(j, "final_loss"), json_get(full, "final_loss"));
    /* the epochs are numbered on from the saved model */
    ck_assert_int_eq(count_lines(run_out, "epoch 11/20"), 1);
    size_t la, lb;
    char *a = read_file("full.rgm", &la), *b = read_file("resumed.rgm", &lb);
    ck_assert_msg(la == lb && memcmp(a, b, la) == 0, "resumed model differs from the full run");
    free(a);
    free(b);
}
END_TEST

/* IDX files (the MNIST format): 2x2 byte "images" whose top-left pixel is bright for class 1. */
START_TEST(idx_images)
{
    enum { N = 64 };
    unsigned char img[16 + N * 4], lab[8 + N];
    const unsigned char ih[16] = {0, 0, 0x08, 3, 0, 0, 0, N, 0, 0, 0, 2, 0, 0, 0, 2};
    const unsigned char lh[8] = {0, 0, 0x08, 1, 0, 0, 0, N};
    memcpy(img, ih, 16);
    memcpy(lab, lh, 8);
    for (int i = 0; i < N; i++) {
        int c = i % 2;
        for (int p = 0; p < 4; p++)
            img[16 + 4 * i + p] = (unsigned char)((p == 0 ? 200 * c : 0) + (i * 7 + p * 13) % 50);
        lab[8 + i] = (unsigned char)c;
    }
    write_file("img.idx", img, sizeof img);
    write_file("lab.idx", lab, sizeof lab);
    RUN("train", "--data", "img.idx:lab.idx", "--hidden", "8", "--epochs", "30", "--batch", "8",
        "--save", "m.rgm", "--quiet", "--json");
    assert_ok();
    const char *j = last_line();
    ck_assert_int_eq((int)json_get(j, "features"), 4);
    ck_assert_double_eq(json_get(j, "train_accuracy"), 1.0);
    RUN("predict", "--model", "m.rgm", "--data", "img.idx:lab.idx", "--json");
    assert_ok();
    ck_assert_double_eq(json_get(last_line(), "accuracy"), 1.0);
}
END_TEST

/* --test-data: test rows from another file, labels mapped by name to the training classes. */
START_TEST(test_data_file)
{
    write_blobs("train.csv", 50, 16, true);
    write_blobs("test.csv", 10, 17, true);
    RUN("train", "--data", "train.csv", "--test-data", "test.csv", "--standardize", "--epochs",
        "10", "--quiet", "--json");
    assert_ok();
    const char *j = last_line();
    ck_assert_int_eq((int)json_get(j, "test_rows"), 30);
    ck_assert_msg(json_get(j, "test_accuracy") >= 0.9, "%s", j);
}
END_TEST

/* ---- pictures ------------------------------------------------------------------------ */

START_TEST(plot_and_curve)
{
    RUN("train", "--data", "moons", "--epochs", "10", "--test-split", "0.2", "--plot",
        "regions.svg", "--curve", "curve.svg", "--quiet");
    assert_ok();
    ck_assert_int_eq(count_lines(run_out, "wrote plot regions.svg"), 1);
    assert_no_temporaries();
    char *svg = read_file("regions.svg", NULL);
    ck_assert(strncmp(svg, "<?xml", 5) == 0);
    ck_assert_msg(strstr(svg, "</svg>\n"), "regions.svg is cut short");
    ck_assert(strstr(svg, "Decision regions: moons"));
    /* 160 training points as circles, 40 test points as diamonds, shaded cells as rects */
    int circles = 0, diamonds = 0;
    for (const char *p = svg; (p = strstr(p, "<circle")); p++)
        circles++;
    for (const char *p = svg; (p = strstr(p, "<path d=\"M")); p++)
        diamonds++;
    /* legend markers: 2 class swatches and 2 point kinds are circles, one is a diamond */
    ck_assert_int_eq(circles, 160 + 4);
    ck_assert_int_eq(diamonds, 40 + 1);
    ck_assert(strstr(svg, "<path fill=\"#"));
    free(svg);
    svg = read_file("curve.svg", NULL);
    ck_assert(strncmp(svg, "<?xml", 5) == 0 && strstr(svg, "</svg>\n"));
    ck_assert(strstr(svg, "<polyline"));
    ck_assert(strstr(svg, ">epoch</text>"));
    ck_assert(strstr(svg, ">accuracy</text>"));
    ck_assert(strstr(svg, "test (at the end of the epoch)"));
    free(svg);
}
END_TEST

/* The network's graph in DOT, backward pass included (when the build has libcgraph). */
START_TEST(dot_graph)
{
    RUN("train", "--data", "xor", "--hidden", "3", "--epochs", "1", "--dot", "net.dot",
        "--quiet");
    if (run_status == 2 && strstr(run_err, "not supported"))
        return; /* a build without Graphviz says so */
    assert_ok();
    char *dot = read_file("net.dot", NULL);
    ck_assert(strstr(dot, "digraph"));
    ck_assert(strstr(dot, "dL/dW1"));
    ck_assert(strstr(dot, "W2"));
    ck_assert(strstr(dot, "relu_grad")); /* the backward pass is drawn */
    free(dot);
    /* the drawing options of retrograd expr: forward only, a rendered SVG */
    RUN("train", "--data", "xor", "--hidden", "3", "--epochs", "1", "--dot", "fwd.dot",
        "--forward-only", "--rankdir", "TB", "--svg", "net.svg", "--quiet");
    if (run_status == 2 && strstr(run_err, "dot -Tsvg"))
        return; /* a build without libgvc cannot render */
    assert_ok();
    dot = read_file("fwd.dot", NULL);
    ck_assert(strstr(dot, "W1"));
    ck_assert(strstr(dot, "relu ")); /* forward nodes, but no node of the backward pass */
    ck_assert(!strstr(dot, "relu_grad"));
    ck_assert(!strstr(dot, "matmul(A^T, B)"));
    ck_assert(strstr(dot, "rankdir=TB"));
    free(dot);
    char *svg = read_file("net.svg", NULL);
    ck_assert(strstr(svg, "<svg") && strstr(svg, "</svg>"));
    free(svg);
    RUN("train", "--data", "xor", "--rankdir", "up", "--quiet");
    ck_assert_int_eq(run_status, 2);
    ck_assert(strstr(run_err, "--rankdir"));
}
END_TEST

/* ---- errors -------------------------------------------------------------------------- */

typedef struct bad_case {
    const char *args[12];
    const char *message;
} bad_case;

static const bad_case bad_cases[] = {
    {{"train", "--bogus"}, "unknown option '--bogus'"},
    {{"train", "--lr"}, "--lr needs a value"},
    {{"train", "--lr", "fast"}, "--lr: 'fast' is not a number"},
    {{"train", "--epochs", "0"}, "--epochs: 0 is out of range"},
    {{"train", "--batch", "2x"}, "--batch: '2x' is not an integer"},
    {{"train", "--hidden", "64,0"}, "--hidden: '0' is not a layer size"},
    {{"train", "--hidden", "64,,8"}, "--hidden: '' is not a layer size"},
    {{"train", "--hidden", ""}, "--hidden: '' is not a layer size"},
    {{"train", "--act", "swish"}, "--act: unknown value 'swish'"},
    {{"train", "--opt", "rmsprop"}, "--opt: unknown value 'rmsprop'"},
    {{"train", "--json=yes"}, "option '--json' takes no value"},
    {{"train", "--nesterov", "--opt", "sgd"}, "--nesterov needs --momentum > 0"},
    {{"train", "--test-split", "0.2", "--test-data", "x.csv"}, "choose one"},
    {{"train", "--data", "missing.csv"}, "missing.csv: cannot open"},
    {{"train", "--data", "bad.csv"}, "bad.csv: line 3, column 2"},
    {{"train", "--data", "ragged.csv"}, "ragged.csv: line 4"},
    {{"train", "--data", "blobs.csv", "--label-col", "size"}, "no column named 'size'"},
    {{"train", "--data", "blobs.csv", "--plot", "p.svg"}, "--plot draws the decision regions"},
    {{"train", "--data", "one.csv"}, "one.csv has one class"},
    {{"train", "--save", "nodir/m.rgm"}, "--save nodir/m.rgm: cannot write in nodir"},
    {{"train", "--resume", "m.rgm"}, "spiral has 2 features per row, the model takes 4"},
    {{"train", "--resume", "m.rgm", "--data", "blobs.csv", "--hidden", "8"},
     "--hidden does not match m.rgm"},
    {{"train", "--resume", "m.rgm", "--data", "blobs.csv", "--opt", "sgd"},
     "m.rgm was trained with adam"},
    {{"train", "--resume", "flipped.rgm", "--data", "blobs.csv"}, "flipped.rgm: corrupt"},
    {{"predict", "--data", "blobs.csv"}, "missing --model"},
    {{"predict", "--model", "m.rgm"}, "missing --data"},
    {{"predict", "--model", "m.rgm", "--data", "xor"}, "xor has 2 features per row"},
    {{"predict", "--model", "m.rgm", "--data", "other.csv"},
     "line 3, column 5 (colour): 'purple'"},
    {{"predict", "--model", "numbered.rgm", "--data", "named.csv"},
     "named.csv: the labels are names ('no', ...), but the model's classes are numbers (0 to 1)"},
    {{"predict", "--model", "truncated.rgm", "--data", "blobs.csv"}, "truncated.rgm: truncated"},
    {{"predict", "--model", "flipped.rgm", "--data", "blobs.csv"}, "checksum mismatch"},
    {{"predict", "--model", "blobs.csv", "--data", "blobs.csv"}, "not a retrograd model file"},
    {{"predict", "--model", "m.rgm", "--data", "blobs.csv", "--verbose"},
     "unknown option '--verbose'"},
};

/* Each bad input: exit 2, nothing on stdout, one line naming the fault. */
START_TEST(bad_input)
{
    const bad_case *c = &bad_cases[_i];
    write_blobs("blobs.csv", 10, 18, true);
    const char *bad = "a,b,c\n1,2,0\n3,x,1\n";
    const char *ragged = "a,b,c\n1,2,0\n3,4,1\n5,6\n";
    const char *one = "a,b,c\n1,2,0\n3,4,0\n";
    const char *other = "f1,f2,f3,f4,colour\n1,2,3,4,red\n1,2,3,4,purple\n";
    const char *named = "x,y,label\n1,1,yes\n1,-1,no\n";
    write_file("bad.csv", bad, strlen(bad));
    write_file("ragged.csv", ragged, strlen(ragged));
    write_file("one.csv", one, strlen(one));
    write_file("other.csv", other, strlen(other));
    write_file("named.csv", named, strlen(named));
    RUN("train", "--data", "blobs.csv", "--epochs", "1", "--save", "m.rgm", "--quiet");
    assert_ok();
    RUN("train", "--data", "xor", "--epochs", "1", "--hidden", "4", "--save", "numbered.rgm",
        "--quiet");
    assert_ok();
    /* a damaged copy (one bit flipped in the middle) and a truncated one */
    size_t len;
    char *m = read_file("m.rgm", &len);
    write_file("truncated.rgm", m, len - 7);
    m[len / 2] ^= 0x10;
    write_file("flipped.rgm", m, len);
    free(m);
    int n = 0;
    while (n < 12 && c->args[n])
        n++;
    const char *argv[13] = {0};
    memcpy(argv, c->args, (size_t)n * sizeof *argv);
    run_argv(NULL, argv);
    assert_error(c->message);
}
END_TEST

/* --threads 1 is possible with every backend (the portable loop runs on one thread). */
START_TEST(threads)
{
    RUN("train", "--data", "xor", "--epochs", "2", "--threads", "1", "--quiet", "--json");
    assert_ok();
    const char *j = last_line();
    ck_assert_int_eq((int)json_get(j, "threads"), 1);
    ck_assert_msg(strstr(j, "\"blas\": \""), "%s", j);
}
END_TEST

/* A learning rate far too large: the loss overflows, and the run stops with status 1 and a
 * hint instead of training on NaNs. */
START_TEST(divergence)
{
    RUN("train", "--opt", "sgd", "--lr", "100000", "--quiet", "--save", "never.rgm");
    ck_assert_msg(run_status == 1, "status %d, stderr: %s", run_status, run_err);
    ck_assert_msg(strstr(run_err, "retrograd: training diverged: the loss is "), "%s", run_err);
    ck_assert(strstr(run_err, "smaller --lr"));
    ck_assert_msg(access(path_in("never.rgm"), F_OK) != 0, "a diverged model was saved");
}
END_TEST

/* The same run in anomaly mode stops at the first op that produces a non-finite value and
 * names it. */
START_TEST(check_finite)
{
    RUN("train", "--opt", "sgd", "--lr", "100000", "--quiet", "--check-finite");
    ck_assert_int_eq(run_status, 1);
    ck_assert_msg(strstr(run_err, "retrograd: epoch 1, step "), "%s", run_err);
    ck_assert_msg(strstr(run_err, "check_finite: node "), "%s", run_err);
}
END_TEST

/* Inputs that overflow inside the network: its scores are NaN or infinite, and predict (or
 * train's test accuracy) stops with status 2 and the row instead of making up a class;
 * --check-finite names the op. Nothing is written. */
START_TEST(overflowing_rows)
{
    RUN("train", "--data", "xor", "--epochs", "2", "--save", "m.rgm", "--quiet");
    assert_ok();
    const char big[] = "0.5,0.5,1\n3e38,3e38,0\n";
    write_file("big.csv", big, sizeof big - 1);
    RUN("predict", "--model", "m.rgm", "--data", "big.csv", "--out", "pred.csv");
    assert_error("row 2 of the data: the network's score for class ");
    ck_assert_msg(strstr(run_err, "overflowed inside it; --check-finite names the op"), "%s",
                  run_err);
    ck_assert_msg(access(path_in("pred.csv"), F_OK) != 0, "predictions were written");
    RUN("predict", "--model", "m.rgm", "--data", "big.csv", "--check-finite");
    assert_error("evaluation: check_finite: node ");
    ck_assert_msg(strstr(run_err, "'matmul' produced "), "%s", run_err);
    RUN("train", "--data", "xor", "--epochs", "2", "--quiet", "--test-data", "big.csv");
    assert_error("row 2 of the data: the network's score for class ");
    /* the first row alone is predicted as before */
    const char small[] = "0.5,0.5,1\n";
    write_file("small.csv", small, sizeof small - 1);
    RUN("predict", "--model", "m.rgm", "--data", "small.csv", "--check-finite");
    assert_ok();
    ck_assert_int_eq(count_lines(run_out, "accuracy "), 1);
}
END_TEST

START_TEST(help)
{
    RUN("train", "--help");
    assert_ok();
    ck_assert(strncmp(run_out, "usage: retrograd train", 22) == 0);
    RUN("predict", "-h");
    assert_ok();
    ck_assert(strncmp(run_out, "usage: retrograd predict", 24) == 0);
    RUN("--help");
    assert_ok();
    ck_assert(strstr(run_out, "  train "));
    ck_assert(strstr(run_out, "  predict "));
}
END_TEST

static Suite *train_suite(void)
{
    Suite *s = suite_create("train");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"default_spiral", default_spiral},
        {"xor", xor_is_learned_exactly},
        {"progress", plain_progress_lines},
        {"determinism", same_seed_same_numbers},
        {"csv", csv_sgd_momentum},
        {"save_predict", save_then_predict},
        {"predict_unlabelled", predict_without_labels},
        {"resume", resume_continues},
        {"idx", idx_images},
        {"test_data", test_data_file},
        {"pictures", plot_and_curve},
        {"dot", dot_graph},
        {"threads", threads},
        {"divergence", divergence},
        {"check_finite", check_finite},
        {"overflowing_rows", overflowing_rows},
        {"help", help},
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
    return tu_run_suite(train_suite());
}
