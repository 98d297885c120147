/* tests/io_poll_select.c
 * Behaviour: poll, ppoll, select, pselect and epoll_wait time out no earlier than asked, wake when
 * another thread makes a descriptor ready, report POLLNVAL and POLLHUP, update select's timeout
 * as Linux does, and many threads can wait in poll at once on a few OS threads.
 */
#include "check.h"

#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>

static void
check_timeouts(void)
{
    int p[2];
    CHECK_OK(pipe(p));
    struct pollfd pfd = { .fd = p[0], .events = POLLIN };

    long long t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_EQ(poll(&pfd, 1, 100), 0);
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 100000000);
    CHECK_EQ(pfd.revents, 0);

    t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_EQ(poll(&pfd, 1, 0), 0);
    CHECK_EQ(poll(NULL, 0, 0), 0);
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 < 1000000000LL);

    /* No descriptors at all: a plain sleep. */
    t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_EQ(poll(NULL, 0, 50), 0);
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 50000000);

    struct timespec ts = { 0, 50000000 };
    t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_EQ(ppoll(&pfd, 1, &ts, NULL), 0);
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 50000000);

    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    struct timeval tv = { 0, 100000 };
    t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_EQ(select(p[0] + 1, &rd, NULL, NULL, &tv), 0);
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 100000000);
    /* Linux writes the time not slept back: all of it was slept. */
    CHECK_EQ(tv.tv_sec, 0);
    CHECK_EQ(tv.tv_usec, 0);
    CHECK(!FD_ISSET(p[0], &rd));

    /* select with no descriptors is a sleep too. */
    tv.tv_sec = 0;
    tv.tv_usec = 30000;
    t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_EQ(select(0, NULL, NULL, NULL, &tv), 0);
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 30000000);

    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    ts.tv_nsec = 30000000;
    t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_EQ(pselect(p[0] + 1, &rd, NULL, NULL, &ts, NULL), 0);
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 30000000);
    CHECK_EQ(ts.tv_nsec, 30000000); /* pselect leaves its timeout alone */

    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(ep >= 0);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 42 };
    CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    struct epoll_event out[4];
    t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_EQ(epoll_wait(ep, out, 4, 100), 0);
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 100000000);
    CHECK_EQ(epoll_wait(ep, out, 4, 0), 0);

    /* Ready at once when there is data. */
    CHECK_EQ(write(p[1], "x", 1), 1);
    CHECK_EQ(poll(&pfd, 1, 10000), 1);
    CHECK_EQ(pfd.revents, POLLIN);
    CHECK_EQ(epoll_wait(ep, out, 4, 10000), 1);
    CHECK_EQ(out[0].data.u64, 42);
    close(ep);
    close(p[0]);
    close(p[1]);
}

static void
check_hup_nval(void)
{
    int p[2];
    CHECK_OK(pipe(p));
    /* A descriptor number that is surely closed (a high one might be the runtime's). */
    int closed_fd = dup(p[1]);
    CHECK(closed_fd >= 0);
    close(closed_fd);
    close(p[1]);
    struct pollfd pfd[2] = { { .fd = p[0], .events = POLLIN },
                             { .fd = closed_fd, .events = POLLIN } };
    CHECK_EQ(poll(pfd, 2, 1000), 2);
    CHECK(pfd[0].revents & POLLHUP);
    CHECK_EQ(pfd[1].revents, POLLNVAL);
    /* A negative fd is ignored. */
    pfd[1].fd = -1;
    CHECK_EQ(poll(pfd, 2, 0), 1);
    CHECK_EQ(pfd[1].revents, 0);
    close(p[0]);

    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    struct timeval tv = { 0, 0 };
    CHECK_ERR(select(p[0] + 1, &rd, NULL, NULL, &tv), EBADF);
}

/* A waiter in poll/select/epoll_wait woken by another thread's write. */
struct wake {
    int p[2];
    int kind;
    int ep;
    struct blocker blocked;
};

