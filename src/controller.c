/* The pass driver: schedules passes over the replica sets that changed
 * (observe, decide, write, submit), batches the store's writes into
 * transactions, takes the spool's parsed results in, and owns the
 * controller's lifetime. Loop thread only. */
#include "config.h"

#define LOG_COMPONENT "controller"

#include "controller.h"

#include <errno.h>
#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controller_int.h"
#include "plan.h"
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

static void
checkpoint_done(void *arg, int rc, char *errmsg)
{
    struct controller *c = arg;

    if (rc < 0)
        log_warn("%s", errmsg);
    free(errmsg);
    store_checkpoint_done(c->store);
    c->inflight--;
    controller_maybe_stopped(c);
}

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
        rs_mark_dirty(c, c->sets[i]);
    }
}

static void
controller_on_commit(uv_timer_t *t)
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
            uv_timer_start(&c->commit_timer, controller_on_commit, store_retry_ms(c->store), 0);
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

void
controller_schedule_commit(struct controller *c)
{
    if (c->store && !c->stopping && !uv_is_active((uv_handle_t *) &c->commit_timer))
        uv_timer_start(&c->commit_timer, controller_on_commit, COMMIT_DELAY_MS, 0);
}

static void on_retry(uv_timer_t *t);

/* Observe: the replicas the set looks at (plan_observes), as reconcile
 * reads them. On the way, a replica of the set's that runs has its slot's
 * back-off told so, and probes armed once its spec is known. */
static size_t
pass_observe(struct controller *c, struct rs *s, struct observed *obs, int64_t now)
{
    size_t n = 0;

    for (size_t i = 0; i < c->nreps; i++) {
        struct replica *r = c->reps[i];
        /* A replica whose owner is no replica set vmirsd knows (not in the
         * spool, not in the store) has no live owner: adoptable, like a
         * released one (SPEC section 3). */
        const char *owner =
            r->meta.owner_uid && rs_find_uid(c, r->meta.owner_uid) ? r->meta.owner_uid : NULL;

        if (!plan_observes(owner, r->namespace, s->uid, s->namespace))
            continue;
        if (r->phase == PHASE_RUNNING && streq0(owner, s->uid))
            backoff_running(act_slot_backoff(s, r->meta.slot), r->started_ms, now);
        if (r->phase == PHASE_RUNNING && !r->probes_armed && !r->deleting && s->spec &&
            streq0(owner, s->uid)) {
            prober_arm(c, r);
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
    return n;
}

static void
pass_desired(const struct rs *s, struct reconcile_desired *d)
{
    *d = (struct reconcile_desired){.uid = s->uid, .removed = s->removed};
    if (s->spec) {
        d->replicas = vmirs_replicas(s->spec);
        d->paused = s->spec->spec.paused.set && s->spec->spec.paused.v;
        d->selector_mismatch = s->spec->selector_mismatch;
        d->selector = s->spec->selector_mismatch ? NULL : &s->spec->selector;
    }
}

/* Carry out reconcile's actions on existing replicas. */
static void
pass_act(struct controller *c, struct rs *s, const struct reconcile_result *res)
{
    for (size_t i = 0; i < res->n; i++) {
        struct replica *r = rep_find(c, res->actions[i].name);

        if (!r)
            continue;
        switch (res->actions[i].kind) {
        case ACT_RELEASE:
            log_info("%s: release replica `%s`: its labels no longer match the selector",
                     rs_event_name(s), r->name);
            act_set_owner(c, r, NULL);
            break;
        case ACT_ADOPT:
            log_info("%s: adopt replica `%s`", rs_event_name(s), r->name);
            act_set_owner(c, r, s);
            break;
        case ACT_REAP:
            act_reap(c, r);
            break;
        case ACT_DELETE:
            act_delete(c, s, r);
            break;
        }
    }
}

/* Start the creates slow start and the slots' back-off allow; come back
 * when the earliest backed-off slot may try again. */
static unsigned
pass_create(struct controller *c, struct rs *s, int64_t replicas, unsigned wanted, int64_t now)
{
    unsigned allowed = plan_batch_allowed(&s->batch, wanted, s->inflight);
    size_t want = wanted < allowed ? wanted : allowed, started = 0;
    /* Enough slots for every replica there is plus the new ones. */
    size_t nslots = want ? (size_t) replicas + wanted + c->nreps : 0;
    int64_t retry = -1;

    if (nslots) {
        bool *taken = act_slots_taken(c, s, nslots);
        unsigned *chosen = xcalloc(want, sizeof(*chosen));

        started = plan_slots(taken, nslots, s->slots, s->nslots, now, want, chosen, &retry);
        for (size_t i = 0; i < started; i++)
            act_create(c, s, chosen[i]);
        free(chosen);
        free(taken);
    }
    if (retry >= 0 && (!uv_is_active((uv_handle_t *) &c->retry_timer) ||
                       uv_timer_get_due_in(&c->retry_timer) > (uint64_t) retry))
        uv_timer_start(&c->retry_timer, on_retry, (uint64_t) retry, 0);
    return (unsigned) started;
}

/* One set's pass: observe, decide, write, submit. */
static void
run_pass(struct controller *c, struct rs *s)
{
    struct observed *obs = xcalloc(c->nreps ? c->nreps : 1, sizeof(*obs));
    struct reconcile_desired d;
    struct reconcile_result res = {0};
    int64_t now = now_ms(c);
    size_t n;
    unsigned started;

    s->dirty = false;
    n = pass_observe(c, s, obs, now);
    pass_desired(s, &d);
    reconcile(&d, obs, n, &res);
    rs_conditions(c, s);
    rs_store(c, s, d.replicas, &res);
    pass_act(c, s, &res);
    started = pass_create(c, s, d.replicas, res.create, now);
    if (log_enabled(LOG_LEVEL_DEBUG))
        log_debug("%s: desired %lld, active %lld, ready %lld, creating %u", rs_event_name(s),
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
                     rs_event_name(s), s->file);
        else
            log_info("%s: removed from the spool while vmirsd was down: deleting its replicas",
                     rs_event_name(s));
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
    controller_schedule_commit(c);
    c->synced = true;
}

void
controller_schedule_pass(struct controller *c)
{
    if (!c->stopping && !uv_is_active((uv_handle_t *) &c->pass_timer))
        uv_timer_start(&c->pass_timer, on_pass, 0, 0);
}

static void
on_retry(uv_timer_t *t)
{
    struct controller *c = t->data;

    for (size_t i = 0; i < c->nsets; i++)
        rs_mark_dirty(c, c->sets[i]);
}

void
controller_on_resync(uv_timer_t *t)
{
    observe_request_list(t->data);
}

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
 * in order; the loop only takes the results (controller_parse_done). */
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
    dispatch_submit(c, j);
}

void
controller_parse_done(struct controller *c, struct job *j)
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
            log_info("%s: removed from the spool: deleting its replicas", rs_event_name(s));
        }
        s->dirty = true;
    }
    c->spool_settled = true;
    controller_schedule_pass(c);
}

