/* tests/pthread_misc.c
 * Behaviour: the per-thread odds and ends work per thread: setname_np/getname_np (ERANGE when too
 * long or too small), getattr_np on self, signal masks per thread and inherited at creation,
 * pthread_kill running the handler in the target thread (whose read() restarts under
 * SA_RESTART), pthread_kill(t, 0), sigwait and
 * pthread_sigqueue/sigwaitinfo, affinity and scheduling parameters, and a thread CPU clock
 * from pthread_getcpuclockid.
 */
#include "check.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>

static __thread volatile sig_atomic_t got_usr1;
static atomic_int handler_calls;

static void
on_usr1(int sig)
{
    (void)sig;
    got_usr1 = 1;
    atomic_fetch_add(&handler_calls, 1);
}

/* A thread that parks until a byte arrives, returning whether its own handler flag was set. */
struct parked {
    int go[2];
    struct blocker blocked;
    sigset_t mask_at_start;
    int flag_polls;
};

static void *
parked_thread(void *arg)
{
    struct parked *p = arg;
    CHECK_OK(pthread_sigmask(SIG_BLOCK, NULL, &p->mask_at_start));
    char c;
    blocker_here(&p->blocked, "the parked thread");
    CHECK_EQ(read(p->go[0], &c, 1), 1);
    return (void *)(long)got_usr1;
}

/* Start a parked thread; returns once it is blocked in its read. */
static pthread_t
start_parked(struct parked *p)
{
    CHECK_OK(pipe(p->go));
    blocker_clear(&p->blocked);
    pthread_t t = spawn(parked_thread, p);
    wait_blocked(&p->blocked, SYS_read, "IO read");
    return t;
}

static long
finish_parked(struct parked *p, pthread_t t)
{
    char c = 'g';
    CHECK_EQ(write(p->go[1], &c, 1), 1);
    long r = (long)join_within(t, 10);
    close(p->go[0]);
    close(p->go[1]);
    return r;
}

static void
check_names(void)
{
    char name[32];
    CHECK_OK(pthread_setname_np(pthread_self(), "main-thread"));
    CHECK_OK(pthread_getname_np(pthread_self(), name, sizeof name));
    CHECK_EQ(strcmp(name, "main-thread"), 0);
    /* 15 characters fit; 16 do not. */
    CHECK_OK(pthread_setname_np(pthread_self(), "abcdefghijklmno"));
    CHECK_OK(pthread_getname_np(pthread_self(), name, 16));
    CHECK_EQ(strcmp(name, "abcdefghijklmno"), 0);
    CHECK_ERR(pthread_setname_np(pthread_self(), "abcdefghijklmnop"), ERANGE);
    CHECK_ERR(pthread_getname_np(pthread_self(), name, 15), ERANGE);

    /* Another thread's name, set and read from here. */
    struct parked p;
    pthread_t t = start_parked(&p);
    CHECK_OK(pthread_setname_np(t, "worker-7"));
    CHECK_OK(pthread_getname_np(t, name, sizeof name));
    CHECK_EQ(strcmp(name, "worker-7"), 0);
    CHECK_OK(pthread_getname_np(pthread_self(), name, sizeof name));
    CHECK_EQ(strcmp(name, "abcdefghijklmno"), 0);
    finish_parked(&p, t);
}

static void *
attr_self(void *arg)
{
    (void)arg;
    volatile int local = 0;
    pthread_attr_t a;
    CHECK_OK(pthread_getattr_np(pthread_self(), &a));
    void *addr;
    size_t size;
    CHECK_OK(pthread_attr_getstack(&a, &addr, &size));
    size_t guard = 0;
    CHECK_OK(pthread_attr_getguardsize(&a, &guard));
    CHECK_OK(pthread_attr_destroy(&a));
    CHECK((uintptr_t)&local >= (uintptr_t)addr);
    CHECK((uintptr_t)&local < (uintptr_t)addr + size);
    return NULL;
}

