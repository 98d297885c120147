/*
 * runtime/preempt.h: asynchronous preemption of Gs that run too long (DESIGN.md
 * "Preemption and signals").
 */
#ifndef GR_RUNTIME_PREEMPT_H
#define GR_RUNTIME_PREEMPT_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

struct g;
struct m;

/* Install the SIGURG handler and learn which code may never be preempted. 0 or -1. */
int gr_preempt_init(void);
/* Did the signal context uc (a ucontext_t) interrupt the runtime's own code (true too when uc
 * is NULL)? Context: signal handlers. */
bool gr_preempt_uc_in_runtime(const void *uc);
/* Is pc in libc's or ld.so's code (which hold locks of their own the runtime does not see)?
 * False before gr_preempt_init. */
bool gr_preempt_pc_in_system(uintptr_t pc);
/* Is pc in libgreenrun's own code? Context: any, after boot. */
bool gr_preempt_pc_in_runtime(uintptr_t pc);
/*
 * How long a G readied or made on a P (its run queue), or a timer due there, may wait for the
 * G running on it; a request the signal could not act on is repeated after the retry time.
 * Gs that were themselves preempted wait for 10 ms slices instead (sysmon.c).
 */
#define GR_PREEMPT_WAKEUP_NS 1000000LL
#define GR_PREEMPT_RETRY_NS  250000LL

/*
 * The slice of a G while others wait in the global queue (Gs that were preempted themselves):
 * Go's 10 ms while they are few, shortened as they grow so that the last of them waits about
 * 10 ms (the kernel's fair scheduler has the same rule), but never below the wakeup bound.
 * Context: any (a signal handler included).
 */
#define GR_PREEMPT_SLICE_NS 10000000LL
int64_t gr_preempt_slice(void);

/* Ask mp, which runs gp, to make gp yield; the request lapses once another G runs there. */
void gr_preempt_m(struct m *mp, struct g *gp);

/*
 * The preemption timer (design.md "Blocking calls, preemption, signals"): each M owns a POSIX
 * timer that sends it SIGURG itself, so that a wakeup waiting behind a CPU-bound G is acted on
 * at its due time by the kernel's timer interrupt on the M's own CPU, with no other thread
 * (sysmon) needing a CPU first.
 */
/* Create mp's timer. Context: mp's own thread, once (m.c), and the fork child's M again. */
void gr_preempt_timer_init(struct m *mp);
/* mp is about to run gp on its P: when gp was preempted last time, arm the timer for the
 * earliest wakeup waiting there, unless it is armed earlier already. Context: mp's g0. */
void gr_preempt_timer_execute(struct m *mp, struct g *gp);
/* Disarm mp's timer before its G sleeps in a call (an expiry there could end the call with
 * EINTR). Context: mp's thread. */
void gr_preempt_timer_disarm(struct m *mp);
/* At a hook's entry: yield if sysmon asked this M to and the signal could not act. */
void gr_preempt_yield_now(void);

/* The program's own SIGURG disposition, kept by the sigaction hook (NULL: default).
 * 0, or -ENOMEM (nothing changed). */
int gr_preempt_set_user_action(const struct sigaction *act, struct sigaction *old);

#endif /* GR_RUNTIME_PREEMPT_H */
