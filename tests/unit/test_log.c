/* Log records: one line each, "LEVEL component: message", filtered by
 * level; the journal is used only when stderr really is its stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#define LOG_COMPONENT "spool"
#include "log.h"
#include "util.h"

/* Run fn with stderr redirected to a file; return what it wrote. */
static char *
capture_stderr(void (*fn)(void))
{
    char *dir = tmpdir_make();
    char *path = NULL, *data = NULL;
    int saved = dup(STDERR_FILENO), fd;

    assert_true(asprintf(&path, "%s/err", dir) > 0);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    fflush(stderr);
    dup2(fd, STDERR_FILENO);
    close(fd);
    fn();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    assert_int_equal(read_file(path, &data, NULL), 0);
    free(path);
    tmpdir_remove(dir);
    return data;
}

static void
write_some(void)
{
    log_error("open `%s`: %s", "/etc/vmirs.d", "Permission denied");
    log_warn("skip %d", 1);
    log_info("rescan");
    log_debug("detail %s", "x");
}

static void
test_format_and_levels(void **state)
{
    char *out;

    unsetenv("JOURNAL_STREAM");
    log_init();
    log_set_level(LOG_LEVEL_INFO);
    out = capture_stderr(write_some);
    assert_string_equal(out, "ERROR spool: open `/etc/vmirs.d`: Permission denied\n"
                             "WARNING spool: skip 1\n"
                             "INFO spool: rescan\n");
    free(out);
    log_set_level(LOG_LEVEL_ERROR);
    out = capture_stderr(write_some);
    assert_string_equal(out, "ERROR spool: open `/etc/vmirs.d`: Permission denied\n");
    free(out);
    log_set_level(LOG_LEVEL_DEBUG);
    out = capture_stderr(write_some);
    assert_non_null(strstr(out, "DEBUG spool: detail x\n"));
    free(out);
}

static void
test_foreign_journal_stream_is_ignored(void **state)
{
    char *out;

    /* A JOURNAL_STREAM inherited from elsewhere does not name our stderr. */
    setenv("JOURNAL_STREAM", "1:2", 1);
    log_init();
    log_set_level(LOG_LEVEL_INFO);
    out = capture_stderr(write_some);
    assert_non_null(strstr(out, "INFO spool: rescan\n"));
    free(out);
    unsetenv("JOURNAL_STREAM");
}

static void
test_level_names(void **state)
{
    enum log_level l;

    assert_int_equal(log_level_parse("warning", &l), 0);
    assert_int_equal(l, LOG_LEVEL_WARNING);
    assert_string_equal(log_level_name(LOG_LEVEL_DEBUG), "debug");
    assert_int_equal(log_level_parse("verbose", &l), -1);
}

/* A file name with a newline must not forge a second record; bytes that
 * are not UTF-8 and controls are escaped, UTF-8 text is kept. */
static void
test_escape(void **state)
{
    static const struct {
        const char *in, *name, *text;
    } cases[] = {
        {"web.yaml", "web.yaml", "web.yaml"},
        {"a\nERROR spool: forged.yaml", "a\\nERROR spool: forged.yaml",
         "a\\nERROR spool: forged.yaml"},
        {"tab\there\r", "tab\\there\\r", "tab\\there\\r"},
        {"back\\slash", "back\\\\slash", "back\\slash"},
        {"bell\a del\x7f esc\x1b", "bell\\x07 del\\x7f esc\\x1b", "bell\\x07 del\\x7f esc\\x1b"},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
         "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
        {"bad\xff\xfe", "bad\\xff\\xfe", "bad\\xff\\xfe"},
        {"cut\xc3", "cut\\xc3", "cut\\xc3"},
        {"overlong\xc0\xaf", "overlong\\xc0\\xaf", "overlong\\xc0\\xaf"},
        {"surrogate\xed\xa0\x80", "surrogate\\xed\\xa0\\x80", "surrogate\\xed\\xa0\\x80"},
        {"nel\xc2\x85", "nel\\xc2\\x85", "nel\\xc2\\x85"},
        {"", "", ""},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        cleanup_free char *name = log_escape_name(cases[i].in);
        cleanup_free char *text = log_escape_text(cases[i].in);

        assert_string_equal(name, cases[i].name);
        assert_string_equal(text, cases[i].text);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_and_levels),
        cmocka_unit_test(test_foreign_journal_stream_is_ignored),
        cmocka_unit_test(test_level_names),
        cmocka_unit_test(test_escape),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
