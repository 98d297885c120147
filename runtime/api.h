/*
 * runtime/api.h: the runtime as the hooks see it.
 *
 * hooks/ include this header and no other header of runtime/ (scripts/check-layering.sh
 * checks it). A G is opaque here: the hooks hold struct g pointers and act on a G only
 * through the functions below, each defined in the runtime file named in its group. The
 * runtime's services come with it: raw system calls (sys.h, and gr_syscallN of arch.h),
 * atomics, the real libc functions (libc.h), the runtime's state and boot (boot.h), the wait
 * table (sema.h), the netpoller and descriptor table (netpoll.h, fdtab.h), syscall mode
 * (syscall.h), signals (signal.h), cancellation (cancel.h), preemption (preempt.h), the fork
 * child's reset (fork.h), printing and assertions (debug.h).
 *
 * What the hooks must not use although the headers show it: the TLS register and the
 * descriptor layout (gr_get_tp, gr_getm, gr_sys_set_fs, gr_sys_set_gs, gr_tls); the
 * layering check greps for them. Switching TLS is tls.c's business (gr_tls_enter_m).
 */
#ifndef GR_RUNTIME_API_H
#define GR_RUNTIME_API_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/arch.h"
#include "runtime/atomic.h"
#include "runtime/base.h"
#include "runtime/boot.h"
#include "runtime/cancel.h"
#include "runtime/debug.h"
#include "runtime/dump.h"
#include "runtime/fork.h"
#include "runtime/gc.h"
#include "runtime/libc.h"
#include "runtime/lock.h"
#include "runtime/malloc.h"
#include "runtime/netpoll.h"
#include "runtime/preempt.h"
#include "runtime/sema.h"
#include "runtime/signal.h"
#include "runtime/sys.h"
#include "runtime/syscall.h"

struct g;

/* ---- The running G (proc.c). */

/*
 * The running user G when it may use the scheduler (park, syscall mode), else NULL: on g0,
 * on a thread the runtime does not own, before boot, inside a call in syscall mode (a
 * handler or callback run from it has no P to park on), inside a program's signal handler,
 * and while its stack pointer is off its own stack (gr_parkable_g). Honours a preemption
 * request that found the G inside libc or the runtime: every hook enters here holding
 * nothing.
 */
struct g *gr_user_g(void);
/* The running user G when it may park or yield, else NULL: as gr_user_g, and also inside a
 * program's signal handler and while its stack pointer is off its own stack (an alternate
 * signal stack, a stack the program switched to: proc.c). Leaves preemption requests alone. */
struct g *gr_parkable_g(void);
/* The running user G, or NULL (g0, a thread the runtime does not own, before boot). */
struct g *gr_g_self(void);
/* Yield the P to the other runnable Gs. Context: user G. */
void gr_yield(void);
/* GREENRUN_PROCS: how many Ps run Gs at once. */
int gr_nprocs(void);

/* ---- Threads (g.c). */

/* How to start a new G. */
struct gr_gattr {
    size_t stack_size; /* 0 = default */
    void *stack_addr;  /* user stack (lowest address), with stack_size; or NULL */
    size_t guard_size;
    bool detached;
    bool has_sigmask;    /* pthread_attr_setsigmask_np: start with sigmask, not the creator's */
    uint64_t sigmask;    /* signals 1 to 64 */
    bool sched_explicit; /* PTHREAD_EXPLICIT_SCHED: sched_policy and sched_priority; else the
                            creator's (PTHREAD_INHERIT_SCHED) */
    int sched_policy;
    int sched_priority;
};

/* Start a new G running fn(arg) and queue it; *thread is its pthread_t. 0 or a positive
 * errno (EAGAIN: no memory for its stack or TLS; EINVAL or EPERM: a scheduling policy the
 * kernel refuses). A real-time G starts at once on an OS thread of its own. Context: any. */
int gr_newproc(const struct gr_gattr *attr, void *(*fn)(void *), void *arg, pthread_t *thread);
/* Run the program's main on the main G, so that pthread_exit from main ends only the G. */
int gr_run_main(int (*main_fn)(int, char **, char **), int argc, char **argv, char **envp);
/* The G behind a pthread_t, or NULL when it is not one of the runtime's. */
struct g *gr_g_from_thread(pthread_t thread);
/*
 * Join gp (deadline: absolute monotonic ns, -1 none, 0 do not wait): 0 with *ret set, or
 * -ESRCH (joined already: a stale handle), -EINVAL (detached, or another joiner claimed it
 * first), -EDEADLK (gp is the caller), -EBUSY (deadline 0 and gp has not exited, or is
 * stale), -ETIMEDOUT, -ECANCELED (a cancellation of the caller is pending: act on it, then
 * call again). Context: user G, or a thread without a G.
 */
int gr_join(struct g *gp, void **ret, int64_t deadline);
/* Detach gp, freeing it if it already exited: 0, -EINVAL (detached already) or -ESRCH
 * (joined already). */
int gr_detach(struct g *gp);
/* True once gp was joined: its pthread_t is stale, which glibc answers with ESRCH (ENOENT for
 * the name functions). */
bool gr_g_joined(struct g *gp);
/* pthread_exit on the running G: result is what its joiner gets (the unwind follows). */
void gr_g_exiting(void *result);
/* True once gp has finished (a dead G waiting for its joiner). */
bool gr_g_exited(struct g *gp);
/* The stack of gp as pthread_getattr_np reports it (the TLS block at its top included);
 * false for the main G, whose stack is the initial thread's. */
