/*
 * tests/unit/config_test.c: white-box test of preload/config.c, linked directly (no preload).
 *
 * Behaviour: gr_config_parse accepts every documented form of GREENRUN_PROCS, GREENRUN_STACK,
 * GREENRUN_DEBUG, GREENRUN_MALLOC, GREENRUN_TRACE, GREENRUN_QUIT, GREENRUN_GC and
 * GREENRUN_GC_REPORT, rejects everything else with the documented one-line message, never
 * writes past errlen, and leaves the defaults in cfg when it fails.
 *
 * Prints one line per failed check and "N passed, N failed"; exits 1 if anything failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "preload/config.h"

#define ERRCAP 512
#define CANARY 0x5a

#define ACCEPTED_DEBUG                                                                          \
    "accepted: banner, stats, blocking, blocking=live, threshold=TIME (1us to 1h, like 500us, " \
    "10ms or 2s), schedtrace=MS (MS from 1 to 3600000), fs=arch_prctl, fs=auto, gctrace"
#define STACK_EXPECT  "expected a size from 16K to 16G, like 64K, 8M or 1G"
#define PROCS_EXPECT  "expected an integer from 1 to 1024"
#define MALLOC_EXPECT "expected greenrun or system"
#define TRACE_EXPECT                                                                    \
    "expected the path of a file to create (at most 4000 bytes, not ending in '/'; %p " \
    "stands for the process id, %% for '%')"
#define QUIT_EXPECT "expected dump or exit"

static int passed;
static int failed;

static void
check(int ok, const char *what, int line)
{
    if (ok) {
        passed++;
    } else {
        failed++;
        printf("FAIL line %d: %s\n", line, what);
    }
}

#define CHECK(c) check((c) != 0, #c, __LINE__)

/* The parser takes char *const *, as envp is; the tests build theirs from literals. */
static int
parse_env(struct gr_config *cfg, const char *const *env, char *err, size_t errlen)
{
    return gr_config_parse(cfg, (char *const *)env, err, errlen);
}

/* Parse a one-variable environment "NAME=VALUE". */
static int
parse1(const char *entry, struct gr_config *cfg, char *err)
{
    const char *env[2] = { entry, NULL };

    return parse_env(cfg, env, err, ERRCAP);
}

static int
is_default(const struct gr_config *cfg)
{
    return cfg->procs == 0 && cfg->stack_size == 0 && cfg->schedtrace_ms == 0 && !cfg->banner &&
           !cfg->stats && !cfg->blocking && !cfg->fs_syscall && !cfg->malloc_system &&
           cfg->trace == NULL && !cfg->quit_exit && cfg->gc == GR_GC_OFF && cfg->gc_report == NULL;
}

/* Poison cfg so that a parser that forgets to write a field is caught. */
static void
poison(struct gr_config *cfg)
{
    memset(cfg, 0xa5, sizeof(*cfg));
}

static void
expect_procs(const char *entry, int want, int line)
{
    struct gr_config cfg;
    char err[ERRCAP];

    poison(&cfg);
    int rc = parse1(entry, &cfg, err);

    check(rc == 0 && cfg.procs == want && cfg.stack_size == 0, entry, line);
}

static void
expect_stack(const char *entry, size_t want, int line)
{
    struct gr_config cfg;
    char err[ERRCAP];

    poison(&cfg);
    int rc = parse1(entry, &cfg, err);

    check(rc == 0 && cfg.stack_size == want && cfg.procs == 0, entry, line);
}

static void
expect_debug(const char *entry, int banner, int stats, int blocking, int64_t schedtrace, int line)
{
    struct gr_config cfg;
    char err[ERRCAP];

    poison(&cfg);
    int rc = parse1(entry, &cfg, err);

    check(rc == 0 && cfg.banner == (banner != 0) && cfg.stats == (stats != 0) &&
              cfg.blocking == (blocking != 0) && cfg.schedtrace_ms == schedtrace && cfg.procs == 0,
          entry, line);
}

static void
expect_fs(const char *entry, int fs_syscall, int line)
{
    struct gr_config cfg;
    char err[ERRCAP];

    poison(&cfg);
    int rc = parse1(entry, &cfg, err);

    check(rc == 0 && cfg.fs_syscall == (fs_syscall != 0) && cfg.procs == 0, entry, line);
}

static void
expect_malloc(const char *entry, int malloc_system, int line)
{
    struct gr_config cfg;
    char err[ERRCAP];

    poison(&cfg);
    int rc = parse1(entry, &cfg, err);

    check(rc == 0 && cfg.malloc_system == (malloc_system != 0) && cfg.procs == 0 &&
              cfg.stack_size == 0 && !cfg.banner,
          entry, line);
}

/* entry must be rejected with exactly the message want; cfg must come back as defaults. */
static void
expect_error(const char *entry, const char *want, int line)
{
    struct gr_config cfg;
    char err[ERRCAP];

    poison(&cfg);
    memset(err, CANARY, sizeof(err));
    int rc = parse1(entry, &cfg, err);

    if (rc == -1 && strcmp(err, want) == 0 && is_default(&cfg)) {
        passed++;
        return;
    }
    failed++;
    printf("FAIL line %d: %s\n  rc:   %d\n  got:  %.*s\n  want: %s\n", line, entry, rc, ERRCAP, err,
           want);
}

