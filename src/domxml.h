/* libvirt domain XML for one replica, written with libxml2's
 * xmlTextWriter: every value from a manifest is escaped by construction,
 * element and attribute names are literals. The input is fully resolved
 * (files, targets, defaults); this module only writes. Runs on a worker
 * thread (inside a create job), touching only its arguments. */
#ifndef VMIRS_DOMXML_H
#define VMIRS_DOMXML_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "selector.h"

#define DOMXML_NS "urn:vmirsd:1"

struct domxml_disk {
    const char *device;         /* "disk", "cdrom" or "lun" */
    const char *bus;            /* "virtio", "sata", "scsi" or "usb" */
    const char *target;         /* "vda", "sdb", ... */
    const char *source;         /* the file the guest sees */
    const char *format;         /* "qcow2" or "raw" */
    const char *backing;        /* read-only base of an overlay, or NULL */
    const char *backing_format; /* its format */
    bool readonly;
    unsigned boot_order; /* 0: none */
    const char *serial;  /* or NULL */
    const char *cache;   /* or NULL for libvirt's default */
    const char *io;      /* or NULL */
    const char *alias;   /* "ua-<disk name>" */
};

struct domxml_iface {
    const char *mac;   /* or NULL: libvirt picks one */
    const char *model; /* "virtio" unless the template says */
    unsigned boot_order;
    const char *alias;
};

/* A directory shared with the guest through virtiofs (QEMU's virtiofsd). */
struct domxml_fs {
    const char *dir; /* on the host */
    const char *tag; /* what the guest mounts: the volume name */
};

struct domxml {
    const char *type; /* "kvm", "qemu" or "test" */
    const char *name;
    const char *uuid;   /* the firmware UUID: domain and SMBIOS */
    const char *serial; /* SMBIOS serial, or NULL */
    uint64_t memory_bytes;
    unsigned sockets, cores, threads;
    const char *cpu_mode;  /* "host-model", "host-passthrough", "custom" or NULL */
    const char *cpu_model; /* with "custom" */
    const char *machine;   /* "q35" */
    bool acpi, apic, smm;
    bool efi, secure_boot;
    /* Direct kernel boot (firmware.kernelBoot): files on the host, or NULL. */
    const char *kernel, *initrd, *cmdline;
    const char *nvram;        /* with efi: the replica's variable store */
    const char *clock_offset; /* "utc" or "timezone" */
    long long clock_adjustment;
    const char *timezone;
    bool reboot_destroys; /* on_reboot destroy: a reboot ends the replica */
    const struct domxml_disk *disks;
    size_t ndisks;
    bool scsi_controller;
    const struct domxml_iface *ifaces;
    size_t nifaces;
    const char *network;                 /* "user" or a libvirt network name */
    const struct domxml_fs *filesystems; /* with them, memory is shared (memfd) */
    size_t nfilesystems;
    const char *virtiofsd;  /* the virtiofsd binary libvirt starts per filesystem */
    bool rng;               /* a virtio RNG fed by /dev/urandom */
    const char *serial_log; /* file that keeps the serial console output, or NULL */
    bool serial_console;
    bool memballoon;
    /* What the metadata records: who owns the replica. */
    const char *vmirs_namespace, *vmirs_name, *vmirs_uid;
    const char *vmi_name, *vmi_uid;
    unsigned slot; /* the replica slot the VMI fills */
    const char *template_hash;
    const struct labels *labels;
    const struct dommeta_port *ports; /* host ports forwarded, for the metadata */
    size_t nports;
};

/* Write the domain XML of d into *xml (malloc'd). */
int domxml_build(const struct domxml *d, char **xml, struct vmirs_err **err);

#endif
