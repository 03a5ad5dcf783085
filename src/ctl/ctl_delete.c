/* vmirsctl delete vmi NAME: evict one replica through libvirt, the way
 * the daemon deletes one (ACPI shutdown, destroy after the template's
 * terminationGracePeriodSeconds). The daemon sees the replica end and
 * replaces it, as a ReplicaSet replaces a deleted pod. */
#include "config.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "ctl_opts.h"
#include "ctl_spool.h"
#include "dommeta.h"
#include "util.h"

/* KubeVirt's default when the template says nothing. */
#define DELETE_DEFAULT_GRACE_S 30
/* How often the domain is looked at while it shuts down. */
#define DELETE_POLL_MS 100

/* libvirt prints every error to stderr unless told otherwise; this
 * command reads the error and reports it once, in its own words. */
static void
delete_quiet(void *opaque, virErrorPtr e)
{
    (void) opaque;
    (void) e;
}

static const char *
delete_libvirt_msg(void)
{
    const char *m = virGetLastErrorMessage();

    return m ? m : "unknown libvirt error";
}

/* terminationGracePeriodSeconds of the owner's template, from the spec
 * the daemon recorded; the default when there is no owner, database or
 * value. */
static int64_t
delete_grace_s(const struct vmirs_conf *conf, const struct dommeta *m)
{
    struct store *s = NULL;
    sqlite3_stmt *st = NULL;
    int64_t grace = DELETE_DEFAULT_GRACE_S;

    if (!m->owner_uid || ctl_store_open_if_any(conf, &s) != CTL_OK || !s)
        return grace;
    if (store_prepare(s, "SELECT spec FROM replica_sets WHERE uid = ?1", &st, NULL) == 0) {
        sqlite3_bind_text(st, 1, m->owner_uid, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) {
            json_t *spec = json_loads((const char *) sqlite3_column_text(st, 0), 0, NULL);
            json_t *v = json_object_get(json_object_get(json_object_get(spec, "template"), "spec"),
                                        "terminationGracePeriodSeconds");

            if (json_is_integer(v) && json_integer_value(v) >= 0)
                grace = json_integer_value(v);
            json_decref(spec);
        }
        sqlite3_finalize(st);
    }
    store_close(s);
    return grace;
}

/* Whether the domain has stopped: a transient domain is gone once it
 * stops, a persistent one is no longer active. */
static bool
delete_stopped(virDomainPtr dom)
{
    int r = virDomainIsActive(dom);

    return r == 0 || (r < 0 && virGetLastErrorCode() == VIR_ERR_NO_DOMAIN);
}

static int
delete_destroy(virDomainPtr dom, const char *domain)
{
    if (virDomainDestroy(dom) == 0)
        return 0;
    /* Gone or stopped meanwhile: what destroy was for has happened. */
    if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN ||
        virGetLastErrorCode() == VIR_ERR_OPERATION_INVALID)
        return 0;
    fprintf(stderr, "vmirsctl: destroy domain `%s`: %s\n", domain, delete_libvirt_msg());
    return -1;
}

/* Shut the domain down, gracefully for up to grace_s seconds, then by
 * destroy. 0 once it is stopped, -1 (printed) otherwise. */
static int
delete_evict(virDomainPtr dom, const char *domain, int64_t grace_s)
{
    int64_t deadline;

    if (grace_s == 0)
        return delete_destroy(dom, domain);
    if (virDomainShutdown(dom) < 0) {
        if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN)
            return 0;
        return delete_destroy(dom, domain);
    }
    deadline = clock_mono_ms() + grace_s * 1000;
    while (!delete_stopped(dom)) {
        struct timespec pause = {0, DELETE_POLL_MS * 1000000L};

        if (clock_mono_ms() >= deadline)
            return delete_destroy(dom, domain);
        nanosleep(&pause, NULL);
    }
    return 0;
}

static void
delete_usage(FILE *out)
{
    fprintf(out, "Usage: vmirsctl delete vmi NAME [-n NS]\n");
}

