/* The VMIRS object: replicas, selectors against template labels, pinned
 * identity, API versions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"
#include "manifest_helpers.h"

#include "util.h"
#include "vmi_parse.h"
#include "vmirs_parse.h"

#define TEMPLATE_SPEC                                                                              \
    "    spec:\n"                                                                                  \
    "      domain:\n"                                                                              \
    "        memory: {guest: 64Mi}\n"                                                              \
    "        devices: {}\n"

static void
test_defaults(void **state)
{
    struct manifest_file mf;
    char *out = parse_text(&mf, "apiVersion: kubevirt.io/v1\n"
                                "kind: VirtualMachineInstanceReplicaSet\n"
                                "metadata: {name: web}\n"
                                "spec:\n"
                                "  selector: {matchLabels: {app: web}}\n"
                                "  template:\n"
                                "    metadata: {labels: {app: web, tier: front}}\n" TEMPLATE_SPEC);
    struct vmirs *v;
    char *sel;

    assert_string_equal(out, "");
    v = first_vmirs(&mf);
    assert_false(v->spec.replicas.set);
    assert_int_equal(vmirs_replicas(v), 1);
    assert_string_equal(v->metadata.namespace, "default");
    assert_false(v->selector_mismatch);
    sel = selector_string(&v->selector);
    assert_string_equal(sel, "app=web");
    assert_true(mf.objs[0].valid);
    assert_int_equal(mf.objs[0].name_pos.line, 3);
    assert_int_equal(mf.objs[0].name_pos.col, 18);
    free(sel);
    manifest_file_free(&mf);
    free(out);
}

static void
test_expressions(void **state)
{
    struct manifest_file mf;
    char *out = parse_text(
        &mf, "apiVersion: kubevirt.io/v1alpha3\n"
             "kind: VirtualMachineInstanceReplicaSet\n"
             "metadata: {name: web, namespace: prod}\n"
             "spec:\n"
             "  replicas: 0\n"
             "  paused: true\n"
             "  selector:\n"
             "    matchLabels: {kubevirt.io/vmReplicaSet: web}\n"
             "    matchExpressions:\n"
             "    - {key: tier, operator: In, values: [front, edge]}\n"
             "    - {key: canary, operator: DoesNotExist}\n"
             "    - {key: zone, operator: NotIn, values: [b]}\n"
             "    - {key: app, operator: Exists}\n"
             "  template:\n"
             "    metadata:\n"
             "      labels: {kubevirt.io/vmReplicaSet: web, tier: front, app: x}\n" TEMPLATE_SPEC);
    struct vmirs *v;
    char *sel;

    assert_string_equal(out, "");
    v = first_vmirs(&mf);
    assert_true(v->spec.replicas.set);
    assert_int_equal(vmirs_replicas(v), 0);
    assert_true(v->spec.paused.v);
    assert_string_equal(v->metadata.namespace, "prod");
    sel = selector_string(&v->selector);
    assert_string_equal(
        sel, "app,!canary,kubevirt.io/vmReplicaSet=web,tier in (edge,front),zone notin (b)");
    free(sel);
    manifest_file_free(&mf);
    free(out);
}

struct rule_case {
    const char *text;
    const char *expected;
};

static const struct rule_case rules[] = {
    {"apiVersion: kubevirt.io/v1\n"
     "kind: VirtualMachineInstanceReplicaSet\n"
     "metadata: {name: web}\n"
     "spec:\n"
     "  replicas: -1\n"
     "  selector: {matchLabels: {app: web}}\n"
     "  template:\n"
     "    metadata: {labels: {app: web}}\n" TEMPLATE_SPEC,
     "m.yaml:5:13: error: spec.replicas: Invalid value: -1: must be greater than or equal to 0\n"},
    {"apiVersion: kubevirt.io/v1\n"
     "kind: VirtualMachineInstanceReplicaSet\n"
     "metadata: {name: web}\n"
     "spec:\n"
     "  selector: {matchLabels: {app: web}}\n"
     "  template:\n"
     "    metadata: {labels: {app: api}}\n" TEMPLATE_SPEC,
     "m.yaml:5:13: error: spec.selector: Invalid value: \"app=web\": selector does not match "
     "template labels\n"},
    {"apiVersion: kubevirt.io/v1\n"
     "kind: VirtualMachineInstanceReplicaSet\n"
     "metadata: {name: web}\n"
     "spec:\n"
     "  selector: {matchLabels: {app: web}}\n"
     "  template:\n"
     "    metadata: {name: t}\n" TEMPLATE_SPEC,
     "m.yaml:7:15: error: spec.template.metadata: Required value: labels: the template needs "
     "labels for "
     "spec.selector to match\n"},
    {"apiVersion: kubevirt.io/v1\n"
     "kind: VirtualMachineInstanceReplicaSet\n"
     "metadata: {name: Web_1}\n"
     "spec:\n"
     "  template:\n"
     "    metadata: {labels: {app: web}}\n" TEMPLATE_SPEC,
     "m.yaml:3:18: error: metadata.name: Invalid value: \"Web_1\": a lowercase RFC 1123 subdomain "
     "must consist "
     "of lower case alphanumeric characters, '-' or '.', and must start and end with an "
     "alphanumeric "
     "character (e.g. 'example.com', regex used for validation is "
     "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')\n"
     "m.yaml:5:3: error: spec.selector: Required value\n"},
    {"apiVersion: kubevirt.io/v1\n"
     "kind: VirtualMachineInstanceReplicaSet\n"
     "metadata: {name: web}\n"
     "spec:\n"
     "  selector:\n"
     "    matchExpressions:\n"
     "    - {key: app, operator: Equals, values: [web]}\n"
     "    - {key: tier, operator: In}\n"
     "    - {key: zone, operator: Exists, values: [a]}\n"
     "  template:\n"
     "    metadata: {labels: {app: web}}\n" TEMPLATE_SPEC,
     "m.yaml:7:28: error: spec.selector.matchExpressions[0].operator: Unsupported value: "
     "\"Equals\": supported "
     "values: \"In\", \"NotIn\", \"Exists\", \"DoesNotExist\"\n"
     "m.yaml:8:7: error: spec.selector.matchExpressions[1].values: Required value: must be "
     "specified when "
     "`operator` is 'In' or 'NotIn'\n"
     "m.yaml:9:45: error: spec.selector.matchExpressions[2].values: Forbidden: may not be "
     "specified when "
     "`operator` is 'Exists' or 'DoesNotExist'\n"},
    {"apiVersion: kubevirt.io/v1\n"
     "kind: VirtualMachineInstanceReplicaSet\n"
     "metadata: {name: web}\n"
     "spec:\n"
     "  replicas: 3\n"
     "  selector: {matchLabels: {app: web}}\n"
     "  template:\n"
     "    metadata: {labels: {app: web}}\n"
     "    spec:\n"
     "      domain:\n"
     "        memory: {guest: 64Mi}\n"
     "        firmware: {uuid: 5d307ca9-b3ef-428c-8861-06e72d69f223}\n"
     "        devices:\n"
     "          interfaces: [{name: default, masquerade: {}, macAddress: \"02:00:00:00:00:01\"}]\n"
     "      networks: [{name: default, pod: {}}]\n",
     "m.yaml:12:26: warning: spec.template.spec.domain.firmware.uuid: pinned in a template with 3 "
     "replicas: "
     "every replica would get the same SMBIOS UUID and cloud-init instance-id; remove it to get "
     "one per "
     "replica\n"
     "m.yaml:14:68: warning: spec.template.spec.domain.devices.interfaces[0].macAddress: pinned in "
     "a template "
     "with 3 replicas: every replica would get the same MAC address; remove it to get one per "
     "replica\n"},
    {"apiVersion: kubevirt.io/v2\n"
     "kind: VirtualMachineInstanceReplicaSet\n"
     "metadata: {name: web}\n",
     "m.yaml:1:13: error: apiVersion: Unsupported value: \"kubevirt.io/v2\": supported values: "
     "\"kubevirt.io/v1\", \"kubevirt.io/v1alpha3\", \"kubevirt.io/v1alpha2\"\n"},
    {"apiVersion: kubevirt.io/v1\n"
     "kind: VirtualMachineInstanceReplicaSet\n"
     "metadata: {name: web}\n"
     "spec:\n"
     "  selector: {matchLabels: {app: web}}\n"
     "  template:\n"
     "    metadata: {labels: {app: web}}\n"
     "    spec:\n"
     "      domain:\n"
     "        memory: {guest: 64Mi}\n"
     "        devices:\n"
     "          disks: [{name: d, volumeName: v}]\n"
     "      volumes: [{name: v, emptyDisk: {capacity: 1Gi}}]\n",
     "m.yaml:12:26: error: spec.template.spec.domain.devices.disks[0].name: Invalid value: \"d\": "
     "no volume of "
     "that name in spec.volumes: every disk needs a volume\n"
     "m.yaml:12:29: error: spec.template.spec.domain.devices.disks[0].volumeName: unknown field "
     "\"volumeName\"\n"},
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

static void
test_v1alpha2_seed(void **state)
{
    struct manifest_file mf;
    char *out = parse_text(&mf, "apiVersion: kubevirt.io/v1alpha2\n"
                                "kind: VirtualMachineInstanceReplicaSet\n"
                                "metadata:\n"
                                "  name: testreplicaset\n"
                                "spec:\n"
                                "  replicas: 3\n"
                                "  selector:\n"
                                "    matchLabels:\n"
                                "      myvmi: myvmi\n"
                                "  template:\n"
                                "    metadata:\n"
                                "      name: test\n"
                                "      labels:\n"
                                "        myvmi: myvmi\n"
                                "    spec:\n"
                                "      domain:\n"
                                "        devices:\n"
                                "          disks:\n"
                                "          - disk:\n"
                                "            name: containerdisk\n"
                                "            volumeName: registryvolume\n"
                                "        resources:\n"
                                "          requests:\n"
                                "            memory: 64M\n"
                                "      volumes:\n"
                                "      - name: registryvolume\n"
                                "        containerDisk:\n"
                                "          image: kubevirt/cirros-container-disk-demo:latest\n");
    struct vmirs *v;
    const struct disk *d;

    /* Accepted, with the one warning that a cluster would refuse it. */
    assert_string_equal(out, "m.yaml:1:13: warning: apiVersion: kubevirt.io/v1alpha2 is accepted "
                             "here, but current KubeVirt serves only kubevirt.io/v1 and "
                             "kubevirt.io/v1alpha3: write kubevirt.io/v1 before applying this "
                             "file to a cluster\n");
    v = first_vmirs(&mf);
    assert_int_equal(vmirs_replicas(v), 3);
    assert_string_equal(v->spec.template->metadata.name, "test");
    d = &v->spec.template->spec.domain.devices.disks.v[0];
    assert_non_null(d->disk);
    assert_string_equal(vmi_disk_volume_name(d), "registryvolume");
    assert_int_equal(vmi_guest_memory(&v->spec.template->spec), 64000000);
    manifest_file_free(&mf);
    free(out);
}

