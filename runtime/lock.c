/*
 * runtime/lock.c: slow paths of gr_mutex and gr_note, on private futexes, and the rank
 * checks of debug builds.
 *
 * gr_mutex is the classic three-state futex lock: a waiter marks the word 2 before sleeping,
 * so an unlock that sees 2 knows it must wake one sleeper. A short spin first keeps the M out
 * of the kernel for the brief critical sections the runtime holds.
 *
 * Held locks (debug builds) are kept per M in m->locks, since locks belong to the OS thread:
 * a lock taken on a G and released on g0 (gr_park's unlockf) stays with the M. A thread that
 * is not an M (gr_curg NULL: before boot, threads glibc made) keeps them in its own TLS.
 * boot_lock is not tracked: its holder turns from the initial thread into M0 while it holds
 * it.
 *
 * Locks: none of its own.
 */
#include "runtime/lock.h"

#include <errno.h>

#include "runtime/arch.h"
#include "runtime/atomic.h"
#include "runtime/debug.h"
#include "runtime/sched.h"
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
    /* Mark the lock contended; whoever unlocks it next will wake us. An M says it sleeps
     * here, so that sysmon starts no spare P for it (sysmon.c). */
    struct m *mp = gr_curg != NULL ? gr_getm() : NULL;
    if (mp != NULL)
        gr_store_relaxed(&mp->lockwait, 1);
    while (gr_xchg_acquire(&l->state, 2) != 0)
        gr_sys_futex_wait(gr_atomic_word(&l->state), 2, -1);
    if (mp != NULL)
        gr_store_relaxed(&mp->lockwait, 0);
}

void
gr_unlock_slow(struct gr_mutex *l)
{
    gr_sys_futex_wake(gr_atomic_word(&l->state), 1);
}

/*
 * A note has one sleeper. It announces itself (0 -> 2) before it enters the kernel, so a
 * wakeup calls futex_wake only for a sleeper that may be there: an idle M woken on its way to
 * sleep (the common case when Gs are created or readied one at a time) costs no system call
 * on either side, where the two-state note cost a wake and a futex_wait failing with EAGAIN.
 */
bool
gr_note_sleep(struct gr_note *n, int64_t deadline)
{
    uint32_t v = 0;

    /* Acquire pairs with the release in wakeup; v != 0 is 1 (one sleeper per note). */
    if (!gr_cas_acquire(&n->key, &v, 2))
        return true;
    for (;;) {
        int r = gr_sys_futex_wait(gr_atomic_word(&n->key), 2, deadline);
        if (gr_load_acquire(&n->key) == 1)
            return true;
        if (r == -ETIMEDOUT) {
            v = 2;
            return !gr_cas(&n->key, &v, 0); /* failed: woken at the deadline */
        }
    }
}

void
gr_backoff(int spins)
{
    if (spins < 100)
        gr_cpu_relax();
    else
        gr_sys_sched_yield();
}

bool
gr_note_watch(struct gr_note *n, int64_t ns)
{
    int64_t until = gr_nanotime() + ns;

    do {
        for (int i = 0; i < 16; i++) {
            if (gr_load_acquire(&n->key) == 1) /* pairs with the release in wakeup */
                return true;
            gr_cpu_relax();
        }
    } while (gr_nanotime() < until);
    return false;
}

void
gr_note_wakeup(struct gr_note *n)
{
    if (gr_xchg_release(&n->key, 1) == 2)
        gr_sys_futex_wake(gr_atomic_word(&n->key), 1);
}

void
gr_note_clear(struct gr_note *n)
{
    gr_store_relaxed(&n->key, 0);
}

/* ---- Ranks (debug builds). */

static __thread struct gr_lockstack thread_locks __attribute__((tls_model("initial-exec")));

