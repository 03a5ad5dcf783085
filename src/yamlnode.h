/* YAML documents into typed C structs (netplan's approach): libyaml's
 * document API, one schema table per struct, one generic walker that
 * collects every problem as FILE:LINE:COL with its Kubernetes field path.
 * The same tables drive freeing, so a struct and its schema never drift. */
#ifndef VMIRS_YAMLNODE_H
#define VMIRS_YAMLNODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "diag.h"
#include "model.h"

struct yctx {
    yaml_document_t *doc;
    const char *file;
    struct diag_list *diags;
    char path[1024]; /* "spec.template.spec.volumes[0].name" */
    size_t plen;
    unsigned visits;    /* node visits left: aliases can multiply a document */
    unsigned api_level; /* YAPI_* of the document being read */
};

enum { YAPI_V1 = 1, YAPI_V1ALPHA3 = 2, YAPI_V1ALPHA2 = 4, YAPI_ANY = 7, YAPI_LEGACY = 6 };

/* What a field holds and how it is read. */
enum yfield_kind {
    YF_STR,      /* char *, a string scalar */
    YF_INT,      /* struct opt_int, a plain integer scalar within [min, max] */
    YF_BOOL,     /* struct opt_bool */
    YF_QTY,      /* struct quantity, a string or number */
    YF_ENUM,     /* int: 1 + index in the NULL-terminated names of arg; 0 unset */
    YF_STRUCT,   /* embedded struct, schema arg */
    YF_PSTRUCT,  /* pointer to a struct allocated when the key is present (null counts) */
    YF_ARRAY,    /* ARRAY_OF(struct), schema arg */
    YF_STRARRAY, /* struct str_array */
    YF_STRMAP,   /* struct labels: a mapping of strings */
    YF_INTORSTR, /* struct int_or_str */
    YF_ACCEPT,   /* known, no effect on one host, accepted silently */
    YF_IGNORE,   /* known to KubeVirt, not acted on by vmirsd: a warning */
    YF_REJECT,   /* known, refused: an error whose reason is arg */
};

/* Field flags. */
enum {
    YFL_REQUIRED = 1u << 0,  /* "Required value" when absent */
    YFL_LABELS = 1u << 1,    /* YF_STRMAP: keys and values are label syntax */
    YFL_DNS_LABEL = 1u << 2, /* YF_STR: an RFC 1123 label */
    YFL_NONEMPTY = 1u << 3,  /* YF_STR, YF_STRARRAY: must not be empty */
};

struct yschema;

struct yfield {
    const char *key;
    enum yfield_kind kind;
    size_t off;
    unsigned flags;
    const void *arg;  /* schema, enum names, or reject reason */
    int64_t min, max; /* YF_INT bounds */
    unsigned api;     /* YAPI_* where the field exists; 0 means every version */
};

struct yschema {
    const char *name;
    size_t size; /* sizeof the struct, for arrays and pointers */
    const struct yfield *fields;
    size_t nfields;
    long pos_off; /* offset of a struct src_pos, or -1 */
    bool open;    /* unknown keys are warnings (free-form maps) */
    /* Cross-field checks, run after the walk while the nodes still exist. */
    void (*check)(struct yctx *c, yaml_node_t *map, void *obj);
};

#define YSCHEMA(type, tbl, posoff, chk)                                                            \
    {                                                                                              \
        .name = #type, .size = sizeof(type), .fields = (tbl),                                      \
        .nfields = sizeof(tbl) / sizeof((tbl)[0]), .pos_off = (posoff), .check = (chk)             \
    }
#define NOPOS (-1)

/* Called once per document with its root node. */
typedef void (*ydoc_fn)(struct yctx *c, yaml_node_t *root, void *opaque);

/* Parse every document of a YAML (or JSON) stream. Syntax errors become
 * diagnostics; documents before the error are still delivered. Returns the
 * number of documents, or -1 after a syntax error. */
int ystream_load(const char *file, const char *bytes, size_t len, struct diag_list *diags,
                 ydoc_fn fn, void *opaque);

yaml_node_t *ynode(struct yctx *c, int id);

/* Record a problem at node (NULL: no position) prefixed with the path. */
void yerror(struct yctx *c, const yaml_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ywarning(struct yctx *c, const yaml_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A NULL-terminated list of path steps: each a mapping key, or "#N" for
 * item N of a sequence. Keys that come from the document itself are never
 * steps, since one could read as an index. */
#define YPATH(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The node the steps lead to from n, or NULL if any step is missing. */
yaml_node_t *ynode_dig(struct yctx *c, yaml_node_t *n, const char *const *steps);

/* Record a problem at the node the steps lead to from base (at base itself
 * when one is missing), with the path extended by the same steps. */
void yerror_at(struct yctx *c, yaml_node_t *base, const char *const *steps, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void ywarning_at(struct yctx *c, yaml_node_t *base, const char *const *steps, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Record a problem at node at with the path extended by the steps, for a
 * node other than the one the path names (a key, or an enclosing map). */
void yerror_path(struct yctx *c, const yaml_node_t *at, const char *const *steps, const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));
void ywarning_path(struct yctx *c, const yaml_node_t *at, const char *const *steps, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));

/* Extend the path with ".key" or "[i]"; return the length to pop back to. */
size_t ypath_push_key(struct yctx *c, const char *key);
size_t ypath_push_index(struct yctx *c, size_t i);
void ypath_pop(struct yctx *c, size_t saved);

/* The value node of key in mapping map, or NULL (and its key node in *keyp). */
yaml_node_t *ymap_get(struct yctx *c, yaml_node_t *map, const char *key, yaml_node_t **keyp);

/* The text of a scalar node (NUL-terminated), or NULL for other nodes. */
const char *yscalar(const yaml_node_t *n);
/* Whether a scalar is written plain (unquoted) and so may be a number,
 * a boolean or null by YAML 1.1 rules, as Kubernetes' decoder reads it. */
bool yscalar_is_null(const yaml_node_t *n);

/* Walk mapping map into obj following schema s, collecting diagnostics.
 * Unknown keys are errors; a null map counts as an empty mapping. */
void yschema_walk(struct yctx *c, yaml_node_t *map, const struct yschema *s, void *obj);

/* Free everything the schema describes inside obj (not obj itself). */
void yschema_free(const struct yschema *s, void *obj);

/* The node as canonical JSON (keys sorted, compact, YAML 1.1 scalars
 * typed as Kubernetes reads them), malloc'd: equal content gives equal
 * text whatever the layout, comments or quoting of the source. */
char *ynode_canonical_json(struct yctx *c, yaml_node_t *n);

/* Position of a node as 1-based line and column. */
struct src_pos ynode_pos(const yaml_node_t *n);

#endif
