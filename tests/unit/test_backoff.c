#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include <limits.h>

#include "backoff.h"
#include "util.h"

#define S 1000
#define MIN (60 * S)
#define NOW ((int64_t) 1700000000000) /* a wall-clock time in ms */

/* A slot that keeps failing right after each create: at once, then 1 s,
 * 2 s, 4 s... doubling up to the 5 min cap, and staying there. */
static void
test_sequence(void **state)
{
    static const int64_t want[] = {
        0,      1 * S,   2 * S,   4 * S,   8 * S,   16 * S,  32 * S,
        64 * S, 128 * S, 256 * S, 300 * S, 300 * S, 300 * S, 300 * S,
    };
    struct backoff b = {0};
    int64_t now = NOW, wait;

    assert_true(backoff_ready(&b, now, &wait));
    assert_int_equal(wait, 0);
    for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
        /* The create is retried the moment the backoff allows it, runs
         * for 500 ms and fails again. */
        int64_t started = now;

        now += 500;
        backoff_failed(&b, started, now);
        if (b.failures != i + 1 || b.not_before_ms - now != want[i])
            fail_msg("failure %zu: failures %u delay %jd, want %zu and %jd", i + 1, b.failures,
                     (intmax_t) (b.not_before_ms - now), i + 1, (intmax_t) want[i]);
        if (want[i] == 0) {
            assert_true(backoff_ready(&b, now, &wait));
            assert_int_equal(wait, 0);
            continue;
        }
        assert_false(backoff_ready(&b, now, &wait));
        assert_int_equal(wait, want[i]);
        assert_false(backoff_ready(&b, b.not_before_ms - 1, &wait));
        assert_int_equal(wait, 1);
        now = b.not_before_ms;
        assert_true(backoff_ready(&b, now, &wait));
        assert_int_equal(wait, 0);
    }
}

struct failed_case {
    const char *title;
    unsigned failures;  /* before */
    int64_t started_ms; /* relative to NOW; INT64_MIN: 0, never started */
    unsigned want_failures;
    int64_t want_delay_ms; /* not_before - NOW */
};

#define NEVER INT64_MIN

static const struct failed_case failed_cases[] = {
    {"first failure, create failed: at once", 0, NEVER, 1, 0},
    {"first failure, ran 1 s: at once", 0, -1 * S, 1, 0},
    {"second failure", 1, -1 * S, 2, 1 * S},
    {"third failure", 2, -1 * S, 3, 2 * S},
    {"fifth failure", 4, NEVER, 5, 8 * S},
    {"tenth failure: 256 s", 9, NEVER, 10, 256 * S},
    {"eleventh failure: capped at 300 s", 10, NEVER, 11, 300 * S},
    {"many failures: the shift cannot overflow", 63, NEVER, 64, 300 * S},
    {"shift width exceeded", 1000, NEVER, 1001, 300 * S},
    {"count saturates", UINT_MAX - 1, NEVER, UINT_MAX, 300 * S},
    {"count stays saturated", UINT_MAX, NEVER, UINT_MAX, 300 * S},
    /* A replica that ran healthily (10 s) was not crash-looping: a crash
     * after a long healthy run is replaced at once. */
    {"ran just under 10 s: the loop goes on", 5, -(10 * S - 1), 6, 16 * S},
    {"ran exactly 10 s: replaced at once", 5, -10 * S, 1, 0},
    {"ran an hour: replaced at once", 12, -60 * MIN, 1, 0},
    {"ran long after no failures at all", 0, -60 * MIN, 1, 0},
    {"start time after now (clock step): the loop goes on", 2, 5 * S, 3, 2 * S},
};

static void
test_failed(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(failed_cases); i++) {
        const struct failed_case *c = &failed_cases[i];
        struct backoff b = {.failures = c->failures, .not_before_ms = NOW - 1};
        int64_t started = c->started_ms == NEVER ? 0 : NOW + c->started_ms;

        backoff_failed(&b, started, NOW);
        if (b.failures != c->want_failures || b.not_before_ms != NOW + c->want_delay_ms)
            fail_msg("%s: failures %u delay %jd, want %u and %jd", c->title, b.failures,
                     (intmax_t) (b.not_before_ms - NOW), c->want_failures,
                     (intmax_t) c->want_delay_ms);
    }
}

struct running_case {
    const char *title;
    unsigned failures;
    int64_t not_before_ms; /* relative to NOW */
    int64_t started_ms;    /* relative to NOW */
    bool want_reset;
};

static const struct running_case running_cases[] = {
    {"just started", 7, 60 * S, 0, false},         {"up 9.999 s", 7, 60 * S, -(10 * S - 1), false},
    {"up exactly 10 s", 7, 60 * S, -10 * S, true}, {"up an hour", 3, -5 * S, -60 * MIN, true},
    {"nothing to forget", 0, 0, -60 * MIN, true},
};

