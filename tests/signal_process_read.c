/* tests/signal_process_read.c
 * Behaviour: SIGALRM sent to the process (alarm) interrupts the main thread parked in read()
 * on an empty pipe: without SA_RESTART read fails with EINTR after the handler ran; with
 * SA_RESTART it restarts and returns the data written later by another thread. That other
 * thread arms the alarm once it sees main blocked in read, and writes only once the handler
 * has run and main is blocked in read again.
 */
#include "check.h"

#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>

static atomic_int alarms;

static void
on_alarm(int sig)
{
    (void)sig;
    atomic_fetch_add(&alarms, 1);
}

static int pipefd[2];
static struct blocker main_blocked;

/* A second thread, as in a server: the signal goes to the process, not to a thread. */
static void *
alarmer(void *arg)
{
    int restart = (int)(long)arg;
    wait_blocked(&main_blocked, SYS_read, "IO read");
    alarm(1);
    WAIT_FOR(atomic_load(&alarms) == 1 + restart, 10);
    if (restart) {
        /* The handler ran and read went on: blocked again, then the data. */
        wait_blocked(&main_blocked, SYS_read, "IO read");
        CHECK_EQ(write(pipefd[1], "y", 1), 1);
    }
    return NULL;
}

static void
install(int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    CHECK_OK(sigaction(SIGALRM, &sa, NULL));
}

int
main(void)
{
    char c;

    CHECK_OK(pipe(pipefd));
    install(0);
    pthread_t w = spawn(alarmer, (void *)0L);
    blocker_here(&main_blocked, "the main thread");
    errno = 0;
    CHECK_EQ(read(pipefd[0], &c, 1), -1);
    CHECK_EQ(errno, EINTR);
    CHECK_EQ(atomic_load(&alarms), 1);
    fprintf(stderr, "read interrupted by SIGALRM: EINTR\n");
    join_within(w, 10);

    /* With SA_RESTART: the handler runs and read goes on until the writer's byte comes. */
    install(SA_RESTART);
    blocker_clear(&main_blocked);
    w = spawn(alarmer, (void *)1L);
    blocker_here(&main_blocked, "the main thread");
    CHECK_EQ(read(pipefd[0], &c, 1), 1);
    CHECK_EQ(c, 'y');
    CHECK_EQ(atomic_load(&alarms), 2);
    fprintf(stderr, "read with SA_RESTART survived SIGALRM and got the data\n");
    join_within(w, 10);
    return 0;
}
