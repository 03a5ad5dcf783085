#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include "err.h"
#include "image.h"
#include "util.h"

#include <archive.h>
#include <archive_entry.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <pthread.h>

/* image.c's count of extractions, visible under -DUNITTESTS. */
extern unsigned long image_extractions;

#define REF "localhost/vmirs-test-guest:latest"
#define MT_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_LAYER_TAR "application/vnd.oci.image.layer.v1.tar"
#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define QCOW2_VSIZE ((uint64_t) 1 << 30)

/* ---- Fixtures, built here with libarchive's writer and jansson ---- */

enum fx_type { FX_FILE, FX_DIR, FX_SYMLINK, FX_HARDLINK };

struct fx_entry {
    const char *name;
    enum fx_type type;
    const void *data; /* FX_FILE */
    size_t len;
    const char *target; /* FX_SYMLINK, FX_HARDLINK */
};

struct fx_layer {
    const struct fx_entry *e;
    size_t n;
    bool gzip;
};

struct fx {
    char *root;
    char *images;
    char *cache;
};

static unsigned char qcow2[512];
static unsigned char qcow2_backing[512];
static unsigned char raw_disk[8192];

static void
fx_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) (v >> 24);
    p[1] = (unsigned char) (v >> 16);
    p[2] = (unsigned char) (v >> 8);
    p[3] = (unsigned char) v;
}

static void
fx_be64(unsigned char *p, uint64_t v)
{
    fx_be32(p, (uint32_t) (v >> 32));
    fx_be32(p + 4, (uint32_t) v);
}

/* A qcow2 v3 header (QEMU docs/interop/qcow2.txt), optionally naming a
 * backing file right after it. */
static void
fx_qcow2(unsigned char *h, size_t len, bool backing)
{
    memset(h, 0, len);
    memcpy(h, "QFI\xfb", 4);
    fx_be32(h + 4, 3);
    if (backing) {
        fx_be64(h + 8, 112);
        fx_be32(h + 16, 8);
        memcpy(h + 112, "base.img", 8);
    }
    fx_be32(h + 20, 16);          /* cluster_bits: 64 KiB */
    fx_be64(h + 24, QCOW2_VSIZE); /* size */
    fx_be64(h + 40, 0x30000);     /* l1_table_offset */
    fx_be64(h + 48, 0x10000);     /* refcount_table_offset */
    fx_be32(h + 56, 1);           /* refcount_table_clusters */
    fx_be32(h + 96, 4);           /* refcount_order */
    fx_be32(h + 100, 104);        /* header_length */
}

static int
fx_group_setup(void **state)
{
    fx_qcow2(qcow2, sizeof(qcow2), false);
    fx_qcow2(qcow2_backing, sizeof(qcow2_backing), true);
    for (size_t i = 0; i < sizeof(raw_disk); i++)
        raw_disk[i] = (unsigned char) (i * 7 + 1);
    return 0;
}

static int
fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->root = tmpdir_make();
    assert_true(asprintf(&f->images, "%s/images", f->root) > 0);
    assert_true(asprintf(&f->cache, "%s/cache", f->root) > 0);
    assert_int_equal(mkdir(f->images, 0755), 0);
    *state = f;
    return 0;
}

static int
fx_teardown(void **state)
{
    struct fx *f = *state;

    tmpdir_remove(f->root);
    free(f->images);
    free(f->cache);
    free(f);
    return 0;
}

static char *
fx_printf(const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;

    va_start(ap, fmt);
    assert_true(vasprintf(&s, fmt, ap) > 0);
    va_end(ap);
    return s;
}

static char *
fx_sha256(const void *data, size_t len)
{
    unsigned char raw[32];
    char *s = malloc(72);

    assert_non_null(s);
    assert_int_equal(gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, raw), 0);
    strcpy(s, "sha256:");
    for (size_t i = 0; i < 32; i++)
        sprintf(s + 7 + 2 * i, "%02x", raw[i]);
    return s;
}

static void
fx_write(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");

    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static void *
fx_tar(const struct fx_entry *entries, size_t n, bool gzip, size_t *len)
{
    size_t cap = 64 << 10, used = 0;
    struct archive *a = archive_write_new();
    char *buf;

    for (size_t i = 0; i < n; i++)
        cap += entries[i].len + 2048;
    buf = malloc(cap);
    assert_non_null(buf);
    assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    if (gzip)
        assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();

        archive_entry_set_pathname(e, entries[i].name);
        archive_entry_set_mtime(e, 0, 0);
        archive_entry_set_uid(e, 107);
        archive_entry_set_gid(e, 107);
        switch (entries[i].type) {
        case FX_FILE:
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_perm(e, 0440);
            archive_entry_set_size(e, (la_int64_t) entries[i].len);
            break;
        case FX_DIR:
            archive_entry_set_filetype(e, AE_IFDIR);
            archive_entry_set_perm(e, 0555);
            break;
        case FX_SYMLINK:
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_set_perm(e, 0777);
            archive_entry_set_symlink(e, entries[i].target);
            break;
        case FX_HARDLINK:
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_perm(e, 0440);
            archive_entry_set_hardlink(e, entries[i].target);
            archive_entry_set_size(e, 0);
            break;
        }
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        if (entries[i].type == FX_FILE && entries[i].len)
            assert_int_equal(archive_write_data(a, entries[i].data, entries[i].len),
                             (la_ssize_t) entries[i].len);
        archive_entry_free(e);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    *len = used;
    return buf;
}

/* Write data as a blob of the layout; returns its digest. */
static char *
fx_blob(const char *layout, const void *data, size_t len)
{
    char *d = fx_sha256(data, len);
    char *p = fx_printf("%s/blobs/sha256/%s", layout, d + 7);

    fx_write(p, data, len);
    free(p);
    return d;
}

/* Dump j (stolen) as a blob; returns its digest and sets *len. */
static char *
fx_json_blob(const char *layout, json_t *j, size_t *len)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    char *d;

    assert_non_null(s);
    json_decref(j);
    *len = strlen(s);
    d = fx_blob(layout, s, *len);
    free(s);
    return d;
}

static void
fx_json_file(const char *path, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

    assert_non_null(s);
    json_decref(j);
    fx_write(path, s, strlen(s));
    free(s);
}

