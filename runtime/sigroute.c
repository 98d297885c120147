/*
 * runtime/sigroute.c: signals sent to the process (kill, sigqueue, alarm, timers, the
 * terminal), passed to the G the kernel would have chosen.
 *
 * The kernel gives a process signal to one thread that does not block it, trying first the
 * thread it was aimed at: the main thread for kill and sigqueue. Its threads here are Ms, and
 * an M's mask is that of whatever G it runs, so the signal lands on an M running some G, or
 * between Gs. The wrapper (signal.c) asks gr_sigroute_divert: the signal runs right there when
 * the G it interrupted is the one the kernel would pick (it does not block the signal and the
 * main G is not a better candidate: the main G blocks it, or it is the main G); otherwise it
 * is copied into a slot, and sysmon, woken, records it on the chosen G (gr_signal_send), which
 * runs the handler with the signal's own siginfo, or takes it in its sigwait. The choice, as
 * the kernel's: the main G when it does not block the signal (or waits for it in sigwait),
 * else a G that waits for it in sigwait, else one parked in an interruptible wait, else any
 * that does not block it. When every G blocks it, the signal is held (gr_sched.sigheld) for
 * the first G that unblocks it or waits for it, and sigpending reports it. CPU-time signals
 * (SIGPROF, SIGVTALRM, SIGXCPU) go to the G that was running, as the kernel sends them to the
 * thread whose time ran out.
 *
 * sysmon's own thread does not block the signals the program catches (but SIGURG, the
 * preemption signal): a signal sent while every M blocks it then still lands somewhere, and
 * reaches a parked G that does not block it.
 *
 * Locks: held_lock (leaf) for the held signals; gr_sched.glock to pick a G. The slots are
 * lock-free: the wrapper runs in a signal handler.
 */
#include "runtime/sigroute.h"

#include <string.h>

#include "runtime/atomic.h"
#include "runtime/lock.h"
#include "runtime/mem.h"
#include "runtime/sched.h"
#include "runtime/signal.h"
#include "runtime/sys.h"
#include "runtime/sysmon.h"

static GR_ATOMIC_PTR(struct g) leader; /* atomic: set at boot and in a fork child */

/* ---- Which signals are the process's, and which G takes one. */

/* Faults the kernel sends to the thread that caused them. */
static bool
fault_signal(int sig)
{
    return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGTRAP ||
           sig == SIGSYS;
}

static bool
process_directed(struct m *mp, int sig, const siginfo_t *si)
{
    if (mp->raising == sig)
        return false; /* the G's own, raised by the runtime (signal.c) */
    switch (si->si_code) {
    case SI_TKILL:
    case SI_DETHREAD:
        return false;
    case SI_USER:
        /* The kernel also sends these two to the thread that wrote to a broken pipe or past
         * its file size limit, as if from its own process. */
        return !((sig == SIGPIPE || sig == SIGXFSZ) && si->si_pid == gr_sys_getpid());
    case SI_QUEUE:
    case SI_TIMER:
    case SI_MESGQ:
    case SI_ASYNCIO:
    case SI_SIGIO:
        return true;
    default: /* SI_KERNEL and the kernel's own codes (SIGCHLD's, SIGIO's, faults') */
        return !fault_signal(sig);
    }
}

/* A CPU-time limit: the kernel aims it at the thread whose time ran out. */
static bool
aimed_at_current(int sig, const siginfo_t *si)
{
    return si->si_code == SI_KERNEL && (sig == SIGPROF || sig == SIGVTALRM || sig == SIGXCPU);
}

/* The G to give sig to, or NULL when every G blocks it. Requires: gr_sched.glock held. */
static struct g *
pick(int sig)
{
    uint64_t bit = GR_SIGBIT(sig);
    struct g *lead = gr_load(&leader), *best = NULL;
    int best_score = 0;

    GR_ASSERT_HELD(&gr_sched.glock);
    if (lead != NULL && gr_signal_takes(lead, sig))
        return lead;
    for (struct g *gp = gr_sched.allg; gp != NULL; gp = gp->allnext) {
        int score;
        if (!gr_signal_takes(gp, sig))
            continue;
        if (gr_load(&gp->sigwait_set) & bit)
            score = 3;
        else if (gr_load(&gp->waiting) != NULL && gr_load(&gp->status) == G_WAITING)
            score = 2; /* parked in a wait a signal interrupts */
        else
            score = 1;
        if (score > best_score) {
            best = gp;
            best_score = score;
        }
    }
    return best;
}

