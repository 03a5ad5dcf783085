/* libvirt's event loop hooks on libuv (STYLE §3.1).
 *
 * Which threads call the hooks while a uv_queue_work thread makes an RPC
 * (STYLE §4)? Measured by test_virt_event's remote test on
 * test+unix:///default, libvirt 9.0.0 and libuv 1.44.2 on Debian 12, in 40
 * runs and under valgrind and TSan; calls by the worker / by the loop:
 *
 *   virConnectOpen      add_handle 1/0, update_handle 10/0
 *   virDomainCreateXML  update_handle 2/1, update_timeout 0/2 (28 runs)
 *                       update_handle 2/0, update_timeout 1/1 (12 runs)
 *   virDomainDestroy    the same two patterns (37 and 3 runs)
 *   virConnectClose     update_handle 2/0, remove_handle 1/0
 *
 * So the worker calls updateHandle on every RPC: the calling thread takes
 * the socket over ("buck passing") by setting the loop's watch to 0, and
 * sets it back to READABLE when its reply is in. removeHandle is never
 * called during an RPC; it comes from whichever thread closes the
 * connection. The 0 ms timer that delivers a lifecycle event is armed by
 * whichever thread reads the event off the socket (the worker, if the event
 * arrives while it holds the socket) and is always disarmed by the loop,
 * which is also the only thread that ran event callbacks. No timer was added
 * or removed off the loop thread. The socket itself is closed by the watch's
 * ff, on the loop thread after its EPOLL_CTL_DEL (seen with strace), never
 * by the thread that removed the watch: so a remove from another thread is
 * safe for libvirt's sockets, and the fallback of a dedicated libvirt event
 * thread is not needed.
 *
 * The design follows from three facts. libvirt calls the six hooks from
 * whichever thread is making an API call, not only from the loop thread.
 * libuv handles may only be touched on the loop thread; uv_async_send is the
 * one call that is safe from anywhere. And libvirt may close an fd as soon as
 * removeHandle returns, while libuv requires that an fd is no longer polled
 * when it is closed. So every hook records the change under one mutex and
 * marks it dirty; on the loop thread the change is applied at once
 * (reconciled), elsewhere a uv_async_send wakes the loop to apply it.
 * The lock is never held while libvirt code runs, because libvirt re-enters
 * the hooks from its callbacks and from its free functions. */
#include "config.h"

#include "virt_event.h"

#define LOG_COMPONENT "virt_event"
#include "err.h"
#include "log.h"
#include "util.h"

#include <assert.h>
#include <limits.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The poll handle of one fd. It lives apart from the ve_fd so that the
 * record can go as soon as nobody watches the fd, while the handle waits
 * for its close callback, which frees it. */
struct ve_poll {
    uv_poll_t h;
    struct ve_fd *vfd; /* NULL once closing */
    int mask;          /* the UV_* events it was started with, 0 if stopped */
};

/* One per polled fd: libuv forbids two active poll handles on one fd, but
 * libvirt may watch the same fd twice with different events. */
struct ve_fd {
    struct ve_fd *next;
    int fd;
    unsigned nlive; /* live watches on it; 0 means close the poll handle */
    bool dirty;
    struct ve_poll *box; /* loop thread only */
};

struct ve_watch {
    struct ve_watch *next;
    int id;
    int events; /* VIR_EVENT_HANDLE_*, as libvirt last set them */
    struct ve_fd *vfd;
    virEventHandleCallback cb;
    void *opaque;
    virFreeCallback ff;
    bool removed;
};

/* A timer's handles, freed by the last of their two close callbacks. */
struct ve_tbox {
    uv_timer_t timer;   /* interval > 0 */
    uv_idle_t idle;     /* interval == 0 */
    struct ve_timer *t; /* NULL once closing */
    int nopen;
};

struct ve_timer {
    struct ve_timer *next;
    int id;
    int interval; /* ms; -1 disabled, 0 every loop iteration */
    virEventTimeoutCallback cb;
    void *opaque;
    virFreeCallback ff;
    bool removed;
    bool dirty;
    struct ve_tbox *box; /* loop thread only */
};

