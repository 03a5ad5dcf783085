#include "config.h"

#include "seediso.h"

#include "err.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* libburn is not used: take the copy of struct burn_source in libisofs.h. */
#define LIBISOFS_WITHOUT_LIBBURN 1
#include <libisofs/libisofs.h>

#define SEEDISO_BLOCK 2048
#define SEEDISO_LABEL_MAX 32 /* ECMA-119 volume identifier field */
#define SEEDISO_NAME_MAX 255 /* Rock Ridge NM entries */
#define SEEDISO_NAME_CHARS "-._abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

/* Every timestamp in the image: a fixed one makes identical inputs give
 * identical bytes, so a changed seed is visible by its hash. Nothing in the
 * guest reads these times. The PVD string is the same instant in ECMA-119's
 * YYYYMMDDhhmmsscc form. */
#define SEEDISO_EPOCH ((time_t) 946684800) /* 2000-01-01T00:00:00Z */
#define SEEDISO_PVD_TIME "2000010100000000"

/* libisofs keeps process-wide state (its message queue, the assumed local
 * charset, a counter of image ids) and does not promise that two images may
 * be built at once from different threads. Seed ISOs are a few KiB, so
 * building one at a time costs nothing and removes the question. */
static pthread_mutex_t seediso_lock = PTHREAD_MUTEX_INITIALIZER;
static bool seediso_ready;

/* Called with seediso_lock held. */
static int
seediso_init(struct vmirs_err **err)
{
    int r;

    if (seediso_ready)
        return 0;
    /* Flag bit0: leave the process locale alone; a daemon's other modules
     * parse numbers and must not see LC_* from the environment. Names are
     * ASCII, so declaring the local charset UTF-8 is exact. */
    r = iso_init_with_flag(1);
    if (r < 0)
        return err_set(err, 0, "initialise libisofs: %s", iso_error_to_msg(r));
    iso_set_local_charset("UTF-8", 0);
    /* Errors come back as return codes and reach the caller through *err;
     * libisofs must not print on the daemon's stderr by itself. */
    iso_set_msgs_severities("NEVER", "NEVER", "libisofs: ");
    seediso_ready = true;
    return 0;
}

void
seediso_finish(void)
{
    pthread_mutex_lock(&seediso_lock);
    if (seediso_ready)
        iso_finish();
    seediso_ready = false;
    pthread_mutex_unlock(&seediso_lock);
}

/* A copy of s fit for a message: bytes outside printable ASCII become \xHH,
 * so a hostile name cannot forge a log line. */
static char *
seediso_quote(const char *s)
{
    size_t n = strlen(s);
    char *out = xmalloc(n * 4 + 1), *o = out;

    for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
        if (*p >= 0x20 && *p < 0x7f)
            *o++ = (char) *p;
        else
            o += sprintf(o, "\\x%02x", *p);
    }
    *o = '\0';
    return out;
}

static int
seediso_check_label(const char *path, const char *label, struct vmirs_err **err)
{
    size_t len = label ? strlen(label) : 0;
    cleanup_free char *q = NULL;

    if (len >= 1 && len <= SEEDISO_LABEL_MAX) {
        const char *p = label;

        while (*p >= 0x20 && *p < 0x7f)
            p++;
        if (*p == '\0')
            return 0;
    }
    q = seediso_quote(label ? label : "");
    return err_set(err, 0,
                   "write ISO `%s`: invalid volume label `%s`: must be 1 to %d printable ASCII "
                   "characters",
                   path, q, SEEDISO_LABEL_MAX);
}

/* One component of a file's path in the image. */
static bool
seediso_component_ok(const char *s, size_t len)
{
    return len >= 1 && len <= SEEDISO_NAME_MAX && strspn(s, SEEDISO_NAME_CHARS) >= len &&
           !(len == 1 && s[0] == '.') && !(len == 2 && s[0] == '.' && s[1] == '.');
}

static int
seediso_check_name(const char *path, const char *name, struct vmirs_err **err)
{
    size_t len = name ? strlen(name) : 0;
    cleanup_free char *q = NULL;
    bool ok = len > 0;

    if (len == 0)
        return err_set(err, 0, "write ISO `%s`: empty file name", path);
    for (const char *p = name; ok && *p;) {
        size_t n = strcspn(p, "/");

        ok = seediso_component_ok(p, n);
        p += n;
        if (*p == '/')
            p++, ok = ok && *p;
    }
    if (ok)
        return 0;
    q = seediso_quote(name);
    return err_set(err, 0,
                   "write ISO `%s`: invalid file name `%s`: must be at most %d alphanumeric "
                   "characters, '-', '_' or '.', and not '.' or '..'",
                   path, q, SEEDISO_NAME_MAX);
}

