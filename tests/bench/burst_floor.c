/* The two clocks of tests/bench/bench_burst.sh, on one libvirt URI:
 *
 *   burst_floor floor URI TEMPLATE N
 *     The floor: N virDomainCreateXML calls in a loop on one connection,
 *     each of TEMPLATE (the domain XML vmirsd --render prints) with
 *     @NAME@ and @UUID@ replaced by a fresh name and UUID. Prints the
 *     seconds the loop took, then destroys the N domains (not timed).
 *
 *   burst_floor watch URI PREFIX N SRC DEST
 *     vmirsd's time: with a lifecycle callback registered, rename(SRC,
 *     DEST) (the manifest drop), then wait until N domains whose names
 *     start with PREFIX have started. Prints the seconds from the rename
 *     to the last STARTED event. Gives up after 300 s (exit 1). */
#include "config.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static const char *prefix;
static int started;
static double last_started_at;

static double
now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void
quiet(void *opaque, virErrorPtr e)
{
}

static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text = NULL;
    size_t len = 0;

    if (!f || getdelim(&text, &len, 0, f) < 0) {
        perror(path);
        exit(2);
    }
    fclose(f);
    return text;
}

/* TEMPLATE with every @NAME@ and @UUID@ replaced. */
static char *
instantiate(const char *tmpl, const char *name, const char *uuid)
{
    size_t cap = strlen(tmpl) + 1024, n = 0;
    char *out = malloc(cap);
    const char *p = tmpl;

    if (!out)
        abort();
    while (*p) {
        const char *with = NULL;
        size_t skip = 0;

        if (strncmp(p, "@NAME@", 6) == 0)
            with = name, skip = 6;
        else if (strncmp(p, "@UUID@", 6) == 0)
            with = uuid, skip = 6;
        if (with) {
            size_t l = strlen(with);

            if (n + l + 1 >= cap)
                out = realloc(out, cap = 2 * cap + l);
            memcpy(out + n, with, l);
            n += l;
            p += skip;
        } else {
            if (n + 2 >= cap)
                out = realloc(out, cap *= 2);
            out[n++] = *p++;
        }
        if (!out)
            abort();
    }
    out[n] = '\0';
    return out;
}

static int
floor_mode(virConnectPtr c, const char *template_path, int n)
{
    char *tmpl = slurp(template_path), **xml = calloc((size_t) n, sizeof(*xml));
    virDomainPtr *doms = calloc((size_t) n, sizeof(*doms));
    double t0, t;
    int bad = 0;

    if (!xml || !doms)
        abort();
    /* The XML is made before the clock starts: vmirsd renders it too, but
     * the floor is libvirt's cost, not the renderer's. */
    for (int i = 0; i < n; i++) {
        char name[64], uuid[40];

        snprintf(name, sizeof(name), "benchfloor%06d", i);
        snprintf(uuid, sizeof(uuid), "6e0c1d2a-0000-4000-8000-%012x", (unsigned) i);
        xml[i] = instantiate(tmpl, name, uuid);
    }
    t0 = now();
    for (int i = 0; i < n; i++) {
        doms[i] = virDomainCreateXML(c, xml[i], 0);
        if (!doms[i] && bad++ == 0)
            fprintf(stderr, "create: %s\n", virGetLastErrorMessage());
    }
    t = now() - t0;
    for (int i = 0; i < n; i++) {
        if (doms[i]) {
            virDomainDestroy(doms[i]);
            virDomainFree(doms[i]);
        }
        free(xml[i]);
    }
    free(xml);
    free(doms);
    free(tmpl);
    if (bad) {
        fprintf(stderr, "%d of %d creates failed\n", bad, n);
        return 1;
    }
    printf("%.4f\n", t);
    return 0;
}

static int
on_lifecycle(virConnectPtr c, virDomainPtr dom, int event, int detail, void *opaque)
{
    double t = now();

    if (event != VIR_DOMAIN_EVENT_STARTED ||
        strncmp(virDomainGetName(dom), prefix, strlen(prefix)) != 0)
        return 0;
    pthread_mutex_lock(&lock);
    started++;
    last_started_at = t;
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

static int
watch_mode(virConnectPtr c, int n, const char *src, const char *dest)
{
    struct timespec deadline;
    double t0;
    int got;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 300;
    t0 = now();
    if (rename(src, dest) < 0) {
        perror(dest);
        return 2;
    }
    pthread_mutex_lock(&lock);
    while (started < n && pthread_cond_timedwait(&cond, &lock, &deadline) == 0)
        ;
    got = started;
    pthread_mutex_unlock(&lock);
    if (got < n) {
        fprintf(stderr, "only %d of %d started within 300 s\n", got, n);
        return 1;
    }
    printf("%.4f\n", last_started_at - t0);
    return 0;
}

int
main(int argc, char **argv)
{
    virConnectPtr c;
    pthread_t th;
    int watch = argc == 7 && strcmp(argv[1], "watch") == 0;

    if (!watch && !(argc == 5 && strcmp(argv[1], "floor") == 0)) {
        fprintf(stderr,
                "usage: %s floor URI TEMPLATE N | watch URI PREFIX N SRC DEST\n", argv[0]);
        return 2;
    }
    virSetErrorFunc(NULL, quiet);
    if (watch && virEventRegisterDefaultImpl() < 0)
        return 2;
    c = virConnectOpen(argv[2]);
    if (!c) {
        fprintf(stderr, "connect to %s: %s\n", argv[2], virGetLastErrorMessage());
        return 2;
    }
    if (!watch)
        return floor_mode(c, argv[3], atoi(argv[4]));
    prefix = argv[3];
    if (virConnectDomainEventRegisterAny(c, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                         VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), NULL,
                                         NULL) < 0 ||
        pthread_create(&th, NULL, event_thread, NULL) != 0) {
        fprintf(stderr, "register events: %s\n", virGetLastErrorMessage());
        return 2;
    }
    return watch_mode(c, atoi(argv[4]), argv[5], argv[6]);
}
