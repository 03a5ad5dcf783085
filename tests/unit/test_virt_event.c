/* libvirt's event hooks on libuv: fd watches, timeouts, calls from other
 * threads, and lifecycle events from the test driver, in-process and
 * through libvirtd.
 *
 * libvirt accepts one event implementation per process, so the first
 * virt_event_register serves the whole program; each test still gets a
 * fresh uv_loop_t, because after virt_event_shutdown the bridge can be
 * registered again on a new loop. Every test's teardown proves that the
 * test left nothing registered, that every ff ran, and that
 * uv_loop_close() succeeds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include "err.h"
#include "util.h"
#include "virt_event.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <uv.h>

/* Visible with -DUNITTESTS (virt_event.c). */
unsigned long virt_event_calls(const char *hook, bool off_loop);
void virt_event_counts(size_t *watches, size_t *timers, size_t *fds, size_t *pending);

#define DEADLINE_MS 5000

static uv_loop_t *loop;
static uv_thread_t loop_tid;
static uv_timer_t deadline;
static bool deadline_hit;

static void
on_deadline(uv_timer_t *t)
{
    deadline_hit = true;
}

static void
deadline_arm(unsigned ms)
{
    deadline_hit = false;
    uv_update_time(loop);
    uv_timer_start(&deadline, on_deadline, ms, 0);
}

/* Run the loop until cond holds or ms pass; the value is cond. The armed
 * deadline timer keeps the loop alive, so UV_RUN_ONCE blocks in the poll
 * until something happens instead of spinning, and no fixed sleep is
 * needed anywhere. */
#define run_loop_until(cond, ms)                                                                   \
    ({                                                                                             \
        deadline_arm(ms);                                                                          \
        while (!(cond) && !deadline_hit)                                                           \
            uv_run(loop, UV_RUN_ONCE);                                                             \
        uv_timer_stop(&deadline);                                                                  \
        (cond);                                                                                    \
    })

/* Exactly n loop iterations, none of them blocking: enough for any fd
 * that is ready, or any 0 ms timeout, to be dispatched. */
static void
spin(int n)
{
    deadline_arm(DEADLINE_MS);
    while (n-- > 0)
        uv_run(loop, UV_RUN_NOWAIT);
    uv_timer_stop(&deadline);
}

static size_t
pending_frees(void)
{
    size_t w, t, f, p;

    virt_event_counts(&w, &t, &f, &p);
    return p;
}

static bool
on_loop_thread(void)
{
    uv_thread_t self = uv_thread_self();

    return uv_thread_equal(&self, &loop_tid);
}

static void
quiet_errors(void *opaque, virErrorPtr e)
{
}

static int
group_setup(void **state)
{
    virSetErrorFunc(NULL, quiet_errors);
    return 0;
}

static int
loop_setup(void **state)
{
    struct vmirs_err *err = NULL;

    loop = malloc(sizeof(*loop));
    if (!loop || uv_loop_init(loop) != 0)
        return -1;
    loop_tid = uv_thread_self();
    if (virt_event_register(loop, &err) < 0) {
        print_error("%s\n", err->msg);
        err_free(&err);
        return -1;
    }
    uv_timer_init(loop, &deadline);
    return 0;
}

static int
loop_teardown(void **state)
{
    size_t w, t, f, p;
    int rc = 0;

    /* Removed records have their ff run within a loop turn or two. */
    (void) run_loop_until(pending_frees() == 0, DEADLINE_MS);
    virt_event_counts(&w, &t, &f, &p);
    if (w || t || f || p) {
        print_error("left behind: %zu watches, %zu timers, %zu fds, %zu pending frees\n", w, t, f,
                    p);
        rc = -1;
    }
    uv_close((uv_handle_t *) &deadline, NULL);
    virt_event_shutdown();
    virt_event_shutdown(); /* harmless twice */
    uv_run(loop, UV_RUN_DEFAULT);
    if (uv_loop_close(loop) != 0) {
        print_error("uv_loop_close: the loop still has handles\n");
        rc = -1;
    }
    free(loop);
    loop = NULL;
    return rc;
}

/* What a watch or timer callback saw. */
struct rec {
    int calls;
    int id;
    int fd;
    int events; /* of the last call */
    int seen;   /* all events seen */
    int ff_calls;
    bool wrong_thread;
    /* Ids to remove from inside the callback (0: none), and whether
     * they are timers. */
    int remove[2];
    bool remove_timers;
};