/* The directory that holds *name (a path), made as needed; *name is
 * left pointing at the last component. Called with seediso_lock held. */
static int
seediso_parent(const char *path, IsoDir *root, const char **name, IsoDir **out,
               struct vmirs_err **err)
{
    IsoDir *dir = root;
    const char *slash;

    while ((slash = strchr(*name, '/'))) {
        cleanup_free char *part = xstrndup(*name, (size_t) (slash - *name));
        IsoNode *node = NULL;
        int r = iso_dir_get_node(dir, part, &node);

        if (r == 1 && iso_node_get_type(node) == LIBISO_DIR) {
            dir = (IsoDir *) node;
        } else if (r == 1) {
            return err_set(err, 0, "write ISO `%s`: `%s` is a file and a directory", path, part);
        } else {
            IsoDir *made = NULL;

            r = iso_tree_add_new_dir(dir, part, &made);
            if (r < 0)
                return err_set(err, 0, "write ISO `%s`: add directory `%s`: %s", path, part,
                               iso_error_to_msg(r));
            iso_node_set_mtime((IsoNode *) made, SEEDISO_EPOCH);
            iso_node_set_atime((IsoNode *) made, SEEDISO_EPOCH);
            iso_node_set_ctime((IsoNode *) made, SEEDISO_EPOCH);
            dir = made;
        }
        *name = slash + 1;
    }
    *out = dir;
    return 0;
}

/* Build the in-memory tree. Called with seediso_lock held. */
static int
seediso_build(const char *path, const char *label, const struct seediso_file *files, size_t n,
              IsoImage **out, struct vmirs_err **err)
{
    IsoImage *image = NULL;
    IsoDir *root;
    int r;

    r = iso_image_new(label, &image);
    if (r < 0)
        return err_set(err, 0, "write ISO `%s`: create image: %s", path, iso_error_to_msg(r));
    iso_image_set_volume_id(image, label);
    root = iso_image_get_root(image);
    for (size_t i = 0; i < n; i++) {
        IsoStream *stream = NULL;
        IsoFile *file = NULL;
        const char *leaf = files[i].name;
        IsoDir *parent = NULL;

        if (seediso_parent(path, root, &leaf, &parent, err) < 0) {
            iso_image_unref(image);
            return -1;
        }
        /* The memory stream takes ownership of a malloc'd copy; the caller's
         * buffer stays borrowed. Empty files still need a buffer. */
        unsigned char *copy = xmalloc(files[i].len ? files[i].len : 1);

        if (files[i].len)
            memcpy(copy, files[i].data, files[i].len);
        r = iso_memory_stream_new(copy, files[i].len, &stream);
        if (r < 0) {
            free(copy);
            iso_image_unref(image);
            return err_set(err, 0, "write ISO `%s`: add `%s`: %s", path, files[i].name,
                           iso_error_to_msg(r));
        }
        r = iso_tree_add_new_file(parent, leaf, stream, &file);
        if (r < 0) {
            /* On failure the stream's reference is still ours. */
            iso_stream_unref(stream);
            iso_image_unref(image);
            if (r == (int) ISO_NODE_NAME_NOT_UNIQUE)
                return err_set(err, 0, "write ISO `%s`: duplicate file name `%s`", path,
                               files[i].name);
            return err_set(err, 0, "write ISO `%s`: add `%s`: %s", path, files[i].name,
                           iso_error_to_msg(r));
        }
        iso_node_set_mtime((IsoNode *) file, SEEDISO_EPOCH);
        iso_node_set_atime((IsoNode *) file, SEEDISO_EPOCH);
        iso_node_set_ctime((IsoNode *) file, SEEDISO_EPOCH);
    }
    *out = image;
    return 0;
}

