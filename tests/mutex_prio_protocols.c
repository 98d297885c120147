/* tests/mutex_prio_protocols.c
 * Behaviour: the priority protocols of a pthread_mutexattr reach the mutex as natively.
 * pthread_mutex_getprioceiling reports a priority-protect mutex's ceiling (SCHED_FIFO's
 * lowest priority when the attribute set none) and pthread_mutex_setprioceiling changes it,
 * returning the old one; both are EINVAL for a mutex of another protocol, as is a ceiling
 * out of range; a robust priority-protect mutex is ENOTSUP; a priority-inherit mutex locks
 * and unlocks. A thread under SCHED_OTHER cannot lock a priority-protect mutex (EINVAL, as
 * glibc says). A SCHED_FIFO thread holding one runs at its ceiling in the kernel (nested:
 * the highest held), in a condition wait too once woken, and at its own priority again once
 * it lets go; setprioceiling on a recursive one it holds moves it at once; a thread whose
 * priority is above the ceiling gets EINVAL. The real-time part is skipped where the kernel
 * refuses SCHED_FIFO (EPERM).
 */
#include "check.h"

static int
kernel_prio(void)
{
    struct sched_param sp = { .sched_priority = -1 };
    CHECK_OK(sched_getparam(0, &sp));
    return sp.sched_priority;
}

static int
get_ceiling(pthread_mutex_t *m)
{
    int c = -1;
    CHECK_OK(pthread_mutex_getprioceiling(m, &c));
    return c;
}

static void
init_protected(pthread_mutex_t *m, int type, int ceiling)
{
    pthread_mutexattr_t a;
    CHECK_OK(pthread_mutexattr_init(&a));
    CHECK_OK(pthread_mutexattr_settype(&a, type));
    CHECK_OK(pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_PROTECT));
    CHECK_OK(pthread_mutexattr_setprioceiling(&a, ceiling));
    CHECK_OK(pthread_mutex_init(m, &a));
    CHECK_OK(pthread_mutexattr_destroy(&a));
}

static pthread_mutex_t pp30, pp40, pp25r;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;

/* A thread under SCHED_OTHER (a fresh one each time: glibc keeps per-thread state after a
 * refusal) tries the priority-protect mutex. */
static void *
other_lock(void *arg)
{
    (void)arg;
    CHECK_ERR(pthread_mutex_lock(&pp30), EINVAL);
    return NULL;
}

static void *
other_trylock(void *arg)
{
    (void)arg;
    CHECK_ERR(pthread_mutex_trylock(&pp30), EINVAL);
    return NULL;
}

