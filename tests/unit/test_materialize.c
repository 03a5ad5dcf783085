/* One replica from a template: its files, its domain XML with KubeVirt's
 * defaults, cleanup on failure, and libvirt accepting the result. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"
#include "manifest_helpers.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "materialize.h"
#include "seediso.h"
#include "util.h"

static const char *const manifest =
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {greeting: hello}\nbinaryData: "
    "{blob: AAEC}\n"
    "---\n"
    "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {token: s3cr3t}\n"
    "---\n"
    "apiVersion: kubevirt.io/v1\n"
    "kind: VirtualMachineInstanceReplicaSet\n"
    "metadata: {name: web}\n"
    "spec:\n"
    "  replicas: 2\n"
    "  selector: {matchLabels: {app: web}}\n"
    "  template:\n"
    "    metadata: {name: front, labels: {app: web}}\n"
    "    spec:\n"
    "      domain:\n"
    "        resources: {requests: {memory: 128Mi, cpu: 1500m}}\n"
    "        devices:\n"
    "          disks:\n"
    "          - {name: root, disk: {bus: virtio}, bootOrder: 1}\n"
    "          - {name: seed, cdrom: {}}\n"
    "          - {name: scratch, disk: {bus: virtio}}\n"
    "          - {name: cfg, disk: {bus: scsi}, serial: CFG}\n"
    "      volumes:\n"
    "      - {name: root, ephemeral: {persistentVolumeClaim: {claimName: base.qcow2}}}\n"
    "      - {name: seed, cloudInitNoCloud: {userData: \"#!/bin/sh\\necho hi\\n\"}}\n"
    "      - {name: scratch, emptyDisk: {capacity: 64Mi}}\n"
    "      - {name: cfg, configMap: {name: app}}\n"
    "      - {name: creds, secret: {secretName: creds, volumeLabel: creds}}\n";

static struct {
    char *tmp;
    struct vmirs_conf conf;
    struct manifest_file mf;
    char *out;
} g;

static const struct config_map *
cm(void *opaque, const char *ns, const char *name)
{
    for (size_t i = 0; i < g.mf.nobjs; i++)
        if (g.mf.objs[i].kind == KOBJ_CONFIG_MAP && streq0(g.mf.objs[i].name, name))
            return g.mf.objs[i].u.config_map;
    return NULL;
}

static const struct secret *
secret(void *opaque, const char *ns, const char *name)
{
    for (size_t i = 0; i < g.mf.nobjs; i++)
        if (g.mf.objs[i].kind == KOBJ_SECRET && streq0(g.mf.objs[i].name, name))
            return g.mf.objs[i].u.secret;
    return NULL;
}

static int
setup(void **state)
{
    struct diag_list d = {0};
    char *conf = NULL, *cmd = NULL;

    g.tmp = tmpdir_make();
    conf = xasprintf("state_dir = %s/state\nimage_dir = %s/images\nclaim_dir = %s/claims\n"
                     "libvirt_uri = test:///default\n",
                     g.tmp, g.tmp, g.tmp);
    free(write_tmpfile(g.tmp, "vmirsd.conf", conf));
    free(conf);
    conf = xasprintf("%s/vmirsd.conf", g.tmp);
    assert_int_equal(conf_load(&g.conf, conf, false, &d), 0);
    free(conf);
    cmd = xasprintf("mkdir -p %s/claims && qemu-img create -q -f qcow2 %s/claims/base.qcow2 16M",
                    g.tmp, g.tmp);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    g.out = parse_text(&g.mf, manifest);
    assert_string_equal(g.out, "");
    return 0;
}

static int
teardown(void **state)
{
    manifest_file_free(&g.mf);
    free(g.out);
    conf_free(&g.conf);
    tmpdir_remove(g.tmp);
    seediso_finish();
    return 0;
}

static void
test_identity(void **state)
{
    unsigned next = 0;
    struct replica_id id;
    char *uid;

    replica_id_new(&id, first_vmirs(&g.mf), counting_rng, &next);
    assert_string_equal(id.vmi_name, "frontbcdfg");
    assert_string_equal(id.domain_name, "default_frontbcdfg");
    assert_string_equal(id.vmi_uid, "05060708-090a-4b0c-8d0e-0f1011121314");
    assert_string_equal(id.firmware_uuid, "15161718-191a-4b1c-9d1e-1f2021222324");
    assert_string_equal(id.template_hash, first_vmirs(&g.mf)->template_hash);
    /* The VMIRS uid is derived from its name: the same after a restart. */
    uid = materialize_vmirs_uid(first_vmirs(&g.mf));
    assert_string_equal(id.vmirs_uid, uid);
    assert_int_equal(strlen(uid), 36);
    assert_int_equal(uid[14], '5');
    free(uid);
    replica_id_free(&id);
}

