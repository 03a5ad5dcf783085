#include "config.h"

#define LOG_COMPONENT "store"

#include "store.h"
#include "store_int.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "selector.h"
#include "util.h"

/* Migrations, in order: migrations[i] takes user_version i to i + 1. A
 * released entry is never edited; a change is a new entry. */
static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE replica_sets ("
    "  uid TEXT PRIMARY KEY,"
    "  namespace TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  api_version TEXT NOT NULL,"
    "  file TEXT,"
    "  labels TEXT NOT NULL DEFAULT '{}',"
    "  annotations TEXT NOT NULL DEFAULT '{}',"
    "  spec TEXT NOT NULL DEFAULT '{}',"
    "  label_selector TEXT NOT NULL DEFAULT '',"
    "  template_hash TEXT NOT NULL DEFAULT '',"
    "  generation INTEGER NOT NULL DEFAULT 1,"
    "  observed_generation INTEGER NOT NULL DEFAULT 1,"
    "  desired INTEGER NOT NULL DEFAULT 0,"
    "  replicas INTEGER NOT NULL DEFAULT 0,"
    "  ready_replicas INTEGER NOT NULL DEFAULT 0,"
    "  created_ms INTEGER NOT NULL,"
    "  UNIQUE (namespace, name));"
    "CREATE TABLE conditions ("
    "  rs_uid TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  message TEXT NOT NULL,"
    "  transition_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (rs_uid, type));"
    "CREATE TABLE replicas ("
    "  domain TEXT PRIMARY KEY,"
    "  namespace TEXT NOT NULL,"
    "  vmi_name TEXT NOT NULL,"
    "  vmi_uid TEXT NOT NULL DEFAULT '',"
    "  rs_uid TEXT,"
    "  labels TEXT NOT NULL DEFAULT '{}',"
    "  template_hash TEXT NOT NULL DEFAULT '',"
    "  phase TEXT NOT NULL,"
    "  ready INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  phase_ms INTEGER NOT NULL,"
    "  ready_ms INTEGER NOT NULL);"
    "CREATE INDEX replicas_rs ON replicas (rs_uid);"
    "CREATE TABLE transitions ("
    "  id INTEGER PRIMARY KEY,"
    "  domain TEXT NOT NULL,"
    "  phase TEXT NOT NULL,"
    "  ready INTEGER NOT NULL,"
    "  at_ms INTEGER NOT NULL);"
    "CREATE INDEX transitions_domain ON transitions (domain);"
    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY,"
    "  namespace TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  uid TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  message TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  count INTEGER NOT NULL DEFAULT 1,"
    "  first_ms INTEGER NOT NULL,"
    "  last_ms INTEGER NOT NULL,"
    "  UNIQUE (uid, type, reason, message, source));"
    "CREATE INDEX events_object ON events (namespace, name);"
    "CREATE TABLE images ("
    "  digest TEXT PRIMARY KEY,"
    "  ref TEXT NOT NULL,"
    "  path TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  last_used_ms INTEGER NOT NULL);",
    /* 1 -> 2: the host ports forwarded to each replica. */
    "ALTER TABLE replicas ADD COLUMN ports TEXT NOT NULL DEFAULT '';",
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    /* Every spec change is a new generation, observed at once: the
     * controller acts on a spec in the same pass that records it. (In an
     * UPDATE every right-hand side sees the row as it was.) */
    [ST_RS_UPSERT] =
        "INSERT INTO replica_sets (uid, namespace, name, api_version, file, labels, annotations, "
        "spec, label_selector, desired, replicas, ready_replicas, created_ms, template_hash) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) "
        "ON CONFLICT (uid) DO UPDATE SET api_version = excluded.api_version, "
        "file = excluded.file, labels = excluded.labels, annotations = excluded.annotations, "
        "label_selector = excluded.label_selector, desired = excluded.desired, "
        "replicas = excluded.replicas, ready_replicas = excluded.ready_replicas, "
        "template_hash = excluded.template_hash, "
        "generation = generation + (spec IS NOT excluded.spec), "
        "observed_generation = generation + (spec IS NOT excluded.spec), spec = excluded.spec",
    [ST_RS_DELETE] = "DELETE FROM replica_sets WHERE uid = ?1",
    [ST_COND_DELETE_ALL] = "DELETE FROM conditions WHERE rs_uid = ?1",
    [ST_COND_UPSERT] =
        "INSERT INTO conditions (rs_uid, type, status, reason, message, transition_ms) "
        "VALUES (?1, ?2, 'True', ?3, ?4, ?5) ON CONFLICT (rs_uid, type) DO UPDATE SET "
        "reason = excluded.reason, message = excluded.message",
    [ST_COND_DELETE] = "DELETE FROM conditions WHERE rs_uid = ?1 AND type = ?2",
    [ST_REP_GET] = "SELECT phase, ready FROM replicas WHERE domain = ?1",
    [ST_REP_UPSERT] =
        "INSERT INTO replicas (domain, namespace, vmi_name, vmi_uid, rs_uid, labels, "
        "template_hash, phase, ready, created_ms, phase_ms, ready_ms, ports) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12) "
        "ON CONFLICT (domain) DO UPDATE SET rs_uid = excluded.rs_uid, labels = excluded.labels, "
        "ports = excluded.ports, "
        "template_hash = excluded.template_hash, "
        "phase_ms = CASE WHEN phase = excluded.phase THEN phase_ms ELSE excluded.phase_ms END, "
        "ready_ms = CASE WHEN ready = excluded.ready THEN ready_ms ELSE excluded.ready_ms END, "
        "phase = excluded.phase, ready = excluded.ready",
    [ST_REP_DELETE] = "DELETE FROM replicas WHERE domain = ?1",
    /* Run before the replica's upsert: a transition when its phase or
     * readiness is not the one recorded (or there is no row yet). Decided
     * in SQL, not by a read before the write, because a write may be kept
     * for later (a locked database) and must mean the same then. */
    [ST_TRANS_INSERT] =
        "INSERT INTO transitions (domain, phase, ready, at_ms) SELECT ?1, ?2, ?3, ?4 "
        "WHERE NOT EXISTS (SELECT 1 FROM replicas WHERE domain = ?1 AND phase = ?2 "
        "AND ready = ?3)",
    [ST_TRANS_DELETE] = "DELETE FROM transitions WHERE domain = ?1",
    [ST_IMAGE_UPSERT] = "INSERT INTO images (digest, ref, path, size, last_used_ms) "
                        "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (digest) DO UPDATE SET "
                        "ref = excluded.ref, path = excluded.path, size = excluded.size, "
                        "last_used_ms = excluded.last_used_ms",
    [ST_EVENT_UPSERT] =
        "INSERT INTO events (namespace, kind, name, uid, type, reason, message, source, "
        "first_ms, last_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9) "
        "ON CONFLICT (uid, type, reason, message, source) DO UPDATE SET "
        "count = count + 1, last_ms = excluded.last_ms",
};

