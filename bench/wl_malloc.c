/*
 * bench/wl_malloc.c: allocator workloads, run under glibc malloc, a preloaded jemalloc, or
 * greenrun's allocator (whichever malloc the process resolves).
 *
 * malloc_local  one thread keeps a window of live blocks; each operation frees a random one and
 *               allocates a replacement of a random size.
 * malloc_cross  a producer allocates blocks and hands them over in batches of 256 to a consumer,
 *               which checks and frees them: every free is of memory another thread allocated.
 *
 * Size mix: 10/16 of the blocks are 16..128 bytes, 4/16 are 129..1024, 2/16 are 1025..16384.
 * Every block carries a header (tag, size) and, past the header, a tail byte, both checked
 * before the block is freed, so an allocator that hands out overlapping memory fails the run.
 */
#include "shim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define WINDOW      4096 /* malloc_local: live blocks */
#define BATCH       256  /* malloc_cross: blocks per hand-over */
#define QUEUE_SLOTS 16   /* malloc_cross: batches in flight */

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

/* Check a block's header and tail; returns 0 when intact. */
static int
block_check(const struct block *b, uint64_t tag)
{
    if (b->tag != tag || b->size < sizeof(*b) || b->size > 16384)
        return -1;
    if (b->size == sizeof(*b))
        return 0;
    return ((const unsigned char *)b)[b->size - 1] == (unsigned char)tag ? 0 : -1;
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
        if (block_check(slot[i], tags[i]) != 0) {
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
        if (slot[i] != NULL && rc == 0 && block_check(slot[i], tags[i]) != 0)
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
            if (block_check(slot[i], tag) != 0) {
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
