/* Standard base64 (RFC 4648, with padding) as Kubernetes writes Secret
 * data. None of vmirsd's libraries exports a decoder, hence this one. */
#ifndef VMIRS_BASE64_H
#define VMIRS_BASE64_H

#include <stddef.h>

/* Decode s into a malloc'd, NUL-terminated buffer (*len excludes the NUL).
 * Whitespace is not accepted, as Go's StdEncoding does not accept it.
 * -1 on malformed input. */
int base64_decode(const char *s, char **out, size_t *len);

#endif
