#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include "reconcile.h"
#include "selector.h"
#include "util.h"

/* Each case is one VMIRS (uid ME, selector app=web unless said otherwise)
 * and the domains observed for it; the expected outcome is the create
 * count, the actions as "KIND name" joined by ", " in the order reconcile
 * must give them, and the status. Every case is run twice, with the
 * observed array forwards and reversed: the outcome must not depend on the
 * order libvirt lists domains in. */

#define ME "uid-me"
#define OTHER "uid-other"
#define WEB "app=web"
#define MAX_OBS 12

struct obs_spec {
    const char *name;
    const char *owner;  /* ME, OTHER or NULL (released) */
    const char *labels; /* "k=v;k=v"; "" for none; NULL for not known yet */
    enum replica_phase phase;
    bool ready;
    bool deleting;
    int64_t created_ms;
    int64_t ready_since_ms;
};

struct rcase {
    const char *title;
    int64_t replicas;
    bool paused;
    bool mismatch;
    bool removed;
    bool no_selector;     /* pass selector = NULL */
    const char *selector; /* matchLabels "k=v;k=v"; NULL means WEB */
    struct obs_spec obs[MAX_OBS];
    size_t create;
    const char *actions;
    int64_t replicas_status;
    int64_t ready_status;
};

/* Shorthands for the common domains: owned by ME, labelled app=web. */
#define PENDING(n, c)                                                                              \
    {                                                                                              \
        n, ME, WEB, PHASE_PENDING, false, false, c, 0                                              \
    }
#define NOT_READY(n, c)                                                                            \
    {                                                                                              \
        n, ME, WEB, PHASE_RUNNING, false, false, c, 0                                              \
    }
#define READY(n, c, since)                                                                         \
    {                                                                                              \
        n, ME, WEB, PHASE_RUNNING, true, false, c, since                                           \
    }
#define DELETING(n, c)                                                                             \
    {                                                                                              \
        n, ME, WEB, PHASE_RUNNING, true, true, c, c                                                \
    }
#define FINAL(n, phase)                                                                            \
    {                                                                                              \
        n, ME, WEB, phase, false, false, 1, 0                                                      \
    }

static void
parse_labels(struct labels *l, const char *text)
{
    char *copy = xstrdup(text), *save = NULL;

    for (char *kv = strtok_r(copy, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(kv, '=');

        assert_non_null(eq);
        *eq = '\0';
        labels_set(l, kv, eq + 1);
    }
    free(copy);
}

static const char *
kind_name(enum action_kind k)
{
    switch (k) {
    case ACT_DELETE:
        return "DELETE";
    case ACT_REAP:
        return "REAP";
    case ACT_ADOPT:
        return "ADOPT";
    case ACT_RELEASE:
        return "RELEASE";
    }
    return "?";
}

static char *
format_actions(const struct reconcile_result *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    for (size_t i = 0; i < r->n; i++)
        fprintf(f, "%s%s %s", i ? ", " : "", kind_name(r->actions[i].kind), r->actions[i].name);
    assert_int_equal(fclose(f), 0);
    return buf;
}

/* What must hold for every pass, whatever the case: each action names a
 * domain of the array given (the very pointer, nothing copied or kept),
 * never one owned by another VMIRS, never one already being deleted; and
 * no domain is deleted or reaped twice. */
static void
check_invariants(const struct rcase *c, const struct observed *obs, size_t n,
                 const struct reconcile_result *r)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct observed *o = NULL;

        for (size_t k = 0; k < n; k++) {
            if (obs[k].name == r->actions[i].name)
                o = &obs[k];
        }
        if (!o)
            fail_msg("%s: action %zu names no observed domain", c->title, i);
        if (o->owner_uid && strcmp(o->owner_uid, ME) != 0)
            fail_msg("%s: action on %s, owned by %s", c->title, o->name, o->owner_uid);
        if (o->deleting)
            fail_msg("%s: action on %s, already being deleted", c->title, o->name);
        for (size_t j = 0; j < i; j++) {
            if (r->actions[j].name == r->actions[i].name &&
                (r->actions[j].kind == r->actions[i].kind ||
                 (r->actions[j].kind != ACT_ADOPT && r->actions[i].kind != ACT_ADOPT)))
                fail_msg("%s: %s gets both %s and %s", c->title, o->name,
                         kind_name(r->actions[j].kind), kind_name(r->actions[i].kind));
        }
    }
}

