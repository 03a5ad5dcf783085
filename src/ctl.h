/* vmirsctl commands: one file each, listed in vmirsctl.c's table. */
#ifndef VMIRS_CTL_H
#define VMIRS_CTL_H

#include "conf.h"

/* Exit statuses, as kubectl-like tools use them. */
enum { CTL_OK = 0, CTL_ERROR = 1, CTL_USAGE = 2 };

struct ctl_ctx {
    const char *conf_path;
    bool conf_given;
};

/* Each command gets the arguments after its name (argv[0] is the name). */
int ctl_validate(struct ctl_ctx *ctx, int argc, char **argv);

#endif
