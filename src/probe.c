#include "config.h"

#include "probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util.h"

/* How long a tcpSocket probe waits for the guest's refusal (EOF) or first
 * bytes before it asks QEMU about the connection. */
#define PROBE_TCP_SETTLE_MS 300

enum probe_kind
probe_kind_of(const struct probe *p)
{
    if (!p)
        return PROBE_NONE;
    if (p->guest_agent_ping)
        return PROBE_AGENT_PING;
    if (p->exec)
        return PROBE_EXEC;
    if (p->tcp_socket)
        return PROBE_TCP;
    if (p->http_get)
        return PROBE_HTTP;
    return PROBE_NONE;
}

void
probe_timing_of(const struct probe *p, struct probe_timing *t)
{
    /* Kubernetes: a period or threshold below 1 means its default. */
    t->initial_delay_ms = p->initial_delay_seconds.set ? p->initial_delay_seconds.v * 1000 : 0;
    t->period_ms = (p->period_seconds.set && p->period_seconds.v > 0 ? p->period_seconds.v
                                                                     : PROBE_DEFAULT_PERIOD_S) *
                   1000;
    t->timeout_ms = (p->timeout_seconds.set && p->timeout_seconds.v > 0 ? p->timeout_seconds.v
                                                                        : PROBE_DEFAULT_TIMEOUT_S) *
                    1000;
    t->success_threshold = p->success_threshold.set && p->success_threshold.v > 0
                               ? (unsigned) p->success_threshold.v
                               : 1;
    t->failure_threshold = p->failure_threshold.set && p->failure_threshold.v > 0
                               ? (unsigned) p->failure_threshold.v
                               : PROBE_DEFAULT_FAILURE_THRESHOLD;
}

void
probe_start(struct probe_state *st, const struct probe_timing *t, bool initial, int64_t started_ms)
{
    *st = (struct probe_state){.result = initial, .next_ms = started_ms + t->initial_delay_ms};
}

bool
probe_record(struct probe_state *st, const struct probe_timing *t, bool ok, int64_t now_ms)
{
    bool before = st->result;

    st->running = false;
    st->next_ms = now_ms + t->period_ms;
    if (ok) {
        st->successes++;
        st->failures = 0;
        if (st->successes >= t->success_threshold)
            st->result = true;
    } else {
        st->failures++;
        st->successes = 0;
        if (st->failures >= t->failure_threshold)
            st->result = false;
    }
    return st->result != before;
}

/* The agent's timeout is whole seconds, at least 1. */
static int
timeout_s(const struct probe_timing *t)
{
    return t->timeout_ms >= 2000 ? (int) (t->timeout_ms / 1000) : 1;
}

static int
probe_agent_ping(const struct virt_ops *ops, struct virt *v, const char *domain,
                 const struct probe_timing *t, struct vmirs_err **err)
{
    cleanup_free char *reply = NULL;

    return ops->agent(v, domain, "{\"execute\":\"guest-ping\"}", timeout_s(t), &reply, err);
}

/* guest-exec, then guest-exec-status until the command exits or the
 * probe's time is up; passes when it exits 0, as Kubernetes' exec. */
static int
probe_exec(const struct virt_ops *ops, struct virt *v, const char *domain,
           const struct probe_action *a, struct vmirs_err **err)
{
    const struct probe_timing *t = &a->t;
    json_t *args = json_array(), *req;
    cleanup_free char *text = NULL, *reply = NULL;
    json_t *answer;
    json_int_t pid;
    int64_t start;

    if (a->argc == 0)
        return err_set(err, 0, "exec probe without a command");
    for (size_t i = 1; i < a->argc; i++)
        json_array_append_new(args, json_string(a->argv[i]));
    req = json_pack("{ss s{ss so sb}}", "execute", "guest-exec", "arguments", "path", a->argv[0],
                    "arg", args, "capture-output", 1);
    text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (ops->agent(v, domain, text, timeout_s(t), &reply, err) < 0)
        return -1;
    answer = json_loads(reply, 0, NULL);
    if (json_unpack(answer, "{s{sI}}", "return", "pid", &pid) < 0) {
        json_decref(answer);
        return err_set(err, 0, "guest-exec gave no pid");
    }
    json_decref(answer);
    start = clock_mono_ms();
    for (;;) {
        cleanup_free char *status = xasprintf(
            "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":%" JSON_INTEGER_FORMAT "}}",
            pid);
        cleanup_free char *out = NULL;
        int exited = 0;
        json_int_t code = -1;
        int64_t elapsed;

        if (ops->agent(v, domain, status, timeout_s(t), &out, err) < 0)
            return -1;
        answer = json_loads(out, 0, NULL);
        json_unpack(answer, "{s{sb s?I}}", "return", "exited", &exited, "exitcode", &code);
        json_decref(answer);
        if (exited) {
            if (code == 0)
                return 0;
            return err_set(err, 0, "command `%s` exited with status %lld", a->argv[0],
                           (long long) code);
        }
        elapsed = clock_mono_ms() - start;
        if (elapsed >= t->timeout_ms)
            return err_set(err, 0, "command `%s` timed out after %llds", a->argv[0],
                           (long long) (t->timeout_ms / 1000));
        nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    }
}

