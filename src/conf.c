#include "config.h"

#include "conf.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum conf_kind {
    CONF_PATH,        /* absolute path, char * */
    CONF_URI,         /* libvirt URI, char * */
    CONF_DOMAIN_TYPE, /* enum domain_type */
    CONF_NETWORK,     /* "user" or a network name, char * */
    CONF_PORT_RANGE,  /* host_port_min and host_port_max */
    CONF_UINT,        /* unsigned within [min, max] */
    CONF_LOG_LEVEL,   /* enum log_level */
};

/* The keys in SPEC's order, which is also conf_dump's order. A NULL
 * default is derived after reading (image_dir, claim_dir). Defaults are
 * text run through the same setters as the file, so a default can never
 * be a value the parser would refuse. */
static const struct conf_key {
    const char *name;
    enum conf_kind kind;
    size_t offset;
    const char *def;
    unsigned min, max;
} conf_keys[] = {
    {"spool_dir", CONF_PATH, offsetof(struct vmirs_conf, spool_dir), "/etc/vmirs.d", 0, 0},
    {"state_dir", CONF_PATH, offsetof(struct vmirs_conf, state_dir), "/var/lib/vmirsd", 0, 0},
    {"image_dir", CONF_PATH, offsetof(struct vmirs_conf, image_dir), NULL, 0, 0},
    {"claim_dir", CONF_PATH, offsetof(struct vmirs_conf, claim_dir), NULL, 0, 0},
    {"libvirt_uri", CONF_URI, offsetof(struct vmirs_conf, libvirt_uri), "qemu:///system", 0, 0},
    {"domain_type", CONF_DOMAIN_TYPE, offsetof(struct vmirs_conf, domain_type), "auto", 0, 0},
    {"network", CONF_NETWORK, offsetof(struct vmirs_conf, network), "user", 0, 0},
    {"host_port_range", CONF_PORT_RANGE, 0, "30000-32767", 1, 65535},
    {"max_parallel", CONF_UINT, offsetof(struct vmirs_conf, max_parallel), "8", 1, 64},
    {"resync_interval", CONF_UINT, offsetof(struct vmirs_conf, resync_interval), "60", 1, 86400},
    {"log_level", CONF_LOG_LEVEL, offsetof(struct vmirs_conf, log_level), "info", 0, 0},
};

enum { CONF_NKEYS = ARRAY_SIZE(conf_keys) };

/* Index of the key called name in conf_keys, or CONF_NKEYS. */
static size_t
conf_key_find(const char *name)
{
    size_t i;

    for (i = 0; i < CONF_NKEYS; i++) {
        if (strcmp(conf_keys[i].name, name) == 0)
            break;
    }
    return i;
}

static const char *const conf_domain_types[] = {"auto", "kvm", "qemu", "test"};
static const char *const conf_log_levels[] = {"error", "warning", "info", "debug"};

const char *
conf_domain_type_name(enum domain_type t)
{
    if ((size_t) t >= ARRAY_SIZE(conf_domain_types))
        return "?";
    return conf_domain_types[t];
}

static bool
conf_is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Parse all of s as a decimal number within [min, max]; digits only, so
 * that "+8" or "0x8" are refused rather than read some other way. */
static int
conf_parse_uint(const char *s, size_t n, unsigned min, unsigned max, unsigned *out)
{
    unsigned long v = 0;

    if (n == 0 || n > 9)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long) (s[i] - '0');
    }
    if (v < min || v > max)
        return -1;
    *out = (unsigned) v;
    return 0;
}

static char *
conf_unsupported(const char *value, const char *const *names, size_t n)
{
    char *msg = xasprintf("unsupported value \"%s\": supported values: ", value);

    for (size_t i = 0; i < n; i++) {
        char *m = xasprintf("%s%s\"%s\"", msg, i ? ", " : "", names[i]);

        free(msg);
        msg = m;
    }
    return msg;
}

/* Store value into c for key k. On a bad value, leave c alone and return
 * -1 with the message after "KEY: " in *why (malloc'd). */
