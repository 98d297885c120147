/* tests/io_more.c
 * Behaviour: the batch and zero-copy transfer calls block and wake as natively: recvmmsg on a
 * UDP socket waits for all its datagrams, or for one with MSG_WAITFORONE, and looks at its
 * timeout only after a datagram; sendmmsg sends every message; epoll_pwait2 times out and wakes
 * on readiness; sendfile of a 4 MB file to a blocking TCP socket with a slow reader delivers
 * every byte; splice blocks until data from pipe to socket and from socket to pipe; tee copies
 * between pipes; copy_file_range copies between files; EAGAIN comes back where the program made
 * a descriptor non-blocking; a splice into a socket past its POLLOUT mark but with room does
 * not wait; getsockopt reads back SO_RCVTIMEO; and 1,000 threads blocked in recvmmsg and
 * splice at once share a few OS threads.
 */
#include "check.h"

#include <arpa/inet.h>
#include <poll.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>

static int
udp_bound(struct sockaddr_in *a)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(s >= 0);
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_OK(bind(s, (struct sockaddr *)a, sizeof *a));
    socklen_t len = sizeof *a;
    CHECK_OK(getsockname(s, (struct sockaddr *)a, &len));
    return s;
}

static void
udp_send(const struct sockaddr_in *to, const char *msg)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(s >= 0);
    CHECK_EQ(sendto(s, msg, strlen(msg), 0, (const struct sockaddr *)to, sizeof *to),
             (long)strlen(msg));
    close(s);
}

/* ---- recvmmsg. */

#define VLEN 4
struct mm {
    int fd;
    int flags;
    struct timespec tmo;
    int use_tmo;
    struct blocker blocked;
    char buf[VLEN][32];
    struct iovec iov[VLEN];
    struct mmsghdr vec[VLEN];
};

static void
mm_init(struct mm *m, int fd, int flags)
{
    memset(m, 0, sizeof *m);
    m->fd = fd;
    m->flags = flags;
    for (int i = 0; i < VLEN; i++) {
        m->iov[i].iov_base = m->buf[i];
        m->iov[i].iov_len = sizeof m->buf[i];
        m->vec[i].msg_hdr.msg_iov = &m->iov[i];
        m->vec[i].msg_hdr.msg_iovlen = 1;
    }
}

static void *
mm_receiver(void *arg)
{
    struct mm *m = arg;
    blocker_here(&m->blocked, "the recvmmsg receiver");
    return (void *)(long)recvmmsg(m->fd, m->vec, VLEN, m->flags, m->use_tmo ? &m->tmo : NULL);
}

