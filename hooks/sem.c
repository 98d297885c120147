/*
 * hooks/sem.c: unnamed POSIX semaphores on the wait table.
 *
 * sem_t (32 bytes) keeps glibc's 64-bit layout, struct new_sem:
 *   data     the value in the low 32 bits, the number of registered waiters in the high 32
 *   private  glibc's futex flag word: 0 for a process-private semaphore, FUTEX_PRIVATE_FLAG
 *            (128) for a process-shared one (glibc's LLL_SHARED encoding, checked on 2.36).
 *            Private semaphores are the runtime's; shared ones belong to glibc and go to the
 *            real functions (shared_wait). A zeroed sem_t is a private semaphore of value 0 in
 *            both.
 *
 * Invariants:
 *  - A waiter registers itself (adds 1 << 32 to data) by a CAS that also checks that the value
 *    is 0, under the bucket lock of the semaphore, then queues and parks; it unregisters after
 *    it is woken, whatever the reason. So while a waiter is queued the waiter count is nonzero.
 *  - sem_post adds 1 to the value; when the waiter count it replaced was nonzero it wakes the
 *    oldest queued waiter under the bucket lock. The waiter registered before that post, so it
 *    is already queued (or parking, with the bucket locked): no lost wakeups. A woken waiter
 *    competes for the token, like a newcomer, and queues again if it lost.
 *  - Tokens are only ever taken by a successful CAS on a positive value: a waiter that times
 *    out or is cancelled leaves the value as it is, so no post is lost.
 * sem_wait, sem_timedwait and sem_clockwait are cancellation points. A signal sent to a
 * waiting G runs its handler, then the wait fails with EINTR, or resumes when every handler
 * that ran had SA_RESTART (glibc 2.36 restarts its futex wait then).
 */
#include <limits.h>
#include <semaphore.h>
#include <string.h>

#include "hooks/hook.h"

#define SEM_VALUE_MASK 0xffffffffull
#define SEM_WAITER_ONE (1ull << 32)

struct sem {
    uint64_t data;   /* the program's memory: gr_raw_* atomics only */
    int32_t private; /* immutable after init */
    int32_t pad;
};

_Static_assert(sizeof(struct sem) <= sizeof(sem_t), "sem layout");

static inline struct sem *
sem_of(sem_t *s)
{
    return (struct sem *)s;
}

static bool
is_real(sem_t *s)
{
    return gr_hook_native() || gr_raw_load_relaxed(&sem_of(s)->private) != 0;
}

/* Take a token if there is one. */
static bool
try_take(struct sem *sp)
{
    uint64_t d = gr_raw_load_relaxed(&sp->data);

    while ((d & SEM_VALUE_MASK) != 0) {
        if (gr_raw_cas_acquire(&sp->data, &d, d - 1))
            return true;
    }
    return false;
}

/*
 * Wait for a token until deadline (absolute monotonic ns, -1 none). Returns 0, ETIMEDOUT or
 * EINTR (a signal handler without SA_RESTART ran); a cancellation unwinds.
 */
static int
wait_slow(struct sem *sp, int64_t deadline)
{
    struct gr_waiter w;
    bool requeue = false;

    for (;;) {
        struct gr_bucket *b = gr_wq_lock(sp);
        uint64_t d = gr_raw_load(&sp->data);
        uint32_t r;

        for (;;) {
            if ((d & SEM_VALUE_MASK) != 0) {
                if (gr_raw_cas_acquire(&sp->data, &d, d - 1)) {
                    gr_wq_unlock(b);
                    return 0;
                }
            } else if (gr_raw_cas(&sp->data, &d, d + SEM_WAITER_ONE)) {
                break;
            }
        }
        gr_wq_push(b, &w, sp, requeue);
        r = gr_wq_wait(b, &w, deadline, GR_WQ_CANCEL | GR_WQ_SIGNAL, "sem", NULL, NULL);
        gr_raw_xadd(&sp->data, -SEM_WAITER_ONE);
        if (r == GR_WAKE_TIMEOUT)
            return ETIMEDOUT;
        if (r == GR_WAKE_CANCEL)
            gr_hook_testcancel();
        /* The handler ran. As glibc's futex wait: EINTR, or a restart under SA_RESTART. */
        if (r == GR_WAKE_SIGNAL && gr_signal_eintr())
            return EINTR;
        if (try_take(sp))
            return 0;
        requeue = true;
    }
}

/* The common part of the timed variants. clock is CLOCK_REALTIME or CLOCK_MONOTONIC. */
static int
timed_wait(sem_t *s, clockid_t clock, const struct timespec *abstime)
{
    int64_t deadline;
    int err;

    /* glibc checks the clock and the timespec first, even with a token there. */
    err = gr_hook_deadline(clock, abstime, &deadline);
    if (err == 0) {
        gr_hook_testcancel();
        if (try_take(sem_of(s)))
            return 0;
        if (deadline >= 0 && deadline <= gr_nanotime())
            err = ETIMEDOUT;
        else
            err = wait_slow(sem_of(s), deadline);
    }
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}

