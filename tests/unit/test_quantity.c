#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "helpers.h"

#include "quantity.h"
#include "util.h"

#define SYNTAX QUANTITY_SYNTAX_MSG
#define SUFFIX "unable to parse quantity's suffix"
#define NEGATIVE "must be greater than or equal to 0"
#define TOO_LARGE "must be less than or equal to 9223372036854775807"
#define MILLI_TOO_LARGE "must be less than or equal to 9223372036854775807m"

/* One row: the input, then Value() and MilliValue() or their errors. A
 * NULL error means success with the given number. */
struct qcase {
    const char *in;
    int64_t value;
    const char *value_err;
    int64_t milli;
    const char *milli_err;
};

static const struct qcase valid_cases[] = {
    {"0", 0, NULL, 0, NULL},
    {"1", 1, NULL, 1000, NULL},
    {"+1", 1, NULL, 1000, NULL},
    {"2", 2, NULL, 2000, NULL},
    {"000001", 1, NULL, 1000, NULL},
    {"1.", 1, NULL, 1000, NULL},
    {"1.000", 1, NULL, 1000, NULL},
    {".5", 1, NULL, 500, NULL},
    {".", 0, NULL, 0, NULL},
    {"-0", 0, NULL, 0, NULL},
    {"-0.000", 0, NULL, 0, NULL},
    {"0e99", 0, NULL, 0, NULL},
    {"0Ki", 0, NULL, 0, NULL},
    {"0.1", 1, NULL, 100, NULL},
    {"2.5", 3, NULL, 2500, NULL},
    {"9.01", 10, NULL, 9010, NULL},
    /* decimalSI */
    {"500m", 1, NULL, 500, NULL},
    {"1m", 1, NULL, 1, NULL},
    {"1500m", 2, NULL, 1500, NULL},
    {"100n", 1, NULL, 1, NULL},
    {"1u", 1, NULL, 1, NULL},
    {"3.001n", 1, NULL, 1, NULL},
    {"8k", 8000, NULL, 8000000, NULL},
    {"64M", 64000000, NULL, 64000000000, NULL},
    {"1G", 1000000000, NULL, 1000000000000, NULL},
    {"5T", 5000000000000, NULL, 5000000000000000, NULL},
    {"2P", 2000000000000000, NULL, 2000000000000000000, NULL},
    {"1E", 1000000000000000000, NULL, 0, MILLI_TOO_LARGE},
    {"9E", 9000000000000000000, NULL, 0, MILLI_TOO_LARGE},
    {"7.123456M", 7123456, NULL, 7123456000, NULL},
    {"6.987654321G", 6987654321, NULL, 6987654321000, NULL},
    {"100.035k", 100035, NULL, 100035000, NULL},
    {"1.G", 1000000000, NULL, 1000000000000, NULL},
    {".0001k", 1, NULL, 100, NULL},
    /* binarySI */
    {"1Ki", 1024, NULL, 1024000, NULL},
    {"64Mi", 67108864, NULL, 67108864000, NULL},
    {"1Gi", 1073741824, NULL, 1073741824000, NULL},
    {"1.5Gi", 1610612736, NULL, 1610612736000, NULL},
    {"0.5Mi", 524288, NULL, 524288000, NULL},
    {"100.035Ki", 102436, NULL, 102435840, NULL},
    {"0.05Gi", 53687092, NULL, 53687091200, NULL},
    {"5Ti", 5497558138880, NULL, 5497558138880000, NULL},
    {"4Pi", 4503599627370496, NULL, 4503599627370496000, NULL},
    {"3Ei", 3458764513820540928, NULL, 0, MILLI_TOO_LARGE},
    {"7Ei", 8070450532247928832, NULL, 0, MILLI_TOO_LARGE},
    {"8191Pi", 9222246136947933184, NULL, 0, MILLI_TOO_LARGE},
    {".001Ki", 2, NULL, 1024, NULL},
    {"0.000000000001Ki", 1, NULL, 1, NULL},
    {"0.00000000000000000000000000001Ei", 1, NULL, 1, NULL},
    /* decimal exponents */
    {"1e3", 1000, NULL, 1000000, NULL},
    {"1E3", 1000, NULL, 1000000, NULL},
    {"1e+3", 1000, NULL, 1000000, NULL},
    {"1E-3", 1, NULL, 1, NULL},
    {"1.5e3", 1500, NULL, 1500000, NULL},
    {"15e-1", 2, NULL, 1500, NULL},
    {"1.3E+6", 1300000, NULL, 1300000000, NULL},
    {"0.5e-2", 1, NULL, 5, NULL},
    {"1e18", 1000000000000000000, NULL, 0, MILLI_TOO_LARGE},
    {"1e-30", 1, NULL, 1, NULL},
    {"1e-999999999999", 1, NULL, 1, NULL},
    {"1e0000000000000000000000000003", 1000, NULL, 1000000, NULL},
    /* the edges of int64 */
    {"9223372036854775807", INT64_MAX, NULL, 0, MILLI_TOO_LARGE},
    {"9.223372036854775807E", INT64_MAX, NULL, 0, MILLI_TOO_LARGE},
    {"9223372036854775.807", 9223372036854776, NULL, INT64_MAX, NULL},
    {"9223372036854775807m", 9223372036854776, NULL, INT64_MAX, NULL},
    {"9223372036854775806.5", INT64_MAX, NULL, 0, MILLI_TOO_LARGE},
    {"0.000000000000000000000000001", 1, NULL, 1, NULL},
};

