#include "config.h"

#include "materialize.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base64.h"
#include "cloudinit.h"
#include "domxml.h"
#include "image.h"
#include "seediso.h"
#include "util.h"
#include "vmi_parse.h"
#include "volume.h"

/* QEMU's own virtiofsd in Debian 12's QEMU 7.2 (not on libvirt's search
 * path, which looks for the Rust one in /usr/libexec). */
#define VIRTIOFSD_PATH "/usr/lib/qemu/virtiofsd"

/* Debian's libvirt runs QEMU as this user (qemu.conf "user"). */
#define QEMU_USER "libvirt-qemu"

void
replica_id_new(struct replica_id *id, const struct vmirs *v, names_rng_fn rng, void *opaque)
{
    const struct firmware *fw = v->spec.template->spec.domain.firmware;
    cleanup_free char *base = names_vmi_base(v);
    char uuid[37];

    memset(id, 0, sizeof(*id));
    id->namespace = xstrdup(v->metadata.namespace);
    id->vmirs_name = xstrdup(v->metadata.name);
    id->vmirs_uid = materialize_vmirs_uid(v);
    id->vmi_name = names_vmi_name(base, rng, opaque);
    names_uuid(uuid, rng, opaque);
    id->vmi_uid = xstrdup(uuid);
    id->domain_name = names_domain_name(id->namespace, id->vmi_name);
    if (fw && fw->uuid) {
        id->firmware_uuid = xstrdup(fw->uuid);
    } else {
        names_uuid(uuid, rng, opaque);
        id->firmware_uuid = xstrdup(uuid);
    }
    id->template_hash = xstrdup(v->template_hash ? v->template_hash : "");
}

/* Five characters of 27 collide often at scale (one chance in six among
 * 2,300 replicas), and a second replica of a live one's name would write
 * into its directory. Kubernetes' generateName has the same weakness; its
 * API server refuses the duplicate with AlreadyExists and the caller draws
 * again (staging/src/k8s.io/apiserver/pkg/storage/names/generate.go, and
 * the ReplicaSet controller retries the create). Here the names in use are
 * known before the call, so the draw is repeated at once. */
int
replica_id_new_free(struct replica_id *id, const struct vmirs *v, names_rng_fn rng, void *opaque,
                    bool (*taken)(const char *domain_name, void *taken_opaque), void *taken_opaque,
                    unsigned tries)
{
    for (unsigned i = 0; i < tries; i++) {
        replica_id_new(id, v, rng, opaque);
        if (!taken(id->domain_name, taken_opaque))
            return 0;
        replica_id_free(id);
    }
    memset(id, 0, sizeof(*id));
    return -1;
}

