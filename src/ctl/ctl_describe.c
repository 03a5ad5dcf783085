/* vmirsctl describe vmirs NAME: kubectl describe's layout for a custom
 * resource (the seed document's), then its events. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctl_opts.h"
#include "table.h"
#include "util.h"

static char *
scalar_text(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return xstrdup(json_string_value(v));
    case JSON_INTEGER:
        return xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL:
        return xasprintf("%g", json_real_value(v));
    case JSON_TRUE:
        return xstrdup("true");
    case JSON_FALSE:
        return xstrdup("false");
    default:
        return xstrdup("<nil>");
    }
}

static int
cmp_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* kubectl's printUnstructuredContent: keys sorted, maps and lists as
 * nested blocks, two spaces per level. skip names top-level keys. */
static void
describe_content(struct table *t, int level, const json_t *obj, const char *const *skip)
{
    size_t n = json_object_size(obj), i = 0;
    const char **keys = xcalloc(n ? n : 1, sizeof(*keys));
    const char *k;
    json_t *v;

    json_object_foreach((json_t *) obj, k, v) keys[i++] = k;
    qsort(keys, n, sizeof(*keys), cmp_key);
    for (i = 0; i < n; i++) {
        char label[512];
        bool skipped = false;

        for (size_t s = 0; skip && skip[s]; s++)
            skipped = skipped || strcmp(skip[s], keys[i]) == 0;
        if (skipped)
            continue;
        v = json_object_get(obj, keys[i]);
        table_smart_label(keys[i], label, sizeof(label));
        if (json_is_object(v)) {
            table_printf(t, "%*s%s:", level * 2, "", label);
            describe_content(t, level + 1, v, NULL);
        } else if (json_is_array(v)) {
            size_t j;
            json_t *child;

            table_printf(t, "%*s%s:", level * 2, "", label);
            json_array_foreach(v, j, child)
            {
                if (json_is_object(child))
                    describe_content(t, level + 1, child, NULL);
                else {
                    cleanup_free char *text = scalar_text(child);

                    table_printf(t, "%*s%s", (level + 1) * 2, "", text);
                }
            }
        } else {
            cleanup_free char *text = scalar_text(v);

            table_printf(t, "%*s%s:\t%s", level * 2, "", label, text);
        }
    }
    free(keys);
}

/* "Labels:  a=b" with further pairs on their own lines, or <none>. */
static void
describe_pairs(struct table *t, const char *title, const json_t *map)
{
    size_t n = json_object_size(map), i = 0;
    const char **keys = xcalloc(n ? n : 1, sizeof(*keys));
    const char *k;
    json_t *v;

    if (n == 0)
        table_printf(t, "%s:\t<none>", title);
    json_object_foreach((json_t *) map, k, v) keys[i++] = k;
    qsort(keys, n, sizeof(*keys), cmp_key);
    for (i = 0; i < n; i++)
        table_printf(t, "%s%s\t%s=%s", i == 0 ? title : "", i == 0 ? ":" : "", keys[i],
                     json_string_value(json_object_get(map, keys[i])));
    free(keys);
}

/* kubectl's DescribeEvents. */
static void
describe_events(struct table *t, const json_t *events, int64_t now)
{
    size_t i;
    json_t *e;

    if (json_array_size(events) == 0) {
        table_printf(t, "Events:\t<none>");
        return;
    }
    table_printf(t, "Events:");
    table_printf(t, "  Type\tReason\tAge\tFrom\tMessage");
    table_printf(t, "  ----\t------\t----\t----\t-------");
    json_array_foreach(events, i, e)
    {
        cleanup_free char *first = table_age(now, ctl_timestamp_ms(ctl_str(e, "firstTimestamp")));
        cleanup_free char *last = table_age(now, ctl_timestamp_ms(ctl_str(e, "lastTimestamp")));
        cleanup_free char *interval =
            ctl_int(e, "count") > 1
                ? xasprintf("%s (x%lld over %s)", last, ctl_int(e, "count"), first)
                : xstrdup(first);

        table_printf(t, "  %s\t%s\t%s\t%s\t%s", ctl_str(e, "type"), ctl_str(e, "reason"), interval,
                     ctl_str(e, "source.component"), ctl_str(e, "message"));
    }
}

static void
describe_usage(FILE *out)
{
    fprintf(out, "Usage: vmirsctl describe vmirs NAME [-n NS]\n");
}

int
ctl_describe(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const char *const meta_skip[] = {"name", "namespace", "labels", "annotations", NULL};
    const struct ctl_opts_spec spec = {0, NULL, NULL, describe_usage};
    struct ctl_opts opts;
    struct store *s = NULL;
    json_t *items, *events, *o, *content;
    const char *name;
    struct table *t;
    int kind, rc;

    rc = ctl_opts_parse(&spec, argc, argv, &opts);
    if (rc != CTL_OPTS_GO_ON)
        return rc;
    if (argc - opts.next != 2 || ctl_parse_kind(argv[opts.next], &kind) < 0 || kind != 0) {
        describe_usage(stderr);
        return CTL_USAGE;
    }
    name = argv[opts.next + 1];
    rc = ctl_open_store(ctx, &s);
    if (rc != CTL_OK)
        return rc;
    items = ctl_vmirs_list(s, opts.ns, name);
    events = ctl_event_list(s, opts.ns, name);
    store_close(s);
    o = json_array_get(items, 0);
    if (!o) {
        fprintf(stderr,
                "Error from server (NotFound): "
                "virtualmachineinstancereplicasets.kubevirt.io \"%s\" not found\n",
                name);
        json_decref(items);
        json_decref(events);
        return CTL_ERROR;
    }
    t = table_new();
    table_printf(t, "Name:\t%s", ctl_str(o, "metadata.name"));
    table_printf(t, "Namespace:\t%s", ctl_str(o, "metadata.namespace"));
    describe_pairs(t, "Labels", json_object_get(json_object_get(o, "metadata"), "labels"));
    describe_pairs(t, "Annotations",
                   json_object_get(json_object_get(o, "metadata"), "annotations"));
    /* The rest as kubectl prints any object, metadata without what is
     * already shown above. */
    content = json_deep_copy(o);
    {
        json_t *meta = json_object_get(content, "metadata");

        for (size_t i = 0; meta_skip[i]; i++)
            json_object_del(meta, meta_skip[i]);
    }
    describe_content(t, 0, content, NULL);
    json_decref(content);
    describe_events(t, events, clock_wall_ms());
    table_flush(t, stdout);
    json_decref(items);
    json_decref(events);
    return CTL_OK;
}