static const char *const rank_names[] = {
    [GR_RANK_NONE] = "none",
    [GR_RANK_BOOT] = "boot",
    [GR_RANK_SIGACTION] = "sigaction",
    [GR_RANK_NETPOLL_INIT] = "netpoll-init",
    [GR_RANK_FDTAB_GROW] = "fdtab-grow",
    [GR_RANK_POLLDESC] = "polldesc",
    [GR_RANK_SEMA] = "sema",
    [GR_RANK_TIMERS] = "timers",
    [GR_RANK_SCHED] = "sched",
    [GR_RANK_GLOCK] = "glock",
    [GR_RANK_STACKPOOL] = "stackpool",
    [GR_RANK_SIGREC] = "sigrec",
    [GR_RANK_MCACHE] = "mcache",
    [GR_RANK_MCENTRAL] = "mcentral",
    [GR_RANK_MHEAP] = "mheap",
    [GR_RANK_MEM] = "mem",
    [GR_RANK_LEAF] = "leaf",
};

/* The calling thread's held locks. gr_curg is non-NULL exactly on an M's blocks (a G's, or
 * g0's own), so GS names the M then; on g0 it may be the previous G's block, whose value is
 * still non-NULL. */
static struct gr_lockstack *
held_locks(void)
{
    return gr_curg != NULL ? &gr_getm()->locks : &thread_locks;
}

static const char *
rank_name(unsigned rank)
{
    return rank < GR_ARRAY_LEN(rank_names) ? rank_names[rank] : "?";
}

void
gr_lock_check(struct gr_mutex *l)
{
    struct gr_lockstack *ls;

    if (l->rank == GR_RANK_BOOT)
        return;
    if (l->rank == GR_RANK_NONE) {
        gr_print("greenrun: lock %p has no rank\n", (void *)l);
        gr_throw("lock without a rank");
    }
    ls = held_locks();
    for (int i = 0; i < ls->n; i++) {
        struct gr_mutex *h = ls->held[i];
        /* Two timer heaps nest in gr_timers_move (a spare's, then a real P's). */
        if (h->rank < l->rank || (h->rank == GR_RANK_TIMERS && l->rank == GR_RANK_TIMERS && h != l))
            continue;
        gr_print("greenrun: lock order: taking %s lock %p while holding %s lock %p\n",
                 rank_name(l->rank), (void *)l, rank_name(h->rank), (void *)h);
        gr_throw("lock ordering problem");
    }
}

void
gr_lock_push(struct gr_mutex *l)
{
    struct gr_lockstack *ls;

    if (l->rank == GR_RANK_BOOT)
        return;
    ls = held_locks();
    if (ls->n == GR_LOCKS_HELD_MAX)
        gr_throw("lock ranks: too many locks held at once");
    ls->held[ls->n++] = l;
}

void
gr_lock_pop(struct gr_mutex *l)
{
    struct gr_lockstack *ls;

    if (l->rank == GR_RANK_BOOT)
        return;
    ls = held_locks();
    for (int i = ls->n - 1; i >= 0; i--) {
        if (ls->held[i] == l) {
            for (int j = i; j < ls->n - 1; j++)
                ls->held[j] = ls->held[j + 1];
            ls->n--;
            return;
        }
    }
    gr_print("greenrun: unlocking %s lock %p, which this thread does not hold\n",
             rank_name(l->rank), (void *)l);
    gr_throw("unlock of a lock not held");
}

bool
gr_lock_held(const struct gr_mutex *l)
{
    struct gr_lockstack *ls;

    if (GR_DEBUG < 1 || l->rank == GR_RANK_BOOT)
        return true;
    ls = held_locks();
    for (int i = 0; i < ls->n; i++)
        if (ls->held[i] == l)
            return true;
    return false;
}

void
gr_lock_assert_none(const char *where)
{
    struct gr_lockstack *ls;

    if (GR_DEBUG < 1)
        return;
    ls = held_locks();
    if (ls->n != 0) {
        gr_print("greenrun: %s with %s lock %p held\n", where, rank_name(ls->held[0]->rank),
                 (void *)ls->held[0]);
        gr_throw("switch with a lock held");
    }
}
