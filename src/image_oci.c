/* OCI image layouts: find a reference in index.json (ref.name
 * annotations), pick this host's platform from an image index, and
 * read the manifest's layers, each blob checked against its descriptor.
 * Runs on a worker thread (image_resolve). */
#include "config.h"

#include "image_int.h"

#include "err.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ANN_REF_NAME "org.opencontainers.image.ref.name"

/* The platform picked from a multi-platform image index, spelled as OCI does. */
#if defined(__x86_64__)
#define IMAGE_ARCH "amd64"
#elif defined(__aarch64__)
#define IMAGE_ARCH "arm64"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define IMAGE_ARCH "ppc64le"
#elif defined(__s390x__)
#define IMAGE_ARCH "s390x"
#elif defined(__riscv) && __riscv_xlen == 64
#define IMAGE_ARCH "riscv64"
#elif defined(__i386__)
#define IMAGE_ARCH "386"
#elif defined(__arm__)
#define IMAGE_ARCH "arm"
#else
#define IMAGE_ARCH "unknown"
#endif

/* The last component of a directory path, ignoring trailing slashes. */
static char *
image_basename(const char *path)
{
    size_t end = strlen(path), start;

    while (end > 1 && path[end - 1] == '/')
        end--;
    start = end;
    while (start > 0 && path[start - 1] != '/')
        start--;
    return xstrndup(path + start, end - start);
}

/* ---- OCI image layouts ---- */

char *
image_oci_blob_path(const char *layout, const char *digest)
{
    return xasprintf("%s/blobs/sha256/%s", layout, digest + 7);
}

/* Load a JSON blob (index or manifest) and check it against its descriptor. */
static json_t *
image_oci_blob_json(const char *layout, const struct image_desc *d, struct vmirs_err **err)
{
    cleanup_free char *path = image_oci_blob_path(layout, d->digest);
    cleanup_free char *label = xasprintf("blob %s", d->digest);
    cleanup_free char *data = NULL;
    char got[IMAGE_DIGEST_LEN + 1];
    struct stat st;
    size_t len;

    if (stat(path, &st) < 0) {
        err_set(err, errno, "read %s", label);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        err_set(err, 0, "%s is not a regular file", label);
        return NULL;
    }
    if ((uint64_t) d->size > IMAGE_JSON_MAX || (uint64_t) st.st_size > IMAGE_JSON_MAX) {
        err_set(err, 0, "%s is larger than %zu bytes", label, IMAGE_JSON_MAX);
        return NULL;
    }
    if (read_file(path, &data, &len) < 0) {
        err_set(err, errno, "read %s", label);
        return NULL;
    }
    if (image_sha256_buf(data, len, got, err) < 0 ||
        image_blob_check(label, d->digest, d->size, got, len, err) < 0)
        return NULL;
    return image_json_parse(data, len, label, err);
}

/* Check a blob that vmirsd does not otherwise read (the image config). */
static int
image_oci_blob_verify(const char *layout, const struct image_desc *d, struct vmirs_err **err)
{
    cleanup_free char *path = image_oci_blob_path(layout, d->digest);
    cleanup_free char *label = xasprintf("blob %s", d->digest);
    struct image_blob *b = image_blob_new(err);
    char got[IMAGE_DIGEST_LEN + 1];
    int r;

    if (!b)
        return -1;
    b->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (b->fd < 0) {
        r = err_set(err, errno, "read %s", label);
    } else {
        r = image_blob_finish(b, label, got, err);
        if (r == 0)
            r = image_blob_check(label, d->digest, d->size, got, b->nread, err);
    }
    image_blob_free(b);
    return r;
}

/* Whether the ref.name annotation ann, on a descriptor with digest, in the
 * layout directory layout, names the image asked for. */
static bool
image_oci_ref_matches(const char *ann, const char *layout, const char *digest,
                      const struct image_ref *want)
{
    struct image_ref have;
    bool match;

    /* The OCI spec means ref.name to be a tag, and skopeo writes just that
     * for oci:DIR:TAG; the directory then stands for the repository. */
    if (!strpbrk(ann, "/:@")) {
        cleanup_free char *dir = image_basename(layout);
        const char *last = strrchr(want->name, '/');

        if (!image_ref_tag_ok(ann, strlen(ann)) || strcmp(dir, last ? last + 1 : want->name))
            return false;
        if (want->digest)
            return strcmp(want->digest, digest) == 0 && (!want->tag || strcmp(want->tag, ann) == 0);
        return strcmp(want->tag, ann) == 0;
    }
    /* Annotations are free-form: one that is no reference names nothing. */
    if (image_ref_parse(ann, &have, NULL) < 0)
        return false;
    match = strcmp(have.name, want->name) == 0;
    if (match && want->digest)
        match = strcmp(want->digest, digest) == 0 && (!want->tag || streq0(want->tag, have.tag));
    else if (match)
        match = streq0(want->tag, have.tag);
    image_ref_clear(&have);
    return match;
}