/* index.json listing one descriptor, with ref_name as its ref.name. */
static void
fx_index(const char *layout, const char *mt, const char *digest, size_t len, const char *ref_name)
{
    json_t *desc =
        json_pack("{s:s, s:s, s:I}", "mediaType", mt, "digest", digest, "size", (json_int_t) len);
    char *path = fx_printf("%s/index.json", layout);

    assert_non_null(desc);
    if (ref_name)
        json_object_set_new(desc, "annotations",
                            json_pack("{s:s}", "org.opencontainers.image.ref.name", ref_name));
    fx_json_file(path, json_pack("{s:i, s:[o]}", "schemaVersion", 2, "manifests", desc));
    free(path);
}

/* An OCI image layout at dir; returns the manifest digest, and the first
 * layer's digest in *layer0 when asked. */
static char *
fx_oci(const char *dir, const char *ref_name, const struct fx_layer *layers, size_t nl,
       char **layer0)
{
    json_t *descs = json_array(), *diffs = json_array(), *config, *manifest;
    char *p, *cd, *md;
    size_t clen, mlen;

    assert_true(mkdir(dir, 0755) == 0 || errno == EEXIST);
    p = fx_printf("%s/blobs", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    free(p);
    p = fx_printf("%s/blobs/sha256", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    free(p);
    for (size_t i = 0; i < nl; i++) {
        size_t len;
        void *tar = fx_tar(layers[i].e, layers[i].n, layers[i].gzip, &len);
        char *d = fx_blob(dir, tar, len);
        char *diff = fx_sha256(tar, len);

        json_array_append_new(descs, json_pack("{s:s, s:s, s:I}", "mediaType",
                                               layers[i].gzip ? MT_LAYER_GZIP : MT_LAYER_TAR,
                                               "digest", d, "size", (json_int_t) len));
        json_array_append_new(diffs, json_string(diff));
        if (i == 0 && layer0)
            *layer0 = strdup(d);
        free(diff);
        free(d);
        free(tar);
    }
    config = json_pack("{s:s, s:s, s:{s:s, s:o}}", "architecture", "amd64", "os", "linux", "rootfs",
                       "type", "layers", "diff_ids", diffs);
    cd = fx_json_blob(dir, config, &clen);
    manifest = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2, "mediaType",
                         MT_MANIFEST, "config", "mediaType", MT_CONFIG, "digest", cd, "size",
                         (json_int_t) clen, "layers", descs);
    assert_non_null(manifest);
    md = fx_json_blob(dir, manifest, &mlen);
    fx_index(dir, MT_MANIFEST, md, mlen, ref_name);
    p = fx_printf("%s/oci-layout", dir);
    fx_json_file(p, json_pack("{s:s}", "imageLayoutVersion", "1.0.0"));
    free(p);
    free(cd);
    return md;
}

/* images/<name> as an OCI layout with one layer. */
static char *
fx_oci1(const struct fx *f, const char *name, const char *ref_name, const struct fx_entry *e,
        size_t n, bool gzip, char **layer0)
{
    struct fx_layer l = {e, n, gzip};
    char *dir = fx_printf("%s/%s", f->images, name);
    char *md = fx_oci(dir, ref_name, &l, 1, layer0);

    free(dir);
    return md;
}

enum fx_tamper { FX_TAMPER_NONE, FX_TAMPER_CONFIG, FX_TAMPER_LAYER };

/* A docker-archive at path: the legacy layout of docker save (<id>.json,
 * <id>/layer.tar) or, with blobs, docker 25's blobs/sha256/<hex>. Returns
 * the config digest (before any tampering). */
static char *
fx_archive(const char *path, const char *tag, const struct fx_layer *layers, size_t nl, bool blobs,
           enum fx_tamper tamper)
{
    struct fx_entry members[8];
    char *names[8], *datas[8];
    size_t lens[8], nm = 0;
    json_t *diffs = json_array(), *lnames = json_array(), *config, *manifest;
    char *cs, *cd, *ms, *out;
    size_t len;

    assert_true(nl < 6);
    for (size_t i = 0; i < nl; i++) {
        char *tar = fx_tar(layers[i].e, layers[i].n, false, &lens[nm]);
        char *d = fx_sha256(tar, lens[nm]);

        json_array_append_new(diffs, json_string(d));
        names[nm] = blobs ? fx_printf("blobs/sha256/%s", d + 7) : fx_printf("%s/layer.tar", d + 7);
        json_array_append_new(lnames, json_string(names[nm]));
        if (tamper == FX_TAMPER_LAYER)
            tar[lens[nm] - 1] ^= 1;
        datas[nm++] = tar;
        free(d);
    }
    config = json_pack("{s:s, s:s, s:{s:s, s:o}}", "architecture", "amd64", "os", "linux", "rootfs",
                       "type", "layers", "diff_ids", diffs);
    assert_non_null(config);
    cs = json_dumps(config, JSON_COMPACT);
    json_decref(config);
    assert_non_null(cs);
    cd = fx_sha256(cs, strlen(cs));
    if (tamper == FX_TAMPER_CONFIG)
        memcpy(strstr(cs, "amd64"), "arm64", 5);
    names[nm] = blobs ? fx_printf("blobs/sha256/%s", cd + 7) : fx_printf("%s.json", cd + 7);
    lens[nm] = strlen(cs);
    datas[nm++] = cs;
    manifest = json_pack("[{s:s, s:[s], s:o}]", "Config", names[nm - 1], "RepoTags", tag, "Layers",
                         lnames);
    assert_non_null(manifest);
    ms = json_dumps(manifest, JSON_COMPACT);
    json_decref(manifest);
    names[nm] = strdup("manifest.json");
    lens[nm] = strlen(ms);
    datas[nm++] = ms;
    for (size_t i = 0; i < nm; i++)
        members[i] = (struct fx_entry){names[i], FX_FILE, datas[i], lens[i], NULL};
    out = fx_tar(members, nm, false, &len);
    fx_write(path, out, len);
    free(out);
    for (size_t i = 0; i < nm; i++) {
        free(names[i]);
        free(datas[i]);
    }
    return cd;
}

/* Resolve and expect the exact error message. */
static void
fx_expect_error(const struct fx *f, const char *ref, const char *path, const char *msg)
{
    struct image_disk d;
    struct vmirs_err *err = NULL;

    assert_int_equal(image_resolve(f->images, f->cache, ref, path, &d, &err), -1);
    assert_non_null(err);
    assert_string_equal(err->msg, msg);
    assert_null(d.path);
    assert_null(d.ref);
    err_free(&err);
}

static void
fx_expect_ok(const struct fx *f, const char *ref, const char *path, struct image_disk *d)
{
    struct vmirs_err *err = NULL;
    int r = image_resolve(f->images, f->cache, ref, path, d, &err);

    if (r < 0)
        fail_msg("image_resolve: %s", err->msg);
    assert_null(err);
}

static void
fx_assert_content(const char *path, const void *data, size_t len)
{
    char *got = NULL;
    size_t n;
    struct stat st;

    assert_int_equal(read_file(path, &got, &n), 0);
    assert_int_equal(n, len);
    assert_memory_equal(got, data, len);
    free(got);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0444);
}

