/*
 * hooks/spin.c: pthread spin locks that never livelock a P.
 *
 * glibc's pthread_spin_lock spins inside libc: on one P, a G spinning there while the holder
 * is parked would keep the holder from ever running again. Here a locker spins a bounded
 * number of times, then yields its P (gr_yield) or, on a thread without a G, the CPU.
 *
 * pthread_spin_init and pthread_spin_destroy stay glibc's, so the lock word keeps glibc's
 * encoding, which depends on the architecture: on x86_64 glibc's init stores 1 for unlocked
 * and its lock decrements to 0, while the generic code uses 0 for unlocked and 1 for locked.
 * The unlocked value is probed once with glibc's own pthread_spin_init; the locked value is
 * the other one of 0 and 1. Every lock, trylock and unlock is this file's, so the word holds
 * only those two values. The word is a plain atomic in the user's memory, so process-shared
 * spin locks work the same way.
 */
#include <pthread.h>

#include "hooks/hook.h"

#define SPIN_PAUSES 100

static struct gr_atomic_i32 unlocked_value = { -1 }; /* atomic: glibc's unlocked value, -1
                                                         until probed */

static int
unlocked(void)
{
    int v = gr_load_relaxed(&unlocked_value);

    if (v < 0) {
        pthread_spinlock_t probe;
        pthread_spin_init(&probe, PTHREAD_PROCESS_PRIVATE);
        v = probe;
        gr_store_relaxed(&unlocked_value, v);
    }
    return v;
}

static bool
try_lock(pthread_spinlock_t *l, int free)
{
    int expect = free;

    /* Pairs with the release store in pthread_spin_unlock. */
    return gr_raw_cas_acquire(l, &expect, free ^ 1);
}

GR_EXPORT int
pthread_spin_lock(pthread_spinlock_t *l)
{
    int free;
    bool alone;

    if (gr_hook_native())
        return gr_real.pthread_spin_lock(l);
    free = unlocked();
    if (try_lock(l, free))
        return 0;
    /* A G on the only P: a holder that is a G runs only once this one yields (and one that
     * may not park, in a signal handler, spins on its OS thread). */
    alone = gr_parkable_g() != NULL && gr_nprocs() == 1;
    for (;;) {
        for (int i = 0; !alone && i < SPIN_PAUSES; i++) {
            if (gr_raw_load_relaxed(l) == free && try_lock(l, free))
                return 0;
            gr_cpu_relax();
        }
        if (gr_parkable_g() != NULL) {
            gr_yield();
            gr_cancel_async_point(); /* a spinner with asynchronous cancel stops here */
        } else {
            gr_sys_sched_yield();
        }
        if (gr_raw_load_relaxed(l) == free && try_lock(l, free))
            return 0;
    }
}

GR_EXPORT int
pthread_spin_trylock(pthread_spinlock_t *l)
{
    if (gr_hook_native())
        return gr_real.pthread_spin_trylock(l);
    return try_lock(l, unlocked()) ? 0 : EBUSY;
}

GR_EXPORT int
pthread_spin_unlock(pthread_spinlock_t *l)
{
    if (gr_hook_native())
        return gr_real.pthread_spin_unlock(l);
    gr_raw_store_release(l, unlocked());
    return 0;
}