static int
conf_set(struct vmirs_conf *c, const struct conf_key *k, const char *value, char **why)
{
    void *field = (char *) c + k->offset;
    size_t n = strlen(value);

    switch (k->kind) {
    case CONF_PATH: {
        if (value[0] != '/') {
            *why = xasprintf("invalid value \"%s\": expected an absolute path", value);
            return -1;
        }
        /* Drop trailing slashes so that derived paths ("<state_dir>/images")
         * and the dump come out clean. */
        while (n > 1 && value[n - 1] == '/')
            n--;
        free(*(char **) field);
        *(char **) field = xstrndup(value, n);
        return 0;
    }
    case CONF_URI: {
        bool ok = n > 0;

        for (size_t i = 0; i < n; i++)
            ok = ok && (unsigned char) value[i] > ' ' && value[i] != 0x7f;
        if (!ok) {
            *why = xasprintf("invalid value \"%s\": expected a libvirt URI such as "
                             "\"qemu:///system\"",
                             value);
            return -1;
        }
        free(*(char **) field);
        *(char **) field = xstrdup(value);
        return 0;
    }
    case CONF_NETWORK: {
        /* libvirt network names are free text apart from '/', but a name
         * with blanks or control characters is certainly a typo. */
        bool ok = n > 0;

        for (size_t i = 0; i < n; i++)
            ok = ok && (unsigned char) value[i] > ' ' && value[i] != 0x7f && value[i] != '/';
        if (!ok) {
            *why = xasprintf("invalid value \"%s\": expected \"user\" or a libvirt network name",
                             value);
            return -1;
        }
        free(*(char **) field);
        *(char **) field = xstrdup(value);
        return 0;
    }
    case CONF_DOMAIN_TYPE:
        for (size_t i = 0; i < ARRAY_SIZE(conf_domain_types); i++) {
            if (strcmp(value, conf_domain_types[i]) == 0) {
                *(enum domain_type *) field = (enum domain_type) i;
                return 0;
            }
        }
        *why = conf_unsupported(value, conf_domain_types, ARRAY_SIZE(conf_domain_types));
        return -1;
    case CONF_LOG_LEVEL: {
        enum log_level l;

        if (log_level_parse(value, &l) < 0) {
            *why = conf_unsupported(value, conf_log_levels, ARRAY_SIZE(conf_log_levels));
            return -1;
        }
        *(enum log_level *) field = l;
        return 0;
    }
    case CONF_UINT:
        if (conf_parse_uint(value, n, k->min, k->max, (unsigned *) field) < 0) {
            *why = xasprintf("invalid value \"%s\": expected an integer from %u to %u", value,
                             k->min, k->max);
            return -1;
        }
        return 0;
    case CONF_PORT_RANGE: {
        const char *dash = strchr(value, '-');
        unsigned lo, hi;

        if (!dash || conf_parse_uint(value, (size_t) (dash - value), k->min, k->max, &lo) < 0 ||
            conf_parse_uint(dash + 1, strlen(dash + 1), k->min, k->max, &hi) < 0) {
            *why = xasprintf("invalid value \"%s\": expected \"min-max\" with ports from %u to %u",
                             value, k->min, k->max);
            return -1;
        }
        if (lo > hi) {
            *why = xasprintf("invalid value \"%s\": min must not be greater than max", value);
            return -1;
        }
        c->host_port_min = lo;
        c->host_port_max = hi;
        return 0;
    }
    }
    abort();
}

static void
conf_derive_dir(char **dir, const char *state_dir, const char *leaf)
{
    free(*dir);
    /* state_dir has no trailing slash, except when it is "/" itself. */
    *dir = xasprintf("%s/%s", strcmp(state_dir, "/") == 0 ? "" : state_dir, leaf);
}

void
conf_defaults(struct vmirs_conf *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < CONF_NKEYS; i++) {
        char *why = NULL;

        if (conf_keys[i].def && conf_set(c, &conf_keys[i], conf_keys[i].def, &why) < 0)
            abort(); /* a default the parser refuses is a bug in the table */
    }
    conf_derive_dir(&c->image_dir, c->state_dir, "images");
    conf_derive_dir(&c->claim_dir, c->state_dir, "claims");
}

