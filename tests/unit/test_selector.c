#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "helpers.h"

#include "selector.h"
#include "util.h"

/* Selectors and label sets are written in a compact text form for the
 * tables: "k=v" is a matchLabels entry, "k in a|b", "k notin a|b",
 * "k exists" and "k !exists" are expressions; entries are separated by
 * ";". Label sets are "k=v" entries separated by ";". */

static char **
split(const char *s, char sep, size_t *n)
{
    char **v = NULL;
    const char *p = s;

    *n = 0;
    if (!*s)
        return NULL;
    for (;;) {
        const char *e = strchr(p, sep);
        size_t len = e ? (size_t) (e - p) : strlen(p);

        v = xrealloc(v, (*n + 1) * sizeof(*v));
        v[(*n)++] = xstrndup(p, len);
        if (!e)
            break;
        p = e + 1;
    }
    return v;
}

static void
free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void
parse_labels(struct labels *l, const char *text)
{
    size_t n;
    char **v = split(text, ';', &n);

    for (size_t i = 0; i < n; i++) {
        char *eq = strchr(v[i], '=');

        assert_non_null(eq);
        *eq = '\0';
        labels_set(l, v[i], eq + 1);
    }
    free_strv(v, n);
}

static void
parse_selector(struct selector *s, const char *text)
{
    size_t n;
    char **v = split(text, ';', &n);

    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < n; i++) {
        char *sp = strchr(v[i], ' ');
        struct sel_req *r;
        char *op, *vals;

        if (!sp) {
            char *eq = strchr(v[i], '=');

            assert_non_null(eq);
            *eq = '\0';
            labels_set(&s->match_labels, v[i], eq + 1);
            continue;
        }
        *sp = '\0';
        op = sp + 1;
        vals = strchr(op, ' ');
        if (vals)
            *vals++ = '\0';
        s->exprs.v = xrealloc(s->exprs.v, (s->exprs.n + 1) * sizeof(*s->exprs.v));
        r = &s->exprs.v[s->exprs.n++];
        memset(r, 0, sizeof(*r));
        r->key = xstrdup(v[i]);
        if (strcmp(op, "in") == 0)
            r->op = SEL_IN;
        else if (strcmp(op, "notin") == 0)
            r->op = SEL_NOT_IN;
        else if (strcmp(op, "exists") == 0)
            r->op = SEL_EXISTS;
        else if (strcmp(op, "!exists") == 0)
            r->op = SEL_DOES_NOT_EXIST;
        else
            fail_msg("bad op \"%s\"", op);
        if (vals)
            r->values.v = split(vals, '|', &r->values.n);
    }
    free_strv(v, n);
}

static void
test_labels_get_set(void **state)
{
    struct labels l = {0};

    assert_null(labels_get(&l, "app"));
    labels_set(&l, "app", "web");
    labels_set(&l, "tier", "front");
    assert_int_equal(l.n, 2);
    assert_string_equal(labels_get(&l, "app"), "web");
    labels_set(&l, "app", "db");
    assert_int_equal(l.n, 2);
    assert_string_equal(labels_get(&l, "app"), "db");
    assert_string_equal(labels_get(&l, "tier"), "front");
    assert_null(labels_get(&l, "ap"));
    labels_set(&l, "empty", "");
    assert_string_equal(labels_get(&l, "empty"), "");
    assert_null(labels_get(NULL, "app"));
    labels_free(&l);
    assert_null(l.v);
    assert_int_equal(l.n, 0);
    labels_free(&l);
}

struct match_case {
    const char *selector;
    const char *labels;
    bool want;
};

static const struct match_case match_cases[] = {
    /* An empty selector matches everything, even no labels. */
    {"", "", true},
    {"", "app=web", true},
    /* matchLabels */
    {"app=web", "app=web", true},
    {"app=web", "app=web;tier=front", true},
    {"app=web", "app=db", false},
    {"app=web", "", false},
    {"app=web", "App=web", false},
    {"app=web;tier=front", "app=web", false},
    {"app=web;tier=front", "tier=front;app=web", true},
    {"app=", "app=", true},
    {"app=", "", false},
    /* In */
    {"app in web|db", "app=web", true},
    {"app in web|db", "app=db", true},
    {"app in web|db", "app=cache", false},
    {"app in web|db", "", false},
    {"app in web", "app=we", false},
    /* NotIn matches when the key is absent */
    {"app notin web|db", "app=cache", true},
    {"app notin web|db", "app=web", false},
    {"app notin web|db", "", true},
    {"app notin web|db", "tier=front", true},
    /* Exists / DoesNotExist */
    {"app exists", "app=", true},
    {"app exists", "app=web", true},
    {"app exists", "tier=front", false},
    {"app !exists", "tier=front", true},
    {"app !exists", "", true},
    {"app !exists", "app=web", false},
    /* everything is ANDed */
    {"app=web;tier in front|back;canary !exists", "app=web;tier=back", true},
    {"app=web;tier in front|back;canary !exists", "app=web;tier=back;canary=1", false},
    {"app=web;tier in front|back;canary !exists", "app=web;tier=db", false},
    {"app=web;tier in front|back;canary !exists", "app=db;tier=front", false},
    {"app=web;app in web", "app=web", true},
    {"app=web;app notin web", "app=web", false},
    {"kubevirt.io/vmReplicaSet=test;kubevirt.io/domain exists",
     "kubevirt.io/domain=testh8998;kubevirt.io/vmReplicaSet=test", true},
};

