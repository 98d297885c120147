/*
 * tests/malloc_larson.c: server churn (after Larson and Krishnan's benchmark), which hands every
 * block to another thread.
 *
 * Behaviour: LANES lanes each own SLOTS live blocks of 16..4096 bytes, stamped with a tag at
 * both ends. A lane's thread replaces random slots (check the stamps, free, allocate a new
 * one) GEN_OPS times, then creates its successor and exits; the successor joins it and goes
 * on with the same slots, so the blocks one thread allocated are freed by the next, usually
 * on another processor, while that processor allocates from the same spans. Every 16th
 * replacement also swaps one block with another lane through a mutex, so frees from other
 * threads race with the owner running out of a span again and again. At the end every stamp
 * is intact and every block is freed once.
 *
 * Under greenrun this is the race of a span given up full, flagged, announced by a free from
 * another thread, and flagged again before the announcement was taken: a span then sat on its
 * cache's list twice, with nothing free in it (the allocator crashed in about half of the
 * runs of the larson benchmark). The main thread also proves the run was green.
 */
#include "check.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LANES    8
#define SLOTS    2000
#define GEN_OPS  4000
#define MIN_SIZE 16
#define MAX_SIZE 4096

struct lane {
    int id;
    unsigned char *slot[SLOTS];
    uint64_t tag[SLOTS];
    uint64_t next_tag;
    uint32_t rng;
    long ops_left;
    int generations;
    pthread_t prev;
    int has_prev;
};

static struct lane lanes[LANES];
static pthread_mutex_t swap_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned char *swap_block[LANES];
static uint64_t swap_tag[LANES];
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int running = LANES;

static size_t
block_len(uint64_t tag)
{
    return MIN_SIZE + check_mix32((uint32_t)tag) % (MAX_SIZE - MIN_SIZE + 1);
}

static unsigned char *
block_new(uint64_t tag)
{
    size_t len = block_len(tag);
    unsigned char *b = malloc(len);
    CHECK(b != NULL);
    memcpy(b, &tag, sizeof(tag));
    b[len - 1] = (unsigned char)tag;
    return b;
}

static void
block_check(const unsigned char *b, uint64_t tag)
{
    uint64_t got;
    memcpy(&got, b, sizeof(got));
    CHECK_EQ(got, tag);
    CHECK_EQ(b[block_len(tag) - 1], (unsigned char)tag);
}

static uint32_t
next_rand(struct lane *ln)
{
    ln->rng = ln->rng * 1103515245u + 12345u;
    return ln->rng >> 4;
}

/* Give one of our blocks to the swap slot of another lane and take what is there. */
static void
swap_with_other(struct lane *ln, unsigned i)
{
    int other = (ln->id + 1 + (int)(next_rand(ln) % (LANES - 1))) % LANES;
    CHECK_OK(pthread_mutex_lock(&swap_lock));
    unsigned char *b = swap_block[other];
    uint64_t t = swap_tag[other];
    swap_block[other] = ln->slot[i];
    swap_tag[other] = ln->tag[i];
    CHECK_OK(pthread_mutex_unlock(&swap_lock));
    if (b != NULL) {
        ln->slot[i] = b;
        ln->tag[i] = t;
    } else {
        ln->tag[i] = ln->next_tag++;
        ln->slot[i] = block_new(ln->tag[i]);
    }
}

static void *
lane_thread(void *arg)
{
    struct lane *ln = arg;

    if (ln->has_prev)
        join_within(ln->prev, 60);
    ln->generations++;
    long n = ln->ops_left < GEN_OPS ? ln->ops_left : GEN_OPS;
    for (long op = 0; op < n; op++) {
        unsigned i = next_rand(ln) % SLOTS;
        block_check(ln->slot[i], ln->tag[i]);
        if (op % 16 == 15) {
            swap_with_other(ln, i);
            continue;
        }
        free(ln->slot[i]);
        ln->tag[i] = ln->next_tag++;
        ln->slot[i] = block_new(ln->tag[i]);
    }
    ln->ops_left -= n;
    if (ln->ops_left > 0) {
        pthread_t next;
        ln->prev = pthread_self();
        ln->has_prev = 1;
        CHECK_OK(pthread_create(&next, NULL, lane_thread, ln));
        return NULL; /* the lane is the successor's now */
    }
    CHECK_OK(pthread_detach(pthread_self()));
    CHECK_OK(pthread_mutex_lock(&done_lock));
    running--;
    CHECK_OK(pthread_cond_broadcast(&done_cond));
    CHECK_OK(pthread_mutex_unlock(&done_lock));
    return NULL;
}

int
main(void)
{
    long per_lane = 200000;

    for (int l = 0; l < LANES; l++) {
        struct lane *ln = &lanes[l];
        ln->id = l;
        ln->rng = 0x9e3779b9u * (uint32_t)(l + 1);
        ln->next_tag = (uint64_t)l << 40;
        ln->ops_left = per_lane;
        for (int i = 0; i < SLOTS; i++) {
            ln->tag[i] = ln->next_tag++;
            ln->slot[i] = block_new(ln->tag[i]);
        }
    }
    /* Each thread is joined by its successor; a lane's last one detaches itself. */
    for (int l = 0; l < LANES; l++)
        (void)spawn(lane_thread, &lanes[l]);
    check_green_threads(LANES + 1);
    CHECK_OK(pthread_mutex_lock(&done_lock));
    while (running > 0)
        CHECK_OK(pthread_cond_wait(&done_cond, &done_lock));
    CHECK_OK(pthread_mutex_unlock(&done_lock));

    long generations = 0;
    for (int l = 0; l < LANES; l++) {
        for (int i = 0; i < SLOTS; i++) {
            block_check(lanes[l].slot[i], lanes[l].tag[i]);
            free(lanes[l].slot[i]);
        }
        if (swap_block[l] != NULL) {
            block_check(swap_block[l], swap_tag[l]);
            free(swap_block[l]);
        }
        generations += lanes[l].generations;
    }
    CHECK_EQ(generations, (long)LANES * (per_lane / GEN_OPS));
    fprintf(stderr, "%d lanes, %ld thread generations, every block intact\n", LANES, generations);
    return 0;
}
