/*
 * hooks/barrier.c: pthread barriers on the wait table.
 *
 * pthread_barrier_t (32 bytes) is read as glibc's struct pthread_barrier, whose field order
 * is kept; the runtime gives the fields its own meaning:
 *   in       arrivals in the current round
 *   round    the round number (glibc's current_round), incremented as each round completes
 *   count    the number of threads per round; immutable after init
 *   shared   0; glibc stores nonzero for a process-shared barrier, which then belongs to
 *            glibc and goes to the real functions (its wait in syscall mode, the P handed
 *            on at once: glibc waits on a futex no hook sees)
 *   out      unused
 *
 * Invariants (in and round are protected by the bucket lock of the barrier's address):
 *  - 0 <= in < count between calls; the arrival that makes in reach count completes the round:
 *    it resets in to 0, increments round and wakes the waiters tagged with the old round.
 *  - Every queued waiter carries the round it arrived in (w.data). A thread that re-enters
 *    for the next round queues only after the wakeups of the previous one (the bucket lock
 *    orders them), and is tagged with the new round, so it is never released by the old one.
 *  - A woken waiter returns without touching the barrier again, and the last arrival touches
 *    it only under the bucket lock: once every thread of the last round has called in, the
 *    barrier may be destroyed and reused without waiting for leavers.
 * Barrier waits are not cancellation points. A signal sent to a waiting G runs its handler at
 * once, and the G waits on with its waiter queued all along (GR_WQ_HANDLER): a waiter woken
 * early would have to look at the barrier again, which the destroy rule above forbids.
 */
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include "hooks/hook.h"

struct barrier {
    uint32_t in;    /* protected by the bucket lock */
    uint32_t round; /* protected by the bucket lock */
    uint32_t count; /* immutable after init */
    int32_t shared; /* immutable after init: nonzero = glibc's */
    uint32_t out;   /* unused */
};

_Static_assert(sizeof(struct barrier) <= sizeof(pthread_barrier_t), "barrier layout");

static inline struct barrier *
barrier_of(pthread_barrier_t *pb)
{
    return (struct barrier *)pb;
}

static bool
is_real(pthread_barrier_t *pb)
{
    return gr_hook_native() || gr_raw_load_relaxed(&barrier_of(pb)->shared) != 0;
}

GR_EXPORT int
pthread_barrier_init(pthread_barrier_t *pb, const pthread_barrierattr_t *attr, unsigned int count)
{
    struct barrier *bar = barrier_of(pb);
    int pshared = PTHREAD_PROCESS_PRIVATE;

    if (gr_hook_native())
        return gr_real.pthread_barrier_init(pb, attr, count);
    /* glibc's limit: counts from INT_MAX on are rejected. */
    if (count == 0 || count >= INT_MAX)
        return EINVAL;
    if (attr != NULL)
        pthread_barrierattr_getpshared(attr, &pshared);
    if (pshared == PTHREAD_PROCESS_SHARED)
        return gr_real.pthread_barrier_init(pb, attr, count);
    memset(pb, 0, sizeof(*pb));
    bar->count = count;
    return 0;
}

GR_EXPORT int
pthread_barrier_destroy(pthread_barrier_t *pb)
{
    struct barrier *bar = barrier_of(pb);
    struct gr_bucket *b;
    int err = 0;

    if (is_real(pb))
        return gr_real.pthread_barrier_destroy(pb);
    b = gr_wq_lock(bar);
    if (bar->in != 0)
        err = EBUSY; /* threads wait in an unfinished round */
    gr_wq_unlock(b);
    return err;
}

GR_EXPORT int
pthread_barrier_wait(pthread_barrier_t *pb)
{
    struct barrier *bar = barrier_of(pb);
    struct gr_bucket *b;
    struct gr_waiter w, *q, *next;
    uint32_t this_round;

    if (is_real(pb))
        GR_HOOK_IN_SYSCALL_BLOCK(int, gr_real.pthread_barrier_wait(pb));
    b = gr_wq_lock(bar);
    this_round = bar->round;
    if (++bar->in < bar->count) {
        w.data = this_round;
        gr_wq_push(b, &w, bar, false);
        gr_wq_wait(b, &w, -1, GR_WQ_SIGNAL | GR_WQ_HANDLER, "barrier", NULL, NULL);
        return 0;
    }
    /* The last arrival: open the round. */
    bar->in = 0;
    bar->round = this_round + 1;
    for (q = gr_wq_first(b, bar); q != NULL; q = next) {
        next = q->next;
        if (q->data == this_round)
            gr_wq_wake(b, q, GR_WAKE_NORMAL);
    }
    gr_wq_unlock(b);
    return PTHREAD_BARRIER_SERIAL_THREAD;
}