static void
run_one(const struct rcase *c, bool reversed)
{
    struct selector sel = {0};
    struct labels labels[MAX_OBS] = {{0}};
    struct observed obs[MAX_OBS] = {{0}};
    struct reconcile_desired d = {
        .uid = ME,
        .replicas = c->replicas,
        .paused = c->paused,
        .selector_mismatch = c->mismatch,
        .removed = c->removed,
        .selector = c->no_selector ? NULL : &sel,
    };
    struct reconcile_result r;
    size_t n = 0;
    char *got;

    parse_labels(&sel.match_labels, c->selector ? c->selector : WEB);
    while (n < MAX_OBS && c->obs[n].name)
        n++;
    for (size_t i = 0; i < n; i++) {
        const struct obs_spec *s = &c->obs[reversed ? n - 1 - i : i];
        struct observed *o = &obs[i];

        if (s->labels)
            parse_labels(&labels[i], s->labels);
        o->name = s->name;
        o->owner_uid = s->owner;
        o->labels = s->labels ? &labels[i] : NULL;
        o->template_hash = "h1";
        o->phase = s->phase;
        o->ready = s->ready;
        o->deleting = s->deleting;
        o->created_ms = s->created_ms;
        o->ready_since_ms = s->ready_since_ms;
    }

    /* Garbage in the result must not leak into it. */
    memset(&r, 0x5a, sizeof(r));
    reconcile(&d, n ? obs : NULL, n, &r);
    got = format_actions(&r);
    if (strcmp(got, c->actions) != 0)
        fail_msg("%s%s: actions\n  got:  \"%s\"\n  want: \"%s\"", c->title,
                 reversed ? " (reversed)" : "", got, c->actions);
    if (r.create != c->create)
        fail_msg("%s%s: create %zu, want %zu", c->title, reversed ? " (reversed)" : "", r.create,
                 c->create);
    if (r.replicas != c->replicas_status || r.ready_replicas != c->ready_status)
        fail_msg("%s%s: status %jd/%jd, want %jd/%jd", c->title, reversed ? " (reversed)" : "",
                 (intmax_t) r.replicas, (intmax_t) r.ready_replicas, (intmax_t) c->replicas_status,
                 (intmax_t) c->ready_status);
    check_invariants(c, obs, n, &r);
    if (r.n == 0)
        assert_null(r.actions);

    free(got);
    reconcile_result_free(&r);
    assert_null(r.actions);
    assert_int_equal(r.n, 0);
    reconcile_result_free(&r); /* a second free is harmless */
    for (size_t i = 0; i < n; i++)
        labels_free(&labels[i]);
    selector_free(&sel);
}

static void
run_cases(const struct rcase *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        run_one(&cases[i], false);
        run_one(&cases[i], true);
    }
}

