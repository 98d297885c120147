/* tests/thread_create_join.c
 * Behaviour: threads are created and joined with their return values; pthread_self is stable per
 * thread and distinct between threads; join reports EDEADLK on self and EINVAL on a detached
 * thread; tryjoin gives EBUSY then 0, timedjoin and clockjoin give ETIMEDOUT then 0.
 */
#include "check.h"

#define NTHREADS 16

struct slot {
    long index;
    pthread_t seen_self;
    int self_stable;
};

static void *
worker(void *arg)
{
    struct slot *s = arg;
    pthread_t first = pthread_self();
    sched_yield();
    sleep_ns(1000);
    s->seen_self = pthread_self();
    s->self_stable = pthread_equal(first, s->seen_self) != 0;
    if (s->index % 2 == 0)
        return (void *)(s->index * 2 + 1);
    pthread_exit((void *)(s->index * 2 + 1));
}

/* A thread that stays alive until a byte arrives on its pipe and then returns the byte. */
static void *
waiter(void *arg)
{
    int fd = (int)(long)arg;
    unsigned char c = 0;
    CHECK_EQ(read(fd, &c, 1), 1);
    return (void *)(long)c;
}

static void
release(int fd, unsigned char c)
{
    CHECK_EQ(write(fd, &c, 1), 1);
}

static void
check_basic(void)
{
    pthread_t t[NTHREADS];
    struct slot s[NTHREADS];
    for (long i = 0; i < NTHREADS; i++) {
        s[i].index = i;
        s[i].self_stable = 0;
        if (i % 3 == 0) {
            pthread_attr_t a;
            CHECK_OK(pthread_attr_init(&a));
            CHECK_OK(pthread_attr_setdetachstate(&a, PTHREAD_CREATE_JOINABLE));
            CHECK_OK(pthread_create(&t[i], &a, worker, &s[i]));
            CHECK_OK(pthread_attr_destroy(&a));
        } else {
            CHECK_OK(pthread_create(&t[i], NULL, worker, &s[i]));
        }
    }
    for (long i = 0; i < NTHREADS; i++) {
        void *ret = NULL;
        CHECK_OK(pthread_join(t[i], &ret));
        CHECK_EQ((long)ret, i * 2 + 1);
        CHECK(s[i].self_stable);
        CHECK(pthread_equal(s[i].seen_self, t[i]));
        CHECK(!pthread_equal(s[i].seen_self, pthread_self()));
    }
    CHECK_OK(pthread_join(spawn(worker, &s[0]), NULL));
}

/* Threads alive at the same time have distinct ids. */
static void
check_distinct(void)
{
    int p[2];
    CHECK_OK(pipe(p));
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        t[i] = spawn(waiter, (void *)(long)p[0]);
    for (int i = 0; i < 8; i++)
        for (int j = i + 1; j < 8; j++)
            CHECK(!pthread_equal(t[i], t[j]));
    for (int i = 0; i < 8; i++)
        release(p[1], 'a');
    for (int i = 0; i < 8; i++)
        CHECK_EQ((long)join_within(t[i], 10), 'a');
    close(p[0]);
    close(p[1]);
}

static void
check_join_errors(void)
{
    CHECK_ERR(pthread_join(pthread_self(), NULL), EDEADLK);

    /* A detached thread cannot be joined; keep it alive while we try. */
    int p[2];
    CHECK_OK(pipe(p));
    pthread_attr_t a;
    CHECK_OK(pthread_attr_init(&a));
    CHECK_OK(pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED));
    pthread_t t;
    CHECK_OK(pthread_create(&t, &a, waiter, (void *)(long)p[0]));
    CHECK_OK(pthread_attr_destroy(&a));
    CHECK_ERR(pthread_join(t, NULL), EINVAL);
    /* glibc 2.36's tryjoin tests "still running" before "detached": EBUSY, not EINVAL. */
    CHECK_ERR(pthread_tryjoin_np(t, NULL), EBUSY);
    release(p[1], 'x');

    /* pthread_detach of a running joinable thread makes it unjoinable too. */
    t = spawn(waiter, (void *)(long)p[0]);
    CHECK_OK(pthread_detach(t));
    CHECK_ERR(pthread_join(t, NULL), EINVAL);
    release(p[1], 'y');
    /* The two detached threads may still be reading, so the pipe stays open. */
}

