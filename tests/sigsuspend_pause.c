/* tests/sigsuspend_pause.c
 * Behaviour: sigsuspend and pause wait until a handler has run on their thread and then fail
 * with EINTR, even under SA_RESTART. sigsuspend installs its mask for the wait only: a signal
 * it unblocks that was already pending is handled at once, and the old mask is back after.
 * pthread_kill reaches a thread in pause; 1,000 threads waiting in pause at once stay on a
 * few OS threads under greenrun.
 */
#include "check.h"

#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>

static _Thread_local int handled_here;
static atomic_int handled;

static void
on_usr(int sig)
{
    (void)sig;
    handled_here++;
    atomic_fetch_add(&handled, 1);
}

/* Blocks SIGUSR1, then waits in sigsuspend with an empty mask. */
static void *
suspender(void *arg)
{
    sigset_t usr1, empty, now;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigemptyset(&empty);
    CHECK_OK(pthread_sigmask(SIG_BLOCK, &usr1, NULL));
    blocker_here(arg, "the suspender");
    CHECK_EQ(sigsuspend(&empty), -1);
    CHECK_EQ(errno, EINTR);
    CHECK_EQ(handled_here, 1);
    CHECK_OK(pthread_sigmask(SIG_SETMASK, NULL, &now));
    CHECK(sigismember(&now, SIGUSR1));
    return NULL;
}

/* SIGUSR2 is sent while blocked; sigsuspend unblocks it and returns after its handler. */
static atomic_int blocked2;
static atomic_int go2;

static void *
pending_suspender(void *arg)
{
    (void)arg;
    sigset_t usr2, empty;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    sigemptyset(&empty);
    CHECK_OK(pthread_sigmask(SIG_BLOCK, &usr2, NULL));
    atomic_store(&blocked2, 1);
    WAIT_FOR(atomic_load(&go2), 10);
    CHECK_EQ(handled_here, 0);
    CHECK_EQ(sigsuspend(&empty), -1);
    CHECK_EQ(errno, EINTR);
    CHECK_EQ(handled_here, 1);
    return NULL;
}

static void *
pauser(void *arg)
{
    blocker_here(arg, "a pauser");
    CHECK_EQ(pause(), -1);
    CHECK_EQ(errno, EINTR);
    CHECK_EQ(handled_here, 1);
    return NULL;
}

int
main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr;
    sa.sa_flags = SA_RESTART; /* neither call restarts */
    sigemptyset(&sa.sa_mask);
    CHECK_OK(sigaction(SIGUSR1, &sa, NULL));
    CHECK_OK(sigaction(SIGUSR2, &sa, NULL));

    /* A signal sent before the wait would be handled first and the wait would then never
     * end: each signal goes to a thread seen in its wait. */
    struct blocker suspender_blocked = { 0 };
    pthread_t t = spawn(suspender, &suspender_blocked);
    wait_blocked(&suspender_blocked, SYS_rt_sigsuspend, NULL);
    CHECK_OK(pthread_kill(t, SIGUSR1));
    join_within(t, 10);

    t = spawn(pending_suspender, NULL);
    WAIT_FOR(atomic_load(&blocked2), 10);
    CHECK_OK(pthread_kill(t, SIGUSR2));
    atomic_store(&go2, 1);
    join_within(t, 10);

    /* Many threads in pause at once. */
    long n = scale(1000, 1000);
    pthread_t *ts = calloc((size_t)n, sizeof *ts);
    struct blocker *blocked = calloc((size_t)n, sizeof *blocked);
    CHECK(ts != NULL && blocked != NULL);
    for (long i = 0; i < n; i++)
        ts[i] = spawn(pauser, &blocked[i]);
    for (long i = 0; i < n; i++)
        wait_blocked(&blocked[i], SYS_pause, NULL);
    check_green_threads(n + 1);
    int before = atomic_load(&handled);
    for (long i = 0; i < n; i++)
        CHECK_OK(pthread_kill(ts[i], SIGUSR1));
    for (long i = 0; i < n; i++)
        join_within(ts[i], 30);
    CHECK_EQ(atomic_load(&handled) - before, n);
    free(ts);
    free(blocked);
    return 0;
}
