/* The generic walker: scalar typing as Kubernetes reads YAML, duplicate
 * keys, syntax errors, unknown fields, budgets, paths and positions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include "schema_macros.h"
#include "util.h"
#include "yamlnode.h"

struct inner {
    char *name;
    struct opt_int port;
    struct str_array tags;
};

struct thing {
    char *name;
    struct opt_int count;
    struct opt_bool on;
    struct quantity mem;
    int color;
    struct inner in;
    struct inner *ptr;
    ARRAY_OF(struct inner) list;
    struct str_array words;
    struct labels labels;
    struct int_or_str target;
};

static const char *const colors[] = {"red", "green", NULL};

static const struct yfield inner_fields[] = {
    F_STR(struct inner, "name", name, .flags = YFL_REQUIRED),
    F_INT(struct inner, "port", port, 1, 65535),
    F_STRARRAY(struct inner, "tags", tags),
};
static const struct yschema inner_schema = YSCHEMA(struct inner, inner_fields, NOPOS, NULL);

static const struct yfield thing_fields[] = {
    F_STR(struct thing, "name", name),
    F_INT(struct thing, "count", count, 0, 10),
    F_BOOL(struct thing, "on", on),
    F_QTY(struct thing, "mem", mem),
    F_ENUM(struct thing, "color", color, colors),
    F_STRUCT(struct thing, "in", in, inner_schema),
    F_PSTRUCT(struct thing, "ptr", ptr, inner_schema),
    F_ARRAY(struct thing, "list", list, inner_schema),
    F_STRARRAY(struct thing, "words", words),
    F_STRMAP(struct thing, "labels", labels, .flags = YFL_LABELS),
    F_INTORSTR(struct thing, "target", target),
    F_IGNORE("gpus"),
    F_REJECT("hostDisk", "writable shared storage"),
    F_STR(struct thing, "legacy", name, .api = YAPI_LEGACY),
};
static const struct yschema thing_schema = YSCHEMA(struct thing, thing_fields, NOPOS, NULL);

struct result {
    struct thing t;
    struct diag_list diags;
    int docs;
    unsigned api;
};

static void
on_doc(struct yctx *c, yaml_node_t *root, void *opaque)
{
    struct result *r = opaque;

    if (r->api)
        c->api_level = r->api;
    yschema_walk(c, root, &thing_schema, &r->t);
}

/* Parse text and return all diagnostics joined by newlines (malloc'd). */
static char *
run(const char *text, struct result *r)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    r->docs = ystream_load("t.yaml", text, strlen(text), &r->diags, on_doc, r);
    diag_print(&r->diags, f);
    fclose(f);
    return out;
}

static void
done(struct result *r, char *out)
{
    yschema_free(&thing_schema, &r->t);
    diag_list_clear(&r->diags);
    free(out);
}

static void
test_typed_values(void **state)
{
    struct result r = {0};
    char *out = run("name: web\n"
                    "count: 3\n"
                    "on: yes\n"
                    "mem: 1.5Gi\n"
                    "color: green\n"
                    "in: {name: a, port: 80}\n"
                    "ptr: {name: p}\n"
                    "list:\n- name: x\n- name: why\n  port: 8080\n"
                    "words: [a, 'b']\n"
                    "labels: {kubevirt.io/vmReplicaSet: web, app: web}\n"
                    "target: http\n",
                    &r);

    assert_string_equal(out, "");
    assert_string_equal(r.t.name, "web");
    assert_true(r.t.count.set);
    assert_int_equal(r.t.count.v, 3);
    assert_true(r.t.on.set && r.t.on.v);
    assert_int_equal(r.t.mem.value, 1610612736);
    assert_string_equal(r.t.mem.text, "1.5Gi");
    assert_int_equal(r.t.color, 2);
    assert_string_equal(r.t.in.name, "a");
    assert_int_equal(r.t.in.port.v, 80);
    assert_string_equal(r.t.ptr->name, "p");
    assert_int_equal(r.t.list.n, 2);
    assert_string_equal(r.t.list.v[1].name, "why");
    assert_int_equal(r.t.list.v[1].port.v, 8080);
    assert_int_equal(r.t.words.n, 2);
    assert_string_equal(r.t.words.v[1], "b");
    assert_string_equal(labels_get(&r.t.labels, "kubevirt.io/vmReplicaSet"), "web");
    assert_true(r.t.target.set && r.t.target.is_str);
    assert_string_equal(r.t.target.s, "http");
    done(&r, out);
}

