#include "config.h"

#include "reconcile.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* An observed domain in one of the pass's lists. */
struct reconcile_item {
    const struct observed *o;
    size_t index; /* its place in obs: the last tie-break, never reached for unique names */
};

static bool
reconcile_is_final(const struct observed *o)
{
    return o->phase == PHASE_SUCCEEDED || o->phase == PHASE_FAILED || o->phase == PHASE_UNKNOWN;
}

/* Ready only counts for a running replica: a caller that sets ready on a
 * create still in flight must not make it look like a worse victim. */
static bool
reconcile_is_ready(const struct observed *o)
{
    return o->ready && o->phase == PHASE_RUNNING;
}

static bool
reconcile_owned(const struct reconcile_desired *d, const struct observed *o)
{
    return o->owner_uid && d->uid && strcmp(o->owner_uid, d->uid) == 0;
}

/* Kubernetes' afterOrZero: an unset time (0) ranks as the most recent. */
static int
reconcile_cmp_recent_first(int64_t a, int64_t b)
{
    if (a == b)
        return 0;
    if (a == 0)
        return -1;
    if (b == 0)
        return 1;
    return a > b ? -1 : 1;
}

/* Kubernetes' ActivePodsWithRanks.Less, reduced to what one host has:
 * the first element is the best victim. Deletion cost, co-location and
 * restart counts do not exist here; the name makes the order total. */
static int
reconcile_cmp_victims(const void *pa, const void *pb)
{
    const struct reconcile_item *a = pa, *b = pb;
    const struct observed *x = a->o, *y = b->o;
    bool xr = reconcile_is_ready(x), yr = reconcile_is_ready(y);
    int c;

    if (x->phase != y->phase)
        return x->phase == PHASE_PENDING ? -1 : 1;
    if (xr != yr)
        return xr ? 1 : -1;
    if (xr && (c = reconcile_cmp_recent_first(x->ready_since_ms, y->ready_since_ms)) != 0)
        return c;
    if ((c = reconcile_cmp_recent_first(x->created_ms, y->created_ms)) != 0)
        return c;
    if ((c = strcmp(x->name, y->name)) != 0)
        return c;
    return a->index < b->index ? -1 : a->index > b->index;
}

static int
reconcile_cmp_names(const void *pa, const void *pb)
{
    const struct reconcile_item *a = pa, *b = pb;
    int c = strcmp(a->o->name, b->o->name);

    if (c != 0)
        return c;
    return a->index < b->index ? -1 : a->index > b->index;
}

/* Append the items of one kind to out, sorted by cmp unless it is NULL. */
static void
reconcile_emit(struct reconcile_result *out, enum action_kind kind, struct reconcile_item *v,
               size_t n, int (*cmp)(const void *, const void *))
{
    if (cmp && n > 1)
        qsort(v, n, sizeof(*v), cmp);
    for (size_t i = 0; i < n; i++) {
        out->actions[out->n].kind = kind;
        out->actions[out->n].name = v[i].o->name;
        out->n++;
    }
}

void
reconcile(const struct reconcile_desired *d, const struct observed *obs, size_t n,
          struct reconcile_result *out)
{
    /* One scratch list per action kind plus the active replicas; a domain
     * is in at most two of them (adopted, then reaped or deleted). */
    cleanup_free struct reconcile_item *release = xcalloc(n ? n : 1, sizeof(*release));
    cleanup_free struct reconcile_item *adopt = xcalloc(n ? n : 1, sizeof(*adopt));
    cleanup_free struct reconcile_item *reap = xcalloc(n ? n : 1, sizeof(*reap));
    cleanup_free struct reconcile_item *active = xcalloc(n ? n : 1, sizeof(*active));
    size_t nrelease = 0, nadopt = 0, nreap = 0, nactive = 0, ndelete = 0;
    /* A missing selector outside the removed case can only mean mismatch:
     * doing nothing is the safe reading. */
    bool mismatch = !d->removed && (d->selector_mismatch || !d->selector);
    int64_t want = d->replicas > 0 ? d->replicas : 0;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        const struct observed *o = &obs[i];
        struct reconcile_item it = {o, i};
        bool owned = reconcile_owned(d, o);

        /* Another VMIRS's replica is never ours to touch, whatever it
         * matches; a released one is only ours to adopt. */
        if (o->owner_uid && !owned)
            continue;
        /* A domain being deleted is on its way out: it gets no action (it
         * is never deleted twice, adopted or released) and is not counted,
         * so its replacement starts at once. */
        if (o->deleting)
            continue;
        if (!mismatch && !d->removed && o->labels) {
            bool matches = selector_matches(d->selector, o->labels);

            if (owned && !matches) {
                release[nrelease++] = it;
                continue;
            }
            if (!owned && matches) {
                adopt[nadopt++] = it;
                owned = true;
            }
        }
        if (!owned)
            continue;
        if (reconcile_is_final(o)) {
            reap[nreap++] = it;
            continue;
        }
        active[nactive++] = it;
        out->replicas++;
        if (reconcile_is_ready(o))
            out->ready_replicas++;
    }

    if (mismatch)
        return;
    /* KubeVirt neither scales nor cleans finished replicas while paused;
     * the removed VMIRS is past caring about pause and its selector. */
    if (d->paused && !d->removed)
        nreap = 0;
    if (d->removed)
        ndelete = nactive;
    else if (!d->paused && (int64_t) nactive > want)
        ndelete = nactive - (size_t) want;
    else if (!d->paused && (int64_t) nactive < want)
        out->create = (size_t) (want - (int64_t) nactive);

    if (nrelease + nadopt + nreap + ndelete > 0)
        out->actions = xcalloc(nrelease + nadopt + nreap + ndelete, sizeof(*out->actions));
    reconcile_emit(out, ACT_RELEASE, release, nrelease, reconcile_cmp_names);
    reconcile_emit(out, ACT_ADOPT, adopt, nadopt, reconcile_cmp_names);
    reconcile_emit(out, ACT_REAP, reap, nreap, reconcile_cmp_names);
    if (ndelete > 0) {
        /* Rank all active replicas and take the best victims from the front. */
        qsort(active, nactive, sizeof(*active), reconcile_cmp_victims);
        reconcile_emit(out, ACT_DELETE, active, ndelete, NULL);
    }
}

void
reconcile_result_free(struct reconcile_result *r)
{
    if (!r)
        return;
    free(r->actions);
    r->actions = NULL;
    r->n = 0;
}
