#include "config.h"

#define LOG_COMPONENT "virt"

#include "virt.h"
#include "virt_int.h"

#include <assert.h>
#include <errno.h>
#include <libvirt/libvirt.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "log.h"
#include "util.h"
#include "workq.h"

/* Client keepalive on the event connection: a ping after 5 s of silence,
 * the connection closed after 3 unanswered ones, so a hung libvirtd is
 * noticed within about 20 s. A libvirtd restart on the local socket is an
 * immediate EOF and needs no keepalive. */
#define VIRT_KEEPALIVE_INTERVAL 5
#define VIRT_KEEPALIVE_COUNT 3

/* Reconnect backoff: 500 ms, 1 s, then every 2 s. An attempt is one
 * failed connect(2) on libvirtd's socket, so trying often costs nothing
 * measurable while libvirtd is down, and the replicas come back within 2 s
 * of its return (systemd restarts libvirtd in about a second). */
#define VIRT_BACKOFF_MIN_MS 500u
#define VIRT_BACKOFF_MAX_MS 2000u

/* One generation of connections: opened together by a connect job,
 * installed on the loop thread, closed together by a teardown job. It is
 * also the close callback's opaque, so a late close from an abandoned
 * generation is told apart from a close of the live one.
 *
 * Its memory is reference-counted, because libvirt may call the close
 * callback after the teardown: virConnectUnregisterCloseCallback on a
 * remote connection first asks libvirtd (remote_driver.c,
 * remoteConnectUnregisterCloseCallback) and, when that RPC fails because
 * the socket is already dying, returns -1 with the callback still
 * registered; a worker in the middle of a call on that connection then
 * notices the EOF and fires it (seen as a use after free in a burst of
 * creates when libvirtd was killed). So each registration holds a
 * reference, dropped by libvirt's free callback, which datatypes.c runs
 * exactly once: after the callback fired, on unregistering, or when the
 * connection is disposed. */
struct virt_connset {
    struct virt *v;
    atomic_uint refs; /* ours, plus one per registered close callback */
    unsigned gen;
    virConnectPtr *conns;   /* nconn; conns[0] carries keepalive and events */
    bool *close_registered; /* per connection */
    int event_id;           /* lifecycle callback on conns[0], or -1 */
};

struct virt {
    uv_loop_t *loop;
    uv_thread_t loop_tid;
    struct workq *q;
    char *uri;
    unsigned nconn;
    struct virt_events ev;
    void *opaque;

    /* Shared with the workq threads that make blocking calls. */
    uv_mutex_t lock;
    struct virt_connset *cur; /* the installed generation, NULL when down */
    unsigned *busy;           /* calls in flight per connection of cur */
    unsigned next;            /* where the round robin starts */

    /* Written by libvirt's close callback in any thread. */
    atomic_uint lost_gen;   /* highest generation reported closed */
    atomic_int lost_reason; /* virConnectCloseReason of that report */
    /* The memory outlives virt_stop while a connset still refers to it:
     * one reference for the loop's handles, one per live connset. */
    atomic_uint refs;
    uv_mutex_t wake_lock; /* wake_open, against a late close callback */
    bool wake_open;

    /* Loop thread only. */
    unsigned last_gen; /* last generation handed to a connect job */
    bool connected;
    bool connecting; /* a connect job is queued or running */
    bool stopping;
    unsigned failures;      /* failed attempts and losses since the last success */
    unsigned attempts;      /* failed connect attempts, ever (tests) */
    bool was_connected;     /* a connection has been up before */
    bool outage_logged;     /* this outage has had its one warning */
    uint64_t down_since_ms; /* uv_now when the connection was lost */
    unsigned jobs;          /* connect and teardown jobs in flight */
    uv_timer_t retry;
    uv_async_t wake;  /* the only handle touched from other threads */
    unsigned handles; /* open uv handles, closed on stop */
    void (*stop_done)(void *opaque);
    void *stop_opaque;
};

/* The reconnect delay after `failures` consecutive failures (or a loss,
 * which counts as one): 500 ms doubling to 2 s. */
STATIC unsigned virt_backoff_ms(unsigned failures);

STATIC unsigned
virt_backoff_ms(unsigned failures)
{
    return (unsigned) backoff_doubled(failures, VIRT_BACKOFF_MIN_MS, VIRT_BACKOFF_MAX_MS);
}

