/*
 * runtime/signal.c: signals sent to a G, its mask, sigwait and sigsuspend; the program's
 * handlers.
 *
 * A signal sent to a G is recorded on it: a bit in gp->sigpending and, for a value that must
 * reach the handler (pthread_sigqueue, a real-time signal, a process signal the router gave
 * the G), its siginfo in gp->sigq (FIFO). It is raised on the G's own M (tgkill,
 * rt_tgsigqueueinfo) when the G runs and does not block it, so the program's handler runs on
 * that G; sigwait takes it from the record instead. Sending also makes the G act soon
 * (gr_signal_wake): a wait the signal must interrupt (GR_WQ_SIGNAL) or a sigwait for it ends;
 * a G in a call in syscall mode gets the signal itself on its M (the kick, below), so the call
 * is interrupted or restarted by the kernel as natively; a running G is asked to yield.
 * A G that raises a signal it blocks keeps it pending on itself, never on its M, where another
 * G would see it.
 *
 * The program's handlers run behind gr_signal_wrapper (last section), which the sigaction
 * hook installs in their place and which runs the action published for the signal. Signals
 * sent to the process go to the G the kernel would have chosen (sigroute.c).
 *
 * Locks: gp->siglock (rank leaf) for a G's queued values; rec_lock (rank sigrec) for the
 * interned action records.
 */
#include "runtime/signal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>

#include "runtime/atomic.h"
#include "runtime/cancel.h"
#include "runtime/lock.h"
#include "runtime/mem.h"
#include "runtime/preempt.h"
#include "runtime/proc.h"
#include "runtime/sched.h"
#include "runtime/sema.h"
#include "runtime/sigroute.h"
#include "runtime/sys.h"
#include "runtime/sysmon.h"
#include "runtime/tls.h"

bool
gr_signal_eintr(void)
{
    struct g *gp = gr_curg;
    uint64_t got = gp->sigdelivered;
    bool eintr = got == 0;

    gp->sigdelivered = 0;
    for (int sig = 1; sig <= 64; sig++) {
        struct gr_ksigaction ka;
        if (!(got & GR_SIGBIT(sig)))
            continue;
        if (gr_sys_rt_sigaction(sig, NULL, &ka) != 0 || !(ka.flags & SA_RESTART))
            eintr = true;
    }
    return eintr;
}

/* ---- The record of a G's pending signals. */

/* Queued values of pending signals, oldest first. */
struct gr_sigq {
    struct gr_sigq *next;
    siginfo_t info;
};

/* What the kernel reports for a signal sent by tgkill from this process. */
static void
tkill_info(int sig, siginfo_t *info)
{
    memset(info, 0, sizeof(*info));
    info->si_signo = sig;
    info->si_code = SI_TKILL;
    info->si_pid = gr_sys_getpid();
    info->si_uid = (uid_t)gr_syscall0(SYS_getuid);
}

void
gr_signal_record(struct g *gp, int sig, const siginfo_t *info)
{
    uint64_t bit = GR_SIGBIT(sig);
    struct gr_sigq *q = NULL, **pp;
    siginfo_t made;

    if (info == NULL && sig >= GR_SIGRTMIN) {
        tkill_info(sig, &made); /* each one queues: keep it as its own entry */
        info = &made;
    }
    if (info != NULL && (q = gr_mem_alloc(sizeof(*q))) != NULL)
        q->info = *info;
    gr_lock(&gp->siglock);
    if (sig < GR_SIGRTMIN && (gr_load(&gp->sigpending) & bit)) {
        /* A standard signal already pending: this one is lost, as in the kernel. */
        gr_unlock(&gp->siglock);
        if (q != NULL)
            gr_mem_free(q, sizeof(*q));
        return;
    }
    if (q != NULL) {
        for (pp = &gp->sigq; *pp != NULL; pp = &(*pp)->next)
            ;
        q->next = NULL;
        *pp = q;
    }
    gr_fetch_or(&gp->sigpending, bit);
    gr_unlock(&gp->siglock);
}

