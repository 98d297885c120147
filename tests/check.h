/* tests/check.h: test-side checks and helpers shared by every test; never compiled out.
 *
 * Include it first: it defines _GNU_SOURCE before any system header. It depends only on libc and
 * pthreads, never on the runtime, so every test builds and passes natively as well as under
 * LD_PRELOAD=libgreenrun.so. The runner sets GREENRUN_TEST_MODE to "native" or "green".
 *
 * CHECK(c)                 abort unless c holds.
 * CHECK_EQ(a, b)           abort unless a == b (compared as long long; both values are printed).
 * CHECK_ERR(call, e)       abort unless call fails with error number e (0 means "succeeds").
 *                          The error number is the return value for pthread-style functions
 *                          (they return 0 or an error number) and errno when call returns -1.
 *                          Use it only for calls whose success value is 0. It leaves errno
 *                          alone, so it can wrap calls between which errno must survive.
 * CHECK_OK(call)           CHECK_ERR(call, 0).
 * WAIT_FOR(cond, secs)     poll cond every millisecond (a park point) and abort after secs
 *                          seconds. For waiting on progress, never for ordering events.
 *
 * To order events on a thread being blocked, never sleep and hope; wait for the state:
 * blocker_here(&b, name)   in the thread, just before the call that blocks.
 * wait_blocked(&b, nr, reason)  until that thread sleeps in system call nr (natively, from
 *                          /proc) or is parked on reason (under greenrun, from the runtime's
 *                          greenrun_thread_info); fails after 10 s naming the state it saw.
 * wait_exited(&b)          until that thread has finished (not yet joined).
 * wait_process_blocked(pid, nr, what)  until another process sleeps in the kernel.
 *
 * The ticker (ticker_start, tick_window_open, check_ticked) shows that other threads kept
 * running while one was blocked: at least TICKS_MIN ticks over a window of 100 ms or more.
 *
 * run_self_child(argv0, debug, out, size)  run this program again as "argv0 child" with
 *                          GREENRUN_DEBUG=debug, collect its stderr (what the runtime prints
 *                          at exit) into out, and check it exited with status 0.
 * run_capture(argv, env, out, size)  run argv (PATH searched) with environment env, its
 *                          stdout and stderr into out; returns its exit status, or -1.
 * env_with(drop, add)      environ without the variables whose names start with one of
 *                          drop[], plus add[] (both NULL-terminated).
 */
#ifndef GREENRUN_TESTS_CHECK_H
#define GREENRUN_TESTS_CHECK_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHECK_MAYBE_UNUSED __attribute__((unused))

