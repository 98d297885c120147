/* tests/mutex_types.c
 * Behaviour: every mutex type keeps mutual exclusion under contention and returns the documented
 * errors: trylock EBUSY, recursive counting and EPERM for a non-owner, errorcheck EDEADLK and
 * EPERM, static initialisers, timedlock/clocklock ETIMEDOUT and EINVAL, destroy EBUSY, robust
 * mutexes (EOWNERDEAD, pthread_mutex_consistent, ENOTRECOVERABLE) and priority inheritance.
 */
#include "check.h"

#include <stdint.h>

#define INCREMENTS 10000

static pthread_mutex_t static_normal = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t static_recursive = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static pthread_mutex_t static_errorcheck = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;
static pthread_mutex_t static_adaptive = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;

struct shared {
    pthread_mutex_t *mu;
    int recursive;
    volatile long counter;
    volatile int inside;
};

static void *
incrementer(void *arg)
{
    struct shared *s = arg;
    for (int i = 0; i < INCREMENTS; i++) {
        CHECK_OK(pthread_mutex_lock(s->mu));
        if (s->recursive && i % 7 == 0)
            CHECK_OK(pthread_mutex_lock(s->mu));
        CHECK_EQ(s->inside, 0);
        s->inside = 1;
        long v = s->counter;
        if (i % 1000 == 0)
            sched_yield();
        s->counter = v + 1;
        s->inside = 0;
        if (s->recursive && i % 7 == 0)
            CHECK_OK(pthread_mutex_unlock(s->mu));
        CHECK_OK(pthread_mutex_unlock(s->mu));
    }
    return NULL;
}

static void
contend(pthread_mutex_t *mu, int recursive, int nthreads, const char *what)
{
    struct shared s = { .mu = mu, .recursive = recursive };
    pthread_t t[16];
    long long t0 = now_ns(CLOCK_MONOTONIC);
    for (int i = 0; i < nthreads; i++)
        t[i] = spawn(incrementer, &s);
    for (int i = 0; i < nthreads; i++)
        join_within(t[i], 30);
    CHECK_EQ(s.counter, (long)nthreads * INCREMENTS);
    fprintf(stderr, "%s: %d threads x %d increments in %lld ms\n", what, nthreads, INCREMENTS,
            (now_ns(CLOCK_MONOTONIC) - t0) / 1000000);
}

static void
init_typed(pthread_mutex_t *mu, int type)
{
    pthread_mutexattr_t a;
    CHECK_OK(pthread_mutexattr_init(&a));
    CHECK_OK(pthread_mutexattr_settype(&a, type));
    int got = -1;
    CHECK_OK(pthread_mutexattr_gettype(&a, &got));
    CHECK_EQ(got, type);
    CHECK_OK(pthread_mutex_init(mu, &a));
    CHECK_OK(pthread_mutexattr_destroy(&a));
}

/* Run fn(arg) in another thread and return its result: the "non-owner" in the checks below. */
static long
in_other_thread(void *(*fn)(void *), void *arg)
{
    return (long)join_within(spawn(fn, arg), 10);
}

static void *
other_trylock(void *arg)
{
    int rc = pthread_mutex_trylock(arg);
    if (rc == 0)
        CHECK_OK(pthread_mutex_unlock(arg));
    return (void *)(long)rc;
}

static void *
other_unlock(void *arg)
{
    return (void *)(long)pthread_mutex_unlock(arg);
}

