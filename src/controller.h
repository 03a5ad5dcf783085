/* The loop-side driver: keeps the desired state (from the spool) and the
 * observed replicas (from libvirt), runs reconcile passes when either
 * changes, and carries out their actions through workq. Every function
 * here runs on the loop thread. */
#ifndef VMIRS_CONTROLLER_H
#define VMIRS_CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "conf.h"
#include "store.h"
#include "virt.h"
#include "workq.h"

struct controller;

/* Probes of all replicas in flight at once: they wait on guest agents, so
 * they get their own queue and never hold up a create. The daemon sizes
 * the threadpool and the connections for max_parallel plus these. */
#define CONTROLLER_PROBE_PARALLEL 4

/* store may be NULL: then nothing is recorded. */
struct controller *controller_new(uv_loop_t *loop, const struct vmirs_conf *conf,
                                  const char *domain_type, struct virt *v,
                                  const struct virt_ops *ops, struct workq *q, struct store *store);

/* From the spool. */
void controller_file_changed(struct controller *c, const char *path, const char *bytes, size_t len);
void controller_file_removed(struct controller *c, const char *path);
void controller_files_settled(struct controller *c);

/* From virt. */
void controller_lifecycle(struct controller *c, const char *name, int event, int detail);
void controller_connected(struct controller *c);
void controller_disconnected(struct controller *c, const char *why);

/* Whether the first full list of domains is in and a pass has run: what
 * READY=1 waits for. */
bool controller_synced(const struct controller *c);

/* Counts for STATUS=: replica sets, replicas running. */
void controller_counts(const struct controller *c, size_t *sets, size_t *replicas);

/* Stop acting (no new work; timers closed). done runs once everything in
 * flight has finished; replicas are left running. */
void controller_stop(struct controller *c, void (*done)(void *opaque), void *opaque);

void controller_free(struct controller *c);

#endif