static void
test_files_and_xml(void **state)
{
    unsigned next = 0;
    struct replica_id id;
    struct vmirs_err *err = NULL;
    struct materialize_objects objs = {.config_map = cm, .secret = secret};
    char *xml = NULL, *dir, *path, *cmd, *data = NULL;
    struct stat st;

    replica_id_new(&id, first_vmirs(&g.mf), counting_rng, &next);
    if (materialize_replica(&g.conf, "test", first_vmirs(&g.mf), &objs, &id, &xml, &err) < 0)
        fail_msg("%s", err->msg);
    dir = xasprintf("%s/state/replicas/default_frontbcdfg", g.tmp);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0711);

    /* The ephemeral overlay is backed by the claim, read-only. */
    cmd = xasprintf("qemu-img info %s/root.qcow2 | grep -q 'backing file: %s/claims/base.qcow2'",
                    dir, g.tmp);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    /* The empty disk has the capacity asked for. */
    cmd = xasprintf("qemu-img info %s/scratch.qcow2 | grep -q 'virtual size: 64 MiB'", dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    path = xasprintf("%s/seed.iso", dir);
    assert_int_equal(stat(path, &st), 0);
    free(path);

    /* KubeVirt's targets: virtio disks vda, vdb; sata and scsi share sd*. */
    assert_non_null(strstr(xml, "<target dev=\"vda\" bus=\"virtio\"/>"));
    assert_non_null(strstr(xml, "<target dev=\"sda\" bus=\"sata\"/>"));
    assert_non_null(strstr(xml, "<target dev=\"vdb\" bus=\"virtio\"/>"));
    assert_non_null(strstr(xml, "<target dev=\"sdb\" bus=\"scsi\"/>"));
    /* The secret volume has no disk: it gets a default one, sata, last. */
    assert_non_null(strstr(xml, "<target dev=\"sdc\" bus=\"sata\"/>"));
    assert_non_null(strstr(xml, "<controller type=\"scsi\" model=\"virtio-scsi\"/>"));
    /* cdrom is read-only by default. */
    assert_non_null(strstr(xml, "device=\"cdrom\">"));
    assert_non_null(strstr(xml, "<readonly/>"));
    /* 1500m of CPU request -> 2 sockets; memory from the request. */
    assert_non_null(strstr(xml, "<vcpu placement=\"static\">2</vcpu>"));
    assert_non_null(strstr(xml, "<topology sockets=\"2\" dies=\"1\" cores=\"1\" threads=\"1\"/>"));
    assert_non_null(strstr(xml, "<memory unit=\"b\">134217728</memory>"));
    /* One default interface on the pod network (user mode here). */
    assert_non_null(strstr(xml, "<interface type=\"user\">"));
    assert_non_null(
        strstr(xml, "<entry name=\"uuid\">15161718-191a-4b1c-9d1e-1f2021222324</entry>"));
    assert_non_null(strstr(xml, "<type arch=\"x86_64\" machine=\"q35\">hvm</type>"));
    /* Secret data never appears in the XML. */
    assert_null(strstr(xml, "s3cr3t"));

    /* The whole replica goes with its directory. */
    assert_int_equal(materialize_remove(&g.conf, id.domain_name, &err), 0);
    assert_int_equal(stat(dir, &st), -1);
    assert_int_equal(materialize_remove(&g.conf, id.domain_name, &err), 0);
    free(data);
    free(dir);
    free(xml);
    replica_id_free(&id);
}

static void
quiet(void *opaque, virErrorPtr e)
{
}

