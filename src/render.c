#include "config.h"

#include "render.h"

#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "materialize.h"
#include "util.h"

static const void *
find_kind(struct manifest_file *f, enum kobj_kind kind, const char *ns, const char *name)
{
    for (size_t i = 0; i < f->nobjs; i++) {
        const struct kobj *o = &f->objs[i];

        if (o->kind == kind && o->valid && streq0(o->namespace, ns) && streq0(o->name, name))
            return o->u.vmirs;
    }
    return NULL;
}

static const struct config_map *
file_config_map(void *opaque, const char *ns, const char *name)
{
    return find_kind(opaque, KOBJ_CONFIG_MAP, ns, name);
}

static const struct secret *
file_secret(void *opaque, const char *ns, const char *name)
{
    return find_kind(opaque, KOBJ_SECRET, ns, name);
}

int
render_main(const struct vmirs_conf *conf, const char *file, names_rng_fn rng, void *opaque,
            FILE *out, FILE *errout)
{
    struct manifest_file mf = {0};
    struct materialize_objects objs = {
        .config_map = file_config_map, .secret = file_secret, .opaque = &mf};
    const char *type = materialize_domain_type(conf);
    int rc = 0, rendered = 0;

    if (manifest_load(&mf, file) < 0) {
        diag_print(&mf.diags, errout);
        manifest_file_free(&mf);
        return 1;
    }
    diag_print(&mf.diags, errout); /* warnings */
    for (size_t i = 0; i < mf.nobjs; i++) {
        const struct kobj *o = &mf.objs[i];
        struct vmirs_err *err = NULL;
        struct replica_id id;
        char *xml = NULL;

        if (o->kind != KOBJ_VMIRS)
            continue;
        replica_id_new(&id, o->u.vmirs, rng, opaque);
        if (materialize_render(conf, type, o->u.vmirs, &objs, &id, &xml, &err) < 0) {
            fprintf(errout, "%s: error: render VirtualMachineInstanceReplicaSet \"%s/%s\": %s\n",
                    file, o->namespace, o->name, err->msg);
            err_free(&err);
            rc = 1;
        } else {
            fputs(xml, out);
            rendered++;
        }
        free(xml);
        replica_id_free(&id);
    }
    if (rc == 0 && rendered == 0) {
        fprintf(errout, "%s: error: no VirtualMachineInstanceReplicaSet to render\n", file);
        rc = 1;
    }
    manifest_file_free(&mf);
    return rc;
}