enum ve_hook {
    VE_ADD_HANDLE,
    VE_UPDATE_HANDLE,
    VE_REMOVE_HANDLE,
    VE_ADD_TIMEOUT,
    VE_UPDATE_TIMEOUT,
    VE_REMOVE_TIMEOUT,
    VE_NHOOKS
};

/* The lists are searched linearly: libvirt keeps a few watches and timers
 * per connection, so a hash table would cost more than it saves. */
static struct ve_impl {
    uv_loop_t *loop; /* NULL before register and after shutdown */
    uv_thread_t loop_tid;
    uv_mutex_t lock;
    bool lock_ready;
    bool registered; /* libvirt has our hooks; that cannot be undone */
    uv_async_t kick;
    uv_idle_t drain;
    int next_watch;
    int next_timer;
    struct ve_fd *fds;
    struct ve_watch *watches;
    struct ve_timer *timers;
    /* Removed records whose ff has not run yet. */
    struct ve_watch *grave_watches;
    struct ve_timer *grave_timers;
    unsigned nclosing;                 /* handles whose close callback is pending; loop thread */
    unsigned long calls[VE_NHOOKS][2]; /* [hook][on another thread] */
} ve = {.next_watch = 1, .next_timer = 1};

static void on_poll(uv_poll_t *h, int status, int uvev);
static void on_timer(uv_timer_t *h);
static void on_idle(uv_idle_t *h);
static void on_drain(uv_idle_t *h);

static bool
ve_on_loop_locked(void)
{
    uv_thread_t self = uv_thread_self();

    return ve.loop && uv_thread_equal(&self, &ve.loop_tid);
}

static void
ve_count_locked(enum ve_hook hook)
{
    ve.calls[hook][ve_on_loop_locked() ? 0 : 1]++;
}

static void
on_poll_closed(uv_handle_t *h)
{
    ve.nclosing--;
    free(h->data);
}

static void
ve_poll_close(struct ve_poll *box)
{
    box->vfd = NULL;
    ve.nclosing++;
    uv_close((uv_handle_t *) &box->h, on_poll_closed);
}

static void
on_tbox_closed(uv_handle_t *h)
{
    struct ve_tbox *box = h->data;

    ve.nclosing--;
    if (--box->nopen == 0)
        free(box);
}

static void
ve_tbox_close(struct ve_tbox *box)
{
    box->t = NULL;
    box->nopen = 2;
    ve.nclosing += 2;
    uv_close((uv_handle_t *) &box->timer, on_tbox_closed);
    uv_close((uv_handle_t *) &box->idle, on_tbox_closed);
}

/* Start, change or stop the poll handle of vfd to the union of its live
 * watches' events. UV_DISCONNECT is always asked for, so that a peer's
 * shutdown reaches libvirt as HANGUP even while it only wants to write. */
static void
ve_fd_apply_locked(struct ve_fd *vfd)
{
    struct ve_poll *box = vfd->box;
    struct ve_watch *w;
    int events = 0, mask = 0, r;

    vfd->dirty = false;
    for (w = ve.watches; w; w = w->next)
        if (w->vfd == vfd)
            events |= w->events;
    if (events & VIR_EVENT_HANDLE_READABLE)
        mask |= UV_READABLE;
    if (events & VIR_EVENT_HANDLE_WRITABLE)
        mask |= UV_WRITABLE;
    if (!mask) {
        if (box && box->mask) {
            uv_poll_stop(&box->h);
            box->mask = 0;
        }
        return;
    }
    mask |= UV_DISCONNECT;
    if (!box) {
        box = xcalloc(1, sizeof(*box));
        /* This fails for fds epoll cannot watch (regular files) or that are
         * already closed. libvirt only watches sockets and pipes it keeps
         * open until ff has run, so the watch is left silent and logged
         * rather than reported: no caller is there to take the error. */
        r = uv_poll_init(ve.loop, &box->h, vfd->fd);
        if (r < 0) {
            log_warn("poll fd %d: %s", vfd->fd, uv_strerror(r));
            free(box);
            return;
        }
        box->h.data = box;
        box->vfd = vfd;
        vfd->box = box;
    }
    if (box->mask == mask)
        return;
    r = uv_poll_start(&box->h, mask, on_poll);
    if (r < 0) {
        log_warn("poll fd %d: %s", vfd->fd, uv_strerror(r));
        return;
    }
    box->mask = mask;
}

