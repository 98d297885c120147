/* tests/signal_altstack.c
 * Behaviour: every thread that installs an alternate signal stack (sigaltstack, as CPython's
 * faulthandler does) runs its SA_ONSTACK handlers on its own alternate stack, and on no other
 * thread's, while several threads with their own stacks compute side by side. Inside the
 * handler sigaltstack reports that stack with SS_ONSTACK. Handlers that compute for 25 ms
 * (long enough to be preempted while others wait) and handlers that block (a sleep, then a
 * mutex another thread holds across sleeps) find the pattern they wrote into their frame on
 * the alternate stack intact when they finish, and every signal sent is handled once. The
 * main thread does the same with its own alternate stack. Outside a handler, sigaltstack
 * reports each thread's own stack, not on it.
 */
#include "check.h"

#include <signal.h>
#include <stdint.h>

#define NWORKERS    6
#define ROUNDS      4
#define ALT_SIZE    (128 * 1024)
#define SPIN_NS     25000000LL /* a computing handler runs this long: past the 10 ms slice */
#define PATTERN_LEN 512

struct worker {
    int id;
    char *alt;     /* its alternate stack */
    int handled;   /* __atomic: handlers that ran to the end */
    int bad;       /* __atomic: handlers that found something wrong */
    char why[128]; /* the first thing found wrong */
};

static __thread struct worker *self;
static struct worker workers[NWORKERS + 1]; /* the last one is the main thread */
static int stop;                            /* __atomic */
static int ready;                           /* __atomic: workers with their stack installed */
static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;

static void
report(struct worker *w, const char *what)
{
    if (__atomic_fetch_add(&w->bad, 1, __ATOMIC_SEQ_CST) == 0)
        snprintf(w->why, sizeof w->why, "%s", what);
}

static int
on_own_alt(struct worker *w, const void *p)
{
    uintptr_t a = (uintptr_t)p, lo = (uintptr_t)w->alt;
    return a >= lo && a < lo + ALT_SIZE;
}

static void
spin_for(long long ns)
{
    volatile unsigned long x = 1;
    long long until = now_ns(CLOCK_MONOTONIC) + ns;
    while (now_ns(CLOCK_MONOTONIC) < until)
        for (int i = 0; i < 2000; i++)
            x = x * 6364136223846793005UL + 1442695040888963407UL;
}

static void
handler(int sig, siginfo_t *si, void *uc)
{
    (void)si;
    (void)uc;
    int saved = errno;
    struct worker *w = self;
    unsigned char pattern[PATTERN_LEN];
    stack_t cur;

    if (w == NULL)
        return;
    if (!on_own_alt(w, pattern))
        report(w, "the handler's frame is not on the thread's own alternate stack");
    if (sigaltstack(NULL, &cur) != 0 || cur.ss_sp != w->alt || cur.ss_size != ALT_SIZE ||
        !(cur.ss_flags & SS_ONSTACK))
        report(w, "sigaltstack inside the handler does not report the own stack, on it");
    for (int i = 0; i < PATTERN_LEN; i++)
        pattern[i] = (unsigned char)(w->id * 31 + i);
    if (sig == SIGUSR1) {
        spin_for(SPIN_NS);
    } else {
        struct timespec ts = { 0, 3000000 };
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&held);
        pthread_mutex_unlock(&held);
    }
    for (int i = 0; i < PATTERN_LEN; i++) {
        if (pattern[i] != (unsigned char)(w->id * 31 + i)) {
            report(w, "the handler's frame on the alternate stack was overwritten");
            break;
        }
    }
    if (!on_own_alt(w, &cur))
        report(w, "the handler ended on another stack");
    __atomic_fetch_add(&w->handled, 1, __ATOMIC_SEQ_CST);
    errno = saved;
}