static bool
virt_on_loop_thread(const struct virt *v)
{
    uv_thread_t self = uv_thread_self();

    return uv_thread_equal(&self, &v->loop_tid);
}

/* libvirt prints every error to stderr unless told otherwise; vmirsd
 * reads the error in the thread that made the call and reports it once. */
static void
virt_quiet(void *opaque, virErrorPtr e)
{
}

static void
virt_process_init(void)
{
    struct sigaction sa;

    /* libvirt writes to its sockets without MSG_NOSIGNAL: when libvirtd
     * drops a connection (restart, virt-admin client-disconnect), the next
     * write raises SIGPIPE, whose default action kills the process instead
     * of failing the call and running the close callback. Ignore it,
     * unless the program has chosen a disposition of its own. */
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        sa.sa_handler = SIG_IGN;
        sa.sa_flags = 0;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGPIPE, &sa, NULL);
    }
    if (virInitialize() < 0)
        log_error("initialise libvirt: %s", virGetLastErrorMessage());
    virSetErrorFunc(NULL, virt_quiet);
    /* dommeta_parse runs in workq threads; libxml2's global state must be
     * set up once, from one thread, before that. */
    xmlInitParser();
}

/* Whether libvirt's error says the call lost its connection (libvirtd
 * went away, the socket closed, keepalive timed out) rather than that the
 * hypervisor refused it. Such a call may or may not have taken effect. */
static bool
virt_error_is_connection(const virError *e)
{
    if (!e)
        return false;
    return e->domain == VIR_FROM_RPC || e->code == VIR_ERR_NO_CONNECT ||
           e->code == VIR_ERR_INVALID_CONN || e->code == VIR_ERR_RPC;
}

/* Fill err with "context: <libvirt's last error in this thread>". */
int
virt_error(struct vmirs_err **err, const char *fmt, ...)
{
    cleanup_free char *ctx = NULL;
    va_list ap;

    va_start(ap, fmt);
    if (vasprintf(&ctx, fmt, ap) < 0)
        ctx = NULL;
    va_end(ap);
    err_set(err, 0, "%s: %s", ctx ? ctx : "libvirt", virGetLastErrorMessage());
    if (virt_error_is_connection(virGetLastError()))
        (*err)->code = ECONNRESET;
    return -1;
}

static const char *
virt_close_reason(int reason)
{
    switch (reason) {
    case VIR_CONNECT_CLOSE_REASON_ERROR:
        return "connection error";
    case VIR_CONNECT_CLOSE_REASON_EOF:
        return "end of file from libvirtd";
    case VIR_CONNECT_CLOSE_REASON_KEEPALIVE:
        return "keepalive timeout";
    case VIR_CONNECT_CLOSE_REASON_CLIENT:
        return "closed by the client";
    default:
        return "closed";
    }
}

/* --- Connections lent to blocking calls ---------------------------------- */

/* Lend the least busy connection, the round robin breaking ties. With
 * nconn >= ceil(max_parallel / 5), no connection serves more than 5 calls
 * at once (libvirtd's max_client_requests): at most max_parallel calls
 * run, so while one more is being placed fewer than 5 * nconn are in
 * flight and the least busy connection has fewer than 5. A plain round
 * robin would not guarantee that once calls take unequal times. */
int
virt_acquire(struct virt *v, struct virt_lease *l, struct vmirs_err **err)
{
    unsigned best;

    uv_mutex_lock(&v->lock);
    if (!v->cur) {
        uv_mutex_unlock(&v->lock);
        err_set(err, 0, "not connected to `%s`", v->uri);
        (*err)->code = ENOTCONN;
        return -1;
    }
    best = v->next % v->nconn;
    for (unsigned k = 1; k < v->nconn; k++) {
        unsigned i = (v->next + k) % v->nconn;

        if (v->busy[i] < v->busy[best])
            best = i;
    }
    v->next = best + 1;
    v->busy[best]++;
    l->idx = best;
    l->gen = v->cur->gen;
    l->conn = v->cur->conns[best];
    /* Our own reference: a reconnect may close the generation while this
     * call still uses it. */
    virConnectRef(l->conn);
    uv_mutex_unlock(&v->lock);
    return 0;
}

/* Give the connection back. Call after reading libvirt's error:
 * virConnectClose resets it. */
