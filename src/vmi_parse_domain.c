/* The schema of spec.domain: disks, CPU, memory and resources, machine,
 * features, firmware (bootloader, kernel boot), clock, filesystems and the
 * devices list, with KubeVirt's rules for each (the interfaces are in
 * vmi_parse_network.c). */
#include "config.h"

#include "vmi_parse.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "schema_macros.h"
#include "util.h"
#include "vmi_parse_int.h"

static const char *const io_names[] = {"native", "threads", NULL};
static const char *const tray_names[] = {"open", "closed", NULL};

static void disk_check(struct yctx *c, yaml_node_t *map, void *obj);

static const struct yfield disk_target_fields[] = {
    F_ENUM(struct disk_target, "bus", bus, vmi_bus_names),
    F_BOOL(struct disk_target, "readonly", readonly),
    F_IGNORE("pciAddress"),
    F_IGNORE("reservation"),
};
static const struct yschema disk_target_schema =
    YSCHEMA(struct disk_target, disk_target_fields, NOPOS, NULL);

static const struct yfield cdrom_target_fields[] = {
    F_ENUM(struct cdrom_target, "bus", bus, vmi_bus_names),
    F_BOOL(struct cdrom_target, "readonly", readonly),
    F_ENUM(struct cdrom_target, "tray", tray, tray_names),
};
static const struct yschema cdrom_target_schema =
    YSCHEMA(struct cdrom_target, cdrom_target_fields, NOPOS, NULL);

static const struct yfield disk_fields[] = {
    F_STR(struct disk, "name", name, .flags = YFL_REQUIRED | YFL_DNS_LABEL),
    /* v1alpha2 only: PR #1570 removed it and bumped the API to v1alpha3. */
    F_STR(struct disk, "volumeName", volume_name, .api = YAPI_V1ALPHA2),
    F_PSTRUCT(struct disk, "disk", disk, disk_target_schema),
    F_PSTRUCT(struct disk, "cdrom", cdrom, cdrom_target_schema),
    F_PSTRUCT(struct disk, "lun", lun, disk_target_schema),
    F_INT(struct disk, "bootOrder", boot_order, 1, INT32_MAX),
    F_STR(struct disk, "serial", serial),
    F_ENUM(struct disk, "cache", cache, vmi_cache_names),
    F_ENUM(struct disk, "io", io, io_names),
    F_IGNORE("dedicatedIOThread"),
    F_IGNORE("tag"),
    F_IGNORE("blockSize"),
    F_IGNORE("shareable"),
    F_IGNORE("errorPolicy"),
    F_IGNORE("changedBlockTracking"),
    F_REJECT("floppy", "floppy disks were removed from KubeVirt; use a disk or a cdrom",
             .api = YAPI_LEGACY),
};
static const struct yschema disk_schema =
    YSCHEMA(struct disk, disk_fields, offsetof(struct disk, pos), disk_check);

/* KubeVirt's validateSerialNumValue / validateFirmwareSerial rule. */
static void
check_serial(struct yctx *c, yaml_node_t *map, const char *value)
{
    size_t n = value ? strlen(value) : 0;
    bool ok = n <= 256;

    for (size_t i = 0; i < n && ok; i++)
        ok = isalnum((unsigned char) value[i]) || strchr("_.+-", value[i]);
    if (!ok)
        yerror_at(c, map, YPATH("serial"),
                  "Invalid value: \"%s\": must be made up of the characters [A-Za-z0-9_.+-]%s",
                  value, n > 256 ? ", at most 256 of them" : "");
}

static void
disk_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    struct disk *d = obj;

    check_serial(c, map, d->serial);
    int kinds = !!d->disk + !!d->cdrom + !!d->lun;
    yaml_node_t *k;

    if (kinds > 1) {
        yerror(c, map, "Invalid value: only one of disk, cdrom and lun may be set");
        return;
    }
    /* KubeVirt maps a lun only onto a PersistentVolumeClaim or DataVolume
     * (vmi-create-admitter.go, validateLunDisk), and vmirsd refuses both
     * as writable shared storage: no lun can ever start here. */
    if (d->lun)
        yerror_at(c, map, YPATH("lun"),
                  "Forbidden: a lun can only be mapped to a PersistentVolumeClaim or DataVolume "
                  "volume, which a replica set cannot use (writable shared storage); use disk or "
                  "cdrom");
    if (d->cdrom && d->cdrom->bus == BUS_VIRTIO &&
        ymap_get(c, ymap_get(c, map, "cdrom", NULL), "bus", &k))
        yerror_at(
            c, map, YPATH("cdrom", "bus"),
            "Unsupported value: \"virtio\": a cdrom cannot use the virtio bus: supported values: "
            "\"sata\", \"scsi\"");
    if (d->disk && d->disk->readonly.set && d->disk->readonly.v &&
        (d->disk->bus == BUS_UNSET || d->disk->bus == BUS_SATA))
        yerror_at(
            c, map, YPATH("disk", "readonly"),
            "Invalid value: true: a read-only disk cannot use the sata bus (the default): set "
            "bus to "
            "virtio or scsi, or use a cdrom");
}

