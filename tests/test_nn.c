/* nn (src/nn): the seeded generator against an independent implementation, initialisers,
 * the MLP's structure and node names, its gradients from the generic engine against
 * central differences and against the lecture's delta recursion written out with loops,
 * the binary cross-entropy on logits, predictions, and training: XOR to 100%, a 3-class
 * spiral to >= 95%, and bit-identical weights from the same seed. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- random numbers ------------------------------------------------------------------- */

/* Reference values from an independent Python transcription of the published algorithms
 * (M = 2^64 - 1; math.log for the polar method), printed with hex() and repr():
 *   def sm(x): x = (x + 0x9E3779B97F4A7C15) & M; z = x
 *       z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
 *       z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M; return x, z ^ (z >> 31)
 *   seed: s = four successive sm() outputs
 *   next: r = rotl(s1 * 5, 7) * 9; t = s1 << 17; s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3;
 *         s2 ^= t; s3 = rotl(s3, 45)
 *   uniform = (next >> 11) * 2^-53; normal: polar method on 2u - 1 pairs, u first. */
START_TEST(test_rng_reference)
{
    static const struct {
        uint64_t seed;
        uint64_t out[3];
    } cases[] = {
        {42, {0x15780b2e0c2ec716ull, 0x6104d9866d113a7eull, 0xae17533239e499a1ull}},
        {0, {0x99ec5f36cb75f2b4ull, 0xbf6e1f784956452aull, 0x1a5f849d4933e6e0ull}},
    };
    for (int c = 0; c < N_OF(cases); c++) {
        rg_rng r;
        rg_rng_seed(&r, cases[c].seed);
        for (int i = 0; i < 3; i++)
            ck_assert_uint_eq(rg_rng_next(&r), cases[c].out[i]);
    }
    rg_rng r;
    rg_rng_seed(&r, 7);
    /* uniforms are exact multiples of 2^-53: equality, not tolerance */
    ck_assert_double_eq(rg_rng_uniform(&r), 0.7005764821796896);
    ck_assert_double_eq(rg_rng_uniform(&r), 0.2787512294737843);
    ck_assert_double_eq(rg_rng_uniform(&r), 0.8396274618764198);
    /* the library's log agrees with libm's to the last bit or so */
    static const double normals[] = {0.9643618527255184, -1.0637531974798475,
                                     -0.3039301238656567, -1.0989693210013467};
    rg_rng_seed(&r, 7);
    for (int i = 0; i < N_OF(normals); i++) {
        double z = rg_rng_normal(&r);
        ck_assert_msg(fabs(z - normals[i]) <= 4e-16 * (1 + fabs(normals[i])),
                      "normal %d: %.17g vs %.17g", i, z, normals[i]);
    }
}
END_TEST

START_TEST(test_rng_same_seed)
{
    rg_rng a, b, c;
    rg_rng_seed(&a, 123);
    rg_rng_seed(&b, 123);
    rg_rng_seed(&c, 124);
    int differ = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = rg_rng_next(&a);
        ck_assert_uint_eq(x, rg_rng_next(&b));
        differ += x != rg_rng_next(&c);
    }
    ck_assert_int_eq(differ, 100);
    /* a copy of the struct continues the same sequence */
    rg_rng saved = a;
    double n1 = rg_rng_normal(&a), n2 = rg_rng_normal(&a);
    ck_assert_double_eq(n1, rg_rng_normal(&saved));
    ck_assert_double_eq(n2, rg_rng_normal(&saved));
}
END_TEST

/* Moments of 200000 draws: the standard error of a mean of unit variance is ~0.0022, so
 * 0.01 is over four standard errors. */
START_TEST(test_rng_distributions)
{
    rg_rng r;
    rg_rng_seed(&r, 99);
    const int n = 200000;
    double su = 0, sz = 0, szz = 0;
    int64_t counts[7] = {0};
    for (int i = 0; i < n; i++) {
        double u = rg_rng_uniform(&r);
        ck_assert(u >= 0.0 && u < 1.0);
        su += u;
        double z = rg_rng_normal(&r);
        sz += z;
        szz += z * z;
        uint64_t k = rg_rng_below(&r, 7);
        ck_assert_uint_lt(k, 7);
        counts[k]++;
        double v = rg_rng_range(&r, -3.0, 5.0);
        ck_assert(v >= -3.0 && v < 5.0);
    }
    ck_assert_double_eq_tol(su / n, 0.5, 0.01);
    ck_assert_double_eq_tol(sz / n, 0.0, 0.01);
    ck_assert_double_eq_tol(szz / n, 1.0, 0.02);
    for (int k = 0; k < 7; k++)
        ck_assert_double_eq_tol((double)counts[k] / n, 1.0 / 7.0, 0.005);
    ck_assert_uint_eq(rg_rng_below(&r, 1), 0);
    ck_assert_uint_eq(rg_rng_below(&r, 0), 0);
}
END_TEST

START_TEST(test_rng_shuffle)
{
    rg_rng r;
    rg_rng_seed(&r, 5);
    int64_t idx[50], seen[50] = {0};
    for (int i = 0; i < 50; i++)
        idx[i] = i;
    rg_rng_shuffle(&r, idx, 50);
    int moved = 0;
    for (int i = 0; i < 50; i++) {
        ck_assert(idx[i] >= 0 && idx[i] < 50);
        seen[idx[i]]++;
        moved += idx[i] != i;
    }
    for (int i = 0; i < 50; i++)
        ck_assert_int_eq(seen[i], 1);
    ck_assert_int_gt(moved, 25);
    /* each position of a 3-element shuffle holds each value a third of the time */
    int64_t first[3] = {0};
    for (int t = 0; t < 30000; t++) {
        int64_t v[3] = {0, 1, 2};
        rg_rng_shuffle(&r, v, 3);
        first[v[0]]++;
    }
    for (int k = 0; k < 3; k++)
        ck_assert_double_eq_tol(first[k] / 30000.0, 1.0 / 3.0, 0.015);
}
END_TEST

