/*
 * runtime/cancel.c: pthread cancellation of Gs.
 *
 * glibc keeps a thread's cancellation state in the cancelhandling word of its descriptor. A
 * G's descriptor is its own (tls.c), so glibc's pthread_setcancelstate/settype,
 * pthread_testcancel and cancellation points act on the G unchanged, and its unwinding lands
 * in g_entry (g.c). The runtime adds two things:
 *  - Deferred: glibc's pthread_cancel marks the G CANCELING|CANCELED. A G parked in a
 *    cancellable wait (GR_WQ_CANCEL) is woken so that it reaches its cancellation point.
 *  - Asynchronous: glibc marks the G only CANCELING and sends SIGCANCEL to its tid, a fake
 *    one for a G, so the signal reaches nobody. The runtime sends it to the M running the G
 *    instead, naming the G in m->cancel_target; glibc's handler, which would act on whatever
 *    descriptor is installed, is wrapped to act only when that G still runs there. A G that
 *    is not running is marked CANCELED and acts when it runs again (gr_cancel_resumed).
 *
 * Locks: none. cancelhandling is glibc's word, changed with atomic operations by glibc and
 * here; m->cancel_target is atomic.
 */
#include "runtime/cancel.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>

#include "runtime/atomic.h"
#include "runtime/debug.h"
#include "runtime/libc.h"
#include "runtime/proc.h"
#include "runtime/sema.h"
#include "runtime/signal.h"
#include "runtime/sys.h"
#include "runtime/tls.h"

/* glibc's cancelhandling bits (nptl/descr.h). */
#define CANCELSTATE_BIT 0x01 /* PTHREAD_CANCEL_DISABLE */
#define CANCELTYPE_BIT  0x02 /* PTHREAD_CANCEL_ASYNCHRONOUS */
#define CANCELING_BIT   0x04
#define CANCELED_BIT    0x08
#define EXITING_BIT     0x10

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

/* ---- SIGCANCEL: glibc's handler may act only on the G it was sent for. */

static void (*glibc_sigcancel)(int, siginfo_t *, void *);

static void
sigcancel_wrapper(int sig, siginfo_t *si, void *uc)
{
    struct g *gp;

    if (gr_curg == NULL) {
        glibc_sigcancel(sig, si, uc); /* a thread the runtime does not own */
        return;
    }
    /* Another G, or g0, may run on this M by now; the target then acts on its pending
     * cancellation when it runs again (gr_cancel_resumed). */
    gp = gr_current();
    if (gp != NULL && gp == gr_load(&gr_getm()->cancel_target))
        glibc_sigcancel(sig, si, uc);
}

/* Wrap glibc's SIGCANCEL handler, which its first pthread_cancel installs. Idempotent. */
static void
wrap_sigcancel(void)
{
    struct gr_ksigaction old, act;

    if (gr_sys_rt_sigaction(GR_SIGCANCEL, NULL, &old) != 0 || old.handler == NULL ||
        old.handler == (void *)SIG_IGN || old.handler == (void *)sigcancel_wrapper)
        return;
    glibc_sigcancel = (void (*)(int, siginfo_t *, void *))old.handler;
    act = old;
    act.handler = (void *)sigcancel_wrapper;
    gr_sys_rt_sigaction(GR_SIGCANCEL, &act, NULL);
}

int
gr_cancel(struct g *gp, uintptr_t thread)
{
    int *ch = cancelhandling(gp);
    int err, v;

    if (gr_load(&gp->status) == G_DEAD)
        return 0;
    err = gr_real.pthread_cancel((pthread_t)thread);
    if (err != 0 && err != ESRCH)
        return -err;
    v = gr_raw_load(ch);
    if ((v & (CANCELSTATE_BIT | CANCELTYPE_BIT)) == CANCELTYPE_BIT && (v & CANCELING_BIT) &&
        gp != gr_current()) {
        /* Asynchronous (header). Running: signal its M; else mark it for when it runs. */
        struct m *mp = gr_load(&gp->m);
        wrap_sigcancel();
        if (mp != NULL && gr_load(&gp->status) == G_RUNNING) {
            gr_store(&mp->cancel_target, gp);
            gr_sys_tgkill(gr_sys_getpid(), mp->tid, GR_SIGCANCEL);
            return 0;
        }
        gr_raw_fetch_or(ch, CANCELED_BIT);
    }
    if (gr_cancel_pending(gp))
        gr_wq_interrupt(gp, GR_WQ_CANCEL);
    return 0;
}

void
gr_cancel_resumed(struct g *gp)
{
    int *ch = cancelhandling(gp);
    int v = gr_raw_load_relaxed(ch);

    /* Asynchronous, enabled, not exiting, and requested (CANCELING: the signal missed the G;
     * CANCELED: gr_cancel marked it). glibc's testcancel acts on CANCELED. */
    if ((v & (CANCELSTATE_BIT | CANCELTYPE_BIT | EXITING_BIT)) == CANCELTYPE_BIT &&
        (v & (CANCELING_BIT | CANCELED_BIT)) != 0) {
        gr_raw_fetch_or(ch, CANCELING_BIT | CANCELED_BIT);
        pthread_testcancel();
    }
}
