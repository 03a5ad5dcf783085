#include "config.h"

#define LOG_COMPONENT "vmirsd"

#include "daemon.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "controller.h"
#include "looplag.h"
#include "materialize.h"
#include "sdnotify.h"
#include "spool.h"
#include "store.h"
#include "util.h"
#include "virt.h"
#include "virt_event.h"
#include "workq.h"

#include "log.h"

/* A write burst or an editor's save-and-rename settles within this. */
#define SPOOL_DEBOUNCE_MS 50
/* With log_level = debug, the loop's lag is measured this often. */
#define LOOPLAG_PERIOD_MS 20

struct daemon {
    uv_loop_t loop;
    struct vmirs_conf *conf;
    const char *conf_path;
    bool conf_given;
    struct workq *q;
    struct virt *v;
    struct controller *c;
    struct store *store;
    struct sdnotify *notify;
    struct spool *spool;
    struct looplag *lag; /* debug only */
    uv_signal_t sighup, sigterm, sigint;
    uv_timer_t rescan;
    bool stopping;
    int exit_code;
};

static void
on_changed(void *opaque, const char *path, const char *bytes, size_t len)
{
    struct daemon *d = opaque;

    controller_file_changed(d->c, path, bytes, len);
}

static void
on_removed(void *opaque, const char *path)
{
    struct daemon *d = opaque;

    controller_file_removed(d->c, path);
}

static void
on_settled(void *opaque)
{
    struct daemon *d = opaque;

    controller_files_settled(d->c);
}

static const struct spool_ops spool_ops = {on_changed, on_removed, on_settled};

static void
on_lifecycle(void *opaque, const char *name, int event, int detail)
{
    struct daemon *d = opaque;

    if (d->c)
        controller_lifecycle(d->c, name, event, detail);
}

static void
on_connected(void *opaque)
{
    struct daemon *d = opaque;

    if (d->c)
        controller_connected(d->c);
}

static void
on_disconnected(void *opaque, const char *why)
{
    struct daemon *d = opaque;

    if (d->c)
        controller_disconnected(d->c, why);
}

static const struct virt_events virt_events = {on_lifecycle, on_connected, on_disconnected};

/* SIGHUP: read the configuration again and rescan the spool. Settings
 * that shape running objects (directories, the URI, the pool sizes) are
 * read at start only; say so instead of half-applying them. */
static void
on_sighup(uv_signal_t *h, int signum)
{
    struct daemon *d = h->data;
    struct vmirs_conf fresh;
    struct diag_list diags = {0};

    log_info("SIGHUP: reloading %s and rescanning %s", d->conf_path, d->conf->spool_dir);
    if (conf_load(&fresh, d->conf_path, !d->conf_given, &diags) < 0) {
        for (size_t i = 0; i < diags.n; i++) {
            cleanup_free char *line = diag_format(&diags.v[i]);

            log_error("%s", line);
        }
        log_error("configuration not reloaded: keeping the one in force");
    } else {
        if (fresh.log_level != d->conf->log_level) {
            d->conf->log_level = fresh.log_level;
            log_set_level(fresh.log_level);
        }
        if (strcmp(fresh.spool_dir, d->conf->spool_dir) ||
            strcmp(fresh.state_dir, d->conf->state_dir) ||
            strcmp(fresh.image_dir, d->conf->image_dir) ||
            strcmp(fresh.claim_dir, d->conf->claim_dir) ||
            strcmp(fresh.libvirt_uri, d->conf->libvirt_uri) ||
            fresh.max_parallel != d->conf->max_parallel ||
            fresh.domain_type != d->conf->domain_type || strcmp(fresh.network, d->conf->network) ||
            fresh.host_port_min != d->conf->host_port_min ||
            fresh.host_port_max != d->conf->host_port_max ||
            fresh.resync_interval != d->conf->resync_interval)
            log_warn("changed directories, libvirt_uri, domain_type, network, host_port_range, "
                     "max_parallel or resync_interval take effect when vmirsd restarts");
    }
    conf_free(&fresh);
    diag_list_clear(&diags);
    sdnotify_reloading(d->notify);
    spool_rescan(d->spool);
    sdnotify_reloaded(d->notify);
}

static void
on_handle_closed(uv_handle_t *h)
{
}

/* A safety net like the controller's resync: libuv drops inotify's queue
 * overflow silently, so a change could otherwise go unseen until the next
 * event. */
static void
on_rescan(uv_timer_t *t)
{
    struct daemon *d = t->data;

    if (d->spool)
        spool_rescan(d->spool);
}

static void
on_virt_stopped(void *opaque)
{
    struct daemon *d = opaque;

    d->v = NULL;
    sdnotify_stop(d->notify);
    d->notify = NULL;
    uv_close((uv_handle_t *) &d->sighup, on_handle_closed);
    uv_close((uv_handle_t *) &d->sigterm, on_handle_closed);
    uv_close((uv_handle_t *) &d->sigint, on_handle_closed);
    uv_close((uv_handle_t *) &d->rescan, on_handle_closed);
    looplag_stop(d->lag);
    d->lag = NULL;
}

static bool
notify_ready(void *opaque)
{
    struct daemon *d = opaque;

    return d->c && controller_synced(d->c);
}