/*
 * A process-shared semaphore is glibc's, and so is its wait, a futex wait no hook sees. Take a
 * token if there is one; otherwise wait in glibc in syscall mode with the P handed on at once,
 * so that however many threads wait on such semaphores the other Gs keep running. which:
 * 0 sem_wait, 1 sem_timedwait, 2 sem_clockwait. glibc checks a timed wait's clock and
 * timespec first, then acts on a pending cancellation, then takes a token.
 */
static int
shared_wait(sem_t *s, int which, clockid_t clock, const struct timespec *abstime)
{
    int64_t deadline;
    int saved = errno;

    if (gr_hook_g() != NULL && (which == 0 || gr_hook_deadline(clock, abstime, &deadline) == 0)) {
        gr_hook_testcancel();
        if (gr_real.sem_trywait(s) == 0)
            return 0;
        errno = saved;
        if (which == 0)
            GR_HOOK_IN_SYSCALL_BLOCK(int, gr_real.sem_wait(s));
        if (which == 1)
            GR_HOOK_IN_SYSCALL_BLOCK(int, gr_real.sem_timedwait(s, abstime));
        GR_HOOK_IN_SYSCALL_BLOCK(int, gr_real.sem_clockwait(s, clock, abstime));
    }
    if (which == 0)
        return gr_real.sem_wait(s);
    if (which == 1)
        return gr_real.sem_timedwait(s, abstime);
    return gr_real.sem_clockwait(s, clock, abstime);
}

/* ---- The interposed functions. */

GR_EXPORT int
sem_init(sem_t *s, int pshared, unsigned int value)
{
    struct sem *sp = sem_of(s);

    if (gr_hook_native())
        return gr_real.sem_init(s, pshared, value);
    if (value > SEM_VALUE_MAX) {
        errno = EINVAL;
        return -1;
    }
    if (pshared != 0)
        return gr_real.sem_init(s, pshared, value);
    memset(s, 0, sizeof(*s));
    sp->data = value;
    return 0;
}

GR_EXPORT int
sem_destroy(sem_t *s)
{
    if (is_real(s))
        return gr_real.sem_destroy(s);
    return 0;
}

GR_EXPORT int
sem_wait(sem_t *s)
{
    int err;

    if (is_real(s))
        return shared_wait(s, 0, CLOCK_REALTIME, NULL);
    /* A cancellation point even when a token is there (POSIX "shall occur"), as glibc. */
    gr_hook_testcancel();
    if (try_take(sem_of(s)))
        return 0;
    err = wait_slow(sem_of(s), -1);
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}

GR_EXPORT int
sem_trywait(sem_t *s)
{
    if (is_real(s))
        return gr_real.sem_trywait(s);
    if (try_take(sem_of(s)))
        return 0;
    errno = EAGAIN;
    return -1;
}

GR_EXPORT int
sem_timedwait(sem_t *s, const struct timespec *abstime)
{
    if (is_real(s))
        return shared_wait(s, 1, CLOCK_REALTIME, abstime);
    return timed_wait(s, CLOCK_REALTIME, abstime);
}

GR_EXPORT int
sem_clockwait(sem_t *s, clockid_t clock, const struct timespec *abstime)
{
    if (is_real(s))
        return shared_wait(s, 2, clock, abstime);
    /* gr_hook_deadline accepts exactly CLOCK_REALTIME and CLOCK_MONOTONIC, as glibc. */
    return timed_wait(s, clock, abstime);
}

GR_EXPORT int
sem_post(sem_t *s)
{
    struct sem *sp = sem_of(s);
    uint64_t old;

    if (is_real(s))
        return gr_real.sem_post(s);
    /* Pairs with the acquire CAS of the taker. */
    old = gr_raw_xadd_release(&sp->data, 1);
    if ((old & SEM_VALUE_MASK) >= SEM_VALUE_MAX) {
        /* Linearised at the add, which found the value full: take the increment back. */
        gr_raw_xadd(&sp->data, -1);
        errno = EOVERFLOW;
        return -1;
    }
    if (old >> 32 != 0) {
        struct gr_bucket *b = gr_wq_lock(sp);
        struct gr_waiter *w = gr_wq_first(b, sp);
        if (w != NULL)
            gr_wq_wake(b, w, GR_WAKE_NORMAL);
        gr_wq_unlock(b);
    }
    return 0;
}

GR_EXPORT int
sem_getvalue(sem_t *s, int *sval)
{
    uint32_t v;

    if (is_real(s))
        return gr_real.sem_getvalue(s, sval);
    v = (uint32_t)(gr_raw_load_relaxed(&sem_of(s)->data) & SEM_VALUE_MASK);
    /* A post that overflows briefly shows SEM_VALUE_MAX + 1 before it takes it back. */
    *sval = v > SEM_VALUE_MAX ? SEM_VALUE_MAX : (int)v;
    return 0;
}
