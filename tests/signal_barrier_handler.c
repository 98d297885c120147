/* tests/signal_barrier_handler.c
 * Behaviour: a thread blocked in a wait that a signal does not end (SA_RESTART, or a wait that
 * is never interrupted) runs its handler as soon as pthread_kill sends it the signal, while it
 * stays blocked; the wait then goes on and ends normally. The sender waits for the handler
 * before it releases the wait, so a handler that runs only once the wait ends deadlocks (and
 * fails here). Covered: pthread_barrier_wait, pthread_mutex_lock, pthread_rwlock_rdlock,
 * pthread_cond_wait, sem_wait, pthread_join, pthread_once, a raw FUTEX_WAIT through syscall(),
 * read() on a pipe and waitpid() (a call the kernel makes sleep).
 */
#include "check.h"

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
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int cond_go;
static sem_t sem;
static pthread_t joinee;
static int join_pipe[2];
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int once_pipe[2];
static atomic_int once_started;
static uint32_t futex_word;
static int read_pipe[2];
static pid_t child;
static int child_pipe[2];

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
rwlock_waiter(void *arg)
{
    (void)arg;
    blocker_here(&blk, "rwlock reader");
    CHECK_OK(pthread_rwlock_rdlock(&rw));
    CHECK_OK(pthread_rwlock_unlock(&rw));
    return NULL;
}

static void
rwlock_release(void)
{
    CHECK_OK(pthread_rwlock_unlock(&rw));
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
joinee_main(void *arg)
{
    char c;
    (void)arg;
    CHECK_EQ(read(join_pipe[0], &c, 1), 1);
    return (void *)7L;
}

static void *
join_waiter(void *arg)
{
    void *ret = NULL;
    (void)arg;
    blocker_here(&blk, "joiner");
    CHECK_OK(pthread_join(joinee, &ret));
    CHECK_EQ((long)ret, 7);
    return NULL;
}

static void
join_release(void)
{
    CHECK_EQ(write(join_pipe[1], "j", 1), 1);
}

static void
once_routine(void)
{
    char c;
    atomic_store(&once_started, 1);
    CHECK_EQ(read(once_pipe[0], &c, 1), 1);
}

static void *
once_runner(void *arg)
{
    (void)arg;
    CHECK_OK(pthread_once(&once, once_routine));
    return NULL;
}

static void *
once_waiter(void *arg)
{
    (void)arg;
    blocker_here(&blk, "once waiter");
    CHECK_OK(pthread_once(&once, once_routine));
    return NULL;
}

static pthread_t once_runner_thread;

static void
once_release(void)
{
    CHECK_EQ(write(once_pipe[1], "o", 1), 1);
    join_within(once_runner_thread, 10);
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

/*
 * Start fn in a thread, wait until it is blocked, send it SIGUSR1, and wait for the handler to
 * have run on it; then it must still be blocked. release() ends the wait.
 */
static void
one_case(const char *name, void *(*fn)(void *), long nr, const char *reason, void (*release)(void))
{
    blocker_clear(&blk);
    atomic_store(&handled, 0);
    pthread_t t = spawn(fn, NULL);
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

int
main(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    CHECK_OK(sigaction(SIGUSR1, &sa, NULL));

    CHECK_OK(pthread_barrier_init(&bar, NULL, 2));
    one_case("pthread_barrier_wait", barrier_waiter, SYS_futex, "barrier", barrier_release);
    CHECK_OK(pthread_barrier_destroy(&bar));

    CHECK_OK(pthread_mutex_lock(&mtx));
    one_case("pthread_mutex_lock", mutex_waiter, SYS_futex, "mutex", mutex_release);

    CHECK_OK(pthread_rwlock_wrlock(&rw));
    one_case("pthread_rwlock_rdlock", rwlock_waiter, SYS_futex, "rwlock read", rwlock_release);

    one_case("pthread_cond_wait", cond_waiter, SYS_futex, "cond", cond_release);

    CHECK_OK(sem_init(&sem, 0, 0));
    one_case("sem_wait", sem_waiter, SYS_futex, "sem", sem_release);
    CHECK_OK(sem_destroy(&sem));

    CHECK_OK(pipe(join_pipe));
    joinee = spawn(joinee_main, NULL);
    one_case("pthread_join", join_waiter, SYS_futex, "futex", join_release);

    CHECK_OK(pipe(once_pipe));
    once_runner_thread = spawn(once_runner, NULL);
    WAIT_FOR(atomic_load(&once_started), 10);
    one_case("pthread_once", once_waiter, SYS_futex, "futex", once_release);

    one_case("FUTEX_WAIT", futex_waiter, SYS_futex, "futex", futex_release);

    CHECK_OK(pipe(read_pipe));
    one_case("read", read_waiter, SYS_read, "IO read", read_release);

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
    one_case("waitpid", waitpid_waiter, SYS_wait4, NULL, waitpid_release);
    return 0;
}