static const char *
conf_suggest(const char *key)
{
    const char *best = NULL;
    size_t best_d = 3;

    for (size_t i = 0; i < CONF_NKEYS; i++) {
        size_t d = str_edit_distance(key, conf_keys[i].name, best_d);

        if (d < best_d) {
            best_d = d;
            best = conf_keys[i].name;
        }
    }
    return best;
}

struct conf_parse {
    struct vmirs_conf *c;
    const char *path;
    struct diag_list *diags;
    unsigned seen[CONF_NKEYS]; /* line of the first occurrence, 0 if none */
    bool set_ok[CONF_NKEYS];
    unsigned errors;
};

static void __attribute__((format(printf, 4, 5)))
conf_error(struct conf_parse *p, unsigned line, size_t col, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    diag_addv(p->diags, p->path, line, (unsigned) col, DIAG_ERROR, fmt, ap);
    va_end(ap);
    p->errors++;
}

/* Read a double-quoted value starting at line[*i] == '"'. Inside, \" and
 * \\ stand for '"' and '\'; any other byte is itself. */
static char *
conf_read_quoted(const char *line, size_t n, size_t *i)
{
    char *out = xmalloc(n + 1);
    size_t j = *i + 1, k = 0;

    while (j < n && line[j] != '"') {
        if (line[j] == '\\' && j + 1 < n && (line[j + 1] == '"' || line[j + 1] == '\\'))
            j++;
        out[k++] = line[j++];
    }
    if (j >= n) {
        free(out);
        return NULL;
    }
    out[k] = '\0';
    *i = j + 1;
    return out;
}

static void
conf_parse_line(struct conf_parse *p, unsigned lineno, const char *line, size_t n)
{
    size_t i = 0, key_start, key_len, val_start;
    cleanup_free char *key = NULL;
    cleanup_free char *value = NULL;
    cleanup_free char *why = NULL;
    const struct conf_key *k;
    size_t ki;
    const char *nul = memchr(line, '\0', n);

    if (nul) {
        conf_error(p, lineno, (size_t) (nul - line) + 1, "unexpected NUL byte");
        return;
    }
    while (i < n && conf_is_blank(line[i]))
        i++;
    if (i == n || line[i] == '#')
        return;
    key_start = i;
    while (i < n && !conf_is_blank(line[i]) && line[i] != '=' && line[i] != '#')
        i++;
    key_len = i - key_start;
    while (i < n && conf_is_blank(line[i]))
        i++;
    if (key_len == 0 || i == n || line[i] != '=') {
        conf_error(p, lineno, key_start + 1, "expected \"key = value\"");
        return;
    }
    i++;
    key = xstrndup(line + key_start, key_len);
    ki = conf_key_find(key);
    if (ki == CONF_NKEYS) {
        const char *s = conf_suggest(key);

        if (s)
            conf_error(p, lineno, key_start + 1, "unknown key \"%s\"; did you mean \"%s\"?", key,
                       s);
        else
            conf_error(p, lineno, key_start + 1, "unknown key \"%s\"", key);
        return;
    }
    if (p->seen[ki]) {
        conf_error(p, lineno, key_start + 1, "duplicate key \"%s\" (first set on line %u)", key,
                   p->seen[ki]);
        return;
    }
    p->seen[ki] = lineno;
    k = &conf_keys[ki];

    while (i < n && conf_is_blank(line[i]))
        i++;
    val_start = i;
    if (i < n && line[i] == '"') {
        value = conf_read_quoted(line, n, &i);
        if (!value) {
            conf_error(p, lineno, val_start + 1, "%s: unterminated quoted value", key);
            return;
        }
        while (i < n && conf_is_blank(line[i]))
            i++;
        if (i < n && line[i] != '#') {
            conf_error(p, lineno, i + 1, "%s: unexpected text after the quoted value", key);
            return;
        }
    } else {
        /* '#' starts a comment only after a blank, so "a#b" stays one
         * value; "key = # note" is an empty value. */
        size_t end = i;

        while (end < n && !(line[end] == '#' && conf_is_blank(line[end - 1])))
            end++;
        while (end > i && conf_is_blank(line[end - 1]))
            end--;
        value = xstrndup(line + i, end - i);
    }
    if (conf_set(p->c, k, value, &why) < 0) {
        conf_error(p, lineno, val_start + 1, "%s: %s", key, why);
        return;
    }
    p->set_ok[ki] = true;
}

