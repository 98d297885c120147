/*
 * bench/echo_server.c: a thread-per-connection TCP echo server, the macro workload's subject.
 *
 * Usage: echo-server [-p PORT] [-a]
 * Listens on 127.0.0.1:PORT (0, the default, picks a free port), prints "port N" on stdout once
 * it accepts, and then gives every accepted connection its own detached thread with default
 * attributes, which echoes with blocking read() and write() until end of file. It runs until
 * killed. This is the shape of program greenrun exists for: written for threads, unmodified.
 *
 * -a makes it allocation-heavy, the allocator benchmark's echo server: a connection's thread
 * mallocs its read buffer (16 KiB) instead of keeping it on its stack, and every message goes
 * through the heap the way a server's request handling does: a request object and a copy of
 * the message, ALLOC_PARTS fragments of it padded to 16..512 bytes more (a parser's tokens),
 * and a response assembled from the fragments; all freed once the response is written. That
 * is 2 + ALLOC_PARTS + 1 mallocs and frees per message, of sizes that vary.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server.h"

#define ALLOC_BUF   16384 /* -a: a connection's read buffer */
#define ALLOC_PARTS 4     /* -a: fragments per message */

static int alloc_heavy; /* -a; set before the first connection */

/* Write all of buf[0..n); 0, or -1 when the connection failed. */
static int
write_all(int fd, const char *buf, size_t n)
{
    size_t off = 0;

    while (off < n) {
        ssize_t w = write(fd, buf + off, n - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        off += (size_t)w;
    }
    return 0;
}

struct request {
    size_t len;
    char *data;
    char *part[ALLOC_PARTS];
};

/* -a: echo buf[0..n) through heap objects (see the file comment); 0, or -1 when it failed. */
static int
echo_through_heap(int fd, const char *buf, size_t n, uint64_t *rng)
{
    struct request *rq = malloc(sizeof(*rq));
    char *resp = NULL;
    int rc = -1;

    if (rq == NULL)
        return -1;
    memset(rq, 0, sizeof(*rq));
    rq->len = n;
    rq->data = malloc(n);
    if (rq->data == NULL)
        goto out;
    memcpy(rq->data, buf, n);
    for (int k = 0; k < ALLOC_PARTS; k++) {
        size_t from = n * (size_t)k / ALLOC_PARTS, to = n * (size_t)(k + 1) / ALLOC_PARTS;
        *rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
        rq->part[k] = malloc(to - from + 16 + (size_t)(*rng >> 33) % 497);
        if (rq->part[k] == NULL)
            goto out;
        memcpy(rq->part[k], rq->data + from, to - from);
    }
    resp = malloc(n);
    if (resp == NULL)
        goto out;
    for (int k = 0; k < ALLOC_PARTS; k++) {
        size_t from = n * (size_t)k / ALLOC_PARTS, to = n * (size_t)(k + 1) / ALLOC_PARTS;
        memcpy(resp + from, rq->part[k], to - from);
    }
    rc = write_all(fd, resp, n);
out:
    free(resp);
    for (int k = 0; k < ALLOC_PARTS; k++)
        free(rq->part[k]);
    free(rq->data);
    free(rq);
    return rc;
}

static void *
serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char stack_buf[4096];
    char *buf = stack_buf;
    size_t size = sizeof(stack_buf);
    uint64_t rng = (uint64_t)fd * 0x9e3779b97f4a7c15ULL;

    if (alloc_heavy) {
        buf = malloc(ALLOC_BUF);
        size = ALLOC_BUF;
        if (buf == NULL) {
            close(fd); /* the client sees the connection close and reports the run as failed */
            return NULL;
        }
    }
    for (;;) {
        ssize_t n = read(fd, buf, size);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        int rc = alloc_heavy ? echo_through_heap(fd, buf, (size_t)n, &rng) :
                               write_all(fd, buf, (size_t)n);
        if (rc != 0)
            break;
    }
    if (buf != stack_buf)
        free(buf);
    close(fd);
    return NULL;
}

int
main(int argc, char **argv)
{
    int port = 0;
    int opt;

    while ((opt = getopt(argc, argv, "p:a")) != -1) {
        if (opt == 'p') {
            port = atoi(optarg);
        } else if (opt == 'a') {
            alloc_heavy = 1;
        } else {
            fprintf(stderr, "usage: echo-server [-p PORT] [-a]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);

    int ls = srv_listen("echo-server", port);
    if (ls < 0)
        return 1;

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int create_failures = 0;
    for (;;) {
        int fd = srv_accept("echo-server", ls);
        if (fd < 0)
            return 1;
        pthread_t tid;
        int err = pthread_create(&tid, &attr, serve, (void *)(intptr_t)fd);
        if (err != 0) {
            /* The client sees the connection close and reports the run as failed. */
            if (create_failures++ < 3)
                fprintf(stderr, "echo-server: pthread_create: %s\n", strerror(err));
            close(fd);
        }
    }
}