static void
test_test_driver_accepts_it(void **state)
{
    unsigned next = 0;
    struct replica_id id;
    struct vmirs_err *err = NULL;
    struct materialize_objects objs = {.config_map = cm, .secret = secret};
    char *xml = NULL;
    virConnectPtr conn;
    virDomainPtr dom;

    assert_string_equal(materialize_domain_type(&g.conf), "test");
    replica_id_new(&id, first_vmirs(&g.mf), counting_rng, &next);
    assert_int_equal(
        materialize_render(&g.conf, "test", first_vmirs(&g.mf), &objs, &id, &xml, &err), 0);
    virSetErrorFunc(NULL, quiet);
    conn = virConnectOpen("test:///default");
    assert_non_null(conn);
    dom = virDomainCreateXML(conn, xml, 0);
    if (!dom)
        fail_msg("%s\n%s", virGetLastErrorMessage(), xml);
    assert_string_equal(virDomainGetName(dom), "default_frontbcdfg");
    virDomainDestroy(dom);
    virDomainFree(dom);
    virConnectClose(conn);
    free(xml);
    replica_id_free(&id);
}

static void
test_render_creates_nothing(void **state)
{
    unsigned next = 0;
    struct replica_id id;
    struct vmirs_err *err = NULL;
    char *xml = NULL, *replicas = xasprintf("%s/state/replicas", g.tmp);
    struct stat st;

    /* No objects at all: --render builds no ISO, so it needs none. */
    replica_id_new(&id, first_vmirs(&g.mf), counting_rng, &next);
    assert_int_equal(materialize_render(&g.conf, "qemu", first_vmirs(&g.mf), NULL, &id, &xml, &err),
                     0);
    assert_non_null(strstr(xml, "<domain type=\"qemu\">"));
    /* Under TCG the CPU model is the emulator's default: no mode. */
    assert_non_null(strstr(xml, "<cpu>"));
    if (stat(replicas, &st) == 0) {
        char *dir = xasprintf("%s/%s", replicas, id.domain_name);

        assert_int_equal(stat(dir, &st), -1);
        free(dir);
    }
    free(replicas);
    free(xml);
    replica_id_free(&id);
}

static void
test_failure_leaves_nothing(void **state)
{
    unsigned next = 0;
    struct replica_id id;
    struct vmirs_err *err = NULL;
    struct materialize_objects none = {cm, secret, NULL};
    char *xml = NULL, *dir;
    struct stat st;

    /* The ConfigMap lookup finds nothing: the create fails, and the files
     * made before it (overlay, empty disk, seed) are removed. */
    none.config_map = (const struct config_map *(*) (void *, const char *, const char *) ) secret;
    replica_id_new(&id, first_vmirs(&g.mf), counting_rng, &next);
    assert_int_equal(
        materialize_replica(&g.conf, "test", first_vmirs(&g.mf), &none, &id, &xml, &err), -1);
    assert_string_equal(err->msg, "replica `default_frontbcdfg`: volume `cfg`: ConfigMap "
                                  "\"default/app\" not found");
    dir = xasprintf("%s/state/replicas/%s", g.tmp, id.domain_name);
    assert_int_equal(stat(dir, &st), -1);
    free(dir);
    err_free(&err);
    replica_id_free(&id);
}

static bool
taken_first(const char *domain_name, void *opaque)
{
    return strcmp(domain_name, opaque) == 0;
}

static bool
taken_all(const char *domain_name, void *opaque)
{
    return true;
}

/* Two replicas drawing the same random name: the second create is refused
 * before it writes anything, and the live replica's disks stay as they
 * are; a name taken is drawn again. */
