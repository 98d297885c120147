/* tests/join_detach_errors.c
 * Behaviour: the error numbers of pthread functions given a thread that is gone or detached,
 * as glibc 2.36 returns them. A handle whose thread was joined is stale (glibc marks its
 * descriptor with tid -1): pthread_join, the timed joins and pthread_detach say ESRCH,
 * pthread_tryjoin_np EBUSY, pthread_kill and pthread_cancel 0, pthread_sigqueue, the scheduling,
 * affinity, CPU clock and attribute queries ESRCH, the name functions ENOENT. A detached thread
 * cannot be joined (EINVAL) nor detached again (EINVAL); pthread_tryjoin_np says EBUSY while it
 * runs and EINVAL once it has exited. pthread_kill and pthread_sigqueue refuse glibc's internal
 * signals (32, 33) and numbers above 64 with EINVAL, and pthread_sigqueue accepts signal 0.
 *
 * The stale handle is used right after the join, with no thread created in between: glibc
 * keeps the descriptor in its stack cache, so the calls read it rather than unmapped memory.
 */
#include "check.h"

#include <semaphore.h>
#include <signal.h>

static void *
returns_arg(void *arg)
{
    return arg;
}

static sem_t release;

static void *
waits_for_release(void *arg)
{
    CHECK_OK(sem_wait(&release));
    return arg;
}

static struct blocker target;

static void *
announces_then_returns(void *arg)
{
    blocker_here(&target, "the detached thread");
    return arg;
}

static void
check_after_join(void)
{
    pthread_t t = spawn(returns_arg, (void *)7);
    void *ret = NULL;
    CHECK_OK(pthread_join(t, &ret));
    CHECK_EQ((long)ret, 7);

    struct timespec rt = deadline_in(CLOCK_REALTIME, 1000000000LL);
    struct timespec mono = deadline_in(CLOCK_MONOTONIC, 1000000000LL);
    struct sched_param sp = { 0 };
    int policy = -1;
    clockid_t clock;
    cpu_set_t cpus;
    char name[32];
    pthread_attr_t attr;

    CHECK_ERR(pthread_join(t, &ret), ESRCH);
    CHECK_ERR(pthread_tryjoin_np(t, &ret), EBUSY);
    CHECK_ERR(pthread_timedjoin_np(t, &ret, &rt), ESRCH);
    CHECK_ERR(pthread_clockjoin_np(t, &ret, CLOCK_MONOTONIC, &mono), ESRCH);
    CHECK_ERR(pthread_detach(t), ESRCH);
    CHECK_ERR(pthread_kill(t, 0), 0);
    CHECK_ERR(pthread_sigqueue(t, 0, (union sigval){ 0 }), ESRCH);
    CHECK_ERR(pthread_sigqueue(t, SIGUSR1, (union sigval){ 0 }), ESRCH);
    CHECK_ERR(pthread_cancel(t), 0);
    CHECK_ERR(pthread_getschedparam(t, &policy, &sp), ESRCH);
    CHECK_ERR(pthread_setschedparam(t, SCHED_OTHER, &sp), ESRCH);
    CHECK_ERR(pthread_setschedprio(t, 0), ESRCH);
    CHECK_ERR(pthread_getcpuclockid(t, &clock), ESRCH);
    CHECK_OK(sched_getaffinity(0, sizeof cpus, &cpus));
    CHECK_ERR(pthread_getaffinity_np(t, sizeof cpus, &cpus), ESRCH);
    CHECK_ERR(pthread_setaffinity_np(t, sizeof cpus, &cpus), ESRCH);
    CHECK_ERR(pthread_getattr_np(t, &attr), ESRCH);
    CHECK_ERR(pthread_getname_np(t, name, sizeof name), ENOENT);
    CHECK_ERR(pthread_setname_np(t, "stale"), ENOENT);
}

/* Created detached; looked at once it has exited. */
static void
check_detached_exited(void)
{
    pthread_attr_t attr;
    pthread_t t;
    void *ret;

    CHECK_OK(pthread_attr_init(&attr));
    CHECK_OK(pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED));
    blocker_clear(&target);
    CHECK_OK(pthread_create(&t, &attr, announces_then_returns, NULL));
    CHECK_OK(pthread_attr_destroy(&attr));
    wait_exited(&target);
    CHECK_ERR(pthread_join(t, &ret), EINVAL);
    CHECK_ERR(pthread_tryjoin_np(t, &ret), EINVAL);
    CHECK_ERR(pthread_detach(t), EINVAL);
}

/* Detached after it exited (which frees it), then looked at again. */
static void
check_exited_then_detached(void)
{
    void *ret;

    blocker_clear(&target);
    pthread_t t = spawn(announces_then_returns, NULL);
    wait_exited(&target);
    CHECK_OK(pthread_detach(t));
    CHECK_ERR(pthread_join(t, &ret), EINVAL);
    CHECK_ERR(pthread_tryjoin_np(t, &ret), EINVAL);
    CHECK_ERR(pthread_detach(t), EINVAL);
}

/* Detached while it runs: EBUSY from tryjoin until it exits, EINVAL after. */
static void
check_running_then_detached(void)
{
    void *ret;

    blocker_clear(&target);
    pthread_t t = spawn(waits_for_release, NULL);
    CHECK_OK(pthread_detach(t));
    CHECK_ERR(pthread_join(t, &ret), EINVAL);
    CHECK_ERR(pthread_tryjoin_np(t, &ret), EBUSY);
    CHECK_ERR(pthread_detach(t), EINVAL);
    CHECK_OK(sem_post(&release));
}

/* A live thread: glibc's internal signals and numbers above 64 are refused; 0 is accepted. */
static void
check_signal_numbers(void)
{
    pthread_t t = spawn(waits_for_release, (void *)3);

    CHECK_ERR(pthread_kill(t, 0), 0);
    CHECK_ERR(pthread_sigqueue(t, 0, (union sigval){ 0 }), 0);
    CHECK_ERR(pthread_kill(t, 32), EINVAL);
    CHECK_ERR(pthread_kill(t, 33), EINVAL);
    CHECK_ERR(pthread_kill(t, 65), EINVAL);
    CHECK_ERR(pthread_sigqueue(t, 32, (union sigval){ 0 }), EINVAL);
    CHECK_ERR(pthread_sigqueue(t, 33, (union sigval){ 0 }), EINVAL);
    CHECK_ERR(pthread_sigqueue(t, 65, (union sigval){ 0 }), EINVAL);
    CHECK_OK(sem_post(&release));
    CHECK_EQ((long)join_within(t, 10), 3);
}

int
main(void)
{
    CHECK_OK(sem_init(&release, 0, 0));
    check_after_join();
    check_detached_exited();
    check_exited_then_detached();
    check_signal_numbers();
    check_running_then_detached();
    /* The last detached thread ends on its own; main's return does not wait for it. */
    return 0;
}
