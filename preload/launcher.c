/*
 * preload/launcher.c: the greenrun program.
 *
 *     greenrun [--procs N] [--stack SIZE] [--debug LIST] [--malloc greenrun|system]
 *              [--trace FILE] [--quit dump|exit] [--gc off|leak|collect]
 *              [--gc-percent N|off] [--gc-report PATH] [--] PROGRAM [ARGS...]
 *     greenrun trace summarize FILE
 *     greenrun dump|report PID, greenrun top PID [-n COUNT] [-d SECONDS], greenrun ps
 *
 * It turns its options into GREENRUN_* variables, checks the whole resulting environment with
 * the runtime's own parser (so a bad value is refused here, with the runtime's message, before
 * the program starts), puts libgreenrun.so in front of LD_PRELOAD and execs the program.
 *
 * This is an ordinary program, not part of the preload: stdio, malloc and getenv are fine.
 *
 * Exit status when greenrun itself fails (as env(1) and the shells do): 2 for bad usage or a
 * bad value, 126 when the program was found but cannot be run, 127 when it (or the library)
 * was not found.
 *
 * `greenrun trace summarize FILE` reads a trace GREENRUN_TRACE wrote (trace_summary.c); dump,
 * report, top and ps talk to running programs (control_client.c). A program named like one of
 * them runs with `greenrun -- NAME`.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "preload/config.h"
#include "preload/control_client.h"
#include "preload/trace_summary.h"

#ifndef GR_VERSION
#define GR_VERSION "0.1.0"
#endif

#define LIB_NAME        "libgreenrun.so"
#define EXIT_USAGE      2
#define EXIT_CANNOT_RUN 126
#define EXIT_NOT_FOUND  127

/*
 * Where the library may be, relative to the directory of this program, in the order tried.
 * The first is the build tree (build/greenrun beside build/libgreenrun.so). The others serve an
 * installed launcher in BINDIR: make install's default LIBDIR ($(PREFIX)/lib), a Debian
 * multiarch LIBDIR ($(PREFIX)/lib/TRIPLET; the Makefile passes the compiler's triplet as
 * GR_MULTIARCH), and the private ../lib/greenrun that the launcher searched before make
 * install existed.
 */
#ifdef GR_MULTIARCH
#define MULTIARCH_PATH "../lib/" GR_MULTIARCH "/" LIB_NAME,
#define MULTIARCH_HELP "  ../lib/" GR_MULTIARCH "/" LIB_NAME "\n"
#else
#define MULTIARCH_PATH
#define MULTIARCH_HELP
#endif

static const char *const lib_paths[] = {
    LIB_NAME,
    "../lib/" LIB_NAME,
    MULTIARCH_PATH "../lib/greenrun/" LIB_NAME,
};

#define N_LIB_PATHS (sizeof(lib_paths) / sizeof(lib_paths[0]))

extern char **environ;

/* One command-line option and the variable it sets. */
struct option_var {
    const char *long_name; /* "--procs" */
    char short_name;       /* 'p', or 0 */
    const char *var;       /* "GREENRUN_PROCS" */
};

static const struct option_var option_vars[] = {
    { "--procs", 'p', "GREENRUN_PROCS" },
    { "--stack", 0, "GREENRUN_STACK" },
    { "--debug", 0, "GREENRUN_DEBUG" },
    { "--malloc", 0, "GREENRUN_MALLOC" },
    { "--trace", 0, "GREENRUN_TRACE" },
    { "--quit", 0, "GREENRUN_QUIT" },
    { "--gc", 0, "GREENRUN_GC" },
    { "--gc-report", 0, "GREENRUN_GC_REPORT" },
    { "--gc-percent", 0, "GREENRUN_GC_PERCENT" },
};

#define N_OPTION_VARS (sizeof(option_vars) / sizeof(option_vars[0]))

static void
print_usage(FILE *f)
{
    fputs("usage: greenrun [OPTIONS] [--] PROGRAM [ARGS...]\n"
          "       greenrun trace summarize FILE\n"
          "       greenrun dump PID | report PID | top PID [-n COUNT] [-d SECONDS] | ps\n",
          f);
}

