#include "config.h"

#include "volume.h"

#include "err.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define VOLUME_MIB ((uint64_t) 1 << 20)
/* Search-only for others: QEMU runs as another user (libvirt-qemu) and
 * must reach the files libvirt hands it, but nobody may list the tree.
 * The files themselves are 0600 and libvirt relabels them for QEMU. */
#define VOLUME_DIR_MODE 0711
/* qemu-img says what went wrong in a line or two; more is noise. */
#define VOLUME_STDERR_MAX 4096
/* Replica directories are flat. A deeper tree was not made by vmirsd, and
 * the limit bounds the recursion and the descriptors it holds open. */
#define VOLUME_MAX_DEPTH 16

extern char **environ;

/* A replica directory's name is the domain's: one path component, so that
 * it can neither escape replicas/ nor name replicas/ itself. */
static int
volume_check_name(const char *action, const char *name, struct vmirs_err **err)
{
    if (name && *name && !strchr(name, '/') && strcmp(name, ".") != 0 && strcmp(name, "..") != 0)
        return 0;
    return err_set(err, 0,
                   "%s replica directory: invalid name `%s`: must be a single path component",
                   action, name ? name : "");
}

/* mkdir the replica directory; an existing directory is fine. It must not
 * be a symlink; its parents may be (an operator may link state_dir
 * elsewhere), which mkdir_parents allows. */
static int
volume_mkdir_replica(const char *path, struct vmirs_err **err)
{
    struct stat st;

    /* Exclusive: a directory that exists belongs to another replica of the
     * same name (a live one, or one being removed), whose disks a create
     * must never write into or, failing, remove. */
    if (mkdir(path, VOLUME_DIR_MODE) == 0)
        return 0;
    if (errno == EEXIST && lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return err_set(err, 0,
                       "create replica directory `%s`: it exists: another replica has "
                       "this name",
                       path);
    if (errno == EEXIST)
        errno = ENOTDIR;
    return err_set(err, errno, "create replica directory `%s`", path);
}

int
volume_replica_dir_create(const char *state_dir, const char *domain_name, char **dir,
                          struct vmirs_err **err)
{
    cleanup_free char *path = NULL, *parent = NULL, *failed = NULL;

    if (volume_check_name("create", domain_name, err) < 0)
        return -1;
    if (!state_dir || !*state_dir)
        return err_set(err, 0, "create replica directory: empty state directory");
    path = xasprintf("%s/replicas/%s", state_dir, domain_name);
    parent = xasprintf("%s/replicas", state_dir);
    if (mkdir_parents(parent, VOLUME_DIR_MODE, &failed) < 0)
        return err_set(err, errno, "create replica directory `%s`: create `%s`", path, failed);
    if (volume_mkdir_replica(path, err) < 0)
        return -1;
    *dir = steal_ptr(&path);
    return 0;
}

/* qemu-img's stderr as one line in the house style: its own "qemu-img: "
 * prefixes dropped (the caller adds one), lines joined with "; ", surrounding
 * space and a closing period trimmed. */
STATIC char *volume_tidy_stderr(const char *s);

STATIC char *
volume_tidy_stderr(const char *s)
{
    size_t n = strlen(s);
    char *out = xmalloc(n * 2 + 1), *o = out;
    const char *p = s;

    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t) (eol - p) : strlen(p);

        while (len > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        if (len >= 10 && strncmp(p, "qemu-img: ", 10) == 0) {
            p += 10;
            len -= 10;
        }
        while (len > 0 && strchr(" \t\r.", p[len - 1]))
            len--;
        if (len > 0) {
            if (o != out) {
                memcpy(o, "; ", 2);
                o += 2;
            }
            memcpy(o, p, len);
            o += len;
        }
        p += len;
        p = eol ? eol + 1 : p + strlen(p);
    }
    *o = '\0';
    return out;
}

/* Run qemu-img with argv (no shell, so paths need no quoting) and wait for
 * it. On failure the error reads "<what> `<path>`: qemu-img: <its stderr>". */
static int
volume_qemu_img(char *const argv[], const char *what, const char *path, struct vmirs_err **err)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t mask, dflt;
    cleanup_close int rfd = -1;
    char buf[VOLUME_STDERR_MAX + 1];
    cleanup_free char *msg = NULL;
    size_t got = 0;
    int pfd[2], status, r;
    pid_t pid;

    if (pipe2(pfd, O_CLOEXEC) < 0)
        return err_set(err, errno, "%s `%s`: run qemu-img: pipe", what, path);
    rfd = pfd[0];
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
    /* The daemon holds libvirt, libuv and SQLite descriptors, not all of
     * them close-on-exec; qemu-img needs none of them. */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    /* A worker thread may block signals and the daemon may ignore SIGPIPE;
     * qemu-img starts with neither. */
    posix_spawnattr_init(&attr);
    sigemptyset(&mask);
    sigfillset(&dflt);
    posix_spawnattr_setsigmask(&attr, &mask);
    posix_spawnattr_setsigdefault(&attr, &dflt);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    r = posix_spawnp(&pid, "qemu-img", &fa, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    if (r != 0)
        return err_set(err, r, "%s `%s`: run qemu-img", what, path);

    /* Read to EOF even past the cap, so qemu-img never blocks on a full
     * pipe; only the start is kept. */
    for (;;) {
        char sink[512];
        ssize_t n;

        if (got < VOLUME_STDERR_MAX)
            n = read(rfd, buf + got, VOLUME_STDERR_MAX - got);
        else
            n = read(rfd, sink, sizeof(sink));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (got < VOLUME_STDERR_MAX)
            got += (size_t) n;
    }
    buf[got] = '\0';
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return err_set(err, errno, "%s `%s`: wait for qemu-img", what, path);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    msg = volume_tidy_stderr(buf);
    if (*msg)
        return err_set(err, 0, "%s `%s`: qemu-img: %s", what, path, msg);
    if (WIFSIGNALED(status))
        return err_set(err, 0, "%s `%s`: qemu-img: killed by signal %d", what, path,
                       WTERMSIG(status));
    return err_set(err, 0, "%s `%s`: qemu-img: exited with status %d", what, path,
                   WEXITSTATUS(status));
}

