/* Linear algebra (src/ops/linalg.c, src/kernels/gemm.c): the GEMM kernels against a naive
 * triple loop, matmul forward values (2-D, batched, shared operand, every transpose flag),
 * first- and second-order gradients, the flag-only VJP (no transposes built), permute and
 * transpose, shape errors, f32 and f64 graphs.
 *
 * Hand-computed reference: A = [[1,2,3],[4,5,6]], B = [[7,8],[9,10],[11,12]],
 * A @ B = [[1*7+2*9+3*11, 1*8+2*10+3*12], [4*7+5*9+6*11, 4*8+5*10+6*12]]
 *       = [[58, 64], [139, 154]]. */
#include "internal.h"
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* A leaf of an f32 or f64 graph holding the given doubles (converted). */
static rg_node *leaf(rg_graph *g, bool param, int ndim, const int64_t *shape, const double *v)
{
    rg_node *p = param ? rg_param(g, NULL, ndim, shape, NULL) : rg_input(g, NULL, ndim, shape);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(rg_feed_f64(p, v, rg_node_size(p)), RG_OK);
    return p;
}

static const double A23[] = {1, 2, 3, 4, 5, 6};
static const double B32[] = {7, 8, 9, 10, 11, 12};
static const double AB[] = {58, 64, 139, 154};

/* ---- GEMM kernels ---------------------------------------------------------------------- */

/* C = alpha op(A) op(B) + beta C0 by the definition, in double. */
static void naive_gemm(bool ta, bool tb, int m, int n, int k, double alpha, const double *a,
                       int lda, const double *b, int ldb, double beta, const double *c0,
                       double *c, int ldc)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p < k; p++) {
                const double x = ta ? a[p * lda + i] : a[i * lda + p];
                s += x * (tb ? b[j * ldb + p] : b[p * ldb + j]);
            }
            c[i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * c0[i * ldc + j]);
        }
}

static const int gemm_sizes[][3] = {
    {1, 1, 1}, {17, 33, 5}, {64, 64, 64}, {5, 1, 7}, {3, 130, 70}, {131, 7, 129}, {4, 3, 0},
};

/* loop index: size row * 4 + flags (bit 0: ta, bit 1: tb); leading dimensions padded by 3
 * so that a kernel ignoring them fails. beta 0 with C full of NaN checks that C is then
 * overwritten, not read. */
START_TEST(test_gemm_vs_naive)
{
    const int *sz = gemm_sizes[_i / 4];
    const bool ta = _i & 1, tb = _i & 2;
    const int m = sz[0], n = sz[1], k = sz[2];
    const int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 3, ldc = n + 3;
    const int arows = ta ? k : m, brows = tb ? n : k;
    uint64_t seed = 42 + (uint64_t)_i;
    double *a = malloc(sizeof(double) * (size_t)(arows * lda + 1));
    double *b = malloc(sizeof(double) * (size_t)(brows * ldb + 1));
    double *c0 = malloc(sizeof(double) * (size_t)(m * ldc));
    double *want = malloc(sizeof(double) * (size_t)(m * ldc));
    double *cd = malloc(sizeof(double) * (size_t)(m * ldc));
    float *af = malloc(sizeof(float) * (size_t)(arows * lda + 1));
    float *bf = malloc(sizeof(float) * (size_t)(brows * ldb + 1));
    float *cf = malloc(sizeof(float) * (size_t)(m * ldc));
    for (int i = 0; i < arows * lda; i++)
        af[i] = (float)(a[i] = tu_uniform(&seed, -1, 1));
    for (int i = 0; i < brows * ldb; i++)
        bf[i] = (float)(b[i] = tu_uniform(&seed, -1, 1));
    for (int i = 0; i < m * ldc; i++)
        c0[i] = tu_uniform(&seed, -1, 1);
    const double betas[2] = {0.5, 0.0};
    for (int bi = 0; bi < 2; bi++) {
        const double beta = betas[bi];
        for (int i = 0; i < m * ldc; i++) {
            cd[i] = beta == 0 ? NAN : c0[i];
            cf[i] = (float)cd[i];
        }
        naive_gemm(ta, tb, m, n, k, 1.5, a, lda, b, ldb, beta, c0, want, ldc);
        rg__dgemm(ta, tb, m, n, k, 1.5, a, lda, b, ldb, beta, cd, ldc);
        rg__sgemm(ta, tb, m, n, k, 1.5f, af, lda, bf, ldb, (float)beta, cf, ldc);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                const double w = want[i * ldc + j];
                /* f64: rounding of k products; f32: the same with u = 6e-8 and |terms| <= 1.5 */
                ck_assert_msg(fabs(cd[i * ldc + j] - w) <= 1e-13 * (k + 1),
                              "dgemm %dx%dx%d ta=%d tb=%d beta=%g C[%d,%d] = %.17g, want %.17g",
                              m, n, k, ta, tb, beta, i, j, cd[i * ldc + j], w);
                ck_assert_msg(fabs(cf[i * ldc + j] - w) <= 2e-6 * (k + 1),
                              "sgemm %dx%dx%d ta=%d tb=%d beta=%g C[%d,%d] = %.9g, want %.9g",
                              m, n, k, ta, tb, beta, i, j, cf[i * ldc + j], w);
            }
        /* the padding between rows of C is left alone */
        for (int i = 0; i < m; i++)
            for (int j = n; j < ldc; j++)
                ck_assert(beta == 0 ? isnan(cd[i * ldc + j]) : cd[i * ldc + j] == c0[i * ldc + j]);
    }
    free(a), free(b), free(c0), free(want), free(cd), free(af), free(bf), free(cf);
}
END_TEST

