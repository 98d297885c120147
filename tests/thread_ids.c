/* tests/thread_ids.c
 * Behaviour: every thread has its own thread id, stable for its life: ten threads report ten
 * distinct ids from gettid() (the same as syscall(SYS_gettid)) that do not change across
 * sleeps, yields and waits, and the main thread's id is the process id. Each id reaches its
 * own thread: tgkill, syscall(SYS_tgkill) and syscall(SYS_tkill) run the handler on that
 * thread, a signal 0 finds it, and after it is joined its id is gone (ESRCH). The calls
 * that take a thread id accept every id: sched_{set,get}affinity (what was set reads back),
 * {set,get}priority with PRIO_PROCESS (a nice value raised on one thread reads back there
 * and not on another), sched_getscheduler, sched_{set,get}param, sched_setscheduler and
 * syscall(SYS_sched_getattr), and /proc/self/task/TID opens. A thread that forks is the
 * child's first thread: its id there is the child's process id.
 */
#include "check.h"

#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define NTHREADS 10
#define ROUNDS   20

static pid_t ids[NTHREADS];
static atomic_int handled_by[NTHREADS]; /* the gettid() the handler saw on thread i, or 0 */
static atomic_int stop;
static __thread int my_index = -1;
static pthread_barrier_t all_up;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;

static void
on_usr1(int sig)
{
    (void)sig;
    if (my_index >= 0)
        atomic_store(&handled_by[my_index], (int)gettid());
}

static void *
worker(void *arg)
{
    int i = (int)(long)arg;
    pid_t me = gettid();

    my_index = i;
    CHECK_EQ(syscall(SYS_gettid), me);
    CHECK(me != getpid());
    ids[i] = me;
    for (int r = 0; r < ROUNDS; r++) {
        switch (r % 3) {
        case 0:
            sleep_ns(100000);
            break;
        case 1:
            CHECK_OK(sched_yield());
            break;
        case 2: {
            struct timespec until = deadline_in(CLOCK_REALTIME, 200000);
            CHECK_OK(pthread_mutex_lock(&mu));
            CHECK_ERR(pthread_cond_timedwait(&cond, &mu, &until), ETIMEDOUT);
            CHECK_OK(pthread_mutex_unlock(&mu));
            break;
        }
        }
        CHECK_EQ(gettid(), me);
        CHECK_EQ(syscall(SYS_gettid), me);
    }
    int r = pthread_barrier_wait(&all_up);
    CHECK(r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD);
    /* Alive until main is done with the ids; the handler runs on this thread meanwhile. */
    while (!atomic_load(&stop))
        sleep_ns(1000000);
    CHECK_EQ(gettid(), me);
    return NULL;
}

static int
cmp_pid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

/* Send SIGUSR1 to thread i in one of three ways and wait until its handler has run there. */
static void
signal_thread(int i, int how)
{
    atomic_store(&handled_by[i], 0);
    switch (how) {
    case 0:
        CHECK_OK(tgkill(getpid(), ids[i], SIGUSR1));
        break;
    case 1:
        CHECK_OK(syscall(SYS_tgkill, getpid(), ids[i], SIGUSR1));
        break;
    default:
        CHECK_OK(syscall(SYS_tkill, ids[i], SIGUSR1));
        break;
    }
    WAIT_FOR(atomic_load(&handled_by[i]) != 0, 10);
    CHECK_EQ(atomic_load(&handled_by[i]), ids[i]);
}

static void
check_affinity(pid_t tid)
{
    cpu_set_t all, one, got;
    int first = -1;

    CHECK_OK(sched_getaffinity(tid, sizeof all, &all));
    CHECK(CPU_COUNT(&all) >= 1);
    for (int c = 0; c < CPU_SETSIZE && first < 0; c++)
        if (CPU_ISSET(c, &all))
            first = c;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    CHECK_OK(sched_setaffinity(tid, sizeof one, &one));
    CHECK_OK(sched_getaffinity(tid, sizeof got, &got));
    CHECK(CPU_EQUAL(&got, &one));
    CHECK(syscall(SYS_sched_getaffinity, tid, sizeof got, &got) > 0);
    CHECK(CPU_EQUAL(&got, &one));
    CHECK_OK(syscall(SYS_sched_setaffinity, tid, sizeof all, &all));
    CHECK_OK(sched_getaffinity(tid, sizeof got, &got));
    CHECK(CPU_EQUAL(&got, &all));
}