int
gr_signal_take(struct g *gp, uint64_t set, siginfo_t *info)
{
    uint64_t pend = gr_load(&gp->sigpending) & set;
    struct gr_sigq *q = NULL;
    int sig = 0;

    if (pend == 0)
        return 0;
    gr_lock(&gp->siglock);
    pend = gr_load(&gp->sigpending) & set;
    if (pend != 0) {
        struct gr_sigq **pp;
        bool more = false;

        sig = __builtin_ctzll(pend) + 1;
        for (pp = &gp->sigq; *pp != NULL; pp = &(*pp)->next) {
            if ((*pp)->info.si_signo == sig) {
                q = *pp;
                *pp = q->next;
                break;
            }
        }
        for (struct gr_sigq *r = gp->sigq; q != NULL && r != NULL; r = r->next)
            if (r->info.si_signo == sig)
                more = true;
        if (!more)
            gr_fetch_and(&gp->sigpending, ~GR_SIGBIT(sig));
    }
    gr_unlock(&gp->siglock);
    if (sig == 0)
        return 0;
    if (q != NULL) {
        *info = q->info;
        gr_mem_free(q, sizeof(*q));
    } else {
        tkill_info(sig, info);
    }
    return sig;
}

void
gr_signal_discard(int sig)
{
    uint64_t bit = GR_SIGBIT(sig);

    if (sig < 1 || sig > GR_NSIG)
        return;
    gr_lock(&gr_sched.glock);
    for (struct g *gp = gr_sched.allg; gp != NULL; gp = gp->allnext) {
        struct gr_sigq *gone = NULL, **pp;

        if (!(gr_load(&gp->sigpending) & bit))
            continue;
        gr_lock(&gp->siglock);
        for (pp = &gp->sigq; *pp != NULL;) {
            struct gr_sigq *q = *pp;
            if (q->info.si_signo == sig) {
                *pp = q->next;
                q->next = gone;
                gone = q;
            } else {
                pp = &q->next;
            }
        }
        gr_fetch_and(&gp->sigpending, ~bit);
        gr_unlock(&gp->siglock);
        while (gone != NULL) {
            struct gr_sigq *q = gone;
            gone = q->next;
            gr_mem_free(q, sizeof(*q));
        }
    }
    gr_unlock(&gr_sched.glock);
    gr_sigroute_discard(sig);
}

bool
gr_signal_takes(struct g *gp, int sig)
{
    uint64_t bit = GR_SIGBIT(sig);

    return gr_load(&gp->status) != G_DEAD &&
           (!(gr_load_relaxed(&gp->sigmask) & bit) || (gr_load(&gp->sigwait_set) & bit));
}

/* Raise sig on the running G, on its own M: its handler runs before this returns unless the
 * kernel mask blocks it for now (inside a handler), and then before the handler returns.
 * mp->raising tells the wrapper that the signal is this G's own. */
static long
raise_self(int sig, const siginfo_t *info)
{
    struct m *mp = gr_getm();
    int prev = mp->raising;
    long r;

    mp->raising = sig;
    gr_signal_fence();
    if (info != NULL)
        r = gr_syscall4(SYS_rt_tgsigqueueinfo, gr_sys_getpid(), mp->tid, sig, info);
    else
        r = gr_sys_tgkill(gr_sys_getpid(), mp->tid, sig);
    gr_signal_fence();
    mp->raising = prev;
    return r;
}

void
gr_signal_deliver(struct g *gp)
{
    for (;;) {
        uint64_t mask = gr_load_relaxed(&gp->sigmask);
        uint64_t due;
        siginfo_t info;
        int sig;

        if (gr_load(&gr_sched.sigheld) & ~mask)
            gr_sigroute_claim(gp, ~mask);
        due = gr_load(&gp->sigpending) & ~mask & ~gr_load(&gp->sigwait_set);
        if (due == 0 || (sig = gr_signal_take(gp, due, &info)) == 0)
            return;
        gp->sigdelivered |= GR_SIGBIT(sig);
        raise_self(sig, info.si_code == SI_TKILL ? NULL : &info);
    }
}

