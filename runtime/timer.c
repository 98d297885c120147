/*
 * runtime/timer.c: per-P 4-ary timer heaps (Go's time.go since 1.14, without the
 * lock-free status machine: one lock per heap is enough for C callers).
 *
 * Invariants:
 *  - pp->timers.heap[0] is the earliest timer; next_when == heap[0]->when, or INT64_MAX when
 *    the heap is empty. Idle Ms and sysmon read next_when without the lock (atomic).
 *  - t->state == T_HEAP exactly when t is in t->pp's heap at t->idx.
 *  - A callback runs with no timer lock held, after its timer left the heap (T_RUNNING);
 *    the runner stores T_IDLE after the callback returns. gr_timer_del waits for that, so the
 *    memory holding a timer may be reused as soon as gr_timer_del returns.
 * Locks: pp->timers.lock is a leaf below gr_sched.lock; callbacks take wait-table locks
 *  and may ready Gs, which may take gr_sched.lock, so no timer lock is held across them.
 * Heap storage comes from gr_mem_alloc and grows by doubling; it is never freed.
 */
#include "runtime/timer.h"

#include <stdint.h>
#include <string.h>

#include "runtime/atomic.h"
#include "runtime/debug.h"
#include "runtime/mem.h"
#include "runtime/proc.h"
#include "runtime/sched.h"
#include "runtime/trace.h"

static void
heap_set(struct gr_timers *ts, int32_t i, struct gr_timer *t)
{
    ts->heap[i] = t;
    t->idx = i;
}

static void
sift_up(struct gr_timers *ts, int32_t i)
{
    struct gr_timer *t = ts->heap[i];

    while (i > 0) {
        int32_t parent = (i - 1) / 4;
        if (ts->heap[parent]->when <= t->when)
            break;
        heap_set(ts, i, ts->heap[parent]);
        i = parent;
    }
    heap_set(ts, i, t);
}

static void
sift_down(struct gr_timers *ts, int32_t i)
{
    struct gr_timer *t = ts->heap[i];

    for (;;) {
        int32_t c = i * 4 + 1, best = -1;
        int64_t bw = t->when;
        for (int32_t k = c; k < c + 4 && k < ts->len; k++) {
            if (ts->heap[k]->when < bw) {
                bw = ts->heap[k]->when;
                best = k;
            }
        }
        if (best < 0)
            break;
        heap_set(ts, i, ts->heap[best]);
        i = best;
    }
    heap_set(ts, i, t);
}

static void
update_next(struct gr_timers *ts)
{
    gr_store(&ts->next_when, ts->len > 0 ? ts->heap[0]->when : INT64_MAX);
}

/* Requires: ts->lock held; t in ts's heap. */
static void
heap_remove(struct gr_timers *ts, struct gr_timer *t)
{
    int32_t i = t->idx, last = --ts->len;

    GR_ASSERT_HELD(&ts->lock);
    GR_ASSERT(i >= 0 && i <= last && ts->heap[i] == t);
    if (i != last) {
        heap_set(ts, i, ts->heap[last]);
        if (i > 0 && ts->heap[(i - 1) / 4]->when > ts->heap[i]->when)
            sift_up(ts, i);
        else
            sift_down(ts, i);
    }
    ts->heap[last] = NULL;
    t->idx = -1;
    update_next(ts);
}

/* Put t, already holding when, into pp's heap. Requires: pp->timers.lock held. */
static void
heap_push(struct p *pp, struct gr_timer *t)
{
    struct gr_timers *ts = &pp->timers;

    GR_ASSERT_HELD(&ts->lock);
    if (ts->len == ts->cap) {
        int32_t ncap = ts->cap == 0 ? 64 : ts->cap * 2;
        struct gr_timer **nh = gr_mem_alloc(sizeof(*nh) * (size_t)ncap);
        if (nh == NULL)
            gr_throw("timer: out of memory for the heap");
        if (ts->len > 0)
            memcpy(nh, ts->heap, sizeof(*nh) * (size_t)ts->len);
        /* The old array is leaked on purpose: heaps only grow, and rarely. */
        ts->heap = nh;
        ts->cap = ncap;
    }
    gr_store(&t->pp, pp);
    ts->heap[ts->len] = t;
    t->idx = ts->len++;
    sift_up(ts, t->idx);
    update_next(ts);
}