static void
test_type_errors(void **state)
{
    struct result r = {0};
    char *out = run("name: 12\n"
                    "count: \"3\"\n"
                    "on: \"true\"\n"
                    "mem: true\n"
                    "color: blue\n"
                    "in: [1]\n"
                    "labels: {version: 1}\n",
                    &r);

    assert_string_equal(out, "t.yaml:1:7: error: name: Invalid type: expected string, got integer "
                             "12 (quote it to make it a string)\n"
                             "t.yaml:2:8: error: count: Invalid type: expected integer, got string "
                             "\"3\" (remove the quotes)\n"
                             "t.yaml:3:5: error: on: Invalid type: expected boolean, got string "
                             "\"true\" (remove the quotes)\n"
                             "t.yaml:4:6: error: mem: Invalid type: expected quantity (a string or "
                             "a number), got boolean true (quote it to make it a string)\n"
                             "t.yaml:5:8: error: color: Unsupported value: \"blue\": supported "
                             "values: \"red\", \"green\"\n"
                             "t.yaml:6:5: error: in: Invalid type: expected object, got array\n"
                             "t.yaml:7:19: error: labels.version: Invalid type: expected string, "
                             "got integer 1 (quote it to make it a string)\n");
    done(&r, out);
}

static void
test_ranges_and_quantities(void **state)
{
    struct result r = {0};
    char *out = run("count: 11\nmem: 64MB\nin: {name: a, port: 0}\n", &r);

    assert_string_equal(
        out, "t.yaml:1:8: error: count: Invalid value: 11: must be less than or equal to 10\n"
             "t.yaml:2:6: error: mem: Invalid value: \"64MB\": quantities must match the regular "
             "expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'\n"
             "t.yaml:3:21: error: in.port: Invalid value: 0: must be greater than or equal to 1\n");
    done(&r, out);
}

static void
test_unknown_ignored_rejected(void **state)
{
    struct result r = {0};
    char *out = run("nmae: x\nzzzzzz: 1\ngpus: []\nhostDisk: {}\nlegacy: old\n", &r);

    assert_string_equal(out,
                        "t.yaml:1:1: error: nmae: unknown field \"nmae\"; did you mean \"name\"?\n"
                        "t.yaml:2:1: error: zzzzzz: unknown field \"zzzzzz\"\n"
                        "t.yaml:3:1: warning: gpus: not supported by vmirsd: ignored\n"
                        "t.yaml:4:1: error: hostDisk: Forbidden: writable shared storage\n"
                        "t.yaml:5:1: error: legacy: unknown field \"legacy\"\n");
    done(&r, out);
}

static void
test_field_of_older_api(void **state)
{
    struct result r = {.api = YAPI_V1ALPHA2};
    char *out = run("legacy: old\n", &r);

    assert_string_equal(out, "");
    assert_string_equal(r.t.name, "old");
    done(&r, out);
}

static void
test_duplicate_keys(void **state)
{
    struct result r = {0};
    char *out = run("name: a\ncount: 1\nname: b\nlabels:\n  app: x\n  app: y\n", &r);

    assert_string_equal(
        out, "t.yaml:3:1: error: name: duplicate key \"name\" (first defined at line 1, column 1)\n"
             "t.yaml:6:3: error: labels.app: duplicate key \"app\"\n");
    /* The first definition stays in force. */
    assert_string_equal(r.t.name, "a");
    assert_string_equal(labels_get(&r.t.labels, "app"), "x");
    done(&r, out);
}

static void
test_required_and_paths(void **state)
{
    struct result r = {0};
    char *out = run("list:\n- port: 1\n- name: ok\n- {}\n", &r);

    assert_string_equal(out, "t.yaml:2:3: error: list[0].name: Required value\n"
                             "t.yaml:4:3: error: list[2].name: Required value\n");
    done(&r, out);
}

static void
test_control_characters(void **state)
{
    struct result r = {0};
    char *out = run("name: \"a\\x01b\"\nwords: [\"ok\", \"nul\\0here\"]\n", &r);

    assert_string_equal(
        out,
        "t.yaml:1:7: error: name: Invalid value: control character U+0001 is not allowed\n"
        "t.yaml:2:15: error: words[1]: Invalid value: control character U+0000 is not allowed\n");
    assert_null(r.t.name);
    done(&r, out);
}

