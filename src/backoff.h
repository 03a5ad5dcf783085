/* Crash-loop backoff per replica slot. A replica that ran healthily and
 * then failed is replaced at once, as the kubelet restarts a container the
 * first time without waiting; only consecutive quick failures (a create
 * that fails, a replica dying within BACKOFF_HEALTHY_MS of its start) back
 * off: at once, then 1 s, 2 s, 4 s... up to 5 min. Pure: the caller passes
 * the time. */
#ifndef VMIRS_BACKOFF_H
#define VMIRS_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS (5 * 60 * 1000)
/* A replica that ran this long was not crash-looping: its failure is a new
 * incident. The kubelet waits 10 min before forgetting a crash loop
 * (pkg/kubelet/kuberuntime, backOffPeriod x 2); vmirsd's replicas are
 * replaced, not restarted in place, and a replica that booted and ran for
 * 10 s did not die of its template, so the bar is lower. */
#define BACKOFF_HEALTHY_MS (10 * 1000)

struct backoff {
    unsigned failures;     /* consecutive quick failures */
    int64_t not_before_ms; /* no create before this time */
};

/* A replica of this slot failed (or its create did) at now_ms, having
 * started at started_ms (0 when it never started). The first of a series
 * of failures does not wait; each next quick one waits 1 s, doubling up to
 * 5 min. A failure after a run of BACKOFF_HEALTHY_MS or more starts a new
 * series. */
void backoff_failed(struct backoff *b, int64_t started_ms, int64_t now_ms);

/* A replica of this slot has been running since started_ms: forget the
 * failures once it has lasted BACKOFF_HEALTHY_MS. */
void backoff_running(struct backoff *b, int64_t started_ms, int64_t now_ms);

/* min_ms doubled steps times, capped at max_ms: the one doubling rule of
 * every back-off in vmirsd (slots here, libvirt reconnects in virt.c). */
int64_t backoff_doubled(unsigned steps, int64_t min_ms, int64_t max_ms);

/* Whether a create may start now; else *wait_ms says how long to wait. */
bool backoff_ready(const struct backoff *b, int64_t now_ms, int64_t *wait_ms);

#endif
