/* The controller end to end: a real controller on a real uv loop, fed a
 * manifest as the spool feeds it, acting on an in-memory libvirt
 * (tests/fakes/fake_virt.c), recording into a real store in a tmpdir.
 * Each test asserts what a user would see: the domains libvirt has and
 * their metadata, the calls made to libvirt, and the store's rows and
 * events (what `vmirsctl get` and `vmirsctl events` print). Every wait is
 * on a condition, with a generous deadline; nothing sleeps.
 *
 * Also the controller's reading of libvirt's state and reason (SPEC
 * section 3): what counts as running, what is a failed replica to
 * replace. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include <libvirt/libvirt.h>
#include <uv.h>

#include "backoff.h"
#include "conf.h"
#include "controller.h"
#include "dommeta.h"
#include "fake_virt.h"
#include "reconcile.h"
#include "store.h"
#include "util.h"
#include "workq.h"

enum replica_phase controller_phase(int state, int reason, bool *ready);

static void
test_phases(void **state)
{
    static const struct {
        int state, reason;
        enum replica_phase phase;
        bool ready;
    } cases[] = {
        {VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_BOOTED, PHASE_RUNNING, true},
        {VIR_DOMAIN_BLOCKED, 0, PHASE_RUNNING, true},
        /* Paused by a user: running, not ready. */
        {VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_USER, PHASE_RUNNING, false},
        {VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_STARTING_UP, PHASE_RUNNING, false},
        /* Paused for an error: KVM's emulation failure shows as "unknown". */
        {VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_UNKNOWN, PHASE_FAILED, false},
        {VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_IOERROR, PHASE_FAILED, false},
        {VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_CRASHED, PHASE_FAILED, false},
        /* A guest shutdown succeeded; everything else that stops failed. */
        {VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_SHUTDOWN, PHASE_SUCCEEDED, false},
        {VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_DESTROYED, PHASE_FAILED, false},
        {VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_CRASHED, PHASE_FAILED, false},
        {VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_FAILED, PHASE_FAILED, false},
        {VIR_DOMAIN_CRASHED, VIR_DOMAIN_CRASHED_PANICKED, PHASE_FAILED, false},
        {VIR_DOMAIN_PMSUSPENDED, 0, PHASE_RUNNING, false},
        {VIR_DOMAIN_NOSTATE, 0, PHASE_PENDING, false},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        bool ready = !cases[i].ready;
        enum replica_phase p = controller_phase(cases[i].state, cases[i].reason, &ready);

        if (p != cases[i].phase || ready != cases[i].ready)
            fail_msg("case %zu (state %d reason %d): phase %d ready %d", i, cases[i].state,
                     cases[i].reason, p, ready);
    }
}

/* ---- the loop ---- */

/* Long enough for a loaded machine (make -j beside valgrind), far longer
 * than any wait takes here; the back-off and intent waits are 1-2 s. */
#define WAIT_MS 15000

/* How often a waiting condition is looked at again even when nothing
 * wakes the loop (see run_until). */
#define TICK_MS 5

static uv_loop_t loop;
static uv_timer_t deadline, tick;
static bool deadline_hit;

static void
on_deadline(uv_timer_t *t)
{
    deadline_hit = true;
}

static void
on_tick(uv_timer_t *t)
{
}

/* Run the loop until cond holds or WAIT_MS pass; the value is cond. The
 * deadline timer keeps the loop alive, so UV_RUN_ONCE blocks in its poll
 * until something happens instead of spinning. A condition can become
 * true in the timers phase of an iteration (the controller's commit
 * timer empties the store's pending writes) that then blocks in its poll
 * with nothing left to wake it, up to the next timer seconds away; the
 * tick ends every poll within TICK_MS, so cond is looked at again. */
#define run_until(cond)                                                                            \
    ({                                                                                             \
        deadline_hit = false;                                                                      \
        uv_update_time(&loop);                                                                     \
        uv_timer_start(&deadline, on_deadline, WAIT_MS, 0);                                        \
        uv_timer_start(&tick, on_tick, TICK_MS, TICK_MS);                                          \
        while (!(cond) && !deadline_hit)                                                           \
            uv_run(&loop, UV_RUN_ONCE);                                                            \
        uv_timer_stop(&tick);                                                                      \
        uv_timer_stop(&deadline);                                                                  \
        (cond);                                                                                    \
    })

#define wait_for(cond)                                                                             \
    do {                                                                                           \
        if (!run_until(cond))                                                                      \
            fail_msg("timed out after %d ms waiting until %s", WAIT_MS, #cond);                    \
    } while (0)

static void
on_closed_noop(uv_handle_t *h)
{
}

static int
loop_setup(void **state)
{
    assert_int_equal(uv_loop_init(&loop), 0);
    uv_timer_init(&loop, &deadline);
    uv_timer_init(&loop, &tick);
    return 0;
}

/* Nothing may be left open: every controller, queue and fake is gone. */
static int
loop_teardown(void **state)
{
    /* A few turns run the close callbacks of what the test closed; a
     * test that failed half-way leaves handles open, reported here rather
     * than waited for. */
    uv_close((uv_handle_t *) &deadline, on_closed_noop);
    uv_close((uv_handle_t *) &tick, on_closed_noop);
    for (int i = 0; i < 4; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&loop), 0);
    return 0;
}

