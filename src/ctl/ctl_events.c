/* vmirsctl events [NAME]: kubectl events' table (LAST SEEN, TYPE, REASON,
 * OBJECT, MESSAGE), repeats folded, oldest first. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "emit.h"
#include "table.h"
#include "util.h"

static const char events_usage[] = "Usage: vmirsctl events [NAME] [-n NS | -A] [-o yaml|json]\n";

int
ctl_events(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"namespace", required_argument, NULL, 'n'},
        {"all-namespaces", no_argument, NULL, 'A'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *ns = "default", *format = NULL;
    struct store *s = NULL;
    bool all_ns = false;
    json_t *items;
    int opt, rc;

    optind = 0;
    while ((opt = getopt_long(argc, argv, "n:Ao:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'n':
            ns = optarg;
            break;
        case 'A':
            all_ns = true;
            break;
        case 'o':
            format = optarg;
            if (strcmp(format, "yaml") != 0 && strcmp(format, "json") != 0) {
                fprintf(stderr, "vmirsctl: unknown output format \"%s\": use yaml or json\n",
                        format);
                return CTL_USAGE;
            }
            break;
        case 'h':
            fputs(events_usage, stdout);
            return CTL_OK;
        default:
            fputs(events_usage, stderr);
            return CTL_USAGE;
        }
    }
    if (argc - optind > 1) {
        fputs(events_usage, stderr);
        return CTL_USAGE;
    }
    rc = ctl_open_store(ctx, &s);
    if (rc != CTL_OK)
        return rc;
    items = ctl_event_list(s, all_ns ? NULL : ns, argc - optind == 1 ? argv[optind] : NULL);
    store_close(s);
    if (format) {
        json_t *list = ctl_list(json_incref(items));

        rc = (strcmp(format, "json") == 0 ? emit_json(list, stdout) : emit_yaml(list, stdout)) < 0
                 ? CTL_ERROR
                 : CTL_OK;
        json_decref(list);
    } else if (json_array_size(items) == 0) {
        if (all_ns)
            fprintf(stderr, "No events found.\n");
        else
            fprintf(stderr, "No events found in %s namespace.\n", ns);
    } else {
        struct table *t = table_new();
        int64_t now = ctl_now_ms();
        size_t i;
        json_t *e;

        table_printf(t, "%sLAST SEEN\tTYPE\tREASON\tOBJECT\tMESSAGE", all_ns ? "NAMESPACE\t" : "");
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
                         all_ns ? ctl_str(e, "metadata.namespace") : "", all_ns ? "\t" : "", seen,
                         ctl_str(e, "type"), ctl_str(e, "reason"), kind,
                         ctl_str(e, "involvedObject.name"), ctl_str(e, "message"));
        }
        table_flush(t, stdout);
    }
    json_decref(items);
    return rc;
}
