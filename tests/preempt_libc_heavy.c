/* tests/preempt_libc_heavy.c
 * Behaviour: threads that compute inside libc (memcpy, memset, memchr, strlen over 64 KiB
 * buffers, no blocking call and no allocation in the loop) do not keep the other threads from
 * running. 64 of them are started one by one; every one must get to run while the others
 * compute (natively the kernel time-slices them), the main thread's sleeps must end while
 * they run, and each must keep making progress. Bounds are wide (tens of seconds for what
 * takes milliseconds natively): the test is that nothing waits for ever, not how fast.
 * Under greenrun this holds only if a G is preempted inside libc's leaf functions: a G is
 * almost never in its own code here.
 */
#include "check.h"

#include <stdatomic.h>

#define THREADS 64
#define BUF     65536

static atomic_int started, stop;
static atomic_long progress[THREADS];

static void *
compute(void *arg)
{
    long me = (long)arg;
    char *a = aligned_alloc(64, BUF), *b = aligned_alloc(64, BUF);
    size_t sum = 0;

    CHECK(a != NULL && b != NULL);
    memset(a, 'x', BUF - 1);
    a[BUF - 1] = '\0';
    atomic_fetch_add(&started, 1);
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        memcpy(b, a, BUF);
        memset(a, (int)('a' + (sum & 7)), BUF - 1);
        sum += strlen(a) + (memchr(b, 'q', BUF) != NULL);
        atomic_fetch_add_explicit(&progress[me], 1, memory_order_relaxed);
    }
    free(a);
    free(b);
    return (void *)sum;
}

int
main(void)
{
    pthread_t t[THREADS];
    long before[THREADS];

    for (long i = 0; i < THREADS; i++) {
        t[i] = spawn(compute, (void *)i);
        /* Each new thread runs before the next is made, however busy the others are. */
        WAIT_FOR(atomic_load(&started) == i + 1, 60);
    }
    check_green_threads(THREADS);
    /* A sleep of the main thread ends while all of them compute. */
    for (int k = 0; k < 5; k++) {
        long long t0 = now_ns(CLOCK_MONOTONIC);
        sleep_ns(20000000);
        CHECK(now_ns(CLOCK_MONOTONIC) - t0 < 30000000000LL);
    }
    /* And each keeps going. */
    for (int i = 0; i < THREADS; i++)
        before[i] = atomic_load(&progress[i]);
    for (int i = 0; i < THREADS; i++)
        WAIT_FOR(atomic_load(&progress[i]) > before[i], 60);
    atomic_store(&stop, 1);
    for (int i = 0; i < THREADS; i++)
        join_within(t[i], 60);
    printf("ok: %d threads computing in libc, all started, main woke\n", THREADS);
    return 0;
}
