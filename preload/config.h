/*
 * preload/config.h: the runtime's configuration, read once from GREENRUN_* variables.
 *
 * The parser runs inside the -z initfirst constructor, before libc has finished its own
 * initialisation: it reads the constructor's envp (never getenv), uses no stdio and no malloc,
 * and reports a bad value as one line naming the variable, the value and what is accepted.
 * The launcher (preload/launcher.c) links the same parser to check its flags before exec.
 */
#ifndef GR_PRELOAD_CONFIG_H
#define GR_PRELOAD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GR_MAX_PROCS 1024
#define GR_MIN_STACK (16 * 1024)
#define GR_MAX_STACK ((size_t)1 << 34) /* 16 GiB: larger is surely a typo */
#define GR_TRACE_MAX 4000              /* bytes of a GREENRUN_TRACE value, %p unexpanded */

struct gr_config {
    int procs;             /* GREENRUN_PROCS: 1..GR_MAX_PROCS; 0 = CPUs available to the process */
    size_t stack_size;     /* GREENRUN_STACK: default stack of a thread whose attr sets none;
                              0 = like native (RLIMIT_STACK, 8 MiB when unlimited) */
    int64_t schedtrace_ms; /* GREENRUN_DEBUG=schedtrace=MS; 0 = off */
    bool banner;           /* GREENRUN_DEBUG=banner: print "greenrun: active ..." at boot */
    bool stats;            /* GREENRUN_DEBUG=stats: print counters at exit */
    bool blocking;         /* GREENRUN_DEBUG=blocking: print the blocking profile at exit */
    bool blocking_live;    /* GREENRUN_DEBUG=blocking=live: also a line the moment a call has
                              held an OS thread past live_threshold_ns */
    int64_t live_threshold_ns; /* GREENRUN_DEBUG=threshold=TIME; 0 = the default, 10 ms */
    const char *report_path;   /* GREENRUN_REPORT: write the profile as JSON there at exit
                                  (a new file, mode 0600; not for set-uid programs) */
    bool fs_syscall;           /* GREENRUN_DEBUG=fs=arch_prctl: switch TLS blocks with the
                                  arch_prctl system call even where wrfsbase works (fs=auto:
                                  wrfsbase where the kernel enables it, the default) */
    bool malloc_system;        /* GREENRUN_MALLOC=system: keep glibc's malloc, for comparison and
                                  as an escape hatch; the runtime then keeps carrying glibc's
                                  per-thread malloc state (arena, tcache) from a finished G to the
                                  next G on its stack. false (GREENRUN_MALLOC=greenrun, the
                                  default): greenrun's own allocator (size classes, per-P caches) */
    const char *trace;         /* GREENRUN_TRACE: the file to write the scheduler's timeline to
                                  (runtime/trace.c), pointing into envp; %p stands for the
                                  process id, %% for %; NULL = no trace */
    bool quit_exit;            /* GREENRUN_QUIT=exit: SIGQUIT at its default dumps every thread,
                                  then exits with status 2 (Go's way); false (dump, the
                                  default): dumps and the program keeps running (the JVM's way) */
    int gc;                    /* GREENRUN_GC: GR_GC_OFF (the default), GR_GC_LEAK, or
                                  GR_GC_COLLECT (leak's report, and collections that free what
                                  nothing reaches) */
    const char *gc_report;     /* GREENRUN_GC_REPORT: the leak report's JSON file (created, never
                                  followed or overwritten), or NULL; points into envp */
    int gc_percent;            /* GREENRUN_GC_PERCENT: 1..100000, the heap's growth over the live
                                  heap that starts a collection; 0 = the default, 100; -1 = off */
    bool gctrace;              /* GREENRUN_DEBUG=gctrace: a line per collection on stderr */
};

/* GREENRUN_GC's values. */
enum {
    GR_GC_OFF,
    GR_GC_LEAK,
    GR_GC_COLLECT,
};

/*
 * Fill cfg from envp (a NULL-terminated "NAME=value" array; NULL is allowed and means empty).
 * Returns 0, or -1 with a one-line message (no trailing newline) in err[errlen].
 * Unset variables keep the defaults above; an empty value counts as unset.
 */
int gr_config_parse(struct gr_config *cfg, char *const *envp, char *err, size_t errlen);

#endif /* GR_PRELOAD_CONFIG_H */
