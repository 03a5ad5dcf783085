#include "config.h"

#include "validate.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "util.h"

static const char *
base_name(const char *p)
{
    const char *s = strrchr(p, '/');

    return s ? s + 1 : p;
}

static int
cmp_by_name(const void *a, const void *b)
{
    const char *x = *(const char *const *) a, *y = *(const char *const *) b;
    int c = strcmp(base_name(x), base_name(y));

    return c ? c : strcmp(x, y);
}

static void
add_file(struct str_array *files, size_t *cap, char *path)
{
    files->v = xgrow(files->v, cap, files->n + 1, sizeof(char *));
    files->v[files->n++] = path;
}

void
validate_collect(char *const *paths, size_t npaths, struct str_array *files,
                 struct diag_list *diags)
{
    size_t cap = 0;

    for (size_t i = 0; i < npaths; i++) {
        struct stat st;
        DIR *d;
        struct dirent *e;

        if (stat(paths[i], &st) < 0) {
            diag_add(diags, paths[i], 0, 0, DIAG_ERROR, "stat: %s", strerror(errno));
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            add_file(files, &cap, xstrdup(paths[i]));
            continue;
        }
        d = opendir(paths[i]);
        if (!d) {
            diag_add(diags, paths[i], 0, 0, DIAG_ERROR, "open directory: %s", strerror(errno));
            continue;
        }
        while ((e = readdir(d))) {
            char *p;

            if (!manifest_filename_ok(e->d_name))
                continue;
            p = xasprintf("%s%s%s", paths[i], str_has_suffix(paths[i], "/") ? "" : "/", e->d_name);
            /* As the spool lists them: all but dangling links, so that a
             * FIFO or a directory named like a manifest is reported. */
            if (stat(p, &st) == 0 || errno != ENOENT)
                add_file(files, &cap, p);
            else
                free(p);
        }
        closedir(d);
    }
    if (files->n)
        qsort(files->v, files->n, sizeof(char *), cmp_by_name);
}

/* The object of kind ns/name that the files define first, or NULL. */
static const struct kobj *
find_obj(const struct kobj_index *ix, enum kobj_kind kind, const char *ns, const char *name)
{
    const struct kobj_slot *slot = kobj_index_find(ix, kind, ns, name);

    return slot ? slot->obj : NULL;
}

/* Index every object, the first by file name winning; each later one of
 * the same kind, namespace and name is an error and marked invalid. One
 * pass with a hash index: linear in the number of objects. */
static void
check_duplicates(struct manifest_file *files, size_t n, struct kobj_index *ix,
                 struct diag_list *diags)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < files[i].nobjs; j++) {
            struct kobj *o = &files[i].objs[j];
            const struct kobj_slot *first = kobj_index_add(ix, o, i);

            if (!first)
                continue;
            diag_add(diags, files[i].path, o->name_pos.line, o->name_pos.col, DIAG_ERROR,
                     "metadata.name: Duplicate value: %s \"%s/%s\" is already defined at "
                     "%s:%u:%u; this "
                     "definition is ignored",
                     manifest_kind_name(o->kind), o->namespace, o->name, files[first->value].path,
                     first->obj->name_pos.line, first->obj->name_pos.col);
            o->valid = false;
        }
    }
}

static bool
secret_has_key(const struct secret *se, const char *a, const char *b)
{
    for (size_t i = 0; i < se->items.n; i++)
        if (streq0(se->items.v[i].key, a) || streq0(se->items.v[i].key, b))
            return true;
    return false;
}

/* A cloud-init secretRef or networkDataSecretRef: the Secret should be in
 * the spool and hold the key KubeVirt reads (userdata or userData,
 * networkdata or networkData). Only names are reported, never data. */
static void
check_cloud_init_ref(const struct kobj_index *ix, const char *path, const char *ns, size_t vi,
                     const char *source, const char *field, const struct local_ref *r,
                     const char *key, const char *key2, struct diag_list *diags)
{
    const struct kobj *o;

    if (!r || !r->name)
        return;
    o = find_obj(ix, KOBJ_SECRET, ns, r->name);
    if (!o)
        diag_add(diags, path, r->pos.line, r->pos.col, DIAG_WARNING,
                 "spec.template.spec.volumes[%zu].%s.%s.name: Secret \"%s/%s\" is not defined in "
                 "these files; replicas cannot start until it is",
                 vi, source, field, ns, r->name);
    else if (o->valid && !secret_has_key(o->u.secret, key, key2))
        diag_add(diags, path, r->pos.line, r->pos.col, DIAG_WARNING,
                 "spec.template.spec.volumes[%zu].%s.%s.name: Secret \"%s/%s\" has no key \"%s\" "
                 "or \"%s\"; replicas cannot start until it has",
                 vi, source, field, ns, r->name, key, key2);
}

