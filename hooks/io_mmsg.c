/*
 * hooks/io_mmsg.c: batches of messages on one socket, recvmmsg and sendmmsg.
 *
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
 *
 * No lock of its own: it parks through netpoll.h, reads descriptor facts through fdtab.h,
 * finishes a short message with the single-descriptor engine (gr_io_run, io_rw.c), and keeps
 * the SCM_RIGHTS bookkeeping of io_rw.c's recvmsg and sendmsg (io.c).
 */
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>

#include "hooks/fd.h"
#include "hooks/hook.h"
#include "hooks/io.h"

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
    struct timespec *left; /* recvmmsg: time left for the kernel's check, or NULL */
};

/* The kernel's call for messages [from, vlen); in syscall mode when block is set. */
static long
mmsg_call(struct mmsg *c, unsigned from, int flags, bool block)
{
    if (c->send)
        return gr_io_syscall6(block, SYS_sendmmsg, c->fd, (long)(c->vec + from), c->vlen - from,
                              flags, 0, 0);
    return gr_io_syscall6(block, SYS_recvmmsg, c->fd, (long)(c->vec + from), c->vlen - from, flags,
                          (long)c->left, 0);
}

/* The message just moved was short of its iov and the socket blocks: finish it as a blocking
 * recvmsg (MSG_WAITALL) or sendmsg would. False: it stays short, which ends the call. */
static bool
mmsg_finish(struct mmsg *c, struct mmsghdr *m)
{
    struct io io = { .op = c->send ? OP_SENDMSG : OP_RECVMSG,
                     .fd = c->fd,
                     .dir = c->send ? GR_POLL_WRITE : GR_POLL_READ,
                     .kind = PD_KIND_SOCKET,
                     .pd = c->pd,
                     .msg = &m->msg_hdr,
                     .flags = c->flags & ~MSG_WAITFORONE,
                     .all = true };
    size_t want = gr_io_iov_total(m->msg_hdr.msg_iov, m->msg_hdr.msg_iovlen);
    long r;

    if (!gr_io_advance(&io, m->msg_len)) {
        free(io.heap);
        return false;
    }
    r = gr_io_run(&io);
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
        if (m->msg_len < gr_io_iov_total(m->msg_hdr.msg_iov, m->msg_hdr.msg_iovlen) &&
            (gr_fdtab_nonblock(c->fd, c->pd) || !mmsg_finish(c, m)))
            return true;
        return got == c->vlen;
    }
    if (got == c->vlen) {
        if ((c->flags & MSG_WAITALL) && !(c->flags & MSG_PEEK) &&
            m->msg_len < gr_io_iov_total(m->msg_hdr.msg_iov, m->msg_hdr.msg_iovlen) &&
            gr_fdtab_is_stream(c->fd, c->pd) && !gr_fdtab_nonblock(c->fd, c->pd))
            mmsg_finish(c, m);
        return true;
    }
    if (c->flags & MSG_WAITFORONE)
        return true;
    if (m->msg_hdr.msg_flags & MSG_OOB)
        return true;
    if (c->left != NULL && c->left->tv_sec == 0 && c->left->tv_nsec == 0)
        return true; /* the kernel found the timeout expired */
    if ((c->flags & MSG_WAITALL) && !(c->flags & MSG_PEEK) &&
        m->msg_len < gr_io_iov_total(m->msg_hdr.msg_iov, m->msg_hdr.msg_iovlen) &&
        gr_fdtab_is_stream(c->fd, c->pd) && !gr_fdtab_nonblock(c->fd, c->pd))
        mmsg_finish(c, m); /* short or not, the next message is waited for */
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
            short rev = gr_io_ready_now(c->fd, ev);
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
                    rel = 0; /* already over: the kernel stops after one more message */
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
            deadline = -2; /* the next message waits with its own timeout */
            if (mmsg_done(c, got))
                return got;
            continue;
        }
        if (r == 0)
            return got;
        if (r != -EAGAIN)
            return got > 0 ? (long)got : r;
        if ((got > 0 && !c->send && (c->flags & MSG_WAITFORONE)) || gr_fdtab_nonblock(c->fd, c->pd))
            return got > 0 ? (long)got : r;
        gr_io_deadline(&deadline, true, c->fd, c->pd, dir);
        r = gr_io_park(&t, deadline, c->send ? "sendmmsg" : "recvmmsg");
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
        c->left = tmo; /* the kernel updates the program's timeout itself */
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
            gr_io_each_right(&vec[i].msg_hdr, gr_io_right_new);
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
            gr_io_each_right(&vec[i].msg_hdr, gr_io_right_unshare);
    if (gr_hook_g() == NULL)
        return gr_real.sendmmsg(fd, vec, vlen, flags);
    return mmsg_start(&c, NULL);
}
