/*
 * runtime/debug.c: gr_print, gr_throw and assertion failures (see debug.h).
 *
 * Output goes to file descriptor 2 with raw write(2) in one call per line, so lines from
 * several Ms do not interleave mid-line. Nothing here allocates, takes a lock or touches errno.
 *
 * Locks: none; a throw never waits for one.
 */
#include "runtime/debug.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>

#include "runtime/arch.h"
#include "runtime/boot.h"
#include "runtime/sched.h"
#include "runtime/sys.h"

static char *
put_char(char *p, char *end, char c)
{
    if (p < end)
        *p = c;
    return p + 1;
}

static char *
put_str(char *p, char *end, const char *s)
{
    if (s == NULL)
        s = "(null)";
    while (*s != '\0')
        p = put_char(p, end, *s++);
    return p;
}

static char *
put_uint(char *p, char *end, unsigned long long v, unsigned base)
{
    char tmp[24];
    int n = 0;

    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v != 0);
    while (n > 0)
        p = put_char(p, end, tmp[--n]);
    return p;
}

size_t
gr_vsnprint(char *buf, size_t size, const char *fmt, va_list ap)
{
    char *p = buf, *end = buf + (size > 0 ? size - 1 : 0);

    for (; *fmt != '\0'; fmt++) {
        int longs = 0;
        unsigned long long u;
        long long s;

        if (*fmt != '%') {
            p = put_char(p, end, *fmt);
            continue;
        }
        fmt++;
        while (*fmt == 'l') {
            longs++;
            fmt++;
        }
        if (*fmt == 'z') {
            longs = 1;
            fmt++;
        }
        switch (*fmt) {
        case 'd':
            s = longs == 0 ? va_arg(ap, int) :
                longs == 1 ? va_arg(ap, long) :
                             va_arg(ap, long long);
            if (s < 0) {
                p = put_char(p, end, '-');
                u = (unsigned long long)-(s + 1) + 1;
            } else {
                u = (unsigned long long)s;
            }
            p = put_uint(p, end, u, 10);
            break;
        case 'u':
        case 'x':
            u = longs == 0 ? va_arg(ap, unsigned) :
                longs == 1 ? va_arg(ap, unsigned long) :
                             va_arg(ap, unsigned long long);
            p = put_uint(p, end, u, *fmt == 'u' ? 10 : 16);
            break;
        case 'p':
            p = put_str(p, end, "0x");
            p = put_uint(p, end, (uintptr_t)va_arg(ap, void *), 16);
            break;
        case 's':
            p = put_str(p, end, va_arg(ap, const char *));
            break;
        case 'c':
            p = put_char(p, end, (char)va_arg(ap, int));
            break;
        case '%':
            p = put_char(p, end, '%');
            break;
        case '\0':
            fmt--;
            break;
        default:
            p = put_char(p, end, '?');
            break;
        }
    }
    if (size > 0)
        *(p < end ? p : end) = '\0';
    return (size_t)((p < end ? p : end) - buf);
}

size_t
gr_snprint(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    size_t n;

    va_start(ap, fmt);
    n = gr_vsnprint(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

/* Format into buf and write it all to fd (a line is never split into two writes). */
static void
write_formatted(int fd, char *buf, size_t size, const char *fmt, va_list ap)
{
    size_t n = gr_vsnprint(buf, size, fmt, ap);
    size_t off = 0;

    while (off < n) {
        ssize_t w = gr_sys_write(fd, buf + off, n - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
}

void
gr_vfdprint(int fd, const char *fmt, va_list ap)
{
    char buf[1024];

    write_formatted(fd, buf, sizeof(buf), fmt, ap);
}

void
gr_fdprint(int fd, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    gr_vfdprint(fd, fmt, ap);
    va_end(ap);
}

void
gr_vprint(const char *fmt, va_list ap)
{
    char buf[512]; /* small: gr_print runs in signal handlers and on g0 */

    write_formatted(2, buf, sizeof(buf), fmt, ap);
}

void
gr_print(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    gr_vprint(fmt, ap);
    va_end(ap);
}

void
gr_throw(const char *msg)
{
    struct m *mp = gr_sched_booted() ? gr_getm() : NULL;
    long mid = -1, pid = -1, gid = -1;

    if (mp != NULL) {
        mid = mp->id;
        pid = mp->p != NULL ? mp->p->id : -1;
        struct g *gp = gr_load_relaxed(&mp->curg);
        gid = gp != NULL ? (long)gp->goid : -1;
    }
    gr_print("greenrun: fatal: %s (m%ld p%ld g%ld)\n", msg, mid, pid, gid);
    gr_sys_tgkill(gr_sys_getpid(), gr_sys_gettid(), 6 /* SIGABRT */);
    gr_sys_exit_group(134);
}

void
gr_assert_fail(const char *expr, const char *file, int line)
{
    gr_print("greenrun: assertion failed: %s at %s:%d\n", expr, file, line);
    gr_throw("assertion failed");
}

/* ---- A buffered writer (debug.h). */

void
gr_outbuf_flush(struct gr_outbuf *o)
{
    size_t done = 0;

    while (done < o->len && o->err == 0) {
        ssize_t n = gr_sys_write(o->fd, o->buf + done, o->len - done);
        if (n > 0) {
            done += (size_t)n;
        } else if (n == -EAGAIN) {
            struct pollfd pfd = { .fd = o->fd, .events = POLLOUT };
            if (gr_syscall3(SYS_poll, &pfd, 1, 1000) <= 0)
                o->err = -EAGAIN; /* a reader that stopped reading for a second */
        } else if (n != -EINTR) {
            o->err = n < 0 ? (int)n : -EIO;
        }
    }
    o->len = 0;
}

void
gr_outbuf_put(struct gr_outbuf *o, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    size_t n;

    va_start(ap, fmt);
    n = gr_vsnprint(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (o->len + n > sizeof(o->buf))
        gr_outbuf_flush(o);
    memcpy(o->buf + o->len, line, n);
    o->len += n;
}
