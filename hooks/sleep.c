/*
 * hooks/sleep.c: sleep, usleep, nanosleep and clock_nanosleep park the G on its P's timer
 * heap. glibc's sleep and usleep do not go through nanosleep, so each is hooked.
 * A sleep is a cancellation point. Remaining time is reported as natively (0 after a full
 * sleep; signal interruption of a parked sleep comes with the signal work).
 */
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "hooks/hook.h"
#include "hooks/tid.h"

/*
 * Park until deadline (absolute monotonic ns). Returns 0, or EINTR when a signal sent to the
 * thread interrupted it (its handler has run by then). A cancellation point.
 */
static int
sleep_until(int64_t deadline)
{
    uint32_t word = 0;
    int r;

    gr_hook_testcancel();
    if (deadline <= gr_nanotime()) {
        gr_yield();
        return 0;
    }
    /* A futex wait on a private word nobody wakes: a deadline, a signal or a cancel ends it. */
    while ((r = gr_futex_wait(&word, 0, ~0u, deadline, GR_WQ_CANCEL | GR_WQ_SIGNAL, "sleep")) !=
           -ETIMEDOUT) {
        if (r == -EINTR)
            return EINTR;
        gr_hook_testcancel();
    }
    return 0;
}

static void
remaining(int64_t deadline, struct timespec *rem)
{
    int64_t left = deadline - gr_nanotime();

    if (rem == NULL)
        return;
    if (left < 0)
        left = 0;
    rem->tv_sec = left / GR_NSEC_PER_SEC;
    rem->tv_nsec = left % GR_NSEC_PER_SEC;
}

/*
 * A sleep on another G's CPU clock: until that G has run to the time asked. Its CPU time
 * grows no faster than the wall clock, so each wait lasts what is still missing, then looks
 * again. A G that exits stops its clock: the sleep lasts until a signal, as the kernel's.
 */
static int
cpuclock_sleep(clockid_t clock, struct g *gp, int flags, const struct timespec *req,
               struct timespec *rem)
{
    int64_t want = req->tv_sec * GR_NSEC_PER_SEC + req->tv_nsec, now = gr_g_cputime(gp);
    int err;

    gr_g_release(gp);
    if (!(flags & TIMER_ABSTIME))
        want += now;
    for (;;) {
        if (now >= want)
            return 0;
        err = sleep_until(gr_nanotime() + (want - now));
        if (gr_hook_thread_clock(clock, &gp) == GR_CLOCK_G) {
            now = gr_g_cputime(gp);
            gr_g_release(gp);
        }
        if (err == EINTR) {
            if (!(flags & TIMER_ABSTIME) && rem != NULL) {
                int64_t left = now < want ? want - now : 0;
                rem->tv_sec = left / GR_NSEC_PER_SEC;
                rem->tv_nsec = left % GR_NSEC_PER_SEC;
            }
            return EINTR;
        }
    }
}

GR_EXPORT int
clock_nanosleep(clockid_t clock, int flags, const struct timespec *req, struct timespec *rem)
{
    int64_t deadline;
    int err;

    if (gr_hook_g() == NULL)
        return gr_real.clock_nanosleep(clock, flags, req, rem);
    if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) {
        struct g *gp;
        switch (gr_hook_thread_clock(clock, &gp)) {
        case GR_CLOCK_SELF:
            return EINVAL; /* one's own CPU clock: as glibc and the kernel */
        case GR_CLOCK_G:
            if (req->tv_nsec < 0 || req->tv_nsec >= GR_NSEC_PER_SEC || req->tv_sec < 0) {
                gr_g_release(gp);
                return EINVAL;
            }
            return cpuclock_sleep(clock, gp, flags, req, rem);
        default:
            /* Other clocks (boot time, a process's CPU time) sleep in the kernel. */
            gr_entersyscall();
            err = gr_real.clock_nanosleep(clock, flags, req, rem);
            gr_exitsyscall();
            return err;
        }
    }
    if (req->tv_nsec < 0 || req->tv_nsec >= GR_NSEC_PER_SEC || req->tv_sec < 0)
        return EINVAL;
    if (flags & TIMER_ABSTIME)
        err = gr_hook_deadline(clock, req, &deadline);
    else
        err = gr_hook_deadline_rel(req, &deadline);
    if (err != 0)
        return err;
    err = sleep_until(deadline);
    if (err == EINTR && !(flags & TIMER_ABSTIME))
        remaining(deadline, rem);
    return err;
}

GR_EXPORT int
nanosleep(const struct timespec *req, struct timespec *rem)
{
    int err;

    if (gr_hook_g() == NULL)
        return gr_real.nanosleep(req, rem);
    err = clock_nanosleep(CLOCK_MONOTONIC, 0, req, rem);
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}

GR_EXPORT int
usleep(useconds_t usec)
{
    struct timespec ts = { usec / 1000000, (long)(usec % 1000000) * 1000 };

    if (gr_hook_g() == NULL)
        return gr_real.usleep(usec);
    return nanosleep(&ts, NULL);
}

GR_EXPORT unsigned
sleep(unsigned sec)
{
    struct timespec ts = { sec, 0 }, rem = { 0, 0 };

    if (gr_hook_g() == NULL)
        return gr_real.sleep(sec);
    if (nanosleep(&ts, &rem) == 0)
        return 0;
    /* Interrupted: the seconds left, rounded up as glibc does. */
    return (unsigned)rem.tv_sec + (rem.tv_nsec > 0);
}