static void
test_syntax_errors(void **state)
{
    struct result r = {0};
    char *out = run("name: a\ncount: [1\n", &r);

    assert_int_equal(r.docs, -1);
    assert_string_equal(
        out, "t.yaml:3:1: error: invalid YAML: did not find expected ',' or ']' while parsing a "
             "flow sequence (line 2, column 8)\n");
    done(&r, out);

    memset(&r, 0, sizeof(r));
    out = run("in:\n\tname: a\n", &r);
    assert_string_equal(
        out,
        "t.yaml:2:1: error: invalid YAML: tab character found; YAML indentation must use spaces\n");
    done(&r, out);

    memset(&r, 0, sizeof(r));
    out = run("name: \"bad \x80 byte\"\n", &r);
    assert_string_equal(out,
                        "t.yaml:1:12: error: invalid YAML: invalid leading UTF-8 octet (#80)\n");
    done(&r, out);
}

static void
test_multi_document_and_json(void **state)
{
    struct result r = {0};
    char *out = run("---\nname: a\n---\n---\ncount: 2\n...\n", &r);

    /* The empty middle document is skipped, as kubectl does. */
    assert_int_equal(r.docs, 2);
    assert_string_equal(out, "");
    assert_int_equal(r.t.count.v, 2);
    done(&r, out);

    memset(&r, 0, sizeof(r));
    out = run("{\"name\": \"j\", \"count\": 4, \"on\": false, \"labels\": {\"a\": \"b\"}}", &r);
    assert_string_equal(out, "");
    assert_string_equal(r.t.name, "j");
    assert_int_equal(r.t.count.v, 4);
    assert_true(r.t.on.set && !r.t.on.v);
    done(&r, out);
}

/* Aliases within Kubernetes' share still multiply the nodes a walk
 * visits: one item with a 2500-item list, aliased 99 times, is 99 %
 * aliases, which the composer allows; the walk stops at its own budget,
 * once, with a message. */
static void
test_alias_budget(void **state)
{
    struct result r = {0};
    size_t cap = 64 * 1024, n = 0;
    char *text = malloc(cap);
    char *out;

    n += (size_t) snprintf(text + n, cap - n, "list: [&i {name: x, tags: [");
    for (int i = 0; i < 2500; i++)
        n += (size_t) snprintf(text + n, cap - n, "%sx", i ? ", " : "");
    n += (size_t) snprintf(text + n, cap - n, "]}");
    for (int i = 0; i < 99; i++)
        n += (size_t) snprintf(text + n, cap - n, ", *i");
    snprintf(text + n, cap - n, "]\n");
    out = run(text, &r);
    assert_int_equal(r.docs, 1);
    assert_int_equal(r.diags.errors, 1);
    assert_non_null(strstr(out, "error: list[79].tags[2257]: document too large: more than "
                                "200000 nodes after expanding aliases\n"));
    free(text);
    done(&r, out);
}

/* The "billion laughs" of nine levels of nine aliases each (1.6 KB, 387
 * million nodes expanded) under a list: refused while it is composed, at
 * the alias that makes the aliases' share too large, as Kubernetes'
 * reader refuses "excessive aliasing"; nothing is expanded to find out. */
static void
test_alias_bomb(void **state)
{
    struct result r = {0};
    char text[4096];
    size_t n = 0;
    char *out;

    n += (size_t) snprintf(text + n, sizeof(text) - n,
                           "list:\n- &a0 {name: lol, tags: [lol, lol, lol, lol, lol, lol]}\n");
    for (int level = 1; level <= 9; level++) {
        n += (size_t) snprintf(text + n, sizeof(text) - n, "- &a%d [", level);
        for (int i = 0; i < 9; i++)
            n += (size_t) snprintf(text + n, sizeof(text) - n, "%s*a%d", i ? ", " : "", level - 1);
        n += (size_t) snprintf(text + n, sizeof(text) - n, "]\n");
    }
    out = run(text, &r);
    assert_int_equal(r.docs, -1);
    assert_string_equal(out, "t.yaml:5:18: error: invalid YAML: document contains excessive "
                             "aliasing (alias \"a2\" expands to 991 nodes)\n");
    done(&r, out);
}

