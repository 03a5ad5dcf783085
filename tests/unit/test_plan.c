/* The pass's pure decisions (src/plan.c), as tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include <string.h>

#include "plan.h"
#include "util.h"

/* A set looks at its own replicas, and at ownerless ones of its
 * namespace (which it may adopt); never at another live set's. */
static void
test_observes(void **state)
{
    static const struct {
        const char *owner, *ns, *set_uid, *set_ns;
        bool want;
    } cases[] = {
        {"u1", "default", "u1", "default", true},  /* its own */
        {"u2", "default", "u1", "default", false}, /* another live set's */
        {"u1", "other", "u1", "default", true},    /* its own, whatever the name says */
        {NULL, "default", "u1", "default", true},  /* ownerless, same namespace */
        {NULL, "other", "u1", "default", false},   /* ownerless, elsewhere */
    };

    (void) state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        if (plan_observes(cases[i].owner, cases[i].ns, cases[i].set_uid, cases[i].set_ns) !=
            cases[i].want)
            fail_msg("case %zu: want %d", i, cases[i].want);
}

/* Slow start over a burst of 20: batches of 1, 2, 4, 8, then what is
 * left; a failure starts over at 1; an idle set starts at 1 again. */
static void
test_batches(void **state)
{
    static const struct {
        unsigned batch, wanted, inflight;
        unsigned want_allowed, want_batch;
    } cases[] = {
        {1, 20, 0, 1, 1},   {2, 19, 0, 2, 2}, {4, 17, 0, 4, 4},
        {8, 13, 0, 8, 8},   {8, 13, 5, 3, 8}, /* a batch runs to its end before the next */
        {8, 13, 8, 0, 8},   {16, 0, 0, 1, 1}, /* nothing wanted, nothing running */
        {16, 0, 3, 13, 16},                   /* deletes only: the batch is kept */
    };

    (void) state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        unsigned batch = cases[i].batch;
        unsigned allowed = plan_batch_allowed(&batch, cases[i].wanted, cases[i].inflight);

        if (allowed != cases[i].want_allowed || batch != cases[i].want_batch)
            fail_msg("case %zu: allowed %u batch %u, want %u and %u", i, allowed, batch,
                     cases[i].want_allowed, cases[i].want_batch);
    }
    assert_int_equal(plan_batch_next(1, false), 2);
    assert_int_equal(plan_batch_next(8, false), 16);
    assert_int_equal(plan_batch_next(8, true), 1);
}

/* Free slots, lowest first, skipping taken ones and those whose back-off
 * has not run out; the earliest retry is reported. */
static void
test_slots(void **state)
{
    static const int64_t now = 100000;
    const bool taken[6] = {true, false, false, true, false, false};
    /* Slot 1 may try in 3 s, slot 2 in 1 s; 4 is ready; 5 never failed. */
    const struct backoff slots[5] = {
        {0, 0}, {2, now + 3000}, {1, now + 1000}, {0, 0}, {1, now - 1},
    };
    static const struct {
        size_t want;
        size_t n;
        unsigned chosen[3];
        int64_t retry;
    } cases[] = {
        {0, 0, {0}, -1},
        {1, 1, {4}, 1000}, /* 1 and 2 backed off on the way */
        {2, 2, {4, 5}, 1000},
        {3, 2, {4, 5}, 1000}, /* only two may start */
    };

    (void) state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        unsigned out[6];
        int64_t retry;
        size_t n = plan_slots(taken, 6, slots, 5, now, cases[i].want, out, &retry);

        if (n != cases[i].n || retry != cases[i].retry ||
            memcmp(out, cases[i].chosen, n * sizeof(*out)) != 0)
            fail_msg("case %zu: %zu chosen (first %u), retry %jd; want %zu and %jd", i, n,
                     n ? out[0] : 0, (intmax_t) retry, cases[i].n, (intmax_t) cases[i].retry);
    }
}

/* ManifestInvalid names the first error and escapes what it quotes;
 * paused and mismatch follow the spec; a removed set has neither. */
static void
test_conditions(void **state)
{
    struct desired_file f = {.path = "/etc/vmirs.d/web.yaml"};
    struct vmirs spec = {0};
    struct plan_conditions pc;

    (void) state;
    plan_conditions(NULL, NULL, &pc);
    assert_false(pc.invalid || pc.paused || pc.mismatch);
    assert_null(pc.invalid_msg);

    diag_add(&f.problem, "/etc/vmirs.d/web.yaml", 3, 5, DIAG_WARNING, "a warning first");
    diag_add(&f.problem, "/etc/vmirs.d/web.yaml", 7, 9, DIAG_ERROR, "bad\nvalue");
    spec.spec.paused = (struct opt_bool){true, true};
    spec.selector_mismatch = true;
    plan_conditions(&f, &spec, &pc);
    assert_true(pc.invalid && pc.paused && pc.mismatch);
    assert_string_equal(pc.invalid_msg, "/etc/vmirs.d/web.yaml:7:9: bad\\nvalue; the last good "
                                        "content stays in force");
    plan_conditions_free(&pc);

    spec.spec.paused = (struct opt_bool){true, false};
    spec.selector_mismatch = false;
    plan_conditions(NULL, &spec, &pc);
    assert_false(pc.invalid || pc.paused || pc.mismatch);
    diag_list_clear(&f.problem);
}

static bool
port_in(unsigned port, void *opaque)
{
    const unsigned *taken = opaque;

    for (size_t i = 0; taken[i]; i++)
        if (taken[i] == port)
            return true;
    return false;
}

/* Round the range from where the last search ended; 0 when it is full. */
static void
test_host_port(void **state)
{
    unsigned none[] = {0}, some[] = {10001, 10002, 0}, all[] = {10000, 10001, 10002, 10003, 0};
    unsigned next = 0;

    (void) state;
    assert_int_equal(plan_host_port(10000, 10003, &next, port_in, none), 10000);
    assert_int_equal(next, 1);
    assert_int_equal(plan_host_port(10000, 10003, &next, port_in, some), 10003);
    assert_int_equal(next, 4);
    /* Wraps round to the start. */
    assert_int_equal(plan_host_port(10000, 10003, &next, port_in, some), 10000);
    assert_int_equal(plan_host_port(10000, 10003, &next, port_in, all), 0);
    assert_int_equal(next, 1); /* unchanged when nothing is free */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_observes),  cmocka_unit_test(test_batches),
        cmocka_unit_test(test_slots),     cmocka_unit_test(test_conditions),
        cmocka_unit_test(test_host_port),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
