/* tests/sigsuspend_child_loop.c
 * Behaviour: the loop of GNU timeout and of many supervisors works: with SIGCHLD blocked, fork
 * a child (which exits at once or after a few hundred microseconds), then
 * `while (waitpid(child, WNOHANG) == 0) sigsuspend(&unblocked)`. SIGCHLD, which the process
 * catches, must end the sigsuspend that follows its arrival, wherever it lands: natively
 * sigsuspend unblocks and waits in one step. Under greenrun a SIGCHLD the kernel gave the
 * main thread's OS thread in the moment between sigsuspend's unblocking and its wait ran the
 * handler there, and the wait then slept for ever (GNU timeout hung under the preload). Each
 * round must end within 10 s; a watchdog thread that blocks every signal checks.
 */
#include "check.h"

#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

static atomic_long rounds_done;
static atomic_int finished;
static atomic_int handled;

static void
on_chld(int sig)
{
    (void)sig;
    atomic_fetch_add(&handled, 1);
}

static void *
watchdog(void *arg)
{
    sigset_t all;
    long last = -1;

    (void)arg;
    sigfillset(&all);
    CHECK_OK(pthread_sigmask(SIG_BLOCK, &all, NULL));
    while (!atomic_load(&finished)) {
        long now = atomic_load(&rounds_done);
        if (now == last)
            check_fail(__FILE__, __LINE__, "a round of fork, waitpid, sigsuspend",
                       "took more than 10 s");
        last = now;
        for (int i = 0; i < 100 && !atomic_load(&finished); i++)
            sleep_ns(100000000);
    }
    return NULL;
}

int
main(void)
{
    struct sigaction sa = { .sa_handler = on_chld };
    sigset_t block, orig;
    long rounds = scale(2000, 300);
    pthread_t dog;

    CHECK_OK(sigaction(SIGCHLD, &sa, NULL));
    sigemptyset(&block);
    sigaddset(&block, SIGCHLD);
    dog = spawn(watchdog, NULL);
    for (long i = 0; i < rounds; i++) {
        CHECK_OK(sigprocmask(SIG_BLOCK, &block, &orig));
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            if (i % 3 != 0) {
                struct timespec ts = { 0, (i % 7) * 100000 };
                nanosleep(&ts, NULL);
            }
            _exit(0);
        }
        int status = 0;
        pid_t r;
        while ((r = waitpid(pid, &status, WNOHANG)) == 0)
            CHECK_ERR(sigsuspend(&orig), EINTR);
        CHECK_EQ(r, pid);
        CHECK(WIFEXITED(status));
        CHECK_OK(sigprocmask(SIG_SETMASK, &orig, NULL));
        atomic_fetch_add(&rounds_done, 1);
    }
    atomic_store(&finished, 1);
    join_within(dog, 30);
    /* Each child's SIGCHLD ran the handler, unless one came while another was pending. */
    CHECK(atomic_load(&handled) >= 1);
    printf("ok: %ld rounds, %d SIGCHLD handled\n", rounds, atomic_load(&handled));
    return 0;
}
