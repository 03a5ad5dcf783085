/* vmirsctl events [NAME]: kubectl events' table (LAST SEEN, TYPE, REASON,
 * OBJECT, MESSAGE), repeats folded, oldest first. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctl_opts.h"
#include "emit.h"
#include "table.h"
#include "util.h"

static const char events_usage_text[] =
    "Usage: vmirsctl events [NAME] [-n NS | -A] [-o yaml|json]\n";

/* -o's values, indexed as ctl_opts gives them; EV_TABLE without -o. */
enum events_format { EV_TABLE = -1, EV_YAML, EV_JSON };
static const char *const events_formats[] = {[EV_YAML] = "yaml", [EV_JSON] = "json", NULL};

static void
events_usage(FILE *out)
{
    fputs(events_usage_text, out);
}

int
ctl_events(struct ctl_ctx *ctx, int argc, char **argv)
{
    const struct ctl_opts_spec spec = {CTL_OPT_ALL_NS | CTL_OPT_OUTPUT, events_formats, NULL,
                                       events_usage};
    struct ctl_opts opts;
    struct store *s = NULL;
    json_t *items;
    int rc;

    rc = ctl_opts_parse(&spec, argc, argv, &opts);
    if (rc != CTL_OPTS_GO_ON)
        return rc;
    if (argc - opts.next > 1) {
        events_usage(stderr);
        return CTL_USAGE;
    }
    rc = ctl_open_store(ctx, &s);
    if (rc != CTL_OK)
        return rc;
    items = ctl_event_list(s, opts.all_ns ? NULL : opts.ns,
                           argc - opts.next == 1 ? argv[opts.next] : NULL);
    store_close(s);
    if (opts.output != EV_TABLE) {
        json_t *list = ctl_list(json_incref(items));

        rc = (opts.output == EV_JSON ? emit_json(list, stdout) : emit_yaml(list, stdout)) < 0
                 ? CTL_ERROR
                 : CTL_OK;
        json_decref(list);
    } else if (json_array_size(items) == 0) {
        if (opts.all_ns)
            fprintf(stderr, "No events found.\n");
        else
            fprintf(stderr, "No events found in %s namespace.\n", opts.ns);
    } else {
        struct table *t = table_new();
        int64_t now = clock_wall_ms();
        size_t i;
        json_t *e;

        table_printf(t, "%sLAST SEEN\tTYPE\tREASON\tOBJECT\tMESSAGE",
                     opts.all_ns ? "NAMESPACE\t" : "");
        json_array_foreach(items, i, e)
        {
            cleanup_free char *last = table_age(now, ctl_timestamp_ms(ctl_str(e, "lastTimestamp")));
            cleanup_free char *first =
                table_age(now, ctl_timestamp_ms(ctl_str(e, "firstTimestamp")));
            cleanup_free char *seen =
                ctl_int(e, "count") > 1
                    ? xasprintf("%s (x%lld over %s)", last, ctl_int(e, "count"), first)
                    : xstrdup(last);
            cleanup_free char *kind = xstrdup(ctl_str(e, "involvedObject.kind"));

            for (char *p = kind; *p; p++)
                *p = (char) (*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
            table_printf(t, "%s%s%s\t%s\t%s\t%s/%s\t%s",
                         opts.all_ns ? ctl_str(e, "metadata.namespace") : "",
                         opts.all_ns ? "\t" : "", seen, ctl_str(e, "type"), ctl_str(e, "reason"),
                         kind, ctl_str(e, "involvedObject.name"), ctl_str(e, "message"));
        }
        table_flush(t, stdout);
    }
    json_decref(items);
    return rc;
}
