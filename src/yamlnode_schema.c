/* The schema walker: one mapping into one C struct following its table
 * of fields (netplan's mapping_entry_handler), every problem recorded and
 * the walk carried on; the same tables free what the walk allocated. */
#include "config.h"

#include "yamlnode.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvalid.h"
#include "quantity.h"
#include "util.h"
#include "yamlnode_int.h"

static bool
field_in_api(const struct yctx *c, const struct yfield *f)
{
    return !f->api || (f->api & c->api_level);
}

static const struct yfield *
schema_find(const struct yctx *c, const struct yschema *s, const char *key)
{
    for (size_t i = 0; i < s->nfields; i++)
        if (strcmp(s->fields[i].key, key) == 0 && field_in_api(c, &s->fields[i]))
            return &s->fields[i];
    return NULL;
}

static const char *
schema_suggest(const struct yctx *c, const struct yschema *s, const char *key)
{
    const char *best = NULL;
    size_t bestd = 3;

    for (size_t i = 0; i < s->nfields; i++) {
        size_t d;

        if (!field_in_api(c, &s->fields[i]))
            continue;
        d = str_edit_distance(key, s->fields[i].key, bestd);
        if (d < bestd) {
            bestd = d;
            best = s->fields[i].key;
        }
    }
    return best;
}

static bool
visit(struct yctx *c, yaml_node_t *n)
{
    if (c->visits == 0)
        return false;
    if (--c->visits == 0) {
        yerror(c, n, "document too large: more than %u nodes after expanding aliases",
               YNODE_VISIT_BUDGET);
        return false;
    }
    return true;
}

static void walk_value(struct yctx *c, const struct yfield *f, yaml_node_t *k, yaml_node_t *v,
                       void *obj);

struct ykey {
    const char *s;
    size_t i;
};

static int
ykey_cmp(const void *a, const void *b)
{
    const struct ykey *x = a, *y = b;
    int c = strcmp(x->s, y->s);

    return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* For each pair of mapping map, the index of the first earlier pair with
 * the same string key, or SIZE_MAX; malloc'd, or NULL when no key is
 * repeated. Comparing each key with every one before it was quadratic (a
 * ConfigMap of 100,000 keys); a large mapping sorts its keys instead. */
static size_t *
ymap_duplicates(struct yctx *c, yaml_node_t *map)
{
    yaml_node_pair_t *pairs = map->data.mapping.pairs.start;
    size_t n = (size_t) (map->data.mapping.pairs.top - pairs), ndup = 0;
    cleanup_free struct ykey *keys = NULL;
    size_t *dup = NULL, nkeys = 0;

    if (n < 2)
        return NULL;
    if (n <= 16) {
        for (size_t i = 1; i < n; i++) {
            const char *ks = yscalar(ynode(c, pairs[i].key));

            for (size_t j = 0; ks && j < i; j++) {
                const char *k2 = yscalar(ynode(c, pairs[j].key));

                if (k2 && strcmp(k2, ks) == 0) {
                    if (!dup) {
                        dup = xmalloc(n * sizeof(*dup));
                        for (size_t m = 0; m < n; m++)
                            dup[m] = SIZE_MAX;
                    }
                    dup[i] = j;
                    break;
                }
            }
        }
        return dup;
    }
    keys = xmalloc(n * sizeof(*keys));
    for (size_t i = 0; i < n; i++) {
        const char *ks = yscalar(ynode(c, pairs[i].key));

        if (ks)
            keys[nkeys++] = (struct ykey){ks, i};
    }
    qsort(keys, nkeys, sizeof(*keys), ykey_cmp);
    dup = xmalloc(n * sizeof(*dup));
    for (size_t m = 0; m < n; m++)
        dup[m] = SIZE_MAX;
    for (size_t i = 1, first = 0; i < nkeys; i++) {
        if (strcmp(keys[i].s, keys[first].s) != 0) {
            first = i;
            continue;
        }
        dup[keys[i].i] = keys[first].i;
        ndup++;
    }
    if (!ndup) {
        free(dup);
        return NULL;
    }
    return dup;
}

static void
walk_strmap(struct yctx *c, const struct yfield *f, yaml_node_t *v, struct labels *out)
{
    cleanup_free size_t *dup = NULL;
    size_t n;

    if (v->type == YAML_SCALAR_NODE && yscalar_type(v) == YS_NULL)
        return;
    if (v->type != YAML_MAPPING_NODE) {
        yscalar_type_error(c, v, "object");
        return;
    }
    /* Keys are unique once duplicates are refused, so entries are
     * appended (labels_set looks for the key first: quadratic here). */
    dup = ymap_duplicates(c, v);
    n = (size_t) (v->data.mapping.pairs.top - v->data.mapping.pairs.start);
    out->v = xrealloc(out->v, (out->n + n + 1) * sizeof(*out->v));
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *p = &v->data.mapping.pairs.start[i];
        yaml_node_t *k = ynode(c, p->key), *val = ynode(c, p->value);
        const char *ks = yscalar(k), *vs;
        size_t saved;

        if (!visit(c, val))
            return;
        if (!ks) {
            yerror(c, k, "Invalid type: keys must be strings");
            continue;
        }
        saved = ypath_push_key(c, ks);
        if (!yscalar_check_chars(c, k)) {
            ypath_pop(c, saved);
            continue;
        }
        if (dup && dup[i] != SIZE_MAX) {
            yerror(c, k, "duplicate key \"%s\"", ks);
            ypath_pop(c, saved);
            continue;
        }
        if (yscalar_read_str(c, val, &vs)) {
            if (f->flags & YFL_LABELS) {
                cleanup_free char *why = NULL;

                if (kvalid_label_key(ks, &why) < 0)
                    yerror(c, k, "Invalid value: \"%s\": %s", ks, why);
                else if (vs && kvalid_label_value(vs, &why) < 0)
                    yerror(c, val, "Invalid value: \"%s\": %s", vs, why);
            }
            out->v[out->n].key = xstrdup(ks);
            out->v[out->n].value = xstrdup(vs ? vs : "");
            out->n++;
        }
        ypath_pop(c, saved);
    }
}

