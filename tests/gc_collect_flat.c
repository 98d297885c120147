/* tests/gc_collect_flat.c
 * Behaviour: with GREENRUN_GC=collect, a program that drops everything it allocates keeps a
 * flat heap, and nothing it can still reach is freed. Four threads allocate and drop 1.5 GB
 * in all (objects of 16 to 2048 bytes, each filled, so a freed object reused under a live
 * one would show), each keeping a list on its own stack as it goes. Meanwhile, lists of
 * canary-stamped nodes are reachable only: from a global (through a pointer into the middle
 * of its head node, too), from a parked thread's stack, through a thread's pthread key value,
 * from a thread's __thread variable, from a node held by the kernel alone as an epoll
 * registration's data, and from a register of a thread spinning in a loop that calls nothing. At
 * the end every node of every list still carries its canaries, and the peak RSS (VmHWM) stayed
 * under 200 MB. Natively (or green without collect) the same program runs with 64 MB dropped and
 * checks the contents only.
 */
#include "check.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/epoll.h>

#define WORKERS      4
#define LIST_LEN     2000
#define PAYLOAD      6 /* words of canary in each node */
#define HWM_BOUND_KB (200L * 1024)

struct node {
    struct node *next;
    uint64_t id;
    uint64_t canary[PAYLOAD];
};

/* The lists, by where their only reference lives. */
enum { L_GLOBAL, L_INTERIOR, L_PARKED, L_KEY, L_TLS, L_EPOLL, L_SPIN, L_COUNT };

static struct node *global_list;
static char *interior_ref; /* points into the middle of the list's head node */
static __thread struct node *tls_list;
static pthread_key_t key;
static int epfd;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int holders_ready, done;
static atomic_int spinning, churned;

static uint64_t
stamp(int list, uint64_t i, int k)
{
    return (uint64_t)check_mix32((uint32_t)(list * 1000003 + (int)i * 31 + k)) | 1;
}

static struct node *
make_list(int list)
{
    struct node *head = NULL;

    for (uint64_t i = 0; i < LIST_LEN; i++) {
        struct node *n = malloc(sizeof(*n));
        CHECK(n != NULL);
        n->id = i;
        for (int k = 0; k < PAYLOAD; k++)
            n->canary[k] = stamp(list, i, k);
        n->next = head;
        head = n;
    }
    return head;
}

static long
check_list(int list, const struct node *head)
{
    long bad = 0;
    uint64_t want = LIST_LEN;

    for (const struct node *n = head; n != NULL; n = n->next) {
        want--;
        if (n->id != want) {
            bad++;
            break;
        }
        for (int k = 0; k < PAYLOAD; k++)
            if (n->canary[k] != stamp(list, n->id, k))
                bad++;
    }
    if (want != 0)
        bad++;
    if (bad != 0)
        fprintf(stderr, "list %d: %ld bad nodes or words\n", list, bad);
    return bad;
}

/* Holds three lists: one on its stack, one as its key value, one in its TLS; waits parked
 * until the churn is done, then checks them. */
static void *
holder(void *arg)
{
    struct node *on_stack = make_list(L_PARKED);
    long bad;

    (void)arg;
    CHECK_OK(pthread_setspecific(key, make_list(L_KEY)));
    tls_list = make_list(L_TLS);
    CHECK_OK(pthread_mutex_lock(&mu));
    holders_ready = 1;
    pthread_cond_broadcast(&cv);
    while (!done)
        CHECK_OK(pthread_cond_wait(&cv, &mu));
    CHECK_OK(pthread_mutex_unlock(&mu));
    bad = check_list(L_PARKED, on_stack) + check_list(L_KEY, pthread_getspecific(key)) +
          check_list(L_TLS, tls_list);
    return (void *)bad;
}

/* Overwrites the stack below its caller, where dead frames may still hold a pointer. */
static __attribute__((noinline)) void
scrub(void)
{
    volatile char junk[8192];

    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = 0;
}

/* Holds its list in a register only (the loop calls nothing), running while the others
 * churn: a collection must stop it and read its registers (or, on one P, find them where the
 * preemption saved them). */
static void *
spinner(void *arg)
{
    struct node *head = make_list(L_SPIN);
    uint64_t sum = 0;

    (void)arg;
    scrub();
    atomic_store(&spinning, 1);
    while (atomic_load_explicit(&churned, memory_order_relaxed) == 0)
        sum += head->canary[sum & 1];
    return (void *)(check_list(L_SPIN, head) + (sum == 0));
}