#define CHECK(c)                                      \
    do {                                              \
        if (!(c))                                     \
            check_fail(__FILE__, __LINE__, #c, NULL); \
    } while (0)

#define CHECK_EQ(a, b)                                        \
    do {                                                      \
        long long a_ = (long long)(a), b_ = (long long)(b);   \
        if (a_ != b_) {                                       \
            char v_[96];                                      \
            snprintf(v_, sizeof v_, "%lld != %lld", a_, b_);  \
            check_fail(__FILE__, __LINE__, #a " == " #b, v_); \
        }                                                     \
    } while (0)

#define CHECK_ERR(call, expected)                                                             \
    do {                                                                                      \
        long long r_ = (long long)(call);                                                     \
        int e_ = r_ == -1 ? errno : (int)r_;                                                  \
        int x_ = (expected);                                                                  \
        if (e_ != x_) {                                                                       \
            char v_[160];                                                                     \
            snprintf(v_, sizeof v_, "returned %lld, error %d (%s), expected %d (%s)", r_, e_, \
                     check_errname(e_), x_, check_errname(x_));                               \
            check_fail(__FILE__, __LINE__, #call, v_);                                        \
        }                                                                                     \
    } while (0)

#define CHECK_OK(call) CHECK_ERR(call, 0)

#define WAIT_FOR(cond, secs)                                                         \
    do {                                                                             \
        long long until_ = now_ns(CLOCK_MONOTONIC) + (long long)(secs)*1000000000LL; \
        while (!(cond)) {                                                            \
            if (now_ns(CLOCK_MONOTONIC) > until_)                                    \
                check_fail(__FILE__, __LINE__, "WAIT_FOR(" #cond ")", "timed out");  \
            sleep_ns(1000000);                                                       \
        }                                                                            \
    } while (0)

/* A 32-bit hash (one round of a murmur-style finaliser): sizes and contents a test can
 * recompute from a seed. */
static CHECK_MAYBE_UNUSED uint32_t
check_mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

static CHECK_MAYBE_UNUSED const char *
check_errname(int e)
{
    switch (e) {
    case 0:
        return "success";
    case EPERM:
        return "EPERM";
    case ENOENT:
        return "ENOENT";
    case ESRCH:
        return "ESRCH";
    case EINTR:
        return "EINTR";
    case EIO:
        return "EIO";
    case EBADF:
        return "EBADF";
    case EAGAIN:
        return "EAGAIN";
    case ENOMEM:
        return "ENOMEM";
    case EACCES:
        return "EACCES";
    case EFAULT:
        return "EFAULT";
    case EBUSY:
        return "EBUSY";
    case EINVAL:
        return "EINVAL";
    case EPIPE:
        return "EPIPE";
    case ERANGE:
        return "ERANGE";
    case EDEADLK:
        return "EDEADLK";
    case ENOSYS:
        return "ENOSYS";
    case EOVERFLOW:
        return "EOVERFLOW";
    case ETIMEDOUT:
        return "ETIMEDOUT";
    case ECONNREFUSED:
        return "ECONNREFUSED";
    case EOWNERDEAD:
        return "EOWNERDEAD";
    case ENOTRECOVERABLE:
        return "ENOTRECOVERABLE";
    case ENOTSUP:
        return "ENOTSUP";
    default:
        return "?";
    }
}

static void check_fail(const char *file, int line, const char *expr, const char *values)
    __attribute__((noreturn, unused));

static void
check_fail(const char *file, int line, const char *expr, const char *values)
{
    /* One write(2) so that lines from several failing threads do not interleave. */
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%s:%d: CHECK failed: %s%s%s\n", file, line, expr,
                     values ? ": " : "", values ? values : "");
    if (n > (int)sizeof buf - 1)
        n = (int)sizeof buf - 1;
    if (n > 0 && write(2, buf, (size_t)n) < 0)
        n = 0;
    abort();
}

/* Print why and exit 77, which the runner reports as a skip. */
static void skip_test(const char *why) __attribute__((noreturn, unused));

static void
skip_test(const char *why)
{
    fprintf(stderr, "SKIP: %s\n", why);
    fflush(NULL);
    exit(77);
}

static CHECK_MAYBE_UNUSED int
test_green(void)
{
    const char *mode = getenv("GREENRUN_TEST_MODE");
    return mode != NULL && strcmp(mode, "green") == 0;
}

/* 1 when libgreenrun is mapped into this process (an LD_PRELOAD that really loaded). */
static CHECK_MAYBE_UNUSED int
greenrun_loaded(void)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (f == NULL)
        return 0;
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, f) != NULL) {
        char *slash = strrchr(line, '/');
        found = slash != NULL && strncmp(slash + 1, "libgreenrun", 11) == 0;
    }
    fclose(f);
    return found;
}

/*
 * green_n under the runtime, native_n natively: a native run must stay at a few thousand threads
 * (pid_max is 32768 here, and a process near it stops every other process from forking). So a
 * "green" run in which the runtime did not load fails here instead of making green_n OS threads.
 */
static CHECK_MAYBE_UNUSED long
scale(long green_n, long native_n)
{
    if (!test_green())
        return native_n;
    if (green_n > native_n && !greenrun_loaded()) {
        char v[160];
        snprintf(v, sizeof v,
                 "GREENRUN_TEST_MODE=green but libgreenrun is not loaded; "
                 "refusing to create %ld OS threads",
                 green_n);
        check_fail(__FILE__, __LINE__, "scale", v);
    }
    return green_n;
}

static CHECK_MAYBE_UNUSED long long
now_ns(clockid_t clock)
{
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0)
        check_fail(__FILE__, __LINE__, "clock_gettime", NULL);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static CHECK_MAYBE_UNUSED struct timespec
ns_to_ts(long long ns)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    return ts;
}

