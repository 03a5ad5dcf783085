#include "config.h"

#define LOG_COMPONENT "spool"

#include "spool.h"

#include "err.h"
#include "log.h"
#include "manifest.h"
#include "util.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* While the directory is missing or unreadable, look for it this often. */
#define SPOOL_RETRY_MS 1000
/* Every event re-arms the debounce timer, so a process that never stops
 * writing a manifest would postpone the scan forever; scan at the latest
 * this many debounce periods after the first event not yet scanned. */
#define SPOOL_DEFER_FACTOR 10

/* How often a spool lost its directory, for the tests to wait on. */
STATIC unsigned long spool_dir_losses;

struct spool_file {
    char *name;
    char hash[65]; /* SHA-256 of the content last reported; "" if never reported */
    char *problem; /* why it was not read at the last scan (logged then), or NULL */
};

/* A directory entry that passed the name filter, and what reading it
 * gave (filled on a worker thread). */
struct spool_seen {
    char *name;
    int rc;      /* manifest_read's */
    char *bytes; /* rc 0: the content */
    size_t len;
    char *why;     /* rc < 0: why it was not read */
    char hash[65]; /* rc 0: SHA-256 of bytes */
    bool gone;     /* no longer there when it was read: as if not listed */
};

/* One scan's reads, off the loop. */
struct spool_read {
    uv_work_t work;
    struct spool *s;
    struct spool_seen *seen;
    size_t n;
};

struct spool {
    uv_loop_t *loop;
    char *dir;
    const char *dir_base; /* the file name libuv reports for events on dir itself */
    unsigned debounce_ms;
    struct spool_ops ops;
    void *opaque;

    uv_fs_event_t event;
    uv_timer_t timer; /* the debounce, or the retry while the directory is gone */
    unsigned open_handles;

    bool watching; /* event is started */
    bool rewatch;  /* the watch may be on a dead or replaced directory */
    dev_t dev;     /* of the directory being watched */
    ino_t ino;
    bool pending;         /* the debounce is armed */
    uint64_t first_event; /* loop time of the first event not scanned yet */
    int dir_errno;        /* why the last scan could not list the directory, or 0 */
    char *dir_problem;    /* why the directory is not trusted (logged), or NULL */
    bool scanning, again, stopping;
    bool reading; /* a scan's reads are on a worker thread */

    struct spool_file *files; /* as of the last scan, sorted by name */
    size_t nfiles;
};

static void spool_scan(struct spool *s);
static void spool_read_start(struct spool *s, struct spool_seen *seen, size_t n);

static void
spool_files_free(struct spool_file *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].problem);
    }
    free(v);
}

static void
spool_seen_free(struct spool_seen *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].bytes);
        free(v[i].why);
    }
    free(v);
}

/* Each handle's close, and a read that ends after spool_stop, drops one
 * reference; the last frees the spool. */
static void
spool_unref(struct spool *s)
{
    if (--s->open_handles > 0)
        return;
    spool_files_free(s->files, s->nfiles);
    free(s->dir_problem);
    free(s->dir);
    free(s);
}

static void
on_closed(uv_handle_t *h)
{
    spool_unref(h->data);
}

static void
on_timer(uv_timer_t *t)
{
    struct spool *s = t->data;

    s->pending = false;
    spool_scan(s);
}

static void
spool_arm(struct spool *s)
{
    uint64_t now = uv_now(s->loop);
    uint64_t delay = s->debounce_ms, deadline;

    if (!s->pending) {
        s->pending = true;
        s->first_event = now;
    }
    deadline = s->first_event + (uint64_t) s->debounce_ms * SPOOL_DEFER_FACTOR;
    if (now + delay > deadline)
        delay = deadline > now ? deadline - now : 0;
    uv_timer_start(&s->timer, on_timer, delay, 0);
}

/* libuv drops the kernel's IN_Q_OVERFLOW (it names no watch): with 20000
 * files created before the loop ran, 16384 callbacks came (the default
 * fs.inotify.max_queued_events) and nothing told of the rest. Events lost
 * that way go unnoticed until the next event or a spool_rescan(). */
static void
on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    struct spool *s = h->data;

    if (status < 0) {
        cleanup_free char *dir = log_escape_name(s->dir);

        log_warn("watch spool directory `%s`: %s", dir, uv_strerror(status));
        s->rewatch = true;
    } else if (filename && (events & UV_RENAME) && strcmp(filename, s->dir_base) == 0) {
        /* IN_DELETE_SELF, IN_MOVE_SELF or IN_IGNORED: the watch is dead, or
         * follows the directory to wherever it was moved. (A file inside
         * with the directory's own name only costs a needless re-watch.) */
        s->rewatch = true;
    } else if (filename && !(events & UV_RENAME) && !manifest_filename_ok(filename)) {
        /* Writes to an editor's swap file or to a temporary file: nothing to
         * scan until it is renamed into place, which is a UV_RENAME. */
        return;
    }
    spool_arm(s);
}

