/* tests/cond_timed.c
 * Behaviour: condition variables time out no earlier than the deadline on CLOCK_REALTIME and
 * CLOCK_MONOTONIC (condattr clock, timedwait, clockwait), return with the mutex held, report
 * EINVAL and EPERM as glibc does; a signal wakes exactly one waiter, a broadcast wakes all, and
 * neither a 10,000-round ping-pong nor a storm of signals to many waiters loses a wakeup.
 */
#include "check.h"

#include <sys/syscall.h>

static pthread_mutex_t mu; /* errorcheck, so relocking proves we own it */
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;

static void
check_owned(pthread_mutex_t *m)
{
    CHECK_ERR(pthread_mutex_lock(m), EDEADLK);
}

static void
check_timeouts(void)
{
    CHECK_OK(pthread_mutex_lock(&mu));

    /* Default clock: CLOCK_REALTIME. */
    struct timespec dl = deadline_in(CLOCK_REALTIME, 100000000);
    long long t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_ERR(pthread_cond_timedwait(&cond, &mu, &dl), ETIMEDOUT);
    CHECK(now_ns(CLOCK_REALTIME) >= ts_to_ns(&dl));
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 90000000);
    check_owned(&mu);

    /* A condattr clock of CLOCK_MONOTONIC. */
    pthread_condattr_t ca;
    CHECK_OK(pthread_condattr_init(&ca));
    clockid_t clk = -1;
    CHECK_OK(pthread_condattr_getclock(&ca, &clk));
    CHECK_EQ(clk, CLOCK_REALTIME);
    CHECK_OK(pthread_condattr_setclock(&ca, CLOCK_MONOTONIC));
    CHECK_OK(pthread_condattr_getclock(&ca, &clk));
    CHECK_EQ(clk, CLOCK_MONOTONIC);
    CHECK_ERR(pthread_condattr_setclock(&ca, CLOCK_THREAD_CPUTIME_ID), EINVAL);
    pthread_cond_t mono;
    CHECK_OK(pthread_cond_init(&mono, &ca));
    CHECK_OK(pthread_condattr_destroy(&ca));
    dl = deadline_in(CLOCK_MONOTONIC, 100000000);
    CHECK_ERR(pthread_cond_timedwait(&mono, &mu, &dl), ETIMEDOUT);
    CHECK(now_ns(CLOCK_MONOTONIC) >= ts_to_ns(&dl));
    check_owned(&mu);
    CHECK_OK(pthread_cond_destroy(&mono));

    /* pthread_cond_clockwait on both clocks, whatever the condattr says. */
    dl = deadline_in(CLOCK_MONOTONIC, 50000000);
    CHECK_ERR(pthread_cond_clockwait(&cond, &mu, CLOCK_MONOTONIC, &dl), ETIMEDOUT);
    CHECK(now_ns(CLOCK_MONOTONIC) >= ts_to_ns(&dl));
    check_owned(&mu);
    dl = deadline_in(CLOCK_REALTIME, 50000000);
    CHECK_ERR(pthread_cond_clockwait(&cond, &mu, CLOCK_REALTIME, &dl), ETIMEDOUT);
    CHECK(now_ns(CLOCK_REALTIME) >= ts_to_ns(&dl));
    check_owned(&mu);

    /* Past deadlines time out at once; bad clocks and bad timespecs are EINVAL. */
    dl = deadline_in(CLOCK_REALTIME, -1000000000LL);
    t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_ERR(pthread_cond_timedwait(&cond, &mu, &dl), ETIMEDOUT);
    dl = deadline_in(CLOCK_MONOTONIC, -1000000000LL);
    CHECK_ERR(pthread_cond_clockwait(&cond, &mu, CLOCK_MONOTONIC, &dl), ETIMEDOUT);
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 < 1000000000LL);
    dl = deadline_in(CLOCK_MONOTONIC, 10000000);
    CHECK_ERR(pthread_cond_clockwait(&cond, &mu, CLOCK_PROCESS_CPUTIME_ID, &dl), EINVAL);
    struct timespec bad = { time(NULL) + 1, -1 };
    CHECK_ERR(pthread_cond_timedwait(&cond, &mu, &bad), EINVAL);
    bad.tv_nsec = 1000000000;
    CHECK_ERR(pthread_cond_timedwait(&cond, &mu, &bad), EINVAL);
    check_owned(&mu);
    CHECK_OK(pthread_mutex_unlock(&mu));

    /* Waiting with an errorcheck mutex we do not own: EPERM, as glibc's unlock reports. */
    dl = deadline_in(CLOCK_REALTIME, 10000000);
    CHECK_ERR(pthread_cond_timedwait(&cond, &mu, &dl), EPERM);
}

