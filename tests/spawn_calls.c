/* tests/spawn_calls.c
 * Behaviour: every way of creating a process works from a thread of a threaded program whose
 * other threads are blocked in reads, and the blocking ones do not stall the rest:
 * _Fork (no atfork handlers run; the child still creates threads and does pipe I/O);
 * vfork whose child calls dup2 and close before exec (the close of a descriptor a parent
 * thread is blocked on must not touch the parent: that thread later reads its data);
 * posix_spawn with dup2 file actions, the exec'd child reading an inherited blocking pipe;
 * posix_spawnp; system() running 300 ms (its shell waits for a line from a FIFO) while, with
 * GREENRUN_PROCS=1, another thread keeps ticking every millisecond; open() of a FIFO waiting
 * 300 ms for its writer, likewise. The 300 ms count from the moment the main thread is seen
 * blocked in the call.
 * popen and pclose read a child's output and its status.
 * forkpty and daemon fork without the PLT: their children still create threads and do I/O.
 * posix_spawn has two ABIs: a program linked against the old one (glibc 2.2.5) still gets a
 * file without "#!" run by /bin/sh, and the current one still reports ENOEXEC.
 */
#include "check.h"

#include <pty.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

extern char **environ;

/* The glibc 2.2.5 posix_spawn, as a binary linked before glibc 2.15 references it. */
int posix_spawn_2_2_5(pid_t *, const char *, const posix_spawn_file_actions_t *,
                      const posix_spawnattr_t *, char *const[], char *const[]);
__asm__(".symver posix_spawn_2_2_5, posix_spawn@GLIBC_2.2.5");

/* ---- Readers blocked in the parent while processes come and go. */

#define READERS 64

struct reader {
    int fd[2];
    pthread_t t;
    char got;
    struct blocker blocked;
};

static struct reader readers[READERS];

static void *
reader_main(void *arg)
{
    struct reader *r = arg;
    blocker_here(&r->blocked, "a parent's reader");
    CHECK_EQ(read(r->fd[0], &r->got, 1), 1);
    return NULL;
}

static void
exchange(int n)
{
    /* The child's threads: a ping-pong over two pipes. */
    int a[2], b[2];
    CHECK_OK(pipe(a));
    CHECK_OK(pipe(b));
    for (int i = 0; i < n; i++) {
        char c = (char)i;
        CHECK_EQ(write(a[1], &c, 1), 1);
        CHECK_EQ(read(a[0], &c, 1), 1);
        CHECK_EQ(c, (char)i);
        CHECK_EQ(write(b[1], &c, 1), 1);
        CHECK_EQ(read(b[0], &c, 1), 1);
    }
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
}

static void *
child_worker(void *arg)
{
    exchange((int)(long)arg);
    return (void *)1;
}

/* ---- _Fork. */

static void *
do_fork_child(void *arg)
{
    (void)arg;
    pid_t pid = _Fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        pthread_t t[16];
        for (int i = 0; i < 16; i++)
            if (pthread_create(&t[i], NULL, child_worker, (void *)100L) != 0)
                _exit(2);
        for (int i = 0; i < 16; i++) {
            void *ret = NULL;
            if (pthread_join(t[i], &ret) != 0 || ret != (void *)1)
                _exit(3);
        }
        _exit(11);
    }
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 11);
    return NULL;
}

/* ---- vfork: dup2 and close in the child, then exec. */

static void *
do_vfork(void *arg)
{
    (void)arg;
    int out[2];
    CHECK_OK(pipe(out));
    int victim = readers[0].fd[0];
    pid_t pid = vfork();
    if (pid == 0) {
        /* Only the child's descriptor table changes; the parent's reader stays blocked. */
        if (dup2(out[1], 1) != 1)
            _exit(20);
        close(out[0]);
        close(out[1]);
        close(victim);
        execl("/bin/sh", "sh", "-c", "echo vforked", (char *)NULL);
        _exit(21);
    }
    CHECK(pid > 0);
    close(out[1]);
    char buf[32] = { 0 };
    ssize_t n, len = 0;
    while ((n = read(out[0], buf + len, sizeof buf - 1 - (size_t)len)) > 0)
        len += n;
    CHECK_EQ(n, 0);
    CHECK(strcmp(buf, "vforked\n") == 0);
    close(out[0]);
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return NULL;
}

