/*
 * runtime/spare.h: spare Ps for Ms stuck in the kernel (spare.c).
 */
#ifndef GR_RUNTIME_SPARE_H
#define GR_RUNTIME_SPARE_H

#include <stdbool.h>

#include "runtime/sched.h"

/* sysmon: stuck's M sleeps in the kernel holding it while work waits: start a spare P.
 * False when one already stands in for it, or none is left. */
bool gr_start_spare(struct p *stuck);
/* New work found no idle P: start a spare again if the last stuck P is still stuck. */
void gr_spare_again(void);
/* Is spare pp still needed? Requires: gr_sched.lock held. */
bool gr_spare_needed(struct p *pp);
/* Where a retiring spare's timers go: the P it stood in for. */
struct p *gr_spare_heir(struct p *pp);
/* Spare pp leaves mp, handing its timers on. Requires: gr_sched.lock not held. */
void gr_spare_retire(struct m *mp, struct p *pp);
/* Put spare pp back on the spare list. Requires: gr_sched.lock held. */
void gr_spare_put(struct p *pp);
/* A spare off the list for a G back from a blocking call that cannot leave its M (syscall.c);
 * it stands in for nobody, so it retires at its next pass through the scheduler. NULL when
 * none is left. Requires: gr_sched.lock held. */
struct p *gr_spare_take(void);

#endif /* GR_RUNTIME_SPARE_H */
