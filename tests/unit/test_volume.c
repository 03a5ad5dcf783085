#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include "util.h"
#include "volume.h"

#include <jansson.h>

/* STATIC in volume.c, visible with -DUNITTESTS. */
char *volume_tidy_stderr(const char *s);

#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)

/* Run a test-only command line; the paths are ours and have no quotes. */
static void
run(const char *fmt, ...)
{
    char *cmd = NULL;
    va_list ap;

    va_start(ap, fmt);
    assert_true(vasprintf(&cmd, fmt, ap) > 0);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
    free(cmd);
}

/* `qemu-img info --output=json PATH`, parsed. */
static json_t *
qemu_img_info(const char *path)
{
    char *cmd = xasprintf("qemu-img info --output=json '%s'", path);
    FILE *p = popen(cmd, "r");
    json_error_t jerr;
    json_t *info;

    assert_non_null(p);
    info = json_loadf(p, 0, &jerr);
    assert_int_equal(pclose(p), 0);
    assert_non_null(info);
    free(cmd);
    return info;
}

static const char *
info_str(json_t *info, const char *key)
{
    const char *s = json_string_value(json_object_get(info, key));

    assert_non_null(s);
    return s;
}

static json_int_t
info_int(json_t *info, const char *key)
{
    json_t *v = json_object_get(info, key);

    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static void
assert_err(struct vmirs_err **err, const char *want)
{
    assert_non_null(*err);
    assert_string_equal((*err)->msg, want);
    err_free(err);
}

static void
test_tidy_stderr(void **state)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"", ""},
        {"\n\n", ""},
        {"qemu-img: /o: Could not open '/b': No such file or directory\n"
         "Could not open backing image.\n",
         "/o: Could not open '/b': No such file or directory; Could not open backing image"},
        {"  qemu-img: x...  \r\n", "x"},
        {"one\n\n  two\t\nthree", "one; two; three"},
        {"qemu-img:no space", "qemu-img:no space"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *got = volume_tidy_stderr(cases[i].in);

        assert_string_equal(got, cases[i].want);
        free(got);
    }
}

static void
test_dir_create(void **state)
{
    char *tmp = tmpdir_make();
    char *sd = xasprintf("%s/state", tmp);
    char *want = xasprintf("%s/state/replicas/default_testh8998", tmp);
    char *dir = NULL, *file = NULL, *msg;
    struct vmirs_err *err = NULL;
    struct stat st;

    umask(022);
    /* state_dir itself does not exist yet: parents are made too. */
    assert_int_equal(volume_replica_dir_create(sd, "default_testh8998", &dir, &err), 0);
    assert_null(err);
    assert_string_equal(dir, want);
    assert_int_equal(stat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0711);
    free(dir);
    dir = NULL;
    /* Again: refused, the directory is another replica's and stays. */
    assert_int_equal(volume_replica_dir_create(sd, "default_testh8998", &dir, &err), -1);
    assert_null(dir);
    msg =
        xasprintf("create replica directory `%s`: it exists: another replica has this name", want);
    assert_string_equal(err->msg, msg);
    free(msg);
    err_free(&err);
    assert_int_equal(stat(want, &st), 0);

    /* The replica path is taken by a file or by a symlink to a directory. */
    file = write_tmpfile(tmp, "state/replicas/default_file", "x");
    assert_int_equal(volume_replica_dir_create(sd, "default_file", &dir, &err), -1);
    msg = xasprintf("create replica directory `%s`: Not a directory", file);
    assert_err(&err, msg);
    free(msg);
    free(file);
    file = xasprintf("%s/state/replicas/default_link", tmp);
    assert_int_equal(symlink(tmp, file), 0);
    assert_int_equal(volume_replica_dir_create(sd, "default_link", &dir, &err), -1);
    msg = xasprintf("create replica directory `%s`: Not a directory", file);
    assert_err(&err, msg);
    free(msg);
    free(file);
    assert_null(dir);

    /* A parent is a file. */
    file = write_tmpfile(tmp, "plain", "x");
    assert_int_equal(volume_replica_dir_create(file, "default_a", &dir, &err), -1);
    msg = xasprintf("create replica directory `%s/replicas/default_a`: create `%s`: Not a "
                    "directory",
                    file, file);
    assert_err(&err, msg);
    free(msg);
    free(file);

    free(want);
    free(sd);
    tmpdir_remove(tmp);
}

static void
test_dir_names_refused(void **state)
{
    const char *bad[] = {"a/b", "../x", "..", ".", "", "/abs"};
    struct vmirs_err *err = NULL;
    char *dir = NULL;

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        char *want = xasprintf("create replica directory: invalid name `%s`: must be a single "
                               "path component",
                               bad[i]);

        assert_int_equal(volume_replica_dir_create("/nonexistent-vmirs", bad[i], &dir, &err), -1);
        assert_err(&err, want);
        assert_null(dir);
        free(want);
        want = xasprintf("remove replica directory: invalid name `%s`: must be a single path "
                         "component",
                         bad[i]);
        assert_int_equal(volume_replica_dir_remove("/nonexistent-vmirs", bad[i], &err), -1);
        assert_err(&err, want);
        free(want);
    }
    assert_int_equal(volume_replica_dir_create("", "default_a", &dir, &err), -1);
    assert_err(&err, "create replica directory: empty state directory");
}

