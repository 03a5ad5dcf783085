/* The blocking libvirt calls behind struct virt_ops: list, look up,
 * create, shut down, destroy, set metadata, guest agent, monitor, port
 * forwards and addresses. Every function here runs on a workq thread, on
 * a connection virt.c lends it for the call. */
#include "config.h"

#define LOG_COMPONENT "virt"

#include <errno.h>
#include <libvirt/libvirt.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>
#include <stdlib.h>
#include <string.h>

#include "dommeta.h"
#include "log.h"
#include "util.h"
#include "virt.h"
#include "virt_int.h"

/* --- Blocking calls (workq threads) --------------------------------------- */

void
virt_domain_free(struct virt_domain *d)
{
    if (!d)
        return;
    free(d->name);
    d->name = NULL;
    dommeta_free(&d->meta);
}

/* Read one domain: 0 and *d filled, 1 when it is not ours (no vmirsd
 * metadata, metadata that does not parse) or is gone, -1 on an error. */
static int
virt_domain_read(virDomainPtr dom, struct virt_domain *d, struct vmirs_err **err)
{
    const char *name = virDomainGetName(dom);
    struct vmirs_err *perr = NULL;
    cleanup_free char *xml = NULL;
    int state, reason;

    memset(d, 0, sizeof(*d));
    xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, DOMMETA_NS, 0);
    if (!xml) {
        int code = virGetLastErrorCode();

        /* Someone else's domain, or one that went away during the list. */
        if (code == VIR_ERR_NO_DOMAIN_METADATA || code == VIR_ERR_NO_DOMAIN)
            return 1;
        return virt_error(err, "read metadata of domain `%s`", name);
    }
    if (dommeta_parse(xml, &d->meta, &perr) < 0) {
        /* Not ours to manage: counting it could hide a missing replica,
         * destroying it could hit someone else's domain. */
        log_warn("ignore domain `%s`: %s", name, perr->msg);
        err_free(&perr);
        return 1;
    }
    if (virDomainGetState(dom, &state, &reason, 0) < 0) {
        int code = virGetLastErrorCode();

        dommeta_free(&d->meta);
        if (code == VIR_ERR_NO_DOMAIN)
            return 1;
        return virt_error(err, "get state of domain `%s`", name);
    }
    d->name = xstrdup(name);
    d->state = state;
    d->reason = reason;
    return 0;
}

static int
virt_op_list(struct virt *v, struct virt_domain **out, size_t *n, struct vmirs_err **err)
{
    struct virt_lease l;
    virDomainPtr *doms = NULL;
    struct virt_domain *res = NULL;
    size_t cap = 0, count = 0;
    int nd, rc = 0;

    *out = NULL;
    *n = 0;
    if (virt_acquire(v, &l, err) < 0)
        return -1;
    nd = virConnectListAllDomains(l.conn, &doms, 0);
    if (nd < 0)
        rc = virt_error(err, "list domains");
    for (int i = 0; i < nd; i++) {
        int r = rc < 0 ? 1 : 0;

        if (rc == 0) {
            res = xgrow(res, &cap, count, sizeof(*res));
            r = virt_domain_read(doms[i], &res[count], err);
            if (r == 0)
                count++;
            else if (r < 0)
                rc = -1;
        }
        virDomainFree(doms[i]);
    }
    free(doms);
    virt_release(v, &l);
    if (rc < 0) {
        for (size_t i = 0; i < count; i++)
            virt_domain_free(&res[i]);
        free(res);
        return -1;
    }
    *out = res;
    *n = count;
    return 0;
}

/* A domain that list would skip (absent, foreign, unreadable metadata)
 * reads as absent here too, so the two never disagree. */
static int
virt_op_get(struct virt *v, const char *name, struct virt_domain *out, struct vmirs_err **err)
{
    struct virt_lease l;
    virDomainPtr dom;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (virt_acquire(v, &l, err) < 0)
        return -1;
    dom = virDomainLookupByName(l.conn, name);
    if (!dom) {
        if (virGetLastErrorCode() != VIR_ERR_NO_DOMAIN)
            rc = virt_error(err, "look up domain `%s`", name);
    } else {
        rc = virt_domain_read(dom, out, err);
        if (rc > 0)
            rc = 0;
        virDomainFree(dom);
    }
    virt_release(v, &l);
    return rc;
}