static int
seediso_opts(const char *path, IsoWriteOpts **out, struct vmirs_err **err)
{
    IsoWriteOpts *opts = NULL;
    int r;

    r = iso_write_opts_new(&opts, 0);
    if (r < 0)
        return err_set(err, 0, "write ISO `%s`: write options: %s", path, iso_error_to_msg(r));
    iso_write_opts_set_rockridge(opts, 1);
    iso_write_opts_set_joliet(opts, 1);
    /* Joliet's standard 64-character limit would cut long config keys for
     * guests that read Joliet rather than Rock Ridge. */
    iso_write_opts_set_joliet_long_names(opts, 1);
    /* Keep the label as given (`cidata`, not `CIDATA`), as xorrisofs
     * -volid does for KubeVirt; ECMA-119 would want upper case only. */
    iso_write_opts_set_relaxed_vol_atts(opts, 1);
    /* Mode 1: files r--r--r--, directories r-xr-xr-x, owner and group 0, as
     * xorrisofs -r does; the daemon's uid is of no use inside the guest. */
    iso_write_opts_set_replace_mode(opts, 1, 1, 1, 1);
    iso_write_opts_set_always_gmt(opts, 1);
    iso_write_opts_set_replace_timestamps(opts, 2);
    iso_write_opts_set_default_timestamp(opts, SEEDISO_EPOCH);
    iso_write_opts_set_dir_rec_mtime(opts, 7);
    iso_write_opts_set_pvd_times(opts, SEEDISO_EPOCH, SEEDISO_EPOCH, 0, 0, SEEDISO_PVD_TIME);
    *out = opts;
    return 0;
}

static int
seediso_write_all(int fd, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        len -= (size_t) w;
    }
    return 0;
}

/* Drain the image generator into fd. Called with seediso_lock held. */
static int
seediso_stream(const char *path, const char *tmp, IsoImage *image, IsoWriteOpts *opts, int fd,
               struct vmirs_err **err)
{
    struct burn_source *bs = NULL;
    unsigned char buf[SEEDISO_BLOCK];
    int r;

    r = iso_image_create_burn_source(image, opts, &bs);
    if (r < 0)
        return err_set(err, 0, "write ISO `%s`: start image: %s", path, iso_error_to_msg(r));
    for (;;) {
        r = bs->read_xt(bs, buf, sizeof(buf));
        if (r < 0) {
            err_set(err, 0, "write ISO `%s`: libisofs could not generate the image", path);
            break;
        }
        if (r == 0)
            break;
        if (seediso_write_all(fd, buf, (size_t) r) < 0) {
            err_set(err, errno, "write ISO `%s`: write `%s`", path, tmp);
            r = -1;
            break;
        }
    }
    /* free_data stops and joins the generator thread if it is still
     * running, which is the case after a write error. */
    if (r < 0)
        bs->cancel(bs);
    bs->free_data(bs);
    free(bs);
    return r < 0 ? -1 : 0;
}

int
seediso_write(const char *path, const char *label, const struct seediso_file *files, size_t n,
              struct vmirs_err **err)
{
    cleanup_free char *dircopy = NULL;
    cleanup_free char *tmp = NULL;
    IsoImage *image = NULL;
    IsoWriteOpts *opts = NULL;
    const char *base;
    int fd = -1, r;

