/* tests/malloc_misuse.c
 * Behaviour: a diagnosed misuse of the allocator ends the process with SIGABRT and says what
 * happened: double frees of small, medium and large blocks, free of memory malloc never gave
 * (a global, a stack variable, a pointer inside a block) and realloc of such pointers. Each
 * case runs in a child whose stderr comes back through a pipe.
 *
 * Natively glibc 2.36 aborts for every case but the double free of a 1 MiB block, which it
 * returned to the kernel with munmap: reading its header again is a SIGSEGV. (The foreign
 * pointers are preceded by zeroed memory, so that glibc reads a zero size and says
 * "free(): invalid pointer" or "realloc(): invalid pointer" every time, instead of acting on
 * whatever the bytes before them held.) The native run requires SIGABRT where glibc gives it
 * and accepts any end for the large double free.
 *
 * Under greenrun (GREENRUN_TEST_MODE=green), whose allocator diagnoses every case, each child
 * must die of SIGABRT with a stderr line holding "greenrun: ", then "free(): double free",
 * "free(): invalid pointer" or "realloc(): invalid pointer", and the pointer passed to free or
 * realloc as %p prints it (any 0x number on the line that equals it).
 */
#include "check.h"

#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/wait.h>

/* Through volatile pointers: GCC warns about (-Wfree-nonheap-object, -Wuse-after-free, errors
 * under -Werror) or folds the very calls this test makes. */
static void *(*volatile f_malloc)(size_t) = malloc;
static void (*volatile f_free)(void *) = free;
static void *(*volatile f_realloc)(void *, size_t) = realloc;

#define LARGE ((size_t)1 << 20)

/* Memory malloc never gave, after 32 zero bytes where glibc looks for a chunk header. */
struct foreign {
    size_t zero[4];
    char buf[64];
} __attribute__((aligned(16)));

static struct foreign global_foreign;

/* In the child, before the misuse: the pointer it passes, on a line of its own. */
static void
announce(const void *p)
{
    char line[64];
    int n = snprintf(line, sizeof line, "misuse: pointer %p\n", p);
    CHECK(n > 0 && n < (int)sizeof line);
    write_full(2, line, (size_t)n);
}

static void
double_free(size_t n)
{
    void *p = f_malloc(n);
    CHECK(p != NULL);
    memset(p, 0x5a, n);
    f_free(p);
    announce(p);
    f_free(p);
}

static void
double_free_small(void)
{
    double_free(32);
}

static void
double_free_medium(void)
{
    double_free(4000);
}

static void
double_free_large(void)
{
    double_free(LARGE);
}

static void
free_global(void)
{
    announce(global_foreign.buf);
    f_free(global_foreign.buf);
}

static void
free_stack(void)
{
    struct foreign s;
    memset(&s, 0, sizeof s);
    announce(s.buf);
    f_free(s.buf);
    /* Keeps s alive until after the free. */
    CHECK_EQ(s.zero[0], 0);
}

/* A pointer off bytes into a block of n bytes whose first off + 32 bytes are zero. */
static char *
inside(size_t n, size_t off)
{
    char *p = f_malloc(n);
    CHECK(p != NULL);
    memset(p, 0, off + 32);
    return p + off;
}

static void
free_inside_small(void)
{
    char *q = inside(64, 8);
    announce(q);
    f_free(q);
}

static void
free_inside_large(void)
{
    char *q = inside(LARGE, 16);
    announce(q);
    f_free(q);
}

static void
free_inside_large_page(void)
{
    char *q = inside(LARGE, 4096);
    announce(q);
    f_free(q);
}

static void
realloc_global(void)
{
    announce(global_foreign.buf);
    CHECK(f_realloc(global_foreign.buf, 100) != (void *)1);
}

static void
realloc_stack(void)
{
    struct foreign s;
    memset(&s, 0, sizeof s);
    announce(s.buf);
    CHECK(f_realloc(s.buf, 100) != (void *)1);
    CHECK_EQ(s.zero[0], 0);
}

static void
realloc_inside_small(void)
{
    char *q = inside(64, 8);
    announce(q);
    CHECK(f_realloc(q, 100) != (void *)1);
}

static void
realloc_inside_large(void)
{
    char *q = inside(LARGE, 16);
    announce(q);
    CHECK(f_realloc(q, 100) != (void *)1);
}

enum native { NATIVE_ABORT, NATIVE_ANY };

struct misuse {
    const char *name;
    void (*run)(void);
    const char *message; /* what greenrun says, after "greenrun: " */
    enum native native;
};

