/* ConfigMap, Secret and Service: their data and their rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"
#include "manifest_helpers.h"

#include "util.h"

static void
test_config_map(void **state)
{
    struct manifest_file mf;
    char *out = parse_text(&mf, "apiVersion: v1\n"
                                "kind: ConfigMap\n"
                                "metadata: {name: app-config, namespace: web}\n"
                                "data:\n"
                                "  index.html: |\n"
                                "    <h1>hello</h1>\n"
                                "  PORT: \"8080\"\n"
                                "binaryData:\n"
                                "  logo.bin: AAEC\n");
    struct config_map *cm;

    assert_string_equal(out, "");
    assert_int_equal(mf.nobjs, 1);
    assert_int_equal(mf.objs[0].kind, KOBJ_CONFIG_MAP);
    assert_string_equal(mf.objs[0].namespace, "web");
    assert_string_equal(mf.objs[0].name, "app-config");
    cm = mf.objs[0].u.config_map;
    assert_string_equal(labels_get(&cm->data, "index.html"), "<h1>hello</h1>\n");
    assert_string_equal(labels_get(&cm->data, "PORT"), "8080");
    assert_string_equal(labels_get(&cm->binary_data, "logo.bin"), "AAEC");
    manifest_file_free(&mf);
    free(out);
}

static void
test_secret_decoding(void **state)
{
    struct manifest_file mf;
    char *out = parse_text(&mf, "apiVersion: v1\n"
                                "kind: Secret\n"
                                "metadata: {name: creds}\n"
                                "type: Opaque\n"
                                "data:\n"
                                "  user: YWRtaW4=\n"
                                "  pass: b2xk\n"
                                "stringData:\n"
                                "  pass: new\n");
    struct secret *s;

    assert_string_equal(out, "");
    s = mf.objs[0].u.secret;
    assert_string_equal(mf.objs[0].namespace, "default");
    assert_int_equal(s->items.n, 2);
    assert_string_equal(s->items.v[0].key, "user");
    assert_string_equal(s->items.v[0].value, "admin");
    /* stringData wins over data, as the API server merges them. */
    assert_string_equal(s->items.v[1].key, "pass");
    assert_string_equal(s->items.v[1].value, "new");
    assert_int_equal(s->items.v[1].len, 3);
    manifest_file_free(&mf);
    free(out);
}

static void
test_service(void **state)
{
    struct manifest_file mf;
    char *out = parse_text(&mf, "apiVersion: v1\n"
                                "kind: Service\n"
                                "metadata: {name: web}\n"
                                "spec:\n"
                                "  selector: {app: web}\n"
                                "  clusterIP: 127.0.0.2\n"
                                "  ports:\n"
                                "  - {name: http, port: 8080, targetPort: 80}\n"
                                "  - {name: ssh, port: 2222, targetPort: ssh}\n");
    struct service *s;

    assert_string_equal(out, "");
    s = mf.objs[0].u.service;
    assert_string_equal(labels_get(&s->spec.selector, "app"), "web");
    assert_string_equal(s->spec.cluster_ip, "127.0.0.2");
    assert_int_equal(s->spec.ports.n, 2);
    assert_int_equal(s->spec.ports.v[0].port.v, 8080);
    assert_int_equal(s->spec.ports.v[0].target_port.i, 80);
    assert_true(s->spec.ports.v[1].target_port.is_str);
    assert_string_equal(s->spec.ports.v[1].target_port.s, "ssh");
    manifest_file_free(&mf);
    free(out);
}

struct rule_case {
    const char *text;
    const char *expected;
};

static const struct rule_case rules[] = {
    {"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  key: not*base64\n",
     "m.yaml:5:8: error: data.key: Invalid value: not valid base64\n"},
    {"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  a/b: x\n  k: "
     "yy\nbinaryData:\n  k: AA==\n",
     "m.yaml:5:3: error: data.a/b: Invalid value: \"a/b\": a valid config key must consist of "
     "alphanumeric "
     "characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for "
     "validation is '[-._a-zA-Z0-9]+')\n"
     "m.yaml:8:3: error: binaryData.k: Invalid value: \"k\": duplicate of key present in data\n"},
    {"apiVersion: v1\nkind: ConfigMap\ndata: {a: b}\n",
     "m.yaml:1:1: error: metadata: Required value\n"},
    {"apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  type: NodePort\n  clusterIP: "
     "10.0.0.300\n"
     "  ports:\n  - {port: 80}\n  - {port: 81, targetPort: 70000, protocol: UDP}\n",
     "m.yaml:5:9: warning: spec.type: vmirsd serves every Service as ClusterIP on the host; type "
     "\"NodePort\" "
     "is treated as ClusterIP\n"
     "m.yaml:6:14: error: spec.clusterIP: Invalid value: \"10.0.0.300\": must be a valid IPv4 "
     "address, (e.g. "
     "10.9.8.7), \"None\" or empty\n"
     "m.yaml:8:5: error: spec.ports[0].name: Required value: every port needs a name when a "
     "Service has "
     "several ports\n"
     "m.yaml:9:5: error: spec.ports[1].name: Required value: every port needs a name when a "
     "Service has "
     "several ports\n"
     "m.yaml:9:28: error: spec.ports[1].targetPort: Invalid value: 70000: must be between 1 and "
     "65535, "
     "inclusive\n"
     "m.yaml:9:45: warning: spec.ports[1].protocol: only TCP is proxied by vmirsd: this port is "
     "ignored\n"},
    {"apiVersion: apps/v1\nkind: ConfigMap\nmetadata: {name: c}\n",
     "m.yaml:1:13: error: apiVersion: Unsupported value: \"apps/v1\": supported values: \"v1\"\n"},
    {"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n",
     "m.yaml:2:7: warning: kind: apps/v1 \"Deployment\" is not handled by vmirsd: document "
     "skipped\n"},
    {"kind: ConfigMap\nmetadata: {name: c}\n",
     "m.yaml:1:1: error: apiVersion: Required value: every manifest document needs apiVersion and "
     "kind\n"},
    {"- a\n- b\n",
     "m.yaml:1:1: error: Invalid type: a manifest document must be an object with apiVersion and "
     "kind\n"},
};

static void
test_rules(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
        struct manifest_file mf;
        char *out = parse_text(&mf, rules[i].text);

        if (strcmp(out, rules[i].expected) != 0)
            fail_msg("case %zu:\n got: %s\nwant: %s", i, out, rules[i].expected);
        manifest_file_free(&mf);
        free(out);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_map),
        cmocka_unit_test(test_secret_decoding),
        cmocka_unit_test(test_service),
        cmocka_unit_test(test_rules),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
