/* Every fixture manifest against its expected diagnostics, exactly as
 * `vmirsd --validate FILE` prints them; plus the spool's name filter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include "manifest.h"
#include "util.h"
#include "validate.h"

/* Run the validator on one path (relative to the source tree). */
static int
validate_one(const char *path, char **out)
{
    size_t len = 0;
    FILE *f = open_memstream(out, &len);
    char *paths[] = {(char *) path};
    int rc = validate_main(paths, 1, f, NULL);

    fclose(f);
    return rc;
}

static char *
expected_for(const char *fixture)
{
    cleanup_free char *exp = NULL;
    char *data = NULL;
    const char *dot = strrchr(fixture, '.');
    struct stat st;

    /* A directory fixture "bad/dup" pairs with "bad/dup/dup.expected". */
    if (stat(fixture, &st) == 0 && S_ISDIR(st.st_mode))
        exp = xasprintf("%s/%s.expected", fixture, strrchr(fixture, '/') + 1);
    else
        exp = xasprintf("%.*s.expected", (int) (dot - fixture), fixture);
    if (read_file(exp, &data, NULL) < 0)
        fail_msg("missing %s", exp);
    return data;
}

/* Check every fixture in dir; good fixtures must have no error. */
static void
check_dir(const char *dir, bool good)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t checked = 0, failures = 0;

    assert_non_null(d);
    while ((e = readdir(d))) {
        cleanup_free char *path = NULL, *out = NULL, *want = NULL;
        struct stat st;
        bool warn_only = strncmp(e->d_name, "warn-", 5) == 0;
        int rc;

        if (e->d_name[0] == '.' || str_has_suffix(e->d_name, ".expected"))
            continue;
        path = xasprintf("%s/%s", dir, e->d_name);
        assert_int_equal(stat(path, &st), 0);
        rc = validate_one(path, &out);
        want = expected_for(path);
        if (strcmp(out, want) != 0) {
            print_error("%s: diagnostics differ\n--- got\n%s--- want\n%s", path, out, want);
            failures++;
        }
        if (rc != (good || warn_only ? 0 : 1)) {
            print_error("%s: exit status %d\n", path, rc);
            failures++;
        }
        checked++;
    }
    closedir(d);
    assert_int_equal(failures, 0);
    /* The suite promises a real corpus: at least a dozen of each. */
    assert_true(checked >= 12);
}

static void
test_good_fixtures(void **state)
{
    check_dir("tests/fixtures/manifests/good", true);
}

static void
test_bad_fixtures(void **state)
{
    check_dir("tests/fixtures/manifests/bad", false);
}

static void
test_examples_validate_cleanly(void **state)
{
    cleanup_free char *out = NULL;

    /* The seed document's example stays in its own v1alpha2, with the one
     * warning that says a cluster wants v1. */
    assert_int_equal(validate_one("conf/examples", &out), 0);
    assert_string_equal(out, "conf/examples/seed-v1alpha2.yaml:6:13: warning: apiVersion: "
                             "kubevirt.io/v1alpha2 is accepted here, but current KubeVirt serves "
                             "only kubevirt.io/v1 and kubevirt.io/v1alpha3: write kubevirt.io/v1 "
                             "before applying this file to a cluster\n");
}

static void
test_filename_filter(void **state)
{
    assert_true(manifest_filename_ok("web.yaml"));
    assert_true(manifest_filename_ok("web.yml"));
    assert_true(manifest_filename_ok("web.json"));
    assert_false(manifest_filename_ok(".web.yaml"));
    assert_false(manifest_filename_ok("web.yaml~"));
    assert_false(manifest_filename_ok(".web.yaml.swp"));
    assert_false(manifest_filename_ok("web.yaml.swp"));
    assert_false(manifest_filename_ok("web.yaml.tmp"));
    assert_false(manifest_filename_ok("web.txt"));
    assert_false(manifest_filename_ok("README"));
}

static int
setup(void **state)
{
    /* Fixture paths and their .expected files are relative to the tree. */
    return chdir(TOP_SRCDIR);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_fixtures),
        cmocka_unit_test(test_bad_fixtures),
        cmocka_unit_test(test_examples_validate_cleanly),
        cmocka_unit_test(test_filename_filter),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