/* ---- matmul forward ---------------------------------------------------------------------- */

/* Every flag combination gives A @ B when the operands are stored accordingly. */
START_TEST(test_matmul_values_flags)
{
    const bool ta = _i & 1, tb = _i & 2;
    const double at[] = {1, 4, 2, 5, 3, 6};          /* A^T, [3,2] */
    const double bt[] = {7, 9, 11, 8, 10, 12};        /* B^T, [2,3] */
    const rg_dtype dts[2] = {RG_F64, RG_F32};
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dts[d]);
        rg_node *a = ta ? leaf(g, false, 2, (int64_t[]){3, 2}, at)
                        : leaf(g, false, 2, (int64_t[]){2, 3}, A23);
        rg_node *b = tb ? leaf(g, false, 2, (int64_t[]){2, 3}, bt)
                        : leaf(g, false, 2, (int64_t[]){3, 2}, B32);
        rg_node *c = rg_matmul_t(a, b, ta, tb);
        ck_assert_ptr_nonnull(c);
        ck_assert_int_eq(rg_node_ndim(c), 2);
        ck_assert_int_eq(rg_node_shape(c)[0], 2);
        ck_assert_int_eq(rg_node_shape(c)[1], 2);
        ck_assert_int_eq(rg_eval1(c), RG_OK);
        tu_assert_values(c, AB, 4, 0);
        rg_graph_free(g);
    }
}
END_TEST

/* Batched [2,2,3] @ [2,3,2]: batch 0 is A @ B, batch 1 is (-A) @ (2B) = -2 AB; a 2-D B
 * shared by a 3-D A, and a 2-D A shared by a 3-D B, give A_b @ B and A @ B_b. */
START_TEST(test_matmul_values_batched)
{
    double a2[12], b2[12], want[8];
    for (int i = 0; i < 6; i++) {
        a2[i] = A23[i], a2[6 + i] = -A23[i];
        b2[i] = B32[i], b2[6 + i] = 2 * B32[i];
    }
    const rg_dtype dts[2] = {RG_F64, RG_F32};
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dts[d]);
        rg_node *a3 = leaf(g, false, 3, (int64_t[]){2, 2, 3}, a2);
        rg_node *b3 = leaf(g, false, 3, (int64_t[]){2, 3, 2}, b2);
        rg_node *a = leaf(g, false, 2, (int64_t[]){2, 3}, A23);
        rg_node *b = leaf(g, false, 2, (int64_t[]){3, 2}, B32);
        rg_node *batched = rg_matmul(a3, b3), *shared_b = rg_matmul(a3, b);
        rg_node *shared_a = rg_matmul(a, b3);
        ck_assert_int_eq(rg_eval(g, 3, (rg_node *[]){batched, shared_b, shared_a}), RG_OK);
        for (int i = 0; i < 4; i++)
            want[i] = AB[i], want[4 + i] = -2 * AB[i];
        tu_assert_values(batched, want, 8, 0);
        for (int i = 0; i < 4; i++)
            want[4 + i] = -AB[i];
        tu_assert_values(shared_b, want, 8, 0);
        for (int i = 0; i < 4; i++)
            want[4 + i] = 2 * AB[i];
        tu_assert_values(shared_a, want, 8, 0);
        ck_assert_int_eq(rg_node_ndim(shared_a), 3);
        rg_graph_free(g);
    }
}
END_TEST

