#include "config.h"

#include "yamlnode.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
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

/* Levenshtein distance, capped: only small distances matter for hints. */
static unsigned
edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned row[64];

    if (la >= ARRAY_SIZE(row) || lb >= ARRAY_SIZE(row))
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = (unsigned) j;
    for (size_t i = 1; i <= la; i++) {
        unsigned prev = row[0];

        row[0] = (unsigned) i;
        for (size_t j = 1; j <= lb; j++) {
            unsigned cur = row[j];
            unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;
            unsigned best = prev + cost;

            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    return row[lb];
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
    unsigned bestd = 3;

    for (size_t i = 0; i < s->nfields; i++) {
        unsigned d;

        if (!field_in_api(c, &s->fields[i]))
            continue;
        d = edit_distance(key, s->fields[i].key);
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

static void
walk_strmap(struct yctx *c, const struct yfield *f, yaml_node_t *v, struct labels *out)
{
    if (v->type == YAML_SCALAR_NODE && yscalar_type(v) == YS_NULL)
        return;
    if (v->type != YAML_MAPPING_NODE) {
        type_error(c, v, "object");
        return;
    }
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
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
        if (labels_get(out, ks)) {
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
            labels_set(out, ks, vs ? vs : "");
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
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = ynode(c, p->key), *v = ynode(c, p->value);
        const char *ks = yscalar(k);
        const struct yfield *f;
        bool dup = false;
        size_t saved;

        if (!ks) {
            yerror(c, k, "Invalid type: keys must be strings");
            continue;
        }
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *k2 = ynode(c, q->key);

            if (yscalar(k2) && strcmp(yscalar(k2), ks) == 0) {
                struct src_pos fp = ynode_pos(k2);

                saved = ypath_push_key(c, ks);
                yerror(c, k, "duplicate key \"%s\" (first defined at line %u, column %u)", ks,
                       fp.line, fp.col);
                ypath_pop(c, saved);
                dup = true;
                break;
            }
        }
        if (dup)
            continue;
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

static json_t *
ynode_json(struct yctx *c, yaml_node_t *n, unsigned depth)
{
    json_t *j;

    /* Aliases can make a small document a huge tree; the walk has bounded
     * it already, this only guards against cycles-by-depth. */
    if (!n || depth > 64)
        return json_null();
    switch (n->type) {
    case YAML_MAPPING_NODE:
        j = json_object();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            const char *k = yscalar(ynode(c, p->key));

            /* The first of duplicate keys wins, as in the walk. */
            if (k && !json_object_get(j, k))
                json_object_set_new(j, k, ynode_json(c, ynode(c, p->value), depth + 1));
        }
        return j;
    case YAML_SEQUENCE_NODE:
        j = json_array();
        for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top;
             i++)
            json_array_append_new(j, ynode_json(c, ynode(c, *i), depth + 1));
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
    json_t *j = ynode_json(c, n, 0);
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

int
ystream_load(const char *file, const char *bytes, size_t len, struct diag_list *diags, ydoc_fn fn,
             void *opaque)
{
    yaml_parser_t parser;
    int ndocs = 0;

    if (!yaml_parser_initialize(&parser)) {
        diag_add(diags, file, 0, 0, DIAG_ERROR, "cannot initialise the YAML parser");
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *) bytes, len);
    for (;;) {
        yaml_document_t doc;
        yaml_node_t *root;

        if (!yaml_parser_load(&parser, &doc)) {
            syntax_error(file, bytes, len, &parser, diags);
            yaml_parser_delete(&parser);
            return -1;
        }
        root = yaml_document_get_root_node(&doc);
        if (!root) {
            yaml_document_delete(&doc);
            break;
        }
        /* An explicitly empty document ("---" alone) is skipped like kubectl does. */
        if (!(root->type == YAML_SCALAR_NODE && yscalar_is_null(root))) {
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
    yaml_parser_delete(&parser);
    return ndocs;
}
