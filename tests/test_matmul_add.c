/* The executor's bias epilogue (src/exec.c): an add whose operand is a matmul that nothing
 * else reads runs as one step, the add's other operand written first and the GEMM
 * accumulating onto it. Its values match the unfused graph (every value kept) for every
 * shape of the other operand, either side of the add, transposes, batched products, f32
 * and f64, on one and two threads; the product's value is not kept then, and is kept
 * whole when it is a target, read elsewhere or values are kept; the matmul's inputs stay
 * valid until the add runs; gradients through it match; re-runs allocate nothing. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "retrograd.h"
#include "testutil.h"

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define MAX_T 4

/* f32 sums of tens of products differ from the kept run's in the last bits only */
static double tol_of(const rg_graph *g)
{
    return rg_graph_dtype(g) == RG_F32 ? 1e-5 : 1e-13;
}

/* Evaluates the targets with every value kept (the product a value of its own), then as
 * planned, twice; every target's values must agree. Returns the product's data pointer after
 * the planned run (NULL when it ran inside the add). */
static const void *matches_kept(rg_graph *g, int n, rg_node *const *t, const rg_node *mm)
{
    ck_assert_int_le(n, MAX_T);
    rg_graph_set_keep_values(g, true);
    ck_assert_msg(rg_eval(g, n, t) == RG_OK, "%s", rg_graph_errmsg(g));
    double *want[MAX_T];
    for (int i = 0; i < n; i++) {
        const int64_t size = rg_node_size(t[i]);
        want[i] = malloc(sizeof(double) * (size_t)size);
        for (int64_t j = 0; j < size; j++)
            want[i][j] = rg_node_get(t[i], j);
    }
    rg_graph_set_keep_values(g, false);
    const double tol = tol_of(g);
    for (int run = 0; run < 2; run++) {
        ck_assert_msg(rg_eval(g, n, t) == RG_OK, "%s", rg_graph_errmsg(g));
        for (int i = 0; i < n; i++)
            for (int64_t j = 0; j < rg_node_size(t[i]); j++) {
                const double got = rg_node_get(t[i], j);
                ck_assert_msg(fabs(got - want[i][j]) <= tol * (1 + fabs(want[i][j])),
                              "target %d [%lld]: %.17g, kept %.17g (run %d)", i, (long long)j,
                              got, want[i][j], run);
            }
    }
    for (int i = 0; i < n; i++)
        free(want[i]);
    return rg_node_data(mm);
}

static rg_node *uniform(rg_graph *g, int ndim, const int64_t *shape, uint64_t *seed)
{
    return tu_param(g, NULL, ndim, shape, -1, 1, seed);
}

/* The other operand of the add, by shape. loop index: case * 4 + dtype * 2 + side (the
 * product on the left or the right of the add). */
static const struct {
    const char *what;
    int ndim;
    int64_t shape[2];
} others[] = {
    {"row", 1, {7}},       {"row [1,N]", 2, {1, 7}}, {"scalar", 0, {0}},
    {"column", 2, {5, 1}}, {"full", 2, {5, 7}},
};

START_TEST(test_other_operand)
{
    const int c = _i / 4, side = _i % 2;
    uint64_t seed = 11 + (uint64_t)_i;
    rg_graph *g = rg_graph_new(_i / 2 % 2 ? RG_F32 : RG_F64);
    rg_node *x = uniform(g, 2, (int64_t[]){5, 9}, &seed);
    rg_node *w = uniform(g, 2, (int64_t[]){9, 7}, &seed);
    rg_node *b = uniform(g, others[c].ndim, others[c].shape, &seed);
    rg_node *mm = rg_matmul(x, w);
    rg_node *y = side ? rg_add(b, mm) : rg_add(mm, b);
    ck_assert_msg(y != NULL, "%s", rg_graph_errmsg(g));
    ck_assert_msg(matches_kept(g, 1, &y, mm) == NULL, "%s: the product was kept",
                  others[c].what);
    rg_graph_free(g);
}
END_TEST

/* Transposed operands, and batched products (a 3-D operand with a shared 2-D one, and two
 * 3-D ones) with a bias row. loop index: case * 2 + dtype. */
