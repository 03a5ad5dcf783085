/* The schema of a VirtualMachineInstance template (spec.template): every
 * field KubeVirt's v1 API knows, what vmirsd does with it, and the checks
 * KubeVirt's admission webhook would make, worded like Kubernetes'. */
#ifndef VMIRS_VMI_PARSE_H
#define VMIRS_VMI_PARSE_H

#include "yamlnode.h"

/* spec.template: {metadata, spec}. */
extern const struct yschema vmi_template_schema;
/* metadata of any object (name, namespace, labels, annotations...). */
extern const struct yschema objmeta_schema;

/* The volume a disk refers to ("volumeName" in v1alpha2, else its name). */
const char *vmi_disk_volume_name(const struct disk *d);

/* The memory the guest gets, in bytes: domain.memory.guest, else
 * resources.requests.memory, else resources.limits.memory; 0 if none. */
int64_t vmi_guest_memory(const struct vmi_spec *s);

/* Validation names for enums, indexed by value - 1. */
extern const char *const vmi_bus_names[];
extern const char *const vmi_cache_names[];

#endif
