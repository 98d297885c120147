/*
 * runtime/cputime.h: the CPU time of each G (cputime.c).
 */
#ifndef GR_RUNTIME_CPUTIME_H
#define GR_RUNTIME_CPUTIME_H

#include <stdint.h>

#include "runtime/sched.h"

/* A run of a G shorter than this, without a blocking call, is charged its wall time. */
#define GR_CPUTIME_SHORT_NS 100000LL
/* A call in syscall mode shorter than this did not sleep for the purpose of charging: its
 * run may still be charged its wall time (cputime.c). */
#define GR_CPUTIME_SYSCALL_NS 5000LL

/* mp's clock starts here: what its OS thread spent before runs no G. Context: mp's thread. */
void gr_cputime_m_init(struct m *mp);
/* gp is about to run on mp, from now (monotonic ns). Context: mp's g0. */
void gr_cputime_switch_in(struct m *mp, struct g *gp, int64_t now);
/* gp has just switched out of mp: charge it its run. Returns the time it read (monotonic
 * ns), when the run ended. Context: mp's g0. */
int64_t gr_cputime_switch_out(struct m *mp, struct g *gp);
/* The G running on mp enters syscall mode. Context: mp's thread, the G. */
static inline void
gr_cputime_syscall_enter(struct m *mp, int64_t now)
{
    mp->cpu_sys_start = now;
}
/* Back from syscall mode (before the G may switch out). Context: mp's thread, the G. */
void gr_cputime_syscall_exit(struct m *mp);
/* The main G runs on M0 since the process started: its first run covers everything the
 * initial thread did before boot. Context: boot. */
void gr_cputime_adopt_main(struct m *mp, struct g *gp);
/* In a fork child: gp is a new OS thread's only G, with no CPU time yet. */
void gr_cputime_fork_child(struct m *mp, struct g *gp);

/* gp's CPU time in ns (declared for the hooks in api.h). */

#endif /* GR_RUNTIME_CPUTIME_H */
