/*
 * hooks/tid.c: thread ids and the calls that take one; CPU clocks.
 *
 * gettid() answers the calling G's own id (runtime/g.c: the process id for the main G,
 * 0x400000 and up for the others, never a kernel tid), stable while it lives. Every call that
 * takes a thread id finds the G it names and acts on it as the pthread_t functions do: tgkill
 * and tkill send through pthread_kill's path, the affinity calls record a CPU set per G, the
 * priority calls record a G's nice value (reported back, not acted on: Gs share the Ps), the
 * scheduling calls set a G's policy and priority as pthread_setschedparam does (a real-time
 * G runs wired to an OS thread of its own under that policy, runtime/wire.c, and the kernel
 * answers for its policy). 0 names the caller where the kernel says so. A tid that no
 * G has (an OS thread's, listed in /proc/self/task; another process's) goes to the kernel
 * unchanged, which acts on it or answers ESRCH.
 *
 * CPU clocks: CLOCK_THREAD_CPUTIME_ID and every thread CPU clock id that names a G (its tid,
 * or 0 for the caller; pthread_getcpuclockid hands them out) answer that G's own CPU time
 * (runtime/cputime.c), from any thread. Process clocks and the clocks of OS threads are the
 * kernel's.
 *
 * syscall() reaches the same code for these numbers (gr_hook_tid_syscall, from
 * hooks/futex.c): the kernel's return convention there, errno set by this file.
 *
 * Locks: none of its own; a G found by tid is held (gr_g_hold_tid) while a call acts on it.
 */
#include "hooks/tid.h"

#include <linux/capability.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hooks/hook.h"

/*
 * The G a tid argument names: the caller for its own tid, and for 0 where the call says 0
 * is the caller (zero_self); another live G, held (*held), for its tid. NULL: the kernel's.
 */
static struct g *
tid_g(pid_t tid, bool zero_self, bool *held)
{
    struct g *self, *gp;

    *held = false;
    if (gr_hook_native() || !gr_sched_booted() || tid < 0)
        return NULL;
    self = gr_g_self();
    if (tid == 0)
        return zero_self ? self : NULL;
    if (self != NULL && tid == gr_g_tid(self))
        return self;
    gp = gr_g_hold_tid(tid);
    *held = gp != NULL;
    return gp;
}

static void
tid_put(struct g *gp, bool held)
{
    if (held)
        gr_g_release(gp);
}

/* A kernel-style result (value, or -errno) as a libc wrapper returns it. */
static long
as_libc(long r)
{
    if (r < 0) {
        errno = (int)-r;
        return -1;
    }
    return r;
}

/* ---- gettid. */

GR_EXPORT pid_t
gettid(void)
{
    struct g *gp;

    if (gr_hook_native() || (gp = gr_g_self()) == NULL)
        return gr_real.gettid();
    return gr_g_tid(gp);
}

/* ---- Signals to a thread. */

/*
 * tgkill(tgid, tid, sig) and, with tgid 0, tkill(tid, sig); with info,
 * rt_tgsigqueueinfo. False when tid names no G of this process (the kernel's call).
 */
static bool
kill_g(pid_t tgid, pid_t tid, int sig, const siginfo_t *info, long *ret)
{
    struct g *gp;
    bool held;

    if (tid <= 0 || tgid < 0 || (tgid > 0 && tgid != getpid()))
        return false;
    gp = tid_g(tid, false, &held);
    if (gp == NULL)
        return false;
    gr_hook_safepoint();
    if (sig < 0 || sig > 64) {
        *ret = -EINVAL;
    } else if (info != NULL) {
        siginfo_t si = *info;
        /* As the kernel: only a thread's own queue takes a made-up user or tkill origin. */
        if ((si.si_code >= 0 || si.si_code == SI_TKILL) && gp != gr_g_self()) {
            *ret = -EPERM;
        } else {
            si.si_signo = sig;
            *ret = gr_signal_kill(gp, sig, &si);
        }
    } else {
        /* pthread_kill's path: recorded on the G, raised on it when it runs. */
        *ret = gr_signal_kill(gp, sig, NULL);
    }
    tid_put(gp, held);
    return true;
}

GR_EXPORT int
tgkill(pid_t tgid, pid_t tid, int sig)
{
    long r;

    if (tgid <= 0 || !kill_g(tgid, tid, sig, NULL, &r))
        return gr_real.tgkill(tgid, tid, sig);
    return (int)as_libc(r);
}

/* ---- CPU sets. */

