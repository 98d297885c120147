/* tests/sleep_clock.c
 * Behaviour: sleep, usleep, nanosleep and clock_nanosleep (relative and TIMER_ABSTIME, on
 * CLOCK_REALTIME and CLOCK_MONOTONIC) sleep at least as long as asked, leave rem untouched on
 * success, reject bad arguments with EINVAL, report EINTR with the remaining time when a handler
 * interrupts them, and 1000 threads sleeping 10 ms at once finish in well under 1000 x 10 ms.
 */
#include "check.h"

#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>

static void
check_single(void)
{
    long long t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_EQ(sleep(0), 0);
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 < 1000000000LL);

    t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_EQ(sleep(1), 0);
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 1000000000LL);

    t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_OK(usleep(20000));
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 20000000);
    CHECK_OK(usleep(0));

    struct timespec req = { 0, 50000000 }, rem = { 77, 77 };
    t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_OK(nanosleep(&req, &rem));
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 50000000);
    CHECK_EQ(rem.tv_sec, 77);
    CHECK_EQ(rem.tv_nsec, 77);
    req.tv_nsec = 0;
    CHECK_OK(nanosleep(&req, NULL));

    static const clockid_t clocks[] = { CLOCK_REALTIME, CLOCK_MONOTONIC };
    for (int i = 0; i < 2; i++) {
        clockid_t c = clocks[i];
        req.tv_sec = 0;
        req.tv_nsec = 30000000;
        rem.tv_sec = rem.tv_nsec = 77;
        long long start = now_ns(c);
        CHECK_OK(clock_nanosleep(c, 0, &req, &rem));
        CHECK(now_ns(c) - start >= 30000000);
        CHECK_EQ(rem.tv_sec, 77);

        struct timespec dl = deadline_in(c, 30000000);
        CHECK_OK(clock_nanosleep(c, TIMER_ABSTIME, &dl, NULL));
        CHECK(now_ns(c) >= ts_to_ns(&dl));

        /* An absolute time in the past returns at once. */
        dl = deadline_in(c, -1000000000LL);
        start = now_ns(CLOCK_MONOTONIC);
        CHECK_OK(clock_nanosleep(c, TIMER_ABSTIME, &dl, NULL));
        CHECK(now_ns(CLOCK_MONOTONIC) - start < 500000000);
    }
}

static void
check_invalid(void)
{
    struct timespec bad = { 0, -1 };
    CHECK_ERR(nanosleep(&bad, NULL), EINVAL);
    bad.tv_nsec = 1000000000;
    CHECK_ERR(nanosleep(&bad, NULL), EINVAL);
    bad.tv_sec = -1;
    bad.tv_nsec = 0;
    CHECK_ERR(nanosleep(&bad, NULL), EINVAL);
    /* clock_nanosleep returns the error number instead of setting errno. */
    bad.tv_sec = 0;
    bad.tv_nsec = -1;
    CHECK_EQ(clock_nanosleep(CLOCK_MONOTONIC, 0, &bad, NULL), EINVAL);
    CHECK_EQ(clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &bad, NULL), EINVAL);
    struct timespec ok = { 0, 1000 };
    CHECK_EQ(clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &ok, NULL), EINVAL);
    CHECK_EQ(clock_nanosleep((clockid_t)12345, 0, &ok, NULL), EINVAL);
}

/* 1000 threads sleeping 10 ms at the same time. */
#define SLEEPERS 1000
static pthread_barrier_t start_line;

static void *
sleeper(void *arg)
{
    long kind = (long)arg % 4;
    pthread_barrier_wait(&start_line);
    long long t0 = now_ns(CLOCK_MONOTONIC);
    if (kind == 0) {
        struct timespec ts = { 0, 10000000 };
        CHECK_OK(nanosleep(&ts, NULL));
    } else if (kind == 1) {
        CHECK_OK(usleep(10000));
    } else if (kind == 2) {
        struct timespec ts = { 0, 10000000 };
        CHECK_OK(clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL));
    } else {
        struct timespec dl = deadline_in(CLOCK_REALTIME, 10000000);
        CHECK_OK(clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &dl, NULL));
    }
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 10000000);
    return NULL;
}

static void
check_many_sleepers(void)
{
    pthread_t *t = calloc(SLEEPERS, sizeof *t);
    CHECK(t != NULL);
    CHECK_OK(pthread_barrier_init(&start_line, NULL, SLEEPERS + 1));
    for (long i = 0; i < SLEEPERS; i++)
        t[i] = spawn(sleeper, (void *)i);
    pthread_barrier_wait(&start_line);
    long long t0 = now_ns(CLOCK_MONOTONIC);
    for (int i = 0; i < SLEEPERS; i++)
        join_within(t[i], 30);
    long long took = now_ns(CLOCK_MONOTONIC) - t0;
    fprintf(stderr, "%d threads slept 10 ms each in %lld ms in all\n", SLEEPERS, took / 1000000);
    CHECK(took < 3000000000LL);
    CHECK_OK(pthread_barrier_destroy(&start_line));
    free(t);
}

/* A handler interrupts the sleeps: EINTR (or the unslept time) and the remaining time. */
static atomic_int handled;
static atomic_int finished;

static void
on_usr1(int sig)
{
    (void)sig;
    atomic_fetch_add(&handled, 1);
}

struct interrupted {
    int kind;
    struct blocker blocked;
    int result;
    int err;
    struct timespec rem;
    unsigned left;
};

static void *
interrupted_sleeper(void *arg)
{
    struct interrupted *s = arg;
    struct timespec req = { 5, 0 };
    s->rem.tv_sec = s->rem.tv_nsec = -7;
    blocker_here(&s->blocked, "the sleeper");
    if (s->kind == 0) {
        s->result = nanosleep(&req, &s->rem);
        s->err = errno;
    } else if (s->kind == 1) {
        s->result = clock_nanosleep(CLOCK_MONOTONIC, 0, &req, &s->rem);
    } else {
        s->left = sleep(5);
    }
    atomic_store(&finished, 1);
    return NULL;
}

static void
check_eintr(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART; /* sleeps are never restarted, whatever the flag */
    sigemptyset(&sa.sa_mask);
    CHECK_OK(sigaction(SIGUSR1, &sa, NULL));
    for (int kind = 0; kind < 3; kind++) {
        struct interrupted s = { .kind = kind };
        atomic_store(&finished, 0);
        atomic_store(&handled, 0);
        pthread_t t = spawn(interrupted_sleeper, &s);
        /* One signal, once the thread sleeps (every kind is clock_nanosleep in glibc). */
        wait_blocked(&s.blocked, SYS_clock_nanosleep, NULL);
        CHECK_OK(pthread_kill(t, SIGUSR1));
        join_within(t, 10);
        CHECK_EQ(atomic_load(&finished), 1);
        CHECK_EQ(atomic_load(&handled), 1);
        if (kind == 0) {
            CHECK_EQ(s.result, -1);
            CHECK_EQ(s.err, EINTR);
        } else if (kind == 1) {
            CHECK_EQ(s.result, EINTR);
        } else {
            CHECK(s.left >= 1 && s.left <= 5);
            continue;
        }
        CHECK(s.rem.tv_sec >= 0 && s.rem.tv_nsec >= 0);
        long long rem = ts_to_ns(&s.rem);
        CHECK(rem > 0);
        CHECK(rem <= 5000000000LL);
    }
    signal(SIGUSR1, SIG_DFL);
}

int
main(void)
{
    check_single();
    check_invalid();
    check_many_sleepers();
    check_eintr();
    return 0;
}
