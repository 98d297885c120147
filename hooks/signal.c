/*
 * hooks/signal.c: sigaction and signal; waits for signals (sigwait, sigsuspend, pause).
 *
 * The program's handlers run on whichever G the M is running, or on g0 when the M is between
 * Gs or idle. On g0 the installed TLS block may be a G that runs elsewhere at that moment, so
 * the runtime installs every handler of the program behind a wrapper that, on g0, switches to
 * the M's own block for the handler's duration. SIGURG belongs to the preemption handler,
 * which forwards signals the runtime did not send (runtime/preempt.c). Dispositions the
 * program reads back are exactly those it set.
 */
#include <signal.h>
#include <string.h>

#include "hooks/hook.h"
#include "runtime/atomic.h"
#include "runtime/preempt.h"
#include "runtime/sema.h"

#define NSIG_MAX 65

/*
 * What the program set, by signal, for sigaction to read back (the kernel holds the wrapper
 * for a caught signal). The action the wrapper runs is published to the runtime, which reads
 * it without a lock (runtime/signal.c).
 */
static struct sigaction user_act[NSIG_MAX];    /* protected by table_lock */
static struct gr_mutex table_lock = GR_MUTEX_INIT;

static bool
is_handler(const struct sigaction *act)
{
    void *h = (act->sa_flags & SA_SIGINFO) ? (void *)act->sa_sigaction : (void *)act->sa_handler;

    return h != (void *)SIG_DFL && h != (void *)SIG_IGN && h != NULL;
}

GR_EXPORT int
sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    struct sigaction prev, mine;
    bool caught;
    int r;

    if (gr_hook_native() || sig <= 0 || sig >= NSIG_MAX)
        return gr_real.sigaction(sig, act, old);
    if (sig == SIGURG) {
        /* The preemption handler stays installed; it forwards to the program's. */
        r = gr_preempt_set_user_action(act, old);
        if (r != 0) {
            errno = -r;
            return -1;
        }
        return 0;
    }
    gr_lock(&table_lock);
    r = gr_real.sigaction(sig, NULL, &prev);
    if (r != 0) {
        gr_unlock(&table_lock);
        return r;
    }
    caught = prev.sa_sigaction == gr_signal_wrapper;
    if (caught)
        prev = user_act[sig];
    if (act != NULL && is_handler(act)) {
        /* Published before the kernel runs the wrapper for it, withdrawn after: every
         * delivery finds a whole action. (The kernel's own part, sa_mask and SA_RESTART, is
         * switched by the real call, a moment apart from the handler.) */
        r = gr_signal_publish(sig, act);
        if (r == 0) {
            mine = *act;
            mine.sa_flags |= SA_SIGINFO;
            mine.sa_sigaction = gr_signal_wrapper;
            r = gr_real.sigaction(sig, &mine, NULL);
            if (r == 0)
                user_act[sig] = *act;
            else
                gr_signal_publish(sig, caught ? &prev : NULL);
        } else {
            errno = -r;
            r = -1;
        }
    } else if (act != NULL) {
        r = gr_real.sigaction(sig, act, NULL);
        if (r == 0)
            gr_signal_publish(sig, NULL);
    }
    gr_unlock(&table_lock);
    if (r == 0 && old != NULL)
        *old = prev;
    return r;
}

GR_EXPORT sighandler_t
signal(int sig, sighandler_t handler)
{
    struct sigaction act, old;

    if (gr_hook_native())
        return gr_real.signal(sig, handler);
    /* glibc's signal(): BSD semantics, the handler stays and interrupted calls restart. */
    memset(&act, 0, sizeof(act));
    act.sa_handler = handler;
    act.sa_flags = SA_RESTART;
    sigemptyset(&act.sa_mask);
    sigaddset(&act.sa_mask, sig);
    if (sigaction(sig, &act, &old) != 0)
        return SIG_ERR;
    return old.sa_handler;
}

/* ---- sigwait, sigwaitinfo, sigtimedwait: a G waits on its own pending signals. */

#define SIGWAIT_POLL_NS 5000000LL        /* process-directed signals: looked for every 5 ms */

/*
 * Signals sent to the G (pthread_kill, pthread_sigqueue) are pending on the G and wake it;
 * signals sent to the process or to its M are pending in the kernel and are taken with a
 * zero-timeout sigtimedwait, looked for when the G starts and at least every 5 ms.
 */
