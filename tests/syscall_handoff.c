/* tests/syscall_handoff.c
 * Behaviour: a thread blocked for 300 ms in a call the runtime cannot turn into a park (a raw
 * syscall(SYS_read) on a pipe, waitpid on a child that waits to be told to exit, mq_receive on
 * an empty POSIX message queue, semtimedop on a System V semaphore) does not stall the others:
 * with GREENRUN_PROCS=1 a second thread keeps ticking every millisecond meanwhile. Another
 * thread waits until the blocked one really sleeps in that call, counts the ticks over the
 * next 300 ms, and only then ends the block.
 */
#include "check.h"

#include <mqueue.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define BLOCK_NS 300000000LL

/* The main thread, about to block; what it blocks in, for the releaser. */
static struct blocker main_blocked;
static long block_nr;
static const char *block_what;

/* Wait until main sleeps in the call, let BLOCK_NS pass, judge the ticker, then release. */
static void
hold_then_release(void (*release)(void))
{
    wait_blocked(&main_blocked, block_nr, NULL);
    struct tick_window w = tick_window_open();
    sleep_ns(BLOCK_NS);
    check_ticked(tick_window_since(w), block_what);
    release();
}

static int pipefd[2];

static void
write_pipe(void)
{
    CHECK_EQ(write(pipefd[1], "x", 1), 1);
}

static mqd_t queue;

static void
send_message(void)
{
    CHECK_OK(mq_send(queue, "m", 1, 3));
}

static int semid;

static void
post_sem(void)
{
    struct sembuf up = { 0, 1, 0 };
    CHECK_OK(semop(semid, &up, 1));
}

static void *
releaser(void *arg)
{
    hold_then_release((void (*)(void))arg);
    return NULL;
}

/* Start the releaser for a block in system call nr, and announce the main thread. */
static pthread_t
start_releaser(void (*release)(void), long nr, const char *what)
{
    block_nr = nr;
    block_what = what;
    blocker_clear(&main_blocked);
    pthread_t t = spawn(releaser, (void *)release);
    blocker_here(&main_blocked, "the main thread");
    return t;
}

int
main(void)
{
    ticker_start();
    /* Before any blocking call: an M blocked in one is an OS thread more, as in Go. */
    check_green_threads(2);

    /* A raw read through syscall(): no hook can see it is a pipe. */
    CHECK_OK(pipe(pipefd));
    pthread_t w = start_releaser(write_pipe, SYS_read, "syscall(SYS_read)");
    char c;
    CHECK_EQ(syscall(SYS_read, pipefd[0], &c, 1), 1);
    join_within(w, 10);

    /* waitpid on a child that exits once told to, through a pipe. */
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        char go;
        _exit(read(pipefd[0], &go, 1) == 1 ? 7 : 1);
    }
    w = start_releaser(write_pipe, SYS_wait4, "waitpid");
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7);
    join_within(w, 10);
    close(pipefd[0]);
    close(pipefd[1]);

    /* A POSIX message queue, empty until another thread sends. */
    char name[64];
    snprintf(name, sizeof name, "/greenrun-handoff-%d", (int)getpid());
    struct mq_attr attr = { .mq_maxmsg = 4, .mq_msgsize = 16 };
    queue = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
    CHECK(queue != (mqd_t)-1);
    CHECK_OK(mq_unlink(name));
    w = start_releaser(send_message, SYS_mq_timedreceive, "mq_receive");
    char msg[16];
    unsigned prio = 0;
    CHECK_EQ(mq_receive(queue, msg, sizeof msg, &prio), 1);
    CHECK(msg[0] == 'm' && prio == 3);
    join_within(w, 10);
    CHECK_OK(mq_close(queue));

    /* A System V semaphore at 0, raised by another thread. */
    semid = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    CHECK(semid >= 0);
    w = start_releaser(post_sem, SYS_semtimedop, "semtimedop");
    struct sembuf down = { 0, -1, 0 };
    struct timespec limit = { 10, 0 };
    CHECK_OK(semtimedop(semid, &down, 1, &limit));
    join_within(w, 10);
    CHECK_OK(semctl(semid, 0, IPC_RMID));

    ticker_stop();
    return 0;
}
