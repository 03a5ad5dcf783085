/* /etc/vmirsd.conf: "key = value" lines, '#' comments, every key in a
 * table with its default; unknown keys and bad values are diagnostics. */
#ifndef VMIRS_CONF_H
#define VMIRS_CONF_H

#include <stdbool.h>

#include "diag.h"
#include "log.h"

#define CONF_DEFAULT_PATH "/etc/vmirsd.conf"

enum domain_type { DOMAIN_TYPE_AUTO, DOMAIN_TYPE_KVM, DOMAIN_TYPE_QEMU, DOMAIN_TYPE_TEST };

struct vmirs_conf {
    char *spool_dir;
    char *state_dir;
    char *image_dir; /* default: <state_dir>/images */
    char *claim_dir; /* default: <state_dir>/claims */
    char *libvirt_uri;
    enum domain_type domain_type;
    char *network; /* "user" or a libvirt network name */
    unsigned host_port_min, host_port_max;
    unsigned node_port_min, node_port_max; /* node_port_range */
    char *node_address;                    /* IPv4 text, default 0.0.0.0 */
    unsigned max_parallel;
    unsigned resync_interval; /* seconds */
    enum log_level log_level;
};

/* Fill c with every default. */
void conf_defaults(struct vmirs_conf *c);

/* Read path into c, which starts from the defaults. When missing_ok and
 * the file does not exist, c keeps the defaults and 0 is returned.
 * Problems go to diags as FILE:LINE:COL; returns -1 if there was any
 * error (c then holds defaults for the bad keys), 0 otherwise. */
int conf_load(struct vmirs_conf *c, const char *path, bool missing_ok, struct diag_list *diags);

/* Write every key with its current value, "key = value", one per line. */
void conf_dump(const struct vmirs_conf *c, FILE *out);

const char *conf_domain_type_name(enum domain_type t);

void conf_free(struct vmirs_conf *c);

#endif
