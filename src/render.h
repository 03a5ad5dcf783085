/* `vmirsd --render FILE`: the domain XML of one replica of each VMIRS in
 * FILE, exactly as it would be created, without creating anything but
 * (possibly) image cache entries. */
#ifndef VMIRS_RENDER_H
#define VMIRS_RENDER_H

#include <stdio.h>

#include "conf.h"
#include "names.h"

/* Print the XML to out and problems to errout; returns the exit status
 * (0, or 1 with the diagnostics or the error). */
int render_main(const struct vmirs_conf *conf, const char *file, names_rng_fn rng, void *opaque,
                FILE *out, FILE *errout);

#endif
