/* The libvirt driver against a real libvirtd serving the test driver
 * (test+unix:///default), with libvirt's event loop on the test's uv loop
 * through virt_event: connect, lifecycle events on the loop thread, list
 * with metadata (foreign and unreadable domains skipped), get, set_meta,
 * shutdown, destroy, and reconnecting after a loss, simulated and real
 * (libvirtd dropping our clients through virt-admin).
 *
 * The test driver's state is shared by every connection to libvirtd and
 * disposed when the last one closes, so the test holds one connection for
 * the whole run. Other programs may use it at the same time: names carry
 * our pid, and lists are checked for what they contain, not their size. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include <errno.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/xmlwriter.h>
#include <uv.h>

#include "dommeta.h"
#include "util.h"
#include "virt.h"
#include "virt_event.h"
#include "workq.h"

#define URI "test+unix:///default"
#define MAX_PARALLEL 8
/* ceil(MAX_PARALLEL / 5): libvirtd serves 5 calls per connection at once. */
#define NCONN 2

/* From virt.c, built with -DUNITTESTS. */
unsigned virt_backoff_ms(unsigned failures);
void virt_testing_lose(struct virt *v);
unsigned virt_testing_attempts(const struct virt *v);

static uv_loop_t loop;
static uv_timer_t deadline;
static bool timed_out;
static uv_thread_t loop_tid;
static virConnectPtr holder; /* keeps the test driver's state alive */
static bool have_libvirtd;

static void
on_deadline(uv_timer_t *t)
{
    timed_out = true;
}

