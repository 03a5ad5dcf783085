/* Benchmarks of issue 10 on libvirtd's mock hypervisor ($BENCH_URI), each
 * printing its floor, the vmirsd figure, the ratio and whether the target
 * is met, floors measured in the same run:
 *   restart    - 200 replicas, kill -9 vmirsd, start it again: until its
 *                first reconcile pass has every replica counted (the -v
 *                line "default/brestart: desired 200, active 200"), and
 *                until READY=1 on its notify socket; floor: idle_floor,
 *                a bare client that connects as vmirsd does and lists the
 *                200 domains with their metadata, from fork to "ready".
 *                Then 100 kill -9 at random moments of an idle daemon:
 *                after each, exactly 200 domains and no two with one VMI
 *                name.
 *   scaledown  - 200 -> 0 with terminationGracePeriodSeconds 0, from the
 *                rename to the 200th STOPPED event; floor: 200
 *                virDomainDestroy in a loop on one connection.
 *   edits      - 100 atomic renames of one manifest within 1 s (replicas
 *                5 <-> 6): reconcile passes of that set (its -v "desired"
 *                lines) and store commits (the daemon's "N transactions
 *                committed" at SIGTERM, less a run without the edits).
 *   ctl        - `vmirsctl get vmis` with 1000 replicas: median of 20.
 *   growth     - RSS with 200 and with 1000 replicas (and idle_floor's).
 * Usage: bench_daemon VMIRSD VMIRSCTL IDLE_FLOOR [restarts]
 * BENCH_DAEMON_ONLY="restart scaledown edits big" picks some. */
#include "config.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "benchlib.h"

#define N 200
#define BIG 1000
#define NCONN 3 /* vmirsd's connections at max_parallel 8 (bench_controller.c) */

static virConnectPtr watch, floor_conn;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static const char *prefix = "";
static int stopped;
static double last_stopped_at;
static int fails;

static int
on_lifecycle(virConnectPtr c, virDomainPtr dom, int event, int detail, void *opaque)
{
    double t = bench_now();

    if (strncmp(virDomainGetName(dom), prefix, strlen(prefix)) != 0)
        return 0;
    pthread_mutex_lock(&lock);
    if (event == VIR_DOMAIN_EVENT_STOPPED) {
        stopped++;
        last_stopped_at = t;
    }
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    return 0;
}

static void *
event_thread(void *arg)
{
    for (;;)
        virEventRunDefaultImpl();
    return NULL;
}

static bool
wait_stopped(int want, double timeout)
{
    struct timespec ts;
    bool ok;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t) timeout;
    pthread_mutex_lock(&lock);
    while (stopped < want && pthread_cond_timedwait(&cond, &lock, &ts) == 0)
        ;
    ok = stopped >= want;
    pthread_mutex_unlock(&lock);
    return ok;
}

static char *
floor_xml(const char *name)
{
    char *x = NULL;

    if (asprintf(&x,
                 "<domain type='test'><name>%s</name><memory>65536</memory><os><type>hvm</type>"
                 "</os><metadata><vmirsd:replica xmlns:vmirsd='urn:vmirsd:1'><vmirsd:vmi "
                 "name='%s'/></vmirsd:replica></metadata></domain>",
                 name, name) < 0)
        abort();
    return x;
}

/* ---- the notify socket: READY=1 ---- */

static int notify_fd = -1;
static char notify_path[100];
static double ready_at;
static int ready_seq;

static void *
notify_thread(void *arg)
{
    char buf[4096];

    for (;;) {
        ssize_t n = recv(notify_fd, buf, sizeof(buf) - 1, 0);

        if (n < 0)
            return NULL;
        buf[n] = '\0';
        if (strstr(buf, "READY=1")) {
            pthread_mutex_lock(&lock);
            ready_at = bench_now();
            ready_seq++;
            pthread_cond_broadcast(&cond);
            pthread_mutex_unlock(&lock);
        }
    }
}

static void
notify_open(void)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    pthread_t th;

    snprintf(notify_path, sizeof(notify_path), "%s/notify", bd.dir);
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", notify_path);
    notify_fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (notify_fd < 0 || bind(notify_fd, (struct sockaddr *) &a, sizeof(a)) < 0) {
        perror("notify socket");
        exit(99);
    }
    setenv("NOTIFY_SOCKET", notify_path, 1);
    pthread_create(&th, NULL, notify_thread, NULL);
}