static const struct yfield cpu_fields[] = {
    F_INT(struct cpu_spec, "cores", cores, 0, 512),
    F_INT(struct cpu_spec, "sockets", sockets, 0, 512),
    F_INT(struct cpu_spec, "threads", threads, 0, 512),
    F_STR(struct cpu_spec, "model", model),
    F_IGNORE("maxSockets"),
    F_IGNORE("features"),
    F_IGNORE("dedicatedCpuPlacement"),
    F_IGNORE("numa"),
    F_IGNORE("isolateEmulatorThread"),
    F_IGNORE("realtime"),
};
static const struct yschema cpu_schema = YSCHEMA(struct cpu_spec, cpu_fields, NOPOS, NULL);

static const struct yfield memory_fields[] = {
    F_QTY(struct memory_spec, "guest", guest),
    F_IGNORE("hugepages"),
    F_IGNORE("maxGuest"),
    F_IGNORE("reservedOverhead"),
};
static const struct yschema memory_schema = YSCHEMA(struct memory_spec, memory_fields, NOPOS, NULL);

/* A ResourceList is a free-form map; memory and cpu are what a VM uses. */
struct resource_list {
    struct quantity memory, cpu;
};
static const struct yfield requests_fields[] = {
    F_QTY(struct resources, "memory", req_memory),
    F_QTY(struct resources, "cpu", req_cpu),
};
static const struct yfield limits_fields[] = {
    F_QTY(struct resources, "memory", lim_memory),
    F_QTY(struct resources, "cpu", lim_cpu),
};
static const struct yschema requests_schema = {
    .name = "requests",
    .size = sizeof(struct resources),
    .fields = requests_fields,
    .nfields = ARRAY_SIZE(requests_fields),
    .pos_off = NOPOS,
    .open = true,
};
static const struct yschema limits_schema = {
    .name = "limits",
    .size = sizeof(struct resources),
    .fields = limits_fields,
    .nfields = ARRAY_SIZE(limits_fields),
    .pos_off = NOPOS,
    .open = true,
};
/* requests and limits fill fields of the same struct resources, so they are
 * walked "in place" with offset 0. */
static const struct yfield resources_fields[] = {
    {.key = "requests", .kind = YF_STRUCT, .off = 0, .arg = &requests_schema},
    {.key = "limits", .kind = YF_STRUCT, .off = 0, .arg = &limits_schema},
    F_IGNORE("overcommitGuestOverhead"),
};
static const struct yschema resources_schema =
    YSCHEMA(struct resources, resources_fields, NOPOS, NULL);

static const struct yfield machine_fields[] = {
    F_STR(struct machine, "type", type),
};
/* KubeVirt's default emulatedMachines on amd64 are "q35*,pc-q35*". An
 * empty type is the default: KubeVirt's mutator fills `machine.type == ""`
 * with the cluster's default machine type, q35 on amd64
 * (pkg/virt-api/webhooks/mutating-webhook/mutators/vmi-mutator.go,
 * setDefaultMachineType), and its own examples used to be written so. */
static void
machine_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    struct machine *m = obj;

    if (m->type && !*m->type) {
        free(m->type);
        m->type = NULL;
    }
    if (m->type && strncmp(m->type, "q35", 3) != 0 && strncmp(m->type, "pc-q35", 6) != 0)
        yerror_at(c, map, YPATH("type"),
                  "Unsupported value: \"%s\": supported values: \"q35\", \"q35*\", \"pc-q35*\"",
                  m->type);
}
static const struct yschema machine_schema =
    YSCHEMA(struct machine, machine_fields, NOPOS, machine_check);

static const struct yfield feature_state_fields[] = {
    F_BOOL(struct feature_state, "enabled", enabled),
    F_IGNORE("endOfInterrupt"),
};
static const struct yschema feature_state_schema =
    YSCHEMA(struct feature_state, feature_state_fields, NOPOS, NULL);