#define EXPECT_PROCS(e, w)          expect_procs((e), (w), __LINE__)
#define EXPECT_STACK(e, w)          expect_stack((e), (w), __LINE__)
#define EXPECT_DEBUG(e, b, s, k, t) expect_debug((e), (b), (s), (k), (t), __LINE__)
#define EXPECT_ERROR(e, w)          expect_error((e), (w), __LINE__)
#define EXPECT_FS(e, f)             expect_fs((e), (f), __LINE__)
#define EXPECT_MALLOC(e, s)         expect_malloc((e), (s), __LINE__)

static void
test_defaults(void)
{
    struct gr_config cfg;
    char err[ERRCAP];
    const char *empty[1] = { NULL };
    const char *other[] = { "PATH=/bin",        "HOME=/root",          "GREENRUN", "GREENRUN=1",
                            "greenrun_procs=x", "XGREENRUN_PROCS=abc", "",         NULL };

    poison(&cfg);
    CHECK(gr_config_parse(&cfg, NULL, err, sizeof(err)) == 0 && is_default(&cfg));
    poison(&cfg);
    CHECK(parse_env(&cfg, empty, err, sizeof(err)) == 0 && is_default(&cfg));
    poison(&cfg);
    CHECK(parse_env(&cfg, other, err, sizeof(err)) == 0 && is_default(&cfg));

    /* Empty values count as unset. */
    const char *blank[] = { "GREENRUN_PROCS=", "GREENRUN_STACK=", "GREENRUN_DEBUG=",
                            "GREENRUN_MALLOC=", NULL };

    poison(&cfg);
    CHECK(parse_env(&cfg, blank, err, sizeof(err)) == 0 && is_default(&cfg));

    /* The two variables that belong to the test runner and the launcher are accepted. */
    const char *aux[] = { "GREENRUN_TEST_MODE=whatever", "GREENRUN_LIB=/nonexistent/lib.so", NULL };

    poison(&cfg);
    CHECK(parse_env(&cfg, aux, err, sizeof(err)) == 0 && is_default(&cfg));
}

static void
test_procs(void)
{
    EXPECT_PROCS("GREENRUN_PROCS=1", 1);
    EXPECT_PROCS("GREENRUN_PROCS=4", 4);
    EXPECT_PROCS("GREENRUN_PROCS=1024", 1024);
    EXPECT_PROCS("GREENRUN_PROCS=007", 7);
    EXPECT_PROCS("GREENRUN_PROCS=0000000000000000000000000000001", 1);

    static const char *const bad[] = {
        "0",
        "1025",
        "-1",
        "+1",
        " 1",
        "1 ",
        "1.0",
        "0x10",
        "abc",
        "4k",
        "1,2",
        "99999999999999999999999999999999",
        "18446744073709551617",
        "4294967297",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char entry[128], want[256];

        snprintf(entry, sizeof(entry), "GREENRUN_PROCS=%s", bad[i]);
        snprintf(want, sizeof(want), "greenrun: GREENRUN_PROCS=\"%s\": " PROCS_EXPECT, bad[i]);
        EXPECT_ERROR(entry, want);
    }
}

static void
test_stack(void)
{
    EXPECT_STACK("GREENRUN_STACK=16K", 16 * 1024);
    EXPECT_STACK("GREENRUN_STACK=16k", 16 * 1024);
    EXPECT_STACK("GREENRUN_STACK=16384", 16384);
    EXPECT_STACK("GREENRUN_STACK=16385", 16385);
    EXPECT_STACK("GREENRUN_STACK=64K", 64 * 1024);
    EXPECT_STACK("GREENRUN_STACK=8M", 8 * 1024 * 1024);
    EXPECT_STACK("GREENRUN_STACK=8m", 8 * 1024 * 1024);
    EXPECT_STACK("GREENRUN_STACK=1G", (size_t)1 << 30);
    EXPECT_STACK("GREENRUN_STACK=1g", (size_t)1 << 30);
    EXPECT_STACK("GREENRUN_STACK=16G", (size_t)16 << 30);
    EXPECT_STACK("GREENRUN_STACK=16384M", (size_t)16 << 30);
    EXPECT_STACK("GREENRUN_STACK=17179869184", (size_t)16 << 30);
    EXPECT_STACK("GREENRUN_STACK=0064K", 64 * 1024);

    static const char *const bad[] = {
        "12x",
        "0",
        "16383",
        "15K",
        "17G",
        "16385M",
        "17179869185",
        "K",
        "1KK",
        "1KB",
        "1KiB",
        "1T",
        "-64K",
        "+64K",
        " 64K",
        "64K ",
        "64 K",
        "1.5M",
        "0x10000",
        "18446744073709551616",
        "99999999999999999999G",
        "18014398509481984K",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char entry[128], want[256];

        snprintf(entry, sizeof(entry), "GREENRUN_STACK=%s", bad[i]);
        snprintf(want, sizeof(want), "greenrun: GREENRUN_STACK=\"%s\": " STACK_EXPECT, bad[i]);
        EXPECT_ERROR(entry, want);
    }
}

