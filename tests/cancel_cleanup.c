/* tests/cancel_cleanup.c
 * Behaviour: deferred cancellation acts at cancellation points where a thread is blocked
 * (pthread_cond_wait with the mutex re-acquired for the cleanup handler, sleep, nanosleep,
 * pthread_join, sem_wait, read) and at pthread_testcancel; PTHREAD_CANCEL_DISABLE defers it;
 * asynchronous cancellation stops a loop without cancellation points; join returns
 * PTHREAD_CANCELED; cleanup handlers run in LIFO order on pthread_exit; key destructors run too.
 */
#include "check.h"

#include <semaphore.h>
#include <stdatomic.h>
#include <sys/syscall.h>

static atomic_int cleanup_ran;

/* The thread about to block in a cancellation point; main cancels it once it is blocked there. */
static struct blocker target;

static void
announce_ready(void)
{
    blocker_here(&target, "the thread to cancel");
}

/* Start fn and wait until it is blocked in system call nr (natively) or parked for reason. */
static pthread_t
spawn_blocked(void *(*fn)(void *), void *arg, long nr, const char *reason)
{
    blocker_clear(&target);
    pthread_t t = spawn(fn, arg);
    wait_blocked(&target, nr, reason);
    return t;
}

static void
count_cleanup(void *arg)
{
    (void)arg;
    atomic_fetch_add(&cleanup_ran, 1);
}

/* Cancel t, join it and check it was cancelled and its cleanup handler ran. */
static void
cancel_and_check(pthread_t t, const char *what)
{
    int before = atomic_load(&cleanup_ran);
    CHECK_OK(pthread_cancel(t));
    void *ret = join_within(t, 10);
    CHECK(ret == PTHREAD_CANCELED);
    CHECK_EQ(atomic_load(&cleanup_ran), before + 1);
    fprintf(stderr, "cancelled in %s\n", what);
}

/* In pthread_cond_wait: the handler runs with the mutex held and must unlock it. */
static pthread_mutex_t cmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ccond = PTHREAD_COND_INITIALIZER;
static atomic_int handler_held_mutex;

static void
unlock_cmu(void *arg)
{
    (void)arg;
    /* We must own it: trylock by its owner on a normal mutex is EBUSY. */
    if (pthread_mutex_trylock(&cmu) == EBUSY)
        atomic_store(&handler_held_mutex, 1);
    CHECK_OK(pthread_mutex_unlock(&cmu));
    atomic_fetch_add(&cleanup_ran, 1);
}

static void *
in_cond_wait(void *arg)
{
    (void)arg;
    CHECK_OK(pthread_mutex_lock(&cmu));
    pthread_cleanup_push(unlock_cmu, NULL);
    announce_ready();
    for (;;)
        pthread_cond_wait(&ccond, &cmu);
    pthread_cleanup_pop(1);
    return NULL;
}

static void
check_cond_wait(void)
{
    pthread_t t = spawn_blocked(in_cond_wait, NULL, SYS_futex, "cond");
    cancel_and_check(t, "pthread_cond_wait");
    CHECK_EQ(atomic_load(&handler_held_mutex), 1);
    CHECK_OK(pthread_mutex_trylock(&cmu));
    CHECK_OK(pthread_mutex_unlock(&cmu));
}

static void *
in_sleep(void *arg)
{
    long kind = (long)arg;
    pthread_cleanup_push(count_cleanup, NULL);
    announce_ready();
    if (kind == 0) {
        sleep(30);
    } else if (kind == 1) {
        struct timespec ts = { 30, 0 };
        nanosleep(&ts, NULL);
    } else if (kind == 2) {
        struct timespec ts = { 30, 0 };
        clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
    } else {
        usleep(30000000);
    }
    pthread_cleanup_pop(0);
    return NULL;
}

/* In pthread_join of a thread that never ends. */
static sem_t never;

static void *
in_sem_wait(void *arg)
{
    (void)arg;
    pthread_cleanup_push(count_cleanup, NULL);
    announce_ready();
    sem_wait(&never);
    pthread_cleanup_pop(0);
    return NULL;
}

