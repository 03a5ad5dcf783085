#include "config.h"

#include "plan.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

bool
plan_observes(const char *live_owner_uid, const char *replica_ns, const char *set_uid,
              const char *set_ns)
{
    if (live_owner_uid)
        return strcmp(live_owner_uid, set_uid) == 0;
    return strcmp(replica_ns, set_ns) == 0;
}

unsigned
plan_batch_allowed(unsigned *batch, unsigned wanted, unsigned inflight)
{
    if (wanted == 0 && inflight == 0)
        *batch = 1;
    return *batch > inflight ? *batch - inflight : 0;
}

unsigned
plan_batch_next(unsigned batch, bool failed)
{
    return failed ? 1 : batch * 2;
}

size_t
plan_slots(const bool *taken, size_t nslots, const struct backoff *slots, size_t nknown,
           int64_t now_ms, size_t want, unsigned *out, int64_t *retry_ms)
{
    size_t n = 0;

    *retry_ms = -1;
    for (size_t slot = 0; n < want && slot < nslots; slot++) {
        int64_t wait;

        if (taken[slot])
            continue;
        if (slot < nknown && !backoff_ready(&slots[slot], now_ms, &wait)) {
            if (*retry_ms < 0 || wait < *retry_ms)
                *retry_ms = wait;
            continue;
        }
        out[n++] = (unsigned) slot;
    }
    return n;
}

void
plan_conditions(const struct desired_file *f, const struct vmirs *spec, struct plan_conditions *out)
{
    *out = (struct plan_conditions){0};
    out->invalid = f && f->problem.errors > 0;
    out->paused = spec && spec->spec.paused.set && spec->spec.paused.v;
    out->mismatch = spec && spec->selector_mismatch;
    if (out->invalid) {
        const struct diag *d = NULL;

        for (size_t i = 0; i < f->problem.n && !d; i++)
            if (f->problem.v[i].severity == DIAG_ERROR)
                d = &f->problem.v[i];
        /* Escaped: a file name or message with a newline must not forge a
         * record in the log or in `vmirsctl events`. */
        cleanup_free char *file = log_escape_name(d ? d->file : f->path);
        cleanup_free char *msg = d ? log_escape_text(d->msg) : NULL;

        out->invalid_msg =
            d ? xasprintf("%s:%u:%u: %s; the last good content stays in force", file, d->line,
                          d->col, msg)
              : xasprintf("%s has errors; its last good content stays in force", file);
    }
}

void
plan_conditions_free(struct plan_conditions *pc)
{
    free(pc->invalid_msg);
    pc->invalid_msg = NULL;
}

unsigned
plan_host_port(unsigned lo, unsigned hi, unsigned *next, bool (*taken)(unsigned port, void *opaque),
               void *opaque)
{
    unsigned span = hi - lo + 1;

    for (unsigned k = 0; k < span; k++) {
        unsigned p = lo + (*next + k) % span;

        if (!taken(p, opaque)) {
            *next = p - lo + 1;
            return p;
        }
    }
    return 0;
}
