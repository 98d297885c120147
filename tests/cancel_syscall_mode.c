/* tests/cancel_syscall_mode.c
 * Behaviour: cancellation acts inside glibc's blocking cancellation points that may sleep in
 * the kernel for long (waitpid, open of a FIFO without a writer): a thread blocked there is
 * cancelled at once, deferred or asynchronous, and one that enters such a call with a
 * cancellation pending acts on it there; its cleanup handlers run (one of them waits for a
 * mutex) and the joiner gets PTHREAD_CANCELED. The process then carries on normally (more
 * threads, more such calls).
 */
#include "check.h"

#include <signal.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static atomic_int cleanups;
static struct blocker target;
static pid_t child;
static char fifo[64];

static void
count_cleanup(void *arg)
{
    (void)arg;
    atomic_fetch_add(&cleanups, 1);
}

enum { IN_WAITPID, IN_OPEN };

static void
blocking_call(int what)
{
    if (what == IN_WAITPID) {
        int st;
        waitpid(child, &st, 0);
    } else {
        int fd = open(fifo, O_RDONLY);
        if (fd >= 0)
            close(fd);
    }
}

/* Blocks in the call; async selects asynchronous cancellation. */
static void *
blocks(void *arg)
{
    int what = (int)(long)arg & 1, async = ((long)arg >> 1) & 1, old;
    pthread_cleanup_push(count_cleanup, NULL);
    if (async)
        CHECK_OK(pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &old));
    blocker_here(&target, what == IN_WAITPID ? "waitpid" : "open");
    blocking_call(what);
    pthread_cleanup_pop(0);
    return NULL;
}

/* Enters the call with a cancellation already pending; its cleanup handler then waits for a
 * mutex that main holds. */
static atomic_int disabled;
static atomic_int cancel_sent;
static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;

static void
lock_held(void *arg)
{
    (void)arg;
    blocker_here(&target, "the cleanup handler");
    CHECK_OK(pthread_mutex_lock(&held));
    CHECK_OK(pthread_mutex_unlock(&held));
}

static void *
enters_cancelled(void *arg)
{
    int what = (int)(long)arg, old;
    pthread_cleanup_push(count_cleanup, NULL);
    pthread_cleanup_push(lock_held, NULL);
    CHECK_OK(pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old));
    atomic_store(&disabled, 1);
    WAIT_FOR(atomic_load(&cancel_sent), 10);
    CHECK_OK(pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old));
    blocking_call(what);
    pthread_cleanup_pop(0);
    pthread_cleanup_pop(0);
    return NULL;
}

static void
check_cancelled(pthread_t t, int before, const char *what)
{
    CHECK(join_within(t, 10) == PTHREAD_CANCELED);
    CHECK_EQ(atomic_load(&cleanups), before + 1);
    fprintf(stderr, "cancelled %s\n", what);
}

int
main(void)
{
    snprintf(fifo, sizeof fifo, "/tmp/cancel_syscall_mode.%d", (int)getpid());
    CHECK_OK(mkfifo(fifo, 0600));
    child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        /* Gone with the test, even when it fails. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1)
            _exit(0);
        for (;;)
            pause();
    }

    for (int round = 0; round < 2; round++) {
        for (int what = IN_WAITPID; what <= IN_OPEN; what++) {
            const char *name = what == IN_WAITPID ? "waitpid" : "open of a FIFO";
            long nr = what == IN_WAITPID ? SYS_wait4 : SYS_openat;
            for (int async = 0; async <= 1; async++) {
                int before = atomic_load(&cleanups);
                blocker_clear(&target);
                pthread_t t = spawn(blocks, (void *)(long)(what | async << 1));
                wait_blocked(&target, nr, NULL);
                CHECK_OK(pthread_cancel(t));
                check_cancelled(t, before, async ? "(async) blocked in" : "blocked in");
                if (round == 0)
                    fprintf(stderr, "  %s\n", name);
            }
            int before = atomic_load(&cleanups);
            atomic_store(&disabled, 0);
            atomic_store(&cancel_sent, 0);
            CHECK_OK(pthread_mutex_lock(&held));
            blocker_clear(&target);
            pthread_t t = spawn(enters_cancelled, (void *)(long)what);
            WAIT_FOR(atomic_load(&disabled), 10);
            CHECK_OK(pthread_cancel(t));
            atomic_store(&cancel_sent, 1);
            wait_blocked(&target, SYS_futex, NULL);
            CHECK_OK(pthread_mutex_unlock(&held));
            check_cancelled(t, before, "on entry to");
            if (round == 0)
                fprintf(stderr, "  %s\n", name);
        }
    }

    CHECK_OK(kill(child, SIGKILL));
    int st;
    CHECK_EQ(waitpid(child, &st, 0), child);
    CHECK(WIFSIGNALED(st));
    CHECK_OK(unlink(fifo));
    return 0;
}
