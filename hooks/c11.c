/*
 * hooks/c11.c: C11 <threads.h>, mapped onto the pthread hooks.
 *
 * glibc's thrd_*, mtx_*, cnd_* and call_once call its internal pthread functions and so bypass
 * every hook; here each one calls the public pthread name, which inside libgreenrun.so binds
 * to the runtime's own exported hook. The object types are glibc's: mtx_t is a
 * pthread_mutex_t, cnd_t a pthread_cond_t, once_flag a pthread_once_t, thrd_t a pthread_t.
 * Error numbers map as glibc's thrd_err_map does: ENOMEM to thrd_nomem, EBUSY to thrd_busy,
 * ETIMEDOUT to thrd_timedout, anything else to thrd_error.
 *
 * A C11 start function returns an int: thrd_create starts a trampoline that calls it and
 * returns the int as the thread's void * result; thrd_exit passes it to pthread_exit the same
 * way, and thrd_join converts it back. thrd_current, thrd_equal and tss_* are not hooked:
 * glibc's read the calling G's own descriptor.
 *
 * Locks: none; everything goes to the pthread hooks.
 */
#include <pthread.h>
#include <stdlib.h>
#include <threads.h>
#include <time.h>

#include "hooks/hook.h"

_Static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t), "mtx_t is a pthread_mutex_t");
_Static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t), "cnd_t is a pthread_cond_t");
_Static_assert(sizeof(once_flag) == sizeof(pthread_once_t), "once_flag is a pthread_once_t");
_Static_assert(sizeof(thrd_t) == sizeof(pthread_t), "thrd_t is a pthread_t");

static int
thrd_err(int err)
{
    switch (err) {
    case 0:
        return thrd_success;
    case ENOMEM:
        return thrd_nomem;
    case EBUSY:
        return thrd_busy;
    case ETIMEDOUT:
        return thrd_timedout;
    default:
        return thrd_error;
    }
}

struct c11_start {
    thrd_start_t fn;
    void *arg;
};

static void *
c11_trampoline(void *p)
{
    struct c11_start st = *(struct c11_start *)p;

    free(p);
    return (void *)(intptr_t)st.fn(st.arg);
}

GR_EXPORT int
thrd_create(thrd_t *thr, thrd_start_t fn, void *arg)
{
    struct c11_start *st = malloc(sizeof(*st));
    pthread_t th;
    int err;

    if (st == NULL)
        return thrd_nomem;
    st->fn = fn;
    st->arg = arg;
    err = pthread_create(&th, NULL, c11_trampoline, st);
    if (err != 0) {
        free(st);
        return thrd_err(err);
    }
    *thr = th;
    return thrd_success;
}

GR_EXPORT int
thrd_join(thrd_t thr, int *res)
{
    void *result;
    int err = pthread_join(thr, &result);

    if (err == 0 && res != NULL)
        *res = (int)(intptr_t)result;
    return thrd_err(err);
}

GR_EXPORT int
thrd_detach(thrd_t thr)
{
    return thrd_err(pthread_detach(thr));
}

GR_EXPORT void
thrd_exit(int res)
{
    pthread_exit((void *)(intptr_t)res);
}

GR_EXPORT int
thrd_sleep(const struct timespec *duration, struct timespec *remaining)
{
    /* As glibc: a relative CLOCK_REALTIME sleep; -1 when a signal interrupted it. */
    switch (clock_nanosleep(CLOCK_REALTIME, 0, duration, remaining)) {
    case 0:
        return 0;
    case EINTR:
        return -1;
    default:
        return -2;
    }
}

GR_EXPORT void
thrd_yield(void)
{
    sched_yield();
}

/* ---- Mutexes. */

GR_EXPORT int
mtx_init(mtx_t *m, int type)
{
    pthread_mutexattr_t attr;
    int kind, err;

    switch (type) {
    case mtx_plain:
    case mtx_timed:
        kind = PTHREAD_MUTEX_NORMAL;
        break;
    case mtx_plain | mtx_recursive:
    case mtx_timed | mtx_recursive:
        kind = PTHREAD_MUTEX_RECURSIVE;
        break;
    default:
        return thrd_error;
    }
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, kind);
    err = pthread_mutex_init((pthread_mutex_t *)m, &attr);
    pthread_mutexattr_destroy(&attr);
    return thrd_err(err);
}

GR_EXPORT int
mtx_lock(mtx_t *m)
{
    return thrd_err(pthread_mutex_lock((pthread_mutex_t *)m));
}

GR_EXPORT int
mtx_trylock(mtx_t *m)
{
    return thrd_err(pthread_mutex_trylock((pthread_mutex_t *)m));
}

GR_EXPORT int
mtx_timedlock(mtx_t *restrict m, const struct timespec *restrict abstime)
{
    return thrd_err(pthread_mutex_timedlock((pthread_mutex_t *)m, abstime));
}

GR_EXPORT int
mtx_unlock(mtx_t *m)
{
    return thrd_err(pthread_mutex_unlock((pthread_mutex_t *)m));
}

GR_EXPORT void
mtx_destroy(mtx_t *m)
{
    pthread_mutex_destroy((pthread_mutex_t *)m);
}

/* ---- Condition variables. */

GR_EXPORT int
cnd_init(cnd_t *c)
{
    return thrd_err(pthread_cond_init((pthread_cond_t *)c, NULL));
}

GR_EXPORT int
cnd_wait(cnd_t *c, mtx_t *m)
{
    return thrd_err(pthread_cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m));
}

GR_EXPORT int
cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m, const struct timespec *restrict abstime)
{
    return thrd_err(pthread_cond_timedwait((pthread_cond_t *)c, (pthread_mutex_t *)m, abstime));
}

GR_EXPORT int
cnd_signal(cnd_t *c)
{
    return thrd_err(pthread_cond_signal((pthread_cond_t *)c));
}

GR_EXPORT int
cnd_broadcast(cnd_t *c)
{
    return thrd_err(pthread_cond_broadcast((pthread_cond_t *)c));
}

GR_EXPORT void
cnd_destroy(cnd_t *c)
{
    pthread_cond_destroy((pthread_cond_t *)c);
}

/* ---- call_once. */

GR_EXPORT void
call_once(once_flag *flag, void (*fn)(void))
{
    pthread_once((pthread_once_t *)flag, fn);
}
