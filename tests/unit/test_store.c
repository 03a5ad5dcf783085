#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "helpers.h"

#include "store.h"
#include "util.h"

#define T0 ((int64_t) 1700000000000)

struct fixture {
    char *dir;
    char *path;
    struct store *s;
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct vmirs_err *err = NULL;

    f->dir = tmpdir_make();
    f->path = xasprintf("%s/vmirsd.db", f->dir);
    assert_int_equal(store_open(f->path, false, &f->s, &err), 0);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    store_close(f->s);
    tmpdir_remove(f->dir);
    free(f->path);
    free(f);
    return 0;
}

/* Run sql on a read-only connection, as vmirsctl does, and return the
 * first row's columns joined with '|' (malloc'd), or "" for no row. */
static char *
query(const char *path, const char *sql)
{
    struct store *r = NULL;
    struct vmirs_err *err = NULL;
    sqlite3_stmt *st = NULL;
    char *out = xstrdup("");

    assert_int_equal(store_open(path, true, &r, &err), 0);
    assert_int_equal(store_prepare(r, sql, &st, &err), 0);
    if (sqlite3_step(st) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            const char *v = (const char *) sqlite3_column_text(st, i);
            char *next = xasprintf("%s%s%s", out, i ? "|" : "", v ? v : "NULL");

            free(out);
            out = next;
        }
    }
    sqlite3_finalize(st);
    store_close(r);
    return out;
}

static void
assert_query(const char *path, const char *sql, const char *want)
{
    char *got = query(path, sql);

    if (strcmp(got, want) != 0)
        fail_msg("%s\n got: %s\nwant: %s", sql, got, want);
    free(got);
}

static const struct store_rs web = {
    .uid = "u-web",
    .namespace = "default",
    .name = "web",
    .api_version = "kubevirt.io/v1",
    .file = "/etc/vmirs.d/web.yaml",
    .labels_json = "{\"tier\":\"front\"}",
    .spec_json = "{\"replicas\":3}",
    .label_selector = "app=web",
    .desired = 3,
    .replicas = 2,
    .ready_replicas = 1,
};

/* Nothing is visible to a reader before the commit; the pass's writes all
 * land in one transaction. */
static void
test_one_transaction_per_pass(void **state)
{
    struct fixture *f = *state;
    struct vmirs_err *err = NULL;

    store_put_rs(f->s, &web, T0);
    store_event(f->s,
                &(struct store_event){"default", "VirtualMachineInstanceReplicaSet", "web", "u-web",
                                      "Normal", "SuccessfulCreate",
                                      "Created virtual machine: webabcde", "vmirsd"},
                T0);
    assert_query(f->path, "SELECT count(*) FROM replica_sets", "0");
    assert_int_equal(store_commit(f->s, &err), 0);
    assert_int_equal(store_commits(f->s), 1);
    assert_query(f->path,
                 "SELECT name, replicas, ready_replicas, label_selector, generation FROM "
                 "replica_sets",
                 "web|2|1|app=web|1");
    assert_query(f->path, "SELECT count(*) FROM events", "1");
    /* A commit with nothing written is no transaction at all. */
    assert_int_equal(store_commit(f->s, &err), 0);
    assert_int_equal(store_commits(f->s), 1);
}

/* generation grows with each spec change and only then; observed follows. */
static void
test_generation(void **state)
{
    struct fixture *f = *state;
    struct vmirs_err *err = NULL;
    struct store_rs rs = web;

    store_put_rs(f->s, &rs, T0);
    rs.replicas = 3;
    store_put_rs(f->s, &rs, T0 + 1000); /* status only */
    rs.spec_json = "{\"replicas\":5}";
    store_put_rs(f->s, &rs, T0 + 2000);
    assert_int_equal(store_commit(f->s, &err), 0);
    assert_query(f->path,
                 "SELECT generation, observed_generation, replicas, created_ms FROM replica_sets",
                 "2|2|3|1700000000000");
}

