/* The options vmirsctl's commands share, parsed in one place the way
 * kubectl reads them: -n/--namespace and -h/--help everywhere, -A and
 * -o where a command lists things, and each command's own options that
 * take a value (--replicas, -l, --port...). */
#ifndef VMIRS_CTL_OPTS_H
#define VMIRS_CTL_OPTS_H

#include <stdbool.h>
#include <stdio.h>

/* The shared options a command takes besides -n and -h. */
enum { CTL_OPT_ALL_NS = 1 << 0, CTL_OPT_OUTPUT = 1 << 1 };

/* The most options of its own a command may have. */
#define CTL_OPTS_MAX_FLAGS 8

/* A command's own option: its long name, its short letter (0 for none)
 * and where its value goes. */
struct ctl_flag {
    const char *name;
    char letter;
    const char **value;
};

/* What a command accepts: CTL_OPT_* bits, -o's values (NULL-terminated),
 * its own options (ending with {NULL}; NULL for none) and its usage. */
struct ctl_opts_spec {
    unsigned accept;
    const char *const *formats;
    const struct ctl_flag *flags;
    void (*usage)(FILE *out);
};

/* What the command line gave: the namespace ("default" unless -n), -A,
 * -o as an index into formats (-1 without -o), and argv's first operand. */
struct ctl_opts {
    const char *ns;
    bool all_ns;
    int output;
    int next;
};

/* What ctl_opts_parse returns when the command goes on to its operands. */
#define CTL_OPTS_GO_ON (-1)

/* Parse the options of argv (argv[0] the command's name, which getopt's
 * own messages show) into *o: CTL_OPTS_GO_ON, or the status the command
 * exits with at once, CTL_OK after --help (usage on stdout) or CTL_USAGE
 * once the problem is told on stderr. */
int ctl_opts_parse(const struct ctl_opts_spec *spec, int argc, char **argv, struct ctl_opts *o);

/* ctl_opts_parse, then the one object the command acts on, through
 * ctl_object_arg (want, cmd, *owned and *name as there): CTL_OPTS_GO_ON,
 * or the status the command exits with at once. */
int ctl_opts_parse_object(const struct ctl_opts_spec *spec, int argc, char **argv, int want,
                          const char *cmd, struct ctl_opts *o, char **owned, const char **name);

#endif
