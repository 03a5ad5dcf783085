/* Names and identities of replicas: the VMI name (a base plus five random
 * characters, as Kubernetes' generateName), the domain name, and UUIDs.
 * The random source is injectable so tests are deterministic. */
#ifndef VMIRS_NAMES_H
#define VMIRS_NAMES_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* Fill buf with n random bytes. */
typedef void (*names_rng_fn)(void *buf, size_t n, void *opaque);

/* The kernel's CSPRNG (getrandom). */
void names_rng_system(void *buf, size_t n, void *opaque);

/* The VMI name base: spec.template.metadata.name, else its generateName,
 * else the VMIRS name, cut to 58 characters (malloc'd). */
char *names_vmi_base(const struct vmirs *v);

/* base followed by 5 characters of "bcdfghjklmnpqrstvwxz2456789". */
char *names_vmi_name(const char *base, names_rng_fn rng, void *opaque);

/* The libvirt domain name of a replica: "<namespace>_<vmi-name>". */
char *names_domain_name(const char *namespace, const char *vmi_name);

/* A random (version 4) UUID in its 36-character text form. */
void names_uuid(char out[37], names_rng_fn rng, void *opaque);

#endif
