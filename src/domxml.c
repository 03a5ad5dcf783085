#include "config.h"

#include "domxml.h"

#include <inttypes.h>
#include <libxml/xmlwriter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dommeta.h"
#include "util.h"

/* The writer with a sticky failure flag: after the first error every call
 * does nothing, and the result is checked once at the end. */
struct xw {
    xmlTextWriterPtr w;
    bool failed;
};

#define X(s) ((const xmlChar *) (s))

static void
xw_start(struct xw *x, const char *name)
{
    if (!x->failed && xmlTextWriterStartElement(x->w, X(name)) < 0)
        x->failed = true;
}

static void
xw_end(struct xw *x)
{
    if (!x->failed && xmlTextWriterEndElement(x->w) < 0)
        x->failed = true;
}

static void
xw_attr(struct xw *x, const char *name, const char *value)
{
    if (value && !x->failed && xmlTextWriterWriteAttribute(x->w, X(name), X(value)) < 0)
        x->failed = true;
}

/* Numbers are formatted here: older libxml2 returned 0 from the Format
 * variants when formatting failed. */
static void
xw_attr_u64(struct xw *x, const char *name, uint64_t v)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%" PRIu64, v);
    xw_attr(x, name, buf);
}

static void
xw_text(struct xw *x, const char *name, const char *value)
{
    if (value && !x->failed && xmlTextWriterWriteElement(x->w, X(name), X(value)) < 0)
        x->failed = true;
}

/* An empty element with up to two attributes. */
static void
xw_empty(struct xw *x, const char *name, const char *a1, const char *v1, const char *a2,
         const char *v2)
{
    xw_start(x, name);
    if (a1)
        xw_attr(x, a1, v1);
    if (a2)
        xw_attr(x, a2, v2);
    xw_end(x);
}

static void
write_os(struct xw *x, const struct domxml *d)
{
    xw_start(x, "os");
    if (d->efi)
        xw_attr(x, "firmware", "efi");
    xw_start(x, "type");
    xw_attr(x, "arch", "x86_64");
    xw_attr(x, "machine", d->machine);
    if (!x->failed && xmlTextWriterWriteString(x->w, X("hvm")) < 0)
        x->failed = true;
    xw_end(x);
    if (d->efi) {
        /* Firmware autoselection: libvirt picks the OVMF build that has
         * (or lacks) secure boot, so no host path is written here. */
        xw_start(x, "firmware");
        xw_empty(x, "feature", "enabled", d->secure_boot ? "yes" : "no", "name", "secure-boot");
        xw_empty(x, "feature", "enabled", d->secure_boot ? "yes" : "no", "name", "enrolled-keys");
        xw_end(x);
        if (d->nvram)
            xw_text(x, "nvram", d->nvram);
    }
    xw_text(x, "kernel", d->kernel);
    xw_text(x, "initrd", d->initrd);
    xw_text(x, "cmdline", d->cmdline);
    xw_empty(x, "smbios", "mode", "sysinfo", NULL, NULL);
    xw_end(x);
}

static void
write_sysinfo(struct xw *x, const struct domxml *d)
{
    xw_start(x, "sysinfo");
    xw_attr(x, "type", "smbios");
    xw_start(x, "system");
    xw_start(x, "entry");
    xw_attr(x, "name", "uuid");
    if (!x->failed && xmlTextWriterWriteString(x->w, X(d->uuid)) < 0)
        x->failed = true;
    xw_end(x);
    if (d->serial) {
        xw_start(x, "entry");
        xw_attr(x, "name", "serial");
        if (!x->failed && xmlTextWriterWriteString(x->w, X(d->serial)) < 0)
            x->failed = true;
        xw_end(x);
    }
    xw_end(x);
    xw_end(x);
}

static void
write_cpu(struct xw *x, const struct domxml *d)
{
    xw_start(x, "cpu");
    if (d->cpu_mode) {
        xw_attr(x, "mode", d->cpu_mode);
        if (strcmp(d->cpu_mode, "custom") == 0) {
            xw_attr(x, "match", "exact");
            xw_start(x, "model");
            xw_attr(x, "fallback", "allow");
            if (!x->failed && xmlTextWriterWriteString(x->w, X(d->cpu_model)) < 0)
                x->failed = true;
            xw_end(x);
        }
    }
    xw_start(x, "topology");
    xw_attr_u64(x, "sockets", d->sockets);
    xw_attr_u64(x, "dies", 1);
    xw_attr_u64(x, "cores", d->cores);
    xw_attr_u64(x, "threads", d->threads);
    xw_end(x);
    xw_end(x);
}

static void
write_features(struct xw *x, const struct domxml *d)
{
    xw_start(x, "features");
    if (d->acpi)
        xw_empty(x, "acpi", NULL, NULL, NULL, NULL);
    if (d->apic)
        xw_empty(x, "apic", NULL, NULL, NULL, NULL);
    if (d->smm)
        xw_empty(x, "smm", "state", "on", NULL, NULL);
    xw_end(x);
}

