/* The pure half of materialize: templates into the struct domxml their
 * XML is written from, with KubeVirt's defaults (disk targets and buses,
 * CPU topology, the default interface, firmware), and no file touched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"
#include "manifest_helpers.h"

#include "materialize.h"
#include "replica_domxml.h"
#include "util.h"

#define VMIRS_HEAD                                                                                 \
    "apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstanceReplicaSet\n"                         \
    "metadata: {name: web}\n"                                                                      \
    "spec:\n"                                                                                      \
    "  selector: {matchLabels: {app: web}}\n"                                                      \
    "  template:\n"                                                                                \
    "    metadata: {name: front, labels: {app: web}}\n"                                            \
    "    spec:\n"

#define DIR "/state/replicas/default_frontbcdfg"

static const struct rd_case {
    const char *name;
    const char *yaml;
    const char *type;
    const char *backing; /* given to every disk with a containerDisk, as if resolved */
    const char *kernel;  /* given as firmware.kernelBoot's kernel, as if resolved */
    /* Expected: */
    unsigned sockets, cores, threads;
    const char *cpu_mode, *cpu_model;
    uint64_t memory;
    const char *machine;
    bool acpi, apic, efi, secure_boot, smm, scsi, rng, serial_console;
    const char *nvram, *serial_log, *cmdline, *clock_offset;
    /* Each disk as "target bus device format source [backing] [ro]", ';'-joined. */
    const char *disks;
    /* Each interface as "alias model [mac]", ';'-joined. */
    const char *ifaces;
    /* Each filesystem as "tag dir", ';'-joined. */
    const char *fss;
} cases[] = {
    {
        .name = "defaults",
        .yaml = VMIRS_HEAD "      domain:\n"
                           "        resources: {requests: {memory: 128Mi, cpu: 1500m}}\n"
                           "        devices: {}\n"
                           "      volumes:\n"
                           "      - {name: root, containerDisk: {image: example/root:1}}\n",
        .type = "kvm",
        .backing = "/cache/abc/disk.img",
        /* 1500m of CPU -> 2 sockets; KVM gets the host's model. */
        .sockets = 2,
        .cores = 1,
        .threads = 1,
        .cpu_mode = "host-model",
        .memory = 134217728,
        .machine = "q35",
        .acpi = true,
        .serial_console = true,
        .serial_log = DIR "/serial.log",
        .clock_offset = "utc",
        /* A volume no disk names gets a sata disk of its own. */
        .disks = "sda sata disk qcow2 " DIR "/root.qcow2 /cache/abc/disk.img",
        .ifaces = "ua-default virtio",
        .fss = "",
    },
    {
        .name = "efi, buses and a dashed MAC on the test driver",
        .yaml = VMIRS_HEAD "      domain:\n"
                           "        cpu: {cores: 2, model: host-passthrough}\n"
                           "        memory: {guest: 256Mi}\n"
                           "        features: {apic: {}}\n"
                           "        firmware: {bootloader: {efi: {}}, serial: SER1}\n"
                           "        devices:\n"
                           "          autoattachSerialConsole: false\n"
                           "          disks:\n"
                           "          - {name: root, disk: {bus: virtio}, bootOrder: 1}\n"
                           "          - {name: seed, cdrom: {}}\n"
                           "          - {name: data, disk: {bus: scsi}, serial: DATA}\n"
                           "          interfaces: [{name: default, masquerade: {}, "
                           "macAddress: 02-00-00-AA-bb-01}]\n"
                           "      networks: [{name: default, pod: {}}]\n"
                           "      volumes:\n"
                           "      - {name: root, emptyDisk: {capacity: 64Mi}}\n"
                           "      - {name: seed, cloudInitNoCloud: {userData: hi}}\n"
                           "      - {name: data, emptyDisk: {capacity: 1Gi}}\n",
        .type = "test",
        .sockets = 1,
        .cores = 2,
        .threads = 1,
        .cpu_mode = "host-passthrough",
        .memory = 268435456,
        .machine = "q35",
        .acpi = true,
        .apic = true,
        /* Secure boot is on unless switched off, and brings SMM. */
        .efi = true,
        .secure_boot = true,
        .smm = true,
        .scsi = true,
        .nvram = DIR "/efi_VARS.fd",
        .clock_offset = "utc",
        /* virtio counts vd*, sata and scsi share sd*; a cdrom is read-only. */
        .disks = "vda virtio disk qcow2 " DIR "/root.qcow2;"
                 "sda sata cdrom raw " DIR "/seed.iso ro;"
                 "sdb scsi disk qcow2 " DIR "/data.qcow2",
        .ifaces = "ua-default virtio 02:00:00:AA:bb:01",
        .fss = "",
    },
    {
        .name = "virtiofs, kernel boot, no pod interface under TCG",
        .yaml =
            VMIRS_HEAD "      domain:\n"
                       "        cpu: {model: Skylake-Client}\n"
                       "        memory: {guest: 1Gi}\n"
                       "        features: {acpi: {enabled: false}}\n"
                       "        clock: {timezone: Europe/Paris}\n"
                       "        firmware:\n"
                       "          kernelBoot:\n"
                       "            kernelArgs: console=ttyS0\n"
                       "            container: {image: example/kernel:1, kernelPath: /vmlinuz}\n"
                       "        devices:\n"
                       "          autoattachPodInterface: false\n"
                       "          rng: {}\n"
                       "          filesystems: [{name: cfg, virtiofs: {}}]\n"
                       "      volumes:\n"
                       "      - {name: cfg, configMap: {name: app}}\n",
        .type = "qemu",
        .kernel = "/cache/def/path-0123.img",
        .sockets = 1,
        .cores = 1,
        .threads = 1,
        .cpu_mode = "custom",
        .cpu_model = "Skylake-Client",
        .memory = 1073741824,
        .machine = "q35",
        .rng = true,
        .serial_console = true,
        .serial_log = DIR "/serial.log",
        .cmdline = "console=ttyS0",
        .clock_offset = "timezone",
        /* A filesystem's volume gets a directory and no disk. */
        .disks = "",
        .ifaces = "",
        .fss = "cfg " DIR "/fs-cfg",
    },
};

