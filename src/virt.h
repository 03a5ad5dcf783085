/* The libvirt driver: connections, lifecycle events, and the blocking
 * calls the controller makes through workq. Behind struct virt_ops so
 * the controller can run against a fake in unit tests. */
#ifndef VMIRS_VIRT_H
#define VMIRS_VIRT_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "dommeta.h"
#include "err.h"

/* A domain that carries vmirsd metadata, as listed. */
struct virt_domain {
    char *name;
    struct dommeta meta;
    int state;  /* virDomainState */
    int reason; /* its reason */
};

void virt_domain_free(struct virt_domain *d);

/* Events, delivered on the loop thread. */
struct virt_events {
    /* virDomainEventType and its detail, for a domain by name. */
    void (*lifecycle)(void *opaque, const char *name, int event, int detail);
    /* Connected (first time or again): the controller must resync fully. */
    void (*connected)(void *opaque);
    /* The connection was lost; reconnecting with backoff. */
    void (*disconnected)(void *opaque, const char *why);
};

struct virt;
struct workq;

/* Blocking calls: call only from workq threads. Each returns 0 or -1
 * with err (the libvirt message, copied in the calling thread). err->code
 * is ENOTCONN when no connection was up (the call was never made) and
 * ECONNRESET when the connection was lost during the call (it may or may
 * not have taken effect); else 0. */
struct virt_ops {
    /* Every domain with vmirsd metadata, running or not. */
    int (*list)(struct virt *v, struct virt_domain **out, size_t *n, struct vmirs_err **err);
    /* One domain by name; 0 with *out->name NULL when it does not exist,
     * or is not one list would return (no or unreadable vmirsd metadata). */
    int (*get)(struct virt *v, const char *name, struct virt_domain *out, struct vmirs_err **err);
    int (*create)(struct virt *v, const char *xml, struct vmirs_err **err);
    /* ACPI shutdown request; a missing domain is success. */
    int (*shutdown)(struct virt *v, const char *name, struct vmirs_err **err);
    /* Destroy; a missing domain is success. */
    int (*destroy)(struct virt *v, const char *name, struct vmirs_err **err);
    /* Replace the domain's vmirsd metadata (adopt, release). */
    int (*set_meta)(struct virt *v, const char *name, const struct dommeta *m,
                    struct vmirs_err **err);
    /* A guest-agent command (JSON text); its answer in *reply (malloc'd).
     * No answer within timeout_s seconds is an error. */
    int (*agent)(struct virt *v, const char *name, const char *cmd, int timeout_s, char **reply,
                 struct vmirs_err **err);
    /* Forward loopback TCP host_port to guest_port on the user-mode
     * netdev (QEMU's hostfwd_add through the monitor: libvirt 9.0 has no
     * port forwarding for user networking, notes/networking.md). */
    int (*forward)(struct virt *v, const char *name, const char *netdev, unsigned host_port,
                   unsigned guest_port, struct vmirs_err **err);
    /* The guest's IPv4 address on a libvirt network, from its DHCP lease;
     * *ipv4 NULL while it has none. */
    int (*address)(struct virt *v, const char *name, char **ipv4, struct vmirs_err **err);
    /* A human monitor command (QEMU's HMP), its text answer in *out. */
    int (*hmp)(struct virt *v, const char *name, const char *cmd, char **out,
               struct vmirs_err **err);
};

extern const struct virt_ops virt_libvirt_ops;

/* Connect to uri in the background (on workq q), with keepalive, a close
 * callback and lifecycle events; reconnect with backoff (500 ms to 2 s) when
 * the connection drops. Calls ev->connected after every (re)connect.
 * virt_event_register must have run before. nconn connections are opened
 * so that blocking calls are not limited by libvirtd's 5 per connection. */
struct virt *virt_start(uv_loop_t *loop, struct workq *q, const char *uri, unsigned nconn,
                        const struct virt_events *ev, void *opaque);

/* Whether a connection is up now. */
bool virt_connected(const struct virt *v);

/* Stop: deregister events, close connections (in q), then free; done is
 * called on the loop thread when nothing of v remains. */
void virt_stop(struct virt *v, void (*done)(void *opaque), void *opaque);

#endif
