/* Everything libvirt needs to run one replica: the replica's identity,
 * its files in state_dir/replicas/<domain>/ (overlays, empty disks, seed
 * ISOs) and its domain XML, from one validated VMI template. The XML's
 * content is decided in replica_domxml.c, which does no I/O; this module
 * resolves images and makes the files around it. materialize_replica runs
 * on a worker thread (a create job); --render calls materialize_render
 * from the main thread. */
#ifndef VMIRS_MATERIALIZE_H
#define VMIRS_MATERIALIZE_H

#include <stdbool.h>

#include "conf.h"
#include "dommeta.h"
#include "err.h"
#include "image.h"
#include "model.h"
#include "names.h"

/* Who a replica is. Owned strings. */
struct replica_id {
    char *namespace;
    char *vmirs_name;
    char *vmirs_uid;
    char *vmi_name;
    char *vmi_uid;
    char *domain_name;
    char *firmware_uuid; /* the template's if pinned, else random */
    char *template_hash;
    unsigned slot; /* the replica slot it fills (crash-loop backoff) */
    /* Host ports forwarded to it (network = user), in its metadata. */
    struct dommeta_port ports[DOMMETA_MAX_PORTS];
    size_t nports;
    /* Set by materialize_replica when it created the replica's directory:
     * a create that fails later removes that directory, and nothing else. */
    bool made_dir;
};

/* Where ConfigMaps and Secrets named by volumes are found. */
struct materialize_objects {
    const struct config_map *(*config_map)(void *opaque, const char *ns, const char *name);
    const struct secret *(*secret)(void *opaque, const char *ns, const char *name);
    /* Optional: told of each containerDisk image the replica uses, once
     * resolved (for the store's image cache entries). */
    void (*image_used)(void *opaque, const struct image_disk *img);
    void *opaque;
};

/* A new identity for a replica of v. */
void replica_id_new(struct replica_id *id, const struct vmirs *v, names_rng_fn rng, void *opaque);

/* replica_id_new, drawing again while taken(domain name, taken_opaque)
 * says the name is in use, at most tries times in all; -1 (and *id
 * empty) when every draw was taken. */
int replica_id_new_free(struct replica_id *id, const struct vmirs *v, names_rng_fn rng,
                        void *opaque, bool (*taken)(const char *domain_name, void *taken_opaque),
                        void *taken_opaque, unsigned tries);

/* The uid vmirsd gives a VMIRS: metadata.uid when the manifest has one,
 * else derived from namespace/name, so it is stable across restarts. */
char *materialize_vmirs_uid(const struct vmirs *v);

void replica_id_free(struct replica_id *id);

/* The domain type to write for conf's domain_type and libvirt URI:
 * "test" on the test driver, "kvm" when the QEMU user can open /dev/kvm
 * (auto), else "qemu" (TCG). */
const char *materialize_domain_type(const struct vmirs_conf *conf);

/* The domain XML materialize_replica would write for id, in *xml:
 * images are resolved (which may fill the image cache), and nothing else
 * is written. For vmirsd --render. */
int materialize_render(const struct vmirs_conf *conf, const char *domain_type,
                       const struct vmirs *v, const struct materialize_objects *objs,
                       const struct replica_id *id, char **xml, struct vmirs_err **err);

/* Resolve images (which may fill the image cache), create the replica's
 * files, and write its domain XML to *xml. The replica's
 * directory is created exclusively (one that exists is another replica's:
 * an error) and id->made_dir set. On failure the files made so far are
 * removed, and only those. */
int materialize_replica(const struct vmirs_conf *conf, const char *domain_type,
                        const struct vmirs *v, const struct materialize_objects *objs,
                        struct replica_id *id, char **xml, struct vmirs_err **err);

/* Remove the replica's files (its directory); harmless when absent. */
int materialize_remove(const struct vmirs_conf *conf, const char *domain_name,
                       struct vmirs_err **err);

#endif
