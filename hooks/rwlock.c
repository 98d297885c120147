/*
 * hooks/rwlock.c: reader-writer locks on the wait table.
 *
 * The user's pthread_rwlock_t keeps glibc's 56-byte layout and static initializers; the
 * runtime owns these fields (glibc's names):
 *   __readers     the state word: RW_WRLOCKED, RW_WWAIT, RW_RWAIT and the reader count
 *   __cur_writer  id of the write holder (the descriptor's tid), 0 when none; for EDEADLK
 *   __flags       the kind: PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP (2) prefers writers,
 *                 every other kind prefers readers, as in glibc
 *   __shared      0; glibc stores nonzero for a process-shared lock, which then belongs to
 *                 glibc and goes to the real functions (shared_lock)
 *
 * Readers queue on the key rdkey(rw) (the lock's address), writers on wrkey(rw) (address + 1).
 * The two bucket locks are never held together.
 *
 * Invariants:
 *  - RW_WRLOCKED and a nonzero reader count never coexist.
 *  - RW_RWAIT is set, by CAS from a state that blocks readers, only under the reader bucket
 *    lock, by a reader about to queue; it is cleared only under that lock, by grant_readers()
 *    when it empties the queue. So a queued reader always has RW_RWAIT set.
 *  - RW_WWAIT is set the same way under the writer bucket lock by a writer about to queue, and
 *    cleared only under it when the writer queue is found empty. It stays set while a writer
 *    woken without the lock (to compete, or by a signal) has not yet retried, so that with
 *    writer preference readers do not slip in ahead of it. That writer then queues again, or
 *    acquires the lock (its release calls wake_waiters(), which clears a stale flag), or gives
 *    up (writer_gave_up() clears it).
 *  - Whoever releases the lock while a flag is set, and a writer that gives up its wait, calls
 *    wake_waiters(); a waiter queues only after seeing, under its bucket lock, a state that blocks
 *    it, so the release that unblocks it comes later and takes the same bucket lock to wake it:
 *    no lost wakeups.
 *
 * Granting: queued readers are granted together (the count is raised on their behalf, then
 * they are woken with GR_WAKE_HANDOFF). A writer is woken to compete for the lock, which keeps
 * throughput high; once the oldest writer has waited longer than GR_HOOK_STARVE_NS the lock is
 * taken on its behalf and handed to it, so writers do not starve (hooks/mutex.c does the same).
 * Reader preference: a reader gets in whenever no writer holds the lock, so recursive read
 * locks cannot deadlock. Writer preference: a reader waits while RW_WWAIT is set.
 *
 * A signal sent to a waiting G runs its handler at once; the wait then resumes (rwlock
 * functions never fail with EINTR). A writer so woken counts as in flight, like one woken to
 * compete. An asynchronous cancellation ends a wait: a reader just leaves (a stale RW_RWAIT
 * is cleared by the next grant), a writer gives up first (writer_gave_up), so that readers a
 * writer-preferring lock held back for it get in.
 *
 * Unlocking a lock the caller does not hold is undefined in POSIX (glibc returns 0);
 * here it is EPERM when the lock is free or write-held by another thread. A read hold is not
 * tied to a thread, so an extra unlock while others read still drops one of their holds.
 */
#include <pthread.h>
#include <string.h>

#include "hooks/hook.h"

#define RW_WRLOCKED 0x80000000u /* a writer holds the lock */
#define RW_WWAIT    0x40000000u /* writers may be queued, or one woken is in flight */
#define RW_RWAIT    0x20000000u /* readers may be queued */
#define RW_READERS  0x1fffffffu /* the number of read holds */

static inline uint32_t *
state(pthread_rwlock_t *rw)
{
    return &rw->__data.__readers;
}

static inline const void *
rdkey(pthread_rwlock_t *rw)
{
    return rw;
}

static inline const void *
wrkey(pthread_rwlock_t *rw)
{
    return (const char *)rw + 1;
}

static bool
is_real(pthread_rwlock_t *rw)
{
    return gr_hook_native() || gr_raw_load_relaxed(&rw->__data.__shared) != 0;
}

/* __cur_writer: written by the holder, read by anyone checking for EDEADLK or EPERM. */
static inline int
cur_writer(pthread_rwlock_t *rw)
{
    return gr_raw_load_relaxed(&rw->__data.__cur_writer);
}

