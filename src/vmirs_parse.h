/* The schema of a VirtualMachineInstanceReplicaSet and its own rules:
 * replicas, selector against template labels, identity pinned in a
 * template that has several replicas. */
#ifndef VMIRS_VMIRS_PARSE_H
#define VMIRS_VMIRS_PARSE_H

#include "yamlnode.h"

extern const struct yschema vmirs_schema;

/* spec.replicas with KubeVirt's default of 1. */
int64_t vmirs_replicas(const struct vmirs *v);

#endif
