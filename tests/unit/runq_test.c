/*
 * tests/unit/runq_test.c: white-box test of the run queues (runtime/runq.c), linked directly.
 *
 * Behaviour: a P's queue is FIFO behind its runnext; a put with next=true takes runnext and
 * kicks the old one to the ring's tail; a put into a full 256-slot ring moves the oldest half
 * plus the new G to the global queue in order; gr_runq_empty and gr_runq_stealable see
 * runnext (stealable not on a running P); gr_globrunq_get takes one G at a time, in order, and
 * leaves the P's ring alone, wakeups (gr_globrunq_put_wakeup, what gr_runq_put_sched pushes out
 * of runnext) ahead of the rest; gr_runq_steal takes the larger half, and runnext only from a
 * P that is not running (or the stuck P a spare stands in for); a broken ring invariant reaches
 * gr_throw. Under contention (an owner putting and getting while three thieves steal into their
 * own Ps and drain the global queue), every one of the fake Gs is taken exactly once.
 *
 * The Gs and Ps are the test's own zeroed objects; gr_sched is defined here and gr_throw is a
 * stub that jumps back to the test. Prints one line per failed check, then a summary.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/debug.h"
#include "runtime/lock.h"
#include "runtime/runq.h"
#include "runtime/sched.h"
#include "runtime/trace.h"

#define RING 256

/* What runq.c and lock.c reach of the rest of the runtime: the scheduler's state, the current
 * G (NULL: not an M, so lock ranks are kept per thread), printing and failures. */
struct gr_sched gr_sched = { .lock = GR_MUTEX_INIT(GR_RANK_SCHED) };
__thread struct g *gr_curg __attribute__((tls_model("initial-exec")));

/* Tracing stays off (trace.c): a steal's event site must not reach the recorder. */
struct gr_atomic_u8 gr_trace_on;

void
gr_trace_emit(uint32_t kind, uint32_t x, uint64_t a, uint64_t b)
{
    fprintf(stderr, "runq_test: an event recorded with tracing off\n");
    abort();
}

void
gr_print(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

void
gr_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "runq_test: assertion failed: %s at %s:%d\n", expr, file, line);
    abort();
}

static jmp_buf throw_jmp;
static int throw_armed;
static const char *thrown;

void
gr_throw(const char *msg)
{
    thrown = msg;
    if (!throw_armed) {
        fprintf(stderr, "runq_test: unexpected gr_throw: %s\n", msg);
        abort();
    }
    throw_armed = 0;
    longjmp(throw_jmp, 1);
}

static int passed;
static int failed;

