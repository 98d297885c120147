/*
 * hooks/signal.c: sigaction and signal; waits for signals (sigwait, sigsuspend, pause); raise and
 * sigpending, which act on the calling G rather than on its OS thread; sigaltstack.
 *
 * The program's handlers run on whichever G the M is running, or on g0 when the M is between
 * Gs or idle. On g0 the installed TLS block may be a G that runs elsewhere at that moment, so
 * the runtime installs every handler of the program behind a wrapper that, on g0, switches to
 * the M's own block for the handler's duration. SIGURG belongs to the preemption handler,
 * which forwards signals the runtime did not send (runtime/preempt.c). Dispositions the
 * program reads back are exactly those it set.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hooks/hook.h"

#define NSIG_MAX 65

/*
 * What the program set, by signal, for sigaction to read back (the kernel holds the wrapper
 * for a caught signal). The action the wrapper runs is published to the runtime, which reads
 * it without a lock (runtime/signal.c).
 */
static struct sigaction user_act[NSIG_MAX]; /* protected by table_lock */
static struct gr_mutex table_lock = GR_MUTEX_INIT(GR_RANK_SIGACTION);

static bool
is_handler(const struct sigaction *act)
{
    void *h = (act->sa_flags & SA_SIGINFO) ? (void *)act->sa_sigaction : (void *)act->sa_handler;

    return h != (void *)SIG_DFL && h != (void *)SIG_IGN && h != NULL;
}

/* Does act ignore sig (SIG_IGN, or SIG_DFL of a signal whose default is to do nothing)? */
static bool
is_ignored(int sig, const struct sigaction *act)
{
    /* sa_handler and sa_sigaction share their storage: the test holds either way. */
    if (act->sa_handler == SIG_IGN)
        return true;
    return act->sa_handler == SIG_DFL &&
           (sig == SIGCHLD || sig == SIGCONT || sig == SIGURG || sig == SIGWINCH);
}

GR_EXPORT int
sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    struct sigaction prev, mine;
    bool caught;
    int r;

    if (gr_hook_native() || sig <= 0 || sig >= NSIG_MAX)
        return gr_real.sigaction(sig, act, old);
    gr_hook_safepoint();
    if (sig == SIGURG) {
        /* The preemption handler stays installed; it forwards to the program's. */
        r = gr_preempt_set_user_action(act, old);
        if (r != 0) {
            errno = -r;
            return -1;
        }
        return 0;
    }
    gr_lock(&table_lock);
    r = gr_real.sigaction(sig, NULL, &prev);
    if (r != 0) {
        gr_unlock(&table_lock);
        return r;
    }
    caught = prev.sa_sigaction == gr_signal_wrapper;
    /* The thread dump and the on-demand leak check stand for SIG_DFL. */
    if (caught || prev.sa_sigaction == gr_dump_sigquit || prev.sa_sigaction == gr_gc_sigreport)
        prev = user_act[sig];
    if (act != NULL && is_handler(act)) {
        /* Published before the kernel runs the wrapper for it, withdrawn after: every
         * delivery finds a whole action. (The kernel's own part, sa_mask and SA_RESTART, is
         * switched by the real call, a moment apart from the handler.) */
        r = gr_signal_publish(sig, act);
        if (r == 0) {
            mine = *act;
            mine.sa_flags |= SA_SIGINFO;
            mine.sa_sigaction = gr_signal_wrapper;
            r = gr_real.sigaction(sig, &mine, NULL);
            if (r == 0)
                user_act[sig] = *act;
            else
                gr_signal_publish(sig, caught ? &prev : NULL);
        } else {
            errno = -r;
            r = -1;
        }
    } else if (act != NULL &&
               (gr_dump_takes(sig, act, &mine) || gr_gc_signal_takes(sig, act, &mine))) {
        /* SIGQUIT, or GREENRUN_GC_REPORT_SIGNAL, back at its default: the runtime's handler,
         * reported as the default. */
        r = gr_real.sigaction(sig, &mine, NULL);
        if (r == 0) {
            user_act[sig] = *act;
            gr_signal_publish(sig, NULL);
        }
    } else if (act != NULL) {
        r = gr_real.sigaction(sig, act, NULL);
        if (r == 0) {
            gr_signal_publish(sig, NULL);
            if (is_ignored(sig, act))
                gr_signal_discard(sig);
        }
    }
    gr_unlock(&table_lock);
    if (r == 0 && old != NULL)
        *old = prev;
    return r;
}

