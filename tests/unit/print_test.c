/*
 * tests/unit/print_test.c: white-box test of runtime/debug.c's formatter, linked directly.
 *
 * Behaviour: gr_snprint/gr_vsnprint print every conversion debug.h documents (%s %d %u %ld
 * %lu %lld %llu %x %lx %llx %p %c %%), and %zu/%zd, as snprintf does, extremes included
 * (INT_MIN, LLONG_MIN, ULLONG_MAX); a NULL %s prints "(null)"; at every buffer size from 0
 * to past the full length the output is the longest prefix that fits, NUL-terminated (nothing
 * written at all for size 0), and the return value is the length written; gr_print writes
 * one line with a single write to fd 2, truncated to its 511-byte buffer.
 *
 * Prints one line per failed check and "N passed, N failed"; exits 1 if anything failed.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "runtime/debug.h"

/* debug.c asks whether the scheduler is up before it names the M/P/G in gr_throw. */
bool gr_sched_booted(void);
bool
gr_sched_booted(void)
{
    return false;
}

static int passed;
static int failed;

static void
check(bool ok, int line, const char *what, const char *got, const char *want)
{
    if (ok) {
        passed++;
        return;
    }
    failed++;
    printf("FAIL line %d: %s: got \"%s\", want \"%s\"\n", line, what, got, want);
}

#define CANARY 0x5a
#define BUFCAP 256

/* A formatter call through gr_vsnprint, so that the test reaches it without the format
 * attribute when it must (a lone '%' at the end). */
