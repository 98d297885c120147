/* tests/sem.c
 * Behaviour: unnamed semaphores count correctly between threads: sem_trywait EAGAIN, sem_timedwait
 * and sem_clockwait ETIMEDOUT no earlier than the deadline and EINVAL for bad arguments, sem_post
 * wakes a blocked waiter, EOVERFLOW at SEM_VALUE_MAX, a producer/consumer count; a signal handler
 * interrupts a blocked sem_wait with EINTR, or restarts it under SA_RESTART as glibc does.
 */
#include "check.h"

#include <limits.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>

static int
value(sem_t *s)
{
    int v = -12345;
    CHECK_OK(sem_getvalue(s, &v));
    return v;
}

static void
check_basics(void)
{
    sem_t s;
    CHECK_OK(sem_init(&s, 0, 0));
    CHECK_EQ(value(&s), 0);
    CHECK_ERR(sem_trywait(&s), EAGAIN);
    CHECK_OK(sem_post(&s));
    CHECK_EQ(value(&s), 1);
    CHECK_OK(sem_trywait(&s));
    CHECK_EQ(value(&s), 0);

    struct timespec dl = deadline_in(CLOCK_REALTIME, 100000000);
    CHECK_ERR(sem_timedwait(&s, &dl), ETIMEDOUT);
    CHECK(now_ns(CLOCK_REALTIME) >= ts_to_ns(&dl));
    dl = deadline_in(CLOCK_MONOTONIC, 50000000);
    CHECK_ERR(sem_clockwait(&s, CLOCK_MONOTONIC, &dl), ETIMEDOUT);
    CHECK(now_ns(CLOCK_MONOTONIC) >= ts_to_ns(&dl));
    dl = deadline_in(CLOCK_REALTIME, 50000000);
    CHECK_ERR(sem_clockwait(&s, CLOCK_REALTIME, &dl), ETIMEDOUT);
    CHECK(now_ns(CLOCK_REALTIME) >= ts_to_ns(&dl));
    dl = deadline_in(CLOCK_REALTIME, -1000000000LL);
    CHECK_ERR(sem_timedwait(&s, &dl), ETIMEDOUT);
    dl = deadline_in(CLOCK_MONOTONIC, 10000000);
    CHECK_ERR(sem_clockwait(&s, CLOCK_PROCESS_CPUTIME_ID, &dl), EINVAL);
    struct timespec bad = { time(NULL) + 1, -1 };
    CHECK_ERR(sem_timedwait(&s, &bad), EINVAL);

    /* Available: the timed variants take it at once, even with a past deadline. */
    CHECK_OK(sem_post(&s));
    CHECK_OK(sem_post(&s));
    dl = deadline_in(CLOCK_REALTIME, -1000000000LL);
    CHECK_OK(sem_timedwait(&s, &dl));
    dl = deadline_in(CLOCK_MONOTONIC, -1000000000LL);
    CHECK_OK(sem_clockwait(&s, CLOCK_MONOTONIC, &dl));
    CHECK_EQ(value(&s), 0);
    /* glibc checks the timespec before the count: EINVAL even with a token there. */
    CHECK_OK(sem_post(&s));
    CHECK_ERR(sem_timedwait(&s, &bad), EINVAL);
    CHECK_EQ(value(&s), 1);
    CHECK_OK(sem_wait(&s));
    CHECK_OK(sem_destroy(&s));

    /* Limits. */
    CHECK_ERR(sem_init(&s, 0, (unsigned)SEM_VALUE_MAX + 1u), EINVAL);
    CHECK_OK(sem_init(&s, 0, SEM_VALUE_MAX));
    CHECK_EQ(value(&s), SEM_VALUE_MAX);
    CHECK_ERR(sem_post(&s), EOVERFLOW);
    CHECK_EQ(value(&s), SEM_VALUE_MAX);
    CHECK_OK(sem_trywait(&s));
    CHECK_OK(sem_post(&s));
    CHECK_OK(sem_destroy(&s));
}

/* A thread blocked in sem_wait (or a timed variant) is woken by sem_post. */
static sem_t wake_sem;

static struct blocker waiter_blocked;

static void *
blocked_waiter(void *arg)
{
    long kind = (long)arg;
    blocker_here(&waiter_blocked, "the semaphore waiter");
    if (kind == 0) {
        CHECK_OK(sem_wait(&wake_sem));
    } else if (kind == 1) {
        struct timespec dl = deadline_in(CLOCK_REALTIME, 10000000000LL);
        CHECK_OK(sem_timedwait(&wake_sem, &dl));
    } else {
        struct timespec dl = deadline_in(CLOCK_MONOTONIC, 10000000000LL);
        CHECK_OK(sem_clockwait(&wake_sem, CLOCK_MONOTONIC, &dl));
    }
    return NULL;
}

