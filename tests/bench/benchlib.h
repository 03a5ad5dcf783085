/* Helpers shared by the benchmarks of tests/bench (header only: each
 * benchmark is one program). The libvirt URI is $BENCH_URI, by default
 * the shared mock hypervisor test+unix:///default; `make bench` runs the
 * benchmarks against a private libvirtd (tests/bench/run_bench.sh). The
 * daemon runs with -v and its stderr on a pipe: a thread reads it, stamps
 * every line with CLOCK_MONOTONIC as it arrives, keeps it in memory and
 * copies it to DIR/vmirsd.log, so a benchmark can tell when a log line
 * came out to within the pipe's latency. */
#ifndef VMIRS_BENCHLIB_H
#define VMIRS_BENCHLIB_H

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static inline const char *
bench_uri(void)
{
    const char *u = getenv("BENCH_URI");

    return u && *u ? u : "test+unix:///default";
}

static inline double
bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void
bench_quiet(void *opaque, virErrorPtr e)
{
}

static int
bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}

static inline double
bench_median(double *v, int n)
{
    qsort(v, (size_t) n, sizeof(double), bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- the daemon and its log ---- */

struct bench_line {
    double t;
    char *text;
};

static struct {
    char dir[64];
    pid_t pid;
    int fd;
    pthread_t reader;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct bench_line *lines;
    size_t n, cap;
    bool eof;
    FILE *copy;
} bd = {.dir = "/tmp/vmirs-bench.XXXXXX", .lock = PTHREAD_MUTEX_INITIALIZER,
        .cond = PTHREAD_COND_INITIALIZER};

static void *
bench_reader(void *arg)
{
    FILE *f = fdopen(bd.fd, "r");
    char *text = NULL;
    size_t len = 0;
    ssize_t n;

    while ((n = getline(&text, &len, f)) > 0) {
        double t = bench_now();

        if (text[n - 1] == '\n')
            text[n - 1] = '\0';
        pthread_mutex_lock(&bd.lock);
        if (bd.n == bd.cap) {
            bd.cap = bd.cap ? 2 * bd.cap : 4096;
            bd.lines = realloc(bd.lines, bd.cap * sizeof(*bd.lines));
        }
        bd.lines[bd.n++] = (struct bench_line){t, strdup(text)};
        if (bd.copy)
            fprintf(bd.copy, "%.6f %s\n", t, text);
        pthread_cond_broadcast(&bd.cond);
        pthread_mutex_unlock(&bd.lock);
    }
    free(text);
    fclose(f);
    pthread_mutex_lock(&bd.lock);
    bd.eof = true;
    pthread_cond_broadcast(&bd.cond);
    pthread_mutex_unlock(&bd.lock);
    return NULL;
}

/* A fresh directory with spool/ and state/ and a configuration for it. */
static inline void
bench_setup(const char *extra_conf)
{
    char path[256];
    FILE *f;

    if (!mkdtemp(bd.dir)) {
        perror("mkdtemp");
        exit(99);
    }
    snprintf(path, sizeof(path), "%s/spool", bd.dir);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/state", bd.dir);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/vmirsd.conf", bd.dir);
    f = fopen(path, "w");
    fprintf(f,
            "spool_dir = %s/spool\nstate_dir = %s/state\nlibvirt_uri = %s\ndomain_type = test\n%s",
            bd.dir, bd.dir, bench_uri(), extra_conf ? extra_conf : "");
    fclose(f);
    snprintf(path, sizeof(path), "%s/vmirsd.log", bd.dir);
    bd.copy = fopen(path, "a");
    setvbuf(bd.copy, NULL, _IOLBF, 0);
}

/* Start vmirsd -v; returns the index of its first log line, and sets
 * *t0 to the moment just before the fork. */
static inline size_t
bench_daemon_start(const char *vmirsd, double *t0)
{
    int fds[2];
    char conf[256];
    size_t first;

    snprintf(conf, sizeof(conf), "%s/vmirsd.conf", bd.dir);
    if (pipe(fds) < 0)
        exit(99);
    pthread_mutex_lock(&bd.lock);
    first = bd.n;
    bd.eof = false;
    pthread_mutex_unlock(&bd.lock);
    fflush(stdout);
    fflush(stderr);
    if (t0)
        *t0 = bench_now();
    bd.pid = fork();
    if (bd.pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        execl(vmirsd, vmirsd, "-v", "-c", conf, (char *) NULL);
        _exit(127);
    }
    close(fds[1]);
    bd.fd = fds[0];
    pthread_create(&bd.reader, NULL, bench_reader, NULL);
    return first;
}

/* Stop the daemon with SIG and wait for it and for the end of its log. */
static inline void
bench_daemon_stop(int sig)
{
    if (bd.pid <= 0)
        return;
    kill(bd.pid, sig);
    waitpid(bd.pid, NULL, 0);
    pthread_join(bd.reader, NULL);
    bd.pid = 0;
}

/* The first log line at index >= from containing every one of the
 * NULL-terminated substrings; waits up to timeout seconds. Returns its
 * index, or -1; *t is when it was read. */
static inline long
bench_wait_line(size_t from, double timeout, double *t, const char *const *subs)
{
    double end = bench_now() + timeout;
    long found = -1;

    pthread_mutex_lock(&bd.lock);
    for (;;) {
        for (; from < bd.n && found < 0; from++) {
            bool all = true;

            for (int k = 0; subs[k] && all; k++)
                all = strstr(bd.lines[from].text, subs[k]) != NULL;
            if (all) {
                found = (long) from;
                if (t)
                    *t = bd.lines[from].t;
            }
        }
        if (found >= 0 || bd.eof || bench_now() >= end)
            break;
        {
            struct timespec ts;

            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 20 * 1000 * 1000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&bd.cond, &bd.lock, &ts);
        }
    }
    pthread_mutex_unlock(&bd.lock);
    return found;
}

