/* tests/malloc_prodcons.c
 * Behaviour: blocks allocated by some threads and freed by others, at a high rate, keep their
 * contents: 4 producers allocate blocks of mixed sizes (8 bytes to 32 KiB, a few of 256 KiB),
 * stamp them and pass them through a bounded queue (a mutex and two condition variables) to 3
 * consumers, which check them, grow one in eight with realloc, and free them. Up to 2,000,000
 * blocks; producers stop early after 3 s so that a loaded machine still finishes, and every
 * block produced is consumed exactly once.
 */
#include "check.h"

#include <stdint.h>

#define PRODUCERS 4
#define CONSUMERS 3
#define TARGET    2000000L /* blocks, over all producers */
#define STOP_NS   3000000000LL
#define RING      1024
#define BATCH     32

struct block {
    uint32_t producer;
    uint32_t seq;
};

static struct block *ring[RING];
static unsigned head, tail, count;     /* protected by mu */
static int producers_left = PRODUCERS; /* protected by mu */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER;
static pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER;
static int go;            /* protected by mu: main has counted the threads */
static long long stop_at; /* set before go */

static long produced[PRODUCERS];                 /* written by producer i, read after its join */
static long consumed_from[CONSUMERS][PRODUCERS]; /* written by consumer i, read after its join */

/* Mostly 8..511 bytes; one in 64 up to 32 KiB; one in 4096 of 256 KiB (glibc mmaps it). */
static size_t
size_for(uint32_t producer, uint32_t seq)
{
    uint32_t h = check_mix32(seq * 4 + producer);
    if (h % 4096 == 0)
        return (size_t)256 << 10;
    if (h % 64 == 0)
        return 512 + (h >> 12) % (32 << 10);
    return sizeof(struct block) + (h >> 4) % 504;
}

static unsigned char
pattern(const struct block *b, size_t k)
{
    return (unsigned char)(b->producer * 61 + b->seq * 17 + k);
}

static void
check_contents(const struct block *b, size_t n)
{
    const unsigned char *p = (const unsigned char *)b;
    for (size_t k = sizeof *b; k < n; k++)
        if (p[k] != pattern(b, k)) {
            fprintf(stderr, "block %u of producer %u (%zu bytes) at %p: byte %zu is %#x\n", b->seq,
                    b->producer, n, (const void *)b, k, p[k]);
            CHECK(!"contents kept");
        }
}

static void *
producer(void *arg)
{
    uint32_t me = (uint32_t)(long)arg;
    uint32_t seq = 0;
    struct block *batch[BATCH];
    CHECK_OK(pthread_mutex_lock(&mu));
    while (!go)
        CHECK_OK(pthread_cond_wait(&not_full, &mu));
    CHECK_OK(pthread_mutex_unlock(&mu));
    while (seq < TARGET / PRODUCERS && (seq == 0 || now_ns(CLOCK_MONOTONIC) < stop_at)) {
        for (int i = 0; i < BATCH; i++, seq++) {
            size_t n = size_for(me, seq);
            struct block *b = malloc(n);
            CHECK(b != NULL);
            b->producer = me;
            b->seq = seq;
            unsigned char *p = (unsigned char *)b;
            for (size_t k = sizeof *b; k < n; k++)
                p[k] = pattern(b, k);
            batch[i] = b;
        }
        CHECK_OK(pthread_mutex_lock(&mu));
        for (int i = 0; i < BATCH;) {
            while (count == RING)
                CHECK_OK(pthread_cond_wait(&not_full, &mu));
            for (; i < BATCH && count < RING; i++, count++) {
                ring[head] = batch[i];
                head = (head + 1) % RING;
            }
            CHECK_OK(pthread_cond_broadcast(&not_empty));
        }
        CHECK_OK(pthread_mutex_unlock(&mu));
    }
    produced[me] = seq;
    CHECK_OK(pthread_mutex_lock(&mu));
    producers_left--;
    CHECK_OK(pthread_cond_broadcast(&not_empty));
    CHECK_OK(pthread_mutex_unlock(&mu));
    return NULL;
}

static void *
consumer(void *arg)
{
    long me = (long)arg;
    long n_done = 0;
    struct block *batch[BATCH];
    for (;;) {
        CHECK_OK(pthread_mutex_lock(&mu));
        while (count == 0 && producers_left > 0)
            CHECK_OK(pthread_cond_wait(&not_empty, &mu));
        if (count == 0) {
            CHECK_OK(pthread_mutex_unlock(&mu));
            return NULL;
        }
        int got = 0;
        for (; got < BATCH && count > 0; got++, count--) {
            batch[got] = ring[tail];
            tail = (tail + 1) % RING;
        }
        CHECK_OK(pthread_cond_broadcast(&not_full));
        CHECK_OK(pthread_mutex_unlock(&mu));

        for (int i = 0; i < got; i++) {
            struct block *b = batch[i];
            CHECK(b->producer < PRODUCERS);
            size_t n = size_for(b->producer, b->seq);
            check_contents(b, n);
            consumed_from[me][b->producer]++;
            if (++n_done % 8 == 0) {
                /* Grown here, by a thread that did not allocate it. */
                b = realloc(b, n * 2 + 1);
                CHECK(b != NULL);
                check_contents(b, n);
            }
            free(b);
        }
    }
}

int
main(void)
{
    pthread_t p[PRODUCERS], c[CONSUMERS];
    for (long i = 0; i < CONSUMERS; i++)
        c[i] = spawn(consumer, (void *)i);
    for (long i = 0; i < PRODUCERS; i++)
        p[i] = spawn(producer, (void *)i);
    /* Nobody can finish before go. */
    check_green_threads(1 + PRODUCERS + CONSUMERS);
    long long t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_OK(pthread_mutex_lock(&mu));
    stop_at = t0 + STOP_NS;
    go = 1;
    CHECK_OK(pthread_cond_broadcast(&not_full));
    CHECK_OK(pthread_mutex_unlock(&mu));
    for (int i = 0; i < PRODUCERS; i++)
        join_within(p[i], 120);
    for (int i = 0; i < CONSUMERS; i++)
        join_within(c[i], 120);

    long total = 0;
    for (int i = 0; i < PRODUCERS; i++) {
        long got = 0;
        for (int j = 0; j < CONSUMERS; j++)
            got += consumed_from[j][i];
        CHECK(produced[i] > 0);
        CHECK_EQ(got, produced[i]);
        total += produced[i];
    }
    CHECK_EQ(count, 0);
    fprintf(stderr, "%ld blocks from %d producers to %d consumers in %lld ms\n", total, PRODUCERS,
            CONSUMERS, (now_ns(CLOCK_MONOTONIC) - t0) / 1000000);
    return 0;
}