/* ---- initialisers ---------------------------------------------------------------------- */

START_TEST(test_init_glorot_he)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_rng r;
    rg_rng_seed(&r, 11);
    const int64_t fi = 200, fo = 300;
    rg_dense glorot, he;
    ck_assert_int_eq(rg_dense_init(&glorot, g, fi, fo, RG_INIT_GLOROT_UNIFORM, &r, "Wg", "bg"),
                     RG_OK);
    ck_assert_int_eq(rg_dense_init(&he, g, fi, fo, RG_INIT_HE_NORMAL, &r, "Wh", "bh"), RG_OK);
    const double a = sqrt(6.0 / (double)(fi + fo));
    double sg = 0, sgg = 0, sh = 0, shh = 0;
    int64_t n = fi * fo;
    for (int64_t i = 0; i < n; i++) {
        double w = rg_node_get(glorot.W, i), v = rg_node_get(he.W, i);
        ck_assert(fabs(w) <= a);
        sg += w;
        sgg += w * w;
        sh += v;
        shh += v * v;
    }
    /* uniform(-a, a): variance a^2/3 = 2/(fan_in+fan_out); He: variance 2/fan_in */
    ck_assert_double_eq_tol(sg / n, 0.0, 0.01 * a);
    ck_assert_double_eq_tol(sgg / n, a * a / 3.0, 0.02 * a * a / 3.0);
    ck_assert_double_eq_tol(sh / n, 0.0, 0.01 * sqrt(2.0 / fi));
    ck_assert_double_eq_tol(shh / n, 2.0 / fi, 0.02 * 2.0 / fi);
    for (int64_t j = 0; j < fo; j++) {
        ck_assert_double_eq(rg_node_get(glorot.b, j), 0.0);
        ck_assert_double_eq(rg_node_get(he.b, j), 0.0);
    }
    ck_assert_str_eq(rg_node_name(glorot.W), "Wg");
    ck_assert_str_eq(rg_node_name(he.b), "bh");
    /* errors: not a parameter, no generator, bad sizes */
    rg_node *in = rg_input(g, "x", 1, &fi);
    ck_assert_int_eq(rg_init_param(in, RG_INIT_HE_NORMAL, &r), RG_ERR_ARG);
    rg_graph_clear_error(g);
    ck_assert_int_eq(rg_init_param(glorot.W, RG_INIT_GLOROT_UNIFORM, NULL), RG_ERR_ARG);
    rg_graph_clear_error(g);
    rg_dense bad;
    ck_assert_int_eq(rg_dense_init(&bad, g, 0, 3, RG_INIT_AUTO, &r, NULL, NULL), RG_ERR_ARG);
    ck_assert_ptr_null(bad.W);
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g), "dense"));
    rg_graph_free(g);
}
END_TEST

/* The f32 initial weights are the f64 ones rounded: both draw the same doubles. */
START_TEST(test_init_dtypes_agree)
{
    rg_graph *g64 = rg_graph_new(RG_F64), *g32 = rg_graph_new(RG_F32);
    int64_t shape[2] = {5, 7};
    rg_node *w64 = rg_param(g64, "W", 2, shape, NULL), *w32 = rg_param(g32, "W", 2, shape, NULL);
    rg_rng r;
    rg_rng_seed(&r, 3);
    ck_assert_int_eq(rg_init_param(w64, RG_INIT_HE_NORMAL, &r), RG_OK);
    rg_rng_seed(&r, 3);
    ck_assert_int_eq(rg_init_param(w32, RG_INIT_HE_NORMAL, &r), RG_OK);
    for (int i = 0; i < 35; i++)
        ck_assert_float_eq((float)rg_node_get(w32, i), (float)rg_node_get(w64, i));
    rg_graph_free(g64);
    rg_graph_free(g32);
}
END_TEST

/* ---- the MLP: structure --------------------------------------------------------------- */

static rg_node *find_named(rg_graph *g, const char *name)
{
    for (size_t id = 0; id < rg_graph_node_count(g); id++) {
        rg_node *n = rg_graph_node(g, id);
        if (rg_node_name(n) && strcmp(rg_node_name(n), name) == 0)
            return n;
    }
    return NULL;
}

