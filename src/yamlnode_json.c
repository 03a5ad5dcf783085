/* The canonical JSON of a node (keys sorted, compact, scalars typed as
 * Kubernetes reads them): what the template hash is computed over, so
 * that layout, comments and quoting never change a replica's hash. */
#include "config.h"

#include "yamlnode.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "util.h"
#include "yamlnode_int.h"

/* Every node it converts counts against *budget, as the walk's visits
 * do: the composer bounds what aliases may add, and this bounds what one
 * conversion may build from it (an unknown field the walk never entered
 * is still part of the spec). Past the budget, one error and nulls. */
static json_t *
ynode_json(struct yctx *c, yaml_node_t *n, unsigned depth, unsigned *budget)
{
    json_t *j;

    /* The composer refuses nesting past YNODE_DEPTH_MAX and alias cycles;
     * this cut keeps the recursion shallow whatever the document. */
    if (!n || depth > 64 || *budget == 0)
        return json_null();
    if (--*budget == 0) {
        yerror(c, n, "document too large: more than %u nodes after expanding aliases",
               YNODE_VISIT_BUDGET);
        return json_null();
    }
    switch (n->type) {
    case YAML_MAPPING_NODE:
        j = json_object();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            const char *k = yscalar(ynode(c, p->key));

            /* The first of duplicate keys wins, as in the walk. */
            if (k && !json_object_get(j, k))
                json_object_set_new(j, k, ynode_json(c, ynode(c, p->value), depth + 1, budget));
        }
        return j;
    case YAML_SEQUENCE_NODE:
        j = json_array();
        for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top;
             i++)
            json_array_append_new(j, ynode_json(c, ynode(c, *i), depth + 1, budget));
        return j;
    default:
        break;
    }
    switch (yscalar_type(n)) {
    case YS_NULL:
        return json_null();
    case YS_BOOL:
        return json_boolean(yscalar_true(n));
    case YS_INT: {
        int64_t v;

        if (parse_int64(yscalar(n), INT64_MIN, INT64_MAX, &v) == 0)
            return json_integer(v);
        return json_string(yscalar(n));
    }
    case YS_FLOAT:
        return json_real(strtod(yscalar(n), NULL));
    default:
        return json_stringn(yscalar(n), n->data.scalar.length);
    }
}

char *
ynode_canonical_json(struct yctx *c, yaml_node_t *n)
{
    unsigned budget = YNODE_VISIT_BUDGET;
    json_t *j = ynode_json(c, n, 0, &budget);
    char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);

    json_decref(j);
    if (!s)
        abort(); /* out of memory */
    return s;
}
