/*
 * runtime/boot.h: the runtime's state and its boot, as the preload and the hooks see them.
 *
 * gr_state: PRE_INIT -> RUNNING, or PRE_INIT -> NATIVE when the platform is unsupported
 * (every hook then passes straight to glibc; one line on stderr says why).
 */
#ifndef GR_RUNTIME_BOOT_H
#define GR_RUNTIME_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/atomic.h"

enum {
    GR_STATE_PRE_INIT,
    GR_STATE_RUNNING,
    GR_STATE_NATIVE,
};

/* What the preload read from the environment; immutable once the constructor returns. */
struct gr_opts {
    int procs;             /* 0 = CPUs available */
    size_t stack_size;     /* 0 = glibc's default */
    int64_t schedtrace_ms; /* 0 = off */
    bool banner;
    bool stats;
    bool blocking;            /* record the blocking profile (blockrec.h) */
    bool blocking_print;      /* print it at exit (GREENRUN_DEBUG=blocking) */
    int64_t blocking_live_ns; /* live lines past this (GREENRUN_DEBUG=blocking=live); 0 = off */
    const char *report_path;  /* GREENRUN_REPORT: the JSON profile at exit, or NULL */
    bool fs_syscall;          /* switch FS with arch_prctl even where wrfsbase works */
};

extern struct gr_atomic_i32 gr_state; /* atomic: GR_STATE_* */
extern struct gr_opts gr_opts;

/* Give up on green threads: print why, and let every hook pass through. */
void gr_go_native(const char *why);

/* The same without a word (a fork child of a thread the runtime does not own). */
void gr_go_native_quiet(void);

/* Boot on the initial thread if not done yet; a no-op on other threads and once booted. */
void gr_boot(void);
/* True once the scheduler runs (Ms, Ps and the main G exist). Context: any. */
bool gr_sched_booted(void);

/* True when hooks must pass straight to glibc (before boot is fine: hooks check gr_current). */
static inline bool
gr_native(void)
{
    return gr_load_relaxed(&gr_state) == GR_STATE_NATIVE;
}

/* Print the exit statistics (GREENRUN_DEBUG=stats). */
void gr_print_stats(void);
/* Print the blocking profile (GREENRUN_DEBUG=blocking) and write GREENRUN_REPORT, at exit. */
void gr_print_blocking(void);

#endif /* GR_RUNTIME_BOOT_H */