static void
walk_array(struct yctx *c, const struct yschema *es, yaml_node_t *v, void *field)
{
    struct {
        void *v;
        size_t n;
    } *arr = field;
    size_t n;

    if (v->type == YAML_SCALAR_NODE && yscalar_type(v) == YS_NULL)
        return;
    if (v->type != YAML_SEQUENCE_NODE) {
        yscalar_type_error(c, v, "array");
        return;
    }
    n = (size_t) (v->data.sequence.items.top - v->data.sequence.items.start);
    arr->v = xcalloc(n, es->size);
    arr->n = n;
    for (size_t i = 0; i < n; i++) {
        size_t saved = ypath_push_index(c, i);

        yschema_walk(c, ynode(c, v->data.sequence.items.start[i]), es,
                     (char *) arr->v + i * es->size);
        ypath_pop(c, saved);
    }
}

static void
walk_strarray(struct yctx *c, yaml_node_t *v, struct str_array *out)
{
    size_t n;

    if (v->type == YAML_SCALAR_NODE && yscalar_type(v) == YS_NULL)
        return;
    if (v->type != YAML_SEQUENCE_NODE) {
        yscalar_type_error(c, v, "array");
        return;
    }
    n = (size_t) (v->data.sequence.items.top - v->data.sequence.items.start);
    out->v = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *e = ynode(c, v->data.sequence.items.start[i]);
        size_t saved = ypath_push_index(c, i);
        const char *s;

        if (!visit(c, e)) {
            ypath_pop(c, saved);
            return;
        }
        if (yscalar_read_str(c, e, &s))
            out->v[out->n++] = xstrdup(s ? s : "");
        ypath_pop(c, saved);
    }
}

static void
walk_int(struct yctx *c, const struct yfield *f, yaml_node_t *v, struct opt_int *out)
{
    int64_t i;
    const char *s = yscalar(v);

    if (v->type == YAML_SCALAR_NODE && yscalar_type(v) == YS_NULL)
        return;
    if (v->type != YAML_SCALAR_NODE || yscalar_type(v) != YS_INT) {
        yscalar_type_error(c, v, "integer");
        return;
    }
    if (parse_int64(s, INT64_MIN, INT64_MAX, &i) < 0) {
        yerror(c, v, "Invalid value: %s: not a decimal integer in range", s);
        return;
    }
    if (f->min != f->max && i < f->min) {
        yerror(c, v, "Invalid value: %s: must be greater than or equal to %lld", s,
               (long long) f->min);
        return;
    }
    if (f->min != f->max && i > f->max) {
        yerror(c, v, "Invalid value: %s: must be less than or equal to %lld", s,
               (long long) f->max);
        return;
    }
    out->set = true;
    out->v = i;
}

static void
walk_bool(struct yctx *c, yaml_node_t *v, struct opt_bool *out)
{
    if (v->type == YAML_SCALAR_NODE && yscalar_type(v) == YS_NULL)
        return;
    if (v->type != YAML_SCALAR_NODE || yscalar_type(v) != YS_BOOL) {
        yscalar_type_error(c, v, "boolean");
        return;
    }
    out->set = true;
    out->v = yscalar_true(v);
}