void
gr_timer_add(struct p *pp, struct gr_timer *t, int64_t when)
{
    struct gr_timers *ts = &pp->timers;

    GR_ASSERT(gr_load(&t->state) == T_IDLE);
    gr_lock(&ts->lock);
    t->when = when;
    gr_store(&t->state, T_HEAP);
    heap_push(pp, t);
    gr_unlock(&ts->lock);
    gr_timer_added(when);
}

void
gr_timers_move(struct p *from, struct p *to)
{
    struct gr_timers *fs = &from->timers;
    int64_t first = INT64_MAX;

    if (gr_load(&fs->next_when) == INT64_MAX)
        return;
    gr_lock(&fs->lock);
    gr_lock(&to->timers.lock);
    while (fs->len > 0) {
        /* Stays T_HEAP throughout: gr_timer_del waits on from's lock, then sees t->pp moved. */
        struct gr_timer *t = fs->heap[fs->len - 1];
        heap_remove(fs, t);
        heap_push(to, t);
        if (t->when < first)
            first = t->when;
    }
    gr_unlock(&to->timers.lock);
    gr_unlock(&fs->lock);
    if (first != INT64_MAX)
        gr_timer_added(first);
}

bool
gr_timer_del(struct gr_timer *t)
{
    for (;;) {
        uint32_t st = gr_load(&t->state);
        if (st == T_IDLE)
            return false;
        if (st == T_RUNNING) {
            /* The callback is short (lock a bucket, ready a G): wait it out, spinning a
             * little, then yielding the CPU (Go's deltimer osyields): the runner may be an
             * OS thread the kernel just put behind this one on the same CPU, and a pure spin
             * then lasts until the next scheduler tick (3-4 ms late sleeps). */
            for (int spins = 0; gr_load(&t->state) == T_RUNNING; spins++)
                gr_backoff(spins);
            return false;
        }
        struct p *pp = gr_load(&t->pp);
        gr_lock(&pp->timers.lock);
        if (gr_load(&t->state) == T_HEAP && gr_load_relaxed(&t->pp) == pp) {
            heap_remove(&pp->timers, t);
            gr_store(&t->state, T_IDLE);
            gr_unlock(&pp->timers.lock);
            return true;
        }
        gr_unlock(&pp->timers.lock);
    }
}

int64_t
gr_timers_run(struct p *pp, int64_t now)
{
    struct gr_timers *ts = &pp->timers;

    if (gr_load(&ts->next_when) > now)
        return gr_load(&ts->next_when);
    for (;;) {
        gr_lock(&ts->lock);
        if (ts->len == 0 || ts->heap[0]->when > now) {
            int64_t next = ts->len > 0 ? ts->heap[0]->when : INT64_MAX;
            gr_unlock(&ts->lock);
            return next;
        }
        struct gr_timer *t = ts->heap[0];
        heap_remove(ts, t);
        gr_store(&t->state, T_RUNNING);
        int64_t late = now - t->when; /* before the callback, which may arm it again */
        gr_unlock(&ts->lock);
        struct g *gp = t->fn(t);
        GR_TRACE(GR_EV_TIMER, 0, gp != NULL ? gp->goid : 0, (uint64_t)late);
        gr_store(&t->state, T_IDLE); /* pairs with the loads in gr_timer_del */
        /* Last: the timer may live on gp's stack, and gp's gr_timer_del must find it idle
         * rather than wait for this M, which the kernel may have descheduled. */
        if (gp != NULL)
            gr_ready(gp);
    }
}
