/* tests/thread_cputime.c
 * Behaviour: each thread's CPU clock counts that thread's CPU time only. While one thread
 * spins for 300 ms of CPU, another that only sleeps reports little CPU time, and a thread
 * created afterwards starts near zero. The clock id pthread_getcpuclockid gives for a thread
 * is its own (not CLOCK_THREAD_CPUTIME_ID), reads the same as that thread's
 * CLOCK_THREAD_CPUTIME_ID, and works from any thread with clock_gettime and clock_getres;
 * clock_nanosleep on it waits until that thread has run so much more, and on one's own CPU
 * clock is EINVAL. Once the thread is joined its clock is gone (EINVAL).
 */
#include "check.h"

#include <stdatomic.h>

#define SPIN_NS  300000000LL /* CPU time the spinner uses */
#define SMALL_NS 100000000LL /* "near zero": a third of it, generous for a loaded machine */

static atomic_int spin_done, sleeper_stop, spinner_may_exit;
static atomic_llong spinner_last; /* the spinner's own last reading of its clock */
static atomic_int spinner_running;

static long long
cpu_ns(clockid_t c)
{
    return now_ns(c);
}

static void *
spinner(void *arg)
{
    (void)arg;
    volatile unsigned long x = 0;
    long long start = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
    long long deadline = now_ns(CLOCK_MONOTONIC) + 60000000000LL;
    long long mine = start;

    atomic_store(&spinner_running, 1);
    while (mine - start < SPIN_NS) {
        for (int i = 0; i < 20000; i++)
            x++;
        mine = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
        atomic_store(&spinner_last, mine);
        CHECK(now_ns(CLOCK_MONOTONIC) < deadline);
    }
    atomic_store(&spin_done, 1);
    while (!atomic_load(&spinner_may_exit))
        sleep_ns(1000000);
    return NULL;
}

/* Sleeps in 1 ms steps until told to stop; returns the CPU time it used meanwhile (us). */
static void *
sleeper(void *arg)
{
    (void)arg;
    long long start = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
    while (!atomic_load(&sleeper_stop))
        sleep_ns(1000000);
    return (void *)(long)((cpu_ns(CLOCK_THREAD_CPUTIME_ID) - start) / 1000);
}

/* A thread's clock read on itself both ways: its pthread clock and CLOCK_THREAD_CPUTIME_ID. */
static void *
fresh(void *arg)
{
    (void)arg;
    clockid_t c;
    CHECK_OK(pthread_getcpuclockid(pthread_self(), &c));
    CHECK(c != CLOCK_THREAD_CPUTIME_ID);
    long long a = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
    long long b = cpu_ns(c);
    long long d = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
    CHECK(a <= b && b <= d);
    /* One's own CPU clock cannot be slept on. */
    struct timespec ms = { 0, 1000000 };
    CHECK_EQ(clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &ms, NULL), EINVAL);
    CHECK_EQ(clock_nanosleep(c, 0, &ms, NULL), EINVAL);
    return (void *)(long)(a / 1000);
}

int
main(void)
{
    pthread_t sp, sl;
    clockid_t spc, slc, mainc;
    struct timespec res;

    CHECK_OK(pthread_getcpuclockid(pthread_self(), &mainc));
    CHECK(mainc != CLOCK_THREAD_CPUTIME_ID);
    sl = spawn(sleeper, NULL);
    sp = spawn(spinner, NULL);
    CHECK_OK(pthread_getcpuclockid(sp, &spc));
    CHECK_OK(pthread_getcpuclockid(sl, &slc));
    CHECK(spc != slc && spc != mainc && slc != mainc);
    CHECK_OK(clock_getres(spc, &res));
    CHECK_EQ(res.tv_sec, 0);

    /* The spinner's clock, read from here, moves while it spins; and sleeping on it returns
     * once it has spun 20 ms more. */
    WAIT_FOR(atomic_load(&spinner_running), 10);
    long long before = cpu_ns(spc);
    struct timespec twenty = { 0, 20000000 };
    CHECK_OK(clock_nanosleep(spc, 0, &twenty, NULL));
    long long after = cpu_ns(spc);
    CHECK(after - before >= 20000000 || atomic_load(&spin_done));

    WAIT_FOR(atomic_load(&spin_done), 60);
    long long spun = cpu_ns(spc);
    CHECK(spun >= atomic_load(&spinner_last));
    CHECK(spun >= SPIN_NS);
    /* Parked now, it adds little. */
    CHECK(spun - atomic_load(&spinner_last) < SMALL_NS);

    /* The sleeper's clock, from here and from itself, stayed small. */
    long long slept = cpu_ns(slc);
    fprintf(stderr, "spinner %lld us, sleeper %lld us (read from main)\n", spun / 1000,
            slept / 1000);
    CHECK(slept < SMALL_NS);
    atomic_store(&sleeper_stop, 1);
    long sleeper_us = (long)join_within(sl, 10);
    fprintf(stderr, "sleeper %ld us (its own)\n", sleeper_us);
    CHECK(sleeper_us < SMALL_NS / 1000);

    /* A thread created after all that starts near zero. */
    long fresh_us = (long)join_within(spawn(fresh, NULL), 10);
    fprintf(stderr, "new thread %ld us at its start\n", fresh_us);
    CHECK(fresh_us < SMALL_NS / 1000);

    /* The process clock counts them all. */
    CHECK(cpu_ns(CLOCK_PROCESS_CPUTIME_ID) >= spun);

    atomic_store(&spinner_may_exit, 1);
    join_within(sp, 10);
    /* Its clock is gone with it (natively once the kernel has reaped the thread). */
    WAIT_FOR(clock_gettime(spc, &res) == -1, 10);
    CHECK_EQ(errno, EINVAL);
    return 0;
}
