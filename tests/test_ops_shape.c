/* Shape and indexing ops (src/ops/shape.c): reshape, broadcast_to, sum_to, concat, slice,
 * pad, gather, scatter_add, one_hot. Forward values in f32 and f64, first-order gradients
 * along every axis, second-order gradients, shape errors at build time and bad indices at
 * evaluation time.
 *
 * Reference values are written out by hand from the definitions, mostly on iota tensors
 * (x[i] = i, or x[i,j,k] = 100 i + 10 j + k so that an element names its own position). */
#include "testutil.h"

#include <string.h>

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static rg_node *leaf(rg_graph *g, bool param, int ndim, const int64_t *shape, const double *v)
{
    rg_node *p = param ? rg_param(g, NULL, ndim, shape, NULL) : rg_input(g, NULL, ndim, shape);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(rg_feed_f64(p, v, rg_node_size(p)), RG_OK);
    return p;
}

/* x[i,j,k] = 100 i + 10 j + k on shape [2,3,4]. */
static void pos_values(double *v)
{
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 4; k++)
                v[(i * 3 + j) * 4 + k] = 100 * i + 10 * j + k;
}

static const int64_t S234[3] = {2, 3, 4};
static const rg_dtype dtypes[2] = {RG_F64, RG_F32};

static void assert_shape(const rg_node *n, int ndim, const int64_t *shape)
{
    ck_assert_ptr_nonnull(n);
    ck_assert_int_eq(rg_node_ndim(n), ndim);
    for (int i = 0; i < ndim; i++)
        ck_assert_int_eq(rg_node_shape(n)[i], shape[i]);
}

/* Expects the last builder to have failed with `status` and exactly `msg`; clears it. */
static void assert_error(rg_graph *g, const rg_node *n, rg_status status, const char *msg)
{
    ck_assert_ptr_null(n);
    ck_assert_int_eq(rg_graph_status(g), status);
    ck_assert_str_eq(rg_graph_errmsg(g), msg);
    rg_graph_clear_error(g);
}

/* First order always; second order through a square so the HVP is not trivially zero. */
static void check_grads(rg_node *y, rg_node *x, uint64_t *seed)
{
    ck_assert_ptr_nonnull(y);
    ck_assert_gradcheck(tu_scalarize(y, seed), 1, (rg_node *[]){x});
    rg_node *y2 = tu_scalarize(rg_square(y), seed);
    ck_assert_gradcheck(tu_second_order(y2, 1, &x, seed), 1, (rg_node *[]){x});
}

/* ---- reshape ----------------------------------------------------------------------------- */

START_TEST(test_reshape_values)
{
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dtypes[d]);
        double v[24];
        pos_values(v);
        rg_node *x = leaf(g, false, 3, S234, v);
        rg_node *y = rg_reshape(x, 2, (int64_t[]){4, -1});
        assert_shape(y, 2, (int64_t[]){4, 6});
        rg_node *z = rg_reshape(x, 1, (int64_t[]){-1});
        assert_shape(z, 1, (int64_t[]){24});
        rg_node *s = rg_reshape(rg_sum(x, RG_AXIS_ALL, false), 2, (int64_t[]){1, 1});
        assert_shape(s, 2, (int64_t[]){1, 1});
        ck_assert_int_eq(rg_eval(g, 3, (rg_node *[]){y, z, s}), RG_OK);
        tu_assert_values(y, v, 24, 0); /* same data, same order */
        tu_assert_values(z, v, 24, 0);
        /* sum: 12 * (0 + 100) + 8 * (0 + 10 + 20) + 6 * (0 + 1 + 2 + 3) = 1200 + 240 + 36 */
        tu_assert_values(s, (double[]){1476}, 1, 0);
        /* an unchanged shape returns x itself */
        ck_assert_ptr_eq(rg_reshape(x, 3, S234), x);
        ck_assert_ptr_eq(rg_reshape(x, 3, (int64_t[]){2, -1, 4}), x);
        rg_graph_free(g);
    }
}
END_TEST