START_TEST(test_mlp_structure)
{
    rg_graph *g = rg_graph_new(RG_F32);
    int64_t hidden[] = {5, 4};
    rg_mlp_opts o = rg_mlp_defaults();
    o.inputs = 3;
    o.hidden = hidden;
    o.nhidden = 2;
    o.outputs = 2;
    o.act = RG_ACT_TANH;
    o.batch = 6;
    rg_mlp *m = rg_mlp_new(g, &o);
    ck_assert_msg(m != NULL, "%s", rg_graph_errmsg(g));
    hidden[0] = 99; /* the model keeps its own copy */
    ck_assert_int_eq(rg_mlp_options(m)->hidden[0], 5);
    ck_assert_int_eq(rg_mlp_layers(m), 3);

    static const struct {
        const char *name;
        int64_t r, c; /* c = 0: 1-D */
    } expect[] = {
        {"x", 6, 3},  {"y", 6, 0},  {"W1", 3, 5}, {"b1", 5, 0}, {"a1", 6, 5}, {"h1", 6, 5},
        {"W2", 5, 4}, {"b2", 4, 0}, {"a2", 6, 4}, {"h2", 6, 4}, {"W3", 4, 2}, {"b3", 2, 0},
        {"a3", 6, 2},
    };
    for (int i = 0; i < N_OF(expect); i++) {
        rg_node *n = find_named(g, expect[i].name);
        ck_assert_msg(n != NULL, "no node named %s", expect[i].name);
        ck_assert_int_eq(rg_node_ndim(n), expect[i].c ? 2 : 1);
        ck_assert_int_eq(rg_node_shape(n)[0], expect[i].r);
        if (expect[i].c)
            ck_assert_int_eq(rg_node_shape(n)[1], expect[i].c);
    }
    ck_assert_ptr_null(find_named(g, "h3")); /* the output is a3, the scores */
    ck_assert_ptr_eq(rg_mlp_logits(m), find_named(g, "a3"));
    ck_assert_ptr_eq(rg_mlp_input(m), find_named(g, "x"));
    ck_assert_ptr_eq(rg_mlp_labels(m), find_named(g, "y"));
    ck_assert_ptr_eq(rg_mlp_loss(m), find_named(g, "loss"));
    ck_assert_ptr_eq(rg_mlp_hidden(m, 0), rg_mlp_input(m));
    ck_assert_ptr_eq(rg_mlp_hidden(m, 3), rg_mlp_pre(m, 3));
    ck_assert_ptr_null(rg_mlp_weight(m, 0));
    ck_assert_ptr_null(rg_mlp_weight(m, 4));
    ck_assert_str_eq(rg_node_op_name(rg_mlp_hidden(m, 1)), "tanh");

    int np = 0, ng = 0;
    rg_node *const *p = rg_mlp_params(m, &np);
    rg_node *const *gr = rg_mlp_grads(m, &ng);
    const bool *w = rg_mlp_is_weight(m);
    ck_assert_int_eq(np, 6);
    ck_assert_int_eq(ng, 6);
    static const char *const pnames[] = {"W1", "b1", "W2", "b2", "W3", "b3"};
    for (int i = 0; i < np; i++) {
        ck_assert_str_eq(rg_node_name(p[i]), pnames[i]);
        ck_assert(w[i] == (i % 2 == 0));
        ck_assert_int_eq(rg_node_kind(p[i]), RG_KIND_PARAM);
        ck_assert(rg_node_is_grad(gr[i]));
        ck_assert_ptr_eq(rg_node_grad_of(gr[i]), p[i]);
        ck_assert_int_eq(rg_node_size(gr[i]), rg_node_size(p[i]));
    }
    rg_mlp_free(m);
    rg_graph_free(g);
}
END_TEST

START_TEST(test_mlp_bad_options)
{
    static const struct {
        int64_t inputs, outputs, batch, h;
        int act, loss;
        const char *msg;
    } cases[] = {
        {0, 2, 4, 3, RG_ACT_RELU, RG_LOSS_CROSS_ENTROPY, "input and output sizes"},
        {2, 0, 4, 3, RG_ACT_RELU, RG_LOSS_CROSS_ENTROPY, "input and output sizes"},
        {2, 2, 0, 3, RG_ACT_RELU, RG_LOSS_CROSS_ENTROPY, "batch size"},
        {2, 2, 4, -1, RG_ACT_RELU, RG_LOSS_CROSS_ENTROPY, "hidden layer 1"},
        {2, 2, 4, 3, 17, RG_LOSS_CROSS_ENTROPY, "unknown activation"},
        {2, 2, 4, 3, RG_ACT_RELU, 9, "unknown loss"},
    };
    for (int i = 0; i < N_OF(cases); i++) {
        rg_graph *g = rg_graph_new(RG_F64);
        rg_mlp_opts o = rg_mlp_defaults();
        o.inputs = cases[i].inputs;
        o.outputs = cases[i].outputs;
        o.batch = cases[i].batch;
        o.hidden = &cases[i].h;
        o.nhidden = 1;
        o.act = (rg_activation)cases[i].act;
        o.loss = (rg_loss)cases[i].loss;
        ck_assert_ptr_null(rg_mlp_new(g, &o));
        ck_assert_int_eq(rg_graph_status(g), RG_ERR_ARG);
        ck_assert_msg(strstr(rg_graph_errmsg(g), cases[i].msg) != NULL, "case %d: '%s'", i,
                      rg_graph_errmsg(g));
        rg_graph_free(g);
    }
    ck_assert_ptr_null(rg_mlp_new(NULL, NULL));
    rg_mlp_free(NULL);
}
END_TEST

START_TEST(test_names)
{
    for (int a = 0; a < 4; a++)
        ck_assert_int_eq(rg_activation_from_name(rg_activation_name((rg_activation)a)), a);
    for (int l = 0; l < 4; l++)
        ck_assert_int_eq(rg_loss_from_name(rg_loss_name((rg_loss)l)), l);
    ck_assert_str_eq(rg_activation_name(RG_ACT_LEAKY_RELU), "leaky_relu");
    ck_assert_ptr_null(rg_activation_name((rg_activation)9));
    ck_assert_int_eq(rg_activation_from_name("gelu"), -1);
    ck_assert_int_eq(rg_loss_from_name(NULL), -1);
}
END_TEST