/* Waiters that count how many returns from pthread_cond_wait they have seen. */
static pthread_mutex_t wmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wcond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t progress = PTHREAD_COND_INITIALIZER;
static int waiting;
static int woken;
static int released;

static void *
counted_waiter(void *arg)
{
    struct blocker *b = arg;
    CHECK_OK(pthread_mutex_lock(&wmu));
    waiting++;
    CHECK_OK(pthread_cond_broadcast(&progress));
    /* One wait, no predicate: each return is one wakeup (no spurious wakeups expected here). */
    blocker_here(b, "a counted waiter");
    CHECK_OK(pthread_cond_wait(&wcond, &wmu));
    woken++;
    CHECK_OK(pthread_cond_broadcast(&progress));
    while (!released)
        CHECK_OK(pthread_cond_wait(&progress, &wmu));
    CHECK_OK(pthread_mutex_unlock(&wmu));
    return NULL;
}

static void
wait_progress(int *field, int target)
{
    struct timespec dl = deadline_in(CLOCK_REALTIME, 10000000000LL);
    while (*field < target)
        CHECK_OK(pthread_cond_timedwait(&progress, &wmu, &dl));
}

static void
check_signal_and_broadcast(void)
{
    enum { K = 6 };
    pthread_t t[K];
    struct blocker blocked[K];
    memset(blocked, 0, sizeof blocked);
    for (int i = 0; i < K; i++)
        t[i] = spawn(counted_waiter, &blocked[i]);
    CHECK_OK(pthread_mutex_lock(&wmu));
    wait_progress(&waiting, K);
    /* All K are inside pthread_cond_wait (they counted themselves under the mutex). */
    for (int i = 1; i <= K - 2; i++) {
        CHECK_OK(pthread_cond_signal(&wcond));
        wait_progress(&woken, i);
        /* Count once every waiter is blocked again (the woken ones on progress, the others
         * still on wcond): an extra (wrong) wakeup has shown up by then. */
        CHECK_OK(pthread_mutex_unlock(&wmu));
        for (int j = 0; j < K; j++)
            wait_blocked(&blocked[j], SYS_futex, "cond");
        CHECK_OK(pthread_mutex_lock(&wmu));
        CHECK_EQ(woken, i);
    }
    /* The last two together, with a broadcast. */
    CHECK_OK(pthread_cond_broadcast(&wcond));
    wait_progress(&woken, K);
    CHECK_EQ(woken, K);
    released = 1;
    CHECK_OK(pthread_cond_broadcast(&progress));
    CHECK_OK(pthread_mutex_unlock(&wmu));
    for (int i = 0; i < K; i++)
        join_within(t[i], 10);

    /* A signal or broadcast with nobody waiting is not remembered. */
    CHECK_OK(pthread_cond_signal(&wcond));
    CHECK_OK(pthread_cond_broadcast(&wcond));
    CHECK_OK(pthread_mutex_lock(&wmu));
    struct timespec dl = deadline_in(CLOCK_REALTIME, 20000000);
    CHECK_ERR(pthread_cond_timedwait(&wcond, &wmu, &dl), ETIMEDOUT);
    CHECK_OK(pthread_mutex_unlock(&wmu));
}

