/* The VMI template: typed values, KubeVirt's defaults where the model
 * applies them, and the template rules with their exact messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"
#include "manifest_helpers.h"

#include "util.h"
#include "vmi_parse.h"

#define HEAD                                                                                       \
    "apiVersion: kubevirt.io/v1\n"                                                                 \
    "kind: VirtualMachineInstanceReplicaSet\n"                                                     \
    "metadata:\n"                                                                                  \
    "  name: web\n"                                                                                \
    "spec:\n"                                                                                      \
    "  selector:\n"                                                                                \
    "    matchLabels:\n"                                                                           \
    "      app: web\n"                                                                             \
    "  template:\n"                                                                                \
    "    metadata:\n"                                                                              \
    "      labels:\n"                                                                              \
    "        app: web\n"                                                                           \
    "    spec:\n"
/* HEAD is 13 lines: the template spec's keys start on line 14, column 7. */

static void
test_full_template(void **state)
{
    struct manifest_file mf;
    char *out = parse_text(
        &mf, HEAD "      hostname: front\n"
                  "      terminationGracePeriodSeconds: 0\n"
                  "      domain:\n"
                  "        cpu: {cores: 2, sockets: 1, threads: 1, model: host-model}\n"
                  "        memory: {guest: 128Mi}\n"
                  "        resources:\n"
                  "          requests: {memory: 64M, cpu: 500m}\n"
                  "          limits: {cpu: 2}\n"
                  "        machine: {type: q35}\n"
                  "        firmware:\n"
                  "          serial: s-1\n"
                  "          bootloader: {efi: {secureBoot: false}}\n"
                  "        features: {acpi: {}, smm: {enabled: true}}\n"
                  "        clock: {utc: {offsetSeconds: 3600}}\n"
                  "        devices:\n"
                  "          autoattachSerialConsole: true\n"
                  "          disks:\n"
                  "          - name: root\n"
                  "            bootOrder: 1\n"
                  "            disk: {bus: virtio}\n"
                  "          - name: seed\n"
                  "            cdrom: {bus: sata}\n"
                  "            serial: CIDATA\n"
                  "          - name: scratch\n"
                  "            cache: writethrough\n"
                  "          interfaces:\n"
                  "          - name: default\n"
                  "            masquerade: {}\n"
                  "            macAddress: \"02:00:00:00:00:01\"\n"
                  "            ports: [{name: http, port: 80}, {port: 53, protocol: UDP}]\n"
                  "      networks:\n"
                  "      - name: default\n"
                  "        pod: {}\n"
                  "      readinessProbe:\n"
                  "        httpGet: {port: http, path: /healthz}\n"
                  "        periodSeconds: 5\n"
                  "      livenessProbe:\n"
                  "        guestAgentPing: {}\n"
                  "      volumes:\n"
                  "      - name: root\n"
                  "        containerDisk: {image: \"localhost/vmirs-test-guest:latest\", path: "
                  "/disk/x.qcow2}\n"
                  "      - name: seed\n"
                  "        cloudInitNoCloud: {userDataBase64: \"IyEvYmluL3NoCg==\"}\n"
                  "      - name: scratch\n"
                  "        emptyDisk: {capacity: 1Gi}\n");
    struct vmirs *v;
    const struct vmi_spec *s;

    assert_string_equal(out, "");
    v = first_vmirs(&mf);
    s = &v->spec.template->spec;
    assert_string_equal(s->hostname, "front");
    assert_int_equal(s->termination_grace_period_seconds.v, 0);
    assert_true(s->termination_grace_period_seconds.set);
    assert_int_equal(s->domain.cpu.cores.v, 2);
    assert_string_equal(s->domain.cpu.model, "host-model");
    /* domain.memory.guest wins over requests and limits. */
    assert_int_equal(vmi_guest_memory(s), 128 * 1024 * 1024);
    assert_int_equal(s->domain.resources.req_cpu.milli, 500);
    assert_int_equal(s->domain.resources.lim_cpu.milli, 2000);
    assert_non_null(s->domain.firmware->bootloader->efi);
    assert_true(s->domain.firmware->bootloader->efi->secure_boot.set);
    assert_false(s->domain.firmware->bootloader->efi->secure_boot.v);
    assert_non_null(s->domain.features->acpi);
    assert_true(s->domain.features->smm->enabled.v);
    assert_int_equal(s->domain.clock->utc->offset_seconds.v, 3600);
    assert_int_equal(s->domain.devices.disks.n, 3);
    assert_int_equal(s->domain.devices.disks.v[0].disk->bus, BUS_VIRTIO);
    assert_int_equal(s->domain.devices.disks.v[0].boot_order.v, 1);
    assert_int_equal(s->domain.devices.disks.v[1].cdrom->bus, BUS_SATA);
    assert_string_equal(s->domain.devices.disks.v[1].serial, "CIDATA");
    assert_null(s->domain.devices.disks.v[2].disk);
    assert_int_equal(s->domain.devices.disks.v[2].cache, CACHE_WRITETHROUGH);
    assert_non_null(s->domain.devices.interfaces.v[0].masquerade);
    assert_int_equal(s->domain.devices.interfaces.v[0].ports.n, 2);
    assert_string_equal(s->domain.devices.interfaces.v[0].ports.v[1].protocol, "UDP");
    assert_string_equal(s->readiness_probe->http_get->port.s, "http");
    assert_int_equal(s->readiness_probe->period_seconds.v, 5);
    assert_non_null(s->liveness_probe->guest_agent_ping);
    assert_int_equal(s->volumes.v[0].kind, VOL_CONTAINER_DISK);
    assert_string_equal(s->volumes.v[0].container_disk->path, "/disk/x.qcow2");
    assert_int_equal(s->volumes.v[1].kind, VOL_CLOUD_INIT_NOCLOUD);
    assert_int_equal(s->volumes.v[2].kind, VOL_EMPTY_DISK);
    assert_int_equal(s->volumes.v[2].empty_disk->capacity.value, 1073741824);
    manifest_file_free(&mf);
    free(out);
}