/* SPEC §3 "Counting": owned, matching, not final, not being deleted. */
static const struct rcase counting_cases[] = {
    {.title = "nothing observed, replicas 3: create 3", .replicas = 3, .create = 3, .actions = ""},
    {.title = "pending replicas count: no duplicate create while a create is in flight",
     .replicas = 3,
     .obs = {PENDING("a", 10), PENDING("b", 11), READY("c", 5, 6)},
     .create = 0,
     .actions = "",
     .replicas_status = 3,
     .ready_status = 1},
    {.title = "a replica being deleted is not counted: its replacement starts at once",
     .replicas = 3,
     .obs = {READY("a", 1, 2), READY("b", 1, 2), DELETING("c", 1)},
     .create = 1,
     .actions = "",
     .replicas_status = 2,
     .ready_status = 2},
    {.title = "final replicas are not counted",
     .replicas = 2,
     .obs = {READY("a", 1, 2), FINAL("b", PHASE_FAILED)},
     .create = 1,
     .actions = "REAP b",
     .replicas_status = 1,
     .ready_status = 1},
    {.title = "not ready replicas count toward replicas",
     .replicas = 2,
     .obs = {NOT_READY("a", 1), NOT_READY("b", 2)},
     .create = 0,
     .actions = "",
     .replicas_status = 2,
     .ready_status = 0},
};

static void
test_counting(void **state)
{
    run_cases(counting_cases, ARRAY_SIZE(counting_cases));
}

static const struct rcase scale_up_cases[] = {
    {.title = "scale up from 0", .replicas = 4, .create = 4, .actions = ""},
    {.title = "scale up from partial",
     .replicas = 5,
     .obs = {READY("a", 1, 2), NOT_READY("b", 3)},
     .create = 3,
     .actions = "",
     .replicas_status = 2,
     .ready_status = 1},
    {.title = "exactly enough: nothing to do",
     .replicas = 2,
     .obs = {READY("a", 1, 2), PENDING("b", 3)},
     .create = 0,
     .actions = "",
     .replicas_status = 2,
     .ready_status = 1},
    {.title = "replicas 0 and nothing observed: nothing to do", .replicas = 0, .actions = ""},
};

static void
test_scale_up(void **state)
{
    run_cases(scale_up_cases, ARRAY_SIZE(scale_up_cases));
}

/* Seven replicas covering every rank: pending (p*), running not ready
 * (n*), ready (r*), with the tie-breakers inside each group. */
#define RANKED                                                                                     \
    {                                                                                              \
        READY("r1", 5, 100), READY("r2", 6, 200), READY("r3", 7, 200), NOT_READY("n1", 10),        \
            NOT_READY("n2", 20), PENDING("p1", 50), PENDING("p2", 60),                             \
    }

/* SPEC §3 "Scale down picks victims like a Kubernetes ReplicaSet":
 * pending first, then not ready, then most recently ready, then newest,
 * then by name. */