static void
check_try_timed_clock_join(void)
{
    int p[2];
    CHECK_OK(pipe(p));

    /* tryjoin: EBUSY while running, then 0 once it has finished. */
    pthread_t t = spawn(waiter, (void *)(long)p[0]);
    CHECK_ERR(pthread_tryjoin_np(t, NULL), EBUSY);
    release(p[1], 7);
    void *ret = NULL;
    long long until = now_ns(CLOCK_MONOTONIC) + 10000000000LL;
    int rc;
    while ((rc = pthread_tryjoin_np(t, &ret)) == EBUSY) {
        CHECK(now_ns(CLOCK_MONOTONIC) < until);
        sleep_ns(1000000);
    }
    CHECK_EQ(rc, 0);
    CHECK_EQ((long)ret, 7);

    /* timedjoin (CLOCK_REALTIME): ETIMEDOUT no earlier than the deadline, then 0. */
    t = spawn(waiter, (void *)(long)p[0]);
    struct timespec dl = deadline_in(CLOCK_REALTIME, 50000000);
    CHECK_ERR(pthread_timedjoin_np(t, NULL, &dl), ETIMEDOUT);
    CHECK(now_ns(CLOCK_REALTIME) >= ts_to_ns(&dl));
    release(p[1], 8);
    dl = deadline_in(CLOCK_REALTIME, 10000000000LL);
    ret = NULL;
    CHECK_OK(pthread_timedjoin_np(t, &ret, &dl));
    CHECK_EQ((long)ret, 8);

    /* clockjoin on CLOCK_MONOTONIC, then on CLOCK_REALTIME. */
    t = spawn(waiter, (void *)(long)p[0]);
    dl = deadline_in(CLOCK_MONOTONIC, 50000000);
    CHECK_ERR(pthread_clockjoin_np(t, NULL, CLOCK_MONOTONIC, &dl), ETIMEDOUT);
    CHECK(now_ns(CLOCK_MONOTONIC) >= ts_to_ns(&dl));
    dl = deadline_in(CLOCK_REALTIME, 20000000);
    CHECK_ERR(pthread_clockjoin_np(t, NULL, CLOCK_REALTIME, &dl), ETIMEDOUT);
    CHECK(now_ns(CLOCK_REALTIME) >= ts_to_ns(&dl));
    /* A deadline already past times out at once while the thread runs. */
    dl = deadline_in(CLOCK_MONOTONIC, -1000000);
    CHECK_ERR(pthread_clockjoin_np(t, NULL, CLOCK_MONOTONIC, &dl), ETIMEDOUT);
    release(p[1], 9);
    dl = deadline_in(CLOCK_MONOTONIC, 10000000000LL);
    ret = NULL;
    CHECK_OK(pthread_clockjoin_np(t, &ret, CLOCK_MONOTONIC, &dl));
    CHECK_EQ((long)ret, 9);

    close(p[0]);
    close(p[1]);
}

static void *
creator(void *arg)
{
    /* A thread that creates and joins its own children. */
    (void)arg;
    struct slot s[4];
    pthread_t t[4];
    for (long i = 0; i < 4; i++) {
        s[i].index = i + 100;
        t[i] = spawn(worker, &s[i]);
    }
    long sum = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        CHECK_OK(pthread_join(t[i], &r));
        sum += (long)r;
    }
    return (void *)sum;
}

int
main(void)
{
    check_basic();
    check_distinct();
    check_join_errors();
    check_try_timed_clock_join();
    void *r = join_within(spawn(creator, NULL), 10);
    CHECK_EQ((long)r, 201 + 203 + 205 + 207);
    printf("thread_create_join: ok\n");
    return 0;
}
