/* The decisions of a pass that reconcile.c does not make, as pure
 * functions beside it: which replicas a set looks at, how many creates
 * slow start allows, which slots may be used under their back-off, what
 * the set's conditions are, and which host port a replica gets. No I/O,
 * no clock (the time is an input), no libvirt; the controller's files
 * (src/README.md) carry the results out. */
#ifndef VMIRS_PLAN_H
#define VMIRS_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backoff.h"
#include "desired.h"
#include "vmirs_parse.h"

/* Whether the set (set_uid, set_ns) observes a replica: its own, or, for
 * a replica with no live owner (live_owner_uid NULL: released, or owned
 * by a set vmirsd does not know), any set of its namespace, which may
 * adopt it (SPEC section 3). */
bool plan_observes(const char *live_owner_uid, const char *replica_ns, const char *set_uid,
                   const char *set_ns);

/* Slow start: creates per batch go 1, 2, 4...; a batch runs to its end
 * before the next. How many creates may start now, with inflight still
 * running; *batch starts over at 1 when nothing is wanted or running. */
unsigned plan_batch_allowed(unsigned *batch, unsigned wanted, unsigned inflight);

/* The size of the next batch once one is over: doubled, or 1 after a
 * failure. */
unsigned plan_batch_next(unsigned batch, bool failed);

/* Up to want free slots (taken[slot] false) whose back-off lets a create
 * start at now_ms, lowest first, into out. slots[0..nknown) are the
 * slots' back-off records; a slot past them has never failed. *retry_ms
 * is how long until the earliest backed-off free slot may try, or -1.
 * Returns how many were chosen. */
size_t plan_slots(const bool *taken, size_t nslots, const struct backoff *slots, size_t nknown,
                  int64_t now_ms, size_t want, unsigned *out, int64_t *retry_ms);

/* The set's conditions, as values, before anything is written. */
struct plan_conditions {
    bool invalid;      /* ManifestInvalid: its file has errors */
    char *invalid_msg; /* FILE:LINE:COL: message, escaped; NULL when valid */
    bool paused;       /* ReplicaPaused */
    bool mismatch;     /* SelectorMismatch */
};

/* f is the set's file (NULL when it has none in the spool), spec its spec
 * in force (NULL once removed). */
void plan_conditions(const struct desired_file *f, const struct vmirs *spec,
                     struct plan_conditions *out);
void plan_conditions_free(struct plan_conditions *pc);

/* A free host port in lo..hi, searched round the range from the offset
 * *next (so a port just freed is not handed out again at once), or 0
 * when every one is taken; *next moves past the port chosen. */
unsigned plan_host_port(unsigned lo, unsigned hi, unsigned *next,
                        bool (*taken)(unsigned port, void *opaque), void *opaque);

#endif
