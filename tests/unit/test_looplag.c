/* The loop-lag monitor: a callback that holds the loop shows as lag at
 * least as long, and the monitor closes cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include <uv.h>

#include "looplag.h"

#define HOLD_MS 120

static struct looplag *lag;
static uv_timer_t hold, end;

/* Work on the loop that takes HOLD_MS (a parse, a slow lock...). */
static void
on_hold(uv_timer_t *t)
{
    uint64_t until = uv_hrtime() + (uint64_t) HOLD_MS * 1000000;

    while (uv_hrtime() < until)
        ;
}

static void
on_end(uv_timer_t *t)
{
    looplag_stop(lag);
    uv_close((uv_handle_t *) &hold, NULL);
    uv_close((uv_handle_t *) &end, NULL);
}

static void
test_held_loop_shows_lag(void **state)
{
    uv_loop_t loop;
    uint64_t worst;

    assert_int_equal(uv_loop_init(&loop), 0);
    lag = looplag_start(&loop, 10);
    uv_timer_init(&loop, &hold);
    uv_timer_init(&loop, &end);
    uv_timer_start(&hold, on_hold, 30, 0);
    uv_timer_start(&end, on_end, 30 + HOLD_MS + 100, 0);
    /* Read before the close callback frees it. */
    while (uv_run(&loop, UV_RUN_ONCE) && uv_is_active((uv_handle_t *) &end))
        ;
    worst = looplag_worst_ms(lag);
    uv_run(&loop, UV_RUN_DEFAULT);
    /* The tick due during the hold ran at most one period early of its end. */
    if (worst < HOLD_MS - 10)
        fail_msg("worst lag %llu ms, want at least %d", (unsigned long long) worst, HOLD_MS - 10);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_held_loop_shows_lag),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
