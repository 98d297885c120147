/*
 * runtime/g.h: the life of a G (g.c): creation, exit, join and detach.
 */
#ifndef GR_RUNTIME_G_H
#define GR_RUNTIME_G_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime/api.h"
#include "runtime/sched.h"

/* What g.c offers the hooks (creation, join, detach, a G's attributes) is declared in
 * api.h; this header holds the rest. */

/* Finish the current G with result: runs TLS and key destructors, never returns. */
GR_NORETURN void gr_goexit(void *result);
/* Release a dead G's stack and descriptor (after join, or at exit when detached). */
void gr_gfree(struct g *gp);

/* What a G is doing, for the public greenrun_thread_info (preload/greenrun.h). */
struct gr_ginfo {
    uint32_t status;        /* G_* */
    const char *waitreason; /* G_WAITING: a static string, else NULL */
    pid_t mtid;             /* G_RUNNING, G_SYSCALL: its M's OS thread, else 0 */
    bool masleep;           /* G_SYSCALL: that M sleeps in the kernel */
};
/* Fill gi about gp: 0, or -ESRCH when gp is not a user G. Context: any M; racy snapshot. */
int gr_g_info(struct g *gp, struct gr_ginfo *gi);

/* ---- Inside the runtime. */

/* In a fork child: gp is the only G left and takes the process id as its tid. */
void gr_g_fork_child(struct g *gp);
/* The initial thread's own G, running on mp (M0). NULL on failure. Context: boot. */
struct g *gr_g_adopt_main(struct m *mp);
/* On g0 after gp exited: release its TLS block, then wake its joiner or free it. */
void gr_g_dead(struct m *mp, struct g *gp);
/* Move gp's status from from to to (G_*), as one CAS; a move sched.h does not allow (debug
 * builds), or a G not in from, throws with both states named. */
static inline void gr_casgstatus(struct g *gp, uint32_t from, uint32_t to);
/* The moves a G's status may make (Go's casgstatus; sched.h lists the states). */
bool gr_gstatus_move_ok(uint32_t from, uint32_t to);
GR_NORETURN GR_COLD void gr_casgstatus_fail(struct g *gp, uint32_t from, uint32_t to,
                                            uint32_t found);

/* Inline: the scheduler moves a G's status at every switch. */
static inline void
gr_casgstatus(struct g *gp, uint32_t from, uint32_t to)
{
    uint32_t cur = from;

    if ((GR_DEBUG >= 1 && !gr_gstatus_move_ok(from, to)) || !gr_cas(&gp->status, &cur, to))
        gr_casgstatus_fail(gp, from, to, cur);
}
/* gp switched out: throw if its stack pointer left its stack (a stack without a guard). */
void gr_g_check_stack(struct g *gp);

/*
 * Is sp inside gp's own stack? The initial thread's (the main G's) is taken as RLIMIT_STACK
 * below the top the kernel gave it. A G whose stack pointer is elsewhere (a signal handler on
 * an alternate stack, which belongs to the M, or a stack the program switched to) is never
 * preempted and never parks. Context: any; async-signal-safe.
 */
static inline bool
gr_g_on_stack(const struct g *gp, uintptr_t sp)
{
    return sp >= (uintptr_t)gp->stack_lo && sp < (uintptr_t)gp->stack_hi;
}

/* gp, the calling G, may not leave its M: it is inside a handler of the program, or its
 * stack pointer is off its own stack. Context: gp itself (inlined: the caller's frame). */
static inline __attribute__((always_inline)) bool
gr_g_pinned(const struct g *gp)
{
    return gp->inhandler != 0 || !gr_g_on_stack(gp, (uintptr_t)__builtin_frame_address(0));
}

/* gr_run_main's return address, in glibc's start code: the main G's frames from there out are
 * glibc's, not the program's (the leak mode's stacks end there, gc.c). Written by the main
 * G before main runs; 0 until then. */
extern uintptr_t gr_main_caller;

#endif /* GR_RUNTIME_G_H */
