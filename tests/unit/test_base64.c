/* base64 as Go's StdEncoding reads Secret data: padding required, no spaces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include "base64.h"
#include "util.h"

static void
test_base64(void **state)
{
    static const struct {
        const char *in;
        const char *out;
    } good[] = {
        {"", ""},
        {"Zg==", "f"},
        {"Zm8=", "fo"},
        {"Zm9v", "foo"},
        {"aGVsbG8gd29ybGQ=", "hello world"},
    };
    static const char *const bad[] = {"Zg", "Zg=", "Z===", "Zm9v!", "Zg==Zg==", "Zm 9v", "Z=g="};
    char *out;
    size_t len;

    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        assert_int_equal(base64_decode(good[i].in, &out, &len), 0);
        assert_int_equal(len, strlen(good[i].out));
        assert_string_equal(out, good[i].out);
        free(out);
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        out = NULL;
        assert_int_equal(base64_decode(bad[i], &out, &len), -1);
        assert_null(out);
    }
    assert_int_equal(base64_decode("AGE=", &out, &len), 0);
    assert_int_equal(len, 2);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], 'a');
    free(out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
