/* tests/thread_churn.c
 * Behaviour: tens of thousands of short-lived threads (joinable and detached, in overlapping
 * batches) each start with fresh thread state even when the runtime recycles memory: initialised
 * __thread variables hold their initial values, zeroed ones are zero, errno is 0 and every key
 * reads NULL.
 */
#include "check.h"

#include <stdatomic.h>

#define BATCH 100

static __thread int initialised = 42;
static __thread char zeroed[200];
static __thread long long big_initialised[4] = { 1, 2, 3, 4 };
static pthread_key_t key;
static atomic_long fresh_failures;
static atomic_long detached_done;

static void
check_fresh_and_dirty(long id)
{
    int ok = initialised == 42 && errno == 0 && pthread_getspecific(key) == NULL &&
             big_initialised[0] == 1 && big_initialised[3] == 4;
    for (size_t i = 0; i < sizeof zeroed; i++)
        ok = ok && zeroed[i] == 0;
    if (!ok)
        atomic_fetch_add(&fresh_failures, 1);
    /* Leave everything dirty for whoever reuses this memory next. */
    initialised = (int)id;
    memset(zeroed, 0xa5, sizeof zeroed);
    big_initialised[0] = big_initialised[3] = -1;
    errno = EIO;
    CHECK_OK(pthread_setspecific(key, (void *)(id + 1)));
}

static void *
short_lived(void *arg)
{
    check_fresh_and_dirty((long)arg);
    return arg;
}

static void *
short_lived_detached(void *arg)
{
    check_fresh_and_dirty((long)arg);
    atomic_fetch_add(&detached_done, 1);
    return NULL;
}

int
main(void)
{
    CHECK_OK(pthread_key_create(&key, NULL));
    long total = scale(50000, 3000);
    long long t0 = now_ns(CLOCK_MONOTONIC);
    pthread_t batch[BATCH];
    long created = 0;
    while (created < total) {
        for (int i = 0; i < BATCH; i++)
            batch[i] = spawn(short_lived, (void *)(created + i));
        for (int i = 0; i < BATCH; i++)
            CHECK_EQ((long)join_within(batch[i], 30), created + i);
        created += BATCH;
    }
    long long t1 = now_ns(CLOCK_MONOTONIC);

    pthread_attr_t a;
    CHECK_OK(pthread_attr_init(&a));
    CHECK_OK(pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED));
    long detached = total / 5;
    for (long i = 0; i < detached; i++) {
        pthread_t t;
        int rc;
        green_flood_guard();
        /* Detached threads pile up if they run slower than we create them: retry on EAGAIN. */
        while ((rc = pthread_create(&t, &a, short_lived_detached, (void *)i)) == EAGAIN)
            sleep_ns(1000000);
        CHECK_EQ(rc, 0);
        if (i % BATCH == BATCH - 1)
            WAIT_FOR(atomic_load(&detached_done) >= i - 4 * BATCH, 30);
    }
    CHECK_OK(pthread_attr_destroy(&a));
    WAIT_FOR(atomic_load(&detached_done) == detached, 30);
    fprintf(stderr, "%ld joinable threads in %lld ms, %ld detached in %lld ms\n", total,
            (t1 - t0) / 1000000, detached, (now_ns(CLOCK_MONOTONIC) - t1) / 1000000);
    CHECK_EQ(atomic_load(&fresh_failures), 0);
    CHECK_EQ(initialised, 42);
    return 0;
}