static void
check_sched(pid_t tid)
{
    struct sched_param sp = { 0 };

    CHECK_EQ(sched_getscheduler(tid), SCHED_OTHER);
    CHECK_OK(sched_getparam(tid, &sp));
    CHECK_EQ(sp.sched_priority, 0);
    CHECK_OK(sched_setparam(tid, &sp));
    CHECK_OK(sched_setscheduler(tid, SCHED_OTHER, &sp));
    CHECK_EQ(syscall(SYS_sched_getscheduler, tid), SCHED_OTHER);
    sp.sched_priority = 1;
    CHECK_ERR(sched_setscheduler(tid, SCHED_OTHER, &sp), EINVAL);
}

/* The kernel's struct sched_attr, which glibc 2.36 does not declare. */
struct attr {
    uint32_t size, policy;
    uint64_t flags;
    int32_t nice;
    uint32_t priority;
    uint64_t runtime, deadline, period;
};

static void
check_nice(pid_t tid, pid_t other)
{
    errno = 0;
    int base = getpriority(PRIO_PROCESS, (id_t)tid);
    CHECK_EQ(errno, 0);
    int other_before = getpriority(PRIO_PROCESS, (id_t)other);
    /* Raising the nice value needs no privilege. */
    int want = base + 3 > 19 ? 19 : base + 3;
    CHECK_OK(setpriority(PRIO_PROCESS, (id_t)tid, want));
    CHECK_EQ(getpriority(PRIO_PROCESS, (id_t)tid), want);
    CHECK_EQ(getpriority(PRIO_PROCESS, (id_t)other), other_before);
    CHECK_EQ(syscall(SYS_getpriority, PRIO_PROCESS, tid), 20 - want);
    struct attr a;
    memset(&a, 0, sizeof a);
    CHECK_OK(syscall(SYS_sched_getattr, tid, &a, sizeof a, 0));
    CHECK_EQ(a.policy, SCHED_OTHER);
    CHECK_EQ(a.nice, want);
}

static void
check_proc(pid_t tid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/comm", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    char buf[32];
    CHECK(read(fd, buf, sizeof buf) > 0);
    close(fd);
}

/* In a thread: fork, and in the child check that the forking thread's id is the child's pid. */
static void *
forker(void *arg)
{
    (void)arg;
    pid_t me = gettid();
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        int ok = gettid() == getpid() && syscall(SYS_gettid) == getpid() &&
                 tgkill(getpid(), gettid(), 0) == 0;
        _exit(ok ? 0 : 1);
    }
    int status;
    CHECK_EQ(waitpid(child, &status, 0), child);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);
    CHECK_EQ(gettid(), me);
    return NULL;
}

int
main(void)
{
    pthread_t t[NTHREADS];
    pid_t sorted[NTHREADS + 1];
    struct sigaction sa;

    CHECK_EQ(gettid(), getpid());
    CHECK_EQ(syscall(SYS_gettid), getpid());
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    CHECK_OK(sigaction(SIGUSR1, &sa, NULL));
    CHECK_OK(pthread_barrier_init(&all_up, NULL, NTHREADS + 1));
    for (long i = 0; i < NTHREADS; i++)
        t[i] = spawn(worker, (void *)i);
    int r = pthread_barrier_wait(&all_up);
    CHECK(r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD);

    /* Ten distinct ids, none the process id, which is main's. */
    for (int i = 0; i < NTHREADS; i++)
        sorted[i] = ids[i];
    sorted[NTHREADS] = gettid();
    qsort(sorted, NTHREADS + 1, sizeof sorted[0], cmp_pid);
    for (int i = 0; i < NTHREADS; i++)
        CHECK(sorted[i] != sorted[i + 1]);
    CHECK_EQ(gettid(), getpid());

    for (int i = 0; i < NTHREADS; i++) {
        CHECK_OK(tgkill(getpid(), ids[i], 0));
        for (int how = 0; how < 3; how++)
            signal_thread(i, how);
        check_affinity(ids[i]);
        check_sched(ids[i]);
        check_nice(ids[i], ids[(i + 1) % NTHREADS]);
        check_proc(ids[i]);
    }
    check_affinity(0);
    check_affinity(gettid());
    check_sched(gettid());
    check_proc(gettid());

    atomic_store(&stop, 1);
    for (int i = 0; i < NTHREADS; i++)
        join_within(t[i], 10);
    /* A joined thread's id is gone (natively the kernel may take a moment to reap it). */
    for (int i = 0; i < NTHREADS; i++) {
        WAIT_FOR(tgkill(getpid(), ids[i], 0) == -1, 10);
        CHECK_EQ(errno, ESRCH);
    }
    join_within(spawn(forker, NULL), 10);
    CHECK_EQ(gettid(), getpid());
    return 0;
}
