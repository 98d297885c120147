/*
 * bench/wl_latency.c: how promptly threads run while every processor is busy with CPU-bound
 * threads (issue 13's targets: a new thread runs within 50 ms of its creation, a sleep returns
 * within 20 ms of its deadline, a thread woken by a timer runs within 2 ms at the 99th
 * percentile).
 *
 * cpu_latency: p->threads churners compute without end, each in a loop of malloc, memset, free
 * and a few hundred steps of its own arithmetic, so a churner is found in libc as often as in
 * its own code. Meanwhile a ticker, started before them, sleeps 1 ms over and over and records how
 * late each sleep returned, and the main thread creates p->ops probes, one per round, each of which
 * records when it first ran and exits, and sleeps p->arg ms per round, recording how late it woke.
 * Metrics (milliseconds): start_max and start_p50 (a probe's first run after its creation),
 * sleep_late_max (the main thread's sleeps), tick_late_p50, tick_late_p99, tick_late_max.
 * The timed region is the rounds; ops_done is the number of ticks.
 *
 * spin_latency: p->threads spinners busy-wait by design, never yielding nor calling anything:
 * they pass a turn around a ring, each spinning on an atomic until the turn is its own, then
 * handing it on at once. With more spinners than processors, the next in the ring is often
 * runnable but not running, and every other spinner spins on meanwhile. A ticker sleeps 1 ms
 * over and over as in cpu_latency, for p->ops ticks. Metrics (milliseconds): pass_p50, pass_p99
 * and pass_max (from a hand-off until its receiver saw it), tick_late_p50, tick_late_p99 and
 * tick_late_max; ops_done is the number of ticks.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define TICK_NS   1000000LL
#define MAX_TICKS 100000

struct latency {
    struct bu_gate gate;    /* the churners arrive here before the rounds */
    atomic_int measuring;   /* set when the rounds start: the ticker records from then on */
    atomic_int stop;        /* set when the rounds are over */
    int64_t *tick_late;     /* written by the ticker only */
    long nticks;            /* written by the ticker, read after it is joined */
    atomic_llong probe_ran; /* the latest probe's first-run time, 0 until it ran */
    atomic_ulong sink;      /* keeps the churners' arithmetic alive */
};

static void *
churner_main(void *arg)
{
    struct latency *l = *(struct latency **)arg;
    unsigned long x = (unsigned long)(uintptr_t)arg | 1, acc = 0;

    if (bu_gate_arrive(&l->gate))
        return NULL;
    while (!atomic_load_explicit(&l->stop, memory_order_relaxed)) {
        size_t n = 64 + (x >> 7) % 4032;
        char *p = malloc(n);
        if (p != NULL) {
            memset(p, (int)x, n);
            acc += (unsigned char)p[n / 2];
            free(p);
        }
        for (int i = 0; i < 300; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            acc += x;
        }
    }
    atomic_fetch_add_explicit(&l->sink, acc, memory_order_relaxed);
    return NULL;
}

static void *
ticker_main(void *arg)
{
    struct latency *l = arg;

    while (!atomic_load(&l->stop) && l->nticks < MAX_TICKS) {
        int64_t t0 = bu_now_ns(), late;
        bu_sleep_ns(TICK_NS);
        late = bu_now_ns() - t0 - TICK_NS;
        if (atomic_load(&l->measuring))
            l->tick_late[l->nticks++] = late;
    }
    return NULL;
}

static void *
probe_main(void *arg)
{
    struct latency *l = arg;

    atomic_store(&l->probe_ran, (long long)bu_now_ns());
    return NULL;
}

/* The rounds: a probe and a sleep each. Returns 0 or -1 with the reason in r. */
static int
rounds(struct latency *l, const struct wl_params *p, int64_t *start, int64_t *late,
       struct wl_result *r)
{
    int64_t sleep_ns = p->arg * 1000000LL;