static const struct fx_entry *
fx_std_layer(size_t *n)
{
    static struct fx_entry e[2];

    e[0] = (struct fx_entry){"disk/", FX_DIR, NULL, 0, NULL};
    e[1] = (struct fx_entry){"disk/disk.qcow2", FX_FILE, qcow2, sizeof(qcow2), NULL};
    *n = 2;
    return e;
}

/* ---- Tests ---- */

static void
test_normalize(void **state)
{
    static const char d64[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    static const struct {
        const char *in, *out;
    } ok[] = {
        {"cirros", "docker.io/library/cirros:latest"},
        {"library/cirros", "docker.io/library/cirros:latest"},
        {"docker.io/cirros:1.0", "docker.io/library/cirros:1.0"},
        {"index.docker.io/cirros", "docker.io/library/cirros:latest"},
        {"kubevirt/cirros", "docker.io/kubevirt/cirros:latest"},
        {"quay.io/kubevirt/cirros-container-disk-demo:latest",
         "quay.io/kubevirt/cirros-container-disk-demo:latest"},
        {"localhost:5000/x", "localhost:5000/x:latest"},
        {"localhost/x:1", "localhost/x:1"},
        {"registry:5000/a/b", "registry:5000/a/b:latest"},
        {"Foo/bar", "Foo/bar:latest"},
        {"a__b/c-d--e.f_g:V1.2_x-y", "docker.io/a__b/c-d--e.f_g:V1.2_x-y"},
    };
    static const struct {
        const char *in, *msg;
    } bad[] = {
        {"", "parse image reference \"\": repository name must have at least one component"},
        {"Cirros", "parse image reference \"Cirros\": repository name must be lowercase"},
        {"quay.io/KubeVirt/x",
         "parse image reference \"quay.io/KubeVirt/x\": repository name must be lowercase"},
        {"cirros:", "parse image reference \"cirros:\": invalid tag format"},
        {"cirros:-x", "parse image reference \"cirros:-x\": invalid tag format"},
        {"cirros@sha256:abc", "parse image reference \"cirros@sha256:abc\": invalid digest format"},
        {"cirros@md5:abc",
         "parse image reference \"cirros@md5:abc\": unsupported digest algorithm"},
        {"a/b/", "parse image reference \"a/b/\": invalid reference format"},
        {"a//b", "parse image reference \"a//b\": invalid reference format"},
        {"-a", "parse image reference \"-a\": invalid reference format"},
        {"a..b", "parse image reference \"a..b\": invalid reference format"},
        {"host:port/x", "parse image reference \"host:port/x\": invalid reference format"},
        {"my host/x", "parse image reference \"my host/x\": invalid reference format"},
    };
    struct vmirs_err *err = NULL;
    char *out = NULL, *in, *want, *msg, *longname;

    for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
        if (image_ref_normalize(ok[i].in, &out, &err) < 0)
            fail_msg("%s: %s", ok[i].in, err->msg);
        assert_string_equal(out, ok[i].out);
        free(out);
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        assert_int_equal(image_ref_normalize(bad[i].in, &out, &err), -1);
        assert_string_equal(err->msg, bad[i].msg);
        err_free(&err);
    }

    in = fx_printf("cirros@sha256:%s", d64);
    want = fx_printf("docker.io/library/cirros@sha256:%s", d64);
    assert_int_equal(image_ref_normalize(in, &out, &err), 0);
    assert_string_equal(out, want);
    free(out);
    free(in);
    free(want);
    in = fx_printf("quay.io/a/b:0.6@sha256:%s", d64);
    assert_int_equal(image_ref_normalize(in, &out, &err), 0);
    assert_string_equal(out, in);
    free(out);
    free(in);

    assert_int_equal(image_ref_normalize(d64, &out, &err), -1);
    msg =
        fx_printf("parse image reference \"%s\": cannot specify 64-byte hexadecimal strings", d64);
    assert_string_equal(err->msg, msg);
    free(msg);
    err_free(&err);

    longname = calloc(1, 300);
    assert_non_null(longname);
    memcpy(longname, "quay.io/", 8);
    memset(longname + 8, 'a', 250);
    assert_int_equal(image_ref_normalize(longname, &out, &err), -1);
    msg = fx_printf("parse image reference \"%s\": repository name must not be more than 255 "
                    "characters",
                    longname);
    assert_string_equal(err->msg, msg);
    free(msg);
    free(longname);
    err_free(&err);
}

static void
test_found_in_oci(void **state)
{
    struct fx *f = *state;
    size_t n;
    const struct fx_entry *e = fx_std_layer(&n);
    char *md = fx_oci1(f, "oci", REF, e, n, true, NULL);
    unsigned long before = image_extractions;
    struct image_disk d;
    char *path;

    fx_expect_ok(f, "localhost/vmirs-test-guest", NULL, &d);
    assert_string_equal(d.ref, REF);
    assert_string_equal(d.digest, md);
    path = fx_printf("%s/%s/disk.img", f->cache, md + 7);
    assert_string_equal(d.path, path);
    assert_int_equal(d.format, DISK_FORMAT_QCOW2);
    assert_string_equal(image_disk_format_name(d.format), "qcow2");
    assert_true(d.virtual_size == QCOW2_VSIZE);
    fx_assert_content(d.path, qcow2, sizeof(qcow2));
    assert_int_equal(image_extractions - before, 1);
    image_disk_free(&d);
    image_disk_free(&d);
    assert_null(d.path);
    free(path);
    free(md);
}

