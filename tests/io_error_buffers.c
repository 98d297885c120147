/* tests/io_error_buffers.c
 * Behaviour: when a waiting call fails, the caller's buffers are as Linux leaves them. A signal
 * sent by another thread (handler without SA_RESTART) interrupts a thread blocked in select,
 * pselect, poll, ppoll, epoll_wait, recvmsg, recvfrom, accept, recvmmsg and nanosleep; each
 * fails with EINTR and: select and pselect leave the descriptor sets unchanged (a retry with
 * the same sets waits on the same descriptors), select writes back the time left (normalised,
 * as Linux also does for a timeout with more than a second of microseconds), pselect and ppoll
 * leave their timeouts alone, poll and ppoll report revents 0, epoll_wait writes no event,
 * recvmsg leaves the msghdr's name length, control length and flags, recvfrom and accept the
 * address length, recvmmsg its timeout and messages, and nanosleep writes the time left. Other
 * errors: select with a closed descriptor (EBADF) or a negative count (EINVAL) leaves the sets,
 * a timeout clears them and writes back zero, a count beyond every descriptor is taken as the
 * kernel takes it (not an error); poll with too many entries (EINVAL) leaves revents, a poll
 * timeout gives revents 0; epoll_wait on a closed descriptor writes no event; recvmsg and
 * accept timing out on SO_RCVTIMEO leave their fields; nanosleep with a bad request leaves the
 * time left alone.
 */
#include "check.h"

#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/time.h>

#define SENTINEL_LEN 33
#define SENTINEL_CTL 44
#define SENTINEL_FLG 0x77

static int handled; /* __atomic */

static void
on_usr1(int sig)
{
    (void)sig;
    __atomic_fetch_add(&handled, 1, __ATOMIC_SEQ_CST);
}

static int sv[2];  /* a socketpair: sv[0] is never readable */
static int pfd[2]; /* a pipe: pfd[0] is never readable */
static int lsock;  /* a listening TCP socket nobody connects to */
static int epfd;   /* an epoll instance watching sv[0] for input */

/* One call made by a thread of its own, which the main thread interrupts. */
struct call {
    void (*fn)(struct call *);
    struct blocker b;
    long ret;
    int err;
    fd_set set[3], saved[3];
    struct timeval tv;
    struct timespec ts;
    struct pollfd pfds[2];
    struct epoll_event ev[2];
    char buf[16], name[64], ctl[64];
    struct iovec iov;
    struct msghdr msg;
    struct mmsghdr mm[2];
    socklen_t alen;
    struct sockaddr_storage addr;
};

static void *
call_main(void *arg)
{
    struct call *c = arg;
    c->fn(c);
    return NULL;
}

#define DO_CALL(c, expr)                               \
    do {                                               \
        blocker_here(&(c)->b, "the interrupted call"); \
        (c)->ret = (long)(expr);                       \
        (c)->err = (c)->ret < 0 ? errno : 0;           \
    } while (0)

/* Run fn in a thread, wait until it blocks, send it SIGUSR1; it must fail with EINTR. */
static void
interrupt(void (*fn)(struct call *), struct call *c, const char *what)
{
    int before = __atomic_load_n(&handled, __ATOMIC_SEQ_CST);
    c->fn = fn;
    pthread_t t = spawn(call_main, c);
    wait_blocked(&c->b, -1, NULL);
    CHECK_OK(pthread_kill(t, SIGUSR1));
    join_within(t, 10);
    if (c->ret != -1 || c->err != EINTR) {
        char v[160];
        snprintf(v, sizeof v, "%s returned %ld, error %d (%s)", what, c->ret, c->err,
                 check_errname(c->err));
        check_fail(__FILE__, __LINE__, "interrupted call fails with EINTR", v);
    }
    CHECK_EQ(__atomic_load_n(&handled, __ATOMIC_SEQ_CST), before + 1);
}