static bool
wait_ready(int seq, double timeout, double *t)
{
    struct timespec ts;
    bool ok;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t) timeout;
    pthread_mutex_lock(&lock);
    while (ready_seq <= seq && pthread_cond_timedwait(&cond, &lock, &ts) == 0)
        ;
    ok = ready_seq > seq;
    *t = ready_at;
    pthread_mutex_unlock(&lock);
    return ok;
}

/* ---- idle_floor ---- */

/* Fork idle_floor and wait for its "ready" line: *elapsed from the fork,
 * *rss its RSS 1 s later. */
static int
run_floor(const char *prog, double *elapsed, long *rss)
{
    int fds[2];
    char arg[16], line[64];
    pid_t pid;
    FILE *f;
    double t0, cpu;
    int rc = -1;

    if (pipe(fds) < 0)
        return -1;
    snprintf(arg, sizeof(arg), "%u", NCONN);
    fflush(stdout);
    t0 = bench_now();
    pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(prog, prog, arg, (char *) NULL);
        _exit(127);
    }
    close(fds[1]);
    f = fdopen(fds[0], "r");
    if (fgets(line, sizeof(line), f) && strncmp(line, "ready", 5) == 0) {
        if (elapsed)
            *elapsed = bench_now() - t0;
        if (rss) {
            sleep(1);
            bench_proc_usage(pid, &cpu, rss);
        }
        rc = 0;
    } else
        fprintf(stderr, "%s did not start\n", prog);
    fclose(f);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    return rc;
}

/* Wait until the log is quiet for quiet_s seconds (at most timeout). */
static void
wait_quiet(double quiet_s, double timeout)
{
    double end = bench_now() + timeout;
    size_t n = bench_nlines();

    for (;;) {
        usleep((useconds_t) (quiet_s * 1e6));
        if (bench_nlines() == n || bench_now() >= end)
            return;
        n = bench_nlines();
    }
}

static long
commits_at_stop(size_t from)
{
    long idx;
    unsigned long long n = 0;
    const char *p;

    bench_daemon_stop(SIGTERM);
    idx = BENCH_WAIT(from, 1, NULL, "transactions committed");
    if (idx < 0)
        return -1;
    /* "debug store: PATH: N transactions committed" */
    p = strstr(bench_line_text((size_t) idx), " transactions committed");
    while (p && p[-1] >= '0' && p[-1] <= '9')
        p--;
    if (!p || sscanf(p, "%llu", &n) != 1)
        return -1;
    return (long) n;
}

static const char *vmirsd, *vmirsctl, *idle_floor;

/* ---- restart ---- */