/* The directory cannot be listed. The files of the last scan are not
 * reported removed: a directory that vanishes is far more often being
 * replaced (a restore, configuration management) than emptied on purpose,
 * and "removed" deletes every replica. Whoever wants that removes the
 * files. When the directory is back, its scan reports whatever differs. */
static void
spool_lost(struct spool *s, const char *what, int errnum)
{
    if (s->dir_errno != errnum) {
        cleanup_free char *dir = log_escape_name(s->dir);

        log_warn("%s spool directory `%s`: %s (retrying every second)", what, dir,
                 strerror(errnum));
        if (!s->dir_errno)
            spool_dir_losses++;
        s->dir_errno = errnum;
    }
    if (s->watching) {
        uv_fs_event_stop(&s->event);
        s->watching = false;
    }
    uv_timer_start(&s->timer, on_timer, SPOOL_RETRY_MS, 0);
}

/* The directory is not trusted (SPEC section 2: anyone who can write it
 * could run VMs through root's libvirt): read nothing from it, keep what
 * the last scan saw in force, say so once, and look again every second
 * (a chmod of the directory itself is no event the watch reports). */
static void
spool_untrusted(struct spool *s, char *why)
{
    if (!streq0(s->dir_problem, why)) {
        cleanup_free char *dir = log_escape_name(s->dir);

        log_error("not reading spool directory `%s`: %s (checking again every second)", dir, why);
        free(s->dir_problem);
        s->dir_problem = steal_ptr(&why);
    }
    free(why);
    uv_timer_start(&s->timer, on_timer, SPOOL_RETRY_MS, 0);
}

/* Make sure the watch is on the directory st describes. Returns 1 when it
 * was (re)started, 0 when it was already right, a libuv error otherwise. */
static int
spool_watch(struct spool *s, const struct stat *st)
{
    int r;

    if (s->watching && !s->rewatch && s->dev == st->st_dev && s->ino == st->st_ino)
        return 0;
    if (s->watching) {
        uv_fs_event_stop(&s->event);
        s->watching = false;
    }
    r = uv_fs_event_start(&s->event, on_fs_event, s->dir, 0);
    if (r < 0)
        return r;
    s->watching = true;
    s->rewatch = false;
    s->dev = st->st_dev;
    s->ino = st->st_ino;
    return 1;
}

static int
spool_seen_cmp(const void *a, const void *b)
{
    return strcmp(((const struct spool_seen *) a)->name, ((const struct spool_seen *) b)->name);
}

/* The entries of d that are manifests, sorted by name; -1 with errno set
 * when readdir fails. */
static int
spool_list(DIR *d, struct spool_seen **out, size_t *nout)
{
    struct spool_seen *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;

    for (;;) {
        struct stat st;

        errno = 0;
        e = readdir(d);
        if (!e)
            break;
        if (!manifest_filename_ok(e->d_name))
            continue;
        /* Following symbolic links, as --validate does: a link to a manifest
         * kept elsewhere is a manifest (inotify does not see edits to the
         * target; the next scan or a SIGHUP does). A dangling link or a
         * file gone since readdir is not listed. Everything else is, to be
         * read or refused by manifest_read with the reason: whether it is
         * a regular file and whom it belongs to is checked there, on the
         * open file. */
        if (fstatat(dirfd(d), e->d_name, &st, 0) < 0 && errno == ENOENT)
            continue;
        v = xgrow(v, &cap, n, sizeof(*v));
        v[n].name = xstrdup(e->d_name);
        n++;
    }
    if (errno) {
        int saved = errno;

        for (size_t i = 0; i < n; i++)
            free(v[i].name);
        free(v);
        errno = saved;
        return -1;
    }
    if (n)
        qsort(v, n, sizeof(*v), spool_seen_cmp);
    *out = v;
    *nout = n;
    return 0;
}

static char *
spool_path(const struct spool *s, const char *name)
{
    return xasprintf("%s%s%s", s->dir, str_has_suffix(s->dir, "/") ? "" : "/", name);
}

/* Compare the listing, read on a worker, with the last scan and report the
 * differences. The reads and hashes are off the loop (SPEC section 2): a
 * thousand small files cost some 20 ms and a 16 MiB one some 15 ms here,
 * and a slow disk or a network filesystem far more, all of which would
 * stall every replica's timers. */
