/* What the image_*.c files share behind image.h: the limits, the parsed
 * shapes of an image (reference, descriptor, source, layers, merged view)
 * and the functions one file offers the others. Not a public contract:
 * nothing outside src/image*.c and its tests includes it. */
#ifndef VMIRS_IMAGE_INT_H
#define VMIRS_IMAGE_INT_H

#include "image.h"

#include <archive.h>
#include <archive_entry.h>
#include <gnutls/crypto.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* The OCI distribution spec lets registries refuse manifests over 4 MiB; the
 * same bound keeps an untrusted index.json or manifest.json from making us
 * allocate without limit. */
#define IMAGE_JSON_MAX ((size_t) 4 << 20)
#define IMAGE_BUF_SIZE ((size_t) 128 << 10)
#define IMAGE_DIGEST_LEN 71 /* "sha256:" + 64 hex digits */

/* The manifest and index media types vmirsd reads. */
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

/* A parsed reference, as image_ref_parse leaves it. */
struct image_ref {
    char *name;   /* "docker.io/library/cirros" */
    char *tag;    /* "latest", or NULL with a digest only */
    char *digest; /* "sha256:...", or NULL */
};

/* An OCI content descriptor: what the image says a blob is. */
struct image_desc {
    char *media_type;
    char *digest;
    int64_t size;
};

/* A blob being read: from an OCI file or a docker-archive member. */
struct image_blob {
    int fd;                /* an OCI blob, or -1 */
    struct archive *outer; /* a docker-archive positioned on the member, or NULL */
    gnutls_hash_hd_t hash;
    bool hashing;
    uint64_t nread;
    int read_errno;
    char *read_error;
    unsigned char buf[IMAGE_BUF_SIZE];
};

/* ---- The matched image: its layers and its cache key ---- */

struct image_layer {
    char *label;   /* names the layer in messages */
    char *digest;  /* the raw bytes' sha256, or NULL when nothing says */
    int64_t size;  /* the raw size, or -1 */
    char *member;  /* docker-archive: the member holding it */
    char *diff_id; /* docker-archive: sha256 of the uncompressed tar, or NULL */
};

enum image_src_kind { IMAGE_SRC_OCI, IMAGE_SRC_ARCHIVE };

struct image_src {
    enum image_src_kind kind;
    char *where;           /* the layout directory or the archive file */
    struct image_desc top; /* OCI: the index.json descriptor that matched */
    json_t *entry;         /* docker-archive: the manifest.json entry that matched */
    char *digest;          /* the cache key */
    struct image_layer *layers;
    size_t n_layers;
};

/* One layer open for reading: its blob, hashed, under libarchive's tar reader. */
struct image_layer_stream {
    struct image_blob *blob;
    struct archive *a;
    const struct image_layer *layer;
};

/* ---- The layers merged, as a container runtime would stack them ---- */

enum image_node_type { NODE_DIR, NODE_REG, NODE_SYMLINK, NODE_OTHER };

struct image_node {
    char *path;   /* relative to the image root: "disk/disk.img" */
    char *target; /* a symlink's target */
    enum image_node_type type;
    bool gone;                     /* removed by a whiteout or replaced by a non-directory */
    size_t layer;                  /* the layer that put it there */
    size_t data_layer, data_index; /* a regular file's bytes: layer, entry number */
    int64_t size;
};

/* The nodes, with an open-addressing table on path: base images can hold
 * thousands of files, and every entry looks its path up. */
struct image_view {
    struct image_node *nodes;
    size_t n, cap;
    size_t *slots; /* node index + 1; 0 is empty */
    size_t nslots;
};

/* The disk file picked in the view: where its bytes are. */
struct image_pick {
    char *display; /* "/disk/disk.qcow2", for messages */
    size_t layer, index;
    int64_t size;
};

enum image_clean { IMAGE_CLEAN_OK, IMAGE_CLEAN_ABSOLUTE, IMAGE_CLEAN_DOTDOT };

/* image_ref.c: references, normalised as docker does. */

/* Parse s into r (normalised); -1 with "invalid reference format". */
int image_ref_parse(const char *s, struct image_ref *r, struct vmirs_err **err);
/* The normalised reference r spells, "name[:tag][@digest]". */
char *image_ref_string(const struct image_ref *r);
/* Free r's strings and zero it. */
void image_ref_clear(struct image_ref *r);
/* Whether s[0..n) is a valid tag. */
bool image_ref_tag_ok(const char *s, size_t n);

/* image_json.c: JSON from the image, every field checked. */

/* Parse data as JSON, refusing duplicate keys; what names it in errors. */
json_t *image_json_parse(const char *data, size_t len, const char *what, struct vmirs_err **err);
/* Read and parse a regular file of at most max bytes. */
json_t *image_json_file(const char *path, const char *what, size_t max, struct vmirs_err **err);
/* The string member key of obj; NULL without error when absent and optional. */
int image_json_str(json_t *obj, const char *key, bool required, const char *what, const char **out,
                   struct vmirs_err **err);
