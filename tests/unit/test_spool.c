#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include "err.h"
#include "log.h"
#include "spool.h"
#include "util.h"

#include <pwd.h>
#include <stdbool.h>
#include <sys/time.h>
#include <uv.h>

/* spool.c's count of directories lost, visible under -DUNITTESTS. */
extern unsigned long spool_dir_losses;

#define DEBOUNCE_MS 50
/* How long a test waits for something that must happen: the retry after a
 * lost directory takes a second, valgrind slows everything down. */
#define DEADLINE_MS 10000
/* How long a test waits to see that nothing more happens: a few debounce
 * periods and a margin. Only ever used after the expected scan was seen. */
#define QUIET_MS (3 * DEBOUNCE_MS + 100)

/* ---- The loop: wait for a condition with a deadline, never a fixed sleep ---- */

struct waiter {
    uv_timer_t timer;     /* the deadline */
    uv_prepare_t prepare; /* checks the condition before the loop blocks */
    bool (*pred)(void *);
    void *arg;
    bool expired;
    int open;
};

static void
waiter_closed(uv_handle_t *h)
{
    struct waiter *w = h->data;

    if (--w->open == 0)
        free(w);
}

static void
waiter_expired(uv_timer_t *t)
{
    struct waiter *w = t->data;

    w->expired = true;
    uv_stop(t->loop);
}

/* A callback of this iteration (a timer that was already due, say) may have
 * made the condition true: stop before polling, or the poll would block
 * until the next event. */
static void
waiter_check(uv_prepare_t *p)
{
    struct waiter *w = p->data;

    if (w->pred && w->pred(w->arg))
        uv_stop(p->loop);
}

/* Run loop until pred(arg) holds or timeout_ms have passed; whether it held. */
static bool
run_loop_until(uv_loop_t *loop, bool (*pred)(void *), void *arg, unsigned timeout_ms)
{
    struct waiter *w = calloc(1, sizeof(*w));
    bool ok;

    assert_non_null(w);
    w->pred = pred;
    w->arg = arg;
    assert_int_equal(uv_timer_init(loop, &w->timer), 0);
    assert_int_equal(uv_prepare_init(loop, &w->prepare), 0);
    w->timer.data = w->prepare.data = w;
    w->open = 2;
    assert_int_equal(uv_timer_start(&w->timer, waiter_expired, timeout_ms, 0), 0);
    assert_int_equal(uv_prepare_start(&w->prepare, waiter_check), 0);
    while (!(ok = pred && pred(arg)) && !w->expired)
        uv_run(loop, UV_RUN_DEFAULT);
    /* Freed from the close callbacks, which run on the next uv_run. */
    uv_close((uv_handle_t *) &w->timer, waiter_closed);
    uv_close((uv_handle_t *) &w->prepare, waiter_closed);
    return ok;
}

/* Let the loop run for ms: only to see that nothing more happens. */
static void
run_loop_for(uv_loop_t *loop, unsigned ms)
{
    run_loop_until(loop, NULL, NULL, ms);
}

/* ---- What the spool reported ---- */

struct fx {
    uv_loop_t loop;
    char *dir;
    struct spool *s;
    bool stopped;
    char **ev; /* "changed NAME=CONTENT", "removed NAME", "settled" */
    size_t nev, cap;
    size_t settled;
    size_t want; /* for wait_settled */
    /* What the callbacks do besides recording. */
    size_t stop_after_changed; /* spool_stop() from the nth changed() */
    size_t nchanged;
    bool rescan_in_settled;
};

static void
record(struct fx *fx, char *ev)
{
    fx->ev = xgrow(fx->ev, &fx->cap, fx->nev, sizeof(*fx->ev));
    fx->ev[fx->nev++] = ev;
}

/* The file name in path, after checking that path is dir/NAME. */
static const char *
name_of(struct fx *fx, const char *path)
{
    size_t n = strlen(fx->dir);

    assert_memory_equal(path, fx->dir, n);
    assert_int_equal(path[n], '/');
    assert_null(strchr(path + n + 1, '/'));
    return path + n + 1;
}

static void
on_changed(void *opaque, const char *path, const char *bytes, size_t len)
{
    struct fx *fx = opaque;

    assert_int_equal(bytes[len], '\0');
    assert_int_equal(strlen(bytes), len);
    record(fx, xasprintf("changed %s=%s", name_of(fx, path), bytes));
    if (++fx->nchanged == fx->stop_after_changed) {
        spool_stop(fx->s);
        fx->stopped = true;
    }
}

static void
on_removed(void *opaque, const char *path)
{
    struct fx *fx = opaque;

    record(fx, xasprintf("removed %s", name_of(fx, path)));
}

