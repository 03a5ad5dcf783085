/* The rows: replica sets, their conditions, replicas and their
 * transitions, events and images, as kept writes the next commit applies
 * (store.c), and the few reads the daemon and the CLI make. Loop thread
 * (daemon) or the CLI's own. */
#include "config.h"

#define LOG_COMPONENT "store"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "selector.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

void
store_put_rs(struct store *s, const struct store_rs *rs, int64_t now_ms)
{
    struct op *op = op_add(s, ST_RS_UPSERT);

    op_text(op, 1, rs->uid);
    op_text(op, 2, rs->namespace);
    op_text(op, 3, rs->name);
    op_text(op, 4, rs->api_version);
    op_text(op, 5, rs->file);
    op_text(op, 6, rs->labels_json ? rs->labels_json : "{}");
    op_text(op, 7, rs->annotations_json ? rs->annotations_json : "{}");
    op_text(op, 8, rs->spec_json ? rs->spec_json : "{}");
    op_text(op, 9, rs->label_selector ? rs->label_selector : "");
    op_int(op, 10, rs->desired);
    op_int(op, 11, rs->replicas);
    op_int(op, 12, rs->ready_replicas);
    op_int(op, 13, now_ms);
    op_text(op, 14, rs->template_hash ? rs->template_hash : "");
}

/* A statement whose one parameter is key. */
static void
run_keyed(struct store *s, enum stmt_id id, const char *key)
{
    op_text(op_add(s, id), 1, key);
}

void
store_delete_rs(struct store *s, const char *uid)
{
    run_keyed(s, ST_RS_DELETE, uid);
    run_keyed(s, ST_COND_DELETE_ALL, uid);
}

void
store_set_condition(struct store *s, const char *rs_uid, const char *type, bool status,
                    const char *reason, const char *message, int64_t now_ms)
{
    struct op *op;

    if (!status) {
        op = op_add(s, ST_COND_DELETE);
        op_text(op, 1, rs_uid);
        op_text(op, 2, type);
        return;
    }
    op = op_add(s, ST_COND_UPSERT);
    op_text(op, 1, rs_uid);
    op_text(op, 2, type);
    op_text(op, 3, reason ? reason : "");
    op_text(op, 4, message ? message : "");
    op_int(op, 5, now_ms);
}

void
store_put_replica(struct store *s, const struct store_replica *r, int64_t now_ms)
{
    struct op *op = op_add(s, ST_TRANS_INSERT);

    op_text(op, 1, r->domain);
    op_text(op, 2, r->phase);
    op_int(op, 3, r->ready);
    op_int(op, 4, now_ms);

    op = op_add(s, ST_REP_UPSERT);
    op_text(op, 1, r->domain);
    op_text(op, 2, r->namespace);
    op_text(op, 3, r->vmi_name);
    op_text(op, 4, r->vmi_uid ? r->vmi_uid : "");
    op_text(op, 5, r->rs_uid);
    op_text(op, 6, r->labels_json ? r->labels_json : "{}");
    op_text(op, 7, r->template_hash ? r->template_hash : "");
    op_text(op, 8, r->phase);
    op_int(op, 9, r->ready);
    op_int(op, 10, r->created_ms);
    op_int(op, 11, now_ms);
    op_text(op, 12, r->ports ? r->ports : "");
}

int
store_replica_ready(struct store *s, const char *domain)
{
    sqlite3_stmt *st = s->st[ST_REP_GET];
    int ready = -1;

    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        ready = sqlite3_column_int(st, 1) != 0;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ready;
}

void
store_delete_replica(struct store *s, const char *domain)
{
    run_keyed(s, ST_REP_DELETE, domain);
    run_keyed(s, ST_TRANS_DELETE, domain);
}

void
store_event(struct store *s, const struct store_event *e, int64_t now_ms)
{
    struct op *op = op_add(s, ST_EVENT_UPSERT);

    op_text(op, 1, e->namespace);
    op_text(op, 2, e->kind);
    op_text(op, 3, e->name);
    op_text(op, 4, e->uid ? e->uid : "");
    op_text(op, 5, e->type);
    op_text(op, 6, e->reason);
    op_text(op, 7, e->message);
    op_text(op, 8, e->source);
    op_int(op, 9, now_ms);
}

void
store_put_image(struct store *s, const char *digest, const char *ref, const char *path,
                uint64_t size, int64_t now_ms)
{
    struct op *op = op_add(s, ST_IMAGE_UPSERT);

    op_text(op, 1, digest);
    op_text(op, 2, ref ? ref : "");
    op_text(op, 3, path ? path : "");
    op_int(op, 4, (int64_t) size);
    op_int(op, 5, now_ms);
}

/* Names of the rows of one column, for pruning. */
static char **
column_values(struct store *s, const char *sql, size_t *n)
{
    sqlite3_stmt *st = NULL;
    char **v = NULL;

    *n = 0;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    while (sqlite3_step(st) == SQLITE_ROW) {
        v = xrealloc(v, (*n + 1) * sizeof(*v));
        v[(*n)++] = xstrdup((const char *) sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return v;
}

void
store_prune_replicas(struct store *s, bool (*keep)(const char *domain, void *opaque), void *opaque)
{
    size_t n;
    char **v = column_values(s, "SELECT domain FROM replicas", &n);

    for (size_t i = 0; i < n; i++) {
        if (!keep(v[i], opaque))
            store_delete_replica(s, v[i]);
        free(v[i]);
    }
    free(v);
}

size_t
store_rs_rows(struct store *s, struct store_rs_row **out)
{
    sqlite3_stmt *st = NULL;
    size_t n = 0;

    *out = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT uid, namespace, name, file FROM replica_sets", -1, &st,
                           NULL) != SQLITE_OK)
        return 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *file = (const char *) sqlite3_column_text(st, 3);

        *out = xrealloc(*out, (n + 1) * sizeof(**out));
        (*out)[n++] = (struct store_rs_row){
            .uid = xstrdup((const char *) sqlite3_column_text(st, 0)),
            .namespace = xstrdup((const char *) sqlite3_column_text(st, 1)),
            .name = xstrdup((const char *) sqlite3_column_text(st, 2)),
            .file = file ? xstrdup(file) : NULL,
        };
    }
    sqlite3_finalize(st);
    return n;
}

void
store_rs_rows_free(struct store_rs_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].uid);
        free(rows[i].namespace);
        free(rows[i].name);
        free(rows[i].file);
    }
    free(rows);
}

char *
store_labels_json(const struct labels *l)
{
    json_t *o = json_object();
    char *text;

    for (size_t i = 0; l && i < l->n; i++)
        json_object_set_new(o, l->v[i].key, json_string(l->v[i].value ? l->v[i].value : ""));
    text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (!text)
        abort();
    return text;
}
