/* tests/rwlock.c
 * Behaviour: rwlocks let several readers in at once and keep writers exclusive; try, timed and
 * clock variants return EBUSY, ETIMEDOUT, EDEADLK and EINVAL as glibc does; with
 * PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP a waiting writer holds off new readers, while the
 * default kind lets them in.
 */
#include "check.h"

#include <stdatomic.h>
#include <sys/syscall.h>

/* Several readers inside at once: each waits (bounded) until all of them are in. */
#define READERS 4
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_mutex_t cmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ccond = PTHREAD_COND_INITIALIZER;
static int inside;

static void *
meeting_reader(void *arg)
{
    (void)arg;
    CHECK_OK(pthread_rwlock_rdlock(&rw));
    CHECK_OK(pthread_mutex_lock(&cmu));
    inside++;
    CHECK_OK(pthread_cond_broadcast(&ccond));
    struct timespec dl = deadline_in(CLOCK_REALTIME, 10000000000LL);
    while (inside < READERS)
        CHECK_OK(pthread_cond_timedwait(&ccond, &cmu, &dl));
    CHECK_OK(pthread_mutex_unlock(&cmu));
    CHECK_OK(pthread_rwlock_unlock(&rw));
    return NULL;
}

static void
check_concurrent_readers(void)
{
    pthread_t t[READERS];
    for (int i = 0; i < READERS; i++)
        t[i] = spawn(meeting_reader, NULL);
    for (int i = 0; i < READERS; i++)
        join_within(t[i], 20);
    CHECK_EQ(inside, READERS);
}

/* Writers exclude readers and each other. */
#define ITERS 5000
static atomic_int readers_in, writers_in;
static long guarded_a, guarded_b;

static void *
writer(void *arg)
{
    (void)arg;
    for (int i = 0; i < ITERS; i++) {
        CHECK_OK(pthread_rwlock_wrlock(&rw));
        CHECK_EQ(atomic_fetch_add(&writers_in, 1), 0);
        CHECK_EQ(atomic_load(&readers_in), 0);
        guarded_a++;
        if (i % 500 == 0)
            sched_yield();
        guarded_b++;
        atomic_fetch_sub(&writers_in, 1);
        CHECK_OK(pthread_rwlock_unlock(&rw));
    }
    return NULL;
}

static void *
reader(void *arg)
{
    (void)arg;
    for (int i = 0; i < ITERS; i++) {
        CHECK_OK(pthread_rwlock_rdlock(&rw));
        atomic_fetch_add(&readers_in, 1);
        CHECK_EQ(atomic_load(&writers_in), 0);
        CHECK_EQ(guarded_a, guarded_b);
        atomic_fetch_sub(&readers_in, 1);
        CHECK_OK(pthread_rwlock_unlock(&rw));
    }
    return NULL;
}

static void
check_exclusion(void)
{
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        t[i] = spawn(i % 2 ? writer : reader, NULL);
    for (int i = 0; i < 8; i++)
        join_within(t[i], 30);
    CHECK_EQ(guarded_a, 4L * ITERS);
    CHECK_EQ(guarded_b, 4L * ITERS);
}

/* A helper thread that takes the lock in a given mode and holds it until told to let go. */
struct holder {
    pthread_rwlock_t *lock;
    int write;
    int held[2];
    int release[2];
    pthread_t t;
};

static void *
hold(void *arg)
{
    struct holder *h = arg;
    if (h->write)
        CHECK_OK(pthread_rwlock_wrlock(h->lock));
    else
        CHECK_OK(pthread_rwlock_rdlock(h->lock));
    char c = 'h';
    CHECK_EQ(write(h->held[1], &c, 1), 1);
    CHECK_EQ(read(h->release[0], &c, 1), 1);
    CHECK_OK(pthread_rwlock_unlock(h->lock));
    return NULL;
}

static void
start_holder(struct holder *h, pthread_rwlock_t *lock, int write_mode)
{
    h->lock = lock;
    h->write = write_mode;
    CHECK_OK(pipe(h->held));
    CHECK_OK(pipe(h->release));
    h->t = spawn(hold, h);
    char c;
    CHECK_EQ(read(h->held[0], &c, 1), 1);
}

static void
stop_holder(struct holder *h)
{
    char c = 'r';
    CHECK_EQ(write(h->release[1], &c, 1), 1);
    join_within(h->t, 10);
    close(h->held[0]);
    close(h->held[1]);
    close(h->release[0]);
    close(h->release[1]);
}

