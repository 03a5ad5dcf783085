/* Scheduling readiness and liveness probes and acting on their results
 * (probe.c runs them). Loop thread only: exec and guest-agent probes run
 * as jobs on the probe queue, network probes on the loop. */
#include "config.h"

#define LOG_COMPONENT "controller"

#include <stdlib.h>
#include <string.h>

#include "controller_int.h"
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

static void on_probe_timer(uv_timer_t *t);

static const struct probe *
rep_probe(struct controller *c, const struct replica *r, bool liveness)
{
    const struct vmi_spec *spec = rep_spec(c, r);

    if (!spec)
        return NULL;
    return liveness ? spec->liveness_probe : spec->readiness_probe;
}

static void
prober_schedule(struct controller *c)
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

void
prober_arm(struct controller *c, struct replica *r)
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
    prober_schedule(c);
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
    controller_maybe_stopped(c);
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
            rs_mark_replica_dirty(c, r);
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
                dispatch_submit(c, job_new(JOB_ADDRESS, r->name));
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
    workq_submit(c->probe_q, jobs_work, dispatch_done, j);
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
    prober_schedule(c);
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

        rep_event(c, r, true, "Unhealthy", msg);
        log_debug("replica `%s`: %s", r->name, msg);
    }
    if (changed && !liveness) {
        log_info("replica `%s`: readiness probe %s", r->name, st->result ? "passed" : "failed");
        rep_update_ready(c, r);
        rs_mark_replica_dirty(c, r);
    }
    if (changed && liveness && !st->result) {
        struct rs *s = rs_find_uid(c, r->meta.owner_uid);

        /* Killed and replaced, never restarted in place; a replica that
         * keeps failing backs its slot off like a crash. */
        log_info("replica `%s`: liveness probe failed: destroying it", r->name);
        rep_event(c, r, false, "Killing",
                  "Stopping virtual machine: it failed its liveness probe, it will be replaced");
        if (s)
            backoff_failed(act_slot_backoff(s, r->meta.slot), r->started_ms, now_ms(c));
        r->deleting = true;
        dispatch_submit(c, job_new(JOB_DESTROY, r->name));
        rs_mark_replica_dirty(c, r);
    }
out:
    prober_schedule(c);
}

void
prober_done(struct controller *c, struct job *j, int rc, const char *errmsg)
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
        prober_schedule(c);
        return;
    }
    probe_result(c, j->name, j->liveness, &j->probe.t, rc, errmsg);
}
