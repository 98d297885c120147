/* tests/echo_10k.c
 * Behaviour: a thread-per-connection TCP echo server and a thread-per-connection client, in two
 * processes, hold 10,000 connections open at once (natively: 1,000) on a few OS threads each:
 * every client thread connects, all wait until every connection is up, then each does several
 * round trips of framed payloads that differ per connection and per round, checking every byte;
 * the server echoes with blocking read and write. Both processes count their OS threads while
 * every connection is live, and both exit 0.
 *
 * The parent forks the server and the client before it creates any thread, and only waits for
 * them. The server takes at most ACCEPT_BACKLOG pending connections; the client paces its
 * connects with a semaphore and retries a refused or timed-out connect a few times.
 */
#include "check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define ROUNDS             4
#define MAX_PAYLOAD        3000
#define ACCEPT_BACKLOG     4096
#define CONNECTS_IN_FLIGHT 256
#define CONNECT_TRIES      20

static long nconn;

/* The payload of connection id in round r: its size and its bytes. */
static uint32_t
payload_len(long id, int r)
{
    return 1 + (uint32_t)((id * 7919 + r * 104729) % MAX_PAYLOAD);
}

static unsigned char
payload_byte(long id, int r, uint32_t k)
{
    uint32_t x = (uint32_t)id * 2654435761u ^ (uint32_t)r * 40503u ^ k * 2246822519u;
    return (unsigned char)(x >> 13 ^ x);
}

/* ---- The server process. */

static pthread_barrier_t srv_done; /* every handler past its rounds, and the server main */
static atomic_long srv_started;

/* Echo framed messages (a 4-byte length, then the payload) until a zero length. */
static void *
handler(void *arg)
{
    int fd = (int)(long)arg;
    unsigned char buf[MAX_PAYLOAD];
    atomic_fetch_add(&srv_started, 1);
    for (;;) {
        uint32_t len;
        read_full(fd, &len, sizeof len);
        if (len == 0)
            break;
        CHECK(len <= MAX_PAYLOAD);
        read_full(fd, buf, len);
        write_full(fd, &len, sizeof len);
        write_full(fd, buf, len);
    }
    /* Stay connected until the server main has counted its threads. */
    int rc = pthread_barrier_wait(&srv_done);
    CHECK(rc == 0 || rc == PTHREAD_BARRIER_SERIAL_THREAD);
    write_full(fd, "B", 1);
    char c;
    CHECK_EQ(read(fd, &c, 1), 0);
    close(fd);
    return NULL;
}

static int
server_main(int report_fd)
{
    struct sockaddr_in a;
    int ls = loopback_listener(&a, ACCEPT_BACKLOG);
    write_full(report_fd, &a.sin_port, sizeof a.sin_port);
    close(report_fd);

    CHECK_OK(pthread_barrier_init(&srv_done, NULL, (unsigned)nconn + 1));
    pthread_t *t = calloc((size_t)nconn, sizeof *t);
    CHECK(t != NULL);
    long long t0 = now_ns(CLOCK_MONOTONIC);
    for (long i = 0; i < nconn; i++) {
        int c = accept(ls, NULL, NULL);
        if (c < 0) {
            fprintf(stderr, "server: accept #%ld: %s\n", i, strerror(errno));
            CHECK(c >= 0);
        }
        t[i] = spawn(handler, (void *)(long)c);
    }
    WAIT_FOR(atomic_load(&srv_started) == nconn, 60);
    fprintf(stderr, "server: %ld connections accepted in %lld ms\n", nconn,
            (now_ns(CLOCK_MONOTONIC) - t0) / 1000000);
    /* No handler can end before the barrier below: all nconn are live now. */
    check_green_threads(nconn + 1);
    int rc = pthread_barrier_wait(&srv_done);
    CHECK(rc == 0 || rc == PTHREAD_BARRIER_SERIAL_THREAD);
    for (long i = 0; i < nconn; i++)
        join_within(t[i], 60);
    fprintf(stderr, "server: all handlers joined after %lld ms\n",
            (now_ns(CLOCK_MONOTONIC) - t0) / 1000000);
    close(ls);
    free(t);
    return 0;
}

/* ---- The client process. */

static struct sockaddr_in srv_addr;
static sem_t connect_slots;
static atomic_long cli_connected;
static atomic_long connect_retries;
static pthread_barrier_t cli_all_up; /* every client connected, and the client main */

static int
connect_paced(long id)
{
    CHECK_OK(sem_wait(&connect_slots));
    for (int tries = 1;; tries++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        CHECK(s >= 0);
        if (connect(s, (struct sockaddr *)&srv_addr, sizeof srv_addr) == 0) {
            CHECK_OK(sem_post(&connect_slots));
            return s;
        }
        int e = errno;
        close(s);
        if ((e != ECONNREFUSED && e != ETIMEDOUT && e != EAGAIN) || tries == CONNECT_TRIES) {
            fprintf(stderr, "client %ld: connect failed after %d tries: %s\n", id, tries,
                    strerror(e));
            CHECK(0);
        }
        atomic_fetch_add(&connect_retries, 1);
        sleep_ns(10000000LL * tries);
    }
}

