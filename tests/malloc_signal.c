/* tests/malloc_signal.c
 * Behaviour: a signal handler may allocate when the thread it interrupts is not inside the
 * allocator: 8 threads (the main one among them) each take 250 SIGUSR1s sent with pthread_kill,
 * whose handler calls strdup, asprintf, realloc, a 200 KiB malloc and opendir/readdir/closedir
 * and frees it all. Half the threads take the signal in sigsuspend, half while spinning with
 * sched_yield; either way SIGUSR1 is blocked whenever the thread itself allocates (glibc's
 * malloc is not async-signal-safe), and the blocks the thread holds across the signal keep
 * their contents.
 */
#include "check.h"

#include <dirent.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#define TARGETS 8
#define ROUNDS  250
#define LIVE    16

static pthread_t target[TARGETS];
static int ready[TARGETS]; /* protected by mu: the round each target is ready for */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;

static _Thread_local volatile int handled_here; /* written by the handler */
static atomic_long handled;
static atomic_long handler_failures;

static void
handler_fail(void)
{
    atomic_fetch_add(&handler_failures, 1);
}

static void
on_usr1(int sig)
{
    (void)sig;
    int saved = errno;
    char *s = strdup("a string copied in a signal handler");
    if (s == NULL || strcmp(s, "a string copied in a signal handler") != 0)
        handler_fail();
    char *t = NULL;
    if (asprintf(&t, "%s %d %ld", s, handled_here, (long)sig) < 0)
        handler_fail();
    char *u = realloc(t, 4000);
    if (u == NULL)
        handler_fail();
    else
        memset(u + 100, 'x', 3000);
    free(u);
    free(s);
    unsigned char *big = malloc(200 << 10);
    if (big == NULL) {
        handler_fail();
    } else {
        big[0] = big[(200 << 10) - 1] = 1;
        free(big);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) {
        handler_fail();
    } else {
        int n = 0;
        while (readdir(d) != NULL)
            n++;
        if (n < 3)
            handler_fail();
        closedir(d);
    }
    handled_here++;
    atomic_fetch_add(&handled, 1);
    errno = saved;
}

/* The blocks a target holds across its signals. */
struct hold {
    unsigned char *p[LIVE];
    size_t n[LIVE];
    unsigned seed[LIVE];
};

static void
refill(struct hold *h, int slot, unsigned seed)
{
    free(h->p[slot]);
    h->n[slot] = 16 + (seed * 2654435761U) % 20000;
    h->p[slot] = malloc(h->n[slot]);
    CHECK(h->p[slot] != NULL);
    h->seed[slot] = seed;
    for (size_t k = 0; k < h->n[slot]; k++)
        h->p[slot][k] = (unsigned char)(seed + k * 3);
}

static void
check_hold(const struct hold *h)
{
    for (int i = 0; i < LIVE; i++)
        for (size_t k = 0; k < h->n[i]; k++)
            if (h->p[i][k] != (unsigned char)(h->seed[i] + k * 3)) {
                fprintf(stderr, "held block %d (%zu bytes) byte %zu changed\n", i, h->n[i], k);
                CHECK(!"held blocks kept across the handler");
            }
}

static void
say_ready(long me, int round)
{
    CHECK_OK(pthread_mutex_lock(&mu));
    ready[me] = round;
    CHECK_OK(pthread_cond_broadcast(&cond));
    CHECK_OK(pthread_mutex_unlock(&mu));
}

/* Target me: odd ones take the signal spinning, even ones in sigsuspend. */
static void *
take_signals(void *arg)
{
    long me = (long)arg;
    sigset_t usr1, unblocked;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    CHECK_OK(pthread_sigmask(SIG_BLOCK, &usr1, &unblocked));
    sigdelset(&unblocked, SIGUSR1);
    struct hold h;
    memset(&h, 0, sizeof h);
    for (int i = 0; i < LIVE; i++)
        refill(&h, i, (unsigned)(me * 1000 + i));
    for (int round = 0; round < ROUNDS; round++) {
        /* SIGUSR1 is blocked here: allocate freely. */
        refill(&h, round % LIVE, (unsigned)(me * 1000 + round));
        check_hold(&h);
        say_ready(me, round);
        if (me % 2 == 0) {
            /* The handler runs inside sigsuspend, whenever the signal comes. */
            while (handled_here == round) {
                CHECK_EQ(sigsuspend(&unblocked), -1);
                CHECK_EQ(errno, EINTR);
            }
        } else {
            /* Unblocked while spinning without allocating: the handler runs anywhere in this
             * loop (under greenrun, when the thread yields). */
            CHECK_OK(pthread_sigmask(SIG_UNBLOCK, &usr1, NULL));
            while (handled_here == round)
                sched_yield();
            CHECK_OK(pthread_sigmask(SIG_BLOCK, &usr1, NULL));
        }
        CHECK_EQ(handled_here, round + 1);
        check_hold(&h);
    }
    for (int i = 0; i < LIVE; i++)
        free(h.p[i]);
    return NULL;
}

/* Sends each target its signal once it is ready for it. */
static void *
sender(void *arg)
{
    (void)arg;
    for (int round = 0; round < ROUNDS; round++)
        for (int t = 0; t < TARGETS; t++) {
            CHECK_OK(pthread_mutex_lock(&mu));
            while (ready[t] < round)
                CHECK_OK(pthread_cond_wait(&cond, &mu));
            CHECK_OK(pthread_mutex_unlock(&mu));
            CHECK_OK(pthread_kill(target[t], SIGUSR1));
        }
    return NULL;
}

int
main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    CHECK_OK(sigaction(SIGUSR1, &sa, NULL));
    /* Every thread starts with SIGUSR1 blocked (the mask is inherited), so none can take it
     * before it is ready. */
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    CHECK_OK(pthread_sigmask(SIG_BLOCK, &usr1, NULL));

    target[0] = pthread_self();
    for (int t = 0; t < TARGETS; t++)
        ready[t] = -1;
    for (long t = 1; t < TARGETS; t++)
        target[t] = spawn(take_signals, (void *)t);
    pthread_t s = spawn(sender, NULL);
    check_green_threads(TARGETS + 1);
    take_signals((void *)0L);
    for (int t = 1; t < TARGETS; t++)
        join_within(target[t], 60);
    join_within(s, 60);
    CHECK_EQ(atomic_load(&handler_failures), 0);
    CHECK_EQ(atomic_load(&handled), (long)TARGETS * ROUNDS);
    fprintf(stderr, "%ld signals handled, each allocating\n", atomic_load(&handled));
    return 0;
}
