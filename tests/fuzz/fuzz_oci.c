/* libFuzzer target: the JSON an image brings (OCI index.json and blobs,
 * docker-archive manifest.json and config) and the references in it, read
 * by the same functions image_resolve uses, which src/image_int.h
 * declares; fuzz.mk links the image_*.c files that hold them.
 *
 * The first byte picks the reader and the reference asked for; the rest is
 * one or two parts separated by a line "----":
 *   0  index.json of an OCI layout (part 2: its oci-layout file)
 *   1  an image manifest blob (part 2: a blob it may name as its config)
 *   2  an image index blob (part 2: a manifest blob it may name)
 *   3  a docker-archive: manifest.json (part 2: member config.json)
 *   4  a reference, as image_ref_normalize reads it
 *   5  a docker-archive tar as it is, searched for manifest.json
 * Blobs are stored under their real digest, so seeds reach the end of
 * each reader; the files live in a temporary directory on /dev/shm. */
#include "config.h"

#include "image_int.h"

#include "err.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ftw.h>
#include <stdio.h>

#define FUZZ_SEP "\n----\n"

static char fuzz_dir[64];
static char *fuzz_layout; /* <dir>/cirros: the layout directory names the repository */
static char *fuzz_tar;

static const char *const fuzz_refs[] = {
    "cirros",
    "localhost/cirros:1.0",
    "quay.io/a/cirros@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    ("registry:5000/a/cirros:latest@sha256:"
     "1111111111111111111111111111111111111111111111111111111111111111"),
};

static int
fuzz_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove(path);
}

static void
fuzz_cleanup(void)
{
    if (fuzz_dir[0])
        nftw(fuzz_dir, fuzz_rm, 16, FTW_DEPTH | FTW_PHYS);
}

static void
fuzz_write(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "w");

    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0)
        abort();
}

/* Store data as a blob of the layout under its sha256; the digest in out. */
static void
fuzz_blob(const char *data, size_t len, char out[IMAGE_DIGEST_LEN + 1])
{
    cleanup_free char *path = NULL;

    if (image_sha256_buf(data, len, out, NULL) < 0)
        abort();
    path = image_oci_blob_path(fuzz_layout, out);
    fuzz_write(path, data, len);
}

static void
fuzz_tar_member(struct archive *a, const char *name, const char *data, size_t len)
{
    struct archive_entry *e = archive_entry_new();

    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t) len);
    if (archive_write_header(a, e) != ARCHIVE_OK ||
        (len && archive_write_data(a, data, len) != (la_ssize_t) len))
        abort();
    archive_entry_free(e);
}

static void
fuzz_archive(const char *a_data, size_t a_len, const char *b_data, size_t b_len)
{
    struct archive *a = archive_write_new();

    if (archive_write_set_format_ustar(a) != ARCHIVE_OK ||
        archive_write_open_filename(a, fuzz_tar) != ARCHIVE_OK)
        abort();
    fuzz_tar_member(a, "manifest.json", a_data, a_len);
    if (b_data)
        fuzz_tar_member(a, "config.json", b_data, b_len);
    if (archive_write_close(a) != ARCHIVE_OK)
        abort();
    archive_write_free(a);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    cleanup_free char *blobs = NULL;

    (void) argc;
    (void) argv;
    snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/vmirs-fuzz-oci.XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(fuzz_dir))
        abort();
    atexit(fuzz_cleanup);
    fuzz_layout = xasprintf("%s/cirros", fuzz_dir);
    fuzz_tar = xasprintf("%s/cirros.tar", fuzz_dir);
    blobs = xasprintf("%s/blobs/sha256", fuzz_layout);
    if (mkdir_parents(blobs, 0755, NULL) < 0)
        abort();
    return 0;
}

