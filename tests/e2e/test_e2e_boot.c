/* End to end on real QEMU: one replica of conf/examples/web-config.yaml,
 * materialised by vmirsd's own code, booted with virDomainCreateXML on
 * qemu:///system and checked through its guest agent: it answers
 * guest-ping, its hostname is the replica's name, and the ConfigMap's
 * content is readable inside it. Then it is destroyed and its directory
 * must be gone. KVM is used only if a probe boot proves it works (nested
 * KVM can pause guests in firmware); otherwise TCG. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../unit/helpers.h"

#include <jansson.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <sys/stat.h>
#include <time.h>

#include "base64.h"
#include "conf.h"
#include "manifest.h"
#include "materialize.h"
#include "seediso.h"
#include "util.h"

#ifndef TOP_BUILDDIR
#define TOP_BUILDDIR "."
#endif

#define BOOT_TIMEOUT_S 180.0
#define PROBE_TIMEOUT_S 40.0

static struct {
    char *tmp;
    struct vmirs_conf conf;
    struct manifest_file mf;
    virConnectPtr conn;
} g;

static double
now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void
quiet(void *opaque, virErrorPtr e)
{
}

static const struct vmirs *
example_vmirs(void)
{
    for (size_t i = 0; i < g.mf.nobjs; i++)
        if (g.mf.objs[i].kind == KOBJ_VMIRS)
            return g.mf.objs[i].u.vmirs;
    fail_msg("no VMIRS in the example");
    return NULL;
}

static const struct config_map *
lookup_cm(void *opaque, const char *ns, const char *name)
{
    for (size_t i = 0; i < g.mf.nobjs; i++) {
        const struct kobj *o = &g.mf.objs[i];

        if (o->kind == KOBJ_CONFIG_MAP && streq0(o->namespace, ns) && streq0(o->name, name))
            return o->u.config_map;
    }
    return NULL;
}

static const struct secret *
lookup_secret(void *opaque, const char *ns, const char *name)
{
    return NULL;
}

/* Send one guest-agent command; the reply's "return" member, or NULL. */
static json_t *
agent(virDomainPtr dom, const char *cmd)
{
    char *reply = virDomainQemuAgentCommand(dom, cmd, 5, 0);
    json_t *j, *r;

    if (!reply)
        return NULL;
    j = json_loads(reply, 0, NULL);
    free(reply);
    r = j ? json_incref(json_object_get(j, "return")) : NULL;
    json_decref(j);
    return r;
}

enum boot_result { BOOT_OK, BOOT_STOPPED, BOOT_TIMEOUT };

/* Wait for guest-ping; fail early if the domain pauses or stops, which
 * is how a guest that cannot run under this hypervisor shows. */
static enum boot_result
wait_for_agent(virDomainPtr dom, double timeout, char *why, size_t whylen)
{
    double end = now() + timeout;

    while (now() < end) {
        json_t *r = agent(dom, "{\"execute\":\"guest-ping\"}");
        int state, reason;

        if (r) {
            json_decref(r);
            return BOOT_OK;
        }
        if (virDomainGetState(dom, &state, &reason, 0) < 0 || state == VIR_DOMAIN_PAUSED ||
            state == VIR_DOMAIN_SHUTOFF || state == VIR_DOMAIN_CRASHED) {
            snprintf(why, whylen, "domain state %d reason %d", state, reason);
            return BOOT_STOPPED;
        }
        usleep(100 * 1000);
    }
    snprintf(why, whylen, "no guest-ping answer within %.0f s", timeout);
    return BOOT_TIMEOUT;
}

/* Materialise one replica and start it; its id and domain come back,
 * or NULL with the reason in why when libvirt refuses to start it. */
static virDomainPtr
try_start_replica(const char *type, struct replica_id *id, double *started, char *why,
                  size_t whylen)
{
    struct materialize_objects objs = {.config_map = lookup_cm, .secret = lookup_secret};
    struct vmirs_err *err = NULL;
    char *xml = NULL;
    virDomainPtr dom;

    replica_id_new(id, example_vmirs(), names_rng_system, NULL);
    if (materialize_replica(&g.conf, type, example_vmirs(), &objs, id, &xml, &err) < 0)
        fail_msg("materialize: %s", err->msg);
    *started = now();
    dom = virDomainCreateXML(g.conn, xml, 0);
    if (!dom)
        snprintf(why, whylen, "create domain `%s`: %s", id->domain_name, virGetLastErrorMessage());
    free(xml);
    return dom;
}

static virDomainPtr
start_replica(const char *type, struct replica_id *id, double *started)
{
    char why[1024];
    virDomainPtr dom = try_start_replica(type, id, started, why, sizeof(why));

    if (!dom)
        fail_msg("%s", why);
    return dom;
}

static void
stop_replica(virDomainPtr dom, struct replica_id *id)
{
    struct vmirs_err *err = NULL;
    char *dir = xasprintf("%s/replicas/%s", g.conf.state_dir, id->domain_name);
    struct stat st;

    virDomainDestroy(dom);
    virDomainFree(dom);
    assert_int_equal(materialize_remove(&g.conf, id->domain_name, &err), 0);
    assert_int_equal(stat(dir, &st), -1);
    assert_int_equal(errno, ENOENT);
    free(dir);
    replica_id_free(id);
}

