/*
 * runtime/wire.h: real-time Gs wired to OS threads of their own (wire.c).
 */
#ifndef GR_RUNTIME_WIRE_H
#define GR_RUNTIME_WIRE_H

#include <stdbool.h>

#include "runtime/api.h"
#include "runtime/sched.h"

/* Is gp wired to the calling M (its waits then sleep in the kernel)? Context: any M. */
static inline bool
gr_wired_here(struct g *gp)
{
    return gr_load_relaxed(&gp->lockedm) == gr_getm();
}

/*
 * A new G's policy and priority: the attribute's (explicit), checked and, for a real-time
 * one, tried on the calling thread as the kernel would judge the new thread; or the
 * creator's (creator NULL: SCHED_OTHER). 0, or -EINVAL, -EPERM (nothing is created then).
 */
int gr_wire_prepare(const struct gr_gattr *attr, struct g *creator, int *policy, int *priority);
/* Give gp, not yet queued, that policy. True when it is real-time: start it with
 * gr_startm_g (proc.h), wired from its first instruction. */
bool gr_wire_newg(struct g *gp, int policy, int priority);
/*
 * On mp's g0, about to run gp, which has wirereq set or mp no P: wire gp to mp when its
 * policy is real-time (mp's P goes to another M), else drop the request. True when gp may
 * run on mp: wired to it, or mp holds a P.
 */
bool gr_wire_execute(struct m *mp, struct g *gp);
/* The running G acts on a policy another thread set (wirereq). Context: user G, from
 * gr_user_g: running, holding nothing. */
void gr_wire_check(struct g *gp);
/* The running G exits: its M, if wired to it, returns to SCHED_OTHER and to the scheduler. */
void gr_wire_exit(struct g *gp);
/* Boot: the initial thread already runs under a real-time policy (chrt): the main G takes it
 * as its own and wires itself at its first hook. Context: boot, on M0. */
void gr_wire_boot_main(struct g *mg);
/* An M other than M0 starts under SCHED_OTHER, whatever the thread that created it ran
 * under (a wired M passes its policy on to the threads it creates). Context: the new M. */
void gr_wire_m_start(void);

#endif /* GR_RUNTIME_WIRE_H */