static void
print_help(void)
{
    print_usage(stdout);
    fputs("\n"
          "Run PROGRAM with every pthread as a green thread (libgreenrun.so preloaded).\n"
          "\n"
          "Options (each sets a variable that the runtime reads at start-up):\n"
          "  -p, --procs N       GREENRUN_PROCS: number of Ps, the OS threads that run\n"
          "                      green threads in parallel; 1 to 1024\n"
          "                      (default: the CPUs available to the process)\n"
          "      --stack SIZE    GREENRUN_STACK: default stack size of a thread whose\n"
          "                      attributes set none; 16K to 16G, with an optional\n"
          "                      K, M or G suffix (powers of 1024), like 64K, 8M or 1G\n"
          "                      (default: like native threads, RLIMIT_STACK or 8M)\n"
          "      --debug LIST    GREENRUN_DEBUG: comma-separated list of\n"
          "                        banner          print \"greenrun: active ...\" at start-up\n"
          "                        stats           print scheduler counters at exit\n"
          "                        blocking        print, at exit, the blocking profile:\n"
          "                                        the calls that held an OS thread\n"
          "                        blocking=live   the same, and a line the moment a call\n"
          "                                        holds one past the threshold\n"
          "                        threshold=TIME  that threshold, like 500us, 10ms or 2s\n"
          "                                        (1us to 1h; default 10ms)\n"
          "                        schedtrace=MS   print scheduler state every MS\n"
          "                                        milliseconds (1 to 3600000)\n"
          "                        fs=arch_prctl   switch threads' TLS with the arch_prctl\n"
          "                                        system call even where the CPU offers\n"
          "                                        wrfsbase (fs=auto: the default)\n"
          "                        gctrace         with --gc collect, a line per\n"
          "                                        collection on stderr\n"
          "      --malloc WHICH  GREENRUN_MALLOC: the allocator behind malloc and free;\n"
          "                        greenrun        greenrun's own (size classes, per-P\n"
          "                                        caches); the default\n"
          "                        system          glibc's malloc, for comparison and as\n"
          "                                        an escape hatch\n"
          "      --trace FILE    GREENRUN_TRACE: write the scheduler's timeline to FILE,\n"
          "                      a new file (%p in the name stands for the process id),\n"
          "                      in the trace-event JSON format Perfetto and\n"
          "                      chrome://tracing load\n"
          "      --quit WHAT     GREENRUN_QUIT: what SIGQUIT does while the program leaves\n"
          "                      it at its default;\n"
          "                        dump            print every thread (state, wait reason,\n"
          "                                        backtrace) to stderr and keep running;\n"
          "                                        the default\n"
          "                        exit            print them, then exit with status 2\n"
          "      --gc MODE       GREENRUN_GC: what happens to memory the program loses\n"
          "                        off             nothing; the default\n"
          "                        leak            at exit, report the objects no longer\n"
          "                                        reachable, by allocation stack\n"
          "                        collect         leak, and free them while the program\n"
          "                                        runs (collections)\n"
          "      --gc-percent N  GREENRUN_GC_PERCENT: with --gc collect, collect when the\n"
          "                      heap has grown N percent over the live heap (1 to\n"
          "                      100000; default 100); off: never\n"
          "      --gc-report PATH\n"
          "                      GREENRUN_GC_REPORT: also write the leak report as JSON\n"
          "                      to PATH, a new file (never overwritten)\n"
          "  -h, --help          print this help and exit\n"
          "      --version       print the version and exit\n"
          "\n"
          "Options also take the form --procs=N. A value given as an option replaces the\n"
          "variable inherited from the environment; other GREENRUN_* variables are kept and\n"
          "checked too (an unknown GREENRUN_* name is an error, to catch typos), such as\n"
          "GREENRUN_REPORT=PATH, which writes the blocking profile as JSON to PATH at exit.\n"
          "Every variable is described in greenrun(1).\n"
          "\n"
          "The library is GREENRUN_LIB if set, else the first of these that exists,\n"
          "relative to the directory of this program (symbolic links resolved):\n"
          "  " LIB_NAME " (the build tree)\n"
          "  ../lib/" LIB_NAME "\n" MULTIARCH_HELP "  ../lib/greenrun/" LIB_NAME "\n"
          "It is put first in LD_PRELOAD; entries already there are kept.\n"
          "\n"
          "Commands for a program already running under greenrun (same user, or root):\n"
          "  dump PID            every thread: state, wait reason, time in it, backtrace\n"
          "  report PID          the blocking profile so far (GREENRUN_DEBUG=blocking)\n"
          "  top PID             threads by state, run queues, OS threads, switch and\n"
          "                      steal rates; -n COUNT refreshes, -d SECONDS apart (1)\n"
          "  ps                  the greenrun processes of this user\n"
          "A program named like a command runs with 'greenrun -- NAME'.\n"
          "\n"
          "Exit status: PROGRAM's, or 2 for a usage error or a bad value, 126 if PROGRAM\n"
          "cannot be executed, 127 if PROGRAM or the library is not found.\n"
          "\n"
          "greenrun trace summarize FILE prints the top facts of a trace: scheduling\n"
          "latency (ready to running), the longest calls in syscall mode and handoffs,\n"
          "parks by reason, and runs and busy time per M. A program named trace runs\n"
          "with greenrun -- trace.\n",
          stdout);
}

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* A one-line complaint about the command line, then the usage; exits 2. */
static void
usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("greenrun: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    print_usage(stderr);
    fputs("Try 'greenrun --help' for more information.\n", stderr);
    exit(EXIT_USAGE);
}

