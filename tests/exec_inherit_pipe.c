/* tests/exec_inherit_pipe.c
 * Behaviour: a threaded program (several threads blocked in reads) starts itself again
 * (/proc/self/exe) with a pipe as its stdin, three ways: fork then dup2 and execv in the child;
 * posix_spawn with posix_spawn_file_actions_adddup2; and vfork from a thread, the child calling
 * dup2 and close before execv (closing also a descriptor a parent thread is blocked reading,
 * which must not disturb that thread). The pipe's read end was first used by a blocking read
 * in the parent. A parent thread writes the data slowly in pieces, then closes; the new program
 * finds its stdin blocking (F_GETFL, through fcntl and through a raw system call, has no
 * O_NONBLOCK), reads it blockingly from a thread until EOF, checks every byte, and reports by
 * its exit status. Under greenrun the new program runs under the preload too.
 */
#include "check.h"

#include <spawn.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define DATA_LEN     150000
#define IDLE_READERS 4

/* Exit statuses of the child program. */
enum {
    CHILD_OK = 0,
    CHILD_BAD_ARGS = 10,
    CHILD_NONBLOCK = 11,
    CHILD_NONBLOCK_RAW = 12,
    CHILD_READ_ERROR = 13,
    CHILD_BAD_BYTE = 14,
    CHILD_SHORT = 15,
    CHILD_NOT_GREEN = 16,
};

static unsigned char
data_byte(long i, int seed)
{
    return (unsigned char)(i * 13 + (i >> 9) + seed * 101);
}

/* ---- The child program: argv is {exe, "--child", seed}. */

static int child_seed;

static void *
child_reader(void *arg)
{
    (void)arg;
    unsigned char buf[4096];
    long got = 0;
    for (;;) {
        ssize_t r = read(0, buf, sizeof buf);
        if (r < 0) {
            fprintf(stderr, "child: read: %s after %ld bytes\n", strerror(errno), got);
            return (void *)(long)CHILD_READ_ERROR;
        }
        if (r == 0)
            break;
        for (ssize_t i = 0; i < r; i++, got++) {
            if (got >= DATA_LEN || buf[i] != data_byte(got, child_seed)) {
                fprintf(stderr, "child: byte %ld is wrong\n", got);
                return (void *)(long)CHILD_BAD_BYTE;
            }
        }
    }
    if (got != DATA_LEN) {
        fprintf(stderr, "child: EOF after %ld of %d bytes\n", got, DATA_LEN);
        return (void *)(long)CHILD_SHORT;
    }
    return (void *)(long)CHILD_OK;
}

static int
child_main(int argc, char **argv)
{
    if (argc != 3)
        return CHILD_BAD_ARGS;
    child_seed = atoi(argv[2]);
    if (test_green() && !greenrun_loaded())
        return CHILD_NOT_GREEN;
    int fl = fcntl(0, F_GETFL);
    if (fl < 0 || (fl & O_NONBLOCK)) {
        fprintf(stderr, "child: stdin flags %#x\n", fl);
        return CHILD_NONBLOCK;
    }
    long raw = syscall(SYS_fcntl, 0, F_GETFL);
    if (raw < 0 || (raw & O_NONBLOCK)) {
        fprintf(stderr, "child: stdin flags %#lx from the kernel\n", raw);
        return CHILD_NONBLOCK_RAW;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, child_reader, NULL) != 0)
        return CHILD_READ_ERROR;
    void *ret;
    CHECK_OK(pthread_join(t, &ret));
    return (int)(long)ret;
}

/* ---- The parent. */

/* Threads blocked in reads of their own pipes for the whole test. */
static int idle_pipes[IDLE_READERS][2];
static struct blocker idle_blocked[IDLE_READERS];
static atomic_int idle_done;

static void *
idle_reader(void *arg)
{
    long i = (long)arg;
    char c;
    blocker_here(&idle_blocked[i], "an idle reader");
    ssize_t r = read(idle_pipes[i][0], &c, 1);
    if (r != 1)
        fprintf(stderr, "idle reader %ld: read returned %zd (%s)\n", i, r,
                r < 0 ? strerror(errno) : "EOF");
    CHECK_EQ(r, 1);
    CHECK_EQ(c, 'q');
    atomic_fetch_add(&idle_done, 1);
    return NULL;
}

/* One byte read from p[0] by a thread blocked there: the read end has been waited on. */
static int warm_fd;
static struct blocker warm_blocked;

static void *
warm_reader(void *arg)
{
    (void)arg;
    char c;
    blocker_here(&warm_blocked, "the warm-up reader");
    CHECK_EQ(read(warm_fd, &c, 1), 1);
    CHECK_EQ(c, 'w');
    return NULL;
}

static void
warm_up(int p[2])
{
    warm_fd = p[0];
    blocker_clear(&warm_blocked);
    pthread_t t = spawn(warm_reader, NULL);
    wait_blocked(&warm_blocked, SYS_read, "IO read");
    CHECK_EQ(write(p[1], "w", 1), 1);
    join_within(t, 10);
}

/* Writes DATA_LEN bytes in pieces of varying size, pausing between them, then closes. */
struct feed {
    int fd;
    int seed;
};