#define CHECK(c)                                        \
    do {                                                \
        if (c) {                                        \
            passed++;                                   \
        } else {                                        \
            failed++;                                   \
            printf("FAIL line %d: %s\n", __LINE__, #c); \
        }                                               \
    } while (0)

/* struct p is cache-line aligned: static objects keep it so (calloc would not). */
#define NP 4
static struct p ps[NP];
#define NG_SMALL 1024
static struct g gsmall[NG_SMALL];

static void
reset(void)
{
    memset(ps, 0, sizeof(ps));
    for (int i = 0; i < NP; i++) {
        ps[i].id = i;
        gr_store_relaxed(&ps[i].status, P_RUNNING);
    }
    memset(gsmall, 0, sizeof(gsmall));
    for (int i = 0; i < NG_SMALL; i++) {
        gsmall[i].goid = (uint64_t)i;
        gr_store_relaxed(&gsmall[i].status, G_RUNNABLE);
    }
    gr_lock_init(&gr_sched.lock, GR_RANK_SCHED);
    gr_sched.runqhead = gr_sched.runqtail = gr_sched.runqwake = NULL;
    gr_store_relaxed(&gr_sched.runqsize, 0);
    gr_store_relaxed(&gr_sched.nrunqwake, 0);
    gr_sched.nprocs = NP;
    gr_store_relaxed(&gr_sched.nsteal, 0);
}

static struct g *
G(int i)
{
    return &gsmall[i];
}

/* The G taken from pp, as an index (-1 for none). */
static int
get(struct p *pp)
{
    struct g *gp = gr_runq_get(pp);

    return gp == NULL ? -1 : (int)(gp - gsmall);
}

static int
globget1(void)
{
    gr_lock(&gr_sched.lock);
    struct g *gp = gr_globrunq_get();
    gr_unlock(&gr_sched.lock);
    return gp == NULL ? -1 : (int)(gp - gsmall);
}

static int
ring_len(struct p *pp)
{
    return (int)(gr_load_relaxed(&pp->runqtail) - gr_load_relaxed(&pp->runqhead));
}

static void
test_fifo_and_runnext(void)
{
    struct p *pp = &ps[0];

    reset();
    CHECK(get(pp) == -1);
    CHECK(gr_runq_empty(pp));
    CHECK(!gr_runq_stealable(pp));
    for (int i = 1; i <= 3; i++)
        gr_runq_put(pp, G(i), false);
    CHECK(!gr_runq_empty(pp));
    CHECK(get(pp) == 1 && get(pp) == 2 && get(pp) == 3 && get(pp) == -1);

    /* runnext goes first; a second next=true kicks the first to the ring's tail. */
    gr_runq_put(pp, G(1), false);
    gr_runq_put(pp, G(2), true);
    CHECK(gr_load_relaxed(&pp->runnext) == G(2) && ring_len(pp) == 1);
    gr_runq_put(pp, G(3), true);
    CHECK(gr_load_relaxed(&pp->runnext) == G(3) && ring_len(pp) == 2);
    gr_runq_put(pp, G(4), false);
    CHECK(get(pp) == 3 && get(pp) == 1 && get(pp) == 2 && get(pp) == 4 && get(pp) == -1);
    CHECK(gr_runq_empty(pp));

    /* Only runnext: not empty; stealable only when the P is not running. */
    gr_runq_put(pp, G(5), true);
    CHECK(ring_len(pp) == 0 && !gr_runq_empty(pp));
    gr_store_relaxed(&pp->status, P_RUNNING);
    CHECK(!gr_runq_stealable(pp));
    gr_store_relaxed(&pp->status, P_IDLE);
    CHECK(gr_runq_stealable(pp));
    gr_store_relaxed(&pp->status, P_SYSCALL);
    CHECK(gr_runq_stealable(pp));
    gr_store_relaxed(&pp->status, P_RUNNING);
    gr_runq_put(pp, G(6), false);
    CHECK(gr_runq_stealable(pp));
    CHECK(get(pp) == 5 && get(pp) == 6 && gr_runq_empty(pp));

    /* The ring wraps around its 256 slots (head and tail are free-running). */
    reset();
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 200; i++)
            gr_runq_put(pp, G(i), false);
        int ok = 1;
        for (int i = 0; i < 200; i++)
            ok &= get(pp) == i;
        CHECK(ok && get(pp) == -1);
    }
    CHECK(gr_load_relaxed(&pp->runqhead) == 600 && gr_load_relaxed(&pp->runqtail) == 600);
    CHECK(gr_load_relaxed(&gr_sched.runqsize) == 0);
}

