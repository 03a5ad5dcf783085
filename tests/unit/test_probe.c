#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "probe.h"
#include "util.h"

#define S 1000

/* Kubernetes' defaults: delay 0, period 10 s, timeout 1 s, thresholds 1
 * and 3; a value below 1 means the default. */
static void
test_defaults(void **state)
{
    struct probe p = {.guest_agent_ping = &(struct empty_action){0}};
    struct probe_timing t;

    probe_timing_of(&p, &t);
    assert_int_equal(t.initial_delay_ms, 0);
    assert_int_equal(t.period_ms, 10 * S);
    assert_int_equal(t.timeout_ms, 1 * S);
    assert_int_equal(t.success_threshold, 1);
    assert_int_equal(t.failure_threshold, 3);
    p.period_seconds = (struct opt_int){true, 0};
    p.initial_delay_seconds = (struct opt_int){true, 15};
    p.timeout_seconds = (struct opt_int){true, 5};
    p.success_threshold = (struct opt_int){true, 2};
    p.failure_threshold = (struct opt_int){true, 1};
    probe_timing_of(&p, &t);
    assert_int_equal(t.initial_delay_ms, 15 * S);
    assert_int_equal(t.period_ms, 10 * S);
    assert_int_equal(t.timeout_ms, 5 * S);
    assert_int_equal(t.success_threshold, 2);
    assert_int_equal(t.failure_threshold, 1);
}

static void
test_kind(void **state)
{
    struct exec_action e = {0};
    struct tcp_action tcp = {0};

    assert_int_equal(probe_kind_of(NULL), PROBE_NONE);
    assert_int_equal(probe_kind_of(&(struct probe){0}), PROBE_NONE);
    assert_int_equal(probe_kind_of(&(struct probe){.exec = &e}), PROBE_EXEC);
    assert_int_equal(probe_kind_of(&(struct probe){.tcp_socket = &tcp}), PROBE_TCP);
}

/* Readiness starts false; successThreshold successes in a row make it
 * true, failureThreshold failures in a row false again; a single
 * different outcome resets the other count. */
static void
test_readiness_thresholds(void **state)
{
    struct probe_timing t = {.initial_delay_ms = 5 * S,
                             .period_ms = 10 * S,
                             .timeout_ms = S,
                             .success_threshold = 2,
                             .failure_threshold = 3};
    struct probe_state st;
    static const struct {
        bool ok, changed, result;
    } steps[] = {
        {true, false, false}, {false, false, false}, {true, false, false}, {true, true, true},
        {false, false, true}, {false, false, true},  {true, false, true},  {false, false, true},
        {false, false, true}, {false, true, false},
    };
    int64_t now = 100 * S;

    probe_start(&st, &t, false, now);
    assert_false(st.result);
    assert_int_equal(st.next_ms, now + 5 * S);
    for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
        now += 10 * S;
        st.running = true;
        if (probe_record(&st, &t, steps[i].ok, now) != steps[i].changed ||
            st.result != steps[i].result)
            fail_msg("step %zu: changed %d result %d", i, !steps[i].changed, st.result);
        assert_false(st.running);
        assert_int_equal(st.next_ms, now + 10 * S);
    }
}

/* Liveness starts true and turns false after failureThreshold failures. */
static void
test_liveness(void **state)
{
    struct probe_timing t = {
        .period_ms = S, .timeout_ms = S, .success_threshold = 1, .failure_threshold = 2};
    struct probe_state st;

    probe_start(&st, &t, true, 0);
    assert_true(st.result);
    assert_int_equal(st.next_ms, 0);
    assert_false(probe_record(&st, &t, false, 1 * S));
    assert_true(st.result);
    assert_true(probe_record(&st, &t, false, 2 * S));
    assert_false(st.result);
}

