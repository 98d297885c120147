/*
 * hooks/poll.c: poll, ppoll, select, pselect, epoll_wait, epoll_pwait and epoll_pwait2 park
 * the G.
 *
 * Readiness is always computed by the kernel: the real call with a zero timeout (raw
 * ppoll/pselect6/epoll_pwait, which also apply a ppoll/pselect/epoll_pwait signal mask for
 * that moment). A call that may wait first registers interest in every descriptor and takes
 * the netpoller's edge counts (netpoll.h, gr_netpoll_prepare), then checks: an edge after
 * the snapshot makes the park return at once, so an edge between the check and the park is
 * not lost, and the check before the snapshot that a check-first order needs is saved (one
 * zero-timeout call when something is ready, two when the G had to wait: the check, and the
 * one after the wakeup). The G parks once on all of them with the deadline and on any wakeup
 * snapshots and checks again. A zero timeout never parks and only checks; no descriptors at
 * all is a plain sleep.
 *
 * The program's epoll descriptor is itself pollable: epoll_wait waits for it to become
 * readable through the netpoller as a consumer (one waiter woken per edge, baton passing, as
 * the kernel wakes one epoll_wait caller), then collects the events with a zero timeout.
 *
 * A signal sent to the parked G (pthread_kill) runs its handler and the call fails with EINTR,
 * as these calls are never restarted. What the program passed is left as Linux leaves it: on
 * any error select's and pselect's sets are unchanged (the checks wrote them: they are put
 * back), poll's revents are those of the last check (0 on EINTR, as the kernel writes them),
 * select writes back the time left whatever the result, and the timeouts of pselect, ppoll and
 * epoll_pwait2 are never written. The signal mask of ppoll, pselect and epoll_pwait[2] holds
 * for the whole call, as the kernel installs it for the wait: on the G, so that a signal it
 * unblocks interrupts the park (and a handler the wrapper ran on the G on its way there
 * ends the wait too, signal.c), and the call fails with EINTR when a handler ran and
 * nothing was ready.
 * Descriptors numbered from 2^20 up make the call wait in syscall mode.
 *
 * Locks: none of its own; the netpoller's.
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>

#include "hooks/fd.h"
#include "hooks/hook.h"

#define STACK_ENTS 8
#define NSIG_BYTES 8

extern void __chk_fail(void) __attribute__((noreturn));

static const struct timespec zero_ts = { 0, 0 };

/* A call's own signal mask on the G, for a call that may wait (masked_enter), then the old
 * one back (masked_leave, which turns "nothing ready" into EINTR when a handler ran). */
struct masked {
    sigset_t old;
    bool on;
};

static void
masked_enter(struct masked *m, const sigset_t *mask, bool zero)
{
    m->on = mask != NULL && !zero;
    if (m->on)
        gr_signal_mask_enter(mask, &m->old);
}

static int
masked_leave(struct masked *m, int r)
{
    int saved = errno;

    if (!m->on)
        return r;
    if (gr_signal_mask_leave(&m->old) && r == 0) {
        errno = EINTR;
        return -1;
    }
    errno = saved;
    return r;
}

/* Park until deadline (-1: for ever), as a cancellation point. 0, or -EINTR after a
 * signal's handler ran (poll and select are never restarted). */
static long
sleep_until(int64_t deadline)
{
    uint32_t word = 0;

    for (;;) {
        int r = gr_futex_wait(&word, 0, ~0u, deadline, GR_WQ_CANCEL | GR_WQ_SIGNAL, "poll");
        if (r == -EINTR) {
            gr_signal_eintr();
            return -EINTR;
        }
        if (r != -ECANCELED)
            return 0;
        gr_hook_testcancel();
    }
}

static int64_t
ms_deadline(int timeout)
{
    return timeout < 0 ? -1 : gr_nanotime() + (int64_t)timeout * 1000000;
}

/* Remaining ns until deadline (-1: none) for a syscall-mode fallback. */
static struct timespec *
remaining_ts(int64_t deadline, struct timespec *ts)
{
    int64_t rel;

    if (deadline < 0)
        return NULL;
    rel = deadline - gr_nanotime();
    if (rel < 0)
        rel = 0;
    ts->tv_sec = rel / GR_NSEC_PER_SEC;
    ts->tv_nsec = rel % GR_NSEC_PER_SEC;
    return ts;
}

