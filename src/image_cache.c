/* Disk formats (raw, or self-contained qcow2) and the read-only cache
 * of extracted disks: one directory per image digest, a lock per
 * image, and extraction to a temporary file published with its
 * metadata. Runs on a worker thread (image_resolve). */
#include "config.h"

#include "image_int.h"

#include "err.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* How many disks were extracted (not reused from the cache). The tests read
 * it to prove that the cache and the lock work; nothing else does. */
STATIC unsigned long image_extractions;

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

static int
image_fsync_dir(const char *dir, struct vmirs_err **err)
{
    cleanup_close int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0 || fsync(fd) < 0)
        return err_set(err, errno, "sync directory %s", dir);
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
int
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
