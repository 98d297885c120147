/*
 * tests/unit/blockrec_test.c: white-box test of gr_blockrec_parse (runtime/blockparse.c).
 *
 * Behaviour: a read of /proc/<tid>/syscall as the kernel writes it, "NR a1 ... a6 sp pc" for
 * a thread asleep in a system call and "-1 sp pc" for one asleep outside any, gives the
 * number, the stack pointer (the word before the last) and the return address (the last);
 * "running", an empty read, garbage, a truncated line, a word too many and numbers of absurd size
 * are all "not understood" (false), and none of them is read past its terminator.
 *
 * Prints one line per failed check and "N passed, N failed"; exits 1 if anything failed.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/blockrec.h"
#include "runtime/sched.h"

/* lock.c asks for the current G (NULL: not an M), debug.c whether the scheduler is up. */
__thread struct g *gr_curg __attribute__((tls_model("initial-exec")));
bool gr_sched_booted(void);
bool
gr_sched_booted(void)
{
    return false;
}

static int passed;
static int failed;

/* text must parse to (nr, pc). The text is copied to a heap block of its exact size, so that
 * ASan and valgrind see a read past the NUL. */
static void
expect_blocked(int line, const char *text, long nr, uintptr_t pc)
{
    size_t len = strlen(text) + 1;
    char *copy = malloc(len);
    long got_nr = 12345;
    uintptr_t got_sp = 12345, got_pc = 12345;

    memcpy(copy, text, len);
    bool ok = gr_blockrec_parse(copy, &got_nr, &got_sp, &got_pc);
    free(copy);
    if (ok && got_nr == nr && got_pc == pc) {
        passed++;
        return;
    }
    failed++;
    printf("FAIL line %d: \"%s\": %s nr %ld pc %#lx, want nr %ld pc %#lx\n", line, text,
           ok ? "true" : "false", got_nr, (unsigned long)got_pc, nr, (unsigned long)pc);
}

/* text must be refused, and *nr and *pc left alone. */
static void
expect_refused(int line, const char *text)
{
    size_t len = strlen(text) + 1;
    char *copy = malloc(len);
    long nr = 777;
    uintptr_t sp = 999, pc = 888;

    memcpy(copy, text, len);
    bool ok = gr_blockrec_parse(copy, &nr, &sp, &pc);
    free(copy);
    if (!ok && nr == 777 && sp == 999 && pc == 888) {
        passed++;
        return;
    }
    failed++;
    printf("FAIL line %d: \"%s\": %s nr %ld pc %#lx, want false\n", line, text,
           ok ? "true" : "false", nr, (unsigned long)pc);
}

#define BLOCKED(t, n, p) expect_blocked(__LINE__, (t), (n), (p))
#define REFUSED(t)       expect_refused(__LINE__, (t))

static void
test_kernel_lines(void)
{
    /* read(3, buf, 1) blocked on a pipe; the kernel ends the line with a newline. */
    BLOCKED("0 0x3 0x7ffc8a1b2c30 0x1 0x0 0x0 0x0 0x7ffc8a1b2c08 0x7f3e5d91a1f2\n", 0,
            0x7f3e5d91a1f2);
    BLOCKED("0 0x3 0x7ffc8a1b2c30 0x1 0x0 0x0 0x0 0x7ffc8a1b2c08 0x7f3e5d91a1f2", 0,
            0x7f3e5d91a1f2);
    /* futex(addr, FUTEX_WAIT_PRIVATE, 0, NULL) */
    BLOCKED("202 0x55d0c1e2f0a8 0x80 0x0 0x0 0x0 0x0 0x7f3e5cffe9c0 0x7f3e5d8a2d36\n", 202,
            0x7f3e5d8a2d36);
    /* wait4(-1, ...) has a negative argument, printed as its 64-bit pattern. */
    BLOCKED("61 0xffffffffffffffff 0x7ffd1c3b0a4c 0x0 0x0 0x0 0x0 0x7ffd1c3b0a20 0x7f0e1d2c3b4a\n",
            61, 0x7f0e1d2c3b4a);
    /* A number beyond the common ones (io_uring_enter) and upper-case hex digits. */
    BLOCKED("426 0x5 0x1 0x1 0x1 0x0 0x8 0x7FFD00000000 0x7F0000ABCDEF\n", 426, 0x7f0000abcdef);
    /* Asleep outside a system call (a page fault): sp and pc only. */
    BLOCKED("-1 0x7ffc8a1b2c08 0x55d0c1a01234\n", -1, 0x55d0c1a01234);
    BLOCKED("-1 0x7ffc8a1b2c08 0x55d0c1a01234", -1, 0x55d0c1a01234);
    /* Spaces and tabs between the words, and bare hex words, are taken as well. */
    BLOCKED("  7 \t0x1 0x2 0x3 0x4 0x5 0x6 0x7 0x8  \n", 7, 0x8);
    BLOCKED("7 1 2 3 4 5 6 7 abc\n", 7, 0xabc);
    /* The largest pc a 64-bit word holds. */
    BLOCKED("-1 0x0 0xffffffffffffffff\n", -1, UINTPTR_MAX);
}

