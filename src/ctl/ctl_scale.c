/* vmirsctl scale vmirs NAME --replicas N: edit spec.replicas in the
 * manifest file in place. Only the bytes of the number change (or one
 * line is added when the key is absent), so comments, layout and the
 * other documents of the file survive a scale; the result is validated
 * before it replaces the file by an atomic rename. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "ctl.h"
#include "ctl_opts.h"
#include "ctl_spool.h"
#include "util.h"

#define VMIRS_KIND "VirtualMachineInstanceReplicaSet"

enum spec_shape { SPEC_ABSENT, SPEC_BLOCK, SPEC_FLOW, SPEC_OTHER };

/* What one document says about itself, as far as scale cares. Positions
 * are libyaml's mark indexes: characters, not bytes. */
struct scale_doc {
    char *kind, *name, *namespace;
    enum spec_shape spec;
    bool spec_has_key;
    size_t spec_first_key; /* start of the spec mapping's first key */
    bool replicas;         /* spec.replicas is present */
    bool replicas_scalar;  /* ...and is a scalar, between these marks */
    size_t replicas_start, replicas_end;
};

struct scan {
    yaml_parser_t p;
    const char *file;
    struct vmirs_err **err;
};

static void
scale_doc_free(struct scale_doc *d)
{
    free(d->kind);
    free(d->name);
    free(d->namespace);
    memset(d, 0, sizeof(*d));
}

static int
scan_next(struct scan *s, yaml_event_t *ev)
{
    if (yaml_parser_parse(&s->p, ev))
        return 0;
    return err_set(s->err, 0, "parse `%s`: %s (line %zu, column %zu)", s->file,
                   s->p.problem ? s->p.problem : "invalid YAML", s->p.problem_mark.line + 1,
                   s->p.problem_mark.column + 1);
}

/* Consume the node that *ev starts, through its end; *ev is deleted. */
static int
scan_skip(struct scan *s, yaml_event_t *ev)
{
    int depth = 0;

    for (;;) {
        if (ev->type == YAML_MAPPING_START_EVENT || ev->type == YAML_SEQUENCE_START_EVENT)
            depth++;
        else if (ev->type == YAML_MAPPING_END_EVENT || ev->type == YAML_SEQUENCE_END_EVENT)
            depth--;
        yaml_event_delete(ev);
        if (depth <= 0)
            return 0;
        if (scan_next(s, ev) < 0)
            return -1;
    }
}

/* The text of a scalar event (malloc'd), or NULL for any other node. */
static char *
scan_scalar(const yaml_event_t *ev)
{
    if (ev->type != YAML_SCALAR_EVENT)
        return NULL;
    return xstrndup((const char *) ev->data.scalar.value, ev->data.scalar.length);
}

static bool
scan_key_is(const yaml_event_t *key, const char *name)
{
    return key->data.scalar.length == strlen(name) &&
           memcmp(key->data.scalar.value, name, key->data.scalar.length) == 0;
}

/* Called for each scalar key of a mapping with the first event of its
 * value, which it must consume (scan_skip or a nested scan_mapping). */
typedef int (*scan_key_fn)(struct scan *s, const yaml_event_t *key, yaml_event_t *value,
                           struct scale_doc *d);

/* Walk a mapping whose start event has just been read. Keys that are not
 * scalars (complex keys, aliases) cannot be the ones scale looks for. */
static int
scan_mapping(struct scan *s, scan_key_fn fn, struct scale_doc *d)
{
    for (;;) {
        yaml_event_t key, value;
        int rc;

        if (scan_next(s, &key) < 0)
            return -1;
        if (key.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&key);
            return 0;
        }
        if (key.type != YAML_SCALAR_EVENT) {
            if (scan_skip(s, &key) < 0 || scan_next(s, &value) < 0 || scan_skip(s, &value) < 0)
                return -1;
            continue;
        }
        if (scan_next(s, &value) < 0) {
            yaml_event_delete(&key);
            return -1;
        }
        rc = fn(s, &key, &value, d);
        yaml_event_delete(&key);
        if (rc < 0)
            return -1;
    }
}

static int
scan_spec_key(struct scan *s, const yaml_event_t *key, yaml_event_t *value, struct scale_doc *d)
{
    if (!d->spec_has_key) {
        d->spec_has_key = true;
        d->spec_first_key = key->start_mark.index;
    }
    if (scan_key_is(key, "replicas")) {
        d->replicas = true;
        d->replicas_scalar = value->type == YAML_SCALAR_EVENT;
        d->replicas_start = value->start_mark.index;
        d->replicas_end = value->end_mark.index;
    }
    return scan_skip(s, value);
}

