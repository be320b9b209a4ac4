/*
 * retrograd/check.h: gradient-checking assertions for Check (libcheck) test suites.
 *
 *   #include <retrograd/check.h>
 *
 *   rg_node *xs[] = {w, b};
 *   ck_assert_gradcheck(loss, 2, xs);
 *
 * ck_assert_gradcheck(y, n, xs)
 *     Runs rg_gradcheck() with rg_gradcheck_defaults() on scalar y (of an RG_F64 graph) for
 *     the n leaves xs, and fails the test unless the check ran and either passed or was
 *     flagged non-smooth (an op evaluated at a kink, where a mismatch is expected). The
 *     failure message gives the expression, the status and graph message if the check could
 *     not run, else the worst element: input index, flat index, analytic and numeric values,
 *     and the maximum absolute and relative errors. xs may be a compound literal, as in
 *     ck_assert_gradcheck(y, 2, (rg_node *[]){a, b}).
 * ck_assert_gradcheck_opts(y, n, xs, opts)
 *     The same with explicit options (a const rg_gradcheck_opts *, NULL for the defaults).
 * ck_assert_gradcheck_adjoint(y, n, xs)
 *     The same with rg_gradcheck_adjoint() (y of any shape; one random directional check).
 *
 * A NULL y fails with the error recorded on the graph of xs[0] (a builder failed).
 * Like every ck_assert, these must be used inside a Check test function.
 */
#ifndef RETROGRAD_CHECK_H
#define RETROGRAD_CHECK_H

#include <check.h>
#include <stdio.h>

#include "retrograd.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RG_CK_MSG_LEN 1024

/* Runs the check selected by `adjoint` and formats a failure message into msg. True when
 * the check ran and passed or was flagged non-smooth. Not meant to be called directly. */
static inline bool rg_ck_gradcheck_run(rg_node *y, int n, rg_node *const *xs,
                                       const rg_gradcheck_opts *opts, bool adjoint,
                                       const char *expr, char *msg, size_t len)
{
    rg_gradcheck_report r;
    if (!y) {
        rg_graph *g = (n > 0 && xs && xs[0]) ? rg_node_graph(xs[0]) : NULL;
        snprintf(msg, len, "gradcheck of %s: y is NULL (%s)", expr,
                 g ? rg_graph_errmsg(g) : "no graph to ask");
        return false;
    }
    rg_status st = adjoint ? rg_gradcheck_adjoint(y, n, xs, opts, &r)
                           : rg_gradcheck(y, n, xs, opts, &r);
    if (st != RG_OK) {
        snprintf(msg, len, "gradcheck of %s could not run: %s: %s", expr, rg_strerror(st),
                 rg_graph_errmsg(rg_node_graph(y)));
        return false;
    }
    if (r.passed || r.nonsmooth)
        return true;
    char summary[RG_CK_MSG_LEN / 2];
    rg_gradcheck_format(&r, summary, sizeof summary);
    snprintf(msg, len, "gradcheck of %s: %s", expr, summary);
    return false;
}

#define ck_assert_gradcheck_opts(y, n, xs, opts)                                           \
    do {                                                                                   \
        char rg_ck_msg_[RG_CK_MSG_LEN];                                                    \
        bool rg_ck_ok_ = rg_ck_gradcheck_run((y), (n), (xs), (opts), false, #y, rg_ck_msg_, \
                                             sizeof rg_ck_msg_);                           \
        ck_assert_msg(rg_ck_ok_, "%s", rg_ck_msg_);                                        \
    } while (0)

#define ck_assert_gradcheck(y, n, ...)                                                     \
    do {                                                                                   \
        char rg_ck_msg_[RG_CK_MSG_LEN];                                                    \
        bool rg_ck_ok_ = rg_ck_gradcheck_run((y), (n), (__VA_ARGS__), NULL, false, #y,      \
                                             rg_ck_msg_, sizeof rg_ck_msg_);               \
        ck_assert_msg(rg_ck_ok_, "%s", rg_ck_msg_);                                        \
    } while (0)

#define ck_assert_gradcheck_adjoint(y, n, ...)                                             \
    do {                                                                                   \
        char rg_ck_msg_[RG_CK_MSG_LEN];                                                    \
        bool rg_ck_ok_ = rg_ck_gradcheck_run((y), (n), (__VA_ARGS__), NULL, true, #y,       \
                                             rg_ck_msg_, sizeof rg_ck_msg_);               \
        ck_assert_msg(rg_ck_ok_, "%s", rg_ck_msg_);                                        \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif /* RETROGRAD_CHECK_H */