/* ---- a daemon's worth of wiring (daemon.c's, minus libvirt) ---- */

struct rig {
    char *dir, *state_dir, *spool_path, *journal;
    struct vmirs_conf conf;
    struct fake_virt *fv;
    struct workq *q;
    struct store *store;
    struct controller *c;
    char *manifest; /* the spool file's content, fed again on a restart */
    bool stopped;
};

static void
on_lifecycle(void *opaque, const char *name, int event, int detail)
{
    struct rig *r = opaque;

    if (r->c)
        controller_lifecycle(r->c, name, event, detail);
}

static const struct virt_events rig_events = {.lifecycle = on_lifecycle};

/* What the spool hands over: a file's bytes, then "settled". */
static void
rig_feed(struct rig *r)
{
    controller_file_changed(r->c, r->spool_path, r->manifest, strlen(r->manifest));
    controller_files_settled(r->c);
}

/* A replica set "web" in namespace default selecting app=web, with a
 * cloud-init volume, so that each replica has files (its seed ISO in
 * state_dir/replicas/<domain>/); extra is more of the template's spec
 * (indented for it), or "". */
static char *
web_manifest(int replicas, const char *extra)
{
    return xasprintf("apiVersion: kubevirt.io/v1\n"
                     "kind: VirtualMachineInstanceReplicaSet\n"
                     "metadata:\n"
                     "  name: web\n"
                     "spec:\n"
                     "  replicas: %d\n"
                     "  selector:\n"
                     "    matchLabels:\n"
                     "      app: web\n"
                     "  template:\n"
                     "    metadata:\n"
                     "      labels:\n"
                     "        app: web\n"
                     "    spec:\n"
                     "%s"
                     "      domain:\n"
                     "        memory:\n"
                     "          guest: 64Mi\n"
                     "        devices:\n"
                     "          disks:\n"
                     "          - name: seed\n"
                     "            disk:\n"
                     "              bus: virtio\n"
                     "      volumes:\n"
                     "      - name: seed\n"
                     "        cloudInitNoCloud:\n"
                     "          userData: \"#cloud-config\\n\"\n",
                     replicas, extra);
}

/* Edit the manifest as a user would (the spool reports the change). */
static void
rig_edit(struct rig *r, char *manifest)
{
    free(r->manifest);
    r->manifest = manifest;
    free(write_tmpfile(r->dir, "spool/web.yaml", r->manifest));
    rig_feed(r);
}

/* Start (or restart) the daemon's parts on the same state_dir. */
static void
rig_start(struct rig *r)
{
    cleanup_free char *db = xasprintf("%s/vmirsd.db", r->state_dir);
    struct vmirs_err *err = NULL;

    if (store_open(db, false, &r->store, &err) < 0)
        fail_msg("%s", err->msg);
    r->q = workq_new(&loop, r->conf.max_parallel);
    r->c = controller_new(&loop, &r->conf, "test", fake_virt_handle(r->fv), &fake_virt_ops, r->q,
                          r->store);
    r->stopped = false;
    controller_connected(r->c);
    rig_feed(r);
}

/* The configuration a test run uses, through the real parser: every
 * directory in the tmpdir, the mock hypervisor's domain type. */
static void
rig_init(struct rig *r, char *manifest)
{
    struct diag_list diags = {0};
    cleanup_free char *conf_path = NULL, *conf_text = NULL, *spool = NULL;

    memset(r, 0, sizeof(*r));
    r->dir = tmpdir_make();
    r->state_dir = xasprintf("%s/state", r->dir);
    r->journal = xasprintf("%s/intents", r->state_dir);
    spool = xasprintf("%s/spool", r->dir);
    assert_int_equal(mkdir(spool, 0755), 0);
    assert_int_equal(mkdir(r->state_dir, 0755), 0);
    conf_text = xasprintf("spool_dir = %s\n"
                          "state_dir = %s\n"
                          "libvirt_uri = test:///default\n"
                          "domain_type = test\n"
                          "max_parallel = 4\n"
                          "resync_interval = 60\n",
                          spool, r->state_dir);
    conf_path = write_tmpfile(r->dir, "vmirsd.conf", conf_text);
    if (conf_load(&r->conf, conf_path, false, &diags) < 0)
        fail_msg("vmirsd.conf: %zu problems", diags.n);
    diag_list_clear(&diags);
    r->manifest = manifest;
    r->spool_path = write_tmpfile(r->dir, "spool/web.yaml", r->manifest);
    r->fv = fake_virt_new(&loop, &rig_events, r);
}

