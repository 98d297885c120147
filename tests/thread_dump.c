/* tests/thread_dump.c
 * Behaviour: under greenrun, SIGQUIT left at its default writes a dump of every thread to
 * stderr and the program keeps running. With 1,000 threads in six states (a mutex, a condition
 * variable, a read on a TCP socket, a sleep, a join, a waitpid in the kernel) and two spinning,
 * the dump shows each with its wait reason ("waiting: mutex", "waiting: IO read on fd N
 * (socket 127.0.0.1:P <- 127.0.0.1:Q)", "syscall: wait4"...), running or runnable for the
 * spinners, and a backtrace naming this program's function the thread blocks in. sigaction
 * still reads SIGQUIT back as SIG_DFL, and a handler or SIG_IGN of the program takes its place
 * (no dump). greenrun_dump(fd) writes the same dump on demand, the caller's own frames
 * included. With GREENRUN_QUIT=exit the dump is followed by exit status 2.
 *
 * Natively SIGQUIT at its default would kill the process, so the native child sets up the same
 * threads, waits for the same states, and sends nothing: no dump, and it still exits 0.
 *
 * The program runs itself again (/proc/self/exe child) with its stderr on a pipe: the parent
 * reads the dump there and only then lets the child go on (a byte on the child's stdin).
 */
#include "check.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define N_MUTEX   200
#define N_COND    200
#define N_READ    200
#define N_SLEEP   200
#define N_JOIN    196 /* each joins one of the mutex waiters */
#define N_WAITPID 2
#define N_SPIN    2
#define N_ALL     (N_MUTEX + N_COND + N_READ + N_SLEEP + N_JOIN + N_WAITPID + N_SPIN)

#define OUT_MAX (16 << 20) /* the dumps' text, at most */

static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t cond_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static int tcp_fd;            /* the accepted end: readers read it */
static pid_t kids[N_WAITPID]; /* processes that wait on kid_pipe */
static int stop_spin;         /* __atomic */
static int spinning;          /* __atomic: spinners started */
static struct blocker blk[N_ALL - N_SPIN];
static pthread_t mutex_threads[N_MUTEX];

/* Each thread blocks in a function of its own, which the dump must name. */
static __attribute__((noinline)) void *
mutex_waiter(void *arg)
{
    blocker_here((struct blocker *)arg, "mutex waiter");
    CHECK_OK(pthread_mutex_lock(&held));
    CHECK_OK(pthread_mutex_unlock(&held));
    return arg;
}

static __attribute__((noinline)) void *
cond_waiter(void *arg)
{
    CHECK_OK(pthread_mutex_lock(&cond_mu));
    blocker_here((struct blocker *)arg, "cond waiter");
    CHECK_OK(pthread_cond_wait(&never, &cond_mu));
    CHECK_OK(pthread_mutex_unlock(&cond_mu));
    return arg;
}

static __attribute__((noinline)) void *
socket_reader(void *arg)
{
    char c;
    blocker_here((struct blocker *)arg, "socket reader");
    CHECK_EQ(read(tcp_fd, &c, 1), 1);
    return arg;
}

static __attribute__((noinline)) void *
sleeper(void *arg)
{
    blocker_here((struct blocker *)arg, "sleeper");
    CHECK_EQ(sleep(3600), 0);
    return arg;
}

static __attribute__((noinline)) void *
joiner(void *arg)
{
    struct blocker *b = (struct blocker *)arg;
    blocker_here(b, "joiner");
    CHECK_OK(pthread_join(mutex_threads[b - &blk[N_MUTEX + N_COND + N_READ + N_SLEEP]], NULL));
    return arg;
}

static __attribute__((noinline)) void *
waitpid_caller(void *arg)
{
    struct blocker *b = (struct blocker *)arg;
    blocker_here(b, "waitpid caller");
    CHECK(waitpid(kids[b - &blk[N_ALL - N_SPIN - N_WAITPID]], NULL, 0) > 0);
    return arg;
}

static __attribute__((noinline)) void *
spinner(void *arg)
{
    __atomic_add_fetch(&spinning, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&stop_spin, __ATOMIC_RELAXED))
        ;
    return arg;
}

/* A connected loopback TCP pair; returns the accepted end, *peer the connecting one. */
static int
tcp_pair(int *peer)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0), s;

    CHECK(l >= 0 && c >= 0);
    CHECK_OK(bind(l, (struct sockaddr *)&a, sizeof a));
    CHECK_OK(listen(l, 1));
    CHECK_OK(getsockname(l, (struct sockaddr *)&a, &len));
    CHECK_OK(connect(c, (struct sockaddr *)&a, sizeof a));
    s = accept(l, NULL, NULL);
    CHECK(s >= 0);
    close(l);
    *peer = c;
    return s;
}

static pthread_t
start_small(void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    pthread_t t;

    green_flood_guard();
    CHECK_OK(pthread_attr_init(&attr));
    CHECK_OK(pthread_attr_setstacksize(&attr, 64 * 1024));
    CHECK_OK(pthread_create(&t, &attr, fn, arg));
    CHECK_OK(pthread_attr_destroy(&attr));
    return t;
}

