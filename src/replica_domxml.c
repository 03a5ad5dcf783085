/* The pure half of materialize (replica_domxml.h): the layout of a
 * replica's disks, filesystems and interfaces with KubeVirt's defaults,
 * and the struct domxml built from it. Runs on a worker thread (inside a
 * create job) and, for --render, on the main thread. */
#include "config.h"

#include "replica_domxml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "materialize.h"
#include "util.h"
#include "vmi_parse.h"

/* QEMU's own virtiofsd in Debian 12's QEMU 7.2 (not on libvirt's search
 * path, which looks for the Rust one in /usr/libexec). */
#define VIRTIOFSD_PATH "/usr/lib/qemu/virtiofsd"

static const char *const bus_names[] = {"sata", "virtio", "sata", "scsi",
                                        "usb"}; /* index: enum disk_bus */

static const char *
keep(struct replica_domxml *r, char *s)
{
    r->strings = xrealloc(r->strings, (r->nstrings + 1) * sizeof(char *));
    r->strings[r->nstrings++] = s;
    return s;
}

/* The test driver runs no QEMU: nothing would write a console log. */
static bool
console_log(const char *domain_type)
{
    return strcmp(domain_type, "test") != 0;
}

bool
replica_domxml_needs_dir(const struct vmi_spec *s, const char *domain_type)
{
    const struct domain_spec *d = &s->domain;
    const struct efi *efi =
        d->firmware && d->firmware->bootloader ? d->firmware->bootloader->efi : NULL;

    return s->volumes.n > 0 || efi || console_log(domain_type);
}

static const struct volume *
find_volume(const struct vmi_spec *s, const char *name)
{
    for (size_t i = 0; i < s->volumes.n; i++)
        if (streq0(s->volumes.v[i].name, name))
            return &s->volumes.v[i];
    return NULL;
}

/* Targets in disk order per prefix, as virt-launcher assigns them:
 * vda, vdb... for virtio; sda, sdb... for sata, scsi and usb. */
static void
assign_target(char out[8], const char *bus, unsigned *vd, unsigned *sd)
{
    bool virtio = strcmp(bus, "virtio") == 0;
    unsigned n = virtio ? (*vd)++ : (*sd)++;

    if (n < 26)
        snprintf(out, 8, "%s%c", virtio ? "vd" : "sd", 'a' + n);
    else
        snprintf(out, 8, "%s%c%c", virtio ? "vd" : "sd", 'a' + n / 26 - 1, 'a' + n % 26);
}

/* The file behind disk k, in dir, and its format: an overlay or an empty
 * disk in qcow2, a seed ISO raw. A volume with no source gets none (the
 * caller refuses it). */
static void
layout_file(struct replica_disk *k, const char *dir)
{
    switch (k->vol->kind) {
    case VOL_CONTAINER_DISK:
    case VOL_EPHEMERAL:
    case VOL_EMPTY_DISK:
        k->source = xasprintf("%s/%s.qcow2", dir, k->vol->name);
        k->format = "qcow2";
        break;
    case VOL_CLOUD_INIT_NOCLOUD:
    case VOL_CLOUD_INIT_CONFIG_DRIVE:
    case VOL_CONFIG_MAP:
    case VOL_SECRET:
        k->source = xasprintf("%s/%s.iso", dir, k->vol->name);
        k->format = "raw";
        break;
    case VOL_NONE:
        break;
    }
}

static void
layout_disks(struct replica_domxml *r, const struct vmi_spec *s, const char *dir)
{
    const struct devices *dev = &s->domain.devices;
    unsigned vd = 0, sd = 0;

    r->disks = xcalloc(dev->disks.n + s->volumes.n, sizeof(*r->disks));
    for (size_t i = 0; i < dev->disks.n; i++) {
        const struct disk *d = &dev->disks.v[i];
        struct replica_disk *k = &r->disks[r->ndisks++];

        k->name = d->name;
        k->vol = find_volume(s, vmi_disk_volume_name(d));
        if (d->cdrom) {
            k->device = "cdrom";
            k->bus = bus_names[d->cdrom->bus];
            /* KubeVirt's cdrom default is read-only. */
            k->readonly = !d->cdrom->readonly.set || d->cdrom->readonly.v;
        } else if (d->lun) {
            k->device = "lun";
            k->bus = bus_names[d->lun->bus];
            k->readonly = d->lun->readonly.set && d->lun->readonly.v;
        } else {
            k->device = "disk";
            k->bus = bus_names[d->disk ? d->disk->bus : BUS_UNSET];
            k->readonly = d->disk && d->disk->readonly.set && d->disk->readonly.v;
        }
        k->boot_order = d->boot_order.set ? (unsigned) d->boot_order.v : 0;
        k->serial = d->serial;
        k->cache = d->cache ? vmi_cache_names[d->cache - 1] : NULL;
        k->io = d->io == 1 ? "native" : d->io == 2 ? "threads" : NULL;
        k->alias = xasprintf("ua-%s", d->name);
    }
    /* A volume used by no disk and no filesystem gets a default disk
     * (sata), after them; a filesystem's volume gets none, as in KubeVirt. */
    for (size_t i = 0; i < s->volumes.n; i++) {
        const struct volume *v = &s->volumes.v[i];
        bool used = false;

        for (size_t j = 0; j < dev->disks.n; j++)
            used = used || streq0(vmi_disk_volume_name(&dev->disks.v[j]), v->name);
        for (size_t j = 0; j < dev->filesystems.n; j++)
            used = used || streq0(dev->filesystems.v[j].name, v->name);
        if (used)
            continue;
        r->disks[r->ndisks] = (struct replica_disk){.name = v->name,
                                                    .vol = v,
                                                    .device = "disk",
                                                    .bus = "sata",
                                                    .alias = xasprintf("ua-%s", v->name)};
        r->ndisks++;
    }
    for (size_t i = 0; i < r->ndisks; i++) {
        assign_target(r->disks[i].target, r->disks[i].bus, &vd, &sd);
        layout_file(&r->disks[i], dir);
    }
}