static void
on_settled(void *opaque)
{
    struct fx *fx = opaque;

    record(fx, xstrdup("settled"));
    fx->settled++;
    if (fx->rescan_in_settled) {
        fx->rescan_in_settled = false;
        spool_rescan(fx->s);
    }
}

static const struct spool_ops ops = {on_changed, on_removed, on_settled};

static void
clear(struct fx *fx)
{
    for (size_t i = 0; i < fx->nev; i++)
        free(fx->ev[i]);
    fx->nev = 0;
    fx->settled = 0;
}

/* Assert that exactly the NULL-terminated list of events was recorded since
 * the last clear, then clear. */
static void
expect(struct fx *fx, ...)
{
    const char *want;
    size_t i = 0;
    va_list ap;

    va_start(ap, fx);
    while ((want = va_arg(ap, const char *))) {
        if (i >= fx->nev)
            fail_msg("event %zu: want \"%s\", got nothing more", i, want);
        assert_string_equal(fx->ev[i], want);
        i++;
    }
    va_end(ap);
    if (i < fx->nev)
        fail_msg("event %zu: want nothing more, got \"%s\"", i, fx->ev[i]);
    clear(fx);
}

static bool
stopped(void *arg)
{
    return ((struct fx *) arg)->stopped;
}

static bool
settled_enough(void *arg)
{
    struct fx *fx = arg;

    return fx->settled >= fx->want;
}

/* Run the loop until n scans have settled since the last clear. */
static void
wait_settled(struct fx *fx, size_t n)
{
    fx->want = n;
    assert_true(run_loop_until(&fx->loop, settled_enough, fx, DEADLINE_MS));
}

/* Write name in the test's directory, truncating it first. */
static void
put(struct fx *fx, const char *name, const char *content)
{
    free(write_tmpfile(fx->dir, name, content));
}

static char *
at(struct fx *fx, const char *name)
{
    return xasprintf("%s/%s", fx->dir, name);
}

static void
start(struct fx *fx, const char *dir)
{
    struct vmirs_err *err = NULL;

    if (spool_start(&fx->loop, dir ? dir : fx->dir, DEBOUNCE_MS, &ops, fx, &fx->s, &err) < 0)
        fail_msg("spool_start: %s", err->msg);
    assert_null(err);
    /* The first scan's reads run on a worker: wait for its report. */
    wait_settled(fx, 1);
}

/* spool_rescan, and the wait for its report (the reads are on a worker). */
static void
rescan(struct fx *fx)
{
    size_t before = fx->settled;

    spool_rescan(fx->s);
    wait_settled(fx, before + 1);
}

/* Stop the spool, run the loop until everything is closed, close it. */
static void
finish(struct fx *fx)
{
    if (!fx->stopped)
        spool_stop(fx->s);
    fx->stopped = true;
    assert_int_equal(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    fx->s = NULL;
}

static int
setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));

    assert_non_null(fx);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    fx->dir = tmpdir_make();
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *fx = *state;

    clear(fx);
    free(fx->ev);
    if (fx->s)
        finish(fx);
    tmpdir_remove(fx->dir);
    free(fx);
    return 0;
}

/* ---- Tests ---- */

static void
test_start_missing_dir(void **state)
{
    struct fx *fx = *state;
    struct vmirs_err *err = NULL;
    struct spool *s = NULL;
    cleanup_free char *nope = at(fx, "nope");
    cleanup_free char *file = at(fx, "file.yaml");
    cleanup_free char *want = NULL;

    assert_int_equal(spool_start(&fx->loop, nope, DEBOUNCE_MS, &ops, fx, &s, &err), -1);
    assert_null(s);
    want = xasprintf("open spool directory `%s`: No such file or directory", nope);
    assert_string_equal(err->msg, want);
    err_free(&err);

    put(fx, "file.yaml", "x");
    assert_int_equal(spool_start(&fx->loop, file, DEBOUNCE_MS, &ops, fx, &s, &err), -1);
    assert_null(s);
    free(want);
    want = xasprintf("open spool directory `%s`: Not a directory", file);
    assert_string_equal(err->msg, want);
    err_free(&err);

    expect(fx, NULL);
    /* Nothing was left open on the loop. */
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    fx->stopped = true;
}

