/*
 * runtime/runq.h: per-P run queues and the global run queue (Go's runqput/runqget/
 * runqsteal/globrunqput).
 */
#ifndef GR_RUNTIME_RUNQ_H
#define GR_RUNTIME_RUNQ_H

#include <stdbool.h>

struct g;
struct p;

/* Put gp on pp's queue (runnext when next); a full ring spills half to the global queue.
 * Requires: the caller owns pp. */
void gr_runq_put(struct p *pp, struct g *gp, bool next);
/* Put gp in pp's runnext for the scheduler (no G running): the G it pushes out goes to the
 * global queue's wakeups, not the ring's tail. Requires: the caller owns pp; takes
 * gr_sched.lock then. */
void gr_runq_put_sched(struct p *pp, struct g *gp);
/* Take the next G of pp (runnext first). Requires: the caller owns pp. */
struct g *gr_runq_get(struct p *pp);
bool gr_runq_empty(struct p *pp);
/* Would gr_runq_steal find something in pp? (A running P's runnext does not count.) */
bool gr_runq_stealable(struct p *pp);
/* Steal about half of victim's queue into pp; returns one G to run, or NULL. steal_next also
 * takes the runnext of a P that is not running, or of the stuck P that pp (a spare) stands
 * in for. Requires: the caller owns pp. */
struct g *gr_runq_steal(struct p *pp, struct p *victim, bool steal_next);

/* Global queue. Requires: gr_sched.lock held. */
void gr_globrunq_put(struct g *gp);
/* Queue a wakeup (a G back from a blocking call that lost its P, a G readied by an M without
 * a P, one gr_runq_put_sched pushed out): after the wakeups already at the head, before the
 * Gs that were preempted. */
void gr_globrunq_put_wakeup(struct g *gp);
/* The G at the head, or NULL. One at a time: proc.c's findrunnable says why. */
struct g *gr_globrunq_get(void);

#endif /* GR_RUNTIME_RUNQ_H */
