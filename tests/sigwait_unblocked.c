/* tests/sigwait_unblocked.c
 * Behaviour: sigwaitinfo, sigtimedwait and sigwait for a signal the thread does not block,
 * with a handler installed, take the signal and return it, as Linux does: the handler does not
 * run and the call does not fail with EINTR. Sent to the waiting thread (pthread_kill) and to
 * the process (kill) while the main thread waits, from another thread that waits for main to
 * be blocked first. Natively the kernel gives a process signal to the main thread when it
 * does not block it, and a thread in sigwaitinfo does not block the signals it waits for.
 */
#include "check.h"

#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>

static atomic_int handled;

static void
on_usr1(int sig)
{
    (void)sig;
    atomic_fetch_add(&handled, 1);
}

static struct blocker main_blocked;
static pthread_t main_thread;

/* How the sender sends: to main, or to the process. */
static void *
sender(void *arg)
{
    int to_process = (int)(long)arg;
    wait_blocked(&main_blocked, SYS_rt_sigtimedwait, NULL);
    if (to_process)
        CHECK_OK(kill(getpid(), SIGUSR1));
    else
        CHECK_OK(pthread_kill(main_thread, SIGUSR1));
    return NULL;
}

int
main(void)
{
    struct sigaction sa;
    sigset_t set, cur;
    siginfo_t si;

    main_thread = pthread_self();
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    CHECK_OK(sigaction(SIGUSR1, &sa, NULL));
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    CHECK_OK(pthread_sigmask(SIG_SETMASK, NULL, &cur));
    CHECK_EQ(sigismember(&cur, SIGUSR1), 0);

    for (int to_process = 0; to_process < 2; to_process++) {
        const char *how = to_process ? "kill" : "pthread_kill";

        blocker_clear(&main_blocked);
        pthread_t t = spawn(sender, (void *)(long)to_process);
        blocker_here(&main_blocked, "main in sigwaitinfo");
        memset(&si, 0, sizeof si);
        CHECK_EQ(sigwaitinfo(&set, &si), SIGUSR1);
        CHECK_EQ(si.si_signo, SIGUSR1);
        CHECK_EQ(si.si_code, SI_USER);
        CHECK_EQ(si.si_pid, getpid());
        CHECK_EQ(atomic_load(&handled), 0);
        join_within(t, 10);
        fprintf(stderr, "sigwaitinfo, %s: took the signal, no handler\n", how);

        blocker_clear(&main_blocked);
        t = spawn(sender, (void *)(long)to_process);
        blocker_here(&main_blocked, "main in sigtimedwait");
        struct timespec ten = { 10, 0 };
        CHECK_EQ(sigtimedwait(&set, &si, &ten), SIGUSR1);
        CHECK_EQ(atomic_load(&handled), 0);
        join_within(t, 10);
        fprintf(stderr, "sigtimedwait, %s: took the signal, no handler\n", how);

        blocker_clear(&main_blocked);
        t = spawn(sender, (void *)(long)to_process);
        blocker_here(&main_blocked, "main in sigwait");
        int sig = 0;
        CHECK_OK(sigwait(&set, &sig));
        CHECK_EQ(sig, SIGUSR1);
        CHECK_EQ(atomic_load(&handled), 0);
        join_within(t, 10);
        fprintf(stderr, "sigwait, %s: took the signal, no handler\n", how);
    }

    /* Still unblocked, and the handler still works outside sigwait. */
    CHECK_OK(pthread_sigmask(SIG_SETMASK, NULL, &cur));
    CHECK_EQ(sigismember(&cur, SIGUSR1), 0);
    CHECK_OK(raise(SIGUSR1));
    CHECK_EQ(atomic_load(&handled), 1);
    return 0;
}
