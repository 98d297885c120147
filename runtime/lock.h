/*
 * runtime/lock.h: the runtime's own mutex and one-shot note.
 *
 * gr_mutex blocks the M (and so its P) while it waits: hold it only for short critical sections
 * and never across a park or a context switch, except the one lock gr_park() releases on g0.
 * gr_note is a one-shot event an M sleeps on (Go's note): sleep, wakeup, clear.
 */
#ifndef GR_RUNTIME_LOCK_H
#define GR_RUNTIME_LOCK_H

#include <stdbool.h>
#include <stdint.h>

struct gr_mutex {
    uint32_t state;        /* atomic: 0 free, 1 locked, 2 locked with sleepers */
};

#define GR_MUTEX_INIT { 0 }

void gr_lock_slow(struct gr_mutex *l);
void gr_unlock_slow(struct gr_mutex *l);

static inline void
gr_lock(struct gr_mutex *l)
{
    uint32_t zero = 0;

    if (!__atomic_compare_exchange_n(&l->state, &zero, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        gr_lock_slow(l);
}

static inline bool
gr_trylock(struct gr_mutex *l)
{
    uint32_t zero = 0;

    return __atomic_compare_exchange_n(&l->state, &zero, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

static inline void
gr_unlock(struct gr_mutex *l)
{
    if (__atomic_exchange_n(&l->state, 0, __ATOMIC_RELEASE) == 2)
        gr_unlock_slow(l);
}

struct gr_note {
    uint32_t key;          /* atomic: 0 clear, 1 woken */
};

/* Sleep until woken or until deadline (absolute monotonic ns, -1 = none). True if woken. */
bool gr_note_sleep(struct gr_note *n, int64_t deadline);
void gr_note_wakeup(struct gr_note *n);
void gr_note_clear(struct gr_note *n);

#endif /* GR_RUNTIME_LOCK_H */
