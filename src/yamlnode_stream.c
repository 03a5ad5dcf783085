/* A YAML (or JSON) stream into documents, one at a time: syntax errors
 * as FILE:LINE:COL, and the composer that builds each document from
 * libyaml's events with limits on nesting, nodes and aliases. */
#include "config.h"

#include "yamlnode.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "yamlnode_int.h"

/* ---- streams ---- */

static void
offset_to_pos(const char *bytes, size_t len, size_t off, unsigned *line, unsigned *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (bytes[i] == '\n') {
            (*line)++;
            *col = 1;
        } else if (((unsigned char) bytes[i] & 0xc0) != 0x80) {
            (*col)++;
        }
    }
}

static void
syntax_error(const char *file, const char *bytes, size_t len, yaml_parser_t *p,
             struct diag_list *diags)
{
    unsigned line, col;
    const char *problem = p->problem ? p->problem : "unknown error";

    if (p->error == YAML_READER_ERROR) {
        offset_to_pos(bytes, len, p->problem_offset, &line, &col);
        if (p->problem_value != -1)
            diag_add(diags, file, line, col, DIAG_ERROR, "invalid YAML: %s (#%X)", problem,
                     (unsigned) p->problem_value);
        else
            diag_add(diags, file, line, col, DIAG_ERROR, "invalid YAML: %s", problem);
        return;
    }
    line = (unsigned) p->problem_mark.line + 1;
    col = (unsigned) p->problem_mark.column + 1;
    if (p->problem_mark.index < len && bytes[p->problem_mark.index] == '\t' &&
        strstr(problem, "cannot start any token")) {
        diag_add(diags, file, line, col, DIAG_ERROR,
                 "invalid YAML: tab character found; YAML indentation must use spaces");
        return;
    }
    if (p->context)
        diag_add(diags, file, line, col, DIAG_ERROR, "invalid YAML: %s %s (line %u, column %u)",
                 problem, p->context, (unsigned) p->context_mark.line + 1,
                 (unsigned) p->context_mark.column + 1);
    else
        diag_add(diags, file, line, col, DIAG_ERROR, "invalid YAML: %s", problem);
}

/* ---- composing documents from events ----
 *
 * libyaml's yaml_parser_load() builds a document with no limit at all:
 * nesting as deep as the input (and its scanner keeps one possible simple
 * key per flow level and looks at every one of them for each token, so
 * 100,000 levels of "[" took 30 s before the first node was built),
 * anchors looked up by a linear scan, and aliases to a node that is
 * still open (a cycle, which every walk would follow forever). The
 * composer below builds the same yaml_document_t, node for node and mark
 * for mark, from yaml_parser_parse() events, and refuses the document at
 * the event where a limit is passed:
 *
 * - nesting: at the start of the collection 1001 levels deep, so the
 *   scanner never sees more than that and a lookahead (a simple key is
 *   given up 1024 characters on): 100,000 levels are refused in about a
 *   millisecond;
 * - aliases: the nodes each alias adds when expanded are counted as they
 *   come, and the document is refused at the alias that makes them too
 *   many, with the rule of Kubernetes' YAML reader (go-yaml/yaml
 *   decode.go, allowedAliasRatio() and (*decoder).unmarshal(): "document
 *   contains excessive aliasing" once more than 100 of more than 1000
 *   decoded nodes come from aliases and their share passes 99 % for
 *   documents up to 400,000 nodes, falling to 10 % at 4,000,000). Nothing
 *   is expanded to count: each anchored node keeps the size of its
 *   expansion, so the count is O(1) per alias and a billion-node bomb
 *   costs no more than its text;
 * - an alias inside the node its anchor names: refused as a cycle, as
 *   go-yaml refuses "anchor 'x' value contains itself". */

/* Nesting deeper than this is refused; no manifest comes near 50. */
#define YNODE_DEPTH_MAX 1000
/* Nodes of one document, before aliases: the walk refuses a document of
 * more than YNODE_VISIT_BUDGET values (a ConfigMap of 200,000 keys holds
 * twice as many nodes), and each node costs about 170 bytes here, so a
 * 16 MiB "[0,0,0,...]" of 8 million nodes took 1.4 GB and 4 s. */
#define YNODE_NODES_MAX 500000
/* go-yaml's alias_ratio_range_low and alias_ratio_range_high. */
#define YNODE_ALIAS_RANGE_LOW 400000.0
#define YNODE_ALIAS_RANGE_HIGH 4000000.0

