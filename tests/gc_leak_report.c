/* tests/gc_leak_report.c
 * Behaviour: with GREENRUN_GC=leak, the report at exit names exactly the objects nothing
 * reaches. Five 48-byte objects dropped by leak_inner (called by leak_middle, called by
 * leak_outer, on a thread since joined) are reported, in stacks that name those three
 * functions in that order, 5 objects and 240 bytes in all. Not reported: an object reachable
 * only from a global, one only from a parked thread's stack, one only through a thread's
 * pthread_setspecific value, one only through a pointer into its middle, a 100-node list
 * reachable from its head, one held only by the kernel as an epoll registration's data and
 * one only as a POSIX timer's sigevent value; a freed object is not reported either. The JSON
 * report (GREENRUN_GC_REPORT) parses (python3) and says the same. Natively the same program runs
 * and nothing is reported.
 *
 * The program runs itself again (/proc/self/exe child) with GREENRUN_GC=leak and its stderr
 * on a pipe, since the report comes at exit.
 */
#include "check.h"

#include <semaphore.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define LEAK_SIZE  48
#define LEAK_COUNT 5
#define LIST_LEN   100

#define NOINLINE __attribute__((noinline))

/* ---- The child: the program whose memory is judged. Its functions are static: the report
 * names them from the symbol table, as it names any function. */

static void *volatile sink; /* keeps a call from being optimised away, then cleared */

static NOINLINE void *
leak_inner(void)
{
    char *p = malloc(LEAK_SIZE);
    CHECK(p != NULL);
    memset(p, 0x5a, LEAK_SIZE);
    return p;
}

static NOINLINE void
leak_middle(void)
{
    sink = leak_inner();
    sink = NULL;
}

static NOINLINE void
leak_outer(void)
{
    for (volatile int i = 0; i < LEAK_COUNT; i++)
        leak_middle();
}

static void *
leaker(void *arg)
{
    (void)arg;
    leak_outer();
    return NULL;
}

/* Reachable only from this global. */
static void *global_keep;

static NOINLINE void *
keep_global(void)
{
    return calloc(1, 64);
}

/* Reachable only through a pointer 24 bytes into the object. */
static char *interior_keep;

static NOINLINE char *
keep_interior(void)
{
    return calloc(1, 64);
}

/* A list reachable from its head only. */
struct node {
    struct node *next;
    long value[3];
};
static struct node *list_head;

static NOINLINE struct node *
keep_list_node(struct node *next, long v)
{
    struct node *n = malloc(sizeof(*n));
    CHECK(n != NULL);
    n->next = next;
    n->value[0] = v;
    return n;
}

/* Freed before exit: not a leak. */
static NOINLINE void
keep_freed(void)
{
    void *p = malloc(200);
    CHECK(p != NULL);
    sink = p;
    sink = NULL;
    free(p);
}

/* Held by the kernel only: an epoll registration's data, a timer's sigevent value. */
static NOINLINE void
keep_epoll_data(int ep, int fd)
{
    struct epoll_event ev = { .events = EPOLLIN };
    ev.data.ptr = calloc(1, 56);
    CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
}

static NOINLINE void
keep_timer_value(timer_t *t)
{
    struct sigevent se = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR2 };
    se.sigev_value.sival_ptr = calloc(1, 72);
    CHECK_OK(timer_create(CLOCK_MONOTONIC, &se, t)); /* never armed */
}

/* The parked thread: one object only on its stack, one only in a thread-specific value. */
static pthread_key_t key;
static sem_t ready;
static int never[2]; /* a pipe nobody writes: the parked thread waits on it */

static NOINLINE void *
keep_on_stack(void)
{
    return calloc(1, 80);
}

static NOINLINE void
keep_specific(void)
{
    CHECK_OK(pthread_setspecific(key, calloc(1, 96)));
}

/* Overwrite the stack below the caller, so no stale copy of a pointer stays there. */
static NOINLINE void
clobber_stack(void)
{
    volatile char junk[4096];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = 0;
}

static void *
parked(void *arg)
{
    void *volatile mine = keep_on_stack();
    char c;

    (void)arg;
    keep_specific();
    clobber_stack();
    CHECK_OK(sem_post(&ready));
    /* Parked (under greenrun) or asleep (natively) until the process exits. */
    CHECK(read(never[0], &c, 1) >= 0);
    CHECK(mine != NULL);
    return NULL;
}

static void
child(void)
{
    pthread_t t;

    CHECK_OK(pthread_key_create(&key, NULL));
    CHECK_OK(sem_init(&ready, 0, 0));
    CHECK_OK(pipe(never));
    global_keep = keep_global();
    interior_keep = keep_interior() + 24;
    for (long i = 0; i < LIST_LEN; i++)
        list_head = keep_list_node(list_head, i);
    keep_freed();
    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(ep >= 0);
    keep_epoll_data(ep, never[0]);
    timer_t timer;
    keep_timer_value(&timer);
    /* The parked thread first: the leaker's stack, reused by a later thread, could leave a
     * stale copy of a leaked pointer in a slot of that thread's frames (a conservative scan
     * counts it, as any would). The joined leaker's stack is nobody's. */
    CHECK_OK(pthread_create(&t, NULL, parked, NULL));
    while (sem_wait(&ready) != 0)
        CHECK(errno == EINTR);
    CHECK_OK(pthread_create(&t, NULL, leaker, NULL));
    CHECK_OK(pthread_join(t, NULL));
    clobber_stack();
    CHECK(global_keep != NULL && interior_keep != NULL && list_head != NULL);
    exit(0); /* with the parked thread still waiting */
}

