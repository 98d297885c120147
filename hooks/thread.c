/*
 * hooks/thread.c: creating, joining, detaching, exiting and cancelling threads, and the
 * pthread_t functions whose glibc versions would use the descriptor's fake tid.
 *
 * A pthread_t is the thread's descriptor address, as in glibc: for a G, the descriptor in
 * its own TLS block, from which gr_g_from_tp() finds the G. Threads the runtime does not own
 * (created before boot, or by glibc itself) go to glibc's functions.
 */
#include "hooks/hook.h"
#include "hooks/tid.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>

/* The G behind a pthread_t, when green scheduling applies. */
static struct g *
g_of(pthread_t th)
{
    if (gr_hook_native() || !gr_sched_booted())
        return NULL;
    gr_hook_safepoint();
    return gr_g_from_thread(th);
}

GR_EXPORT int
pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    struct gr_gattr ga = { 0 };
    int detach = PTHREAD_CREATE_JOINABLE;

    gr_boot();
    if (gr_hook_native() || !gr_sched_booted())
        return gr_real.pthread_create(th, attr, fn, arg);
    ga.guard_size = GR_PAGE;
    if (attr != NULL) {
        void *lo = NULL;
        size_t size = 0;
        int inherit = PTHREAD_INHERIT_SCHED;
        struct sched_param sp = { 0 };
        pthread_attr_getinheritsched(attr, &inherit);
        if (inherit == PTHREAD_EXPLICIT_SCHED) {
            ga.sched_explicit = true;
            pthread_attr_getschedpolicy(attr, &ga.sched_policy);
            pthread_attr_getschedparam(attr, &sp);
            ga.sched_priority = sp.sched_priority;
        }
        pthread_attr_getdetachstate(attr, &detach);
        pthread_attr_getguardsize(attr, &ga.guard_size);
        /* glibc keeps the top of a user stack and reports top - size: 0 - size when unset. */
        pthread_attr_getstack(attr, &lo, &size);
        if ((uintptr_t)lo + size != 0) {
            ga.stack_addr = lo;
            ga.stack_size = size;
        } else {
            pthread_attr_getstacksize(attr, &ga.stack_size);
            /* An attribute nobody set reports glibc's default: treat it as ours. */
            pthread_attr_t dflt;
            size_t dsize = 0;
            if (pthread_attr_init(&dflt) == 0) {
                pthread_attr_getstacksize(&dflt, &dsize);
                pthread_attr_destroy(&dflt);
            }
            if (ga.stack_size == dsize)
                ga.stack_size = 0;
        }
        sigset_t set;
        if (pthread_attr_getsigmask_np(attr, &set) == 0) {
            ga.has_sigmask = true;
            memcpy(&ga.sigmask, &set, sizeof(ga.sigmask));
        }
    }
    ga.detached = detach == PTHREAD_CREATE_DETACHED;
    return gr_newproc(&ga, fn, arg, th);
}

/* Join gp (deadline as gr_join). A cancellation point. POSIX error number. */
static int
join_g(struct g *gp, void **ret, int64_t deadline)
{
    int r;

    while ((r = gr_join(gp, ret, deadline)) == -ECANCELED)
        gr_hook_testcancel();
    return -r;
}

GR_EXPORT int
pthread_join(pthread_t th, void **ret)
{
    struct g *gp = g_of(th);

    if (gp == NULL)
        return gr_real.pthread_join(th, ret);
    return join_g(gp, ret, -1);
}

GR_EXPORT int
pthread_tryjoin_np(pthread_t th, void **ret)
{
    struct g *gp = g_of(th);

    if (gp == NULL)
        return gr_real.pthread_tryjoin_np(th, ret);
    return join_g(gp, ret, 0);
}

GR_EXPORT int
pthread_clockjoin_np(pthread_t th, void **ret, clockid_t clock, const struct timespec *abstime)
{
    struct g *gp = g_of(th);
    int64_t deadline;
    int err;

    if (gp == NULL)
        return gr_real.pthread_clockjoin_np(th, ret, clock, abstime);
    err = gr_hook_deadline(clock, abstime, &deadline);
    if (err != 0)
        return err;
    if (deadline == 0)
        deadline = 1; /* an expired deadline still checks once */
    return join_g(gp, ret, deadline);
}

