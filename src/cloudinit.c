/* Runs on a worker thread (from materialize_replica) and in --render. */
#include "config.h"

#include "cloudinit.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "seediso.h"
#include "util.h"

static int
take_inline(const char *plain, const char *b64, const char *what, char **out, size_t *len,
            struct vmirs_err **err)
{
    if (plain) {
        *out = xstrdup(plain);
        *len = strlen(plain);
    } else if (b64 && base64_decode(b64, out, len) < 0) {
        return err_set(err, 0, "decode %s: not valid base64", what);
    }
    return 0;
}

/* A Secret's value under key or key2 (KubeVirt accepts both spellings;
 * the first found wins, in that order). */
static int
take_secret(const struct local_ref *ref, const char *ns, const char *key, const char *key2,
            cloudinit_secret_fn lookup, void *opaque, char **out, size_t *len,
            struct vmirs_err **err)
{
    const struct secret *se = lookup ? lookup(opaque, ns, ref->name) : NULL;
    const char *keys[] = {key, key2};

    if (!se)
        return err_set(err, 0, "Secret \"%s/%s\" not found", ns, ref->name);
    for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
        for (size_t i = 0; i < se->items.n; i++) {
            if (!streq0(se->items.v[i].key, keys[k]))
                continue;
            *out = xmalloc(se->items.v[i].len + 1);
            memcpy(*out, se->items.v[i].value, se->items.v[i].len);
            (*out)[se->items.v[i].len] = '\0';
            *len = se->items.v[i].len;
            return 0;
        }
    }
    return err_set(err, 0, "Secret \"%s/%s\" has no key \"%s\" or \"%s\"", ns, ref->name, key,
                   key2);
}

int
cloudinit_resolve(const struct cloud_init_src *ci, const char *ns, cloudinit_secret_fn lookup,
                  void *opaque, struct cloudinit_data *out, struct vmirs_err **err)
{
    memset(out, 0, sizeof(*out));
    if (take_inline(ci->user_data, ci->user_data_base64, "userDataBase64", &out->user_data,
                    &out->user_data_len, err) < 0 ||
        take_inline(ci->network_data, ci->network_data_base64, "networkDataBase64",
                    &out->network_data, &out->network_data_len, err) < 0)
        goto fail;
    if (ci->secret_ref && !out->user_data &&
        take_secret(ci->secret_ref, ns, "userdata", "userData", lookup, opaque, &out->user_data,
                    &out->user_data_len, err) < 0) {
        err_wrap(err, "secretRef");
        goto fail;
    }
    if (ci->network_data_secret_ref && !out->network_data &&
        take_secret(ci->network_data_secret_ref, ns, "networkdata", "networkData", lookup, opaque,
                    &out->network_data, &out->network_data_len, err) < 0) {
        err_wrap(err, "networkDataSecretRef");
        goto fail;
    }
    return 0;
fail:
    cloudinit_data_free(out);
    return -1;
}

void
cloudinit_data_free(struct cloudinit_data *d)
{
    free(d->user_data);
    free(d->network_data);
    memset(d, 0, sizeof(*d));
}

int
cloudinit_write_seed(const char *path, bool config_drive, const char *instance_id,
                     const char *hostname, const struct cloudinit_data *d, struct vmirs_err **err)
{
    if (config_drive)
        return seediso_config_drive(path, instance_id, hostname, d->user_data, d->user_data_len,
                                    d->network_data, d->network_data_len, err);
    return seediso_nocloud(path, instance_id, hostname, d->user_data ? d->user_data : "",
                           d->user_data_len, d->network_data, d->network_data_len, err);
}