bool
gr_sigroute_picks(struct g *gp, int sig)
{
    struct g *lead = gr_load(&leader);

    return !(gr_load_relaxed(&gp->sigmask) & GR_SIGBIT(sig)) &&
           (lead == NULL || lead == gp || !gr_signal_takes(lead, sig));
}

/* ---- The slots between the wrapper and the router. */

#define NSLOTS 64

enum { SLOT_FREE, SLOT_BUSY, SLOT_FULL };

static struct slot {
    struct gr_atomic_u32 state; /* atomic: FREE -> BUSY (a wrapper's CAS) -> FULL (release)
                                   -> FREE (the router, once it copied the rest) */
    int sig;
    siginfo_t info;
} slots[NSLOTS];

static struct gr_atomic_u32 router_up; /* atomic: sysmon was started, to run the router */

bool
gr_sigroute_divert(struct m *mp, struct g *gp, int sig, const siginfo_t *si)
{
    uint64_t bit = GR_SIGBIT(sig);

    if (!process_directed(mp, sig, si) || !gr_load(&router_up))
        return false;
    if (gp != NULL && !(gr_load_relaxed(&gp->sigmask) & bit) &&
        !(gr_load(&gp->sigwait_set) & bit) &&
        (aimed_at_current(sig, si) || gr_sigroute_picks(gp, sig)))
        return false; /* this G is the one: run it here */
    for (int i = 0; i < NSLOTS; i++) {
        uint32_t st = SLOT_FREE;
        if (gr_load_relaxed(&slots[i].state) != SLOT_FREE ||
            !gr_cas(&slots[i].state, &st, SLOT_BUSY))
            continue;
        slots[i].sig = sig;
        slots[i].info = *si;
        /* Pairs with the acquire in gr_sigroute_sysmon: the copy comes with FULL. */
        gr_store_release(&slots[i].state, SLOT_FULL);
        gr_sysmon_kick();
        return true;
    }
    return false; /* every slot taken: run it here rather than lose it */
}

/* ---- Held signals: every G blocked them when they came. */

struct held_sig {
    struct held_sig *next;
    siginfo_t info;
};

static struct held_sig *held; /* protected by held_lock: oldest first */
static struct gr_mutex held_lock = GR_MUTEX_INIT(GR_RANK_LEAF);

static void
hold(int sig, const siginfo_t *info)
{
    uint64_t bit = GR_SIGBIT(sig);
    struct held_sig *h = gr_mem_alloc(sizeof(*h)), **pp;

    if (h == NULL)
        return; /* lost, as a signal the kernel has no room to queue */
    h->info = *info;
    h->info.si_signo = sig;
    h->next = NULL;
    gr_lock(&held_lock);
    if (sig < GR_SIGRTMIN && (gr_load(&gr_sched.sigheld) & bit)) {
        gr_unlock(&held_lock); /* a standard signal already pending: lost, as in the kernel */
        gr_mem_free(h, sizeof(*h));
        return;
    }
    for (pp = &held; *pp != NULL; pp = &(*pp)->next)
        ;
    *pp = h;
    gr_fetch_or(&gr_sched.sigheld, bit);
    gr_unlock(&held_lock);
}

int
gr_sigroute_take_held(uint64_t set, siginfo_t *info)
{
    struct held_sig *h = NULL, **pp;
    uint64_t pend;
    int sig = 0;
    bool more = false;

    gr_lock(&held_lock);
    pend = gr_load(&gr_sched.sigheld) & set;
    if (pend != 0) {
        sig = __builtin_ctzll(pend) + 1;
        for (pp = &held; *pp != NULL; pp = &(*pp)->next) {
            if ((*pp)->info.si_signo == sig) {
                h = *pp;
                *pp = h->next;
                break;
            }
        }
        for (struct held_sig *r = held; r != NULL; r = r->next)
            if (r->info.si_signo == sig)
                more = true;
        if (!more)
            gr_fetch_and(&gr_sched.sigheld, ~GR_SIGBIT(sig));
    }
    gr_unlock(&held_lock);
    if (h == NULL)
        return 0;
    *info = h->info;
    gr_mem_free(h, sizeof(*h));
    return sig;
}

