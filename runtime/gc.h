/*
 * runtime/gc.h: GREENRUN_GC=leak, the leak check (gc.c): allocation stacks, and at exit a mark
 * from the program's roots through the heap, with a report of what nothing reaches.
 *
 * Locks: the site table's lock (rank leaf), taken only after the stack is unwound.
 */
#ifndef GR_RUNTIME_GC_H
#define GR_RUNTIME_GC_H

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
    uint32_t size; /* bytes the program asked for */
};

/* A small span's side table: one slot per object, by the object's index in the span. */
struct gr_gc_slots {
    uint32_t cap;
    uint32_t pad_;
    struct gr_gc_slot slot[];
};

/* Called by the constructor. mode: 0 off, 1 leak, 2 collect (leak's recording, and
 * collections that free what nothing reaches). report: GREENRUN_GC_REPORT or NULL. */
void gr_gc_configure(int mode, const char *report);

/*
 * GREENRUN_GC=collect (gc.c's "Collections"). gr_gc_collect: set by gr_gc_configure, then
 * immutable. gr_gc_pacer: called by the constructor after gr_gc_configure; percent is
 * GREENRUN_GC_PERCENT (-1: off, no collection is ever triggered), trace GREENRUN_DEBUG=gctrace.
 */
extern bool gr_gc_collect;
void gr_gc_pacer(int percent, bool trace);

/* After the record of p, allocated for caller (the allocating call's return address), in
 * collect mode: keep p for good when ld.so asked for it (a thread's DTV and dynamic TLS
 * blocks, which glibc reaches from descriptors in stacks it caches, where no root is);
 * then run a collection when the pacer says the heap has grown enough and the caller may
 * stop here (a G on a P, not in a handler, called from neither libc nor ld.so). */
void gr_gc_poll(void *p, const void *caller);

/* A collection stops the world. An M about to run a G (execute) and a G leaving syscall mode
 * (gr_exitsyscall) wait here while it does; the others get the preemption signal, whose
 * handler calls gr_gc_stop_signal: true when it was a stop (the M waited in it, its context
 * uc published), false when it is not the collection's. Context: gr_gc_collect is true. */
void gr_gc_safepoint(void);
#define GR_GC_STOP_VALUE 0x47437374 /* the stop signal's si_value ("GCst"), sent with SI_QUEUE */
bool gr_gc_stop_signal(void *uc);

/* A small span goes back to the heap, every object free: its side table is unmapped (no
 * record can be writing into it: an object is recorded before malloc returns it). Requires:
 * the heap lock. */
struct gr_span;
void gr_gc_slots_release(struct gr_span *s);

/* At entersyscall in collect mode: keep the words frame (the caller's frame, where
 * __builtin_unwind_init spilled the callee-saved registers) as the calling G's registers. */
void gr_gc_keep_syscall_regs(const uintptr_t *frame);

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

/* fork: the site table's lock around fork (the allocator's handlers call these). */
void gr_gc_fork_prepare(void);
void gr_gc_fork_parent(void);
void gr_gc_fork_child(void);

#endif /* GR_RUNTIME_GC_H */
