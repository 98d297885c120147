/*
 * hooks/fd.c: descriptor lifetime and flags, the bookkeeping side of the netpoller.
 *
 * Every call that creates a descriptor (socket, socketpair, pipe, pipe2, eventfd,
 * epoll_create, dup*, F_DUPFD; accept lives in io_sock.c) starts a new generation of its table
 * entry with what the call tells (kind, the program's O_NONBLOCK, "sole"). Every call that
 * closes one (close, dup2/dup3 onto it, close_range, closefrom, fclose, pclose) first takes it
 * out of the epoll set, then wakes its waiters with EBADF (DESIGN.md), then closes.
 * This bookkeeping runs whether or not the caller is a G (threads glibc made, code before
 * boot): a stale entry would otherwise outlive its descriptor. In native mode everything
 * passes straight through.
 *
 * The runtime's own descriptors (gr_fd_is_runtime) look closed to the program: close, dup2,
 * dup3 and epoll_ctl on them fail with EBADF, and close_range/closefrom step around them.
 *
 * Flags: the program always sees exactly the flags it set. fcntl F_GETFL/F_SETFL and ioctl
 * FIONBIO go through fdtab (O_NONBLOCK holds of connect/accept); F_SETLKW and F_OFD_SETLKW,
 * which can block for long, run in syscall mode.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hooks/fd.h"
#include "hooks/hook.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1u << 2)
#endif
#ifndef SO_RCVTIMEO_NEW
#define SO_RCVTIMEO_NEW 66
#define SO_SNDTIMEO_NEW 67
#endif

/*
 * Forks: every description open at a fork is shared with the other process from then on, so
 * "sole" ends (the fork epoch), and the child needs its own epoll instance. The handlers are
 * registered before the first descriptor is ever marked sole.
 */
static void
fork_parent(void)
{
    gr_xadd(&gr_fdtab_fork_epoch, 1);
}

static void
fork_child(void)
{
    gr_xadd(&gr_fdtab_fork_epoch, 1);
    gr_netpoll_fork_child();
}

void
gr_hook_fd_forked(bool child)
{
    if (child)
        fork_child();
    else
        fork_parent();
}

static void
watch_forks(void)
{
    static struct gr_atomic_u32 state; /* atomic: 0 not yet, 1 registering, 2 done */
    uint32_t zero = 0;

    if (gr_load_acquire(&state) == 2)
        return;
    if (gr_cas(&state, &zero, 1)) {
        pthread_atfork(NULL, fork_parent, fork_child);
        gr_store_release(&state, 2);
        return;
    }
    while (gr_load_acquire(&state) != 2)
        gr_cpu_relax();
}

void
gr_hook_fd_new(int fd, uint8_t kind, bool nonblock, uint8_t stream, bool timeo_known)
{
    struct pd_facts f = {
        .kind = kind,
        .nonblock = nonblock ? PD_NB_ON : PD_NB_OFF,
        .stream = stream,
        .sole = true,
        .timeo_known = timeo_known,
    };

    watch_forks();
    gr_netpoll_fd_new(fd, &f);
}

/* ---- Closing. */

GR_EXPORT int
close(int fd)
{
    if (gr_hook_native())
        return gr_real.close(fd);
    if (gr_fd_is_runtime(fd)) {
        errno = EBADF;
        return -1;
    }
    gr_netpoll_fd_close(fd);
    if (gr_hook_g() == NULL)
        return gr_real.close(fd);
    /* The last close of a socket with SO_LINGER, or of a file on NFS, can block. */
    return (int)gr_hook_ret(gr_blocking_syscall1(SYS_close, fd));
}

static int
stream_fd(FILE *fp)
{
    int saved = errno, fd = fp != NULL ? fileno_unlocked(fp) : -1;

    errno = saved;
    return fd;
}

GR_EXPORT int
fclose(FILE *fp)
{
    int fd;

    if (!gr_hook_native() && (fd = stream_fd(fp)) >= 0 && !gr_fd_is_runtime(fd))
        gr_netpoll_fd_close(fd);
    return gr_real.fclose(fp);
}