START_TEST(test_reshape_grad)
{
    const int64_t targets[][3] = {{6, 4, 0}, {-1, 2, 0}, {4, 3, 2}, {24, 0, 0}};
    const int tnd[] = {2, 2, 3, 1};
    uint64_t seed = 3 + (uint64_t)_i;
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = tu_param(g, "x", 3, S234, -1, 1, &seed);
    rg_node *y = rg_reshape(x, tnd[_i], targets[_i]);
    check_grads(y, x, &seed);
    rg_graph_free(g);
}
END_TEST

START_TEST(test_reshape_errors)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = rg_input(g, "x", 2, (int64_t[]){2, 3});
    assert_error(g, rg_reshape(x, 2, (int64_t[]){4, 2}), RG_ERR_SHAPE,
                 "reshape: cannot reshape [2,3] (6 elements) to [4,2] (8 elements)");
    assert_error(g, rg_reshape(x, 2, (int64_t[]){4, -1}), RG_ERR_SHAPE,
                 "reshape: cannot reshape [2,3] (6 elements) to [4,-1]");
    assert_error(g, rg_reshape(x, 3, (int64_t[]){-1, -1, 6}), RG_ERR_SHAPE,
                 "reshape: invalid target shape [-1,-1,6] (one -1 at most, other dimensions "
                 ">= 0)");
    assert_error(g, rg_reshape(x, 2, (int64_t[]){-2, -3}), RG_ERR_SHAPE,
                 "reshape: invalid target shape [-2,-3] (one -1 at most, other dimensions "
                 ">= 0)");
    assert_error(g, rg_reshape(x, 9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 2, 3}), RG_ERR_SHAPE,
                 "reshape: a tensor has 0 to 8 dimensions, not 9");
    ck_assert_ptr_null(rg_reshape(NULL, 1, (int64_t[]){6}));
    ck_assert_int_eq(rg_graph_status(g), RG_OK);
    rg_graph_free(g);
}
END_TEST

/* ---- broadcast_to and sum_to ------------------------------------------------------------- */

/* x = [[1],[2],[3]] ([3,1]) to [2,3,4]: y[i,j,k] = j + 1. */
START_TEST(test_broadcast_to_values)
{
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dtypes[d]);
        rg_node *x = leaf(g, false, 2, (int64_t[]){3, 1}, (double[]){1, 2, 3});
        rg_node *y = rg_broadcast_to(x, 3, S234);
        rg_node *r = leaf(g, false, 1, (int64_t[]){4}, (double[]){5, 6, 7, 8});
        rg_node *z = rg_broadcast_to(r, 3, S234);
        rg_node *s = rg_broadcast_to(rg_scalar(g, 9), 2, (int64_t[]){2, 2});
        ck_assert_int_eq(rg_eval(g, 3, (rg_node *[]){y, z, s}), RG_OK);
        double want[24], want2[24];
        for (int i = 0; i < 24; i++) {
            want[i] = (i / 4) % 3 + 1;
            want2[i] = 5 + i % 4;
        }
        tu_assert_values(y, want, 24, 0);
        tu_assert_values(z, want2, 24, 0);
        tu_assert_values(s, (double[]){9, 9, 9, 9}, 4, 0);
        ck_assert_ptr_eq(rg_broadcast_to(x, 2, (int64_t[]){3, 1}), x);
        rg_graph_free(g);
    }
}
END_TEST

/* Sums of the position tensor: to [3,1]: sum over i and k of 100 i + 10 j + k =
 * 4 * 100 + 8 * 10 j + 2 * 6 = 412 + 80 j; to [4]: sum over i, j = 300 + 2 * 30 + 6 k =
 * 360 + 6 k; to [2,1,1]: 12 * 100 i + 4 * 30 + 3 * 6 = 1200 i + 138; to []: 1476. */
