/* docker-archive tars (docker save, skopeo docker-archive:): find a
 * reference in manifest.json's RepoTags and read the config's layers,
 * members reached through the links docker save writes. Runs on a
 * worker thread (image_resolve). */
#include "config.h"

#include "image_int.h"

#include "err.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* docker save links a layer shared by several images to its first copy. */
#define IMAGE_MEMBER_LINK_MAX 8

/* Open the archive and position it on member's data, following links
 * between members as docker save writes for a layer shared by two images. */
int
image_tar_open_member(const char *tar, const char *member, struct archive **out, int64_t *size,
                      struct vmirs_err **err)
{
    cleanup_free char *want = xstrdup(member);

    for (int hops = 0; hops <= IMAGE_MEMBER_LINK_MAX; hops++) {
        struct archive *a = archive_read_new();
        struct archive_entry *e;
        char *next = NULL;
        int r;

        archive_read_support_filter_all(a);
        archive_read_support_format_tar(a);
        if (archive_read_open_filename(a, tar, IMAGE_BUF_SIZE) != ARCHIVE_OK) {
            err_set(err, 0, "open archive: %s", archive_error_string(a));
            archive_read_free(a);
            return -1;
        }
        while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
            const char *raw = archive_entry_pathname(e);
            cleanup_free char *name = NULL;

            if (!raw || image_path_clean(raw, true, &name) != IMAGE_CLEAN_OK ||
                strcmp(name, want) != 0)
                continue;
            if (archive_entry_hardlink(e)) {
                if (image_path_clean(archive_entry_hardlink(e), true, &next) != IMAGE_CLEAN_OK)
                    next = NULL;
            } else if (archive_entry_filetype(e) == AE_IFLNK && archive_entry_symlink(e)) {
                cleanup_free char *dir = image_dirname(want);

                if (image_path_join(dir, archive_entry_symlink(e), &next) < 0)
                    next = NULL;
            } else if (archive_entry_filetype(e) == AE_IFREG) {
                if (size)
                    *size = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
                *out = a;
                return 0;
            }
            if (!next) {
                archive_read_free(a);
                return err_set(err, 0, "member \"%s\" is not a regular file", want);
            }
            break;
        }
        if (!next) {
            if (r == ARCHIVE_EOF)
                err_set(err, 0, "no member \"%s\" in the archive", want);
            else
                err_set(err, 0, "read archive: %s", archive_error_string(a));
            archive_read_free(a);
            return -1;
        }
        archive_read_free(a);
        free(want);
        want = next;
    }
    return err_set(err, 0, "member \"%s\": too many levels of links", member);
}

static int
image_tar_read_member(const char *tar, const char *member, size_t max, char **data, size_t *len,
                      struct vmirs_err **err)
{
    struct archive *a = NULL;
    cleanup_free char *buf = NULL;
    size_t n = 0, cap;
    int64_t size;

    if (image_tar_open_member(tar, member, &a, &size, err) < 0)
        return -1;
    if (size > (int64_t) max) {
        archive_read_free(a);
        return err_set(err, 0, "member \"%s\" is larger than %zu bytes", member, max);
    }
    /* The header's size is only a hint; the loop still stops at max. */
    cap = (size >= 0 ? (size_t) size : 4096) + 1;
    buf = xmalloc(cap);
    for (;;) {
        la_ssize_t r;

        if (n + 1 >= cap) {
            cap = cap * 2 > max + 2 ? max + 2 : cap * 2;
            buf = xrealloc(buf, cap);
        }
        r = archive_read_data(a, buf + n, cap - 1 - n);

        if (r < 0) {
            err_set(err, 0, "read member \"%s\": %s", member, archive_error_string(a));
            archive_read_free(a);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t) r;
        if (n > max) {
            archive_read_free(a);
            return err_set(err, 0, "member \"%s\" is larger than %zu bytes", member, max);
        }
    }
    archive_read_free(a);
    buf[n] = '\0';
    *data = steal_ptr(&buf);
    *len = n;
    return 0;
}

/* The digest a member's name promises: "blobs/sha256/<hex>" (docker 25 and
 * later), "<hex>.json" or "<hex>.tar" (older docker, podman, skopeo). Older
 * docker's "<id>/layer.tar" names a v1 id, not content, and promises nothing. */
static char *
image_member_digest(const char *name)
{
    size_t n = strlen(name);

    if (n == 13 + 64 && strncmp(name, "blobs/sha256/", 13) == 0 &&
        image_is_lower_hex(name + 13, 64))
        return xasprintf("sha256:%s", name + 13);
    if (((n == 64 + 5 && strcmp(name + 64, ".json") == 0) ||
         (n == 64 + 4 && strcmp(name + 64, ".tar") == 0)) &&
        image_is_lower_hex(name, 64))
        return xasprintf("sha256:%.64s", name);
    return NULL;
}

/* A member path named in manifest.json, checked and cleaned. */
static int
image_archive_path(json_t *v, const char *what, char **out, struct vmirs_err **err)
{
    if (!json_is_string(v))
        return err_set(err, 0, "%s is not a string", what);
    if (image_path_clean(json_string_value(v), false, out) != IMAGE_CLEAN_OK || !**out) {
        free(*out);
        *out = NULL;
        return err_set(err, 0, "%s \"%s\" is not a path inside the archive", what,
                       json_string_value(v));
    }
    return 0;
}

/* 1 with *entry set when a manifest.json entry's RepoTags name want, 0 when
 * none does, -1 when the archive or its manifest.json cannot be read. */
int
image_archive_find(const char *tar, const struct image_ref *want, json_t **entry,
                   struct vmirs_err **err)
{
    cleanup_free char *data = NULL;
    cleanup_free char *want_str = image_ref_string(want);
    size_t len, i, j;
    json_t *m;
    int r = 0;

