/*
 * runtime/proc.c: the scheduler (Go's proc.go, in C): ready and park, the scheduler loop on
 * every M's g0 (findrunnable, execute, what a G asks for when it switches to g0), idle Ps
 * and Ms, starting and stopping Ms (startm, stopm, wakep).
 *
 * Every M runs gr_schedule() on its g0: find a runnable G, switch to it, and when the G
 * switches back, finish what it asked for (m->after: park, yield, exit). g0 runs with whatever
 * FS the last G left installed and so never reads TLS; it installs its own block (m->ownfs)
 * only before sleeping and before releasing a dead G's block.
 *
 * Spinning Ms (Go's protocol): an M looking for work without finding it yet is "spinning"
 * and counted in gr_sched.nmspinning. gr_wakep() starts a new spinning M only when there is
 * an idle P and nobody spins, so a burst of wakeups starts at most one M at a time; an M
 * that stops spinning with work in sight starts the next one. The last spinning M to give up
 * re-checks every run queue after decrementing nmspinning, which pairs with the check of
 * nmspinning in gr_wakep() after a runq_put: between them no queued G is left unseen.
 *
 * Timers: each P has a heap. Ms run their P's due timers at every schedule, and idle Ms run
 * any P's due timers. An idle M with nothing to do sleeps on its note; the first of them to
 * go idle while timers are pending sleeps until the earliest one (gr_sched.sleep_until), and
 * gr_timer_added() wakes it when an earlier timer arrives.
 *
 * Real-time Gs are wired to Ms of their own (wire.c): such a G never parks or queues here;
 * an M started for one (gr_startm_g) runs it without a P, and execute() wires a G whose
 * policy another thread changed.
 *
 * Locks: gr_sched.lock (rank sched): the idle P and M lists, the global run queue, the timer
 * sleeper. It is taken after wait-table buckets and timer heaps, never before.
 */
#include "runtime/malloc.h"
#include "runtime/proc.h"

#include <signal.h>
#include <stdint.h>

#include "runtime/atomic.h"
#include "runtime/cancel.h"
#include "runtime/cputime.h"
#include "runtime/ctx.h"
#include "runtime/debug.h"
#include "runtime/g.h"
#include "runtime/m.h"
#include "runtime/mem.h"
#include "runtime/netpoll.h"
#include "runtime/preempt.h"
#include "runtime/runq.h"
#include "runtime/signal.h"
#include "runtime/spare.h"
#include "runtime/sys.h"
#include "runtime/timer.h"
#include "runtime/trace.h"
#include "runtime/wire.h"

struct gr_sched gr_sched = {
    .lock = GR_MUTEX_INIT(GR_RANK_SCHED),
    .glock = GR_MUTEX_INIT(GR_RANK_GLOCK),
};
__thread struct g *gr_curg __attribute__((tls_model("initial-exec")));

/* ---- Idle lists. Requires: gr_sched.lock held, for each of them. */

void
gr_pidle_put(struct p *pp)
{
    GR_ASSERT_HELD(&gr_sched.lock);
    gr_store(&pp->status, P_IDLE);
    gr_store_relaxed(&pp->m, NULL);
    pp->link = gr_sched.pidle;
    gr_sched.pidle = pp;
    gr_xadd(&gr_sched.npidle, 1);
}

struct p *
gr_pidle_get(void)
{
    struct p *pp = gr_sched.pidle;

    GR_ASSERT_HELD(&gr_sched.lock);
    if (pp != NULL) {
        gr_sched.pidle = pp->link;
        gr_xadd(&gr_sched.npidle, -1);
    }
    return pp;
}

struct p *
gr_p_new(int32_t id)
{
    struct p *pp = gr_mem_alloc(sizeof(struct p));

    if (pp == NULL)
        return NULL;
    pp->id = id;
    pp->fastrand = 0x9e3779b9u * (uint32_t)(id + 1);
    gr_store_relaxed(&pp->timers.next_when, INT64_MAX);
    gr_lock_init(&pp->timers.lock, GR_RANK_TIMERS);
    gr_mcache_init(&pp->mcache);
    return pp;
}

/* Give up a P. Requires: gr_sched.lock held. */
void
gr_p_release(struct p *pp)
{
    GR_ASSERT_HELD(&gr_sched.lock);
    if (pp->spare)
        gr_spare_put(pp);
    else
        gr_pidle_put(pp);
}