    for (long i = 0; i < p->ops; i++) {
        pthread_t t;
        int64_t created, t0;
        int rc;

        atomic_store(&l->probe_ran, 0);
        created = bu_now_ns();
        rc = pthread_create(&t, NULL, probe_main, l);
        if (rc != 0)
            return bu_fail(r, "pthread_create of probe %ld: %s", i, strerror(rc));
        t0 = bu_now_ns();
        bu_sleep_ns(sleep_ns);
        late[i] = bu_now_ns() - t0 - sleep_ns;
        pthread_join(t, NULL);
        start[i] = (int64_t)atomic_load(&l->probe_ran) - created;
    }
    return 0;
}

int
wl_cpu_latency(const struct wl_params *p, struct wl_result *r)
{
    int n = p->threads;
    struct latency l = { .nticks = 0 };
    pthread_t ticker;
    pthread_t *tids = calloc((size_t)n, sizeof(*tids));
    struct latency **args = calloc((size_t)n, sizeof(*args));
    int64_t *start = calloc((size_t)p->ops, sizeof(*start));
    int64_t *late = calloc((size_t)p->ops, sizeof(*late));
    int rc = -1;

    l.tick_late = calloc(MAX_TICKS, sizeof(*l.tick_late));
    if (p->ops < 1) {
        rc = bu_fail(r, "cpu_latency needs at least one round");
        goto out;
    }
    if (tids == NULL || args == NULL || start == NULL || late == NULL || l.tick_late == NULL) {
        rc = bu_fail(r, "out of memory for %d threads", n);
        goto out;
    }
    for (int i = 0; i < n; i++)
        args[i] = &l;
    /* The ticker ticks before the churners start, so that it is not queued behind them in the
     * gate's wakeup; it records once the rounds begin. */
    rc = pthread_create(&ticker, NULL, ticker_main, &l);
    if (rc != 0) {
        rc = bu_fail(r, "pthread_create of the ticker: %s", strerror(rc));
        goto out;
    }
    bu_gate_init(&l.gate, n);
    rc = bu_spawn(tids, n, churner_main, args, sizeof(*args), &l.gate, r);
    if (rc == 0) {
        bu_gate_wait_ready(&l.gate);
        int64_t t0 = bu_gate_open(&l.gate, 0);
        atomic_store(&l.measuring, 1);
        rc = rounds(&l, p, start, late, r);
        r->wall_ns = bu_now_ns() - t0;
    }
    atomic_store(&l.stop, 1);
    pthread_join(ticker, NULL);
    if (rc == 0 && bu_join_all(tids, n, r) != 0)
        rc = -1;
    bu_gate_destroy(&l.gate);
    if (rc == 0 && l.nticks == 0)
        rc = bu_fail(r, "the ticker never woke");
    if (rc == 0) {
        size_t nt = (size_t)l.nticks, np = (size_t)p->ops;
        r->ops_done = l.nticks;
        bu_sort_i64(start, np);
        bu_sort_i64(late, np);
        bu_sort_i64(l.tick_late, nt);
        bu_metric(r, "start_max_ms", (double)start[np - 1] / 1e6);
        bu_metric(r, "start_p50_ms", (double)bu_quantile(start, np, 0.50) / 1e6);
        bu_metric(r, "sleep_late_max_ms", (double)late[np - 1] / 1e6);
        bu_metric(r, "tick_late_p50_ms", (double)bu_quantile(l.tick_late, nt, 0.50) / 1e6);
        bu_metric(r, "tick_late_p99_ms", (double)bu_quantile(l.tick_late, nt, 0.99) / 1e6);
        bu_metric(r, "tick_late_max_ms", (double)l.tick_late[nt - 1] / 1e6);
    }
out:
    free(tids);
    free(args);
    free(start);
    free(late);
    free(l.tick_late);
    return rc;
}

#define MAX_PASSES 200000

struct spin_ring {
    atomic_int turn;        /* the spinner whose turn it is */
    atomic_llong passed_at; /* when the turn was handed on */
    atomic_int stop;
    int n;
    int64_t *pass; /* each hand-off's wait, written by the turn's holder */
    atomic_long npass;
    struct bu_gate gate;
};