static CHECK_MAYBE_UNUSED long long
ts_to_ns(const struct timespec *ts)
{
    return (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

/* An absolute deadline ns nanoseconds from now on clock, for the timed and clock variants. */
static CHECK_MAYBE_UNUSED struct timespec
deadline_in(clockid_t clock, long long ns)
{
    return ns_to_ts(now_ns(clock) + ns);
}

/* Sleep at least ns nanoseconds, resuming after signal handlers. */
static CHECK_MAYBE_UNUSED void
sleep_ns(long long ns)
{
    struct timespec req = ns_to_ts(ns), rem;
    while (nanosleep(&req, &rem) != 0) {
        if (errno != EINTR)
            check_fail(__FILE__, __LINE__, "nanosleep", "not EINTR");
        req = rem;
    }
}

/* A "Name:" line of /proc/self/status as a number (kB for the Vm* lines), or -1. */
static CHECK_MAYBE_UNUSED long
proc_status_value(const char *name)
{
    char buf[8192];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t len = 0, r;
    while (len < (ssize_t)sizeof buf - 1 && (r = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
        len += r;
    close(fd);
    buf[len] = '\0';
    size_t nlen = strlen(name);
    for (char *line = buf; line != NULL && *line != '\0';) {
        if (strncmp(line, name, nlen) == 0 && line[nlen] == ':')
            return strtol(line + nlen + 1, NULL, 10);
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    return -1;
}

/* The number of OS threads (tasks) of this process. */
static CHECK_MAYBE_UNUSED long
os_threads(void)
{
    return proc_status_value("Threads");
}

/* GREENRUN_PROCS, or the CPUs available to the process when it is unset (the runtime's default). */
static CHECK_MAYBE_UNUSED long
green_procs(void)
{
    const char *s = getenv("GREENRUN_PROCS");
    if (s != NULL && atoi(s) > 0)
        return atoi(s);
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        return CPU_COUNT(&set);
    return sysconf(_SC_NPROCESSORS_ONLN);
}

/*
 * Call while `live` pthreads are alive. Under the runtime they must share a few OS threads (one
 * per processor plus sysmon and a little slack); natively there must be at least one per thread,
 * which proves the native run really made threads.
 */
#define check_green_threads(live) check_green_threads_at((live), __FILE__, __LINE__)

static CHECK_MAYBE_UNUSED void
check_green_threads_at(long live, const char *file, int line)
{
    long n = os_threads();
    fprintf(stderr, "os threads: %ld with %ld live pthreads\n", n, live);
    if (test_green()) {
        long procs = green_procs();
        if (n > procs + 4) {
            char v[96];
            snprintf(v, sizeof v, "%ld OS threads, procs %ld", n, procs);
            check_fail(file, line, "os_threads() <= procs + 4", v);
        }
    } else if (n < live) {
        char v[96];
        snprintf(v, sizeof v, "%ld OS threads, %ld live pthreads", n, live);
        check_fail(file, line, "os_threads() >= live", v);
    }
}

/* pthread_timedjoin_np with a generous bound, so a hang fails with the caller's line number. */
#define join_within(t, secs) join_within_at((t), (secs), __FILE__, __LINE__)

static CHECK_MAYBE_UNUSED void *
join_within_at(pthread_t t, int secs, const char *file, int line)
{
    void *ret = NULL;
    struct timespec dl = deadline_in(CLOCK_REALTIME, (long long)secs * 1000000000LL);
    int rc = pthread_timedjoin_np(t, &ret, &dl);
    if (rc != 0) {
        char v[96];
        snprintf(v, sizeof v, "error %d (%s) after %d s", rc, check_errname(rc), secs);
        check_fail(file, line, "join_within", v);
    }
    return ret;
}

/*
 * In green mode, every 128th call checks that the process has not grown to many OS threads: a
 * runtime that loaded but runs pthreads as OS threads would otherwise let a 100,000-thread test
 * exhaust pid_max for the whole machine. spawn() calls it; so do loops that call pthread_create.
 */
#define GREEN_FLOOD_LIMIT   1000
#define green_flood_guard() green_flood_guard_at(__FILE__, __LINE__)

static CHECK_MAYBE_UNUSED void
green_flood_guard_at(const char *file, int line)
{
    static unsigned long calls;
    if (!test_green() || __atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED) % 128 != 0)
        return;
    long n = os_threads();
    if (n > GREEN_FLOOD_LIMIT) {
        char v[128];
        snprintf(v, sizeof v,
                 "%ld OS threads: the runtime is not running pthreads as green "
                 "threads",
                 n);
        check_fail(file, line, "green_flood_guard", v);
    }
}

/* Create a thread with default attributes or abort. */
#define spawn(fn, arg) spawn_at((fn), (arg), __FILE__, __LINE__)

static CHECK_MAYBE_UNUSED pthread_t
spawn_at(void *(*fn)(void *), void *arg, const char *file, int line)
{
    green_flood_guard_at(file, line);
    pthread_t t;
    int rc = pthread_create(&t, NULL, fn, arg);
    if (rc != 0) {
        char v[64];
        snprintf(v, sizeof v, "error %d (%s)", rc, check_errname(rc));
        check_fail(file, line, "pthread_create", v);
    }
    return t;
}

/* Read exactly len bytes (pipes and stream sockets may return less); end of file fails. */
static CHECK_MAYBE_UNUSED void
read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, (char *)buf + got, len - got);
        if (r <= 0) {
            fprintf(stderr, "read on fd %d: %zd after %zu of %zu bytes (%s)\n", fd, r, got, len,
                    r < 0 ? strerror(errno) : "EOF");
            CHECK(r > 0);
        }
        got += (size_t)r;
    }
}

/* Write all len bytes. */
static CHECK_MAYBE_UNUSED void
write_full(int fd, const void *buf, size_t len)
{
    size_t put = 0;
    while (put < len) {
        ssize_t w = write(fd, (const char *)buf + put, len - put);
        CHECK(w > 0);
        put += (size_t)w;
    }
}

/* A TCP socket listening on 127.0.0.1 at a port the kernel picks; its address in *a. */
static CHECK_MAYBE_UNUSED int
loopback_listener(struct sockaddr_in *a, int backlog)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(ls >= 0);
    int one = 1;
    CHECK_OK(setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_OK(bind(ls, (struct sockaddr *)a, sizeof *a));
    socklen_t len = sizeof *a;
    CHECK_OK(getsockname(ls, (struct sockaddr *)a, &len));
    CHECK_OK(listen(ls, backlog));
    return ls;
}

/*
 * Waiting until a thread is really blocked, instead of announcing and sleeping.
 *
 * The thread that is going to block fills a struct blocker with blocker_here(&b, "name") just
 * before the call that blocks; another thread then calls wait_blocked(&b, nr, reason), which
 * returns once the thread is seen blocked, and fails after BLOCKED_WAIT_SECS seconds naming the
 * thread and the state it was last seen in; a struct blocker is zeroed, or blocker_clear'ed,
 * before the thread that fills it starts. nr is the system call the thread sleeps in when it
 * runs natively (SYS_read, SYS_futex...; -1 for any), reason the greenrun wait reason expected
 * when it is parked ("IO read", "cond"...; NULL for any).
 *
 * Natively the thread is blocked when /proc/self/task/TID/stat gives state S or D and (unless
 * nr is -1) /proc/self/task/TID/syscall starts with nr. Under greenrun the runtime says
 * (greenrun_thread_info, looked up with dlsym so that tests need nothing but libc): the thread
 * is parked (GREENRUN_THREAD_WAITING, with wait_reason reason), or in a blocking call whose OS
 * thread sleeps in the kernel (GREENRUN_THREAD_SYSCALL with os_asleep; in nr unless nr is -1),
 * or, for a call no hook sees, running on an OS thread that sleeps in system call nr (only when
 * nr is given: otherwise that could be the runtime's own waiting).
 *
 * wait_exited(&b) waits in the same way until the thread has finished (before it is joined):
 * natively its task is gone from /proc/self/task, under greenrun its state is
 * GREENRUN_THREAD_EXITED.
 */
struct blocker {
    const char *name;
    pthread_t thread;
    pid_t tid;
    int ready; /* __atomic: thread and tid are set */
};

/* In the thread itself, just before it blocks (again before each call, in a loop). */
static CHECK_MAYBE_UNUSED void
blocker_here(struct blocker *b, const char *name)
{
    b->name = name;
    b->thread = pthread_self();
    b->tid = gettid();
    __atomic_store_n(&b->ready, 1, __ATOMIC_RELEASE);
}

/* Make b ready for another thread (or another call): wait_blocked then waits for its
 * blocker_here instead of looking at the thread b was filled by before. */
static CHECK_MAYBE_UNUSED void
blocker_clear(struct blocker *b)
{
    __atomic_store_n(&b->ready, 0, __ATOMIC_RELEASE);
}

/* A thread that reads one byte from fd after blocker_here, so that wait_blocked can follow
 * it into the read; ret and err are what the read returned and its errno. */
struct blocked_read {
    int fd;
    struct blocker blocked;
    ssize_t ret;
    int err;
    char byte;
};

static CHECK_MAYBE_UNUSED void *
blocked_read_main(void *arg)
{
    struct blocked_read *br = (struct blocked_read *)arg;
    blocker_here(&br->blocked, "the reader");
    br->ret = read(br->fd, &br->byte, 1);
    br->err = br->ret < 0 ? errno : 0;
    return NULL;
}

#define BLOCKED_WAIT_SECS 10

/*
 * Copied from preload/greenrun.h (keep the two in sync): tests include nothing of greenrun, so
 * they build and run without it.
 */
enum greenrun_thread_state {
    GREENRUN_THREAD_RUNNABLE = 1,
    GREENRUN_THREAD_RUNNING,
    GREENRUN_THREAD_WAITING,
    GREENRUN_THREAD_SYSCALL,
    GREENRUN_THREAD_EXITED,
};

struct greenrun_thread_info {
    int state;
    const char *wait_reason;
    int os_tid;
    int os_asleep;
};

typedef int (*check_thread_info_fn)(pthread_t, struct greenrun_thread_info *, size_t);

/* greenrun_thread_info, or NULL when greenrun is not loaded (a failure in green mode). */
static CHECK_MAYBE_UNUSED check_thread_info_fn
check_thread_info(const char *file, int line)
{
    static void *sym; /* __atomic */
    void *p = __atomic_load_n(&sym, __ATOMIC_ACQUIRE);
    if (p == NULL) {
        p = dlsym(RTLD_DEFAULT, "greenrun_thread_info");
        __atomic_store_n(&sym, p, __ATOMIC_RELEASE);
    }
    if (p == NULL && test_green())
        check_fail(file, line, "greenrun_thread_info",
                   "GREENRUN_TEST_MODE=green but the symbol is missing (greenrun not loaded?)");
    return (check_thread_info_fn)p;
}

/*
 * Task tid of process pid in /proc: its state letter (R, S, D...) in *state and, when nr is
 * not NULL, the system call it sleeps in (-1 when it is in none, -2 when it runs). 0 when the
 * task is gone, 1 otherwise.
 */
static CHECK_MAYBE_UNUSED int
check_task(pid_t pid, pid_t tid, char *state, long *nr)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ESRCH)
            return 0;
        check_fail(__FILE__, __LINE__, path, strerror(errno));
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0; /* ESRCH: it went between open and read */
    buf[n] = '\0';
    /* "tid (comm) S ...": the state follows the last ')', as comm may hold one. */
    char *rp = strrchr(buf, ')');
    *state = rp != NULL && rp[1] == ' ' ? rp[2] : '?';
    if (nr == NULL)
        return 1;
    *nr = -2;
    snprintf(path, sizeof path, "/proc/%d/task/%d/syscall", (int)pid, (int)tid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ESRCH ? 0 : 1;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 1;
    buf[n] = '\0';
    if (strncmp(buf, "running", 7) != 0)
        *nr = strtol(buf, NULL, 10);
    return 1;
}