START_TEST(test_sum_to_values)
{
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dtypes[d]);
        double v[24];
        pos_values(v);
        rg_node *x = leaf(g, false, 3, S234, v);
        rg_node *a = rg_sum_to(x, 2, (int64_t[]){3, 1});
        rg_node *b = rg_sum_to(x, 1, (int64_t[]){4});
        rg_node *c = rg_sum_to(x, 3, (int64_t[]){2, 1, 1});
        rg_node *e = rg_sum_to(x, 0, NULL);
        rg_node *f = rg_sum_to(x, 3, (int64_t[]){1, 3, 4});
        ck_assert_int_eq(rg_eval(g, 5, (rg_node *[]){a, b, c, e, f}), RG_OK);
        tu_assert_values(a, (double[]){412, 492, 572}, 3, 0);
        tu_assert_values(b, (double[]){360, 366, 372, 378}, 4, 0);
        tu_assert_values(c, (double[]){138, 1338}, 2, 0);
        tu_assert_values(e, (double[]){1476}, 1, 0);
        double want[12];
        for (int i = 0; i < 12; i++)
            want[i] = 100 + 2 * v[i];
        tu_assert_values(f, want, 12, 0);
        ck_assert_ptr_eq(rg_sum_to(x, 3, S234), x);
        rg_graph_free(g);
    }
}
END_TEST

static const int64_t bcast_targets[][3] = {{3, 1, 0}, {4, 0, 0}, {2, 1, 1}, {0, 0, 0},
                                           {1, 3, 4}, {2, 3, 1}, {1, 1, 0}};
static const int bcast_nd[] = {2, 1, 3, 0, 3, 3, 2};

START_TEST(test_broadcast_sum_to_grad)
{
    uint64_t seed = 21 + (uint64_t)_i;
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = tu_param(g, "x", 3, S234, -1, 1, &seed);
    check_grads(rg_sum_to(x, bcast_nd[_i], bcast_targets[_i]), x, &seed);
    rg_node *small = tu_param(g, "s", bcast_nd[_i], bcast_targets[_i], -1, 1, &seed);
    check_grads(rg_broadcast_to(small, 3, S234), small, &seed);
    rg_graph_free(g);
}
END_TEST

START_TEST(test_broadcast_sum_to_errors)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = rg_input(g, "x", 2, (int64_t[]){2, 3});
    assert_error(g, rg_sum_to(x, 1, (int64_t[]){4}), RG_ERR_SHAPE,
                 "sum_to: cannot sum [2,3] to [4], which does not broadcast to it");
    assert_error(g, rg_sum_to(x, 3, (int64_t[]){1, 2, 3}), RG_ERR_SHAPE,
                 "sum_to: cannot sum [2,3] to [1,2,3], which does not broadcast to it");
    assert_error(g, rg_sum_to(x, 2, (int64_t[]){2, 2}), RG_ERR_SHAPE,
                 "sum_to: cannot sum [2,3] to [2,2], which does not broadcast to it");
    assert_error(g, rg_broadcast_to(x, 2, (int64_t[]){4, 3}), RG_ERR_SHAPE,
                 "broadcast_to: cannot broadcast [2,3] to [4,3]");
    assert_error(g, rg_broadcast_to(x, 1, (int64_t[]){6}), RG_ERR_SHAPE,
                 "broadcast_to: cannot broadcast [2,3] to [6]");
    ck_assert_ptr_null(rg_sum_to(NULL, 1, (int64_t[]){4}));
    ck_assert_ptr_null(rg_broadcast_to(NULL, 1, (int64_t[]){4}));
    ck_assert_int_eq(rg_graph_status(g), RG_OK);
    rg_graph_free(g);
}
END_TEST

/* ---- concat, slice, pad ------------------------------------------------------------------ */

/* The position tensor split and rejoined along each axis gives it back; slices and pads are
 * checked element by element from the position formula. Loop index: the axis. */
