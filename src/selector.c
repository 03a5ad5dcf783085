#include "config.h"

#include <ctype.h>

#include "selector.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *
labels_get(const struct labels *l, const char *key)
{
    if (!l)
        return NULL;
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i].key, key) == 0)
            return l->v[i].value;
    }
    return NULL;
}

void
labels_set(struct labels *l, const char *key, const char *value)
{
    /* Label sets are a handful of entries: a linear scan and growing by
     * one are cheaper to read than a hash table and fast enough. */
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i].key, key) == 0) {
            char *v = xstrdup(value);

            free(l->v[i].value);
            l->v[i].value = v;
            return;
        }
    }
    l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n].key = xstrdup(key);
    l->v[l->n].value = xstrdup(value);
    l->n++;
}

void
labels_free(struct labels *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].key);
        free(l->v[i].value);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static bool
selector_req_has_value(const struct sel_req *r, const char *value)
{
    for (size_t i = 0; i < r->values.n; i++) {
        if (strcmp(r->values.v[i], value) == 0)
            return true;
    }
    return false;
}

/* labels.Requirement.Matches: NotIn and DoesNotExist hold for a label set
 * that lacks the key, In and Exists need it. */
static bool
selector_req_matches(const struct sel_req *r, const struct labels *l)
{
    const char *v = labels_get(l, r->key);

    switch (r->op) {
    case SEL_IN:
        return v && selector_req_has_value(r, v);
    case SEL_NOT_IN:
        return !v || !selector_req_has_value(r, v);
    case SEL_EXISTS:
        return v != NULL;
    case SEL_DOES_NOT_EXIST:
        return v == NULL;
    }
    return false;
}

bool
selector_matches(const struct selector *s, const struct labels *l)
{
    for (size_t i = 0; i < s->match_labels.n; i++) {
        const char *v = labels_get(l, s->match_labels.v[i].key);

        if (!v || strcmp(v, s->match_labels.v[i].value) != 0)
            return false;
    }
    for (size_t i = 0; i < s->exprs.n; i++) {
        if (!selector_req_matches(&s->exprs.v[i], l))
            return false;
    }
    return true;
}

/* One requirement of the canonical form: a matchLabels entry or an
 * expression, whichever is set. */
struct selector_item {
    const char *key;
    const struct label *label;
    const struct sel_req *req;
};

static int
selector_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static void
selector_write_req(FILE *f, const struct sel_req *r)
{
    cleanup_free const char **vals = NULL;

    switch (r->op) {
    case SEL_EXISTS:
        fputs(r->key, f);
        return;
    case SEL_DOES_NOT_EXIST:
        fprintf(f, "!%s", r->key);
        return;
    case SEL_IN:
        fprintf(f, "%s in (", r->key);
        break;
    case SEL_NOT_IN:
        fprintf(f, "%s notin (", r->key);
        break;
    }
    /* Requirement.String() sorts a copy of the values; the selector
     * itself keeps the order it was written in. */
    vals = xcalloc(r->values.n, sizeof(*vals));
    for (size_t i = 0; i < r->values.n; i++)
        vals[i] = r->values.v[i];
    qsort(vals, r->values.n, sizeof(*vals), selector_cmp_str);
    for (size_t i = 0; i < r->values.n; i++)
        fprintf(f, "%s%s", i ? "," : "", vals[i]);
    fputc(')', f);
}

char *
selector_string(const struct selector *s)
{
    size_t n = s->match_labels.n + s->exprs.n, k = 0;
    cleanup_free struct selector_item *items = xcalloc(n, sizeof(*items));
    char *buf = NULL;
    size_t len = 0;
    FILE *f;

    /* LabelSelectorAsSelector lists matchLabels, then the expressions,
     * and sorts by key; for the few requirements a selector has, Go's
     * sort is an insertion sort and so stable, which this one is too. */
    for (size_t i = 0; i < s->match_labels.n; i++) {
        items[k].key = s->match_labels.v[i].key;
        items[k++].label = &s->match_labels.v[i];
    }
    for (size_t i = 0; i < s->exprs.n; i++) {
        items[k].key = s->exprs.v[i].key;
        items[k++].req = &s->exprs.v[i];
    }
    for (size_t i = 1; i < n; i++) {
        struct selector_item t = items[i];
        size_t j = i;

        while (j > 0 && strcmp(items[j - 1].key, t.key) > 0) {
            items[j] = items[j - 1];
            j--;
        }
        items[j] = t;
    }

    f = open_memstream(&buf, &len);
    if (!f)
        abort(); /* only fails for lack of memory, like xmalloc */
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputc(',', f);
        if (items[i].label)
            fprintf(f, "%s=%s", items[i].label->key, items[i].label->value);
        else
            selector_write_req(f, items[i].req);
    }
    if (fclose(f) != 0 || !buf)
        abort();
    return buf;
}

