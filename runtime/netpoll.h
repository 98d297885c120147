/*
 * runtime/netpoll.h: the netpoller (DESIGN.md "I/O and the netpoller"), Go's netpoll.go.
 *
 * Scheduler side (proc.c, sysmon.c call these):
 *   gr_netpoll_inited()  true once some descriptor was registered (the epoll instance exists)
 *   gr_netpoll_waiters() Gs parked on I/O right now (atomic); the scheduler polls only if > 0
 *   gr_netpoll(until)    wait for events until `until` (absolute CLOCK_MONOTONIC ns; 0 = do
 *                        not block; INT64_MAX = no timeout), and gr_ready() every G they
 *                        concern; returns how many were readied. At most one M blocks in it
 *                        at a time (the scheduler guarantees it); non-blocking calls may come
 *                        from any M at any time. Runs on g0 or sysmon: must not read TLS.
 *   gr_netpoll_break()   make a blocked gr_netpoll return now (an eventfd write); cheap and
 *                        safe from any thread, coalesced while one is pending.
 * I/O side (hooks): see the rest of this header.
 */
#ifndef GR_RUNTIME_NETPOLL_H
#define GR_RUNTIME_NETPOLL_H

#include <stdbool.h>
#include <stdint.h>

bool gr_netpoll_inited(void);
int32_t gr_netpoll_waiters(void);
int gr_netpoll(int64_t until);
void gr_netpoll_break(void);

/*
 * I/O side (hooks/io*.c, fd.c, poll.c; implemented in netpoll.c).
 *
 * A G that wants one direction of one descriptor (a "consumer": read, write, accept,
 * connect, the program's epoll_wait) loops:
 *     gr_netpoll_snap(&t, ...);          generation and edge count, before the attempt
 *     r = non-blocking attempt;          success or a real error: gr_netpoll_pass(&t), return
 *     err = gr_netpoll_wait(&t, ...);    EAGAIN: park until an edge newer than the snapshot
 * An edge wakes the oldest consumer (and every poll waiter); a consumer woken by an edge whose
 * attempt succeeds passes the baton (wakes the next consumer), because it cannot know whether
 * data remains; one that gets EAGAIN waits again. The snapshot makes the park safe: an edge
 * between the attempt and the park changes the count, seen under the bucket lock.
 *
 * poll, select and epoll_wait over several descriptors wait on all of them at once with
 * gr_netpoll_prepare (snapshot; before the readiness check) and gr_netpoll_wait_any.
 */
#include "runtime/fdtab.h"
#include "runtime/sema.h"

struct gr_pollticket {
    struct polldesc *pd;
    int fd;
    unsigned dir; /* GR_POLL_READ or GR_POLL_WRITE */
    uint32_t gen;
    uint32_t seq;
    bool woken; /* the last wait ended with an edge: pass the baton */
};

static inline void
gr_netpoll_snap(struct gr_pollticket *t, int fd, struct polldesc *pd, unsigned dir)
{
    t->pd = pd;
    t->fd = fd;
    t->dir = dir;
    t->gen = gr_load(&pd->gen);
    t->seq = gr_load(dir == GR_POLL_READ ? &pd->rd.seq : &pd->wr.seq);
}

/*
 * Register fd in the poller for this generation if not yet. 0; -EPERM when epoll cannot
 * watch it (a file: make the call in syscall mode); -EBADF when it was closed since gen.
 */
int gr_netpoll_arm(int fd, struct polldesc *pd, uint32_t gen);
/*
 * Park until an edge newer than t's snapshot, the deadline (absolute CLOCK_MONOTONIC ns, -1 =
 * none), a cancellation request, a signal sent to the G, or a close of the descriptor.
 * Registers it first. 0: retry the attempt; -ETIMEDOUT; -ECANCELED (act on the cancellation,
 * then retry); -EINTR (the handler ran: gr_signal_eintr() says whether to fail or restart);
 * -EBADF (closed); -EPERM (epoll cannot watch it). Context: user G.
 */
int gr_netpoll_wait(struct gr_pollticket *t, int64_t deadline, const char *reason);
/* After a successful attempt: if t's last wait ended with an edge, wake the next consumer. */
void gr_netpoll_pass(struct gr_pollticket *t);

/* One descriptor of a multi-descriptor wait. The fields after dirs are netpoll's. */
struct gr_pollent {
    int fd;
    unsigned dirs;       /* GR_POLL_READ | GR_POLL_WRITE */
    struct polldesc *pd; /* NULL: not watched (epoll refuses it, or closed) */
    uint32_t gen;
    uint32_t seq[2];
    bool linked[2];
    struct gr_waiter w[2];
};

/*
 * Register every entry and snapshot it; call before checking readiness. Returns 0, or -E2BIG
 * when some descriptor cannot be watched for a reason other than being closed or a file
 * (no table entry, no memory, epoll's watch limit): the caller then waits in syscall mode.
 */
int gr_netpoll_prepare(struct gr_pollent *e, int n);
/*
 * Park until an edge on any entry newer than its snapshot, a close of one, the deadline, a
 * cancellation request or a signal. 0, -ETIMEDOUT, -ECANCELED or -EINTR (as above).
 * Context: user G.
 */
int gr_netpoll_wait_any(struct gr_pollent *e, int n, int64_t deadline, const char *reason);

/*
 * Descriptor lifetime, from the hooks (with or without a G). fd_new: fd was just created (by
 * socket, accept, pipe, dup...), with what the hook knows about it. fd_close: before the real
 * close (or dup2 onto fd): leave the epoll set first (after the close the registration would
 * survive in dup'ed descriptors), then wake every waiter, who returns EBADF. fd_dup: newfd now
 * shares oldfd's description (after a successful dup/dup2/dup3/F_DUPFD).
 */
void gr_netpoll_fd_new(int fd, const struct pd_facts *facts);
void gr_netpoll_fd_close(int fd);
void gr_netpoll_fd_dup(int oldfd, int newfd);

/* In a fork child: a fresh epoll instance and wakeup descriptor (the old ones are shared with
 * the parent); registrations are redone lazily. Idempotent per process. */
void gr_netpoll_fork_child(void);

/*
 * Backend contract (netpoll_epoll.c): raw system calls only, 0 or -errno.
 * A token is gen << 32 | fd. gr_np_wait drains the wakeup descriptor itself and returns only
 * descriptor events (0 on timeout or EINTR); until as for gr_netpoll.
 */
struct gr_np_event {
    uint64_t token;
    unsigned dirs; /* GR_POLL_READ | GR_POLL_WRITE; errors and hangups set both */
};
int gr_np_init(void);
int gr_np_arm(int fd, uint64_t token);
int gr_np_disarm(int fd);
int gr_np_wait(struct gr_np_event *ev, int max, int64_t until);
void gr_np_break(void);
int gr_np_reinit(void);

#endif /* GR_RUNTIME_NETPOLL_H */
