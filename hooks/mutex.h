/*
 * hooks/mutex.h: the G-aware mutex, shared by the pthread, C11 and condition-variable hooks.
 */
#ifndef GR_HOOKS_MUTEX_H
#define GR_HOOKS_MUTEX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct g;

/* True when glibc owns this mutex (process-shared): use gr_real. */
bool gr_mutex_is_real(const pthread_mutex_t *m);
/* Lock with an optional deadline (absolute monotonic ns, -1 none, 0 try). POSIX error codes. */
int gr_mutex_lock(pthread_mutex_t *m, int64_t deadline);
int gr_mutex_unlock(pthread_mutex_t *m);

/*
 * For condition variables: check the caller may wait with m (EPERM otherwise), then
 * gr_mutex_release() drops it completely on behalf of owner, on any stack (it may run on
 * g0), and gr_mutex_reacquire() takes it back with the saved recursion count.
 */
int gr_mutex_check_owner(pthread_mutex_t *m);
unsigned gr_mutex_release(pthread_mutex_t *m, struct g *owner);
int gr_mutex_reacquire(pthread_mutex_t *m, unsigned count);

#endif /* GR_HOOKS_MUTEX_H */
