#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include "seediso.h"
#include "util.h"

#include <jansson.h>
#include <time.h>

#define LIBISOFS_WITHOUT_LIBBURN 1
#include <libisofs/libisofs.h>

/* The fixed timestamp seediso.c writes everywhere (2000-01-01T00:00:00Z). */
#define EPOCH ((time_t) 946684800)

/* An image read back with libisofs, as a guest's kernel would read it. */
struct readback {
    IsoImage *image;
    int has_rr, has_joliet;
};

/* Load path. With no_rr the names come from the Joliet tree, which proves
 * that tree is there and complete. */
static struct readback
readback_load(const char *path, int no_rr)
{
    struct readback rb = {0};
    IsoDataSource *src = NULL;
    IsoReadOpts *ro = NULL;
    IsoReadImageFeatures *features = NULL;

    assert_true(iso_data_source_new_from_file(path, &src) > 0);
    assert_true(iso_read_opts_new(&ro, 0) > 0);
    iso_read_opts_set_no_rockridge(ro, no_rr);
    assert_true(iso_image_new("readback", &rb.image) > 0);
    assert_true(iso_image_import(rb.image, src, ro, &features) > 0);
    rb.has_rr = iso_read_image_features_has_rockridge(features);
    rb.has_joliet = iso_read_image_features_has_joliet(features);
    iso_read_image_features_destroy(features);
    iso_read_opts_free(ro);
    iso_data_source_unref(src);
    return rb;
}

static void
readback_free(struct readback *rb)
{
    iso_image_unref(rb->image);
    rb->image = NULL;
}

/* The names at the root, sorted, joined by spaces (malloc'd). */
static char *
readback_names(struct readback *rb)
{
    IsoDirIter *it = NULL;
    IsoNode *node;
    char *out = xstrdup("");

    assert_int_equal(iso_dir_get_children(iso_image_get_root(rb->image), &it), 1);
    while (iso_dir_iter_next(it, &node) == 1) {
        char *next = xasprintf("%s%s%s", out, *out ? " " : "", iso_node_get_name(node));

        assert_true(ISO_NODE_IS_FILE(node));
        free(out);
        out = next;
    }
    iso_dir_iter_free(it);
    return out;
}

/* The names in directory path, sorted, joined by spaces (malloc'd). */
static char *
readback_names_dir(struct readback *rb, const char *path)
{
    IsoNode *dirnode = NULL;
    IsoDirIter *it = NULL;
    IsoNode *node;
    char *out = xstrdup("");

    assert_int_equal(iso_tree_path_to_node(rb->image, path, &dirnode), 1);
    assert_int_equal(iso_dir_get_children((IsoDir *) dirnode, &it), 1);
    while (iso_dir_iter_next(it, &node) == 1) {
        char *next = xasprintf("%s%s%s", out, *out ? " " : "", iso_node_get_name(node));

        free(out);
        out = next;
    }
    iso_dir_iter_free(it);
    return out;
}

/* The content of file name, a path from the root (malloc'd, NUL added
 * after len). */
static char *
readback_file(struct readback *rb, const char *name, size_t *len)
{
    IsoNode *node = NULL;
    IsoStream *stream;
    off_t size;
    size_t got = 0;
    char *buf;
    char *abs = xasprintf("/%s", name);

    assert_int_equal(iso_tree_path_to_node(rb->image, abs, &node), 1);
    free(abs);
    assert_true(ISO_NODE_IS_FILE(node));
    stream = iso_file_get_stream((IsoFile *) node);
    size = iso_stream_get_size(stream);
    assert_true(size >= 0);
    buf = xmalloc((size_t) size + 1);
    assert_true(iso_stream_open(stream) >= 0);
    while (got < (size_t) size) {
        int r = iso_stream_read(stream, buf + got, (size_t) size - got);

        assert_true(r > 0);
        got += (size_t) r;
    }
    assert_true(iso_stream_close(stream) >= 0);
    buf[got] = '\0';
    *len = got;
    return buf;
}