int
main(void)
{
    pthread_mutexattr_t a;
    pthread_mutex_t plain, unset, pi, robust;
    int c, old;

    /* The attribute. */
    CHECK_OK(pthread_mutexattr_init(&a));
    CHECK_OK(pthread_mutexattr_getprotocol(&a, &c));
    CHECK_EQ(c, PTHREAD_PRIO_NONE);
    CHECK_OK(pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_PROTECT));
    CHECK_OK(pthread_mutexattr_getprotocol(&a, &c));
    CHECK_EQ(c, PTHREAD_PRIO_PROTECT);
    CHECK_ERR(pthread_mutexattr_setprioceiling(&a, 0), EINVAL);
    CHECK_ERR(pthread_mutexattr_setprioceiling(&a, sched_get_priority_max(SCHED_FIFO) + 1), EINVAL);

    /* A ceiling the attribute never set is SCHED_FIFO's lowest priority. */
    CHECK_OK(pthread_mutex_init(&unset, &a));
    CHECK_EQ(get_ceiling(&unset), sched_get_priority_min(SCHED_FIFO));
    CHECK_OK(pthread_mutex_destroy(&unset));

    /* The mutex's ceiling, read and changed. */
    init_protected(&pp30, PTHREAD_MUTEX_NORMAL, 20);
    CHECK_EQ(get_ceiling(&pp30), 20);
    old = -1;
    CHECK_OK(pthread_mutex_setprioceiling(&pp30, 30, &old));
    CHECK_EQ(old, 20);
    CHECK_EQ(get_ceiling(&pp30), 30);
    CHECK_ERR(pthread_mutex_setprioceiling(&pp30, 0, &old), EINVAL);
    CHECK_ERR(pthread_mutex_setprioceiling(&pp30, sched_get_priority_max(SCHED_FIFO) + 1, &old),
              EINVAL);
    CHECK_EQ(get_ceiling(&pp30), 30);
    init_protected(&pp40, PTHREAD_MUTEX_NORMAL, 40);
    init_protected(&pp25r, PTHREAD_MUTEX_RECURSIVE, 25);

    /* Other protocols have no ceiling. */
    CHECK_OK(pthread_mutex_init(&plain, NULL));
    CHECK_ERR(pthread_mutex_getprioceiling(&plain, &c), EINVAL);
    CHECK_ERR(pthread_mutex_setprioceiling(&plain, 10, &old), EINVAL);
    CHECK_OK(pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT));
    CHECK_OK(pthread_mutex_init(&pi, &a));
    CHECK_ERR(pthread_mutex_getprioceiling(&pi, &c), EINVAL);
    CHECK_OK(pthread_mutex_lock(&pi));
    CHECK_OK(pthread_mutex_unlock(&pi));
    CHECK_OK(pthread_mutex_trylock(&pi));
    CHECK_OK(pthread_mutex_unlock(&pi));
    CHECK_OK(pthread_mutex_destroy(&pi));

    /* glibc has no robust priority-protect mutexes. */
    CHECK_OK(pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_PROTECT));
    CHECK_OK(pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST));
    CHECK_ERR(pthread_mutex_init(&robust, &a), ENOTSUP);
    CHECK_OK(pthread_mutexattr_destroy(&a));

    /* Under SCHED_OTHER there is no priority to raise to the ceiling. */
    join_within(spawn(other_lock, NULL), 10);
    join_within(spawn(other_trylock, NULL), 10);

    /* Under SCHED_FIFO the ceiling is the kernel's priority while the mutex is held. */
    struct sched_param sp = { .sched_priority = 10 };
    int err = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
    if (err == EPERM)
        skip_test("SCHED_FIFO is not permitted here (EPERM)");
    CHECK_OK(err);
    CHECK_EQ(kernel_prio(), 10);
    CHECK_OK(pthread_mutex_lock(&pp30));
    CHECK_EQ(kernel_prio(), 30);
    int pol = -1;
    CHECK_OK(pthread_getschedparam(pthread_self(), &pol, &sp));
    CHECK_EQ(pol, SCHED_FIFO);
    CHECK_EQ(sp.sched_priority, 10); /* its own priority, as set */
    CHECK_OK(pthread_mutex_lock(&pp40));
    CHECK_EQ(kernel_prio(), 40);
    CHECK_OK(pthread_mutex_unlock(&pp40));
    CHECK_EQ(kernel_prio(), 30);
    /* Let go out of order: the highest ceiling still held counts. */
    CHECK_OK(pthread_mutex_lock(&pp40));
    CHECK_OK(pthread_mutex_unlock(&pp30));
    CHECK_EQ(kernel_prio(), 40);
    CHECK_OK(pthread_mutex_unlock(&pp40));
    CHECK_EQ(kernel_prio(), 10);

    /* A condition wait lets the mutex go and takes it back, ceiling and all. */
    CHECK_OK(pthread_mutex_lock(&pp30));
    struct timespec dl = deadline_in(CLOCK_REALTIME, 20000000);
    CHECK_ERR(pthread_cond_timedwait(&cond, &pp30, &dl), ETIMEDOUT);
    CHECK_EQ(kernel_prio(), 30);
    CHECK_OK(pthread_mutex_unlock(&pp30));
    CHECK_EQ(kernel_prio(), 10);

    /* A recursive one held while its ceiling moves. */
    CHECK_OK(pthread_mutex_lock(&pp25r));
    CHECK_OK(pthread_mutex_lock(&pp25r));
    CHECK_EQ(kernel_prio(), 25);
    CHECK_OK(pthread_mutex_setprioceiling(&pp25r, 35, &old));
    CHECK_EQ(old, 25);
    CHECK_EQ(kernel_prio(), 35);
    CHECK_OK(pthread_mutex_unlock(&pp25r));
    CHECK_EQ(kernel_prio(), 35);
    CHECK_OK(pthread_mutex_unlock(&pp25r));
    CHECK_EQ(kernel_prio(), 10);

    /* Above the ceiling: refused. */
    CHECK_OK(pthread_setschedprio(pthread_self(), 50));
    CHECK_ERR(pthread_mutex_lock(&pp30), EINVAL);
    CHECK_EQ(kernel_prio(), 50);
    sp.sched_priority = 0;
    CHECK_OK(pthread_setschedparam(pthread_self(), SCHED_OTHER, &sp));
    CHECK_OK(pthread_mutex_destroy(&pp30));
    CHECK_OK(pthread_mutex_destroy(&pp40));
    CHECK_OK(pthread_mutex_destroy(&pp25r));
    puts("ok");
    return 0;
}