static void
test_initial_scan_sorted_and_filtered(void **state)
{
    struct fx *fx = *state;
    cleanup_free char *sub = at(fx, "d.yaml");
    cleanup_free char *link = at(fx, "l.yaml");
    cleanup_free char *dangling = at(fx, "m.yaml");

    put(fx, "c.yaml", "C");
    put(fx, "a.yml", "A");
    put(fx, "b.json", "{}");
    put(fx, "B.yaml", "upper");
    put(fx, "e.json", "");
    put(fx, ".hidden.yaml", "no");
    put(fx, "x.yaml~", "no");
    put(fx, "y.yaml.swp", "no");
    put(fx, ".y.yaml.swp", "no");
    put(fx, "z.yaml.tmp", "no");
    put(fx, "notes.txt", "no");
    put(fx, "yaml", "no");
    assert_int_equal(mkdir(sub, 0755), 0);
    /* A link to a manifest is a manifest; a dangling one is nothing. */
    assert_int_equal(symlink("c.yaml", link), 0);
    assert_int_equal(symlink("gone.yaml", dangling), 0);

    /* The first scan, reported once its reads are done. */
    start(fx, NULL);
    expect(fx, "changed B.yaml=upper", "changed a.yml=A", "changed b.json={}", "changed c.yaml=C",
           "changed e.json=", "changed l.yaml=C", "settled", NULL);
    run_loop_for(&fx->loop, QUIET_MS);
    expect(fx, NULL);
    finish(fx);
}

static void
test_empty_dir_settles(void **state)
{
    struct fx *fx = *state;

    start(fx, NULL);
    expect(fx, "settled", NULL);
    finish(fx);
}

static void
test_modify_reports_one_change(void **state)
{
    struct fx *fx = *state;

    put(fx, "a.yaml", "A1");
    put(fx, "b.yaml", "B1");
    start(fx, NULL);
    clear(fx);

    put(fx, "a.yaml", "A2");
    wait_settled(fx, 1);
    expect(fx, "changed a.yaml=A2", "settled", NULL);
    run_loop_for(&fx->loop, QUIET_MS);
    expect(fx, NULL);
    finish(fx);
}

static void
test_touch_without_change_reports_nothing(void **state)
{
    struct fx *fx = *state;
    cleanup_free char *a = at(fx, "a.yaml");

    put(fx, "a.yaml", "A1");
    start(fx, NULL);
    clear(fx);

    /* Same bytes rewritten, a new mtime, new permissions: a scan, no change. */
    put(fx, "a.yaml", "A1");
    assert_int_equal(utimes(a, NULL), 0);
    assert_int_equal(chmod(a, 0600), 0);
    wait_settled(fx, 1);
    expect(fx, "settled", NULL);
    run_loop_for(&fx->loop, QUIET_MS);
    expect(fx, NULL);
    finish(fx);
}

static void
test_write_burst_is_one_change(void **state)
{
    struct fx *fx = *state;

    put(fx, "a.yaml", "v0");
    start(fx, NULL);
    clear(fx);

    /* Twenty writes in a row, truncating each time: the scan sees only the
     * last content. */
    for (int i = 1; i <= 20; i++) {
        cleanup_free char *v = xasprintf("v%d", i);

        put(fx, "a.yaml", v);
    }
    wait_settled(fx, 1);
    expect(fx, "changed a.yaml=v20", "settled", NULL);
    run_loop_for(&fx->loop, QUIET_MS);
    expect(fx, NULL);
    finish(fx);
}

/* A burst whose writes arrive over several loop iterations: every event
 * re-arms the debounce, so the one scan comes a debounce after the last. */
struct paced {
    struct fx *fx;
    uv_timer_t timer;
    int left, done;
    uint64_t last_write;
    size_t settled_during; /* scans seen while writes were still coming */
};

static void
paced_tick(uv_timer_t *t)
{
    struct paced *p = t->data;
    cleanup_free char *v = xasprintf("p%d", ++p->done);

    put(p->fx, "a.yaml", v);
    p->last_write = uv_now(t->loop);
    p->settled_during = p->fx->settled;
    if (--p->left == 0)
        uv_timer_stop(t);
}

static bool
paced_done_and_settled(void *arg)
{
    struct paced *p = arg;

    return p->left == 0 && p->fx->settled > p->settled_during;
}

static void
paced_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Write a.yaml every interval_ms, n times; freed from its close callback. */
static struct paced *
paced_start(struct fx *fx, int n, unsigned interval_ms)
{
    struct paced *p = calloc(1, sizeof(*p));

    assert_non_null(p);
    p->fx = fx;
    p->left = n;
    assert_int_equal(uv_timer_init(&fx->loop, &p->timer), 0);
    p->timer.data = p;
    assert_int_equal(uv_timer_start(&p->timer, paced_tick, interval_ms, interval_ms), 0);
    return p;
}

