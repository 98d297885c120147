/* tests/fd_runtime_hidden.c
 * Behaviour: a program that lists its descriptors (/proc/self/fd) finds exactly those it
 * inherited and opened. At main's start every descriptor is an inherited one (none is
 * close-on-exec: exec closed those). After threads that sleep, contend on a mutex and wait on
 * a condition variable, and two that compute for long enough to be preempted, the list is
 * unchanged. A child started with posix_spawn (a fresh exec, under greenrun preloaded too)
 * lists its own at its start and again after the same thread work, and finds exactly the
 * descriptors it inherited. Then the program does socket I/O (a thread blocked in a read of a
 * socketpair until the main thread writes): that works; any descriptor beyond the program's
 * own is close-on-exec, there are at most two of them, and a child started afterwards again
 * finds exactly what it inherited (the socketpair, left inheritable on purpose), none of the
 * runtime's.
 */
#include "check.h"

#include <dirent.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define MAX_FDS  256
#define NSLEEP   4
#define NBUSY    2
#define BUSY_NS  30000000LL /* each busy thread computes this long: preempted at 10 ms */
#define CHILD_OK 0

extern char **environ;

struct fdset {
    int n;
    int fd[MAX_FDS];
};

/* The descriptors open now, in increasing order (the one listing them left out). */
static void
list_fds(struct fdset *s)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;

    CHECK(d != NULL);
    s->n = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        if (fd == dirfd(d))
            continue;
        CHECK(s->n < MAX_FDS);
        int i = s->n++;
        while (i > 0 && s->fd[i - 1] > fd) {
            s->fd[i] = s->fd[i - 1];
            i--;
        }
        s->fd[i] = fd;
    }
    closedir(d);
}

static void
format_fds(const struct fdset *s, char *buf, size_t len)
{
    size_t off = 0;

    buf[0] = '\0';
    for (int i = 0; i < s->n && off + 16 < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%d", i ? "," : "", s->fd[i]);
}

static int
parse_fds(const char *text, struct fdset *s)
{
    s->n = 0;
    while (*text != '\0') {
        char *end;
        long v = strtol(text, &end, 10);
        if (end == text || s->n >= MAX_FDS)
            return -1;
        s->fd[s->n++] = (int)v;
        text = *end == ',' ? end + 1 : end;
    }
    return 0;
}

static int
cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

static int
has_fd(const struct fdset *s, int fd)
{
    for (int i = 0; i < s->n; i++)
        if (s->fd[i] == fd)
            return 1;
    return 0;
}

static int
same_fds(const struct fdset *a, const struct fdset *b)
{
    if (a->n != b->n)
        return 0;
    for (int i = 0; i < a->n; i++)
        if (a->fd[i] != b->fd[i])
            return 0;
    return 1;
}

static void
check_same_at(const struct fdset *got, const struct fdset *want, const char *when, int line)
{
    if (!same_fds(got, want)) {
        char g[1024], w[1024], v[2200];
        format_fds(got, g, sizeof g);
        format_fds(want, w, sizeof w);
        snprintf(v, sizeof v, "%s: descriptors %s, expected %s", when, g, w);
        check_fail(__FILE__, line, "same descriptors", v);
    }
}
#define check_same(got, want, when) check_same_at((got), (want), (when), __LINE__)

/* ---- Thread work without blocking I/O. */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int turn;
static long shared_count;

static void *
sleeper(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < 20; i++) {
        sleep_ns(200000 + id * 50000);
        pthread_mutex_lock(&mu);
        shared_count++;
        pthread_mutex_unlock(&mu);
    }
    /* Take turns on the condition variable, in id order. */
    pthread_mutex_lock(&mu);
    while (turn != id)
        pthread_cond_wait(&cv, &mu);
    turn++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void *
busy(void *arg)
{
    volatile unsigned long x = (unsigned long)arg;
    long long until = now_ns(CLOCK_MONOTONIC) + BUSY_NS;
    while (now_ns(CLOCK_MONOTONIC) < until)
        for (int i = 0; i < 10000; i++)
            x = x * 6364136223846793005UL + 1442695040888963407UL;
    return NULL;
}

static void
thread_work(void)
{
    pthread_t t[NSLEEP + NBUSY];

    turn = 0;
    for (long i = 0; i < NSLEEP; i++)
        t[i] = spawn(sleeper, (void *)i);
    for (long i = 0; i < NBUSY; i++)
        t[NSLEEP + i] = spawn(busy, (void *)(i + 1));
    for (int i = 0; i < NSLEEP + NBUSY; i++)
        join_within(t[i], 30);
    CHECK_EQ(turn, NSLEEP);
    CHECK_EQ(shared_count % 20, 0);
}

/* ---- The child: argv is {exe, "--child", expected list}. */

static int
child_main(int argc, char **argv)
{
    struct fdset want, got;

    if (argc != 3 || parse_fds(argv[2], &want) != 0)
        return 10;
    list_fds(&got);
    check_same(&got, &want, "child, at its start");
    thread_work();
    list_fds(&got);
    check_same(&got, &want, "child, after its threads");
    return CHILD_OK;
}

/* Start this program again with the descriptors expected in it; wait for its verdict. */
static void
run_child(const struct fdset *expect)
{
    char list[1024], exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    CHECK(n > 0);
    exe[n] = '\0';
    format_fds(expect, list, sizeof list);
    char flag[] = "--child";
    char *args[] = { exe, flag, list, NULL };
    pid_t pid;
    CHECK_OK(posix_spawn(&pid, exe, NULL, NULL, args, environ));
    int st;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), CHILD_OK);
}