static void
test_debug(void)
{
    EXPECT_DEBUG("GREENRUN_DEBUG=banner", 1, 0, 0, 0);
    EXPECT_DEBUG("GREENRUN_DEBUG=stats", 0, 1, 0, 0);
    EXPECT_DEBUG("GREENRUN_DEBUG=banner,stats", 1, 1, 0, 0);
    EXPECT_DEBUG("GREENRUN_DEBUG=stats,banner,stats", 1, 1, 0, 0);
    EXPECT_DEBUG("GREENRUN_DEBUG=schedtrace=1", 0, 0, 0, 1);
    EXPECT_DEBUG("GREENRUN_DEBUG=schedtrace=1000", 0, 0, 0, 1000);
    EXPECT_DEBUG("GREENRUN_DEBUG=schedtrace=3600000", 0, 0, 0, 3600000);
    EXPECT_DEBUG("GREENRUN_DEBUG=schedtrace=10,schedtrace=20", 0, 0, 0, 20);
    EXPECT_DEBUG("GREENRUN_DEBUG=banner,schedtrace=250,stats", 1, 1, 0, 250);
    EXPECT_DEBUG("GREENRUN_DEBUG=,banner,,stats,", 1, 1, 0, 0);
    EXPECT_DEBUG("GREENRUN_DEBUG=,", 0, 0, 0, 0);
    EXPECT_DEBUG("GREENRUN_DEBUG=blocking", 0, 0, 1, 0);
    EXPECT_DEBUG("GREENRUN_DEBUG=banner,blocking", 1, 0, 1, 0);
    EXPECT_DEBUG("GREENRUN_DEBUG=blocking,stats,schedtrace=5", 0, 1, 1, 5);
    EXPECT_FS("GREENRUN_DEBUG=fs=arch_prctl", 1);
    EXPECT_FS("GREENRUN_DEBUG=banner,fs=arch_prctl,stats", 1);
    EXPECT_FS("GREENRUN_DEBUG=fs=arch_prctl,fs=auto", 0);
    EXPECT_FS("GREENRUN_DEBUG=banner", 0);
    EXPECT_ERROR(
        "GREENRUN_DEBUG=fs=wrfsbase",
        "greenrun: GREENRUN_DEBUG=\"fs=wrfsbase\": unknown item \"fs=wrfsbase\"; " ACCEPTED_DEBUG);

    EXPECT_ERROR("GREENRUN_DEBUG=foo",
                 "greenrun: GREENRUN_DEBUG=\"foo\": unknown item \"foo\"; " ACCEPTED_DEBUG);
    EXPECT_ERROR(
        "GREENRUN_DEBUG=banner,Stats",
        "greenrun: GREENRUN_DEBUG=\"banner,Stats\": unknown item \"Stats\"; " ACCEPTED_DEBUG);
    EXPECT_ERROR("GREENRUN_DEBUG=banner ",
                 "greenrun: GREENRUN_DEBUG=\"banner \": unknown item \"banner \"; " ACCEPTED_DEBUG);
    EXPECT_ERROR(
        "GREENRUN_DEBUG=bannerstats",
        "greenrun: GREENRUN_DEBUG=\"bannerstats\": unknown item \"bannerstats\"; " ACCEPTED_DEBUG);
    EXPECT_ERROR("GREENRUN_DEBUG=block",
                 "greenrun: GREENRUN_DEBUG=\"block\": unknown item \"block\"; " ACCEPTED_DEBUG);
    EXPECT_ERROR(
        "GREENRUN_DEBUG=blocking=1",
        "greenrun: GREENRUN_DEBUG=\"blocking=1\": unknown item \"blocking=1\"; " ACCEPTED_DEBUG);
    EXPECT_ERROR(
        "GREENRUN_DEBUG=schedtrace",
        "greenrun: GREENRUN_DEBUG=\"schedtrace\": unknown item \"schedtrace\"; " ACCEPTED_DEBUG);

    static const char *const bad_ms[] = {
        "schedtrace=",
        "schedtrace=0",
        "schedtrace=3600001",
        "schedtrace=-5",
        "schedtrace=1x",
        "schedtrace=1s",
        "schedtrace=99999999999999999999999",
    };
    for (size_t i = 0; i < sizeof(bad_ms) / sizeof(bad_ms[0]); i++) {
        char entry[128], want[512];

        snprintf(entry, sizeof(entry), "GREENRUN_DEBUG=stats,%s", bad_ms[i]);
        snprintf(want, sizeof(want),
                 "greenrun: GREENRUN_DEBUG=\"stats,%s\": bad value in \"%s\"; " ACCEPTED_DEBUG,
                 bad_ms[i], bad_ms[i]);
        EXPECT_ERROR(entry, want);
    }
}

