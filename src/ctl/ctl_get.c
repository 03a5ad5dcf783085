/* vmirsctl get vmirs|vmis: kubectl get's tables, -o wide, -o yaml, -o json. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctl_opts.h"
#include "emit.h"
#include "table.h"
#include "util.h"

enum get_kind { GET_VMIRS, GET_VMIS };
/* -o's values, indexed as ctl_opts gives them; FMT_TABLE without -o. */
enum get_format { FMT_TABLE = -1, FMT_WIDE, FMT_YAML, FMT_JSON };
static const char *const get_formats[] = {
    [FMT_WIDE] = "wide", [FMT_YAML] = "yaml", [FMT_JSON] = "json", NULL};

/* The names kubectl accepts for KubeVirt's resources. */
static const struct {
    const char *name;
    enum get_kind kind;
} kinds[] = {
    {"vmirs", GET_VMIRS},
    {"vmirss", GET_VMIRS},
    {"virtualmachineinstancereplicaset", GET_VMIRS},
    {"virtualmachineinstancereplicasets", GET_VMIRS},
    {"vmi", GET_VMIS},
    {"vmis", GET_VMIS},
    {"virtualmachineinstance", GET_VMIS},
    {"virtualmachineinstances", GET_VMIS},
};

static const char *const resource_names[] = {
    [GET_VMIRS] = "virtualmachineinstancereplicasets.kubevirt.io",
    [GET_VMIS] = "virtualmachineinstances.kubevirt.io",
};

int
ctl_parse_kind(const char *name, int *kind)
{
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
        if (strcasecmp(name, kinds[i].name) == 0) {
            *kind = kinds[i].kind;
            return 0;
        }
    return -1;
}

int
ctl_object_arg(int nargs, char **args, int want, const char *cmd, void (*usage)(FILE *out),
               char **owned, const char **name)
{
    const char *type;
    int kind;

    if (nargs == 1 && strchr(args[0], '/')) {
        *owned = xstrdup(args[0]);
        *name = strchr(*owned, '/') + 1;
        (*owned)[*name - *owned - 1] = '\0';
        type = *owned;
    } else if (nargs == 2) {
        type = args[0];
        *name = args[1];
    } else {
        usage(stderr);
        return CTL_USAGE;
    }
    if (ctl_parse_kind(type, &kind) < 0) {
        fprintf(stderr, "vmirsctl: the server doesn't have a resource type \"%s\"\n", type);
        return CTL_USAGE;
    }
    if (kind != want) {
        if (want == GET_VMIS)
            fprintf(stderr,
                    "vmirsctl: %s applies to vmi; a vmirs goes away with its manifest "
                    "file\n",
                    cmd);
        else
            fprintf(stderr, "vmirsctl: %s applies to vmirs, not \"%s\"\n", cmd, type);
        return CTL_USAGE;
    }
    if (!**name) {
        usage(stderr);
        return CTL_USAGE;
    }
    return CTL_OK;
}

/* The containerDisk images of a VMIRS's template, comma separated. */
static char *
template_images(const json_t *rs)
{
    const json_t *vols = json_object_get(
        json_object_get(json_object_get(json_object_get(rs, "spec"), "template"), "spec"),
        "volumes");
    char *out = xstrdup("");
    size_t i;
    json_t *v;

    json_array_foreach(vols, i, v)
    {
        const char *image = ctl_str(v, "containerDisk.image");
        char *next;

        if (!*image)
            continue;
        next = xasprintf("%s%s%s", out, *out ? "," : "", image);
        free(out);
        out = next;
    }
    return out;
}

static void
print_vmirs_table(const json_t *items, bool wide, bool all_ns, int64_t now)
{
    struct table *t = table_new();
    size_t i;
    json_t *o;

    table_printf(t, "%sNAME\tDESIRED\tCURRENT\tREADY\tAGE%s", all_ns ? "NAMESPACE\t" : "",
                 wide ? "\tIMAGES\tSELECTOR" : "");
    json_array_foreach(items, i, o)
    {
        cleanup_free char *age =
            table_age(now, ctl_timestamp_ms(ctl_str(o, "metadata.creationTimestamp")));
        cleanup_free char *images = wide ? template_images(o) : NULL;
        cleanup_free char *extra = wide ? xasprintf("\t%s\t%s", *images ? images : "<none>",
                                                    *ctl_str(o, "status.labelSelector")
                                                        ? ctl_str(o, "status.labelSelector")
                                                        : "<none>")
                                        : xstrdup("");

        table_printf(t, "%s%s%s\t%lld\t%lld\t%lld\t%s%s",
                     all_ns ? ctl_str(o, "metadata.namespace") : "", all_ns ? "\t" : "",
                     ctl_str(o, "metadata.name"), ctl_int(o, "spec.replicas"),
                     ctl_int(o, "status.replicas"), ctl_int(o, "status.readyReplicas"), age, extra);
    }
    table_flush(t, stdout);
}

/* Annotation keys hold dots: not a path for ctl_str. */
static const char *
annotation(const json_t *annotations, const char *key)
{
    const json_t *v = json_object_get(annotations, key);

    return json_is_string(v) ? json_string_value(v) : "";
}

