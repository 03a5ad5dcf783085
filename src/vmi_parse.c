#include "config.h"

#include "vmi_parse.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "kvalid.h"
#include "schema_macros.h"
#include "util.h"

/* Why writable shared volumes are refused: every replica would write the
 * same storage at once (the KubeVirt user guide's data-corruption warning). */
#define SHARED_WRITABLE_REASON                                                                     \
    "writable shared storage in a replica set corrupts data: every replica would write the same "  \
    "volume; use containerDisk, ephemeral, emptyDisk, cloudInitNoCloud, cloudInitConfigDrive, "    \
    "configMap or secret"
#define UNSUPPORTED_VOLUME_REASON                                                                  \
    "this volume type is not supported by vmirsd; use containerDisk, ephemeral, emptyDisk, "       \
    "cloudInitNoCloud, cloudInitConfigDrive, configMap or secret"
#define UNSUPPORTED_BINDING_REASON                                                                 \
    "not supported by vmirsd: replicas use the host's user-mode network or a libvirt network; "    \
    "use "                                                                                         \
    "masquerade or bridge"

const char *const vmi_bus_names[] = {"virtio", "sata", "scsi", "usb", NULL};
const char *const vmi_cache_names[] = {"none", "writethrough", "writeback", NULL};
static const char *const io_names[] = {"native", "threads", NULL};
static const char *const pull_policy_names[] = {"Always", "IfNotPresent", "Never", NULL};
static const char *const scheme_names[] = {"HTTP", "HTTPS", NULL};
static const char *const tray_names[] = {"open", "closed", NULL};

/* ---- metadata ---- */

static void objmeta_check(struct yctx *c, yaml_node_t *map, void *obj);

static const struct yfield objmeta_fields[] = {
    F_STR(struct objmeta, "name", name),
    F_STR(struct objmeta, "generateName", generate_name),
    F_STR(struct objmeta, "namespace", namespace),
    F_STR(struct objmeta, "uid", uid),
    F_STRMAP(struct objmeta, "labels", labels, .flags = YFL_LABELS),
    F_STRMAP(struct objmeta, "annotations", annotations),
    /* Set by an API server, meaningless in a file: accepted and not used. */
    F_ACCEPT("selfLink"),
    F_ACCEPT("resourceVersion"),
    F_ACCEPT("generation"),
    F_ACCEPT("creationTimestamp"),
    F_ACCEPT("deletionTimestamp"),
    F_ACCEPT("deletionGracePeriodSeconds"),
    F_ACCEPT("managedFields"),
    F_ACCEPT("clusterName"),
    F_IGNORE("ownerReferences"),
    F_IGNORE("finalizers"),
};
const struct yschema objmeta_schema =
    YSCHEMA(struct objmeta, objmeta_fields, offsetof(struct objmeta, pos), objmeta_check);

static void
check_name_field(struct yctx *c, yaml_node_t *map, const char *key,
                 int (*rule)(const char *, char **))
{
    yaml_node_t *v = ymap_get(c, map, key, NULL);
    cleanup_free char *why = NULL;
    const char *s = yscalar(v);

    if (s && !yscalar_is_null(v) && rule(s, &why) < 0)
        yerror_at(c, map, YPATH(key), "Invalid value: \"%s\": %s", s, why);
}

static void
objmeta_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    check_name_field(c, map, "name", kvalid_dns1123_subdomain);
    check_name_field(c, map, "namespace", kvalid_dns1123_label);
}

/* ---- domain ---- */

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

static const struct yfield port_fields[] = {
    F_STR(struct port, "name", name, .flags = YFL_DNS_LABEL),
    F_STR(struct port, "protocol", protocol),
    F_INT(struct port, "port", port, 1, 65535, .flags = YFL_REQUIRED),
};
static void
port_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    struct port *p = obj;

    if (p->protocol && strcmp(p->protocol, "TCP") && strcmp(p->protocol, "UDP"))
        yerror_at(c, map, YPATH("protocol"),
                  "Unsupported value: \"%s\": supported values: \"TCP\", \"UDP\"", p->protocol);
}
static const struct yschema port_schema = YSCHEMA(struct port, port_fields, NOPOS, port_check);

static const struct yfield empty_fields[] = {
    F_ACCEPT("_"), /* never present: the struct exists to be present */
};
static const struct yschema empty_binding_schema =
    YSCHEMA(struct empty_binding, empty_fields, NOPOS, NULL);

static void iface_check(struct yctx *c, yaml_node_t *map, void *obj);