static void
rec_remove(struct rec *r)
{
    for (size_t i = 0; i < ARRAY_SIZE(r->remove); i++) {
        if (!r->remove[i])
            continue;
        if (r->remove_timers)
            assert_int_equal(virEventRemoveTimeout(r->remove[i]), 0);
        else
            assert_int_equal(virEventRemoveHandle(r->remove[i]), 0);
        r->remove[i] = 0;
    }
}

static void
handle_cb(int watch, int fd, int events, void *opaque)
{
    struct rec *r = opaque;

    r->calls++;
    r->id = watch;
    r->fd = fd;
    r->events = events;
    r->seen |= events;
    r->wrong_thread |= !on_loop_thread();
    rec_remove(r);
}

static void
timer_cb(int timer, void *opaque)
{
    struct rec *r = opaque;

    r->calls++;
    r->id = timer;
    r->wrong_thread |= !on_loop_thread();
    rec_remove(r);
}

static void
rec_ff(void *opaque)
{
    struct rec *r = opaque;

    r->ff_calls++;
    r->wrong_thread |= !on_loop_thread();
}

static void
make_pipe(int p[2])
{
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
}

static void
test_register_twice(void **state)
{
    struct vmirs_err *err = NULL;
    uv_loop_t other;

    assert_int_equal(uv_loop_init(&other), 0);
    assert_int_equal(virt_event_register(&other, &err), -1);
    assert_string_equal(err->msg, "register libvirt event loop: already running on a loop");
    err_free(&err);
    assert_int_equal(uv_loop_close(&other), 0);
}

static void
test_handle_readable(void **state)
{
    struct rec r = {0};
    int p[2], id;

    make_pipe(p);
    id = virEventAddHandle(p[0], VIR_EVENT_HANDLE_READABLE, handle_cb, &r, rec_ff);
    assert_true(id > 0);
    spin(5);
    assert_int_equal(r.calls, 0); /* nothing to read yet */

    assert_int_equal(write(p[1], "x", 1), 1);
    assert_true(run_loop_until(r.calls > 0, DEADLINE_MS));
    assert_int_equal(r.id, id);
    assert_int_equal(r.fd, p[0]);
    assert_int_equal(r.events, VIR_EVENT_HANDLE_READABLE);
    assert_false(r.wrong_thread);

    assert_int_equal(virEventRemoveHandle(id), 0);
    assert_true(run_loop_until(r.ff_calls == 1, DEADLINE_MS));
    close(p[0]);
    close(p[1]);
}

static void
test_handle_update_to_zero_and_back(void **state)
{
    struct rec r = {0};
    size_t w, t, f, p;
    int fds[2], id, before;

    make_pipe(fds);
    id = virEventAddHandle(fds[0], VIR_EVENT_HANDLE_READABLE, handle_cb, &r, rec_ff);
    /* The byte is never read, so a live watch fires on every iteration. */
    assert_int_equal(write(fds[1], "x", 1), 1);
    assert_true(run_loop_until(r.calls > 0, DEADLINE_MS));

    virEventUpdateHandle(id, 0);
    before = r.calls;
    spin(20);
    assert_int_equal(r.calls, before);
    virt_event_counts(&w, &t, &f, &p);
    assert_int_equal(w, 1);
    assert_int_equal(f, 1);

    virEventUpdateHandle(id, VIR_EVENT_HANDLE_READABLE);
    assert_true(run_loop_until(r.calls > before, DEADLINE_MS));
    assert_int_equal(r.events, VIR_EVENT_HANDLE_READABLE);

    assert_int_equal(virEventRemoveHandle(id), 0);
    assert_true(run_loop_until(r.ff_calls == 1, DEADLINE_MS));
    assert_int_equal(r.ff_calls, 1);
    close(fds[0]);
    close(fds[1]);
}

