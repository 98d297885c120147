/* tests/signal_process_main.c
 * Behaviour: a signal sent to the process (kill, sigqueue) while the main thread waits goes to
 * the main thread when it does not block the signal, as the kernel picks it first: its handler
 * runs there, with the sender's siginfo, and main's wait ends with EINTR (read on a pipe,
 * pause, sigsuspend; no SA_RESTART). The sender is another thread that waits for main to be
 * blocked, then sends, and keeps running. When main blocks the signal, the one thread that
 * does not block it (blocked in read) takes it. Each interrupted wait must end within 10 s
 * (it has no timeout of its own; natively it ends at once). Sent by the main thread itself,
 * which does not block it, kill and sigqueue run the handler on main before they return.
 */
#include "check.h"

#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>

static atomic_int handled;
static pthread_t handler_thread;
static int handler_code, handler_value;
static pid_t handler_pid;

static void
on_usr1(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    handler_thread = pthread_self();
    handler_code = si->si_code;
    handler_pid = si->si_pid;
    handler_value = si->si_code == SI_QUEUE ? si->si_value.sival_int : 0;
    atomic_fetch_add(&handled, 1);
}

static struct blocker blk;
static atomic_int waiter_done;
static long blocked_nr;
static const char *blocked_reason;
static int use_sigqueue;

/* Waits for blk's thread to block, sends SIGUSR1 to the process, then waits (running, not
 * parked in a wait a signal ends) for that thread to report its wait over. */
static void *
sender(void *arg)
{
    (void)arg;
    wait_blocked(&blk, blocked_nr, blocked_reason);
    if (use_sigqueue) {
        union sigval v = { .sival_int = 42 };
        CHECK_OK(sigqueue(getpid(), SIGUSR1, v));
    } else {
        CHECK_OK(kill(getpid(), SIGUSR1));
    }
    long long until = now_ns(CLOCK_MONOTONIC) + 10000000000LL;
    while (!atomic_load(&waiter_done)) {
        if (now_ns(CLOCK_MONOTONIC) > until)
            check_fail(__FILE__, __LINE__, "the waiting thread", "not interrupted in 10 s");
        sched_yield();
    }
    return NULL;
}

static pthread_t
start_sender(long nr, const char *reason, int queue, int clear)
{
    if (clear) /* not for a thread that is blocked already */
        blocker_clear(&blk);
    atomic_store(&waiter_done, 0);
    atomic_store(&handled, 0);
    blocked_nr = nr;
    blocked_reason = reason;
    use_sigqueue = queue;
    return spawn(sender, NULL);
}

static void
check_handled_by(pthread_t who, int code)
{
    CHECK_EQ(atomic_load(&handled), 1);
    CHECK(pthread_equal(handler_thread, who));
    CHECK_EQ(handler_code, code);
    CHECK_EQ(handler_pid, getpid());
    if (code == SI_QUEUE)
        CHECK_EQ(handler_value, 42);
}

static int pipefd[2];

/* A thread that reads the pipe, SIGUSR1 unblocked. */
static void *
reader(void *arg)
{
    char c;
    (void)arg;
    blocker_here(&blk, "reader");
    errno = 0;
    CHECK_EQ(read(pipefd[0], &c, 1), -1);
    CHECK_EQ(errno, EINTR);
    atomic_store(&waiter_done, 1);
    return NULL;
}

int
main(void)
{
    struct sigaction sa;
    pthread_t me = pthread_self(), t;
    sigset_t usr1, none;
    char c;

    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO; /* no SA_RESTART: the waits end with EINTR */
    sigemptyset(&sa.sa_mask);
    CHECK_OK(sigaction(SIGUSR1, &sa, NULL));
    CHECK_OK(pipe(pipefd));
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigemptyset(&none);

    /* main in read() on an empty pipe; kill. */
    t = start_sender(SYS_read, "IO read", 0, 1);
    blocker_here(&blk, "main in read");
    errno = 0;
    CHECK_EQ(read(pipefd[0], &c, 1), -1);
    CHECK_EQ(errno, EINTR);
    atomic_store(&waiter_done, 1);
    check_handled_by(me, SI_USER);
    join_within(t, 10);
    fprintf(stderr, "kill: main's read interrupted, the handler ran on main\n");

    /* main in pause(); sigqueue, whose value reaches the handler. */
    t = start_sender(SYS_pause, NULL, 1, 1);
    blocker_here(&blk, "main in pause");
    errno = 0;
    CHECK_EQ(pause(), -1);
    CHECK_EQ(errno, EINTR);
    atomic_store(&waiter_done, 1);
    check_handled_by(me, SI_QUEUE);
    join_within(t, 10);
    fprintf(stderr, "sigqueue: main's pause interrupted, the handler ran on main\n");

    /* main blocks SIGUSR1 and unblocks it only in sigsuspend. */
    CHECK_OK(pthread_sigmask(SIG_BLOCK, &usr1, NULL));
    t = start_sender(SYS_rt_sigsuspend, NULL, 0, 1);
    blocker_here(&blk, "main in sigsuspend");
    errno = 0;
    CHECK_EQ(sigsuspend(&none), -1);
    CHECK_EQ(errno, EINTR);
    atomic_store(&waiter_done, 1);
    check_handled_by(me, SI_USER);
    join_within(t, 10);
    fprintf(stderr, "kill: main's sigsuspend interrupted, the handler ran on main\n");

    /* main (and the sender, created now) block SIGUSR1; a reader created before does not. */
    CHECK_OK(pthread_sigmask(SIG_UNBLOCK, &usr1, NULL));
    blocker_clear(&blk);
    atomic_store(&waiter_done, 0);
    pthread_t r = spawn(reader, NULL);
    CHECK_OK(pthread_sigmask(SIG_BLOCK, &usr1, NULL));
    wait_blocked(&blk, SYS_read, "IO read");
    t = start_sender(SYS_read, "IO read", 0, 0);
    join_within(r, 10);
    check_handled_by(r, SI_USER);
    join_within(t, 10);
    fprintf(stderr, "kill, main blocking it: the one thread that does not took it\n");

    /* main sends to its own process: the kernel picks main, the handler runs at once. After a
     * park each time, so that main resumes on whichever OS thread. */
    CHECK_OK(pthread_sigmask(SIG_UNBLOCK, &usr1, NULL));
    for (int i = 0; i < 20; i++) {
        union sigval v = { .sival_int = 42 };
        atomic_store(&handled, 0);
        sleep_ns(1000000);
        if (i % 2 == 0)
            CHECK_OK(kill(getpid(), SIGUSR1));
        else
            CHECK_OK(sigqueue(getpid(), SIGUSR1, v));
        check_handled_by(me, i % 2 == 0 ? SI_USER : SI_QUEUE);
    }
    fprintf(stderr, "kill and sigqueue from main: the handler ran on main before they returned\n");
    return 0;
}