static const struct yfield iface_fields[] = {
    F_STR(struct iface, "name", name, .flags = YFL_REQUIRED | YFL_DNS_LABEL),
    F_STR(struct iface, "model", model),
    F_STR(struct iface, "macAddress", mac_address),
    F_INT(struct iface, "bootOrder", boot_order, 1, INT32_MAX),
    F_PSTRUCT(struct iface, "masquerade", masquerade, empty_binding_schema),
    F_PSTRUCT(struct iface, "bridge", bridge, empty_binding_schema),
    /* slirp was removed in KubeVirt v1.3; older API versions still carry it. */
    F_PSTRUCT(struct iface, "slirp", slirp, empty_binding_schema, .api = YAPI_LEGACY),
    F_REJECT("slirp", "the slirp binding was removed from KubeVirt in v1.3; use masquerade",
             .api = YAPI_V1),
    F_ARRAY(struct iface, "ports", ports, port_schema),
    F_REJECT("sriov", UNSUPPORTED_BINDING_REASON),
    F_REJECT("macvtap", UNSUPPORTED_BINDING_REASON),
    F_REJECT("passt", UNSUPPORTED_BINDING_REASON),
    F_REJECT("passtBinding", UNSUPPORTED_BINDING_REASON),
    F_REJECT("binding", UNSUPPORTED_BINDING_REASON),
    F_IGNORE("pciAddress"),
    F_IGNORE("dhcpOptions"),
    F_IGNORE("tag"),
    F_IGNORE("acpiIndex"),
    F_IGNORE("portRanges"),
    F_IGNORE("state"),
};
static const struct yschema iface_schema =
    YSCHEMA(struct iface, iface_fields, offsetof(struct iface, pos), iface_check);

static const char *const nic_models[] = {"virtio",   "e1000", "e1000e",  "igb",
                                         "ne2k_pci", "pcnet", "rtl8139", NULL};

static bool
mac_valid(const char *s)
{
    /* Six two-digit hex groups separated by ':' or '-', as net.ParseMAC takes them. */
    if (strlen(s) != 17)
        return false;
    for (int i = 0; i < 17; i++) {
        if (i % 3 == 2) {
            if (s[i] != ':' && s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char) s[i])) {
            return false;
        }
    }
    return true;
}

static void
iface_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    struct iface *i = obj;
    int bindings = !!i->masquerade + !!i->bridge + !!i->slirp;

    if (bindings > 1)
        yerror(c, map, "Invalid value: only one of masquerade, bridge and slirp may be set");
    if (i->model) {
        bool ok = false;

        for (int j = 0; nic_models[j]; j++)
            ok = ok || strcmp(i->model, nic_models[j]) == 0;
        if (!ok)
            yerror_at(c, map, YPATH("model"),
                      "Unsupported value: \"%s\": supported values: \"virtio\", \"e1000\", "
                      "\"e1000e\", \"igb\", "
                      "\"ne2k_pci\", \"pcnet\", \"rtl8139\"",
                      i->model);
    }
    if (i->mac_address && !mac_valid(i->mac_address))
        yerror_at(c, map, YPATH("macAddress"),
                  "Invalid value: \"%s\": must be a MAC address such as \"02:00:00:00:00:01\"",
                  i->mac_address);
    for (size_t a = 0; a < i->ports.n; a++) {
        for (size_t b = 0; b < a; b++) {
            const struct port *pa = &i->ports.v[a], *pb = &i->ports.v[b];

            if (pa->name && pb->name && strcmp(pa->name, pb->name) == 0) {
                char idx[32];

                snprintf(idx, sizeof(idx), "#%zu", a);
                yerror_at(c, map, YPATH("ports", idx, "name"), "Duplicate value: \"%s\"", pa->name);
            }
        }
    }
}

static const struct yfield pod_network_fields[] = {
    F_IGNORE("vmNetworkCIDR"),
    F_IGNORE("vmIPv6NetworkCIDR"),
};
static const struct yschema pod_network_schema =
    YSCHEMA(struct empty_binding, pod_network_fields, NOPOS, NULL);

static void network_check(struct yctx *c, yaml_node_t *map, void *obj);

#define NETWORK_SOURCE_REASON                                                                      \
    "not supported by vmirsd: replicas have only the pod network (the host's user-mode network "   \
    "or "                                                                                          \
    "the configured libvirt network)"

static const struct yfield network_fields[] = {
    F_STR(struct network, "name", name, .flags = YFL_REQUIRED | YFL_DNS_LABEL),
    F_PSTRUCT(struct network, "pod", pod, pod_network_schema),
    F_REJECT("multus", NETWORK_SOURCE_REASON),
    F_REJECT("resourceClaim", NETWORK_SOURCE_REASON),
};
static const struct yschema network_schema =
    YSCHEMA(struct network, network_fields, offsetof(struct network, pos), network_check);

static void
network_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    struct network *n = obj;

    if (!n->pod && !ymap_get(c, map, "multus", NULL) && !ymap_get(c, map, "resourceClaim", NULL))
        yerror(c, map, "Required value: a network source must be set: pod");
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
    F_ENUM(struct kernel_boot_container, "imagePullPolicy", image_pull_policy, pull_policy_names),
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
    F_PSTRUCT(struct filesystem, "virtiofs", virtiofs, empty_binding_schema),
};
static const struct yschema filesystem_schema = YSCHEMA(
    struct filesystem, filesystem_fields, offsetof(struct filesystem, pos), filesystem_check);

