#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "helpers.h"

#include "kvalid.h"
#include "util.h"

/* Kubernetes' messages, spelled out in full so that a drift in wording
 * fails here. */
#define SUBDOMAIN_MSG                                                                              \
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "   \
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "  \
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
#define LABEL_MSG                                                                                  \
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "   \
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "     \
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
#define QNAME_MSG                                                                                  \
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "    \
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "         \
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
#define VALUE_MSG                                                                                  \
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "    \
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "             \
    "'my_value',  or '12345', regex used for validation is "                                       \
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"

#define A10 "aaaaaaaaaa"
#define A63 A10 A10 A10 A10 A10 A10 "aaa"
#define A64 A63 "a"
#define A61 A10 A10 A10 A10 A10 A10 "a"
/* The longest subdomain (253 characters), and one character more. */
#define SUB253 A63 "." A63 "." A63 "." A61
#define SUB254 SUB253 "a"

struct kcase {
    const char *in;
    const char *why; /* NULL: valid */
};

typedef int (*kvalid_fn)(const char *, char **);

static void
check_cases(const char *fname, kvalid_fn fn, const struct kcase *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *why = NULL;
        int r = fn(cases[i].in, &why);

        if (!cases[i].why) {
            if (r != 0 || why)
                fail_msg("%s(\"%s\"): want valid, got %d \"%s\"", fname, cases[i].in, r,
                         why ? why : "(null)");
        } else if (r != -1 || !why || strcmp(why, cases[i].why) != 0) {
            fail_msg("%s(\"%s\"):\n got  %d \"%s\"\n want \"%s\"", fname, cases[i].in, r,
                     why ? why : "(null)", cases[i].why);
        }
        free(why);
    }
}

#define CHECK(fn, cases) check_cases(#fn, fn, cases, ARRAY_SIZE(cases))

static void
test_subdomain(void **state)
{
    static const struct kcase cases[] = {
        {"a", NULL},
        {"web", NULL},
        {"web-1", NULL},
        {"0", NULL},
        {"1-2", NULL},
        {"example.com", NULL},
        {"a.b.c.d", NULL},
        {"kubevirt.io", NULL},
        {SUB253, NULL},
        {"", SUBDOMAIN_MSG},
        {"Web_1", SUBDOMAIN_MSG},
        {"Web", SUBDOMAIN_MSG},
        {"web_1", SUBDOMAIN_MSG},
        {"-a", SUBDOMAIN_MSG},
        {"a-", SUBDOMAIN_MSG},
        {".a", SUBDOMAIN_MSG},
        {"a.", SUBDOMAIN_MSG},
        {"a..b", SUBDOMAIN_MSG},
        {"a.-b", SUBDOMAIN_MSG},
        {"a b", SUBDOMAIN_MSG},
        {"caf\xc3\xa9", SUBDOMAIN_MSG},
        {SUB254, "must be no more than 253 characters"},
        {SUB254 "_", "must be no more than 253 characters; " SUBDOMAIN_MSG},
    };

    CHECK(kvalid_dns1123_subdomain, cases);
}

static void
test_label(void **state)
{
    static const struct kcase cases[] = {
        {"a", NULL},
        {"rootdisk", NULL},
        {"my-name", NULL},
        {"123-abc", NULL},
        {"0", NULL},
        {A63, NULL},
        {"", LABEL_MSG},
        {"-a", LABEL_MSG},
        {"a-", LABEL_MSG},
        {"Disk", LABEL_MSG},
        {"disk_0", LABEL_MSG},
        {"a.b", "must not contain dots"},
        {"example.com", "must not contain dots"},
        {"a..b", LABEL_MSG},
        {A64, "must be no more than 63 characters"},
        {A63 ".a", "must be no more than 63 characters; must not contain dots"},
        {A64 "_", "must be no more than 63 characters; " LABEL_MSG},
    };

    CHECK(kvalid_dns1123_label, cases);
}

static void
test_label_key(void **state)
{
    static const struct kcase cases[] = {
        {"app", NULL},
        {"kubevirt.io/vmReplicaSet", NULL},
        {"kubevirt.io/domain", NULL},
        {"app.kubernetes.io/name", NULL},
        {"MyName", NULL},
        {"my.name", NULL},
        {"my_name", NULL},
        {"123-abc", NULL},
        {"a", NULL},
        {A63, NULL},
        {"example.com/" A63, NULL},
        {SUB253 "/a", NULL},
        {"", "name part must be non-empty; name part " QNAME_MSG},
        {"-a", "name part " QNAME_MSG},
        {"a-", "name part " QNAME_MSG},
        {"_a", "name part " QNAME_MSG},
        {"a b", "name part " QNAME_MSG},
        {A64, "name part must be no more than 63 characters"},
        {"kubevirt.io/", "name part must be non-empty; name part " QNAME_MSG},
        {"/app", "prefix part must be non-empty"},
        {"/", "prefix part must be non-empty; name part must be non-empty; name part " QNAME_MSG},
        {"KubeVirt.io/app", "prefix part " SUBDOMAIN_MSG},
        {"kubevirt_io/app", "prefix part " SUBDOMAIN_MSG},
        {SUB254 "/app", "prefix part must be no more than 253 characters"},
        {"Bad_Prefix/-x", "prefix part " SUBDOMAIN_MSG "; name part " QNAME_MSG},
        {"a/b/c",
         "a qualified name " QNAME_MSG " with an optional DNS subdomain prefix and '/' (e.g. "
         "'example.com/MyName')"},
        {"a//", "a qualified name " QNAME_MSG " with an optional DNS subdomain prefix and '/' "
                "(e.g. 'example.com/MyName')"},
    };

    CHECK(kvalid_label_key, cases);
}

static void
test_label_value(void **state)
{
    static const struct kcase cases[] = {
        {"", NULL},
        {"web", NULL},
        {"MyValue", NULL},
        {"my_value", NULL},
        {"12345", NULL},
        {"v1.2.3", NULL},
        {"a-b_c.d", NULL},
        {A63, NULL},
        {A64, "must be no more than 63 characters"},
        {"-a", VALUE_MSG},
        {"a-", VALUE_MSG},
        {".a", VALUE_MSG},
        {"a b", VALUE_MSG},
        {"a/b", VALUE_MSG},
        {"caf\xc3\xa9", VALUE_MSG},
        {"_" A63, "must be no more than 63 characters; " VALUE_MSG},
    };

    CHECK(kvalid_label_value, cases);
}

static void
test_null_why_is_allowed(void **state)
{
    assert_int_equal(kvalid_label_value("-a", NULL), -1);
    assert_int_equal(kvalid_label_value("a", NULL), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subdomain),           cmocka_unit_test(test_label),
        cmocka_unit_test(test_label_key),           cmocka_unit_test(test_label_value),
        cmocka_unit_test(test_null_why_is_allowed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
