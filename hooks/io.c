/*
 * hooks/io.c: reads, writes, accept and connect, recvmmsg and sendmmsg, sendfile, splice, tee
 * and vmsplice (each family under its own heading below), parked on the netpoller instead of
 * blocking the OS thread, with the native contract kept: partial transfers, errno, SIGPIPE, EAGAIN on
 * descriptors the program made non-blocking, SO_RCVTIMEO/SO_SNDTIMEO (EAGAIN at the deadline).
 *
 * One call = attempts without blocking until one does not say EAGAIN; between two, the G
 * parks until an edge (netpoll.h). The attempt depends on the descriptor (fdtab.h, DESIGN.md):
 *  - sockets: recvfrom/recvmsg/sendto/sendmsg with MSG_DONTWAIT added (never MSG_NOSIGNAL);
 *  - other pollable descriptors: preadv2/pwritev2(..., -1, RWF_NOWAIT); where that gives
 *    EOPNOTSUPP (FIFOs, ttys, eventfd writes), remembered per direction: poll the descriptor
 *    with a zero timeout, and once it is ready issue the real call in syscall mode;
 *  - files and whatever epoll refuses: the real call in syscall mode, no attempt.
 * Blocking writes, and MSG_WAITALL receives on stream sockets, go on until everything is
 * transferred, as the kernel's blocking calls do; an error or a timeout after some progress
 * returns the progress. The attempts and the syscall-mode calls are raw system calls: errno
 * is written once, on failure, and no glibc cancellation wrapper runs inside syscall mode.
 *
 * accept/accept4 on a blocking listener: when the listener is "sole" (created by this process,
 * not shared), O_NONBLOCK is held for the accept call only (fdtab.h); otherwise readiness, then
 * the real call in syscall mode (if another process wins the race, that M blocks and sysmon
 * hands its P on). connect on a blocking socket: O_NONBLOCK held around the call, then wait
 * for POLLOUT and read SO_ERROR; SO_SNDTIMEO expiring gives EINPROGRESS, as on Linux.
 *
 * Calls made without a G, or in native mode, go straight to glibc. Cancellation: a G parked
 * here is a cancellation point (pthread_cancel wakes it and it unwinds); a G inside a
 * syscall-mode call is not (it finishes the call). A signal sent to a parked G (pthread_kill)
 * runs its handler; then the call restarts under SA_RESTART, or fails with EINTR (or returns
 * what it transferred), as natively; with SO_RCVTIMEO/SO_SNDTIMEO set it always fails.
 */
#include <fcntl.h>
#include <linux/sockios.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "hooks/fd.h"
#include "hooks/hook.h"
#include "runtime/netpoll.h"

#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008
#endif

extern void __chk_fail(void) __attribute__((noreturn));

enum {
    OP_READ,         /* read: buf, len */
    OP_READV,        /* readv: iov, iovcnt */
    OP_RECV,         /* recv, recvfrom: buf, len, flags, addr, alen */
    OP_RECVMSG,      /* recvmsg: msg, flags */
    OP_WRITE,
    OP_WRITEV,
    OP_SEND,         /* send, sendto: buf, len, flags, addr, dlen */
    OP_SENDMSG,
};

#define OWN_IOV 8

struct io {
    int op;
    int fd;
    unsigned dir;
    int kind;
    struct polldesc *pd;
    char *buf;
    size_t len;
    struct iovec *iov;
    int iovcnt;
    struct msghdr *msg;
    int flags;
    void *addr;
    socklen_t *alen;
    socklen_t dlen;
    bool all;                    /* transfer everything (blocking write, MSG_WAITALL) */
    struct msghdr mcopy;         /* msg with its iov advanced after a partial transfer */
    struct iovec own[OWN_IOV];   /* writable copy of the iov once a partial transfer moves it */
    struct iovec *heap;          /* the same when it does not fit in own */
};

static bool
is_sock_op(int op)
{
    return op == OP_RECV || op == OP_RECVMSG || op == OP_SEND || op == OP_SENDMSG;
}

/* The call goes to a socket: a socket call, or a read or write of a descriptor known to be one. */
static bool
on_socket(const struct io *io)
{
    return io->kind == PD_KIND_SOCKET || is_sock_op(io->op);
}

/* Zero-timeout readiness of one direction: the revents, 0 when not ready (nonzero: ready, or
 * an error to find by the call). Never restarted by the kernel, so a signal's EINTR
 * (preemption) is retried. */
static short
ready_now(int fd, short events)
{
    struct pollfd p = { .fd = fd, .events = events };
    long r;

    do {
        r = gr_syscall3(SYS_poll, &p, 1, 0);
    } while (r == -EINTR);
    return r < 0 ? POLLERR : p.revents;
}

/* A raw system call, in syscall mode when block is set (a call that blocks on some of its
 * descriptors only). */
static long
raw_call(bool block, long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
    if (block)
        return gr_blocking_syscall6(nr, a1, a2, a3, a4, a5, a6);
    return gr_syscall6(nr, a1, a2, a3, a4, a5, a6);
}

/* The real call, blocking, in syscall mode. Raw result. */
static long
blocking_call(struct io *io)
{
    switch (io->op) {
    case OP_READ:
        return gr_blocking_syscall3(SYS_read, io->fd, io->buf, io->len);
    case OP_READV:
        return gr_blocking_syscall3(SYS_readv, io->fd, io->iov, io->iovcnt);
    case OP_RECV:
        return gr_blocking_syscall6(SYS_recvfrom, io->fd, (long)io->buf, (long)io->len, io->flags,
                                    (long)io->addr, (long)io->alen);
    case OP_RECVMSG:
        return gr_blocking_syscall3(SYS_recvmsg, io->fd, io->msg, io->flags);
    case OP_WRITE:
        return gr_blocking_syscall3(SYS_write, io->fd, io->buf, io->len);
    case OP_WRITEV:
        return gr_blocking_syscall3(SYS_writev, io->fd, io->iov, io->iovcnt);
    case OP_SEND:
        return gr_blocking_syscall6(SYS_sendto, io->fd, (long)io->buf, (long)io->len, io->flags,
                                    (long)io->addr, (long)io->dlen);
    default:
        return gr_blocking_syscall3(SYS_sendmsg, io->fd, io->msg, io->flags);
    }
}