/*
 * The kick: a G in a call in syscall mode sleeps in the kernel on its M, where natively the
 * signal would interrupt the call. Send the signal itself to that M (the kernel then applies
 * the program's SA_RESTART), marked in m->kicksigs; the wrapper runs it there only while the
 * same G is still in that call (gp->sigkickable), with the value taken from the G's record,
 * else drops it and the G raises it when it next runs.
 *
 * A kick must never outlive the call it was meant for: sent late, into a later call or after
 * the program set the signal to SIG_DFL, the kernel would act on a signal that was already
 * handled (and kill the process). So the sender counts itself in m->kicking before it looks at
 * the G, and sends only while the G is in a call with the signal still recorded; the G, leaving
 * the call, stops kicks (sigkickable = 0), waits for the senders counted to finish, and takes
 * back any kick not yet delivered (gr_signal_kicks_settle). One kick per signal is in flight
 * at a time: the wrapper runs one, the G delivers the rest on its way out.
 */
static void
kick(struct g *gp, int sig)
{
    uint64_t bit = GR_SIGBIT(sig);

    /* SIGURG reaches the preemption handler, not the wrapper: the G raises it on its way out. */
    if (sig == SIGURG)
        return;
    for (int tries = 0; tries < 3; tries++) {
        struct m *mp = gr_load(&gp->m);
        bool sent = false;

        if (mp == NULL)
            return;
        gr_xadd(&mp->kicking, 1);
        /* Pairs with gr_exitsyscall's exchange of sigkickable, then its load of kicking. */
        if (gr_load(&gp->sigkickable) && gr_load(&gp->m) == mp &&
            (gr_load(&gp->sigpending) & bit) && !(gr_fetch_or(&mp->kicksigs, bit) & bit)) {
            gr_sys_tgkill(gr_sys_getpid(), mp->tid, sig);
            sent = true;
        }
        bool moved = gr_load(&gp->m) != mp;
        gr_xadd(&mp->kicking, (uint32_t)-1);
        if (sent || !moved)
            return;
        /* It left that M and may be in a call on another: look again. */
    }
}

void
gr_signal_kicks_settle(struct m *mp)
{
    uint64_t bits, pend;

    /* A sender between its look and its tgkill may have been descheduled. */
    for (int spins = 0; gr_load(&mp->kicking) != 0; spins++)
        gr_backoff(spins);
    if (gr_load(&mp->kicksigs) == 0)
        return;
    /* Sent and not yet run by the wrapper: pending on this thread. Block them so that none
     * arrives meanwhile, take them from the thread's queue, and put the mask back: the
     * signals stay recorded on the G, which delivers them itself. */
    bits = gr_load(&mp->kicksigs);
    uint64_t old;
    gr_sys_sigprocmask(SIG_BLOCK, &bits, &old);
    bits = gr_load(&mp->kicksigs);
    pend = bits;
    while (pend != 0) {
        int sig = __builtin_ctzll(pend) + 1;
        uint64_t one = GR_SIGBIT(sig);
        static const struct timespec zero = { 0, 0 };
        gr_syscall4(SYS_rt_sigtimedwait, (long)&one, 0, (long)&zero, GR_NSIG / 8);
        pend &= ~one;
    }
    gr_fetch_and(&mp->kicksigs, ~bits);
    gr_sys_sigprocmask(SIG_SETMASK, &old, NULL);
}

void
gr_signal_wake(struct g *gp, int sig)
{
    uint64_t bit = GR_SIGBIT(sig);
    struct m *mp;

    if (!gr_signal_takes(gp, sig))
        return;
    /* A sigwait for it, or a wait a handler must interrupt, ends now. */
    gr_wq_interrupt(gp, GR_WQ_SIGNAL);
    if (gr_load(&gp->sigwait_set) & bit)
        return;
    /* Pairs with the G's exchange of sigkickable in gr_exitsyscall: either it sees the record
     * on its way out, or this sees it in the call. */
    if (gr_load(&gp->sigkickable)) {
        kick(gp, sig);
        return;
    }
    /* Running: a yield makes it deliver (gr_resumed). Only for a handler, which natively would
     * interrupt it at once; the request lapses if another G runs there by now. */
    if (gr_load(&gp->status) == G_RUNNING && gr_signal_caught(sig) &&
        (mp = gr_load(&gp->m)) != NULL && gr_load(&mp->curg) == gp)
        gr_preempt_m(mp, gp);
}