static void
check_types(void)
{
    static const struct {
        int type;
        const char *name;
    } types[] = {
        { PTHREAD_MUTEX_NORMAL, "normal" },         { PTHREAD_MUTEX_RECURSIVE, "recursive" },
        { PTHREAD_MUTEX_ERRORCHECK, "errorcheck" }, { PTHREAD_MUTEX_ADAPTIVE_NP, "adaptive" },
        { PTHREAD_MUTEX_DEFAULT, "default" },
    };
    for (unsigned i = 0; i < sizeof types / sizeof types[0]; i++) {
        pthread_mutex_t mu;
        init_typed(&mu, types[i].type);
        /* Held by us: another thread's trylock is EBUSY. */
        CHECK_OK(pthread_mutex_lock(&mu));
        CHECK_EQ(in_other_thread(other_trylock, &mu), EBUSY);
        CHECK_OK(pthread_mutex_unlock(&mu));
        CHECK_EQ(in_other_thread(other_trylock, &mu), 0);
        contend(&mu, types[i].type == PTHREAD_MUTEX_RECURSIVE, i % 2 ? 16 : 4, types[i].name);
        CHECK_OK(pthread_mutex_destroy(&mu));
    }
    /* A normal mutex held by its owner: trylock from the owner is EBUSY too. */
    pthread_mutex_t mu;
    init_typed(&mu, PTHREAD_MUTEX_NORMAL);
    CHECK_OK(pthread_mutex_lock(&mu));
    CHECK_ERR(pthread_mutex_trylock(&mu), EBUSY);
    /* glibc refuses to destroy a locked (non-robust) mutex. */
    CHECK_ERR(pthread_mutex_destroy(&mu), EBUSY);
    CHECK_OK(pthread_mutex_unlock(&mu));
    CHECK_OK(pthread_mutex_destroy(&mu));
}

static void
check_recursive(pthread_mutex_t *mu)
{
    CHECK_OK(pthread_mutex_lock(mu));
    CHECK_OK(pthread_mutex_lock(mu));
    CHECK_OK(pthread_mutex_lock(mu));
    CHECK_OK(pthread_mutex_trylock(mu));
    CHECK_EQ(in_other_thread(other_trylock, mu), EBUSY);
    CHECK_EQ(in_other_thread(other_unlock, mu), EPERM);
    for (int i = 0; i < 3; i++) {
        CHECK_OK(pthread_mutex_unlock(mu));
        CHECK_EQ(in_other_thread(other_trylock, mu), EBUSY);
    }
    CHECK_OK(pthread_mutex_unlock(mu));
    CHECK_EQ(in_other_thread(other_trylock, mu), 0);
    CHECK_ERR(pthread_mutex_unlock(mu), EPERM);
}

static void
check_errorcheck(pthread_mutex_t *mu)
{
    CHECK_OK(pthread_mutex_lock(mu));
    CHECK_ERR(pthread_mutex_lock(mu), EDEADLK);
    CHECK_ERR(pthread_mutex_trylock(mu), EBUSY);
    CHECK_EQ(in_other_thread(other_unlock, mu), EPERM);
    CHECK_EQ(in_other_thread(other_trylock, mu), EBUSY);
    struct timespec dl = deadline_in(CLOCK_REALTIME, 10000000);
    CHECK_ERR(pthread_mutex_timedlock(mu, &dl), EDEADLK);
    CHECK_OK(pthread_mutex_unlock(mu));
    CHECK_ERR(pthread_mutex_unlock(mu), EPERM);
    CHECK_EQ(in_other_thread(other_trylock, mu), 0);
}

static void
check_static(void)
{
    CHECK_OK(pthread_mutex_lock(&static_normal));
    CHECK_EQ(in_other_thread(other_trylock, &static_normal), EBUSY);
    CHECK_OK(pthread_mutex_unlock(&static_normal));
    contend(&static_normal, 0, 4, "static normal");
    check_recursive(&static_recursive);
    contend(&static_recursive, 1, 4, "static recursive");
    check_errorcheck(&static_errorcheck);
    contend(&static_errorcheck, 0, 4, "static errorcheck");
    contend(&static_adaptive, 0, 4, "static adaptive");
}

/* A thread that holds a mutex until a byte arrives on a pipe. */
struct holder {
    pthread_mutex_t *mu;
    int locked[2];
    int release[2];
};

static void *
hold(void *arg)
{
    struct holder *h = arg;
    CHECK_OK(pthread_mutex_lock(h->mu));
    char c = 'l';
    CHECK_EQ(write(h->locked[1], &c, 1), 1);
    CHECK_EQ(read(h->release[0], &c, 1), 1);
    CHECK_OK(pthread_mutex_unlock(h->mu));
    return NULL;
}

