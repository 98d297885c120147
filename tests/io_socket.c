/* tests/io_socket.c
 * Behaviour: blocking socket I/O between threads behaves as natively: a socketpair ping-pong,
 * several threads blocked in accept() on one TCP listener serving many clients, blocking
 * connect, ECONNREFUSED, SO_RCVTIMEO timing out with EAGAIN, MSG_DONTWAIT, a UDP receive woken
 * by a send, shutdown waking a blocked reader with EOF, and socket flags left as the program set
 * them.
 */
#include "check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/syscall.h>

static int
fl(int fd)
{
    int f = fcntl(fd, F_GETFL);
    CHECK(f >= 0);
    return f;
}

/* socketpair ping-pong with 64-byte messages, alternating read/write and recv/send. */
#define ROUNDS 10000
static int sp[2];

static void *
sp_echo(void *arg)
{
    (void)arg;
    char msg[64];
    for (int i = 0; i < ROUNDS; i++) {
        if (i % 2) {
            read_full(sp[1], msg, sizeof msg);
            CHECK_EQ(write(sp[1], msg, sizeof msg), (long)sizeof msg);
        } else {
            CHECK_EQ(recv(sp[1], msg, sizeof msg, MSG_WAITALL), (long)sizeof msg);
            CHECK_EQ(send(sp[1], msg, sizeof msg, 0), (long)sizeof msg);
        }
    }
    return NULL;
}

static void
check_socketpair(void)
{
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp));
    long long t0 = now_ns(CLOCK_MONOTONIC);
    pthread_t t = spawn(sp_echo, NULL);
    char msg[64], back[64];
    for (int i = 0; i < ROUNDS; i++) {
        memset(msg, 'a' + i % 26, sizeof msg);
        msg[0] = (char)i;
        CHECK_EQ(write(sp[0], msg, sizeof msg), (long)sizeof msg);
        read_full(sp[0], back, sizeof back);
        CHECK_EQ(memcmp(msg, back, sizeof msg), 0);
    }
    join_within(t, 30);
    fprintf(stderr, "socketpair ping-pong: %d round trips in %lld ms\n", ROUNDS,
            (now_ns(CLOCK_MONOTONIC) - t0) / 1000000);
    CHECK_EQ(fl(sp[0]) & O_NONBLOCK, 0);
    CHECK_EQ(fl(sp[1]) & O_NONBLOCK, 0);

    /* MSG_DONTWAIT on an empty socket: EAGAIN at once, and the socket stays blocking. */
    char c;
    CHECK_ERR(recv(sp[0], &c, 1, MSG_DONTWAIT), EAGAIN);
    CHECK_EQ(fl(sp[0]) & O_NONBLOCK, 0);
    close(sp[0]);
    close(sp[1]);
}

/* Several acceptors on one listener. */
#define ACCEPTORS        4
#define CLIENT_THREADS   4
#define CONNS_PER_CLIENT 25
static int listener;
static struct sockaddr_in listen_addr;
static atomic_int served[ACCEPTORS];
static struct blocker acceptor_blocked[ACCEPTORS];

static void *
acceptor(void *arg)
{
    long me = (long)arg;
    for (;;) {
        blocker_here(&acceptor_blocked[me], "an acceptor");
        int c = accept(listener, NULL, NULL);
        CHECK(c >= 0);
        CHECK_EQ(fl(c) & O_NONBLOCK, 0);
        int id;
        read_full(c, &id, sizeof id);
        if (id < 0) {
            close(c);
            return NULL;
        }
        id = id * 2 + 1;
        CHECK_EQ(write(c, &id, sizeof id), (long)sizeof id);
        atomic_fetch_add(&served[me], 1);
        close(c);
    }
}

static int
connect_to_listener(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s >= 0);
    CHECK_OK(connect(s, (struct sockaddr *)&listen_addr, sizeof listen_addr));
    return s;
}

static void *
client(void *arg)
{
    long me = (long)arg;
    for (int i = 0; i < CONNS_PER_CLIENT; i++) {
        int s = connect_to_listener();
        int id = (int)(me * 1000 + i);
        CHECK_EQ(write(s, &id, sizeof id), (long)sizeof id);
        int back = 0;
        read_full(s, &back, sizeof back);
        CHECK_EQ(back, id * 2 + 1);
        char c;
        CHECK_EQ(read(s, &c, 1), 0); /* the server closed: EOF */
        close(s);
    }
    return NULL;
}

