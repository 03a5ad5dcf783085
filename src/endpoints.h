/* Which replicas serve a Service, and which of them takes the next
 * connection: pure decisions, table-tested (SPEC section 6). The caller
 * (services.c) describes the replicas and the Service; nothing here reads
 * a clock (times come in as arguments), a socket or the store.
 *
 * Kubernetes' own rules, followed here: the EndpointSlice controller puts
 * a pod in a Service's endpoints when the Service's (non-empty) selector
 * matches its labels in the Service's namespace; Ready pods as addresses,
 * the rest as notReadyAddresses unless publishNotReadyAddresses; a named
 * targetPort is looked up per pod among its containers' ports, and a pod
 * without that port is left out of that Service port
 * (pkg/controller/endpoint, podutil.FindPort). kube-proxy picks among the
 * ready endpoints in round robin per connection, or keeps a client IP on
 * its endpoint for the affinity timeout (pkg/proxy/userspace
 * roundrobin.go, the original userspace proxier). */
#ifndef VMIRS_ENDPOINTS_H
#define VMIRS_ENDPOINTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "selector.h"

/* kube-proxy's default for sessionAffinityConfig.clientIP.timeoutSeconds. */
#define EP_AFFINITY_DEFAULT_S 10800

/* A named port of a replica's template: interfaces[].ports[]. */
struct ep_port {
    const char *name;     /* NULL: unnamed */
    const char *protocol; /* "TCP" (also when NULL) or "UDP" */
    unsigned port;
};

/* A replica as the endpoints see it. */
struct ep_replica {
    const char *namespace;
    const char *vmi;    /* the VMI name: the endpoint's targetRef */
    const char *domain; /* the libvirt domain */
    const struct labels *labels;
    bool running; /* its domain runs (phase Running) */
    bool ready;
    const struct ep_port *ports; /* its template's interfaces[].ports, all interfaces */
    size_t nports;
};

/* The Service's protocol for port p: "TCP" or "UDP" (TCP when unset). */
const char *ep_protocol(const struct service_port *p);

/* Whether replica r is an endpoint of service s (its namespace, a
 * non-empty selector that matches, running); *ready_out says whether it
 * is a ready address. publishNotReadyAddresses makes every running
 * match ready. A Service without a selector has no endpoints here. */
bool ep_selects(const struct service *s, const struct ep_replica *r, bool *ready_out);

/* The guest port service port p reaches on r: targetPort as a number, or
 * the port of r's named port with that name and the same protocol, or
 * p's port when targetPort is unset. 0 when the name is not found: r is
 * then no endpoint of that Service port. */
unsigned ep_target_port(const struct service_port *p, const struct ep_replica *r);

/* An endpoint of one Service port, as the balancer sees it. */
struct ep_backend {
    uint64_t id;   /* the caller's name for it: stable while the endpoint lives, never 0 */
    uint32_t addr; /* IPv4, network order */
    uint16_t port; /* host order */
};

/* Round robin and ClientIP affinity over one Service port's ready
 * endpoints. */
struct ep_affinity {
    uint32_t client; /* IPv4, network order */
    uint64_t id;
    int64_t last_ms; /* last new connection or flow from client */
};
struct ep_balancer {
    struct ep_backend *v;
    size_t n;
    size_t next;   /* round robin: the index to try first */
    bool affinity; /* sessionAffinity: ClientIP */
    int64_t affinity_ms;
    struct ep_affinity *aff;
    size_t naff;
};

void ep_balancer_init(struct ep_balancer *b, bool client_ip_affinity, int64_t timeout_s);

/* The endpoints changed: the new ready set, in the order round robin
 * walks it. Affinities to endpoints that are gone are dropped; the round
 * robin goes on from where it was. */
void ep_balancer_set(struct ep_balancer *b, const struct ep_backend *v, size_t n);

/* The backend for a new connection or flow from client at now_ms, per
 * proxy_pick_fn: attempt 0 first, then after failed_id failed to
 * connect. An affinity that has not expired wins; a failed endpoint is
 * skipped (and its affinity dropped) and the next in round robin tried;
 * false once every endpoint has been tried for this connection
 * (attempt >= n) or there is none. The chosen one becomes client's
 * affinity. */
bool ep_balancer_pick(struct ep_balancer *b, uint32_t client, int64_t now_ms, unsigned attempt,
                      uint64_t failed_id, struct ep_backend *out);

/* Forget affinities idle longer than the timeout (call now and then). */
void ep_balancer_expire(struct ep_balancer *b, int64_t now_ms);

void ep_balancer_free(struct ep_balancer *b);

#endif