#define BENCH_WAIT(from, timeout, t, ...)                                                          \
    bench_wait_line((from), (timeout), (t), (const char *const[]){__VA_ARGS__, NULL})

/* How many log lines in [from, to) contain every substring. */
static inline size_t
bench_count_lines(size_t from, size_t to, const char *const *subs)
{
    size_t n = 0;

    pthread_mutex_lock(&bd.lock);
    if (to > bd.n)
        to = bd.n;
    for (size_t i = from; i < to; i++) {
        bool all = true;

        for (int k = 0; subs[k] && all; k++)
            all = strstr(bd.lines[i].text, subs[k]) != NULL;
        n += all;
    }
    pthread_mutex_unlock(&bd.lock);
    return n;
}

#define BENCH_COUNT(from, to, ...)                                                                 \
    bench_count_lines((from), (to), (const char *const[]){__VA_ARGS__, NULL})

static inline size_t
bench_nlines(void)
{
    size_t n;

    pthread_mutex_lock(&bd.lock);
    n = bd.n;
    pthread_mutex_unlock(&bd.lock);
    return n;
}

static inline const char *
bench_line_text(size_t i)
{
    const char *s;

    pthread_mutex_lock(&bd.lock);
    s = i < bd.n ? bd.lines[i].text : "";
    pthread_mutex_unlock(&bd.lock);
    return s;
}

/* spool/NAME.yaml, written to a hidden file and renamed. */
static inline void
bench_manifest(const char *name, int replicas)
{
    char path[256], tmp[256];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s/spool/.%s.tmp", bd.dir, name);
    snprintf(path, sizeof(path), "%s/spool/%s.yaml", bd.dir, name);
    f = fopen(tmp, "w");
    fprintf(
        f,
        "apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstanceReplicaSet\nmetadata: {name: %s}\n"
        "spec:\n  replicas: %d\n  selector: {matchLabels: {app: %s}}\n  template:\n"
        "    metadata: {labels: {app: %s}}\n    spec:\n      terminationGracePeriodSeconds: 0\n"
        "      domain: {memory: {guest: 64Mi}, devices: {autoattachPodInterface: false}}\n",
        name, replicas, name, name);
    fclose(f);
    rename(tmp, path);
}