static void
walk_qty(struct yctx *c, yaml_node_t *v, struct quantity *out)
{
    const char *why = NULL, *s;
    enum yscalar_type t;

    if (v->type != YAML_SCALAR_NODE) {
        yscalar_type_error(c, v, "quantity (a string or a number)");
        return;
    }
    t = yscalar_type(v);
    if (t == YS_NULL)
        return;
    if (t == YS_BOOL) {
        yscalar_type_error(c, v, "quantity (a string or a number)");
        return;
    }
    s = yscalar(v);
    if (quantity_value(s, &out->value, &why) < 0 ||
        quantity_milli_value(s, &out->milli, &why) < 0) {
        yerror(c, v, "Invalid value: \"%s\": %s", s, why);
        return;
    }
    out->set = true;
    out->text = xstrdup(s);
}

static void
walk_enum(struct yctx *c, const struct yfield *f, yaml_node_t *v, int *out)
{
    const char *const *names = f->arg;
    const char *s;
    char list[512];
    size_t len = 0;

    if (!yscalar_read_str(c, v, &s) || !s)
        return;
    for (int i = 0; names[i]; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = i + 1;
            return;
        }
    }
    list[0] = '\0';
    for (int i = 0; names[i]; i++) {
        int n = snprintf(list + len, sizeof(list) - len, "%s\"%s\"", i ? ", " : "", names[i]);

        if (n < 0 || (size_t) n >= sizeof(list) - len)
            break;
        len += (size_t) n;
    }
    yerror(c, v, "Unsupported value: \"%s\": supported values: %s", s, list);
}

static void
walk_int_or_str(struct yctx *c, yaml_node_t *v, struct int_or_str *out)
{
    int64_t i;

    if (v->type != YAML_SCALAR_NODE) {
        yscalar_type_error(c, v, "integer or string");
        return;
    }
    switch (yscalar_type(v)) {
    case YS_NULL:
        return;
    case YS_INT:
        if (parse_int64(yscalar(v), INT32_MIN, INT32_MAX, &i) < 0) {
            yerror(c, v, "Invalid value: %s: out of range", yscalar(v));
            return;
        }
        out->set = true;
        out->i = i;
        return;
    case YS_STR:
        if (!yscalar_check_chars(c, v))
            return;
        out->set = true;
        out->is_str = true;
        out->s = xstrdup(yscalar(v));
        return;
    default:
        yscalar_type_error(c, v, "integer or string");
    }
}

static void
walk_value(struct yctx *c, const struct yfield *f, yaml_node_t *k, yaml_node_t *v, void *obj)
{
    void *field = (char *) obj + f->off;
    const char *s;

    switch (f->kind) {
    case YF_STR:
        if (yscalar_read_str(c, v, &s) && s) {
            cleanup_free char *why = NULL;

            if ((f->flags & YFL_NONEMPTY) && !*s)
                yerror(c, v, "Required value: must not be empty");
            else if ((f->flags & YFL_DNS_LABEL) && kvalid_dns1123_label(s, &why) < 0)
                yerror(c, v, "Invalid value: \"%s\": %s", s, why);
            *(char **) field = xstrdup(s);
        }
        break;
    case YF_INT:
        walk_int(c, f, v, field);
        break;
    case YF_BOOL:
        walk_bool(c, v, field);
        break;
    case YF_QTY:
        walk_qty(c, v, field);
        break;
    case YF_ENUM:
        walk_enum(c, f, v, field);
        break;
    case YF_STRUCT:
        yschema_walk(c, v, f->arg, field);
        break;
    case YF_PSTRUCT: {
        const struct yschema *s2 = f->arg;
        void **pp = field;

        if (v->type != YAML_MAPPING_NODE && !yscalar_is_null(v)) {
            yscalar_type_error(c, v, "object");
            break;
        }
        *pp = xcalloc(1, s2->size);
        yschema_walk(c, v, s2, *pp);
        break;
    }
    case YF_ARRAY:
        walk_array(c, f->arg, v, field);
        break;
    case YF_STRARRAY:
        walk_strarray(c, v, field);
        /* Items refused above were reported already: only an empty list is. */
        if ((f->flags & YFL_NONEMPTY) &&
            (v->type != YAML_SEQUENCE_NODE ||
             v->data.sequence.items.top == v->data.sequence.items.start))
            yerror(c, v, "Required value: must not be empty");
        break;
    case YF_STRMAP:
        walk_strmap(c, f, v, field);
        break;
    case YF_INTORSTR:
        walk_int_or_str(c, v, field);
        break;
    case YF_ACCEPT:
        break;
    case YF_IGNORE:
        ywarning(c, k, "not supported by vmirsd: ignored");
        break;
    case YF_REJECT:
        yerror(c, k, "Forbidden: %s", (const char *) f->arg);
        break;
    }
}