static void
test_paced_burst_is_one_change(void **state)
{
    struct fx *fx = *state;
    struct vmirs_err *err = NULL;
    struct paced *p;
    uint64_t settled_at, last_write;
    size_t settled_during;
    bool ok;

    put(fx, "a.yaml", "v0");
    /* A longer debounce than the other tests: the 2 ms ticks must stay well
     * inside it even under valgrind. */
    assert_int_equal(spool_start(&fx->loop, fx->dir, 300, &ops, fx, &fx->s, &err), 0);
    wait_settled(fx, 1);
    clear(fx);

    p = paced_start(fx, 20, 2);
    ok = run_loop_until(&fx->loop, paced_done_and_settled, p, DEADLINE_MS);
    settled_at = uv_now(&fx->loop);
    last_write = p->last_write;
    settled_during = p->settled_during;
    uv_close((uv_handle_t *) &p->timer, paced_closed);
    assert_true(ok);
    assert_int_equal(settled_during, 0);
    assert_true(settled_at - last_write >= 300);
    expect(fx, "changed a.yaml=p20", "settled", NULL);
    finish(fx);
}

/* Writes that never pause still get scanned, at the latest ten debounce
 * periods after the first. */
static void
test_endless_writes_still_scanned(void **state)
{
    struct fx *fx = *state;
    struct vmirs_err *err = NULL;
    struct paced *p;
    size_t settled_during;
    bool ok;

    put(fx, "a.yaml", "v0");
    /* 20 ms debounce, a write every 5 ms for 750 ms: without the cap,
     * no scan before the writes end. */
    assert_int_equal(spool_start(&fx->loop, fx->dir, 20, &ops, fx, &fx->s, &err), 0);
    wait_settled(fx, 1);
    clear(fx);

    p = paced_start(fx, 150, 5);
    ok = run_loop_until(&fx->loop, paced_done_and_settled, p, DEADLINE_MS);
    settled_during = p->settled_during;
    uv_close((uv_handle_t *) &p->timer, paced_closed);
    assert_true(ok);
    assert_true(settled_during >= 2);
    /* The last scan has the last content. */
    assert_string_equal(fx->ev[fx->nev - 1], "settled");
    assert_string_equal(fx->ev[fx->nev - 2], "changed a.yaml=p150");
    clear(fx);
    finish(fx);
}

