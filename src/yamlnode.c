#include "config.h"

#include "yamlnode.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvalid.h"
#include "quantity.h"
#include "util.h"

/* A document may expand through aliases; no real manifest comes near this. */
#define YNODE_VISIT_BUDGET 200000

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

const char *
yscalar(const yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE)
        return NULL;
    return (const char *) n->data.scalar.value;
}

/* ---- scalar resolution: YAML 1.1 as Kubernetes' decoder (go-yaml v2) ---- */

enum yscalar_type { YS_NULL, YS_BOOL, YS_INT, YS_FLOAT, YS_STR };

static bool
match_any(const char *s, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(s, *set) == 0)
            return true;
    return false;
}

static const char *const yaml_true[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                        "True", "TRUE", "on",  "On",  "ON",  NULL};
static const char *const yaml_false[] = {"n",     "N",     "no",  "No",  "NO",  "false",
                                         "False", "FALSE", "off", "Off", "OFF", NULL};
static const char *const yaml_null[] = {"", "~", "null", "Null", "NULL", NULL};

static bool
looks_int(const char *s)
{
    if (*s == '+' || *s == '-')
        s++;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        if (!*s)
            return false;
        for (; *s; s++)
            if (!strchr("0123456789abcdefABCDEF_", *s))
                return false;
        return true;
    }
    if (!(*s >= '0' && *s <= '9'))
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

static bool
looks_float(const char *s)
{
    bool digits = false;

    if (*s == '+' || *s == '-')
        s++;
    if (!strcmp(s, ".inf") || !strcmp(s, ".Inf") || !strcmp(s, ".INF") || !strcmp(s, ".nan") ||
        !strcmp(s, ".NaN") || !strcmp(s, ".NAN"))
        return true;
    for (; (*s >= '0' && *s <= '9') || *s == '_'; s++)
        digits = true;
    if (*s == '.') {
        s++;
        for (; *s >= '0' && *s <= '9'; s++)
            digits = true;
    }
    if (!digits)
        return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!(*s >= '0' && *s <= '9'))
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return *s == '\0';
}

static enum yscalar_type
yscalar_type(const yaml_node_t *n)
{
    const char *s = yscalar(n);

    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return YS_STR;
    if (match_any(s, yaml_null))
        return YS_NULL;
    if (match_any(s, yaml_true) || match_any(s, yaml_false))
        return YS_BOOL;
    if (looks_int(s))
        return YS_INT;
    if (looks_float(s))
        return YS_FLOAT;
    return YS_STR;
}

bool
yscalar_is_null(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE && yscalar_type(n) == YS_NULL;
}

static const char *
ynode_type_name(const yaml_node_t *n)
{
    if (n->type == YAML_MAPPING_NODE)
        return "object";
    if (n->type == YAML_SEQUENCE_NODE)
        return "array";
    switch (yscalar_type(n)) {
    case YS_NULL:
        return "null";
    case YS_BOOL:
        return "boolean";
    case YS_INT:
        return "integer";
    case YS_FLOAT:
        return "number";
    default:
        return "string";
    }
}

static void
type_error(struct yctx *c, const yaml_node_t *n, const char *want)
{
    if (n->type == YAML_SCALAR_NODE && yscalar_type(n) == YS_STR &&
        n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE &&
        (looks_int(yscalar(n)) || looks_float(yscalar(n)) || match_any(yscalar(n), yaml_true) ||
         match_any(yscalar(n), yaml_false)))
        yerror(c, n, "Invalid type: expected %s, got string \"%s\" (remove the quotes)", want,
               yscalar(n));
    else if (n->type == YAML_SCALAR_NODE && yscalar_type(n) != YS_STR)
        yerror(c, n, "Invalid type: expected %s, got %s %s (quote it to make it a string)", want,
               ynode_type_name(n), yscalar(n));
    else if (n->type == YAML_SCALAR_NODE)
        yerror(c, n, "Invalid type: expected %s, got string \"%s\"", want, yscalar(n));
    else
        yerror(c, n, "Invalid type: expected %s, got %s", want, ynode_type_name(n));
}

/* XML 1.0, and so libvirt, cannot carry most C0 controls even escaped, and
 * an embedded NUL would silently cut the string: refuse them at the source. */
static bool
check_chars(struct yctx *c, const yaml_node_t *n)
{
    const unsigned char *s = n->data.scalar.value;
    size_t len = n->data.scalar.length;

    for (size_t i = 0; i < len; i++) {
        unsigned ch = s[i];

        if ((ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') || ch == 0x7f) {
            yerror(c, n, "Invalid value: control character U+%04X is not allowed", ch);
            return false;
        }
        /* U+FFFE and U+FFFF (EF BF BE/BF) are not characters in XML either. */
        if (ch == 0xef && i + 2 < len && s[i + 1] == 0xbf &&
            (s[i + 2] == 0xbe || s[i + 2] == 0xbf)) {
            yerror(c, n, "Invalid value: non-character U+FFF%c is not allowed",
                   s[i + 2] == 0xbe ? 'E' : 'F');
            return false;
        }
    }
    return true;
}

/* Read a string scalar; false (after a diagnostic) if it is not one.
 * A null leaves *out NULL, as Kubernetes' decoder leaves the zero value. */
static bool
read_str(struct yctx *c, yaml_node_t *n, const char **out)
{
    *out = NULL;
    if (n->type != YAML_SCALAR_NODE) {
        type_error(c, n, "string");
        return false;
    }
    switch (yscalar_type(n)) {
    case YS_NULL:
        return true;
    case YS_STR:
        if (!check_chars(c, n))
            return false;
        *out = yscalar(n);
        return true;
    default:
        type_error(c, n, "string");
        return false;
    }
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
        type_error(c, v, "object");
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
        if (!check_chars(c, k)) {
            ypath_pop(c, saved);
            continue;
        }
        if (dup && dup[i] != SIZE_MAX) {
            yerror(c, k, "duplicate key \"%s\"", ks);
            ypath_pop(c, saved);
            continue;
        }
        if (read_str(c, val, &vs)) {
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
        type_error(c, v, "array");
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
        type_error(c, v, "array");
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
        if (read_str(c, e, &s))
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
        type_error(c, v, "integer");
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
        type_error(c, v, "boolean");
        return;
    }
    out->set = true;
    out->v = match_any(yscalar(v), yaml_true);
}

static void
walk_qty(struct yctx *c, yaml_node_t *v, struct quantity *out)
{
    const char *why = NULL, *s;
    enum yscalar_type t;

    if (v->type != YAML_SCALAR_NODE) {
        type_error(c, v, "quantity (a string or a number)");
        return;
    }
    t = yscalar_type(v);
    if (t == YS_NULL)
        return;
    if (t == YS_BOOL) {
        type_error(c, v, "quantity (a string or a number)");
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

    if (!read_str(c, v, &s) || !s)
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
        type_error(c, v, "integer or string");
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
        if (!check_chars(c, v))
            return;
        out->set = true;
        out->is_str = true;
        out->s = xstrdup(yscalar(v));
        return;
    default:
        type_error(c, v, "integer or string");
    }
}

static void
walk_value(struct yctx *c, const struct yfield *f, yaml_node_t *k, yaml_node_t *v, void *obj)
{
    void *field = (char *) obj + f->off;
    const char *s;

    switch (f->kind) {
    case YF_STR:
        if (read_str(c, v, &s) && s) {
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
            type_error(c, v, "object");
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
        type_error(c, map, "object");
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

/* ---- canonical form ---- */

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
        return json_boolean(match_any(yscalar(n), yaml_true));
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
