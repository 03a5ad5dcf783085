/* Paths written in an image, and its layers merged as a container
 * runtime would stack them: whiteouts, opaque directories, hard links
 * and symlinks resolved inside the image root, then the disk picked.
 * Runs on a worker thread (image_resolve). */
#include "config.h"

#include "image_int.h"

#include "err.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* As Linux's MAXSYMLINKS. */
#define IMAGE_SYMLINK_MAX 40

/* ---- Paths ---- */

/* Turn a path written in an archive or an image into "a/b/c": empty and "."
 * components go, ".." is refused rather than resolved, because in an
 * archive it can only be an attempt to write outside the tree. */
enum image_clean
image_path_clean(const char *raw, bool allow_absolute, char **out)
{
    cleanup_free char *buf = xmalloc(strlen(raw) + 1);
    size_t o = 0;
    const char *p = raw;

    if (raw[0] == '/' && !allow_absolute)
        return IMAGE_CLEAN_ABSOLUTE;
    while (*p) {
        const char *c = p;
        size_t n;

        while (*p && *p != '/')
            p++;
        n = (size_t) (p - c);
        while (*p == '/')
            p++;
        if (n == 0 || (n == 1 && c[0] == '.'))
            continue;
        if (n == 2 && c[0] == '.' && c[1] == '.')
            return IMAGE_CLEAN_DOTDOT;
        if (o)
            buf[o++] = '/';
        memcpy(buf + o, c, n);
        o += n;
    }
    buf[o] = '\0';
    *out = steal_ptr(&buf);
    return IMAGE_CLEAN_OK;
}

/* Where a symlink at dir/<name> pointing to target lands, lexically, with an
 * absolute target taken from the image root as inside the container; -1 when
 * ".." climbs above that root. */
int
image_path_join(const char *dir, const char *target, char **out)
{
    size_t cap = strlen(dir) + strlen(target) + 2, o = 0;
    cleanup_free char *buf = xmalloc(cap);
    const char *p = target;

    if (target[0] != '/') {
        o = strlen(dir);
        memcpy(buf, dir, o);
    }
    while (*p) {
        const char *c = p;
        size_t n;

        while (*p && *p != '/')
            p++;
        n = (size_t) (p - c);
        while (*p == '/')
            p++;
        if (n == 0 || (n == 1 && c[0] == '.'))
            continue;
        if (n == 2 && c[0] == '.' && c[1] == '.') {
            if (o == 0)
                return -1;
            while (o > 0 && buf[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
            continue;
        }
        if (o)
            buf[o++] = '/';
        memcpy(buf + o, c, n);
        o += n;
    }
    buf[o] = '\0';
    *out = steal_ptr(&buf);
    return 0;
}

char *
image_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? xstrndup(path, (size_t) (slash - path)) : xstrdup("");
}

/* ---- The layers merged, as a container runtime would stack them ---- */

void
image_view_free(struct image_view *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free(v->nodes[i].path);
        free(v->nodes[i].target);
    }
    free(v->nodes);
    free(v->slots);
    memset(v, 0, sizeof(*v));
}

static size_t
image_view_hash(const char *s)
{
    size_t h = 14695981039346656037u;

    for (; *s; s++)
        h = (h ^ (unsigned char) *s) * 1099511628211u;
    return h;
}

static struct image_node *
image_view_get(const struct image_view *v, const char *path)
{
    if (!v->nslots)
        return NULL;
    for (size_t i = image_view_hash(path) & (v->nslots - 1);; i = (i + 1) & (v->nslots - 1)) {
        if (!v->slots[i])
            return NULL;
        if (strcmp(v->nodes[v->slots[i] - 1].path, path) == 0)
            return &v->nodes[v->slots[i] - 1];
    }
}

/* The live node at path, or NULL. */
static struct image_node *
image_view_live(const struct image_view *v, const char *path)
{
    struct image_node *n = image_view_get(v, path);

    return n && !n->gone ? n : NULL;
}

static void
image_view_slot(struct image_view *v, size_t idx)
{
    size_t i = image_view_hash(v->nodes[idx].path) & (v->nslots - 1);

    while (v->slots[i])
        i = (i + 1) & (v->nslots - 1);
    v->slots[i] = idx + 1;
}

/* The node at path, created when new; pointers into the view die here. */
static struct image_node *
image_view_put(struct image_view *v, const char *path)
{
    struct image_node *n = image_view_get(v, path);

    if (n)
        return n;
    if ((v->n + 1) * 2 > v->nslots) {
        free(v->slots);
        v->nslots = v->nslots ? v->nslots * 2 : 64;
        v->slots = xcalloc(v->nslots, sizeof(*v->slots));
        for (size_t i = 0; i < v->n; i++)
            image_view_slot(v, i);
    }
    v->nodes = xgrow(v->nodes, &v->cap, v->n, sizeof(*v->nodes));
    n = &v->nodes[v->n];
    memset(n, 0, sizeof(*n));
    n->path = xstrdup(path);
    n->gone = true;
    image_view_slot(v, v->n++);
    return n;
}