/* skopeo's oci:DIR:latest writes only the tag: the directory names the repository. */
static void
test_oci_tag_only(void **state)
{
    struct fx *f = *state;
    size_t n;
    const struct fx_entry *e = fx_std_layer(&n);
    char *md = fx_oci1(f, "cirros", "latest", e, n, false, NULL);
    struct image_disk d;
    char *msg;

    fx_expect_ok(f, "cirros", NULL, &d);
    assert_string_equal(d.ref, "docker.io/library/cirros:latest");
    assert_string_equal(d.digest, md);
    image_disk_free(&d);
    fx_expect_ok(f, "quay.io/kubevirt/cirros:latest", NULL, &d);
    image_disk_free(&d);
    msg = fx_printf("image \"docker.io/library/cirros:0.6\" not found in %s (searched 1 OCI "
                    "layout and 0 docker archives)",
                    f->images);
    fx_expect_error(f, "cirros:0.6", NULL, msg);
    free(msg);
    msg = fx_printf("image \"docker.io/library/other:latest\" not found in %s (searched 1 OCI "
                    "layout and 0 docker archives)",
                    f->images);
    fx_expect_error(f, "other", NULL, msg);
    free(msg);
    free(md);
}

/* image_dir may itself be a layout; digest references match its manifests. */
static void
test_image_dir_is_layout(void **state)
{
    struct fx *f = *state;
    size_t n;
    const struct fx_entry *e = fx_std_layer(&n);
    struct fx_layer l = {e, n, true};
    char *md = fx_oci(f->images, "docker.io/library/cirros:0.6", &l, 1, NULL);
    char *byd = fx_printf("cirros@%s", md);
    struct image_disk d;

    fx_expect_ok(f, "docker.io/library/cirros:0.6", NULL, &d);
    assert_string_equal(d.digest, md);
    image_disk_free(&d);
    fx_expect_ok(f, byd, NULL, &d);
    assert_string_equal(d.digest, md);
    image_disk_free(&d);
    free(byd);
    free(md);
}

static void
test_found_in_archive(void **state)
{
    struct fx *f = *state;
    size_t n;
    const struct fx_entry *e = fx_std_layer(&n);
    struct fx_layer l = {e, n, false};
    struct fx_entry raw[] = {{"disk/disk.img", FX_FILE, raw_disk, sizeof(raw_disk), NULL}};
    struct fx_layer lr = {raw, 1, false};
    char *tar = fx_printf("%s/vmirs-test-guest.tar", f->images);
    char *tar2 = fx_printf("%s/cirros.tar", f->images);
    char *cd = fx_archive(tar, REF, &l, 1, false, FX_TAMPER_NONE);
    char *cd2 = fx_archive(tar2, "cirros:0.6", &lr, 1, true, FX_TAMPER_NONE);
    unsigned long before = image_extractions;
    struct image_disk d;

    fx_expect_ok(f, REF, NULL, &d);
    assert_string_equal(d.ref, REF);
    assert_string_equal(d.digest, cd);
    assert_int_equal(d.format, DISK_FORMAT_QCOW2);
    assert_true(d.virtual_size == QCOW2_VSIZE);
    fx_assert_content(d.path, qcow2, sizeof(qcow2));
    image_disk_free(&d);

    fx_expect_ok(f, "docker.io/library/cirros:0.6", NULL, &d);
    assert_string_equal(d.digest, cd2);
    assert_int_equal(d.format, DISK_FORMAT_RAW);
    fx_assert_content(d.path, raw_disk, sizeof(raw_disk));
    image_disk_free(&d);
    assert_int_equal(image_extractions - before, 2);
    free(tar);
    free(tar2);
    free(cd);
    free(cd2);
}

/* docker save links a layer shared by two images to its first copy. */
static void
test_archive_member_link(void **state)
{
    struct fx *f = *state;
    struct fx_entry raw[] = {{"disk/disk.img", FX_FILE, raw_disk, sizeof(raw_disk), NULL}};
    size_t llen;
    char *layer = fx_tar(raw, 1, false, &llen);
    char *diff = fx_sha256(layer, llen);
    char *cs = fx_printf("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}", diff);
    char *cd = fx_sha256(cs, strlen(cs));
    char *cname = fx_printf("%s.json", cd + 7);
    char *ms = fx_printf("[{\"Config\":\"%s\",\"RepoTags\":[\"cirros:0.6\"],"
                         "\"Layers\":[\"b/layer.tar\"]}]",
                         cname);
    struct fx_entry members[] = {
        {"a/layer.tar", FX_FILE, layer, llen, NULL},
        {"b/layer.tar", FX_SYMLINK, NULL, 0, "../a/layer.tar"},
        {cname, FX_FILE, cs, strlen(cs), NULL},
        {"manifest.json", FX_FILE, ms, strlen(ms), NULL},
    };
    size_t len;
    char *tar = fx_tar(members, ARRAY_SIZE(members), false, &len);
    char *path = fx_printf("%s/cirros.tar", f->images);
    struct image_disk d;

    fx_write(path, tar, len);
    fx_expect_ok(f, "cirros:0.6", NULL, &d);
    assert_string_equal(d.digest, cd);
    fx_assert_content(d.path, raw_disk, sizeof(raw_disk));
    image_disk_free(&d);
    free(path);
    free(tar);
    free(ms);
    free(cname);
    free(cd);
    free(cs);
    free(diff);
    free(layer);
}

