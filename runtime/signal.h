/*
 * runtime/signal.h: signals sent to a G, and process signals a G must see (signal.c).
 */
#ifndef GR_RUNTIME_SIGNAL_H
#define GR_RUNTIME_SIGNAL_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

struct g;
struct m;

/* glibc's own signals: SIGCANCEL (cancel.c) and SIGSETXID (the setuid family, tls.c). The
 * program can neither block nor catch them. */
#define GR_SIGCANCEL 32
#define GR_SIGSETXID 33
#define GR_NSIG      64

/*
 * Signals sent to a G (pthread_kill, pthread_sigqueue). gr_signal_send records sig (with
 * info when non-NULL) as pending for gp and wakes it if it waits interruptibly or in
 * sigwait; an unblocked signal is raised on the G's own M when it runs. gr_signal_take
 * removes one pending signal of set (the lowest) for sigwait, filling *info; 0 if none.
 */
void gr_signal_send(struct g *gp, int sig, const siginfo_t *info);
int gr_signal_take(struct g *gp, uint64_t set, siginfo_t *info);
/* Raise gp's pending signals that its mask no longer blocks. Context: gp itself. */
void gr_signal_deliver(struct g *gp);
/*
 * After a wait of the running G that a signal interrupted (GR_WAKE_SIGNAL): the handlers have
 * run; true when the call must fail with EINTR (one had no SA_RESTART), false when it
 * restarts. Context: user G.
 */
bool gr_signal_eintr(void);
/* pthread_sigmask of gp, the running G (SIGCANCEL and SIGSETXID never blocked). 0 or
 * -EINVAL. Pending signals it unblocks are delivered before it returns. */
int gr_signal_setmask(struct g *gp, int how, const sigset_t *set, sigset_t *old);
/* pthread_kill (info NULL) or pthread_sigqueue (info: the value) of gp: 0, or -ESRCH for a
 * queued signal to an exited G (a kill of one is 0, as glibc 2.34+); sig 0 only checks. */
int gr_signal_kill(struct g *gp, int sig, const siginfo_t *info);
/* sigwaitinfo/sigtimedwait on the running G until deadline (absolute monotonic ns, -1 none):
 * the signal taken (info filled when not NULL), or -EAGAIN (deadline), -EINTR (a handler of
 * another signal ran), another -errno. A cancellation point. Context: user G. */
int gr_signal_wait(const sigset_t *set, siginfo_t *info, int64_t deadline);
/* sigsuspend on the running G: mask installed until a handler has run on it, then the old
 * mask back; the result is always -EINTR. A cancellation point. Context: user G. */
int gr_signal_suspend(const sigset_t *mask);
/* A process signal was handled on g0: let one G parked interruptibly see it (as the thread
 * it would have interrupted natively). gr_signal_orphan: async-signal-safe; sysmon runs
 * gr_signal_pass_orphans. */
void gr_signal_orphan(int sig);
void gr_signal_pass_orphans(void);

/*
 * Alternate signal stacks are per G, as they are per thread natively: the kernel keeps one per
 * OS thread, so an M carries the stack of the G it runs and none between Gs (a handler on g0,
 * or on another G, would otherwise run on a stack whose G may be using it elsewhere).
 * gr_signal_altstack is sigaltstack for the calling thread: 0 or -errno, the kernel's answer
 * (SS_ONSTACK, EPERM while on the stack). gr_signal_altstack_enter installs gp's stack on mp
 * before gp runs there; gr_signal_altstack_leave removes it once a G has left mp. A G never
 * leaves its M inside a handler (proc.c, gr_parkable_g), so a stack in use never moves.
 * gr_signal_altstack_init records an M's own (an OS thread's stack at adoption: M0's is the
 * main G's). Context: enter, leave: mp's g0; init: mp's own thread.
 */
int gr_signal_altstack(const stack_t *ss, stack_t *old);
void gr_signal_altstack_enter(struct m *mp, struct g *gp);
void gr_signal_altstack_leave(struct m *mp);
void gr_signal_altstack_init(struct m *mp);

/*
 * The program's signal actions. The sigaction hook installs gr_signal_wrapper as the kernel's
 * handler of every signal the program catches and publishes the program's own action with
 * gr_signal_publish (act NULL, SIG_DFL or SIG_IGN withdraws it): the handler and its flags as
 * one immutable record, so no delivery pairs one action's handler with another's flags.
 * gr_signal_publish: 0, -EINVAL (bad signal), -ENOMEM. gr_signal_run_action runs the action
 * published for sig as the kernel would (false when there is none): the wrapper's body, and
 * the preemption handler's for a SIGURG the runtime did not send.
 * gr_signal_wrapper: on g0 it runs the action on the M's own TLS block, and a process signal
 * it handled there is passed to a parked G (gr_signal_orphan).
 * Context: gr_signal_publish any thread; the other two, signal handlers (async-signal-safe).
 */
int gr_signal_publish(int sig, const struct sigaction *act);
bool gr_signal_run_action(int sig, siginfo_t *si, void *uc);
void gr_signal_wrapper(int sig, siginfo_t *si, void *uc);

#endif /* GR_RUNTIME_SIGNAL_H */
