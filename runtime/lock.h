/*
 * runtime/lock.h: the runtime's own mutex, with ranks, and the one-shot note.
 *
 * gr_mutex blocks the M (and so its P) while it waits: hold it only for short critical sections
 * and never across a park or a context switch, except the one lock gr_park()'s unlockf takes
 * and releases on g0. gr_note is a one-shot event an M sleeps on (Go's note): sleep, wakeup,
 * clear.
 *
 * Lock ranks (Go's lockrank, jemalloc's witness). Every gr_mutex has a rank from the list
 * below; a thread may take a lock only when every lock it holds has a lower rank, so the
 * order of the list is the order in which locks nest, and no two threads can wait for each
 * other. Debug builds (GR_DEBUG >= 1) keep the locks each M holds (each thread that is not an
 * M: in its own TLS) and throw, naming both locks, on an acquisition out of order, on the
 * release of a lock not held, and when a G switches while holding one. Release builds keep
 * only the rank, and check nothing.
 */
#ifndef GR_RUNTIME_LOCK_H
#define GR_RUNTIME_LOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/atomic.h"
#include "runtime/base.h"
#include "runtime/debug.h"

/* Ranks, in the order locks may nest. runtime/HACKING.md explains each. */
enum gr_rank {
    GR_RANK_NONE,         /* a lock nobody gave a rank: a bug, thrown at in debug builds */
    GR_RANK_BOOT,         /* boot.c's boot_lock, held across the boot; not tracked (below) */
    GR_RANK_SIGACTION,    /* the program's dispositions: hooks/signal.c, preempt.c */
    GR_RANK_NETPOLL_INIT, /* netpoll.c's init_lock: creating the poller */
    GR_RANK_FDTAB_GROW,   /* fdtab.c's grow_lock: adding a chunk of descriptor entries */
    GR_RANK_POLLDESC,     /* pd->lock: a descriptor's registration and holds */
    GR_RANK_SEMA,         /* a wait-table bucket; never two at once */
    GR_RANK_TIMERS,       /* a P's timer heap; two only in gr_timers_move, spare's first */
    GR_RANK_SCHED,        /* gr_sched.lock: idle Ps and Ms, the global run queue */
    GR_RANK_GLOCK,        /* gr_sched.glock: the allg list */
    GR_RANK_STACKPOOL,    /* stack.c's pool of stacks */
    GR_RANK_SIGREC,       /* signal.c's interned action records */
    GR_RANK_MCACHE,       /* malloc.c: a shared cache (threads without a P) */
    GR_RANK_MCENTRAL,     /* malloc.c: a size class's central list */
    GR_RANK_MHEAP,        /* heap.c: the page heap and the page map */
    GR_RANK_MEM,          /* mem.c's free lists */
    GR_RANK_LEAF,         /* takes nothing: names, queued signal values, blockrec, modules */
};

struct gr_mutex {
    struct gr_atomic_u32 state; /* atomic: 0 free, 1 locked, 2 locked with sleepers */
    uint16_t rank;              /* immutable: enum gr_rank */
};

/* clang-format off */
#define GR_MUTEX_INIT(r) { .state = { 0 }, .rank = (r) }
/* clang-format on */

/* The locks one thread holds, in the order taken (debug builds). */
#define GR_LOCKS_HELD_MAX 8
struct gr_lockstack {
    struct gr_mutex *held[GR_LOCKS_HELD_MAX];
    int n;
};

/* Give a lock in zeroed memory its rank; in a fork child, free a lock whose holder is gone
 * (the rank stays). */
static inline void
gr_lock_init(struct gr_mutex *l, enum gr_rank rank)
{
    gr_store_relaxed(&l->state, 0);
    l->rank = (uint16_t)rank;
}

static inline void
gr_lock_reset(struct gr_mutex *l)
{
    gr_store_relaxed(&l->state, 0);
}

void gr_lock_slow(struct gr_mutex *l);
void gr_unlock_slow(struct gr_mutex *l);
/* Debug builds: the rank checks of the calls below. */
void gr_lock_check(struct gr_mutex *l);
void gr_lock_push(struct gr_mutex *l);
void gr_lock_pop(struct gr_mutex *l);

static inline void
gr_lock(struct gr_mutex *l)
{
    uint32_t zero = 0;

    if (GR_DEBUG >= 1)
        gr_lock_check(l);
    if (!gr_cas_acquire(&l->state, &zero, 1))
        gr_lock_slow(l);
    if (GR_DEBUG >= 1)
        gr_lock_push(l);
}

/* A try never waits, so it cannot take part in a deadlock: no order check, but the lock
 * counts as held. */
static inline bool
gr_trylock(struct gr_mutex *l)
{
    uint32_t zero = 0;

    if (!gr_cas_acquire(&l->state, &zero, 1))
        return false;
    if (GR_DEBUG >= 1)
        gr_lock_push(l);
    return true;
}

static inline void
gr_unlock(struct gr_mutex *l)
{
    if (GR_DEBUG >= 1)
        gr_lock_pop(l);
    if (gr_xchg_release(&l->state, 0) == 2)
        gr_unlock_slow(l);
}

/*
 * For fork's prepare handlers only: take every lock of a family, in a fixed order, and hold
 * them across fork. Not tracked: there are more than GR_LOCKS_HELD_MAX of them and several
 * share a rank; the fixed order (shared caches, central lists by class, the heap: the order
 * any other thread takes them in) is what keeps it free of deadlock.
 */
static inline void
gr_lock_untracked(struct gr_mutex *l)
{
    uint32_t zero = 0;

    if (!gr_cas_acquire(&l->state, &zero, 1))
        gr_lock_slow(l);
}

static inline void
gr_unlock_untracked(struct gr_mutex *l)
{
    if (gr_xchg_release(&l->state, 0) == 2)
        gr_unlock_slow(l);
}

/* Debug builds: does the calling thread hold l? (Release builds: true.) */
bool gr_lock_held(const struct gr_mutex *l);
/* Debug builds: throw unless the calling thread holds no gr_mutex (before a switch). */
void gr_lock_assert_none(const char *where);

#define GR_ASSERT_HELD(l) GR_ASSERT(gr_lock_held(l))

struct gr_note {
    struct gr_atomic_u32 key; /* atomic: 0 clear, 1 woken, 2 its sleeper is (nearly) asleep */
};

/* Sleep until woken or until deadline (absolute monotonic ns, -1 = none). True if woken. */
bool gr_note_sleep(struct gr_note *n, int64_t deadline);
/* Step spins of waiting for another OS thread's short work (a callback, a tgkill): a pause
 * at first, then sched_yield, since that thread may be the one the kernel put behind this
 * one on the same CPU, and a pure spin would then last a scheduler tick. */
void gr_backoff(int spins);
/* Watch n for about ns without sleeping; true if woken meanwhile (then no sleep is needed). */
bool gr_note_watch(struct gr_note *n, int64_t ns);
void gr_note_wakeup(struct gr_note *n);
void gr_note_clear(struct gr_note *n);

#endif /* GR_RUNTIME_LOCK_H */
