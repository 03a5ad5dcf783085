#include "config.h"

#include "manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kobj_parse.h"
#include "log.h"
#include "util.h"
#include "vmirs_parse.h"

#define VMIRS_KIND "VirtualMachineInstanceReplicaSet"

bool
manifest_filename_ok(const char *name)
{
    if (name[0] == '.' || str_has_suffix(name, "~") || str_has_suffix(name, ".swp") ||
        str_has_suffix(name, ".tmp"))
        return false;
    return str_has_suffix(name, ".yaml") || str_has_suffix(name, ".yml") ||
           str_has_suffix(name, ".json");
}

const char *
manifest_kind_name(enum kobj_kind k)
{
    switch (k) {
    case KOBJ_VMIRS:
        return VMIRS_KIND;
    case KOBJ_CONFIG_MAP:
        return "ConfigMap";
    case KOBJ_SECRET:
        return "Secret";
    case KOBJ_SERVICE:
        return "Service";
    }
    return "?";
}

static const struct {
    const char *api_version;
    unsigned level;
} vmirs_versions[] = {
    {"kubevirt.io/v1", YAPI_V1},
    {"kubevirt.io/v1alpha3", YAPI_V1ALPHA3},
    {"kubevirt.io/v1alpha2", YAPI_V1ALPHA2},
};

static const struct {
    const char *kind;
    enum kobj_kind k;
} core_kinds[] = {
    {"ConfigMap", KOBJ_CONFIG_MAP},
    {"Secret", KOBJ_SECRET},
    {"Service", KOBJ_SERVICE},
};

/* Read apiVersion or kind as a plain string, reporting what is wrong. */
static const char *
header_field(struct yctx *c, yaml_node_t *root, const char *key)
{
    yaml_node_t *v = ymap_get(c, root, key, NULL);
    size_t saved = ypath_push_key(c, key);
    const char *s = yscalar(v);

    if (!v || yscalar_is_null(v)) {
        yerror(c, root, "Required value: every manifest document needs apiVersion and kind");
        s = NULL;
    } else if (!s) {
        yerror(c, v, "Invalid type: expected string");
    }
    ypath_pop(c, saved);
    return s;
}

static void
add_obj(struct manifest_file *f, struct yctx *c, yaml_node_t *root, enum kobj_kind kind, void *obj,
        struct objmeta *meta, size_t errors_before)
{
    struct kobj *o;
    yaml_node_t *name = ymap_get(c, ymap_get(c, root, "metadata", NULL), "name", NULL);

    f->objs = xrealloc(f->objs, (f->nobjs + 1) * sizeof(*f->objs));
    o = &f->objs[f->nobjs++];
    memset(o, 0, sizeof(*o));
    o->kind = kind;
    o->namespace = meta->namespace;
    o->name = meta->name;
    o->pos = ynode_pos(root);
    o->name_pos = ynode_pos(name ? name : root);
    o->valid = c->diags->errors == errors_before;
    switch (kind) {
    case KOBJ_VMIRS:
        o->u.vmirs = obj;
        break;
    case KOBJ_CONFIG_MAP:
        o->u.config_map = obj;
        break;
    case KOBJ_SECRET:
        o->u.secret = obj;
        break;
    case KOBJ_SERVICE:
        o->u.service = obj;
        break;
    }
}

