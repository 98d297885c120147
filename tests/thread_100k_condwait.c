/* tests/thread_100k_condwait.c
 * Behaviour: 100,000 threads with default attributes (default stack size) can all be blocked in
 * pthread_cond_wait on one condition variable at once, on a few OS threads, and a broadcast
 * releases every one of them (natively: 2,000 threads). Every one keeps its own thread id
 * meanwhile: a null signal sent to each id finds its thread, and once joined none is found.
 * Under greenrun the threads add at most 8,192 bytes each to VmRSS, beside this test's own
 * arrays (and a little slack).
 */
#include "check.h"

#include <signal.h>
#include <sys/syscall.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t go_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t all_waiting = PTHREAD_COND_INITIALIZER;
static long waiting;
static long released;
static long n;
static int go;
static pid_t *tids; /* written by each worker before it counts itself waiting */

static void *
worker(void *arg)
{
    tids[(long)arg] = gettid();
    CHECK_OK(pthread_mutex_lock(&mu));
    if (++waiting == n)
        CHECK_OK(pthread_cond_signal(&all_waiting));
    while (!go)
        CHECK_OK(pthread_cond_wait(&go_cond, &mu));
    released++;
    CHECK_OK(pthread_mutex_unlock(&mu));
    return arg;
}

int
main(void)
{
    n = scale(100000, 2000);
    pthread_t *t = calloc((size_t)n, sizeof *t);
    tids = calloc((size_t)n, sizeof *tids);
    CHECK(tids != NULL);
    CHECK(t != NULL);
    long rss_before = proc_status_value("VmRSS");
    long long t0 = now_ns(CLOCK_MONOTONIC);
    for (long i = 0; i < n; i++) {
        green_flood_guard();
        int rc = pthread_create(&t[i], NULL, worker, (void *)i);
        if (rc != 0) {
            fprintf(stderr, "pthread_create #%ld failed: %s\n", i, strerror(rc));
            CHECK_EQ(rc, 0);
        }
    }
    long long t1 = now_ns(CLOCK_MONOTONIC);

    CHECK_OK(pthread_mutex_lock(&mu));
    while (waiting < n)
        CHECK_OK(pthread_cond_wait(&all_waiting, &mu));
    CHECK_OK(pthread_mutex_unlock(&mu));
    long long t2 = now_ns(CLOCK_MONOTONIC);

    check_green_threads(n);
    long rss = proc_status_value("VmRSS");
    CHECK(rss > 0);
    long grown = rss - (rss_before > 0 ? rss_before : 0);
    fprintf(stderr, "rss per thread: %ld bytes (VmRSS %ld kB, %ld bytes over %ld kB at start)\n",
            rss * 1024 / n, rss, grown * 1024 / n, rss_before);
    fprintf(stderr, "created %ld threads in %lld ms, all waiting after %lld ms\n", n,
            (t1 - t0) / 1000000, (t2 - t0) / 1000000);
    /* Under greenrun a blocked thread costs the two pages at the top of its stack (descriptor
     * and TLS, struct g with the DTV, parked frames) and next to nothing that grows with the
     * count: this test's two arrays add 12 bytes a thread, the runtime's tables about 1. A
     * third page, or glibc's DTV back on the heap (330 bytes), crosses the bound. */
    if (test_green())
        CHECK(grown * 1024 / n <= 8192 + 12 + 100);

    /* Each id reaches a live thread of this process, and ids are distinct. */
    for (long i = 0; i < n; i++)
        CHECK_EQ(syscall(SYS_tgkill, getpid(), tids[i], 0), 0);
    CHECK(tids[0] != tids[n - 1] && tids[0] != getpid());

    CHECK_OK(pthread_mutex_lock(&mu));
    go = 1;
    CHECK_OK(pthread_cond_broadcast(&go_cond));
    CHECK_OK(pthread_mutex_unlock(&mu));
    for (long i = 0; i < n; i++) {
        void *ret;
        CHECK_OK(pthread_join(t[i], &ret));
        CHECK_EQ((long)ret, i);
    }
    CHECK_EQ(released, n);
    for (long i = 0; i < n; i += n / 100)
        CHECK_ERR(syscall(SYS_tgkill, getpid(), tids[i], 0), ESRCH);
    fprintf(stderr, "all %ld released and joined after %lld ms\n", n,
            (now_ns(CLOCK_MONOTONIC) - t0) / 1000000);
    free(t);
    free(tids);
    return 0;
}
