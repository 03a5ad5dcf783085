/* An in-memory libvirt for the controller's unit tests (fake_virt.h).
 *
 * Runs on worker threads: the controller calls fake_virt_ops from its
 * workq's threadpool threads, while the test's control functions run on
 * the loop thread. Every field below is guarded by mu; the lock is never
 * held while an event is handed to the controller. A held create waits on
 * cv, which is also signalled whenever a create starts holding, so that
 * the loop can see it.
 *
 * Domains keep only what libvirt would give vmirsd back: their name,
 * state and reason, and the vmirsd metadata element, copied out of the
 * XML they were created from the way virDomainGetMetadata returns it, and
 * read back with the project's own dommeta_parse on every list. A domain
 * whose metadata does not parse is skipped, as virt.c skips it. */
#include "fake_virt.h"

#include <errno.h>
#include <libvirt/libvirt.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "util.h"

struct fake_dom {
    char *name;
    char *meta_xml;
    int state, reason;
    bool hidden; /* made by libvirtd, not listed yet (FAKE_LOST_HIDDEN) */
};

struct fake_event {
    char *name;
    int event, detail;
};

struct fake_virt {
    uv_async_t async; /* first: the handle's close callback finds f */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const struct virt_events *events;
    void *opaque;
    struct fake_dom *doms;
    size_t ndoms;
    struct fake_event *queue;
    size_t nqueue;
    struct fake_call *calls;
    size_t ncalls;
    unsigned ncreates, duplicates;
    unsigned fail_n;
    char *fail_msg;
    unsigned hold_from, held, releases;
    enum fake_outcome release_how;
};

static int64_t
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct fake_virt *
fake_of(struct virt *v)
{
    return (struct fake_virt *) (void *) v;
}

/* With mu held. */
static size_t
record(struct fake_virt *f, const char *op, const char *name)
{
    struct fake_call *c;

    f->calls = xrealloc(f->calls, (f->ncalls + 1) * sizeof(*f->calls));
    c = &f->calls[f->ncalls];
    memset(c, 0, sizeof(*c));
    snprintf(c->op, sizeof(c->op), "%s", op);
    snprintf(c->name, sizeof(c->name), "%s", name ? name : "");
    c->mono_ms = mono_ms();
    return f->ncalls++;
}

/* With mu held. */
static struct fake_dom *
find(struct fake_virt *f, const char *name, bool hidden_too)
{
    for (size_t i = 0; i < f->ndoms; i++)
        if (strcmp(f->doms[i].name, name) == 0 && (hidden_too || !f->doms[i].hidden))
            return &f->doms[i];
    return NULL;
}

/* With mu held. */
static void
dom_remove(struct fake_virt *f, struct fake_dom *d)
{
    size_t i = (size_t) (d - f->doms);

    free(d->name);
    free(d->meta_xml);
    memmove(&f->doms[i], &f->doms[i + 1], (f->ndoms - i - 1) * sizeof(*f->doms));
    f->ndoms--;
}

/* With mu held. */
static void
dom_add(struct fake_virt *f, const char *name, char *meta_xml, int state, int reason, bool hidden)
{
    f->doms = xrealloc(f->doms, (f->ndoms + 1) * sizeof(*f->doms));
    f->doms[f->ndoms++] = (struct fake_dom){xstrdup(name), meta_xml, state, reason, hidden};
}

/* With mu held: queue an event for the loop thread. */
static void
raise_event(struct fake_virt *f, const char *name, int event, int detail)
{
    f->queue = xrealloc(f->queue, (f->nqueue + 1) * sizeof(*f->queue));
    f->queue[f->nqueue++] = (struct fake_event){xstrdup(name), event, detail};
    uv_async_send(&f->async);
}

static void
on_async(uv_async_t *a)
{
    struct fake_virt *f = (struct fake_virt *) a;
    struct fake_event *q;
    size_t n;
    const struct virt_events *ev;
    void *opaque;

    pthread_mutex_lock(&f->mu);
    q = f->queue;
    n = f->nqueue;
    f->queue = NULL;
    f->nqueue = 0;
    ev = f->events;
    opaque = f->opaque;
    pthread_mutex_unlock(&f->mu);
    for (size_t i = 0; i < n; i++) {
        if (ev && ev->lifecycle)
            ev->lifecycle(opaque, q[i].name, q[i].event, q[i].detail);
        free(q[i].name);
    }
    free(q);
}

/* The <name> of the domain XML and its metadata element in DOMMETA_NS,
 * serialised alone as virDomainGetMetadata returns it. 0, or -1 when the
 * XML is not a domain libvirt would accept. */