/* GREENRUN_GC: three words; GREENRUN_GC_REPORT: any path; the leak check needs greenrun's heap. */
static void
test_gc(void)
{
    struct gr_config cfg;
    char err[ERRCAP];
    static const char *const words[] = { "off", "leak", "collect" };
    static const int modes[] = { GR_GC_OFF, GR_GC_LEAK, GR_GC_COLLECT };

    for (int i = 0; i < 3; i++) {
        char entry[64];
        snprintf(entry, sizeof(entry), "GREENRUN_GC=%s", words[i]);
        poison(&cfg);
        CHECK(parse1(entry, &cfg, err) == 0 && cfg.gc == modes[i] && cfg.gc_report == NULL &&
              !cfg.malloc_system);
    }
    poison(&cfg);
    CHECK(parse1("GREENRUN_GC=", &cfg, err) == 0 && cfg.gc == GR_GC_OFF);

    static const char *const bad[] = { "on", "Leak", "LEAK", "1", "0", "leak ", "leaks", "yes" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char entry[64], want[256];
        snprintf(entry, sizeof(entry), "GREENRUN_GC=%s", bad[i]);
        snprintf(want, sizeof(want), "greenrun: GREENRUN_GC=\"%s\": expected off, leak or collect",
                 bad[i]);
        expect_error(entry, want, __LINE__);
    }

    const char *with_report[] = { "GREENRUN_GC=leak", "GREENRUN_GC_REPORT=/tmp/leaks.json", NULL };
    poison(&cfg);
    CHECK(parse_env(&cfg, with_report, err, sizeof(err)) == 0 && cfg.gc == GR_GC_LEAK &&
          cfg.gc_report != NULL && strcmp(cfg.gc_report, "/tmp/leaks.json") == 0);

    static char long_path[4200];
    memset(long_path, 'a', sizeof(long_path) - 1);
    memcpy(long_path, "GREENRUN_GC_REPORT=", 19);
    const char *too_long[] = { long_path, NULL };
    poison(&cfg);
    CHECK(parse_env(&cfg, too_long, err, sizeof(err)) == -1 && is_default(&cfg) &&
          strstr(err, "expected a file path shorter than 4096 bytes") != NULL);

    /* GREENRUN_GC_PERCENT: 1 to 100000, or off; GREENRUN_DEBUG=gctrace. */
    poison(&cfg);
    CHECK(parse1("GREENRUN_GC_PERCENT=50", &cfg, err) == 0 && cfg.gc_percent == 50);
    poison(&cfg);
    CHECK(parse1("GREENRUN_GC_PERCENT=100000", &cfg, err) == 0 && cfg.gc_percent == 100000);
    poison(&cfg);
    CHECK(parse1("GREENRUN_GC_PERCENT=off", &cfg, err) == 0 && cfg.gc_percent == -1);
    poison(&cfg);
    CHECK(parse1("GREENRUN_GC_PERCENT=", &cfg, err) == 0 && cfg.gc_percent == 0);
    poison(&cfg);
    CHECK(parse1("GREENRUN_DEBUG=gctrace", &cfg, err) == 0 && cfg.gctrace);
    static const char *const bad_percent[] = { "0", "100001", "-1", "Off", "50%", "1e3", "x" };
    for (size_t i = 0; i < sizeof(bad_percent) / sizeof(bad_percent[0]); i++) {
        char entry[64], want[256];
        snprintf(entry, sizeof(entry), "GREENRUN_GC_PERCENT=%s", bad_percent[i]);
        snprintf(want, sizeof(want),
                 "greenrun: GREENRUN_GC_PERCENT=\"%s\": expected an integer from 1 to 100000, "
                 "or off",
                 bad_percent[i]);
        expect_error(entry, want, __LINE__);
    }

    const char *with_system[] = { "GREENRUN_GC=leak", "GREENRUN_MALLOC=system", NULL };
    poison(&cfg);
    CHECK(parse_env(&cfg, with_system, err, sizeof(err)) == -1 && is_default(&cfg) &&
          strcmp(err, "greenrun: GREENRUN_GC=leak needs greenrun's allocator; accepted with "
                      "GREENRUN_MALLOC=system: GREENRUN_GC=off") == 0);
}

static void
test_quit(void)
{
    static const char *const bad[] = { "Dump", "EXIT", "abort", "core", "dump,exit", "1", "on" };
    struct gr_config cfg;
    char err[ERRCAP];

    poison(&cfg);
    CHECK(parse1("GREENRUN_QUIT=exit", &cfg, err) == 0 && cfg.quit_exit);
    poison(&cfg);
    CHECK(parse1("GREENRUN_QUIT=dump", &cfg, err) == 0 && is_default(&cfg));
    poison(&cfg);
    CHECK(parse1("GREENRUN_QUIT=", &cfg, err) == 0 && is_default(&cfg));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char entry[128], want[256];

        snprintf(entry, sizeof(entry), "GREENRUN_QUIT=%s", bad[i]);
        snprintf(want, sizeof(want), "greenrun: GREENRUN_QUIT=\"%s\": " QUIT_EXPECT, bad[i]);
        EXPECT_ERROR(entry, want);
    }
}