/* Is task tid of process pid asleep (S or D), in system call nr unless nr is -1? 1 when it
 * is, 0 when not, -1 when it is gone. */
static CHECK_MAYBE_UNUSED int
check_task_blocked(pid_t pid, pid_t tid, long nr, char *seen, size_t seen_len)
{
    char st = '?';
    long in = -2;
    if (!check_task(pid, tid, &st, &in)) {
        snprintf(seen, seen_len, "task %d is gone", (int)tid);
        return -1;
    }
    if (in == -2)
        snprintf(seen, seen_len, "task %d state %c, running", (int)tid, st);
    else
        snprintf(seen, seen_len, "task %d state %c, in system call %ld", (int)tid, st, in);
    return (st == 'S' || st == 'D') && (nr < 0 || in == nr);
}

static CHECK_MAYBE_UNUSED const char *
check_green_state_name(int state)
{
    switch (state) {
    case GREENRUN_THREAD_RUNNABLE:
        return "RUNNABLE";
    case GREENRUN_THREAD_RUNNING:
        return "RUNNING";
    case GREENRUN_THREAD_WAITING:
        return "WAITING";
    case GREENRUN_THREAD_SYSCALL:
        return "SYSCALL";
    case GREENRUN_THREAD_EXITED:
        return "EXITED";
    default:
        return "?";
    }
}