static int
scan_metadata_key(struct scan *s, const yaml_event_t *key, yaml_event_t *value, struct scale_doc *d)
{
    if (scan_key_is(key, "name")) {
        free(d->name);
        d->name = scan_scalar(value);
    } else if (scan_key_is(key, "namespace")) {
        free(d->namespace);
        d->namespace = scan_scalar(value);
    }
    return scan_skip(s, value);
}

static int
scan_root_key(struct scan *s, const yaml_event_t *key, yaml_event_t *value, struct scale_doc *d)
{
    if (scan_key_is(key, "kind")) {
        free(d->kind);
        d->kind = scan_scalar(value);
    } else if (scan_key_is(key, "metadata") && value->type == YAML_MAPPING_START_EVENT) {
        yaml_event_delete(value);
        return scan_mapping(s, scan_metadata_key, d);
    } else if (scan_key_is(key, "spec") && value->type == YAML_MAPPING_START_EVENT) {
        d->spec =
            value->data.mapping_start.style == YAML_FLOW_MAPPING_STYLE ? SPEC_FLOW : SPEC_BLOCK;
        d->spec_has_key = false;
        d->replicas = false;
        yaml_event_delete(value);
        return scan_mapping(s, scan_spec_key, d);
    } else if (scan_key_is(key, "spec")) {
        d->spec = SPEC_OTHER;
    }
    return scan_skip(s, value);
}

/* Find the document of the file that defines VMIRS ns/name with libyaml's
 * event API, which keeps every node's position in the source: 1 and *out
 * filled, 0 when no document defines it, -1 with err when the file does
 * not parse. */
static int
scale_locate(const char *file, const char *bytes, size_t len, const char *ns, const char *name,
             struct scale_doc *out, struct vmirs_err **err)
{
    struct scan s = {.file = file, .err = err};
    int found = 0, rc = 0;