static void
on_stopped(void *opaque)
{
    *(bool *) opaque = true;
}

/* SIGTERM's path: stop acting, wait for what is in flight, free. The
 * domains are left as they are. */
static void
rig_stop(struct rig *r)
{
    bool done = false;

    if (r->stopped)
        return;
    controller_stop(r->c, on_stopped, &done);
    wait_for(done);
    controller_free(r->c);
    r->c = NULL;
    workq_free(r->q);
    r->q = NULL;
    store_close(r->store);
    r->store = NULL;
    r->stopped = true;
}

static void
rig_fini(struct rig *r)
{
    rig_stop(r);
    fake_virt_close(r->fv);
    conf_free(&r->conf);
    free(r->manifest);
    free(r->spool_path);
    free(r->journal);
    free(r->state_dir);
    tmpdir_remove(r->dir);
}

static void
find_due_timer(uv_handle_t *h, void *arg)
{
    if (h->type == UV_TIMER && h != (uv_handle_t *) &deadline && h != (uv_handle_t *) &tick &&
        uv_is_active(h) && uv_timer_get_due_in((const uv_timer_t *) h) == 0)
        *(bool *) arg = true;
}

/* Nothing is going on: no call in flight or queued, no pass or commit
 * about to run, nothing committed still kept in memory. Any action a pass
 * decides on is submitted in that pass, so once this holds every action
 * taken so far is visible in the fake. */
static bool
rig_quiet(struct rig *r)
{
    bool due = false;

    uv_walk(&loop, find_due_timer, &due);
    return !due && workq_running(r->q) == 0 && workq_waiting(r->q) == 0 &&
           store_pending(r->store) == 0;
}

static size_t
ncalls(struct rig *r, const char *op)
{
    return fake_virt_calls(r->fv, op, NULL, 0);
}

/* Destroy or shutdown calls that found a domain to stop. */
static size_t
nstops_live(struct rig *r, const char *op)
{
    struct fake_call calls[64];
    size_t n = fake_virt_calls(r->fv, op, calls, ARRAY_SIZE(calls)), live = 0;

    assert_true(n <= ARRAY_SIZE(calls));
    for (size_t i = 0; i < n; i++)
        live += calls[i].live;
    return live;
}

static bool
has_domain(struct rig *r, const char *name)
{
    struct dommeta m;
    int rc = fake_virt_meta(r->fv, name, &m);

    dommeta_free(&m);
    return rc == 0;
}

