/* SQLite state (SPEC section 7): replica sets with their status and
 * conditions, replicas with their phase, readiness and transitions, and
 * events folded as kubectl shows them. The daemon writes on the loop
 * thread and never waits for a lock there: writes are kept in memory and
 * store_commit applies them in one transaction, about once per reconcile
 * pass; while another process holds the lock they wait for a later
 * commit. Reads see committed rows only. vmirsctl opens the file
 * read-only and queries it with store_prepare. Times are wall-clock
 * milliseconds. */
#ifndef VMIRS_STORE_H
#define VMIRS_STORE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct store;

/* The schema version this build writes; older files are migrated. */
#define STORE_SCHEMA_VERSION 2

/* Open (creating and migrating when writable) the database at path. A
 * writable one that is not a database or is corrupt is moved aside as
 * path.corrupt-<UTC time> (with its -wal and -shm), logged, and a new one
 * created in its place. */
int store_open(const char *path, bool readonly, struct store **out, struct vmirs_err **err);

/* store_commit's answer when another connection holds the write lock. */
#define STORE_BUSY 1
/* store_commit's answer when it found the file corrupt and replaced it
 * (moved aside, logged): record again everything known. */
#define STORE_REBUILT 2
/* The back-off between commits refused as busy, doubling. */
#define STORE_RETRY_MIN_MS 50
#define STORE_RETRY_MAX_MS 1000
/* How long store_close waits for a lock, the loop being done. */
#define STORE_CLOSE_WAIT_MS 5000

/* Commit the writes kept since the last commit, if any: 0, or STORE_BUSY
 * (they are kept: call again after store_retry_ms), STORE_REBUILT (they
 * are lost with the corrupt file), or -1 (they are lost: a full disk).
 * The first refusal and the commit that ends a wait are logged. */
int store_commit(struct store *s, struct vmirs_err **err);
uint64_t store_retry_ms(const struct store *s);
/* The number of writes kept for the next commit. */
size_t store_pending(const struct store *s);

/* Commit (waiting up to STORE_CLOSE_WAIT_MS for a lock) and close;
 * harmless on NULL. */
void store_close(struct store *s);

/* A replica set as the daemon sees it in the spool. */
struct store_rs {
    const char *uid, *namespace, *name, *api_version, *file;
    const char *labels_json, *annotations_json; /* JSON objects */
    const char *spec_json;                      /* canonical JSON of spec */
    const char *label_selector;                 /* e.g. "app=web" */
    const char *template_hash; /* of spec.template: replicas made from another are out of date */
    int64_t desired, replicas, ready_replicas;
};

/* Insert or update; generation grows when spec_json changes. */
void store_put_rs(struct store *s, const struct store_rs *rs, int64_t now_ms);

/* Forget a replica set and its conditions (its events stay). */
void store_delete_rs(struct store *s, const char *uid);

/* Set a condition; its transition time moves only when its status does.
 * status false removes it: vmirsd shows only conditions that hold. */
void store_set_condition(struct store *s, const char *rs_uid, const char *type, bool status,
                         const char *reason, const char *message, int64_t now_ms);

/* A replica (one domain). */
struct store_replica {
    const char *domain, *namespace, *vmi_name, *vmi_uid, *rs_uid;
    const char *labels_json, *template_hash, *phase;
    const char *ports; /* "127.0.0.1:30001->80/tcp,..." */
    bool ready;
    int64_t created_ms;
};

/* Insert or update; a change of phase or readiness is a transition. */
void store_put_replica(struct store *s, const struct store_replica *r, int64_t now_ms);

/* The readiness recorded for a replica: 1 ready, 0 not, -1 no row. */
int store_replica_ready(struct store *s, const char *domain);

/* Forget a replica (its transitions go with it). */
void store_delete_replica(struct store *s, const char *domain);

/* An event about an object; one equal to an earlier one (same object,
 * type, reason, message) bumps its count and last time instead. */
struct store_event {
    const char *namespace, *kind, *name, *uid;
    const char *type; /* Normal | Warning */
    const char *reason, *message, *source;
};
void store_event(struct store *s, const struct store_event *e, int64_t now_ms);

/* Delete the rows of replicas for which keep says no: what went away
 * while the daemon was down. */
void store_prune_replicas(struct store *s, bool (*keep)(const char *domain, void *opaque),
                          void *opaque);

/* The replica sets recorded, as (uid, namespace, name, file) rows. */
struct store_rs_row {
    char *uid, *namespace, *name, *file;
};
size_t store_rs_rows(struct store *s, struct store_rs_row **out);
void store_rs_rows_free(struct store_rs_row *rows, size_t n);

/* Labels or annotations as a JSON object, malloc'd. */
struct labels;
char *store_labels_json(const struct labels *l);

/* Record the use of a cached containerDisk image (its cache entry). */
void store_put_image(struct store *s, const char *digest, const char *ref, const char *path,
                     uint64_t size, int64_t now_ms);

/* A Service as served (SPEC section 6), and its endpoints. */
struct store_service {
    const char *uid, *namespace, *name, *file;
    const char *labels_json, *annotations_json; /* JSON objects */
    /* The spec as served, JSON as Kubernetes writes a Service's spec:
     * type, clusterIP, selector, ports (with every nodePort allocated),
     * externalIPs, sessionAffinity, ... */
    const char *spec_json;
};

/* Insert or update; created_ms is kept from the first insert (uid and
 * namespace/name identify the row: a new uid for the same name replaces
 * it). */
void store_put_service(struct store *s, const struct store_service *svc, int64_t now_ms);

/* Forget a Service and its endpoints (its events stay). */
void store_delete_service(struct store *s, const char *namespace, const char *name);

/* The Service's endpoints: subsets_json is the "subsets" array of a
 * Kubernetes Endpoints object ([{"addresses": [{"ip", "targetRef":
 * {"kind": "VirtualMachineInstance", "namespace", "name"}}],
 * "notReadyAddresses": [...], "ports": [{"name", "port", "protocol"}]}]);
 * each change is written. */
void store_put_endpoints(struct store *s, const char *namespace, const char *name,
                         const char *subsets_json, int64_t now_ms);

/* The Services recorded, for a restart: their uid and spec as served
 * (node ports stay what they were). */
struct store_service_row {
    char *uid, *namespace, *name, *spec_json;
};
size_t store_service_rows(struct store *s, struct store_service_row **out);
void store_service_rows_free(struct store_service_row *rows, size_t n);

/* A prepared statement for a reader (vmirsctl); finalize it. */
int store_prepare(struct store *s, const char *sql, sqlite3_stmt **out, struct vmirs_err **err);

/* WAL checkpoints (and their fsync) are kept off the writer's thread:
 * automatic checkpoints are off, and once the WAL has grown past
 * STORE_CHECKPOINT_PAGES, store_checkpoint_due says so and the caller runs
 * store_checkpoint in a worker thread. It uses a connection of its own,
 * so the writer goes on meanwhile; one checkpoint at a time. */
#define STORE_CHECKPOINT_PAGES 1000
/* Whether a checkpoint is due; if so it counts as running from now on. */
bool store_checkpoint_claim(struct store *s);
int store_checkpoint(struct store *s, struct vmirs_err **err);
/* The worker is done (loop thread): a new checkpoint may be asked for. */
void store_checkpoint_done(struct store *s);

/* The number of write transactions committed since open (for tests). */
uint64_t store_commits(const struct store *s);

#endif
