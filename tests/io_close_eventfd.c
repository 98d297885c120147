/* tests/io_close_eventfd.c
 * Behaviour: a thread blocked reading a pipe or a TCP socket whose descriptor another thread
 * closes does not hang: natively the read goes on (Linux keeps the file open for it) and gets
 * the byte written next; under greenrun it ends at the close with EBADF (a documented
 * difference). shutdown(SHUT_RDWR) of a listener wakes a thread blocked in accept with EINVAL,
 * as natively. eventfd between threads: a blocked reader gets the sum of the writes, an
 * EFD_SEMAPHORE eventfd hands out one unit per read to several blocked readers, and a
 * non-blocking eventfd read fails with EAGAIN when the counter is zero.
 */
#include "check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>

static void *
receiver(void *arg)
{
    struct blocked_read *br = arg;
    blocker_here(&br->blocked, "the receiver");
    br->ret = recv(br->fd, &br->byte, 1, 0);
    br->err = br->ret < 0 ? errno : 0;
    return NULL;
}

/*
 * Close rd while a thread is blocked reading it, then write a byte to wr. Natively the
 * blocked call still holds the file and returns that byte; under greenrun the close woke it
 * with EBADF, and the write may then find no reader left (EPIPE, SIGPIPE ignored).
 */
static void
check_close_wakes(void *(*fn)(void *), long nr, int rd, int wr, const char *what)
{
    struct blocked_read br = { .fd = rd, .ret = -2 };
    pthread_t t = spawn(fn, &br);
    wait_blocked(&br.blocked, nr, "IO read");
    CHECK_OK(close(rd));
    if (test_green()) {
        /* It must end without the byte. */
        join_within(t, 10);
        ssize_t w = write(wr, "x", 1);
        fprintf(stderr, "%s: green reader got %zd (%s); the write after it %zd (%s)\n", what,
                br.ret, check_errname(br.err), w, w < 0 ? check_errname(errno) : "ok");
        CHECK(w == 1 || (w == -1 && errno == EPIPE));
        CHECK_EQ(br.ret, -1);
        CHECK_EQ(br.err, EBADF);
    } else {
        CHECK_EQ(write(wr, "x", 1), 1);
        join_within(t, 10);
        fprintf(stderr, "%s: native reader got %zd (%s)\n", what, br.ret, check_errname(br.err));
        CHECK_EQ(br.ret, 1);
        CHECK_EQ(br.byte, 'x');
    }
    CHECK_OK(close(wr));
}

static void
check_pipe_close(void)
{
    int p[2];
    CHECK_OK(pipe(p));
    check_close_wakes(blocked_read_main, SYS_read, p[0], p[1], "pipe read");
}

static void
check_socket_close(void)
{
    struct sockaddr_in a;
    int ls = loopback_listener(&a, 16);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(c >= 0);
    CHECK_OK(connect(c, (struct sockaddr *)&a, sizeof a));
    int s = accept(ls, NULL, NULL);
    CHECK(s >= 0);
    close(ls);
    check_close_wakes(receiver, SYS_recvfrom, s, c, "tcp recv");
}

/* accept blocked on a listener that another thread shuts down. */
struct blocked_accept {
    int fd;
    struct blocker blocked;
    int ret;
    int err;
};

static void *
acceptor(void *arg)
{
    struct blocked_accept *ba = arg;
    blocker_here(&ba->blocked, "the acceptor");
    ba->ret = accept(ba->fd, NULL, NULL);
    ba->err = ba->ret < 0 ? errno : 0;
    return NULL;
}

static void
check_accept_shutdown(void)
{
    struct sockaddr_in a;
    struct blocked_accept ba = { .ret = -2 };
    ba.fd = loopback_listener(&a, 16);
    pthread_t t = spawn(acceptor, &ba);
    wait_blocked(&ba.blocked, SYS_accept, "accept");
    CHECK_OK(shutdown(ba.fd, SHUT_RDWR));
    join_within(t, 10);
    fprintf(stderr, "accept after shutdown: %d (%s)\n", ba.ret, check_errname(ba.err));
    CHECK_EQ(ba.ret, -1);
    CHECK_EQ(ba.err, EINVAL);
    /* Nobody listens there any more. */
    int c = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(c >= 0);
    CHECK_ERR(connect(c, (struct sockaddr *)&a, sizeof a), ECONNREFUSED);
    close(c);
    CHECK_OK(close(ba.fd));
}

/* eventfd: one blocked reader gets the sums of what a producer writes. */
#define EVENTS 200
static int efd;
static struct blocker sum_blocked;