static bool
image_path_under(const char *path, const char *dir)
{
    size_t dl = strlen(dir);

    return dl == 0 || (strncmp(path, dir, dl) == 0 && path[dl] == '/');
}

/* Remove what lower layers put at dir's descendants (and at dir itself when
 * self), for whiteouts and for a directory replaced by a file. */
static void
image_view_hide(struct image_view *v, const char *dir, bool self, size_t below_layer)
{
    for (size_t i = 0; i < v->n; i++) {
        struct image_node *n = &v->nodes[i];

        if (n->layer < below_layer &&
            (image_path_under(n->path, dir) || (self && strcmp(n->path, dir) == 0)))
            n->gone = true;
    }
}

/* Record entry number idx of layer li in the view, refusing what could
 * write or point outside the image. */
static int
image_view_add(struct image_view *v, size_t li, size_t idx, struct archive_entry *e,
               const char *label, struct vmirs_err **err)
{
    const char *raw = archive_entry_pathname(e), *hl = archive_entry_hardlink(e), *base;
    cleanup_free char *path = NULL;
    cleanup_free char *dir = NULL;
    struct image_node *n, *old;
    enum image_node_type type;
    size_t data_layer = li, data_index = idx;
    int64_t size = archive_entry_size(e);

    if (!raw)
        return err_set(err, 0, "%s: entry %zu has no readable name", label, idx);
    switch (image_path_clean(raw, false, &path)) {
    case IMAGE_CLEAN_ABSOLUTE:
        return err_set(err, 0, "%s: entry \"%s\" has an absolute path", label, raw);
    case IMAGE_CLEAN_DOTDOT:
        return err_set(err, 0, "%s: entry \"%s\" has a \"..\" component", label, raw);
    case IMAGE_CLEAN_OK:
        break;
    }
    if (!*path)
        return 0;
    dir = image_dirname(path);
    base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (strncmp(base, ".wh.", 4) == 0) {
        if (strcmp(base, ".wh..wh..opq") == 0) {
            image_view_hide(v, dir, false, li);
        } else {
            cleanup_free char *victim =
                *dir ? xasprintf("%s/%s", dir, base + 4) : xstrdup(base + 4);

            image_view_hide(v, victim, true, li);
        }
        return 0;
    }
    if (hl) {
        cleanup_free char *target = NULL;

        if (image_path_clean(hl, false, &target) != IMAGE_CLEAN_OK)
            return err_set(err, 0, "%s: hard link \"%s\" -> \"%s\" leaves the layer", label, raw,
                           hl);
        /* The link shares its source's bytes; copy where they are now,
         * before image_view_put() may move the nodes. */
        old = image_view_live(v, target);
        type = old && old->type == NODE_REG ? NODE_REG : NODE_OTHER;
        if (type == NODE_REG) {
            data_layer = old->data_layer;
            data_index = old->data_index;
            size = old->size;
        }
    } else {
        switch (archive_entry_filetype(e)) {
        case AE_IFDIR:
            type = NODE_DIR;
            break;
        case AE_IFREG:
            type = NODE_REG;
            break;
        case AE_IFLNK: {
            const char *t = archive_entry_symlink(e);
            cleanup_free char *landing = NULL;

            if (!t)
                return err_set(err, 0, "%s: symlink \"%s\" has no readable target", label, raw);
            if (image_path_join(dir, t, &landing) < 0)
                return err_set(err, 0, "%s: symlink \"%s\" -> \"%s\" leaves the layer", label, raw,
                               t);
            type = NODE_SYMLINK;
            break;
        }
        default:
            type = NODE_OTHER;
            break;
        }
    }
    old = image_view_live(v, path);
    if (old && old->type == NODE_DIR && type != NODE_DIR)
        image_view_hide(v, path, false, SIZE_MAX);
    n = image_view_put(v, path);
    free(n->target);
    n->target = type == NODE_SYMLINK ? xstrdup(archive_entry_symlink(e)) : NULL;
    n->type = type;
    n->gone = false;
    n->layer = li;
    n->data_layer = data_layer;
    n->data_index = data_index;
    n->size = size;
    return 0;
}

/* Follow symlinks along path in the merged view as the kernel would inside
 * the container; *out is NULL when nothing is there. */
