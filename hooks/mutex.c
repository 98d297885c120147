/*
 * hooks/mutex.c: pthread mutexes on the wait table.
 *
 * The user's pthread_mutex_t keeps glibc's size and static initializers; the runtime owns its
 * fields (glibc's names):
 *   __lock   state: LOCKED, WAITERS (a waiter may be queued), OWNERDEAD, NOTRECOVERABLE in
 *            the low bits; a priority-protect mutex's ceiling in bits 19-31, as glibc keeps
 *            it (so glibc's pthread_mutex_getprioceiling reads it unchanged)
 *   __owner  id of the holder (the descriptor's tid: a G's fake tid), for every type
 *   __count  recursion depth of a recursive mutex
 *   __kind   glibc's encoding: type in the low bits, 16 = robust, 32 = priority-inherit,
 *            64 = priority-protect, 128 = process-shared
 *   __list   links of the robust mutexes a G holds
 * Process-shared mutexes belong to glibc and go to the real functions; a lock that would
 * block waits in syscall mode, its P handed on at once (shared_lock).
 *
 * Lock: one CAS from 0. Otherwise spin briefly (multiprocessor only), then queue on the
 * wait table with WAITERS set under the bucket lock. Unlock: one CAS back to 0; with WAITERS
 * set, dequeue the oldest waiter under the bucket lock. Normally the lock is released and the
 * waiter competes for it (barging keeps throughput high); once the oldest waiter has waited
 * more than 1 ms the lock is handed to it directly and stays locked across the handoff, so no
 * waiter starves (Go's sync.Mutex starvation mode). A woken waiter that loses the race
 * re-queues at the front. Waiters queue by real-time priority first (sema.c), so the one
 * woken is the highest, as the kernel would pick.
 *
 * Priority protocols (glibc's, nptl/pthread_mutex_lock.c): a priority-protect mutex raises
 * its holder to its ceiling for as long as it is held (runtime/wire.c counts the ceilings a
 * G holds; a G under SCHED_FIFO or SCHED_RR is wired to its OS thread, which the kernel then
 * runs at the ceiling), and refuses (EINVAL) a thread whose own priority is above the
 * ceiling, or that is not real-time at all, whose policy has no priority to raise: glibc's
 * own answer. pthread_mutex_setprioceiling locks the mutex without the protocol to change
 * the ceiling. A priority-inherit mutex keeps its kind and orders its waiters by priority;
 * its holder is not boosted.
 */
#include "hooks/mutex.h"

#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <string.h>

#include "hooks/hook.h"

#define M_LOCKED    1u
#define M_WAITERS   2u
#define M_OWNERDEAD 4u
#define M_NOTREC    8u

#define KIND_TYPE_MASK 3
#define KIND_ROBUST    16
#define KIND_PI        32 /* glibc's PTHREAD_MUTEX_PRIO_INHERIT_NP */
#define KIND_PP        64 /* glibc's PTHREAD_MUTEX_PRIO_PROTECT_NP */
#define KIND_PSHARED   128

#define CEIL_SHIFT 19 /* glibc's PTHREAD_MUTEX_PRIO_CEILING_SHIFT */
#define CEIL_MASK  0xfff80000u

#define SPIN_ROUNDS 4
#define SPIN_PAUSES 30

struct robust_link { /* glibc's __pthread_list_t inside the mutex */
    struct robust_link *prev;
    struct robust_link *next;
};

static inline uint32_t *
state(pthread_mutex_t *m)
{
    return (uint32_t *)&m->__data.__lock;
}

static inline int
kind(const pthread_mutex_t *m)
{
    return gr_raw_load_relaxed(&m->__data.__kind);
}

bool
gr_mutex_is_real(const pthread_mutex_t *m)
{
    return gr_hook_native() || (kind(m) & KIND_PSHARED) != 0;
}

static void
robust_link(pthread_mutex_t *m, struct g *gp)
{
    struct robust_link *l = (struct robust_link *)&m->__data.__list;
    void **head = gr_g_robust_list(gp);

    l->prev = NULL;
    l->next = *head;
    if (l->next != NULL)
        l->next->prev = l;
    *head = l;
}

static void
robust_unlink(pthread_mutex_t *m, struct g *gp)
{
    struct robust_link *l = (struct robust_link *)&m->__data.__list;
    void **head = gr_g_robust_list(gp);

    if (l->prev != NULL)
        l->prev->next = l->next;
    else if (*head == l)
        *head = l->next;
    if (l->next != NULL)
        l->next->prev = l->prev;
    l->prev = l->next = NULL;
}