static void
test_malloc(void)
{
    EXPECT_MALLOC("GREENRUN_MALLOC=greenrun", 0);
    EXPECT_MALLOC("GREENRUN_MALLOC=system", 1);
    EXPECT_MALLOC("GREENRUN_MALLOC=", 0);

    static const char *const bad[] = {
        "glibc", "System",  "SYSTEM",    "Greenrun", "system ", " system", "systemd", "sys",
        "green", "default", "greenrun,", "jemalloc", "0",       "1",       "on",      "off",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char entry[128], want[256];

        snprintf(entry, sizeof(entry), "GREENRUN_MALLOC=%s", bad[i]);
        snprintf(want, sizeof(want), "greenrun: GREENRUN_MALLOC=\"%s\": " MALLOC_EXPECT, bad[i]);
        EXPECT_ERROR(entry, want);
    }
    EXPECT_ERROR("GREENRUN_MALLOC=sys\ttem",
                 "greenrun: GREENRUN_MALLOC=\"sys\\x09tem\": " MALLOC_EXPECT);

    /* Beside the other variables, and after one of them in envp. */
    struct gr_config cfg;
    char err[ERRCAP];
    const char *mixed[] = { "GREENRUN_PROCS=2", "GREENRUN_MALLOC=system", "GREENRUN_DEBUG=stats",
                            NULL };

    poison(&cfg);
    CHECK(parse_env(&cfg, mixed, err, sizeof(err)) == 0 && cfg.malloc_system && cfg.procs == 2 &&
          cfg.stats);

    /* The first entry wins, as with getenv(): a later bad one is not parsed. */
    const char *dup[] = { "GREENRUN_MALLOC=system", "GREENRUN_MALLOC=bogus", NULL };

    poison(&cfg);
    CHECK(parse_env(&cfg, dup, err, sizeof(err)) == 0 && cfg.malloc_system);

    /* A bad value drops the whole configuration back to the defaults. */
    const char *bad_after[] = { "GREENRUN_MALLOC=system", "GREENRUN_PROCS=0", NULL };

    poison(&cfg);
    CHECK(parse_env(&cfg, bad_after, err, sizeof(err)) == -1 && is_default(&cfg));
}

static void
test_trace(void)
{
    const char *good[] = { "/tmp/t.json", "t.json", "/tmp/t.%p.json", "/tmp/100%%", "%p" };
    struct gr_config cfg;
    char entry[128], want[256], err[ERRCAP];

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(entry, sizeof(entry), "GREENRUN_TRACE=%s", good[i]);
        poison(&cfg);
        CHECK(parse1(entry, &cfg, err) == 0 && cfg.trace != NULL &&
              strcmp(cfg.trace, good[i]) == 0 && cfg.procs == 0);
    }
    poison(&cfg);
    CHECK(parse1("GREENRUN_TRACE=", &cfg, err) == 0 && cfg.trace == NULL);

    const char *bad[] = { "/tmp/", "/tmp/t%", "/tmp/t%d.json", "%P", "a%%%" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(entry, sizeof(entry), "GREENRUN_TRACE=%s", bad[i]);
        snprintf(want, sizeof(want), "greenrun: GREENRUN_TRACE=\"%s\": %s", bad[i], TRACE_EXPECT);
        EXPECT_ERROR(entry, want);
    }

    /* 4000 bytes are accepted, 4001 are not (the value is cut at 64 in the message). */
    static char path[4100];
    memcpy(path, "GREENRUN_TRACE=", 15);
    memset(path + 15, 'a', 4000);
    poison(&cfg);
    CHECK(parse1(path, &cfg, err) == 0 && cfg.trace != NULL && strlen(cfg.trace) == 4000);
    path[15 + 4000] = 'a';
    poison(&cfg);
    CHECK(parse1(path, &cfg, err) == -1 && is_default(&cfg) &&
          strstr(err, "GREENRUN_TRACE=\"aaaa") != NULL && strstr(err, TRACE_EXPECT) != NULL);
}