/* ---- matmul gradients ------------------------------------------------------------------ */

/* Layouts: 0 [m,k]@[k,n]; 1 batched; 2 3-D A with shared 2-D B; 3 shared 2-D A with 3-D B.
 * Loop index: layout * 4 + flags. Stored shapes follow the flags (op(A) is [m,k]). */
static void matmul_operands(rg_graph *g, int i, int64_t m, int64_t k, int64_t n,
                            uint64_t *seed, rg_node **a, rg_node **b)
{
    const int layout = i / 4;
    const bool ta = i & 1, tb = i & 2;
    const int64_t batch = 3;
    int64_t as[3] = {batch, ta ? k : m, ta ? m : k}, bs[3] = {batch, tb ? n : k, tb ? k : n};
    const bool a3 = layout == 1 || layout == 2, b3 = layout == 1 || layout == 3;
    *a = tu_param(g, "a", a3 ? 3 : 2, a3 ? as : as + 1, -1, 1, seed);
    *b = tu_param(g, "b", b3 ? 3 : 2, b3 ? bs : bs + 1, -1, 1, seed);
}

START_TEST(test_matmul_gradcheck)
{
    const int64_t dims[][3] = {{3, 4, 2}, {1, 5, 3}, {4, 1, 1}};
    for (int s = 0; s < N_OF(dims); s++) {
        uint64_t seed = 7 + (uint64_t)(_i * 10 + s);
        rg_graph *g = rg_graph_new(RG_F64);
        rg_node *a, *b;
        matmul_operands(g, _i, dims[s][0], dims[s][1], dims[s][2], &seed, &a, &b);
        rg_node *c = rg_matmul_t(a, b, _i & 1, _i & 2);
        ck_assert_ptr_nonnull(c);
        ck_assert_gradcheck(tu_scalarize(c, &seed), 2, (rg_node *[]){a, b});
        rg_graph_free(g);
    }
}
END_TEST

/* Hessian-vector products: every VJP used by matmul's VJP is differentiated again. The
 * tanh makes the second derivative non-trivial. */
START_TEST(test_matmul_second_order)
{
    uint64_t seed = 99 + (uint64_t)_i;
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *a, *b;
    matmul_operands(g, _i, 3, 4, 2, &seed, &a, &b);
    rg_node *y = tu_scalarize(rg_tanh(rg_matmul_t(a, b, _i & 1, _i & 2)), &seed);
    rg_node *xs[2] = {a, b};
    ck_assert_gradcheck(tu_second_order(y, 2, xs, &seed), 2, xs);
    rg_graph_free(g);
}
END_TEST

/* The VJP uses transpose flags only: no permute node appears in the backward graph, and the
 * gradients have the operands' shapes. */
START_TEST(test_matmul_vjp_builds_no_transpose)
{
    uint64_t seed = 5 + (uint64_t)_i;
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *a, *b;
    matmul_operands(g, _i, 3, 4, 2, &seed, &a, &b);
    rg_node *y = rg_sum(rg_matmul_t(a, b, _i & 1, _i & 2), RG_AXIS_ALL, false);
    size_t before = rg_graph_node_count(g);
    rg_node *grads[2];
    ck_assert_int_eq(rg_grad(y, 2, (rg_node *[]){a, b}, grads), RG_OK);
    for (size_t id = before; id < rg_graph_node_count(g); id++)
        ck_assert_str_ne(rg_node_op_name(rg_graph_node(g, id)), "permute");
    ck_assert_int_eq(rg_node_ndim(grads[0]), rg_node_ndim(a));
    ck_assert_int_eq(rg_node_ndim(grads[1]), rg_node_ndim(b));
    rg_graph_free(g);
}
END_TEST

/* d sum(A @ B) / dA = 1 B^T: row sums of B, [15, 19, 23] in every row; dB = A^T 1: column
 * sums of A, [5, 7, 9] in every column. Checked in f32, where gradcheck cannot run. */
