/* Crash-loop backoff per replica slot: a slot whose replicas keep failing
 * waits 1 s, 2 s, 4 s... up to 5 min before its next create; a replica
 * that stays up resets it. Pure: the caller passes the time. */
#ifndef VMIRS_BACKOFF_H
#define VMIRS_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS (5 * 60 * 1000)
/* A replica that ran this long was not crash-looping. */
#define BACKOFF_RESET_AFTER_MS (10 * 60 * 1000)

struct backoff {
    unsigned failures;     /* consecutive quick failures */
    int64_t not_before_ms; /* no create before this time */
};

/* A replica of this slot failed (or its create did) at now_ms, having
 * started at started_ms (0 when it never started): the next create waits
 * 1 s, doubling per consecutive failure up to 5 min; a failure after a run
 * of BACKOFF_RESET_AFTER_MS or more starts again at 1 s. */
void backoff_failed(struct backoff *b, int64_t started_ms, int64_t now_ms);

/* A replica of this slot has been running since started_ms: forget the
 * failures once it has lasted BACKOFF_RESET_AFTER_MS. */
void backoff_running(struct backoff *b, int64_t started_ms, int64_t now_ms);

/* Whether a create may start now; else *wait_ms says how long to wait. */
bool backoff_ready(const struct backoff *b, int64_t now_ms, int64_t *wait_ms);

#endif
