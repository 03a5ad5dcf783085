/* One manifest file: its documents dispatched on apiVersion/kind into
 * typed objects, with every diagnostic about it. */
#ifndef VMIRS_MANIFEST_H
#define VMIRS_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "diag.h"
#include "model.h"

enum kobj_kind { KOBJ_VMIRS, KOBJ_CONFIG_MAP, KOBJ_SECRET, KOBJ_SERVICE };

struct kobj {
    enum kobj_kind kind;
    const char *namespace; /* borrowed from the object's metadata */
    const char *name;
    struct src_pos pos;      /* of the document's root */
    struct src_pos name_pos; /* of metadata.name */
    bool valid;              /* its document had no error */
    union {
        struct vmirs *vmirs;
        struct config_map *config_map;
        struct secret *secret;
        struct service *service;
    } u;
};

struct manifest_file {
    char *path;
    struct kobj *objs;
    size_t nobjs;
    struct diag_list diags;
};

/* Whether a spool file name is a manifest: *.yaml, *.yml or *.json, not
 * hidden, not an editor's backup or swap file, not a temporary file. */
bool manifest_filename_ok(const char *name);

/* The Kubernetes kind name of an object kind ("ConfigMap"). */
const char *manifest_kind_name(enum kobj_kind k);

/* Parse bytes read from path into f (which must be zeroed). Every problem
 * is in f->diags; objects of documents with errors are kept but marked
 * !valid. Returns 0 when there is no error, -1 otherwise. */
int manifest_parse(struct manifest_file *f, const char *path, const char *bytes, size_t len);

/* Kubernetes refuses objects much above 1.5 MiB. A "manifest" ten times
 * that is a mistake (an image dropped in the wrong directory). */
#define MANIFEST_FILE_MAX ((off_t) 16 << 20)

/* manifest_read flags. */
enum { MANIFEST_READ_TRUSTED = 1u << 0 };

/* Read the manifest at path (a symbolic link is followed). A file that is
 * not regular is refused before it is opened, and it is opened without
 * blocking (a FIFO would block an open for reading until a writer came);
 * then everything is checked again on the open file, not on the path: a
 * regular file of at most MANIFEST_FILE_MAX bytes and, with
 * MANIFEST_READ_TRUSTED, trusted (manifest_untrusted). Returns 0 with
 * *bytes (NUL-terminated, malloc'd) and *len, or -1 with *why, a malloc'd
 * phrase ("not a regular file (a FIFO)"; names in it escaped). */
int manifest_read(const char *path, unsigned flags, char **bytes, size_t *len, char **why);

/* Why a file or directory st describes may not be trusted with manifests
 * (SPEC: owned by root or by vmirsd's own user, not writable by group or
 * others), naming its owner and mode; malloc'd, or NULL when it may. */
char *manifest_untrusted(const struct stat *st);

/* Read path and parse it; a read error is a diagnostic too. */
int manifest_load(struct manifest_file *f, const char *path);

void manifest_file_free(struct manifest_file *f);

/* Objects by kind, namespace and name, each with a value of the caller's
 * (a file number, a position in a list). Lookups cost O(1), so that a
 * file of 100,000 ConfigMaps is indexed and cross-checked in linear time
 * rather than comparing every object with every other. Objects without
 * a name are not indexed. The index borrows the objects. */
struct kobj_slot {
    const struct kobj *obj;
    size_t value;
    uint64_t hash; /* of obj's kind, namespace and name: most probes end on it */
};

struct kobj_index {
    struct kobj_slot *slots; /* open addressing; obj NULL when free */
    size_t cap, n;
};

/* Add o with value unless an object of its kind, namespace and name is in
 * already: then that first one's slot is returned and o is not added.
 * Returns NULL when o was added (or has no name). */
const struct kobj_slot *kobj_index_add(struct kobj_index *ix, const struct kobj *o, size_t value);

/* The slot of kind ns/name, or NULL. */
const struct kobj_slot *kobj_index_find(const struct kobj_index *ix, enum kobj_kind kind,
                                        const char *ns, const char *name);

/* Empty the index; it is reusable afterwards. */
void kobj_index_clear(struct kobj_index *ix);

#endif
