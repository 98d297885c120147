/*
 * hooks/io.c: the steps every I/O engine shares (io.h): the park step and how its results map
 * to the native contract, zero-timeout readiness, the lazy SO_RCVTIMEO/SO_SNDTIMEO deadline,
 * and the bookkeeping of descriptors passed with SCM_RIGHTS.
 *
 * No lock of its own: it parks the G through netpoll.h and reads or updates descriptor entries
 * through fdtab.h (pd->lock is taken inside those calls only).
 */
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "hooks/hook.h"
#include "hooks/io.h"

/* poll with a zero timeout is never restarted by the kernel, so a signal's EINTR (preemption)
 * is retried here. */
short
gr_io_ready_now(int fd, short events)
{
    struct pollfd p = { .fd = fd, .events = events };
    long r;

    do {
        r = gr_syscall3(SYS_poll, &p, 1, 0);
    } while (r == -EINTR);
    return r < 0 ? POLLERR : p.revents;
}

void
gr_io_deadline(int64_t *deadline, bool sock, int fd, struct polldesc *pd, unsigned dir)
{
    if (*deadline == -2) {
        int64_t to = sock ? gr_fdtab_timeout(fd, pd, dir) : 0;
        *deadline = to > 0 ? gr_nanotime() + to : -1;
    }
}

/*
 * A handler ran while the G waited (pthread_kill). As the kernel: the call fails with EINTR
 * unless every handler had SA_RESTART; with a socket timeout set it always fails (signal(7)).
 */
static bool
signal_fails(int64_t deadline)
{
    bool eintr = gr_signal_eintr();

    return eintr || deadline >= 0;
}

long
gr_io_park(struct gr_pollticket *t, int64_t deadline, const char *reason)
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

void
gr_io_each_right(const struct msghdr *msg, void (*fn)(int fd))
{
    struct msghdr *m = (struct msghdr *)msg; /* CMSG_NXTHDR takes it non-const */

    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const int *fds = (const int *)CMSG_DATA(c);
        for (size_t i = 0; i < n; i++)
            fn(fds[i]);
    }
}

void
gr_io_right_new(int fd)
{
    gr_netpoll_fd_new(fd, NULL);
}

void
gr_io_right_unshare(int fd)
{
    struct polldesc *pd = gr_fdtab_peek(fd);

    if (pd != NULL)
        gr_fdtab_unshare(pd);
}
