/* The floor of the idle benchmark: the least a libvirt client must do to
 * hold replicas the way vmirsd does. It opens NCONN connections to the mock
 * hypervisor with libvirt's default event loop on a thread of its own,
 * registers for lifecycle events, lists every domain and reads its
 * urn:vmirsd:1 metadata, prints "ready" and waits to be killed. The bench
 * reads its RSS beside vmirsd's.
 * Usage: idle_floor NCONN */
#include "config.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* $BENCH_URI (make bench: a private libvirtd), else the shared mock. */
#define URI (getenv("BENCH_URI") && *getenv("BENCH_URI") ? getenv("BENCH_URI") : "test+unix:///default")
#define MAX_CONN 16

static void
quiet(void *opaque, virErrorPtr e)
{
}

static int
on_lifecycle(virConnectPtr c, virDomainPtr dom, int event, int detail, void *opaque)
{
    return 0;
}

static void *
event_thread(void *arg)
{
    for (;;)
        virEventRunDefaultImpl();
    return NULL;
}

int
main(int argc, char **argv)
{
    int nconn = argc > 1 ? atoi(argv[1]) : 1;
    virConnectPtr conn[MAX_CONN];
    virDomainPtr *doms = NULL;
    pthread_t th;
    int n;

    if (nconn < 1 || nconn > MAX_CONN)
        nconn = 1;
    virSetErrorFunc(NULL, quiet);
    virEventRegisterDefaultImpl();
    for (int i = 0; i < nconn; i++) {
        conn[i] = virConnectOpen(URI);
        if (!conn[i])
            return 77;
        virConnectSetKeepAlive(conn[i], 5, 3);
    }
    virConnectDomainEventRegisterAny(conn[0], NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                     VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), NULL, NULL);
    pthread_create(&th, NULL, event_thread, NULL);
    n = virConnectListAllDomains(conn[0], &doms, 0);
    for (int i = 0; i < n; i++) {
        free(virDomainGetMetadata(doms[i], VIR_DOMAIN_METADATA_ELEMENT, "urn:vmirsd:1", 0));
        virDomainFree(doms[i]);
    }
    free(doms);
    printf("ready %d\n", n);
    fflush(stdout);
    for (;;)
        pause();
}
