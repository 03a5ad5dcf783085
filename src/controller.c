#include "config.h"

#define LOG_COMPONENT "controller"

#include "controller.h"

#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>
#include <errno.h>
#include <stdarg.h>
#include <libvirt/libvirt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "backoff.h"
#include "desired.h"
#include "materialize.h"
#include "probe.h"
#include "reconcile.h"
#include "selector.h"
#include "store.h"
#include "util.h"
#include "vmirs_parse.h"

#include "log.h"

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

static void schedule_pass(struct controller *c);
static void maybe_stopped(struct controller *c);

static int64_t
now_ms(const struct controller *c)
{
    return (int64_t) uv_now(c->loop);
}

/* Wall-clock time for the store: AGE must survive restarts, which the
 * loop's monotonic clock does not. */
static int64_t
wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
checkpoint_work(void *arg, char **errmsg)
{
    struct controller *c = arg;
    struct vmirs_err *err = NULL;

    if (store_checkpoint(c->store, &err) < 0) {
        *errmsg = xstrdup(err->msg);
        err_free(&err);
        return -1;
    }
    return 0;
}

static void maybe_stopped(struct controller *c);

static void
checkpoint_done(void *arg, int rc, char *errmsg)
{
    struct controller *c = arg;

    if (rc < 0)
        log_warn("%s", errmsg);
    free(errmsg);
    store_checkpoint_done(c->store);
    c->inflight--;
    maybe_stopped(c);
}

static void rep_store(struct controller *c, const struct replica *r);
static void mark_dirty(struct controller *c, struct rs *s);

/* The store replaced a corrupt file with a new one: record again what
 * vmirsd knows, the replicas now and the replica sets in the next pass
 * (the old events stay in the file moved aside). */
static void
commit_restore(struct controller *c)
{
    for (size_t i = 0; i < c->nreps; i++)
        if (!c->reps[i]->intent)
            rep_store(c, c->reps[i]);
    for (size_t i = 0; i < c->nsets; i++) {
        c->sets[i]->stored = false;
        mark_dirty(c, c->sets[i]);
    }
}

static void
on_commit(uv_timer_t *t)
{
    struct controller *c = t->data;
    struct vmirs_err *err = NULL;
    int rc = store_commit(c->store, &err);

    if (rc < 0) {
        log_warn("%s", err->msg);
        err_free(&err);
    } else if (rc == STORE_BUSY) {
        /* Another process holds the database: the writes wait in the
         * store, supervision goes on, and the commit is tried again. */
        if (!c->stopping)
            uv_timer_start(&c->commit_timer, on_commit, store_retry_ms(c->store), 0);
        return;
    } else if (rc == STORE_REBUILT && !c->stopping) {
        commit_restore(c);
    }
    /* The checkpoint's fsync would stall the loop: a worker does it. */
    if (!c->stopping && store_checkpoint_claim(c->store)) {
        c->inflight++;
        workq_submit(c->probe_q, checkpoint_work, checkpoint_done, c);
    }
}

/* Writes are committed together a little later: a pass, and the
 * completions and libvirt events around it, make one transaction, and a
 * burst of them a few. */
#define COMMIT_DELAY_MS 20

static void
schedule_commit(struct controller *c)
{
    if (c->store && !c->stopping && !uv_is_active((uv_handle_t *) &c->commit_timer))
        uv_timer_start(&c->commit_timer, on_commit, COMMIT_DELAY_MS, 0);
}

/* ---- replicas ---- */

static const char *
phase_name(enum replica_phase p)
{
    switch (p) {
    case PHASE_PENDING:
        return "Pending";
    case PHASE_RUNNING:
        return "Running";
    case PHASE_SUCCEEDED:
        return "Succeeded";
    case PHASE_FAILED:
        return "Failed";
    case PHASE_UNKNOWN:
        break;
    }
    return "Unknown";
}

/* Record the replica's row; a change of phase or readiness is kept as a
 * transition. */
static void
rep_store(struct controller *c, const struct replica *r)
{
    cleanup_free char *labels = NULL, *ports = xstrdup("");
    const char *us = strchr(r->name, '_');

    if (!c->store)
        return;
    labels = store_labels_json(&r->meta.labels);
    for (size_t i = 0; i < r->meta.nports; i++) {
        char *next = xasprintf("%s%s127.0.0.1:%u->%u/tcp", ports, i ? "," : "",
                               r->meta.ports[i].host, r->meta.ports[i].guest);

        free(ports);
        ports = next;
    }
    store_put_replica(c->store,
                      &(struct store_replica){
                          .domain = r->name,
                          .namespace = r->namespace,
                          .vmi_name = r->meta.vmi_name ? r->meta.vmi_name
                                      : us             ? us + 1
                                                       : r->name,
                          .vmi_uid = r->meta.vmi_uid,
                          .rs_uid = r->meta.owner_uid,
                          .labels_json = labels,
                          .template_hash = r->meta.template_hash,
                          .ports = ports,
                          .phase = phase_name(r->phase),
                          .ready = r->ready,
                          .created_ms = wall_ms(),
                      },
                      wall_ms());
    schedule_commit(c);
}

static struct replica *
rep_find(struct controller *c, const char *name)
{
    for (size_t i = 0; i < c->nreps; i++)
        if (strcmp(c->reps[i]->name, name) == 0)
            return c->reps[i];
    return NULL;
}

static struct replica *
rep_add(struct controller *c, const char *name)
{
    struct replica *r = xcalloc(1, sizeof(*r));
    const char *us = strchr(name, '_');

    r->name = xstrdup(name);
    r->namespace = us ? xstrndup(name, (size_t) (us - name)) : xstrdup("default");
    r->c = c;
    r->created_ms = now_ms(c);
    c->reps = xrealloc(c->reps, (c->nreps + 1) * sizeof(*c->reps));
    c->reps[c->nreps++] = r;
    return r;
}

static void
on_grace_closed(uv_handle_t *h)
{
    free(h);
}

static void
rep_cancel_grace(struct replica *r)
{
    if (r->grace) {
        uv_close((uv_handle_t *) r->grace, on_grace_closed);
        r->grace = NULL;
    }
}

static void
rep_remove(struct controller *c, struct replica *r)
{
    for (size_t i = 0; i < c->nreps; i++) {
        if (c->reps[i] == r) {
            memmove(&c->reps[i], &c->reps[i + 1], (c->nreps - i - 1) * sizeof(*c->reps));
            c->nreps--;
            break;
        }
    }
    rep_cancel_grace(r);
    dommeta_free(&r->meta);
    free(r->address);
    free(r->namespace);
    free(r->name);
    free(r);
}

/* SPEC section 3: phase from libvirt's state and reason. */
STATIC enum replica_phase controller_phase(int state, int reason, bool *ready);

STATIC enum replica_phase
controller_phase(int state, int reason, bool *ready)
{
    *ready = false;
    switch (state) {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_BLOCKED:
    case VIR_DOMAIN_PMSUSPENDED:
        *ready = state != VIR_DOMAIN_PMSUSPENDED;
        return PHASE_RUNNING;
    case VIR_DOMAIN_PAUSED:
        /* Paused for an error (KVM's emulation failure shows as
         * "unknown") is a failed replica; paused by a user or for an
         * operation is running, not ready. */
        switch (reason) {
        case VIR_DOMAIN_PAUSED_UNKNOWN:
        case VIR_DOMAIN_PAUSED_IOERROR:
        case VIR_DOMAIN_PAUSED_CRASHED:
        case VIR_DOMAIN_PAUSED_POSTCOPY_FAILED:
            return PHASE_FAILED;
        default:
            return PHASE_RUNNING;
        }
    case VIR_DOMAIN_SHUTOFF:
        return reason == VIR_DOMAIN_SHUTOFF_SHUTDOWN ? PHASE_SUCCEEDED : PHASE_FAILED;
    case VIR_DOMAIN_CRASHED:
        return PHASE_FAILED;
    default:
        return PHASE_PENDING;
    }
}

static void probe_arm(struct controller *c, struct replica *r);
static void start_forward(struct controller *c, struct replica *r);

/* Ready: running and not paused, and its readiness probe passing when the
 * template has one (SPEC section 6). */
static void
rep_update_ready(struct controller *c, struct replica *r)
{
    bool ready = r->running_ready && (!r->readiness_on || r->readiness.result);

    if (ready && !r->ready)
        r->ready_since_ms = now_ms(c);
    if (!ready)
        r->ready_since_ms = 0;
    r->ready = ready;
    rep_store(c, r);
}

/* running_ready: libvirt's view (running, not paused). */
static void
rep_set_phase(struct controller *c, struct replica *r, enum replica_phase phase, bool running_ready)
{
    bool started = phase == PHASE_RUNNING && r->phase != PHASE_RUNNING;

    if (started)
        r->started_ms = now_ms(c);
    if (phase != PHASE_RUNNING)
        r->probes_armed = r->readiness_on = r->liveness_on = false;
    r->phase = phase;
    r->running_ready = running_ready;
    if (started)
        probe_arm(c, r);
    rep_update_ready(c, r);
}

/* The replica is gone for good: from memory and from the store. */
static void
rep_forget(struct controller *c, struct replica *r)
{
    if (c->store) {
        store_delete_replica(c->store, r->name);
        schedule_commit(c);
    }
    rep_remove(c, r);
}

/* ---- replica sets ---- */

static struct rs *
rs_find_uid(struct controller *c, const char *uid)
{
    for (size_t i = 0; uid && i < c->nsets; i++)
        if (strcmp(c->sets[i]->uid, uid) == 0)
            return c->sets[i];
    return NULL;
}