void
gr_sigroute_discard(int sig)
{
    struct held_sig *gone = NULL, **pp;

    gr_lock(&held_lock);
    for (pp = &held; *pp != NULL;) {
        struct held_sig *h = *pp;
        if (h->info.si_signo == sig) {
            *pp = h->next;
            h->next = gone;
            gone = h;
        } else {
            pp = &h->next;
        }
    }
    gr_fetch_and(&gr_sched.sigheld, ~GR_SIGBIT(sig));
    gr_unlock(&held_lock);
    while (gone != NULL) {
        struct held_sig *h = gone;
        gone = h->next;
        gr_mem_free(h, sizeof(*h));
    }
}

void
gr_sigroute_claim(struct g *gp, uint64_t set)
{
    siginfo_t info;
    int sig;

    while ((sig = gr_sigroute_take_held(set, &info)) != 0)
        gr_signal_record(gp, sig, &info);
}

/* ---- The router, in sysmon. */

static void
route(int sig, const siginfo_t *info)
{
    struct g *target;
    siginfo_t again;

    gr_lock(&gr_sched.glock);
    target = pick(sig);
    if (target != NULL)
        gr_signal_record(target, sig, info);
    gr_unlock(&gr_sched.glock);
    if (target == NULL) {
        hold(sig, info);
        /* A G that unblocked it meanwhile saw nothing held yet: look once more (its mask is
         * stored before it looks at sigheld, which hold set before this looks at masks). */
        gr_lock(&gr_sched.glock);
        target = pick(sig);
        if (target != NULL && gr_sigroute_take_held(GR_SIGBIT(sig), &again) == sig)
            gr_signal_record(target, sig, &again);
        else
            target = NULL;
        gr_unlock(&gr_sched.glock);
    }
    if (target != NULL)
        gr_signal_wake(target, sig);
}

bool
gr_sigroute_send(int sig, const siginfo_t *info, bool caught)
{
    if (!caught) {
        struct g *target;

        gr_lock(&gr_sched.glock);
        target = pick(sig);
        gr_unlock(&gr_sched.glock);
        if (target != NULL)
            return false;
    }
    route(sig, info);
    return true;
}

static struct gr_atomic_u64 caught; /* atomic: signals with a published action */
static uint64_t applied;            /* sysmon only: the mask set on its thread, 0 = none yet */

void
gr_sigroute_caught(int sig, bool is_caught)
{
    uint64_t bit = GR_SIGBIT(sig);

    if (((gr_load(&caught) & bit) != 0) == is_caught)
        return;
    if (is_caught)
        gr_fetch_or(&caught, bit);
    else
        gr_fetch_and(&caught, ~bit);
    gr_sysmon_kick();
}

void
gr_sigroute_sysmon(void)
{
    /* Open to what the program catches; SIGCANCEL and SIGSETXID, glibc's, stay open. */
    uint64_t mask = ~(gr_load(&caught) & ~GR_SIGBIT(SIGURG)) &
                    ~(GR_SIGBIT(GR_SIGCANCEL) | GR_SIGBIT(GR_SIGSETXID));

    if (mask != applied) {
        gr_sys_sigprocmask(SIG_SETMASK, &mask, NULL);
        applied = mask;
    }
    for (int i = 0; i < NSLOTS; i++) {
        siginfo_t info;
        int sig;

        if (gr_load_acquire(&slots[i].state) != SLOT_FULL)
            continue;
        sig = slots[i].sig;
        info = slots[i].info;
        gr_store_release(&slots[i].state, SLOT_FREE);
        route(sig, &info);
    }
}

void
gr_sigroute_leader(struct g *gp)
{
    gr_store(&leader, gp);
}

void
gr_sigroute_start(void)
{
    gr_store(&router_up, 1);
}

void
gr_sigroute_fork_child(struct g *gp)
{
    gr_store(&leader, gp);
    for (int i = 0; i < NSLOTS; i++)
        gr_store_relaxed(&slots[i].state, SLOT_FREE);
    gr_lock_reset(&held_lock);
    held = NULL; /* the parent's: not pending in the child */
    gr_store_relaxed(&gr_sched.sigheld, 0);
    applied = 0;
    gr_store_relaxed(&router_up, 0);
    gr_lock_reset(&gp->siglock);
    gp->sigq = NULL;
    gr_store_relaxed(&gp->sigpending, 0);
    gr_store_relaxed(&gr_getm()->kicksigs, 0);
    gr_store_relaxed(&gr_getm()->kicking, 0);
}