void
selector_free(struct selector *s)
{
    if (!s)
        return;
    labels_free(&s->match_labels);
    for (size_t i = 0; i < s->exprs.n; i++) {
        struct sel_req *r = &s->exprs.v[i];

        free(r->key);
        for (size_t j = 0; j < r->values.n; j++)
            free(r->values.v[j]);
        free(r->values.v);
    }
    free(s->exprs.v);
    s->exprs.v = NULL;
    s->exprs.n = 0;
}

/* The parser for -l: a hand-sized recursive descent over one line, since
 * no dependency reads Kubernetes' selector syntax. */
struct sel_lexer {
    const char *p;
};

static void
sel_skip_space(struct sel_lexer *l)
{
    while (*l->p == ' ' || *l->p == '\t')
        l->p++;
}

/* A key or value: letters, digits and - _ . / */
static char *
sel_word(struct sel_lexer *l)
{
    const char *start;

    sel_skip_space(l);
    start = l->p;
    while (isalnum((unsigned char) *l->p) || (*l->p && strchr("-_./", *l->p) != NULL))
        l->p++;
    return l->p > start ? xstrndup(start, (size_t) (l->p - start)) : NULL;
}

static bool
sel_keyword(struct sel_lexer *l, const char *kw)
{
    size_t n = strlen(kw);

    sel_skip_space(l);
    if (strncmp(l->p, kw, n) != 0 || isalnum((unsigned char) l->p[n]))
        return false;
    l->p += n;
    return true;
}

static void
sel_add_req(struct selector *out, char *key, enum sel_op op)
{
    out->exprs.v = xrealloc(out->exprs.v, (out->exprs.n + 1) * sizeof(*out->exprs.v));
    out->exprs.v[out->exprs.n++] = (struct sel_req){.key = key, .op = op};
}

static void
sel_add_value(struct sel_req *r, char *value)
{
    r->values.v = xrealloc(r->values.v, (r->values.n + 1) * sizeof(*r->values.v));
    r->values.v[r->values.n++] = value;
}

/* "(a,b,...)" into r's values. */
static int
sel_values(struct sel_lexer *l, struct sel_req *r)
{
    sel_skip_space(l);
    if (*l->p != '(')
        return -1;
    l->p++;
    for (;;) {
        char *v = sel_word(l);

        sel_add_value(r, v ? v : xstrdup(""));
        sel_skip_space(l);
        if (*l->p == ')') {
            l->p++;
            return 0;
        }
        if (*l->p != ',')
            return -1;
        l->p++;
    }
}

static int
sel_fail(const char *text, struct sel_lexer *l, char **errmsg, const char *what)
{
    *errmsg = xasprintf("invalid selector \"%s\" at column %zu: %s", text,
                        (size_t) (l->p - text) + 1, what);
    return -1;
}

int
selector_parse(const char *text, struct selector *out, char **errmsg)
{
    struct sel_lexer l = {.p = text};

    *out = (struct selector){0};
    sel_skip_space(&l);
    if (!*l.p)
        return 0;
    for (;;) {
        char *key;

        sel_skip_space(&l);
        if (*l.p == '!') {
            l.p++;
            key = sel_word(&l);
            if (!key)
                goto bad_key;
            sel_add_req(out, key, SEL_DOES_NOT_EXIST);
        } else {
            key = sel_word(&l);
            if (!key)
                goto bad_key;
            sel_skip_space(&l);
            if (l.p[0] == '=' || (l.p[0] == '!' && l.p[1] == '=')) {
                bool neq = l.p[0] == '!';
                char *value;

                l.p += (neq || l.p[1] == '=') ? 2 : 1;
                value = sel_word(&l);
                if (!neq) {
                    labels_set(&out->match_labels, key, value ? value : "");
                    free(key);
                    free(value);
                } else {
                    sel_add_req(out, key, SEL_NOT_IN);
                    sel_add_value(&out->exprs.v[out->exprs.n - 1], value ? value : xstrdup(""));
                }
            } else if (sel_keyword(&l, "in") || sel_keyword(&l, "notin")) {
                /* The keyword just read ends in "notin" or is "in". */
                bool notin = l.p - text >= 5 && strncmp(l.p - 5, "notin", 5) == 0;

                sel_add_req(out, key, notin ? SEL_NOT_IN : SEL_IN);
                if (sel_values(&l, &out->exprs.v[out->exprs.n - 1]) < 0)
                    goto bad_set;
            } else {
                sel_add_req(out, key, SEL_EXISTS);
            }
        }
        sel_skip_space(&l);
        if (!*l.p)
            return 0;
        if (*l.p != ',') {
            selector_free(out);
            return sel_fail(text, &l, errmsg, "expected \",\"");
        }
        l.p++;
    }
bad_key:
    selector_free(out);
    return sel_fail(text, &l, errmsg, "expected a label key");
bad_set:
    selector_free(out);
    return sel_fail(text, &l, errmsg, "expected a value list like (a,b)");
}
