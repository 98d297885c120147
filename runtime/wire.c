/*
 * runtime/wire.c: real-time Gs, wired to OS threads of their own (Go's LockOSThread).
 *
 * A thread under SCHED_FIFO or SCHED_RR expects the kernel's real-time scheduling: the
 * highest priority runs first, a FIFO thread is not time-sliced, a higher-priority waiter is
 * woken first. Gs that share Ms cannot have that, so a G whose policy is real-time is wired
 * to an M: the M runs that G alone, holds no P (it gave its P to another M), and carries the
 * G's policy and priority in the kernel, which then schedules the G as it would a native
 * thread. While wired:
 *  - the G's waits sleep in the kernel on their waiter's word (sema.c) instead of parking,
 *    so the G never leaves its M and is never on a run queue; its syscall mode is a status
 *    change only (syscall.c); sched_yield is the kernel's (proc.c);
 *  - waiters of every wait-table queue are ordered by waitprio, FIFO among equals (sema.c);
 *  - a priority-protect mutex it holds raises its M to the mutex's ceiling (gr_tpp_change).
 * Going back to another policy unwires the G: its M returns to SCHED_OTHER, the G takes a P
 * like a G back from a blocking call, and the M serves the scheduler again. So does exit.
 *
 * How a G gets wired: by itself, when it sets its own policy (its M becomes its own); when it
 * is created real-time, on an idle or new M started for it without a P (gr_startm_g), so it
 * starts at once as a native thread would; when another thread sets its policy, at its next
 * hook (gr_user_g) or when an M is about to run it (execute), whichever comes first. The
 * kernel's verdict (EPERM) is returned at once in every case: a policy meant for another G
 * is first tried on the calling thread and put back (probe).
 *
 * Every M but M0 starts under SCHED_OTHER: the kernel gives a new thread its creator's
 * policy, and a wired M creates Ms when it hands its P on.
 *
 * Locks: wire_lock (rank leaf) for every G's sched_policy and sched_priority, and for the
 * lockedm/lockedg pair, which only the M concerned writes; the kernel calls that apply a
 * policy to a wired M are made under it, so a setter and the G never apply two policies in
 * the wrong order. No other lock is taken under it; handing a P on comes after.
 */
#include "runtime/wire.h"

#include <errno.h>
#include <sched.h>
#include <sys/syscall.h>

#include "runtime/atomic.h"
#include "runtime/debug.h"
#include "runtime/g.h"
#include "runtime/lock.h"
#include "runtime/mem.h"
#include "runtime/proc.h"
#include "runtime/sys.h"
#include "runtime/syscall.h"

#define TPP_SLOTS 100 /* ceilings 0..99: SCHED_FIFO's range is 1..99 on Linux */

static struct gr_mutex wire_lock = GR_MUTEX_INIT(GR_RANK_LEAF);

static bool
is_rt(int policy)
{
    return policy == SCHED_FIFO || policy == SCHED_RR;
}

/* The kernel's priority range of policy: 1..99 for the real-time ones, 0..0 for the others;
 * -EINVAL for a policy sched_setscheduler does not take (SCHED_DEADLINE needs sched_setattr). */
static int
check_param(int policy, int priority)
{
    long lo, hi;

    if (policy != SCHED_OTHER && policy != SCHED_BATCH && policy != SCHED_IDLE && !is_rt(policy))
        return -EINVAL;
    lo = gr_syscall1(SYS_sched_get_priority_min, policy);
    hi = gr_syscall1(SYS_sched_get_priority_max, policy);
    if (lo < 0 || hi < 0 || priority < lo || priority > hi)
        return -EINVAL;
    return 0;
}

/* sched_setscheduler(tid, policy, priority) of the kernel: 0 or -errno. tid 0: the caller. */
static int
k_setsched(pid_t tid, int policy, int priority)
{
    struct sched_param sp = { .sched_priority = priority };

    return (int)gr_syscall3(SYS_sched_setscheduler, tid, policy, &sp);
}

/* What a G's M gets in the kernel for policy: itself when real-time; SCHED_OTHER, every
 * shared M's, for the others (the G is about to leave its M). */
