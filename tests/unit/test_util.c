#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include "util.h"

static void
test_parse_int64(void **state)
{
    int64_t v = 0;

    assert_int_equal(parse_int64("42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(parse_int64("-5", -10, 10, &v), 0);
    assert_int_equal(v, -5);
    assert_int_equal(parse_int64("101", 0, 100, &v), -1);
    assert_int_equal(parse_int64("12abc", 0, 100, &v), -1);
    assert_int_equal(parse_int64("", 0, 100, &v), -1);
    assert_int_equal(parse_int64("99999999999999999999", INT64_MIN, INT64_MAX, &v), -1);
}

static void
test_steal_and_cleanup(void **state)
{
    char *kept;

    {
        cleanup_free char *s = xstrdup("owned");

        kept = steal_ptr(&s);
        assert_null(s);
    }
    assert_string_equal(kept, "owned");
    free(kept);
}

static void
test_write_atomic(void **state)
{
    char *dir = tmpdir_make();
    char *path = NULL, *data = NULL;
    size_t len;
    struct stat st;
    DIR *d;
    struct dirent *e;
    int entries = 0;

    assert_true(asprintf(&path, "%s/web.yaml", dir) > 0);
    assert_int_equal(write_file_atomic(path, "one\n", 4, 0640), 0);
    assert_int_equal(write_file_atomic(path, "second\n", 7, 0640), 0);
    assert_int_equal(read_file(path, &data, &len), 0);
    assert_int_equal(len, 7);
    assert_string_equal(data, "second\n");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    /* No temporary file is left behind. */
    d = opendir(dir);
    while ((e = readdir(d)))
        entries += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(entries, 1);
    free(data);
    free(path);
    tmpdir_remove(dir);
}

static void
test_read_missing(void **state)
{
    char *data = NULL;

    assert_int_equal(read_file("/nonexistent/vmirs", &data, NULL), -1);
    assert_int_equal(errno, ENOENT);
    assert_null(data);
}

static void
test_mkdir_parents(void **state)
{
    char *dir = tmpdir_make();
    char *deep = NULL, *failed = NULL, *file = NULL;
    struct stat st;

    assert_true(asprintf(&deep, "%s/a/b/c/", dir) > 0);
    assert_int_equal(mkdir_parents(deep, 0750, NULL), 0);
    assert_int_equal(stat(deep, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0750);
    /* Existing directories are fine. */
    assert_int_equal(mkdir_parents(deep, 0750, NULL), 0);
    free(deep);
    /* A file in the way: it is named, as volume's replica directories
     * have always reported it. */
    file = write_tmpfile(dir, "f", "x");
    assert_true(asprintf(&deep, "%s/f/g", dir) > 0);
    assert_int_equal(mkdir_parents(deep, 0755, &failed), -1);
    assert_int_equal(errno, ENOTDIR);
    assert_string_equal(failed, file);
    free(failed);
    free(deep);
    free(file);
    tmpdir_remove(dir);
}

/* The distance, and the cap that stops the count once it cannot matter. */
static void
test_str_edit_distance(void **state)
{
    static const struct {
        const char *a, *b;
        size_t max, want;
    } cases[] = {
        {"", "", 3, 0},
        {"name", "name", 3, 0},
        {"nmae", "name", 3, 2},       /* a transposition is two edits */
        {"nam", "name", 3, 1},        /* an insertion */
        {"names", "name", 3, 1},      /* a deletion */
        {"nbme", "name", 3, 1},       /* a substitution */
        {"kitten", "sitting", 10, 3}, /* the textbook pair */
        {"kitten", "sitting", 3, 3},  /* at the cap: the cap */
        {"kitten", "sitting", 2, 2},  /* over the cap: the cap */
        {"", "volumes", 99, 7},       /* all insertions */
        {"a", "abcdef", 3, 3},        /* lengths too far apart: the cap at once */
        {"replicas", "replica", 3, 1},
        {"max_paralel", "max_parallel", 3, 1},
        {"imagePullPolicy", "imagepullpolicy", 3, 2}, /* case counts: two edits */
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        size_t got = str_edit_distance(cases[i].a, cases[i].b, cases[i].max);

        if (got != cases[i].want)
            fail_msg("\"%s\" to \"%s\" (max %zu): want %zu, got %zu", cases[i].a, cases[i].b,
                     cases[i].max, cases[i].want, got);
        /* Symmetric: the hint does not depend on which side is the typo. */
        assert_int_equal(str_edit_distance(cases[i].b, cases[i].a, cases[i].max), got);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_int64),   cmocka_unit_test(test_steal_and_cleanup),
        cmocka_unit_test(test_write_atomic),  cmocka_unit_test(test_read_missing),
        cmocka_unit_test(test_mkdir_parents), cmocka_unit_test(test_str_edit_distance),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
