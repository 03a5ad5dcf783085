#include "config.h"

#include "model.h"

#include <stdlib.h>

#include "kobj_parse.h"
#include "vmirs_parse.h"

/* The schema tables know every parsed field; only what validation derives
 * (the converted selector, decoded secret items) is freed by hand. */

void
model_vmirs_free(struct vmirs *v)
{
    if (!v)
        return;
    yschema_free(&vmirs_schema, v);
    selector_free(&v->selector);
    free(v->template_hash);
    v->template_hash = NULL;
    free(v->spec_json);
    v->spec_json = NULL;
}

void
model_config_map_free(struct config_map *c)
{
    if (c)
        yschema_free(&config_map_schema, c);
}

void
model_secret_free(struct secret *s)
{
    if (!s)
        return;
    yschema_free(&secret_schema, s);
    for (size_t i = 0; i < s->items.n; i++) {
        free(s->items.v[i].key);
        free(s->items.v[i].value);
    }
    free(s->items.v);
    s->items.v = NULL;
    s->items.n = 0;
}

void
model_service_free(struct service *s)
{
    if (s)
        yschema_free(&service_schema, s);
}
