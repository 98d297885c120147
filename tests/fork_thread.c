/* tests/fork_thread.c
 * Behaviour: fork from a thread other than main while other threads are blocked gives a child
 * with one thread (the forking one, same pthread_self) that can create and join threads, lock,
 * wait with timeouts, allocate and exit with its own status; pthread_atfork handlers run in the
 * documented order; vfork followed by exec works from a thread.
 */
#include "check.h"

#include <stdatomic.h>
#include <sys/wait.h>

#define BLOCKED 8

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int waiting, go;

static void *
blocked(void *arg)
{
    CHECK_OK(pthread_mutex_lock(&mu));
    waiting++;
    CHECK_OK(pthread_cond_broadcast(&cond));
    while (!go)
        CHECK_OK(pthread_cond_wait(&cond, &mu));
    CHECK_OK(pthread_mutex_unlock(&mu));
    return arg;
}

/* atfork: prepare runs in reverse registration order, parent and child in order. */
static char order[16];
static int order_len;

static void
prep1(void)
{
    order[order_len++] = 'P';
}

static void
prep2(void)
{
    order[order_len++] = 'p';
}

static void
parent1(void)
{
    order[order_len++] = 'A';
}

static void
parent2(void)
{
    order[order_len++] = 'a';
}

static void
child1(void)
{
    order[order_len++] = 'C';
}

static void
child2(void)
{
    order[order_len++] = 'c';
}

static void *
child_thread(void *arg)
{
    return (void *)((long)arg + 1);
}

/* Everything the child does; returns its exit status (42 when all is well). */
static int
child_main(pthread_t forker)
{
    if (strcmp(order, "pPCc") != 0) {
        fprintf(stderr, "child: atfork order %s\n", order);
        return 1;
    }
    if (!pthread_equal(pthread_self(), forker))
        return 2;
    /* Natively the child has exactly one OS thread; under the runtime a few of its own. */
    long threads = os_threads();
    if (test_green() ? threads > green_procs() + 4 : threads != 1)
        return 3;
    /* New threads, a timed condition wait, a mutex and the allocator all work. */
    for (long i = 0; i < 4; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, child_thread, (void *)i) != 0)
            return 4;
        void *r;
        if (pthread_join(t, &r) != 0 || (long)r != i + 1)
            return 5;
    }
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    CHECK_OK(pthread_mutex_lock(&m));
    struct timespec dl = deadline_in(CLOCK_REALTIME, 20000000);
    if (pthread_cond_timedwait(&c, &m, &dl) != ETIMEDOUT)
        return 6;
    CHECK_OK(pthread_mutex_unlock(&m));
    void *mem[100];
    for (int i = 0; i < 100; i++) {
        mem[i] = malloc((size_t)(i + 1) * 100);
        if (mem[i] == NULL)
            return 7;
        memset(mem[i], i, (size_t)(i + 1) * 100);
    }
    for (int i = 0; i < 100; i++)
        free(mem[i]);
    sleep_ns(1000000);
    return 42;
}

static void *
forker(void *arg)
{
    (void)arg;
    order_len = 0;
    memset(order, 0, sizeof order);
    pthread_t me = pthread_self();
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int status = child_main(me);
        if (getpid() == parent)
            status = 8;
        exit(status);
    }
    CHECK_EQ(strcmp(order, "pPAa"), 0);
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 42);
    return NULL;
}

static void *
vforker(void *arg)
{
    (void)arg;
    pid_t pid = vfork();
    CHECK(pid >= 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", "exit 7", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 7);
    return NULL;
}

int
main(void)
{
    CHECK_OK(pthread_atfork(prep1, parent1, child1));
    CHECK_OK(pthread_atfork(prep2, parent2, child2));
    pthread_t t[BLOCKED];
    for (long i = 0; i < BLOCKED; i++)
        t[i] = spawn(blocked, (void *)i);
    CHECK_OK(pthread_mutex_lock(&mu));
    while (waiting < BLOCKED)
        CHECK_OK(pthread_cond_wait(&cond, &mu));
    CHECK_OK(pthread_mutex_unlock(&mu));

    for (int i = 0; i < 3; i++)
        join_within(spawn(forker, NULL), 20);
    /* From the main thread too. */
    forker(NULL);
    join_within(spawn(vforker, NULL), 20);

    CHECK_OK(pthread_mutex_lock(&mu));
    go = 1;
    CHECK_OK(pthread_cond_broadcast(&cond));
    CHECK_OK(pthread_mutex_unlock(&mu));
    for (long i = 0; i < BLOCKED; i++)
        CHECK_EQ((long)join_within(t[i], 10), i);
    return 0;
}