static void *
feeder(void *arg)
{
    struct feed *f = arg;
    static const size_t sizes[] = { 1, 7, 500, 4096, 65536, 3, 12000, 777 };
    unsigned char *buf = malloc(DATA_LEN);
    CHECK(buf != NULL);
    for (long i = 0; i < DATA_LEN; i++)
        buf[i] = data_byte(i, f->seed);
    long put = 0;
    for (int k = 0; put < DATA_LEN; k++) {
        size_t n = sizes[k % (sizeof sizes / sizeof sizes[0])];
        if (n > (size_t)(DATA_LEN - put))
            n = (size_t)(DATA_LEN - put);
        ssize_t w = write(f->fd, buf + put, n);
        CHECK(w > 0);
        put += w;
        sleep_ns(2000000);
    }
    free(buf);
    CHECK_OK(close(f->fd));
    return NULL;
}

static void
check_child_status(pid_t pid, const char *how)
{
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    if (WIFEXITED(status))
        fprintf(stderr, "%s: child exited with status %d\n", how, WEXITSTATUS(status));
    else
        fprintf(stderr, "%s: child ended by signal %d\n", how,
                WIFSIGNALED(status) ? WTERMSIG(status) : -1);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), CHILD_OK);
}

/* Feed the child that has p[0] as its stdin, and check its verdict. */
static void
feed_and_wait(pid_t pid, int p[2], int seed, const char *how)
{
    CHECK_OK(close(p[0]));
    struct feed f = { p[1], seed };
    pthread_t t = spawn(feeder, &f);
    join_within(t, 30);
    check_child_status(pid, how);
}

static char self_exe[] = "/proc/self/exe";
static char child_flag[] = "--child";

static void
check_fork_exec(void)
{
    int p[2];
    CHECK_OK(pipe2(p, O_CLOEXEC));
    warm_up(p);
    char seed[] = "1";
    char *argv[] = { self_exe, child_flag, seed, NULL };
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        if (dup2(p[0], 0) != 0)
            _exit(120);
        execv(self_exe, argv);
        _exit(127);
    }
    feed_and_wait(pid, p, 1, "fork, dup2, execv");
}

static void
check_posix_spawn(void)
{
    int p[2];
    CHECK_OK(pipe2(p, O_CLOEXEC));
    warm_up(p);
    char seed[] = "2";
    char *argv[] = { self_exe, child_flag, seed, NULL };
    posix_spawn_file_actions_t fa;
    CHECK_OK(posix_spawn_file_actions_init(&fa));
    CHECK_OK(posix_spawn_file_actions_adddup2(&fa, p[0], 0));
    extern char **environ;
    pid_t pid = -1;
    CHECK_OK(posix_spawn(&pid, self_exe, &fa, NULL, argv, environ));
    CHECK_OK(posix_spawn_file_actions_destroy(&fa));
    feed_and_wait(pid, p, 2, "posix_spawn with adddup2");
}

/*
 * vfork from a thread; the child does only dup2, close, execv and _exit. It also closes its
 * copy of a descriptor that a parent thread is blocked reading: that must not touch the
 * parent's reader (a vfork child shares the parent's memory, not its descriptor table).
 */
static int vfork_pipe[2];

static void *
vfork_thread(void *arg)
{
    (void)arg;
    char seed[] = "3";
    char *argv[] = { self_exe, child_flag, seed, NULL };
    int rd = vfork_pipe[0];
    pid_t pid = vfork();
    if (pid == 0) {
        if (dup2(rd, 0) != 0)
            _exit(121);
        if (close(rd) != 0)
            _exit(122);
        if (close(idle_pipes[0][0]) != 0)
            _exit(123);
        execv(self_exe, argv);
        _exit(127);
    }
    CHECK(pid > 0);
    return (void *)(long)pid;
}

static void
check_vfork_exec(void)
{
    CHECK_OK(pipe2(vfork_pipe, O_CLOEXEC));
    warm_up(vfork_pipe);
    fflush(NULL);
    pthread_t t = spawn(vfork_thread, NULL);
    pid_t pid = (pid_t)(long)join_within(t, 10);
    /* The parent's descriptors are still open; its idle readers still wait (checked at the
     * end: each gets its byte). */
    CHECK(fcntl(vfork_pipe[0], F_GETFD) >= 0);
    CHECK(fcntl(idle_pipes[0][0], F_GETFD) >= 0);
    /* Its reader is still blocked in read (one woken by the child's close would have failed
     * its read, or finished). */
    wait_blocked(&idle_blocked[0], SYS_read, "IO read");
    CHECK_EQ(atomic_load(&idle_done), 0);
    feed_and_wait(pid, vfork_pipe, 3, "vfork from a thread, dup2, close, execv");
}

int
main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], child_flag) == 0)
        return child_main(argc, argv);

    pthread_t idle[IDLE_READERS];
    for (long i = 0; i < IDLE_READERS; i++) {
        CHECK_OK(pipe2(idle_pipes[i], O_CLOEXEC));
        idle[i] = spawn(idle_reader, (void *)i);
    }
    for (int i = 0; i < IDLE_READERS; i++)
        wait_blocked(&idle_blocked[i], SYS_read, "IO read");

    check_fork_exec();
    check_posix_spawn();
    check_vfork_exec();

    for (int i = 0; i < IDLE_READERS; i++) {
        CHECK_EQ(write(idle_pipes[i][1], "q", 1), 1);
        join_within(idle[i], 10);
        close(idle_pipes[i][0]);
        close(idle_pipes[i][1]);
    }
    return 0;
}
