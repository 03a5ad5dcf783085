#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include "emit.h"
#include "util.h"

static char *
yaml_of(const char *json)
{
    json_t *v = json_loads(json, 0, NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(v);
    assert_int_equal(emit_yaml(v, f), 0);
    fclose(f);
    json_decref(v);
    return buf;
}

/* Keys sorted, block style; strings that would read back as something
 * else quoted, as kubectl -o yaml does. */
static void
test_yaml(void **state)
{
    char *out = yaml_of("{\"kind\":\"List\",\"apiVersion\":\"v1\",\"items\":[{\"metadata\":"
                        "{\"name\":\"web\",\"creationTimestamp\":\"2026-11-29T02:12:35Z\"},"
                        "\"status\":{\"replicas\":3,\"ready\":\"True\",\"on\":\"no\","
                        "\"conditions\":null,\"n\":\"42\",\"empty\":\"\",\"ok\":true}}]}");

    assert_string_equal(out, "apiVersion: v1\n"
                             "items:\n"
                             "- metadata:\n"
                             "    creationTimestamp: \"2026-11-29T02:12:35Z\"\n"
                             "    name: web\n"
                             "  status:\n"
                             "    conditions: null\n"
                             "    empty: \"\"\n"
                             "    \"n\": \"42\"\n"
                             "    ok: true\n"
                             "    \"on\": \"no\"\n"
                             "    ready: \"True\"\n"
                             "    replicas: 3\n"
                             "kind: List\n");
    free(out);
}

static void
test_json(void **state)
{
    json_t *v = json_loads("{\"b\":1,\"a\":[true]}", 0, NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_int_equal(emit_json(v, f), 0);
    fclose(f);
    assert_string_equal(buf, "{\n    \"a\": [\n        true\n    ],\n    \"b\": 1\n}\n");
    free(buf);
    json_decref(v);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_yaml),
        cmocka_unit_test(test_json),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
