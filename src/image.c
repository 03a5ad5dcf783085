/* The containerDisk image store's entry point: image_resolve finds an
 * image in image_dir, has it loaded and verified, and gives out its
 * disk from the cache. Runs on a worker thread (from materialize_replica). */
#include "config.h"

#include "image_int.h"

#include "err.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void
image_src_clear(struct image_src *s)
{
    for (size_t i = 0; i < s->n_layers; i++) {
        free(s->layers[i].label);
        free(s->layers[i].digest);
        free(s->layers[i].member);
        free(s->layers[i].diff_id);
    }
    free(s->layers);
    free(s->where);
    free(s->digest);
    image_desc_clear(&s->top);
    json_decref(s->entry);
    memset(s, 0, sizeof(*s));
}

/* ---- Finding the image ---- */

struct image_scan {
    const struct image_ref *want;
    size_t n_oci, n_archives, n_bad;
    char *first_bad;
};

static void
image_scan_bad(struct image_scan *s, const char *where, struct vmirs_err **e)
{
    if (s->n_bad++ == 0)
        s->first_bad = xasprintf("%s: %s", where, *e ? (*e)->msg : "error");
    err_free(e);
}

/* Ask one source, a layout or an archive, for the image: 1 with src filled
 * when it lists it, 0 when not, and a source that cannot be read is
 * counted and remembered rather than failing the search. */
static int
image_scan_source(struct image_scan *s, enum image_src_kind kind, const char *where,
                  struct image_src *src)
{
    struct vmirs_err *e = NULL;
    int r;

    if (kind == IMAGE_SRC_OCI) {
        s->n_oci++;
        r = image_oci_find(where, s->want, &src->top, &e);
    } else {
        s->n_archives++;
        r = image_archive_find(where, s->want, &src->entry, &e);
    }
    if (r < 0)
        image_scan_bad(s, where, &e);
    if (r <= 0)
        return 0;
    src->kind = kind;
    src->where = xstrdup(where);
    return 1;
}

static bool
image_is_layout(const char *dir)
{
    cleanup_free char *p = xasprintf("%s/oci-layout", dir);

    return access(p, F_OK) == 0;
}

/* Look in image_dir itself, then in its entries by name: the first layout or
 * archive that lists the image wins. A source that cannot be read is
 * skipped, so one broken image does not hide the others, but the not-found
 * message reports it. */
static int
image_find(const char *image_dir, const struct image_ref *want, const char *nref,
           struct image_src *src, struct vmirs_err **err)
{
    struct image_scan s = {.want = want};
    struct dirent **names = NULL;
    int n, found = 0;

    if (image_is_layout(image_dir))
        found = image_scan_source(&s, IMAGE_SRC_OCI, image_dir, src);
    n = found ? 0 : scandir(image_dir, &names, NULL, alphasort);
    if (n < 0)
        return err_set(err, errno, "image \"%s\" not found: read directory %s", nref, image_dir);
    for (int i = 0; i < n; i++) {
        cleanup_free char *path = xasprintf("%s/%s", image_dir, names[i]->d_name);
        struct stat st;

        if (!found && names[i]->d_name[0] != '.' && stat(path, &st) == 0) {
            if (S_ISDIR(st.st_mode) && image_is_layout(path))
                found = image_scan_source(&s, IMAGE_SRC_OCI, path, src);
            else if (S_ISREG(st.st_mode) && str_has_suffix(names[i]->d_name, ".tar"))
                found = image_scan_source(&s, IMAGE_SRC_ARCHIVE, path, src);
        }
        free(names[i]);
    }
    free(names);
    if (!found) {
        cleanup_free char *bad =
            s.n_bad == 0   ? xstrdup("")
            : s.n_bad == 1 ? xasprintf("; skipped 1 unreadable: %s", s.first_bad)
                           : xasprintf("; skipped %zu unreadable, first: %s", s.n_bad, s.first_bad);

        err_set(err, 0,
                "image \"%s\" not found in %s "
                "(searched %zu OCI layout%s and %zu docker archive%s%s)",
                nref, image_dir, s.n_oci, s.n_oci == 1 ? "" : "s", s.n_archives,
                s.n_archives == 1 ? "" : "s", bad);
    }
    free(s.first_bad);
    return found ? 0 : -1;
}

int
image_resolve(const char *image_dir, const char *cache_dir, const char *ref,
              const char *path_in_image, struct image_disk *out, struct vmirs_err **err)
{
    struct image_ref want;
    struct image_src src = {0};
    cleanup_free char *nref = NULL;
    int r;

    memset(out, 0, sizeof(*out));
    if (image_ref_parse(ref, &want, err) < 0)
        return err_wrap(err, "image \"%s\" in %s: invalid reference", ref, image_dir);
    nref = image_ref_string(&want);
    /* Pulling plugs in here (a later issue: skopeo copy from a registry
     * into image_dir, in a file of its own): when image_find finds nothing
     * and the pull policy allows, pull want into image_dir and look again,
     * so that a pulled image is verified, cached and reported exactly as a
     * local one. */
    r = image_find(image_dir, &want, nref, &src, err);
    image_ref_clear(&want);
    if (r < 0)
        return -1;
    r = src.kind == IMAGE_SRC_OCI ? image_oci_load(&src, err) : image_archive_load(&src, err);
    if (r == 0)
        r = image_disk_prepare(&src, cache_dir, path_in_image, out, err);
    if (r < 0) {
        err_wrap(err, "image \"%s\" in %s", nref, src.where);
        image_src_clear(&src);
        image_disk_free(out);
        return -1;
    }
    image_src_clear(&src);
    out->ref = steal_ptr(&nref);
    return 0;
}

void
image_disk_free(struct image_disk *d)
{
    if (!d)
        return;
    free(d->ref);
    free(d->digest);
    free(d->path);
    memset(d, 0, sizeof(*d));
}