static size_t
vsn(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    size_t n;

    va_start(ap, fmt);
    n = gr_vsnprint(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

/*
 * want is what snprintf prints (or the documented text where they differ). Format with every
 * size from 0 to strlen(want) + 2 into a canary-filled buffer and check the prefix, the NUL,
 * the untouched rest and the return value.
 */
static void
expect_sizes(int line, const char *want, size_t (*fmt)(char *, size_t, void *), void *arg)
{
    size_t len = strlen(want);
    char buf[BUFCAP];

    for (size_t size = 0; size <= len + 2 && size < BUFCAP; size++) {
        memset(buf, CANARY, sizeof(buf));
        size_t n = fmt(buf, size, arg);
        size_t fit = size == 0 ? 0 : (len < size - 1 ? len : size - 1);
        bool ok = n == fit && memcmp(buf, want, fit) == 0 && (size == 0 || buf[fit] == '\0');

        for (size_t i = size; i < BUFCAP && ok; i++)
            ok = buf[i] == (char)CANARY;
        if (!ok) {
            char got[BUFCAP + 1];
            size_t shown = size == 0 ? 0 : fit;

            memcpy(got, buf, shown);
            got[shown] = '\0';
            failed++;
            printf("FAIL line %d: size %zu: returned %zu (want %zu), got \"%s\", want \"%.*s\"\n",
                   line, size, n, fit, got, (int)fit, want);
            return;
        }
    }
    passed++;
}

/* One value of each conversion, as an argument pack the size sweep can replay. */
struct one {
    const char *fmt;
    int kind;
    long long s;
    unsigned long long u;
    const void *p;
    const char *str;
};

enum { K_INT, K_UINT, K_LONG, K_ULONG, K_LLONG, K_ULLONG, K_PTR, K_STR, K_CHAR, K_SSIZE, K_SIZE };

static size_t
fmt_one(char *buf, size_t size, void *arg)
{
    const struct one *o = arg;

    switch (o->kind) {
    case K_INT:
    case K_CHAR:
        return vsn(buf, size, o->fmt, (int)o->s);
    case K_UINT:
        return vsn(buf, size, o->fmt, (unsigned)o->u);
    case K_LONG:
        return vsn(buf, size, o->fmt, (long)o->s);
    case K_ULONG:
        return vsn(buf, size, o->fmt, (unsigned long)o->u);
    case K_LLONG:
        return vsn(buf, size, o->fmt, o->s);
    case K_ULLONG:
        return vsn(buf, size, o->fmt, o->u);
    case K_PTR:
        return vsn(buf, size, o->fmt, o->p);
    case K_STR:
        return vsn(buf, size, o->fmt, o->str);
    case K_SSIZE:
        return vsn(buf, size, o->fmt, (ssize_t)o->s);
    case K_SIZE:
        return vsn(buf, size, o->fmt, (size_t)o->u);
    }
    return 0;
}

static void
expect_one(int line, struct one o, const char *want)
{
    expect_sizes(line, want, fmt_one, &o);
}

#define S(f, k, v, want) \
    expect_one(__LINE__, (struct one){ .fmt = (f), .kind = (k), .s = (v) }, want)
#define U(f, k, v, want) \
    expect_one(__LINE__, (struct one){ .fmt = (f), .kind = (k), .u = (v) }, want)

static void
test_signed(void)
{
    char want[64];

    S("%d", K_INT, 0, "0");
    S("%d", K_INT, 7, "7");
    S("%d", K_INT, -7, "-7");
    snprintf(want, sizeof(want), "%d", INT_MAX);
    S("%d", K_INT, INT_MAX, want);
    snprintf(want, sizeof(want), "%d", INT_MIN);
    S("%d", K_INT, INT_MIN, want);
    snprintf(want, sizeof(want), "%ld", LONG_MAX);
    S("%ld", K_LONG, LONG_MAX, want);
    snprintf(want, sizeof(want), "%ld", LONG_MIN);
    S("%ld", K_LONG, LONG_MIN, want);
    S("%ld", K_LONG, -1, "-1");
    snprintf(want, sizeof(want), "%lld", LLONG_MAX);
    S("%lld", K_LLONG, LLONG_MAX, want);
    S("%lld", K_LLONG, LLONG_MIN, "-9223372036854775808");
    S("%lld", K_LLONG, -1000000000000LL, "-1000000000000");
    S("%zd", K_SSIZE, -42, "-42");
    snprintf(want, sizeof(want), "%zd", (ssize_t)LONG_MIN);
    S("%zd", K_SSIZE, LONG_MIN, want);
    S("x=%d;", K_INT, -12345, "x=-12345;");
}

static void
test_unsigned(void)
{
    char want[64];

    U("%u", K_UINT, 0, "0");
    snprintf(want, sizeof(want), "%u", UINT_MAX);
    U("%u", K_UINT, UINT_MAX, want);
    snprintf(want, sizeof(want), "%lu", ULONG_MAX);
    U("%lu", K_ULONG, ULONG_MAX, want);
    snprintf(want, sizeof(want), "%llu", ULLONG_MAX);
    U("%llu", K_ULLONG, ULLONG_MAX, want);
    U("%llu", K_ULLONG, 10000000000000000000ULL, "10000000000000000000");
    snprintf(want, sizeof(want), "%zu", SIZE_MAX);
    U("%zu", K_SIZE, SIZE_MAX, want);
    U("%zu", K_SIZE, 4096, "4096");
    U("%x", K_UINT, 0, "0");
    U("%x", K_UINT, 0xdeadbeef, "deadbeef");
    U("%x", K_UINT, UINT_MAX, "ffffffff");
    U("%lx", K_ULONG, 0x7f0011223344UL, "7f0011223344");
    U("%lx", K_ULONG, ULONG_MAX, "ffffffffffffffff");
    U("%llx", K_ULLONG, 0x8000000000000000ULL, "8000000000000000");
    U("%llx", K_ULLONG, ULLONG_MAX, "ffffffffffffffff");
    /* A negative int through %x is its unsigned bits, as in printf. */
    S("%x", K_INT, -1, "ffffffff");
}

static void
test_pointer_string_char(void)
{
    const char *volatile null_str = NULL;
    char want[64];
    int local;

    snprintf(want, sizeof(want), "%p", (void *)&local);
    expect_one(__LINE__, (struct one){ .fmt = "%p", .kind = K_PTR, .p = &local }, want);
    /* Unlike glibc's "(nil)", the runtime prints a NULL pointer as a number. */
    expect_one(__LINE__, (struct one){ .fmt = "%p", .kind = K_PTR, .p = NULL }, "0x0");
    expect_one(__LINE__, (struct one){ .fmt = "%p", .kind = K_PTR, .p = (void *)UINTPTR_MAX },
               "0xffffffffffffffff");
    expect_one(__LINE__, (struct one){ .fmt = "[%s]", .kind = K_STR, .str = "hello" }, "[hello]");
    expect_one(__LINE__, (struct one){ .fmt = "[%s]", .kind = K_STR, .str = "" }, "[]");
    expect_one(__LINE__, (struct one){ .fmt = "%s", .kind = K_STR, .str = null_str }, "(null)");
    S("%c", K_CHAR, 'A', "A");
    S("<%c>", K_CHAR, '%', "<%>");
    expect_one(__LINE__, (struct one){ .fmt = "100%%", .kind = K_INT }, "100%");
    expect_one(__LINE__, (struct one){ .fmt = "%%%%", .kind = K_INT }, "%%");
    expect_one(__LINE__, (struct one){ .fmt = "plain text", .kind = K_INT }, "plain text");
    expect_one(__LINE__, (struct one){ .fmt = "", .kind = K_INT }, "");
    /* A lone '%' ends the format; nothing past the terminator is read. */
    expect_one(__LINE__, (struct one){ .fmt = "tail%", .kind = K_INT }, "tail");
}

/* Several conversions in one format: the size sweep cuts inside each of them. */
static size_t
fmt_mixed(char *buf, size_t size, void *arg)
{
    (void)arg;
    return gr_snprint(buf, size, "greenrun: %s m%ld p%d g%llu at %p: %x%c%zu%%", "fatal", -3L,
                      INT_MIN, 18446744073709551615ULL, (void *)0x1234, 0xabcu, '!', (size_t)12);
}

static void
test_mixed(void)
{
    char want[BUFCAP];

    snprintf(want, sizeof(want), "greenrun: %s m%ld p%d g%llu at %p: %x%c%zu%%", "fatal", -3L,
             INT_MIN, 18446744073709551615ULL, (void *)0x1234, 0xabcu, '!', (size_t)12);
    expect_sizes(__LINE__, want, fmt_mixed, NULL);
}

/* gr_print: one write to fd 2 of at most 511 bytes. */
static void
test_print(void)
{
    int pfd[2], saved;
    char got[1024], longstr[700], want[600];
    ssize_t n;

    if (pipe(pfd) != 0 || (saved = dup(2)) < 0) {
        check(false, __LINE__, "pipe/dup", "", "");
        return;
    }
    memset(longstr, 'y', sizeof(longstr) - 1);
    longstr[sizeof(longstr) - 1] = '\0';
    fflush(stderr);
    dup2(pfd[1], 2);
    gr_print("gr_print %d %s\n", -5, "ok");
    gr_print("%s", longstr);
    dup2(saved, 2);
    close(saved);
    close(pfd[1]);
    n = read(pfd[0], got, sizeof(got) - 1);
    close(pfd[0]);
    got[n > 0 ? n : 0] = '\0';
    snprintf(want, sizeof(want), "gr_print -5 ok\n%.511s", longstr);
    check(strcmp(got, want) == 0, __LINE__, "gr_print", got, want);
}

int
main(void)
{
    test_signed();
    test_unsigned();
    test_pointer_string_char();
    test_mixed();
    test_print();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