GR_EXPORT int
pclose(FILE *fp)
{
    int fd;

    if (!gr_hook_native() && (fd = stream_fd(fp)) >= 0 && !gr_fd_is_runtime(fd))
        gr_netpoll_fd_close(fd);
    return gr_real.pclose(fp);
}

static void
close_entry(int fd, struct polldesc *pd)
{
    (void)pd;
    if (!gr_fd_is_runtime(fd))
        gr_netpoll_fd_close(fd);
}

/*
 * The runtime's descriptors inside [lo, hi], ascending, found by listing /proc/self/fd with
 * raw calls (no allocation: closefrom runs in fork children). Returns how many, or -1 when
 * the directory cannot be read.
 */
static int
runtime_fds_in(unsigned lo, unsigned hi, int *out, int max)
{
    char buf[4096];
    int dir, n = 0;
    long len;

    dir = (int)gr_syscall4(SYS_openat, AT_FDCWD, "/proc/self/fd",
                           O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dir < 0)
        return -1;
    while ((len = gr_syscall3(SYS_getdents64, dir, buf, sizeof(buf))) > 0) {
        for (long off = 0; off < len;) {
            struct dirent64 *de = (struct dirent64 *)(buf + off);
            unsigned v = 0;
            const char *s = de->d_name;
            off += de->d_reclen;
            if (*s < '0' || *s > '9')
                continue;
            while (*s >= '0' && *s <= '9')
                v = v * 10 + (unsigned)(*s++ - '0');
            if (v < lo || v > hi || (int)v == dir || !gr_fd_is_runtime((int)v) || n == max)
                continue;
            /* Insertion keeps the list sorted; it is short. */
            int i = n++;
            while (i > 0 && (unsigned)out[i - 1] > v) {
                out[i] = out[i - 1];
                i--;
            }
            out[i] = (int)v;
        }
    }
    gr_syscall1(SYS_close, dir);
    return len < 0 ? -1 : n;
}

/* close_range over [lo, hi] stepping around the runtime's descriptors. 0 or -errno. */
static long
close_span(unsigned lo, unsigned hi, unsigned flags)
{
    int rt[300];
    int n = runtime_fds_in(lo, hi, rt, (int)GR_ARRAY_LEN(rt));
    unsigned cur = lo;
    long r;

    if (n < 0) {
        /* No /proc: test each number up to the highest a runtime descriptor can have. */
        n = 0;
        for (unsigned fd = lo; fd <= hi && fd < (1u << 20) && n < (int)GR_ARRAY_LEN(rt); fd++)
            if (gr_fd_is_runtime((int)fd))
                rt[n++] = (int)fd;
    }
    for (int i = 0; i < n; i++) {
        if ((unsigned)rt[i] > cur) {
            r = gr_syscall3(SYS_close_range, cur, (unsigned)rt[i] - 1, flags);
            if (r != 0)
                return r;
        }
        cur = (unsigned)rt[i] + 1;
        if (cur == 0)
            return 0;
    }
    if (cur <= hi)
        return gr_syscall3(SYS_close_range, cur, hi, flags);
    return 0;
}

GR_EXPORT int
close_range(unsigned first, unsigned last, int flags)
{
    if (gr_hook_native() || first > last || ((unsigned)flags & CLOSE_RANGE_CLOEXEC))
        return gr_real.close_range(first, last, flags); /* CLOEXEC closes nothing */
    gr_fdtab_each(first, last, close_entry);
    return (int)gr_hook_ret(close_span(first, last, (unsigned)flags));
}

GR_EXPORT void
closefrom(int lowfd)
{
    unsigned lo = lowfd < 0 ? 0 : (unsigned)lowfd;

    if (gr_hook_native()) {
        gr_real.closefrom(lowfd);
        return;
    }
    gr_fdtab_each(lo, ~0u, close_entry);
    if (close_span(lo, ~0u, 0) != 0) {
        /* As glibc: fall back to one close per open descriptor. */
        for (unsigned fd = lo; fd < (1u << 20); fd++)
            if (!gr_fd_is_runtime((int)fd))
                gr_syscall1(SYS_close, fd);
    }
}

/* ---- Duplicating. */

GR_EXPORT int
dup(int oldfd)
{
    int fd = gr_real.dup(oldfd);

    if (fd >= 0 && !gr_hook_native())
        gr_netpoll_fd_dup(oldfd, fd);
    return fd;
}

