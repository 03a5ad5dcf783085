#include "config.h"

#include "backoff.h"

#include <limits.h>

/* Whether a replica that started at started_ms had lasted long enough by
 * now_ms to count as a real run rather than part of a crash loop. Written
 * without subtracting first so that no pair of times can overflow. */
static bool
backoff_long_run(int64_t started_ms, int64_t now_ms)
{
    int64_t d;

    if (__builtin_sub_overflow(now_ms, started_ms, &d))
        return started_ms < 0; /* now far after a very early start */
    return d >= BACKOFF_HEALTHY_MS;
}

int64_t
backoff_doubled(unsigned steps, int64_t min_ms, int64_t max_ms)
{
    int64_t d = min_ms;

    /* Stops at the cap, so no doubling can overflow however many steps. */
    for (unsigned i = 0; i < steps && d < max_ms; i++)
        d *= 2;
    return d < max_ms ? d : max_ms;
}

/* The wait after the given number of consecutive failures (at least 1):
 * none after the first, then BACKOFF_MIN_MS doubled each time, capped. */
static int64_t
backoff_delay_ms(unsigned failures)
{
    return failures <= 1 ? 0 : backoff_doubled(failures - 2, BACKOFF_MIN_MS, BACKOFF_MAX_MS);
}

void
backoff_failed(struct backoff *b, int64_t started_ms, int64_t now_ms)
{
    /* A replica that ran healthily and then failed is a new incident, not
     * the next step of a crash loop: replaced at once. */
    if (started_ms != 0 && backoff_long_run(started_ms, now_ms))
        b->failures = 1;
    else if (b->failures < UINT_MAX)
        b->failures++;
    if (__builtin_add_overflow(now_ms, backoff_delay_ms(b->failures), &b->not_before_ms))
        b->not_before_ms = INT64_MAX;
}

void
backoff_running(struct backoff *b, int64_t started_ms, int64_t now_ms)
{
    if (!backoff_long_run(started_ms, now_ms))
        return;
    b->failures = 0;
    b->not_before_ms = 0;
}

bool
backoff_ready(const struct backoff *b, int64_t now_ms, int64_t *wait_ms)
{
    int64_t w = 0;
    bool ready = now_ms >= b->not_before_ms;

    if (!ready && __builtin_sub_overflow(b->not_before_ms, now_ms, &w))
        w = INT64_MAX;
    if (wait_ms)
        *wait_ms = w;
    return ready;
}