static const struct yfield features_fields[] = {
    F_PSTRUCT(struct features, "acpi", acpi, feature_state_schema),
    F_PSTRUCT(struct features, "apic", apic, feature_state_schema),
    F_PSTRUCT(struct features, "smm", smm, feature_state_schema),
    F_PSTRUCT(struct features, "pvspinlock", pvspinlock, feature_state_schema),
    F_IGNORE("hyperv"),
    F_IGNORE("hypervPassthrough"),
    F_IGNORE("kvm"),
};
static const struct yschema features_schema =
    YSCHEMA(struct features, features_fields, NOPOS, NULL);

static const struct yfield bios_fields[] = {
    F_BOOL(struct bios, "useSerial", use_serial),
};
static const struct yschema bios_schema = YSCHEMA(struct bios, bios_fields, NOPOS, NULL);

static const struct yfield efi_fields[] = {
    F_BOOL(struct efi, "secureBoot", secure_boot),
    F_BOOL(struct efi, "persistent", persistent),
};
static const struct yschema efi_schema = YSCHEMA(struct efi, efi_fields, NOPOS, NULL);

static void
bootloader_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    struct bootloader *b = obj;

    if (b->bios && b->efi)
        yerror(c, map, "Invalid value: only one of bios and efi may be set");
}

static const struct yfield bootloader_fields[] = {
    F_PSTRUCT(struct bootloader, "bios", bios, bios_schema),
    F_PSTRUCT(struct bootloader, "efi", efi, efi_schema),
};
static const struct yschema bootloader_schema =
    YSCHEMA(struct bootloader, bootloader_fields, NOPOS, bootloader_check);

static bool
uuid_valid(const char *s)
{
    static const int dashes[] = {8, 13, 18, 23};

    if (strlen(s) != 36)
        return false;
    for (int i = 0, d = 0; i < 36; i++) {
        if (d < 4 && i == dashes[d]) {
            if (s[i] != '-')
                return false;
            d++;
        } else if (!isxdigit((unsigned char) s[i])) {
            return false;
        }
    }
    return true;
}

static void
firmware_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    struct firmware *f = obj;

    check_serial(c, map, f->serial);
    if (f->uuid && !uuid_valid(f->uuid))
        yerror_at(c, map, YPATH("uuid"),
                  "Invalid value: \"%s\": must be a UUID such as "
                  "\"5d307ca9-b3ef-428c-8861-06e72d69f223\"",
                  f->uuid);
}

/* KubeVirt's path rule for kernelPath and initrdPath (validatePath):
 * absolute, without relative components. */
static void
check_image_path(struct yctx *c, yaml_node_t *map, const char *key, const char *path)
{
    if (!path || (path[0] == '/' && !strstr(path, "/../") && !strstr(path, "/./") &&
                  !str_has_suffix(path, "/..") && !str_has_suffix(path, "/.")))
        return;
    yerror_at(
        c, map, YPATH(key),
        "Invalid value: \"%s\": must be an absolute path to a file without relative components",
        path);
}

/* vmi-create-admitter.go, validateKernelBoot: an image, and at least one
 * of the two paths. */
static void
kernel_boot_container_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    struct kernel_boot_container *k = obj;

    if (!k->kernel_path && !k->initrd_path)
        yerror(c, map,
               "Required value: must be defined with at least one of the following: "
               "kernelPath, initrdPath");
    check_image_path(c, map, "kernelPath", k->kernel_path);
    check_image_path(c, map, "initrdPath", k->initrd_path);
    /* KubeVirt accepts an initrd alone and its domain then fails to
     * start: QEMU takes -initrd only with -kernel. */
    if (k->initrd_path && !k->kernel_path)
        yerror_at(c, map, YPATH("initrdPath"),
                  "Invalid value: \"%s\": an initrd needs a kernel: set kernelPath too (QEMU loads "
                  "an initrd only with a kernel)",
                  k->initrd_path);
}

static const struct yfield kernel_boot_container_fields[] = {
    F_STR(struct kernel_boot_container, "image", image, .flags = YFL_REQUIRED | YFL_NONEMPTY),
    F_STR(struct kernel_boot_container, "kernelPath", kernel_path, .flags = YFL_NONEMPTY),
    F_STR(struct kernel_boot_container, "initrdPath", initrd_path, .flags = YFL_NONEMPTY),
    F_ENUM(struct kernel_boot_container, "imagePullPolicy", image_pull_policy,
           vmi_pull_policy_names),
    F_IGNORE("imagePullSecret"),
};
static const struct yschema kernel_boot_container_schema = YSCHEMA(
    struct kernel_boot_container, kernel_boot_container_fields, NOPOS, kernel_boot_container_check);