struct churn {
    uint64_t bytes; /* to allocate and drop */
    long bad;
};

/* Allocates and drops; every 1000th object joins a list on its own stack, checked at the end. */
static void *
churn(void *arg)
{
    struct churn *c = arg;
    struct node *mine = NULL;
    uint64_t done_bytes = 0, n = 0, kept = 0;
    uint32_t r = (uint32_t)(uintptr_t)c;

    while (done_bytes < c->bytes) {
        size_t size = 16 + (check_mix32(r += 0x9e3779b9U) % 2033);
        unsigned char *p = malloc(size);
        CHECK(p != NULL);
        memset(p, (int)(n & 0xff), size);
        done_bytes += size;
        if (++n % 1000 == 0) {
            struct node *k = malloc(sizeof(*k));
            CHECK(k != NULL);
            k->id = kept++;
            for (int i = 0; i < PAYLOAD; i++)
                k->canary[i] = stamp(99, k->id, i);
            k->next = mine;
            mine = k;
        }
    }
    for (struct node *k = mine; k != NULL; k = k->next) {
        kept--;
        if (k->id != kept)
            c->bad++;
        for (int i = 0; i < PAYLOAD; i++)
            if (k->canary[i] != stamp(99, k->id, i))
                c->bad++;
    }
    if (kept != 0)
        c->bad++;
    return NULL;
}

static long
vm_hwm_kb(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    long kb = -1;

    CHECK(f != NULL);
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

int
main(void)
{
    const char *gc = getenv("GREENRUN_GC");
    bool collect = test_green() && gc != NULL && strcmp(gc, "collect") == 0;
    uint64_t total = collect ? (uint64_t)1536 << 20 : (uint64_t)64 << 20;
    struct churn c[WORKERS];
    pthread_t hold, spin, t[WORKERS];
    struct epoll_event ev, got;
    struct node *epoll_list;
    int pipefd[2];
    void *res;
    long bad = 0, hwm;

    global_list = make_list(L_GLOBAL);
    interior_ref = (char *)make_list(L_INTERIOR) + offsetof(struct node, canary[3]);
    /* Only the kernel keeps this list's head: the epoll registration's data. */
    epoll_list = make_list(L_EPOLL);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    CHECK(epfd >= 0);
    CHECK_OK(pipe(pipefd));
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.ptr = epoll_list;
    CHECK_OK(epoll_ctl(epfd, EPOLL_CTL_ADD, pipefd[0], &ev));
    epoll_list = NULL;

    CHECK_OK(pthread_key_create(&key, NULL));
    CHECK_OK(pthread_create(&hold, NULL, holder, NULL));
    CHECK_OK(pthread_mutex_lock(&mu));
    while (!holders_ready)
        CHECK_OK(pthread_cond_wait(&cv, &mu));
    CHECK_OK(pthread_mutex_unlock(&mu));

    CHECK_OK(pthread_create(&spin, NULL, spinner, NULL));
    WAIT_FOR(atomic_load(&spinning) != 0, 10);
    for (int i = 0; i < WORKERS; i++) {
        c[i].bytes = total / WORKERS;
        c[i].bad = 0;
        CHECK_OK(pthread_create(&t[i], NULL, churn, &c[i]));
    }
    for (int i = 0; i < WORKERS; i++) {
        CHECK_OK(pthread_join(t[i], NULL));
        bad += c[i].bad;
    }
    atomic_store(&churned, 1);
    CHECK_OK(pthread_join(spin, &res));
    bad += (long)res;

    CHECK_OK(pthread_mutex_lock(&mu));
    done = 1;
    pthread_cond_broadcast(&cv);
    CHECK_OK(pthread_mutex_unlock(&mu));
    CHECK_OK(pthread_join(hold, &res));
    bad += (long)res;

    bad += check_list(L_GLOBAL, global_list);
    bad += check_list(L_INTERIOR, (struct node *)(interior_ref - offsetof(struct node, canary[3])));
    CHECK_EQ(write(pipefd[1], "x", 1), 1);
    CHECK_EQ(epoll_wait(epfd, &got, 1, 10000), 1);
    bad += check_list(L_EPOLL, got.data.ptr);
    CHECK_EQ(bad, 0);

    hwm = vm_hwm_kb();
    printf("dropped %lu MB; VmHWM %ld kB\n", (unsigned long)(total >> 20), hwm);
    if (collect) {
        CHECK(hwm > 0);
        CHECK(hwm < HWM_BOUND_KB);
    }
    return 0;
}
