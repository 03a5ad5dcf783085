/* The cross references of a VMI spec, checked after its walk: each
 * disk, filesystem, interface and network against the others and the
 * volumes, and the probes against the interfaces' named ports. */
#include "config.h"

#include "vmi_parse.h"

#include <stdbool.h>
#include <stdio.h>

#include "util.h"
#include "vmi_parse_int.h"

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
void
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