static int
m_policy(int policy)
{
    return is_rt(policy) ? policy : SCHED_OTHER;
}

/* The priority gp's M runs at: its own, or the highest ceiling it holds if higher. */
static int
effective(struct g *gp, int policy, int priority)
{
    int ceil = gr_load_relaxed(&gp->tppmax);

    if (!is_rt(policy))
        return 0;
    return ceil > priority ? ceil : priority;
}

/* Record gp's policy. Requires: wire_lock held, or gp not yet shared. */
static void
record(struct g *gp, int policy, int priority)
{
    gp->sched_policy = policy;
    gp->sched_priority = priority;
    gr_store_relaxed(&gp->waitprio, effective(gp, policy, priority));
}

/*
 * Would the kernel let a thread under SCHED_OTHER (a G not wired, or a thread about to be
 * created) take policy? Tried on the calling thread, whose own policy is put back at once:
 * lowering is always allowed, and the thread runs nothing else meanwhile. 0 or -errno.
 */
static int
probe(int policy, int priority)
{
    struct sched_param old;
    long oldpol = gr_syscall1(SYS_sched_getscheduler, 0);
    int r;

    if (oldpol < 0 || gr_syscall2(SYS_sched_getparam, 0, &old) != 0)
        return -EPERM;
    r = k_setsched(0, policy, priority);
    if (r == 0)
        gr_syscall3(SYS_sched_setscheduler, 0, oldpol, &old);
    return r;
}

/* mp, now wired, gives its P to another M (with its run queue, as a blocking call does). */
static void
release_p(struct m *mp)
{
    struct p *pp = mp->p;

    gr_store_relaxed(&mp->preempt, 0); /* no preemption for a G without a P */
    if (pp == NULL)
        return;
    mp->p = NULL;
    gr_store_relaxed(&pp->m, NULL);
    gr_store(&pp->status, P_IDLE);
    gr_handoffp(pp);
}

/* The running G, wired to mp and no longer real-time (its M's policy is set already): it
 * takes a P, or waits for one on the global queue; mp goes back to the scheduler. */
static void
unwire_self(struct g *gp, struct m *mp)
{
    struct p *pp;

    gr_lock(&wire_lock);
    gr_store(&gp->lockedm, NULL);
    mp->lockedg = NULL;
    gr_unlock(&wire_lock);
    gr_lock(&gr_sched.lock);
    pp = gr_pidle_get();
    gr_unlock(&gr_sched.lock);
    if (pp != NULL) {
        gr_acquirep(mp, pp);
        return;
    }
    /* As a G back from a blocking call with no P free. */
    gr_casgstatus(gp, G_RUNNING, G_SYSCALL);
    gr_switch_to_g0(gp, AFTER_EXITSYSCALL);
    gr_resumed(gp);
}

/* The calling G sets its own policy: it runs on mp, wired to it or holding mp's P. */
static int
set_self(struct g *gp, struct m *mp, int policy, int priority)
{
    bool rt = is_rt(policy), wired;
    int r = 0;

    gr_lock(&wire_lock);
    wired = gr_load_relaxed(&gp->lockedm) == mp;
    /* The kernel judges every real-time request, and every change of a wired G's M. */
    if (rt || wired)
        r = k_setsched(0, m_policy(policy), effective(gp, policy, priority));
    if (r == 0) {
        record(gp, policy, priority);
        if (rt && !wired) {
            gr_store(&gp->lockedm, mp);
            mp->lockedg = gp;
        }
    }
    gr_unlock(&wire_lock);
    if (r != 0)
        return r;
    if (rt && !wired)
        release_p(mp);
    else if (!rt && wired)
        unwire_self(gp, mp);
    return 0;
}