static void
test_spill(void)
{
    struct p *pp = &ps[0];

    /* A full ring plus one: the oldest 128 and the new G go to the global queue, in order. */
    reset();
    for (int i = 0; i < RING; i++)
        gr_runq_put(pp, G(i), false);
    CHECK(ring_len(pp) == RING && gr_load_relaxed(&gr_sched.runqsize) == 0);
    gr_runq_put(pp, G(RING), false);
    CHECK(ring_len(pp) == RING / 2);
    CHECK(gr_load_relaxed(&gr_sched.runqsize) == RING / 2 + 1);
    int ok = 1;
    for (int i = RING / 2; i < RING; i++)
        ok &= get(pp) == i;
    CHECK(ok && get(pp) == -1);
    ok = 1;
    for (int i = 0; i < RING / 2; i++)
        ok &= globget1() == i;
    CHECK(ok && globget1() == RING && globget1() == -1);
    CHECK(gr_load_relaxed(&gr_sched.runqsize) == 0 && gr_sched.runqhead == NULL &&
          gr_sched.runqtail == NULL);

    /* A full ring and a put with next=true: the old runnext is the one that overflows. */
    reset();
    gr_runq_put(pp, G(1000), true);
    for (int i = 0; i < RING; i++)
        gr_runq_put(pp, G(i), false);
    gr_runq_put(pp, G(1001), true);
    CHECK(gr_load_relaxed(&pp->runnext) == G(1001) && ring_len(pp) == RING / 2);
    CHECK(gr_load_relaxed(&gr_sched.runqsize) == RING / 2 + 1);
    CHECK(gr_sched.runqtail == G(1000));
    CHECK(get(pp) == 1001 && get(pp) == RING / 2);
}

static void
test_globrunq_one(void)
{
    struct p *pp = &ps[1];
    int ok = 1;

    reset();
    gr_runq_put(pp, G(900), false);
    gr_lock(&gr_sched.lock);
    CHECK(gr_globrunq_get() == NULL);
    for (int i = 0; i < 100; i++)
        gr_globrunq_put(G(i));
    CHECK(gr_load_relaxed(&gr_sched.runqsize) == 100);
    /* One G per call, in order; the P's ring keeps what it had. */
    for (int i = 0; i < 100; i++)
        ok &= gr_globrunq_get() == G(i) && gr_load_relaxed(&gr_sched.runqsize) == 99 - i;
    CHECK(ok && gr_globrunq_get() == NULL);
    gr_unlock(&gr_sched.lock);
    CHECK(ring_len(pp) == 1 && get(pp) == 900 && get(pp) == -1);
}

/* Wakeups go ahead of the preempted Gs, in their own order; the queue empties back to none. */
static void
test_globrunq_wakeups(void)
{
    reset();
    gr_lock(&gr_sched.lock);
    gr_globrunq_put_wakeup(G(10)); /* into an empty queue: head and tail */
    CHECK(gr_sched.runqhead == G(10) && gr_sched.runqtail == G(10));
    CHECK(gr_globrunq_get() == G(10) && gr_sched.runqwake == NULL);
    gr_globrunq_put(G(1));
    gr_globrunq_put(G(2));
    gr_globrunq_put_wakeup(G(11));
    gr_globrunq_put_wakeup(G(12));
    gr_globrunq_put(G(3));
    CHECK(gr_load_relaxed(&gr_sched.runqsize) == 5 && gr_load_relaxed(&gr_sched.nrunqwake) == 2);
    CHECK(gr_globrunq_get() == G(11) && gr_load_relaxed(&gr_sched.nrunqwake) == 1);
    gr_globrunq_put_wakeup(G(13)); /* behind the wakeup still queued */
    CHECK(gr_globrunq_get() == G(12) && gr_globrunq_get() == G(13));
    CHECK(gr_load_relaxed(&gr_sched.nrunqwake) == 0 && gr_sched.runqwake == NULL);
    CHECK(gr_globrunq_get() == G(1) && gr_globrunq_get() == G(2) && gr_globrunq_get() == G(3));
    CHECK(gr_globrunq_get() == NULL && gr_sched.runqtail == NULL);
    gr_globrunq_put(G(4));
    gr_globrunq_put_wakeup(G(14)); /* a wakeup after the last: the tail stays */
    CHECK(gr_sched.runqtail == G(4) && gr_globrunq_get() == G(14) && gr_globrunq_get() == G(4));
    gr_unlock(&gr_sched.lock);

    /* The scheduler's own ready: the G it pushes out of runnext becomes a wakeup, not the
     * ring's last. */
    gr_runq_put(&ps[0], G(20), false);
    gr_runq_put_sched(&ps[0], G(21));
    gr_runq_put_sched(&ps[0], G(22));
    CHECK(gr_load_relaxed(&ps[0].runnext) == G(22) && ring_len(&ps[0]) == 1);
    CHECK(gr_load_relaxed(&gr_sched.nrunqwake) == 1 && globget1() == 21);
    CHECK(get(&ps[0]) == 22 && get(&ps[0]) == 20 && get(&ps[0]) == -1);
}