static void
test_atomic_rename_is_one_change(void **state)
{
    struct fx *fx = *state;
    cleanup_free char *tmp = at(fx, ".web.yaml.XXXXXX.tmp");
    cleanup_free char *web = at(fx, "web.yaml");
    int fd;

    put(fx, "web.yaml", "v1");
    start(fx, NULL);
    clear(fx);

    /* As an editor or vmirsctl does: write a temporary file, rename it over. */
    fd = mkstemps(tmp, 4);
    assert_true(fd >= 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(write(fd, i < 9 ? "x" : "v2", i < 9 ? 1 : 2), i < 9 ? 1 : 2);
    assert_int_equal(fsync(fd), 0);
    assert_int_equal(close(fd), 0);
    assert_int_equal(rename(tmp, web), 0);
    wait_settled(fx, 1);
    expect(fx, "changed web.yaml=xxxxxxxxxv2", "settled", NULL);
    run_loop_for(&fx->loop, QUIET_MS);
    expect(fx, NULL);

    /* util's write_file_atomic, which vmirsctl scale uses. */
    assert_int_equal(write_file_atomic(web, "v3", 2, 0644), 0);
    wait_settled(fx, 1);
    expect(fx, "changed web.yaml=v3", "settled", NULL);
    run_loop_for(&fx->loop, QUIET_MS);
    expect(fx, NULL);
    finish(fx);
}

static void
test_delete_reports_removed(void **state)
{
    struct fx *fx = *state;
    cleanup_free char *a = at(fx, "a.yaml");

    put(fx, "a.yaml", "A");
    put(fx, "b.yaml", "B");
    start(fx, NULL);
    clear(fx);

    assert_int_equal(unlink(a), 0);
    wait_settled(fx, 1);
    expect(fx, "removed a.yaml", "settled", NULL);
    run_loop_for(&fx->loop, QUIET_MS);
    expect(fx, NULL);
    finish(fx);
}

static void
test_rename_is_removed_and_changed_in_one_scan(void **state)
{
    struct fx *fx = *state;
    cleanup_free char *a = at(fx, "a.yaml");
    cleanup_free char *b = at(fx, "b.yaml");
    cleanup_free char *b_backup = at(fx, "b.yaml~");
    cleanup_free char *notes = at(fx, "notes.txt");
    cleanup_free char *c = at(fx, "c.yaml");

    put(fx, "a.yaml", "A");
    put(fx, "notes.txt", "N");
    start(fx, NULL);
    clear(fx);

    assert_int_equal(rename(a, b), 0);
    wait_settled(fx, 1);
    expect(fx, "removed a.yaml", "changed b.yaml=A", "settled", NULL);

    /* Out of the filter is removed; into it is a new file. */
    assert_int_equal(rename(b, b_backup), 0);
    wait_settled(fx, 1);
    expect(fx, "removed b.yaml", "settled", NULL);
    assert_int_equal(rename(notes, c), 0);
    wait_settled(fx, 1);
    expect(fx, "changed c.yaml=N", "settled", NULL);
    run_loop_for(&fx->loop, QUIET_MS);
    expect(fx, NULL);
    finish(fx);
}

static void
test_one_scan_orders_removed_first_then_by_name(void **state)
{
    struct fx *fx = *state;
    cleanup_free char *b = at(fx, "b.yaml");

    put(fx, "b.yaml", "B");
    put(fx, "c.yaml", "C1");
    start(fx, NULL);
    clear(fx);

    put(fx, "c.yaml", "C2");
    put(fx, "a.yaml", "A");
    assert_int_equal(unlink(b), 0);
    wait_settled(fx, 1);
    expect(fx, "removed b.yaml", "changed a.yaml=A", "changed c.yaml=C2", "settled", NULL);
    run_loop_for(&fx->loop, QUIET_MS);
    expect(fx, NULL);
    finish(fx);
}

static void
test_rescan_reports_only_differences(void **state)
{
    struct fx *fx = *state;

    put(fx, "a.yaml", "A1");
    start(fx, NULL);
    clear(fx);

    /* A rescan finds nothing new. */
    rescan(fx);
    expect(fx, "settled", NULL);

    /* A rescan before the debounce sees the change; the debounced scan
     * that follows finds nothing more. */
    put(fx, "a.yaml", "A2");
    rescan(fx);
    expect(fx, "changed a.yaml=A2", "settled", NULL);
    wait_settled(fx, 1);
    expect(fx, "settled", NULL);
    run_loop_for(&fx->loop, QUIET_MS);
    expect(fx, NULL);
    finish(fx);
}

static void
test_events_on_ignored_files_do_not_scan(void **state)
{
    struct fx *fx = *state;

    put(fx, ".a.yaml.swp", "1");
    put(fx, "notes.txt", "1");
    start(fx, NULL);
    clear(fx);

    /* Writes to existing ignored files: not even a scan. */
    put(fx, ".a.yaml.swp", "2");
    put(fx, "notes.txt", "2");
    run_loop_for(&fx->loop, QUIET_MS);
    expect(fx, NULL);
    finish(fx);
}

/* Replace name by a link to /proc/self/mem: a regular file by stat(2) whose
 * read fails with EIO, even for root. */
static void
make_unreadable(struct fx *fx, const char *name)
{
    cleanup_free char *tmp = at(fx, ".unreadable.tmp");
    cleanup_free char *path = at(fx, name);

    assert_int_equal(symlink("/proc/self/mem", tmp), 0);
    assert_int_equal(rename(tmp, path), 0);
}

static void
test_unreadable_file_is_unchanged(void **state)
{
    struct fx *fx = *state;

    put(fx, "a.yaml", "A1");
    start(fx, NULL);
    clear(fx);

    /* Unreadable: neither changed nor removed. */
    make_unreadable(fx, "a.yaml");
    wait_settled(fx, 1);
    expect(fx, "settled", NULL);

    /* Readable again with the content it had: still nothing. */
    put(fx, ".a.tmp", "A1");
    {
        cleanup_free char *tmp = at(fx, ".a.tmp");
        cleanup_free char *a = at(fx, "a.yaml");

        assert_int_equal(rename(tmp, a), 0);
    }
    wait_settled(fx, 1);
    expect(fx, "settled", NULL);
    put(fx, "a.yaml", "A2");
    wait_settled(fx, 1);
    expect(fx, "changed a.yaml=A2", "settled", NULL);

    /* A new file that cannot be read is reported once it can. */
    make_unreadable(fx, "n.yaml");
    wait_settled(fx, 1);
    expect(fx, "settled", NULL);
    {
        cleanup_free char *n = at(fx, "n.yaml");

        assert_int_equal(unlink(n), 0);
    }
    wait_settled(fx, 1);
    expect(fx, "settled", NULL);
    put(fx, "n.yaml", "N");
    wait_settled(fx, 1);
    expect(fx, "changed n.yaml=N", "settled", NULL);

    /* Without the permission to read (root reads anything). */
    if (geteuid() != 0) {
        cleanup_free char *a = at(fx, "a.yaml");

        assert_int_equal(chmod(a, 0), 0);
        wait_settled(fx, 1);
        expect(fx, "settled", NULL);
        assert_int_equal(chmod(a, 0644), 0);
        wait_settled(fx, 1);
        expect(fx, "settled", NULL);
    }
    finish(fx);
}

static bool
dir_lost(void *arg)
{
    return spool_dir_losses > *(unsigned long *) arg;
}

static void
test_dir_deleted_then_back(void **state)
{
    struct fx *fx = *state;
    unsigned long losses = spool_dir_losses;
    cleanup_free char *cmd = xasprintf("rm -rf '%s'", fx->dir);

    put(fx, "a.yaml", "A");
    start(fx, NULL);
    clear(fx);

    assert_int_equal(system(cmd), 0);
    assert_true(run_loop_until(&fx->loop, dir_lost, &losses, DEADLINE_MS));
    /* Gone is not "removed": the replicas stay while the directory is away. */
    expect(fx, NULL);

    /* Back, with other content: found by the retry, reported against the
     * last scan, and watched again. */
    assert_int_equal(mkdir(fx->dir, 0700), 0);
    put(fx, "b.yaml", "B");
    wait_settled(fx, 1);
    expect(fx, "removed a.yaml", "changed b.yaml=B", "settled", NULL);
    put(fx, "c.yaml", "C");
    wait_settled(fx, 1);
    expect(fx, "changed c.yaml=C", "settled", NULL);
    assert_int_equal(spool_dir_losses, losses + 1);
    finish(fx);
}

static void
test_dir_replaced_while_watching(void **state)
{
    struct fx *fx = *state;
    unsigned long losses = spool_dir_losses;
    cleanup_free char *slashed = xasprintf("%s/", fx->dir);
    cleanup_free char *rm = xasprintf("rm -rf '%s'", fx->dir);
    cleanup_free char *old = xasprintf("%s.old", fx->dir);
    cleanup_free char *rm_old = xasprintf("rm -rf '%s'", old);

    put(fx, "a.yaml", "A");
    /* With a trailing slash, as a configuration file may spell it. */
    start(fx, slashed);
    expect(fx, "changed a.yaml=A", "settled", NULL);

    /* Deleted and created again before the debounce ends (ext4 may even
     * give the new directory the old inode number). */
    assert_int_equal(system(rm), 0);
    assert_int_equal(mkdir(fx->dir, 0700), 0);
    put(fx, "b.yaml", "B");
    wait_settled(fx, 1);
    expect(fx, "removed a.yaml", "changed b.yaml=B", "settled", NULL);
    /* The new directory is the one watched. */
    put(fx, "c.yaml", "C");
    wait_settled(fx, 1);
    expect(fx, "changed c.yaml=C", "settled", NULL);

    /* Moved away and replaced: the old one is no longer watched. */
    assert_int_equal(rename(fx->dir, old), 0);
    assert_int_equal(mkdir(fx->dir, 0700), 0);
    put(fx, "d.yaml", "D");
    wait_settled(fx, 1);
    expect(fx, "removed b.yaml", "removed c.yaml", "changed d.yaml=D", "settled", NULL);
    free(write_tmpfile(old, "x.yaml", "X"));
    run_loop_for(&fx->loop, QUIET_MS);
    expect(fx, NULL);
    put(fx, "e.yaml", "E");
    wait_settled(fx, 1);
    expect(fx, "changed e.yaml=E", "settled", NULL);

    assert_int_equal(spool_dir_losses, losses);
    assert_int_equal(system(rm_old), 0);
    finish(fx);
}

static void
test_stop_from_a_callback(void **state)
{
    struct fx *fx = *state;

    put(fx, "a.yaml", "A");
    put(fx, "b.yaml", "B");
    put(fx, "c.yaml", "C");
    fx->stop_after_changed = 1;
    assert_int_equal(spool_start(&fx->loop, fx->dir, DEBOUNCE_MS, &ops, fx, &fx->s, NULL), 0);
    assert_true(run_loop_until(&fx->loop, stopped, fx, DEADLINE_MS));
    /* Nothing after the stop, not even settled. */
    expect(fx, "changed a.yaml=A", NULL);
    assert_true(fx->stopped);
    finish(fx);
}

static void
test_rescan_from_a_callback_runs_after(void **state)
{
    struct fx *fx = *state;

    put(fx, "a.yaml", "A");
    fx->rescan_in_settled = true;
    assert_int_equal(spool_start(&fx->loop, fx->dir, DEBOUNCE_MS, &ops, fx, &fx->s, NULL), 0);
    /* The rescan asked for from the first scan's settled() runs after it,
     * as a scan of its own that finds nothing new. */
    wait_settled(fx, 2);
    expect(fx, "changed a.yaml=A", "settled", "settled", NULL);
    finish(fx);
}

static void
test_stop_twice_is_harmless(void **state)
{
    struct fx *fx = *state;

    start(fx, NULL);
    spool_stop(fx->s);
    spool_stop(fx->s);
    fx->stopped = true;
    finish(fx);
}

/* ---- Trust (SPEC section 2) ---- */

/* stderr, where the records go, into a file while a test looks at them. */
struct capture {
    char *path;
    int saved;
};

static void
capture_begin(struct fx *fx, struct capture *c)
{
    int fd;

    c->path = xasprintf("%s.log", fx->dir);
    fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    unsetenv("JOURNAL_STREAM");
    log_init();
    fflush(stderr);
    c->saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
}

/* What was logged since capture_begin (malloc'd); capturing goes on. */
static char *
captured(struct capture *c)
{
    char *data = NULL;

    fflush(stderr);
    assert_int_equal(read_file(c->path, &data, NULL), 0);
    return data;
}

static void
capture_end(struct capture *c)
{
    fflush(stderr);
    dup2(c->saved, STDERR_FILENO);
    close(c->saved);
    unlink(c->path);
    free(c->path);
}

/* How a refusal names our own files' owner. */
static char *
untrusted(const char *mode)
{
    struct passwd *pw = getpwuid(geteuid());

    return xasprintf("owned by uid %u%s%s%s with mode %s; it must be owned by root%s and not "
                     "writable by group or others",
                     (unsigned) geteuid(), pw ? " (" : "", pw ? pw->pw_name : "", pw ? ")" : "",
                     mode, geteuid() ? " or by vmirsd's user" : "");
}

static void
put_mode(struct fx *fx, const char *name, const char *content, mode_t mode)
{
    cleanup_free char *path = at(fx, name);

    put(fx, name, content);
    assert_int_equal(chmod(path, mode), 0);
}

/* Files anyone but root and vmirsd could have written, and files that are
 * not regular, are skipped with an error naming the file, its owner and
 * mode, once: a FIFO is never opened in a way that blocks. The good file
 * beside them is read. Once a refused file is fixed, it is read. */
static void
test_untrusted_and_irregular_files_are_skipped(void **state)
{
    struct fx *fx = *state;
    struct capture cap;
    cleanup_free char *outside = xasprintf("%s.outside.yaml", fx->dir);
    cleanup_free char *link = at(fx, "link.yaml"), *fifo = at(fx, "fifo.yaml");
    cleanup_free char *fifolink = at(fx, "fifolink.yaml"), *dev = at(fx, "dev.yaml");
    cleanup_free char *sub = at(fx, "sub.yaml"), *big = at(fx, "big.yaml");
    cleanup_free char *other = at(fx, "other.yaml"), *nl = at(fx, "new\nline.yaml");
    cleanup_free char *m666 = untrusted("0666"), *m664 = untrusted("0664");
    cleanup_free char *want = NULL, *log = NULL, *again = NULL;
    cleanup_free char *other_line = NULL;
    int fd;

    put(fx, "good.yaml", "G");
    put_mode(fx, "world.yaml", "W", 0666);
    put_mode(fx, "group.yaml", "G", 0664);
    put_mode(fx, "new\nline.yaml", "N", 0666);
    free(write_tmpfile("/", outside, "O"));
    assert_int_equal(chmod(outside, 0666), 0);
    assert_int_equal(symlink(outside, link), 0);
    assert_int_equal(mkfifo(fifo, 0644), 0);
    assert_int_equal(symlink(fifo, fifolink), 0);
    assert_int_equal(symlink("/dev/null", dev), 0);
    assert_int_equal(mkdir(sub, 0755), 0);
    fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (16 << 20) + 1), 0);
    close(fd);
    if (geteuid() == 0) {
        put(fx, "other.yaml", "X");
        assert_int_equal(chown(other, 65534, 65534), 0);
        other_line = xasprintf("ERROR spool: skip `%s`: owned by uid 65534%s with mode 0644; it "
                               "must be owned by root and not writable by group or others\n",
                               other, getpwuid(65534) ? " (nobody)" : "");
    }

    capture_begin(fx, &cap);
    start(fx, NULL);
    expect(fx, "changed good.yaml=G", "settled", NULL);
    log = captured(&cap);
    want = xasprintf("ERROR spool: skip `%s`: larger than 16 MiB\n"
                     "ERROR spool: skip `%s`: symbolic link to `/dev/null`, not a regular file (a "
                     "character device)\n"
                     "ERROR spool: skip `%s`: not a regular file (a FIFO)\n"
                     "ERROR spool: skip `%s`: symbolic link to `%s`, not a regular file (a FIFO)\n"
                     "ERROR spool: skip `%s/group.yaml`: %s\n"
                     "ERROR spool: skip `%s`: symbolic link to `%s`, %s\n"
                     "ERROR spool: skip `%s/new\\nline.yaml`: %s\n"
                     "%s"
                     "ERROR spool: skip `%s`: not a regular file (a directory)\n"
                     "ERROR spool: skip `%s/world.yaml`: %s\n",
                     big, dev, fifo, fifolink, fifo, fx->dir, m664, link, outside, m666, fx->dir,
                     m666, other_line ? other_line : "", sub, fx->dir, m666);
    assert_string_equal(log, want);

    /* Another scan: the refusals are not logged again. */
    put(fx, "good.yaml", "G2");
    wait_settled(fx, 1);
    expect(fx, "changed good.yaml=G2", "settled", NULL);
    again = captured(&cap);
    assert_string_equal(again, want);

    /* Fixed, it is read; removed, a file never reported is not "removed". */
    {
        cleanup_free char *world = at(fx, "world.yaml");

        assert_int_equal(chmod(world, 0644), 0);
        put(fx, "good.yaml", "G3");
    }
    wait_settled(fx, 1);
    expect(fx, "changed good.yaml=G3", "changed world.yaml=W", "settled", NULL);
    assert_int_equal(unlink(fifo), 0);
    assert_int_equal(unlink(nl), 0);
    wait_settled(fx, 1);
    expect(fx, "settled", NULL);
    capture_end(&cap);
    unlink(outside);
    finish(fx);
}

