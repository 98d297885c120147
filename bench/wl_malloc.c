/*
 * bench/wl_malloc.c: allocator workloads, run under glibc malloc, a preloaded jemalloc or
 * mimalloc, or greenrun's allocator (whichever malloc the process resolves).
 *
 * malloc_fastpath  one thread: malloc of one size, then free at once; the allocator's fast path.
 * malloc_local     one thread keeps a window of live blocks; each operation frees a random one
 *                  and allocates a replacement of a random size.
 * malloc_cross     a producer allocates blocks and hands them over in batches of 256 to a
 *                  consumer, which checks and frees them: every free is of memory another thread
 *                  allocated.
 * larson           server churn: threads that free and allocate in slot arrays, then hand the
 *                  slots to a successor thread and exit.
 * prodcons         several producers and consumers around one queue of batches.
 * fragmentation    many small blocks, a random 90% freed, the holes refilled with other sizes;
 *                  the memory kept afterwards is the point.
 * realloc_growth   buffers grown by doubling and by small steps up to 1 MiB.
 * large_blocks     64 KiB..4 MiB blocks allocated, every page touched, freed.
 * Each workload's own comment says what it measures. The driver (main.cc) adds the process's
 * peak RSS (VmHWM) to every run, so the memory an allocator keeps is reported beside its time.
 *
 * Size mix of malloc_local, malloc_cross and prodcons: 10/16 of the blocks are 16..128 bytes,
 * 4/16 are 129..1024, 2/16 are 1025..16384. Every block carries a header (tag, size) and, past
 * the header, a tail byte, both checked before the block is freed, so an allocator that hands
 * out overlapping memory fails the run.
 */
#include "shim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define WINDOW      4096  /* malloc_local: live blocks */
#define BATCH       256   /* malloc_cross: blocks per hand-over */
#define QUEUE_SLOTS 16    /* malloc_cross: batches in flight */
#define SMALL_MAX   16384 /* the largest block of pick_size() */

struct block {
    uint64_t tag;
    uint64_t size;
};

static size_t
pick_size(uint64_t r)
{
    unsigned cls = (unsigned)(r & 15);
    uint64_t jitter = r >> 8;

    if (cls < 10)
        return 16 + (size_t)(jitter % 113);
    if (cls < 14)
        return 129 + (size_t)(jitter % 896);
    return 1025 + (size_t)(jitter % 15360);
}

static struct block *
block_new(size_t size, uint64_t tag)
{
    struct block *b = malloc(size);

    if (b != NULL) {
        b->tag = tag;
        b->size = size;
        if (size > sizeof(*b))
            ((unsigned char *)b)[size - 1] = (unsigned char)tag;
    }
    return b;
}

/* Check a block's header and tail; returns 0 when intact. max bounds a sane size. */
static int
block_check(const struct block *b, uint64_t tag, size_t max)
{
    if (b->tag != tag || b->size < sizeof(*b) || b->size > max)
        return -1;
    if (b->size == sizeof(*b))
        return 0;
    return ((const unsigned char *)b)[b->size - 1] == (unsigned char)tag ? 0 : -1;
}

/*
 * malloc_fastpath: the cost of the allocator's fast path. One thread allocates arg bytes (64 if
 * arg is 0) and frees them at once, ops times; the same size class and the same thread cache
 * every time, so nothing but the fast path runs. An empty asm keeps the compiler from folding
 * the pair away.
 */
int
wl_malloc_fastpath(const struct wl_params *p, struct wl_result *r)
{
    size_t size = p->arg > 0 ? (size_t)p->arg : 64;

    free(malloc(size)); /* the thread's cache, if any, exists before the clock starts */
    int64_t t0 = bu_now_ns();
    for (long op = 0; op < p->ops; op++) {
        void *x = malloc(size);
        if (x == NULL) {
            r->wall_ns = bu_now_ns() - t0;
            return bu_fail(r, "malloc(%zu) failed at operation %ld", size, op);
        }
        __asm__ volatile("" : : "r"(x) : "memory");
        free(x);
    }
    r->wall_ns = bu_now_ns() - t0;
    r->ops_done = p->ops;
    return 0;
}