START_TEST(test_transposes_and_batches)
{
    const int c = _i / 2;
    uint64_t seed = 40 + (uint64_t)_i;
    rg_graph *g = rg_graph_new(_i % 2 ? RG_F32 : RG_F64);
    rg_node *mm = NULL;
    switch (c) {
    case 0: /* x^T w */
        mm = rg_matmul_t(uniform(g, 2, (int64_t[]){9, 5}, &seed),
                         uniform(g, 2, (int64_t[]){9, 7}, &seed), true, false);
        break;
    case 1: /* x w^T */
        mm = rg_matmul_t(uniform(g, 2, (int64_t[]){5, 9}, &seed),
                         uniform(g, 2, (int64_t[]){7, 9}, &seed), false, true);
        break;
    case 2: /* x^T w^T */
        mm = rg_matmul_t(uniform(g, 2, (int64_t[]){9, 5}, &seed),
                         uniform(g, 2, (int64_t[]){7, 9}, &seed), true, true);
        break;
    case 3: /* [3,5,9] @ [9,7] */
        mm = rg_matmul(uniform(g, 3, (int64_t[]){3, 5, 9}, &seed),
                       uniform(g, 2, (int64_t[]){9, 7}, &seed));
        break;
    default: /* [3,5,9] @ [3,9,7] */
        mm = rg_matmul(uniform(g, 3, (int64_t[]){3, 5, 9}, &seed),
                       uniform(g, 3, (int64_t[]){3, 9, 7}, &seed));
        break;
    }
    rg_node *y = rg_add(mm, uniform(g, 1, (int64_t[]){7}, &seed));
    ck_assert_msg(y != NULL, "%s", rg_graph_errmsg(g));
    ck_assert_ptr_null(matches_kept(g, 1, &y, mm));
    rg_graph_free(g);
}
END_TEST

/* The product is a target, is read by another op as well, or is added to itself, or the
 * add's output broadcasts the product (it has more elements): the product is computed whole
 * and the values still match. */
START_TEST(test_product_kept_whole)
{
    uint64_t seed = 60;
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = uniform(g, 2, (int64_t[]){5, 9}, &seed);
    rg_node *w = uniform(g, 2, (int64_t[]){9, 7}, &seed);
    rg_node *b = uniform(g, 1, (int64_t[]){7}, &seed);
    rg_node *mm = rg_matmul(x, w);
    rg_node *y = rg_add(mm, b);
    ck_assert_ptr_nonnull(matches_kept(g, 2, (rg_node *[]){y, mm}, mm));

    rg_node *mm2 = rg_matmul(x, w);
    rg_node *y2 = rg_add(mm2, b), *z2 = rg_relu(mm2);
    ck_assert_ptr_nonnull(matches_kept(g, 2, (rg_node *[]){y2, z2}, mm2));

    rg_node *mm3 = rg_matmul(x, w);
    rg_node *y3 = rg_add(mm3, mm3);
    ck_assert_ptr_nonnull(matches_kept(g, 1, &y3, mm3));

    rg_node *mm5 = rg_matmul(x, w);
    rg_node *y5 = rg_add(mm5, uniform(g, 3, (int64_t[]){2, 5, 7}, &seed));
    ck_assert_ptr_nonnull(matches_kept(g, 1, &y5, mm5));

    /* with values kept the product is kept too */
    rg_graph_set_keep_values(g, true);
    ck_assert_int_eq(rg_eval1(y), RG_OK);
    ck_assert_ptr_nonnull(rg_node_data(mm));
    rg_graph_free(g);
}
END_TEST

/* The matmul's inputs are intermediates whose only reader is the matmul, and later steps
 * need new buffers: the inputs must stay intact until the add has run. Three dense layers
 * of computed operands. loop index: dtype. */
START_TEST(test_inputs_live_until_the_add)
{
    uint64_t seed = 70 + (uint64_t)_i;
    rg_graph *g = rg_graph_new(_i ? RG_F32 : RG_F64);
    rg_node *h = rg_tanh(uniform(g, 2, (int64_t[]){6, 8}, &seed));
    rg_node *mms[3];
    for (int l = 0; l < 3; l++) {
        rg_node *w = rg_mul(uniform(g, 2, (int64_t[]){8, 8}, &seed), rg_scalar(g, 0.5));
        mms[l] = rg_matmul(rg_sigmoid(h), w);
        h = rg_relu(rg_add(mms[l], uniform(g, 1, (int64_t[]){8}, &seed)));
    }
    rg_node *y = rg_sum(rg_square(h), RG_AXIS_ALL, false);
    ck_assert_ptr_null(matches_kept(g, 1, &y, mms[0]));
    ck_assert_ptr_null(rg_node_data(mms[2]));
    rg_graph_free(g);
}
END_TEST