/* Check that obj's "schemaVersion" is 2. */
int image_json_schema_version(json_t *obj, const char *what, struct vmirs_err **err);
/* Parse and check a content descriptor into d. */
int image_desc_parse(json_t *j, const char *what, struct image_desc *d, struct vmirs_err **err);
/* Free d's strings and zero it. */
void image_desc_clear(struct image_desc *d);

/* image_blob.c: digests, blobs hashed while streamed, and layer streams. */

/* Whether s[0..n) is lower-case hex digits only. */
bool image_is_lower_hex(const char *s, size_t n);
/* Whether d is "sha256:" and 64 lower-case hex digits. */
bool image_digest_valid(const char *d);
/* The sha256 digest of data, spelled "sha256:<hex>", into out. */
int image_sha256_buf(const void *data, size_t len, char out[IMAGE_DIGEST_LEN + 1],
                     struct vmirs_err **err);
/* A new blob reader with its hash started; fd and outer still unset. */
struct image_blob *image_blob_new(struct vmirs_err **err);
/* Free b and close what it reads; harmless on NULL. */
void image_blob_free(struct image_blob *b);
/* Read b to its end and give the digest of everything read. */
int image_blob_finish(struct image_blob *b, const char *label, char digest[IMAGE_DIGEST_LEN + 1],
                      struct vmirs_err **err);
/* Check a blob's digest and size against what its descriptor promised. */
int image_blob_check(const char *label, const char *want_digest, int64_t want_size,
                     const char *got_digest, uint64_t got_size, struct vmirs_err **err);
/* Open layer li of src as a tar stream whose raw bytes are hashed. */
int image_layer_open(const struct image_src *src, size_t li, struct image_layer_stream *ls,
                     struct vmirs_err **err);
/* Finish the layer and check its digest, size and diff_id; closes ls. */
int image_layer_close(struct image_layer_stream *ls, struct vmirs_err **err);
/* Close ls without checking anything. */
void image_layer_abort(struct image_layer_stream *ls);
/* Close ls after a refused entry, reporting a bad digest instead when there is one. */
int image_layer_fail(struct image_layer_stream *ls, struct vmirs_err **err);
/* Report libarchive's error on ls, then as image_layer_fail. */
int image_layer_read_error(struct image_layer_stream *ls, struct vmirs_err **err);

/* image_oci.c: OCI image layouts. */

/* The path of the blob with digest in layout. */
char *image_oci_blob_path(const char *layout, const char *digest);
/* 1 with *found when layout's index.json lists want, 0 when not, -1 when unreadable. */
int image_oci_find(const char *layout, const struct image_ref *want, struct image_desc *found,
                   struct vmirs_err **err);
/* From src->top, read the manifest and fill src's layers and digest. */
int image_oci_load(struct image_src *src, struct vmirs_err **err);

/* image_archive.c: docker-archive tars. */

/* Open tar positioned on member's data, following links between members. */
int image_tar_open_member(const char *tar, const char *member, struct archive **out, int64_t *size,
                          struct vmirs_err **err);
/* 1 with *entry when manifest.json's RepoTags name want, 0 when not, -1 when unreadable. */
int image_archive_find(const char *tar, const struct image_ref *want, json_t **entry,
                       struct vmirs_err **err);
/* From src->entry, read the config and fill src's layers and digest. */
int image_archive_load(struct image_src *src, struct vmirs_err **err);

/* image_view.c: paths in the image and the layers merged. */

/* Clean a path written in an image to "a/b/c", refusing ".." (and "/..." unless allowed). */
enum image_clean image_path_clean(const char *raw, bool allow_absolute, char **out);
/* Where a symlink in dir to target lands, lexically; -1 above the root. */
int image_path_join(const char *dir, const char *target, char **out);
/* Everything before path's last slash, or "". */
char *image_dirname(const char *path);
/* Read every layer of src in order into v, checking each blob. */
int image_scan_layers(const struct image_src *src, struct image_view *v, struct vmirs_err **err);
/* The disk in v: path_in_image (cleaned, relative) or the one file under /disk/. */
int image_pick_disk(const struct image_view *v, const char *path_in_image, struct image_pick *pick,
                    struct vmirs_err **err);
/* Free v's nodes and zero it. */
void image_view_free(struct image_view *v);

/* image_cache.c: disk formats, the cache, its lock and extraction. */

/* Give out src's disk from cache_dir, extracting it first under its lock. */
int image_disk_prepare(const struct image_src *src, const char *cache_dir,
                       const char *path_in_image, struct image_disk *out, struct vmirs_err **err);

/* image.c */

/* Free src's strings and JSON and zero it. */
void image_src_clear(struct image_src *s);

#endif
