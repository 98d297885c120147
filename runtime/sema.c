/*
 * runtime/sema.c: the wait table (see sema.h).
 *
 * 4096 buckets, each a lock and a singly linked list of "key heads": the first waiter of
 * each key in the bucket, which also holds the key's tail. Other waiters of a key hang off
 * the head in priority order, FIFO among equals (gr_wq_push). Lookup costs the number of
 * distinct keys waited on in a bucket.
 *
 * Invariants (bucket lock held):
 *  - w is queued exactly when it is reachable from its bucket; then w->wake == GR_WAKE_NONE
 *    (or WAKE_RUN_HANDLER, a wired G's wait asked to run a handler).
 *  - Only the thread that dequeues w stores a reason in w->wake, and a parked G is readied
 *    only by it (or, in a GR_WQ_HANDLER wait, by a signal's sender, queued still).
 *  - gp->waiting == w and gp->waitkey == w->key while a wait of gp is queued and parked (or
 *    about to park: published in wait_unlockf before it looks at cancel and signal requests,
 *    which the requester sets before it looks for the wait, so one of the two sees the other).
 *  - A G runs signal handlers and acts on a cancellation only once its wait is undone: the
 *    waiter dequeued, the timer deleted (both live on its stack).
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
#include "runtime/syscall.h"
#include "runtime/timer.h"
#include "runtime/wire.h"

#define NBUCKET 4096

/* w->wake of a wired G's waiter, queued still, that is asked to run a signal's handler
 * (GR_WQ_HANDLER, gr_wq_interrupt); only that G stores GR_WAKE_NONE back, under the bucket
 * lock, and gr_wq_wait never returns it. */
#define WAKE_RUN_HANDLER 0x100u

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
    struct g *cur;

    GR_ASSERT_HELD(&b->lock);
    GR_ASSERT(b == bucket_of(key));
    w->key = key;
    /* A G that may not park (in a signal handler, off its own stack, in syscall mode)
     * waits as a thread without a G: its OS thread sleeps on the waiter's word. So does a
     * G wired to its M (wire.c), which never parks. The queue order is the calling
     * thread's real-time priority, whichever way it waits. */
    cur = gr_current();
    w->gp = gr_parkable_g();
    w->prio = cur != NULL ? gr_load_relaxed(&cur->waitprio) : 0;
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
    struct g *gp = gr_wq_wake_later(b, w, reason);

    if (gp != NULL)
        gr_ready(gp);
}

struct g *
gr_wq_wake_later(struct gr_bucket *b, struct gr_waiter *w, uint32_t reason)
{
    struct g *gp = w->gp;

    gr_wq_remove(b, w);
    if (gp != NULL && !w->kwait) {
        /* Not parked yet: its park sees the reason under our lock and does not happen. */
        bool parked = w->parked;
        gr_store(&w->wake, reason);
        return parked ? gp : NULL;
    } else {
        /* A thread asleep in the kernel (no G, or a wired G): it may return as soon as it
         * sees wake, so touch w no more after this. */
        gr_store(&w->wake, reason);
        gr_sys_futex_wake(gr_atomic_word(&w->wake), 1);
        return NULL;
    }
}

struct parkwait {
    struct gr_bucket *b;
    struct gr_waiter *w;
    struct gr_timer timer;
    int64_t deadline;
    unsigned flags;
};

/* The G is readied by the timer's runner once it let go of the timer, which lives in pw on
 * the G's stack: a G woken here finds its timer released, with nothing to wait for. */
static struct g *
wait_timeout(struct gr_timer *t)
{
    struct parkwait *pw = t->arg;
    struct gr_waiter *w = pw->w;
    struct gr_bucket *b = pw->b;
    struct g *gp = NULL;

    gr_lock(&b->lock);
    if (gr_load(&w->wake) == GR_WAKE_NONE)
        gp = gr_wq_wake_later(b, w, GR_WAKE_TIMEOUT);
    gr_unlock(&b->lock);
    return gp;
}

/*
 * On g0, the G off its stack: park unless a waker, a deadline, a cancellation or a signal came
 * first. Everything of pw is read before the bucket is released: after that the G may run
 * again.
 */