int
conf_load(struct vmirs_conf *c, const char *path, bool missing_ok, struct diag_list *diags)
{
    struct conf_parse p = {.c = c, .path = path, .diags = diags};
    cleanup_free char *data = NULL;
    size_t len = 0, pos = 0;
    unsigned lineno = 0;

    /* c is overwritten, not freed: conf_free() it first when reusing. */
    conf_defaults(c);
    if (read_file(path, &data, &len) < 0) {
        if (errno == ENOENT && missing_ok)
            return 0;
        diag_add(diags, path, 0, 0, DIAG_ERROR, "open: %s", strerror(errno));
        return -1;
    }
    while (pos < len) {
        const char *line = data + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t) (nl - line) : len - pos;

        pos += n + (nl ? 1 : 0);
        lineno++;
        if (n > 0 && line[n - 1] == '\r')
            n--;
        conf_parse_line(&p, lineno, line, n);
    }
    /* image_dir and claim_dir follow state_dir unless set (validly). */
    if (!p.set_ok[conf_key_find("image_dir")])
        conf_derive_dir(&c->image_dir, c->state_dir, "images");
    if (!p.set_ok[conf_key_find("claim_dir")])
        conf_derive_dir(&c->claim_dir, c->state_dir, "claims");
    return p.errors ? -1 : 0;
}

/* Write value so that conf_load reads it back unchanged. A '\r' is
 * quoted too: unquoted at the end of a value it would be read back as the
 * end of a CRLF line. */
static void
conf_dump_value(FILE *out, const char *key, const char *value)
{
    bool quote = !*value;

    for (const char *s = value; *s; s++)
        quote = quote || conf_is_blank(*s) || *s == '#' || *s == '"' || *s == '\\' || *s == '\r';
    if (!quote) {
        fprintf(out, "%s = %s\n", key, value);
        return;
    }
    fprintf(out, "%s = \"", key);
    for (const char *s = value; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        fputc(*s, out);
    }
    fputs("\"\n", out);
}

void
conf_dump(const struct vmirs_conf *c, FILE *out)
{
    for (size_t i = 0; i < CONF_NKEYS; i++) {
        const struct conf_key *k = &conf_keys[i];
        const void *field = (const char *) c + k->offset;

        switch (k->kind) {
        case CONF_PATH:
        case CONF_URI:
        case CONF_NETWORK: {
            const char *v = *(char *const *) field;

            conf_dump_value(out, k->name, v ? v : "");
            break;
        }
        case CONF_DOMAIN_TYPE:
            fprintf(out, "%s = %s\n", k->name,
                    conf_domain_type_name(*(const enum domain_type *) field));
            break;
        case CONF_LOG_LEVEL:
            fprintf(out, "%s = %s\n", k->name, log_level_name(*(const enum log_level *) field));
            break;
        case CONF_UINT:
            fprintf(out, "%s = %u\n", k->name, *(const unsigned *) field);
            break;
        case CONF_PORT_RANGE:
            fprintf(out, "%s = %u-%u\n", k->name, c->host_port_min, c->host_port_max);
            break;
        }
    }
}

void
conf_free(struct vmirs_conf *c)
{
    if (!c)
        return;
    free(c->spool_dir);
    c->spool_dir = NULL;
    free(c->state_dir);
    c->state_dir = NULL;
    free(c->image_dir);
    c->image_dir = NULL;
    free(c->claim_dir);
    c->claim_dir = NULL;
    free(c->libvirt_uri);
    c->libvirt_uri = NULL;
    free(c->network);
    c->network = NULL;
}