static void *
waker_target(void *arg)
{
    struct wake *w = arg;
    blocker_here(&w->blocked, "the waiter");
    if (w->kind == 0) {
        struct pollfd pfd = { .fd = w->p[0], .events = POLLIN };
        CHECK_EQ(poll(&pfd, 1, 10000), 1);
        CHECK_EQ(pfd.revents, POLLIN);
    } else if (w->kind == 1) {
        fd_set rd;
        FD_ZERO(&rd);
        FD_SET(w->p[0], &rd);
        struct timeval tv = { 10, 0 };
        CHECK_EQ(select(w->p[0] + 1, &rd, NULL, NULL, &tv), 1);
        CHECK(FD_ISSET(w->p[0], &rd));
        CHECK(tv.tv_sec < 10);
    } else if (w->kind == 2) {
        struct epoll_event out;
        CHECK_EQ(epoll_wait(w->ep, &out, 1, 10000), 1);
        CHECK(out.events & EPOLLIN);
    } else {
        struct pollfd pfd = { .fd = w->p[0], .events = POLLIN };
        CHECK_EQ(poll(&pfd, 1, -1), 1);
    }
    char c;
    CHECK_EQ(read(w->p[0], &c, 1), 1);
    return NULL;
}

static void
check_wakeups(void)
{
    /* The system call each kind sleeps in natively (glibc's select is pselect6), and the
     * runtime's wait reason. */
    static const long nrs[4] = { SYS_poll, SYS_pselect6, SYS_epoll_wait, SYS_poll };
    static const char *const reasons[4] = { "poll", "select", "epoll_wait", "poll" };
    for (int kind = 0; kind < 4; kind++) {
        struct wake w = { .kind = kind };
        CHECK_OK(pipe(w.p));
        if (kind == 2) {
            w.ep = epoll_create1(EPOLL_CLOEXEC);
            CHECK(w.ep >= 0);
            struct epoll_event ev = { .events = EPOLLIN };
            CHECK_OK(epoll_ctl(w.ep, EPOLL_CTL_ADD, w.p[0], &ev));
        }
        long long t0 = now_ns(CLOCK_MONOTONIC);
        pthread_t t = spawn(waker_target, &w);
        wait_blocked(&w.blocked, nrs[kind], reasons[kind]);
        CHECK_EQ(write(w.p[1], "w", 1), 1);
        join_within(t, 20);
        CHECK(now_ns(CLOCK_MONOTONIC) - t0 < 5000000000LL);
        close(w.p[0]);
        close(w.p[1]);
        if (kind == 2)
            close(w.ep);
    }
}

/* Many threads in poll at once, each on its own pipe. */
struct polled_pipe {
    int fd[2];
    struct blocker blocked;
};

static void *
poller(void *arg)
{
    struct polled_pipe *pp = arg;
    struct pollfd pfd = { .fd = pp->fd[0], .events = POLLIN };
    blocker_here(&pp->blocked, "a poller");
    CHECK_EQ(poll(&pfd, 1, 30000), 1);
    char c;
    CHECK_EQ(read(pp->fd[0], &c, 1), 1);
    return NULL;
}

static void
check_many_pollers(void)
{
    long n = scale(2000, 300);
    struct polled_pipe *pipes = calloc((size_t)n, sizeof *pipes);
    pthread_t *t = calloc((size_t)n, sizeof *t);
    CHECK(pipes != NULL && t != NULL);
    for (long i = 0; i < n; i++) {
        CHECK_OK(pipe(pipes[i].fd));
        t[i] = spawn(poller, &pipes[i]);
    }
    /* Count the OS threads once every one of them waits in poll. */
    for (long i = 0; i < n; i++)
        wait_blocked(&pipes[i].blocked, SYS_poll, "poll");
    check_green_threads(n);
    for (long i = 0; i < n; i++)
        CHECK_EQ(write(pipes[i].fd[1], "p", 1), 1);
    for (long i = 0; i < n; i++) {
        join_within(t[i], 30);
        close(pipes[i].fd[0]);
        close(pipes[i].fd[1]);
    }
    free(pipes);
    free(t);
}

int
main(void)
{
    check_timeouts();
    check_hup_nval();
    check_wakeups();
    check_many_pollers();
    return 0;
}
