/* Digests, and blobs read once and hashed while libarchive streams
 * them: an OCI blob file or a docker-archive member, and the layers
 * read through them. Runs on a worker thread (image_resolve). */
#include "config.h"

#include "image_int.h"

#include "err.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- Digests ---- */

bool
image_is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* "sha256:" and 64 lower-case hex digits: the only digest vmirsd can check. */
bool
image_digest_valid(const char *d)
{
    return strncmp(d, "sha256:", 7) == 0 && strlen(d) == IMAGE_DIGEST_LEN &&
           image_is_lower_hex(d + 7, 64);
}

static void
image_digest_format(const unsigned char raw[32], char out[IMAGE_DIGEST_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";

    memcpy(out, "sha256:", 7);
    for (size_t i = 0; i < 32; i++) {
        out[7 + 2 * i] = hex[raw[i] >> 4];
        out[8 + 2 * i] = hex[raw[i] & 15];
    }
    out[IMAGE_DIGEST_LEN] = '\0';
}

int
image_sha256_buf(const void *data, size_t len, char out[IMAGE_DIGEST_LEN + 1],
                 struct vmirs_err **err)
{
    unsigned char raw[32];
    int r = gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, raw);

    if (r < 0)
        return err_set(err, 0, "sha256: %s", gnutls_strerror(r));
    image_digest_format(raw, out);
    return 0;
}

/* ---- Blobs: read once, hashed while libarchive streams them ---- */

void
image_blob_free(struct image_blob *b)
{
    if (!b)
        return;
    if (b->hashing)
        gnutls_hash_deinit(b->hash, NULL);
    if (b->fd >= 0)
        close(b->fd);
    if (b->outer)
        archive_read_free(b->outer);
    free(b->read_error);
    free(b);
}

struct image_blob *
image_blob_new(struct vmirs_err **err)
{
    struct image_blob *b = xcalloc(1, sizeof(*b));
    int r;

    b->fd = -1;
    r = gnutls_hash_init(&b->hash, GNUTLS_DIG_SHA256);
    if (r < 0) {
        err_set(err, 0, "sha256: %s", gnutls_strerror(r));
        image_blob_free(b);
        return NULL;
    }
    b->hashing = true;
    return b;
}

static ssize_t
image_blob_read(struct image_blob *b, const void **data)
{
    ssize_t n;

    if (b->outer) {
        n = archive_read_data(b->outer, b->buf, sizeof(b->buf));
        if (n < 0) {
            const char *e = archive_error_string(b->outer);

            b->read_errno = archive_errno(b->outer) > 0 ? archive_errno(b->outer) : EIO;
            free(b->read_error);
            b->read_error = xstrdup(e ? e : "read error");
            return -1;
        }
    } else {
        do
            n = read(b->fd, b->buf, sizeof(b->buf));
        while (n < 0 && errno == EINTR);
        if (n < 0) {
            b->read_errno = errno;
            return -1;
        }
    }
    if (n > 0) {
        gnutls_hash(b->hash, b->buf, (size_t) n);
        b->nread += (uint64_t) n;
    }
    *data = b->buf;
    return n;
}

static la_ssize_t
image_blob_archive_read(struct archive *a, void *client, const void **buf)
{
    struct image_blob *b = client;
    ssize_t n = image_blob_read(b, buf);

    if (n < 0) {
        if (b->read_error)
            archive_set_error(a, b->read_errno, "%s", b->read_error);
        else
            archive_set_error(a, b->read_errno, "read: %s", strerror(b->read_errno));
        return -1;
    }
    return n;
}

/* Read what libarchive left unread (tar padding, the rest of a layer after
 * the disk) so that the digest covers the whole blob. */
int
image_blob_finish(struct image_blob *b, const char *label, char digest[IMAGE_DIGEST_LEN + 1],
                  struct vmirs_err **err)
{
    unsigned char raw[32];
    const void *p;
    ssize_t n;

