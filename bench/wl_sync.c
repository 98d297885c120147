/*
 * bench/wl_sync.c: mutex, condition variable, rwlock and semaphore workloads.
 *
 * condvar_pingpong   the main thread and a helper hand a turn back and forth under one mutex,
 *                    each waiting on its own condvar; ops = round trips.
 * sem_pingpong       the same hand-off through two POSIX semaphores.
 * mutex_uncontended  lock, increment, unlock in one thread.
 * mutex_contended    threads increment one counter under one mutex; ops = total increments.
 * rwlock_readmostly  threads read an 8-word record under a read lock and check that its words
 *                    agree; one operation in arg takes the write lock and bumps every word.
 */
#include "shim.h"

#include <errno.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct cv_pp {
    struct bu_gate gate;
    pthread_mutex_t lock;
    pthread_cond_t cv[2]; /* cv[i] is waited on by side i: 0 = main, 1 = helper */
    int turn;             /* protected by lock */
    long ops;
    long rounds; /* protected by lock */
};

static void *
cv_helper(void *arg)
{
    struct cv_pp *c = arg;

    if (bu_gate_arrive(&c->gate))
        return NULL;
    pthread_mutex_lock(&c->lock);
    for (long i = 0; i < c->ops; i++) {
        while (c->turn != 1)
            pthread_cond_wait(&c->cv[1], &c->lock);
        c->rounds++;
        c->turn = 0;
        pthread_cond_signal(&c->cv[0]);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

int
wl_condvar_pingpong(const struct wl_params *p, struct wl_result *r)
{
    struct cv_pp c = { .turn = 0, .ops = p->ops, .rounds = 0 };
    pthread_t tid;

    pthread_mutex_init(&c.lock, NULL);
    pthread_cond_init(&c.cv[0], NULL);
    pthread_cond_init(&c.cv[1], NULL);
    bu_gate_init(&c.gate, 1);
    int rc = bu_spawn(&tid, 1, cv_helper, &c, 0, &c.gate, r);
    if (rc == 0) {
        bu_gate_wait_ready(&c.gate);
        int64_t t0 = bu_gate_open(&c.gate, 0);
        pthread_mutex_lock(&c.lock);
        for (long i = 0; i < p->ops; i++) {
            c.turn = 1;
            pthread_cond_signal(&c.cv[1]);
            while (c.turn != 0)
                pthread_cond_wait(&c.cv[0], &c.lock);
        }
        pthread_mutex_unlock(&c.lock);
        r->wall_ns = bu_now_ns() - t0;
        r->ops_done = p->ops;
        rc = bu_join_all(&tid, 1, r);
        if (rc == 0 && c.rounds != p->ops)
            rc = bu_fail(r, "helper saw %ld turns, want %ld", c.rounds, p->ops);
    }
    bu_gate_destroy(&c.gate);
    pthread_cond_destroy(&c.cv[1]);
    pthread_cond_destroy(&c.cv[0]);
    pthread_mutex_destroy(&c.lock);
    return rc;
}

struct sem_pp {
    struct bu_gate gate;
    sem_t sem[2]; /* sem[i] is waited on by side i: 0 = main, 1 = helper */
    long ops;
    long rounds; /* helper only; read after join */
    int err;     /* helper's errno from a failed sem_wait, 0 if none */
};

static int
sem_wait_intr(sem_t *s)
{
    while (sem_wait(s) != 0) {
        if (errno != EINTR)
            return errno;
    }
    return 0;
}

static void *
sem_helper(void *arg)
{
    struct sem_pp *s = arg;

    if (bu_gate_arrive(&s->gate))
        return NULL;
    for (long i = 0; i < s->ops; i++) {
        s->err = sem_wait_intr(&s->sem[1]);
        if (s->err != 0)
            break;
        s->rounds++;
        sem_post(&s->sem[0]);
    }
    return NULL;
}

int
wl_sem_pingpong(const struct wl_params *p, struct wl_result *r)
{
    struct sem_pp s = { .ops = p->ops, .rounds = 0, .err = 0 };
    pthread_t tid;

    sem_init(&s.sem[0], 0, 0);
    sem_init(&s.sem[1], 0, 0);
    bu_gate_init(&s.gate, 1);
    int rc = bu_spawn(&tid, 1, sem_helper, &s, 0, &s.gate, r);
    if (rc == 0) {
        bu_gate_wait_ready(&s.gate);
        int64_t t0 = bu_gate_open(&s.gate, 0);
        int err = 0;
        for (long i = 0; i < p->ops && err == 0; i++) {
            sem_post(&s.sem[1]);
            err = sem_wait_intr(&s.sem[0]);
        }
        r->wall_ns = bu_now_ns() - t0;
        r->ops_done = p->ops;
        if (err != 0) {
            /* Let the helper finish so it can be joined. */
            for (long i = 0; i < p->ops; i++)
                sem_post(&s.sem[1]);
        }
        rc = bu_join_all(&tid, 1, r);
        if (rc == 0 && err != 0)
            rc = bu_fail(r, "sem_wait: %s", strerror(err));
        if (rc == 0 && s.err != 0)
            rc = bu_fail(r, "helper sem_wait: %s", strerror(s.err));
        if (rc == 0 && s.rounds != p->ops)
            rc = bu_fail(r, "helper saw %ld posts, want %ld", s.rounds, p->ops);
    }
    bu_gate_destroy(&s.gate);
    sem_destroy(&s.sem[1]);
    sem_destroy(&s.sem[0]);
    return rc;
}

int
wl_mutex_uncontended(const struct wl_params *p, struct wl_result *r)
{
    pthread_mutex_t lock;
    volatile long counter = 0;

    pthread_mutex_init(&lock, NULL);
    int64_t t0 = bu_now_ns();
    for (long i = 0; i < p->ops; i++) {
        pthread_mutex_lock(&lock);
        counter = counter + 1;
        pthread_mutex_unlock(&lock);
    }
    r->wall_ns = bu_now_ns() - t0;
    r->ops_done = p->ops;
    pthread_mutex_destroy(&lock);
    if (counter != p->ops)
        return bu_fail(r, "counter is %ld, want %ld", counter, p->ops);
    return 0;
}

struct contended {
    struct bu_gate gate;
    pthread_mutex_t lock;
    long per_thread;
    long counter; /* protected by lock */
    int64_t end;  /* atomic max of finishing times */
};

static void
note_end(int64_t *end)
{
    int64_t t = bu_now_ns();
    int64_t seen = __atomic_load_n(end, __ATOMIC_RELAXED);

    while (t > seen &&
           !__atomic_compare_exchange_n(end, &seen, t, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

static void *
contended_main(void *arg)
{
    struct contended *c = arg;

    if (bu_gate_arrive(&c->gate))
        return NULL;
    for (long i = 0; i < c->per_thread; i++) {
        pthread_mutex_lock(&c->lock);
        c->counter++;
        pthread_mutex_unlock(&c->lock);
    }
    note_end(&c->end);
    return NULL;
}

int
wl_mutex_contended(const struct wl_params *p, struct wl_result *r)
{
    int n = p->threads;
    struct contended c = { .per_thread = p->ops / n, .counter = 0, .end = 0 };
    pthread_t *tids = calloc((size_t)n, sizeof(*tids));

    if (tids == NULL)
        return bu_fail(r, "out of memory");
    pthread_mutex_init(&c.lock, NULL);
    bu_gate_init(&c.gate, n);
    int rc = bu_spawn(tids, n, contended_main, &c, 0, &c.gate, r);
    if (rc == 0) {
        bu_gate_wait_ready(&c.gate);
        int64_t t0 = bu_gate_open(&c.gate, 0);
        rc = bu_join_all(tids, n, r);
        r->wall_ns = c.end - t0;
        r->ops_done = c.per_thread * n;
        if (rc == 0 && c.counter != r->ops_done)
            rc = bu_fail(r, "counter is %ld, want %ld", c.counter, r->ops_done);
    }
    bu_gate_destroy(&c.gate);
    pthread_mutex_destroy(&c.lock);
    free(tids);
    return rc;
}

#define RECORD_WORDS 8

struct readmostly {
    struct bu_gate gate;
    pthread_rwlock_t lock;
    long per_thread;
    long write_every;
    long record[RECORD_WORDS]; /* protected by lock; all words always equal */
    long torn;                 /* atomic: reads that saw unequal words */
    int64_t end;               /* atomic max of finishing times */
};

static void *
readmostly_main(void *arg)
{
    struct readmostly *m = arg;

    if (bu_gate_arrive(&m->gate))
        return NULL;
    for (long i = 1; i <= m->per_thread; i++) {
        if (i % m->write_every == 0) {
            pthread_rwlock_wrlock(&m->lock);
            for (int k = 0; k < RECORD_WORDS; k++)
                m->record[k]++;
            pthread_rwlock_unlock(&m->lock);
        } else {
            pthread_rwlock_rdlock(&m->lock);
            long first = __atomic_load_n(&m->record[0], __ATOMIC_RELAXED);
            for (int k = 1; k < RECORD_WORDS; k++) {
                if (__atomic_load_n(&m->record[k], __ATOMIC_RELAXED) != first)
                    __atomic_fetch_add(&m->torn, 1, __ATOMIC_RELAXED);
            }
            pthread_rwlock_unlock(&m->lock);
        }
    }
    note_end(&m->end);
    return NULL;
}

int
wl_rwlock_readmostly(const struct wl_params *p, struct wl_result *r)
{
    int n = p->threads;
    struct readmostly m = { .per_thread = p->ops / n, .write_every = p->arg, .torn = 0 };
    pthread_t *tids = calloc((size_t)n, sizeof(*tids));

    if (tids == NULL)
        return bu_fail(r, "out of memory");
    pthread_rwlock_init(&m.lock, NULL);
    bu_gate_init(&m.gate, n);
    int rc = bu_spawn(tids, n, readmostly_main, &m, 0, &m.gate, r);
    if (rc == 0) {
        bu_gate_wait_ready(&m.gate);
        int64_t t0 = bu_gate_open(&m.gate, 0);
        rc = bu_join_all(tids, n, r);
        r->wall_ns = m.end - t0;
        r->ops_done = m.per_thread * n;
        long writes = (m.per_thread / m.write_every) * n;
        if (rc == 0 && m.torn != 0)
            rc = bu_fail(r, "%ld reads saw a half-written record", m.torn);
        if (rc == 0 && m.record[0] != writes)
            rc = bu_fail(r, "record is %ld, want %ld writes", m.record[0], writes);
    }
    bu_gate_destroy(&m.gate);
    pthread_rwlock_destroy(&m.lock);
    free(tids);
    return rc;
}
