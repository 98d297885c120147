/* tests/alloc_cross_thread.c
 * Behaviour: the allocator works across threads: blocks allocated in one thread and freed in
 * another keep their contents, calloc memory is zero even when it reuses dirty blocks, realloc
 * keeps contents, posix_memalign/aligned_alloc/memalign honour alignment, malloc_usable_size
 * covers the request, and large blocks pass between threads too.
 */
#include "check.h"

#include <malloc.h>
#include <stdint.h>

#define PRODUCERS    4
#define PER_PRODUCER 10000
#define RING         256

struct block {
    size_t size;
    unsigned char seed;
    unsigned char *data;
};

static struct block ring[RING];
static int head, tail, count;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER;
static pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER;
static int producers_left = PRODUCERS;

static size_t
size_for(long i)
{
    static const size_t sizes[] = { 1, 8, 16, 24, 48, 100, 256, 1000, 4096, 5000, 65536, 200000 };
    if (i % 997 == 0)
        return (size_t)(1u << 20) + (size_t)i % 4096; /* a few large ones */
    return sizes[(size_t)i % (sizeof sizes / sizeof sizes[0])];
}

static void *
producer(void *arg)
{
    long me = (long)arg;
    for (long i = 0; i < PER_PRODUCER; i++) {
        struct block b;
        b.size = size_for(i + me);
        b.seed = (unsigned char)(i * 7 + me);
        b.data = malloc(b.size);
        CHECK(b.data != NULL);
        CHECK(malloc_usable_size(b.data) >= b.size);
        CHECK_EQ((uintptr_t)b.data % 16, 0);
        for (size_t k = 0; k < b.size; k++)
            b.data[k] = (unsigned char)(b.seed + k);
        CHECK_OK(pthread_mutex_lock(&mu));
        while (count == RING)
            CHECK_OK(pthread_cond_wait(&not_full, &mu));
        ring[head] = b;
        head = (head + 1) % RING;
        count++;
        CHECK_OK(pthread_cond_signal(&not_empty));
        CHECK_OK(pthread_mutex_unlock(&mu));
    }
    CHECK_OK(pthread_mutex_lock(&mu));
    producers_left--;
    CHECK_OK(pthread_cond_broadcast(&not_empty));
    CHECK_OK(pthread_mutex_unlock(&mu));
    return NULL;
}

static void *
consumer(void *arg)
{
    (void)arg;
    long consumed = 0;
    for (;;) {
        CHECK_OK(pthread_mutex_lock(&mu));
        while (count == 0 && producers_left > 0)
            CHECK_OK(pthread_cond_wait(&not_empty, &mu));
        if (count == 0) {
            CHECK_OK(pthread_mutex_unlock(&mu));
            return (void *)consumed;
        }
        struct block b = ring[tail];
        tail = (tail + 1) % RING;
        count--;
        CHECK_OK(pthread_cond_signal(&not_full));
        CHECK_OK(pthread_mutex_unlock(&mu));
        for (size_t k = 0; k < b.size; k += (b.size > 4096 ? 61 : 1))
            CHECK_EQ(b.data[k], (unsigned char)(b.seed + k));
        /* Some are grown first, in this thread, keeping their contents. */
        if (consumed % 5 == 0) {
            unsigned char *bigger = realloc(b.data, b.size * 2 + 10);
            CHECK(bigger != NULL);
            for (size_t k = 0; k < b.size; k += (b.size > 4096 ? 61 : 1))
                CHECK_EQ(bigger[k], (unsigned char)(b.seed + k));
            b.data = bigger;
        }
        free(b.data);
        consumed++;
    }
}

static void *
calloc_and_align(void *arg)
{
    (void)arg;
    for (int round = 0; round < 2000; round++) {
        size_t n = 1 + (size_t)round % 300;
        /* Dirty some memory and give it back, then calloc the same size. */
        unsigned char *dirty = malloc(n * 8);
        CHECK(dirty != NULL);
        memset(dirty, 0xff, n * 8);
        free(dirty);
        unsigned long *z = calloc(n, 8);
        CHECK(z != NULL);
        for (size_t k = 0; k < n; k++)
            CHECK_EQ(z[k], 0);
        free(z);

        size_t align = (size_t)16 << (round % 9); /* 16 .. 4096 */
        void *p = NULL;
        CHECK_OK(posix_memalign(&p, align, n * 3));
        CHECK_EQ((uintptr_t)p % align, 0);
        memset(p, 1, n * 3);
        free(p);
        p = aligned_alloc(align, align * 2);
        CHECK(p != NULL);
        CHECK_EQ((uintptr_t)p % align, 0);
        free(p);
        p = memalign(align, n);
        CHECK(p != NULL);
        CHECK_EQ((uintptr_t)p % align, 0);
        free(p);
    }
    void *p = NULL;
    CHECK_ERR(posix_memalign(&p, 3, 16), EINVAL);
    CHECK(realloc(NULL, 10) != NULL || !"realloc(NULL) acts as malloc");
    return NULL;
}

int
main(void)
{
    long long t0 = now_ns(CLOCK_MONOTONIC);
    pthread_t p[PRODUCERS], c[PRODUCERS], extra[2];
    for (long i = 0; i < PRODUCERS; i++) {
        p[i] = spawn(producer, (void *)i);
        c[i] = spawn(consumer, NULL);
    }
    for (int i = 0; i < 2; i++)
        extra[i] = spawn(calloc_and_align, NULL);
    long total = 0;
    for (int i = 0; i < PRODUCERS; i++) {
        join_within(p[i], 60);
        total += (long)join_within(c[i], 60);
    }
    for (int i = 0; i < 2; i++)
        join_within(extra[i], 60);
    CHECK_EQ(total, (long)PRODUCERS * PER_PRODUCER);
    fprintf(stderr, "%ld blocks passed between threads in %lld ms\n", total,
            (now_ns(CLOCK_MONOTONIC) - t0) / 1000000);
    return 0;
}