static void *
in_join(void *arg)
{
    pthread_t joined = *(pthread_t *)arg;
    pthread_cleanup_push(count_cleanup, NULL);
    announce_ready();
    pthread_join(joined, NULL);
    pthread_cleanup_pop(0);
    return NULL;
}

static int never_pipe[2];

static void *
in_read(void *arg)
{
    (void)arg;
    pthread_cleanup_push(count_cleanup, NULL);
    announce_ready();
    char c;
    ssize_t r = read(never_pipe[0], &c, 1);
    (void)r;
    pthread_cleanup_pop(0);
    return NULL;
}

static void
check_blocking_points(void)
{
    for (long kind = 0; kind < 4; kind++) {
        /* All four are clock_nanosleep in glibc. */
        pthread_t t = spawn_blocked(in_sleep, (void *)kind, SYS_clock_nanosleep, NULL);
        static const char *names[] = { "sleep", "nanosleep", "clock_nanosleep", "usleep" };
        cancel_and_check(t, names[kind]);
    }

    CHECK_OK(sem_init(&never, 0, 0));
    pthread_t t = spawn_blocked(in_sem_wait, NULL, SYS_futex, "sem");
    cancel_and_check(t, "sem_wait");

    CHECK_OK(pipe(never_pipe));
    t = spawn_blocked(in_read, NULL, SYS_read, "IO read");
    cancel_and_check(t, "read");

    /* A cancelled joiner leaves its target joinable. */
    pthread_t joined = spawn_blocked(in_read, NULL, SYS_read, "IO read");
    t = spawn_blocked(in_join, &joined, SYS_futex, NULL);
    cancel_and_check(t, "pthread_join");
    char c = 'x';
    CHECK_EQ(write(never_pipe[1], &c, 1), 1);
    CHECK(join_within(joined, 10) == NULL);
}

/* pthread_testcancel in a loop with no other cancellation point. */
static atomic_int spinning;

static void *
in_testcancel(void *arg)
{
    (void)arg;
    pthread_cleanup_push(count_cleanup, NULL);
    for (;;) {
        atomic_store(&spinning, 1);
        pthread_testcancel();
        sched_yield();
    }
    pthread_cleanup_pop(0);
    return NULL;
}

/* Disabled cancellation: the thread passes a blocking cancellation point, then acts later. */
static atomic_int survived, after_testcancel;
static sem_t cancel_sent;

static void *
with_cancel_disabled(void *arg)
{
    (void)arg;
    int old = -1;
    CHECK_OK(pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old));
    CHECK_EQ(old, PTHREAD_CANCEL_ENABLE);
    pthread_cleanup_push(count_cleanup, NULL);
    announce_ready();
    /* sem_wait and nanosleep are cancellation points, but cancellation is disabled. */
    CHECK_OK(sem_wait(&cancel_sent));
    struct timespec ts = { 0, 1000000 };
    CHECK_OK(nanosleep(&ts, NULL));
    atomic_store(&survived, 1);
    CHECK_OK(pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old));
    CHECK_EQ(old, PTHREAD_CANCEL_DISABLE);
    pthread_testcancel();
    atomic_store(&after_testcancel, 1);
    pthread_cleanup_pop(0);
    return NULL;
}

/* Asynchronous cancellation of a pure computation loop. */
static atomic_long async_counter;

static void *
async_loop(void *arg)
{
    (void)arg;
    int old = -1;
    pthread_cleanup_push(count_cleanup, NULL);
    CHECK_OK(pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &old));
    CHECK_EQ(old, PTHREAD_CANCEL_DEFERRED);
    for (;;)
        atomic_fetch_add(&async_counter, 1);
    pthread_cleanup_pop(0);
    return NULL;
}