/*
 * One look at b's thread: 1 when it is blocked as asked (exited as asked, with want_exit), 0
 * when not yet, -1 when it never will be (it exited, or its task is gone). seen describes what
 * was seen.
 */
static CHECK_MAYBE_UNUSED int
check_blocked_once(const struct blocker *b, long nr, const char *reason, int want_exit, char *seen,
                   size_t seen_len, const char *file, int line)
{
    check_thread_info_fn info = check_thread_info(file, line);
    struct greenrun_thread_info gi;
    int rc = info != NULL ? info(b->thread, &gi, sizeof gi) : ESRCH;
    if (rc == ESRCH && !test_green()) {
        /* Natively (or greenrun running natively): the kernel's view of the thread. */
        if (want_exit) {
            char st;
            snprintf(seen, seen_len, "task %d still there", (int)b->tid);
            return !check_task(getpid(), b->tid, &st, NULL);
        }
        return check_task_blocked(getpid(), b->tid, nr, seen, seen_len);
    }
    if (rc != 0) {
        char v[128];
        snprintf(v, sizeof v, "%s: error %d (%s)", b->name, rc, check_errname(rc));
        check_fail(file, line, "greenrun_thread_info", v);
    }
    int n = snprintf(seen, seen_len, "green %s", check_green_state_name(gi.state));
    if (n < 0 || (size_t)n >= seen_len)
        n = 0;
    seen += n;
    seen_len -= (size_t)n;
    if (want_exit)
        return gi.state == GREENRUN_THREAD_EXITED;
    switch (gi.state) {
    case GREENRUN_THREAD_WAITING:
        snprintf(seen, seen_len, " on \"%s\"", gi.wait_reason ? gi.wait_reason : "(null)");
        return reason == NULL || (gi.wait_reason != NULL && strcmp(gi.wait_reason, reason) == 0);
    case GREENRUN_THREAD_SYSCALL:
        if (!gi.os_asleep) {
            snprintf(seen, seen_len, " on OS thread %d, which runs", gi.os_tid);
            return 0;
        }
        if (nr < 0) {
            snprintf(seen, seen_len, " on OS thread %d, asleep", gi.os_tid);
            return 1;
        }
        n = snprintf(seen, seen_len, ", ");
        return check_task_blocked(getpid(), gi.os_tid, nr, seen + n, seen_len - (size_t)n) == 1;
    case GREENRUN_THREAD_RUNNING:
        /* In a call no hook saw, the G runs on an OS thread that sleeps in the kernel. */
        if (nr < 0 || gi.os_tid == 0)
            return 0;
        n = snprintf(seen, seen_len, ", ");
        if (check_task_blocked(getpid(), gi.os_tid, nr, seen + n, seen_len - (size_t)n) != 1)
            return 0;
        /* Still the same G on that OS thread? */
        struct greenrun_thread_info again;
        return info(b->thread, &again, sizeof again) == 0 &&
               again.state == GREENRUN_THREAD_RUNNING && again.os_tid == gi.os_tid;
    case GREENRUN_THREAD_EXITED:
        return -1;
    default:
        return 0;
    }
}

