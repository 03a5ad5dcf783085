#include "config.h"

#include "kobj_parse.h"

#include <arpa/inet.h>
#include <string.h>

#include "base64.h"
#include "kvalid.h"
#include "schema_macros.h"
#include "util.h"
#include "vmi_parse.h"

/* IsConfigMapKey: what may name a file of a ConfigMap or Secret volume. */
static const char *
config_key_problem(const char *k)
{
    if (!*k)
        return "a valid config key must be non-empty";
    if (strlen(k) > 253)
        return "must be no more than 253 characters";
    if (strcmp(k, ".") == 0)
        return "must not be '.'";
    if (strcmp(k, "..") == 0)
        return "must not be '..'";
    if (strncmp(k, "..", 2) == 0)
        return "must not start with '..'";
    for (const char *p = k; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return "a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
                   "(e.g. "
                   "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
                   "'[-._a-zA-Z0-9]+')";
    return NULL;
}

/* Check the keys of the mapping at key (data, binaryData, stringData);
 * base64 says whether the values must decode. */
static void
check_data_map(struct yctx *c, yaml_node_t *root, const char *key, bool base64)
{
    yaml_node_t *map = ymap_get(c, root, key, NULL);
    size_t saved;

    if (!map || map->type != YAML_MAPPING_NODE)
        return;
    saved = ypath_push_key(c, key);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = ynode(c, p->key), *v = ynode(c, p->value);
        const char *ks = yscalar(k), *why;
        size_t s2;

        if (!ks)
            continue;
        s2 = ypath_push_key(c, ks);
        why = config_key_problem(ks);
        if (why)
            yerror(c, k, "Invalid value: \"%s\": %s", ks, why);
        if (base64 && yscalar(v) && !yscalar_is_null(v)) {
            cleanup_free char *out = NULL;

            if (base64_decode(yscalar(v), &out, NULL) < 0)
                yerror(c, v, "Invalid value: not valid base64");
        }
        ypath_pop(c, s2);
    }
    ypath_pop(c, saved);
}

static void
check_disjoint(struct yctx *c, yaml_node_t *root, const char *a, const struct labels *la,
               const char *b, const struct labels *lb)
{
    yaml_node_t *mb = ymap_get(c, root, b, NULL);

    for (size_t i = 0; i < lb->n; i++) {
        yaml_node_t *kn = NULL;
        size_t saved;

        if (!labels_get(la, lb->v[i].key))
            continue;
        ymap_get(c, mb, lb->v[i].key, &kn);
        /* By hand, not yerror_path(): the key is the document's own and a
         * step such as "#3" would read as an index. */
        saved = ypath_push_key(c, b);
        ypath_push_key(c, lb->v[i].key);
        yerror(c, kn ? kn : mb, "Invalid value: \"%s\": duplicate of key present in %s",
               lb->v[i].key, a);
        ypath_pop(c, saved);
    }
}

static void
require_name(struct yctx *c, yaml_node_t *root, struct objmeta *m)
{
    yaml_node_t *md = ymap_get(c, root, "metadata", NULL);

    /* Without metadata at all, the walker has said so already. */
    if (!m->name && md)
        yerror_at(c, root, YPATH("metadata"), "Required value: name is required");
    if (!m->namespace)
        m->namespace = xstrdup("default");
}

/* ---- ConfigMap ---- */

static void
config_map_check(struct yctx *c, yaml_node_t *root, void *obj)
{
    struct config_map *cm = obj;

    require_name(c, root, &cm->metadata);
    check_data_map(c, root, "data", false);
    check_data_map(c, root, "binaryData", true);
    check_disjoint(c, root, "data", &cm->data, "binaryData", &cm->binary_data);
}

static const struct yfield config_map_fields[] = {
    F_STR(struct config_map, "apiVersion", api_version),
    F_STR(struct config_map, "kind", kind),
    F_STRUCT(struct config_map, "metadata", metadata, objmeta_schema, .flags = YFL_REQUIRED),
    F_STRMAP(struct config_map, "data", data),
    F_STRMAP(struct config_map, "binaryData", binary_data),
    F_BOOL(struct config_map, "immutable", immutable),
};
const struct yschema config_map_schema =
    YSCHEMA(struct config_map, config_map_fields, NOPOS, config_map_check);