char *
materialize_vmirs_uid(const struct vmirs *v)
{
    cleanup_free char *key = NULL;
    char h[65];

    if (v->metadata.uid)
        return xstrdup(v->metadata.uid);
    /* A name-based UUID (version 5 layout over SHA-256): the same VMIRS
     * gets the same uid after a restart, as an API server would keep it. */
    key = xasprintf("vmirsd:%s/%s", v->metadata.namespace, v->metadata.name);
    sha256_hex(key, strlen(key), h);
    h[12] = '5';
    h[16] = "89ab"[strtol((char[]){h[16], 0}, NULL, 16) & 3];
    return xasprintf("%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

void
replica_id_free(struct replica_id *id)
{
    free(id->namespace);
    free(id->vmirs_name);
    free(id->vmirs_uid);
    free(id->vmi_name);
    free(id->vmi_uid);
    free(id->domain_name);
    free(id->firmware_uuid);
    free(id->template_hash);
    memset(id, 0, sizeof(*id));
}

/* Whether user can read and write /dev/kvm by its mode bits, the check
 * libvirt itself makes (virFileAccessibleAs) before offering KVM. */
static bool
kvm_usable_by(const char *user)
{
    struct passwd *pw = getpwnam(user);
    struct stat st;
    gid_t groups[64];
    int ngroups = ARRAY_SIZE(groups);

    if (!pw || stat("/dev/kvm", &st) < 0)
        return false;
    if (pw->pw_uid == 0 || (st.st_uid == pw->pw_uid && (st.st_mode & 0600) == 0600))
        return true;
    if (getgrouplist(user, pw->pw_gid, groups, &ngroups) < 0)
        ngroups = 0;
    for (int i = 0; i < ngroups; i++)
        if (groups[i] == st.st_gid && (st.st_mode & 0060) == 0060)
            return true;
    return (st.st_mode & 0006) == 0006;
}

const char *
materialize_domain_type(const struct vmirs_conf *conf)
{
    switch (conf->domain_type) {
    case DOMAIN_TYPE_KVM:
        return "kvm";
    case DOMAIN_TYPE_QEMU:
        return "qemu";
    case DOMAIN_TYPE_TEST:
        return "test";
    case DOMAIN_TYPE_AUTO:
        break;
    }
    if (strncmp(conf->libvirt_uri, "test", 4) == 0)
        return "test";
    return kvm_usable_by(QEMU_USER) ? "kvm" : "qemu";
}

/* ---- planning ---- */

static const char *const bus_names[] = {"sata", "virtio", "sata", "scsi",
                                        "usb"}; /* index: enum disk_bus */

/* One disk as the guest sees it, and the file behind it. */
struct plan_disk {
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
    char *source;
    const char *format;
    char *backing;
    const char *backing_format;
    char *alias;
};

/* A volume shared through virtiofs: a directory of its own. */
struct plan_fs {
    const struct volume *vol;
    char *dir;
};

struct plan {
    struct plan_disk *disks;
    size_t ndisks;
    struct plan_fs *fss;
    size_t nfss;
    char *kernel, *initrd; /* firmware.kernelBoot, extracted into the image cache */
    struct domxml_iface *ifaces;
    size_t nifaces;
    char **strings; /* owned strings the domxml input points into */
    size_t nstrings;
};

static const char *
plan_keep(struct plan *p, char *s)
{
    p->strings = xrealloc(p->strings, (p->nstrings + 1) * sizeof(char *));
    p->strings[p->nstrings++] = s;
    return s;
}

static void
plan_free(struct plan *p)
{
    for (size_t i = 0; i < p->ndisks; i++) {
        free(p->disks[i].source);
        free(p->disks[i].backing);
        free(p->disks[i].alias);
    }
    free(p->disks);
    for (size_t i = 0; i < p->nfss; i++)
        free(p->fss[i].dir);
    free(p->fss);
    free(p->kernel);
    free(p->initrd);
    free(p->ifaces);
    for (size_t i = 0; i < p->nstrings; i++)
        free(p->strings[i]);
    free(p->strings);
    memset(p, 0, sizeof(*p));
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

static void
plan_disks(struct plan *p, const struct vmi_spec *s)
{
    const struct devices *dev = &s->domain.devices;
    unsigned vd = 0, sd = 0;

    p->disks = xcalloc(dev->disks.n + s->volumes.n, sizeof(*p->disks));
    for (size_t i = 0; i < dev->disks.n; i++) {
        const struct disk *d = &dev->disks.v[i];
        struct plan_disk *k = &p->disks[p->ndisks++];

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
        p->disks[p->ndisks] = (struct plan_disk){.name = v->name,
                                                 .vol = v,
                                                 .device = "disk",
                                                 .bus = "sata",
                                                 .alias = xasprintf("ua-%s", v->name)};
        p->ndisks++;
    }
    for (size_t i = 0; i < p->ndisks; i++)
        assign_target(p->disks[i].target, p->disks[i].bus, &vd, &sd);
}

static void
plan_filesystems(struct plan *p, const struct vmi_spec *s, const char *dir)
{
    const struct devices *dev = &s->domain.devices;

    p->fss = xcalloc(dev->filesystems.n ? dev->filesystems.n : 1, sizeof(*p->fss));
    for (size_t i = 0; i < dev->filesystems.n; i++) {
        struct plan_fs *f = &p->fss[p->nfss++];

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
plan_ifaces(struct plan *p, const struct vmi_spec *s)
{
    const struct devices *dev = &s->domain.devices;

    if (dev->interfaces.n == 0 && s->networks.n == 0) {
        /* KubeVirt's default: one interface on the pod network, unless
         * autoattachPodInterface is false. */
        if (dev->autoattach_pod_interface.set && !dev->autoattach_pod_interface.v)
            return;
        p->ifaces = xcalloc(1, sizeof(*p->ifaces));
        p->ifaces[0] = (struct domxml_iface){.model = "virtio", .alias = "ua-default"};
        p->nifaces = 1;
        return;
    }
    p->ifaces = xcalloc(dev->interfaces.n, sizeof(*p->ifaces));
    for (size_t i = 0; i < dev->interfaces.n; i++) {
        const struct iface *f = &dev->interfaces.v[i];

        p->ifaces[p->nifaces++] = (struct domxml_iface){
            .mac = f->mac_address ? plan_keep(p, mac_colons(f->mac_address)) : NULL,
            .model = f->model ? f->model : "virtio",
            .boot_order = f->boot_order.set ? (unsigned) f->boot_order.v : 0,
            .alias = plan_keep(p, xasprintf("ua-%s", f->name)),
        };
    }
}

/* ---- files ---- */

static const struct secret *
objs_secret(void *opaque, const char *ns, const char *name)
{
    const struct materialize_objects *objs = opaque;

    return objs && objs->secret ? objs->secret(objs->opaque, ns, name) : NULL;
}

static int
make_cloud_init(const struct plan_disk *k, const struct vmi_spec *s, const struct replica_id *id,
                const struct materialize_objects *objs, struct vmirs_err **err)
{
    bool config_drive = k->vol->kind == VOL_CLOUD_INIT_CONFIG_DRIVE;
    const struct cloud_init_src *ci =
        config_drive ? k->vol->cloud_init_config_drive : k->vol->cloud_init_nocloud;
    struct cloudinit_data data;
    int rc;

    if (cloudinit_resolve(ci, id->namespace, objs_secret, (void *) objs, &data, err) < 0)
        return -1;
    rc = cloudinit_write_seed(k->source, config_drive, id->firmware_uuid,
                              s->hostname ? s->hostname : id->vmi_name, &data, err);
    cloudinit_data_free(&data);
    return rc;
}

/* The files of a configMap or secret volume, one per key; the data is
 * borrowed from the object except for decoded binaryData. */
struct object_files {
    struct seediso_file *files;
    size_t n;
    char **decoded;
    size_t ndecoded;
    const char *label;
};

static void
object_files_free(struct object_files *of)
{
    /* One slot per binaryData key; a key that failed to decode stays NULL. */
    for (size_t i = 0; i < of->ndecoded; i++)
        free(of->decoded[i]);
    free(of->decoded);
    free(of->files);
    memset(of, 0, sizeof(*of));
}

static int
object_files_collect(const struct volume *v, const struct replica_id *id,
                     const struct materialize_objects *objs, struct object_files *of,
                     struct vmirs_err **err)
{
    memset(of, 0, sizeof(*of));
    if (v->config_map) {
        const struct config_map *cm =
            objs ? objs->config_map(objs->opaque, id->namespace, v->config_map->name) : NULL;

        of->label = v->config_map->volume_label ? v->config_map->volume_label : "cfgdata";
        if (!cm && !(v->config_map->optional.set && v->config_map->optional.v))
            return err_set(err, 0, "ConfigMap \"%s/%s\" not found", id->namespace,
                           v->config_map->name);
        if (cm) {
            of->files = xcalloc(cm->data.n + cm->binary_data.n, sizeof(*of->files));
            of->decoded = xcalloc(cm->binary_data.n, sizeof(char *));
            of->ndecoded = cm->binary_data.n;
            for (size_t i = 0; i < cm->data.n; i++)
                of->files[of->n++] = (struct seediso_file){cm->data.v[i].key, cm->data.v[i].value,
                                                           strlen(cm->data.v[i].value)};
            for (size_t i = 0; i < cm->binary_data.n; i++) {
                size_t len = 0;

                if (base64_decode(cm->binary_data.v[i].value, &of->decoded[i], &len) == 0)
                    of->files[of->n++] =
                        (struct seediso_file){cm->binary_data.v[i].key, of->decoded[i], len};
            }
        }
    } else if (v->secret) {
        const struct secret *se =
            objs ? objs->secret(objs->opaque, id->namespace, v->secret->secret_name) : NULL;

        of->label = v->secret->volume_label ? v->secret->volume_label : "cfgdata";
        if (!se && !(v->secret->optional.set && v->secret->optional.v))
            return err_set(err, 0, "Secret \"%s/%s\" not found", id->namespace,
                           v->secret->secret_name);
        if (se) {
            of->files = xcalloc(se->items.n, sizeof(*of->files));
            for (size_t i = 0; i < se->items.n; i++)
                of->files[of->n++] = (struct seediso_file){se->items.v[i].key, se->items.v[i].value,
                                                           se->items.v[i].len};
        }
    }
    return 0;
}

static int
make_config_iso(const struct plan_disk *k, const struct replica_id *id,
                const struct materialize_objects *objs, struct vmirs_err **err)
{
    struct object_files of;
    int rc = object_files_collect(k->vol, id, objs, &of, err);

    if (rc == 0)
        rc = seediso_write(k->source, of.label, of.files, of.n, err);
    object_files_free(&of);
    return rc;
}

/* A virtiofs volume's directory: the object's keys as files (0400: the
 * guest sees them through virtiofsd, which runs as root), or empty for
 * an emptyDisk. Key names were validated as file names. */
static int
make_fs_dir(const struct plan_fs *f, const struct replica_id *id,
            const struct materialize_objects *objs, struct vmirs_err **err)
{
    struct object_files of;
    int rc;

    if (mkdir(f->dir, 0700) < 0)
        return err_set(err, errno, "create directory %s", f->dir);
    rc = object_files_collect(f->vol, id, objs, &of, err);
    for (size_t i = 0; rc == 0 && i < of.n; i++) {
        cleanup_free char *path = xasprintf("%s/%s", f->dir, of.files[i].name);

        if (write_file_atomic(path, of.files[i].data, of.files[i].len, 0400) < 0)
            rc = err_set(err, errno, "write %s", path);
    }
    object_files_free(&of);
    return rc;
}

static const char *
format_name(enum disk_format f)
{
    return f == DISK_FORMAT_QCOW2 ? "qcow2" : "raw";
}

/* Give each planned disk its file; create it unless dry_run. */
static int
plan_files(struct plan *p, const struct vmirs_conf *conf, const struct vmi_spec *s,
           const struct replica_id *id, const struct materialize_objects *objs, const char *dir,
           bool dry_run, struct vmirs_err **err)
{
    cleanup_free char *cache = xasprintf("%s/cache", conf->state_dir);

    for (size_t i = 0; i < p->ndisks; i++) {
        struct plan_disk *k = &p->disks[i];
        const struct volume *v = k->vol;
        int rc = 0;

        switch (v->kind) {
        case VOL_CONTAINER_DISK: {
            struct image_disk img = {0};

            if (image_resolve(conf->image_dir, cache, v->container_disk->image,
                              v->container_disk->path, &img, err) < 0)
                return err_wrap(err, "volume `%s`", v->name);
            if (objs && objs->image_used)
                objs->image_used(objs->opaque, &img);
            k->source = xasprintf("%s/%s.qcow2", dir, v->name);
            k->format = "qcow2";
            k->backing = steal_ptr(&img.path);
            k->backing_format = format_name(img.format);
            image_disk_free(&img);
            if (!dry_run)
                rc = volume_overlay_create(k->source, k->backing, k->backing_format, err);
            break;
        }
        case VOL_EPHEMERAL: {
            const char *claim = v->ephemeral->persistent_volume_claim.claim_name;
            enum disk_format fmt;
            uint64_t size;

            k->backing = xasprintf("%s/%s", conf->claim_dir, claim);
            if (image_probe_disk(k->backing, &fmt, &size, err) < 0)
                return err_wrap(err, "volume `%s`: claim `%s`", v->name, claim);
            k->source = xasprintf("%s/%s.qcow2", dir, v->name);
            k->format = "qcow2";
            k->backing_format = format_name(fmt);
            if (!dry_run)
                rc = volume_overlay_create(k->source, k->backing, k->backing_format, err);
            break;
        }
        case VOL_EMPTY_DISK:
            k->source = xasprintf("%s/%s.qcow2", dir, v->name);
            k->format = "qcow2";
            if (!dry_run)
                rc = volume_empty_disk_create(k->source, (uint64_t) v->empty_disk->capacity.value,
                                              err);
            break;
        case VOL_CLOUD_INIT_NOCLOUD:
        case VOL_CLOUD_INIT_CONFIG_DRIVE:
            k->source = xasprintf("%s/%s.iso", dir, v->name);
            k->format = "raw";
            if (!dry_run)
                rc = make_cloud_init(k, s, id, objs, err);
            break;
        case VOL_CONFIG_MAP:
        case VOL_SECRET:
            k->source = xasprintf("%s/%s.iso", dir, v->name);
            k->format = "raw";
            if (!dry_run)
                rc = make_config_iso(k, id, objs, err);
            break;
        case VOL_NONE:
            return err_set(err, 0, "volume `%s` has no source", v->name);
        }
        if (rc < 0)
            return err_wrap(err, "volume `%s`", v->name);
    }
    for (size_t i = 0; i < p->nfss && !dry_run; i++)
        if (make_fs_dir(&p->fss[i], id, objs, err) < 0)
            return err_wrap(err, "volume `%s`", p->fss[i].vol->name);
    return 0;
}

/* One file of a kernelBoot container image, extracted once per image
 * digest into the image cache, as a containerDisk's disk is. */
static int
resolve_boot_file(const struct vmirs_conf *conf, const struct materialize_objects *objs,
                  const char *image, const char *path, char **out, struct vmirs_err **err)
{
    cleanup_free char *cache = xasprintf("%s/cache", conf->state_dir);
    struct image_disk img = {0};

    if (image_resolve(conf->image_dir, cache, image, path, &img, err) < 0)
        return -1;
    if (objs && objs->image_used)
        objs->image_used(objs->opaque, &img);
    *out = steal_ptr(&img.path);
    image_disk_free(&img);
    return 0;
}

static int
plan_kernel(struct plan *p, const struct vmirs_conf *conf, const struct vmi_spec *s,
            const struct materialize_objects *objs, struct vmirs_err **err)
{
    const struct firmware *fw = s->domain.firmware;
    const struct kernel_boot_container *k =
        fw && fw->kernel_boot ? fw->kernel_boot->container : NULL;

    if (!k)
        return 0;
    if (k->kernel_path &&
        resolve_boot_file(conf, objs, k->image, k->kernel_path, &p->kernel, err) < 0)
        return err_wrap(err, "firmware.kernelBoot kernelPath");
    if (k->initrd_path &&
        resolve_boot_file(conf, objs, k->image, k->initrd_path, &p->initrd, err) < 0)
        return err_wrap(err, "firmware.kernelBoot initrdPath");
    return 0;
}

/* ---- the domain ---- */

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

int
materialize_replica(const struct vmirs_conf *conf, const char *domain_type, const struct vmirs *v,
                    const struct materialize_objects *objs, struct replica_id *id, bool dry_run,
                    char **xml, struct vmirs_err **err)
{
    const struct vmi_spec *s = &v->spec.template->spec;
    const struct domain_spec *d = &s->domain;
    const struct features *f = d->features;
    const struct efi *efi =
        d->firmware && d->firmware->bootloader ? d->firmware->bootloader->efi : NULL;
    cleanup_free char *dir = NULL, *nvram = NULL, *serial_log = NULL;
    struct domxml_disk *xdisks = NULL;
    struct domxml_fs *xfss = NULL;
    struct plan p = {0};
    struct domxml x = {0};
    int rc = -1;

    /* The test driver runs no QEMU: nothing would write a console log. */
    bool console_log = strcmp(domain_type, "test") != 0;
    /* A replica without files gets no directory: creating and removing
     * one per replica is most of the filesystem work of a burst. */
    bool needs_dir = s->volumes.n > 0 || efi || console_log;

    if (dry_run || !needs_dir)
        dir = xasprintf("%s/replicas/%s", conf->state_dir, id->domain_name);
    else if (volume_replica_dir_create(conf->state_dir, id->domain_name, &dir, err) < 0)
        return err_wrap(err, "replica `%s`", id->domain_name);
    else
        id->made_dir = true;

    plan_disks(&p, s);
    plan_filesystems(&p, s, dir);
    plan_ifaces(&p, s);
    if (plan_kernel(&p, conf, s, objs, err) < 0 ||
        plan_files(&p, conf, s, id, objs, dir, dry_run, err) < 0) {
        err_wrap(err, "replica `%s`", id->domain_name);
        goto out;
    }

    x.type = domain_type;
    x.name = id->domain_name;
    x.uuid = id->firmware_uuid;
    x.serial = d->firmware ? d->firmware->serial : NULL;
    x.memory_bytes = (uint64_t) vmi_guest_memory(s);
    fill_cpu(&x, d, domain_type);
    x.machine = d->machine.type ? d->machine.type : "q35";
    x.acpi = !(f && f->acpi && f->acpi->enabled.set && !f->acpi->enabled.v);
    x.apic = f && f->apic && !(f->apic->enabled.set && !f->apic->enabled.v);
    x.efi = efi != NULL;
    x.secure_boot = efi && !(efi->secure_boot.set && !efi->secure_boot.v);
    /* Secure boot needs SMM; KubeVirt turns it on for it. */
    x.smm = (f && f->smm && !(f->smm->enabled.set && !f->smm->enabled.v)) || x.secure_boot;
    if (x.efi) {
        nvram = xasprintf("%s/efi_VARS.fd", dir);
        x.nvram = nvram;
    }
    x.clock_offset = d->clock && d->clock->timezone ? "timezone" : "utc";
    x.timezone = d->clock ? d->clock->timezone : NULL;
    x.clock_adjustment = d->clock && d->clock->utc ? d->clock->utc->offset_seconds.v : 0;
    xdisks = xcalloc(p.ndisks, sizeof(*xdisks));
    for (size_t i = 0; i < p.ndisks; i++) {
        const struct plan_disk *k = &p.disks[i];

        xdisks[i] = (struct domxml_disk){
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
        x.scsi_controller = x.scsi_controller || strcmp(k->bus, "scsi") == 0;
    }
    x.disks = xdisks;
    x.ndisks = p.ndisks;
    xfss = xcalloc(p.nfss ? p.nfss : 1, sizeof(*xfss));
    for (size_t i = 0; i < p.nfss; i++)
        xfss[i] = (struct domxml_fs){.dir = p.fss[i].dir, .tag = p.fss[i].vol->name};
    x.filesystems = xfss;
    x.nfilesystems = p.nfss;
    x.virtiofsd = VIRTIOFSD_PATH;
    x.rng = d->devices.rng != NULL;
    x.kernel = p.kernel;
    x.initrd = p.initrd;
    x.cmdline =
        p.kernel && d->firmware->kernel_boot->kernel_args && *d->firmware->kernel_boot->kernel_args
            ? d->firmware->kernel_boot->kernel_args
            : NULL;
    x.ifaces = p.ifaces;
    x.nifaces = p.nifaces;
    x.network = conf->network;
    x.serial_console =
        !(d->devices.autoattach_serial_console.set && !d->devices.autoattach_serial_console.v);
    if (x.serial_console && console_log) {
        serial_log = xasprintf("%s/serial.log", dir);
        x.serial_log = serial_log;
    }
    x.memballoon = !(d->devices.autoattach_mem_balloon.set && !d->devices.autoattach_mem_balloon.v);
    x.vmirs_namespace = id->namespace;
    x.vmirs_name = id->vmirs_name;
    x.vmirs_uid = id->vmirs_uid;
    x.vmi_name = id->vmi_name;
    x.vmi_uid = id->vmi_uid;
    x.template_hash = id->template_hash;
    x.slot = id->slot;
    x.ports = id->ports;
    x.nports = id->nports;
    x.labels = &v->spec.template->metadata.labels;
    rc = domxml_build(&x, xml, err);

out:
    if (rc < 0 && id->made_dir) {
        struct vmirs_err *ignored = NULL;

        /* Leave nothing behind for a replica that will not exist. */
        volume_replica_dir_remove(conf->state_dir, id->domain_name, &ignored);
        err_free(&ignored);
        id->made_dir = false;
    }
    free(xdisks);
    free(xfss);
    plan_free(&p);
    return rc;
}

int
materialize_remove(const struct vmirs_conf *conf, const char *domain_name, struct vmirs_err **err)
{
    return volume_replica_dir_remove(conf->state_dir, domain_name, err);
}