struct yanchor {
    char *name;
    int id;        /* the anchored node */
    uint64_t size; /* nodes in its expansion, aliases expanded */
    bool open;     /* its collection has not ended yet */
    yaml_mark_t mark;
    size_t slot; /* its place in the hash of names */
};

struct yframe {
    int id;        /* the open collection */
    size_t anchor; /* its anchor's index, or SIZE_MAX */
    uint64_t size; /* nodes of its items so far, aliases expanded */
    int key;       /* a mapping's key waiting for its value, or 0 */
};

struct ycomposer {
    yaml_parser_t *parser;
    yaml_document_t *doc;
    const char *file;
    struct diag_list *diags;
    struct yframe *stack;
    size_t depth, stack_cap;
    struct yanchor *anchors;
    size_t nanchors, anchors_cap;
    size_t *slots; /* hash of anchor names: index + 1, 0 when free */
    size_t slots_cap;
    size_t nodes;              /* in the document, before aliases */
    uint64_t decoded, aliased; /* go-yaml's decodeCount and aliasCount */
    size_t last_alias;         /* the anchor the last alias named, or SIZE_MAX */
    yaml_mark_t last_alias_mark;
};

static void compose_error(struct ycomposer *k, yaml_mark_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
compose_error(struct ycomposer *k, yaml_mark_t at, const char *fmt, ...)
{
    cleanup_free char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    diag_add(k->diags, k->file, (unsigned) at.line + 1, (unsigned) at.column + 1, DIAG_ERROR,
             "invalid YAML: %s", msg ? msg : "?");
}

static uint64_t
sat_add(uint64_t a, uint64_t b)
{
    return a + b < a ? UINT64_MAX : a + b;
}

static size_t
anchor_slot(const struct ycomposer *k, const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull;
    size_t mask = k->slots_cap - 1, i;

    for (const unsigned char *p = (const unsigned char *) name; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    for (i = (size_t) h & mask;; i = (i + 1) & mask)
        if (!k->slots[i] || strcmp(k->anchors[k->slots[i] - 1].name, name) == 0)
            return i;
}

static struct yanchor *
anchor_find(const struct ycomposer *k, const char *name)
{
    size_t i;

    if (!k->nanchors)
        return NULL;
    i = anchor_slot(k, name);
    return k->slots[i] ? &k->anchors[k->slots[i] - 1] : NULL;
}

/* Name node id: false (after a diagnostic) when the name is taken, which
 * libyaml's loader refuses too. */
static bool
anchor_add(struct ycomposer *k, const char *name, int id, bool open, yaml_mark_t mark,
           size_t *index)
{
    struct yanchor *old = anchor_find(k, name);

    if (old) {
        compose_error(k, mark,
                      "found duplicate anchor \"%s\"; first occurrence at line %u, column %u", name,
                      (unsigned) old->mark.line + 1, (unsigned) old->mark.column + 1);
        return false;
    }
    if (2 * (k->nanchors + 1) > k->slots_cap) {
        size_t cap = k->slots_cap ? 2 * k->slots_cap : 64;

        free(k->slots);
        k->slots = xcalloc(cap, sizeof(*k->slots));
        k->slots_cap = cap;
        for (size_t j = 0; j < k->nanchors; j++) {
            k->anchors[j].slot = anchor_slot(k, k->anchors[j].name);
            k->slots[k->anchors[j].slot] = j + 1;
        }
    }
    k->anchors = xgrow(k->anchors, &k->anchors_cap, k->nanchors + 1, sizeof(*k->anchors));
    k->anchors[k->nanchors] =
        (struct yanchor){xstrdup(name), id, 1, open, mark, anchor_slot(k, name)};
    k->slots[k->anchors[k->nanchors].slot] = k->nanchors + 1;
    *index = k->nanchors++;
    return true;
}

static void
anchors_clear(struct ycomposer *k)
{
    /* Only the slots in use: one document with many anchors must not
     * make every later document pay for its table. */
    for (size_t i = 0; i < k->nanchors; i++) {
        k->slots[k->anchors[i].slot] = 0;
        free(k->anchors[i].name);
    }
    k->nanchors = 0;
}

/* The share of a document's decoded nodes that may come from aliases. */
static double
allowed_alias_ratio(uint64_t decoded)
{
    if (decoded <= YNODE_ALIAS_RANGE_LOW)
        return 0.99;
    if (decoded >= YNODE_ALIAS_RANGE_HIGH)
        return 0.10;
    return 0.99 - 0.89 * (((double) decoded - YNODE_ALIAS_RANGE_LOW) /
                          (YNODE_ALIAS_RANGE_HIGH - YNODE_ALIAS_RANGE_LOW));
}

/* go-yaml checks the share after every node it decodes, and the share
 * allowed falls as documents grow: a document can pass at its last alias
 * and fail later, so every node checks it. The error points at the last
 * alias, whose expansion made the share. */
static bool
alias_budget_ok(struct ycomposer *k)
{
    const struct yanchor *a;

    if (k->aliased <= 100 || k->decoded <= 1000 ||
        (double) k->aliased / (double) k->decoded <= allowed_alias_ratio(k->decoded))
        return true;
    a = &k->anchors[k->last_alias];
    compose_error(k, k->last_alias_mark,
                  "document contains excessive aliasing (alias \"%s\" expands to %llu nodes)",
                  a->name, (unsigned long long) a->size);
    return false;
}

/* Hand a finished node (of size nodes, expanded) to the open collection. */
static bool
compose_attach(struct ycomposer *k, int id, uint64_t size)
{
    struct yframe *f;
    int ok = 1;

    if (!k->depth)
        return true; /* the root */
    f = &k->stack[k->depth - 1];
    f->size = sat_add(f->size, size);
    if (k->doc->nodes.start[f->id - 1].type == YAML_SEQUENCE_NODE) {
        ok = yaml_document_append_sequence_item(k->doc, f->id, id);
    } else if (!f->key) {
        f->key = id;
    } else {
        ok = yaml_document_append_mapping_pair(k->doc, f->id, f->key, id);
        f->key = 0;
    }
    if (!ok)
        abort(); /* out of memory */
    return true;
}

/* A node just added: give it the event's marks and, if it has one, its anchor. */
static bool
compose_node(struct ycomposer *k, int id, const yaml_event_t *ev, const yaml_char_t *anchor,
             bool open, size_t *index)
{
    yaml_node_t *n;

    *index = SIZE_MAX;
    if (++k->nodes > YNODE_NODES_MAX) {
        compose_error(k, ev->start_mark, "document too large: more than %d nodes", YNODE_NODES_MAX);
        return false;
    }
    if (!id) {
        /* libyaml checks the tag and value are UTF-8 again; its parser made
         * them, so only memory can be short. */
        compose_error(k, ev->start_mark, "cannot store the node");
        return false;
    }
    n = yaml_document_get_node(k->doc, id);
    n->start_mark = ev->start_mark;
    n->end_mark = ev->end_mark;
    k->decoded = sat_add(k->decoded, 1);
    if (!alias_budget_ok(k))
        return false;
    return !anchor || anchor_add(k, (const char *) anchor, id, open, ev->start_mark, index);
}

/* One event into the document; false (after a diagnostic) to stop. *done
 * is set at the document's end. */
static bool
compose_event(struct ycomposer *k, yaml_event_t *ev, bool *done)
{
    yaml_document_t *doc = k->doc;
    size_t anchor;
    int id;

    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        id = yaml_document_add_scalar(doc, ev->data.scalar.tag, ev->data.scalar.value,
                                      (int) ev->data.scalar.length, ev->data.scalar.style);
        return compose_node(k, id, ev, ev->data.scalar.anchor, false, &anchor) &&
               compose_attach(k, id, 1);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (k->depth >= YNODE_DEPTH_MAX) {
            compose_error(k, ev->start_mark, "nesting deeper than %d levels", YNODE_DEPTH_MAX);
            return false;
        }
        if (ev->type == YAML_SEQUENCE_START_EVENT) {
            id = yaml_document_add_sequence(doc, ev->data.sequence_start.tag,
                                            ev->data.sequence_start.style);
            if (!compose_node(k, id, ev, ev->data.sequence_start.anchor, true, &anchor))
                return false;
        } else {
            id = yaml_document_add_mapping(doc, ev->data.mapping_start.tag,
                                           ev->data.mapping_start.style);
            if (!compose_node(k, id, ev, ev->data.mapping_start.anchor, true, &anchor))
                return false;
        }
        k->stack = xgrow(k->stack, &k->stack_cap, k->depth + 1, sizeof(*k->stack));
        k->stack[k->depth++] = (struct yframe){id, anchor, 1, 0};
        return true;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: {
        struct yframe f = k->stack[--k->depth];

        doc->nodes.start[f.id - 1].end_mark = ev->end_mark;
        if (f.anchor != SIZE_MAX) {
            k->anchors[f.anchor].size = f.size;
            k->anchors[f.anchor].open = false;
        }
        return compose_attach(k, f.id, f.size);
    }
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *) ev->data.alias.anchor;
        const struct yanchor *a = anchor_find(k, name);

        if (!a) {
            compose_error(k, ev->start_mark, "found undefined alias \"%s\"", name);
            return false;
        }
        if (a->open) {
            compose_error(k, ev->start_mark, "anchor \"%s\" value contains itself", name);
            return false;
        }
        /* go-yaml counts the alias node, then every node of its target
         * as decoded through an alias. */
        k->decoded = sat_add(k->decoded, sat_add(a->size, 1));
        k->aliased = sat_add(k->aliased, a->size);
        k->last_alias = (size_t) (a - k->anchors);
        k->last_alias_mark = ev->start_mark;
        if (!alias_budget_ok(k))
            return false;
        return compose_attach(k, a->id, sat_add(a->size, 1));
    }
    case YAML_DOCUMENT_END_EVENT:
        doc->end_implicit = ev->data.document_end.implicit;
        doc->end_mark = ev->end_mark;
        *done = true;
        return true;
    default:
        return true; /* nothing else comes inside a document */
    }
}

