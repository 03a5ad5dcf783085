/* Blocking work (libvirt calls, image extraction, qemu-img) off the loop
 * thread, at most max_parallel at once; the rest waits in a FIFO. The
 * limit lives here, in the module that owns the resource (STYLE rule 12). */
#ifndef VMIRS_WORKQ_H
#define VMIRS_WORKQ_H

#include <stddef.h>
#include <uv.h>

struct workq;

/* Runs in a threadpool thread: do the blocking part, return 0 or -1 and
 * put an error message in *errmsg (malloc'd; libvirt's errors are per
 * thread, so they must be copied here). */
typedef int (*workq_work_fn)(void *arg, char **errmsg);
/* Runs on the loop thread afterwards with the result; owns arg and errmsg. */
typedef void (*workq_done_fn)(void *arg, int rc, char *errmsg);

/* A queue on loop running at most max_parallel items at once. */
struct workq *workq_new(uv_loop_t *loop, unsigned max_parallel);

/* Queue one item; done is always called, on the loop thread. */
void workq_submit(struct workq *q, workq_work_fn work, workq_done_fn done, void *arg);

/* Items running and waiting. */
size_t workq_running(const struct workq *q);
size_t workq_waiting(const struct workq *q);

/* Free the queue; it must be idle (nothing running or waiting). */
void workq_free(struct workq *q);

/* The libuv threadpool size to set (UV_THREADPOOL_SIZE, before the loop
 * starts) so that max_parallel items never wait for a thread. */
unsigned workq_threadpool_size(unsigned max_parallel);

#endif
