/*
 * bench/echo_server.c: a thread-per-connection TCP echo server, the macro workload's subject.
 *
 * Usage: echo-server [-p PORT]
 * Listens on 127.0.0.1:PORT (0, the default, picks a free port), prints "port N" on stdout once
 * it accepts, and then gives every accepted connection its own detached thread with default
 * attributes, which echoes with blocking read() and write() until end of file. It runs until
 * killed. This is the shape of program greenrun exists for: written for threads, unmodified.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void *
serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];

    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        ssize_t off = 0;
        while (off < n) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                goto out;
            }
            off += w;
        }
    }
out:
    close(fd);
    return NULL;
}

int
main(int argc, char **argv)
{
    int port = 0;
    int opt;

    while ((opt = getopt(argc, argv, "p:")) != -1) {
        if (opt == 'p') {
            port = atoi(optarg);
        } else {
            fprintf(stderr, "usage: echo-server [-p PORT]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);

    int ls = socket(AF_INET, SOCK_STREAM, 0);
    if (ls < 0) {
        perror("echo-server: socket");
        return 1;
    }
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(ls, SOMAXCONN) != 0) {
        perror("echo-server: bind/listen");
        return 1;
    }
    socklen_t alen = sizeof(addr);
    getsockname(ls, (struct sockaddr *)&addr, &alen);
    printf("port %d\n", ntohs(addr.sin_port));
    fflush(stdout);

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int create_failures = 0;
    for (;;) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            perror("echo-server: accept");
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                usleep(10000);
                continue;
            }
            return 1;
        }
        /* Go's net package sets TCP_NODELAY on every connection; so do we, to compare alike. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
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