/* ---- Secret ---- */

static void
secret_add_item(struct secret *s, const char *key, char *value, size_t len)
{
    for (size_t i = 0; i < s->items.n; i++) {
        if (strcmp(s->items.v[i].key, key) == 0) {
            free(s->items.v[i].value);
            s->items.v[i].value = value;
            s->items.v[i].len = len;
            return;
        }
    }
    s->items.v = xrealloc(s->items.v, (s->items.n + 1) * sizeof(*s->items.v));
    s->items.v[s->items.n++] = (struct secret_item){xstrdup(key), value, len};
}

static void
secret_check(struct yctx *c, yaml_node_t *root, void *obj)
{
    struct secret *s = obj;

    require_name(c, root, &s->metadata);
    check_data_map(c, root, "data", true);
    check_data_map(c, root, "stringData", false);
    /* stringData is merged over data, as the API server does on write. */
    for (size_t i = 0; i < s->data.n; i++) {
        char *out = NULL;
        size_t len = 0;

        if (base64_decode(s->data.v[i].value, &out, &len) == 0)
            secret_add_item(s, s->data.v[i].key, out, len);
    }
    for (size_t i = 0; i < s->string_data.n; i++)
        secret_add_item(s, s->string_data.v[i].key, xstrdup(s->string_data.v[i].value),
                        strlen(s->string_data.v[i].value));
}

static const struct yfield secret_fields[] = {
    F_STR(struct secret, "apiVersion", api_version),
    F_STR(struct secret, "kind", kind),
    F_STRUCT(struct secret, "metadata", metadata, objmeta_schema, .flags = YFL_REQUIRED),
    F_STRMAP(struct secret, "data", data),
    F_STRMAP(struct secret, "stringData", string_data),
    F_STR(struct secret, "type", type),
    F_BOOL(struct secret, "immutable", immutable),
};
const struct yschema secret_schema = YSCHEMA(struct secret, secret_fields, NOPOS, secret_check);

/* ---- Service ---- */

static const char *const service_types[] = {"ClusterIP", "NodePort", "LoadBalancer", "ExternalName",
                                            NULL};
static const char *const service_protocols[] = {"TCP", "UDP", "SCTP", NULL};

static void
service_port_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    struct service_port *p = obj;
    yaml_node_t *tp = ymap_get(c, map, "targetPort", NULL);

    if (p->protocol && strcmp(p->protocol, "TCP") != 0)
        ywarning_at(c, map, YPATH("protocol"),
                    "only TCP is proxied by vmirsd: this port is ignored");
    if (p->target_port.set && !p->target_port.is_str &&
        (p->target_port.i < 1 || p->target_port.i > 65535))
        yerror_path(c, tp, YPATH("targetPort"),
                    "Invalid value: %lld: must be between 1 and 65535, inclusive",
                    (long long) p->target_port.i);
}

static void
service_protocol_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    struct service_port *p = obj;

    if (p->protocol) {
        bool ok = false;

        for (int i = 0; service_protocols[i]; i++)
            ok = ok || strcmp(service_protocols[i], p->protocol) == 0;
        if (!ok) {
            yerror_at(c, map, YPATH("protocol"),
                      "Unsupported value: \"%s\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
                      p->protocol);
            return;
        }
    }
    service_port_check(c, map, obj);
}

static const struct yfield service_port_fields[] = {
    F_STR(struct service_port, "name", name, .flags = YFL_DNS_LABEL),
    F_STR(struct service_port, "protocol", protocol),
    F_INT(struct service_port, "port", port, 1, 65535, .flags = YFL_REQUIRED),
    F_INTORSTR(struct service_port, "targetPort", target_port),
    F_INT(struct service_port, "nodePort", node_port, 0, 65535),
    F_IGNORE("appProtocol"),
};
static const struct yschema service_port_schema =
    YSCHEMA(struct service_port, service_port_fields, NOPOS, service_protocol_check);