static int
parse_domain_xml(const char *xml, char **name, char **meta_xml)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int) strlen(xml), "domain.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;

    *name = NULL;
    *meta_xml = NULL;
    if (!root || strcmp((const char *) root->name, "domain") != 0) {
        xmlFreeDoc(doc);
        return -1;
    }
    for (xmlNodePtr c = root->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (strcmp((const char *) c->name, "name") == 0) {
            xmlChar *t = xmlNodeGetContent(c);

            free(*name);
            *name = xstrdup((const char *) t);
            xmlFree(t);
        } else if (strcmp((const char *) c->name, "metadata") == 0) {
            for (xmlNodePtr m = c->children; m; m = m->next) {
                xmlDocPtr one;
                xmlChar *buf = NULL;
                int len = 0;

                if (m->type != XML_ELEMENT_NODE || !m->ns ||
                    strcmp((const char *) m->ns->href, DOMMETA_NS) != 0)
                    continue;
                /* A copy in a document of its own carries the namespace
                 * declaration with it, wherever the original had it. */
                one = xmlNewDoc((const xmlChar *) "1.0");
                xmlDocSetRootElement(one, xmlDocCopyNode(m, one, 1));
                xmlDocDumpMemory(one, &buf, &len);
                free(*meta_xml);
                *meta_xml = xstrdup((const char *) buf);
                xmlFree(buf);
                xmlFreeDoc(one);
            }
        }
    }
    xmlFreeDoc(doc);
    if (!*name) {
        free(*meta_xml);
        *meta_xml = NULL;
        return -1;
    }
    return 0;
}

/* With mu held: d as list returns it, or 1 when its metadata is not ours. */
static int
dom_read(const struct fake_dom *d, struct virt_domain *out)
{
    struct vmirs_err *err = NULL;

    memset(out, 0, sizeof(*out));
    if (!d->meta_xml || dommeta_parse(d->meta_xml, &out->meta, &err) < 0) {
        err_free(&err);
        return 1;
    }
    out->name = xstrdup(d->name);
    out->state = d->state;
    out->reason = d->reason;
    return 0;
}

static int
op_list(struct virt *v, struct virt_domain **out, size_t *n, struct vmirs_err **err)
{
    struct fake_virt *f = fake_of(v);
    struct virt_domain *res;
    size_t count = 0;

    pthread_mutex_lock(&f->mu);
    record(f, "list", NULL);
    res = xcalloc(f->ndoms ? f->ndoms : 1, sizeof(*res));
    for (size_t i = 0; i < f->ndoms; i++)
        if (!f->doms[i].hidden && dom_read(&f->doms[i], &res[count]) == 0)
            count++;
    pthread_mutex_unlock(&f->mu);
    *out = res;
    *n = count;
    return 0;
}

static int
op_get(struct virt *v, const char *name, struct virt_domain *out, struct vmirs_err **err)
{
    struct fake_virt *f = fake_of(v);
    struct fake_dom *d;

    pthread_mutex_lock(&f->mu);
    record(f, "get", name);
    d = find(f, name, false);
    if (!d || dom_read(d, out) != 0)
        memset(out, 0, sizeof(*out));
    pthread_mutex_unlock(&f->mu);
    return 0;
}

static int
op_create(struct virt *v, const char *xml, struct vmirs_err **err)
{
    struct fake_virt *f = fake_of(v);
    cleanup_free char *name = NULL;
    char *meta_xml = NULL;
    struct dommeta m = {0};
    struct vmirs_err *perr = NULL;
    enum fake_outcome how = FAKE_CREATED;
    size_t call;
    unsigned nth;
    int rc = 0;

    if (parse_domain_xml(xml, &name, &meta_xml) < 0)
        return err_set(err, 0, "XML error: not a domain definition");
    pthread_mutex_lock(&f->mu);
    call = record(f, "create", name);
    if (meta_xml && dommeta_parse(meta_xml, &m, &perr) == 0)
        f->calls[call].slot = m.slot;
    dommeta_free(&m);
    err_free(&perr);
    nth = ++f->ncreates;
    if (f->hold_from && nth >= f->hold_from) {
        f->held++;
        pthread_cond_broadcast(&f->cv);
        while (f->releases == 0)
            pthread_cond_wait(&f->cv, &f->mu);
        f->releases--;
        f->held--;
        how = f->release_how;
    }
    if (f->fail_n > 0) {
        f->fail_n--;
        rc = err_set(err, 0, "%s", f->fail_msg);
    } else if (find(f, name, true)) {
        /* libvirt refuses a second domain of the same name. */
        f->duplicates++;
        rc = err_set(err, 0, "operation failed: domain '%s' already exists", name);
    } else if (how == FAKE_LOST_NOTHING) {
        rc = err_set(err, ECONNRESET, "create domain `%s`: the connection to libvirtd was lost",
                     name);
    } else {
        dom_add(f, name, steal_ptr(&meta_xml), VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_BOOTED,
                how == FAKE_LOST_HIDDEN);
        if (how == FAKE_LOST_HIDDEN)
            rc = err_set(err, ECONNRESET, "create domain `%s`: the connection to libvirtd was lost",
                         name);
        else
            raise_event(f, name, VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_BOOTED);
    }
    f->calls[call].rc = rc;
    pthread_mutex_unlock(&f->mu);
    free(meta_xml);
    return rc;
}