/* ---- The parent: runs the child and judges its report. */

/* The JSON report, judged by python3: the leak_* stacks sum to LEAK_COUNT objects and
 * LEAK_COUNT * LEAK_SIZE bytes, each naming leak_inner, leak_middle, leak_outer in order; no
 * keep_* function in any stack; the totals agree with the stacks. */
static const char json_check[] =
    "import json, sys\n"
    "r = json.load(open(sys.argv[1]))\n"
    "assert r['version'] == 1 and r['mode'] == 'leak', r\n"
    "n = b = 0\n"
    "for s in r['stacks']:\n"
    "    fns = [f['function'].split('.')[0] for f in s['frames']]\n"
    "    assert not any(f.startswith('keep_') for f in fns), fns\n"
    "    if 'leak_inner' in fns:\n"
    "        i = fns.index('leak_inner')\n"
    "        assert fns[i + 1:i + 3] == ['leak_middle', 'leak_outer'], fns\n"
    "        n += s['count']; b += s['bytes']\n"
    "assert (n, b) == (int(sys.argv[2]), int(sys.argv[3])), (n, b)\n"
    "assert r['leaked_objects'] == sum(s['count'] for s in r['stacks'])\n"
    "assert r['leaked_bytes'] == sum(s['bytes'] for s in r['stacks'])\n"
    "print('json: %d objects, %d bytes from leak_inner' % (n, b))\n";

int
main(int argc, char **argv)
{
    static char out[1 << 16], pyout[4096];
    char dir[] = "/tmp/greenrun-gc-leak-XXXXXX", report[64], gc_report[96], count[16], bytes[16];
    struct stat st;

    if (argc > 1 && strcmp(argv[1], "child") == 0)
        child();
    CHECK(mkdtemp(dir) != NULL);
    snprintf(report, sizeof report, "%s/report.json", dir);
    snprintf(gc_report, sizeof gc_report, "GREENRUN_GC_REPORT=%s", report);

    const char *drop[] = { "GREENRUN_GC=", "GREENRUN_GC_REPORT=", NULL };
    char *add[] = { (char *)"GREENRUN_GC=leak", gc_report, NULL };
    char **env = env_with(drop, add);
    char *args[] = { (char *)"/proc/self/exe", (char *)"child", NULL };
    CHECK_EQ(run_capture(args, env, out, sizeof out), 0);
    fprintf(stderr, "--- child's output ---\n%s--- end ---\n", out);

    if (!test_green()) {
        /* Natively the variables mean nothing: no report, no file. */
        CHECK(strstr(out, "greenrun:") == NULL);
        CHECK(stat(report, &st) != 0 && errno == ENOENT);
        CHECK_OK(rmdir(dir));
        return 0;
    }

    /* The text report: the leak_inner stack is there, with its callers in order, and no
     * keep_* function appears anywhere. */
    CHECK(strstr(out, "greenrun: leak check: ") != NULL);
    const char *inner = strstr(out, " in leak_inner");
    CHECK(inner != NULL);
    const char *middle = strstr(inner, " in leak_middle");
    const char *outer = middle != NULL ? strstr(middle, " in leak_outer") : NULL;
    CHECK(middle != NULL && outer != NULL);
    CHECK(strstr(out, " in keep_") == NULL);

    /* The JSON report: a new file, mode 0600, that says the same. */
    CHECK_OK(stat(report, &st));
    CHECK_EQ(st.st_mode & 0777, 0600);
    snprintf(count, sizeof count, "%d", LEAK_COUNT);
    snprintf(bytes, sizeof bytes, "%d", LEAK_COUNT * LEAK_SIZE);
    const char *drop_py[] = { "LD_PRELOAD=", "GREENRUN_", NULL };
    char *none[] = { NULL };
    char *py[] = {
        (char *)"python3", (char *)"-c", (char *)json_check, report, count, bytes, NULL
    };
    int rc = run_capture(py, env_with(drop_py, none), pyout, sizeof pyout);
    fprintf(stderr, "%s", pyout);
    if (rc == 127)
        fprintf(stderr, "python3 not found: the JSON report was not parsed\n");
    else
        CHECK_EQ(rc, 0);

    /* A second run with the same path is refused (O_EXCL), and says so; the file stays. */
    CHECK_EQ(run_capture(args, env, out, sizeof out), 0);
    CHECK(strstr(out, "GREENRUN_GC_REPORT=") != NULL && strstr(out, "cannot create") != NULL);

    CHECK_OK(unlink(report));
    CHECK_OK(rmdir(dir));
    return 0;
}