static void
ve_timer_apply_locked(struct ve_timer *t)
{
    struct ve_tbox *box = t->box;

    t->dirty = false;
    if (t->interval < 0) {
        if (box) {
            uv_timer_stop(&box->timer);
            uv_idle_stop(&box->idle);
        }
        return;
    }
    if (!box) {
        box = xcalloc(1, sizeof(*box));
        uv_timer_init(ve.loop, &box->timer);
        uv_idle_init(ve.loop, &box->idle);
        box->timer.data = box->idle.data = box;
        box->t = t;
        t->box = box;
    }
    if (t->interval == 0) {
        /* "Fire on every iteration": an active idle handle also makes the
         * loop poll with a zero timeout, so the callback runs on the next
         * iteration even when no fd is ready (a uv_check_t would wait for
         * unrelated I/O). */
        uv_timer_stop(&box->timer);
        uv_idle_start(&box->idle, on_idle);
    } else {
        /* Restarted even when the interval is unchanged: libvirt's own
         * loops count an updated timeout from the time of the update. */
        uv_idle_stop(&box->idle);
        uv_timer_start(&box->timer, on_timer, (uint64_t) t->interval, (uint64_t) t->interval);
    }
}

/* Make the uv handles match the records. The loop thread is the only place
 * uv handles are touched, and this is where it touches them; the lock is
 * held because the records may be changing on other threads, and it is safe
 * to hold because no libuv call made here calls back synchronously. */
static void
ve_reconcile_locked(void)
{
    struct ve_fd **pp, *vfd;
    struct ve_timer *t;

    if (!ve.loop)
        return; /* shut down: a later register applies everything */
    assert(ve_on_loop_locked());
    /* Close the poll handles of unwatched fds before starting new ones: the
     * fd number may already be back in a new ve_fd (removed, then added
     * again), and libuv refuses a second poll handle on an fd (UV_EEXIST)
     * while the first is still started. */
    for (pp = &ve.fds; (vfd = *pp);) {
        if (vfd->nlive > 0) {
            pp = &vfd->next;
            continue;
        }
        *pp = vfd->next;
        if (vfd->box)
            ve_poll_close(vfd->box);
        free(vfd);
    }
    for (vfd = ve.fds; vfd; vfd = vfd->next)
        if (vfd->dirty)
            ve_fd_apply_locked(vfd);
    for (t = ve.grave_timers; t; t = t->next) {
        if (t->box) {
            ve_tbox_close(t->box);
            t->box = NULL;
        }
    }
    for (t = ve.timers; t; t = t->next)
        if (t->dirty)
            ve_timer_apply_locked(t);
    if (ve.grave_watches || ve.grave_timers)
        uv_idle_start(&ve.drain, on_drain);
}

/* Apply a change now on the loop thread, or wake the loop to apply it. The
 * synchronous path matters for removal: libvirt may close the fd as soon as
 * removeHandle returns, and libuv says an fd "can be safely closed
 * immediately after a call to uv_poll_stop", not before. From another
 * thread the poll handle cannot be stopped in time; libvirt copes because
 * it keeps such an fd open until ff has run (virNetSocket holds a reference
 * in opaque), and ff only runs after the loop thread has reconciled. */
static void
ve_kick_locked(void)
{
    if (!ve.loop)
        return;
    if (ve_on_loop_locked())
        ve_reconcile_locked();
    else
        uv_async_send(&ve.kick); /* coalesced; the reconcile drains all */
}

static void
on_kick(uv_async_t *h)
{
    uv_mutex_lock(&ve.lock);
    ve_reconcile_locked();
    uv_mutex_unlock(&ve.lock);
}

