/* kubectl's text output: columns aligned the way Go's tabwriter aligns
 * them (a cell ends at a tab; consecutive lines with cells form a block
 * whose columns are as wide as their widest cell plus 2), and its AGE. */
#ifndef VMIRS_TABLE_H
#define VMIRS_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct table;

struct table *table_new(void);

/* Add one line; cells are separated by '\t'; the last cell is not
 * padded. A line without a tab ends the block above it. */
void table_printf(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Write the lines out aligned, and free the table. */
void table_flush(struct table *t, FILE *out);

/* kubectl's HumanDuration of now - then: "45s", "5m30s", "3h", "2d"... */
char *table_age(int64_t now_ms, int64_t then_ms);

/* kubectl describe's smartLabelFor: "matchLabels" -> "Match Labels",
 * "apiVersion" -> "API Version"; a name with anything but letters and '-'
 * is kept as it is. Written to out (size bytes). */
void table_smart_label(const char *field, char *out, size_t size);

#endif