/* A port by number, or by the name of one of the interfaces' ports. */
static unsigned
probe_port_number(const struct int_or_str *port, const struct vmi_spec *spec)
{
    if (!port->set)
        return 0;
    if (!port->is_str)
        return port->i > 0 && port->i < 65536 ? (unsigned) port->i : 0;
    for (size_t i = 0; spec && i < spec->domain.devices.interfaces.n; i++) {
        const struct iface *iface = &spec->domain.devices.interfaces.v[i];

        for (size_t j = 0; j < iface->ports.n; j++)
            if (streq0(iface->ports.v[j].name, port->s) && iface->ports.v[j].port.set)
                return (unsigned) iface->ports.v[j].port.v;
    }
    return 0;
}

/* A connection (or forward) through host_port in state, in the text. */
static bool
usernet_has(const char *usernet, unsigned host_port, const char *want)
{
    cleanup_free char *copy = xstrdup(usernet ? usernet : "");
    char *save = NULL;

    /* "  TCP[ESTABLISHED]  21  127.0.0.1 31501  10.0.2.15  8081 ...": a
     * forwarded connection is listed under the forward's host port. */
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char state[64], src[64];
        unsigned port;
        int fd;

        if (sscanf(line, " TCP[%63[^]]] %d %63s %u", state, &fd, src, &port) == 4 &&
            port == host_port && strcmp(state, want) == 0)
            return true;
    }
    return false;
}

bool
probe_usernet_forwarded(const char *usernet, unsigned host_port)
{
    return usernet_has(usernet, host_port, "HOST_FORWARD");
}

bool
probe_usernet_established(const char *usernet, unsigned host_port)
{
    return usernet_has(usernet, host_port, "ESTABLISHED");
}

/* tcpSocket through a user-mode forward: QEMU accepts the host's connection
 * itself and only then connects to the guest (notes/networking.md). The
 * guest refusing shows as EOF, the guest answering as data; a connection
 * open and quiet is either a silent listener or a guest that has not
 * answered QEMU's SYN (still booting), which only QEMU can tell: its
 * "info usernet" says ESTABLISHED for the first. */
static int
probe_tcp(const struct virt_ops *ops, struct virt *v, const char *domain,
          const struct probe_action *a, struct vmirs_err **err)
{
    /* On a libvirt network the guest's own address, where a connection
     * that is accepted is accepted by the guest: no settling, no QEMU. */
    bool direct = a->address != NULL;
    unsigned port = direct ? a->guest_port : a->host_port;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    int64_t deadline = clock_mono_ms() + a->t.timeout_ms;
    cleanup_close int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct pollfd p;
    char byte;
    int rc;

    if (fd < 0)
        return err_set(err, errno, "socket");
    if (!direct)
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, a->address, &addr.sin_addr) != 1)
        return err_set(err, 0, "`%s` is not an IPv4 address", a->address);
    if (connect(fd, (struct sockaddr *) &addr, sizeof(addr)) < 0 && errno != EINPROGRESS)
        return err_set(err, errno, "connect to %s:%u", direct ? a->address : "127.0.0.1", port);
    p = (struct pollfd){.fd = fd, .events = POLLOUT};
    if (poll(&p, 1, (int) (deadline - clock_mono_ms())) <= 0)
        return err_set(err, 0, "connect: no answer within the probe's timeout");
    {
        int soerr = 0;
        socklen_t len = sizeof(soerr);

        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
        if (soerr) /* libuv's wording, as the httpGet probe reports it */
            return err_set(err, 0, "%s", uv_strerror(uv_translate_sys_error(soerr)));
    }
    if (direct)
        return 0;
    /* A moment for the guest's answer to reach QEMU and come back. */
    p = (struct pollfd){.fd = fd, .events = POLLIN};
    rc =
        poll(&p, 1,
             (int) (a->t.timeout_ms < PROBE_TCP_SETTLE_MS ? a->t.timeout_ms : PROBE_TCP_SETTLE_MS));
    if (rc > 0) {
        ssize_t n = recv(fd, &byte, 1, MSG_PEEK);

        if (n > 0)
            return 0; /* the guest spoke first */
        return err_set(err, 0, "connection closed: nothing listens on the port");
    }
    for (;;) {
        cleanup_free char *usernet = NULL;

        if (ops->hmp(v, domain, "info usernet", &usernet, err) < 0)
            return -1;
        if (probe_usernet_established(usernet, a->host_port))
            return 0;
        if (clock_mono_ms() + 100 >= deadline)
            return err_set(err, 0, "the guest did not accept the connection");
        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    }
}