static void
check_wakeups(void)
{
    CHECK_OK(sem_init(&wake_sem, 0, 0));
    for (long kind = 0; kind < 3; kind++) {
        blocker_clear(&waiter_blocked);
        pthread_t t = spawn(blocked_waiter, (void *)kind);
        wait_blocked(&waiter_blocked, SYS_futex, "sem");
        CHECK_OK(sem_post(&wake_sem));
        join_within(t, 20);
        CHECK_EQ(value(&wake_sem), 0);
    }
}

/* Producers and consumers: every post is consumed exactly once. */
#define PRODUCERS  4
#define CONSUMERS  4
#define PER_THREAD 10000
static sem_t items;
static atomic_long consumed_total;

static void *
producer(void *arg)
{
    (void)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        CHECK_OK(sem_post(&items));
        if (i % 1000 == 0)
            sched_yield();
    }
    return NULL;
}

static void *
consumer(void *arg)
{
    (void)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        if (i % 3 == 0) {
            struct timespec dl = deadline_in(CLOCK_REALTIME, 10000000000LL);
            CHECK_OK(sem_timedwait(&items, &dl));
        } else if (i % 3 == 1) {
            while (sem_trywait(&items) != 0) {
                CHECK_EQ(errno, EAGAIN);
                CHECK_OK(sem_wait(&items));
                break;
            }
        } else {
            CHECK_OK(sem_wait(&items));
        }
        atomic_fetch_add(&consumed_total, 1);
    }
    return NULL;
}

static void
check_producer_consumer(void)
{
    CHECK_OK(sem_init(&items, 0, 0));
    pthread_t t[PRODUCERS + CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++)
        t[i] = spawn(consumer, NULL);
    for (int i = 0; i < PRODUCERS; i++)
        t[CONSUMERS + i] = spawn(producer, NULL);
    for (int i = 0; i < PRODUCERS + CONSUMERS; i++)
        join_within(t[i], 30);
    CHECK_EQ(atomic_load(&consumed_total), (long)CONSUMERS * PER_THREAD);
    CHECK_EQ(value(&items), 0);
    CHECK_OK(sem_destroy(&items));
}

/*
 * A handler interrupts a blocked sem_wait: EINTR without SA_RESTART. With SA_RESTART, glibc 2.36 on
 * Linux restarts it (its futex wait returns ERESTARTSYS), contrary to signal(7): the waiter stays
 * blocked until a post.
 */
static sem_t never;
static atomic_int handled;
static atomic_int wait_result, wait_errno;

static void
on_usr1(int sig)
{
    (void)sig;
    atomic_fetch_add(&handled, 1);
}

static void *
interrupted_waiter(void *arg)
{
    (void)arg;
    blocker_here(&waiter_blocked, "the interrupted waiter");
    int rc = sem_wait(&never);
    atomic_store(&wait_errno, errno);
    atomic_store(&wait_result, rc);
    return NULL;
}

static void
check_eintr(int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    CHECK_OK(sigaction(SIGUSR1, &sa, NULL));
    CHECK_OK(sem_init(&never, 0, 0));
    atomic_store(&handled, 0);
    atomic_store(&wait_result, -2);
    blocker_clear(&waiter_blocked);
    pthread_t t = spawn(interrupted_waiter, NULL);
    /* One signal, once the thread is blocked in sem_wait. */
    wait_blocked(&waiter_blocked, SYS_futex, "sem");
    CHECK_OK(pthread_kill(t, SIGUSR1));
    if (flags == SA_RESTART) {
        /* After the handler the wait goes on: blocked again, with no result. */
        WAIT_FOR(atomic_load(&handled) == 1, 10);
        wait_blocked(&waiter_blocked, SYS_futex, "sem");
        CHECK_EQ(atomic_load(&wait_result), -2);
        CHECK_OK(sem_post(&never));
        join_within(t, 10);
        CHECK_EQ(atomic_load(&wait_result), 0);
    } else {
        join_within(t, 10);
        CHECK_EQ(atomic_load(&wait_result), -1);
        CHECK_EQ(atomic_load(&wait_errno), EINTR);
    }
    CHECK_EQ(atomic_load(&handled), 1);
    CHECK_EQ(value(&never), 0);
    CHECK_OK(sem_destroy(&never));
    signal(SIGUSR1, SIG_DFL);
}

int
main(void)
{
    check_basics();
    check_wakeups();
    check_producer_consumer();
    check_eintr(0);
    check_eintr(SA_RESTART);
    return 0;
}