static const struct yfield devices_fields[] = {
    F_ARRAY(struct devices, "disks", disks, disk_schema),
    F_ARRAY(struct devices, "interfaces", interfaces, iface_schema),
    F_ARRAY(struct devices, "filesystems", filesystems, filesystem_schema),
    F_PSTRUCT(struct devices, "rng", rng, empty_binding_schema),
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
static const struct yschema domain_schema =
    YSCHEMA(struct domain_spec, domain_fields, NOPOS, domain_check);

/* ---- volumes ---- */

static const struct yfield container_disk_fields[] = {
    F_STR(struct container_disk_src, "image", image, .flags = YFL_REQUIRED | YFL_NONEMPTY),
    F_STR(struct container_disk_src, "path", path),
    F_ENUM(struct container_disk_src, "imagePullPolicy", image_pull_policy, pull_policy_names),
    F_IGNORE("imagePullSecret"),
};

static void
container_disk_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    struct container_disk_src *d = obj;

    if (d->path && (d->path[0] != '/' || strstr(d->path, "/../") || str_has_suffix(d->path, "/..")))
        yerror_at(c, map, YPATH("path"),
                  "Invalid value: \"%s\": must be an absolute path inside the image without \"..\"",
                  d->path);
}
static const struct yschema container_disk_schema =
    YSCHEMA(struct container_disk_src, container_disk_fields, NOPOS, container_disk_check);

static void
check_base64_field(struct yctx *c, yaml_node_t *map, const char *key, const char *value)
{
    cleanup_free char *out = NULL;

    if (!value || base64_decode(value, &out, NULL) == 0)
        return;
    yerror_at(c, map, YPATH(key), "Invalid value: not valid base64");
}

/* KubeVirt's admission limit for cloud-init user data. */
#define CLOUD_INIT_USER_DATA_MAX 2048

static void
local_ref_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    struct local_ref *r = obj;
    yaml_node_t *n = ymap_get(c, map, "name", NULL);

    /* The Secret is looked up after parsing: keep where it was named. */
    r->pos = ynode_pos(n ? n : map);
}

static const struct yfield local_ref_fields[] = {
    F_STR(struct local_ref, "name", name, .flags = YFL_REQUIRED | YFL_NONEMPTY),
};
static const struct yschema local_ref_schema =
    YSCHEMA(struct local_ref, local_ref_fields, NOPOS, local_ref_check);

/* The cloud-init rules of vmi-create-admitter.go (validateCloudInitNoCloud
 * and its ConfigDrive twin): at most one source of user data and one of
 * network data, at least one of either. */
static void
cloud_init_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    static const char *const sources[] = {"userData",    "userDataBase64",
                                          "networkData", "networkDataBase64",
                                          "secretRef",   "networkDataSecretRef"};
    struct cloud_init_src *ci = obj;
    bool any = false;

    /* Presence, not parsed values: a value refused above was reported already. */
    for (size_t i = 0; i < ARRAY_SIZE(sources); i++)
        any = any || ymap_get(c, map, sources[i], NULL);
    if (!any)
        yerror(c, map,
               "Required value: one of userData, userDataBase64, secretRef, networkData, "
               "networkDataBase64 or networkDataSecretRef must be set");
    if (!!ci->user_data + !!ci->user_data_base64 + !!ci->secret_ref > 1)
        yerror(c, map,
               "Invalid value: only one of userData, userDataBase64 and secretRef may be set");
    if (!!ci->network_data + !!ci->network_data_base64 + !!ci->network_data_secret_ref > 1)
        yerror(c, map,
               "Invalid value: only one of networkData, networkDataBase64 and "
               "networkDataSecretRef may be set");
    if (ci->user_data && strlen(ci->user_data) > CLOUD_INIT_USER_DATA_MAX)
        ywarning_at(
            c, map, YPATH("userData"),
            "%zu bytes: KubeVirt refuses user data over %d bytes, so this manifest would not carry "
            "over to a cluster",
            strlen(ci->user_data), CLOUD_INIT_USER_DATA_MAX);
    check_base64_field(c, map, "userDataBase64", ci->user_data_base64);
    check_base64_field(c, map, "networkDataBase64", ci->network_data_base64);
}

static const struct yfield cloud_init_fields[] = {
    F_STR(struct cloud_init_src, "userData", user_data),
    F_STR(struct cloud_init_src, "userDataBase64", user_data_base64),
    F_STR(struct cloud_init_src, "networkData", network_data),
    F_STR(struct cloud_init_src, "networkDataBase64", network_data_base64),
    F_PSTRUCT(struct cloud_init_src, "secretRef", secret_ref, local_ref_schema),
    F_PSTRUCT(struct cloud_init_src, "networkDataSecretRef", network_data_secret_ref,
              local_ref_schema),
};
static const struct yschema cloud_init_schema =
    YSCHEMA(struct cloud_init_src, cloud_init_fields, NOPOS, cloud_init_check);

static void
empty_disk_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    struct empty_disk_src *e = obj;

    if (e->capacity.set && e->capacity.value < 1024 * 1024)
        yerror_at(
            c, map, YPATH("capacity"),
            "Invalid value: \"%s\": must be at least 1Mi (the size is rounded down to whole MiB)",
            e->capacity.text);
}

static const struct yfield empty_disk_fields[] = {
    F_QTY(struct empty_disk_src, "capacity", capacity, .flags = YFL_REQUIRED),
};
static const struct yschema empty_disk_schema =
    YSCHEMA(struct empty_disk_src, empty_disk_fields, NOPOS, empty_disk_check);