/* Repeats fold into one row with a count and first/last times. */
static void
test_events_fold(void **state)
{
    struct fixture *f = *state;
    struct vmirs_err *err = NULL;
    struct store_event e = {"default",
                            "VirtualMachineInstanceReplicaSet",
                            "web",
                            "u-web",
                            "Warning",
                            "FailedCreate",
                            "Error creating: boom",
                            "vmirsd"};

    store_event(f->s, &e, T0);
    store_event(f->s, &e, T0 + 5000);
    store_event(f->s, &e, T0 + 9000);
    e.message = "Error creating: other";
    store_event(f->s, &e, T0 + 9500);
    assert_int_equal(store_commit(f->s, &err), 0);
    assert_query(f->path,
                 "SELECT count, first_ms, last_ms FROM events WHERE message = 'Error creating: "
                 "boom'",
                 "3|1700000000000|1700000009000");
    assert_query(f->path, "SELECT count(*) FROM events", "2");
}

/* An image cache entry per digest, its last use updated. */
static void
test_images(void **state)
{
    struct fixture *f = *state;
    struct vmirs_err *err = NULL;

    store_put_image(f->s, "sha256:ab", "localhost/g:latest", "/var/lib/vmirsd/cache/ab", 1024, T0);
    store_put_image(f->s, "sha256:ab", "localhost/g:latest", "/var/lib/vmirsd/cache/ab", 1024,
                    T0 + 5000);
    assert_int_equal(store_commit(f->s, &err), 0);
    assert_query(f->path, "SELECT count(*), ref, size, last_used_ms FROM images",
                 "1|localhost/g:latest|1024|1700000005000");
}

/* A condition keeps its transition time while it holds; false removes it. */
static void
test_conditions(void **state)
{
    struct fixture *f = *state;
    struct vmirs_err *err = NULL;

    store_set_condition(f->s, "u-web", "ReplicaPaused", true, "Paused", "", T0);
    store_set_condition(f->s, "u-web", "ReplicaPaused", true, "Paused", "", T0 + 1000);
    store_set_condition(f->s, "u-web", "ReplicaFailure", true, "FailedCreate", "boom", T0);
    store_set_condition(f->s, "u-web", "ReplicaFailure", false, NULL, NULL, T0 + 2000);
    assert_int_equal(store_commit(f->s, &err), 0);
    assert_query(f->path, "SELECT type, status, reason, transition_ms FROM conditions",
                 "ReplicaPaused|True|Paused|1700000000000");
    assert_query(f->path, "SELECT count(*) FROM conditions", "1");
    store_delete_rs(f->s, "u-web");
    assert_int_equal(store_commit(f->s, &err), 0);
    assert_query(f->path, "SELECT count(*) FROM conditions", "0");
}

/* Each change of phase or readiness is a transition; repeats are not. */
static void
test_replica_transitions(void **state)
{
    struct fixture *f = *state;
    struct vmirs_err *err = NULL;
    struct store_replica r = {
        .domain = "default_webabcde",
        .namespace = "default",
        .vmi_name = "webabcde",
        .rs_uid = "u-web",
        .template_hash = "0123456789abcdef",
        .phase = "Pending",
        .created_ms = T0,
    };

    store_put_replica(f->s, &r, T0);
    r.phase = "Running";
    store_put_replica(f->s, &r, T0 + 1000);
    store_put_replica(f->s, &r, T0 + 1500);
    r.ready = true;
    store_put_replica(f->s, &r, T0 + 4000);
    assert_int_equal(store_commit(f->s, &err), 0);
    assert_query(f->path, "SELECT phase, ready, phase_ms, ready_ms FROM replicas",
                 "Running|1|1700000001000|1700000004000");
    assert_int_equal(store_replica_ready(f->s, r.domain), 1);
    assert_int_equal(store_replica_ready(f->s, "default_other"), -1);
    assert_query(f->path, "SELECT group_concat(phase || ready, ',') FROM transitions",
                 "Pending0,Running0,Running1");
    store_delete_replica(f->s, r.domain);
    assert_int_equal(store_commit(f->s, &err), 0);
    assert_query(f->path, "SELECT count(*) FROM replicas", "0");
    assert_query(f->path, "SELECT count(*) FROM transitions", "0");
}

