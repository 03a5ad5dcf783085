/* What virt.c (the connections) lends virt_calls.c (the blocking calls
 * on them): a connection for one call, and libvirt's error turned into
 * vmirsd's. Private to the two. */
#ifndef VMIRS_VIRT_INT_H
#define VMIRS_VIRT_INT_H

#include <libvirt/libvirt.h>

#include "err.h"
#include "virt.h"

/* A connection lent to one blocking call. */
struct virt_lease {
    virConnectPtr conn; /* referenced for the call */
    unsigned gen, idx;
};

/* Lend a connection of the live generation (round robin over the least
 * busy), referenced for the call; -1 with ENOTCONN when there is none. */
int virt_acquire(struct virt *v, struct virt_lease *l, struct vmirs_err **err);

/* Give the connection back. Call after reading libvirt's error:
 * virConnectClose resets it. */
void virt_release(struct virt *v, struct virt_lease *l);

/* libvirt's last error on this thread, prefixed by fmt; a lost connection
 * gets code ENOTCONN or ECONNRESET (virt.h). Returns -1. */
int virt_error(struct vmirs_err **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