/* Run ff for every removed record and free it. This runs from an idle
 * callback (or from shutdown), never inside removeHandle/removeTimeout,
 * whose documentation warns that calling ff there "will likely deadlock":
 * ff typically drops a libvirt object reference, and libvirt calls remove
 * with its own locks held. The lock is not held while ff runs, since ff may
 * call back into the hooks. Reconciling first guarantees that no handle can
 * dispatch to these records any more. */
static void
ve_drain(void)
{
    struct ve_watch *gw, *w;
    struct ve_timer *gt, *t;

    for (;;) {
        uv_mutex_lock(&ve.lock);
        ve_reconcile_locked();
        gw = steal_ptr(&ve.grave_watches);
        gt = steal_ptr(&ve.grave_timers);
        if (ve.loop)
            uv_idle_stop(&ve.drain);
        uv_mutex_unlock(&ve.lock);
        if (!gw && !gt)
            return;
        while ((w = gw)) {
            gw = w->next;
            if (w->ff)
                w->ff(w->opaque);
            free(w);
        }
        while ((t = gt)) {
            gt = t->next;
            if (t->ff)
                t->ff(t->opaque);
            free(t);
        }
    }
}

static void
on_drain(uv_idle_t *h)
{
    ve_drain();
}

/* Dispatch one poll result to the watches of its fd. The watches are
 * snapshotted under the lock and called without it: a callback may update
 * or remove any watch, including its own, or add new ones (which wait for
 * the next poll). Before each call the watch is checked again, under the
 * lock, because an earlier callback or another thread may have removed it.
 * Reading the events there too keeps the loop off a socket that a worker
 * has just taken over (watch set to 0) before the loop has reconciled.
 * The records in the snapshot stay allocated: only ve_drain frees them,
 * and it runs on this thread but never from within a callback. */
static void
on_poll(uv_poll_t *h, int status, int uvev)
{
    struct ve_poll *box = h->data;
    struct ve_watch *small[8], **snap = small, *w;
    size_t n = 0, i;
    int vev = 0, fd;

    if (status < 0) {
        /* libuv has stopped the handle itself (POLLERR); a later change of
         * the watches starts it again. */
        box->mask = 0;
        vev = VIR_EVENT_HANDLE_ERROR;
    } else {
        if (uvev & UV_READABLE)
            vev |= VIR_EVENT_HANDLE_READABLE;
        if (uvev & UV_WRITABLE)
            vev |= VIR_EVENT_HANDLE_WRITABLE;
        if (uvev & UV_DISCONNECT)
            vev |= VIR_EVENT_HANDLE_HANGUP;
    }

    uv_mutex_lock(&ve.lock);
    if (!box->vfd) {
        uv_mutex_unlock(&ve.lock);
        return;
    }
    fd = box->vfd->fd;
    for (w = ve.watches; w; w = w->next)
        if (w->vfd == box->vfd)
            n++;
    if (n > ARRAY_SIZE(small))
        snap = xmalloc(n * sizeof(*snap));
    n = 0;
    for (w = ve.watches; w; w = w->next)
        if (w->vfd == box->vfd)
            snap[n++] = w;
    uv_mutex_unlock(&ve.lock);

    for (i = 0; i < n; i++) {
        virEventHandleCallback cb;
        void *opaque;
        int id, events, ev;
        bool removed;

        uv_mutex_lock(&ve.lock);
        w = snap[i];
        removed = w->removed;
        events = w->events;
        id = w->id;
        cb = w->cb;
        opaque = w->opaque;
        uv_mutex_unlock(&ve.lock);
        /* A watch updated to 0 gets nothing, not even HANGUP or ERROR, as
         * with libvirt's poll loop, which leaves such an fd out of poll(). */
        if (removed || !(events & (VIR_EVENT_HANDLE_READABLE | VIR_EVENT_HANDLE_WRITABLE)))
            continue;
        ev = vev & (events | VIR_EVENT_HANDLE_ERROR | VIR_EVENT_HANDLE_HANGUP);
        if (ev)
            cb(id, fd, ev, opaque);
    }
    if (snap != small)
        free(snap);
}

