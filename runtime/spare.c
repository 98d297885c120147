/*
 * runtime/spare.c: spare Ps.
 *
 * An M can sleep in the kernel while holding its P, in a call the runtime does not see (a
 * glibc-internal lock held by a parked G, a system call issued directly): its P stays
 * P_RUNNING and no hook hands it on. sysmon notices the P's schedule not moving while its M
 * sleeps (sysmon.c) and starts a spare P, one of gr_sched.nallp - nprocs beyond
 * GREENRUN_PROCS, so the other Gs keep running; the spare retires as soon as the stuck P
 * moves again, at its next pass through the scheduler. Meanwhile it runs the stuck P's due
 * timers at each pass (proc.c, findrunnable); a retiring spare hands its own timers to the P
 * it stood in for. Spares are never on the idle list: they live on gr_sched.pspare.
 * When new work finds no idle P while the same P is still stuck on the same schedule, a
 * spare starts again at once (gr_spare_again), instead of after sysmon watched for
 * milliseconds once more.
 *
 * Locks: gr_sched.lock for pspare and p->stuck; a retiring spare's timer heap before it.
 */
#include "runtime/spare.h"

#include <stdint.h>

#include "runtime/atomic.h"
#include "runtime/malloc.h"
#include "runtime/proc.h"
#include "runtime/runq.h"
#include "runtime/timer.h"

/* Put spare pp back on the spare list. Requires: gr_sched.lock held. */
void
gr_spare_put(struct p *pp)
{
    struct g *gp;

    GR_ASSERT_HELD(&gr_sched.lock);
    /* Its local Gs go to the global queue: the spare may not run again soon. */
    while ((gp = gr_runq_get(pp)) != NULL)
        gr_globrunq_put(gp);
    gr_store(&pp->status, P_IDLE);
    gr_store_relaxed(&pp->m, NULL);
    pp->stuck = NULL;
    pp->link = gr_sched.pspare;
    gr_sched.pspare = pp;
}

struct p *
gr_spare_take(void)
{
    struct p *pp = gr_sched.pspare;

    GR_ASSERT_HELD(&gr_sched.lock);
    if (pp != NULL) {
        gr_sched.pspare = pp->link;
        pp->stuck = NULL;
    }
    return pp;
}

/* Where a retiring spare's timers go: the P it stood in for. */
struct p *
gr_spare_heir(struct p *pp)
{
    return pp->stuck != NULL ? pp->stuck : gr_sched.allp[0];
}

/*
 * A spare no longer needed leaves mp: its timers go to the P it stood in for (whose Gs would
 * otherwise not see them due), then it joins the spare list. Requires: gr_sched.lock not
 * held (timer heaps come first in the lock order).
 */
void
gr_spare_retire(struct m *mp, struct p *pp)
{
    GR_ASSERT(!gr_lock_held(&gr_sched.lock));
    gr_timers_move(pp, gr_spare_heir(pp));
    gr_malloc_p_idle(pp, 0, true);
    gr_lock(&gr_sched.lock);
    mp->p = NULL;
    gr_spare_put(pp);
    gr_unlock(&gr_sched.lock);
}

/* Is spare pp still needed? Requires: gr_sched.lock held. */
bool
gr_spare_needed(struct p *pp)
{
    struct p *sp = pp->stuck;

    GR_ASSERT_HELD(&gr_sched.lock);
    return sp != NULL && gr_load(&sp->status) == P_RUNNING &&
           gr_load_relaxed(&sp->schedtick) == pp->stuck_tick;
}

bool
gr_start_spare(struct p *stuck)
{
    struct p *pp;

    gr_lock(&gr_sched.lock);
    for (int i = gr_sched.nprocs; i < gr_sched.nallp; i++)
        if (gr_sched.allp[i]->stuck == stuck) {
            gr_unlock(&gr_sched.lock);
            return false; /* one spare per stuck P */
        }
    pp = gr_sched.pspare;
    if (pp == NULL) {
        gr_unlock(&gr_sched.lock);
        return false;
    }
    gr_sched.pspare = pp->link;
    pp->stuck = stuck;
    pp->stuck_tick = gr_load_relaxed(&stuck->schedtick);
    gr_store(&gr_sched.stuckp_tick, pp->stuck_tick);
    gr_store(&gr_sched.stuckp, stuck);
    gr_unlock(&gr_sched.lock);
    gr_startm(pp, false);
    return true;
}

/*
 * New work and no idle P. A spare retires when it runs out of work; if the P it stood in for
 * is still stuck on the same schedule, start one again now rather than after sysmon has
 * watched the P for milliseconds once more (a 1 ms ticker next to a long unseen call got a
 * third of its ticks). Requires: gr_sched.lock not held.
 */
void
gr_spare_again(void)
{
    struct p *sp = gr_load(&gr_sched.stuckp);

    GR_ASSERT(!gr_lock_held(&gr_sched.lock));
    if (sp == NULL)
        return;
    if (gr_load(&sp->status) != P_RUNNING ||
        gr_load_relaxed(&sp->schedtick) != gr_load(&gr_sched.stuckp_tick)) {
        gr_cas(&gr_sched.stuckp, &sp, NULL); /* it moved on: forget it */
        return;
    }
    gr_start_spare(sp);
}