/* Ping-pong: two threads hand a turn back and forth. */
#define PINGPONG 10000
static pthread_mutex_t pmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pcond[2] = { PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER };
static int turn;

static void *
pinger(void *arg)
{
    int me = (int)(long)arg;
    for (int i = 0; i < PINGPONG; i++) {
        CHECK_OK(pthread_mutex_lock(&pmu));
        while (turn != me)
            CHECK_OK(pthread_cond_wait(&pcond[me], &pmu));
        turn = 1 - me;
        CHECK_OK(pthread_cond_signal(&pcond[1 - me]));
        CHECK_OK(pthread_mutex_unlock(&pmu));
    }
    return NULL;
}

static void
check_pingpong(void)
{
    long long t0 = now_ns(CLOCK_MONOTONIC);
    pthread_t a = spawn(pinger, (void *)0);
    pthread_t b = spawn(pinger, (void *)1);
    join_within(a, 30);
    join_within(b, 30);
    CHECK_EQ(turn, 0);
    fprintf(stderr, "ping-pong: %d round trips in %lld ms\n", PINGPONG,
            (now_ns(CLOCK_MONOTONIC) - t0) / 1000000);
}

/* Token consumers: every signal sent while consumers wait must release one of them. */
#define CONSUMERS   32
#define TOKENS_EACH 50
static pthread_mutex_t tmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tcond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t tidle = PTHREAD_COND_INITIALIZER;
static int tokens;
static int tidle_count;
static int finished;
static long consumed;

static void *
consumer(void *arg)
{
    (void)arg;
    for (int i = 0; i < TOKENS_EACH; i++) {
        CHECK_OK(pthread_mutex_lock(&tmu));
        tidle_count++;
        CHECK_OK(pthread_cond_signal(&tidle));
        while (tokens == 0)
            CHECK_OK(pthread_cond_wait(&tcond, &tmu));
        tidle_count--;
        tokens--;
        consumed++;
        if (i == TOKENS_EACH - 1) {
            finished++;
            CHECK_OK(pthread_cond_signal(&tidle));
        }
        CHECK_OK(pthread_mutex_unlock(&tmu));
    }
    return NULL;
}

static void
check_many_signals(void)
{
    pthread_t t[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++)
        t[i] = spawn(consumer, NULL);
    for (int i = 0; i < CONSUMERS * TOKENS_EACH; i++) {
        CHECK_OK(pthread_mutex_lock(&tmu));
        /*
         * Half of the tokens go one at a time, each only once every unfinished consumer waits
         * again; the other half go in bursts of ten while woken consumers are still running.
         */
        if (i % 20 < 10) {
            struct timespec dl = deadline_in(CLOCK_REALTIME, 10000000000LL);
            while (tokens > 0 || tidle_count < CONSUMERS - finished)
                CHECK_OK(pthread_cond_timedwait(&tidle, &tmu, &dl));
        }
        tokens++;
        CHECK_OK(pthread_cond_signal(&tcond));
        CHECK_OK(pthread_mutex_unlock(&tmu));
    }
    /* A lost wakeup leaves a token unconsumed and a consumer asleep: the join times out. */
    for (int i = 0; i < CONSUMERS; i++)
        join_within(t[i], 20);
    CHECK_EQ(consumed, CONSUMERS * TOKENS_EACH);
    CHECK_EQ(tokens, 0);
}

int
main(void)
{
    pthread_mutexattr_t a;
    CHECK_OK(pthread_mutexattr_init(&a));
    CHECK_OK(pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK));
    CHECK_OK(pthread_mutex_init(&mu, &a));
    CHECK_OK(pthread_mutexattr_destroy(&a));

    check_timeouts();
    check_signal_and_broadcast();
    check_pingpong();
    check_many_signals();
    return 0;
}