/* Run the loop until cond holds, failing after ms milliseconds. */
#define RUN_UNTIL(cond, ms)                                                                        \
    do {                                                                                           \
        timed_out = false;                                                                         \
        uv_timer_start(&deadline, on_deadline, (ms), 0);                                           \
        while (!(cond) && !timed_out)                                                              \
            uv_run(&loop, UV_RUN_ONCE);                                                            \
        uv_timer_stop(&deadline);                                                                  \
        if (!(cond))                                                                               \
            fail_msg("timed out after %d ms waiting for %s", (int) (ms), #cond);                   \
    } while (0)

/* Run the loop for ms milliseconds. */
static void
run_for(int ms)
{
    timed_out = false;
    uv_timer_start(&deadline, on_deadline, ms, 0);
    while (!timed_out)
        uv_run(&loop, UV_RUN_ONCE);
}

/* What the driver reported. */
struct rec {
    unsigned connected, disconnected;
    char *why;
    struct {
        char *name;
        int event, detail;
    } * ev; /* every domain's events: other programs may use the driver too */
    size_t nev, cap;
    bool off_loop; /* a callback ran on another thread */
};

static void
rec_check_thread(struct rec *r)
{
    uv_thread_t self = uv_thread_self();

    if (!uv_thread_equal(&self, &loop_tid))
        r->off_loop = true;
}

static void
rec_lifecycle(void *opaque, const char *name, int event, int detail)
{
    struct rec *r = opaque;

    rec_check_thread(r);
    r->ev = xgrow(r->ev, &r->cap, r->nev, sizeof(*r->ev));
    r->ev[r->nev].name = xstrdup(name);
    r->ev[r->nev].event = event;
    r->ev[r->nev].detail = detail;
    r->nev++;
}

static void
rec_connected(void *opaque)
{
    struct rec *r = opaque;

    rec_check_thread(r);
    r->connected++;
}

static void
rec_disconnected(void *opaque, const char *why)
{
    struct rec *r = opaque;

    rec_check_thread(r);
    r->disconnected++;
    free(r->why);
    r->why = xstrdup(why);
}

static const struct virt_events rec_events = {
    .lifecycle = rec_lifecycle,
    .connected = rec_connected,
    .disconnected = rec_disconnected,
};

/* How many events of that kind name got (detail -1: any). */
static unsigned
rec_count(const struct rec *r, const char *name, int event, int detail)
{
    unsigned n = 0;

    for (size_t i = 0; i < r->nev; i++)
        if (strcmp(r->ev[i].name, name) == 0 && r->ev[i].event == event &&
            (detail < 0 || r->ev[i].detail == detail))
            n++;
    return n;
}

static void
rec_free(struct rec *r)
{
    for (size_t i = 0; i < r->nev; i++)
        free(r->ev[i].name);
    free(r->ev);
    free(r->why);
}

/* One blocking call run as a workq job, as the controller does. */
enum op { OP_LIST, OP_GET, OP_CREATE, OP_SHUTDOWN, OP_DESTROY, OP_SET_META };

struct job {
    struct virt *v;
    enum op op;
    const char *arg; /* name or XML */
    const struct dommeta *meta;
    struct virt_domain *doms;
    size_t n;
    struct virt_domain dom;
    int rc;
    char *errmsg;
    int errcode; /* err->code of a failed call */
    bool done;
};

static int
job_work(void *arg, char **errmsg)
{
    const struct virt_ops *ops = &virt_libvirt_ops;
    struct job *j = arg;
    struct vmirs_err *err = NULL;
    int rc = -1;

    switch (j->op) {
    case OP_LIST:
        rc = ops->list(j->v, &j->doms, &j->n, &err);
        break;
    case OP_GET:
        rc = ops->get(j->v, j->arg, &j->dom, &err);
        break;
    case OP_CREATE:
        rc = ops->create(j->v, j->arg, &err);
        break;
    case OP_SHUTDOWN:
        rc = ops->shutdown(j->v, j->arg, &err);
        break;
    case OP_DESTROY:
        rc = ops->destroy(j->v, j->arg, &err);
        break;
    case OP_SET_META:
        rc = ops->set_meta(j->v, j->arg, j->meta, &err);
        break;
    }
    if (rc < 0) {
        *errmsg = xstrdup(err ? err->msg : "no error message");
        j->errcode = err ? err->code : 0;
    }
    err_free(&err);
    return rc;
}

static void
job_done(void *arg, int rc, char *errmsg)
{
    struct job *j = arg;

    j->rc = rc;
    j->errmsg = errmsg;
    j->done = true;
}

/* Run op on q and wait for it; the result stays in *j. */
static void
run_job(struct workq *q, struct job *j, struct virt *v, enum op op, const char *arg)
{
    const struct dommeta *meta = j->meta;

    memset(j, 0, sizeof(*j));
    j->v = v;
    j->op = op;
    j->arg = arg;
    j->meta = meta;
    workq_submit(q, job_work, job_done, j);
    RUN_UNTIL(j->done, 10000);
}

static void
job_free(struct job *j)
{
    for (size_t i = 0; i < j->n; i++)
        virt_domain_free(&j->doms[i]);
    free(j->doms);
    virt_domain_free(&j->dom);
    free(j->errmsg);
    memset(j, 0, sizeof(*j));
}

/* Run op and expect success. */
static void
run_ok(struct workq *q, struct job *j, struct virt *v, enum op op, const char *arg)
{
    run_job(q, j, v, op, arg);
    if (j->rc != 0)
        fail_msg("op %d on %s: %s", (int) op, arg ? arg : "-", j->errmsg);
}

static const struct virt_domain *
find_domain(const struct job *j, const char *name)
{
    for (size_t i = 0; i < j->n; i++)
        if (strcmp(j->doms[i].name, name) == 0)
            return &j->doms[i];
    return NULL;
}

/* A unique domain name for this run. */
static char *
domain_name(const char *what)
{
    return xasprintf("vt%ld_%s", (long) getpid(), what);
}

/* A test-driver domain whose <metadata> holds m (as domxml writes it), or
 * raw_meta verbatim, or nothing. */
static char *
domain_xml(const char *name, const struct dommeta *m, const char *raw_meta)
{
    xmlBufferPtr buf = xmlBufferCreate();
    xmlTextWriterPtr w = xmlNewTextWriterMemory(buf, 0);
    char *xml;

    assert_true(xmlTextWriterStartElement(w, BAD_CAST "domain") >= 0);
    assert_true(xmlTextWriterWriteAttribute(w, BAD_CAST "type", BAD_CAST "test") >= 0);
    assert_true(xmlTextWriterWriteElement(w, BAD_CAST "name", BAD_CAST name) >= 0);
    assert_true(xmlTextWriterWriteElement(w, BAD_CAST "memory", BAD_CAST "65536") >= 0);
    if (m || raw_meta) {
        assert_true(xmlTextWriterStartElement(w, BAD_CAST "metadata") >= 0);
        if (m)
            assert_int_equal(dommeta_write(w, m), 0);
        else
            assert_true(xmlTextWriterWriteRaw(w, BAD_CAST raw_meta) >= 0);
        assert_true(xmlTextWriterEndElement(w) >= 0);
    }
    assert_true(xmlTextWriterStartElement(w, BAD_CAST "os") >= 0);
    assert_true(xmlTextWriterWriteElement(w, BAD_CAST "type", BAD_CAST "hvm") >= 0);
    assert_true(xmlTextWriterEndDocument(w) >= 0);
    xml = xstrdup((const char *) xmlBufferContent(buf));
    xmlFreeTextWriter(w);
    xmlBufferFree(buf);
    return xml;
}

static void
sample_meta(struct dommeta *m, const char *vmi)
{
    memset(m, 0, sizeof(*m));
    m->owner_namespace = xstrdup("default");
    m->owner_name = xstrdup("web");
    m->owner_uid = xstrdup("0b3a6d6e-5c1e-5a8b-9d1f-2c3d4e5f6a7b");
    m->vmi_name = xstrdup(vmi);
    m->vmi_uid = xstrdup("00010203-0405-4607-8809-0a0b0c0d0e0f");
    m->slot = 2;
    m->template_hash = xstrdup("0123456789abcdef");
    labels_set(&m->labels, "app", "web");
    labels_set(&m->labels, "evil", "<>&\"' ]]>");
}

/* The per-test fixture: a queue, a driver, what it reported. */
struct fx {
    struct workq *q;
    struct virt *v;
    struct rec rec;
    bool stopped;
};

static void
fx_on_stopped(void *opaque)
{
    struct fx *f = opaque;

    f->stopped = true;
}

static struct fx *
fx_start(const char *uri)
{
    struct fx *f = xcalloc(1, sizeof(*f));

    f->q = workq_new(&loop, MAX_PARALLEL);
    f->v = virt_start(&loop, f->q, uri, NCONN, &rec_events, &f->rec);
    return f;
}

static void
fx_stop(struct fx *f)
{
    virt_stop(f->v, fx_on_stopped, f);
    RUN_UNTIL(f->stopped, 10000);
    assert_int_equal(workq_running(f->q), 0);
    assert_int_equal(workq_waiting(f->q), 0);
    workq_free(f->q);
    assert_false(f->rec.off_loop);
    rec_free(&f->rec);
    free(f);
}

static int
fx_setup(void **state)
{
    if (!have_libvirtd)
        return 0;
    *state = fx_start(URI);
    RUN_UNTIL(((struct fx *) *state)->rec.connected == 1, 10000);
    return 0;
}

static int
fx_teardown(void **state)
{
    if (*state)
        fx_stop(*state);
    return 0;
}

static void
require_libvirtd(void)
{
    if (!have_libvirtd)
        skip();
}

static void
test_backoff_schedule(void **state)
{
    static const struct {
        unsigned failures, ms;
    } cases[] = {
        {0, 500},  {1, 1000}, {2, 2000},  {3, 2000},  {4, 2000},
        {5, 2000}, {6, 2000}, {31, 2000}, {32, 2000}, {4294967295u, 2000},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        assert_int_equal(virt_backoff_ms(cases[i].failures), cases[i].ms);
}

/* Create, observe, list, get, release, shut down, destroy. */
static void
test_domain_lifecycle(void **state)
{
    struct fx *f = *state;
    cleanup_free char *name = NULL, *vmi = NULL, *foreign = NULL, *garbled = NULL, *missing = NULL;
    cleanup_free char *xml = NULL, *fxml = NULL, *gxml = NULL;
    struct dommeta meta, released;
    const struct virt_domain *d;
    virDomainPtr dom;
    struct job j = {0};

    require_libvirtd();
    assert_true(virt_connected(f->v));
    name = domain_name("webbcdfg");
    vmi = xstrdup(name);
    foreign = domain_name("foreign");
    garbled = domain_name("garbled");
    missing = domain_name("missing");
    sample_meta(&meta, vmi);
    xml = domain_xml(name, &meta, NULL);

    /* Created from a workq job: the event comes back on the loop. */
    run_ok(f->q, &j, f->v, OP_CREATE, xml);
    job_free(&j);
    RUN_UNTIL(rec_count(&f->rec, name, VIR_DOMAIN_EVENT_STARTED, -1) == 1, 5000);

    /* Someone else's domain, and one with our namespace but garbage. */
    fxml = domain_xml(foreign, NULL, NULL);
    dom = virDomainCreateXML(holder, fxml, 0);
    assert_non_null(dom);
    virDomainFree(dom);
    gxml = domain_xml(garbled, NULL,
                      "<vmirs:replica xmlns:vmirs='urn:vmirsd:1'><vmirs:bogus/></vmirs:replica>");
    dom = virDomainCreateXML(holder, gxml, 0);
    assert_non_null(dom);
    virDomainFree(dom);

    run_ok(f->q, &j, f->v, OP_LIST, NULL);
    d = find_domain(&j, name);
    assert_non_null(d);
    assert_int_equal(d->state, VIR_DOMAIN_RUNNING);
    assert_string_equal(d->meta.owner_uid, meta.owner_uid);
    assert_string_equal(d->meta.owner_namespace, "default");
    assert_string_equal(d->meta.owner_name, "web");
    assert_string_equal(d->meta.vmi_name, vmi);
    assert_int_equal(d->meta.slot, 2);
    assert_string_equal(d->meta.template_hash, "0123456789abcdef");
    assert_string_equal(labels_get(&d->meta.labels, "evil"), "<>&\"' ]]>");
    assert_null(find_domain(&j, foreign));
    assert_null(find_domain(&j, garbled));
    assert_null(find_domain(&j, "test")); /* the driver's own domain */
    job_free(&j);

    /* get agrees with list. */
    run_ok(f->q, &j, f->v, OP_GET, name);
    assert_string_equal(j.dom.name, name);
    assert_string_equal(j.dom.meta.owner_uid, meta.owner_uid);
    assert_int_equal(j.dom.state, VIR_DOMAIN_RUNNING);
    job_free(&j);
    run_ok(f->q, &j, f->v, OP_GET, foreign);
    assert_null(j.dom.name);
    job_free(&j);
    run_ok(f->q, &j, f->v, OP_GET, missing);
    assert_null(j.dom.name);
    job_free(&j);

    /* Release: the owner is cleared, the rest kept. */
    released = meta;
    released.owner_namespace = released.owner_name = released.owner_uid = NULL;
    j.meta = &released;
    run_ok(f->q, &j, f->v, OP_SET_META, name);
    job_free(&j);
    run_ok(f->q, &j, f->v, OP_GET, name);
    assert_string_equal(j.dom.name, name);
    assert_null(j.dom.meta.owner_uid);
    assert_null(j.dom.meta.owner_name);
    assert_string_equal(j.dom.meta.vmi_name, vmi);
    assert_int_equal(j.dom.meta.slot, 2);
    assert_int_equal(j.dom.meta.labels.n, 2);
    job_free(&j);
    j.meta = &released;
    run_job(f->q, &j, f->v, OP_SET_META, missing);
    assert_int_equal(j.rc, -1);
    assert_non_null(strstr(j.errmsg, "set metadata of domain `"));
    assert_non_null(strstr(j.errmsg, "`: no such domain"));
    job_free(&j);

    /* Graceful shutdown: the test driver stops the domain at once. */
    run_ok(f->q, &j, f->v, OP_SHUTDOWN, name);
    job_free(&j);
    RUN_UNTIL(
        rec_count(&f->rec, name, VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN) == 1,
        5000);
    run_ok(f->q, &j, f->v, OP_GET, name);
    assert_null(j.dom.name);
    job_free(&j);

    /* Destroy, of a live domain, then of one that is gone. */
    run_ok(f->q, &j, f->v, OP_CREATE, xml);
    job_free(&j);
    RUN_UNTIL(rec_count(&f->rec, name, VIR_DOMAIN_EVENT_STARTED, -1) == 2, 5000);
    run_ok(f->q, &j, f->v, OP_DESTROY, name);
    job_free(&j);
    RUN_UNTIL(
        rec_count(&f->rec, name, VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_DESTROYED) == 1,
        5000);
    run_ok(f->q, &j, f->v, OP_DESTROY, name);
    job_free(&j);
    run_ok(f->q, &j, f->v, OP_DESTROY, missing);
    job_free(&j);
    run_ok(f->q, &j, f->v, OP_SHUTDOWN, missing);
    job_free(&j);

    /* A create libvirt refuses carries libvirt's message. */
    run_job(f->q, &j, f->v, OP_CREATE, fxml);
    assert_int_equal(j.rc, -1);
    assert_non_null(strstr(j.errmsg, "create domain: "));
    assert_non_null(strstr(j.errmsg, "already exists"));
    job_free(&j);

    run_ok(f->q, &j, f->v, OP_DESTROY, foreign);
    job_free(&j);
    run_ok(f->q, &j, f->v, OP_DESTROY, garbled);
    job_free(&j);
    dommeta_free(&meta);
}

static bool
all_started(const struct rec *r, char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (rec_count(r, names[i], VIR_DOMAIN_EVENT_STARTED, -1) == 0)
            return false;
    return true;
}

/* Many calls at once over NCONN connections. */
static void
test_parallel_calls(void **state)
{
    struct fx *f = *state;
    struct job jobs[3 * MAX_PARALLEL];
    char *names[ARRAY_SIZE(jobs)], *xmls[ARRAY_SIZE(jobs)];
    struct dommeta meta;
    size_t done;

    require_libvirtd();
    for (size_t i = 0; i < ARRAY_SIZE(jobs); i++) {
        char what[16];

        snprintf(what, sizeof(what), "par%zu", i);
        names[i] = domain_name(what);
        sample_meta(&meta, names[i]);
        xmls[i] = domain_xml(names[i], &meta, NULL);
        dommeta_free(&meta);
        memset(&jobs[i], 0, sizeof(jobs[i]));
        jobs[i].v = f->v;
        jobs[i].op = OP_CREATE;
        jobs[i].arg = xmls[i];
        workq_submit(f->q, job_work, job_done, &jobs[i]);
    }
    assert_int_equal(workq_running(f->q), MAX_PARALLEL);
    do {
        done = 0;
        for (size_t i = 0; i < ARRAY_SIZE(jobs); i++)
            done += jobs[i].done;
        if (done < ARRAY_SIZE(jobs))
            uv_run(&loop, UV_RUN_ONCE);
    } while (done < ARRAY_SIZE(jobs));
    for (size_t i = 0; i < ARRAY_SIZE(jobs); i++) {
        if (jobs[i].rc != 0)
            fail_msg("create %s: %s", names[i], jobs[i].errmsg);
        job_free(&jobs[i]);
    }
    RUN_UNTIL(all_started(&f->rec, names, ARRAY_SIZE(names)), 5000);
    for (size_t i = 0; i < ARRAY_SIZE(jobs); i++) {
        assert_int_equal(rec_count(&f->rec, names[i], VIR_DOMAIN_EVENT_STARTED, -1), 1);
        run_ok(f->q, &jobs[i], f->v, OP_DESTROY, names[i]);
        job_free(&jobs[i]);
        free(names[i]);
        free(xmls[i]);
    }
}

/* Create a domain and wait for its STARTED event: events flow. */
static void
expect_events(struct fx *f, const char *what)
{
    cleanup_free char *name = domain_name(what);
    cleanup_free char *xml = NULL;
    struct dommeta meta;
    struct job j = {0};

    sample_meta(&meta, name);
    xml = domain_xml(name, &meta, NULL);
    dommeta_free(&meta);
    run_ok(f->q, &j, f->v, OP_CREATE, xml);
    job_free(&j);
    RUN_UNTIL(rec_count(&f->rec, name, VIR_DOMAIN_EVENT_STARTED, -1) == 1, 5000);
    run_ok(f->q, &j, f->v, OP_DESTROY, name);
    job_free(&j);
    RUN_UNTIL(rec_count(&f->rec, name, VIR_DOMAIN_EVENT_STOPPED, -1) == 1, 5000);
    /* Exactly once: the old generation's callback is gone. */
    run_for(50);
    assert_int_equal(rec_count(&f->rec, name, VIR_DOMAIN_EVENT_STARTED, -1), 1);
}

/* The close callback's path, triggered by the testing hook: disconnected,
 * calls refused, reconnected after the first backoff step (500 ms), events
 * registered again on the new connection. */
static void
test_reconnect_after_close(void **state)
{
    struct fx *f = *state;
    struct job j = {0};
    uint64_t t0;

    require_libvirtd();
    expect_events(f, "before");
    t0 = uv_now(&loop);
    virt_testing_lose(f->v);
    RUN_UNTIL(f->rec.disconnected == 1, 5000);
    assert_string_equal(f->rec.why, "closed by the client");
    assert_false(virt_connected(f->v));
    run_job(f->q, &j, f->v, OP_LIST, NULL);
    assert_int_equal(j.rc, -1);
    assert_string_equal(j.errmsg, "not connected to `" URI "`");
    assert_int_equal(j.errcode, ENOTCONN); /* never sent: the controller charges no back-off */
    job_free(&j);

    RUN_UNTIL(f->rec.connected == 2, 5000);
    uv_update_time(&loop);
    assert_true(uv_now(&loop) - t0 >= 450);
    assert_true(virt_connected(f->v));
    expect_events(f, "after");

    /* Again: the backoff starts over after a success. */
    t0 = uv_now(&loop);
    virt_testing_lose(f->v);
    RUN_UNTIL(f->rec.connected == 3, 5000);
    uv_update_time(&loop);
    assert_true(uv_now(&loop) - t0 < 2500);
    expect_events(f, "again");
}

/* Ids of libvirtd's clients that are this process, ascending. */
static size_t
our_clients(long *ids, size_t max)
{
    FILE *p = popen("virt-admin srv-clients-list libvirtd 2>/dev/null", "r");
    char line[256];
    size_t n = 0;

    if (!p)
        return 0;
    while (fgets(line, sizeof(line), p) && n < max) {
        long id;
        char cmd[128], info[256];
        FILE *c;

        if (sscanf(line, " %ld unix", &id) != 1)
            continue;
        snprintf(cmd, sizeof(cmd), "virt-admin client-info libvirtd %ld 2>/dev/null", id);
        c = popen(cmd, "r");
        if (!c)
            continue;
        while (fgets(info, sizeof(info), c)) {
            long pid;

            if (sscanf(info, "unix_process_id: %ld", &pid) == 1 && pid == (long) getpid())
                ids[n++] = id;
        }
        pclose(c);
    }
    pclose(p);
    for (size_t i = 1; i < n; i++)
        for (size_t k = i; k > 0 && ids[k - 1] > ids[k]; k--) {
            long t = ids[k];

            ids[k] = ids[k - 1];
            ids[k - 1] = t;
        }
    return n;
}

/* A real loss: libvirtd drops every connection of ours but the holder
 * (the first one opened), as a daemon restart would, except that the
 * test driver's domains survive. */
static void
test_reconnect_after_server_disconnect(void **state)
{
    struct fx *f = *state;
    long ids[16];
    size_t n;

    require_libvirtd();
    if (system("virt-admin srv-clients-list libvirtd >/dev/null 2>&1") != 0)
        skip();
    /* The holder and NCONN connections of the driver (those of earlier
     * tests may take a moment to leave libvirtd's list). */
    RUN_UNTIL((n = our_clients(ids, ARRAY_SIZE(ids))) == 1 + NCONN, 5000);
    for (size_t i = 1; i < n; i++) {
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "virt-admin client-disconnect libvirtd %ld >/dev/null", ids[i]);
        assert_int_equal(system(cmd), 0);
    }
    RUN_UNTIL(f->rec.disconnected == 1, 10000);
    assert_false(virt_connected(f->v));
    RUN_UNTIL(f->rec.connected == 2, 10000);
    expect_events(f, "server");
    /* The abandoned connections are closed, the new ones open. */
    RUN_UNTIL(our_clients(ids, ARRAY_SIZE(ids)) == 1 + NCONN, 5000);
}

/* Nothing to connect to: attempts go on with backoff, calls are refused,
 * and stop does not wait for the next attempt. */
static void
test_connect_failure(void **state)
{
    struct fx *f;
    struct job j = {0};

    f = fx_start("test+unix:///default?socket=/nonexistent/libvirt-sock");
    RUN_UNTIL(virt_testing_attempts(f->v) == 2, 5000);
    assert_false(virt_connected(f->v));
    assert_int_equal(f->rec.connected, 0);
    assert_int_equal(f->rec.disconnected, 0);
    run_job(f->q, &j, f->v, OP_DESTROY, "x");
    assert_int_equal(j.rc, -1);
    assert_string_equal(j.errmsg,
                        "not connected to `test+unix:///default?socket=/nonexistent/libvirt-sock`");
    job_free(&j);
    fx_stop(f);
}

/* Stopped before the first connect finished: no connected call, and the
 * connections it opened are closed. */
static void
test_stop_while_connecting(void **state)
{
    struct fx *f;

    require_libvirtd();
    f = fx_start(URI);
    virt_stop(f->v, fx_on_stopped, f);
    RUN_UNTIL(f->stopped, 10000);
    assert_int_equal(f->rec.connected, 0);
    workq_free(f->q);
    rec_free(&f->rec);
    free(f);
}

static void
quiet(void *opaque, virErrorPtr e)
{
}

static int
group_setup(void **state)
{
    struct vmirs_err *err = NULL;

    loop_tid = uv_thread_self();
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(uv_timer_init(&loop, &deadline), 0);
    if (virt_event_register(&loop, &err) < 0)
        fail_msg("virt_event_register: %s", err->msg);
    virSetErrorFunc(NULL, quiet);
    if (system("virsh -c " URI " version >/dev/null 2>&1") != 0) {
        fprintf(stderr, "libvirtd does not answer on " URI ": skipping the tests that need it\n");
        return 0;
    }
    holder = virConnectOpen(URI);
    if (!holder)
        fail_msg("open " URI ": %s", virGetLastErrorMessage());
    have_libvirtd = true;
    return 0;
}

static int
group_teardown(void **state)
{
    if (holder)
        virConnectClose(holder);
    /* libvirt releases its watches and timers through the event loop
     * after the last close: let it. */
    run_for(100);
    virt_event_shutdown();
    uv_close((uv_handle_t *) &deadline, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_schedule),
        cmocka_unit_test_setup_teardown(test_domain_lifecycle, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_parallel_calls, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reconnect_after_close, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reconnect_after_server_disconnect, fx_setup,
                                        fx_teardown),
        cmocka_unit_test(test_connect_failure),
        cmocka_unit_test(test_stop_while_connecting),
    };
    char size[16];

    /* Before any loop exists: libvirt calls run on the threadpool, and
     * libuv sizes it once, at the first uv_queue_work. */
    snprintf(size, sizeof(size), "%u", workq_threadpool_size(MAX_PARALLEL));
    setenv("UV_THREADPOOL_SIZE", size, 1);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
