/*
 * hooks/once.c: pthread_once, whose glibc version blocks the OS thread in a futex wait while
 * the G running the init routine may be parked.
 *
 * The control word keeps glibc's encoding, so a control that glibc completed stays meaningful:
 *   0                          not run (__PTHREAD_ONCE_INIT)
 *   ONCE_INPROGRESS | pid << 2 the init routine runs in process pid
 *   ONCE_DONE (2)              done; every later call returns at once
 * glibc likewise keeps a fork generation above the two low bits: an in-progress stamp of
 * another process was inherited through fork from a thread that does not exist here, so it is
 * taken over, as glibc does.
 *
 * Callers that find the routine in progress park on the control word (gr_futex_wait), and are
 * woken when it is done or reset. If the routine is cancelled, the cleanup handler resets the
 * control to 0 and wakes them, and one of them runs the routine. The wait is not a
 * cancellation point; a signal runs its handler and the wait resumes.
 *
 * This file is built without -fexceptions, so glibc's cleanup macros take their setjmp form,
 * which runs on cancellation but not for a C++ exception thrown by the routine (the control
 * then stays in progress); built with -fexceptions they cover both.
 */
#include <limits.h>
#include <pthread.h>

#include "hooks/hook.h"

#define ONCE_INPROGRESS 1
#define ONCE_DONE       2
#define ONCE_PID_SHIFT  2

static inline uint32_t *
word(pthread_once_t *ctl)
{
    return (uint32_t *)ctl;
}

/* Cleanup handler: the routine was cancelled; let the next caller run it. */
static void
once_reset(void *arg)
{
    pthread_once_t *ctl = arg;

    gr_raw_store_release(ctl, 0);
    gr_futex_wake(word(ctl), INT_MAX, ~0u);
}

static __attribute__((noinline)) int
once_slow(pthread_once_t *ctl, void (*init_routine)(void))
{
    int stamp = ONCE_INPROGRESS | (gr_sys_getpid() << ONCE_PID_SHIFT);

    for (;;) {
        int v = gr_raw_load_acquire(ctl);

        if (v & ONCE_DONE)
            return 0;
        if (v == stamp) {
            gr_futex_wait(word(ctl), (uint32_t)v, ~0u, -1, GR_WQ_SIGNAL, "once");
            continue;
        }
        /* Not run, or a stamp inherited through fork: claim it. */
        if (gr_raw_cas_acquire(ctl, &v, stamp))
            break;
    }
    pthread_cleanup_push(once_reset, ctl);
    init_routine();
    pthread_cleanup_pop(0);
    /* Pairs with the acquire loads of later callers: they see what the routine wrote. */
    gr_raw_store_release(ctl, ONCE_DONE);
    gr_futex_wake(word(ctl), INT_MAX, ~0u);
    return 0;
}

GR_EXPORT int
pthread_once(pthread_once_t *ctl, void (*init_routine)(void))
{
    if (gr_hook_native())
        return gr_real.pthread_once(ctl, init_routine);
    if (gr_raw_load_acquire(ctl) & ONCE_DONE)
        return 0;
    return once_slow(ctl, init_routine);
}