static void
test_name_collision(void **state)
{
    unsigned next = 0;
    struct replica_id a, b;
    struct vmirs_err *err = NULL;
    struct materialize_objects objs = {.config_map = cm, .secret = secret};
    char *xml = NULL, *root, *msg;
    struct stat before, after;

    replica_id_new(&a, first_vmirs(&g.mf), counting_rng, &next);
    if (materialize_replica(&g.conf, "test", first_vmirs(&g.mf), &objs, &a, &xml, &err) < 0)
        fail_msg("%s", err->msg);
    free(xml);
    xml = NULL;
    assert_true(a.made_dir);
    root = xasprintf("%s/state/replicas/%s/root.qcow2", g.tmp, a.domain_name);
    assert_int_equal(stat(root, &before), 0);

    next = 0; /* the same draw again */
    replica_id_new(&b, first_vmirs(&g.mf), counting_rng, &next);
    assert_string_equal(b.domain_name, a.domain_name);
    assert_int_equal(
        materialize_replica(&g.conf, "test", first_vmirs(&g.mf), &objs, &b, &xml, &err), -1);
    msg = xasprintf("replica `default_frontbcdfg`: create replica directory "
                    "`%s/state/replicas/default_frontbcdfg`: it exists: another replica has "
                    "this name",
                    g.tmp);
    assert_string_equal(err->msg, msg);
    free(msg);
    err_free(&err);
    assert_false(b.made_dir);
    assert_null(xml);
    assert_int_equal(stat(root, &after), 0);
    assert_int_equal(after.st_ino, before.st_ino);
    assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
    replica_id_free(&b);

    /* Drawn again while taken: the next draw is another name. */
    next = 0;
    assert_int_equal(replica_id_new_free(&b, first_vmirs(&g.mf), counting_rng, &next, taken_first,
                                         a.domain_name, 8),
                     0);
    assert_string_not_equal(b.domain_name, a.domain_name);
    replica_id_free(&b);
    assert_int_equal(
        replica_id_new_free(&b, first_vmirs(&g.mf), counting_rng, &next, taken_all, NULL, 8), -1);
    assert_null(b.domain_name);

    assert_int_equal(materialize_remove(&g.conf, a.domain_name, &err), 0);
    free(root);
    replica_id_free(&a);
}

/* KubeVirt's fields that used to be ignored: a config drive whose user
 * data comes from a Secret, virtiofs shares, rng, a dashed MAC, an empty
 * machine type. */
static const char *const conformance =
    "apiVersion: v1\nkind: Secret\nmetadata: {name: ud}\n"
    "stringData: {userData: \"#!/bin/sh\\necho s3cr3t-script\\n\", networkdata: \"{}\"}\n"
    "---\n"
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {greeting: hello}\n"
    "---\n"
    "apiVersion: kubevirt.io/v1\n"
    "kind: VirtualMachineInstanceReplicaSet\n"
    "metadata: {name: conf}\n"
    "spec:\n"
    "  selector: {matchLabels: {app: conf}}\n"
    "  template:\n"
    "    metadata: {labels: {app: conf}}\n"
    "    spec:\n"
    "      hostname: confhost\n"
    "      domain:\n"
    "        machine: {type: \"\"}\n"
    "        memory: {guest: 128Mi}\n"
    "        devices:\n"
    "          rng: {}\n"
    "          disks: [{name: seed, disk: {bus: virtio}}]\n"
    "          filesystems: [{name: cfg, virtiofs: {}}, {name: tmp, virtiofs: {}}]\n"
    "          interfaces: [{name: default, masquerade: {}, macAddress: 02-00-00-AA-bb-01}]\n"
    "      networks: [{name: default, pod: {}}]\n"
    "      volumes:\n"
    "      - {name: seed, cloudInitConfigDrive: {secretRef: {name: ud}, "
    "networkDataSecretRef: {name: ud}}}\n"
    "      - {name: cfg, configMap: {name: app}}\n"
    "      - {name: tmp, emptyDisk: {capacity: 1Mi}}\n";

static struct manifest_file conf_mf;

static const struct secret *
conf_secret(void *opaque, const char *ns, const char *name)
{
    for (size_t i = 0; i < conf_mf.nobjs; i++)
        if (conf_mf.objs[i].kind == KOBJ_SECRET && streq0(conf_mf.objs[i].name, name))
            return conf_mf.objs[i].u.secret;
    return NULL;
}

static const struct config_map *
conf_cm(void *opaque, const char *ns, const char *name)
{
    for (size_t i = 0; i < conf_mf.nobjs; i++)
        if (conf_mf.objs[i].kind == KOBJ_CONFIG_MAP && streq0(conf_mf.objs[i].name, name))
            return conf_mf.objs[i].u.config_map;
    return NULL;
}

