/*
 * runtime/signal.h: signals sent to a G, masks, sigwait; the program's handlers (signal.c).
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
#define GR_SIGRTMIN  34 /* signals below it are standard ones: a second one pending is lost */

#define GR_SIGBIT(sig) (1ULL << ((sig)-1))
/* Never blocked: the kernel refuses SIGKILL and SIGSTOP, glibc drops its own two. */
#define GR_SIG_UNBLOCKABLE \
    (GR_SIGBIT(SIGKILL) | GR_SIGBIT(SIGSTOP) | GR_SIGBIT(GR_SIGCANCEL) | GR_SIGBIT(GR_SIGSETXID))

/*
 * Signals sent to a G (pthread_kill, pthread_sigqueue, a process signal the router gave it).
 * gr_signal_record records sig (with info when non-NULL) as pending for gp: a standard signal
 * already pending is not recorded again, a real-time one queues each value. gr_signal_wake
 * makes gp act on sig soon when its mask lets it (or its sigwait waits for it): a wait that
 * sig interrupts ends, a call in syscall mode gets the signal itself on gp's M, a running G
 * is asked to yield. gr_signal_send does both. gr_signal_take removes one pending signal of
 * set (the lowest) for sigwait, filling *info; 0 if none.
 */
void gr_signal_record(struct g *gp, int sig, const siginfo_t *info);
void gr_signal_wake(struct g *gp, int sig);
void gr_signal_send(struct g *gp, int sig, const siginfo_t *info);
int gr_signal_take(struct g *gp, uint64_t set, siginfo_t *info);
/* The program now ignores sig (SIG_IGN, or SIG_DFL where that ignores): forget it wherever
 * it is pending, on every G and held for the process, as the kernel does with its own. */
void gr_signal_discard(int sig);
/* Does gp take sig now: alive, and sig not blocked or waited for by its sigwait? */
bool gr_signal_takes(struct g *gp, int sig);
/* Raise on gp, on its own M, the pending signals it does not block (and process signals held
 * for want of a taker that it does not block), except those its sigwait waits for. Context:
 * gp itself. */
void gr_signal_deliver(struct g *gp);
/* A G leaving a call in syscall mode on mp, after it stopped kicks (sigkickable = 0): wait
 * for kicks being sent to it, and take back from the thread those sent and not yet run, so
 * none reaches a later call. Context: the G, on mp. */
void gr_signal_kicks_settle(struct m *mp);
/*
 * After a wait of the running G that a signal interrupted (GR_WAKE_SIGNAL): the handlers have
 * run; true when the call must fail with EINTR (one had no SA_RESTART), false when it
 * restarts. Context: user G.
 */
bool gr_signal_eintr(void);
/* pthread_sigmask of gp, the running G: SIGKILL, SIGSTOP, SIGCANCEL and SIGSETXID are never
 * blocked, and *old gets signals 1 to 64 in its first 8 bytes, as the kernel writes it. 0 or
 * -EINVAL. Pending signals it unblocks are delivered before it returns. */
int gr_signal_setmask(struct g *gp, int how, const sigset_t *set, sigset_t *old);
/* pthread_kill (info NULL) or pthread_sigqueue (info: the value) of gp: 0, or -ESRCH for a
 * queued signal to an exited G (a kill of one is 0, as glibc 2.34+); sig 0 only checks. A
 * signal to the caller itself is gr_signal_raise. */
int gr_signal_kill(struct g *gp, int sig, const siginfo_t *info);
/* raise (info NULL) or a signal sent to itself by gp, the running G: its handler runs before
 * this returns when gp does not block it, else it stays pending on gp (not on its M). 0 or
 * -errno. */
int gr_signal_raise(struct g *gp, int sig, const siginfo_t *info);
/* kill or sigqueue (info: the siginfo the kernel would give) of the calling process by gp, the
 * running G, decided before the call returns, as natively: when the kernel would pick gp,
 * the signal acts on it now (handler or default action); else a caught signal is recorded on
 * the G that takes it, and any signal every G blocks is held (sigpending sees it at once).
 * 1 when done; 0 when the kernel is to send it: SIGKILL, SIGSTOP, SIGCONT, bad numbers, and
 * a signal not caught that another G takes (its default action is the process's). */
int gr_signal_kill_self_process(struct g *gp, int sig, const siginfo_t *info);
/* sigpending of gp, the running G: the signals pending for it or for the process that it
 * blocks, in the first 8 bytes of *set. */
void gr_signal_pending(struct g *gp, sigset_t *set);
/* sigwaitinfo/sigtimedwait on the running G until deadline (absolute monotonic ns, -1 none):
 * the signal taken (info filled when not NULL), or -EAGAIN (deadline), -EINTR (a handler of
 * another signal ran), another -errno. A signal of set that gp does not block is taken too,
 * without its handler, as Linux does. A cancellation point. Context: user G. */
int gr_signal_wait(const sigset_t *set, siginfo_t *info, int64_t deadline);
/* sigsuspend on the running G: mask installed until a handler has run on it, then the old
 * mask back; the result is always -EINTR. A cancellation point. Context: user G. */
int gr_signal_suspend(const sigset_t *mask);
/* The mask of a call that waits with a mask of its own (sigsuspend, pselect, ppoll,
 * epoll_pwait): installed on the running G, *old gets the one to put back; its waits end
 * once a handler ran on the G. leave puts old back and says whether a handler ran since
 * enter. Context: user G. */
void gr_signal_mask_enter(const sigset_t *mask, sigset_t *old);
bool gr_signal_mask_leave(const sigset_t *old);

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
 * gr_signal_wrapper: a signal sent to the process goes to the G the kernel would have chosen
 * (sigroute.c), a signal sent to a G in a call in syscall mode runs with the value it was sent
 * with, and on g0 the action runs on the M's own TLS block.
 * Context: gr_signal_publish any thread; the other two, signal handlers (async-signal-safe).
 */
int gr_signal_publish(int sig, const struct sigaction *act);
/* Does the program catch sig (a published action)? Async-signal-safe. */
bool gr_signal_caught(int sig);
bool gr_signal_run_action(int sig, siginfo_t *si, void *uc);
void gr_signal_wrapper(int sig, siginfo_t *si, void *uc);

#endif /* GR_RUNTIME_SIGNAL_H */
