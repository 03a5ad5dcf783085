#include "config.h"

#include "image.h"

#include "err.h"
#include "util.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* The OCI distribution spec lets registries refuse manifests over 4 MiB; the
 * same bound keeps an untrusted index.json or manifest.json from making us
 * allocate without limit. */
#define IMAGE_JSON_MAX ((size_t) 4 << 20)
#define IMAGE_BUF_SIZE ((size_t) 128 << 10)
/* As Linux's MAXSYMLINKS. */
#define IMAGE_SYMLINK_MAX 40
/* docker save links a layer shared by several images to its first copy. */
#define IMAGE_MEMBER_LINK_MAX 8
#define IMAGE_DIGEST_LEN 71 /* "sha256:" + 64 hex digits */
#define IMAGE_REF_NAME_MAX 255

#define ANN_REF_NAME "org.opencontainers.image.ref.name"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

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

/* How many disks were extracted (not reused from the cache). The tests read
 * it to prove that the cache and the lock work; nothing else does. */
STATIC unsigned long image_extractions;

/* ---- Small helpers ---- */

static bool
image_is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* "sha256:" and 64 lower-case hex digits: the only digest vmirsd can check. */
static bool
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

static int
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

static uint32_t
image_be32(const unsigned char *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static uint64_t
image_be64(const unsigned char *p)
{
    return (uint64_t) image_be32(p) << 32 | image_be32(p + 4);
}

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

enum image_clean { IMAGE_CLEAN_OK, IMAGE_CLEAN_ABSOLUTE, IMAGE_CLEAN_DOTDOT };

/* Turn a path written in an archive or an image into "a/b/c": empty and "."
 * components go, ".." is refused rather than resolved, because in an
 * archive it can only be an attempt to write outside the tree. */
static enum image_clean
image_path_clean(const char *raw, bool allow_absolute, char **out)
{
    cleanup_free char *buf = xmalloc(strlen(raw) + 1);
    size_t o = 0;
    const char *p = raw;

    if (raw[0] == '/' && !allow_absolute)
        return IMAGE_CLEAN_ABSOLUTE;
    while (*p) {
        const char *c = p;
        size_t n;

        while (*p && *p != '/')
            p++;
        n = (size_t) (p - c);
        while (*p == '/')
            p++;
        if (n == 0 || (n == 1 && c[0] == '.'))
            continue;
        if (n == 2 && c[0] == '.' && c[1] == '.')
            return IMAGE_CLEAN_DOTDOT;
        if (o)
            buf[o++] = '/';
        memcpy(buf + o, c, n);
        o += n;
    }
    buf[o] = '\0';
    *out = steal_ptr(&buf);
    return IMAGE_CLEAN_OK;
}

/* Where a symlink at dir/<name> pointing to target lands, lexically, with an
 * absolute target taken from the image root as inside the container; -1 when
 * ".." climbs above that root. */
static int
image_path_join(const char *dir, const char *target, char **out)
{
    size_t cap = strlen(dir) + strlen(target) + 2, o = 0;
    cleanup_free char *buf = xmalloc(cap);
    const char *p = target;

    if (target[0] != '/') {
        o = strlen(dir);
        memcpy(buf, dir, o);
    }
    while (*p) {
        const char *c = p;
        size_t n;

        while (*p && *p != '/')
            p++;
        n = (size_t) (p - c);
        while (*p == '/')
            p++;
        if (n == 0 || (n == 1 && c[0] == '.'))
            continue;
        if (n == 2 && c[0] == '.' && c[1] == '.') {
            if (o == 0)
                return -1;
            while (o > 0 && buf[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
            continue;
        }
        if (o)
            buf[o++] = '/';
        memcpy(buf + o, c, n);
        o += n;
    }
    buf[o] = '\0';
    *out = steal_ptr(&buf);
    return 0;
}

static char *
image_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? xstrndup(path, (size_t) (slash - path)) : xstrdup("");
}

static int
image_fsync_dir(const char *dir, struct vmirs_err **err)
{
    cleanup_close int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0 || fsync(fd) < 0)
        return err_set(err, errno, "sync directory %s", dir);
    return 0;
}

/* ---- JSON from the image (a trust boundary: every field is checked) ---- */

static json_t *
image_json_parse(const char *data, size_t len, const char *what, struct vmirs_err **err)
{
    json_error_t jerr;
    json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);

    if (!j)
        err_set(err, 0, "%s: invalid JSON: %s (line %d)", what, jerr.text, jerr.line);
    return j;
}

/* Read a small JSON file that must be a regular file of at most max bytes. */
static json_t *
image_json_file(const char *path, const char *what, size_t max, struct vmirs_err **err)
{
    cleanup_free char *data = NULL;
    size_t len;
    struct stat st;

    if (stat(path, &st) < 0) {
        err_set(err, errno, "read %s", what);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        err_set(err, 0, "%s is not a regular file", what);
        return NULL;
    }
    if ((uint64_t) st.st_size > max) {
        err_set(err, 0, "%s is larger than %zu bytes", what, max);
        return NULL;
    }
    if (read_file(path, &data, &len) < 0) {
        err_set(err, errno, "read %s", what);
        return NULL;
    }
    return image_json_parse(data, len, what, err);
}

/* The string member key of obj: NULL without error when it is absent and
 * optional. */