static long
sock_attempt(struct io *io)
{
    struct msghdr m;

    switch (io->op) {
    case OP_READ:
        return gr_syscall6(SYS_recvfrom, io->fd, (long)io->buf, (long)io->len, MSG_DONTWAIT, 0, 0);
    case OP_WRITE:
        return gr_syscall6(SYS_sendto, io->fd, (long)io->buf, (long)io->len, MSG_DONTWAIT, 0, 0);
    case OP_READV:
    case OP_WRITEV:
        memset(&m, 0, sizeof(m));
        m.msg_iov = io->iov;
        m.msg_iovlen = (size_t)io->iovcnt;
        return gr_syscall3(io->op == OP_READV ? SYS_recvmsg : SYS_sendmsg, io->fd, &m,
                           MSG_DONTWAIT);
    case OP_RECV:
        return gr_syscall6(SYS_recvfrom, io->fd, (long)io->buf, (long)io->len,
                           io->flags | MSG_DONTWAIT, (long)io->addr, (long)io->alen);
    case OP_SEND:
        return gr_syscall6(SYS_sendto, io->fd, (long)io->buf, (long)io->len,
                           io->flags | MSG_DONTWAIT, (long)io->addr, (long)io->dlen);
    case OP_RECVMSG:
        return gr_syscall3(SYS_recvmsg, io->fd, io->msg, io->flags | MSG_DONTWAIT);
    default:
        return gr_syscall3(SYS_sendmsg, io->fd, io->msg, io->flags | MSG_DONTWAIT);
    }
}

/* Not a socket: RWF_NOWAIT, or readiness then the real call. */
static long
other_attempt(struct io *io)
{
    struct gr_pdir *d = io->dir == GR_POLL_READ ? &io->pd->rd : &io->pd->wr;
    struct iovec one = { io->buf, io->len };
    struct iovec *iov = io->op == OP_READ || io->op == OP_WRITE ? &one : io->iov;
    int cnt = io->op == OP_READ || io->op == OP_WRITE ? 1 : io->iovcnt;
    long r;

    if (__atomic_load_n(&d->nowait, __ATOMIC_RELAXED) != PD_NOWAIT_NO) {
        r = gr_syscall6(io->dir == GR_POLL_READ ? SYS_preadv2 : SYS_pwritev2, io->fd, (long)iov,
                        cnt, -1, 0, RWF_NOWAIT);
        if (r != -EOPNOTSUPP)
            return r;
        __atomic_store_n(&d->nowait, (uint8_t)PD_NOWAIT_NO, __ATOMIC_RELAXED);
    }
    if (ready_now(io->fd, io->dir == GR_POLL_READ ? POLLIN : POLLOUT) == 0)
        return -EAGAIN;
    return blocking_call(io);
}

static size_t
iov_total(const struct iovec *iov, size_t cnt)
{
    size_t n = 0;

    for (size_t i = 0; i < cnt; i++)
        n += iov[i].iov_len;
    return n;
}

static size_t
remaining(struct io *io)
{
    switch (io->op) {
    case OP_READV:
    case OP_WRITEV:
        return iov_total(io->iov, (size_t)io->iovcnt);
    case OP_RECVMSG:
    case OP_SENDMSG:
        return iov_total(io->msg->msg_iov, io->msg->msg_iovlen);
    default:
        return io->len;
    }
}

/* Skip n transferred bytes of an iov array (copied to writable memory first). False: no
 * memory for the copy. */
static bool
iov_advance(struct io *io, struct iovec **iovp, size_t *cntp, size_t n)
{
    struct iovec *iov = *iovp;
    size_t cnt = *cntp;

    if (iov != io->own && iov != io->heap) {
        struct iovec *copy = io->own;
        if (cnt > OWN_IOV) {
            copy = io->heap = malloc(cnt * sizeof(*copy));
            if (copy == NULL)
                return false;
        }
        memcpy(copy, iov, cnt * sizeof(*copy));
        iov = copy;
    }
    while (cnt > 0 && n >= iov->iov_len) {
        n -= iov->iov_len;
        iov++;
        cnt--;
    }
    if (cnt > 0) {
        iov->iov_base = (char *)iov->iov_base + n;
        iov->iov_len -= n;
    }
    *iovp = iov;
    *cntp = cnt;
    return true;
}

static bool
advance(struct io *io, size_t n)
{
    size_t cnt;

    switch (io->op) {
    case OP_READV:
    case OP_WRITEV:
        cnt = (size_t)io->iovcnt;
        if (!iov_advance(io, &io->iov, &cnt, n))
            return false;
        io->iovcnt = (int)cnt;
        return true;
    case OP_RECVMSG:
    case OP_SENDMSG:
        if (io->msg != &io->mcopy) {
            /* The address and the ancillary data went with the first part. */
            memset(&io->mcopy, 0, sizeof(io->mcopy));
            io->mcopy.msg_iov = io->msg->msg_iov;
            io->mcopy.msg_iovlen = io->msg->msg_iovlen;
            io->msg = &io->mcopy;
        }
        return iov_advance(io, &io->mcopy.msg_iov, &io->mcopy.msg_iovlen, n);
    default:
        io->buf += n;
        io->len -= n;
        return true;
    }
}

/*
 * The deadline of a call's waits, computed at its first park: *deadline is -2 until then, and
 * becomes the absolute CLOCK_MONOTONIC ns at which SO_RCVTIMEO (dir GR_POLL_READ) or
 * SO_SNDTIMEO of socket fd expires, or -1 (none, or sock false: not a socket). Returns it.
 */
static int64_t
sock_deadline(int64_t *deadline, bool sock, int fd, struct polldesc *pd, unsigned dir)
{
    if (*deadline == -2) {
        int64_t to = sock ? gr_fdtab_timeout(fd, pd, dir) : 0;
        *deadline = to > 0 ? gr_nanotime() + to : -1;
    }
    return *deadline;
}

/*
 * A handler ran while the G waited (pthread_kill). As the kernel: the call fails with EINTR
 * unless every handler had SA_RESTART; with a socket timeout set it always fails (signal(7)).
 */
static bool
signal_fails(int64_t deadline)
{
    bool eintr = gr_signal_eintr(gr_current());

    return eintr || deadline >= 0;
}

