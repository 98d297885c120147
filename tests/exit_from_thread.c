/* tests/exit_from_thread.c
 * Behaviour: exit(3) called by a non-main thread ends the whole process with status 3 while main
 * is blocked in pthread_join of a thread that never ends; the atexit handlers run, in the thread
 * that called exit. (tests/exit_from_thread.conf sets EXPECT_RC=3.)
 */
#include "check.h"

#include <sys/syscall.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static pthread_t exiter_id;
static struct blocker main_blocked;

static void
at_exit_handler(void)
{
    /* It runs in the exiting thread. */
    CHECK(pthread_equal(pthread_self(), exiter_id));
    printf("exit_from_thread: atexit handler ran in the exiting thread\n");
    fflush(stdout);
}

static void *
forever(void *arg)
{
    (void)arg;
    CHECK_OK(pthread_mutex_lock(&mu));
    for (;;)
        CHECK_OK(pthread_cond_wait(&cond, &mu));
    return NULL;
}

static void *
exiter(void *arg)
{
    (void)arg;
    /* Main has recorded our id (before announcing itself) and blocks in pthread_join. */
    wait_blocked(&main_blocked, SYS_futex, NULL);
    exit(3);
}

int
main(void)
{
    CHECK_OK(atexit(at_exit_handler));
    pthread_t never = spawn(forever, NULL);
    exiter_id = spawn(exiter, NULL);
    blocker_here(&main_blocked, "the main thread");
    pthread_join(never, NULL);
    CHECK(!"pthread_join of a never-ending thread returned");
    return 1;
}