static void
print_vmi_table(const json_t *items, bool wide, bool all_ns, int64_t now)
{
    struct table *t = table_new();
    size_t i;
    json_t *o;

    table_printf(t, "%sNAME\tPHASE\tREADY\tDOMAIN\tAGE%s", all_ns ? "NAMESPACE\t" : "",
                 wide ? "\tVMIRS\tTEMPLATE-HASH\tUP-TO-DATE\tPORTS" : "");
    json_array_foreach(items, i, o)
    {
        cleanup_free char *age =
            table_age(now, ctl_timestamp_ms(ctl_str(o, "metadata.creationTimestamp")));
        const json_t *owners = json_object_get(json_object_get(o, "metadata"), "ownerReferences");
        const char *owner = ctl_str(json_array_get(owners, 0), "name");
        const json_t *annotations = json_object_get(json_object_get(o, "metadata"), "annotations");
        cleanup_free char *extra =
            wide ? xasprintf("\t%s\t%s\t%s\t%s", *owner ? owner : "<none>",
                             annotation(annotations, "vmirsd.io/template-hash"),
                             annotation(annotations, "vmirsd.io/up-to-date"),
                             *annotation(annotations, "vmirsd.io/ports")
                                 ? annotation(annotations, "vmirsd.io/ports")
                                 : "<none>")
                 : xstrdup("");
        const json_t *conds = json_object_get(json_object_get(o, "status"), "conditions");

        table_printf(t, "%s%s%s\t%s\t%s\t%s\t%s%s", all_ns ? ctl_str(o, "metadata.namespace") : "",
                     all_ns ? "\t" : "", ctl_str(o, "metadata.name"), ctl_str(o, "status.phase"),
                     ctl_str(json_array_get(conds, 0), "status"),
                     annotation(annotations, "vmirsd.io/domain"), age, extra);
    }
    table_flush(t, stdout);
}

static void
get_usage(FILE *out)
{
    fprintf(out,
            "Usage: vmirsctl get vmirs [NAME] [-n NS | -A] [-o wide|yaml|json]\n"
            "       vmirsctl get vmis [NAME] [-l SELECTOR] [-n NS | -A] [-o wide|yaml|json]\n");
}

int
ctl_get(struct ctl_ctx *ctx, int argc, char **argv)
{
    const char *name = NULL, *sel_text = NULL;
    const struct ctl_flag flags[] = {{"selector", 'l', &sel_text}, {NULL}};
    const struct ctl_opts_spec spec = {CTL_OPT_ALL_NS | CTL_OPT_OUTPUT, get_formats, flags,
                                       get_usage};
    struct ctl_opts opts;
    struct selector sel = {0};
    struct store *s = NULL;
    json_t *items;
    int kind, rc;

    rc = ctl_opts_parse(&spec, argc, argv, &opts);
    if (rc != CTL_OPTS_GO_ON)
        return rc;
    if (opts.next >= argc || argc - opts.next > 2) {
        get_usage(stderr);
        return CTL_USAGE;
    }
    if (ctl_parse_kind(argv[opts.next], &kind) < 0) {
        fprintf(stderr, "vmirsctl: the server doesn't have a resource type \"%s\"\n",
                argv[opts.next]);
        return CTL_USAGE;
    }
    name = argc - opts.next == 2 ? argv[opts.next + 1] : NULL;
    if (sel_text) {
        cleanup_free char *err = NULL;

        if (kind != GET_VMIS) {
            fprintf(stderr, "vmirsctl: -l applies to vmis\n");
            return CTL_USAGE;
        }
        if (selector_parse(sel_text, &sel, &err) < 0) {
            fprintf(stderr, "vmirsctl: %s\n", err);
            return CTL_ERROR;
        }
    }
    rc = ctl_open_store(ctx, &s);
    if (rc != CTL_OK) {
        selector_free(&sel);
        return rc;
    }
    items = kind == GET_VMIRS
                ? ctl_vmirs_list(s, opts.all_ns ? NULL : opts.ns, name)
                : ctl_vmi_list(s, opts.all_ns ? NULL : opts.ns, sel_text ? &sel : NULL);
    if (kind == GET_VMIS && name) {
        /* One VMI by name: filter the list. */
        json_t *one = json_array();
        size_t i;
        json_t *o;

        json_array_foreach(items, i, o) if (strcmp(ctl_str(o, "metadata.name"), name) == 0)
            json_array_append(one, o);
        json_decref(items);
        items = one;
    }
    store_close(s);
    selector_free(&sel);
    rc = CTL_OK;
    if (name && json_array_size(items) == 0) {
        fprintf(stderr, "Error from server (NotFound): %s \"%s\" not found\n", resource_names[kind],
                name);
        rc = CTL_ERROR;
    } else if (opts.output == FMT_JSON || opts.output == FMT_YAML) {
        json_t *out = name ? json_incref(json_array_get(items, 0)) : ctl_list(json_incref(items));

        if ((opts.output == FMT_JSON ? emit_json(out, stdout) : emit_yaml(out, stdout)) < 0)
            rc = CTL_ERROR;
        json_decref(out);
    } else if (json_array_size(items) == 0) {
        if (opts.all_ns)
            fprintf(stderr, "No resources found\n");
        else
            fprintf(stderr, "No resources found in %s namespace.\n", opts.ns);
    } else if (kind == GET_VMIRS) {
        print_vmirs_table(items, opts.output == FMT_WIDE, opts.all_ns, clock_wall_ms());
    } else {
        print_vmi_table(items, opts.output == FMT_WIDE, opts.all_ns, clock_wall_ms());
    }
    json_decref(items);
    return rc;
}