static void
check_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART; /* the parked thread's read() restarts after the handler */
    sigemptyset(&sa.sa_mask);
    CHECK_OK(sigaction(SIGUSR1, &sa, NULL));

    /* To self: the handler has run, in this thread, when pthread_kill returns. */
    CHECK_OK(pthread_kill(pthread_self(), SIGUSR1));
    CHECK_EQ(got_usr1, 1);
    CHECK_EQ(atomic_load(&handler_calls), 1);

    /* A new thread inherits its creator's mask; masks are per thread afterwards. */
    sigset_t usr2, old, now;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    CHECK_OK(pthread_sigmask(SIG_BLOCK, &usr2, &old));
    struct parked p;
    pthread_t t = start_parked(&p);
    CHECK(sigismember(&p.mask_at_start, SIGUSR2));
    CHECK(!sigismember(&p.mask_at_start, SIGUSR1));
    CHECK_OK(pthread_sigmask(SIG_SETMASK, &old, NULL));
    CHECK_OK(pthread_sigmask(SIG_BLOCK, NULL, &now));
    CHECK(!sigismember(&now, SIGUSR2));

    /* To another thread, parked in read(): its handler flag, not ours. */
    got_usr1 = 0;
    CHECK_OK(pthread_kill(t, 0));
    CHECK_OK(pthread_kill(t, SIGUSR1));
    WAIT_FOR(atomic_load(&handler_calls) == 2, 10);
    CHECK_EQ(got_usr1, 0);
    CHECK_EQ(finish_parked(&p, t), 1);
    CHECK_ERR(pthread_kill(pthread_self(), 1000), EINVAL);
    signal(SIGUSR1, SIG_DFL);
}

/* A thread that blocks SIGUSR1 itself while another thread does not. */
static pthread_barrier_t bar;
static int blocked_seen[2];

static void *
mask_thread(void *arg)
{
    long id = (long)arg;
    if (id == 0) {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGUSR1);
        CHECK_OK(pthread_sigmask(SIG_BLOCK, &s, NULL));
    }
    pthread_barrier_wait(&bar);
    sleep_ns(1000); /* park; masks must survive it */
    sigset_t cur;
    CHECK_OK(pthread_sigmask(SIG_BLOCK, NULL, &cur));
    blocked_seen[id] = sigismember(&cur, SIGUSR1);
    pthread_barrier_wait(&bar);
    return NULL;
}

static void
check_masks(void)
{
    CHECK_OK(pthread_barrier_init(&bar, NULL, 2));
    pthread_t a = spawn(mask_thread, (void *)0);
    pthread_t b = spawn(mask_thread, (void *)1);
    join_within(a, 10);
    join_within(b, 10);
    CHECK_OK(pthread_barrier_destroy(&bar));
    CHECK_EQ(blocked_seen[0], 1);
    CHECK_EQ(blocked_seen[1], 0);
}

/* sigwait; sigwaitinfo of a signal sent with pthread_kill (glibc reports tkill's SI_TKILL as
 * SI_USER); pthread_sigqueue of a (queued) real-time signal with a value. */
static void *
waits_for_signals(void *arg)
{
    (void)arg;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    int sig = 0;
    CHECK_OK(sigwait(&s, &sig));
    CHECK_EQ(sig, SIGUSR2);
    sigemptyset(&s);
    sigaddset(&s, SIGRTMIN + 2);
    siginfo_t killed;
    CHECK_EQ(sigwaitinfo(&s, &killed), SIGRTMIN + 2);
    CHECK_EQ(killed.si_code, SI_USER);
    CHECK_EQ(killed.si_pid, getpid());
    sigemptyset(&s);
    sigaddset(&s, SIGRTMIN + 1);
    long sum = 0;
    for (int i = 0; i < 3; i++) {
        siginfo_t info;
        CHECK_EQ(sigwaitinfo(&s, &info), SIGRTMIN + 1);
        CHECK_EQ(info.si_code, SI_QUEUE);
        CHECK_EQ(info.si_pid, getpid());
        sum += info.si_value.sival_int;
    }
    return (void *)sum;
}

static void
check_sigwait(void)
{
    /* Block the signals before creating the waiter, so it inherits the mask. */
    sigset_t s, old;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    sigaddset(&s, SIGRTMIN + 1);
    sigaddset(&s, SIGRTMIN + 2);
    CHECK_OK(pthread_sigmask(SIG_BLOCK, &s, &old));
    pthread_t t = spawn(waits_for_signals, NULL);
    CHECK_OK(pthread_kill(t, SIGUSR2));
    CHECK_OK(pthread_kill(t, SIGRTMIN + 2));
    for (int i = 1; i <= 3; i++) {
        union sigval v;
        v.sival_int = i * 100;
        CHECK_OK(pthread_sigqueue(t, SIGRTMIN + 1, v));
    }
    CHECK_EQ((long)join_within(t, 10), 600);
    CHECK_OK(pthread_sigmask(SIG_SETMASK, &old, NULL));
}

