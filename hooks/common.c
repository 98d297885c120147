/*
 * hooks/common.c: helpers shared by the hook families (hook.h).
 *
 * Locks: none.
 */
#include "hooks/hook.h"

#include <pthread.h>

int
gr_hook_deadline(clockid_t clock, const struct timespec *abstime, int64_t *deadline)
{
    int64_t t, now;

    if (abstime == NULL) {
        *deadline = -1;
        return 0;
    }
    if (abstime->tv_nsec < 0 || abstime->tv_nsec >= GR_NSEC_PER_SEC)
        return EINVAL;
    t = abstime->tv_sec * GR_NSEC_PER_SEC + abstime->tv_nsec;
    if (abstime->tv_sec < 0)
        t = 0;
    switch (clock) {
    case CLOCK_MONOTONIC:
        *deadline = t;
        return 0;
    case CLOCK_REALTIME:
        /* Realtime deadlines are converted once; later clock jumps are not followed. */
        now = gr_walltime();
        *deadline = gr_nanotime() + (t > now ? t - now : 0);
        return 0;
    default:
        return EINVAL;
    }
}

int
gr_hook_deadline_rel(const struct timespec *rel, int64_t *deadline)
{
    if (rel == NULL) {
        *deadline = -1;
        return 0;
    }
    if (rel->tv_nsec < 0 || rel->tv_nsec >= GR_NSEC_PER_SEC || rel->tv_sec < 0)
        return EINVAL;
    *deadline = gr_nanotime() + rel->tv_sec * GR_NSEC_PER_SEC + rel->tv_nsec;
    return 0;
}

void
gr_hook_testcancel(void)
{
    /* glibc's own pthread_testcancel, on the G's descriptor, unwinds to g_entry. */
    gr_cancel_test();
}
