/*
 * runtime/debug.h: printing without stdio or malloc, fatal errors and assertions.
 *
 * gr_print formats into a fixed stack buffer and writes it with one raw write(2) (gr_fdprint to
 * any descriptor, gr_outbuf for output of many lines); it knows
 * %s %d %u %ld %lu %lld %llu %x %lx %llx %p %c and %%. gr_throw prints
 * "greenrun: fatal: <msg>" with the M, P and G ids and aborts; it never allocates and never
 * waits for the print lock for long.
 */
#ifndef GR_RUNTIME_DEBUG_H
#define GR_RUNTIME_DEBUG_H

#include <stdarg.h>
#include <stddef.h>

#include "runtime/base.h"

void gr_print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void gr_vprint(const char *fmt, va_list ap);
/* The same to descriptor fd: one line (up to 1 KiB) formatted whole, then written out. */
void gr_fdprint(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gr_vfdprint(int fd, const char *fmt, va_list ap);
/* Format into buf (always NUL-terminated); returns the length written. */
size_t gr_snprint(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
size_t gr_vsnprint(char *buf, size_t size, const char *fmt, va_list ap);

/*
 * A buffered writer to a descriptor, for output of many lines (the thread dump, the blocking
 * profile's JSON): gr_outbuf_put formats a piece (up to 512 bytes) into buf, written out when
 * it fills and at gr_outbuf_flush. The descriptor may be non-blocking: a full pipe is waited
 * for, a second at most per write. The first failure is kept in err (-errno) and ends the
 * writing. Fill in fd, zero the rest.
 */
struct gr_outbuf {
    int fd;
    int err; /* the first write's -errno */
    size_t len;
    char buf[4096];
};
void gr_outbuf_put(struct gr_outbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gr_outbuf_flush(struct gr_outbuf *o);

GR_NORETURN GR_COLD void gr_throw(const char *msg);
GR_NORETURN GR_COLD void gr_assert_fail(const char *expr, const char *file, int line);

#define GR_ASSERT(c) ((GR_DEBUG >= 1 && !(c)) ? gr_assert_fail(#c, __FILE__, __LINE__) : (void)0)
#define GR_ASSERT_SLOW(c) \
    ((GR_DEBUG >= 2 && !(c)) ? gr_assert_fail(#c, __FILE__, __LINE__) : (void)0)

#endif /* GR_RUNTIME_DEBUG_H */