START_TEST(test_matmul_grad_values_f32)
{
    rg_graph *g = rg_graph_new(RG_F32);
    rg_node *a = leaf(g, true, 2, (int64_t[]){2, 3}, A23);
    rg_node *b = leaf(g, true, 2, (int64_t[]){3, 2}, B32);
    rg_node *y = rg_sum(rg_matmul(a, b), RG_AXIS_ALL, false);
    ck_assert_int_eq(rg_backward(y), RG_OK);
    ck_assert_double_eq(rg_node_item(y), 58 + 64 + 139 + 154);
    tu_assert_values(rg_node_grad(a), (double[]){15, 19, 23, 15, 19, 23}, 6, 0);
    tu_assert_values(rg_node_grad(b), (double[]){5, 5, 7, 7, 9, 9}, 6, 0);
    rg_graph_free(g);
}
END_TEST

/* ---- permute and transpose -------------------------------------------------------------- */

/* x[i,j,k] = 100 i + 10 j + k on [2,3,4]; with perm {2,0,1}, y[p,q,r] = x[q,r,p]. */
START_TEST(test_permute_values)
{
    const rg_dtype dts[2] = {RG_F64, RG_F32};
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dts[d]);
        double v[24], want[24];
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 4; k++)
                    v[(i * 3 + j) * 4 + k] = 100 * i + 10 * j + k;
        rg_node *x = leaf(g, false, 3, (int64_t[]){2, 3, 4}, v);
        rg_node *y = rg_permute(x, (int[]){2, 0, 1});
        rg_node *t = rg_transpose(x);
        ck_assert_int_eq(rg_eval(g, 2, (rg_node *[]){y, t}), RG_OK);
        const int64_t *s = rg_node_shape(y);
        ck_assert(s[0] == 4 && s[1] == 2 && s[2] == 3);
        for (int p = 0; p < 4; p++)
            for (int q = 0; q < 2; q++)
                for (int r = 0; r < 3; r++)
                    want[(p * 2 + q) * 3 + r] = 100 * q + 10 * r + p;
        tu_assert_values(y, want, 24, 0);
        s = rg_node_shape(t);
        ck_assert(s[0] == 2 && s[1] == 4 && s[2] == 3);
        for (int i = 0; i < 2; i++)
            for (int k = 0; k < 4; k++)
                for (int j = 0; j < 3; j++)
                    want[(i * 4 + k) * 3 + j] = 100 * i + 10 * j + k;
        tu_assert_values(t, want, 24, 0);
        rg_graph_free(g);
    }
}
END_TEST

/* Identity permutations and transposes of fewer than 2 axes return x itself; negative
 * entries count from the end. */
START_TEST(test_permute_identity)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *v = rg_input(g, "v", 1, (int64_t[]){5});
    rg_node *s = rg_scalar(g, 2);
    rg_node *m = rg_input(g, "m", 3, (int64_t[]){2, 3, 4});
    ck_assert_ptr_eq(rg_transpose(v), v);
    ck_assert_ptr_eq(rg_transpose(s), s);
    ck_assert_ptr_eq(rg_permute(m, (int[]){0, 1, 2}), m);
    ck_assert_ptr_eq(rg_permute(m, (int[]){-3, -2, -1}), m);
    rg_node *y = rg_permute(m, (int[]){-1, 0, 1});
    ck_assert_int_eq(rg_node_shape(y)[0], 4);
    ck_assert_ptr_null(rg_transpose(NULL));
    rg_graph_free(g);
}
END_TEST

static const int perms[][4] = {
    {1, 0, -1, -1}, {2, 0, 1, -1}, {1, 2, 0, -1}, {0, 2, 1, -1}, {3, 1, 0, 2}, {2, 3, 0, 1},
};

START_TEST(test_permute_gradcheck)
{
    const int nd = perms[_i][2] < 0 ? 2 : perms[_i][3] < 0 ? 3 : 4;
    const int64_t shape[4] = {2, 3, 4, 2};
    uint64_t seed = 11 + (uint64_t)_i;
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = tu_param(g, "x", nd, shape, -1, 1, &seed);
    rg_node *y = rg_permute(x, perms[_i]);
    ck_assert_gradcheck(tu_scalarize(y, &seed), 1, (rg_node *[]){x});
    rg_node *y2 = tu_scalarize(rg_square(y), &seed);
    ck_assert_gradcheck(tu_second_order(y2, 1, &x, &seed), 1, (rg_node *[]){x});
    rg_graph_free(g);
}
END_TEST

