/* Replica names and UUIDs with a fake random source. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"
#include "manifest_helpers.h"

#include "names.h"

static void
test_vmi_name(void **state)
{
    unsigned next = 0;
    char *n = names_vmi_name("test", counting_rng, &next);

    /* Bytes 0..4 pick the first five symbols of the alphabet. */
    assert_string_equal(n, "testbcdfg");
    free(n);
    next = 26;
    n = names_vmi_name("web-", counting_rng, &next);
    /* 26 -> '9', 27 wraps to 'b'. */
    assert_string_equal(n, "web-9bcdf");
    free(n);
}

static void
test_system_rng_names_differ(void **state)
{
    char *a = names_vmi_name("x", names_rng_system, NULL);
    char *b = names_vmi_name("x", names_rng_system, NULL);

    assert_int_equal(strlen(a), 6);
    assert_true(strspn(a + 1, "bcdfghjklmnpqrstvwxz2456789") == 5);
    /* 27^5 = 14 million names: two draws collide once in 14 million runs. */
    assert_string_not_equal(a, b);
    free(a);
    free(b);
}

static void
test_vmi_base(void **state)
{
    struct manifest_file mf;
    char *out;
    char *base;

    out = parse_text(
        &mf, "apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstanceReplicaSet\n"
             "metadata: {name: a-very-long-replica-set-name-that-goes-on-and-on-beyond-the-limit}\n"
             "spec:\n  selector: {matchLabels: {app: web}}\n"
             "  template:\n    metadata: {labels: {app: web}}\n"
             "    spec: {domain: {devices: {}, memory: {guest: 64Mi}}}\n");
    assert_string_equal(out, "");
    base = names_vmi_base(first_vmirs(&mf));
    /* Cut to 58 characters, no dash added: the suffix follows directly. */
    assert_string_equal(base, "a-very-long-replica-set-name-that-goes-on-and-on-beyond-th");
    assert_int_equal(strlen(base), 58);
    free(base);
    manifest_file_free(&mf);
    free(out);

    out = parse_text(&mf, "apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstanceReplicaSet\n"
                          "metadata: {name: web}\n"
                          "spec:\n  selector: {matchLabels: {app: web}}\n"
                          "  template:\n    metadata: {generateName: front-, labels: {app: web}}\n"
                          "    spec: {domain: {devices: {}, memory: {guest: 64Mi}}}\n");
    base = names_vmi_base(first_vmirs(&mf));
    assert_string_equal(base, "front-");
    free(base);
    manifest_file_free(&mf);
    free(out);
}

static void
test_domain_name_and_uuid(void **state)
{
    unsigned next = 0;
    char u[37];
    char *d = names_domain_name("default", "testh8998");

    assert_string_equal(d, "default_testh8998");
    free(d);
    names_uuid(u, counting_rng, &next);
    /* Version 4 and the RFC 4122 variant are forced into bytes 6 and 8. */
    assert_string_equal(u, "00010203-0405-4607-8809-0a0b0c0d0e0f");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vmi_name),
        cmocka_unit_test(test_system_rng_names_differ),
        cmocka_unit_test(test_vmi_base),
        cmocka_unit_test(test_domain_name_and_uuid),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