void
virt_release(struct virt *v, struct virt_lease *l)
{
    uv_mutex_lock(&v->lock);
    if (v->cur && v->cur->gen == l->gen)
        v->busy[l->idx]--;
    uv_mutex_unlock(&v->lock);
    virConnectClose(l->conn);
    l->conn = NULL;
}

/* --- libvirt callbacks ------------------------------------------------------ */

/* Any thread: libvirt calls it from whichever thread notices the socket
 * close (the event loop, or a worker in the middle of a call). It only
 * records the generation and wakes the loop; uv_async_send is the one
 * libuv call that is safe here. */
static void
virt_on_close(virConnectPtr conn, int reason, void *opaque)
{
    struct virt_connset *set = opaque;
    struct virt *v = set->v;
    unsigned seen = atomic_load(&v->lost_gen);

    while (seen < set->gen && !atomic_compare_exchange_weak(&v->lost_gen, &seen, set->gen))
        ;
    atomic_store(&v->lost_reason, reason);
    uv_mutex_lock(&v->wake_lock);
    if (v->wake_open)
        uv_async_send(&v->wake);
    uv_mutex_unlock(&v->wake_lock);
}

/* Loop thread. libvirt does not call domain event callbacks from the
 * thread that received the event: it queues it and arms a 0 ms timeout,
 * and the event loop dispatches the queue (object_event.c). virt_event
 * runs that loop on ours, so this runs on the loop thread and may call
 * ev->lifecycle directly. dom is valid only during the call. */
static int
virt_on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
    struct virt *v = opaque;
    cleanup_free char *name = xstrdup(virDomainGetName(dom));

    assert(virt_on_loop_thread(v));
    if (!v->stopping && v->ev.lifecycle)
        v->ev.lifecycle(v->opaque, name, event, detail);
    return 0;
}

/* --- Connect and teardown jobs ---------------------------------------------- */

static void
virt_unref(struct virt *v)
{
    if (atomic_fetch_sub(&v->refs, 1) != 1)
        return;
    uv_mutex_destroy(&v->wake_lock);
    uv_mutex_destroy(&v->lock);
    free(v->busy);
    free(v->uri);
    free(v);
}

static struct virt_connset *
virt_connset_new(struct virt *v, unsigned gen)
{
    struct virt_connset *set = xcalloc(1, sizeof(*set));

    atomic_fetch_add(&v->refs, 1);
    set->v = v;
    atomic_init(&set->refs, 1);
    set->gen = gen;
    set->conns = xcalloc(v->nconn, sizeof(*set->conns));
    set->close_registered = xcalloc(v->nconn, sizeof(*set->close_registered));
    set->event_id = -1;
    return set;
}

/* Workq thread: undo whatever part of set exists. Once the callbacks are
 * deregistered, libvirt no longer refers to set or v. */
static void
virt_connset_close(struct virt_connset *set)
{
    for (unsigned i = 0; i < set->v->nconn; i++) {
        virConnectPtr c = set->conns[i];

        if (!c)
            continue;
        if (i == 0 && set->event_id >= 0)
            virConnectDomainEventDeregisterAny(c, set->event_id);
        /* Fails harmlessly when the callback has fired already: libvirt
         * forgets it after the first call. */
        if (set->close_registered[i])
            virConnectUnregisterCloseCallback(c, virt_on_close);
        virConnectClose(c);
        set->conns[i] = NULL;
    }
}

/* Any thread: libvirt's free callback for a registration, or the owner
 * letting go. */
static void
virt_connset_unref(void *opaque)
{
    struct virt_connset *set = opaque;
    struct virt *v = set->v;

    if (atomic_fetch_sub(&set->refs, 1) != 1)
        return;
    free(set->conns);
    free(set->close_registered);
    free(set);
    virt_unref(v);
}