static void
set_var(const char *name, const char *value)
{
    if (setenv(name, value, 1) != 0) {
        fprintf(stderr, "greenrun: cannot set %s: %s\n", name, strerror(errno));
        exit(EXIT_USAGE);
    }
}

/*
 * If argv[*i] is one of the value options, set its variable, advance *i past the value and
 * return 1. Accepted: --name VALUE, --name=VALUE, -c VALUE, -cVALUE.
 */
static int
take_option_var(int argc, char **argv, int *i)
{
    const char *arg = argv[*i];

    for (size_t k = 0; k < N_OPTION_VARS; k++) {
        const struct option_var *ov = &option_vars[k];
        size_t n = strlen(ov->long_name);
        const char *value;

        if (strncmp(arg, ov->long_name, n) == 0 && arg[n] == '=') {
            value = arg + n + 1;
        } else if (strcmp(arg, ov->long_name) == 0 ||
                   (ov->short_name != 0 && arg[0] == '-' && arg[1] == ov->short_name &&
                    arg[2] == '\0')) {
            if (*i + 1 >= argc)
                usage_error("option '%s' needs a value", arg);
            *i += 1;
            value = argv[*i];
        } else if (ov->short_name != 0 && arg[0] == '-' && arg[1] == ov->short_name) {
            value = arg + 2;
        } else {
            continue;
        }
        /* An empty value would read as "unset" and silently do nothing: refuse it. */
        if (value[0] == '\0')
            usage_error("option '%s' needs a non-empty value", ov->long_name);
        set_var(ov->var, value);
        return 1;
    }
    return 0;
}

/* Returns a malloc'd "dir/rel", or exits when out of memory. */
static char *
join_path(const char *dir, const char *rel)
{
    size_t dlen = strlen(dir), rlen = strlen(rel);
    char *p = malloc(dlen + 1 + rlen + 1);

    if (p == NULL) {
        fputs("greenrun: out of memory\n", stderr);
        exit(EXIT_NOT_FOUND);
    }
    memcpy(p, dir, dlen);
    p[dlen] = '/';
    memcpy(p + dlen + 1, rel, rlen + 1);
    return p;
}

/*
 * Candidate path -> absolute canonical path of an existing regular file, or NULL.
 * The result must be absolute: ld.so looks a slash-less LD_PRELOAD entry up in the library
 * search path, not in the current directory.
 */
static char *
usable_lib(const char *path)
{
    struct stat st;
    char *abs = realpath(path, NULL);

    if (abs == NULL)
        return NULL;

    int e = stat(abs, &st) != 0 ? errno : S_ISREG(st.st_mode) ? 0 : EISDIR;

    if (e != 0) {
        free(abs);
        errno = e; /* find_lib names the reason */
        return NULL;
    }
    return abs;
}

/* The directory this program lives in (from /proc/self/exe), malloc'd; NULL if unknown. */
static char *
self_dir(void)
{
    char *exe = realpath("/proc/self/exe", NULL);
    char *slash;

    if (exe == NULL)
        return NULL;
    slash = strrchr(exe, '/');
    if (slash == NULL) {
        free(exe);
        return NULL;
    }
    if (slash == exe)
        slash[1] = '\0'; /* the program is in "/" */
    else
        slash[0] = '\0';
    return exe;
}

