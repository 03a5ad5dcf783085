#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include "probe.h"
#include "util.h"

#define S 1000

/* Kubernetes' defaults: delay 0, period 10 s, timeout 1 s, thresholds 1
 * and 3; a value below 1 means the default. */
static void
test_defaults(void **state)
{
    struct probe p = {.guest_agent_ping = &(struct empty_action){0}};
    struct probe_timing t;

    probe_timing_of(&p, &t);
    assert_int_equal(t.initial_delay_ms, 0);
    assert_int_equal(t.period_ms, 10 * S);
    assert_int_equal(t.timeout_ms, 1 * S);
    assert_int_equal(t.success_threshold, 1);
    assert_int_equal(t.failure_threshold, 3);
    p.period_seconds = (struct opt_int){true, 0};
    p.initial_delay_seconds = (struct opt_int){true, 15};
    p.timeout_seconds = (struct opt_int){true, 5};
    p.success_threshold = (struct opt_int){true, 2};
    p.failure_threshold = (struct opt_int){true, 1};
    probe_timing_of(&p, &t);
    assert_int_equal(t.initial_delay_ms, 15 * S);
    assert_int_equal(t.period_ms, 10 * S);
    assert_int_equal(t.timeout_ms, 5 * S);
    assert_int_equal(t.success_threshold, 2);
    assert_int_equal(t.failure_threshold, 1);
}

static void
test_kind(void **state)
{
    struct exec_action e = {0};
    struct tcp_action tcp = {0};

    assert_int_equal(probe_kind_of(NULL), PROBE_NONE);
    assert_int_equal(probe_kind_of(&(struct probe){0}), PROBE_NONE);
    assert_int_equal(probe_kind_of(&(struct probe){.exec = &e}), PROBE_EXEC);
    assert_int_equal(probe_kind_of(&(struct probe){.tcp_socket = &tcp}), PROBE_TCP);
}

/* Readiness starts false; successThreshold successes in a row make it
 * true, failureThreshold failures in a row false again; a single
 * different outcome resets the other count. */
static void
test_readiness_thresholds(void **state)
{
    struct probe_timing t = {.initial_delay_ms = 5 * S,
                             .period_ms = 10 * S,
                             .timeout_ms = S,
                             .success_threshold = 2,
                             .failure_threshold = 3};
    struct probe_state st;
    static const struct {
        bool ok, changed, result;
    } steps[] = {
        {true, false, false}, {false, false, false}, {true, false, false}, {true, true, true},
        {false, false, true}, {false, false, true},  {true, false, true},  {false, false, true},
        {false, false, true}, {false, true, false},
    };
    int64_t now = 100 * S;

    probe_start(&st, &t, false, now);
    assert_false(st.result);
    assert_int_equal(st.next_ms, now + 5 * S);
    for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
        now += 10 * S;
        st.running = true;
        if (probe_record(&st, &t, steps[i].ok, now) != steps[i].changed ||
            st.result != steps[i].result)
            fail_msg("step %zu: changed %d result %d", i, !steps[i].changed, st.result);
        assert_false(st.running);
        assert_int_equal(st.next_ms, now + 10 * S);
    }
}

/* Liveness starts true and turns false after failureThreshold failures. */
static void
test_liveness(void **state)
{
    struct probe_timing t = {
        .period_ms = S, .timeout_ms = S, .success_threshold = 1, .failure_threshold = 2};
    struct probe_state st;

    probe_start(&st, &t, true, 0);
    assert_true(st.result);
    assert_int_equal(st.next_ms, 0);
    assert_false(probe_record(&st, &t, false, 1 * S));
    assert_true(st.result);
    assert_true(probe_record(&st, &t, false, 2 * S));
    assert_false(st.result);
}

/* An exec probe's command is copied, so the spec may go meanwhile. */
static void
test_action_copy(void **state)
{
    char *argv[] = {"cat", "/tmp/healthy"};
    struct exec_action e = {.command = {.v = argv, .n = 2}};
    struct probe p = {.exec = &e, .period_seconds = {true, 3}};
    struct probe_action a;

    probe_action_of(&p, &a);
    assert_int_equal(a.kind, PROBE_EXEC);
    assert_int_equal(a.argc, 2);
    assert_string_equal(a.argv[1], "/tmp/healthy");
    assert_ptr_not_equal(a.argv[1], argv[1]);
    assert_int_equal(a.t.period_ms, 3 * S);
    probe_action_free(&a);
    assert_null(a.argv);
    probe_action_free(&a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_kind),
        cmocka_unit_test(test_readiness_thresholds),
        cmocka_unit_test(test_liveness),
        cmocka_unit_test(test_action_copy),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
