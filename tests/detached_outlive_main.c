/* tests/detached_outlive_main.c
 * Behaviour: when main calls pthread_exit, detached threads keep running and finish their work
 * (including creating and joining a thread of their own); the process then exits with status 0
 * and runs its atexit handlers, which check that all the work was done.
 */
#include "check.h"

#include <stdatomic.h>

#define THREADS 8
#define STEPS   20

static int go_pipe[2];
static atomic_int work_done;
static atomic_int threads_left = THREADS;
static atomic_int main_exited;
static atomic_int started_after_main;

static void
check_at_exit(void)
{
    /* Runs when the last thread exits: everything must have happened by now. */
    CHECK_EQ(atomic_load(&main_exited), 1);
    CHECK_EQ(atomic_load(&work_done), THREADS * STEPS);
    CHECK_EQ(atomic_load(&threads_left), 0);
    CHECK_EQ(atomic_load(&started_after_main), 1);
    printf("detached_outlive_main: all %d threads finished after main exited\n", THREADS);
    fflush(stdout);
}

static void *
grandchild(void *arg)
{
    (void)arg;
    atomic_store(&started_after_main, atomic_load(&main_exited));
    return (void *)3;
}

static void *
worker(void *arg)
{
    long id = (long)arg;
    /* Wait for main's cleanup handler, which runs inside its pthread_exit. */
    char c;
    CHECK_EQ(read(go_pipe[0], &c, 1), 1);
    CHECK_EQ(atomic_load(&main_exited), 1);
    for (int i = 0; i < STEPS; i++) {
        sleep_ns(2000000);
        atomic_fetch_add(&work_done, 1);
    }
    if (id == 0)
        CHECK_EQ((long)join_within(spawn(grandchild, NULL), 10), 3);
    if (atomic_fetch_sub(&threads_left, 1) == 1) {
        /* The last one: the others' work is all done. */
        fprintf(stderr, "last detached thread: work %d of %d\n", atomic_load(&work_done),
                THREADS * STEPS);
    }
    return NULL;
}

static void
release_workers(void *arg)
{
    (void)arg;
    atomic_store(&main_exited, 1);
    char go[THREADS];
    memset(go, 'g', sizeof go);
    CHECK_EQ(write(go_pipe[1], go, sizeof go), THREADS);
}

int
main(void)
{
    CHECK_OK(atexit(check_at_exit));
    CHECK_OK(pipe(go_pipe));
    pthread_attr_t a;
    CHECK_OK(pthread_attr_init(&a));
    CHECK_OK(pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED));
    for (long i = 0; i < THREADS; i++) {
        pthread_t t;
        CHECK_OK(pthread_create(&t, &a, worker, (void *)i));
    }
    CHECK_OK(pthread_attr_destroy(&a));
    pthread_cleanup_push(release_workers, NULL);
    pthread_exit(NULL);
    pthread_cleanup_pop(0);
    return 1; /* not reached */
}
