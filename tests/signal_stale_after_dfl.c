/* tests/signal_stale_after_dfl.c
 * Behaviour: a signal sent to the process is taken exactly once. A timer signal interrupts
 * the main thread's poll (its handler runs once, poll fails with EINTR); the program then sets
 * the signal back to SIG_DFL and goes on making blocking calls (open and close of /dev/null,
 * and a poll that times out). Nothing of that signal may arrive after it was handled:
 * natively nothing can, and with SIG_DFL a second arrival of SIGALRM ends the process. Other
 * threads keep the scheduler's threads busy and idle in turn. Repeated many times, since
 * a late copy depends on timing. A second part: a signal made pending on a thread that
 * blocks it, then ignored (SIG_IGN), is discarded: installing a handler and unblocking it
 * afterwards runs nothing, and sigpending no longer reports it.
 */
#include "check.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/time.h>

static atomic_int alarms;
static atomic_int stop;

static void
on_alarm(int sig)
{
    (void)sig;
    atomic_fetch_add(&alarms, 1);
}

/* Parks and runs in short turns: the scheduler's threads are sometimes idle, sometimes not. */
static void *
churn(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        volatile unsigned x = 0;
        for (int i = 0; i < 20000; i++)
            x += (unsigned)i;
        sleep_ns(200000);
    }
    return NULL;
}

static void
timer_rounds(int rounds)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_DGRAM, 0), interrupted = 0;

    CHECK(fd >= 0);
    CHECK_OK(bind(fd, (struct sockaddr *)&a, sizeof(a)));
    for (int i = 0; i < rounds; i++) {
        struct sigaction act = { .sa_handler = on_alarm };
        struct itimerval it = { .it_value = { 0, 500 + (i % 9) * 250 } }, off = { 0 };
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int before = atomic_load(&alarms), r;

        CHECK_OK(sigaction(SIGALRM, &act, NULL));
        CHECK_OK(setitimer(ITIMER_REAL, &it, NULL));
        /* Mostly the signal ends a poll; it may also come before one starts. */
        long long until = now_ns(CLOCK_MONOTONIC) + 10000000000LL;
        do {
            r = poll(&p, 1, 20);
            if (r < 0) {
                CHECK_EQ(errno, EINTR);
                interrupted++;
            }
            CHECK(now_ns(CLOCK_MONOTONIC) < until);
        } while (atomic_load(&alarms) == before);
        CHECK_EQ(atomic_load(&alarms), before + 1);
        CHECK_OK(setitimer(ITIMER_REAL, &off, NULL));
        act.sa_handler = SIG_DFL;
        CHECK_OK(sigaction(SIGALRM, &act, NULL));
        for (int k = 0; k < 20; k++) {
            int nfd = open("/dev/null", O_RDONLY);
            CHECK(nfd >= 0);
            CHECK_OK(close(nfd));
        }
        CHECK_EQ(poll(&p, 1, 1), 0);
        CHECK_EQ(atomic_load(&alarms), before + 1);
    }
    CHECK_OK(close(fd));
    /* The signal came while poll waited in most rounds: what this test is about. */
    CHECK(interrupted >= rounds / 2);
}

static atomic_int usr1_runs;

static void
on_usr1(int sig)
{
    (void)sig;
    atomic_fetch_add(&usr1_runs, 1);
}

/* SIG_IGN discards a pending signal, on the thread and on the process. */
static void
ignore_discards(int process)
{
    sigset_t set, pend;
    struct sigaction ign = { .sa_handler = SIG_IGN }, act = { .sa_handler = on_usr1 };

    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    CHECK_OK(sigaction(SIGUSR1, &act, NULL));
    CHECK_OK(pthread_sigmask(SIG_BLOCK, &set, NULL));
    if (process)
        CHECK_OK(kill(getpid(), SIGUSR1));
    else
        CHECK_OK(pthread_kill(pthread_self(), SIGUSR1));
    /* A process signal every thread blocks becomes pending soon after kill returns. */
    WAIT_FOR(sigpending(&pend) == 0 && sigismember(&pend, SIGUSR1), 10);
    CHECK_OK(sigaction(SIGUSR1, &ign, NULL));
    CHECK_OK(sigpending(&pend));
    CHECK_EQ(sigismember(&pend, SIGUSR1), 0);
    CHECK_OK(sigaction(SIGUSR1, &act, NULL));
    CHECK_OK(pthread_sigmask(SIG_UNBLOCK, &set, NULL));
    CHECK_EQ(atomic_load(&usr1_runs), 0);
}

int
main(void)
{
    pthread_t t[3];
    sigset_t set;

    /* Only main takes the process signals, as in a program whose helpers block them. */
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGALRM);
    CHECK_OK(pthread_sigmask(SIG_BLOCK, &set, NULL));
    for (int i = 0; i < 3; i++)
        t[i] = spawn(churn, NULL);
    CHECK_OK(pthread_sigmask(SIG_UNBLOCK, &set, NULL));
    timer_rounds((int)scale(1500, 1500));
    ignore_discards(0);
    ignore_discards(1);
    atomic_store(&stop, 1);
    for (int i = 0; i < 3; i++)
        join_within(t[i], 30);
    printf("ok: %d timer signals, each taken once\n", atomic_load(&alarms));
    return 0;
}
