/* Parse manifest text and render its diagnostics, for the parser tests. */
#ifndef VMIRS_TEST_MANIFEST_HELPERS_H
#define VMIRS_TEST_MANIFEST_HELPERS_H

#include "manifest.h"

/* Parse text as file "m.yaml"; returns every diagnostic, one per line
 * (malloc'd, "" when there is none). */
static inline char *
parse_text(struct manifest_file *mf, const char *text)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    memset(mf, 0, sizeof(*mf));
    manifest_parse(mf, "m.yaml", text, strlen(text));
    diag_print(&mf->diags, f);
    fclose(f);
    return out;
}

/* The first VMIRS of mf. */
static inline struct vmirs *
first_vmirs(struct manifest_file *mf)
{
    for (size_t i = 0; i < mf->nobjs; i++)
        if (mf->objs[i].kind == KOBJ_VMIRS)
            return mf->objs[i].u.vmirs;
    fail_msg("no VirtualMachineInstanceReplicaSet parsed");
    return NULL;
}

#endif