GR_EXPORT sighandler_t
signal(int sig, sighandler_t handler)
{
    struct sigaction act, old;

    if (gr_hook_native())
        return gr_real.signal(sig, handler);
    /* glibc's signal(): BSD semantics, the handler stays and interrupted calls restart. */
    memset(&act, 0, sizeof(act));
    act.sa_handler = handler;
    act.sa_flags = SA_RESTART;
    sigemptyset(&act.sa_mask);
    sigaddset(&act.sa_mask, sig);
    if (sigaction(sig, &act, &old) != 0)
        return SIG_ERR;
    return old.sa_handler;
}

/* ---- sigwait, sigwaitinfo, sigtimedwait, sigsuspend, pause: the G waits (runtime/signal.c). */

/* A wait for a signal of set, at most timeout (NULL: no limit). The signal, or -1 and errno. */
static int
sigwait_g(const sigset_t *set, siginfo_t *info, const struct timespec *timeout)
{
    int64_t deadline;
    int r;

    if (gr_hook_deadline_rel(timeout, &deadline) != 0) {
        errno = EINVAL;
        return -1;
    }
    r = gr_signal_wait(set, info, deadline);
    if (r < 0) {
        errno = -r;
        return -1;
    }
    return r;
}

GR_EXPORT int
sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *timeout)
{
    if (gr_hook_g() == NULL)
        return gr_real.sigtimedwait(set, info, timeout);
    return sigwait_g(set, info, timeout);
}

GR_EXPORT int
sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
    if (gr_hook_g() == NULL)
        return gr_real.sigwaitinfo(set, info);
    return sigwait_g(set, info, NULL);
}

GR_EXPORT int
sigwait(const sigset_t *set, int *sig)
{
    int r;

    if (gr_hook_g() == NULL)
        return gr_real.sigwait(set, sig);
    do {
        r = gr_signal_wait(set, NULL, -1);
    } while (r == -EINTR);
    if (r < 0)
        return -r;
    *sig = r;
    return 0;
}

/*
 * sigsuspend and pause wait until a handler has run on this G, then fail with EINTR, the only
 * way either returns. Unblocking delivers what was pending at once. Cancellation points.
 */
GR_EXPORT int
sigsuspend(const sigset_t *mask)
{
    if (gr_hook_g() == NULL)
        return gr_real.sigsuspend(mask);
    errno = -gr_signal_suspend(mask);
    return -1;
}

GR_EXPORT int
pause(void)
{
    struct g *gp = gr_hook_g();
    sigset_t cur;

    if (gp == NULL)
        return gr_real.pause();
    gr_signal_setmask(gp, SIG_SETMASK, NULL, &cur);
    errno = -gr_signal_suspend(&cur);
    return -1;
}

/* ---- raise and sigpending: the G's own, not its M's. */

/*
 * glibc's raise signals the OS thread (tgkill to the kernel's tid), where a signal the G
 * blocks would stay pending for whichever G runs there next. The G's own: its handler runs
 * before raise returns, or the signal stays pending on the G.
 */
GR_EXPORT int
raise(int sig)
{
    struct g *gp = gr_hook_g();
    int r;

    if (gp == NULL)
        return gr_real.raise(sig);
    if (sig < 0 || sig > 64) {
        errno = EINVAL;
        return -1;
    }
    r = gr_signal_raise(gp, sig, NULL);
    if (r < 0) {
        errno = -r;
        return -1;
    }
    return 0;
}

