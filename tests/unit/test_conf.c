#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "helpers.h"

#include "conf.h"
#include "diag.h"
#include "util.h"

#define DEFAULT_DUMP                                                                               \
    "spool_dir = /etc/vmirs.d\n"                                                                   \
    "state_dir = /var/lib/vmirsd\n"                                                                \
    "image_dir = /var/lib/vmirsd/images\n"                                                         \
    "claim_dir = /var/lib/vmirsd/claims\n"                                                         \
    "libvirt_uri = qemu:///system\n"                                                               \
    "domain_type = auto\n"                                                                         \
    "network = user\n"                                                                             \
    "host_port_range = 30000-32767\n"                                                              \
    "max_parallel = 8\n"                                                                           \
    "resync_interval = 60\n"                                                                       \
    "log_level = info\n"

static int
setup(void **state)
{
    *state = tmpdir_make();
    return 0;
}

static int
teardown(void **state)
{
    tmpdir_remove(*state);
    return 0;
}

static char *
dump(const struct vmirs_conf *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    conf_dump(c, f);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static void
assert_dump(const struct vmirs_conf *c, const char *want)
{
    char *got = dump(c);

    if (strcmp(got, want) != 0)
        fail_msg("conf_dump:\n%s\nwant:\n%s", got, want);
    free(got);
}

/* Every diagnostic, formatted, must equal "<path>:" + want[i], in order. */
static void
assert_diags(const struct diag_list *d, const char *path, const char *const *want)
{
    size_t n = 0;

    while (want[n])
        n++;
    for (size_t i = 0; i < d->n || i < n; i++) {
        char *got = i < d->n ? diag_format(&d->v[i]) : NULL;
        char *exp = i < n ? xasprintf("%s:%s", path, want[i]) : NULL;

        if (!got || !exp || strcmp(got, exp) != 0)
            fail_msg("diagnostic %zu:\n got  %s\n want %s", i, got ? got : "(none)",
                     exp ? exp : "(none)");
        free(got);
        free(exp);
    }
}

/* Write content to dir/name and load it. */
static int
load_text(const char *dir, const char *content, struct vmirs_conf *c, struct diag_list *d,
          char **path)
{
    *path = write_tmpfile(dir, "vmirsd.conf", content);
    return conf_load(c, *path, false, d);
}

static void
test_defaults(void **state)
{
    struct vmirs_conf c;

    conf_defaults(&c);
    assert_string_equal(c.spool_dir, "/etc/vmirs.d");
    assert_string_equal(c.state_dir, "/var/lib/vmirsd");
    assert_string_equal(c.image_dir, "/var/lib/vmirsd/images");
    assert_string_equal(c.claim_dir, "/var/lib/vmirsd/claims");
    assert_string_equal(c.libvirt_uri, "qemu:///system");
    assert_int_equal(c.domain_type, DOMAIN_TYPE_AUTO);
    assert_string_equal(c.network, "user");
    assert_int_equal(c.host_port_min, 30000);
    assert_int_equal(c.host_port_max, 32767);
    assert_int_equal(c.max_parallel, 8);
    assert_int_equal(c.resync_interval, 60);
    assert_int_equal(c.log_level, LOG_LEVEL_INFO);
    assert_dump(&c, DEFAULT_DUMP);
    conf_free(&c);
    /* A second conf_free is harmless. */
    conf_free(&c);
    assert_null(c.spool_dir);
    assert_null(c.network);
}

static void
test_domain_type_names(void **state)
{
    assert_string_equal(conf_domain_type_name(DOMAIN_TYPE_AUTO), "auto");
    assert_string_equal(conf_domain_type_name(DOMAIN_TYPE_KVM), "kvm");
    assert_string_equal(conf_domain_type_name(DOMAIN_TYPE_QEMU), "qemu");
    assert_string_equal(conf_domain_type_name(DOMAIN_TYPE_TEST), "test");
}

static void
test_missing_file(void **state)
{
    struct vmirs_conf c;
    struct diag_list d = {0};
    char *path = xasprintf("%s/absent.conf", (char *) *state);
    char *msg = xasprintf("%s: error: open: No such file or directory", path);
    char *got;

    assert_int_equal(conf_load(&c, path, true, &d), 0);
    assert_int_equal(d.n, 0);
    assert_dump(&c, DEFAULT_DUMP);
    conf_free(&c);

    assert_int_equal(conf_load(&c, path, false, &d), -1);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.errors, 1);
    assert_int_equal(d.v[0].line, 0);
    got = diag_format(&d.v[0]);
    assert_string_equal(got, msg);
    assert_dump(&c, DEFAULT_DUMP);
    conf_free(&c);
    free(got);
    free(msg);
    free(path);
    diag_list_clear(&d);
}

