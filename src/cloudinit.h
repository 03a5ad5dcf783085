/* The data of a cloud-init volume (cloudInitNoCloud or
 * cloudInitConfigDrive) as the guest gets it: user data and network data
 * taken inline, from base64, or from a Secret in the spool, and written
 * as the seed ISO of the volume's kind. The data may be secret: it never
 * appears in a message. */
#ifndef VMIRS_CLOUDINIT_H
#define VMIRS_CLOUDINIT_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "model.h"

/* Looks a Secret up by namespace and name, or NULL. */
typedef const struct secret *(*cloudinit_secret_fn)(void *opaque, const char *ns, const char *name);

struct cloudinit_data {
    char *user_data; /* NULL: none given */
    size_t user_data_len;
    char *network_data; /* NULL: none given */
    size_t network_data_len;
};

/* Fill *out from ci; a Secret named by secretRef / networkDataSecretRef
 * is found through lookup in namespace ns and read from its
 * userdata/userData and networkdata/networkData keys, as KubeVirt's
 * resolveNoCloudSecrets and resolveConfigDriveSecrets do. */
int cloudinit_resolve(const struct cloud_init_src *ci, const char *ns, cloudinit_secret_fn lookup,
                      void *opaque, struct cloudinit_data *out, struct vmirs_err **err);

void cloudinit_data_free(struct cloudinit_data *d);

/* Write the seed ISO at path: NoCloud (`cidata`) or, with config_drive,
 * the OpenStack config drive (`config-2`). */
int cloudinit_write_seed(const char *path, bool config_drive, const char *instance_id,
                         const char *hostname, const struct cloudinit_data *d,
                         struct vmirs_err **err);

#endif