static void
test_memory_precedence(void **state)
{
    struct manifest_file mf;
    char *out =
        parse_text(&mf, HEAD "      domain:\n"
                             "        resources: {requests: {memory: 64M}, limits: {memory: 1Gi}}\n"
                             "        devices: {}\n");

    assert_string_equal(out, "");
    assert_int_equal(vmi_guest_memory(&first_vmirs(&mf)->spec.template->spec), 64000000);
    manifest_file_free(&mf);
    free(out);

    out = parse_text(&mf, HEAD "      domain:\n"
                               "        resources: {limits: {memory: 1Gi}}\n"
                               "        devices: {}\n");
    assert_string_equal(out, "");
    assert_int_equal(vmi_guest_memory(&first_vmirs(&mf)->spec.template->spec), 1073741824);
    manifest_file_free(&mf);
    free(out);
}

struct rule_case {
    const char *body; /* appended to HEAD */
    const char *expected;
};

static const struct rule_case rules[] = {
    {"      domain:\n"
     "        devices: {}\n",
     "m.yaml:15:9: error: spec.template.spec.domain: Required value: memory must be set in "
     "domain.memory.guest, domain.resources.requests.memory or domain.resources.limits.memory\n"},
    {"      domain:\n"
     "        memory: {guest: 64Mi}\n"
     "        devices:\n"
     "          disks:\n"
     "          - name: root\n",
     "m.yaml:18:19: error: spec.template.spec.domain.devices.disks[0].name: Invalid value: "
     "\"root\": no volume "
     "of that name in spec.volumes: every disk needs a volume\n"},
    {"      domain:\n"
     "        memory: {guest: 64Mi}\n"
     "        devices:\n"
     "          disks:\n"
     "          - name: root\n"
     "            disk: {bus: ide}\n"
     "      volumes:\n"
     "      - {name: root, emptyDisk: {capacity: 1Gi}}\n",
     "m.yaml:19:25: error: spec.template.spec.domain.devices.disks[0].disk.bus: Unsupported value: "
     "\"ide\": "
     "supported values: \"virtio\", \"sata\", \"scsi\", \"usb\"\n"},
    {"      domain:\n"
     "        memory: {guest: 64Mi}\n"
     "        devices:\n"
     "          disks:\n"
     "          - name: seed\n"
     "            cdrom: {bus: virtio}\n"
     "      volumes:\n"
     "      - {name: seed, cloudInitNoCloud: {userData: x}}\n",
     "m.yaml:19:26: error: spec.template.spec.domain.devices.disks[0].cdrom.bus: Unsupported "
     "value: "
     "\"virtio\": a cdrom cannot use the virtio bus: supported values: \"sata\", \"scsi\"\n"},
    {"      domain:\n"
     "        memory: {guest: 64Mi}\n"
     "        devices: {}\n"
     "      volumes:\n"
     "      - name: data\n"
     "        hostDisk: {path: /srv/data, type: Disk}\n",
     "m.yaml:19:9: error: spec.template.spec.volumes[0].hostDisk: Forbidden: writable shared "
     "storage in a "
     "replica set corrupts data: every replica would write the same volume; use containerDisk, "
     "ephemeral, "
     "emptyDisk, cloudInitNoCloud, cloudInitConfigDrive, configMap or secret\n"},
    {"      domain:\n"
     "        memory: {guest: 64Mi}\n"
     "        devices: {}\n"
     "      volumes:\n"
     "      - name: data\n",
     "m.yaml:18:9: error: spec.template.spec.volumes[0]: Required value: a volume source must be "
     "set: one of "
     "containerDisk, cloudInitNoCloud, cloudInitConfigDrive, emptyDisk, ephemeral, configMap or "
     "secret\n"},
    {"      domain:\n"
     "        memory: {guest: 64Mi}\n"
     "        devices:\n"
     "          interfaces:\n"
     "          - {name: default, masquerade: {}, macAddress: \"zz:00\"}\n"
     "      networks:\n"
     "      - {name: default, pod: {}}\n",
     "m.yaml:18:57: error: spec.template.spec.domain.devices.interfaces[0].macAddress: Invalid "
     "value: "
     "\"zz:00\": must be a MAC address such as \"02:00:00:00:00:01\"\n"},
    {"      domain:\n"
     "        memory: {guest: 64Mi}\n"
     "        devices:\n"
     "          interfaces:\n"
     "          - {name: default, sriov: {}}\n"
     "      networks:\n"
     "      - {name: default, pod: {}}\n",
     "m.yaml:18:29: error: spec.template.spec.domain.devices.interfaces[0].sriov: Forbidden: not "
     "supported "
     "by vmirsd: replicas use the host's user-mode network or a libvirt network; use masquerade or "
     "bridge\n"},
    {"      domain:\n"
     "        memory: {guest: 64Mi}\n"
     "        devices:\n"
     "          interfaces:\n"
     "          - {name: default, slirp: {}}\n"
     "      networks:\n"
     "      - {name: default, pod: {}}\n",
     "m.yaml:18:29: error: spec.template.spec.domain.devices.interfaces[0].slirp: Forbidden: the "
     "slirp "
     "binding was removed from KubeVirt in v1.3; use masquerade\n"},
    {"      domain:\n"
     "        memory: {guest: 64Mi}\n"
     "        devices: {tpm: {}}\n"
     "      readinessProbe:\n"
     "        guestAgentPing: {}\n"
     "        exec: {command: [/bin/true]}\n",
     "m.yaml:16:19: warning: spec.template.spec.domain.devices.tpm: not supported by vmirsd: "
     "ignored\n"
     "m.yaml:18:9: error: spec.template.spec.readinessProbe: Forbidden: may not specify more than "
     "1 handler "
     "type\n"},
    {"      domain:\n"
     "        memory: {guest: 64Mi}\n"
     "        firmware: {uuid: not-a-uuid}\n"
     "        devices: {}\n",
     "m.yaml:16:26: error: spec.template.spec.domain.firmware.uuid: Invalid value: \"not-a-uuid\": "
     "must be a "
     "UUID such as \"5d307ca9-b3ef-428c-8861-06e72d69f223\"\n"},
    {"      domian:\n"
     "        memory: {guest: 64Mi}\n",
     "m.yaml:14:7: error: spec.template.spec.domian: unknown field \"domian\"; did you mean "
     "\"domain\"?\n"
     "m.yaml:14:7: error: spec.template.spec.domain: Required value\n"},
    {"      domain:\n"
     "        memory: {guest: 64Mi}\n"
     "        devices: {}\n"
     "      volumes:\n"
     "      - {name: a, emptyDisk: {capacity: 1Ki}}\n"
     "      - {name: a, containerDisk: {image: x, path: ../etc/passwd}}\n",
     "m.yaml:18:41: error: spec.template.spec.volumes[0].emptyDisk.capacity: Invalid value: "
     "\"1Ki\": must be "
     "at least 1Mi (the size is rounded down to whole MiB)\n"
     "m.yaml:19:16: error: spec.template.spec.volumes[1].name: Duplicate value: \"a\"\n"
     "m.yaml:19:51: error: spec.template.spec.volumes[1].containerDisk.path: Invalid value: "
     "\"../etc/passwd\": "
     "must be an absolute path inside the image without \"..\"\n"},
    {"      domain:\n"
     "        memory: {guest: 64Mi}\n"
     "        devices:\n"
     "          disks:\n"
     "          - {name: a, disk: {readonly: true}}\n"
     "      volumes:\n"
     "      - {name: a, ephemeral: {persistentVolumeClaim: {claimName: base.img}}}\n",
     "m.yaml:18:40: error: spec.template.spec.domain.devices.disks[0].disk.readonly: Invalid "
     "value: true: a "
     "read-only disk cannot use the sata bus (the default): set bus to virtio or scsi, or use a "
     "cdrom\n"},
};

static void
test_template_rules(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
        struct manifest_file mf;
        char *text = NULL, *out;

        assert_true(asprintf(&text, "%s%s", HEAD, rules[i].body) > 0);
        out = parse_text(&mf, text);
        if (strcmp(out, rules[i].expected) != 0)
            fail_msg("case %zu:\n got: %s\nwant: %s", i, out, rules[i].expected);
        manifest_file_free(&mf);
        free(out);
        free(text);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_template),
        cmocka_unit_test(test_memory_precedence),
        cmocka_unit_test(test_template_rules),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