struct gr_gstack {
    void *lo;
    size_t size;
    size_t guard;
    bool detached;
};
bool gr_g_stack(struct g *gp, struct gr_gstack *st);
/* pthread_setname_np / getname_np: 0 or -ERANGE (16 bytes with the NUL); "" when unnamed. */
int gr_g_setname(struct g *gp, const char *name);
void gr_g_getname(struct g *gp, char name[16]);

/* ---- Scheduling policy (wire.c). */

/*
 * Set gp's policy and priority (pthread_setschedparam, sched_setscheduler): 0, or -EINVAL
 * (no such policy, or a priority outside its range), -EPERM (the kernel refuses it), -ESRCH
 * (gp has exited). Under SCHED_FIFO or SCHED_RR the G runs wired to an OS thread of its own
 * that has that policy in the kernel (wire.c): at once when gp is the caller, else at its
 * next hook or switch. Other policies are recorded and reported. Context: any.
 */
int gr_g_setsched(struct g *gp, int policy, int priority);
/* The policy and priority gp runs under, as set (a priority ceiling's boost not counted). */
void gr_g_getsched(struct g *gp, int *policy, int *priority);
/* Is the caller a G wired to its OS thread (whose policy the kernel then reports as is,
 * boost included)? */
bool gr_g_wired_self(void);
/*
 * Priority protection for the calling thread, as glibc's __pthread_tpp_change_priority: it
 * now holds one more priority-protect mutex of ceiling new_ceiling and one fewer of
 * old_ceiling (-1: none); a wired G's OS thread runs at the highest ceiling held when that
 * is above its own priority. 0, or -EINVAL (the thread is not real-time, so the kernel would
 * refuse the ceiling), -EAGAIN, -ENOMEM, the kernel's -errno; the counts stay on error.
 */
int gr_tpp_change(int old_ceiling, int new_ceiling);
/* The calling thread's own priority (0 unless real-time), for the ceiling check. */
int gr_tpp_current_priority(void);

/* ---- Nice value and CPU set (g.c). */

/* The nice value a G reports (setpriority; accepted, not acted on): inherited at creation. */
int gr_g_nice(struct g *gp);
void gr_g_setnice(struct g *gp, int nice);
/*
 * The CPU set a G asked for (sched_setaffinity, pthread_setaffinity_np: recorded and
 * reported, not acted on; inherited at creation), GR_AFFINITY_BYTES long (a cpu_set_t).
 * gr_g_getaffinity is false when it never asked: its M's is the answer. gr_g_setaffinity:
 * 0 or -ENOMEM.
 */
#define GR_AFFINITY_BYTES 128
bool gr_g_getaffinity(struct g *gp, void *set);
int gr_g_setaffinity(struct g *gp, const void *set);

/* ---- Robust mutexes, exit (g.c). */

/* A word of gp for the mutex hooks: the list of robust mutexes it holds (owner G only). */
void **gr_g_robust_list(struct g *gp);
/* Run fn on every exiting G, on the G, after its TLS destructors. At most four. */
void gr_on_gexit(void (*fn)(struct g *gp));

/* ---- Thread ids and CPU time (g.c, cputime.c). */

/*
 * The thread id of gp, as gettid() answers on it: the process id for the main G, a number
 * from 0x400000 up for the others (above every kernel tid, so it names no kernel thread).
 * Stable for the G's life and unique among live Gs. Context: any.
 */
pid_t gr_g_tid(struct g *gp);
/* The pthread_t of gp. */
pthread_t gr_g_thread(struct g *gp);
/*
 * The live G whose tid is tid, held so that it cannot be freed until gr_g_release (hold it
 * only while acting on it, never across a park), or NULL: no such G, or it has exited.
 * Context: any thread.
 */
struct g *gr_g_hold_tid(pid_t tid);
void gr_g_release(struct g *gp);
/* The OS thread (kernel tid) running gp now, or 0 when it runs nowhere. Racy snapshot. */
pid_t gr_g_ostid(struct g *gp);
/* gp's CPU time in ns: what it has run on every M so far (runtime/cputime.c says how it is
 * counted). Context: any thread; gp held or the caller's own. */
int64_t gr_g_cputime(struct g *gp);

/* ---- The M's own TLS (tls.c). */

/* The calling thread's owner id for lock bookkeeping: the tid in its descriptor (a G's fake
 * tid, unique and stable across Ms), or its kernel tid before boot. Context: any. */
int gr_tls_self_id(void);
/*
 * Run glibc code on a block of the running M rather than the G's: GR_TLS_OWN is the M's own
 * block (g0's, never a G's: the program's signal handlers on g0), GR_TLS_LISTED the
 * descriptor glibc lists for this OS thread (setuid and friends, whose __nptl_setxid signals
 * every listed thread but THREAD_SELF). gr_tls_enter_m installs it and returns the thread
 * pointer to give back, or 0 when it was installed already; gr_tls_leave_m(prev)
 * reinstalls prev and returns errno as the M's block held it (0 for prev 0). A failed switch
 * throws: code never runs on another thread's TLS. Context: an M (a G, g0, or a signal
 * handler on either); no park in between.
 */
enum { GR_TLS_OWN, GR_TLS_LISTED };
uintptr_t gr_tls_enter_m(int which);
int gr_tls_leave_m(uintptr_t prev);
/*
 * After a dlopen: a module of handle's chain that uses the initial-exec TLS model
 * (DF_STATIC_TLS) got a slot in every thread's static TLS, but glibc filled it only in the
 * threads it lists (the Ms). Copy its image into every live G's block (glibc-2.36-facts.md
 * 1(b)); Gs created later get it from glibc. Each module is copied once.
 */
void gr_tls_spread_static(void *handle);

#endif /* GR_RUNTIME_API_H */
