/*
 * runtime/sema.h: the address-keyed wait table (Go's semaRoot table, sema.go).
 *
 * Every blocking primitive (mutex, condition variable, rwlock, barrier, semaphore, join,
 * raw futex) parks its waiters here, in a FIFO per address, found by hashing the address
 * of the user's object. A waiter is a struct on the waiting thread's stack. A G parks; a
 * thread without a G (before boot, a thread glibc created itself, or a G that may not park:
 * in syscall mode, which has no P to park on, or in a signal handler) and a real-time G wired
 * to its M (wire.c) sleep in the kernel on a futex in their waiter, so the same object works
 * from all of them. Real-time waiters queue ahead of those of lower priority, as the kernel
 * orders a futex's waiters: a wake goes to the highest priority, the oldest among equals.
 *
 * Protocol: lock the bucket of a key, check the object's state, push a waiter, then
 * gr_wq_wait(). From the push on, a waker that takes the same bucket lock finds the waiter
 * and marks it woken; if the G has not parked yet, its park sees the mark under the bucket
 * lock and does not happen (Linux's prepare_to_wait pattern), so no wakeup is lost.
 */
#ifndef GR_RUNTIME_SEMA_H
#define GR_RUNTIME_SEMA_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/lock.h"

struct g;

enum {
    GR_WAKE_NONE,    /* still waiting */
    GR_WAKE_NORMAL,  /* woken by gr_wq_wake */
    GR_WAKE_TIMEOUT, /* the deadline passed */
    GR_WAKE_CANCEL,  /* pthread_cancel of the waiting G (flag GR_WQ_CANCEL) */
    GR_WAKE_HANDOFF, /* woken and handed ownership (mutex starvation mode) */
    GR_WAKE_SIGNAL,  /* a signal for the G arrived (flag GR_WQ_SIGNAL); its handler ran */
};

/* gr_wq_wait flags. */
#define GR_WQ_CANCEL 1u /* a cancellation point: pthread_cancel interrupts it */
#define GR_WQ_SIGNAL 2u /* a signal sent to the G (pthread_kill) interrupts it */
#define GR_WQ_UNDO                                                             \
    4u /* not a cancellation point, but the caller has state to undo before an \
          asynchronous cancellation acts: return GR_WAKE_CANCEL to it */
/* gr_wq_interrupt only: an asynchronous cancellation, which ends every wait. */
#define GR_WQ_ASYNC 8u
/* With GR_WQ_SIGNAL: the signal's handler runs on the G and the wait goes on, the waiter
 * queued all along (a barrier, which a woken waiter must not look at again). */
#define GR_WQ_HANDLER 16u

struct gr_waiter {
    const void *key;        /* protected by the bucket lock, like every link below */
    struct gr_waiter *next; /* FIFO of this key */
    struct gr_waiter *prev;
    struct gr_waiter *knext;   /* on the first waiter of a key: next key of the bucket */
    struct gr_waiter *tail;    /* on the first waiter of a key: last waiter of the key */
    struct g *gp;              /* the waiting G (parked, or wired and asleep on wake), or
                                  NULL for a thread sleeping on wake */
    struct gr_atomic_u32 wake; /* atomic: GR_WAKE_*; stored by whoever dequeues it */
    uint32_t bitset;           /* futex bitset, or the primitive's own tag */
    uintptr_t data;            /* the primitive's own use */
    int64_t since;             /* when the wait began (mutex starvation) */
    int32_t prio;              /* the waiter's real-time priority (0: none): the queue of a
                                  key is ordered by it, FIFO among equals */
    bool parked;               /* the G is parked (set on g0 under the bucket lock) */
    bool kwait;                /* the thread sleeps in the kernel on wake: no G, or a G
                                  wired to its M (wire.c) */
    unsigned flags;            /* GR_WQ_* of the wait */
};

struct gr_bucket;

struct gr_bucket *gr_wq_lock(const void *key);
void gr_wq_unlock(struct gr_bucket *b);
/* Queue w for key: behind the waiters of its priority or higher, or (lifo) ahead of those of
 * its priority or lower. Requires: b locked, b == bucket of key. */
void gr_wq_push(struct gr_bucket *b, struct gr_waiter *w, const void *key, bool lifo);
/* Oldest waiter for key, or NULL. Requires: b locked. */
struct gr_waiter *gr_wq_first(struct gr_bucket *b, const void *key);
/* Dequeue w and let it run with reason. Requires: b locked, w queued. */
void gr_wq_wake(struct gr_bucket *b, struct gr_waiter *w, uint32_t reason);
/* gr_wq_wake, except that a parked G is returned for the caller to gr_ready once it has
 * finished with memory the G owns (NULL: nothing to ready). The G cannot run before that:
 * its wake is set, so no other waker, deadline or signal readies it. Requires: b locked. */
struct g *gr_wq_wake_later(struct gr_bucket *b, struct gr_waiter *w, uint32_t reason);
/* Dequeue w without waking it (the caller is w's own thread). Requires: b locked. */
void gr_wq_remove(struct gr_bucket *b, struct gr_waiter *w);

/*
 * Wait on w, queued in b. Releases b, then runs after(arg) on the caller (for example: unlock
 * the user's mutex), then sleeps until woken, until deadline (absolute CLOCK_MONOTONIC ns;
 * -1 = none), or until cancelled when flags has GR_WQ_CANCEL. Returns the GR_WAKE_* reason;
 * w is no longer queued and no timer of the wait is left.
 * An asynchronous cancellation ends any wait. A wait without GR_WQ_CANCEL or GR_WQ_UNDO then
 * acts on it here (unwinds); the others return GR_WAKE_CANCEL and the caller, once its own
 * state is undone, acts with gr_cancel_test(). Signal handlers sent to the G run before this
 * returns, also only once the wait is undone (a handler may leave with siglongjmp).
 * Requires: b locked and w pushed by the caller.
 */
uint32_t gr_wq_wait(struct gr_bucket *b, struct gr_waiter *w, int64_t deadline, unsigned flags,
                    const char *reason, void (*after)(void *), void *arg);

/* Wake gp if it is parked in a wait interruptible by why (GR_WQ_CANCEL or GR_WQ_SIGNAL; every
 * wait for GR_WQ_ASYNC); it returns GR_WAKE_CANCEL or GR_WAKE_SIGNAL, or, in a GR_WQ_HANDLER
 * wait, runs the handler and parks again. The caller has made its request visible first
 * (seq_cst): the G publishes its wait before it looks at requests. */
void gr_wq_interrupt(struct g *gp, unsigned why);

/* Signals pending for gp that its mask does not block, or that its sigwait waits for. */
uint64_t gr_signals_deliverable(struct g *gp);

/*
 * Futex semantics on the wait table: wait while *addr == val (-EAGAIN otherwise), until woken
 * by gr_futex_wake with an overlapping bitset, deadline (-ETIMEDOUT) or cancel (-ECANCELED).
 * reason (a static string) is what the thread dump says the G waits for.
 */
int gr_futex_wait(const uint32_t *addr, uint32_t val, uint32_t bitset, int64_t deadline,
                  unsigned flags, const char *reason);
int gr_futex_wake(const uint32_t *addr, int n, uint32_t bitset);

/* A wait's GR_WAKE_* reason as 0 or -errno: -ETIMEDOUT, -ECANCELED, -EINTR. */
int gr_wake_errno(uint32_t reason);

/* Give the buckets their lock rank. Context: the library's constructor, before any wait. */
void gr_sema_init(void);
/* In a fork child: forget every waiter (their threads are gone). */
void gr_sema_fork_child(void);

#endif /* GR_RUNTIME_SEMA_H */