int
gr_hook_setaffinity(struct g *gp, size_t size, const cpu_set_t *set)
{
    cpu_set_t allowed, want;
    int saved = errno, err;

    /* As the kernel: the CPUs the process may use, of those asked for; none is EINVAL. */
    if (gr_real.sched_getaffinity(0, sizeof(allowed), &allowed) != 0) {
        err = errno;
        errno = saved;
        return err;
    }
    CPU_ZERO(&want);
    for (size_t i = 0; i < size * 8 && i < CPU_SETSIZE; i++)
        if (CPU_ISSET_S(i, size, set) && CPU_ISSET(i, &allowed))
            CPU_SET(i, &want);
    if (CPU_COUNT(&want) == 0)
        return EINVAL;
    return -gr_g_setaffinity(gp, &want);
}

/* The kernel's answer for the calling OS thread (size checks, zeroed tail: *written bytes of
 * set), then the G's own set over it, when it has one. 0 or an error number. */
static int
getaffinity_g(struct g *gp, size_t size, cpu_set_t *set, long *written)
{
    cpu_set_t mine;
    int saved = errno, err;
    long n;

    n = gr_real.syscall(SYS_sched_getaffinity, 0, size, set);
    if (n < 0) {
        err = errno;
        errno = saved;
        return err;
    }
    if (gr_g_getaffinity(gp, &mine))
        memcpy(set, &mine, (size_t)n < sizeof(mine) ? (size_t)n : sizeof(mine));
    *written = n;
    return 0;
}

int
gr_hook_getaffinity(struct g *gp, size_t size, cpu_set_t *set)
{
    long n;
    int err = getaffinity_g(gp, size, set, &n);

    /* As glibc's wrappers: the bytes beyond the kernel's mask are zero. */
    if (err == 0 && (size_t)n < size)
        memset((char *)set + n, 0, size - (size_t)n);
    return err;
}

/* Both ABIs (runtime/libc.def, COMPAT). The old one (glibc 2.3.3) had no size argument (a
 * 128-byte set), hence no GR_COMPAT_SYMVER, which gives both the same type. */
__typeof__(sched_setaffinity) GR_COMPAT_NEW(sched_setaffinity);
__typeof__(sched_getaffinity) GR_COMPAT_NEW(sched_getaffinity);
int GR_COMPAT_OLD(sched_setaffinity)(pid_t pid, const cpu_set_t *set);
int GR_COMPAT_OLD(sched_getaffinity)(pid_t pid, cpu_set_t *set);
__asm__(".symver gr_compat_new_sched_setaffinity, sched_setaffinity@@GLIBC_2.3.4");
__asm__(".symver gr_compat_old_sched_setaffinity, sched_setaffinity@GLIBC_2.3.3");
__asm__(".symver gr_compat_new_sched_getaffinity, sched_getaffinity@@GLIBC_2.3.4");
__asm__(".symver gr_compat_old_sched_getaffinity, sched_getaffinity@GLIBC_2.3.3");

GR_EXPORT int
GR_COMPAT_NEW(sched_setaffinity)(pid_t pid, size_t size, const cpu_set_t *set)
{
    bool held;
    struct g *gp = tid_g(pid, true, &held);
    int err;

    if (gp == NULL)
        return gr_real.sched_setaffinity(pid, size, set);
    err = gr_hook_setaffinity(gp, size, set);
    tid_put(gp, held);
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}

GR_EXPORT int
GR_COMPAT_NEW(sched_getaffinity)(pid_t pid, size_t size, cpu_set_t *set)
{
    bool held;
    struct g *gp = tid_g(pid, true, &held);
    int err;

    if (gp == NULL)
        return gr_real.sched_getaffinity(pid, size, set);
    err = gr_hook_getaffinity(gp, size, set);
    tid_put(gp, held);
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}

GR_EXPORT int
GR_COMPAT_OLD(sched_setaffinity)(pid_t pid, const cpu_set_t *set)
{
    return GR_COMPAT_NEW(sched_setaffinity)(pid, 128, set);
}

GR_EXPORT int
GR_COMPAT_OLD(sched_getaffinity)(pid_t pid, cpu_set_t *set)
{
    return GR_COMPAT_NEW(sched_getaffinity)(pid, 128, set);
}

/* ---- Nice values (PRIO_PROCESS names a thread on Linux; 0 the caller). */

/* May the caller lower a nice value to nice? As the kernel's can_nice: within RLIMIT_NICE,
 * or with CAP_SYS_NICE. */