START_TEST(test_concat_slice_pad_values)
{
    const int axis = _i;
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dtypes[d]);
        double v[24];
        pos_values(v);
        rg_node *x = leaf(g, false, 3, S234, v);
        const int64_t dim = S234[axis];
        rg_node *lo = rg_slice(x, axis, 0, 1), *hi = rg_slice(x, axis, 1, dim);
        rg_node *cat = rg_concat(lo, hi, axis);
        rg_node *pad = rg_pad(hi, axis - 3, 2, dim + 3); /* negative axis: from the end */
        ck_assert_int_eq(rg_eval(g, 4, (rg_node *[]){lo, hi, cat, pad}), RG_OK);
        assert_shape(cat, 3, S234);
        tu_assert_values(cat, v, 24, 0);
        int64_t hs[3] = {2, 3, 4}, ps[3] = {2, 3, 4};
        hs[axis] = dim - 1;
        ps[axis] = dim + 3;
        assert_shape(hi, 3, hs);
        assert_shape(pad, 3, ps);
        int64_t idx = 0;
        for (int i = 0; i < hs[0]; i++)
            for (int j = 0; j < hs[1]; j++)
                for (int k = 0; k < hs[2]; k++) {
                    int p[3] = {i, j, k};
                    p[axis] += 1;
                    ck_assert_double_eq(rg_node_get(hi, idx++), 100 * p[0] + 10 * p[1] + p[2]);
                }
        idx = 0;
        for (int i = 0; i < ps[0]; i++)
            for (int j = 0; j < ps[1]; j++)
                for (int k = 0; k < ps[2]; k++) {
                    int p[3] = {i, j, k};
                    /* pad position q holds hi's q - 2, which is x's q - 1 */
                    p[axis] -= 1;
                    const bool inside = p[axis] >= 1 && p[axis] < dim;
                    ck_assert_double_eq(rg_node_get(pad, idx++),
                                        inside ? 100 * p[0] + 10 * p[1] + p[2] : 0);
                }
        rg_graph_free(g);
    }
}
END_TEST

START_TEST(test_concat_slice_pad_grad)
{
    const int axis = _i;
    uint64_t seed = 31 + (uint64_t)_i;
    rg_graph *g = rg_graph_new(RG_F64);
    int64_t bs[3] = {2, 3, 4};
    bs[axis] = 2;
    rg_node *a = tu_param(g, "a", 3, S234, -1, 1, &seed);
    rg_node *b = tu_param(g, "b", 3, bs, -1, 1, &seed);
    rg_node *cat = rg_concat(a, b, axis);
    rg_node *y = tu_scalarize(rg_square(cat), &seed);
    ck_assert_gradcheck(y, 2, (rg_node *[]){a, b});
    ck_assert_gradcheck(tu_second_order(y, 2, (rg_node *[]){a, b}, &seed), 2,
                        (rg_node *[]){a, b});
    check_grads(rg_slice(a, axis, 1, S234[axis]), a, &seed);
    check_grads(rg_slice(a, axis, 0, 1), a, &seed);
    check_grads(rg_pad(a, axis, 1, S234[axis] + 2), a, &seed);
    check_grads(rg_pad(b, axis, 0, 5), b, &seed);
    rg_graph_free(g);
}
END_TEST

START_TEST(test_concat_slice_pad_identity_and_empty)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *x = rg_input(g, "x", 2, (int64_t[]){2, 3});
    ck_assert_ptr_eq(rg_slice(x, 1, 0, 3), x);
    ck_assert_ptr_eq(rg_pad(x, -1, 0, 3), x);
    rg_node *e = rg_slice(x, 1, 2, 2);
    assert_shape(e, 2, (int64_t[]){2, 0});
    rg_node *c = rg_concat(x, e, 1);
    assert_shape(c, 2, (int64_t[]){2, 3});
    ck_assert_int_eq(rg_eval1(c), RG_OK);
    rg_graph_free(g);
}
END_TEST

