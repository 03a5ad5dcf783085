#include "config.h"

#define LOG_COMPONENT "loop"

#include <time.h>

#include "looplag.h"

#include <stdlib.h>

#include "util.h"

#include "log.h"

/* Lags below this are timer slack and scheduling, not work on the loop. */
#define LOOPLAG_REPORT_MIN_MS 10

struct looplag {
    uv_timer_t timer;
    uint64_t period_ns;
    uint64_t due_ns; /* when the timer should have run, uv_hrtime */
    uint64_t cpu_ns; /* the loop thread's CPU time at the last tick */
    uint64_t worst_ms;
};

/* The calling thread's CPU time. A late tick with the loop thread busy
 * for most of the delay is work on the loop; one with the thread idle is
 * the machine's scheduler (another process had the CPU), which no code
 * of vmirsd's can cause or cure. */
static uint64_t
thread_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t) ts.tv_sec * 1000000000 + (uint64_t) ts.tv_nsec;
}

/* uv_hrtime, not uv_now: the loop's cached time is taken once per
 * iteration, so a callback that ran long before this one would hide in
 * it. */
static void
on_tick(uv_timer_t *t)
{
    struct looplag *l = t->data;
    uint64_t now = uv_hrtime(), cpu = thread_cpu_ns();
    uint64_t lag_ms = now > l->due_ns ? (now - l->due_ns) / 1000000 : 0;
    uint64_t busy_ms = (cpu - l->cpu_ns) / 1000000;

    if (lag_ms > l->worst_ms)
        l->worst_ms = lag_ms;
    if (lag_ms >= LOOPLAG_REPORT_MIN_MS)
        log_debug("lag %llu ms, the loop thread busy %llu ms since the last tick (worst lag %llu "
                  "ms)",
                  (unsigned long long) lag_ms, (unsigned long long) busy_ms,
                  (unsigned long long) l->worst_ms);
    l->due_ns = now + l->period_ns;
    l->cpu_ns = cpu;
}

struct looplag *
looplag_start(uv_loop_t *loop, uint64_t period_ms)
{
    struct looplag *l = xcalloc(1, sizeof(*l));

    uv_timer_init(loop, &l->timer);
    l->timer.data = l;
    l->period_ns = period_ms * 1000000;
    l->due_ns = uv_hrtime() + l->period_ns;
    l->cpu_ns = thread_cpu_ns();
    uv_timer_start(&l->timer, on_tick, period_ms, period_ms);
    return l;
}

uint64_t
looplag_worst_ms(const struct looplag *l)
{
    return l->worst_ms;
}

static void
on_closed(uv_handle_t *h)
{
    free(h->data);
}

void
looplag_stop(struct looplag *l)
{
    if (l)
        uv_close((uv_handle_t *) &l->timer, on_closed);
}