static pthread_t
start_holder(struct holder *h, pthread_mutex_t *mu)
{
    h->mu = mu;
    CHECK_OK(pipe(h->locked));
    CHECK_OK(pipe(h->release));
    pthread_t t = spawn(hold, h);
    char c;
    CHECK_EQ(read(h->locked[0], &c, 1), 1);
    return t;
}

static void
stop_holder(struct holder *h, pthread_t t)
{
    char c = 'r';
    CHECK_EQ(write(h->release[1], &c, 1), 1);
    join_within(t, 10);
    close(h->locked[0]);
    close(h->locked[1]);
    close(h->release[0]);
    close(h->release[1]);
}

static void
check_timed(int type)
{
    pthread_mutex_t mu;
    init_typed(&mu, type);
    struct holder h;
    pthread_t t = start_holder(&h, &mu);

    CHECK_ERR(pthread_mutex_trylock(&mu), EBUSY);
    struct timespec dl = deadline_in(CLOCK_REALTIME, 100000000);
    CHECK_ERR(pthread_mutex_timedlock(&mu, &dl), ETIMEDOUT);
    CHECK(now_ns(CLOCK_REALTIME) >= ts_to_ns(&dl));

    dl = deadline_in(CLOCK_MONOTONIC, 50000000);
    CHECK_ERR(pthread_mutex_clocklock(&mu, CLOCK_MONOTONIC, &dl), ETIMEDOUT);
    CHECK(now_ns(CLOCK_MONOTONIC) >= ts_to_ns(&dl));
    dl = deadline_in(CLOCK_REALTIME, 20000000);
    CHECK_ERR(pthread_mutex_clocklock(&mu, CLOCK_REALTIME, &dl), ETIMEDOUT);
    CHECK(now_ns(CLOCK_REALTIME) >= ts_to_ns(&dl));

    /* A deadline in the past times out at once; bad arguments are EINVAL while it is held. */
    dl = deadline_in(CLOCK_MONOTONIC, -1000000000LL);
    CHECK_ERR(pthread_mutex_clocklock(&mu, CLOCK_MONOTONIC, &dl), ETIMEDOUT);
    dl = deadline_in(CLOCK_MONOTONIC, 10000000);
    CHECK_ERR(pthread_mutex_clocklock(&mu, CLOCK_PROCESS_CPUTIME_ID, &dl), EINVAL);
    struct timespec bad = { time(NULL) + 1, -1 };
    CHECK_ERR(pthread_mutex_timedlock(&mu, &bad), EINVAL);
    bad.tv_nsec = 1000000000;
    CHECK_ERR(pthread_mutex_timedlock(&mu, &bad), EINVAL);

    stop_holder(&h, t);

    /* Free again: timedlock succeeds at once, even with a past deadline. */
    dl = deadline_in(CLOCK_REALTIME, -1000000000LL);
    CHECK_OK(pthread_mutex_timedlock(&mu, &dl));
    CHECK_OK(pthread_mutex_unlock(&mu));
    dl = deadline_in(CLOCK_MONOTONIC, 1000000000LL);
    CHECK_OK(pthread_mutex_clocklock(&mu, CLOCK_MONOTONIC, &dl));
    CHECK_OK(pthread_mutex_unlock(&mu));

    /* A timed lock that succeeds when the holder lets go before the deadline. */
    t = start_holder(&h, &mu);
    char c = 'r';
    CHECK_EQ(write(h.release[1], &c, 1), 1);
    dl = deadline_in(CLOCK_REALTIME, 10000000000LL);
    CHECK_OK(pthread_mutex_timedlock(&mu, &dl));
    CHECK_OK(pthread_mutex_unlock(&mu));
    join_within(t, 10);
    CHECK_OK(pthread_mutex_destroy(&mu));
}

static void *
die_holding(void *arg)
{
    CHECK_OK(pthread_mutex_lock(arg));
    return NULL;
}

static void *
other_lock_robust(void *arg)
{
    int rc = pthread_mutex_lock(arg);
    if (rc == EOWNERDEAD) {
        CHECK_OK(pthread_mutex_consistent(arg));
        CHECK_OK(pthread_mutex_unlock(arg));
    } else if (rc == 0) {
        CHECK_OK(pthread_mutex_unlock(arg));
    }
    return (void *)(long)rc;
}