/* A small MLP's loss and every parameter's gradient, with the epilogue (forward) against
 * every value kept; the same on two threads, bit for bit against one thread. loop index:
 * dtype. */
START_TEST(test_mlp_gradients)
{
    uint64_t seed = 80 + (uint64_t)_i;
    rg_graph *g = rg_graph_new(_i ? RG_F32 : RG_F64);
    const int64_t widths[4] = {13, 40, 24, 5}, batch = 17;
    rg_node *x = uniform(g, 2, (int64_t[]){batch, widths[0]}, &seed), *h = x, *mm0 = NULL;
    rg_node *params[6];
    for (int l = 0; l < 3; l++) {
        params[2 * l] = uniform(g, 2, (int64_t[]){widths[l], widths[l + 1]}, &seed);
        params[2 * l + 1] = uniform(g, 1, (int64_t[]){widths[l + 1]}, &seed);
        rg_node *mm = rg_matmul(h, params[2 * l]);
        mm0 = mm0 ? mm0 : mm;
        rg_node *a = rg_add(mm, params[2 * l + 1]);
        h = l < 2 ? rg_relu(a) : a;
    }
    double labels[17];
    for (int i = 0; i < batch; i++)
        labels[i] = (double)(tu_next(&seed) % 5);
    rg_node *l = rg_input(g, "labels", 1, &batch);
    ck_assert_int_eq(rg_feed_f64(l, labels, batch), RG_OK);
    rg_node *loss = rg_cross_entropy(h, l);
    rg_node *grads[6];
    ck_assert_int_eq(rg_grad(loss, 6, params, grads), RG_OK);
    rg_node *t[MAX_T] = {loss, grads[0], grads[2], grads[5]};
    ck_assert_ptr_null(matches_kept(g, 4, t, mm0));

    /* the BLAS's thread count is set where it can be (not with the portable GEMM) */
    ck_assert_int_eq(rg_set_threads(1), RG_OK);
    (void)rg_blas_set_threads(1);
    ck_assert_int_eq(rg_eval(g, 6, grads), RG_OK);
    const size_t elem = _i ? sizeof(float) : sizeof(double);
    void *one[6];
    for (int i = 0; i < 6; i++) {
        const size_t bytes = (size_t)rg_node_size(grads[i]) * elem;
        one[i] = malloc(bytes);
        memcpy(one[i], rg_node_data(grads[i]), bytes);
    }
    ck_assert_int_eq(rg_set_threads(2), RG_OK);
    (void)rg_blas_set_threads(2);
    ck_assert_int_eq(rg_eval(g, 6, grads), RG_OK);
    for (int i = 0; i < 6; i++) {
        ck_assert_msg(memcmp(one[i], rg_node_data(grads[i]),
                             (size_t)rg_node_size(grads[i]) * elem) == 0,
                      "gradient %d differs on two threads", i);
        free(one[i]);
    }
    ck_assert_int_eq(rg_set_threads(1), RG_OK);
    (void)rg_blas_set_threads(1);
    /* re-runs of the planned graph allocate nothing */
    const uint64_t allocs = rg_graph_alloc_count(g);
    for (int r = 0; r < 3; r++)
        ck_assert_int_eq(rg_eval(g, 4, t), RG_OK);
    ck_assert_uint_eq(rg_graph_alloc_count(g), allocs);
    rg_graph_free(g);
}
END_TEST

static Suite *matmul_add_suite(void)
{
    Suite *s = suite_create("matmul_add");
    TCase *tc = tcase_create("other_operand");
    tcase_add_loop_test(tc, test_other_operand, 0, 4 * N_OF(others));
    suite_add_tcase(s, tc);
    tc = tcase_create("transposes_and_batches");
    tcase_add_loop_test(tc, test_transposes_and_batches, 0, 2 * 5);
    suite_add_tcase(s, tc);
    tc = tcase_create("product_kept_whole");
    tcase_add_test(tc, test_product_kept_whole);
    suite_add_tcase(s, tc);
    tc = tcase_create("inputs_live_until_the_add");
    tcase_add_loop_test(tc, test_inputs_live_until_the_add, 0, 2);
    suite_add_tcase(s, tc);
    tc = tcase_create("mlp_gradients");
    tcase_add_loop_test(tc, test_mlp_gradients, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(matmul_add_suite());
}
