/*
 * runtime/sema.c: the wait table (see sema.h).
 *
 * 4096 buckets, each a lock and a singly linked list of "key heads": the first waiter of
 * each key in the bucket, which also holds the key's tail. Other waiters of a key hang off
 * the head in FIFO order. Lookup costs the number of distinct keys waited on in a bucket.
 *
 * Invariants (bucket lock held):
 *  - w is queued exactly when it is reachable from its bucket; then w->wake == GR_WAKE_NONE.
 *  - Only the thread that dequeues w stores w->wake, and a parked G is readied only by it.
 *  - gp->waiting == w and gp->waitkey == w->key while a GR_WQ_CANCEL wait of gp is queued.
 * Locks: the buckets (rank sema), taken before timer heaps and gr_sched.lock; two buckets are
 * never held at once.
 */
#include "runtime/sema.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "runtime/atomic.h"
#include "runtime/cancel.h"
#include "runtime/debug.h"
#include "runtime/g.h"
#include "runtime/proc.h"
#include "runtime/sched.h"
#include "runtime/sys.h"
#include "runtime/timer.h"
#include "runtime/wire.h"

#define NBUCKET 4096

struct gr_bucket {
    struct gr_mutex lock;
    struct gr_waiter *heads;
} GR_ALIGNED(GR_CACHELINE);

static struct gr_bucket table[NBUCKET]; /* in .bss: ranks are given by gr_sema_init */

static struct gr_bucket *
bucket_of(const void *key)
{
    uintptr_t a = (uintptr_t)key;

    a = (a >> 3) * 0x9e3779b97f4a7c15ULL;
    return &table[a >> (64 - 12)];
}

struct gr_bucket *
gr_wq_lock(const void *key)
{
    struct gr_bucket *b = bucket_of(key);

    gr_lock(&b->lock);
    return b;
}

void
gr_wq_unlock(struct gr_bucket *b)
{
    gr_unlock(&b->lock);
}

/* The link that points at key's head (or at the terminating NULL). */
static struct gr_waiter **
head_link(struct gr_bucket *b, const void *key)
{
    struct gr_waiter **pp = &b->heads;

    while (*pp != NULL && (*pp)->key != key)
        pp = &(*pp)->knext;
    return pp;
}

struct gr_waiter *
gr_wq_first(struct gr_bucket *b, const void *key)
{
    GR_ASSERT_HELD(&b->lock);
    return *head_link(b, key);
}

void
gr_wq_push(struct gr_bucket *b, struct gr_waiter *w, const void *key, bool lifo)
{
    struct gr_waiter **pp = head_link(b, key);
    struct gr_waiter *h = *pp, *q;

    GR_ASSERT_HELD(&b->lock);
    GR_ASSERT(b == bucket_of(key));
    w->key = key;
    w->gp = gr_current();
    w->prio = w->gp != NULL ? gr_load_relaxed(&w->gp->waitprio) : 0;
    w->kwait = w->gp == NULL || gr_wired_here(w->gp);
    w->parked = false;
    w->flags = 0;
    gr_store_relaxed(&w->wake, GR_WAKE_NONE);
    w->next = NULL;
    w->prev = NULL;
    if (h == NULL) {
        w->knext = NULL;
        w->tail = w;
        *pp = w;
        return;
    }
    /* The place in priority order: q is the waiter w goes behind, NULL for the front. With
     * no real-time waiters this is the tail (FIFO), or the front (lifo), at once. */
    if (lifo) {
        /* Ahead of the first waiter of its priority or lower. */
        q = NULL;
        for (struct gr_waiter *r = h; r != NULL && r->prio > w->prio; r = r->next)
            q = r;
    } else {
        /* Behind the last waiter of its priority or higher. */
        for (q = h->tail; q != NULL && q->prio < w->prio; q = q->prev)
            ;
    }
    if (q == NULL) {
        w->knext = h->knext;
        w->tail = h->tail;
        w->next = h;
        h->prev = w;
        *pp = w;
    } else {
        w->prev = q;
        w->next = q->next;
        if (q->next != NULL)
            q->next->prev = w;
        else
            h->tail = w;
        q->next = w;
    }
}

