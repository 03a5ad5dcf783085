/* The database's rows as the Kubernetes objects kubectl would show:
 * VirtualMachineInstanceReplicaSets, VirtualMachineInstances and Events.
 * Every output format of vmirsctl is made from these. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "ctl.h"
#include "diag.h"
#include "util.h"

#define KUBEVIRT_API "kubevirt.io/v1"

char *
ctl_timestamp(int64_t ms)
{
    time_t t = (time_t) (ms / 1000);
    struct tm tm;
    char buf[32];

    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return xstrdup(buf);
}

int64_t
ctl_timestamp_ms(const char *text)
{
    struct tm tm = {0};
    const char *end = text ? strptime(text, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;

    return end && !*end ? (int64_t) timegm(&tm) * 1000 : 0;
}

int
ctl_open_store(const struct ctl_ctx *ctx, struct store **out)
{
    struct vmirs_conf conf = {0};
    struct diag_list diags = {0};
    struct vmirs_err *err = NULL;
    cleanup_free char *path = NULL;
    int rc = CTL_OK;

    if (conf_load(&conf, ctx->conf_path, !ctx->conf_given, &diags) < 0) {
        diag_print(&diags, stderr);
        diag_list_clear(&diags);
        conf_free(&conf);
        return CTL_ERROR;
    }
    diag_list_clear(&diags);
    path = xasprintf("%s/vmirsd.db", conf.state_dir);
    if (access(path, F_OK) < 0) {
        fprintf(stderr, "vmirsctl: no database at %s: vmirsd has not run with this state_dir\n",
                path);
        rc = CTL_ERROR;
    } else if (store_open(path, true, out, &err) < 0) {
        fprintf(stderr, "vmirsctl: %s\n", err->msg);
        err_free(&err);
        rc = CTL_ERROR;
    }
    conf_free(&conf);
    return rc;
}

static const char *
col_text(sqlite3_stmt *st, int i)
{
    const char *v = (const char *) sqlite3_column_text(st, i);

    return v ? v : "";
}

/* A JSON column: the object it holds, or an empty object. */
static json_t *
col_json(sqlite3_stmt *st, int i)
{
    json_t *v = json_loads(col_text(st, i), 0, NULL);

    return v ? v : json_object();
}

static void
set_time(json_t *o, const char *key, int64_t ms)
{
    cleanup_free char *ts = ctl_timestamp(ms);

    json_object_set_new(o, key, json_string(ts));
}

static json_t *
rs_conditions(struct store *s, const char *uid)
{
    sqlite3_stmt *st = NULL;
    json_t *list = json_array();

    if (store_prepare(s,
                      "SELECT type, status, reason, message, transition_ms FROM conditions "
                      "WHERE rs_uid = ?1 ORDER BY type",
                      &st, NULL) < 0)
        return list;
    sqlite3_bind_text(st, 1, uid, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *c = json_object();

        json_object_set_new(c, "type", json_string(col_text(st, 0)));
        json_object_set_new(c, "status", json_string(col_text(st, 1)));
        json_object_set_new(c, "reason", json_string(col_text(st, 2)));
        if (*col_text(st, 3))
            json_object_set_new(c, "message", json_string(col_text(st, 3)));
        set_time(c, "lastTransitionTime", sqlite3_column_int64(st, 4));
        json_array_append_new(list, c);
    }
    sqlite3_finalize(st);
    return list;
}

/* A query whose ?1 is a namespace and ?2 a name, each NULL for any. */
static sqlite3_stmt *
query_filtered(struct store *s, const char *sql, const char *ns, const char *name)
{
    sqlite3_stmt *st = NULL;

    if (store_prepare(s, sql, &st, NULL) < 0)
        return NULL;
    if (ns)
        sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
    if (name && sqlite3_bind_parameter_count(st) >= 2)
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    return st;
}