static void
test_two_watches_same_fd(void **state)
{
    struct rec rd = {0}, wr = {0};
    size_t w, t, f, p;
    int sv[2], ida, idb, wr_calls;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ida = virEventAddHandle(sv[0], VIR_EVENT_HANDLE_READABLE, handle_cb, &rd, rec_ff);
    idb = virEventAddHandle(sv[0], VIR_EVENT_HANDLE_WRITABLE, handle_cb, &wr, rec_ff);
    assert_true(ida > 0 && idb > ida);
    /* One poll handle serves both: libuv forbids two on one fd. */
    virt_event_counts(&w, &t, &f, &p);
    assert_int_equal(w, 2);
    assert_int_equal(f, 1);

    /* An empty socket is writable, not readable. */
    assert_true(run_loop_until(wr.calls > 0, DEADLINE_MS));
    assert_int_equal(wr.seen, VIR_EVENT_HANDLE_WRITABLE);
    assert_int_equal(wr.id, idb);
    assert_int_equal(rd.calls, 0);

    virEventUpdateHandle(idb, 0);
    wr_calls = wr.calls;
    assert_int_equal(write(sv[1], "x", 1), 1);
    assert_true(run_loop_until(rd.calls > 0, DEADLINE_MS));
    assert_int_equal(rd.seen, VIR_EVENT_HANDLE_READABLE);
    assert_int_equal(rd.id, ida);
    assert_int_equal(wr.calls, wr_calls);

    /* Both directions at once, each watch told only its own. */
    virEventUpdateHandle(idb, VIR_EVENT_HANDLE_WRITABLE);
    rd.calls = wr.calls = 0;
    assert_true(run_loop_until(rd.calls > 0 && wr.calls > 0, DEADLINE_MS));
    assert_int_equal(rd.seen, VIR_EVENT_HANDLE_READABLE);
    assert_int_equal(wr.seen, VIR_EVENT_HANDLE_WRITABLE);

    assert_int_equal(virEventRemoveHandle(idb), 0);
    assert_int_equal(virEventRemoveHandle(ida), 0);
    assert_true(run_loop_until(rd.ff_calls == 1 && wr.ff_calls == 1, DEADLINE_MS));
    close(sv[0]);
    close(sv[1]);
}

static void
test_remove_defers_ff(void **state)
{
    struct rec r = {0};
    int p[2], id, id2;

    make_pipe(p);
    id = virEventAddHandle(p[0], VIR_EVENT_HANDLE_READABLE, handle_cb, &r, rec_ff);
    assert_int_equal(write(p[1], "x", 1), 1);

    assert_int_equal(virEventRemoveHandle(id), 0);
    assert_int_equal(r.ff_calls, 0); /* never inside remove */
    assert_int_equal(virEventRemoveHandle(id), -1);
    virEventUpdateHandle(id, VIR_EVENT_HANDLE_READABLE); /* ignored */

    /* The next loop turn runs it, once, and the data still pending in
     * the pipe never reaches the removed watch. */
    uv_run(loop, UV_RUN_NOWAIT);
    assert_int_equal(r.ff_calls, 1);
    spin(5);
    assert_int_equal(r.ff_calls, 1);
    assert_int_equal(r.calls, 0);
    assert_false(r.wrong_thread);

    /* Ids are never reused. */
    id2 = virEventAddHandle(p[0], VIR_EVENT_HANDLE_READABLE, handle_cb, &r, rec_ff);
    assert_true(id2 > id);
    assert_true(run_loop_until(r.calls > 0, DEADLINE_MS));
    assert_int_equal(r.id, id2);
    assert_int_equal(virEventRemoveHandle(id2), 0);
    assert_true(run_loop_until(r.ff_calls == 2, DEADLINE_MS));
    close(p[0]);
    close(p[1]);
}

static void
test_remove_in_own_callback(void **state)
{
    struct rec a = {0}, b = {0};
    int p[2], ida, idb;

    make_pipe(p);
    ida = virEventAddHandle(p[0], VIR_EVENT_HANDLE_READABLE, handle_cb, &a, rec_ff);
    idb = virEventAddHandle(p[0], VIR_EVENT_HANDLE_READABLE, handle_cb, &b, rec_ff);
    /* a's callback removes itself and b, which is next in the same
     * dispatch: b must not be called, and neither ff may run inside. */
    a.remove[0] = ida;
    a.remove[1] = idb;
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_true(run_loop_until(a.calls > 0, DEADLINE_MS));
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 0);

    assert_true(run_loop_until(a.ff_calls == 1 && b.ff_calls == 1, DEADLINE_MS));
    spin(5);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 0);
    assert_int_equal(a.ff_calls, 1);
    assert_int_equal(b.ff_calls, 1);
    close(p[0]);
    close(p[1]);
}