void
probe_action_of(const struct probe *p, const struct vmi_spec *spec, struct probe_action *a)
{
    *a = (struct probe_action){.kind = probe_kind_of(p)};
    if (a->kind == PROBE_NONE)
        return;
    probe_timing_of(p, &a->t);
    if (a->kind == PROBE_EXEC) {
        a->argc = p->exec->command.n;
        a->argv = xcalloc(a->argc ? a->argc : 1, sizeof(*a->argv));
        for (size_t i = 0; i < a->argc; i++)
            a->argv[i] = xstrdup(p->exec->command.v[i]);
    } else if (a->kind == PROBE_TCP) {
        a->guest_port = probe_port_number(&p->tcp_socket->port, spec);
    } else if (a->kind == PROBE_HTTP) {
        const struct http_action *h = p->http_get;
        char *headers = xstrdup("");

        a->guest_port = probe_port_number(&h->port, spec);
        a->path = xstrdup(h->path && *h->path ? h->path : "/");
        a->https = h->scheme && strcasecmp(h->scheme, "HTTPS") == 0;
        for (size_t i = 0; i < h->http_headers.n; i++) {
            char *next = xasprintf("%s%s: %s\r\n", headers, h->http_headers.v[i].name,
                                   h->http_headers.v[i].value ? h->http_headers.v[i].value : "");

            free(headers);
            headers = next;
        }
        a->headers = headers;
    }
}

void
probe_action_free(struct probe_action *a)
{
    for (size_t i = 0; i < a->argc; i++)
        free(a->argv[i]);
    free(a->argv);
    free(a->path);
    free(a->headers);
    free(a->address);
    *a = (struct probe_action){0};
}

int
probe_run(const struct virt_ops *ops, struct virt *v, const char *domain,
          const struct probe_action *a, struct vmirs_err **err)
{
    switch (a->kind) {
    case PROBE_AGENT_PING:
        return probe_agent_ping(ops, v, domain, &a->t, err);
    case PROBE_EXEC:
        return probe_exec(ops, v, domain, a, err);
    case PROBE_TCP:
        return probe_tcp(ops, v, domain, a, err);
    case PROBE_HTTP:
        /* It runs on the loop: probe_net_start. */
        return err_set(err, 0, "an httpGet probe cannot run in a worker");
    case PROBE_NONE:
        break;
    }
    return 0;
}

static int
cmp_unsigned(const void *a, const void *b)
{
    unsigned x = *(const unsigned *) a, y = *(const unsigned *) b;

    return x < y ? -1 : x > y;
}

size_t
probe_guest_ports(const struct vmi_spec *spec, unsigned *out, size_t max)
{
    size_t n = 0, k = 0;
    const struct probe *probes[] = {spec->readiness_probe, spec->liveness_probe};

    for (size_t i = 0; i < spec->domain.devices.interfaces.n; i++) {
        const struct iface *iface = &spec->domain.devices.interfaces.v[i];

        for (size_t j = 0; j < iface->ports.n && n < max; j++) {
            const struct port *p = &iface->ports.v[j];

            if (p->port.set && p->port.v > 0 && p->port.v < 65536 &&
                (!p->protocol || strcasecmp(p->protocol, "TCP") == 0))
                out[n++] = (unsigned) p->port.v;
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(probes) && n < max; i++) {
        const struct probe *p = probes[i];
        unsigned port = 0;

        if (p && p->tcp_socket)
            port = probe_port_number(&p->tcp_socket->port, spec);
        else if (p && p->http_get)
            port = probe_port_number(&p->http_get->port, spec);
        if (port)
            out[n++] = port;
    }
    qsort(out, n, sizeof(*out), cmp_unsigned);
    for (size_t i = 0; i < n; i++)
        if (k == 0 || out[k - 1] != out[i])
            out[k++] = out[i];
    return k;
}

/* ---- httpGet, on the loop ---- */

struct net_probe {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t connect;
    uv_write_t write;
    int open_handles;
    bool finished, connected;
    char *request;
    char reply[512];
    size_t reply_len;
    probe_net_done_fn done;
    void *opaque;
};

static void
net_on_closed(uv_handle_t *h)
{
    struct net_probe *p = h->data;

    if (--p->open_handles == 0) {
        free(p->request);
        free(p);
    }
}

static void
net_finish(struct net_probe *p, int rc, const char *why)
{
    if (p->finished)
        return;
    p->finished = true;
    p->done(p->opaque, rc, why);
    uv_close((uv_handle_t *) &p->tcp, net_on_closed);
    uv_close((uv_handle_t *) &p->timer, net_on_closed);
}

static void
net_on_timer(uv_timer_t *t)
{
    struct net_probe *p = t->data;

    net_finish(p, -1,
               p->connected ? "no answer within the probe's timeout"
                            : "connect: no answer within the probe's timeout");
}

static void
net_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct net_probe *p = h->data;

    buf->base = p->reply + p->reply_len;
    buf->len = sizeof(p->reply) - 1 - p->reply_len;
}

