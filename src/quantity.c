#include "config.h"

#include "quantity.h"
#include "util.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* apimachinery's ErrSuffix text, and the wording Kubernetes validation uses
 * for a negative resource quantity. */
#define QUANTITY_SUFFIX_MSG "unable to parse quantity's suffix"
#define QUANTITY_NEGATIVE_MSG "must be greater than or equal to 0"
/* apimachinery caps binarySI values at 2^63-1 and lets Value() overflow
 * silently; a memory size that wrapped around would be worse than an
 * error, so we refuse instead and name the limit as a quantity. */
#define QUANTITY_VALUE_MAX_MSG "must be less than or equal to 9223372036854775807"
#define QUANTITY_MILLI_MAX_MSG "must be less than or equal to 9223372036854775807m"

/* Any decimal exponent beyond this already overflows (or rounds up to the
 * smallest unit) for every string that fits in memory; clamping keeps the
 * position arithmetic below far away from int64 overflow. */
#define QUANTITY_EXP_LIMIT ((int64_t) 1 << 40)

/* The pieces of "<sign><num>.<denom><suffix>", as apimachinery's
 * parseQuantityString splits them. */
struct qparts {
    bool negative;
    const char *num; /* leading zeros stripped */
    size_t num_len;
    const char *denom;
    size_t denom_len;
    int64_t exp10; /* decimal exponent of the suffix */
    unsigned exp2; /* binary exponent of the suffix */
};

static const struct {
    const char *name;
    int exp10;
    unsigned exp2;
} quantity_suffixes[] = {
    {"", 0, 0},    {"n", -9, 0},  {"u", -6, 0},  {"m", -3, 0},  {"k", 3, 0},   {"M", 6, 0},
    {"G", 9, 0},   {"T", 12, 0},  {"P", 15, 0},  {"E", 18, 0},  {"Ki", 0, 10}, {"Mi", 0, 20},
    {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}, {"Ei", 0, 60},
};

static bool
quantity_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Interpret the suffix the way apimachinery's suffixer does: the fixed
 * decimal and binary tables first, then "e"/"E" followed by an int64. */
static int
quantity_suffix(const char *suf, struct qparts *q, const char **why)
{
    const char *p;
    bool neg = false;
    int64_t e = 0;

    for (size_t i = 0; i < ARRAY_SIZE(quantity_suffixes); i++) {
        if (strcmp(suf, quantity_suffixes[i].name) == 0) {
            q->exp10 = quantity_suffixes[i].exp10;
            q->exp2 = quantity_suffixes[i].exp2;
            return 0;
        }
    }
    if (strlen(suf) < 2 || (suf[0] != 'e' && suf[0] != 'E')) {
        *why = QUANTITY_SUFFIX_MSG;
        return -1;
    }
    /* strconv.ParseInt: an optional sign, then at least one digit, and
     * the result must fit in int64. */
    p = suf + 1;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    if (!*p) {
        *why = QUANTITY_SUFFIX_MSG;
        return -1;
    }
    for (; *p; p++) {
        int d;

        if (!quantity_is_digit(*p)) {
            *why = QUANTITY_SUFFIX_MSG;
            return -1;
        }
        d = *p - '0';
        /* Accumulate negatively so that INT64_MIN is representable. */
        if (e < (INT64_MIN + d) / 10) {
            *why = QUANTITY_SUFFIX_MSG;
            return -1;
        }
        e = e * 10 - d;
    }
    if (!neg) {
        if (e == INT64_MIN) {
            *why = QUANTITY_SUFFIX_MSG;
            return -1;
        }
        e = -e;
    }
    /* apimachinery truncates the exponent to int32, which makes "1e4294967296"
     * equal to 1; we keep the real magnitude (clamped), so it overflows. */
    if (e > QUANTITY_EXP_LIMIT)
        e = QUANTITY_EXP_LIMIT;
    if (e < -QUANTITY_EXP_LIMIT)
        e = -QUANTITY_EXP_LIMIT;
    q->exp10 = e;
    q->exp2 = 0;
    return 0;
}

/* Split s like parseQuantityString, with one difference: the number must
 * have at least one digit or dot, as the documented regular expression
 * says. apimachinery's scanner reads "Mi", "-" or "k" as zero; a memory
 * size of "Mi" is far more likely a typo than a wish for nothing. */
