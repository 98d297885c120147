/* tests/malloc_fork.c
 * Behaviour: a process whose threads are busy in malloc and free can fork, and the child's
 * allocator works: 4 threads loop allocating, reallocating and freeing blocks of 16 bytes to
 * 1 MiB while the main thread forks 50 times; each child mallocs, callocs (zero even over dirty
 * memory), reallocs (contents kept), allocates 1 MiB and 64 KiB-aligned blocks, and allocates
 * in a thread of its own, then _exits with a status the parent checks. A vfork child mallocs
 * (and frees, or leaks) before _exit, and posix_spawn runs a shell, under the same churn.
 */
#include "check.h"

#include <malloc.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>

#define CHURNERS 4
#define FORKS    50
#define VFORKS   20
#define SPAWNS   10
#define WINDOW   32

extern char **environ;

/* Through volatile pointers, so that the compiler keeps every call (a vfork child's malloc
 * and free would otherwise fold away). */
static void *(*volatile f_malloc)(size_t) = malloc;
static void (*volatile f_free)(void *) = free;

static atomic_int stop;
static atomic_long churned[CHURNERS];

static size_t
churn_size(unsigned long i)
{
    static const size_t sizes[] = { 16, 24, 100, 512, 3000, 4096, 20000, 70000 };
    if (i % 64 == 63)
        return (size_t)1 << 20;
    return sizes[i % (sizeof sizes / sizeof sizes[0])] + i % 13;
}

static void *
churner(void *arg)
{
    long me = (long)arg;
    unsigned char *live[WINDOW] = { 0 };
    size_t len[WINDOW] = { 0 };
    unsigned long i = 0;
    do {
        unsigned slot = (unsigned)(i * 7 + (unsigned long)me) % WINDOW;
        if (live[slot] != NULL) {
            CHECK_EQ(live[slot][0], (unsigned char)slot);
            CHECK_EQ(live[slot][len[slot] - 1], (unsigned char)slot);
            if (i % 5 == 0) {
                live[slot] = realloc(live[slot], len[slot] + 1000);
                CHECK(live[slot] != NULL);
                CHECK_EQ(live[slot][len[slot] - 1], (unsigned char)slot);
            }
            free(live[slot]);
        }
        len[slot] = churn_size(i);
        live[slot] = i % 3 == 0 ? calloc(1, len[slot]) : malloc(len[slot]);
        CHECK(live[slot] != NULL);
        live[slot][0] = live[slot][len[slot] - 1] = (unsigned char)slot;
        atomic_fetch_add_explicit(&churned[me], 1, memory_order_relaxed);
        /* No yield: this loop lives in malloc, and the allocator must let the main thread
         * run (greenrun's malloc and free are preemption safe points). */
        i++;
    } while (!atomic_load_explicit(&stop, memory_order_relaxed));
    for (unsigned s = 0; s < WINDOW; s++)
        free(live[s]);
    return NULL;
}

static void *
child_thread(void *arg)
{
    (void)arg;
    void *mem[64];
    for (int i = 0; i < 64; i++) {
        mem[i] = f_malloc((size_t)(i + 1) * 64);
        if (mem[i] == NULL)
            return (void *)1;
        memset(mem[i], i, (size_t)(i + 1) * 64);
    }
    for (int i = 0; i < 64; i++)
        f_free(mem[i]);
    return NULL;
}