static unsigned
poll_dirs(short events)
{
    unsigned dirs = 0;

    if (events & (POLLIN | POLLPRI | POLLRDNORM | POLLRDBAND | POLLRDHUP))
        dirs |= GR_POLL_READ;
    if (events & (POLLOUT | POLLWRNORM | POLLWRBAND))
        dirs |= GR_POLL_WRITE;
    /* Errors and hangups are reported whatever was asked; they reach both directions. */
    return dirs != 0 ? dirs : GR_POLL_READ;
}

/*
 * The waiting loop shared by poll and select: check() is the zero-timeout real call. Returns
 * its raw result; ents[0..n) name what to wait for.
 */
static long
wait_loop(struct gr_pollent *ents, int n, int64_t deadline, long (*check)(void *), void *arg,
          long (*fallback)(void *, int64_t), const char *reason)
{
    long r;
    int err;

    for (;;) {
        if (gr_netpoll_prepare(ents, n) != 0)
            return fallback(arg, deadline);
        r = check(arg);
        if (r != 0)
            return r;
        if (deadline >= 0 && gr_nanotime() >= deadline)
            return 0;
        err = gr_netpoll_wait_any(ents, n, deadline, reason);
        if (err == -ETIMEDOUT)
            return check(arg);
        if (err == -ECANCELED)
            gr_hook_testcancel();
        if (err == -EINTR) {
            gr_signal_eintr(); /* the handler ran; never restarted */
            return -EINTR;
        }
    }
}

/* ---- poll, ppoll. */

struct pollcall {
    struct pollfd *fds;
    nfds_t nfds;
    const sigset_t *mask;
};

/*
 * The checks use a zero timeout, and such calls are never restarted: a signal landing on the M
 * meanwhile (the runtime's preemption signal among them) makes them fail with EINTR. They
 * did not wait, so they are simply made again.
 */
static long
poll_check(void *arg)
{
    struct pollcall *pc = arg;
    long r;

    do {
        r = gr_syscall6(SYS_ppoll, (long)pc->fds, (long)pc->nfds, (long)&zero_ts, (long)pc->mask,
                        NSIG_BYTES, 0);
    } while (r == -EINTR);
    return r;
}

static long
poll_fallback(void *arg, int64_t deadline)
{
    struct pollcall *pc = arg;
    struct timespec ts;

    return gr_blocking_syscall6(SYS_ppoll, (long)pc->fds, (long)pc->nfds,
                                (long)remaining_ts(deadline, &ts), (long)pc->mask, NSIG_BYTES, 0);
}

static int
poll_hook(struct pollfd *fds, nfds_t nfds, int64_t deadline, bool zero, const sigset_t *mask)
{
    struct pollcall pc = { fds, nfds, mask };
    struct gr_pollent stack_ents[STACK_ENTS], *ents = stack_ents;
    int n = 0;
    long r;

    /* Many entries: check before allocating for them (the kernel also rejects a count above
     * the descriptor limit there). Few: wait_loop's snapshot comes first (header). */
    if (zero || nfds > STACK_ENTS) {
        r = poll_check(&pc);
        if (r != 0 || zero)
            return (int)gr_hook_ret(r);
    }
    if (nfds == 0)
        return (int)gr_hook_ret(sleep_until(deadline));
    if (nfds > STACK_ENTS) {
        ents = malloc(nfds * sizeof(*ents));
        if (ents == NULL)
            return (int)gr_hook_ret(poll_fallback(&pc, deadline));
    }
    for (nfds_t i = 0; i < nfds; i++) {
        if (fds[i].fd < 0)
            continue;
        ents[n].fd = fds[i].fd;
        ents[n].dirs = poll_dirs(fds[i].events);
        n++;
    }
    r = wait_loop(ents, n, deadline, poll_check, &pc, poll_fallback, "poll");
    if (ents != stack_ents)
        free(ents);
    return (int)gr_hook_ret(r);
}

GR_EXPORT int
poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
    if (gr_hook_g() == NULL)
        return gr_real.poll(fds, nfds, timeout);
    return poll_hook(fds, nfds, ms_deadline(timeout), timeout == 0, NULL);
}

GR_EXPORT int
__poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen)
{
    if (fdslen / sizeof(*fds) < nfds)
        __chk_fail();
    return poll(fds, nfds, timeout);
}