static int
quantity_scan(const char *s, struct qparts *q, const char **why)
{
    size_t n, pos = 0, i, suffix_start;

    memset(q, 0, sizeof(*q));
    if (!s || !*s) {
        *why = QUANTITY_SYNTAX_MSG;
        return -1;
    }
    n = strlen(s);
    if (s[0] == '-' || s[0] == '+') {
        q->negative = s[0] == '-';
        pos++;
    }
    if (pos >= n || !(quantity_is_digit(s[pos]) || s[pos] == '.')) {
        *why = QUANTITY_SYNTAX_MSG;
        return -1;
    }
    while (pos < n && s[pos] == '0')
        pos++;
    for (i = pos; i < n && quantity_is_digit(s[i]); i++)
        ;
    q->num = s + pos;
    q->num_len = i - pos;
    pos = i;
    if (pos < n && s[pos] == '.') {
        pos++;
        for (i = pos; i < n && quantity_is_digit(s[i]); i++)
            ;
        q->denom = s + pos;
        q->denom_len = i - pos;
        pos = i;
    }
    suffix_start = pos;
    while (pos < n && strchr("eEinumkKMGTP", s[pos]))
        pos++;
    if (pos < n && (s[pos] == '-' || s[pos] == '+'))
        pos++;
    while (pos < n && quantity_is_digit(s[pos]))
        pos++;
    if (pos != n) {
        *why = QUANTITY_SYNTAX_MSG;
        return -1;
    }
    /* The suffix runs to the end of s, so it is already a C string. */
    return quantity_suffix(s + suffix_start, q, why);
}

/* Digit i of num followed by denom; zero past the end. */
static unsigned
quantity_digit(const struct qparts *q, int64_t i)
{
    if (i < 0)
        return 0;
    if ((size_t) i < q->num_len)
        return (unsigned) (q->num[i] - '0');
    if ((size_t) i < q->num_len + q->denom_len)
        return (unsigned) (q->denom[i - (int64_t) q->num_len] - '0');
    return 0;
}

/* ceil(s * 10^scale10) as int64, with apimachinery's rounding: a positive
 * value that is not whole rounds up (Quantity.ScaledValue). Parsing's own
 * rounding to nano units never changes that ceiling for values >= 0, so it
 * is not repeated here. The arithmetic is exact: decimal digits are moved,
 * never converted to floating point. */
static int
quantity_scaled(const char *s, int scale10, const char *too_large, int64_t *out, const char **why)
{
    struct qparts q;
    size_t len;
    int64_t first = -1, last = -1, point;
    uint64_t ip = 0, fi = 0;
    bool frac_nonzero;

    if (quantity_scan(s, &q, why) < 0)
        return -1;
    len = q.num_len + q.denom_len;
    for (size_t i = 0; i < len; i++) {
        if (quantity_digit(&q, (int64_t) i)) {
            if (first < 0)
                first = (int64_t) i;
            last = (int64_t) i;
        }
    }
    if (first < 0) {
        /* Zero, whatever its sign or exponent ("-0", "0e9", "."). */
        *out = 0;
        return 0;
    }
    if (q.negative) {
        *why = QUANTITY_NEGATIVE_MSG;
        return -1;
    }
    /* Digits before index point are the integer part. */
    point = (int64_t) q.num_len + q.exp10 + scale10;
    if (point > first) {
        /* 20 significant integer digits are at least 10^19 > INT64_MAX. */
        if (point - first > 19)
            goto too_large;
        for (int64_t i = first; i < point; i++)
            ip = ip * 10 + quantity_digit(&q, i);
    }
    frac_nonzero = last >= point;
    if (frac_nonzero && q.exp2 > 0 && first - point < 19) {
        /* A binary suffix multiplies the fraction too ("1.5Gi"): double
         * its decimal digits exp2 times and collect what carries out. A
         * fraction below 10^-19 stays below 1 even times 2^60, so only
         * its rounding-up matters and it skips this loop. */
        int64_t start = point > first ? point : first;
        size_t lead = point < first ? (size_t) (first - point) : 0;
        size_t nf = lead + (size_t) (last - start + 1);
        cleanup_free unsigned char *f = xmalloc(nf);

        memset(f, 0, lead);
        for (int64_t i = start; i <= last; i++)
            f[lead + (size_t) (i - start)] = (unsigned char) quantity_digit(&q, i);
        for (unsigned b = 0; b < q.exp2; b++) {
            unsigned carry = 0;

            for (size_t j = nf; j-- > 0;) {
                unsigned v = f[j] * 2u + carry;

                f[j] = (unsigned char) (v % 10);
                carry = v / 10;
            }
            fi = fi * 2 + carry;
        }
        frac_nonzero = false;
        for (size_t j = 0; j < nf; j++)
            frac_nonzero = frac_nonzero || f[j];
    }
    if (ip > ((uint64_t) INT64_MAX >> q.exp2))
        goto too_large;
    ip <<= q.exp2;
    if (fi > (uint64_t) INT64_MAX - ip)
        goto too_large;
    ip += fi;
    if (frac_nonzero) {
        if (ip == (uint64_t) INT64_MAX)
            goto too_large;
        ip++;
    }
    *out = (int64_t) ip;
    return 0;

too_large:
    *why = too_large;
    return -1;
}

int
quantity_value(const char *s, int64_t *out, const char **why)
{
    return quantity_scaled(s, 0, QUANTITY_VALUE_MAX_MSG, out, why);
}

int
quantity_milli_value(const char *s, int64_t *out, const char **why)
{
    return quantity_scaled(s, 3, QUANTITY_MILLI_MAX_MSG, out, why);
}
