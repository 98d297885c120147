/*
 * hooks/cond.c: condition variables on the wait table.
 *
 * A waiter queues itself under the bucket lock of the condition variable *before* it releases
 * the mutex, and the mutex is released on g0 once the G is parked (gr_wq_wait's after
 * function); so a signal that follows the unlock always finds it, and a signal wakes exactly
 * the oldest waiter. No tickets and no lost or stolen wakeups.
 *
 * Fields of pthread_cond_t (48 bytes, zero = PTHREAD_COND_INITIALIZER):
 *   word 0: number of queued waiters (fast path of signal and broadcast)
 *   word 2: CLOCK_MONOTONIC flag from the condattr (0 = CLOCK_REALTIME)
 *   word 9 (glibc's __wrefs): bit 0 set by glibc for a process-shared condition variable,
 *   which then belongs to glibc. Both ABI versions (2.2.5 and 2.3.2) are served here.
 * glibc's wait on a process-shared condition variable is a futex wait no hook sees: it runs in
 * syscall mode with the P handed on at once, so any number of such waiters leaves the other
 * Gs running.
 */
#include <pthread.h>
#include <string.h>

#include "hooks/hook.h"
#include "hooks/mutex.h"

#define C_WAITERS(c)   ((uint32_t *)(c))
#define C_FLAGS(c)     ((uint32_t *)(c) + 2)
#define C_WREFS(c)     ((uint32_t *)(c) + 9)
#define FLAG_MONOTONIC 1u

static bool
is_real(pthread_cond_t *c)
{
    return gr_hook_native() || (gr_raw_load_relaxed(C_WREFS(c)) & 1u);
}

GR_EXPORT int
pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *attr)
{
    int pshared = PTHREAD_PROCESS_PRIVATE;
    clockid_t clock = CLOCK_REALTIME;

    if (gr_hook_native())
        return gr_real.pthread_cond_init(c, attr);
    if (attr != NULL) {
        pthread_condattr_getpshared(attr, &pshared);
        pthread_condattr_getclock(attr, &clock);
    }
    if (pshared == PTHREAD_PROCESS_SHARED)
        return gr_real.pthread_cond_init(c, attr);
    memset(c, 0, sizeof(*c));
    if (clock == CLOCK_MONOTONIC)
        *C_FLAGS(c) = FLAG_MONOTONIC;
    return 0;
}

GR_EXPORT int
pthread_cond_destroy(pthread_cond_t *c)
{
    if (is_real(c))
        return gr_real.pthread_cond_destroy(c);
    return 0;
}

struct release {
    pthread_mutex_t *m;
    struct g *owner;
    unsigned count;
};

/* Runs once the waiter is queued (on g0 for a G): drop the mutex. */
static void
release_mutex(void *arg)
{
    struct release *r = arg;

    r->count = gr_mutex_release(r->m, r->owner);
}

static int
cond_wait(pthread_cond_t *c, pthread_mutex_t *m, int64_t deadline)
{
    struct release rel = { .m = m };
    struct gr_waiter w;
    struct gr_bucket *b;
    uint32_t r;
    int err;

    err = gr_mutex_check_owner(m);
    if (err != 0)
        return err;
    gr_hook_testcancel();
    rel.owner = gr_g_self();
    b = gr_wq_lock(c);
    gr_wq_push(b, &w, c, false);
    gr_raw_xadd(C_WAITERS(c), 1);
    r = gr_wq_wait(b, &w, deadline, GR_WQ_CANCEL | GR_WQ_SIGNAL, "cond", release_mutex, &rel);
    gr_raw_xadd(C_WAITERS(c), -1);
    err = gr_mutex_reacquire(m, rel.count);
    if (r == GR_WAKE_CANCEL)
        gr_hook_testcancel(); /* unwinds with the mutex held, as POSIX requires */
    if (err != 0)
        return err;
    return r == GR_WAKE_TIMEOUT ? ETIMEDOUT : 0;
}

GR_EXPORT int
pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
    if (is_real(c) || gr_mutex_is_real(m))
        GR_HOOK_IN_SYSCALL_BLOCK(int, gr_real.pthread_cond_wait(c, m));
    return cond_wait(c, m, -1);
}

GR_EXPORT int
pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clock,
                       const struct timespec *abstime)
{
    int64_t deadline;
    int err;

    if (is_real(c) || gr_mutex_is_real(m))
        GR_HOOK_IN_SYSCALL_BLOCK(int, gr_real.pthread_cond_clockwait(c, m, clock, abstime));
    err = gr_hook_deadline(clock, abstime, &deadline);
    if (err != 0)
        return err;
    if (deadline <= 0)
        deadline = 1;
    return cond_wait(c, m, deadline);
}

GR_EXPORT int
pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *abstime)
{
    clockid_t clock;

    if (is_real(c) || gr_mutex_is_real(m))
        GR_HOOK_IN_SYSCALL_BLOCK(int, gr_real.pthread_cond_timedwait(c, m, abstime));
    clock = (*C_FLAGS(c) & FLAG_MONOTONIC) ? CLOCK_MONOTONIC : CLOCK_REALTIME;
    return pthread_cond_clockwait(c, m, clock, abstime);
}

GR_EXPORT int
pthread_cond_signal(pthread_cond_t *c)
{
    struct gr_bucket *b;
    struct gr_waiter *w;

    if (is_real(c))
        return gr_real.pthread_cond_signal(c);
    if (gr_raw_load(C_WAITERS(c)) == 0)
        return 0;
    b = gr_wq_lock(c);
    w = gr_wq_first(b, c);
    if (w != NULL)
        gr_wq_wake(b, w, GR_WAKE_NORMAL);
    gr_wq_unlock(b);
    return 0;
}

GR_EXPORT int
pthread_cond_broadcast(pthread_cond_t *c)
{
    struct gr_bucket *b;
    struct gr_waiter *w;

    if (is_real(c))
        return gr_real.pthread_cond_broadcast(c);
    if (gr_raw_load(C_WAITERS(c)) == 0)
        return 0;
    b = gr_wq_lock(c);
    while ((w = gr_wq_first(b, c)) != NULL)
        gr_wq_wake(b, w, GR_WAKE_NORMAL);
    gr_wq_unlock(b);
    return 0;
}
