/* The job bodies: every function here runs on a workq thread, and
 * nothing else does. A job reads only its own struct job, the immutable
 * configuration and the parsed manifests it holds by reference; the loop
 * takes the result in dispatch.c. */
#include "config.h"

#define LOG_COMPONENT "controller"

#include <errno.h>
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
        if (intents_append(c->journal_fd, &j->id, &err) == 0 &&
            c->ops->create(c->v, xml, &err) == 0)
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

int
jobs_work(void *arg, char **errmsg)
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