json_t *
ctl_vmirs_list(struct store *s, const char *ns, const char *name)
{
    sqlite3_stmt *st = NULL;
    json_t *items = json_array();

    st = query_filtered(s,
                        "SELECT uid, namespace, name, api_version, labels, annotations, spec, "
                        "label_selector, generation, observed_generation, desired, replicas, "
                        "ready_replicas, created_ms FROM replica_sets "
                        "WHERE (?1 IS NULL OR namespace = ?1) AND (?2 IS NULL OR name = ?2) "
                        "ORDER BY namespace, name",
                        ns, name);
    if (!st)
        return items;
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *o = json_object(), *meta = json_object(), *status = json_object();
        json_t *labels = col_json(st, 4), *annotations = col_json(st, 5), *spec = col_json(st, 6);
        json_t *conds = rs_conditions(s, col_text(st, 0));

        json_object_set_new(o, "apiVersion", json_string(col_text(st, 3)));
        json_object_set_new(o, "kind", json_string("VirtualMachineInstanceReplicaSet"));
        json_object_set_new(meta, "name", json_string(col_text(st, 2)));
        json_object_set_new(meta, "namespace", json_string(col_text(st, 1)));
        json_object_set_new(meta, "uid", json_string(col_text(st, 0)));
        json_object_set_new(meta, "generation", json_integer(sqlite3_column_int64(st, 8)));
        set_time(meta, "creationTimestamp", sqlite3_column_int64(st, 13));
        if (json_object_size(labels))
            json_object_set(meta, "labels", labels);
        if (json_object_size(annotations))
            json_object_set(meta, "annotations", annotations);
        json_decref(labels);
        json_decref(annotations);
        json_object_set_new(o, "metadata", meta);
        /* The API server would have defaulted it. */
        if (!json_object_get(spec, "replicas"))
            json_object_set_new(spec, "replicas", json_integer(sqlite3_column_int64(st, 10)));
        json_object_set_new(o, "spec", spec);
        json_object_set_new(status, "replicas", json_integer(sqlite3_column_int64(st, 11)));
        json_object_set_new(status, "readyReplicas", json_integer(sqlite3_column_int64(st, 12)));
        json_object_set_new(status, "labelSelector", json_string(col_text(st, 7)));
        json_object_set_new(status, "observedGeneration",
                            json_integer(sqlite3_column_int64(st, 9)));
        json_object_set_new(status, "conditions", json_array_size(conds) ? conds : json_null());
        if (!json_array_size(conds))
            json_decref(conds);
        json_object_set_new(o, "status", status);
        json_array_append_new(items, o);
    }
    sqlite3_finalize(st);
    return items;
}

static json_t *
vmi_phase_transitions(struct store *s, const char *domain)
{
    sqlite3_stmt *st = NULL;
    json_t *list = json_array();
    cleanup_free char *last = NULL;

    if (store_prepare(s, "SELECT phase, at_ms FROM transitions WHERE domain = ?1 ORDER BY id", &st,
                      NULL) < 0)
        return list;
    sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *t;

        if (last && strcmp(last, col_text(st, 0)) == 0)
            continue; /* a change of readiness only */
        free(last);
        last = xstrdup(col_text(st, 0));
        t = json_object();
        json_object_set_new(t, "phase", json_string(last));
        set_time(t, "phaseTransitionTimestamp", sqlite3_column_int64(st, 1));
        json_array_append_new(list, t);
    }
    sqlite3_finalize(st);
    return list;
}

json_t *
ctl_vmi_list(struct store *s, const char *ns, const struct selector *sel)
{
    sqlite3_stmt *st = NULL;
    json_t *items = json_array();
    char host[256] = "localhost";

    gethostname(host, sizeof(host) - 1);
    st = query_filtered(s,
                        "SELECT r.domain, r.namespace, r.vmi_name, r.vmi_uid, r.rs_uid, r.labels, "
                        "r.template_hash, r.phase, r.ready, r.created_ms, r.ready_ms, rs.name, "
                        "rs.template_hash, r.ports FROM replicas r LEFT JOIN replica_sets rs ON "
                        "rs.uid = r.rs_uid WHERE (?1 IS NULL OR r.namespace = ?1) "
                        "ORDER BY r.namespace, r.vmi_name",
                        ns, NULL);
    if (!st)
        return items;
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *o, *meta, *status, *labels = col_json(st, 5), *annotations, *cond;
        struct labels l = {0};
        const char *k;
        json_t *v;
        bool up_to_date = *col_text(st, 12) && strcmp(col_text(st, 6), col_text(st, 12)) == 0;

        json_object_foreach(labels, k, v) labels_set(&l, k, json_string_value(v));
        if (sel && !selector_matches(sel, &l)) {
            labels_free(&l);
            json_decref(labels);
            continue;
        }
        labels_free(&l);
        o = json_object();
        meta = json_object();
        status = json_object();
        annotations = json_object();
        json_object_set_new(o, "apiVersion", json_string(KUBEVIRT_API));
        json_object_set_new(o, "kind", json_string("VirtualMachineInstance"));
        json_object_set_new(meta, "name", json_string(col_text(st, 2)));
        json_object_set_new(meta, "namespace", json_string(col_text(st, 1)));
        if (*col_text(st, 3))
            json_object_set_new(meta, "uid", json_string(col_text(st, 3)));
        set_time(meta, "creationTimestamp", sqlite3_column_int64(st, 9));
        if (json_object_size(labels))
            json_object_set(meta, "labels", labels);
        json_decref(labels);
        json_object_set_new(annotations, "vmirsd.io/domain", json_string(col_text(st, 0)));
        json_object_set_new(annotations, "vmirsd.io/template-hash", json_string(col_text(st, 6)));
        json_object_set_new(annotations, "vmirsd.io/up-to-date",
                            json_string(up_to_date ? "true" : "false"));
        if (*col_text(st, 13))
            json_object_set_new(annotations, "vmirsd.io/ports", json_string(col_text(st, 13)));
        json_object_set_new(meta, "annotations", annotations);
        if (sqlite3_column_type(st, 11) != SQLITE_NULL) {
            json_t *owner = json_object(), *owners = json_array();

            json_object_set_new(owner, "apiVersion", json_string(KUBEVIRT_API));
            json_object_set_new(owner, "kind", json_string("VirtualMachineInstanceReplicaSet"));
            json_object_set_new(owner, "name", json_string(col_text(st, 11)));
            json_object_set_new(owner, "uid", json_string(col_text(st, 4)));
            json_object_set_new(owner, "controller", json_true());
            json_object_set_new(owner, "blockOwnerDeletion", json_true());
            json_array_append_new(owners, owner);
            json_object_set_new(meta, "ownerReferences", owners);
        }
        json_object_set_new(o, "metadata", meta);
        json_object_set_new(status, "phase", json_string(col_text(st, 7)));
        json_object_set_new(status, "nodeName", json_string(host));
        cond = json_object();
        json_object_set_new(cond, "type", json_string("Ready"));
        json_object_set_new(cond, "status",
                            json_string(sqlite3_column_int(st, 8) ? "True" : "False"));
        set_time(cond, "lastTransitionTime", sqlite3_column_int64(st, 10));
        json_object_set_new(status, "conditions", json_pack("[o]", cond));
        json_object_set_new(status, "phaseTransitionTimestamps",
                            vmi_phase_transitions(s, col_text(st, 0)));
        json_object_set_new(o, "status", status);
        json_array_append_new(items, o);
    }
    sqlite3_finalize(st);
    return items;
}