/* Every thread in its state. */
static void
set_up(void)
{
    int peer, i = 0;

    /* The waited-for processes first, while this one has a single thread: each pauses until
     * the thread that forked it (this main thread) is gone, which kills it. */
    for (int k = 0; k < N_WAITPID; k++) {
        kids[k] = fork();
        CHECK(kids[k] >= 0);
        if (kids[k] == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            for (;;)
                pause();
        }
    }
    tcp_fd = tcp_pair(&peer);

    CHECK_OK(pthread_mutex_lock(&held));
    for (int k = 0; k < N_MUTEX; k++, i++)
        mutex_threads[k] = start_small(mutex_waiter, &blk[i]);
    for (int k = 0; k < N_COND; k++, i++)
        start_small(cond_waiter, &blk[i]);
    for (int k = 0; k < N_READ; k++, i++)
        start_small(socket_reader, &blk[i]);
    for (int k = 0; k < N_SLEEP; k++, i++)
        start_small(sleeper, &blk[i]);
    for (int k = 0; k < N_JOIN; k++, i++)
        start_small(joiner, &blk[i]);
    for (int k = 0; k < N_WAITPID; k++, i++)
        start_small(waitpid_caller, &blk[i]);

    i = 0;
    for (int k = 0; k < N_MUTEX; k++)
        wait_blocked(&blk[i++], SYS_futex, "mutex");
    for (int k = 0; k < N_COND; k++)
        wait_blocked(&blk[i++], SYS_futex, "cond");
    for (int k = 0; k < N_READ; k++)
        wait_blocked(&blk[i++], SYS_read, "IO read");
    for (int k = 0; k < N_SLEEP; k++)
        wait_blocked(&blk[i++], SYS_clock_nanosleep, "sleep");
    for (int k = 0; k < N_JOIN; k++)
        wait_blocked(&blk[i++], SYS_futex, "join");
    for (int k = 0; k < N_WAITPID; k++)
        wait_blocked(&blk[i++], SYS_wait4, NULL);

    for (int k = 0; k < N_SPIN; k++)
        start_small(spinner, NULL);
    WAIT_FOR(__atomic_load_n(&spinning, __ATOMIC_ACQUIRE) == N_SPIN, 10);
}

static __attribute__((noinline)) void
dump_from_here(void)
{
    int (*dump)(int) = (int (*)(int))dlsym(RTLD_DEFAULT, "greenrun_dump");

    if (dump != NULL)
        CHECK_OK(dump(2));
    fprintf(stderr, "child: still running after the dumps\n");
}

static int quit_handled; /* __atomic */

static void
on_quit(int sig)
{
    (void)sig;
    __atomic_add_fetch(&quit_handled, 1, __ATOMIC_RELAXED);
}

/* A handler of the program, or SIG_IGN, takes SIGQUIT's place: no dump (the parent counts
 * them); back at SIG_DFL, sigaction reads back what the program set. Natively the same. */
static void
quit_dispositions(void)
{
    struct sigaction sa, old;

    CHECK(signal(SIGQUIT, on_quit) == SIG_DFL);
    CHECK_OK(kill(getpid(), SIGQUIT));
    WAIT_FOR(__atomic_load_n(&quit_handled, __ATOMIC_RELAXED) == 1, 10);
    CHECK(signal(SIGQUIT, SIG_IGN) == on_quit);
    CHECK_OK(kill(getpid(), SIGQUIT));
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    CHECK_OK(sigaction(SIGQUIT, &sa, &old));
    CHECK(old.sa_handler == SIG_IGN);
    CHECK_EQ(__atomic_load_n(&quit_handled, __ATOMIC_RELAXED), 1);
}

static void
child(bool exit_mode)
{
    struct sigaction sa;
    char go;

    quit_dispositions();
    set_up();
    /* The runtime's handler stands in for the default; the program sees the default. */
    CHECK_OK(sigaction(SIGQUIT, NULL, &sa));
    CHECK(sa.sa_handler == SIG_DFL);
    if (test_green())
        CHECK_OK(kill(getpid(), SIGQUIT));
    if (exit_mode) {
        for (;;)
            pause(); /* the dump ends the process */
    }
    CHECK_EQ(read(0, &go, 1), 1); /* the parent has read the dump */
    dump_from_here();
    __atomic_store_n(&stop_spin, 1, __ATOMIC_RELAXED);
    _exit(0); /* the blocked threads go with the process */
}

static size_t
count(const char *text, const char *what)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, what)) != NULL; p += strlen(what))
        n++;
    return n;
}

static void
expect_at_least(const char *text, const char *what, size_t n)
{
    size_t got = count(text, what);
    if (got < n) {
        char v[256];
        snprintf(v, sizeof v, "\"%s\" appears %zu times in the dump, expected at least %zu", what,
                 got, n);
        check_fail(__FILE__, __LINE__, "expect_at_least", v);
    }
}