void
gr_wq_remove(struct gr_bucket *b, struct gr_waiter *w)
{
    GR_ASSERT_HELD(&b->lock);
    if (w->prev == NULL) {
        struct gr_waiter **pp = head_link(b, w->key);
        struct gr_waiter *n = w->next;
        if (*pp != w)
            gr_throw("wait table: removing a waiter that is not queued");
        if (n != NULL) {
            n->prev = NULL;
            n->knext = w->knext;
            n->tail = w->tail;
            *pp = n;
        } else {
            *pp = w->knext;
        }
    } else {
        w->prev->next = w->next;
        if (w->next != NULL)
            w->next->prev = w->prev;
        else
            (*head_link(b, w->key))->tail = w->prev;
    }
    w->next = w->prev = w->knext = w->tail = NULL;
    if (w->gp != NULL && gr_load_relaxed(&w->gp->waiting) == w) {
        gr_store(&w->gp->waiting, NULL);
        gr_store(&w->gp->waitkey, NULL);
    }
}

void
gr_wq_wake(struct gr_bucket *b, struct gr_waiter *w, uint32_t reason)
{
    struct g *gp = w->gp;

    gr_wq_remove(b, w);
    if (gp != NULL && !w->kwait) {
        /* Not parked yet: its park sees the reason under our lock and does not happen. */
        bool parked = w->parked;
        gr_store(&w->wake, reason);
        if (parked)
            gr_ready(gp);
    } else {
        /* A thread asleep in the kernel (no G, or a wired G): it may return as soon as it
         * sees wake, so touch w no more after this. */
        gr_store(&w->wake, reason);
        gr_sys_futex_wake(gr_atomic_word(&w->wake), 1);
    }
}

struct parkwait {
    struct gr_bucket *b;
    struct gr_waiter *w;
    struct gr_timer timer;
    int64_t deadline;
    unsigned flags;
};

static void
wait_timeout(struct gr_timer *t)
{
    struct parkwait *pw = t->arg;
    struct gr_waiter *w = pw->w;
    struct gr_bucket *b = pw->b;

    gr_lock(&b->lock);
    if (gr_load(&w->wake) == GR_WAKE_NONE)
        gr_wq_wake(b, w, GR_WAKE_TIMEOUT);
    gr_unlock(&b->lock);
}

/*
 * On g0, the G off its stack: park unless a waker, a deadline or a cancellation came first.
 * Everything of pw is read before the bucket is released: after that the G may run again.
 */
static bool
wait_unlockf(struct g *gp, void *arg)
{
    struct parkwait *pw = arg;
    struct gr_bucket *b = pw->b;
    struct gr_waiter *w = pw->w;

    gr_lock(&b->lock);
    if (gr_load(&w->wake) != GR_WAKE_NONE) {
        gr_unlock(&b->lock);
        return false;
    }
    if ((pw->flags & GR_WQ_CANCEL) && gr_cancel_pending(gp)) {
        gr_wq_remove(b, w);
        gr_store(&w->wake, GR_WAKE_CANCEL);
        gr_unlock(&b->lock);
        return false;
    }
    if ((pw->flags & GR_WQ_SIGNAL) && gr_signals_deliverable(gp) != 0) {
        gr_wq_remove(b, w);
        gr_store(&w->wake, GR_WAKE_SIGNAL);
        gr_unlock(&b->lock);
        return false;
    }
    if (pw->deadline >= 0 && pw->deadline <= gr_nanotime()) {
        gr_wq_remove(b, w);
        gr_store(&w->wake, GR_WAKE_TIMEOUT);
        gr_unlock(&b->lock);
        return false;
    }
    if (pw->flags & (GR_WQ_CANCEL | GR_WQ_SIGNAL)) {
        w->flags = pw->flags;
        gr_store(&gp->waitkey, w->key);
        gr_store(&gp->waiting, w);
    }
    if (pw->deadline >= 0)
        gr_timer_add(gr_getm()->p, &pw->timer, pw->deadline);
    w->parked = true;
    gr_unlock(&b->lock);
    return true;
}

