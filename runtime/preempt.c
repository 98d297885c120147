/*
 * runtime/preempt.c: asynchronous preemption.
 *
 * sysmon asks for it (gr_preempt_m) when a P has run the same G for 10 ms while other Gs
 * wait, and the M is running in user mode (its /proc/thread-self/stat says R: a G sleeping in
 * a system call is left alone, since a signal would make some calls fail with EINTR). The M
 * gets SIGURG; the handler checks that the request is ours and that the interrupted
 * instruction is in the program's own code, never in libc, ld.so, the vDSO or the runtime
 * (their internal locks are not G-aware) except in one of libc's leaf functions called by
 * the program's own code (leaf.c), and not inside a handler of the program nor with
 * the stack pointer off the G's own stack (an alternate signal stack belongs to the M: the G
 * must not leave it there), then redirects the G to gr_async_preempt, which yields once the
 * handler has returned. SIGURG not sent by the runtime goes to the program's
 * own handler, as the sigaction hook recorded it.
 *
 * Locks: user_lock (rank sigaction): the program's SIGURG disposition, as sigaction reads
 * it back; the handler itself takes none.
 */
#include "runtime/preempt.h"

#include <cpuid.h>
#include <link.h>
#include <signal.h>
#include <string.h>
#include <ucontext.h>

#include "runtime/atomic.h"
#include "runtime/debug.h"
#include "runtime/g.h"
#include "runtime/leaf.h"
#include "runtime/libc.h"
#include "runtime/proc.h"
#include "runtime/runq.h"
#include "runtime/sched.h"
#include "runtime/signal.h"
#include "runtime/sys.h"

#define MAX_RANGES 32

uint64_t gr_xsave_size = 4096;
uint8_t gr_have_xsave;

void gr_async_preempt(void);
void gr_preempt_yield(void);

struct range {
    uintptr_t lo;
    uintptr_t hi;
};

static struct range noprempt[MAX_RANGES]; /* immutable after init */
static int nnoprempt;
static struct range runtime_range; /* immutable after init: libgreenrun's code */
/*
 * The program's SIGURG disposition, as sigaction reads it back (the kernel keeps the
 * preemption handler). The action itself is published like every other (runtime/signal.c).
 */
static struct sigaction user_action; /* protected by user_lock */
static struct gr_mutex user_lock = GR_MUTEX_INIT(GR_RANK_SIGACTION);

static bool
excluded_object(const char *name)
{
    static const char *const names[] = {
        "libc.so", "ld-linux", "libgreenrun", "linux-vdso", "libpthread.so", "libdl.so",
    };

    if (name == NULL)
        return false;
    for (size_t i = 0; i < GR_ARRAY_LEN(names); i++)
        if (strstr(name, names[i]) != NULL)
            return true;
    return false;
}

static int
collect_ranges(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    if (!excluded_object(info->dlpi_name))
        return 0;
    for (int i = 0; i < info->dlpi_phnum && nnoprempt < MAX_RANGES; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            noprempt[nnoprempt].lo = info->dlpi_addr + ph->p_vaddr;
            noprempt[nnoprempt].hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
            /* The runtime's own code: the segment that holds this very function. */
            if ((uintptr_t)collect_ranges >= noprempt[nnoprempt].lo &&
                (uintptr_t)collect_ranges < noprempt[nnoprempt].hi)
                runtime_range = noprempt[nnoprempt];
            nnoprempt++;
        }
    }
    return 0;
}

static bool
preemptible_pc(uintptr_t pc)
{
    for (int i = 0; i < nnoprempt; i++)
        if (pc >= noprempt[i].lo && pc < noprempt[i].hi)
            return false;
    return true;
}

bool
gr_preempt_pc_in_system(uintptr_t pc)
{
    return !preemptible_pc(pc) && !(pc >= runtime_range.lo && pc < runtime_range.hi);
}

bool
gr_preempt_pc_in_runtime(uintptr_t pc)
{
    return pc >= runtime_range.lo && pc < runtime_range.hi;
}

