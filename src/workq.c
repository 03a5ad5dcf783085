#include "config.h"

#include "workq.h"

#include <assert.h>
#include <stdlib.h>

#include "util.h"

/* One queued or running item. The uv_work_t is embedded: libuv hands it
 * back to both callbacks and container_of-style arithmetic finds the item. */
struct workq_item {
    uv_work_t req;
    struct workq *q;
    workq_work_fn work;
    workq_done_fn done;
    void *arg;
    int rc;
    char *errmsg;
    struct workq_item *next; /* FIFO link while waiting */
};

struct workq {
    uv_loop_t *loop;
    uv_thread_t loop_tid; /* the thread that created it: everything but work runs there */
    unsigned max_parallel;
    size_t running;
    size_t waiting;
    struct workq_item *head, *tail; /* waiting items, oldest first */
};

struct workq *
workq_new(uv_loop_t *loop, unsigned max_parallel)
{
    struct workq *q = xcalloc(1, sizeof(*q));

    assert(max_parallel > 0);
    q->loop = loop;
    q->loop_tid = uv_thread_self();
    q->max_parallel = max_parallel;
    return q;
}

static void
workq_on_work(uv_work_t *req)
{
    struct workq_item *it = (struct workq_item *) req;

    it->rc = it->work(it->arg, &it->errmsg);
}

static void workq_pump(struct workq *q);

static void
workq_on_done(uv_work_t *req, int status)
{
    struct workq_item *it = (struct workq_item *) req;
    struct workq *q = it->q;

    /* Nothing cancels our requests (uv_cancel is never called), but the
     * contract is that done always runs with a result. */
    if (status == UV_ECANCELED && it->rc == 0) {
        it->rc = -1;
        it->errmsg = xstrdup("cancelled");
    }
    q->running--;
    /* Start the next item before calling done: done may free an idle
     * queue, after which q must not be touched. */
    workq_pump(q);
    it->done(it->arg, it->rc, it->errmsg);
    free(it);
}

/* Start waiting items, oldest first, while fewer than max_parallel run. */
static void
workq_pump(struct workq *q)
{
    while (q->head && q->running < q->max_parallel) {
        struct workq_item *it = q->head;
        int r;

        q->head = it->next;
        if (!q->head)
            q->tail = NULL;
        q->waiting--;
        q->running++;
        r = uv_queue_work(q->loop, &it->req, workq_on_work, workq_on_done);
        /* uv_queue_work fails only without a work callback. */
        assert(r == 0);
        (void) r;
    }
}

void
workq_submit(struct workq *q, workq_work_fn work, workq_done_fn done, void *arg)
{
    struct workq_item *it = xcalloc(1, sizeof(*it));
    uv_thread_t self = uv_thread_self();

    /* The counters and the FIFO are loop-thread state, like every libuv
     * handle; a worker that wants more work must go through the loop. */
    assert(uv_thread_equal(&self, &q->loop_tid));
    (void) self;
    it->q = q;
    it->work = work;
    it->done = done;
    it->arg = arg;
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    q->waiting++;
    workq_pump(q);
}

size_t
workq_running(const struct workq *q)
{
    return q->running;
}

size_t
workq_waiting(const struct workq *q)
{
    return q->waiting;
}

void
workq_free(struct workq *q)
{
    if (!q)
        return;
    assert(q->running == 0 && q->waiting == 0);
    free(q);
}

/* One threadpool thread per item that may run, plus two. libuv's pool is
 * shared by everything that blocks: the uv_fs_* calls (the spool scan,
 * image cache writes) and getaddrinfo queue there too. If the pool were
 * exactly max_parallel threads, a burst of slow libvirt calls (a QEMU
 * create can take seconds) would leave a file operation on the loop's
 * critical path waiting behind them; two spare threads keep that path
 * moving. The alternative, a thread pool of our own for libvirt, costs
 * more code for the same effect. libuv caps the pool at 1024. */
unsigned
workq_threadpool_size(unsigned max_parallel)
{
    return max_parallel > 1022 ? 1024 : max_parallel + 2;
}
