/* tests/cancel_mask_restore.c
 * Behaviour: cancellation keeps working after earlier cancellations. Round after round, a
 * thread blocked in a cancellation point inside glibc that no wrapper sees (clock_nanosleep
 * on CLOCK_BOOTTIME) and a thread in an asynchronous-cancel computation loop are cancelled
 * and joined; each round's cancellations act at once, whichever OS thread ran the threads
 * cancelled before (a cancellation acted on inside the cancel signal's handler must not leave
 * that signal blocked for whatever runs there next).
 */
#include "check.h"

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
    for (int round = 0; round < ROUNDS; round++) {
        long before = atomic_load(&spins);
        pthread_t c = spawn(computes, NULL);
        WAIT_FOR(atomic_load(&spins) > before + 1000, 10);
        cancel_and_check(c);
        blocker_clear(&target);
        pthread_t s = spawn(sleeps_in_glibc, NULL);
        wait_blocked(&target, SYS_clock_nanosleep, NULL);
        cancel_and_check(s);
        fprintf(stderr, "round %d: 2 cancelled\n", round);
    }
    return 0;
}
