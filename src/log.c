#include "config.h"

#include "log.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>
#include <systemd/sd-journal.h>

static enum log_level max_level = LOG_LEVEL_INFO;
static int use_journal = -1; /* -1: not decided yet */

static const char *const level_names[] = {"error", "warning", "info", "debug"};

void
log_set_level(enum log_level level)
{
    max_level = level;
}

bool
log_enabled(enum log_level level)
{
    return level <= max_level;
}

int
log_level_parse(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level) i;
            return 0;
        }
    }
    return -1;
}

const char *
log_level_name(enum log_level level)
{
    return level_names[level];
}

/* JOURNAL_STREAM holds "DEV:INODE" of the stream systemd connected to our
 * stderr; only when stderr still is that stream do we talk to the journal. */
static int
journal_detect(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
        return 0;
    if (fstat(STDERR_FILENO, &st) < 0)
        return 0;
    return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

void
log_init(void)
{
    use_journal = journal_detect();
}

void
log_write(enum log_level level, const char *component, const char *fmt, ...)
{
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    cleanup_free char *msg = NULL;
    va_list ap;

    if (level > max_level)
        return;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    if (!msg)
        return;
    if (use_journal < 0)
        log_init();
    if (use_journal) {
        sd_journal_send("MESSAGE=%s: %s", component, msg, "PRIORITY=%d", prio[level],
                        "VMIRSD_COMPONENT=%s", component, "SYSLOG_IDENTIFIER=vmirsd", NULL);
        return;
    }
    fprintf(stderr, "%s %s: %s\n",
            level == LOG_LEVEL_ERROR     ? "ERROR"
            : level == LOG_LEVEL_WARNING ? "WARNING"
            : level == LOG_LEVEL_INFO    ? "INFO"
                                         : "DEBUG",
            component, msg);
}