static void
test_steal(void)
{
    struct p *victim = &ps[0], *thief = &ps[1];
    struct g *gp;

    /* The larger half of the ring: 5 of 9, the first returned, four in the thief's ring. */
    reset();
    for (int i = 0; i < 9; i++)
        gr_runq_put(victim, G(i), false);
    gp = gr_runq_steal(thief, victim, false);
    CHECK(gp == G(0) && ring_len(thief) == 4 && ring_len(victim) == 4);
    CHECK(get(thief) == 1 && get(thief) == 2 && get(thief) == 3 && get(thief) == 4 &&
          get(thief) == -1);
    CHECK(get(victim) == 5);
    CHECK(gr_load_relaxed(&gr_sched.nsteal) == 1);
    /* One G is stolen whole. */
    reset();
    gr_runq_put(victim, G(7), false);
    CHECK(gr_runq_steal(thief, victim, false) == G(7) && ring_len(victim) == 0);
    CHECK(gr_runq_steal(thief, victim, true) == NULL);

    /* runnext: never without steal_next, never from a running P, unless the thief stands in
     * for it (a spare for a stuck P); always from a P that is not running. */
    reset();
    gr_runq_put(victim, G(3), true);
    CHECK(gr_runq_steal(thief, victim, false) == NULL);
    gr_store_relaxed(&victim->status, P_RUNNING);
    CHECK(gr_runq_steal(thief, victim, true) == NULL && gr_load_relaxed(&victim->runnext) == G(3));
    thief->stuck = victim;
    CHECK(gr_runq_steal(thief, victim, true) == G(3) && gr_load_relaxed(&victim->runnext) == NULL);
    thief->stuck = NULL;
    gr_runq_put(victim, G(4), true);
    gr_store_relaxed(&victim->status, P_SYSCALL);
    CHECK(gr_runq_steal(thief, victim, true) == G(4) && gr_load_relaxed(&victim->runnext) == NULL);
    /* A ring with Gs is taken before runnext. */
    gr_runq_put(victim, G(5), true);
    gr_runq_put(victim, G(6), false);
    CHECK(gr_runq_steal(thief, victim, true) == G(6) && gr_load_relaxed(&victim->runnext) == G(5));

    /* Stealing a full ring's half into a thief whose ring is full spills the thief's. */
    reset();
    for (int i = 0; i < RING; i++)
        gr_runq_put(victim, G(i), false);
    for (int i = RING; i < 2 * RING; i++)
        gr_runq_put(thief, G(i), false);
    gp = gr_runq_steal(thief, victim, false);
    CHECK(gp == G(0) && ring_len(victim) == RING / 2);
    CHECK(ring_len(thief) + gr_load_relaxed(&gr_sched.runqsize) == RING + RING / 2 - 1);
}

static void
test_throw(void)
{
    struct p *pp = &ps[0];

    /* A ring that claims more than 256 Gs is a broken invariant, not a spill. */
    reset();
    gr_store_relaxed(&pp->runqhead, 0);
    gr_store_relaxed(&pp->runqtail, RING + 44);
    thrown = NULL;
    throw_armed = 1;
    if (setjmp(throw_jmp) == 0) {
        gr_runq_put(pp, G(1), false);
        throw_armed = 0;
    }
    CHECK(thrown != NULL && strcmp(thrown, "runq_put_slow: queue is not full") == 0);
    CHECK(gr_load_relaxed(&gr_sched.runqsize) == 0);
    CHECK(gr_trylock(&gr_sched.lock));
    gr_unlock(&gr_sched.lock);
}

/* ---- Under contention. */

#define NTHIEVES 3

