/* tests/futex_raw.c
 * Behaviour: raw futex system calls made through syscall(SYS_futex, ...) work between threads:
 * FUTEX_WAIT sleeps until a FUTEX_WAKE (which reports how many it woke), fails with EAGAIN when
 * the word differs and ETIMEDOUT after a relative timeout; FUTEX_WAIT_BITSET takes absolute
 * CLOCK_MONOTONIC or CLOCK_REALTIME deadlines; FUTEX_WAKE_BITSET wakes only matching waiters.
 */
#include "check.h"

#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>

static long
futex(atomic_int *word, int op, int val, const struct timespec *ts, uint32_t val3)
{
    return syscall(SYS_futex, word, op, val, ts, NULL, val3);
}

static void
check_immediate(void)
{
    atomic_int word = 5;
    /* The word differs from the expected value: EAGAIN at once. */
    CHECK_ERR(futex(&word, FUTEX_WAIT_PRIVATE, 4, NULL, 0), EAGAIN);
    CHECK_ERR(futex(&word, FUTEX_WAIT, 4, NULL, 0), EAGAIN);
    CHECK_ERR(futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 4, NULL, FUTEX_BITSET_MATCH_ANY), EAGAIN);
    /* Nobody waits: wake reports 0. */
    CHECK_EQ(futex(&word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, 0), 0);
    CHECK_EQ(futex(&word, FUTEX_WAKE, 1, NULL, 0), 0);
    CHECK_EQ(futex(&word, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, FUTEX_BITSET_MATCH_ANY), 0);
    /* A zero bitset is invalid. */
    CHECK_ERR(futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 5, NULL, 0), EINVAL);
    /* A malformed timeout is EINVAL. */
    struct timespec bad = { 0, 1000000000 };
    CHECK_ERR(futex(&word, FUTEX_WAIT_PRIVATE, 5, &bad, 0), EINVAL);
}

static void
check_timeouts(void)
{
    atomic_int word = 0;
    /* Relative timeout (FUTEX_WAIT). */
    struct timespec rel = { 0, 50000000 };
    long long t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_ERR(futex(&word, FUTEX_WAIT_PRIVATE, 0, &rel, 0), ETIMEDOUT);
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 50000000);
    t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_ERR(futex(&word, FUTEX_WAIT, 0, &rel, 0), ETIMEDOUT);
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 50000000);

    /* Absolute CLOCK_MONOTONIC deadline (FUTEX_WAIT_BITSET). */
    struct timespec dl = deadline_in(CLOCK_MONOTONIC, 50000000);
    CHECK_ERR(futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 0, &dl, FUTEX_BITSET_MATCH_ANY), ETIMEDOUT);
    CHECK(now_ns(CLOCK_MONOTONIC) >= ts_to_ns(&dl));

    /* Absolute CLOCK_REALTIME deadline. */
    dl = deadline_in(CLOCK_REALTIME, 50000000);
    CHECK_ERR(futex(&word, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, 0, &dl,
                    FUTEX_BITSET_MATCH_ANY),
              ETIMEDOUT);
    CHECK(now_ns(CLOCK_REALTIME) >= ts_to_ns(&dl));

    /* Deadlines already past time out at once. */
    dl = deadline_in(CLOCK_MONOTONIC, -1000000000LL);
    t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_ERR(futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 0, &dl, FUTEX_BITSET_MATCH_ANY), ETIMEDOUT);
    struct timespec zero = { 0, 0 };
    CHECK_ERR(futex(&word, FUTEX_WAIT_PRIVATE, 0, &zero, 0), ETIMEDOUT);
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 < 1000000000LL);
}

/* A waiter that sleeps on its word until the word becomes 1, counting its returns. */
struct waiter {
    atomic_int word;
    int op;
    uint32_t bitset;
    atomic_int returns;
    atomic_int started;
    struct blocker blocked; /* filled before each wait */
};

static void *
waiter(void *arg)
{
    struct waiter *w = arg;
    atomic_store(&w->started, 1);
    while (atomic_load(&w->word) == 0) {
        blocker_here(&w->blocked, "the futex waiter");
        long r = futex(&w->word, w->op, 0, NULL, w->bitset);
        CHECK(r == 0 || (r == -1 && (errno == EAGAIN || errno == EINTR)));
        if (r == 0)
            atomic_fetch_add(&w->returns, 1);
    }
    return NULL;
}

