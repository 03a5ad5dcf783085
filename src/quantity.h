/* Kubernetes resource quantities ("64M", "64Mi", "1.5Gi", "500m", "2",
 * "1e3") as apimachinery's resource.Quantity reads them. Pure code. */
#ifndef VMIRS_QUANTITY_H
#define VMIRS_QUANTITY_H

#include <stdint.h>

/* The message Kubernetes gives for a string that is not a quantity. */
#define QUANTITY_SYNTAX_MSG                                                                        \
    "quantities must match the regular expression "                                                \
    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"

/* Parse s and return its value in whole units rounded up, as
 * Quantity.Value() does ("1.5Gi" -> 1610612736, "500m" -> 1).
 * -1 with *why (static string) when s is not a quantity, is negative,
 * or does not fit in 63 bits. */
int quantity_value(const char *s, int64_t *out, const char **why);

/* Same, in thousandths rounded up, as Quantity.MilliValue() does
 * ("500m" -> 500, "2" -> 2000, "0.1" -> 100). */
int quantity_milli_value(const char *s, int64_t *out, const char **why);

#endif