static void
check_try_and_timed(void)
{
    struct holder h;
    struct timespec dl;

    /* Write-held elsewhere: every read or write attempt fails. */
    start_holder(&h, &rw, 1);
    CHECK_ERR(pthread_rwlock_tryrdlock(&rw), EBUSY);
    CHECK_ERR(pthread_rwlock_trywrlock(&rw), EBUSY);
    dl = deadline_in(CLOCK_REALTIME, 50000000);
    CHECK_ERR(pthread_rwlock_timedrdlock(&rw, &dl), ETIMEDOUT);
    CHECK(now_ns(CLOCK_REALTIME) >= ts_to_ns(&dl));
    dl = deadline_in(CLOCK_REALTIME, 50000000);
    CHECK_ERR(pthread_rwlock_timedwrlock(&rw, &dl), ETIMEDOUT);
    CHECK(now_ns(CLOCK_REALTIME) >= ts_to_ns(&dl));
    dl = deadline_in(CLOCK_MONOTONIC, 50000000);
    CHECK_ERR(pthread_rwlock_clockrdlock(&rw, CLOCK_MONOTONIC, &dl), ETIMEDOUT);
    CHECK(now_ns(CLOCK_MONOTONIC) >= ts_to_ns(&dl));
    dl = deadline_in(CLOCK_MONOTONIC, 50000000);
    CHECK_ERR(pthread_rwlock_clockwrlock(&rw, CLOCK_MONOTONIC, &dl), ETIMEDOUT);
    CHECK(now_ns(CLOCK_MONOTONIC) >= ts_to_ns(&dl));
    dl = deadline_in(CLOCK_REALTIME, 20000000);
    CHECK_ERR(pthread_rwlock_clockrdlock(&rw, CLOCK_REALTIME, &dl), ETIMEDOUT);
    dl = deadline_in(CLOCK_REALTIME, 20000000);
    CHECK_ERR(pthread_rwlock_clockwrlock(&rw, CLOCK_REALTIME, &dl), ETIMEDOUT);
    dl = deadline_in(CLOCK_MONOTONIC, 20000000);
    CHECK_ERR(pthread_rwlock_clockrdlock(&rw, CLOCK_PROCESS_CPUTIME_ID, &dl), EINVAL);
    CHECK_ERR(pthread_rwlock_clockwrlock(&rw, CLOCK_PROCESS_CPUTIME_ID, &dl), EINVAL);
    struct timespec bad = { time(NULL) + 1, 1000000000 };
    CHECK_ERR(pthread_rwlock_timedrdlock(&rw, &bad), EINVAL);
    CHECK_ERR(pthread_rwlock_timedwrlock(&rw, &bad), EINVAL);
    stop_holder(&h);

    /* Read-held elsewhere: readers get in, writers do not. */
    start_holder(&h, &rw, 0);
    CHECK_OK(pthread_rwlock_tryrdlock(&rw));
    CHECK_OK(pthread_rwlock_unlock(&rw));
    dl = deadline_in(CLOCK_REALTIME, 1000000000);
    CHECK_OK(pthread_rwlock_timedrdlock(&rw, &dl));
    CHECK_OK(pthread_rwlock_unlock(&rw));
    CHECK_ERR(pthread_rwlock_trywrlock(&rw), EBUSY);
    dl = deadline_in(CLOCK_REALTIME, 50000000);
    CHECK_ERR(pthread_rwlock_timedwrlock(&rw, &dl), ETIMEDOUT);
    CHECK(now_ns(CLOCK_REALTIME) >= ts_to_ns(&dl));
    dl = deadline_in(CLOCK_MONOTONIC, 50000000);
    CHECK_ERR(pthread_rwlock_clockwrlock(&rw, CLOCK_MONOTONIC, &dl), ETIMEDOUT);
    CHECK(now_ns(CLOCK_MONOTONIC) >= ts_to_ns(&dl));
    stop_holder(&h);

    /* Free: every variant succeeds, even with a deadline in the past. */
    dl = deadline_in(CLOCK_MONOTONIC, -1000000000LL);
    CHECK_OK(pthread_rwlock_clockwrlock(&rw, CLOCK_MONOTONIC, &dl));
    CHECK_OK(pthread_rwlock_unlock(&rw));
    CHECK_OK(pthread_rwlock_clockrdlock(&rw, CLOCK_MONOTONIC, &dl));
    CHECK_OK(pthread_rwlock_unlock(&rw));
}

