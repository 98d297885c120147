/* tests/signal_raise_pending.c
 * Behaviour: raise() and pthread_kill(pthread_self()) of a signal the calling thread blocks
 * leave it pending on that thread only: sigpending() shows it there and nowhere else, no other
 * thread runs its handler (not even one that does not block it and runs right after, on the
 * same OS thread under greenrun with one processor), and the calling thread runs the handler
 * when it unblocks the signal, before pthread_sigmask returns. sigwait takes such a signal
 * without the handler.
 */
#include "check.h"

#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>

static atomic_int handled;
static pthread_t handler_thread;

static void
on_usr1(int sig)
{
    (void)sig;
    handler_thread = pthread_self();
    atomic_fetch_add(&handled, 1);
}

static sem_t to_other, to_sender;
static atomic_int other_done;

static int
pending_usr1(void)
{
    sigset_t p;
    CHECK_OK(sigpending(&p));
    return sigismember(&p, SIGUSR1);
}

/* The other thread: SIGUSR1 not blocked; each round it runs while the sender's signal is
 * pending, looks at its own pending set, then blocks SIGUSR1 and looks again. */
static void *
other(void *arg)
{
    sigset_t usr1, old;
    (void)arg;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    for (int round = 0; round < 2; round++) {
        CHECK_OK(sem_wait(&to_other));
        for (int i = 0; i < 20; i++)
            sched_yield();
        CHECK_EQ(pending_usr1(), 0);
        CHECK_OK(pthread_sigmask(SIG_BLOCK, &usr1, &old));
        CHECK_EQ(pending_usr1(), 0);
        CHECK_OK(pthread_sigmask(SIG_SETMASK, &old, NULL));
        CHECK_EQ(atomic_load(&handled), 0);
        atomic_fetch_add(&other_done, 1);
        CHECK_OK(sem_post(&to_sender));
    }
    return NULL;
}

static void *
sender(void *arg)
{
    sigset_t usr1;
    (void)arg;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    CHECK_OK(pthread_sigmask(SIG_BLOCK, &usr1, NULL));
    for (int round = 0; round < 2; round++) {
        if (round == 0)
            CHECK_OK(raise(SIGUSR1));
        else
            CHECK_OK(pthread_kill(pthread_self(), SIGUSR1));
        CHECK_EQ(pending_usr1(), 1);
        CHECK_OK(sem_post(&to_other));
        CHECK_OK(sem_wait(&to_sender));
        CHECK_EQ(atomic_load(&other_done), round + 1);
        CHECK_EQ(atomic_load(&handled), 0);
        CHECK_EQ(pending_usr1(), 1);
        CHECK_OK(pthread_sigmask(SIG_UNBLOCK, &usr1, NULL));
        CHECK_EQ(atomic_load(&handled), 1);
        CHECK(pthread_equal(handler_thread, pthread_self()));
        CHECK_EQ(pending_usr1(), 0);
        atomic_store(&handled, 0);
        CHECK_OK(pthread_sigmask(SIG_BLOCK, &usr1, NULL));
        fprintf(stderr, "%s while blocked: pending on the caller only, handled on unblock\n",
                round == 0 ? "raise" : "pthread_kill(self)");
    }

    /* sigwait takes it: no handler. */
    CHECK_OK(raise(SIGUSR1));
    int sig = 0;
    CHECK_OK(sigwait(&usr1, &sig));
    CHECK_EQ(sig, SIGUSR1);
    CHECK_EQ(pending_usr1(), 0);
    CHECK_EQ(atomic_load(&handled), 0);
    return NULL;
}

int
main(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    CHECK_OK(sigaction(SIGUSR1, &sa, NULL));
    CHECK_OK(sem_init(&to_other, 0, 0));
    CHECK_OK(sem_init(&to_sender, 0, 0));
    pthread_t o = spawn(other, NULL);
    pthread_t s = spawn(sender, NULL);
    join_within(s, 20);
    join_within(o, 20);
    CHECK_EQ(atomic_load(&handled), 0);
    return 0;
}
