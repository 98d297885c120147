/*
 * runtime/gc.h: GREENRUN_GC=leak, the leak check (gc.c): allocation stacks, and at exit a mark
 * from the program's roots through the heap, with a report of what nothing reaches.
 *
 * Locks: the site table's lock (rank leaf), taken only after the stack is unwound.
 */
#ifndef GR_RUNTIME_GC_H
#define GR_RUNTIME_GC_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* GREENRUN_GC=leak or collect: set by the constructor before the first allocation that could
 * be recorded (before boot), then immutable. The allocator then keeps every P's cache empty,
 * so its fast paths fail and every allocation and free takes a path that checks this. */
extern bool gr_gc_leak;

/* One object's record in a small span's side table (heap.h's gc_slots). */
struct gr_gc_slot {
    uint32_t site; /* allocation stack (gc.c's table), 0 when unknown */
    uint32_t size; /* bytes the program asked for, with GR_GC_NOSCAN_SMALL */
};

/* An object the program said holds no pointer (greenrun_malloc_noscan): the mark does not
 * read it. The flag rides on the size asked for: the top bit of a small object's slot size,
 * of a large one's span gc_size. Every reader of those sizes masks it. */
#define GR_GC_NOSCAN_SMALL ((uint32_t)1 << 31)
#define GR_GC_NOSCAN_LARGE ((size_t)1 << 63)

/* A small span's side table: one slot per object, by the object's index in the span. */
struct gr_gc_slots {
    uint32_t cap;
    uint32_t pad_;
    struct gr_gc_slot slot[];
};

/* Called by the constructor. mode: 0 off, 1 leak, 2 collect (not built: runs as leak, and
 * says so). report: GREENRUN_GC_REPORT or NULL. signal: GREENRUN_GC_REPORT_SIGNAL or 0. */
void gr_gc_configure(int mode, const char *report, int signal);

/* At boot, once the scheduler runs: load the unwinder (libunwind) and learn where the
 * runtime's own code lies, so that recorded stacks begin in the program. */
void gr_gc_boot(void);

/*
 * Record p, just allocated with n bytes asked for, and the stack that asked (leak mode only;
 * p NULL does nothing). A nested allocation (the unwinder's own, or one made while recording)
 * records site 0. Context: any thread; takes no allocator lock.
 */
void gr_gc_record(void *p, size_t n);

/* True while the calling G runs the leak mode's unwinder (libunwind): a descriptor opened
 * then (libunwind's validation pipe) is the runtime's, to be moved out of the program's way
 * (hooks/fd.c). Context: any. */
bool gr_gc_unwinding(void);

/*
 * The program's dl_iterate_phdr in leak mode. Its callbacks run under ld.so's lock, which the
 * unwinder takes too, inside malloc: a callback that waited for a thread in malloc would wait
 * forever. So a record falls back to a frame-pointer walk while any program thread is in
 * here, and a program thread comes in only once the unwinders in progress have finished
 * (they never wait for a program thread). libunwind's own calls pass straight through.
 */
struct dl_phdr_info;
int gr_gc_iterate_phdr(int (*callback)(struct dl_phdr_info *info, size_t size, void *data),
                       void *data);

/* At exit (the library's destructor, after the program's exit handlers): the leak check and
 * its report. Does nothing unless leak mode is on and the runtime runs. */
void gr_gc_exit(void);

/*
 * A leak check now, the program running on (never freeing anything): the report to stderr,
 * and its JSON to GREENRUN_GC_REPORT.N when that is set (N counts on-demand checks from 1;
 * the exit's report keeps the plain name). One check runs at a time: this waits for one under
 * way. 0, or -ENOSYS when leak mode is off or the runtime does not run. Context: a G or a
 * thread of glibc's that may call libc; never a signal handler, g0 or sysmon. The one entry
 * point for "collect now" (greenrun_gc): GREENRUN_GC=collect's collection belongs here too.
 */
int gr_gc_run(void);

/* Mark p, just allocated by the program, as holding no pointer (above). Leak mode only; p
 * NULL does nothing. Context: any thread. */
void gr_gc_set_noscan(void *p);

/* What the checks found so far (greenrun_gc_stats). */
struct gr_gc_stats {
    uint64_t checks;         /* checks run (on demand and at exit) */
    uint64_t live_objects;   /* the last check's objects in use */
    uint64_t leaked_objects; /* the last check's objects nothing reaches */
    uint64_t leaked_bytes;
    uint64_t sites;        /* allocation stacks recorded so far */
    int64_t last_pause_ns; /* how long the last check held the world, in ns */
};
/* A copy of the counters (zero before the first check). Context: any. */
void gr_gc_stats(struct gr_gc_stats *st);
/* GREENRUN_GC as configured: 0 off, 1 leak, 2 collect. */
int gr_gc_mode(void);

/*
 * GREENRUN_GC_REPORT_SIGNAL. The kernel runs gr_gc_sigreport while the program leaves that
 * signal at its default: it only notes the request and wakes sysmon (async-signal-safe),
 * whose round (gr_gc_sysmon) wakes, the first time starts, a thread of glibc's that runs
 * the check (it lives on: gc.c's report_main says why); the signal's default action is lost
 * meanwhile, as the variable asks. gr_gc_signal_takes is the sigaction hook's question, as
 * gr_dump_takes (dump.h): when the program sets sig to act and the runtime's handler takes
 * its place, fill *mine and return true.
 */
void gr_gc_sigreport(int sig, siginfo_t *si, void *uc);
void gr_gc_sysmon(void);
bool gr_gc_signal_takes(int sig, const struct sigaction *act, struct sigaction *mine);

/* fork: the site table's lock around fork (the allocator's handlers call these). */
void gr_gc_fork_prepare(void);
void gr_gc_fork_parent(void);
void gr_gc_fork_child(void);

#endif /* GR_RUNTIME_GC_H */
