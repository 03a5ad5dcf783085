/* What store.c (the file, its transactions and kept writes) shares with
 * store_rows.c (the rows the daemon writes and the CLI reads). Private to
 * the two. */
#ifndef VMIRS_STORE_INT_H
#define VMIRS_STORE_INT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_RS_UPSERT,
    ST_RS_DELETE,
    ST_COND_DELETE_ALL,
    ST_COND_UPSERT,
    ST_COND_DELETE,
    ST_REP_GET,
    ST_REP_UPSERT,
    ST_REP_DELETE,
    ST_TRANS_INSERT,
    ST_TRANS_DELETE,
    ST_EVENT_UPSERT,
    ST_IMAGE_UPSERT,
    ST_COUNT
};

/* The most parameters a write statement binds. */
#define OP_MAX_PARAMS 14

/* One write, its values copied. Writes are kept in memory until the
 * transaction that applies them commits: the loop never waits for a lock
 * another process holds (SPEC section 7), and a write is not lost because
 * of one. The cost is a copy of each value, small beside SQLite's own
 * work for the statement. */
struct op_val {
    int type; /* SQLITE_NULL, SQLITE_INTEGER or SQLITE_TEXT */
    sqlite3_int64 i;
    char *t;
};
struct op {
    enum stmt_id id;
    int n;
    struct op_val v[OP_MAX_PARAMS];
};

struct store {
    sqlite3 *db;
    sqlite3 *ckpt_db; /* the checkpointer's connection, used only by it */
    int wal_pages;    /* set by the WAL hook after each commit */
    bool ckpt_running;
    char *path;
    bool readonly;
    struct op *ops; /* the writes not committed yet, in order */
    size_t nops, cap;
    /* While another connection holds the write lock: when the first
     * commit was refused (monotonic ms, 0 when not waiting), and the
     * back-off before the next try. */
    int64_t busy_since_ms;
    uint64_t retry_ms;
    bool corrupt;      /* a commit found the file corrupt: it is to be replaced */
    char *corrupt_why; /* what the commit said */
    int open_rc;       /* the SQLite code of the last error while opening */
    uint64_t commits;
    sqlite3_stmt *st[ST_COUNT];
};

/* A new kept write of statement id; its values are set with op_text and
 * op_int (1-based, as SQLite numbers parameters). */
struct op *op_add(struct store *s, enum stmt_id id);
void op_text(struct op *op, int i, const char *v);
void op_int(struct op *op, int i, int64_t v);

#endif