static int
image_json_str(json_t *obj, const char *key, bool required, const char *what, const char **out,
               struct vmirs_err **err)
{
    json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (!v) {
        if (!required)
            return 0;
        return err_set(err, 0, "%s: missing \"%s\"", what, key);
    }
    if (!json_is_string(v))
        return err_set(err, 0, "%s: \"%s\" is not a string", what, key);
    *out = json_string_value(v);
    return 0;
}

static int
image_json_schema_version(json_t *obj, const char *what, struct vmirs_err **err)
{
    json_t *v = json_object_get(obj, "schemaVersion");

    if (!json_is_integer(v) || json_integer_value(v) != 2)
        return err_set(err, 0, "%s: \"schemaVersion\" is not 2", what);
    return 0;
}

/* An OCI content descriptor: what the image says a blob is. */
struct image_desc {
    char *media_type;
    char *digest;
    int64_t size;
};

static void
image_desc_clear(struct image_desc *d)
{
    free(d->media_type);
    free(d->digest);
    memset(d, 0, sizeof(*d));
}

static int
image_desc_parse(json_t *j, const char *what, struct image_desc *d, struct vmirs_err **err)
{
    const char *mt, *digest;
    json_t *size = json_object_get(j, "size");

    memset(d, 0, sizeof(*d));
    if (!json_is_object(j))
        return err_set(err, 0, "%s is not an object", what);
    if (image_json_str(j, "mediaType", true, what, &mt, err) < 0 ||
        image_json_str(j, "digest", true, what, &digest, err) < 0)
        return -1;
    if (!image_digest_valid(digest))
        return err_set(err, 0, "%s: digest \"%s\" is not a sha256 digest", what, digest);
    if (!json_is_integer(size) || json_integer_value(size) < 0)
        return err_set(err, 0, "%s: \"size\" is not a non-negative integer", what);
    d->media_type = xstrdup(mt);
    d->digest = xstrdup(digest);
    d->size = json_integer_value(size);
    return 0;
}

/* ---- References, normalised as docker's ParseNormalizedNamed + TagNameOnly ---- */

struct image_ref {
    char *name;   /* "docker.io/library/cirros" */
    char *tag;    /* "latest", or NULL with a digest only */
    char *digest; /* "sha256:...", or NULL */
};

static void
image_ref_clear(struct image_ref *r)
{
    free(r->name);
    free(r->tag);
    free(r->digest);
    memset(r, 0, sizeof(*r));
}

static char *
image_ref_string(const struct image_ref *r)
{
    return xasprintf("%s%s%s%s%s", r->name, r->tag ? ":" : "", r->tag ? r->tag : "",
                     r->digest ? "@" : "", r->digest ? r->digest : "");
}

