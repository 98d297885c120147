/* tests/sched_realtime.c
 * Behaviour: real-time policies (SCHED_FIFO, SCHED_RR) act as natively. A thread created with
 * PTHREAD_EXPLICIT_SCHED runs under the attribute's policy, one created with
 * PTHREAD_INHERIT_SCHED under its creator's, and the kernel itself reports that policy for
 * the calling thread (sched_getscheduler, sched_getparam), as does pthread_getattr_np;
 * pthread_setschedparam, pthread_setschedprio and sched_setscheduler change it for the caller or
 * for a thread blocked elsewhere. Each real-time thread is an OS thread of its own under its policy
 * (counted in /proc), with GREENRUN_PROCS=1 too, and going back to SCHED_OTHER leaves no OS
 * thread of the process real-time. Waiters of higher priority are woken first by sem_post
 * and by a mutex unlock. A program that starts under SCHED_FIFO (this one, executed again
 * after setting it) runs its main thread under it and passes it on, and its sigsuspend ends
 * when a SIGCHLD handler (SA_RESTART) has run. Skipped where the kernel refuses SCHED_FIFO
 * (EPERM). No thread computes at real-time priority.
 */
#include "check.h"

#include <dirent.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define NRT 6

/* The kernel's view of the calling thread. */
static void
check_kernel(int policy, int prio)
{
    struct sched_param sp = { .sched_priority = -1 };

    CHECK_EQ(sched_getscheduler(0), policy);
    CHECK_OK(sched_getparam(0, &sp));
    CHECK_EQ(sp.sched_priority, prio);
}

/* pthread's view of the calling thread, and the kernel's. (glibc's pthread_getschedparam
 * reports what pthread_* calls set, not what sched_setscheduler set.) */
static void
check_self(int policy, int prio)
{
    struct sched_param sp = { .sched_priority = -1 };
    int pol = -1;

    CHECK_OK(pthread_getschedparam(pthread_self(), &pol, &sp));
    CHECK_EQ(pol, policy);
    CHECK_EQ(sp.sched_priority, prio);
    check_kernel(policy, prio);
}

/* Tasks of this process whose kernel policy is SCHED_FIFO or SCHED_RR (/proc stat field 41). */
static int
rt_tasks(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;

    CHECK(d != NULL);
    while ((e = readdir(d)) != NULL) {
        char path[300], buf[1024];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue; /* gone meanwhile */
        ssize_t len = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (len <= 0)
            continue;
        buf[len] = '\0';
        char *p = strrchr(buf, ')');
        CHECK(p != NULL);
        /* Field 3 (state) follows ") "; field 41 is 38 fields further. */
        p += 2;
        for (int f = 3; f < 41 && p != NULL; f++) {
            p = strchr(p, ' ');
            if (p != NULL)
                p++;
        }
        CHECK(p != NULL);
        int policy = atoi(p);
        if (policy == SCHED_FIFO || policy == SCHED_RR)
            n++;
    }
    closedir(d);
    return n;
}

static pthread_t
spawn_sched(void *(*fn)(void *), void *arg, int policy, int prio)
{
    pthread_attr_t a;
    struct sched_param sp = { .sched_priority = prio };
    pthread_t t;

    CHECK_OK(pthread_attr_init(&a));
    CHECK_OK(pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED));
    CHECK_OK(pthread_attr_setschedpolicy(&a, policy));
    CHECK_OK(pthread_attr_setschedparam(&a, &sp));
    CHECK_OK(pthread_create(&t, &a, fn, arg));
    CHECK_OK(pthread_attr_destroy(&a));
    return t;
}

/* ---- Threads that report their policy. */

struct expect {
    int policy;
    int prio;
    int rt_tasks; /* OS threads of the process under a real-time policy meanwhile */
};

static void *
report(void *arg)
{
    struct expect *e = arg;
    pthread_attr_t at;
    struct sched_param sp = { .sched_priority = -1 };
    int pol = -1;

    check_self(e->policy, e->prio);
    WAIT_FOR(rt_tasks() == e->rt_tasks, 10);
    CHECK_OK(pthread_getattr_np(pthread_self(), &at));
    CHECK_OK(pthread_attr_getschedpolicy(&at, &pol));
    CHECK_EQ(pol, e->policy);
    CHECK_OK(pthread_attr_getschedparam(&at, &sp));
    CHECK_EQ(sp.sched_priority, e->prio);
    CHECK_OK(pthread_attr_destroy(&at));
    return NULL;
}

