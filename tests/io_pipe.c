/* tests/io_pipe.c
 * Behaviour: blocking pipe I/O between threads behaves as natively: a 10,000-round ping-pong,
 * thousands of readers each blocked on its own pipe, several readers blocked on one pipe all
 * served by one write, a large write that blocks until a slow reader drains it (data intact),
 * EOF when the write end closes, EAGAIN on a pipe the program made non-blocking, EPIPE with
 * SIGPIPE ignored, descriptor flags left exactly as the program set them, and a blocked write
 * interrupted by a signal after a partial transfer returning its count, even under SA_RESTART.
 */
#include "check.h"

#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/uio.h>

static void
make_pipe(int p[2])
{
    CHECK_OK(pipe(p));
}

static int
fl(int fd)
{
    int f = fcntl(fd, F_GETFL);
    CHECK(f >= 0);
    return f;
}

/* Ping-pong. */
#define ROUNDS 10000
static int ab[2], ba[2];

static void *
ponger(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        unsigned char c;
        CHECK_EQ(read(ab[0], &c, 1), 1);
        CHECK_EQ(c, (unsigned char)i);
        c++;
        CHECK_EQ(write(ba[1], &c, 1), 1);
    }
    return NULL;
}

static void
check_pingpong(void)
{
    make_pipe(ab);
    make_pipe(ba);
    long long t0 = now_ns(CLOCK_MONOTONIC);
    pthread_t t = spawn(ponger, NULL);
    for (int i = 0; i < ROUNDS; i++) {
        unsigned char c = (unsigned char)i;
        CHECK_EQ(write(ab[1], &c, 1), 1);
        CHECK_EQ(read(ba[0], &c, 1), 1);
        CHECK_EQ(c, (unsigned char)(i + 1));
    }
    join_within(t, 30);
    fprintf(stderr, "pipe ping-pong: %d round trips in %lld ms\n", ROUNDS,
            (now_ns(CLOCK_MONOTONIC) - t0) / 1000000);
    /* Blocking reads and writes left the descriptors blocking. */
    CHECK_EQ(fl(ab[0]) & O_NONBLOCK, 0);
    CHECK_EQ(fl(ba[1]) & O_NONBLOCK, 0);
    close(ab[0]);
    close(ab[1]);
    close(ba[0]);
    close(ba[1]);
}

/* Many readers, one pipe each. */
struct own_pipe {
    int fd[2];
    struct blocker blocked;
};

static void *
own_pipe_reader(void *arg)
{
    struct own_pipe *op = arg;
    unsigned char c = 0;
    blocker_here(&op->blocked, "a reader of its own pipe");
    CHECK_EQ(read(op->fd[0], &c, 1), 1);
    return (void *)(long)c;
}

static void
check_many_readers(void)
{
    long n = scale(4000, 500);
    struct own_pipe *pipes = calloc((size_t)n, sizeof *pipes);
    pthread_t *t = calloc((size_t)n, sizeof *t);
    CHECK(pipes != NULL && t != NULL);
    for (long i = 0; i < n; i++) {
        make_pipe(pipes[i].fd);
        t[i] = spawn(own_pipe_reader, &pipes[i]);
    }
    /* They cannot finish before we write; count OS threads once they all sit in read(). */
    for (long i = 0; i < n; i++)
        wait_blocked(&pipes[i].blocked, SYS_read, "IO read");
    check_green_threads(n);
    for (long i = n - 1; i >= 0; i--) {
        unsigned char c = (unsigned char)(i * 7);
        CHECK_EQ(write(pipes[i].fd[1], &c, 1), 1);
    }
    for (long i = 0; i < n; i++) {
        CHECK_EQ((long)join_within(t[i], 30), (unsigned char)(i * 7));
        close(pipes[i].fd[0]);
        close(pipes[i].fd[1]);
    }
    free(pipes);
    free(t);
}

/* Several readers on one pipe: one write of K bytes must serve all K. */
#define SHARED_READERS 8
static int shared[2];
static atomic_int shared_started;

static void *
shared_reader(void *arg)
{
    blocker_here(arg, "a reader of the shared pipe");
    atomic_fetch_add(&shared_started, 1);
    char c;
    CHECK_EQ(read(shared[0], &c, 1), 1);
    CHECK_EQ(c, 's');
    return NULL;
}

static void
check_shared_pipe(void)
{
    make_pipe(shared);
    for (int round = 0; round < 20; round++) {
        atomic_store(&shared_started, 0);
        pthread_t t[SHARED_READERS];
        struct blocker blocked[SHARED_READERS];
        memset(blocked, 0, sizeof blocked);
        for (int i = 0; i < SHARED_READERS; i++)
            t[i] = spawn(shared_reader, &blocked[i]);
        WAIT_FOR(atomic_load(&shared_started) == SHARED_READERS, 10);
        /* Every other round they are surely all blocked; else some may still be on the way. */
        if (round % 2)
            for (int i = 0; i < SHARED_READERS; i++)
                wait_blocked(&blocked[i], SYS_read, "IO read");
        char buf[SHARED_READERS];
        memset(buf, 's', sizeof buf);
        CHECK_EQ(write(shared[1], buf, sizeof buf), SHARED_READERS);
        for (int i = 0; i < SHARED_READERS; i++)
            join_within(t[i], 10);
    }
    close(shared[0]);
    close(shared[1]);
}

/* A write much larger than the pipe buffer, read back slowly in odd-sized pieces. */
#define BIG (1 << 20)
static int big[2];