/* ---- the MLP: gradients ---------------------------------------------------------------- */

struct gcase {
    rg_activation act;
    rg_loss loss;
};

static const struct gcase gcases[] = {
    {RG_ACT_TANH, RG_LOSS_CROSS_ENTROPY},    {RG_ACT_SIGMOID, RG_LOSS_CROSS_ENTROPY},
    {RG_ACT_RELU, RG_LOSS_CROSS_ENTROPY},    {RG_ACT_LEAKY_RELU, RG_LOSS_CROSS_ENTROPY},
    {RG_ACT_TANH, RG_LOSS_MSE_ONEHOT},       {RG_ACT_SIGMOID, RG_LOSS_MSE},
    {RG_ACT_LEAKY_RELU, RG_LOSS_BCE_LOGITS}, {RG_ACT_RELU, RG_LOSS_MSE},
};

enum { GN = 5, GIN = 3, GOUT = 3 };
static const int64_t ghidden[] = {4, 3};

/* A small f64 model with random inputs and labels fed. */
static rg_mlp *small_model(rg_graph *g, const struct gcase *c, uint64_t seed)
{
    rg_mlp_opts o = rg_mlp_defaults();
    o.inputs = GIN;
    o.hidden = ghidden;
    o.nhidden = 2;
    o.outputs = GOUT;
    o.act = c->act;
    o.leaky_slope = 0.1;
    o.loss = c->loss;
    o.batch = GN;
    o.seed = seed;
    rg_mlp *m = rg_mlp_new(g, &o);
    ck_assert_msg(m != NULL, "%s", rg_graph_errmsg(g));
    uint64_t s = seed * 31 + 7;
    double x[GN * GIN], y[GN * GOUT];
    for (int i = 0; i < GN * GIN; i++)
        x[i] = tu_uniform(&s, -2, 2);
    bool real = c->loss == RG_LOSS_MSE || c->loss == RG_LOSS_BCE_LOGITS;
    for (int i = 0; i < (real ? GN * GOUT : GN); i++)
        y[i] = real ? (c->loss == RG_LOSS_BCE_LOGITS ? (double)(tu_next(&s) % 2)
                                                     : tu_uniform(&s, -1, 1))
                    : (double)(tu_next(&s) % GOUT);
    ck_assert_int_eq(rg_feed_f64(rg_mlp_input(m), x, GN * GIN), RG_OK);
    ck_assert_int_eq(rg_feed_f64(rg_mlp_labels(m), y, rg_node_size(rg_mlp_labels(m))), RG_OK);
    /* biases start at zero; random ones exercise their gradients better */
    for (int k = 1; k <= rg_mlp_layers(m); k++)
        for (int64_t j = 0; j < rg_node_size(rg_mlp_bias(m, k)); j++)
            ((double *)rg_node_data(rg_mlp_bias(m, k)))[j] = tu_uniform(&s, -0.5, 0.5);
    return m;
}

START_TEST(test_mlp_gradcheck)
{
    const struct gcase *c = &gcases[_i];
    rg_graph *g = rg_graph_new(RG_F64);
    rg_mlp *m = small_model(g, c, 100 + (uint64_t)_i);
    int np;
    rg_node *const *params = rg_mlp_params(m, &np);
    ck_assert_gradcheck(rg_mlp_loss(m), np, params);
    rg_mlp_free(m);
    rg_graph_free(g);
}
END_TEST

static double act_f(rg_activation a, double x, double slope)
{
    switch (a) {
    case RG_ACT_RELU:
        return x > 0 ? x : 0;
    case RG_ACT_TANH:
        return tanh(x);
    case RG_ACT_SIGMOID:
        return 1 / (1 + exp(-x));
    case RG_ACT_LEAKY_RELU:
        return x > 0 ? x : slope * x;
    }
    return NAN;
}

/* g'(x), with the library's kink rule H(0) = 1/2 (random data never lands on 0 anyway). */
static double act_d(rg_activation a, double x, double slope)
{
    switch (a) {
    case RG_ACT_RELU:
        return x > 0 ? 1 : x < 0 ? 0 : 0.5;
    case RG_ACT_TANH:
        return 1 - tanh(x) * tanh(x);
    case RG_ACT_SIGMOID: {
        double s = 1 / (1 + exp(-x));
        return s * (1 - s);
    }
    case RG_ACT_LEAKY_RELU:
        return x > 0 ? 1 : x < 0 ? slope : (1 + slope) / 2;
    }
    return NAN;
}

enum { MAXW = 8 };

/* The lecture's backpropagation with plain loops, one row per example. With delta_k =
 * dL/da_k (the lecture's column vectors are our rows):
 *   delta_L = dL/da_L                      (the loss's derivative, below)
 *   dL/dW_k = h_{k-1}^T delta_k,  dL/db_k = sum over rows of delta_k
 *   delta_{k-1} = (delta_k W_k^T) * g'(a_{k-1})
 * which is the lecture's dL/dW_k = delta_{k+1} h_k^T, delta_k = W_k^T delta_{k+1} * g'(a_k)
 * with its layers numbered from h_0 = x. Output deltas (N rows, C classes):
 *   cross-entropy (softmax(a) - onehot(y)) / N;  mse 2 (a - t) / (N C) with t the targets or
 *   onehot(y);  bce (sigmoid(a) - t) / (N C). */
