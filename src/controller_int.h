/* What the controller's files share: the replica and replica-set records,
 * the controller itself and the jobs it runs, and the functions one file
 * calls in another. Private to the controller (controller.h is the
 * contract with the daemon). src/README.md maps which file does what. */
#ifndef VMIRS_CONTROLLER_INT_H
#define VMIRS_CONTROLLER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "backoff.h"
#include "controller.h"
#include "desired.h"
#include "dommeta.h"
#include "image.h"
#include "materialize.h"
#include "probe.h"
#include "reconcile.h"
#include "virt.h"

/* A create recorded in the intent journal before a restart, not settled,
 * and younger than this, may have been sent to libvirtd: it counts as
 * pending until libvirt has been listed INTENT_SETTLE_MS after the
 * restart's first list. Older lines are no create in flight. */
#define INTENT_GRACE_MS 60000

/* A create libvirtd has accepted is in its domain list (and a second
 * create of that name or UUID is refused) from the moment its driver adds
 * the domain object, long before QEMU runs: measured here on QEMU 7.2
 * with libvirt 9.0, seen in `virsh list` 0.13 s into a 0.58 s create, a
 * second create refused ("domain is already active"); the test driver
 * creates atomically. So a list that starts this long after the first one
 * shows every create a killed vmirsd had sent: what it does not show was
 * never sent, and is removed (its files), never released. */
#define INTENT_SETTLE_MS 2000

#define INTENT_JOURNAL "intents"

/* The journal is truncated when no create is in flight and it has grown
 * past this many lines. */
#define INTENT_JOURNAL_MAX_LINES 4096

/* One domain with vmirsd metadata, or a create in flight. */
struct replica {
    char *name;
    char *namespace;
    struct dommeta meta;
    enum replica_phase phase;
    bool ready;
    bool deleting; /* shutdown, destroy or reap under way */
    bool creating; /* create in flight */
    bool intent;   /* recorded before a restart, not (yet) seen in libvirt */
    bool phantom;  /* known only from the journal: never seen in libvirt */
    int64_t created_ms, started_ms, ready_since_ms;
    bool running_ready;  /* libvirt's view: running, not paused */
    bool was_ready;      /* Ready in the store when vmirsd started: probes resume from there */
    char *address;       /* its IPv4 address on a libvirt network, once leased */
    bool address_lookup; /* a lookup is under way */
    /* The template's probes, armed while the domain runs (once its
     * owner's spec is known: a restart may list domains first). */
    bool probes_armed, readiness_on, liveness_on;
    struct probe_state readiness, liveness;
    unsigned gen; /* the resync generation that last saw it */
    uv_timer_t *grace;
    struct controller *c;
};

/* One VMIRS the controller knows, desired or being removed. */
struct rs {
    char *namespace, *name, *uid;
    const struct vmirs *spec; /* in the desired set; NULL once removed */
    bool removed;
    bool dirty;
    unsigned batch;    /* slow start: creates allowed in this batch */
    unsigned inflight; /* creates running */
    bool batch_failed;
    struct backoff *slots;
    size_t nslots;
    bool paused_seen, mismatch_seen, invalid_seen;
    /* Known from the store, its file still in the spool but with no good
     * content since the restart: nothing is done to its replicas, and
     * nobody else adopts them. */
    bool frozen;
    char *file;
    /* What rs_store last wrote: a pass that changes none of it writes
     * nothing (each write is WAL pages). A spool change clears stored. */
    bool stored;
    int64_t stored_desired, stored_replicas, stored_ready;
    int64_t grace_ms; /* terminationGracePeriodSeconds of the spec last in force */
};

struct controller {
    uv_loop_t *loop;
    const struct vmirs_conf *conf;
    const char *type;
    struct virt *v;
    const struct virt_ops *ops;
    struct workq *q;
    struct store *store; /* NULL: nothing is recorded (unit tests) */
    struct desired desired;
    struct replica **reps;
    size_t nreps;
    struct rs **sets;
    size_t nsets;
    bool connected, listed, listing, synced, spool_settled, stopping;
    /* Spool changes not yet handed to a parse job; one job at a time. */
    struct parse_item *pending;
    size_t npending;
    bool parsing, settle_again;
    /* The connection was lost since the last list: until libvirt has been
     * listed again nothing is created or deleted (SPEC section 3). */
    bool relist;
    unsigned gen;
    int64_t first_list_ms; /* when the first list after the start was asked for */
    size_t inflight;
    uv_timer_t pass_timer, resync_timer, retry_timer, commit_timer, probe_timer;
    struct workq *probe_q; /* probes wait for each other, not for creates */
    bool pruned;           /* the store's leftovers from before a restart are gone */
    unsigned next_port;    /* where the search for a free host port starts */
    int open_handles;
    int journal_fd;
    size_t journal_lines;
    int64_t trimmed_ms;
    void (*stop_done)(void *opaque);
    void *stop_opaque;
};

/* containerDisk images one create notes for the store. */
#define JOB_MAX_IMAGES 8

enum job_kind {
    JOB_CREATE,
    JOB_SHUTDOWN,
    JOB_DESTROY,
    JOB_REAP,
    JOB_SET_META,
    JOB_LIST,
    JOB_GET,
    JOB_PROBE,
    JOB_FORWARD,
    JOB_ADDRESS,
    JOB_PARSE
};