GR_EXPORT int
ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo, const sigset_t *mask)
{
    int64_t deadline;

    if (gr_hook_g() == NULL)
        return gr_real.ppoll(fds, nfds, tmo, mask);
    if (gr_hook_deadline_rel(tmo, &deadline) != 0) {
        errno = EINVAL;
        return -1;
    }
    bool zero = tmo != NULL && tmo->tv_sec == 0 && tmo->tv_nsec == 0;
    struct masked m;
    masked_enter(&m, mask, zero);
    return masked_leave(&m, poll_hook(fds, nfds, deadline, zero, mask));
}

GR_EXPORT int
__ppoll_chk(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo, const sigset_t *mask,
            size_t fdslen)
{
    if (fdslen / sizeof(*fds) < nfds)
        __chk_fail();
    return ppoll(fds, nfds, tmo, mask);
}

/* ---- select, pselect. */

#define WORD_BITS (8 * sizeof(unsigned long))

/* The descriptor table's reach (netpoll.h): larger counts go to the kernel as they are. */
#define SELECT_MAX_FDS (1 << 20)

struct selcall {
    int nfds;
    fd_set *sets[3];         /* the program's: read, write, except (NULL allowed) */
    unsigned long *saved[3]; /* their contents on entry */
    size_t words;
    const sigset_t *mask;
};

static void
sel_restore(struct selcall *sc)
{
    for (int k = 0; k < 3; k++)
        if (sc->sets[k] != NULL)
            memcpy(sc->sets[k], sc->saved[k], sc->words * sizeof(unsigned long));
}

static long
sel_check(void *arg)
{
    struct selcall *sc = arg;
    struct {
        const sigset_t *ss;
        size_t len;
    } m = { sc->mask, NSIG_BYTES };
    struct timespec ts;
    long r;

    do {
        ts = zero_ts;
        sel_restore(sc);
        r = gr_syscall6(SYS_pselect6, sc->nfds, (long)sc->sets[0], (long)sc->sets[1],
                        (long)sc->sets[2], (long)&ts, (long)(sc->mask != NULL ? &m : NULL));
    } while (r == -EINTR);
    return r;
}

static long
sel_fallback(void *arg, int64_t deadline)
{
    struct selcall *sc = arg;
    struct {
        const sigset_t *ss;
        size_t len;
    } m = { sc->mask, NSIG_BYTES };
    struct timespec ts;

    sel_restore(sc);
    return gr_blocking_syscall6(SYS_pselect6, sc->nfds, (long)sc->sets[0], (long)sc->sets[1],
                                (long)sc->sets[2], (long)remaining_ts(deadline, &ts),
                                (long)(sc->mask != NULL ? &m : NULL));
}

static bool
bit_set(const unsigned long *w, int fd)
{
    return w != NULL && (w[(unsigned)fd / WORD_BITS] >> ((unsigned)fd % WORD_BITS)) & 1;
}

/*
 * select and pselect, as raw results. On every error the program's sets are as it passed them
 * (Linux writes them back only on success and timeout): the checks write them, so they are
 * put back from the copy taken on entry.
 */
