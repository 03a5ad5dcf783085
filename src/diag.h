/* Diagnostics about user input: FILE:LINE:COL: error|warning: MESSAGE.
 * Collected, never fatal on the spot, so one run reports every problem. */
#ifndef VMIRS_DIAG_H
#define VMIRS_DIAG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

enum diag_severity { DIAG_WARNING, DIAG_ERROR };

struct diag {
    char *file;
    unsigned line, col; /* 1-based; 0 when not known */
    enum diag_severity severity;
    char *msg;
};

struct diag_list {
    struct diag *v;
    size_t n, cap;
    size_t errors, warnings;
};

/* Append one diagnostic. */
void diag_add(struct diag_list *l, const char *file, unsigned line, unsigned col,
              enum diag_severity sev, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void diag_addv(struct diag_list *l, const char *file, unsigned line, unsigned col,
               enum diag_severity sev, const char *fmt, va_list ap);

/* Append copies of every entry of src. */
void diag_extend(struct diag_list *l, const struct diag_list *src);

/* Order by file, line and column, keeping insertion order among equals. */
void diag_sort(struct diag_list *l);

/* Format one entry as "FILE:LINE:COL: error: MSG" (malloc'd). */
char *diag_format(const struct diag *d);

/* Print every entry, one per line. */
void diag_print(const struct diag_list *l, FILE *out);

/* Free the entries; the list is empty and reusable afterwards. */
void diag_list_clear(struct diag_list *l);

#endif
