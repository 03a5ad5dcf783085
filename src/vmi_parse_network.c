/* The schema of the network side of a VMI: spec.domain.devices.interfaces
 * (model, MAC address, binding, ports) and spec.networks. */
#include "config.h"

#include "vmi_parse.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "schema_macros.h"
#include "vmi_parse_int.h"

#define UNSUPPORTED_BINDING_REASON                                                                 \
    "not supported by vmirsd: replicas use the host's user-mode network or a libvirt network; "    \
    "use "                                                                                         \
    "masquerade or bridge"

static const struct yfield port_fields[] = {
    F_STR(struct port, "name", name, .flags = YFL_DNS_LABEL),
    F_STR(struct port, "protocol", protocol),
    F_INT(struct port, "port", port, 1, 65535, .flags = YFL_REQUIRED),
};
static void
port_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    struct port *p = obj;

    if (p->protocol && strcmp(p->protocol, "TCP") && strcmp(p->protocol, "UDP"))
        yerror_at(c, map, YPATH("protocol"),
                  "Unsupported value: \"%s\": supported values: \"TCP\", \"UDP\"", p->protocol);
}
static const struct yschema port_schema = YSCHEMA(struct port, port_fields, NOPOS, port_check);

static void iface_check(struct yctx *c, yaml_node_t *map, void *obj);

static const struct yfield iface_fields[] = {
    F_STR(struct iface, "name", name, .flags = YFL_REQUIRED | YFL_DNS_LABEL),
    F_STR(struct iface, "model", model),
    F_STR(struct iface, "macAddress", mac_address),
    F_INT(struct iface, "bootOrder", boot_order, 1, INT32_MAX),
    F_PSTRUCT(struct iface, "masquerade", masquerade, vmi_empty_schema),
    F_PSTRUCT(struct iface, "bridge", bridge, vmi_empty_schema),
    /* slirp was removed in KubeVirt v1.3; older API versions still carry it. */
    F_PSTRUCT(struct iface, "slirp", slirp, vmi_empty_schema, .api = YAPI_LEGACY),
    F_REJECT("slirp", "the slirp binding was removed from KubeVirt in v1.3; use masquerade",
             .api = YAPI_V1),
    F_ARRAY(struct iface, "ports", ports, port_schema),
    F_REJECT("sriov", UNSUPPORTED_BINDING_REASON),
    F_REJECT("macvtap", UNSUPPORTED_BINDING_REASON),
    F_REJECT("passt", UNSUPPORTED_BINDING_REASON),
    F_REJECT("passtBinding", UNSUPPORTED_BINDING_REASON),
    F_REJECT("binding", UNSUPPORTED_BINDING_REASON),
    F_IGNORE("pciAddress"),
    F_IGNORE("dhcpOptions"),
    F_IGNORE("tag"),
    F_IGNORE("acpiIndex"),
    F_IGNORE("portRanges"),
    F_IGNORE("state"),
};
const struct yschema vmi_iface_schema =
    YSCHEMA(struct iface, iface_fields, offsetof(struct iface, pos), iface_check);

static const char *const nic_models[] = {"virtio",   "e1000", "e1000e",  "igb",
                                         "ne2k_pci", "pcnet", "rtl8139", NULL};

static bool
mac_valid(const char *s)
{
    /* Six two-digit hex groups separated by ':' or '-', as net.ParseMAC takes them. */
    if (strlen(s) != 17)
        return false;
    for (int i = 0; i < 17; i++) {
        if (i % 3 == 2) {
            if (s[i] != ':' && s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char) s[i])) {
            return false;
        }
    }
    return true;
}

static void
iface_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    struct iface *i = obj;
    int bindings = !!i->masquerade + !!i->bridge + !!i->slirp;

    if (bindings > 1)
        yerror(c, map, "Invalid value: only one of masquerade, bridge and slirp may be set");
    if (i->model) {
        bool ok = false;

        for (int j = 0; nic_models[j]; j++)
            ok = ok || strcmp(i->model, nic_models[j]) == 0;
        if (!ok)
            yerror_at(c, map, YPATH("model"),
                      "Unsupported value: \"%s\": supported values: \"virtio\", \"e1000\", "
                      "\"e1000e\", \"igb\", "
                      "\"ne2k_pci\", \"pcnet\", \"rtl8139\"",
                      i->model);
    }
    if (i->mac_address && !mac_valid(i->mac_address))
        yerror_at(c, map, YPATH("macAddress"),
                  "Invalid value: \"%s\": must be a MAC address such as \"02:00:00:00:00:01\"",
                  i->mac_address);
    for (size_t a = 0; a < i->ports.n; a++) {
        for (size_t b = 0; b < a; b++) {
            const struct port *pa = &i->ports.v[a], *pb = &i->ports.v[b];

            if (pa->name && pb->name && strcmp(pa->name, pb->name) == 0) {
                char idx[32];

                snprintf(idx, sizeof(idx), "#%zu", a);
                yerror_at(c, map, YPATH("ports", idx, "name"), "Duplicate value: \"%s\"", pa->name);
            }
        }
    }
}

static const struct yfield pod_network_fields[] = {
    F_IGNORE("vmNetworkCIDR"),
    F_IGNORE("vmIPv6NetworkCIDR"),
};
static const struct yschema pod_network_schema =
    YSCHEMA(struct empty_binding, pod_network_fields, NOPOS, NULL);

static void network_check(struct yctx *c, yaml_node_t *map, void *obj);

#define NETWORK_SOURCE_REASON                                                                      \
    "not supported by vmirsd: replicas have only the pod network (the host's user-mode network "   \
    "or "                                                                                          \
    "the configured libvirt network)"

static const struct yfield network_fields[] = {
    F_STR(struct network, "name", name, .flags = YFL_REQUIRED | YFL_DNS_LABEL),
    F_PSTRUCT(struct network, "pod", pod, pod_network_schema),
    F_REJECT("multus", NETWORK_SOURCE_REASON),
    F_REJECT("resourceClaim", NETWORK_SOURCE_REASON),
};
const struct yschema vmi_network_schema =
    YSCHEMA(struct network, network_fields, offsetof(struct network, pos), network_check);

static void
network_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    struct network *n = obj;

    if (!n->pod && !ymap_get(c, map, "multus", NULL) && !ymap_get(c, map, "resourceClaim", NULL))
        yerror(c, map, "Required value: a network source must be set: pod");
}
