/* The validate pipeline over directories: the spool's filters, the
 * order, objects defined twice, references to ConfigMaps and Secrets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include "util.h"
#include "validate.h"

#define CM(name) "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " name "\ndata: {a: b}\n"

#define VMIRS_WITH_VOLUMES(name, volumes)                                                          \
    "apiVersion: kubevirt.io/v1\n"                                                                 \
    "kind: VirtualMachineInstanceReplicaSet\n"                                                     \
    "metadata:\n"                                                                                  \
    "  name: " name "\n"                                                                           \
    "spec:\n"                                                                                      \
    "  selector: {matchLabels: {app: web}}\n"                                                      \
    "  template:\n"                                                                                \
    "    metadata: {labels: {app: web}}\n"                                                         \
    "    spec:\n"                                                                                  \
    "      domain: {memory: {guest: 64Mi}, devices: {}}\n"                                         \
    "      volumes:\n" volumes

static int
run(char *dir, char **out, char **summary)
{
    size_t len = 0, slen = 0;
    FILE *f = open_memstream(out, &len);
    FILE *s = open_memstream(summary, &slen);
    char *paths[] = {dir};
    int rc = validate_main(paths, 1, f, s);

    fclose(f);
    fclose(s);
    return rc;
}

static void
test_filters_and_summary(void **state)
{
    char *dir = tmpdir_make();
    char *out = NULL, *summary = NULL;

    free(write_tmpfile(dir, "a.yaml", CM("one")));
    free(write_tmpfile(
        dir, "b.json",
        "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"two\"}}"));
    /* None of these is a manifest the spool would read. */
    free(write_tmpfile(dir, ".hidden.yaml", "{{{"));
    free(write_tmpfile(dir, "c.yaml~", "{{{"));
    free(write_tmpfile(dir, "c.yaml.swp", "{{{"));
    free(write_tmpfile(dir, "d.yaml.tmp", "{{{"));
    free(write_tmpfile(dir, "notes.txt", "{{{"));
    assert_int_equal(run(dir, &out, &summary), 0);
    assert_string_equal(out, "");
    assert_string_equal(summary, "2 files, 2 objects: 0 errors, 0 warnings\n");
    free(out);
    free(summary);
    tmpdir_remove(dir);
}

static void
test_duplicate_object_first_file_wins(void **state)
{
    char *dir = tmpdir_make();
    char *out = NULL, *summary = NULL, *want = NULL;

    free(write_tmpfile(dir, "b.yaml", CM("shared")));
    free(write_tmpfile(dir, "a.yaml", CM("shared")));
    assert_int_equal(run(dir, &out, &summary), 1);
    /* a.yaml sorts first, so b.yaml's copy is the one refused. */
    assert_true(
        asprintf(
            &want,
            "%s/b.yaml:4:9: error: metadata.name: Duplicate value: ConfigMap \"default/shared\" is "
            "already defined at %s/a.yaml:4:9; this definition is ignored\n",
            dir, dir) > 0);
    assert_string_equal(out, want);
    free(want);
    free(out);
    free(summary);
    tmpdir_remove(dir);
}

/* A file without objects (empty, or only comments) between two that
 * define the same object: the duplicate is still reported, once, and
 * finding where the first definition lives does no arithmetic on the
 * empty file's NULL object list (UBSan: "applying zero offset to null
 * pointer" in check_duplicates before). */
static void
test_duplicate_around_a_file_without_objects(void **state)
{
    char *dir = tmpdir_make();
    char *out = NULL, *summary = NULL, *want = NULL;

    free(write_tmpfile(dir, "a.yaml", CM("shared")));
    free(write_tmpfile(dir, "b.yaml", "# nothing here yet\n"));
    free(write_tmpfile(dir, "c.yaml", CM("shared")));
    assert_int_equal(run(dir, &out, &summary), 1);
    assert_true(
        asprintf(
            &want,
            "%s/c.yaml:4:9: error: metadata.name: Duplicate value: ConfigMap \"default/shared\" is "
            "already defined at %s/a.yaml:4:9; this definition is ignored\n",
            dir, dir) > 0);
    assert_string_equal(out, want);
    assert_string_equal(summary, "3 files, 2 objects: 1 error, 0 warnings\n");
    free(want);
    free(out);
    free(summary);
    tmpdir_remove(dir);
}

static void
test_references(void **state)
{
    char *dir = tmpdir_make();
    char *out = NULL, *summary = NULL, *want = NULL;

    free(write_tmpfile(dir, "cm.yaml", CM("present")));
    free(write_tmpfile(
        dir, "web.yaml",
        VMIRS_WITH_VOLUMES("web", "      - {name: a, configMap: {name: present}}\n"
                                  "      - {name: b, configMap: {name: absent}}\n"
                                  "      - {name: c, configMap: {name: maybe, optional: true}}\n"
                                  "      - {name: d, secret: {secretName: creds}}\n")));
    assert_int_equal(run(dir, &out, &summary), 0);
    assert_true(
        asprintf(
            &want,
            "%s/web.yaml:13:37: warning: spec.template.spec.volumes[1].configMap.name: ConfigMap "
            "\"default/absent\" is not defined in these files; replicas cannot start until it is\n"
            "%s/web.yaml:15:40: warning: spec.template.spec.volumes[3].secret.secretName: Secret "
            "\"default/creds\" is not defined in these files; replicas cannot start until it is\n",
            dir, dir) > 0);
    assert_string_equal(out, want);
    assert_string_equal(summary, "2 files, 2 objects: 0 errors, 2 warnings\n");
    free(want);
    free(out);
    free(summary);
    tmpdir_remove(dir);
}