static void
kernel_boot_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    struct kernel_boot *k = obj;

    if (!k->container && k->kernel_args && *k->kernel_args)
        yerror_at(c, map, YPATH("kernelArgs"),
                  "Invalid value: kernel arguments cannot be provided without an external kernel");
}

static const struct yfield kernel_boot_fields[] = {
    F_STR(struct kernel_boot, "kernelArgs", kernel_args),
    F_PSTRUCT(struct kernel_boot, "container", container, kernel_boot_container_schema),
};
static const struct yschema kernel_boot_schema =
    YSCHEMA(struct kernel_boot, kernel_boot_fields, NOPOS, kernel_boot_check);

static const struct yfield firmware_fields[] = {
    F_STR(struct firmware, "uuid", uuid),
    F_STR(struct firmware, "serial", serial),
    F_PSTRUCT(struct firmware, "bootloader", bootloader, bootloader_schema),
    F_PSTRUCT(struct firmware, "kernelBoot", kernel_boot, kernel_boot_schema),
    F_IGNORE("acpi"),
};
static const struct yschema firmware_schema =
    YSCHEMA(struct firmware, firmware_fields, NOPOS, firmware_check);

static const struct yfield clock_utc_fields[] = {
    F_INT(struct clock_utc, "offsetSeconds", offset_seconds, -86400 * 365, 86400 * 365),
};
static const struct yschema clock_utc_schema =
    YSCHEMA(struct clock_utc, clock_utc_fields, NOPOS, NULL);

static void
clock_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    struct clock_spec *k = obj;

    if (k->utc && k->timezone)
        yerror(c, map, "Invalid value: only one of utc and timezone may be set");
}

static const struct yfield clock_fields[] = {
    F_PSTRUCT(struct clock_spec, "utc", utc, clock_utc_schema),
    F_STR(struct clock_spec, "timezone", timezone),
    F_IGNORE("timer"),
};
/* KubeVirt preserves unknown fields under clock, so they are only warnings. */
static const struct yschema clock_schema = {
    .name = "clock",
    .size = sizeof(struct clock_spec),
    .fields = clock_fields,
    .nfields = ARRAY_SIZE(clock_fields),
    .pos_off = NOPOS,
    .open = true,
    .check = clock_check,
};

static void
filesystem_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    struct filesystem *f = obj;

    if (!f->virtiofs)
        yerror(c, map, "Required value: a filesystem needs a driver: virtiofs");
}

static const struct yfield filesystem_fields[] = {
    F_STR(struct filesystem, "name", name, .flags = YFL_REQUIRED | YFL_DNS_LABEL),
    F_PSTRUCT(struct filesystem, "virtiofs", virtiofs, vmi_empty_schema),
};
static const struct yschema filesystem_schema = YSCHEMA(
    struct filesystem, filesystem_fields, offsetof(struct filesystem, pos), filesystem_check);

static const struct yfield devices_fields[] = {
    F_ARRAY(struct devices, "disks", disks, disk_schema),
    F_ARRAY(struct devices, "interfaces", interfaces, vmi_iface_schema),
    F_ARRAY(struct devices, "filesystems", filesystems, filesystem_schema),
    F_PSTRUCT(struct devices, "rng", rng, vmi_empty_schema),
    F_BOOL(struct devices, "autoattachPodInterface", autoattach_pod_interface),
    F_BOOL(struct devices, "autoattachSerialConsole", autoattach_serial_console),
    F_BOOL(struct devices, "autoattachMemBalloon", autoattach_mem_balloon),
    F_BOOL(struct devices, "autoattachGraphicsDevice", autoattach_graphics_device),
    F_IGNORE("useVirtioTransitional"),
    F_IGNORE("disableHotplug"),
    F_IGNORE("watchdog"),
    F_IGNORE("inputs"),
    F_IGNORE("logSerialConsole"),
    F_IGNORE("autoattachInputDevice"),
    F_IGNORE("autoattachVSOCK"),
    F_IGNORE("blockMultiQueue"),
    F_IGNORE("networkInterfaceMultiqueue"),
    F_IGNORE("gpus"),
    F_IGNORE("downwardMetrics"),
    F_IGNORE("panicDevices"),
    F_IGNORE("hostDevices"),
    F_IGNORE("clientPassthrough"),
    F_IGNORE("sound"),
    F_IGNORE("tpm"),
    F_IGNORE("video"),
};
static const struct yschema devices_schema = YSCHEMA(struct devices, devices_fields, NOPOS, NULL);