static const struct yfield pvc_ref_fields[] = {
    F_STR(struct pvc_ref, "claimName", claim_name, .flags = YFL_REQUIRED | YFL_NONEMPTY),
    F_BOOL(struct pvc_ref, "readOnly", read_only),
};

static void
pvc_ref_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    struct pvc_ref *p = obj;

    /* The claim is a file name in claim_dir: no directories, no escape. */
    if (p->claim_name && *p->claim_name && (strchr(p->claim_name, '/') || p->claim_name[0] == '.'))
        yerror_at(
            c, map, YPATH("claimName"),
            "Invalid value: \"%s\": must be a file name in claim_dir, without '/' or a leading '.'",
            p->claim_name);
}
static const struct yschema pvc_ref_schema =
    YSCHEMA(struct pvc_ref, pvc_ref_fields, NOPOS, pvc_ref_check);

static const struct yfield ephemeral_fields[] = {
    F_STRUCT(struct ephemeral_src, "persistentVolumeClaim", persistent_volume_claim, pvc_ref_schema,
             .flags = YFL_REQUIRED),
};
static const struct yschema ephemeral_schema =
    YSCHEMA(struct ephemeral_src, ephemeral_fields, NOPOS, NULL);

static const struct yfield config_map_src_fields[] = {
    F_STR(struct config_map_src, "name", name, .flags = YFL_REQUIRED | YFL_NONEMPTY),
    F_BOOL(struct config_map_src, "optional", optional),
    F_STR(struct config_map_src, "volumeLabel", volume_label),
};
/* An ISO9660 volume id: 1 to 32 printable ASCII characters. */
static void
check_volume_label(struct yctx *c, yaml_node_t *map, const char *label)
{
    size_t n = label ? strlen(label) : 1;
    bool ok = n >= 1 && n <= 32;

    for (size_t i = 0; label && i < n && ok; i++)
        ok = label[i] >= 0x20 && label[i] < 0x7f;
    if (!ok)
        yerror_at(
            c, map, YPATH("volumeLabel"),
            "Invalid value: \"%s\": an ISO volume label is 1 to 32 printable ASCII characters",
            label);
}

/* Checks across objects run after parsing: keep where the name was written. */
static void
config_map_src_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    struct config_map_src *s = obj;
    yaml_node_t *n = ymap_get(c, map, "name", NULL);

    s->pos = ynode_pos(n ? n : map);
    check_volume_label(c, map, s->volume_label);
}
static const struct yschema config_map_src_schema =
    YSCHEMA(struct config_map_src, config_map_src_fields, NOPOS, config_map_src_check);

static const struct yfield secret_src_fields[] = {
    F_STR(struct secret_src, "secretName", secret_name, .flags = YFL_REQUIRED | YFL_NONEMPTY),
    F_BOOL(struct secret_src, "optional", optional),
    F_STR(struct secret_src, "volumeLabel", volume_label),
};
static void
secret_src_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    struct secret_src *s = obj;
    yaml_node_t *n = ymap_get(c, map, "secretName", NULL);

    s->pos = ynode_pos(n ? n : map);
    check_volume_label(c, map, s->volume_label);
}
static const struct yschema secret_src_schema =
    YSCHEMA(struct secret_src, secret_src_fields, NOPOS, secret_src_check);

static const char *const volume_sources[] = {
    "containerDisk",
    "cloudInitNoCloud",
    "emptyDisk",
    "ephemeral",
    "configMap",
    "secret",
    "hostDisk",
    "persistentVolumeClaim",
    "dataVolume",
    "memoryDump",
    "cloudInitConfigDrive",
    "sysprep",
    "serviceAccount",
    "downwardAPI",
    "downwardMetrics",
    "registryDisk",
    "containerPath",
    NULL,
};

static void
volume_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    struct volume *v = obj;
    int sources = 0;

    for (int i = 0; volume_sources[i]; i++)
        sources += ymap_get(c, map, volume_sources[i], NULL) != NULL;
    if (sources == 0) {
        yerror(
            c, map,
            "Required value: a volume source must be set: one of containerDisk, cloudInitNoCloud, "
            "cloudInitConfigDrive, emptyDisk, ephemeral, configMap or secret");
        return;
    }
    if (sources > 1) {
        yerror(c, map, "Invalid value: only one volume source may be set");
        return;
    }
    v->kind = v->container_disk            ? VOL_CONTAINER_DISK
              : v->cloud_init_nocloud      ? VOL_CLOUD_INIT_NOCLOUD
              : v->empty_disk              ? VOL_EMPTY_DISK
              : v->ephemeral               ? VOL_EPHEMERAL
              : v->config_map              ? VOL_CONFIG_MAP
              : v->secret                  ? VOL_SECRET
              : v->cloud_init_config_drive ? VOL_CLOUD_INIT_CONFIG_DRIVE
                                           : VOL_NONE;
}

