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

/* A file's parsed content: immutable once made, shared by the desired set
 * and the create jobs that read it on worker threads while the spool moves
 * on. References are taken and dropped on the loop thread only. */
struct desired_content {
    unsigned refs;
    struct manifest_file mf;
};

struct desired_file {
    char *path;
    struct manifest_file good; /* a view of content->mf, the last content that validated */
    bool has_good;
    struct desired_content *content; /* owns good's memory; NULL if none yet */
    struct diag_list problem;        /* errors of the newest content when it was refused */
};

/* A file's new content, parsed: made on any thread, applied on the loop. */
struct desired_parsed {
    char *path;
    bool removed;                    /* the file is gone: content is NULL */
    struct desired_content *content; /* one reference, handed to desired_apply */
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

/* Parse and validate new content for path into *p. Touches nothing else:
 * safe on a worker thread while the loop uses d. */
void desired_parse(struct desired_parsed *p, const char *path, const char *bytes, size_t len);

/* A removal of path, as a parse result. */
void desired_parsed_removed(struct desired_parsed *p, const char *path);

/* Take p's result into d (loop thread): content that validates replaces
 * the file's, else the previous good content stays and the problem is
 * recorded; its diagnostics are logged. Returns true when the content in
 * force changed. p is left empty. Call desired_index afterwards. */
bool desired_apply(struct desired *d, struct desired_parsed *p);

void desired_parsed_free(struct desired_parsed *p);

/* desired_parse and desired_apply in one (tests, tools). */
bool desired_file_changed(struct desired *d, const char *path, const char *bytes, size_t len);

struct desired_content *desired_content_ref(struct desired_content *c);

/* Drop a reference; the last one frees the content. Harmless on NULL. */
void desired_content_unref(struct desired_content *c);

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