static int
dup_onto(int oldfd, int newfd, int flags, bool three)
{
    int fd;

    if (gr_fd_is_runtime(oldfd) || gr_fd_is_runtime(newfd)) {
        errno = EBADF;
        return -1;
    }
    /* newfd is closed only if oldfd is valid and differs: do the bookkeeping only then. */
    if (oldfd != newfd && gr_syscall2(SYS_fcntl, oldfd, F_GETFD) >= 0)
        gr_netpoll_fd_close(newfd);
    fd = three ? gr_real.dup3(oldfd, newfd, flags) : gr_real.dup2(oldfd, newfd);
    if (fd >= 0 && oldfd != newfd)
        gr_netpoll_fd_dup(oldfd, fd);
    return fd;
}

GR_EXPORT int
dup2(int oldfd, int newfd)
{
    if (gr_hook_native())
        return gr_real.dup2(oldfd, newfd);
    return dup_onto(oldfd, newfd, 0, false);
}

GR_EXPORT int
dup3(int oldfd, int newfd, int flags)
{
    if (gr_hook_native())
        return gr_real.dup3(oldfd, newfd, flags);
    return dup_onto(oldfd, newfd, flags, true);
}

/* ---- Flags. */

static int
fcntl_hook(int (*real)(int, int, ...), int fd, int cmd, long arg)
{
    struct polldesc *pd;
    long r;
    int fl;

    if (gr_hook_native())
        return real(fd, cmd, arg);
    switch (cmd) {
    case F_GETFL:
        pd = gr_fdtab_peek(fd);
        if (pd != NULL && gr_fdtab_getfl(pd, &fl))
            return fl;
        return real(fd, cmd);
    case F_SETFL:
        pd = gr_fdtab_get(fd);
        if (pd != NULL && gr_fdtab_setfl(fd, pd, (int)arg, &r))
            return (int)gr_hook_ret(r);
        r = real(fd, cmd, (int)arg);
        if (r == 0 && pd != NULL)
            gr_fdtab_set_nonblock(pd, (arg & O_NONBLOCK) != 0);
        return (int)r;
    case F_DUPFD:
    case F_DUPFD_CLOEXEC:
        r = real(fd, cmd, (int)arg);
        if (r >= 0)
            gr_netpoll_fd_dup(fd, (int)r);
        return (int)r;
    case F_SETLKW:
    case F_OFD_SETLKW:
        if (gr_hook_g() == NULL)
            return real(fd, cmd, arg);
        return (int)gr_hook_ret(gr_blocking_syscall3(SYS_fcntl, fd, cmd, arg));
    default:
        return real(fd, cmd, arg);
    }
}

GR_EXPORT int
fcntl(int fd, int cmd, ...)
{
    va_list ap;
    long arg;

    va_start(ap, cmd);
    arg = va_arg(ap, long); /* every argument kind fits a long on x86_64 */
    va_end(ap);
    return fcntl_hook(gr_real.fcntl, fd, cmd, arg);
}

GR_EXPORT int
fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    long arg;

    va_start(ap, cmd);
    arg = va_arg(ap, long);
    va_end(ap);
    return fcntl_hook(gr_real.fcntl64, fd, cmd, arg);
}

GR_EXPORT int
ioctl(int fd, unsigned long req, ...)
{
    struct polldesc *pd;
    va_list ap;
    void *arg;
    long r;

    va_start(ap, req);
    arg = va_arg(ap, void *);
    va_end(ap);
    if (gr_hook_native() || req != FIONBIO || arg == NULL)
        return gr_real.ioctl(fd, req, arg);
    pd = gr_fdtab_get(fd);
    if (pd != NULL && gr_fdtab_setnb(fd, pd, *(int *)arg != 0, &r))
        return (int)gr_hook_ret(r);
    r = gr_real.ioctl(fd, req, arg);
    if (r == 0 && pd != NULL)
        gr_fdtab_set_nonblock(pd, *(int *)arg != 0);
    return (int)r;
}

