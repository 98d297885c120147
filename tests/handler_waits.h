/* tests/handler_waits.h: waits a signal's handler interrupts without ending them, shared by
 * tests/signal_barrier_handler.c (ordinary threads) and tests/sched_realtime_interrupts.c
 * (real-time threads). Each waiter blocks in one call until its release; handler_case starts
 * it with the test's own spawn function, waits until it is blocked, sends SIGUSR1 (caught with
 * SA_RESTART, install_usr1), waits for the handler to have run on that thread, checks that the
 * thread is still blocked, then releases it. Include after check.h.
 */
#ifndef GREENRUN_TESTS_HANDLER_WAITS_H
#define GREENRUN_TESTS_HANDLER_WAITS_H

#include <linux/futex.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static atomic_int handled;
static pthread_t handler_thread;
static struct blocker blk;

static void
on_usr1(int sig)
{
    (void)sig;
    handler_thread = pthread_self();
    atomic_fetch_add(&handled, 1);
}

static pthread_barrier_t bar;
static pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int cond_go;
static sem_t sem;
static uint32_t futex_word;
static int read_pipe[2];
static pid_t child;
static int child_pipe[2];

/* SIGUSR1 caught by on_usr1, with SA_RESTART: the waits below go on after the handler. */
static void
install_usr1(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    CHECK_OK(sigaction(SIGUSR1, &sa, NULL));
}

static void *
barrier_waiter(void *arg)
{
    (void)arg;
    blocker_here(&blk, "barrier waiter");
    int r = pthread_barrier_wait(&bar);
    CHECK(r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD);
    return NULL;
}

static void
barrier_release(void)
{
    int r = pthread_barrier_wait(&bar);
    CHECK(r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD);
}

static void *
mutex_waiter(void *arg)
{
    (void)arg;
    blocker_here(&blk, "mutex waiter");
    CHECK_OK(pthread_mutex_lock(&mtx));
    CHECK_OK(pthread_mutex_unlock(&mtx));
    return NULL;
}

static void
mutex_release(void)
{
    CHECK_OK(pthread_mutex_unlock(&mtx));
}

static void *
cond_waiter(void *arg)
{
    (void)arg;
    CHECK_OK(pthread_mutex_lock(&mtx));
    while (!cond_go) {
        blocker_here(&blk, "cond waiter");
        CHECK_OK(pthread_cond_wait(&cond, &mtx));
    }
    CHECK_OK(pthread_mutex_unlock(&mtx));
    return NULL;
}

static void
cond_release(void)
{
    CHECK_OK(pthread_mutex_lock(&mtx));
    cond_go = 1;
    CHECK_OK(pthread_cond_signal(&cond));
    CHECK_OK(pthread_mutex_unlock(&mtx));
}

static void *
sem_waiter(void *arg)
{
    (void)arg;
    blocker_here(&blk, "sem waiter");
    CHECK_OK(sem_wait(&sem)); /* SA_RESTART: restarted after the handler */
    return NULL;
}

static void
sem_release(void)
{
    CHECK_OK(sem_post(&sem));
}

static void *
futex_waiter(void *arg)
{
    (void)arg;
    while (__atomic_load_n(&futex_word, __ATOMIC_ACQUIRE) == 0) {
        blocker_here(&blk, "futex waiter");
        long r = syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
        CHECK(r == 0 || errno == EAGAIN); /* no timeout and SA_RESTART: never EINTR */
    }
    return NULL;
}

static void
futex_release(void)
{
    __atomic_store_n(&futex_word, 1, __ATOMIC_RELEASE);
    CHECK(syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0) >= 0);
}

static void *
read_waiter(void *arg)
{
    char c;
    (void)arg;
    blocker_here(&blk, "reader");
    CHECK_EQ(read(read_pipe[0], &c, 1), 1);
    CHECK_EQ(c, 'r');
    return NULL;
}

static void
read_release(void)
{
    CHECK_EQ(write(read_pipe[1], "r", 1), 1);
}

static void *
waitpid_waiter(void *arg)
{
    int status = 0;
    (void)arg;
    blocker_here(&blk, "waitpid waiter");
    CHECK_EQ(waitpid(child, &status, 0), child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 3);
    return NULL;
}

static void
waitpid_release(void)
{
    CHECK_EQ(write(child_pipe[1], "c", 1), 1);
}

/* The child waitpid_waiter waits for: it exits with status 3 once waitpid_release writes. */
static void
start_child(void)
{
    CHECK_OK(pipe(child_pipe));
    child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        char c;
        close(child_pipe[1]);
        while (read(child_pipe[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(3);
    }
    close(child_pipe[0]);
}

/*
 * Start fn with spawn_fn, wait until it is blocked, send it SIGUSR1, and wait for the handler
 * to have run on it; then it must still be blocked. release() ends the wait.
 */
static void
handler_case(const char *name, pthread_t (*spawn_fn)(void *(*)(void *), void *),
             void *(*fn)(void *), long nr, const char *reason, void (*release)(void))
{
    blocker_clear(&blk);
    atomic_store(&handled, 0);
    pthread_t t = spawn_fn(fn, NULL);
    wait_blocked(&blk, nr, reason);
    CHECK_OK(pthread_kill(t, SIGUSR1));
    WAIT_FOR(atomic_load(&handled) == 1, 10);
    CHECK(pthread_equal(handler_thread, t));
    wait_blocked(&blk, nr, reason);
    release();
    join_within(t, 10);
    CHECK_EQ(atomic_load(&handled), 1);
    fprintf(stderr, "%s: the handler ran while it waited, then the wait went on\n", name);
}

#endif /* GREENRUN_TESTS_HANDLER_WAITS_H */