bool
gr_preempt_uc_in_runtime(const void *uc)
{
    uintptr_t pc;

    if (uc == NULL)
        return true;
    pc = (uintptr_t)((const ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP];
    return pc >= runtime_range.lo && pc < runtime_range.hi;
}

/* In one of libc's leaf functions, called by the program's own code: such a function never
 * moves its stack pointer, so its return address is the word there (leaf.c). */
static bool
leaf_called_by_program(struct g *gp, uintptr_t pc, uintptr_t sp)
{
    return gr_leaf_pc(pc) && gr_g_on_stack(gp, sp) && preemptible_pc(*(const uintptr_t *)sp);
}

/* A SIGURG the runtime did not send: the program's handler, if it set one (SIGURG's default
 * action is to ignore it). */
static void
forward(int sig, siginfo_t *si, void *uc)
{
    gr_signal_run_action(sig, si, uc);
}

int64_t
gr_preempt_slice(void)
{
    int64_t queued = gr_load_relaxed(&gr_sched.runqsize), slice;

    if (queued <= gr_sched.nprocs)
        return GR_PREEMPT_SLICE_NS;
    slice = GR_PREEMPT_SLICE_NS * gr_sched.nprocs / queued;
    return slice > GR_PREEMPT_WAKEUP_NS ? slice : GR_PREEMPT_WAKEUP_NS;
}

/* The value the preemption timers carry, to tell them from a program's timer on SIGURG. */
#define PTIMER_VALUE 0x67727074

/*
 * When must the G running on pp yield, if it is still running: GR_PREEMPT_WAKEUP_NS after it
 * was scheduled when a G waits in the run queue (or a wakeup in the global one), or then or when
 * the earliest timer is due, whichever is later; a slice after it was scheduled when Gs wait in the
 * global queue (sysmon's rules, preempt_long_runners). INT64_MAX when nothing waits. Context: pp's
 * M, a signal handler included (atomics only).
 */
static int64_t
wakeup_deadline(struct p *pp)
{
    int64_t min = pp->runstart + GR_PREEMPT_WAKEUP_NS, t, when = INT64_MAX;

    if (!gr_runq_empty(pp) || gr_load_relaxed(&gr_sched.nrunqwake) > 0)
        return min;
    t = gr_load(&pp->timers.next_when);
    if (t != INT64_MAX)
        when = t > min ? t : min;
    if (gr_load_relaxed(&gr_sched.runqsize) > 0 && pp->runstart + gr_preempt_slice() < when)
        when = pp->runstart + gr_preempt_slice();
    return when;
}

static void
ptimer_arm(struct m *mp, int64_t when)
{
    gr_store_relaxed(&mp->ptimer_when, when);
    if (gr_sys_timer_arm(mp->ptimer, when) != 0)
        gr_store_relaxed(&mp->ptimer_when, INT64_MAX);
}

/* Is this signal the expiry of mp's own preemption timer? */
static bool
ptimer_signal(struct m *mp, const siginfo_t *si)
{
    return mp != NULL && mp->ptimer >= 0 && si->si_code == SI_TIMER &&
           si->si_value.sival_int == PTIMER_VALUE && si->si_timerid == mp->ptimer;
}

/*
 * mp's timer expired. Turn it into a preemption request when a wakeup has waited its due on
 * mp's P behind the running G; arm it again for a wakeup that is not due yet. True for a
 * request. Context: the signal handler, on mp.
 */
static bool
ptimer_fired(struct m *mp, struct g *gp)
{
    int64_t when;

    gr_store_relaxed(&mp->ptimer_when, INT64_MAX);
    /* On g0 (the scheduler runs the timers itself), in syscall mode, or without a P. */
    if (gp == NULL || gr_curg != gp || mp->p == NULL || gr_load_relaxed(&gp->status) != G_RUNNING)
        return false;
    when = wakeup_deadline(mp->p);
    if (when == INT64_MAX)
        return false;
    if (when > gr_nanotime()) {
        ptimer_arm(mp, when);
        return false;
    }
    gr_store_relaxed(&mp->preempt_g, gp);
    gr_store(&mp->preempt, 1);
    return true;
}

static void
preempt_handler(int sig, siginfo_t *si, void *ucv)
{
    ucontext_t *uc = ucv;
    struct m *mp = gr_curg != NULL ? gr_getm() : NULL; /* gr_curg: on an M (g0 included) */
    struct g *gp;
    uintptr_t pc, sp;
    bool timer = ptimer_signal(mp, si);

    if (timer) {
        if (!ptimer_fired(mp, gr_load_relaxed(&mp->curg)))
            return;
    } else if (si->si_code != SI_TKILL || si->si_pid != gr_sys_getpid() || gr_curg == NULL ||
               !gr_load(&mp->preempt)) {
        forward(sig, si, ucv);
        return;
    }
    gp = gr_load_relaxed(&mp->curg);
    /* A request for the G that ran before: the M switched since it was sent. Left pending,
     * the next hook's check drops it (gr_preempt_yield_now). */
    if (gr_load(&mp->preempt_g) != gp)
        return;
    /* A G without a P is in syscall mode, unless it is wired to this M (wire.c): running,
     * its yield is the kernel's, after which it delivers what it was sent. */
    if (gp == NULL || gr_curg != gp ||
        (mp->p == NULL && (mp->lockedg != gp || gr_load_relaxed(&gp->status) != G_RUNNING)))
        return;
    pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
    sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
    /* In libc or the runtime: leave the request pending; the next hook the G enters yields
     * (gr_preempt_check), so a G looping on calls that return at once is preempted too. The
     * timer asks again soon, as sysmon does. */
    if (!preemptible_pc(pc) && !leaf_called_by_program(gp, pc, sp)) {
        gr_store_relaxed(&mp->refused_pc, pc); /* for sysmon's report of such sites */
        if (timer)
            ptimer_arm(mp, gr_nanotime() + GR_PREEMPT_RETRY_NS);
        return;
    }
    /* In a handler of the program, or off the G's own stack (on an alternate signal stack,
     * which stays with this M): the G must not leave the M here. Pending as well: the G
     * yields at its next hook once back on its own stack, or at the next request. */
    if (gp->inhandler != 0 || !gr_g_on_stack(gp, sp) || (uc->uc_stack.ss_flags & SS_ONSTACK)) {
        if (timer)
            ptimer_arm(mp, gr_nanotime() + GR_PREEMPT_RETRY_NS);
        return;
    }
    gr_store(&mp->preempt, 0);
    /* Make the G call gr_async_preempt, below the red zone of the interrupted frame. */
    sp -= 128 + 8;
    *(uintptr_t *)sp = pc;
    uc->uc_mcontext.gregs[REG_RSP] = (greg_t)sp;
    uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)gr_async_preempt;
}