GR_EXPORT int
setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    struct polldesc *pd;
    int r = gr_real.setsockopt(fd, level, name, val, len);

    if (r == 0 && !gr_hook_native() && level == SOL_SOCKET && (pd = gr_fdtab_get(fd)) != NULL) {
        /* Read back once needed: the kernel rounds, and a negative value means "at once". */
        if (name == SO_RCVTIMEO || name == SO_RCVTIMEO_NEW)
            gr_fdtab_set_timeout(pd, GR_POLL_READ, -1);
        else if (name == SO_SNDTIMEO || name == SO_SNDTIMEO_NEW)
            gr_fdtab_set_timeout(pd, GR_POLL_WRITE, -1);
    }
    return r;
}

/* ---- Creating. */

GR_EXPORT int
socket(int domain, int type, int protocol)
{
    int fd = gr_real.socket(domain, type, protocol);

    if (fd >= 0 && !gr_hook_native())
        gr_hook_fd_new(fd, PD_KIND_SOCKET, (type & SOCK_NONBLOCK) != 0,
                       (type & 0xf) == SOCK_STREAM ? PD_STREAM_YES : PD_STREAM_NO, true);
    return fd;
}

GR_EXPORT int
socketpair(int domain, int type, int protocol, int sv[2])
{
    int r = gr_real.socketpair(domain, type, protocol, sv);

    if (r == 0 && !gr_hook_native()) {
        for (int i = 0; i < 2; i++)
            gr_hook_fd_new(sv[i], PD_KIND_SOCKET, (type & SOCK_NONBLOCK) != 0,
                           (type & 0xf) == SOCK_STREAM ? PD_STREAM_YES : PD_STREAM_NO, true);
    }
    return r;
}

/* A pipe the leak mode's unwinder opens (libunwind's, once) is the runtime's: moved to its
 * range, where the program never sees it. */
static bool
unwinder_pipe(int fds[2])
{
    if (!gr_gc_leak || !gr_gc_unwinding())
        return false;
    fds[0] = gr_fd_reserve(fds[0]);
    fds[1] = gr_fd_reserve(fds[1]);
    return true;
}

GR_EXPORT int
pipe2(int fds[2], int flags)
{
    int r = gr_real.pipe2(fds, flags);

    if (r == 0 && unwinder_pipe(fds))
        return r;
    if (r == 0 && !gr_hook_native()) {
        gr_hook_fd_new(fds[0], PD_KIND_OTHER, (flags & O_NONBLOCK) != 0, PD_STREAM_NO, false);
        gr_hook_fd_new(fds[1], PD_KIND_OTHER, (flags & O_NONBLOCK) != 0, PD_STREAM_NO, false);
    }
    return r;
}

GR_EXPORT int
pipe(int fds[2])
{
    int r = gr_real.pipe(fds);

    if (r == 0 && unwinder_pipe(fds))
        return r;
    if (r == 0 && !gr_hook_native()) {
        gr_hook_fd_new(fds[0], PD_KIND_OTHER, false, PD_STREAM_NO, false);
        gr_hook_fd_new(fds[1], PD_KIND_OTHER, false, PD_STREAM_NO, false);
    }
    return r;
}

GR_EXPORT int
eventfd(unsigned int count, int flags)
{
    int fd = gr_real.eventfd(count, flags);

    if (fd >= 0 && !gr_hook_native())
        gr_hook_fd_new(fd, PD_KIND_OTHER, (flags & EFD_NONBLOCK) != 0, PD_STREAM_NO, false);
    return fd;
}

GR_EXPORT int
epoll_create1(int flags)
{
    int fd = gr_real.epoll_create1(flags);

    if (fd >= 0 && !gr_hook_native())
        gr_hook_fd_new(fd, PD_KIND_OTHER, false, PD_STREAM_NO, false);
    return fd;
}

GR_EXPORT int
epoll_create(int size)
{
    int fd = gr_real.epoll_create(size);

    if (fd >= 0 && !gr_hook_native())
        gr_hook_fd_new(fd, PD_KIND_OTHER, false, PD_STREAM_NO, false);
    return fd;
}

GR_EXPORT int
epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    if (!gr_hook_native() && (gr_fd_is_runtime(epfd) || gr_fd_is_runtime(fd))) {
        errno = EBADF;
        return -1;
    }
    return gr_real.epoll_ctl(epfd, op, fd, ev);
}