static void
check_tcp_acceptors(void)
{
    listener = loopback_listener(&listen_addr, 128);

    pthread_t a[ACCEPTORS], c[CLIENT_THREADS];
    for (long i = 0; i < ACCEPTORS; i++)
        a[i] = spawn(acceptor, (void *)i);
    /* The clients come once every acceptor is blocked in accept(). */
    for (int i = 0; i < ACCEPTORS; i++)
        wait_blocked(&acceptor_blocked[i], SYS_accept, "accept");
    for (long i = 0; i < CLIENT_THREADS; i++)
        c[i] = spawn(client, (void *)i);
    for (int i = 0; i < CLIENT_THREADS; i++)
        join_within(c[i], 30);
    /* One stop connection per acceptor. */
    for (int i = 0; i < ACCEPTORS; i++) {
        int s = connect_to_listener();
        int stop = -1;
        CHECK_EQ(write(s, &stop, sizeof stop), (long)sizeof stop);
        close(s);
    }
    int total = 0;
    for (int i = 0; i < ACCEPTORS; i++) {
        join_within(a[i], 30);
        total += atomic_load(&served[i]);
    }
    CHECK_EQ(total, CLIENT_THREADS * CONNS_PER_CLIENT);
    fprintf(stderr, "acceptors served %d, %d, %d, %d connections\n", atomic_load(&served[0]),
            atomic_load(&served[1]), atomic_load(&served[2]), atomic_load(&served[3]));
    CHECK_EQ(fl(listener) & O_NONBLOCK, 0);
    close(listener);

    /* Nobody listens on that port any more. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s >= 0);
    CHECK_ERR(connect(s, (struct sockaddr *)&listen_addr, sizeof listen_addr), ECONNREFUSED);
    close(s);
}

static void
check_rcvtimeo(void)
{
    int p[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, p));
    struct timeval tv = { 0, 100000 };
    CHECK_OK(setsockopt(p[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    char c;
    long long t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_ERR(recv(p[0], &c, 1, 0), EAGAIN);
    long long took = now_ns(CLOCK_MONOTONIC) - t0;
    CHECK(took >= 90000000);
    CHECK(took < 5000000000LL);
    t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_ERR(read(p[0], &c, 1), EAGAIN);
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 90000000);
    CHECK_EQ(fl(p[0]) & O_NONBLOCK, 0);
    close(p[0]);
    close(p[1]);
}

/* UDP: a blocked recvfrom woken by sendto from another thread. */
static int udp;

static struct blocker udp_blocked;

static void *
udp_receiver(void *arg)
{
    (void)arg;
    char buf[32];
    struct sockaddr_in from;
    socklen_t flen = sizeof from;
    blocker_here(&udp_blocked, "the UDP receiver");
    ssize_t r = recvfrom(udp, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
    CHECK_EQ(r, 5);
    CHECK_EQ(memcmp(buf, "hello", 5), 0);
    return NULL;
}

static void
check_udp(void)
{
    udp = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(udp >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_OK(bind(udp, (struct sockaddr *)&a, sizeof a));
    socklen_t len = sizeof a;
    CHECK_OK(getsockname(udp, (struct sockaddr *)&a, &len));
    pthread_t t = spawn(udp_receiver, NULL);
    wait_blocked(&udp_blocked, SYS_recvfrom, "IO read");
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(s >= 0);
    CHECK_EQ(sendto(s, "hello", 5, 0, (struct sockaddr *)&a, sizeof a), 5);
    join_within(t, 10);
    close(s);
    close(udp);
}

/* shutdown(SHUT_WR) by the peer wakes a blocked reader with EOF. */
static int sh[2];
static struct blocker eof_blocked;

static void *
eof_reader(void *arg)
{
    (void)arg;
    char c;
    blocker_here(&eof_blocked, "the EOF reader");
    return (void *)(long)read(sh[0], &c, 1);
}

static void
check_shutdown(void)
{
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sh));
    pthread_t t = spawn(eof_reader, NULL);
    wait_blocked(&eof_blocked, SYS_read, "IO read");
    CHECK_OK(shutdown(sh[1], SHUT_WR));
    CHECK_EQ((long)join_within(t, 10), 0);
    close(sh[0]);
    close(sh[1]);
}

int
main(void)
{
    check_socketpair();
    check_tcp_acceptors();
    check_rcvtimeo();
    check_udp();
    check_shutdown();
    return 0;
}