/* Fire t's callback if it is still live and still wants this kind of
 * firing: an update from another thread may not have been applied yet. */
static void
ve_timer_fire(struct ve_tbox *box, bool every_iteration)
{
    struct ve_timer *t;
    virEventTimeoutCallback cb;
    void *opaque;
    int id;

    uv_mutex_lock(&ve.lock);
    t = box->t;
    if (!t || t->removed || (t->interval == 0) != every_iteration || t->interval < 0) {
        uv_mutex_unlock(&ve.lock);
        return;
    }
    id = t->id;
    cb = t->cb;
    opaque = t->opaque;
    uv_mutex_unlock(&ve.lock);
    cb(id, opaque);
}

static void
on_timer(uv_timer_t *h)
{
    ve_timer_fire(h->data, false);
}

static void
on_idle(uv_idle_t *h)
{
    ve_timer_fire(h->data, true);
}

static struct ve_watch *
ve_watch_find_locked(int id)
{
    struct ve_watch *w;

    for (w = ve.watches; w; w = w->next)
        if (w->id == id)
            return w;
    return NULL;
}

static struct ve_timer *
ve_timer_find_locked(int id)
{
    struct ve_timer *t;

    for (t = ve.timers; t; t = t->next)
        if (t->id == id)
            return t;
    return NULL;
}

static int
ve_add_handle(int fd, int events, virEventHandleCallback cb, void *opaque, virFreeCallback ff)
{
    struct ve_watch *w, **pp;
    struct ve_fd *vfd;
    int id;

    uv_mutex_lock(&ve.lock);
    ve_count_locked(VE_ADD_HANDLE);
    /* Ids are never reused, so that a stale id held by libvirt can never
     * reach a newer watch; running out takes 2^31 additions. */
    if (fd < 0 || ve.next_watch == INT_MAX) {
        uv_mutex_unlock(&ve.lock);
        log_warn("add watch on fd %d: refused", fd);
        return -1;
    }
    /* An fd whose last watch was removed but not yet reconciled gets a new
     * ve_fd: the old one's poll handle may be watching a closed file. */
    for (vfd = ve.fds; vfd; vfd = vfd->next)
        if (vfd->fd == fd && vfd->nlive > 0)
            break;
    if (!vfd) {
        vfd = xcalloc(1, sizeof(*vfd));
        vfd->fd = fd;
        vfd->next = ve.fds;
        ve.fds = vfd;
    }
    vfd->nlive++;
    vfd->dirty = true;
    w = xcalloc(1, sizeof(*w));
    w->id = id = ve.next_watch++;
    w->events = events;
    w->vfd = vfd;
    w->cb = cb;
    w->opaque = opaque;
    w->ff = ff;
    /* Appended, so that watches on one fd are called in the order they
     * were added, as libvirt's poll loop does. */
    for (pp = &ve.watches; *pp; pp = &(*pp)->next)
        ;
    *pp = w;
    ve_kick_locked();
    uv_mutex_unlock(&ve.lock);
    return id;
}

static void
ve_update_handle(int id, int events)
{
    struct ve_watch *w;

    uv_mutex_lock(&ve.lock);
    ve_count_locked(VE_UPDATE_HANDLE);
    /* Unknown or removed ids are ignored, as vireventglib does. */
    w = ve_watch_find_locked(id);
    if (w && w->events != events) {
        w->events = events;
        w->vfd->dirty = true;
        ve_kick_locked();
    }
    uv_mutex_unlock(&ve.lock);
}

static int
ve_remove_handle(int id)
{
    struct ve_watch **pp, *w;

    uv_mutex_lock(&ve.lock);
    ve_count_locked(VE_REMOVE_HANDLE);
    for (pp = &ve.watches; (w = *pp); pp = &w->next)
        if (w->id == id)
            break;
    if (!w) {
        uv_mutex_unlock(&ve.lock);
        return -1;
    }
    *pp = w->next;
    w->removed = true;
    w->events = 0;
    w->vfd->nlive--;
    w->vfd->dirty = true;
    w->vfd = NULL;
    w->next = ve.grave_watches;
    ve.grave_watches = w;
    if (!ve.loop)
        log_warn("remove watch %d after shutdown: its free callback waits for a loop", id);
    ve_kick_locked();
    uv_mutex_unlock(&ve.lock);
    return 0;
}

