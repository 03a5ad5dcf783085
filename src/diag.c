#include "config.h"

#include "diag.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

void
diag_addv(struct diag_list *l, const char *file, unsigned line, unsigned col,
          enum diag_severity sev, const char *fmt, va_list ap)
{
    struct diag *d;

    l->v = xgrow(l->v, &l->cap, l->n, sizeof(*l->v));
    d = &l->v[l->n++];
    d->file = xstrdup(file ? file : "-");
    d->line = line;
    d->col = col;
    d->severity = sev;
    if (vasprintf(&d->msg, fmt, ap) < 0)
        d->msg = xstrdup("(message lost: out of memory)");
    if (sev == DIAG_ERROR)
        l->errors++;
    else
        l->warnings++;
}

void
diag_add(struct diag_list *l, const char *file, unsigned line, unsigned col, enum diag_severity sev,
         const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    diag_addv(l, file, line, col, sev, fmt, ap);
    va_end(ap);
}

void
diag_extend(struct diag_list *l, const struct diag_list *src)
{
    for (size_t i = 0; i < src->n; i++) {
        const struct diag *d = &src->v[i];

        diag_add(l, d->file, d->line, d->col, d->severity, "%s", d->msg);
    }
}

static int
diag_cmp(const void *a, const void *b)
{
    const struct diag *x = a, *y = b;
    int c = strcmp(x->file, y->file);

    if (c)
        return c;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return 0;
}

void
diag_sort(struct diag_list *l)
{
    /* Insertion sort: stable, and lists are short (one file's problems). */
    for (size_t i = 1; i < l->n; i++) {
        struct diag t = l->v[i];
        size_t j = i;

        while (j > 0 && diag_cmp(&l->v[j - 1], &t) > 0) {
            l->v[j] = l->v[j - 1];
            j--;
        }
        l->v[j] = t;
    }
}

char *
diag_format(const struct diag *d)
{
    const char *sev = d->severity == DIAG_ERROR ? "error" : "warning";

    if (d->line)
        return xasprintf("%s:%u:%u: %s: %s", d->file, d->line, d->col, sev, d->msg);
    return xasprintf("%s: %s: %s", d->file, sev, d->msg);
}

void
diag_print(const struct diag_list *l, FILE *out)
{
    for (size_t i = 0; i < l->n; i++) {
        cleanup_free char *s = diag_format(&l->v[i]);

        fprintf(out, "%s\n", s);
    }
}

void
diag_list_clear(struct diag_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].file);
        free(l->v[i].msg);
    }
    free(l->v);
    memset(l, 0, sizeof(*l));
}