static struct rs *
rs_find(struct controller *c, const char *ns, const char *name)
{
    for (size_t i = 0; i < c->nsets; i++)
        if (strcmp(c->sets[i]->namespace, ns) == 0 && strcmp(c->sets[i]->name, name) == 0)
            return c->sets[i];
    return NULL;
}

static void
rs_free(struct rs *s)
{
    free(s->namespace);
    free(s->name);
    free(s->uid);
    free(s->slots);
    free(s->file);
    free(s);
}

static void
mark_dirty(struct controller *c, struct rs *s)
{
    if (!s)
        return;
    s->dirty = true;
    schedule_pass(c);
}

/* The set a replica belongs to, or for an ownerless one, the first set of
 * its namespace that might adopt it. */
static void
mark_replica_dirty(struct controller *c, const struct replica *r)
{
    struct rs *s = rs_find_uid(c, r->meta.owner_uid);

    if (s) {
        mark_dirty(c, s);
        return;
    }
    for (size_t i = 0; i < c->nsets; i++)
        if (strcmp(c->sets[i]->namespace, r->namespace) == 0)
            mark_dirty(c, c->sets[i]);
}

static const char *
event_name(const struct rs *s)
{
    static char buf[512];

    snprintf(buf, sizeof(buf), "%s/%s", s->namespace, s->name);
    return buf;
}

