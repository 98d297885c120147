/*
 * runtime/heap.c: the page heap (see heap.h).
 *
 * Address space comes from the system in reservations of at least 64 MiB (MAP_NORESERVE:
 * pages cost memory only once touched). Free runs of pages sit in lists by length, one list
 * per length below 128 pages and one for longer runs, with a bitmap of the non-empty ones;
 * an allocation takes the shortest run that fits (best fit among long runs), splits it, and
 * maps every page of the new span. A freed span merges with free neighbours found through
 * the page map.
 *
 * Scavenging (Go's background scavenger): a free run counts the bytes that may still be
 * backed by memory ("dirty"; fresh reservations and returned runs have none, a freed span is
 * dirty whole, a merge adds, a split keeps at most its share) until its pages are returned
 * with MADV_DONTNEED. sysmon calls gr_heap_scavenge a few
 * times a second; it returns runs that have been free for SCAVENGE_AGE_NS while more than
 * the target is retained: an eighth of the memory in use, and at least RETAIN_MIN. A run
 * being scavenged leaves the free lists for the madvise call, so the heap lock is never held
 * across a system call but the one that maps a new reservation.
 *
 * Lock: heap.lock (rank mheap).
 */
#include "runtime/heap.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "runtime/base.h"
#include "runtime/debug.h"
#include "runtime/gc.h"
#include "runtime/lock.h"
#include "runtime/sys.h"

#define RESERVE_MIN     ((size_t)64 << 20)
#define NLISTS          128 /* lists[n] holds runs of n pages, lists[0] every longer run */
#define META_CHUNK      ((size_t)256 << 10)
#define SCAVENGE_AGE_NS 1000000000LL /* 1 s */
#define RETAIN_MIN      ((uint64_t)4 << 20)
#define L1_LEN          ((size_t)1 << (47 - 26))
#define L2_INDEX(a)     (((a) >> GR_HEAP_PAGE_SHIFT) & ((1U << 13) - 1))

struct gr_pm_l1 gr_pagemap[L1_LEN];

/* The span structures, in chunks that are never freed (statistics walk them). A chunk is
 * handed out from its start, so only the structures in use cost memory. */
struct meta_chunk {
    struct meta_chunk *next;
    struct gr_atomic_u64 nspans; /* atomic: structures handed out so far (written under the
                                    heap lock, read by gr_heap_each_span) */
    struct gr_span spans[];
};

#define META_SPANS ((META_CHUNK - sizeof(struct meta_chunk)) / sizeof(struct gr_span))

static struct {
    struct gr_mutex lock;
    struct gr_span *lists[NLISTS];  /* protected by lock: free runs, doubly linked */
    uint64_t nonempty[NLISTS / 64]; /* protected by lock: bit n set when lists[n] has a run */
    struct gr_span *unused;         /* protected by lock: span structures to reuse */
    GR_ATOMIC_PTR(struct meta_chunk)
    chunks; /* atomic: written under lock, read by
               gr_heap_each_span */
    /* Counters: written under lock, read by statistics without it. */
    struct gr_atomic_u64 mapped, inuse, retained, released, scavenged_total;
    struct gr_atomic_u64 nlarge, large_bytes, nhuge, huge_bytes;
} heap = { .lock = GR_MUTEX_INIT(GR_RANK_MHEAP) };

static inline size_t
min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* ---- Memory for the heap's own structures. */