static inline void
set_cur_writer(pthread_rwlock_t *rw, int id)
{
    gr_raw_store_relaxed(&rw->__data.__cur_writer, id);
}

static inline bool
prefers_writers(pthread_rwlock_t *rw)
{
    return rw->__data.__flags == PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP;
}

static inline bool
read_blocked(uint32_t s, bool wpref)
{
    return (s & RW_WRLOCKED) || (wpref && (s & RW_WWAIT));
}

static inline bool
write_blocked(uint32_t s)
{
    return (s & (RW_WRLOCKED | RW_READERS)) != 0;
}

/* One attempt at a read hold: 0, EBUSY when blocked, EAGAIN when the count is full. */
static int
try_read(pthread_rwlock_t *rw, bool wpref)
{
    uint32_t s = gr_raw_load_relaxed(state(rw));

    for (;;) {
        if (read_blocked(s, wpref))
            return EBUSY;
        if ((s & RW_READERS) == RW_READERS)
            return EAGAIN;
        if (gr_raw_cas_acquire(state(rw), &s, s + 1))
            return 0;
    }
}

/* One attempt at the write hold; the flags stay as they are. */
static bool
try_write(pthread_rwlock_t *rw)
{
    uint32_t s = gr_raw_load_relaxed(state(rw));

    while (!write_blocked(s)) {
        if (gr_raw_cas_acquire(state(rw), &s, s | RW_WRLOCKED))
            return true;
    }
    return false;
}

/*
 * Let the oldest queued writer at the lock. Returns false when no writer is queued (RW_WWAIT
 * is then clear), true when one was woken or handed the lock, or when the lock is held: the
 * holder's release will come back here, as RW_WWAIT is set.
 */
static bool
grant_writer(pthread_rwlock_t *rw)
{
    struct gr_bucket *b = gr_wq_lock(wrkey(rw));
    struct gr_waiter *w = gr_wq_first(b, wrkey(rw));
    uint32_t s;

    if (w == NULL) {
        gr_raw_fetch_and(state(rw), ~RW_WWAIT);
        gr_wq_unlock(b);
        return false;
    }
    s = gr_raw_load(state(rw));
    for (;;) {
        if (write_blocked(s))
            break;
        if (gr_nanotime() - w->since <= GR_HOOK_STARVE_NS) {
            gr_wq_wake(b, w, GR_WAKE_NORMAL);
            break;
        }
        /* Starving: take the lock for w. RW_WWAIT stays while other writers queue. */
        uint32_t ns = s | RW_WRLOCKED;
        if (w->next == NULL)
            ns &= ~RW_WWAIT;
        if (gr_raw_cas(state(rw), &s, ns)) {
            gr_wq_wake(b, w, GR_WAKE_HANDOFF);
            break;
        }
    }
    gr_wq_unlock(b);
    return true;
}

/* Grant a read hold to every queued reader, unless readers are blocked right now. */
static void
grant_readers(pthread_rwlock_t *rw)
{
    struct gr_bucket *b = gr_wq_lock(rdkey(rw));
    bool wpref = prefers_writers(rw);
    uint32_t s = gr_raw_load(state(rw));

    for (;;) {
        struct gr_waiter *w = gr_wq_first(b, rdkey(rw));
        uint32_t n = 0, room;

        /* Blocked: whoever blocks them will release, and come back here. */
        if (read_blocked(s, wpref))
            break;
        if (w == NULL) {
            gr_raw_fetch_and(state(rw), ~RW_RWAIT);
            break;
        }
        room = RW_READERS - (s & RW_READERS);
        for (; w != NULL && n < room; w = w->next)
            n++;
        /* The queue empties: any reader left over (a full count) retries and sees EAGAIN. */
        if (!gr_raw_cas(state(rw), &s, (s + n) & ~RW_RWAIT))
            continue;
        for (uint32_t i = 0; (w = gr_wq_first(b, rdkey(rw))) != NULL; i++)
            gr_wq_wake(b, w, i < n ? GR_WAKE_HANDOFF : GR_WAKE_NORMAL);
        break;
    }
    gr_wq_unlock(b);
}

