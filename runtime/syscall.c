/*
 * runtime/syscall.c: blocking calls (Go's entersyscall, exitsyscall, handoffp, retake).
 *
 * A G about to make a call that may sleep in the kernel leaves its P in P_SYSCALL and keeps
 * no P (gr_entersyscall). If the call lasts, sysmon takes the P (P_SYSCALL -> P_IDLE, a CAS
 * that races the G's own return) and hands it to another M when there is work
 * (gr_retake, gr_handoffp). Back from the call, the G takes its own P again if sysmon did not,
 * else any idle P, else it waits on the global queue (gr_exitsyscall). A G that makes short
 * calls back to back yields now and then, so that the others on its P are not starved. A G
 * that cannot leave its M (inside a program's handler: g.h, gr_g_pinned) never yields here
 * and, without a P, takes a spare or waits for one on its M (pinned_getp). A call that will
 * almost surely sleep hands the P on at once (gr_entersyscallblock). A G wired to its M
 * (wire.c) has no P: for it syscall mode is the status, and the kick of signals sent to it.
 * With the blocking profile on, a call whose P was handed on is recorded with its callers
 * (blockrec.h): the hook's frame names the call.
 *
 * Locks: none of its own; gr_sched.lock for the idle list.
 */
#include "runtime/syscall.h"

#include <stdint.h>

#include "runtime/atomic.h"
#include "runtime/blockrec.h"
#include "runtime/boot.h"
#include "runtime/debug.h"
#include "runtime/g.h"
#include "runtime/preempt.h"
#include "runtime/proc.h"
#include "runtime/runq.h"
#include "runtime/signal.h"
#include "runtime/spare.h"
#include "runtime/sys.h"
#include "runtime/timer.h"
#include "runtime/unwind.h"
#include "runtime/trace.h"

/*
 * Enter syscall mode. pc and fp are the public entry's return address and frame pointer: the
 * caller's frame is recorded for the thread dump (dump.c unwinds from it while the G sleeps in
 * the kernel), and stays valid until the call returns, since the caller makes the call from
 * it. With frame pointers (the library is built with them), fp points at the caller's saved
 * frame pointer, and the caller's stack pointer after the return is fp + 16.
 */
static inline __attribute__((always_inline)) void
enter(uintptr_t pc, uintptr_t fp)
{
    struct g *gp = gr_curg;
    struct m *mp = gr_getm();
    struct p *pp = mp->p;

    gr_store_relaxed(&gp->syscallpc, pc);
    gr_store_relaxed(&gp->syscallsp, fp + 16);
    gr_store_relaxed(&gp->syscallbp, *(const uintptr_t *)fp);
    gr_store_relaxed(&gp->since, gr_nanotime_coarse()); /* the dump's "for N s" needs no more */
    GR_TRACE(GR_EV_SYSCALL_ENTER, 0, gp->goid, 0);
    if (mp->lockedg == gp) {
        /* Wired (wire.c): the M is the G's own and has no P to hand on. */
        gr_casgstatus(gp, G_RUNNING, G_SYSCALL);
        gr_store(&gp->sigkickable, 1);
        gr_signal_fence();
        return;
    }
    GR_ASSERT(gp == gr_current() && pp != NULL && gr_load_relaxed(&pp->m) == mp);
    if (gr_unlikely(gr_load_relaxed(&mp->ptimer_when) != INT64_MAX))
        gr_preempt_timer_disarm(mp); /* its expiry would end a sleep in the call with EINTR */
    if (gr_unlikely(gr_opts.blocking)) {
        mp->syscall_since = gr_nanotime();
        mp->syscall_schedtick = gr_load_relaxed(&pp->schedtick);
    }
    gr_owner_inc(&pp->syscalltick);
    gr_casgstatus(gp, G_RUNNING, G_SYSCALL);
    mp->oldp = pp;
    mp->p = NULL;
    mp->cpu_sys = true; /* the run may sleep in the kernel: read the clock when it ends */
    gr_store_relaxed(&pp->m, NULL);
    /* From here sysmon may take pp (P_SYSCALL -> P_IDLE); pairs with the CAS below. */
    gr_store(&pp->status, P_SYSCALL);
    /* From here a signal sent to the G is sent to this M as well (signal.c's kick). */
    gr_store(&gp->sigkickable, 1);
    gr_signal_fence();
    gr_trace_safepoint(mp); /* in syscall mode, holding nothing */
}

void
gr_entersyscall(void)
{
    enter((uintptr_t)__builtin_return_address(0), (uintptr_t)__builtin_frame_address(0));
}

