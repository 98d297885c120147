/*
 * runtime/spare.c: spare Ps.
 *
 * An M can sleep in the kernel while holding its P, in a call the runtime does not see (a
 * glibc-internal lock held by a parked G, a system call issued directly): its P stays
 * P_RUNNING and no hook hands it on. sysmon notices the P's schedule not moving while its M
 * sleeps (sysmon.c) and starts a spare P, beyond GREENRUN_PROCS, so the other Gs keep
 * running, the stuck P's queued Gs included (the spare may take its runnext too); the spare
 * retires as soon as the stuck P moves again, at its next pass through the scheduler.
 * Meanwhile it runs the stuck P's due timers at each pass (proc.c, findrunnable); a retiring
 * spare hands its own timers to the P it stood in for. Spares are never on the idle list:
 * they live on gr_sched.pspare. Boot makes GREENRUN_PROCS of them; when every one stands in
 * for a P already and another M gets stuck, one more is made (a spare's M can get stuck too),
 * up to GR_SPARES_MAX, so no number of threads asleep in glibc stops the others. Spares are
 * never freed: allp only grows, and readers bound it with gr_nallp().
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

/* Publish fresh, a new spare, in allp and on the spare list. Requires: gr_sched.lock held. */
static void
spare_publish(struct p *fresh)
{
    int32_t n = gr_load_relaxed(&gr_sched.nallp);

    GR_ASSERT_HELD(&gr_sched.lock);
    fresh->id = n;
    fresh->spare = true;
    gr_sched.allp[n] = fresh;
    /* Pairs with the load-acquire in gr_nallp(): a reader that sees n + 1 sees allp[n]. */
    gr_store_release(&gr_sched.nallp, n + 1);
    fresh->link = gr_sched.pspare;
    gr_sched.pspare = fresh;
}

bool
gr_start_spare(struct p *stuck)
{
    struct p *pp, *fresh = NULL;

    for (;;) {
        gr_lock(&gr_sched.lock);
        for (int i = gr_sched.nprocs; i < gr_nallp(); i++) {
            if (gr_sched.allp[i]->stuck == stuck) {
                if (fresh != NULL)
                    spare_publish(fresh);
                gr_unlock(&gr_sched.lock);
                return false; /* one spare per stuck P */
            }
        }
        if (fresh != NULL)
            spare_publish(fresh);
        if (gr_sched.pspare != NULL)
            break;
        /* Every spare stands in for a P already: make one more, however many Ms are stuck
         * (up to GR_SPARES_MAX), outside the lock since it allocates. */
        int32_t n = gr_load_relaxed(&gr_sched.nallp);
        gr_unlock(&gr_sched.lock);
        if (n >= (int32_t)GR_ARRAY_LEN(gr_sched.allp))
            return false;
        fresh = gr_p_new(n);
        if (fresh == NULL)
            return false;
    }
    pp = gr_sched.pspare;
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