/* STATUS=: what systemctl status shows under the unit's name. */
static void
notify_status(void *opaque, char *buf, size_t size)
{
    struct daemon *d = opaque;
    size_t sets = 0, running = 0;

    if (d->c)
        controller_counts(d->c, &sets, &running);
    snprintf(buf, size, "%zu replica set%s, %zu replica%s running", sets, sets == 1 ? "" : "s",
             running, running == 1 ? "" : "s");
}

static void
on_controller_stopped(void *opaque)
{
    struct daemon *d = opaque;

    virt_stop(d->v, on_virt_stopped, d);
}

/* SIGTERM, SIGINT: stop acting and leave every replica running; the next
 * start adopts them. */
static void
on_stop_signal(uv_signal_t *h, int signum)
{
    struct daemon *d = h->data;

    if (d->stopping)
        return;
    d->stopping = true;
    d->exit_code = 0;
    log_info("%s: stopping; replicas keep running", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    spool_stop(d->spool);
    d->spool = NULL;
    controller_stop(d->c, on_controller_stopped, d);
}

int
daemon_run(struct vmirs_conf *conf, const char *conf_path, bool conf_given)
{
    struct daemon d = {.conf = conf, .conf_path = conf_path, .conf_given = conf_given};
    struct vmirs_err *err = NULL;
    cleanup_free char *pool = NULL;
    const char *type;
    unsigned nconn;
    int rc = 1;

    /* glibc gives every thread that mallocs its own arena, and the
     * threadpool's threads each pinned one after a burst. One arena is
     * enough for a daemon whose threads mostly wait on libvirt: it saved
     * about 0.15 MiB of idle RSS and did not slow the 200-replica burst
     * (doc/performance.md). */
    mallopt(M_ARENA_MAX, 1);
    /* Enough threads that max_parallel calls never wait for one; libuv
     * reads this once, at its first use of the threadpool. */
    if (!getenv("UV_THREADPOOL_SIZE")) {
        pool =
            xasprintf("%u", workq_threadpool_size(conf->max_parallel + CONTROLLER_PROBE_PARALLEL));
        setenv("UV_THREADPOOL_SIZE", pool, 1);
    }
    if (mkdir_parents(conf->state_dir, 0755, NULL) < 0) {
        log_error("create state directory `%s`: %s", conf->state_dir, strerror(errno));
        return 1;
    }
    {
        cleanup_free char *db = xasprintf("%s/vmirsd.db", conf->state_dir);

        if (store_open(db, false, &d.store, &err) < 0) {
            log_error("%s", err->msg);
            err_free(&err);
            return 1;
        }
    }
    uv_loop_init(&d.loop);
    if (virt_event_register(&d.loop, &err) < 0) {
        log_error("%s", err->msg);
        err_free(&err);
        goto out;
    }
    d.q = workq_new(&d.loop, conf->max_parallel);
    type = materialize_domain_type(conf);
    log_info("vmirsd %s: spool %s, libvirt %s, domain type %s, max_parallel %u", PACKAGE_VERSION,
             conf->spool_dir, conf->libvirt_uri, type, conf->max_parallel);
    /* libvirtd serves 5 calls at once per connection: enough connections
     * that max_parallel calls run without queueing in libvirtd. */
    nconn = (conf->max_parallel + CONTROLLER_PROBE_PARALLEL + 4) / 5;
    d.v = virt_start(&d.loop, d.q, conf->libvirt_uri, nconn, &virt_events, &d);
    d.c = controller_new(&d.loop, conf, type, d.v, &virt_libvirt_ops, d.q, d.store);
    d.notify = sdnotify_start(&d.loop, notify_ready, notify_status, &d);
    uv_signal_init(&d.loop, &d.sighup);
    uv_signal_init(&d.loop, &d.sigterm);
    uv_signal_init(&d.loop, &d.sigint);
    d.sighup.data = d.sigterm.data = d.sigint.data = &d;
    uv_signal_start(&d.sighup, on_sighup, SIGHUP);
    uv_signal_start(&d.sigterm, on_stop_signal, SIGTERM);
    uv_signal_start(&d.sigint, on_stop_signal, SIGINT);
    if (log_enabled(LOG_LEVEL_DEBUG))
        d.lag = looplag_start(&d.loop, LOOPLAG_PERIOD_MS);
    uv_timer_init(&d.loop, &d.rescan);
    d.rescan.data = &d;
    uv_timer_start(&d.rescan, on_rescan, (uint64_t) conf->resync_interval * 1000,
                   (uint64_t) conf->resync_interval * 1000);
    if (spool_start(&d.loop, conf->spool_dir, SPOOL_DEBOUNCE_MS, &spool_ops, &d, &d.spool, &err) <
        0) {
        /* A start-up error is fatal (doc/error-handling.md). */
        log_error("%s", err->msg);
        err_free(&err);
        d.exit_code = 1;
        d.stopping = true;
        controller_stop(d.c, on_controller_stopped, &d);
    }

    uv_run(&d.loop, UV_RUN_DEFAULT);
    rc = d.exit_code;

    controller_free(d.c);
    workq_free(d.q);
    virt_event_shutdown();
    uv_run(&d.loop, UV_RUN_DEFAULT);
out:
    if (uv_loop_close(&d.loop) != 0)
        log_debug("the loop still had handles at exit");
    store_close(d.store);
    return rc;
}