/* The error of the last call on the writer's connection; its code is
 * kept to tell a damaged file from other failures at open. */
static int
db_error(struct store *s, struct vmirs_err **err, const char *what)
{
    s->open_rc = sqlite3_extended_errcode(s->db);
    return err_set(err, 0, "%s `%s`: %s", what, s->path, sqlite3_errmsg(s->db));
}

/* Another connection holds the lock: try again later. */
static bool
rc_busy(int rc)
{
    return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

/* The file is damaged or is not a database at all. */
static bool
rc_corrupt(int rc)
{
    return (rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB;
}

static int
store_wal_hook(void *opaque, sqlite3 *db, const char *name, int pages)
{
    struct store *s = opaque;

    s->wal_pages = pages;
    return SQLITE_OK;
}

bool
store_checkpoint_claim(struct store *s)
{
    if (!s || s->readonly || s->ckpt_running || s->wal_pages < STORE_CHECKPOINT_PAGES)
        return false;
    s->ckpt_running = true;
    return true;
}

int
store_checkpoint(struct store *s, struct vmirs_err **err)
{
    int log_pages = 0, done = 0;

    if (!s->ckpt_db) {
        if (sqlite3_open_v2(s->path, &s->ckpt_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                            NULL) != SQLITE_OK) {
            int rc = err_set(err, 0, "open `%s` for a checkpoint: %s", s->path,
                             s->ckpt_db ? sqlite3_errmsg(s->ckpt_db) : "out of memory");

            sqlite3_close(s->ckpt_db);
            s->ckpt_db = NULL;
            return rc;
        }
        sqlite3_busy_timeout(s->ckpt_db, 1000);
        /* A connection learns that the file is in WAL mode when it first
         * reads it; before that a checkpoint does nothing. */
        if (sqlite3_exec(s->ckpt_db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) !=
            SQLITE_OK)
            return err_set(err, 0, "read `%s` for a checkpoint: %s", s->path,
                           sqlite3_errmsg(s->ckpt_db));
    }
    /* PASSIVE: copies what no reader still needs, never waits on the
     * writer; what is left goes in the next one. */
    if (sqlite3_wal_checkpoint_v2(s->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_pages, &done) !=
        SQLITE_OK)
        return err_set(err, 0, "checkpoint `%s`: %s", s->path, sqlite3_errmsg(s->ckpt_db));
    return 0;
}

void
store_checkpoint_done(struct store *s)
{
    s->ckpt_running = false;
    s->wal_pages = 0;
}

static int
store_migrate(struct store *s, struct vmirs_err **err)
{
    sqlite3_stmt *st = NULL;
    int version;

    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return db_error(s, err, "read the schema version of");
    }
    version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version > STORE_SCHEMA_VERSION)
        return err_set(err, 0, "`%s` has schema version %d; this vmirsd knows up to %d", s->path,
                       version, STORE_SCHEMA_VERSION);
    for (int v = version; v < STORE_SCHEMA_VERSION; v++) {
        cleanup_free char *sql =
            xasprintf("BEGIN; %s PRAGMA user_version = %d; COMMIT;", migrations[v], v + 1);

        if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
            int rc = db_error(s, err, "migrate");

            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
        log_info("database %s migrated to schema version %d", s->path, v + 1);
    }
    return 0;
}

