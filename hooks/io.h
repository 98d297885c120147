/*
 * hooks/io.h: what the I/O engines share (DESIGN.md "I/O and the netpoller").
 *
 * The I/O hooks park a G on the netpoller instead of blocking its OS thread, with the native
 * contract kept: partial transfers, errno, SIGPIPE, EAGAIN on descriptors the program made
 * non-blocking, SO_RCVTIMEO/SO_SNDTIMEO (EAGAIN at the deadline). One call = attempts without
 * blocking until one does not say EAGAIN; between two, the G parks until an edge (netpoll.h).
 * Four engines, one file each, as libuv splits its stream, udp and tcp code:
 *   io_rw.c    one descriptor: read, write, readv, writev, recv*, send*, recvmsg, sendmsg and
 *              the __*_chk variants (the single-descriptor engine, gr_io_run, lives there);
 *   io_mmsg.c  batches of messages: recvmmsg, sendmmsg (finishes a short message with gr_io_run);
 *   io_xfer.c  two descriptors: sendfile, sendfile64, splice, tee, vmsplice;
 *   io_sock.c  socket set-up: accept, accept4, connect.
 * io.c implements the steps they share: the park step, readiness, the socket-timeout deadline
 * and the SCM_RIGHTS walk; it is the family's own file, paired with this header as fd.c is
 * with fd.h.
 *
 * Rules for every engine: calls made without a G, or in native mode or inside a vfork child
 * (gr_hook_native), go straight to glibc. The attempts and the syscall-mode calls are raw
 * system calls: errno is written once, on failure, and no glibc cancellation wrapper runs
 * inside syscall mode. Cancellation: a G parked here is a cancellation point (pthread_cancel
 * wakes it and it unwinds); a G inside a syscall-mode call is not (it finishes the call). A
 * signal sent to a parked G (pthread_kill) runs its handler; then the call restarts under
 * SA_RESTART, or fails with EINTR (or returns what it transferred), as natively; with
 * SO_RCVTIMEO/SO_SNDTIMEO set it always fails.
 *
 * Locks: the hooks hold none of their own. They touch runtime state only through netpoll.h
 * (poll tickets: snapshot, park, baton), fdtab.h (a descriptor's cached facts, O_NONBLOCK
 * holds and generations, under pd->lock inside those calls) and syscall mode (sched.h).
 */
#ifndef GR_HOOKS_IO_H
#define GR_HOOKS_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "hooks/hook.h"

/* ---- The attempt/park step (io.c). */

/*
 * Zero-timeout readiness of one direction of fd (events POLLIN or POLLOUT): the revents, 0
 * when not ready (nonzero: ready, or an error to find by the call).
 */
short gr_io_ready_now(int fd, short events);

/*
 * The deadline of a call's waits, computed at its first park: *deadline is -2 until then, and
 * becomes the absolute CLOCK_MONOTONIC ns at which SO_RCVTIMEO (dir GR_POLL_READ) or
 * SO_SNDTIMEO of socket fd expires, or -1 (none, or sock false: not a socket).
 */
void gr_io_deadline(int64_t *deadline, bool sock, int fd, struct polldesc *pd, unsigned dir);

/* What gr_io_park tells its caller, besides a raw error for the program. */
#define PARK_AGAIN   0 /* an edge, or a cancellation acted on: attempt again */
#define PARK_RESTART 1 /* a handler ran and the call restarts (SA_RESTART) */
#define PARK_SYSCALL 2 /* epoll refuses the descriptor: make the call in syscall mode */

/*
 * The park step of every attempt loop, after an EAGAIN the program did not ask for: wait for
 * an edge newer than t's snapshot. Returns a PARK_* code, or the raw result the call gives
 * when nothing was transferred: -EINTR (a handler ran and the call is not restarted), -EAGAIN
 * (deadline, SO_RCVTIMEO/SO_SNDTIMEO), -EBADF (closed meanwhile). Context: user G.
 */
long gr_io_park(struct gr_pollticket *t, int64_t deadline, const char *reason);

/* A raw system call, in syscall mode when block is set (a call that blocks on some of its
 * descriptors only). Requires, when block is set: a user G with a P. */
static inline long
gr_io_syscall6(bool block, long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
    if (block)
        return gr_blocking_syscall6(nr, a1, a2, a3, a4, a5, a6);
    return gr_syscall6(nr, a1, a2, a3, a4, a5, a6);
}

/* ---- Descriptors passed with SCM_RIGHTS (io.c). */

/* Call fn on every descriptor that msg's control data carries with SCM_RIGHTS. */
void gr_io_each_right(const struct msghdr *msg, void (*fn)(int fd));
/* A descriptor received with SCM_RIGHTS is new here: start its generation, unknown. */
void gr_io_right_new(int fd);
/* A descriptor sent with SCM_RIGHTS is shared with another process from now on. */
void gr_io_right_unshare(int fd);

/* ---- The single-descriptor engine (io_rw.c), which io_mmsg.c reuses. */

enum {
    OP_READ,    /* read: buf, len */
    OP_READV,   /* readv: iov, iovcnt */
    OP_RECV,    /* recv, recvfrom: buf, len, flags, addr, alen */
    OP_RECVMSG, /* recvmsg: msg, flags */
    OP_WRITE,
    OP_WRITEV,
    OP_SEND, /* send, sendto: buf, len, flags, addr, dlen */
    OP_SENDMSG,
};

#define OWN_IOV 8

/* One call of the single-descriptor engine: the hook's arguments, and where a partial
 * transfer has got to. */
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
    bool all;                  /* transfer everything (blocking write, MSG_WAITALL) */
    struct msghdr mcopy;       /* msg with its iov advanced after a partial transfer */
    struct iovec own[OWN_IOV]; /* writable copy of the iov once a partial transfer moves it */
    struct iovec *heap;        /* the same when it does not fit in own */
};

/* The loop of attempts and parks on io, set up (pd, kind, all). Raw result. Context: user G;
 * free(io->heap) afterwards. */
long gr_io_run(struct io *io);
/* Skip n transferred bytes (copying the iov to writable memory first). False: no memory for
 * the copy. */
bool gr_io_advance(struct io *io, size_t n);
/* The bytes an iov array holds. */
size_t gr_io_iov_total(const struct iovec *iov, size_t cnt);

#endif /* GR_HOOKS_IO_H */
