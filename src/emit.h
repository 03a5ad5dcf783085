/* vmirsctl's -o json and -o yaml: Kubernetes-shaped objects (jansson
 * values) written as kubectl writes them, keys sorted. */
#ifndef VMIRS_EMIT_H
#define VMIRS_EMIT_H

#include <jansson.h>
#include <stdio.h>

/* Indented JSON, as kubectl -o json. */
int emit_json(const json_t *v, FILE *out);

/* YAML through libyaml's emitter, block style, as kubectl -o yaml. */
int emit_yaml(const json_t *v, FILE *out);

#endif