static void
free_names(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static bool
dir_exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static char *
replica_dir(struct rig *r, const char *domain)
{
    return xasprintf("%s/replicas/%s", r->state_dir, domain);
}

/* ---- what vmirsctl reads ---- */

/* The first column of the first row of sql with text parameters a and b
 * (NULL: not bound), as an integer; -1 when there is no row. Only
 * committed rows are seen, as vmirsctl sees them. */
static int64_t
sql_int(struct rig *r, const char *sql, const char *a, const char *b)
{
    sqlite3_stmt *st = NULL;
    struct vmirs_err *err = NULL;
    int64_t v = -1;

    if (store_prepare(r->store, sql, &st, &err) < 0)
        fail_msg("%s", err->msg);
    if (a)
        sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
    if (b)
        sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Text of the first column of the first row (malloc'd), NULL when none. */
static char *
sql_text(struct rig *r, const char *sql, const char *a)
{
    sqlite3_stmt *st = NULL;
    struct vmirs_err *err = NULL;
    char *v = NULL;

    if (store_prepare(r->store, sql, &st, &err) < 0)
        fail_msg("%s", err->msg);
    if (a)
        sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        v = xstrdup((const char *) sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v;
}

/* How many times an event was recorded (its folded count), 0 if never. */
static int64_t
event_count(struct rig *r, const char *reason, const char *message)
{
    return sql_int(r,
                   "SELECT COALESCE(SUM(count), 0) FROM events "
                   "WHERE reason = ?1 AND message = ?2",
                   reason, message);
}

/* Distinct events of a reason (rows, as `vmirsctl events` lists them). */
static int64_t
event_rows(struct rig *r, const char *reason)
{
    return sql_int(r, "SELECT COUNT(*) FROM events WHERE reason = ?1", reason, NULL);
}

static int64_t
replica_rows(struct rig *r, const char *phase)
{
    return sql_int(r, "SELECT COUNT(*) FROM replicas WHERE phase = ?1", phase, NULL);
}

/* desired, replicas, ready_replicas of web, as `get vmirs` shows them. */
static bool
web_status_is(struct rig *r, int64_t desired, int64_t replicas, int64_t ready)
{
    return sql_int(r, "SELECT desired FROM replica_sets WHERE name = 'web'", NULL, NULL) ==
               desired &&
           sql_int(r, "SELECT replicas FROM replica_sets WHERE name = 'web'", NULL, NULL) ==
               replicas &&
           sql_int(r, "SELECT ready_replicas FROM replica_sets WHERE name = 'web'", NULL, NULL) ==
               ready;
}

static char *
web_uid(struct rig *r)
{
    char *uid = sql_text(r, "SELECT uid FROM replica_sets WHERE name = 'web'", NULL);

    assert_non_null(uid);
    return uid;
}

/* SPEC section 2: <namespace>_<base> and 5 characters of the alphabet. */
static bool
is_replica_name(const char *name, const char *ns_base)
{
    size_t n = strlen(ns_base);

    return strncmp(name, ns_base, n) == 0 && strlen(name) == n + 5 &&
           strspn(name + n, "bcdfghjklmnpqrstvwxz2456789") == 5;
}

/* The replica set is up: n replicas created and running, all recorded. */
static void
rig_up(struct rig *r, size_t n)
{
    rig_start(r);
    wait_for(fake_virt_count(r->fv) == n && event_rows(r, "SuccessfulCreate") == (int64_t) n &&
             web_status_is(r, (int64_t) n, (int64_t) n, (int64_t) n) && rig_quiet(r));
}

/* ---- a. create ---- */

/* replicas: 3 makes exactly three domains, each named after the set and
 * carrying metadata that names it, each with its own slot; the store
 * shows them Running and the set at 3/3/3, with one SuccessfulCreate
 * event per replica in the seed document's wording. */
static void
test_create(void **state)
{
    struct rig r;
    char **names;
    size_t n;
    bool slot_seen[3] = {false};
    cleanup_free char *uid = NULL;

    rig_init(&r, web_manifest(3, ""));
    rig_up(&r, 3);
    uid = web_uid(&r);

    names = fake_virt_names(r.fv, &n);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        struct dommeta m;
        cleanup_free char *msg = NULL, *dir = replica_dir(&r, names[i]);

        if (!is_replica_name(names[i], "default_web"))
            fail_msg("domain `%s` is not named default_web + 5 characters", names[i]);
        assert_int_equal(fake_virt_meta(r.fv, names[i], &m), 0);
        assert_string_equal(m.owner_namespace, "default");
        assert_string_equal(m.owner_name, "web");
        assert_string_equal(m.owner_uid, uid);
        assert_string_equal(m.vmi_name, names[i] + strlen("default_"));
        assert_non_null(m.vmi_uid);
        assert_non_null(labels_get(&m.labels, "app"));
        assert_string_equal(labels_get(&m.labels, "app"), "web");
        assert_true(m.slot < 3);
        assert_false(slot_seen[m.slot]);
        slot_seen[m.slot] = true;
        msg = xasprintf("Created virtual machine: %s", m.vmi_name);
        assert_int_equal(event_count(&r, "SuccessfulCreate", msg), 1);
        assert_true(dir_exists(dir));
        dommeta_free(&m);
    }
    free_names(names, n);

    /* Exactly three creates, none refused as a duplicate, nothing else. */
    assert_int_equal(ncalls(&r, "create"), 3);
    assert_int_equal(fake_virt_duplicates(r.fv), 0);
    assert_int_equal(ncalls(&r, "destroy") + ncalls(&r, "shutdown") + ncalls(&r, "set_meta"), 0);
    assert_int_equal(replica_rows(&r, "Running"), 3);
    assert_int_equal(sql_int(&r,
                             "SELECT COUNT(*) FROM events WHERE reason = 'SuccessfulCreate' AND "
                             "type = 'Normal' AND kind = 'VirtualMachineInstanceReplicaSet' AND "
                             "name = 'web' AND source = "
                             "'virtualmachineinstancereplicaset-controller'",
                             NULL, NULL),
                     3);
    rig_fini(&r);
}

/* ---- b. replace ---- */

/* A replica destroyed behind vmirsd's back (gone from libvirt, a
 * STOPPED/DESTROYED event) is Failed: its files are removed, a
 * SuccessfulDelete recorded, and a new replica with a new name takes its
 * place at once (its first failure does not back off). Nothing else is
 * touched. */
static void
test_replace(void **state)
{
    struct rig r;
    char **before, **after;
    size_t nb, na;
    struct dommeta m;
    cleanup_free char *victim = NULL, *victim_dir = NULL, *deleted = NULL;

    rig_init(&r, web_manifest(3, ""));
    rig_up(&r, 3);
    before = fake_virt_names(r.fv, &nb);
    victim = xstrdup(before[1]);
    victim_dir = replica_dir(&r, victim);
    assert_true(dir_exists(victim_dir));
    assert_int_equal(fake_virt_meta(r.fv, victim, &m), 0);
    deleted = xasprintf("Deleted virtual machine: %s", m.vmi_name);
    dommeta_free(&m);

    fake_virt_kill(r.fv, victim);
    wait_for(fake_virt_count(r.fv) == 3 && event_count(&r, "SuccessfulDelete", deleted) == 1 &&
             event_rows(&r, "SuccessfulCreate") == 4 && web_status_is(&r, 3, 3, 3) &&
             rig_quiet(&r));

    after = fake_virt_names(r.fv, &na);
    assert_int_equal(na, 3);
    assert_false(has_domain(&r, victim));
    assert_false(dir_exists(victim_dir));
    /* The two survivors are untouched, the third is new. */
    for (size_t i = 0, kept = 0; i < na; i++) {
        bool old = false;

        for (size_t k = 0; k < nb; k++)
            old = old || strcmp(after[i], before[k]) == 0;
        kept += old;
        if (i == na - 1)
            assert_int_equal(kept, 2);
        if (!old && !is_replica_name(after[i], "default_web"))
            fail_msg("replacement `%s` is not named default_web + 5 characters", after[i]);
    }
    assert_int_equal(ncalls(&r, "create"), 4);
    assert_int_equal(fake_virt_duplicates(r.fv), 0);
    /* The victim was already gone: nothing live was stopped. */
    assert_int_equal(nstops_live(&r, "destroy") + nstops_live(&r, "shutdown"), 0);
    assert_int_equal(event_rows(&r, "SuccessfulDelete"), 1);
    assert_int_equal(sql_int(&r, "SELECT COUNT(*) FROM replicas WHERE domain = ?1", victim, NULL),
                     0);
    assert_int_equal(replica_rows(&r, "Running"), 3);
    free_names(before, nb);
    free_names(after, na);
    rig_fini(&r);
}

/* ---- c. scale down ---- */

/* replicas edited from 3 to 1: two replicas are deleted gracefully (ACPI
 * shutdown: the template keeps the default grace period of 30 s, and the
 * guests obey), victims ranked like a ReplicaSet's, so the one paused by
 * a user (running, not Ready) goes first. One is left, the set reads
 * 1/1/1, and each victim has its SuccessfulDelete. */
static void
test_scale_down(void **state)
{
    struct rig r;
    char **names;
    size_t n;
    struct fake_call shut[8];
    size_t nshut;
    bool paused_deleted = false;
    cleanup_free char *paused = NULL;

    rig_init(&r, web_manifest(3, ""));
    rig_up(&r, 3);
    names = fake_virt_names(r.fv, &n);
    /* The first created: the oldest Ready, the last a ranking on readiness
     * time alone would pick. */
    assert_int_equal(fake_virt_calls(r.fv, "create", shut, 1), 3);
    paused = xstrdup(shut[0].name);
    fake_virt_set_state(r.fv, paused, VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_USER,
                        VIR_DOMAIN_EVENT_SUSPENDED, VIR_DOMAIN_EVENT_SUSPENDED_PAUSED);
    /* Paused by a user: still Running, no longer Ready, not replaced. */
    wait_for(sql_int(&r, "SELECT ready FROM replicas WHERE domain = ?1", paused, NULL) == 0 &&
             web_status_is(&r, 3, 3, 2) && rig_quiet(&r));
    assert_int_equal(ncalls(&r, "create"), 3);

    rig_edit(&r, web_manifest(1, ""));
    wait_for(fake_virt_count(r.fv) == 1 && event_rows(&r, "SuccessfulDelete") == 2 &&
             web_status_is(&r, 1, 1, 1) && rig_quiet(&r));

    nshut = fake_virt_calls(r.fv, "shutdown", shut, ARRAY_SIZE(shut));
    assert_int_equal(nshut, 2);
    assert_string_not_equal(shut[0].name, shut[1].name);
    for (size_t i = 0; i < nshut; i++) {
        struct dommeta m = {0};
        cleanup_free char *msg = NULL;
        bool original = false;

        assert_true(shut[i].live);
        paused_deleted = paused_deleted || strcmp(shut[i].name, paused) == 0;
        for (size_t k = 0; k < n; k++)
            original = original || strcmp(shut[i].name, names[k]) == 0;
        assert_true(original);
        assert_false(has_domain(&r, shut[i].name));
        /* The VMI name is the domain name without its namespace. */
        msg = xasprintf("Deleted virtual machine: %s", shut[i].name + strlen("default_"));
        assert_int_equal(event_count(&r, "SuccessfulDelete", msg), 1);
        dommeta_free(&m);
    }
    assert_true(paused_deleted);
    /* Graceful: no guest had to be destroyed; nothing was created. */
    assert_int_equal(nstops_live(&r, "destroy"), 0);
    assert_int_equal(ncalls(&r, "create"), 3);
    assert_int_equal(sql_int(&r, "SELECT COUNT(*) FROM replicas", NULL, NULL), 1);
    free_names(names, n);
    rig_fini(&r);
}

/* ---- d. a failing create and its back-off ---- */

#define INJECTED "internal error: injected create failure"

/* Creates that libvirt refuses: each is a FailedCreate event with
 * libvirt's message (folded into one row with a count, as kubectl shows
 * it) and the ReplicaFailure condition. Per slot, the first retry is
 * immediate, the next waits BACKOFF_MIN_MS (backoff.h): so four refusals
 * come at once (two slots, two tries each) and then nothing for a second,
 * no tight loop. Once libvirt accepts, the replica is made, the condition
 * cleared, and no create is made after it. */
static void
test_create_backoff(void **state)
{
    struct rig r;
    struct fake_call calls[16];
    size_t n;
    cleanup_free char *failed = xasprintf("Error creating virtual machine instance: %s", INJECTED);

    rig_init(&r, web_manifest(1, ""));
    fake_virt_fail_creates(r.fv, 4, INJECTED);
    rig_start(&r);
    wait_for(ncalls(&r, "create") == 4 &&
             sql_int(&r,
                     "SELECT COUNT(*) FROM conditions WHERE type = 'ReplicaFailure' AND "
                     "reason = 'FailedCreate' AND message = ?1",
                     INJECTED, NULL) == 1 &&
             event_count(&r, "FailedCreate", failed) == 4);
    assert_int_equal(fake_virt_count(r.fv), 0);
    assert_int_equal(
        sql_int(&r,
                "SELECT COUNT(*) FROM events WHERE reason = 'FailedCreate' AND type = 'Warning'",
                NULL, NULL),
        1);
    /* A failed create leaves no files behind. */
    for (size_t i = 0; i < fake_virt_calls(r.fv, "create", calls, ARRAY_SIZE(calls)); i++) {
        cleanup_free char *dir = replica_dir(&r, calls[i].name);

        assert_false(dir_exists(dir));
    }

    wait_for(fake_virt_count(r.fv) == 1 && event_rows(&r, "SuccessfulCreate") == 1 &&
             web_status_is(&r, 1, 1, 1) &&
             sql_int(&r, "SELECT COUNT(*) FROM conditions WHERE type = 'ReplicaFailure'", NULL,
                     NULL) == 0 &&
             rig_quiet(&r));
    assert_int_equal(event_count(&r, "FailedCreate", failed), 4);
    rig_stop(&r); /* whatever was in flight is over: every create is counted */
    n = fake_virt_calls(r.fv, "create", calls, ARRAY_SIZE(calls));
    assert_int_equal(n, 5);
    assert_int_equal(calls[4].rc, 0);
    /* Per slot: a retry at once, then one that waited out the back-off.
     * 50 ms of slack for the loop's cached clock. */
    for (size_t i = 0; i < n; i++) {
        size_t tries = 0;
        int64_t last = 0;

        for (size_t k = 0; k <= i; k++) {
            if (calls[k].slot != calls[i].slot)
                continue;
            if (tries == 1 && calls[k].mono_ms - last >= BACKOFF_MIN_MS)
                fail_msg("slot %u: the first retry waited %lld ms", calls[k].slot,
                         (long long) (calls[k].mono_ms - last));
            if (tries == 2 && calls[k].mono_ms - last < BACKOFF_MIN_MS - 50)
                fail_msg("slot %u: the second retry came after %lld ms, not %d", calls[k].slot,
                         (long long) (calls[k].mono_ms - last), BACKOFF_MIN_MS);
            assert_true(tries < 3);
            last = calls[k].mono_ms;
            tries++;
        }
    }
    assert_true(calls[4].mono_ms - calls[3].mono_ms >= BACKOFF_MIN_MS - 50);
    assert_int_equal(calls[0].slot, calls[1].slot);

    rig_fini(&r);
}

/* ---- f. adoption ---- */

/* Metadata of a replica-like domain made by someone else: owner NULL for
 * a released one. */
static void
seed_domain(struct rig *r, const char *name, const char *owner_ns, const char *owner_name,
            const char *owner_uid, const char *app, unsigned slot)
{
    struct dommeta m = {0};

    m.owner_namespace = owner_ns ? xstrdup(owner_ns) : NULL;
    m.owner_name = owner_name ? xstrdup(owner_name) : NULL;
    m.owner_uid = owner_uid ? xstrdup(owner_uid) : NULL;
    m.vmi_name = xstrdup(strchr(name, '_') + 1);
    m.vmi_uid = xstrdup("6f1c0d9e-0000-4000-8000-00000000beef");
    m.template_hash = xstrdup("an-older-template");
    m.slot = slot;
    labels_set(&m.labels, "app", app);
    fake_virt_add(r->fv, name, &m, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_BOOTED);
    dommeta_free(&m);
}

static void
assert_owner(struct rig *r, const char *name, const char *ns, const char *owner, const char *uid)
{
    struct dommeta m;

    assert_int_equal(fake_virt_meta(r->fv, name, &m), 0);
    if (!owner) {
        assert_null(m.owner_uid);
    } else {
        assert_string_equal(m.owner_namespace, ns);
        assert_string_equal(m.owner_name, owner);
        assert_string_equal(m.owner_uid, uid);
    }
    dommeta_free(&m);
}

/* Domains with vmirsd metadata and no live owner whose labels match the
 * selector are adopted (SPEC section 3): one released (no owner), one
 * whose owner is a set vmirsd does not know. Their metadata then names
 * web, and only the third replica is created. One with other labels and
 * one in another namespace are left alone. Nothing is stopped. */
static void
test_adopt(void **state)
{
    struct rig r;
    struct fake_call sets[8];
    size_t nsets;
    cleanup_free char *uid = NULL;

    rig_init(&r, web_manifest(3, ""));
    seed_domain(&r, "default_webrlsd2", NULL, NULL, NULL, "web", 0);
    seed_domain(&r, "default_weborph5", "default", "web-old",
                "0d0e0a0d-0000-4000-8000-000000000001", "web", 1);
    seed_domain(&r, "default_otherx2b", NULL, NULL, NULL, "other", 0);
    seed_domain(&r, "prod_webzz2zz", NULL, NULL, NULL, "web", 0);
    rig_start(&r);
    wait_for(fake_virt_count(r.fv) == 5 && event_rows(&r, "SuccessfulCreate") == 1 &&
             web_status_is(&r, 3, 3, 3) && rig_quiet(&r));
    uid = web_uid(&r);

    nsets = fake_virt_calls(r.fv, "set_meta", sets, ARRAY_SIZE(sets));
    assert_int_equal(nsets, 2);
    assert_string_not_equal(sets[0].name, sets[1].name);
    assert_owner(&r, "default_webrlsd2", "default", "web", uid);
    assert_owner(&r, "default_weborph5", "default", "web", uid);
    assert_owner(&r, "default_otherx2b", NULL, NULL, NULL);
    assert_owner(&r, "prod_webzz2zz", NULL, NULL, NULL);
    assert_int_equal(ncalls(&r, "create"), 1);
    assert_int_equal(ncalls(&r, "destroy") + ncalls(&r, "shutdown"), 0);
    /* The adopted keep their names and slots; the new one takes slot 2. */
    {
        struct fake_call c[1];
        struct dommeta m;

        fake_virt_calls(r.fv, "create", c, 1);
        assert_true(is_replica_name(c[0].name, "default_web"));
        assert_int_equal(fake_virt_meta(r.fv, c[0].name, &m), 0);
        assert_int_equal(m.slot, 2);
        dommeta_free(&m);
    }
    assert_int_equal(sql_int(&r, "SELECT COUNT(*) FROM replicas WHERE rs_uid = ?1", uid, NULL), 3);
    rig_fini(&r);
}

/* ---- e. a restart while a create is in flight ---- */

/* Start with replicas: 3 and stop libvirt's answer to the third create:
 * the controller has written its intent (state_dir/intents) and called
 * create, which is still in libvirtd's hands. vmirsd dies there: what the
 * next start finds on disk is the journal as it was at that moment, which
 * is put back after this controller is stopped (its stop settles the
 * intent, which a SIGKILL would not have). how says what libvirtd made of
 * the create meanwhile. Returns the domain name of the held create. */
static char *
rig_die_mid_create(struct rig *r, enum fake_outcome how)
{
    struct fake_call calls[3];
    cleanup_free char *journal = NULL, *line = NULL;
    size_t len;

    fake_virt_hold_creates_from(r->fv, 3);
    rig_start(r);
    wait_for(fake_virt_held(r->fv) == 1 && fake_virt_count(r->fv) == 2);
    assert_int_equal(fake_virt_calls(r->fv, "create", calls, 3), 3);
    assert_int_equal(read_file(r->journal, &journal, &len), 0);
    /* The crash guard: the intent is on disk before the domain exists. */
    line = xasprintf("%s ", calls[2].name);
    assert_true(strncmp(journal, line, strlen(line)) == 0 || strstr(journal, line));
    fake_virt_hold_creates_from(r->fv, 0);
    fake_virt_release(r->fv, how);
    rig_stop(r);
    assert_int_equal(write_file_atomic(r->journal, journal, len, 0600), 0);
    return xstrdup(calls[2].name);
}

/* Intent lines of the journal with no "NAME done" line after them: the
 * creates a restart would take for ones in flight. */
static size_t
journal_unsettled(struct rig *r)
{
    cleanup_free char *text = NULL;
    char **open = NULL;
    size_t nopen = 0;

    if (read_file(r->journal, &text, NULL) < 0)
        return 0;
    for (char *l = strtok(text, "\n"); l; l = strtok(NULL, "\n")) {
        char name[256], word[128];

        if (sscanf(l, "%255s %127s", name, word) != 2)
            continue;
        if (strcmp(word, "done") != 0) {
            open = xrealloc(open, (nopen + 1) * sizeof(*open));
            open[nopen++] = xstrdup(name);
            continue;
        }
        for (size_t i = 0; i < nopen; i++)
            if (strcmp(open[i], name) == 0) {
                free(open[i]);
                memmove(&open[i], &open[i + 1], (nopen - i - 1) * sizeof(*open));
                nopen--;
                break;
            }
    }
    for (size_t i = 0; i < nopen; i++)
        free(open[i]);
    free(open);
    return nopen;
}

/* SPEC section 3: after a restart, never a duplicate, never a create
 * re-issued while one is in flight. Two daemons side by side on one loop,
 * each killed during its third create and started again on the same
 * state_dir:
 *  - seen: libvirtd had made the domain but lists it only later (a slow
 *    create). The new controller counts the intent as pending and creates
 *    nothing; when the domain shows up it is the third replica.
 *  - lost: libvirtd never made it. The new controller still creates
 *    nothing until libvirt has been listed again late enough to show any
 *    create a dead vmirsd had sent (the settle list); then the intent is
 *    given up (settled in the journal, its files removed, no
 *    SuccessfulDelete: no user ever saw it) and one replica is created. */
static void
test_restart_mid_create(void **state)
{
    struct rig seen, lost;
    cleanup_free char *seen_x = NULL, *lost_x = NULL, *lost_dir = NULL;
    size_t seen_lists, lost_lists;
    struct fake_call lists[8], creates[8];
    size_t nl, nc;

    rig_init(&seen, web_manifest(3, ""));
    rig_init(&lost, web_manifest(3, ""));
    seen_x = rig_die_mid_create(&seen, FAKE_LOST_HIDDEN);
    lost_x = rig_die_mid_create(&lost, FAKE_LOST_NOTHING);
    lost_dir = replica_dir(&lost, lost_x);
    /* The call's fate was unknown: its files were kept for the next start. */
    assert_true(dir_exists(lost_dir));
    assert_int_equal(fake_virt_count(seen.fv), 2);
    assert_int_equal(fake_virt_count(lost.fv), 2);
    seen_lists = ncalls(&seen, "list");
    lost_lists = ncalls(&lost, "list");

    rig_start(&seen);
    rig_start(&lost);
    wait_for(controller_synced(seen.c) && controller_synced(lost.c) && rig_quiet(&seen) &&
             rig_quiet(&lost));
    /* Listed once, a pass run: two replicas and one create that may be in
     * flight make three. Nothing is created. */
    assert_int_equal(ncalls(&seen, "list"), seen_lists + 1);
    assert_int_equal(ncalls(&lost, "list"), lost_lists + 1);
    assert_int_equal(ncalls(&seen, "create"), 3);
    assert_int_equal(ncalls(&lost, "create"), 3);

    /* libvirtd finishes the slow create. */
    fake_virt_reveal(seen.fv, seen_x);
    wait_for(ncalls(&seen, "list") >= seen_lists + 2 && ncalls(&lost, "list") >= lost_lists + 2 &&
             fake_virt_count(lost.fv) == 3 && web_status_is(&seen, 3, 3, 3) &&
             web_status_is(&lost, 3, 3, 3) && rig_quiet(&seen) && rig_quiet(&lost));

    /* seen: the third replica is the one created before the restart. */
    assert_int_equal(ncalls(&seen, "create"), 3);
    assert_int_equal(fake_virt_count(seen.fv), 3);
    assert_true(has_domain(&seen, seen_x));
    assert_int_equal(fake_virt_duplicates(seen.fv), 0);
    assert_int_equal(nstops_live(&seen, "destroy") + nstops_live(&seen, "shutdown"), 0);
    assert_int_equal(
        sql_int(&seen, "SELECT COUNT(*) FROM replicas WHERE domain = ?1 AND phase = 'Running'",
                seen_x, NULL),
        1);

    /* lost: one create, made only after the settle list. */
    nc = fake_virt_calls(lost.fv, "create", creates, ARRAY_SIZE(creates));
    nl = fake_virt_calls(lost.fv, "list", lists, ARRAY_SIZE(lists));
    assert_int_equal(nc, 4);
    assert_true(nl >= lost_lists + 2);
    assert_true(creates[3].mono_ms >= lists[lost_lists + 1].mono_ms);
    assert_string_not_equal(creates[3].name, lost_x);
    assert_true(has_domain(&lost, creates[3].name));
    assert_false(has_domain(&lost, lost_x));
    assert_false(dir_exists(lost_dir));
    assert_int_equal(journal_unsettled(&lost), 0);
    assert_int_equal(event_rows(&lost, "SuccessfulDelete"), 0);
    assert_int_equal(
        sql_int(&lost, "SELECT COUNT(*) FROM replicas WHERE domain = ?1", lost_x, NULL), 0);
    assert_int_equal(fake_virt_duplicates(lost.fv), 0);
    assert_int_equal(nstops_live(&lost, "destroy") + nstops_live(&lost, "shutdown"), 0);

    rig_fini(&seen);
    rig_fini(&lost);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phases),
        cmocka_unit_test_setup_teardown(test_create, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_replace, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_scale_down, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_create_backoff, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_adopt, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_restart_mid_create, loop_setup, loop_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
