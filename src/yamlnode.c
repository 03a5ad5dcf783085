/* The yamlnode core: nodes by id, the Kubernetes field path of the walk
 * ("spec.template.spec.volumes[0].name") and the diagnostics recorded at a
 * node with that path. Its siblings: yamlnode_scalar.c (what a scalar is),
 * yamlnode_schema.c (the table walker), yamlnode_json.c (canonical JSON)
 * and yamlnode_stream.c (bytes into documents, with their limits). */
#include "config.h"

#include "yamlnode.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "yamlnode_int.h"

struct src_pos
ynode_pos(const yaml_node_t *n)
{
    struct src_pos p = {0, 0};

    if (n) {
        p.line = (unsigned) n->start_mark.line + 1;
        p.col = (unsigned) n->start_mark.column + 1;
    }
    return p;
}

yaml_node_t *
ynode(struct yctx *c, int id)
{
    return yaml_document_get_node(c->doc, id);
}

static void
yreport(struct yctx *c, const yaml_node_t *at, enum diag_severity sev, const char *fmt, va_list ap)
{
    cleanup_free char *msg = NULL;
    struct src_pos p = ynode_pos(at);

    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    if (c->plen)
        diag_add(c->diags, c->file, p.line, p.col, sev, "%s: %s", c->path, msg ? msg : "?");
    else
        diag_add(c->diags, c->file, p.line, p.col, sev, "%s", msg ? msg : "?");
}

void
yerror(struct yctx *c, const yaml_node_t *at, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    yreport(c, at, DIAG_ERROR, fmt, ap);
    va_end(ap);
}

void
ywarning(struct yctx *c, const yaml_node_t *at, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    yreport(c, at, DIAG_WARNING, fmt, ap);
    va_end(ap);
}

size_t
ypath_push_key(struct yctx *c, const char *key)
{
    size_t saved = c->plen;
    int n = snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "%s%s", c->plen ? "." : "", key);

    if (n > 0)
        c->plen =
            c->plen + (size_t) n < sizeof(c->path) ? c->plen + (size_t) n : sizeof(c->path) - 1;
    return saved;
}

size_t
ypath_push_index(struct yctx *c, size_t i)
{
    size_t saved = c->plen;
    int n = snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "[%zu]", i);

    if (n > 0)
        c->plen =
            c->plen + (size_t) n < sizeof(c->path) ? c->plen + (size_t) n : sizeof(c->path) - 1;
    return saved;
}

void
ypath_pop(struct yctx *c, size_t saved)
{
    c->plen = saved;
    c->path[saved] = '\0';
}

yaml_node_t *
ymap_get(struct yctx *c, yaml_node_t *map, const char *key, yaml_node_t **keyp)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = ynode(c, p->key);
        const char *ks = yscalar(k);

        if (ks && strcmp(ks, key) == 0) {
            if (keyp)
                *keyp = k;
            return ynode(c, p->value);
        }
    }
    return NULL;
}

yaml_node_t *
ynode_dig(struct yctx *c, yaml_node_t *n, const char *const *steps)
{
    for (; n && *steps; steps++) {
        if ((*steps)[0] == '#') {
            size_t i = (size_t) atoi(*steps + 1);

            if (n->type != YAML_SEQUENCE_NODE ||
                i >= (size_t) (n->data.sequence.items.top - n->data.sequence.items.start))
                return NULL;
            n = ynode(c, n->data.sequence.items.start[i]);
        } else {
            n = ymap_get(c, n, *steps, NULL);
        }
    }
    return n;
}

/* The path extended by the steps, the problem recorded, the path restored:
 * the three steps every check did by hand before. */
static void
yreport_path(struct yctx *c, const yaml_node_t *at, const char *const *steps,
             enum diag_severity sev, const char *fmt, va_list ap)
{
    size_t saved = c->plen;

    for (const char *const *s = steps; *s; s++) {
        if ((*s)[0] == '#')
            ypath_push_index(c, (size_t) atoi(*s + 1));
        else
            ypath_push_key(c, *s);
    }
    yreport(c, at, sev, fmt, ap);
    ypath_pop(c, saved);
}

void
yerror_at(struct yctx *c, yaml_node_t *base, const char *const *steps, const char *fmt, ...)
{
    yaml_node_t *at = ynode_dig(c, base, steps);
    va_list ap;

    va_start(ap, fmt);
    yreport_path(c, at ? at : base, steps, DIAG_ERROR, fmt, ap);
    va_end(ap);
}

void
ywarning_at(struct yctx *c, yaml_node_t *base, const char *const *steps, const char *fmt, ...)
{
    yaml_node_t *at = ynode_dig(c, base, steps);
    va_list ap;

    va_start(ap, fmt);
    yreport_path(c, at ? at : base, steps, DIAG_WARNING, fmt, ap);
    va_end(ap);
}

void
yerror_path(struct yctx *c, const yaml_node_t *at, const char *const *steps, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    yreport_path(c, at, steps, DIAG_ERROR, fmt, ap);
    va_end(ap);
}

void
ywarning_path(struct yctx *c, const yaml_node_t *at, const char *const *steps, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    yreport_path(c, at, steps, DIAG_WARNING, fmt, ap);
    va_end(ap);
}