static void
test_timeout_zero_and_disabled(void **state)
{
    struct rec z = {0}, off = {0};
    int tz, toff, before;

    tz = virEventAddTimeout(0, timer_cb, &z, rec_ff);
    toff = virEventAddTimeout(-1, timer_cb, &off, rec_ff);
    assert_true(tz > 0 && toff > tz);
    /* No fd exists at all: every iteration fires the 0 ms timeout once. */
    for (int i = 1; i <= 10; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        assert_int_equal(z.calls, i);
    }
    /* UV_RUN_ONCE does not block on it either. */
    assert_true(run_loop_until(z.calls >= 50, DEADLINE_MS));
    assert_int_equal(z.id, tz);
    assert_int_equal(off.calls, 0);

    /* -1 stops it but keeps the record; 0 starts the other one. */
    virEventUpdateTimeout(tz, -1);
    virEventUpdateTimeout(toff, 0);
    before = z.calls;
    assert_true(run_loop_until(off.calls >= 5, DEADLINE_MS));
    assert_int_equal(z.calls, before);
    virEventUpdateTimeout(tz, 0);
    assert_true(run_loop_until(z.calls > before, DEADLINE_MS));

    assert_int_equal(virEventRemoveTimeout(tz), 0);
    assert_int_equal(virEventRemoveTimeout(toff), 0);
    assert_int_equal(virEventRemoveTimeout(toff), -1);
    assert_int_equal(z.ff_calls + off.ff_calls, 0);
    assert_true(run_loop_until(z.ff_calls == 1 && off.ff_calls == 1, DEADLINE_MS));
    assert_false(z.wrong_thread || off.wrong_thread);
}

static void
test_timeout_repeats(void **state)
{
    struct rec r = {0};
    uint64_t start, elapsed_ms;
    int id;

    uv_update_time(loop);
    start = uv_hrtime();
    id = virEventAddTimeout(50, timer_cb, &r, rec_ff);
    assert_true(run_loop_until(r.calls >= 3, DEADLINE_MS));
    elapsed_ms = (uv_hrtime() - start) / 1000000;
    /* Three periods of 50 ms, less libuv's millisecond rounding. */
    assert_true(elapsed_ms >= 140);
    assert_int_equal(r.id, id);

    assert_int_equal(virEventRemoveTimeout(id), 0);
    assert_true(run_loop_until(r.ff_calls == 1, DEADLINE_MS));
}

static void
test_remove_timeout_in_callback(void **state)
{
    struct rec z = {0}, t = {0};
    int idz, idt;

    idz = virEventAddTimeout(0, timer_cb, &z, rec_ff);
    idt = virEventAddTimeout(10, timer_cb, &t, rec_ff);
    z.remove[0] = idz;
    t.remove[0] = idt;
    z.remove_timers = t.remove_timers = true;
    assert_true(run_loop_until(z.ff_calls == 1 && t.ff_calls == 1, DEADLINE_MS));
    spin(5);
    assert_int_equal(z.calls, 1);
    assert_int_equal(t.calls, 1);
    assert_int_equal(z.ff_calls, 1);
    assert_int_equal(t.ff_calls, 1);
}

static void
test_hangup_and_error(void **state)
{
    struct rec rd = {0}, wr = {0};
    int p[2], q[2], idr, idw;

    /* The write end closed with nothing left to read: epoll reports
     * EPOLLHUP alone, which libuv turns into UV_READABLE|UV_DISCONNECT,
     * so libvirt sees READABLE|HANGUP (read() gives EOF). */
    make_pipe(p);
    idr = virEventAddHandle(p[0], VIR_EVENT_HANDLE_READABLE, handle_cb, &rd, rec_ff);
    close(p[1]);
    assert_true(run_loop_until(rd.calls > 0, DEADLINE_MS));
    assert_int_equal(rd.events, VIR_EVENT_HANDLE_READABLE | VIR_EVENT_HANDLE_HANGUP);

    /* The read end closed: a write end reports EPOLLERR, which libuv
     * delivers as status UV_EBADF after stopping the handle: ERROR. */
    make_pipe(q);
    close(q[0]);
    idw = virEventAddHandle(q[1], VIR_EVENT_HANDLE_WRITABLE, handle_cb, &wr, rec_ff);
    assert_true(run_loop_until(wr.calls > 0, DEADLINE_MS));
    assert_int_equal(wr.events, VIR_EVENT_HANDLE_ERROR);

    assert_int_equal(virEventRemoveHandle(idr), 0);
    assert_int_equal(virEventRemoveHandle(idw), 0);
    assert_true(run_loop_until(rd.ff_calls == 1 && wr.ff_calls == 1, DEADLINE_MS));
    close(p[0]);
    close(q[1]);
}