GR_EXPORT int
pthread_timedjoin_np(pthread_t th, void **ret, const struct timespec *abstime)
{
    struct g *gp = g_of(th);

    if (gp == NULL)
        return gr_real.pthread_timedjoin_np(th, ret, abstime);
    return pthread_clockjoin_np(th, ret, CLOCK_REALTIME, abstime);
}

GR_EXPORT int
pthread_detach(pthread_t th)
{
    struct g *gp = g_of(th);

    if (gp == NULL)
        return gr_real.pthread_detach(th);
    return -gr_detach(gp);
}

GR_EXPORT void
pthread_exit(void *result)
{
    /* Any G, also one in a signal handler or in syscall mode, where gr_hook_g says no: the
     * unwind ends its life all the same, and its joiner must get result. */
    if (!gr_hook_native() && gr_g_self() != NULL)
        gr_g_exiting(result);
    /* glibc unwinds (cleanup handlers, C++ destructors) to the frame g_entry registered. */
    gr_real.pthread_exit(result);
}

GR_EXPORT int
pthread_cancel(pthread_t th)
{
    struct g *gp = g_of(th);

    if (gp == NULL)
        return gr_real.pthread_cancel(th);
    return -gr_cancel(gp, (uintptr_t)th);
}

/* glibc's header redirects pthread_yield to sched_yield; old binaries reference it. */
int yield_np(void) __asm__("pthread_yield");

GR_EXPORT int
yield_np(void)
{
    return sched_yield();
}

GR_EXPORT int
sched_yield(void)
{
    struct g *gp = gr_hook_g();

    if (gp == NULL)
        return gr_real.sched_yield();
    gr_yield();
    gr_cancel_async_point();
    return 0;
}

GR_EXPORT int
pthread_getattr_np(pthread_t th, pthread_attr_t *attr)
{
    struct g *gp = g_of(th);
    struct gr_gstack st;
    struct sched_param sp;
    int err, policy;

    if (gp != NULL && gr_g_joined(gp))
        return ESRCH;
    if (gp == NULL || !gr_g_stack(gp, &st))
        return gr_real.pthread_getattr_np(th, attr);
    err = pthread_attr_init(attr);
    if (err != 0)
        return err;
    /* As glibc, the reported stack includes the TLS block at its top. */
    pthread_attr_setstack(attr, st.lo, st.size);
    pthread_attr_setguardsize(attr, st.guard);
    pthread_attr_setdetachstate(attr,
                                st.detached ? PTHREAD_CREATE_DETACHED : PTHREAD_CREATE_JOINABLE);
    /* As glibc, the thread's scheduling policy and priority. */
    gr_g_getsched(gp, &policy, &sp.sched_priority);
    pthread_attr_setschedpolicy(attr, policy);
    pthread_attr_setschedparam(attr, &sp);
    return 0;
}

/* ---- Names. */

GR_EXPORT int
pthread_setname_np(pthread_t th, const char *name)
{
    struct g *gp = g_of(th);

    if (gp == NULL)
        return gr_real.pthread_setname_np(th, name);
    if (gr_g_joined(gp))
        return ENOENT; /* glibc opens /proc/self/task/TID/comm of a stale handle */
    return -gr_g_setname(gp, name);
}

GR_EXPORT int
pthread_getname_np(pthread_t th, char *buf, size_t len)
{
    struct g *gp = g_of(th);
    char name[16];

    if (gp == NULL)
        return gr_real.pthread_getname_np(th, buf, len);
    if (gr_g_joined(gp))
        return ENOENT;
    gr_g_getname(gp, name);
    if (name[0] == '\0') {
        /* Never named: like a native thread, it carries the process's name. */
        int fd = gr_sys_open("/proc/self/comm", 0);
        ssize_t n = fd >= 0 ? gr_sys_read(fd, name, sizeof(name) - 1) : 0;
        if (fd >= 0)
            gr_sys_close(fd);
        if (n < 0)
            n = 0;
        if (n > 0 && name[n - 1] == '\n')
            n--;
        name[n] = '\0';
    }
    if (strlen(name) >= len)
        return ERANGE;
    memcpy(buf, name, strlen(name) + 1);
    return 0;
}

/*
 * ---- Scheduling policy. A G under SCHED_FIFO or SCHED_RR runs wired to an OS thread of its
 * own that has that policy in the kernel (runtime/wire.c); other policies are recorded and
 * reported, the Gs sharing the Ms under SCHED_OTHER.
 */

