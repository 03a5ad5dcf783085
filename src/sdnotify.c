#include "config.h"

#define LOG_COMPONENT "sdnotify"

#include "sdnotify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "util.h"

/* How often readiness and the status line are looked at. Until READY=1
 * is sent, readiness is looked at more often: `systemctl start` waits for
 * it, and the first full reconcile takes tens of milliseconds. */
#define SDNOTIFY_POLL_MS 1000
#define SDNOTIFY_READY_POLL_MS 10

struct sdnotify {
    uv_timer_t poll, watchdog;
    int open_handles;
    sdnotify_ready_fn ready;
    sdnotify_status_fn status;
    void *opaque;
    bool sent_ready;
    char last_status[256];
};

static void
notify(const char *state)
{
    int rc = sd_notify(0, state);

    if (rc < 0)
        log_warn("notify systemd (%s): %s", state, strerror(-rc));
}

static void
on_poll(uv_timer_t *t)
{
    struct sdnotify *n = t->data;
    char status[sizeof(n->last_status)], msg[sizeof(status) + 32];

    if (!n->sent_ready && !n->ready(n->opaque))
        return;
    n->status(n->opaque, status, sizeof(status));
    if (!n->sent_ready) {
        snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status);
        notify(msg);
        n->sent_ready = true;
        uv_timer_start(&n->poll, on_poll, SDNOTIFY_POLL_MS, SDNOTIFY_POLL_MS);
    } else if (strcmp(status, n->last_status) != 0) {
        snprintf(msg, sizeof(msg), "STATUS=%s", status);
        notify(msg);
    }
    snprintf(n->last_status, sizeof(n->last_status), "%s", status);
}

static void
on_watchdog(uv_timer_t *t)
{
    notify("WATCHDOG=1");
}

struct sdnotify *
sdnotify_start(uv_loop_t *loop, sdnotify_ready_fn ready, sdnotify_status_fn status, void *opaque)
{
    struct sdnotify *n = xcalloc(1, sizeof(*n));
    uint64_t usec = 0;

    n->ready = ready;
    n->status = status;
    n->opaque = opaque;
    uv_timer_init(loop, &n->poll);
    uv_timer_init(loop, &n->watchdog);
    n->poll.data = n->watchdog.data = n;
    if (!getenv("NOTIFY_SOCKET"))
        return n; /* not under systemd: nothing to say */
    uv_timer_start(&n->poll, on_poll, 0, SDNOTIFY_READY_POLL_MS);
    /* sd_watchdog_enabled checks WATCHDOG_PID against our pid. */
    if (sd_watchdog_enabled(0, &usec) > 0 && usec >= 2000) {
        log_info("systemd watchdog every %llu ms", (unsigned long long) (usec / 2000));
        on_watchdog(&n->watchdog);
        uv_timer_start(&n->watchdog, on_watchdog, usec / 2000, usec / 2000);
    }
    return n;
}

void
sdnotify_reloading(struct sdnotify *n)
{
    if (n && getenv("NOTIFY_SOCKET"))
        notify("RELOADING=1");
}

void
sdnotify_reloaded(struct sdnotify *n)
{
    if (n && n->sent_ready)
        notify("READY=1");
}

static void
on_closed(uv_handle_t *h)
{
    struct sdnotify *n = h->data;

    if (--n->open_handles == 0)
        free(n);
}

void
sdnotify_stop(struct sdnotify *n)
{
    if (!n)
        return;
    if (getenv("NOTIFY_SOCKET"))
        notify("STOPPING=1");
    n->open_handles = 2;
    uv_close((uv_handle_t *) &n->poll, on_closed);
    uv_close((uv_handle_t *) &n->watchdog, on_closed);
}