#define wait_blocked(b, nr, reason) wait_blocked_at((b), (nr), (reason), 0, __FILE__, __LINE__)
#define wait_exited(b)              wait_blocked_at((b), -1, NULL, 1, __FILE__, __LINE__)

static CHECK_MAYBE_UNUSED void
wait_blocked_at(struct blocker *b, long nr, const char *reason, int want_exit, const char *file,
                int line)
{
    long long until = now_ns(CLOCK_MONOTONIC) + BLOCKED_WAIT_SECS * 1000000000LL;
    while (!__atomic_load_n(&b->ready, __ATOMIC_ACQUIRE)) {
        if (now_ns(CLOCK_MONOTONIC) > until)
            check_fail(file, line, want_exit ? "wait_exited" : "wait_blocked",
                       "the thread never called blocker_here");
        sleep_ns(1000000);
    }
    char seen[160] = "";
    for (;;) {
        int r = check_blocked_once(b, nr, reason, want_exit, seen, sizeof seen, file, line);
        if (r == 1)
            return;
        long long now = now_ns(CLOCK_MONOTONIC);
        if (r < 0 || now > until) {
            char v[320];
            if (want_exit)
                snprintf(v, sizeof v, "%s has not exited after %d s; last seen: %s", b->name,
                         BLOCKED_WAIT_SECS, seen);
            else
                snprintf(v, sizeof v,
                         "%s not blocked (system call %ld, reason %s) %s; last "
                         "seen: %s",
                         b->name, nr, reason ? reason : "any",
                         r < 0 ? "and never will be" : "in time", seen);
            check_fail(file, line, want_exit ? "wait_exited" : "wait_blocked", v);
        }
        sleep_ns(1000000);
    }
}