static void
bench_restart(int restarts)
{
    double fl[5], dm[5], rd[5], t0, t;
    int trials = 5, dups, bad = 0;
    size_t from;
    unsigned seed = (unsigned) time(NULL);

    bench_manifest("brestart", N);
    if (!bench_wait_count(watch, "default_brestart", N, 120)) {
        fprintf(stderr, "restart: the 200 replicas did not start\n");
        fails++;
        return;
    }
    wait_quiet(1, 10);
    for (int i = 0; i < trials; i++) {
        int seq;

        if (run_floor(idle_floor, &fl[i], NULL) < 0)
            fails++;
        bench_daemon_stop(SIGKILL);
        pthread_mutex_lock(&lock);
        seq = ready_seq;
        pthread_mutex_unlock(&lock);
        from = bench_daemon_start(vmirsd, &t0);
        if (BENCH_WAIT(from, 30, &t, "default/brestart: desired 200, active 200") < 0) {
            long any = BENCH_WAIT(from, 1, NULL, "default/brestart: desired");

            fprintf(stderr, "restart: no pass counted all 200 (first pass: %s)\n",
                    any >= 0 ? bench_line_text((size_t) any) : "none");
            fails++;
        }
        /* It must be the first pass of the set. */
        if (BENCH_COUNT(from, (size_t) BENCH_WAIT(from, 0, NULL, "default/brestart: desired") + 1,
                        "default/brestart: desired") != 1)
            fails++;
        dm[i] = t - t0;
        if (!wait_ready(seq, 10, &t)) {
            fprintf(stderr, "restart: no READY=1\n");
            fails++;
        }
        rd[i] = t - t0;
        wait_quiet(0.5, 5);
    }
    {
        double f = bench_median(fl, trials), d = bench_median(dm, trials),
               r = bench_median(rd, trials), target = 1.5 * f + 0.1;

        printf("restart:     floor %.1f ms (idle_floor: %u connections, list 200 domains and "
               "their metadata, fork to ready), vmirsd %.1f ms to the first pass with all 200 "
               "counted (READY=1 at %.1f ms), ratio %.2f; target <= 1.5 x floor + 100 ms = "
               "%.1f ms: %s; medians of %d (each: floor/vmirsd/READY",
               f * 1e3, NCONN, d * 1e3, r * 1e3, d / f, target * 1e3, d <= target ? "met" : "MISSED",
               trials);
        for (int i = 0; i < trials; i++)
            printf(" %.0f/%.0f/%.0f", fl[i] * 1e3, dm[i] * 1e3, rd[i] * 1e3);
        printf(" ms)\n");
        fflush(stdout);
    }

    /* 100 kill -9 at random moments while idle. */
    srand(seed);
    for (int i = 0; i < restarts; i++) {
        int n, wait_ms = rand() % 1500;

        bench_daemon_stop(SIGKILL);
        bench_daemon_start(vmirsd, NULL);
        usleep((useconds_t) wait_ms * 1000);
        bench_daemon_stop(SIGKILL);
        n = bench_count_domains(watch, "default_brestart", &dups);
        if (n != N || dups) {
            fprintf(stderr, "restart %d (killed %d ms after the start): %d domains, %d duplicate "
                            "VMI names\n",
                    i, wait_ms, n, dups);
            bad++;
        }
    }
    from = bench_daemon_start(vmirsd, NULL);
    if (BENCH_WAIT(from, 30, NULL, "default/brestart: desired 200, active 200") < 0)
        bad++;
    wait_quiet(1, 10);
    {
        int n = bench_count_domains(watch, "default_brestart", &dups);

        if (n != N || dups)
            bad++;
        printf("restarts:    %d kill -9 at random moments 0-1.5 s after a start (seed %u): %d "
               "bad (count != 200 or a duplicate VMI name; target 0), finally %d domains, %d "
               "duplicates: %s\n",
               restarts, seed, bad, n, dups, bad ? "MISSED" : "met");
        fflush(stdout);
    }
    fails += bad != 0;
}

/* ---- 200 -> 0 ---- */

static void
bench_scaledown(void)
{
    enum { TRIALS = 3 };
    double fl[TRIALS], dm[TRIALS];

    bench_manifest("brestart", N);

    for (int i = 0; i < TRIALS; i++) {
        double t0;
        int before;

        /* floor: 200 destroys on one connection */
        {
            virDomainPtr d[N];
            char name[64];

            for (int k = 0; k < N; k++) {
                char *x;

                snprintf(name, sizeof(name), "benchdownf%d", k);
                x = floor_xml(name);
                d[k] = virDomainCreateXML(floor_conn, x, 0);
                free(x);
            }
            t0 = bench_now();
            for (int k = 0; k < N; k++) {
                if (d[k]) {
                    virDomainDestroy(d[k]);
                    virDomainFree(d[k]);
                }
            }
            fl[i] = bench_now() - t0;
        }
        if (!bench_wait_count(watch, "default_brestart", N, 60)) {
            fails++;
            return;
        }
        wait_quiet(1, 10);
        pthread_mutex_lock(&lock);
        prefix = "default_brestart";
        stopped = 0;
        before = 0;
        pthread_mutex_unlock(&lock);
        t0 = bench_now();
        bench_manifest("brestart", 0);
        if (!wait_stopped(before + N, 60)) {
            fprintf(stderr, "scaledown: only %d of %d stopped\n", stopped, N);
            fails++;
        }
        dm[i] = last_stopped_at - t0;
        if (!bench_wait_count(watch, "default_brestart", 0, 10))
            fails++;
        if (i < TRIALS - 1)
            bench_manifest("brestart", N);
    }
    {
        double f = bench_median(fl, TRIALS), d = bench_median(dm, TRIALS), target = 1.25 * f + 0.1;

        printf("scaledown:   floor %.1f ms (200 virDomainDestroy, one connection), vmirsd %.1f ms "
               "(rename to the 200th STOPPED event), ratio %.2f; target <= 1.25 x floor + 100 ms "
               "= %.1f ms: %s; medians of %d (each: floor/vmirsd",
               f * 1e3, d * 1e3, d / f, target * 1e3, d <= target ? "met" : "MISSED", TRIALS);
        for (int i = 0; i < TRIALS; i++)
            printf(" %.0f/%.0f", fl[i] * 1e3, dm[i] * 1e3);
        printf(" ms)\n");
        fflush(stdout);
    }
}