static void
check_recvmmsg(void)
{
    struct sockaddr_in a;
    int s = udp_bound(&a);
    struct mm m;

    /* Blocking, no MSG_WAITFORONE: the call returns only once VLEN datagrams came. */
    mm_init(&m, s, 0);
    pthread_t t = spawn(mm_receiver, &m);
    wait_blocked(&m.blocked, SYS_recvmmsg, "recvmmsg");
    const char *words[VLEN] = { "one", "two", "three", "four" };
    for (int i = 0; i < VLEN; i++) {
        udp_send(&a, words[i]);
        if (i < VLEN - 1) {
            /* Still waiting for the rest (a call that wrongly returned never blocks again). */
            wait_blocked(&m.blocked, SYS_recvmmsg, "recvmmsg");
            CHECK_EQ(pthread_tryjoin_np(t, NULL), EBUSY);
        }
    }
    CHECK_EQ((long)join_within(t, 10), VLEN);
    for (int i = 0; i < VLEN; i++) {
        CHECK_EQ(m.vec[i].msg_len, strlen(words[i]));
        CHECK_EQ(memcmp(m.buf[i], words[i], strlen(words[i])), 0);
    }

    /* MSG_WAITFORONE: the first datagram ends the wait. */
    mm_init(&m, s, MSG_WAITFORONE);
    t = spawn(mm_receiver, &m);
    wait_blocked(&m.blocked, SYS_recvmmsg, "recvmmsg");
    udp_send(&a, "solo");
    CHECK_EQ((long)join_within(t, 10), 1);
    CHECK_EQ(m.vec[0].msg_len, 4);
    CHECK_EQ(memcmp(m.buf[0], "solo", 4), 0);

    /* A timeout is looked at only after a datagram: none came within it, the call still
     * waits; the first one after it ends the call, with the time left written back as 0. */
    mm_init(&m, s, 0);
    m.use_tmo = 1;
    m.tmo.tv_nsec = 50000000;
    t = spawn(mm_receiver, &m);
    wait_blocked(&m.blocked, SYS_recvmmsg, "recvmmsg");
    sleep_ns(150000000); /* three times the timeout, the call blocked all along */
    wait_blocked(&m.blocked, SYS_recvmmsg, "recvmmsg");
    CHECK_EQ(pthread_tryjoin_np(t, NULL), EBUSY);
    udp_send(&a, "late");
    CHECK_EQ((long)join_within(t, 10), 1);
    CHECK_EQ(m.tmo.tv_sec, 0);
    CHECK_EQ(m.tmo.tv_nsec, 0);

    /* A timeout with time left: two datagrams queued, then it waits for more until a third
     * comes; the time left is written back. */
    mm_init(&m, s, 0);
    m.use_tmo = 1;
    m.tmo.tv_sec = 30;
    udp_send(&a, "a");
    udp_send(&a, "b");
    t = spawn(mm_receiver, &m);
    /* It has taken the two and waits for more. */
    wait_blocked(&m.blocked, SYS_recvmmsg, "recvmmsg");
    udp_send(&a, "c");
    udp_send(&a, "d");
    CHECK_EQ((long)join_within(t, 10), VLEN);
    CHECK(m.tmo.tv_sec < 30 && m.tmo.tv_sec >= 20);

    /* Bad timeout: EINVAL. MSG_DONTWAIT on an empty socket: EAGAIN. */
    struct timespec bad = { 0, 2000000000L };
    CHECK_ERR(recvmmsg(s, m.vec, VLEN, 0, &bad), EINVAL);
    CHECK_ERR(recvmmsg(s, m.vec, VLEN, MSG_DONTWAIT, NULL), EAGAIN);
    CHECK_EQ(fcntl(s, F_GETFL) & O_NONBLOCK, 0);

    /* SO_RCVTIMEO: EAGAIN when nothing came; the count when some did. */
    struct timeval tv = { 0, 40000 }; /* whole jiffies at HZ 100, 250, 300, 1000 */
    CHECK_OK(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    struct timeval back;
    socklen_t blen = sizeof back;
    CHECK_OK(getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &back, &blen));
    CHECK_EQ(back.tv_sec, 0);
    CHECK_EQ(back.tv_usec, 40000);
    mm_init(&m, s, 0);
    long long t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_ERR(recvmmsg(s, m.vec, VLEN, 0, NULL), EAGAIN);
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 35000000);
    udp_send(&a, "x");
    CHECK_EQ(recvmmsg(s, m.vec, VLEN, 0, NULL), 1);
    close(s);
}

/* ---- A slow reader: reads everything until EOF, pausing now and then, and checks bytes. */

struct slow {
    int fd;
    long want; /* bytes expected before EOF */
    unsigned char (*pattern)(long i);
};

static void *
slow_reader(void *arg)
{
    struct slow *sr = arg;
    unsigned char buf[8191];
    long got = 0;
    int reads = 0;
    for (;;) {
        ssize_t r = read(sr->fd, buf, 1 + (size_t)(reads * 577) % sizeof buf);
        CHECK(r >= 0);
        if (r == 0)
            break;
        for (ssize_t i = 0; i < r; i++, got++)
            CHECK_EQ(buf[i], sr->pattern(got));
        if (++reads % 32 == 0)
            sleep_ns(200000);
    }
    CHECK_EQ(got, sr->want);
    return NULL;
}

static unsigned char
pat_pq(long i)
{
    return i < (1L << 20) ? 'p' : 'q';
}

static unsigned char
pat_file(long i)
{
    return (unsigned char)(i * 13 + (i >> 12));
}

/* ---- sendmmsg. */