static bool
may_lower_nice(int nice)
{
    struct rlimit rl;
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct caps[2];

    if (getrlimit(RLIMIT_NICE, &rl) == 0 &&
        (rl.rlim_cur == RLIM_INFINITY || (rlim_t)(20 - nice) <= rl.rlim_cur))
        return true;
    if (gr_syscall2(SYS_capget, &hdr, caps) != 0)
        return false;
    return (caps[CAP_SYS_NICE / 32].effective & (1u << (CAP_SYS_NICE % 32))) != 0;
}

/* setpriority on a G: false when who names none. */
static bool
setprio_g(int which, id_t who, int prio, long *ret)
{
    bool held;
    struct g *gp;

    if (which != PRIO_PROCESS || (gp = tid_g((pid_t)who, true, &held)) == NULL)
        return false;
    gr_hook_safepoint();
    if (prio < -20)
        prio = -20;
    if (prio > 19)
        prio = 19;
    if (prio < gr_g_nice(gp) && !may_lower_nice(prio)) {
        *ret = -EACCES;
    } else {
        gr_g_setnice(gp, prio);
        *ret = 0;
    }
    tid_put(gp, held);
    return true;
}

/* getpriority on a G: its nice value; false when who names none. */
static bool
getprio_g(int which, id_t who, int *nice)
{
    bool held;
    struct g *gp;

    if (which != PRIO_PROCESS || (gp = tid_g((pid_t)who, true, &held)) == NULL)
        return false;
    *nice = gr_g_nice(gp);
    tid_put(gp, held);
    return true;
}

GR_EXPORT int
setpriority(__priority_which_t which, id_t who, int prio)
{
    long r;

    if (!setprio_g((int)which, who, prio, &r))
        return gr_real.setpriority(which, who, prio);
    return (int)as_libc(r);
}

GR_EXPORT int
getpriority(__priority_which_t which, id_t who)
{
    int nice;

    if (!getprio_g((int)which, who, &nice))
        return gr_real.getpriority(which, who);
    return nice;
}

/* ---- Scheduling policy and parameters: pthread_{set,get}schedparam's, on a G. */

/*
 * Does pid name the caller, a G wired to its OS thread (runtime/wire.c)? Its OS thread runs
 * under its policy in the kernel, a priority ceiling's boost included, so the kernel answers
 * for it as natively.
 */
static bool
wired_self(pid_t pid)
{
    struct g *self;

    if (gr_hook_native() || !gr_sched_booted() || !gr_g_wired_self())
        return false;
    self = gr_g_self();
    return pid == 0 || (self != NULL && pid == gr_g_tid(self));
}

/* sched_setscheduler (policy >= 0) or sched_setparam (policy -1) on a G. */
static bool
setsched_g(pid_t pid, int policy, const struct sched_param *param, long *ret)
{
    bool held;
    struct g *gp = tid_g(pid, true, &held);
    int err = 0;

    if (gp == NULL)
        return false;
    if (param == NULL) {
        err = EINVAL;
    } else {
        pthread_t th = gr_g_thread(gp);
        struct sched_param cur;
        if (policy < 0)
            err = pthread_getschedparam(th, &policy, &cur);
        if (err == 0)
            err = pthread_setschedparam(th, policy & ~SCHED_RESET_ON_FORK, param);
    }
    tid_put(gp, held);
    *ret = -err;
    return true;
}

/* sched_getscheduler (*ret the policy) and sched_getparam (param not NULL) on a G. */
static bool
getsched_g(pid_t pid, struct sched_param *param, long *ret)
{
    bool held;
    struct g *gp = tid_g(pid, true, &held);
    struct sched_param cur;
    int policy = 0, err;

    if (gp == NULL)
        return false;
    err = pthread_getschedparam(gr_g_thread(gp), &policy, &cur);
    tid_put(gp, held);
    if (err == 0 && param != NULL)
        *param = cur;
    *ret = err != 0 ? -err : param != NULL ? 0 : policy;
    return true;
}

GR_EXPORT int
sched_setscheduler(pid_t pid, int policy, const struct sched_param *param)
{
    long r;

    if (policy < 0 || !setsched_g(pid, policy, param, &r))
        return gr_real.sched_setscheduler(pid, policy, param);
    return (int)as_libc(r);
}

GR_EXPORT int
sched_getscheduler(pid_t pid)
{
    long r;

    if (wired_self(pid))
        return gr_real.sched_getscheduler(0);
    if (!getsched_g(pid, NULL, &r))
        return gr_real.sched_getscheduler(pid);
    return (int)as_libc(r);
}