static inline void
bench_cleanup_dir(void)
{
    char cmd[128];

    if (bd.copy)
        fclose(bd.copy);
    bd.copy = NULL;
    if (getenv("BENCH_KEEP")) {
        fprintf(stderr, "# kept %s\n", bd.dir);
        return;
    }
    snprintf(cmd, sizeof(cmd), "rm -rf %s", bd.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", bd.dir);
}

/* ---- processes ---- */

static inline void
bench_proc_usage(pid_t pid, double *cpu_s, long *rss_kib)
{
    char path[64], *text = NULL, *p;
    size_t len = 0;
    FILE *f;
    unsigned long ut = 0, st = 0;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
    f = fopen(path, "r");
    if (!f) {
        *cpu_s = 0;
        *rss_kib = 0;
        return;
    }
    if (getline(&text, &len, f) > 0 && (p = strrchr(text, ')')))
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
    fclose(f);
    *cpu_s = (double) (ut + st) / (double) sysconf(_SC_CLK_TCK);
    snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
    f = fopen(path, "r");
    while (f && getline(&text, &len, f) > 0)
        if (sscanf(text, "VmRSS: %ld", rss_kib) == 1)
            break;
    free(text);
    if (f)
        fclose(f);
}

/* ---- the domains ---- */

/* Running domains whose names start with prefix; with vmis, also checks
 * that no two carry the same VMI name in their vmirsd metadata (returns
 * the number of duplicates in *dups). */
static inline int
bench_count_domains(virConnectPtr c, const char *prefix, int *dups)
{
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(c, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    int count = 0, nv = 0;
    char **vmis = dups ? calloc((size_t) (n > 0 ? n : 1), sizeof(char *)) : NULL;

    if (dups)
        *dups = 0;
    for (int i = 0; i < n; i++) {
        if (strncmp(virDomainGetName(doms[i]), prefix, strlen(prefix)) == 0) {
            count++;
            if (dups) {
                char *m = virDomainGetMetadata(doms[i], VIR_DOMAIN_METADATA_ELEMENT,
                                               "urn:vmirsd:1", 0);
                char *p = m ? strstr(m, "vmi name=\"") : NULL;

                if (p) {
                    char *q;

                    p += strlen("vmi name=\"");
                    q = strchr(p, '"');
                    if (q)
                        *q = '\0';
                    for (int k = 0; k < nv; k++)
                        if (strcmp(vmis[k], p) == 0)
                            (*dups)++;
                    vmis[nv++] = strdup(p);
                } else
                    (*dups) += 0; /* no metadata yet: not a vmirsd replica */
                free(m);
            }
        }
        virDomainFree(doms[i]);
    }
    for (int k = 0; k < nv; k++)
        free(vmis[k]);
    free(vmis);
    free(doms);
    return n < 0 ? -1 : count;
}

static inline void
bench_destroy_prefix(virConnectPtr c, const char *prefix)
{
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(c, &doms, 0);

    for (int i = 0; i < n; i++) {
        if (strncmp(virDomainGetName(doms[i]), prefix, strlen(prefix)) == 0) {
            virDomainDestroy(doms[i]);
            virDomainUndefine(doms[i]);
        }
        virDomainFree(doms[i]);
    }
    free(doms);
}

/* Wait until exactly want domains with the prefix run; polls every 20 ms. */
static inline bool
bench_wait_count(virConnectPtr c, const char *prefix, int want, double timeout)
{
    double end = bench_now() + timeout;

    while (bench_count_domains(c, prefix, NULL) != want) {
        if (bench_now() >= end)
            return false;
        usleep(20 * 1000);
    }
    return true;
}

#endif