static void
test_not_found(void **state)
{
    struct fx *f = *state;
    size_t n;
    const struct fx_entry *e = fx_std_layer(&n);
    struct fx_layer l = {e, n, false};
    char *tar = fx_printf("%s/guest.tar", f->images);
    char *md = fx_oci1(f, "oci", REF, e, n, true, NULL);
    char *cd = fx_archive(tar, REF, &l, 1, false, FX_TAMPER_NONE);
    char *msg = fx_printf("image \"docker.io/library/cirros:latest\" not found in %s (searched 1 "
                          "OCI layout and 1 docker archive)",
                          f->images);
    char *other = fx_printf("%s/notes", f->images);
    char *missing = fx_printf("%s/missing", f->root);
    char *msg2;
    struct image_disk d;
    struct vmirs_err *err = NULL;

    /* Other files and directories are neither layouts nor archives. */
    assert_int_equal(mkdir(other, 0755), 0);
    free(write_tmpfile(f->images, "README", "not an image\n"));
    fx_expect_error(f, "cirros", NULL, msg);
    free(msg);

    /* Digest references never match a docker-archive. */
    msg = fx_printf("image \"localhost/vmirs-test-guest@%s\" not found in %s (searched 1 OCI "
                    "layout and 1 docker archive)",
                    cd, f->images);
    msg2 = fx_printf("localhost/vmirs-test-guest@%s", cd);
    fx_expect_error(f, msg2, NULL, msg);
    free(msg);
    free(msg2);

    msg = fx_printf("image \"Cirros\" in %s: invalid reference: repository name must be "
                    "lowercase",
                    f->images);
    fx_expect_error(f, "Cirros", NULL, msg);
    free(msg);

    assert_int_equal(image_resolve(missing, f->cache, "cirros", NULL, &d, &err), -1);
    msg = fx_printf("image \"docker.io/library/cirros:latest\" not found: read directory %s: No "
                    "such file or directory",
                    missing);
    assert_string_equal(err->msg, msg);
    err_free(&err);
    free(msg);
    free(missing);
    free(other);
    free(tar);
    free(md);
    free(cd);
}

