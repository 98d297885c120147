/*
 * runtime/cancel.c: pthread cancellation of Gs.
 *
 * glibc keeps a thread's cancellation state in the cancelhandling word of its descriptor. A
 * G's descriptor is its own (tls.c), so glibc's pthread_setcancelstate/settype,
 * pthread_testcancel and cancellation points act on the G unchanged, and its unwinding lands
 * in g_entry (g.c). The runtime adds:
 *  - Deferred: glibc's pthread_cancel marks the G CANCELING|CANCELED. A G parked in a
 *    cancellable wait (GR_WQ_CANCEL) is woken so that it reaches its cancellation point.
 *  - Asynchronous (the G's type is asynchronous: set by the program, or by glibc around the
 *    system call of one of its cancellation points): glibc marks the G only CANCELING and
 *    signals its tid, a fake one, so the signal reaches nobody. gr_cancel marks it CANCELED
 *    and reaches it where it is:
 *      running (or blocked in a call in syscall mode): SIGCANCEL to its M. The wrapper of
 *        glibc's handler never unwinds inside the handler: it makes the G "call"
 *        gr_cancel_landing (cancel_amd64.S) once the handler has returned, which leaves
 *        syscall mode and acts. The M's signal mask is then the G's again (sigreturn), and
 *        the landing's unwind tables lead the unwinder to the interrupted frame.
 *        Interrupted inside the runtime (whose state a cancellation must not abandon), the
 *        G is left to act at its next safe point;
 *      parked: every wait ends (GR_WQ_ASYNC); the wait table acts once the wait is undone,
 *        or returns to a caller with state of its own (GR_WQ_CANCEL, GR_WQ_UNDO);
 *      queued to run: it resumes inside the runtime and notes the request (gr_cancel_resumed).
 *    A safe point: a hook's entry, a wait, a spin or yield loop of a hook, and user code,
 *    reached by SIGCANCEL again: sysmon resends it every millisecond to an M whose G has a
 *    request noted in m->cancel_target (gr_cancel_retry), as Go retries async preemption.
 *
 * Locks: none. cancelhandling is glibc's word, changed with atomic operations by glibc and
 * here; m->cancel_target is atomic.
 */
#include "runtime/cancel.h"

#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <ucontext.h>

#include "runtime/atomic.h"
#include "runtime/debug.h"
#include "runtime/libc.h"
#include "runtime/proc.h"
#include "runtime/sema.h"
#include "runtime/signal.h"
#include "runtime/sys.h"
#include "runtime/syscall.h"
#include "runtime/sysmon.h"
#include "runtime/tls.h"

/* glibc's cancelhandling bits (nptl/descr.h). */
#define CANCELSTATE_BIT 0x01 /* PTHREAD_CANCEL_DISABLE */
#define CANCELTYPE_BIT  0x02 /* PTHREAD_CANCEL_ASYNCHRONOUS */
#define CANCELING_BIT   0x04
#define CANCELED_BIT    0x08
#define EXITING_BIT     0x10

#define RETRY_NS 1000000LL /* sysmon resends SIGCANCEL at most this often to one M */

void gr_cancel_landing(void); /* cancel_amd64.S */
void gr_cancel_landed(void);  /* called by it */

static int *
cancelhandling(struct g *gp)
{
    return (int *)(gp->tp + gr_tls.off_cancelhandling);
}

bool
gr_cancel_pending(struct g *gp)
{
    int ch = gr_raw_load(cancelhandling(gp));

    return (ch & (CANCELSTATE_BIT | CANCELED_BIT | EXITING_BIT)) == CANCELED_BIT;
}

bool
gr_cancel_async_pending(struct g *gp)
{
    int ch = gr_raw_load(cancelhandling(gp));

    return (ch & (CANCELSTATE_BIT | CANCELTYPE_BIT | EXITING_BIT)) == CANCELTYPE_BIT &&
           (ch & (CANCELING_BIT | CANCELED_BIT)) != 0;
}

void
gr_cancel_test(void)
{
    struct g *gp = gr_current();

    /* glibc's testcancel acts on CANCELED only; an asynchronous request may be CANCELING. */
    if (gp != NULL && gr_cancel_async_pending(gp))
        gr_raw_fetch_or(cancelhandling(gp), CANCELING_BIT | CANCELED_BIT);
    pthread_testcancel();
}

void
gr_cancel_async_point(void)
{
    struct g *gp = gr_current();
    struct m *mp;

    if (gp == NULL)
        return;
    mp = gr_getm();
    if (gr_cancel_async_pending(gp)) {
        gr_store(&mp->cancel_target, NULL);
        gr_cancel_test();
        return;
    }
    if (gr_load_relaxed(&mp->cancel_target) == gp)
        gr_store(&mp->cancel_target, NULL);
}

/* Note gp's request on its M for sysmon's retries, and wake sysmon, which may sleep 10 ms.
 * Context: gp's M, also in a signal handler. */
static void
note_target(struct m *mp, struct g *gp)
{
    gr_store(&mp->cancel_target, gp);
    gr_sysmon_kick();
}

void
gr_cancel_resumed(struct g *gp)
{
    if (gr_cancel_async_pending(gp))
        note_target(gr_getm(), gp);
}

/* ---- SIGCANCEL: glibc's handler for threads the runtime does not own, the landing for Gs. */

static void (*glibc_sigcancel)(int, siginfo_t *, void *);
static struct gr_atomic_u32 wrapped; /* atomic: the wrapper is installed */
/* The runtime's own code (immutable once wrapped is set): a G interrupted there is not
 * unwound. */
static uintptr_t self_lo, self_hi;

