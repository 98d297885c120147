/*
 * runtime/signal.c: signals sent to a G (pthread_kill, pthread_sigqueue).
 *
 * A signal sent to a G is recorded on it: a bit in gp->sigpending and, for
 * pthread_sigqueue, its siginfo in gp->sigq (FIFO, protected by gp->siglock). It is raised on
 * the G's own M (tgkill, rt_tgsigqueueinfo) when the G runs and does not block it, so the
 * program's handler runs on that G; sigwait takes it from the record instead. Sending wakes a
 * wait the signal must interrupt (GR_WQ_SIGNAL), or a sigwait for it.
 *
 * The program's handlers run behind gr_signal_wrapper (last section), which the sigaction
 * hook installs in their place and which runs the action published for the signal.
 *
 * Locks: gp->siglock (rank leaf) for a G's queued values; rec_lock (rank sigrec) for the
 * interned action records; the glock to pick a G for an orphan signal.
 */
#include "runtime/signal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>

#include "runtime/atomic.h"
#include "runtime/lock.h"
#include "runtime/mem.h"
#include "runtime/proc.h"
#include "runtime/sched.h"
#include "runtime/sema.h"
#include "runtime/sys.h"
#include "runtime/tls.h"
#include "runtime/sysmon.h"

bool
gr_signal_eintr(void)
{
    struct g *gp = gr_curg;
    uint64_t got = gp->sigdelivered;
    bool eintr = got == 0;

    gp->sigdelivered = 0;
    for (int sig = 1; sig <= 64; sig++) {
        struct gr_ksigaction ka;
        if (!(got & (1ULL << (sig - 1))))
            continue;
        if (gr_sys_rt_sigaction(sig, NULL, &ka) != 0 || !(ka.flags & SA_RESTART))
            eintr = true;
    }
    return eintr;
}

/* Queued values of signals sent with pthread_sigqueue, oldest first. */
struct gr_sigq {
    struct gr_sigq *next;
    siginfo_t info;
};

void
gr_signal_send(struct g *gp, int sig, const siginfo_t *info)
{
    if (info != NULL) {
        struct gr_sigq *q = gr_mem_alloc(sizeof(*q)), **pp;
        if (q != NULL) {
            q->info = *info;
            gr_lock(&gp->siglock);
            for (pp = &gp->sigq; *pp != NULL; pp = &(*pp)->next)
                ;
            *pp = q;
            gr_unlock(&gp->siglock);
        }
    }
    gr_fetch_or(&gp->sigpending, 1ULL << (sig - 1));
    /* A sigwait for it, or a wait a handler must interrupt, ends now. */
    if (((~gr_load_relaxed(&gp->sigmask) | gr_load(&gp->sigwait_set)) & (1ULL << (sig - 1))) != 0)
        gr_wq_interrupt(gp, GR_WQ_SIGNAL);
}

/* Remove the oldest queued value of sig into info (false when none); *more tells whether
 * another value of sig stays queued. */
static bool
sigq_take(struct g *gp, int sig, siginfo_t *info, bool *more)
{
    struct gr_sigq **pp, *q = NULL;

    *more = false;
    gr_lock(&gp->siglock);
    for (pp = &gp->sigq; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->info.si_signo == sig) {
            q = *pp;
            *pp = q->next;
            break;
        }
    }
    for (struct gr_sigq *r = gp->sigq; q != NULL && r != NULL; r = r->next)
        if (r->info.si_signo == sig)
            *more = true;
    gr_unlock(&gp->siglock);
    if (q == NULL)
        return false;
    *info = q->info;
    gr_mem_free(q, sizeof(*q));
    return true;
}

int
gr_signal_take(struct g *gp, uint64_t set, siginfo_t *info)
{
    uint64_t pend = gr_load(&gp->sigpending) & set;

    for (int sig = 1; sig <= 64; sig++) {
        uint64_t bit = 1ULL << (sig - 1);
        bool more = false;
        if (!(pend & bit))
            continue;
        if (!sigq_take(gp, sig, info, &more)) {
            memset(info, 0, sizeof(*info));
            info->si_signo = sig;
            info->si_code = SI_TKILL;
            info->si_pid = gr_sys_getpid();
            info->si_uid = (uid_t)gr_syscall0(SYS_getuid);
        }
        if (!more)
            gr_fetch_and(&gp->sigpending, ~bit);
        return sig;
    }
    return 0;
}