/* pthread_sigqueue to the main thread, which waits for it with sigwaitinfo. */
static pthread_t main_thread;

static void *
queues_to_main(void *arg)
{
    union sigval v;
    (void)arg;
    v.sival_int = 77;
    CHECK_OK(pthread_sigqueue(main_thread, SIGRTMIN + 3, v));
    return NULL;
}

static void
check_sigqueue_main(void)
{
    sigset_t s, old;
    siginfo_t info;
    sigemptyset(&s);
    sigaddset(&s, SIGRTMIN + 3);
    CHECK_OK(pthread_sigmask(SIG_BLOCK, &s, &old));
    main_thread = pthread_self();
    pthread_t t = spawn(queues_to_main, NULL);
    CHECK_EQ(sigwaitinfo(&s, &info), SIGRTMIN + 3);
    CHECK_EQ(info.si_code, SI_QUEUE);
    CHECK_EQ(info.si_value.sival_int, 77);
    join_within(t, 10);
    CHECK_OK(pthread_sigmask(SIG_SETMASK, &old, NULL));
}

static void
check_affinity_and_sched(void)
{
    cpu_set_t set, again;
    CHECK_OK(pthread_getaffinity_np(pthread_self(), sizeof set, &set));
    CHECK(CPU_COUNT(&set) >= 1);
    CHECK_OK(pthread_setaffinity_np(pthread_self(), sizeof set, &set));
    CHECK_OK(pthread_getaffinity_np(pthread_self(), sizeof again, &again));
    CHECK(CPU_EQUAL(&set, &again));

    struct parked p;
    pthread_t t = start_parked(&p);
    CHECK_OK(pthread_getaffinity_np(t, sizeof again, &again));
    CHECK(CPU_COUNT(&again) >= 1);
    CHECK_OK(pthread_setaffinity_np(t, sizeof set, &set));

    int policy = -1;
    struct sched_param sp = { 0 };
    CHECK_OK(pthread_getschedparam(pthread_self(), &policy, &sp));
    CHECK_EQ(policy, SCHED_OTHER);
    CHECK_EQ(sp.sched_priority, 0);
    CHECK_OK(pthread_setschedparam(pthread_self(), SCHED_OTHER, &sp));
    CHECK_OK(pthread_setschedprio(pthread_self(), 0));
    CHECK_OK(pthread_getschedparam(t, &policy, &sp));
    CHECK_EQ(policy, SCHED_OTHER);
    CHECK_OK(pthread_setschedparam(t, SCHED_OTHER, &sp));
    finish_parked(&p, t);

    CHECK_OK(pthread_setconcurrency(4));
    CHECK_EQ(pthread_getconcurrency(), 4);
    CHECK_OK(pthread_setconcurrency(0));
}

static void *
burn_and_measure(void *arg)
{
    (void)arg;
    clockid_t cid;
    CHECK_OK(pthread_getcpuclockid(pthread_self(), &cid));
    long long before = now_ns(cid);
    /* Busy until this thread's CPU clock shows 10 ms more, within a generous wall-clock bound. */
    long long until = now_ns(CLOCK_MONOTONIC) + 10000000000LL;
    volatile unsigned long x = 0;
    while (now_ns(cid) - before < 10000000) {
        CHECK(now_ns(CLOCK_MONOTONIC) < until);
        for (int i = 0; i < 10000; i++)
            x++;
    }
    return (void *)(long)((now_ns(cid) - before) / 1000);
}

static void
check_cpuclock(void)
{
    clockid_t cid;
    CHECK_OK(pthread_getcpuclockid(pthread_self(), &cid));
    long long mine = now_ns(cid);
    long long process = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    long used_us = (long)join_within(spawn(burn_and_measure, NULL), 30);
    fprintf(stderr, "thread cpu clock: a busy thread measured %ld us\n", used_us);
    CHECK(used_us >= 10000);
    CHECK(now_ns(CLOCK_PROCESS_CPUTIME_ID) - process >= 10000000);
    CHECK(now_ns(cid) >= mine);
}

int
main(void)
{
    check_names();
    join_within(spawn(attr_self, NULL), 10);
    attr_self(NULL);
    check_signals();
    check_masks();
    check_sigwait();
    check_sigqueue_main();
    check_affinity_and_sched();
    check_cpuclock();
    return 0;
}