/* After a release, or a writer giving up: let in whom the kind prefers. */
static void
wake_waiters(pthread_rwlock_t *rw)
{
    uint32_t s = gr_raw_load(state(rw));

    if (prefers_writers(rw)) {
        if ((s & RW_WWAIT) && grant_writer(rw))
            return;
        if (gr_raw_load(state(rw)) & RW_RWAIT)
            grant_readers(rw);
        return;
    }
    if (s & RW_RWAIT)
        grant_readers(rw);
    s = gr_raw_load(state(rw));
    if ((s & RW_WWAIT) && !write_blocked(s))
        grant_writer(rw);
}

/*
 * Take a read hold. deadline: absolute monotonic ns, -1 none, 0 try only.
 * Returns 0, EBUSY, EAGAIN, EDEADLK or ETIMEDOUT.
 */
static int
rdlock(pthread_rwlock_t *rw, int64_t deadline)
{
    bool wpref = prefers_writers(rw);
    struct gr_waiter w;
    int err;

    err = try_read(rw, wpref);
    if (err != EBUSY || deadline == 0)
        return err;
    if ((gr_raw_load_relaxed(state(rw)) & RW_WRLOCKED) && cur_writer(rw) == gr_tls_self_id())
        return EDEADLK;
    if (deadline > 0 && deadline <= gr_nanotime())
        return ETIMEDOUT;
    for (;;) {
        struct gr_bucket *b = gr_wq_lock(rdkey(rw));
        uint32_t s = gr_raw_load(state(rw)), r;
        bool blocked;

        while ((blocked = read_blocked(s, wpref)) && !(s & RW_RWAIT) &&
               !gr_raw_cas(state(rw), &s, s | RW_RWAIT))
            ;
        if (!blocked) {
            gr_wq_unlock(b);
            err = try_read(rw, wpref);
            if (err != EBUSY)
                return err;
            continue;
        }
        gr_wq_push(b, &w, rdkey(rw), false);
        r = gr_wq_wait(b, &w, deadline, GR_WQ_SIGNAL, "rwlock read", NULL, NULL);
        if (r == GR_WAKE_HANDOFF)
            return 0;
        if (r == GR_WAKE_TIMEOUT)
            return ETIMEDOUT;
        /* Woken without a hold (the count was full, or a signal handler ran): try again. */
        err = try_read(rw, wpref);
        if (err != EBUSY)
            return err;
    }
}

/* A writer leaves without the lock: clear RW_WWAIT if it was the last, let readers in. */
static void
writer_gave_up(pthread_rwlock_t *rw)
{
    struct gr_bucket *b = gr_wq_lock(wrkey(rw));

    if (gr_wq_first(b, wrkey(rw)) == NULL)
        gr_raw_fetch_and(state(rw), ~RW_WWAIT);
    gr_wq_unlock(b);
    wake_waiters(rw);
}

/* Take the write hold. deadline as rdlock. Returns 0, EBUSY, EDEADLK or ETIMEDOUT. */
static int
wrlock(pthread_rwlock_t *rw, int64_t deadline)
{
    int id = gr_tls_self_id();
    struct gr_waiter w;
    bool requeue = false;

    if (try_write(rw)) {
        set_cur_writer(rw, id);
        return 0;
    }
    if ((gr_raw_load_relaxed(state(rw)) & RW_WRLOCKED) && cur_writer(rw) == id)
        return deadline == 0 ? EBUSY : EDEADLK;
    if (deadline == 0)
        return EBUSY;
    if (deadline > 0 && deadline <= gr_nanotime())
        return ETIMEDOUT;
    w.since = 0;
    for (;;) {
        struct gr_bucket *b = gr_wq_lock(wrkey(rw));
        uint32_t s = gr_raw_load(state(rw)), r;
        bool blocked;

        while ((blocked = write_blocked(s)) && !(s & RW_WWAIT) &&
               !gr_raw_cas(state(rw), &s, s | RW_WWAIT))
            ;
        if (!blocked) {
            gr_wq_unlock(b);
        } else {
            if (w.since == 0)
                w.since = gr_nanotime();
            gr_wq_push(b, &w, wrkey(rw), requeue);
            r = gr_wq_wait(b, &w, deadline, GR_WQ_SIGNAL | GR_WQ_UNDO, "rwlock write", NULL, NULL);
            if (r == GR_WAKE_HANDOFF)
                break;
            if (r == GR_WAKE_TIMEOUT) {
                writer_gave_up(rw);
                return ETIMEDOUT;
            }
            if (r == GR_WAKE_CANCEL) {
                /* Asynchronous cancellation: leave as a writer that times out, then act. */
                writer_gave_up(rw);
                gr_hook_testcancel();
            }
            requeue = true;
        }
        if (try_write(rw))
            break;
    }
    set_cur_writer(rw, id);
    return 0;
}