    memset(out, 0, sizeof(*out));
    if (!yaml_parser_initialize(&s.p))
        return err_set(err, 0, "parse `%s`: out of memory", file);
    /* UTF-16 would need its own offsets; Kubernetes manifests are UTF-8. */
    if (len >= 2 && ((bytes[0] == '\xff' && bytes[1] == '\xfe') ||
                     (bytes[0] == '\xfe' && bytes[1] == '\xff'))) {
        yaml_parser_delete(&s.p);
        return err_set(err, 0, "`%s` is UTF-16: scale edits UTF-8 files only", file);
    }
    yaml_parser_set_input_string(&s.p, (const unsigned char *) bytes, len);
    for (bool done = false; !done && rc == 0;) {
        yaml_event_t ev;
        struct scale_doc d = {0};

        if (scan_next(&s, &ev) < 0) {
            rc = -1;
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        if (ev.type != YAML_DOCUMENT_START_EVENT) {
            yaml_event_delete(&ev);
            continue;
        }
        yaml_event_delete(&ev);
        if (scan_next(&s, &ev) < 0) {
            rc = -1;
            break;
        }
        if (ev.type == YAML_MAPPING_START_EVENT) {
            yaml_event_delete(&ev);
            rc = scan_mapping(&s, scan_root_key, &d);
        } else {
            rc = scan_skip(&s, &ev);
        }
        /* The first definition in the file is the one the daemon reads;
         * a second one is a validation error that the check will report. */
        if (rc == 0 && !found && streq0(d.kind, VMIRS_KIND) && streq0(d.name, name) &&
            streq0(d.namespace ? d.namespace : "default", ns)) {
            *out = d;
            found = 1;
        } else {
            scale_doc_free(&d);
        }
    }
    yaml_parser_delete(&s.p);
    if (rc < 0) {
        scale_doc_free(out);
        return -1;
    }
    return found;
}

/* The byte offset of character index in UTF-8 text: libyaml counts a
 * character, not a byte, per step (a "\r\n" is two), and does not count
 * the byte order mark it strips. */
static size_t
scale_byte(const char *s, size_t len, size_t index)
{
    size_t b = len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;

    for (size_t c = 0; c < index && b < len; c++) {
        b++;
        while (b < len && ((unsigned char) s[b] & 0xc0) == 0x80)
            b++;
    }
    return b;
}

/* The new content of the file: the replicas scalar's bytes replaced by
 * n, or a "replicas: n" line inserted before the spec mapping's first key
 * at its indentation. Everything else is copied byte for byte. */
static int
scale_edit(const char *file, const char *bytes, size_t len, const struct scale_doc *d, int64_t n,
           char **out, size_t *outlen, struct vmirs_err **err)
{
    char digits[32];
    size_t start, end, dlen;
    cleanup_free char *insert = NULL;
    const char *text;

    snprintf(digits, sizeof(digits), "%" PRId64, n);
    if (d->spec == SPEC_ABSENT)
        return err_set(err, 0, "`%s` gives %s \"%s\" no spec to scale", file, VMIRS_KIND, d->name);
    if (d->spec == SPEC_OTHER)
        return err_set(err, 0, "spec of \"%s\" in `%s` is not a mapping", d->name, file);
    if (d->replicas) {
        if (!d->replicas_scalar)
            return err_set(err, 0,
                           "spec.replicas of \"%s\" in `%s` is not a number (an alias or a "
                           "collection): edit it by hand",
                           d->name, file);
        start = scale_byte(bytes, len, d->replicas_start);
        end = scale_byte(bytes, len, d->replicas_end);
        /* "replicas:" with no value: libyaml puts the empty scalar right
         * after the colon, and "replicas:3" would be one plain scalar. */
        insert = xasprintf("%s%s", start == end ? " " : "", digits);
        text = insert;
    } else {
        size_t key, line;
        bool crlf;

        if (d->spec == SPEC_FLOW)
            return err_set(err, 0,
                           "spec of \"%s\" in `%s` is written in flow style ({...}) without "
                           "replicas: add \"replicas: %s\" to it by hand",
                           d->name, file, digits);
        key = scale_byte(bytes, len, d->spec_first_key);
        for (line = key; line > 0 && bytes[line - 1] != '\n'; line--)
            if (bytes[line - 1] != ' ')
                return err_set(err, 0,
                               "spec of \"%s\" in `%s` does not start its first key on a line "
                               "of its own: add \"replicas: %s\" by hand",
                               d->name, file, digits);
        crlf = line >= 2 && bytes[line - 2] == '\r';
        insert =
            xasprintf("%*sreplicas: %s%s", (int) (key - line), "", digits, crlf ? "\r\n" : "\n");
        start = end = line;
        text = insert;
    }
    if (start > end || end > len)
        return err_set(err, 0, "spec.replicas of \"%s\" in `%s`: position out of range", d->name,
                       file);
    dlen = strlen(text);
    *outlen = len - (end - start) + dlen;
    *out = xmalloc(*outlen + 1);
    memcpy(*out, bytes, start);
    memcpy(*out + start, text, dlen);
    memcpy(*out + start + dlen, bytes + end, len - end);
    (*out)[*outlen] = '\0';
    return 0;
}

/* The manifest file the daemon reads ns/name from: the database's record
 * of it first, else the spool's first file by name that defines it. Both
 * are only candidates: scale_locate decides. */
static void
scale_candidates(const struct vmirs_conf *conf, const char *ns, const char *name, char *cand[2])
{
    struct store *s = NULL;
    sqlite3_stmt *st = NULL;

    cand[0] = cand[1] = NULL;
    if (ctl_store_open_if_any(conf, &s) == CTL_OK && s &&
        store_prepare(s, "SELECT file FROM replica_sets WHERE namespace = ?1 AND name = ?2", &st,
                      NULL) == 0) {
        sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            cand[0] = xstrdup((const char *) sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    }
    store_close(s);
    cand[1] = ctl_spool_find(conf->spool_dir, KOBJ_VMIRS, ns, name);
    if (cand[0] && cand[1] && strcmp(cand[0], cand[1]) == 0) {
        free(cand[1]);
        cand[1] = NULL;
    }
}

/* Whether the edited content says what was asked: a guard against an
 * edit at the wrong place, which validation alone might accept. */
static bool
scale_took(const struct manifest_file *mf, const char *ns, const char *name, int64_t n)
{
    for (size_t i = 0; i < mf->nobjs; i++) {
        const struct kobj *o = &mf->objs[i];

        if (o->kind == KOBJ_VMIRS && streq0(o->name, name) && streq0(o->namespace, ns))
            return o->u.vmirs->spec.replicas.set && o->u.vmirs->spec.replicas.v == n;
    }
    return false;
}

/* Edit, validate and write one file: CTL_OK, CTL_ERROR (printed), or -1
 * when the file does not define the object. */
static int
scale_file(const char *file, const char *ns, const char *name, int64_t n)
{
    cleanup_free char *bytes = NULL, *edited = NULL, *real = NULL;
    struct manifest_file mf = {0};
    struct vmirs_err *err = NULL;
    struct scale_doc d;
    size_t len, elen = 0;
    struct stat st;
    int r;

    real = realpath(file, NULL);
    if (!real || stat(real, &st) < 0 || read_file(real, &bytes, &len) < 0) {
        /* A file the database remembers may have gone: try the next. */
        if (errno == ENOENT)
            return -1;
        fprintf(stderr, "vmirsctl: read `%s`: %s\n", file, strerror(errno));
        return CTL_ERROR;
    }
    r = scale_locate(file, bytes, len, ns, name, &d, &err);
    if (r == 0)
        return -1;
    if (r > 0)
        r = scale_edit(file, bytes, len, &d, n, &edited, &elen, &err);
    scale_doc_free(&d);
    if (r < 0) {
        fprintf(stderr, "vmirsctl: scale \"%s\": %s\n", name, err->msg);
        err_free(&err);
        return CTL_ERROR;
    }
    if (ctl_validate_bytes(&mf, file, edited, elen, stderr) < 0) {
        fprintf(stderr,
                "vmirsctl: refuse to scale \"%s\" to %" PRId64 ": `%s` would not validate; it "
                "is unchanged\n",
                name, n, file);
        manifest_file_free(&mf);
        return CTL_ERROR;
    }
    r = scale_took(&mf, ns, name, n);
    manifest_file_free(&mf);
    if (!r) {
        fprintf(stderr, "vmirsctl: scale \"%s\": the edit of `%s` did not take; it is unchanged\n",
                name, file);
        return CTL_ERROR;
    }
    /* Written where the file really is, so a symlink in the spool stays
     * one; the mode stays too. */
    if ((elen != len || memcmp(edited, bytes, len) != 0) &&
        write_file_atomic(real, edited, elen, st.st_mode & 07777) < 0) {
        fprintf(stderr, "vmirsctl: write `%s`: %s\n", real, strerror(errno));
        return CTL_ERROR;
    }
    return CTL_OK;
}

static void
scale_usage(FILE *out)
{
    fprintf(out, "Usage: vmirsctl scale vmirs NAME --replicas N [-n NS]\n");
}

int
ctl_scale(struct ctl_ctx *ctx, int argc, char **argv)
{
    const char *replicas = NULL, *name, *ns;
    const struct ctl_flag flags[] = {{"replicas", 0, &replicas}, {NULL}};
    const struct ctl_opts_spec spec = {0, NULL, flags, scale_usage};
    cleanup_free char *type_copy = NULL;
    struct vmirs_conf conf = {0};
    struct ctl_opts opts;
    char *cand[2];
    int64_t n;
    int rc;

    rc = ctl_opts_parse_object(&spec, argc, argv, 0, "scale", &opts, &type_copy, &name);
    if (rc != CTL_OPTS_GO_ON)
        return rc;
    ns = opts.ns;
    rc = -1;
    if (!replicas) {
        fprintf(stderr, "vmirsctl: required flag \"--replicas\" not set\n");
        scale_usage(stderr);
        return CTL_USAGE;
    }
    if (strspn(replicas, "0123456789") != strlen(replicas) ||
        parse_int64(replicas, 0, INT64_MAX, &n) < 0) {
        fprintf(stderr, "vmirsctl: invalid --replicas \"%s\": must be a non-negative integer\n",
                replicas);
        return CTL_USAGE;
    }
    if (!*name) {
        scale_usage(stderr);
        return CTL_USAGE;
    }
    if (ctl_conf_load(ctx, &conf) != CTL_OK)
        return CTL_ERROR;
    scale_candidates(&conf, ns, name, cand);
    for (int i = 0; i < 2 && rc < 0; i++)
        if (cand[i])
            rc = scale_file(cand[i], ns, name, n);
    free(cand[0]);
    free(cand[1]);
    conf_free(&conf);
    if (rc < 0) {
        fprintf(stderr,
                "Error from server (NotFound): virtualmachineinstancereplicasets.kubevirt.io "
                "\"%s\" not found\n",
                name);
        return CTL_ERROR;
    }
    if (rc == CTL_OK)
        printf("virtualmachineinstancereplicaset.kubevirt.io/%s scaled\n", name);
    return rc;
}
