/*
 * runtime/fdtab.h: per-descriptor state (DESIGN.md "I/O and the netpoller").
 *
 * One struct polldesc per descriptor number the program touched through an I/O hook, in a
 * table indexed by number. Entries are never freed or moved: a number that is closed and
 * reused keeps its entry, whose generation (gen) is bumped by every close and every creation
 * the hooks see, so stale epoll events (their token carries the generation) and stale waiters
 * (they remember it) are recognised.
 *
 * What an entry caches for one generation, all hints that the hooks may re-derive:
 *  - kind: socket, other pollable descriptor (pipe, eventfd, tty...), or file (regular file,
 *    block device, directory, anything epoll refuses): which non-blocking attempt to use;
 *  - the program's O_NONBLOCK (nonblock), trusted only while the descriptor is "sole" (created
 *    by a hook of this process in the current fork epoch, never dup'ed nor sent); otherwise the
 *    hooks read it with F_GETFL whenever they need it;
 *  - SO_RCVTIMEO / SO_SNDTIMEO, read from the kernel once when first needed;
 *  - per direction, whether preadv2/pwritev2 RWF_NOWAIT works (nowait).
 *
 * O_NONBLOCK holds: connect and accept on a blocking socket set O_NONBLOCK around that one
 * call (fdtab_nb_hold / fdtab_nb_release). Holds are counted per entry under pd->lock; the
 * first sets the flag, the last restores the program's flags; meanwhile the fcntl hook reports
 * and updates the program's view (saved_fl). Holds are taken only on sole descriptors, so no
 * other process or other number can see the flag (DESIGN.md: never leave O_NONBLOCK set where
 * the program did not set it).
 *
 * Locks: pd->lock (a gr_mutex, rank below the wait-table buckets: it is never held while one
 * is taken, nor across a park) protects registration, resets and holds.
 */
#ifndef GR_RUNTIME_FDTAB_H
#define GR_RUNTIME_FDTAB_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/atomic.h"
#include "runtime/lock.h"

/* Directions (also the GR_POLL_* bits of netpoll.h). */
#define GR_POLL_READ  1u
#define GR_POLL_WRITE 2u

enum {
    PD_KIND_UNKNOWN,
    PD_KIND_SOCKET, /* recv/send with MSG_DONTWAIT */
    PD_KIND_OTHER,  /* pipe, FIFO, tty, eventfd, epoll...: RWF_NOWAIT or readiness first */
    PD_KIND_FILE,   /* regular file, block device, directory: the call in syscall mode */
};

enum {
    PD_NB_UNKNOWN,
    PD_NB_OFF,
    PD_NB_ON,
};

enum {
    PD_STREAM_UNKNOWN,
    PD_STREAM_YES, /* SOCK_STREAM: MSG_WAITALL gathers across datagram boundaries */
    PD_STREAM_NO,
};

enum {
    PD_NOWAIT_UNKNOWN,
    PD_NOWAIT_OK, /* RWF_NOWAIT worked once */
    PD_NOWAIT_NO, /* EOPNOTSUPP: wait for readiness, then the real call in syscall mode */
};

enum {
    PD_REG_NONE,        /* not in the epoll set (this generation) */
    PD_REG_OK,          /* registered, edge-triggered, token = gen << 32 | fd */
    PD_REG_NOTPOLLABLE, /* epoll refused it (EPERM): treat as a file */
};

/* One direction of a descriptor. Its address is the wait-table key of its waiters. */
struct gr_pdir {
    struct gr_atomic_u32 seq;   /* atomic: edges delivered; pairs with nwait (netpoll.c) */
    struct gr_atomic_u32 nwait; /* atomic: waiters queued or about to queue (a hint >= exact) */
    struct gr_atomic_u8 nowait; /* atomic: PD_NOWAIT_* for this generation */
};

struct polldesc {
    struct gr_mutex lock;            /* rank polldesc */
    struct gr_atomic_u32 gen;        /* atomic; changed under lock */
    struct gr_atomic_u8 kind;        /* atomic: PD_KIND_*; changed under lock or by the detector */
    struct gr_atomic_u8 nonblock;    /* atomic: PD_NB_*, the program's O_NONBLOCK (when sole) */
    struct gr_atomic_u8 reg;         /* atomic: PD_REG_*; changed under lock */
    struct gr_atomic_u8 sole;        /* atomic: see the header comment; cleared under lock */
    struct gr_atomic_u8 timeo_known; /* atomic: bit 0 rcvtimeo, bit 1 sndtimeo known */
    struct gr_atomic_u8 stream;      /* atomic: PD_STREAM_* */
    struct gr_atomic_u32 reg_inst;   /* atomic: netpoll instance of the registration; written
                                        under lock, read without it before the lock is taken */
    struct gr_atomic_u32 fork_epoch; /* atomic: gr_fdtab_fork_epoch at creation; written under
                                        lock, read without it (is_sole) */
    uint32_t nbhold;                 /* protected by lock: O_NONBLOCK holds in progress */
    int saved_fl;                    /* protected by lock: the program's F_GETFL while nbhold > 0 */
    struct gr_atomic_i64 rcvtimeo;   /* atomic: SO_RCVTIMEO in ns, 0 = none */
    struct gr_atomic_i64 sndtimeo;   /* atomic: SO_SNDTIMEO in ns, 0 = none */
    struct gr_pdir rd;
    struct gr_pdir wr;
};

