/* tests/preempt_timer_eintr.c
 * Behaviour: threads that compute in their own code without end, one per processor and
 * more, do not keep a thread that sleeps 1 ms over and over from ticking (the ticker must
 * tick while they run), and a thread that computes for a while and then sleeps in a call
 * the kernel would end early for any signal handler (clock_nanosleep on CLOCK_BOOTTIME,
 * which returns EINTR rather than restart) always sleeps its whole time.
 * Under greenrun the second part checks that the preemption timer each M arms for a
 * thread that was preempted before never fires into such a call: the thread computes long
 * enough to be preempted, and the ticker's 1 ms timers always wait on its processor.
 */
#include "check.h"

#include <stdatomic.h>

#define ROUNDS  40
#define SPIN_NS 3000000LL /* each round computes this long before it sleeps */

static atomic_int stop;
static atomic_int spinning;

/* Compute until told to stop; the clock is read only every so often, so the thread is
 * nearly always in its own code, where the preemption signal may stop it. */
static unsigned long
spin_for(long long ns, const atomic_int *until)
{
    long long end = ns > 0 ? now_ns(CLOCK_MONOTONIC) + ns : 0;
    unsigned long x = 88172645463325252UL, acc = 0;

    for (;;) {
        for (int i = 0; i < 20000; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            acc += x;
        }
        if (until != NULL && atomic_load_explicit(until, memory_order_relaxed))
            return acc;
        if (end != 0 && now_ns(CLOCK_MONOTONIC) >= end)
            return acc;
    }
}

static void *
spinner(void *arg)
{
    (void)arg;
    atomic_fetch_add(&spinning, 1);
    return (void *)spin_for(0, &stop);
}

static void *
sleeper(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        struct timespec ts = { 0, 2000000 };
        int rc;

        spin_for(SPIN_NS, NULL);
        rc = clock_nanosleep(CLOCK_BOOTTIME, 0, &ts, NULL);
        CHECK_EQ(rc, 0);
    }
    return NULL;
}

int
main(void)
{
    int n = green_procs() + 1;
    pthread_t spin[8], s;
    struct tick_window w;

    if (n > 8)
        n = 8;
    ticker_start();
    for (int i = 0; i < n; i++)
        spin[i] = spawn(spinner, NULL);
    WAIT_FOR(atomic_load(&spinning) == n, 60);
    w = tick_window_open();
    s = spawn(sleeper, NULL);
    join_within(s, 120);
    /* The ticker kept ticking while every processor had a spinner. */
    check_ticked(tick_window_since(w), "sleeps of 1 ms beside spinners");
    atomic_store(&stop, 1);
    for (int i = 0; i < n; i++)
        join_within(spin[i], 60);
    ticker_stop();
    printf("ok: %d spinners, %d sleeps on CLOCK_BOOTTIME never cut short\n", n, ROUNDS);
    return 0;
}