static const struct misuse cases[] = {
    { "double free of a 32-byte block", double_free_small, "free(): double free", NATIVE_ABORT },
    { "double free of a 4000-byte block", double_free_medium, "free(): double free", NATIVE_ABORT },
    { "double free of a 1 MiB block", double_free_large, "free(): double free", NATIVE_ANY },
    { "free of a global", free_global, "free(): invalid pointer", NATIVE_ABORT },
    { "free of a stack variable", free_stack, "free(): invalid pointer", NATIVE_ABORT },
    { "free 8 bytes into a 64-byte block", free_inside_small, "free(): invalid pointer",
      NATIVE_ABORT },
    { "free 16 bytes into a 1 MiB block", free_inside_large, "free(): invalid pointer",
      NATIVE_ABORT },
    { "free 4096 bytes into a 1 MiB block", free_inside_large_page, "free(): invalid pointer",
      NATIVE_ABORT },
    { "realloc of a global", realloc_global, "realloc(): invalid pointer", NATIVE_ABORT },
    { "realloc of a stack variable", realloc_stack, "realloc(): invalid pointer", NATIVE_ABORT },
    { "realloc 8 bytes into a 64-byte block", realloc_inside_small, "realloc(): invalid pointer",
      NATIVE_ABORT },
    { "realloc 16 bytes into a 1 MiB block", realloc_inside_large, "realloc(): invalid pointer",
      NATIVE_ABORT },
};

/* Does line hold a 0x number equal to p? */
static int
line_names(const char *line, uintptr_t p)
{
    for (const char *s = strstr(line, "0x"); s != NULL; s = strstr(s + 2, "0x")) {
        char *end;
        unsigned long long v = strtoull(s + 2, &end, 16);
        if (end != s + 2 && v == (unsigned long long)p)
            return 1;
    }
    return 0;
}

/* A line of err that holds "greenrun: ", then message, and names p. */
static int
greenrun_said(char *err, const char *message, uintptr_t p)
{
    for (char *line = err; line != NULL && *line != '\0';) {
        char *nl = strchr(line, '\n');
        if (nl != NULL)
            *nl = '\0';
        const char *g = strstr(line, "greenrun: ");
        int ok = g != NULL && strstr(g, message) != NULL && line_names(line, p);
        if (nl != NULL)
            *nl = '\n';
        if (ok)
            return 1;
        line = nl != NULL ? nl + 1 : NULL;
    }
    return 0;
}

/* Run one case in a child; returns 1 when it ended as expected. */
static int
run_case(const struct misuse *c, int green)
{
    int fd[2];
    CHECK_OK(pipe2(fd, O_CLOEXEC));
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        struct rlimit none = { 0, 0 };
        setrlimit(RLIMIT_CORE, &none);
        /* A hang dies of SIGALRM, which fails the case. */
        alarm(30);
        if (dup2(fd[1], 2) != 2)
            _exit(120);
        c->run();
        write_full(2, "misuse: survived\n", 17);
        _exit(0);
    }
    CHECK_OK(close(fd[1]));
    /* Everything the child wrote, to the end of the pipe (what does not fit is dropped). */
    static char err[16384];
    char spill[512];
    size_t len = 0;
    for (;;) {
        int full = len == sizeof err - 1;
        ssize_t r =
            full ? read(fd[0], spill, sizeof spill) : read(fd[0], err + len, sizeof err - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        CHECK(r >= 0);
        if (r == 0)
            break;
        if (!full)
            len += (size_t)r;
    }
    err[len] = '\0';
    CHECK_OK(close(fd[0]));
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);

    uintptr_t p = 0;
    const char *a = strstr(err, "misuse: pointer ");
    if (a != NULL)
        p = (uintptr_t)strtoull(a + 16, NULL, 16);
    int aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    int ok = a != NULL;
    if (green)
        ok = ok && aborted && greenrun_said(err, c->message, p);
    else if (c->native == NATIVE_ABORT)
        ok = ok && aborted;
    char how[64];
    if (WIFSIGNALED(status))
        snprintf(how, sizeof how, "signal %d", WTERMSIG(status));
    else
        snprintf(how, sizeof how, "exit status %d", WEXITSTATUS(status));
    fprintf(stderr, "%s %s: %s; its stderr:\n%s", ok ? "ok" : "FAILED", c->name, how, err);
    if (!ok) {
        if (green)
            fprintf(stderr, "  expected SIGABRT and a line with \"greenrun: \", \"%s\" and %p\n",
                    c->message, (void *)p);
        else
            fprintf(stderr, "  expected SIGABRT\n");
    }
    return ok;
}

int
main(void)
{
    int green = test_green();
    int failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        failed += !run_case(&cases[i], green);
    CHECK_EQ(failed, 0);
    return 0;
}