START_TEST(test_concat_slice_pad_errors)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *a = rg_input(g, "a", 2, (int64_t[]){2, 3});
    rg_node *b = rg_input(g, "b", 2, (int64_t[]){3, 4});
    rg_node *c = rg_input(g, "c", 3, (int64_t[]){2, 3, 1});
    assert_error(g, rg_concat(a, b, 1), RG_ERR_SHAPE,
                 "concat: shapes differ outside axis 1: [2,3] and [3,4]");
    assert_error(g, rg_concat(a, c, 0), RG_ERR_SHAPE,
                 "concat: shapes differ outside axis 0: [2,3] and [2,3,1]");
    assert_error(g, rg_concat(a, a, 2), RG_ERR_SHAPE, "concat: axis 2 out of range for [2,3]");
    assert_error(g, rg_concat(a, a, -3), RG_ERR_SHAPE, "concat: axis -3 out of range for [2,3]");
    assert_error(g, rg_slice(a, 1, 1, 5), RG_ERR_SHAPE,
                 "slice: [1, 5) out of range for axis 1 of [2,3]");
    assert_error(g, rg_slice(a, 0, -1, 1), RG_ERR_SHAPE,
                 "slice: [-1, 1) out of range for axis 0 of [2,3]");
    assert_error(g, rg_slice(a, 0, 2, 1), RG_ERR_SHAPE,
                 "slice: [2, 1) out of range for axis 0 of [2,3]");
    assert_error(g, rg_slice(a, 5, 0, 1), RG_ERR_SHAPE, "slice: axis 5 out of range for [2,3]");
    assert_error(g, rg_pad(a, 1, 2, 4), RG_ERR_SHAPE,
                 "pad: [2,3] at offset 2 does not fit in size 4 along axis 1");
    assert_error(g, rg_pad(a, 0, -1, 4), RG_ERR_SHAPE,
                 "pad: [2,3] at offset -1 does not fit in size 4 along axis 0");
    assert_error(g, rg_pad(rg_scalar(g, 1), 0, 0, 2), RG_ERR_SHAPE,
                 "pad: axis 0 out of range for []");
    ck_assert_ptr_null(rg_concat(NULL, b, 0));
    ck_assert_ptr_null(rg_concat(a, NULL, 0));
    ck_assert_ptr_null(rg_slice(NULL, 0, 0, 1));
    ck_assert_ptr_null(rg_pad(NULL, 0, 0, 1));
    ck_assert_int_eq(rg_graph_status(g), RG_OK);
    rg_graph_free(g);
}
END_TEST

/* ---- gather, scatter_add, one_hot -------------------------------------------------------- */

/* table [4,3] with table[r,c] = 10 r + c; index [2,3] = [[3,0,3],[1,1,2]] (repeats).
 * gather: rows in index order, shape [2,3,3]. */
static const double table43[] = {0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32};
static const double index23[] = {3, 0, 3, 1, 1, 2};

START_TEST(test_gather_values)
{
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dtypes[d]);
        rg_node *t = leaf(g, false, 2, (int64_t[]){4, 3}, table43);
        rg_node *ix = leaf(g, false, 2, (int64_t[]){2, 3}, index23);
        rg_node *y = rg_gather(t, ix);
        assert_shape(y, 3, (int64_t[]){2, 3, 3});
        rg_node *v = leaf(g, false, 1, (int64_t[]){4}, (double[]){5, 6, 7, 8});
        rg_node *z = rg_gather(v, ix); /* a 1-D table picks scalars: shape [2,3] */
        ck_assert_int_eq(rg_eval(g, 2, (rg_node *[]){y, z}), RG_OK);
        double want[18];
        for (int i = 0; i < 6; i++)
            for (int c = 0; c < 3; c++)
                want[i * 3 + c] = 10 * index23[i] + c;
        tu_assert_values(y, want, 18, 0);
        tu_assert_values(z, (double[]){8, 5, 8, 6, 6, 7}, 6, 0);
        rg_graph_free(g);
    }
}
END_TEST

/* scatter_add of src [2,3,2] (src[i,j,:] = [i*3+j, 1]) into 4 rows at index23: row 3 gets
 * positions 0 and 2 (0 + 2 = 2, two ones), row 0 position 1, row 1 positions 3 and 4
 * (3 + 4 = 7), row 2 position 5. */
START_TEST(test_scatter_add_values)
{
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dtypes[d]);
        double src[12];
        for (int i = 0; i < 6; i++)
            src[2 * i] = i, src[2 * i + 1] = 1;
        rg_node *s = leaf(g, false, 3, (int64_t[]){2, 3, 2}, src);
        rg_node *ix = leaf(g, false, 2, (int64_t[]){2, 3}, index23);
        rg_node *y = rg_scatter_add(s, ix, 4);
        assert_shape(y, 2, (int64_t[]){4, 2});
        ck_assert_int_eq(rg_eval1(y), RG_OK);
        tu_assert_values(y, (double[]){1, 1, 7, 2, 5, 1, 2, 2}, 8, 0);
        rg_graph_free(g);
    }
}
END_TEST

