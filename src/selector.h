/* Label sets and label selectors (matchLabels + matchExpressions), their
 * matching, and their canonical string form (labels.Selector.String()). */
#ifndef VMIRS_SELECTOR_H
#define VMIRS_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

struct label {
    char *key;
    char *value;
};

struct labels {
    struct label *v;
    size_t n;
};

enum sel_op { SEL_IN, SEL_NOT_IN, SEL_EXISTS, SEL_DOES_NOT_EXIST };

struct sel_req {
    char *key;
    enum sel_op op;
    struct {
        char **v;
        size_t n;
    } values;
};

struct selector {
    struct labels match_labels;
    struct {
        struct sel_req *v;
        size_t n;
    } exprs;
};

/* The value of key in l, or NULL. */
const char *labels_get(const struct labels *l, const char *key);
/* Add or replace key (copies both strings). */
void labels_set(struct labels *l, const char *key, const char *value);
void labels_free(struct labels *l);

/* Whether every requirement of s holds for l. An empty selector matches
 * everything (metav1 Everything()). */
bool selector_matches(const struct selector *s, const struct labels *l);

/* The canonical string form: requirements sorted by key, matchLabels as
 * "k=v", "k in (a,b)", "k notin (a,b)", "k", "!k", joined by ",";
 * values sorted. Empty selector: "". Malloc'd. */
char *selector_string(const struct selector *s);

/* Parse kubectl's -l syntax ("a=b,c!=d,e in (f,g),h notin (i),j,!k")
 * into out. Returns 0, or -1 with a malloc'd message in *errmsg. */
int selector_parse(const char *text, struct selector *out, char **errmsg);

void selector_free(struct selector *s);

#endif
