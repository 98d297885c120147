/*
 * hooks/io_rw.c: transfers on one descriptor - read, readv, write, writev, recv, recvfrom,
 * recvmsg, send, sendto, sendmsg and the __*_chk variants - and the single-descriptor engine
 * behind them (gr_io_run, which io_mmsg.c reuses to finish a short message).
 *
 * The attempt depends on the descriptor (fdtab.h, DESIGN.md):
 *  - sockets: recvfrom/recvmsg/sendto/sendmsg with MSG_DONTWAIT added (never MSG_NOSIGNAL);
 *  - other pollable descriptors: preadv2/pwritev2(..., -1, RWF_NOWAIT); where that gives
 *    EOPNOTSUPP (FIFOs, ttys, eventfd writes), remembered per direction: poll the descriptor
 *    with a zero timeout, and once it is ready issue the real call in syscall mode;
 *  - files and whatever epoll refuses: the real call in syscall mode, no attempt.
 * Blocking writes, and MSG_WAITALL receives on stream sockets, go on until everything is
 * transferred, as the kernel's blocking calls do; an error or a timeout after some progress
 * returns the progress. Between attempts the G parks (gr_io_park, io.h).
 *
 * No lock of its own: it parks through netpoll.h, reads and caches descriptor facts through
 * fdtab.h, starts generations for descriptors received with SCM_RIGHTS and ends "sole" for
 * those sent (io.c), and makes the real call in syscall mode where it must.
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "hooks/fd.h"
#include "hooks/hook.h"
#include "hooks/io.h"

#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008
#endif

extern void __chk_fail(void) __attribute__((noreturn));

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

    if (gr_load_relaxed(&d->nowait) != PD_NOWAIT_NO) {
        r = gr_syscall6(io->dir == GR_POLL_READ ? SYS_preadv2 : SYS_pwritev2, io->fd, (long)iov,
                        cnt, -1, 0, RWF_NOWAIT);
        if (r != -EOPNOTSUPP)
            return r;
        gr_store_relaxed(&d->nowait, (uint8_t)PD_NOWAIT_NO);
    }
    if (gr_io_ready_now(io->fd, io->dir == GR_POLL_READ ? POLLIN : POLLOUT) == 0)
        return -EAGAIN;
    return blocking_call(io);
}

size_t
gr_io_iov_total(const struct iovec *iov, size_t cnt)
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
        return gr_io_iov_total(io->iov, (size_t)io->iovcnt);
    case OP_RECVMSG:
    case OP_SENDMSG:
        return gr_io_iov_total(io->msg->msg_iov, io->msg->msg_iovlen);
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

bool
gr_io_advance(struct io *io, size_t n)
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

/* The loop of attempts and parks (header comment). Raw result. */
long
gr_io_run(struct io *io)
{
    struct gr_pollticket t = { .woken = false };
    int64_t deadline = -2; /* not computed yet */
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
                !gr_fdtab_nonblock(io->fd, io->pd) && gr_io_advance(io, (size_t)r)) {
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
        gr_io_deadline(&deadline, on_socket(io), io->fd, io->pd, io->dir);
        r = gr_io_park(&t, deadline, io->dir == GR_POLL_READ ? "IO read" : "IO write");
        if (r < 0)
            return done > 0 ? (long)done : r;
        if (r == PARK_RESTART && done > 0)
            return (long)done; /* interrupted after a partial transfer: its count */
        if (r == PARK_SYSCALL)
            break; /* epoll refuses it (or no memory): syscall mode */
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
    r = gr_io_run(io);
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
    struct io io = {
        .op = OP_READV, .fd = fd, .dir = GR_POLL_READ, .iov = (struct iovec *)iov, .iovcnt = iovcnt
    };

    if (gr_hook_g() == NULL)
        return gr_real.readv(fd, iov, iovcnt);
    return io_start(&io);
}

GR_EXPORT ssize_t
recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr, socklen_t *alen)
{
    struct io io = { .op = OP_RECV,
                     .fd = fd,
                     .dir = GR_POLL_READ,
                     .buf = buf,
                     .len = len,
                     .flags = flags,
                     .addr = addr,
                     .alen = alen };

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

GR_EXPORT ssize_t
recvmsg(int fd, struct msghdr *msg, int flags)
{
    struct io io = { .op = OP_RECVMSG, .fd = fd, .dir = GR_POLL_READ, .msg = msg, .flags = flags };
    ssize_t r;

    if (gr_hook_native())
        return gr_real.recvmsg(fd, msg, flags);
    r = gr_hook_g() == NULL ? gr_real.recvmsg(fd, msg, flags) : io_start(&io);
    if (r >= 0 && msg->msg_controllen > 0)
        gr_io_each_right(msg, gr_io_right_new);
    return r;
}

/* ---- Writes. */

GR_EXPORT ssize_t
write(int fd, const void *buf, size_t len)
{
    struct io io = {
        .op = OP_WRITE, .fd = fd, .dir = GR_POLL_WRITE, .buf = (char *)buf, .len = len
    };

    if (gr_hook_g() == NULL)
        return gr_real.write(fd, buf, len);
    return io_start(&io);
}

GR_EXPORT ssize_t
writev(int fd, const struct iovec *iov, int iovcnt)
{
    struct io io = { .op = OP_WRITEV,
                     .fd = fd,
                     .dir = GR_POLL_WRITE,
                     .iov = (struct iovec *)iov,
                     .iovcnt = iovcnt };

    if (gr_hook_g() == NULL)
        return gr_real.writev(fd, iov, iovcnt);
    return io_start(&io);
}

GR_EXPORT ssize_t
sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr, socklen_t alen)
{
    struct io io = { .op = OP_SEND,
                     .fd = fd,
                     .dir = GR_POLL_WRITE,
                     .buf = (char *)buf,
                     .len = len,
                     .flags = flags,
                     .addr = (void *)addr,
                     .dlen = alen };

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
    struct io io = { .op = OP_SENDMSG,
                     .fd = fd,
                     .dir = GR_POLL_WRITE,
                     .msg = (struct msghdr *)msg,
                     .flags = flags };

    if (gr_hook_native())
        return gr_real.sendmsg(fd, msg, flags);
    if (msg != NULL && msg->msg_controllen > 0)
        gr_io_each_right(msg, gr_io_right_unshare);
    if (gr_hook_g() == NULL)
        return gr_real.sendmsg(fd, msg, flags);
    return io_start(&io);
}