GR_EXPORT int
sched_setparam(pid_t pid, const struct sched_param *param)
{
    long r;

    if (!setsched_g(pid, -1, param, &r))
        return gr_real.sched_setparam(pid, param);
    return (int)as_libc(r);
}

GR_EXPORT int
sched_getparam(pid_t pid, struct sched_param *param)
{
    long r;

    if (wired_self(pid))
        return gr_real.sched_getparam(0, param);
    if (param == NULL || !getsched_g(pid, param, &r))
        return gr_real.sched_getparam(pid, param);
    return (int)as_libc(r);
}

/* The calling OS thread's interval answers for any G. */
GR_EXPORT int
sched_rr_get_interval(pid_t pid, struct timespec *ts)
{
    bool held;
    struct g *gp = tid_g(pid, true, &held);

    if (gp == NULL)
        return gr_real.sched_rr_get_interval(pid, ts);
    tid_put(gp, held);
    return gr_real.sched_rr_get_interval(0, ts);
}

/* The kernel's struct sched_attr (its header clashes with glibc's sched.h). */
struct k_sched_attr {
    uint32_t size;
    uint32_t sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime;
    uint64_t sched_deadline;
    uint64_t sched_period;
    uint32_t sched_util_min;
    uint32_t sched_util_max;
};
#define K_SCHED_ATTR_SIZE_VER0   48
#define K_SCHED_FLAG_KEEP_POLICY 0x08
#define K_SCHED_FLAG_KEEP_PARAMS 0x10
#define K_SCHED_DEADLINE         6

/* sched_setattr on a G: policy and priority as sched_setscheduler, nice as setpriority. */
static bool
setattr_g(pid_t pid, struct k_sched_attr *uattr, unsigned flags, long *ret)
{
    bool held;
    struct g *gp = tid_g(pid, true, &held);
    struct k_sched_attr a;
    struct sched_param sp;
    int policy, err = 0;
    long r;

    if (gp == NULL)
        return false;
    memset(&a, 0, sizeof(a));
    if (uattr == NULL || flags != 0) {
        err = EINVAL;
    } else {
        uint32_t size = uattr->size != 0 ? uattr->size : K_SCHED_ATTR_SIZE_VER0;
        if (size < K_SCHED_ATTR_SIZE_VER0 || size > 4096) {
            uattr->size = sizeof(a);
            err = E2BIG;
        } else {
            memcpy(&a, uattr, size < sizeof(a) ? size : sizeof(a));
        }
    }
    if (err == 0) {
        pthread_t th = gr_g_thread(gp);
        err = pthread_getschedparam(th, &policy, &sp);
        if (err == 0 && !(a.sched_flags & K_SCHED_FLAG_KEEP_POLICY))
            policy = (int)a.sched_policy;
        if (err == 0 && policy == K_SCHED_DEADLINE)
            err = EPERM; /* no deadline reservation for a thread that shares its OS thread */
        if (err == 0 && !(a.sched_flags & K_SCHED_FLAG_KEEP_PARAMS))
            sp.sched_priority = (int)a.sched_priority;
        if (err == 0)
            err = pthread_setschedparam(th, policy, &sp);
        if (err == 0 && !(a.sched_flags & K_SCHED_FLAG_KEEP_PARAMS) &&
            (policy == SCHED_OTHER || policy == SCHED_BATCH) &&
            setprio_g(PRIO_PROCESS, (id_t)gr_g_tid(gp), a.sched_nice, &r))
            err = (int)-r;
    }
    tid_put(gp, held);
    *ret = -err;
    return true;
}

static bool
getattr_g(pid_t pid, struct k_sched_attr *uattr, unsigned size, unsigned flags, long *ret)
{
    bool held;
    struct g *gp = tid_g(pid, true, &held);
    struct k_sched_attr a;
    struct sched_param sp;
    int policy, err = 0;

    if (gp == NULL)
        return false;
    memset(&a, 0, sizeof(a));
    if (uattr == NULL || size < K_SCHED_ATTR_SIZE_VER0 || size > 4096 || flags != 0)
        err = EINVAL;
    if (err == 0)
        err = pthread_getschedparam(gr_g_thread(gp), &policy, &sp);
    if (err == 0) {
        a.size = size < sizeof(a) ? size : sizeof(a);
        a.sched_policy = (uint32_t)policy;
        if (policy == SCHED_FIFO || policy == SCHED_RR)
            a.sched_priority = (uint32_t)sp.sched_priority;
        else
            a.sched_nice = gr_g_nice(gp);
        memcpy(uattr, &a, a.size);
    }
    tid_put(gp, held);
    *ret = -err;
    return true;
}

