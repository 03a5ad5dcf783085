/* Helpers of the commands that change what vmirsd runs through the
 * spool: they read the same configuration, database and manifests. */
#include "config.h"

#include "ctl_spool.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "validate.h"

int
ctl_conf_load(const struct ctl_ctx *ctx, struct vmirs_conf *conf)
{
    struct diag_list diags = {0};
    int rc = CTL_OK;

    if (conf_load(conf, ctx->conf_path, !ctx->conf_given, &diags) < 0) {
        diag_print(&diags, stderr);
        conf_free(conf);
        rc = CTL_ERROR;
    }
    diag_list_clear(&diags);
    return rc;
}

int
ctl_store_open_if_any(const struct vmirs_conf *conf, struct store **out)
{
    cleanup_free char *path = xasprintf("%s/vmirsd.db", conf->state_dir);
    struct vmirs_err *err = NULL;

    *out = NULL;
    if (access(path, F_OK) < 0)
        return CTL_OK;
    if (store_open(path, true, out, &err) < 0) {
        fprintf(stderr, "vmirsctl: %s\n", err->msg);
        err_free(&err);
        return CTL_ERROR;
    }
    return CTL_OK;
}

char *
ctl_spool_find(const char *spool_dir, enum kobj_kind kind, const char *ns, const char *name)
{
    char *const paths[] = {(char *) spool_dir};
    struct str_array files = {0};
    struct diag_list diags = {0};
    char *found = NULL;

    /* Every file is parsed in full: the spool holds a handful of small
     * files, and reading them as the daemon does is what makes "the
     * first file by name wins" agree with it. */
    validate_collect(paths, 1, &files, &diags);
    for (size_t i = 0; i < files.n; i++) {
        struct manifest_file mf = {0};

        if (!found) {
            manifest_load(&mf, files.v[i]);
            for (size_t j = 0; j < mf.nobjs && !found; j++) {
                const struct kobj *o = &mf.objs[j];

                if (o->kind == kind && streq0(o->name, name) &&
                    streq0(o->namespace ? o->namespace : "default", ns))
                    found = xstrdup(files.v[i]);
            }
            manifest_file_free(&mf);
        }
        free(files.v[i]);
    }
    free(files.v);
    diag_list_clear(&diags);
    return found;
}

int
ctl_validate_bytes(struct manifest_file *mf, const char *path, const char *bytes, size_t len,
                   FILE *out)
{
    struct diag_list cross = {0};
    int rc = 0;

    manifest_parse(mf, path, bytes, len);
    /* The rules across documents (one object defined twice) within the
     * file; other files are not this command's business. */
    validate_cross_check(mf, 1, &cross);
    diag_extend(&mf->diags, &cross);
    diag_list_clear(&cross);
    diag_sort(&mf->diags);
    if (mf->diags.errors) {
        diag_print(&mf->diags, out);
        rc = -1;
    }
    return rc;
}