static void
on_document(struct yctx *c, yaml_node_t *root, void *opaque)
{
    struct manifest_file *f = opaque;
    size_t errors_before = c->diags->errors;
    const char *api, *kind;

    if (root->type != YAML_MAPPING_NODE) {
        yerror(c, root,
               "Invalid type: a manifest document must be an object with apiVersion and kind");
        return;
    }
    api = header_field(c, root, "apiVersion");
    kind = header_field(c, root, "kind");
    if (!api || !kind)
        return;

    if (strcmp(kind, VMIRS_KIND) == 0) {
        struct vmirs *v;

        c->api_level = 0;
        for (size_t i = 0; i < ARRAY_SIZE(vmirs_versions); i++)
            if (strcmp(api, vmirs_versions[i].api_version) == 0)
                c->api_level = vmirs_versions[i].level;
        if (!c->api_level) {
            size_t saved = ypath_push_key(c, "apiVersion");

            yerror(c, ymap_get(c, root, "apiVersion", NULL),
                   "Unsupported value: \"%s\": supported values: \"kubevirt.io/v1\", "
                   "\"kubevirt.io/v1alpha3\", "
                   "\"kubevirt.io/v1alpha2\"",
                   api);
            ypath_pop(c, saved);
            return;
        }
        if (c->api_level == YAPI_V1ALPHA2) {
            size_t saved = ypath_push_key(c, "apiVersion");

            /* The seed document is written in v1alpha2, so it stays
             * accepted; a cluster would refuse the file. */
            ywarning(c, ymap_get(c, root, "apiVersion", NULL),
                     "kubevirt.io/v1alpha2 is accepted here, but current KubeVirt serves only "
                     "kubevirt.io/v1 and kubevirt.io/v1alpha3: write kubevirt.io/v1 before "
                     "applying this file to a cluster");
            ypath_pop(c, saved);
        }
        v = xcalloc(1, sizeof(*v));
        yschema_walk(c, root, &vmirs_schema, v);
        add_obj(f, c, root, KOBJ_VMIRS, v, &v->metadata, errors_before);
        return;
    }
    for (size_t i = 0; i < ARRAY_SIZE(core_kinds); i++) {
        void *obj;

        if (strcmp(kind, core_kinds[i].kind) != 0)
            continue;
        if (strcmp(api, "v1") != 0) {
            size_t saved = ypath_push_key(c, "apiVersion");

            yerror(c, ymap_get(c, root, "apiVersion", NULL),
                   "Unsupported value: \"%s\": supported values: \"v1\"", api);
            ypath_pop(c, saved);
            return;
        }
        switch (core_kinds[i].k) {
        case KOBJ_CONFIG_MAP: {
            struct config_map *cm = obj = xcalloc(1, sizeof(*cm));

            yschema_walk(c, root, &config_map_schema, cm);
            add_obj(f, c, root, KOBJ_CONFIG_MAP, obj, &cm->metadata, errors_before);
            break;
        }
        case KOBJ_SECRET: {
            struct secret *s = obj = xcalloc(1, sizeof(*s));

            yschema_walk(c, root, &secret_schema, s);
            add_obj(f, c, root, KOBJ_SECRET, obj, &s->metadata, errors_before);
            break;
        }
        case KOBJ_SERVICE: {
            struct service *s = obj = xcalloc(1, sizeof(*s));

            yschema_walk(c, root, &service_schema, s);
            add_obj(f, c, root, KOBJ_SERVICE, obj, &s->metadata, errors_before);
            break;
        }
        default:
            break;
        }
        return;
    }
    {
        size_t saved = ypath_push_key(c, "kind");

        ywarning(c, ymap_get(c, root, "kind", NULL),
                 "%s \"%s\" is not handled by vmirsd: document skipped", api, kind);
        ypath_pop(c, saved);
    }
}

int
manifest_parse(struct manifest_file *f, const char *path, const char *bytes, size_t len)
{
    f->path = xstrdup(path);
    ystream_load(path, bytes, len, &f->diags, on_document, f);
    diag_sort(&f->diags);
    return f->diags.errors ? -1 : 0;
}

static const char *
file_type_name(mode_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFDIR:
        return "a directory";
    case S_IFIFO:
        return "a FIFO";
    case S_IFCHR:
        return "a character device";
    case S_IFBLK:
        return "a block device";
    case S_IFSOCK:
        return "a socket";
    case S_IFLNK:
        return "a symbolic link";
    default:
        return "not a regular file";
    }
}

