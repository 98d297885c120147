/*
 * runtime/runq.c: run queues.
 *
 * The local queue is a 256-slot ring: the owner P appends at tail (store-release) and takes
 * from head (CAS); stealers take from head (CAS) after reading head, then tail (acquire).
 * runnext holds a G made ready by the running G (a wakeup chain keeps its locality); it is
 * taken with an exchange so owner and stealer cannot both run it.
 * The global queue is a singly linked list under gr_sched.lock.
 *
 * Locks: the rings are lock-free; the global queue is under gr_sched.lock (rank sched).
 */
#include "runtime/runq.h"

#include "runtime/atomic.h"
#include "runtime/debug.h"
#include "runtime/sched.h"
#include "runtime/trace.h"

#define RUNQ_SIZE 256

/* Move half of pp's ring plus gp to the global queue. False if the ring changed meanwhile. */
static bool
runq_put_slow(struct p *pp, struct g *gp, uint32_t head, uint32_t tail)
{
    struct g *batch[RUNQ_SIZE / 2 + 1];
    uint32_t n = (tail - head) / 2;

    if (n != RUNQ_SIZE / 2)
        gr_throw("runq_put_slow: queue is not full");
    for (uint32_t i = 0; i < n; i++)
        batch[i] = pp->runq[(head + i) % RUNQ_SIZE];
    if (!gr_cas_release(&pp->runqhead, &head, head + n))
        return false;
    batch[n] = gp;
    gr_lock(&gr_sched.lock);
    for (uint32_t i = 0; i <= n; i++)
        gr_globrunq_put(batch[i]);
    gr_unlock(&gr_sched.lock);
    return true;
}

void
gr_runq_put(struct p *pp, struct g *gp, bool next)
{
    GR_ASSERT(gr_load_relaxed(&pp->m) == NULL || gr_load_relaxed(&pp->m) == gr_getm());
    if (next) {
        struct g *old = gr_xchg(&pp->runnext, gp);
        if (old == NULL)
            return;
        gp = old; /* kick the old runnext out to the ring */
    }
    for (;;) {
        uint32_t head = gr_load_acquire(&pp->runqhead); /* pairs with stealers' CAS */
        uint32_t tail = gr_load_relaxed(&pp->runqtail); /* only the owner writes it */
        if (tail - head < RUNQ_SIZE) {
            pp->runq[tail % RUNQ_SIZE] = gp;
            gr_store_release(&pp->runqtail, tail + 1); /* pairs with the load in steal */
            return;
        }
        if (runq_put_slow(pp, gp, head, tail))
            return;
    }
}

/*
 * A G the scheduler itself readied (a timer run on g0, no G running) pushed out of runnext was
 * readied the same way a moment before, often in the same run (a sleep's end, then a ticker's).
 * At the ring's tail it would wait behind every G there, which can be dozens of wakeups of one
 * broadcast, each running up to 1 ms: cpu_latency's main thread waited 30-60 ms behind 30-40 of
 * them on one P. It waits with the global queue's wakeups instead, which findrunnable takes
 * after runnext and before the ring.
 */
void
gr_runq_put_sched(struct p *pp, struct g *gp)
{
    struct g *old;

    GR_ASSERT(gr_load_relaxed(&pp->m) == NULL || gr_load_relaxed(&pp->m) == gr_getm());
    old = gr_xchg(&pp->runnext, gp);
    if (old == NULL)
        return;
    gr_lock(&gr_sched.lock);
    gr_globrunq_put_wakeup(old);
    gr_unlock(&gr_sched.lock);
}

struct g *
gr_runq_get(struct p *pp)
{
    struct g *gp = gr_load(&pp->runnext);

    GR_ASSERT(gr_load_relaxed(&pp->m) == NULL || gr_load_relaxed(&pp->m) == gr_getm());
    if (gp != NULL && gr_cas(&pp->runnext, &gp, NULL))
        return gp;
    for (;;) {
        uint32_t head = gr_load_acquire(&pp->runqhead);
        uint32_t tail = gr_load_relaxed(&pp->runqtail); /* only the owner writes it */
        if (tail == head)
            return NULL;
        gp = pp->runq[head % RUNQ_SIZE];
        if (gr_cas_release(&pp->runqhead, &head, head + 1))
            return gp;
    }
}

bool
gr_runq_empty(struct p *pp)
{
    for (;;) {
        uint32_t head = gr_load(&pp->runqhead);
        uint32_t tail = gr_load(&pp->runqtail);
        struct g *next = gr_load(&pp->runnext);
        if (tail == gr_load(&pp->runqtail))
            return head == tail && next == NULL;
    }
}