static void
test_unreadable_file(void **state)
{
    struct vmirs_conf c;
    struct diag_list d = {0};
    char *msg = xasprintf("%s: error: open: Is a directory", (char *) *state);
    char *got;

    /* missing_ok only forgives a file that is not there. */
    assert_int_equal(conf_load(&c, *state, true, &d), -1);
    assert_int_equal(d.n, 1);
    got = diag_format(&d.v[0]);
    assert_string_equal(got, msg);
    conf_free(&c);
    free(got);
    free(msg);
    diag_list_clear(&d);
}

static void
test_every_key(void **state)
{
    static const char text[] = "spool_dir = /srv/spool\n"
                               "state_dir = /srv/state\n"
                               "image_dir = /srv/images\n"
                               "claim_dir = /srv/claims\n"
                               "libvirt_uri = test+unix:///default\n"
                               "domain_type = test\n"
                               "network = default\n"
                               "host_port_range = 40000-40100\n"
                               "max_parallel = 64\n"
                               "resync_interval = 86400\n"
                               "log_level = debug\n";
    struct vmirs_conf c;
    struct diag_list d = {0};
    char *path;

    assert_int_equal(load_text(*state, text, &c, &d, &path), 0);
    assert_int_equal(d.n, 0);
    assert_string_equal(c.spool_dir, "/srv/spool");
    assert_string_equal(c.state_dir, "/srv/state");
    assert_string_equal(c.image_dir, "/srv/images");
    assert_string_equal(c.claim_dir, "/srv/claims");
    assert_string_equal(c.libvirt_uri, "test+unix:///default");
    assert_int_equal(c.domain_type, DOMAIN_TYPE_TEST);
    assert_string_equal(c.network, "default");
    assert_int_equal(c.host_port_min, 40000);
    assert_int_equal(c.host_port_max, 40100);
    assert_int_equal(c.max_parallel, 64);
    assert_int_equal(c.resync_interval, 86400);
    assert_int_equal(c.log_level, LOG_LEVEL_DEBUG);
    /* The dump is the file itself, in the same order. */
    assert_dump(&c, text);
    conf_free(&c);
    free(path);
}

