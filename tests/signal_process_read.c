/* tests/signal_process_read.c
 * Behaviour: SIGALRM sent to the process (alarm) interrupts the main thread parked in read()
 * on an empty pipe: without SA_RESTART read fails with EINTR after the handler ran; with
 * SA_RESTART it restarts and returns the data written later by another thread.
 */
#include "check.h"

#include <signal.h>
#include <stdatomic.h>

static atomic_int alarms;

static void
on_alarm(int sig)
{
    (void)sig;
    atomic_fetch_add(&alarms, 1);
}

static int pipefd[2];

static void *
late_writer(void *arg)
{
    (void)arg;
    sleep_ns(1500000000LL);
    CHECK_EQ(write(pipefd[1], "y", 1), 1);
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
    /* A second thread exists, as in a server: the signal goes to the process. */
    pthread_t w = spawn(late_writer, NULL);

    install(0);
    alarm(1);
    errno = 0;
    CHECK_EQ(read(pipefd[0], &c, 1), -1);
    CHECK_EQ(errno, EINTR);
    CHECK_EQ(atomic_load(&alarms), 1);
    fprintf(stderr, "read interrupted by SIGALRM: EINTR\n");

    /* With SA_RESTART: the handler runs and read goes on until the writer's byte comes. */
    join_within(w, 10);
    CHECK_EQ(read(pipefd[0], &c, 1), 1);      /* the first writer's byte */
    w = spawn(late_writer, NULL);
    install(SA_RESTART);
    alarm(1);
    CHECK_EQ(read(pipefd[0], &c, 1), 1);
    CHECK_EQ(c, 'y');
    CHECK_EQ(atomic_load(&alarms), 2);
    fprintf(stderr, "read with SA_RESTART survived SIGALRM and got the data\n");
    join_within(w, 10);
    return 0;
}