/* Bookkeeping once the lock is ours. Returns 0, or EOWNERDEAD for a robust mutex. */
static int
acquired(pthread_mutex_t *m, int id)
{
    m->__data.__owner = id;
    m->__data.__count = 1;
    if (kind(m) & KIND_ROBUST) {
        struct g *gp = gr_g_self();
        if (gp != NULL)
            robust_link(m, gp);
        if (gr_raw_load(state(m)) & M_OWNERDEAD)
            return EOWNERDEAD;
    }
    return 0;
}

static bool
try_acquire(uint32_t *st)
{
    uint32_t s = gr_raw_load_relaxed(st);

    while (!(s & (M_LOCKED | M_NOTREC))) {
        if (gr_raw_cas_acquire(st, &s, s | M_LOCKED))
            return true;
    }
    return false;
}

static int
lock_slow(pthread_mutex_t *m, int64_t deadline)
{
    uint32_t *st = state(m);
    struct gr_waiter w;
    bool requeue = false;

    if (gr_nprocs() > 1 && deadline != 0) {
        for (int r = 0; r < SPIN_ROUNDS; r++) {
            if (try_acquire(st))
                return 0;
            for (int i = 0; i < SPIN_PAUSES; i++)
                gr_cpu_relax();
        }
    }
    w.since = 0;
    for (;;) {
        struct gr_bucket *b;
        uint32_t s, r;

        if (try_acquire(st))
            return 0;
        if (gr_raw_load(st) & M_NOTREC)
            return ENOTRECOVERABLE;
        if (deadline == 0)
            return EBUSY;
        b = gr_wq_lock(m);
        s = gr_raw_load(st);
        if (!(s & M_LOCKED)) {
            gr_wq_unlock(b);
            continue;
        }
        if (!(s & M_WAITERS) && !gr_raw_cas(st, &s, s | M_WAITERS)) {
            gr_wq_unlock(b);
            continue;
        }
        if (w.since == 0)
            w.since = gr_nanotime();
        gr_wq_push(b, &w, m, requeue);
        r = gr_wq_wait(b, &w, deadline, GR_WQ_SIGNAL, "mutex", NULL, NULL);
        if (r == GR_WAKE_HANDOFF)
            return 0;
        if (r == GR_WAKE_TIMEOUT)
            return ETIMEDOUT;
        requeue = true;
    }
}

static inline int
ceiling(pthread_mutex_t *m)
{
    return (int)(gr_raw_load_relaxed(state(m)) >> CEIL_SHIFT);
}

/*
 * Take a priority-protect mutex: the ceiling check and raise first, then the lock; the raise
 * is undone when the lock is not taken. The ceiling may change while the caller waits (its
 * holder's pthread_mutex_setprioceiling): the count follows it.
 */
static int
lock_protected(pthread_mutex_t *m, int64_t deadline, int id)
{
    int c = ceiling(m), err;
    uint32_t s;

    if (gr_tpp_current_priority() > c)
        return EINVAL;
    err = -gr_tpp_change(-1, c);
    if (err != 0)
        return err;
    s = gr_raw_load_relaxed(state(m));
    if ((s & (M_LOCKED | M_NOTREC)) != 0 || !gr_raw_cas_acquire(state(m), &s, s | M_LOCKED))
        err = lock_slow(m, deadline);
    if (err != 0) {
        gr_tpp_change(c, -1);
        return err;
    }
    if (ceiling(m) != c)
        gr_tpp_change(c, ceiling(m));
    return acquired(m, id);
}

int
gr_mutex_lock(pthread_mutex_t *m, int64_t deadline)
{
    int k = kind(m), id = gr_tls_self_id(), err;
    uint32_t zero = 0;

    if ((k & KIND_TYPE_MASK) != PTHREAD_MUTEX_NORMAL &&
        (gr_raw_load_relaxed(state(m)) & M_LOCKED) && m->__data.__owner == id) {
        if ((k & KIND_TYPE_MASK) == PTHREAD_MUTEX_RECURSIVE) {
            if (m->__data.__count + 1 == 0)
                return EAGAIN;
            m->__data.__count++;
            return 0;
        }
        if ((k & KIND_TYPE_MASK) == PTHREAD_MUTEX_ERRORCHECK || (k & KIND_ROBUST))
            return deadline == 0 ? EBUSY : EDEADLK;
    }
    if (k & KIND_PP)
        return lock_protected(m, deadline, id);
    if (!gr_raw_cas_acquire(state(m), &zero, M_LOCKED)) {
        err = lock_slow(m, deadline);
        if (err != 0)
            return err;
    }
    return acquired(m, id);
}