static const struct rcase scale_down_cases[] = {
    {.title = "replicas 0: every replica, in full rank order",
     .replicas = 0,
     .obs = RANKED,
     .actions = "DELETE p2, DELETE p1, DELETE n2, DELETE n1, DELETE r3, DELETE r2, DELETE r1",
     .replicas_status = 7,
     .ready_status = 3},
    {.title = "one surplus: the newest pending replica",
     .replicas = 6,
     .obs = RANKED,
     .actions = "DELETE p2",
     .replicas_status = 7,
     .ready_status = 3},
    {.title = "four surplus: pending, then not ready, newest first",
     .replicas = 3,
     .obs = RANKED,
     .actions = "DELETE p2, DELETE p1, DELETE n2, DELETE n1",
     .replicas_status = 7,
     .ready_status = 3},
    {.title = "five surplus: then the most recently ready, newer on a tie",
     .replicas = 2,
     .obs = RANKED,
     .actions = "DELETE p2, DELETE p1, DELETE n2, DELETE n1, DELETE r3",
     .replicas_status = 7,
     .ready_status = 3},
    {.title = "pending beats not ready even when older",
     .replicas = 1,
     .obs = {PENDING("a", 1), NOT_READY("b", 100)},
     .actions = "DELETE a",
     .replicas_status = 2},
    {.title = "not ready beats ready even when older",
     .replicas = 1,
     .obs = {NOT_READY("a", 1), READY("b", 100, 100)},
     .actions = "DELETE a",
     .replicas_status = 2,
     .ready_status = 1},
    {.title = "most recently ready beats newest",
     .replicas = 1,
     .obs = {READY("old", 1, 500), READY("new", 100, 200)},
     .actions = "DELETE old",
     .replicas_status = 2,
     .ready_status = 2},
    {.title = "ready time ignored between not-ready replicas: newest goes",
     .replicas = 1,
     .obs = {{"a", ME, WEB, PHASE_RUNNING, false, false, 1, 900},
             {"b", ME, WEB, PHASE_RUNNING, false, false, 2, 100}},
     .actions = "DELETE b",
     .replicas_status = 2},
    {.title = "full ties broken by name",
     .replicas = 1,
     .obs = {READY("c", 5, 5), READY("a", 5, 5), READY("b", 5, 5)},
     .actions = "DELETE a, DELETE b",
     .replicas_status = 3,
     .ready_status = 3},
    {.title = "an unset time ranks as the most recent (Kubernetes afterOrZero)",
     .replicas = 2,
     .obs = {READY("a", 5, 0), READY("b", 5, 900), NOT_READY("c", 7), NOT_READY("d", 0)},
     .actions = "DELETE d, DELETE c",
     .replicas_status = 4,
     .ready_status = 2},
    {.title = "an unset ready time goes before any set one",
     .replicas = 1,
     .obs = {READY("a", 5, 0), READY("b", 5, 900)},
     .actions = "DELETE a",
     .replicas_status = 2,
     .ready_status = 2},
    {.title = "a pending replica claiming ready is still ranked not ready",
     .replicas = 1,
     .obs = {{"a", ME, WEB, PHASE_PENDING, true, false, 1, 1}, NOT_READY("b", 2)},
     .actions = "DELETE a",
     .replicas_status = 2},
    {.title = "a negative replicas (refused by validation) acts as 0",
     .replicas = -1,
     .obs = {READY("a", 1, 1)},
     .actions = "DELETE a",
     .replicas_status = 1,
     .ready_status = 1},
};

static void
test_scale_down_ranking(void **state)
{
    run_cases(scale_down_cases, ARRAY_SIZE(scale_down_cases));
}

/* SPEC §3: "the guarantee is at least N, never fewer". More domains than
 * replicas may exist while old ones shut down or are in doubt; more
 * *active* replicas than wanted are trimmed. */
static const struct rcase overprovision_cases[] = {
    {.title = "replacement running while the old replica shuts down: nothing deleted",
     .replicas = 2,
     .obs = {READY("a", 1, 1), READY("b", 2, 2), DELETING("old", 0)},
     .actions = "",
     .replicas_status = 2,
     .ready_status = 2},
    {.title = "several shutting down beside a full set",
     .replicas = 1,
     .obs = {READY("a", 1, 1), DELETING("x", 1), DELETING("y", 1)},
     .actions = "",
     .replicas_status = 1,
     .ready_status = 1},
    {.title = "a replica in doubt is replaced, not waited for",
     .replicas = 2,
     .obs = {READY("a", 1, 1), FINAL("lost", PHASE_UNKNOWN)},
     .create = 1,
     .actions = "REAP lost",
     .replicas_status = 1,
     .ready_status = 1},
    {.title = "surplus active replicas are deleted",
     .replicas = 2,
     .obs = {READY("a", 1, 1), READY("b", 2, 2), READY("c", 3, 3)},
     .actions = "DELETE c",
     .replicas_status = 3,
     .ready_status = 3},
};

static void
test_over_provisioning(void **state)
{
    run_cases(overprovision_cases, ARRAY_SIZE(overprovision_cases));
}

