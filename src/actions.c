/* Acting on a pass's decisions: create (a free name, the manifests the
 * job needs, the record before the call), delete with its grace period,
 * reap, and set the owner. Loop thread only. */
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

struct backoff *
act_slot_backoff(struct rs *s, unsigned slot)
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
bool *
act_slots_taken(struct controller *c, const struct rs *s, size_t nslots)
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

/* Draws of a random name before a create gives up for this pass: with
 * 27^5 names, eight taken in a row means the name space is full. */
#define CONTROLLER_NAME_TRIES 8

static bool
name_taken(const char *domain_name, void *opaque)
{
    return rep_find(opaque, domain_name) != NULL;
}

void
act_create(struct controller *c, struct rs *s, unsigned slot)
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
        log_warn("%s: no free replica name after %d draws", rs_event_name(s),
                 CONTROLLER_NAME_TRIES);
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
    dispatch_submit(c, j);
}

static void
on_grace(uv_timer_t *t)
{
    struct replica *r = t->data;

    log_info("replica `%s` did not shut down within its grace period: destroying it", r->name);
    rep_cancel_grace(r);
    dispatch_submit(r->c, job_new(JOB_DESTROY, r->name));
}

void
act_delete(struct controller *c, struct rs *s, struct replica *r)
{
    int64_t g = s->grace_ms;

    r->deleting = true;
    if (g == 0) {
        dispatch_submit(c, job_new(JOB_DESTROY, r->name));
        return;
    }
    dispatch_submit(c, job_new(JOB_SHUTDOWN, r->name));
    r->grace = xcalloc(1, sizeof(*r->grace));
    uv_timer_init(c->loop, r->grace);
    r->grace->data = r;
    uv_timer_start(r->grace, on_grace, (uint64_t) g, 0);
}

void
act_reap(struct controller *c, struct replica *r)
{
    r->deleting = true;
    rep_cancel_grace(r);
    dispatch_submit(c, job_new(JOB_REAP, r->name));
}

void
act_set_owner(struct controller *c, struct replica *r, const struct rs *s)
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
    dispatch_submit(c, j);
}
