/* The schema of a readiness or liveness probe: one handler (exec,
 * tcpSocket, httpGet, guestAgentPing) and its timings. */
#include "config.h"

#include "vmi_parse.h"

#include "schema_macros.h"
#include "vmi_parse_int.h"

static const char *const scheme_names[] = {"HTTP", "HTTPS", NULL};

static const struct yfield exec_fields[] = {
    F_STRARRAY(struct exec_action, "command", command, .flags = YFL_REQUIRED | YFL_NONEMPTY),
};
static const struct yschema exec_schema = YSCHEMA(struct exec_action, exec_fields, NOPOS, NULL);

static const struct yfield tcp_fields[] = {
    F_INTORSTR(struct tcp_action, "port", port, .flags = YFL_REQUIRED),
    F_STR(struct tcp_action, "host", host),
};
static const struct yschema tcp_schema = YSCHEMA(struct tcp_action, tcp_fields, NOPOS, NULL);

static const struct yfield http_header_fields[] = {
    F_STR(struct http_header, "name", name, .flags = YFL_REQUIRED | YFL_NONEMPTY),
    F_STR(struct http_header, "value", value, .flags = YFL_REQUIRED),
};
static const struct yschema http_header_schema =
    YSCHEMA(struct http_header, http_header_fields, NOPOS, NULL);

static const struct yfield http_fields[] = {
    F_STR(struct http_action, "path", path),
    F_INTORSTR(struct http_action, "port", port, .flags = YFL_REQUIRED),
    F_STR(struct http_action, "host", host),
    F_ENUM(struct http_action, "scheme", scheme, scheme_names),
    F_ARRAY(struct http_action, "httpHeaders", http_headers, http_header_schema),
};
static const struct yschema http_schema = YSCHEMA(struct http_action, http_fields, NOPOS, NULL);

static const struct yfield empty_action_fields[] = {
    F_ACCEPT("_"),
};
static const struct yschema empty_action_schema =
    YSCHEMA(struct empty_action, empty_action_fields, NOPOS, NULL);

static void probe_check(struct yctx *c, yaml_node_t *map, void *obj);

static const struct yfield probe_fields[] = {
    F_PSTRUCT(struct probe, "exec", exec, exec_schema),
    F_PSTRUCT(struct probe, "tcpSocket", tcp_socket, tcp_schema),
    F_PSTRUCT(struct probe, "httpGet", http_get, http_schema),
    F_PSTRUCT(struct probe, "guestAgentPing", guest_agent_ping, empty_action_schema),
    F_INT(struct probe, "initialDelaySeconds", initial_delay_seconds, 0, INT32_MAX),
    F_INT(struct probe, "timeoutSeconds", timeout_seconds, 1, INT32_MAX),
    F_INT(struct probe, "periodSeconds", period_seconds, 1, INT32_MAX),
    F_INT(struct probe, "successThreshold", success_threshold, 1, INT32_MAX),
    F_INT(struct probe, "failureThreshold", failure_threshold, 1, INT32_MAX),
};
const struct yschema vmi_probe_schema = YSCHEMA(struct probe, probe_fields, NOPOS, probe_check);

/* A numeric port of the probe's handler (tcpSocket or httpGet) is a TCP
 * port; a named one is checked against the interfaces' ports later. */
static void
check_probe_port(struct yctx *c, yaml_node_t *probe, const char *handler,
                 const struct int_or_str *p)
{
    if (p->set && !p->is_str && (p->i < 1 || p->i > 65535) &&
        ynode_dig(c, probe, YPATH(handler, "port")))
        yerror_at(c, probe, YPATH(handler, "port"),
                  "Invalid value: %lld: must be between 1 and 65535, inclusive", (long long) p->i);
}

static void
probe_check(struct yctx *c, yaml_node_t *map, void *obj)
{
    struct probe *p = obj;
    int handlers = !!p->exec + !!p->tcp_socket + !!p->http_get + !!p->guest_agent_ping;

    if (handlers == 0)
        yerror(c, map,
               "Required value: must specify a handler type: one of exec, httpGet, tcpSocket or "
               "guestAgentPing");
    else if (handlers > 1)
        yerror(c, map, "Forbidden: may not specify more than 1 handler type");
    if (p->tcp_socket)
        check_probe_port(c, map, "tcpSocket", &p->tcp_socket->port);
    if (p->http_get)
        check_probe_port(c, map, "httpGet", &p->http_get->port);
}