static bool
wait_unlockf(struct g *gp, void *arg)
{
    struct parkwait *pw = arg;
    struct gr_bucket *b = pw->b;
    struct gr_waiter *w = pw->w;
    uint32_t why = GR_WAKE_NONE;

    gr_lock(&b->lock);
    if (gr_load(&w->wake) != GR_WAKE_NONE) {
        gr_unlock(&b->lock);
        return false;
    }
    /* Publish the wait, then look at the requests: a canceller or a sender sets its request,
     * then looks for the wait (gr_wq_interrupt). Both sides seq_cst: one sees the other. */
    w->flags = pw->flags;
    gr_store(&gp->waitkey, w->key);
    gr_store(&gp->waiting, w);
    if (gr_cancel_async_pending(gp) || ((pw->flags & GR_WQ_CANCEL) && gr_cancel_pending(gp))) {
        why = GR_WAKE_CANCEL;
    } else if ((pw->flags & GR_WQ_SIGNAL) && gr_signals_deliverable(gp) != 0) {
        if (pw->flags & GR_WQ_HANDLER) {
            gr_unlock(&b->lock); /* queued still: the handler runs, then it parks again */
            return false;
        }
        why = GR_WAKE_SIGNAL;
    } else if ((pw->flags & GR_WQ_SIGNAL) && gp->suspending &&
               gp->handlers_run != gp->suspend_seen) {
        why = GR_WAKE_SIGNAL; /* a handler ran on the G on its way here (signal.c) */
    } else if (pw->deadline >= 0 && pw->deadline <= gr_nanotime()) {
        why = GR_WAKE_TIMEOUT;
    }
    if (why != GR_WAKE_NONE) {
        gr_wq_remove(b, w);
        gr_store(&w->wake, why);
        gr_unlock(&b->lock);
        return false;
    }
    if (pw->deadline >= 0)
        gr_timer_add(gr_getm()->p, &pw->timer, pw->deadline);
    w->parked = true;
    gr_unlock(&b->lock);
    return true;
}

/*
 * A G wired to its M (wire.c) waits in the kernel on w->wake, never leaving its M: the kernel
 * then wakes it as it would a native thread, at its real-time priority. The checks are
 * wait_unlockf's, made again under the bucket lock each time the G wakes up without a waker's
 * reason; a deadline is the futex wait's own. The G stays G_WAITING throughout (but while a
 * handler runs in a GR_WQ_HANDLER wait), so a process signal that lands on its M while its
 * waiter is queued goes through the router to it, as to a parked G (signal.c's wrapper); one
 * that runs here all the same is noted in sigdelivered and ends a GR_WQ_SIGNAL wait, as
 * natively. Returns with the wait undone, as gr_park and the checks after it do.
 */