bool
gr_runq_stealable(struct p *pp)
{
    uint32_t head = gr_load(&pp->runqhead);
    uint32_t tail = gr_load(&pp->runqtail);

    if (head != tail)
        return true;
    /* A running P's runnext is not for others (see runq_grab). */
    return gr_load(&pp->runnext) != NULL && gr_load(&pp->status) != P_RUNNING;
}

/*
 * Copy up to half of victim's ring into batch; returns the count. With steal_next an empty
 * ring gives up victim's runnext, unless victim is running and may run it itself; stuck (the
 * thief stands in for victim, whose M sleeps in the kernel) takes it even then.
 */
static uint32_t
runq_grab(struct p *victim, struct g **batch, bool steal_next, bool stuck)
{
    for (;;) {
        uint32_t head = gr_load_acquire(&victim->runqhead);
        uint32_t tail = gr_load_acquire(&victim->runqtail); /* pairs with put's release */
        uint32_t n = tail - head;
        n -= n / 2;
        if (n == 0) {
            /* A running P is about to run its runnext itself (a wakeup handed over just
             * before the waker parks): taking it would only bounce the G between Ms. */
            if (steal_next && (stuck || gr_load(&victim->status) != P_RUNNING)) {
                struct g *next = gr_load(&victim->runnext);
                if (next != NULL && gr_cas(&victim->runnext, &next, NULL)) {
                    batch[0] = next;
                    return 1;
                }
            }
            return 0;
        }
        if (n > RUNQ_SIZE / 2)
            continue; /* inconsistent head/tail: retry */
        for (uint32_t i = 0; i < n; i++)
            batch[i] = victim->runq[(head + i) % RUNQ_SIZE];
        if (gr_cas_release(&victim->runqhead, &head, head + n))
            return n;
    }
}

struct g *
gr_runq_steal(struct p *pp, struct p *victim, bool steal_next)
{
    struct g *batch[RUNQ_SIZE / 2];
    /* pp->stuck is written under gr_sched.lock before pp's M gets pp, and cleared by that M
     * itself when the spare retires: the owner may read it without the lock. */
    uint32_t n = runq_grab(victim, batch, steal_next, pp->stuck == victim);

    if (n == 0)
        return NULL;
    for (uint32_t i = 1; i < n; i++)
        gr_runq_put(pp, batch[i], false);
    gr_xadd_relaxed(&gr_sched.nsteal, 1);
    GR_TRACE(GR_EV_STEAL, (uint32_t)victim->id, n, (uint64_t)pp->id);
    return batch[0];
}

void
gr_globrunq_put(struct g *gp)
{
    GR_ASSERT_HELD(&gr_sched.lock);
    GR_ASSERT(gr_load(&gp->status) == G_RUNNABLE);
    gp->schedlink = NULL;
    if (gr_sched.runqtail != NULL)
        gr_sched.runqtail->schedlink = gp;
    else
        gr_sched.runqhead = gp;
    gr_sched.runqtail = gp;
    gr_owner_inc(&gr_sched.runqsize);
}

/*
 * The global queue holds mostly Gs that were preempted, each of which runs a slice when its turn
 * comes. A G that waits for a P after a blocking call, or that an M without a P readied, is a
 * wakeup, as a G readied on a P: at the tail it would wait for every one of them (64 CPU-bound
 * Gs on one P: 64 slices), so it goes ahead of them, behind earlier wakeups, and the Ps treat
 * it as a wakeup waiting (1 ms, sysmon.c and preempt.c).
 */
void
gr_globrunq_put_wakeup(struct g *gp)
{
    struct g *after = gr_sched.runqwake;

    GR_ASSERT_HELD(&gr_sched.lock);
    GR_ASSERT(gr_load(&gp->status) == G_RUNNABLE);
    if (after == NULL) {
        gp->schedlink = gr_sched.runqhead;
        gr_sched.runqhead = gp;
    } else {
        gp->schedlink = after->schedlink;
        after->schedlink = gp;
    }
    if (gp->schedlink == NULL)
        gr_sched.runqtail = gp;
    gr_sched.runqwake = gp;
    gr_owner_inc(&gr_sched.nrunqwake);
    gr_owner_inc(&gr_sched.runqsize);
}

static struct g *
globrunq_pop(void)
{
    struct g *gp = gr_sched.runqhead;

    if (gp == NULL)
        return NULL;
    gr_sched.runqhead = gp->schedlink;
    if (gr_sched.runqhead == NULL)
        gr_sched.runqtail = NULL;
    if (gr_load_relaxed(&gr_sched.nrunqwake) > 0) {
        gr_owner_dec(&gr_sched.nrunqwake);
        if (gp == gr_sched.runqwake)
            gr_sched.runqwake = NULL;
    }
    gr_owner_dec(&gr_sched.runqsize);
    return gp;
}

struct g *
gr_globrunq_get(void)
{
    GR_ASSERT_HELD(&gr_sched.lock);
    return globrunq_pop();
}
