/* Readiness and liveness probes (SPEC section 6) with Kubernetes' timing:
 * the first probe initialDelaySeconds after the replica started, then one
 * every periodSeconds, each given timeoutSeconds; the result turns after
 * successThreshold successes or failureThreshold failures in a row. The
 * state machine is pure; probe_run does one probe, blocking, in a workq
 * thread. */
#ifndef VMIRS_PROBE_H
#define VMIRS_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "err.h"
#include "model.h"
#include "virt.h"

enum probe_kind { PROBE_NONE, PROBE_AGENT_PING, PROBE_EXEC, PROBE_TCP, PROBE_HTTP };

/* Kubernetes' defaults for the unset fields. */
#define PROBE_DEFAULT_PERIOD_S 10
#define PROBE_DEFAULT_TIMEOUT_S 1
#define PROBE_DEFAULT_FAILURE_THRESHOLD 3

struct probe_timing {
    int64_t initial_delay_ms, period_ms, timeout_ms;
    unsigned success_threshold, failure_threshold;
};

enum probe_kind probe_kind_of(const struct probe *p);
void probe_timing_of(const struct probe *p, struct probe_timing *t);

/* One replica's probe. result is what the probe says now: readiness
 * starts false (not ready until it passes), liveness true. */
struct probe_state {
    bool result;
    unsigned successes, failures; /* in a row */
    int64_t next_ms;              /* when the next probe is due */
    bool running;
};

/* The replica's domain started at started_ms: first probe after the delay. */
void probe_start(struct probe_state *st, const struct probe_timing *t, bool initial,
                 int64_t started_ms);

/* Record one outcome at now_ms and schedule the next; returns whether the
 * result changed. */
bool probe_record(struct probe_state *st, const struct probe_timing *t, bool ok, int64_t now_ms);

/* What one probe does, copied out of the manifest's model so that a
 * worker thread can run it while the spool changes. */
struct probe_action {
    enum probe_kind kind;
    char **argv; /* exec: the command */
    size_t argc;
    unsigned guest_port; /* tcpSocket, httpGet: resolved from a name */
    unsigned host_port;  /* the loopback port forwarded to it (network = user) */
    char *address;       /* else the guest's own IPv4 address (a libvirt network) */
    char *path;          /* httpGet */
    char *headers;       /* httpGet: extra header lines, each ending in CRLF */
    bool https;
    struct probe_timing t;
};
/* spec resolves a named port through the interfaces' ports. */
void probe_action_of(const struct probe *p, const struct vmi_spec *spec, struct probe_action *a);
void probe_action_free(struct probe_action *a);

/* Run one probe of the domain through ops (workq thread). Returns 0 when
 * it passed, -1 with the reason in *err otherwise. */
int probe_run(const struct virt_ops *ops, struct virt *v, const char *domain,
              const struct probe_action *a, struct vmirs_err **err);

/* The guest TCP ports the template needs reached from the host (network
 * = user): its interfaces' TCP ports and its probes' ports. Sorted,
 * without repeats, at most max; returns how many. */
size_t probe_guest_ports(const struct vmi_spec *spec, unsigned *out, size_t max);

/* Whether QEMU's user-mode network (HMP "info usernet" text) holds a
 * connection through the forward of host_port that the guest accepted. */
bool probe_usernet_established(const char *usernet, unsigned host_port);

/* Whether that text lists a forward of loopback host_port. */
bool probe_usernet_forwarded(const char *usernet, unsigned host_port);

/* httpGet runs on the loop (libuv TCP) against a->address:guest_port, or
 * the loopback host port forwarded to the guest's port; done gets 0 or -1
 * and why. (tcpSocket runs in a worker with probe_run: through a forward
 * it must ask QEMU while it holds the connection open.) */
typedef void (*probe_net_done_fn)(void *opaque, int rc, const char *why);
void probe_net_start(uv_loop_t *loop, const struct probe_action *a, probe_net_done_fn done,
                     void *opaque);

#endif
