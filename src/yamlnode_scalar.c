/* Scalars as Kubernetes' decoder reads them (YAML 1.1, go-yaml v2): the
 * type a plain scalar resolves to, the type errors worded as kubectl words
 * them, and the one check every string passes (no control characters). */
#include "config.h"

#include "yamlnode.h"

#include <stdbool.h>
#include <string.h>

#include "yamlnode_int.h"

const char *
yscalar(const yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE)
        return NULL;
    return (const char *) n->data.scalar.value;
}

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

enum yscalar_type
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

bool
yscalar_true(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE && match_any(yscalar(n), yaml_true);
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

void
yscalar_type_error(struct yctx *c, const yaml_node_t *n, const char *want)
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
bool
yscalar_check_chars(struct yctx *c, const yaml_node_t *n)
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
bool
yscalar_read_str(struct yctx *c, yaml_node_t *n, const char **out)
{
    *out = NULL;
    if (n->type != YAML_SCALAR_NODE) {
        yscalar_type_error(c, n, "string");
        return false;
    }
    switch (yscalar_type(n)) {
    case YS_NULL:
        return true;
    case YS_STR:
        if (!yscalar_check_chars(c, n))
            return false;
        *out = yscalar(n);
        return true;
    default:
        yscalar_type_error(c, n, "string");
        return false;
    }
}