static uint32_t
wired_wait(struct gr_bucket *b, struct gr_waiter *w, int64_t deadline, unsigned flags,
           const char *reason)
{
    struct g *gp = w->gp;
    uint64_t before = gp->sigdelivered; /* handlers noted before this wait do not end it */
    uint32_t r;

    gp->sigdelivered = 0;
    gr_store_relaxed(&gp->waitreason, reason);
    gr_store_relaxed(&gp->since, gr_nanotime());
    gr_casgstatus(gp, G_RUNNING, G_WAITING);
    gr_signal_fence(); /* the wrapper (same thread) sees both */
    for (;;) {
        uint32_t why = GR_WAKE_NONE;

        gr_lock(&b->lock);
        r = gr_load(&w->wake);
        if (r == WAKE_RUN_HANDLER) {
            gr_store(&w->wake, GR_WAKE_NONE); /* queued still; the checks below find why */
            r = GR_WAKE_NONE;
        }
        if (r != GR_WAKE_NONE) {
            gr_unlock(&b->lock);
            break;
        }
        /* Published before the requests are looked at, as in wait_unlockf. */
        w->flags = flags;
        gr_store(&gp->waitkey, w->key);
        gr_store(&gp->waiting, w);
        if (gr_cancel_async_pending(gp) || ((flags & GR_WQ_CANCEL) && gr_cancel_pending(gp))) {
            why = GR_WAKE_CANCEL;
        } else if ((flags & GR_WQ_SIGNAL) && !(flags & GR_WQ_HANDLER) && gp->sigdelivered != 0) {
            why = GR_WAKE_SIGNAL; /* a handler ran on this M, so on this G (the wrapper) */
        } else if ((flags & GR_WQ_SIGNAL) && gr_signals_deliverable(gp) != 0) {
            if (flags & GR_WQ_HANDLER) {
                /* Queued still (a barrier): the handler runs, then the wait goes on. */
                gr_unlock(&b->lock);
                gr_casgstatus(gp, G_WAITING, G_RUNNABLE);
                gr_casgstatus(gp, G_RUNNABLE, G_RUNNING);
                gr_resumed(gp);
                gp->sigdelivered = 0;
                gr_casgstatus(gp, G_RUNNING, G_WAITING);
                gr_signal_fence();
                continue;
            }
            why = GR_WAKE_SIGNAL;
        } else if (deadline >= 0 && deadline <= gr_nanotime()) {
            why = GR_WAKE_TIMEOUT;
        }
        if (why != GR_WAKE_NONE) {
            gr_wq_remove(b, w);
            gr_store(&w->wake, why);
            gr_unlock(&b->lock);
            r = why;
            break;
        }
        gr_unlock(&b->lock);
        /* Always with a deadline: the kernel then ends the wait with EINTR after any handler,
         * SA_RESTART or not (a wait without one it restarts by itself). */
        gr_sys_futex_wait(gr_atomic_word(&w->wake), GR_WAKE_NONE,
                          deadline >= 0 ? deadline : INT64_MAX / 2);
    }
    gr_casgstatus(gp, G_WAITING, G_RUNNABLE);
    gr_casgstatus(gp, G_RUNNABLE, G_RUNNING);
    gp->sigdelivered |= before;
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
    if (gp != NULL) {
        if (w->kwait) {
            r = wired_wait(b, w, deadline, flags, reason);
        } else {
            struct parkwait pw = {
                .b = b,
                .w = w,
                .deadline = deadline,
                .flags = flags,
            };
            pw.timer.fn = wait_timeout;
            pw.timer.arg = &pw;
            for (;;) {
                gr_park(wait_unlockf, &pw, reason);
                if (deadline >= 0)
                    gr_timer_del(&pw.timer);
                r = gr_load(&w->wake);
                if (r != GR_WAKE_NONE || !(flags & GR_WQ_HANDLER))
                    break;
                /* Still queued (a barrier): the signal's handler runs, then the G parks again;
                 * nobody asks whether it ran. */
                gr_resumed(gp);
                gp->sigdelivered = 0;
            }
            if (r == GR_WAKE_NONE)
                gr_throw("wait table: G resumed while still queued");
        }
        /* Nothing of the wait is left (invariants): handlers may run, the G may unwind. */
        gr_resumed(gp);
        if (r == GR_WAKE_CANCEL && !(flags & (GR_WQ_CANCEL | GR_WQ_UNDO)))
            gr_cancel_test(); /* asynchronous, in a wait that is no cancellation point */
        return r;
    }

    /* No G: sleep the OS thread on the waiter's own word. A G that may not park (inside a
     * handler of the program) does it in syscall mode, so that its P serves the others
     * meanwhile; it gets a P back without leaving the M (syscall.c). Not when the handler
     * interrupted the runtime: the P's cache or run queue may be half updated by the
     * interrupted code, so the P stays here (signal.c, handler_handoff). */
    struct g *self = gr_current();
    bool sys = self != NULL && gr_load_relaxed(&self->status) == G_RUNNING &&
               gr_getm()->p != NULL && (self->inhandler == 0 || self->handler_handoff);
    if (sys)
        gr_entersyscall();
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
    if (sys)
        gr_exitsyscall();
    return r;
}

uint64_t
gr_signals_deliverable(struct g *gp)
{
    return gr_load(&gp->sigpending) & (~gr_load_relaxed(&gp->sigmask) | gr_load(&gp->sigwait_set));
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
            if (w != NULL && why == GR_WQ_SIGNAL && (w->flags & GR_WQ_HANDLER)) {
                /* Let it run its handler, queued still; its park sees the signal. A wired G
                 * asleep in the kernel is woken by a change of the word it sleeps on, which
                 * it puts back (wired_wait): it cannot return while this holds the bucket. */
                if (w->kwait) {
                    gr_store(&w->wake, WAKE_RUN_HANDLER);
                    gr_sys_futex_wake(gr_atomic_word(&w->wake), 1);
                } else if (w->parked) {
                    w->parked = false;
                    gr_ready(gp);
                }
            } else if (w != NULL && (why == GR_WQ_ASYNC || (w->flags & why))) {
                gr_wq_wake(b, w, why == GR_WQ_SIGNAL ? GR_WAKE_SIGNAL : GR_WAKE_CANCEL);
            }
            gr_wq_unlock(b);
            return;
        }
        gr_wq_unlock(b);
    }
}

int
gr_futex_wait(const uint32_t *addr, uint32_t val, uint32_t bitset, int64_t deadline, unsigned flags,
              const char *reason)
{
    struct gr_bucket *b = gr_wq_lock(addr);
    struct gr_waiter w;

    if (gr_raw_load(addr) != val) {
        gr_wq_unlock(b);
        return -EAGAIN;
    }
    w.bitset = bitset;
    gr_wq_push(b, &w, addr, false);
    return gr_wake_errno(gr_wq_wait(b, &w, deadline, flags, reason, NULL, NULL));
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
