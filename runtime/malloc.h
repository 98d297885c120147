/*
 * runtime/malloc.h: greenrun's malloc (Go's mcache/mcentral/mheap; mimalloc's free lists).
 *
 * Objects up to GR_SMALL_MAX bytes come in GR_NCLASS size classes, each a multiple of 16
 * (16, 32, ... 128, then four classes per doubling up to 32 KiB), from small spans of the
 * page heap (heap.h). Each P owns a cache, one span per class: the G running on the P
 * allocates from that span's free list and frees into it with no atomic operation and no
 * lock. Any other thread frees into the span's thread-free list with one CAS; the owner
 * takes those back when its own list runs dry. A span given up full is in no list: the first
 * free into it hands it to its class's central list, where the next cache that needs one
 * finds it. Larger objects are whole pages from the heap, and beyond GR_HUGE_MIN mappings of
 * their own.
 *
 * Threads without a P (before boot, threads glibc starts itself, Gs in syscall mode, sysmon)
 * use one of GR_NSHARED shared caches under a lock, picked by hashing the thread pointer, as
 * glibc picks arenas. A signal handler that interrupts the allocator on the same M sees the
 * M's mallocing flag and takes the same shared path, so the P's cache is never entered twice.
 *
 * The allocator never parks a G and never calls malloc; its slow paths are preemption safe
 * points (they yield when sysmon asked the G to, holding no lock).
 */
#ifndef GR_RUNTIME_MALLOC_H
#define GR_RUNTIME_MALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/atomic.h"

#define GR_NCLASS    40
#define GR_SMALL_MAX 32768
#define GR_HUGE_MIN  ((size_t)32 << 20)

struct gr_span;

/* GREENRUN_MALLOC=system: the hooks hand new allocations to glibc (set by preload/init.c
 * before the program runs; objects greenrun allocated before stay greenrun's). */
extern bool gr_malloc_system;

/*
 * A P's cache (or a shared one): per size class the span it allocates from (never NULL:
 * gr_mcache_init points every class at an empty span) and the other spans it owns that have
 * free objects. Owner: the P's M (a shared cache: its lock); announced is shared.
 */
struct gr_mcache {
    struct gr_span *alloc[GR_NCLASS];
    struct gr_span *partial[GR_NCLASS]; /* owned spans with free objects, doubly linked */
    uint16_t npartial[GR_NCLASS];
    /* atomic: full spans of this cache into which another thread freed, linked through
     * anext (a Treiber stack: pushed by those threads, taken whole by the owner) */
    GR_ATOMIC_PTR(struct gr_span) announced;
    int64_t flushed_at; /* the owner's: when gr_malloc_p_idle last emptied it */
};

/* The size class of n bytes, as a constant expression: 16-byte steps to 128, then four
 * classes per doubling. */
#define GR_SIZE_CLASS_LG(n) (63 - __builtin_clzll((unsigned long long)(n)-1))
#define GR_SIZE_CLASS(n)                                          \
    ((n) <= 128 ? ((n) == 0 ? 0u : (unsigned)(((n)-1) >> 4)) :    \
                  8u + (unsigned)(GR_SIZE_CLASS_LG(n) - 7) * 4u + \
                      (unsigned)((((unsigned long long)(n)-1) >> (GR_SIZE_CLASS_LG(n) - 2)) & 3u))

/* The classes of the sizes up to GR_CLASS_TABLE_MAX, by (n + 15) / 16: one load instead of
 * the arithmetic on the fast path (Go's size_to_class8). Static: each file that sizes
 * objects has its copy, all computed by the compiler. */
#define GR_CLASS_TABLE_MAX 1024
#define GR_CLASS16(i)      GR_SIZE_CLASS((i)*16ULL)
#define GR_CLASS16X8(i)                                                                        \
    GR_CLASS16(i), GR_CLASS16(i + 1), GR_CLASS16(i + 2), GR_CLASS16(i + 3), GR_CLASS16(i + 4), \
        GR_CLASS16(i + 5), GR_CLASS16(i + 6), GR_CLASS16(i + 7)
static const uint8_t gr_class_by16[GR_CLASS_TABLE_MAX / 16 + 1] = {
    GR_CLASS16X8(0),  GR_CLASS16X8(8),  GR_CLASS16X8(16), GR_CLASS16X8(24), GR_CLASS16X8(32),
    GR_CLASS16X8(40), GR_CLASS16X8(48), GR_CLASS16X8(56), GR_CLASS16(64),
};

/* The size class of n bytes, 1 <= n <= GR_SMALL_MAX. */
static inline unsigned
gr_size_class(size_t n)
{
    if (n <= GR_CLASS_TABLE_MAX)
        return gr_class_by16[(n + 15) >> 4];
    return GR_SIZE_CLASS(n);
}

/* The object size of class cls. */
static inline size_t
gr_class_size(unsigned cls)
{
    size_t base;

    if (cls < 8)
        return (cls + 1) * 16;
    base = (size_t)128 << ((cls - 8) / 4);
    return base + ((cls - 8) % 4 + 1) * (base / 4);
}