static int
find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
    uintptr_t me = (uintptr_t)arg;

    (void)size;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && me >= lo && me < hi) {
            self_lo = lo;
            self_hi = hi;
            return 1;
        }
    }
    return 0;
}

static void
sigcancel_wrapper(int sig, siginfo_t *si, void *ucv)
{
    ucontext_t *uc = ucv;
    struct m *mp;
    struct g *gp;
    uintptr_t pc, sp;

    if (gr_curg == NULL) {
        glibc_sigcancel(sig, si, ucv); /* a thread the runtime does not own */
        return;
    }
    /* As glibc's handler: only a signal this process sent to this thread. */
    if (si->si_code != SI_TKILL || si->si_pid != gr_sys_getpid())
        return;
    /* On g0 the request waits for the G to run again (gr_cancel_resumed). */
    gp = gr_current();
    if (gp == NULL)
        return;
    mp = gr_getm();
    if (!gr_cancel_async_pending(gp)) {
        if (gr_load_relaxed(&mp->cancel_target) == gp)
            gr_store(&mp->cancel_target, NULL);
        return;
    }
    pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
    if (pc >= self_lo && pc < self_hi) {
        note_target(mp, gp); /* a safe point will come; sysmon resends meanwhile */
        return;
    }
    gr_store(&mp->cancel_target, NULL);
    /* Make the G call gr_cancel_landing below the red zone of the interrupted frame. */
    sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP] - 128 - 8;
    *(uintptr_t *)sp = pc;
    uc->uc_mcontext.gregs[REG_RSP] = (greg_t)sp;
    uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)gr_cancel_landing;
}

/* Wrap glibc's SIGCANCEL handler, which its first pthread_cancel installs. Idempotent. */
static void
wrap_sigcancel(void)
{
    struct gr_ksigaction old, act;

    if (gr_load(&wrapped))
        return;
    if (self_hi == 0)
        gr_real.dl_iterate_phdr(find_self, (void *)(uintptr_t)sigcancel_wrapper);
    if (gr_sys_rt_sigaction(GR_SIGCANCEL, NULL, &old) != 0 || old.handler == NULL ||
        old.handler == (void *)SIG_IGN)
        return;
    if (old.handler != (void *)sigcancel_wrapper) {
        glibc_sigcancel = (void (*)(int, siginfo_t *, void *))old.handler;
        act = old;
        act.handler = (void *)sigcancel_wrapper;
        gr_sys_rt_sigaction(GR_SIGCANCEL, &act, NULL);
    }
    gr_store(&wrapped, 1);
}

/*
 * On the G, out of the signal handler, where the interrupted code was (gr_cancel_landing saved
 * its registers): leave syscall mode, then act. Returns only if the G has no cancellation to
 * act on any more, and then as it came.
 */
void
gr_cancel_landed(void)
{
    struct g *gp = gr_curg;
    bool in_syscall = gr_load_relaxed(&gp->status) == G_SYSCALL;

    if (in_syscall)
        gr_exitsyscall();
    gr_cancel_test();
    if (in_syscall)
        gr_entersyscall();
}

int
gr_cancel(struct g *gp, uintptr_t thread)
{
    int err;

    if (gr_load(&gp->status) == G_DEAD)
        return 0;
    err = gr_real.pthread_cancel((pthread_t)thread);
    if (err != 0 && err != ESRCH)
        return -err;
    if (gp != gr_current() && gr_cancel_async_pending(gp)) {
        struct m *mp;
        uint32_t st;

        wrap_sigcancel();
        /* What glibc's handler does on the target: the request is now a cancellation. This
         * store comes before the look at where the G is (pairs with wait_unlockf's
         * publishing of the wait before it reads the request). */
        gr_raw_fetch_or(cancelhandling(gp), CANCELING_BIT | CANCELED_BIT);
        mp = gr_load(&gp->m);
        st = gr_load(&gp->status);
        if (mp != NULL && (st == G_RUNNING || st == G_SYSCALL)) {
            gr_store(&mp->cancel_target, gp);
            gr_sys_tgkill(gr_sys_getpid(), mp->tid, GR_SIGCANCEL);
        }
        gr_wq_interrupt(gp, GR_WQ_ASYNC);
        return 0;
    }
    if (gr_cancel_pending(gp))
        gr_wq_interrupt(gp, GR_WQ_CANCEL);
    return 0;
}

int
gr_cancel_retry(int64_t now)
{
    int n = 0;

    if (!gr_load(&wrapped))
        return 0;
    for (struct m *mp = gr_load(&gr_sched.allm); mp != NULL; mp = mp->alllink) {
        struct g *t = gr_load(&mp->cancel_target);
        if (t == NULL || t != gr_load(&mp->curg))
            continue;
        n++;
        if (now - mp->sysmon_cancel_at < RETRY_NS)
            continue;
        mp->sysmon_cancel_at = now;
        gr_sys_tgkill(gr_sys_getpid(), mp->tid, GR_SIGCANCEL);
    }
    return n;
}

void
gr_cancel_unwound(struct g *gp)
{
    struct m *mp = gr_getm();

    /* Unwound out of a signal handler (pthread_exit or a cancellation acting in one): the
     * kernel still blocks what the handler's mask added. */
    if (gp->inhandler != 0) {
        gp->inhandler = 0;
        gr_sys_sigprocmask(SIG_SETMASK, &mp->sigmask_cur, NULL);
    }
    /* Unwound out of a glibc call made in syscall mode (a cancellation point acting inside). */
    if (gr_load_relaxed(&gp->status) == G_SYSCALL)
        gr_exitsyscall();
}