    if (image_tar_read_member(tar, "manifest.json", IMAGE_JSON_MAX, &data, &len, err) < 0)
        return -1;
    m = image_json_parse(data, len, "manifest.json", err);
    if (!m)
        return -1;
    if (!json_is_array(m)) {
        json_decref(m);
        return err_set(err, 0, "manifest.json is not an array");
    }
    for (i = 0; i < json_array_size(m) && r >= 0; i++) {
        json_t *e = json_array_get(m, i), *tags, *layers;
        cleanup_free char *what = xasprintf("manifest.json[%zu]", i);
        cleanup_free char *cfg = NULL;

        if (!json_is_object(e)) {
            r = err_set(err, 0, "%s is not an object", what);
            break;
        }
        tags = json_object_get(e, "RepoTags");
        layers = json_object_get(e, "Layers");
        if (tags && !json_is_null(tags) && !json_is_array(tags)) {
            r = err_set(err, 0, "%s: \"RepoTags\" is not an array", what);
            break;
        }
        if (!json_is_array(layers) || json_array_size(layers) == 0) {
            r = err_set(err, 0, "%s: \"Layers\" is not a non-empty array", what);
            break;
        }
        {
            cleanup_free char *cwhat = xasprintf("%s: \"Config\"", what);

            if (image_archive_path(json_object_get(e, "Config"), cwhat, &cfg, err) < 0) {
                r = -1;
                break;
            }
        }
        for (j = 0; j < json_array_size(layers); j++) {
            cleanup_free char *lwhat = xasprintf("%s: \"Layers\"[%zu]", what, j);
            cleanup_free char *lp = NULL;

            if (image_archive_path(json_array_get(layers, j), lwhat, &lp, err) < 0) {
                r = -1;
                break;
            }
        }
        for (j = 0; r >= 0 && json_is_array(tags) && j < json_array_size(tags); j++) {
            json_t *t = json_array_get(tags, j);
            struct image_ref have;
            cleanup_free char *have_str = NULL;

            if (!json_is_string(t)) {
                r = err_set(err, 0, "%s: \"RepoTags\"[%zu] is not a string", what, j);
                break;
            }
            /* A digest names a registry manifest, which an archive does not
             * keep; so digest references never match here. A tag that is no
             * reference names nothing, as for OCI annotations. */
            if (*entry || want->digest || image_ref_parse(json_string_value(t), &have, NULL) < 0)
                continue;
            have_str = image_ref_string(&have);
            image_ref_clear(&have);
            if (strcmp(have_str, want_str) == 0) {
                *entry = json_incref(e);
                r = 1;
            }
        }
    }
    json_decref(m);
    if (r < 0 && *entry) {
        json_decref(*entry);
        *entry = NULL;
    }
    return r < 0 ? -1 : (*entry ? 1 : 0);
}

int
image_archive_load(struct image_src *src, struct vmirs_err **err)
{
    json_t *layers = json_object_get(src->entry, "Layers"), *config = NULL, *rootfs, *diff_ids;
    cleanup_free char *cfg = NULL;
    cleanup_free char *data = NULL;
    cleanup_free char *promised = NULL;
    char got[IMAGE_DIGEST_LEN + 1];
    size_t len, i;
    int r = -1;

    if (image_archive_path(json_object_get(src->entry, "Config"), "\"Config\"", &cfg, err) < 0 ||
        image_tar_read_member(src->where, cfg, IMAGE_JSON_MAX, &data, &len, err) < 0 ||
        image_sha256_buf(data, len, got, err) < 0)
        return -1;
    promised = image_member_digest(cfg);
    if (promised && strcmp(promised, got) != 0)
        return err_set(err, 0, "config \"%s\": digest does not match its content", cfg);
    config = image_json_parse(data, len, cfg, err);
    if (!config)
        return -1;
    if (!json_is_object(config)) {
        err_set(err, 0, "config \"%s\" is not an object", cfg);
        goto out;
    }
    rootfs = json_object_get(config, "rootfs");
    diff_ids = json_is_object(rootfs) ? json_object_get(rootfs, "diff_ids") : NULL;
    if (rootfs && !json_is_object(rootfs)) {
        err_set(err, 0, "config \"%s\": \"rootfs\" is not an object", cfg);
        goto out;
    }
    if (diff_ids && !json_is_array(diff_ids)) {
        err_set(err, 0, "config \"%s\": \"rootfs.diff_ids\" is not an array", cfg);
        goto out;
    }
    if (diff_ids && json_array_size(diff_ids) != json_array_size(layers)) {
        err_set(err, 0, "config \"%s\" lists %zu diff_ids for %zu layers", cfg,
                json_array_size(diff_ids), json_array_size(layers));
        goto out;
    }
    src->n_layers = json_array_size(layers);
    src->layers = xcalloc(src->n_layers, sizeof(*src->layers));
    for (i = 0; i < src->n_layers; i++) {
        struct image_layer *l = &src->layers[i];

        if (image_archive_path(json_array_get(layers, i), "\"Layers\"", &l->member, err) < 0)
            goto out;
        l->label = xasprintf("layer \"%s\"", l->member);
        l->digest = image_member_digest(l->member);
        l->size = -1;
        if (diff_ids) {
            json_t *d = json_array_get(diff_ids, i);

            if (!json_is_string(d) || !image_digest_valid(json_string_value(d))) {
                err_set(err, 0, "config \"%s\": rootfs.diff_ids[%zu] is not a sha256 digest", cfg,
                        i);
                goto out;
            }
            l->diff_id = xstrdup(json_string_value(d));
        }
    }
    src->digest = xstrdup(got);
    r = 0;
out:
    json_decref(config);
    return r;
}