static void
check_overlay(const char *overlay, const char *base, const char *fmt, json_int_t size)
{
    json_t *info = qemu_img_info(overlay);

    assert_string_equal(info_str(info, "format"), "qcow2");
    assert_string_equal(info_str(info, "backing-filename"), base);
    assert_string_equal(info_str(info, "full-backing-filename"), base);
    assert_string_equal(info_str(info, "backing-filename-format"), fmt);
    assert_int_equal(info_int(info, "virtual-size"), size);
    json_decref(info);
}

static void
test_overlay(void **state)
{
    char *tmp = tmpdir_make();
    char *raw = xasprintf("%s/disk.img", tmp), *qcow = xasprintf("%s/disk.qcow2", tmp);
    char *o1 = xasprintf("%s/o1.qcow2", tmp), *o2 = xasprintf("%s/o2.qcow2", tmp);
    struct vmirs_err *err = NULL;
    struct stat before, after;

    run("qemu-img create -q -f raw '%s' 64M", raw);
    run("qemu-img create -q -f qcow2 '%s' 128M", qcow);
    assert_int_equal(stat(raw, &before), 0);

    assert_int_equal(volume_overlay_create(o1, raw, "raw", &err), 0);
    assert_null(err);
    check_overlay(o1, raw, "raw", 64 * MIB);
    assert_int_equal(volume_overlay_create(o2, qcow, "qcow2", &err), 0);
    check_overlay(o2, qcow, "qcow2", 128 * MIB);

    /* The backing file is never written. */
    assert_int_equal(stat(raw, &after), 0);
    assert_int_equal(before.st_mtime, after.st_mtime);
    assert_int_equal(before.st_size, after.st_size);

    free(raw);
    free(qcow);
    free(o1);
    free(o2);
    tmpdir_remove(tmp);
}

static void
test_overlay_errors(void **state)
{
    char *tmp = tmpdir_make();
    char *o = xasprintf("%s/o.qcow2", tmp), *missing = xasprintf("%s/missing.img", tmp);
    char *want, *cant_open;
    struct vmirs_err *err = NULL;

    /* qemu-img's own words, once prefixed. */
    assert_int_equal(volume_overlay_create(o, missing, "raw", &err), -1);
    want = xasprintf("create overlay `%s`: qemu-img: ", o);
    cant_open = xasprintf("Could not open '%s': No such file or directory", missing);
    assert_non_null(err);
    assert_true(strncmp(err->msg, want, strlen(want)) == 0);
    assert_non_null(strstr(err->msg, cant_open));
    assert_null(strstr(err->msg, "qemu-img: qemu-img"));
    assert_null(strchr(err->msg, '\n'));
    assert_true(err->msg[strlen(err->msg) - 1] != '.');
    err_free(&err);
    free(want);
    free(cant_open);
    assert_int_equal(access(o, F_OK), -1);

    assert_int_equal(volume_overlay_create(o, missing, "vmdk", &err), -1);
    want = xasprintf("create overlay `%s`: unsupported backing format `vmdk`: must be raw or "
                     "qcow2",
                     o);
    assert_err(&err, want);
    free(want);
    assert_int_equal(volume_overlay_create(o, "disk.img", "raw", &err), -1);
    want = xasprintf("create overlay `%s`: backing file `disk.img` must be an absolute path", o);
    assert_err(&err, want);
    free(want);
    assert_int_equal(volume_overlay_create("o.qcow2", missing, "raw", &err), -1);
    assert_err(&err, "create overlay `o.qcow2`: must be an absolute path");

    free(o);
    free(missing);
    tmpdir_remove(tmp);
}

static void
test_empty_disk(void **state)
{
    char *tmp = tmpdir_make();
    char *p = xasprintf("%s/data.qcow2", tmp), *small = xasprintf("%s/small.qcow2", tmp);
    char *nodir = xasprintf("%s/no/such/dir/x.qcow2", tmp), *want;
    struct vmirs_err *err = NULL;
    json_t *info;
    struct stat st;

    /* 1Gi + 123 bytes rounds down to exactly 1 GiB. */
    assert_int_equal(volume_empty_disk_create(p, GIB + 123, &err), 0);
    assert_null(err);
    info = qemu_img_info(p);
    assert_string_equal(info_str(info, "format"), "qcow2");
    assert_int_equal(info_int(info, "virtual-size"), GIB);
    assert_null(json_object_get(info, "backing-filename"));
    json_decref(info);
    /* Sparse: the file holds metadata only. */
    assert_int_equal(stat(p, &st), 0);
    assert_true((uint64_t) st.st_blocks * 512 < 4 * MIB);

    assert_int_equal(volume_empty_disk_create(small, MIB + MIB - 1, &err), 0);
    info = qemu_img_info(small);
    assert_int_equal(info_int(info, "virtual-size"), MIB);
    json_decref(info);

    assert_int_equal(volume_empty_disk_create(p, 1000, &err), -1);
    want = xasprintf("create empty disk `%s`: capacity of 1000 bytes is less than 1 MiB", p);
    assert_err(&err, want);
    free(want);
    assert_int_equal(volume_empty_disk_create(p, 0, &err), -1);
    want = xasprintf("create empty disk `%s`: capacity of 0 bytes is less than 1 MiB", p);
    assert_err(&err, want);
    free(want);

    assert_int_equal(volume_empty_disk_create(nodir, MIB, &err), -1);
    want = xasprintf("create empty disk `%s`: qemu-img: ", nodir);
    assert_non_null(err);
    assert_true(strncmp(err->msg, want, strlen(want)) == 0);
    assert_non_null(strstr(err->msg, "No such file or directory"));
    err_free(&err);
    free(want);

    free(p);
    free(small);
    free(nodir);
    tmpdir_remove(tmp);
}