/*
 * Wait until another process (a child) sleeps in the kernel: its main thread in state S or D,
 * in system call nr unless nr is -1. A child that runs under greenrun too sleeps in the
 * runtime's own wait when its threads are all blocked, so callers pass -1 there.
 */
#define wait_process_blocked(pid, nr, what) \
    wait_process_blocked_at((pid), (nr), (what), __FILE__, __LINE__)

static CHECK_MAYBE_UNUSED void
wait_process_blocked_at(pid_t pid, long nr, const char *what, const char *file, int line)
{
    long long until = now_ns(CLOCK_MONOTONIC) + BLOCKED_WAIT_SECS * 1000000000LL;
    char seen[160] = "";
    for (;;) {
        int r = check_task_blocked(pid, pid, nr, seen, sizeof seen);
        if (r == 1)
            return;
        if (r < 0 || now_ns(CLOCK_MONOTONIC) > until) {
            char v[320];
            snprintf(v, sizeof v, "%s (pid %d) not blocked (system call %ld) %s; last seen: %s",
                     what, (int)pid, nr, r < 0 ? "and never will be" : "in time", seen);
            check_fail(file, line, "wait_process_blocked", v);
        }
        sleep_ns(1000000);
    }
}

/*
 * A ticker thread that counts milliseconds: evidence that the other threads kept running
 * while one was blocked (with GREENRUN_PROCS=1 a blocked processor gives no tick at all).
 */
static long check_ticks;      /* __atomic */
static int check_ticker_stop; /* __atomic */
static pthread_t check_ticker_tid;

static CHECK_MAYBE_UNUSED void *
check_ticker_main(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&check_ticker_stop, __ATOMIC_SEQ_CST)) {
        sleep_ns(1000000);
        __atomic_fetch_add(&check_ticks, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

/* Start the ticker; returns once it ticks. */
static CHECK_MAYBE_UNUSED void
ticker_start(void)
{
    check_ticker_tid = spawn(check_ticker_main, NULL);
    WAIT_FOR(__atomic_load_n(&check_ticks, __ATOMIC_SEQ_CST) > 5, 10);
}

/* The ticks so far. */
static CHECK_MAYBE_UNUSED long
ticker_now(void)
{
    return __atomic_load_n(&check_ticks, __ATOMIC_SEQ_CST);
}

static CHECK_MAYBE_UNUSED void
ticker_stop(void)
{
    __atomic_store_n(&check_ticker_stop, 1, __ATOMIC_SEQ_CST);
    join_within(check_ticker_tid, 10);
}

/*
 * Judging the ticker: it must have ticked at least TICKS_MIN times over a window of at least
 * TICK_WINDOW_NS in which the thread under test was blocked (or busy). A stalled processor
 * gives no tick at all; a loaded machine still gives a tick every few milliseconds on
 * average (with three CPU-burning processes beside the suite on two CPUs, scripts/hogs.sh,
 * the fewest seen over a 300 ms block were 19 ticks; over 100 ms of 25 ms fsync()s, 14, so
 * file_io_nostall judges 300 ms of those). A shorter window cannot be judged (one
 * descheduling of the ticker's OS thread by the machine can take it all) and fails as a
 * mistake of the test.
 *
 *     struct tick_window w = tick_window_open();
 *     ...the call that blocks for 300 ms...
 *     check_ticked(tick_window_since(w), "what");
 *
 * tick_window_add sums the spans of several windows, for work done in short pieces.
 */
#define TICK_WINDOW_NS 100000000LL /* 100 ms */
#define TICKS_MIN      10

struct tick_window {
    long ticks;   /* ticker count, or ticks in a span */
    long long ns; /* CLOCK_MONOTONIC time, or length of a span */
};

static CHECK_MAYBE_UNUSED struct tick_window
tick_window_open(void)
{
    struct tick_window w = { ticker_now(), now_ns(CLOCK_MONOTONIC) };
    return w;
}

/* The span from w's opening until now. */
static CHECK_MAYBE_UNUSED struct tick_window
tick_window_since(struct tick_window w)
{
    struct tick_window span = { ticker_now() - w.ticks, now_ns(CLOCK_MONOTONIC) - w.ns };
    return span;
}

static CHECK_MAYBE_UNUSED void
tick_window_add(struct tick_window *sum, struct tick_window span)
{
    sum->ticks += span.ticks;
    sum->ns += span.ns;
}

#define check_ticked(span, what) check_ticked_at((span), (what), __FILE__, __LINE__)

static CHECK_MAYBE_UNUSED void
check_ticked_at(struct tick_window span, const char *what, const char *file, int line)
{
    long long ms = span.ns / 1000000;
    fprintf(stderr, "%s: %ld ticks of 1 ms in %lld ms\n", what, span.ticks, ms);
    char v[160];
    if (span.ns < TICK_WINDOW_NS) {
        snprintf(v, sizeof v, "%s: a window of %lld ms is too short to judge (at least %lld)", what,
                 ms, TICK_WINDOW_NS / 1000000);
        check_fail(file, line, "check_ticked", v);
    }
    if (span.ticks < TICKS_MIN) {
        snprintf(v, sizeof v, "%s: %ld ticks in %lld ms, expected at least %d", what, span.ticks,
                 ms, TICKS_MIN);
        check_fail(file, line, "check_ticked", v);
    }
}

#include <sys/wait.h>

/* Read fd to its end (or until out is full) into out, NUL-terminated; the length. */
static size_t read_all(int fd, char *out, size_t size) CHECK_MAYBE_UNUSED;
static size_t
read_all(int fd, char *out, size_t size)
{
    size_t len = 0;
    ssize_t r;

    while (len < size - 1 && (r = read(fd, out + len, size - 1 - len)) != 0) {
        if (r < 0) {
            CHECK(errno == EINTR);
            continue;
        }
        len += (size_t)r;
    }
    out[len] = '\0';
    return len;
}

/* The whole file at path into buf (NUL-terminated): its length, or -1 when it cannot be
 * opened. */
static long read_path(const char *path, char *buf, size_t size) CHECK_MAYBE_UNUSED;
static long
read_path(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    long n;

    if (fd < 0)
        return -1;
    n = (long)read_all(fd, buf, size);
    close(fd);
    return n;
}

static void run_self_child(const char *argv0, const char *debug, char *out,
                           size_t size) CHECK_MAYBE_UNUSED;
static void
run_self_child(const char *argv0, const char *debug, char *out, size_t size)
{
    extern char **environ;
    char setting[128];
    size_t n = 0, k = 0;
    int errp[2], status = 0;

    while (environ[n] != NULL)
        n++;
    char **env = (char **)calloc(n + 2, sizeof(char *)); /* a cast for the C++ tests */
    CHECK(env != NULL);
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "GREENRUN_DEBUG=", 15) != 0)
            env[k++] = environ[i];
    snprintf(setting, sizeof setting, "GREENRUN_DEBUG=%s", debug);
    env[k++] = setting;
    env[k] = NULL;
    CHECK_OK(pipe(errp));
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(errp[1], 2);
        close(errp[0]);
        close(errp[1]);
        char *args[] = { (char *)argv0, (char *)"child", NULL };
        execve("/proc/self/exe", args, env);
        _exit(127);
    }
    close(errp[1]);
    free(env);
    read_all(errp[0], out, size);
    close(errp[0]);
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    fprintf(stderr, "--- child's stderr ---\n%s--- end ---\n", out);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);
}