/* Run "argv0 mode" with stderr on a pipe, stdin on another; read its stderr into out until
 * EOF, writing the go byte once the first dump has ended (not to the exit-mode child, which
 * never reads it and may be gone by then). Returns the exit status. */
static int
run_child(const char *argv0, const char *mode, const char *quit, char *out, size_t size)
{
    int errp[2], inp[2], status = 0;
    size_t len = 0;
    bool sent = quit != NULL;
    ssize_t r;

    CHECK_OK(pipe(errp));
    CHECK_OK(pipe(inp));
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        /* The pipes may have got descriptor 0 or 2 themselves when those were closed. */
        close(errp[0]);
        close(inp[1]);
        if (errp[1] != 2) {
            dup2(errp[1], 2);
            close(errp[1]);
        }
        if (inp[0] != 0) {
            dup2(inp[0], 0);
            close(inp[0]);
        }
        if (quit != NULL)
            setenv("GREENRUN_QUIT", quit, 1);
        char *args[] = { (char *)argv0, (char *)mode, NULL };
        execv("/proc/self/exe", args);
        _exit(127);
    }
    close(errp[1]);
    close(inp[0]);
    /* Natively there is no dump to wait for: the child reads the byte once it is set up. */
    if (!test_green()) {
        CHECK_EQ(write(inp[1], "g", 1), 1);
        sent = true;
    }
    while (len < size - 1 && (r = read(errp[0], out + len, size - 1 - len)) != 0) {
        if (r < 0) {
            CHECK(errno == EINTR);
            continue;
        }
        len += (size_t)r;
        out[len] = '\0';
        if (!sent && strstr(out, "greenrun: end of thread dump\n") != NULL) {
            CHECK_EQ(write(inp[1], "g", 1), 1);
            sent = true;
        }
    }
    out[len] = '\0';
    close(errp[0]);
    close(inp[1]);
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    /* The whole dump is long: show its head and its tail. */
    fprintf(stderr, "--- child (%s) stderr, %zu bytes ---\n%.3000s\n[...]\n%s--- end ---\n", mode,
            len, out, len > 2000 ? out + len - 2000 : out);
    return status;
}

int
main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "child") == 0)
        child(false);
    if (argc > 1 && strcmp(argv[1], "exitchild") == 0)
        child(true);

    char *out = malloc(OUT_MAX);
    CHECK(out != NULL);
    int status = run_child(argv[0], "child", NULL, out, OUT_MAX);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);
    CHECK(strstr(out, "child: still running after the dumps") != NULL);
    if (!test_green()) {
        CHECK(strstr(out, "thread dump") == NULL);
        printf("thread_dump: native: set up, no dump, exit 0\n");
        return 0;
    }

    /* The SIGQUIT dump, then greenrun_dump's. */
    CHECK_EQ(count(out, "greenrun: end of thread dump\n"), 2);
    char *second =
        strstr(strstr(out, "greenrun: end of thread dump\n") + 1, "greenrun: thread dump");
    CHECK(second != NULL);
    second[-1] = '\0'; /* out is the first dump alone now */

    expect_at_least(out, "\nthread ", N_ALL + 1);
    expect_at_least(out, "[waiting: mutex, ", N_MUTEX);
    expect_at_least(out, "[waiting: cond, ", N_COND);
    expect_at_least(out, "[waiting: IO read on fd ", N_READ);
    expect_at_least(out, " (socket 127.0.0.1:", N_READ);
    expect_at_least(out, " <- 127.0.0.1:", N_READ);
    expect_at_least(out, "[waiting: sleep, ", N_SLEEP);
    expect_at_least(out, "[waiting: join, ", N_JOIN);
    expect_at_least(out, "[syscall: wait4, ", N_WAITPID);
    CHECK(count(out, "[running, ") + count(out, "[runnable, ") >= N_SPIN);
    /* Each blocked thread's backtrace names the function of this program it blocks in. */
    expect_at_least(out, "\tmutex_waiter+0x", N_MUTEX);
    expect_at_least(out, "\tcond_waiter+0x", N_COND);
    expect_at_least(out, "\tsocket_reader+0x", N_READ);
    expect_at_least(out, "\tsleeper+0x", N_SLEEP);
    expect_at_least(out, "\tjoiner+0x", N_JOIN);
    expect_at_least(out, "\twaitpid_caller+0x", N_WAITPID);
    /* greenrun_dump on the main thread: its own frames, down to main. */
    CHECK(strstr(second, "\tdump_from_here+0x") != NULL);
    CHECK(strstr(second, "\tmain+0x") != NULL);

    /* GREENRUN_QUIT=exit: the dump, then status 2. */
    status = run_child(argv[0], "exitchild", "exit", out, OUT_MAX);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 2);
    CHECK_EQ(count(out, "greenrun: end of thread dump\n"), 1);
    expect_at_least(out, "\tmutex_waiter+0x", N_MUTEX);
    printf("thread_dump: green: %zu threads dumped with reasons and frames\n",
           count(out, "\nthread "));
    free(out);
    return 0;
}
