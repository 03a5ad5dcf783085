/* One getopt_long loop for every command. The long options are laid out
 * as the commands used to list them, their own first, then namespace,
 * all-namespaces, output and help: getopt names the candidates of an
 * ambiguous abbreviation (expose's --na: --name or --namespace) in that
 * order, and the message must not change. */
#include "config.h"

#include <assert.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "ctl_opts.h"

/* The getopt values of options without a short letter. */
enum { OPT_LONG_ONLY = 256 };

/* "unknown output format "x": use wide, yaml or json" (or "yaml or
 * json"), as the commands have always worded it. */
static void
ctl_opts_bad_format(const char *const *formats, const char *given)
{
    size_t n = 0;

    while (formats[n])
        n++;
    fprintf(stderr, "vmirsctl: unknown output format \"%s\": use ", given);
    for (size_t k = 0; k < n; k++)
        fprintf(stderr, "%s%s", k == 0 ? "" : k + 1 == n ? " or " : ", ", formats[k]);
    fputc('\n', stderr);
}

/* -o's value as an index into formats, or -1. */
static int
ctl_opts_format(const char *const *formats, const char *given)
{
    for (int k = 0; formats[k]; k++)
        if (strcmp(formats[k], given) == 0)
            return k;
    return -1;
}

int
ctl_opts_parse(const struct ctl_opts_spec *spec, int argc, char **argv, struct ctl_opts *o)
{
    /* The command's own, namespace, all-namespaces, output, help, end. */
    struct option longopts[CTL_OPTS_MAX_FLAGS + 5];
    char shortopts[2 * CTL_OPTS_MAX_FLAGS + 8];
    size_t nlong = 0, nshort = 0, nflags = 0;
    int opt;

    while (spec->flags && spec->flags[nflags].name)
        nflags++;
    assert(nflags <= CTL_OPTS_MAX_FLAGS);
    assert(!(spec->accept & CTL_OPT_OUTPUT) || spec->formats);
    for (size_t k = 0; k < nflags; k++) {
        const struct ctl_flag *f = &spec->flags[k];

        /* A letter of the shared options would never reach its flag. */
        assert(!f->letter || !strchr("nAoh", f->letter));
        longopts[nlong++] = (struct option){f->name, required_argument, NULL,
                                            f->letter ? f->letter : OPT_LONG_ONLY + (int) k};
        if (f->letter) {
            shortopts[nshort++] = f->letter;
            shortopts[nshort++] = ':';
        }
    }
    longopts[nlong++] = (struct option){"namespace", required_argument, NULL, 'n'};
    memcpy(shortopts + nshort, "n:", 2);
    nshort += 2;
    if (spec->accept & CTL_OPT_ALL_NS) {
        longopts[nlong++] = (struct option){"all-namespaces", no_argument, NULL, 'A'};
        shortopts[nshort++] = 'A';
    }
    if (spec->accept & CTL_OPT_OUTPUT) {
        longopts[nlong++] = (struct option){"output", required_argument, NULL, 'o'};
        memcpy(shortopts + nshort, "o:", 2);
        nshort += 2;
    }
    longopts[nlong++] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[nlong] = (struct option){NULL, 0, NULL, 0};
    shortopts[nshort++] = 'h';
    shortopts[nshort] = '\0';

    *o = (struct ctl_opts){.ns = "default", .output = -1};
    optind = 0;
    while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        switch (opt) {
        case 'n':
            o->ns = optarg;
            break;
        case 'A':
            o->all_ns = true;
            break;
        case 'o':
            o->output = ctl_opts_format(spec->formats, optarg);
            if (o->output < 0) {
                ctl_opts_bad_format(spec->formats, optarg);
                return CTL_USAGE;
            }
            break;
        case 'h':
            spec->usage(stdout);
            return CTL_OK;
        case '?':
            spec->usage(stderr);
            return CTL_USAGE;
        default:
            for (size_t k = 0; k < nflags; k++)
                if (opt ==
                    (spec->flags[k].letter ? spec->flags[k].letter : OPT_LONG_ONLY + (int) k))
                    *spec->flags[k].value = optarg;
            break;
        }
    }
    o->next = optind;
    return CTL_OPTS_GO_ON;
}

int
ctl_opts_parse_object(const struct ctl_opts_spec *spec, int argc, char **argv, int want,
                      const char *cmd, struct ctl_opts *o, char **owned, const char **name)
{
    int rc = ctl_opts_parse(spec, argc, argv, o);

    if (rc != CTL_OPTS_GO_ON)
        return rc;
    if (ctl_object_arg(argc - o->next, argv + o->next, want, cmd, spec->usage, owned, name) !=
        CTL_OK)
        return CTL_USAGE;
    return CTL_OPTS_GO_ON;
}