int
wl_malloc_local(const struct wl_params *p, struct wl_result *r)
{
    struct block **slot = calloc(WINDOW, sizeof(*slot));
    uint64_t *tags = calloc(WINDOW, sizeof(*tags));
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    int rc = 0;

    if (slot == NULL || tags == NULL) {
        free(slot);
        free(tags);
        return bu_fail(r, "out of memory");
    }
    for (int i = 0; i < WINDOW && rc == 0; i++) {
        tags[i] = (uint64_t)i;
        slot[i] = block_new(pick_size(bu_rand(&rng)), tags[i]);
        if (slot[i] == NULL)
            rc = bu_fail(r, "malloc failed while filling the window");
    }
    int64_t t0 = bu_now_ns();
    for (long op = 0; op < p->ops && rc == 0; op++) {
        uint64_t x = bu_rand(&rng);
        unsigned i = (unsigned)(x >> 40) % WINDOW;
        if (block_check(slot[i], tags[i], SMALL_MAX) != 0) {
            rc = bu_fail(r, "block in slot %u was overwritten", i);
            break;
        }
        free(slot[i]);
        tags[i] = (uint64_t)op + WINDOW;
        slot[i] = block_new(pick_size(x), tags[i]);
        if (slot[i] == NULL)
            rc = bu_fail(r, "malloc failed at operation %ld", op);
    }
    r->wall_ns = bu_now_ns() - t0;
    r->ops_done = p->ops;
    for (int i = 0; i < WINDOW; i++) {
        if (slot[i] != NULL && rc == 0 && block_check(slot[i], tags[i], SMALL_MAX) != 0)
            rc = bu_fail(r, "block in slot %d was overwritten", i);
        free(slot[i]);
    }
    free(slot);
    free(tags);
    return rc;
}

struct cross {
    struct bu_gate gate;
    pthread_mutex_t lock;
    pthread_cond_t not_full;  /* the producer waits here */
    pthread_cond_t not_empty; /* the consumer waits here */
    long head;                /* protected by lock: next batch the consumer takes */
    long tail;                /* protected by lock: next batch the producer fills */
    long nbatches;
    int failed; /* protected by lock: a side gave up; the other must stop */
    struct block *queue[QUEUE_SLOTS][BATCH]; /* slots in [head, tail) belong to the consumer */
    long consumed;                           /* consumer only; read after join */
    char err[96];                            /* first failure, written under lock */
    int64_t end;                             /* consumer's finishing time */
};

static void
cross_fail(struct cross *c, const char *msg)
{
    pthread_mutex_lock(&c->lock);
    if (!c->failed)
        snprintf(c->err, sizeof(c->err), "%s", msg);
    c->failed = 1;
    pthread_cond_broadcast(&c->not_full);
    pthread_cond_broadcast(&c->not_empty);
    pthread_mutex_unlock(&c->lock);
}

static void *
cross_producer(void *arg)
{
    struct cross *c = arg;
    uint64_t rng = 0x2545f4914f6cdd1dULL;
    uint64_t tag = 0;

    if (bu_gate_arrive(&c->gate))
        return NULL;
    for (long b = 0; b < c->nbatches; b++) {
        pthread_mutex_lock(&c->lock);
        while (c->tail - c->head == QUEUE_SLOTS && !c->failed)
            pthread_cond_wait(&c->not_full, &c->lock);
        int failed = c->failed;
        pthread_mutex_unlock(&c->lock);
        if (failed)
            return NULL;
        /* Slot tail is ours until we publish it below. */
        struct block **slot = c->queue[b % QUEUE_SLOTS];
        for (int i = 0; i < BATCH; i++) {
            slot[i] = block_new(pick_size(bu_rand(&rng)), tag++);
            if (slot[i] == NULL) {
                cross_fail(c, "producer: malloc failed");
                return NULL;
            }
        }
        pthread_mutex_lock(&c->lock);
        c->tail++;
        pthread_cond_signal(&c->not_empty);
        pthread_mutex_unlock(&c->lock);
    }
    return NULL;
}

static void *
cross_consumer(void *arg)
{
    struct cross *c = arg;
    uint64_t tag = 0;

    if (bu_gate_arrive(&c->gate))
        return NULL;
    for (long b = 0; b < c->nbatches; b++) {
        pthread_mutex_lock(&c->lock);
        while (c->head == c->tail && !c->failed)
            pthread_cond_wait(&c->not_empty, &c->lock);
        int failed = c->failed;
        pthread_mutex_unlock(&c->lock);
        if (failed)
            return NULL;
        struct block **slot = c->queue[b % QUEUE_SLOTS];
        for (int i = 0; i < BATCH; i++) {
            if (block_check(slot[i], tag, SMALL_MAX) != 0) {
                cross_fail(c, "consumer: a handed-over block was overwritten");
                return NULL;
            }
            tag++;
            free(slot[i]);
            c->consumed++;
        }
        pthread_mutex_lock(&c->lock);
        c->head++;
        pthread_cond_signal(&c->not_full);
        pthread_mutex_unlock(&c->lock);
    }
    c->end = bu_now_ns();
    return NULL;
}

