/* A replica's own files in state_dir/replicas/<domain-name>/: qcow2 overlays
 * and empty disks made with qemu-img, and the directory's removal with the
 * replica. The calls block; run them off the event loop. */
#ifndef VMIRS_VOLUME_H
#define VMIRS_VOLUME_H

#include <stdint.h>

#include "err.h"

/* Create state_dir/replicas/<name>/ (and parents) mode 0750; *dir gets its
 * path (malloc'd). The name must be a single path component. */
int volume_replica_dir_create(const char *state_dir, const char *domain_name, char **dir,
                              struct vmirs_err **err);

/* A qcow2 overlay at path over backing (format "raw" or "qcow2"), as KubeVirt
 * does: `qemu-img create -f qcow2 -F <fmt> -b <backing> <path>`. Both paths
 * must be absolute. The backing file is only read. */
int volume_overlay_create(const char *path, const char *backing, const char *backing_format,
                          struct vmirs_err **err);

/* A sparse qcow2 of bytes rounded down to a whole MiB (KubeVirt's rule); 0
 * after rounding is an error. path must be absolute. */
int volume_empty_disk_create(const char *path, uint64_t bytes, struct vmirs_err **err);

/* Remove state_dir/replicas/<name> and everything in it without following
 * symlinks; a missing directory is not an error, so a second call is
 * harmless. Refuses a name that is not a single path component. */
int volume_replica_dir_remove(const char *state_dir, const char *domain_name,
                              struct vmirs_err **err);

#endif