static void
midle_put(struct m *mp)
{
    GR_ASSERT_HELD(&gr_sched.lock);
    mp->schedlink = gr_sched.midle;
    gr_sched.midle = mp;
    gr_owner_inc(&gr_sched.nmidle);
}

static struct m *
midle_get(void)
{
    struct m *mp = gr_sched.midle;

    GR_ASSERT_HELD(&gr_sched.lock);
    if (mp != NULL) {
        gr_sched.midle = mp->schedlink;
        gr_owner_dec(&gr_sched.nmidle);
    }
    return mp;
}

static bool
midle_remove(struct m *mp)
{
    GR_ASSERT_HELD(&gr_sched.lock);
    for (struct m **pp = &gr_sched.midle; *pp != NULL; pp = &(*pp)->schedlink) {
        if (*pp == mp) {
            *pp = mp->schedlink;
            gr_owner_dec(&gr_sched.nmidle);
            return true;
        }
    }
    return false;
}

void
gr_acquirep(struct m *mp, struct p *pp)
{
    if (gr_load_relaxed(&pp->m) != NULL || gr_load(&pp->status) != P_IDLE)
        gr_throw("acquirep: P is not idle");
    mp->p = pp;
    gr_store_relaxed(&pp->m, mp);
    gr_store(&pp->status, P_RUNNING);
}

static uint32_t
fastrand(struct p *pp)
{
    uint32_t x = pp->fastrand;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    pp->fastrand = x;
    return x;
}

/* ---- Starting and waking Ms. */

/*
 * Run some M on pp (or on an idle P when pp is NULL). spinning: the new M counts as
 * spinning (the caller already incremented nmspinning).
 */
void
gr_startm(struct p *pp, bool spinning)
{
    struct m *mp;

    GR_ASSERT(!gr_lock_held(&gr_sched.lock));
    gr_lock(&gr_sched.lock);
    if (pp == NULL) {
        pp = gr_pidle_get();
        if (pp == NULL) {
            gr_unlock(&gr_sched.lock);
            if (spinning)
                gr_xadd(&gr_sched.nmspinning, -1);
            return;
        }
    }
    mp = midle_get();
    if (mp != NULL) {
        if (mp == gr_sched.sleeper) {
            gr_sched.sleeper = NULL;
            gr_store(&gr_sched.sleep_until, 0);
        }
        /* Under the lock, so that a timed-out stopm() sees it (see stopm). */
        mp->spinning = spinning;
        mp->nextp = pp;
    }
    gr_unlock(&gr_sched.lock);
    if (mp == NULL) {
        if (!gr_newm(pp, spinning, false, NULL)) {
            gr_lock(&gr_sched.lock);
            gr_p_release(pp);
            gr_unlock(&gr_sched.lock);
            if (spinning)
                gr_xadd(&gr_sched.nmspinning, -1);
        }
        return;
    }
    gr_note_wakeup(&mp->park);
}

void
gr_wakep(void)
{
    uint32_t zero = 0;

    if (gr_load(&gr_sched.npidle) == 0)
        return;
    if (gr_load(&gr_sched.nmspinning) != 0 || !gr_cas(&gr_sched.nmspinning, &zero, 1))
        return;
    gr_startm(NULL, true);
}

void
gr_startm_g(struct g *gp)
{
    struct m *mp = NULL;

    gr_casgstatus(gp, G_IDLE, G_RUNNABLE);
    gr_lock(&gr_sched.lock);
    /* Any idle M but the timer sleeper, which must stay free to run the timers. */
    for (struct m **mpp = &gr_sched.midle; *mpp != NULL; mpp = &(*mpp)->schedlink) {
        if (*mpp != gr_sched.sleeper) {
            mp = *mpp;
            *mpp = mp->schedlink;
            gr_owner_dec(&gr_sched.nmidle);
            mp->spinning = false;
            mp->nextg = gp;
            break;
        }
    }
    gr_unlock(&gr_sched.lock);
    if (mp != NULL) {
        gr_note_wakeup(&mp->park);
        return;
    }
    if (!gr_newm_g(gp)) {
        /* No thread to be had: it waits for a P and wires itself on the M that runs it. */
        gr_lock(&gr_sched.lock);
        gr_globrunq_put(gp);
        gr_unlock(&gr_sched.lock);
        gr_wakep();
    }
}