static void
check_sendmmsg(void)
{
    struct sockaddr_in a;
    int r = udp_bound(&a);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(s >= 0);
    CHECK_OK(connect(s, (struct sockaddr *)&a, sizeof a));
    const char *words[3] = { "alpha", "beta", "gamma" };
    struct iovec iov[3];
    struct mmsghdr vec[3];
    memset(vec, 0, sizeof vec);
    for (int i = 0; i < 3; i++) {
        iov[i].iov_base = (void *)words[i];
        iov[i].iov_len = strlen(words[i]);
        vec[i].msg_hdr.msg_iov = &iov[i];
        vec[i].msg_hdr.msg_iovlen = 1;
    }
    CHECK_EQ(sendmmsg(s, vec, 3, 0), 3);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(vec[i].msg_len, strlen(words[i]));
        char buf[16];
        CHECK_EQ(recv(r, buf, sizeof buf, 0), (long)strlen(words[i]));
        CHECK_EQ(memcmp(buf, words[i], strlen(words[i])), 0);
    }
    close(s);
    close(r);

    /* A stream socket whose peer reads slowly: every byte of both messages goes, blocking. */
    int sp[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp));
    size_t big = 1 << 20;
    char *p1 = malloc(big), *p2 = malloc(big);
    CHECK(p1 != NULL && p2 != NULL);
    memset(p1, 'p', big);
    memset(p2, 'q', big);
    struct iovec biov[2] = { { p1, big }, { p2, big } };
    struct mmsghdr bvec[2];
    memset(bvec, 0, sizeof bvec);
    for (int i = 0; i < 2; i++) {
        bvec[i].msg_hdr.msg_iov = &biov[i];
        bvec[i].msg_hdr.msg_iovlen = 1;
    }
    struct slow sr = { sp[1], 2 * (long)big, pat_pq };
    pthread_t t = spawn(slow_reader, &sr);
    CHECK_EQ(sendmmsg(sp[0], bvec, 2, 0), 2);
    CHECK_EQ(bvec[0].msg_len, big);
    CHECK_EQ(bvec[1].msg_len, big);
    CHECK_OK(shutdown(sp[0], SHUT_WR));
    join_within(t, 30);
    free(p1);
    free(p2);
    close(sp[0]);
    close(sp[1]);
}

/* ---- epoll_pwait2. */

static int pwait2_ep;
static struct blocker pwait2_blocked;

static void *
pwait2_waiter(void *arg)
{
    (void)arg;
    struct epoll_event ev;
    struct timespec tmo = { 10, 0 };
    blocker_here(&pwait2_blocked, "the epoll_pwait2 waiter");
    return (void *)(long)epoll_pwait2(pwait2_ep, &ev, 1, &tmo, NULL);
}

static void
check_epoll_pwait2(void)
{
    int p[2];
    CHECK_OK(pipe(p));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(ep >= 0);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 7 }, out[2];
    CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));

    struct timespec tmo = { 0, 60000000 };
    long long t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_EQ(epoll_pwait2(ep, out, 2, &tmo, NULL), 0);
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 60000000);
    struct timespec zero = { 0, 0 };
    CHECK_EQ(epoll_pwait2(ep, out, 2, &zero, NULL), 0);
    struct timespec bad = { 0, -1 };
    CHECK_ERR(epoll_pwait2(ep, out, 2, &bad, NULL), EINVAL);

    /* Woken by another thread's write, long before its 10 s timeout. */
    pwait2_ep = ep;
    pthread_t t = spawn(pwait2_waiter, NULL);
    wait_blocked(&pwait2_blocked, SYS_epoll_pwait2, "epoll_wait");
    t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_EQ(write(p[1], "x", 1), 1);
    CHECK_EQ((long)join_within(t, 10), 1);
    CHECK(now_ns(CLOCK_MONOTONIC) - t0 < 5000000000LL);
    CHECK_EQ(epoll_pwait2(ep, out, 2, NULL, NULL), 1);
    CHECK_EQ(out[0].data.u64, 7);
    close(ep);
    close(p[0]);
    close(p[1]);
}

/* ---- sendfile. */

static int
tcp_pair(int fds[2])
{
    struct sockaddr_in a;
    int l = loopback_listener(&a, 4);
    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fds[0] >= 0);
    CHECK_OK(connect(fds[0], (struct sockaddr *)&a, sizeof a));
    fds[1] = accept(l, NULL, NULL);
    CHECK(fds[1] >= 0);
    close(l);
    return 0;
}