/* KVM if a probe boot reaches the agent, else TCG. */
static const char *
choose_domain_type(void)
{
    const char *forced = getenv("VMIRS_E2E_DOMAIN_TYPE");
    struct replica_id id;
    char why[1024] = "";
    double t0;
    virDomainPtr dom;
    enum boot_result r;

    if (forced)
        return forced;
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        printf("# e2e: no usable /dev/kvm: using TCG (domain type qemu)\n");
        return "qemu";
    }
    dom = try_start_replica("kvm", &id, &t0, why, sizeof(why));
    if (!dom) {
        struct vmirs_err *err = NULL;

        materialize_remove(&g.conf, id.domain_name, &err);
        replica_id_free(&id);
        printf("# e2e: the KVM probe boot did not start (%s): using TCG (domain type qemu)\n", why);
        return "qemu";
    }
    r = wait_for_agent(dom, PROBE_TIMEOUT_S, why, sizeof(why));
    stop_replica(dom, &id);
    if (r == BOOT_OK) {
        printf("# e2e: the KVM probe boot answered: using KVM\n");
        return "kvm";
    }
    printf("# e2e: the KVM probe boot failed (%s): using TCG (domain type qemu)\n", why);
    return "qemu";
}

static char *
exec_in_guest(virDomainPtr dom, const char *path, const char *arg)
{
    char *cmd =
        xasprintf("{\"execute\":\"guest-exec\",\"arguments\":{\"path\":\"%s\",\"arg\":[\"%s\"],"
                  "\"capture-output\":true}}",
                  path, arg);
    json_t *r = agent(dom, cmd);
    json_int_t pid;
    double end = now() + 30;

    free(cmd);
    assert_non_null(r);
    pid = json_integer_value(json_object_get(r, "pid"));
    json_decref(r);
    while (now() < end) {
        char *st = xasprintf("{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":%lld}}",
                             (long long) pid);
        json_t *s = agent(dom, st);

        free(st);
        assert_non_null(s);
        if (json_is_true(json_object_get(s, "exited"))) {
            const char *b64 = json_string_value(json_object_get(s, "out-data"));
            char *out = NULL;
            size_t len;

            assert_int_equal(json_integer_value(json_object_get(s, "exitcode")), 0);
            assert_int_equal(base64_decode(b64 ? b64 : "", &out, &len), 0);
            json_decref(s);
            return out;
        }
        json_decref(s);
        usleep(100 * 1000);
    }
    fail_msg("guest-exec of %s did not finish", path);
    return NULL;
}

static void
test_boot_one_replica(void **state)
{
    const char *type = choose_domain_type();
    struct replica_id id;
    char why[128] = "";
    double t0;
    virDomainPtr dom = start_replica(type, &id, &t0);
    json_t *r;
    char *content;

    if (wait_for_agent(dom, BOOT_TIMEOUT_S, why, sizeof(why)) != BOOT_OK) {
        char *log = xasprintf("%s/replicas/%s/serial.log", g.conf.state_dir, id.domain_name);
        char *text = NULL;

        read_file(log, &text, NULL);
        fail_msg("replica `%s` (%s) did not boot: %s\nserial console:\n%s", id.domain_name, type,
                 why, text ? text : "(none)");
    }
    printf("# e2e: replica %s (%s) answered guest-ping %.2f s after create\n", id.domain_name, type,
           now() - t0);

    r = agent(dom, "{\"execute\":\"guest-get-host-name\"}");
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(r, "host-name")), id.vmi_name);
    json_decref(r);

    content = exec_in_guest(dom, "/bin/cat", "/mnt/webcfg/port");
    assert_string_equal(content, "8080");
    free(content);
    content = exec_in_guest(dom, "/bin/cat", "/mnt/webcfg/index.html");
    assert_string_equal(content,
                        labels_get(&lookup_cm(NULL, "default", "web-config")->data, "index.html"));
    free(content);

    stop_replica(dom, &id);
}

static int
setup(void **state)
{
    struct diag_list diags = {0};
    char *path;

    virSetErrorFunc(NULL, quiet);
    g.conn = virConnectOpen("qemu:///system");
    if (!g.conn) {
        fprintf(stderr, "e2e: cannot connect to qemu:///system: %s\n", virGetLastErrorMessage());
        return -1;
    }
    g.tmp = tmpdir_make();
    /* QEMU runs as libvirt-qemu and must reach the replica's files. */
    chmod(g.tmp, 0711);
    path = xasprintf("%s/vmirsd.conf", g.tmp);
    {
        FILE *f = fopen(path, "w");

        fprintf(f, "state_dir = %s\nimage_dir = %s/images/out\nlibvirt_uri = qemu:///system\n",
                g.tmp, TOP_BUILDDIR);
        fclose(f);
    }
    if (conf_load(&g.conf, path, false, &diags) < 0) {
        diag_print(&diags, stderr);
        return -1;
    }
    free(path);
    path = xasprintf("%s/conf/examples/web-config.yaml", TOP_SRCDIR);
    if (manifest_load(&g.mf, path) < 0) {
        diag_print(&g.mf.diags, stderr);
        return -1;
    }
    free(path);
    return 0;
}

static int
teardown(void **state)
{
    manifest_file_free(&g.mf);
    conf_free(&g.conf);
    if (g.conn)
        virConnectClose(g.conn);
    tmpdir_remove(g.tmp);
    seediso_finish();
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boot_one_replica),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
