/* vmirsctl commands: one file each, listed in vmirsctl.c's table. */
#ifndef VMIRS_CTL_H
#define VMIRS_CTL_H

#include <jansson.h>
#include <stdio.h>
#include <stdint.h>

#include "conf.h"
#include "selector.h"
#include "store.h"

/* Exit statuses, as kubectl-like tools use them. */
enum { CTL_OK = 0, CTL_ERROR = 1, CTL_USAGE = 2 };

struct ctl_ctx {
    const char *conf_path;
    bool conf_given;
};

/* Each command gets the arguments after its name (argv[0] is the name). */
int ctl_validate(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_get(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_describe(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_events(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_scale(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_delete(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_expose(struct ctl_ctx *ctx, int argc, char **argv);

/* ctl_objects.c: the database read-only, and its rows as Kubernetes
 * objects (jansson), the one source of every output format. */
int ctl_open_store(const struct ctl_ctx *ctx, struct store **out);
json_t *ctl_vmirs_list(struct store *s, const char *ns, const char *name);
json_t *ctl_vmi_list(struct store *s, const char *ns, const struct selector *sel);
json_t *ctl_event_list(struct store *s, const char *ns, const char *name);
/* A kubectl List of items (stolen). */
json_t *ctl_list(json_t *items);
/* A string or integer at a dotted path, "" or 0 when absent. */
const char *ctl_str(const json_t *o, const char *path);
long long ctl_int(const json_t *o, const char *path);
/* The object a command acts on, "TYPE NAME" or kubectl's "TYPE/NAME",
 * of kind want (0 vmirs, 1 vmi): CTL_OK with *name (pointing into args
 * or into *owned, which the caller frees), or CTL_USAGE once the problem
 * is told (usage(stderr) for a wrong number of arguments). */
int ctl_object_arg(int nargs, char **args, int want, const char *cmd, void (*usage)(FILE *out),
                   char **owned, const char **name);
/* A resource name kubectl accepts (vmirs, vmis...): 0 = vmirs, 1 = vmis. */
int ctl_parse_kind(const char *name, int *kind);
char *ctl_timestamp(int64_t ms);
/* RFC 3339 (as ctl_timestamp writes it) to ms; 0 if not one. */
int64_t ctl_timestamp_ms(const char *text);

#endif