/* Shutdown closes every handle even while libvirt still holds records,
 * so uv_loop_close succeeds; the records follow to the next loop. */
static void
test_shutdown_with_live_records(void **state)
{
    struct rec z = {0}, r = {0};
    int p[2], idz, idr, zb, rb;

    make_pipe(p);
    idz = virEventAddTimeout(0, timer_cb, &z, rec_ff);
    idr = virEventAddHandle(p[0], VIR_EVENT_HANDLE_READABLE, handle_cb, &r, rec_ff);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_true(run_loop_until(z.calls > 0 && r.calls > 0, DEADLINE_MS));

    uv_close((uv_handle_t *) &deadline, NULL);
    virt_event_shutdown();
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(loop), 0);
    free(loop);
    assert_int_equal(z.ff_calls + r.ff_calls, 0);

    assert_int_equal(loop_setup(state), 0); /* a fresh loop */
    zb = z.calls;
    rb = r.calls;
    assert_true(run_loop_until(z.calls > zb && r.calls > rb, DEADLINE_MS));
    assert_int_equal(virEventRemoveTimeout(idz), 0);
    assert_int_equal(virEventRemoveHandle(idr), 0);
    assert_true(run_loop_until(z.ff_calls == 1 && r.ff_calls == 1, DEADLINE_MS));
    close(p[0]);
    close(p[1]);
}

struct xthread {
    int watch;
    struct rec *timer_rec;
    int timer; /* set by the thread, read after join */
    int remove_rc;
    int close_fds[2];
    int done; /* atomic */
};

static void
xthread_update_and_add(void *arg)
{
    struct xthread *x = arg;

    virEventUpdateHandle(x->watch, VIR_EVENT_HANDLE_READABLE);
    x->timer = virEventAddTimeout(10, timer_cb, x->timer_rec, rec_ff);
    __atomic_store_n(&x->done, 1, __ATOMIC_RELEASE);
}

static void
test_cross_thread_update_and_add_timeout(void **state)
{
    struct rec r = {0}, t = {0};
    struct xthread x = {.timer_rec = &t};
    unsigned long upd0 = virt_event_calls("update_handle", true);
    unsigned long add0 = virt_event_calls("add_timeout", true);
    uv_thread_t th;
    int p[2];

    make_pipe(p);
    x.watch = virEventAddHandle(p[0], 0, handle_cb, &r, rec_ff);
    assert_int_equal(write(p[1], "x", 1), 1);
    spin(5);
    assert_int_equal(r.calls, 0);

    /* The loop sleeps in epoll_wait until the thread's uv_async_send
     * wakes it; without that wake-up this would run into the deadline. */
    assert_int_equal(uv_thread_create(&th, xthread_update_and_add, &x), 0);
    assert_true(run_loop_until(r.calls > 0 && t.calls > 0, DEADLINE_MS));
    assert_int_equal(uv_thread_join(&th), 0);
    assert_int_equal(r.events, VIR_EVENT_HANDLE_READABLE);
    assert_int_equal(t.id, x.timer);
    assert_false(r.wrong_thread || t.wrong_thread);
    assert_int_equal(virt_event_calls("update_handle", true), upd0 + 1);
    assert_int_equal(virt_event_calls("add_timeout", true), add0 + 1);

    assert_int_equal(virEventRemoveHandle(x.watch), 0);
    assert_int_equal(virEventRemoveTimeout(x.timer), 0);
    assert_true(run_loop_until(r.ff_calls == 1 && t.ff_calls == 1, DEADLINE_MS));
    close(p[0]);
    close(p[1]);
}