/* The next document of the stream into doc: 1, 0 at the end of the
 * stream (doc untouched), -1 after an error (doc deleted). */
static int
compose_document(struct ycomposer *k, yaml_document_t *doc)
{
    yaml_event_t ev;
    bool done = false;

    for (;;) {
        if (!yaml_parser_parse(k->parser, &ev))
            return -2; /* a syntax error: the caller reports it */
        if (ev.type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        if (ev.type == YAML_DOCUMENT_START_EVENT)
            break;
        yaml_event_delete(&ev); /* STREAM_START */
    }
    if (!yaml_document_initialize(doc, NULL, NULL, NULL, ev.data.document_start.implicit, 1))
        abort(); /* out of memory */
    doc->start_mark = ev.start_mark;
    yaml_event_delete(&ev);
    k->doc = doc;
    k->depth = 0;
    k->nodes = 0;
    k->decoded = k->aliased = 0;
    k->last_alias = SIZE_MAX;
    anchors_clear(k);
    while (!done) {
        bool ok;

        if (!yaml_parser_parse(k->parser, &ev)) {
            yaml_document_delete(doc);
            return -2;
        }
        ok = compose_event(k, &ev, &done);
        yaml_event_delete(&ev);
        if (!ok) {
            yaml_document_delete(doc);
            return -1;
        }
    }
    return 1;
}

int
ystream_load(const char *file, const char *bytes, size_t len, struct diag_list *diags, ydoc_fn fn,
             void *opaque)
{
    yaml_parser_t parser;
    struct ycomposer k = {.parser = &parser, .file = file, .diags = diags};
    int ndocs = 0;

    if (!yaml_parser_initialize(&parser)) {
        diag_add(diags, file, 0, 0, DIAG_ERROR, "cannot initialise the YAML parser");
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *) bytes, len);
    for (;;) {
        yaml_document_t doc;
        yaml_node_t *root;
        int r = compose_document(&k, &doc);

        if (r < 0) {
            if (r == -2)
                syntax_error(file, bytes, len, &parser, diags);
            ndocs = -1;
            break;
        }
        if (r == 0)
            break;
        root = yaml_document_get_root_node(&doc);
        /* An explicitly empty document ("---" alone) is skipped like kubectl does. */
        if (root && !(root->type == YAML_SCALAR_NODE && yscalar_is_null(root))) {
            struct yctx c = {
                .doc = &doc,
                .file = file,
                .diags = diags,
                .visits = YNODE_VISIT_BUDGET,
                .api_level = YAPI_V1,
            };

            fn(&c, root, opaque);
            ndocs++;
        }
        yaml_document_delete(&doc);
    }
    anchors_clear(&k);
    free(k.anchors);
    free(k.slots);
    free(k.stack);
    yaml_parser_delete(&parser);
    return ndocs;
}