static void
test_running(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(running_cases); i++) {
        const struct running_case *c = &running_cases[i];
        struct backoff b = {.failures = c->failures,
                            .not_before_ms = c->not_before_ms ? NOW + c->not_before_ms : 0};
        struct backoff want = b;

        if (c->want_reset)
            want = (struct backoff){0, 0};
        backoff_running(&b, NOW + c->started_ms, NOW);
        if (b.failures != want.failures || b.not_before_ms != want.not_before_ms)
            fail_msg("%s: {%u, %jd}, want {%u, %jd}", c->title, b.failures,
                     (intmax_t) b.not_before_ms, want.failures, (intmax_t) want.not_before_ms);
    }
}

/* After a long run, the next failure starts the sequence again. */
static void
test_reset_then_fail(void **state)
{
    struct backoff b = {0};
    int64_t now = NOW;

    for (int i = 0; i < 6; i++) {
        backoff_failed(&b, 0, now);
        now = b.not_before_ms;
    }
    assert_int_equal(b.failures, 6);
    backoff_running(&b, now, now + 10 * S);
    assert_int_equal(b.failures, 0);
    assert_int_equal(b.not_before_ms, 0);
    backoff_failed(&b, now, now + 11 * MIN);
    assert_int_equal(b.failures, 1);
    assert_int_equal(b.not_before_ms, now + 11 * MIN);
    /* Its replacement dies at once: now it backs off. */
    backoff_failed(&b, now + 11 * MIN, now + 11 * MIN + 500);
    assert_int_equal(b.failures, 2);
    assert_int_equal(b.not_before_ms, now + 11 * MIN + 500 + 1 * S);
}

struct ready_case {
    const char *title;
    int64_t not_before_ms;
    int64_t now_ms;
    bool want;
    int64_t want_wait_ms;
};

static const struct ready_case ready_cases[] = {
    {"never failed", 0, NOW, true, 0},
    {"never failed, time 0", 0, 0, true, 0},
    {"well before", NOW + 300 * S, NOW, false, 300 * S},
    {"1 ms before", NOW + 1, NOW, false, 1},
    {"at the time", NOW, NOW, true, 0},
    {"after the time", NOW, NOW + 5 * S, true, 0},
    {"saturated not_before", INT64_MAX, NOW, false, INT64_MAX - NOW},
    {"wait does not overflow", INT64_MAX, INT64_MIN, false, INT64_MAX},
};

static void
test_ready(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(ready_cases); i++) {
        const struct ready_case *c = &ready_cases[i];
        struct backoff b = {.failures = 1, .not_before_ms = c->not_before_ms};
        int64_t wait = -42;
        bool got = backoff_ready(&b, c->now_ms, &wait);

        if (got != c->want || wait != c->want_wait_ms)
            fail_msg("%s: %d wait %jd, want %d wait %jd", c->title, got, (intmax_t) wait, c->want,
                     (intmax_t) c->want_wait_ms);
        /* wait_ms is optional. */
        assert_int_equal(backoff_ready(&b, c->now_ms, NULL), c->want);
    }
}

/* Extreme times must not overflow (UBSan checks the arithmetic). */
static void
test_extreme_times(void **state)
{
    struct backoff b = {.failures = 9};

    backoff_failed(&b, 0, INT64_MAX - 10);
    assert_int_equal(b.failures, 10);
    assert_true(b.not_before_ms == INT64_MAX);

    /* now - started overflows upwards: a very long run. */
    b = (struct backoff){.failures = 4};
    backoff_failed(&b, INT64_MIN + 1, INT64_MAX);
    assert_int_equal(b.failures, 1);
    backoff_running(&b, INT64_MIN + 1, INT64_MAX);
    assert_int_equal(b.failures, 0);

    /* now - started overflows downwards: no run at all. */
    b = (struct backoff){.failures = 4, .not_before_ms = 7};
    backoff_running(&b, INT64_MAX, INT64_MIN);
    assert_int_equal(b.failures, 4);
    assert_int_equal(b.not_before_ms, 7);
    backoff_failed(&b, INT64_MAX, INT64_MIN);
    assert_int_equal(b.failures, 5);
    assert_true(b.not_before_ms == INT64_MIN + 8 * S);
}

/* The shared doubling rule: min, doubled per step, held at the cap, and
 * no overflow however many steps. */
static void
test_doubled(void **state)
{
    static const struct {
        unsigned steps;
        int64_t want;
    } cases[] = {{0, 500}, {1, 1000}, {2, 2000}, {3, 2000}, {UINT_MAX, 2000}};

    (void) state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        if (backoff_doubled(cases[i].steps, 500, 2000) != cases[i].want)
            fail_msg("%u steps: want %jd", cases[i].steps, (intmax_t) cases[i].want);
    assert_int_equal(backoff_doubled(UINT_MAX, 1, INT64_MAX / 2 + 1), INT64_MAX / 2 + 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequence),        cmocka_unit_test(test_doubled),
        cmocka_unit_test(test_failed),          cmocka_unit_test(test_running),
        cmocka_unit_test(test_reset_then_fail), cmocka_unit_test(test_ready),
        cmocka_unit_test(test_extreme_times),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