/* What io_park tells its caller, besides a raw error for the program. */
#define PARK_AGAIN    0          /* an edge, or a cancellation acted on: attempt again */
#define PARK_RESTART  1          /* a handler ran and the call restarts (SA_RESTART) */
#define PARK_SYSCALL  2          /* epoll refuses the descriptor: make the call in syscall mode */

/*
 * The park step of every attempt loop, after an EAGAIN the program did not ask for: wait for
 * an edge newer than t's snapshot. Returns a PARK_* code, or the raw result the call gives
 * when nothing was transferred: -EINTR (a handler ran and the call is not restarted), -EAGAIN
 * (deadline, SO_RCVTIMEO/SO_SNDTIMEO), -EBADF (closed meanwhile). Context: user G.
 */
static long
io_park(struct gr_pollticket *t, int64_t deadline, const char *reason)
{
    int err = gr_netpoll_wait(t, deadline, reason);

    switch (err) {
    case 0:
        return PARK_AGAIN;
    case -ECANCELED:
        gr_hook_testcancel();
        return PARK_AGAIN;
    case -EINTR:
        return signal_fails(deadline) ? -EINTR : PARK_RESTART;
    case -ETIMEDOUT:
        return -EAGAIN;
    case -EBADF:
        return -EBADF;
    default:
        return PARK_SYSCALL;
    }
}

/* The loop of attempts and parks (header comment). Raw result. */
static long
io_run(struct io *io)
{
    struct gr_pollticket t = { .woken = false };
    int64_t deadline = -2;               /* not computed yet */
    size_t done = 0;
    long r;

    for (;;) {
        gr_netpoll_snap(&t, io->fd, io->pd, io->dir);
        if (on_socket(io))
            r = sock_attempt(io);
        else
            r = other_attempt(io);
        if (r >= 0) {
            gr_netpoll_pass(&t);
            if (r > 0 && io->all && (size_t)r < remaining(io) &&
                !gr_fdtab_nonblock(io->fd, io->pd) && advance(io, (size_t)r)) {
                done += (size_t)r;
                continue;
            }
            return (long)done + r;
        }
        if (r == -ENOTSOCK && io->kind == PD_KIND_SOCKET && !is_sock_op(io->op)) {
            /* The number was reused behind our back: learn what it is now. */
            gr_fdtab_forget_kind(io->pd, PD_KIND_SOCKET);
            io->kind = gr_fdtab_kind(io->fd, io->pd);
            if (io->kind < 0)
                return done > 0 ? (long)done : io->kind;
            if (io->kind == PD_KIND_FILE)
                break;
            continue;
        }
        if (r != -EAGAIN || gr_fdtab_nonblock(io->fd, io->pd))
            return done > 0 ? (long)done : r;
        r = io_park(&t, sock_deadline(&deadline, on_socket(io), io->fd, io->pd, io->dir),
                    io->dir == GR_POLL_READ ? "IO read" : "IO write");
        if (r < 0)
            return done > 0 ? (long)done : r;
        if (r == PARK_RESTART && done > 0)
            return (long)done;           /* interrupted after a partial transfer: its count */
        if (r == PARK_SYSCALL)
            break;                       /* epoll refuses it (or no memory): syscall mode */
    }
    r = blocking_call(io);
    return r >= 0 ? (long)done + r : (done > 0 ? (long)done : r);
}

/* Entry of every transfer hook, on a G. Returns the libc result. */
static long
io_start(struct io *io)
{
    long r;

    io->heap = NULL;
    io->pd = gr_fdtab_get(io->fd);
    if (io->pd == NULL) {
        if (io->fd < 0)
            return gr_hook_ret(-EBADF);
        return gr_hook_ret(blocking_call(io));
    }
    if (is_sock_op(io->op)) {
        io->kind = PD_KIND_SOCKET;
        /* A call the program made non-blocking itself, or one that never blocks. */
        if (io->flags & (MSG_DONTWAIT | MSG_ERRQUEUE))
            return gr_hook_ret(sock_attempt(io));
    } else {
        io->kind = gr_fdtab_kind(io->fd, io->pd);
        if (io->kind < 0)
            return gr_hook_ret(io->kind);
        if (io->kind == PD_KIND_FILE)
            return gr_hook_ret(blocking_call(io));
    }
    if (io->dir == GR_POLL_WRITE)
        io->all = true;
    else if ((io->flags & MSG_WAITALL) && !(io->flags & MSG_PEEK) && is_sock_op(io->op))
        io->all = gr_fdtab_is_stream(io->fd, io->pd);
    r = io_run(io);
    free(io->heap);
    return gr_hook_ret(r);
}

/* ---- Reads. */

GR_EXPORT ssize_t
read(int fd, void *buf, size_t len)
{
    struct io io = { .op = OP_READ, .fd = fd, .dir = GR_POLL_READ, .buf = buf, .len = len };

    if (gr_hook_g() == NULL)
        return gr_real.read(fd, buf, len);
    return io_start(&io);
}

GR_EXPORT ssize_t
__read_chk(int fd, void *buf, size_t len, size_t buflen)
{
    if (len > buflen)
        __chk_fail();
    return read(fd, buf, len);
}

GR_EXPORT ssize_t
readv(int fd, const struct iovec *iov, int iovcnt)
{
    struct io io = { .op = OP_READV, .fd = fd, .dir = GR_POLL_READ,
                     .iov = (struct iovec *)iov, .iovcnt = iovcnt };

    if (gr_hook_g() == NULL)
        return gr_real.readv(fd, iov, iovcnt);
    return io_start(&io);
}

GR_EXPORT ssize_t
recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr, socklen_t *alen)
{
    struct io io = { .op = OP_RECV, .fd = fd, .dir = GR_POLL_READ, .buf = buf, .len = len,
                     .flags = flags, .addr = addr, .alen = alen };

    if (gr_hook_g() == NULL)
        return gr_real.recvfrom(fd, buf, len, flags, addr, alen);
    return io_start(&io);
}

GR_EXPORT ssize_t
recv(int fd, void *buf, size_t len, int flags)
{
    if (gr_hook_g() == NULL)
        return gr_real.recv(fd, buf, len, flags);
    return recvfrom(fd, buf, len, flags, NULL, NULL);
}