static void
service_spec_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    struct service_spec *s = obj;
    yaml_node_t *ports = ymap_get(c, map, "ports", NULL);

    if (s->cluster_ip && *s->cluster_ip && strcmp(s->cluster_ip, "None") != 0) {
        struct in_addr a;

        if (inet_pton(AF_INET, s->cluster_ip, &a) != 1)
            yerror_at(
                c, map, YPATH("clusterIP"),
                "Invalid value: \"%s\": must be a valid IPv4 address, (e.g. 10.9.8.7), \"None\" "
                "or empty",
                s->cluster_ip);
    }
    if (s->type && strcmp(s->type, "ClusterIP") != 0)
        ywarning_at(
            c, map, YPATH("type"),
            "vmirsd serves every Service as ClusterIP on the host; type \"%s\" is treated as "
            "ClusterIP",
            s->type);
    for (size_t i = 0; i < s->ports.n && s->ports.n > 1; i++) {
        yaml_node_t *el = ynode(c, ports->data.sequence.items.start[i]);
        char idx[32];

        snprintf(idx, sizeof(idx), "#%zu", i);
        /* At the port: it has no name node to point at. */
        if (!s->ports.v[i].name)
            yerror_path(c, el, YPATH("ports", idx, "name"),
                        "Required value: every port needs a name when a Service has several ports");
        for (size_t j = 0; j < i; j++) {
            if (s->ports.v[i].name && streq0(s->ports.v[i].name, s->ports.v[j].name)) {
                yerror_at(c, map, YPATH("ports", idx, "name"), "Duplicate value: \"%s\"",
                          s->ports.v[i].name);
                break;
            }
        }
    }
}

static void
service_type_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    struct service_spec *s = obj;

    if (s->type) {
        bool ok = false;

        for (int i = 0; service_types[i]; i++)
            ok = ok || strcmp(service_types[i], s->type) == 0;
        if (!ok) {
            yerror_at(
                c, map, YPATH("type"),
                "Unsupported value: \"%s\": supported values: \"ClusterIP\", \"ExternalName\", "
                "\"LoadBalancer\", \"NodePort\"",
                s->type);
            return;
        }
    }
    service_spec_check(c, map, obj);
}

static const struct yfield service_spec_fields[] = {
    F_STRMAP(struct service_spec, "selector", selector, .flags = YFL_LABELS),
    F_ARRAY(struct service_spec, "ports", ports, service_port_schema),
    F_STR(struct service_spec, "clusterIP", cluster_ip),
    F_STR(struct service_spec, "type", type),
    F_IGNORE("clusterIPs"),
    F_IGNORE("externalIPs"),
    F_IGNORE("sessionAffinity"),
    F_IGNORE("loadBalancerIP"),
    F_IGNORE("loadBalancerSourceRanges"),
    F_IGNORE("externalName"),
    F_IGNORE("externalTrafficPolicy"),
    F_IGNORE("healthCheckNodePort"),
    F_IGNORE("publishNotReadyAddresses"),
    F_IGNORE("sessionAffinityConfig"),
    F_IGNORE("ipFamilies"),
    F_IGNORE("ipFamilyPolicy"),
    F_IGNORE("allocateLoadBalancerNodePorts"),
    F_IGNORE("loadBalancerClass"),
    F_IGNORE("internalTrafficPolicy"),
    F_IGNORE("trafficDistribution"),
};
static const struct yschema service_spec_schema =
    YSCHEMA(struct service_spec, service_spec_fields, NOPOS, service_type_check);

static void
service_check(struct yctx *c, yaml_node_t *root, void *obj)
{
    struct service *s = obj;

    require_name(c, root, &s->metadata);
}

static const struct yfield service_fields[] = {
    F_STR(struct service, "apiVersion", api_version),
    F_STR(struct service, "kind", kind),
    F_STRUCT(struct service, "metadata", metadata, objmeta_schema, .flags = YFL_REQUIRED),
    F_STRUCT(struct service, "spec", spec, service_spec_schema),
    F_ACCEPT("status"),
};
const struct yschema service_schema = YSCHEMA(struct service, service_fields, NOPOS, service_check);
