#include "config.h"

#define LOG_COMPONENT "desired"

#include "desired.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"
#include "validate.h"

static const char *
base_name(const char *p)
{
    const char *s = strrchr(p, '/');

    return s ? s + 1 : p;
}

static struct desired_file *
find_file(struct desired *d, const char *path, bool create)
{
    size_t i;

    for (i = 0; i < d->nfiles; i++) {
        int c = strcmp(base_name(d->files[i].path), base_name(path));

        if (c == 0 && strcmp(d->files[i].path, path) == 0)
            return &d->files[i];
        if (c > 0)
            break;
    }
    if (!create)
        return NULL;
    d->files = xrealloc(d->files, (d->nfiles + 1) * sizeof(*d->files));
    memmove(&d->files[i + 1], &d->files[i], (d->nfiles - i) * sizeof(*d->files));
    d->nfiles++;
    memset(&d->files[i], 0, sizeof(d->files[i]));
    d->files[i].path = xstrdup(path);
    return &d->files[i];
}

/* The only errors a usable file may have are selector problems: such a
 * VMIRS is kept and does nothing (SPEC: SelectorMismatch). */
static bool
usable(const struct manifest_file *mf)
{
    size_t selector_errors = 0;

    for (size_t i = 0; i < mf->nobjs; i++)
        if (mf->objs[i].kind == KOBJ_VMIRS)
            selector_errors += mf->objs[i].u.vmirs->selector_errors;
    return mf->diags.errors == selector_errors;
}

struct desired_content *
desired_content_ref(struct desired_content *c)
{
    c->refs++;
    return c;
}

void
desired_content_unref(struct desired_content *c)
{
    if (!c || --c->refs > 0)
        return;
    manifest_file_free(&c->mf);
    free(c);
}

void
desired_parse(struct desired_parsed *p, const char *path, const char *bytes, size_t len)
{
    memset(p, 0, sizeof(*p));
    p->path = xstrdup(path);
    p->content = xcalloc(1, sizeof(*p->content));
    p->content->refs = 1;
    manifest_parse(&p->content->mf, path, bytes, len);
}

void
desired_parsed_removed(struct desired_parsed *p, const char *path)
{
    memset(p, 0, sizeof(*p));
    p->path = xstrdup(path);
    p->removed = true;
}

void
desired_parsed_free(struct desired_parsed *p)
{
    free(p->path);
    desired_content_unref(p->content);
    memset(p, 0, sizeof(*p));
}

static void
file_drop_content(struct desired_file *f)
{
    desired_content_unref(f->content);
    f->content = NULL;
    memset(&f->good, 0, sizeof(f->good));
    f->has_good = false;
}

bool
desired_apply(struct desired *d, struct desired_parsed *p)
{
    struct desired_file *f;
    const struct manifest_file *mf;

    if (p->removed) {
        desired_file_removed(d, p->path);
        desired_parsed_free(p);
        return true;
    }
    f = find_file(d, p->path, true);
    mf = &p->content->mf;
    for (size_t i = 0; i < mf->diags.n; i++) {
        cleanup_free char *line = validate_format_diag(&mf->diags.v[i]);

        if (mf->diags.v[i].severity == DIAG_ERROR)
            log_error("%s", line);
        else
            log_warn("%s", line);
    }
    diag_list_clear(&f->problem);
    if (!usable(mf)) {
        /* Keep the last good content in force; say what is wrong. */
        diag_extend(&f->problem, &mf->diags);
        if (f->has_good) {
            cleanup_free char *name = log_escape_name(p->path);

            log_warn("keeping the last good content of %s in force", name);
        }
        desired_parsed_free(p);
        return false;
    }
    file_drop_content(f);
    f->content = steal_ptr(&p->content);
    f->good = f->content->mf;
    f->has_good = true;
    desired_parsed_free(p);
    return true;
}

bool
desired_file_changed(struct desired *d, const char *path, const char *bytes, size_t len)
{
    struct desired_parsed p;

    desired_parse(&p, path, bytes, len);
    return desired_apply(d, &p);
}

void
desired_file_removed(struct desired *d, const char *path)
{
    struct desired_file *f = find_file(d, path, false);
    size_t i;

    if (!f)
        return;
    i = (size_t) (f - d->files);
    file_drop_content(f);
    diag_list_clear(&f->problem);
    free(f->path);
    memmove(&d->files[i], &d->files[i + 1], (d->nfiles - i - 1) * sizeof(*d->files));
    d->nfiles--;
}

/* One pass over every object with a hash index, so that a file of
 * 100,000 ConfigMaps costs linear time on each spool change (a linear
 * desired_find per object made it quadratic: minutes on the loop). */
void
desired_index(struct desired *d)
{
    diag_list_clear(&d->duplicates);
    free(d->objs);
    d->objs = NULL;
    d->nobjs = 0;
    kobj_index_clear(&d->index);
    for (size_t i = 0; i < d->nfiles; i++) {
        struct desired_file *f = &d->files[i];

        if (!f->has_good)
            continue;
        d->objs = xrealloc(d->objs, (d->nobjs + f->good.nobjs) * sizeof(*d->objs));
        for (size_t j = 0; j < f->good.nobjs; j++) {
            const struct kobj *o = &f->good.objs[j];
            const struct kobj_slot *first;

            if (!o->name)
                continue;
            first = kobj_index_add(&d->index, o, d->nobjs);
            if (first) {
                const struct desired_file *ff = d->objs[first->value].file;

                diag_add(&d->duplicates, f->path, o->name_pos.line, o->name_pos.col, DIAG_ERROR,
                         "metadata.name: Duplicate value: %s \"%s/%s\" is already defined at "
                         "%s:%u:%u; this "
                         "definition is ignored",
                         manifest_kind_name(o->kind), o->namespace, o->name, ff->path,
                         first->obj->name_pos.line, first->obj->name_pos.col);
                continue;
            }
            d->objs[d->nobjs++] = (struct desired_obj){o->kind, o->namespace, o->name, o, f};
        }
    }
    for (size_t i = 0; i < d->duplicates.n; i++) {
        cleanup_free char *line = validate_format_diag(&d->duplicates.v[i]);

        log_error("%s", line);
    }
}

const struct kobj *
desired_find(const struct desired *d, enum kobj_kind kind, const char *ns, const char *name)
{
    const struct kobj_slot *slot = kobj_index_find(&d->index, kind, ns, name);

    return slot ? slot->obj : NULL;
}

const struct desired_file *
desired_file_of(const struct desired *d, const struct kobj *o)
{
    const struct kobj_slot *slot =
        o ? kobj_index_find(&d->index, o->kind, o->namespace, o->name) : NULL;

    return slot && slot->obj == o ? d->objs[slot->value].file : NULL;
}

void
desired_free(struct desired *d)
{
    while (d->nfiles)
        desired_file_removed(d, d->files[d->nfiles - 1].path);
    free(d->files);
    free(d->objs);
    kobj_index_clear(&d->index);
    diag_list_clear(&d->duplicates);
    memset(d, 0, sizeof(*d));
}
