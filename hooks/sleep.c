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
#include "runtime/sema.h"

/* Park until deadline (absolute monotonic ns). 0, or ECANCELED-style unwinding. */
static void
sleep_until(int64_t deadline)
{
    uint32_t word = 0;

    gr_hook_testcancel();
    if (deadline <= gr_nanotime()) {
        gr_yield();
        return;
    }
    /* A futex wait on a private word nobody wakes: only the deadline or a cancel ends it. */
    while (gr_futex_wait(&word, 0, ~0u, deadline, GR_WQ_CANCEL) == -ECANCELED)
        gr_hook_testcancel();
}

GR_EXPORT int
clock_nanosleep(clockid_t clock, int flags, const struct timespec *req, struct timespec *rem)
{
    int64_t deadline;
    int err;

    if (gr_hook_g() == NULL)
        return gr_real.clock_nanosleep(clock, flags, req, rem);
    if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC)
        return gr_real.clock_nanosleep(clock, flags, req, rem);
    if (req->tv_nsec < 0 || req->tv_nsec >= GR_NSEC_PER_SEC || req->tv_sec < 0)
        return EINVAL;
    if (flags & TIMER_ABSTIME)
        err = gr_hook_deadline(clock, req, &deadline);
    else
        err = gr_hook_deadline_rel(req, &deadline);
    if (err != 0)
        return err;
    sleep_until(deadline);
    return 0;
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
    struct timespec ts = { sec, 0 };

    if (gr_hook_g() == NULL)
        return gr_real.sleep(sec);
    nanosleep(&ts, NULL);
    return 0;
}