/* Final replicas are removed and replaced in the same pass. */
static const struct rcase final_cases[] = {
    {.title = "succeeded, failed and unknown are all reaped and replaced at once",
     .replicas = 4,
     .obs = {READY("a", 1, 1), FINAL("s", PHASE_SUCCEEDED), FINAL("f", PHASE_FAILED),
             FINAL("u", PHASE_UNKNOWN)},
     .create = 3,
     .actions = "REAP f, REAP s, REAP u",
     .replicas_status = 1,
     .ready_status = 1},
    {.title = "reaped even when no replacement is wanted",
     .replicas = 0,
     .obs = {FINAL("f", PHASE_FAILED)},
     .actions = "REAP f"},
    {.title = "a final replica already being deleted is not reaped again",
     .replicas = 1,
     .obs = {{"f", ME, WEB, PHASE_FAILED, false, true, 1, 0}},
     .create = 1,
     .actions = ""},
    {.title = "a final replica marked ready is neither counted nor ready",
     .replicas = 1,
     .obs = {{"f", ME, WEB, PHASE_SUCCEEDED, true, false, 1, 1}},
     .create = 1,
     .actions = "REAP f"},
    {.title = "reap and scale down in one pass",
     .replicas = 1,
     .obs = {READY("a", 1, 1), READY("b", 2, 2), FINAL("f", PHASE_FAILED)},
     .actions = "REAP f, DELETE b",
     .replicas_status = 2,
     .ready_status = 2},
};

static void
test_final_replicas(void **state)
{
    run_cases(final_cases, ARRAY_SIZE(final_cases));
}

/* SPEC §3 "spec.paused: true stops creating and deleting"; as in KubeVirt,
 * claiming (adopt/release) still runs and finished replicas wait. */
static const struct rcase paused_cases[] = {
    {.title = "paused: no create",
     .replicas = 3,
     .paused = true,
     .obs = {READY("a", 1, 1)},
     .actions = "",
     .replicas_status = 1,
     .ready_status = 1},
    {.title = "paused: no scale down",
     .replicas = 1,
     .paused = true,
     .obs = {READY("a", 1, 1), READY("b", 2, 2), PENDING("c", 3)},
     .actions = "",
     .replicas_status = 3,
     .ready_status = 2},
    {.title = "paused: final replicas are not reaped",
     .replicas = 1,
     .paused = true,
     .obs = {FINAL("f", PHASE_FAILED), FINAL("u", PHASE_UNKNOWN)},
     .actions = ""},
    {.title = "paused: adopt and release still happen",
     .replicas = 1,
     .paused = true,
     .obs = {{"orphan", NULL, WEB, PHASE_RUNNING, true, false, 1, 1},
             {"relabelled", ME, "app=db", PHASE_RUNNING, true, false, 1, 1},
             READY("a", 1, 1)},
     .actions = "RELEASE relabelled, ADOPT orphan",
     .replicas_status = 2,
     .ready_status = 2},
    {.title = "paused: an adopted final replica is adopted, not reaped",
     .replicas = 1,
     .paused = true,
     .obs = {{"orphan", NULL, WEB, PHASE_FAILED, false, false, 1, 0}},
     .actions = "ADOPT orphan"},
};

static void
test_paused(void **state)
{
    run_cases(paused_cases, ARRAY_SIZE(paused_cases));
}

/* SPEC §3: a selector that is missing, invalid or does not match the
 * template: create and delete nothing (and claim nothing). */
static const struct rcase mismatch_cases[] = {
    {.title = "mismatch: no create, no adopt, no release, no reap",
     .replicas = 3,
     .mismatch = true,
     .no_selector = true,
     .obs = {READY("a", 1, 1),
             FINAL("f", PHASE_FAILED),
             {"orphan", NULL, WEB, PHASE_RUNNING, true, false, 1, 1},
             {"relabelled", ME, "app=db", PHASE_RUNNING, true, false, 1, 1}},
     .actions = "",
     .replicas_status = 2,
     .ready_status = 2},
    {.title = "mismatch: no scale down",
     .replicas = 0,
     .mismatch = true,
     .no_selector = true,
     .obs = {READY("a", 1, 1), PENDING("b", 2)},
     .actions = "",
     .replicas_status = 2,
     .ready_status = 1},
    {.title = "mismatch flag wins over a selector that would match",
     .replicas = 3,
     .mismatch = true,
     .obs = {{"orphan", NULL, WEB, PHASE_RUNNING, true, false, 1, 1}, READY("a", 1, 1)},
     .actions = "",
     .replicas_status = 1,
     .ready_status = 1},
    {.title = "no selector without the flag is read as a mismatch",
     .replicas = 0,
     .no_selector = true,
     .obs = {READY("a", 1, 1)},
     .actions = "",
     .replicas_status = 1,
     .ready_status = 1},
};

