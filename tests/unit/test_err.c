/* Error objects: context added on the way up, printed once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include "err.h"

static void
test_err_wrap(void **state)
{
    struct vmirs_err *err = NULL;

    assert_int_equal(err_set(&err, ENOENT, "open `%s`", "/x"), -1);
    assert_int_equal(err_wrap(&err, "load manifest %s", "web.yaml"), -1);
    assert_string_equal(err->msg, "load manifest web.yaml: open `/x`: No such file or directory");
    assert_int_equal(err->code, ENOENT);
    err_free(&err);
    assert_null(err);
    err_free(&err);
}

static void
test_set_replaces_and_null_is_harmless(void **state)
{
    struct vmirs_err *err = NULL;

    assert_int_equal(err_set(&err, 0, "first"), -1);
    assert_int_equal(err_set(&err, 0, "second %d", 2), -1);
    assert_string_equal(err->msg, "second 2");
    assert_int_equal(err->code, 0);
    err_free(&err);
    /* Callers may pass NULL when they do not want the details. */
    assert_int_equal(err_set(NULL, EIO, "ignored"), -1);
    assert_int_equal(err_wrap(&err, "nothing to wrap"), -1);
    assert_null(err);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_wrap),
        cmocka_unit_test(test_set_replaces_and_null_is_harmless),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
