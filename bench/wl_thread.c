/*
 * bench/wl_thread.c: thread lifecycle and timer workloads.
 *
 * create_join       create a thread and join it, one at a time; the thread returns its argument.
 * yield_pingpong    two threads pass a turn flag; the waiting side calls sched_yield().
 * sleepers          N threads released at once, each sleeping arg times for 1 ms (nanosleep).
 * timedwait_expire  T threads, each waiting on its own condvar with a deadline that expires.
 */
#include "shim.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

#define SLEEP_NS 1000000 /* the sleepers' sleep length: 1 ms */

static void *
return_arg(void *arg)
{
    return arg;
}

int
wl_create_join(const struct wl_params *p, struct wl_result *r)
{
    int64_t t0 = bu_now_ns();

    for (long i = 0; i < p->ops; i++) {
        pthread_t tid;
        void *ret = NULL;
        void *arg = (void *)(intptr_t)(i + 1);
        int err = pthread_create(&tid, NULL, return_arg, arg);
        if (err != 0)
            return bu_fail(r, "pthread_create #%ld: %s", i + 1, strerror(err));
        err = pthread_join(tid, &ret);
        if (err != 0)
            return bu_fail(r, "pthread_join #%ld: %s", i + 1, strerror(err));
        if (ret != arg)
            return bu_fail(r, "thread #%ld returned %p, want %p", i + 1, ret, arg);
    }
    r->wall_ns = bu_now_ns() - t0;
    r->ops_done = p->ops;
    return 0;
}

struct yield_pp {
    struct bu_gate gate;
    long ops;
    int turn;    /* atomic: 1 = the helper's turn, 0 = the main thread's */
    long rounds; /* helper only; read after join */
};

static void *
yield_helper(void *arg)
{
    struct yield_pp *y = arg;

    if (bu_gate_arrive(&y->gate))
        return NULL;
    for (long i = 0; i < y->ops; i++) {
        /* Pairs with the release store in wl_yield_pingpong(). */
        while (__atomic_load_n(&y->turn, __ATOMIC_ACQUIRE) != 1)
            sched_yield();
        y->rounds++;
        __atomic_store_n(&y->turn, 0, __ATOMIC_RELEASE);
    }
    return NULL;
}

int
wl_yield_pingpong(const struct wl_params *p, struct wl_result *r)
{
    struct yield_pp y = { .ops = p->ops, .turn = 0, .rounds = 0 };
    pthread_t tid;

    bu_gate_init(&y.gate, 1);
    if (bu_spawn(&tid, 1, yield_helper, &y, 0, &y.gate, r) != 0)
        return -1;
    bu_gate_wait_ready(&y.gate);
    int64_t t0 = bu_gate_open(&y.gate, 0);
    for (long i = 0; i < p->ops; i++) {
        /* Pairs with the acquire load in yield_helper(). */
        __atomic_store_n(&y.turn, 1, __ATOMIC_RELEASE);
        while (__atomic_load_n(&y.turn, __ATOMIC_ACQUIRE) != 0)
            sched_yield();
    }
    r->wall_ns = bu_now_ns() - t0;
    r->ops_done = p->ops;
    int rc = bu_join_all(&tid, 1, r);
    bu_gate_destroy(&y.gate);
    if (rc == 0 && y.rounds != p->ops)
        rc = bu_fail(r, "helper saw %ld turns, want %ld", y.rounds, p->ops);
    return rc;
}

struct sleepers {
    struct bu_gate gate;
    int nsleeps;
    int64_t *samples; /* [thread * nsleeps + k]; each slot written by one thread */
    int64_t end_max;  /* atomic max of the threads' finishing times */
};

struct sleeper {
    struct sleepers *s;
    int idx;
};

static void *
sleeper_main(void *arg)
{
    struct sleeper *me = arg;
    struct sleepers *s = me->s;

    if (bu_gate_arrive(&s->gate))
        return NULL;
    int64_t *out = s->samples + (size_t)me->idx * s->nsleeps;
    int64_t t = bu_now_ns();
    for (int k = 0; k < s->nsleeps; k++) {
        bu_sleep_ns(SLEEP_NS);
        int64_t now = bu_now_ns();
        out[k] = now - t;
        t = now;
    }
    int64_t seen = __atomic_load_n(&s->end_max, __ATOMIC_RELAXED);
    while (t > seen && !__atomic_compare_exchange_n(&s->end_max, &seen, t, 1, __ATOMIC_RELAXED,
                                                    __ATOMIC_RELAXED))
        ;
    return NULL;
}