/* ---- CPU clocks. */

/* The thread a CPU clock id names: 0 for the calling thread, a tid, or -1 for no thread
 * (include/linux/posix-timers.h: ~tid << 3, bit 2 per-thread, bits 0-1 the kind). */
static pid_t
clock_tid(clockid_t clock)
{
    if (clock == CLOCK_THREAD_CPUTIME_ID)
        return 0;
    if (clock >= 0 || !(clock & 4) || (clock & 3) == 3)
        return -1;
    return ~(clock >> 3);
}

int
gr_hook_thread_clock(clockid_t clock, struct g **gp)
{
    pid_t tid = clock_tid(clock);
    bool held;

    if (tid < 0 || !gr_sched_booted())
        return GR_CLOCK_OTHER;
    *gp = tid_g(tid, true, &held);
    if (*gp == NULL)
        return GR_CLOCK_OTHER;
    return held ? GR_CLOCK_G : GR_CLOCK_SELF;
}

/* clock_gettime for a G's clock: false when the clock names none. */
static bool
cputime_g(clockid_t clock, struct timespec *ts)
{
    struct g *gp;
    int kind = gr_hook_thread_clock(clock, &gp);
    int64_t ns;

    if (kind == GR_CLOCK_OTHER)
        return false;
    ns = gr_g_cputime(gp);
    if (kind == GR_CLOCK_G)
        gr_g_release(gp);
    ts->tv_sec = ns / GR_NSEC_PER_SEC;
    ts->tv_nsec = ns % GR_NSEC_PER_SEC;
    return true;
}

GR_EXPORT int
clock_gettime(clockid_t clock, struct timespec *ts)
{
    /* Every clock but the CPU clocks of threads, at the cost of one test. */
    if (gr_likely(clock >= 0 && clock != CLOCK_THREAD_CPUTIME_ID) || gr_hook_native() ||
        !cputime_g(clock, ts))
        return gr_real.clock_gettime(clock, ts);
    return 0;
}

/* A G's clock has the resolution of the same kind of clock of the calling thread. */
static clockid_t
own_clock(clockid_t clock)
{
    struct g *gp;
    int kind;

    if (clock == CLOCK_THREAD_CPUTIME_ID || gr_hook_native())
        return clock;
    kind = gr_hook_thread_clock(clock, &gp);
    if (kind == GR_CLOCK_OTHER)
        return clock;
    if (kind == GR_CLOCK_G)
        gr_g_release(gp);
    return (clockid_t)(((uint32_t)~0u << 3) | ((uint32_t)clock & 7));
}

GR_EXPORT int
clock_getres(clockid_t clock, struct timespec *res)
{
    if (clock < 0)
        clock = own_clock(clock);
    return gr_real.clock_getres(clock, res);
}

/* ---- /proc/self/task/TID. */

/* The decimal number at *p, up to a '/' or the end: its value (> 0) with *p past it, or -1. */
static long
path_number(const char **p)
{
    const char *s = *p;
    long v = 0;

    if (*s < '0' || *s > '9')
        return -1;
    while (*s >= '0' && *s <= '9' && v < 0x7fffffff)
        v = v * 10 + (*s++ - '0');
    if (*s != '/' && *s != '\0')
        return -1;
    *p = s;
    return v;
}

const char *
gr_hook_proc_path(const char *path, char *buf, size_t len)
{
    const char *p = path + 6;
    struct g *gp;
    bool held;
    long n;
    pid_t os;

    if (path == NULL || strncmp(path, "/proc/", 6) != 0 || gr_hook_native() || !gr_sched_booted())
        return path;
    if (strncmp(p, "self/", 5) == 0) {
        p += 5;
    } else {
        if ((n = path_number(&p)) != getpid() || *p != '/')
            return path;
        p++;
    }
    if (strncmp(p, "task/", 5) != 0)
        return path;
    p += 5;
    /* The main G's id is also the initial OS thread's, whose directory it stays: tools that
     * follow an OS thread (greenrun_thread_info's os_tid) name it so. */
    if ((n = path_number(&p)) <= 0 || n == getpid() || (gp = tid_g((pid_t)n, false, &held)) == NULL)
        return path;
    os = gr_g_ostid(gp);
    tid_put(gp, held);
    if (os == 0)
        os = getpid();
    if (os == n)
        return path;
    int w = snprintf(buf, len, "/proc/self/task/%d%s", (int)os, p);
    return w > 0 && (size_t)w < len ? buf : path;
}