static void
check_testcancel_disable_async(void)
{
    pthread_t t = spawn(in_testcancel, NULL);
    WAIT_FOR(atomic_load(&spinning), 10);
    cancel_and_check(t, "pthread_testcancel");

    CHECK_OK(sem_init(&cancel_sent, 0, 0));
    t = spawn_blocked(with_cancel_disabled, NULL, SYS_futex, "sem");
    int before = atomic_load(&cleanup_ran);
    CHECK_OK(pthread_cancel(t));
    /* The cancel leaves it blocked in sem_wait. */
    wait_blocked(&target, SYS_futex, "sem");
    CHECK_OK(sem_post(&cancel_sent));
    CHECK(join_within(t, 10) == PTHREAD_CANCELED);
    CHECK_EQ(atomic_load(&survived), 1);
    CHECK_EQ(atomic_load(&after_testcancel), 0);
    CHECK_EQ(atomic_load(&cleanup_ran), before + 1);

    t = spawn(async_loop, NULL);
    WAIT_FOR(atomic_load(&async_counter) > 1000, 10);
    cancel_and_check(t, "an asynchronous-cancel loop");
}

/* pthread_exit runs the cleanup handlers in LIFO order; pop(1) runs one, pop(0) does not. */
static int order[8];
static int order_len;

static void
record(void *arg)
{
    order[order_len++] = (int)(long)arg;
}

static void *
exits_with_handlers(void *arg)
{
    (void)arg;
    pthread_cleanup_push(record, (void *)1);
    pthread_cleanup_push(record, (void *)2);
    pthread_cleanup_push(record, (void *)99);
    pthread_cleanup_pop(0);
    pthread_cleanup_push(record, (void *)3);
    pthread_cleanup_push(record, (void *)4);
    pthread_cleanup_pop(1);
    pthread_cleanup_push(record, (void *)5);
    pthread_exit((void *)42);
    pthread_cleanup_pop(0);
    pthread_cleanup_pop(0);
    pthread_cleanup_pop(0);
    pthread_cleanup_pop(0);
    return NULL;
}

/* Key destructors run for a cancelled thread too. */
static pthread_key_t key;
static atomic_int key_destructor_calls;

static void
key_destructor(void *value)
{
    CHECK_EQ((long)value, 77);
    atomic_fetch_add(&key_destructor_calls, 1);
}

static void *
cancelled_with_key(void *arg)
{
    (void)arg;
    CHECK_OK(pthread_setspecific(key, (void *)77L));
    pthread_cleanup_push(count_cleanup, NULL);
    announce_ready();
    sleep(30);
    pthread_cleanup_pop(0);
    return NULL;
}

static sem_t finishing;

static void *
returns_five(void *arg)
{
    (void)arg;
    blocker_here(&target, "returns_five");
    CHECK_OK(sem_post(&finishing));
    return (void *)5;
}

int
main(void)
{
    check_cond_wait();
    check_blocking_points();
    check_testcancel_disable_async();

    void *ret = join_within(spawn(exits_with_handlers, NULL), 10);
    CHECK_EQ((long)ret, 42);
    CHECK_EQ(order_len, 5);
    static const int want[] = { 4, 5, 3, 2, 1 };
    for (int i = 0; i < 5; i++)
        CHECK_EQ(order[i], want[i]);

    CHECK_OK(pthread_key_create(&key, key_destructor));
    pthread_t t = spawn_blocked(cancelled_with_key, NULL, SYS_clock_nanosleep, NULL);
    cancel_and_check(t, "sleep, with a key value");
    CHECK_EQ(atomic_load(&key_destructor_calls), 1);

    /*
     * Cancelling a thread past its last cancellation point (sem_post is not one), or already
     * finished: pthread_cancel returns 0 and join sees the real result.
     */
    CHECK_OK(sem_init(&finishing, 0, 0));
    blocker_clear(&target);
    t = spawn(returns_five, NULL);
    CHECK_OK(sem_wait(&finishing));
    CHECK_OK(pthread_cancel(t));
    CHECK_EQ((long)join_within(t, 10), 5);
    blocker_clear(&target);
    t = spawn(returns_five, NULL);
    CHECK_OK(sem_wait(&finishing));
    wait_exited(&target);
    CHECK_OK(pthread_cancel(t));
    CHECK_EQ((long)join_within(t, 10), 5);
    return 0;
}