static int
virt_op_create(struct virt *v, const char *xml, struct vmirs_err **err)
{
    struct virt_lease l;
    virDomainPtr dom;
    int rc = 0;

    if (virt_acquire(v, &l, err) < 0)
        return -1;
    /* Transient, and no AUTODESTROY: replicas outlive the daemon. */
    dom = virDomainCreateXML(l.conn, xml, 0);
    if (!dom)
        rc = virt_error(err, "create domain");
    else
        virDomainFree(dom);
    virt_release(v, &l);
    return rc;
}

/* Look name up: 1 and *dom, 0 when there is no such domain, -1 on error. */
static int
virt_lookup(virConnectPtr conn, const char *name, virDomainPtr *dom, struct vmirs_err **err)
{
    *dom = virDomainLookupByName(conn, name);
    if (*dom)
        return 1;
    if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN)
        return 0;
    return virt_error(err, "look up domain `%s`", name);
}

static int
virt_op_shutdown(struct virt *v, const char *name, struct vmirs_err **err)
{
    struct virt_lease l;
    virDomainPtr dom;
    int rc;

    if (virt_acquire(v, &l, err) < 0)
        return -1;
    rc = virt_lookup(l.conn, name, &dom, err);
    if (rc > 0) {
        rc = 0;
        /* The guest agent if it answers, else the ACPI power button. */
        if (virDomainShutdownFlags(dom, VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN |
                                            VIR_DOMAIN_SHUTDOWN_GUEST_AGENT) < 0) {
            int code = virGetLastErrorCode();

            /* A driver without shutdown methods (the test driver) rejects
             * the flags as unsupported; its default is the same request. */
            if (code == VIR_ERR_INVALID_ARG && virDomainShutdownFlags(dom, 0) == 0)
                code = VIR_ERR_OK;
            else if (code == VIR_ERR_INVALID_ARG)
                code = virGetLastErrorCode();
            if (code != VIR_ERR_OK && code != VIR_ERR_NO_DOMAIN)
                rc = virt_error(err, "shut down domain `%s`", name);
        }
        virDomainFree(dom);
    }
    virt_release(v, &l);
    return rc;
}

static int
virt_op_destroy(struct virt *v, const char *name, struct vmirs_err **err)
{
    struct virt_lease l;
    virDomainPtr dom;
    int rc;

    if (virt_acquire(v, &l, err) < 0)
        return -1;
    rc = virt_lookup(l.conn, name, &dom, err);
    if (rc > 0) {
        rc = 0;
        if (virDomainDestroy(dom) < 0) {
            int code = virGetLastErrorCode();

            /* Gone, or no longer running ("domain is not running"): what
             * destroy was for has happened. */
            if (code != VIR_ERR_NO_DOMAIN && code != VIR_ERR_OPERATION_INVALID)
                rc = virt_error(err, "destroy domain `%s`", name);
        }
        virDomainFree(dom);
    }
    virt_release(v, &l);
    return rc;
}

static int
virt_op_set_meta(struct virt *v, const char *name, const struct dommeta *m, struct vmirs_err **err)
{
    cleanup_free char *xml = NULL;
    struct virt_lease l;
    virDomainPtr dom;
    int rc;

    if (dommeta_build(m, &xml, err) < 0)
        return err_wrap(err, "set metadata of domain `%s`", name);
    if (virt_acquire(v, &l, err) < 0)
        return -1;
    rc = virt_lookup(l.conn, name, &dom, err);
    if (rc == 0)
        rc = err_set(err, 0, "set metadata of domain `%s`: no such domain", name);
    if (rc > 0) {
        rc = 0;
        if (virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, xml, DOMMETA_PREFIX, DOMMETA_NS,
                                 VIR_DOMAIN_AFFECT_LIVE) < 0)
            rc = virt_error(err, "set metadata of domain `%s`", name);
        virDomainFree(dom);
    }
    virt_release(v, &l);
    return rc;
}

/* A connection and the domain name on it, for the calls that need the
 * domain to exist: -1 with "gone" when it does not. Release with
 * virt_domain_close. */
