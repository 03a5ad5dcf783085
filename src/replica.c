/* Replica records: finding, adding and removing them, their phase and
 * readiness state machine (SPEC section 3), their rows in the store and
 * their events. Loop thread only. */
#include "config.h"

#define LOG_COMPONENT "controller"

#include <libvirt/libvirt.h>
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
void
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
                          .created_ms = clock_wall_ms(),
                      },
                      clock_wall_ms());
    controller_schedule_commit(c);
}

struct replica *
rep_find(struct controller *c, const char *name)
{
    for (size_t i = 0; i < c->nreps; i++)
        if (strcmp(c->reps[i]->name, name) == 0)
            return c->reps[i];
    return NULL;
}

struct replica *
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

void
rep_cancel_grace(struct replica *r)
{
    if (r->grace) {
        uv_close((uv_handle_t *) r->grace, on_grace_closed);
        r->grace = NULL;
    }
}

void
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
enum replica_phase
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

/* Ready: running and not paused, and its readiness probe passing when the
 * template has one (SPEC section 6). */
void
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
void
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
        prober_arm(c, r);
    rep_update_ready(c, r);
}

/* The replica is gone for good: from memory and from the store. */
void
rep_forget(struct controller *c, struct replica *r)
{
    if (c->store) {
        store_delete_replica(c->store, r->name);
        controller_schedule_commit(c);
    }
    rep_remove(c, r);
}

/* The replica's template, through its owner's spec in force. */
const struct vmi_spec *
rep_spec(struct controller *c, const struct replica *r)
{
    const struct rs *s = rs_find_uid(c, r->meta.owner_uid);
    const struct vmi_template *t = s && s->spec ? s->spec->spec.template : NULL;

    return t ? &t->spec : NULL;
}

/* An event about one replica (a VirtualMachineInstance), as the kubelet
 * records probe failures on a pod. */
void
rep_event(struct controller *c, const struct replica *r, bool warning, const char *reason,
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
                clock_wall_ms());
    controller_schedule_commit(c);
}
