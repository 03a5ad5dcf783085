/* The intent journal, the crash guard of creates (state_dir/intents):
 * a line is appended before each create (intents_append, on the worker
 * that creates), a "done" line settles it, the file is truncated when
 * nothing is in flight, and after a restart intents_recover turns the
 * unsettled lines into pending replicas. Loop thread, except
 * intents_append. */
#include "config.h"

#define LOG_COMPONENT "controller"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "controller_int.h"
#include "backoff.h"
#include "desired.h"
#include "materialize.h"
#include "probe.h"
#include "reconcile.h"
#include "selector.h"
#include "store.h"
#include "util.h"
#include "vmirs_parse.h"

#include "log.h"

/* The record that makes a create survive vmirsd's death: one line in
 * the intent journal, appended before the domain exists. One write(2) to
 * an O_APPEND file is atomic with respect to the other workers' lines.
 * No fsync: it guards against the daemon dying, not the host (a host
 * crash takes the transient domains with it). A per-replica file would do
 * the same job at the cost of an inode per replica, which measured as the
 * largest part of a burst's work. */
int
intents_append(int fd, const struct replica_id *id, struct vmirs_err **err)
{
    cleanup_free char *line = xasprintf("%s %s %u %lld\n", id->domain_name, id->vmirs_uid, id->slot,
                                        (long long) clock_wall_ms());
    ssize_t w = write(fd, line, strlen(line));

    if (w != (ssize_t) strlen(line))
        return err_set(err, w < 0 ? errno : EIO, "record the replica `%s` in the intent journal",
                       id->domain_name);
    return 0;
}

/* Open state_dir/intents for appending; -1 (logged) when it cannot be. */
int
intents_open(const struct vmirs_conf *conf)
{
    cleanup_free char *path = xasprintf("%s/%s", conf->state_dir, INTENT_JOURNAL);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

    if (fd < 0)
        log_error("open the intent journal %s: %s", path, strerror(errno));
    return fd;
}

/* Creates recorded before a restart whose domains are not (yet) in
 * libvirt: pending for a while (libvirtd may still be finishing one),
 * then given up. Replica directories that belong to no replica are
 * removed. Runs once, after the first list, before any create. */
void
intents_recover(struct controller *c)
{
    cleanup_free char *path = xasprintf("%s/%s", c->conf->state_dir, INTENT_JOURNAL);
    cleanup_free char *text = NULL, *dir = xasprintf("%s/replicas", c->conf->state_dir);
    int64_t wall = clock_wall_ms();
    DIR *d;
    struct dirent *e;

    if (read_file(path, &text, NULL) == 0) {
        /* "NAME done" lines settle the intent of that name. */
        size_t nlines = 0, ndone = 0;
        char **lines = NULL, **done = NULL;

        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
            char name[256], word[128];

            lines = xrealloc(lines, (nlines + 1) * sizeof(*lines));
            lines[nlines++] = line;
            if (sscanf(line, "%255s %127s", name, word) == 2 && strcmp(word, "done") == 0) {
                done = xrealloc(done, (ndone + 1) * sizeof(*done));
                done[ndone++] = line;
                line[strlen(name)] = '\0';
            }
        }
        for (size_t i = 0; i < nlines; i++) {
            char name[256], uid[128];
            unsigned slot;
            long long t;
            struct replica *r;
            bool settled = false;

            if (sscanf(lines[i], "%255s %127s %u %lld", name, uid, &slot, &t) != 4 ||
                rep_find(c, name) || wall - t > INTENT_GRACE_MS)
                continue;
            for (size_t k = 0; k < ndone && !settled; k++)
                settled = strcmp(done[k], name) == 0;
            if (settled)
                continue;
            r = rep_add(c, name);
            r->meta.owner_uid = xstrdup(uid);
            r->meta.slot = slot;
            r->intent = true;
            r->phantom = true;
            r->phase = PHASE_PENDING;
            r->gen = c->gen;
            log_info("replica `%s` was being created before a restart: counted as pending", name);
            rs_mark_replica_dirty(c, r);
        }
        free(lines);
        free(done);
    }
    /* Start the journal afresh with what is still pending. */
    if (ftruncate(c->journal_fd, 0) < 0)
        log_warn("truncate %s: %s", path, strerror(errno));
    c->journal_lines = 0;
    for (size_t i = 0; i < c->nreps; i++) {
        const struct replica *r = c->reps[i];
        cleanup_free char *line = NULL;

        if (!r->intent)
            continue;
        line = xasprintf("%s %s %u %lld\n", r->name, r->meta.owner_uid, r->meta.slot,
                         (long long) wall);
        if (write(c->journal_fd, line, strlen(line)) < 0)
            log_warn("write %s: %s", path, strerror(errno));
        c->journal_lines++;
    }

    d = opendir(dir);
    if (!d)
        return;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || rep_find(c, e->d_name))
            continue;
        log_info("remove the files of replica `%s`: its domain no longer exists", e->d_name);
        dispatch_submit(c, job_new(JOB_REAP, e->d_name));
    }
    closedir(d);
}

/* Record that the create of domain name is over (made or failed), so
 * that no later restart takes it for one in flight. */
void
intents_settle(struct controller *c, const char *name)
{
    cleanup_free char *line = xasprintf("%s done\n", name);

    if (c->journal_fd >= 0 && write(c->journal_fd, line, strlen(line)) < 0)
        log_warn("write the intent journal: %s", strerror(errno));
    c->journal_lines++;
}

/* A create is over (made or failed): settle its intent, count the line
 * the worker appended, and start the journal afresh when it has grown
 * long and no create is in flight. */
void
intents_create_over(struct controller *c, const char *name)
{
    intents_settle(c, name);
    c->journal_lines++; /* the intent line the worker wrote */
    if (c->journal_lines > INTENT_JOURNAL_MAX_LINES) {
        bool creating = false;

        for (size_t i = 0; i < c->nsets; i++)
            creating = creating || c->sets[i]->inflight > 0;
        /* With nothing in flight every line is settled: the domain exists
         * (and carries its own metadata) or the create failed. */
        if (!creating && ftruncate(c->journal_fd, 0) == 0)
            c->journal_lines = 0;
    }
}
