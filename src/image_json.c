/* JSON an image brings (index.json, manifests, manifest.json, configs):
 * a trust boundary, so every field is checked before use. Runs on a
 * worker thread (image_resolve). */
#include "config.h"

#include "image_int.h"

#include "err.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

json_t *
image_json_parse(const char *data, size_t len, const char *what, struct vmirs_err **err)
{
    json_error_t jerr;
    json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);

    if (!j)
        err_set(err, 0, "%s: invalid JSON: %s (line %d)", what, jerr.text, jerr.line);
    return j;
}

/* Read a small JSON file that must be a regular file of at most max bytes. */
json_t *
image_json_file(const char *path, const char *what, size_t max, struct vmirs_err **err)
{
    cleanup_free char *data = NULL;
    size_t len;
    struct stat st;

    if (stat(path, &st) < 0) {
        err_set(err, errno, "read %s", what);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        err_set(err, 0, "%s is not a regular file", what);
        return NULL;
    }
    if ((uint64_t) st.st_size > max) {
        err_set(err, 0, "%s is larger than %zu bytes", what, max);
        return NULL;
    }
    if (read_file(path, &data, &len) < 0) {
        err_set(err, errno, "read %s", what);
        return NULL;
    }
    return image_json_parse(data, len, what, err);
}

/* The string member key of obj: NULL without error when it is absent and
 * optional. */
int
image_json_str(json_t *obj, const char *key, bool required, const char *what, const char **out,
               struct vmirs_err **err)
{
    json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (!v) {
        if (!required)
            return 0;
        return err_set(err, 0, "%s: missing \"%s\"", what, key);
    }
    if (!json_is_string(v))
        return err_set(err, 0, "%s: \"%s\" is not a string", what, key);
    *out = json_string_value(v);
    return 0;
}

int
image_json_schema_version(json_t *obj, const char *what, struct vmirs_err **err)
{
    json_t *v = json_object_get(obj, "schemaVersion");

    if (!json_is_integer(v) || json_integer_value(v) != 2)
        return err_set(err, 0, "%s: \"schemaVersion\" is not 2", what);
    return 0;
}
void
image_desc_clear(struct image_desc *d)
{
    free(d->media_type);
    free(d->digest);
    memset(d, 0, sizeof(*d));
}

int
image_desc_parse(json_t *j, const char *what, struct image_desc *d, struct vmirs_err **err)
{
    const char *mt, *digest;
    json_t *size = json_object_get(j, "size");

    memset(d, 0, sizeof(*d));
    if (!json_is_object(j))
        return err_set(err, 0, "%s is not an object", what);
    if (image_json_str(j, "mediaType", true, what, &mt, err) < 0 ||
        image_json_str(j, "digest", true, what, &digest, err) < 0)
        return -1;
    if (!image_digest_valid(digest))
        return err_set(err, 0, "%s: digest \"%s\" is not a sha256 digest", what, digest);
    if (!json_is_integer(size) || json_integer_value(size) < 0)
        return err_set(err, 0, "%s: \"size\" is not a non-negative integer", what);
    d->media_type = xstrdup(mt);
    d->digest = xstrdup(digest);
    d->size = json_integer_value(size);
    return 0;
}
