/* tests/pshared_many_waiters.c
 * Behaviour: 64 threads blocked at once on each process-shared object in MAP_SHARED memory (a
 * condition variable with its mutex, a mutex held by main, a semaphore, a barrier, a rwlock
 * held for writing), which glibc serves with futex waits in the kernel, do not stop the other
 * threads: a ticker keeps ticking every millisecond while they are all blocked, and then every
 * one of them is released and joined. A forked child blocks 16 threads of its own on the same
 * semaphore, which the parent posts. With GREENRUN_PROCS=1 and 2, far more waiters than
 * processors.
 */
#include "check.h"

#include <semaphore.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define WAITERS       64
#define CHILD_WAITERS 16

struct shared {
    pthread_mutex_t lock; /* with cond */
    pthread_cond_t cond;
    int arrived;          /* protected by lock */
    int go;               /* protected by lock */
    pthread_mutex_t held; /* main holds it while the waiters queue */
    sem_t sem;
    pthread_barrier_t barrier;
    pthread_rwlock_t rw;
    int entered; /* __atomic: waiters that got through */
};

static struct shared *sh;

static void *
cond_waiter(void *arg)
{
    (void)arg;
    CHECK_OK(pthread_mutex_lock(&sh->lock));
    sh->arrived++;
    while (!sh->go)
        CHECK_OK(pthread_cond_wait(&sh->cond, &sh->lock));
    CHECK_OK(pthread_mutex_unlock(&sh->lock));
    __atomic_fetch_add(&sh->entered, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void *
mutex_waiter(void *arg)
{
    (void)arg;
    __atomic_fetch_add(&sh->arrived, 1, __ATOMIC_SEQ_CST);
    CHECK_OK(pthread_mutex_lock(&sh->held));
    CHECK_OK(pthread_mutex_unlock(&sh->held));
    __atomic_fetch_add(&sh->entered, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void *
sem_waiter(void *arg)
{
    (void)arg;
    __atomic_fetch_add(&sh->arrived, 1, __ATOMIC_SEQ_CST);
    while (sem_wait(&sh->sem) != 0)
        CHECK(errno == EINTR);
    __atomic_fetch_add(&sh->entered, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void *
barrier_waiter(void *arg)
{
    (void)arg;
    __atomic_fetch_add(&sh->arrived, 1, __ATOMIC_SEQ_CST);
    int r = pthread_barrier_wait(&sh->barrier);
    CHECK(r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD);
    __atomic_fetch_add(&sh->entered, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void *
rdlock_waiter(void *arg)
{
    (void)arg;
    __atomic_fetch_add(&sh->arrived, 1, __ATOMIC_SEQ_CST);
    CHECK_OK(pthread_rwlock_rdlock(&sh->rw));
    CHECK_OK(pthread_rwlock_unlock(&sh->rw));
    __atomic_fetch_add(&sh->entered, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static int
arrived(void)
{
    return __atomic_load_n(&sh->arrived, __ATOMIC_SEQ_CST);
}

static int
entered(void)
{
    return __atomic_load_n(&sh->entered, __ATOMIC_SEQ_CST);
}

/* Start WAITERS threads of fn, wait until all have arrived at the blocking call, judge the
 * ticker over a window while they are blocked, release them, join them. */
static void
round_of(void *(*fn)(void *), void (*release)(void), const char *what)
{
    pthread_t t[WAITERS];

    __atomic_store_n(&sh->arrived, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&sh->entered, 0, __ATOMIC_SEQ_CST);
    for (int i = 0; i < WAITERS; i++)
        t[i] = spawn(fn, NULL);
    WAIT_FOR(arrived() == WAITERS, 30);
    struct tick_window w = tick_window_open();
    sleep_ns(TICK_WINDOW_NS + TICK_WINDOW_NS / 2);
    CHECK_EQ(entered(), 0);
    check_ticked(tick_window_since(w), what);
    release();
    for (int i = 0; i < WAITERS; i++)
        join_within(t[i], 30);
    CHECK_EQ(entered(), WAITERS);
}

static int
cond_arrived(void)
{
    CHECK_OK(pthread_mutex_lock(&sh->lock));
    int n = sh->arrived;
    CHECK_OK(pthread_mutex_unlock(&sh->lock));
    return n;
}

static void
release_cond(void)
{
    CHECK_OK(pthread_mutex_lock(&sh->lock));
    sh->go = 1;
    CHECK_OK(pthread_cond_broadcast(&sh->cond));
    CHECK_OK(pthread_mutex_unlock(&sh->lock));
}

static void
release_held(void)
{
    CHECK_OK(pthread_mutex_unlock(&sh->held));
}

static void
release_sem(void)
{
    for (int i = 0; i < WAITERS; i++)
        CHECK_OK(sem_post(&sh->sem));
}

static void
release_barrier(void)
{
    int r = pthread_barrier_wait(&sh->barrier);
    CHECK(r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD);
}

static void
release_rw(void)
{
    CHECK_OK(pthread_rwlock_unlock(&sh->rw));
}

static void
init_shared(void)
{
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(sh != MAP_FAILED);
    pthread_mutexattr_t ma;
    CHECK_OK(pthread_mutexattr_init(&ma));
    CHECK_OK(pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED));
    CHECK_OK(pthread_mutex_init(&sh->lock, &ma));
    CHECK_OK(pthread_mutex_init(&sh->held, &ma));
    pthread_condattr_t ca;
    CHECK_OK(pthread_condattr_init(&ca));
    CHECK_OK(pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED));
    CHECK_OK(pthread_cond_init(&sh->cond, &ca));
    CHECK_OK(sem_init(&sh->sem, 1, 0));
    pthread_barrierattr_t ba;
    CHECK_OK(pthread_barrierattr_init(&ba));
    CHECK_OK(pthread_barrierattr_setpshared(&ba, PTHREAD_PROCESS_SHARED));
    CHECK_OK(pthread_barrier_init(&sh->barrier, &ba, WAITERS + 1));
    pthread_rwlockattr_t ra;
    CHECK_OK(pthread_rwlockattr_init(&ra));
    CHECK_OK(pthread_rwlockattr_setpshared(&ra, PTHREAD_PROCESS_SHARED));
    CHECK_OK(pthread_rwlock_init(&sh->rw, &ra));
}

/* The forked child: CHILD_WAITERS threads wait on the shared semaphore, posted by the
 * parent once it sees them all arrived. */
static void
child_main(void)
{
    pthread_t t[CHILD_WAITERS];

    for (int i = 0; i < CHILD_WAITERS; i++)
        t[i] = spawn(sem_waiter, NULL);
    for (int i = 0; i < CHILD_WAITERS; i++)
        join_within(t[i], 30);
    _exit(entered() == CHILD_WAITERS ? 0 : 1);
}

int
main(void)
{
    init_shared();
    ticker_start();

    /* The condition variable: every waiter has released the mutex inside the wait once main
     * counts them all under that mutex. */
    sh->arrived = 0;
    pthread_t t[WAITERS];
    for (int i = 0; i < WAITERS; i++)
        t[i] = spawn(cond_waiter, NULL);
    WAIT_FOR(cond_arrived() == WAITERS, 30);
    struct tick_window w = tick_window_open();
    sleep_ns(TICK_WINDOW_NS + TICK_WINDOW_NS / 2);
    check_ticked(tick_window_since(w), "64 waiters on a process-shared condition variable");
    CHECK_EQ(entered(), 0);
    release_cond();
    for (int i = 0; i < WAITERS; i++)
        join_within(t[i], 30);
    CHECK_EQ(entered(), WAITERS);

    CHECK_OK(pthread_mutex_lock(&sh->held));
    round_of(mutex_waiter, release_held, "64 waiters on a held process-shared mutex");
    round_of(sem_waiter, release_sem, "64 waiters on a process-shared semaphore");
    round_of(barrier_waiter, release_barrier, "64 waiters at a process-shared barrier");
    CHECK_OK(pthread_rwlock_wrlock(&sh->rw));
    round_of(rdlock_waiter, release_rw, "64 readers of a process-shared rwlock held for writing");

    /* Across a fork: the child's threads wait on the semaphore the parent posts. */
    __atomic_store_n(&sh->arrived, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&sh->entered, 0, __ATOMIC_SEQ_CST);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        child_main();
    WAIT_FOR(arrived() == CHILD_WAITERS, 30);
    w = tick_window_open();
    sleep_ns(TICK_WINDOW_NS + TICK_WINDOW_NS / 2);
    check_ticked(tick_window_since(w), "16 waiters of a child on a process-shared semaphore");
    for (int i = 0; i < CHILD_WAITERS; i++)
        CHECK_OK(sem_post(&sh->sem));
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ(entered(), CHILD_WAITERS);

    ticker_stop();
    CHECK_OK(pthread_barrier_destroy(&sh->barrier));
    CHECK_OK(pthread_rwlock_destroy(&sh->rw));
    CHECK_OK(sem_destroy(&sh->sem));
    CHECK_OK(pthread_cond_destroy(&sh->cond));
    CHECK_OK(pthread_mutex_destroy(&sh->lock));
    CHECK_OK(pthread_mutex_destroy(&sh->held));
    puts("ok");
    return 0;
}