/* ---- 100 edits within 1 s ---- */

static void
bench_edits(void)
{
    long base, edited;
    size_t from, e0, e1;
    double t0, t1;
    int n;

    bench_manifest("bedit", 5);
    bench_wait_count(watch, "default_bedit", 5, 30);
    wait_quiet(1, 10);
    /* A daemon's life without the edits ... */
    bench_daemon_stop(SIGTERM);
    from = bench_daemon_start(vmirsd, NULL);
    BENCH_WAIT(from, 30, NULL, "default/bedit: desired 5, active 5");
    wait_quiet(1, 10);
    base = commits_at_stop(from);
    /* ... and one with them. */
    from = bench_daemon_start(vmirsd, NULL);
    BENCH_WAIT(from, 30, NULL, "default/bedit: desired 5, active 5");
    wait_quiet(1, 10);
    e0 = bench_nlines();
    t0 = bench_now();
    for (int i = 1; i <= 100; i++) {
        bench_manifest("bedit", i % 2 ? 6 : 5);
        /* spread over about 0.9 s */
        while (bench_now() < t0 + i * 0.009)
            usleep(500);
    }
    t1 = bench_now();
    wait_quiet(1.5, 20);
    n = bench_count_domains(watch, "default_bedit", NULL);
    e1 = bench_nlines();
    edited = commits_at_stop(from);
    {
        size_t passes = BENCH_COUNT(e0, e1, "default/bedit: desired");
        size_t p6 = BENCH_COUNT(e0, e1, "default/bedit: desired 6,");
        size_t scans = BENCH_COUNT(e0, e1, "spool: scanned");
        long commits = base >= 0 && edited >= 0 ? edited - base : -1;

        printf("edits:       100 renames in %.0f ms (replicas 5 <-> 6, ending at 5): %zu spool scans, "
               "%zu reconcile passes of the set (%zu of them saw replicas 6), %ld store commits over a run "
               "without the edits (%ld against %ld), %d domains at the end; targets <= 3 passes, "
               "<= 1 commit per pass: %s\n",
               (t1 - t0) * 1e3, scans, passes, p6, commits, edited, base, n,
               passes <= 3 && commits >= 0 && commits <= (long) passes && n == 5 ? "met"
                                                                                  : "MISSED");
        fflush(stdout);
    }
    from = bench_daemon_start(vmirsd, NULL);
    {
        char path[256];

        snprintf(path, sizeof(path), "%s/spool/bedit.yaml", bd.dir);
        unlink(path);
    }
    bench_wait_count(watch, "default_bedit", 0, 30);
}

/* ---- RSS at 200 and 1000, vmirsctl get vmis at 1000 ---- */

