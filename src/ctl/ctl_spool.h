/* What the commands that change things (scale, expose) share: the
 * configuration, the database when there is one, and the spool directory
 * read and validated the way the daemon and --validate read it. */
#ifndef VMIRS_CTL_SPOOL_H
#define VMIRS_CTL_SPOOL_H

#include <stddef.h>
#include <stdio.h>

#include "conf.h"
#include "ctl.h"
#include "manifest.h"
#include "store.h"

/* Load the configuration as every command does: CTL_OK, or CTL_ERROR
 * after printing its diagnostics. */
int ctl_conf_load(const struct ctl_ctx *ctx, struct vmirs_conf *conf);

/* Open state_dir/vmirsd.db read-only when it exists: CTL_OK with *out
 * NULL when there is none, CTL_ERROR (printed) when it does not open. */
int ctl_store_open_if_any(const struct vmirs_conf *conf, struct store **out);

/* The spool file that defines the object (kind, ns/name) the way the
 * daemon picks it, the first by file name (malloc'd), or NULL. */
char *ctl_spool_find(const char *spool_dir, enum kobj_kind kind, const char *ns, const char *name);

/* Validate bytes as the manifest file at path, as --validate would, into
 * *mf (zeroed by the caller, freed with manifest_file_free). 0 without
 * errors; -1 after printing every diagnostic to out. */
int ctl_validate_bytes(struct manifest_file *mf, const char *path, const char *bytes, size_t len,
                       FILE *out);

#endif
