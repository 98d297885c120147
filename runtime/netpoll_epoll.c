/*
 * runtime/netpoll_epoll.c: the epoll backend of the netpoller (netpoll.h, "Backend").
 *
 * One epoll instance and one eventfd (the wakeup of gr_netpoll_break), both CLOEXEC and moved
 * to the runtime's reserved high range (gr_fd_reserve), so the program's close, dup2, dup3,
 * close_range and closefrom cannot reach them (the descriptor hooks refuse). Descriptors are
 * registered once per generation, edge-triggered, for both directions:
 * EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLPRI|EPOLLET, epoll_data = gen << 32 | fd.
 *
 * Wakeup: break_pending coalesces breaks; it is cleared before the eventfd is read, so a break
 * that arrives after the read writes again (never lost). The eventfd is level-triggered.
 *
 * Waiting uses epoll_pwait2 (nanosecond timeout); on a kernel without it (ENOSYS), epoll_wait
 * with the timeout rounded up to whole milliseconds, so it never returns early.
 *
 * Only raw system calls: this runs on g0 and on sysmon, and never touches errno.
 * epfd/evfd are written by gr_np_init (under netpoll.c's init lock, before gr_netpoll_inited
 * becomes true, which publishes them) and by gr_np_reinit in a fork child (one thread).
 *
 * Locks: none of its own (netpoll.c's init_lock covers creating the instance).
 */
#include "runtime/netpoll.h"

#include <errno.h>
#include <limits.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>

#include "runtime/arch.h"
#include "runtime/atomic.h"
#include "runtime/base.h"
#include "runtime/sys.h"

#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif

#define BREAK_TOKEN UINT64_MAX
#define MAX_EVENTS  128
#define ARM_EVENTS  (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET)

static struct gr_atomic_i32 epfd = { -1 };
static struct gr_atomic_i32 evfd = { -1 };
static struct gr_atomic_u32 break_pending; /* atomic: a wakeup was written, not yet drained */
static struct gr_atomic_u32 no_pwait2;     /* atomic: the kernel lacks epoll_pwait2 */

int
gr_np_init(void)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = BREAK_TOKEN };
    long ep, e;

    ep = gr_syscall1(SYS_epoll_create1, EPOLL_CLOEXEC);
    if (ep < 0)
        return (int)ep;
    ep = gr_fd_reserve((int)ep);
    e = gr_syscall2(SYS_eventfd2, 0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (e < 0) {
        gr_fd_release((int)ep);
        gr_sys_close((int)ep);
        return (int)e;
    }
    e = gr_fd_reserve((int)e);
    if (gr_syscall4(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, e, &ev) != 0) {
        gr_fd_release((int)ep);
        gr_fd_release((int)e);
        gr_sys_close((int)ep);
        gr_sys_close((int)e);
        return -ENOMEM;
    }
    gr_store(&break_pending, 0);
    gr_store(&evfd, (int)e);
    gr_store(&epfd, (int)ep);
    return 0;
}

int
gr_np_reinit(void)
{
    int ep = gr_load(&epfd), e = gr_load(&evfd);

    if (ep >= 0) {
        gr_fd_release(ep);
        gr_sys_close(ep);
    }
    if (e >= 0) {
        gr_fd_release(e);
        gr_sys_close(e);
    }
    gr_store(&epfd, -1);
    gr_store(&evfd, -1);
    return gr_np_init();
}

int
gr_np_arm(int fd, uint64_t token)
{
    struct epoll_event ev = { .events = ARM_EVENTS, .data.u64 = token };
    long r;

    r = gr_syscall4(SYS_epoll_ctl, gr_load_relaxed(&epfd), EPOLL_CTL_ADD, fd, &ev);
    if (r == -EEXIST) {
        /* Registered in an earlier generation of the same open file: refresh the token. */
        r = gr_syscall4(SYS_epoll_ctl, gr_load_relaxed(&epfd), EPOLL_CTL_MOD, fd, &ev);
    }
    return (int)r;
}

int
gr_np_disarm(int fd)
{
    struct epoll_event ev = { 0 };

    return (int)gr_syscall4(SYS_epoll_ctl, gr_load_relaxed(&epfd), EPOLL_CTL_DEL, fd, &ev);
}

void
gr_np_break(void)
{
    uint64_t one = 1;
    int e = gr_load_relaxed(&evfd);

    if (e < 0 || gr_xchg(&break_pending, 1) != 0)
        return;
    gr_sys_write(e, &one, sizeof(one));
}

static void
drain_break(void)
{
    uint64_t v;

    gr_store(&break_pending, 0); /* before the read: see the header comment */
    gr_sys_read(gr_load_relaxed(&evfd), &v, sizeof(v));
}

int
gr_np_wait(struct gr_np_event *out, int max, int64_t until)
{
    struct epoll_event ev[MAX_EVENTS];
    struct timespec ts, *tsp = NULL;
    int64_t rel = 0;
    long n;
    int k = 0;

    if (max > MAX_EVENTS)
        max = MAX_EVENTS;
    if (until == INT64_MAX) {
        rel = -1;
    } else if (until > 0) {
        rel = until - gr_nanotime();
        if (rel < 0)
            rel = 0;
    }
    if (!gr_load_relaxed(&no_pwait2)) {
        if (rel >= 0) {
            ts.tv_sec = rel / GR_NSEC_PER_SEC;
            ts.tv_nsec = rel % GR_NSEC_PER_SEC;
            tsp = &ts;
        }
        n = gr_syscall6(SYS_epoll_pwait2, gr_load_relaxed(&epfd), (long)ev, max, (long)tsp, 0, 8);
        if (n == -ENOSYS)
            gr_store_relaxed(&no_pwait2, 1);
    } else {
        n = -ENOSYS;
    }
    if (n == -ENOSYS) {
        int64_t ms = rel < 0 ? -1 : (rel + 999999) / 1000000;
        if (ms > INT_MAX)
            ms = INT_MAX;
        n = gr_syscall4(SYS_epoll_wait, gr_load_relaxed(&epfd), ev, max, ms);
    }
    if (n <= 0)
        return 0; /* timeout, or EINTR: the scheduler polls again */
    for (long i = 0; i < n; i++) {
        uint32_t e = ev[i].events;
        unsigned dirs = 0;

        if (ev[i].data.u64 == BREAK_TOKEN) {
            drain_break();
            continue;
        }
        if (e & (EPOLLIN | EPOLLRDHUP | EPOLLPRI | EPOLLHUP | EPOLLERR))
            dirs |= GR_POLL_READ;
        if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))
            dirs |= GR_POLL_WRITE;
        out[k].token = ev[i].data.u64;
        out[k].dirs = dirs;
        k++;
    }
    return k;
}