static void
xthread_remove_and_close(void *arg)
{
    struct xthread *x = arg;

    x->remove_rc = virEventRemoveHandle(x->watch);
    close(x->close_fds[0]);
    close(x->close_fds[1]);
    __atomic_store_n(&x->done, 1, __ATOMIC_RELEASE);
}

/* The order STYLE §3.1 worries about: another thread removes a watch and
 * closes its fd before the loop thread has stopped polling it. */
static void
test_cross_thread_remove_then_close(void **state)
{
    struct rec r = {0}, r2 = {0};
    struct xthread x = {0};
    uv_thread_t th;
    int p[2], id2;

    make_pipe(x.close_fds);
    x.watch = virEventAddHandle(x.close_fds[0], VIR_EVENT_HANDLE_READABLE, handle_cb, &r, rec_ff);
    spin(2); /* the fd is now in epoll */

    assert_int_equal(uv_thread_create(&th, xthread_remove_and_close, &x), 0);
    assert_true(
        run_loop_until(__atomic_load_n(&x.done, __ATOMIC_ACQUIRE) && r.ff_calls == 1, DEADLINE_MS));
    assert_int_equal(uv_thread_join(&th), 0);
    assert_int_equal(x.remove_rc, 0);
    assert_int_equal(r.calls, 0);

    /* The fd number comes back at once; a watch on it works. */
    make_pipe(p);
    id2 = virEventAddHandle(p[0], VIR_EVENT_HANDLE_READABLE, handle_cb, &r2, rec_ff);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_true(run_loop_until(r2.calls > 0, DEADLINE_MS));
    assert_int_equal(r2.fd, p[0]);
    assert_int_equal(virEventRemoveHandle(id2), 0);
    assert_true(run_loop_until(r2.ff_calls == 1, DEADLINE_MS));
    assert_int_equal(r.calls, 0);
    close(p[0]);
    close(p[1]);
}

/* Lifecycle events of one domain (other clients of a shared libvirtd may
 * be creating domains of their own at the same time). */
struct lifecycle {
    const char *name;
    int started;
    int stopped;
    int started_detail;
    int stopped_detail;
    bool wrong_thread;
};

static int
on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
    struct lifecycle *lc = opaque;

    if (strcmp(virDomainGetName(dom), lc->name) != 0)
        return 0;
    lc->wrong_thread |= !on_loop_thread();
    if (event == VIR_DOMAIN_EVENT_STARTED) {
        lc->started++;
        lc->started_detail = detail;
    } else if (event == VIR_DOMAIN_EVENT_STOPPED) {
        lc->stopped++;
        lc->stopped_detail = detail;
    }
    return 0;
}

static bool
bridge_empty(void)
{
    size_t w, t, f, p;

    virt_event_counts(&w, &t, &f, &p);
    return w + t + f + p == 0;
}

static void
test_test_driver_lifecycle(void **state)
{
    static const char xml[] = "<domain type='test'><name>ev</name><memory>1024</memory>"
                              "<os><type>hvm</type></os></domain>";
    struct lifecycle lc = {.name = "ev"};
    virConnectPtr conn;
    virDomainPtr dom;
    int cbid;

    conn = virConnectOpen("test:///default");
    assert_non_null(conn);
    cbid = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                            VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), &lc, NULL);
    assert_true(cbid >= 0);

    dom = virDomainCreateXML(conn, xml, 0);
    if (!dom)
        fail_msg("create domain `ev`: %s", virGetLastErrorMessage());
    /* The driver queues the event and arms a 0 ms timeout; only the loop
     * delivers it. */
    assert_int_equal(lc.started, 0);
    assert_true(run_loop_until(lc.started == 1, DEADLINE_MS));
    assert_int_equal(lc.started_detail, VIR_DOMAIN_EVENT_STARTED_BOOTED);

    assert_int_equal(virDomainDestroy(dom), 0);
    assert_true(run_loop_until(lc.stopped == 1, DEADLINE_MS));
    assert_int_equal(lc.stopped_detail, VIR_DOMAIN_EVENT_STOPPED_DESTROYED);
    assert_false(lc.wrong_thread);
    virDomainFree(dom);

    assert_int_equal(virConnectDomainEventDeregisterAny(conn, cbid), 0);
    assert_int_equal(virConnectClose(conn), 0);
    /* libvirt's event timer goes with its ff (a virObjectUnref) on a
     * later loop turn: "not safe to stop running the event loop
     * immediately after closing the connection". */
    assert_true(run_loop_until(bridge_empty(), DEADLINE_MS));
}