static const struct yfield volume_fields[] = {
    F_STR(struct volume, "name", name, .flags = YFL_REQUIRED | YFL_DNS_LABEL),
    F_PSTRUCT(struct volume, "containerDisk", container_disk, container_disk_schema),
    /* v1alpha2 called a containerDisk a registryDisk. */
    F_PSTRUCT(struct volume, "registryDisk", container_disk, container_disk_schema,
              .api = YAPI_V1ALPHA2),
    F_PSTRUCT(struct volume, "cloudInitNoCloud", cloud_init_nocloud, cloud_init_schema),
    F_PSTRUCT(struct volume, "cloudInitConfigDrive", cloud_init_config_drive, cloud_init_schema),
    F_PSTRUCT(struct volume, "emptyDisk", empty_disk, empty_disk_schema),
    F_PSTRUCT(struct volume, "ephemeral", ephemeral, ephemeral_schema),
    F_PSTRUCT(struct volume, "configMap", config_map, config_map_src_schema),
    F_PSTRUCT(struct volume, "secret", secret, secret_src_schema),
    F_REJECT("hostDisk", SHARED_WRITABLE_REASON),
    F_REJECT("persistentVolumeClaim", SHARED_WRITABLE_REASON),
    F_REJECT("dataVolume", SHARED_WRITABLE_REASON),
    F_REJECT("memoryDump", SHARED_WRITABLE_REASON),
    F_REJECT("sysprep", UNSUPPORTED_VOLUME_REASON),
    F_REJECT("serviceAccount", UNSUPPORTED_VOLUME_REASON),
    F_REJECT("downwardAPI", UNSUPPORTED_VOLUME_REASON),
    F_REJECT("downwardMetrics", UNSUPPORTED_VOLUME_REASON),
    F_REJECT("containerPath", UNSUPPORTED_VOLUME_REASON),
};
static const struct yschema volume_schema =
    YSCHEMA(struct volume, volume_fields, offsetof(struct volume, pos), volume_check);

/* ---- probes ---- */

static const struct yfield exec_fields[] = {
    F_STRARRAY(struct exec_action, "command", command, .flags = YFL_REQUIRED | YFL_NONEMPTY),
};
static const struct yschema exec_schema = YSCHEMA(struct exec_action, exec_fields, NOPOS, NULL);

static const struct yfield tcp_fields[] = {
    F_INTORSTR(struct tcp_action, "port", port, .flags = YFL_REQUIRED),
    F_STR(struct tcp_action, "host", host),
};
static const struct yschema tcp_schema = YSCHEMA(struct tcp_action, tcp_fields, NOPOS, NULL);

static const struct yfield http_header_fields[] = {
    F_STR(struct http_header, "name", name, .flags = YFL_REQUIRED | YFL_NONEMPTY),
    F_STR(struct http_header, "value", value, .flags = YFL_REQUIRED),
};
static const struct yschema http_header_schema =
    YSCHEMA(struct http_header, http_header_fields, NOPOS, NULL);

static const struct yfield http_fields[] = {
    F_STR(struct http_action, "path", path),
    F_INTORSTR(struct http_action, "port", port, .flags = YFL_REQUIRED),
    F_STR(struct http_action, "host", host),
    F_ENUM(struct http_action, "scheme", scheme, scheme_names),
    F_ARRAY(struct http_action, "httpHeaders", http_headers, http_header_schema),
};
static const struct yschema http_schema = YSCHEMA(struct http_action, http_fields, NOPOS, NULL);

static const struct yfield empty_action_fields[] = {
    F_ACCEPT("_"),
};
static const struct yschema empty_action_schema =
    YSCHEMA(struct empty_action, empty_action_fields, NOPOS, NULL);

static void probe_check(struct yctx *c, yaml_node_t *map, void *obj);

static const struct yfield probe_fields[] = {
    F_PSTRUCT(struct probe, "exec", exec, exec_schema),
    F_PSTRUCT(struct probe, "tcpSocket", tcp_socket, tcp_schema),
    F_PSTRUCT(struct probe, "httpGet", http_get, http_schema),
    F_PSTRUCT(struct probe, "guestAgentPing", guest_agent_ping, empty_action_schema),
    F_INT(struct probe, "initialDelaySeconds", initial_delay_seconds, 0, INT32_MAX),
    F_INT(struct probe, "timeoutSeconds", timeout_seconds, 1, INT32_MAX),
    F_INT(struct probe, "periodSeconds", period_seconds, 1, INT32_MAX),
    F_INT(struct probe, "successThreshold", success_threshold, 1, INT32_MAX),
    F_INT(struct probe, "failureThreshold", failure_threshold, 1, INT32_MAX),
};
static const struct yschema probe_schema = YSCHEMA(struct probe, probe_fields, NOPOS, probe_check);

/* A numeric port of the probe's handler (tcpSocket or httpGet) is a TCP
 * port; a named one is checked against the interfaces' ports later. */
static void
check_probe_port(struct yctx *c, yaml_node_t *probe, const char *handler,
                 const struct int_or_str *p)
{
    if (p->set && !p->is_str && (p->i < 1 || p->i > 65535) &&
        ynode_dig(c, probe, YPATH(handler, "port")))
        yerror_at(c, probe, YPATH(handler, "port"),
                  "Invalid value: %lld: must be between 1 and 65535, inclusive", (long long) p->i);
}

