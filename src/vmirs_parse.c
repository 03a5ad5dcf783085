#include "config.h"

#include "vmirs_parse.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kvalid.h"
#include "schema_macros.h"
#include "util.h"
#include "vmi_parse.h"

static void sel_req_check(struct yctx *c, yaml_node_t *map, void *obj);

static const struct yfield sel_req_fields[] = {
    F_STR(struct label_selector_req, "key", key, .flags = YFL_REQUIRED),
    F_STR(struct label_selector_req, "operator", op, .flags = YFL_REQUIRED),
    F_STRARRAY(struct label_selector_req, "values", values),
};
static const struct yschema sel_req_schema =
    YSCHEMA(struct label_selector_req, sel_req_fields, NOPOS, sel_req_check);

static const char *const sel_op_names[] = {"In", "NotIn", "Exists", "DoesNotExist", NULL};

static int
sel_op_parse(const char *s)
{
    for (int i = 0; sel_op_names[i]; i++)
        if (streq0(s, sel_op_names[i]))
            return i;
    return -1;
}

static void
sel_req_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    struct label_selector_req *r = obj;
    cleanup_free char *why = NULL;
    int op;

    if (r->key && kvalid_label_key(r->key, &why) < 0)
        yerror_at(c, map, YPATH("key"), "Invalid value: \"%s\": %s", r->key, why);
    if (!r->op)
        return;
    op = sel_op_parse(r->op);
    if (op < 0)
        yerror_at(c, map, YPATH("operator"),
                  "Unsupported value: \"%s\": supported values: \"In\", \"NotIn\", \"Exists\", "
                  "\"DoesNotExist\"",
                  r->op);
    if ((op == SEL_IN || op == SEL_NOT_IN) && r->values.n == 0)
        yerror_at(c, map, YPATH("values"),
                  "Required value: must be specified when `operator` is 'In' or 'NotIn'");
    if ((op == SEL_EXISTS || op == SEL_DOES_NOT_EXIST) && r->values.n > 0)
        yerror_at(c, map, YPATH("values"),
                  "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
    for (size_t i = 0; i < r->values.n; i++) {
        cleanup_free char *vwhy = NULL;
        char idx[32];

        snprintf(idx, sizeof(idx), "#%zu", i);
        if (kvalid_label_value(r->values.v[i], &vwhy) < 0)
            yerror_at(c, map, YPATH("values", idx), "Invalid value: \"%s\": %s", r->values.v[i],
                      vwhy);
    }
}

static const struct yfield label_selector_fields[] = {
    F_STRMAP(struct label_selector, "matchLabels", match_labels, .flags = YFL_LABELS),
    F_ARRAY(struct label_selector, "matchExpressions", match_expressions, sel_req_schema),
};
static const struct yschema label_selector_schema =
    YSCHEMA(struct label_selector, label_selector_fields, NOPOS, NULL);

static const struct yfield vmirs_spec_fields[] = {
    F_INT(struct vmirs_spec, "replicas", replicas, 0, INT32_MAX),
    /* Required, but reported by vmirs_check: vmirsd runs a VMIRS without
     * one as doing nothing (SelectorMismatch), so the error is counted. */
    F_PSTRUCT(struct vmirs_spec, "selector", selector, label_selector_schema),
    F_BOOL(struct vmirs_spec, "paused", paused),
    F_PSTRUCT(struct vmirs_spec, "template", template, vmi_template_schema, .flags = YFL_REQUIRED),
};
static const struct yschema vmirs_spec_schema =
    YSCHEMA(struct vmirs_spec, vmirs_spec_fields, NOPOS, NULL);

static void vmirs_check(struct yctx *c, yaml_node_t *root, void *obj);

static const struct yfield vmirs_fields[] = {
    F_STR(struct vmirs, "apiVersion", api_version),
    F_STR(struct vmirs, "kind", kind),
    F_STRUCT(struct vmirs, "metadata", metadata, objmeta_schema, .flags = YFL_REQUIRED),
    F_STRUCT(struct vmirs, "spec", spec, vmirs_spec_schema, .flags = YFL_REQUIRED),
    /* Written by a controller; a manifest saved with kubectl may carry it. */
    F_ACCEPT("status"),
};
const struct yschema vmirs_schema = YSCHEMA(struct vmirs, vmirs_fields, NOPOS, vmirs_check);

int64_t
vmirs_replicas(const struct vmirs *v)
{
    return v->spec.replicas.set ? v->spec.replicas.v : 1;
}