static const struct qcase invalid_cases[] = {
    {"", 0, SYNTAX, 0, SYNTAX},
    {"1.2.3", 0, SYNTAX, 0, SYNTAX},
    {"1.1.M", 0, SYNTAX, 0, SYNTAX},
    {"1+1.0M", 0, SYNTAX, 0, SYNTAX},
    {"0.1am", 0, SYNTAX, 0, SYNTAX},
    {"aoeu", 0, SYNTAX, 0, SYNTAX},
    {"Mi", 0, SYNTAX, 0, SYNTAX},
    {"k", 0, SYNTAX, 0, SYNTAX},
    {"-", 0, SYNTAX, 0, SYNTAX},
    {"+", 0, SYNTAX, 0, SYNTAX},
    {"+-1", 0, SYNTAX, 0, SYNTAX},
    {"64MB", 0, SYNTAX, 0, SYNTAX},
    {"1Zi", 0, SYNTAX, 0, SYNTAX},
    {"1e3.5", 0, SYNTAX, 0, SYNTAX},
    {"1e3k", 0, SYNTAX, 0, SYNTAX},
    {" 1", 0, SYNTAX, 0, SYNTAX},
    {"1 ", 0, SYNTAX, 0, SYNTAX},
    {"1\n", 0, SYNTAX, 0, SYNTAX},
    {"1,5", 0, SYNTAX, 0, SYNTAX},
    {"1e", 0, SUFFIX, 0, SUFFIX},
    {"1E+", 0, SUFFIX, 0, SUFFIX},
    {"-3.01e-", 0, SUFFIX, 0, SUFFIX},
    {"1i", 0, SUFFIX, 0, SUFFIX},
    {".5i", 0, SUFFIX, 0, SUFFIX},
    {"0.1mi", 0, SUFFIX, 0, SUFFIX},
    {"-3.01i", 0, SUFFIX, 0, SUFFIX},
    {"1K", 0, SUFFIX, 0, SUFFIX},
    {"1ki", 0, SUFFIX, 0, SUFFIX},
    {"1Ki2", 0, SUFFIX, 0, SUFFIX},
    {"1m5", 0, SUFFIX, 0, SUFFIX},
    {"1Ee3", 0, SUFFIX, 0, SUFFIX},
    {"1e99999999999999999999", 0, SUFFIX, 0, SUFFIX},
    {"-1", 0, NEGATIVE, 0, NEGATIVE},
    {"-500m", 0, NEGATIVE, 0, NEGATIVE},
    {"-1Gi", 0, NEGATIVE, 0, NEGATIVE},
    {"-0.000000000001", 0, NEGATIVE, 0, NEGATIVE},
    {"9223372036854775808", 0, TOO_LARGE, 0, MILLI_TOO_LARGE},
    {"9.223372036854775808E", 0, TOO_LARGE, 0, MILLI_TOO_LARGE},
    {"9223372036854775807.1", 0, TOO_LARGE, 0, MILLI_TOO_LARGE},
    {"8Ei", 0, TOO_LARGE, 0, MILLI_TOO_LARGE},
    {"9Ei", 0, TOO_LARGE, 0, MILLI_TOO_LARGE},
    {"8192Pi", 0, TOO_LARGE, 0, MILLI_TOO_LARGE},
    {"10E", 0, TOO_LARGE, 0, MILLI_TOO_LARGE},
    {"1e19", 0, TOO_LARGE, 0, MILLI_TOO_LARGE},
    {"1e4294967296", 0, TOO_LARGE, 0, MILLI_TOO_LARGE},
    {"12345678901234567890123", 0, TOO_LARGE, 0, MILLI_TOO_LARGE},
    {"9223372036854775.808", 9223372036854776, NULL, 0, MILLI_TOO_LARGE},
    {"9223372036854776", 9223372036854776, NULL, 0, MILLI_TOO_LARGE},
};