START_TEST(test_mlp_delta_recursion)
{
    const struct gcase *c = &gcases[_i];
    rg_graph *g = rg_graph_new(RG_F64);
    rg_mlp *m = small_model(g, c, 200 + (uint64_t)_i);
    ck_assert_int_eq(rg_mlp_backward(m), RG_OK);
    const int L = rg_mlp_layers(m);
    const int64_t size[] = {GIN, ghidden[0], ghidden[1], GOUT};
    const double slope = 0.1;

    static double W[4][MAXW][MAXW], b[4][MAXW], a[4][GN][MAXW], h[4][GN][MAXW];
    static double delta[4][GN][MAXW], dW[4][MAXW][MAXW], db[4][MAXW];
    for (int k = 1; k <= L; k++) {
        for (int i = 0; i < size[k - 1]; i++)
            for (int j = 0; j < size[k]; j++)
                W[k][i][j] = rg_node_get(rg_mlp_weight(m, k), i * size[k] + j);
        for (int j = 0; j < size[k]; j++)
            b[k][j] = rg_node_get(rg_mlp_bias(m, k), j);
    }
    for (int n = 0; n < GN; n++)
        for (int i = 0; i < GIN; i++)
            h[0][n][i] = rg_node_get(rg_mlp_input(m), n * GIN + i);
    /* forward: a_k = h_{k-1} W_k + b_k, h_k = g(a_k) */
    for (int k = 1; k <= L; k++)
        for (int n = 0; n < GN; n++)
            for (int j = 0; j < size[k]; j++) {
                double s = b[k][j];
                for (int i = 0; i < size[k - 1]; i++)
                    s += h[k - 1][n][i] * W[k][i][j];
                a[k][n][j] = s;
                h[k][n][j] = k < L ? act_f(c->act, s, slope) : s;
            }
    /* output delta */
    const rg_node *y = rg_mlp_labels(m);
    for (int n = 0; n < GN; n++) {
        double mx = -INFINITY, z = 0;
        for (int j = 0; j < GOUT; j++)
            mx = fmax(mx, a[L][n][j]);
        for (int j = 0; j < GOUT; j++)
            z += exp(a[L][n][j] - mx);
        for (int j = 0; j < GOUT; j++) {
            double onehot = rg_node_get(y, n) == j;
            double t = c->loss == RG_LOSS_MSE || c->loss == RG_LOSS_BCE_LOGITS
                           ? rg_node_get(y, n * GOUT + j)
                           : onehot;
            double al = a[L][n][j];
            switch (c->loss) {
            case RG_LOSS_CROSS_ENTROPY:
                delta[L][n][j] = (exp(al - mx) / z - onehot) / GN;
                break;
            case RG_LOSS_MSE:
            case RG_LOSS_MSE_ONEHOT:
                delta[L][n][j] = 2 * (al - t) / (GN * GOUT);
                break;
            case RG_LOSS_BCE_LOGITS:
                delta[L][n][j] = (1 / (1 + exp(-al)) - t) / (GN * GOUT);
                break;
            }
        }
    }
    /* backward */
    for (int k = L; k >= 1; k--) {
        for (int i = 0; i < size[k - 1]; i++)
            for (int j = 0; j < size[k]; j++) {
                double s = 0;
                for (int n = 0; n < GN; n++)
                    s += h[k - 1][n][i] * delta[k][n][j];
                dW[k][i][j] = s;
            }
        for (int j = 0; j < size[k]; j++) {
            double s = 0;
            for (int n = 0; n < GN; n++)
                s += delta[k][n][j];
            db[k][j] = s;
        }
        if (k > 1)
            for (int n = 0; n < GN; n++)
                for (int i = 0; i < size[k - 1]; i++) {
                    double s = 0;
                    for (int j = 0; j < size[k]; j++)
                        s += delta[k][n][j] * W[k][i][j];
                    delta[k - 1][n][i] = s * act_d(c->act, a[k - 1][n][i], slope);
                }
    }
    rg_node *const *grads = rg_mlp_grads(m, NULL);
    for (int k = 1; k <= L; k++) {
        const rg_node *gw = grads[2 * (k - 1)], *gb = grads[2 * (k - 1) + 1];
        for (int i = 0; i < size[k - 1]; i++)
            for (int j = 0; j < size[k]; j++)
                ck_assert_msg(fabs(rg_node_get(gw, i * size[k] + j) - dW[k][i][j]) <= 1e-12,
                              "dL/dW%d[%d][%d]: engine %.17g, recursion %.17g", k, i, j,
                              rg_node_get(gw, i * size[k] + j), dW[k][i][j]);
        for (int j = 0; j < size[k]; j++)
            ck_assert_msg(fabs(rg_node_get(gb, j) - db[k][j]) <= 1e-12,
                          "dL/db%d[%d]: engine %.17g, recursion %.17g", k, j,
                          rg_node_get(gb, j), db[k][j]);
    }
    /* the scores evaluated with the gradients are the forward values */
    for (int n = 0; n < GN; n++)
        for (int j = 0; j < GOUT; j++)
            ck_assert_double_eq_tol(rg_node_get(rg_mlp_logits(m), n * GOUT + j), a[L][n][j],
                                    1e-12);
    rg_mlp_free(m);
    rg_graph_free(g);
}
END_TEST

/* ---- binary cross-entropy on logits ---------------------------------------------------- */