static void
test_selector_mismatch(void **state)
{
    run_cases(mismatch_cases, ARRAY_SIZE(mismatch_cases));
}

/* SPEC §3 "Adoption": an ownerless domain matching the selector is
 * adopted and counts at once; other owners are never touched. */
static const struct rcase adoption_cases[] = {
    {.title = "ownerless matching is adopted and counted: no extra create",
     .replicas = 2,
     .obs = {{"orphan", NULL, "app=web;tier=x", PHASE_RUNNING, true, false, 1, 1},
             READY("a", 1, 1)},
     .actions = "ADOPT orphan",
     .replicas_status = 2,
     .ready_status = 2},
    {.title = "an adopted pending replica counts too",
     .replicas = 1,
     .obs = {{"orphan", NULL, WEB, PHASE_PENDING, false, false, 1, 0}},
     .actions = "ADOPT orphan",
     .replicas_status = 1},
    {.title = "adopted then deleted as surplus in the same pass",
     .replicas = 0,
     .obs = {{"orphan", NULL, WEB, PHASE_RUNNING, true, false, 1, 1}},
     .actions = "ADOPT orphan, DELETE orphan",
     .replicas_status = 1,
     .ready_status = 1},
    {.title = "adopted victims rank like any other replica",
     .replicas = 1,
     .obs = {{"orphan", NULL, WEB, PHASE_RUNNING, true, false, 1, 1}, NOT_READY("a", 2)},
     .actions = "ADOPT orphan, DELETE a",
     .replicas_status = 2,
     .ready_status = 1},
    {.title = "an ownerless final replica is adopted, reaped and replaced",
     .replicas = 1,
     .obs = {{"orphan", NULL, WEB, PHASE_SUCCEEDED, false, false, 1, 0}},
     .create = 1,
     .actions = "ADOPT orphan, REAP orphan"},
    {.title = "an ownerless replica being deleted is not adopted",
     .replicas = 1,
     .obs = {{"orphan", NULL, WEB, PHASE_RUNNING, true, true, 1, 1}},
     .create = 1,
     .actions = ""},
    {.title = "ownerless not matching is ignored",
     .replicas = 1,
     .obs = {{"db", NULL, "app=db", PHASE_RUNNING, true, false, 1, 1},
             {"bare", NULL, "", PHASE_RUNNING, true, false, 1, 1},
             {"empty", NULL, "", PHASE_RUNNING, true, false, 1, 1}},
     .create = 1,
     .actions = ""},
    {.title = "an empty selector matches every ownerless domain",
     .replicas = 3,
     .selector = "",
     .obs = {{"db", NULL, "app=db", PHASE_RUNNING, true, false, 1, 1},
             {"bare", NULL, "", PHASE_RUNNING, false, false, 1, 0}},
     .create = 1,
     .actions = "ADOPT bare, ADOPT db",
     .replicas_status = 2,
     .ready_status = 1},
    {.title = "another VMIRS's replicas are ignored, matching or not, even at replicas 0",
     .replicas = 0,
     .obs = {{"theirs", OTHER, WEB, PHASE_RUNNING, true, false, 1, 1},
             {"theirs-db", OTHER, "app=db", PHASE_RUNNING, true, false, 1, 1},
             {"theirs-dead", OTHER, WEB, PHASE_FAILED, false, false, 1, 0}},
     .actions = ""},
    {.title = "another VMIRS's replicas do not count toward ours",
     .replicas = 2,
     .obs = {{"theirs", OTHER, WEB, PHASE_RUNNING, true, false, 1, 1}, READY("a", 1, 1)},
     .create = 1,
     .actions = "",
     .replicas_status = 1,
     .ready_status = 1},
};