/* Called by gr_timer_add: make sure some M will wake up for a timer at when. */
void
gr_timer_added(int64_t when)
{
    int64_t until = gr_load(&gr_sched.sleep_until);

    if (gr_load(&gr_sched.netpolling) && when < gr_load(&gr_sched.poll_until)) {
        gr_netpoll_break();
        return;
    }

    if (until != 0) {
        if (when < until) {
            gr_lock(&gr_sched.lock);
            struct m *mp = gr_sched.sleeper;
            if (mp != NULL && when < gr_load_relaxed(&gr_sched.sleep_until)) {
                gr_store(&gr_sched.sleep_until, 0);
                gr_sched.sleeper = NULL;
                gr_note_wakeup(&mp->park);
            }
            gr_unlock(&gr_sched.lock);
        }
        return;
    }
    gr_wakep();
}

/* ---- Ready and park. */

/* The ready event: by the G running on this M, or by the scheduler (g0, the netpoller). */
static void
trace_ready(struct g *gp)
{
    struct m *mp = gr_getm();
    struct g *by = gr_load_relaxed(&mp->curg);

    GR_TRACE(GR_EV_READY, mp->polling, gp->goid, by != NULL ? by->goid : 0);
}

static void
ready_on(struct g *gp, struct p *pp, uint32_t from)
{
    gr_casgstatus(gp, from, G_RUNNABLE);
    if (gr_unlikely(gr_load_relaxed(&gr_trace_on)) && gr_curg != NULL)
        trace_ready(gp);
    if (pp != NULL) {
        struct m *mp = gr_getm();
        /* A G readied by another runs next, as Go's ready(); a batch from the poller queues
         * in the order the kernel reported it, or the last of every batch would overtake
         * the rest and service grows unfair (Go's injectglist). One the scheduler readies
         * (a timer run) must not push the one before it behind the ring (runq.c). */
        if (mp->polling)
            gr_runq_put(pp, gp, false);
        else if (gr_load_relaxed(&mp->curg) == NULL)
            gr_runq_put_sched(pp, gp);
        else
            gr_runq_put(pp, gp, true);
    } else {
        gr_lock(&gr_sched.lock);
        gr_globrunq_put_wakeup(gp);
        gr_unlock(&gr_sched.lock);
    }
    gr_wakep();
    if (pp == NULL && gr_load(&gr_sched.npidle) == 0)
        gr_spare_again();
}

void
gr_ready(struct g *gp)
{
    /* On an M (a G, or g0), the M's P; elsewhere the global queue. */
    ready_on(gp, gr_curg != NULL ? gr_getm()->p : NULL, G_WAITING);
}

void
gr_ready_new(struct g *gp)
{
    ready_on(gp, gr_curg != NULL ? gr_getm()->p : NULL, G_IDLE);
}

/* Switch from the running G to g0 of its M, which then performs mp->after. */
void
gr_switch_to_g0(struct g *gp, int after)
{
    struct m *mp = gr_load_relaxed(&gp->m);

    gr_lock_assert_none("a G switches to g0");
    mp->after = after;
    mp->prevg = gp;
    gr_ctx_switch(&gp->ctx, &mp->g0.ctx);
}

/*
 * Back on the G after a switch: deliver signals sent to it meanwhile, and note an
 * asynchronous cancellation that could not act while it was off an M: the G is somewhere in
 * the runtime, which must not be unwound, so it acts at its next safe point (cancel.c).
 */
void
gr_resumed(struct g *gp)
{
    if (((gr_load_relaxed(&gp->sigpending) | gr_load_relaxed(&gr_sched.sigheld)) &
         ~gr_load_relaxed(&gp->sigmask)) != 0)
        gr_signal_deliver(gp);
    gr_cancel_resumed(gp);
}

void
gr_park(bool (*unlockf)(struct g *gp, void *arg), void *arg, const char *reason)
{
    struct g *gp = gr_curg;
    struct m *mp = gr_load_relaxed(&gp->m);

    GR_ASSERT(!gr_wired_here(gp)); /* a wired G waits in the kernel (sema.c) */
    gp->cpubound = false;          /* it waits: not CPU-bound after all (preempt.c) */
    gr_store_relaxed(&gp->waitreason, reason);
    mp->unlockf = unlockf;
    mp->unlockarg = arg;
    gr_switch_to_g0(gp, AFTER_PARK);
    /* No gr_resumed here: the caller calls it once its wait is undone (sema.c). */
}

