/* systemd's notify protocol from the loop (SPEC section 8): READY=1 once
 * the first full reconcile has run, STATUS= with counts when they change,
 * WATCHDOG=1 at half of WatchdogSec from a loop timer (a stuck loop stops
 * the pings), RELOADING=1 around SIGHUP, STOPPING=1 on the way out.
 * Without NOTIFY_SOCKET every call does nothing. */
#ifndef VMIRS_SDNOTIFY_H
#define VMIRS_SDNOTIFY_H

#include <stdbool.h>
#include <uv.h>

struct sdnotify;

/* Polled once a second: whether the daemon is ready, and its status. */
typedef bool (*sdnotify_ready_fn)(void *opaque);
typedef void (*sdnotify_status_fn)(void *opaque, char *buf, size_t size);

struct sdnotify *sdnotify_start(uv_loop_t *loop, sdnotify_ready_fn ready, sdnotify_status_fn status,
                                void *opaque);

/* RELOADING=1; READY=1 follows with sdnotify_reloaded. */
void sdnotify_reloading(struct sdnotify *n);
void sdnotify_reloaded(struct sdnotify *n);

/* STOPPING=1, then close the timers; n is freed in their close callbacks. */
void sdnotify_stop(struct sdnotify *n);

#endif
