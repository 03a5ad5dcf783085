#include "config.h"

#include "kvalid.h"
#include "util.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The wording is apimachinery's pkg/util/validation (Kubernetes 1.27 to
 * 1.33, where IsQualifiedName and MaxLenError still say "a qualified name"
 * and "characters"), so that a user sees what kubectl would print. The
 * regular expressions are matched by hand: each is a simple character
 * class with fixed first and last characters. */

#define KVALID_DNS1123_LABEL_FMT "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
#define KVALID_DNS1123_SUBDOMAIN_FMT KVALID_DNS1123_LABEL_FMT "(\\." KVALID_DNS1123_LABEL_FMT ")*"
#define KVALID_QNAME_FMT "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
#define KVALID_LABEL_VALUE_FMT "(" KVALID_QNAME_FMT ")?"

/* RegexError(msg, fmt, examples...) renders examples as
 * " (e.g. 'a',  or 'b', regex used for validation is '...')": the double
 * space after each comma is Kubernetes' own and is kept. */
#define KVALID_DNS1123_LABEL_MSG                                                                   \
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "   \
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "     \
    "used for validation is '" KVALID_DNS1123_LABEL_FMT "')"
#define KVALID_DNS1123_SUBDOMAIN_MSG                                                               \
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "   \
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "  \
    "for validation is '" KVALID_DNS1123_SUBDOMAIN_FMT "')"
#define KVALID_QNAME_MSG                                                                           \
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "    \
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "         \
    "validation is '" KVALID_QNAME_FMT "')"
#define KVALID_LABEL_VALUE_MSG                                                                     \
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "    \
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "             \
    "'my_value',  or '12345', regex used for validation is '" KVALID_LABEL_VALUE_FMT "')"

#define KVALID_DNS1123_LABEL_MAX 63
#define KVALID_DNS1123_SUBDOMAIN_MAX 253
#define KVALID_QNAME_MAX 63
#define KVALID_LABEL_VALUE_MAX 63

/* Kubernetes returns a list of messages; we join them with "; ". */
static void
kvalid_add(char **acc, const char *prefix, const char *msg)
{
    char *s;

    if (*acc)
        s = xasprintf("%s; %s%s", *acc, prefix, msg);
    else
        s = xasprintf("%s%s", prefix, msg);
    free(*acc);
    *acc = s;
}

static void
kvalid_add_max_len(char **acc, const char *prefix, int max)
{
    cleanup_free char *m = xasprintf("must be no more than %d characters", max);

    kvalid_add(acc, prefix, m);
}

static int
kvalid_result(char *acc, char **why)
{
    if (!acc)
        return 0;
    if (why)
        *why = acc;
    else
        free(acc);
    return -1;
}

static bool
kvalid_is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool
kvalid_is_alnum(char c)
{
    return kvalid_is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ on s[0..n) */
static bool
kvalid_match_dns1123_label(const char *s, size_t n)
{
    if (n == 0 || !kvalid_is_lower_alnum(s[0]) || !kvalid_is_lower_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!kvalid_is_lower_alnum(s[i]) && s[i] != '-')
            return false;
    }
    return true;
}

/* One or more labels joined by single dots. */
static bool
kvalid_match_dns1123_subdomain(const char *s, size_t n)
{
    size_t start = 0;

    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (!kvalid_match_dns1123_label(s + start, i - start))
                return false;
            start = i + 1;
        }
    }
    return true;
}

/* ^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$ on s[0..n) */
static bool
kvalid_match_qname(const char *s, size_t n)
{
    if (n == 0 || !kvalid_is_alnum(s[0]) || !kvalid_is_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!kvalid_is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    }
    return true;
}

/* IsDNS1123Subdomain, with every message prefixed (IsQualifiedName
 * reuses it for the prefix part). */
static void
kvalid_check_subdomain(const char *s, size_t n, const char *prefix, char **acc)
{
    if (n > KVALID_DNS1123_SUBDOMAIN_MAX)
        kvalid_add_max_len(acc, prefix, KVALID_DNS1123_SUBDOMAIN_MAX);
    if (!kvalid_match_dns1123_subdomain(s, n))
        kvalid_add(acc, prefix, KVALID_DNS1123_SUBDOMAIN_MSG);
}

int
kvalid_dns1123_subdomain(const char *s, char **why)
{
    char *acc = NULL;

    kvalid_check_subdomain(s, strlen(s), "", &acc);
    return kvalid_result(acc, why);
}

int
kvalid_dns1123_label(const char *s, char **why)
{
    size_t n = strlen(s);
    char *acc = NULL;

    if (n > KVALID_DNS1123_LABEL_MAX)
        kvalid_add_max_len(&acc, "", KVALID_DNS1123_LABEL_MAX);
    if (!kvalid_match_dns1123_label(s, n)) {
        /* A valid subdomain that is not a valid label can only be wrong
         * because of its dots; Kubernetes says just that. */
        if (kvalid_match_dns1123_subdomain(s, n))
            kvalid_add(&acc, "", "must not contain dots");
        else
            kvalid_add(&acc, "", KVALID_DNS1123_LABEL_MSG);
    }
    return kvalid_result(acc, why);
}

int
kvalid_label_key(const char *s, char **why)
{
    const char *slash = strchr(s, '/');
    const char *name = s;
    char *acc = NULL;
    size_t n;

    if (slash && strchr(slash + 1, '/')) {
        kvalid_add(&acc, "a qualified name ",
                   KVALID_QNAME_MSG " with an optional DNS subdomain prefix and '/' (e.g. "
                                    "'example.com/MyName')");
        return kvalid_result(acc, why);
    }
    if (slash) {
        size_t plen = (size_t) (slash - s);

        if (plen == 0)
            kvalid_add(&acc, "prefix part ", "must be non-empty");
        else
            kvalid_check_subdomain(s, plen, "prefix part ", &acc);
        name = slash + 1;
    }
    n = strlen(name);
    if (n == 0)
        kvalid_add(&acc, "name part ", "must be non-empty");
    else if (n > KVALID_QNAME_MAX)
        kvalid_add_max_len(&acc, "name part ", KVALID_QNAME_MAX);
    if (!kvalid_match_qname(name, n))
        kvalid_add(&acc, "name part ", KVALID_QNAME_MSG);
    return kvalid_result(acc, why);
}

int
kvalid_label_value(const char *s, char **why)
{
    size_t n = strlen(s);
    char *acc = NULL;

    if (n > KVALID_LABEL_VALUE_MAX)
        kvalid_add_max_len(&acc, "", KVALID_LABEL_VALUE_MAX);
    if (n > 0 && !kvalid_match_qname(s, n))
        kvalid_add(&acc, "", KVALID_LABEL_VALUE_MSG);
    return kvalid_result(acc, why);
}