/* Wake with `wake_op`/`bitset` until the wake reports one sleeper: then it was asleep. */
static void
wake_until_one(struct waiter *w, int wake_op, uint32_t bitset)
{
    long long until = now_ns(CLOCK_MONOTONIC) + 10000000000LL;
    for (;;) {
        long r = futex(&w->word, wake_op, 1, NULL, bitset);
        CHECK(r == 0 || r == 1);
        if (r == 1)
            return;
        CHECK(now_ns(CLOCK_MONOTONIC) < until);
        sleep_ns(1000000);
    }
}

static void
check_wait_wake(int wait_op, int wake_op)
{
    struct waiter w = { .op = wait_op, .bitset = FUTEX_BITSET_MATCH_ANY };
    pthread_t t = spawn(waiter, &w);
    /* Woken with the word still 0, it goes back to sleep... */
    wake_until_one(&w, wake_op, FUTEX_BITSET_MATCH_ANY);
    /* ...and once the word is 1 and it is woken again, it leaves. */
    atomic_store(&w.word, 1);
    long r = futex(&w.word, wake_op, INT_MAX, NULL, FUTEX_BITSET_MATCH_ANY);
    CHECK(r == 0 || r == 1);
    join_within(t, 10);
    CHECK(atomic_load(&w.returns) >= 1);
}

static void
check_bitsets(void)
{
    struct waiter w = { .op = FUTEX_WAIT_BITSET_PRIVATE, .bitset = 0x1 };
    pthread_t t = spawn(waiter, &w);
    /* The first matching wake that finds it asleep: returns becomes 1. */
    wake_until_one(&w, FUTEX_WAKE_BITSET_PRIVATE, 0x1);
    /* It counts that return and goes back to sleep on the word. */
    WAIT_FOR(atomic_load(&w.returns) == 1, 10);
    wait_blocked(&w.blocked, SYS_futex, "futex");
    /* Non-matching wakes find no waiter and leave it asleep, not woken once more. */
    for (int i = 0; i < 100; i++) {
        CHECK_EQ(futex(&w.word, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, NULL, 0x2), 0);
        CHECK_EQ(futex(&w.word, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, NULL, 0x6), 0);
    }
    wait_blocked(&w.blocked, SYS_futex, "futex");
    CHECK_EQ(atomic_load(&w.returns), 1);
    /* A matching wake (a bitset sharing a bit, or any) finds it asleep and releases it. */
    atomic_store(&w.word, 1);
    long r = futex(&w.word, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, NULL, 0x3);
    CHECK_EQ(r, 1);
    join_within(t, 10);
    CHECK_EQ(atomic_load(&w.returns), 2);

    /* Plain FUTEX_WAKE wakes bitset waiters too (it matches every bit). */
    struct waiter w2 = { .op = FUTEX_WAIT_BITSET_PRIVATE, .bitset = 0x4 };
    t = spawn(waiter, &w2);
    wake_until_one(&w2, FUTEX_WAKE_PRIVATE, 0);
    atomic_store(&w2.word, 1);
    futex(&w2.word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, 0);
    join_within(t, 10);
}

/* Several waiters on one word: a wake of n wakes at most n; INT_MAX wakes all. */
static void
check_many(void)
{
    enum { K = 8 };
    static struct waiter shared_w = { .op = FUTEX_WAIT_PRIVATE };
    pthread_t t[K];
    for (int i = 0; i < K; i++)
        t[i] = spawn(waiter, &shared_w);
    long total = 0;
    long long until = now_ns(CLOCK_MONOTONIC) + 10000000000LL;
    while (total < 3 * K) {
        long r = futex(&shared_w.word, FUTEX_WAKE_PRIVATE, 3, NULL, 0);
        CHECK(r >= 0 && r <= 3);
        total += r;
        CHECK(now_ns(CLOCK_MONOTONIC) < until);
        sleep_ns(1000000);
    }
    atomic_store(&shared_w.word, 1);
    futex(&shared_w.word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, 0);
    for (int i = 0; i < K; i++)
        join_within(t[i], 10);
    CHECK(atomic_load(&shared_w.returns) >= 3 * K);
}

int
main(void)
{
    check_immediate();
    check_timeouts();
    check_wait_wake(FUTEX_WAIT_PRIVATE, FUTEX_WAKE_PRIVATE);
    check_wait_wake(FUTEX_WAIT, FUTEX_WAKE);
    check_wait_wake(FUTEX_WAIT_BITSET_PRIVATE, FUTEX_WAKE_BITSET_PRIVATE);
    check_wait_wake(FUTEX_WAIT_BITSET_PRIVATE, FUTEX_WAKE_PRIVATE);
    check_bitsets();
    check_many();
    return 0;
}