#define REMOTE_URI "test+unix:///default"

static const char *const hooks[] = {
    "add_handle",  "update_handle",  "remove_handle",
    "add_timeout", "update_timeout", "remove_timeout",
};

/* One blocking libvirt call on a threadpool thread, counting the hook
 * calls made off the loop thread while it ran. Nothing else in this
 * process calls libvirt off the loop thread, so they are this worker's. */
enum remote_op { REMOTE_OPEN, REMOTE_CREATE, REMOTE_DESTROY, REMOTE_CLOSE };

struct remote_work {
    uv_work_t req;
    enum remote_op op;
    virConnectPtr conn;
    const char *xml;
    virDomainPtr dom;
    int rc;
    char *errmsg;
    unsigned long off_loop[ARRAY_SIZE(hooks)]; /* calls by the worker */
    unsigned long on_loop0[ARRAY_SIZE(hooks)];
    bool worker_is_loop;
    bool done;
};

static void
remote_work(uv_work_t *req)
{
    struct remote_work *rw = req->data;
    unsigned long before[ARRAY_SIZE(hooks)];
    size_t i;

    rw->worker_is_loop = on_loop_thread();
    for (i = 0; i < ARRAY_SIZE(hooks); i++)
        before[i] = virt_event_calls(hooks[i], true);
    switch (rw->op) {
    case REMOTE_OPEN:
        rw->conn = virConnectOpen(REMOTE_URI);
        rw->rc = rw->conn ? 0 : -1;
        break;
    case REMOTE_CREATE:
        rw->dom = virDomainCreateXML(rw->conn, rw->xml, 0);
        rw->rc = rw->dom ? 0 : -1;
        break;
    case REMOTE_DESTROY:
        rw->rc = virDomainDestroy(rw->dom);
        break;
    case REMOTE_CLOSE:
        rw->rc = virConnectClose(rw->conn);
        break;
    }
    /* libvirt's last error is per thread: copy it here. */
    if (rw->rc < 0)
        rw->errmsg = strdup(virGetLastErrorMessage());
    for (i = 0; i < ARRAY_SIZE(hooks); i++)
        rw->off_loop[i] = virt_event_calls(hooks[i], true) - before[i];
}

static void
remote_after_work(uv_work_t *req, int status)
{
    struct remote_work *rw = req->data;

    rw->done = true;
}

static void
remote_queue(struct remote_work *rw, enum remote_op op)
{
    size_t i;

    rw->req.data = rw;
    rw->op = op;
    for (i = 0; i < ARRAY_SIZE(hooks); i++)
        rw->on_loop0[i] = virt_event_calls(hooks[i], false);
    assert_int_equal(uv_queue_work(loop, &rw->req, remote_work, remote_after_work), 0);
}

/* Print the calls made by the worker, and by the loop thread since the
 * work was queued. */
static void
remote_report(const char *what, const struct remote_work *rw)
{
    size_t i;

    print_message("[ calls    ] %-7s in a worker (worker/loop):", what);
    for (i = 0; i < ARRAY_SIZE(hooks); i++)
        print_message(" %s %lu/%lu", hooks[i], rw->off_loop[i],
                      virt_event_calls(hooks[i], false) - rw->on_loop0[i]);
    print_message("\n");
    assert_false(rw->worker_is_loop);
}

enum { ADD_HANDLE, UPDATE_HANDLE, REMOVE_HANDLE, ADD_TIMEOUT, UPDATE_TIMEOUT, REMOVE_TIMEOUT };