static const struct yfield domain_fields[] = {
    F_STRUCT(struct domain_spec, "cpu", cpu, cpu_schema),
    F_STRUCT(struct domain_spec, "memory", memory, memory_schema),
    F_STRUCT(struct domain_spec, "resources", resources, resources_schema),
    F_STRUCT(struct domain_spec, "machine", machine, machine_schema),
    F_PSTRUCT(struct domain_spec, "features", features, features_schema),
    F_PSTRUCT(struct domain_spec, "firmware", firmware, firmware_schema),
    F_PSTRUCT(struct domain_spec, "clock", clock, clock_schema),
    F_STRUCT(struct domain_spec, "devices", devices, devices_schema, .flags = YFL_REQUIRED),
    F_IGNORE("ioThreadsPolicy"),
    F_IGNORE("ioThreads"),
    F_IGNORE("chassis"),
    F_IGNORE("launchSecurity"),
    F_IGNORE("rebootPolicy"),
};
static void domain_check(struct yctx *c, yaml_node_t *map, void *obj);

/* The smallest memory KubeVirt accepts anywhere ("1M"). */
#define MEMORY_MIN 1000000

static void
check_min_memory(struct yctx *c, yaml_node_t *map, const char *const *where,
                 const struct quantity *q)
{
    if (q->set && q->value < MEMORY_MIN)
        yerror_at(c, map, where, "Invalid value: \"%s\": must be greater than or equal to 1M",
                  q->text);
}

/* KubeVirt's domain rules: memory set and sane against its limit, the CPU
 * request within its limit, secure boot only with SMM. */
static void
domain_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    static const char *const guest_at[] = {"memory", "guest", NULL};
    static const char *const req_mem_at[] = {"resources", "requests", "memory", NULL};
    static const char *const lim_mem_at[] = {"resources", "limits", "memory", NULL};
    static const char *const req_cpu_at[] = {"resources", "requests", "cpu", NULL};
    const struct domain_spec *d = obj;
    const struct resources *r = &d->resources;

    /* Presence, not parsed values: a value refused above was reported already. */
    if (!ynode_dig(c, map, guest_at) && !ynode_dig(c, map, req_mem_at) &&
        !ynode_dig(c, map, lim_mem_at))
        yerror(c, map,
               "Required value: memory must be set in domain.memory.guest, "
               "domain.resources.requests.memory or domain.resources.limits.memory");
    check_min_memory(c, map, guest_at, &d->memory.guest);
    check_min_memory(c, map, req_mem_at, &r->req_memory);
    check_min_memory(c, map, lim_mem_at, &r->lim_memory);
    if (r->req_memory.set && r->lim_memory.set && r->req_memory.value > r->lim_memory.value)
        yerror_at(c, map, req_mem_at,
                  "Invalid value: \"%s\": must be less than or equal to memory limit of %s",
                  r->req_memory.text, r->lim_memory.text);
    if (d->memory.guest.set && r->lim_memory.set && d->memory.guest.value > r->lim_memory.value)
        yerror_at(c, map, guest_at,
                  "Invalid value: \"%s\": must be less than or equal to memory limit of %s",
                  d->memory.guest.text, r->lim_memory.text);
    if (r->req_cpu.set && r->lim_cpu.set && r->req_cpu.milli > r->lim_cpu.milli)
        yerror_at(c, map, req_cpu_at,
                  "Invalid value: \"%s\": must be less than or equal to cpu limit of %s",
                  r->req_cpu.text, r->lim_cpu.text);

    /* EFI secure boot is on unless switched off, and needs SMM. */
    if (d->firmware && d->firmware->bootloader && d->firmware->bootloader->efi) {
        const struct efi *e = d->firmware->bootloader->efi;
        bool secure = !e->secure_boot.set || e->secure_boot.v;
        bool smm_off = d->features && d->features->smm && d->features->smm->enabled.set &&
                       !d->features->smm->enabled.v;

        if (secure && smm_off)
            yerror_at(c, map,
                      (const char *[]){"firmware", "bootloader", "efi",
                                       e->secure_boot.set ? "secureBoot" : NULL, NULL},
                      "Invalid value: true: secure boot requires SMM, which domain.features.smm "
                      "disables");
    }
}

const struct yschema vmi_domain_schema =
    YSCHEMA(struct domain_spec, domain_fields, NOPOS, domain_check);