void
gr_yield(void)
{
    struct g *gp = gr_curg;

    if (gr_wired_here(gp)) {
        gr_sys_sched_yield(); /* the kernel's, among the threads of its priority */
        gr_resumed(gp);       /* what a switch would deliver (a signal's sender asks for it) */
        return;
    }
    gr_switch_to_g0(gp, AFTER_YIELD_LOCAL);
    gr_resumed(gp);
}

void
gr_yield_global(void)
{
    struct g *gp = gr_curg;

    if (gr_wired_here(gp)) {
        gr_sys_sched_yield();
        gr_resumed(gp);
        return;
    }
    gr_switch_to_g0(gp, AFTER_YIELD);
    gr_resumed(gp);
}

/* ---- For the hooks (api.h). */

struct g *
gr_parkable_g(void)
{
    struct g *gp = gr_current();

    if (gp == NULL)
        return NULL;
    /*
     * Called from inside a call in syscall mode (a callback): no P to park on. From a signal
     * handler, which must return on the M it interrupted (the kernel's signal frame and the
     * handler's mask are the M's). With the stack pointer off the G's own stack: on an
     * alternate signal stack, which the M carries (a G parked there would be overwritten by
     * the next handler on it), or on a stack the program switched to.
     */
    if (gr_unlikely(gr_load_relaxed(&gp->status) == G_SYSCALL || gr_g_pinned(gp)))
        return NULL;
    return gp;
}

struct g *
gr_user_g(void)
{
    struct g *gp = gr_parkable_g();

    /* Not parkable: the hook acts natively (a blocking call holds the M and its P, as a call
     * no hook sees: sysmon starts a spare P for the others if it lasts). */
    if (gp == NULL)
        return NULL;
    if (gr_unlikely(gr_load_relaxed(&gr_getm()->preempt)))
        gr_preempt_yield_now();
    /* An asynchronous cancel that found the G inside the runtime acts here: a hook's entry
     * holds nothing. */
    if (gr_unlikely(gr_load_relaxed(&gr_getm()->cancel_target) == gp))
        gr_cancel_async_point();
    /* Another thread set this G's policy: wire or unwire it now (wire.c). */
    if (gr_unlikely(gr_load_relaxed(&gp->wirereq)))
        gr_wire_check(gp);
    return gp;
}

struct g *
gr_g_self(void)
{
    return gr_current();
}

int
gr_nprocs(void)
{
    return gr_sched.nprocs;
}

/* ---- The scheduler loop (g0). */

/* What the G that just switched to g0 asked for. */
void
gr_after_switch(struct m *mp)
{
    struct g *gp = mp->prevg;
    int after = mp->after;

    GR_ASSERT(mp == gr_getm() && gp != NULL);
    mp->prevg = NULL;
    mp->after = AFTER_NONE;
    GR_TRACE(GR_EV_GO_STOP, (uint32_t)after, gp->goid, (uintptr_t)gr_load_relaxed(&gp->waitreason));
    /* Parked, runnable or dead from now on, whichever it asked for. */
    gr_store_relaxed(&gp->since, gr_cputime_switch_out(mp, gp));
    gr_store_relaxed(&mp->curg, NULL);
    /* Before gp can run elsewhere: its alternate stack must not stay on this M. */
    gr_signal_altstack_leave(mp);
    gr_g_check_stack(gp);
    switch (after) {
    case AFTER_PARK: {
        bool (*unlockf)(struct g *, void *) = mp->unlockf;
        gr_store_relaxed(&gp->m, NULL);
        gr_casgstatus(gp, G_RUNNING, G_WAITING);
        mp->unlockf = NULL;
        if (unlockf != NULL && !unlockf(gp, mp->unlockarg)) {
            gr_casgstatus(gp, G_WAITING, G_RUNNABLE);
            gr_runq_put(mp->p, gp, true);
        }
        break;
    }
    case AFTER_YIELD:
    case AFTER_EXITSYSCALL: /* back from a blocking call with no P: wait globally */
        gr_store_relaxed(&gp->m, NULL);
        gr_casgstatus(gp, after == AFTER_EXITSYSCALL ? G_SYSCALL : G_RUNNING, G_RUNNABLE);
        gr_lock(&gr_sched.lock);
        if (after == AFTER_EXITSYSCALL)
            gr_globrunq_put_wakeup(gp);
        else
            gr_globrunq_put(gp);
        gr_unlock(&gr_sched.lock);
        break;
    case AFTER_YIELD_LOCAL:
        gr_store_relaxed(&gp->m, NULL);
        gr_casgstatus(gp, G_RUNNING, G_RUNNABLE);
        gr_runq_put(mp->p, gp, false);
        break;
    case AFTER_EXIT:
        gr_store_relaxed(&gp->m, NULL);
        gr_g_dead(mp, gp);
        break;
    default:
        gr_throw("after_switch: unknown request");
    }
}

