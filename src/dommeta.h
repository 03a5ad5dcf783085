/* The <metadata> element (namespace urn:vmirsd:1) every replica domain
 * carries: which VMIRS owns it, its VMI, slot, template hash and labels.
 * It, not the database, says which domains belong to which VMIRS. */
#ifndef VMIRS_DOMMETA_H
#define VMIRS_DOMMETA_H

#include <libxml/xmlwriter.h>

#include "err.h"
#include "selector.h"

#define DOMMETA_NS "urn:vmirsd:1"
#define DOMMETA_PREFIX "vmirs"

/* A loopback host port forwarded to a port of the replica (network =
 * user): recorded here so that a restarted daemon knows which ports are
 * taken and where its probes go. */
struct dommeta_port {
    unsigned host, guest;
};

#define DOMMETA_MAX_PORTS 64

struct dommeta {
    char *owner_namespace; /* the VMIRS; all three NULL once released */
    char *owner_name;
    char *owner_uid;
    char *vmi_name;
    char *vmi_uid;
    unsigned slot; /* the replica slot it fills (crash-loop backoff) */
    char *template_hash;
    struct labels labels;
    struct dommeta_port ports[DOMMETA_MAX_PORTS];
    size_t nports;
};

/* Write the <vmirs:replica> element with w (part of a larger document).
 * -1 when a required field is missing or a bound is exceeded. */
int dommeta_write(xmlTextWriterPtr w, const struct dommeta *m);

/* The element alone, for virDomainSetMetadata with key DOMMETA_PREFIX and
 * uri DOMMETA_NS (malloc'd). It is bare, in no namespace: libvirt binds
 * it to the URI itself and refuses an element that already declares the
 * prefix. */
int dommeta_build(const struct dommeta *m, char **xml, struct vmirs_err **err);

/* Parse what virDomainGetMetadata returns (untrusted: any process that can
 * talk to libvirt may have written it). libvirt returns the element with
 * its namespace stripped, so elements in DOMMETA_NS or in no namespace
 * are accepted, any other namespace is not. -1 with err when it is not
 * ours. */
int dommeta_parse(const char *xml, struct dommeta *m, struct vmirs_err **err);

void dommeta_free(struct dommeta *m);

#endif
