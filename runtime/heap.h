/*
 * runtime/heap.h: the allocator's page heap, its spans and the page map (Go's mheap, mspan
 * and arena index).
 *
 * The heap hands out runs of 8 KiB pages as spans. A small span is cut into objects of one
 * size class (malloc.c); a large span is one object of whole pages; a huge span is one
 * object with a mapping of its own. Free runs are coalesced with their free neighbours and
 * returned to the system in the background (the scavenger, driven by sysmon) or at once by
 * malloc_trim.
 *
 * The page map finds the span of any address in O(1): a flat first level of 2^21 entries,
 * one per 64 MiB of the 47-bit user address space, each pointing at a second level of 8192
 * entries, one per page. Every page of a span in use maps to it, so an interior pointer finds
 * its object (free's checks, the GC mode); a free span is mapped at its first and last page
 * (enough for coalescing). Entries of pages that left a span are stale, never dangling:
 * span structures are never unmapped or reused for anything but spans, and every lookup
 * checks the address against the span's bounds and state.
 *
 * Lock: heap.lock (rank mheap) protects the free lists, the split/merge of spans, the page
 * map's entries and the counters. It is taken last among the allocator's locks.
 */
#ifndef GR_RUNTIME_HEAP_H
#define GR_RUNTIME_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/atomic.h"
#include "runtime/base.h"

#define GR_HEAP_PAGE_SHIFT 13
#define GR_HEAP_PAGE       ((size_t)1 << GR_HEAP_PAGE_SHIFT)

/* A span's state: written by the heap under its lock, read without it by free(). */
enum {
    SPAN_FREE,  /* in the heap's free lists */
    SPAN_BUSY,  /* out of the free lists while the heap splits it or the scavenger
                   returns its pages: never merged with a neighbour */
    SPAN_SMALL, /* objects of one size class (malloc.c) */
    SPAN_LARGE, /* one object of whole pages from the heap */
    SPAN_HUGE,  /* one object in a mapping of its own */
};

/* A free object: the first two words of every object while it is free. */
struct gr_block {
    struct gr_block *next;
    uintptr_t canary; /* gr_block_canary(b) while free; malloc clears it (malloc.c) */
};

struct gr_mcache;
struct gr_gc_slots;

struct gr_span {
    /* Set by the heap under its lock before the span is handed out; fixed while in use. */
    uintptr_t base;                /* first byte, page-aligned */
    size_t npages;                 /* length in pages (huge: in pages too) */
    struct gr_atomic_u8 state;     /* atomic: SPAN_*, read by free() without a lock */
    bool needzero;                 /* set by the heap, in use: a page may hold old data (calloc
                                      must clear) */
    struct gr_atomic_u32 objbytes; /* atomic: limit - base while the span is small, else 0:
                                      free()'s one bound on an offset, which also says the
                                      span is small (set by malloc.c, cleared by
                                      gr_heap_free) */
    size_t dirty;                  /* heap lock, free runs: bytes that may still be backed by
                                      memory and hold old data (at most the run's length); what
                                      scavenging would return */

    /* Small spans (malloc.c): fixed while the span is in use. */
    uint8_t cls;       /* size class */
    uint32_t size;     /* object size */
    uint32_t divmul;   /* offset * divmul >> 32 == offset / size for offsets in the span */
    uintptr_t limit;   /* end of the last whole object */
    uint64_t divcheck; /* offset * divcheck < divcheck iff size divides offset (offsets
                          below 2^32): 2^64 / size rounded up */

    /* The owner's: the cache that allocates from it, or whoever holds its class's central
     * lock while no cache does. */
    struct gr_block *free;     /* free objects */
    uintptr_t bump;            /* objects from here to limit were never handed out */
    struct gr_atomic_u32 used; /* atomic: objects handed out, not yet known free; written by
                                  the owner, read by statistics */
    GR_ATOMIC_PTR(struct gr_mcache) owner; /* atomic: written by the owner, read by free() */
    uint8_t where;                         /* the owner's: SPAN_CURRENT, ... (malloc.c) */
    bool flagged;                          /* the owner's: it set XFREE_FULL and has not yet
                                              seen the span announced */
    struct gr_span *anext;                 /* the owner's announced stack (malloc.c) */
    /* Objects freed by threads that are not the owner (mimalloc's thread-free list): a
     * pointer to the last one freed, linked through next, or XFREE_FULL when the owner ran
     * out of objects and the next such free must tell it (malloc.c). */
    struct gr_atomic_u64 xfree;