GR_EXPORT ssize_t
__recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
    if (len > buflen)
        __chk_fail();
    return recv(fd, buf, len, flags);
}

GR_EXPORT ssize_t
__recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags, struct sockaddr *addr,
               socklen_t *alen)
{
    if (len > buflen)
        __chk_fail();
    return recvfrom(fd, buf, len, flags, addr, alen);
}

/* Call fn on every descriptor that msg's control data carries with SCM_RIGHTS. */
static void
each_right(const struct msghdr *msg, void (*fn)(int fd))
{
    struct msghdr *m = (struct msghdr *)msg;     /* CMSG_NXTHDR takes it non-const */

    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const int *fds = (const int *)CMSG_DATA(c);
        for (size_t i = 0; i < n; i++)
            fn(fds[i]);
    }
}

/* A descriptor received with SCM_RIGHTS is new here: start its generation, unknown. */
static void
new_right(int fd)
{
    gr_netpoll_fd_new(fd, NULL);
}

/* A descriptor sent with SCM_RIGHTS is shared with another process from now on. */
static void
unshare_right(int fd)
{
    struct polldesc *pd = gr_fdtab_peek(fd);

    if (pd != NULL)
        gr_fdtab_unshare(pd);
}

GR_EXPORT ssize_t
recvmsg(int fd, struct msghdr *msg, int flags)
{
    struct io io = { .op = OP_RECVMSG, .fd = fd, .dir = GR_POLL_READ, .msg = msg,
                     .flags = flags };
    ssize_t r;

    if (gr_hook_native())
        return gr_real.recvmsg(fd, msg, flags);
    r = gr_hook_g() == NULL ? gr_real.recvmsg(fd, msg, flags) : io_start(&io);
    if (r >= 0 && msg->msg_controllen > 0)
        each_right(msg, new_right);
    return r;
}

/* ---- Writes. */

GR_EXPORT ssize_t
write(int fd, const void *buf, size_t len)
{
    struct io io = { .op = OP_WRITE, .fd = fd, .dir = GR_POLL_WRITE, .buf = (char *)buf,
                     .len = len };

    if (gr_hook_g() == NULL)
        return gr_real.write(fd, buf, len);
    return io_start(&io);
}

GR_EXPORT ssize_t
writev(int fd, const struct iovec *iov, int iovcnt)
{
    struct io io = { .op = OP_WRITEV, .fd = fd, .dir = GR_POLL_WRITE,
                     .iov = (struct iovec *)iov, .iovcnt = iovcnt };

    if (gr_hook_g() == NULL)
        return gr_real.writev(fd, iov, iovcnt);
    return io_start(&io);
}

GR_EXPORT ssize_t
sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr,
       socklen_t alen)
{
    struct io io = { .op = OP_SEND, .fd = fd, .dir = GR_POLL_WRITE, .buf = (char *)buf,
                     .len = len, .flags = flags, .addr = (void *)addr, .dlen = alen };

    if (gr_hook_g() == NULL)
        return gr_real.sendto(fd, buf, len, flags, addr, alen);
    return io_start(&io);
}

GR_EXPORT ssize_t
send(int fd, const void *buf, size_t len, int flags)
{
    if (gr_hook_g() == NULL)
        return gr_real.send(fd, buf, len, flags);
    return sendto(fd, buf, len, flags, NULL, 0);
}

GR_EXPORT ssize_t
sendmsg(int fd, const struct msghdr *msg, int flags)
{
    struct io io = { .op = OP_SENDMSG, .fd = fd, .dir = GR_POLL_WRITE,
                     .msg = (struct msghdr *)msg, .flags = flags };

    if (gr_hook_native())
        return gr_real.sendmsg(fd, msg, flags);
    if (msg != NULL && msg->msg_controllen > 0)
        each_right(msg, unshare_right);
    if (gr_hook_g() == NULL)
        return gr_real.sendmsg(fd, msg, flags);
    return io_start(&io);
}

/* ---- recvmmsg and sendmmsg. */

/*
 * The kernel runs recvmmsg and sendmmsg as one recvmsg/sendmsg per message, each blocking on a
 * blocking socket. Here the kernel's call is made with MSG_DONTWAIT and takes what is there; the
 * G parks between batches, and the loop goes on where the kernel's would have:
 *  - recvmmsg waits for all vlen messages, except that MSG_WAITFORONE stops at the first EAGAIN
 *    after one message, its timeout is looked at only after a message arrived (the first one
 *    always waits; recvmmsg(2) BUGS; the kernel's own check runs inside each batch), and
 *    out-of-band data ends the call. MSG_WAITALL on a stream socket fills each message.
 *  - sendmmsg sends all vlen (at most UIO_MAXIOV); a message sent in part (a stream socket) is
 *    finished as a blocking sendmsg would, and ends the call if it stays short.
 * Each message's wait has its own SO_RCVTIMEO/SO_SNDTIMEO. Once messages have moved, a timeout,
 * a signal (even with SA_RESTART) or an error ends the call with their count, as natively. Once
 * some arrived, the socket is polled before each batch, so that an error pending on it (POLLERR)
 * ends the call and stays for the next one, as the kernel keeps it in sk_err. Difference: an
 * error that only a receive reveals after some messages is lost, where the kernel keeps it.
 */
#ifndef UIO_MAXIOV
#define UIO_MAXIOV 1024
#endif

struct mmsg {
    int fd;
    struct polldesc *pd;
    bool send;
    struct mmsghdr *vec;
    unsigned vlen;
    int flags;
    struct timespec *left;       /* recvmmsg: time left for the kernel's check, or NULL */
};

/* The kernel's call for messages [from, vlen); in syscall mode when block is set. */
static long
mmsg_call(struct mmsg *c, unsigned from, int flags, bool block)
{
    if (c->send)
        return raw_call(block, SYS_sendmmsg, c->fd, (long)(c->vec + from), c->vlen - from, flags,
                        0, 0);
    return raw_call(block, SYS_recvmmsg, c->fd, (long)(c->vec + from), c->vlen - from, flags,
                    (long)c->left, 0);
}

/* The message just moved was short of its iov and the socket blocks: finish it as a blocking
 * recvmsg (MSG_WAITALL) or sendmsg would. False: it stays short, which ends the call. */