static int
temp_file(long size, unsigned char (*pattern)(long))
{
    char path[] = "/tmp/greenrun-io_more-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    unsigned char buf[65536];
    for (long off = 0; off < size;) {
        long n = size - off < (long)sizeof buf ? size - off : (long)sizeof buf;
        for (long i = 0; i < n; i++)
            buf[i] = pattern(off + i);
        CHECK_EQ(write(fd, buf, (size_t)n), n);
        off += n;
    }
    return fd;
}

#define FILE_SIZE (4L << 20)

static void
check_sendfile(void)
{
    int f = temp_file(FILE_SIZE, pat_file);
    int tcp[2];
    tcp_pair(tcp);
    /* A small send buffer, so the sender surely waits for the slow reader. */
    int small = 16384;
    CHECK_OK(setsockopt(tcp[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small));
    struct slow sr = { tcp[1], FILE_SIZE, pat_file };
    pthread_t t = spawn(slow_reader, &sr);
    off_t off = 0;
    CHECK_EQ(sendfile(tcp[0], f, &off, FILE_SIZE), FILE_SIZE);
    CHECK_EQ(off, FILE_SIZE);
    CHECK_EQ(fcntl(tcp[0], F_GETFL) & O_NONBLOCK, 0);
    /* The file position did not move; sendfile64 from it now, after EOF: 0. */
    CHECK_EQ(lseek(f, 0, SEEK_CUR), FILE_SIZE);
    off64_t off64 = FILE_SIZE;
    CHECK_EQ(sendfile64(tcp[0], f, &off64, 100), 0);
    CHECK_OK(shutdown(tcp[0], SHUT_WR));
    join_within(t, 60);
    close(tcp[0]);
    close(tcp[1]);
    close(f);
}

/* ---- splice, tee, vmsplice. */

struct spl {
    int in, out;
    size_t len;
    struct blocker blocked;
};

static void *
splicer(void *arg)
{
    struct spl *sp = arg;
    blocker_here(&sp->blocked, "the splicer");
    return (void *)(long)splice(sp->in, NULL, sp->out, NULL, sp->len, 0);
}

static void
check_splice(void)
{
    int tcp[2], p[2];
    tcp_pair(tcp);
    CHECK_OK(pipe(p));

    /* socket -> pipe: blocks until the peer sends. */
    struct spl sp = { tcp[1], p[1], 4096, { 0 } };
    pthread_t t = spawn(splicer, &sp);
    wait_blocked(&sp.blocked, SYS_splice, "splice");
    CHECK_EQ(pthread_tryjoin_np(t, NULL), EBUSY);
    CHECK_EQ(write(tcp[0], "hello", 5), 5);
    CHECK_EQ((long)join_within(t, 10), 5);
    char buf[16];
    CHECK_EQ(read(p[0], buf, sizeof buf), 5);
    CHECK_EQ(memcmp(buf, "hello", 5), 0);

    /* pipe -> socket: blocks until the pipe has data. */
    struct spl sp2 = { p[0], tcp[1], 4096, { 0 } };
    t = spawn(splicer, &sp2);
    wait_blocked(&sp2.blocked, SYS_splice, "splice");
    CHECK_EQ(pthread_tryjoin_np(t, NULL), EBUSY);
    CHECK_EQ(write(p[1], "world!", 6), 6);
    CHECK_EQ((long)join_within(t, 10), 6);
    memset(buf, 0, sizeof buf);
    CHECK_EQ(read(tcp[0], buf, 6), 6);
    CHECK_EQ(memcmp(buf, "world!", 6), 0);

    /* Non-blocking where the program asked: SPLICE_F_NONBLOCK, or O_NONBLOCK on the socket. */
    CHECK_ERR(splice(p[0], NULL, tcp[1], NULL, 10, SPLICE_F_NONBLOCK), EAGAIN);
    CHECK_OK(fcntl(tcp[1], F_SETFL, fcntl(tcp[1], F_GETFL) | O_NONBLOCK));
    CHECK_ERR(splice(tcp[1], NULL, p[1], NULL, 10, 0), EAGAIN);
    CHECK_OK(fcntl(tcp[1], F_SETFL, fcntl(tcp[1], F_GETFL) & ~O_NONBLOCK));
    CHECK_EQ(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);

    /* file -> pipe and pipe -> file. */
    int f = temp_file(10000, pat_file);
    loff_t off = 100;
    CHECK_EQ(splice(f, &off, p[1], NULL, 1000, 0), 1000);
    CHECK_EQ(off, 1100);
    int g = temp_file(0, pat_file);
    CHECK_EQ(splice(p[0], NULL, g, NULL, 1000, 0), 1000);
    unsigned char fb[1000];
    CHECK_EQ(pread(g, fb, sizeof fb, 0), 1000);
    for (int i = 0; i < 1000; i++)
        CHECK_EQ(fb[i], pat_file(100 + i));

    /* tee copies without consuming; check_tee_blocks shows it waits for data. */
    int q[2];
    CHECK_OK(pipe(q));
    CHECK_EQ(write(p[1], "teedata", 7), 7);
    CHECK_EQ(tee(p[0], q[1], 100, 0), 7);
    CHECK_EQ(read(q[0], buf, sizeof buf), 7);
    CHECK_EQ(read(p[0], buf + 7, sizeof buf - 7), 7);
    CHECK_EQ(memcmp(buf, buf + 7, 7), 0);
    CHECK_ERR(tee(p[0], q[1], 100, SPLICE_F_NONBLOCK), EAGAIN);

    /* vmsplice into a pipe and out of it. */
    struct iovec v = { (void *)"vm", 2 };
    CHECK_EQ(vmsplice(p[1], &v, 1, 0), 2);
    char vb[4];
    struct iovec vo = { vb, sizeof vb };
    CHECK_EQ(vmsplice(p[0], &vo, 1, 0), 2);
    CHECK_EQ(memcmp(vb, "vm", 2), 0);
    CHECK_ERR(vmsplice(p[0], &vo, 1, SPLICE_F_NONBLOCK), EAGAIN);

    /* copy_file_range between regular files. */
    loff_t from = 5000, to = 0;
    int h = temp_file(0, pat_file);
    CHECK_EQ(copy_file_range(f, &from, h, &to, 3000, 0), 3000);
    CHECK_EQ(from, 8000);
    CHECK_EQ(to, 3000);
    unsigned char cb[3000];
    CHECK_EQ(pread(h, cb, sizeof cb, 0), 3000);
    for (int i = 0; i < 3000; i++)
        CHECK_EQ(cb[i], pat_file(5000 + i));

    close(f);
    close(g);
    close(h);
    close(q[0]);
    close(q[1]);
    close(p[0]);
    close(p[1]);
    close(tcp[0]);
    close(tcp[1]);
}

/* A socket whose buffer is past the POLLOUT mark still takes a blocking splice at once: with
 * nobody reading, waiting for POLLOUT would never end. */
static void
check_splice_room(void)
{
    int u[2], p[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, u));
    CHECK_OK(pipe(p));
    char chunk[256];
    memset(chunk, 'r', sizeof chunk);
    int sent = 0;
    for (;;) {
        struct pollfd pf = { .fd = u[0], .events = POLLOUT };
        CHECK(poll(&pf, 1, 0) >= 0);
        if (!(pf.revents & POLLOUT))
            break;
        CHECK_EQ(send(u[0], chunk, sizeof chunk, MSG_DONTWAIT), (long)sizeof chunk);
        CHECK(++sent < 100000);
    }
    CHECK_EQ(write(p[1], "z", 1), 1);
    CHECK_EQ(splice(p[0], NULL, u[0], NULL, 1, 0), 1);
    close(u[0]);
    close(u[1]);
    close(p[0]);
    close(p[1]);
}

