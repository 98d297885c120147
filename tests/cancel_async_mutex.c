/* tests/cancel_async_mutex.c
 * Behaviour: a thread with asynchronous cancellation that is blocked in a wait which is not a
 * cancellation point (pthread_mutex_lock and timedlock, pthread_rwlock_rdlock and wrlock,
 * pthread_spin_lock, pthread_barrier_wait, pthread_once behind another caller, a raw futex
 * wait) is cancelled at once: its cleanup handler runs and pthread_join returns
 * PTHREAD_CANCELED. The object it waited on keeps working: the next locker gets the mutex,
 * other waiters queued behind it are not lost, a reader's lock can be taken again. In
 * pthread_cond_wait, a cancellation point, an asynchronous cancel acts with the mutex
 * re-acquired, as a deferred one does.
 */
#include "check.h"

#include <limits.h>
#include <linux/futex.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/syscall.h>

static atomic_int cleanups;
static struct blocker target;

static void
count_cleanup(void *arg)
{
    (void)arg;
    atomic_fetch_add(&cleanups, 1);
}

static void
go_async(void)
{
    int old = -1;
    CHECK_OK(pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &old));
    CHECK_EQ(old, PTHREAD_CANCEL_DEFERRED);
}

/* Cancel t, which must end cancelled within 10 s with its cleanup handler run. */
static void
cancel_and_check(pthread_t t, const char *what)
{
    int before = atomic_load(&cleanups);
    CHECK_OK(pthread_cancel(t));
    CHECK(join_within(t, 10) == PTHREAD_CANCELED);
    CHECK_EQ(atomic_load(&cleanups), before + 1);
    fprintf(stderr, "cancelled in %s\n", what);
}

/* ---- Mutexes. */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int got_mu;

static void *
locks_mu(void *arg)
{
    long timed = (long)arg;
    pthread_cleanup_push(count_cleanup, NULL);
    go_async();
    blocker_here(&target, "the locker");
    if (timed) {
        struct timespec dl = deadline_in(CLOCK_REALTIME, 60LL * 1000000000LL);
        CHECK_OK(pthread_mutex_timedlock(&mu, &dl));
    } else {
        CHECK_OK(pthread_mutex_lock(&mu));
    }
    atomic_fetch_add(&got_mu, 1);
    pthread_cleanup_pop(0);
    return NULL;
}

/* Locks mu with deferred cancellation: the waiter queued behind the cancelled one. */
static void *
locks_mu_later(void *arg)
{
    (void)arg;
    blocker_here(&target, "the second locker");
    CHECK_OK(pthread_mutex_lock(&mu));
    atomic_fetch_add(&got_mu, 1);
    CHECK_OK(pthread_mutex_unlock(&mu));
    return (void *)1;
}

static void
check_mutex(long timed)
{
    CHECK_OK(pthread_mutex_lock(&mu));
    blocker_clear(&target);
    pthread_t t = spawn(locks_mu, (void *)timed);
    wait_blocked(&target, SYS_futex, "mutex");
    blocker_clear(&target);
    pthread_t later = spawn(locks_mu_later, NULL);
    wait_blocked(&target, SYS_futex, "mutex");
    cancel_and_check(t, timed ? "pthread_mutex_timedlock" : "pthread_mutex_lock");
    CHECK_EQ(atomic_load(&got_mu), 0);
    /* The waiter behind the cancelled one gets the mutex. */
    CHECK_OK(pthread_mutex_unlock(&mu));
    CHECK_EQ((long)join_within(later, 10), 1);
    CHECK_EQ(atomic_load(&got_mu), 1);
    atomic_store(&got_mu, 0);
    CHECK_OK(pthread_mutex_trylock(&mu));
    CHECK_OK(pthread_mutex_unlock(&mu));
}

/* ---- Reader-writer locks. */

static pthread_rwlock_t rw;

static void *
rwlocks(void *arg)
{
    long write = (long)arg;
    pthread_cleanup_push(count_cleanup, NULL);
    go_async();
    blocker_here(&target, write ? "the writer" : "the reader");
    if (write)
        CHECK_OK(pthread_rwlock_wrlock(&rw));
    else
        CHECK_OK(pthread_rwlock_rdlock(&rw));
    pthread_cleanup_pop(0);
    return NULL;
}

static void
check_rwlock(void)
{
    pthread_rwlockattr_t attr;
    pthread_t t;

    /* A writer cancelled while main reads; the lock prefers writers. */
    CHECK_OK(pthread_rwlockattr_init(&attr));
    CHECK_OK(pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP));
    CHECK_OK(pthread_rwlock_init(&rw, &attr));
    CHECK_OK(pthread_rwlockattr_destroy(&attr));
    CHECK_OK(pthread_rwlock_rdlock(&rw));
    blocker_clear(&target);
    t = spawn(rwlocks, (void *)1);
    wait_blocked(&target, SYS_futex, "rwlock write");
    cancel_and_check(t, "pthread_rwlock_wrlock");
    /* glibc leaves the lock waiting for the dead writer: nothing more is asked of it. */
    CHECK_OK(pthread_rwlock_unlock(&rw));

    /* A reader cancelled while main writes. */
    static pthread_rwlock_t fresh = PTHREAD_RWLOCK_INITIALIZER;
    rw = fresh;
    CHECK_OK(pthread_rwlock_wrlock(&rw));
    blocker_clear(&target);
    t = spawn(rwlocks, (void *)0);
    wait_blocked(&target, SYS_futex, "rwlock read");
    cancel_and_check(t, "pthread_rwlock_rdlock");
    CHECK_OK(pthread_rwlock_unlock(&rw));
    CHECK_OK(pthread_rwlock_rdlock(&rw));
    CHECK_OK(pthread_rwlock_unlock(&rw));
    CHECK_OK(pthread_rwlock_destroy(&rw));
}

