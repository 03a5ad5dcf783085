/* Jobs on the loop side: creating, submitting and freeing them, and
 * taking their results (dispatch_done), which is where creates, deletes,
 * lookups and forwards change the replica records. Loop thread only; the
 * bodies run in jobs.c. */
#include "config.h"

#define LOG_COMPONENT "controller"

#include <errno.h>
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

void
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
bool
job_lost(const struct job *j)
{
    return j->errcode == ENOTCONN || j->errcode == ECONNRESET;
}

void
dispatch_submit(struct controller *c, struct job *j)
{
    j->c = c;
    c->inflight++;
    workq_submit(c->q, jobs_work, dispatch_done, j);
}

struct job *
job_new(enum job_kind kind, const char *name)
{
    struct job *j = xcalloc(1, sizeof(*j));

    j->kind = kind;
    j->name = name ? xstrdup(name) : NULL;
    return j;
}

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
                                j->images[i].virtual_size, clock_wall_ms());
            rs_failure(c, s, NULL, NULL);
        }
        if (r) {
            r->creating = false;
            if (r->meta.nports)
                ports_forward(c, r);
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
            backoff_failed(act_slot_backoff(s, j->slot), 0, now_ms(c));
            s->batch_failed = true;
        }
        if (r)
            rep_forget(c, r);
    }
    if (s && s->inflight == 0) {
        s->batch = plan_batch_next(s->batch, s->batch_failed);
        s->batch_failed = false;
    }
    /* Settled: after a restart this name is no create in flight, whether
     * its domain still exists or not. */
    intents_create_over(c, j->id.domain_name);
    rs_mark_dirty(c, s);
}

static void
get_done(struct controller *c, struct job *j, int rc, const char *errmsg)
{
    if (rc < 0) {
        log_warn("look up domain `%s`: %s", j->name, errmsg);
        return;
    }
    if (j->one.name)
        observe_domain(c, &j->one);
}

void
dispatch_done(void *arg, int rc, char *errmsg)
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
        observe_list_done(c, j, rc, errmsg);
        break;
    case JOB_PARSE:
        controller_parse_done(c, j);
        break;
    case JOB_GET:
        if (rc < 0 && job_lost(j))
            break; /* the next list reads it */
        get_done(c, j, rc, errmsg);
        break;
    case JOB_PROBE:
        prober_done(c, j, rc, errmsg);
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
            rep_event(c, r, true, "FailedPortForward", msg);
        }
        break;
    case JOB_REAP:
        if (rc < 0 && job_lost(j)) {
            /* Tried again once libvirt is back and listed. */
            log_debug("remove replica `%s`: %s", j->name, errmsg);
            if (r) {
                r->deleting = false;
                rs_mark_replica_dirty(c, r);
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
            rs_mark_replica_dirty(c, r);
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
            rs_mark_replica_dirty(c, r);
        }
        break;
    case JOB_SET_META:
        if (rc < 0 && job_lost(j))
            log_debug("set the owner of replica `%s`: %s", j->name, errmsg);
        else if (rc < 0)
            log_warn("set the owner of replica `%s`: %s", j->name, errmsg);
        if (r)
            rs_mark_replica_dirty(c, r);
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
    controller_maybe_stopped(c);
}