static void *
sum_reader(void *arg)
{
    (void)arg;
    uint64_t total = 0, want = (uint64_t)EVENTS * (EVENTS + 1) / 2;
    long reads = 0;
    while (total < want) {
        uint64_t v = 0;
        blocker_here(&sum_blocked, "the sum reader");
        CHECK_EQ(read(efd, &v, sizeof v), (long)sizeof v);
        CHECK(v > 0);
        total += v;
        reads++;
    }
    CHECK_EQ(total, want);
    return (void *)reads;
}

static void
check_eventfd_sum(void)
{
    efd = eventfd(0, EFD_CLOEXEC);
    CHECK(efd >= 0);
    pthread_t t = spawn(sum_reader, NULL);
    for (uint64_t i = 1; i <= EVENTS; i++) {
        CHECK_EQ(write(efd, &i, sizeof i), (long)sizeof i);
        /* Sometimes the reader surely blocks: it has taken all so far and waits for more. */
        if (i % 20 == 0 && i < EVENTS)
            wait_blocked(&sum_blocked, SYS_read, "IO read");
    }
    long reads = (long)join_within(t, 10);
    fprintf(stderr, "eventfd: %d writes summed by %ld reads\n", EVENTS, reads);
    CHECK(reads >= 1 && reads <= EVENTS);
    CHECK_EQ(fcntl(efd, F_GETFL) & O_NONBLOCK, 0);
    CHECK_OK(close(efd));
}

/* EFD_SEMAPHORE: several blocked readers, each read takes exactly one unit. */
#define SEM_READERS    4
#define SEM_UNITS_EACH 50
static int sem_efd;

static void *
unit_reader(void *arg)
{
    struct blocker *b = arg;
    for (int i = 0; i < SEM_UNITS_EACH; i++) {
        uint64_t v = 0;
        blocker_here(b, "a unit reader");
        CHECK_EQ(read(sem_efd, &v, sizeof v), (long)sizeof v);
        CHECK_EQ(v, 1);
    }
    return NULL;
}

static void
check_eventfd_semaphore(void)
{
    sem_efd = eventfd(0, EFD_SEMAPHORE);
    CHECK(sem_efd >= 0);
    pthread_t t[SEM_READERS];
    struct blocker blocked[SEM_READERS];
    memset(blocked, 0, sizeof blocked);
    for (int i = 0; i < SEM_READERS; i++)
        t[i] = spawn(unit_reader, &blocked[i]);
    /* The first units go to readers all blocked on the empty counter. */
    for (int i = 0; i < SEM_READERS; i++)
        wait_blocked(&blocked[i], SYS_read, "IO read");
    /* Units in batches of 1, 2, 3, ...: 200 in all. */
    uint64_t left = SEM_READERS * SEM_UNITS_EACH;
    for (uint64_t k = 1; left > 0; k++) {
        uint64_t v = k < left ? k : left;
        CHECK_EQ(write(sem_efd, &v, sizeof v), (long)sizeof v);
        left -= v;
        if (k % 4 == 0)
            sleep_ns(1000000); /* varies the interleaving; nothing depends on it */
    }
    for (int i = 0; i < SEM_READERS; i++)
        join_within(t[i], 10);
    /* All units taken: a non-blocking read now finds nothing. */
    uint64_t v;
    CHECK_OK(fcntl(sem_efd, F_SETFL, fcntl(sem_efd, F_GETFL) | O_NONBLOCK));
    CHECK_ERR(read(sem_efd, &v, sizeof v), EAGAIN);
    CHECK_OK(close(sem_efd));
}

static void
check_eventfd_nonblock(void)
{
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
    uint64_t v = 0;
    CHECK_ERR(read(fd, &v, sizeof v), EAGAIN);
    v = 5;
    CHECK_EQ(write(fd, &v, sizeof v), (long)sizeof v);
    v = 0;
    CHECK_EQ(read(fd, &v, sizeof v), (long)sizeof v);
    CHECK_EQ(v, 5);
    CHECK_ERR(read(fd, &v, sizeof v), EAGAIN);
    /* A counter at its maximum: a non-blocking write that would overflow it fails too. */
    v = UINT64_MAX - 1;
    CHECK_EQ(write(fd, &v, sizeof v), (long)sizeof v);
    v = 1;
    CHECK_ERR(write(fd, &v, sizeof v), EAGAIN);
    CHECK_OK(close(fd));
}

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);
    check_pipe_close();
    check_socket_close();
    check_accept_shutdown();
    check_eventfd_sum();
    check_eventfd_semaphore();
    check_eventfd_nonblock();
    return 0;
}
