/* tests/unhooked_stuck_many.c
 * Behaviour: threads blocked in a call no hook sees do not strand the threads queued behind
 * them, however many block at once. One thread holds a FILE's lock (flockfile) while it waits
 * for a byte on a pipe; 12 threads, created in a burst so that they queue behind each other,
 * call flockfile on that FILE and sleep in glibc's lock, each holding its OS thread (and
 * under greenrun, at first, its processor): more of them than GREENRUN_PROCS and its spare
 * processors together. A ticker keeps ticking every millisecond all the while, main writes
 * the byte, and every thread then gets the lock in turn and is joined.
 */
#include "check.h"

#define STUCK 12

static FILE *shared_file;
static int pipefd[2];
static int arrived;  /* __atomic: threads about to call flockfile */
static int got_lock; /* __atomic: threads that had the lock */
static struct blocker holder_blocked;

static void *
holder(void *arg)
{
    (void)arg;
    char c;
    flockfile(shared_file);
    blocker_here(&holder_blocked, "the lock holder");
    CHECK_EQ(read(pipefd[0], &c, 1), 1);
    funlockfile(shared_file);
    return NULL;
}

static void *
locker(void *arg)
{
    (void)arg;
    __atomic_fetch_add(&arrived, 1, __ATOMIC_SEQ_CST);
    flockfile(shared_file);
    __atomic_fetch_add(&got_lock, 1, __ATOMIC_SEQ_CST);
    funlockfile(shared_file);
    return NULL;
}

int
main(void)
{
    shared_file = fopen("/dev/null", "w");
    CHECK(shared_file != NULL);
    CHECK_OK(pipe(pipefd));
    ticker_start();

    pthread_t h = spawn(holder, NULL);
    wait_blocked(&holder_blocked, -1, NULL);

    pthread_t t[STUCK];
    for (int i = 0; i < STUCK; i++)
        t[i] = spawn(locker, NULL);
    WAIT_FOR(__atomic_load_n(&arrived, __ATOMIC_SEQ_CST) == STUCK, 30);

    /* Every locker is in flockfile or about to be; the ticker must not notice. */
    struct tick_window w = tick_window_open();
    sleep_ns(TICK_WINDOW_NS * 2);
    check_ticked(tick_window_since(w), "12 threads asleep in glibc's stdio lock");
    CHECK_EQ(__atomic_load_n(&got_lock, __ATOMIC_SEQ_CST), 0);

    CHECK_EQ(write(pipefd[1], "x", 1), 1);
    join_within(h, 30);
    for (int i = 0; i < STUCK; i++)
        join_within(t[i], 30);
    CHECK_EQ(__atomic_load_n(&got_lock, __ATOMIC_SEQ_CST), STUCK);
    ticker_stop();
    fclose(shared_file);
    puts("ok");
    return 0;
}