static void
spool_report(struct spool *s, struct spool_seen *seen, size_t n)
{
    struct spool_file *next = xcalloc(n ? n : 1, sizeof(*next));
    size_t nnext = 0, nchanged = 0, nremoved = 0, i, j;

    for (i = 0, j = 0; i < s->nfiles; i++) {
        cleanup_free char *path = NULL;

        while (j < n && strcmp(seen[j].name, s->files[i].name) < 0)
            j++;
        if (j < n && strcmp(seen[j].name, s->files[i].name) == 0)
            continue;
        if (!s->files[i].hash[0])
            continue; /* never reported: refused each time it was seen */
        path = spool_path(s, s->files[i].name);
        nremoved++;
        s->ops.removed(s->opaque, path);
        if (s->stopping)
            goto out;
    }
    for (i = 0, j = 0; i < n; i++) {
        cleanup_free char *path = spool_path(s, seen[i].name);
        cleanup_free char *bytes = NULL, *why = NULL;
        const struct spool_file *old = NULL;
        struct spool_file *f;
        char hash[65];
        size_t len = 0;

        while (j < s->nfiles && strcmp(s->files[j].name, seen[i].name) < 0)
            j++;
        if (j < s->nfiles && strcmp(s->files[j].name, seen[i].name) == 0)
            old = &s->files[j];
        /* A file that cannot be read now (its permissions, a file gone
         * between readdir and open, an I/O error) or that is refused (not
         * a regular file, too large, not trusted: SPEC section 2) keeps
         * what the last scan saw: "removed" would delete its replicas over
         * what is most likely a passing state, and whatever ends that
         * state (chmod, chown, the delete, a rewrite) is another event,
         * hence another scan. The reason is logged once, not once a scan. */
        bytes = steal_ptr(&seen[i].bytes);
        len = seen[i].len;
        why = steal_ptr(&seen[i].why);
        if (seen[i].rc < 0) {
            if (!old || !streq0(old->problem, why)) {
                cleanup_free char *name = log_escape_name(path);

                log_error("skip `%s`: %s", name, why);
            }
            f = &next[nnext++];
            f->name = xstrdup(seen[i].name);
            if (old)
                memcpy(f->hash, old->hash, sizeof(f->hash));
            f->problem = steal_ptr(&why);
            continue;
        }
        memcpy(hash, seen[i].hash, sizeof(hash));
        f = &next[nnext++];
        f->name = xstrdup(seen[i].name);
        memcpy(f->hash, hash, sizeof(hash));
        if (old && strcmp(old->hash, hash) == 0)
            continue;
        nchanged++;
        s->ops.changed(s->opaque, path, bytes, len);
        if (s->stopping)
            goto out;
    }
    spool_files_free(s->files, s->nfiles);
    s->files = steal_ptr(&next);
    s->nfiles = nnext;
    if (log_enabled(LOG_LEVEL_DEBUG)) {
        cleanup_free char *dir = log_escape_name(s->dir);

        log_debug("scanned `%s`: %zu files, %zu changed, %zu removed", dir, nnext, nchanged,
                  nremoved);
    }
    s->ops.settled(s->opaque);
out:
    /* next is still here only when a callback stopped the spool halfway:
     * the last scan's files stay, for the close callbacks to free. */
    if (next)
        spool_files_free(next, nnext);
}

static void
spool_scan(struct spool *s)
{
    struct spool_seen *seen = NULL;
    size_t n = 0;
    struct stat st, now;
    cleanup_free char *why = NULL;
    DIR *d;
    int fd, r;

    if (s->stopping)
        return;
    if (s->scanning || s->reading) {
        /* spool_rescan() from a callback, or events during the reads:
         * scan again once this one is over. */
        s->again = true;
        return;
    }
    uv_timer_stop(&s->timer);
    s->pending = false;

    fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        int saved = errno;

        if (fd >= 0)
            close(fd);
        spool_lost(s, "open", saved);
        return;
    }
    /* Watch before listing, so that nothing written after the listing goes
     * unseen. */
    r = spool_watch(s, &st);
    if (r < 0) {
        close(fd);
        spool_lost(s, "watch", -r);
        return;
    }
    if (r > 0 && (stat(s->dir, &now) < 0 || now.st_dev != st.st_dev || now.st_ino != st.st_ino)) {
        /* Replaced between the open and the watch: this scan lists the old
         * directory, the next one re-watches and lists the new. */
        s->rewatch = true;
        spool_arm(s);
    }
    why = manifest_untrusted(&st);
    if (why) {
        close(fd);
        spool_untrusted(s, steal_ptr(&why));
        return;
    }
    if (s->dir_problem) {
        cleanup_free char *dir = log_escape_name(s->dir);

        log_info("spool directory `%s` is trusted again", dir);
        free(s->dir_problem);
        s->dir_problem = NULL;
    }
    d = fdopendir(fd);
    if (!d) {
        int saved = errno;

        close(fd);
        spool_lost(s, "open", saved);
        return;
    }
    r = spool_list(d, &seen, &n);
    if (r < 0) {
        int saved = errno;

        closedir(d);
        spool_lost(s, "read", saved);
        return;
    }
    closedir(d);
    if (s->dir_errno) {
        cleanup_free char *dir = log_escape_name(s->dir);

        log_info("spool directory `%s` is back", dir);
        s->dir_errno = 0;
    }

    spool_read_start(s, seen, n);
}

