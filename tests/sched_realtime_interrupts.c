/* tests/sched_realtime_interrupts.c
 * Behaviour: a real-time thread (SCHED_FIFO, an OS thread of its own under greenrun) is
 * interrupted as any other thread. Blocked in a wait a signal does not end (SA_RESTART:
 * pthread_barrier_wait, pthread_mutex_lock, sem_wait, pthread_cond_wait, a raw FUTEX_WAIT,
 * read() on a pipe, waitpid()), it runs the handler of a signal pthread_kill sends it while it
 * stays blocked, and the wait then goes on and ends normally; the sender waits for the handler
 * before it releases the wait, so a handler that runs only once the wait ends deadlocks (and
 * fails here). With asynchronous cancellation, blocked in pthread_mutex_lock (no cancellation
 * point), it is cancelled at once; with deferred cancellation, pthread_cancel ends its
 * sem_wait. Computing the program's own code, it runs the handler at once. Skipped where the
 * kernel refuses SCHED_FIFO (EPERM). No thread computes at real-time priority longer than it
 * takes the signal to reach it (10 s at most when it never does).
 */
#include "check.h"

#include "handler_waits.h"

#define RT_PRIO 5

/* A thread under SCHED_FIFO from its first instruction, or a skip where that is refused. */
static pthread_t
spawn_rt(void *(*fn)(void *), void *arg)
{
    pthread_attr_t a;
    struct sched_param sp = { .sched_priority = RT_PRIO };
    pthread_t t;
    int err;

    CHECK_OK(pthread_attr_init(&a));
    CHECK_OK(pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED));
    CHECK_OK(pthread_attr_setschedpolicy(&a, SCHED_FIFO));
    CHECK_OK(pthread_attr_setschedparam(&a, &sp));
    err = pthread_create(&t, &a, fn, arg);
    if (err == EPERM)
        skip_test("SCHED_FIFO is not permitted here (EPERM)");
    CHECK_OK(err);
    CHECK_OK(pthread_attr_destroy(&a));
    return t;
}

/* A real-time thread blocked in one of handler_waits.h's waits runs the handler and waits on. */
static void
one_case(const char *name, void *(*fn)(void *), long nr, const char *reason, void (*release)(void))
{
    handler_case(name, spawn_rt, fn, nr, reason, release);
}

/* ---- A thread running the program's own code. */

static atomic_int spinning;

static void *
spinner(void *arg)
{
    long long end = now_ns(CLOCK_MONOTONIC) + 10LL * 1000000000LL;

    (void)arg;
    atomic_store(&spinning, 1);
    /* Computes, calling nothing, until the handler has run (10 s at most). */
    for (unsigned long i = 1; atomic_load_explicit(&handled, memory_order_relaxed) == 0; i++)
        if (i % (1ul << 20) == 0 && now_ns(CLOCK_MONOTONIC) > end)
            break;
    return NULL;
}

/* pthread_kill reaches a real-time thread that computes: its handler runs at once. */
static void
running_case(void)
{
    atomic_store(&handled, 0);
    atomic_store(&spinning, 0);
    pthread_t t = spawn_rt(spinner, NULL);
    WAIT_FOR(atomic_load(&spinning), 10);
    /* Again every 100 ms: a standard signal still pending is not sent twice. */
    for (int i = 0; i < 100 && atomic_load(&handled) == 0; i++) {
        CHECK_OK(pthread_kill(t, SIGUSR1));
        for (int j = 0; j < 100 && atomic_load(&handled) == 0; j++)
            sleep_ns(1000000);
    }
    CHECK(atomic_load(&handled) >= 1);
    CHECK(pthread_equal(handler_thread, t));
    join_within(t, 10);
    fprintf(stderr, "running: the handler ran while it computed\n");
}

/* ---- Cancellation. */

static atomic_int cleanups;

static void
count_cleanup(void *arg)
{
    (void)arg;
    atomic_fetch_add(&cleanups, 1);
}

static void *
async_locker(void *arg)
{
    (void)arg;
    pthread_cleanup_push(count_cleanup, NULL);
    CHECK_OK(pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, NULL));
    blocker_here(&blk, "asynchronous locker");
    CHECK_OK(pthread_mutex_lock(&mtx));
    pthread_cleanup_pop(0);
    return NULL;
}

static void *
deferred_sem_waiter(void *arg)
{
    (void)arg;
    pthread_cleanup_push(count_cleanup, NULL);
    blocker_here(&blk, "sem waiter");
    CHECK_OK(sem_wait(&sem));
    pthread_cleanup_pop(0);
    return NULL;
}

static void
cancel_case(const char *name, void *(*fn)(void *), const char *reason)
{
    int before = atomic_load(&cleanups);

    blocker_clear(&blk);
    pthread_t t = spawn_rt(fn, NULL);
    wait_blocked(&blk, SYS_futex, reason);
    CHECK_OK(pthread_cancel(t));
    CHECK(join_within(t, 10) == PTHREAD_CANCELED);
    CHECK_EQ(atomic_load(&cleanups), before + 1);
    fprintf(stderr, "%s: cancelled while it waited\n", name);
}

int
main(void)
{
    install_usr1();

    CHECK_OK(pthread_mutex_lock(&mtx));
    one_case("pthread_mutex_lock", mutex_waiter, SYS_futex, "mutex", mutex_release);

    one_case("pthread_cond_wait", cond_waiter, SYS_futex, "cond", cond_release);

    CHECK_OK(sem_init(&sem, 0, 0));
    one_case("sem_wait", sem_waiter, SYS_futex, "sem", sem_release);

    one_case("FUTEX_WAIT", futex_waiter, SYS_futex, "futex", futex_release);

    CHECK_OK(pipe(read_pipe));
    one_case("read", read_waiter, SYS_read, "IO read", read_release);

    start_child();
    one_case("waitpid", waitpid_waiter, SYS_wait4, NULL, waitpid_release);

    CHECK_OK(pthread_barrier_init(&bar, NULL, 2));
    one_case("pthread_barrier_wait", barrier_waiter, SYS_futex, "barrier", barrier_release);
    CHECK_OK(pthread_barrier_destroy(&bar));

    running_case();

    CHECK_OK(pthread_mutex_lock(&mtx));
    cancel_case("pthread_mutex_lock, asynchronous", async_locker, "mutex");
    CHECK_OK(pthread_mutex_unlock(&mtx));
    cancel_case("sem_wait, deferred", deferred_sem_waiter, "sem");
    CHECK_OK(sem_destroy(&sem));
    puts("ok");
    return 0;
}
