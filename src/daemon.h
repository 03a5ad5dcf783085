/* vmirsd's daemon mode: one libuv loop carrying the spool watcher,
 * libvirt's events, the controller and the signals. */
#ifndef VMIRS_DAEMON_H
#define VMIRS_DAEMON_H

#include "conf.h"

/* Run until SIGTERM or SIGINT (replicas are left running); the exit
 * status. conf_path is re-read on SIGHUP. */
int daemon_run(struct vmirs_conf *conf, const char *conf_path, bool conf_given);

#endif