static void
test_names(void)
{
    EXPECT_ERROR("GREENRUN_PROSC=4",
                 "greenrun: GREENRUN_PROSC: unknown variable; accepted: GREENRUN_PROCS, "
                 "GREENRUN_STACK, GREENRUN_DEBUG, GREENRUN_MALLOC, GREENRUN_REPORT, "
                 "GREENRUN_TRACE, GREENRUN_QUIT, GREENRUN_GC, GREENRUN_GC_REPORT, "
                 "GREENRUN_GC_PERCENT");
    EXPECT_ERROR("GREENRUN_procs=4",
                 "greenrun: GREENRUN_procs: unknown variable; accepted: GREENRUN_PROCS, "
                 "GREENRUN_STACK, GREENRUN_DEBUG, GREENRUN_MALLOC, GREENRUN_REPORT, "
                 "GREENRUN_TRACE, GREENRUN_QUIT, GREENRUN_GC, GREENRUN_GC_REPORT, "
                 "GREENRUN_GC_PERCENT");
    EXPECT_ERROR("GREENRUN_=4", "greenrun: GREENRUN_: unknown variable; accepted: GREENRUN_PROCS, "
                                "GREENRUN_STACK, GREENRUN_DEBUG, GREENRUN_MALLOC, GREENRUN_REPORT, "
                                "GREENRUN_TRACE, GREENRUN_QUIT, GREENRUN_GC, GREENRUN_GC_REPORT, "
                                "GREENRUN_GC_PERCENT");
    EXPECT_ERROR("GREENRUN_PROCSS=",
                 "greenrun: GREENRUN_PROCSS: unknown variable; accepted: GREENRUN_PROCS, "
                 "GREENRUN_STACK, GREENRUN_DEBUG, GREENRUN_MALLOC, GREENRUN_REPORT, "
                 "GREENRUN_TRACE, GREENRUN_QUIT, GREENRUN_GC, GREENRUN_GC_REPORT, "
                 "GREENRUN_GC_PERCENT");
    EXPECT_ERROR("GREENRUN_PROC",
                 "greenrun: GREENRUN_PROC: unknown variable; accepted: GREENRUN_PROCS, "
                 "GREENRUN_STACK, GREENRUN_DEBUG, GREENRUN_MALLOC, GREENRUN_REPORT, "
                 "GREENRUN_TRACE, GREENRUN_QUIT, GREENRUN_GC, GREENRUN_GC_REPORT, "
                 "GREENRUN_GC_PERCENT");
    EXPECT_ERROR("GREENRUN_ALLOC=system",
                 "greenrun: GREENRUN_ALLOC: unknown variable; accepted: GREENRUN_PROCS, "
                 "GREENRUN_STACK, GREENRUN_DEBUG, GREENRUN_MALLOC, GREENRUN_REPORT, "
                 "GREENRUN_TRACE, GREENRUN_QUIT, GREENRUN_GC, GREENRUN_GC_REPORT, "
                 "GREENRUN_GC_PERCENT");
    EXPECT_ERROR("GREENRUN_malloc=system",
                 "greenrun: GREENRUN_malloc: unknown variable; accepted: GREENRUN_PROCS, "
                 "GREENRUN_STACK, GREENRUN_DEBUG, GREENRUN_MALLOC, GREENRUN_REPORT, "
                 "GREENRUN_TRACE, GREENRUN_QUIT, GREENRUN_GC, GREENRUN_GC_REPORT, "
                 "GREENRUN_GC_PERCENT");
    EXPECT_ERROR("GREENRUN_GCX=leak",
                 "greenrun: GREENRUN_GCX: unknown variable; accepted: GREENRUN_PROCS, "
                 "GREENRUN_STACK, GREENRUN_DEBUG, GREENRUN_MALLOC, GREENRUN_REPORT, "
                 "GREENRUN_TRACE, GREENRUN_QUIT, GREENRUN_GC, GREENRUN_GC_REPORT, "
                 "GREENRUN_GC_PERCENT");
    EXPECT_ERROR("GREENRUN_\x01\xff=1",
                 "greenrun: GREENRUN_\\x01\\xff: unknown variable; accepted: GREENRUN_PROCS, "
                 "GREENRUN_STACK, GREENRUN_DEBUG, GREENRUN_MALLOC, GREENRUN_REPORT, "
                 "GREENRUN_TRACE, GREENRUN_QUIT, GREENRUN_GC, GREENRUN_GC_REPORT, "
                 "GREENRUN_GC_PERCENT");
}

static void
test_whole_env(void)
{
    struct gr_config cfg;
    char err[ERRCAP];

    /* All three at once, among unrelated variables. */
    const char *all[] = { "PATH=/bin",
                          "GREENRUN_PROCS=3",
                          "LANG=C",
                          "GREENRUN_STACK=256K",
                          "GREENRUN_DEBUG=banner,schedtrace=500",
                          "GREENRUN_MALLOC=system",
                          "GREENRUN_TEST_MODE=1",
                          NULL };

    poison(&cfg);
    CHECK(parse_env(&cfg, all, err, sizeof(err)) == 0);
    CHECK(cfg.procs == 3 && cfg.stack_size == 256 * 1024 && cfg.banner && !cfg.stats &&
          cfg.schedtrace_ms == 500 && cfg.malloc_system);

    /* The first entry of a name wins, as with getenv(); later duplicates are not parsed. */
    const char *dup[] = { "GREENRUN_PROCS=2", "GREENRUN_PROCS=bogus", NULL };

    poison(&cfg);
    CHECK(parse_env(&cfg, dup, err, sizeof(err)) == 0 && cfg.procs == 2);

    /* An empty first entry hides a later one, as with getenv(). */
    const char *dup_empty[] = { "GREENRUN_PROCS=", "GREENRUN_PROCS=5", NULL };

    poison(&cfg);
    CHECK(parse_env(&cfg, dup_empty, err, sizeof(err)) == 0 && cfg.procs == 0);

    /* An entry without '=' is not a value (getenv cannot see it) and hides nothing. */
    const char *noeq[] = { "GREENRUN_PROCS", "GREENRUN_PROCS=6", NULL };

    poison(&cfg);
    CHECK(parse_env(&cfg, noeq, err, sizeof(err)) == 0 && cfg.procs == 6);

    /* The first error in envp order is the one reported; cfg returns to the defaults. */
    const char *two_bad[] = { "GREENRUN_PROCS=8", "GREENRUN_STACK=1", "GREENRUN_PROSC=1", NULL };

    poison(&cfg);
    CHECK(parse_env(&cfg, two_bad, err, sizeof(err)) == -1 && is_default(&cfg));
    CHECK(strcmp(err, "greenrun: GREENRUN_STACK=\"1\": " STACK_EXPECT) == 0);

    /* On success err holds no message, but it is still a valid (empty) string. */
    memset(err, CANARY, sizeof(err));
    CHECK(parse_env(&cfg, all, err, sizeof(err)) == 0 && err[0] == '\0');
}