static void
selector_convert(const struct label_selector *in, struct selector *out)
{
    for (size_t i = 0; i < in->match_labels.n; i++)
        labels_set(&out->match_labels, in->match_labels.v[i].key, in->match_labels.v[i].value);
    out->exprs.v = xcalloc(in->match_expressions.n, sizeof(*out->exprs.v));
    for (size_t i = 0; i < in->match_expressions.n; i++) {
        const struct label_selector_req *r = &in->match_expressions.v[i];
        struct sel_req *o = &out->exprs.v[out->exprs.n++];

        o->key = xstrdup(r->key);
        o->op = (enum sel_op) sel_op_parse(r->op);
        o->values.v = xcalloc(r->values.n + 1, sizeof(char *));
        for (size_t j = 0; j < r->values.n; j++)
            o->values.v[o->values.n++] = xstrdup(r->values.v[j]);
    }
}

static bool
label_ok(const char *key, const char *value)
{
    cleanup_free char *why_key = NULL, *why_value = NULL;

    return key && kvalid_label_key(key, &why_key) == 0 &&
           (!value || kvalid_label_value(value, &why_value) == 0);
}

/* Whether the selector passed its own validation: one that did not (and
 * was reported) is never evaluated, as Kubernetes would not. */
static bool
selector_complete(const struct label_selector *s)
{
    for (size_t i = 0; i < s->match_labels.n; i++)
        if (!label_ok(s->match_labels.v[i].key, s->match_labels.v[i].value))
            return false;
    for (size_t i = 0; i < s->match_expressions.n; i++) {
        const struct label_selector_req *r = &s->match_expressions.v[i];
        int op = sel_op_parse(r->op);

        if (!label_ok(r->key, NULL) || op < 0)
            return false;
        if ((op == SEL_IN || op == SEL_NOT_IN) != (r->values.n > 0))
            return false;
        for (size_t j = 0; j < r->values.n; j++)
            if (!label_ok("k", r->values.v[j]))
                return false;
    }
    return true;
}

/* A template that pins identity gives every replica the same one. */
static void
check_pinned_identity(struct yctx *c, yaml_node_t *root, const struct vmirs *v)
{
    const struct vmi_spec *s = &v->spec.template->spec;
    int64_t n = vmirs_replicas(v);

    if (n <= 1)
        return;
    if (s->domain.firmware && s->domain.firmware->uuid)
        ywarning_at(
            c, root, YPATH("spec", "template", "spec", "domain", "firmware", "uuid"),
            "pinned in a template with %lld replicas: every replica would get the same SMBIOS UUID "
            "and cloud-init instance-id; remove it to get one per replica",
            (long long) n);
    for (size_t i = 0; i < s->domain.devices.interfaces.n; i++) {
        char idx[32];

        snprintf(idx, sizeof(idx), "#%zu", i);
        if (s->domain.devices.interfaces.v[i].mac_address)
            ywarning_at(c, root,
                        YPATH("spec", "template", "spec", "domain", "devices", "interfaces", idx,
                              "macAddress"),
                        "pinned in a template with %lld replicas: every replica would get the same "
                        "MAC address; remove it to get one per replica",
                        (long long) n);
    }
}

static void
vmirs_check(struct yctx *c, yaml_node_t *root, void *obj)
{
    struct vmirs *v = obj;
    const struct labels *tl;
    cleanup_free char *sel = NULL;

    if (!v->metadata.name && ymap_get(c, root, "metadata", NULL))
        yerror_at(c, root, YPATH("metadata"), "Required value: name is required");
    if (!v->metadata.namespace)
        v->metadata.namespace = xstrdup("default");
    if (ymap_get(c, root, "spec", NULL))
        v->spec_json = ynode_canonical_json(c, ymap_get(c, root, "spec", NULL));
    if (v->spec.template) {
        yaml_node_t *t = ynode_dig(c, root, YPATH("spec", "template"));
        cleanup_free char *canon = ynode_canonical_json(c, t);
        char hex[65];

        /* Replicas record the hash they were made from: a new hash marks
         * the older replicas out of date. 64 bits are plenty for that. */
        sha256_hex(canon, strlen(canon), hex);
        v->template_hash = xstrndup(hex, 16);
    }

    v->selector_mismatch = true;
    if (!v->spec.selector && ymap_get(c, root, "spec", NULL)) {
        /* At spec: there is no selector node to point at. */
        yerror_path(c, ymap_get(c, root, "spec", NULL), YPATH("spec", "selector"),
                    "Required value");
        v->selector_errors++;
    }
    if (!v->spec.selector || !v->spec.template)
        return;
    if (!selector_complete(v->spec.selector))
        return;
    selector_convert(v->spec.selector, &v->selector);
    tl = &v->spec.template->metadata.labels;
    if (tl->n == 0) {
        yerror_at(c, root, YPATH("spec", "template", "metadata"),
                  "Required value: labels: the template needs labels for spec.selector to match");
        v->selector_errors++;
        return;
    }
    sel = selector_string(&v->selector);
    if (!selector_matches(&v->selector, tl)) {
        yerror_at(c, root, YPATH("spec", "selector"),
                  "Invalid value: \"%s\": selector does not match template labels", sel);
        v->selector_errors++;
        return;
    }
    v->selector_mismatch = false;
    check_pinned_identity(c, root, v);
}