static void *
big_writer(void *arg)
{
    (void)arg;
    unsigned char *buf = malloc(BIG);
    CHECK(buf != NULL);
    for (int i = 0; i < BIG; i++)
        buf[i] = (unsigned char)(i * 31 + (i >> 8));
    /* Half with write(), half with writev() of two pieces. */
    CHECK_EQ(write(big[1], buf, BIG / 2), BIG / 2);
    struct iovec iov[2] = { { buf + BIG / 2, BIG / 4 }, { buf + BIG / 2 + BIG / 4, BIG / 4 } };
    CHECK_EQ(writev(big[1], iov, 2), BIG / 2);
    free(buf);
    close(big[1]);
    return NULL;
}

static void
check_big_write(void)
{
    make_pipe(big);
    pthread_t t = spawn(big_writer, NULL);
    unsigned char buf[7919];
    long got = 0;
    int reads = 0;
    for (;;) {
        size_t want = 1 + (size_t)(reads * 977) % sizeof buf;
        ssize_t r = read(big[0], buf, want);
        CHECK(r >= 0);
        if (r == 0)
            break;
        for (ssize_t i = 0; i < r; i++, got++)
            CHECK_EQ(buf[i], (unsigned char)(got * 31 + (got >> 8)));
        if (++reads % 64 == 0)
            sleep_ns(100000);
    }
    CHECK_EQ(got, BIG);
    join_within(t, 30);
    close(big[0]);
}

/* EOF wakes a blocked reader; readv works. */
static int eof_pipe[2];
static struct blocker eof_blocked;

static void *
eof_reader(void *arg)
{
    (void)arg;
    char a[3], b[5];
    struct iovec iov[2] = { { a, sizeof a }, { b, sizeof b } };
    CHECK_EQ(readv(eof_pipe[0], iov, 2), 8);
    CHECK_EQ(memcmp(a, "abc", 3), 0);
    CHECK_EQ(memcmp(b, "defgh", 5), 0);
    char c;
    blocker_here(&eof_blocked, "the EOF reader");
    return (void *)(long)read(eof_pipe[0], &c, 1);
}

static void
check_eof(void)
{
    make_pipe(eof_pipe);
    pthread_t t = spawn(eof_reader, NULL);
    CHECK_EQ(write(eof_pipe[1], "abcdefgh", 8), 8);
    wait_blocked(&eof_blocked, SYS_read, "IO read");
    close(eof_pipe[1]);
    CHECK_EQ((long)join_within(t, 10), 0);
    close(eof_pipe[0]);
}

static void
check_nonblocking_and_epipe(void)
{
    int p[2];
    CHECK_OK(pipe2(p, O_NONBLOCK));
    CHECK(fl(p[0]) & O_NONBLOCK);
    char c = 'x';
    CHECK_ERR(read(p[0], &c, 1), EAGAIN);
    /* Fill it: a non-blocking write eventually fails with EAGAIN. */
    static char chunk[65536];
    long total = 0;
    for (;;) {
        ssize_t w = write(p[1], chunk, sizeof chunk);
        if (w < 0) {
            CHECK_EQ(errno, EAGAIN);
            break;
        }
        total += w;
        CHECK(total < (64L << 20));
    }
    CHECK(total > 0);
    CHECK(fl(p[1]) & O_NONBLOCK);
    close(p[0]);
    close(p[1]);

    /* O_NONBLOCK set later by fcntl is honoured the same way, and cleared again. */
    make_pipe(p);
    CHECK_OK(fcntl(p[0], F_SETFL, fl(p[0]) | O_NONBLOCK));
    CHECK_ERR(read(p[0], &c, 1), EAGAIN);
    CHECK_OK(fcntl(p[0], F_SETFL, fl(p[0]) & ~O_NONBLOCK));
    CHECK_EQ(fl(p[0]) & O_NONBLOCK, 0);
    close(p[0]);

    /* The read end is closed: EPIPE, with SIGPIPE ignored. */
    signal(SIGPIPE, SIG_IGN);
    CHECK_ERR(write(p[1], &c, 1), EPIPE);
    close(p[1]);
    signal(SIGPIPE, SIG_DFL);

    /* Closed descriptors: EBADF. */
    CHECK_ERR(read(p[0], &c, 1), EBADF);
}

/* A write larger than the pipe blocks after filling it; a signal then ends it with the count
 * written so far (pipe(7), signal(7): a partial transfer is not restarted). */
static atomic_int handled;
static struct blocker writer_blocked;

static void
on_usr1(int sig)
{
    (void)sig;
    atomic_fetch_add(&handled, 1);
}

static void *
signalled_writer(void *arg)
{
    int fd = *(int *)arg;
    size_t len = 1 << 20;
    char *buf = calloc(1, len);
    CHECK(buf != NULL);
    blocker_here(&writer_blocked, "the signalled writer");
    ssize_t n = write(fd, buf, len);
    free(buf);
    return (void *)n;
}

static void
check_partial_write_signal(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    CHECK_OK(sigaction(SIGUSR1, &sa, NULL));
    int fd[2];
    CHECK_OK(pipe(fd));
    long cap = fcntl(fd[1], F_GETPIPE_SZ);
    CHECK(cap > 0);
    pthread_t t = spawn(signalled_writer, &fd[1]);
    /* The pipe is full and the writer waits. */
    wait_blocked(&writer_blocked, SYS_write, "IO write");
    CHECK_OK(pthread_kill(t, SIGUSR1));
    ssize_t n = (ssize_t)join_within(t, 10);
    fprintf(stderr, "partial write: %zd of %d bytes, pipe capacity %ld\n", n, 1 << 20, cap);
    CHECK_EQ(atomic_load(&handled), 1);
    CHECK_EQ(n, (ssize_t)cap);
    close(fd[0]);
    close(fd[1]);
}

int
main(void)
{
    check_pingpong();
    check_many_readers();
    check_shared_pipe();
    check_big_write();
    check_eof();
    check_nonblocking_and_epipe();
    check_partial_write_signal();
    return 0;
}