/* 1 with *found set when the layout lists want, 0 when it does not, -1 when
 * its oci-layout or index.json cannot be read or are malformed. */
int
image_oci_find(const char *layout, const struct image_ref *want, struct image_desc *found,
               struct vmirs_err **err)
{
    cleanup_free char *lpath = xasprintf("%s/oci-layout", layout);
    cleanup_free char *ipath = xasprintf("%s/index.json", layout);
    json_t *lj = NULL, *ij = NULL, *manifests;
    const char *version;
    size_t i;
    int r = -1;

    lj = image_json_file(lpath, "oci-layout", 64 << 10, err);
    if (!lj)
        goto out;
    if (!json_is_object(lj)) {
        err_set(err, 0, "oci-layout is not an object");
        goto out;
    }
    if (image_json_str(lj, "imageLayoutVersion", true, "oci-layout", &version, err) < 0)
        goto out;
    ij = image_json_file(ipath, "index.json", IMAGE_JSON_MAX, err);
    if (!ij)
        goto out;
    if (!json_is_object(ij)) {
        err_set(err, 0, "index.json is not an object");
        goto out;
    }
    if (image_json_schema_version(ij, "index.json", err) < 0)
        goto out;
    manifests = json_object_get(ij, "manifests");
    if (!json_is_array(manifests)) {
        err_set(err, 0, "index.json: \"manifests\" is not an array");
        goto out;
    }
    /* Every descriptor is checked, not only up to the match: a malformed
     * index is refused whole rather than half-trusted. */
    r = 0;
    for (i = 0; i < json_array_size(manifests); i++) {
        json_t *m = json_array_get(manifests, i);
        cleanup_free char *what = xasprintf("index.json: manifests[%zu]", i);
        json_t *ann;
        const char *name = NULL;
        struct image_desc d;

        if (image_desc_parse(m, what, &d, err) < 0) {
            r = -1;
            break;
        }
        ann = json_object_get(m, "annotations");
        if (ann && !json_is_object(ann)) {
            err_set(err, 0, "%s: \"annotations\" is not an object", what);
            image_desc_clear(&d);
            r = -1;
            break;
        }
        if (ann && image_json_str(ann, ANN_REF_NAME, false, what, &name, err) < 0) {
            image_desc_clear(&d);
            r = -1;
            break;
        }
        if (r == 0 && name && image_oci_ref_matches(name, layout, d.digest, want)) {
            *found = d;
            r = 1;
            continue;
        }
        image_desc_clear(&d);
    }
    if (r < 0 && found->digest)
        image_desc_clear(found);
out:
    json_decref(lj);
    json_decref(ij);
    return r;
}

static bool
image_mt_is_index(const char *mt)
{
    return strcmp(mt, MT_OCI_INDEX) == 0 || strcmp(mt, MT_DOCKER_LIST) == 0;
}

static bool
image_mt_is_manifest(const char *mt)
{
    return strcmp(mt, MT_OCI_MANIFEST) == 0 || strcmp(mt, MT_DOCKER_MANIFEST) == 0;
}

static bool
image_mt_is_layer(const char *mt)
{
    return (strncmp(mt, "application/vnd.oci.image.layer.", 32) == 0 ||
            strncmp(mt, "application/vnd.docker.image.rootfs.", 36) == 0) &&
           strstr(mt, "tar");
}

/* From an image index, the manifest for this host's linux platform, or the
 * only manifest when there is just one. */
static int
image_oci_pick_platform(json_t *index, const char *label, struct image_desc *out,
                        struct vmirs_err **err)
{
    json_t *manifests = json_object_get(index, "manifests");
    size_t i, n;

