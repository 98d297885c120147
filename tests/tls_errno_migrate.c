/* tests/tls_errno_migrate.c
 * Behaviour: errno and __thread variables stay per-thread, at a stable address, across every kind
 * of park point (sched_yield, nanosleep, a condition-variable rendezvous, a contended mutex, a pipe
 * read) while thousands of threads park and resume, possibly on other OS threads; and so does
 * each thread's id (syscall(SYS_gettid)).
 */
#include "check.h"

#include <stdatomic.h>
#include <sys/syscall.h>

#define ROUNDS 100

static __thread int tls_value;
static __thread char tls_block[256];
static __thread int tls_initialised = 1234;

/* A rendezvous of two partner threads: a two-party barrier made of a mutex and a cond. */
struct pair {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int arrived;
    unsigned long generation;
    int pipe_ab[2];
    int pipe_ba[2];
};

static long n;
static struct pair *pairs;
static pthread_mutex_t start_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t start_cond = PTHREAD_COND_INITIALIZER;
static long ready;
static int go;
static pthread_mutex_t hot_mu = PTHREAD_MUTEX_INITIALIZER;
static long hot_counter;
static atomic_long tid_changes;

/* Called through a non-inlined function so the compiler cannot reuse a TLS address it computed. */
static __attribute__((noinline)) int *
tls_value_address(void)
{
    return &tls_value;
}

static __attribute__((noinline)) int *
errno_address(void)
{
    return &errno;
}

static void
rendezvous(struct pair *p)
{
    CHECK_OK(pthread_mutex_lock(&p->mu));
    unsigned long gen = p->generation;
    if (++p->arrived == 2) {
        p->arrived = 0;
        p->generation++;
        CHECK_OK(pthread_cond_broadcast(&p->cond));
    } else {
        while (gen == p->generation)
            CHECK_OK(pthread_cond_wait(&p->cond, &p->mu));
    }
    CHECK_OK(pthread_mutex_unlock(&p->mu));
}

/* One byte each way through the pair's pipes: a park on the netpoller under the runtime. */
static void
pipe_exchange(struct pair *p, int first)
{
    char c = 'p';
    if (first) {
        CHECK_EQ(write(p->pipe_ab[1], &c, 1), 1);
        CHECK_EQ(read(p->pipe_ba[0], &c, 1), 1);
    } else {
        CHECK_EQ(read(p->pipe_ab[0], &c, 1), 1);
        CHECK_EQ(write(p->pipe_ba[1], &c, 1), 1);
    }
}

static void
check_mine(long id, int *value_addr, int *errno_addr)
{
    int saved = errno;
    CHECK_EQ(saved, (int)(id + 1));
    CHECK_EQ(tls_value, (int)id);
    CHECK(tls_value_address() == value_addr);
    CHECK(errno_address() == errno_addr);
    CHECK_EQ(tls_block[id % 256], (char)id);
    CHECK_EQ(tls_block[(id + 1) % 256], 0);
    CHECK_EQ(tls_initialised, 1234 + (int)id);
    errno = saved;
}

static void *
worker(void *arg)
{
    long id = (long)arg;
    struct pair *p = &pairs[id / 2];
    /* Every thread starts with its own zeroed and initialised copies. */
    CHECK_EQ(tls_value, 0);
    CHECK_EQ(tls_initialised, 1234);
    for (int i = 0; i < 256; i++)
        CHECK_EQ(tls_block[i], 0);
    tls_value = (int)id;
    tls_block[id % 256] = (char)id;
    tls_initialised += (int)id;
    int *value_addr = tls_value_address();
    int *errno_addr = errno_address();
    long tid0 = syscall(SYS_gettid);

    CHECK_OK(pthread_mutex_lock(&start_mu));
    if (++ready == n)
        CHECK_OK(pthread_cond_broadcast(&start_cond));
    while (!go)
        CHECK_OK(pthread_cond_wait(&start_cond, &start_mu));
    CHECK_OK(pthread_mutex_unlock(&start_mu));

    errno = (int)(id + 1);
    check_mine(id, value_addr, errno_addr);
    for (int round = 0; round < ROUNDS; round++) {
        switch (round % 5) {
        case 0:
            CHECK_OK(sched_yield());
            break;
        case 1: {
            struct timespec ts = { 0, 1000 };
            CHECK_OK(nanosleep(&ts, NULL));
            break;
        }
        case 2:
            rendezvous(p);
            break;
        case 3:
            CHECK_OK(pthread_mutex_lock(&hot_mu));
            hot_counter++;
            CHECK_OK(pthread_mutex_unlock(&hot_mu));
            break;
        case 4:
            pipe_exchange(p, id % 2 == 0);
            break;
        }
        check_mine(id, value_addr, errno_addr);
    }
    if (syscall(SYS_gettid) != tid0)
        atomic_fetch_add(&tid_changes, 1);
    return (void *)(long)errno;
}

int
main(void)
{
    n = scale(2000, 500);
    pthread_t *t = calloc((size_t)n, sizeof *t);
    pairs = calloc((size_t)n / 2, sizeof *pairs);
    CHECK(t != NULL && pairs != NULL);
    for (long i = 0; i < n / 2; i++) {
        CHECK_OK(pthread_mutex_init(&pairs[i].mu, NULL));
        CHECK_OK(pthread_cond_init(&pairs[i].cond, NULL));
        CHECK_OK(pipe(pairs[i].pipe_ab));
        CHECK_OK(pipe(pairs[i].pipe_ba));
    }
    for (long i = 0; i < n; i++)
        t[i] = spawn(worker, (void *)i);

    CHECK_OK(pthread_mutex_lock(&start_mu));
    while (ready < n)
        CHECK_OK(pthread_cond_wait(&start_cond, &start_mu));
    check_green_threads(n);
    go = 1;
    CHECK_OK(pthread_cond_broadcast(&start_cond));
    CHECK_OK(pthread_mutex_unlock(&start_mu));

    for (long i = 0; i < n; i++)
        CHECK_EQ((long)join_within(t[i], 30), i + 1);
    CHECK_EQ(hot_counter, n * (ROUNDS / 5));
    CHECK_EQ(atomic_load(&tid_changes), 0);
    for (long i = 0; i < n / 2; i++) {
        close(pairs[i].pipe_ab[0]);
        close(pairs[i].pipe_ab[1]);
        close(pairs[i].pipe_ba[0]);
        close(pairs[i].pipe_ba[1]);
    }
    free(pairs);
    free(t);
    return 0;
}
