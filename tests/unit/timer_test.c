/* tests/unit/timer_test.c
 * Behaviour: the per-P 4-ary timer heap keeps its order through random adds and deletes, runs
 * exactly the due timers in deadline order, and gr_timer_del reports whether it beat the
 * callback. A G a callback returns is readied only after its timer is idle (the timer may
 * live on that G's stack). White-box: links runtime/timer.c directly, with the scheduler
 * stubbed out.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/boot.h"
#include "runtime/proc.h"
#include "runtime/sched.h"
#include "runtime/timer.h"
#include "runtime/trace.h"

/* Stubs for what timer.c and debug.c reach of the scheduler. */
__thread struct g *gr_curg __attribute__((tls_model("initial-exec")));
struct gr_sched gr_sched;
bool
gr_sched_booted(void)
{
    return false;
}
void
gr_timer_added(int64_t when)
{
    (void)when;
}
/* Tracing stays off (trace.c): a timer's event site must not reach the recorder. */
struct gr_atomic_u8 gr_trace_on;
void
gr_trace_emit(uint32_t kind, uint32_t x, uint64_t a, uint64_t b)
{
    fprintf(stderr, "timer_test: an event recorded with tracing off\n");
    abort();
}

/* The timer whose callback hands back a G, and what gr_ready saw of it. */
static struct gr_timer waker;
static struct g *fake_g = (struct g *)&waker; /* any non-NULL address: never dereferenced */
static int readied, readied_idle;

void
gr_ready(struct g *gp)
{
    readied += gp == fake_g;
    readied_idle += gp == fake_g && gr_load(&waker.state) == T_IDLE;
}

static int failures, checks;

#define EXPECT(c)                                                            \
    do {                                                                     \
        checks++;                                                            \
        if (!(c)) {                                                          \
            failures++;                                                      \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #c); \
        }                                                                    \
    } while (0)

#define N 2000

static int64_t fired[N];
static int nfired;

static struct g *
record(struct gr_timer *t)
{
    fired[nfired++] = t->when;
    return NULL; /* no G to ready */
}

static struct g *
hand_back(struct gr_timer *t)
{
    (void)t;
    return fake_g;
}

int
main(void)
{
    struct p *pp = calloc(1, sizeof(struct p));
    struct gr_timer *ts = calloc(N, sizeof(struct gr_timer));

    gr_lock_init(&pp->timers.lock, GR_RANK_TIMERS); /* as gr_boot_sched does */
    bool deleted[N] = { false };
    int ndeleted = 0;

    gr_store_relaxed(&pp->timers.next_when, INT64_MAX);
    srand(42);
    for (int i = 0; i < N; i++) {
        ts[i].fn = record;
        gr_timer_add(pp, &ts[i], 1000 + rand() % 100000);
    }
    EXPECT(pp->timers.len == N);
    /* Delete a third, at random. */
    for (int i = 0; i < N; i += 3) {
        EXPECT(gr_timer_del(&ts[i]));
        deleted[i] = true;
        ndeleted++;
    }
    EXPECT(pp->timers.len == N - ndeleted);
    /* Nothing is due before the earliest deadline. */
    int64_t next = gr_timers_run(pp, 999);
    EXPECT(nfired == 0);
    EXPECT(next >= 1000);
    /* Run half the range, then the rest: each batch in order, only due timers. */
    gr_timers_run(pp, 50000);
    int first = nfired;
    for (int i = 0; i < first; i++) {
        EXPECT(fired[i] <= 50000);
        if (i > 0)
            EXPECT(fired[i - 1] <= fired[i]);
    }
    next = gr_timers_run(pp, INT64_MAX - 1);
    EXPECT(next == INT64_MAX);
    EXPECT(nfired == N - ndeleted);
    for (int i = first + 1; i < nfired; i++)
        EXPECT(fired[i - 1] <= fired[i]);
    /* A fired timer cannot be deleted, and a deleted one never fired. */
    for (int i = 0; i < N; i++)
        if (!deleted[i])
            EXPECT(!gr_timer_del(&ts[i]));
    EXPECT(pp->timers.len == 0 && gr_load(&pp->timers.next_when) == INT64_MAX);
    /* A callback's G is readied once, after its timer went idle. */
    waker.fn = hand_back;
    gr_timer_add(pp, &waker, 10);
    gr_timers_run(pp, 20);
    EXPECT(readied == 1);
    EXPECT(readied_idle == 1);
    free(ts);
    free(pp);
    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures != 0;
}
