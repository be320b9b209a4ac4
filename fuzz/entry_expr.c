/* The calls behind the `retrograd expr` fuzz target and the checks on what they return
 * (fuzz_entry.h). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"
#include "fuzz_entry.h"

const char *const fz_expr_vars[] = {
    "x=0.5",
    "y=[1.5, -2, 3]",
    "W=[[1, 2], [3, 4]]",
    "T=[[[1, 2], [3, 4]], [[0.5, -1], [2, 0]]]",
};
const int fz_expr_nvars = (int)(sizeof fz_expr_vars / sizeof fz_expr_vars[0]);

/* The Hessian costs one reverse sweep per variable element and the check two evaluations per
 * element; past this length a program is only evaluated and differentiated once, so that
 * long inputs do not slow the fuzzer down. */
#define HESSIAN_MAX_LEN 256

int fz_expr(const char *program)
{
    int count = 0;
    int rc = expr_run(program, fz_expr_nvars, fz_expr_vars, 0);
    if (rc != 0 && rc != 2)
        return -1;
    count += rc != 0;
    if (rc == 0 && strlen(program) <= HESSIAN_MAX_LEN) {
        /* 1 is a failed gradient check or a NaN found by the finite check: findings of the
         * checks about the program, not faults */
        static const unsigned flags[2] = {EXPR_RUN_HESSIAN | EXPR_RUN_CHECK,
                                          EXPR_RUN_CHECK_FINITE};
        for (int i = 0; i < 2; i++) {
            rc = expr_run(program, fz_expr_nvars, fz_expr_vars, flags[i]);
            if (rc < 0 || rc > 2)
                return -1;
            count += rc != 0;
        }
    }

    /* the same text as an --at value */
    size_t len = strlen(program);
    char *arg = malloc(len + 3);
    if (!arg)
        return count;
    memcpy(arg, "v=", 2);
    memcpy(arg + 2, program, len + 1);
    char err[EXPR_ERRLEN] = "";
    expr_var v;
    bool ok = expr_var_parse(arg, &v, err, sizeof err);
    free(arg);
    if (ok) {
        int64_t size = 1;
        for (int i = 0; i < v.ndim; i++)
            size *= v.shape[i];
        bool sane = v.ndim >= 0 && v.ndim <= RG_MAX_DIMS && size == v.size && v.data &&
                    strcmp(v.name, "v") == 0;
        expr_var_clear(&v);
        if (!sane)
            return -1;
    } else if (err[0] == '\0') {
        return -1;
    }
    count += !ok;
    return count;
}
