/* The controller's decisions as a pure function (KubeVirt's VMIRS sync
 * pass, with a Kubernetes ReplicaSet's victim ranking): one VMIRS's
 * desired state and the replicas observed for it in, actions and status
 * out. No I/O, no clock (the time is an input), no libvirt. */
#ifndef VMIRS_RECONCILE_H
#define VMIRS_RECONCILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "selector.h"

enum replica_phase {
    PHASE_PENDING,   /* create in flight, or recorded and not yet seen running */
    PHASE_RUNNING,   /* running, blocked, or paused by a user */
    PHASE_SUCCEEDED, /* the guest shut down */
    PHASE_FAILED,    /* crashed, destroyed, paused on an error, failed to start */
    PHASE_UNKNOWN,   /* libvirt lost it: treated as final, replaced */
};

/* One domain carrying vmirsd metadata, or a create in flight. */
struct observed {
    const char *name;      /* libvirt domain name */
    const char *owner_uid; /* VMIRS uid in its metadata; NULL when released */
    /* NULL: not known yet (a create recorded before a restart, not seen
     * in libvirt since); such a replica is neither released nor adopted. */
    const struct labels *labels;
    const char *template_hash;
    enum replica_phase phase;
    bool ready;             /* running, not paused, readiness probe passing */
    bool deleting;          /* a delete (shutdown or destroy) is under way */
    int64_t created_ms;     /* when it was created (ms, any epoch) */
    int64_t ready_since_ms; /* when it last became ready; 0 if not ready */
};

struct reconcile_desired {
    const char *uid;
    int64_t replicas;                /* spec.replicas with the default of 1 applied */
    bool paused;                     /* spec.paused */
    bool selector_mismatch;          /* selector missing, invalid or not matching: do nothing */
    bool removed;                    /* the manifest is gone: delete every owned replica */
    const struct selector *selector; /* NULL when selector_mismatch */
};

enum action_kind {
    ACT_DELETE,  /* scale down or cascade: graceful shutdown, destroy after the grace period */
    ACT_REAP,    /* a final replica: destroy what is left of it and remove its files */
    ACT_ADOPT,   /* an ownerless domain matching the selector: record this VMIRS as owner */
    ACT_RELEASE, /* owned but no longer matching: clear the owner, leave it running */
};

struct action {
    enum action_kind kind;
    const char *name; /* points into the observed array */
};

struct reconcile_result {
    size_t create;          /* new replicas to start now */
    struct action *actions; /* malloc'd, n of them; free with reconcile_result_free */
    size_t n;
    /* Status as KubeVirt computes it, from the observed state before the actions. */
    int64_t replicas;       /* active: owned (or adopted), not final, not deleting */
    int64_t ready_replicas; /* active and ready */
};

/* Decide one pass for d over obs[0..n) (every domain with vmirsd metadata
 * in d's namespace that is owned by d or has no owner, plus creates in
 * flight for d). Domains owned by another uid may be passed and are ignored;
 * a domain being deleted never gets an action and is never counted.
 * Rules, in order:
 *  - removed (wins over paused and selector_mismatch): DELETE every owned,
 *    not-deleting, non-final replica, matching or not; REAP final ones; nothing else.
 *  - selector_mismatch (or no selector): no action at all (status still computed).
 *  - ownerless and matching: ADOPT (then counted as owned); owned and not matching: RELEASE (not
 * counted).
 *  - owned final (SUCCEEDED/FAILED/UNKNOWN) and not deleting: REAP; never counted.
 *  - paused: ADOPT/RELEASE only, as in KubeVirt: no create, no DELETE, no REAP.
 *  - active = owned, not final, not deleting (PENDING counts: never a duplicate create).
 *  - active < replicas: create = replicas - active (negative replicas act as 0).
 *  - active > replicas: DELETE the surplus, victims ranked like a ReplicaSet:
 *    PENDING before RUNNING, not ready before ready, more recently ready first,
 *    newer (larger created_ms) first, then by name for a stable order; a time
 *    of 0 ranks as the most recent (Kubernetes' afterOrZero). ready counts
 *    only for a RUNNING replica.
 * Actions come grouped RELEASE, ADOPT, REAP, DELETE; by name within a group,
 * DELETE in victim order. Adopted domains may also be reaped or deleted in
 * the same pass. Names point into obs; nothing else of obs is kept. */
void reconcile(const struct reconcile_desired *d, const struct observed *obs, size_t n,
               struct reconcile_result *out);

void reconcile_result_free(struct reconcile_result *r);

#endif
