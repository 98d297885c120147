/*
 * hooks/hook.h: what every hook file needs.
 *
 * A hook is a thin adapter from a POSIX contract to runtime calls: pthread_* functions return
 * a positive error number, syscall-like functions return -1 and set errno, and a successful
 * call leaves errno untouched. In native mode every hook calls glibc's own function.
 */
#ifndef GR_HOOKS_HOOK_H
#define GR_HOOKS_HOOK_H

#include <errno.h>
#include <stdint.h>
#include <time.h>

#include "runtime/api.h"

/*
 * Set on the calling G from vfork until the parent resumes (hooks/spawn.c). The vfork child
 * runs on the G's stack and TLS and shares the parent's memory, so it sees the flag too:
 * every hook is then a plain call of glibc's function.
 */
extern __thread unsigned char gr_hook_vforking;

/* True when the call must go straight to glibc: native mode, or inside a vfork. */
static inline bool
gr_hook_native(void)
{
    return gr_native() || gr_unlikely(gr_hook_vforking != 0);
}

/*
 * The calling G when green scheduling applies to this call, or NULL (pass through): not in
 * native mode nor inside vfork, and gr_user_g (api.h) says the caller is a user G that may
 * park. Every hook enters here holding nothing.
 */
static inline struct g *
gr_hook_g(void)
{
    if (gr_hook_native())
        return NULL;
    return gr_user_g();
}

/*
 * A safe point for a hook that never parks: honour a preemption request that found this G
 * inside libc or the runtime, where the signal does not act. Without it a G calling such a
 * hook in a loop (sigaction, pthread_kill) spends nearly all its time where it cannot be
 * preempted, and with one P the other Gs never run again.
 */
static inline void
gr_hook_safepoint(void)
{
    (void)gr_hook_g();
}

/*
 * Convert an absolute timespec on clock to an absolute CLOCK_MONOTONIC deadline in ns.
 * Returns 0, or EINVAL for a bad clock or timespec. abstime NULL gives -1 (no deadline).
 */
int gr_hook_deadline(clockid_t clock, const struct timespec *abstime, int64_t *deadline);
/* The same for a relative timeout. */
int gr_hook_deadline_rel(const struct timespec *rel, int64_t *deadline);
/* syscall(): kill and pidfd_send_signal of the calling process, taken as the kill hook takes
 * them (hooks/signal.c); true when done, with the result in *ret. */
bool gr_hook_signal_syscall(long nr, const long a[6], long *ret);

/* After this long in a lock's queue, the oldest waiter is handed the lock (Go's
 * starvationThresholdNs): no waiter starves behind newcomers. */
#define GR_HOOK_STARVE_NS 1000000LL

/*
 * Run call, an expression of type type, in syscall mode on a G (entered with enter) and return
 * its value, errno the call's own; straight through when there is no G.
 */
#define GR_HOOK_IN_SYSCALL_WITH(enter, type, call) \
    do {                                           \
        type ret_;                                 \
        int err_;                                  \
        if (gr_hook_g() == NULL)                   \
            return call;                           \
        enter();                                   \
        ret_ = call;                               \
        err_ = errno;                              \
        gr_exitsyscall();                          \
        errno = err_;                              \
        return ret_;                               \
    } while (0)

/* A call that may sleep in the kernel: sysmon hands the P on while it does. */
#define GR_HOOK_IN_SYSCALL(type, call) GR_HOOK_IN_SYSCALL_WITH(gr_entersyscall, type, call)

/*
 * A call that will almost surely sleep in glibc where no hook sees it (the wait of a
 * process-shared object, whose futex glibc waits on itself): the P goes to another M at once,
 * so any number of such waiters leaves the other Gs running (gr_entersyscallblock).
 */
#define GR_HOOK_IN_SYSCALL_BLOCK(type, call) \
    GR_HOOK_IN_SYSCALL_WITH(gr_entersyscallblock, type, call)

/* Act on a pending cancellation of the calling thread (a cancellation point). */
void gr_hook_testcancel(void);

#endif /* GR_HOOKS_HOOK_H */
