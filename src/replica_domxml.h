/* The pure half of materialize: a replica's template, identity and paths
 * into the struct domxml its domain XML is written from. No I/O, no
 * clock: what needs the disk (resolving an image, probing a claim,
 * making the files) is materialize.c's, between the two calls below.
 * Runs on a worker thread (inside a create job) and, for --render, on
 * the main thread; it touches only its arguments. */
#ifndef VMIRS_REPLICA_DOMXML_H
#define VMIRS_REPLICA_DOMXML_H

#include <stdbool.h>
#include <stddef.h>

#include "domxml.h"
#include "model.h"

struct replica_id;

/* One disk as the guest sees it, and the file behind it. */
struct replica_disk {
    const char *name;         /* disk (and volume) name */
    const struct volume *vol; /* its volume */
    const char *device;
    const char *bus;
    bool readonly;
    unsigned boot_order;
    const char *serial;
    const char *cache;
    const char *io;
    char target[8];
    char *source; /* the replica's file, or NULL for a volume with no source */
    const char *format;
    char *backing;              /* set by the caller: the image's disk or the claim */
    const char *backing_format; /* likewise */
    char *alias;
};

/* A volume shared through virtiofs: a directory of its own. */
struct replica_fs {
    const struct volume *vol;
    char *dir;
};

/* A replica's layout and, once filled, its struct domxml, which points
 * into this struct and into the template: both must outlive x. */
struct replica_domxml {
    char *dir; /* state_dir/replicas/<domain name> */
    struct replica_disk *disks;
    size_t ndisks;
    struct replica_fs *fss;
    size_t nfss;
    char *kernel, *initrd; /* set by the caller: firmware.kernelBoot's files */
    struct domxml_iface *ifaces;
    size_t nifaces;
    struct domxml x;
    struct domxml_disk *xdisks;
    struct domxml_fs *xfss;
    char *nvram, *serial_log;
    char **strings; /* owned strings the interfaces point into */
    size_t nstrings;
};

/* Whether a replica of template s on a domain_type domain has files, and
 * so a directory: creating and removing one per replica is most of the
 * filesystem work of a burst. */
bool replica_domxml_needs_dir(const struct vmi_spec *s, const char *domain_type);

/* Lay out the replica of s in directory dir: its disks in the guest's
 * order with their targets and files, its filesystems and interfaces. */
void replica_domxml_layout(struct replica_domxml *r, const struct vmi_spec *s, const char *dir);

/* Fill r->x from the layout (with the backing files and kernel the caller
 * resolved), the template of v and the replica's identity. */
void replica_domxml_fill(struct replica_domxml *r, const char *domain_type, const char *network,
                         const struct vmirs *v, const struct replica_id *id);

/* Free what r owns; a second call is harmless. */
void replica_domxml_free(struct replica_domxml *r);

#endif