void
gr_signal_send(struct g *gp, int sig, const siginfo_t *info)
{
    gr_signal_record(gp, sig, info);
    gr_signal_wake(gp, sig);
}

/* ---- Masks, kill and raise, sigpending, sigwait and sigsuspend of a G. */

int
gr_signal_setmask(struct g *gp, int how, const sigset_t *set, sigset_t *old)
{
    uint64_t mask = gr_load_relaxed(&gp->sigmask), nmask;

    if (old != NULL)
        memcpy(old, &mask, sizeof(mask)); /* as the kernel: 8 bytes, the rest left alone */
    if (set == NULL)
        return 0;
    memcpy(&nmask, set, sizeof(nmask));
    nmask &= ~GR_SIG_UNBLOCKABLE;
    switch (how) {
    case SIG_BLOCK:
        mask |= nmask;
        break;
    case SIG_UNBLOCK:
        mask &= ~nmask;
        break;
    case SIG_SETMASK:
        mask = nmask;
        break;
    default:
        return -EINVAL;
    }
    gr_store_relaxed(&gp->sigmask, mask);
    gr_getm()->sigmask_cur = mask;
    gr_sys_sigprocmask(SIG_SETMASK, &mask, NULL);
    if (((gr_load(&gp->sigpending) | gr_load(&gr_sched.sigheld)) & ~mask) != 0)
        gr_signal_deliver(gp); /* sent while blocked, deliverable now */
    return 0;
}

int
gr_signal_raise(struct g *gp, int sig, const siginfo_t *info)
{
    long r;

    if (sig == 0)
        return 0;
    if (gr_load_relaxed(&gp->sigmask) & GR_SIGBIT(sig)) {
        gr_signal_record(gp, sig, info); /* pending on this G until it unblocks or sigwaits */
        return 0;
    }
    r = raise_self(sig, info);
    return r < 0 ? (int)r : 0;
}

int
gr_signal_kill(struct g *gp, int sig, const siginfo_t *info)
{
    if (gr_load(&gp->status) == G_DEAD)
        return info != NULL ? -ESRCH : 0; /* glibc 2.34+: kill of an exited thread is 0 */
    if (sig == 0)
        return 0;
    if (gp == gr_current())
        return gr_signal_raise(gp, sig, info);
    gr_signal_send(gp, sig, info);
    return 0;
}

int
gr_signal_kill_self_process(struct g *gp, int sig, const siginfo_t *info)
{
    /* Sent by the kernel, it could land on any M; its handler would then run on this G a
     * moment after the call returned, where natively it runs before, and a signal every G
     * blocks would reach the router's hold a moment later, where natively sigpending sees it
     * at once. SIGKILL, SIGSTOP and SIGCONT act on the whole process: the kernel's. */
    if (sig < 1 || sig > GR_NSIG || sig == SIGKILL || sig == SIGSTOP || sig == SIGCONT)
        return 0;
    if (gr_load(&gp->sigwait_set) == 0 && gr_sigroute_picks(gp, sig))
        return raise_self(sig, info) < 0 ? 0 : 1; /* a default action acts now too */
    return gr_sigroute_send(sig, info, gr_signal_caught(sig)) ? 1 : 0;
}

void
gr_signal_pending(struct g *gp, sigset_t *set)
{
    uint64_t k = 0, mask = gr_load_relaxed(&gp->sigmask);

    /* The kernel's: the process's, and the M's (its mask is the G's). */
    gr_syscall2(SYS_rt_sigpending, &k, 8);
    k |= (gr_load(&gp->sigpending) | gr_load(&gr_sched.sigheld)) & mask;
    memcpy(set, &k, sizeof(k));
}

#define SIGWAIT_POLL_NS 5000000LL /* signals pending in the kernel: looked for every 5 ms */

/* The next signal of want for the running G's sigwait: its own, one the router holds, or one
 * pending in the kernel. 0 when none, or -errno. */
static long
sigwait_take(struct g *gp, const sigset_t *set, uint64_t want, siginfo_t *si)
{
    struct timespec zero = { 0, 0 };
    long sig = gr_signal_take(gp, want, si);

    if (sig == 0 && (gr_load(&gr_sched.sigheld) & want))
        sig = gr_sigroute_take_held(want, si);
    if (sig != 0)
        return sig;
    do {
        sig = gr_syscall4(SYS_rt_sigtimedwait, set, si, &zero, 8);
    } while (sig == -EINTR);
    return sig == -EAGAIN ? 0 : sig;
}