/* tee blocks until its input pipe has data. */
struct teearg {
    int in, out;
    struct blocker blocked;
};

static void *
teer(void *arg)
{
    struct teearg *ta = arg;
    blocker_here(&ta->blocked, "the teer");
    return (void *)(long)tee(ta->in, ta->out, 100, 0);
}

static void
check_tee_blocks(void)
{
    int p[2], q[2];
    CHECK_OK(pipe(p));
    CHECK_OK(pipe(q));
    struct teearg ta = { p[0], q[1], { 0 } };
    pthread_t t = spawn(teer, &ta);
    wait_blocked(&ta.blocked, SYS_tee, NULL);
    CHECK_EQ(pthread_tryjoin_np(t, NULL), EBUSY);
    CHECK_EQ(write(p[1], "abc", 3), 3);
    CHECK_EQ((long)join_within(t, 10), 3);
    close(p[0]);
    close(p[1]);
    close(q[0]);
    close(q[1]);
}

/* ---- Many threads blocked at once, half in recvmmsg, half in splice. */

struct one {
    int fd;  /* recvmmsg: a UDP socket; splice: a pipe's read end */
    int out; /* splice: a socket to write into */
    int udp;
    struct sockaddr_in addr;
    struct blocker blocked;
};

static void *
many_worker(void *arg)
{
    struct one *o = arg;
    blocker_here(&o->blocked, o->udp ? "a recvmmsg worker" : "a splice worker");
    if (o->udp) {
        char b[8];
        struct iovec iov = { b, sizeof b };
        struct mmsghdr m;
        memset(&m, 0, sizeof m);
        m.msg_hdr.msg_iov = &iov;
        m.msg_hdr.msg_iovlen = 1;
        CHECK_EQ(recvmmsg(o->fd, &m, 1, 0, NULL), 1);
        CHECK_EQ(m.msg_len, 1);
        return (void *)(long)(unsigned char)b[0];
    }
    long r = splice(o->fd, NULL, o->out, NULL, 16, 0);
    CHECK_EQ(r, 1);
    return (void *)1L;
}