static int
unlock(pthread_rwlock_t *rw)
{
    uint32_t s = gr_raw_load_relaxed(state(rw)), ns;

    if (s & RW_WRLOCKED) {
        if (cur_writer(rw) != gr_tls_self_id())
            return EPERM;
        set_cur_writer(rw, 0);
        /* Pairs with the acquire CAS of the next holder. */
        while (!gr_raw_cas_release(state(rw), &s, s & ~RW_WRLOCKED))
            ;
        if (s & (RW_WWAIT | RW_RWAIT))
            wake_waiters(rw);
        return 0;
    }
    do {
        if ((s & RW_READERS) == 0)
            return EPERM;
        ns = s - 1;
    } while (!gr_raw_cas_release(state(rw), &s, ns));
    if ((ns & RW_READERS) == 0 && (ns & (RW_WWAIT | RW_RWAIT)))
        wake_waiters(rw);
    return 0;
}

/* An absolute deadline for the timed variants; 0 (the try marker) becomes 1. */
static int
deadline_of(clockid_t clock, const struct timespec *abstime, int64_t *deadline)
{
    int err = gr_hook_deadline(clock, abstime, deadline);

    if (err == 0 && *deadline == 0)
        *deadline = 1;
    return err;
}

/*
 * A process-shared rwlock is glibc's, and so is its wait, a futex wait no hook sees: try it
 * first, then wait in glibc in syscall mode with the P handed on at once, so that however
 * many threads wait on such rwlocks the other Gs keep running. which: 0 rdlock, 1
 * clockrdlock, 2 timedrdlock, 3 wrlock, 4 clockwrlock, 5 timedwrlock. glibc checks a timed
 * lock's clock and timespec before anything else.
 */
static int
shared_lock(pthread_rwlock_t *rw, int which, clockid_t clock, const struct timespec *abstime)
{
    int64_t deadline;
    bool write = which >= 3;
    int err;

    if (gr_hook_g() != NULL &&
        (which % 3 == 0 || gr_hook_deadline(clock, abstime, &deadline) == 0)) {
        err = write ? gr_real.pthread_rwlock_trywrlock(rw) : gr_real.pthread_rwlock_tryrdlock(rw);
        if (err != EBUSY)
            return err;
        switch (which) {
        case 0:
            GR_HOOK_IN_SYSCALL_BLOCK(int, gr_real.pthread_rwlock_rdlock(rw));
        case 1:
            GR_HOOK_IN_SYSCALL_BLOCK(int, gr_real.pthread_rwlock_clockrdlock(rw, clock, abstime));
        case 2:
            GR_HOOK_IN_SYSCALL_BLOCK(int, gr_real.pthread_rwlock_timedrdlock(rw, abstime));
        case 3:
            GR_HOOK_IN_SYSCALL_BLOCK(int, gr_real.pthread_rwlock_wrlock(rw));
        case 4:
            GR_HOOK_IN_SYSCALL_BLOCK(int, gr_real.pthread_rwlock_clockwrlock(rw, clock, abstime));
        default:
            GR_HOOK_IN_SYSCALL_BLOCK(int, gr_real.pthread_rwlock_timedwrlock(rw, abstime));
        }
    }
    switch (which) {
    case 0:
        return gr_real.pthread_rwlock_rdlock(rw);
    case 1:
        return gr_real.pthread_rwlock_clockrdlock(rw, clock, abstime);
    case 2:
        return gr_real.pthread_rwlock_timedrdlock(rw, abstime);
    case 3:
        return gr_real.pthread_rwlock_wrlock(rw);
    case 4:
        return gr_real.pthread_rwlock_clockwrlock(rw, clock, abstime);
    default:
        return gr_real.pthread_rwlock_timedwrlock(rw, abstime);
    }
}

/* ---- The interposed functions. */