/* A spool directory others may write is not read: at start that is an
 * error; later, what it held stays in force until it is fixed. */
static void
test_untrusted_directory(void **state)
{
    struct fx *fx = *state;
    struct capture cap;
    struct vmirs_err *err = NULL;
    struct spool *s = NULL;
    cleanup_free char *m777 = untrusted("0777"), *m757 = untrusted("0757");
    cleanup_free char *want = NULL, *log = NULL;

    put(fx, "a.yaml", "A");
    assert_int_equal(chmod(fx->dir, 0777), 0);
    assert_int_equal(spool_start(&fx->loop, fx->dir, DEBOUNCE_MS, &ops, fx, &s, &err), -1);
    assert_null(s);
    want = xasprintf("spool directory `%s` is %s", fx->dir, m777);
    assert_string_equal(err->msg, want);
    err_free(&err);
    expect(fx, NULL);

    assert_int_equal(chmod(fx->dir, 0755), 0);
    start(fx, NULL);
    expect(fx, "changed a.yaml=A", "settled", NULL);
    capture_begin(fx, &cap);
    assert_int_equal(chmod(fx->dir, 0757), 0);
    put(fx, "a.yaml", "A2");
    put(fx, "b.yaml", "B");
    spool_rescan(fx->s);
    expect(fx, NULL);
    free(want);
    want = xasprintf("ERROR spool: not reading spool directory `%s`: %s (checking again every "
                     "second)\n",
                     fx->dir, m757);
    log = captured(&cap);
    assert_string_equal(log, want);
    assert_int_equal(chmod(fx->dir, 0755), 0);
    wait_settled(fx, 1);
    expect(fx, "changed a.yaml=A2", "changed b.yaml=B", "settled", NULL);
    capture_end(&cap);
    finish(fx);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_start_missing_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_initial_scan_sorted_and_filtered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_dir_settles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_modify_reports_one_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_touch_without_change_reports_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_burst_is_one_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paced_burst_is_one_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_endless_writes_still_scanned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_rename_is_one_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_reports_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_is_removed_and_changed_in_one_scan, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_one_scan_orders_removed_first_then_by_name, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rescan_reports_only_differences, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_on_ignored_files_do_not_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_file_is_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dir_deleted_then_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dir_replaced_while_watching, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_from_a_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rescan_from_a_callback_runs_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_twice_is_harmless, setup, teardown),
        cmocka_unit_test_setup_teardown(test_untrusted_and_irregular_files_are_skipped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_untrusted_directory, setup, teardown),
    };

    /* The warnings of the unreadable-file and lost-directory tests are
     * expected; keep the output to cmocka's. */
    log_set_level(LOG_LEVEL_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
