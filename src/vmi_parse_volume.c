/* The schema of spec.volumes: the sources vmirsd realises per replica
 * (containerDisk, cloud-init, emptyDisk, ephemeral, configMap, secret),
 * and the shared or unsupported ones it refuses with the reason. */
#include "config.h"

#include "vmi_parse.h"

#include <string.h>

#include "base64.h"
#include "schema_macros.h"
#include "util.h"
#include "vmi_parse_int.h"

/* Why writable shared volumes are refused: every replica would write the
 * same storage at once (the KubeVirt user guide's data-corruption warning). */
#define SHARED_WRITABLE_REASON                                                                     \
    "writable shared storage in a replica set corrupts data: every replica would write the same "  \
    "volume; use containerDisk, ephemeral, emptyDisk, cloudInitNoCloud, cloudInitConfigDrive, "    \
    "configMap or secret"
#define UNSUPPORTED_VOLUME_REASON                                                                  \
    "this volume type is not supported by vmirsd; use containerDisk, ephemeral, emptyDisk, "       \
    "cloudInitNoCloud, cloudInitConfigDrive, configMap or secret"

static const struct yfield container_disk_fields[] = {
    F_STR(struct container_disk_src, "image", image, .flags = YFL_REQUIRED | YFL_NONEMPTY),
    F_STR(struct container_disk_src, "path", path),
    F_ENUM(struct container_disk_src, "imagePullPolicy", image_pull_policy, vmi_pull_policy_names),
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
const struct yschema vmi_volume_schema =
    YSCHEMA(struct volume, volume_fields, offsetof(struct volume, pos), volume_check);