int
wl_sleepers(const struct wl_params *p, struct wl_result *r)
{
    int n = p->threads;
    int nsleeps = (int)p->arg;
    size_t total = (size_t)n * (size_t)nsleeps;
    struct sleepers s = { .nsleeps = nsleeps, .end_max = 0 };
    pthread_t *tids = calloc((size_t)n, sizeof(*tids));
    struct sleeper *args = calloc((size_t)n, sizeof(*args));

    s.samples = calloc(total, sizeof(*s.samples));
    if (tids == NULL || args == NULL || s.samples == NULL) {
        free(tids);
        free(args);
        free(s.samples);
        return bu_fail(r, "out of memory for %d sleepers", n);
    }
    for (int i = 0; i < n; i++) {
        args[i].s = &s;
        args[i].idx = i;
    }
    bu_gate_init(&s.gate, n);
    int rc = bu_spawn(tids, n, sleeper_main, args, sizeof(*args), &s.gate, r);
    if (rc == 0) {
        bu_gate_wait_ready(&s.gate);
        int64_t t0 = bu_gate_open(&s.gate, 0);
        rc = bu_join_all(tids, n, r);
        r->wall_ns = __atomic_load_n(&s.end_max, __ATOMIC_RELAXED) - t0;
        r->ops_done = (long)total;
    }
    if (rc == 0) {
        int64_t sum = 0;
        for (size_t i = 0; i < total; i++) {
            if (s.samples[i] < SLEEP_NS) {
                rc = bu_fail(r, "a 1 ms sleep returned after %lld ns", (long long)s.samples[i]);
                break;
            }
            sum += s.samples[i];
        }
        if (rc == 0) {
            double mean = (double)sum / (double)total;
            bu_sort_i64(s.samples, total);
            bu_metric(r, "wall_ms", (double)r->wall_ns / 1e6);
            bu_metric(r, "mean_sleep_us", mean / 1e3);
            bu_metric(r, "overshoot_us", (mean - SLEEP_NS) / 1e3);
            bu_metric(r, "p50_sleep_us", (double)bu_quantile(s.samples, total, 0.50) / 1e3);
            bu_metric(r, "p99_sleep_us", (double)bu_quantile(s.samples, total, 0.99) / 1e3);
            bu_metric(r, "max_sleep_us", (double)s.samples[total - 1] / 1e3);
        }
    }
    bu_gate_destroy(&s.gate);
    free(tids);
    free(args);
    free(s.samples);
    return rc;
}

struct timedwaiter {
    struct bu_gate *gate;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* never signalled: every wait ends by its deadline */
    long waits;
    int64_t timeout_ns;
    int64_t sum_ns; /* sum of the waits' lengths */
    int64_t min_ns;
    int64_t end; /* when this thread finished */
    char early;  /* a wait returned before its deadline */
    char pad[64];
};

static void *
timedwaiter_main(void *arg)
{
    struct timedwaiter *w = arg;

    if (bu_gate_arrive(w->gate))
        return NULL;
    w->min_ns = INT64_MAX;
    pthread_mutex_lock(&w->lock);
    for (long i = 0; i < w->waits; i++) {
        struct timespec now, dl;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t start = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
        int64_t deadline = start + w->timeout_ns;
        dl.tv_sec = deadline / 1000000000;
        dl.tv_nsec = deadline % 1000000000;
        int err;
        do
            err = pthread_cond_timedwait(&w->cond, &w->lock, &dl);
        while (err == 0);
        int64_t len = bu_now_ns() - start;
        if (err != ETIMEDOUT || len < w->timeout_ns)
            w->early = 1;
        w->sum_ns += len;
        if (len < w->min_ns)
            w->min_ns = len;
    }
    pthread_mutex_unlock(&w->lock);
    w->end = bu_now_ns();
    return NULL;
}

int
wl_timedwait_expire(const struct wl_params *p, struct wl_result *r)
{
    int n = p->threads;
    struct bu_gate gate;
    pthread_t *tids = calloc((size_t)n, sizeof(*tids));
    struct timedwaiter *w = calloc((size_t)n, sizeof(*w));
    pthread_condattr_t ca;

    if (tids == NULL || w == NULL) {
        free(tids);
        free(w);
        return bu_fail(r, "out of memory for %d waiters", n);
    }
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    long per = (p->ops + n - 1) / n;
    for (int i = 0; i < n; i++) {
        w[i].gate = &gate;
        pthread_mutex_init(&w[i].lock, NULL);
        pthread_cond_init(&w[i].cond, &ca);
        w[i].waits = per;
        w[i].timeout_ns = p->arg * 1000;
    }
    pthread_condattr_destroy(&ca);
    bu_gate_init(&gate, n);
    int rc = bu_spawn(tids, n, timedwaiter_main, w, sizeof(*w), &gate, r);
    if (rc == 0) {
        bu_gate_wait_ready(&gate);
        int64_t t0 = bu_gate_open(&gate, 0);
        rc = bu_join_all(tids, n, r);
        int64_t end = t0, sum = 0, min = INT64_MAX;
        for (int i = 0; i < n && rc == 0; i++) {
            if (w[i].early)
                rc = bu_fail(r, "a timed wait of %ld us returned before its deadline", p->arg);
            if (w[i].end > end)
                end = w[i].end;
            sum += w[i].sum_ns;
            if (w[i].min_ns < min)
                min = w[i].min_ns;
        }
        if (rc == 0) {
            long total = per * n;
            double mean = (double)sum / (double)total;
            r->wall_ns = end - t0;
            r->ops_done = total;
            bu_metric(r, "mean_wait_us", mean / 1e3);
            bu_metric(r, "overshoot_us", (mean - (double)p->arg * 1e3) / 1e3);
            bu_metric(r, "min_wait_us", (double)min / 1e3);
        }
    }
    for (int i = 0; i < n; i++) {
        pthread_cond_destroy(&w[i].cond);
        pthread_mutex_destroy(&w[i].lock);
    }
    bu_gate_destroy(&gate);
    free(tids);
    free(w);
    return rc;
}