/* The sets to wait on: read {sv[0], pfd[0]}, write none (empty), except {sv[0]}. */
static void
sets_prepare(struct call *c)
{
    for (int k = 0; k < 3; k++)
        FD_ZERO(&c->set[k]);
    FD_SET(sv[0], &c->set[0]);
    FD_SET(pfd[0], &c->set[0]);
    FD_SET(sv[0], &c->set[2]);
    memcpy(c->saved, c->set, sizeof c->set);
}

static int
nfds_of(void)
{
    int n = sv[0] > pfd[0] ? sv[0] : pfd[0];
    return n + 1;
}

static void
check_sets_unchanged(const struct call *c, const char *what)
{
    for (int k = 0; k < 3; k++) {
        if (memcmp(&c->set[k], &c->saved[k], sizeof c->set[k]) != 0) {
            char v[128];
            snprintf(v, sizeof v, "%s: set %d changed (read %d %d, except %d)", what, k,
                     FD_ISSET(sv[0], &c->set[0]), FD_ISSET(pfd[0], &c->set[0]),
                     FD_ISSET(sv[0], &c->set[2]));
            check_fail(__FILE__, __LINE__, "descriptor sets unchanged", v);
        }
    }
}

static long long
tv_us(const struct timeval *tv)
{
    return (long long)tv->tv_sec * 1000000 + tv->tv_usec;
}

/* ---- The interrupted calls. */

static void
do_select(struct call *c)
{
    DO_CALL(c, select(nfds_of(), &c->set[0], &c->set[1], &c->set[2], &c->tv));
}

static void
do_select_forever(struct call *c)
{
    DO_CALL(c, select(nfds_of(), &c->set[0], &c->set[1], &c->set[2], NULL));
}

static void
do_pselect(struct call *c)
{
    DO_CALL(c, pselect(nfds_of(), &c->set[0], &c->set[1], &c->set[2], &c->ts, NULL));
}

static void
do_poll(struct call *c)
{
    DO_CALL(c, poll(c->pfds, 2, 30000));
}

static void
do_ppoll(struct call *c)
{
    DO_CALL(c, ppoll(c->pfds, 2, &c->ts, NULL));
}

static void
do_epoll(struct call *c)
{
    DO_CALL(c, epoll_wait(epfd, c->ev, 2, 30000));
}

static void
msg_prepare(struct call *c)
{
    memset(c->buf, 0x5a, sizeof c->buf);
    c->iov.iov_base = c->buf;
    c->iov.iov_len = sizeof c->buf;
    memset(&c->msg, 0, sizeof c->msg);
    c->msg.msg_name = c->name;
    c->msg.msg_namelen = SENTINEL_LEN;
    c->msg.msg_iov = &c->iov;
    c->msg.msg_iovlen = 1;
    c->msg.msg_control = c->ctl;
    c->msg.msg_controllen = SENTINEL_CTL;
    c->msg.msg_flags = SENTINEL_FLG;
}

static void
check_msg_unchanged(const struct msghdr *m, const char *buf, const char *what)
{
    if (m->msg_namelen != SENTINEL_LEN || m->msg_controllen != SENTINEL_CTL ||
        m->msg_flags != SENTINEL_FLG) {
        char v[160];
        snprintf(v, sizeof v, "%s: namelen %u, controllen %zu, flags %#x", what,
                 (unsigned)m->msg_namelen, (size_t)m->msg_controllen, (unsigned)m->msg_flags);
        check_fail(__FILE__, __LINE__, "msghdr unchanged", v);
    }
    for (int i = 0; i < 16; i++)
        CHECK_EQ((unsigned char)buf[i], 0x5a);
}

static void
do_recvmsg(struct call *c)
{
    DO_CALL(c, recvmsg(sv[0], &c->msg, 0));
}

static void
do_recvfrom(struct call *c)
{
    DO_CALL(c, recvfrom(sv[0], c->buf, sizeof c->buf, 0, (struct sockaddr *)&c->addr, &c->alen));
}

static void
do_accept(struct call *c)
{
    DO_CALL(c, accept(lsock, (struct sockaddr *)&c->addr, &c->alen));
}