static void
check_robust(int type)
{
    pthread_mutexattr_t a;
    CHECK_OK(pthread_mutexattr_init(&a));
    CHECK_OK(pthread_mutexattr_settype(&a, type));
    CHECK_OK(pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST));
    int robust = -1;
    CHECK_OK(pthread_mutexattr_getrobust(&a, &robust));
    CHECK_EQ(robust, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_t mu;
    CHECK_OK(pthread_mutex_init(&mu, &a));
    CHECK_OK(pthread_mutexattr_destroy(&a));

    /* The owner exits holding it: the next locker gets EOWNERDEAD and the lock. */
    join_within(spawn(die_holding, &mu), 10);
    CHECK_ERR(pthread_mutex_lock(&mu), EOWNERDEAD);
    CHECK_OK(pthread_mutex_consistent(&mu));
    CHECK_OK(pthread_mutex_unlock(&mu));
    CHECK_OK(pthread_mutex_lock(&mu));
    CHECK_OK(pthread_mutex_unlock(&mu));

    /* The same seen by another thread, and through trylock. */
    join_within(spawn(die_holding, &mu), 10);
    CHECK_EQ(in_other_thread(other_lock_robust, &mu), EOWNERDEAD);
    join_within(spawn(die_holding, &mu), 10);
    CHECK_ERR(pthread_mutex_trylock(&mu), EOWNERDEAD);
    CHECK_OK(pthread_mutex_consistent(&mu));
    CHECK_OK(pthread_mutex_unlock(&mu));

    /* Contention on a robust mutex still counts right. */
    contend(&mu, type == PTHREAD_MUTEX_RECURSIVE, 4, "robust");

    /* Unlocked without pthread_mutex_consistent: unrecoverable for everyone. */
    join_within(spawn(die_holding, &mu), 10);
    CHECK_ERR(pthread_mutex_lock(&mu), EOWNERDEAD);
    CHECK_OK(pthread_mutex_unlock(&mu));
    CHECK_ERR(pthread_mutex_lock(&mu), ENOTRECOVERABLE);
    CHECK_EQ(in_other_thread(other_lock_robust, &mu), ENOTRECOVERABLE);
    /* Last, because glibc 2.36's trylock here leaves the lock word set (later lockers block). */
    CHECK_ERR(pthread_mutex_trylock(&mu), ENOTRECOVERABLE);
    CHECK_OK(pthread_mutex_destroy(&mu));
}

static void
check_priority_inherit(void)
{
    pthread_mutexattr_t a;
    CHECK_OK(pthread_mutexattr_init(&a));
    CHECK_OK(pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT));
    pthread_mutex_t mu;
    int rc = pthread_mutex_init(&mu, &a);
    CHECK_OK(pthread_mutexattr_destroy(&a));
    if (rc == ENOTSUP) {
        fprintf(stderr, "priority-inheritance mutexes not supported; skipping that part\n");
        return;
    }
    CHECK_EQ(rc, 0);
    CHECK_OK(pthread_mutex_lock(&mu));
    CHECK_EQ(in_other_thread(other_trylock, &mu), EBUSY);
    CHECK_OK(pthread_mutex_unlock(&mu));
    contend(&mu, 0, 4, "priority inherit");
    CHECK_OK(pthread_mutex_destroy(&mu));
}

int
main(void)
{
    check_types();

    pthread_mutex_t mu;
    init_typed(&mu, PTHREAD_MUTEX_RECURSIVE);
    check_recursive(&mu);
    CHECK_OK(pthread_mutex_destroy(&mu));
    init_typed(&mu, PTHREAD_MUTEX_ERRORCHECK);
    check_errorcheck(&mu);
    CHECK_OK(pthread_mutex_destroy(&mu));

    check_static();
    check_timed(PTHREAD_MUTEX_NORMAL);
    check_timed(PTHREAD_MUTEX_RECURSIVE);
    check_timed(PTHREAD_MUTEX_ERRORCHECK);
    check_robust(PTHREAD_MUTEX_NORMAL);
    check_robust(PTHREAD_MUTEX_ERRORCHECK);
    check_priority_inherit();
    return 0;
}
