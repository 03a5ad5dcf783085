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

/* Whether work that must be linear in n is: run(n) does it and returns
 * its seconds, with *floor the seconds of work on the same n items that
 * is linear by nature (parsing them), measured in the same run so that a
 * loaded machine slows both. Each is the best of three. A quadratic
 * lookup per item costs many times the parse at these sizes; a hashed
 * one a fraction of it. */
static inline void
assert_below_floor(double (*run)(size_t n, void *opaque, double *floor), size_t n, void *opaque)
{
    double best = 1e9, best_floor = 1e9;

    for (int i = 0; i < 3; i++) {
        double floor = 0, t = run(n, opaque, &floor);

        best = t < best ? t : best;
        best_floor = floor < best_floor ? floor : best_floor;
    }
    /* Three times the parse: the quadratic code this guards against took
     * 20 to 200 times it at these sizes, and a loaded machine (make -j2
     * beside other work) puts a linear one near the parse's own cost. */
    if (!(best < 3 * best_floor))
        fail_msg("%zu items: %.4f s, more than 3 x the %.4f s of parsing them: not linear", n, best,
                 best_floor);
}

/* A fake random source (names_rng_fn): bytes 0, 1, 2, ... from the
 * unsigned counter opaque points to. */
static inline void
counting_rng(void *buf, size_t n, void *opaque)
{
    unsigned *next = opaque;
    unsigned char *p = buf;

    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char) (*next)++;
}

/* A monotonic clock in seconds, for assert_below_floor's run functions. */
static inline double
monotonic_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

#endif