GR_EXPORT int
pthread_rwlock_init(pthread_rwlock_t *rw, const pthread_rwlockattr_t *attr)
{
    int kind = PTHREAD_RWLOCK_DEFAULT_NP, pshared = PTHREAD_PROCESS_PRIVATE;

    if (gr_hook_native())
        return gr_real.pthread_rwlock_init(rw, attr);
    if (attr != NULL) {
        pthread_rwlockattr_getkind_np(attr, &kind);
        pthread_rwlockattr_getpshared(attr, &pshared);
    }
    if (pshared == PTHREAD_PROCESS_SHARED)
        return gr_real.pthread_rwlock_init(rw, attr);
    memset(rw, 0, sizeof(*rw));
    rw->__data.__flags = (unsigned)kind;
    return 0;
}

GR_EXPORT int
pthread_rwlock_destroy(pthread_rwlock_t *rw)
{
    if (is_real(rw))
        return gr_real.pthread_rwlock_destroy(rw);
    return 0;
}

GR_EXPORT int
pthread_rwlock_rdlock(pthread_rwlock_t *rw)
{
    uint32_t s;

    if (is_real(rw))
        return shared_lock(rw, 0, CLOCK_REALTIME, NULL);
    /* Fast path: no writer, no flag, room in the count. */
    s = gr_raw_load_relaxed(state(rw));
    if ((s & ~RW_READERS) == 0 && s != RW_READERS && gr_raw_cas_acquire(state(rw), &s, s + 1))
        return 0;
    return rdlock(rw, -1);
}

GR_EXPORT int
pthread_rwlock_tryrdlock(pthread_rwlock_t *rw)
{
    if (is_real(rw))
        return gr_real.pthread_rwlock_tryrdlock(rw);
    return rdlock(rw, 0);
}

GR_EXPORT int
pthread_rwlock_clockrdlock(pthread_rwlock_t *rw, clockid_t clock, const struct timespec *abstime)
{
    int64_t deadline;
    int err;

    if (is_real(rw))
        return shared_lock(rw, 1, clock, abstime);
    /* glibc checks the clock and the timespec first, even when the lock is free. */
    err = deadline_of(clock, abstime, &deadline);
    if (err != 0)
        return err;
    return rdlock(rw, deadline);
}

GR_EXPORT int
pthread_rwlock_timedrdlock(pthread_rwlock_t *rw, const struct timespec *abstime)
{
    if (is_real(rw))
        return shared_lock(rw, 2, CLOCK_REALTIME, abstime);
    return pthread_rwlock_clockrdlock(rw, CLOCK_REALTIME, abstime);
}

GR_EXPORT int
pthread_rwlock_wrlock(pthread_rwlock_t *rw)
{
    uint32_t zero = 0;

    if (is_real(rw))
        return shared_lock(rw, 3, CLOCK_REALTIME, NULL);
    if (gr_raw_cas_acquire(state(rw), &zero, RW_WRLOCKED)) {
        set_cur_writer(rw, gr_tls_self_id());
        return 0;
    }
    return wrlock(rw, -1);
}

GR_EXPORT int
pthread_rwlock_trywrlock(pthread_rwlock_t *rw)
{
    if (is_real(rw))
        return gr_real.pthread_rwlock_trywrlock(rw);
    return wrlock(rw, 0);
}

GR_EXPORT int
pthread_rwlock_clockwrlock(pthread_rwlock_t *rw, clockid_t clock, const struct timespec *abstime)
{
    int64_t deadline;
    int err;

    if (is_real(rw))
        return shared_lock(rw, 4, clock, abstime);
    err = deadline_of(clock, abstime, &deadline);
    if (err != 0)
        return err;
    return wrlock(rw, deadline);
}

GR_EXPORT int
pthread_rwlock_timedwrlock(pthread_rwlock_t *rw, const struct timespec *abstime)
{
    if (is_real(rw))
        return shared_lock(rw, 5, CLOCK_REALTIME, abstime);
    return pthread_rwlock_clockwrlock(rw, CLOCK_REALTIME, abstime);
}

GR_EXPORT int
pthread_rwlock_unlock(pthread_rwlock_t *rw)
{
    uint32_t one = 1;

    if (is_real(rw))
        return gr_real.pthread_rwlock_unlock(rw);
    /* Fast path: the only reader, nobody waiting. */
    if (gr_raw_cas_release(state(rw), &one, 0))
        return 0;
    return unlock(rw);
}
