/*
 * hooks/io_xfer.c: transfers between two descriptors: sendfile, sendfile64, splice, tee and
 * vmsplice.
 *
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
 *
 * No lock of its own: it parks on the side that is not ready through netpoll.h, reads
 * descriptor facts through fdtab.h, and makes the call in syscall mode where it may block.
 */
#include <fcntl.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "hooks/fd.h"
#include "hooks/hook.h"
#include "hooks/io.h"

#ifndef SPLICE_F_NONBLOCK
#define SPLICE_F_NONBLOCK 0x02
#endif

enum { X_SENDFILE, X_SPLICE, X_TEE, X_VMSPLICE };

struct side {
    int fd;
    unsigned dir;        /* GR_POLL_READ: data comes from it */
    struct polldesc *pd; /* NULL: not pollable, never waited for */
    bool pipe;
    bool sock;
    bool wait;        /* blocks in the kernel's eyes: the G waits for it instead */
    int64_t deadline; /* SO_RCVTIMEO/SO_SNDTIMEO deadline; -2 not computed yet */
    struct gr_pollticket t;
};

struct xfer {
    int call;
    int n; /* sides: 2, or 1 for vmsplice */
    struct side s[2];
    loff_t *off_in, *off_out;
    size_t len;
    unsigned flags;
    const struct iovec *iov;
    unsigned long nr;
    bool file; /* a side that is neither pipe nor socket: syscall mode */
};

/* The call, in syscall mode unless only pipes are involved (then it cannot block long:
 * SPLICE_F_NONBLOCK, or the G waited). */
static long
xfer_now(struct xfer *x, unsigned flags, bool may_block)
{
    switch (x->call) {
    case X_SENDFILE:
        return gr_io_syscall6(may_block, SYS_sendfile, x->s[1].fd, x->s[0].fd, (long)x->off_in,
                              (long)x->len, 0, 0);
    case X_SPLICE:
        return gr_io_syscall6(may_block, SYS_splice, x->s[0].fd, (long)x->off_in, x->s[1].fd,
                              (long)x->off_out, (long)x->len, flags);
    case X_TEE:
        return gr_io_syscall6(may_block, SYS_tee, x->s[0].fd, x->s[1].fd, (long)x->len, flags, 0,
                              0);
    default:
        return gr_io_syscall6(may_block, SYS_vmsplice, x->s[0].fd, (long)x->iov, (long)x->nr, flags,
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
        return; /* the call itself says what is wrong */
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
        sd->pd = NULL; /* a device epoll refuses: syscall mode */
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
            sd->wait = true; /* vmsplice heeds the flag only */
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
        if (gr_io_ready_now(sd->fd, sd->dir == GR_POLL_READ ? POLLIN : POLLOUT) != 0)
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
                break; /* readiness keeps saying yes: block in the kernel */
            }
        }
        gr_io_deadline(&sd->deadline, sd->sock, sd->fd, sd->pd, sd->dir);
        r = gr_io_park(&sd->t, sd->deadline, x->call == X_SENDFILE ? "sendfile" : "splice");
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
    struct xfer x = {
        .call = X_SPLICE, .n = 2, .off_in = off_in, .off_out = off_out, .len = len, .flags = flags
    };

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