    if (seediso_check_label(path, label, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (seediso_check_name(path, files[i].name, err) < 0)
            return -1;

    /* The temporary name starts with a dot and ends in .tmp, as
     * write_file_atomic's does, so nothing mistakes it for a finished ISO. */
    dircopy = xstrdup(path);
    base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    tmp = xasprintf("%s/.%s.XXXXXX.tmp", dirname(dircopy), base);
    fd = mkstemps(tmp, 4);
    if (fd < 0)
        return err_set(err, errno, "write ISO `%s`", path);
    /* Secret keys end up in these images: only the owner may read them;
     * libvirt hands the file to QEMU. */
    if (fchmod(fd, 0600) < 0) {
        err_set(err, errno, "write ISO `%s`: chmod `%s`", path, tmp);
        goto fail;
    }

    pthread_mutex_lock(&seediso_lock);
    r = seediso_init(err);
    if (r == 0)
        r = seediso_build(path, label, files, n, &image, err);
    if (r == 0)
        r = seediso_opts(path, &opts, err);
    if (r == 0)
        r = seediso_stream(path, tmp, image, opts, fd, err);
    if (opts)
        iso_write_opts_free(opts);
    if (image)
        iso_image_unref(image);
    pthread_mutex_unlock(&seediso_lock);
    if (r < 0)
        goto fail;

    if (fsync(fd) < 0) {
        err_set(err, errno, "write ISO `%s`: fsync `%s`", path, tmp);
        goto fail;
    }
    r = close(fd);
    fd = -1;
    if (r < 0) {
        err_set(err, errno, "write ISO `%s`: close `%s`", path, tmp);
        goto fail;
    }
    if (rename(tmp, path) < 0) {
        err_set(err, errno, "write ISO `%s`: rename `%s`", path, tmp);
        goto fail;
    }
    return 0;

fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return -1;
}

/* Compact JSON in KubeVirt's key order, built by jansson so that quotes,
 * backslashes and control characters in either value are escaped. */
static char *
seediso_meta_data(const char *path, const char *instance_id, const char *hostname,
                  struct vmirs_err **err)
{
    json_t *id, *host, *obj;
    char *out;

    /* json_string refuses NULL and what is not UTF-8. */
    id = json_string(instance_id);
    if (!id) {
        err_set(err, 0, "write NoCloud seed `%s`: instance id is missing or not valid UTF-8", path);
        return NULL;
    }
    host = json_string(hostname);
    if (!host) {
        json_decref(id);
        err_set(err, 0, "write NoCloud seed `%s`: hostname is missing or not valid UTF-8", path);
        return NULL;
    }
    /* json_object_set_new takes the value's reference even when it fails,
     * and json_dumps(NULL) is NULL, so one check at the end suffices. */
    obj = json_object();
    json_object_set_new(obj, "instance-id", id);
    json_object_set_new(obj, "local-hostname", host);
    out = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!out)
        err_set(err, 0, "write NoCloud seed `%s`: build meta-data", path);
    return out;
}

int
seediso_nocloud(const char *path, const char *instance_id, const char *hostname,
                const char *user_data, size_t user_data_len, const char *network_config,
                size_t network_config_len, struct vmirs_err **err)
{
    cleanup_free char *meta = seediso_meta_data(path, instance_id, hostname, err);
    struct seediso_file files[3];
    size_t n = 0;

    if (!meta)
        return -1;
    files[n++] = (struct seediso_file){"meta-data", meta, strlen(meta)};
    /* cloud-init's NoCloud source wants user-data even when only network
     * data is given, so it is always there, possibly empty. */
    files[n++] = (struct seediso_file){"user-data", user_data ? user_data : "",
                                       user_data ? user_data_len : 0};
    if (network_config)
        files[n++] = (struct seediso_file){"network-config", network_config, network_config_len};
    return seediso_write(path, "cidata", files, n, err);
}

/* OpenStack's meta_data.json as KubeVirt writes it for a config drive
 * (pkg/cloud-init: ConfigDriveMetadata, keys instance_id, hostname,
 * uuid), built by jansson so that every value is escaped. */
static char *
seediso_meta_data_json(const char *path, const char *instance_id, const char *hostname,
                       struct vmirs_err **err)
{
    json_t *obj = json_object();
    json_t *id = json_string(instance_id), *host = json_string(hostname);
    json_t *uuid = json_string(instance_id);
    char *out = NULL;

    if (!id || !host || !uuid)
        err_set(err, 0, "write config drive `%s`: instance id or hostname missing or not UTF-8",
                path);
    else if (json_object_set(obj, "instance_id", id) < 0 ||
             json_object_set(obj, "hostname", host) < 0 || json_object_set(obj, "uuid", uuid) < 0 ||
             !(out = json_dumps(obj, JSON_COMPACT)))
        err_set(err, 0, "write config drive `%s`: build meta_data.json", path);
    json_decref(id);
    json_decref(host);
    json_decref(uuid);
    json_decref(obj);
    return out;
}

int
seediso_config_drive(const char *path, const char *instance_id, const char *hostname,
                     const char *user_data, size_t user_data_len, const char *network_data,
                     size_t network_data_len, struct vmirs_err **err)
{
    cleanup_free char *meta = seediso_meta_data_json(path, instance_id, hostname, err);
    struct seediso_file files[3];
    size_t n = 0;

    if (!meta)
        return -1;
    files[n++] = (struct seediso_file){"openstack/latest/meta_data.json", meta, strlen(meta)};
    if (user_data)
        files[n++] = (struct seediso_file){"openstack/latest/user_data", user_data, user_data_len};
    if (network_data)
        files[n++] = (struct seediso_file){"openstack/latest/network_data.json", network_data,
                                           network_data_len};
    return seediso_write(path, "config-2", files, n, err);
}
