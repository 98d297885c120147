/* tests/blocking_frames.c
 * Behaviour: the blocking profile names the program's frames of a call that held an OS thread.
 * A thread blocks 300 ms in a read issued by a `syscall` instruction in raw_depth3, called
 * from raw_depth2, called from raw_depth1; another blocks 300 ms in glibc's own read under
 * fread on a pipe (stdio calls read inside libc, where no hook sees it), from stdio_depth3,
 * stdio_depth2 and stdio_depth1. With GREENRUN_DEBUG=blocking the report at exit has a site
 * for each with all three functions among its frames, and GREENRUN_REPORT's JSON has both
 * sites, each with count 1 and the three function names. Natively nothing is reported and no
 * file is written.
 *
 * The program runs itself again (/proc/self/exe child) with its stderr on a pipe, since the
 * report is printed when the process exits.
 */
#include "check.h"

#include <stdbool.h>
#include <sys/syscall.h>

#define BLOCK_NS 300000000LL

static int raw_pipe[2], stdio_pipe[2];
static struct blocker raw_blocked, stdio_blocked;
static volatile int sink; /* work after each call, so that none is a tail call */

/* read(2) by a `syscall` instruction: no hook, and no libc either. */
static __attribute__((noinline)) long
raw_depth3(int fd, char *c)
{
    long ret = -1;
#ifdef __x86_64__
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "0"((long)SYS_read), "D"((long)fd), "S"(c), "d"(1L)
                     : "rcx", "r11", "memory");
#else
    (void)fd, (void)c;
#endif
    sink++;
    return ret;
}

static __attribute__((noinline)) long
raw_depth2(int fd, char *c)
{
    long r = raw_depth3(fd, c);
    sink++;
    return r;
}

static __attribute__((noinline)) long
raw_depth1(int fd, char *c)
{
    long r = raw_depth2(fd, c);
    sink++;
    return r;
}

static void *
raw_reader(void *arg)
{
    char c = 0;
    (void)arg;
    blocker_here(&raw_blocked, "the raw reader");
    CHECK_EQ(raw_depth1(raw_pipe[0], &c), 1);
    CHECK_EQ(c, 'r');
    return NULL;
}

static __attribute__((noinline)) size_t
stdio_depth3(FILE *f, char *c)
{
    size_t n = fread(c, 1, 1, f);
    sink++;
    return n;
}

static __attribute__((noinline)) size_t
stdio_depth2(FILE *f, char *c)
{
    size_t n = stdio_depth3(f, c);
    sink++;
    return n;
}

static __attribute__((noinline)) size_t
stdio_depth1(FILE *f, char *c)
{
    size_t n = stdio_depth2(f, c);
    sink++;
    return n;
}

static void *
stdio_reader(void *arg)
{
    FILE *f = arg;
    char c = 0;
    blocker_here(&stdio_blocked, "the stdio reader");
    CHECK_EQ(stdio_depth1(f, &c), 1);
    CHECK_EQ(c, 's');
    return NULL;
}

/* Block one reader 300 ms from the moment it is seen asleep in read, then let it go. */
static void
block_reader(void *(*fn)(void *), void *arg, struct blocker *b, int wfd, char byte)
{
    pthread_t t = spawn(fn, arg);
    wait_blocked(b, SYS_read, NULL);
    sleep_ns(BLOCK_NS);
    CHECK_EQ(write(wfd, &byte, 1), 1);
    join_within(t, 10);
}

static int
child(void)
{
    CHECK_OK(pipe(raw_pipe));
    CHECK_OK(pipe(stdio_pipe));
    FILE *f = fdopen(stdio_pipe[0], "r");
    CHECK(f != NULL);
    block_reader(raw_reader, NULL, &raw_blocked, raw_pipe[1], 'r');
    block_reader(stdio_reader, f, &stdio_blocked, stdio_pipe[1], 's');
    fclose(f);
    return 0; /* exit() prints the report */
}

/* The report's text: a site line "syscall 0 (read)" followed by its "#N" frame lines, as one
 * block; true when some block names all of a, b and c. */
static bool
some_site_names(const char *out, const char *a, const char *b, const char *c)
{
    const char *p = out;

    while ((p = strstr(p, "greenrun: blocking: syscall 0 (read) ")) != NULL) {
        const char *end = strstr(p + 1, "greenrun: blocking: syscall ");
        const char *handoff = strstr(p + 1, "greenrun: blocking: handoff ");
        size_t len;
        char block[8192];

        if (end == NULL || (handoff != NULL && handoff < end))
            end = handoff;
        len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len >= sizeof block)
            len = sizeof block - 1;
        memcpy(block, p, len);
        block[len] = '\0';
        if (strstr(block, a) != NULL && strstr(block, b) != NULL && strstr(block, c) != NULL)
            return true;
        p++;
    }
    return false;
}

/* The JSON object of the site whose frames name fn, from its "{\"kind\"" to its end. */
static bool
json_site_with(const char *json, const char *fn, char *site, size_t size)
{
    char quoted[64];
    const char *hit;

    snprintf(quoted, sizeof quoted, "\"function\": \"%s\"", fn);
    hit = strstr(json, quoted);
    if (hit == NULL)
        return false;
    const char *start = hit;
    while (start > json && strncmp(start, "{\"kind\"", 7) != 0)
        start--;
    const char *end = strstr(hit, "]}");
    if (end == NULL || (size_t)(end - start) + 3 > size)
        return false;
    memcpy(site, start, (size_t)(end - start) + 2);
    site[end - start + 2] = '\0';
    return true;
}

int
main(int argc, char **argv)
{
#ifndef __x86_64__
    skip_test("the inline system call is written for x86_64");
#endif
    if (argc > 1 && strcmp(argv[1], "child") == 0)
        return child();

    static char out[65536], json[65536], site[8192];
    char report[64];
    snprintf(report, sizeof report, "/tmp/greenrun-blocking-frames-%d.json", (int)getpid());
    unlink(report);
    CHECK_OK(setenv("GREENRUN_REPORT", report, 1));
    run_self_child(argv[0], "banner,blocking", out, sizeof out);
    long njson = read_path(report, json, sizeof json);
    unlink(report);
    if (!test_green()) {
        CHECK(strstr(out, "greenrun: blocking:") == NULL);
        CHECK_EQ(njson, -1);
        return 0;
    }
    CHECK(strstr(out, "greenrun: active") != NULL);
    CHECK(some_site_names(out, "raw_depth3", "raw_depth2", "raw_depth1"));
    CHECK(some_site_names(out, "stdio_depth3", "stdio_depth2", "stdio_depth1"));
    CHECK(njson > 0);
    CHECK(json_site_with(json, "raw_depth3", site, sizeof site));
    CHECK(strstr(site, "\"kind\": \"unseen\", \"nr\": 0, \"call\": \"read\", \"count\": 1,") !=
          NULL);
    CHECK(strstr(site, "\"function\": \"raw_depth2\"") != NULL);
    CHECK(strstr(site, "\"function\": \"raw_depth1\"") != NULL);
    CHECK(json_site_with(json, "stdio_depth3", site, sizeof site));
    CHECK(strstr(site, "\"kind\": \"unseen\", \"nr\": 0, \"call\": \"read\", \"count\": 1,") !=
          NULL);
    CHECK(strstr(site, "\"function\": \"stdio_depth2\"") != NULL);
    CHECK(strstr(site, "\"function\": \"stdio_depth1\"") != NULL);
    return 0;
}
