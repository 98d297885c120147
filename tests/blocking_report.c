/* tests/blocking_report.c
 * Behaviour: a call no hook can see (a read on a pipe through an inline `syscall` instruction)
 * that blocks a thread for 300 ms does not stop another thread from ticking every millisecond,
 * and with GREENRUN_DEBUG=blocking the runtime names it at exit: one line for system call
 * read with a duration near 300 ms. A hooked blocking call (flock, run in syscall mode) that
 * lasts 300 ms while another thread needs the processor is not an unseen call: it is reported
 * as a handoff of flock, with its duration and the program's call site (named from the
 * symbol table, as the main function here, when the unwinder has it) and the frames that
 * called it. With GREENRUN_REPORT
 * set, the same profile is written as JSON to a new file: a handoff site for flock and an
 * unseen one for read, each with count 1, and a second run refuses to overwrite the file.
 * That run has GREENRUN_DEBUG=blocking=live,threshold=50ms: lines name the raw read while it
 * still blocks and the flock when it ends.
 * Natively nothing is reported and no file is written. First, a thread sleeping while another
 * blocks that way, with nothing else to run, wakes up. Each 300 ms is counted from the moment
 * another thread sees the blocked one really asleep in its call (wait_blocked).
 *
 * The program runs itself again (/proc/self/exe child) with its stderr on a pipe, since the
 * report is printed when the process exits.
 */
#include "check.h"

#include <stdbool.h>
#include <sys/file.h>
#include <sys/syscall.h>

#define BLOCK_NS 300000000LL /* how long each blocking call lasts, at least */

static int pipefd[2];
static char lock_path[] = "/tmp/greenrun-blocking-report-XXXXXX";
static int lock_fd;

/* The main thread, about to block in system call block_nr; what that is, for the ticks. */
static struct blocker main_blocked;
static long block_nr;
static const char *block_what;

/* Once main sleeps in the call, let BLOCK_NS pass and judge the ticker over it. */
static void
hold(void)
{
    wait_blocked(&main_blocked, block_nr, NULL);
    struct tick_window w = tick_window_open();
    sleep_ns(BLOCK_NS);
    check_ticked(tick_window_since(w), block_what);
}

static void *
late_writer(void *arg)
{
    (void)arg;
    hold();
    CHECK_EQ(write(pipefd[1], "x", 1), 1);
    return NULL;
}

static void *
late_unlocker(void *arg)
{
    (void)arg;
    hold();
    CHECK_OK(flock(lock_fd, LOCK_UN));
    return NULL;
}

/* Start fn for a block of main in system call nr, and announce the main thread. */
static pthread_t
start_holder(void *(*fn)(void *), long nr, const char *what)
{
    block_nr = nr;
    block_what = what;
    blocker_clear(&main_blocked);
    pthread_t t = spawn(fn, NULL);
    blocker_here(&main_blocked, "the main thread");
    return t;
}

/* read(2) issued by a `syscall` instruction in this file: no hook runs, and libc is not
 * involved either, so the runtime learns of it only through sysmon. */
static long
raw_read(int fd, void *buf, size_t len)
{
    long ret = -1;
#ifdef __x86_64__
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "0"((long)SYS_read), "D"((long)fd), "S"(buf), "d"(len)
                     : "rcx", "r11", "memory");
#else
    (void)fd, (void)buf, (void)len;
#endif
    return ret;
}

static struct blocker reader_blocked;

static void *
raw_reader(void *arg)
{
    char c = 0;
    (void)arg;
    blocker_here(&reader_blocked, "the raw reader");
    CHECK_EQ(raw_read(pipefd[0], &c, 1), 1);
    return NULL;
}

static int
child(void)
{
    /* Nothing else running: while a thread blocks in the raw read, the only thing that waits is
     * this thread's sleep, a timer of the blocked processor. It must still end. */
    CHECK_OK(pipe(pipefd));
    pthread_t rd = spawn(raw_reader, NULL);
    wait_blocked(&reader_blocked, SYS_read, NULL);
    sleep_ns(50000000);
    CHECK_EQ(write(pipefd[1], "y", 1), 1);
    join_within(rd, 10);
    close(pipefd[0]);
    close(pipefd[1]);

    ticker_start();

    CHECK_OK(pipe(pipefd));
    pthread_t w = start_holder(late_writer, SYS_read, "raw read");
    char c = 0;
    CHECK_EQ(raw_read(pipefd[0], &c, 1), 1);
    CHECK_EQ(c, 'x');
    join_within(w, 10);

    /* flock is hooked: the runtime runs it in syscall mode, and its processor goes to the
     * ticker meanwhile: a handoff. Two open file descriptions of one file conflict even within
     * a process. */
    int fd = mkstemp(lock_path);
    CHECK(fd >= 0);
    CHECK_OK(unlink(lock_path));
    snprintf(lock_path, sizeof lock_path, "/proc/self/fd/%d", fd);
    lock_fd = open(lock_path, O_RDONLY | O_CLOEXEC);
    CHECK(lock_fd >= 0);
    CHECK_OK(flock(lock_fd, LOCK_EX));
    pthread_t u = start_holder(late_unlocker, SYS_flock, "flock");
    CHECK_OK(flock(fd, LOCK_EX));
    join_within(u, 10);

    ticker_stop();
    return 0; /* exit() prints the report */
}