static bool
image_ref_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool
image_ref_alnum(char c)
{
    return image_ref_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* path-component := [a-z0-9]+ (separator [a-z0-9]+)*; separator := [_.] | "__" | "-"+ */
static bool
image_ref_path_component_ok(const char *s, size_t n)
{
    size_t i = 0;

    if (n == 0 || !image_ref_lower_alnum(s[0]))
        return false;
    while (i < n) {
        size_t j = i;

        if (image_ref_lower_alnum(s[i])) {
            i++;
            continue;
        }
        if (s[i] == '.') {
            j++;
        } else if (s[i] == '_') {
            j++;
            if (j < n && s[j] == '_')
                j++;
        } else if (s[i] == '-') {
            while (j < n && s[j] == '-')
                j++;
        } else {
            return false;
        }
        if (j >= n || !image_ref_lower_alnum(s[j]))
            return false;
        i = j;
    }
    return true;
}

/* domain := component ("." component)* [":" port]; component := alnum ([alnum-]* alnum)? */
static bool
image_ref_domain_ok(const char *s, size_t n)
{
    const char *colon = memchr(s, ':', n);
    size_t host = colon ? (size_t) (colon - s) : n;
    size_t i = 0;

    if (colon) {
        size_t p = host + 1;

        if (p == n)
            return false;
        for (; p < n; p++)
            if (s[p] < '0' || s[p] > '9')
                return false;
    }
    while (i < host) {
        size_t j = i;

        while (j < host && s[j] != '.')
            j++;
        if (j == i || !image_ref_alnum(s[i]) || !image_ref_alnum(s[j - 1]))
            return false;
        for (size_t k = i; k < j; k++)
            if (!image_ref_alnum(s[k]) && s[k] != '-')
                return false;
        if (j < host && j + 1 == host)
            return false;
        i = j + 1;
    }
    return host > 0;
}

/* tag := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127} */
static bool
image_ref_tag_ok(const char *s, size_t n)
{
    if (n == 0 || n > 128 || !(image_ref_alnum(s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!image_ref_alnum(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
            return false;
    return true;
}

/* Split and normalise s; the messages are docker's own. */
static int
image_ref_parse(const char *s, struct image_ref *r, struct vmirs_err **err)
{
    size_t len = strlen(s), nlen, dlen;
    const char *at = strchr(s, '@'), *name_end, *slash, *colon, *rest, *p;
    cleanup_free char *domain = NULL;
    cleanup_free char *path = NULL;
    bool defaulted;

    memset(r, 0, sizeof(*r));
    if (len == 0)
        return err_set(err, 0, "repository name must have at least one component");
    if (len == 64 && image_is_lower_hex(s, 64))
        return err_set(err, 0, "cannot specify 64-byte hexadecimal strings");
    name_end = at ? at : s + len;
    if (at) {
        const char *d = at + 1;

        if (strncmp(d, "sha256:", 7) != 0 && strchr(d, ':') && !strchr(d, '@'))
            return err_set(err, 0, "unsupported digest algorithm");
        if (!image_digest_valid(d))
            return err_set(err, 0, "invalid digest format");
        r->digest = xstrdup(d);
    }
    nlen = (size_t) (name_end - s);
    slash = memrchr(s, '/', nlen);
    colon = memrchr(s, ':', nlen);
    if (colon && (!slash || colon > slash)) {
        if (!image_ref_tag_ok(colon + 1, (size_t) (name_end - colon - 1)))
            goto bad_tag;
        r->tag = xstrndup(colon + 1, (size_t) (name_end - colon - 1));
        nlen = (size_t) (colon - s);
    }
    if (nlen == 0)
        goto bad;

    /* A first component that looks like a host (a dot, a port, "localhost"
     * or an upper-case letter) is the registry; otherwise it is Docker Hub. */
    slash = memchr(s, '/', nlen);
    dlen = slash ? (size_t) (slash - s) : 0;
    defaulted = !slash;
    if (slash && !memchr(s, '.', dlen) && !memchr(s, ':', dlen) &&
        !(dlen == 9 && memcmp(s, "localhost", 9) == 0)) {
        defaulted = true;
        for (size_t i = 0; i < dlen; i++)
            if (s[i] >= 'A' && s[i] <= 'Z')
                defaulted = false;
    }
    if (defaulted) {
        domain = xstrdup("docker.io");
        rest = s;
    } else {
        if (!image_ref_domain_ok(s, dlen))
            goto bad;
        domain = xstrndup(s, dlen);
        rest = slash + 1;
        if (strcmp(domain, "index.docker.io") == 0) {
            free(domain);
            domain = xstrdup("docker.io");
        }
    }
    path = xstrndup(rest, (size_t) (s + nlen - rest));
    for (p = path; *p; p++)
        if (*p >= 'A' && *p <= 'Z') {
            image_ref_clear(r);
            return err_set(err, 0, "repository name must be lowercase");
        }
    if (strcmp(domain, "docker.io") == 0 && !strchr(path, '/')) {
        char *lib = xasprintf("library/%s", path);

        free(path);
        path = lib;
    }
    for (p = path;;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t) (e - p) : strlen(p);

        if (!image_ref_path_component_ok(p, n))
            goto bad;
        if (!e)
            break;
        p = e + 1;
    }
    r->name = xasprintf("%s/%s", domain, path);
    if (strlen(r->name) > IMAGE_REF_NAME_MAX) {
        image_ref_clear(r);
        return err_set(err, 0, "repository name must not be more than %d characters",
                       IMAGE_REF_NAME_MAX);
    }
    if (!r->tag && !r->digest)
        r->tag = xstrdup("latest");
    return 0;

bad_tag:
    image_ref_clear(r);
    return err_set(err, 0, "invalid tag format");
bad:
    image_ref_clear(r);
    return err_set(err, 0, "invalid reference format");
}

int
image_ref_normalize(const char *ref, char **out, struct vmirs_err **err)
{
    struct image_ref r;

    if (image_ref_parse(ref, &r, err) < 0)
        return err_wrap(err, "parse image reference \"%s\"", ref);
    *out = image_ref_string(&r);
    image_ref_clear(&r);
    return 0;
}

/* ---- Blobs: read once, hashed while libarchive streams them ---- */

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

static void
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

static struct image_blob *
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
static int
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

static int
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

/* ---- OCI image layouts ---- */

static char *
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
static int
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

static void
image_src_clear(struct image_src *s)
{
    for (size_t i = 0; i < s->n_layers; i++) {
        free(s->layers[i].label);
        free(s->layers[i].digest);
        free(s->layers[i].member);
        free(s->layers[i].diff_id);
    }
    free(s->layers);
    free(s->where);
    free(s->digest);
    image_desc_clear(&s->top);
    json_decref(s->entry);
    memset(s, 0, sizeof(*s));
}

static int
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

/* ---- docker-archive tars ---- */

/* Open the archive and position it on member's data, following links
 * between members as docker save writes for a layer shared by two images. */
static int
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
static int
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

static int
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

/* ---- Layers ---- */

struct image_layer_stream {
    struct image_blob *blob;
    struct archive *a;
    const struct image_layer *layer;
};

static void
image_layer_abort(struct image_layer_stream *ls)
{
    if (ls->a)
        archive_read_free(ls->a);
    ls->a = NULL;
    image_blob_free(ls->blob);
    ls->blob = NULL;
}

static int
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
static int
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
static int
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

static int
image_layer_read_error(struct image_layer_stream *ls, struct vmirs_err **err)
{
    const char *msg = archive_error_string(ls->a);

    err_set(err, 0, "read %s: %s", ls->layer->label, msg ? msg : "error");
    return image_layer_fail(ls, err);
}

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

static void
image_view_free(struct image_view *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free(v->nodes[i].path);
        free(v->nodes[i].target);
    }
    free(v->nodes);
    free(v->slots);
    memset(v, 0, sizeof(*v));
}

static size_t
image_view_hash(const char *s)
{
    size_t h = 14695981039346656037u;

    for (; *s; s++)
        h = (h ^ (unsigned char) *s) * 1099511628211u;
    return h;
}

static struct image_node *
image_view_get(const struct image_view *v, const char *path)
{
    if (!v->nslots)
        return NULL;
    for (size_t i = image_view_hash(path) & (v->nslots - 1);; i = (i + 1) & (v->nslots - 1)) {
        if (!v->slots[i])
            return NULL;
        if (strcmp(v->nodes[v->slots[i] - 1].path, path) == 0)
            return &v->nodes[v->slots[i] - 1];
    }
}

/* The live node at path, or NULL. */
static struct image_node *
image_view_live(const struct image_view *v, const char *path)
{
    struct image_node *n = image_view_get(v, path);

    return n && !n->gone ? n : NULL;
}

static void
image_view_slot(struct image_view *v, size_t idx)
{
    size_t i = image_view_hash(v->nodes[idx].path) & (v->nslots - 1);

    while (v->slots[i])
        i = (i + 1) & (v->nslots - 1);
    v->slots[i] = idx + 1;
}

/* The node at path, created when new; pointers into the view die here. */
static struct image_node *
image_view_put(struct image_view *v, const char *path)
{
    struct image_node *n = image_view_get(v, path);

    if (n)
        return n;
    if ((v->n + 1) * 2 > v->nslots) {
        free(v->slots);
        v->nslots = v->nslots ? v->nslots * 2 : 64;
        v->slots = xcalloc(v->nslots, sizeof(*v->slots));
        for (size_t i = 0; i < v->n; i++)
            image_view_slot(v, i);
    }
    v->nodes = xgrow(v->nodes, &v->cap, v->n, sizeof(*v->nodes));
    n = &v->nodes[v->n];
    memset(n, 0, sizeof(*n));
    n->path = xstrdup(path);
    n->gone = true;
    image_view_slot(v, v->n++);
    return n;
}

static bool
image_path_under(const char *path, const char *dir)
{
    size_t dl = strlen(dir);

    return dl == 0 || (strncmp(path, dir, dl) == 0 && path[dl] == '/');
}

/* Remove what lower layers put at dir's descendants (and at dir itself when
 * self), for whiteouts and for a directory replaced by a file. */
static void
image_view_hide(struct image_view *v, const char *dir, bool self, size_t below_layer)
{
    for (size_t i = 0; i < v->n; i++) {
        struct image_node *n = &v->nodes[i];

        if (n->layer < below_layer &&
            (image_path_under(n->path, dir) || (self && strcmp(n->path, dir) == 0)))
            n->gone = true;
    }
}

/* Record entry number idx of layer li in the view, refusing what could
 * write or point outside the image. */
static int
image_view_add(struct image_view *v, size_t li, size_t idx, struct archive_entry *e,
               const char *label, struct vmirs_err **err)
{
    const char *raw = archive_entry_pathname(e), *hl = archive_entry_hardlink(e), *base;
    cleanup_free char *path = NULL;
    cleanup_free char *dir = NULL;
    struct image_node *n, *old;
    enum image_node_type type;
    size_t data_layer = li, data_index = idx;
    int64_t size = archive_entry_size(e);

    if (!raw)
        return err_set(err, 0, "%s: entry %zu has no readable name", label, idx);
    switch (image_path_clean(raw, false, &path)) {
    case IMAGE_CLEAN_ABSOLUTE:
        return err_set(err, 0, "%s: entry \"%s\" has an absolute path", label, raw);
    case IMAGE_CLEAN_DOTDOT:
        return err_set(err, 0, "%s: entry \"%s\" has a \"..\" component", label, raw);
    case IMAGE_CLEAN_OK:
        break;
    }
    if (!*path)
        return 0;
    dir = image_dirname(path);
    base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (strncmp(base, ".wh.", 4) == 0) {
        if (strcmp(base, ".wh..wh..opq") == 0) {
            image_view_hide(v, dir, false, li);
        } else {
            cleanup_free char *victim =
                *dir ? xasprintf("%s/%s", dir, base + 4) : xstrdup(base + 4);

            image_view_hide(v, victim, true, li);
        }
        return 0;
    }
    if (hl) {
        cleanup_free char *target = NULL;

        if (image_path_clean(hl, false, &target) != IMAGE_CLEAN_OK)
            return err_set(err, 0, "%s: hard link \"%s\" -> \"%s\" leaves the layer", label, raw,
                           hl);
        /* The link shares its source's bytes; copy where they are now,
         * before image_view_put() may move the nodes. */
        old = image_view_live(v, target);
        type = old && old->type == NODE_REG ? NODE_REG : NODE_OTHER;
        if (type == NODE_REG) {
            data_layer = old->data_layer;
            data_index = old->data_index;
            size = old->size;
        }
    } else {
        switch (archive_entry_filetype(e)) {
        case AE_IFDIR:
            type = NODE_DIR;
            break;
        case AE_IFREG:
            type = NODE_REG;
            break;
        case AE_IFLNK: {
            const char *t = archive_entry_symlink(e);
            cleanup_free char *landing = NULL;

            if (!t)
                return err_set(err, 0, "%s: symlink \"%s\" has no readable target", label, raw);
            if (image_path_join(dir, t, &landing) < 0)
                return err_set(err, 0, "%s: symlink \"%s\" -> \"%s\" leaves the layer", label, raw,
                               t);
            type = NODE_SYMLINK;
            break;
        }
        default:
            type = NODE_OTHER;
            break;
        }
    }
    old = image_view_live(v, path);
    if (old && old->type == NODE_DIR && type != NODE_DIR)
        image_view_hide(v, path, false, SIZE_MAX);
    n = image_view_put(v, path);
    free(n->target);
    n->target = type == NODE_SYMLINK ? xstrdup(archive_entry_symlink(e)) : NULL;
    n->type = type;
    n->gone = false;
    n->layer = li;
    n->data_layer = data_layer;
    n->data_index = data_index;
    n->size = size;
    return 0;
}

/* Follow symlinks along path in the merged view as the kernel would inside
 * the container; *out is NULL when nothing is there. */
static int
image_view_resolve(const struct image_view *v, const char *path, char **resolved,
                   const struct image_node **out, struct vmirs_err **err)
{
    cleanup_free char *rest = xstrdup(path);
    cleanup_free char *cur = xstrdup("");
    const char *p = rest;
    int hops = 0;

    *out = NULL;
    while (*p) {
        const char *c = p;
        size_t n;
        const struct image_node *node;
        cleanup_free char *cand = NULL;

        while (*p && *p != '/')
            p++;
        n = (size_t) (p - c);
        while (*p == '/')
            p++;
        if (n == 0 || (n == 1 && c[0] == '.'))
            continue;
        if (n == 2 && c[0] == '.' && c[1] == '.') {
            char *slash = strrchr(cur, '/');

            if (!*cur)
                return err_set(err, 0, "\"/%s\" leaves the image", path);
            if (slash)
                *slash = '\0';
            else
                cur[0] = '\0';
            continue;
        }
        cand = *cur ? xasprintf("%s/%.*s", cur, (int) n, c) : xstrndup(c, n);
        node = image_view_live(v, cand);
        if (node && node->type == NODE_SYMLINK) {
            char *next;

            if (++hops > IMAGE_SYMLINK_MAX)
                return err_set(err, 0, "\"/%s\": too many levels of symbolic links", path);
            next = xasprintf("%s/%s", node->target, p);
            if (node->target[0] == '/')
                cur[0] = '\0';
            free(rest);
            rest = next;
            p = rest;
            continue;
        }
        if (*p && node && node->type != NODE_DIR)
            return 0;
        free(cur);
        cur = steal_ptr(&cand);
    }
    *out = image_view_live(v, cur);
    if (resolved)
        *resolved = steal_ptr(&cur);
    return 0;
}

struct image_pick {
    char *display; /* "/disk/disk.qcow2", for messages */
    size_t layer, index;
    int64_t size;
};

static int
image_path_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The disk: path_in_image (already cleaned, relative) or the one file
 * directly under /disk/. */
static int
image_pick_disk(const struct image_view *v, const char *path_in_image, struct image_pick *pick,
                struct vmirs_err **err)
{
    const struct image_node *node;
    cleanup_free char *chosen = NULL;

    if (path_in_image) {
        chosen = xasprintf("/%s", path_in_image);
    } else {
        cleanup_free char *dir = NULL;
        char **names = NULL;
        size_t count = 0, cap = 0, dl;

        if (image_view_resolve(v, "disk", &dir, &node, err) < 0)
            return -1;
        dl = strlen(dir);
        for (size_t i = 0; i < v->n; i++) {
            const struct image_node *n = &v->nodes[i];

            const char *rel = dl ? n->path + dl + 1 : n->path;

            if (n->gone || n->type == NODE_DIR || !image_path_under(n->path, dir) ||
                strchr(rel, '/'))
                continue;
            names = xgrow(names, &cap, count, sizeof(*names));
            names[count++] = xasprintf("/disk/%s", rel);
        }
        if (count == 0) {
            free(names);
            return err_set(err, 0, "no disk file under /disk/");
        }
        qsort(names, count, sizeof(*names), image_path_cmp);
        if (count > 1) {
            size_t len = 0;
            cleanup_free char *list = NULL;

            for (size_t i = 0; i < count; i++)
                len += strlen(names[i]) + 4;
            list = xmalloc(len + 1);
            list[0] = '\0';
            for (size_t i = 0; i < count; i++) {
                if (i)
                    strcat(list, ", ");
                strcat(list, "\"");
                strcat(list, names[i]);
                strcat(list, "\"");
                free(names[i]);
            }
            free(names);
            return err_set(err, 0,
                           "several files under /disk/: %s; set the containerDisk path to pick one",
                           list);
        }
        chosen = names[0];
        free(names);
    }
    if (image_view_resolve(v, chosen + 1, NULL, &node, err) < 0)
        return -1;
    if (!node)
        return err_set(err, 0, "no file \"%s\" in the image", chosen);
    if (node->type != NODE_REG)
        return err_set(err, 0, "\"%s\" in the image is not a regular file", chosen);
    pick->display = steal_ptr(&chosen);
    pick->layer = node->data_layer;
    pick->index = node->data_index;
    pick->size = node->size;
    return 0;
}

/* Read every layer in order into the view, checking each blob. */
static int
image_scan_layers(const struct image_src *src, struct image_view *v, struct vmirs_err **err)
{
    for (size_t li = 0; li < src->n_layers; li++) {
        struct image_layer_stream ls;
        struct archive_entry *e;
        size_t idx = 0;
        int r;

        if (image_layer_open(src, li, &ls, err) < 0)
            return -1;
        while ((r = archive_read_next_header(ls.a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
            if (image_view_add(v, li, idx++, e, src->layers[li].label, err) < 0)
                return image_layer_fail(&ls, err);
        }
        if (r != ARCHIVE_EOF)
            return image_layer_read_error(&ls, err);
        if (image_layer_close(&ls, err) < 0)
            return -1;
    }
    return 0;
}

/* ---- Extraction and the cache ---- */

static const char *const image_format_names[] = {
    [DISK_FORMAT_RAW] = "raw",
    [DISK_FORMAT_QCOW2] = "qcow2",
};

const char *
image_disk_format_name(enum disk_format f)
{
    return (size_t) f < ARRAY_SIZE(image_format_names) ? image_format_names[f] : "raw";
}

/* Reading two fields of the qcow2 header (QEMU's docs/interop/qcow2.txt) is
 * all it takes to enforce KubeVirt's rule that a containerDisk is
 * self-contained; `qemu-img info` would cost a process per image for the same
 * answer. Anything without the qcow2 magic is raw, as KubeVirt would see it. */
static int
image_detect_format(int fd, uint64_t size, const char *display, enum disk_format *fmt,
                    uint64_t *vsize, struct vmirs_err **err)
{
    unsigned char h[32];
    uint32_t version;

    *fmt = DISK_FORMAT_RAW;
    *vsize = size;
    if (size < 4)
        return 0;
    if (pread(fd, h, size < sizeof(h) ? (size_t) size : sizeof(h), 0) < 4)
        return err_set(err, errno, "read \"%s\"", display);
    if (memcmp(h, "QFI\xfb", 4) != 0)
        return 0;
    if (size < 72)
        return err_set(err, 0, "qcow2 disk \"%s\" has a truncated header", display);
    version = image_be32(h + 4);
    if (version != 2 && version != 3)
        return err_set(err, 0, "qcow2 disk \"%s\" has unsupported version %" PRIu32, display,
                       version);
    if (image_be64(h + 8) != 0)
        return err_set(err, 0,
                       "qcow2 disk \"%s\" has a backing file; containerDisks must be "
                       "self-contained",
                       display);
    *fmt = DISK_FORMAT_QCOW2;
    *vsize = image_be64(h + 24);
    return 0;
}

static int
image_write_at(int fd, const void *buf, size_t n, int64_t off)
{
    const char *p = buf;

    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t) off);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t) w;
        off += w;
    }
    return 0;
}

struct image_cached {
    enum disk_format format;
    uint64_t virtual_size;
};

static int
image_cache_write_meta(const char *meta, const struct image_cached *c, uint64_t size,
                       struct vmirs_err **err)
{
    json_t *j = json_pack("{s:s, s:I, s:I}", "format", image_disk_format_name(c->format),
                          "virtual_size", (json_int_t) c->virtual_size, "size", (json_int_t) size);
    cleanup_free char *s = j ? json_dumps(j, JSON_SORT_KEYS) : NULL;
    int r = 0;

    json_decref(j);
    if (!s)
        return err_set(err, 0, "encode %s", meta);
    if (write_file_atomic(meta, s, strlen(s), 0444) < 0)
        r = err_set(err, errno, "write %s", meta);
    return r;
}

/* Whether disk and its metadata are complete; anything odd is a miss, and
 * the disk is extracted again. */
static bool
image_cache_lookup(const char *disk, const char *meta, struct image_cached *c)
{
    json_t *j = image_json_file(meta, meta, 4096, NULL);
    json_t *vs = json_object_get(j, "virtual_size"), *sz = json_object_get(j, "size");
    const char *f = json_string_value(json_object_get(j, "format"));
    struct stat st;
    bool ok = false;

    if (j && f && json_is_integer(vs) && json_integer_value(vs) >= 0 && json_is_integer(sz) &&
        stat(disk, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == json_integer_value(sz)) {
        ok = true;
        if (strcmp(f, "qcow2") == 0)
            c->format = DISK_FORMAT_QCOW2;
        else if (strcmp(f, "raw") == 0)
            c->format = DISK_FORMAT_RAW;
        else
            ok = false;
        c->virtual_size = (uint64_t) json_integer_value(vs);
    }
    json_decref(j);
    return ok;
}

/* Temporary files left by a crashed extraction; only called under the lock. */
static void
image_cache_sweep(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (!d)
        return;
    while ((e = readdir(d)))
        if (e->d_name[0] == '.' && str_has_suffix(e->d_name, ".tmp"))
            unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
}

/* Stream the picked entry into a temporary file, check the layer's digest to
 * the end, then publish it read-only with its metadata. */
static int
image_extract(const struct image_src *src, const struct image_pick *pick, const char *dir,
              const char *disk, const char *meta, struct image_cached *c, struct vmirs_err **err)
{
    cleanup_free char *tmp = xasprintf("%s/.disk.XXXXXX.tmp", dir);
    cleanup_close int fd = -1;
    struct image_layer_stream ls;
    struct archive_entry *e;
    const void *buf;
    size_t len, idx = 0;
    la_int64_t off;
    int r;

    __atomic_fetch_add(&image_extractions, 1, __ATOMIC_RELAXED);
    fd = mkstemps(tmp, 4);
    if (fd < 0)
        return err_set(err, errno, "create %s", tmp);
    if (image_layer_open(src, pick->layer, &ls, err) < 0)
        goto fail;
    while ((r = archive_read_next_header(ls.a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN)
        if (idx++ == pick->index)
            break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
        if (r == ARCHIVE_EOF) {
            image_layer_abort(&ls);
            err_set(err, 0, "%s changed while it was read", src->layers[pick->layer].label);
        } else {
            image_layer_read_error(&ls, err);
        }
        goto fail;
    }
    if (archive_entry_hardlink(e) || archive_entry_filetype(e) != AE_IFREG ||
        archive_entry_size(e) != pick->size) {
        image_layer_abort(&ls);
        err_set(err, 0, "%s changed while it was read", src->layers[pick->layer].label);
        goto fail;
    }
    /* Blocks with offsets keep a sparse raw disk sparse in the cache. */
    while ((r = archive_read_data_block(ls.a, &buf, &len, &off)) == ARCHIVE_OK ||
           r == ARCHIVE_WARN) {
        if (image_write_at(fd, buf, len, off) < 0) {
            err_set(err, errno, "write %s", tmp);
            image_layer_abort(&ls);
            goto fail;
        }
    }
    if (r != ARCHIVE_EOF) {
        image_layer_read_error(&ls, err);
        goto fail;
    }
    if (ftruncate(fd, (off_t) pick->size) < 0) {
        err_set(err, errno, "write %s", tmp);
        image_layer_abort(&ls);
        goto fail;
    }
    if (image_layer_close(&ls, err) < 0)
        goto fail;
    if (image_detect_format(fd, (uint64_t) pick->size, pick->display, &c->format, &c->virtual_size,
                            err) < 0)
        goto fail;
    if (fchmod(fd, 0444) < 0 || fsync(fd) < 0) {
        err_set(err, errno, "write %s", tmp);
        goto fail;
    }
    if (close(fd) < 0) {
        fd = -1;
        err_set(err, errno, "write %s", tmp);
        goto fail;
    }
    fd = -1;
    if (rename(tmp, disk) < 0) {
        err_set(err, errno, "rename %s to %s", tmp, disk);
        goto fail;
    }
    if (image_fsync_dir(dir, err) < 0 ||
        image_cache_write_meta(meta, c, (uint64_t) pick->size, err) < 0 ||
        image_fsync_dir(dir, err) < 0)
        return -1;
    return 0;
fail:
    unlink(tmp);
    return -1;
}

static int
image_mkdir(const char *dir, struct vmirs_err **err)
{
    cleanup_free char *failed = NULL;

    /* Parents too: the cache may be the first thing made in state_dir. */
    if (mkdir_parents(dir, 0755, &failed) < 0)
        return err_set(err, errno, "create directory %s", failed);
    return 0;
}

/* Give out the cached disk, extracting it first when it is not there. The
 * lock is per image digest: requests for one image wait for the one
 * extraction, requests for others go ahead. */
static int
image_disk_prepare(const struct image_src *src, const char *cache_dir, const char *path_in_image,
                   struct image_disk *out, struct vmirs_err **err)
{
    const char *hex = src->digest + 7;
    cleanup_free char *dir = xasprintf("%s/%s", cache_dir, hex);
    cleanup_free char *lock = xasprintf("%s/%s.lock", cache_dir, hex);
    cleanup_free char *clean = NULL;
    cleanup_free char *stem = NULL;
    cleanup_free char *disk = NULL;
    cleanup_free char *meta = NULL;
    cleanup_close int lfd = -1;
    struct image_view view = {0};
    struct image_pick pick = {0};
    struct image_cached c = {0};
    int r;

    /* One image can hold several disks picked by `path`, so an explicit
     * path gets a file of its own, named by a hash of the cleaned path. */
    if (path_in_image) {
        char pd[IMAGE_DIGEST_LEN + 1];

        if (path_in_image[0] != '/')
            return err_set(err, 0, "containerDisk path \"%s\" is not absolute", path_in_image);
        if (image_path_clean(path_in_image, true, &clean) != IMAGE_CLEAN_OK)
            return err_set(err, 0, "containerDisk path \"%s\" has a \"..\" component",
                           path_in_image);
        if (!*clean)
            return err_set(err, 0, "containerDisk path \"%s\" names no file", path_in_image);
        if (image_sha256_buf(clean, strlen(clean), pd, err) < 0)
            return -1;
        stem = xasprintf("path-%.16s", pd + 7);
    } else {
        stem = xstrdup("disk");
    }
    disk = xasprintf("%s/%s.img", dir, stem);
    meta = xasprintf("%s/%s.json", dir, stem);
    if (image_mkdir(cache_dir, err) < 0 || image_mkdir(dir, err) < 0)
        return -1;
    lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lfd < 0)
        return err_set(err, errno, "open %s", lock);
    /* flock() locks belong to the open file description, so two threads of
     * this process exclude each other as two processes do. */
    while ((r = flock(lfd, LOCK_EX)) < 0 && errno == EINTR)
        ;
    if (r < 0)
        return err_set(err, errno, "lock %s", lock);
    /* Two passes over the layers: which entry is the disk is known only once
     * every layer is read (a later one may replace or white it out, and
     * "several files" needs the whole of /disk/), and keeping every candidate
     * on the side would cost more than decompressing one layer again. */
    if (!image_cache_lookup(disk, meta, &c)) {
        image_cache_sweep(dir);
        r = image_scan_layers(src, &view, err);
        if (r == 0)
            r = image_pick_disk(&view, clean, &pick, err);
        if (r == 0)
            r = image_extract(src, &pick, dir, disk, meta, &c, err);
        image_view_free(&view);
        free(pick.display);
        if (r < 0)
            return -1;
    }
    out->path = steal_ptr(&disk);
    out->digest = xstrdup(src->digest);
    out->format = c.format;
    out->virtual_size = c.virtual_size;
    return 0;
}

/* ---- Finding the image ---- */

struct image_scan {
    const struct image_ref *want;
    size_t n_oci, n_archives, n_bad;
    char *first_bad;
};

static void
image_scan_bad(struct image_scan *s, const char *where, struct vmirs_err **e)
{
    if (s->n_bad++ == 0)
        s->first_bad = xasprintf("%s: %s", where, *e ? (*e)->msg : "error");
    err_free(e);
}

static int
image_scan_oci(struct image_scan *s, const char *layout, struct image_src *src)
{
    struct vmirs_err *e = NULL;
    struct image_desc d = {0};
    int r;

    s->n_oci++;
    r = image_oci_find(layout, s->want, &d, &e);
    if (r < 0)
        image_scan_bad(s, layout, &e);
    if (r <= 0)
        return 0;
    src->kind = IMAGE_SRC_OCI;
    src->where = xstrdup(layout);
    src->top = d;
    return 1;
}

static int
image_scan_archive(struct image_scan *s, const char *tar, struct image_src *src)
{
    struct vmirs_err *e = NULL;
    json_t *entry = NULL;
    int r;

    s->n_archives++;
    r = image_archive_find(tar, s->want, &entry, &e);
    if (r < 0)
        image_scan_bad(s, tar, &e);
    if (r <= 0)
        return 0;
    src->kind = IMAGE_SRC_ARCHIVE;
    src->where = xstrdup(tar);
    src->entry = entry;
    return 1;
}

static bool
image_is_layout(const char *dir)
{
    cleanup_free char *p = xasprintf("%s/oci-layout", dir);

    return access(p, F_OK) == 0;
}

/* Look in image_dir itself, then in its entries by name: the first layout or
 * archive that lists the image wins. A source that cannot be read is
 * skipped, so one broken image does not hide the others, but the not-found
 * message reports it. */
static int
image_find(const char *image_dir, const struct image_ref *want, const char *nref,
           struct image_src *src, struct vmirs_err **err)
{
    struct image_scan s = {.want = want};
    struct dirent **names = NULL;
    int n, found = 0;

    if (image_is_layout(image_dir))
        found = image_scan_oci(&s, image_dir, src);
    n = found ? 0 : scandir(image_dir, &names, NULL, alphasort);
    if (n < 0)
        return err_set(err, errno, "image \"%s\" not found: read directory %s", nref, image_dir);
    for (int i = 0; i < n; i++) {
        cleanup_free char *path = xasprintf("%s/%s", image_dir, names[i]->d_name);
        struct stat st;

        if (!found && names[i]->d_name[0] != '.' && stat(path, &st) == 0) {
            if (S_ISDIR(st.st_mode) && image_is_layout(path))
                found = image_scan_oci(&s, path, src);
            else if (S_ISREG(st.st_mode) && str_has_suffix(names[i]->d_name, ".tar"))
                found = image_scan_archive(&s, path, src);
        }
        free(names[i]);
    }
    free(names);
    if (!found) {
        cleanup_free char *bad =
            s.n_bad == 0   ? xstrdup("")
            : s.n_bad == 1 ? xasprintf("; skipped 1 unreadable: %s", s.first_bad)
                           : xasprintf("; skipped %zu unreadable, first: %s", s.n_bad, s.first_bad);

        err_set(err, 0,
                "image \"%s\" not found in %s "
                "(searched %zu OCI layout%s and %zu docker archive%s%s)",
                nref, image_dir, s.n_oci, s.n_oci == 1 ? "" : "s", s.n_archives,
                s.n_archives == 1 ? "" : "s", bad);
    }
    free(s.first_bad);
    return found ? 0 : -1;
}

int
image_resolve(const char *image_dir, const char *cache_dir, const char *ref,
              const char *path_in_image, struct image_disk *out, struct vmirs_err **err)
{
    struct image_ref want;
    struct image_src src = {0};
    cleanup_free char *nref = NULL;
    int r;

    memset(out, 0, sizeof(*out));
    if (image_ref_parse(ref, &want, err) < 0)
        return err_wrap(err, "image \"%s\" in %s: invalid reference", ref, image_dir);
    nref = image_ref_string(&want);
    r = image_find(image_dir, &want, nref, &src, err);
    image_ref_clear(&want);
    if (r < 0)
        return -1;
    r = src.kind == IMAGE_SRC_OCI ? image_oci_load(&src, err) : image_archive_load(&src, err);
    if (r == 0)
        r = image_disk_prepare(&src, cache_dir, path_in_image, out, err);
    if (r < 0) {
        err_wrap(err, "image \"%s\" in %s", nref, src.where);
        image_src_clear(&src);
        image_disk_free(out);
        return -1;
    }
    image_src_clear(&src);
    out->ref = steal_ptr(&nref);
    return 0;
}

void
image_disk_free(struct image_disk *d)
{
    if (!d)
        return;
    free(d->ref);
    free(d->digest);
    free(d->path);
    memset(d, 0, sizeof(*d));
}

int
image_probe_disk(const char *path, enum disk_format *fmt, uint64_t *virtual_size,
                 struct vmirs_err **err)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;

    if (fd < 0)
        return err_set(err, errno, "open \"%s\"", path);
    if (fstat(fd, &st) < 0)
        return err_set(err, errno, "stat \"%s\"", path);
    if (!S_ISREG(st.st_mode))
        return err_set(err, 0, "\"%s\" is not a regular file", path);
    return image_detect_format(fd, (uint64_t) st.st_size, path, fmt, virtual_size, err);
}