void
controller_lifecycle(struct controller *c, const char *name, int event, int detail)
{
    struct replica *r = rep_find(c, name);

    if (!r) {
        /* Not ours, or not known yet (created by another process, or
         * before we listed): look it up, off the loop. */
        if (event != VIR_DOMAIN_EVENT_STOPPED && event != VIR_DOMAIN_EVENT_UNDEFINED && c->listed)
            dispatch_submit(c, job_new(JOB_GET, name));
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
        dispatch_submit(c, job_new(JOB_GET, name));
        break;
    case VIR_DOMAIN_EVENT_STOPPED:
    case VIR_DOMAIN_EVENT_CRASHED: {
        enum replica_phase p =
            event == VIR_DOMAIN_EVENT_STOPPED && detail == VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN
                ? PHASE_SUCCEEDED
                : PHASE_FAILED;
        struct rs *s = rs_find_uid(c, r->meta.owner_uid);

        if (p == PHASE_FAILED && !r->deleting && s)
            backoff_failed(act_slot_backoff(s, r->meta.slot), r->started_ms, now_ms(c));
        rep_set_phase(c, r, p, false);
        rep_cancel_grace(r);
        if (r->deleting)
            /* Our own delete finished: remove what is left of it. */
            act_reap(c, r);
        break;
    }
    default:
        break;
    }
    rs_mark_replica_dirty(c, r);
}

void
controller_connected(struct controller *c)
{
    c->connected = true;
    log_debug("resynchronising with %s", c->conf->libvirt_uri);
    observe_request_list(c);
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
    c->journal_fd = intents_open(conf);
    uv_timer_init(loop, &c->pass_timer);
    uv_timer_init(loop, &c->resync_timer);
    uv_timer_init(loop, &c->retry_timer);
    uv_timer_init(loop, &c->commit_timer);
    uv_timer_init(loop, &c->probe_timer);
    c->pass_timer.data = c->resync_timer.data = c->retry_timer.data = c->commit_timer.data = c;
    c->probe_timer.data = c;
    c->probe_q = workq_new(loop, CONTROLLER_PROBE_PARALLEL);
    uv_timer_start(&c->resync_timer, controller_on_resync, (uint64_t) conf->resync_interval * 1000,
                   (uint64_t) conf->resync_interval * 1000);
    return c;
}

static void
on_timer_closed(uv_handle_t *h)
{
    struct controller *c = h->data;

    c->open_handles--;
    controller_maybe_stopped(c);
}

void
controller_maybe_stopped(struct controller *c)
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
    controller_on_commit(&c->commit_timer);
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