/* n ConfigMaps in one file and a VMIRS in another whose volume names the
 * last of them: the duplicate and reference checks across files. */
static double
cross_check_cost(size_t n, void *opaque, double *floor)
{
    struct manifest_file files[2] = {{0}};
    struct diag_list diags = {0};
    char *text = NULL, *vmirs = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    double t0;

    (void) opaque;
    for (size_t i = 0; i < n; i++)
        fprintf(f, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm%zu}\n", i);
    fclose(f);
    t0 = monotonic_seconds();
    assert_int_equal(manifest_parse(&files[0], "a.yaml", text, len), 0);
    *floor = monotonic_seconds() - t0;
    assert_true(asprintf(&vmirs,
                         VMIRS_WITH_VOLUMES("web", "      - {name: a, configMap: {name: cm%zu}}\n"),
                         n - 1) > 0);
    assert_int_equal(manifest_parse(&files[1], "b.yaml", vmirs, strlen(vmirs)), 0);
    t0 = monotonic_seconds();
    validate_cross_check(files, 2, &diags);
    t0 = monotonic_seconds() - t0;
    assert_int_equal(diags.n, 0);
    manifest_file_free(&files[0]);
    manifest_file_free(&files[1]);
    free(text);
    free(vmirs);
    return t0;
}

/* 100,000 ConfigMaps took minutes: every object was compared with every
 * object before it. The floor is parsing them. */
static void
test_cross_check_is_linear(void **state)
{
    assert_below_floor(cross_check_cost, 16000, NULL);
}

/* Only regular files are read, and a FIFO is never opened in a way that
 * blocks (the old read waited for a writer forever: an alarm turns that
 * into a failure); named on the command line or found in a directory.
 * File names are printed escaped: a newline cannot forge a line. */
static void
test_irregular_files_and_names(void **state)
{
    char *dir = tmpdir_make();
    char *out = NULL, *summary = NULL, *want = NULL;
    cleanup_free char *fifo = NULL, *link = NULL, *big = NULL, *sub = NULL;
    char *paths[2];
    size_t len = 0, slen = 0;
    FILE *f, *sf;
    int fd;

    fifo = xasprintf("%s/fifo.yaml", dir);
    link = xasprintf("%s/link.yaml", dir);
    big = xasprintf("%s/big.yaml", dir);
    sub = xasprintf("%s/sub.yaml", dir);
    assert_int_equal(mkfifo(fifo, 0644), 0);
    assert_int_equal(symlink(fifo, link), 0);
    assert_int_equal(mkdir(sub, 0755), 0);
    fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (16 << 20) + 1), 0);
    close(fd);
    free(write_tmpfile(dir, "new\nline.yaml", CM("x\u00e9")));
    alarm(10);

    paths[0] = fifo;
    f = open_memstream(&out, &len);
    assert_int_equal(validate_main(paths, 1, f, NULL), 1);
    fclose(f);
    assert_true(asprintf(&want, "%s: error: read: not a regular file (a FIFO)\n", fifo) > 0);
    assert_string_equal(out, want);
    free(out);
    free(want);

    paths[0] = dir;
    f = open_memstream(&out, &len);
    sf = open_memstream(&summary, &slen);
    assert_int_equal(validate_main(paths, 1, f, sf), 1);
    fclose(f);
    fclose(sf);
    assert_true(
        asprintf(&want,
                 "%s/big.yaml: error: read: larger than 16 MiB\n"
                 "%s/fifo.yaml: error: read: not a regular file (a FIFO)\n"
                 "%s/link.yaml: error: read: symbolic link to `%s`, not a regular file (a FIFO)\n"
                 "%s/new\\nline.yaml:4:9: error: metadata.name: Invalid value: \"x\u00e9\": a "
                 "lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                 "characters, '-' or '.', and must start and end with an alphanumeric character "
                 "(e.g. 'example.com', regex used for validation is "
                 "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')\n"
                 "%s/sub.yaml: error: read: not a regular file (a directory)\n",
                 dir, dir, dir, fifo, dir, dir) > 0);
    assert_string_equal(out, want);
    assert_string_equal(summary, "5 files, 1 object: 5 errors, 0 warnings\n");
    alarm(0);
    free(want);
    free(out);
    free(summary);
    tmpdir_remove(dir);
}

static void
test_missing_path(void **state)
{
    char *out = NULL, *summary = NULL;

    assert_int_equal(run("/nonexistent/vmirs.d", &out, &summary), 1);
    assert_string_equal(out, "/nonexistent/vmirs.d: error: stat: No such file or directory\n");
    free(out);
    free(summary);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filters_and_summary),
        cmocka_unit_test(test_duplicate_object_first_file_wins),
        cmocka_unit_test(test_duplicate_around_a_file_without_objects),
        cmocka_unit_test(test_references),
        cmocka_unit_test(test_cross_check_is_linear),
        cmocka_unit_test(test_irregular_files_and_names),
        cmocka_unit_test(test_missing_path),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
