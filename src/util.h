/* Small helpers every module uses: allocation that aborts on OOM, ownership
 * annotations, strict number parsing and atomic file writes. */
#ifndef VMIRS_UTIL_H
#define VMIRS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef UNITTESTS
#define STATIC
#else
#define STATIC static
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Free a local when it goes out of scope; hand it on with steal_ptr(). */
#define cleanup_free __attribute__((cleanup(cleanup_freep)))
#define cleanup_close __attribute__((cleanup(cleanup_closep)))
#define cleanup_fclose __attribute__((cleanup(cleanup_fclosep)))
void cleanup_freep(void *p);
void cleanup_closep(int *fd);
void cleanup_fclosep(FILE **f);

/* Return *pp and set it to NULL: the caller takes ownership. */
void *steal_ptr(void *pp);

/* Allocate or abort: out of memory is not an error vmirsd recovers from. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Grow *v (elements of size) so that index n fits; *cap tracks capacity. */
void *xgrow(void *v, size_t *cap, size_t n, size_t size);

/* Parse all of s as a base-10 integer within [min, max]; 0 or -1. */
int parse_int64(const char *s, int64_t min, int64_t max, int64_t *out);

/* Read a whole file into a NUL-terminated buffer; -1 with errno set. */
int read_file(const char *path, char **data, size_t *len);

/* Write data to path through a temporary file in the same directory,
 * fsync and rename, so readers see the old or the new content, never a mix. */
int write_file_atomic(const char *path, const void *data, size_t len, unsigned mode);

/* mkdir path and its missing parents with mode; an existing directory is
 * fine. -1 with errno set, and *failed (when not NULL) naming the level
 * that could not be made (malloc'd). */
int mkdir_parents(const char *path, unsigned mode, char **failed);

/* The SHA-256 of data as 64 lower-case hex digits. */
void sha256_hex(const void *data, size_t len, char out[65]);

/* The Levenshtein distance between a and b, or max when it is max or more:
 * "did you mean" hints want only small distances, and the cap sends a long
 * string that cannot be close away before any work. */
size_t str_edit_distance(const char *a, const char *b, size_t max);

bool str_has_suffix(const char *s, const char *suffix);
bool streq0(const char *a, const char *b);

/* Milliseconds of CLOCK_REALTIME: for what must survive a restart (the
 * store's times, AGE, the intent journal). */
int64_t clock_wall_ms(void);
/* Milliseconds of CLOCK_MONOTONIC: for durations and deadlines outside
 * the loop (the loop's own clock is uv_now). */
int64_t clock_mono_ms(void);

#endif
