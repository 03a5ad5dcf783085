/* The containerDisk image store: find an image in image_dir (OCI image
 * layouts and docker-archive tars), verify its blobs and extract its one
 * disk file, once per image digest, into a read-only cache. An OCI
 * ref.name annotation holding a full reference must equal the request
 * once both are normalised; a bare tag ("latest", as skopeo writes for
 * oci:DIR:latest) matches when the layout directory is named like the
 * request's last path component. Digest references match OCI layouts only. */
#ifndef VMIRS_IMAGE_H
#define VMIRS_IMAGE_H

#include <stdint.h>

#include "err.h"

enum disk_format { DISK_FORMAT_RAW, DISK_FORMAT_QCOW2 };

struct image_disk {
    char *ref; /* normalised reference, e.g. "docker.io/library/cirros:latest" */
    /* "sha256:<hex>" of the image manifest (OCI) or config (docker-archive): the cache key */
    char *digest;
    char *path; /* the extracted disk in the cache, read-only */
    enum disk_format format;
    uint64_t virtual_size; /* bytes, from the qcow2 header, or the file size for raw */
};

/* Normalise a reference as docker does ("cirros" -> "docker.io/library/cirros:latest",
   "localhost/x:1" stays, "registry:5000/a/b" gets ":latest", digests "@sha256:..." kept). -1 on a
   malformed reference. */
int image_ref_normalize(const char *ref, char **out, struct vmirs_err **err);

/* Find ref in image_dir, verify, extract the disk once into cache_dir; fill *out. path_in_image is
   the containerDisk `path` or NULL (then the single regular file under /disk/). Thread-safe. */
int image_resolve(const char *image_dir, const char *cache_dir, const char *ref,
                  const char *path_in_image, struct image_disk *out, struct vmirs_err **err);

/* Free the strings of d and zero it; harmless on a zeroed or freed d. */
void image_disk_free(struct image_disk *d);

/* The format (raw, or qcow2 without a backing file) and virtual size of
 * a disk file outside any image, such as an ephemeral volume's claim. */
int image_probe_disk(const char *path, enum disk_format *fmt, uint64_t *virtual_size,
                     struct vmirs_err **err);

/* The name of a disk format as libvirt and qemu-img spell it ("raw", "qcow2"). */
const char *image_disk_format_name(enum disk_format f);

#endif