static void
test_escaping(void)
{
    EXPECT_ERROR("GREENRUN_PROCS=1\x01\x7f\x80\xff",
                 "greenrun: GREENRUN_PROCS=\"1\\x01\\x7f\\x80\\xff\": " PROCS_EXPECT);
    EXPECT_ERROR("GREENRUN_PROCS=a\tb\nc",
                 "greenrun: GREENRUN_PROCS=\"a\\x09b\\x0ac\": " PROCS_EXPECT);
    EXPECT_ERROR("GREENRUN_PROCS=\"4\"", "greenrun: GREENRUN_PROCS=\"\\\"4\\\"\": " PROCS_EXPECT);
    EXPECT_ERROR("GREENRUN_PROCS=a\\b", "greenrun: GREENRUN_PROCS=\"a\\\\b\": " PROCS_EXPECT);
    EXPECT_ERROR("GREENRUN_DEBUG=banner,\x1b[31m", "greenrun: GREENRUN_DEBUG=\"banner,\\x1b[31m\": "
                                                   "unknown item \"\\x1b[31m\"; " ACCEPTED_DEBUG);

    /* Values longer than 64 bytes: the first 64, then "...". Exactly 64: no "...". */
    char v64[65], v65[66], v200[201];
    char entry[300], want[400];

    memset(v64, '7', 64);
    v64[64] = '\0';
    memset(v65, '7', 65);
    v65[65] = '\0';
    memset(v200, 'z', 200);
    v200[200] = '\0';

    snprintf(entry, sizeof(entry), "GREENRUN_PROCS=%s", v64);
    snprintf(want, sizeof(want), "greenrun: GREENRUN_PROCS=\"%s\": " PROCS_EXPECT, v64);
    EXPECT_ERROR(entry, want);

    snprintf(entry, sizeof(entry), "GREENRUN_PROCS=%s", v65);
    snprintf(want, sizeof(want), "greenrun: GREENRUN_PROCS=\"%s...\": " PROCS_EXPECT, v64);
    EXPECT_ERROR(entry, want);

    snprintf(entry, sizeof(entry), "GREENRUN_DEBUG=%s", v200);
    snprintf(want, sizeof(want),
             "greenrun: GREENRUN_DEBUG=\"%.64s...\": unknown item \"%.64s...\"; " ACCEPTED_DEBUG,
             v200, v200);
    EXPECT_ERROR(entry, want);

    /* 64 bytes that each need an escape: the limit counts input bytes, not output. */
    char ctl[70];

    memset(ctl, 0x01, 66);
    ctl[66] = '\0';
    snprintf(entry, sizeof(entry), "GREENRUN_STACK=%s", ctl);
    strcpy(want, "greenrun: GREENRUN_STACK=\"");
    for (int i = 0; i < 64; i++)
        strcat(want, "\\x01");
    strcat(want, "...\": " STACK_EXPECT);
    EXPECT_ERROR(entry, want);

    /* A long unknown name is cut the same way. */
    snprintf(entry, sizeof(entry), "GREENRUN_%s=1", v200);
    snprintf(want, sizeof(want),
             "greenrun: GREENRUN_%.55s...: unknown variable; accepted: GREENRUN_PROCS, "
             "GREENRUN_STACK, GREENRUN_DEBUG, GREENRUN_MALLOC, GREENRUN_REPORT, "
             "GREENRUN_TRACE, GREENRUN_QUIT, GREENRUN_GC, GREENRUN_GC_REPORT, "
             "GREENRUN_GC_PERCENT",
             v200);
    EXPECT_ERROR(entry, want);
}

/*
 * For every errlen from 0 to past the full length: nothing is written at or past errlen, the
 * result is NUL-terminated, a prefix of the full message, and never ends inside an escape
 * (so it is at most 3 bytes shorter than errlen - 1).
 */
static void
test_truncation(void)
{
    static const char *const entries[] = {
        "GREENRUN_PROCS=abc",
        "GREENRUN_STACK=\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c",
        "GREENRUN_DEBUG=banner,\"quoted\\\"",
        "GREENRUN_PROSC=1",
    };

    for (size_t e = 0; e < sizeof(entries) / sizeof(entries[0]); e++) {
        struct gr_config cfg;
        char full[ERRCAP];

        CHECK(parse1(entries[e], &cfg, full) == -1);

        size_t flen = strlen(full);
        int bad = 0;

        for (size_t cap = 0; cap <= flen + 4; cap++) {
            char buf[ERRCAP + 16];
            const char *env[2] = { entries[e], NULL };

            memset(buf, CANARY, sizeof(buf));
            if (parse_env(&cfg, env, buf, cap) != -1)
                bad++;
            for (size_t i = cap; i < sizeof(buf); i++) {
                if ((unsigned char)buf[i] != CANARY) {
                    bad++;
                    break;
                }
            }
            if (cap == 0)
                continue;

            size_t len = strnlen(buf, cap);
            size_t want_max = cap - 1 < flen ? cap - 1 : flen;

            if (len == cap || len > want_max || len + 3 < want_max || strncmp(buf, full, len) != 0)
                bad++;
            if (cap > flen && strcmp(buf, full) != 0)
                bad++;
        }
        check(bad == 0, entries[e], __LINE__);
    }

    /* NULL err, or errlen 0, must still fail cleanly. */
    struct gr_config cfg;
    const char *env[2] = { "GREENRUN_PROCS=0", NULL };
    char one = CANARY;

    CHECK(parse_env(&cfg, env, NULL, 0) == -1);
    CHECK(parse_env(&cfg, env, NULL, 100) == -1);
    CHECK(parse_env(&cfg, env, &one, 0) == -1 && (unsigned char)one == CANARY);
    CHECK(parse_env(&cfg, env, &one, 1) == -1 && one == '\0');
}

