/* What the vmi_parse*.c files share behind vmi_parse.h: the schema of
 * each part of a VMI spec, defined in the file named for it and used by
 * the table one level up, and the check vmi_parse_check.c runs on the
 * whole spec. Not a public contract: nothing outside src/vmi_parse*.c
 * includes it. */
#ifndef VMIRS_VMI_PARSE_INT_H
#define VMIRS_VMI_PARSE_INT_H

#include "vmi_parse.h"
#include "yamlnode.h"

/* imagePullPolicy's values, for containerDisk and kernelBoot.container. */
extern const char *const vmi_pull_policy_names[];

/* An object whose presence is all it says (masquerade: {}, virtiofs: {}). */
extern const struct yschema vmi_empty_schema;

/* spec.domain (vmi_parse_domain.c). */
extern const struct yschema vmi_domain_schema;
/* An item of spec.domain.devices.interfaces and of spec.networks
 * (vmi_parse_network.c). */
extern const struct yschema vmi_iface_schema;
extern const struct yschema vmi_network_schema;
/* An item of spec.volumes (vmi_parse_volume.c). */
extern const struct yschema vmi_volume_schema;
/* spec.readinessProbe and spec.livenessProbe (vmi_parse_probe.c). */
extern const struct yschema vmi_probe_schema;

/* The cross references of a VMI spec, run after its walk (vmi_parse_check.c). */
void vmi_spec_check(struct yctx *c, yaml_node_t *map, void *obj);

#endif