/* A thread whose policy main changes while it waits on sem_go. */
static sem_t sem_go, sem_back;
static struct blocker changed_blocked;
static struct expect changed_expect;

static void *
changed_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2; i++) {
        blocker_here(&changed_blocked, "the thread whose policy changes");
        CHECK_OK(sem_wait(&sem_go));
        check_self(changed_expect.policy, changed_expect.prio);
        blocker_clear(&changed_blocked);
        CHECK_OK(sem_post(&sem_back));
    }
    return NULL;
}

/* ---- Waiters of several priorities. */

static sem_t sem_wake, sem_done;
static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static struct blocker waiter_blocked[NRT];
static int order[NRT];
static int norder; /* __atomic */

struct waiter {
    int index;
    int prio;
    int use_mutex;
};

static void *
waiter_main(void *arg)
{
    struct waiter *w = arg;
    blocker_here(&waiter_blocked[w->index], "a real-time waiter");
    if (w->use_mutex) {
        CHECK_OK(pthread_mutex_lock(&held));
        order[__atomic_fetch_add(&norder, 1, __ATOMIC_SEQ_CST)] = w->prio;
        CHECK_OK(pthread_mutex_unlock(&held));
    } else {
        CHECK_OK(sem_wait(&sem_wake));
        order[__atomic_fetch_add(&norder, 1, __ATOMIC_SEQ_CST)] = w->prio;
        CHECK_OK(sem_post(&sem_done));
    }
    return NULL;
}

static void
woken_in_priority_order(int use_mutex)
{
    static const int prios[NRT] = { 13, 11, 16, 12, 15, 14 };
    struct waiter w[NRT];
    pthread_t t[NRT];

    __atomic_store_n(&norder, 0, __ATOMIC_SEQ_CST);
    if (use_mutex)
        CHECK_OK(pthread_mutex_lock(&held));
    for (int i = 0; i < NRT; i++) {
        blocker_clear(&waiter_blocked[i]);
        w[i] = (struct waiter){ i, prios[i], use_mutex };
        t[i] = spawn_sched(waiter_main, &w[i], SCHED_FIFO, prios[i]);
    }
    for (int i = 0; i < NRT; i++)
        wait_blocked(&waiter_blocked[i], SYS_futex, use_mutex ? "mutex" : "sem");
    /* Each waiter, and main, is an OS thread under SCHED_FIFO. */
    WAIT_FOR(rt_tasks() == NRT + 1, 10);
    if (use_mutex) {
        CHECK_OK(pthread_mutex_unlock(&held));
    } else {
        for (int i = 0; i < NRT; i++) {
            CHECK_OK(sem_post(&sem_wake));
            CHECK_OK(sem_wait(&sem_done));
        }
    }
    for (int i = 0; i < NRT; i++)
        join_within(t[i], 10);
    CHECK_EQ(__atomic_load_n(&norder, __ATOMIC_SEQ_CST), NRT);
    for (int i = 0; i < NRT; i++)
        CHECK_EQ(order[i], 16 - i);
}

/* ---- Started under SCHED_FIFO. */

static int got_chld; /* __atomic */

static void
on_chld(int sig)
{
    (void)sig;
    __atomic_store_n(&got_chld, 1, __ATOMIC_SEQ_CST);
}