/* Install w's alternate stack on the calling thread and check what sigaltstack reports. */
static void
install_alt(struct worker *w)
{
    stack_t ss = { .ss_sp = w->alt, .ss_size = ALT_SIZE, .ss_flags = 0 }, cur;

    self = w;
    CHECK_OK(sigaltstack(&ss, NULL));
    CHECK_OK(sigaltstack(NULL, &cur));
    CHECK(cur.ss_sp == w->alt);
    CHECK_EQ(cur.ss_size, ALT_SIZE);
    CHECK_EQ(cur.ss_flags, 0);
}

static void
check_alt_outside(struct worker *w)
{
    stack_t cur;
    CHECK_OK(sigaltstack(NULL, &cur));
    CHECK(cur.ss_sp == w->alt);
    CHECK_EQ(cur.ss_flags, 0);
}

static void
remove_alt(struct worker *w)
{
    stack_t ss = { .ss_flags = SS_DISABLE }, cur;
    CHECK_OK(sigaltstack(&ss, NULL));
    CHECK_OK(sigaltstack(NULL, &cur));
    CHECK(cur.ss_flags & SS_DISABLE);
    self = NULL;
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    install_alt(w);
    __atomic_fetch_add(&ready, 1, __ATOMIC_SEQ_CST);
    while (!__atomic_load_n(&stop, __ATOMIC_SEQ_CST)) {
        spin_for(2000000);
        check_alt_outside(w);
    }
    remove_alt(w);
    return NULL;
}

/* Holds the mutex the blocking handlers take, across sleeps. */
static void *
holder_main(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_SEQ_CST)) {
        pthread_mutex_lock(&held);
        sleep_ns(2000000);
        pthread_mutex_unlock(&held);
        sleep_ns(1000000);
    }
    return NULL;
}

static void
check_workers(int n)
{
    for (int i = 0; i < n; i++) {
        if (__atomic_load_n(&workers[i].bad, __ATOMIC_SEQ_CST) != 0) {
            char v[200];
            snprintf(v, sizeof v, "thread %d: %s", i, workers[i].why);
            check_fail(__FILE__, __LINE__, "handlers on the own alternate stack", v);
        }
    }
}

int
main(void)
{
    struct sigaction sa;
    pthread_t t[NWORKERS], holder;

    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    CHECK_OK(sigaction(SIGUSR1, &sa, NULL));
    CHECK_OK(sigaction(SIGUSR2, &sa, NULL));

    for (int i = 0; i <= NWORKERS; i++) {
        workers[i].id = i;
        workers[i].alt = malloc(ALT_SIZE);
        CHECK(workers[i].alt != NULL);
    }
    struct worker *mainw = &workers[NWORKERS];
    install_alt(mainw);

    holder = spawn(holder_main, NULL);
    for (int i = 0; i < NWORKERS; i++)
        t[i] = spawn(worker_main, &workers[i]);
    WAIT_FOR(__atomic_load_n(&ready, __ATOMIC_SEQ_CST) == NWORKERS, 30);

    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < NWORKERS; i++)
            CHECK_OK(pthread_kill(t[i], (i + r) % 2 == 0 ? SIGUSR1 : SIGUSR2));
        for (int i = 0; i < NWORKERS; i++)
            WAIT_FOR(__atomic_load_n(&workers[i].handled, __ATOMIC_SEQ_CST) == r + 1, 60);
        check_workers(NWORKERS);
        /* The main thread, on its own alternate stack, computing and blocking in turn. */
        CHECK_OK(pthread_kill(pthread_self(), r % 2 == 0 ? SIGUSR1 : SIGUSR2));
        CHECK_EQ(__atomic_load_n(&mainw->handled, __ATOMIC_SEQ_CST), r + 1);
        check_workers(NWORKERS + 1);
        check_alt_outside(mainw);
    }

    __atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < NWORKERS; i++)
        join_within(t[i], 30);
    join_within(holder, 30);
    for (int i = 0; i < NWORKERS; i++)
        CHECK_EQ(workers[i].handled, ROUNDS);
    check_workers(NWORKERS + 1);
    remove_alt(mainw);
    for (int i = 0; i <= NWORKERS; i++)
        free(workers[i].alt);
    return 0;
}
