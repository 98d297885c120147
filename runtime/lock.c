/*
 * runtime/lock.c: slow paths of gr_mutex and gr_note, on private futexes.
 *
 * gr_mutex is the classic three-state futex lock: a waiter marks the word 2 before sleeping,
 * so an unlock that sees 2 knows it must wake one sleeper. A short spin first keeps the M out
 * of the kernel for the brief critical sections the runtime holds.
 */
#include "runtime/lock.h"

#include <errno.h>

#include "runtime/arch.h"
#include "runtime/atomic.h"
#include "runtime/sys.h"

#define SPIN_TRIES 100

void
gr_lock_slow(struct gr_mutex *l)
{
    for (int i = 0; i < SPIN_TRIES; i++) {
        uint32_t v = gr_load_relaxed(&l->state);
        if (v == 0 && gr_cas_acquire(&l->state, &v, 1))
            return;
        gr_cpu_relax();
    }
    /* Mark the lock contended; whoever unlocks it next will wake us. */
    while (__atomic_exchange_n(&l->state, 2, __ATOMIC_ACQUIRE) != 0)
        gr_sys_futex_wait(&l->state, 2, -1);
}

void
gr_unlock_slow(struct gr_mutex *l)
{
    gr_sys_futex_wake(&l->state, 1);
}

bool
gr_note_sleep(struct gr_note *n, int64_t deadline)
{
    while (gr_load_acquire(&n->key) == 0) {       /* pairs with the release in wakeup */
        int r = gr_sys_futex_wait(&n->key, 0, deadline);
        if (r == -ETIMEDOUT)
            return gr_load_acquire(&n->key) != 0;
    }
    return true;
}

void
gr_note_wakeup(struct gr_note *n)
{
    if (__atomic_exchange_n(&n->key, 1, __ATOMIC_RELEASE) == 0)
        gr_sys_futex_wake(&n->key, 1);
}

void
gr_note_clear(struct gr_note *n)
{
    gr_store_relaxed(&n->key, 0);
}