void
yschema_walk(struct yctx *c, yaml_node_t *map, const struct yschema *s, void *obj)
{
    cleanup_free size_t *dup = NULL;
    uint64_t seen = 0;

    if (!map || !visit(c, map))
        return;
    if (s->pos_off >= 0)
        *(struct src_pos *) ((char *) obj + s->pos_off) = ynode_pos(map);
    if (map->type == YAML_SCALAR_NODE && yscalar_type(map) == YS_NULL)
        goto check;
    if (map->type != YAML_MAPPING_NODE) {
        yscalar_type_error(c, map, "object");
        return;
    }
    dup = ymap_duplicates(c, map);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = ynode(c, p->key), *v = ynode(c, p->value);
        const char *ks = yscalar(k);
        size_t i = (size_t) (p - map->data.mapping.pairs.start);
        const struct yfield *f;
        size_t saved;

        if (!ks) {
            yerror(c, k, "Invalid type: keys must be strings");
            continue;
        }
        if (dup && dup[i] != SIZE_MAX) {
            struct src_pos fp = ynode_pos(ynode(c, map->data.mapping.pairs.start[dup[i]].key));

            saved = ypath_push_key(c, ks);
            yerror(c, k, "duplicate key \"%s\" (first defined at line %u, column %u)", ks, fp.line,
                   fp.col);
            ypath_pop(c, saved);
            continue;
        }
        saved = ypath_push_key(c, ks);
        f = schema_find(c, s, ks);
        if (!f && s->open) {
            ywarning(c, k, "not supported by vmirsd: ignored");
        } else if (!f) {
            const char *hint = schema_suggest(c, s, ks);

            if (hint)
                yerror(c, k, "unknown field \"%s\"; did you mean \"%s\"?", ks, hint);
            else
                yerror(c, k, "unknown field \"%s\"", ks);
        } else {
            seen |= 1ull << (f - s->fields);
            if (visit(c, v))
                walk_value(c, f, k, v, obj);
        }
        ypath_pop(c, saved);
    }

check:
    if (c->visits == 0)
        return; /* the budget ran out: the rest would only be noise */
    for (size_t i = 0; i < s->nfields && i < 64; i++) {
        const struct yfield *f = &s->fields[i];

        if ((f->flags & YFL_REQUIRED) && !(seen & (1ull << i)) && field_in_api(c, f)) {
            size_t saved = ypath_push_key(c, f->key);

            yerror(c, map, "Required value");
            ypath_pop(c, saved);
        }
    }
    if (s->check)
        s->check(c, map, obj);
}

void
yschema_free(const struct yschema *s, void *obj)
{
    if (!obj)
        return;
    for (size_t i = 0; i < s->nfields; i++) {
        const struct yfield *f = &s->fields[i];
        void *field = (char *) obj + f->off;

        switch (f->kind) {
        case YF_STR: {
            char **p = field;

            free(*p);
            *p = NULL;
            break;
        }
        case YF_QTY: {
            struct quantity *q = field;

            free(q->text);
            q->text = NULL;
            break;
        }
        case YF_STRUCT:
            yschema_free(f->arg, field);
            break;
        case YF_PSTRUCT: {
            void **pp = field;

            if (*pp) {
                yschema_free(f->arg, *pp);
                free(*pp);
                *pp = NULL;
            }
            break;
        }
        case YF_ARRAY: {
            const struct yschema *es = f->arg;
            struct {
                void *v;
                size_t n;
            } *arr = field;

            for (size_t j = 0; j < arr->n; j++)
                yschema_free(es, (char *) arr->v + j * es->size);
            free(arr->v);
            arr->v = NULL;
            arr->n = 0;
            break;
        }
        case YF_STRARRAY: {
            struct str_array *a = field;

            for (size_t j = 0; j < a->n; j++)
                free(a->v[j]);
            free(a->v);
            a->v = NULL;
            a->n = 0;
            break;
        }
        case YF_STRMAP:
            labels_free(field);
            break;
        case YF_INTORSTR: {
            struct int_or_str *is = field;

            free(is->s);
            is->s = NULL;
            break;
        }
        default:
            break;
        }
    }
}