static bool
mmsg_finish(struct mmsg *c, struct mmsghdr *m)
{
    struct io io = { .op = c->send ? OP_SENDMSG : OP_RECVMSG, .fd = c->fd,
                     .dir = c->send ? GR_POLL_WRITE : GR_POLL_READ, .kind = PD_KIND_SOCKET,
                     .pd = c->pd, .msg = &m->msg_hdr, .flags = c->flags & ~MSG_WAITFORONE,
                     .all = true };
    size_t want = iov_total(m->msg_hdr.msg_iov, m->msg_hdr.msg_iovlen);
    long r;

    if (!advance(&io, m->msg_len)) {
        free(io.heap);
        return false;
    }
    r = io_run(&io);
    free(io.heap);
    if (r > 0)
        m->msg_len += (unsigned)r;
    return m->msg_len >= want;
}

/* After a batch moved messages [0, got): true when the kernel's loop would end here. */
static bool
mmsg_done(struct mmsg *c, unsigned got)
{
    struct mmsghdr *m = &c->vec[got - 1];

    if (c->send) {
        if (m->msg_len < iov_total(m->msg_hdr.msg_iov, m->msg_hdr.msg_iovlen) &&
            (gr_fdtab_nonblock(c->fd, c->pd) || !mmsg_finish(c, m)))
            return true;
        return got == c->vlen;
    }
    if (got == c->vlen) {
        if ((c->flags & MSG_WAITALL) && !(c->flags & MSG_PEEK) &&
            m->msg_len < iov_total(m->msg_hdr.msg_iov, m->msg_hdr.msg_iovlen) &&
            gr_fdtab_is_stream(c->fd, c->pd) && !gr_fdtab_nonblock(c->fd, c->pd))
            mmsg_finish(c, m);
        return true;
    }
    if (c->flags & MSG_WAITFORONE)
        return true;
    if (m->msg_hdr.msg_flags & MSG_OOB)
        return true;
    if (c->left != NULL && c->left->tv_sec == 0 && c->left->tv_nsec == 0)
        return true;                      /* the kernel found the timeout expired */
    if ((c->flags & MSG_WAITALL) && !(c->flags & MSG_PEEK) &&
        m->msg_len < iov_total(m->msg_hdr.msg_iov, m->msg_hdr.msg_iovlen) &&
        gr_fdtab_is_stream(c->fd, c->pd) && !gr_fdtab_nonblock(c->fd, c->pd))
        mmsg_finish(c, m);                /* short or not, the next message is waited for */
    return false;
}

/*
 * The loop of batches and parks (comment above). end: recvmmsg's timeout as an absolute
 * deadline, -1 for none. Raw result; *after holds the time left after the last message.
 */
static long
mmsg_run(struct mmsg *c, int64_t end, struct timespec *after)
{
    unsigned dir = c->send ? GR_POLL_WRITE : GR_POLL_READ;
    short ev = c->send ? POLLOUT : POLLIN;
    struct gr_pollticket t = { .woken = false };
    int64_t deadline = -2;
    unsigned got = 0;
    long r;

    for (;;) {
        gr_netpoll_snap(&t, c->fd, c->pd, dir);
        if (got > 0) {
            short rev = ready_now(c->fd, ev);
            if (rev & (POLLERR | POLLNVAL))
                return got;
            r = rev == 0 ? -EAGAIN : 0;
        } else {
            r = 0;
        }
        if (r == 0) {
            if (c->left != NULL) {
                int64_t rel = end - gr_nanotime();
                if (rel < 0)
                    rel = 0;     /* already over: the kernel stops after one more message */
                c->left->tv_sec = rel / GR_NSEC_PER_SEC;
                c->left->tv_nsec = rel % GR_NSEC_PER_SEC;
            }
            r = mmsg_call(c, got, c->flags | MSG_DONTWAIT, false);
        }
        if (r > 0) {
            gr_netpoll_pass(&t);
            got += (unsigned)r;
            if (c->left != NULL)
                *after = *c->left;
            deadline = -2;                /* the next message waits with its own timeout */
            if (mmsg_done(c, got))
                return got;
            continue;
        }
        if (r == 0)
            return got;
        if (r != -EAGAIN)
            return got > 0 ? (long)got : r;
        if ((got > 0 && !c->send && (c->flags & MSG_WAITFORONE)) ||
            gr_fdtab_nonblock(c->fd, c->pd))
            return got > 0 ? (long)got : r;
        r = io_park(&t, sock_deadline(&deadline, true, c->fd, c->pd, dir),
                    c->send ? "sendmmsg" : "recvmmsg");
        if (r < 0 || (r == PARK_RESTART && got > 0))
            return got > 0 ? (long)got : r;
        if (r == PARK_SYSCALL)
            break;
    }
    /* epoll refuses it: the rest in one blocking call, in syscall mode. */
    r = mmsg_call(c, got, c->flags, true);
    if (r > 0 && c->left != NULL)
        *after = *c->left;
    return r > 0 ? (long)got + r : (got > 0 ? (long)got : r);
}

/* Entry of both hooks, on a G. Returns the libc result. */
static int
mmsg_start(struct mmsg *c, struct timespec *tmo)
{
    struct timespec left, after = { 0, 0 };
    int64_t end = -1;
    long r;

    if (tmo != NULL) {
        /* As the kernel: a bad timeout is refused before the descriptor is looked at. */
        if (gr_hook_deadline_rel(tmo, &end) != 0)
            return (int)gr_hook_ret(-EINVAL);
        c->left = &left;
    }
    if (c->send && c->vlen > UIO_MAXIOV)
        c->vlen = UIO_MAXIOV;
    c->pd = gr_fdtab_get(c->fd);
    if (c->pd == NULL || (c->flags & (MSG_DONTWAIT | MSG_ERRQUEUE))) {
        /* A number out of the table's reach, or a call that never blocks: as it is. */
        if (c->pd == NULL && c->fd < 0)
            return (int)gr_hook_ret(-EBADF);
        c->left = tmo;                   /* the kernel updates the program's timeout itself */
        return (int)gr_hook_ret(mmsg_call(c, 0, c->flags, c->pd == NULL));
    }
    r = mmsg_run(c, end, &after);
    if (r > 0 && tmo != NULL)
        *tmo = after;
    return (int)gr_hook_ret(r);
}