/* ---- Socket I/O. */

struct reader {
    int fd;
    char got[8];
    ssize_t n;
    struct blocker b;
};

static void *
reader_main(void *arg)
{
    struct reader *r = arg;
    blocker_here(&r->b, "the socket reader");
    r->n = read(r->fd, r->got, sizeof r->got);
    return NULL;
}

int
main(int argc, char **argv)
{
    struct fdset base, now;

    if (argc > 1 && strcmp(argv[1], "--child") == 0)
        return child_main(argc, argv);

    /* At main's start: only what exec let through, which is never close-on-exec. */
    list_fds(&base);
    for (int i = 0; i < base.n; i++) {
        int fl = fcntl(base.fd[i], F_GETFD);
        if (fl >= 0 && (fl & FD_CLOEXEC)) {
            char v[1100], all[1024];
            format_fds(&base, all, sizeof all);
            snprintf(v, sizeof v, "descriptor %d is close-on-exec at main's start (open: %s)",
                     base.fd[i], all);
            check_fail(__FILE__, __LINE__, "inherited descriptors only", v);
        }
    }

    thread_work();
    list_fds(&now);
    check_same(&now, &base, "after threads without I/O");
    run_child(&base);
    list_fds(&now);
    check_same(&now, &base, "after the first child");

    /* Socket I/O: a reader parks until the main thread writes. */
    int sv[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    struct reader r = { .fd = sv[0] };
    pthread_t rt = spawn(reader_main, &r);
    wait_blocked(&r.b, SYS_read, "IO read");
    CHECK_EQ(write(sv[1], "ping", 4), 4);
    join_within(rt, 10);
    CHECK_EQ(r.n, 4);
    CHECK(memcmp(r.got, "ping", 4) == 0);

    struct fdset mine = base;
    mine.fd[mine.n++] = sv[0];
    mine.fd[mine.n++] = sv[1];
    qsort(mine.fd, (size_t)mine.n, sizeof mine.fd[0], cmp_int);
    list_fds(&now);
    int extra = 0;
    for (int i = 0; i < now.n; i++) {
        if (has_fd(&mine, now.fd[i]))
            continue;
        extra++;
        int fl = fcntl(now.fd[i], F_GETFD);
        CHECK(fl >= 0 && (fl & FD_CLOEXEC));
    }
    for (int i = 0; i < mine.n; i++)
        CHECK(has_fd(&now, mine.fd[i]));
    CHECK(extra <= (test_green() ? 2 : 0));
    run_child(&mine);

    close(sv[0]);
    close(sv[1]);
    return 0;
}
