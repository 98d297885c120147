/* tests/syscall_handoff.c
 * Behaviour: a thread blocked for 300 ms in a call the runtime cannot turn into a park (a raw
 * syscall(SYS_read) on a pipe, waitpid on a sleeping child, mq_receive on an empty POSIX
 * message queue, semtimedop on a System V semaphore) does not stall the others: with
 * GREENRUN_PROCS=1 a second thread keeps ticking every millisecond meanwhile.
 */
#include "check.h"

#include <mqueue.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <sys/wait.h>


static int pipefd[2];

static void *
late_writer(void *arg)
{
    (void)arg;
    sleep_ns(300000000);
    CHECK_EQ(write(pipefd[1], "x", 1), 1);
    return NULL;
}


static mqd_t queue;

static void *
late_sender(void *arg)
{
    (void)arg;
    sleep_ns(300000000);
    CHECK_OK(mq_send(queue, "m", 1, 3));
    return NULL;
}

static int semid;

static void *
late_poster(void *arg)
{
    (void)arg;
    sleep_ns(300000000);
    struct sembuf up = { 0, 1, 0 };
    CHECK_OK(semop(semid, &up, 1));
    return NULL;
}

int
main(void)
{
    ticker_start();
    /* Before any blocking call: an M blocked in one is an OS thread more, as in Go. */
    check_green_threads(2);

    /* A raw read through syscall(): no hook can see it is a pipe. */
    CHECK_OK(pipe(pipefd));
    pthread_t w = spawn(late_writer, NULL);
    long before = ticker_now();
    char c;
    CHECK_EQ(syscall(SYS_read, pipefd[0], &c, 1), 1);
    check_ticked(before, "syscall(SYS_read)");
    join_within(w, 10);

    /* waitpid on a child that sleeps. */
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        struct timespec ts = { 0, 300000000 };
        nanosleep(&ts, NULL);
        _exit(7);
    }
    before = ticker_now();
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7);
    check_ticked(before, "waitpid");

    /* A POSIX message queue, empty until another thread sends. */
    char name[64];
    snprintf(name, sizeof name, "/greenrun-handoff-%d", (int)getpid());
    struct mq_attr attr = { .mq_maxmsg = 4, .mq_msgsize = 16 };
    queue = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
    CHECK(queue != (mqd_t)-1);
    CHECK_OK(mq_unlink(name));
    w = spawn(late_sender, NULL);
    before = ticker_now();
    char msg[16];
    unsigned prio = 0;
    CHECK_EQ(mq_receive(queue, msg, sizeof msg, &prio), 1);
    CHECK(msg[0] == 'm' && prio == 3);
    check_ticked(before, "mq_receive");
    join_within(w, 10);
    CHECK_OK(mq_close(queue));

    /* A System V semaphore at 0, raised by another thread. */
    semid = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    CHECK(semid >= 0);
    w = spawn(late_poster, NULL);
    before = ticker_now();
    struct sembuf down = { 0, -1, 0 };
    struct timespec limit = { 10, 0 };
    CHECK_OK(semtimedop(semid, &down, 1, &limit));
    check_ticked(before, "semtimedop");
    join_within(w, 10);
    CHECK_OK(semctl(semid, 0, IPC_RMID));

    ticker_stop();
    return 0;
}
