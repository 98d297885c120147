/*
 * hooks/io_sock.c: setting up a connection, accept, accept4 and connect.
 *
 * accept/accept4 on a blocking listener: when the listener is "sole" (created by this process,
 * not shared), O_NONBLOCK is held for the accept call only (fdtab.h); otherwise readiness, then
 * the real call in syscall mode (if another process wins the race, that M blocks and sysmon
 * hands its P on). connect on a blocking socket: O_NONBLOCK held around the call, then wait
 * for POLLOUT and read SO_ERROR; SO_SNDTIMEO expiring gives EINPROGRESS, as on Linux.
 *
 * No lock of its own: O_NONBLOCK holds are fdtab.h's (under pd->lock inside those calls); it
 * parks through netpoll.h, and starts the generation of each accepted socket (fd.h).
 */
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "hooks/fd.h"
#include "hooks/hook.h"
#include "hooks/io.h"

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
            if (gr_io_ready_now(fd, POLLIN) == 0)
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
        gr_io_deadline(&deadline, true, fd, pd, GR_POLL_READ);
        r = gr_io_park(&t, deadline, "accept");
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
                       pd != NULL ? gr_load_relaxed(&pd->stream) : PD_STREAM_UNKNOWN, false);
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
    if (r == -EAGAIN) /* AF_UNIX with a full backlog: only blocking waits */
        return (int)gr_hook_ret(gr_blocking_syscall3(SYS_connect, fd, addr, len));
    if (r != -EINPROGRESS)
        return (int)gr_hook_ret(r);
    gr_io_deadline(&deadline, true, fd, pd, GR_POLL_WRITE); /* counted from here */
    for (;;) {
        gr_netpoll_snap(&t, fd, pd, GR_POLL_WRITE);
        if (gr_io_ready_now(fd, POLLOUT) != 0)
            break;
        r = gr_io_park(&t, deadline, "connect");
        if (r == -EAGAIN) /* SO_SNDTIMEO: the handshake goes on, as on Linux */
            return (int)gr_hook_ret(-EINPROGRESS);
        /*
         * Interrupted, the handshake goes on; a restarted connect waits for it again: -EINTR
         * returns, PARK_RESTART loops like PARK_AGAIN. -EBADF: closed meanwhile.
         */
        if (r < 0)
            return (int)gr_hook_ret(r);
        if (r == PARK_SYSCALL) {
            r = handshake_in_kernel(fd, deadline);
            if (r == 0)
                return (int)gr_hook_ret(-EINPROGRESS);
            if (r < 0)
                return (int)gr_hook_ret(r);
            break;
        }
    }
    soerr = 0;
    elen = sizeof(soerr);
    r = gr_syscall6(SYS_getsockopt, fd, SOL_SOCKET, SO_ERROR, (long)&soerr, (long)&elen, 0);
    if (r < 0)
        return (int)gr_hook_ret(r);
    return (int)gr_hook_ret(soerr != 0 ? -soerr : 0);
}