GR_EXPORT int
recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags, struct timespec *tmo)
{
    struct mmsg c = { .fd = fd, .send = false, .vec = vec, .vlen = vlen, .flags = flags };
    int r;

    if (gr_hook_native())
        return gr_real.recvmmsg(fd, vec, vlen, flags, tmo);
    r = gr_hook_g() == NULL ? gr_real.recvmmsg(fd, vec, vlen, flags, tmo) : mmsg_start(&c, tmo);
    for (int i = 0; i < r; i++)
        if (vec[i].msg_hdr.msg_controllen > 0)
            each_right(&vec[i].msg_hdr, new_right);
    return r;
}

GR_EXPORT int
sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags)
{
    struct mmsg c = { .fd = fd, .send = true, .vec = vec, .vlen = vlen, .flags = flags };

    if (gr_hook_native())
        return gr_real.sendmmsg(fd, vec, vlen, flags);
    for (unsigned i = 0; vec != NULL && i < vlen && i < UIO_MAXIOV; i++)
        if (vec[i].msg_hdr.msg_controllen > 0)
            each_right(&vec[i].msg_hdr, unshare_right);
    if (gr_hook_g() == NULL)
        return gr_real.sendmmsg(fd, vec, vlen, flags);
    return mmsg_start(&c, NULL);
}

/* ---- sendfile, splice, tee, vmsplice. */

/*
 * These move data between two descriptors (vmsplice: between a pipe and memory). A side may
 * block when it is a pipe, a socket or another pollable descriptor that is blocking in the
 * kernel's eyes (fs/splice.c): a pipe side is non-blocking with SPLICE_F_NONBLOCK or its own
 * O_NONBLOCK (pipe to pipe and tee: either pipe's; vmsplice: the flag only; sendfile into a
 * pipe: the pipe's), any other side with its O_NONBLOCK. For the sides that may block:
 *  - pipe sides of splice, tee and vmsplice: the call is made with SPLICE_F_NONBLOCK added,
 *    and on EAGAIN the G parks on the pipe that is not ready;
 *  - other sides, and every side of sendfile: the G parks until they are ready, then the real
 *    call is made in syscall mode. If it blocks all the same (another reader came first, or
 *    there is more to send than room: a blocking sendfile to a socket returns only when all is
 *    sent, or at a signal with the part sent, as natively), the M blocks and sysmon hands its
 *    P on.
 * A call that involves a regular file (or anything epoll refuses) runs in syscall mode.
 * EAGAIN reaches the program only from a side it made non-blocking. Parks are cancellation
 * points; a signal restarts the call under SA_RESTART, as the kernel restarts these calls
 * (not with SO_RCVTIMEO/SO_SNDTIMEO set on a socket side), else fails with EINTR.
 */
#ifndef SPLICE_F_NONBLOCK
#define SPLICE_F_NONBLOCK 0x02
#endif

enum { X_SENDFILE, X_SPLICE, X_TEE, X_VMSPLICE };

struct side {
    int fd;
    unsigned dir;                /* GR_POLL_READ: data comes from it */
    struct polldesc *pd;         /* NULL: not pollable, never waited for */
    bool pipe;
    bool sock;
    bool wait;                   /* blocks in the kernel's eyes: the G waits for it instead */
    int64_t deadline;            /* SO_RCVTIMEO/SO_SNDTIMEO deadline; -2 not computed yet */
    struct gr_pollticket t;
};

struct xfer {
    int call;
    int n;                       /* sides: 2, or 1 for vmsplice */
    struct side s[2];
    loff_t *off_in, *off_out;
    size_t len;
    unsigned flags;
    const struct iovec *iov;
    unsigned long nr;
    bool file;                   /* a side that is neither pipe nor socket: syscall mode */
};

/* The call, in syscall mode unless only pipes are involved (then it cannot block long:
 * SPLICE_F_NONBLOCK, or the G waited). */
static long
xfer_now(struct xfer *x, unsigned flags, bool may_block)
{
    switch (x->call) {
    case X_SENDFILE:
        return raw_call(may_block, SYS_sendfile, x->s[1].fd, x->s[0].fd, (long)x->off_in,
                        (long)x->len, 0, 0);
    case X_SPLICE:
        return raw_call(may_block, SYS_splice, x->s[0].fd, (long)x->off_in, x->s[1].fd,
                        (long)x->off_out, (long)x->len, flags);
    case X_TEE:
        return raw_call(may_block, SYS_tee, x->s[0].fd, x->s[1].fd, (long)x->len, flags, 0, 0);
    default:
        return raw_call(may_block, SYS_vmsplice, x->s[0].fd, (long)x->iov, (long)x->nr, flags,
                        0, 0);
    }
}

/* What the side is: pipe, socket, other pollable (pd set), or a file (*file set). Whether it
 * blocks is xfer_classify's question. */
static void
side_init(struct side *sd, int fd, unsigned dir, bool *file)
{
    struct stat st;
    int kind;

    sd->fd = fd;
    sd->dir = dir;
    sd->pd = NULL;
    sd->pipe = sd->sock = sd->wait = false;
    sd->deadline = -2;
    sd->t.woken = false;
    if (gr_syscall2(SYS_fstat, fd, &st) != 0)
        return;                          /* the call itself says what is wrong */
    sd->pipe = S_ISFIFO(st.st_mode);
    sd->sock = S_ISSOCK(st.st_mode);
    if (!sd->pipe && !sd->sock) {
        *file = true;
        if (!S_ISCHR(st.st_mode))
            return;
    }
    sd->pd = gr_fdtab_get(fd);
    if (sd->pd == NULL)
        return;
    kind = gr_fdtab_kind(fd, sd->pd);
    if (kind != PD_KIND_SOCKET && kind != PD_KIND_OTHER)
        sd->pd = NULL;                   /* a device epoll refuses: syscall mode */
}