/* The first problem PRAGMA quick_check finds, if any: the cheap check
 * (no index is compared with its table), run once at start. It reads
 * every page: a few milliseconds for a few MiB, 0.1 s for 50 MiB in the
 * page cache (1.1 s from a cold disk). */
static int
store_quick_check(struct store *s, struct vmirs_err **err)
{
    sqlite3_stmt *st = NULL;
    const char *res;
    int rc;

    if (sqlite3_prepare_v2(s->db, "PRAGMA quick_check(1)", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return db_error(s, err, "check database");
    }
    res = (const char *) sqlite3_column_text(st, 0);
    if (res && strcmp(res, "ok") == 0) {
        sqlite3_finalize(st);
        return 0;
    }
    s->open_rc = SQLITE_CORRUPT;
    rc = err_set(err, 0, "check database `%s`: %s", s->path, res ? res : "no answer");
    sqlite3_finalize(st);
    /* SQLite's report may span lines: one log record stays one line. */
    for (char *p = (*err)->msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return rc;
}

/* Finalize the statements and close both connections; harmless twice. */
static void
store_disconnect(struct store *s)
{
    for (int i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(s->st[i]);
        s->st[i] = NULL;
    }
    sqlite3_close(s->ckpt_db);
    s->ckpt_db = NULL;
    sqlite3_close(s->db);
    s->db = NULL;
}

/* Open s->path; *corrupt says whether a failure was the file's content. */
static int
store_connect(struct store *s, bool *corrupt, struct vmirs_err **err)
{
    int flags = s->readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

    *corrupt = false;
    s->open_rc = SQLITE_OK;
    s->wal_pages = 0;
    if (sqlite3_open_v2(s->path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        if (s->db)
            db_error(s, err, "open database");
        else
            err_set(err, 0, "open database `%s`: out of memory", s->path);
        goto fail;
    }
    /* A reader (vmirsctl) waits a little for a checkpoint rather than
     * failing; so does the daemon while it opens, before its loop runs. */
    sqlite3_busy_timeout(s->db, 5000);
    if (!s->readonly) {
        /* WAL: vmirsctl reads while the daemon writes. synchronous=NORMAL:
         * a commit does not fsync, only checkpoints do (doc/performance.md
         * has the measurement). A crash of vmirsd loses nothing; a power
         * loss may lose the last passes' rows, and takes the transient
         * domains with it anyway. */
        if (sqlite3_exec(s->db,
                         "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
                         "PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0; "
                         "PRAGMA cache_size = -512;",
                         NULL, NULL, NULL) != SQLITE_OK) {
            db_error(s, err, "set up database");
            goto fail;
        }
        if (store_quick_check(s, err) < 0 || store_migrate(s, err) < 0)
            goto fail;
        sqlite3_wal_hook(s->db, store_wal_hook, s);
        for (int i = 0; i < ST_COUNT; i++) {
            if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                                   NULL) != SQLITE_OK) {
                db_error(s, err, "prepare statements for");
                goto fail;
            }
        }
        /* From here on the connection is the loop's: it never waits for
         * a lock; a commit refused as busy keeps its writes for later. */
        sqlite3_busy_timeout(s->db, 0);
    } else {
        sqlite3_stmt *st = NULL;
        int version = -1;

        if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            version = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        if (version != STORE_SCHEMA_VERSION) {
            if (version < 0)
                db_error(s, err, "read database");
            else
                err_set(err, 0, "`%s` has schema version %d; this vmirsctl reads %d", s->path,
                        version, STORE_SCHEMA_VERSION);
            goto fail;
        }
    }
    return 0;

fail:
    *corrupt = !s->readonly && rc_corrupt(s->open_rc);
    store_disconnect(s);
    return -1;
}

/* Move a database that cannot be used out of the way, with its side
 * files, as PATH.corrupt-<UTC time>[.N]; returns that name (malloc'd). */
static char *
store_move_aside(const char *path, struct vmirs_err **err)
{
    /* The side files go first: a WAL or journal left behind would be
     * replayed into the new database, a mix of two files. */
    static const char *const sides[] = {"-wal", "-shm", "-journal"};
    char stamp[sizeof("20261202T123456Z")];
    struct tm tm;
    time_t now = time(NULL);
    char *aside = NULL;

    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    for (int n = 0;; n++) {
        struct stat st;

        free(aside);
        aside = n ? xasprintf("%s.corrupt-%s.%d", path, stamp, n)
                  : xasprintf("%s.corrupt-%s", path, stamp);
        if (lstat(aside, &st) < 0 && errno == ENOENT)
            break;
        if (n == 100) {
            err_set(err, EEXIST, "move `%s` aside: `%s`", path, aside);
            free(aside);
            return NULL;
        }
    }
    for (size_t i = 0; i < sizeof(sides) / sizeof(sides[0]); i++) {
        cleanup_free char *from = xasprintf("%s%s", path, sides[i]);
        cleanup_free char *to = xasprintf("%s%s", aside, sides[i]);

        if (rename(from, to) < 0 && errno != ENOENT) {
            err_set(err, errno, "move `%s` to `%s`", from, to);
            free(aside);
            return NULL;
        }
    }
    if (rename(path, aside) < 0) {
        err_set(err, errno, "move `%s` to `%s`", path, aside);
        free(aside);
        return NULL;
    }
    return aside;
}

/* Move the file aside and open a new one in its place (writer only). */
static int
store_replace(struct store *s, const char *why, struct vmirs_err **err)
{
    cleanup_free char *aside = NULL;
    bool corrupt;

    store_disconnect(s);
    aside = store_move_aside(s->path, err);
    if (!aside)
        return err_wrap(err, "database `%s` is corrupt", s->path);
    /* Status and history only (the domains' metadata is the truth): a
     * damaged file is kept for a post-mortem and a new one started; the
     * controller records every domain it knows. */
    log_error("%s: moved to `%s`; a new database is rebuilt from the domains", why, aside);
    return store_connect(s, &corrupt, err);
}

int
store_open(const char *path, bool readonly, struct store **out, struct vmirs_err **err)
{
    struct store *s = xcalloc(1, sizeof(*s));
    bool corrupt;

    s->path = xstrdup(path);
    s->readonly = readonly;
    if (store_connect(s, &corrupt, err) < 0) {
        cleanup_free char *why = corrupt ? xstrdup((*err)->msg) : NULL;

        if (why)
            err_free(err);
        if (!why || store_replace(s, why, err) < 0) {
            store_close(s);
            return -1;
        }
    }
    *out = s;
    return 0;
}

/* A new kept write of statement id; its values are set with op_text and
 * op_int. */
struct op *
op_add(struct store *s, enum stmt_id id)
{
    struct op *op;

    /* Writes are the daemon's: vmirsctl's connection has no statements. */
    if (s->readonly)
        abort();
    if (s->nops == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->ops = xrealloc(s->ops, s->cap * sizeof(*s->ops));
    }
    op = &s->ops[s->nops++];
    memset(op, 0, sizeof(*op));
    op->id = id;
    /* No statement: the file could not be replaced; dropped at commit. */
    op->n = s->st[id] ? sqlite3_bind_parameter_count(s->st[id]) : OP_MAX_PARAMS;
    if (op->n > OP_MAX_PARAMS)
        abort();
    return op;
}

void
op_text(struct op *op, int i, const char *v)
{
    op->v[i - 1] = v ? (struct op_val){.type = SQLITE_TEXT, .t = xstrdup(v)}
                     : (struct op_val){.type = SQLITE_NULL};
}

void
op_int(struct op *op, int i, int64_t v)
{
    op->v[i - 1] = (struct op_val){.type = SQLITE_INTEGER, .i = v};
}

static void
ops_clear(struct store *s)
{
    for (size_t i = 0; i < s->nops; i++)
        for (int j = 0; j < s->ops[i].n; j++)
            free(s->ops[i].v[j].t);
    s->nops = 0;
    /* A burst's worth of memory is given back, not kept for good. */
    if (s->cap > 1024) {
        free(s->ops);
        s->ops = NULL;
        s->cap = 0;
    }
}

/* Run one kept write to its end. */
static int
op_run(struct store *s, const struct op *op)
{
    sqlite3_stmt *st = s->st[op->id];
    int rc;

    for (int j = 0; j < op->n; j++) {
        const struct op_val *v = &op->v[j];

        if (v->type == SQLITE_TEXT)
            sqlite3_bind_text(st, j + 1, v->t, -1, SQLITE_STATIC);
        else if (v->type == SQLITE_INTEGER)
            sqlite3_bind_int64(st, j + 1, v->i);
        else
            sqlite3_bind_null(st, j + 1);
    }
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

/* Apply the kept writes in one transaction. SQLITE_OK: committed; a busy
 * code: another connection holds the lock and nothing was applied; any
 * other code: the transaction failed, with *msg saying why. A write that
 * fails on its own (the transaction goes on) is logged and skipped. */
static int
store_apply(struct store *s, char **msg)
{
    int rc, failed = 0;
    char *first = NULL;

    rc = sqlite3_step(s->st[ST_BEGIN]);
    sqlite3_reset(s->st[ST_BEGIN]);
    if (rc != SQLITE_DONE) {
        *msg = xstrdup(sqlite3_errmsg(s->db));
        return rc;
    }
    for (size_t i = 0; i < s->nops; i++) {
        rc = op_run(s, &s->ops[i]);
        if (rc == SQLITE_DONE)
            continue;
        /* Busy here (a rollback-journal file spilling its cache, say),
         * corrupt, or the transaction rolled back by SQLite (a full disk):
         * the whole transaction goes; a busy one is tried again. */
        if (rc_busy(rc) || rc_corrupt(rc) || sqlite3_get_autocommit(s->db)) {
            *msg = xstrdup(sqlite3_errmsg(s->db));
            if (!sqlite3_get_autocommit(s->db))
                sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            free(first);
            return rc;
        }
        if (!failed++)
            first = xstrdup(sqlite3_errmsg(s->db));
    }
    if (failed)
        log_warn("write `%s`: %s (%d of %zu writes failed)", s->path, first, failed, s->nops);
    free(first);
    /* COMMIT refused as busy leaves the transaction open; it is rolled
     * back so that the next try starts from BEGIN like any other. */
    rc = sqlite3_step(s->st[ST_COMMIT]);
    sqlite3_reset(s->st[ST_COMMIT]);
    if (rc != SQLITE_DONE) {
        *msg = xstrdup(sqlite3_errmsg(s->db));
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    return SQLITE_OK;
}

/* A commit found the file corrupt: replace it, once no checkpoint uses
 * the old one (till then the caller tries again, as when busy). Failing
 * that, nothing more is recorded. */
static int
store_rebuild(struct store *s, struct vmirs_err **err)
{
    cleanup_free char *why = NULL;

    if (s->ckpt_running) {
        s->retry_ms = STORE_RETRY_MIN_MS;
        return STORE_BUSY;
    }
    why = steal_ptr(&s->corrupt_why);
    s->corrupt = false;
    if (store_replace(s, why, err) < 0)
        return err_wrap(err, "nothing more is recorded");
    return STORE_REBUILT;
}

int
store_commit(struct store *s, struct vmirs_err **err)
{
    cleanup_free char *msg = NULL;
    size_t n;
    int rc;

    if (!s || (!s->nops && !s->corrupt))
        return 0;
    n = s->nops;
    if (s->corrupt || !s->db) {
        /* What was written since is dropped: the caller records all it
         * knows again once the new file is there. */
        ops_clear(s);
        return s->db ? store_rebuild(s, err) : 0;
    }
    rc = store_apply(s, &msg);
    if (rc == SQLITE_OK) {
        if (s->busy_since_ms)
            log_info("database `%s` is writable again: %zu writes that waited %lld ms committed",
                     s->path, n, (long long) (clock_mono_ms() - s->busy_since_ms));
        s->busy_since_ms = 0;
        s->retry_ms = 0;
        ops_clear(s);
        s->commits++;
        return 0;
    }
    if (rc_busy(rc)) {
        if (!s->busy_since_ms) {
            s->busy_since_ms = clock_mono_ms();
            s->retry_ms = STORE_RETRY_MIN_MS;
            log_warn("database `%s` is locked by another process: writes wait, supervision goes "
                     "on",
                     s->path);
        } else if ((s->retry_ms *= 2) > STORE_RETRY_MAX_MS) {
            s->retry_ms = STORE_RETRY_MAX_MS;
        }
        return STORE_BUSY;
    }
    /* Anything else (a full disk, an I/O error) drops the writes: they
     * would only pile up, and the database is status and history, rebuilt
     * from the domains, not the truth. */
    ops_clear(s);
    s->busy_since_ms = 0;
    s->retry_ms = 0;
    if (rc_corrupt(rc)) {
        free(s->corrupt_why);
        s->corrupt_why = xasprintf("commit to database `%s`: %s", s->path, msg);
        s->corrupt = true;
        return store_rebuild(s, err);
    }
    return err_set(err, 0, "commit %zu writes to `%s`: %s", n, s->path, msg);
}

uint64_t
store_retry_ms(const struct store *s)
{
    return s->retry_ms ? s->retry_ms : STORE_RETRY_MIN_MS;
}

size_t
store_pending(const struct store *s)
{
    return s->nops;
}

void
store_close(struct store *s)
{
    struct vmirs_err *err = NULL;
    int rc;

    if (!s)
        return;
    /* The loop is done: the last writes may wait a while for a lock. */
    if (s->nops)
        sqlite3_busy_timeout(s->db, STORE_CLOSE_WAIT_MS);
    rc = store_commit(s, &err);
    if (rc < 0) {
        log_warn("%s", err->msg);
        err_free(&err);
    } else if (rc == STORE_BUSY) {
        log_error("database `%s` is still locked by another process: %zu writes are not recorded",
                  s->path, s->nops);
    }
    ops_clear(s);
    free(s->ops);
    if (!s->readonly)
        log_debug("%s: %llu transactions committed", s->path, (unsigned long long) s->commits);
    store_disconnect(s);
    free(s->corrupt_why);
    free(s->path);
    free(s);
}

int
store_prepare(struct store *s, const char *sql, sqlite3_stmt **out, struct vmirs_err **err)
{
    if (!s->db)
        return err_set(err, 0, "query `%s`: no database", s->path);
    if (sqlite3_prepare_v2(s->db, sql, -1, out, NULL) != SQLITE_OK)
        return db_error(s, err, "query");
    return 0;
}

uint64_t
store_commits(const struct store *s)
{
    return s->commits;
}
