/* vmirsctl expose vmirs NAME --name SVC --port P [--target-port T]: write
 * a Service manifest into the spool directory, selecting the replicas of
 * the VMIRS, as kubectl expose creates one. The daemon picks the file up
 * like any other manifest; a user who moves to a cluster applies it too. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl.h"
#include "ctl_opts.h"
#include "ctl_spool.h"
#include "emit.h"
#include "kvalid.h"
#include "util.h"

static void
expose_usage(FILE *out)
{
    fprintf(out, "Usage: vmirsctl expose vmirs NAME --name SVC --port P [--target-port T] "
                 "[-n NS]\n");
}

/* A port number from the command line, 1 to 65535: 0 or -1. */
static int
expose_port(const char *s, int64_t *out)
{
    if (strspn(s, "0123456789") != strlen(s))
        return -1;
    return parse_int64(s, 1, 65535, out);
}

/* A Service name is a DNS-1035 label: an RFC 1123 label that starts with
 * a letter. It is also the spool file's name, so this keeps '/' and
 * dot files out of it. */
static int
expose_check_name(const char *svc)
{
    cleanup_free char *why = NULL;

    if (kvalid_dns1123_label(svc, &why) < 0 || !(svc[0] >= 'a' && svc[0] <= 'z')) {
        fprintf(stderr, "vmirsctl: invalid Service name \"%s\": %s\n", svc,
                why ? why
                    : "a DNS-1035 label must consist of lower case alphanumeric characters or "
                      "'-', start with an alphabetic character, and end with an alphanumeric "
                      "character");
        return -1;
    }
    return 0;
}

/* The Service selector: the VMIRS's matchLabels. A Service selects by
 * labels only, so a selector with matchExpressions cannot be carried
 * over without selecting other replicas than the VMIRS's own. */
static json_t *
expose_selector(const json_t *rs, const char *name)
{
    const json_t *sel = json_object_get(json_object_get(rs, "spec"), "selector");
    const json_t *labels = json_object_get(sel, "matchLabels");
    const json_t *exprs = json_object_get(sel, "matchExpressions");

    if (json_is_array(exprs) && json_array_size(exprs) > 0) {
        fprintf(stderr,
                "vmirsctl: cannot expose vmirs \"%s\": its selector has matchExpressions, and a "
                "Service selects by labels only (matchLabels); write the Service by hand\n",
                name);
        return NULL;
    }
    if (!json_is_object(labels) || json_object_size(labels) == 0) {
        fprintf(stderr,
                "vmirsctl: cannot expose vmirs \"%s\": its selector has no matchLabels to "
                "select its replicas with\n",
                name);
        return NULL;
    }
    return json_deep_copy(labels);
}

static json_t *
expose_service(const json_t *rs, const char *svc, const char *ns, json_t *selector, int64_t port,
               const char *target)
{
    const json_t *labels = json_object_get(json_object_get(rs, "metadata"), "labels");
    json_t *meta = json_pack("{ss ss}", "name", svc, "namespace", ns);
    json_t *p = json_pack("{sI ss}", "port", (json_int_t) port, "protocol", "TCP");
    int64_t t;

    /* kubectl expose gives the Service the labels of what it exposes. */
    if (json_is_object(labels) && json_object_size(labels))
        json_object_set_new(meta, "labels", json_deep_copy(labels));
    if (expose_port(target, &t) == 0)
        json_object_set_new(p, "targetPort", json_integer(t));
    else
        json_object_set_new(p, "targetPort", json_string(target));
    return json_pack("{ss ss so s{so s[o]}}", "apiVersion", "v1", "kind", "Service", "metadata",
                     meta, "spec", "selector", selector, "ports", p);
}

/* The VMIRS as the daemon recorded it: CTL_OK and *out, else the exit
 * status (printed). */
static int
expose_read_vmirs(const struct ctl_ctx *ctx, const char *ns, const char *name, json_t **out)
{
    struct store *s = NULL;
    json_t *items;
    int rc = ctl_open_store(ctx, &s);

    if (rc != CTL_OK)
        return rc;
    items = ctl_vmirs_list(s, ns, name);
    store_close(s);
    if (json_array_size(items) == 0) {
        fprintf(stderr,
                "Error from server (NotFound): virtualmachineinstancereplicasets.kubevirt.io "
                "\"%s\" not found\n",
                name);
        json_decref(items);
        return CTL_ERROR;
    }
    *out = json_incref(json_array_get(items, 0));
    json_decref(items);
    return CTL_OK;
}

