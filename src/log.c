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

/* The length of the UTF-8 sequence at s (1 to 4), or 0 when it is not
 * one: overlong forms, surrogates and code points past U+10FFFF are not. */
static size_t
utf8_len(const unsigned char *s)
{
    unsigned c = s[0], cp;
    size_t n;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0; /* also stops at the terminating NUL */
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

static char *
log_escape(const char *s, bool backslash)
{
    const unsigned char *p = (const unsigned char *) (s ? s : "");
    /* At most four output bytes per input byte ("\xHH"). */
    char *out = xmalloc(4 * strlen((const char *) p) + 1), *o = out;

    while (*p) {
        size_t n = utf8_len(p);

        /* C1 controls (U+0080 to U+009F: NEL is a line break to some
         * viewers) are escaped byte by byte like the C0 ones. */
        if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) {
            o += sprintf(o, "\\x%02x\\x%02x", p[0], p[1]);
            p += 2;
            continue;
        }
        if (n > 1 || (n == 1 && *p >= 0x20 && *p != 0x7f && (*p != '\\' || !backslash))) {
            memcpy(o, p, n);
            o += n;
            p += n;
            continue;
        }
        switch (*p) {
        case '\n':
            o += sprintf(o, "\\n");
            break;
        case '\t':
            o += sprintf(o, "\\t");
            break;
        case '\r':
            o += sprintf(o, "\\r");
            break;
        case '\\':
            o += sprintf(o, "\\\\");
            break;
        default:
            o += sprintf(o, "\\x%02x", *p);
        }
        p++;
    }
    *o = '\0';
    return out;
}

char *
log_escape_name(const char *s)
{
    return log_escape(s, true);
}

char *
log_escape_text(const char *s)
{
    return log_escape(s, false);
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