int
wl_malloc_cross(const struct wl_params *p, struct wl_result *r)
{
    struct cross *c = calloc(1, sizeof(*c));
    pthread_t tids[2];

    if (c == NULL)
        return bu_fail(r, "out of memory");
    c->nbatches = p->ops / BATCH;
    if (c->nbatches < 1)
        c->nbatches = 1;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->not_full, NULL);
    pthread_cond_init(&c->not_empty, NULL);
    bu_gate_init(&c->gate, 2);
    int rc = bu_spawn(&tids[0], 1, cross_producer, c, 0, &c->gate, r);
    if (rc == 0 && bu_spawn(&tids[1], 1, cross_consumer, c, 0, &c->gate, r) != 0) {
        pthread_join(tids[0], NULL);
        rc = -1;
    }
    if (rc == 0) {
        bu_gate_wait_ready(&c->gate);
        int64_t t0 = bu_gate_open(&c->gate, 0);
        rc = bu_join_all(tids, 2, r);
        r->wall_ns = c->end - t0;
        r->ops_done = c->nbatches * BATCH;
        if (rc == 0 && c->failed)
            rc = bu_fail(r, "%s", c->err);
        if (rc == 0 && c->consumed != r->ops_done)
            rc = bu_fail(r, "consumer freed %ld blocks, want %ld", c->consumed, r->ops_done);
        /* Blocks still queued after a failure are leaked on purpose: they may be damaged. */
    }
    bu_gate_destroy(&c->gate);
    pthread_cond_destroy(&c->not_empty);
    pthread_cond_destroy(&c->not_full);
    pthread_mutex_destroy(&c->lock);
    free(c);
    return rc;
}

/*
 * larson: server churn, after Larson and Krishnan's benchmark. threads lanes each own a slot
 * array of LARSON_SLOTS live blocks of 16..1024 bytes. A lane's thread frees the block in a
 * random slot and allocates a new one there, arg times (10000 if arg is 0); then it creates its
 * successor, hands it the lane and exits, and the successor first joins it. So every block a
 * dead thread allocated is freed by a thread born after it, and threads come and go all the
 * time, as in a server that gives each connection a short-lived thread: an allocator with
 * per-thread caches must take over, or give back, what dead threads held. The first generation
 * frees blocks the main thread allocated. ops = free+malloc pairs over all lanes; the thread
 * creations are in the timed region (the churn is the point). Metric: threads_created.
 */
#define LARSON_SLOTS 5000
#define LARSON_MIN   16
#define LARSON_MAX   1024

struct larson {
    struct bu_gate gate; /* releases the first generation */
    pthread_mutex_t lock;
    pthread_cond_t done; /* signalled when running reaches 0 */
    int running;         /* protected by lock: lanes whose last thread has not finished */
    int failed;          /* protected by lock */
    char err[96];        /* protected by lock: the first failure */
    long gen_ops;        /* immutable: operations per thread */
};

/*
 * A lane belongs to one thread at a time: the thread that runs it, until that thread creates
 * its successor (pthread_create orders the hand-over). The coordinator reads it after the
 * lane's last thread reported under larson.lock.
 */
struct larson_lane {
    struct larson *l;
    struct block **slot; /* LARSON_SLOTS live blocks */
    uint64_t *tags;      /* the tag of each slot's block */
    uint64_t rng;
    uint64_t next_tag;
    long ops_left;
    long generations; /* threads that ran this lane */
    pthread_t prev;   /* the thread that handed the lane over, if has_prev */
    int has_prev;
    pthread_t last; /* the lane's final thread, joined by the coordinator */
    int64_t end;    /* when the final thread finished its operations */
};

static void
larson_fail(struct larson *l, const char *msg)
{
    pthread_mutex_lock(&l->lock);
    if (!l->failed)
        snprintf(l->err, sizeof(l->err), "%s", msg);
    l->failed = 1;
    pthread_mutex_unlock(&l->lock);
}