/* ---- posix_spawn: the exec'd shell reads an inherited pipe, blocking, to EOF. */

static void *
do_spawn(void *arg)
{
    (void)arg;
    int in[2], out[2];
    CHECK_OK(pipe(in));
    CHECK_OK(pipe(out));
    posix_spawn_file_actions_t fa;
    CHECK_OK(posix_spawn_file_actions_init(&fa));
    CHECK_OK(posix_spawn_file_actions_adddup2(&fa, in[0], 0));
    CHECK_OK(posix_spawn_file_actions_adddup2(&fa, out[1], 1));
    CHECK_OK(posix_spawn_file_actions_addclose(&fa, in[1]));
    CHECK_OK(posix_spawn_file_actions_addclose(&fa, out[0]));
    char *argv[] = { (char *)"sh", (char *)"-c",
                     (char *)"n=0; while read x; do n=$((n+x)); done; echo $n", NULL };
    pid_t pid;
    CHECK_OK(posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ));
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    /* Written in pieces, each once the child sleeps waiting for it: its reads block in
     * between. (Under greenrun the child runs green too and sleeps in the runtime's wait.) */
    for (int i = 1; i <= 10; i++) {
        char line[16];
        int len = snprintf(line, sizeof line, "%d\n", i);
        wait_process_blocked(pid, test_green() ? -1 : SYS_read, "the spawned shell");
        CHECK_EQ(write(in[1], line, (size_t)len), len);
    }
    close(in[1]);
    char buf[32] = { 0 };
    ssize_t n, len = 0;
    while ((n = read(out[0], buf + len, sizeof buf - 1 - (size_t)len)) > 0)
        len += n;
    CHECK(strcmp(buf, "55\n") == 0);
    close(out[0]);
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* popen: glibc spawns the shell itself; pclose waits for it. */
    FILE *f = popen("echo popen ok; exit 3", "r");
    CHECK(f != NULL);
    char line[32] = { 0 };
    CHECK(fgets(line, sizeof line, f) != NULL);
    CHECK(strcmp(line, "popen ok\n") == 0);
    status = pclose(f);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 3);

    char *argv2[] = { (char *)"sh", (char *)"-c", (char *)"exit 4", NULL };
    CHECK_OK(posix_spawnp(&pid, "sh", NULL, NULL, argv2, environ));
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 4);
    return NULL;
}

/* ---- forkpty and daemon: children made by glibc's own fork. */

/* In a child: a few threads ping-pong over pipes; 1 when all went well. */
static int
child_threads_work(void)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        if (pthread_create(&t[i], NULL, child_worker, (void *)50L) != 0)
            return 0;
    for (int i = 0; i < 4; i++) {
        void *ret = NULL;
        if (pthread_join(t[i], &ret) != 0 || ret != (void *)1)
            return 0;
    }
    return 1;
}

static void *
do_forkpty(void *arg)
{
    (void)arg;
    int master;
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    CHECK(pid >= 0);
    if (pid == 0) {
        if (!child_threads_work())
            _exit(30);
        const char msg[] = "pty ok\n";
        if (write(1, msg, sizeof msg - 1) != (ssize_t)(sizeof msg - 1))
            _exit(31);
        _exit(0);
    }
    char buf[64] = { 0 };
    size_t len = 0;
    while (len < sizeof buf - 1 && strstr(buf, "pty ok") == NULL) {
        ssize_t n = read(master, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            break; /* EIO once the child side is gone */
        len += (size_t)n;
    }
    CHECK(strstr(buf, "pty ok") != NULL);
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(master);
    return NULL;
}

static void
check_daemon(void)
{
    int p[2];
    CHECK_OK(pipe(p));
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        if (daemon(1, 1) != 0)
            _exit(40);
        /* The daemon: a new session, its parent gone. */
        char verdict = child_threads_work() ? 'd' : 'x';
        if (write(p[1], &verdict, 1) != 1)
            _exit(41);
        _exit(0);
    }
    close(p[1]);
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid); /* daemon()'s parent exits 0 at once */
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char c = 0;
    CHECK_EQ(read(p[0], &c, 1), 1);
    CHECK_EQ(c, 'd');
    close(p[0]);
}

/* ---- Both ABIs of posix_spawn on a script without "#!". */