int
volume_overlay_create(const char *path, const char *backing, const char *backing_format,
                      struct vmirs_err **err)
{
    const char *what = "create overlay";

    if (!backing_format ||
        (strcmp(backing_format, "raw") != 0 && strcmp(backing_format, "qcow2") != 0))
        return err_set(err, 0, "%s `%s`: unsupported backing format `%s`: must be raw or qcow2",
                       what, path, backing_format ? backing_format : "");
    /* qemu-img reads "proto:..." before the first '/' as a protocol and a
     * relative backing name as relative to the overlay's directory; an
     * absolute path avoids both surprises. */
    if (path[0] != '/')
        return err_set(err, 0, "%s `%s`: must be an absolute path", what, path);
    if (!backing || backing[0] != '/')
        return err_set(err, 0, "%s `%s`: backing file `%s` must be an absolute path", what, path,
                       backing ? backing : "");
    {
        char *const argv[] = {
            "qemu-img",
            "create",
            "-q",
            "-f",
            "qcow2",
            "-F",
            (char *) backing_format,
            "-b",
            (char *) backing,
            (char *) path,
            NULL,
        };

        return volume_qemu_img(argv, what, path, err);
    }
}

int
volume_empty_disk_create(const char *path, uint64_t bytes, struct vmirs_err **err)
{
    const char *what = "create empty disk";
    uint64_t size = bytes - bytes % VOLUME_MIB;
    char sizebuf[32];

    if (size == 0)
        return err_set(err, 0, "%s `%s`: capacity of %" PRIu64 " bytes is less than 1 MiB", what,
                       path, bytes);
    if (path[0] != '/')
        return err_set(err, 0, "%s `%s`: must be an absolute path", what, path);
    snprintf(sizebuf, sizeof(sizebuf), "%" PRIu64, size);
    {
        char *const argv[] = {
            "qemu-img", "create", "-q", "-f", "qcow2", (char *) path, sizebuf, NULL,
        };

        return volume_qemu_img(argv, what, path, err);
    }
}

/* Remove name in directory at and, if it is a directory, everything in it. Nothing
 * is followed: a symlink is removed, never its target, and O_NOFOLLOW
 * catches a directory swapped for a symlink between the stat and the open.
 * path is for messages only. */
static int
volume_remove_at(int at, const char *name, const char *path, int depth, struct vmirs_err **err)
{
    struct stat st;
    bool removed;
    DIR *d;
    int fd;

    if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return 0;
        return err_set(err, errno, "remove `%s`", path);
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(at, name, 0) < 0 && errno != ENOENT)
            return err_set(err, errno, "remove `%s`", path);
        return 0;
    }
    if (depth >= VOLUME_MAX_DEPTH)
        return err_set(err, 0, "remove `%s`: nested more than %d levels deep", path,
                       VOLUME_MAX_DEPTH);
    fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return err_set(err, errno, "remove `%s`", path);
    }
    d = fdopendir(fd);
    if (!d) {
        err_set(err, errno, "remove `%s`", path);
        close(fd);
        return -1;
    }
    /* POSIX leaves open whether readdir still reports entries removed
     * since opendir; passes repeat until one removes nothing. */
    do {
        struct dirent *e;

        removed = false;
        rewinddir(d);
        for (;;) {
            cleanup_free char *child = NULL;

            errno = 0;
            e = readdir(d);
            if (!e)
                break;
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            child = xasprintf("%s/%s", path, e->d_name);
            if (volume_remove_at(fd, e->d_name, child, depth + 1, err) < 0) {
                closedir(d);
                return -1;
            }
            removed = true;
        }
        if (errno) {
            err_set(err, errno, "remove `%s`: read directory", path);
            closedir(d);
            return -1;
        }
    } while (removed);
    closedir(d);
    if (unlinkat(at, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return err_set(err, errno, "remove `%s`", path);
    return 0;
}

int
volume_replica_dir_remove(const char *state_dir, const char *domain_name, struct vmirs_err **err)
{
    cleanup_free char *parent = NULL;
    cleanup_free char *path = NULL;
    cleanup_close int fd = -1;

    if (volume_check_name("remove", domain_name, err) < 0)
        return -1;
    parent = xasprintf("%s/replicas", state_dir);
    path = xasprintf("%s/%s", parent, domain_name);
    fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return err_set(err, errno, "remove replica directory `%s`", path);
    }
    if (volume_remove_at(fd, domain_name, path, 0, err) < 0)
        return err_wrap(err, "remove replica directory `%s`", path);
    return 0;
}
