/* Replica-set records and what a user reads about them: events,
 * conditions (ManifestInvalid, ReplicaPaused, SelectorMismatch,
 * ReplicaFailure) and the set's row in the store. Loop thread only. */
#include "config.h"

#define LOG_COMPONENT "controller"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

struct rs *
rs_find_uid(struct controller *c, const char *uid)
{
    for (size_t i = 0; uid && i < c->nsets; i++)
        if (strcmp(c->sets[i]->uid, uid) == 0)
            return c->sets[i];
    return NULL;
}

struct rs *
rs_find(struct controller *c, const char *ns, const char *name)
{
    for (size_t i = 0; i < c->nsets; i++)
        if (strcmp(c->sets[i]->namespace, ns) == 0 && strcmp(c->sets[i]->name, name) == 0)
            return c->sets[i];
    return NULL;
}

void
rs_free(struct rs *s)
{
    free(s->namespace);
    free(s->name);
    free(s->uid);
    free(s->slots);
    free(s->file);
    free(s);
}

void
rs_mark_dirty(struct controller *c, struct rs *s)
{
    if (!s)
        return;
    s->dirty = true;
    controller_schedule_pass(c);
}

/* The set a replica belongs to, or for an ownerless one, the first set of
 * its namespace that might adopt it. */
void
rs_mark_replica_dirty(struct controller *c, const struct replica *r)
{
    struct rs *s = rs_find_uid(c, r->meta.owner_uid);

    if (s) {
        rs_mark_dirty(c, s);
        return;
    }
    for (size_t i = 0; i < c->nsets; i++)
        if (strcmp(c->sets[i]->namespace, r->namespace) == 0)
            rs_mark_dirty(c, c->sets[i]);
}

const char *
rs_event_name(const struct rs *s)
{
    static char buf[512];

    snprintf(buf, sizeof(buf), "%s/%s", s->namespace, s->name);
    return buf;
}

/* Events in the seed document's wording; persisted by the store later. */

/* The component kubectl shows in the From column, as KubeVirt names it. */
#define EVENT_SOURCE "virtualmachineinstancereplicaset-controller"

#define SELECTOR_MISMATCH_MSG                                                                      \
    "spec.selector does not match the template's labels: nothing is created or deleted"

void
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
        log_warn("%s: %s: %s", rs_event_name(s), reason, msg ? msg : "?");
    else
        log_info("%s: %s: %s", rs_event_name(s), reason, msg ? msg : "?");
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
                    clock_wall_ms());
        controller_schedule_commit(c);
    }
}

/* Kept when the spec goes, so a cascade still honours it. */
void
rs_update_grace(struct rs *s)
{
    const struct opt_int *g = &s->spec->spec.template->spec.termination_grace_period_seconds;

    s->grace_ms = g->set ? g->v * 1000 : 30 * 1000;
}

/* An event when a condition starts to hold, and the store's rows
 * rewritten each pass (an unchanged row keeps its transition time). */
static void
rs_conditions_write(struct controller *c, struct rs *s, const struct plan_conditions *pc)
{
    if (pc->invalid != s->invalid_seen) {
        if (pc->invalid)
            rs_event(c, s, true, "ManifestInvalid", "%s", pc->invalid_msg);
        s->invalid_seen = pc->invalid;
    }
    if (pc->paused != s->paused_seen) {
        rs_event(c, s, false, pc->paused ? "SuccessfulPaused" : "SuccessfulResumed",
                 pc->paused ? "Paused" : "Resumed");
        s->paused_seen = pc->paused;
    }
    if (pc->mismatch != s->mismatch_seen) {
        if (pc->mismatch)
            rs_event(c, s, true, "SelectorMismatch", SELECTOR_MISMATCH_MSG);
        s->mismatch_seen = pc->mismatch;
    }
    if (!c->store || !s->spec)
        return;
    store_set_condition(c->store, s->uid, "ManifestInvalid", pc->invalid, "ManifestInvalid",
                        pc->invalid_msg, clock_wall_ms());
    store_set_condition(c->store, s->uid, "ReplicaPaused", pc->paused, "Paused", "",
                        clock_wall_ms());
    store_set_condition(c->store, s->uid, "SelectorMismatch", pc->mismatch, "SelectorMismatch",
                        SELECTOR_MISMATCH_MSG, clock_wall_ms());
}

/* The set's conditions, decided (plan_conditions) then written. */
void
rs_conditions(struct controller *c, struct rs *s)
{
    const struct kobj *o =
        s->spec ? desired_find(&c->desired, KOBJ_VMIRS, s->namespace, s->name) : NULL;
    struct plan_conditions pc;

    plan_conditions(o ? desired_file_of(&c->desired, o) : NULL, s->spec, &pc);
    rs_conditions_write(c, s, &pc);
    plan_conditions_free(&pc);
}

/* KubeVirt's ReplicaFailure: set by a failed create or delete, cleared by
 * the next one that succeeds. */
void
rs_failure(struct controller *c, const struct rs *s, const char *reason, const char *msg)
{
    if (c->store && s) {
        store_set_condition(c->store, s->uid, "ReplicaFailure", reason != NULL, reason, msg,
                            clock_wall_ms());
        controller_schedule_commit(c);
    }
}

/* The replica set's row: what the spool says and the status of this pass. */
void
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
                 clock_wall_ms());
}