/* Worker thread: read and hash every file listed; touches only r. */
static void
spool_read_work(uv_work_t *w)
{
    struct spool_read *r = w->data;

    for (size_t i = 0; i < r->n; i++) {
        struct spool_seen *e = &r->seen[i];
        cleanup_free char *path = spool_path(r->s, e->name);

        struct stat st;

        e->rc = manifest_read(path, MANIFEST_READ_TRUSTED, &e->bytes, &e->len, &e->why);
        if (e->rc == 0)
            sha256_hex(e->bytes, e->len, e->hash);
        else if (lstat(path, &st) < 0 && errno == ENOENT)
            e->gone = true; /* removed since the listing */
    }
}

static void
spool_read_done(uv_work_t *w, int status)
{
    struct spool_read *r = w->data;
    struct spool *s = r->s;

    s->reading = false;
    /* A file removed between the listing and its read is reported removed
     * (its event brings another scan anyway), not as unreadable. */
    size_t k = 0;

    for (size_t i = 0; i < r->n; i++) {
        if (r->seen[i].gone) {
            free(r->seen[i].name);
            free(r->seen[i].why);
            continue;
        }
        r->seen[k++] = r->seen[i];
    }
    r->n = k;
    if (!s->stopping && status == 0) {
        s->scanning = true;
        spool_report(s, r->seen, r->n);
        s->scanning = false;
    }
    spool_seen_free(r->seen, r->n);
    free(r);
    if (s->again && !s->stopping) {
        s->again = false;
        uv_timer_start(&s->timer, on_timer, 0, 0);
    }
    spool_unref(s);
}

static void
spool_read_start(struct spool *s, struct spool_seen *seen, size_t n)
{
    struct spool_read *r = xcalloc(1, sizeof(*r));

    r->s = s;
    r->seen = seen;
    r->n = n;
    r->work.data = r;
    s->reading = true;
    s->open_handles++; /* the spool outlives the read */
    uv_queue_work(s->loop, &r->work, spool_read_work, spool_read_done);
}

/* When the watch cannot be started, the handles are already part of the
 * loop: they are closed, and freed once the caller runs the loop. */
int
spool_start(uv_loop_t *loop, const char *dir, unsigned debounce_ms, const struct spool_ops *ops,
            void *opaque, struct spool **out, struct vmirs_err **err)
{
    cleanup_free char *why = NULL;
    struct spool *s;
    struct stat st;
    int fd, r;

    assert(ops->changed && ops->removed && ops->settled);
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, errno, "open spool directory `%s`", dir);
    r = fstat(fd, &st);
    close(fd);
    if (r < 0)
        return err_set(err, errno, "open spool directory `%s`", dir);
    why = manifest_untrusted(&st);
    if (why) {
        cleanup_free char *name = log_escape_name(dir);

        return err_set(err, 0, "spool directory `%s` is %s", name, why);
    }

    s = xcalloc(1, sizeof(*s));
    s->loop = loop;
    s->dir = xstrdup(dir);
    /* As libuv names the file of an event on the watched path itself. */
    s->dir_base = strrchr(s->dir, '/') ? strrchr(s->dir, '/') + 1 : s->dir;
    s->debounce_ms = debounce_ms;
    s->ops = *ops;
    s->opaque = opaque;
    uv_fs_event_init(loop, &s->event);
    uv_timer_init(loop, &s->timer);
    s->event.data = s;
    s->timer.data = s;
    s->open_handles = 2;
    r = spool_watch(s, &st);
    if (r < 0) {
        err_set(err, -r, "watch spool directory `%s`", dir);
        spool_stop(s);
        return -1;
    }
    *out = s;
    spool_scan(s);
    return 0;
}

void
spool_rescan(struct spool *s)
{
    if (s)
        spool_scan(s);
}

void
spool_stop(struct spool *s)
{
    if (!s || s->stopping)
        return;
    s->stopping = true;
    uv_close((uv_handle_t *) &s->event, on_closed);
    uv_close((uv_handle_t *) &s->timer, on_closed);
}
