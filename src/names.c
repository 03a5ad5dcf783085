#include "config.h"

#include "names.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "util.h"

/* Kubernetes' generateName alphabet: no vowels (no words), no 0/1/3 (no
 * confusion with o/l/e). */
static const char suffix_alphabet[] = "bcdfghjklmnpqrstvwxz2456789";

/* 63 (a DNS label) minus the 5-character suffix. */
#define NAMES_BASE_MAX 58

void
names_rng_system(void *buf, size_t n, void *opaque)
{
    unsigned char *p = buf;

    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            perror("getrandom");
            abort();
        }
        p += r;
        n -= (size_t) r;
    }
}

char *
names_vmi_base(const struct vmirs *v)
{
    const struct objmeta *tm = v->spec.template ? &v->spec.template->metadata : NULL;
    const char *base = tm && tm->name            ? tm->name
                       : tm && tm->generate_name ? tm->generate_name
                                                 : v->metadata.name;

    return xstrndup(base ? base : "", NAMES_BASE_MAX);
}

char *
names_vmi_name(const char *base, names_rng_fn rng, void *opaque)
{
    unsigned char r[5];
    char suffix[6];

    rng(r, sizeof(r), opaque);
    /* 27 symbols: the modulo bias of a byte is irrelevant for names. */
    for (size_t i = 0; i < sizeof(r); i++)
        suffix[i] = suffix_alphabet[r[i] % (sizeof(suffix_alphabet) - 1)];
    suffix[5] = '\0';
    return xasprintf("%.*s%s", NAMES_BASE_MAX, base, suffix);
}

char *
names_domain_name(const char *namespace, const char *vmi_name)
{
    return xasprintf("%s_%s", namespace, vmi_name);
}

void
names_uuid(char out[37], names_rng_fn rng, void *opaque)
{
    unsigned char b[16];

    rng(b, sizeof(b), opaque);
    b[6] = (unsigned char) ((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char) ((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}