/* A duration "301.2ms" or "12.3s" in nanoseconds; -1 when s does not start with one. */
static long long
parse_duration(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s)
        return -1;
    if (strncmp(end, "ms", 2) == 0)
        return (long long)(v * 1e6);
    if (*end == 's')
        return (long long)(v * 1e9);
    return -1;
}

/* The JSON report: brackets balanced outside strings, and the two sites with count 1. */
static void
check_json(const char *json)
{
    int depth = 0, min_depth = 0;
    bool in_string = false;

    for (const char *p = json; *p != '\0'; p++) {
        if (in_string) {
            if (*p == '\\' && p[1] != '\0')
                p++;
            else if (*p == '"')
                in_string = false;
        } else if (*p == '"') {
            in_string = true;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            depth--;
            if (depth < min_depth)
                min_depth = depth;
        }
    }
    CHECK(!in_string && depth == 0 && min_depth == 0);
    CHECK(strstr(json, "\"kind\": \"handoff\", \"nr\": -1, \"call\": \"flock\", \"count\": 1,") !=
          NULL);
    CHECK(strstr(json, "\"kind\": \"unseen\", \"nr\": 0, \"call\": \"read\", \"count\": 1,") !=
          NULL);
    CHECK(strstr(json, "\"object\": \"blocking_report\"") != NULL);
}

int
main(int argc, char **argv)
{
#ifndef __x86_64__
    skip_test("the inline system call is written for x86_64");
#endif
    if (argc > 1 && strcmp(argv[1], "child") == 0)
        return child();

    static char out[65536], json[65536];
    char report[64];
    snprintf(report, sizeof report, "/tmp/greenrun-blocking-report-%d.json", (int)getpid());
    unlink(report);
    CHECK_OK(setenv("GREENRUN_REPORT", report, 1));
    run_self_child(argv[0], "banner,blocking", out, sizeof out);

    /* The report's lines: "greenrun: blocking: syscall NR (NAME) count N total T max M ...". */
    char read_line[64], flock_line[64];
    snprintf(read_line, sizeof read_line, "greenrun: blocking: syscall %d ", (int)SYS_read);
    snprintf(flock_line, sizeof flock_line, "greenrun: blocking: syscall %d ", (int)SYS_flock);
    int nreport = 0;
    long long longest_read = -1, longest_flock = -1;
    for (char *line = out; line != NULL && *line != '\0';) {
        char *next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if (strncmp(line, "greenrun: blocking:", 19) == 0)
            nreport++;
        bool is_read = strncmp(line, read_line, strlen(read_line)) == 0;
        bool is_flock = strncmp(line, "greenrun: blocking: handoff flock ", 34) == 0;
        if (is_read || is_flock) {
            char *max = strstr(line, " max ");
            CHECK(max != NULL);
            long long ns = parse_duration(max + 5);
            CHECK(ns >= 0);
            long long *longest = is_read ? &longest_read : &longest_flock;
            if (ns > *longest)
                *longest = ns;
        }
        if (is_flock) {
            CHECK(strstr(line, "(blocking_report ") != NULL ||
                  strstr(line, "(blocking_report+0x") != NULL);
            /* Its backtrace goes on past the call site: the frames that called it. */
            CHECK(next != NULL && strncmp(next, "greenrun: blocking:     #1 ", 27) == 0);
        }
        CHECK(strncmp(line, flock_line, strlen(flock_line)) != 0);
        line = next;
    }
    long njson = read_path(report, json, sizeof json);
    if (test_green()) {
        CHECK(strstr(out, "greenrun: active") != NULL);
        /* The 300 ms read, measured from sysmon's first sighting (2 ms or more late). */
        fprintf(stderr, "longest read reported: %lld ms, flock: %lld ms\n", longest_read / 1000000,
                longest_flock / 1000000);
        CHECK(longest_read >= 200000000LL);
        CHECK(longest_flock >= 200000000LL);
        CHECK(njson > 0);
        check_json(json);
        /* The file is never overwritten: a second run says so and leaves it as it was. */
        run_self_child(argv[0], "banner,blocking=live,threshold=50ms", out, sizeof out);
        CHECK(strstr(out, "GREENRUN_REPORT=") != NULL && strstr(out, "must not exist") != NULL);
        CHECK(strstr(out, "greenrun: blocking live: syscall 0 (read) has held its M ") != NULL);
        CHECK(strstr(out, "greenrun: blocking live: handoff flock held its M ") != NULL);
        static char again[65536];
        CHECK_EQ(read_path(report, again, sizeof again), njson);
        CHECK(strcmp(again, json) == 0);
    } else {
        CHECK_EQ(nreport, 0);
        CHECK_EQ(njson, -1);
    }
    unlink(report);
    return 0;
}