static void
test_matches(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(match_cases); i++) {
        const struct match_case *c = &match_cases[i];
        struct selector s;
        struct labels l = {0};
        bool got;

        parse_selector(&s, c->selector);
        parse_labels(&l, c->labels);
        got = selector_matches(&s, &l);
        if (got != c->want)
            fail_msg("selector \"%s\" on labels \"%s\": got %d, want %d", c->selector, c->labels,
                     got, c->want);
        selector_free(&s);
        labels_free(&l);
    }
}

struct string_case {
    const char *selector;
    const char *want;
};

static const struct string_case string_cases[] = {
    {"", ""},
    {"app=web", "app=web"},
    {"tier=front;app=web", "app=web,tier=front"},
    {"app in web", "app in (web)"},
    {"app in web|db|cache", "app in (cache,db,web)"},
    {"app notin web|db", "app notin (db,web)"},
    {"app exists", "app"},
    {"app !exists", "!app"},
    {"app=", "app="},
    /* sorted by key across matchLabels and expressions; for equal keys,
     * matchLabels first, then expressions in their order */
    {"zone !exists;app in b|a;tier=front;app=web", "app=web,app in (a,b),tier=front,!zone"},
    {"app notin x;app=web;app exists", "app=web,app notin (x),app"},
    {"b exists;a !exists;c in 2|10|1", "!a,b,c in (1,10,2)"},
    {"kubevirt.io/vmReplicaSet=test;app=web", "app=web,kubevirt.io/vmReplicaSet=test"},
    /* byte order, as Go compares strings */
    {"b=1;B=2;_=3;a=4", "B=2,_=3,a=4,b=1"},
    {"app in b|B|a|a", "app in (B,a,a,b)"},
};

static void
test_string(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(string_cases); i++) {
        struct selector s;
        char *got;

        parse_selector(&s, string_cases[i].selector);
        got = selector_string(&s);
        if (strcmp(got, string_cases[i].want) != 0)
            fail_msg("selector \"%s\": got \"%s\", want \"%s\"", string_cases[i].selector, got,
                     string_cases[i].want);
        free(got);
        selector_free(&s);
    }
}

static void
test_string_keeps_value_order(void **state)
{
    struct selector s;
    char *str;

    parse_selector(&s, "app in c|a|b");
    str = selector_string(&s);
    assert_string_equal(str, "app in (a,b,c)");
    free(str);
    /* The canonical form sorts a copy; the selector keeps its order. */
    assert_string_equal(s.exprs.v[0].values.v[0], "c");
    assert_string_equal(s.exprs.v[0].values.v[2], "b");
    selector_free(&s);
}

static void
test_free_twice(void **state)
{
    struct selector s;

    parse_selector(&s, "app=web;tier in a|b");
    selector_free(&s);
    assert_int_equal(s.exprs.n, 0);
    assert_int_equal(s.match_labels.n, 0);
    selector_free(&s);
    selector_free(NULL);
}

/* -l as kubectl reads it: parsed, written back canonically, and matched. */
static void
test_parse(void **state)
{
    static const struct {
        const char *text, *canonical;
    } ok[] = {
        {"", ""},
        {"app=web", "app=web"},
        {"app==web", "app=web"},
        {" tier = front , app=web", "app=web,tier=front"},
        {"app!=web", "app notin (web)"},
        {"env in (prod, dev)", "env in (dev,prod)"},
        {"env notin (a)", "env notin (a)"},
        {"!legacy,app.kubernetes.io/name", "app.kubernetes.io/name,!legacy"},
    };
    static const struct {
        const char *text, *error;
    } bad[] = {
        {"app=web,", "invalid selector \"app=web,\" at column 9: expected a label key"},
        {"env in a", "invalid selector \"env in a\" at column 8: expected a value list like (a,b)"},
        {"env in (a",
         "invalid selector \"env in (a\" at column 10: expected a value list like (a,b)"},
        {"a b", "invalid selector \"a b\" at column 3: expected \",\""},
    };

    for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
        struct selector sel;
        char *err = NULL, *text;

        if (selector_parse(ok[i].text, &sel, &err) != 0)
            fail_msg("%s: %s", ok[i].text, err);
        text = selector_string(&sel);
        assert_string_equal(text, ok[i].canonical);
        free(text);
        selector_free(&sel);
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct selector sel;
        char *err = NULL;

        assert_int_equal(selector_parse(bad[i].text, &sel, &err), -1);
        assert_string_equal(err, bad[i].error);
        free(err);
    }
    {
        struct selector sel;
        struct labels l = {0};
        char *err = NULL;

        labels_set(&l, "app", "web");
        labels_set(&l, "env", "prod");
        assert_int_equal(selector_parse("app=web,env in (prod),!legacy", &sel, &err), 0);
        assert_true(selector_matches(&sel, &l));
        selector_free(&sel);
        assert_int_equal(selector_parse("app!=web", &sel, &err), 0);
        assert_false(selector_matches(&sel, &l));
        selector_free(&sel);
        labels_free(&l);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_labels_get_set), cmocka_unit_test(test_matches),
        cmocka_unit_test(test_string),         cmocka_unit_test(test_string_keeps_value_order),
        cmocka_unit_test(test_free_twice),     cmocka_unit_test(test_parse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