/* ---- Spin lock: the spinner never blocks; it is cancelled while it spins. */

static pthread_spinlock_t spin;
static atomic_int spinning;

static void *
spins(void *arg)
{
    (void)arg;
    pthread_cleanup_push(count_cleanup, NULL);
    go_async();
    atomic_store(&spinning, 1);
    CHECK_OK(pthread_spin_lock(&spin));
    pthread_cleanup_pop(0);
    return NULL;
}

static void
check_spin(void)
{
    CHECK_OK(pthread_spin_init(&spin, PTHREAD_PROCESS_PRIVATE));
    CHECK_OK(pthread_spin_lock(&spin));
    pthread_t t = spawn(spins, NULL);
    WAIT_FOR(atomic_load(&spinning), 10);
    cancel_and_check(t, "pthread_spin_lock");
    CHECK_OK(pthread_spin_unlock(&spin));
    CHECK_OK(pthread_spin_destroy(&spin));
}

/* ---- Barrier: as glibc, the cancelled thread's arrival still counts. */

static pthread_barrier_t bar;

static void *
waits_at_barrier(void *arg)
{
    (void)arg;
    pthread_cleanup_push(count_cleanup, NULL);
    go_async();
    blocker_here(&target, "the barrier waiter");
    pthread_barrier_wait(&bar);
    pthread_cleanup_pop(0);
    return NULL;
}

static void
check_barrier(void)
{
    CHECK_OK(pthread_barrier_init(&bar, NULL, 3));
    blocker_clear(&target);
    pthread_t t = spawn(waits_at_barrier, NULL);
    wait_blocked(&target, SYS_futex, "barrier");
    cancel_and_check(t, "pthread_barrier_wait");
}

/* ---- pthread_once: a caller waits while another runs the routine. */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static sem_t in_routine, finish_routine;
static atomic_int routine_runs;

static void
routine(void)
{
    atomic_fetch_add(&routine_runs, 1);
    CHECK_OK(sem_post(&in_routine));
    while (sem_wait(&finish_routine) != 0)
        CHECK(errno == EINTR);
}

static void *
calls_once(void *arg)
{
    long async = (long)arg;
    pthread_cleanup_push(count_cleanup, NULL);
    if (async) {
        go_async();
        blocker_here(&target, "the once waiter");
    }
    CHECK_OK(pthread_once(&once, routine));
    pthread_cleanup_pop(0);
    return (void *)2;
}

static void
check_once(void)
{
    CHECK_OK(sem_init(&in_routine, 0, 0));
    CHECK_OK(sem_init(&finish_routine, 0, 0));
    pthread_t runner = spawn(calls_once, NULL);
    CHECK_OK(sem_wait(&in_routine));
    blocker_clear(&target);
    pthread_t t = spawn(calls_once, (void *)1);
    wait_blocked(&target, SYS_futex, NULL);
    cancel_and_check(t, "pthread_once");
    CHECK_OK(sem_post(&finish_routine));
    CHECK_EQ((long)join_within(runner, 10), 2);
    CHECK_EQ(atomic_load(&routine_runs), 1);
}

/* ---- A raw futex wait (libstdc++'s atomic wait, InnoDB). */

static unsigned futex_word;

static void *
futex_waits(void *arg)
{
    (void)arg;
    pthread_cleanup_push(count_cleanup, NULL);
    go_async();
    blocker_here(&target, "the futex waiter");
    for (;;)
        syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    pthread_cleanup_pop(0);
    return NULL;
}

static void
check_futex(void)
{
    blocker_clear(&target);
    pthread_t t = spawn(futex_waits, NULL);
    wait_blocked(&target, SYS_futex, NULL);
    cancel_and_check(t, "a FUTEX_WAIT");
}

/* ---- pthread_cond_wait: the cleanup handler runs with the mutex held. */

static pthread_mutex_t cmu;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static atomic_int handler_unlock_rc = -1;

static void
unlock_cmu(void *arg)
{
    (void)arg;
    /* An error-checking mutex: unlocking it succeeds only for its owner. */
    atomic_store(&handler_unlock_rc, pthread_mutex_unlock(&cmu));
    atomic_fetch_add(&cleanups, 1);
}

static void *
cond_waits(void *arg)
{
    (void)arg;
    CHECK_OK(pthread_mutex_lock(&cmu));
    pthread_cleanup_push(unlock_cmu, NULL);
    go_async();
    blocker_here(&target, "the cond waiter");
    for (;;)
        pthread_cond_wait(&cond, &cmu);
    pthread_cleanup_pop(1);
    return NULL;
}

static void
check_cond(void)
{
    pthread_mutexattr_t attr;
    CHECK_OK(pthread_mutexattr_init(&attr));
    CHECK_OK(pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK));
    CHECK_OK(pthread_mutex_init(&cmu, &attr));
    CHECK_OK(pthread_mutexattr_destroy(&attr));
    blocker_clear(&target);
    pthread_t t = spawn(cond_waits, NULL);
    wait_blocked(&target, SYS_futex, "cond");
    cancel_and_check(t, "pthread_cond_wait");
    CHECK_EQ(atomic_load(&handler_unlock_rc), 0);
    CHECK_OK(pthread_mutex_trylock(&cmu));
    CHECK_OK(pthread_mutex_unlock(&cmu));
}

int
main(void)
{
    check_mutex(0);
    check_mutex(1);
    check_rwlock();
    check_spin();
    check_barrier();
    check_once();
    check_futex();
    check_cond();
    return 0;
}