    while ((n = image_blob_read(b, &p)) > 0)
        ;
    if (n < 0) {
        if (b->read_error)
            return err_set(err, 0, "read %s: %s", label, b->read_error);
        return err_set(err, b->read_errno, "read %s", label);
    }
    gnutls_hash_output(b->hash, raw);
    image_digest_format(raw, digest);
    return 0;
}

int
image_blob_check(const char *label, const char *want_digest, int64_t want_size,
                 const char *got_digest, uint64_t got_size, struct vmirs_err **err)
{
    if (want_size >= 0 && got_size != (uint64_t) want_size)
        return err_set(err, 0, "%s: size %" PRIu64 " does not match the descriptor's %" PRId64,
                       label, got_size, want_size);
    if (want_digest && strcmp(want_digest, got_digest) != 0)
        return err_set(err, 0, "%s: digest does not match its content", label);
    return 0;
}

/* ---- Layers ---- */

void
image_layer_abort(struct image_layer_stream *ls)
{
    if (ls->a)
        archive_read_free(ls->a);
    ls->a = NULL;
    image_blob_free(ls->blob);
    ls->blob = NULL;
}

int
image_layer_open(const struct image_src *src, size_t li, struct image_layer_stream *ls,
                 struct vmirs_err **err)
{
    const struct image_layer *l = &src->layers[li];

    memset(ls, 0, sizeof(*ls));
    ls->layer = l;
    ls->blob = image_blob_new(err);
    if (!ls->blob)
        return -1;
    if (src->kind == IMAGE_SRC_OCI) {
        cleanup_free char *path = image_oci_blob_path(src->where, l->digest);

        ls->blob->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (ls->blob->fd < 0) {
            err_set(err, errno, "read %s", l->label);
            image_layer_abort(ls);
            return -1;
        }
    } else if (image_tar_open_member(src->where, l->member, &ls->blob->outer, NULL, err) < 0) {
        image_layer_abort(ls);
        return -1;
    }
    ls->a = archive_read_new();
    /* Layers are tar, compressed or not whatever the media type claims:
     * libarchive sniffs the filter from the bytes. */
    archive_read_support_filter_all(ls->a);
    archive_read_support_format_tar(ls->a);
    if (archive_read_open(ls->a, ls->blob, NULL, image_blob_archive_read, NULL) != ARCHIVE_OK) {
        err_set(err, 0, "read %s: %s", l->label, archive_error_string(ls->a));
        image_layer_abort(ls);
        return -1;
    }
    return 0;
}

/* Finish reading the layer and check its digest, size and (for an
 * uncompressed docker-archive layer) diff_id. */
int
image_layer_close(struct image_layer_stream *ls, struct vmirs_err **err)
{
    const struct image_layer *l = ls->layer;
    bool uncompressed = archive_filter_code(ls->a, 0) == ARCHIVE_FILTER_NONE;
    char got[IMAGE_DIGEST_LEN + 1];
    int r;

    archive_read_free(ls->a);
    ls->a = NULL;
    r = image_blob_finish(ls->blob, l->label, got, err);
    if (r == 0)
        r = image_blob_check(l->label, l->digest, l->size, got, ls->blob->nread, err);
    if (r == 0 && l->diff_id && uncompressed && strcmp(l->diff_id, got) != 0)
        r = err_set(err, 0, "%s: content does not match diff_id %s", l->label, l->diff_id);
    image_layer_abort(ls);
    return r;
}

/* A layer that cannot be parsed, or holds a refused entry, may just be
 * corrupt: finish reading it and, when its digest disagrees too, report that
 * instead, since garbage can decompress into any entry name. */
int
image_layer_fail(struct image_layer_stream *ls, struct vmirs_err **err)
{
    struct vmirs_err *verr = NULL;

    if (image_layer_close(ls, &verr) < 0 && err) {
        err_free(err);
        *err = verr;
        return -1;
    }
    err_free(&verr);
    return -1;
}

int
image_layer_read_error(struct image_layer_stream *ls, struct vmirs_err **err)
{
    const char *msg = archive_error_string(ls->a);

    err_set(err, 0, "read %s: %s", ls->layer->label, msg ? msg : "error");
    return image_layer_fail(ls, err);
}
