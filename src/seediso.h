/* Small ISO9660 images for a replica: the cloud-init NoCloud seed and the
 * configMap/secret disks, written with libisofs. File contents may be secret
 * data; they never appear in a message. Runs on a worker thread (inside a
 * create job), touching only its arguments. */
#ifndef VMIRS_SEEDISO_H
#define VMIRS_SEEDISO_H

#include <stddef.h>

#include "err.h"

/* One file of the image; data is borrowed. */
struct seediso_file {
    /* A path of '/'-separated components, each [-._a-zA-Z0-9]+, not "."
     * or "..", at most 255 bytes; directories are made as needed. */
    const char *name;
    const void *data;
    size_t len;
};

/* Write an ISO9660 image with Joliet and Rock Ridge, volume id label (1 to 32
 * printable ASCII characters), holding files at its root; written to a
 * temporary name in the same directory and renamed, so a reader never sees
 * half an ISO. Identical inputs give identical bytes. */
int seediso_write(const char *path, const char *label, const struct seediso_file *files, size_t n,
                  struct vmirs_err **err);

/* The NoCloud seed, label `cidata`: meta-data (compact JSON
 * {"instance-id":...,"local-hostname":...}), user-data (always, possibly
 * empty) and network-config (only when network_config != NULL). */
int seediso_nocloud(const char *path, const char *instance_id, const char *hostname,
                    const char *user_data, size_t user_data_len, const char *network_config,
                    size_t network_config_len, struct vmirs_err **err);

/* The OpenStack config drive KubeVirt writes for cloudInitConfigDrive,
 * label `config-2`: openstack/latest/meta_data.json (instance_id,
 * hostname, uuid), user_data (when given) and network_data.json (when
 * given). */
int seediso_config_drive(const char *path, const char *instance_id, const char *hostname,
                         const char *user_data, size_t user_data_len, const char *network_data,
                         size_t network_data_len, struct vmirs_err **err);

/* Release libisofs's process-wide state at exit; no seediso call may be
 * running. A later seediso call initialises it again. */
void seediso_finish(void);

#endif