    struct gr_span *next, *prev; /* a central partial list (under its lock) or a heap free
                                    list (heap lock); next also links unused structures */
    int64_t freed_at;            /* heap lock: when it became free (the scavenger's age) */

    /* GREENRUN_GC=leak (gc.c); never touched otherwise. */
    GR_ATOMIC_PTR(struct gr_gc_slots)
    gc_slots;          /* atomic: a small span's side table, one slot per object; installed
                          once by CAS by whoever records first, kept when the span is reused
                          (replaced when too small) */
    uint32_t gc_site;  /* large and huge: the object's allocation stack, written by the
                          thread that allocated it */
    bool gc_mark;      /* the exit check's, while the world is stopped: a large or huge
                          object reached */
    size_t gc_size;    /* large and huge: bytes asked for (0: not recorded, or being freed) */
    uint64_t *gc_bits; /* the exit check's, while the world is stopped: a small span's
                          object count in words W, then W words of objects in use, then W
                          words of objects reached */
};

#define XFREE_FULL 1ULL

/* The page map (above). The roots are published with release stores; an entry is written
 * under the heap lock before its span is handed out. */
struct gr_pm_ent {
    struct gr_span *v_;
};
struct gr_pm_l2 {
    struct gr_pm_ent ent[(size_t)1 << (26 - GR_HEAP_PAGE_SHIFT)];
};
struct gr_pm_l1 {
    struct gr_pm_l2 *v_;
};
/* The first level lives in the library's bss: 16 MiB of address space, of which only the
 * pages holding entries in use are ever touched. */
extern struct gr_pm_l1 gr_pagemap[(size_t)1 << (47 - 26)];

/* The span whose page holds address a (stale entries included, see above), or NULL. */
static inline struct gr_span *
gr_heap_span_of(uintptr_t a)
{
    struct gr_pm_l2 *l2;

    if (gr_unlikely((a >> 47) != 0))
        return NULL;
    l2 = gr_load_acquire(&gr_pagemap[a >> 26]);
    if (gr_unlikely(l2 == NULL))
        return NULL;
    return gr_load_relaxed(&l2->ent[(a >> GR_HEAP_PAGE_SHIFT) & ((1U << 13) - 1)]);
}

/*
 * A span of npages pages whose base is a multiple of align (a power of two; pages when it
 * is at most a page), in state (SPAN_SMALL or SPAN_LARGE). needzero says whether its pages
 * may hold old data. NULL when the system refuses memory. Context: any thread; takes the
 * heap lock.
 */
struct gr_span *gr_heap_alloc(size_t npages, size_t align, int state);
/* Give a small or large span back. Context: any thread; takes the heap lock. */
void gr_heap_free(struct gr_span *s);
/* Grow a large span in place to npages when the pages after it are free. */
bool gr_heap_grow_in_place(struct gr_span *s, size_t npages);
/* A huge object: bytes (page multiple) aligned to align, in a mapping of its own. */
struct gr_span *gr_heap_alloc_huge(size_t bytes, size_t align);
void gr_heap_free_huge(struct gr_span *s);

/*
 * The scavenger: return the pages of free spans to the system (MADV_DONTNEED). all: every
 * free page now (malloc_trim); otherwise only spans free for a while, and only beyond the
 * retained-memory target (heap.c). Returns the bytes returned. Context: no allocator lock held.
 */
size_t gr_heap_scavenge(int64_t now, bool all);

struct gr_heap_stats {
    uint64_t mapped;              /* address space the page heap holds (huge mappings excluded) */
    uint64_t inuse;               /* bytes of small and large spans in use */
    uint64_t retained;            /* free bytes still backed by memory (not yet scavenged) */
    uint64_t released;            /* free bytes returned to the system */
    uint64_t nlarge, large_bytes; /* large objects in use */
    uint64_t nhuge, huge_bytes;   /* huge objects in use */
    uint64_t scavenged_total;     /* bytes ever returned by the scavenger or malloc_trim */
};
void gr_heap_stats(struct gr_heap_stats *st);
/* Call f for every span structure ever made (statistics; the spans may change meanwhile). */
void gr_heap_each_span(void (*f)(struct gr_span *s, void *arg), void *arg);

/* fork: take the heap lock last in the prepare handler; release or reset it after. */
void gr_heap_fork_prepare(void);
void gr_heap_fork_parent(void);
void gr_heap_fork_child(void);

#endif /* GR_RUNTIME_HEAP_H */
