/* Image references: docker's grammar, normalised as its
 * ParseNormalizedNamed + TagNameOnly do ("cirros" ->
 * "docker.io/library/cirros:latest"). Pure string work; runs on a
 * worker thread (image_resolve). */
#include "config.h"

#include "image_int.h"

#include "err.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define IMAGE_REF_NAME_MAX 255

void
image_ref_clear(struct image_ref *r)
{
    free(r->name);
    free(r->tag);
    free(r->digest);
    memset(r, 0, sizeof(*r));
}

char *
image_ref_string(const struct image_ref *r)
{
    return xasprintf("%s%s%s%s%s", r->name, r->tag ? ":" : "", r->tag ? r->tag : "",
                     r->digest ? "@" : "", r->digest ? r->digest : "");
}

static bool
image_ref_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool
image_ref_alnum(char c)
{
    return image_ref_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* path-component := [a-z0-9]+ (separator [a-z0-9]+)*; separator := [_.] | "__" | "-"+ */
static bool
image_ref_path_component_ok(const char *s, size_t n)
{
    size_t i = 0;

    if (n == 0 || !image_ref_lower_alnum(s[0]))
        return false;
    while (i < n) {
        size_t j = i;

        if (image_ref_lower_alnum(s[i])) {
            i++;
            continue;
        }
        if (s[i] == '.') {
            j++;
        } else if (s[i] == '_') {
            j++;
            if (j < n && s[j] == '_')
                j++;
        } else if (s[i] == '-') {
            while (j < n && s[j] == '-')
                j++;
        } else {
            return false;
        }
        if (j >= n || !image_ref_lower_alnum(s[j]))
            return false;
        i = j;
    }
    return true;
}

/* domain := component ("." component)* [":" port]; component := alnum ([alnum-]* alnum)? */
static bool
image_ref_domain_ok(const char *s, size_t n)
{
    const char *colon = memchr(s, ':', n);
    size_t host = colon ? (size_t) (colon - s) : n;
    size_t i = 0;

    if (colon) {
        size_t p = host + 1;

        if (p == n)
            return false;
        for (; p < n; p++)
            if (s[p] < '0' || s[p] > '9')
                return false;
    }
    while (i < host) {
        size_t j = i;

        while (j < host && s[j] != '.')
            j++;
        if (j == i || !image_ref_alnum(s[i]) || !image_ref_alnum(s[j - 1]))
            return false;
        for (size_t k = i; k < j; k++)
            if (!image_ref_alnum(s[k]) && s[k] != '-')
                return false;
        if (j < host && j + 1 == host)
            return false;
        i = j + 1;
    }
    return host > 0;
}

/* tag := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127} */
bool
image_ref_tag_ok(const char *s, size_t n)
{
    if (n == 0 || n > 128 || !(image_ref_alnum(s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!image_ref_alnum(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
            return false;
    return true;
}

/* Split and normalise s; the messages are docker's own. */
int
image_ref_parse(const char *s, struct image_ref *r, struct vmirs_err **err)
{
    size_t len = strlen(s), nlen, dlen;
    const char *at = strchr(s, '@'), *name_end, *slash, *colon, *rest, *p;
    cleanup_free char *domain = NULL;
    cleanup_free char *path = NULL;
    bool defaulted;

    memset(r, 0, sizeof(*r));
    if (len == 0)
        return err_set(err, 0, "repository name must have at least one component");
    if (len == 64 && image_is_lower_hex(s, 64))
        return err_set(err, 0, "cannot specify 64-byte hexadecimal strings");
    name_end = at ? at : s + len;
    if (at) {
        const char *d = at + 1;

        if (strncmp(d, "sha256:", 7) != 0 && strchr(d, ':') && !strchr(d, '@'))
            return err_set(err, 0, "unsupported digest algorithm");
        if (!image_digest_valid(d))
            return err_set(err, 0, "invalid digest format");
        r->digest = xstrdup(d);
    }
    nlen = (size_t) (name_end - s);
    slash = memrchr(s, '/', nlen);
    colon = memrchr(s, ':', nlen);
    if (colon && (!slash || colon > slash)) {
        if (!image_ref_tag_ok(colon + 1, (size_t) (name_end - colon - 1)))
            goto bad_tag;
        r->tag = xstrndup(colon + 1, (size_t) (name_end - colon - 1));
        nlen = (size_t) (colon - s);
    }
    if (nlen == 0)
        goto bad;

    /* A first component that looks like a host (a dot, a port, "localhost"
     * or an upper-case letter) is the registry; otherwise it is Docker Hub. */
    slash = memchr(s, '/', nlen);
    dlen = slash ? (size_t) (slash - s) : 0;
    defaulted = !slash;
    if (slash && !memchr(s, '.', dlen) && !memchr(s, ':', dlen) &&
        !(dlen == 9 && memcmp(s, "localhost", 9) == 0)) {
        defaulted = true;
        for (size_t i = 0; i < dlen; i++)
            if (s[i] >= 'A' && s[i] <= 'Z')
                defaulted = false;
    }
    if (defaulted) {
        domain = xstrdup("docker.io");
        rest = s;
    } else {
        if (!image_ref_domain_ok(s, dlen))
            goto bad;
        domain = xstrndup(s, dlen);
        rest = slash + 1;
        if (strcmp(domain, "index.docker.io") == 0) {
            free(domain);
            domain = xstrdup("docker.io");
        }
    }
    path = xstrndup(rest, (size_t) (s + nlen - rest));
    for (p = path; *p; p++)
        if (*p >= 'A' && *p <= 'Z') {
            image_ref_clear(r);
            return err_set(err, 0, "repository name must be lowercase");
        }
    if (strcmp(domain, "docker.io") == 0 && !strchr(path, '/')) {
        char *lib = xasprintf("library/%s", path);

        free(path);
        path = lib;
    }
    for (p = path;;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t) (e - p) : strlen(p);

        if (!image_ref_path_component_ok(p, n))
            goto bad;
        if (!e)
            break;
        p = e + 1;
    }
    r->name = xasprintf("%s/%s", domain, path);
    if (strlen(r->name) > IMAGE_REF_NAME_MAX) {
        image_ref_clear(r);
        return err_set(err, 0, "repository name must not be more than %d characters",
                       IMAGE_REF_NAME_MAX);
    }
    if (!r->tag && !r->digest)
        r->tag = xstrdup("latest");
    return 0;

bad_tag:
    image_ref_clear(r);
    return err_set(err, 0, "invalid tag format");
bad:
    image_ref_clear(r);
    return err_set(err, 0, "invalid reference format");
}

int
image_ref_normalize(const char *ref, char **out, struct vmirs_err **err)
{
    struct image_ref r;

    if (image_ref_parse(ref, &r, err) < 0)
        return err_wrap(err, "parse image reference \"%s\"", ref);
    *out = image_ref_string(&r);
    image_ref_clear(&r);
    return 0;
}