/* ---- errors ------------------------------------------------------------------------------ */

struct shape_error {
    int andim;
    int64_t as[3];
    int bndim;
    int64_t bs[3];
    bool ta, tb;
    const char *msg;
};

static const struct shape_error matmul_errors[] = {
    {2, {3, 4}, 2, {5, 2}, false, false, "matmul: inner dimensions differ: [3,4] @ [5,2]"},
    {2, {3, 4}, 2, {4, 2}, true, false, "matmul: inner dimensions differ: [3,4]^T @ [4,2]"},
    {2, {3, 4}, 2, {2, 4}, false, false, "matmul: inner dimensions differ: [3,4] @ [2,4]"},
    {2, {3, 4}, 2, {4, 2}, false, true, "matmul: inner dimensions differ: [3,4] @ [4,2]^T"},
    {3, {2, 3, 4}, 3, {3, 4, 5}, false, false, "matmul: batch sizes differ: [2,3,4] @ [3,4,5]"},
    {1, {4}, 2, {4, 2}, false, false, "matmul: operands must be 2-D or 3-D: [4] @ [4,2]"},
    {2, {3, 4}, 0, {0}, false, false, "matmul: operands must be 2-D or 3-D: [3,4] @ []"},
};

START_TEST(test_matmul_errors)
{
    const struct shape_error *e = &matmul_errors[_i];
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *a = rg_input(g, "a", e->andim, e->as), *b = rg_input(g, "b", e->bndim, e->bs);
    rg_node *c = rg_matmul_t(a, b, e->ta, e->tb);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(rg_graph_status(g), RG_ERR_SHAPE);
    ck_assert_str_eq(rg_graph_errmsg(g), e->msg);
    /* NULL flows through the next builders, the first message stays */
    ck_assert_ptr_null(rg_matmul(c, b));
    ck_assert_ptr_null(rg_transpose(rg_permute(c, (int[]){1, 0})));
    ck_assert_str_eq(rg_graph_errmsg(g), e->msg);
    rg_graph_free(g);
}
END_TEST

START_TEST(test_permute_errors)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = rg_input(g, "x", 3, (int64_t[]){2, 3, 4});
    ck_assert_ptr_null(rg_permute(x, (int[]){0, 0, 1}));
    ck_assert_int_eq(rg_graph_status(g), RG_ERR_SHAPE);
    ck_assert_str_eq(rg_graph_errmsg(g), "permute: [0,0,1] is not a permutation of the 3 axes "
                                         "of [2,3,4]");
    rg_graph_clear_error(g);
    ck_assert_ptr_null(rg_permute(x, (int[]){0, 3, 1}));
    ck_assert_str_eq(rg_graph_errmsg(g), "permute: axis 3 out of range for [2,3,4]");
    rg_graph_clear_error(g);
    ck_assert_ptr_null(rg_permute(x, NULL));
    ck_assert_int_eq(rg_graph_status(g), RG_ERR_ARG);
    rg_graph_free(g);
}
END_TEST

static Suite *ops_linalg_suite(void)
{
    Suite *s = suite_create("ops_linalg");
    const tu_case cases[] = {
        {"gemm_vs_naive", test_gemm_vs_naive, N_OF(gemm_sizes) * 4},
        {"matmul_values_flags", test_matmul_values_flags, 4},
        {"matmul_values_batched", test_matmul_values_batched, 0},
        {"matmul_gradcheck", test_matmul_gradcheck, 16},
        {"matmul_second_order", test_matmul_second_order, 16},
        {"matmul_vjp_builds_no_transpose", test_matmul_vjp_builds_no_transpose, 16},
        {"matmul_grad_values_f32", test_matmul_grad_values_f32, 0},
        {"permute_values", test_permute_values, 0},
        {"permute_identity", test_permute_identity, 0},
        {"permute_gradcheck", test_permute_gradcheck, N_OF(perms)},
        {"matmul_errors", test_matmul_errors, N_OF(matmul_errors)},
        {"permute_errors", test_permute_errors, 0},
    };
    tu_add_cases(s, cases, sizeof cases / sizeof *cases);
    return s;
}

int main(void)
{
    return tu_run_suite(ops_linalg_suite());
}