/* The file is in WAL mode at the current schema version, and reopening it
 * keeps the data (no migration runs twice). */
static void
test_reopen(void **state)
{
    struct fixture *f = *state;
    struct vmirs_err *err = NULL;

    store_put_rs(f->s, &web, T0);
    store_close(f->s);
    assert_int_equal(store_open(f->path, false, &f->s, &err), 0);
    assert_query(f->path, "PRAGMA journal_mode", "wal");
    assert_query(f->path, "PRAGMA user_version", "2");
    assert_query(f->path, "SELECT name FROM replica_sets", "web");
}

/* A version 1 database (no ports column) is migrated forward on open and
 * keeps its rows; the new column starts empty. */
static void
test_migrate_from_1(void **state)
{
    struct fixture *f = *state;
    struct vmirs_err *err = NULL;
    struct store_replica r = {
        .domain = "default_webabcde",
        .namespace = "default",
        .vmi_name = "webabcde",
        .phase = "Running",
        .ports = "127.0.0.1:30000->80/tcp",
    };
    sqlite3 *db;

    store_put_replica(f->s, &r, T0);
    store_close(f->s);
    f->s = NULL;
    /* What version 1 wrote: the same tables without replicas.ports. */
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "ALTER TABLE replicas DROP COLUMN ports; "
                                  "PRAGMA user_version = 1",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_open(f->path, false, &f->s, &err), 0);
    assert_query(f->path, "PRAGMA user_version", "2");
    assert_query(f->path, "SELECT domain, phase, ports FROM replicas", "default_webabcde|Running|");
}

/* Automatic checkpoints are off; once the WAL passes the threshold a
 * checkpoint is claimed once, runs on its own connection while the writer
 * goes on, and can be claimed again only after it is done. */
static void
test_checkpoint(void **state)
{
    struct fixture *f = *state;
    struct vmirs_err *err = NULL;
    char *big = calloc(1, 3001);
    char *wal = xasprintf("%s-wal", f->path);
    struct stat st;

    memset(big, 'x', 3000);
    assert_false(store_checkpoint_claim(f->s));
    for (int i = 0; i < STORE_CHECKPOINT_PAGES + 10; i++) {
        char reason[32];

        snprintf(reason, sizeof(reason), "R%d", i);
        store_event(f->s,
                    &(struct store_event){"default", "VirtualMachineInstanceReplicaSet", "web",
                                          "u-web", "Normal", reason, big, "vmirsd"},
                    T0);
        assert_int_equal(store_commit(f->s, &err), 0);
    }
    assert_int_equal(stat(wal, &st), 0);
    assert_true(st.st_size > (off_t) STORE_CHECKPOINT_PAGES * 4096);
    assert_true(store_checkpoint_claim(f->s));
    assert_false(store_checkpoint_claim(f->s));
    assert_int_equal(store_checkpoint(f->s, &err), 0);
    store_checkpoint_done(f->s);
    assert_false(store_checkpoint_claim(f->s));
    /* Checkpointed: the data is in the database file itself. */
    assert_int_equal(stat(f->path, &st), 0);
    assert_true(st.st_size > (off_t) STORE_CHECKPOINT_PAGES * 3000);
    free(big);
    free(wal);
}

/* A database from a newer vmirsd is refused, naming both versions; the
 * reader refuses a missing file. */
