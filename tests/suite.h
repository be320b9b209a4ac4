/* The main() of a Check suite, shared by every test program (needs only Check). */
#ifndef RG_TEST_SUITE_H
#define RG_TEST_SUITE_H

#include <check.h>
#include <stdlib.h>

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