static void
probe_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    struct probe *p = obj;
    int handlers = !!p->exec + !!p->tcp_socket + !!p->http_get + !!p->guest_agent_ping;

    if (handlers == 0)
        yerror(c, map,
               "Required value: must specify a handler type: one of exec, httpGet, tcpSocket or "
               "guestAgentPing");
    else if (handlers > 1)
        yerror(c, map, "Forbidden: may not specify more than 1 handler type");
    if (p->tcp_socket)
        check_probe_port(c, map, "tcpSocket", &p->tcp_socket->port);
    if (p->http_get)
        check_probe_port(c, map, "httpGet", &p->http_get->port);
}

/* ---- the VMI spec and its cross-field rules ---- */

static void vmi_spec_check(struct yctx *c, yaml_node_t *map, void *obj);

static const struct yfield vmi_spec_fields[] = {
    F_STRUCT(struct vmi_spec, "domain", domain, domain_schema, .flags = YFL_REQUIRED),
    F_ARRAY(struct vmi_spec, "volumes", volumes, volume_schema),
    F_ARRAY(struct vmi_spec, "networks", networks, network_schema),
    F_STR(struct vmi_spec, "hostname", hostname, .flags = YFL_DNS_LABEL),
    F_STR(struct vmi_spec, "subdomain", subdomain, .flags = YFL_DNS_LABEL),
    F_INT(struct vmi_spec, "terminationGracePeriodSeconds", termination_grace_period_seconds, 0,
          INT32_MAX),
    F_PSTRUCT(struct vmi_spec, "readinessProbe", readiness_probe, probe_schema),
    F_PSTRUCT(struct vmi_spec, "livenessProbe", liveness_probe, probe_schema),
    F_IGNORE("priorityClassName"),
    F_IGNORE("nodeSelector"),
    F_IGNORE("affinity"),
    F_IGNORE("schedulerName"),
    F_IGNORE("tolerations"),
    F_IGNORE("topologySpreadConstraints"),
    F_IGNORE("evictionStrategy"),
    F_IGNORE("startStrategy"),
    F_IGNORE("dnsPolicy"),
    F_IGNORE("dnsConfig"),
    F_IGNORE("accessCredentials"),
    F_IGNORE("architecture"),
    F_IGNORE("resourceClaims"),
    F_IGNORE("serviceAccountName"),
    F_IGNORE("utilityVolumes"),
};
static const struct yschema vmi_spec_schema =
    YSCHEMA(struct vmi_spec, vmi_spec_fields, NOPOS, vmi_spec_check);

const char *
vmi_disk_volume_name(const struct disk *d)
{
    return d->volume_name ? d->volume_name : d->name;
}

int64_t
vmi_guest_memory(const struct vmi_spec *s)
{
    const struct domain_spec *d = &s->domain;

    if (d->memory.guest.set)
        return d->memory.guest.value;
    if (d->resources.req_memory.set)
        return d->resources.req_memory.value;
    if (d->resources.lim_memory.set)
        return d->resources.lim_memory.value;
    return 0;
}

static const struct volume *
spec_volume(const struct vmi_spec *s, const char *name)
{
    for (size_t j = 0; j < s->volumes.n; j++)
        if (streq0(name, s->volumes.v[j].name))
            return &s->volumes.v[j];
    return NULL;
}

/* A filesystem shares its volume with the guest through virtiofs: the
 * volume must exist, be one vmirsd can realise as a directory, and be
 * given to no disk as well (KubeVirt gives such a volume no disk). */
static void
check_filesystems(struct yctx *c, yaml_node_t *map, const struct vmi_spec *s)
{
    const struct devices *dev = &s->domain.devices;
    char idx[32];

    for (size_t i = 0; i < dev->filesystems.n; i++) {
        const struct filesystem *fs = &dev->filesystems.v[i];
        const char *const at[] = {"domain", "devices", "filesystems", idx, "name", NULL};
        const struct volume *v;

        snprintf(idx, sizeof(idx), "#%zu", i);
        if (!fs->name)
            continue;
        for (size_t j = 0; j < i; j++) {
            if (streq0(fs->name, dev->filesystems.v[j].name)) {
                yerror_at(c, map, at, "Duplicate value: \"%s\"", fs->name);
                break;
            }
        }
        v = spec_volume(s, fs->name);
        if (!v) {
            yerror_at(c, map, at,
                      "Invalid value: \"%s\": no volume of that name in spec.volumes: every "
                      "filesystem needs a volume",
                      fs->name);
            continue;
        }
        if (v->kind != VOL_NONE && v->kind != VOL_CONFIG_MAP && v->kind != VOL_SECRET &&
            v->kind != VOL_EMPTY_DISK)
            yerror_at(c, map, at,
                      "Unsupported value: \"%s\": vmirsd shares configMap, secret and "
                      "emptyDisk volumes through virtiofs; give this volume a disk instead",
                      fs->name);
        for (size_t j = 0; j < dev->disks.n; j++) {
            if (streq0(fs->name, vmi_disk_volume_name(&dev->disks.v[j]))) {
                yerror_at(c, map, at,
                          "Duplicate value: volume \"%s\" is already used by disk \"%s\"", fs->name,
                          dev->disks.v[j].name);
                break;
            }
        }
    }
}

