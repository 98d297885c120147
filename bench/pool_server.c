/*
 * bench/pool_server.c: a thread-pool TCP echo server with keep-alive, the pool macro workload.
 *
 * Usage: pool-server [-p PORT] [-W WORKERS] [-t POLL_MS]
 * Listens on 127.0.0.1:PORT (0, the default, picks a free port) and prints "port N" on stdout
 * once it accepts. It runs until killed.
 *
 * The shape is that of the classic threaded web server: one acceptor thread puts every new
 * connection on a work queue (a mutex, a condition variable and a ring of descriptors); a pool
 * of WORKERS threads (64 by default) takes connections off it. A worker waits for its
 * connection's next request with poll() and a POLL_MS timeout (100 ms), reads it with recv(),
 * echoes it with send() and, the connection being keep-alive, puts the connection back at the
 * tail of the queue for whichever worker comes next. A poll that times out puts the idle
 * connection back too. So every request goes through the queue's lock and condvar and one
 * poll, recv and send, and more connections than workers simply wait their turn in the queue.
 *
 * Locks: queue.lock protects the ring; queue.nonempty is signalled on every put.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server.h"

#define MAX_WORKERS 4096
#define REQ_BUF     4096

/*
 * The work queue. A descriptor is in the ring at most once (a connection is either queued or
 * held by one worker), so a ring as large as the descriptor limit can never overflow.
 */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t nonempty; /* signalled by every put */
    int *ring;               /* protected by lock */
    size_t cap, head, len;   /* protected by lock */
} queue = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0, 0 };

static int poll_ms = 100;

static void
queue_put(int fd)
{
    pthread_mutex_lock(&queue.lock);
    if (queue.len == queue.cap) {
        /* Cannot happen (see above); dropping the connection is the safe answer if it does. */
        pthread_mutex_unlock(&queue.lock);
        close(fd);
        return;
    }
    queue.ring[(queue.head + queue.len) % queue.cap] = fd;
    queue.len++;
    pthread_cond_signal(&queue.nonempty);
    pthread_mutex_unlock(&queue.lock);
}

static int
queue_take(void)
{
    pthread_mutex_lock(&queue.lock);
    while (queue.len == 0)
        pthread_cond_wait(&queue.nonempty, &queue.lock);
    int fd = queue.ring[queue.head];
    queue.head = (queue.head + 1) % queue.cap;
    queue.len--;
    pthread_mutex_unlock(&queue.lock);
    return fd;
}

/* Send all of buf[0..n); 0, or -1 when the connection failed. */
static int
send_all(int fd, const char *buf, size_t n)
{
    size_t off = 0;

    while (off < n) {
        ssize_t w = send(fd, buf + off, n - off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        off += (size_t)w;
    }
    return 0;
}

/* Serve one request of fd, if one comes within poll_ms; 1 to keep the connection, else 0. */
static int
serve_one(int fd, char *buf)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    int ready = poll(&pfd, 1, poll_ms);

    if (ready == 0 || (ready < 0 && errno == EINTR))
        return 1; /* idle: back to the queue, another connection may be ready */
    if (ready < 0)
        return 0;
    ssize_t n = recv(fd, buf, REQ_BUF, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 1;
    if (n <= 0)
        return 0; /* end of file, or the client reset the connection */
    return send_all(fd, buf, (size_t)n) == 0;
}

static void *
worker(void *arg)
{
    char buf[REQ_BUF];

    (void)arg;
    for (;;) {
        int fd = queue_take();
        if (serve_one(fd, buf))
            queue_put(fd);
        else
            close(fd);
    }
    return NULL;
}

int
main(int argc, char **argv)
{
    int port = 0, nworkers = 64;
    int opt;

    while ((opt = getopt(argc, argv, "p:W:t:")) != -1) {
        if (opt == 'p') {
            port = atoi(optarg);
        } else if (opt == 'W') {
            nworkers = atoi(optarg);
        } else if (opt == 't') {
            poll_ms = atoi(optarg);
        } else {
            fprintf(stderr, "usage: pool-server [-p PORT] [-W WORKERS] [-t POLL_MS]\n");
            return 2;
        }
    }
    if (nworkers < 1 || nworkers > MAX_WORKERS || poll_ms < 0) {
        fprintf(stderr, "pool-server: need 1 <= -W <= %d and -t >= 0\n", MAX_WORKERS);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1 << 22)
        rl.rlim_cur = 1 << 22;
    queue.cap = (size_t)rl.rlim_cur;
    queue.ring = malloc(queue.cap * sizeof(*queue.ring));
    if (queue.ring == NULL) {
        fprintf(stderr, "pool-server: no memory for the queue\n");
        return 1;
    }

    /* The pool exists before the first connection, as in a server that starts its workers. */
    for (int i = 0; i < nworkers; i++) {
        pthread_t tid;
        int err = pthread_create(&tid, NULL, worker, NULL);
        if (err != 0) {
            fprintf(stderr, "pool-server: pthread_create: %s\n", strerror(err));
            return 1;
        }
        pthread_detach(tid);
    }

    int ls = srv_listen("pool-server", port);
    if (ls < 0)
        return 1;

    for (;;) {
        int fd = srv_accept("pool-server", ls);
        if (fd < 0)
            return 1;
        queue_put(fd);
    }
}
