#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include "diag.h"

static void
test_format(void **state)
{
    struct diag_list l = {0};
    char *s;

    diag_add(&l, "a.yaml", 3, 7, DIAG_ERROR, "spec.replicas: %s", "Required value");
    diag_add(&l, "conf", 0, 0, DIAG_WARNING, "read: %s", "gone");
    s = diag_format(&l.v[0]);
    assert_string_equal(s, "a.yaml:3:7: error: spec.replicas: Required value");
    free(s);
    s = diag_format(&l.v[1]);
    assert_string_equal(s, "conf: warning: read: gone");
    free(s);
    assert_int_equal(l.errors, 1);
    assert_int_equal(l.warnings, 1);
    diag_list_clear(&l);
    assert_int_equal(l.n, 0);
    assert_null(l.v);
}

static void
test_sort_is_stable(void **state)
{
    struct diag_list l = {0};

    diag_add(&l, "b.yaml", 1, 1, DIAG_ERROR, "b");
    diag_add(&l, "a.yaml", 9, 1, DIAG_ERROR, "a9");
    diag_add(&l, "a.yaml", 2, 5, DIAG_ERROR, "a2-first");
    diag_add(&l, "a.yaml", 2, 5, DIAG_WARNING, "a2-second");
    diag_add(&l, "a.yaml", 2, 1, DIAG_ERROR, "a2c1");
    diag_sort(&l);
    assert_string_equal(l.v[0].msg, "a2c1");
    assert_string_equal(l.v[1].msg, "a2-first");
    assert_string_equal(l.v[2].msg, "a2-second");
    assert_string_equal(l.v[3].msg, "a9");
    assert_string_equal(l.v[4].msg, "b");
    diag_list_clear(&l);
}

static void
test_print_and_extend(void **state)
{
    struct diag_list a = {0}, b = {0};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    diag_add(&a, "x.yaml", 1, 2, DIAG_WARNING, "w");
    diag_extend(&b, &a);
    diag_extend(&b, &a);
    assert_int_equal(b.n, 2);
    assert_int_equal(b.warnings, 2);
    diag_print(&b, f);
    fclose(f);
    assert_string_equal(buf, "x.yaml:1:2: warning: w\nx.yaml:1:2: warning: w\n");
    free(buf);
    diag_list_clear(&a);
    diag_list_clear(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_sort_is_stable),
        cmocka_unit_test(test_print_and_extend),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