START_TEST(test_bce_logits)
{
    rg_graph *g = rg_graph_new(RG_F64);
    const int64_t n = 6;
    const double x[] = {-1000, -2, 0, 0.5, 3, 1000};
    const double t[] = {0, 1, 1, 0.25, 0, 1};
    rg_node *xl = rg_param(g, "x", 1, &n, x), *tl = rg_input(g, "t", 1, &n);
    rg_feed_f64(tl, t, n);
    rg_node *loss = rg_bce_logits(xl, tl);
    ck_assert_int_eq(rg_eval1(loss), RG_OK);
    /* reference: the textbook -t log s - (1-t) log(1-s), s = 1/(1+e^-x), for the moderate
     * logits; at x = -1000 with t = 0 and x = 1000 with t = 1 the exact loss is
     * log(1 + e^-1000), which is 0 in double (the textbook form gives NaN there: 0 log 0) */
    double ref = 0;
    for (int i = 1; i < 5; i++) {
        double s = 1 / (1 + exp(-x[i]));
        ref += -t[i] * log(s) - (1 - t[i]) * log(1 - s);
    }
    ref /= 6;
    ck_assert_double_eq_tol(rg_node_item(loss), ref, 1e-14);

    /* d/dx = (sigmoid(x) - t) / n everywhere, including x = 0 */
    rg_node *gx;
    ck_assert_int_eq(rg_grad(loss, 1, &xl, &gx), RG_OK);
    ck_assert_int_eq(rg_eval1(gx), RG_OK);
    for (int i = 0; i < 6; i++)
        ck_assert_double_eq_tol(rg_node_get(gx, i), (1 / (1 + exp(-x[i])) - t[i]) / 6, 1e-15);

    /* gradcheck away from the kink at 0, and a second-order check */
    const int64_t s2[2] = {3, 2};
    uint64_t seed = 9;
    rg_node *p = tu_param(g, "p", 2, s2, -3, 3, &seed);
    rg_node *q = tu_const(g, 2, s2, 0, 1, &seed);
    rg_node *l2 = rg_bce_logits(p, q);
    ck_assert_gradcheck(l2, 1, &p);
    ck_assert_gradcheck(tu_second_order(l2, 1, &p, &seed), 1, &p);

    /* targets [3] against logits [3,1] would broadcast to [3,3]: refused */
    const int64_t c1[2] = {3, 1}, c2[1] = {3};
    rg_node *bad = rg_bce_logits(rg_param(g, NULL, 2, c1, NULL), rg_input(g, NULL, 1, c2));
    ck_assert_ptr_null(bad);
    ck_assert_int_eq(rg_graph_status(g), RG_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(rg_graph_errmsg(g), "bce_logits"));
    rg_graph_free(g);
}
END_TEST

/* ---- predictions ----------------------------------------------------------------------- */

START_TEST(test_argmax_accuracy)
{
    const double s[] = {0.1, 0.7, 0.2, /**/ 3, -1, 3, /**/ NAN, -5, -6, /**/ -1, -2, 4};
    int64_t out[4];
    rg_argmax_rows_f64(s, 4, 3, out);
    ck_assert_int_eq(out[0], 1);
    ck_assert_int_eq(out[1], 0); /* a tie goes to the first */
    ck_assert_int_eq(out[2], 1); /* NaN is never the maximum */
    ck_assert_int_eq(out[3], 2);
    const double bin[] = {-0.5, 0.0, 2.0};
    rg_argmax_rows_f64(bin, 3, 1, out);
    ck_assert_int_eq(out[0], 0);
    ck_assert_int_eq(out[1], 0);
    ck_assert_int_eq(out[2], 1);

    rg_graph *g = rg_graph_new(RG_F32);
    const int64_t sh[2] = {4, 3}, n4 = 4;
    rg_node *sc = rg_input(g, NULL, 2, sh), *lab = rg_input(g, NULL, 1, &n4);
    rg_feed_f64(sc, s, 12);
    rg_feed_f64(lab, (const double[]){1, 2, 1, 2}, 4);
    ck_assert_int_eq(rg_argmax_rows(sc, out), RG_OK);
    ck_assert_int_eq(out[3], 2);
    ck_assert_double_eq(rg_accuracy(sc, lab), 0.75);
    ck_assert(isnan(rg_accuracy(sc, sc)));
    rg_node *s3 = rg_input(g, NULL, 3, (const int64_t[]){1, 2, 2});
    ck_assert_int_eq(rg_argmax_rows(s3, out), RG_ERR_SHAPE);
    rg_graph_free(g);
}
END_TEST

/* rg_mlp_scores over 7 rows with a batch of 3 (the last batch padded) equals the forward
 * pass computed batch by batch from the same rows. */