/* Rock Ridge attributes that seediso sets on every file. */
static void
assert_rr_attrs(struct readback *rb, const char *name)
{
    IsoNode *node = NULL;

    assert_int_equal(iso_dir_get_node(iso_image_get_root(rb->image), name, &node), 1);
    assert_int_equal(iso_node_get_permissions(node), 0444);
    assert_int_equal(iso_node_get_uid(node), 0);
    assert_int_equal(iso_node_get_gid(node), 0);
    assert_int_equal(iso_node_get_mtime(node), EPOCH);
}

static void
assert_file_is(struct readback *rb, const char *name, const void *want, size_t want_len)
{
    size_t len = 0;
    char *got = readback_file(rb, name, &len);

    assert_int_equal(len, want_len);
    assert_memory_equal(got, want, want_len);
    free(got);
}

/* The number of entries in dir other than . and .. */
static int
dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void
test_nocloud_user_data_only(void **state)
{
    char *dir = tmpdir_make();
    char *iso = xasprintf("%s/noCloud.iso", dir);
    const char *ud = "#cloud-config\npassword: fedora\n";
    struct vmirs_err *err = NULL;
    struct readback rb;
    char *names;
    struct stat st;

    assert_int_equal(seediso_nocloud(iso, "6a1f3e2b-0c4d-4e5f-8a9b-0c1d2e3f4a5b", "testh8998", ud,
                                     strlen(ud), NULL, 0, &err),
                     0);
    assert_null(err);
    assert_int_equal(stat(iso, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(dir_entries(dir), 1); /* no temporary file left */

    rb = readback_load(iso, 0);
    assert_string_equal(iso_image_get_volume_id(rb.image), "cidata");
    assert_true(rb.has_rr);
    assert_true(rb.has_joliet);
    names = readback_names(&rb);
    assert_string_equal(names, "meta-data user-data");
    free(names);
    assert_file_is(&rb, "meta-data",
                   "{\"instance-id\":\"6a1f3e2b-0c4d-4e5f-8a9b-0c1d2e3f4a5b\","
                   "\"local-hostname\":\"testh8998\"}",
                   strlen("{\"instance-id\":\"6a1f3e2b-0c4d-4e5f-8a9b-0c1d2e3f4a5b\","
                          "\"local-hostname\":\"testh8998\"}"));
    assert_file_is(&rb, "user-data", ud, strlen(ud));
    assert_rr_attrs(&rb, "meta-data");
    assert_rr_attrs(&rb, "user-data");
    readback_free(&rb);
    free(iso);
    tmpdir_remove(dir);
}

static void
test_nocloud_network_config(void **state)
{
    char *dir = tmpdir_make();
    char *iso = xasprintf("%s/noCloud.iso", dir);
    const char *net = "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n";
    struct vmirs_err *err = NULL;
    struct readback rb;
    char *names;

    /* Network data only: user-data is still written, empty. */
    assert_int_equal(seediso_nocloud(iso, "id-1", "web", NULL, 0, net, strlen(net), &err), 0);
    assert_null(err);
    rb = readback_load(iso, 0);
    assert_string_equal(iso_image_get_volume_id(rb.image), "cidata");
    names = readback_names(&rb);
    assert_string_equal(names, "meta-data network-config user-data");
    free(names);
    assert_file_is(&rb, "meta-data", "{\"instance-id\":\"id-1\",\"local-hostname\":\"web\"}",
                   strlen("{\"instance-id\":\"id-1\",\"local-hostname\":\"web\"}"));
    assert_file_is(&rb, "user-data", "", 0);
    assert_file_is(&rb, "network-config", net, strlen(net));
    assert_rr_attrs(&rb, "network-config");
    readback_free(&rb);

    /* Empty network data given is still written; NULL means none. */
    assert_int_equal(seediso_nocloud(iso, "id-1", "web", "x", 1, "", 0, &err), 0);
    rb = readback_load(iso, 0);
    names = readback_names(&rb);
    assert_string_equal(names, "meta-data network-config user-data");
    free(names);
    assert_file_is(&rb, "network-config", "", 0);
    readback_free(&rb);
    free(iso);
    tmpdir_remove(dir);
}

/* The OpenStack layout KubeVirt writes for cloudInitConfigDrive, read back
 * through both name trees. */
static void
test_config_drive(void **state)
{
    char *dir = tmpdir_make();
    char *iso = xasprintf("%s/configdrive.iso", dir);
    const char *ud = "#!/bin/sh\necho hi\n";
    const char *nd = "{\"links\":[]}";
    const char *meta = "{\"instance_id\":\"id-1\",\"hostname\":\"web\",\"uuid\":\"id-1\"}";
    struct vmirs_err *err = NULL;
    struct readback rb;
    char *names;

    assert_int_equal(seediso_config_drive(iso, "id-1", "web", ud, strlen(ud), nd, strlen(nd), &err),
                     0);
    assert_null(err);
    for (int no_rr = 0; no_rr < 2; no_rr++) {
        rb = readback_load(iso, no_rr);
        assert_string_equal(iso_image_get_volume_id(rb.image), "config-2");
        assert_true(rb.has_rr && rb.has_joliet);
        assert_file_is(&rb, "openstack/latest/meta_data.json", meta, strlen(meta));
        assert_file_is(&rb, "openstack/latest/user_data", ud, strlen(ud));
        assert_file_is(&rb, "openstack/latest/network_data.json", nd, strlen(nd));
        readback_free(&rb);
    }

    /* Without user data or network data, only meta_data.json. */
    assert_int_equal(seediso_config_drive(iso, "id-2", "db", NULL, 0, NULL, 0, &err), 0);
    rb = readback_load(iso, 0);
    names = readback_names_dir(&rb, "/openstack/latest");
    assert_string_equal(names, "meta_data.json");
    free(names);
    readback_free(&rb);

    /* A file and a directory of one name is refused, naming no data. */
    {
        const struct seediso_file files[] = {{"a", "s3cr3t", 6}, {"a/b", "s3cr3t", 6}};

        assert_int_equal(seediso_write(iso, "x", files, 2, &err), -1);
        assert_non_null(strstr(err->msg, "`a` is a file and a directory"));
        assert_null(strstr(err->msg, "s3cr3t"));
        err_free(&err);
    }
    free(iso);
    tmpdir_remove(dir);
}

static void
test_nocloud_hostile_strings(void **state)
{
    char *dir = tmpdir_make();
    char *iso = xasprintf("%s/noCloud.iso", dir);
    const char *id = "a\"b\\c</script>";
    const char *host = "h\"\\\n\t\x01é";
    const char *want = "{\"instance-id\":\"a\\\"b\\\\c</script>\","
                       "\"local-hostname\":\"h\\\"\\\\\\n\\t\\u0001é\"}";
    struct vmirs_err *err = NULL;
    struct readback rb;
    json_error_t jerr;
    json_t *parsed;
    size_t len = 0;
    char *md;

    assert_int_equal(seediso_nocloud(iso, id, host, "", 0, NULL, 0, &err), 0);
    rb = readback_load(iso, 0);
    md = readback_file(&rb, "meta-data", &len);
    assert_string_equal(md, want);
    /* And a JSON parser gets the original strings back. */
    parsed = json_loads(md, 0, &jerr);
    assert_non_null(parsed);
    assert_string_equal(json_string_value(json_object_get(parsed, "instance-id")), id);
    assert_string_equal(json_string_value(json_object_get(parsed, "local-hostname")), host);
    json_decref(parsed);
    free(md);
    readback_free(&rb);

    /* Bytes that are not UTF-8 cannot become a JSON string. */
    assert_int_equal(seediso_nocloud(iso, "id", "bad\xff", "", 0, NULL, 0, &err), -1);
    assert_non_null(err);
    {
        char *msg =
            xasprintf("write NoCloud seed `%s`: hostname is missing or not valid UTF-8", iso);

        assert_string_equal(err->msg, msg);
        free(msg);
    }
    err_free(&err);
    assert_int_equal(seediso_nocloud(iso, NULL, "web", "", 0, NULL, 0, &err), -1);
    {
        char *msg =
            xasprintf("write NoCloud seed `%s`: instance id is missing or not valid UTF-8", iso);

        assert_string_equal(err->msg, msg);
        free(msg);
    }
    err_free(&err);
    free(iso);
    tmpdir_remove(dir);
}

static void
test_configmap_labels(void **state)
{
    char *dir = tmpdir_make();
    char *iso = xasprintf("%s/cm.iso", dir);
    const struct seediso_file files[] = {
        {"app.properties", "greeting=hello\n", 15},
        {"KEY_NAME", "v", 1},
        {"key-name.v2", "two", 3},
    };
    const char *label32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    struct vmirs_err *err = NULL;
    struct readback rb;
    char *names;

    assert_int_equal(seediso_write(iso, "cfgdata", files, ARRAY_SIZE(files), &err), 0);
    rb = readback_load(iso, 0);
    assert_string_equal(iso_image_get_volume_id(rb.image), "cfgdata");
    assert_true(rb.has_rr);
    assert_true(rb.has_joliet);
    names = readback_names(&rb);
    assert_string_equal(names, "KEY_NAME app.properties key-name.v2");
    free(names);
    assert_file_is(&rb, "app.properties", "greeting=hello\n", 15);
    assert_file_is(&rb, "KEY_NAME", "v", 1);
    assert_file_is(&rb, "key-name.v2", "two", 3);
    readback_free(&rb);

    /* A volumeLabel, overwriting the previous image in place. */
    assert_int_equal(seediso_write(iso, "my config", files, 1, &err), 0);
    rb = readback_load(iso, 0);
    assert_string_equal(iso_image_get_volume_id(rb.image), "my config");
    names = readback_names(&rb);
    assert_string_equal(names, "app.properties");
    free(names);
    readback_free(&rb);
    assert_int_equal(dir_entries(dir), 1);

    assert_int_equal(seediso_write(iso, label32, files, 1, &err), 0);
    rb = readback_load(iso, 0);
    assert_string_equal(iso_image_get_volume_id(rb.image), label32);
    readback_free(&rb);

    /* No files at all is a valid, empty image. */
    assert_int_equal(seediso_write(iso, "cfgdata", NULL, 0, &err), 0);
    rb = readback_load(iso, 0);
    names = readback_names(&rb);
    assert_string_equal(names, "");
    free(names);
    readback_free(&rb);
    free(iso);
    tmpdir_remove(dir);
}

static void
test_bad_labels(void **state)
{
    const char *iso = "/tmp/never-written.iso";
    const struct seediso_file f = {"k", "v", 1};
    struct vmirs_err *err = NULL;

    assert_int_equal(seediso_write(iso, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456", &f, 1, &err), -1);
    assert_string_equal(err->msg, "write ISO `/tmp/never-written.iso`: invalid volume label "
                                  "`ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456`: must be 1 to 32 printable "
                                  "ASCII characters");
    assert_int_equal(seediso_write(iso, "", &f, 1, &err), -1);
    assert_string_equal(err->msg, "write ISO `/tmp/never-written.iso`: invalid volume label ``: "
                                  "must be 1 to 32 printable ASCII characters");
    assert_int_equal(seediso_write(iso, "a\nb", &f, 1, &err), -1);
    assert_string_equal(err->msg, "write ISO `/tmp/never-written.iso`: invalid volume label "
                                  "`a\\x0ab`: must be 1 to 32 printable ASCII characters");
    err_free(&err);
    assert_int_equal(access(iso, F_OK), -1);
}

static void
test_binary_and_empty_files(void **state)
{
    char *dir = tmpdir_make();
    char *iso = xasprintf("%s/secret.iso", dir);
    unsigned char bin[256];
    size_t big_len = 3 * 2048 + 17; /* spans several blocks, ends mid-block */
    unsigned char *big = xmalloc(big_len);
    struct vmirs_err *err = NULL;
    struct readback rb;

    for (size_t i = 0; i < sizeof(bin); i++)
        bin[i] = (unsigned char) i; /* starts with a NUL */
    for (size_t i = 0; i < big_len; i++)
        big[i] = (unsigned char) (i * 7 + 3);
    {
        const struct seediso_file files[] = {
            {"tls.key", bin, sizeof(bin)},
            {"empty", "", 0},
            {"nul", "\0\0\0", 3},
            {"big.bin", big, big_len},
        };

        assert_int_equal(seediso_write(iso, "cfgdata", files, ARRAY_SIZE(files), &err), 0);
    }
    rb = readback_load(iso, 0);
    assert_file_is(&rb, "tls.key", bin, sizeof(bin));
    assert_file_is(&rb, "empty", "", 0);
    assert_file_is(&rb, "nul", "\0\0\0", 3);
    assert_file_is(&rb, "big.bin", big, big_len);
    assert_rr_attrs(&rb, "empty");
    readback_free(&rb);
    free(big);
    free(iso);
    tmpdir_remove(dir);
}

static void
test_joliet_tree(void **state)
{
    char *dir = tmpdir_make();
    char *iso = xasprintf("%s/cm.iso", dir);
    /* 100 characters: past Joliet's standard 64, within its long limit. */
    char longname[101];
    struct vmirs_err *err = NULL;
    struct readback rb;
    char *names, *want;

    memset(longname, 'k', 100);
    longname[100] = '\0';
    {
        const struct seediso_file files[] = {
            {"meta-data", "{}", 2},
            {"Mixed.Case_key", "x", 1},
            {longname, "long", 4},
        };

        assert_int_equal(seediso_write(iso, "cidata", files, ARRAY_SIZE(files), &err), 0);
    }
    /* Without Rock Ridge, names come from the Joliet tree: case and
     * punctuation survive, unlike in the plain ISO9660 8.3 tree. */
    rb = readback_load(iso, 1);
    assert_true(rb.has_joliet);
    names = readback_names(&rb);
    want = xasprintf("Mixed.Case_key %s meta-data", longname);
    assert_string_equal(names, want);
    free(want);
    free(names);
    assert_file_is(&rb, "meta-data", "{}", 2);
    assert_file_is(&rb, longname, "long", 4);
    readback_free(&rb);
    free(iso);
    tmpdir_remove(dir);
}

static void
test_bad_file_names(void **state)
{
    char *dir = tmpdir_make();
    char *iso = xasprintf("%s/cm.iso", dir);
    char toolong[257];
    const char *bad[] = {"a//b", ".", "..",    "sp ace", "tab\there",
                         "/etc", "ü", toolong, "a/",     "a/../b"};
    const char *shown[] = {"a//b", ".",          "..",    "sp ace", "tab\\x09here",
                           "/etc", "\\xc3\\xbc", toolong, "a/",     "a/../b"};
    struct vmirs_err *err = NULL;

    memset(toolong, 'x', 256);
    toolong[256] = '\0';
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        const struct seediso_file files[] = {
            {"ok", "s3cr3t-value", 12},
            {bad[i], "s3cr3t-value", 12},
        };
        char *want = xasprintf("write ISO `%s`: invalid file name `%s`: must be at most 255 "
                               "alphanumeric characters, '-', '_' or '.', and not '.' or '..'",
                               iso, shown[i]);

        assert_int_equal(seediso_write(iso, "cfgdata", files, 2, &err), -1);
        assert_string_equal(err->msg, want);
        assert_null(strstr(err->msg, "s3cr3t"));
        free(want);
    }
    {
        const struct seediso_file files[] = {{"", "s3cr3t", 6}};
        char *want = xasprintf("write ISO `%s`: empty file name", iso);

        assert_int_equal(seediso_write(iso, "cfgdata", files, 1, &err), -1);
        assert_string_equal(err->msg, want);
        free(want);
    }
    {
        const struct seediso_file files[] = {{"dup", "s3cr3t", 6}, {"dup", "s3cr3t", 6}};
        char *want = xasprintf("write ISO `%s`: duplicate file name `dup`", iso);

        assert_int_equal(seediso_write(iso, "cfgdata", files, 2, &err), -1);
        assert_string_equal(err->msg, want);
        free(want);
    }
    err_free(&err);
    /* Nothing was written, not even a temporary file. */
    assert_int_equal(dir_entries(dir), 0);
    free(iso);
    tmpdir_remove(dir);
}

static void
test_unwritable_path(void **state)
{
    const struct seediso_file f = {"k", "v", 1};
    struct vmirs_err *err = NULL;
    char *dir = tmpdir_make();
    char *sub = xasprintf("%s/is-a-dir", dir);

    assert_int_equal(seediso_write("/nonexistent-vmirs/replica/cm.iso", "cfgdata", &f, 1, &err),
                     -1);
    assert_string_equal(err->msg,
                        "write ISO `/nonexistent-vmirs/replica/cm.iso`: No such file or directory");
    assert_int_equal(err->code, ENOENT);
    assert_int_equal(
        seediso_nocloud("/nonexistent-vmirs/noCloud.iso", "i", "h", "", 0, NULL, 0, &err), -1);
    assert_string_equal(err->msg,
                        "write ISO `/nonexistent-vmirs/noCloud.iso`: No such file or directory");

    /* The target is a directory: the rename fails and the temporary file
     * goes away. */
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(seediso_write(sub, "cfgdata", &f, 1, &err), -1);
    assert_non_null(strstr(err->msg, "write ISO `"));
    assert_non_null(strstr(err->msg, "/is-a-dir`: rename `"));
    assert_int_equal(err->code, EISDIR);
    assert_int_equal(dir_entries(dir), 1);
    err_free(&err);
    free(sub);
    tmpdir_remove(dir);
}

static void
test_deterministic(void **state)
{
    char *dir = tmpdir_make();
    char *a = xasprintf("%s/a.iso", dir), *b = xasprintf("%s/b.iso", dir);
    char *da = NULL, *db = NULL;
    size_t la = 0, lb = 0;
    struct vmirs_err *err = NULL;
    time_t later = time(NULL) + 86400 * 400;

    assert_int_equal(seediso_nocloud(a, "id", "host", "ud", 2, "nc", 2, &err), 0);
    /* Move libisofs's idea of "now" by a year; the bytes must not change. */
    iso_nowtime(&later, 1);
    assert_int_equal(seediso_nocloud(b, "id", "host", "ud", 2, "nc", 2, &err), 0);
    iso_nowtime(&later, 2);
    assert_int_equal(read_file(a, &da, &la), 0);
    assert_int_equal(read_file(b, &db, &lb), 0);
    assert_int_equal(la, lb);
    assert_true(la % 2048 == 0);
    assert_memory_equal(da, db, la);
    free(da);
    free(db);

    /* Different content, different bytes. */
    assert_int_equal(seediso_nocloud(b, "id", "host", "uD", 2, "nc", 2, &err), 0);
    assert_int_equal(read_file(b, &db, &lb), 0);
    assert_int_equal(read_file(a, &da, &la), 0);
    assert_true(la != lb || memcmp(da, db, la) != 0);
    free(da);
    free(db);
    free(a);
    free(b);
    tmpdir_remove(dir);
}

static int
group_teardown(void **state)
{
    seediso_finish();
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nocloud_user_data_only),
        cmocka_unit_test(test_nocloud_network_config),
        cmocka_unit_test(test_nocloud_hostile_strings),
        cmocka_unit_test(test_config_drive),
        cmocka_unit_test(test_configmap_labels),
        cmocka_unit_test(test_bad_labels),
        cmocka_unit_test(test_binary_and_empty_files),
        cmocka_unit_test(test_joliet_tree),
        cmocka_unit_test(test_bad_file_names),
        cmocka_unit_test(test_unwritable_path),
        cmocka_unit_test(test_deterministic),
    };

    return cmocka_run_group_tests(tests, NULL, group_teardown);
}