/* ---- Alternate signal stacks (signal.h). */

static bool
altstack_none(const stack_t *ss)
{
    return (ss->ss_flags & SS_DISABLE) != 0 || ss->ss_size == 0;
}

static bool
altstack_same(const stack_t *a, const stack_t *b)
{
    if (altstack_none(a) || altstack_none(b))
        return altstack_none(a) && altstack_none(b);
    return a->ss_sp == b->ss_sp && a->ss_size == b->ss_size && a->ss_flags == b->ss_flags;
}

/* The OS thread's stack as the kernel has it now, without the SS_ONSTACK of the moment. */
static void
altstack_query(stack_t *ss)
{
    if (gr_syscall2(SYS_sigaltstack, NULL, ss) != 0) {
        memset(ss, 0, sizeof(*ss));
        ss->ss_flags = SS_DISABLE;
    }
    ss->ss_flags &= ~SS_ONSTACK;
}

int
gr_signal_altstack(const stack_t *ss, stack_t *old)
{
    struct g *gp = gr_current();
    long r;

    /* The M holds the calling G's stack (installed when the G came to run here, and the G
     * cannot move off the M inside this call), so the kernel answers for the G. */
    r = gr_syscall2(SYS_sigaltstack, ss, old);
    if (r != 0 || ss == NULL || gr_curg == NULL)
        return (int)r;
    altstack_query(&gr_getm()->altstack_cur);
    if (gp != NULL)
        gp->altstack = gr_getm()->altstack_cur;
    return 0;
}

void
gr_signal_altstack_enter(struct m *mp, struct g *gp)
{
    stack_t off = { .ss_flags = SS_DISABLE };
    const stack_t *want = altstack_none(&gp->altstack) ? &off : &gp->altstack;

    if (altstack_same(want, &mp->altstack_cur))
        return;
    if (gr_syscall2(SYS_sigaltstack, want, NULL) != 0)
        gr_throw("altstack: cannot install a thread's alternate signal stack");
    mp->altstack_cur = *want;
}

void
gr_signal_altstack_leave(struct m *mp)
{
    stack_t off = { .ss_flags = SS_DISABLE };

    if (altstack_none(&mp->altstack_cur))
        return;
    if (gr_syscall2(SYS_sigaltstack, &off, NULL) != 0)
        gr_throw("altstack: cannot remove a thread's alternate signal stack");
    mp->altstack_cur = off;
}

void
gr_signal_altstack_init(struct m *mp)
{
    altstack_query(&mp->altstack_cur);
}

#define SIGWAIT_POLL_NS 5000000LL /* process-directed signals: looked for every 5 ms */

/*
 * Signals sent to the G (pthread_kill, pthread_sigqueue) and the process signals the router
 * gives it are recorded on the G and wake it; signals pending in the kernel (sent to the
 * process while every thread blocked them, and default actions) are taken with a zero-timeout
 * rt_sigtimedwait, looked for when the wait starts and at least every 5 ms. While the call
 * lasts, sigwait_set keeps the signals of set from being raised on the G (gr_signal_deliver):
 * as in Linux, a signal waited for is taken even when the G does not block it. As glibc's
 * sigtimedwait, a signal sent by tkill reports SI_USER.
 */
int
gr_signal_wait(const sigset_t *set, siginfo_t *info, int64_t deadline)
{
    struct g *gp = gr_curg;
    uint64_t want = 0;
    siginfo_t si;
    long sig;

    memcpy(&want, set, sizeof(want));
    gr_store(&gp->sigwait_set, want);
    for (;;) {
        uint32_t word = 0;
        int64_t until;
        int r;

        sig = sigwait_take(gp, set, want, &si);
        if (sig != 0)
            break;
        if (deadline >= 0 && gr_nanotime() >= deadline) {
            sig = -EAGAIN;
            break;
        }
        until = gr_nanotime() + SIGWAIT_POLL_NS;
        if (deadline >= 0 && deadline < until)
            until = deadline;
        r = gr_futex_wait(&word, 0, ~0u, until, GR_WQ_CANCEL | GR_WQ_SIGNAL, "sigwait");
        if (r == -ECANCELED) {
            gr_store(&gp->sigwait_set, 0);
            gr_cancel_test();
            gr_store(&gp->sigwait_set, want);
        }
        if (r == -EINTR && (gr_load(&gp->sigpending) & want) == 0 && gr_signal_eintr()) {
            sig = -EINTR; /* a handler of another signal ran */
            break;
        }
    }
    gr_store(&gp->sigwait_set, 0);
    if (sig > 0) {
        if (si.si_code == SI_TKILL)
            si.si_code = SI_USER;
        if (info != NULL)
            *info = si;
    }
    return (int)sig;
}