static void
delete_not_found(const char *name)
{
    fprintf(stderr,
            "Error from server (NotFound): virtualmachineinstances.kubevirt.io \"%s\" not found\n",
            name);
}

/* Find the replica's domain and check it is one: CTL_OK with *dom and
 * *m filled, else the exit status (printed). */
static int
delete_lookup(virConnectPtr conn, const char *domain, const char *name, virDomainPtr *dom,
              struct dommeta *m)
{
    cleanup_free char *xml = NULL;
    struct vmirs_err *err = NULL;

    *dom = virDomainLookupByName(conn, domain);
    if (!*dom) {
        if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) {
            delete_not_found(name);
            return CTL_ERROR;
        }
        fprintf(stderr, "vmirsctl: look up domain `%s`: %s\n", domain, delete_libvirt_msg());
        return CTL_ERROR;
    }
    xml = virDomainGetMetadata(*dom, VIR_DOMAIN_METADATA_ELEMENT, DOMMETA_NS, 0);
    if (!xml) {
        if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) {
            delete_not_found(name);
            return CTL_ERROR;
        }
        if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN_METADATA)
            fprintf(stderr,
                    "vmirsctl: refuse to delete domain `%s`: it is not a vmirsd replica (no "
                    "metadata in " DOMMETA_NS ")\n",
                    domain);
        else
            fprintf(stderr, "vmirsctl: read metadata of domain `%s`: %s\n", domain,
                    delete_libvirt_msg());
        return CTL_ERROR;
    }
    /* Untrusted: anything that talks to libvirt may have written it. */
    if (dommeta_parse(xml, m, &err) < 0) {
        fprintf(stderr,
                "vmirsctl: refuse to delete domain `%s`: its " DOMMETA_NS
                " metadata is not vmirsd's: %s\n",
                domain, err->msg);
        err_free(&err);
        return CTL_ERROR;
    }
    if (!streq0(m->vmi_name, name)) {
        fprintf(stderr,
                "vmirsctl: refuse to delete domain `%s`: its metadata names VMI \"%s\", not "
                "\"%s\"\n",
                domain, m->vmi_name, name);
        return CTL_ERROR;
    }
    return CTL_OK;
}

int
ctl_delete(struct ctl_ctx *ctx, int argc, char **argv)
{
    const struct ctl_opts_spec spec = {0, NULL, NULL, delete_usage};
    cleanup_free char *type_copy = NULL, *domain = NULL;
    struct vmirs_conf conf = {0};
    struct ctl_opts opts;
    struct dommeta m = {0};
    const char *name, *ns;
    virConnectPtr conn;
    virDomainPtr dom = NULL;
    int rc;

    rc = ctl_opts_parse_object(&spec, argc, argv, 1, "delete", &opts, &type_copy, &name);
    if (rc != CTL_OPTS_GO_ON)
        return rc;
    ns = opts.ns;
    if (!*name || !*ns) {
        delete_usage(stderr);
        return CTL_USAGE;
    }
    if (ctl_conf_load(ctx, &conf) != CTL_OK)
        return CTL_ERROR;
    domain = xasprintf("%s_%s", ns, name);
    virSetErrorFunc(NULL, delete_quiet);
    conn = virConnectOpenAuth(conf.libvirt_uri, virConnectAuthPtrDefault, 0);
    if (!conn) {
        fprintf(stderr, "vmirsctl: connect to `%s`: %s\n", conf.libvirt_uri, delete_libvirt_msg());
        conf_free(&conf);
        return CTL_ERROR;
    }
    rc = delete_lookup(conn, domain, name, &dom, &m);
    if (rc == CTL_OK && delete_evict(dom, domain, delete_grace_s(&conf, &m)) < 0)
        rc = CTL_ERROR;
    if (rc == CTL_OK)
        printf("virtualmachineinstance.kubevirt.io \"%s\" deleted\n", name);
    if (dom)
        virDomainFree(dom);
    virConnectClose(conn);
    dommeta_free(&m);
    conf_free(&conf);
    return rc;
}