static void
test_remote_calls_from_worker(void **state)
{
    struct lifecycle lc = {0};
    struct remote_work open = {0}, create = {0}, destroy = {0}, close = {0};
    char name[64], xml[256];
    int cbid;

    if (system("virsh -c " REMOTE_URI " version >/dev/null 2>&1") != 0) {
        print_message("[ SKIPPED  ] `virsh -c " REMOTE_URI " version` fails: libvirtd is not "
                      "reachable (start it with `virtlogd -d; libvirtd -d`)\n");
        skip();
    }
    snprintf(name, sizeof(name), "ev-%ld", (long) getpid());
    snprintf(xml, sizeof(xml),
             "<domain type='test'><name>%s</name><memory>1024</memory>"
             "<os><type>hvm</type></os></domain>",
             name);
    lc.name = name;

    /* Opened from a worker, as virt.c does: the socket's watch and the
     * keepalive timer are added off the loop thread. */
    remote_queue(&open, REMOTE_OPEN);
    assert_true(run_loop_until(open.done, DEADLINE_MS));
    if (open.rc < 0)
        fail_msg("open %s: %s", REMOTE_URI, open.errmsg);
    remote_report("open", &open);
    assert_true(open.off_loop[ADD_HANDLE] >= 1);

    /* Quick calls stay on the loop thread (STYLE §3.1). */
    cbid = virConnectDomainEventRegisterAny(open.conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                            VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), &lc, NULL);
    assert_true(cbid >= 0);

    create.conn = open.conn;
    create.xml = xml;
    remote_queue(&create, REMOTE_CREATE);
    assert_true(run_loop_until(create.done && lc.started == 1, DEADLINE_MS));
    if (create.rc < 0)
        fail_msg("create domain `%s`: %s", name, create.errmsg);
    assert_false(lc.wrong_thread);
    remote_report("create", &create);
    /* The worker takes over the connection's socket while its call runs
     * ("buck passing"): it sets the loop's watch to 0 and back. It never
     * adds or removes a watch during the call. */
    assert_true(create.off_loop[UPDATE_HANDLE] >= 2);
    assert_int_equal(create.off_loop[ADD_HANDLE] + create.off_loop[REMOVE_HANDLE], 0);
    assert_int_equal(create.off_loop[ADD_TIMEOUT] + create.off_loop[REMOVE_TIMEOUT], 0);

    destroy.dom = create.dom;
    remote_queue(&destroy, REMOTE_DESTROY);
    assert_true(run_loop_until(destroy.done && lc.stopped == 1, DEADLINE_MS));
    if (destroy.rc < 0)
        fail_msg("destroy domain `%s`: %s", name, destroy.errmsg);
    assert_int_equal(lc.stopped_detail, VIR_DOMAIN_EVENT_STOPPED_DESTROYED);
    assert_false(lc.wrong_thread);
    remote_report("destroy", &destroy);
    assert_true(destroy.off_loop[UPDATE_HANDLE] >= 2);
    assert_int_equal(destroy.off_loop[ADD_HANDLE] + destroy.off_loop[REMOVE_HANDLE], 0);

    virDomainFree(create.dom);
    assert_int_equal(virConnectDomainEventDeregisterAny(open.conn, cbid), 0);

    /* Closed from a worker: the socket's watch is removed off the loop
     * thread; its ff (which closes the socket) runs later on the loop. */
    close.conn = open.conn;
    remote_queue(&close, REMOTE_CLOSE);
    assert_true(run_loop_until(close.done && bridge_empty(), DEADLINE_MS));
    assert_int_equal(close.rc, 0);
    remote_report("close", &close);
    assert_true(close.off_loop[REMOVE_HANDLE] >= 1);
}

#define LOOP_TEST(f) cmocka_unit_test_setup_teardown(f, loop_setup, loop_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        LOOP_TEST(test_register_twice),
        LOOP_TEST(test_handle_readable),
        LOOP_TEST(test_handle_update_to_zero_and_back),
        LOOP_TEST(test_two_watches_same_fd),
        LOOP_TEST(test_remove_defers_ff),
        LOOP_TEST(test_remove_in_own_callback),
        LOOP_TEST(test_timeout_zero_and_disabled),
        LOOP_TEST(test_timeout_repeats),
        LOOP_TEST(test_remove_timeout_in_callback),
        LOOP_TEST(test_hangup_and_error),
        LOOP_TEST(test_shutdown_with_live_records),
        LOOP_TEST(test_cross_thread_update_and_add_timeout),
        LOOP_TEST(test_cross_thread_remove_then_close),
        LOOP_TEST(test_test_driver_lifecycle),
        LOOP_TEST(test_remote_calls_from_worker),
    };

    return cmocka_run_group_tests(tests, group_setup, NULL);
}