int
gr_signal_suspend(const sigset_t *mask)
{
    struct g *gp = gr_curg;
    sigset_t old;
    uint32_t word = 0;

    gr_cancel_test();
    gp->sigdelivered = 0;
    gr_signal_mask_enter(mask, &old);
    while (gp->sigdelivered == 0 && gp->handlers_run == gp->suspend_seen) {
        /* A private word nobody wakes: a signal or a cancel ends the wait. A cancellation
         * acts with the old mask back, as the thread left sigsuspend. */
        if (gr_futex_wait(&word, 0, ~0u, -1, GR_WQ_CANCEL | GR_WQ_SIGNAL, "sigsuspend") ==
            -ECANCELED) {
            gr_signal_setmask(gp, SIG_SETMASK, &old, NULL);
            gr_cancel_test();
            gr_signal_setmask(gp, SIG_SETMASK, mask, NULL);
        }
    }
    gp->sigdelivered = 0;
    gr_signal_mask_leave(&old);
    return -EINTR;
}

void
gr_signal_mask_enter(const sigset_t *mask, sigset_t *old)
{
    struct g *gp = gr_curg;

    /* From the unblocking on, a signal the kernel gives this M while the G runs on its way
     * to park has its handler run at once by the wrapper, leaving no record for the wait:
     * the count of handlers says it ran (sema.c's park looks at it). */
    gp->suspend_seen = gp->handlers_run;
    gp->suspending = true;
    gr_signal_setmask(gp, SIG_SETMASK, mask, old);
}

bool
gr_signal_mask_leave(const sigset_t *old)
{
    struct g *gp = gr_curg;
    bool ran = gp->handlers_run != gp->suspend_seen;

    gp->suspending = false;
    gr_signal_setmask(gp, SIG_SETMASK, old, NULL);
    return ran;
}

/* ---- The program's handlers: published actions and the wrapper that runs them. */

/*
 * An action as the wrapper runs it: the handler and its flags together. Records are immutable
 * and interned, one per distinct pair and never freed, so a handler reading the record of an
 * action that sigaction has just replaced reads a whole one (the old or the new), as the
 * kernel delivers a signal with the old or the new disposition, never a mix.
 */
struct gr_sigrec {
    void *handler;
    int flags;
    struct gr_sigrec *next; /* protected by rec_lock: every record */
};

static struct gr_sigrec *records; /* protected by rec_lock */
static struct gr_mutex rec_lock = GR_MUTEX_INIT(GR_RANK_SIGREC);
static GR_ATOMIC_PTR(const struct gr_sigrec) published[GR_NSIG + 1]; /* atomic: store-release */

static const struct gr_sigrec *
intern(void *handler, int flags)
{
    struct gr_sigrec *r;

    gr_lock(&rec_lock);
    for (r = records; r != NULL; r = r->next)
        if (r->handler == handler && r->flags == flags)
            break;
    if (r == NULL && (r = gr_mem_alloc(sizeof(*r))) != NULL) {
        r->handler = handler;
        r->flags = flags;
        r->next = records;
        records = r;
    }
    gr_unlock(&rec_lock);
    return r;
}

