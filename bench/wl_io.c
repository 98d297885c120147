/*
 * bench/wl_io.c: file-descriptor ping-pong over two pipes or one socketpair.
 *
 * The main thread writes an 8-byte sequence number, the helper reads it, checks it and writes
 * it back, and the main thread reads and checks the echo: one round trip per operation. The
 * descriptors stay blocking, as in an ordinary thread-per-connection program.
 */
#include "shim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

struct fd_pp {
    struct bu_gate gate;
    int to_helper; /* main writes here */
    int at_helper; /* helper reads here */
    int to_main;   /* helper writes here */
    int at_main;   /* main reads here */
    long ops;
    long rounds;  /* helper only; read after join */
    char err[96]; /* helper's failure, empty if none */
};

/* Read exactly len bytes; returns 0, or an errno value, or -1 at end of file. */
static int
read_full(int fd, void *buf, size_t len)
{
    size_t off = 0;

    while (off < len) {
        ssize_t n = read(fd, (char *)buf + off, len - off);
        if (n > 0)
            off += (size_t)n;
        else if (n == 0)
            return -1;
        else if (errno != EINTR)
            return errno;
    }
    return 0;
}

/* Write exactly len bytes; returns 0 or an errno value. */
static int
write_full(int fd, const void *buf, size_t len)
{
    size_t off = 0;

    while (off < len) {
        ssize_t n = write(fd, (const char *)buf + off, len - off);
        if (n > 0)
            off += (size_t)n;
        else if (n < 0 && errno != EINTR)
            return errno;
    }
    return 0;
}

static const char *
io_reason(int err)
{
    return err < 0 ? "unexpected end of file" : strerror(err);
}

static void *
fd_helper(void *arg)
{
    struct fd_pp *f = arg;

    if (bu_gate_arrive(&f->gate))
        return NULL;
    for (long i = 0; i < f->ops; i++) {
        uint64_t seq;
        int err = read_full(f->at_helper, &seq, sizeof(seq));
        if (err != 0) {
            snprintf(f->err, sizeof(f->err), "helper read: %s", io_reason(err));
            break;
        }
        if (seq != (uint64_t)i) {
            snprintf(f->err, sizeof(f->err), "helper got message %llu, want %ld",
                     (unsigned long long)seq, i);
            break;
        }
        err = write_full(f->to_main, &seq, sizeof(seq));
        if (err != 0) {
            snprintf(f->err, sizeof(f->err), "helper write: %s", strerror(err));
            break;
        }
        f->rounds++;
    }
    /* Closing our ends wakes the main thread with end of file if we stopped early. */
    close(f->to_main);
    close(f->at_helper);
    return NULL;
}

static int
fd_pingpong(struct fd_pp *f, const struct wl_params *p, struct wl_result *r)
{
    pthread_t tid;
    int rc;

    f->ops = p->ops;
    f->rounds = 0;
    f->err[0] = '\0';
    bu_gate_init(&f->gate, 1);
    rc = bu_spawn(&tid, 1, fd_helper, f, 0, &f->gate, r);
    if (rc != 0) {
        close(f->to_main);
        close(f->at_helper);
    } else {
        bu_gate_wait_ready(&f->gate);
        int64_t t0 = bu_gate_open(&f->gate, 0);
        for (long i = 0; i < p->ops && rc == 0; i++) {
            uint64_t seq = (uint64_t)i;
            int err = write_full(f->to_helper, &seq, sizeof(seq));
            if (err != 0) {
                rc = bu_fail(r, "write: %s", strerror(err));
                break;
            }
            err = read_full(f->at_main, &seq, sizeof(seq));
            if (err != 0)
                rc = bu_fail(r, "read: %s", io_reason(err));
            else if (seq != (uint64_t)i)
                rc = bu_fail(r, "echo was message %llu, want %ld", (unsigned long long)seq, i);
        }
        r->wall_ns = bu_now_ns() - t0;
        r->ops_done = p->ops;
        /* Closing our ends wakes the helper with end of file if we stopped early. */
        close(f->to_helper);
        close(f->at_main);
        int jrc = bu_join_all(&tid, 1, r);
        if (rc == 0)
            rc = jrc;
        if (rc == 0 && f->err[0] != '\0')
            rc = bu_fail(r, "%s", f->err);
        if (rc == 0 && f->rounds != p->ops)
            rc = bu_fail(r, "helper echoed %ld messages, want %ld", f->rounds, p->ops);
        return rc;
    }
    close(f->to_helper);
    close(f->at_main);
    return rc;
}

int
wl_pipe_pingpong(const struct wl_params *p, struct wl_result *r)
{
    struct fd_pp f;
    int a[2], b[2];

    if (pipe(a) != 0)
        return bu_fail(r, "pipe: %s", strerror(errno));
    if (pipe(b) != 0) {
        int err = errno;
        close(a[0]);
        close(a[1]);
        return bu_fail(r, "pipe: %s", strerror(err));
    }
    f.to_helper = a[1];
    f.at_helper = a[0];
    f.to_main = b[1];
    f.at_main = b[0];
    return fd_pingpong(&f, p, r);
}

int
wl_socketpair_pingpong(const struct wl_params *p, struct wl_result *r)
{
    struct fd_pp f;
    int sv[2], dup_main, dup_helper;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return bu_fail(r, "socketpair: %s", strerror(errno));
    /* Each side reads and writes its own socket; dup() lets both sides close two fds. */
    dup_main = dup(sv[0]);
    dup_helper = dup(sv[1]);
    if (dup_main < 0 || dup_helper < 0) {
        int err = errno;
        close(sv[0]);
        close(sv[1]);
        if (dup_main >= 0)
            close(dup_main);
        if (dup_helper >= 0)
            close(dup_helper);
        return bu_fail(r, "dup: %s", strerror(err));
    }
    f.to_helper = sv[0];
    f.at_main = dup_main;
    f.at_helper = sv[1];
    f.to_main = dup_helper;
    return fd_pingpong(&f, p, r);
}
