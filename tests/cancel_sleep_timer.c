/* tests/cancel_sleep_timer.c
 * Behaviour: a thread cancelled while it waits with a timeout (sleeps, timed semaphore,
 * condition, mutex and rwlock waits, poll, select, ppoll, epoll_wait, a read with
 * SO_RCVTIMEO, sigtimedwait, a timed join) ends cancelled, asynchronously and (where the wait
 * is a cancellation point) deferred, and nothing of its wait outlives it: the process keeps
 * running while the cancelled waits' timeouts come due and other threads reuse the memory
 * the cancelled threads ran on.
 */
#include "check.h"

#include <poll.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#define TIMEOUT_NS 150000000LL /* each wait's timeout; it restarts until cancelled */

static atomic_int cleanups;
static struct blocker target;

static void
count_cleanup(void *arg)
{
    (void)arg;
    atomic_fetch_add(&cleanups, 1);
}

static sem_t never_sem;
static pthread_mutex_t held_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t held_rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_mutex_t cmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never_cond = PTHREAD_COND_INITIALIZER;
static int never_pipe[2];
static int quiet_sock[2];
static int epfd;
static pthread_t never_thread;

/* A cancelled condition wait holds the mutex again: let it go. */
static void
unlock_cmu(void *arg)
{
    (void)arg;
    CHECK_OK(pthread_mutex_unlock(&cmu));
}

static struct timespec
rel_timeout(void)
{
    return ns_to_ts(TIMEOUT_NS);
}

/* One wait of each kind, with a TIMEOUT_NS timeout; none of them can succeed. */
static void
wait_once(int kind)
{
    struct timespec rel = rel_timeout();
    struct timespec abs = deadline_in(CLOCK_REALTIME, TIMEOUT_NS);
    switch (kind) {
    case 0:
        nanosleep(&rel, NULL);
        break;
    case 1:
        clock_nanosleep(CLOCK_MONOTONIC, 0, &rel, NULL);
        break;
    case 2:
        usleep((useconds_t)(TIMEOUT_NS / 1000));
        break;
    case 3:
        sem_timedwait(&never_sem, &abs);
        break;
    case 4:
        CHECK_OK(pthread_mutex_lock(&cmu));
        pthread_cleanup_push(unlock_cmu, NULL);
        pthread_cond_timedwait(&never_cond, &cmu, &abs);
        pthread_cleanup_pop(1);
        break;
    case 5:
        pthread_mutex_timedlock(&held_mu, &abs);
        break;
    case 6:
        pthread_rwlock_timedwrlock(&held_rw, &abs);
        break;
    case 7:
        pthread_rwlock_timedrdlock(&held_rw, &abs);
        break;
    case 8: {
        struct pollfd p = { .fd = never_pipe[0], .events = POLLIN };
        poll(&p, 1, (int)(TIMEOUT_NS / 1000000));
        break;
    }
    case 9: {
        fd_set rd;
        struct timeval tv = { 0, (long)(TIMEOUT_NS / 1000) };
        FD_ZERO(&rd);
        FD_SET(never_pipe[0], &rd);
        select(never_pipe[0] + 1, &rd, NULL, NULL, &tv);
        break;
    }
    case 10: {
        struct pollfd p = { .fd = never_pipe[0], .events = POLLIN };
        ppoll(&p, 1, &rel, NULL);
        break;
    }
    case 11: {
        struct epoll_event ev;
        epoll_wait(epfd, &ev, 1, (int)(TIMEOUT_NS / 1000000));
        break;
    }
    case 12: {
        char c;
        ssize_t r = read(quiet_sock[0], &c, 1);
        (void)r;
        break;
    }
    case 13: {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR2);
        sigtimedwait(&set, NULL, &rel);
        break;
    }
    case 14:
        pthread_timedjoin_np(never_thread, NULL, &abs);
        break;
    }
}