/* The "#N" step of item i, for a YPATH() into a sequence. */
#define IDX(buf, i) (snprintf((buf), sizeof(buf), "#%zu", (size_t) (i)), (buf))

/* Volumes: one cloud-init source at most, and unique names. */
static void
check_volumes(struct yctx *c, yaml_node_t *map, const struct vmi_spec *s)
{
    size_t cloud_inits = 0;
    char idx[32];

    for (size_t i = 0; i < s->volumes.n; i++) {
        const struct volume *v = &s->volumes.v[i];

        IDX(idx, i);
        /* One cloud-init source per VMI, NoCloud or ConfigDrive: a guest
         * reads one datasource. */
        if ((v->kind == VOL_CLOUD_INIT_NOCLOUD || v->kind == VOL_CLOUD_INIT_CONFIG_DRIVE) &&
            ++cloud_inits == 2)
            yerror_at(c, map,
                      YPATH("volumes", idx,
                            v->kind == VOL_CLOUD_INIT_NOCLOUD ? "cloudInitNoCloud"
                                                              : "cloudInitConfigDrive"),
                      "Forbidden: only one cloudInitNoCloud or cloudInitConfigDrive volume "
                      "is allowed");
        for (size_t j = 0; j < i && v->name; j++) {
            if (streq0(v->name, s->volumes.v[j].name)) {
                yerror_at(c, map, YPATH("volumes", idx, "name"), "Duplicate value: \"%s\"",
                          v->name);
                break;
            }
        }
    }
}

/* Disk i against the disks before it and the volumes. */
static void
check_disk(struct yctx *c, yaml_node_t *map, const struct vmi_spec *s, size_t i)
{
    const struct devices *dev = &s->domain.devices;
    const struct disk *d = &dev->disks.v[i];
    const char *vol = vmi_disk_volume_name(d);
    bool found = false;
    char idx[32];

    IDX(idx, i);
    for (size_t j = 0; j < i; j++) {
        if (streq0(d->name, dev->disks.v[j].name)) {
            yerror_at(c, map, YPATH("domain", "devices", "disks", idx, "name"),
                      "Duplicate value: \"%s\"", d->name);
            break;
        }
    }
    for (size_t j = 0; j < s->volumes.n; j++)
        found = found || streq0(vol, s->volumes.v[j].name);
    if (!found)
        yerror_at(c, map,
                  YPATH("domain", "devices", "disks", idx, d->volume_name ? "volumeName" : "name"),
                  "Invalid value: \"%s\": no volume of that name in spec.volumes: every disk needs "
                  "a volume",
                  vol);
    /* Two disks may not share one volume: each would write its overlay. */
    for (size_t j = 0; j < i && found; j++) {
        if (streq0(vol, vmi_disk_volume_name(&dev->disks.v[j]))) {
            yerror_at(c, map, YPATH("domain", "devices", "disks", idx, "name"),
                      "Duplicate value: volume \"%s\" is already used by disk \"%s\"", vol,
                      dev->disks.v[j].name);
            break;
        }
    }
    for (size_t j = 0; j < i && d->boot_order.set; j++) {
        if (dev->disks.v[j].boot_order.set && dev->disks.v[j].boot_order.v == d->boot_order.v) {
            yerror_at(c, map, YPATH("domain", "devices", "disks", idx, "bootOrder"),
                      "Duplicate value: boot order %lld is already used by disk \"%s\"",
                      (long long) d->boot_order.v, dev->disks.v[j].name);
            break;
        }
    }
}

/* Interface i against the interfaces before it, the networks and the disks' boot order. */
static void
check_interface(struct yctx *c, yaml_node_t *map, const struct vmi_spec *s, size_t i)
{
    const struct devices *dev = &s->domain.devices;
    const struct iface *f = &dev->interfaces.v[i];
    bool found = false;
    char idx[32];

    IDX(idx, i);
    for (size_t j = 0; j < i; j++) {
        if (streq0(f->name, dev->interfaces.v[j].name)) {
            yerror_at(c, map, YPATH("domain", "devices", "interfaces", idx, "name"),
                      "Duplicate value: \"%s\"", f->name);
            break;
        }
    }
    for (size_t j = 0; j < s->networks.n; j++)
        found = found || streq0(f->name, s->networks.v[j].name);
    if (!found)
        yerror_at(c, map, YPATH("domain", "devices", "interfaces", idx, "name"),
                  "Invalid value: \"%s\": no network of that name in spec.networks", f->name);
    for (size_t j = 0; j < dev->disks.n && f->boot_order.set; j++) {
        if (dev->disks.v[j].boot_order.set && dev->disks.v[j].boot_order.v == f->boot_order.v) {
            yerror_at(c, map, YPATH("domain", "devices", "interfaces", idx, "bootOrder"),
                      "Duplicate value: boot order %lld is already used by disk \"%s\"",
                      (long long) f->boot_order.v, dev->disks.v[j].name);
            break;
        }
    }
}

