/*
 * runtime/proc.h: the scheduler (proc.c): park and ready, the scheduler loop, idle Ps and Ms.
 */
#ifndef GR_RUNTIME_PROC_H
#define GR_RUNTIME_PROC_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/api.h"
#include "runtime/arch.h"
#include "runtime/sched.h"

/*
 * The running user G, or NULL on g0, on an OS thread the runtime does not own, before boot.
 * gr_curg is NULL exactly on threads the runtime does not own; on an M's own blocks it names
 * the M's g0, so gr_curg != NULL means gr_getm() is valid.
 */
static inline struct g *
gr_current(void)
{
    struct g *gp = gr_curg;

    if (gp == NULL || gr_load_relaxed(&gr_getm()->curg) != gp)
        return NULL;
    return gp;
}

/* How many Ps there are, spares included: allp[0..gr_nallp()) are all made. Context: any. */
static inline int32_t
gr_nallp(void)
{
    /* Pairs with the store-release in spare.c that publishes a new spare. */
    return gr_load_acquire(&gr_sched.nallp);
}

/* The P the calling M holds, or NULL. Context: any M. */
static inline struct p *
gr_curp(void)
{
    return gr_getm()->p;
}

/*
 * Park the running G. On g0, unlockf(gp, arg) runs; if it returns false the G is made runnable
 * again at once. Whoever readies the G must be able to find it only after unlockf released
 * their lock: that is what makes park/ready free of lost wakeups. Back on the G, the caller
 * undoes what it left on its stack for the wait (a waiter, a timer), then calls gr_resumed:
 * a signal handler or a cancellation may leave the frame for good.
 * Context: user G.
 */
void gr_park(bool (*unlockf)(struct g *gp, void *arg), void *arg, const char *reason);
/* Make a parked G runnable on the current M's P (or the global queue). Context: any. */
void gr_ready(struct g *gp);
/* Yield to the global queue (preemption: let every P see the G). Context: user G. */
void gr_yield_global(void);
/* Wake an idle P if there is work and nobody is spinning (Go's wakep). Context: any M. */
void gr_wakep(void);
/* Called by gr_timer_add: make sure an M wakes up for a timer at when. */
void gr_timer_added(int64_t when);

/* ---- Inside the runtime: the other scheduler files (m.c, g.c, syscall.c, spare.c, boot.c,
 * fork.c) act on the idle lists and on the switch to g0 through these. */

/* A new P, not yet in allp, status P_IDLE, id id; NULL without memory. Context: any; no
 * lock held but ranks below mem. */
struct p *gr_p_new(int32_t id);
/* The idle P list. Requires: gr_sched.lock held. */
void gr_pidle_put(struct p *pp);
struct p *gr_pidle_get(void);
/* Give up pp: to the idle list, or a spare to the spare list. Requires: gr_sched.lock held. */
void gr_p_release(struct p *pp);
/* Attach idle pp to mp. Requires: pp is idle and not on the idle list; mp is the caller. */
void gr_acquirep(struct m *mp, struct p *pp);
/* Run some M on pp (an idle P when NULL); spinning: the M counts as spinning, already
 * counted in nmspinning by the caller. Requires: gr_sched.lock not held. */
void gr_startm(struct p *pp, bool spinning);
/* Queue a new G (G_IDLE) for the first time. */
void gr_ready_new(struct g *gp);
/* Start a new real-time G (G_IDLE) at once on an M of its own without a P (an idle M, or a
 * new one), where it wires itself (wire.c); queue it when no thread can be had. */
void gr_startm_g(struct g *gp);
/* Switch from gp, running, to its M's g0, which then does what after (AFTER_*) asks. */
void gr_switch_to_g0(struct g *gp, int after);
/* Back on gp after a switch: run the handlers of signals sent to it meanwhile, and note an
 * asynchronous cancel for its next safe point (cancel.c). */
void gr_resumed(struct g *gp);
/* On g0: finish what the G that just switched away asked for (mp->after). */
void gr_after_switch(struct m *mp);
/* The scheduler loop of mp, on its g0. */
GR_NORETURN void gr_schedule(struct m *mp);

#endif /* GR_RUNTIME_PROC_H */