static struct g *gbig;
static uint8_t *taken; /* atomic: times each G was taken */
static uint64_t ng;
static uint64_t consumed;    /* atomic */
static uint64_t duplicates;  /* atomic */
static uint64_t bad_ids;     /* atomic */
static uint64_t from_steal;  /* atomic: Gs a thief's gr_runq_steal returned */
static uint64_t from_global; /* atomic: Gs that came out of the global queue */

struct worker {
    struct p *pp;
    uint64_t rnd;
    uint64_t got;
    pthread_t thread;
};

static struct worker owner;
static struct worker thieves[NTHIEVES];

static uint32_t
rnd(struct worker *w)
{
    w->rnd ^= w->rnd << 13;
    w->rnd ^= w->rnd >> 7;
    w->rnd ^= w->rnd << 17;
    return (uint32_t)(w->rnd >> 16);
}

static void
take(struct worker *w, struct g *gp)
{
    uint64_t i = (uint64_t)(gp - gbig);

    if (gp < gbig || i >= ng || gp->goid != i) {
        __atomic_fetch_add(&bad_ids, 1, __ATOMIC_RELAXED);
    } else if (__atomic_fetch_add(&taken[i], 1, __ATOMIC_RELAXED) != 0) {
        __atomic_fetch_add(&duplicates, 1, __ATOMIC_RELAXED);
    }
    w->got++;
    __atomic_fetch_add(&consumed, 1, __ATOMIC_RELEASE);
}

static bool
all_taken(void)
{
    return __atomic_load_n(&consumed, __ATOMIC_ACQUIRE) >= ng;
}

/* Take the G at the global queue's head. */
static bool
take_global(struct worker *w)
{
    if (gr_load_relaxed(&gr_sched.runqsize) == 0)
        return false;
    gr_lock(&gr_sched.lock);
    struct g *gp = gr_globrunq_get();
    gr_unlock(&gr_sched.lock);
    if (gp == NULL)
        return false;
    __atomic_fetch_add(&from_global, 1, __ATOMIC_RELAXED);
    take(w, gp);
    return true;
}

/* The owner of ps[0]: puts every G (a quarter with next=true, in bursts that overflow the
 * ring now and then), takes some back itself, and flips its P between running and idle so
 * that thieves may take runnext half of the time. */
static void *
owner_main(void *arg)
{
    struct worker *w = arg;
    struct p *pp = w->pp;
    uint64_t k = 0;
    bool waited_for_thieves = false;

    while (k < ng) {
        uint32_t r = rnd(w);
        uint32_t burst = (r & 1023) == 0 ? 300 : 1 + r % 4;

        for (uint32_t i = 0; i < burst && k < ng; i++, k++)
            gr_runq_put(pp, &gbig[k], (rnd(w) & 3) == 0);
        if ((r & 0xff000) == 0)
            gr_store_relaxed(&pp->status, (r & 0x100000) ? P_IDLE : P_RUNNING);
        /* Let the thieves in now and then: valgrind runs one thread at a time. */
        if ((r & 0x3ff) == 0)
            sched_yield();
        /* And once, wait for a first steal with Gs in the ring: a loaded machine (or
         * valgrind's scheduler) can otherwise leave the thieves unscheduled the whole run,
         * and the run would prove nothing about stealing. */
        if (k >= 1000 && !waited_for_thieves) {
            waited_for_thieves = true;
            for (int i = 0; i < 2000000 && __atomic_load_n(&from_steal, __ATOMIC_RELAXED) == 0; i++)
                sched_yield();
        }
        uint32_t gets = rnd(w) % 4;
        for (uint32_t i = 0; i < gets; i++) {
            struct g *gp = gr_runq_get(pp);
            if (gp == NULL)
                break;
            take(w, gp);
        }
    }
    while (!all_taken()) {
        struct g *gp = gr_runq_get(pp);
        if (gp != NULL)
            take(w, gp);
        else if (!take_global(w))
            sched_yield();
    }
    return NULL;
}