static void
bench_big(void)
{
    long rss200 = 0, rss1000 = 0, f200 = 0, f1000 = 0;
    double cpu, runs[20], t0;
    char cmd[512];
    int rows = 0;

    bench_manifest("brestart", N);
    if (!bench_wait_count(watch, "default_brestart", N, 60)) {
        fails++;
        return;
    }
    wait_quiet(2, 20);
    sleep(3);
    bench_proc_usage(bd.pid, &cpu, &rss200);
    run_floor(idle_floor, NULL, &f200);
    t0 = bench_now();
    bench_manifest("brestart", BIG);
    if (!bench_wait_count(watch, "default_brestart", BIG, 300)) {
        fprintf(stderr, "growth: the 1000 replicas did not start\n");
        fails++;
        return;
    }
    printf("# 1000 replicas running %.1f s after the edit from 200\n", bench_now() - t0);
    wait_quiet(2, 30);
    sleep(3);
    bench_proc_usage(bd.pid, &cpu, &rss1000);
    run_floor(idle_floor, NULL, &f1000);
    {
        double per = (double) (rss1000 - rss200) / (BIG - N);

        printf("growth:      RSS with 200 replicas %.1f MiB (floor %.1f MiB, ratio %.2f), with "
               "1000 %.1f MiB (floor %.1f MiB, ratio %.2f): %.2f KiB per replica (floor %.2f); "
               "target <= 10 KiB per replica: %s\n",
               rss200 / 1024.0, f200 / 1024.0, (double) rss200 / (double) f200, rss1000 / 1024.0,
               f1000 / 1024.0, (double) rss1000 / (double) f1000, per,
               (double) (f1000 - f200) / (BIG - N), per <= 10 ? "met" : "MISSED");
        fails += per > 10;
    }
    /* vmirsctl reads the database. */
    snprintf(cmd, sizeof(cmd), "%s -c %s/vmirsd.conf get vmis | wc -l", vmirsctl, bd.dir);
    {
        FILE *p = popen(cmd, "r");

        if (!p || fscanf(p, "%d", &rows) != 1)
            rows = -1;
        if (p)
            pclose(p);
    }
    fflush(stdout);
    for (int i = 0; i < 20; i++) {
        pid_t pid;

        t0 = bench_now();
        pid = fork();
        if (pid == 0) {
            char conf[256];

            int null = open("/dev/null", O_WRONLY);

            snprintf(conf, sizeof(conf), "%s/vmirsd.conf", bd.dir);
            dup2(null, 1);
            execl(vmirsctl, vmirsctl, "-c", conf, "get", "vmis", (char *) NULL);
            _exit(127);
        }
        waitpid(pid, NULL, 0);
        runs[i] = bench_now() - t0;
    }
    {
        double m = bench_median(runs, 20);

        printf("ctl:         vmirsctl get vmis with %d rows (1000 replicas): median of 20 %.1f ms "
               "(min %.1f, max %.1f); target < 50 ms: %s\n",
               rows - 1, m * 1e3, runs[0] * 1e3, runs[19] * 1e3, m < 0.05 ? "met" : "MISSED");
        fails += m >= 0.05;
        fflush(stdout);
    }
}

int
main(int argc, char **argv)
{
    pthread_t th;
    int restarts = argc > 4 ? atoi(argv[4]) : 100;
    const char *only = getenv("BENCH_DAEMON_ONLY");

    if (argc < 4) {
        fprintf(stderr, "usage: bench_daemon VMIRSD VMIRSCTL IDLE_FLOOR [restarts]\n");
        return 2;
    }
    vmirsd = argv[1];
    vmirsctl = argv[2];
    idle_floor = argv[3];
    virSetErrorFunc(NULL, bench_quiet);
    virEventRegisterDefaultImpl();
    watch = virConnectOpen(bench_uri());
    floor_conn = virConnectOpen(bench_uri());
    if (!watch || !floor_conn) {
        fprintf(stderr, "cannot connect to %s\n", bench_uri());
        return 77;
    }
    virConnectDomainEventRegisterAny(watch, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                     VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), NULL, NULL);
    pthread_create(&th, NULL, event_thread, NULL);
    bench_setup("max_parallel = 8\n");
    notify_open();
    bench_daemon_start(vmirsd, NULL);
    if (!only || strstr(only, "restart"))
        bench_restart(restarts);
    if (!only || strstr(only, "scaledown"))
        bench_scaledown();
    if (!only || strstr(only, "edits"))
        bench_edits();
    if (!only || strstr(only, "big"))
        bench_big();
    bench_manifest("brestart", 0);
    bench_wait_count(watch, "default_brestart", 0, 60);
    bench_daemon_stop(SIGTERM);
    bench_destroy_prefix(watch, "default_b");
    bench_destroy_prefix(watch, "benchdownf");
    unlink(notify_path);
    bench_cleanup_dir();
    return fails ? 1 : 0;
}