static void
xfer_classify(struct xfer *x)
{
    bool nbflag = x->call != X_SENDFILE && (x->flags & SPLICE_F_NONBLOCK);
    bool pipes_nb = nbflag;

    /* Pipe to pipe (splice, tee): either pipe's O_NONBLOCK makes both non-blocking. */
    if (x->n == 2 && x->s[0].pipe && x->s[1].pipe && x->call != X_SENDFILE)
        for (int i = 0; i < 2; i++)
            if (x->s[i].pd != NULL && gr_fdtab_nonblock(x->s[i].fd, x->s[i].pd))
                pipes_nb = true;
    for (int i = 0; i < x->n; i++) {
        struct side *sd = &x->s[i];
        if (sd->pd == NULL)
            continue;
        if (sd->pipe && pipes_nb)
            continue;
        if (sd->pipe && x->call == X_VMSPLICE)
            sd->wait = true;             /* vmsplice heeds the flag only */
        else
            sd->wait = !gr_fdtab_nonblock(sd->fd, sd->pd);
    }
}

/*
 * A socket that polls not writable may still take data: POLLOUT waits for a quarter (AF_UNIX)
 * or a third (TCP) of the send buffer to be free, a blocking send only for some room. The
 * kernel would not block yet, so neither does the G: room is queued bytes below SO_SNDBUF.
 * When the buffer is full, the sender natively sleeps until the same edge POLLOUT reports.
 */
static bool
sock_has_room(int fd)
{
    int queued = 0, sndbuf = 0;
    socklen_t len = sizeof(sndbuf);

    if (gr_syscall3(SYS_ioctl, fd, SIOCOUTQ, &queued) != 0 ||
        gr_syscall6(SYS_getsockopt, fd, SOL_SOCKET, SO_SNDBUF, (long)&sndbuf, (long)&len, 0) != 0)
        return false;
    return queued < sndbuf;
}

/* The first side in set (wait or not) that is not ready, or NULL. */
static struct side *
xfer_unready(struct xfer *x, bool waiting, bool pipes_too)
{
    for (int i = 0; i < x->n; i++) {
        struct side *sd = &x->s[i];
        if (sd->pd == NULL || sd->wait != waiting || (sd->pipe && !pipes_too))
            continue;
        if (ready_now(sd->fd, sd->dir == GR_POLL_READ ? POLLIN : POLLOUT) != 0)
            continue;
        if (sd->sock && sd->dir == GR_POLL_WRITE && sock_has_room(sd->fd))
            continue;
        return sd;
    }
    return NULL;
}

/* The loop (comment above). Raw result. */
static long
xfer_run(struct xfer *x)
{
    bool may_block = x->file, any = false, pipe_wait = false;
    unsigned add;
    int races = 0;
    long r;

    xfer_classify(x);
    for (int i = 0; i < x->n; i++) {
        any |= x->s[i].wait;
        pipe_wait |= x->s[i].wait && x->s[i].pipe;
        if (x->s[i].pd == NULL || !x->s[i].pipe)
            may_block = true;
    }
    if (x->call == X_SENDFILE)
        may_block = true;
    if (!any)
        return xfer_now(x, x->flags, may_block);
    add = x->call != X_SENDFILE && pipe_wait ? SPLICE_F_NONBLOCK : 0;
    for (;;) {
        struct side *sd;
        for (int i = 0; i < x->n; i++)
            if (x->s[i].wait)
                gr_netpoll_snap(&x->s[i].t, x->s[i].fd, x->s[i].pd, x->s[i].dir);
        /* Readiness first where the call cannot be told not to block. */
        sd = xfer_unready(x, true, x->call == X_SENDFILE);
        if (sd == NULL) {
            r = xfer_now(x, x->flags | add, may_block);
            if (r != -EAGAIN || add == 0) {
                if (r >= 0)
                    for (int i = 0; i < x->n; i++)
                        if (x->s[i].wait)
                            gr_netpoll_pass(&x->s[i].t);
                return r;
            }
            /* Which side said EAGAIN: one to wait for, or one the program made so. */
            sd = xfer_unready(x, true, true);
            if (sd == NULL && xfer_unready(x, false, true) != NULL)
                return -EAGAIN;
            if (sd == NULL) {
                if (++races < 3)
                    continue;
                break;                   /* readiness keeps saying yes: block in the kernel */
            }
        }
        r = io_park(&sd->t, sock_deadline(&sd->deadline, sd->sock, sd->fd, sd->pd, sd->dir),
                    x->call == X_SENDFILE ? "sendfile" : "splice");
        if (r < 0)
            return r;
        if (r == PARK_SYSCALL)
            break;
    }
    return xfer_now(x, x->flags, true);
}

static ssize_t
xfer_start(struct xfer *x, int in, int out)
{
    x->file = false;
    side_init(&x->s[0], in, GR_POLL_READ, &x->file);
    if (x->n == 2)
        side_init(&x->s[1], out, GR_POLL_WRITE, &x->file);
    return gr_hook_ret(xfer_run(x));
}

GR_EXPORT ssize_t
sendfile(int out, int in, off_t *off, size_t len)
{
    struct xfer x = { .call = X_SENDFILE, .n = 2, .off_in = (loff_t *)off, .len = len };

    if (gr_hook_g() == NULL)
        return gr_real.sendfile(out, in, off, len);
    return xfer_start(&x, in, out);
}

GR_EXPORT ssize_t
sendfile64(int out, int in, off64_t *off, size_t len)
{
    struct xfer x = { .call = X_SENDFILE, .n = 2, .off_in = (loff_t *)off, .len = len };

    if (gr_hook_g() == NULL)
        return gr_real.sendfile64(out, in, off, len);
    return xfer_start(&x, in, out);
}

GR_EXPORT ssize_t
splice(int in, loff_t *off_in, int out, loff_t *off_out, size_t len, unsigned int flags)
{
    struct xfer x = { .call = X_SPLICE, .n = 2, .off_in = off_in, .off_out = off_out,
                      .len = len, .flags = flags };

    if (gr_hook_g() == NULL)
        return gr_real.splice(in, off_in, out, off_out, len, flags);
    return xfer_start(&x, in, out);
}

GR_EXPORT ssize_t
tee(int in, int out, size_t len, unsigned int flags)
{
    struct xfer x = { .call = X_TEE, .n = 2, .len = len, .flags = flags };

    if (gr_hook_g() == NULL)
        return gr_real.tee(in, out, len, flags);
    return xfer_start(&x, in, out);
}