/* ---- syscall(). */

bool
gr_hook_tid_syscall(long nr, const long a[6], long *ret)
{
    struct g *gp;
    struct timespec *ts;
    long r;
    int nice;

    if ((nr == SYS_sched_getscheduler || nr == SYS_sched_getparam || nr == SYS_sched_getattr) &&
        wired_self((pid_t)a[0])) {
        *ret = gr_real.syscall(nr, 0, a[1], a[2], a[3]);
        return true; /* errno is the real call's */
    }
    switch (nr) {
    case SYS_gettid:
        if ((gp = gr_g_self()) == NULL)
            return false;
        *ret = gr_g_tid(gp);
        return true;
    case SYS_tgkill:
        if (a[0] <= 0 || !kill_g((pid_t)a[0], (pid_t)a[1], (int)a[2], NULL, &r))
            return false;
        break;
    case SYS_tkill:
        if (!kill_g(0, (pid_t)a[0], (int)a[1], NULL, &r))
            return false;
        break;
    case SYS_rt_tgsigqueueinfo:
        if (a[0] <= 0 || a[3] == 0 ||
            !kill_g((pid_t)a[0], (pid_t)a[1], (int)a[2], (const siginfo_t *)a[3], &r))
            return false;
        break;
    case SYS_sched_setaffinity: {
        bool held;
        if ((gp = tid_g((pid_t)a[0], true, &held)) == NULL)
            return false;
        r = -gr_hook_setaffinity(gp, (size_t)a[1], (const cpu_set_t *)a[2]);
        tid_put(gp, held);
        break;
    }
    case SYS_sched_getaffinity: {
        bool held;
        int err;
        if ((gp = tid_g((pid_t)a[0], true, &held)) == NULL)
            return false;
        err = getaffinity_g(gp, (size_t)a[1], (cpu_set_t *)a[2], &r);
        tid_put(gp, held);
        if (err != 0)
            r = -err;
        break;
    }
    case SYS_setpriority:
        if (!setprio_g((int)a[0], (id_t)a[1], (int)a[2], &r))
            return false;
        break;
    case SYS_getpriority:
        if (!getprio_g((int)a[0], (id_t)a[1], &nice))
            return false;
        r = 20 - nice; /* the system call's encoding: 1..40, never negative */
        break;
    case SYS_sched_setscheduler:
        if (a[1] < 0 || !setsched_g((pid_t)a[0], (int)a[1], (const struct sched_param *)a[2], &r))
            return false;
        break;
    case SYS_sched_setparam:
        if (!setsched_g((pid_t)a[0], -1, (const struct sched_param *)a[1], &r))
            return false;
        break;
    case SYS_sched_getscheduler:
        if (!getsched_g((pid_t)a[0], NULL, &r))
            return false;
        break;
    case SYS_sched_getparam:
        if (a[1] == 0 || !getsched_g((pid_t)a[0], (struct sched_param *)a[1], &r))
            return false;
        break;
    case SYS_sched_setattr:
        if (!setattr_g((pid_t)a[0], (struct k_sched_attr *)a[1], (unsigned)a[2], &r))
            return false;
        break;
    case SYS_sched_getattr:
        if (!getattr_g((pid_t)a[0], (struct k_sched_attr *)a[1], (unsigned)a[2], (unsigned)a[3],
                       &r))
            return false;
        break;
    case SYS_sched_rr_get_interval: {
        bool held;
        if ((gp = tid_g((pid_t)a[0], true, &held)) == NULL)
            return false;
        tid_put(gp, held);
        r = gr_real.syscall(SYS_sched_rr_get_interval, 0, a[1]);
        *ret = r;
        return true; /* errno is the real call's */
    }
    case SYS_clock_gettime:
        ts = (struct timespec *)a[1];
        if ((clockid_t)a[0] >= 0 && (clockid_t)a[0] != CLOCK_THREAD_CPUTIME_ID)
            return false;
        if (!cputime_g((clockid_t)a[0], ts))
            return false;
        r = 0;
        break;
    case SYS_clock_getres:
        if ((clockid_t)a[0] >= 0)
            return false;
        *ret = gr_real.syscall(SYS_clock_getres, own_clock((clockid_t)a[0]), a[1]);
        return true;
    default:
        return false;
    }
    *ret = as_libc(r);
    return true;
}
