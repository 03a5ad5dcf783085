/* libFuzzer target: /etc/vmirsd.conf as conf_load reads it. A file that
 * loads without error must come back unchanged through conf_dump: the
 * dump is what `vmirsd --help`'s users copy, and conf_dump_value promises
 * that conf_load reads it back as written. The input reaches conf_load
 * through a memfd, named by its /proc/self/fd path. */
#define _GNU_SOURCE
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf.h"
#include "diag.h"
#include "util.h"

static int fuzz_fd = -1;
static char fuzz_path[64];

static void
fuzz_set(const void *data, size_t len)
{
    if (ftruncate(fuzz_fd, 0) < 0 || pwrite(fuzz_fd, data, len, 0) != (ssize_t) len)
        abort();
}

/* conf_dump of c, malloc'd. */
static char *
fuzz_dump(const struct vmirs_conf *c, size_t *len)
{
    char *s = NULL;
    FILE *f = open_memstream(&s, len);

    if (!f)
        abort();
    conf_dump(c, f);
    if (fclose(f) != 0)
        abort();
    return s;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fuzz_fd = memfd_create("vmirsd.conf", MFD_CLOEXEC);
    if (fuzz_fd < 0)
        abort();
    snprintf(fuzz_path, sizeof(fuzz_path), "/proc/self/fd/%d", fuzz_fd);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vmirs_conf c, again;
    struct diag_list diags = {0};
    int rc;

    fuzz_set(data, size);
    rc = conf_load(&c, fuzz_path, false, &diags);
    for (size_t i = 0; i < diags.n; i++)
        free(diag_format(&diags.v[i]));
    if (rc == 0) {
        size_t len1, len2;
        cleanup_free char *dump1 = fuzz_dump(&c, &len1);
        cleanup_free char *dump2 = NULL;
        struct diag_list diags2 = {0};

        fuzz_set(dump1, len1);
        if (conf_load(&again, fuzz_path, false, &diags2) < 0) {
            fprintf(stderr, "conf_dump wrote what conf_load refuses:\n%s", dump1);
            diag_print(&diags2, stderr);
            abort();
        }
        dump2 = fuzz_dump(&again, &len2);
        if (len1 != len2 || memcmp(dump1, dump2, len1) != 0) {
            fprintf(stderr, "conf_dump does not read back unchanged:\n%s---\n%s", dump1, dump2);
            abort();
        }
        conf_free(&again);
        diag_list_clear(&diags2);
    }
    conf_free(&c);
    diag_list_clear(&diags);
    return 0;
}