/* A spool change waiting to be parsed, and its result. */
struct parse_item {
    char *path;
    char *bytes; /* NULL: the file was removed */
    size_t len;
    struct desired_parsed out;
};

struct job {
    enum job_kind kind;
    struct controller *c;
    char *name;
    int errcode; /* a failed call's err->code: ENOTCONN, ECONNRESET (virt.h) or 0 */
    /* JOB_CREATE */
    struct replica_id id;
    unsigned slot;
    char *ns, *vmirs_name;
    /* The parsed manifests the replica needs (its VMIRS's file and those
     * of its ConfigMaps and Secrets): shared, read-only in the worker. */
    struct desired_content **contents;
    size_t ncontents;
    /* JOB_PARSE */
    struct parse_item *items;
    size_t nitems;
    /* JOB_SET_META */
    struct dommeta meta;
    /* JOB_LIST, JOB_GET */
    int64_t submitted_ms;
    struct virt_domain *doms;
    size_t ndoms;
    struct virt_domain one;
    /* JOB_PROBE */
    struct probe_action probe;
    bool liveness;
    /* JOB_FORWARD: the host ports in meta.ports, on this netdev */
    char *netdev;
    /* JOB_ADDRESS */
    char *address;
    /* JOB_CREATE: the containerDisk images used, for the store */
    struct image_disk images[JOB_MAX_IMAGES];
    size_t nimages;
};

/* The loop's clock, for timers and back-off. */
static inline int64_t
now_ms(const struct controller *c)
{
    return (int64_t) uv_now(c->loop);
}

/* actions.c */
struct backoff *act_slot_backoff(struct rs *s, unsigned slot);
bool *act_slots_taken(struct controller *c, const struct rs *s, size_t nslots);
void act_create(struct controller *c, struct rs *s, unsigned slot);
void act_delete(struct controller *c, struct rs *s, struct replica *r);
void act_reap(struct controller *c, struct replica *r);
void act_set_owner(struct controller *c, struct replica *r, const struct rs *s);

/* controller.c */
void controller_schedule_commit(struct controller *c);
void controller_parse_done(struct controller *c, struct job *j);
void controller_maybe_stopped(struct controller *c);
void controller_schedule_pass(struct controller *c);
void controller_on_resync(uv_timer_t *t);

/* dispatch.c */
void dispatch_submit(struct controller *c, struct job *j);
struct job *job_new(enum job_kind kind, const char *name);
void job_free(struct job *j);
bool job_lost(const struct job *j);
void dispatch_done(void *arg, int rc, char *errmsg);

/* intents.c */
void intents_settle(struct controller *c, const char *name);
void intents_recover(struct controller *c);
int intents_append(int fd, const struct replica_id *id, struct vmirs_err **err);
int intents_open(const struct vmirs_conf *conf);
void intents_create_over(struct controller *c, const char *name);

/* jobs.c */
int jobs_work(void *arg, char **errmsg);

/* observe.c */
void observe_domain(struct controller *c, const struct virt_domain *d);
void observe_list_done(struct controller *c, struct job *j, int rc, const char *errmsg);
void observe_request_list(struct controller *c);

/* ports.c */
void ports_allocate(struct controller *c, struct replica *r, const struct vmi_spec *spec);
void ports_forward(struct controller *c, struct replica *r);

/* prober.c */
void prober_arm(struct controller *c, struct replica *r);
void prober_done(struct controller *c, struct job *j, int rc, const char *errmsg);

/* replica.c */
enum replica_phase controller_phase(int state, int reason, bool *ready);
const struct vmi_spec *rep_spec(struct controller *c, const struct replica *r);
void rep_store(struct controller *c, const struct replica *r);
struct replica *rep_find(struct controller *c, const char *name);
struct replica *rep_add(struct controller *c, const char *name);
void rep_cancel_grace(struct replica *r);
void rep_set_phase(struct controller *c, struct replica *r, enum replica_phase phase,
                   bool running_ready);
void rep_forget(struct controller *c, struct replica *r);
void rep_event(struct controller *c, const struct replica *r, bool warning, const char *reason,
               const char *msg);
void rep_update_ready(struct controller *c, struct replica *r);
void rep_remove(struct controller *c, struct replica *r);

/* rs_status.c */
const char *rs_event_name(const struct rs *s);
struct rs *rs_find_uid(struct controller *c, const char *uid);
void rs_mark_dirty(struct controller *c, struct rs *s);
void rs_mark_replica_dirty(struct controller *c, const struct replica *r);
void rs_event(struct controller *c, const struct rs *s, bool warning, const char *reason,
              const char *fmt, ...);
void rs_failure(struct controller *c, const struct rs *s, const char *reason, const char *msg);
struct rs *rs_find(struct controller *c, const char *ns, const char *name);
void rs_free(struct rs *s);
void rs_update_grace(struct rs *s);
void rs_conditions(struct controller *c, struct rs *s);
void rs_store(struct controller *c, struct rs *s, int64_t desired,
              const struct reconcile_result *res);

#endif