/*
 * A G wired to its M (wire.c) waits in the kernel on w->wake, never leaving its M: the
 * kernel then wakes it as it would a native thread, at its real-time priority. The checks
 * are wait_unlockf's, without the park; a deadline is the futex wait's own.
 */
static uint32_t
wired_wait(struct gr_bucket *b, struct gr_waiter *w, int64_t deadline, unsigned flags,
           const char *reason)
{
    struct g *gp = w->gp;
    uint64_t before = gp->sigdelivered; /* handlers noted before this wait do not end it */
    uint32_t r;

    gp->sigdelivered = 0;
    gr_signal_fence(); /* the handler (same thread) sees it zeroed */
    gr_lock(&b->lock);
    if (gr_load(&w->wake) == GR_WAKE_NONE) {
        if ((flags & GR_WQ_CANCEL) && gr_cancel_pending(gp)) {
            gr_wq_remove(b, w);
            gr_store(&w->wake, GR_WAKE_CANCEL);
        } else if ((flags & GR_WQ_SIGNAL) && gr_signals_deliverable(gp) != 0) {
            gr_wq_remove(b, w);
            gr_store(&w->wake, GR_WAKE_SIGNAL);
        } else if (deadline >= 0 && deadline <= gr_nanotime()) {
            gr_wq_remove(b, w);
            gr_store(&w->wake, GR_WAKE_TIMEOUT);
        } else if (flags & (GR_WQ_CANCEL | GR_WQ_SIGNAL)) {
            w->flags = flags;
            gr_store(&gp->waitkey, w->key);
            gr_store(&gp->waiting, w);
        }
    }
    gr_unlock(&b->lock);
    gr_store_relaxed(&gp->waitreason, reason);
    gr_casgstatus(gp, G_RUNNING, G_WAITING);
    while ((r = gr_load(&w->wake)) == GR_WAKE_NONE) {
        /* Always with a deadline: the kernel then ends the wait with EINTR after any handler,
         * SA_RESTART or not (a wait without one it restarts by itself). */
        int e = gr_sys_futex_wait(gr_atomic_word(&w->wake), GR_WAKE_NONE,
                                  deadline >= 0 ? deadline : INT64_MAX / 2);
        uint32_t why = GR_WAKE_NONE;

        if (e == -ETIMEDOUT && deadline >= 0)
            why = GR_WAKE_TIMEOUT;
        /* A handler ran on this M, so on this G (gr_signal_wrapper noted it). */
        else if (e == -EINTR && (flags & GR_WQ_SIGNAL) && gp->sigdelivered != 0)
            why = GR_WAKE_SIGNAL;
        if (why != GR_WAKE_NONE) {
            gr_lock(&b->lock);
            if (gr_load(&w->wake) == GR_WAKE_NONE) {
                gr_wq_remove(b, w);
                gr_store(&w->wake, why);
            }
            gr_unlock(&b->lock);
        }
    }
    gr_casgstatus(gp, G_WAITING, G_RUNNABLE);
    gr_casgstatus(gp, G_RUNNABLE, G_RUNNING);
    gp->sigdelivered |= before;
    gr_resumed(gp);
    return r;
}