static int
virt_connect_work(void *arg, char **errmsg)
{
    struct virt_connset *set = arg;
    struct virt *v = set->v;

    for (unsigned i = 0; i < v->nconn; i++) {
        virConnectPtr c = virConnectOpen(v->uri);

        if (!c) {
            *errmsg = xstrdup(virGetLastErrorMessage());
            return -1;
        }
        set->conns[i] = c;
        /* Every connection: whichever drops first, all are renewed. The
         * reference is taken first: the callback may fire, and its free
         * callback run, before the call returns. */
        atomic_fetch_add(&set->refs, 1);
        if (virConnectRegisterCloseCallback(c, virt_on_close, set, virt_connset_unref) < 0) {
            atomic_fetch_sub(&set->refs, 1); /* ours is still held */
            *errmsg = xasprintf("register close callback: %s", virGetLastErrorMessage());
            return -1;
        }
        set->close_registered[i] = true;
    }
    /* Drivers that run in-process (test:///default) have no keepalive;
     * that is no reason to fail. */
    if (virConnectSetKeepAlive(set->conns[0], VIRT_KEEPALIVE_INTERVAL, VIRT_KEEPALIVE_COUNT) < 0)
        log_debug("no keepalive on `%s`: %s", v->uri, virGetLastErrorMessage());
    set->event_id =
        virConnectDomainEventRegisterAny(set->conns[0], NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                         VIR_DOMAIN_EVENT_CALLBACK(virt_on_lifecycle), v, NULL);
    if (set->event_id < 0) {
        *errmsg = xasprintf("register lifecycle events: %s", virGetLastErrorMessage());
        return -1;
    }
    return 0;
}

static void virt_maybe_finish(struct virt *v);
static void virt_schedule_retry(struct virt *v);

static int
virt_teardown_work(void *arg, char **errmsg)
{
    virt_connset_close(arg);
    return 0;
}

static void
virt_teardown_done(void *arg, int rc, char *errmsg)
{
    struct virt_connset *set = arg;
    struct virt *v = set->v;

    free(errmsg);
    virt_connset_unref(set);
    v->jobs--;
    virt_maybe_finish(v);
}

/* Close a generation in the background: deregistering and closing are
 * RPCs, and a loop thread that blocks stops answering keepalives. */
static void
virt_submit_teardown(struct virt *v, struct virt_connset *set)
{
    v->jobs++;
    workq_submit(v->q, virt_teardown_work, virt_teardown_done, set);
}

static void
virt_connect_done(void *arg, int rc, char *errmsg)
{
    struct virt_connset *set = arg;
    struct virt *v = set->v;
    cleanup_free char *msg = errmsg;

    v->jobs--;
    v->connecting = false;
    if (v->stopping) {
        virt_submit_teardown(v, set);
        virt_maybe_finish(v);
        return;
    }
    if (rc == 0 && atomic_load(&v->lost_gen) >= set->gen) {
        rc = -1;
        msg = xstrdup(virt_close_reason(atomic_load(&v->lost_reason)));
    }
    if (rc < 0) {
        v->attempts++;
        /* One line per outage, not one per attempt (SPEC section 3): the
         * first failed attempt says why, the rest are debug. */
        if (!v->outage_logged) {
            log_warn("connect to `%s`: %s; retrying every %u s until it answers", v->uri,
                     msg ? msg : "failed", VIRT_BACKOFF_MAX_MS / 1000);
            v->outage_logged = true;
        } else {
            log_debug("connect to `%s`: %s", v->uri, msg ? msg : "failed");
        }
        virt_submit_teardown(v, set);
        virt_schedule_retry(v);
        return;
    }

    uv_mutex_lock(&v->lock);
    v->cur = set;
    memset(v->busy, 0, v->nconn * sizeof(*v->busy));
    uv_mutex_unlock(&v->lock);
    v->connected = true;
    v->failures = 0;
    if (v->was_connected)
        log_info("reconnected to `%s` after %.1f s", v->uri,
                 (double) (uv_now(v->loop) - v->down_since_ms) / 1000);
    else
        log_info("connected to `%s`", v->uri);
    v->was_connected = true;
    v->outage_logged = false;
    if (v->ev.connected)
        v->ev.connected(v->opaque);
}

static void
virt_connect(struct virt *v)
{
    struct virt_connset *set;

    assert(!v->connecting && !v->connected && !v->stopping);
    set = virt_connset_new(v, ++v->last_gen);
    v->connecting = true;
    v->jobs++;
    workq_submit(v->q, virt_connect_work, virt_connect_done, set);
}

static void
virt_on_retry(uv_timer_t *t)
{
    struct virt *v = t->data;

    if (!v->stopping && !v->connected && !v->connecting)
        virt_connect(v);
}

static void
virt_schedule_retry(struct virt *v)
{
    unsigned ms = virt_backoff_ms(v->failures);

    if (v->failures < 5)
        v->failures++;
    uv_timer_start(&v->retry, virt_on_retry, ms, 0);
}

/* Uninstall the current generation: new calls fail at once, calls in
 * flight finish on their own references. */
