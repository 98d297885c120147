/* tests/cancel_mask_restore.c
 * Behaviour: cancellation and signals keep working after threads ended inside a signal
 * handler. Round after round, a thread blocked in a cancellation point inside glibc that no
 * wrapper sees (clock_nanosleep on CLOCK_BOOTTIME) and a thread in an asynchronous-cancel
 * computation loop are cancelled and joined, and a thread whose SIGUSR1 handler calls
 * pthread_exit is sent SIGUSR1 and joined with the handler's value; each round's threads end
 * at once, whichever OS thread ran the threads that ended before (a thread leaving a
 * handler for good must not leave its signal blocked for whatever runs there next).
 */
#include "check.h"

#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>

#define ROUNDS 8

static atomic_int cleanups;
static struct blocker target;

static void
count_cleanup(void *arg)
{
    (void)arg;
    atomic_fetch_add(&cleanups, 1);
}

/* Deferred cancellation, blocked in glibc's clock_nanosleep (a cancellation point). */
static void *
sleeps_in_glibc(void *arg)
{
    (void)arg;
    pthread_cleanup_push(count_cleanup, NULL);
    for (;;) {
        struct timespec ts = { 60, 0 };
        blocker_here(&target, "the boottime sleeper");
        clock_nanosleep(CLOCK_BOOTTIME, 0, &ts, NULL);
    }
    pthread_cleanup_pop(0);
    return NULL;
}

static atomic_long spins;

static void *
computes(void *arg)
{
    (void)arg;
    int old;
    pthread_cleanup_push(count_cleanup, NULL);
    CHECK_OK(pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &old));
    for (;;)
        atomic_fetch_add(&spins, 1);
    pthread_cleanup_pop(0);
    return NULL;
}

/* Ends inside its SIGUSR1 handler. */
static atomic_int napping;

static void
exit_from_handler(int sig)
{
    (void)sig;
    pthread_exit((void *)5);
}

static void *
naps(void *arg)
{
    (void)arg;
    for (;;) {
        atomic_store(&napping, 1);
        sleep_ns(1000000);
    }
    return NULL;
}

static void
cancel_and_check(pthread_t t)
{
    int before = atomic_load(&cleanups);
    CHECK_OK(pthread_cancel(t));
    CHECK(join_within(t, 10) == PTHREAD_CANCELED);
    CHECK_EQ(atomic_load(&cleanups), before + 1);
}

int
main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = exit_from_handler;
    CHECK_OK(sigaction(SIGUSR1, &sa, NULL));
    for (int round = 0; round < ROUNDS; round++) {
        long before = atomic_load(&spins);
        pthread_t c = spawn(computes, NULL);
        WAIT_FOR(atomic_load(&spins) > before + 1000, 10);
        cancel_and_check(c);
        blocker_clear(&target);
        pthread_t s = spawn(sleeps_in_glibc, NULL);
        wait_blocked(&target, SYS_clock_nanosleep, NULL);
        cancel_and_check(s);
        atomic_store(&napping, 0);
        pthread_t n = spawn(naps, NULL);
        WAIT_FOR(atomic_load(&napping), 10);
        CHECK_OK(pthread_kill(n, SIGUSR1));
        CHECK_EQ((long)join_within(n, 10), 5);
        fprintf(stderr, "round %d: 2 cancelled, 1 ended in its handler\n", round);
    }
    return 0;
}