/* The forked child's work: 0 when all is well, otherwise the number of the step that failed. */
static int
child_main(void)
{
    /* Small blocks, written and read back. */
    unsigned char *small[200];
    for (int i = 0; i < 200; i++) {
        small[i] = f_malloc((size_t)i + 1);
        if (small[i] == NULL)
            return 1;
        memset(small[i], i, (size_t)i + 1);
    }
    for (int i = 0; i < 200; i++) {
        if (small[i][i] != (unsigned char)i)
            return 2;
        f_free(small[i]);
    }
    /* calloc over memory just dirtied and freed. */
    for (size_t n = 16; n <= ((size_t)1 << 20); n *= 4) {
        unsigned char *d = f_malloc(n);
        if (d == NULL)
            return 3;
        memset(d, 0xa5, n);
        f_free(d);
        unsigned char *z = calloc(n, 1);
        if (z == NULL)
            return 4;
        for (size_t k = 0; k < n; k++)
            if (z[k] != 0)
                return 5;
        f_free(z);
    }
    /* realloc grows and shrinks, contents kept. */
    unsigned char *r = f_malloc(10);
    if (r == NULL)
        return 6;
    memset(r, 7, 10);
    for (size_t n = 100; n <= ((size_t)2 << 20); n *= 10) {
        r = realloc(r, n);
        if (r == NULL || r[0] != 7 || r[9] != 7)
            return 7;
    }
    r = realloc(r, 20);
    if (r == NULL || r[9] != 7)
        return 8;
    f_free(r);
    /* A large block and a strongly aligned one. */
    unsigned char *big = f_malloc((size_t)1 << 20);
    if (big == NULL)
        return 9;
    memset(big, 1, (size_t)1 << 20);
    f_free(big);
    void *al = NULL;
    if (posix_memalign(&al, (size_t)64 << 10, 5000) != 0 || (uintptr_t)al % (64 << 10) != 0)
        return 10;
    f_free(al);
    /* A thread of the child allocates too. */
    pthread_t t;
    void *ret = (void *)2;
    if (pthread_create(&t, NULL, child_thread, NULL) != 0 || pthread_join(t, &ret) != 0)
        return 11;
    if (ret != NULL)
        return 12;
    return 0;
}

static void
check_child(pid_t pid, int expect, const char *what, int round)
{
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != expect) {
        if (WIFSIGNALED(status))
            fprintf(stderr, "%s %d: killed by signal %d\n", what, round, WTERMSIG(status));
        else
            fprintf(stderr, "%s %d: exit status %d, expected %d\n", what, round,
                    WEXITSTATUS(status), expect);
        CHECK(!"child status");
    }
}

static void
forks(void)
{
    for (int round = 0; round < FORKS; round++) {
        fflush(NULL);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            /* A deadlock in the child (a lock held by a churner at the fork) dies of SIGALRM
             * instead of hanging the test. */
            alarm(30);
            _exit(child_main());
        }
        check_child(pid, 0, "fork child", round);
    }
}

/* The vfork child borrows the parent's memory: it mallocs there, and frees or leaks. */
static void
one_vfork(int round)
{
    pid_t pid = vfork();
    if (pid == 0) {
        char *p = f_malloc(64);
        if (p == NULL)
            _exit(1);
        p[0] = 'v';
        p[63] = 'f';
        if (round % 2 == 0)
            f_free(p);
        _exit(0);
    }
    CHECK(pid > 0);
    check_child(pid, 0, "vfork child", round);
}

static void
spawns(void)
{
    char *argv[] = { (char *)"sh", (char *)"-c", (char *)"exit 3", NULL };
    for (int round = 0; round < SPAWNS; round++) {
        pid_t pid;
        CHECK_OK(posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ));
        check_child(pid, 3, "posix_spawn child", round);
    }
}

int
main(void)
{
    pthread_t t[CHURNERS];
    for (long i = 0; i < CHURNERS; i++)
        t[i] = spawn(churner, (void *)i);
    /* Every churner is under way before the first fork. */
    for (int i = 0; i < CHURNERS; i++)
        WAIT_FOR(atomic_load(&churned[i]) >= 100, 30);
    check_green_threads(1 + CHURNERS);

    forks();
    for (int round = 0; round < VFORKS; round++)
        one_vfork(round);
    spawns();

    long before[CHURNERS];
    for (int i = 0; i < CHURNERS; i++)
        before[i] = atomic_load(&churned[i]);
    /* The churners still allocate after all that. */
    for (int i = 0; i < CHURNERS; i++)
        WAIT_FOR(atomic_load(&churned[i]) >= before[i] + 100, 30);
    atomic_store(&stop, 1);
    long total = 0;
    for (int i = 0; i < CHURNERS; i++) {
        join_within(t[i], 30);
        total += atomic_load(&churned[i]);
    }
    fprintf(stderr, "%d forks, %d vforks, %d spawns beside %ld allocations\n", FORKS, VFORKS,
            SPAWNS, total);
    return 0;
}
