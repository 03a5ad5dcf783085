#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include "table.h"
#include "util.h"

#define S 1000LL
#define MIN (60 * S)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
#define NOW 1700000000000LL

/* AGE as kubectl prints it (apimachinery's HumanDuration). */
static void
test_age(void **state)
{
    static const struct {
        long long ago;
        const char *want;
    } cases[] = {
        {-3 * S, "<invalid>"},
        {-1500, "0s"},
        {0, "0s"},
        {59 * S, "59s"},
        {119 * S, "119s"},
        {2 * MIN, "2m"},
        {5 * MIN + 30 * S, "5m30s"},
        {10 * MIN + 30 * S, "10m"},
        {179 * MIN, "179m"},
        {3 * HOUR, "3h"},
        {3 * HOUR + 5 * MIN, "3h5m"},
        {8 * HOUR + 5 * MIN, "8h"},
        {47 * HOUR, "47h"},
        {2 * DAY, "2d"},
        {2 * DAY + 5 * HOUR, "2d5h"},
        {8 * DAY + 5 * HOUR, "8d"},
        {730 * DAY, "2y"},
        {731 * DAY, "2y1d"},
        {8 * 365 * DAY, "8y"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *got = table_age(NOW, NOW - cases[i].ago);

        if (strcmp(got, cases[i].want) != 0)
            fail_msg("%lld ms ago: got %s, want %s", cases[i].ago, got, cases[i].want);
        free(got);
    }
}

static char *
render(struct table *t)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    table_flush(t, f);
    fclose(f);
    return buf;
}

/* Columns as wide as their widest cell plus 2, the last one not padded;
 * a line without a tab ends a block, and consecutive lines with tabs
 * share their columns (Go's tabwriter, as kubectl uses it). */
static void
test_columns(void **state)
{
    struct table *t = table_new();
    char *out;

    table_printf(t, "NAME\tDESIRED\tAGE");
    table_printf(t, "web\t3\t5m");
    table_printf(t, "a-longer-name\t10\t2d");
    table_printf(t, "Events:");
    table_printf(t, "  Type\tReason");
    table_printf(t, "  Normal\tSuccessfulCreate");
    table_printf(t, "Labels:\tapp=web");
    table_printf(t, "\ttier=front");
    out = render(t);
    assert_string_equal(out, "NAME           DESIRED  AGE\n"
                             "web            3        5m\n"
                             "a-longer-name  10       2d\n"
                             "Events:\n"
                             "  Type    Reason\n"
                             "  Normal  SuccessfulCreate\n"
                             "Labels:   app=web\n"
                             "          tier=front\n");
    free(out);
}

/* describe's field labels, as kubectl's smartLabelFor makes them. */
static void
test_smart_label(void **state)
{
    static const char *const cases[][2] = {
        {"apiVersion", "API Version"},
        {"kind", "Kind"},
        {"matchLabels", "Match Labels"},
        {"uid", "UID"},
        {"terminationGracePeriodSeconds", "Termination Grace Period Seconds"},
        {"myvmi", "Myvmi"},
        {"volumeName", "Volume Name"},
        {"baseURL", "Base URL"},
        {"HTMLParser", "HTML Parser"},
        {"app.kubernetes.io/name", "app.kubernetes.io/name"},
        {"disk0", "disk0"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char out[256];

        table_smart_label(cases[i][0], out, sizeof(out));
        if (strcmp(out, cases[i][1]) != 0)
            fail_msg("%s: got \"%s\", want \"%s\"", cases[i][0], out, cases[i][1]);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_age),
        cmocka_unit_test(test_columns),
        cmocka_unit_test(test_smart_label),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