static int
g_sigwait(struct g *gp, const sigset_t *set, siginfo_t *info, const struct timespec *timeout)
{
    struct timespec zero = { 0, 0 };
    uint64_t want = 0;
    int64_t deadline = -1;
    siginfo_t si;
    int sig;

    memcpy(&want, set, sizeof(want));
    if (timeout != NULL && gr_hook_deadline_rel(timeout, &deadline) != 0) {
        errno = EINVAL;
        return -1;
    }
    for (;;) {
        uint32_t word = 0;
        int64_t until;
        int r;

        sig = gr_signal_take(gp, want, &si);
        if (sig == 0) {
            sig = gr_real.sigtimedwait(set, &si, &zero);
            if (sig < 0 && errno != EAGAIN && errno != EINTR)
                return -1;
            if (sig < 0)
                sig = 0;
        }
        if (sig > 0) {
            if (info != NULL)
                *info = si;
            return sig;
        }
        if (deadline >= 0 && gr_nanotime() >= deadline) {
            errno = EAGAIN;
            return -1;
        }
        until = gr_nanotime() + SIGWAIT_POLL_NS;
        if (deadline >= 0 && deadline < until)
            until = deadline;
        gr_store(&gp->sigwait_set, want);
        r = gr_futex_wait(&word, 0, ~0u, until, GR_WQ_CANCEL | GR_WQ_SIGNAL);
        gr_store(&gp->sigwait_set, 0);
        if (r == -ECANCELED)
            gr_hook_testcancel();
        if (r == -EINTR && (gr_load(&gp->sigpending) & want) == 0 && gr_signal_eintr(gp)) {
            errno = EINTR;                   /* a handler of another signal ran */
            return -1;
        }
    }
}

GR_EXPORT int
sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *timeout)
{
    struct g *gp = gr_hook_g();

    if (gp == NULL)
        return gr_real.sigtimedwait(set, info, timeout);
    return g_sigwait(gp, set, info, timeout);
}

GR_EXPORT int
sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
    struct g *gp = gr_hook_g();

    if (gp == NULL)
        return gr_real.sigwaitinfo(set, info);
    return g_sigwait(gp, set, info, NULL);
}

GR_EXPORT int
sigwait(const sigset_t *set, int *sig)
{
    struct g *gp = gr_hook_g();
    int r;

    if (gp == NULL)
        return gr_real.sigwait(set, sig);
    do {
        r = g_sigwait(gp, set, NULL, NULL);
    } while (r < 0 && errno == EINTR);
    if (r < 0)
        return errno;
    *sig = r;
    return 0;
}

/* ---- sigsuspend and pause: a G waits until a handler of its own has run. */

/*
 * Install mask as the G's signal mask and park until a signal handler has run on this G;
 * then the old mask comes back and the call fails with EINTR, the only way either returns.
 * Unblocking delivers what was pending at once (pthread_sigmask). A cancellation point.
 */
static int
g_sigsuspend(struct g *gp, const sigset_t *mask)
{
    sigset_t old;
    uint32_t word = 0;

    gr_hook_testcancel();
    gp->sigdelivered = 0;
    pthread_sigmask(SIG_SETMASK, mask, &old);
    while (gp->sigdelivered == 0) {
        /* A private word nobody wakes: a signal or a cancel ends the wait. */
        if (gr_futex_wait(&word, 0, ~0u, -1, GR_WQ_CANCEL | GR_WQ_SIGNAL) == -ECANCELED) {
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            gr_hook_testcancel();
            pthread_sigmask(SIG_SETMASK, mask, NULL);
        }
    }
    gp->sigdelivered = 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = EINTR;
    return -1;
}

GR_EXPORT int
sigsuspend(const sigset_t *mask)
{
    struct g *gp = gr_hook_g();

    if (gp == NULL)
        return gr_real.sigsuspend(mask);
    return g_sigsuspend(gp, mask);
}

GR_EXPORT int
pause(void)
{
    struct g *gp = gr_hook_g();
    sigset_t cur;

    if (gp == NULL)
        return gr_real.pause();
    pthread_sigmask(SIG_SETMASK, NULL, &cur);
    return g_sigsuspend(gp, &cur);
}