/* Release the lock word; wakes or hands off to the oldest waiter. Context: any stack. */
static void
unlock_word(pthread_mutex_t *m, uint32_t keep)
{
    uint32_t *st = state(m);
    uint32_t expect;
    struct gr_bucket *b;
    struct gr_waiter *w;

    /* A ceiling changes only under the lock (pthread_mutex_setprioceiling): keep it. */
    keep |= gr_raw_load_relaxed(st) & CEIL_MASK;
    expect = M_LOCKED | keep;
    if (gr_raw_cas_release(st, &expect, keep))
        return;
    b = gr_wq_lock(m);
    w = gr_wq_first(b, m);
    if (w == NULL) {
        gr_raw_store(st, keep);
    } else {
        uint32_t waiters = w->next != NULL ? M_WAITERS : 0;
        if (gr_nanotime() - w->since > GR_HOOK_STARVE_NS && !(keep & M_NOTREC)) {
            gr_raw_store(st, M_LOCKED | waiters | keep);
            gr_wq_wake(b, w, GR_WAKE_HANDOFF);
        } else {
            gr_raw_store(st, waiters | keep);
            gr_wq_wake(b, w, GR_WAKE_NORMAL);
        }
    }
    gr_wq_unlock(b);
}

/* Wake every waiter: the mutex became unrecoverable. */
static void
wake_all(pthread_mutex_t *m)
{
    struct gr_bucket *b = gr_wq_lock(m);
    struct gr_waiter *w;

    while ((w = gr_wq_first(b, m)) != NULL)
        gr_wq_wake(b, w, GR_WAKE_NORMAL);
    gr_wq_unlock(b);
}

int
gr_mutex_unlock(pthread_mutex_t *m)
{
    int k = kind(m);
    uint32_t s = gr_raw_load_relaxed(state(m));
    uint32_t keep = 0;

    if ((k & KIND_TYPE_MASK) != PTHREAD_MUTEX_NORMAL || (k & KIND_ROBUST)) {
        if (!(s & M_LOCKED) || m->__data.__owner != gr_tls_self_id())
            return EPERM;
        if ((k & KIND_TYPE_MASK) == PTHREAD_MUTEX_RECURSIVE && --m->__data.__count != 0)
            return 0;
    }
    if (k & KIND_ROBUST) {
        struct g *gp = gr_g_self();
        if (gp != NULL)
            robust_unlink(m, gp);
        if (s & M_OWNERDEAD)
            keep = M_NOTREC; /* unlocked without pthread_mutex_consistent */
    }
    m->__data.__owner = 0;
    m->__data.__count = 0;
    unlock_word(m, keep);
    if (keep & M_NOTREC)
        wake_all(m);
    if (k & KIND_PP)
        gr_tpp_change(ceiling(m), -1); /* after the unlock, as glibc */
    return 0;
}

int
gr_mutex_check_owner(pthread_mutex_t *m)
{
    int k = kind(m);

    if ((k & KIND_TYPE_MASK) == PTHREAD_MUTEX_NORMAL && !(k & KIND_ROBUST))
        return 0;
    if (!(gr_raw_load_relaxed(state(m)) & M_LOCKED) || m->__data.__owner != gr_tls_self_id())
        return EPERM;
    return 0;
}

unsigned
gr_mutex_release(pthread_mutex_t *m, struct g *owner)
{
    unsigned count = m->__data.__count;

    if ((kind(m) & KIND_ROBUST) && owner != NULL)
        robust_unlink(m, owner);
    m->__data.__owner = 0;
    m->__data.__count = 0;
    unlock_word(m, gr_raw_load_relaxed(state(m)) & M_OWNERDEAD);
    if (kind(m) & KIND_PP)
        gr_tpp_change(ceiling(m), -1); /* waiting, the caller is no longer raised (glibc) */
    return count;
}

int
gr_mutex_reacquire(pthread_mutex_t *m, unsigned count)
{
    uint32_t zero = 0;
    int err = 0, id = gr_tls_self_id();

    if (kind(m) & KIND_PP) {
        err = lock_protected(m, -1, id);
    } else {
        if (!gr_raw_cas_acquire(state(m), &zero, M_LOCKED))
            err = lock_slow(m, -1);
        if (err == 0)
            err = acquired(m, id);
    }
    if (err != 0 && err != EOWNERDEAD)
        return err;
    m->__data.__count = count == 0 ? 1 : count;
    return err;
}