static void *
drainer(void *arg)
{
    int fd = (int)(long)arg;
    char buf[4096];
    long total = 0;
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        CHECK(r >= 0);
        if (r == 0)
            return (void *)total;
        total += r;
    }
}

static void
check_many(void)
{
    long n = scale(1000, 200);
    struct one *o = calloc((size_t)n, sizeof *o);
    pthread_t *t = calloc((size_t)n, sizeof *t);
    int *wr = calloc((size_t)n, sizeof *wr);
    int sink[2];
    CHECK(o != NULL && t != NULL && wr != NULL);
    /* Every splice writes into one socket pair; its other end is drained at the end. */
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sink));
    for (long i = 0; i < n; i++) {
        if (i % 2 == 0) {
            o[i].udp = 1;
            o[i].fd = udp_bound(&o[i].addr);
        } else {
            int p[2];
            CHECK_OK(pipe(p));
            o[i].fd = p[0];
            wr[i] = p[1];
            o[i].out = sink[0];
        }
        t[i] = spawn(many_worker, &o[i]);
    }
    /* Count the OS threads once every one of them sits in its call. */
    for (long i = 0; i < n; i++)
        wait_blocked(&o[i].blocked, o[i].udp ? SYS_recvmmsg : SYS_splice,
                     o[i].udp ? "recvmmsg" : "splice");
    check_green_threads(n);
    /* The splices' bytes are read as they come: the socket's buffer need not hold them all. */
    pthread_t d = spawn(drainer, (void *)(long)sink[1]);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(s >= 0);
    for (long i = 0; i < n; i++) {
        unsigned char c = (unsigned char)(i * 3);
        if (o[i].udp)
            CHECK_EQ(sendto(s, &c, 1, 0, (struct sockaddr *)&o[i].addr, sizeof o[i].addr), 1);
        else
            CHECK_EQ(write(wr[i], &c, 1), 1);
    }
    for (long i = 0; i < n; i++) {
        long r = (long)join_within(t[i], 60);
        CHECK_EQ(r, o[i].udp ? (unsigned char)(i * 3) : 1);
        close(o[i].fd);
        if (!o[i].udp)
            close(wr[i]);
    }
    CHECK_OK(shutdown(sink[0], SHUT_WR));
    CHECK_EQ((long)join_within(d, 60), n / 2);
    close(s);
    close(sink[0]);
    close(sink[1]);
    free(o);
    free(t);
    free(wr);
}

int
main(void)
{
    check_recvmmsg();
    check_sendmmsg();
    check_epoll_pwait2();
    check_sendfile();
    check_splice();
    check_splice_room();
    check_tee_blocks();
    check_many();
    return 0;
}