/* The guest obeys: a transient domain that shuts down is gone. */
static int
op_shutdown(struct virt *v, const char *name, struct vmirs_err **err)
{
    struct fake_virt *f = fake_of(v);
    struct fake_dom *d;
    size_t call;

    pthread_mutex_lock(&f->mu);
    call = record(f, "shutdown", name);
    d = find(f, name, false);
    f->calls[call].live = d != NULL;
    if (d) {
        dom_remove(f, d);
        raise_event(f, name, VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN);
    }
    pthread_mutex_unlock(&f->mu);
    return 0;
}

static int
op_destroy(struct virt *v, const char *name, struct vmirs_err **err)
{
    struct fake_virt *f = fake_of(v);
    struct fake_dom *d;
    size_t call;

    pthread_mutex_lock(&f->mu);
    call = record(f, "destroy", name);
    d = find(f, name, false);
    f->calls[call].live = d != NULL;
    if (d) {
        dom_remove(f, d);
        raise_event(f, name, VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_DESTROYED);
    }
    pthread_mutex_unlock(&f->mu);
    return 0;
}

static int
op_set_meta(struct virt *v, const char *name, const struct dommeta *m, struct vmirs_err **err)
{
    struct fake_virt *f = fake_of(v);
    struct fake_dom *d;
    char *xml = NULL;
    int rc = 0;

    if (dommeta_build(m, &xml, err) < 0)
        return err_wrap(err, "set metadata of domain `%s`", name);
    pthread_mutex_lock(&f->mu);
    record(f, "set_meta", name);
    d = find(f, name, false);
    if (d) {
        free(d->meta_xml);
        d->meta_xml = steal_ptr(&xml);
    } else {
        rc = err_set(err, 0, "set metadata of domain `%s`: no such domain", name);
    }
    pthread_mutex_unlock(&f->mu);
    free(xml);
    return rc;
}

static int
unsupported(struct virt *v, const char *op, const char *name, struct vmirs_err **err)
{
    struct fake_virt *f = fake_of(v);

    pthread_mutex_lock(&f->mu);
    record(f, op, name);
    pthread_mutex_unlock(&f->mu);
    return err_set(err, 0, "%s on domain `%s`: not supported by the fake", op, name);
}

static int
op_agent(struct virt *v, const char *name, const char *cmd, int timeout_s, char **reply,
         struct vmirs_err **err)
{
    return unsupported(v, "agent", name, err);
}

static int
op_forward(struct virt *v, const char *name, const char *netdev, unsigned host_port,
           unsigned guest_port, struct vmirs_err **err)
{
    return unsupported(v, "forward", name, err);
}

static int
op_address(struct virt *v, const char *name, char **ipv4, struct vmirs_err **err)
{
    return unsupported(v, "address", name, err);
}

static int
op_hmp(struct virt *v, const char *name, const char *cmd, char **out, struct vmirs_err **err)
{
    return unsupported(v, "hmp", name, err);
}

const struct virt_ops fake_virt_ops = {
    .list = op_list,
    .get = op_get,
    .create = op_create,
    .shutdown = op_shutdown,
    .destroy = op_destroy,
    .set_meta = op_set_meta,
    .agent = op_agent,
    .forward = op_forward,
    .address = op_address,
    .hmp = op_hmp,
};

struct fake_virt *
fake_virt_new(uv_loop_t *loop, const struct virt_events *events, void *opaque)
{
    struct fake_virt *f = xcalloc(1, sizeof(*f));

    xmlInitParser();
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    f->events = events;
    f->opaque = opaque;
    uv_async_init(loop, &f->async, on_async);
    return f;
}

void
fake_virt_set_events(struct fake_virt *f, const struct virt_events *events, void *opaque)
{
    pthread_mutex_lock(&f->mu);
    f->events = events;
    f->opaque = opaque;
    pthread_mutex_unlock(&f->mu);
}

struct virt *
fake_virt_handle(struct fake_virt *f)
{
    return (struct virt *) (void *) f;
}

