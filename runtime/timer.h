/*
 * runtime/timer.h: per-P timers (sleeps, timed waits, deadlines).
 *
 * A timer lives in the memory of whoever armed it (usually the parked G's stack) and sits in
 * at most one P's heap. Its callback runs on an M (g0, or a G passing through the scheduler),
 * must not park, and is typically "lock a wait-table bucket, ready a G".
 */
#ifndef GR_RUNTIME_TIMER_H
#define GR_RUNTIME_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/atomic.h"
#include "runtime/lock.h"

struct p;

enum {
    T_IDLE,    /* not armed */
    T_HEAP,    /* in t->pp's heap */
    T_RUNNING, /* removed from the heap, callback running */
};

struct gr_timer {
    int64_t when;                        /* protected by pp->timers.lock while armed */
    struct g *(*fn)(struct gr_timer *t); /* returns a G to ready after the timer is let go */
    void *arg;
    GR_ATOMIC_PTR(struct p)
    pp;                         /* atomic: heap it sits in; changed under that heap's lock,
                                   read without it by gr_timer_del, then checked under it */
    int32_t idx;                /* position in the heap; protected by the heap's lock */
    struct gr_atomic_u32 state; /* atomic: T_*; T_RUNNING -> T_IDLE by the runner */
};

struct gr_timers {
    struct gr_mutex lock;
    struct gr_timer **heap; /* 4-ary min-heap on when; protected by lock */
    int32_t len;
    int32_t cap;
    struct gr_atomic_i64 next_when; /* atomic: heap[0]->when, or INT64_MAX; written under lock,
                                       read without it */
};

/* Arm t to run t->fn at when (absolute CLOCK_MONOTONIC ns) on pp. Requires: t->state T_IDLE. */
void gr_timer_add(struct p *pp, struct gr_timer *t, int64_t when);
/*
 * Disarm t. True when it was removed before its callback started; false when it already ran
 * or is running, in which case this waits until the callback has returned.
 */
bool gr_timer_del(struct gr_timer *t);
/*
 * Move every timer of from into to's heap: a spare P retiring hands its timers to the P it
 * stood in for, whose G sees them due (Go moves a destroyed P's timers alike). Lock order:
 * from's heap, then to's; only a spare is ever a from, never a to.
 */
void gr_timers_move(struct p *from, struct p *to);
/* Run pp's due timers. Returns the next deadline of pp, or INT64_MAX. Context: any M. */
int64_t gr_timers_run(struct p *pp, int64_t now);

#endif /* GR_RUNTIME_TIMER_H */