static void
execute(struct m *mp, struct g *gp)
{
    /* A policy to act on, or an M without a P (started for a real-time G): wire it here. */
    if (gr_unlikely(gr_load_relaxed(&gp->wirereq) || mp->p == NULL) && !gr_wire_execute(mp, gp)) {
        /* Not real-time after all, and this M has no P for it: let an M with one run it. */
        gr_lock(&gr_sched.lock);
        gr_globrunq_put(gp);
        gr_unlock(&gr_sched.lock);
        gr_wakep();
        return;
    }
    gr_store_relaxed(&gp->m, mp);
    gr_store_relaxed(&mp->curg, gp);
    gr_casgstatus(gp, G_RUNNABLE, G_RUNNING);
    gr_store_relaxed(&mp->preempt, 0); /* a request was for the G that switched out */
    if (mp->p != NULL) {               /* none when wired */
        gr_owner_inc(&mp->p->schedtick);
        mp->p->runstart = gr_nanotime();
        gr_store_relaxed(&gp->since, mp->p->runstart);
        gr_preempt_timer_execute(mp, gp);
    } else {
        gr_store_relaxed(&gp->since, gr_nanotime());
    }
    gr_cputime_switch_in(mp, gp, gr_load_relaxed(&gp->since));
    uint64_t mask = gr_load_relaxed(&gp->sigmask);
    if (mask != mp->sigmask_cur) {
        gr_sys_sigprocmask(SIG_SETMASK, &mask, NULL);
        mp->sigmask_cur = mask;
    }
    gr_signal_altstack_enter(mp, gp);
    if (gp->tp != mp->fs_cur) {
        /* Never run a G on another G's TLS: a refused switch (arch_prctl) is fatal. */
        if (gr_sys_set_fs(gp->tp) != 0)
            gr_throw("execute: cannot install the G's TLS block");
        mp->fs_cur = gp->tp;
    }
    gr_xadd_relaxed(&gr_sched.nswitch, 1);
    GR_TRACE(GR_EV_GO_START, 0, gp->goid, 0);
    gr_lock_assert_none("g0 switches to a G");
    gr_ctx_switch(&mp->g0.ctx, &gp->ctx);
    gr_after_switch(mp);
}

/* Earliest timer of all Ps, and run the due ones of every P (any M may). */
static int64_t
run_all_timers(int64_t now)
{
    int64_t next = INT64_MAX;

    for (int i = 0; i < gr_nallp(); i++) {
        int64_t w = gr_timers_run(gr_sched.allp[i], now);
        if (w < next)
            next = w;
    }
    return next;
}

static void
stop_spinning(struct m *mp)
{
    if (mp->spinning) {
        mp->spinning = false;
        if (gr_xadd(&gr_sched.nmspinning, -1) == 1) {
            /* We were the last spinner: someone must look for work left behind. */
            gr_wakep();
        }
    }
}

static bool
any_runq_nonempty(void)
{
    for (int i = 0; i < gr_nallp(); i++)
        if (gr_runq_stealable(gr_sched.allp[i]))
            return true;
    return gr_load_relaxed(&gr_sched.runqsize) != 0;
}

/* Sleep an M without a P until woken with one (mp->nextp) or until deadline. */
#define STOPM_SPIN_NS 3000LL /* how long an M about to sleep watches its note first */

