/*
 * runtime/g.h: the life of a G (g.c): creation, exit, join and detach.
 */
#ifndef GR_RUNTIME_G_H
#define GR_RUNTIME_G_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime/sched.h"

/* How to start a new G. */
struct gr_gattr {
    size_t stack_size;           /* 0 = default */
    void *stack_addr;            /* user stack (lowest address), with stack_size; or NULL */
    size_t guard_size;
    bool detached;
    bool has_sigmask;
};

/* Start a new G running fn(arg) and queue it. Returns 0 or a positive errno. */
int gr_newproc(const struct gr_gattr *attr, void *(*fn)(void *), void *arg, struct g **out);
/* Run the program's main on the main G, so that pthread_exit from main ends only the G. */
int gr_run_main(int (*main_fn)(int, char **, char **), int argc, char **argv, char **envp);
/* Finish the current G with result: runs TLS and key destructors, never returns. */
GR_NORETURN void gr_goexit(void *result);
/* Register fn to run on every exiting G, on the G, after its TLS destructors. */
void gr_on_gexit(void (*fn)(struct g *gp));
/* Release a dead G's stack and descriptor (after join, or at exit when detached). */
void gr_gfree(struct g *gp);
/* Map a pthread_t (the descriptor address) to its G; NULL if it is not one of ours. */
struct g *gr_g_from_tp(uintptr_t tp);

/*
 * Join gp (deadline: absolute monotonic ns, -1 none, 0 do not wait): 0 with *ret set, or
 * -EDEADLK (gp is the caller), -EINVAL (detached or joined), -EBUSY (still running and
 * deadline 0), -ETIMEDOUT, -ECANCELED (a cancellation of the caller is pending: act on it,
 * then call again). Context: user G, or a thread without a G.
 */
int gr_join(struct g *gp, void **ret, int64_t deadline);
/* Detach gp, freeing it if it already exited: 0, or -EINVAL (detached or joined). */
int gr_detach(struct g *gp);

/* What a G is doing, for the public greenrun_thread_info (preload/greenrun.h). */
struct gr_ginfo {
    uint32_t status;             /* G_* */
    const char *waitreason;      /* G_WAITING: a static string, else NULL */
    pid_t mtid;                  /* G_RUNNING, G_SYSCALL: its M's OS thread, else 0 */
    bool masleep;                /* G_SYSCALL: that M sleeps in the kernel */
};
/* Fill gi about gp: 0, or -ESRCH when gp is not a user G. Context: any M; racy snapshot. */
int gr_g_info(struct g *gp, struct gr_ginfo *gi);

/* ---- Inside the runtime. */

/* The initial thread's own G, running on mp (M0). NULL on failure. Context: boot. */
struct g *gr_g_adopt_main(struct m *mp);
/* On g0 after gp exited: release its TLS block, then wake its joiner or free it. */
void gr_g_dead(struct m *mp, struct g *gp);
/* gp switched out: throw if its stack pointer left its stack (a stack without a guard). */
void gr_g_check_stack(struct g *gp);

#endif /* GR_RUNTIME_G_H */