struct spinner_arg {
    struct spin_ring *ring;
    int me;
};

static void *
spinner_main(void *arg)
{
    struct spinner_arg *a = arg;
    struct spin_ring *s = a->ring;

    if (bu_gate_arrive(&s->gate))
        return NULL;
    for (;;) {
        while (atomic_load_explicit(&s->turn, memory_order_acquire) != a->me)
            if (atomic_load_explicit(&s->stop, memory_order_relaxed))
                return NULL;
        int64_t now = bu_now_ns();
        long k = atomic_load_explicit(&s->npass, memory_order_relaxed);
        if (k < MAX_PASSES) {
            s->pass[k] = now - atomic_load_explicit(&s->passed_at, memory_order_relaxed);
            atomic_store_explicit(&s->npass, k + 1, memory_order_relaxed);
        }
        atomic_store_explicit(&s->passed_at, now, memory_order_relaxed);
        atomic_store_explicit(&s->turn, (a->me + 1) % s->n, memory_order_release);
    }
}

int
wl_spin_latency(const struct wl_params *p, struct wl_result *r)
{
    int n = p->threads;
    struct spin_ring s = { .n = n };
    pthread_t *tids = calloc((size_t)n, sizeof(*tids));
    struct spinner_arg *args = calloc((size_t)n, sizeof(*args));
    int64_t *late = calloc((size_t)p->ops, sizeof(*late));
    int rc = -1;

    s.pass = calloc(MAX_PASSES, sizeof(*s.pass));
    if (n < 1 || p->ops < 1) {
        rc = bu_fail(r, "spin_latency needs a spinner and a tick");
        goto out;
    }
    if (tids == NULL || args == NULL || late == NULL || s.pass == NULL) {
        rc = bu_fail(r, "out of memory for %d spinners", n);
        goto out;
    }
    for (int i = 0; i < n; i++)
        args[i] = (struct spinner_arg){ &s, i };
    bu_gate_init(&s.gate, n);
    rc = bu_spawn(tids, n, spinner_main, args, sizeof(*args), &s.gate, r);
    if (rc == 0) {
        bu_gate_wait_ready(&s.gate);
        atomic_store(&s.passed_at, (long long)bu_now_ns());
        int64_t t0 = bu_gate_open(&s.gate, 0);
        /* The ticker is this thread: woken by its timer while every processor spins. */
        for (long i = 0; i < p->ops; i++) {
            int64_t t = bu_now_ns();
            bu_sleep_ns(TICK_NS);
            late[i] = bu_now_ns() - t - TICK_NS;
        }
        r->wall_ns = bu_now_ns() - t0;
    }
    atomic_store(&s.stop, 1);
    if (rc == 0 && bu_join_all(tids, n, r) != 0)
        rc = -1;
    bu_gate_destroy(&s.gate);
    if (rc == 0 && atomic_load(&s.npass) == 0)
        rc = bu_fail(r, "the turn was never passed");
    if (rc == 0) {
        size_t np = (size_t)atomic_load(&s.npass), nt = (size_t)p->ops;
        r->ops_done = p->ops;
        bu_sort_i64(s.pass, np);
        bu_sort_i64(late, nt);
        bu_metric(r, "pass_p50_ms", (double)bu_quantile(s.pass, np, 0.50) / 1e6);
        bu_metric(r, "pass_p99_ms", (double)bu_quantile(s.pass, np, 0.99) / 1e6);
        bu_metric(r, "pass_max_ms", (double)s.pass[np - 1] / 1e6);
        bu_metric(r, "tick_late_p50_ms", (double)bu_quantile(late, nt, 0.50) / 1e6);
        bu_metric(r, "tick_late_p99_ms", (double)bu_quantile(late, nt, 0.99) / 1e6);
        bu_metric(r, "tick_late_max_ms", (double)late[nt - 1] / 1e6);
    }
out:
    free(tids);
    free(args);
    free(late);
    free(s.pass);
    return rc;
}