/* At G exit: every robust mutex it still holds becomes owner-dead and is released. */
static void
owner_died(struct g *gp)
{
    void **head = gr_g_robust_list(gp);

    while (*head != NULL) {
        struct robust_link *l = *head;
        pthread_mutex_t *m =
            (pthread_mutex_t *)((char *)l - offsetof(struct __pthread_mutex_s, __list));
        robust_unlink(m, gp);
        gr_raw_fetch_or(state(m), M_OWNERDEAD);
        m->__data.__owner = 0;
        m->__data.__count = 0;
        unlock_word(m, M_OWNERDEAD);
    }
}

__attribute__((constructor)) static void
mutex_init_hooks(void)
{
    gr_on_gexit(owner_died);
}

/* ---- The interposed functions. */

/*
 * A process-shared mutex is glibc's, and so is its wait, a futex wait no hook sees: try it
 * first, and wait only in syscall mode with the P handed on at once, so that however many
 * threads wait on such mutexes the other Gs keep running.
 */
static int
shared_lock(pthread_mutex_t *m)
{
    int err;

    if (gr_hook_g() == NULL)
        return gr_real.pthread_mutex_lock(m);
    err = gr_real.pthread_mutex_trylock(m);
    if (err != EBUSY)
        return err;
    GR_HOOK_IN_SYSCALL_BLOCK(int, gr_real.pthread_mutex_lock(m));
}

/* The same for the timed variants (clocked: pthread_mutex_clocklock, which checks its clock
 * before anything else). */
static int
shared_timedlock(pthread_mutex_t *m, clockid_t clock, const struct timespec *abstime, bool clocked)
{
    int err;

    if (gr_hook_g() != NULL && (clock == CLOCK_REALTIME || clock == CLOCK_MONOTONIC)) {
        err = gr_real.pthread_mutex_trylock(m);
        if (err != EBUSY)
            return err;
        if (clocked)
            GR_HOOK_IN_SYSCALL_BLOCK(int, gr_real.pthread_mutex_clocklock(m, clock, abstime));
        GR_HOOK_IN_SYSCALL_BLOCK(int, gr_real.pthread_mutex_timedlock(m, abstime));
    }
    if (clocked)
        return gr_real.pthread_mutex_clocklock(m, clock, abstime);
    return gr_real.pthread_mutex_timedlock(m, abstime);
}

GR_EXPORT int
pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *attr)
{
    int type = PTHREAD_MUTEX_NORMAL, pshared = PTHREAD_PROCESS_PRIVATE;
    int robust = PTHREAD_MUTEX_STALLED, protocol = PTHREAD_PRIO_NONE, ceil = 0;

    if (gr_hook_native())
        return gr_real.pthread_mutex_init(m, attr);
    if (attr != NULL) {
        pthread_mutexattr_gettype(attr, &type);
        pthread_mutexattr_getpshared(attr, &pshared);
        pthread_mutexattr_getrobust(attr, &robust);
        pthread_mutexattr_getprotocol(attr, &protocol);
        /* glibc's: the attribute's ceiling, or SCHED_FIFO's lowest priority when unset. */
        pthread_mutexattr_getprioceiling(attr, &ceil);
    }
    if (pshared == PTHREAD_PROCESS_SHARED)
        return gr_real.pthread_mutex_init(m, attr);
    /* glibc has no robust priority-protect mutexes. */
    if (protocol == PTHREAD_PRIO_PROTECT && robust == PTHREAD_MUTEX_ROBUST)
        return ENOTSUP;
    memset(m, 0, sizeof(*m));
    m->__data.__kind = (type & KIND_TYPE_MASK) | (robust == PTHREAD_MUTEX_ROBUST ? KIND_ROBUST : 0);
    if (protocol == PTHREAD_PRIO_INHERIT)
        m->__data.__kind |= KIND_PI;
    if (protocol == PTHREAD_PRIO_PROTECT) {
        m->__data.__kind |= KIND_PP;
        m->__data.__lock = (int)((uint32_t)ceil << CEIL_SHIFT);
    }
    return 0;
}

GR_EXPORT int
pthread_mutex_destroy(pthread_mutex_t *m)
{
    if (gr_mutex_is_real(m))
        return gr_real.pthread_mutex_destroy(m);
    if (gr_raw_load(state(m)) & M_LOCKED)
        return EBUSY;
    return 0;
}

GR_EXPORT int
pthread_mutex_lock(pthread_mutex_t *m)
{
    uint32_t zero = 0;

    if (gr_mutex_is_real(m))
        return shared_lock(m);
    /* Fast path for the common case: a normal mutex, free. */
    if (kind(m) == PTHREAD_MUTEX_NORMAL && gr_raw_cas_acquire(state(m), &zero, M_LOCKED))
        return 0;
    return gr_mutex_lock(m, -1);
}