static void
on_closed(uv_handle_t *h)
{
    struct fake_virt *f = (struct fake_virt *) h;

    for (size_t i = 0; i < f->ndoms; i++) {
        free(f->doms[i].name);
        free(f->doms[i].meta_xml);
    }
    free(f->doms);
    for (size_t i = 0; i < f->nqueue; i++)
        free(f->queue[i].name);
    free(f->queue);
    free(f->calls);
    free(f->fail_msg);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

void
fake_virt_close(struct fake_virt *f)
{
    if (f)
        uv_close((uv_handle_t *) &f->async, on_closed);
}

void
fake_virt_add(struct fake_virt *f, const char *name, const struct dommeta *m, int state, int reason)
{
    struct vmirs_err *err = NULL;
    char *xml = NULL;

    if (dommeta_build(m, &xml, &err) < 0)
        abort(); /* a test's metadata must be valid */
    pthread_mutex_lock(&f->mu);
    dom_add(f, name, xml, state, reason, false);
    pthread_mutex_unlock(&f->mu);
}

void
fake_virt_kill(struct fake_virt *f, const char *name)
{
    struct fake_dom *d;

    pthread_mutex_lock(&f->mu);
    d = find(f, name, false);
    if (d) {
        dom_remove(f, d);
        raise_event(f, name, VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_DESTROYED);
    }
    pthread_mutex_unlock(&f->mu);
}

void
fake_virt_set_state(struct fake_virt *f, const char *name, int state, int reason, int event,
                    int detail)
{
    struct fake_dom *d;

    pthread_mutex_lock(&f->mu);
    d = find(f, name, false);
    if (d) {
        d->state = state;
        d->reason = reason;
        raise_event(f, name, event, detail);
    }
    pthread_mutex_unlock(&f->mu);
}

void
fake_virt_reveal(struct fake_virt *f, const char *name)
{
    struct fake_dom *d;

    pthread_mutex_lock(&f->mu);
    d = find(f, name, true);
    if (d && d->hidden) {
        d->hidden = false;
        raise_event(f, name, VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_BOOTED);
    }
    pthread_mutex_unlock(&f->mu);
}

size_t
fake_virt_count(struct fake_virt *f)
{
    size_t n = 0;

    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->ndoms; i++)
        n += !f->doms[i].hidden;
    pthread_mutex_unlock(&f->mu);
    return n;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

char **
fake_virt_names(struct fake_virt *f, size_t *n)
{
    char **v;

    pthread_mutex_lock(&f->mu);
    v = xcalloc(f->ndoms + 1, sizeof(*v));
    *n = 0;
    for (size_t i = 0; i < f->ndoms; i++)
        if (!f->doms[i].hidden)
            v[(*n)++] = xstrdup(f->doms[i].name);
    pthread_mutex_unlock(&f->mu);
    qsort(v, *n, sizeof(*v), cmp_str);
    return v;
}

int
fake_virt_meta(struct fake_virt *f, const char *name, struct dommeta *out)
{
    struct fake_dom *d;
    struct virt_domain vd;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&f->mu);
    d = find(f, name, false);
    if (d && dom_read(d, &vd) == 0) {
        *out = vd.meta;
        free(vd.name);
        rc = 0;
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

void
fake_virt_fail_creates(struct fake_virt *f, unsigned n, const char *msg)
{
    pthread_mutex_lock(&f->mu);
    f->fail_n = n;
    free(f->fail_msg);
    f->fail_msg = xstrdup(msg);
    pthread_mutex_unlock(&f->mu);
}

void
fake_virt_hold_creates_from(struct fake_virt *f, unsigned nth)
{
    pthread_mutex_lock(&f->mu);
    f->hold_from = nth;
    pthread_mutex_unlock(&f->mu);
}

unsigned
fake_virt_held(struct fake_virt *f)
{
    unsigned n;

    pthread_mutex_lock(&f->mu);
    n = f->held;
    pthread_mutex_unlock(&f->mu);
    return n;
}

void
fake_virt_release(struct fake_virt *f, enum fake_outcome how)
{
    pthread_mutex_lock(&f->mu);
    f->releases++;
    f->release_how = how;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

size_t
fake_virt_calls(struct fake_virt *f, const char *op, struct fake_call *out, size_t max)
{
    size_t n = 0;

    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->ncalls; i++) {
        if (strcmp(f->calls[i].op, op) != 0)
            continue;
        if (out && n < max)
            out[n] = f->calls[i];
        n++;
    }
    pthread_mutex_unlock(&f->mu);
    return n;
}

unsigned
fake_virt_duplicates(struct fake_virt *f)
{
    unsigned n;

    pthread_mutex_lock(&f->mu);
    n = f->duplicates;
    pthread_mutex_unlock(&f->mu);
    return n;
}