int
gr_preempt_init(void)
{
    struct sigaction sa;
    unsigned a, b, c, d;

    if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_OSXSAVE) && __get_cpuid_max(0, NULL) >= 0xd) {
        __cpuid_count(0xd, 0, a, b, c, d);
        if (b >= 576) {
            gr_have_xsave = 1;
            gr_xsave_size = gr_round_up(b, 64) + 64;
        }
    }
    if (!gr_have_xsave)
        gr_xsave_size = 512 + 64 + 64;
    gr_real.dl_iterate_phdr(collect_ranges, NULL);
    gr_leaf_init();
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = preempt_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigfillset(&sa.sa_mask);
    return gr_real.sigaction(SIGURG, &sa, NULL);
}

int
gr_preempt_set_user_action(const struct sigaction *act, struct sigaction *old)
{
    int err = 0;

    gr_lock(&user_lock);
    if (act != NULL)
        err = gr_signal_publish(SIGURG, act);
    if (err == 0 && old != NULL)
        *old = user_action;
    if (err == 0 && act != NULL)
        user_action = *act;
    gr_unlock(&user_lock);
    return err;
}

void
gr_preempt_m(struct m *mp, struct g *gp)
{
    gr_store_relaxed(&mp->preempt_g, gp);
    gr_store(&mp->preempt, 1); /* release: pairs with the acquire loads of preempt_g's readers */
    gr_sys_tgkill(gr_sys_getpid(), mp->tid, SIGURG);
}

void
gr_preempt_timer_init(struct m *mp)
{
    gr_store_relaxed(&mp->ptimer_when, INT64_MAX);
    mp->ptimer = gr_sys_thread_timer_create(mp->tid, SIGURG, PTIMER_VALUE);
    if (mp->ptimer < 0)
        mp->ptimer = -1; /* sysmon alone asks this M's Gs to yield */
}

void
gr_preempt_timer_execute(struct m *mp, struct g *gp)
{
    int64_t when;

    if (!gp->cpubound || mp->ptimer < 0)
        return;
    when = wakeup_deadline(mp->p);
    /* Only a move earlier costs a call: a later expiry finds what waits then and arms again. */
    if (when < gr_load_relaxed(&mp->ptimer_when))
        ptimer_arm(mp, when);
}

void
gr_preempt_timer_disarm(struct m *mp)
{
    if (gr_load_relaxed(&mp->ptimer_when) == INT64_MAX)
        return;
    gr_store_relaxed(&mp->ptimer_when, INT64_MAX);
    gr_sys_timer_arm(mp->ptimer, 0);
}

void
gr_preempt_yield_now(void)
{
    struct g *gp = gr_curg;
    struct m *mp = gr_getm();

    gr_store(&mp->preempt, 0);
    /* A request sent for the G that ran before (the M switched meanwhile) is not this one's:
     * yielding to the global queue would put it behind every CPU-bound G. */
    if (gr_load(&mp->preempt_g) != gp)
        return;
    gp->cpubound = true;
    gr_yield_global();
}

/* Called by gr_async_preempt on the G's own stack, with every register saved. */
void
gr_preempt_yield(void)
{
    gr_curg->cpubound = true;
    gr_yield_global();
}
