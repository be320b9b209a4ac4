/* The main() of a Check suite, shared by every test program (needs only Check). */
#ifndef RG_TEST_SUITE_H
#define RG_TEST_SUITE_H

#include <check.h>
#include <stdlib.h>

/* A test case of a suite: its name, its test, and how many times the test runs (its _i from
 * 0 to loop - 1), or 0 to run it once. */
typedef struct tu_case {
    const char *name;
    const TTest *fn;
    int loop;
} tu_case;

/* Adds one TCase per entry of cases[0..n) to s. */
static inline void tu_add_cases(Suite *s, const tu_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        TCase *tc = tcase_create(cases[i].name);
        if (cases[i].loop)
            tcase_add_loop_test(tc, cases[i].fn, 0, cases[i].loop);
        else
            tcase_add_test(tc, cases[i].fn);
        suite_add_tcase(s, tc);
    }
}

/* Runs every test of suite s with Check's usual report; main's exit status. */
static inline int tu_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