static void
test_refused(void **state)
{
    struct fixture *f = *state;
    struct vmirs_err *err = NULL;
    struct store *s2 = NULL;
    char *missing = xasprintf("%s/none.db", f->dir);
    char *newer = xasprintf("%s/newer.db", f->dir);
    sqlite3 *db;

    assert_int_equal(store_open(missing, true, &s2, &err), -1);
    assert_non_null(strstr(err->msg, "none.db"));
    err_free(&err);
    assert_int_equal(sqlite3_open(newer, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_open(newer, false, &s2, &err), -1);
    assert_non_null(strstr(err->msg, "has schema version 99; this vmirsd knows up to 2"));
    err_free(&err);
    free(missing);
    free(newer);
}

/* ---- stderr, for the log lines ---- */

/* The lines of text that contain s. */
static int
count_lines(const char *text, const char *s)
{
    int n = 0;

    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t) (nl - line) : strlen(line);
        char *one = strndup(line, len);

        n += strstr(one, s) != NULL;
        free(one);
        line += len + (nl != NULL);
    }
    return n;
}

struct capture {
    char *dir, *path;
    int saved;
};

static void
capture_start(struct capture *cap)
{
    int fd;

    cap->dir = tmpdir_make();
    cap->path = xasprintf("%s/err", cap->dir);
    fd = open(cap->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    fflush(stderr);
    cap->saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
}

/* What was logged since capture_start (malloc'd). */
static char *
capture_end(struct capture *cap)
{
    char *data = NULL;

    fflush(stderr);
    dup2(cap->saved, STDERR_FILENO);
    close(cap->saved);
    assert_int_equal(read_file(cap->path, &data, NULL), 0);
    free(cap->path);
    tmpdir_remove(cap->dir);
    return data;
}

/* Another process holds the write lock: store_commit returns at once,
 * keeps every write and backs off 50 ms doubling to 1 s; once the lock is
 * gone the writes land in one transaction, meaning what they meant (the
 * replica's transitions are those of the calls, not of stale reads). The
 * wait is logged once when it starts and once when it ends. */
static void
test_busy_keeps_writes(void **state)
{
    struct fixture *f = *state;
    struct vmirs_err *err = NULL;
    struct capture cap;
    struct store_replica r = {
        .domain = "default_webabcde",
        .namespace = "default",
        .vmi_name = "webabcde",
        .rs_uid = "u-web",
        .phase = "Pending",
        .created_ms = T0,
    };
    const uint64_t backoff[] = {50, 100, 200, 400, 800, 1000, 1000};
    sqlite3 *other;
    char *log, *want;
    int64_t t;

    store_put_rs(f->s, &web, T0);
    assert_int_equal(store_commit(f->s, &err), 0);
    assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

    capture_start(&cap);
    store_put_replica(f->s, &r, T0);
    r.phase = "Running";
    store_put_replica(f->s, &r, T0 + 1000);
    t = clock_mono_ms();
    for (size_t i = 0; i < sizeof(backoff) / sizeof(backoff[0]); i++) {
        assert_int_equal(store_commit(f->s, &err), STORE_BUSY);
        assert_int_equal(store_retry_ms(f->s), backoff[i]);
        /* Writes made while waiting join the kept ones, in order. */
        store_put_replica(f->s, &r, T0 + 1500);
    }
    /* Seven refusals took no time: nothing waited for the lock. */
    assert_true(clock_mono_ms() - t < 100);
    r.ready = true;
    store_put_replica(f->s, &r, T0 + 4000);
    assert_int_equal(store_pending(f->s), 2 * 10);
    assert_query(f->path, "SELECT count(*) FROM replicas", "0");
    assert_int_equal(store_replica_ready(f->s, r.domain), -1);

    assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    assert_int_equal(store_commit(f->s, &err), 0);
    log = capture_end(&cap);
    assert_int_equal(store_pending(f->s), 0);
    assert_int_equal(store_commits(f->s), 2);
    assert_query(f->path, "SELECT phase, ready, phase_ms, ready_ms FROM replicas",
                 "Running|1|1700000001000|1700000004000");
    assert_query(f->path, "SELECT group_concat(phase || ready, ',') FROM transitions",
                 "Pending0,Running0,Running1");
    assert_int_equal(store_replica_ready(f->s, r.domain), 1);
    want = xasprintf("WARNING store: database `%s` is locked by another process: writes wait, "
                     "supervision goes on\n"
                     "INFO store: database `%s` is writable again: 20 writes that waited ",
                     f->path, f->path);
    if (strncmp(log, want, strlen(want)) != 0 || strchr(log + strlen(want), '\n')[1] != '\0')
        fail_msg("log:\n%s\nwant:\n%s... ms committed", log, want);
    free(want);
    free(log);
}

/* A lock taken by a reader does not stop the writer (WAL), and a commit
 * after a wait starts from the minimum back-off again. */
static void
test_busy_backoff_resets(void **state)
{
    struct fixture *f = *state;
    struct vmirs_err *err = NULL;
    struct capture cap;
    sqlite3 *other;
    char *log;

    assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(other, "BEGIN; SELECT count(*) FROM replica_sets", NULL, NULL, NULL),
        SQLITE_OK);
    store_put_rs(f->s, &web, T0);
    assert_int_equal(store_commit(f->s, &err), 0);
    assert_int_equal(sqlite3_exec(other, "COMMIT; BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    capture_start(&cap);
    store_put_rs(f->s, &web, T0);
    assert_int_equal(store_commit(f->s, &err), STORE_BUSY);
    assert_int_equal(store_commit(f->s, &err), STORE_BUSY);
    assert_int_equal(store_retry_ms(f->s), 100);
    assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(store_commit(f->s, &err), 0);
    assert_int_equal(store_retry_ms(f->s), STORE_RETRY_MIN_MS);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    store_put_rs(f->s, &web, T0);
    assert_int_equal(store_commit(f->s, &err), STORE_BUSY);
    assert_int_equal(store_retry_ms(f->s), 50);
    assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    assert_int_equal(store_commit(f->s, &err), 0);
    log = capture_end(&cap);
    /* Two waits, each logged at its start and its end. */
    assert_int_equal(count_lines(log, "is locked by another process"), 2);
    assert_int_equal(count_lines(log, "is writable again: 1 writes"), 2);
    free(log);
}

/* The names a directory holds, sorted and joined with ' ' (malloc'd). */
static char *
dir_names(const char *dir)
{
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, alphasort);
    char *out = xstrdup("");

    assert_true(n >= 0);
    for (int i = 0; i < n; i++) {
        if (ents[i]->d_name[0] != '.') {
            char *next = xasprintf("%s%s%s", out, *out ? " " : "", ents[i]->d_name);

            free(out);
            out = next;
        }
        free(ents[i]);
    }
    free(ents);
    return out;
}

/* The aside name of f->path made in the last few seconds: vmirsd.db.corrupt-
 * followed by a UTC time such as 20261202T123456Z (malloc'd), or NULL. */
static char *
aside_name(const struct fixture *f, const char *names)
{
    const char *p = strstr(names, "vmirsd.db.corrupt-");
    struct tm tm = {0};
    const char *end;
    time_t t;

    if (!p)
        return NULL;
    end = strptime(p + strlen("vmirsd.db.corrupt-"), "%Y%m%dT%H%M%SZ", &tm);
    assert_non_null(end);
    assert_true(*end == '\0' || *end == ' ' || *end == '-');
    t = timegm(&tm);
    assert_true(t <= time(NULL) && t >= time(NULL) - 60);
    return strndup(p, (size_t) (end - p));
}

/* A vmirsd.db that is not a database is moved aside with its WAL and
 * SHM, the move is logged as an error naming the new file, and a new,
 * empty database takes its place. */
static void
test_corrupt_moved_aside(void **state)
{
    struct fixture *f = *state;
    struct vmirs_err *err = NULL;
    struct capture cap;
    char *names, *aside, *log, *want, *data = NULL, *p;

    store_close(f->s);
    f->s = NULL;
    for (const char *side = "-wal"; side; side = strcmp(side, "-wal") == 0 ? "-shm" : NULL) {
        p = xasprintf("%s%s", f->path, side);
        free(write_tmpfile(f->dir, strrchr(p, '/') + 1, "garbage side file"));
        free(p);
    }
    free(write_tmpfile(f->dir, "vmirsd.db",
                       "This is not a database, but it is long enough that SQLite reads its "
                       "header and says so: 0123456789abcdefghijklmnopqrstuvwxyz"));
    capture_start(&cap);
    assert_int_equal(store_open(f->path, false, &f->s, &err), 0);
    log = capture_end(&cap);

    names = dir_names(f->dir);
    aside = aside_name(f, names);
    assert_non_null(aside);
    /* SQLite removes the old WAL and SHM itself when the failed
     * connection closes (an unreadable WAL holds nothing); whichever are
     * left go with the database. */
    want = xasprintf("vmirsd.db vmirsd.db-shm vmirsd.db-wal %s", aside);
    assert_string_equal(names, want);
    free(want);
    want = xasprintf("ERROR store: set up database `%s`: file is not a database: moved to "
                     "`%s/%s`; a new database is rebuilt from the domains\n"
                     "INFO store: database %s migrated to schema version 1\n"
                     "INFO store: database %s migrated to schema version 2\n",
                     f->path, f->dir, aside, f->path, f->path);
    assert_string_equal(log, want);
    free(want);
    /* The old bytes are in the aside file, untouched. */
    p = xasprintf("%s/%s", f->dir, aside);
    assert_int_equal(read_file(p, &data, NULL), 0);
    assert_non_null(strstr(data, "This is not a database"));
    free(data);
    free(p);
    /* The new file works. */
    assert_query(f->path, "PRAGMA user_version", "2");
    assert_query(f->path, "SELECT count(*) FROM replica_sets", "0");
    store_put_rs(f->s, &web, T0);
    assert_int_equal(store_commit(f->s, &err), 0);
    assert_query(f->path, "SELECT name FROM replica_sets", "web");
    free(names);
    free(aside);
    free(log);
}

/* A database whose header is intact but whose pages are damaged fails
 * quick_check at open: moved aside too. */
static void
test_corrupt_pages_moved_aside(void **state)
{
    struct fixture *f = *state;
    struct vmirs_err *err = NULL;
    struct capture cap;
    char page[4096];
    char *names, *aside, *log;
    int fd;

    for (int i = 0; i < 200; i++) {
        char uid[16], name[16];
        struct store_rs rs = web;

        snprintf(uid, sizeof(uid), "u-%d", i);
        snprintf(name, sizeof(name), "web%d", i);
        rs.uid = uid;
        rs.name = name;
        store_put_rs(f->s, &rs, T0);
    }
    assert_int_equal(store_commit(f->s, &err), 0);
    assert_int_equal(store_checkpoint(f->s, &err), 0);
    store_close(f->s);
    f->s = NULL;
    /* Page 3 onward: tables and indexes, past the header and schema. */
    memset(page, 0x5a, sizeof(page));
    fd = open(f->path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, page, sizeof(page), 2 * 4096), (ssize_t) sizeof(page));
    assert_int_equal(pwrite(fd, page, sizeof(page), 4 * 4096), (ssize_t) sizeof(page));
    close(fd);
    capture_start(&cap);
    assert_int_equal(store_open(f->path, false, &f->s, &err), 0);
    log = capture_end(&cap);
    names = dir_names(f->dir);
    aside = aside_name(f, names);
    assert_non_null(aside);
    if (count_lines(log, "ERROR store: check database") != 1 || !strstr(log, aside))
        fail_msg("log: %s", log);
    assert_query(f->path, "SELECT count(*) FROM replica_sets", "0");
    free(names);
    free(aside);
    free(log);
}