static void
layout_filesystems(struct replica_domxml *r, const struct vmi_spec *s, const char *dir)
{
    const struct devices *dev = &s->domain.devices;

    r->fss = xcalloc(dev->filesystems.n ? dev->filesystems.n : 1, sizeof(*r->fss));
    for (size_t i = 0; i < dev->filesystems.n; i++) {
        struct replica_fs *f = &r->fss[r->nfss++];

        f->vol = find_volume(s, dev->filesystems.v[i].name);
        f->dir = xasprintf("%s/fs-%s", dir, dev->filesystems.v[i].name);
    }
}

/* A MAC address as libvirt takes it: KubeVirt (net.ParseMAC) also
 * accepts '-' between the groups, libvirt only ':'. */
static char *
mac_colons(const char *mac)
{
    char *m = xstrdup(mac);

    for (char *c = m; *c; c++)
        if (*c == '-')
            *c = ':';
    return m;
}

static void
layout_ifaces(struct replica_domxml *r, const struct vmi_spec *s)
{
    const struct devices *dev = &s->domain.devices;

    if (dev->interfaces.n == 0 && s->networks.n == 0) {
        /* KubeVirt's default: one interface on the pod network, unless
         * autoattachPodInterface is false. */
        if (dev->autoattach_pod_interface.set && !dev->autoattach_pod_interface.v)
            return;
        r->ifaces = xcalloc(1, sizeof(*r->ifaces));
        r->ifaces[0] = (struct domxml_iface){.model = "virtio", .alias = "ua-default"};
        r->nifaces = 1;
        return;
    }
    r->ifaces = xcalloc(dev->interfaces.n, sizeof(*r->ifaces));
    for (size_t i = 0; i < dev->interfaces.n; i++) {
        const struct iface *f = &dev->interfaces.v[i];

        r->ifaces[r->nifaces++] = (struct domxml_iface){
            .mac = f->mac_address ? keep(r, mac_colons(f->mac_address)) : NULL,
            .model = f->model ? f->model : "virtio",
            .boot_order = f->boot_order.set ? (unsigned) f->boot_order.v : 0,
            .alias = keep(r, xasprintf("ua-%s", f->name)),
        };
    }
}

void
replica_domxml_layout(struct replica_domxml *r, const struct vmi_spec *s, const char *dir)
{
    memset(r, 0, sizeof(*r));
    r->dir = xstrdup(dir);
    layout_disks(r, s, dir);
    layout_filesystems(r, s, dir);
    layout_ifaces(r, s);
}

static void
fill_cpu(struct domxml *x, const struct domain_spec *d, const char *type)
{
    const struct cpu_spec *c = &d->cpu;

    if (!c->cores.set && !c->sockets.set && !c->threads.set) {
        /* KubeVirt: sockets from the CPU limit, else the request, else 1. */
        int64_t milli = d->resources.lim_cpu.set   ? d->resources.lim_cpu.milli
                        : d->resources.req_cpu.set ? d->resources.req_cpu.milli
                                                   : 1000;

        x->sockets = (unsigned) ((milli + 999) / 1000);
        x->cores = x->threads = 1;
    } else {
        x->sockets = c->sockets.set && c->sockets.v ? (unsigned) c->sockets.v : 1;
        x->cores = c->cores.set && c->cores.v ? (unsigned) c->cores.v : 1;
        x->threads = c->threads.set && c->threads.v ? (unsigned) c->threads.v : 1;
    }
    if (x->sockets == 0)
        x->sockets = 1;
    if (c->model &&
        (strcmp(c->model, "host-model") == 0 || strcmp(c->model, "host-passthrough") == 0)) {
        x->cpu_mode = c->model;
    } else if (c->model) {
        x->cpu_mode = "custom";
        x->cpu_model = c->model;
    } else if (strcmp(type, "kvm") == 0) {
        x->cpu_mode = "host-model";
    }
}