json_t *
ctl_event_list(struct store *s, const char *ns, const char *name)
{
    sqlite3_stmt *st = NULL;
    json_t *items = json_array();

    st = query_filtered(s,
                        "SELECT id, namespace, kind, name, uid, type, reason, message, source, "
                        "count, first_ms, last_ms FROM events WHERE (?1 IS NULL OR namespace = ?1) "
                        "AND (?2 IS NULL OR name = ?2) ORDER BY last_ms, id",
                        ns, name);
    if (!st)
        return items;
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *o = json_object(), *meta = json_object(), *obj = json_object();
        cleanup_free char *ename =
            xasprintf("%s.%llx", col_text(st, 3), (unsigned long long) sqlite3_column_int64(st, 0));

        json_object_set_new(o, "apiVersion", json_string("v1"));
        json_object_set_new(o, "kind", json_string("Event"));
        json_object_set_new(meta, "name", json_string(ename));
        json_object_set_new(meta, "namespace", json_string(col_text(st, 1)));
        set_time(meta, "creationTimestamp", sqlite3_column_int64(st, 10));
        json_object_set_new(o, "metadata", meta);
        json_object_set_new(obj, "apiVersion", json_string(KUBEVIRT_API));
        json_object_set_new(obj, "kind", json_string(col_text(st, 2)));
        json_object_set_new(obj, "name", json_string(col_text(st, 3)));
        json_object_set_new(obj, "namespace", json_string(col_text(st, 1)));
        json_object_set_new(obj, "uid", json_string(col_text(st, 4)));
        json_object_set_new(o, "involvedObject", obj);
        json_object_set_new(o, "type", json_string(col_text(st, 5)));
        json_object_set_new(o, "reason", json_string(col_text(st, 6)));
        json_object_set_new(o, "message", json_string(col_text(st, 7)));
        json_object_set_new(o, "source", json_pack("{ss}", "component", col_text(st, 8)));
        json_object_set_new(o, "count", json_integer(sqlite3_column_int64(st, 9)));
        set_time(o, "firstTimestamp", sqlite3_column_int64(st, 10));
        set_time(o, "lastTimestamp", sqlite3_column_int64(st, 11));
        json_array_append_new(items, o);
    }
    sqlite3_finalize(st);
    return items;
}

json_t *
ctl_list(json_t *items)
{
    return json_pack("{ss ss so s{ss}}", "apiVersion", "v1", "kind", "List", "items", items,
                     "metadata", "resourceVersion", "");
}

const char *
ctl_str(const json_t *o, const char *path)
{
    cleanup_free char *copy = xstrdup(path);
    char *save = NULL;
    const json_t *v = o;

    for (char *k = strtok_r(copy, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
        v = json_object_get(v, k);
    return json_is_string(v) ? json_string_value(v) : "";
}

long long
ctl_int(const json_t *o, const char *path)
{
    cleanup_free char *copy = xstrdup(path);
    char *save = NULL;
    const json_t *v = o;

    for (char *k = strtok_r(copy, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
        v = json_object_get(v, k);
    return json_is_integer(v) ? (long long) json_integer_value(v) : 0;
}