/* A commit that finds the file corrupt while vmirsd runs replaces it as
 * the open does: the old file moved aside, logged, a new one in place,
 * and STORE_REBUILT tells the caller to record what it knows again. */
static void
test_corrupt_at_runtime(void **state)
{
    struct fixture *f = *state;
    struct vmirs_err *err = NULL;
    struct capture cap;
    char page[4096];
    char *names, *aside, *log, *want, *root;
    sqlite3 *other;
    int fd;

    for (int i = 0; i < 200; i++) {
        char uid[16], name[16];
        struct store_rs rs = web;

        snprintf(uid, sizeof(uid), "u-%d", i);
        snprintf(name, sizeof(name), "web%d", i);
        rs.uid = uid;
        rs.name = name;
        store_put_rs(f->s, &rs, T0);
    }
    assert_int_equal(store_commit(f->s, &err), 0);
    store_close(f->s);
    assert_int_equal(store_open(f->path, false, &f->s, &err), 0);
    /* Damage the table's root page under the running writer, then have
     * another connection write, so that the writer's cache is stale and
     * its next write reads the page from the file. */
    root = query(f->path, "SELECT rootpage FROM sqlite_master WHERE name = 'replica_sets'");
    memset(page, 0x5a, sizeof(page));
    fd = open(f->path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, page, sizeof(page), (off_t) (atoi(root) - 1) * 4096),
                     (ssize_t) sizeof(page));
    close(fd);
    free(root);
    assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "INSERT INTO images VALUES ('sha256:ab', 'r', '/p', 1, 1)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(other);

    capture_start(&cap);
    store_put_rs(f->s, &web, T0);
    assert_int_equal(store_commit(f->s, &err), STORE_REBUILT);
    log = capture_end(&cap);
    names = dir_names(f->dir);
    aside = aside_name(f, names);
    assert_non_null(aside);
    want = xasprintf("ERROR store: commit to database `%s`: database disk image is malformed: "
                     "moved to `%s/%s`; a new database is rebuilt from the domains\n"
                     "INFO store: database %s migrated to schema version 1\n"
                     "INFO store: database %s migrated to schema version 2\n",
                     f->path, f->dir, aside, f->path, f->path);
    assert_string_equal(log, want);
    free(want);
    /* The new file is empty and takes the writes made again. */
    assert_query(f->path, "SELECT count(*) FROM replica_sets", "0");
    store_put_rs(f->s, &web, T0);
    assert_int_equal(store_commit(f->s, &err), 0);
    assert_query(f->path, "SELECT name FROM replica_sets", "web");
    free(names);
    free(aside);
    free(log);
}

/* vmirsctl's read-only open of a broken file fails and moves nothing. */
static void
test_corrupt_reader_moves_nothing(void **state)
{
    struct fixture *f = *state;
    struct vmirs_err *err = NULL;
    struct store *r = NULL;
    char *names;

    store_close(f->s);
    f->s = NULL;
    free(write_tmpfile(f->dir, "vmirsd.db",
                       "This is not a database, but it is long enough that SQLite reads its "
                       "header and says so: 0123456789abcdefghijklmnopqrstuvwxyz"));
    assert_int_equal(store_open(f->path, true, &r, &err), -1);
    assert_non_null(strstr(err->msg, "file is not a database"));
    err_free(&err);
    names = dir_names(f->dir);
    assert_string_equal(names, "vmirsd.db");
    free(names);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_transaction_per_pass, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_fold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conditions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_images, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replica_transitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_from_1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_keeps_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_backoff_resets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_moved_aside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_pages_moved_aside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_at_runtime, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_reader_moves_nothing, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