static const char *const names[] = {
    "nanosleep",
    "clock_nanosleep",
    "usleep",
    "sem_timedwait",
    "pthread_cond_timedwait",
    "pthread_mutex_timedlock",
    "pthread_rwlock_timedwrlock",
    "pthread_rwlock_timedrdlock",
    "poll",
    "select",
    "ppoll",
    "epoll_wait",
    "read with SO_RCVTIMEO",
    "sigtimedwait",
    "pthread_timedjoin_np",
};
#define NKINDS ((int)(sizeof names / sizeof names[0]))

/* Not cancellation points: only an asynchronous cancel ends them. */
static int
cancellation_point(int kind)
{
    return kind != 5 && kind != 6 && kind != 7;
}

static void *
waiter(void *arg)
{
    int kind = (int)(long)arg & 0xff;
    int async = ((long)arg >> 8) & 1;
    int old;
    pthread_cleanup_push(count_cleanup, NULL);
    if (async)
        CHECK_OK(pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &old));
    for (;;) {
        blocker_here(&target, names[kind]);
        wait_once(kind);
    }
    pthread_cleanup_pop(0);
    return NULL;
}

static void *
never_returns(void *arg)
{
    (void)arg;
    while (sem_wait(&never_sem) != 0)
        ;
    return NULL;
}

/* Threads that write over deep stacks: the memory of the cancelled threads, when reused. */
static void *
scrub(void *arg)
{
    volatile unsigned char buf[128 * 1024];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(0xa5 ^ (uintptr_t)arg ^ i);
    return (void *)(uintptr_t)buf[(uintptr_t)arg % sizeof buf];
}

static void
scrub_stacks(void)
{
    pthread_t t[24];
    for (int i = 0; i < 24; i++)
        t[i] = spawn(scrub, (void *)(uintptr_t)i);
    for (int i = 0; i < 24; i++)
        join_within(t[i], 10);
}

int
main(void)
{
    CHECK_OK(sem_init(&never_sem, 0, 0));
    CHECK_OK(pipe(never_pipe));
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, quiet_sock));
    struct timeval tv = { 0, (long)(TIMEOUT_NS / 1000) };
    CHECK_OK(setsockopt(quiet_sock[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    epfd = epoll_create1(EPOLL_CLOEXEC);
    CHECK(epfd >= 0);
    struct epoll_event ev = { .events = EPOLLIN };
    CHECK_OK(epoll_ctl(epfd, EPOLL_CTL_ADD, never_pipe[0], &ev));
    sigset_t usr2;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    CHECK_OK(pthread_sigmask(SIG_BLOCK, &usr2, NULL));
    CHECK_OK(pthread_mutex_lock(&held_mu));
    CHECK_OK(pthread_rwlock_wrlock(&held_rw));
    never_thread = spawn(never_returns, NULL);

    int cancelled = 0;
    for (int round = 0; round < 2; round++) {
        for (int async = 1; async >= 0; async--) {
            for (int kind = 0; kind < NKINDS; kind++) {
                if (!async && !cancellation_point(kind))
                    continue;
                blocker_clear(&target);
                pthread_t t = spawn(waiter, (void *)(long)(kind | async << 8));
                wait_blocked(&target, -1, NULL);
                CHECK_OK(pthread_cancel(t));
                CHECK(join_within(t, 10) == PTHREAD_CANCELED);
                CHECK_EQ(atomic_load(&cleanups), ++cancelled);
                if (round == 0)
                    fprintf(stderr, "cancelled (%s) in %s\n", async ? "async" : "deferred",
                            names[kind]);
            }
            scrub_stacks();
        }
        /* Every timeout of the cancelled waits comes due meanwhile. */
        long long until = now_ns(CLOCK_MONOTONIC) + 2 * TIMEOUT_NS;
        while (now_ns(CLOCK_MONOTONIC) < until) {
            scrub_stacks();
            sleep_ns(5000000);
        }
    }
    return 0;
}