/*
 * A signal the calling G sends to its own process, which the kernel would give it (the main
 * G, or any G while the main G blocks it): its handler runs before the call returns, as
 * natively. Sent by the kernel it could land on any M and reach this G a moment later.
 */
static bool
to_self(pid_t pid, int sig, int code, const union sigval *value)
{
    struct g *gp = gr_hook_g();
    siginfo_t info;

    if (gp == NULL || pid <= 0 || sig <= 0 || pid != gr_sys_getpid())
        return false;
    memset(&info, 0, sizeof(info));
    info.si_signo = sig;
    info.si_code = code;
    info.si_pid = pid;
    info.si_uid = getuid();
    if (value != NULL)
        info.si_value = *value;
    return gr_signal_kill_self_process(gp, sig, &info) == 1;
}

/* Does pidfd name this process? A pidfd says its pid in fdinfo; an open /proc/PID directory,
 * which the kernel takes as a pidfd too, is /proc/self's inode. */
static bool
pidfd_is_self(int pidfd)
{
    char path[48], buf[512];
    struct stat a, b;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n > 0) {
            buf[n] = '\0';
            const char *p = strstr(buf, "\nPid:");
            if (p != NULL)
                return atoi(p + 5) == (int)getpid();
        }
    }
    return fstat(pidfd, &a) == 0 && S_ISDIR(a.st_mode) && stat("/proc/self", &b) == 0 &&
           a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* pidfd_send_signal with no siginfo and no flags, to the own process: as kill. */
static bool
pidfd_to_self(int pidfd, int sig, const siginfo_t *info, unsigned flags)
{
    return info == NULL && flags == 0 && sig > 0 && gr_hook_g() != NULL && pidfd_is_self(pidfd) &&
           to_self(getpid(), sig, SI_USER, NULL);
}

GR_EXPORT int
pidfd_send_signal(int pidfd, int sig, siginfo_t *info, unsigned flags)
{
    if (pidfd_to_self(pidfd, sig, info, flags))
        return 0;
    if (gr_real.pidfd_send_signal != NULL)
        return gr_real.pidfd_send_signal(pidfd, sig, info, flags);
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, info, flags);
}

bool
gr_hook_signal_syscall(long nr, const long a[6], long *ret)
{
    if (nr == SYS_kill && to_self((pid_t)a[0], (int)a[1], SI_USER, NULL)) {
        *ret = 0;
        return true;
    }
    if (nr == SYS_pidfd_send_signal &&
        pidfd_to_self((int)a[0], (int)a[1], (const siginfo_t *)a[2], (unsigned)a[3])) {
        *ret = 0;
        return true;
    }
    return false;
}

GR_EXPORT int
kill(pid_t pid, int sig)
{
    if (to_self(pid, sig, SI_USER, NULL))
        return 0;
    return gr_real.kill(pid, sig);
}

GR_EXPORT int
sigqueue(pid_t pid, int sig, const union sigval value)
{
    if (to_self(pid, sig, SI_QUEUE, &value))
        return 0;
    return gr_real.sigqueue(pid, sig, value);
}

/* The signals pending for this G or for the process that the G blocks. */
GR_EXPORT int
sigpending(sigset_t *set)
{
    struct g *gp = gr_hook_g();

    if (gp == NULL)
        return gr_real.sigpending(set);
    gr_signal_pending(gp, set);
    return 0;
}

/*
 * sigaltstack: a thread's alternate signal stack is the G's, carried by whichever M runs it
 * (runtime/signal.c), so a G's handlers never run on another G's stack, and the kernel still
 * answers (SS_ONSTACK, EPERM while on it) for the calling thread.
 */
GR_EXPORT int
sigaltstack(const stack_t *ss, stack_t *old)
{
    int r;

    if (gr_hook_native())
        return gr_real.sigaltstack(ss, old);
    r = gr_signal_altstack(ss, old);
    if (r < 0) {
        errno = -r;
        return -1;
    }
    return 0;
}
