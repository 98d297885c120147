/* tests/c11_threads.c
 * Behaviour: the C11 <threads.h> API works between threads: thrd_create/join/detach/exit/current/
 * equal/sleep/yield, mtx_t (plain, recursive, timed) with trylock thrd_busy and timedlock
 * thrd_timedout, cnd_t wait/timedwait/signal/broadcast, tss_t with a destructor at thread exit,
 * and call_once running its function exactly once under contention.
 */
#include "check.h"

#include <stdatomic.h>
#include <threads.h>

#define N          8
#define INCREMENTS 10000

static mtx_t plain, recursive, timed;
static cnd_t cnd;
static long counter;

static int
incrementer(void *arg)
{
    (void)arg;
    for (int i = 0; i < INCREMENTS; i++) {
        CHECK_EQ(mtx_lock(&plain), thrd_success);
        long v = counter;
        if (i % 1000 == 0)
            thrd_yield();
        counter = v + 1;
        CHECK_EQ(mtx_unlock(&plain), thrd_success);
    }
    return 7;
}

static struct timespec
utc_in(long long ns)
{
    struct timespec ts;
    CHECK_EQ(timespec_get(&ts, TIME_UTC), TIME_UTC);
    return ns_to_ts(ts_to_ns(&ts) + ns);
}

static void
check_thrd_and_mtx(void)
{
    CHECK_EQ(mtx_init(&plain, mtx_plain), thrd_success);
    CHECK_EQ(mtx_init(&recursive, mtx_plain | mtx_recursive), thrd_success);
    CHECK_EQ(mtx_init(&timed, mtx_timed), thrd_success);

    thrd_t t[N];
    for (int i = 0; i < N; i++)
        CHECK_EQ(thrd_create(&t[i], incrementer, NULL), thrd_success);
    for (int i = 0; i < N; i++) {
        int res = -1;
        CHECK_EQ(thrd_join(t[i], &res), thrd_success);
        CHECK_EQ(res, 7);
    }
    CHECK_EQ(counter, (long)N * INCREMENTS);

    CHECK_EQ(mtx_lock(&recursive), thrd_success);
    CHECK_EQ(mtx_lock(&recursive), thrd_success);
    CHECK_EQ(mtx_trylock(&recursive), thrd_success);
    CHECK_EQ(mtx_unlock(&recursive), thrd_success);
    CHECK_EQ(mtx_unlock(&recursive), thrd_success);
    CHECK_EQ(mtx_unlock(&recursive), thrd_success);
}

/* Another thread holds a mutex; trylock and timedlock from here fail. */
static atomic_int holding, release_it;

static int
holder(void *arg)
{
    mtx_t *m = arg;
    CHECK_EQ(mtx_lock(m), thrd_success);
    atomic_store(&holding, 1);
    while (!atomic_load(&release_it)) {
        struct timespec ts = { 0, 1000000 };
        CHECK_EQ(thrd_sleep(&ts, NULL), 0);
    }
    CHECK_EQ(mtx_unlock(m), thrd_success);
    return 0;
}

static void
check_busy(mtx_t *m, int is_timed)
{
    atomic_store(&holding, 0);
    atomic_store(&release_it, 0);
    thrd_t t;
    CHECK_EQ(thrd_create(&t, holder, m), thrd_success);
    WAIT_FOR(atomic_load(&holding), 10);
    CHECK_EQ(mtx_trylock(m), thrd_busy);
    if (is_timed) {
        struct timespec dl = utc_in(50000000);
        CHECK_EQ(mtx_timedlock(m, &dl), thrd_timedout);
        CHECK(now_ns(CLOCK_REALTIME) >= ts_to_ns(&dl));
    }
    atomic_store(&release_it, 1);
    if (is_timed) {
        struct timespec dl = utc_in(10000000000LL);
        CHECK_EQ(mtx_timedlock(m, &dl), thrd_success);
    } else {
        CHECK_EQ(mtx_lock(m), thrd_success);
    }
    CHECK_EQ(mtx_unlock(m), thrd_success);
    CHECK_EQ(thrd_join(t, NULL), thrd_success);
}

/* Condition variables. */
static int ready_count, released;

static int
cnd_waiter(void *arg)
{
    (void)arg;
    CHECK_EQ(mtx_lock(&plain), thrd_success);
    ready_count++;
    CHECK_EQ(cnd_broadcast(&cnd), thrd_success);
    while (!released)
        CHECK_EQ(cnd_wait(&cnd, &plain), thrd_success);
    released--;
    CHECK_EQ(mtx_unlock(&plain), thrd_success);
    return 0;
}