void
replica_domxml_fill(struct replica_domxml *r, const char *domain_type, const char *network,
                    const struct vmirs *v, const struct replica_id *id)
{
    const struct vmi_spec *s = &v->spec.template->spec;
    const struct domain_spec *d = &s->domain;
    const struct features *f = d->features;
    const struct efi *efi =
        d->firmware && d->firmware->bootloader ? d->firmware->bootloader->efi : NULL;
    struct domxml *x = &r->x;

    memset(x, 0, sizeof(*x));
    x->type = domain_type;
    x->name = id->domain_name;
    x->uuid = id->firmware_uuid;
    x->serial = d->firmware ? d->firmware->serial : NULL;
    x->memory_bytes = (uint64_t) vmi_guest_memory(s);
    fill_cpu(x, d, domain_type);
    x->machine = d->machine.type ? d->machine.type : "q35";
    x->acpi = !(f && f->acpi && f->acpi->enabled.set && !f->acpi->enabled.v);
    x->apic = f && f->apic && !(f->apic->enabled.set && !f->apic->enabled.v);
    x->efi = efi != NULL;
    x->secure_boot = efi && !(efi->secure_boot.set && !efi->secure_boot.v);
    /* Secure boot needs SMM; KubeVirt turns it on for it. */
    x->smm = (f && f->smm && !(f->smm->enabled.set && !f->smm->enabled.v)) || x->secure_boot;
    if (x->efi) {
        free(r->nvram);
        r->nvram = xasprintf("%s/efi_VARS.fd", r->dir);
        x->nvram = r->nvram;
    }
    x->clock_offset = d->clock && d->clock->timezone ? "timezone" : "utc";
    x->timezone = d->clock ? d->clock->timezone : NULL;
    x->clock_adjustment = d->clock && d->clock->utc ? d->clock->utc->offset_seconds.v : 0;
    free(r->xdisks);
    r->xdisks = xcalloc(r->ndisks ? r->ndisks : 1, sizeof(*r->xdisks));
    for (size_t i = 0; i < r->ndisks; i++) {
        const struct replica_disk *k = &r->disks[i];

        r->xdisks[i] = (struct domxml_disk){
            .device = k->device,
            .bus = k->bus,
            .target = k->target,
            .source = k->source,
            .format = k->format,
            .backing = k->backing,
            .backing_format = k->backing_format,
            .readonly = k->readonly,
            .boot_order = k->boot_order,
            .serial = k->serial,
            .cache = k->cache,
            .io = k->io,
            .alias = k->alias,
        };
        x->scsi_controller = x->scsi_controller || strcmp(k->bus, "scsi") == 0;
    }
    x->disks = r->xdisks;
    x->ndisks = r->ndisks;
    free(r->xfss);
    r->xfss = xcalloc(r->nfss ? r->nfss : 1, sizeof(*r->xfss));
    for (size_t i = 0; i < r->nfss; i++)
        r->xfss[i] = (struct domxml_fs){.dir = r->fss[i].dir, .tag = r->fss[i].vol->name};
    x->filesystems = r->xfss;
    x->nfilesystems = r->nfss;
    x->virtiofsd = VIRTIOFSD_PATH;
    x->rng = d->devices.rng != NULL;
    x->kernel = r->kernel;
    x->initrd = r->initrd;
    x->cmdline =
        r->kernel && d->firmware->kernel_boot->kernel_args && *d->firmware->kernel_boot->kernel_args
            ? d->firmware->kernel_boot->kernel_args
            : NULL;
    x->ifaces = r->ifaces;
    x->nifaces = r->nifaces;
    x->network = network;
    x->serial_console =
        !(d->devices.autoattach_serial_console.set && !d->devices.autoattach_serial_console.v);
    if (x->serial_console && console_log(domain_type)) {
        free(r->serial_log);
        r->serial_log = xasprintf("%s/serial.log", r->dir);
        x->serial_log = r->serial_log;
    }
    x->memballoon =
        !(d->devices.autoattach_mem_balloon.set && !d->devices.autoattach_mem_balloon.v);
    x->vmirs_namespace = id->namespace;
    x->vmirs_name = id->vmirs_name;
    x->vmirs_uid = id->vmirs_uid;
    x->vmi_name = id->vmi_name;
    x->vmi_uid = id->vmi_uid;
    x->template_hash = id->template_hash;
    x->slot = id->slot;
    x->ports = id->ports;
    x->nports = id->nports;
    x->labels = &v->spec.template->metadata.labels;
}

void
replica_domxml_free(struct replica_domxml *r)
{
    for (size_t i = 0; i < r->ndisks; i++) {
        free(r->disks[i].source);
        free(r->disks[i].backing);
        free(r->disks[i].alias);
    }
    free(r->disks);
    for (size_t i = 0; i < r->nfss; i++)
        free(r->fss[i].dir);
    free(r->fss);
    free(r->kernel);
    free(r->initrd);
    free(r->ifaces);
    free(r->xdisks);
    free(r->xfss);
    free(r->nvram);
    free(r->serial_log);
    for (size_t i = 0; i < r->nstrings; i++)
        free(r->strings[i]);
    free(r->strings);
    free(r->dir);
    memset(r, 0, sizeof(*r));
}
