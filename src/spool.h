/* The spool directory: watches it (inotify through libuv), debounces bursts
 * of events into one scan, and reports which manifest files appeared,
 * changed or went away. Knows nothing about YAML. Called on the loop
 * thread only; each scan's reads and hashes run on a libuv worker thread. */
#ifndef VMIRS_SPOOL_H
#define VMIRS_SPOOL_H

#include <stddef.h>
#include <uv.h>

#include "err.h"

struct spool;

/* Within one scan: removed() calls first, then changed() calls, each group
 * by file name (strcmp), then settled(), which ends every scan, even one
 * that found nothing. paths are dir "/" name. While the directory itself
 * is gone nothing is reported; once it is back, what differs is. */
struct spool_ops {
    /* A manifest file appeared or its content changed (bytes are NUL-terminated, borrowed for the
     * call). */
    void (*changed)(void *opaque, const char *path, const char *bytes, size_t len);
    /* A manifest file is gone (deleted, renamed away, or no longer passes the name filter). */
    void (*removed)(void *opaque, const char *path);
    /* A scan finished: every changed/removed call of this scan has been made (lets the caller act
     * once per burst). */
    void (*settled)(void *opaque);
};

/* Watch dir on loop; scan it once now (reporting every file as changed), then again debounce_ms
 * after the last inotify event. */
int spool_start(uv_loop_t *loop, const char *dir, unsigned debounce_ms, const struct spool_ops *ops,
                void *opaque, struct spool **out, struct vmirs_err **err);

/* Scan now (SIGHUP): report what differs from the last scan. */
void spool_rescan(struct spool *s);

/* Stop watching; the spool is freed from its close callbacks. */
void spool_stop(struct spool *s);

#endif