static void
check_case(const struct qcase *c)
{
    int64_t v = -42;
    const char *why = NULL;
    int r;

    r = quantity_value(c->in, &v, &why);
    if (c->value_err) {
        if (r != -1 || !why || strcmp(why, c->value_err) != 0)
            fail_msg("value(\"%s\"): got r=%d why=%s, want error \"%s\"", c->in, r,
                     why ? why : "(null)", c->value_err);
    } else if (r != 0 || v != c->value) {
        fail_msg("value(\"%s\"): got r=%d v=%lld why=%s, want %lld", c->in, r, (long long) v,
                 why ? why : "(null)", (long long) c->value);
    }

    v = -42;
    why = NULL;
    r = quantity_milli_value(c->in, &v, &why);
    if (c->milli_err) {
        if (r != -1 || !why || strcmp(why, c->milli_err) != 0)
            fail_msg("milli(\"%s\"): got r=%d why=%s, want error \"%s\"", c->in, r,
                     why ? why : "(null)", c->milli_err);
    } else if (r != 0 || v != c->milli) {
        fail_msg("milli(\"%s\"): got r=%d v=%lld why=%s, want %lld", c->in, r, (long long) v,
                 why ? why : "(null)", (long long) c->milli);
    }
}

static void
test_valid(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(valid_cases); i++)
        check_case(&valid_cases[i]);
}

static void
test_invalid(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(invalid_cases); i++)
        check_case(&invalid_cases[i]);
}

static void
test_null_is_syntax_error(void **state)
{
    int64_t v = 7;
    const char *why = NULL;

    assert_int_equal(quantity_value(NULL, &v, &why), -1);
    assert_string_equal(why, QUANTITY_SYNTAX_MSG);
    assert_int_equal(v, 7);
}

static void
test_syntax_message_is_kubernetes(void **state)
{
    /* The text users would see from kubectl for the same input. */
    assert_string_equal(QUANTITY_SYNTAX_MSG, "quantities must match the regular expression "
                                             "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
}

/* A very long fraction under a binary suffix must still be exact. */
static void
test_long_binary_fraction(void **state)
{
    char buf[2100];
    int64_t v = 0;
    const char *why = NULL;

    /* 0.5 followed by 2000 zeros and a 1, in Ki: 512 plus a sliver. */
    strcpy(buf, "0.5");
    memset(buf + 3, '0', 2000);
    strcpy(buf + 2003, "1Ki");
    assert_int_equal(quantity_value(buf, &v, &why), 0);
    assert_int_equal(v, 513);
    buf[2003] = '0';
    assert_int_equal(quantity_value(buf, &v, &why), 0);
    assert_int_equal(v, 512);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_null_is_syntax_error),
        cmocka_unit_test(test_syntax_message_is_kubernetes),
        cmocka_unit_test(test_long_binary_fraction),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
