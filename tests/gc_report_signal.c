/* tests/gc_report_signal.c
 * Behaviour: with GREENRUN_GC=leak and GREENRUN_GC_REPORT_SIGNAL=SIGUSR2, each SIGUSR2 runs a
 * leak check while the program keeps running, and each check counts what was lost so far.
 * The program loses three 40-byte objects (leak_a), signals itself, waits until the JSON of
 * that check (GREENRUN_GC_REPORT.1) is complete, loses four 56-byte objects (leak_b), signals
 * again (GREENRUN_GC_REPORT.2), and exits. The reports say: .1 three leak_a objects and no
 * leak_b; .2 and the exit's (the plain name) three leak_a and four leak_b, 344 bytes. The
 * reports count nothing else (the checking thread's own memory is not lost). The
 * program sees SIGUSR2 at its default all along (sigaction reports SIG_DFL), and stderr
 * names the on-demand checks #1 and #2. Natively the child sends no signal and nothing is
 * reported.
 *
 * The program runs itself again (/proc/self/exe child) with the variables set and its stderr
 * on a pipe.
 */
#include "check.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define A_SIZE  40
#define A_COUNT 3
#define B_SIZE  56
#define B_COUNT 4

#define NOINLINE __attribute__((noinline))

static void *volatile sink; /* keeps a call from being optimised away, then cleared */

static NOINLINE void
leak_a(void)
{
    sink = malloc(A_SIZE);
    CHECK(sink != NULL);
    memset(sink, 1, A_SIZE);
    sink = NULL;
}

static NOINLINE void
leak_b(void)
{
    sink = malloc(B_SIZE);
    CHECK(sink != NULL);
    memset(sink, 2, B_SIZE);
    sink = NULL;
}

/* The leaks are made on a thread since joined: its stack is nobody's, so no stale copy of a
 * lost pointer stays where the check looks. */
static void *
leaker(void *arg)
{
    void (*fn)(void) = (void (*)(void))arg;
    int n = fn == leak_a ? A_COUNT : B_COUNT;

    for (int i = 0; i < n; i++)
        fn();
    return NULL;
}

static void
leak_on_thread(void (*fn)(void))
{
    pthread_t t;

    CHECK_OK(pthread_create(&t, NULL, leaker, (void *)fn));
    CHECK_OK(pthread_join(t, NULL));
}

/* True once path holds a whole report (the writer ends it with "]}\n"). */
static int
report_done(const char *path)
{
    static char buf[1 << 16];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return 0;
    n = read_all(fd, buf, sizeof buf);
    close(fd);
    return n >= 3 && memcmp(buf + n - 3, "]}\n", 3) == 0;
}

static void
check_report(const char *base, int n)
{
    char path[512];

    snprintf(path, sizeof path, "%s.%d", base, n);
    CHECK_OK(raise(SIGUSR2));
    WAIT_FOR(report_done(path), 60);
}

static void
child(void)
{
    const char *base = getenv("GREENRUN_GC_REPORT");
    struct sigaction sa;

    leak_on_thread(leak_a);
    if (!test_green())
        exit(0); /* natively SIGUSR2 would end the program */
    CHECK_OK(sigaction(SIGUSR2, NULL, &sa));
    CHECK(sa.sa_handler == SIG_DFL);
    CHECK(base != NULL);
    check_report(base, 1);
    leak_on_thread(leak_b);
    check_report(base, 2);
    CHECK_OK(sigaction(SIGUSR2, NULL, &sa));
    CHECK(sa.sa_handler == SIG_DFL);
    exit(0);
}

/* ---- The parent: runs the child and judges its reports. */

/* Each report's objects and bytes from stacks naming leak_a and leak_b, against argv's
 * expectations: FILE A_OBJECTS A_BYTES B_OBJECTS B_BYTES. */
