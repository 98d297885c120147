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

#include "handler_waits.h"

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_t joinee;
static int join_pipe[2];
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int once_pipe[2];
static atomic_int once_started;

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

static pthread_t
spawn_plain(void *(*fn)(void *), void *arg)
{
    return spawn(fn, arg);
}

static void
one_case(const char *name, void *(*fn)(void *), long nr, const char *reason, void (*release)(void))
{
    handler_case(name, spawn_plain, fn, nr, reason, release);
}

int
main(void)
{
    install_usr1();

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
    one_case("pthread_join", join_waiter, SYS_futex, "join", join_release);

    CHECK_OK(pipe(once_pipe));
    once_runner_thread = spawn(once_runner, NULL);
    WAIT_FOR(atomic_load(&once_started), 10);
    one_case("pthread_once", once_waiter, SYS_futex, "once", once_release);

    one_case("FUTEX_WAIT", futex_waiter, SYS_futex, "futex", futex_release);

    CHECK_OK(pipe(read_pipe));
    one_case("read", read_waiter, SYS_read, "IO read", read_release);

    start_child();
    one_case("waitpid", waitpid_waiter, SYS_wait4, NULL, waitpid_release);
    return 0;
}
