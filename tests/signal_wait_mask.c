/* tests/signal_wait_mask.c
 * Behaviour: the signal mask given to pselect, ppoll and epoll_pwait holds for the whole wait,
 * as the kernel installs it: with SIGUSR1 blocked, each call waits on a pipe nobody writes,
 * with a mask that unblocks SIGUSR1 and a 30 s timeout; another thread waits until the call
 * really sleeps, then sends SIGUSR1 to it. The handler runs, the call fails with EINTR well
 * before its timeout, and the old mask (SIGUSR1 blocked) is back afterwards. Then the classic
 * pselect loop: SIGCHLD blocked, fork a child that exits, pselect with SIGCHLD unblocked
 * until the handler says it came, 500 rounds (100 natively), each within 10 s.
 */
#include "check.h"

#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static atomic_int usr1, chld;
static struct blocker blk;
static pthread_t target;
static long sleep_nr;
static const char *sleep_reason;

static void
on_usr1(int sig)
{
    (void)sig;
    atomic_fetch_add(&usr1, 1);
}

static void
on_chld(int sig)
{
    (void)sig;
    atomic_store(&chld, 1);
}

static void *
sender(void *arg)
{
    (void)arg;
    wait_blocked(&blk, sleep_nr, sleep_reason);
    CHECK_OK(pthread_kill(target, SIGUSR1));
    return NULL;
}

enum { PSELECT, PPOLL, EPOLL_PWAIT };

static void
masked_wait(int how, int rfd, int epfd, const sigset_t *unblocked)
{
    static const long nrs[] = { SYS_pselect6, SYS_ppoll, SYS_epoll_pwait };
    static const char *const reasons[] = { "select", "poll", "epoll_wait" };
    struct timespec ts = { 30, 0 };
    long long t0 = now_ns(CLOCK_MONOTONIC);
    int before = atomic_load(&usr1), r;
    sigset_t now;

    sleep_nr = nrs[how];
    sleep_reason = reasons[how];
    target = pthread_self();
    blocker_clear(&blk);
    pthread_t s = spawn(sender, NULL);
    blocker_here(&blk, reasons[how]);
    if (how == PSELECT) {
        fd_set set;
        FD_ZERO(&set);
        FD_SET(rfd, &set);
        r = pselect(rfd + 1, &set, NULL, NULL, &ts, unblocked);
    } else if (how == PPOLL) {
        struct pollfd p = { .fd = rfd, .events = POLLIN };
        r = ppoll(&p, 1, &ts, unblocked);
    } else {
        struct epoll_event ev;
        r = epoll_pwait(epfd, &ev, 1, 30000, unblocked);
    }
    CHECK_EQ(r, -1);
    CHECK_EQ(errno, EINTR);
    CHECK_EQ(atomic_load(&usr1), before + 1);
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 < 20000000000LL);
    CHECK_OK(pthread_sigmask(SIG_BLOCK, NULL, &now));
    CHECK(sigismember(&now, SIGUSR1));
    join_within(s, 10);
}

int
main(void)
{
    struct sigaction sa = { .sa_handler = on_usr1 };
    sigset_t block, unblocked;
    int p[2], epfd;
    struct epoll_event ev = { .events = EPOLLIN };

    CHECK_OK(sigaction(SIGUSR1, &sa, NULL));
    sa.sa_handler = on_chld;
    CHECK_OK(sigaction(SIGCHLD, &sa, NULL));
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigaddset(&block, SIGCHLD);
    CHECK_OK(pthread_sigmask(SIG_BLOCK, &block, &unblocked));
    CHECK_OK(pipe(p));
    epfd = epoll_create1(0);
    CHECK(epfd >= 0);
    ev.data.fd = p[0];
    CHECK_OK(epoll_ctl(epfd, EPOLL_CTL_ADD, p[0], &ev));
    for (int how = PSELECT; how <= EPOLL_PWAIT; how++)
        masked_wait(how, p[0], epfd, &unblocked);

    long rounds = scale(500, 100);
    for (long i = 0; i < rounds; i++) {
        atomic_store(&chld, 0);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0)
            _exit(0);
        long long until = now_ns(CLOCK_MONOTONIC) + 10000000000LL;
        while (!atomic_load(&chld)) {
            fd_set set;
            struct timespec ts = { 10, 0 };
            FD_ZERO(&set);
            FD_SET(p[0], &set);
            int r = pselect(p[0] + 1, &set, NULL, NULL, &ts, &unblocked);
            CHECK(r == -1 ? errno == EINTR : r == 0);
            CHECK(now_ns(CLOCK_MONOTONIC) < until);
        }
        CHECK_EQ(waitpid(pid, NULL, 0), pid);
    }
    printf("ok: pselect, ppoll, epoll_pwait interrupted under their masks; %ld pselect rounds\n",
           rounds);
    return 0;
}