/* The four messages quoted in the project brief, byte for byte (the list of GREENRUN_DEBUG
 * words has grown by "blocking", "blocking=live" and "threshold=" since, and the list of
 * variables by GREENRUN_MALLOC and GREENRUN_REPORT), and the
 * one of GREENRUN_MALLOC. */
static void
test_documented_messages(void)
{
    EXPECT_ERROR("GREENRUN_PROCS=abc",
                 "greenrun: GREENRUN_PROCS=\"abc\": expected an integer from 1 to 1024");
    EXPECT_ERROR("GREENRUN_STACK=12x",
                 "greenrun: GREENRUN_STACK=\"12x\": expected a size from 16K to 16G, like 64K, "
                 "8M or 1G");
    EXPECT_ERROR("GREENRUN_DEBUG=foo",
                 "greenrun: GREENRUN_DEBUG=\"foo\": unknown item \"foo\"; accepted: banner, "
                 "stats, blocking, blocking=live, threshold=TIME (1us to 1h, like 500us, 10ms or "
                 "2s), schedtrace=MS (MS from 1 to 3600000), fs=arch_prctl, fs=auto, gctrace");
    EXPECT_ERROR("GREENRUN_PROSC=1",
                 "greenrun: GREENRUN_PROSC: unknown variable; accepted: GREENRUN_PROCS, "
                 "GREENRUN_STACK, GREENRUN_DEBUG, GREENRUN_MALLOC, GREENRUN_REPORT, "
                 "GREENRUN_TRACE, GREENRUN_QUIT, GREENRUN_GC, GREENRUN_GC_REPORT, "
                 "GREENRUN_GC_PERCENT");
    EXPECT_ERROR("GREENRUN_MALLOC=glibc",
                 "greenrun: GREENRUN_MALLOC=\"glibc\": expected greenrun or system");
}

/* The blocking profile's items and GREENRUN_REPORT. */
static void
test_blocking_profile(void)
{
    struct gr_config cfg;
    char err[ERRCAP];
    const char *live[] = { "GREENRUN_DEBUG=blocking=live,threshold=250us", NULL };
    const char *plain[] = { "GREENRUN_DEBUG=blocking", NULL };
    const char *report[] = { "GREENRUN_REPORT=/tmp/x.json", NULL };
    static const struct {
        const char *item;
        int64_t ns;
    } good[] = {
        { "threshold=1us", 1000 },
        { "threshold=10ms", 10000000 },
        { "threshold=2s", 2000000000 },
        { "threshold=3600s", 3600000000000LL },
        { "threshold=3600000ms", 3600000000000LL },
    };
    static const char *const bad[] = {
        "threshold=",   "threshold=0ms",   "threshold=10",   "threshold=10 ms", "threshold=ms",
        "threshold=5m", "threshold=3601s", "threshold=-1ms", "threshold=1.5ms", "blocking=yes",
    };

    poison(&cfg);
    CHECK(parse_env(&cfg, live, err, sizeof(err)) == 0 && cfg.blocking && cfg.blocking_live &&
          cfg.live_threshold_ns == 250000 && cfg.report_path == NULL);
    poison(&cfg);
    CHECK(parse_env(&cfg, plain, err, sizeof(err)) == 0 && cfg.blocking && !cfg.blocking_live &&
          cfg.live_threshold_ns == 0);
    poison(&cfg);
    CHECK(parse_env(&cfg, report, err, sizeof(err)) == 0 && !cfg.blocking &&
          cfg.report_path != NULL && strcmp(cfg.report_path, "/tmp/x.json") == 0);
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char entry[128];
        const char *env[2] = { entry, NULL };

        snprintf(entry, sizeof(entry), "GREENRUN_DEBUG=%s", good[i].item);
        poison(&cfg);
        check(parse_env(&cfg, env, err, sizeof(err)) == 0 && cfg.live_threshold_ns == good[i].ns,
              good[i].item, __LINE__);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char entry[128], want[512];

        snprintf(entry, sizeof(entry), "GREENRUN_DEBUG=%s", bad[i]);
        snprintf(want, sizeof(want), "greenrun: GREENRUN_DEBUG=\"%s\": %s \"%s\"; " ACCEPTED_DEBUG,
                 bad[i],
                 strchr(bad[i], '=') != NULL && strncmp(bad[i], "threshold=", 10) == 0 ?
                     "bad value in" :
                     "unknown item",
                 bad[i]);
        EXPECT_ERROR(entry, want);
    }
}

int
main(void)
{
    test_defaults();
    test_procs();
    test_stack();
    test_debug();
    test_malloc();
    test_quit();
    test_blocking_profile();
    test_trace();
    test_gc();
    test_names();
    test_whole_env();
    test_escaping();
    test_truncation();
    test_documented_messages();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