/* Network i against the networks before it and the interfaces. */
static void
check_network(struct yctx *c, yaml_node_t *map, const struct vmi_spec *s, size_t i)
{
    const struct devices *dev = &s->domain.devices;
    const struct network *n = &s->networks.v[i];
    bool used = false;
    char idx[32];

    IDX(idx, i);
    for (size_t j = 0; j < i; j++) {
        if (streq0(n->name, s->networks.v[j].name)) {
            yerror_at(c, map, YPATH("networks", idx, "name"), "Duplicate value: \"%s\"", n->name);
            break;
        }
    }
    for (size_t j = 0; j < dev->interfaces.n; j++)
        used = used || streq0(n->name, dev->interfaces.v[j].name);
    if (!used)
        yerror_at(c, map, YPATH("networks", idx, "name"),
                  "Invalid value: \"%s\": no interface of that name in "
                  "spec.domain.devices.interfaces",
                  n->name);
    for (size_t j = 0; n->pod && j < i; j++) {
        if (s->networks.v[j].pod) {
            yerror_at(c, map, YPATH("networks", idx, "pod"),
                      "Invalid value: more than one pod network");
            break;
        }
    }
}

/* A probe's success threshold (liveness only) and its named port, which
 * must be one of the interfaces' named ports. */
static void
check_probe_refs(struct yctx *c, yaml_node_t *map, const struct vmi_spec *s, bool liveness)
{
    const struct devices *dev = &s->domain.devices;
    const struct probe *p = liveness ? s->liveness_probe : s->readiness_probe;
    const char *key = liveness ? "livenessProbe" : "readinessProbe";
    const struct int_or_str *port = !p              ? NULL
                                    : p->tcp_socket ? &p->tcp_socket->port
                                    : p->http_get   ? &p->http_get->port
                                                    : NULL;
    bool found = false;

    if (liveness && p && p->success_threshold.set && p->success_threshold.v != 1)
        yerror_at(c, map, YPATH(key, "successThreshold"), "Invalid value: %lld: must be 1",
                  (long long) p->success_threshold.v);
    if (!port || !port->set || !port->is_str)
        return;
    for (size_t i = 0; i < dev->interfaces.n; i++)
        for (size_t j = 0; j < dev->interfaces.v[i].ports.n; j++)
            found = found || streq0(port->s, dev->interfaces.v[i].ports.v[j].name);
    if (!found)
        yerror_at(c, map, YPATH(key, p->tcp_socket ? "tcpSocket" : "httpGet", "port"),
                  "Invalid value: \"%s\": no interface port of that name", port->s);
}

/* The cross references of a VMI spec, each kind checked in turn. */
static void
vmi_spec_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    const struct vmi_spec *s = obj;
    const struct devices *dev = &s->domain.devices;

    check_volumes(c, map, s);
    for (size_t i = 0; i < dev->disks.n; i++)
        if (dev->disks.v[i].name)
            check_disk(c, map, s, i);
    check_filesystems(c, map, s);
    for (size_t i = 0; i < dev->interfaces.n; i++)
        if (dev->interfaces.v[i].name)
            check_interface(c, map, s, i);
    for (size_t i = 0; i < s->networks.n; i++)
        if (s->networks.v[i].name)
            check_network(c, map, s, i);
    check_probe_refs(c, map, s, false);
    check_probe_refs(c, map, s, true);
}

/* Annotations on the VMI that make KubeVirt change the domain, which
 * vmirsd builds without them: say so rather than accept them silently. */
static const struct {
    const char *key, *what;
} unapplied_annotations[] = {
    {"hooks.kubevirt.io/hookSidecars", "hook sidecars are not run: the domain is built without "
                                       "what they would change"},
};

static void
template_meta_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    yaml_node_t *ann = ymap_get(c, map, "annotations", NULL);

    objmeta_check(c, map, obj);
    for (size_t i = 0; ann && i < ARRAY_SIZE(unapplied_annotations); i++) {
        yaml_node_t *k = NULL;

        /* At the key: the value may be anything, the key is the problem. */
        if (ymap_get(c, ann, unapplied_annotations[i].key, &k))
            ywarning_path(c, k, YPATH("annotations", unapplied_annotations[i].key),
                          "not supported by vmirsd: %s", unapplied_annotations[i].what);
    }
}

/* KubeVirt preserves unknown fields in the template's metadata. */
static const struct yschema template_meta_schema = {
    .name = "metadata",
    .size = sizeof(struct objmeta),
    .fields = objmeta_fields,
    .nfields = ARRAY_SIZE(objmeta_fields),
    .pos_off = offsetof(struct objmeta, pos),
    .open = true,
    .check = template_meta_check,
};

static const struct yfield vmi_template_fields[] = {
    F_STRUCT(struct vmi_template, "metadata", metadata, template_meta_schema),
    F_STRUCT(struct vmi_template, "spec", spec, vmi_spec_schema, .flags = YFL_REQUIRED),
};
const struct yschema vmi_template_schema =
    YSCHEMA(struct vmi_template, vmi_template_fields, NOPOS, NULL);

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