/* Events in the seed document's wording; persisted by the store later. */
static void rs_event(struct controller *c, const struct rs *s, bool warning, const char *reason,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The component kubectl shows in the From column, as KubeVirt names it. */
#define EVENT_SOURCE "virtualmachineinstancereplicaset-controller"

#define SELECTOR_MISMATCH_MSG                                                                      \
    "spec.selector does not match the template's labels: nothing is created or deleted"

static void
rs_event(struct controller *c, const struct rs *s, bool warning, const char *reason,
         const char *fmt, ...)
{
    cleanup_free char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    if (warning)
        log_warn("%s: %s: %s", event_name(s), reason, msg ? msg : "?");
    else
        log_info("%s: %s: %s", event_name(s), reason, msg ? msg : "?");
    if (c->store && msg) {
        store_event(c->store,
                    &(struct store_event){
                        .namespace = s->namespace,
                        .kind = "VirtualMachineInstanceReplicaSet",
                        .name = s->name,
                        .uid = s->uid,
                        .type = warning ? "Warning" : "Normal",
                        .reason = reason,
                        .message = msg,
                        .source = EVENT_SOURCE,
                    },
                    wall_ms());
        schedule_commit(c);
    }
}

/* ---- work items ---- */

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

static void
job_free(struct job *j)
{
    free(j->name);
    replica_id_free(&j->id);
    free(j->ns);
    free(j->vmirs_name);
    for (size_t i = 0; i < j->ncontents; i++)
        desired_content_unref(j->contents[i]);
    free(j->contents);
    for (size_t i = 0; i < j->nitems; i++) {
        free(j->items[i].path);
        free(j->items[i].bytes);
        desired_parsed_free(&j->items[i].out);
    }
    free(j->items);
    dommeta_free(&j->meta);
    for (size_t i = 0; i < j->ndoms; i++)
        virt_domain_free(&j->doms[i]);
    free(j->doms);
    virt_domain_free(&j->one);
    probe_action_free(&j->probe);
    free(j->netdev);
    free(j->address);
    for (size_t i = 0; i < j->nimages; i++)
        image_disk_free(&j->images[i]);
    free(j);
}

/* The call failed for want of libvirt, not because libvirt refused it. */
static bool
job_lost(const struct job *j)
{
    return j->errcode == ENOTCONN || j->errcode == ECONNRESET;
}

static int
err_to_msg(struct vmirs_err **err, char **errmsg)
{
    *errmsg = xstrdup(*err && (*err)->msg ? (*err)->msg : "unknown error");
    err_free(err);
    return -1;
}

/* Lookups over the manifests a create job holds. */
struct parsed {
    struct desired_content *const *c;
    size_t n;
    struct job *job; /* where the images used are noted */
};

static const void *
parsed_find(struct parsed *p, enum kobj_kind kind, const char *ns, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        for (size_t j = 0; j < p->c[i]->mf.nobjs; j++) {
            const struct kobj *o = &p->c[i]->mf.objs[j];

            if (o->kind == kind && streq0(o->namespace, ns) && streq0(o->name, name))
                return o->u.vmirs;
        }
    return NULL;
}

static const struct config_map *
parsed_config_map(void *opaque, const char *ns, const char *name)
{
    return parsed_find(opaque, KOBJ_CONFIG_MAP, ns, name);
}

static const struct secret *
parsed_secret(void *opaque, const char *ns, const char *name)
{
    return parsed_find(opaque, KOBJ_SECRET, ns, name);
}

/* The record that makes a create survive vmirsd's death: one line in
 * the intent journal, appended before the domain exists. One write(2) to
 * an O_APPEND file is atomic with respect to the other workers' lines.
 * No fsync: it guards against the daemon dying, not the host (a host
 * crash takes the transient domains with it). A per-replica file would do
 * the same job at the cost of an inode per replica, which measured as the
 * largest part of a burst's work. */
static int
write_intent(struct controller *c, const struct job *j, struct vmirs_err **err)
{
    struct timespec ts;
    cleanup_free char *line = NULL;
    ssize_t w;

    clock_gettime(CLOCK_REALTIME, &ts);
    line = xasprintf("%s %s %u %lld\n", j->id.domain_name, j->id.vmirs_uid, j->slot,
                     (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    w = write(c->journal_fd, line, strlen(line));
    if (w != (ssize_t) strlen(line))
        return err_set(err, w < 0 ? errno : EIO, "record the replica `%s` in the intent journal",
                       j->id.domain_name);
    return 0;
}

/* Note an image the replica uses (worker thread, the job's own memory). */
static void
parsed_image_used(void *opaque, const struct image_disk *img)
{
    struct parsed *p = opaque;
    struct job *j = p->job;

    if (j->nimages >= JOB_MAX_IMAGES)
        return;
    j->images[j->nimages++] = (struct image_disk){
        .ref = xstrdup(img->ref ? img->ref : ""),
        .digest = xstrdup(img->digest ? img->digest : ""),
        .path = xstrdup(img->path ? img->path : ""),
        .format = img->format,
        .virtual_size = img->virtual_size,
    };
}

/* Build the replica's files from the manifests the job holds (parsed once,
 * on the spool's change, and never changed after), and create it. */
static int
work_create(struct job *j, char **errmsg)
{
    struct controller *c = j->c;
    struct parsed p = {j->contents, j->ncontents, j};
    struct materialize_objects objs = {.config_map = parsed_config_map,
                                       .secret = parsed_secret,
                                       .image_used = parsed_image_used,
                                       .opaque = &p};
    struct vmirs_err *err = NULL;
    const struct vmirs *v;
    cleanup_free char *xml = NULL;
    int rc = -1;

    v = parsed_find(&p, KOBJ_VMIRS, j->ns, j->vmirs_name);
    if (!v) {
        err_set(&err, 0, "VirtualMachineInstanceReplicaSet \"%s/%s\" vanished", j->ns,
                j->vmirs_name);
    } else if (materialize_replica(c->conf, c->type, v, &objs, &j->id, &xml, &err) == 0) {
        if (write_intent(c, j, &err) == 0 && c->ops->create(c->v, xml, &err) == 0)
            rc = 0;
        j->errcode = rc < 0 && err ? err->code : 0;
        /* The connection died during the call: the domain may exist, with
         * these files under it. The next list decides; the files stay.
         * Otherwise only what this create made is removed. */
        if (rc < 0 && j->errcode != ECONNRESET && j->id.made_dir) {
            struct vmirs_err *ignored = NULL;

            materialize_remove(c->conf, j->id.domain_name, &ignored);
            err_free(&ignored);
        }
    }
    if (rc < 0)
        return err_to_msg(&err, errmsg);
    return 0;
}

/* Parse and validate spool changes: manifests can be large or hostile
 * (SPEC section 2), and the loop must stay free for events. */
static void
work_parse(struct job *j)
{
    for (size_t i = 0; i < j->nitems; i++) {
        struct parse_item *it = &j->items[i];

        if (it->bytes)
            desired_parse(&it->out, it->path, it->bytes, it->len);
        else
            desired_parsed_removed(&it->out, it->path);
        free(it->bytes);
        it->bytes = NULL;
    }
}

static int
job_work(void *arg, char **errmsg)
{
    struct job *j = arg;
    struct controller *c = j->c;
    struct vmirs_err *err = NULL;
    int rc = 0;

    switch (j->kind) {
    case JOB_CREATE:
        return work_create(j, errmsg);
    case JOB_PARSE:
        work_parse(j);
        return 0;
    case JOB_SHUTDOWN:
        rc = c->ops->shutdown(c->v, j->name, &err);
        break;
    case JOB_DESTROY:
        rc = c->ops->destroy(c->v, j->name, &err);
        break;
    case JOB_REAP:
        rc = c->ops->destroy(c->v, j->name, &err);
        if (rc == 0)
            rc = materialize_remove(c->conf, j->name, &err);
        break;
    case JOB_SET_META:
        rc = c->ops->set_meta(c->v, j->name, &j->meta, &err);
        break;
    case JOB_LIST:
        rc = c->ops->list(c->v, &j->doms, &j->ndoms, &err);
        break;
    case JOB_GET:
        rc = c->ops->get(c->v, j->name, &j->one, &err);
        break;
    case JOB_PROBE:
        rc = probe_run(c->ops, c->v, j->name, &j->probe, &err);
        break;
    case JOB_ADDRESS:
        rc = c->ops->address(c->v, j->name, &j->address, &err);
        break;
    case JOB_FORWARD: {
        /* Idempotent: a forward QEMU already has (set up before a
         * restart) is left alone. */
        cleanup_free char *usernet = NULL;

        if (c->ops->hmp(c->v, j->name, "info usernet", &usernet, &err) < 0) {
            rc = -1;
            break;
        }
        for (size_t i = 0; i < j->meta.nports && rc == 0; i++)
            if (!probe_usernet_forwarded(usernet, j->meta.ports[i].host))
                rc = c->ops->forward(c->v, j->name, j->netdev, j->meta.ports[i].host,
                                     j->meta.ports[i].guest, &err);
        break;
    }
    }
    if (rc < 0) {
        j->errcode = err ? err->code : 0;
        return err_to_msg(&err, errmsg);
    }
    return 0;
}

static void job_done(void *arg, int rc, char *errmsg);

static void
submit(struct controller *c, struct job *j)
{
    j->c = c;
    c->inflight++;
    workq_submit(c->q, job_work, job_done, j);
}

static struct job *
job_new(enum job_kind kind, const char *name)
{
    struct job *j = xcalloc(1, sizeof(*j));

    j->kind = kind;
    j->name = name ? xstrdup(name) : NULL;
    return j;
}

/* ---- probes ---- */

static void on_probe_timer(uv_timer_t *t);
static struct backoff *slot_backoff(struct rs *s, unsigned slot);

/* The replica's template, through its owner's spec in force. */
static const struct vmi_spec *
rep_spec(struct controller *c, const struct replica *r)
{
    const struct rs *s = rs_find_uid(c, r->meta.owner_uid);
    const struct vmi_template *t = s && s->spec ? s->spec->spec.template : NULL;

    return t ? &t->spec : NULL;
}

static const struct probe *
rep_probe(struct controller *c, const struct replica *r, bool liveness)
{
    const struct vmi_spec *spec = rep_spec(c, r);

    if (!spec)
        return NULL;
    return liveness ? spec->liveness_probe : spec->readiness_probe;
}

/* An event about one replica (a VirtualMachineInstance), as the kubelet
 * records probe failures on a pod. */
static void
vmi_event(struct controller *c, const struct replica *r, bool warning, const char *reason,
          const char *msg)
{
    const char *us = strchr(r->name, '_');

    if (!c->store)
        return;
    store_event(c->store,
                &(struct store_event){
                    .namespace = r->namespace,
                    .kind = "VirtualMachineInstance",
                    .name = r->meta.vmi_name ? r->meta.vmi_name
                            : us             ? us + 1
                                             : r->name,
                    .uid = r->meta.vmi_uid,
                    .type = warning ? "Warning" : "Normal",
                    .reason = reason,
                    .message = msg,
                    .source = "vmirsd-prober",
                },
                wall_ms());
    schedule_commit(c);
}

static void
schedule_probes(struct controller *c)
{
    int64_t now = now_ms(c), next = -1;

    if (c->stopping)
        return;
    for (size_t i = 0; i < c->nreps; i++) {
        const struct replica *r = c->reps[i];

        if (r->phase != PHASE_RUNNING || r->deleting)
            continue;
        if (r->readiness_on && !r->readiness.running && (next < 0 || r->readiness.next_ms < next))
            next = r->readiness.next_ms;
        if (r->liveness_on && !r->liveness.running && (next < 0 || r->liveness.next_ms < next))
            next = r->liveness.next_ms;
    }
    if (next < 0)
        uv_timer_stop(&c->probe_timer);
    else
        uv_timer_start(&c->probe_timer, on_probe_timer, (uint64_t) (next > now ? next - now : 0),
                       0);
}

static void
probe_arm(struct controller *c, struct replica *r)
{
    const struct probe *rp = rep_probe(c, r, false), *lp = rep_probe(c, r, true);
    struct probe_timing t;

    if (!rep_spec(c, r))
        return; /* not known yet: armed by the first pass that knows it */
    r->probes_armed = true;
    r->readiness_on = probe_kind_of(rp) != PROBE_NONE;
    if (r->readiness_on) {
        probe_timing_of(rp, &t);
        probe_start(&r->readiness, &t, r->was_ready, r->started_ms);
    }
    r->was_ready = false;
    r->liveness_on = probe_kind_of(lp) != PROBE_NONE;
    if (r->liveness_on) {
        probe_timing_of(lp, &t);
        probe_start(&r->liveness, &t, true, r->started_ms);
    }
    schedule_probes(c);
}

static void probe_result(struct controller *c, const char *name, bool liveness,
                         const struct probe_timing *t, int rc, const char *errmsg);

/* A tcpSocket or httpGet probe on the loop. */
struct net_probe_ctx {
    struct controller *c;
    char *name;
    bool liveness;
    struct probe_timing t;
};

static void
net_probe_done(void *opaque, int rc, const char *why)
{
    struct net_probe_ctx *x = opaque;
    struct controller *c = x->c;

    c->inflight--;
    probe_result(c, x->name, x->liveness, &x->t, rc, why ? why : "failed");
    free(x->name);
    free(x);
    maybe_stopped(c);
}

static void
start_probe(struct controller *c, struct replica *r, bool liveness)
{
    struct job *j = job_new(JOB_PROBE, r->name);
    struct probe_state *st = liveness ? &r->liveness : &r->readiness;

    probe_action_of(rep_probe(c, r, liveness), rep_spec(c, r), &j->probe);
    if (j->probe.kind == PROBE_NONE) {
        /* The probe went with the spec that had it (edited out, the set
         * removed, the replica released): stop probing. Readiness then
         * follows the domain alone. */
        job_free(j);
        if (liveness)
            r->liveness_on = false;
        else {
            r->readiness_on = false;
            rep_update_ready(c, r);
            mark_replica_dirty(c, r);
        }
        return;
    }
    st->running = true;
    if ((j->probe.kind == PROBE_TCP || j->probe.kind == PROBE_HTTP) &&
        strcmp(c->conf->network, "user") != 0) {
        /* A libvirt network: the guest's own address, from its lease. */
        if (!r->address) {
            if (!r->address_lookup) {
                r->address_lookup = true;
                submit(c, job_new(JOB_ADDRESS, r->name));
            }
            probe_result(c, r->name, liveness, &j->probe.t, -1,
                         "the replica has no address on its network yet");
            job_free(j);
            return;
        }
        j->probe.address = xstrdup(r->address);
    } else if (j->probe.kind == PROBE_TCP || j->probe.kind == PROBE_HTTP) {
        for (size_t i = 0; i < r->meta.nports; i++)
            if (r->meta.ports[i].guest == j->probe.guest_port)
                j->probe.host_port = r->meta.ports[i].host;
        if (!j->probe.host_port) {
            cleanup_free char *why =
                xasprintf("no host port is forwarded to guest port %u", j->probe.guest_port);

            probe_result(c, r->name, liveness, &j->probe.t, -1, why);
            job_free(j);
            return;
        }
    }
    if (j->probe.kind == PROBE_HTTP) {
        /* On the loop; everything else waits on libvirt in a worker. */
        struct net_probe_ctx *x = xcalloc(1, sizeof(*x));

        *x = (struct net_probe_ctx){c, xstrdup(r->name), liveness, j->probe.t};
        c->inflight++;
        probe_net_start(c->loop, &j->probe, net_probe_done, x);
        job_free(j);
        return;
    }
    j->liveness = liveness;
    j->c = c;
    c->inflight++;
    workq_submit(c->probe_q, job_work, job_done, j);
}

static void
on_probe_timer(uv_timer_t *t)
{
    struct controller *c = t->data;
    int64_t now = now_ms(c);

    for (size_t i = 0; i < c->nreps; i++) {
        struct replica *r = c->reps[i];

        if (r->phase != PHASE_RUNNING || r->deleting)
            continue;
        if (r->readiness_on && !r->readiness.running && r->readiness.next_ms <= now)
            start_probe(c, r, false);
        if (r->liveness_on && !r->liveness.running && r->liveness.next_ms <= now)
            start_probe(c, r, true);
    }
    schedule_probes(c);
}

static void
probe_result(struct controller *c, const char *name, bool liveness, const struct probe_timing *t,
             int rc, const char *errmsg)
{
    struct replica *r = rep_find(c, name);
    struct probe_state *st;
    bool changed;

    if (!r || r->phase != PHASE_RUNNING || r->deleting ||
        !(liveness ? r->liveness_on : r->readiness_on))
        goto out;
    st = liveness ? &r->liveness : &r->readiness;
    changed = probe_record(st, t, rc == 0, now_ms(c));
    if (rc < 0) {
        cleanup_free char *msg =
            xasprintf("%s probe failed: %s", liveness ? "Liveness" : "Readiness", errmsg);

        vmi_event(c, r, true, "Unhealthy", msg);
        log_debug("replica `%s`: %s", r->name, msg);
    }
    if (changed && !liveness) {
        log_info("replica `%s`: readiness probe %s", r->name, st->result ? "passed" : "failed");
        rep_update_ready(c, r);
        mark_replica_dirty(c, r);
    }
    if (changed && liveness && !st->result) {
        struct rs *s = rs_find_uid(c, r->meta.owner_uid);

        /* Killed and replaced, never restarted in place; a replica that
         * keeps failing backs its slot off like a crash. */
        log_info("replica `%s`: liveness probe failed: destroying it", r->name);
        vmi_event(c, r, false, "Killing",
                  "Stopping virtual machine: it failed its liveness probe, it will be replaced");
        if (s)
            backoff_failed(slot_backoff(s, r->meta.slot), r->started_ms, now_ms(c));
        r->deleting = true;
        submit(c, job_new(JOB_DESTROY, r->name));
        mark_replica_dirty(c, r);
    }
out:
    schedule_probes(c);
}

static void
probe_done(struct controller *c, struct job *j, int rc, const char *errmsg)
{
    struct replica *r = rep_find(c, j->name);

    if (rc < 0 && job_lost(j)) {
        /* No answer for want of libvirt says nothing about the guest: no
         * result, the probe is tried again a period later. */
        if (r) {
            struct probe_state *st = j->liveness ? &r->liveness : &r->readiness;

            st->running = false;
            st->next_ms = now_ms(c) + j->probe.t.period_ms;
        }
        schedule_probes(c);
        return;
    }
    probe_result(c, j->name, j->liveness, &j->probe.t, rc, errmsg);
}

/* ---- observing ---- */

static void
apply_domain(struct controller *c, const struct virt_domain *d)
{
    struct replica *r = rep_find(c, d->name);
    bool ready, adopted_at_start = false;
    enum replica_phase phase = controller_phase(d->state, d->reason, &ready);

    if (!r) {
        r = rep_add(c, d->name);
        r->started_ms = r->created_ms;
        /* A replica that was Ready before vmirsd restarted stays Ready
         * until its readiness probe says otherwise, as it would have. */
        r->was_ready = !c->listed && c->store && store_replica_ready(c->store, d->name) == 1;
        adopted_at_start = !c->listed;
    }
    dommeta_free(&r->meta);
    r->meta = (struct dommeta){0};
    r->meta.owner_namespace = d->meta.owner_namespace ? xstrdup(d->meta.owner_namespace) : NULL;
    r->meta.owner_name = d->meta.owner_name ? xstrdup(d->meta.owner_name) : NULL;
    r->meta.owner_uid = d->meta.owner_uid ? xstrdup(d->meta.owner_uid) : NULL;
    r->meta.vmi_name = d->meta.vmi_name ? xstrdup(d->meta.vmi_name) : NULL;
    r->meta.vmi_uid = d->meta.vmi_uid ? xstrdup(d->meta.vmi_uid) : NULL;
    r->meta.template_hash = d->meta.template_hash ? xstrdup(d->meta.template_hash) : NULL;
    r->meta.slot = d->meta.slot;
    for (size_t i = 0; i < d->meta.labels.n; i++)
        labels_set(&r->meta.labels, d->meta.labels.v[i].key, d->meta.labels.v[i].value);
    memcpy(r->meta.ports, d->meta.ports, sizeof(r->meta.ports));
    r->meta.nports = d->meta.nports;
    r->intent = false;
    r->phantom = false;
    r->gen = c->gen;
    if (!r->creating)
        rep_set_phase(c, r, phase, ready);
    else
        rep_store(c, r);
    /* vmirsd may have died between a create and its forwards. */
    if (adopted_at_start && r->meta.nports && phase == PHASE_RUNNING &&
        strcmp(c->conf->network, "user") == 0)
        start_forward(c, r);
    mark_replica_dirty(c, r);
}

/* Creates recorded before a restart whose domains are not (yet) in
 * libvirt: pending for a while (libvirtd may still be finishing one),
 * then given up. Replica directories that belong to no replica are
 * removed. Runs once, after the first list, before any create. */
static void
scan_intents(struct controller *c)
{
    cleanup_free char *path = xasprintf("%s/%s", c->conf->state_dir, INTENT_JOURNAL);
    cleanup_free char *text = NULL, *dir = xasprintf("%s/replicas", c->conf->state_dir);
    struct timespec ts;
    int64_t wall;
    DIR *d;
    struct dirent *e;

    clock_gettime(CLOCK_REALTIME, &ts);
    wall = (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (read_file(path, &text, NULL) == 0) {
        /* "NAME done" lines settle the intent of that name. */
        size_t nlines = 0, ndone = 0;
        char **lines = NULL, **done = NULL;

        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
            char name[256], word[128];

            lines = xrealloc(lines, (nlines + 1) * sizeof(*lines));
            lines[nlines++] = line;
            if (sscanf(line, "%255s %127s", name, word) == 2 && strcmp(word, "done") == 0) {
                done = xrealloc(done, (ndone + 1) * sizeof(*done));
                done[ndone++] = line;
                line[strlen(name)] = '\0';
            }
        }
        for (size_t i = 0; i < nlines; i++) {
            char name[256], uid[128];
            unsigned slot;
            long long t;
            struct replica *r;
            bool settled = false;

            if (sscanf(lines[i], "%255s %127s %u %lld", name, uid, &slot, &t) != 4 ||
                rep_find(c, name) || wall - t > INTENT_GRACE_MS)
                continue;
            for (size_t k = 0; k < ndone && !settled; k++)
                settled = strcmp(done[k], name) == 0;
            if (settled)
                continue;
            r = rep_add(c, name);
            r->meta.owner_uid = xstrdup(uid);
            r->meta.slot = slot;
            r->intent = true;
            r->phantom = true;
            r->phase = PHASE_PENDING;
            r->gen = c->gen;
            log_info("replica `%s` was being created before a restart: counted as pending", name);
            mark_replica_dirty(c, r);
        }
        free(lines);
        free(done);
    }
    /* Start the journal afresh with what is still pending. */
    if (ftruncate(c->journal_fd, 0) < 0)
        log_warn("truncate %s: %s", path, strerror(errno));
    c->journal_lines = 0;
    for (size_t i = 0; i < c->nreps; i++) {
        const struct replica *r = c->reps[i];
        cleanup_free char *line = NULL;

        if (!r->intent)
            continue;
        line = xasprintf("%s %s %u %lld\n", r->name, r->meta.owner_uid, r->meta.slot,
                         (long long) wall);
        if (write(c->journal_fd, line, strlen(line)) < 0)
            log_warn("write %s: %s", path, strerror(errno));
        c->journal_lines++;
    }

    d = opendir(dir);
    if (!d)
        return;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || rep_find(c, e->d_name))
            continue;
        log_info("remove the files of replica `%s`: its domain no longer exists", e->d_name);
        submit(c, job_new(JOB_REAP, e->d_name));
    }
    closedir(d);
}

/* Record that the create of domain name is over (made or failed), so
 * that no later restart takes it for one in flight. */
static void
journal_settle(struct controller *c, const char *name)
{
    cleanup_free char *line = xasprintf("%s done\n", name);

    if (c->journal_fd >= 0 && write(c->journal_fd, line, strlen(line)) < 0)
        log_warn("write the intent journal: %s", strerror(errno));
    c->journal_lines++;
}

static void on_resync(uv_timer_t *t);

static void
list_done(struct controller *c, struct job *j, int rc, const char *errmsg)
{
    c->listing = false;
    if (rc < 0) {
        if (job_lost(j)) {
            log_debug("list domains: %s", errmsg);
        } else {
            /* Try again soon: until a list succeeds nothing is done. */
            log_warn("list domains: %s; trying again in 1 s", errmsg);
            uv_timer_start(&c->resync_timer, on_resync, 1000,
                           (uint64_t) c->conf->resync_interval * 1000);
        }
        return;
    }
    c->gen++;
    for (size_t i = 0; i < j->ndoms; i++)
        apply_domain(c, &j->doms[i]);
    /* What libvirt no longer has is lost, unless it is being created, is a
     * recorded intent still within its grace, or is being deleted. */
    for (size_t i = 0; i < c->nreps; i++) {
        struct replica *r = c->reps[i];

        if (r->gen == c->gen || r->creating)
            continue;
        if (r->intent && j->submitted_ms < c->first_list_ms + INTENT_SETTLE_MS)
            continue;
        if (r->intent) {
            log_info("replica `%s` was never created: its files are removed", r->name);
            journal_settle(c, r->name);
        }
        if (r->phase != PHASE_SUCCEEDED && r->phase != PHASE_FAILED)
            rep_set_phase(c, r, PHASE_UNKNOWN, false);
        r->intent = false;
        mark_replica_dirty(c, r);
    }
    if (!c->listed) {
        bool pending = false;

        c->listed = true;
        scan_intents(c);
        for (size_t i = 0; i < c->nsets; i++)
            mark_dirty(c, c->sets[i]);
        /* Settle the intents with a list taken late enough to show them. */
        for (size_t i = 0; i < c->nreps && !pending; i++)
            pending = c->reps[i]->intent;
        if (pending) {
            int64_t due = c->first_list_ms + INTENT_SETTLE_MS - now_ms(c);

            uv_timer_start(&c->resync_timer, on_resync, (uint64_t) (due > 0 ? due : 0),
                           (uint64_t) c->conf->resync_interval * 1000);
        }
    }
    if (c->relist) {
        /* Back after an outage: every set is looked at again, at full
         * speed (the outage charged nobody's back-off). */
        c->relist = false;
        for (size_t i = 0; i < c->nsets; i++)
            mark_dirty(c, c->sets[i]);
    }
    schedule_pass(c);
}

static void
request_list(struct controller *c)
{
    struct job *j;

    if (c->listing || !c->connected || c->stopping)
        return;
    c->listing = true;
    j = job_new(JOB_LIST, NULL);
    j->submitted_ms = now_ms(c);
    if (!c->listed && !c->first_list_ms)
        c->first_list_ms = j->submitted_ms;
    submit(c, j);
}

/* ---- acting ---- */

static struct backoff *
slot_backoff(struct rs *s, unsigned slot)
{
    if (slot >= s->nslots) {
        s->slots = xrealloc(s->slots, (slot + 1) * sizeof(*s->slots));
        memset(&s->slots[s->nslots], 0, (slot + 1 - s->nslots) * sizeof(*s->slots));
        s->nslots = slot + 1;
    }
    return &s->slots[slot];
}

/* Which slots of s are held by a live replica: computed once per pass,
 * since a burst looks for free slots hundreds of times. */
static bool *
slots_taken(struct controller *c, const struct rs *s, size_t nslots)
{
    bool *taken = xcalloc(nslots, sizeof(bool));

    for (size_t i = 0; i < c->nreps; i++) {
        const struct replica *r = c->reps[i];

        if (r->meta.slot < nslots && !r->deleting &&
            (r->phase == PHASE_PENDING || r->phase == PHASE_RUNNING) &&
            streq0(r->meta.owner_uid, s->uid))
            taken[r->meta.slot] = true;
    }
    return taken;
}

/* Manifests the replica needs: its VMIRS's and those of its ConfigMaps
 * and Secrets, each held by reference for the worker. */
static void
job_add_file(struct job *j, const struct desired_file *f)
{
    if (!f || !f->content)
        return;
    for (size_t i = 0; i < j->ncontents; i++)
        if (j->contents[i] == f->content)
            return;
    j->contents = xrealloc(j->contents, (j->ncontents + 1) * sizeof(*j->contents));
    j->contents[j->ncontents++] = desired_content_ref(f->content);
}

/* Whether a live replica holds host port. */
static bool
port_taken(const struct controller *c, unsigned port)
{
    for (size_t i = 0; i < c->nreps; i++)
        for (size_t k = 0; k < c->reps[i]->meta.nports; k++)
            if (c->reps[i]->meta.ports[k].host == port)
                return true;
    return false;
}

/* With network = user, give each guest port the template needs a free
 * loopback host port from host_port_range, recorded in the replica's
 * metadata; they are free again when the replica is gone. Allocation
 * goes round the range, so a port just freed is not handed out again at
 * once. */
static void
ports_allocate(struct controller *c, struct replica *r, const struct vmi_spec *spec)
{
    unsigned guest[DOMMETA_MAX_PORTS];
    size_t n;
    unsigned lo = c->conf->host_port_min, hi = c->conf->host_port_max;

    if (strcmp(c->conf->network, "user") != 0)
        return;
    n = probe_guest_ports(spec, guest, DOMMETA_MAX_PORTS);
    for (size_t i = 0; i < n; i++) {
        unsigned span = hi - lo + 1, port = 0;

        for (unsigned k = 0; k < span && !port; k++) {
            unsigned p = lo + (c->next_port + k) % span;

            if (!port_taken(c, p))
                port = p;
        }
        if (!port) {
            log_warn("replica `%s`: no free host port in %u-%u for guest port %u", r->name, lo, hi,
                     guest[i]);
            continue;
        }
        c->next_port = port - lo + 1;
        r->meta.ports[r->meta.nports++] = (struct dommeta_port){port, guest[i]};
    }
}

/* Set up the replica's host port forwards once its QEMU runs. The
 * user-mode netdev of the first interface: libvirt names it "host" and
 * the interface's alias, which vmirsd sets to "ua-" and its name. */
static void
start_forward(struct controller *c, struct replica *r)
{
    const struct vmi_spec *spec = rep_spec(c, r);
    const char *iface = spec && spec->domain.devices.interfaces.n
                            ? spec->domain.devices.interfaces.v[0].name
                            : "default";
    struct job *j = job_new(JOB_FORWARD, r->name);

    j->netdev = xasprintf("hostua-%s", iface);
    memcpy(j->meta.ports, r->meta.ports, sizeof(j->meta.ports));
    j->meta.nports = r->meta.nports;
    submit(c, j);
}

/* Draws of a random name before a create gives up for this pass: with
 * 27^5 names, eight taken in a row means the name space is full. */
#define CONTROLLER_NAME_TRIES 8

static bool
name_taken(const char *domain_name, void *opaque)
{
    return rep_find(opaque, domain_name) != NULL;
}

static void
start_create(struct controller *c, struct rs *s, unsigned slot)
{
    const struct kobj *o = desired_find(&c->desired, KOBJ_VMIRS, s->namespace, s->name);
    const struct vmi_spec *t = &s->spec->spec.template->spec;
    struct job *j = job_new(JOB_CREATE, NULL);
    struct replica *r;

    /* Free among the replicas vmirsd knows: libvirt's domains with its
     * metadata, creates in flight, intents recorded before a restart, and
     * replicas being removed (their directories still exist). */
    if (replica_id_new_free(&j->id, s->spec, names_rng_system, NULL, name_taken, c,
                            CONTROLLER_NAME_TRIES) < 0) {
        log_warn("%s: no free replica name after %d draws", event_name(s), CONTROLLER_NAME_TRIES);
        job_free(j);
        return;
    }
    j->id.slot = slot;
    j->slot = slot;
    j->ns = xstrdup(s->namespace);
    j->vmirs_name = xstrdup(s->name);
    job_add_file(j, desired_file_of(&c->desired, o));
    for (size_t i = 0; i < t->volumes.n; i++) {
        const struct volume *vol = &t->volumes.v[i];
        const struct kobj *ref = NULL;

        const struct cloud_init_src *ci =
            vol->cloud_init_nocloud ? vol->cloud_init_nocloud : vol->cloud_init_config_drive;

        if (vol->config_map)
            ref = desired_find(&c->desired, KOBJ_CONFIG_MAP, s->namespace, vol->config_map->name);
        else if (vol->secret)
            ref = desired_find(&c->desired, KOBJ_SECRET, s->namespace, vol->secret->secret_name);
        if (ref)
            job_add_file(j, desired_file_of(&c->desired, ref));
        /* Cloud-init data kept in Secrets (secretRef, networkDataSecretRef). */
        for (int k = 0; ci && k < 2; k++) {
            const struct local_ref *lr = k ? ci->network_data_secret_ref : ci->secret_ref;

            ref = lr ? desired_find(&c->desired, KOBJ_SECRET, s->namespace, lr->name) : NULL;
            if (ref)
                job_add_file(j, desired_file_of(&c->desired, ref));
        }
    }
    /* Recorded before the call: counted as pending, never created twice. */
    r = rep_add(c, j->id.domain_name);
    r->creating = true;
    r->phase = PHASE_PENDING;
    r->meta.owner_namespace = xstrdup(s->namespace);
    r->meta.owner_name = xstrdup(s->name);
    r->meta.owner_uid = xstrdup(s->uid);
    r->meta.vmi_name = xstrdup(j->id.vmi_name);
    r->meta.vmi_uid = xstrdup(j->id.vmi_uid);
    r->meta.template_hash = xstrdup(j->id.template_hash);
    r->meta.slot = slot;
    for (size_t i = 0; i < s->spec->spec.template->metadata.labels.n; i++)
        labels_set(&r->meta.labels, s->spec->spec.template->metadata.labels.v[i].key,
                   s->spec->spec.template->metadata.labels.v[i].value);
    ports_allocate(c, r, t);
    memcpy(j->id.ports, r->meta.ports, sizeof(j->id.ports));
    j->id.nports = r->meta.nports;
    j->name = xstrdup(j->id.domain_name);
    s->inflight++;
    rep_store(c, r);
    submit(c, j);
}

/* Kept when the spec goes, so a cascade still honours it. */
static void
rs_update_grace(struct rs *s)
{
    const struct opt_int *g = &s->spec->spec.template->spec.termination_grace_period_seconds;

    s->grace_ms = g->set ? g->v * 1000 : 30 * 1000;
}

static void
on_grace(uv_timer_t *t)
{
    struct replica *r = t->data;

    log_info("replica `%s` did not shut down within its grace period: destroying it", r->name);
    rep_cancel_grace(r);
    submit(r->c, job_new(JOB_DESTROY, r->name));
}

static void
start_delete(struct controller *c, struct rs *s, struct replica *r)
{
    int64_t g = s->grace_ms;

    r->deleting = true;
    if (g == 0) {
        submit(c, job_new(JOB_DESTROY, r->name));
        return;
    }
    submit(c, job_new(JOB_SHUTDOWN, r->name));
    r->grace = xcalloc(1, sizeof(*r->grace));
    uv_timer_init(c->loop, r->grace);
    r->grace->data = r;
    uv_timer_start(r->grace, on_grace, (uint64_t) g, 0);
}

static void
start_reap(struct controller *c, struct replica *r)
{
    r->deleting = true;
    rep_cancel_grace(r);
    submit(c, job_new(JOB_REAP, r->name));
}

static void
start_set_owner(struct controller *c, struct replica *r, const struct rs *s)
{
    struct job *j = job_new(JOB_SET_META, r->name);

    free(r->meta.owner_namespace);
    free(r->meta.owner_name);
    free(r->meta.owner_uid);
    r->meta.owner_namespace = s ? xstrdup(s->namespace) : NULL;
    r->meta.owner_name = s ? xstrdup(s->name) : NULL;
    r->meta.owner_uid = s ? xstrdup(s->uid) : NULL;
    j->meta.owner_namespace = s ? xstrdup(s->namespace) : NULL;
    j->meta.owner_name = s ? xstrdup(s->name) : NULL;
    j->meta.owner_uid = s ? xstrdup(s->uid) : NULL;
    j->meta.vmi_name = r->meta.vmi_name ? xstrdup(r->meta.vmi_name) : NULL;
    j->meta.vmi_uid = r->meta.vmi_uid ? xstrdup(r->meta.vmi_uid) : NULL;
    j->meta.template_hash = xstrdup(r->meta.template_hash ? r->meta.template_hash : "");
    j->meta.slot = r->meta.slot;
    for (size_t i = 0; i < r->meta.labels.n; i++)
        labels_set(&j->meta.labels, r->meta.labels.v[i].key, r->meta.labels.v[i].value);
    memcpy(j->meta.ports, r->meta.ports, sizeof(j->meta.ports));
    j->meta.nports = r->meta.nports;
    rep_store(c, r);
    submit(c, j);
}

/* Conditions: an event when one starts to hold, and the store's rows
 * rewritten each pass (an unchanged row keeps its transition time). */
static void
rs_conditions(struct controller *c, struct rs *s)
{
    const struct kobj *o =
        s->spec ? desired_find(&c->desired, KOBJ_VMIRS, s->namespace, s->name) : NULL;
    const struct desired_file *f = o ? desired_file_of(&c->desired, o) : NULL;
    bool invalid = f && f->problem.errors > 0;
    bool paused = s->spec && s->spec->spec.paused.set && s->spec->spec.paused.v;
    bool mismatch = s->spec && s->spec->selector_mismatch;
    cleanup_free char *invalid_msg = NULL;

    if (invalid) {
        const struct diag *d = NULL;

        for (size_t i = 0; i < f->problem.n && !d; i++)
            if (f->problem.v[i].severity == DIAG_ERROR)
                d = &f->problem.v[i];
        /* Escaped: a file name or message with a newline must not forge a
         * record in the log or in `vmirsctl events`. */
        cleanup_free char *file = log_escape_name(d ? d->file : f->path);
        cleanup_free char *msg = d ? log_escape_text(d->msg) : NULL;

        invalid_msg = d ? xasprintf("%s:%u:%u: %s; the last good content stays in force", file,
                                    d->line, d->col, msg)
                        : xasprintf("%s has errors; its last good content stays in force", file);
    }
    if (invalid != s->invalid_seen) {
        if (invalid)
            rs_event(c, s, true, "ManifestInvalid", "%s", invalid_msg);
        s->invalid_seen = invalid;
    }
    if (paused != s->paused_seen) {
        rs_event(c, s, false, paused ? "SuccessfulPaused" : "SuccessfulResumed",
                 paused ? "Paused" : "Resumed");
        s->paused_seen = paused;
    }
    if (mismatch != s->mismatch_seen) {
        if (mismatch)
            rs_event(c, s, true, "SelectorMismatch", SELECTOR_MISMATCH_MSG);
        s->mismatch_seen = mismatch;
    }
    if (!c->store || !s->spec)
        return;
    store_set_condition(c->store, s->uid, "ManifestInvalid", invalid, "ManifestInvalid",
                        invalid_msg, wall_ms());
    store_set_condition(c->store, s->uid, "ReplicaPaused", paused, "Paused", "", wall_ms());
    store_set_condition(c->store, s->uid, "SelectorMismatch", mismatch, "SelectorMismatch",
                        SELECTOR_MISMATCH_MSG, wall_ms());
}

/* KubeVirt's ReplicaFailure: set by a failed create or delete, cleared by
 * the next one that succeeds. */
static void
rs_failure(struct controller *c, const struct rs *s, const char *reason, const char *msg)
{
    if (c->store && s) {
        store_set_condition(c->store, s->uid, "ReplicaFailure", reason != NULL, reason, msg,
                            wall_ms());
        schedule_commit(c);
    }
}

/* The replica set's row: what the spool says and the status of this pass. */
static void
rs_store(struct controller *c, struct rs *s, int64_t desired, const struct reconcile_result *res)
{
    const struct kobj *o;
    const struct desired_file *f;
    cleanup_free char *labels = NULL, *annotations = NULL, *sel = NULL;

    if (!c->store || !s->spec)
        return;
    if (s->stored && s->stored_desired == desired && s->stored_replicas == res->replicas &&
        s->stored_ready == res->ready_replicas)
        return;
    s->stored = true;
    s->stored_desired = desired;
    s->stored_replicas = res->replicas;
    s->stored_ready = res->ready_replicas;
    o = desired_find(&c->desired, KOBJ_VMIRS, s->namespace, s->name);
    f = o ? desired_file_of(&c->desired, o) : NULL;
    labels = store_labels_json(&s->spec->metadata.labels);
    annotations = store_labels_json(&s->spec->metadata.annotations);
    sel = s->spec->selector_mismatch ? NULL : selector_string(&s->spec->selector);
    store_put_rs(c->store,
                 &(struct store_rs){
                     .uid = s->uid,
                     .namespace = s->namespace,
                     .name = s->name,
                     .api_version = s->spec->api_version,
                     .file = f ? f->path : NULL,
                     .labels_json = labels,
                     .annotations_json = annotations,
                     .spec_json = s->spec->spec_json,
                     .label_selector = sel,
                     .template_hash = s->spec->template_hash,
                     .desired = desired,
                     .replicas = res->replicas,
                     .ready_replicas = res->ready_replicas,
                 },
                 wall_ms());
}

static void on_retry(uv_timer_t *t);

static void
run_pass(struct controller *c, struct rs *s)
{
    struct observed *obs = xcalloc(c->nreps ? c->nreps : 1, sizeof(*obs));
    struct reconcile_desired d = {0};
    struct reconcile_result res = {0};
    size_t n = 0;
    int64_t now = now_ms(c), wait_min = -1;
    unsigned allowed, started = 0;
    size_t nslots;
    bool *taken;

    s->dirty = false;
    for (size_t i = 0; i < c->nreps; i++) {
        struct replica *r = c->reps[i];
        /* A replica whose owner is no replica set vmirsd knows (not in the
         * spool, not in the store) has no live owner: adoptable, like a
         * released one (SPEC section 3). */
        const char *owner =
            r->meta.owner_uid && rs_find_uid(c, r->meta.owner_uid) ? r->meta.owner_uid : NULL;

        if (owner ? strcmp(owner, s->uid) != 0 : strcmp(r->namespace, s->namespace) != 0)
            continue;
        if (r->phase == PHASE_RUNNING && streq0(owner, s->uid))
            backoff_running(slot_backoff(s, r->meta.slot), r->started_ms, now);
        if (r->phase == PHASE_RUNNING && !r->probes_armed && !r->deleting && s->spec &&
            streq0(owner, s->uid)) {
            probe_arm(c, r);
            rep_update_ready(c, r);
        }
        obs[n++] = (struct observed){
            .name = r->name,
            .owner_uid = owner,
            /* Never seen: its labels are not known, so it is never
             * released (only counted, then reaped when given up). */
            .labels = r->intent || r->phantom ? NULL : &r->meta.labels,
            .template_hash = r->meta.template_hash,
            .phase = r->phase,
            .ready = r->ready,
            .deleting = r->deleting,
            .created_ms = r->created_ms,
            .ready_since_ms = r->ready_since_ms,
        };
    }
    d.uid = s->uid;
    d.removed = s->removed;
    if (s->spec) {
        d.replicas = vmirs_replicas(s->spec);
        d.paused = s->spec->spec.paused.set && s->spec->spec.paused.v;
        d.selector_mismatch = s->spec->selector_mismatch;
        d.selector = s->spec->selector_mismatch ? NULL : &s->spec->selector;
    }
    rs_conditions(c, s);
    reconcile(&d, obs, n, &res);
    rs_store(c, s, d.replicas, &res);

    for (size_t i = 0; i < res.n; i++) {
        struct replica *r = rep_find(c, res.actions[i].name);

        if (!r)
            continue;
        switch (res.actions[i].kind) {
        case ACT_RELEASE:
            log_info("%s: release replica `%s`: its labels no longer match the selector",
                     event_name(s), r->name);
            start_set_owner(c, r, NULL);
            break;
        case ACT_ADOPT:
            log_info("%s: adopt replica `%s`", event_name(s), r->name);
            start_set_owner(c, r, s);
            break;
        case ACT_REAP:
            start_reap(c, r);
            break;
        case ACT_DELETE:
            start_delete(c, s, r);
            break;
        }
    }

    /* Slow start: 1, 2, 4... creates per batch; a batch runs to its end
     * before the next, and a failure starts over from 1. */
    if (res.create == 0 && s->inflight == 0)
        s->batch = 1;
    allowed = s->batch > s->inflight ? s->batch - s->inflight : 0;
    /* Enough slots for every replica there is plus the new ones. */
    nslots = res.create > 0 ? (size_t) d.replicas + res.create + c->nreps : 0;
    taken = nslots ? slots_taken(c, s, nslots) : NULL;
    for (unsigned slot = 0; res.create > started && allowed > 0 && slot < nslots; slot++) {
        struct backoff *b;
        int64_t wait;

        if (taken[slot])
            continue;
        b = slot_backoff(s, slot);
        if (!backoff_ready(b, now, &wait)) {
            if (wait_min < 0 || wait < wait_min)
                wait_min = wait;
            continue;
        }
        start_create(c, s, slot);
        taken[slot] = true;
        started++;
        allowed--;
    }
    free(taken);
    /* A backed-off slot: come back when the earliest one may try again. */
    if (wait_min >= 0 && (!uv_is_active((uv_handle_t *) &c->retry_timer) ||
                          uv_timer_get_due_in(&c->retry_timer) > (uint64_t) wait_min))
        uv_timer_start(&c->retry_timer, on_retry, (uint64_t) wait_min, 0);
    if (log_enabled(LOG_LEVEL_DEBUG))
        log_debug("%s: desired %lld, active %lld, ready %lld, creating %u", event_name(s),
                  (long long) d.replicas, (long long) res.replicas, (long long) res.ready_replicas,
                  started);
    reconcile_result_free(&res);
    free(obs);
}

static bool
keep_replica(const char *domain, void *opaque)
{
    return rep_find(opaque, domain) != NULL;
}

static bool
spool_has_file(const struct controller *c, const char *path)
{
    for (size_t i = 0; path && i < c->desired.nfiles; i++)
        if (strcmp(c->desired.files[i].path, path) == 0)
            return true;
    return false;
}

/* Replica sets the store knew that the spool no longer has: removed while
 * vmirsd was down. Their replicas are deleted like any cascade, as
 * Kubernetes' garbage collector deletes dependents of a deleted owner. A
 * set whose file is still there but has had no good content since the
 * restart keeps its replicas untouched: a bad edit never tears them down. */
static void
collect_removed_while_down(struct controller *c)
{
    struct store_rs_row *rows;
    size_t n = store_rs_rows(c->store, &rows);

    for (size_t i = 0; i < n; i++) {
        struct rs *s;

        bool frozen;

        if (rs_find_uid(c, rows[i].uid))
            continue;
        frozen = spool_has_file(c, rows[i].file);
        s = xcalloc(1, sizeof(*s));
        s->namespace = steal_ptr(&rows[i].namespace);
        s->name = steal_ptr(&rows[i].name);
        s->uid = steal_ptr(&rows[i].uid);
        s->file = steal_ptr(&rows[i].file);
        s->batch = 1;
        s->frozen = frozen;
        s->removed = !frozen;
        s->dirty = !frozen;
        s->grace_ms = 30 * 1000; /* KubeVirt's default: the spec is gone */
        c->sets = xrealloc(c->sets, (c->nsets + 1) * sizeof(*c->sets));
        c->sets[c->nsets++] = s;
        if (frozen)
            log_warn("%s: %s has no good content since the restart: its replicas are left as "
                     "they are",
                     event_name(s), s->file);
        else
            log_info("%s: removed from the spool while vmirsd was down: deleting its replicas",
                     event_name(s));
    }
    store_rs_rows_free(rows, n);
}

static void
on_pass(uv_timer_t *t)
{
    struct controller *c = t->data;

    if (c->stopping || !c->listed || !c->spool_settled || !c->connected || c->relist)
        return; /* the sets stay dirty: the pass after the next list does it */
    if (c->store && !c->pruned)
        collect_removed_while_down(c);
    for (size_t i = 0; i < c->nsets; i++)
        if (c->sets[i]->dirty && !c->sets[i]->frozen)
            run_pass(c, c->sets[i]);
    /* A removed set is forgotten once nothing it owned is left. */
    for (size_t i = 0; i < c->nsets;) {
        struct rs *s = c->sets[i];
        bool owns = false;

        for (size_t k = 0; k < c->nreps && s->removed; k++)
            owns = owns || streq0(c->reps[k]->meta.owner_uid, s->uid);
        if (s->removed && !owns && s->inflight == 0) {
            memmove(&c->sets[i], &c->sets[i + 1], (c->nsets - i - 1) * sizeof(*c->sets));
            c->nsets--;
            if (c->store)
                store_delete_rs(c->store, s->uid);
            rs_free(s);
            continue;
        }
        i++;
    }
    if (c->store && !c->pruned) {
        /* Rows of replicas and sets that went away while vmirsd was down. */
        store_prune_replicas(c->store, keep_replica, c);
        c->pruned = true;
    }
    /* The pass's writes are one transaction, shared with whatever else
     * comes within COMMIT_DELAY_MS (a burst runs dozens of passes). */
    schedule_commit(c);
    c->synced = true;
}

static void
schedule_pass(struct controller *c)
{
    if (!c->stopping && !uv_is_active((uv_handle_t *) &c->pass_timer))
        uv_timer_start(&c->pass_timer, on_pass, 0, 0);
}

static void
on_retry(uv_timer_t *t)
{
    struct controller *c = t->data;

    for (size_t i = 0; i < c->nsets; i++)
        mark_dirty(c, c->sets[i]);
}

static void
on_resync(uv_timer_t *t)
{
    request_list(t->data);
}

/* ---- completions ---- */

static void
create_done(struct controller *c, struct job *j, int rc, const char *errmsg)
{
    struct replica *r = rep_find(c, j->id.domain_name);
    struct rs *s = rs_find_uid(c, j->id.vmirs_uid);

    if (s && s->inflight)
        s->inflight--;
    if (rc == 0) {
        if (s) {
            rs_event(c, s, false, "SuccessfulCreate", "Created virtual machine: %s",
                     j->id.vmi_name);
            for (size_t i = 0; c->store && i < j->nimages; i++)
                store_put_image(c->store, j->images[i].digest, j->images[i].ref, j->images[i].path,
                                j->images[i].virtual_size, wall_ms());
            rs_failure(c, s, NULL, NULL);
        }
        if (r) {
            r->creating = false;
            if (r->meta.nports)
                start_forward(c, r);
            if (r->phase == PHASE_PENDING)
                rep_set_phase(c, r, PHASE_RUNNING, true);
        }
    } else if (job_lost(j)) {
        /* libvirt went away, the template is not at fault: no event, no
         * back-off. Never sent: the replica is no more. Lost during the
         * call: it stays pending until the next list finds it or not. */
        log_debug("create `%s`: %s", j->id.domain_name, errmsg);
        if (r && j->errcode == ENOTCONN)
            rep_forget(c, r);
        else if (r)
            r->creating = false;
    } else {
        if (s) {
            rs_event(c, s, true, "FailedCreate", "Error creating virtual machine instance: %s",
                     errmsg);
            rs_failure(c, s, "FailedCreate", errmsg);
            backoff_failed(slot_backoff(s, j->slot), 0, now_ms(c));
            s->batch_failed = true;
        }
        if (r)
            rep_forget(c, r);
    }
    if (s && s->inflight == 0) {
        s->batch = s->batch_failed ? 1 : s->batch * 2;
        s->batch_failed = false;
    }
    /* Settled: after a restart this name is no create in flight, whether
     * its domain still exists or not. */
    journal_settle(c, j->id.domain_name);
    c->journal_lines++; /* the intent line the worker wrote */
    if (c->journal_lines > INTENT_JOURNAL_MAX_LINES) {
        bool creating = false;

        for (size_t i = 0; i < c->nsets; i++)
            creating = creating || c->sets[i]->inflight > 0;
        /* With nothing in flight every line is settled: the domain exists
         * (and carries its own metadata) or the create failed. */
        if (!creating && ftruncate(c->journal_fd, 0) == 0)
            c->journal_lines = 0;
    }
    mark_dirty(c, s);
}

static void
get_done(struct controller *c, struct job *j, int rc, const char *errmsg)
{
    if (rc < 0) {
        log_warn("look up domain `%s`: %s", j->name, errmsg);
        return;
    }
    if (j->one.name)
        apply_domain(c, &j->one);
}

static void parse_done(struct controller *c, struct job *j);

static void
job_done(void *arg, int rc, char *errmsg)
{
    struct job *j = arg;
    struct controller *c = j->c;
    struct replica *r = j->name ? rep_find(c, j->name) : NULL;

    c->inflight--;
    switch (j->kind) {
    case JOB_CREATE:
        create_done(c, j, rc, errmsg);
        break;
    case JOB_LIST:
        list_done(c, j, rc, errmsg);
        break;
    case JOB_PARSE:
        parse_done(c, j);
        break;
    case JOB_GET:
        if (rc < 0 && job_lost(j))
            break; /* the next list reads it */
        get_done(c, j, rc, errmsg);
        break;
    case JOB_PROBE:
        probe_done(c, j, rc, errmsg);
        break;
    case JOB_ADDRESS:
        if (r) {
            r->address_lookup = false;
            if (rc < 0)
                log_debug("replica `%s`: %s", r->name, errmsg);
            else if (j->address) {
                free(r->address);
                r->address = steal_ptr(&j->address);
            }
        }
        break;
    case JOB_FORWARD:
        if (rc < 0 && r && job_lost(j)) {
            log_debug("replica `%s`: forward host ports: %s", r->name, errmsg);
        } else if (rc < 0 && r) {
            cleanup_free char *msg = xasprintf("Error forwarding host ports: %s", errmsg);

            log_warn("replica `%s`: %s", r->name, errmsg);
            vmi_event(c, r, true, "FailedPortForward", msg);
        }
        break;
    case JOB_REAP:
        if (rc < 0 && job_lost(j)) {
            /* Tried again once libvirt is back and listed. */
            log_debug("remove replica `%s`: %s", j->name, errmsg);
            if (r) {
                r->deleting = false;
                mark_replica_dirty(c, r);
            }
            break;
        }
        if (rc < 0)
            log_warn("remove replica `%s`: %s", j->name, errmsg);
        if (r) {
            struct rs *s = rs_find_uid(c, r->meta.owner_uid);

            /* A create that never happened deletes nothing a user saw. */
            if (s && !r->phantom) {
                rs_event(c, s, false, "SuccessfulDelete", "Deleted virtual machine: %s",
                         r->meta.vmi_name ? r->meta.vmi_name : r->name);
                rs_failure(c, s, NULL, NULL);
            }
            mark_replica_dirty(c, r);
            rep_forget(c, r);
        }
        break;
    case JOB_SHUTDOWN:
    case JOB_DESTROY:
        if (rc < 0 && r) {
            struct rs *s = rs_find_uid(c, r->meta.owner_uid);

            if (job_lost(j))
                s = NULL; /* not the replica's fault: done again after the next list */
            if (s)
                rs_event(c, s, true, "FailedDelete",
                         "Error deleting virtual machine instance %s: %s",
                         r->meta.vmi_name ? r->meta.vmi_name : r->name, errmsg);
            if (s)
                rs_failure(c, s, "FailedDelete", errmsg);
            r->deleting = false;
            rep_cancel_grace(r);
            mark_replica_dirty(c, r);
        }
        break;
    case JOB_SET_META:
        if (rc < 0 && job_lost(j))
            log_debug("set the owner of replica `%s`: %s", j->name, errmsg);
        else if (rc < 0)
            log_warn("set the owner of replica `%s`: %s", j->name, errmsg);
        if (r)
            mark_replica_dirty(c, r);
        break;
    }
    free(errmsg);
    job_free(j);
    /* When a burst of work is over, give its freed memory back to the
     * system: an idle daemon should be small. At most once a second. */
    if (c->inflight == 0 && now_ms(c) - c->trimmed_ms >= 1000) {
        c->trimmed_ms = now_ms(c);
        malloc_trim(0);
    }
    maybe_stopped(c);
}

/* ---- inputs ---- */

static void
pending_add(struct controller *c, const char *path, const char *bytes, size_t len)
{
    char *copy = NULL;

    if (bytes) {
        copy = xmalloc(len + 1);
        memcpy(copy, bytes, len);
        copy[len] = '\0';
    }
    c->pending = xrealloc(c->pending, (c->npending + 1) * sizeof(*c->pending));
    c->pending[c->npending++] =
        (struct parse_item){.path = xstrdup(path), .bytes = copy, .len = len};
}

void
controller_file_changed(struct controller *c, const char *path, const char *bytes, size_t len)
{
    pending_add(c, path, bytes, len);
}

void
controller_file_removed(struct controller *c, const char *path)
{
    cleanup_free char *name = log_escape_name(path);

    log_info("manifest %s removed", name);
    pending_add(c, path, NULL, 0);
}

static void files_parsed(struct controller *c);

/* The changes so far go to a worker to be parsed, one batch at a time and
 * in order; the loop only takes the results (parse_done). */
void
controller_files_settled(struct controller *c)
{
    struct job *j;

    if (c->parsing || c->stopping) {
        c->settle_again = !c->stopping;
        return;
    }
    /* A rescan that found nothing new: the sets are as they were. */
    if (c->spool_settled && c->npending == 0)
        return;
    c->parsing = true;
    c->settle_again = false;
    j = job_new(JOB_PARSE, NULL);
    j->items = steal_ptr(&c->pending);
    j->nitems = c->npending;
    c->npending = 0;
    submit(c, j);
}

static void
parse_done(struct controller *c, struct job *j)
{
    c->parsing = false;
    for (size_t i = 0; i < j->nitems; i++)
        desired_apply(&c->desired, &j->items[i].out);
    files_parsed(c);
    if (c->settle_again)
        controller_files_settled(c);
}

/* The desired set changed: point every set at its spec in force. */
static void
files_parsed(struct controller *c)
{
    desired_index(&c->desired);
    /* Point every set at its spec in force, add new sets, mark removed. */
    for (size_t i = 0; i < c->nsets; i++) {
        c->sets[i]->spec = NULL;
        c->sets[i]->stored = false; /* the file may have changed: write the row again */
    }
    for (size_t i = 0; i < c->desired.nobjs; i++) {
        const struct desired_obj *o = &c->desired.objs[i];
        const struct vmirs *v;
        struct rs *s;
        cleanup_free char *uid = NULL;

        if (o->kind != KOBJ_VMIRS)
            continue;
        v = o->obj->u.vmirs;
        uid = materialize_vmirs_uid(v);
        s = rs_find(c, o->namespace, o->name);
        if (s && strcmp(s->uid, uid) != 0) {
            /* Same name, new uid: a new object replacing the old one. */
            s->removed = true;
            s = NULL;
        }
        if (!s) {
            s = xcalloc(1, sizeof(*s));
            s->namespace = xstrdup(o->namespace);
            s->name = xstrdup(o->name);
            s->uid = steal_ptr(&uid);
            s->batch = 1;
            c->sets = xrealloc(c->sets, (c->nsets + 1) * sizeof(*c->sets));
            c->sets[c->nsets++] = s;
        }
        s->spec = v;
        s->removed = false;
        s->frozen = false;
        if (v->spec.template)
            rs_update_grace(s);
    }
    for (size_t i = 0; i < c->nsets; i++) {
        struct rs *s = c->sets[i];

        if (s->frozen && !s->spec && spool_has_file(c, s->file))
            continue; /* still no good content: still hands off */
        if (!s->spec && !s->removed) {
            s->frozen = false;
            s->removed = true;
            log_info("%s: removed from the spool: deleting its replicas", event_name(s));
        }
        s->dirty = true;
    }
    c->spool_settled = true;
    schedule_pass(c);
}

void
controller_lifecycle(struct controller *c, const char *name, int event, int detail)
{
    struct replica *r = rep_find(c, name);

    if (!r) {
        /* Not ours, or not known yet (created by another process, or
         * before we listed): look it up, off the loop. */
        if (event != VIR_DOMAIN_EVENT_STOPPED && event != VIR_DOMAIN_EVENT_UNDEFINED && c->listed)
            submit(c, job_new(JOB_GET, name));
        return;
    }
    switch (event) {
    case VIR_DOMAIN_EVENT_STARTED:
    case VIR_DOMAIN_EVENT_RESUMED:
        r->intent = false;
        rep_set_phase(c, r, PHASE_RUNNING, true);
        break;
    case VIR_DOMAIN_EVENT_SUSPENDED:
        /* The event's detail does not say why (KVM's emulation failure
         * arrives as a plain pause): ask for the state and its reason. */
        rep_set_phase(c, r, PHASE_RUNNING, false);
        submit(c, job_new(JOB_GET, name));
        break;
    case VIR_DOMAIN_EVENT_STOPPED:
    case VIR_DOMAIN_EVENT_CRASHED: {
        enum replica_phase p =
            event == VIR_DOMAIN_EVENT_STOPPED && detail == VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN
                ? PHASE_SUCCEEDED
                : PHASE_FAILED;
        struct rs *s = rs_find_uid(c, r->meta.owner_uid);

        if (p == PHASE_FAILED && !r->deleting && s)
            backoff_failed(slot_backoff(s, r->meta.slot), r->started_ms, now_ms(c));
        rep_set_phase(c, r, p, false);
        rep_cancel_grace(r);
        if (r->deleting)
            /* Our own delete finished: remove what is left of it. */
            start_reap(c, r);
        break;
    }
    default:
        break;
    }
    mark_replica_dirty(c, r);
}

void
controller_connected(struct controller *c)
{
    c->connected = true;
    log_debug("resynchronising with %s", c->conf->libvirt_uri);
    request_list(c);
}

/* virt logs the outage once; here nothing is done until libvirt is back
 * and listed again (the mock hypervisor, or a libvirtd that lost its
 * transient domains, may come back empty). */
void
controller_disconnected(struct controller *c, const char *why)
{
    c->connected = false;
    c->relist = true;
    log_debug("lost the connection to %s: %s", c->conf->libvirt_uri, why);
}

bool
controller_synced(const struct controller *c)
{
    return c->synced;
}

void
controller_counts(const struct controller *c, size_t *sets, size_t *replicas)
{
    size_t n = 0;

    for (size_t i = 0; i < c->nreps; i++)
        n += c->reps[i]->phase == PHASE_RUNNING;
    *sets = 0;
    for (size_t i = 0; i < c->nsets; i++)
        *sets += !c->sets[i]->removed;
    *replicas = n;
}

/* ---- lifetime ---- */

struct controller *
controller_new(uv_loop_t *loop, const struct vmirs_conf *conf, const char *domain_type,
               struct virt *v, const struct virt_ops *ops, struct workq *q, struct store *store)
{
    struct controller *c = xcalloc(1, sizeof(*c));

    c->store = store;
    c->loop = loop;
    c->conf = conf;
    c->type = domain_type;
    c->v = v;
    c->ops = ops;
    c->q = q;
    {
        cleanup_free char *path = xasprintf("%s/%s", conf->state_dir, INTENT_JOURNAL);

        c->journal_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (c->journal_fd < 0)
            log_error("open the intent journal %s: %s", path, strerror(errno));
    }
    uv_timer_init(loop, &c->pass_timer);
    uv_timer_init(loop, &c->resync_timer);
    uv_timer_init(loop, &c->retry_timer);
    uv_timer_init(loop, &c->commit_timer);
    uv_timer_init(loop, &c->probe_timer);
    c->pass_timer.data = c->resync_timer.data = c->retry_timer.data = c->commit_timer.data = c;
    c->probe_timer.data = c;
    c->probe_q = workq_new(loop, CONTROLLER_PROBE_PARALLEL);
    uv_timer_start(&c->resync_timer, on_resync, (uint64_t) conf->resync_interval * 1000,
                   (uint64_t) conf->resync_interval * 1000);
    return c;
}

static void
on_timer_closed(uv_handle_t *h)
{
    struct controller *c = h->data;

    c->open_handles--;
    maybe_stopped(c);
}

static void
maybe_stopped(struct controller *c)
{
    if (c->stopping && c->inflight == 0 && c->open_handles == 0 && c->stop_done) {
        void (*done)(void *) = c->stop_done;

        c->stop_done = NULL;
        done(c->stop_opaque);
    }
}

void
controller_stop(struct controller *c, void (*done)(void *opaque), void *opaque)
{
    c->stopping = true;
    c->stop_done = done;
    c->stop_opaque = opaque;
    for (size_t i = 0; i < c->nreps; i++)
        rep_cancel_grace(c->reps[i]);
    on_commit(&c->commit_timer);
    c->open_handles = 5;
    uv_close((uv_handle_t *) &c->probe_timer, on_timer_closed);
    uv_close((uv_handle_t *) &c->commit_timer, on_timer_closed);
    uv_close((uv_handle_t *) &c->pass_timer, on_timer_closed);
    uv_close((uv_handle_t *) &c->resync_timer, on_timer_closed);
    uv_close((uv_handle_t *) &c->retry_timer, on_timer_closed);
}

void
controller_free(struct controller *c)
{
    if (!c)
        return;
    while (c->nreps)
        rep_remove(c, c->reps[c->nreps - 1]);
    free(c->reps);
    for (size_t i = 0; i < c->nsets; i++)
        rs_free(c->sets[i]);
    free(c->sets);
    desired_free(&c->desired);
    for (size_t i = 0; i < c->npending; i++) {
        free(c->pending[i].path);
        free(c->pending[i].bytes);
    }
    free(c->pending);
    if (c->probe_q)
        workq_free(c->probe_q);
    if (c->journal_fd >= 0)
        close(c->journal_fd);
    free(c);
}
