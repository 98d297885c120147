/*
 * runtime/m.h: Ms, the OS threads that run Gs (m.c).
 */
#ifndef GR_RUNTIME_M_H
#define GR_RUNTIME_M_H

#include <stdbool.h>

#include "runtime/sched.h"

/*
 * Start an OS thread running start(mp) (gr_schedule on pp when start is NULL). spinning: it
 * counts as a spinning M; sysmon: it is the monitor thread. False when no thread could be
 * created (resources, or the cap of 10,000 Ms). Context: any M.
 */
bool gr_newm(struct p *pp, bool spinning, bool sysmon, void *(*start)(void *));
/* Start an OS thread for gp, a G to run wired without a P (mp->nextg). */
bool gr_newm_g(struct g *gp);
/* The first steps of an M on its own thread (m.c). 0, or -errno when GS cannot be set. */
int gr_m_init_self(struct m *mp);
/* Adopt the initial thread as M0, with a g0 of its own; NULL on failure. Context: boot. */
struct m *gr_m_adopt_initial(void);
/* Give mp a fresh g0 stack and TLS block (M0, the fork child's M). False on failure. */
bool gr_m_build_g0(struct m *mp);
/* Install mp's own TLS block in FS, if another is installed. Context: mp's g0. */
void gr_m_install_ownfs(struct m *mp);
/* Open (close) the calling thread's /proc/thread-self/syscall as mp's, kept for sysmon's
 * report when GREENRUN_DEBUG=blocking asks for it (nothing otherwise). */
void gr_m_open_proc(struct m *mp);
void gr_m_close_proc(struct m *mp);
/* The scheduling state letter of mp's OS thread in /proc (R, S, D...), or 0 when unknown.
 * Opens, reads and closes the file: no descriptor stays open. */
char gr_m_kstate(struct m *mp);

#endif /* GR_RUNTIME_M_H */
