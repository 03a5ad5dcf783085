/* libFuzzer target: manifest files as `vmirsd --validate` reads them.
 * The input is one or more files separated by lines "#%file" (a YAML
 * comment, so every fixture is a seed as it is); each is parsed with
 * manifest_parse, then the cross-file checks run over all of them and the
 * diagnostics are sorted and formatted, as validate_main does. Everything
 * is freed: a leak is a finding. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "log.h"
#include "manifest.h"
#include "util.h"
#include "validate.h"

#define FUZZ_SEP "\n#%file\n"
#define FUZZ_MAX_FILES 4

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    log_set_level(LOG_LEVEL_ERROR);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const paths[FUZZ_MAX_FILES] = {"/spool/a.yaml", "/spool/b.yaml",
                                                      "/spool/c.json", "/spool/d.yml"};
    struct manifest_file files[FUZZ_MAX_FILES];
    struct diag_list diags = {0};
    const char *p = (const char *) data, *end = p + size;
    size_t n = 0;
    FILE *out;

    memset(files, 0, sizeof(files));
    while (n < FUZZ_MAX_FILES) {
        const char *sep = n + 1 < FUZZ_MAX_FILES
                              ? memmem(p, (size_t) (end - p), FUZZ_SEP, strlen(FUZZ_SEP))
                              : NULL;
        size_t len = sep ? (size_t) (sep - p) : (size_t) (end - p);
        /* A copy of exactly len bytes, so that ASan sees any read past it. */
        char *bytes = malloc(len ? len : 1);

        memcpy(bytes, p, len);
        manifest_parse(&files[n], paths[n], bytes, len);
        free(bytes);
        n++;
        if (!sep)
            break;
        p = sep + strlen(FUZZ_SEP);
    }

#ifdef FUZZ_SKIP_EMPTY_FILES
    /* Leave files without objects out of the cross-file checks, which add
     * an offset to their NULL object array (issue 10, item 10: pending/),
     * so that a long local run finds something else. Never in CI. */
    {
        size_t k = 0;

        for (size_t i = 0; i < n; i++) {
            struct manifest_file t = files[i];

            if (t.nobjs) {
                files[i] = files[k];
                files[k++] = t;
            }
        }
        validate_cross_check(files, k, &diags);
    }
#else
    validate_cross_check(files, n, &diags);
#endif
    for (size_t i = 0; i < n; i++)
        diag_extend(&diags, &files[i].diags);
    diag_sort(&diags);
    out = fopen("/dev/null", "w");
    if (out) {
        diag_print(&diags, out);
        fclose(out);
    }

    diag_list_clear(&diags);
    for (size_t i = 0; i < n; i++)
        manifest_file_free(&files[i]);
    return 0;
}