/* A broken source is skipped, and the not-found message says so. */
static void
test_unreadable_sources(void **state)
{
    struct fx *f = *state;
    size_t n;
    const struct fx_entry *e = fx_std_layer(&n);
    char *md = fx_oci1(f, "good", REF, e, n, true, NULL);
    char *bad = fx_printf("%s/bad", f->images);
    char *p, *msg;
    struct image_disk d;

    assert_int_equal(mkdir(bad, 0755), 0);
    free(write_tmpfile(bad, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}"));
    free(write_tmpfile(bad, "index.json", "{\"schemaVersion\":2,\"manifests\":{}}"));
    free(write_tmpfile(f->images, "junk.tar", "this is no tar archive"));

    fx_expect_ok(f, REF, NULL, &d);
    image_disk_free(&d);

    p = fx_printf("%s/bad", f->images);
    msg = fx_printf("image \"docker.io/library/cirros:latest\" not found in %s (searched 2 OCI "
                    "layouts and 1 docker archive; skipped 2 unreadable, first: %s: index.json: "
                    "\"manifests\" is not an array)",
                    f->images, p);
    fx_expect_error(f, "cirros", NULL, msg);
    free(msg);
    free(p);

    /* A type error deep in a descriptor makes the whole index unreadable. */
    p = fx_printf("%s/junk.tar", f->images);
    unlink(p);
    free(p);
    free(write_tmpfile(bad, "index.json",
                       "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"x\",\"digest\":"
                       "\"sha256:00\",\"size\":1}]}"));
    msg = fx_printf("image \"docker.io/library/cirros:latest\" not found in %s (searched 2 OCI "
                    "layouts and 0 docker archives; skipped 1 unreadable: %s: index.json: "
                    "manifests[0]: digest \"sha256:00\" is not a sha256 digest)",
                    f->images, bad);
    fx_expect_error(f, "cirros", NULL, msg);
    free(msg);
    free(bad);
    free(md);
}

static void
test_corrupted_blob(void **state)
{
    struct fx *f = *state;
    size_t n;
    const struct fx_entry *e = fx_std_layer(&n);
    struct fx_layer l = {e, n, false};
    char *layer = NULL;
    char *md = fx_oci1(f, "oci", REF, e, n, true, &layer);
    char *blob = fx_printf("%s/oci/blobs/sha256/%s", f->images, layer + 7);
    char *mblob = fx_printf("%s/oci/blobs/sha256/%s", f->images, md + 7);
    char *data = NULL, *msg, *tar, *cd;
    size_t len;
    FILE *fp;

    /* One byte changed, same size. */
    assert_int_equal(read_file(blob, &data, &len), 0);
    data[len / 2] ^= 0x20;
    fx_write(blob, data, len);
    msg = fx_printf("image \"%s\" in %s/oci: layer %s: digest does not match its content", REF,
                    f->images, layer);
    fx_expect_error(f, REF, NULL, msg);
    free(msg);

    /* Bytes added: the size is checked too. */
    data[len / 2] ^= 0x20;
    fx_write(blob, data, len);
    fp = fopen(blob, "ab");
    assert_non_null(fp);
    fputs("extra", fp);
    assert_int_equal(fclose(fp), 0);
    msg = fx_printf("image \"%s\" in %s/oci: layer %s: size %zu does not match the descriptor's "
                    "%zu",
                    REF, f->images, layer, len + 5, len);
    fx_expect_error(f, REF, NULL, msg);
    free(msg);
    fx_write(blob, data, len);
    free(data);

    /* The manifest is checked on every resolve, cached or not. */
    assert_int_equal(read_file(mblob, &data, &len), 0);
    data[1] = data[1] == 'a' ? 'b' : 'a';
    fx_write(mblob, data, len);
    msg = fx_printf("image \"%s\" in %s/oci: blob %s: digest does not match its content", REF,
                    f->images, md);
    fx_expect_error(f, REF, NULL, msg);
    free(msg);
    free(data);

    /* docker-archive: a config named by its digest, and a layer by diff_id. */
    tar = fx_printf("%s/a.tar", f->images);
    cd = fx_archive(tar, "cirros", &l, 1, false, FX_TAMPER_CONFIG);
    msg = fx_printf("image \"docker.io/library/cirros:latest\" in %s: config \"%s.json\": digest "
                    "does not match its content",
                    tar, cd + 7);
    fx_expect_error(f, "cirros", NULL, msg);
    free(msg);
    free(cd);
    cd = fx_archive(tar, "cirros", &l, 1, false, FX_TAMPER_LAYER);
    {
        struct vmirs_err *err = NULL;
        struct image_disk d;
        char *prefix = fx_printf("image \"docker.io/library/cirros:latest\" in %s: layer \"", tar);

        assert_int_equal(image_resolve(f->images, f->cache, "cirros", NULL, &d, &err), -1);
        assert_true(strncmp(err->msg, prefix, strlen(prefix)) == 0);
        assert_non_null(strstr(err->msg, "/layer.tar\": content does not match diff_id sha256:"));
        err_free(&err);
        free(prefix);
    }
    free(cd);
    free(tar);
    free(layer);
    free(blob);
    free(mblob);
    free(md);
}

static void
test_several_files(void **state)
{
    struct fx *f = *state;
    struct fx_entry e[] = {
        {"disk/", FX_DIR, NULL, 0, NULL},
        {"disk/b.img", FX_FILE, raw_disk, 512, NULL},
        {"disk/a.img", FX_FILE, raw_disk, 512, NULL},
        {"disk/sub/c.img", FX_FILE, raw_disk, 512, NULL},
    };
    char *md = fx_oci1(f, "oci", REF, e, ARRAY_SIZE(e), true, NULL);
    char *msg = fx_printf("image \"%s\" in %s/oci: several files under /disk/: \"/disk/a.img\", "
                          "\"/disk/b.img\"; set the containerDisk path to pick one",
                          REF, f->images);

    fx_expect_error(f, REF, NULL, msg);
    free(msg);
    free(md);
}

static void
test_no_file(void **state)
{
    struct fx *f = *state;
    struct fx_entry e[] = {
        {"disk/", FX_DIR, NULL, 0, NULL},
        {"disk/sub/", FX_DIR, NULL, 0, NULL},
        {"images/disk.img", FX_FILE, raw_disk, 512, NULL},
    };
    char *md = fx_oci1(f, "oci", REF, e, ARRAY_SIZE(e), true, NULL);
    char *msg = fx_printf("image \"%s\" in %s/oci: no disk file under /disk/", REF, f->images);

    fx_expect_error(f, REF, NULL, msg);
    free(msg);
    free(md);
}

static void
test_dotdot_entry(void **state)
{
    struct fx *f = *state;
    struct fx_entry e[] = {
        {"disk/disk.img", FX_FILE, raw_disk, 512, NULL},
        {"disk/../../etc/cron.d/x", FX_FILE, "x", 1, NULL},
    };
    char *layer = NULL;
    char *md = fx_oci1(f, "oci", REF, e, ARRAY_SIZE(e), true, &layer);
    char *msg = fx_printf("image \"%s\" in %s/oci: layer %s: entry \"disk/../../etc/cron.d/x\" "
                          "has a \"..\" component",
                          REF, f->images, layer);

    fx_expect_error(f, REF, NULL, msg);
    free(msg);
    free(layer);
    free(md);
}

static void
test_absolute_entry(void **state)
{
    struct fx *f = *state;
    struct fx_entry e[] = {
        {"disk/disk.img", FX_FILE, raw_disk, 512, NULL},
        {"/etc/passwd", FX_FILE, "x", 1, NULL},
    };
    char *layer = NULL;
    char *md = fx_oci1(f, "oci", REF, e, ARRAY_SIZE(e), false, &layer);
    char *msg = fx_printf("image \"%s\" in %s/oci: layer %s: entry \"/etc/passwd\" has an "
                          "absolute path",
                          REF, f->images, layer);

    fx_expect_error(f, REF, NULL, msg);
    free(msg);
    free(layer);
    free(md);
}

static void
test_symlink_escaping(void **state)
{
    struct fx *f = *state;
    struct fx_entry e[] = {
        {"disk/", FX_DIR, NULL, 0, NULL},
        {"disk/disk.img", FX_SYMLINK, NULL, 0, "../../etc/shadow"},
    };
    struct fx_entry h[] = {
        {"disk/disk.img", FX_HARDLINK, NULL, 0, "../etc/shadow"},
    };
    char *layer = NULL;
    char *md = fx_oci1(f, "oci", REF, e, ARRAY_SIZE(e), true, &layer);
    char *msg = fx_printf("image \"%s\" in %s/oci: layer %s: symlink \"disk/disk.img\" -> "
                          "\"../../etc/shadow\" leaves the layer",
                          REF, f->images, layer);

    fx_expect_error(f, REF, NULL, msg);
    free(msg);
    free(layer);
    free(md);

    md = fx_oci1(f, "oci2", "localhost/two:latest", h, ARRAY_SIZE(h), true, &layer);
    msg = fx_printf("image \"localhost/two:latest\" in %s/oci2: layer %s: hard link "
                    "\"disk/disk.img\" -> \"../etc/shadow\" leaves the layer",
                    f->images, layer);
    fx_expect_error(f, "localhost/two", NULL, msg);
    free(msg);
    free(layer);
    free(md);
}

/* Links that stay inside the image are followed to the disk. */
static void
test_links_inside(void **state)
{
    struct fx *f = *state;
    struct fx_entry e[] = {
        {"images/real.qcow2", FX_FILE, qcow2, sizeof(qcow2), NULL},
        {"disk", FX_SYMLINK, NULL, 0, "/data"},
        {"data/disk.img", FX_SYMLINK, NULL, 0, "../images/./real.qcow2"},
    };
    struct fx_entry h[] = {
        {"images/real.raw", FX_FILE, raw_disk, sizeof(raw_disk), NULL},
        {"disk/disk.img", FX_HARDLINK, NULL, 0, "./images/real.raw"},
    };
    char *md = fx_oci1(f, "oci", REF, e, ARRAY_SIZE(e), true, NULL);
    char *md2 = fx_oci1(f, "oci2", "localhost/two:latest", h, ARRAY_SIZE(h), true, NULL);
    struct image_disk d;

    fx_expect_ok(f, REF, NULL, &d);
    assert_int_equal(d.format, DISK_FORMAT_QCOW2);
    fx_assert_content(d.path, qcow2, sizeof(qcow2));
    image_disk_free(&d);
    fx_expect_ok(f, "localhost/two", NULL, &d);
    assert_int_equal(d.format, DISK_FORMAT_RAW);
    fx_assert_content(d.path, raw_disk, sizeof(raw_disk));
    image_disk_free(&d);
    free(md);
    free(md2);
}

static void
test_explicit_path(void **state)
{
    struct fx *f = *state;
    struct fx_entry e[] = {
        {"./disk/", FX_DIR, NULL, 0, NULL},
        {"./disk/a.img", FX_FILE, qcow2, sizeof(qcow2), NULL},
        {"./disk/b.img", FX_FILE, raw_disk, 512, NULL},
        {"./images/real.raw", FX_FILE, raw_disk, sizeof(raw_disk), NULL},
    };
    char *md = fx_oci1(f, "oci", REF, e, ARRAY_SIZE(e), true, NULL);
    struct image_disk d, d2;
    char *msg;

    fx_expect_ok(f, REF, "/images/real.raw", &d);
    assert_int_equal(d.format, DISK_FORMAT_RAW);
    assert_true(d.virtual_size == sizeof(raw_disk));
    fx_assert_content(d.path, raw_disk, sizeof(raw_disk));
    fx_expect_ok(f, REF, "//disk/./a.img", &d2);
    assert_int_equal(d2.format, DISK_FORMAT_QCOW2);
    fx_assert_content(d2.path, qcow2, sizeof(qcow2));
    /* Two disks of one image: one cache directory, two files. */
    assert_string_equal(d.digest, d2.digest);
    assert_string_not_equal(d.path, d2.path);
    image_disk_free(&d);
    image_disk_free(&d2);

    msg = fx_printf("image \"%s\" in %s/oci: containerDisk path \"disk/b.img\" is not absolute",
                    REF, f->images);
    fx_expect_error(f, REF, "disk/b.img", msg);
    free(msg);
    msg = fx_printf("image \"%s\" in %s/oci: containerDisk path \"/disk/../b.img\" has a \"..\" "
                    "component",
                    REF, f->images);
    fx_expect_error(f, REF, "/disk/../b.img", msg);
    free(msg);
    msg = fx_printf("image \"%s\" in %s/oci: no file \"/disk/c.img\" in the image", REF, f->images);
    fx_expect_error(f, REF, "/disk/c.img", msg);
    free(msg);
    msg = fx_printf("image \"%s\" in %s/oci: \"/disk\" in the image is not a regular file", REF,
                    f->images);
    fx_expect_error(f, REF, "/disk/", msg);
    free(msg);
    free(md);
}

static void
test_qcow2_backing_file(void **state)
{
    struct fx *f = *state;
    struct fx_entry e[] = {
        {"disk/", FX_DIR, NULL, 0, NULL},
        {"disk/disk.qcow2", FX_FILE, qcow2_backing, sizeof(qcow2_backing), NULL},
    };
    char *md = fx_oci1(f, "oci", REF, e, ARRAY_SIZE(e), true, NULL);
    char *msg = fx_printf("image \"%s\" in %s/oci: qcow2 disk \"/disk/disk.qcow2\" has a backing "
                          "file; containerDisks must be self-contained",
                          REF, f->images);
    char *dir = fx_printf("%s/%s", f->cache, md + 7);
    DIR *dp;
    struct dirent *de;

    fx_expect_error(f, REF, NULL, msg);
    /* Nothing is left in the cache: no disk, no temporary file. */
    dp = opendir(dir);
    assert_non_null(dp);
    while ((de = readdir(dp)))
        assert_true(strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0);
    closedir(dp);
    free(dir);
    free(msg);
    free(md);
}

static void
test_raw_detected(void **state)
{
    struct fx *f = *state;
    struct fx_entry e[] = {
        {"disk/", FX_DIR, NULL, 0, NULL},
        {"disk/disk.img", FX_FILE, raw_disk, sizeof(raw_disk), NULL},
    };
    char *md = fx_oci1(f, "oci", REF, e, ARRAY_SIZE(e), false, NULL);
    struct image_disk d;

    fx_expect_ok(f, REF, NULL, &d);
    assert_int_equal(d.format, DISK_FORMAT_RAW);
    assert_string_equal(image_disk_format_name(d.format), "raw");
    assert_true(d.virtual_size == sizeof(raw_disk));
    fx_assert_content(d.path, raw_disk, sizeof(raw_disk));
    image_disk_free(&d);
    free(md);
}

/* Later layers win; whiteouts remove what lower layers put under /disk/. */
static void
test_layers_and_whiteouts(void **state)
{
    struct fx *f = *state;
    struct fx_entry l1[] = {
        {"disk/", FX_DIR, NULL, 0, NULL},
        {"disk/a.img", FX_FILE, qcow2, sizeof(qcow2), NULL},
        {"disk/old.img", FX_FILE, qcow2, sizeof(qcow2), NULL},
    };
    struct fx_entry l2[] = {
        {"disk/.wh.a.img", FX_FILE, "", 0, NULL},
        {"disk/old.img", FX_FILE, raw_disk, sizeof(raw_disk), NULL},
    };
    struct fx_entry l3[] = {
        {"disk/.wh..wh..opq", FX_FILE, "", 0, NULL},
        {"disk/new.img", FX_FILE, raw_disk, 1024, NULL},
    };
    struct fx_layer two[] = {{l1, ARRAY_SIZE(l1), true}, {l2, ARRAY_SIZE(l2), false}};
    struct fx_layer three[] = {
        {l1, ARRAY_SIZE(l1), true}, {l2, ARRAY_SIZE(l2), true}, {l3, ARRAY_SIZE(l3), true}};
    char *dir = fx_printf("%s/oci", f->images);
    char *dir2 = fx_printf("%s/oci2", f->images);
    char *md = fx_oci(dir, REF, two, ARRAY_SIZE(two), NULL);
    char *md2 = fx_oci(dir2, "localhost/two:latest", three, ARRAY_SIZE(three), NULL);
    struct image_disk d;

    fx_expect_ok(f, REF, NULL, &d);
    assert_int_equal(d.format, DISK_FORMAT_RAW);
    fx_assert_content(d.path, raw_disk, sizeof(raw_disk));
    image_disk_free(&d);
    fx_expect_ok(f, "localhost/two", NULL, &d);
    fx_assert_content(d.path, raw_disk, 1024);
    image_disk_free(&d);
    free(dir);
    free(dir2);
    free(md);
    free(md2);
}

/* A multi-platform index: the manifest for this host's architecture. */
static void
test_image_index(void **state)
{
    struct fx *f = *state;
    size_t n, len;
    const struct fx_entry *e = fx_std_layer(&n);
    struct fx_layer l = {e, n, true};
    char *dir = fx_printf("%s/oci", f->images);
    char *md = fx_oci(dir, NULL, &l, 1, NULL);
    char *mpath = fx_printf("%s/blobs/sha256/%s", dir, md + 7);
    char *data = NULL, *id;
    size_t mlen;
    json_t *index;
    struct image_disk d;

    assert_int_equal(read_file(mpath, &data, &mlen), 0);
    index = json_pack("{s:i, s:s, s:[{s:s, s:s, s:I, s:{s:s, s:s}}, {s:s, s:s, s:I, s:{s:s, "
                      "s:s}}]}",
                      "schemaVersion", 2, "mediaType", MT_INDEX, "manifests", "mediaType",
                      MT_MANIFEST, "digest",
                      "sha256:1111111111111111111111111111111111111111111111111111111111111111",
                      "size", (json_int_t) 10, "platform", "os", "linux", "architecture",
                      "s390x-not-this-one", "mediaType", MT_MANIFEST, "digest", md, "size",
                      (json_int_t) mlen, "platform", "os", "linux", "architecture",
#if defined(__x86_64__)
                      "amd64"
#elif defined(__aarch64__)
                      "arm64"
#else
                      "unknown"
#endif
    );
    assert_non_null(index);
    id = fx_json_blob(dir, index, &len);
    fx_index(dir, MT_INDEX, id, len, REF);
    fx_expect_ok(f, REF, NULL, &d);
    assert_string_equal(d.digest, md);
    image_disk_free(&d);
    free(id);
    free(data);
    free(mpath);
    free(dir);
    free(md);
}

static void
test_cache_reused(void **state)
{
    struct fx *f = *state;
    size_t n;
    const struct fx_entry *e = fx_std_layer(&n);
    char *md = fx_oci1(f, "oci", REF, e, n, true, NULL);
    unsigned long before = image_extractions;
    struct image_disk d1, d2;
    struct stat st1, st2;

    fx_expect_ok(f, REF, NULL, &d1);
    assert_int_equal(stat(d1.path, &st1), 0);
    fx_expect_ok(f, "localhost/vmirs-test-guest", NULL, &d2);
    assert_int_equal(stat(d2.path, &st2), 0);
    assert_int_equal(image_extractions - before, 1);
    assert_string_equal(d1.path, d2.path);
    assert_int_equal(st1.st_ino, st2.st_ino);
    assert_int_equal(d2.format, DISK_FORMAT_QCOW2);
    assert_true(d2.virtual_size == QCOW2_VSIZE);
    image_disk_free(&d2);

    /* A disk without its metadata is incomplete: it is extracted again. */
    {
        char *meta = fx_printf("%s/%s/disk.json", f->cache, md + 7);

        assert_int_equal(unlink(meta), 0);
        fx_expect_ok(f, REF, NULL, &d2);
        assert_int_equal(image_extractions - before, 2);
        assert_int_equal(stat(d2.path, &st2), 0);
        assert_int_not_equal(st1.st_ino, st2.st_ino);
        image_disk_free(&d2);
        free(meta);
    }
    image_disk_free(&d1);
    free(md);
}

struct fx_thread {
    const struct fx *f;
    pthread_barrier_t *barrier;
    int rc;
    struct image_disk d;
    char *msg;
};

static void *
fx_thread_run(void *arg)
{
    struct fx_thread *t = arg;
    struct vmirs_err *err = NULL;

    pthread_barrier_wait(t->barrier);
    t->rc = image_resolve(t->f->images, t->f->cache, REF, NULL, &t->d, &err);
    if (err)
        t->msg = strdup(err->msg);
    err_free(&err);
    return NULL;
}

/* Several threads ask for one image at once: one extracts, the others wait
 * on the lock and reuse its result. */
static void
test_concurrent_resolves(void **state)
{
    enum { NTHREADS = 8 };
    struct fx *f = *state;
    size_t big_len = 4 << 20;
    unsigned char *big = malloc(big_len);
    struct fx_entry e[] = {
        {"disk/", FX_DIR, NULL, 0, NULL},
        {"disk/disk.img", FX_FILE, big, big_len, NULL},
    };
    char *md;
    pthread_t tid[NTHREADS];
    struct fx_thread t[NTHREADS];
    pthread_barrier_t barrier;
    unsigned long before;

    assert_non_null(big);
    /* Incompressible bytes make the extraction take long enough to race. */
    for (size_t i = 0; i < big_len; i++)
        big[i] = (unsigned char) ((i * 2654435761u) >> 13);
    md = fx_oci1(f, "oci", REF, e, ARRAY_SIZE(e), true, NULL);
    before = image_extractions;
    assert_int_equal(pthread_barrier_init(&barrier, NULL, NTHREADS), 0);
    for (int i = 0; i < NTHREADS; i++) {
        t[i] = (struct fx_thread){.f = f, .barrier = &barrier};
        assert_int_equal(pthread_create(&tid[i], NULL, fx_thread_run, &t[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_join(tid[i], NULL), 0);
    pthread_barrier_destroy(&barrier);
    for (int i = 0; i < NTHREADS; i++) {
        if (t[i].rc < 0)
            fail_msg("thread %d: %s", i, t[i].msg);
        assert_string_equal(t[i].d.path, t[0].d.path);
        assert_string_equal(t[i].d.digest, md);
    }
    for (int i = 0; i < NTHREADS; i++) {
        image_disk_free(&t[i].d);
        free(t[i].msg);
    }
    assert_int_equal(image_extractions - before, 1);
    free(big);
    free(md);
}

/* The project's own test guest, when images/ has been built. */
static void
test_project_guest(void **state)
{
    struct fx *f = *state;
    char *out = fx_printf("%s/images/out", TOP_SRCDIR);
    char *oci = fx_printf("%s/oci", out);
    char *tar = fx_printf("%s/vmirs-test-guest.tar", out);
    struct image_disk d;
    struct vmirs_err *err = NULL;

    if (access(oci, F_OK) != 0 || access(tar, F_OK) != 0) {
        free(out);
        free(oci);
        free(tar);
        skip();
    }
    if (image_resolve(out, f->cache, REF, NULL, &d, &err) < 0)
        fail_msg("%s", err->msg);
    assert_int_equal(d.format, DISK_FORMAT_QCOW2);
    image_disk_free(&d);
    free(out);
    free(oci);
    free(tar);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize),
        cmocka_unit_test_setup_teardown(test_found_in_oci, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_oci_tag_only, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_image_dir_is_layout, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_found_in_archive, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_archive_member_link, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_not_found, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_sources, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_corrupted_blob, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_several_files, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_no_file, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_dotdot_entry, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_absolute_entry, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_symlink_escaping, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_links_inside, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_explicit_path, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_qcow2_backing_file, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_raw_detected, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_layers_and_whiteouts, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_image_index, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cache_reused, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_resolves, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_project_guest, fx_setup, fx_teardown),
    };

    return cmocka_run_group_tests(tests, fx_group_setup, NULL);
}