static void *
client(void *arg)
{
    long id = (long)arg;
    unsigned char buf[MAX_PAYLOAD];
    int s = connect_paced(id);
    atomic_fetch_add(&cli_connected, 1);
    int rc = pthread_barrier_wait(&cli_all_up);
    CHECK(rc == 0 || rc == PTHREAD_BARRIER_SERIAL_THREAD);

    for (int r = 0; r < ROUNDS; r++) {
        uint32_t len = payload_len(id, r);
        for (uint32_t k = 0; k < len; k++)
            buf[k] = payload_byte(id, r, k);
        write_full(s, &len, sizeof len);
        write_full(s, buf, len);
        memset(buf, 0, len);
        uint32_t back = 0;
        read_full(s, &back, sizeof back);
        CHECK_EQ(back, len);
        read_full(s, buf, len);
        for (uint32_t k = 0; k < len; k++) {
            if (buf[k] != payload_byte(id, r, k)) {
                fprintf(stderr, "client %ld round %d: byte %u is %u, sent %u\n", id, r, k, buf[k],
                        payload_byte(id, r, k));
                CHECK(0);
            }
        }
    }
    uint32_t zero = 0;
    write_full(s, &zero, sizeof zero);
    char c = 0;
    CHECK_EQ(read(s, &c, 1), 1);
    CHECK_EQ(c, 'B');
    close(s);
    return NULL;
}

static int
client_main(in_port_t port)
{
    memset(&srv_addr, 0, sizeof srv_addr);
    srv_addr.sin_family = AF_INET;
    srv_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    srv_addr.sin_port = port;
    CHECK_OK(sem_init(&connect_slots, 0, CONNECTS_IN_FLIGHT));
    CHECK_OK(pthread_barrier_init(&cli_all_up, NULL, (unsigned)nconn + 1));
    pthread_t *t = calloc((size_t)nconn, sizeof *t);
    CHECK(t != NULL);
    long long t0 = now_ns(CLOCK_MONOTONIC);
    for (long i = 0; i < nconn; i++)
        t[i] = spawn(client, (void *)i);
    WAIT_FOR(atomic_load(&cli_connected) == nconn, 60);
    fprintf(stderr, "client: %ld connections up in %lld ms (%ld connect retries)\n", nconn,
            (now_ns(CLOCK_MONOTONIC) - t0) / 1000000, atomic_load(&connect_retries));
    /* Every client thread holds its connection and waits at the barrier. */
    check_green_threads(nconn + 1);
    int rc = pthread_barrier_wait(&cli_all_up);
    CHECK(rc == 0 || rc == PTHREAD_BARRIER_SERIAL_THREAD);
    for (long i = 0; i < nconn; i++)
        join_within(t[i], 60);
    fprintf(stderr,
            "client: %d round trips on each of %ld connections, all checked, after "
            "%lld ms\n",
            ROUNDS, nconn, (now_ns(CLOCK_MONOTONIC) - t0) / 1000000);
    free(t);
    return 0;
}

/* ---- The parent: forks both, waits for both. */

/* Wait up to secs for pid; kill it if it does not end. Returns its status. */
static int
wait_child(pid_t pid, const char *what, int secs)
{
    int status = 0;
    long long until = now_ns(CLOCK_MONOTONIC) + secs * 1000000000LL;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        CHECK(r >= 0);
        if (r == pid)
            break;
        if (now_ns(CLOCK_MONOTONIC) > until) {
            fprintf(stderr, "%s (pid %d) still running after %d s: killing it\n", what, (int)pid,
                    secs);
            kill(pid, SIGKILL);
            CHECK_EQ(waitpid(pid, &status, 0), pid);
            break;
        }
        sleep_ns(10000000);
    }
    if (WIFEXITED(status))
        fprintf(stderr, "%s exited with status %d\n", what, WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        fprintf(stderr, "%s killed by signal %d\n", what, WTERMSIG(status));
    return status;
}

int
main(void)
{
    nconn = scale(10000, 1000);
    int rp[2];
    CHECK_OK(pipe(rp));
    fflush(NULL);
    pid_t srv = fork();
    CHECK(srv >= 0);
    if (srv == 0) {
        close(rp[0]);
        exit(server_main(rp[1]));
    }
    close(rp[1]);
    in_port_t port = 0;
    read_full(rp[0], &port, sizeof port);
    close(rp[0]);

    fflush(NULL);
    pid_t cli = fork();
    CHECK(cli >= 0);
    if (cli == 0)
        exit(client_main(port));

    int cst = wait_child(cli, "client", 100);
    if (!WIFEXITED(cst) || WEXITSTATUS(cst) != 0)
        kill(srv, SIGKILL);
    int sst = wait_child(srv, "server", 30);
    CHECK(WIFEXITED(cst) && WEXITSTATUS(cst) == 0);
    CHECK(WIFEXITED(sst) && WEXITSTATUS(sst) == 0);
    return 0;
}