char *
manifest_untrusted(const struct stat *st)
{
    uid_t euid = geteuid();
    struct passwd *pw;
    cleanup_free char *owner = NULL;

    if ((st->st_uid == 0 || st->st_uid == euid) && !(st->st_mode & (S_IWGRP | S_IWOTH)))
        return NULL;
    /* getpwuid may read /etc/passwd: only on this rare path. */
    pw = getpwuid(st->st_uid);
    if (pw)
        owner = log_escape_name(pw->pw_name);
    return xasprintf("owned by uid %u%s%s%s with mode %04o; it must be owned by root%s and not "
                     "writable by group or others",
                     (unsigned) st->st_uid, owner ? " (" : "", owner ? owner : "", owner ? ")" : "",
                     (unsigned) (st->st_mode & 07777), euid ? " or by vmirsd's user" : "");
}

/* A symbolic link's problem is its target's: say which file that is. */
static char *
manifest_refusal(const char *path, char *why)
{
    char target[4096];
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    cleanup_free char *esc = NULL;
    char *s;

    if (n < 0)
        return why;
    target[n] = '\0';
    esc = log_escape_name(target);
    s = xasprintf("symbolic link to `%s`, %s", esc, why);
    free(why);
    return s;
}

int
manifest_read(const char *path, unsigned flags, char **bytes, size_t *len, char **why)
{
    cleanup_close int fd = -1;
    cleanup_free char *buf = NULL;
    struct stat st;
    size_t n = 0, cap;

    *bytes = NULL;
    *why = NULL;
    /* Opening a device can act on it (a tape rewinds, a watchdog arms):
     * refuse what is not a regular file before opening it. The checks on
     * the open file below are the ones that count. */
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        *why = manifest_refusal(path,
                                xasprintf("not a regular file (%s)", file_type_name(st.st_mode)));
        return -1;
    }
    fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        *why = xstrdup(strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        *why = manifest_refusal(path,
                                xasprintf("not a regular file (%s)", file_type_name(st.st_mode)));
        return -1;
    }
    if ((flags & MANIFEST_READ_TRUSTED) && (*why = manifest_untrusted(&st))) {
        *why = manifest_refusal(path, *why);
        return -1;
    }
    if (st.st_size > MANIFEST_FILE_MAX)
        goto too_large;
    /* The size may change while it is read: never past the limit. */
    cap = (size_t) st.st_size + 1;
    buf = xmalloc(cap + 1);
    for (;;) {
        ssize_t r;

        if (n == cap) {
            if (cap > (size_t) MANIFEST_FILE_MAX)
                goto too_large;
            cap *= 2;
            buf = xrealloc(buf, cap + 1);
        }
        r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            *why = xstrdup(strerror(errno));
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t) r;
    }
    if (n > (size_t) MANIFEST_FILE_MAX)
        goto too_large;
    buf[n] = '\0';
    *bytes = steal_ptr(&buf);
    *len = n;
    return 0;

too_large:
    *why = xasprintf("larger than %lld MiB", (long long) (MANIFEST_FILE_MAX >> 20));
    return -1;
}

int
manifest_load(struct manifest_file *f, const char *path)
{
    cleanup_free char *bytes = NULL, *why = NULL;
    size_t len;

    if (manifest_read(path, 0, &bytes, &len, &why) < 0) {
        f->path = xstrdup(path);
        diag_add(&f->diags, path, 0, 0, DIAG_ERROR, "read: %s", why);
        return -1;
    }
    return manifest_parse(f, path, bytes, len);
}

