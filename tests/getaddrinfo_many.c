/* tests/getaddrinfo_many.c
 * Behaviour: 1,000 threads released together by a barrier each resolve "localhost" with
 * getaddrinfo (AF_INET, SOCK_STREAM, service "80") and get 127.0.0.1:80 in every result, turn
 * 127.0.0.1:80 back into text with getnameinfo (NI_NUMERICHOST | NI_NUMERICSERV), and look
 * "localhost" up with gethostbyname_r; under the runtime the process stays on at most
 * GREENRUN_PROCS + 32 (the runtime's cap on lookups in progress) + 2 OS threads while they do
 * (1,000 threads natively too).
 */
#include "check.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/socket.h>

#define ROUNDS 3
/*
 * OS threads allowed under the runtime while the lookups run, beyond GREENRUN_PROCS. A lookup
 * sleeps in the kernel on its M in syscall mode, and sysmon hands that M's P to another M, so
 * each lookup in progress may hold an OS thread; the runtime lets at most LOOKUP_MAX run at
 * once (hooks/lookup.c; keep in sync) and parks the others. Plus sysmon and one M being
 * started or retiring. How many of the 32 are in use at a moment depends on how fast the
 * machine answers, not on a bug, so the bound is the cap itself: 1,000 OS threads (one per
 * lookup) or a cap that does not hold fail it.
 */
#define LOOKUP_MAX  32
#define GREEN_SLACK (LOOKUP_MAX + 2)

static pthread_barrier_t go;
static atomic_long arrived;
static atomic_long finished;

static void
check_getaddrinfo(long id)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo("localhost", "80", &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "thread %ld: getaddrinfo: %s\n", id, gai_strerror(rc));
        CHECK_EQ(rc, 0);
    }
    int n = 0;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next, n++) {
        CHECK_EQ(ai->ai_family, AF_INET);
        CHECK_EQ(ai->ai_socktype, SOCK_STREAM);
        CHECK_EQ(ai->ai_addrlen, sizeof(struct sockaddr_in));
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ai->ai_addr;
        CHECK_EQ(sin->sin_family, AF_INET);
        CHECK_EQ(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
        CHECK_EQ(ntohs(sin->sin_port), 80);
    }
    CHECK(n >= 1);
    freeaddrinfo(res);
}

static void
check_getnameinfo(void)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons(80);
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    CHECK_EQ(getnameinfo((struct sockaddr *)&sin, sizeof sin, host, sizeof host, serv, sizeof serv,
                         NI_NUMERICHOST | NI_NUMERICSERV),
             0);
    CHECK_EQ(strcmp(host, "127.0.0.1"), 0);
    CHECK_EQ(strcmp(serv, "80"), 0);
}

static void
check_gethostbyname_r(void)
{
    struct hostent he, *hp = NULL;
    char buf[2048];
    int herr = 0;
    CHECK_OK(gethostbyname_r("localhost", &he, buf, sizeof buf, &hp, &herr));
    CHECK(hp == &he);
    CHECK_EQ(hp->h_addrtype, AF_INET);
    CHECK_EQ(hp->h_length, 4);
    CHECK(hp->h_addr_list[0] != NULL);
    struct in_addr a;
    memcpy(&a, hp->h_addr_list[0], sizeof a);
    CHECK_EQ(ntohl(a.s_addr), INADDR_LOOPBACK);
}

static void *
resolver(void *arg)
{
    long id = (long)arg;
    atomic_fetch_add(&arrived, 1);
    int rc = pthread_barrier_wait(&go);
    CHECK(rc == 0 || rc == PTHREAD_BARRIER_SERIAL_THREAD);
    for (int r = 0; r < ROUNDS; r++) {
        check_getaddrinfo(id);
        check_getnameinfo();
        check_gethostbyname_r();
    }
    atomic_fetch_add(&finished, 1);
    return NULL;
}

int
main(void)
{
    long n = 1000;
    pthread_t *t = calloc((size_t)n, sizeof *t);
    CHECK(t != NULL);
    CHECK_OK(pthread_barrier_init(&go, NULL, (unsigned)n + 1));
    for (long i = 0; i < n; i++)
        t[i] = spawn(resolver, (void *)i);
    WAIT_FOR(atomic_load(&arrived) == n, 30);
    check_green_threads(n + 1);

    long long t0 = now_ns(CLOCK_MONOTONIC);
    int rc = pthread_barrier_wait(&go);
    CHECK(rc == 0 || rc == PTHREAD_BARRIER_SERIAL_THREAD);
    /* Sample the OS thread count until every lookup is done. */
    long most = 0, samples = 0;
    while (atomic_load(&finished) < n) {
        long cur = os_threads();
        if (cur > most)
            most = cur;
        samples++;
        CHECK(now_ns(CLOCK_MONOTONIC) - t0 < 50000000000LL);
        sleep_ns(1000000);
    }
    fprintf(stderr,
            "%ld threads x %d rounds of lookups in %lld ms; at most %ld OS threads "
            "(%ld samples)\n",
            n, ROUNDS, (now_ns(CLOCK_MONOTONIC) - t0) / 1000000, most, samples);
    if (test_green()) {
        long procs = green_procs();
        if (most > procs + GREEN_SLACK) {
            char v[96];
            snprintf(v, sizeof v, "%ld OS threads, procs %ld", most, procs);
            check_fail(__FILE__, __LINE__, "most <= procs + LOOKUP_MAX + 2", v);
        }
    }
    for (long i = 0; i < n; i++)
        join_within(t[i], 30);
    free(t);
    return 0;
}