/* A thief owns its own P: it steals from the owner (now and then from another thief) into
 * it, drains it, and helps empty the global queue. */
static void *
thief_main(void *arg)
{
    struct worker *w = arg;
    int idle = 0;

    while (!all_taken()) {
        struct g *gp = gr_runq_get(w->pp);
        if (gp != NULL) {
            take(w, gp);
            idle = 0;
            continue;
        }
        uint32_t r = rnd(w);
        struct p *victim = (r & 7) != 0 ? &ps[0] : &ps[1 + (r >> 3) % NTHIEVES];
        if (victim != w->pp && ((r & 0x100) || gr_runq_stealable(victim))) {
            gp = gr_runq_steal(w->pp, victim, (r & 0x200) != 0);
            if (gp != NULL) {
                __atomic_fetch_add(&from_steal, 1, __ATOMIC_RELAXED);
                take(w, gp);
                idle = 0;
                continue;
            }
        }
        if ((r & 0xf000) == 0 || ++idle > 64) {
            if (take_global(w)) {
                idle = 0;
                continue;
            }
        }
        if (idle > 64)
            sched_yield();
    }
    return NULL;
}

static void
test_contention(void)
{
    const char *env = getenv("RUNQ_TEST_GS"); /* default 1,000,000; 1.5 s under valgrind */

    ng = env != NULL ? strtoull(env, NULL, 10) : 1000000;
    reset();
    gbig = calloc(ng, sizeof(*gbig));
    taken = calloc(ng, 1);
    if (gbig == NULL || taken == NULL) {
        CHECK(!"out of memory");
        return;
    }
    for (uint64_t i = 0; i < ng; i++) {
        gbig[i].goid = i;
        gr_store_relaxed(&gbig[i].status, G_RUNNABLE);
    }

    owner = (struct worker){ .pp = &ps[0], .rnd = 0x9e3779b97f4a7c15ull };
    for (int i = 0; i < NTHIEVES; i++)
        thieves[i] = (struct worker){ .pp = &ps[1 + i], .rnd = 0x2545f4914f6cdd1dull * (i + 2) };
    for (int i = 0; i < NTHIEVES; i++)
        CHECK(pthread_create(&thieves[i].thread, NULL, thief_main, &thieves[i]) == 0);
    CHECK(pthread_create(&owner.thread, NULL, owner_main, &owner) == 0);
    pthread_join(owner.thread, NULL);
    for (int i = 0; i < NTHIEVES; i++)
        pthread_join(thieves[i].thread, NULL);

    uint64_t missing = 0, twice = 0;
    for (uint64_t i = 0; i < ng; i++) {
        missing += taken[i] == 0;
        twice += taken[i] > 1;
    }
    CHECK(missing == 0);
    CHECK(twice == 0 && duplicates == 0);
    CHECK(bad_ids == 0);
    CHECK(consumed == ng);
    for (int i = 0; i < NP; i++)
        CHECK(gr_runq_empty(&ps[i]));
    CHECK(gr_load_relaxed(&gr_sched.runqsize) == 0 && gr_sched.runqhead == NULL);

    uint64_t by_thieves = 0;
    for (int i = 0; i < NTHIEVES; i++)
        by_thieves += thieves[i].got;
    printf("contention: %llu Gs, %llu lost, %llu taken twice; owner took %llu, thieves %llu "
           "(%llu steals), %llu came via the global queue\n",
           (unsigned long long)ng, (unsigned long long)missing, (unsigned long long)twice,
           (unsigned long long)owner.got, (unsigned long long)by_thieves,
           (unsigned long long)from_steal, (unsigned long long)from_global);
    /* The run only proves something if the thieves and the global queue took part. */
    CHECK(from_steal > 0 && from_global > 0);
    free(gbig);
    free(taken);
}

int
main(void)
{
    test_fifo_and_runnext();
    test_spill();
    test_globrunq_one();
    test_globrunq_wakeups();
    test_steal();
    test_throw();
    test_contention();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