static struct virt_connset *
virt_uninstall(struct virt *v)
{
    struct virt_connset *set;

    uv_mutex_lock(&v->lock);
    set = v->cur;
    v->cur = NULL;
    uv_mutex_unlock(&v->lock);
    v->connected = false;
    return set;
}

/* The close callback fired: if it concerns the live generation, drop it
 * and reconnect after the backoff. */
static void
virt_on_wake(uv_async_t *a)
{
    struct virt *v = a->data;
    cleanup_free char *why = NULL;
    struct virt_connset *set;

    if (v->stopping || !v->connected || atomic_load(&v->lost_gen) < v->cur->gen)
        return;
    why = xstrdup(virt_close_reason(atomic_load(&v->lost_reason)));
    set = virt_uninstall(v);
    log_warn("lost the connection to `%s`: %s; reconnecting", v->uri, why);
    v->outage_logged = true;
    v->down_since_ms = uv_now(v->loop);
    virt_submit_teardown(v, set);
    virt_schedule_retry(v);
    if (v->ev.disconnected)
        v->ev.disconnected(v->opaque, why);
}

/* --- Start and stop ------------------------------------------------------- */

struct virt *
virt_start(uv_loop_t *loop, struct workq *q, const char *uri, unsigned nconn,
           const struct virt_events *ev, void *opaque)
{
    static uv_once_t once = UV_ONCE_INIT;
    struct virt *v = xcalloc(1, sizeof(*v));

    uv_once(&once, virt_process_init);
    v->loop = loop;
    v->loop_tid = uv_thread_self();
    v->q = q;
    v->uri = xstrdup(uri);
    v->nconn = nconn ? nconn : 1;
    v->ev = *ev;
    v->opaque = opaque;
    v->busy = xcalloc(v->nconn, sizeof(*v->busy));
    if (uv_mutex_init(&v->lock) != 0 || uv_mutex_init(&v->wake_lock) != 0)
        abort();
    atomic_init(&v->refs, 1);
    uv_timer_init(loop, &v->retry);
    v->retry.data = v;
    uv_async_init(loop, &v->wake, virt_on_wake);
    v->wake.data = v;
    v->wake_open = true;
    v->handles = 2;
    virt_connect(v);
    return v;
}

bool
virt_connected(const struct virt *v)
{
    return v->connected;
}

static void
virt_on_handle_closed(uv_handle_t *h)
{
    struct virt *v = h->data;
    void (*done)(void *) = v->stop_done;
    void *opaque = v->stop_opaque;

    if (--v->handles > 0)
        return;
    virt_unref(v);
    if (done)
        done(opaque);
}

/* Once stopping and no job of ours is left, close the handles. A close
 * callback libvirt still holds (see struct virt_connset) no longer wakes
 * the loop, and v's memory goes with the last connset. */
static void
virt_maybe_finish(struct virt *v)
{
    if (!v->stopping || v->jobs > 0 || uv_is_closing((uv_handle_t *) &v->wake))
        return;
    uv_mutex_lock(&v->wake_lock);
    v->wake_open = false;
    uv_mutex_unlock(&v->wake_lock);
    uv_close((uv_handle_t *) &v->retry, virt_on_handle_closed);
    uv_close((uv_handle_t *) &v->wake, virt_on_handle_closed);
}

void
virt_stop(struct virt *v, void (*done)(void *opaque), void *opaque)
{
    struct virt_connset *set;

    assert(virt_on_loop_thread(v) && !v->stopping);
    v->stopping = true;
    v->stop_done = done;
    v->stop_opaque = opaque;
    uv_timer_stop(&v->retry);
    set = virt_uninstall(v);
    if (set)
        virt_submit_teardown(v, set);
    virt_maybe_finish(v);
}

#ifdef UNITTESTS
/* Tests: behave as if libvirt had reported the live connections closed. */
void virt_testing_lose(struct virt *v);
unsigned virt_testing_attempts(const struct virt *v);

void
virt_testing_lose(struct virt *v)
{
    uv_mutex_lock(&v->lock);
    if (v->cur)
        virt_on_close(v->cur->conns[0], VIR_CONNECT_CLOSE_REASON_CLIENT, v->cur);
    uv_mutex_unlock(&v->lock);
}

/* Tests: failed connect attempts so far. */
unsigned
virt_testing_attempts(const struct virt *v)
{
    return v->attempts;
}
#endif