static void
test_adoption(void **state)
{
    run_cases(adoption_cases, ARRAY_SIZE(adoption_cases));
}

/* SPEC §3: "an owned domain whose labels no longer match is released
 * (left running, owner cleared) and replaced". */
static const struct rcase release_cases[] = {
    {.title = "owned not matching: released, not counted, replaced",
     .replicas = 1,
     .obs = {{"relabelled", ME, "app=db", PHASE_RUNNING, true, false, 1, 1}},
     .create = 1,
     .actions = "RELEASE relabelled"},
    {.title = "owned with no labels: released",
     .replicas = 2,
     .obs = {{"bare", ME, "", PHASE_RUNNING, true, false, 1, 1}, READY("a", 1, 1)},
     .create = 1,
     .actions = "RELEASE bare",
     .replicas_status = 1,
     .ready_status = 1},
    {.title = "labels not known yet (a create recorded before a restart): kept and counted",
     .replicas = 2,
     .obs = {{"intent", ME, NULL, PHASE_PENDING, false, false, 1, 0}, READY("a", 1, 1)},
     .actions = "",
     .replicas_status = 2,
     .ready_status = 1},
    {.title = "a released replica is never a scale-down victim",
     .replicas = 0,
     .obs = {{"relabelled", ME, "app=db", PHASE_RUNNING, true, false, 1, 1}, READY("a", 1, 1)},
     .actions = "RELEASE relabelled, DELETE a",
     .replicas_status = 1,
     .ready_status = 1},
    {.title = "a final replica that no longer matches is released, not reaped",
     .replicas = 1,
     .obs = {{"relabelled", ME, "app=db", PHASE_FAILED, false, false, 1, 0}},
     .create = 1,
     .actions = "RELEASE relabelled"},
    {.title = "a replica being deleted is not released",
     .replicas = 1,
     .obs = {{"relabelled", ME, "app=db", PHASE_RUNNING, true, true, 1, 1}},
     .create = 1,
     .actions = ""},
};

static void
test_release(void **state)
{
    run_cases(release_cases, ARRAY_SIZE(release_cases));
}

/* SPEC §3 "Removing a manifest deletes its replicas (cascade)". */
#define REMOVAL_OBS                                                                                \
    {                                                                                              \
        READY("a", 1, 1), PENDING("b", 2), FINAL("c", PHASE_FAILED), DELETING("d", 1),             \
            {"orphan", NULL, WEB, PHASE_RUNNING, true, false, 1, 1},                               \
            {"theirs", OTHER, WEB, PHASE_RUNNING, true, false, 1, 1},                              \
            {"g", ME, "app=db", PHASE_RUNNING, false, false, 1, 0},                                \
    }

static const struct rcase removal_cases[] = {
    {.title = "removed: delete every owned replica, matching or not; reap final; adopt nothing",
     .replicas = 3,
     .removed = true,
     .obs = REMOVAL_OBS,
     .actions = "REAP c, DELETE b, DELETE g, DELETE a",
     .replicas_status = 3,
     .ready_status = 1},
    {.title = "removed while paused: the cascade still runs",
     .replicas = 3,
     .removed = true,
     .paused = true,
     .obs = REMOVAL_OBS,
     .actions = "REAP c, DELETE b, DELETE g, DELETE a",
     .replicas_status = 3,
     .ready_status = 1},
    {.title = "removed with a selector mismatch and no selector: the cascade still runs",
     .replicas = 3,
     .removed = true,
     .mismatch = true,
     .no_selector = true,
     .obs = REMOVAL_OBS,
     .actions = "REAP c, DELETE b, DELETE g, DELETE a",
     .replicas_status = 3,
     .ready_status = 1},
    {.title = "removed with nothing left: nothing to do",
     .replicas = 3,
     .removed = true,
     .obs = {DELETING("d", 1), {"orphan", NULL, WEB, PHASE_RUNNING, true, false, 1, 1}},
     .actions = ""},
};