static void
check_deadlock(void)
{
    CHECK_OK(pthread_rwlock_wrlock(&rw));
    CHECK_ERR(pthread_rwlock_wrlock(&rw), EDEADLK);
    CHECK_ERR(pthread_rwlock_rdlock(&rw), EDEADLK);
    CHECK_ERR(pthread_rwlock_trywrlock(&rw), EBUSY);
    CHECK_ERR(pthread_rwlock_tryrdlock(&rw), EBUSY);
    struct timespec dl = deadline_in(CLOCK_REALTIME, 10000000);
    CHECK_ERR(pthread_rwlock_timedwrlock(&rw, &dl), EDEADLK);
    CHECK_ERR(pthread_rwlock_timedrdlock(&rw, &dl), EDEADLK);
    CHECK_OK(pthread_rwlock_unlock(&rw));
    /* Recursive read locks are fine with the default kind. */
    CHECK_OK(pthread_rwlock_rdlock(&rw));
    CHECK_OK(pthread_rwlock_rdlock(&rw));
    CHECK_ERR(pthread_rwlock_trywrlock(&rw), EBUSY);
    CHECK_OK(pthread_rwlock_unlock(&rw));
    CHECK_OK(pthread_rwlock_unlock(&rw));
}

/* A writer that blocks in wrlock behind a reader. */
struct pending_writer {
    pthread_rwlock_t *lock;
    struct blocker blocked;
    atomic_int acquired;
};

static void *
blocked_writer(void *arg)
{
    struct pending_writer *w = arg;
    blocker_here(&w->blocked, "the pending writer");
    CHECK_OK(pthread_rwlock_wrlock(w->lock));
    atomic_store(&w->acquired, 1);
    CHECK_OK(pthread_rwlock_unlock(w->lock));
    return NULL;
}

static void
check_kind(int kind)
{
    pthread_rwlockattr_t a;
    CHECK_OK(pthread_rwlockattr_init(&a));
    CHECK_OK(pthread_rwlockattr_setkind_np(&a, kind));
    int got = -1;
    CHECK_OK(pthread_rwlockattr_getkind_np(&a, &got));
    CHECK_EQ(got, kind);
    pthread_rwlock_t lock;
    CHECK_OK(pthread_rwlock_init(&lock, &a));
    CHECK_OK(pthread_rwlockattr_destroy(&a));

    struct holder r1;
    start_holder(&r1, &lock, 0);
    struct pending_writer w = { .lock = &lock };
    pthread_t wt = spawn(blocked_writer, &w);
    /* The writer is queued: blocked in wrlock behind r1. */
    wait_blocked(&w.blocked, SYS_futex, "rwlock write");

    if (kind == PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP) {
        /* Once the writer waits, new readers are refused. */
        CHECK_ERR(pthread_rwlock_tryrdlock(&lock), EBUSY);
        struct timespec dl = deadline_in(CLOCK_REALTIME, 50000000);
        CHECK_ERR(pthread_rwlock_timedrdlock(&lock, &dl), ETIMEDOUT);
        dl = deadline_in(CLOCK_MONOTONIC, 20000000);
        CHECK_ERR(pthread_rwlock_clockrdlock(&lock, CLOCK_MONOTONIC, &dl), ETIMEDOUT);
        CHECK_EQ(atomic_load(&w.acquired), 0);
    } else {
        /* Reader preference: with the writer queued, readers still get in. */
        CHECK_OK(pthread_rwlock_tryrdlock(&lock));
        CHECK_OK(pthread_rwlock_unlock(&lock));
        struct timespec dl = deadline_in(CLOCK_REALTIME, 1000000000);
        CHECK_OK(pthread_rwlock_timedrdlock(&lock, &dl));
        CHECK_OK(pthread_rwlock_unlock(&lock));
        CHECK_EQ(atomic_load(&w.acquired), 0);
    }
    stop_holder(&r1);
    join_within(wt, 10);
    CHECK_EQ(atomic_load(&w.acquired), 1);
    CHECK_OK(pthread_rwlock_destroy(&lock));
}

int
main(void)
{
    check_concurrent_readers();
    check_exclusion();
    check_try_and_timed();
    check_deadlock();
    check_kind(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    check_kind(PTHREAD_RWLOCK_PREFER_READER_NP);
    return 0;
}