static void *
larson_thread(void *arg)
{
    struct larson_lane *ln = arg;
    struct larson *l = ln->l;

    if (ln->has_prev) {
        if (pthread_join(ln->prev, NULL) != 0)
            larson_fail(l, "pthread_join of the lane's previous thread failed");
    } else if (bu_gate_arrive(&l->gate)) {
        return NULL;
    }
    ln->generations++;
    long n = ln->ops_left < l->gen_ops ? ln->ops_left : l->gen_ops;
    int ok = 1;
    for (long op = 0; op < n; op++) {
        uint64_t x = bu_rand(&ln->rng);
        unsigned i = (unsigned)(x >> 40) % LARSON_SLOTS;
        if (block_check(ln->slot[i], ln->tags[i], LARSON_MAX) != 0) {
            larson_fail(l, "a block was overwritten");
            ok = 0;
            break;
        }
        free(ln->slot[i]);
        ln->tags[i] = ln->next_tag++;
        ln->slot[i] =
            block_new(LARSON_MIN + (size_t)(x % (LARSON_MAX - LARSON_MIN + 1)), ln->tags[i]);
        if (ln->slot[i] == NULL) {
            larson_fail(l, "malloc failed");
            ok = 0;
            break;
        }
    }
    ln->ops_left -= n;
    pthread_mutex_lock(&l->lock);
    ok = ok && !l->failed;
    pthread_mutex_unlock(&l->lock);
    if (ok && ln->ops_left > 0) {
        pthread_t next;
        ln->prev = pthread_self();
        ln->has_prev = 1;
        if (pthread_create(&next, NULL, larson_thread, ln) == 0)
            return NULL; /* the lane is the successor's now */
        ln->has_prev = 0;
        larson_fail(l, "pthread_create of a lane's next thread failed");
    }
    ln->end = bu_now_ns();
    ln->last = pthread_self();
    pthread_mutex_lock(&l->lock);
    if (--l->running == 0)
        pthread_cond_signal(&l->done);
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

int
wl_larson(const struct wl_params *p, struct wl_result *r)
{
    int nl = p->threads > 0 ? p->threads : 2;
    struct larson *l = calloc(1, sizeof(*l));
    struct larson_lane *lanes = calloc((size_t)nl, sizeof(*lanes));
    pthread_t *tids = calloc((size_t)nl, sizeof(*tids));
    long per_lane = p->ops / nl > 0 ? p->ops / nl : 1;
    int rc = 0;

    if (l == NULL || lanes == NULL || tids == NULL)
        rc = bu_fail(r, "out of memory");
    for (int k = 0; k < nl && rc == 0; k++) {
        struct larson_lane *ln = &lanes[k];
        ln->l = l;
        ln->slot = calloc(LARSON_SLOTS, sizeof(*ln->slot));
        ln->tags = calloc(LARSON_SLOTS, sizeof(*ln->tags));
        if (ln->slot == NULL || ln->tags == NULL) {
            rc = bu_fail(r, "out of memory");
            break;
        }
        ln->rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(k + 1);
        ln->next_tag = (uint64_t)k << 48;
        ln->ops_left = per_lane;
        for (int i = 0; i < LARSON_SLOTS; i++) {
            ln->tags[i] = ln->next_tag++;
            size_t size = LARSON_MIN + (size_t)(bu_rand(&ln->rng) % (LARSON_MAX - LARSON_MIN + 1));
            ln->slot[i] = block_new(size, ln->tags[i]);
            if (ln->slot[i] == NULL) {
                rc = bu_fail(r, "malloc failed while filling the slots");
                break;
            }
        }
    }
    int started = 0;
    if (rc == 0) {
        l->gen_ops = p->arg > 0 ? p->arg : 10000;
        l->running = nl;
        pthread_mutex_init(&l->lock, NULL);
        pthread_cond_init(&l->done, NULL);
        bu_gate_init(&l->gate, nl);
        started = 1;
        rc = bu_spawn(tids, nl, larson_thread, lanes, sizeof(*lanes), &l->gate, r);
    }
    if (rc == 0) {
        bu_gate_wait_ready(&l->gate);
        int64_t t0 = bu_gate_open(&l->gate, 0);
        pthread_mutex_lock(&l->lock);
        while (l->running > 0)
            pthread_cond_wait(&l->done, &l->lock);
        pthread_mutex_unlock(&l->lock);
        int64_t end = t0;
        long threads = 0;
        r->ops_done = 0;
        for (int k = 0; k < nl; k++) {
            if (pthread_join(lanes[k].last, NULL) != 0 && rc == 0)
                rc = bu_fail(r, "pthread_join of lane %d's last thread failed", k);
            if (lanes[k].end > end)
                end = lanes[k].end;
            threads += lanes[k].generations;
            r->ops_done += per_lane - lanes[k].ops_left;
        }
        r->wall_ns = end - t0;
        bu_metric(r, "threads_created", (double)threads);
        if (rc == 0 && l->failed)
            rc = bu_fail(r, "%s", l->err);
    }
    for (int k = 0; k < nl && lanes != NULL; k++) {
        struct larson_lane *ln = &lanes[k];
        for (int i = 0; i < LARSON_SLOTS && ln->slot != NULL; i++) {
            if (rc == 0 && ln->slot[i] != NULL &&
                block_check(ln->slot[i], ln->tags[i], LARSON_MAX) != 0)
                rc = bu_fail(r, "lane %d: block in slot %d was overwritten", k, i);
            /* After a failure blocks are leaked on purpose: they may be damaged. */
            if (rc == 0)
                free(ln->slot[i]);
        }
        free(ln->slot);
        free(ln->tags);
    }
    if (started) {
        bu_gate_destroy(&l->gate);
        pthread_cond_destroy(&l->done);
        pthread_mutex_destroy(&l->lock);
    }
    free(tids);
    free(lanes);
    free(l);
    return rc;
}

/*
 * prodcons: producers and consumers around one queue. threads / 2 producers (at least one)
 * allocate blocks of the pick_size() mix and enqueue them in batches of arg (64 if arg is 0);
 * the other threads (at least one) dequeue, check and free them. With several of each, any
 * consumer frees any producer's blocks: the remote free, which an allocator with per-thread
 * caches must route back to the block's owner, is the common case here. ops = blocks through
 * the queue.
 */
#define PC_MAX_BATCH 256
#define PC_QUEUE     32 /* batches the queue holds */

struct pc_batch {
    uint64_t first_tag; /* block i has tag first_tag + i */
    int n;
    struct block *b[PC_MAX_BATCH];
};

struct prodcons {
    struct bu_gate gate;
    pthread_mutex_t lock;
    pthread_cond_t not_full;  /* producers wait here */
    pthread_cond_t not_empty; /* consumers wait here */
    long head;                /* protected by lock: next batch to take */
    long tail;                /* protected by lock: next batch to fill */
    int producers_left;       /* protected by lock */
    int failed;               /* protected by lock */
    char err[96];             /* protected by lock: the first failure */
    long consumed;            /* protected by lock: blocks freed */
    int64_t end;              /* protected by lock: the latest consumer's finishing time */
    int batch;                /* immutable from here on */
    int nprod;
    long nbatches;
    struct pc_batch ring[PC_QUEUE]; /* slots [head, tail) hold batches, protected by lock */
};

struct pc_thread {
    struct prodcons *pc;
    int id; /* among the producers, or among the consumers */
};

static void
pc_fail(struct prodcons *pc, const char *msg)
{
    pthread_mutex_lock(&pc->lock);
    if (!pc->failed)
        snprintf(pc->err, sizeof(pc->err), "%s", msg);
    pc->failed = 1;
    pthread_cond_broadcast(&pc->not_full);
    pthread_cond_broadcast(&pc->not_empty);
    pthread_mutex_unlock(&pc->lock);
}

static void *
pc_producer(void *arg)
{
    struct pc_thread *t = arg;
    struct prodcons *pc = t->pc;
    uint64_t rng = 0x2545f4914f6cdd1dULL * (uint64_t)(t->id + 1);
    uint64_t tag = (uint64_t)t->id << 48;
    long mine = pc->nbatches / pc->nprod + (t->id < pc->nbatches % pc->nprod);
    struct block *local[PC_MAX_BATCH];

    if (bu_gate_arrive(&pc->gate))
        return NULL;
    for (long k = 0; k < mine; k++) {
        uint64_t first = tag;
        for (int i = 0; i < pc->batch; i++) {
            local[i] = block_new(pick_size(bu_rand(&rng)), tag++);
            if (local[i] == NULL) {
                pc_fail(pc, "producer: malloc failed");
                return NULL;
            }
        }
        pthread_mutex_lock(&pc->lock);
        while (pc->tail - pc->head == PC_QUEUE && !pc->failed)
            pthread_cond_wait(&pc->not_full, &pc->lock);
        if (pc->failed) {
            pthread_mutex_unlock(&pc->lock);
            return NULL;
        }
        struct pc_batch *slot = &pc->ring[pc->tail % PC_QUEUE];
        slot->first_tag = first;
        slot->n = pc->batch;
        memcpy(slot->b, local, (size_t)pc->batch * sizeof(local[0]));
        pc->tail++;
        pthread_cond_signal(&pc->not_empty);
        pthread_mutex_unlock(&pc->lock);
    }
    pthread_mutex_lock(&pc->lock);
    if (--pc->producers_left == 0)
        pthread_cond_broadcast(&pc->not_empty);
    pthread_mutex_unlock(&pc->lock);
    return NULL;
}

static void *
pc_consumer(void *arg)
{
    struct pc_thread *t = arg;
    struct prodcons *pc = t->pc;
    struct block *local[PC_MAX_BATCH];
    long freed = 0;

    if (bu_gate_arrive(&pc->gate))
        return NULL;
    for (;;) {
        pthread_mutex_lock(&pc->lock);
        while (pc->head == pc->tail && pc->producers_left > 0 && !pc->failed)
            pthread_cond_wait(&pc->not_empty, &pc->lock);
        if (pc->failed || pc->head == pc->tail) {
            int64_t now = bu_now_ns();
            if (now > pc->end)
                pc->end = now;
            pc->consumed += freed;
            pthread_mutex_unlock(&pc->lock);
            return NULL;
        }
        struct pc_batch *slot = &pc->ring[pc->head % PC_QUEUE];
        uint64_t first = slot->first_tag;
        int n = slot->n;
        memcpy(local, slot->b, (size_t)n * sizeof(local[0]));
        pc->head++;
        pthread_cond_signal(&pc->not_full);
        pthread_mutex_unlock(&pc->lock);
        for (int i = 0; i < n; i++) {
            if (block_check(local[i], first + (uint64_t)i, SMALL_MAX) != 0) {
                pc_fail(pc, "consumer: a handed-over block was overwritten");
                return NULL;
            }
            free(local[i]);
        }
        freed += n;
    }
}

int
wl_prodcons(const struct wl_params *p, struct wl_result *r)
{
    int n = p->threads >= 2 ? p->threads : 2;
    int nprod = n / 2;
    struct prodcons *pc = calloc(1, sizeof(*pc));
    struct pc_thread *args = calloc((size_t)n, sizeof(*args));
    pthread_t *tids = calloc((size_t)n, sizeof(*tids));

    if (pc == NULL || args == NULL || tids == NULL) {
        free(pc);
        free(args);
        free(tids);
        return bu_fail(r, "out of memory");
    }
    pc->batch = p->arg > 0 && p->arg <= PC_MAX_BATCH ? (int)p->arg : 64;
    pc->nprod = nprod;
    pc->producers_left = nprod;
    pc->nbatches = p->ops / pc->batch > 0 ? p->ops / pc->batch : 1;
    pthread_mutex_init(&pc->lock, NULL);
    pthread_cond_init(&pc->not_full, NULL);
    pthread_cond_init(&pc->not_empty, NULL);
    bu_gate_init(&pc->gate, n);
    for (int i = 0; i < n; i++) {
        args[i].pc = pc;
        args[i].id = i < nprod ? i : i - nprod;
    }
    int rc = bu_spawn(tids, nprod, pc_producer, args, sizeof(*args), &pc->gate, r);
    if (rc == 0 && bu_spawn(tids + nprod, n - nprod, pc_consumer, args + nprod, sizeof(*args),
                            &pc->gate, r) != 0) {
        for (int i = 0; i < nprod; i++)
            pthread_join(tids[i], NULL);
        rc = -1;
    }
    if (rc == 0) {
        bu_gate_wait_ready(&pc->gate);
        int64_t t0 = bu_gate_open(&pc->gate, 0);
        rc = bu_join_all(tids, n, r);
        r->wall_ns = pc->end - t0;
        r->ops_done = pc->nbatches * pc->batch;
        if (rc == 0 && pc->failed)
            rc = bu_fail(r, "%s", pc->err);
        if (rc == 0 && pc->consumed != r->ops_done)
            rc = bu_fail(r, "consumers freed %ld blocks, want %ld", pc->consumed, r->ops_done);
        /* Blocks still queued after a failure are leaked on purpose: they may be damaged. */
    }
    bu_gate_destroy(&pc->gate);
    pthread_cond_destroy(&pc->not_empty);
    pthread_cond_destroy(&pc->not_full);
    pthread_mutex_destroy(&pc->lock);
    free(tids);
    free(args);
    free(pc);
    return rc;
}

/*
 * fragmentation: the memory an allocator keeps once a program changes shape. One thread
 * allocates ops blocks of 16..256 bytes, frees a random 90% of them, and refills the holes with
 * as many blocks of 257..768 bytes, which no single hole fits: they fit only if the allocator
 * coalesces neighbouring holes or reuses the pages the frees emptied. The time is per malloc
 * or free over the three phases. The memory is the point: rss_after_kb is the growth of VmRSS
 * from the start to the end of the third phase, live_kb the bytes the program then holds (the
 * sizes it asked for). An allocator whose pages stay pinned by the 10% that survived shows
 * rss_after_kb well above live_kb.
 */
#define FRAG_SMALL_MIN 16
#define FRAG_SMALL_MAX 256
#define FRAG_BIG_MIN   257
#define FRAG_BIG_MAX   768

int
wl_fragmentation(const struct wl_params *p, struct wl_result *r)
{
    long n = p->ops > 0 ? p->ops : 1;
    struct block **slot = malloc((size_t)n * sizeof(*slot));
    uint64_t *tags = malloc((size_t)n * sizeof(*tags));
    uint64_t rng = 0x6a09e667f3bcc909ULL;
    int rc = 0;

    if (slot == NULL || tags == NULL) {
        free(slot);
        free(tags);
        return bu_fail(r, "out of memory");
    }
    /* The bookkeeping arrays are touched before the baseline, so it holds them. */
    memset(slot, 0, (size_t)n * sizeof(*slot));
    memset(tags, 0, (size_t)n * sizeof(*tags));
    long base_kb = bu_proc_status(0, "VmRSS");
    long freed = 0;
    double live = 0;

    int64_t t0 = bu_now_ns();
    for (long i = 0; i < n; i++) {
        size_t size =
            FRAG_SMALL_MIN + (size_t)(bu_rand(&rng) % (FRAG_SMALL_MAX - FRAG_SMALL_MIN + 1));
        tags[i] = (uint64_t)i;
        slot[i] = block_new(size, tags[i]);
        if (slot[i] == NULL) {
            rc = bu_fail(r, "malloc failed in the first phase");
            break;
        }
    }
    for (long i = 0; i < n && rc == 0; i++) {
        if (bu_rand(&rng) % 10 == 0)
            continue;
        if (block_check(slot[i], tags[i], FRAG_BIG_MAX) != 0) {
            rc = bu_fail(r, "block %ld was overwritten", i);
            break;
        }
        free(slot[i]);
        slot[i] = NULL;
        freed++;
    }
    for (long i = 0; i < n && rc == 0; i++) {
        if (slot[i] != NULL)
            continue;
        size_t size = FRAG_BIG_MIN + (size_t)(bu_rand(&rng) % (FRAG_BIG_MAX - FRAG_BIG_MIN + 1));
        tags[i] = (uint64_t)(i + n);
        slot[i] = block_new(size, tags[i]);
        if (slot[i] == NULL)
            rc = bu_fail(r, "malloc failed in the third phase");
    }
    r->wall_ns = bu_now_ns() - t0;
    r->ops_done = n + 2 * freed;
    long after_kb = bu_proc_status(0, "VmRSS");
    for (long i = 0; i < n; i++) {
        if (slot[i] == NULL)
            continue;
        if (rc == 0 && block_check(slot[i], tags[i], FRAG_BIG_MAX) != 0)
            rc = bu_fail(r, "block %ld was overwritten", i);
        if (rc == 0) {
            live += (double)slot[i]->size;
            free(slot[i]);
        }
    }
    free(slot);
    free(tags);
    if (rc == 0 && (base_kb < 0 || after_kb < 0))
        rc = bu_fail(r, "VmRSS not readable in /proc/self/status");
    bu_metric(r, "live_kb", live / 1024);
    bu_metric(r, "rss_after_kb", (double)(after_kb - base_kb));
    return rc;
}

/*
 * One thread of realloc_growth or large_blocks: ops operations after the gate opens, then its
 * finishing time, or a failure reason. The coordinator reads both after the join.
 */
struct solo {
    struct bu_gate *gate;
    long ops;
    uint64_t seed;
    int64_t end;
    char err[96];
};

/* Run fn on threads threads, p->ops spread over them; wall time is to the last one's end. */
static int
run_solo(const struct wl_params *p, struct wl_result *r, void *(*fn)(void *))
{
    int n = p->threads > 0 ? p->threads : 1;
    struct solo *t = calloc((size_t)n, sizeof(*t));
    pthread_t *tids = calloc((size_t)n, sizeof(*tids));
    struct bu_gate gate;

    if (t == NULL || tids == NULL) {
        free(t);
        free(tids);
        return bu_fail(r, "out of memory");
    }
    bu_gate_init(&gate, n);
    for (int i = 0; i < n; i++) {
        t[i].gate = &gate;
        t[i].ops = p->ops / n + (i < p->ops % n);
        t[i].seed = 0xbb67ae8584caa73bULL * (uint64_t)(i + 1);
    }
    int rc = bu_spawn(tids, n, fn, t, sizeof(*t), &gate, r);
    if (rc == 0) {
        bu_gate_wait_ready(&gate);
        int64_t t0 = bu_gate_open(&gate, 0);
        rc = bu_join_all(tids, n, r);
        int64_t end = t0;
        for (int i = 0; i < n; i++) {
            if (rc == 0 && t[i].err[0] != '\0')
                rc = bu_fail(r, "thread %d: %s", i, t[i].err);
            if (t[i].end > end)
                end = t[i].end;
        }
        r->wall_ns = end - t0;
        r->ops_done = p->ops;
    }
    bu_gate_destroy(&gate);
    free(tids);
    free(t);
    return rc;
}

/*
 * realloc_growth: buffers that grow the way a string builder or a read buffer does. Each of
 * threads threads owns RG_BUFS buffers and grows them in turn: the even ones double (16 B,
 * 32 B, ... 1 MiB), the odd ones grow by 1..8 KiB at a time; the new part is written, as an
 * append would. A buffer that reached 1 MiB is freed and starts again at 16 B. Growing the
 * buffers in turn keeps any one of them from growing alone at the top of the heap. An
 * allocator that grows in place or remaps pages copies less. ops = realloc calls (a buffer's
 * first allocation, realloc(NULL, 16), counts as one).
 */
#define RG_BUFS 16
#define RG_MAX  (1 << 20)

static void *
rg_thread(void *arg)
{
    struct solo *t = arg;
    unsigned char *buf[RG_BUFS] = { 0 };
    size_t size[RG_BUFS] = { 0 };
    uint64_t rng = t->seed;

    if (bu_gate_arrive(t->gate))
        return NULL;
    for (long op = 0; op < t->ops; op++) {
        int i = (int)(op % RG_BUFS);
        unsigned char mark = (unsigned char)(i * 37 + 1);
        size_t old = size[i], want;
        if (old >= RG_MAX) {
            free(buf[i]);
            buf[i] = NULL;
            old = 0;
        }
        if (old == 0)
            want = 16;
        else if (i % 2 == 0)
            want = old * 2;
        else
            want = old + 1024 + (size_t)(bu_rand(&rng) % 7169);
        if (want > RG_MAX)
            want = RG_MAX;
        unsigned char *q = realloc(buf[i], want);
        if (q == NULL) {
            snprintf(t->err, sizeof(t->err), "realloc to %zu bytes failed", want);
            break;
        }
        if (old > 0 && (q[0] != mark || q[old / 2] != mark || q[old - 1] != mark)) {
            snprintf(t->err, sizeof(t->err), "realloc from %zu to %zu lost the contents", old,
                     want);
            break;
        }
        memset(q + old, mark, want - old);
        buf[i] = q;
        size[i] = want;
    }
    t->end = bu_now_ns();
    for (int i = 0; i < RG_BUFS; i++)
        free(buf[i]);
    return NULL;
}

int
wl_realloc_growth(const struct wl_params *p, struct wl_result *r)
{
    return run_solo(p, r, rg_thread);
}

/*
 * large_blocks: blocks of 64 KiB to 4 MiB (log-uniform), each page written once, then freed.
 * Each of threads threads keeps LB_WINDOW blocks live and replaces a random one per operation.
 * Allocators serve these sizes from the kernel's pages more or less directly; what differs is
 * whether freed spans are kept for reuse (fewer page faults, more RSS) or given back at once
 * (a page fault for every page of every block). ops = free + malloc + page writes.
 */
#define LB_WINDOW 8
#define LB_MIN    ((size_t)64 << 10)
#define LB_MAX    ((size_t)4 << 20)
#define LB_PAGE   4096

/* 64 KiB << 0..5, plus up to as much again: 64 KiB .. 4 MiB - 1, even per power of two. */
static size_t
lb_size(uint64_t x)
{
    size_t base = LB_MIN << (x % 6);

    return base + (size_t)((x >> 8) % base);
}

static struct block *
lb_new(size_t size, uint64_t tag)
{
    struct block *b = block_new(size, tag);

    for (size_t off = LB_PAGE; b != NULL && off < size; off += LB_PAGE)
        ((unsigned char *)b)[off] = (unsigned char)tag;
    return b;
}

static int
lb_check(const struct block *b, uint64_t tag)
{
    if (block_check(b, tag, LB_MAX) != 0)
        return -1;
    size_t mid = (b->size / 2) & ~(size_t)(LB_PAGE - 1);
    return mid == 0 || ((const unsigned char *)b)[mid] == (unsigned char)tag ? 0 : -1;
}

static void *
lb_thread(void *arg)
{
    struct solo *t = arg;
    struct block *slot[LB_WINDOW];
    uint64_t tags[LB_WINDOW];
    uint64_t rng = t->seed;
    uint64_t tag = 0;
    int filled = 0;

    for (; filled < LB_WINDOW; filled++) {
        tags[filled] = tag++;
        slot[filled] = lb_new(lb_size(bu_rand(&rng)), tags[filled]);
        if (slot[filled] == NULL) {
            snprintf(t->err, sizeof(t->err), "malloc failed while filling the window");
            break;
        }
    }
    if (bu_gate_arrive(t->gate) || filled < LB_WINDOW) {
        for (int i = 0; i < filled; i++)
            free(slot[i]);
        return NULL;
    }
    for (long op = 0; op < t->ops; op++) {
        uint64_t x = bu_rand(&rng);
        int i = (int)((x >> 40) % LB_WINDOW);
        if (lb_check(slot[i], tags[i]) != 0) {
            snprintf(t->err, sizeof(t->err), "block in slot %d was overwritten", i);
            break;
        }
        free(slot[i]);
        tags[i] = tag++;
        slot[i] = lb_new(lb_size(x), tags[i]);
        if (slot[i] == NULL) {
            snprintf(t->err, sizeof(t->err), "malloc failed at operation %ld", op);
            break;
        }
    }
    t->end = bu_now_ns();
    if (t->err[0] != '\0')
        return NULL; /* the window is leaked on purpose: a block may be damaged */
    for (int i = 0; i < LB_WINDOW; i++) {
        if (lb_check(slot[i], tags[i]) != 0) {
            snprintf(t->err, sizeof(t->err), "block in slot %d was overwritten", i);
            return NULL;
        }
        free(slot[i]);
    }
    return NULL;
}

int
wl_large_blocks(const struct wl_params *p, struct wl_result *r)
{
    return run_solo(p, r, lb_thread);
}
