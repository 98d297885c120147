/* tests/once_parks.c
 * Behaviour: pthread_once runs its init routine exactly once even when the routine parks (it
 * sleeps and waits on a condition variable signalled by another thread) while 50 other threads
 * call pthread_once on the same control (the helper lets init finish only once all 50 are
 * blocked); every caller returns only after init finished; an init routine that is cancelled
 * while it sleeps leaves the control for the next caller to run it. The
 * runner also runs it with GREENRUN_PROCS=1, where a caller that blocks its OS thread would hang.
 */
#include "check.h"

#include <stdatomic.h>
#include <sys/syscall.h>

#define CALLERS 50

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int in_init;
static int arrived;
static int helper_done;
static atomic_int init_calls;
static atomic_int init_finished;
static atomic_int saw_unfinished;
static struct blocker callers_blocked[CALLERS];

static void
init_routine(void)
{
    atomic_fetch_add(&init_calls, 1);
    CHECK_OK(pthread_mutex_lock(&mu));
    in_init = 1;
    CHECK_OK(pthread_cond_broadcast(&cond));
    CHECK_OK(pthread_mutex_unlock(&mu));
    /* Park twice: a sleep, then a wait for the helper, who waits for every caller to arrive. */
    sleep_ns(100000000);
    CHECK_OK(pthread_mutex_lock(&mu));
    while (!helper_done)
        CHECK_OK(pthread_cond_wait(&cond, &mu));
    CHECK_OK(pthread_mutex_unlock(&mu));
    atomic_store(&init_finished, 1);
}

static void *
caller(void *arg)
{
    CHECK_OK(pthread_mutex_lock(&mu));
    arrived++;
    CHECK_OK(pthread_cond_broadcast(&cond));
    CHECK_OK(pthread_mutex_unlock(&mu));
    blocker_here(arg, "a pthread_once caller");
    CHECK_OK(pthread_once(&once, init_routine));
    if (!atomic_load(&init_finished))
        atomic_fetch_add(&saw_unfinished, 1);
    /* A second call returns at once. */
    CHECK_OK(pthread_once(&once, init_routine));
    return NULL;
}

static void *
helper(void *arg)
{
    (void)arg;
    CHECK_OK(pthread_mutex_lock(&mu));
    while (!in_init || arrived < CALLERS)
        CHECK_OK(pthread_cond_wait(&cond, &mu));
    CHECK_OK(pthread_mutex_unlock(&mu));
    /* Every caller is blocked: one in the init routine (its condition wait, after its sleep),
     * the others in pthread_once waiting for it. */
    for (int i = 0; i < CALLERS; i++)
        wait_blocked(&callers_blocked[i], SYS_futex, NULL);
    CHECK_OK(pthread_mutex_lock(&mu));
    helper_done = 1;
    CHECK_OK(pthread_cond_broadcast(&cond));
    CHECK_OK(pthread_mutex_unlock(&mu));
    return NULL;
}

/* A second control used by many threads at once with a trivial routine. */
static pthread_once_t quick_once = PTHREAD_ONCE_INIT;
static atomic_int quick_calls;

static void
quick_init(void)
{
    atomic_fetch_add(&quick_calls, 1);
}

static void *
quick_caller(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++)
        CHECK_OK(pthread_once(&quick_once, quick_init));
    return NULL;
}

/* An init routine cancelled while it waits: the control resets and the next caller runs it. */
static pthread_once_t cancel_once = PTHREAD_ONCE_INIT;
static atomic_int cancel_init_calls;
static struct blocker cancel_blocked;

static void
cancellable_init(void)
{
    if (atomic_fetch_add(&cancel_init_calls, 1) == 0) {
        blocker_here(&cancel_blocked, "the cancelled init routine");
        for (;;)
            sleep(30); /* a cancellation point, forever */
    }
}

static void *
cancel_once_caller(void *arg)
{
    (void)arg;
    CHECK_OK(pthread_once(&cancel_once, cancellable_init));
    return NULL;
}

int
main(void)
{
    pthread_t h = spawn(helper, NULL);
    pthread_t t[CALLERS];
    for (int i = 0; i < CALLERS; i++)
        t[i] = spawn(caller, &callers_blocked[i]);
    for (int i = 0; i < CALLERS; i++)
        join_within(t[i], 20);
    join_within(h, 10);
    CHECK_EQ(atomic_load(&init_calls), 1);
    CHECK_EQ(atomic_load(&saw_unfinished), 0);
    CHECK_EQ(arrived, CALLERS);
    CHECK_OK(pthread_once(&once, init_routine));
    CHECK_EQ(atomic_load(&init_calls), 1);

    for (int i = 0; i < CALLERS; i++)
        t[i] = spawn(quick_caller, NULL);
    for (int i = 0; i < CALLERS; i++)
        join_within(t[i], 20);
    CHECK_EQ(atomic_load(&quick_calls), 1);

    pthread_t first = spawn(cancel_once_caller, NULL);
    wait_blocked(&cancel_blocked, SYS_clock_nanosleep, NULL);
    CHECK_OK(pthread_cancel(first));
    CHECK(join_within(first, 10) == PTHREAD_CANCELED);
    CHECK(join_within(spawn(cancel_once_caller, NULL), 10) == NULL);
    CHECK_EQ(atomic_load(&cancel_init_calls), 2);
    return 0;
}
