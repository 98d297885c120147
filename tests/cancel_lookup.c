/* tests/cancel_lookup.c
 * Behaviour: getaddrinfo is a cancellation point (with AI_ADDRCONFIG glibc asks the kernel for
 * the host's addresses with cancellable calls): a thread that calls it with a cancellation
 * pending ends cancelled, and after many such threads, more than any bound on concurrent
 * lookups, a lookup still completes.
 */
#include "check.h"

#include <netdb.h>
#include <stdatomic.h>

#define THREADS 48

static atomic_int disabled;
static atomic_int cancel_sent;

static int
lookup(void)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV;
    hints.ai_socktype = SOCK_STREAM;
    int r = getaddrinfo("localhost", "80", &hints, &res);
    if (r == 0)
        freeaddrinfo(res);
    return r;
}

static void *
looks_up_cancelled(void *arg)
{
    (void)arg;
    int old;
    CHECK_OK(pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old));
    atomic_fetch_add(&disabled, 1);
    WAIT_FOR(atomic_load(&cancel_sent), 10);
    CHECK_OK(pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old));
    lookup();
    return (void *)1;
}

static void *
looks_up(void *arg)
{
    (void)arg;
    return (void *)(long)lookup();
}

int
main(void)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        t[i] = spawn(looks_up_cancelled, NULL);
    WAIT_FOR(atomic_load(&disabled) == THREADS, 10);
    for (int i = 0; i < THREADS; i++)
        CHECK_OK(pthread_cancel(t[i]));
    atomic_store(&cancel_sent, 1);
    for (int i = 0; i < THREADS; i++)
        CHECK(join_within(t[i], 10) == PTHREAD_CANCELED);
    /* From another thread, and from main: no lookup slot was lost. */
    CHECK_EQ((long)join_within(spawn(looks_up, NULL), 10), 0);
    CHECK_EQ(lookup(), 0);
    return 0;
}