GR_EXPORT int
pthread_mutex_trylock(pthread_mutex_t *m)
{
    if (gr_mutex_is_real(m))
        return gr_real.pthread_mutex_trylock(m);
    return gr_mutex_lock(m, 0);
}

GR_EXPORT int
pthread_mutex_clocklock(pthread_mutex_t *m, clockid_t clock, const struct timespec *abstime)
{
    int64_t deadline;
    int err;

    if (gr_mutex_is_real(m))
        return shared_timedlock(m, clock, abstime, true);
    err = gr_mutex_lock(m, 0);
    if (err != EBUSY)
        return err;
    err = gr_hook_deadline(clock, abstime, &deadline);
    if (err != 0)
        return err;
    if (deadline <= gr_nanotime())
        return ETIMEDOUT;
    return gr_mutex_lock(m, deadline);
}

GR_EXPORT int
pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *abstime)
{
    if (gr_mutex_is_real(m))
        return shared_timedlock(m, CLOCK_REALTIME, abstime, false);
    return pthread_mutex_clocklock(m, CLOCK_REALTIME, abstime);
}

GR_EXPORT int
pthread_mutex_unlock(pthread_mutex_t *m)
{
    uint32_t locked = M_LOCKED;

    if (gr_mutex_is_real(m))
        return gr_real.pthread_mutex_unlock(m);
    if (kind(m) == PTHREAD_MUTEX_NORMAL) {
        m->__data.__owner = 0;
        if (gr_raw_cas_release(state(m), &locked, 0))
            return 0;
    }
    return gr_mutex_unlock(m);
}

GR_EXPORT int
pthread_mutex_consistent(pthread_mutex_t *m)
{
    if (gr_mutex_is_real(m))
        return gr_real.pthread_mutex_consistent(m);
    if (!(kind(m) & KIND_ROBUST) || !(gr_raw_load(state(m)) & M_OWNERDEAD) ||
        m->__data.__owner != gr_tls_self_id())
        return EINVAL;
    gr_raw_fetch_and(state(m), ~M_OWNERDEAD);
    return 0;
}

/* glibc's header redirects the _np name to pthread_mutex_consistent; old binaries still
 * reference the _np symbol itself. */
int consistent_np(pthread_mutex_t *m) __asm__("pthread_mutex_consistent_np");

GR_EXPORT int
consistent_np(pthread_mutex_t *m)
{
    return pthread_mutex_consistent(m);
}

/* *p = v unless p is NULL (glibc's header says it never is; glibc's code checks). */
static void
store_if(int *p, int v)
{
    if (p != NULL)
        *p = v;
}

/*
 * The ceiling of a priority-protect mutex, changed under the lock taken without the protocol
 * (glibc's order of checks); a recursive mutex the caller holds already moves its raise to
 * the new ceiling. pthread_mutex_getprioceiling is glibc's own: the ceiling is where glibc
 * keeps it.
 */
GR_EXPORT int
pthread_mutex_setprioceiling(pthread_mutex_t *m, int prioceiling, int *old_ceiling)
{
    int k, old, err;
    bool locked = false;
    uint32_t *st = state(m), s;

    if (gr_mutex_is_real(m))
        return gr_real.pthread_mutex_setprioceiling(m, prioceiling, old_ceiling);
    k = kind(m);
    if (!(k & KIND_PP))
        return EINVAL;
    if (prioceiling < sched_get_priority_min(SCHED_FIFO) ||
        prioceiling > sched_get_priority_max(SCHED_FIFO))
        return EINVAL;
    if ((gr_raw_load_relaxed(st) & M_LOCKED) && m->__data.__owner == gr_tls_self_id()) {
        if ((k & KIND_TYPE_MASK) == PTHREAD_MUTEX_ERRORCHECK)
            return EDEADLK;
        locked = (k & KIND_TYPE_MASK) == PTHREAD_MUTEX_RECURSIVE;
    }
    if (!locked && !try_acquire(st))
        lock_slow(m, -1);
    old = ceiling(m);
    if (locked) {
        err = -gr_tpp_change(old, prioceiling);
        if (err != 0)
            return err;
    }
    store_if(old_ceiling, old);
    s = gr_raw_load_relaxed(st);
    while (!gr_raw_cas(st, &s, (s & ~CEIL_MASK) | ((uint32_t)prioceiling << CEIL_SHIFT)))
        ;
    if (!locked)
        unlock_word(m, 0);
    return 0;
}