static void
join(char *out, size_t size, const char *part)
{
    size_t len = strlen(out);

    snprintf(out + len, size - len, "%s%s", len ? ";" : "", part);
}

static void
assert_str0(const char *got, const char *want, const char *what)
{
    if (!streq0(got, want))
        fail_msg("%s: got \"%s\", want \"%s\"", what, got ? got : "(null)", want ? want : "(null)");
}

static void
run_case(const struct rd_case *t)
{
    struct manifest_file mf;
    char *out = parse_text(&mf, t->yaml);
    const struct vmirs *v;
    struct replica_domxml r;
    struct replica_id id;
    const struct domxml *x = &r.x;
    char disks[1024] = "", ifaces[512] = "", fss[512] = "";
    unsigned next = 0;

    print_message("case: %s\n", t->name);
    assert_string_equal(out, "");
    free(out);
    v = first_vmirs(&mf);
    replica_id_new(&id, v, counting_rng, &next);
    assert_string_equal(id.domain_name, "default_frontbcdfg");

    replica_domxml_layout(&r, &v->spec.template->spec, DIR);
    for (size_t i = 0; i < r.ndisks; i++)
        if (t->backing && r.disks[i].vol->kind == VOL_CONTAINER_DISK) {
            r.disks[i].backing = xstrdup(t->backing);
            r.disks[i].backing_format = "raw";
        }
    if (t->kernel)
        r.kernel = xstrdup(t->kernel);
    replica_domxml_fill(&r, t->type, "user", v, &id);

    assert_string_equal(x->type, t->type);
    assert_string_equal(x->name, "default_frontbcdfg");
    assert_string_equal(x->uuid, id.firmware_uuid);
    assert_string_equal(x->vmi_name, "frontbcdfg");
    assert_string_equal(x->vmirs_name, "web");
    assert_string_equal(x->template_hash, v->template_hash);
    assert_string_equal(x->network, "user");
    assert_int_equal(x->sockets, t->sockets);
    assert_int_equal(x->cores, t->cores);
    assert_int_equal(x->threads, t->threads);
    assert_str0(x->cpu_mode, t->cpu_mode, "cpu_mode");
    assert_str0(x->cpu_model, t->cpu_model, "cpu_model");
    assert_int_equal(x->memory_bytes, t->memory);
    assert_string_equal(x->machine, t->machine);
    assert_int_equal(x->acpi, t->acpi);
    assert_int_equal(x->apic, t->apic);
    assert_int_equal(x->efi, t->efi);
    assert_int_equal(x->secure_boot, t->secure_boot);
    assert_int_equal(x->smm, t->smm);
    assert_int_equal(x->scsi_controller, t->scsi);
    assert_int_equal(x->rng, t->rng);
    assert_int_equal(x->serial_console, t->serial_console);
    assert_true(x->memballoon);
    assert_str0(x->nvram, t->nvram, "nvram");
    assert_str0(x->serial_log, t->serial_log, "serial_log");
    assert_str0(x->kernel, t->kernel, "kernel");
    assert_str0(x->cmdline, t->cmdline, "cmdline");
    assert_str0(x->clock_offset, t->clock_offset, "clock_offset");
    assert_ptr_equal(x->labels, &v->spec.template->metadata.labels);

    for (size_t i = 0; i < x->ndisks; i++) {
        const struct domxml_disk *d = &x->disks[i];
        char one[256];

        snprintf(one, sizeof(one), "%s %s %s %s %s%s%s%s", d->target, d->bus, d->device, d->format,
                 d->source, d->backing ? " " : "", d->backing ? d->backing : "",
                 d->readonly ? " ro" : "");
        join(disks, sizeof(disks), one);
        assert_non_null(strstr(d->alias, "ua-"));
    }
    assert_string_equal(disks, t->disks);
    for (size_t i = 0; i < x->nifaces; i++) {
        const struct domxml_iface *f = &x->ifaces[i];
        char one[128];

        snprintf(one, sizeof(one), "%s %s%s%s", f->alias, f->model, f->mac ? " " : "",
                 f->mac ? f->mac : "");
        join(ifaces, sizeof(ifaces), one);
    }
    assert_string_equal(ifaces, t->ifaces);
    for (size_t i = 0; i < x->nfilesystems; i++) {
        char one[256];

        snprintf(one, sizeof(one), "%s %s", x->filesystems[i].tag, x->filesystems[i].dir);
        join(fss, sizeof(fss), one);
    }
    assert_string_equal(fss, t->fss);

    replica_domxml_free(&r);
    replica_domxml_free(&r); /* harmless twice */
    replica_id_free(&id);
    manifest_file_free(&mf);
}

static void
test_cases(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        run_case(&cases[i]);
}

/* Only a replica with files gets a directory: the test driver writes no
 * console log, so a template without volumes or EFI needs none there. */
static void
test_needs_dir(void **state)
{
    struct manifest_file mf;
    char *out = parse_text(&mf, VMIRS_HEAD "      domain:\n"
                                           "        memory: {guest: 64Mi}\n"
                                           "        devices: {}\n");
    const struct vmi_spec *s;

    assert_string_equal(out, "");
    free(out);
    s = &first_vmirs(&mf)->spec.template->spec;
    assert_false(replica_domxml_needs_dir(s, "test"));
    assert_true(replica_domxml_needs_dir(s, "qemu"));
    assert_true(replica_domxml_needs_dir(s, "kvm"));
    manifest_file_free(&mf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_needs_dir),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