START_TEST(test_mlp_scores_any_rows)
{
    rg_graph *g = rg_graph_new(RG_F64);
    const struct gcase c = {RG_ACT_TANH, RG_LOSS_CROSS_ENTROPY};
    rg_mlp_opts o = rg_mlp_defaults();
    o.inputs = 2;
    o.hidden = ghidden;
    o.nhidden = 1;
    o.outputs = 3;
    o.act = c.act;
    o.batch = 3;
    rg_mlp *m = rg_mlp_new(g, &o);
    ck_assert_ptr_nonnull(m);
    double x[7 * 2], sc[7 * 3];
    uint64_t s = 4;
    for (int i = 0; i < 14; i++)
        x[i] = tu_uniform(&s, -1, 1);
    ck_assert_int_eq(rg_mlp_scores(m, x, 7, sc), RG_OK);
    for (int r0 = 0; r0 < 7; r0 += 3) {
        double xb[6] = {0};
        for (int i = 0; i < 6 && r0 * 2 + i < 14; i++)
            xb[i] = x[r0 * 2 + i];
        rg_feed_f64(rg_mlp_input(m), xb, 6);
        ck_assert_int_eq(rg_mlp_forward(m), RG_OK);
        for (int i = 0; i < 9 && r0 * 3 + i < 21; i++)
            ck_assert_double_eq(sc[r0 * 3 + i], rg_node_get(rg_mlp_logits(m), i));
    }

    /* copying the parameters into a model with another batch size and dtype */
    rg_graph *g2 = rg_graph_new(RG_F32);
    o.batch = 7;
    o.seed = 77;
    rg_mlp *m2 = rg_mlp_new(g2, &o);
    ck_assert_int_eq(rg_mlp_copy_params(m2, m), RG_OK);
    double sc2[7 * 3];
    ck_assert_int_eq(rg_mlp_scores(m2, x, 7, sc2), RG_OK);
    for (int i = 0; i < 21; i++)
        ck_assert_double_eq_tol(sc2[i], sc[i], 1e-5);
    o.outputs = 4;
    rg_mlp *m3 = rg_mlp_new(g2, &o);
    ck_assert_int_eq(rg_mlp_copy_params(m3, m), RG_ERR_SHAPE);
    rg_mlp_free(m3);
    rg_mlp_free(m2);
    rg_graph_free(g2);
    rg_mlp_free(m);
    rg_graph_free(g);
}
END_TEST

/* ---- training -------------------------------------------------------------------------- */

/* Trains m on rows x (n of them) with labels y by mini-batches of the model's batch size in
 * an order shuffled each epoch by rng, dropping the last partial batch. */
static void train(rg_mlp *m, rg_optim *opt, const double *x, const double *y, int64_t n,
                  int epochs, rg_rng *rng)
{
    const rg_mlp_opts *o = rg_mlp_options(m);
    int64_t B = o->batch, d = o->inputs;
    int64_t *idx = malloc(sizeof *idx * (size_t)n);
    double *xb = malloc(sizeof *xb * (size_t)(B * d)), *yb = malloc(sizeof *yb * (size_t)B);
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    for (int e = 0; e < epochs; e++) {
        rg_rng_shuffle(rng, idx, n);
        for (int64_t r0 = 0; r0 + B <= n; r0 += B) {
            for (int64_t r = 0; r < B; r++) {
                memcpy(xb + r * d, x + idx[r0 + r] * d, sizeof *xb * (size_t)d);
                yb[r] = y[idx[r0 + r]];
            }
            ck_assert_int_eq(rg_feed_f64(rg_mlp_input(m), xb, B * d), RG_OK);
            ck_assert_int_eq(rg_feed_f64(rg_mlp_labels(m), yb, B), RG_OK);
            ck_assert_int_eq(rg_mlp_backward(m), RG_OK);
            ck_assert_int_eq(rg_optim_step(opt), RG_OK);
        }
    }
    free(idx);
    free(xb);
    free(yb);
}

/* Accuracy of m over all n rows, through rg_mlp_scores(). */
static double accuracy(rg_mlp *m, const double *x, const double *y, int64_t n)
{
    int64_t C = rg_mlp_options(m)->outputs;
    double *sc = malloc(sizeof *sc * (size_t)(n * C));
    int64_t *pred = malloc(sizeof *pred * (size_t)n);
    ck_assert_int_eq(rg_mlp_scores(m, x, n, sc), RG_OK);
    rg_argmax_rows_f64(sc, n, C, pred);
    int64_t hits = 0;
    for (int64_t i = 0; i < n; i++)
        hits += pred[i] == (int64_t)y[i];
    free(sc);
    free(pred);
    return (double)hits / (double)n;
}

static rg_optim *adam_for(rg_mlp *m, double lr)
{
    rg_optim_opts oo = rg_optim_defaults(RG_OPTIM_ADAM);
    oo.lr = lr;
    int np;
    rg_node *const *p = rg_mlp_params(m, &np);
    rg_optim *opt = rg_optim_new(&oo, np, p, rg_mlp_grads(m, NULL), rg_mlp_is_weight(m));
    ck_assert_ptr_nonnull(opt);
    return opt;
}

START_TEST(test_train_xor)
{
    const double x[] = {0, 0, 0, 1, 1, 0, 1, 1};
    const double y[] = {0, 1, 1, 0};
    rg_graph *g = rg_graph_new(RG_F32);
    const int64_t hidden[] = {8};
    rg_mlp_opts o = rg_mlp_defaults();
    o.inputs = 2;
    o.hidden = hidden;
    o.nhidden = 1;
    o.outputs = 2;
    o.act = RG_ACT_TANH;
    o.batch = 4;
    o.seed = 1;
    rg_mlp *m = rg_mlp_new(g, &o);
    ck_assert_ptr_nonnull(m);
    rg_optim *opt = adam_for(m, 0.05);
    rg_rng r;
    rg_rng_seed(&r, 2);
    train(m, opt, x, y, 4, 300, &r);
    /* the last batch held all four points, in some order: its loss is small and the scores
     * evaluated with it classify every point */
    ck_assert_double_lt(rg_node_item(rg_mlp_loss(m)), 0.05);
    ck_assert_double_eq(rg_accuracy(rg_mlp_logits(m), rg_mlp_labels(m)), 1.0);
    ck_assert_double_eq(accuracy(m, x, y, 4), 1.0);
    rg_optim_free(opt);
    rg_mlp_free(m);
    rg_graph_free(g);
}
END_TEST

/* K interleaved spiral arms of n points each (the CS231n set): point i of arm k at radius
 * r = i / (n - 1) and angle 4k + 4r + 0.2 z, z standard normal. */