uint32_t
gr_wq_wait(struct gr_bucket *b, struct gr_waiter *w, int64_t deadline, unsigned flags,
           const char *reason, void (*after)(void *), void *arg)
{
    struct g *gp = w->gp;
    uint32_t r;

    gr_unlock(&b->lock);
    if (after != NULL)
        after(arg);
    if (gp != NULL && w->kwait) {
        r = wired_wait(b, w, deadline, flags, reason);
        if (r == GR_WAKE_SIGNAL)
            gp->sigdelivered |= gr_xchg(&gp->sigforeign, 0);
        return r;
    }
    if (gp != NULL) {
        struct parkwait pw = {
            .b = b,
            .w = w,
            .deadline = deadline,
            .flags = flags,
        };
        pw.timer.fn = wait_timeout;
        pw.timer.arg = &pw;
        gr_park(wait_unlockf, &pw, reason);
        if (deadline >= 0)
            gr_timer_del(&pw.timer);
        r = gr_load(&w->wake);
        /* A process signal passed on by sysmon: it counts as delivered to this G, once. */
        if (r == GR_WAKE_SIGNAL)
            gp->sigdelivered |= gr_xchg(&gp->sigforeign, 0);
        if (r == GR_WAKE_NONE)
            gr_throw("wait table: G resumed while still queued");
        return r;
    }

    /* No G: sleep the OS thread on the waiter's own word. */
    while ((r = gr_load(&w->wake)) == GR_WAKE_NONE) {
        if (gr_sys_futex_wait(gr_atomic_word(&w->wake), GR_WAKE_NONE, deadline) == -ETIMEDOUT) {
            gr_lock(&b->lock);
            if (gr_load(&w->wake) == GR_WAKE_NONE) {
                gr_wq_remove(b, w);
                gr_store(&w->wake, GR_WAKE_TIMEOUT);
            }
            gr_unlock(&b->lock);
        }
    }
    return r;
}

uint64_t
gr_signals_deliverable(struct g *gp)
{
    return (gr_load(&gp->sigpending) &
            (~gr_load_relaxed(&gp->sigmask) | gr_load(&gp->sigwait_set))) |
           gr_load(&gp->sigforeign);
}

void
gr_wq_interrupt(struct g *gp, unsigned why)
{
    for (;;) {
        const void *key = gr_load(&gp->waitkey);
        struct gr_bucket *b;

        if (key == NULL)
            return;
        b = gr_wq_lock(key);
        if (gr_load_relaxed(&gp->waitkey) == key) {
            struct gr_waiter *w = gr_load_relaxed(&gp->waiting);
            if (w != NULL && (w->flags & why))
                gr_wq_wake(b, w, why == GR_WQ_CANCEL ? GR_WAKE_CANCEL : GR_WAKE_SIGNAL);
            gr_wq_unlock(b);
            return;
        }
        gr_wq_unlock(b);
    }
}

int
gr_futex_wait(const uint32_t *addr, uint32_t val, uint32_t bitset, int64_t deadline, unsigned flags)
{
    struct gr_bucket *b = gr_wq_lock(addr);
    struct gr_waiter w;

    if (gr_raw_load(addr) != val) {
        gr_wq_unlock(b);
        return -EAGAIN;
    }
    w.bitset = bitset;
    gr_wq_push(b, &w, addr, false);
    return gr_wake_errno(gr_wq_wait(b, &w, deadline, flags, "futex", NULL, NULL));
}

int
gr_wake_errno(uint32_t reason)
{
    switch (reason) {
    case GR_WAKE_TIMEOUT:
        return -ETIMEDOUT;
    case GR_WAKE_CANCEL:
        return -ECANCELED;
    case GR_WAKE_SIGNAL:
        return -EINTR;
    default:
        return 0;
    }
}

int
gr_futex_wake(const uint32_t *addr, int n, uint32_t bitset)
{
    struct gr_bucket *b = gr_wq_lock(addr);
    struct gr_waiter *w = gr_wq_first(b, addr), *next;
    int woken = 0;

    for (; w != NULL && woken < n; w = next) {
        next = w->next;
        if (w->bitset & bitset) {
            gr_wq_wake(b, w, GR_WAKE_NORMAL);
            woken++;
        }
    }
    gr_wq_unlock(b);
    return woken;
}

void
gr_sema_init(void)
{
    for (int i = 0; i < NBUCKET; i++)
        gr_lock_init(&table[i].lock, GR_RANK_SEMA);
}

void
gr_sema_fork_child(void)
{
    /* Every waiter belonged to a thread that does not exist in the child. */
    for (int i = 0; i < NBUCKET; i++) {
        gr_lock_reset(&table[i].lock);
        table[i].heads = NULL;
    }
}