static void
stopm(struct m *mp, int64_t deadline)
{
    gr_lock(&gr_sched.lock);
    if (mp->nextp == NULL && mp->nextg == NULL) {
        midle_put(mp);
        if (deadline != INT64_MAX &&
            (gr_sched.sleeper == NULL || deadline < gr_load_relaxed(&gr_sched.sleep_until))) {
            gr_sched.sleeper = mp;
            gr_store(&gr_sched.sleep_until, deadline);
        } else {
            deadline = INT64_MAX;
        }
    }
    gr_unlock(&gr_sched.lock);
    gr_m_install_ownfs(mp);
    /* Work often comes within microseconds (a G made or readied one at a time): look a little
     * before sleeping, which costs a futex_wait here and a futex_wake there. */
    if (!gr_note_watch(&mp->park, STOPM_SPIN_NS))
        gr_note_sleep(&mp->park, deadline == INT64_MAX ? -1 : deadline);
    gr_lock(&gr_sched.lock);
    if (mp->nextp == NULL && mp->nextg == NULL)
        midle_remove(mp);
    if (gr_sched.sleeper == mp) {
        gr_sched.sleeper = NULL;
        gr_store(&gr_sched.sleep_until, 0);
    }
    gr_unlock(&gr_sched.lock);
    gr_note_clear(&mp->park);
    if (mp->nextp != NULL) {
        gr_acquirep(mp, mp->nextp);
        mp->nextp = NULL;
    }
}

/*
 * Nothing to run and no P: block in the netpoller if nobody else does (it then also serves
 * the nearest timer), else sleep on the M's note.
 */
static void
idle(struct m *mp, int64_t next)
{
    uint32_t zero = 0;

    if (gr_netpoll_inited() && (gr_netpoll_waiters() > 0 || next != INT64_MAX) &&
        gr_cas(&gr_sched.netpolling, &zero, 1)) {
        gr_store(&gr_sched.poll_until, next);
        gr_m_install_ownfs(mp);
        mp->polling = true;
        gr_netpoll(next);
        mp->polling = false;
        gr_store(&gr_sched.lastpoll, gr_nanotime());
        gr_store(&gr_sched.poll_until, 0);
        gr_store(&gr_sched.netpolling, 0);
        return;
    }
    stopm(mp, next);
}

/* Poll without blocking when Gs wait on I/O and nobody polled lately. */
static void
netpoll_nonblock(void)
{
    if (gr_netpoll_inited() && gr_netpoll_waiters() > 0 && !gr_load(&gr_sched.netpolling)) {
        struct m *mp = gr_getm();
        mp->polling = true;
        gr_netpoll(0);
        mp->polling = false;
        gr_store(&gr_sched.lastpoll, gr_nanotime());
    }
}

/*
 * Steal, as a spinning M, unless half of the busy Ps already have spinners: about half of a
 * random victim's run queue, four rounds over every P, the last one taking runnext too.
 * Returns a G to run, or NULL. Requires: mp holds pp.
 */
static struct g *
steal_work(struct m *mp, struct p *pp)
{
    GR_ASSERT(mp->p == pp);
    if (!mp->spinning &&
        2 * gr_load(&gr_sched.nmspinning) >= gr_sched.nprocs - gr_load(&gr_sched.npidle))
        return NULL;
    if (!mp->spinning) {
        mp->spinning = true;
        gr_xadd(&gr_sched.nmspinning, 1);
    }
    for (int round = 0; round < 4; round++) {
        uint32_t n = (uint32_t)gr_nallp();
        uint32_t off = fastrand(pp) % n;
        for (uint32_t i = 0; i < n; i++) {
            struct p *victim = gr_sched.allp[(off + i) % n];
            struct g *gp;
            if (victim == pp)
                continue;
            gp = gr_runq_steal(pp, victim, round == 3);
            if (gp != NULL)
                return gp;
        }
    }
    return NULL;
}

/* Find a G to run; blocks until there is one. Returns with mp->p held, or with none for a
 * real-time G the M was started for (mp->nextg), which execute wires to it. */