static void
write_clock(struct xw *x, const struct domxml *d)
{
    char adj[32];

    xw_start(x, "clock");
    xw_attr(x, "offset", d->clock_offset);
    if (strcmp(d->clock_offset, "timezone") == 0) {
        xw_attr(x, "timezone", d->timezone);
    } else if (d->clock_adjustment) {
        snprintf(adj, sizeof(adj), "%lld", d->clock_adjustment);
        xw_attr(x, "adjustment", adj);
    }
    xw_end(x);
}

static void
write_disk(struct xw *x, const struct domxml_disk *k)
{
    xw_start(x, "disk");
    xw_attr(x, "type", "file");
    xw_attr(x, "device", k->device);
    xw_start(x, "driver");
    xw_attr(x, "name", "qemu");
    xw_attr(x, "type", k->format);
    xw_attr(x, "cache", k->cache);
    xw_attr(x, "io", k->io);
    xw_attr(x, "error_policy", "stop");
    if (strcmp(k->device, "cdrom") != 0)
        xw_attr(x, "discard", "unmap");
    xw_end(x);
    xw_empty(x, "source", "file", k->source, NULL, NULL);
    if (k->backing) {
        xw_start(x, "backingStore");
        xw_attr(x, "type", "file");
        xw_empty(x, "format", "type", k->backing_format, NULL, NULL);
        xw_empty(x, "source", "file", k->backing, NULL, NULL);
        xw_end(x);
    }
    xw_empty(x, "target", "dev", k->target, "bus", k->bus);
    if (k->boot_order) {
        xw_start(x, "boot");
        xw_attr_u64(x, "order", k->boot_order);
        xw_end(x);
    }
    if (k->readonly)
        xw_empty(x, "readonly", NULL, NULL, NULL, NULL);
    xw_text(x, "serial", k->serial);
    xw_empty(x, "alias", "name", k->alias, NULL, NULL);
    xw_end(x);
}

static void
write_iface(struct xw *x, const struct domxml *d, const struct domxml_iface *i)
{
    bool user = strcmp(d->network, "user") == 0;

    xw_start(x, "interface");
    xw_attr(x, "type", user ? "user" : "network");
    if (!user)
        xw_empty(x, "source", "network", d->network, NULL, NULL);
    if (i->mac)
        xw_empty(x, "mac", "address", i->mac, NULL, NULL);
    xw_empty(x, "model", "type", i->model, NULL, NULL);
    if (i->boot_order) {
        xw_start(x, "boot");
        xw_attr_u64(x, "order", i->boot_order);
        xw_end(x);
    }
    /* No option ROM: nothing boots from the network, and it saves time. */
    xw_empty(x, "rom", "enabled", "no", NULL, NULL);
    xw_empty(x, "alias", "name", i->alias, NULL, NULL);
    xw_end(x);
}

/* virtiofs as libvirt 9.0 writes it: passthrough, QEMU's own virtiofsd. */
static void
write_filesystem(struct xw *x, const struct domxml *d, const struct domxml_fs *f)
{
    xw_start(x, "filesystem");
    xw_attr(x, "type", "mount");
    xw_attr(x, "accessmode", "passthrough");
    xw_empty(x, "driver", "type", "virtiofs", "queue", "1024");
    if (d->virtiofsd)
        xw_empty(x, "binary", "path", d->virtiofsd, NULL, NULL);
    xw_empty(x, "source", "dir", f->dir, NULL, NULL);
    xw_empty(x, "target", "dir", f->tag, NULL, NULL);
    xw_end(x);
}

static void
write_devices(struct xw *x, const struct domxml *d)
{
    xw_start(x, "devices");
    for (size_t i = 0; i < d->ndisks; i++)
        write_disk(x, &d->disks[i]);
    for (size_t i = 0; i < d->nfilesystems; i++)
        write_filesystem(x, d, &d->filesystems[i]);
    if (d->scsi_controller)
        xw_empty(x, "controller", "type", "scsi", "model", "virtio-scsi");
    for (size_t i = 0; i < d->nifaces; i++)
        write_iface(x, d, &d->ifaces[i]);
    if (d->serial_console) {
        xw_start(x, "serial");
        xw_attr(x, "type", "pty");
        if (d->serial_log) {
            xw_start(x, "log");
            xw_attr(x, "file", d->serial_log);
            xw_attr(x, "append", "off");
            xw_end(x);
        }
        xw_empty(x, "target", "port", "0", NULL, NULL);
        xw_end(x);
        xw_start(x, "console");
        xw_attr(x, "type", "pty");
        xw_empty(x, "target", "type", "serial", "port", "0");
        xw_end(x);
    }
    xw_start(x, "channel");
    xw_attr(x, "type", "unix");
    xw_empty(x, "target", "type", "virtio", "name", "org.qemu.guest_agent.0");
    xw_end(x);
    if (d->rng) {
        xw_start(x, "rng");
        xw_attr(x, "model", "virtio");
        xw_start(x, "backend");
        xw_attr(x, "model", "random");
        if (!x->failed && xmlTextWriterWriteString(x->w, X("/dev/urandom")) < 0)
            x->failed = true;
        xw_end(x);
        xw_end(x);
    }
    xw_start(x, "memballoon");
    xw_attr(x, "model", d->memballoon ? "virtio" : "none");
    if (d->memballoon)
        xw_empty(x, "stats", "period", "10", NULL, NULL);
    xw_end(x);
    xw_end(x);
}