/* What a creating hook knows about a new descriptor. */
struct pd_facts {
    uint8_t kind;
    uint8_t nonblock;
    uint8_t stream;
    bool sole;
    bool timeo_known; /* rcvtimeo/sndtimeo below are the socket's values */
    int64_t rcvtimeo;
    int64_t sndtimeo;
};

extern struct gr_atomic_u32 gr_fdtab_fork_epoch; /* atomic: bumped in parent and child at
                                                    every fork */

/* The entry of fd, created if needed; NULL for a negative or huge number, or out of memory. */
struct polldesc *gr_fdtab_get(int fd);
/* The entry of fd if its chunk exists, else NULL. Context: any, no allocation. */
struct polldesc *gr_fdtab_peek(int fd);
/* In a fork child: the other threads are gone; so are their locks, holds and waits. */
void gr_fdtab_fork_child(void);
/* Call fn on every entry that exists with number in [lo, hi]. */
void gr_fdtab_each(unsigned lo, unsigned hi, void (*fn)(int fd, struct polldesc *pd));

/*
 * The descriptor's kind for this generation, detecting it with fstat the first time.
 * Returns PD_KIND_*, or -errno (-EBADF for a closed descriptor).
 */
int gr_fdtab_kind(int fd, struct polldesc *pd);
/* Forget a cached kind that proved wrong (ENOTSOCK on a "socket"): detect it again. */
void gr_fdtab_forget_kind(struct polldesc *pd, uint8_t wrong);

/* True when the program made fd non-blocking (cached when sole, else read with F_GETFL). */
bool gr_fdtab_nonblock(int fd, struct polldesc *pd);
/* Record the program's O_NONBLOCK after a successful F_SETFL or FIONBIO. */
void gr_fdtab_set_nonblock(struct polldesc *pd, bool on);

/* SO_RCVTIMEO (dir GR_POLL_READ) or SO_SNDTIMEO in ns, 0 = none; read once from the socket. */
int64_t gr_fdtab_timeout(int fd, struct polldesc *pd, unsigned dir);
/* Record a timeout the program set (ns < 0: forget it, read it again when needed). */
void gr_fdtab_set_timeout(struct polldesc *pd, unsigned dir, int64_t ns);
/* True for a SOCK_STREAM socket (asked with SO_TYPE once when not known). */
bool gr_fdtab_is_stream(int fd, struct polldesc *pd);

/* The description is no longer private to fd (dup'ed, sent with SCM_RIGHTS). */
void gr_fdtab_unshare(struct polldesc *pd);

/*
 * O_NONBLOCK hold around one call on a blocking descriptor. Returns true when held (then
 * call gr_fdtab_nb_release with the generation it stored in *gen after the call), false when
 * fd is not sole (no toggle allowed) or the flag could not be set.
 */
bool gr_fdtab_nb_hold(int fd, struct polldesc *pd, uint32_t *gen);
void gr_fdtab_nb_release(int fd, struct polldesc *pd, uint32_t gen);
/*
 * The fcntl/ioctl hooks' side of holds, for sole descriptors only (false otherwise: the
 * caller makes the real call). getfl: true with the program's flags in *fl while a hold is
 * active. setfl (F_SETFL) and setnb (FIONBIO): make the change under pd->lock, keeping
 * O_NONBLOCK on while a hold is active, record the program's view; *res is the raw result.
 */
bool gr_fdtab_getfl(struct polldesc *pd, int *fl);
bool gr_fdtab_setfl(int fd, struct polldesc *pd, int fl, long *res);
bool gr_fdtab_setnb(int fd, struct polldesc *pd, bool on, long *res);

/* New generation with facts f (NULL: nothing known). Requires: pd->lock held. netpoll.c's
 * gr_netpoll_fd_new/close call it, and then wake the old generation's waiters. */
void gr_fdtab_reset_locked(struct polldesc *pd, const struct pd_facts *f);

#endif /* GR_RUNTIME_FDTAB_H */
