/* vmirsd: the node-local VirtualMachineInstanceReplicaSet supervisor.
 * main() is the start-up script: arguments, configuration, then the mode. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "daemon.h"
#include "diag.h"
#include "log.h"
#include "names.h"
#include "render.h"
#include "validate.h"

static void
usage(FILE *out)
{
    fprintf(out,
            "Usage: vmirsd [-c FILE] [-v] [--validate PATH... | --render FILE]\n"
            "Run KubeVirt VirtualMachineInstanceReplicaSets from a spool directory as libvirt "
            "domains.\n"
            "\n"
            "  -c, --config FILE     configuration file (default " CONF_DEFAULT_PATH ")\n"
            "      --validate PATH.. check manifest files or directories and exit:\n"
            "                        one line per problem, exit status 1 on any error\n"
            "      --render FILE     print the domain XML of one replica of each VMIRS in FILE\n"
            "                        as it would be created (resolving images), creating nothing\n"
            "  -v, --verbose         log debug messages\n"
            "      --version         print the version and exit\n"
            "  -h, --help            print this help and exit\n");
}

enum { OPT_VALIDATE = 256, OPT_RENDER, OPT_VERSION };

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"validate", no_argument, NULL, OPT_VALIDATE},
        {"render", required_argument, NULL, OPT_RENDER},
        {"verbose", no_argument, NULL, 'v'},
        {"version", no_argument, NULL, OPT_VERSION},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *conf_path = CONF_DEFAULT_PATH, *render = NULL;
    bool conf_given = false, validate = false, verbose = false;
    struct vmirs_conf conf;
    struct diag_list diags = {0};
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            conf_path = optarg;
            conf_given = true;
            break;
        case 'v':
            verbose = true;
            break;
        case OPT_VALIDATE:
            validate = true;
            break;
        case OPT_RENDER:
            render = optarg;
            break;
        case OPT_VERSION:
            printf("vmirsd %s\n", PACKAGE_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }

    if (validate && render) {
        fprintf(stderr, "vmirsd: --validate and --render cannot be combined\n");
        return 2;
    }
    if (validate) {
        if (optind >= argc) {
            fprintf(stderr, "vmirsd: --validate needs at least one file or directory\n");
            usage(stderr);
            return 2;
        }
        return validate_main(argv + optind, (size_t) (argc - optind), stdout, stderr);
    }
    if (optind < argc) {
        fprintf(stderr, "vmirsd: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    rc = conf_load(&conf, conf_path, !conf_given, &diags);
    diag_print(&diags, stderr);
    diag_list_clear(&diags);
    if (rc < 0) {
        conf_free(&conf);
        return 1;
    }
    log_set_level(verbose ? LOG_LEVEL_DEBUG : conf.log_level);
    if (render) {
        rc = render_main(&conf, render, names_rng_system, NULL, stdout, stderr);
        conf_free(&conf);
        return rc;
    }
    rc = daemon_run(&conf, conf_path, conf_given);
    conf_free(&conf);
    return rc;
}