int
gr_signal_publish(int sig, const struct sigaction *act)
{
    const struct gr_sigrec *rec = NULL;
    void *h;

    if (sig < 1 || sig > GR_NSIG)
        return -EINVAL;
    if (act != NULL) {
        h = (act->sa_flags & SA_SIGINFO) ? (void *)act->sa_sigaction : (void *)act->sa_handler;
        if (h != (void *)SIG_DFL && h != (void *)SIG_IGN && h != NULL) {
            rec = intern(h, act->sa_flags);
            if (rec == NULL)
                return -ENOMEM;
        }
    }
    /* Pairs with the acquire in gr_signal_run_action: the record's fields come with it. */
    gr_store_release(&published[sig], rec);
    gr_sigroute_caught(sig, rec != NULL);
    return 0;
}

bool
gr_signal_caught(int sig)
{
    return sig >= 1 && sig <= GR_NSIG && gr_load_relaxed(&published[sig]) != NULL;
}
bool
gr_signal_run_action(int sig, siginfo_t *si, void *uc)
{
    const struct gr_sigrec *rec;

    if (sig < 1 || sig > GR_NSIG)
        return false;
    rec = gr_load_acquire(&published[sig]);
    if (rec == NULL)
        return false;
    if (rec->flags & SA_SIGINFO)
        ((void (*)(int, siginfo_t *, void *))rec->handler)(sig, si, uc);
    else
        ((void (*)(int))rec->handler)(sig);
    return true;
}

/* Run the action on the G or g0 the signal interrupted. */
static void
run_here(struct g *gp, int sig, siginfo_t *si, void *uc)
{
    uintptr_t prev = 0;

    /* On g0 (an M between Gs) the installed block may be a G running elsewhere by now. */
    if (gp == NULL)
        prev = gr_tls_enter_m(GR_TLS_OWN);
    /* The handler runs on this M's signal frame (and maybe its alternate stack): the G must
     * not leave the M before it returns (hooks pass through, safe points wait). Whether it
     * may let the P go while it waits depends on what it interrupted (handler_handoff). */
    bool prev_handoff = false;
    if (gp != NULL) {
        struct m *mp = gr_getm();
        bool safe = !mp->mallocing && (mp->raising || !gr_preempt_uc_in_runtime(uc));
        prev_handoff = gp->handler_handoff;
        gp->handler_handoff = (gp->inhandler == 0 || prev_handoff) && safe;
        gp->inhandler++;
        gp->handlers_run++;
    }
    gr_signal_run_action(sig, si, uc);
    if (gp != NULL) {
        gp->inhandler--;
        gp->handler_handoff = prev_handoff;
    }
    if (gp == NULL)
        gr_tls_leave_m(prev);
}

void
gr_signal_wrapper(int sig, siginfo_t *si, void *uc)
{
    uint64_t bit = GR_SIGBIT(sig);
    struct m *mp;
    struct g *gp;

    if (gr_curg == NULL || sig < 1 || sig > GR_NSIG) {
        gr_signal_run_action(sig, si, uc); /* a thread the runtime does not own */
        return;
    }
    mp = gr_getm();
    gp = gr_current();
    /* A kick (kick(), above): for this G only while it is still in its call in syscall mode,
     * with the value it was sent with; else its G raises it when it next runs. */
    if (si->si_code == SI_TKILL && mp->raising != sig && (gr_load(&mp->kicksigs) & bit) &&
        (gr_fetch_and(&mp->kicksigs, ~bit) & bit)) {
        siginfo_t info;
        if (gp == NULL || !gr_load_relaxed(&gp->sigkickable) ||
            (gr_load_relaxed(&gp->sigmask) & bit) || gr_signal_take(gp, bit, &info) != sig)
            return;
        gp->sigdelivered |= bit;
        run_here(gp, sig, &info, uc);
        return;
    }
    /* A G wired to this M and waiting in the kernel (wire.c, sema.c's wired_wait) has its
     * waiter queued: a process signal reaches it through the router, as a parked G, and its
     * handler runs once the wait is undone. */
    bool kwait = gp != NULL && gr_load_relaxed(&gp->status) == G_WAITING;
    /* Sent to the process, and another G must take it: the router passes it on. */
    if (gr_sigroute_divert(mp, kwait ? NULL : gp, sig, si))
        return;
    run_here(gp, sig, si, uc);
    /* Run in a wired wait all the same (sent to this thread, or no slot was free): as
     * natively, it ends the wait if signals may end it. */
    if (kwait)
        gp->sigdelivered |= bit;
}
