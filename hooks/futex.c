/*
 * hooks/futex.c: syscall(). SYS_futex WAIT, WAIT_BITSET, WAKE and WAKE_BITSET on private
 * futexes park and ready Gs on the wait table (libstdc++'s atomic wait, jemalloc and InnoDB
 * call them directly); the calls that take a thread id or read a thread's CPU clock go to
 * hooks/tid.c; every other system call, and shared futexes, pass straight through.
 * A thread without a G waits in the kernel; a wake serves the table's waiters first, then the
 * kernel's for the rest of its count. A G parked here cannot be woken by code that issues the
 * futex system call itself, bypassing syscall() (README, known limits). A signal sent to a
 * parked G runs its handler; the wait then restarts or fails with EINTR as in the kernel.
 *
 * Locks: none of its own; the wait table's buckets.
 */
#include <linux/futex.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hooks/hook.h"
#include "hooks/tid.h"

static long
futex_hook(uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts, uint32_t *uaddr2,
           uint32_t val3)
{
    int cmd = op & FUTEX_CMD_MASK;
    int64_t deadline;
    int r, err;

    switch (cmd) {
    case FUTEX_WAIT:
    case FUTEX_WAIT_BITSET:
        /* A thread without a G sleeps in the kernel, where every kind of wake reaches it. */
        if (gr_hook_g() == NULL)
            return gr_real.syscall(SYS_futex, uaddr, op, val, ts, uaddr2, val3);
        if (cmd == FUTEX_WAIT) {
            val3 = FUTEX_BITSET_MATCH_ANY;
            err = gr_hook_deadline_rel(ts, &deadline);
        } else {
            err = gr_hook_deadline((op & FUTEX_CLOCK_REALTIME) ? CLOCK_REALTIME : CLOCK_MONOTONIC,
                                   ts, &deadline);
        }
        if (err != 0 || val3 == 0) {
            errno = EINVAL;
            return -1;
        }
        if (deadline == 0)
            deadline = 1;
        /* A handler that ran meanwhile: as the kernel, a wait without a timeout restarts under
         * SA_RESTART, every other fails with EINTR. */
        while ((r = gr_futex_wait(uaddr, val, val3, deadline, GR_WQ_SIGNAL, "futex")) == -EINTR &&
               !gr_signal_eintr() && ts == NULL)
            ;
        if (r == 0)
            return 0;
        errno = -r;
        return -1;
    case FUTEX_WAKE:
    case FUTEX_WAKE_BITSET: {
        int n = (int)val;
        if (cmd == FUTEX_WAKE)
            val3 = FUTEX_BITSET_MATCH_ANY;
        if (val3 == 0) {
            errno = EINVAL;
            return -1;
        }
        r = gr_futex_wake(uaddr, n, val3);
        if (r < n) {
            long k = gr_real.syscall(SYS_futex, uaddr, op, n - r, ts, uaddr2, val3);
            if (k > 0)
                r += (int)k;
        }
        return r;
    }
    default:
        return gr_real.syscall(SYS_futex, uaddr, op, val, ts, uaddr2, val3);
    }
}

GR_EXPORT long
syscall(long nr, ...)
{
    va_list ap;
    long a[6], r;
    int saved;

    va_start(ap, nr);
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    /* Thread ids and CPU clocks, on any thread (a signal handler's gettid is its G's). */
    if (!gr_hook_native() && (gr_hook_tid_syscall(nr, a, &r) || gr_hook_signal_syscall(nr, a, &r)))
        return r;
    if (gr_hook_g() == NULL)
        return gr_real.syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    if (nr == SYS_futex && (a[1] & FUTEX_PRIVATE_FLAG))
        return futex_hook((uint32_t *)a[0], (int)a[1], (uint32_t)a[2],
                          (const struct timespec *)a[3], (uint32_t *)a[4], (uint32_t)a[5]);
    /* Any other call (a shared futex, a raw read...) may block in the kernel: let sysmon hand
     * the P on meanwhile. errno is the G's own, set by glibc's syscall() on this G. */
    gr_entersyscall();
    r = gr_real.syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    saved = errno;
    gr_exitsyscall();
    errno = saved;
    return r;
}