static int
ve_add_timeout(int interval, virEventTimeoutCallback cb, void *opaque, virFreeCallback ff)
{
    struct ve_timer *t, **pp;
    int id;

    uv_mutex_lock(&ve.lock);
    ve_count_locked(VE_ADD_TIMEOUT);
    if (ve.next_timer == INT_MAX) {
        uv_mutex_unlock(&ve.lock);
        log_warn("add timer: out of ids");
        return -1;
    }
    t = xcalloc(1, sizeof(*t));
    t->id = id = ve.next_timer++;
    t->interval = interval < 0 ? -1 : interval;
    t->cb = cb;
    t->opaque = opaque;
    t->ff = ff;
    t->dirty = true;
    for (pp = &ve.timers; *pp; pp = &(*pp)->next)
        ;
    *pp = t;
    ve_kick_locked();
    uv_mutex_unlock(&ve.lock);
    return id;
}

static void
ve_update_timeout(int id, int interval)
{
    struct ve_timer *t;

    uv_mutex_lock(&ve.lock);
    ve_count_locked(VE_UPDATE_TIMEOUT);
    t = ve_timer_find_locked(id);
    if (t) {
        t->interval = interval < 0 ? -1 : interval;
        t->dirty = true;
        ve_kick_locked();
    }
    uv_mutex_unlock(&ve.lock);
}

static int
ve_remove_timeout(int id)
{
    struct ve_timer **pp, *t;

    uv_mutex_lock(&ve.lock);
    ve_count_locked(VE_REMOVE_TIMEOUT);
    for (pp = &ve.timers; (t = *pp); pp = &t->next)
        if (t->id == id)
            break;
    if (!t) {
        uv_mutex_unlock(&ve.lock);
        return -1;
    }
    *pp = t->next;
    t->removed = true;
    t->next = ve.grave_timers;
    ve.grave_timers = t;
    if (!ve.loop)
        log_warn("remove timer %d after shutdown: its free callback waits for a loop", id);
    ve_kick_locked();
    uv_mutex_unlock(&ve.lock);
    return 0;
}

static void
ve_probe_cb(int timer, void *opaque)
{
}

int
virt_event_register(uv_loop_t *loop, struct vmirs_err **err)
{
    int probe, r;

    if (ve.loop)
        return err_set(err, 0, "register libvirt event loop: already running on a loop");
    if (ve.nclosing)
        return err_set(err, 0,
                       "register libvirt event loop: %u handles of the previous loop are "
                       "still closing",
                       ve.nclosing);
    if (!ve.registered) {
        if (virInitialize() < 0)
            return err_set(err, 0, "register libvirt event loop: initialise libvirt: %s",
                           virGetLastErrorMessage());
        /* virEventRegisterImpl ignores a second implementation with only a
         * log line, so ask: a disabled timer can be added only if some
         * implementation is registered already. */
        probe = virEventAddTimeout(-1, ve_probe_cb, NULL, NULL);
        if (probe >= 0) {
            virEventRemoveTimeout(probe);
            return err_set(err, 0,
                           "register libvirt event loop: libvirt already has an event loop "
                           "implementation");
        }
        if (!ve.lock_ready) {
            r = uv_mutex_init(&ve.lock);
            if (r < 0)
                return err_set(err, -r, "register libvirt event loop: create lock");
            ve.lock_ready = true;
        }
    }
    r = uv_async_init(loop, &ve.kick, on_kick);
    if (r < 0)
        return err_set(err, -r, "register libvirt event loop: create wake-up handle");
    /* Neither of the bridge's own handles keeps uv_run going on its own:
     * libvirt's polls and timers do that while a connection is open. The
     * drain idle is referenced only while it is started, that is while an
     * ff is pending, so uv_run does not return before libvirt's deferred
     * frees have run. */
    uv_unref((uv_handle_t *) &ve.kick);
    uv_idle_init(loop, &ve.drain);

    uv_mutex_lock(&ve.lock);
    ve.loop = loop;
    ve.loop_tid = uv_thread_self();
    /* Records left from a previous loop get their handles on this one. */
    ve_reconcile_locked();
    uv_mutex_unlock(&ve.lock);

    if (!ve.registered) {
        virEventRegisterImpl(ve_add_handle, ve_update_handle, ve_remove_handle, ve_add_timeout,
                             ve_update_timeout, ve_remove_timeout);
        ve.registered = true;
    }
    return 0;
}

