/* The Services' data path (SPEC section 6): listeners on the host that hand
 * each new TCP connection, or each new UDP flow, to a backend the caller
 * chooses, and move the bytes between the two. Loop thread only; nothing
 * here blocks (non-blocking sockets driven by libuv).
 *
 * Ownership: a listener belongs to its Service; the connections and flows
 * it accepted belong to the proxy, so closing a listener (a Service edited
 * or removed) stops new connections and leaves established ones to run
 * until one side ends them or proxy_close_backend is called for their
 * backend (its replica went away). proxy_free closes everything. */
#ifndef VMIRS_PROXY_H
#define VMIRS_PROXY_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "err.h"

struct proxy;
struct proxy_listener;

enum proxy_proto { PROXY_TCP, PROXY_UDP };

/* A UDP flow (client address and port) ends after this long without
 * traffic in either direction (SPEC section 6). */
#define PROXY_UDP_IDLE_MS 30000

/* Trying backends for one new connection stops after this long in all,
 * or when pick says there is none left (SPEC section 6). */
#define PROXY_CONNECT_BUDGET_MS 1000

/* A backend: where to connect, and the caller's name for it (an
 * endpoint: one replica's address for one Service port). */
struct proxy_backend {
    struct sockaddr_in addr;
    uint64_t id; /* never 0 */
};

/* Called for each new TCP connection and each new UDP flow, and again
 * after each failed connect: fill *out and return true, or return false
 * when there is no backend (left) to try; TCP is then reset (RST, not
 * FIN: SO_LINGER 0), UDP dropped. attempt counts from 0; failed_id is the
 * backend that just failed (0 on attempt 0), so the chooser can skip it
 * and forget an affinity to it. client is the peer's address. */
typedef bool (*proxy_pick_fn)(void *opaque, const struct sockaddr_in *client, unsigned attempt,
                              uint64_t failed_id, struct proxy_backend *out);

struct proxy *proxy_new(uv_loop_t *loop);

/* Listen on addr (address and port) for proto, choosing backends through
 * pick (opaque is handed back). Returns NULL with *err set ("listen tcp
 * 127.0.0.1:80: Address already in use", errno in err->code) when the
 * socket cannot be bound: the caller retries later. */
struct proxy_listener *proxy_listen(struct proxy *p, enum proxy_proto proto,
                                    const struct sockaddr_in *addr, proxy_pick_fn pick,
                                    void *opaque, struct vmirs_err **err);

/* Stop listening; pick is never called for this listener again (it may be
 * freed after this returns). Established TCP connections and live UDP
 * flows go on. */
void proxy_listener_close(struct proxy_listener *l);

/* Close every connection and flow to backend id (its replica is gone):
 * both sides of a TCP connection are closed. */
void proxy_close_backend(struct proxy *p, uint64_t id);

/* Counts, for tests and benchmarks. */
struct proxy_stats {
    size_t listeners, tcp_conns, udp_flows;
    uint64_t accepted, refused;   /* TCP connections taken in; reset for want of a backend */
    uint64_t connect_failures;    /* backends that failed to connect */
    uint64_t bytes_in, bytes_out; /* client to backend, backend to client */
};
void proxy_stats(const struct proxy *p, struct proxy_stats *out);

/* Close everything; done (may be NULL) runs once every handle is closed,
 * after which p is freed. */
void proxy_free(struct proxy *p, void (*done)(void *opaque), void *opaque);

#endif