static int
image_view_resolve(const struct image_view *v, const char *path, char **resolved,
                   const struct image_node **out, struct vmirs_err **err)
{
    cleanup_free char *rest = xstrdup(path);
    cleanup_free char *cur = xstrdup("");
    const char *p = rest;
    int hops = 0;

    *out = NULL;
    while (*p) {
        const char *c = p;
        size_t n;
        const struct image_node *node;
        cleanup_free char *cand = NULL;

        while (*p && *p != '/')
            p++;
        n = (size_t) (p - c);
        while (*p == '/')
            p++;
        if (n == 0 || (n == 1 && c[0] == '.'))
            continue;
        if (n == 2 && c[0] == '.' && c[1] == '.') {
            char *slash = strrchr(cur, '/');

            if (!*cur)
                return err_set(err, 0, "\"/%s\" leaves the image", path);
            if (slash)
                *slash = '\0';
            else
                cur[0] = '\0';
            continue;
        }
        cand = *cur ? xasprintf("%s/%.*s", cur, (int) n, c) : xstrndup(c, n);
        node = image_view_live(v, cand);
        if (node && node->type == NODE_SYMLINK) {
            char *next;

            if (++hops > IMAGE_SYMLINK_MAX)
                return err_set(err, 0, "\"/%s\": too many levels of symbolic links", path);
            next = xasprintf("%s/%s", node->target, p);
            if (node->target[0] == '/')
                cur[0] = '\0';
            free(rest);
            rest = next;
            p = rest;
            continue;
        }
        if (*p && node && node->type != NODE_DIR)
            return 0;
        free(cur);
        cur = steal_ptr(&cand);
    }
    *out = image_view_live(v, cur);
    if (resolved)
        *resolved = steal_ptr(&cur);
    return 0;
}
static int
image_path_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The disk: path_in_image (already cleaned, relative) or the one file
 * directly under /disk/. */
int
image_pick_disk(const struct image_view *v, const char *path_in_image, struct image_pick *pick,
                struct vmirs_err **err)
{
    const struct image_node *node;
    cleanup_free char *chosen = NULL;

    if (path_in_image) {
        chosen = xasprintf("/%s", path_in_image);
    } else {
        cleanup_free char *dir = NULL;
        char **names = NULL;
        size_t count = 0, cap = 0, dl;

        if (image_view_resolve(v, "disk", &dir, &node, err) < 0)
            return -1;
        dl = strlen(dir);
        for (size_t i = 0; i < v->n; i++) {
            const struct image_node *n = &v->nodes[i];

            const char *rel = dl ? n->path + dl + 1 : n->path;

            if (n->gone || n->type == NODE_DIR || !image_path_under(n->path, dir) ||
                strchr(rel, '/'))
                continue;
            names = xgrow(names, &cap, count, sizeof(*names));
            names[count++] = xasprintf("/disk/%s", rel);
        }
        if (count == 0) {
            free(names);
            return err_set(err, 0, "no disk file under /disk/");
        }
        qsort(names, count, sizeof(*names), image_path_cmp);
        if (count > 1) {
            size_t len = 0;
            cleanup_free char *list = NULL;

            for (size_t i = 0; i < count; i++)
                len += strlen(names[i]) + 4;
            list = xmalloc(len + 1);
            list[0] = '\0';
            for (size_t i = 0; i < count; i++) {
                if (i)
                    strcat(list, ", ");
                strcat(list, "\"");
                strcat(list, names[i]);
                strcat(list, "\"");
                free(names[i]);
            }
            free(names);
            return err_set(err, 0,
                           "several files under /disk/: %s; set the containerDisk path to pick one",
                           list);
        }
        chosen = names[0];
        free(names);
    }
    if (image_view_resolve(v, chosen + 1, NULL, &node, err) < 0)
        return -1;
    if (!node)
        return err_set(err, 0, "no file \"%s\" in the image", chosen);
    if (node->type != NODE_REG)
        return err_set(err, 0, "\"%s\" in the image is not a regular file", chosen);
    pick->display = steal_ptr(&chosen);
    pick->layer = node->data_layer;
    pick->index = node->data_index;
    pick->size = node->size;
    return 0;
}

/* Read every layer in order into the view, checking each blob. */
int
image_scan_layers(const struct image_src *src, struct image_view *v, struct vmirs_err **err)
{
    for (size_t li = 0; li < src->n_layers; li++) {
        struct image_layer_stream ls;
        struct archive_entry *e;
        size_t idx = 0;
        int r;

        if (image_layer_open(src, li, &ls, err) < 0)
            return -1;
        while ((r = archive_read_next_header(ls.a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
            if (image_view_add(v, li, idx++, e, src->layers[li].label, err) < 0)
                return image_layer_fail(&ls, err);
        }
        if (r != ARCHIVE_EOF)
            return image_layer_read_error(&ls, err);
        if (image_layer_close(&ls, err) < 0)
            return -1;
    }
    return 0;
}