static void
test_qemu_img_not_found(void **state)
{
    char *path = getenv("PATH") ? xstrdup(getenv("PATH")) : NULL;
    struct vmirs_err *err = NULL;

    setenv("PATH", "/nonexistent-vmirs", 1);
    assert_int_equal(volume_empty_disk_create("/tmp/never.qcow2", MIB, &err), -1);
    if (path)
        setenv("PATH", path, 1);
    else
        unsetenv("PATH");
    /* glibc reports the failed exec from posix_spawnp; under valgrind,
     * which cannot share the child's memory, the child exits 127 instead. */
    assert_non_null(err);
    if (strcmp(err->msg, "create empty disk `/tmp/never.qcow2`: qemu-img: exited with status 127"))
        assert_string_equal(err->msg, "create empty disk `/tmp/never.qcow2`: run qemu-img: No "
                                      "such file or directory");
    err_free(&err);
    free(path);
}

static void
test_dir_remove(void **state)
{
    char *tmp = tmpdir_make();
    char *sd = xasprintf("%s/state", tmp), *outside = xasprintf("%s/outside", tmp);
    char *dir = NULL, *p, *keep;
    struct vmirs_err *err = NULL;

    /* Nothing there yet, not even replicas/: nothing to do. */
    assert_int_equal(volume_replica_dir_remove(sd, "default_web2x4", &err), 0);
    assert_null(err);

    assert_int_equal(mkdir(outside, 0755), 0);
    keep = write_tmpfile(outside, "keep", "precious");
    assert_int_equal(volume_replica_dir_create(sd, "default_web2x4", &dir, &err), 0);
    assert_int_equal(volume_empty_disk_create((p = xasprintf("%s/data.qcow2", dir)), MIB, &err), 0);
    free(p);
    free(write_tmpfile(dir, "noCloud.iso", "iso"));
    free(write_tmpfile(dir, ".hidden", "h"));
    p = xasprintf("%s/sub", dir);
    assert_int_equal(mkdir(p, 0700), 0);
    free(p);
    p = xasprintf("%s/sub/deeper", dir);
    assert_int_equal(mkdir(p, 0700), 0);
    free(p);
    free(write_tmpfile(dir, "sub/deeper/f", "f"));
    /* Symlinks out of the directory are removed, their targets are not. */
    p = xasprintf("%s/link-dir", dir);
    assert_int_equal(symlink(outside, p), 0);
    free(p);
    p = xasprintf("%s/sub/link-file", dir);
    assert_int_equal(symlink(keep, p), 0);
    free(p);
    /* A sibling replica is untouched. */
    free(dir);
    assert_int_equal(volume_replica_dir_create(sd, "default_other", &dir, &err), 0);
    free(dir);
    dir = xasprintf("%s/replicas/default_web2x4", sd);

    assert_int_equal(volume_replica_dir_remove(sd, "default_web2x4", &err), 0);
    assert_null(err);
    assert_int_equal(access(dir, F_OK), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(access(keep, F_OK), 0);
    assert_int_equal(access(outside, F_OK), 0);
    p = xasprintf("%s/replicas/default_other", sd);
    assert_int_equal(access(p, F_OK), 0);
    free(p);
    /* Twice is harmless. */
    assert_int_equal(volume_replica_dir_remove(sd, "default_web2x4", &err), 0);
    assert_null(err);

    /* A replica entry that is a symlink: the link goes, the target stays. */
    p = xasprintf("%s/replicas/default_link", sd);
    assert_int_equal(symlink(outside, p), 0);
    assert_int_equal(volume_replica_dir_remove(sd, "default_link", &err), 0);
    assert_int_equal(access(p, F_OK), -1);
    assert_int_equal(access(keep, F_OK), 0);
    free(p);

    free(keep);
    free(dir);
    free(outside);
    free(sd);
    tmpdir_remove(tmp);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tidy_stderr),        cmocka_unit_test(test_dir_create),
        cmocka_unit_test(test_dir_names_refused),  cmocka_unit_test(test_overlay),
        cmocka_unit_test(test_overlay_errors),     cmocka_unit_test(test_empty_disk),
        cmocka_unit_test(test_qemu_img_not_found), cmocka_unit_test(test_dir_remove),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