/* Refuse to replace anything: a file of that name, or a Service of that
 * name defined in another file of the spool. */
static int
expose_check_free(const char *spool_dir, const char *path, const char *ns, const char *svc)
{
    cleanup_free char *other = NULL;
    struct stat st;

    if (lstat(path, &st) == 0 || errno != ENOENT) {
        fprintf(stderr, "vmirsctl: refuse to expose: `%s` exists\n", path);
        return -1;
    }
    other = ctl_spool_find(spool_dir, KOBJ_SERVICE, ns, svc);
    if (other) {
        fprintf(stderr,
                "Error from server (AlreadyExists): services \"%s\" already exists (in `%s`)\n",
                svc, other);
        return -1;
    }
    return 0;
}

/* The manifest text, checked as --validate would check it. */
static int
expose_render(const json_t *service, const char *path, char **text, size_t *len)
{
    struct manifest_file mf = {0};
    FILE *f = open_memstream(text, len);
    int rc;

    if (!f)
        abort(); /* out of memory */
    rc = emit_yaml(service, f);
    if (fclose(f) != 0 || rc < 0) {
        fprintf(stderr, "vmirsctl: write the Service manifest: emitter failed\n");
        return -1;
    }
    rc = ctl_validate_bytes(&mf, path, *text, *len, stderr);
    manifest_file_free(&mf);
    if (rc < 0)
        fprintf(stderr, "vmirsctl: refuse to write `%s`: it would not validate\n", path);
    return rc;
}

int
ctl_expose(struct ctl_ctx *ctx, int argc, char **argv)
{
    const char *svc = NULL, *port_text = NULL, *target = NULL, *name, *ns;
    const struct ctl_flag flags[] = {
        {"name", 0, &svc}, {"port", 0, &port_text}, {"target-port", 0, &target}, {NULL}};
    const struct ctl_opts_spec spec = {0, NULL, flags, expose_usage};
    cleanup_free char *type_copy = NULL, *path = NULL, *text = NULL;
    struct vmirs_conf conf = {0};
    json_t *rs = NULL, *selector, *service;
    struct ctl_opts opts;
    int64_t port, t;
    size_t len = 0;
    int rc;

    rc = ctl_opts_parse_object(&spec, argc, argv, 0, "expose", &opts, &type_copy, &name);
    if (rc != CTL_OPTS_GO_ON)
        return rc;
    ns = opts.ns;
    if (!svc || !port_text) {
        fprintf(stderr, "vmirsctl: required flag%s %s not set\n", !svc && !port_text ? "s" : "",
                !svc ? (!port_text ? "\"--name\", \"--port\"" : "\"--name\"") : "\"--port\"");
        expose_usage(stderr);
        return CTL_USAGE;
    }
    if (expose_port(port_text, &port) < 0) {
        fprintf(stderr, "vmirsctl: invalid --port \"%s\": must be a number from 1 to 65535\n",
                port_text);
        return CTL_USAGE;
    }
    if (!target)
        target = port_text;
    else if (strspn(target, "0123456789") == strlen(target) && expose_port(target, &t) < 0) {
        fprintf(stderr,
                "vmirsctl: invalid --target-port \"%s\": must be a number from 1 to 65535 or a "
                "port name\n",
                target);
        return CTL_USAGE;
    }
    if (!*name || expose_check_name(svc) < 0)
        return !*name ? CTL_USAGE : CTL_ERROR;
    rc = expose_read_vmirs(ctx, ns, name, &rs);
    if (rc != CTL_OK)
        return rc;
    if (ctl_conf_load(ctx, &conf) != CTL_OK) {
        json_decref(rs);
        return CTL_ERROR;
    }
    path = xasprintf("%s/%s.yaml", conf.spool_dir, svc);
    rc = CTL_ERROR;
    selector = expose_selector(rs, name);
    if (selector && expose_check_free(conf.spool_dir, path, ns, svc) == 0) {
        service = expose_service(rs, svc, ns, json_incref(selector), port, target);
        if (expose_render(service, path, &text, &len) == 0) {
            /* A Service holds nothing secret: readable like the spool. */
            if (write_file_atomic(path, text, len, 0644) < 0)
                fprintf(stderr, "vmirsctl: write `%s`: %s\n", path, strerror(errno));
            else
                rc = CTL_OK;
        }
        json_decref(service);
    }
    json_decref(selector);
    json_decref(rs);
    conf_free(&conf);
    if (rc == CTL_OK)
        printf("service/%s exposed\n", svc);
    return rc;
}