static const char json_check[] =
    "import json, sys\n"
    "r = json.load(open(sys.argv[1]))\n"
    "assert r['version'] == 1 and r['mode'] == 'leak', r\n"
    "got = {'leak_a': [0, 0], 'leak_b': [0, 0]}\n"
    "for s in r['stacks']:\n"
    "    fns = [f['function'].split('.')[0] for f in s['frames']]\n"
    "    for k in got:\n"
    "        if k in fns:\n"
    "            got[k][0] += s['count']; got[k][1] += s['bytes']\n"
    "want = [int(x) for x in sys.argv[2:6]]\n"
    "assert got['leak_a'] + got['leak_b'] == want, (sys.argv[1], got, want)\n"
    "assert r['leaked_objects'] == want[0] + want[2], (sys.argv[1], r['leaked_objects'])\n"
    "print('%s: %s' % (sys.argv[1], got))\n";

static void
judge(const char *path, int a, int b)
{
    static char pyout[4096];
    char args[4][16];
    const char *drop_py[] = { "LD_PRELOAD=", "GREENRUN_", NULL };
    char *none[] = { NULL };
    struct stat st;

    CHECK_OK(stat(path, &st));
    CHECK_EQ(st.st_mode & 0777, 0600);
    snprintf(args[0], sizeof args[0], "%d", a);
    snprintf(args[1], sizeof args[1], "%d", a * A_SIZE);
    snprintf(args[2], sizeof args[2], "%d", b);
    snprintf(args[3], sizeof args[3], "%d", b * B_SIZE);
    char *py[] = { (char *)"python3", (char *)"-c", (char *)json_check,
                   (char *)path,      args[0],      args[1],
                   args[2],           args[3],      NULL };
    int rc = run_capture(py, env_with(drop_py, none), pyout, sizeof pyout);
    fprintf(stderr, "%s", pyout);
    if (rc == 127)
        fprintf(stderr, "python3 not found: %s was not parsed\n", path);
    else
        CHECK_EQ(rc, 0);
}

int
main(int argc, char **argv)
{
    static char out[1 << 17];
    char dir[] = "/tmp/greenrun-gc-signal-XXXXXX", report[64], var[96], path[80];
    struct stat st;

    if (argc > 1 && strcmp(argv[1], "child") == 0)
        child();
    CHECK(mkdtemp(dir) != NULL);
    snprintf(report, sizeof report, "%s/r.json", dir);
    snprintf(var, sizeof var, "GREENRUN_GC_REPORT=%s", report);

    const char *drop[] = { "GREENRUN_GC", NULL };
    char *add[] = { (char *)"GREENRUN_GC=leak", var, (char *)"GREENRUN_GC_REPORT_SIGNAL=SIGUSR2",
                    NULL };
    char *args[] = { (char *)"/proc/self/exe", (char *)"child", NULL };
    CHECK_EQ(run_capture(args, env_with(drop, add), out, sizeof out), 0);
    fprintf(stderr, "--- child's output ---\n%s--- end ---\n", out);

    if (!test_green()) {
        CHECK(strstr(out, "greenrun:") == NULL);
        CHECK(stat(report, &st) != 0 && errno == ENOENT);
        CHECK_OK(rmdir(dir));
        return 0;
    }
    CHECK(strstr(out, "greenrun: leak check #1 on demand") != NULL);
    CHECK(strstr(out, "greenrun: leak check #2 on demand") != NULL);
    CHECK(strstr(out, " in leak_a") != NULL && strstr(out, " in leak_b") != NULL);
    snprintf(path, sizeof path, "%s.1", report);
    judge(path, A_COUNT, 0);
    CHECK_OK(unlink(path));
    snprintf(path, sizeof path, "%s.2", report);
    judge(path, A_COUNT, B_COUNT);
    CHECK_OK(unlink(path));
    judge(report, A_COUNT, B_COUNT);
    CHECK_OK(unlink(report));
    CHECK_OK(rmdir(dir));
    return 0;
}
