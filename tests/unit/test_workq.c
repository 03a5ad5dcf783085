/* The bounded work queue: never more than max_parallel items at once and
 * exactly that many when there is enough work, FIFO starts, done always
 * called on the loop thread with the error message handed over, and a
 * loop that closes cleanly afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>
#include <uv.h>

#include "util.h"
#include "workq.h"

/* The largest max_parallel used below; main sizes the pool for it. */
#define MAX_PARALLEL 8
#define MAX_ITEMS 64

static uv_thread_t main_tid;

/* Shared by the work functions of one run; reset by run_reset. */
static struct {
    unsigned target; /* min(max_parallel, items): the peak to reach */
    unsigned limit;  /* max_parallel */
    atomic_uint running;
    atomic_uint max_seen;
    atomic_uint completed;
    atomic_uint starts;
    atomic_bool peak;      /* target was reached once: stop holding items */
    atomic_bool violation; /* more than limit ran at once */
    int order[MAX_ITEMS];  /* ids in the order their work started */
    unsigned completed_at_start[MAX_ITEMS];
    size_t done;
    int done_ids[MAX_ITEMS];
} run;

struct item {
    int id;
    int fail; /* 0: succeed, 1: fail with a message, 2: fail without one */
    struct workq *q;
    bool free_queue_when_idle;
};

static void
run_reset(unsigned limit, unsigned items)
{
    memset(&run, 0, sizeof(run));
    run.limit = limit;
    run.target = limit < items ? limit : items;
}

static int
track_work(void *arg, char **errmsg)
{
    struct item *it = arg;
    unsigned seq = atomic_fetch_add(&run.starts, 1);
    unsigned now = atomic_fetch_add(&run.running, 1) + 1;
    unsigned max = atomic_load(&run.max_seen);
    int64_t deadline = clock_mono_ms() + 5000;

    run.order[seq] = it->id;
    run.completed_at_start[it->id] = atomic_load(&run.completed);
    while (now > max && !atomic_compare_exchange_weak(&run.max_seen, &max, now))
        ;
    if (now > run.limit)
        atomic_store(&run.violation, true);
    if (now == run.target)
        atomic_store(&run.peak, true);
    /* Hold every item until the peak has been reached once, so that the
     * peak is reached whenever the queue allows it, however the threads
     * are scheduled; then hold each briefly so that items overlap. */
    while (!atomic_load(&run.peak) && clock_mono_ms() < deadline)
        usleep(1000);
    usleep(1000);
    atomic_fetch_sub(&run.running, 1);
    atomic_fetch_add(&run.completed, 1);
    if (it->fail == 1)
        *errmsg = xasprintf("item %d failed", it->id);
    return it->fail ? -1 : 0;
}

static void
track_done(void *arg, int rc, char *errmsg)
{
    struct item *it = arg;
    uv_thread_t self = uv_thread_self();

    assert_true(uv_thread_equal(&self, &main_tid));
    run.done_ids[run.done++] = it->id;
    if (it->fail == 1) {
        char want[32];

        snprintf(want, sizeof(want), "item %d failed", it->id);
        assert_int_equal(rc, -1);
        assert_non_null(errmsg);
        assert_string_equal(errmsg, want);
    } else {
        assert_int_equal(rc, it->fail ? -1 : 0);
        assert_null(errmsg);
    }
    free(errmsg); /* done owns it */
    if (it->free_queue_when_idle && workq_running(it->q) == 0 && workq_waiting(it->q) == 0)
        workq_free(it->q);
    free(it);
}