static void spiral(int64_t n, int K, uint64_t seed, double *x, double *y)
{
    rg_rng r;
    rg_rng_seed(&r, seed);
    for (int k = 0; k < K; k++)
        for (int64_t i = 0; i < n; i++) {
            double rad = (double)i / (double)(n - 1);
            double t = 4.0 * k + 4.0 * rad + 0.2 * rg_rng_normal(&r);
            x[2 * (k * n + i)] = rad * sin(t);
            x[2 * (k * n + i) + 1] = rad * cos(t);
            y[k * n + i] = k;
        }
}

START_TEST(test_train_spiral)
{
    enum { PER = 100, K = 3 };
    static double x[2 * PER * K], y[PER * K];
    spiral(PER, K, 3, x, y);
    rg_graph *g = rg_graph_new(RG_F32);
    const int64_t hidden[] = {64};
    rg_mlp_opts o = rg_mlp_defaults();
    o.inputs = 2;
    o.hidden = hidden;
    o.nhidden = 1;
    o.outputs = K;
    o.act = RG_ACT_RELU;
    o.batch = 30;
    o.seed = 7;
    rg_mlp *m = rg_mlp_new(g, &o);
    ck_assert_ptr_nonnull(m);
    rg_optim *opt = adam_for(m, 0.02);
    rg_rng r;
    rg_rng_seed(&r, 8);
    train(m, opt, x, y, PER * K, 200, &r);
    double acc = accuracy(m, x, y, PER * K);
    ck_assert_msg(acc >= 0.95, "spiral training accuracy %.3f", acc);
    rg_optim_free(opt);
    rg_mlp_free(m);
    rg_graph_free(g);
}
END_TEST

/* Two runs from the same seed (model, batch order) end with bit-identical weights; another
 * model seed gives other weights. */
START_TEST(test_train_same_seed)
{
    enum { PER = 40, K = 3 };
    static double x[2 * PER * K], y[PER * K];
    spiral(PER, K, 5, x, y);
    const int64_t hidden[] = {16, 16};
    rg_graph *g[3];
    rg_mlp *m[3];
    for (int run = 0; run < 3; run++) {
        g[run] = rg_graph_new(RG_F32);
        rg_mlp_opts o = rg_mlp_defaults();
        o.inputs = 2;
        o.hidden = hidden;
        o.nhidden = 2;
        o.outputs = K;
        o.batch = 20;
        o.seed = run < 2 ? 42 : 43;
        m[run] = rg_mlp_new(g[run], &o);
        ck_assert_ptr_nonnull(m[run]);
        rg_optim_opts oo = rg_optim_defaults(RG_OPTIM_MOMENTUM);
        oo.weight_decay = 1e-3;
        int np;
        rg_node *const *p = rg_mlp_params(m[run], &np);
        rg_optim *opt = rg_optim_new(&oo, np, p, rg_mlp_grads(m[run], NULL),
                                     rg_mlp_is_weight(m[run]));
        rg_rng r;
        rg_rng_seed(&r, 1000);
        train(m[run], opt, x, y, PER * K, 5, &r);
        rg_optim_free(opt);
    }
    int np;
    rg_node *const *p0 = rg_mlp_params(m[0], &np);
    rg_node *const *p1 = rg_mlp_params(m[1], NULL);
    rg_node *const *p2 = rg_mlp_params(m[2], NULL);
    bool all_same_as_other_seed = true;
    for (int i = 0; i < np; i++) {
        size_t bytes = sizeof(float) * (size_t)rg_node_size(p0[i]);
        ck_assert_int_eq(memcmp(rg_node_data(p0[i]), rg_node_data(p1[i]), bytes), 0);
        if (i % 2 == 0)
            all_same_as_other_seed &= memcmp(rg_node_data(p0[i]), rg_node_data(p2[i]), bytes)
                                      == 0;
    }
    ck_assert(!all_same_as_other_seed);
    for (int run = 0; run < 3; run++) {
        rg_mlp_free(m[run]);
        rg_graph_free(g[run]);
    }
}
END_TEST

/* ---- suite ----------------------------------------------------------------------------- */

static Suite *nn_suite(void)
{
    Suite *s = suite_create("nn");
    const tu_case cases[] = {
        {"rng_reference", test_rng_reference, 0},
        {"rng_same_seed", test_rng_same_seed, 0},
        {"rng_distributions", test_rng_distributions, 0},
        {"rng_shuffle", test_rng_shuffle, 0},
        {"init_glorot_he", test_init_glorot_he, 0},
        {"init_dtypes_agree", test_init_dtypes_agree, 0},
        {"mlp_structure", test_mlp_structure, 0},
        {"mlp_bad_options", test_mlp_bad_options, 0},
        {"names", test_names, 0},
        {"mlp_gradcheck", test_mlp_gradcheck, N_OF(gcases)},
        {"mlp_delta_recursion", test_mlp_delta_recursion, N_OF(gcases)},
        {"bce_logits", test_bce_logits, 0},
        {"argmax_accuracy", test_argmax_accuracy, 0},
        {"mlp_scores_any_rows", test_mlp_scores_any_rows, 0},
        {"train_xor", test_train_xor, 0},
        {"train_spiral", test_train_spiral, 0},
        {"train_same_seed", test_train_same_seed, 0},
    };
    tu_add_cases(s, cases, sizeof cases / sizeof *cases);
    return s;
}

int main(void)
{
    return tu_run_suite(nn_suite());
}
