#include "config.h"

#include "probe.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

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
    struct timespec start, now;

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
    clock_gettime(CLOCK_MONOTONIC, &start);
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
        clock_gettime(CLOCK_MONOTONIC, &now);
        elapsed =
            (int64_t) (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed >= t->timeout_ms)
            return err_set(err, 0, "command `%s` timed out after %llds", a->argv[0],
                           (long long) (t->timeout_ms / 1000));
        nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    }
}

void
probe_action_of(const struct probe *p, struct probe_action *a)
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
    }
}

void
probe_action_free(struct probe_action *a)
{
    for (size_t i = 0; i < a->argc; i++)
        free(a->argv[i]);
    free(a->argv);
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
    case PROBE_HTTP:
        return err_set(err, 0,
                       "tcpSocket and httpGet probes need a port forward, which this "
                       "network does not have yet");
    case PROBE_NONE:
        break;
    }
    return 0;
}
