/* What the spool directory asks for: every file's last good content, and
 * the objects it defines indexed by kind, namespace and name. A file is
 * used only when it validates (its selector problems aside: a VMIRS whose
 * selector does not match runs as doing nothing); a bad edit keeps the
 * last good content in force. Two files defining one object: the first by
 * file name wins, the other is reported. */
#ifndef VMIRS_DESIRED_H
#define VMIRS_DESIRED_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "manifest.h"

struct desired_file {
    char *path;
    struct manifest_file good; /* last content that validated; nobjs 0 if none yet */
    bool has_good;
    char *good_bytes; /* that content as read, for work done off the loop thread */
    size_t good_len;
    struct diag_list problem; /* errors of the newest content when it was refused */
};

struct desired_obj {
    enum kobj_kind kind;
    const char *namespace, *name;
    const struct kobj *obj; /* in its file's good content */
    const struct desired_file *file;
};

struct desired {
    struct desired_file *files; /* sorted by file name */
    size_t nfiles;
    struct desired_obj *objs; /* the winners, rebuilt by desired_index */
    size_t nobjs;
    struct kobj_index index;     /* the winners by kind, namespace and name: values index objs */
    struct diag_list duplicates; /* objects defined twice, from the last index */
};

/* New content for path: parse it; keep it when it validates, else keep
 * the previous good content and record the problem. Returns true when the
 * content in force changed. Call desired_index afterwards. */
bool desired_file_changed(struct desired *d, const char *path, const char *bytes, size_t len);

/* path is gone: its objects are no longer desired. */
void desired_file_removed(struct desired *d, const char *path);

/* Rebuild the object index after changes. */
void desired_index(struct desired *d);

/* The object of kind ns/name in force, or NULL. */
const struct kobj *desired_find(const struct desired *d, enum kobj_kind kind, const char *ns,
                                const char *name);

/* The file that defines the VMIRS (or whose last refused content was
 * meant to), for conditions such as ManifestInvalid. */
const struct desired_file *desired_file_of(const struct desired *d, const struct kobj *o);

void desired_free(struct desired *d);

#endif