/* Find libgreenrun.so: GREENRUN_LIB, else lib_paths in order; exits 127 naming the paths tried. */
static char *
find_lib(void)
{
    const char *env = getenv("GREENRUN_LIB");
    char *found;

    if (env != NULL && env[0] != '\0') {
        found = usable_lib(env);
        if (found == NULL) {
            fprintf(stderr, "greenrun: library not found: GREENRUN_LIB=%s: %s\n", env,
                    errno == EISDIR ? "not a regular file" : strerror(errno));
            exit(EXIT_NOT_FOUND);
        }
        return found;
    }

    char *dir = self_dir();

    if (dir == NULL) {
        fprintf(stderr,
                "greenrun: library not found: cannot read /proc/self/exe (%s); "
                "set GREENRUN_LIB\n",
                strerror(errno));
        exit(EXIT_NOT_FOUND);
    }

    found = NULL;
    for (size_t k = 0; k < N_LIB_PATHS && found == NULL; k++) {
        char *path = join_path(dir, lib_paths[k]);

        found = usable_lib(path);
        free(path);
    }
    if (found == NULL) {
        fputs("greenrun: library not found: tried", stderr);
        for (size_t k = 0; k < N_LIB_PATHS; k++)
            fprintf(stderr, "%s %s/%s", k == 0 ? "" : ",", dir, lib_paths[k]);
        fputs("; set GREENRUN_LIB\n", stderr);
        exit(EXIT_NOT_FOUND);
    }
    free(dir);
    return found;
}

/*
 * Set LD_PRELOAD to "lib old..." where old is the current list (ld.so separates entries with
 * spaces or colons). Entries already naming lib are dropped, so nested launches do not pile
 * the library up; the order of the others is kept.
 */
static void
prepend_preload(const char *lib)
{
    const char *old = getenv("LD_PRELOAD");
    size_t liblen = strlen(lib);
    size_t oldlen = old != NULL ? strlen(old) : 0;
    char *out = malloc(liblen + 1 + oldlen + 1);
    size_t len = liblen;

    if (out == NULL) {
        fputs("greenrun: out of memory\n", stderr);
        exit(EXIT_NOT_FOUND);
    }
    memcpy(out, lib, liblen);
    for (size_t i = 0; i < oldlen;) {
        size_t start = i;

        while (i < oldlen && old[i] != ' ' && old[i] != ':')
            i++;

        size_t n = i - start;

        if (n > 0 && !(n == liblen && memcmp(old + start, lib, n) == 0)) {
            out[len++] = ' ';
            memcpy(out + len, old + start, n);
            len += n;
        }
        while (i < oldlen && (old[i] == ' ' || old[i] == ':'))
            i++;
    }
    out[len] = '\0';
    set_var("LD_PRELOAD", out);
    free(out);
}

/* greenrun trace SUBCOMMAND ...: argv[1] is "trace". */
static int
trace_command(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[2], "summarize") == 0)
        return gr_trace_summarize(argv[3], stdout) == 0 && fflush(stdout) == 0 ? EXIT_SUCCESS :
                                                                                 EXIT_FAILURE;
    usage_error("trace: expected 'summarize FILE'");
}

int
main(int argc, char **argv)
{
    int i;

    if (argc >= 2 && strcmp(argv[1], "trace") == 0)
        return trace_command(argc, argv);

    if (gr_cli_is_command(argc, argv))
        return gr_cli_run(argc, argv);
    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];

        if (arg[0] != '-' || arg[1] == '\0')
            break; /* PROGRAM ("-" alone is a name, not an option) */
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            print_help();
            return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
        }
        if (strcmp(arg, "--version") == 0) {
            printf("greenrun %s\n", GR_VERSION);
            return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
        }
        if (!take_option_var(argc, argv, &i))
            usage_error("unknown option '%s'", arg);
    }
    if (i >= argc)
        usage_error("no program given");

    /* The runtime will see exactly this environment: refuse it now, with its message. */
    struct gr_config cfg;
    char err[512];

    if (gr_config_parse(&cfg, environ, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return EXIT_USAGE;
    }

    char *lib = find_lib();

    if (strpbrk(lib, " :") != NULL) {
        fprintf(stderr,
                "greenrun: %s: LD_PRELOAD cannot hold a path with a space or a colon; "
                "move the library or set GREENRUN_LIB\n",
                lib);
        return EXIT_NOT_FOUND;
    }
    prepend_preload(lib);
    free(lib);

    execvp(argv[i], &argv[i]);

    int e = errno;

    fprintf(stderr, "greenrun: %s: %s\n", argv[i], strerror(e));
    /* Found but not runnable is 126, like the shells; anything else counts as not found. */
    return e == EACCES || e == EPERM || e == ENOEXEC ? EXIT_CANNOT_RUN : EXIT_NOT_FOUND;
}
