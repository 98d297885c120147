/* tests/malloc_threads_churn.c
 * Behaviour: blocks freed by a thread other than the one that allocated them keep working under
 * churn: 10,000 threads under greenrun (2,000 natively), all alive at once, each allocate blocks
 * of mixed sizes (16 bytes to 64 KiB) stamped with their id, free half themselves and hand the
 * other half to other threads through mutex-protected inboxes; a block is checked, stamp and
 * contents, by whoever frees it. At the end every block allocated has been freed exactly once.
 */
#include "check.h"

#include <stdint.h>

#define ROUNDS    4
#define PER_ROUND 8 /* blocks per round: half kept, half handed on */
#define MIN_SIZE  16
#define MAX_SIZE  (64 << 10)

/* A block: the header fills the smallest one, the pattern the rest. */
struct obj {
    struct obj *next; /* in an inbox */
    uint32_t owner;   /* the allocating thread */
    uint32_t seq;     /* its count of blocks so far */
};

struct worker {
    pthread_mutex_t mu;
    struct obj *inbox; /* protected by mu */
    pthread_t thread;
    long id;
    /* Written by the worker, read by main after the join. */
    long allocated, freed_own, sent, freed_received;
};

static struct worker *workers;
static long nworkers;

/* The gate: every worker has sent all it will send before any empties its inbox for the last
 * time. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static long arrived;
static int open_gate;

/* Mostly small (16..1023 bytes); one block in eight from 1 KiB to 64 KiB. */
static size_t
size_for(uint32_t owner, uint32_t seq)
{
    uint32_t h = check_mix32(owner * 2654435761U + seq);
    size_t n;
    if ((h & 7) != 0)
        n = MIN_SIZE + (h >> 3) % (1024 - MIN_SIZE);
    else
        n = ((size_t)1024 << ((h >> 3) % 7)) + (h >> 8) % 1024;
    return n > MAX_SIZE ? MAX_SIZE : n;
}

static unsigned char
pattern(uint32_t owner, uint32_t seq, size_t k)
{
    return (unsigned char)(owner * 7 + seq * 13 + k + (k >> 8));
}

static struct obj *
make(struct worker *w)
{
    uint32_t seq = (uint32_t)w->allocated++;
    size_t n = size_for((uint32_t)w->id, seq);
    struct obj *o = malloc(n);
    CHECK(o != NULL);
    CHECK_EQ((uintptr_t)o % 16, 0);
    o->next = NULL;
    o->owner = (uint32_t)w->id;
    o->seq = seq;
    unsigned char *b = (unsigned char *)o;
    for (size_t k = sizeof *o; k < n; k++)
        b[k] = pattern(o->owner, seq, k);
    return o;
}

/* Check o's stamp and contents, then free it. */
static void
check_and_free(struct obj *o)
{
    CHECK(o->owner < (uint32_t)nworkers);
    CHECK(o->seq < (uint32_t)(ROUNDS * PER_ROUND));
    size_t n = size_for(o->owner, o->seq);
    const unsigned char *b = (const unsigned char *)o;
    for (size_t k = sizeof *o; k < n; k++)
        if (b[k] != pattern(o->owner, o->seq, k)) {
            fprintf(stderr, "block %u of thread %u (%zu bytes) at %p: byte %zu is %#x\n", o->seq,
                    o->owner, n, (void *)o, k, b[k]);
            CHECK(!"contents kept until the free");
        }
    free(o);
}

static void
send_to(struct worker *to, struct obj *o)
{
    CHECK_OK(pthread_mutex_lock(&to->mu));
    o->next = to->inbox;
    to->inbox = o;
    CHECK_OK(pthread_mutex_unlock(&to->mu));
}

/* Free whatever is in w's inbox. */
static void
drain(struct worker *w)
{
    CHECK_OK(pthread_mutex_lock(&w->mu));
    struct obj *list = w->inbox;
    w->inbox = NULL;
    CHECK_OK(pthread_mutex_unlock(&w->mu));
    while (list != NULL) {
        struct obj *next = list->next;
        check_and_free(list);
        w->freed_received++;
        list = next;
    }
}

static void *
churn(void *arg)
{
    struct worker *w = arg;
    for (int round = 0; round < ROUNDS; round++) {
        struct obj *kept[PER_ROUND / 2];
        for (int i = 0; i < PER_ROUND; i++) {
            struct obj *o = make(w);
            if (i % 2 == 0) {
                kept[i / 2] = o;
                continue;
            }
            /* A different thread for every block and round; never this one. */
            long to = (w->id + 1 + (round * PER_ROUND + i) * 7919L) % nworkers;
            if (to == w->id)
                to = (to + 1) % nworkers;
            send_to(&workers[to], o);
            w->sent++;
        }
        for (int i = 0; i < PER_ROUND / 2; i++) {
            check_and_free(kept[i]);
            w->freed_own++;
        }
        drain(w);
    }

    CHECK_OK(pthread_mutex_lock(&gate_mu));
    arrived++;
    CHECK_OK(pthread_cond_broadcast(&gate_cond));
    while (!open_gate)
        CHECK_OK(pthread_cond_wait(&gate_cond, &gate_mu));
    CHECK_OK(pthread_mutex_unlock(&gate_mu));
    drain(w);
    return w;
}

int
main(void)
{
    nworkers = scale(10000, 2000);
    workers = calloc((size_t)nworkers, sizeof *workers);
    CHECK(workers != NULL);
    long long t0 = now_ns(CLOCK_MONOTONIC);
    for (long i = 0; i < nworkers; i++) {
        workers[i].id = i;
        CHECK_OK(pthread_mutex_init(&workers[i].mu, NULL));
        workers[i].thread = spawn(churn, &workers[i]);
    }

    /* Every worker alive and done sending: count OS threads, then let them finish. */
    CHECK_OK(pthread_mutex_lock(&gate_mu));
    while (arrived < nworkers)
        CHECK_OK(pthread_cond_wait(&gate_cond, &gate_mu));
    CHECK_OK(pthread_mutex_unlock(&gate_mu));
    check_green_threads(nworkers);
    CHECK_OK(pthread_mutex_lock(&gate_mu));
    open_gate = 1;
    CHECK_OK(pthread_cond_broadcast(&gate_cond));
    CHECK_OK(pthread_mutex_unlock(&gate_mu));

    long allocated = 0, freed_own = 0, sent = 0, freed_received = 0;
    for (long i = 0; i < nworkers; i++) {
        struct worker *w = &workers[i];
        CHECK(join_within(w->thread, 120) == w);
        CHECK(w->inbox == NULL);
        CHECK_EQ(w->allocated, ROUNDS * PER_ROUND);
        CHECK_EQ(w->freed_own, ROUNDS * PER_ROUND / 2);
        allocated += w->allocated;
        freed_own += w->freed_own;
        sent += w->sent;
        freed_received += w->freed_received;
        CHECK_OK(pthread_mutex_destroy(&w->mu));
    }
    CHECK_EQ(sent, allocated / 2);
    CHECK_EQ(freed_received, sent);
    CHECK_EQ(freed_own + freed_received, allocated);
    fprintf(stderr, "%ld threads: %ld blocks, %ld freed by another thread, in %lld ms\n", nworkers,
            allocated, freed_received, (now_ns(CLOCK_MONOTONIC) - t0) / 1000000);
    free(workers);
    return 0;
}