static struct g *
findrunnable(struct m *mp)
{
    struct g *gp;

    for (;;) {
        struct p *pp = mp->p;
        int64_t now, next;

        if (mp->nextg != NULL) {
            /* Started or woken for a real-time G: it runs wired, without a P. */
            gp = mp->nextg;
            mp->nextg = NULL;
            return gp;
        }
        if (pp == NULL) {
            /* Woken without a P (the timer sleeper): take an idle P first, so that the Gs the
             * timers ready run here at once, in its runnext. Without one, run the timers for
             * the busy Ps and try again for a P the Gs they readied can run on. */
            gr_lock(&gr_sched.lock);
            pp = gr_pidle_get();
            gr_unlock(&gr_sched.lock);
            if (pp == NULL) {
                next = run_all_timers(gr_nanotime());
                gr_lock(&gr_sched.lock);
                pp = gr_load_relaxed(&gr_sched.runqsize) > 0 ? gr_pidle_get() : NULL;
                gr_unlock(&gr_sched.lock);
                if (pp == NULL) {
                    idle(mp, next);
                    continue;
                }
            }
            gr_acquirep(mp, pp);
        }

        if (pp->spare) {
            gr_lock(&gr_sched.lock);
            bool needed = gr_spare_needed(pp);
            gr_unlock(&gr_sched.lock);
            if (!needed) {
                gr_spare_retire(mp, pp);
                stop_spinning(mp);
                continue;
            }
        }
        now = gr_nanotime();
        gr_timers_run(pp, now);
        /* A spare also runs the due timers of the P it stands in for: nobody else would
         * while that P's M sleeps (the other Ps run them only when idle). */
        if (pp->spare && pp->stuck != NULL)
            gr_timers_run(pp->stuck, now);
        if (gr_load_relaxed(&pp->schedtick) % 61 == 0 && gr_load_relaxed(&gr_sched.runqsize) > 0) {
            gr_lock(&gr_sched.lock);
            gp = gr_globrunq_get();
            gr_unlock(&gr_sched.lock);
            if (gp != NULL)
                goto found;
        }
        /* Wakeups wait at the head of the global queue when a timer run's newer one took
         * their runnext (runq.c), or when they lost their P in a blocking call: after
         * runnext, before this P's ring. */
        if (gr_load_relaxed(&gr_sched.nrunqwake) > 0 && gr_load(&pp->runnext) == NULL) {
            gr_lock(&gr_sched.lock);
            gp = gr_load_relaxed(&gr_sched.nrunqwake) > 0 ? gr_globrunq_get() : NULL;
            gr_unlock(&gr_sched.lock);
            if (gp != NULL)
                goto found;
        }
        gp = gr_runq_get(pp);
        if (gp != NULL)
            goto found;
        /* One G at a time from the global queue, unlike Go's batch: the Gs there were mostly
         * preempted, and a batch of them in this P's run queue would make sysmon take them for
         * wakeups (1 ms slices, sysmon.c) and queue a G woken here behind them. */
        if (gr_load_relaxed(&gr_sched.runqsize) > 0) {
            gr_lock(&gr_sched.lock);
            gp = gr_globrunq_get();
            gr_unlock(&gr_sched.lock);
            if (gp != NULL)
                goto found;
        }
        next = run_all_timers(now);
        netpoll_nonblock();
        gp = gr_runq_get(pp);
        if (gp != NULL)
            goto found;

        gp = steal_work(mp, pp);
        if (gp != NULL)
            goto found;

        /* Nothing: give the P back and sleep. A spare's timers go to the P it stood in for;
         * its cache's spans go back for the busy Ps to reuse. */
        if (pp->spare)
            gr_timers_move(pp, gr_spare_heir(pp));
        gr_malloc_p_idle(pp, now, pp->spare);
        gr_lock(&gr_sched.lock);
        if (gr_load_relaxed(&gr_sched.runqsize) > 0) {
            gp = gr_globrunq_get();
            gr_unlock(&gr_sched.lock);
            goto found;
        }
        mp->p = NULL;
        gr_p_release(pp);
        gr_unlock(&gr_sched.lock);

        if (mp->spinning) {
            mp->spinning = false;
            gr_xadd(&gr_sched.nmspinning, -1);
            /* Pairs with gr_wakep()'s load of nmspinning after a runq_put. */
            if (any_runq_nonempty()) {
                gr_lock(&gr_sched.lock);
                pp = gr_pidle_get();
                gr_unlock(&gr_sched.lock);
                if (pp != NULL) {
                    gr_acquirep(mp, pp);
                    mp->spinning = true;
                    gr_xadd(&gr_sched.nmspinning, 1);
                    continue;
                }
            }
        }
        next = run_all_timers(gr_nanotime());
        if (gr_load_relaxed(&gr_sched.runqsize) > 0) {
            gr_lock(&gr_sched.lock);
            pp = gr_pidle_get();
            gr_unlock(&gr_sched.lock);
            if (pp != NULL) {
                gr_acquirep(mp, pp);
                continue;
            }
        }
        idle(mp, next);
        continue;
found:
        stop_spinning(mp);
        return gp;
    }
}

/* The scheduler loop of every M, on its g0: never returns. */
void
gr_schedule(struct m *mp)
{
    for (;;) {
        struct g *gp = findrunnable(mp);
        gr_trace_safepoint(mp);
        execute(mp, gp);
    }
}
