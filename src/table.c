#include "config.h"

#include "table.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define TABLE_PADDING 2

struct table {
    char **lines;
    size_t n;
};

struct table *
table_new(void)
{
    return xcalloc(1, sizeof(struct table));
}

void
table_printf(struct table *t, const char *fmt, ...)
{
    va_list ap;
    char *line;

    va_start(ap, fmt);
    if (vasprintf(&line, fmt, ap) < 0)
        abort();
    va_end(ap);
    t->lines = xrealloc(t->lines, (t->n + 1) * sizeof(*t->lines));
    t->lines[t->n++] = line;
}

/* Width of the cell at column col of line (terminated by a tab), or -1
 * when the line has no such cell. */
static long
cell_width(const char *line, size_t col)
{
    const char *p = line;

    for (size_t i = 0; i < col; i++) {
        p = strchr(p, '\t');
        if (!p)
            return -1;
        p++;
    }
    {
        const char *end = strchr(p, '\t');

        return end ? (long) (end - p) : -1;
    }
}

/* Write lines [from, to), which all contain tabs, as one block. */
static void
flush_block(char **lines, size_t from, size_t to, FILE *out)
{
    size_t ncols = 0;
    long *width;

    for (size_t i = from; i < to; i++) {
        size_t tabs = 0;

        for (const char *p = lines[i]; *p; p++)
            tabs += *p == '\t';
        if (tabs > ncols)
            ncols = tabs;
    }
    width = xcalloc(ncols ? ncols : 1, sizeof(*width));
    for (size_t col = 0; col < ncols; col++)
        for (size_t i = from; i < to; i++) {
            long w = cell_width(lines[i], col);

            if (w > width[col])
                width[col] = w;
        }
    for (size_t i = from; i < to; i++) {
        const char *p = lines[i];

        for (size_t col = 0;; col++) {
            const char *end = strchr(p, '\t');

            if (!end) {
                fprintf(out, "%s\n", p);
                break;
            }
            fprintf(out, "%.*s%*s", (int) (end - p), p,
                    (int) (width[col] - (end - p) + TABLE_PADDING), "");
            p = end + 1;
        }
    }
    free(width);
}

void
table_flush(struct table *t, FILE *out)
{
    size_t start = 0;

    for (size_t i = 0; i <= t->n; i++) {
        bool tabbed = i < t->n && strchr(t->lines[i], '\t');

        if (tabbed)
            continue;
        if (start < i)
            flush_block(t->lines, start, i, out);
        if (i < t->n)
            fprintf(out, "%s\n", t->lines[i]);
        start = i + 1;
    }
    for (size_t i = 0; i < t->n; i++)
        free(t->lines[i]);
    free(t->lines);
    free(t);
}

char *
table_age(int64_t now_ms, int64_t then_ms)
{
    int64_t d = (now_ms - then_ms) / 1000;
    int64_t m = d / 60, h = d / 3600, days = h / 24, years = days / 365;

    /* k8s.io/apimachinery/pkg/util/duration.HumanDuration */
    /* Two seconds of clock skew still read as now. */
    if (d < -1)
        return xstrdup("<invalid>");
    if (d < 0)
        return xstrdup("0s");
    if (d < 60 * 2)
        return xasprintf("%llds", (long long) d);
    if (m < 10) {
        if (d % 60 == 0)
            return xasprintf("%lldm", (long long) m);
        return xasprintf("%lldm%llds", (long long) m, (long long) (d % 60));
    }
    if (m < 60 * 3)
        return xasprintf("%lldm", (long long) m);
    if (h < 8) {
        if (m % 60 == 0)
            return xasprintf("%lldh", (long long) h);
        return xasprintf("%lldh%lldm", (long long) h, (long long) (m % 60));
    }
    if (h < 48)
        return xasprintf("%lldh", (long long) h);
    if (h < 24 * 8) {
        if (h % 24 == 0)
            return xasprintf("%lldd", (long long) days);
        return xasprintf("%lldd%lldh", (long long) days, (long long) (h % 24));
    }
    if (h < 24 * 365 * 2)
        return xasprintf("%lldd", (long long) days);
    if (h < 24 * 365 * 8) {
        if (days % 365 == 0)
            return xasprintf("%lldy", (long long) years);
        return xasprintf("%lldy%lldd", (long long) years, (long long) (days % 365));
    }
    return xasprintf("%lldy", (long long) years);
}

#define MAX_LABEL 256

void
table_smart_label(const char *field, char *out, size_t size)
{
    static const char *const acronyms[] = {"API", "URL", "UID", "OSB", "GUID"};
    char parts[32][MAX_LABEL];
    size_t nparts = 0, len = 0;

    for (const char *p = field; *p; p++) {
        if (!isalpha((unsigned char) *p) && *p != '-') {
            snprintf(out, size, "%s", field);
            return;
        }
    }
    /* fatih/camelcase.Split: runs of lower case, upper case and other
     * characters; an upper-case run's last letter starts the next word. */
    for (const char *p = field; *p && nparts < 32;) {
        int cls = islower((unsigned char) *p) ? 1 : isupper((unsigned char) *p) ? 2 : 3;
        size_t n = 0;

        while (*p && n < MAX_LABEL - 1 &&
               (islower((unsigned char) *p)   ? 1
                : isupper((unsigned char) *p) ? 2
                                              : 3) == cls)
            parts[nparts][n++] = *p++;
        parts[nparts][n] = '\0';
        nparts++;
    }
    for (size_t i = 0; i + 1 < nparts; i++) {
        size_t n = strlen(parts[i]);

        if (isupper((unsigned char) parts[i][0]) && islower((unsigned char) parts[i + 1][0]) &&
            n > 0 && strlen(parts[i + 1]) < MAX_LABEL - 1) {
            memmove(parts[i + 1] + 1, parts[i + 1], strlen(parts[i + 1]) + 1);
            parts[i + 1][0] = parts[i][n - 1];
            parts[i][n - 1] = '\0';
        }
    }
    out[0] = '\0';
    for (size_t i = 0; i < nparts; i++) {
        char word[MAX_LABEL];
        bool acronym = false;

        if (!parts[i][0] || strcmp(parts[i], "_") == 0)
            continue;
        for (size_t k = 0; k < strlen(parts[i]) + 1; k++)
            word[k] = (char) toupper((unsigned char) parts[i][k]);
        for (size_t k = 0; k < ARRAY_SIZE(acronyms); k++)
            acronym = acronym || strcmp(word, acronyms[k]) == 0;
        if (!acronym) {
            /* parts[i] is shorter than MAX_LABEL by construction. */
            size_t wl = strnlen(parts[i], MAX_LABEL - 1);

            memcpy(word, parts[i], wl);
            word[wl] = '\0';
            word[0] = (char) toupper((unsigned char) word[0]);
        }
        len +=
            (size_t) snprintf(out + len, len < size ? size - len : 0, "%s%s", len ? " " : "", word);
    }
}
