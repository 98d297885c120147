/*
 * bench/server.c: listen and accept for the benchmark servers (server.h says why they share
 * them).
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

int
srv_listen(const char *prog, int port)
{
    int one = 1;
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    socklen_t alen = sizeof(addr);

    if (ls < 0) {
        fprintf(stderr, "%s: socket: %m\n", prog);
        return -1;
    }
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(ls, SOMAXCONN) != 0 ||
        getsockname(ls, (struct sockaddr *)&addr, &alen) != 0) {
        fprintf(stderr, "%s: bind/listen: %m\n", prog);
        close(ls);
        return -1;
    }
    printf("port %d\n", ntohs(addr.sin_port));
    fflush(stdout);
    return ls;
}

int
srv_accept(const char *prog, int ls)
{
    int one = 1;

    for (;;) {
        int fd = accept(ls, NULL, NULL);
        if (fd >= 0) {
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            return fd;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        fprintf(stderr, "%s: accept: %m\n", prog);
        if (errno != EMFILE && errno != ENFILE && errno != ENOBUFS && errno != ENOMEM)
            return -1;
        usleep(10000);
    }
}