    if (!json_is_array(manifests))
        return err_set(err, 0, "%s: \"manifests\" is not an array", label);
    n = json_array_size(manifests);
    for (i = 0; i < n; i++) {
        json_t *m = json_array_get(manifests, i);
        cleanup_free char *what = xasprintf("%s: manifests[%zu]", label, i);
        json_t *platform;
        const char *os = NULL, *arch = NULL;
        struct image_desc d;

        if (image_desc_parse(m, what, &d, err) < 0)
            return -1;
        platform = json_object_get(m, "platform");
        if (platform && (!json_is_object(platform) ||
                         image_json_str(platform, "os", true, what, &os, err) < 0 ||
                         image_json_str(platform, "architecture", true, what, &arch, err) < 0)) {
            image_desc_clear(&d);
            if (!json_is_object(platform))
                return err_set(err, 0, "%s: \"platform\" is not an object", what);
            return -1;
        }
        if (n == 1 || (os && arch && strcmp(os, "linux") == 0 && strcmp(arch, IMAGE_ARCH) == 0)) {
            *out = d;
            return 0;
        }
        image_desc_clear(&d);
    }
    return err_set(err, 0, "%s: no manifest for linux/%s", label, IMAGE_ARCH);
}

int
image_oci_load(struct image_src *src, struct vmirs_err **err)
{
    struct image_desc m = {0}, config = {0};
    cleanup_free char *label = NULL;
    json_t *index = NULL, *manifest = NULL, *layers;
    const char *mt;
    size_t i;
    int r = -1;

    if (image_mt_is_index(src->top.media_type)) {
        cleanup_free char *ilabel = xasprintf("blob %s", src->top.digest);

        index = image_oci_blob_json(src->where, &src->top, err);
        if (!index)
            goto out;
        if (!json_is_object(index)) {
            err_set(err, 0, "%s is not an object", ilabel);
            goto out;
        }
        if (image_json_schema_version(index, ilabel, err) < 0 ||
            image_oci_pick_platform(index, ilabel, &m, err) < 0)
            goto out;
    } else {
        m.media_type = xstrdup(src->top.media_type);
        m.digest = xstrdup(src->top.digest);
        m.size = src->top.size;
    }
    label = xasprintf("blob %s", m.digest);
    if (!image_mt_is_manifest(m.media_type)) {
        err_set(err, 0, "%s: unsupported media type \"%s\"", label, m.media_type);
        goto out;
    }
    manifest = image_oci_blob_json(src->where, &m, err);
    if (!manifest)
        goto out;
    if (!json_is_object(manifest)) {
        err_set(err, 0, "%s is not an object", label);
        goto out;
    }
    if (image_json_schema_version(manifest, label, err) < 0 ||
        image_json_str(manifest, "mediaType", false, label, &mt, err) < 0)
        goto out;
    if (mt && strcmp(mt, m.media_type) != 0) {
        err_set(err, 0, "%s: media type \"%s\" does not match its descriptor's \"%s\"", label, mt,
                m.media_type);
        goto out;
    }
    {
        cleanup_free char *what = xasprintf("%s: config", label);

        if (image_desc_parse(json_object_get(manifest, "config"), what, &config, err) < 0)
            goto out;
    }
    layers = json_object_get(manifest, "layers");
    if (!json_is_array(layers) || json_array_size(layers) == 0) {
        err_set(err, 0, "%s: \"layers\" is not a non-empty array", label);
        goto out;
    }
    src->n_layers = json_array_size(layers);
    src->layers = xcalloc(src->n_layers, sizeof(*src->layers));
    for (i = 0; i < src->n_layers; i++) {
        cleanup_free char *what = xasprintf("%s: layers[%zu]", label, i);
        struct image_desc d;

        if (image_desc_parse(json_array_get(layers, i), what, &d, err) < 0)
            goto out;
        src->layers[i].label = xasprintf("layer %s", d.digest);
        src->layers[i].digest = steal_ptr(&d.digest);
        src->layers[i].size = d.size;
        if (!image_mt_is_layer(d.media_type)) {
            err_set(err, 0, "%s: unsupported media type \"%s\"", what, d.media_type);
            image_desc_clear(&d);
            goto out;
        }
        image_desc_clear(&d);
    }
    if (image_oci_blob_verify(src->where, &config, err) < 0)
        goto out;
    src->digest = steal_ptr(&m.digest);
    r = 0;
out:
    image_desc_clear(&m);
    image_desc_clear(&config);
    json_decref(index);
    json_decref(manifest);
    return r;
}
