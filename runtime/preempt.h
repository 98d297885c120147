/*
 * runtime/preempt.h: asynchronous preemption of Gs that run too long (DESIGN.md
 * "Preemption and signals").
 */
#ifndef GR_RUNTIME_PREEMPT_H
#define GR_RUNTIME_PREEMPT_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

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
/* sysmon: ask the M running a G that has held its P since `since` to yield. */
void gr_preempt_m(struct m *mp);
/* At a hook's entry: yield if sysmon asked this M to and the signal could not act. */
void gr_preempt_yield_now(void);

/* The program's own SIGURG disposition, kept by the sigaction hook (NULL: default).
 * 0, or -ENOMEM (nothing changed). */
int gr_preempt_set_user_action(const struct sigaction *act, struct sigaction *old);

#endif /* GR_RUNTIME_PREEMPT_H */