static int
started_fifo(void)
{
    struct expect inherited = { SCHED_FIFO, 12, 2 };
    struct sigaction sa;
    sigset_t block, old;

    check_self(SCHED_FIFO, 12);
    WAIT_FOR(rt_tasks() == 1, 10);
    join_within(spawn(report, &inherited), 10);
    sleep_ns(1000000);

    /* sigsuspend until a child's SIGCHLD has run its handler. */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_chld;
    sa.sa_flags = SA_RESTART;
    CHECK_OK(sigaction(SIGCHLD, &sa, NULL));
    sigemptyset(&block);
    sigaddset(&block, SIGCHLD);
    CHECK_OK(sigprocmask(SIG_BLOCK, &block, &old));
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(0);
    while (!__atomic_load_n(&got_chld, __ATOMIC_SEQ_CST))
        CHECK_ERR(sigsuspend(&old), EINTR);
    CHECK_OK(sigprocmask(SIG_SETMASK, &old, NULL));
    CHECK_EQ(waitpid(pid, NULL, 0), pid);
    puts("ok");
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "started-fifo") == 0)
        return started_fifo();

    struct sched_param sp = { .sched_priority = 10 };
    int err = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
    if (err == EPERM)
        skip_test("SCHED_FIFO is not permitted here (EPERM)");
    CHECK_OK(err);
    check_self(SCHED_FIFO, 10);
    sp.sched_priority = 0;
    CHECK_OK(pthread_setschedparam(pthread_self(), SCHED_OTHER, &sp));
    check_self(SCHED_OTHER, 0);
    CHECK_EQ(rt_tasks(), 0);

    /* Inherited, and explicit. */
    sp.sched_priority = 10;
    CHECK_OK(pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp));
    struct expect inherited = { SCHED_FIFO, 10, 2 }, rr = { SCHED_RR, 5, 2 };
    struct expect other = { SCHED_OTHER, 0, 1 };
    join_within(spawn(report, &inherited), 10);
    join_within(spawn_sched(report, &rr, SCHED_RR, 5), 10);
    join_within(spawn_sched(report, &other, SCHED_OTHER, 0), 10);

    /* The caller's own priority and policy, through the other calls. */
    CHECK_OK(pthread_setschedprio(pthread_self(), 15));
    check_self(SCHED_FIFO, 15);
    sp.sched_priority = 7;
    CHECK_OK(sched_setscheduler(0, SCHED_RR, &sp));
    check_kernel(SCHED_RR, 7);
    sp.sched_priority = 8;
    CHECK_OK(sched_setparam(0, &sp));
    check_kernel(SCHED_RR, 8);
    sp.sched_priority = 100;
    CHECK_ERR(pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp), EINVAL);
    CHECK_ERR(sched_setscheduler(0, SCHED_FIFO, &sp), EINVAL);
    CHECK_ERR(pthread_setschedprio(pthread_self(), 0), EINVAL);
    check_kernel(SCHED_RR, 8);
    sp.sched_priority = 10;
    CHECK_OK(pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp));

    /* Another thread's policy, set while it waits; it runs under it once woken. */
    CHECK_OK(sem_init(&sem_go, 0, 0));
    CHECK_OK(sem_init(&sem_back, 0, 0));
    changed_expect = other;
    pthread_t changed = spawn_sched(changed_main, NULL, SCHED_OTHER, 0);
    wait_blocked(&changed_blocked, SYS_futex, "sem");
    sp.sched_priority = 20;
    CHECK_OK(pthread_setschedparam(changed, SCHED_FIFO, &sp));
    changed_expect = (struct expect){ SCHED_FIFO, 20, 2 };
    CHECK_OK(sem_post(&sem_go));
    CHECK_OK(sem_wait(&sem_back));
    wait_blocked(&changed_blocked, SYS_futex, "sem");
    sp.sched_priority = 0;
    CHECK_OK(pthread_setschedparam(changed, SCHED_OTHER, &sp));
    changed_expect = other;
    CHECK_OK(sem_post(&sem_go));
    CHECK_OK(sem_wait(&sem_back));
    join_within(changed, 10);

    /* Higher priorities are woken first. */
    CHECK_OK(sem_init(&sem_wake, 0, 0));
    CHECK_OK(sem_init(&sem_done, 0, 0));
    woken_in_priority_order(0);
    woken_in_priority_order(1);

    /* Back to SCHED_OTHER: no OS thread of the process is real-time any more. */
    sp.sched_priority = 0;
    CHECK_OK(pthread_setschedparam(pthread_self(), SCHED_OTHER, &sp));
    check_self(SCHED_OTHER, 0);
    WAIT_FOR(rt_tasks() == 0, 10);

    /* This program again, started under SCHED_FIFO 12. */
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        struct sched_param cp = { .sched_priority = 12 };
        if (sched_setscheduler(0, SCHED_FIFO, &cp) != 0)
            _exit(3);
        execl("/proc/self/exe", argv[0], "started-fifo", (char *)NULL);
        _exit(4);
    }
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);
    puts("ok");
    return 0;
}