/* The stack pointer is the word before the pc, in a system call and outside one. */
static void
test_stack_pointer(void)
{
    long nr;
    uintptr_t sp = 0, pc = 0;
    bool ok;

    ok = gr_blockrec_parse("0 0x3 0x7ffc8a1b2c30 0x1 0x0 0x0 0x0 0x7ffc8a1b2c08 0x7f3e5d91a1f2\n",
                           &nr, &sp, &pc);
    ok = ok && sp == 0x7ffc8a1b2c08 && pc == 0x7f3e5d91a1f2;
    if (ok)
        passed++;
    else
        failed++, printf("FAIL: the stack pointer of a call: %#lx\n", (unsigned long)sp);
    ok = gr_blockrec_parse("-1 0x7ffc8a1b2c00 0x55d0c1a01234", &nr, &sp, &pc);
    ok = ok && sp == 0x7ffc8a1b2c00 && pc == 0x55d0c1a01234;
    if (ok)
        passed++;
    else
        failed++, printf("FAIL: the stack pointer outside a call: %#lx\n", (unsigned long)sp);
}

static void
test_refused(void)
{
    REFUSED("running\n");
    REFUSED("running");
    REFUSED("");
    REFUSED("\n");
    REFUSED("   ");
    REFUSED("-");
    REFUSED("-x 0x1 0x2");
    REFUSED("garbage 0x1 0x2 0x3");
    REFUSED("\x01\x02\xff");
    REFUSED("0x0 0x3 0x7ffc 0x1 0x0 0x0 0x0 0x7ffc 0x7f3e"); /* the number is decimal */
    /* Truncated: every prefix that stops before the last word is refused. (One that stops
     * inside the last word is a full line with a shorter pc.) */
    const char *full = "0 0x3 0x7ffc8a1b2c30 0x1 0x0 0x0 0x0 0x7ffc8a1b2c08 0x7f3e5d91a1f2";
    size_t last = (size_t)(strrchr(full, ' ') - full) + 1;
    char cut[128];
    int bad = 0;

    for (size_t n = 0; n <= last; n++) {
        long nr = 777;
        uintptr_t sp = 999, pc = 888;

        memcpy(cut, full, n);
        cut[n] = '\0';
        if (gr_blockrec_parse(cut, &nr, &sp, &pc) && bad++ == 0)
            printf("FAIL line %d: truncated \"%s\" accepted\n", __LINE__, cut);
    }
    if (bad == 0)
        passed++;
    else
        failed++;
    REFUSED("0 0x3 0x7ffc8a1b2c30 0x1 0x0 0x0 0x0 0x7ffc8a1b2c08 0x");
    REFUSED("0 0x3 0x7ffc8a1b2c30 0x1 0x0 0x0 0x0 0x7ffc8a1b2c08");            /* 7 words */
    REFUSED("0 0x3 0x7ffc8a1b2c30 0x1 0x0 0x0 0x0 0x7ffc8a1b2c08 0x7f3e 0x9"); /* 9 words */
    REFUSED("-1 0x7ffc8a1b2c08");
    REFUSED("-1 0x7ffc8a1b2c08 0x55d0c1a01234 0x1");
    REFUSED("-1");
    REFUSED("-2 0x7ffc8a1b2c08 0x55d0c1a01234"); /* only -1 has the short form */
    REFUSED("0 0x3 0x7ffc zz 0x0 0x0 0x0 0x7ffc 0x7f3e");
    REFUSED("0 0x3 0x7ffc 0x 0x0 0x0 0x0 0x7ffc 0x7f3e");
    REFUSED("0 0x3 0x7ffc 0x1 0x0 0x0 0x0 0x7ffc 0x7f3eg");
    REFUSED("0 0x3,0x7ffc 0x1 0x0 0x0 0x0 0x7ffc 0x7f3e");
}

static void
test_huge(void)
{
    /* No system call number has 20 digits: refused, without overflowing a long. */
    REFUSED("99999999999999999999 0x1 0x2 0x3 0x4 0x5 0x6 0x7 0x8");
    REFUSED("9223372036854775808 0x1 0x2 0x3 0x4 0x5 0x6 0x7 0x8");
    REFUSED("-99999999999999999999999999 0x7ffc 0x55d0");
    char digits[4096];

    memset(digits, '9', sizeof(digits) - 1);
    digits[sizeof(digits) - 1] = '\0';
    REFUSED(digits);
    /* A hex word longer than 64 bits parses to something (the kernel never writes one) but
     * must not crash or read past the end. */
    long nr;
    uintptr_t sp, pc;
    char line[5000];

    snprintf(line, sizeof(line), "-1 0x%s 0x%s", "123456789abcdef0123", digits);
    (void)gr_blockrec_parse(line, &nr, &sp, &pc);
    passed++;
}

int
main(void)
{
    test_kernel_lines();
    test_stack_pointer();
    test_refused();
    test_huge();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
