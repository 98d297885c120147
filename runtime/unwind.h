/*
 * runtime/unwind.h: backtraces of stacks that are not running, and of the calling thread,
 * symbolized (the thread dump, dump.c; the leak mode's allocation stacks, gc.c).
 *
 * The DWARF unwinder is libunwind's (libunwind.so.8, Debian's libunwind8), loaded with
 * dlopen(RTLD_LOCAL) the first time a backtrace is asked for. Linking it would put its
 * _Unwind_* names in the process's global scope ahead of libgcc_s, changing how every C++
 * exception of the program unwinds; loaded locally it serves the runtime alone, and a
 * process that never dumps (nor runs the leak mode) never maps it. This is the one loader.
 *
 * A foreign stack (a parked G, a G in syscall mode) may change under the unwinder when its G
 * runs again meanwhile: libunwind checks every address it reads (its conservative checks,
 * mincore), and gr_unwind stops at the first frame outside the stack's bounds, one whose
 * stack pointer goes down, or at GR_UNWIND_DEPTH frames. A garbage frame ends the backtrace;
 * it never faults.
 */
#ifndef GR_RUNTIME_UNWIND_H
#define GR_RUNTIME_UNWIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GR_UNWIND_DEPTH 64 /* frames of one backtrace, at most */
#define GR_UNWIND_NAME  96 /* bytes of a function name kept, NUL included */

/* The registers an unwind starts from: the callee-saved ones, a stack pointer and a pc that
 * is a return address (the instruction before it is the one looked up). Unknown ones are 0. */
struct gr_regs {
    uintptr_t pc, sp, bp, bx, r12, r13, r14, r15;
};

struct gr_frame {
    uintptr_t pc;              /* a return address (but the first frame of gr_unwind_self) */
    uintptr_t off;             /* pc less the start of the function named */
    char name[GR_UNWIND_NAME]; /* the function (symbol table or dynamic symbols), or "" */
};

/*
 * Names by pc, for a run of backtraces (one dump): libunwind finds a static function's name
 * by reading its object's symbol table from the file, each time, and a thousand threads
 * parked in one place share their frames. GR_SYMCACHE_SLOTS names at most; the caller
 * zeroes it (gr_mem_map's memory is).
 */
#define GR_SYMCACHE_SLOTS 1024
struct gr_symcache {
    struct {
        uintptr_t pc; /* 0: free */
        uintptr_t off;
        char name[GR_UNWIND_NAME];
    } slot[GR_SYMCACHE_SLOTS];
};

/*
 * Unwind from r, the stack being [lo, hi) (hi 0: no bounds known), into f[0..max), naming
 * frames through sc (NULL: no cache). Returns the number of frames, or -ENOSYS when libunwind
 * cannot be loaded. Any thread; holds no lock of the runtime (libunwind takes its own, and
 * allocates).
 */
int gr_unwind(const struct gr_regs *r, uintptr_t lo, uintptr_t hi, struct gr_frame *f, int max,
              struct gr_symcache *sc);

/* Load libunwind if not yet: false when it cannot be (then every unwind is -ENOSYS). */
bool gr_unwind_available(void);

/* The calling thread's backtrace, from the caller of gr_unwind_self on. As gr_unwind. */
int gr_unwind_self(struct gr_frame *f, int max, struct gr_symcache *sc);
/* The same, return addresses only, into pcs: no names looked up, so cheap enough for every
 * handoff the blocking profile records. */
int gr_unwind_self_pcs(uintptr_t *pcs, int max);

/*
 * libunwind's unw_backtrace: the calling thread's return addresses from its caller on, into
 * pcs[0..max), through libunwind's per-thread cache of frame layouts (the leak mode records
 * one per allocation, gc.c). The count, or -ENOSYS when libunwind cannot be loaded.
 */
int gr_unwind_backtrace(void **pcs, int max);
/*
 * Does the function holding return address pc keep a frame-pointer frame there (the caller's
 * frame pointer at rbp, pc's own caller's return address at rbp + 8), as libunwind's unwind
 * tables say? 1 yes, 0 no, -ENOSYS when libunwind cannot be loaded. libunwind steps once
 * from made-up stacks, twice: microseconds; callers keep the answer (gc.c).
 */
int gr_unwind_fp_frame(uintptr_t pc);
/* Name the return address pc into f (f->pc = pc): the function holding the call before it,
 * with pc's offset in it, through sc (NULL: no cache); an empty name when none is found. */
void gr_unwind_name_pc(uintptr_t pc, struct gr_frame *f, struct gr_symcache *sc);

/* In a fork child: a load of libunwind the parent had under way is started again. */
void gr_unwind_fork_child(void);

/* "name+0xOFF (object)" for f, or "0xPC (object)" without a name; returns the length. */
size_t gr_unwind_format(const struct gr_frame *f, char *buf, size_t size);

#endif /* GR_RUNTIME_UNWIND_H */