START_TEST(test_one_hot_values)
{
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dtypes[d]);
        rg_node *ix = leaf(g, false, 1, (int64_t[]){3}, (double[]){2, 0, 2});
        rg_node *y = rg_one_hot(ix, 4);
        assert_shape(y, 2, (int64_t[]){3, 4});
        ck_assert_int_eq(rg_eval1(y), RG_OK);
        tu_assert_values(y, (double[]){0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0}, 12, 0);
        rg_graph_free(g);
    }
}
END_TEST

/* d sum(w * gather(t, ix)) / dt is scatter_add(w, ix): a row picked twice gets both weights.
 * Also gradchecked, first and second order; the index gets exact zeros. */
START_TEST(test_gather_scatter_grad)
{
    uint64_t seed = 51;
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *t = tu_param(g, "t", 2, (int64_t[]){4, 3}, -1, 1, &seed);
    rg_node *ix = leaf(g, false, 2, (int64_t[]){2, 3}, index23);
    rg_node *y = rg_sum(rg_gather(t, ix), RG_AXIS_ALL, false);
    rg_node *gr[2];
    ck_assert_int_eq(rg_grad(y, 2, (rg_node *[]){t, ix}, gr), RG_OK);
    ck_assert_int_eq(rg_eval(g, 2, gr), RG_OK);
    /* picks per row: row 0 once, row 1 twice, row 2 once, row 3 twice */
    tu_assert_values(gr[0], (double[]){1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2}, 12, 0);
    tu_assert_values(gr[1], (double[]){0, 0, 0, 0, 0, 0}, 6, 0);
    check_grads(rg_gather(t, ix), t, &seed);
    rg_node *s = tu_param(g, "s", 3, (int64_t[]){2, 3, 2}, -1, 1, &seed);
    check_grads(rg_scatter_add(s, ix, 5), s, &seed);
    rg_node *oh = rg_mul(rg_one_hot(ix, 4), rg_scalar(g, 1));
    ck_assert_int_eq(rg_grad(rg_sum(oh, RG_AXIS_ALL, false), 1, &ix, gr), RG_OK);
    ck_assert_int_eq(rg_eval1(gr[0]), RG_OK);
    tu_assert_values(gr[0], (double[]){0, 0, 0, 0, 0, 0}, 6, 0);
    rg_graph_free(g);
}
END_TEST

/* Bad index values are found when the kernel runs: RG_ERR_DOMAIN, naming value and place. */
struct bad_index {
    int op; /* 0 gather, 1 scatter_add, 2 one_hot */
    double v[3];
    const char *msg;
};

static const struct bad_index bad_indices[] = {
    {0, {0, 4, 1}, "gather: index 4 at position 1 is not an integer in [0, 4)"},
    {0, {0, 1, -1}, "gather: index -1 at position 2 is not an integer in [0, 4)"},
    {0, {1.5, 1, 1}, "gather: index 1.5 at position 0 is not an integer in [0, 4)"},
    {0, {0, NAN, 1}, "gather: index nan at position 1 is not an integer in [0, 4)"},
    {1, {0, 1, 4}, "scatter_add: index 4 at position 2 is not an integer in [0, 4)"},
    {2, {3, 0, 7}, "one_hot: index 7 at position 2 is not an integer in [0, 4)"},
    {2, {0.25, 0, 1}, "one_hot: index 0.25 at position 0 is not an integer in [0, 4)"},
};