int
gr_g_setsched(struct g *gp, int policy, int priority)
{
    struct g *self = gr_current();
    bool probed = false;
    int r = check_param(policy, priority);

    if (r != 0)
        return r;
    if (gr_load(&gp->status) == G_DEAD)
        return -ESRCH;
    /* Itself, running normally: at once. From a handler, off its own stack (gr_g_pinned: it
     * must not leave its M, as unwiring may make it) or in a call in syscall mode, later. */
    if (gp == self && gr_load_relaxed(&gp->status) == G_RUNNING && !gr_g_pinned(gp))
        return set_self(gp, gr_getm(), policy, priority);
    for (;;) {
        struct m *lm;

        gr_lock(&wire_lock);
        lm = gr_load_relaxed(&gp->lockedm);
        if (lm != NULL) {
            /* Wired: its M takes the policy now, as a native thread would. */
            r = k_setsched(lm->tid, m_policy(policy), effective(gp, policy, priority));
            if (r == 0) {
                record(gp, policy, priority);
                if (!is_rt(policy))
                    gr_store(&gp->wirereq, 1);
            }
            gr_unlock(&wire_lock);
            return r;
        }
        if (!is_rt(policy) || probed) {
            record(gp, policy, priority);
            gr_store(&gp->wirereq, 1);
            gr_unlock(&wire_lock);
            return 0;
        }
        gr_unlock(&wire_lock);
        r = probe(policy, priority);
        if (r != 0)
            return r;
        probed = true;
    }
}

void
gr_g_getsched(struct g *gp, int *policy, int *priority)
{
    gr_lock(&wire_lock);
    *policy = gp->sched_policy;
    *priority = gp->sched_priority;
    gr_unlock(&wire_lock);
}

bool
gr_g_wired_self(void)
{
    struct g *gp = gr_current();

    return gp != NULL && gr_wired_here(gp);
}

int
gr_wire_prepare(const struct gr_gattr *attr, struct g *creator, int *policy, int *priority)
{
    int r;

    if (!attr->sched_explicit) {
        if (creator != NULL) {
            gr_g_getsched(creator, policy, priority);
        } else {
            *policy = SCHED_OTHER;
            *priority = 0;
        }
        return 0;
    }
    *policy = attr->sched_policy;
    *priority = attr->sched_priority;
    r = check_param(*policy, *priority);
    if (r == 0 && is_rt(*policy))
        r = probe(*policy, *priority);
    return r;
}

bool
gr_wire_newg(struct g *gp, int policy, int priority)
{
    record(gp, policy, priority);
    gr_store_relaxed(&gp->wirereq, is_rt(policy) ? 1 : 0);
    return is_rt(policy);
}

/* Wire the G about to run (gp) or running (self) to mp if its policy asks for it. Returns
 * true when gp is wired to mp afterwards. Requires: wire_lock held. */
static bool
wire_locked(struct g *gp, struct m *mp)
{
    if (!is_rt(gp->sched_policy))
        return false;
    if (gr_load_relaxed(&gp->lockedm) == NULL) {
        /* Refused after all (the probe said yes): it runs as it is, reporting its policy. */
        if (k_setsched(0, gp->sched_policy, effective(gp, gp->sched_policy, gp->sched_priority)) !=
            0)
            return false;
        gr_store(&gp->lockedm, mp);
        mp->lockedg = gp;
    }
    return gr_load_relaxed(&gp->lockedm) == mp;
}

bool
gr_wire_execute(struct m *mp, struct g *gp)
{
    bool wired;

    gr_store(&gp->wirereq, 0);
    gr_lock(&wire_lock);
    wired = wire_locked(gp, mp);
    gr_unlock(&wire_lock);
    if (wired)
        release_p(mp);
    return wired || mp->p != NULL;
}

void
gr_wire_check(struct g *gp)
{
    struct m *mp = gr_getm();
    bool wired, unwire;

    gr_store(&gp->wirereq, 0);
    gr_lock(&wire_lock);
    unwire = !is_rt(gp->sched_policy) && gr_load_relaxed(&gp->lockedm) == mp;
    wired = !unwire && wire_locked(gp, mp);
    gr_unlock(&wire_lock);
    if (wired)
        release_p(mp);
    else if (unwire)
        unwire_self(gp, mp); /* the setter gave the M its new policy already */
}

