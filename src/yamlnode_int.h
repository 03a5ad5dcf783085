/* What the yamlnode*.c files share behind yamlnode.h: the visit budget
 * and the scalar reading of yamlnode_scalar.c that the walker, the
 * canonical JSON and the stream all use. Not a public contract: nothing
 * outside src/yamlnode*.c includes it. */
#ifndef VMIRS_YAMLNODE_INT_H
#define VMIRS_YAMLNODE_INT_H

#include <stdbool.h>
#include <yaml.h>

#include "yamlnode.h"

/* A document may expand through aliases; no real manifest comes near this. */
#define YNODE_VISIT_BUDGET 200000

/* What a plain scalar resolves to under YAML 1.1; quoted ones are strings. */
enum yscalar_type { YS_NULL, YS_BOOL, YS_INT, YS_FLOAT, YS_STR };

/* The type scalar n resolves to. */
enum yscalar_type yscalar_type(const yaml_node_t *n);

/* Whether scalar n is one of YAML 1.1's spellings of true. */
bool yscalar_true(const yaml_node_t *n);

/* Record "Invalid type: expected want, got ..." at n, with the hint
 * kubectl users need (remove the quotes, or add them). */
void yscalar_type_error(struct yctx *c, const yaml_node_t *n, const char *want);

/* False (after a diagnostic) when scalar n holds a character XML cannot. */
bool yscalar_check_chars(struct yctx *c, const yaml_node_t *n);

/* Read a string scalar into *out (NULL for a null); false (after a
 * diagnostic) when n is not one. */
bool yscalar_read_str(struct yctx *c, yaml_node_t *n, const char **out);

#endif
