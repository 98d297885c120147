/*
 * runtime/blockrec.h: the blocking profile: calls that held an OS thread (an M) while Gs could
 * have run on it.
 *
 * Three kinds of site:
 *  - unseen: sysmon (sysmon.c) finds an M asleep in the kernel while it holds a P whose
 *    schedule has not moved: a glibc-internal system call, or a `syscall` instruction of some
 *    library;
 *  - not preemptible: a G ran on and on where the preemption signal may not stop it;
 *  - handoff: a call a hook ran in syscall mode (fsync, waitpid, open of a FIFO...) lasted long
 *    enough for sysmon to hand its P to another M.
 * A site is the kind, the system call (or the hooked function) and the call's stack, as far
 * as it is known (the return address at least). Each site keeps count, total, max, a duration
 * histogram (p50, p99), the Ps handed on for it and when it was first and last seen. The table
 * has no size limit. With GREENRUN_DEBUG=blocking the sites are printed at exit, the longest
 * total first; GREENRUN_REPORT=path writes them as JSON as well; GREENRUN_DEBUG=blocking=live
 * prints a line the moment an unseen call has held its M past the threshold (10 ms unless
 * threshold=... says otherwise), and one when a handoff call that long ends.
 */
#ifndef GR_RUNTIME_BLOCKREC_H
#define GR_RUNTIME_BLOCKREC_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Parse one read of /proc/<tid>/syscall ("NR a1 ... a6 sp pc", "-1 sp pc" or "running").
 * True with *nr, *sp and *pc when the thread is blocked (nr -1: blocked outside a system
 * call, a page fault for instance); false when it runs or the text is not understood.
 * Context: any; no-alloc.
 */
bool gr_blockrec_parse(const char *text, long *nr, uintptr_t *sp, uintptr_t *pc);
/* The same, read from fd, an open /proc/<tid>/syscall (pread at 0). Context: any; no-alloc. */
bool gr_blockrec_read(int fd, long *nr, uintptr_t *sp, uintptr_t *pc);

/* The "system call number" of a site where a G ran on and on where the preemption signal may
 * not stop it (in libc or ld.so): a blocking site of its own kind. */
#define GR_BLOCKREC_RUNNING (-2L)
/* The "system call number" of a hooked call that cost a handoff (its name says which). */
#define GR_BLOCKREC_HANDOFF (-3L)

/* How the profile is reported; called once at boot, before sysmon starts. report_path may be
 * NULL; live_ns 0 means no live lines. */
void gr_blockrec_config(int64_t live_ns, const char *report_path);

/* A call sysmon found holding an M. */
struct gr_blockrec_call {
    long nr;      /* system call number, -1 outside one, or GR_BLOCKREC_RUNNING */
    uintptr_t pc; /* where it sleeps (a return address) or runs */
    uintptr_t sp; /* its stack pointer, 0 when unknown: then it is not unwound */
    uintptr_t lo; /* the bounds of the stack it runs on, 0 when unknown */
    uintptr_t hi;
    int sysfd; /* the M's /proc/<tid>/syscall, to check it still sleeps there; -1 */
};

/*
 * The M of P number pid has been in call c since at least `since`. At most one call is open
 * per P; a second begin replaces nothing (it is ignored). An unseen call with a stack pointer
 * is unwound by the reporter thread while it sleeps, and moved to the site of its backtrace.
 * Context: sysmon.
 */
void gr_blockrec_begin(int32_t pid, const struct gr_blockrec_call *c, int64_t since);
/* sysmon started a spare P for P pid's open call. Context: sysmon. */
void gr_blockrec_spare(int32_t pid);
/* The open call of P pid, if any, was seen over at now: add it to its site. Context: sysmon. */
void gr_blockrec_end(int32_t pid, int64_t now);
/* Live lines for open calls past the threshold (GREENRUN_DEBUG=blocking=live). sysmon calls it
 * every round; it only signals the reporter thread, which prints. Context: sysmon. */
void gr_blockrec_live(int64_t now);

/* The reporter thread's body (an M without a P, started at boot with the profile on): it
 * unwinds the unseen calls gr_blockrec_begin hands it, and prints the lines gr_blockrec_live
 * and gr_blockrec_handoff queue, at most 10 a second. */
void *gr_blockrec_reporter_main(void *arg);

/* The most frames kept per site. */
#define GR_BLOCKREC_FRAMES 16

/*
 * A hooked call in syscall mode ran from since to now and its P was handed to another M
 * meanwhile. frames[0] is a return address inside the hook (its symbol names the call),
 * frames[1..n) the program's return addresses from there out. True when the site has no names
 * yet: the caller may unwind once more with names and pass them to gr_blockrec_name.
 * Context: a G leaving syscall mode.
 */
bool gr_blockrec_handoff(const uintptr_t *frames, int n, int64_t since, int64_t now);
struct gr_frame;
/* Names for the handoff site of frames, from an unwind's named frames (matched by pc). */
void gr_blockrec_name(const uintptr_t *frames, int n, const struct gr_frame *named, int nnamed);
/*
 * Print one line per site to stderr (when print), the longest total first (calls still open
 * count up to now), and write the JSON report when GREENRUN_REPORT names a file. Resolves pcs with
 * dladdr. Context: the thread running exit's destructors (a G or a thread the runtime does
 * not own, never g0).
 */
void gr_blockrec_report(bool print);
/* The text of the report, to fd (the control socket's `report`). Context: as the report. */
void gr_blockrec_write(int fd);

/* In a fork child: forget the parent's records; the lock may have been held by sysmon. */
void gr_blockrec_fork_child(void);

#endif /* GR_RUNTIME_BLOCKREC_H */
