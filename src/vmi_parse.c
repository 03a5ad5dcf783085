/* The VMI template's schema, top down: metadata, spec.template and its
 * spec, whose parts live beside this file: vmi_parse_domain.c (the
 * domain and its devices), vmi_parse_network.c (interfaces and
 * networks), vmi_parse_volume.c, vmi_parse_probe.c, and
 * vmi_parse_check.c (the spec's cross references). */
#include "config.h"

#include "vmi_parse.h"

#include <stdlib.h>
#include <string.h>

#include "kvalid.h"
#include "schema_macros.h"
#include "util.h"
#include "vmi_parse_int.h"

const char *const vmi_bus_names[] = {"virtio", "sata", "scsi", "usb", NULL};
const char *const vmi_cache_names[] = {"none", "writethrough", "writeback", NULL};
const char *const vmi_pull_policy_names[] = {"Always", "IfNotPresent", "Never", NULL};

static const struct yfield empty_fields[] = {
    F_ACCEPT("_"), /* never present: the struct exists to be present */
};
const struct yschema vmi_empty_schema = YSCHEMA(struct empty_binding, empty_fields, NOPOS, NULL);

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

/* ---- the VMI spec and its cross-field rules ---- */

static const struct yfield vmi_spec_fields[] = {
    F_STRUCT(struct vmi_spec, "domain", domain, vmi_domain_schema, .flags = YFL_REQUIRED),
    F_ARRAY(struct vmi_spec, "volumes", volumes, vmi_volume_schema),
    F_ARRAY(struct vmi_spec, "networks", networks, vmi_network_schema),
    F_STR(struct vmi_spec, "hostname", hostname, .flags = YFL_DNS_LABEL),
    F_STR(struct vmi_spec, "subdomain", subdomain, .flags = YFL_DNS_LABEL),
    F_INT(struct vmi_spec, "terminationGracePeriodSeconds", termination_grace_period_seconds, 0,
          INT32_MAX),
    F_PSTRUCT(struct vmi_spec, "readinessProbe", readiness_probe, vmi_probe_schema),
    F_PSTRUCT(struct vmi_spec, "livenessProbe", liveness_probe, vmi_probe_schema),
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
