/* Host ports for network = user: choosing a free loopback port for each
 * guest port a template needs, and asking for the forwards once the
 * replica runs. Loop thread only. */
#include "config.h"

#define LOG_COMPONENT "controller"

#include <stdlib.h>
#include <string.h>

#include "controller_int.h"
#include "plan.h"
#include "backoff.h"
#include "desired.h"
#include "materialize.h"
#include "probe.h"
#include "reconcile.h"
#include "selector.h"
#include "store.h"
#include "util.h"
#include "vmirs_parse.h"

#include "log.h"

/* Whether a live replica holds host port. */
static bool
port_taken(unsigned port, void *opaque)
{
    const struct controller *c = opaque;

    for (size_t i = 0; i < c->nreps; i++)
        for (size_t k = 0; k < c->reps[i]->meta.nports; k++)
            if (c->reps[i]->meta.ports[k].host == port)
                return true;
    return false;
}

/* With network = user, give each guest port the template needs a free
 * loopback host port from host_port_range, recorded in the replica's
 * metadata; they are free again when the replica is gone. Allocation
 * goes round the range, so a port just freed is not handed out again at
 * once. */
void
ports_allocate(struct controller *c, struct replica *r, const struct vmi_spec *spec)
{
    unsigned guest[DOMMETA_MAX_PORTS];
    size_t n;
    unsigned lo = c->conf->host_port_min, hi = c->conf->host_port_max;

    if (strcmp(c->conf->network, "user") != 0)
        return;
    n = probe_guest_ports(spec, guest, DOMMETA_MAX_PORTS);
    for (size_t i = 0; i < n; i++) {
        unsigned port = plan_host_port(lo, hi, &c->next_port, port_taken, c);

        if (!port) {
            log_warn("replica `%s`: no free host port in %u-%u for guest port %u", r->name, lo, hi,
                     guest[i]);
            continue;
        }
        r->meta.ports[r->meta.nports++] = (struct dommeta_port){port, guest[i]};
    }
}

/* Set up the replica's host port forwards once its QEMU runs. The
 * user-mode netdev of the first interface: libvirt names it "host" and
 * the interface's alias, which vmirsd sets to "ua-" and its name. */
void
ports_forward(struct controller *c, struct replica *r)
{
    const struct vmi_spec *spec = rep_spec(c, r);
    const char *iface = spec && spec->domain.devices.interfaces.n
                            ? spec->domain.devices.interfaces.v[0].name
                            : "default";
    struct job *j = job_new(JOB_FORWARD, r->name);

    j->netdev = xasprintf("hostua-%s", iface);
    memcpy(j->meta.ports, r->meta.ports, sizeof(j->meta.ports));
    j->meta.nports = r->meta.nports;
    dispatch_submit(c, j);
}