static void
test_value_edges(void **state)
{
    static const char text[] = "domain_type = kvm\n"
                               "host_port_range = 1-65535\n"
                               "max_parallel = 1\n"
                               "resync_interval = 1\n"
                               "log_level = error\n"
                               "spool_dir = /\n"
                               "state_dir = /var/lib/x///\n";
    struct vmirs_conf c;
    struct diag_list d = {0};
    char *path;

    assert_int_equal(load_text(*state, text, &c, &d, &path), 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(c.domain_type, DOMAIN_TYPE_KVM);
    assert_int_equal(c.host_port_min, 1);
    assert_int_equal(c.host_port_max, 65535);
    assert_int_equal(c.max_parallel, 1);
    assert_int_equal(c.resync_interval, 1);
    assert_int_equal(c.log_level, LOG_LEVEL_ERROR);
    assert_string_equal(c.spool_dir, "/");
    /* Trailing slashes go, so the derived directories are clean. */
    assert_string_equal(c.state_dir, "/var/lib/x");
    assert_string_equal(c.image_dir, "/var/lib/x/images");
    conf_free(&c);
    free(path);

    assert_int_equal(load_text(*state,
                               "domain_type = qemu\nhost_port_range = 8080-8080\n"
                               "log_level = warning\n",
                               &c, &d, &path),
                     0);
    assert_int_equal(c.domain_type, DOMAIN_TYPE_QEMU);
    assert_int_equal(c.host_port_min, 8080);
    assert_int_equal(c.host_port_max, 8080);
    assert_int_equal(c.log_level, LOG_LEVEL_WARNING);
    conf_free(&c);
    free(path);
    assert_int_equal(d.n, 0);
}

static void
test_comments_and_quotes(void **state)
{
    static const char text[] =
        "# a comment\n"
        "\n"
        "   # an indented comment\n"
        "\t\n"
        "spool_dir=/srv/a#b\n"
        "state_dir\t=\t/srv/state   # where the state lives\n"
        "image_dir = \"/srv/my images/#1\"  # quoted\n"
        "claim_dir = \"/srv/say \\\"hi\\\" \\\\ there\"\n"
        "  network =   \"default\"\r\n"
        "libvirt_uri = \"qemu+ssh://h/system\"#no blank needed after a quote\n"
        "log_level = debug";
    struct vmirs_conf c;
    struct diag_list d = {0};
    char *path;

    assert_int_equal(load_text(*state, text, &c, &d, &path), 0);
    assert_int_equal(d.n, 0);
    assert_string_equal(c.spool_dir, "/srv/a#b");
    assert_string_equal(c.state_dir, "/srv/state");
    assert_string_equal(c.image_dir, "/srv/my images/#1");
    assert_string_equal(c.claim_dir, "/srv/say \"hi\" \\ there");
    assert_string_equal(c.network, "default");
    assert_string_equal(c.libvirt_uri, "qemu+ssh://h/system");
    assert_int_equal(c.log_level, LOG_LEVEL_DEBUG);
    conf_free(&c);
    free(path);
}

/* What conf_dump writes, conf_load reads back to the same values. */
static void
test_dump_round_trip(void **state)
{
    struct vmirs_conf c, c2;
    struct diag_list d = {0};
    char *path, *first, *second;

    assert_int_equal(load_text(*state,
                               "image_dir = \"/srv/a b/#c \\\"d\\\" \\\\e\"\n"
                               "claim_dir = /srv/x#y\n",
                               &c, &d, &path),
                     0);
    first = dump(&c);
    assert_non_null(strstr(first, "image_dir = \"/srv/a b/#c \\\"d\\\" \\\\e\"\n"));
    assert_non_null(strstr(first, "claim_dir = \"/srv/x#y\"\n"));
    free(path);
    assert_int_equal(load_text(*state, first, &c2, &d, &path), 0);
    assert_int_equal(d.n, 0);
    assert_string_equal(c2.image_dir, "/srv/a b/#c \"d\" \\e");
    assert_string_equal(c2.claim_dir, "/srv/x#y");
    second = dump(&c2);
    assert_string_equal(first, second);
    conf_free(&c);
    conf_free(&c2);
    free(first);
    free(second);
    free(path);
}

/* A quoted value may end in a carriage return, which an unquoted one
 * cannot keep (conf_load drops it as the end of a CRLF line); so the dump
 * quotes it. Found by tests/fuzz/fuzz_conf
 * (regressions/conf/dump-trailing-cr.conf). */
static void
test_dump_round_trip_cr(void **state)
{
    struct vmirs_conf c, c2;
    struct diag_list d = {0};
    char *path, *first, *second;

    assert_int_equal(
        load_text(*state, "spool_dir = \"/a\r\"\nclaim_dir = \"/c\r\r\"\n", &c, &d, &path), 0);
    assert_string_equal(c.spool_dir, "/a\r");
    first = dump(&c);
    assert_non_null(strstr(first, "spool_dir = \"/a\r\"\n"));
    assert_non_null(strstr(first, "claim_dir = \"/c\r\r\"\n"));
    free(path);
    assert_int_equal(load_text(*state, first, &c2, &d, &path), 0);
    assert_int_equal(d.n, 0);
    assert_string_equal(c2.spool_dir, "/a\r");
    second = dump(&c2);
    assert_string_equal(first, second);
    conf_free(&c);
    conf_free(&c2);
    free(first);
    free(second);
    free(path);
}

struct err_case {
    const char *text;
    const char *diags[4]; /* after "<path>:", NULL-terminated */
    size_t len;           /* bytes of text when it holds a NUL; else 0 */
};

static const struct err_case err_cases[] = {
    {"spool_dri = /x\n", {"1:1: error: unknown key \"spool_dri\"; did you mean \"spool_dir\"?"}},
    {"  max_paralel = 4\n",
     {"1:3: error: unknown key \"max_paralel\"; did you mean \"max_parallel\"?"}},
    {"imagedir = /x\n", {"1:1: error: unknown key \"imagedir\"; did you mean \"image_dir\"?"}},
    {"LOG_LEVEL = info\n", {"1:1: error: unknown key \"LOG_LEVEL\""}},
    {"colour = red\n", {"1:1: error: unknown key \"colour\""}},
    /* The first setting stays (here the default, for the check below). */
    {"max_parallel = 8\n\nmax_parallel = 5\n",
     {"3:1: error: duplicate key \"max_parallel\" (first set on line 1)"}},
    {"max_parallel = abc\n",
     {"1:16: error: max_parallel: invalid value \"abc\": expected an integer from 1 to 64"}},
    {"max_parallel = 0\n",
     {"1:16: error: max_parallel: invalid value \"0\": expected an integer from 1 to 64"}},
    {"max_parallel = 65\n",
     {"1:16: error: max_parallel: invalid value \"65\": expected an integer from 1 to 64"}},
    {"max_parallel = +8\n",
     {"1:16: error: max_parallel: invalid value \"+8\": expected an integer from 1 to 64"}},
    {"max_parallel = 8 x\n",
     {"1:16: error: max_parallel: invalid value \"8 x\": expected an integer from 1 to 64"}},
    {"max_parallel =\n",
     {"1:15: error: max_parallel: invalid value \"\": expected an integer from 1 to 64"}},
    {"resync_interval = 86401\n",
     {"1:19: error: resync_interval: invalid value \"86401\": "
      "expected an integer from 1 to 86400"}},
    {"resync_interval = 99999999999999999999\n",
     {"1:19: error: resync_interval: invalid value \"99999999999999999999\": expected an "
      "integer from 1 to 86400"}},
    {"domain_type = xen\n",
     {"1:15: error: domain_type: unsupported value \"xen\": supported "
      "values: \"auto\", \"kvm\", \"qemu\", \"test\""}},
    {"domain_type = KVM\n",
     {"1:15: error: domain_type: unsupported value \"KVM\": supported "
      "values: \"auto\", \"kvm\", \"qemu\", \"test\""}},
    {"log_level = verbose\n",
     {"1:13: error: log_level: unsupported value \"verbose\": "
      "supported values: \"error\", \"warning\", \"info\", \"debug\""}},
    {"spool_dir = etc/vmirs.d\n",
     {"1:13: error: spool_dir: invalid value \"etc/vmirs.d\": expected an absolute path"}},
    {"state_dir = \"\"\n",
     {"1:13: error: state_dir: invalid value \"\": expected an absolute path"}},
    {"image_dir = ~/images\n",
     {"1:13: error: image_dir: invalid value \"~/images\": expected an absolute path"}},
    {"claim_dir = ./claims\n",
     {"1:13: error: claim_dir: invalid value \"./claims\": expected an absolute path"}},
    {"network = a/b\n",
     {"1:11: error: network: invalid value \"a/b\": expected \"user\" or a "
      "libvirt network name"}},
    {"network = \"my net\"\n",
     {"1:11: error: network: invalid value \"my net\": expected "
      "\"user\" or a libvirt network name"}},
    {"network =\n",
     {"1:10: error: network: invalid value \"\": expected \"user\" or a libvirt network name"}},
    {"libvirt_uri = \"qemu:///system x\"\n",
     {"1:15: error: libvirt_uri: invalid value \"qemu:///system x\": expected a libvirt URI "
      "such as \"qemu:///system\""}},
    {"libvirt_uri = # nothing\n",
     {"1:15: error: libvirt_uri: invalid value \"\": expected a "
      "libvirt URI such as \"qemu:///system\""}},
    {"host_port_range = 30000\n",
     {"1:19: error: host_port_range: invalid value \"30000\": "
      "expected \"min-max\" with ports from 1 to 65535"}},
    {"host_port_range = 0-100\n",
     {"1:19: error: host_port_range: invalid value \"0-100\": "
      "expected \"min-max\" with ports from 1 to 65535"}},
    {"host_port_range = 1-65536\n",
     {"1:19: error: host_port_range: invalid value \"1-65536\": "
      "expected \"min-max\" with ports from 1 to 65535"}},
    {"host_port_range = 1 - 2\n",
     {"1:19: error: host_port_range: invalid value \"1 - 2\": "
      "expected \"min-max\" with ports from 1 to 65535"}},
    {"host_port_range = 1-2-3\n",
     {"1:19: error: host_port_range: invalid value \"1-2-3\": "
      "expected \"min-max\" with ports from 1 to 65535"}},
    {"host_port_range = 32767-30000\n",
     {"1:19: error: host_port_range: invalid value "
      "\"32767-30000\": min must not be greater than max"}},
    {"just_a_word\n", {"1:1: error: expected \"key = value\""}},
    {"  spool_dir /x\n", {"1:3: error: expected \"key = value\""}},
    {"= /x\n", {"1:1: error: expected \"key = value\""}},
    {"spool dir = /x\n", {"1:1: error: expected \"key = value\""}},
    {"spool_dir # = /x\n", {"1:1: error: expected \"key = value\""}},
    {"spool_dir = \"/x\n", {"1:13: error: spool_dir: unterminated quoted value"}},
    {"spool_dir = \"/x\" y\n", {"1:18: error: spool_dir: unexpected text after the quoted value"}},
    {"# ok\nspool_dir = /x\0y\n", {"2:15: error: unexpected NUL byte"}, 22},
};

static void
test_errors(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(err_cases); i++) {
        const struct err_case *e = &err_cases[i];
        struct vmirs_conf c;
        struct diag_list d = {0};
        char *path = xasprintf("%s/case.conf", (char *) *state);
        FILE *f = fopen(path, "w");
        size_t len = e->len ? e->len : strlen(e->text);
        char *got;

        assert_non_null(f);
        assert_int_equal(fwrite(e->text, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
        if (conf_load(&c, path, false, &d) != -1)
            fail_msg("case %zu (%s): conf_load did not fail", i, e->text);
        assert_diags(&d, path, e->diags);
        /* A bad key keeps its default. */
        got = dump(&c);
        if (strcmp(got, DEFAULT_DUMP) != 0)
            fail_msg("case %zu (%s): values changed:\n%s", i, e->text, got);
        free(got);
        conf_free(&c);
        diag_list_clear(&d);
        free(path);
    }
}

static void
test_all_errors_reported(void **state)
{
    static const char text[] = "# vmirsd.conf with one good line and many bad ones\n"
                               "spool_dri = /srv/spool\n"
                               "state_dir = /srv/state\n"
                               "max_parallel = abc\n"
                               "domain_type = xen\n"
                               "state_dir = /other\n"
                               "nonsense\n"
                               "log_level = loud # comment\n"
                               "host_port_range = 9-8\n";
    static const char *const want[] = {
        "2:1: error: unknown key \"spool_dri\"; did you mean \"spool_dir\"?",
        "4:16: error: max_parallel: invalid value \"abc\": expected an integer from 1 to 64",
        "5:15: error: domain_type: unsupported value \"xen\": supported values: \"auto\", "
        "\"kvm\", \"qemu\", \"test\"",
        "6:1: error: duplicate key \"state_dir\" (first set on line 3)",
        "7:1: error: expected \"key = value\"",
        "8:13: error: log_level: unsupported value \"loud\": supported values: \"error\", "
        "\"warning\", \"info\", \"debug\"",
        "9:19: error: host_port_range: invalid value \"9-8\": min must not be greater than max",
        NULL,
    };
    struct vmirs_conf c;
    struct diag_list d = {0};
    char *path;

    assert_int_equal(load_text(*state, text, &c, &d, &path), -1);
    assert_diags(&d, path, want);
    assert_int_equal(d.errors, 7);
    /* The good line took effect, the bad ones kept their defaults, and
     * the derived directories follow the state_dir that was set. */
    assert_string_equal(c.state_dir, "/srv/state");
    assert_string_equal(c.image_dir, "/srv/state/images");
    assert_string_equal(c.spool_dir, "/etc/vmirs.d");
    assert_int_equal(c.max_parallel, 8);
    assert_int_equal(c.domain_type, DOMAIN_TYPE_AUTO);
    assert_int_equal(c.log_level, LOG_LEVEL_INFO);
    assert_int_equal(c.host_port_min, 30000);
    assert_int_equal(c.host_port_max, 32767);
    conf_free(&c);
    free(path);
    diag_list_clear(&d);
}

static void
test_state_dir_moves_derived_dirs(void **state)
{
    struct vmirs_conf c;
    struct diag_list d = {0};
    char *path;

    assert_int_equal(load_text(*state, "state_dir = /srv/vm\n", &c, &d, &path), 0);
    assert_string_equal(c.image_dir, "/srv/vm/images");
    assert_string_equal(c.claim_dir, "/srv/vm/claims");
    conf_free(&c);
    free(path);

    /* An explicit image_dir wins, before or after state_dir. */
    assert_int_equal(
        load_text(*state, "image_dir = /data/images\nstate_dir = /srv/vm\n", &c, &d, &path), 0);
    assert_string_equal(c.image_dir, "/data/images");
    assert_string_equal(c.claim_dir, "/srv/vm/claims");
    conf_free(&c);
    free(path);

    assert_int_equal(
        load_text(*state, "state_dir = /srv/vm\nclaim_dir = /data/claims\n", &c, &d, &path), 0);
    assert_string_equal(c.image_dir, "/srv/vm/images");
    assert_string_equal(c.claim_dir, "/data/claims");
    conf_free(&c);
    free(path);

    /* state_dir = / must not give "//images". */
    assert_int_equal(load_text(*state, "state_dir = /\n", &c, &d, &path), 0);
    assert_string_equal(c.image_dir, "/images");
    conf_free(&c);
    free(path);
    assert_int_equal(d.n, 0);

    /* A bad image_dir falls back to the derived default. */
    assert_int_equal(load_text(*state, "state_dir = /srv/vm\nimage_dir = images\n", &c, &d, &path),
                     -1);
    assert_int_equal(d.errors, 1);
    assert_string_equal(c.image_dir, "/srv/vm/images");
    conf_free(&c);
    free(path);
    diag_list_clear(&d);
}

static char *
shipped_conf_path(void)
{
    return xasprintf("%s/conf/vmirsd.conf", TOP_SRCDIR);
}

static void
test_shipped_conf_is_defaults(void **state)
{
    struct vmirs_conf c;
    struct diag_list d = {0};
    char *path = shipped_conf_path();

    assert_int_equal(conf_load(&c, path, false, &d), 0);
    assert_int_equal(d.n, 0);
    assert_dump(&c, DEFAULT_DUMP);
    conf_free(&c);
    free(path);
}

/* Uncomment every "# key = value" line of the shipped file: the result
 * must parse cleanly to the defaults, and those lines, in order, must be
 * exactly conf_dump's output for the defaults. So the documentation
 * names every key, once, in table order, at its real default. */
static void
test_shipped_conf_uncommented(void **state)
{
    struct vmirs_conf c, defaults;
    struct diag_list d = {0};
    char *path = shipped_conf_path();
    char *text = NULL, *settings = NULL, *out = NULL, *want;
    size_t text_len = 0, settings_len = 0, out_len = 0;
    FILE *s, *o;
    char *line, *save = NULL;
    size_t n = 0;

    assert_int_equal(read_file(path, &text, &text_len), 0);
    s = open_memstream(&settings, &settings_len);
    o = open_memstream(&out, &out_len);
    assert_non_null(s);
    assert_non_null(o);
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        const char *p = line + 2;
        size_t k = 0;

        while (p[k] == '_' || (p[k] >= 'a' && p[k] <= 'z'))
            k++;
        if (strncmp(line, "# ", 2) == 0 && k > 0 && strncmp(p + k, " = ", 3) == 0) {
            fprintf(s, "%s\n", p);
            fprintf(o, "%s\n", p);
            n++;
        } else {
            fprintf(o, "%s\n", line);
        }
    }
    assert_int_equal(fclose(s), 0);
    assert_int_equal(fclose(o), 0);
    assert_int_equal(n, 11);

    conf_defaults(&defaults);
    want = dump(&defaults);
    assert_string_equal(settings, want);
    conf_free(&defaults);
    free(path);

    assert_int_equal(load_text(*state, out, &c, &d, &path), 0);
    assert_int_equal(d.n, 0);
    assert_dump(&c, want);
    conf_free(&c);
    free(want);
    free(path);
    free(text);
    free(settings);
    free(out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_domain_type_names),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_unreadable_file),
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_value_edges),
        cmocka_unit_test(test_comments_and_quotes),
        cmocka_unit_test(test_dump_round_trip),
        cmocka_unit_test(test_dump_round_trip_cr),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_all_errors_reported),
        cmocka_unit_test(test_state_dir_moves_derived_dirs),
        cmocka_unit_test(test_shipped_conf_is_defaults),
        cmocka_unit_test(test_shipped_conf_uncommented),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
