/* The model's free functions release everything the schemas filled in,
 * and a second call is harmless (teardown must be idempotent). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"
#include "manifest_helpers.h"

static const char *const full =
    "apiVersion: v1\nkind: Secret\nmetadata: {name: s, labels: {a: b}}\n"
    "data: {k: dmFsdWU=}\nstringData: {p: q}\n"
    "---\n"
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {x: yes-really}\nbinaryData: {z: "
    "AA==}\n"
    "---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: svc}\n"
    "spec: {selector: {app: web}, ports: [{port: 80, targetPort: http}]}\n"
    "---\n"
    "apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstanceReplicaSet\nmetadata: {name: web}\n"
    "spec:\n"
    "  selector: {matchExpressions: [{key: app, operator: In, values: [web]}]}\n"
    "  template:\n"
    "    metadata: {labels: {app: web}}\n"
    "    spec:\n"
    "      domain:\n"
    "        memory: {guest: 64Mi}\n"
    "        firmware: {bootloader: {efi: {}}}\n"
    "        devices:\n"
    "          disks: [{name: d, cdrom: {bus: sata}}]\n"
    "          interfaces: [{name: net, masquerade: {}, ports: [{name: http, port: 80}]}]\n"
    "      networks: [{name: net, pod: {}}]\n"
    "      readinessProbe: {exec: {command: [cat, /ready]}}\n"
    "      livenessProbe: {httpGet: {port: http, httpHeaders: [{name: X, value: why}]}}\n"
    "      volumes: [{name: d, cloudInitNoCloud: {userData: hi}}]\n";

static void
test_free_twice(void **state)
{
    struct manifest_file mf;
    char *out = parse_text(&mf, full);

    assert_string_equal(out, "");
    assert_int_equal(mf.nobjs, 4);
    for (size_t i = 0; i < mf.nobjs; i++) {
        struct kobj *o = &mf.objs[i];

        /* Each free leaves the struct empty, so the file's own free is a no-op on it. */
        switch (o->kind) {
        case KOBJ_VMIRS:
            model_vmirs_free(o->u.vmirs);
            assert_null(o->u.vmirs->spec.template);
            assert_int_equal(o->u.vmirs->selector.exprs.n, 0);
            break;
        case KOBJ_SECRET:
            model_secret_free(o->u.secret);
            assert_int_equal(o->u.secret->items.n, 0);
            break;
        case KOBJ_CONFIG_MAP:
            model_config_map_free(o->u.config_map);
            assert_int_equal(o->u.config_map->data.n, 0);
            break;
        case KOBJ_SERVICE:
            model_service_free(o->u.service);
            assert_int_equal(o->u.service->spec.ports.n, 0);
            break;
        }
    }
    manifest_file_free(&mf);
    manifest_file_free(&mf);
    model_vmirs_free(NULL);
    free(out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_free_twice),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