static int
virt_domain_open(struct virt *v, const char *name, struct virt_lease *l, virDomainPtr *dom,
                 struct vmirs_err **err)
{
    int rc;

    if (virt_acquire(v, l, err) < 0)
        return -1;
    rc = virt_lookup(l->conn, name, dom, err);
    if (rc > 0)
        return 0;
    if (rc == 0)
        err_set(err, 0, "domain `%s` is gone", name);
    virt_release(v, l);
    return -1;
}

static void
virt_domain_close(struct virt *v, struct virt_lease *l, virDomainPtr dom)
{
    virDomainFree(dom);
    virt_release(v, l);
}

static int
virt_op_agent(struct virt *v, const char *name, const char *cmd, int timeout_s, char **reply,
              struct vmirs_err **err)
{
    struct virt_lease l;
    virDomainPtr dom;
    int rc;

    *reply = NULL;
    if (virt_domain_open(v, name, &l, &dom, err) < 0)
        return -1;
    /* libvirt-qemu: the guest agent's channel, with a timeout. */
    *reply = virDomainQemuAgentCommand(dom, cmd, timeout_s, 0);
    rc = *reply ? 0 : virt_error(err, "guest agent of `%s`", name);
    virt_domain_close(v, &l, dom);
    return rc;
}

static int
virt_op_hmp(struct virt *v, const char *name, const char *cmd, char **out, struct vmirs_err **err)
{
    struct virt_lease l;
    virDomainPtr dom;
    int rc = 0;

    *out = NULL;
    if (virt_domain_open(v, name, &l, &dom, err) < 0)
        return -1;
    if (virDomainQemuMonitorCommand(dom, cmd, out, VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP) < 0)
        rc = virt_error(err, "monitor command `%s` on `%s`", cmd, name);
    virt_domain_close(v, &l, dom);
    return rc;
}

static int
virt_op_forward(struct virt *v, const char *name, const char *netdev, unsigned host_port,
                unsigned guest_port, struct vmirs_err **err)
{
    cleanup_free char *cmd =
        xasprintf("hostfwd_add %s tcp:127.0.0.1:%u-:%u", netdev, host_port, guest_port);
    cleanup_free char *out = NULL;

    if (virt_op_hmp(v, name, cmd, &out, err) < 0)
        return err_wrap(err, "forward 127.0.0.1:%u to port %u of `%s`", host_port, guest_port,
                        name);
    /* HMP answers nothing on success, the reason otherwise. */
    if (out && out[strspn(out, " \r\n")])
        return err_set(err, 0, "forward 127.0.0.1:%u to port %u of `%s`: %s", host_port, guest_port,
                       name, out);
    return 0;
}

static int
virt_op_address(struct virt *v, const char *name, char **ipv4, struct vmirs_err **err)
{
    struct virt_lease l;
    virDomainPtr dom;
    virDomainInterfacePtr *ifaces = NULL;
    int rc = 0, n;

    *ipv4 = NULL;
    if (virt_domain_open(v, name, &l, &dom, err) < 0)
        return -1;
    n = virDomainInterfaceAddresses(dom, &ifaces, VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE, 0);
    if (n < 0)
        rc = virt_error(err, "addresses of `%s`", name);
    for (int i = 0; i < n; i++) {
        for (unsigned k = 0; k < ifaces[i]->naddrs && !*ipv4; k++)
            if (ifaces[i]->addrs[k].type == VIR_IP_ADDR_TYPE_IPV4 && ifaces[i]->addrs[k].addr)
                *ipv4 = xstrdup(ifaces[i]->addrs[k].addr);
        virDomainInterfaceFree(ifaces[i]);
    }
    free(ifaces);
    virt_domain_close(v, &l, dom);
    return rc;
}

const struct virt_ops virt_libvirt_ops = {
    .list = virt_op_list,
    .get = virt_op_get,
    .create = virt_op_create,
    .shutdown = virt_op_shutdown,
    .destroy = virt_op_destroy,
    .set_meta = virt_op_set_meta,
    .agent = virt_op_agent,
    .forward = virt_op_forward,
    .hmp = virt_op_hmp,
    .address = virt_op_address,
};