/* A few aliases, as people write them, are not affected. */
static void
test_aliases_in_moderation(void **state)
{
    struct result r = {0};
    char *out = run("in: &inner {name: a, port: 80, tags: &tags [x, z]}\n"
                    "ptr: *inner\n"
                    "list: [*inner, {name: b, tags: *tags}]\n"
                    "words: *tags\n",
                    &r);

    assert_string_equal(out, "");
    assert_int_equal(r.docs, 1);
    assert_string_equal(r.t.ptr->name, "a");
    assert_int_equal(r.t.list.n, 2);
    assert_string_equal(r.t.list.v[1].tags.v[1], "z");
    assert_string_equal(r.t.words.v[0], "x");
    done(&r, out);
}

/* libyaml's loader let an alias name the collection it is in: a cycle
 * every walk would follow. Undefined and duplicate anchors stay errors,
 * each at its position. */
static void
test_alias_errors(void **state)
{
    struct result r = {0};
    char *out = run("name: a\nlist: &l [{name: b}, *l]\n", &r);

    assert_int_equal(r.docs, -1);
    assert_string_equal(out,
                        "t.yaml:2:22: error: invalid YAML: anchor \"l\" value contains itself\n");
    done(&r, out);

    memset(&r, 0, sizeof(r));
    out = run("in: &m {name: a, ptr: {name: *m}}\n", &r);
    assert_string_equal(out,
                        "t.yaml:1:30: error: invalid YAML: anchor \"m\" value contains itself\n");
    done(&r, out);

    memset(&r, 0, sizeof(r));
    out = run("name: *nope\n", &r);
    assert_string_equal(out, "t.yaml:1:7: error: invalid YAML: found undefined alias \"nope\"\n");
    done(&r, out);

    memset(&r, 0, sizeof(r));
    out = run("name: &a x\nwords: [&a y]\n", &r);
    assert_string_equal(out, "t.yaml:2:9: error: invalid YAML: found duplicate anchor \"a\"; "
                             "first occurrence at line 1, column 7\n");
    done(&r, out);

    /* Anchors belong to their document. */
    memset(&r, 0, sizeof(r));
    out = run("name: &a x\n---\nname: *a\n", &r);
    assert_string_equal(out, "t.yaml:3:7: error: invalid YAML: found undefined alias \"a\"\n");
    done(&r, out);
}

/* text of depth levels of "[" (flow) or "- " (block) under "words". */
static char *
nested(size_t depth, bool flow)
{
    size_t len = 2 * depth + 16;
    char *text = malloc(len), *p = text;

    p += sprintf(p, "words: ");
    for (size_t i = 0; i < depth; i++)
        p += sprintf(p, "%s", flow ? "[" : (i ? "- " : "\n- "));
    if (flow)
        for (size_t i = 0; i < depth; i++)
            *p++ = ']';
    else
        *p++ = 'x';
    *p++ = '\n';
    *p = '\0';
    return text;
}

/* 1000 levels are composed (the schema refuses them as it would two);
 * the 1001st is refused where it starts, flow or block. */
static void
test_nesting_limit(void **state)
{
    struct result r = {0};
    char *text = nested(999, true), *out = run(text, &r);

    assert_int_equal(r.docs, 1);
    assert_string_equal(out, "t.yaml:1:9: error: words[0]: Invalid type: expected string, got "
                             "array\n");
    done(&r, out);
    free(text);

    memset(&r, 0, sizeof(r));
    text = nested(1000, true);
    out = run(text, &r);
    assert_int_equal(r.docs, -1);
    assert_string_equal(out,
                        "t.yaml:1:1007: error: invalid YAML: nesting deeper than 1000 levels\n");
    done(&r, out);
    free(text);

    memset(&r, 0, sizeof(r));
    text = nested(1000, false);
    out = run(text, &r);
    assert_int_equal(r.docs, -1);
    assert_string_equal(out,
                        "t.yaml:2:1999: error: invalid YAML: nesting deeper than 1000 levels\n");
    done(&r, out);
    free(text);
}

static void
no_doc(struct yctx *c, yaml_node_t *root, void *opaque)
{
    (void) c;
    (void) root;
    (void) opaque;
}

/* Refusing 100,000 levels of "[" (200 KB) against composing a flat list
 * of the same size: libyaml's scanner is quadratic in flow depth, and
 * loading the document took 18 s here. */