START_TEST(test_bad_index_at_eval)
{
    const struct bad_index *b = &bad_indices[_i];
    for (int d = 0; d < 2; d++) {
        rg_graph *g = rg_graph_new(dtypes[d]);
        rg_node *t = leaf(g, false, 2, (int64_t[]){4, 3}, table43);
        rg_node *ix = rg_input(g, "ix", 1, (int64_t[]){3});
        rg_node *s = rg_input(g, "s", 2, (int64_t[]){3, 3});
        rg_node *y = b->op == 0   ? rg_gather(t, ix)
                     : b->op == 1 ? rg_scatter_add(s, ix, 4)
                                  : rg_one_hot(ix, 4);
        ck_assert_ptr_nonnull(y); /* values are not known at build time */
        ck_assert_int_eq(rg_feed_f64(ix, b->v, 3), RG_OK);
        ck_assert_int_eq(rg_eval1(y), RG_ERR_DOMAIN);
        ck_assert_str_eq(rg_graph_errmsg(g), b->msg);
        rg_graph_free(g);
    }
}
END_TEST

START_TEST(test_index_shape_errors)
{
    rg_graph *g = rg_graph_new(RG_F64);
    rg_node *ix = rg_input(g, "ix", 1, (int64_t[]){3});
    rg_node *s = rg_input(g, "s", 2, (int64_t[]){2, 3});
    assert_error(g, rg_gather(rg_scalar(g, 1), ix), RG_ERR_SHAPE,
                 "gather: table [] has no rows to pick");
    assert_error(g, rg_scatter_add(s, ix, 4), RG_ERR_SHAPE,
                 "scatter_add: src [2,3] does not start with the index shape [3]");
    assert_error(g, rg_scatter_add(rg_transpose(s), ix, -1), RG_ERR_SHAPE,
                 "scatter_add: negative row count -1");
    assert_error(g, rg_one_hot(ix, -2), RG_ERR_SHAPE, "one_hot: negative depth -2");
    const int64_t big[8] = {1, 1, 1, 1, 1, 1, 1, 3};
    rg_node *ix8 = rg_input(g, "ix8", 8, big);
    assert_error(g, rg_one_hot(ix8, 2), RG_ERR_SHAPE,
                 "one_hot: index [1,1,1,1,1,1,1,3] already has 8 dimensions");
    assert_error(g, rg_gather(s, ix8), RG_ERR_SHAPE,
                 "gather: table [2,3] picked by index [1,1,1,1,1,1,1,3] would have 9 "
                 "dimensions (at most 8)");
    ck_assert_ptr_null(rg_gather(NULL, ix));
    ck_assert_ptr_null(rg_one_hot(NULL, 3));
    ck_assert_ptr_null(rg_scatter_add(s, NULL, 3));
    ck_assert_int_eq(rg_graph_status(g), RG_OK);
    rg_graph_free(g);
}
END_TEST

static Suite *ops_shape_suite(void)
{
    Suite *s = suite_create("ops_shape");
    const tu_case cases[] = {
        {"reshape_values", test_reshape_values, 0},
        {"reshape_grad", test_reshape_grad, 4},
        {"reshape_errors", test_reshape_errors, 0},
        {"broadcast_to_values", test_broadcast_to_values, 0},
        {"sum_to_values", test_sum_to_values, 0},
        {"broadcast_sum_to_grad", test_broadcast_sum_to_grad, N_OF(bcast_nd)},
        {"broadcast_sum_to_errors", test_broadcast_sum_to_errors, 0},
        {"concat_slice_pad_values", test_concat_slice_pad_values, 3},
        {"concat_slice_pad_grad", test_concat_slice_pad_grad, 3},
        {"concat_slice_pad_identity_and_empty", test_concat_slice_pad_identity_and_empty, 0},
        {"concat_slice_pad_errors", test_concat_slice_pad_errors, 0},
        {"gather_values", test_gather_values, 0},
        {"scatter_add_values", test_scatter_add_values, 0},
        {"one_hot_values", test_one_hot_values, 0},
        {"gather_scatter_grad", test_gather_scatter_grad, 0},
        {"bad_index_at_eval", test_bad_index_at_eval, N_OF(bad_indices)},
        {"index_shape_errors", test_index_shape_errors, 0},
    };
    tu_add_cases(s, cases, sizeof cases / sizeof *cases);
    return s;
}

int main(void)
{
    return tu_run_suite(ops_shape_suite());
}