/* Back from a call: signals sent to the G during it that the kick did not deliver. */
static void
deliver_due(struct g *gp)
{
    if (gr_unlikely(((gr_load(&gp->sigpending) | gr_load(&gr_sched.sigheld)) &
                     ~gr_load_relaxed(&gp->sigmask)) != 0))
        gr_signal_deliver(gp);
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

#define PINNED_RETRY_NS 200000LL /* a pinned G without a P looks for one this often */

/*
 * Our P was given away and none is idle, but gp cannot leave this M (a handler of the
 * program waited in syscall mode, gr_g_pinned): it takes a spare P, which retires at its next
 * pass through the scheduler, or waits on this M until a P or a spare is free. Returns the P.
 */
static struct p *
pinned_getp(struct m *mp, struct p *own)
{
    struct gr_note never = { 0 };

    for (;;) {
        uint32_t st = P_SYSCALL;
        struct p *pp;

        if (gr_cas(&own->status, &st, P_RUNNING)) {
            gr_store_relaxed(&own->m, mp);
            mp->p = own;
            return own;
        }
        gr_lock(&gr_sched.lock);
        pp = gr_pidle_get();
        if (pp == NULL)
            pp = gr_spare_take();
        gr_unlock(&gr_sched.lock);
        if (pp != NULL) {
            gr_acquirep(mp, pp);
            return pp;
        }
        gr_note_sleep(&never, gr_nanotime() + PINNED_RETRY_NS);
    }
}

/*
 * The P of the call gp is leaving went to another M: record the call. The runtime keeps frame
 * pointers, so its chain leads out of the hook to the program's return address; the last
 * frame inside the runtime is the hook, which names the call. From there out the program's
 * frames need not keep the chain (-O2 drops it), so libunwind walks them (DWARF), return
 * addresses only; the names are looked up once, for a site seen the first time.
 */
#define HANDOFF_WALK (GR_BLOCKREC_FRAMES + 8) /* frames of ours below the program's */

static GR_NOINLINE void
record_handoff(struct g *gp, struct m *mp)
{
    const uintptr_t *fp = __builtin_frame_address(0);
    uintptr_t frames[GR_BLOCKREC_FRAMES], pcs[HANDOFF_WALK], hook = 0;
    int n = 0, npcs, k = 0;
    int64_t now = gr_nanotime();

    while (gr_g_on_stack(gp, (uintptr_t)fp) && gr_g_on_stack(gp, (uintptr_t)(fp + 2) - 1)) {
        const uintptr_t *next = (const uintptr_t *)fp[0];

        if (fp[1] == 0)
            return;
        if (!gr_preempt_pc_in_runtime(fp[1])) {
            if (hook == 0)
                return;
            frames[n++] = hook;
            frames[n++] = fp[1];
            break;
        }
        hook = fp[1];
        if (next <= fp)
            return;
        fp = next;
    }
    if (n == 0)
        return;
    /* The program's frames beyond its call site, where the unwinder finds that return address
     * among its own: else the two frames the chain gave. */
    npcs = gr_unwind_self_pcs(pcs, HANDOFF_WALK);
    while (k < npcs && pcs[k] != frames[1])
        k++;
    for (int i = k + 1; i < npcs && n < GR_BLOCKREC_FRAMES; i++)
        frames[n++] = pcs[i];
    if (gr_blockrec_handoff(frames, n, mp->syscall_since, now)) {
        struct gr_frame named[HANDOFF_WALK];
        int nnamed = gr_unwind_self(named, HANDOFF_WALK, NULL);
        gr_blockrec_name(frames, n, named, nnamed);
    }
}

void
gr_exitsyscall(void)
{
    struct g *gp = gr_curg;
    struct m *mp = gr_getm();
    struct p *pp = mp->oldp;
    uint32_t st = P_SYSCALL;
    bool pinned = gr_g_pinned(gp);

    /* Whether sysmon took the P: a hint, read before the CAS below settles it. */
    GR_TRACE(GR_EV_SYSCALL_EXIT, pp != NULL && gr_load_relaxed(&pp->status) != P_SYSCALL, gp->goid,
             0);
    /* No more kicks; pairs with the sender's load of sigkickable after its record: either the
     * kick reached the call, or deliver_due sees the record. */
    gr_signal_fence();
    gr_xchg(&gp->sigkickable, 0);
    if (gr_unlikely(gr_load(&mp->kicking) != 0 || gr_load(&mp->kicksigs) != 0))
        gr_signal_kicks_settle(mp);
    if (mp->lockedg == gp) {
        /* Wired (wire.c): no P to take back. */
        gr_casgstatus(gp, G_SYSCALL, G_RUNNING);
        deliver_due(gp);
        return;
    }
    mp->oldp = NULL;
    if (gr_cas(&pp->status, &st, P_RUNNING)) {
        /* Back in P_SYSCALL is not proof that the P waited for us: sysmon may have handed it
         * on, and a G of the M that took it entered a call of its own. Another M's schedule
         * on it shows in its schedtick. */
        if (gr_unlikely(gr_opts.blocking) &&
            gr_load_relaxed(&pp->schedtick) != mp->syscall_schedtick)
            record_handoff(gp, mp);
        gr_store_relaxed(&pp->m, mp);
        mp->p = pp;
        gr_casgstatus(gp, G_SYSCALL, G_RUNNING);
        if (!pinned && exit_yield_due(pp))
            gr_yield_global();
        else
            deliver_due(gp);
        return;
    }
    if (gr_unlikely(gr_opts.blocking))
        record_handoff(gp, mp);
    if (pinned) {
        pinned_getp(mp, pp);
        gr_casgstatus(gp, G_SYSCALL, G_RUNNING);
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
        else
            deliver_due(gp);
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

    GR_TRACE(GR_EV_HANDOFF, (uint32_t)pp->id, 0, 0);
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

    enter((uintptr_t)__builtin_return_address(0), (uintptr_t)__builtin_frame_address(0));
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
