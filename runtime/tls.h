/*
 * runtime/tls.h: per-G TLS blocks and thread descriptors (DESIGN.md "Thread-local storage").
 *
 * Each G owns a block laid out as glibc lays out a thread's: static TLS below the descriptor
 * (struct pthread), which starts at the thread pointer. The block is completed the way
 * glibc's start_thread completes a thread's, with field offsets found at boot by probes.
 */
#ifndef GR_RUNTIME_TLS_H
#define GR_RUNTIME_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/api.h"

struct g;

/* The fake tids of Gs (the owner ids of glibc's recursive locks) start here: above
 * PID_MAX_LIMIT (2^22), so none is ever a real thread's. */
#define GR_FAKE_TID_BASE 0x400000

/* One entry of glibc's DTV (dtv_t): the array's first entry holds its length in modules,
 * the second the generation, then one per TLS module: its block and, for a block glibc
 * allocated, what to free. The descriptor's dtv word points at the second entry. */
struct gr_dtv_slot {
    uintptr_t val; /* the length, the generation, or the module's block */
    void *to_free;
};

/* DTV entries a struct g holds: 14 spare modules (glibc's DTV_SURPLUS), 2 header entries and
 * up to 16 modules with TLS when the G is made. */
#define GR_DTV_EMBED 32

struct gr_tls_layout {
    size_t static_size; /* glibc's static TLS size, descriptor included */
    size_t static_align;
    size_t desc_size; /* sizeof(struct pthread) */
    size_t off_tid;
    size_t off_list;
    size_t off_robust_head;
    size_t off_cancelhandling;
    size_t off_user_stack;
    size_t off_stackblock; /* stackblock, then stackblock_size, then guardsize */
    size_t off_specific;   /* specific[0..31]; specific_1stblock just before it */
    size_t off_res;
    long resp_off;     /* TLS variable __resp, relative to the thread pointer */
    long curg_off;     /* the runtime's gr_curg, relative to the thread pointer */
    long rseq_cpu_off; /* rseq_area.cpu_id, relative; 0 when glibc has no rseq */
    long robust_futex_offset;
    long errno_off;          /* glibc's errno, relative to the thread pointer */
    size_t off_l_tls_offset; /* struct link_map's l_tls_offset (0 if unknown) */
    long malloc_off[2];      /* glibc malloc's arena and tcache words, relative to tp */
    int nmalloc;             /* 2 when found, else 0 */
};

extern struct gr_tls_layout gr_tls;

/* Find the layout. Runs once at boot on the initial thread; -1 when glibc is unsupported. */
int gr_tls_probe(void);

/* Bytes a block needs at the top of a stack mapping (static TLS and descriptor, aligned). */
size_t gr_tls_block_size(void);

/*
 * Build a block whose descriptor ends below top: returns the thread pointer, or 0 when the
 * DTV cannot be allocated. Memory in [top - gr_tls_block_size(), top) must be zero.
 * stack_lo/stack_size/guard describe the stack for pthread_getattr_np and alloca limits.
 */
uintptr_t gr_tls_create(void *top, struct g *gp, int32_t tid, void *stack_lo, size_t stack_size,
                        size_t guard);
/* Release a block's DTV and dynamic TLS. Context: a TLS block other than tp is installed. */
void gr_tls_destroy(uintptr_t tp);

/* The DTV of the block at tp, its header included ([*lo, *hi); both 0 when it has none): the
 * leak check scans it, as it may live where no other root is (ld.so's own memory for the
 * initial thread's). */
void gr_tls_dtv_range(uintptr_t tp, uintptr_t *lo, uintptr_t *hi);
/* Whether p is the running G's DTV in its own pages, which glibc reallocs when a dlopen
 * brings more TLS modules than it has room for: the allocator moves it to the heap. */
bool gr_tls_dtv_embedded(const void *p);
/* Run the per-thread glibc setup that must happen on the G itself (__ctype_init). */
void gr_tls_on_start(void);
/* At G exit, on the G: C++ thread_local destructors, then key destructors (glibc's keys). */
void gr_tls_run_dtors(uintptr_t tp);

/* gr_tls_self_id, gr_tls_enter_m/leave_m and gr_tls_spread_static are declared in api.h. */

/* Install the SIGSETXID wrapper so setuid() and friends work with many Gs. */
int gr_tls_setxid_init(void);

#endif /* GR_RUNTIME_TLS_H */
