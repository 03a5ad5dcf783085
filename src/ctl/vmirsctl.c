/* vmirsctl: look at what vmirsd runs, the way kubectl does. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static const struct ctl_command {
    const char *name;
    int (*fn)(struct ctl_ctx *ctx, int argc, char **argv);
    const char *usage;
    const char *help;
} commands[] = {
    {"get", ctl_get, "get vmirs|vmis [NAME]",
     "list replica sets or replicas (-n NS, -A, -l SELECTOR, -o wide|yaml|json)"},
    {"describe", ctl_describe, "describe vmirs NAME", "show a replica set, its status and events"},
    {"events", ctl_events, "events [NAME]",
     "list events, repeats folded (-n NS, -A, -o yaml|json)"},
    {"validate", ctl_validate, "validate PATH...",
     "check manifest files or directories (as vmirsd --validate)"},
    {"scale", ctl_scale, "scale vmirs NAME",
     "set spec.replicas in its manifest file, layout kept (--replicas N, -n NS)"},
    {"delete", ctl_delete, "delete vmi NAME", "evict one replica; vmirsd replaces it (-n NS)"},
    {"expose", ctl_expose, "expose vmirs NAME",
     "write a Service manifest into the spool (--name SVC --port P [--target-port T], -n NS)"},
};

static void
usage(FILE *out)
{
    fprintf(out, "Usage: vmirsctl [-c FILE] COMMAND [ARGS...]\n"
                 "Show and change what vmirsd runs.\n\nCommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-20s %s\n", commands[i].usage, commands[i].help);
    fprintf(out, "\nOptions:\n"
                 "  -c, --config FILE  configuration file (default " CONF_DEFAULT_PATH ")\n"
                 "      --version      print the version and exit\n"
                 "  -h, --help         print this help and exit\n"
                 "\nExit status: 0 on success, 1 on an error, 2 on a usage error.\n");
}

enum { OPT_VERSION = 256 };

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"version", no_argument, NULL, OPT_VERSION},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct ctl_ctx ctx = {.conf_path = CONF_DEFAULT_PATH};
    int opt;

    /* Options stop at the command name: what follows belongs to it. */
    while ((opt = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            ctx.conf_path = optarg;
            ctx.conf_given = true;
            break;
        case OPT_VERSION:
            printf("vmirsctl %s\n", PACKAGE_VERSION);
            return CTL_OK;
        case 'h':
            usage(stdout);
            return CTL_OK;
        default:
            usage(stderr);
            return CTL_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return CTL_USAGE;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[optind], commands[i].name) == 0)
            return commands[i].fn(&ctx, argc - optind, argv + optind);
    fprintf(stderr, "vmirsctl: unknown command \"%s\"; see vmirsctl --help\n", argv[optind]);
    return CTL_USAGE;
}