static void
fuzz_oci_index(const char *a, size_t alen, const char *b, size_t blen, const struct image_ref *want)
{
    cleanup_free char *lpath = xasprintf("%s/oci-layout", fuzz_layout);
    cleanup_free char *ipath = xasprintf("%s/index.json", fuzz_layout);
    static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
    struct image_desc found = {0};
    struct vmirs_err *err = NULL;

    if (b)
        fuzz_write(lpath, b, blen);
    else
        fuzz_write(lpath, layout, strlen(layout));
    fuzz_write(ipath, a, alen);
    image_oci_find(fuzz_layout, want, &found, &err);
    image_desc_clear(&found);
    err_free(&err);
}

/* The layout's blobs are removed after each input, so that none is found
 * by the next one. */
static void
fuzz_oci_blob(const char *mt, const char *a, size_t alen, const char *b, size_t blen)
{
    struct image_src src = {0};
    struct vmirs_err *err = NULL;
    char da[IMAGE_DIGEST_LEN + 1], db[IMAGE_DIGEST_LEN + 1];

    fuzz_blob(a, alen, da);
    if (b)
        fuzz_blob(b, blen, db);
    src.kind = IMAGE_SRC_OCI;
    src.where = xstrdup(fuzz_layout);
    src.top.media_type = xstrdup(mt);
    src.top.digest = xstrdup(da);
    src.top.size = (int64_t) alen;
    image_oci_load(&src, &err);
    image_src_clear(&src);
    err_free(&err);
    {
        cleanup_free char *pa = image_oci_blob_path(fuzz_layout, da);

        unlink(pa);
    }
    if (b) {
        cleanup_free char *pb = image_oci_blob_path(fuzz_layout, db);

        unlink(pb);
    }
}

static void
fuzz_docker(const struct image_ref *want)
{
    struct image_src src = {0};
    struct vmirs_err *err = NULL;

    src.kind = IMAGE_SRC_ARCHIVE;
    src.where = xstrdup(fuzz_tar);
    if (image_archive_find(fuzz_tar, want, &src.entry, &err) == 1)
        image_archive_load(&src, &err);
    image_src_clear(&src);
    err_free(&err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *a, *b = NULL, *sep;
    size_t alen, blen = 0;
    struct image_ref want;
    unsigned mode;

    if (size < 1)
        return 0;
    mode = data[0] % 6;
    a = (const char *) data + 1;
    alen = size - 1;
    sep = memmem(a, alen, FUZZ_SEP, strlen(FUZZ_SEP));
    if (sep) {
        b = sep + strlen(FUZZ_SEP);
        blen = alen - (size_t) (b - a);
        alen = (size_t) (sep - a);
    }
    if (image_ref_parse(fuzz_refs[(data[0] / 6) % ARRAY_SIZE(fuzz_refs)], &want, NULL) < 0)
        abort();

    switch (mode) {
    case 0:
        fuzz_oci_index(a, alen, b, blen, &want);
        break;
    case 1:
        fuzz_oci_blob((data[0] / 24) % 2 ? MT_DOCKER_MANIFEST : MT_OCI_MANIFEST, a, alen, b, blen);
        break;
    case 2:
        fuzz_oci_blob((data[0] / 24) % 2 ? MT_DOCKER_LIST : MT_OCI_INDEX, a, alen, b, blen);
        break;
    case 3:
        fuzz_archive(a, alen, b, blen);
        fuzz_docker(&want);
        break;
    case 4: {
        /* A NUL-terminated copy of exactly the reference. */
        char *s = xstrndup(a, alen);
        char *out = NULL;
        struct vmirs_err *err = NULL;

        if (strlen(s) == alen && image_ref_normalize(s, &out, &err) == 0) {
            char *again = NULL;

            /* A normalised reference is a fixed point. */
            if (image_ref_normalize(out, &again, NULL) < 0 || strcmp(again, out) != 0) {
                fprintf(stderr, "normalize(\"%s\") = \"%s\", then \"%s\"\n", s, out,
                        again ? again : "(error)");
                abort();
            }
            free(again);
        }
        free(out);
        free(s);
        err_free(&err);
        break;
    }
    default:
        fuzz_write(fuzz_tar, (const char *) data + 1, size - 1);
        fuzz_docker(&want);
        break;
    }
    image_ref_clear(&want);
    return 0;
}
