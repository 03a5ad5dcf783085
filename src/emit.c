#include "config.h"

#include "emit.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "util.h"

int
emit_json(const json_t *v, FILE *out)
{
    if (json_dumpf(v, out, JSON_INDENT(4) | JSON_SORT_KEYS) < 0)
        return -1;
    fputc('\n', out);
    return 0;
}

/* plain_ok false: quoted, for a string that would read back as another
 * type; otherwise the emitter picks plain style where it can. */
static int
emit_scalar(yaml_emitter_t *e, const char *text, bool plain_ok)
{
    yaml_event_t ev;

    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *) text, (int) strlen(text), 1, 1,
                                 plain_ok ? YAML_ANY_SCALAR_STYLE
                                          : YAML_DOUBLE_QUOTED_SCALAR_STYLE);
    return yaml_emitter_emit(e, &ev) ? 0 : -1;
}

static int
cmp_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* A string that a YAML 1.1 reader would take for something else (a
 * number, a boolean, null) is quoted, as Go's yaml does. */
static bool
string_needs_quotes(const char *s)
{
    static const char *const special[] = {
        "",      "~",     "null", "Null", "NULL", "true", "True", "TRUE", "false",
        "False", "FALSE", "yes",  "Yes",  "YES",  "no",   "No",   "NO",   "on",
        "On",    "ON",    "off",  "Off",  "OFF",  "y",    "Y",    "n",    "N",
    };
    char *end;
    unsigned y, m, d;

    for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++)
        if (strcmp(s, special[i]) == 0)
            return true;
    /* YAML 1.1 timestamps: kubectl quotes creationTimestamp. */
    if (sscanf(s, "%4u-%2u-%2u", &y, &m, &d) == 3)
        return true;
    strtod(s, &end);
    return end != s && *end == '\0';
}

static int
emit_value(yaml_emitter_t *e, const json_t *v)
{
    yaml_event_t ev;
    char buf[64];

    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char **keys;
        size_t n = json_object_size(v), i = 0;
        const char *k;
        json_t *child;
        int rc = 0;

        yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
        if (!yaml_emitter_emit(e, &ev))
            return -1;
        keys = xcalloc(n ? n : 1, sizeof(*keys));
        json_object_foreach((json_t *) v, k, child) keys[i++] = k;
        qsort(keys, n, sizeof(*keys), cmp_key);
        for (i = 0; i < n && rc == 0; i++) {
            rc = emit_scalar(e, keys[i], !string_needs_quotes(keys[i]));
            if (rc == 0)
                rc = emit_value(e, json_object_get(v, keys[i]));
        }
        free(keys);
        if (rc < 0)
            return -1;
        yaml_mapping_end_event_initialize(&ev);
        return yaml_emitter_emit(e, &ev) ? 0 : -1;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *child;

        yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
        if (!yaml_emitter_emit(e, &ev))
            return -1;
        json_array_foreach(v, i, child) if (emit_value(e, child) < 0) return -1;
        yaml_sequence_end_event_initialize(&ev);
        return yaml_emitter_emit(e, &ev) ? 0 : -1;
    }
    case JSON_STRING:
        return emit_scalar(e, json_string_value(v), !string_needs_quotes(json_string_value(v)));
    case JSON_INTEGER:
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return emit_scalar(e, buf, true);
    case JSON_REAL:
        snprintf(buf, sizeof(buf), "%.17g", json_real_value(v));
        return emit_scalar(e, buf, true);
    case JSON_TRUE:
        return emit_scalar(e, "true", true);
    case JSON_FALSE:
        return emit_scalar(e, "false", true);
    case JSON_NULL:
        return emit_scalar(e, "null", true);
    }
    return -1;
}

int
emit_yaml(const json_t *v, FILE *out)
{
    yaml_emitter_t e;
    yaml_event_t ev;
    int rc = -1;

    if (!yaml_emitter_initialize(&e))
        return -1;
    yaml_emitter_set_output_file(&e, out);
    yaml_emitter_set_unicode(&e, 1);
    yaml_emitter_set_width(&e, -1);
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    if (!yaml_emitter_emit(&e, &ev))
        goto out;
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    if (!yaml_emitter_emit(&e, &ev) || emit_value(&e, v) < 0)
        goto out;
    yaml_document_end_event_initialize(&ev, 1);
    if (!yaml_emitter_emit(&e, &ev))
        goto out;
    yaml_stream_end_event_initialize(&ev);
    if (!yaml_emitter_emit(&e, &ev))
        goto out;
    rc = 0;
out:
    yaml_emitter_delete(&e);
    return rc;
}
