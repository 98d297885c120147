/*
 * runtime/blockparse.c: reading /proc/<tid>/syscall for the blocking profile (blockrec.h).
 *
 * Separate from blockrec.c so that the parser, which takes untrusted-looking text from the
 * kernel, is tested alone (tests/unit/blockrec_test.c). No locks, no allocation.
 */
#include <limits.h>
#include <stddef.h>

#include "runtime/blockrec.h"

static const char *
skip_spaces(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}
static int
hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One "0x..." or bare hex word; NULL when s does not start with one. */
static const char *
parse_hex(const char *s, uintptr_t *out)
{
    uintptr_t v = 0;
    const char *start;

    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        s += 2;
    start = s;
    for (int d; (d = hex_digit(*s)) >= 0; s++)
        v = v * 16 + (uintptr_t)d;
    if (s == start)
        return NULL;
    *out = v;
    return s;
}

bool
gr_blockrec_parse(const char *text, long *nr, uintptr_t *sp, uintptr_t *pc)
{
    const char *s = skip_spaces(text);
    bool neg = false;
    long n = 0;
    int words = 0;
    uintptr_t last = 0, before = 0;

    if (*s == '-') {
        neg = true;
        s++;
    }
    if (*s < '0' || *s > '9')
        return false; /* "running", or nothing */
    for (; *s >= '0' && *s <= '9'; s++) {
        if (n > (LONG_MAX - 9) / 10)
            return false; /* no system call number is that long */
        n = n * 10 + (*s - '0');
    }
    if (neg)
        n = -n;
    for (;;) {
        uintptr_t v;

        s = skip_spaces(s);
        if (*s == '\0' || *s == '\n')
            break;
        s = parse_hex(s, &v);
        if (s == NULL)
            return false;
        before = last;
        last = v;
        words++;
    }
    /* The kernel writes six arguments, sp and pc for a call; only sp and pc outside one. */
    if (!(n >= 0 && words == 8) && !(n == -1 && words == 2))
        return false;
    *nr = n;
    *sp = before;
    *pc = last;
    return true;
}