/* An exec probe's command is copied, so the spec may go meanwhile. */
static void
test_action_copy(void **state)
{
    char *argv[] = {"cat", "/tmp/healthy"};
    struct exec_action e = {.command = {.v = argv, .n = 2}};
    struct probe p = {.exec = &e, .period_seconds = {true, 3}};
    struct probe_action a;

    probe_action_of(&p, NULL, &a);
    assert_int_equal(a.kind, PROBE_EXEC);
    assert_int_equal(a.argc, 2);
    assert_string_equal(a.argv[1], "/tmp/healthy");
    assert_ptr_not_equal(a.argv[1], argv[1]);
    assert_int_equal(a.t.period_ms, 3 * S);
    probe_action_free(&a);
    assert_null(a.argv);
    probe_action_free(&a);
}

/* The ports to forward: the interfaces' TCP ports and the probes' ports,
 * a named one resolved; sorted, once each. */
static void
test_guest_ports(void **state)
{
    struct port ports[] = {
        {.name = "http", .port = {true, 80}},
        {.name = "dns", .protocol = "UDP", .port = {true, 53}},
        {.name = "ssh", .protocol = "TCP", .port = {true, 22}},
    };
    struct iface ifaces[] = {{.name = "default", .ports = {.v = ports, .n = 3}}};
    struct http_action http = {.port = {.set = true, .is_str = true, .s = "http"}};
    struct tcp_action tcp = {.port = {.set = true, .i = 8080}};
    struct probe ready = {.http_get = &http}, live = {.tcp_socket = &tcp};
    struct vmi_spec spec = {.readiness_probe = &ready, .liveness_probe = &live};
    unsigned out[8];
    size_t n;
    struct probe_action a;

    spec.domain.devices.interfaces.v = ifaces;
    spec.domain.devices.interfaces.n = 1;
    n = probe_guest_ports(&spec, out, 8);
    assert_int_equal(n, 3);
    assert_int_equal(out[0], 22);
    assert_int_equal(out[1], 80);
    assert_int_equal(out[2], 8080);
    probe_action_of(&ready, &spec, &a);
    assert_int_equal(a.kind, PROBE_HTTP);
    assert_int_equal(a.guest_port, 80);
    assert_string_equal(a.path, "/");
    probe_action_free(&a);
}

/* A guest stand-in on 127.0.0.1: what it does with each connection. */
enum serve_mode { SERVE_CLOSE, SERVE_QUIET, SERVE_HTTP_200, SERVE_HTTP_500 };

struct server {
    uv_tcp_t tcp;
    enum serve_mode mode;
    uv_tcp_t client;
    bool has_client;
    char req[1024];
    size_t req_len;
    uv_write_t w;
};

struct outcome {
    bool done;
    int rc;
    char why[256];
};

static void
noop_close(uv_handle_t *h)
{
}

static void
srv_alloc(uv_handle_t *h, size_t n, uv_buf_t *b)
{
    struct server *s = h->data;

    b->base = s->req + s->req_len;
    b->len = sizeof(s->req) - 1 - s->req_len;
}

static void
srv_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct server *s = st->data;
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    static const char bad[] = "HTTP/1.1 500 Internal Server Error\r\n\r\n";
    uv_buf_t out;

    if (n <= 0)
        return;
    s->req_len += (size_t) n;
    s->req[s->req_len] = '\0';
    if (!strstr(s->req, "\r\n\r\n"))
        return;
    out = s->mode == SERVE_HTTP_200 ? uv_buf_init((char *) ok, sizeof(ok) - 1)
                                    : uv_buf_init((char *) bad, sizeof(bad) - 1);
    uv_write(&s->w, st, &out, 1, NULL);
}

static void
srv_connection(uv_stream_t *server, int status)
{
    struct server *s = server->data;

    assert_int_equal(status, 0);
    uv_tcp_init(server->loop, &s->client);
    s->client.data = s;
    s->has_client = true;
    assert_int_equal(uv_accept(server, (uv_stream_t *) &s->client), 0);
    if (s->mode == SERVE_CLOSE)
        uv_close((uv_handle_t *) &s->client, noop_close), s->has_client = false;
    else
        uv_read_start((uv_stream_t *) &s->client, srv_alloc, srv_read);
}

static void
on_outcome(void *opaque, int rc, const char *why)
{
    struct outcome *o = opaque;

    o->done = true;
    o->rc = rc;
    snprintf(o->why, sizeof(o->why), "%s", why ? why : "");
}