static void
do_recvmmsg(struct call *c)
{
    DO_CALL(c, recvmmsg(sv[0], c->mm, 2, 0, &c->ts));
}

static void
do_nanosleep(struct call *c)
{
    struct timespec req = { 30, 0 };
    DO_CALL(c, nanosleep(&req, &c->ts));
}

/* ---- The cases. */

static void
eintr_cases(void)
{
    static struct call c;

    /* select: sets unchanged, the time left written back. */
    memset(&c, 0, sizeof c);
    sets_prepare(&c);
    c.tv = (struct timeval){ 30, 0 };
    interrupt(do_select, &c, "select");
    check_sets_unchanged(&c, "select, EINTR");
    CHECK(c.tv.tv_usec >= 0 && c.tv.tv_usec < 1000000);
    CHECK(tv_us(&c.tv) > 0 && tv_us(&c.tv) < 30LL * 1000000);

    /* More than a second of microseconds: written back normalised. */
    memset(&c, 0, sizeof c);
    sets_prepare(&c);
    c.tv = (struct timeval){ 0, 29000000 };
    interrupt(do_select, &c, "select, 29 s in microseconds");
    check_sets_unchanged(&c, "select with tv_usec over a second, EINTR");
    CHECK(c.tv.tv_usec >= 0 && c.tv.tv_usec < 1000000);
    CHECK(tv_us(&c.tv) > 0 && tv_us(&c.tv) < 29LL * 1000000);

    memset(&c, 0, sizeof c);
    sets_prepare(&c);
    interrupt(do_select_forever, &c, "select without a timeout");
    check_sets_unchanged(&c, "select without a timeout, EINTR");

    /* pselect: sets unchanged, its timeout (const) alone. */
    memset(&c, 0, sizeof c);
    sets_prepare(&c);
    c.ts = (struct timespec){ 30, 0 };
    interrupt(do_pselect, &c, "pselect");
    check_sets_unchanged(&c, "pselect, EINTR");
    CHECK(c.ts.tv_sec == 30 && c.ts.tv_nsec == 0);

    /* poll, ppoll: revents 0 (written), ppoll's timeout alone. */
    memset(&c, 0, sizeof c);
    c.pfds[0] = (struct pollfd){ sv[0], POLLIN, 0x55 };
    c.pfds[1] = (struct pollfd){ -1, POLLIN, 0x55 };
    interrupt(do_poll, &c, "poll");
    CHECK_EQ(c.pfds[0].revents, 0);
    CHECK_EQ(c.pfds[1].revents, 0);
    CHECK_EQ(c.pfds[0].fd, sv[0]);
    CHECK_EQ(c.pfds[0].events, POLLIN);

    memset(&c, 0, sizeof c);
    c.pfds[0] = (struct pollfd){ sv[0], POLLIN, 0x55 };
    c.pfds[1] = (struct pollfd){ pfd[0], POLLIN, 0x55 };
    c.ts = (struct timespec){ 30, 0 };
    interrupt(do_ppoll, &c, "ppoll");
    CHECK_EQ(c.pfds[0].revents, 0);
    CHECK_EQ(c.pfds[1].revents, 0);
    CHECK(c.ts.tv_sec == 30 && c.ts.tv_nsec == 0);

    /* epoll_wait: no event written. */
    memset(&c, 0, sizeof c);
    memset(c.ev, 0x55, sizeof c.ev);
    interrupt(do_epoll, &c, "epoll_wait");
    for (size_t i = 0; i < sizeof c.ev; i++)
        CHECK_EQ(((unsigned char *)c.ev)[i], 0x55);

    /* recvmsg, recvfrom, accept: lengths and flags unchanged. */
    memset(&c, 0, sizeof c);
    msg_prepare(&c);
    interrupt(do_recvmsg, &c, "recvmsg");
    check_msg_unchanged(&c.msg, c.buf, "recvmsg, EINTR");

    memset(&c, 0, sizeof c);
    memset(c.buf, 0x5a, sizeof c.buf);
    c.alen = SENTINEL_LEN;
    interrupt(do_recvfrom, &c, "recvfrom");
    CHECK_EQ(c.alen, SENTINEL_LEN);

    memset(&c, 0, sizeof c);
    c.alen = SENTINEL_LEN;
    interrupt(do_accept, &c, "accept");
    CHECK_EQ(c.alen, SENTINEL_LEN);

    /* recvmmsg: its timeout and the messages unchanged. */
    memset(&c, 0, sizeof c);
    msg_prepare(&c);
    c.mm[0].msg_hdr = c.msg;
    c.mm[0].msg_len = 99;
    c.mm[1].msg_hdr = c.msg;
    c.mm[1].msg_len = 98;
    c.ts = (struct timespec){ 30, 0 };
    interrupt(do_recvmmsg, &c, "recvmmsg");
    CHECK(c.ts.tv_sec == 30 && c.ts.tv_nsec == 0);
    CHECK_EQ(c.mm[0].msg_len, 99);
    CHECK_EQ(c.mm[1].msg_len, 98);
    check_msg_unchanged(&c.mm[0].msg_hdr, c.buf, "recvmmsg, EINTR");

    /* nanosleep: the time left written. */
    memset(&c, 0, sizeof c);
    c.ts = (struct timespec){ 99, 99 };
    interrupt(do_nanosleep, &c, "nanosleep");
    CHECK(c.ts.tv_sec < 30 && c.ts.tv_nsec >= 0 && c.ts.tv_nsec < 1000000000);
    CHECK(c.ts.tv_sec > 0 || c.ts.tv_nsec > 0);
}