void
gr_signal_deliver(struct g *gp)
{
    uint64_t deliverable = gr_load(&gp->sigpending) & ~gr_load_relaxed(&gp->sigmask);

    for (int sig = 1; sig <= 64; sig++) {
        siginfo_t info;
        if (!(deliverable & (1ULL << (sig - 1))))
            continue;
        while (gr_signal_take(gp, 1ULL << (sig - 1), &info) == sig) {
            gp->sigdelivered |= 1ULL << (sig - 1);
            if (info.si_code == SI_QUEUE)
                gr_syscall4(SYS_rt_tgsigqueueinfo, gr_sys_getpid(), gr_getm()->tid, sig, &info);
            else
                gr_sys_tgkill(gr_sys_getpid(), gr_getm()->tid, sig);
            if (!(gr_load(&gp->sigpending) & (1ULL << (sig - 1))))
                break;
        }
    }
}

/* ---- Masks, kill, sigwait and sigsuspend of a G. */

int
gr_signal_setmask(struct g *gp, int how, const sigset_t *set, sigset_t *old)
{
    uint64_t mask = gr_load_relaxed(&gp->sigmask), nmask;

    if (old != NULL) {
        sigemptyset(old);
        memcpy(old, &mask, sizeof(mask));
    }
    if (set == NULL)
        return 0;
    memcpy(&nmask, set, sizeof(nmask));
    nmask &= ~((1ULL << (GR_SIGCANCEL - 1)) | (1ULL << (GR_SIGSETXID - 1)));
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
    if ((gr_load(&gp->sigpending) & ~mask) != 0)
        gr_signal_deliver(gp); /* sent while blocked, deliverable now */
    return 0;
}

int
gr_signal_kill(struct g *gp, int sig, const siginfo_t *info)
{
    long r;

    if (gr_load(&gp->status) == G_DEAD)
        return info != NULL ? -ESRCH : 0; /* glibc 2.34+: kill of an exited thread is 0 */
    if (sig == 0)
        return 0;
    if (gp == gr_current()) {
        r = info != NULL ?
                gr_syscall4(SYS_rt_tgsigqueueinfo, gr_sys_getpid(), gr_getm()->tid, sig, info) :
                gr_sys_tgkill(gr_sys_getpid(), gr_getm()->tid, sig);
        return r < 0 ? (int)r : 0;
    }
    /* Delivered by the target itself when it next runs (gr_resumed); a wait that a signal
     * interrupts (sleeps, semaphores, I/O, sigwait) ends now. */
    gr_signal_send(gp, sig, info);
    return 0;
}

#define SIGWAIT_POLL_NS 5000000LL /* process-directed signals: looked for every 5 ms */

/*
 * Signals sent to the G (pthread_kill, pthread_sigqueue) are pending on the G and wake it;
 * signals sent to the process or to its M are pending in the kernel and are taken with a
 * zero-timeout rt_sigtimedwait, looked for when the wait starts and at least every 5 ms.
 * As glibc's sigtimedwait, a signal sent by tkill reports SI_USER.
 */
int
gr_signal_wait(const sigset_t *set, siginfo_t *info, int64_t deadline)
{
    struct g *gp = gr_curg;
    struct timespec zero = { 0, 0 };
    uint64_t want = 0;
    siginfo_t si;
    long sig;

    memcpy(&want, set, sizeof(want));
    for (;;) {
        uint32_t word = 0;
        int64_t until;
        int r;

        sig = gr_signal_take(gp, want, &si);
        if (sig == 0) {
            do {
                sig = gr_syscall4(SYS_rt_sigtimedwait, set, &si, &zero, 8);
            } while (sig == -EINTR);
            if (sig < 0 && sig != -EAGAIN)
                return (int)sig;
            if (sig < 0)
                sig = 0;
        }
        if (sig > 0) {
            if (si.si_code == SI_TKILL)
                si.si_code = SI_USER;
            if (info != NULL)
                *info = si;
            return (int)sig;
        }
        if (deadline >= 0 && gr_nanotime() >= deadline)
            return -EAGAIN;
        until = gr_nanotime() + SIGWAIT_POLL_NS;
        if (deadline >= 0 && deadline < until)
            until = deadline;
        gr_store(&gp->sigwait_set, want);
        r = gr_futex_wait(&word, 0, ~0u, until, GR_WQ_CANCEL | GR_WQ_SIGNAL);
        gr_store(&gp->sigwait_set, 0);
        if (r == -ECANCELED)
            pthread_testcancel();
        if (r == -EINTR && (gr_load(&gp->sigpending) & want) == 0 && gr_signal_eintr())
            return -EINTR; /* a handler of another signal ran */
    }
}

