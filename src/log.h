/* Logging: one record per line, "LEVEL component: message", to stderr, or
 * to the journal with structured fields when JOURNAL_STREAM says stderr is
 * the journal. Each file sets LOG_COMPONENT before including this header. */
#ifndef VMIRS_LOG_H
#define VMIRS_LOG_H

#include <stdbool.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARNING, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

#ifndef LOG_COMPONENT
#define LOG_COMPONENT "vmirsd"
#endif

/* Decide where records go: the journal when JOURNAL_STREAM names our
 * stderr, else stderr. Done on the first record if not called before. */
void log_init(void);

/* Set the most verbose level printed. */
void log_set_level(enum log_level level);
/* Whether records of level are printed (to skip building costly ones). */
bool log_enabled(enum log_level level);

/* Parse "error", "warning", "info" or "debug"; -1 if none of them. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);

/* Text from outside (a file name, a value read from a manifest) as part
 * of one record: control characters and bytes that are not UTF-8 become
 * C-style escapes (\n, \t, \r, \xHH), so that a name with a newline
 * cannot forge a second record; valid UTF-8 is kept. log_escape_name
 * also doubles backslashes, so that an escaped name reads back as one.
 * Both return malloc'd strings. */
char *log_escape_name(const char *s);
char *log_escape_text(const char *s);

void log_write(enum log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(...) log_write(LOG_LEVEL_ERROR, LOG_COMPONENT, __VA_ARGS__)
#define log_warn(...) log_write(LOG_LEVEL_WARNING, LOG_COMPONENT, __VA_ARGS__)
#define log_info(...) log_write(LOG_LEVEL_INFO, LOG_COMPONENT, __VA_ARGS__)
#define log_debug(...) log_write(LOG_LEVEL_DEBUG, LOG_COMPONENT, __VA_ARGS__)

#endif
