/* tests/spin_holder_parks.c
 * Behaviour: threads spinning in pthread_spin_lock get the lock once its holder, which parked
 * (in a pipe read, then a 50 ms sleep) while holding it, wakes and unlocks, even on one
 * processor (GREENRUN_PROCS=1);
 * trylock is EBUSY while held; spinlocks keep a count exact under contention.
 */
#include "check.h"

#include <stdatomic.h>

#define ROUNDS   5
#define SPINNERS 3

static pthread_spinlock_t lock;
static int held_pipe[2], go_pipe[2];
static atomic_int spinners_started;
static atomic_int acquired;
static atomic_int holder_released;
static atomic_int early;

static void *
holder(void *arg)
{
    (void)arg;
    for (int r = 0; r < ROUNDS; r++) {
        CHECK_OK(pthread_spin_lock(&lock));
        char c = 'h';
        CHECK_EQ(write(held_pipe[1], &c, 1), 1);
        /* Park while holding the spinlock: on a pipe until the spinners spin, then a sleep. */
        CHECK_EQ(read(go_pipe[0], &c, 1), 1);
        sleep_ns(50000000);
        atomic_store(&holder_released, r + 1);
        CHECK_OK(pthread_spin_unlock(&lock));
        /* Wait until this round's spinners are through before taking it again. */
        WAIT_FOR(atomic_load(&acquired) >= (r + 1) * SPINNERS, 30);
    }
    return NULL;
}

static void *
spinner(void *arg)
{
    int round = (int)(long)arg;
    /* Held: this one will spin in pthread_spin_lock (the holder waits for all to get here). */
    CHECK_ERR(pthread_spin_trylock(&lock), EBUSY);
    atomic_fetch_add(&spinners_started, 1);
    CHECK_OK(pthread_spin_lock(&lock));
    if (atomic_load(&holder_released) < round + 1)
        atomic_fetch_add(&early, 1);
    atomic_fetch_add(&acquired, 1);
    CHECK_OK(pthread_spin_unlock(&lock));
    return NULL;
}

#define INCREMENTS 20000
static long counter;

static void *
incrementer(void *arg)
{
    (void)arg;
    for (int i = 0; i < INCREMENTS; i++) {
        CHECK_OK(pthread_spin_lock(&lock));
        counter++;
        CHECK_OK(pthread_spin_unlock(&lock));
    }
    return NULL;
}

int
main(void)
{
    CHECK_OK(pthread_spin_init(&lock, PTHREAD_PROCESS_PRIVATE));
    CHECK_OK(pipe(held_pipe));
    CHECK_OK(pipe(go_pipe));
    long long t0 = now_ns(CLOCK_MONOTONIC);
    pthread_t h = spawn(holder, NULL);
    for (int r = 0; r < ROUNDS; r++) {
        char c;
        CHECK_EQ(read(held_pipe[0], &c, 1), 1);
        CHECK_ERR(pthread_spin_trylock(&lock), EBUSY);
        pthread_t s[SPINNERS];
        for (int i = 0; i < SPINNERS; i++)
            s[i] = spawn(spinner, (void *)(long)r);
        WAIT_FOR(atomic_load(&spinners_started) == (r + 1) * SPINNERS, 30);
        CHECK_EQ(write(go_pipe[1], &c, 1), 1);
        for (int i = 0; i < SPINNERS; i++)
            join_within(s[i], 20);
    }
    join_within(h, 20);
    CHECK_EQ(atomic_load(&acquired), ROUNDS * SPINNERS);
    CHECK_EQ(atomic_load(&early), 0);
    fprintf(stderr, "%d rounds of a parked holder in %lld ms\n", ROUNDS,
            (now_ns(CLOCK_MONOTONIC) - t0) / 1000000);

    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        t[i] = spawn(incrementer, NULL);
    for (int i = 0; i < 4; i++)
        join_within(t[i], 20);
    CHECK_EQ(counter, 4L * INCREMENTS);

    CHECK_OK(pthread_spin_trylock(&lock));
    CHECK_ERR(pthread_spin_trylock(&lock), EBUSY);
    CHECK_OK(pthread_spin_unlock(&lock));
    CHECK_OK(pthread_spin_destroy(&lock));
    CHECK_OK(pthread_spin_init(&lock, PTHREAD_PROCESS_SHARED));
    CHECK_OK(pthread_spin_lock(&lock));
    CHECK_OK(pthread_spin_unlock(&lock));
    CHECK_OK(pthread_spin_destroy(&lock));
    return 0;
}
