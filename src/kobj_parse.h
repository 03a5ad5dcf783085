/* The schemas of the plain Kubernetes objects vmirsd reads from the spool:
 * ConfigMap and Secret (for configMap / secret volumes) and Service. */
#ifndef VMIRS_KOBJ_PARSE_H
#define VMIRS_KOBJ_PARSE_H

#include "yamlnode.h"

extern const struct yschema config_map_schema;
extern const struct yschema secret_schema;
extern const struct yschema service_schema;

#endif
