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
#include "replica_domxml.h"
#include "seediso.h"
#include "util.h"
#include "volume.h"

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

/* ---- files ---- */

static const struct secret *
objs_secret(void *opaque, const char *ns, const char *name)
{
    const struct materialize_objects *objs = opaque;

    return objs && objs->secret ? objs->secret(objs->opaque, ns, name) : NULL;
}

static int
make_cloud_init(const struct replica_disk *k, const struct vmi_spec *s, const struct replica_id *id,
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
make_config_iso(const struct replica_disk *k, const struct replica_id *id,
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
make_fs_dir(const struct replica_fs *f, const struct replica_id *id,
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

/* What disk k is made from, found before its file is made: the image's
 * disk for a containerDisk (which may fill the image cache), the claim
 * and its format for an ephemeral volume. Reads, and writes only the
 * image cache. */
static int
resolve_disk(struct replica_disk *k, const struct vmirs_conf *conf,
             const struct materialize_objects *objs, struct vmirs_err **err)
{
    const struct volume *v = k->vol;

    switch (v->kind) {
    case VOL_CONTAINER_DISK: {
        cleanup_free char *cache = xasprintf("%s/cache", conf->state_dir);
        struct image_disk img = {0};

        if (image_resolve(conf->image_dir, cache, v->container_disk->image, v->container_disk->path,
                          &img, err) < 0)
            return err_wrap(err, "volume `%s`", v->name);
        if (objs && objs->image_used)
            objs->image_used(objs->opaque, &img);
        k->backing = steal_ptr(&img.path);
        k->backing_format = format_name(img.format);
        image_disk_free(&img);
        return 0;
    }
    case VOL_EPHEMERAL: {
        const char *claim = v->ephemeral->persistent_volume_claim.claim_name;
        enum disk_format fmt;
        uint64_t size;

        k->backing = xasprintf("%s/%s", conf->claim_dir, claim);
        if (image_probe_disk(k->backing, &fmt, &size, err) < 0)
            return err_wrap(err, "volume `%s`: claim `%s`", v->name, claim);
        k->backing_format = format_name(fmt);
        return 0;
    }
    case VOL_NONE:
        return err_set(err, 0, "volume `%s` has no source", v->name);
    default:
        return 0;
    }
}

/* Make disk k's file, resolved already. */
static int
make_disk(const struct replica_disk *k, const struct vmi_spec *s, const struct replica_id *id,
          const struct materialize_objects *objs, struct vmirs_err **err)
{
    const struct volume *v = k->vol;
    int rc = 0;

    switch (v->kind) {
    case VOL_CONTAINER_DISK:
    case VOL_EPHEMERAL:
        rc = volume_overlay_create(k->source, k->backing, k->backing_format, err);
        break;
    case VOL_EMPTY_DISK:
        rc = volume_empty_disk_create(k->source, (uint64_t) v->empty_disk->capacity.value, err);
        break;
    case VOL_CLOUD_INIT_NOCLOUD:
    case VOL_CLOUD_INIT_CONFIG_DRIVE:
        rc = make_cloud_init(k, s, id, objs, err);
        break;
    case VOL_CONFIG_MAP:
    case VOL_SECRET:
        rc = make_config_iso(k, id, objs, err);
        break;
    case VOL_NONE:
        break; /* refused by resolve_disk */
    }
    return rc < 0 ? err_wrap(err, "volume `%s`", v->name) : 0;
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
resolve_kernel(struct replica_domxml *r, const struct vmirs_conf *conf, const struct vmi_spec *s,
               const struct materialize_objects *objs, struct vmirs_err **err)
{
    const struct firmware *fw = s->domain.firmware;
    const struct kernel_boot_container *k =
        fw && fw->kernel_boot ? fw->kernel_boot->container : NULL;

    if (!k)
        return 0;
    if (k->kernel_path &&
        resolve_boot_file(conf, objs, k->image, k->kernel_path, &r->kernel, err) < 0)
        return err_wrap(err, "firmware.kernelBoot kernelPath");
    if (k->initrd_path &&
        resolve_boot_file(conf, objs, k->image, k->initrd_path, &r->initrd, err) < 0)
        return err_wrap(err, "firmware.kernelBoot initrdPath");
    return 0;
}

/* Every image and claim a replica uses, resolved in the order
 * make_files resolves them: what --render needs of the disk. */
static int
resolve_all(struct replica_domxml *r, const struct vmirs_conf *conf, const struct vmi_spec *s,
            const struct materialize_objects *objs, struct vmirs_err **err)
{
    if (resolve_kernel(r, conf, s, objs, err) < 0)
        return -1;
    for (size_t i = 0; i < r->ndisks; i++)
        if (resolve_disk(&r->disks[i], conf, objs, err) < 0)
            return -1;
    return 0;
}

/* A replica's files. Each disk is resolved just before its file is made,
 * so the first problem in disk order is the one reported. */
static int
make_files(struct replica_domxml *r, const struct vmirs_conf *conf, const struct vmi_spec *s,
           const struct replica_id *id, const struct materialize_objects *objs,
           struct vmirs_err **err)
{
    if (resolve_kernel(r, conf, s, objs, err) < 0)
        return -1;
    for (size_t i = 0; i < r->ndisks; i++)
        if (resolve_disk(&r->disks[i], conf, objs, err) < 0 ||
            make_disk(&r->disks[i], s, id, objs, err) < 0)
            return -1;
    for (size_t i = 0; i < r->nfss; i++)
        if (make_fs_dir(&r->fss[i], id, objs, err) < 0)
            return err_wrap(err, "volume `%s`", r->fss[i].vol->name);
    return 0;
}

/* The XML of a replica laid out and resolved. */
static int
write_xml(struct replica_domxml *r, const struct vmirs_conf *conf, const char *domain_type,
          const struct vmirs *v, const struct replica_id *id, char **xml, struct vmirs_err **err)
{
    replica_domxml_fill(r, domain_type, conf->network, v, id);
    return domxml_build(&r->x, xml, err);
}

int
materialize_render(const struct vmirs_conf *conf, const char *domain_type, const struct vmirs *v,
                   const struct materialize_objects *objs, const struct replica_id *id, char **xml,
                   struct vmirs_err **err)
{
    const struct vmi_spec *s = &v->spec.template->spec;
    cleanup_free char *dir = xasprintf("%s/replicas/%s", conf->state_dir, id->domain_name);
    struct replica_domxml r;
    int rc;

    replica_domxml_layout(&r, s, dir);
    if (resolve_all(&r, conf, s, objs, err) < 0)
        rc = err_wrap(err, "replica `%s`", id->domain_name);
    else
        rc = write_xml(&r, conf, domain_type, v, id, xml, err);
    replica_domxml_free(&r);
    return rc;
}

int
materialize_replica(const struct vmirs_conf *conf, const char *domain_type, const struct vmirs *v,
                    const struct materialize_objects *objs, struct replica_id *id, char **xml,
                    struct vmirs_err **err)
{
    const struct vmi_spec *s = &v->spec.template->spec;
    cleanup_free char *dir = NULL;
    struct replica_domxml r;
    int rc;

    if (!replica_domxml_needs_dir(s, domain_type))
        dir = xasprintf("%s/replicas/%s", conf->state_dir, id->domain_name);
    else if (volume_replica_dir_create(conf->state_dir, id->domain_name, &dir, err) < 0)
        return err_wrap(err, "replica `%s`", id->domain_name);
    else
        id->made_dir = true;

    replica_domxml_layout(&r, s, dir);
    if (make_files(&r, conf, s, id, objs, err) < 0)
        rc = err_wrap(err, "replica `%s`", id->domain_name);
    else
        rc = write_xml(&r, conf, domain_type, v, id, xml, err);
    if (rc < 0 && id->made_dir) {
        struct vmirs_err *ignored = NULL;

        /* Leave nothing behind for a replica that will not exist. */
        volume_replica_dir_remove(conf->state_dir, id->domain_name, &ignored);
        err_free(&ignored);
        id->made_dir = false;
    }
    replica_domxml_free(&r);
    return rc;
}

int
materialize_remove(const struct vmirs_conf *conf, const char *domain_name, struct vmirs_err **err)
{
    return volume_replica_dir_remove(conf->state_dir, domain_name, err);
}