/* The owner record that says which VMIRS a domain belongs to; vmirsd
 * reads it back with virDomainGetMetadata. dommeta writes it, so that
 * the element created with the domain and the one virt sets later
 * (adopt, release) are the same, and checks the bounds its parser
 * enforces. */
static void
write_metadata(struct xw *x, const struct domxml *d)
{
    /* A borrowed view: dommeta's fields are owned strings, but
     * dommeta_write only reads them. */
    struct dommeta m = {
        .owner_namespace = (char *) d->vmirs_namespace,
        .owner_name = (char *) d->vmirs_name,
        .owner_uid = (char *) d->vmirs_uid,
        .vmi_name = (char *) d->vmi_name,
        .vmi_uid = (char *) d->vmi_uid,
        .slot = d->slot,
        .template_hash = (char *) d->template_hash,
        .labels = d->labels ? *d->labels : (struct labels){0},
        .nports = d->nports < DOMMETA_MAX_PORTS ? d->nports : DOMMETA_MAX_PORTS,
    };

    if (m.nports)
        memcpy(m.ports, d->ports, m.nports * sizeof(*m.ports));
    xw_start(x, "metadata");
    if (!x->failed && dommeta_write(x->w, &m) < 0)
        x->failed = true;
    xw_end(x);
}

int
domxml_build(const struct domxml *d, char **xml, struct vmirs_err **err)
{
    struct xw x = {0};
    xmlBufferPtr buf = xmlBufferCreate();

    if (!buf)
        return err_set(err, 0, "build domain XML of `%s`: out of memory", d->name);
    x.w = xmlNewTextWriterMemory(buf, 0);
    if (!x.w) {
        xmlBufferFree(buf);
        return err_set(err, 0, "build domain XML of `%s`: cannot create the XML writer", d->name);
    }
    if (xmlTextWriterSetIndent(x.w, 1) < 0 || xmlTextWriterSetIndentString(x.w, X("  ")) < 0)
        x.failed = true;

    xw_start(&x, "domain");
    xw_attr(&x, "type", d->type);
    xw_text(&x, "name", d->name);
    xw_text(&x, "uuid", d->uuid);
    write_metadata(&x, d);
    xw_start(&x, "memory");
    xw_attr(&x, "unit", "b");
    if (!x.failed) {
        char n[32];

        snprintf(n, sizeof(n), "%" PRIu64, d->memory_bytes);
        if (xmlTextWriterWriteString(x.w, X(n)) < 0)
            x.failed = true;
    }
    xw_end(&x);
    if (d->nfilesystems) {
        /* vhost-user (virtiofsd) needs the guest's memory shared. */
        xw_start(&x, "memoryBacking");
        xw_empty(&x, "source", "type", "memfd", NULL, NULL);
        xw_empty(&x, "access", "mode", "shared", NULL, NULL);
        xw_end(&x);
    }
    xw_start(&x, "vcpu");
    xw_attr(&x, "placement", "static");
    if (!x.failed) {
        char n[32];

        snprintf(n, sizeof(n), "%u", d->sockets * d->cores * d->threads);
        if (xmlTextWriterWriteString(x.w, X(n)) < 0)
            x.failed = true;
    }
    xw_end(&x);
    write_sysinfo(&x, d);
    write_os(&x, d);
    write_features(&x, d);
    write_cpu(&x, d);
    write_clock(&x, d);
    xw_text(&x, "on_poweroff", "destroy");
    xw_text(&x, "on_reboot", d->reboot_destroys ? "destroy" : "restart");
    xw_text(&x, "on_crash", "destroy");
    write_devices(&x, d);
    xw_end(&x);

    if (x.failed || xmlTextWriterEndDocument(x.w) < 0) {
        xmlFreeTextWriter(x.w);
        xmlBufferFree(buf);
        return err_set(err, 0, "build domain XML of `%s`: libxml2 writer failed", d->name);
    }
    xmlFreeTextWriter(x.w);
    *xml = xstrdup((const char *) xmlBufferContent(buf));
    xmlBufferFree(buf);
    return 0;
}