static void *
sys_map(size_t size)
{
    void *p = gr_sys_mmap(NULL, size, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    return (uintptr_t)p >= (uintptr_t)-4095 ? NULL : p;
}

/* A span structure, zeroed. Requires: heap.lock. */
static struct gr_span *
span_new(void)
{
    struct gr_span *s = heap.unused;
    struct meta_chunk *c = gr_load_relaxed(&heap.chunks);
    uint64_t n;

    GR_ASSERT_HELD(&heap.lock);
    if (s != NULL) {
        heap.unused = s->next;
        memset(s, 0, sizeof(*s));
        return s;
    }
    if (c == NULL || gr_load_relaxed(&c->nspans) == META_SPANS) {
        struct meta_chunk *nc = sys_map(META_CHUNK);
        if (nc == NULL)
            return NULL;
        nc->next = c;
        gr_store_release(&heap.chunks, nc);
        c = nc;
    }
    n = gr_load_relaxed(&c->nspans);
    gr_store_release(&c->nspans, n + 1); /* a fresh mapping: the structure is zero */
    return &c->spans[n];
}

/* Requires: heap.lock; s is in no list and no page maps to it any more, or only stale
 * entries do (heap.h). */
static void
span_unused(struct gr_span *s)
{
    gr_store_relaxed(&s->state, SPAN_FREE);
    s->npages = 0;
    s->base = 0;
    s->next = heap.unused;
    heap.unused = s;
}

/* ---- The page map. */

/* Make sure second-level tables exist for [lo, hi). Requires: heap.lock. */
static bool
pagemap_cover(uintptr_t lo, uintptr_t hi)
{
    struct gr_pm_l1 *l1 = gr_pagemap;

    for (uintptr_t i = lo >> 26; i <= (hi - 1) >> 26; i++) {
        if (gr_load_relaxed(&l1[i]) == NULL) {
            struct gr_pm_l2 *l2 = sys_map(sizeof(struct gr_pm_l2));
            if (l2 == NULL)
                return false;
            gr_store_release(&l1[i], l2);
        }
    }
    return true;
}

static void
pagemap_set(uintptr_t page, struct gr_span *s)
{
    struct gr_pm_l2 *l2 = gr_load_relaxed(&gr_pagemap[page >> 26]);

    gr_store_relaxed(&l2->ent[L2_INDEX(page)], s);
}

/* Map every page of s to s. Requires: heap.lock. */
static void
pagemap_fill(struct gr_span *s, struct gr_span *to)
{
    for (size_t i = 0; i < s->npages; i++)
        pagemap_set(s->base + i * GR_HEAP_PAGE, to);
}

/* Map the first and last page of a free run (coalescing looks only there). */
static void
pagemap_ends(struct gr_span *s)
{
    pagemap_set(s->base, s);
    pagemap_set(s->base + (s->npages - 1) * GR_HEAP_PAGE, s);
}

/* ---- Free runs. */

static size_t
list_of(size_t npages)
{
    return npages < NLISTS ? npages : 0;
}

static void
list_insert(struct gr_span *s)
{
    size_t i = list_of(s->npages);

    s->prev = NULL;
    s->next = heap.lists[i];
    if (s->next != NULL)
        s->next->prev = s;
    heap.lists[i] = s;
    heap.nonempty[i / 64] |= 1ULL << (i % 64);
}

static void
list_remove(struct gr_span *s)
{
    size_t i = list_of(s->npages);

    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        heap.lists[i] = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    if (heap.lists[i] == NULL)
        heap.nonempty[i / 64] &= ~(1ULL << (i % 64));
    s->next = s->prev = NULL;
}

/* Take a free run out of the free set (allocation, scavenging, merging). */
static void
free_take(struct gr_span *s)
{
    list_remove(s);
    gr_store_relaxed(&s->state, SPAN_BUSY);
    gr_store_relaxed(&heap.retained, gr_load_relaxed(&heap.retained) - s->dirty);
    gr_store_relaxed(&heap.released,
                     gr_load_relaxed(&heap.released) - (s->npages * GR_HEAP_PAGE - s->dirty));
}

static struct gr_span *
free_neighbour(uintptr_t page, uintptr_t expect_base)
{
    struct gr_span *n = gr_heap_span_of(page);

    if (n == NULL || gr_load_relaxed(&n->state) != SPAN_FREE || n->npages == 0)
        return NULL;
    if (expect_base != 0 ? n->base != expect_base :
                           n->base + n->npages * GR_HEAP_PAGE != page + GR_HEAP_PAGE)
        return NULL;
    return n;
}

/*
 * Put the run s into the free set, merged with its free neighbours. A merge of a returned
 * run with a retained one counts as retained (the next scavenge returns it all again).
 * Requires: heap.lock.
 */
static void
free_put(struct gr_span *s)
{
    struct gr_span *left, *right;

    gr_store_relaxed(&s->state, SPAN_FREE);
    left = s->base >= GR_HEAP_PAGE ? free_neighbour(s->base - GR_HEAP_PAGE, 0) : NULL;
    if (left != NULL) {
        free_take(left);
        s->base = left->base;
        s->npages += left->npages;
        s->dirty += left->dirty;
        if (left->freed_at > s->freed_at)
            s->freed_at = left->freed_at;
        span_unused(left);
    }
    right = free_neighbour(s->base + s->npages * GR_HEAP_PAGE, s->base + s->npages * GR_HEAP_PAGE);
    if (right != NULL) {
        free_take(right);
        s->npages += right->npages;
        s->dirty += right->dirty;
        if (right->freed_at > s->freed_at)
            s->freed_at = right->freed_at;
        span_unused(right);
    }
    pagemap_ends(s);
    list_insert(s);
    gr_store_relaxed(&heap.retained, gr_load_relaxed(&heap.retained) + s->dirty);
    gr_store_relaxed(&heap.released,
                     gr_load_relaxed(&heap.released) + (s->npages * GR_HEAP_PAGE - s->dirty));
}

/* The free run to allocate npages from: the shortest list that fits, best fit among long
 * runs (lowest address on ties). Requires: heap.lock. */
static struct gr_span *
free_find(size_t npages)
{
    struct gr_span *best = NULL;

    for (size_t i = npages < NLISTS ? npages : NLISTS; i < NLISTS; i++) {
        uint64_t bits = heap.nonempty[i / 64] >> (i % 64);
        if (bits == 0) {
            i = (i / 64 + 1) * 64 - 1;
            continue;
        }
        i += (size_t)__builtin_ctzll(bits);
        if (i < NLISTS)
            return heap.lists[i];
    }
    for (struct gr_span *s = heap.lists[0]; s != NULL; s = s->next)
        if (s->npages >= npages && (best == NULL || s->npages < best->npages ||
                                    (s->npages == best->npages && s->base < best->base)))
            best = s;
    return best;
}

/* Reserve at least npages more pages from the system. Requires: heap.lock. */
static bool
heap_grow(size_t npages)
{
    size_t size = gr_round_up(npages * GR_HEAP_PAGE, RESERVE_MIN);
    uintptr_t raw, base;
    struct gr_span *s;
    void *p;

    p = sys_map(size + GR_HEAP_PAGE);
    if (p == NULL)
        return false;
    raw = (uintptr_t)p;
    base = gr_round_up(raw, GR_HEAP_PAGE);
    if (base > raw)
        gr_sys_munmap(p, base - raw);
    if (raw + GR_HEAP_PAGE > base)
        gr_sys_munmap((void *)(base + size), raw + GR_HEAP_PAGE - base);
    if (!pagemap_cover(base, base + size) || (s = span_new()) == NULL) {
        gr_sys_munmap((void *)base, size);
        return false;
    }
    s->base = base;
    s->npages = size / GR_HEAP_PAGE;
    s->dirty = 0; /* fresh pages: zero and not backed yet */
    gr_store_relaxed(&heap.mapped, gr_load_relaxed(&heap.mapped) + size);
    free_put(s);
    return true;
}

/* Put pages [base, base + npages) of the busy run s back in the free set, with their share of
 * its dirty bytes; the caller shrinks s. False when no span structure can be had. */
static bool
give_back(struct gr_span *s, uintptr_t base, size_t npages)
{
    struct gr_span *part;

    if (npages == 0)
        return true;
    part = span_new();
    if (part == NULL)
        return false;
    part->base = base;
    part->npages = npages;
    part->dirty = min_size(s->dirty, npages * GR_HEAP_PAGE); /* where in s is unknown */
    part->freed_at = s->freed_at;
    free_put(part);
    return true;
}

/* Cut the first n pages off the free-set-less run s: s keeps them, the rest goes back. */
static bool
split_tail(struct gr_span *s, size_t n)
{
    if (!give_back(s, s->base + n * GR_HEAP_PAGE, s->npages - n))
        return false;
    s->npages = n;
    return true;
}

struct gr_span *
gr_heap_alloc(size_t npages, size_t align, int state)
{
    size_t align_pages = align > GR_HEAP_PAGE ? align / GR_HEAP_PAGE : 1;
    size_t want = npages + align_pages - 1;
    struct gr_span *s;

    if (npages == 0 || want < npages || want > ((size_t)1 << (47 - GR_HEAP_PAGE_SHIFT)))
        return NULL;
    gr_lock(&heap.lock);
    s = free_find(want);
    if (s == NULL && heap_grow(want))
        s = free_find(want);
    if (s == NULL)
        goto fail;
    free_take(s);
    s->needzero = s->dirty != 0;
    if (align_pages > 1 && (s->base & (align - 1)) != 0) {
        uintptr_t at = gr_round_up(s->base, align);
        size_t head = (at - s->base) / GR_HEAP_PAGE;
        if (!give_back(s, s->base, head)) {
            free_put(s);
            goto fail;
        }
        s->base = at;
        s->npages -= head;
    }
    if (!split_tail(s, npages)) {
        free_put(s);
        goto fail;
    }
    s->next = s->prev = NULL;
    pagemap_fill(s, s);
    gr_store_relaxed(&heap.inuse, gr_load_relaxed(&heap.inuse) + npages * GR_HEAP_PAGE);
    if (state == SPAN_LARGE) {
        gr_owner_inc(&heap.nlarge);
        gr_store_relaxed(&heap.large_bytes,
                         gr_load_relaxed(&heap.large_bytes) + npages * GR_HEAP_PAGE);
    }
    gr_store_release(&s->state, (uint8_t)state);
    gr_unlock(&heap.lock);
    return s;
fail:
    gr_unlock(&heap.lock);
    errno = ENOMEM;
    return NULL;
}

void
gr_heap_free(struct gr_span *s)
{
    int64_t now = gr_nanotime();

    gr_store_relaxed(&s->objbytes, 0);
    gr_lock(&heap.lock);
    gr_store_relaxed(&heap.inuse, gr_load_relaxed(&heap.inuse) - s->npages * GR_HEAP_PAGE);
    if (gr_load_relaxed(&s->state) == SPAN_LARGE) {
        gr_owner_dec(&heap.nlarge);
        gr_store_relaxed(&heap.large_bytes,
                         gr_load_relaxed(&heap.large_bytes) - s->npages * GR_HEAP_PAGE);
    }
    s->dirty = s->npages * GR_HEAP_PAGE;
    s->freed_at = now;
    s->free = NULL;
    gr_store_relaxed(&s->owner, NULL);
    /* GC mode: the side table goes with the objects (free_put may merge this structure
     * away); under the heap lock, which a collection holds while it reads tables. */
    if (gr_unlikely(gr_load_relaxed(&s->gc_slots) != NULL))
        gr_gc_slots_release(s);
    free_put(s);
    gr_unlock(&heap.lock);
}

bool
gr_heap_grow_in_place(struct gr_span *s, size_t npages)
{
    uintptr_t end = s->base + s->npages * GR_HEAP_PAGE;
    struct gr_span *next;
    size_t more = npages - s->npages;
    bool ok = false;

    gr_lock(&heap.lock);
    next = free_neighbour(end, end);
    if (next != NULL && next->npages >= more) {
        free_take(next);
        if (split_tail(next, more)) {
            s->needzero |= next->dirty != 0;
            for (size_t i = 0; i < more; i++)
                pagemap_set(end + i * GR_HEAP_PAGE, s);
            s->npages = npages;
            span_unused(next);
            gr_store_relaxed(&heap.inuse, gr_load_relaxed(&heap.inuse) + more * GR_HEAP_PAGE);
            gr_store_relaxed(&heap.large_bytes,
                             gr_load_relaxed(&heap.large_bytes) + more * GR_HEAP_PAGE);
            ok = true;
        } else {
            free_put(next);
        }
    }
    gr_unlock(&heap.lock);
    return ok;
}

/* ---- Huge objects: a mapping each. */

struct gr_span *
gr_heap_alloc_huge(size_t bytes, size_t align)
{
    size_t extra = align > GR_HEAP_PAGE ? align : GR_HEAP_PAGE, len = bytes + extra;
    uintptr_t raw, base;
    struct gr_span *s;
    void *p;

    if (len < bytes) {
        errno = ENOMEM;
        return NULL;
    }
    p = sys_map(len);
    if (p == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    raw = (uintptr_t)p;
    base = gr_round_up(raw, extra);
    if (base > raw)
        gr_sys_munmap(p, base - raw);
    if (raw + len > base + bytes)
        gr_sys_munmap((void *)(base + bytes), raw + len - (base + bytes));
    gr_lock(&heap.lock);
    if (!pagemap_cover(base, base + bytes) || (s = span_new()) == NULL) {
        gr_unlock(&heap.lock);
        gr_sys_munmap((void *)base, bytes);
        errno = ENOMEM;
        return NULL;
    }
    s->base = base;
    s->npages = bytes / GR_HEAP_PAGE;
    pagemap_fill(s, s);
    gr_owner_inc(&heap.nhuge);
    gr_store_relaxed(&heap.huge_bytes, gr_load_relaxed(&heap.huge_bytes) + bytes);
    gr_store_release(&s->state, SPAN_HUGE);
    gr_unlock(&heap.lock);
    return s;
}

void
gr_heap_free_huge(struct gr_span *s)
{
    uintptr_t base = s->base;
    size_t bytes = s->npages * GR_HEAP_PAGE;

    gr_lock(&heap.lock);
    pagemap_fill(s, NULL);
    gr_owner_dec(&heap.nhuge);
    gr_store_relaxed(&heap.huge_bytes, gr_load_relaxed(&heap.huge_bytes) - bytes);
    span_unused(s);
    gr_unlock(&heap.lock);
    gr_sys_munmap((void *)base, bytes);
}

/* ---- The scavenger. */

/* A retained free run old enough to return, or NULL. Requires: heap.lock. */
static struct gr_span *
scavenge_pick(int64_t now, bool all)
{
    for (size_t i = 0; i < NLISTS; i++)
        for (struct gr_span *s = heap.lists[i]; s != NULL; s = s->next)
            if (s->dirty != 0 && (all || now - s->freed_at >= SCAVENGE_AGE_NS))
                return s;
    return NULL;
}

size_t
gr_heap_scavenge(int64_t now, bool all)
{
    size_t done = 0;

    for (;;) {
        struct gr_span *s;
        uint64_t target = gr_load_relaxed(&heap.inuse) / 8;
        size_t bytes;

        if (target < RETAIN_MIN)
            target = RETAIN_MIN;
        if (!all && gr_load_relaxed(&heap.retained) <= target)
            break;
        gr_lock(&heap.lock);
        s = scavenge_pick(now, all);
        if (s == NULL) {
            gr_unlock(&heap.lock);
            break;
        }
        free_take(s);
        gr_unlock(&heap.lock);

        bytes = s->npages * GR_HEAP_PAGE;
        gr_sys_madvise((void *)s->base, bytes, MADV_DONTNEED);
        done += bytes;

        gr_lock(&heap.lock);
        s->dirty = 0;
        gr_store_relaxed(&heap.scavenged_total, gr_load_relaxed(&heap.scavenged_total) + bytes);
        free_put(s);
        gr_unlock(&heap.lock);
    }
    return done;
}

/* ---- Statistics and fork. */

void
gr_heap_stats(struct gr_heap_stats *st)
{
    st->mapped = gr_load_relaxed(&heap.mapped);
    st->inuse = gr_load_relaxed(&heap.inuse);
    st->retained = gr_load_relaxed(&heap.retained);
    st->released = gr_load_relaxed(&heap.released);
    st->nlarge = gr_load_relaxed(&heap.nlarge);
    st->large_bytes = gr_load_relaxed(&heap.large_bytes);
    st->nhuge = gr_load_relaxed(&heap.nhuge);
    st->huge_bytes = gr_load_relaxed(&heap.huge_bytes);
    st->scavenged_total = gr_load_relaxed(&heap.scavenged_total);
}

void
gr_heap_each_span(void (*f)(struct gr_span *s, void *arg), void *arg)
{
    for (struct meta_chunk *c = gr_load_acquire(&heap.chunks); c != NULL; c = c->next)
        for (uint64_t i = 0, n = gr_load_acquire(&c->nspans); i < n; i++)
            f(&c->spans[i], arg);
}

void
gr_heap_fork_prepare(void)
{
    gr_lock_untracked(&heap.lock);
}

void
gr_heap_fork_parent(void)
{
    gr_unlock_untracked(&heap.lock);
}

void
gr_heap_fork_child(void)
{
    gr_lock_reset(&heap.lock);
}