int
gr_signal_suspend(const sigset_t *mask)
{
    struct g *gp = gr_curg;
    sigset_t old;
    uint32_t word = 0;

    pthread_testcancel();
    gp->sigdelivered = 0;
    gr_signal_setmask(gp, SIG_SETMASK, mask, &old);
    while (gp->sigdelivered == 0) {
        /* A private word nobody wakes: a signal or a cancel ends the wait. A cancellation
         * acts with the old mask back, as the thread left sigsuspend. */
        if (gr_futex_wait(&word, 0, ~0u, -1, GR_WQ_CANCEL | GR_WQ_SIGNAL) == -ECANCELED) {
            gr_signal_setmask(gp, SIG_SETMASK, &old, NULL);
            pthread_testcancel();
            gr_signal_setmask(gp, SIG_SETMASK, mask, NULL);
        }
    }
    gp->sigdelivered = 0;
    gr_signal_setmask(gp, SIG_SETMASK, &old, NULL);
    return -EINTR;
}

/*
 * Signals sent to the process. The kernel gives one to a thread that does not block it; if
 * that thread is an M between Gs, the handler runs there (hooks/signal.c) and no G sees it,
 * whereas natively it could have been a thread blocked in read() that returns EINTR. The
 * handler records it here (async-signal-safe: one atomic OR and a futex wake of sysmon),
 * and sysmon interrupts one G parked in an interruptible wait that does not block it,
 * the main G first, as the kernel prefers the main thread.
 */
static struct gr_atomic_u64 orphans; /* atomic: signals handled on g0, not passed on yet */

void
gr_signal_orphan(int sig)
{
    if (sig < 1 || sig > 64)
        return;
    gr_fetch_or(&orphans, 1ULL << (sig - 1));
    gr_sysmon_kick();
}

/* Does gp wait, interruptibly, with sig not blocked? Requires: gr_sched.glock held. */
static bool
takes_orphan(struct g *gp, uint64_t bit)
{
    GR_ASSERT_HELD(&gr_sched.glock);
    struct gr_waiter *w = gr_load(&gp->waiting);

    return w != NULL && (w->flags & GR_WQ_SIGNAL) && !(gr_load_relaxed(&gp->sigmask) & bit) &&
           gr_load(&gp->status) == G_WAITING;
}

void
gr_signal_pass_orphans(void)
{
    uint64_t pend = gr_xchg(&orphans, 0);

    for (int sig = 1; pend != 0 && sig <= 64; sig++) {
        uint64_t bit = 1ULL << (sig - 1);
        struct g *target = NULL;

        if (!(pend & bit))
            continue;
        pend &= ~bit;
        gr_lock(&gr_sched.glock);
        for (struct g *gp = gr_sched.allg; gp != NULL; gp = gp->allnext) {
            if (takes_orphan(gp, bit) && (target == NULL || gp->is_main))
                target = gp;
        }
        if (target != NULL)
            gr_fetch_or(&target->sigforeign, bit);
        gr_unlock(&gr_sched.glock);
        if (target != NULL)
            gr_wq_interrupt(target, GR_WQ_SIGNAL);
    }
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
    return 0;
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

void
gr_signal_wrapper(int sig, siginfo_t *si, void *uc)
{
    uintptr_t prev = 0;
    struct g *gp = gr_curg != NULL ? gr_current() : NULL;
    bool on_g0 = gr_curg != NULL && gp == NULL;

    /* On g0 (an M between Gs) the installed block may be a G running elsewhere by now. */
    if (on_g0)
        prev = gr_tls_enter_m(GR_TLS_OWN);
    /* The handler runs on the interrupted G's stack and on this M's signal frame: the G
     * must not leave the M before it returns (hooks pass through, safe points wait). */
    if (gp != NULL)
        gp->inhandler++;
    gr_signal_run_action(sig, si, uc);
    if (gp != NULL)
        gp->inhandler--;
    /* A G wired to its M (wire.c) waits in the kernel, where the handler just interrupted
     * it, as natively: its wait ends if signals may end it (sema.c's wired_wait). */
    if (gp != NULL && gr_load_relaxed(&gp->status) == G_WAITING && sig >= 1 && sig <= 64)
        gp->sigdelivered |= 1ULL << (sig - 1);
    if (on_g0)
        gr_tls_leave_m(prev);
    /* Sent to the process and handled between Gs: natively it could have interrupted a
     * blocked call; let a parked G see it (gr_signal_orphan). */
    if (on_g0 && si != NULL && si->si_code != SI_TKILL && si->si_code != SI_QUEUE)
        gr_signal_orphan(sig);
}
