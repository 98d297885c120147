/*
 * runtime/syscall.c: blocking calls (Go's entersyscall, exitsyscall, handoffp, retake).
 *
 * A G about to make a call that may sleep in the kernel leaves its P in P_SYSCALL and keeps
 * no P (gr_entersyscall). If the call lasts, sysmon takes the P (P_SYSCALL -> P_IDLE, a CAS
 * that races the G's own return) and hands it to another M when there is work
 * (gr_retake, gr_handoffp). Back from the call, the G takes its own P again if sysmon did not,
 * else any idle P, else it waits on the global queue (gr_exitsyscall). A G that makes short
 * calls back to back yields now and then, so that the others on its P are not starved. A call
 * that will almost surely sleep hands the P on at once (gr_entersyscallblock). A G wired to
 * its M (wire.c) has no P: for it syscall mode is the status alone.
 *
 * Locks: none of its own; gr_sched.lock for the idle list.
 */
#include "runtime/syscall.h"

#include <stdint.h>

#include "runtime/atomic.h"
#include "runtime/debug.h"
#include "runtime/g.h"
#include "runtime/proc.h"
#include "runtime/runq.h"
#include "runtime/spare.h"
#include "runtime/sys.h"
#include "runtime/timer.h"

void
gr_entersyscall(void)
{
    struct g *gp = gr_curg;
    struct m *mp = gr_getm();
    struct p *pp = mp->p;

    if (mp->lockedg == gp) {
        /* Wired (wire.c): the M is the G's own and has no P to hand on. */
        gr_casgstatus(gp, G_RUNNING, G_SYSCALL);
        return;
    }
    GR_ASSERT(gp == gr_current() && pp != NULL && gr_load_relaxed(&pp->m) == mp);
    gr_owner_inc(&pp->syscalltick);
    gr_casgstatus(gp, G_RUNNING, G_SYSCALL);
    mp->oldp = pp;
    mp->p = NULL;
    gr_store_relaxed(&pp->m, NULL);
    /* From here sysmon may take pp (P_SYSCALL -> P_IDLE); pairs with the CAS below. */
    gr_store(&pp->status, P_SYSCALL);
}

/*
 * After a blocking call, on its own P again: should the G let others run first? Yes when a
 * timer of the P is overdue, or when Gs wait and this one has had the P for a slice. A G
 * that makes short blocking calls back to back (a file written in 1 MB pieces) otherwise
 * never reaches the scheduler, and sysmon, which hands a P on during one long call, wakes
 * too seldom to catch any one short call. It yields to the global queue, as Go's Gosched:
 * back on the local queue it would run again before a G readied to the global queue by an
 * M without a P, which the scheduler looks at only every 61st round.
 */
#define SYSCALL_SLICE_NS 1000000LL

static bool
exit_yield_due(struct p *pp)
{
    int64_t when = gr_load_relaxed(&pp->timers.next_when), now;
    bool queued = !gr_runq_empty(pp) || gr_load_relaxed(&gr_sched.runqsize) > 0;

    if (when == INT64_MAX && !queued)
        return false;
    now = gr_nanotime();
    return when <= now || (queued && now - pp->runstart >= SYSCALL_SLICE_NS);
}

void
gr_exitsyscall(void)
{
    struct g *gp = gr_curg;
    struct m *mp = gr_getm();
    struct p *pp = mp->oldp;
    uint32_t st = P_SYSCALL;

    if (mp->lockedg == gp) {
        gr_casgstatus(gp, G_SYSCALL, G_RUNNING);
        return;
    }
    mp->oldp = NULL;
    if (gr_cas(&pp->status, &st, P_RUNNING)) {
        gr_store_relaxed(&pp->m, mp);
        mp->p = pp;
        gr_casgstatus(gp, G_SYSCALL, G_RUNNING);
        if (exit_yield_due(pp))
            gr_yield_global();
        return;
    }
    /* sysmon gave our P away: take any idle one, or wait in the global queue. */
    gr_lock(&gr_sched.lock);
    pp = gr_pidle_get();
    gr_unlock(&gr_sched.lock);
    if (pp != NULL) {
        gr_acquirep(mp, pp);
        gr_casgstatus(gp, G_SYSCALL, G_RUNNING);
        /* As on the fast path: sysmon may take the P during every call of a series. */
        if (exit_yield_due(pp))
            gr_yield_global();
        return;
    }
    gr_switch_to_g0(gp, AFTER_EXITSYSCALL);
    gr_resumed(gp);
}

long
gr_blocking_syscall6(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
    long r;

    gr_entersyscall();
    r = gr_syscall6(nr, a1, a2, a3, a4, a5, a6);
    gr_exitsyscall();
    return r;
}

void
gr_handoffp(struct p *pp)
{
    uint32_t zero = 0;

    gr_store_relaxed(&pp->m, NULL);
    if (!gr_runq_empty(pp) || gr_load_relaxed(&gr_sched.runqsize) > 0) {
        gr_startm(pp, false);
        return;
    }
    if (gr_load(&gr_sched.nmspinning) + gr_load(&gr_sched.npidle) == 0 &&
        gr_cas(&gr_sched.nmspinning, &zero, 1)) {
        gr_startm(pp, true);
        return;
    }
    if (pp->spare)
        gr_timers_move(pp, gr_spare_heir(pp)); /* a spare in the list runs no timers */
    gr_lock(&gr_sched.lock);
    gr_p_release(pp);
    gr_unlock(&gr_sched.lock);
    if (gr_load(&pp->timers.next_when) != INT64_MAX)
        gr_timer_added(gr_load(&pp->timers.next_when));
}

void
gr_entersyscallblock(void)
{
    struct m *mp = gr_getm();
    struct p *pp;
    uint32_t st = P_SYSCALL;

    gr_entersyscall();
    /* The same CAS as sysmon's retake: whoever wins hands the P on, the other leaves it. */
    pp = mp->oldp;
    if (pp != NULL && gr_cas(&pp->status, &st, P_IDLE))
        gr_handoffp(pp);
}

#define RETAKE_AFTER_NS 20000LL

#define RETAKE_IDLE_NS 10000000LL

int
gr_retake(int64_t now)
{
    int n = 0;

    for (int i = 0; i < gr_nallp(); i++) {
        struct p *pp = gr_sched.allp[i];
        uint32_t tick, st = P_SYSCALL;

        if (gr_load(&pp->status) != P_SYSCALL)
            continue;
        tick = gr_load_relaxed(&pp->syscalltick);
        if (pp->sysmon_tick != tick) {
            pp->sysmon_tick = tick;
            pp->sysmon_when = now;
            continue;
        }
        if (now - pp->sysmon_when < RETAKE_AFTER_NS)
            continue;
        /* Nothing waits and others are free to take new work: leave it a while (Go). */
        if (gr_runq_empty(pp) && gr_load_relaxed(&gr_sched.runqsize) == 0 &&
            gr_load(&gr_sched.nmspinning) + gr_load(&gr_sched.npidle) > 0 &&
            now - pp->sysmon_when < RETAKE_IDLE_NS)
            continue;
        if (!gr_cas(&pp->status, &st, P_IDLE))
            continue;
        n++;
        gr_handoffp(pp);
    }
    return n;
}
