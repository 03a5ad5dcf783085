#include "config.h"

#include "util.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void
cleanup_freep(void *p)
{
    void **pp = p;

    free(*pp);
    *pp = NULL;
}

void
cleanup_closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

void
cleanup_fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
    *f = NULL;
}

void *
steal_ptr(void *pp)
{
    void **p = pp;
    void *v = *p;

    *p = NULL;
    return v;
}

static void
oom(void)
{
    fputs("fatal: out of memory\n", stderr);
    abort();
}

void *
xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (!p)
        oom();
    return p;
}

void *
xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (!p)
        oom();
    return p;
}

void *
xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (!q)
        oom();
    return q;
}

char *
xstrdup(const char *s)
{
    char *p = strdup(s);

    if (!p)
        oom();
    return p;
}

char *
xstrndup(const char *s, size_t n)
{
    char *p = strndup(s, n);

    if (!p)
        oom();
    return p;
}

char *
xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        oom();
    va_end(ap);
    return s;
}

void *
xgrow(void *v, size_t *cap, size_t n, size_t size)
{
    size_t c = *cap;

    if (n < c)
        return v;
    while (c <= n)
        c = c ? c * 2 : 4;
    v = xrealloc(v, c * size);
    memset((char *) v + *cap * size, 0, (c - *cap) * size);
    *cap = c;
    return v;
}

int
parse_int64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    long long v;

    if (!s || !*s)
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int
read_file(const char *path, char **data, size_t *len)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    cleanup_free char *buf = NULL;
    size_t cap = 0, n = 0;

    if (fd < 0)
        return -1;
    for (;;) {
        ssize_t r;

        if (n + 1 >= cap) {
            cap = cap ? cap * 2 : 8192;
            buf = xrealloc(buf, cap);
        }
        r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        n += (size_t) r;
    }
    if (!buf)
        buf = xmalloc(1);
    buf[n] = '\0';
    *data = steal_ptr(&buf);
    if (len)
        *len = n;
    return 0;
}

int
write_file_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
    cleanup_free char *dircopy = xstrdup(path);
    cleanup_free char *tmp = NULL;
    const char *p = data;
    const char *dir = dirname(dircopy);
    int fd, saved;

    /* The temporary name starts with a dot and ends in .tmp, so a spool
     * watcher never mistakes it for a manifest. */
    tmp = xasprintf("%s/.%s.XXXXXX.tmp", dir, strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
    fd = mkstemps(tmp, 4);
    if (fd < 0)
        return -1;
    if (fchmod(fd, mode) < 0)
        goto fail;
    while (len > 0) {
        ssize_t w = write(fd, p, len);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            goto fail;
        p += w;
        len -= (size_t) w;
    }
    if (fsync(fd) < 0)
        goto fail;
    if (close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) < 0)
        goto fail;
    return 0;

fail:
    saved = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    errno = saved;
    return -1;
}

size_t
str_edit_distance(const char *a, const char *b, size_t max)
{
    size_t la = strlen(a), lb = strlen(b), d;
    cleanup_free size_t *row = NULL;

    /* The distance is at least the difference in length. */
    if ((la > lb ? la - lb : lb - la) >= max)
        return max;
    row = xcalloc(lb + 1, sizeof(*row));
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];

        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);

            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    d = row[lb];
    return d < max ? d : max;
}

bool
str_has_suffix(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);

    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

bool
streq0(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

void
sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char d[32];

    /* Only fails for an unknown algorithm, which SHA-256 never is. */
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, d) < 0)
        abort();
    for (size_t i = 0; i < sizeof(d); i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

int
mkdir_parents(const char *path, unsigned mode, char **failed)
{
    cleanup_free char *p = xstrdup(path);

    for (char *s = strchr(p + 1, '/');; s = strchr(s + 1, '/')) {
        if (s)
            *s = '\0';
        if (*p && mkdir(p, mode) < 0) {
            struct stat st;
            int saved = errno;

            /* Something that exists but is no directory fails here, where
             * it is, not one level further down. */
            if (saved == EEXIST && stat(p, &st) == 0 && S_ISDIR(st.st_mode))
                goto next;
            if (saved == EEXIST)
                saved = ENOTDIR;
            if (failed)
                *failed = xstrdup(p);
            errno = saved;
            return -1;
        }
    next:
        if (!s)
            return 0;
        *s = '/';
        if (!s[1])
            return 0; /* a trailing slash */
    }
}

static int64_t
clock_ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
clock_wall_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

int64_t
clock_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}
