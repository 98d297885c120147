/* tests/barrier.c
 * Behaviour: a barrier releases its N threads only when all N have arrived, round after round, and
 * exactly one of them gets PTHREAD_BARRIER_SERIAL_THREAD per round; count 0 is EINVAL; a barrier
 * of one never blocks; a destroyed barrier can be initialised again.
 */
#include "check.h"

#include <stdatomic.h>

#define N      8
#define ROUNDS 2000

static pthread_barrier_t barrier;
static atomic_int arrived[ROUNDS];
static atomic_int serial[ROUNDS];

static void *
worker(void *arg)
{
    long me = (long)arg;
    for (int r = 0; r < ROUNDS; r++) {
        atomic_fetch_add(&arrived[r], 1);
        if ((r + me) % 97 == 0)
            sched_yield();
        int rc = pthread_barrier_wait(&barrier);
        CHECK(rc == 0 || rc == PTHREAD_BARRIER_SERIAL_THREAD);
        if (rc == PTHREAD_BARRIER_SERIAL_THREAD)
            atomic_fetch_add(&serial[r], 1);
        /* Nobody leaves round r before all N have arrived in it. */
        CHECK_EQ(atomic_load(&arrived[r]), N);
    }
    return NULL;
}

int
main(void)
{
    pthread_barrier_t b;
    CHECK_ERR(pthread_barrier_init(&b, NULL, 0), EINVAL);

    CHECK_OK(pthread_barrier_init(&b, NULL, 1));
    for (int i = 0; i < 3; i++)
        CHECK_EQ(pthread_barrier_wait(&b), PTHREAD_BARRIER_SERIAL_THREAD);
    CHECK_OK(pthread_barrier_destroy(&b));

    pthread_barrierattr_t a;
    CHECK_OK(pthread_barrierattr_init(&a));
    int pshared = -1;
    CHECK_OK(pthread_barrierattr_getpshared(&a, &pshared));
    CHECK_EQ(pshared, PTHREAD_PROCESS_PRIVATE);
    CHECK_OK(pthread_barrier_init(&barrier, &a, N));
    CHECK_OK(pthread_barrierattr_destroy(&a));

    long long t0 = now_ns(CLOCK_MONOTONIC);
    for (int pass = 0; pass < 2; pass++) {
        pthread_t t[N];
        for (long i = 0; i < N; i++)
            t[i] = spawn(worker, (void *)i);
        for (int i = 0; i < N; i++)
            join_within(t[i], 30);
        for (int r = 0; r < ROUNDS; r++) {
            CHECK_EQ(atomic_load(&arrived[r]), N);
            CHECK_EQ(atomic_load(&serial[r]), 1);
            atomic_store(&arrived[r], 0);
            atomic_store(&serial[r], 0);
        }
        /* The second pass reuses a freshly re-initialised barrier. */
        CHECK_OK(pthread_barrier_destroy(&barrier));
        CHECK_OK(pthread_barrier_init(&barrier, NULL, N));
    }
    CHECK_OK(pthread_barrier_destroy(&barrier));
    fprintf(stderr, "2 x %d rounds of %d threads in %lld ms\n", ROUNDS, N,
            (now_ns(CLOCK_MONOTONIC) - t0) / 1000000);
    return 0;
}