/* vmsplice moves data into the pipe when fd was opened for writing, else out of it. */
GR_EXPORT ssize_t
vmsplice(int fd, const struct iovec *iov, size_t nr, unsigned int flags)
{
    struct xfer x = { .call = X_VMSPLICE, .n = 1, .iov = iov, .nr = nr, .flags = flags };
    long fl;

    if (gr_hook_g() == NULL)
        return gr_real.vmsplice(fd, iov, nr, flags);
    fl = gr_syscall2(SYS_fcntl, fd, F_GETFL);
    if (fl < 0)
        return gr_hook_ret(fl);
    x.file = false;
    side_init(&x.s[0], fd, (fl & O_ACCMODE) == O_RDONLY ? GR_POLL_READ : GR_POLL_WRITE, &x.file);
    return gr_hook_ret(xfer_run(&x));
}

/* ---- accept and connect. */

static int
accept_hook(int fd, struct sockaddr *addr, socklen_t *alen, int flags)
{
    struct gr_pollticket t = { .woken = false };
    struct polldesc *pd = gr_fdtab_get(fd);
    int64_t deadline = -2;
    uint32_t hgen;
    long r;

    if (pd == NULL) {
        r = gr_blocking_syscall4(SYS_accept4, fd, addr, alen, flags);
        goto out;
    }
    for (;;) {
        gr_netpoll_snap(&t, fd, pd, GR_POLL_READ);
        if (gr_fdtab_nb_hold(fd, pd, &hgen)) {
            r = gr_syscall4(SYS_accept4, fd, addr, alen, flags);
            gr_fdtab_nb_release(fd, pd, hgen);
        } else {
            if (ready_now(fd, POLLIN) == 0)
                r = -EAGAIN;
            else
                r = gr_blocking_syscall4(SYS_accept4, fd, addr, alen, flags);
        }
        if (r >= 0) {
            gr_netpoll_pass(&t);
            goto out;
        }
        if (r != -EAGAIN || gr_fdtab_nonblock(fd, pd))
            goto out;
        r = io_park(&t, sock_deadline(&deadline, true, fd, pd, GR_POLL_READ), "accept");
        if (r < 0)
            goto out;
        if (r != PARK_SYSCALL)
            continue;
        r = gr_blocking_syscall4(SYS_accept4, fd, addr, alen, flags);
        break;
    }
out:
    /* The new socket's facts, however it was accepted: its type is the listener's. */
    if (r >= 0)
        gr_hook_fd_new((int)r, PD_KIND_SOCKET, (flags & SOCK_NONBLOCK) != 0,
                       pd != NULL ? __atomic_load_n(&pd->stream, __ATOMIC_RELAXED)
                                  : PD_STREAM_UNKNOWN,
                       false);
    return (int)gr_hook_ret(r);
}

GR_EXPORT int
accept4(int fd, struct sockaddr *addr, socklen_t *alen, int flags)
{
    if (gr_hook_g() == NULL)
        return gr_real.accept4(fd, addr, alen, flags);
    return accept_hook(fd, addr, alen, flags);
}

GR_EXPORT int
accept(int fd, struct sockaddr *addr, socklen_t *alen)
{
    if (gr_hook_g() == NULL)
        return gr_real.accept(fd, addr, alen);
    return accept_hook(fd, addr, alen, 0);
}

/* The poller cannot watch the connecting socket: wait for the handshake in the kernel, until
 * deadline (-1: none). Raw poll result: 0 at the deadline. */
static long
handshake_in_kernel(int fd, int64_t deadline)
{
    struct pollfd p = { .fd = fd, .events = POLLOUT };
    int64_t rel = deadline < 0 ? -1 : deadline - gr_nanotime();
    long ms = rel < 0 ? (deadline < 0 ? -1 : 0) : (long)((rel + 999999) / 1000000);

    return gr_blocking_syscall3(SYS_poll, &p, 1, ms);
}

GR_EXPORT int
connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    struct gr_pollticket t = { .woken = false };
    struct polldesc *pd;
    int64_t deadline = -2;
    uint32_t hgen;
    socklen_t elen;
    int soerr;
    long r;

    if (gr_hook_g() == NULL)
        return gr_real.connect(fd, addr, len);
    pd = gr_fdtab_get(fd);
    if (pd == NULL)
        return (int)gr_hook_ret(gr_blocking_syscall3(SYS_connect, fd, addr, len));
    if (!gr_fdtab_nb_hold(fd, pd, &hgen)) {
        if (gr_fdtab_nonblock(fd, pd))
            return (int)gr_hook_ret(gr_syscall3(SYS_connect, fd, addr, len));
        /* Blocking, but shared with another number or process: no toggling. */
        return (int)gr_hook_ret(gr_blocking_syscall3(SYS_connect, fd, addr, len));
    }
    r = gr_syscall3(SYS_connect, fd, addr, len);
    gr_fdtab_nb_release(fd, pd, hgen);
    if (r == -EAGAIN)                    /* AF_UNIX with a full backlog: only blocking waits */
        return (int)gr_hook_ret(gr_blocking_syscall3(SYS_connect, fd, addr, len));
    if (r != -EINPROGRESS)
        return (int)gr_hook_ret(r);
    sock_deadline(&deadline, true, fd, pd, GR_POLL_WRITE);     /* counted from here */
    for (;;) {
        gr_netpoll_snap(&t, fd, pd, GR_POLL_WRITE);
        if (ready_now(fd, POLLOUT) != 0)
            break;
        r = io_park(&t, deadline, "connect");
        if (r == -EAGAIN)                /* SO_SNDTIMEO: the handshake goes on, as on Linux */
            return (int)gr_hook_ret(-EINPROGRESS);
        if (r < 0)                       /* -EINTR (the handshake goes on), -EBADF */
            return (int)gr_hook_ret(r);
        if (r == PARK_SYSCALL) {
            r = handshake_in_kernel(fd, deadline);
            if (r == 0)
                return (int)gr_hook_ret(-EINPROGRESS);
            if (r < 0)
                return (int)gr_hook_ret(r);
            break;
        }
        /* PARK_AGAIN, or PARK_RESTART: a restarted connect waits for the same handshake. */
    }
    soerr = 0;
    elen = sizeof(soerr);
    r = gr_syscall6(SYS_getsockopt, fd, SOL_SOCKET, SO_ERROR, (long)&soerr, (long)&elen, 0);
    if (r < 0)
        return (int)gr_hook_ret(r);
    return (int)gr_hook_ret(soerr != 0 ? -soerr : 0);
}