/* Run one network probe against a server in mode (or a closed port). */
static struct outcome
net_probe(enum probe_kind kind, int mode)
{
    uv_loop_t loop;
    struct server s = {.mode = (enum serve_mode) mode};
    struct sockaddr_in addr;
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    struct outcome o = {0};
    struct probe_action a = {.kind = kind, .path = "/healthz", .t = {.timeout_ms = 2000}};
    unsigned port;

    uv_loop_init(&loop);
    uv_tcp_init(&loop, &s.tcp);
    s.tcp.data = &s;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    assert_int_equal(uv_tcp_bind(&s.tcp, (struct sockaddr *) &addr, 0), 0);
    assert_int_equal(uv_tcp_getsockname(&s.tcp, (struct sockaddr *) &bound, &len), 0);
    port = ntohs(((struct sockaddr_in *) &bound)->sin_port);
    if (mode >= 0)
        assert_int_equal(uv_listen((uv_stream_t *) &s.tcp, 4, srv_connection), 0);
    else
        uv_close((uv_handle_t *) &s.tcp, noop_close); /* nothing listens */
    a.host_port = port;
    probe_net_start(&loop, &a, on_outcome, &o);
    while (!o.done)
        uv_run(&loop, UV_RUN_ONCE);
    if (mode >= 0)
        uv_close((uv_handle_t *) &s.tcp, noop_close);
    if (s.has_client)
        uv_close((uv_handle_t *) &s.client, noop_close);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    if (kind == PROBE_HTTP && mode >= SERVE_HTTP_200)
        assert_non_null(strstr(s.req, "GET /healthz HTTP/1.1\r\n"));
    return o;
}

/* httpGet passes on 2xx/3xx only; a connection closed without an
 * answer or a closed port fails, with kubelet's wording for a status. */
static void
test_http_probes(void **state)
{
    struct outcome o;

    o = net_probe(PROBE_HTTP, SERVE_HTTP_200);
    assert_int_equal(o.rc, 0);
    o = net_probe(PROBE_HTTP, SERVE_HTTP_500);
    assert_int_equal(o.rc, -1);
    assert_string_equal(o.why, "HTTP probe failed with statuscode: 500");
    o = net_probe(PROBE_HTTP, SERVE_CLOSE);
    assert_int_equal(o.rc, -1);
    assert_string_equal(o.why, "connection closed without an answer");
    o = net_probe(PROBE_HTTP, -1);
    assert_int_equal(o.rc, -1);
    assert_string_equal(o.why, "connection refused");
}

/* QEMU's "info usernet" as measured on libvirt 9.0 / QEMU 7.2: the guest
 * accepted a connection through a forward when one is ESTABLISHED. */
static void
test_usernet(void **state)
{
    static const char text[] =
        "Hub -1 (hostua-default):\r\n"
        "  Protocol[State]    FD  Source Address  Port   Dest. Address  Port RecvQ SendQ\r\n"
        "  TCP[SYN_SENT]      21       127.0.0.1 31501       10.0.2.15  8081     0     0\r\n"
        "  TCP[ESTABLISHED]   20       127.0.0.1 31500       10.0.2.15    80     0     0\r\n"
        "  TCP[HOST_FORWARD]  17       127.0.0.1 31501       10.0.2.15  8081     0     0\r\n"
        "  TCP[HOST_FORWARD]  16       127.0.0.1 31500       10.0.2.15    80     0     0\r\n";

    assert_true(probe_usernet_established(text, 31500));
    assert_false(probe_usernet_established(text, 31501));
    assert_false(probe_usernet_established(text, 31502));
    assert_false(probe_usernet_established("", 31500));
    assert_true(probe_usernet_forwarded(text, 31501));
    assert_false(probe_usernet_forwarded(text, 31502));
}

/* A fake libvirt for tcpSocket: "info usernet" answers with a canned state. */
static const char *usernet_state;
static int hmp_calls;

static int
fake_hmp(struct virt *v, const char *name, const char *cmd, char **out, struct vmirs_err **err)
{
    hmp_calls++;
    assert_string_equal(cmd, "info usernet");
    *out = xasprintf("  TCP[%s] 21 127.0.0.1 %u 10.0.2.15 22 0 0\n", usernet_state,
                     (unsigned) (uintptr_t) v);
    return 0;
}