static double
deep_cost(size_t n, void *opaque, double *floor)
{
    cleanup_free char *deep = nested(n, true);
    cleanup_free char *flat = malloc(2 * n + 16);
    struct diag_list diags = {0};
    char *p = flat;
    double t0;

    (void) opaque;
    p += sprintf(p, "words: [");
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%sa", i ? "," : "");
    sprintf(p, "]\n");
    t0 = monotonic_seconds();
    assert_int_equal(ystream_load("flat.yaml", flat, strlen(flat), &diags, no_doc, NULL), 1);
    *floor = monotonic_seconds() - t0;
    assert_int_equal(diags.n, 0);
    t0 = monotonic_seconds();
    assert_int_equal(ystream_load("deep.yaml", deep, strlen(deep), &diags, no_doc, NULL), -1);
    t0 = monotonic_seconds() - t0;
    assert_int_equal(diags.errors, 1);
    diag_list_clear(&diags);
    return t0;
}

/* The reports every check makes: at the node the steps lead to (or where
 * they stop, the base), the path extended by the same steps, and the path
 * back as it was afterwards. */
static void
on_report_doc(struct yctx *c, yaml_node_t *root, void *opaque)
{
    (void) opaque;
    yerror_at(c, root, YPATH("a", "b", "#1", "y"), "found %d", 1);
    yerror_at(c, root, YPATH("a", "b", "#5", "y"), "missing item");
    yerror_at(c, root, YPATH("a", "nope"), "missing key");
    ywarning_at(c, root, YPATH("a"), "a warning");
    yerror_path(c, ynode_dig(c, root, YPATH("a", "b", "#0")), YPATH("a", "b", "#0", "z"),
                "at the item");
    ywarning_path(c, NULL, YPATH("q"), "nowhere");
    yerror(c, root, "the path is back");
}

static void
test_report_at_steps(void **state)
{
    static const char text[] = "a:\n  b:\n  - x: 1\n  - y: 2\n";
    struct diag_list diags = {0};
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    assert_int_equal(ystream_load("t.yaml", text, strlen(text), &diags, on_report_doc, NULL), 1);
    diag_print(&diags, f);
    fclose(f);
    assert_string_equal(out, "t.yaml:4:8: error: a.b[1].y: found 1\n"
                             "t.yaml:1:1: error: a.b[5].y: missing item\n"
                             "t.yaml:1:1: error: a.nope: missing key\n"
                             "t.yaml:2:3: warning: a: a warning\n"
                             "t.yaml:3:5: error: a.b[0].z: at the item\n"
                             "t.yaml: warning: q: nowhere\n"
                             "t.yaml:1:1: error: the path is back\n");
    diag_list_clear(&diags);
    free(out);
}

static void
test_deep_nesting_is_refused_fast(void **state)
{
    assert_below_floor(deep_cost, 100000, NULL);
}

/* A mapping of n distinct keys (a ConfigMap's data, labels) walked
 * against composing it: duplicate keys were found by comparing each key
 * with every one before it. */
static double
wide_map_cost(size_t n, void *opaque, double *floor)
{
    struct result r = {0};
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    double t0;

    (void) opaque;
    fprintf(f, "labels:\n");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "  k%zu: v\n", i);
    fclose(f);
    t0 = monotonic_seconds();
    assert_int_equal(ystream_load("t.yaml", text, len, &r.diags, no_doc, NULL), 1);
    *floor = monotonic_seconds() - t0;
    t0 = monotonic_seconds();
    assert_int_equal(ystream_load("t.yaml", text, len, &r.diags, on_doc, &r), 1);
    t0 = monotonic_seconds() - t0 - *floor;
    assert_int_equal(r.diags.n, 0);
    assert_int_equal(r.t.labels.n, n);
    free(text);
    done(&r, NULL);
    return t0;
}

static void
test_wide_mapping_is_linear(void **state)
{
    assert_below_floor(wide_map_cost, 16000, NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typed_values),
        cmocka_unit_test(test_type_errors),
        cmocka_unit_test(test_ranges_and_quantities),
        cmocka_unit_test(test_unknown_ignored_rejected),
        cmocka_unit_test(test_field_of_older_api),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_required_and_paths),
        cmocka_unit_test(test_control_characters),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_multi_document_and_json),
        cmocka_unit_test(test_alias_budget),
        cmocka_unit_test(test_alias_bomb),
        cmocka_unit_test(test_aliases_in_moderation),
        cmocka_unit_test(test_alias_errors),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_report_at_steps),
        cmocka_unit_test(test_deep_nesting_is_refused_fast),
        cmocka_unit_test(test_wide_mapping_is_linear),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