void
manifest_file_free(struct manifest_file *f)
{
    for (size_t i = 0; i < f->nobjs; i++) {
        struct kobj *o = &f->objs[i];

        switch (o->kind) {
        case KOBJ_VMIRS:
            model_vmirs_free(o->u.vmirs);
            break;
        case KOBJ_CONFIG_MAP:
            model_config_map_free(o->u.config_map);
            break;
        case KOBJ_SECRET:
            model_secret_free(o->u.secret);
            break;
        case KOBJ_SERVICE:
            model_service_free(o->u.service);
            break;
        }
        free(o->u.vmirs);
    }
    free(f->objs);
    free(f->path);
    diag_list_clear(&f->diags);
    memset(f, 0, sizeof(*f));
}

/* ---- object index ---- */

/* FNV-1a over kind, namespace and name, each followed by a separator no
 * name holds (a NUL), so that "a" + "bc" and "ab" + "c" differ. */
static uint64_t
kobj_hash(enum kobj_kind kind, const char *ns, const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull;
    const char *parts[] = {ns ? ns : "", name};

    h = (h ^ (uint64_t) kind) * 0x100000001b3ull;
    for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
        for (const unsigned char *p = (const unsigned char *) parts[i]; *p; p++)
            h = (h ^ *p) * 0x100000001b3ull;
        h = (h ^ 0xff) * 0x100000001b3ull;
    }
    /* FNV's low bits mix poorly (a product's low bits depend only on the
     * factors' low bits), and the table is indexed by them: names such as
     * cm0..cm99999 clustered into long linear probes. MurmurHash3's
     * finaliser spreads the high bits down. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

/* The slot of kind ns/name (hash h), or the free slot where it would go.
 * Slots are compared by their stored hash before the strings, which live
 * elsewhere in memory: at 100,000 objects the string compares' cache
 * misses were most of the index's cost. */
static size_t
kobj_index_probe(const struct kobj_index *ix, uint64_t h, enum kobj_kind kind, const char *ns,
                 const char *name)
{
    size_t mask = ix->cap - 1, i = (size_t) h & mask;

    for (;; i = (i + 1) & mask) {
        const struct kobj_slot *sl = &ix->slots[i];

        if (!sl->obj || (sl->hash == h && sl->obj->kind == kind && streq0(sl->obj->namespace, ns) &&
                         strcmp(sl->obj->name, name) == 0))
            return i;
    }
}

const struct kobj_slot *
kobj_index_find(const struct kobj_index *ix, enum kobj_kind kind, const char *ns, const char *name)
{
    size_t i;

    if (!name || !ix->n)
        return NULL;
    i = kobj_index_probe(ix, kobj_hash(kind, ns, name), kind, ns, name);
    return ix->slots[i].obj ? &ix->slots[i] : NULL;
}

const struct kobj_slot *
kobj_index_add(struct kobj_index *ix, const struct kobj *o, size_t value)
{
    size_t i;
    uint64_t h;

    if (!o->name)
        return NULL;
    /* Keep the load under one half: probes stay short. */
    if (2 * (ix->n + 1) > ix->cap) {
        size_t cap = ix->cap ? 2 * ix->cap : 64;
        struct kobj_slot *slots = xcalloc(cap, sizeof(*slots));

        /* Every object is distinct: the first free slot of its hash. */
        for (size_t j = 0; j < ix->cap; j++) {
            size_t k;

            if (!ix->slots[j].obj)
                continue;
            for (k = (size_t) ix->slots[j].hash & (cap - 1); slots[k].obj; k = (k + 1) & (cap - 1))
                ;
            slots[k] = ix->slots[j];
        }
        free(ix->slots);
        ix->slots = slots;
        ix->cap = cap;
    }
    h = kobj_hash(o->kind, o->namespace, o->name);
    i = kobj_index_probe(ix, h, o->kind, o->namespace, o->name);
    if (ix->slots[i].obj)
        return &ix->slots[i];
    ix->slots[i] = (struct kobj_slot){o, value, h};
    ix->n++;
    return NULL;
}

void
kobj_index_clear(struct kobj_index *ix)
{
    free(ix->slots);
    memset(ix, 0, sizeof(*ix));
}