void
gr_wire_exit(struct g *gp)
{
    struct m *mp = gr_getm();

    if (gr_load_relaxed(&gp->lockedm) == mp) {
        gr_lock(&wire_lock);
        k_setsched(0, SCHED_OTHER, 0);
        gr_store(&gp->lockedm, NULL);
        mp->lockedg = NULL;
        gr_unlock(&wire_lock);
    }
    if (gp->tpp != NULL) {
        gr_mem_free(gp->tpp, sizeof(uint32_t) * TPP_SLOTS);
        gp->tpp = NULL;
    }
}

void
gr_wire_boot_main(struct g *mg)
{
    struct sched_param sp;
    long policy = gr_syscall1(SYS_sched_getscheduler, 0);

    if (policy < 0 || gr_syscall2(SYS_sched_getparam, 0, &sp) != 0)
        return;
    policy &= ~(long)SCHED_RESET_ON_FORK;
    record(mg, (int)policy, sp.sched_priority);
    if (is_rt((int)policy))
        gr_store(&mg->wirereq, 1);
}

void
gr_wire_m_start(void)
{
    long policy = gr_syscall1(SYS_sched_getscheduler, 0);

    if (policy >= 0 && is_rt((int)(policy & ~(long)SCHED_RESET_ON_FORK)))
        k_setsched(0, SCHED_OTHER, 0);
}

/* ---- Priority protection (glibc's __pthread_tpp_change_priority). */

int
gr_tpp_current_priority(void)
{
    struct g *gp = gr_current();
    int policy, priority;

    if (gp == NULL)
        return 0;
    gr_g_getsched(gp, &policy, &priority);
    return is_rt(policy) ? priority : 0;
}

int
gr_tpp_change(int old_ceiling, int new_ceiling)
{
    struct g *gp = gr_current();
    int oldmax, newmax, policy, priority, r = 0;
    bool dropped = false;

    if (gp == NULL) /* a thread the runtime does not own: as one under SCHED_OTHER */
        return new_ceiling > 0 ? -EINVAL : 0;
    if (new_ceiling >= TPP_SLOTS || old_ceiling >= TPP_SLOTS)
        return -EINVAL;
    /* A policy another thread set takes effect before a lock judges the ceiling. (Not on a
     * release: a condition wait releases with its waiter queued, and must not move.) */
    if (new_ceiling > 0 && gr_load_relaxed(&gp->wirereq) &&
        gr_load_relaxed(&gp->status) == G_RUNNING && !gr_g_pinned(gp))
        gr_wire_check(gp);
    if (gp->tpp == NULL) {
        gp->tpp = gr_mem_alloc(sizeof(uint32_t) * TPP_SLOTS);
        if (gp->tpp == NULL)
            return -ENOMEM;
    }
    if (new_ceiling > 0 && gp->tpp[new_ceiling] + 1 == 0)
        return -EAGAIN;
    oldmax = gr_load_relaxed(&gp->tppmax);
    if (new_ceiling > 0)
        gp->tpp[new_ceiling]++;
    if (old_ceiling > 0 && gp->tpp[old_ceiling] > 0) {
        gp->tpp[old_ceiling]--;
        dropped = true;
    }
    for (newmax = TPP_SLOTS - 1; newmax > 0 && gp->tpp[newmax] == 0; newmax--)
        ;
    if (newmax == oldmax)
        return 0;
    gr_lock(&wire_lock);
    policy = gp->sched_policy;
    priority = gp->sched_priority;
    if (!is_rt(policy)) {
        /* glibc asks the kernel for the ceiling under the thread's own policy, which takes
         * no priority: raising fails with EINVAL, lowering back to none succeeds. */
        if (newmax > oldmax)
            r = -EINVAL;
    } else if (priority < newmax || priority < oldmax) {
        if (gr_wired_here(gp))
            r = k_setsched(0, policy, newmax > priority ? newmax : priority);
    }
    if (r == 0) {
        gr_store_relaxed(&gp->tppmax, newmax);
        gr_store_relaxed(&gp->waitprio, effective(gp, policy, priority));
    }
    gr_unlock(&wire_lock);
    if (r != 0) {
        /* Undo the count: the mutex is not taken (or stays as it was). */
        if (new_ceiling > 0)
            gp->tpp[new_ceiling]--;
        if (dropped)
            gp->tpp[old_ceiling]++;
    }
    return r;
}