static void
test_conformance_fields(void **state)
{
    unsigned next = 0;
    struct replica_id id;
    struct vmirs_err *err = NULL;
    struct materialize_objects objs = {.config_map = conf_cm, .secret = conf_secret};
    char *out = parse_text(&conf_mf, conformance);
    char *xml = NULL, *dir, *path, *data = NULL, *cmd;
    size_t len = 0;
    struct stat st;

    assert_string_equal(out, "");
    free(out);
    replica_id_new(&id, first_vmirs(&conf_mf), counting_rng, &next);
    if (materialize_replica(&g.conf, "test", first_vmirs(&conf_mf), &objs, &id, &xml, &err) < 0)
        fail_msg("%s", err->msg);
    dir = xasprintf("%s/state/replicas/%s", g.tmp, id.domain_name);

    /* The config drive: label config-2, the Secret's userData as user_data,
     * its networkdata as network_data.json, hostname and uuid in meta_data. */
    cmd = xasprintf("xorriso -indev %s/seed.iso -pvd_info 2>/dev/null | grep -q \"Volume Id *: "
                    "config-2\" && xorriso -osirrox on -indev %s/seed.iso -extract /openstack "
                    "%s/x >/dev/null 2>&1",
                    dir, dir, g.tmp);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    path = xasprintf("%s/x/latest/user_data", g.tmp);
    assert_int_equal(read_file(path, &data, &len), 0);
    assert_string_equal(data, "#!/bin/sh\necho s3cr3t-script\n");
    free(data);
    free(path);
    path = xasprintf("%s/x/latest/network_data.json", g.tmp);
    assert_int_equal(read_file(path, &data, &len), 0);
    assert_string_equal(data, "{}");
    free(data);
    free(path);
    path = xasprintf("%s/x/latest/meta_data.json", g.tmp);
    assert_int_equal(read_file(path, &data, &len), 0);
    out = xasprintf("{\"instance_id\":\"%s\",\"hostname\":\"confhost\",\"uuid\":\"%s\"}",
                    id.firmware_uuid, id.firmware_uuid);
    assert_string_equal(data, out);
    free(out);
    free(data);
    free(path);

    /* virtiofs: one directory per share with the ConfigMap's keys; no disk
     * for those volumes; memory shared for virtiofsd. */
    path = xasprintf("%s/fs-cfg/greeting", dir);
    assert_int_equal(read_file(path, &data, &len), 0);
    assert_string_equal(data, "hello");
    free(data);
    free(path);
    path = xasprintf("%s/fs-tmp", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    free(path);
    assert_non_null(strstr(xml, "<target dir=\"cfg\"/>"));
    assert_non_null(strstr(xml, "<target dir=\"tmp\"/>"));
    assert_non_null(strstr(xml, "<driver type=\"virtiofs\" queue=\"1024\"/>"));
    assert_non_null(strstr(xml, "<access mode=\"shared\"/>"));
    assert_null(strstr(xml, "ua-cfg"));
    assert_null(strstr(xml, "ua-tmp"));
    /* rng, the MAC with colons, q35 for the empty machine type. */
    assert_non_null(strstr(xml, "<backend model=\"random\">/dev/urandom</backend>"));
    assert_non_null(strstr(xml, "<mac address=\"02:00:00:AA:bb:01\"/>"));
    assert_non_null(strstr(xml, "machine=\"q35\""));
    assert_null(strstr(xml, "s3cr3t"));
    assert_int_equal(materialize_remove(&g.conf, id.domain_name, &err), 0);
    replica_id_free(&id);

    /* The Secret missing: the create fails naming it, and nothing is left. */
    objs.secret = NULL;
    replica_id_new(&id, first_vmirs(&conf_mf), counting_rng, &next);
    assert_int_equal(
        materialize_replica(&g.conf, "test", first_vmirs(&conf_mf), &objs, &id, &xml, &err), -1);
    out = xasprintf("replica `%s`: volume `seed`: secretRef: Secret \"default/ud\" not found",
                    id.domain_name);
    assert_string_equal(err->msg, out);
    free(out);
    err_free(&err);
    free(dir);
    dir = xasprintf("%s/state/replicas/%s", g.tmp, id.domain_name);
    assert_int_equal(stat(dir, &st), -1);
    free(dir);
    free(xml);
    replica_id_free(&id);
    manifest_file_free(&conf_mf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_files_and_xml),
        cmocka_unit_test(test_test_driver_accepts_it),
        cmocka_unit_test(test_render_creates_nothing),
        cmocka_unit_test(test_failure_leaves_nothing),
        cmocka_unit_test(test_name_collision),
        cmocka_unit_test(test_conformance_fields),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