static void
check_references(struct manifest_file *files, size_t n, const struct kobj_index *ix,
                 struct diag_list *diags)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < files[i].nobjs; j++) {
            const struct kobj *o = &files[i].objs[j];
            const struct vmi_template *t;

            if (o->kind != KOBJ_VMIRS || !o->u.vmirs->spec.template)
                continue;
            t = o->u.vmirs->spec.template;
            for (size_t k = 0; k < t->spec.volumes.n; k++) {
                const struct volume *v = &t->spec.volumes.v[k];
                const struct config_map_src *cm = v->config_map;
                const struct secret_src *se = v->secret;

                if (cm && cm->name && !(cm->optional.set && cm->optional.v) &&
                    !find_obj(ix, KOBJ_CONFIG_MAP, o->namespace, cm->name))
                    diag_add(diags, files[i].path, cm->pos.line, cm->pos.col, DIAG_WARNING,
                             "spec.template.spec.volumes[%zu].configMap.name: ConfigMap \"%s/%s\" "
                             "is not defined "
                             "in these files; replicas cannot start until it is",
                             k, o->namespace, cm->name);
                if (se && se->secret_name && !(se->optional.set && se->optional.v) &&
                    !find_obj(ix, KOBJ_SECRET, o->namespace, se->secret_name))
                    diag_add(diags, files[i].path, se->pos.line, se->pos.col, DIAG_WARNING,
                             "spec.template.spec.volumes[%zu].secret.secretName: Secret \"%s/%s\" "
                             "is not defined "
                             "in these files; replicas cannot start until it is",
                             k, o->namespace, se->secret_name);
                for (int cd = 0; cd < 2; cd++) {
                    const struct cloud_init_src *ci =
                        cd ? v->cloud_init_config_drive : v->cloud_init_nocloud;
                    const char *source = cd ? "cloudInitConfigDrive" : "cloudInitNoCloud";

                    if (!ci)
                        continue;
                    check_cloud_init_ref(ix, files[i].path, o->namespace, k, source, "secretRef",
                                         ci->secret_ref, "userdata", "userData", diags);
                    check_cloud_init_ref(ix, files[i].path, o->namespace, k, source,
                                         "networkDataSecretRef", ci->network_data_secret_ref,
                                         "networkdata", "networkData", diags);
                }
            }
        }
    }
}

void
validate_cross_check(struct manifest_file *files, size_t n, struct diag_list *diags)
{
    struct kobj_index ix = {0};

    check_duplicates(files, n, &ix, diags);
    check_references(files, n, &ix, diags);
    kobj_index_clear(&ix);
}

char *
validate_format_diag(const struct diag *d)
{
    cleanup_free char *file = log_escape_name(d->file);
    cleanup_free char *msg = log_escape_text(d->msg);
    struct diag e = *d;

    e.file = file;
    e.msg = msg;
    return diag_format(&e);
}

static void
print_diags(const struct diag_list *l, FILE *out)
{
    for (size_t i = 0; i < l->n; i++) {
        cleanup_free char *s = validate_format_diag(&l->v[i]);

        fprintf(out, "%s\n", s);
    }
}

int
validate_main(char *const *paths, size_t npaths, FILE *out, FILE *err)
{
    struct str_array files = {0};
    struct diag_list diags = {0};
    struct manifest_file *mf;
    size_t nobjs = 0;
    int rc;

    validate_collect(paths, npaths, &files, &diags);
    mf = xcalloc(files.n, sizeof(*mf));
    for (size_t i = 0; i < files.n; i++) {
        manifest_load(&mf[i], files.v[i]);
        nobjs += mf[i].nobjs;
    }
    validate_cross_check(mf, files.n, &diags);
    for (size_t i = 0; i < files.n; i++)
        diag_extend(&diags, &mf[i].diags);
    /* Per file, in position order; files in the order the spool reads them. */
    for (size_t i = 0; i < files.n; i++) {
        struct diag_list one = {0};

        for (size_t j = 0; j < diags.n; j++)
            if (strcmp(diags.v[j].file, files.v[i]) == 0)
                diag_add(&one, diags.v[j].file, diags.v[j].line, diags.v[j].col,
                         diags.v[j].severity, "%s", diags.v[j].msg);
        diag_sort(&one);
        print_diags(&one, out);
        diag_list_clear(&one);
    }
    for (size_t j = 0; j < diags.n; j++) {
        bool listed = false;

        for (size_t i = 0; i < files.n && !listed; i++)
            listed = strcmp(diags.v[j].file, files.v[i]) == 0;
        if (!listed) {
            cleanup_free char *s = validate_format_diag(&diags.v[j]);

            fprintf(out, "%s\n", s);
        }
    }
    if (err)
        fprintf(err, "%zu file%s, %zu object%s: %zu error%s, %zu warning%s\n", files.n,
                files.n == 1 ? "" : "s", nobjs, nobjs == 1 ? "" : "s", diags.errors,
                diags.errors == 1 ? "" : "s", diags.warnings, diags.warnings == 1 ? "" : "s");
    rc = diags.errors ? 1 : 0;
    for (size_t i = 0; i < files.n; i++) {
        manifest_file_free(&mf[i]);
        free(files.v[i]);
    }
    free(mf);
    free(files.v);
    diag_list_clear(&diags);
    return rc;
}
