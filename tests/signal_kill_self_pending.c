/*
 * tests/signal_kill_self_pending.c: a signal a program sends to itself while every thread
 * blocks it is pending when kill returns.
 *
 * Natively the kernel makes a process signal pending before kill (or sigqueue) returns, so
 * sigpending sees it at once and a zero-timeout sigtimedwait takes it, with the value
 * sigqueue sent (CPython's test_signal checks both). Under greenrun the kernel may land such a
 * signal on an OS thread of the runtime, which hands it on a moment later; the runtime now
 * routes a signal sent to its own process before the call returns. Cases: the main thread
 * alone, then with a second thread that also blocks the signal (kill, then a delay from 0 to
 * 400 us before sigpending), then a caught signal that runs its handler when main unblocks
 * it, then SIGTERM (default action) taken by sigwait; last, a child that sends itself SIGINT
 * at its default action dies of it before kill returns (CPython's exit after
 * KeyboardInterrupt), with and without a second thread. And a caught signal main does not
 * block, sent with pidfd_send_signal (the glibc call and syscall()) or syscall(SYS_kill),
 * runs its handler before the call returns, also after main moved to another OS thread
 * (CPython's test_pidfd_send_signal).
 */
#include "check.h"

#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static atomic_int handled;
static sem_t ready, done;

static void
on_usr2(int sig)
{
    (void)sig;
    atomic_fetch_add(&handled, 1);
}

/* A second thread with every signal blocked, alive while the checks run. */
static void *
bystander(void *arg)
{
    (void)arg;
    CHECK_OK(sem_post(&ready));
    while (sem_wait(&done) != 0)
        ;
    return NULL;
}

static void
block(int sig)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, sig);
    CHECK_OK(pthread_sigmask(SIG_BLOCK, &set, NULL));
}

/* Spin for ns nanoseconds: the time a slower program (an interpreter) takes between kill and
 * its next call; natively the signal stays pending however long that is. */
static void
spin_ns(long long ns)
{
    long long end = now_ns(CLOCK_MONOTONIC) + ns;

    while (now_ns(CLOCK_MONOTONIC) < end)
        ;
}

/* Send sig to the own process, wait delay_ns, and check it is pending and taken at once. */
static void
send_and_take(int sig, int use_sigqueue, int value, long long delay_ns)
{
    struct timespec zero = { 0, 0 };
    sigset_t pend, want;
    siginfo_t si;

    if (use_sigqueue) {
        union sigval v = { .sival_int = value };
        CHECK_OK(sigqueue(getpid(), sig, v));
    } else {
        CHECK_OK(kill(getpid(), sig));
    }
    spin_ns(delay_ns);
    CHECK_OK(sigpending(&pend));
    CHECK_EQ(sigismember(&pend, sig), 1);
    sigemptyset(&want);
    sigaddset(&want, sig);
    memset(&si, 0, sizeof(si));
    CHECK_EQ(sigtimedwait(&want, &si, &zero), sig);
    CHECK_EQ(si.si_signo, sig);
    CHECK_EQ(si.si_pid, getpid());
    if (use_sigqueue)
        CHECK_EQ(si.si_value.sival_int, value);
    CHECK_OK(sigpending(&pend));
    CHECK_EQ(sigismember(&pend, sig), 0);
}

/* A child resets sig to its default action, sends it to itself and must die of it there. */
static void
dies_of_own_signal(int sig, int with_thread)
{
    int status;
    pid_t pid = fork();

    CHECK(pid >= 0);
    if (pid == 0) {
        sigset_t set;
        pthread_t t;

        signal(sig, SIG_DFL);
        sigemptyset(&set);
        sigaddset(&set, sig);
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
        if (with_thread && (sem_init(&ready, 0, 0) != 0 || sem_init(&done, 0, 0) != 0 ||
                            pthread_create(&t, NULL, bystander, NULL) != 0))
            _exit(3);
        if (with_thread)
            while (sem_wait(&ready) != 0)
                ;
        kill(getpid(), sig);
        _exit(7); /* natively never reached */
    }
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFSIGNALED(status));
    CHECK_EQ(WTERMSIG(status), sig);
}

int
main(void)
{
    struct sigaction sa;
    sigset_t all, pend, want;
    pthread_t t;
    int got;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr2;
    sigemptyset(&sa.sa_mask);
    CHECK_OK(sigaction(SIGUSR2, &sa, NULL));
    block(SIGUSR1);
    block(SIGUSR2);
    block(SIGTERM);

    /* The main thread alone. */
    send_and_take(SIGUSR1, 0, 0, 0);
    send_and_take(SIGUSR2, 1, 42, 0);

    /* With a second thread that blocks everything. */
    CHECK_OK(sem_init(&ready, 0, 0));
    CHECK_OK(sem_init(&done, 0, 0));
    sigfillset(&all);
    CHECK_OK(pthread_sigmask(SIG_BLOCK, &all, &want));
    CHECK_OK(pthread_create(&t, NULL, bystander, NULL));
    CHECK_OK(pthread_sigmask(SIG_SETMASK, &want, NULL));
    while (sem_wait(&ready) != 0)
        ;
    /* Delays from 0 to 400 us: any of them natively; under greenrun before the fix, those
     * that fell between the runtime thread taking the signal and handing it on failed. */
    for (int i = 0; i < 400; i++)
        send_and_take(i % 2 ? SIGUSR1 : SIGUSR2, i % 3 == 0, i, (long long)i * 1000);

    /* A caught signal left pending runs its handler when main unblocks it. */
    CHECK_OK(kill(getpid(), SIGUSR2));
    CHECK_EQ(atomic_load(&handled), 0);
    sigemptyset(&want);
    sigaddset(&want, SIGUSR2);
    CHECK_OK(pthread_sigmask(SIG_UNBLOCK, &want, NULL));
    CHECK_EQ(atomic_load(&handled), 1);
    CHECK_OK(sigpending(&pend));
    CHECK_EQ(sigismember(&pend, SIGUSR2), 0);

    /* A default-action signal every thread blocks waits for sigwait. */
    CHECK_OK(kill(getpid(), SIGTERM));
    CHECK_OK(sigpending(&pend));
    CHECK_EQ(sigismember(&pend, SIGTERM), 1);
    sigemptyset(&want);
    sigaddset(&want, SIGTERM);
    CHECK_OK(sigwait(&want, &got));
    CHECK_EQ(got, SIGTERM);

    CHECK_OK(sem_post(&done));
    CHECK_OK(pthread_join(t, NULL));

    dies_of_own_signal(SIGINT, 0);
    dies_of_own_signal(SIGINT, 1);

    /* Handled before the call returns, whichever OS thread main runs on by then. */
    int pidfd = pidfd_open(getpid(), 0);
    CHECK(pidfd >= 0);
    for (int i = 0; i < 300; i++) {
        int before = atomic_load(&handled);
        switch (i % 3) {
        case 0:
            CHECK_OK(pidfd_send_signal(pidfd, SIGUSR2, NULL, 0));
            break;
        case 1:
            CHECK_EQ(syscall(SYS_pidfd_send_signal, pidfd, SIGUSR2, NULL, 0), 0);
            break;
        default:
            CHECK_EQ(syscall(SYS_kill, getpid(), SIGUSR2), 0);
            break;
        }
        CHECK_EQ(atomic_load(&handled), before + 1);
        if (i % 10 == 0)
            usleep(200); /* a park: main may come back on another OS thread */
    }
    close(pidfd);
    printf("signal_kill_self_pending: ok\n");
    return 0;
}