static void
test_removal(void **state)
{
    run_cases(removal_cases, ARRAY_SIZE(removal_cases));
}

/* Status is computed from what was observed, before the actions: creates
 * do not count yet, deletes chosen in this pass still count. */
static const struct rcase status_cases[] = {
    {.title = "ready counts only active, owned, ready replicas",
     .replicas = 7,
     .obs = {READY("ready", 1, 1),
             {"user-paused", ME, WEB, PHASE_RUNNING, false, false, 1, 0},
             PENDING("pending", 1),
             DELETING("deleting", 1),
             {"dead", ME, WEB, PHASE_SUCCEEDED, true, false, 1, 1},
             {"orphan", NULL, WEB, PHASE_RUNNING, true, false, 1, 1},
             {"relabelled", ME, "app=db", PHASE_RUNNING, true, false, 1, 1},
             {"theirs", OTHER, WEB, PHASE_RUNNING, true, false, 1, 1}},
     .create = 3,
     .actions = "RELEASE relabelled, ADOPT orphan, REAP dead",
     .replicas_status = 4,
     .ready_status = 2},
    {.title = "victims chosen in this pass still count",
     .replicas = 1,
     .obs = {READY("a", 1, 1), READY("b", 2, 2)},
     .actions = "DELETE b",
     .replicas_status = 2,
     .ready_status = 2},
};

static void
test_status(void **state)
{
    run_cases(status_cases, ARRAY_SIZE(status_cases));
}

/* Actions come grouped by kind (RELEASE, ADOPT, REAP, DELETE), names in
 * order within a group, victims in rank order, whatever order the names
 * sort in across groups. */
static const struct rcase order_cases[] = {
    {.title = "kinds in order, names sorted within each",
     .replicas = 1,
     .obs = {{"z2", ME, "app=db", PHASE_RUNNING, true, false, 1, 1},
             {"z1", ME, "app=db", PHASE_RUNNING, true, false, 1, 1},
             {"y2", NULL, WEB, PHASE_RUNNING, true, false, 1, 1},
             {"y1", NULL, WEB, PHASE_RUNNING, true, false, 1, 1},
             FINAL("x2", PHASE_FAILED),
             FINAL("x1", PHASE_SUCCEEDED),
             READY("w1", 1, 10),
             READY("w2", 1, 20)},
     .actions = "RELEASE z1, RELEASE z2, ADOPT y1, ADOPT y2, REAP x1, REAP x2, "
                "DELETE w2, DELETE w1, DELETE y1",
     .replicas_status = 4,
     .ready_status = 4},
};

static void
test_action_order(void **state)
{
    run_cases(order_cases, ARRAY_SIZE(order_cases));
}

static void
test_empty_input(void **state)
{
    struct selector sel = {0};
    struct reconcile_desired d = {.uid = ME, .replicas = 0, .selector = &sel};
    struct reconcile_result r;

    reconcile(&d, NULL, 0, &r);
    assert_int_equal(r.create, 0);
    assert_int_equal(r.n, 0);
    assert_null(r.actions);
    assert_int_equal(r.replicas, 0);
    assert_int_equal(r.ready_replicas, 0);
    reconcile_result_free(&r);
    reconcile_result_free(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counting),
        cmocka_unit_test(test_scale_up),
        cmocka_unit_test(test_scale_down_ranking),
        cmocka_unit_test(test_over_provisioning),
        cmocka_unit_test(test_final_replicas),
        cmocka_unit_test(test_paused),
        cmocka_unit_test(test_selector_mismatch),
        cmocka_unit_test(test_adoption),
        cmocka_unit_test(test_release),
        cmocka_unit_test(test_removal),
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_action_order),
        cmocka_unit_test(test_empty_input),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