static int run_capture(char *const argv[], char *const env[], char *out,
                       size_t size) CHECK_MAYBE_UNUSED;
static int
run_capture(char *const argv[], char *const env[], char *out, size_t size)
{
    int errp[2], status = 0;

    CHECK_OK(pipe(errp));
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(errp[1], 2);
        dup2(errp[1], 1);
        close(errp[0]);
        close(errp[1]);
        execve(argv[0], argv, env);
        execvpe(argv[0], argv, env);
        _exit(127);
    }
    close(errp[1]);
    read_all(errp[0], out, size);
    close(errp[0]);
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char **env_with(const char *const drop[], char *const add[]) CHECK_MAYBE_UNUSED;
static char **
env_with(const char *const drop[], char *const add[])
{
    extern char **environ;
    size_t n = 0, k = 0, a = 0;

    while (environ[n] != NULL)
        n++;
    while (add[a] != NULL)
        a++;
    char **env = (char **)calloc(n + a + 1, sizeof(char *)); /* a cast for the C++ tests */
    CHECK(env != NULL);
    for (size_t i = 0; i < n; i++) {
        int keep = 1;
        for (size_t d = 0; drop[d] != NULL; d++)
            if (strncmp(environ[i], drop[d], strlen(drop[d])) == 0)
                keep = 0;
        if (keep)
            env[k++] = environ[i];
    }
    for (size_t i = 0; i < a; i++)
        env[k++] = add[i];
    env[k] = NULL;
    return env;
}

#endif /* GREENRUN_TESTS_CHECK_H */