static long
select_hook(int nfds, fd_set *r, fd_set *w, fd_set *e, int64_t deadline, bool zero,
            const sigset_t *mask)
{
    unsigned long stack_saved[3][FD_SETSIZE / WORD_BITS];
    struct gr_pollent stack_ents[STACK_ENTS], *ents = stack_ents;
    struct selcall sc = { .nfds = nfds, .sets = { r, w, e }, .mask = mask };
    unsigned long *heap = NULL;
    int n = 0, want = 0;
    long res;

    if (nfds < 0)
        return -EINVAL;
    if (nfds > SELECT_MAX_FDS) {
        /* Beyond the descriptor table's reach: the kernel, which reads only as many bits as
         * the process has descriptors, waits (no copy is taken: nothing here writes). */
        struct timespec ts;
        struct {
            const sigset_t *ss;
            size_t len;
        } m = { mask, NSIG_BYTES };
        return gr_blocking_syscall6(SYS_pselect6, nfds, (long)r, (long)w, (long)e,
                                    (long)remaining_ts(deadline, &ts),
                                    (long)(mask != NULL ? &m : NULL));
    }
    sc.words = ((size_t)nfds + WORD_BITS - 1) / WORD_BITS;
    if (sc.words > FD_SETSIZE / WORD_BITS) {
        heap = malloc(3 * sc.words * sizeof(unsigned long));
        if (heap == NULL)
            return -ENOMEM;
    }
    for (int k = 0; k < 3; k++) {
        sc.saved[k] = heap != NULL ? heap + (size_t)k * sc.words : stack_saved[k];
        if (sc.sets[k] != NULL)
            memcpy(sc.saved[k], sc.sets[k], sc.words * sizeof(unsigned long));
    }
    /* A call that may wait checks in wait_loop, after the snapshot (header); the sets it
     * asks about are all empty when want stays 0, so a plain sleep leaves them right. */
    if (zero) {
        res = sel_check(&sc);
        goto out;
    }
    for (int fd = 0; fd < nfds; fd++)
        if (bit_set(sc.sets[0] ? sc.saved[0] : NULL, fd) ||
            bit_set(sc.sets[1] ? sc.saved[1] : NULL, fd) ||
            bit_set(sc.sets[2] ? sc.saved[2] : NULL, fd))
            want++;
    if (want == 0) {
        res = sleep_until(deadline); /* 0 (the check cleared the sets) or -EINTR */
        goto out;
    }
    if (want > STACK_ENTS) {
        ents = malloc((size_t)want * sizeof(*ents));
        if (ents == NULL) {
            res = sel_fallback(&sc, deadline);
            goto out;
        }
    }
    for (int fd = 0; fd < nfds; fd++) {
        unsigned dirs = 0;
        if (bit_set(sc.sets[0] ? sc.saved[0] : NULL, fd) ||
            bit_set(sc.sets[2] ? sc.saved[2] : NULL, fd))
            dirs |= GR_POLL_READ;
        if (bit_set(sc.sets[1] ? sc.saved[1] : NULL, fd))
            dirs |= GR_POLL_WRITE;
        if (dirs != 0) {
            ents[n].fd = fd;
            ents[n].dirs = dirs;
            n++;
        }
    }
    res = wait_loop(ents, n, deadline, sel_check, &sc, sel_fallback, "select");
    if (ents != stack_ents)
        free(ents);
out:
    if (res < 0)
        sel_restore(&sc);
    free(heap);
    return res;
}

GR_EXPORT int
select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
    int64_t deadline = -1;
    long res;

    if (gr_hook_g() == NULL)
        return gr_real.select(nfds, r, w, e, tv);
    if (tv != NULL) {
        if (tv->tv_sec < 0 || tv->tv_usec < 0) {
            errno = EINVAL;
            return -1;
        }
        /* As the kernel: microseconds beyond a second carry over. */
        deadline =
            gr_nanotime() + (int64_t)tv->tv_sec * GR_NSEC_PER_SEC + (int64_t)tv->tv_usec * 1000;
    }
    res = select_hook(nfds, r, w, e, deadline, tv != NULL && tv->tv_sec == 0 && tv->tv_usec == 0,
                      NULL);
    if (tv != NULL) {
        /* Linux writes back the time not slept, normalised, whatever the result (an error
         * too, EINTR included): glibc's select converts the kernel's timespec back. */
        int64_t rel = deadline - gr_nanotime();
        if (rel < 0)
            rel = 0;
        tv->tv_sec = rel / GR_NSEC_PER_SEC;
        tv->tv_usec = (rel % GR_NSEC_PER_SEC) / 1000;
    }
    return (int)gr_hook_ret(res);
}

GR_EXPORT int
pselect(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *tmo, const sigset_t *mask)
{
    int64_t deadline;

    if (gr_hook_g() == NULL)
        return gr_real.pselect(nfds, r, w, e, tmo, mask);
    if (gr_hook_deadline_rel(tmo, &deadline) != 0) {
        errno = EINVAL;
        return -1;
    }
    bool zero = tmo != NULL && tmo->tv_sec == 0 && tmo->tv_nsec == 0;
    struct masked m;
    masked_enter(&m, mask, zero);
    return masked_leave(&m, (int)gr_hook_ret(select_hook(nfds, r, w, e, deadline, zero, mask)));
}

/* ---- epoll_wait, epoll_pwait, epoll_pwait2. */

#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif

static long
epoll_check(int epfd, struct epoll_event *ev, int max, int timeout, const sigset_t *mask)
{
    long r;

    do {
        r = gr_syscall6(SYS_epoll_pwait, epfd, (long)ev, max, timeout, (long)mask, NSIG_BYTES);
    } while (r == -EINTR && timeout == 0); /* see poll_check */
    return r;
}

