#include "config.h"

#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "validate.h"

int
ctl_validate(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "vmirsctl validate: needs at least one file or directory\n"
                        "Usage: vmirsctl validate PATH...\n");
        return CTL_USAGE;
    }
    return validate_main(argv + 1, (size_t) (argc - 1), stdout, stderr);
}