/* "HTTP/1.1 200 OK": Kubernetes passes 200 to 399. */
static void
net_check_status(struct net_probe *p, bool eof)
{
    unsigned code;
    char why[160];

    p->reply[p->reply_len] = '\0';
    if (!strstr(p->reply, "\r\n") && !eof && p->reply_len < sizeof(p->reply) - 1)
        return;
    if (sscanf(p->reply, "HTTP/%*u.%*u %u", &code) != 1) {
        net_finish(p, -1,
                   eof && p->reply_len == 0 ? "connection closed without an answer"
                                            : "the answer is not HTTP");
        return;
    }
    if (code >= 200 && code < 400) {
        net_finish(p, 0, NULL);
        return;
    }
    snprintf(why, sizeof(why), "HTTP probe failed with statuscode: %u", code);
    net_finish(p, -1, why);
}

static void
net_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct net_probe *p = s->data;

    if (p->finished)
        return;
    if (n < 0) {
        net_check_status(p, true);
        return;
    }
    p->reply_len += (size_t) n;
    net_check_status(p, false);
}

static void
net_on_write(uv_write_t *w, int status)
{
    struct net_probe *p = w->data;

    if (status < 0 && !p->finished)
        net_finish(p, -1, uv_strerror(status));
}

static void
net_on_connect(uv_connect_t *req, int status)
{
    struct net_probe *p = req->data;
    uv_buf_t b;

    if (p->finished)
        return;
    if (status < 0) {
        net_finish(p, -1, uv_strerror(status));
        return;
    }
    p->connected = true;
    uv_read_start((uv_stream_t *) &p->tcp, net_alloc, net_on_read);
    b = uv_buf_init(p->request, (unsigned) strlen(p->request));
    p->write.data = p;
    uv_write(&p->write, (uv_stream_t *) &p->tcp, &b, 1, net_on_write);
}

void
probe_net_start(uv_loop_t *loop, const struct probe_action *a, probe_net_done_fn done, void *opaque)
{
    struct net_probe *p = xcalloc(1, sizeof(*p));
    const char *host = a->address ? a->address : "127.0.0.1";
    unsigned port = a->address ? a->guest_port : a->host_port;
    struct sockaddr_in addr;

    p->done = done;
    p->opaque = opaque;
    uv_tcp_init(loop, &p->tcp);
    uv_timer_init(loop, &p->timer);
    p->tcp.data = p->timer.data = p->connect.data = p;
    p->open_handles = 2;
    p->request = xasprintf("GET %s HTTP/1.1\r\nHost: %s:%u\r\n"
                           "User-Agent: vmirsd-probe/" PACKAGE_VERSION "\r\n"
                           "Accept: */*\r\n%sConnection: close\r\n\r\n",
                           a->path ? a->path : "/", host, port, a->headers ? a->headers : "");
    /* Kubernetes skips certificate checks for HTTPS probes; vmirsd has no
     * TLS client for them yet. */
    if (a->https) {
        net_finish(p, -1, "HTTPS probes are not supported");
        return;
    }
    if (uv_ip4_addr(host, (int) port, &addr) < 0) {
        net_finish(p, -1, "not an IPv4 address");
        return;
    }
    uv_timer_start(&p->timer, net_on_timer, (uint64_t) a->t.timeout_ms, 0);
    if (uv_tcp_connect(&p->connect, &p->tcp, (const struct sockaddr *) &addr, net_on_connect) < 0)
        net_finish(p, -1, "connect failed");
}