/*
 * deadline: absolute CLOCK_MONOTONIC ns, -1 none; zero: the program asked for no wait at all.
 * ns: epoll_pwait2, whose syscall-mode fallback keeps nanoseconds.
 */
static int
epoll_hook(int epfd, struct epoll_event *ev, int max, int64_t deadline, bool zero,
           const sigset_t *mask, bool ns)
{
    struct gr_pollticket t = { .woken = false };
    struct polldesc *pd;
    struct timespec ts;
    int timeout = -1;
    long r;
    int err;

    if (zero)
        return (int)gr_hook_ret(epoll_check(epfd, ev, max, 0, mask));
    pd = gr_fdtab_get(epfd);
    if (pd == NULL)
        goto blocking;
    /* The snapshot first, then the check (header): one check when events are there. */
    for (;;) {
        gr_netpoll_snap(&t, epfd, pd, GR_POLL_READ);
        r = epoll_check(epfd, ev, max, 0, mask);
        if (r != 0) {
            if (r > 0)
                gr_netpoll_pass(&t);
            return (int)gr_hook_ret(r);
        }
        if (deadline >= 0 && gr_nanotime() >= deadline)
            return 0;
        err = gr_netpoll_wait(&t, deadline, "epoll_wait");
        if (err == 0)
            continue;
        if (err == -ECANCELED) {
            gr_hook_testcancel();
            continue;
        }
        if (err == -EINTR) {
            gr_signal_eintr(); /* the handler ran; never restarted */
            return (int)gr_hook_ret(-EINTR);
        }
        if (err == -ETIMEDOUT)
            return (int)gr_hook_ret(epoll_check(epfd, ev, max, 0, mask));
        if (err == -EBADF)
            return (int)gr_hook_ret(-EBADF);
        break;
    }
blocking:
    if (ns) {
        r = gr_blocking_syscall6(SYS_epoll_pwait2, epfd, (long)ev, max,
                                 (long)remaining_ts(deadline, &ts), (long)mask, NSIG_BYTES);
        return (int)gr_hook_ret(r);
    }
    if (deadline >= 0) {
        int64_t rel = deadline - gr_nanotime();
        timeout = rel <= 0 ? 0 : (int)((rel + 999999) / 1000000);
    }
    gr_entersyscall();
    r = epoll_check(epfd, ev, max, timeout, mask);
    gr_exitsyscall();
    return (int)gr_hook_ret(r);
}

GR_EXPORT int
epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
    if (gr_hook_g() == NULL)
        return gr_real.epoll_wait(epfd, ev, max, timeout);
    return epoll_hook(epfd, ev, max, ms_deadline(timeout), timeout == 0, NULL, false);
}

GR_EXPORT int
epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout, const sigset_t *mask)
{
    if (gr_hook_g() == NULL)
        return gr_real.epoll_pwait(epfd, ev, max, timeout, mask);
    struct masked m;
    masked_enter(&m, mask, timeout == 0);
    return masked_leave(&m,
                        epoll_hook(epfd, ev, max, ms_deadline(timeout), timeout == 0, mask, false));
}

/*
 * glibc 2.35's epoll_pwait2: a timespec timeout (NULL waits for ever). On an older glibc
 * gr_real has no entry and the system call is made here; a kernel without it says ENOSYS.
 */
GR_EXPORT int
epoll_pwait2(int epfd, struct epoll_event *ev, int max, const struct timespec *tmo,
             const sigset_t *mask)
{
    int64_t deadline;

    if (gr_hook_g() == NULL) {
        if (gr_real.epoll_pwait2 != NULL)
            return gr_real.epoll_pwait2(epfd, ev, max, tmo, mask);
        return (int)gr_hook_ret(
            gr_syscall6(SYS_epoll_pwait2, epfd, (long)ev, max, (long)tmo, (long)mask, NSIG_BYTES));
    }
    /* As the kernel: a bad timeout is refused before anything else is looked at. */
    if (gr_hook_deadline_rel(tmo, &deadline) != 0) {
        errno = EINVAL;
        return -1;
    }
    bool zero = tmo != NULL && tmo->tv_sec == 0 && tmo->tv_nsec == 0;
    struct masked m;
    masked_enter(&m, mask, zero);
    return masked_leave(&m, epoll_hook(epfd, ev, max, deadline, zero, mask, true));
}