static void
other_error_cases(void)
{
    static struct call c;
    int closed = dup(sv[0]);
    CHECK(closed >= 0);
    CHECK_OK(close(closed));

    /* select with a closed descriptor: EBADF, sets unchanged, no time added. */
    memset(&c, 0, sizeof c);
    sets_prepare(&c);
    FD_SET(closed, &c.set[0]);
    memcpy(c.saved, c.set, sizeof c.set);
    c.tv = (struct timeval){ 5, 0 };
    CHECK_ERR(select(nfds_of() > closed ? nfds_of() : closed + 1, &c.set[0], &c.set[1], &c.set[2],
                     &c.tv),
              EBADF);
    check_sets_unchanged(&c, "select, EBADF");
    CHECK(c.tv.tv_usec >= 0 && c.tv.tv_usec < 1000000 && tv_us(&c.tv) <= 5000000);

    /* A negative count: EINVAL, sets unchanged. */
    memset(&c, 0, sizeof c);
    sets_prepare(&c);
    c.tv = (struct timeval){ 5, 0 };
    CHECK_ERR(select(-1, &c.set[0], &c.set[1], &c.set[2], &c.tv), EINVAL);
    check_sets_unchanged(&c, "select, EINVAL");
    CHECK(c.tv.tv_usec >= 0 && c.tv.tv_usec < 1000000 && tv_us(&c.tv) <= 5000000);

    /* A negative timeout: EINVAL before anything, nothing written. */
    memset(&c, 0, sizeof c);
    sets_prepare(&c);
    c.tv = (struct timeval){ -1, 0 };
    CHECK_ERR(select(nfds_of(), &c.set[0], &c.set[1], &c.set[2], &c.tv), EINVAL);
    check_sets_unchanged(&c, "select with a negative timeout");
    CHECK(c.tv.tv_sec == -1 && c.tv.tv_usec == 0);

    /* A timeout: 0, sets cleared, zero written back. */
    memset(&c, 0, sizeof c);
    sets_prepare(&c);
    c.tv = (struct timeval){ 0, 20000 };
    CHECK_EQ(select(nfds_of(), &c.set[0], &c.set[1], &c.set[2], &c.tv), 0);
    for (int k = 0; k < 3; k++) {
        fd_set empty;
        FD_ZERO(&empty);
        CHECK(memcmp(&c.set[k], &empty, sizeof empty) == 0);
    }
    CHECK(c.tv.tv_sec == 0 && c.tv.tv_usec == 0);

    /* A count beyond every descriptor the process can have: the kernel looks at the
     * descriptors it has, so this is not an error. The sets are large enough for it. */
    size_t big_bits = (size_t)1 << 21;
    fd_set *big = calloc(3, big_bits / 8);
    CHECK(big != NULL);
    FD_SET(sv[0], &big[0]);
    struct timeval zero = { 0, 0 };
    CHECK_EQ(select((int)big_bits, (fd_set *)((char *)big), (fd_set *)((char *)big + big_bits / 8),
                    (fd_set *)((char *)big + big_bits / 4), &zero),
             0);
    free(big);

    /* poll: too many entries is EINVAL before anything is read or written. */
    struct pollfd p[2] = { { sv[0], POLLIN, 0x55 }, { -1, POLLIN, 0x55 } };
    struct rlimit rl;
    CHECK_OK(getrlimit(RLIMIT_NOFILE, &rl));
    volatile nfds_t too_many = (nfds_t)rl.rlim_cur + 1;
    CHECK_ERR(poll(p, too_many, 0), EINVAL);
    CHECK_EQ(p[0].revents, 0x55);
    /* A timeout: revents 0. */
    p[0].revents = p[1].revents = 0x55;
    CHECK_EQ(poll(p, 2, 20), 0);
    CHECK_EQ(p[0].revents, 0);
    CHECK_EQ(p[1].revents, 0);

    /* epoll_wait on a closed descriptor: EBADF, no event written. */
    struct epoll_event ev[2];
    memset(ev, 0x55, sizeof ev);
    CHECK_ERR(epoll_wait(closed, ev, 2, 1000), EBADF);
    for (size_t i = 0; i < sizeof ev; i++)
        CHECK_EQ(((unsigned char *)ev)[i], 0x55);

    /* SO_RCVTIMEO: EAGAIN, fields unchanged. */
    struct timeval rt = { 0, 20000 };
    CHECK_OK(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &rt, sizeof rt));
    memset(&c, 0, sizeof c);
    msg_prepare(&c);
    CHECK_ERR(recvmsg(sv[0], &c.msg, 0), EAGAIN);
    check_msg_unchanged(&c.msg, c.buf, "recvmsg, SO_RCVTIMEO");
    CHECK_OK(setsockopt(lsock, SOL_SOCKET, SO_RCVTIMEO, &rt, sizeof rt));
    c.alen = SENTINEL_LEN;
    CHECK_ERR(accept(lsock, (struct sockaddr *)&c.addr, &c.alen), EAGAIN);
    CHECK_EQ(c.alen, SENTINEL_LEN);
    rt = (struct timeval){ 0, 0 };
    CHECK_OK(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &rt, sizeof rt));
    CHECK_OK(setsockopt(lsock, SOL_SOCKET, SO_RCVTIMEO, &rt, sizeof rt));

    /* nanosleep with a bad request: EINVAL, the time left alone. */
    struct timespec bad = { 0, 1000000000 }, rem = { 7, 7 };
    CHECK_ERR(nanosleep(&bad, &rem), EINVAL);
    CHECK(rem.tv_sec == 7 && rem.tv_nsec == 7);
}

int
main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1; /* no SA_RESTART */
    CHECK_OK(sigaction(SIGUSR1, &sa, NULL));

    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    CHECK_OK(pipe(pfd));
    lsock = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(lsock >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    CHECK_OK(bind(lsock, (struct sockaddr *)&a, sizeof a));
    CHECK_OK(listen(lsock, 4));
    epfd = epoll_create1(EPOLL_CLOEXEC);
    CHECK(epfd >= 0);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 7 };
    CHECK_OK(epoll_ctl(epfd, EPOLL_CTL_ADD, sv[0], &ev));

    eintr_cases();
    other_error_cases();
    return 0;
}
