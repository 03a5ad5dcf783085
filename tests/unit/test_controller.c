/* The controller's reading of libvirt's state and reason (SPEC section 3):
 * what counts as running, what is a failed replica to replace. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include <libvirt/libvirt.h>

#include "reconcile.h"
#include "util.h"

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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phases),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
