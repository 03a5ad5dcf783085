/* `vmirsd --validate` and `vmirsctl validate`: the manifest pipeline run
 * over files and directories, touching nothing (vmd's -n). */
#ifndef VMIRS_VALIDATE_H
#define VMIRS_VALIDATE_H

#include <stdio.h>

#include "diag.h"
#include "manifest.h"
#include "model.h"

/* Expand paths into manifest files: a directory contributes the files the
 * spool would read (manifest_filename_ok), a file is taken as named. The
 * result is ordered by file name, as the spool orders it. Unreadable paths
 * become diagnostics. */
void validate_collect(char *const *paths, size_t npaths, struct str_array *files,
                      struct diag_list *diags);

/* Rules across files: one object defined twice (the first by file name
 * wins, the other is an error and is marked invalid), and configMap or
 * secret volumes naming objects that are not among the files (warning). */
void validate_cross_check(struct manifest_file *files, size_t n, struct diag_list *diags);

/* One diagnostic as one line (diag_format), its file name and message
 * escaped (log_escape_name, log_escape_text): a file name or a value with
 * a newline cannot make a second line. Malloc'd. */
char *validate_format_diag(const struct diag *d);

/* Validate paths, print one line per problem to out and a summary to err.
 * Returns the exit status: 0 without errors, 1 with any. */
int validate_main(char *const *paths, size_t npaths, FILE *out, FILE *err);

#endif
