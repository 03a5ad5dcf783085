/* Observing libvirt: listing domains, applying what a list or a lookup
 * says to the replica records, and settling the intents a restart found
 * once a list is late enough to show them. Loop thread only. */
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

void
observe_domain(struct controller *c, const struct virt_domain *d)
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
        ports_forward(c, r);
    rs_mark_replica_dirty(c, r);
}

void
observe_list_done(struct controller *c, struct job *j, int rc, const char *errmsg)
{
    c->listing = false;
    if (rc < 0) {
        if (job_lost(j)) {
            log_debug("list domains: %s", errmsg);
        } else {
            /* Try again soon: until a list succeeds nothing is done. */
            log_warn("list domains: %s; trying again in 1 s", errmsg);
            uv_timer_start(&c->resync_timer, controller_on_resync, 1000,
                           (uint64_t) c->conf->resync_interval * 1000);
        }
        return;
    }
    c->gen++;
    for (size_t i = 0; i < j->ndoms; i++)
        observe_domain(c, &j->doms[i]);
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
            intents_settle(c, r->name);
        }
        if (r->phase != PHASE_SUCCEEDED && r->phase != PHASE_FAILED)
            rep_set_phase(c, r, PHASE_UNKNOWN, false);
        r->intent = false;
        rs_mark_replica_dirty(c, r);
    }
    if (!c->listed) {
        bool pending = false;

        c->listed = true;
        intents_recover(c);
        for (size_t i = 0; i < c->nsets; i++)
            rs_mark_dirty(c, c->sets[i]);
        /* Settle the intents with a list taken late enough to show them. */
        for (size_t i = 0; i < c->nreps && !pending; i++)
            pending = c->reps[i]->intent;
        if (pending) {
            int64_t due = c->first_list_ms + INTENT_SETTLE_MS - now_ms(c);

            uv_timer_start(&c->resync_timer, controller_on_resync, (uint64_t) (due > 0 ? due : 0),
                           (uint64_t) c->conf->resync_interval * 1000);
        }
    }
    if (c->relist) {
        /* Back after an outage: every set is looked at again, at full
         * speed (the outage charged nobody's back-off). */
        c->relist = false;
        for (size_t i = 0; i < c->nsets; i++)
            rs_mark_dirty(c, c->sets[i]);
    }
    controller_schedule_pass(c);
}

void
observe_request_list(struct controller *c)
{
    struct job *j;

    if (c->listing || !c->connected || c->stopping)
        return;
    c->listing = true;
    j = job_new(JOB_LIST, NULL);
    j->submitted_ms = now_ms(c);
    if (!c->listed && !c->first_list_ms)
        c->first_list_ms = j->submitted_ms;
    dispatch_submit(c, j);
}