static void
spawn_abis(void)
{
    char path[] = "/tmp/greenrun-noshebang-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char script[] = "exit 6\n";
    CHECK_EQ(write(fd, script, sizeof script - 1), (ssize_t)(sizeof script - 1));
    CHECK_OK(fchmod(fd, 0700));
    close(fd);
    char *argv[] = { path, NULL };
    pid_t pid;
    int status = 0;
    CHECK_OK(posix_spawn_2_2_5(&pid, path, NULL, NULL, argv, environ));
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 6);
    CHECK_EQ(posix_spawn(&pid, path, NULL, NULL, argv, environ), ENOEXEC);
    CHECK_OK(unlink(path));
}

/* ---- Blocked 300 ms: in system(), and in open() of a FIFO, until a writer opens it. */

static char fifo_path[64];
static struct blocker main_blocked;

struct hold {
    long nr; /* the system call main sleeps in */
    const char *what;
};

/* Once main sleeps in the call, count the ticks over 300 ms, then open the FIFO for writing
 * (which ends the block) and write a line. */
static void *
late_fifo_writer(void *arg)
{
    struct hold *h = arg;
    wait_blocked(&main_blocked, h->nr, NULL);
    struct tick_window w = tick_window_open();
    sleep_ns(300000000);
    check_ticked(tick_window_since(w), h->what);
    int fd = open(fifo_path, O_WRONLY);
    CHECK(fd >= 0);
    CHECK_EQ(write(fd, "f\n", 2), 2);
    close(fd);
    return NULL;
}

static pthread_t
start_fifo_writer(struct hold *h)
{
    blocker_clear(&main_blocked);
    pthread_t t = spawn(late_fifo_writer, h);
    blocker_here(&main_blocked, "the main thread");
    return t;
}

int
main(void)
{
    ticker_start();
    for (int i = 0; i < READERS; i++) {
        CHECK_OK(pipe(readers[i].fd));
        readers[i].t = spawn(reader_main, &readers[i]);
    }
    for (int i = 0; i < READERS; i++)
        wait_blocked(&readers[i].blocked, SYS_read, "IO read");
    check_green_threads(READERS + 2);

    join_within(spawn(do_fork_child, NULL), 30);
    join_within(spawn(do_vfork, NULL), 30);
    /* Reader 0 is still blocked, untouched by the vfork child's close of its descriptor (a
     * reader woken by it would have failed its read). */
    wait_blocked(&readers[0].blocked, SYS_read, "IO read");
    join_within(spawn(do_spawn, NULL), 30);
    spawn_abis();
    join_within(spawn(do_forkpty, NULL), 30);
    check_daemon();

    char dir[] = "/tmp/greenrun-fifo-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    snprintf(fifo_path, sizeof fifo_path, "%s/f", dir);
    CHECK_OK(mkfifo(fifo_path, 0600));

    /* system(): the shell waits to read a line from the FIFO, 300 ms after main is seen
     * waiting for it. */
    struct hold sys_hold = { SYS_wait4, "system" };
    pthread_t w = start_fifo_writer(&sys_hold);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "read x < '%s'; [ \"$x\" = f ] && exit 5; exit 1", fifo_path);
    int status = system(cmd);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 5);
    join_within(w, 10);

    /* open() of a FIFO waits for its writer. */
    struct hold open_hold = { SYS_openat, "open(FIFO)" };
    w = start_fifo_writer(&open_hold);
    int fd = open(fifo_path, O_RDONLY);
    CHECK(fd >= 0);
    char c;
    CHECK_EQ(read(fd, &c, 1), 1);
    CHECK_EQ(c, 'f');
    close(fd);
    join_within(w, 10);
    CHECK_OK(unlink(fifo_path));
    CHECK_OK(rmdir(dir));

    /* The readers were never disturbed: each gets its own byte now (reader 0's descriptor
     * was closed only in the vfork child). */
    for (int i = 0; i < READERS; i++) {
        char b = (char)('a' + i % 26);
        CHECK_EQ(write(readers[i].fd[1], &b, 1), 1);
    }
    for (int i = 0; i < READERS; i++) {
        join_within(readers[i].t, 10);
        CHECK_EQ(readers[i].got, (char)('a' + i % 26));
        close(readers[i].fd[0]);
        close(readers[i].fd[1]);
    }
    ticker_stop();
    return 0;
}