GR_EXPORT int
pthread_setschedparam(pthread_t th, int policy, const struct sched_param *param)
{
    struct g *gp = g_of(th);

    if (gp == NULL)
        return gr_real.pthread_setschedparam(th, policy, param);
    if (gr_g_joined(gp))
        return ESRCH; /* a stale handle */
    return -gr_g_setsched(gp, policy, param->sched_priority);
}

GR_EXPORT int
pthread_getschedparam(pthread_t th, int *policy, struct sched_param *param)
{
    struct g *gp = g_of(th);

    if (gp == NULL)
        return gr_real.pthread_getschedparam(th, policy, param);
    if (gr_g_joined(gp))
        return ESRCH; /* a stale handle */
    gr_g_getsched(gp, policy, &param->sched_priority);
    return 0;
}

GR_EXPORT int
pthread_setschedprio(pthread_t th, int prio)
{
    struct g *gp = g_of(th);
    int policy, old;

    if (gp == NULL)
        return gr_real.pthread_setschedprio(th, prio);
    if (gr_g_joined(gp))
        return ESRCH; /* a stale handle */
    gr_g_getsched(gp, &policy, &old);
    return -gr_g_setsched(gp, policy, prio);
}

/* A G's CPU set is recorded and reported (hooks/tid.c): Gs run on every P's M. */
GR_EXPORT int
pthread_setaffinity_np(pthread_t th, size_t size, const cpu_set_t *set)
{
    struct g *gp = g_of(th);

    if (gp == NULL)
        return gr_real.pthread_setaffinity_np(th, size, set);
    if (gr_g_joined(gp))
        return ESRCH; /* a stale handle */
    return gr_hook_setaffinity(gp, size, set);
}

GR_EXPORT int
pthread_getaffinity_np(pthread_t th, size_t size, cpu_set_t *set)
{
    struct g *gp = g_of(th);

    if (gp == NULL)
        return gr_real.pthread_getaffinity_np(th, size, set);
    if (gr_g_joined(gp))
        return ESRCH; /* a stale handle */
    return gr_hook_getaffinity(gp, size, set);
}

/* The kernel's clock id of the G's tid: clock_gettime and clock_getres (hooks/tid.c) answer
 * the G's own CPU time for it, from any thread. */
GR_EXPORT int
pthread_getcpuclockid(pthread_t th, clockid_t *clock)
{
    struct g *gp = g_of(th);

    if (gp == NULL)
        return gr_real.pthread_getcpuclockid(th, clock);
    if (gr_g_exited(gp))
        return ESRCH; /* as glibc, whose descriptor's tid the kernel cleared */
    *clock = gr_sys_thread_clockid(gr_g_tid(gp));
    return 0;
}

/* ---- Signals: per-G masks, pthread_kill to a G. */

GR_EXPORT int
pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
    struct g *gp = gr_hook_g();

    if (gp == NULL)
        return gr_real.pthread_sigmask(how, set, old);
    return -gr_signal_setmask(gp, how, set, old);
}

GR_EXPORT int
sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
    int err;

    if (gr_hook_g() == NULL)
        return gr_real.sigprocmask(how, set, old);
    err = pthread_sigmask(how, set, old);
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}

GR_EXPORT int
pthread_kill(pthread_t th, int sig)
{
    struct g *gp = g_of(th);

    if (gp == NULL)
        return gr_real.pthread_kill(th, sig);
    if (sig < 0 || sig > 64 || sig == GR_SIGCANCEL || sig == GR_SIGSETXID)
        return EINVAL; /* glibc's internal signals are refused too */
    return -gr_signal_kill(gp, sig, NULL);
}

GR_EXPORT int
pthread_sigqueue(pthread_t th, int sig, const union sigval value)
{
    struct g *gp = g_of(th);
    siginfo_t info;

    if (gp == NULL)
        return gr_real.pthread_sigqueue(th, sig, value);
    /* As glibc: a thread that exited is ESRCH first; 0 only checks that it lives. */
    if (sig < 0 || sig > 64 || sig == GR_SIGCANCEL || sig == GR_SIGSETXID)
        return gr_g_exited(gp) ? ESRCH : EINVAL;
    memset(&info, 0, sizeof(info));
    info.si_signo = sig;
    info.si_code = SI_QUEUE;
    info.si_pid = gr_sys_getpid();
    info.si_uid = getuid();
    info.si_value = value;
    return -gr_signal_kill(gp, sig, &info);
}
