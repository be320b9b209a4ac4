/* Small helpers shared by the test suites (header-only, public API only). */
#ifndef RG_TESTUTIL_H
#define RG_TESTUTIL_H

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "retrograd.h"
#include "retrograd/check.h"
#include "suite.h"

/* splitmix64: a deterministic generator so every test run sees the same numbers. */
static inline uint64_t tu_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi). */
static inline double tu_uniform(uint64_t *s, double lo, double hi)
{
    return lo + (hi - lo) * ((double)(tu_next(s) >> 11) * 0x1.0p-53);
}

/* A parameter of the given shape filled with uniform values in [lo, hi). */
static inline rg_node *tu_param(rg_graph *g, const char *name, int ndim, const int64_t *shape,
                                double lo, double hi, uint64_t *seed)
{
    rg_node *p = rg_param(g, name, ndim, shape, NULL);
    if (!p)
        return NULL;
    int64_t n = rg_node_size(p);
    double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++)
        v[i] = tu_uniform(seed, lo, hi);
    rg_feed_f64(p, v, n);
    free(v);
    return p;
}

/* A constant of the given shape with uniform values in [lo, hi). */
static inline rg_node *tu_const(rg_graph *g, int ndim, const int64_t *shape, double lo,
                                double hi, uint64_t *seed)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++)
        v[i] = tu_uniform(seed, lo, hi);
    rg_node *c = NULL;
    if (rg_graph_dtype(g) == RG_F64) {
        c = rg_const(g, ndim, shape, v);
    } else {
        float *f = malloc(sizeof(float) * (size_t)(n ? n : 1));
        for (int64_t i = 0; i < n; i++)
            f[i] = (float)v[i];
        c = rg_const(g, ndim, shape, f);
        free(f);
    }
    free(v);
    return c;
}

/* A scalar that mixes every element of y with fixed random weights: sum(y * w). Checking
 * its gradient checks the full Jacobian of a non-scalar y (one random row combination). */
static inline rg_node *tu_scalarize(rg_node *y, uint64_t *seed)
{
    if (!y)
        return NULL;
    rg_node *w = tu_const(rg_node_graph(y), rg_node_ndim(y), rg_node_shape(y), 0.5, 1.5, seed);
    return rg_sum(rg_mul(y, w), RG_AXIS_ALL, false);
}

/* The scalar whose gradient is a Hessian-vector product of scalar y: sum over xs of
 * sum(dy/dx * w). Gradchecking it checks second derivatives through every VJP. */
static inline rg_node *tu_second_order(rg_node *y, int n, rg_node *const *xs, uint64_t *seed)
{
    rg_node *grads[8] = {0};
    if (!y || n > 8 || rg_grad(y, n, xs, grads) != RG_OK)
        return NULL;
    rg_node *acc = NULL;
    for (int i = 0; i < n; i++) {
        rg_node *t = tu_scalarize(grads[i], seed);
        acc = acc ? rg_add(acc, t) : t;
    }
    return acc;
}

/* Asserts that n's value equals expect[] element-wise within tol (absolute + relative). */
static inline void tu_assert_values(rg_node *n, const double *expect, int64_t count, double tol)
{
    ck_assert_ptr_nonnull(n);
    ck_assert_int_eq(rg_node_size(n), count);
    for (int64_t i = 0; i < count; i++) {
        double got = rg_node_get(n, i);
        ck_assert_msg(fabs(got - expect[i]) <= tol * (1.0 + fabs(expect[i])),
                      "%s: element %lld: got %.17g, expected %.17g", rg_node_op_name(n),
                      (long long)i, got, expect[i]);
    }
}

#endif
