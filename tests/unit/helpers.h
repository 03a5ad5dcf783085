/* Shared helpers for the cmocka unit tests. Include after cmocka.h. */
#ifndef VMIRS_TEST_HELPERS_H
#define VMIRS_TEST_HELPERS_H

#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif

/* A fresh temporary directory, removed (with its contents) by tmpdir_remove. */
static inline char *
tmpdir_make(void)
{
    char *d = strdup("/tmp/vmirs-test.XXXXXX");

    assert_non_null(d);
    assert_non_null(mkdtemp(d));
    return d;
}

static inline void
tmpdir_remove(char *d)
{
    char cmd[4096];

    if (!d)
        return;
    /* Test-only: the directory is ours and the name has no quotes. */
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
    assert_int_equal(system(cmd), 0);
    free(d);
}

/* Write a file relative to dir; returns the malloc'd full path. */
static inline char *
write_tmpfile(const char *dir, const char *name, const char *content)
{
    char *path = NULL;
    FILE *f;

    assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* Path of a fixture under tests/fixtures (malloc'd). */
static inline char *
fixture_path(const char *rel)
{
    char *path = NULL;

    assert_true(asprintf(&path, "%s/tests/fixtures/%s", TOP_SRCDIR, rel) > 0);
    return path;
}

/* Whether cost(n) grows linearly rather than quadratically: cost(8n)
 * against cost(n), each the best of three runs (a loaded machine only
 * ever adds time). Linear work gives about 8 (more with cache misses),
 * quadratic 64; the bound sits between, with a millisecond of slack for
 * timer noise on tiny runs. cost returns seconds. */
static inline void
assert_linear(double (*cost)(size_t n, void *opaque), size_t n, void *opaque)
{
    double small = 1e9, large = 1e9;

    for (int i = 0; i < 3; i++) {
        double a = cost(n, opaque), b = cost(8 * n, opaque);

        small = a < small ? a : small;
        large = b < large ? b : large;
    }
    if (!(large < 24 * small + 0.001))
        fail_msg("cost(%zu) = %.4f s but cost(%zu) = %.4f s: %.1f times, not linear", n, small,
                 8 * n, large, large / (small > 0 ? small : 1e-9));
}

/* A monotonic clock in seconds, for assert_linear's cost functions. */
static inline double
monotonic_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

#endif