/* Pages of 8 KiB per span of class cls: 64 KiB, or more up to 128 KiB where that wastes less
 * than an eighth of the span at its end. Long spans make a cache switch spans seldom
 * (mimalloc's 64 KiB pages); they cost no memory until used, as objects are carved 4 KiB at
 * a time. */
static inline size_t
gr_class_npages(unsigned cls)
{
    size_t size = gr_class_size(cls), n;

    for (n = 8; n < 16; n++)
        if ((n << 13) % size <= (n << 13) / 8)
            break;
    return n;
}

/* Go's divMagic: (offset * gr_class_divmul(size)) >> 32 == offset / size for every offset in a
 * span of the class (tests/unit/sizeclass_test.c checks them all). */
static inline uint32_t
gr_class_divmul(size_t size)
{
    return (uint32_t)(0xffffffffu / size) + 1;
}

/* Lemire's divisibility test: off * gr_class_divcheck(size) < gr_class_divcheck(size) exactly
 * when size divides off, for every off below 2^32 (the sizeclass unit test checks them for
 * each class's span). */
static inline uint64_t
gr_class_divcheck(size_t size)
{
    return UINT64_MAX / size + 1;
}

void gr_mcache_init(struct gr_mcache *c);

/* The malloc family (hooks/malloc.c adds the system-malloc escape hatch and the names).
 * Errors as glibc's: NULL with errno ENOMEM; the aligned forms check alignment themselves.
 * caller: the program's return address, named in misuse reports and looked at by the
 * allocator's preemption safe point (not taken when libc or ld.so called). */
void *gr_malloc(size_t n, const void *caller);
void *gr_calloc(size_t nmemb, size_t size, const void *caller);
void *gr_realloc(void *p, size_t n, void *caller);
void gr_free(void *p, void *caller);
/* The allocator's preemption safe point, for GREENRUN_MALLOC=system's calls to glibc: a G
 * looping on malloc and free yields there too when sysmon asks. */
void gr_malloc_preempt_point(const void *caller);
/* n bytes aligned to align (a power of two). */
void *gr_malloc_aligned(size_t align, size_t n, const void *caller);
size_t gr_malloc_usable_size(void *p, void *caller);
/* Free an object glibc allocated through the interposed names, from whichever allocator
 * served it (GREENRUN_MALLOC=system); for the runtime, which may not call free. */
void gr_malloc_free_any(void *p);
/* Is p inside an object of greenrun's heap (in use or not)? */
bool gr_malloc_owns(const void *p);
/* malloc_trim: return every free page now. True if any memory went back. */
bool gr_malloc_trim(void);

/* Figures for mallinfo2, malloc_stats and GREENRUN_DEBUG=stats. */
struct gr_malloc_stats {
    uint64_t mapped;      /* address space of the page heap */
    uint64_t inuse;       /* bytes of objects in use (small: their class size) */
    uint64_t small_spans; /* bytes of small spans (in use or cached) */
    uint64_t retained;    /* free pages still backed by memory */
    uint64_t released;    /* free pages returned to the system */
    uint64_t nlarge, large_bytes, nhuge, huge_bytes;
    uint64_t scavenged_total;
    uint64_t class_objects[GR_NCLASS]; /* objects in use per size class */
    uint64_t class_spans[GR_NCLASS];   /* spans per size class */
};
void gr_malloc_stats(struct gr_malloc_stats *st);
/* GREENRUN_DEBUG=stats: the heap's lines. */
void gr_malloc_print_stats(void);

/* A P with no G to run is about to be released (force: a spare P that may not run again
 * soon): give its cache's spans back so the busy Ps reuse them, at most once per 100 ms per
 * P unless forced. Requires: the calling M holds pp; no allocator lock held. */
struct p;
void gr_malloc_p_idle(struct p *pp, int64_t now, bool force);

/* sysmon: return idle memory (central lists' empty spans, old free pages). Cheap when there
 * is nothing to do. */
void gr_malloc_background(int64_t now);

/*
 * The leak check's stop (gc.c): hold every allocator lock, as fork's prepare does, and make
 * remote frees wait, so no span's lists change. In leak mode every allocation and every small
 * free goes through one of those (malloc.c's header). Requires: the caller holds no allocator
 * lock and neither allocates nor frees until gr_malloc_world_start.
 */
void gr_malloc_world_stop(void);
void gr_malloc_world_start(void);
/* Set bit i of live (zeroed, a bit per object) for each object i of small span s that is in
 * use: handed out, on neither free list, not being freed. Returns how many. Requires: the
 * world stopped. */
uint32_t gr_malloc_span_live(struct gr_span *s, uint64_t *live);

/* fork: registered with pthread_atfork before any other handler (preload/init.c), so the
 * prepare handler runs after the program's own and the child handler first. */
void gr_malloc_fork_prepare(void);
void gr_malloc_fork_parent(void);
void gr_malloc_fork_child(void);

#endif /* GR_RUNTIME_MALLOC_H */
