/* tests/mutex_fairness.c
 * Behaviour: a thread blocked on a mutex that two other threads lock and unlock in a tight loop
 * still acquires it within a bounded time (2 s, generous): no starvation.
 */
#include "check.h"

#include <stdatomic.h>

#define ROUNDS   20
#define BOUND_NS 2000000000LL

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int stop;
static atomic_long hammer_acquisitions;
static volatile long shared_work;

static void *
hammer(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        CHECK_OK(pthread_mutex_lock(&mu));
        /* A little work inside, so the lock is held most of the time. */
        for (int i = 0; i < 200; i++)
            shared_work++;
        CHECK_OK(pthread_mutex_unlock(&mu));
        atomic_fetch_add(&hammer_acquisitions, 1);
    }
    return NULL;
}

static void *
waiter(void *arg)
{
    long long *worst = arg;
    for (int round = 0; round < ROUNDS; round++) {
        /* Let the hammers run freely for a moment, then ask for the lock. */
        long before = atomic_load(&hammer_acquisitions);
        WAIT_FOR(atomic_load(&hammer_acquisitions) > before + 100, 30);
        long long t0 = now_ns(CLOCK_MONOTONIC);
        CHECK_OK(pthread_mutex_lock(&mu));
        long long waited = now_ns(CLOCK_MONOTONIC) - t0;
        shared_work++;
        CHECK_OK(pthread_mutex_unlock(&mu));
        if (waited > *worst)
            *worst = waited;
        CHECK(waited < BOUND_NS);
    }
    return NULL;
}

int
main(void)
{
    pthread_t h1 = spawn(hammer, NULL);
    pthread_t h2 = spawn(hammer, NULL);
    WAIT_FOR(atomic_load(&hammer_acquisitions) > 1000, 30);
    long long worst = 0;
    pthread_t w = spawn(waiter, &worst);
    /* ROUNDS waits of at most 2 s each: a starved waiter fails here with a line number. */
    join_within(w, ROUNDS * 2 + 10);
    atomic_store(&stop, 1);
    join_within(h1, 10);
    join_within(h2, 10);
    fprintf(stderr, "worst wait for the mutex: %lld us in %d rounds; hammers locked it %ld times\n",
            worst / 1000, ROUNDS, atomic_load(&hammer_acquisitions));
    return 0;
}