static void
check_concurrency(unsigned max_parallel, unsigned n)
{
    uv_loop_t loop;
    struct workq *q;

    assert_true(n <= MAX_ITEMS);
    run_reset(max_parallel, n);
    assert_int_equal(uv_loop_init(&loop), 0);
    q = workq_new(&loop, max_parallel);
    for (unsigned i = 0; i < n; i++) {
        struct item *it = xcalloc(1, sizeof(*it));

        it->id = (int) i;
        it->fail = i % 3 == 1 ? 1 : i % 3 == 2 ? 2 : 0;
        workq_submit(q, track_work, track_done, it);
    }
    assert_int_equal(workq_running(q), run.target);
    assert_int_equal(workq_waiting(q), n - run.target);

    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);

    assert_int_equal(run.done, n);
    assert_int_equal(workq_running(q), 0);
    assert_int_equal(workq_waiting(q), 0);
    assert_false(atomic_load(&run.violation));
    assert_int_equal(atomic_load(&run.max_seen), run.target);
    /* FIFO: the first max_parallel items start first, and item i starts
     * only once i - max_parallel + 1 earlier items have finished. */
    for (unsigned i = 0; i < run.target; i++)
        assert_true(run.order[i] < (int) run.target);
    for (unsigned i = max_parallel; i < n; i++)
        assert_true(run.completed_at_start[i] >= i - max_parallel + 1);
    if (max_parallel == 1)
        for (unsigned i = 0; i < n; i++)
            assert_int_equal(run.order[i], (int) i);

    workq_free(q);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void
test_serial(void **state)
{
    check_concurrency(1, 6);
}

static void
test_parallel(void **state)
{
    check_concurrency(2, 9);
    check_concurrency(4, 4);
    check_concurrency(6, 30);
    check_concurrency(MAX_PARALLEL, MAX_ITEMS);
}

static void
test_fewer_items_than_limit(void **state)
{
    check_concurrency(MAX_PARALLEL, 3);
    check_concurrency(5, 1);
}

/* A done callback may submit more work, and the last one may free the
 * queue it ran on. */
struct chain {
    struct workq *q;
    int left;
    int ran;
};

static int
chain_work(void *arg, char **errmsg)
{
    struct chain *c = arg;

    c->ran++;
    return 0;
}

static void
chain_done(void *arg, int rc, char *errmsg)
{
    struct chain *c = arg;

    assert_int_equal(rc, 0);
    if (--c->left > 0) {
        workq_submit(c->q, chain_work, chain_done, c);
        return;
    }
    assert_int_equal(workq_running(c->q), 0);
    assert_int_equal(workq_waiting(c->q), 0);
    workq_free(c->q);
    c->q = NULL;
}

static void
test_submit_from_done(void **state)
{
    struct chain c = {.left = 5};
    uv_loop_t loop;

    assert_int_equal(uv_loop_init(&loop), 0);
    c.q = workq_new(&loop, 2);
    workq_submit(c.q, chain_work, chain_done, &c);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(c.ran, 5);
    assert_null(c.q);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* The last done frees the queue while other items' dones have run. */
static void
test_free_from_last_done(void **state)
{
    uv_loop_t loop;
    struct workq *q;

    run_reset(3, 7);
    assert_int_equal(uv_loop_init(&loop), 0);
    q = workq_new(&loop, 3);
    for (int i = 0; i < 7; i++) {
        struct item *it = xcalloc(1, sizeof(*it));

        it->id = i;
        it->q = q;
        it->free_queue_when_idle = true;
        workq_submit(q, track_work, track_done, it);
    }
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(run.done, 7);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void
test_threadpool_size(void **state)
{
    static const struct {
        unsigned max_parallel, want;
    } cases[] = {
        {1, 3}, {5, 7}, {8, 10}, {1022, 1024}, {1023, 1024}, {100000, 1024},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        assert_int_equal(workq_threadpool_size(cases[i].max_parallel), cases[i].want);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serial),
        cmocka_unit_test(test_parallel),
        cmocka_unit_test(test_fewer_items_than_limit),
        cmocka_unit_test(test_submit_from_done),
        cmocka_unit_test(test_free_from_last_done),
        cmocka_unit_test(test_threadpool_size),
    };
    char size[16];

    /* libuv reads UV_THREADPOOL_SIZE once, when the first work item is
     * queued anywhere in the process: set it before any loop exists. With
     * the default 4 threads, MAX_PARALLEL items could never run at once
     * and test_parallel would time out its peak. */
    snprintf(size, sizeof(size), "%u", workq_threadpool_size(MAX_PARALLEL));
    setenv("UV_THREADPOOL_SIZE", size, 1);
    main_tid = uv_thread_self();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