static void
on_own_closed(uv_handle_t *h)
{
    ve.nclosing--;
}

void
virt_event_shutdown(void)
{
    struct ve_fd *vfd;
    struct ve_watch *w;
    struct ve_timer *t;
    size_t nwatches = 0, ntimers = 0;

    if (!ve.loop)
        return;
    /* Pending ffs run now, while the loop can still apply what they do. */
    ve_drain();

    uv_mutex_lock(&ve.lock);
    assert(ve_on_loop_locked());
    /* Records that libvirt still holds stay, dirty, without handles: a
     * later register recreates the handles on its loop. */
    for (vfd = ve.fds; vfd; vfd = vfd->next) {
        if (vfd->box) {
            ve_poll_close(vfd->box);
            vfd->box = NULL;
        }
        vfd->dirty = true;
    }
    for (t = ve.timers; t; t = t->next) {
        if (t->box) {
            ve_tbox_close(t->box);
            t->box = NULL;
        }
        t->dirty = true;
        ntimers++;
    }
    for (w = ve.watches; w; w = w->next)
        nwatches++;
    /* From here on other threads no longer uv_async_send to the handle
     * being closed: they see no loop under the same lock. */
    ve.loop = NULL;
    uv_mutex_unlock(&ve.lock);

    ve.nclosing += 2;
    uv_close((uv_handle_t *) &ve.kick, on_own_closed);
    uv_close((uv_handle_t *) &ve.drain, on_own_closed);
    if (nwatches || ntimers)
        log_debug("%zu watches and %zu timers stay registered by libvirt without a loop", nwatches,
                  ntimers);
}

#ifdef UNITTESTS
/* Test-only views of the bridge, declared again by test_virt_event.c. */
static const char *const ve_hook_names[VE_NHOOKS] = {
    "add_handle",  "update_handle",  "remove_handle",
    "add_timeout", "update_timeout", "remove_timeout",
};

unsigned long virt_event_calls(const char *hook, bool off_loop);
void virt_event_counts(size_t *watches, size_t *timers, size_t *fds, size_t *pending);

/* How often hook ran on the loop thread, or on any other thread. */
unsigned long
virt_event_calls(const char *hook, bool off_loop)
{
    unsigned long n = 0;
    size_t i;

    uv_mutex_lock(&ve.lock);
    for (i = 0; i < VE_NHOOKS; i++)
        if (strcmp(hook, ve_hook_names[i]) == 0)
            n = ve.calls[i][off_loop ? 1 : 0];
    uv_mutex_unlock(&ve.lock);
    return n;
}

/* Live watches, live timers, tracked fds, and removed records whose ff
 * has not run yet. */
void
virt_event_counts(size_t *watches, size_t *timers, size_t *fds, size_t *pending)
{
    struct ve_watch *w;
    struct ve_timer *t;
    struct ve_fd *vfd;

    *watches = *timers = *fds = *pending = 0;
    uv_mutex_lock(&ve.lock);
    for (w = ve.watches; w; w = w->next)
        (*watches)++;
    for (t = ve.timers; t; t = t->next)
        (*timers)++;
    for (vfd = ve.fds; vfd; vfd = vfd->next)
        (*fds)++;
    for (w = ve.grave_watches; w; w = w->next)
        (*pending)++;
    for (t = ve.grave_timers; t; t = t->next)
        (*pending)++;
    uv_mutex_unlock(&ve.lock);
}
#endif