static char *
hash_of(const char *text)
{
    struct manifest_file mf;
    char *out = parse_text(&mf, text), *h;

    assert_string_equal(out, "");
    h = strdup(first_vmirs(&mf)->template_hash);
    manifest_file_free(&mf);
    free(out);
    return h;
}

static void
test_template_hash(void **state)
{
    char *a = hash_of("apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstanceReplicaSet\n"
                      "metadata: {name: web}\n"
                      "spec:\n  replicas: 3\n  selector: {matchLabels: {app: web}}\n"
                      "  template:\n    metadata: {labels: {app: web}}\n" TEMPLATE_SPEC);
    /* The same template: other layout, key order, quoting, comments, and
     * a different replica count (not part of the template). */
    char *b = hash_of("apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstanceReplicaSet\n"
                      "metadata: {name: web}\n"
                      "spec:\n  replicas: 5\n  selector: {matchLabels: {app: web}}\n"
                      "  template:  # the VMI\n"
                      "    spec: {domain: {devices: {}, memory: {guest: \"64Mi\"}}}\n"
                      "    metadata:\n      labels:\n        'app': web\n");
    char *c = hash_of("apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstanceReplicaSet\n"
                      "metadata: {name: web}\n"
                      "spec:\n  selector: {matchLabels: {app: web}}\n"
                      "  template:\n    metadata: {labels: {app: web}}\n"
                      "    spec: {domain: {devices: {}, memory: {guest: 128Mi}}}\n");

    assert_int_equal(strlen(a), 16);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    free(a);
    free(b);
    free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),      cmocka_unit_test(test_expressions),
        cmocka_unit_test(test_rules),         cmocka_unit_test(test_v1alpha2_seed),
        cmocka_unit_test(test_template_hash),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