static void
check_cnd(void)
{
    CHECK_EQ(cnd_init(&cnd), thrd_success);
    CHECK_EQ(mtx_lock(&plain), thrd_success);
    struct timespec dl = utc_in(50000000);
    CHECK_EQ(cnd_timedwait(&cnd, &plain, &dl), thrd_timedout);
    CHECK(now_ns(CLOCK_REALTIME) >= ts_to_ns(&dl));
    CHECK_EQ(mtx_unlock(&plain), thrd_success);

    thrd_t t[4];
    for (int i = 0; i < 4; i++)
        CHECK_EQ(thrd_create(&t[i], cnd_waiter, NULL), thrd_success);
    CHECK_EQ(mtx_lock(&plain), thrd_success);
    dl = utc_in(10000000000LL);
    while (ready_count < 4)
        CHECK_EQ(cnd_timedwait(&cnd, &plain, &dl), thrd_success);
    /* One by signal, three by broadcast. */
    released = 1;
    CHECK_EQ(cnd_signal(&cnd), thrd_success);
    CHECK_EQ(mtx_unlock(&plain), thrd_success);
    CHECK_EQ(mtx_lock(&plain), thrd_success);
    released += 3;
    CHECK_EQ(cnd_broadcast(&cnd), thrd_success);
    CHECK_EQ(mtx_unlock(&plain), thrd_success);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(thrd_join(t[i], NULL), thrd_success);
    CHECK_EQ(released, 0);
    cnd_destroy(&cnd);
}

/* thrd_current, thrd_equal, thrd_exit, thrd_detach, thrd_sleep. */
static thrd_t seen_self;

static int
exits_early(void *arg)
{
    seen_self = thrd_current();
    CHECK(thrd_equal(seen_self, thrd_current()));
    if (arg != NULL)
        thrd_exit(42);
    return 1;
}

static atomic_int detached_done;

static int
detached_fn(void *arg)
{
    (void)arg;
    thrd_yield();
    atomic_store(&detached_done, 1);
    return 0;
}

static void
check_thrd_misc(void)
{
    thrd_t t;
    CHECK_EQ(thrd_create(&t, exits_early, &t), thrd_success);
    int res = 0;
    CHECK_EQ(thrd_join(t, &res), thrd_success);
    CHECK_EQ(res, 42);
    CHECK(thrd_equal(t, seen_self));
    CHECK(!thrd_equal(t, thrd_current()));

    CHECK_EQ(thrd_create(&t, detached_fn, NULL), thrd_success);
    CHECK_EQ(thrd_detach(t), thrd_success);
    WAIT_FOR(atomic_load(&detached_done), 10);

    struct timespec ts = { 0, 20000000 }, rem = { 77, 77 };
    long long t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_EQ(thrd_sleep(&ts, &rem), 0);
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 20000000);
    CHECK_EQ(rem.tv_sec, 77);
    CHECK_EQ(rem.tv_nsec, 77);
    thrd_yield();
}

/* tss with a destructor. */
static tss_t key;
static atomic_int tss_destructor_calls;
static atomic_long tss_destructor_sum;

static void
tss_destructor(void *value)
{
    atomic_fetch_add(&tss_destructor_calls, 1);
    atomic_fetch_add(&tss_destructor_sum, (long)value);
}

static int
tss_user(void *arg)
{
    CHECK(tss_get(key) == NULL);
    CHECK_EQ(tss_set(key, arg), thrd_success);
    thrd_yield();
    CHECK(tss_get(key) == arg);
    return 0;
}

static void
check_tss(void)
{
    CHECK_EQ(tss_create(&key, tss_destructor), thrd_success);
    CHECK_EQ(tss_set(key, (void *)1000L), thrd_success);
    thrd_t t[4];
    for (long i = 0; i < 4; i++)
        CHECK_EQ(thrd_create(&t[i], tss_user, (void *)(i + 1)), thrd_success);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(thrd_join(t[i], NULL), thrd_success);
    CHECK_EQ(atomic_load(&tss_destructor_calls), 4);
    CHECK_EQ(atomic_load(&tss_destructor_sum), 1 + 2 + 3 + 4);
    CHECK_EQ((long)tss_get(key), 1000);
    tss_delete(key);
}

/* call_once from many threads at once. */
static once_flag once = ONCE_FLAG_INIT;
static atomic_int once_calls;
static int once_value;

static void
once_fn(void)
{
    atomic_fetch_add(&once_calls, 1);
    struct timespec ts = { 0, 20000000 };
    thrd_sleep(&ts, NULL);
    once_value = 99;
}

static int
once_user(void *arg)
{
    (void)arg;
    call_once(&once, once_fn);
    CHECK_EQ(once_value, 99);
    return 0;
}

static void
check_call_once(void)
{
    thrd_t t[16];
    for (int i = 0; i < 16; i++)
        CHECK_EQ(thrd_create(&t[i], once_user, NULL), thrd_success);
    for (int i = 0; i < 16; i++)
        CHECK_EQ(thrd_join(t[i], NULL), thrd_success);
    CHECK_EQ(atomic_load(&once_calls), 1);
}

int
main(void)
{
    check_thrd_and_mtx();
    check_busy(&plain, 0);
    check_busy(&timed, 1);
    check_busy(&recursive, 0);
    check_cnd();
    check_thrd_misc();
    check_tss();
    check_call_once();
    mtx_destroy(&plain);
    mtx_destroy(&recursive);
    mtx_destroy(&timed);
    return 0;
}
