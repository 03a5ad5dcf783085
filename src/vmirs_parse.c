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
    size_t saved;
    int op;

    if (r->key && kvalid_label_key(r->key, &why) < 0) {
        saved = ypath_push_key(c, "key");
        yerror(c, ymap_get(c, map, "key", NULL), "Invalid value: \"%s\": %s", r->key, why);
        ypath_pop(c, saved);
    }
    if (!r->op)
        return;
    op = sel_op_parse(r->op);
    saved = ypath_push_key(c, "operator");
    if (op < 0)
        yerror(c, ymap_get(c, map, "operator", NULL),
               "Unsupported value: \"%s\": supported values: \"In\", \"NotIn\", \"Exists\", "
               "\"DoesNotExist\"",
               r->op);
    ypath_pop(c, saved);
    saved = ypath_push_key(c, "values");
    if ((op == SEL_IN || op == SEL_NOT_IN) && r->values.n == 0)
        yerror(c, ymap_get(c, map, "values", NULL) ? ymap_get(c, map, "values", NULL) : map,
               "Required value: must be specified when `operator` is 'In' or 'NotIn'");
    if ((op == SEL_EXISTS || op == SEL_DOES_NOT_EXIST) && r->values.n > 0)
        yerror(c, ymap_get(c, map, "values", NULL),
               "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
    for (size_t i = 0; i < r->values.n; i++) {
        cleanup_free char *vwhy = NULL;

        if (kvalid_label_value(r->values.v[i], &vwhy) < 0) {
            yaml_node_t *seq = ymap_get(c, map, "values", NULL);
            size_t s2 = ypath_push_index(c, i);

            yerror(c, ynode(c, seq->data.sequence.items.start[i]), "Invalid value: \"%s\": %s",
                   r->values.v[i], vwhy);
            ypath_pop(c, s2);
        }
    }
    ypath_pop(c, saved);
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

static yaml_node_t *
dig(struct yctx *c, yaml_node_t *n, const char *const *keys)
{
    for (; n && *keys; keys++)
        n = ymap_get(c, n, *keys, NULL);
    return n;
}

/* Report at a node found by keys from root, with the path set to them. */
static void report_at(struct yctx *c, yaml_node_t *root, const char *const *keys, bool warning,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
report_at(struct yctx *c, yaml_node_t *root, const char *const *keys, bool warning, const char *fmt,
          ...)
{
    cleanup_free char *msg = NULL;
    size_t saved = c->plen;
    yaml_node_t *at = dig(c, root, keys);
    va_list ap;

    for (const char *const *k = keys; *k; k++)
        ypath_push_key(c, *k);
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    if (warning)
        ywarning(c, at ? at : root, "%s", msg ? msg : "?");
    else
        yerror(c, at ? at : root, "%s", msg ? msg : "?");
    ypath_pop(c, saved);
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
        report_at(
            c, root,
            (const char *[]){"spec", "template", "spec", "domain", "firmware", "uuid", NULL}, true,
            "pinned in a template with %lld replicas: every replica would get the same SMBIOS UUID "
            "and cloud-init instance-id; remove it to get one per replica",
            (long long) n);
    for (size_t i = 0; i < s->domain.devices.interfaces.n; i++) {
        const struct iface *f = &s->domain.devices.interfaces.v[i];
        yaml_node_t *seq = dig(
            c, root,
            (const char *[]){"spec", "template", "spec", "domain", "devices", "interfaces", NULL});
        size_t saved;

        if (!f->mac_address || !seq || seq->type != YAML_SEQUENCE_NODE)
            continue;
        saved = ypath_push_key(c, "spec.template.spec.domain.devices.interfaces");
        ypath_push_index(c, i);
        ypath_push_key(c, "macAddress");
        ywarning(c, ymap_get(c, ynode(c, seq->data.sequence.items.start[i]), "macAddress", NULL),
                 "pinned in a template with %lld replicas: every replica would get the same MAC "
                 "address; "
                 "remove it to get one per replica",
                 (long long) n);
        ypath_pop(c, saved);
    }
}

static void
vmirs_check(struct yctx *c, yaml_node_t *root, void *obj)
{
    struct vmirs *v = obj;
    const struct labels *tl;
    cleanup_free char *sel = NULL;

    if (!v->metadata.name && ymap_get(c, root, "metadata", NULL))
        report_at(c, root, (const char *[]){"metadata", NULL}, false,
                  "Required value: name is required");
    if (!v->metadata.namespace)
        v->metadata.namespace = xstrdup("default");
    if (ymap_get(c, root, "spec", NULL))
        v->spec_json = ynode_canonical_json(c, ymap_get(c, root, "spec", NULL));
    if (v->spec.template) {
        yaml_node_t *t = dig(c, root, (const char *[]){"spec", "template", NULL});
        cleanup_free char *canon = ynode_canonical_json(c, t);
        char hex[65];

        /* Replicas record the hash they were made from: a new hash marks
         * the older replicas out of date. 64 bits are plenty for that. */
        sha256_hex(canon, strlen(canon), hex);
        v->template_hash = xstrndup(hex, 16);
    }

    v->selector_mismatch = true;
    if (!v->spec.selector && ymap_get(c, root, "spec", NULL)) {
        size_t saved = ypath_push_key(c, "spec.selector");

        yerror(c, ymap_get(c, root, "spec", NULL), "Required value");
        ypath_pop(c, saved);
        v->selector_errors++;
    }
    if (!v->spec.selector || !v->spec.template)
        return;
    if (!selector_complete(v->spec.selector))
        return;
    selector_convert(v->spec.selector, &v->selector);
    tl = &v->spec.template->metadata.labels;
    if (tl->n == 0) {
        report_at(c, root, (const char *[]){"spec", "template", "metadata", NULL}, false,
                  "Required value: labels: the template needs labels for spec.selector to match");
        v->selector_errors++;
        return;
    }
    sel = selector_string(&v->selector);
    if (!selector_matches(&v->selector, tl)) {
        report_at(c, root, (const char *[]){"spec", "selector", NULL}, false,
                  "Invalid value: \"%s\": selector does not match template labels", sel);
        v->selector_errors++;
        return;
    }
    v->selector_mismatch = false;
    check_pinned_identity(c, root, v);
}