static void *
accept_and_close(void *arg)
{
    int fd = accept(*(int *) arg, NULL, NULL);

    if (fd >= 0)
        close(fd);
    return NULL;
}

/* One tcpSocket probe against a listener that holds (or closes) the
 * connection, QEMU reporting state; returns rc and the reason. */
static int
tcp_probe(bool close_it, const char *state, char **why)
{
    const struct virt_ops ops = {.hmp = fake_hmp};
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t len = sizeof(addr);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct probe_action a = {.kind = PROBE_TCP, .t = {.timeout_ms = 500}};
    struct vmirs_err *err = NULL;
    pthread_t th;
    int rc;

    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(lfd, (struct sockaddr *) &addr, sizeof(addr)), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *) &addr, &len), 0);
    assert_int_equal(listen(lfd, 4), 0);
    a.host_port = ntohs(addr.sin_port);
    if (close_it)
        pthread_create(&th, NULL, accept_and_close, &lfd);
    usernet_state = state;
    rc = probe_run(&ops, (struct virt *) (uintptr_t) a.host_port, "default_x", &a, &err);
    if (close_it)
        pthread_join(th, NULL);
    close(lfd);
    *why = err ? xstrdup(err->msg) : NULL;
    err_free(&err);
    return rc;
}

/* tcpSocket through a user-mode forward: QEMU accepts every connection,
 * so an open, quiet one passes only when QEMU says the guest accepted;
 * the guest's refusal (EOF) fails at once without asking. */
static void
test_tcp_probes(void **state)
{
    char *why = NULL;

    hmp_calls = 0;
    assert_int_equal(tcp_probe(false, "ESTABLISHED", &why), 0);
    assert_int_equal(hmp_calls, 1);
    assert_int_equal(tcp_probe(false, "SYN_SENT", &why), -1);
    assert_string_equal(why, "the guest did not accept the connection");
    free(why);
    hmp_calls = 0;
    assert_int_equal(tcp_probe(true, "ESTABLISHED", &why), -1);
    assert_string_equal(why, "connection closed: nothing listens on the port");
    assert_int_equal(hmp_calls, 0);
    free(why);
}

/* On a libvirt network the probe goes to the guest's own address: an
 * accepted connection is the guest's, so QEMU is not asked. (127.0.0.1
 * stands in for the guest's address here.) */
static void
test_tcp_direct(void **state)
{
    const struct virt_ops ops = {.hmp = fake_hmp};
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t len = sizeof(addr);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct probe_action a = {.kind = PROBE_TCP, .address = "127.0.0.1", .t = {.timeout_ms = 500}};
    struct vmirs_err *err = NULL;

    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(lfd, (struct sockaddr *) &addr, sizeof(addr)), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *) &addr, &len), 0);
    assert_int_equal(listen(lfd, 4), 0);
    a.guest_port = ntohs(addr.sin_port);
    a.host_port = 1; /* must not be used */
    hmp_calls = 0;
    assert_int_equal(probe_run(&ops, NULL, "default_x", &a, &err), 0);
    assert_int_equal(hmp_calls, 0);
    close(lfd);
    assert_int_equal(probe_run(&ops, NULL, "default_x", &a, &err), -1);
    assert_string_equal(err->msg, "connection refused");
    err_free(&err);
    a.address = "10.0.2";
    assert_int_equal(probe_run(&ops, NULL, "default_x", &a, &err), -1);
    assert_string_equal(err->msg, "`10.0.2` is not an IPv4 address");
    err_free(&err);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_kind),
        cmocka_unit_test(test_readiness_thresholds),
        cmocka_unit_test(test_liveness),
        cmocka_unit_test(test_action_copy),
        cmocka_unit_test(test_guest_ports),
        cmocka_unit_test(test_http_probes),
        cmocka_unit_test(test_usernet),
        cmocka_unit_test(test_tcp_probes),
        cmocka_unit_test(test_tcp_direct),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
