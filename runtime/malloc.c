/*
 * runtime/malloc.c: size classes, the per-P caches, the central lists and the malloc family
 * (see malloc.h for the design; heap.c for pages).
 *
 * A small span's objects are in exactly one of: handed out (counted in used), its free list
 * (the owner's), its thread-free list (xfree), or beyond bump (never handed out). An owner
 * that finds both lists empty and nothing left beyond bump gives the span up: it clears
 * owner and swings xfree from empty to XFREE_FULL with one CAS. The next free by anyone then
 * sees the flag, clears it and puts the span on its class's central partial list, so no
 * span with free objects is ever lost and a full span costs no list at all. A span on the
 * partial list is taken by the next cache that needs one of its class; sysmon returns the
 * ones whose objects are all free to the heap (gr_malloc_background).
 *
 * free() checks what it is given, always: the page map must know the address, the address
 * must be the start of an object of a span in use, and the object must not be free already.
 * The last check is a canary in the second word of every free object, derived from its
 * address and a per-process random key; malloc clears it, so a live object carries it only
 * if the program stored exactly that value there. Misuse is one line on stderr naming the
 * pointer and the caller, then abort(), as glibc's "free(): invalid pointer".
 *
 * GREENRUN_GC=leak (gc.c) changes one thing here: the P caches stay empty (small_slow sends
 * their refills to the shared caches), so the fast paths of malloc and free always fail and
 * every allocation reaches a slow path that records it, and every free of a small object is a
 * remote one (remote_free), which the exit check and GREENRUN_GC=collect's collections can hold
 * back (gr_malloc_world_stop); a collection frees what nothing reaches with gr_free. With
 * GREENRUN_GC=off the fast paths are what they were: the checks of gr_gc_leak sit in slow
 * paths only.
 *
 * Locks: a shared cache's lock (rank mcache), then a class's central lock (rank mcentral),
 * then the heap's (rank mheap).
 */
#include "runtime/malloc.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "runtime/base.h"
#include "runtime/boot.h"
#include "runtime/debug.h"
#include "runtime/gc.h"
#include "runtime/heap.h"
#include "runtime/libc.h"
#include "runtime/lock.h"
#include "runtime/preempt.h"
#include "runtime/proc.h"
#include "runtime/sched.h"
#include "runtime/sys.h"
#include "runtime/tls.h"

#define GR_NSHARED     16
#define EXTEND_BYTES   4096 /* objects carved from bump at once */
#define SWEEP_EVERY_NS 100000000LL

/* The span every class of a fresh cache points at: nothing free, nothing to carve. */
static struct gr_span empty_span;

static struct shared_cache {
    struct gr_mutex lock;
    struct gr_mcache cache; /* protected by lock; NULL entries mean empty_span */
} GR_ALIGNED(GR_CACHELINE) shared[GR_NSHARED] = {
    [0 ... GR_NSHARED - 1] = { .lock = GR_MUTEX_INIT(GR_RANK_MCACHE) },
};

static struct central {
    struct gr_mutex lock;
    struct gr_span *partial;       /* protected by lock: unowned spans with free objects */
    struct gr_atomic_u32 npartial; /* atomic: written under lock, read by the sweep */
} GR_ALIGNED(GR_CACHELINE) central[GR_NCLASS] = {
    [0 ... GR_NCLASS - 1] = { .lock = GR_MUTEX_INIT(GR_RANK_MCENTRAL) },
};

bool gr_malloc_system;

static struct gr_atomic_u64 canary_key; /* atomic: set before the first object exists */
/* atomic: 1 while the leak check has the world stopped: remote frees wait (futex) */
static struct gr_atomic_u32 world_stopped;
static struct gr_atomic_i64 last_sweep; /* atomic: sysmon's, read by malloc_trim */

/* ---- Size classes. */

static inline uintptr_t
block_canary(const struct gr_block *b)
{
    return (uintptr_t)b ^ (uintptr_t)gr_load_relaxed(&canary_key);
}

static void
canary_init(void)
{
    const void *rnd = (const void *)getauxval(AT_RANDOM); /* 16 bytes, any alignment */
    uint64_t key = (uint64_t)gr_nanotime();

    if (rnd != NULL)
        memcpy(&key, (const char *)rnd + 8, sizeof(key));
    key ^= 0x9e3779b97f4a7c15ULL;

    gr_store_relaxed(&canary_key, key | 1);
}

void
gr_mcache_init(struct gr_mcache *c)
{
    for (unsigned i = 0; i < GR_NCLASS; i++)
        c->alloc[i] = &empty_span;
}

/* ---- Spans of a cache. */

/* Where an owned span is, for its owner. */
enum {
    SPAN_CURRENT = 1, /* c->alloc[cls]: the span the class allocates from */
    SPAN_PARTIAL,     /* on c->partial[cls]: owned, with free objects */
    SPAN_FULL,        /* owned, no free object known: on no list */
    SPAN_CENTRAL,     /* unowned, on its class's central list */
};

#define PARTIAL_MAX 8 /* owned partial spans per class; more go to the central list */

static inline void *
span_pop(struct gr_span *s)
{
    struct gr_block *b = s->free;

    s->free = b->next;
    b->canary = 0;
    gr_owner_inc(&s->used);
    return b;
}

/* Move the thread-free list into the free list. Requires: s is the caller's (owned, or under
 * its central lock) and its xfree is not XFREE_FULL. */
static bool
span_collect(struct gr_span *s)
{
    struct gr_block *head, *tail;
    uint32_t n = 1;
    uint64_t x = gr_load_relaxed(&s->xfree);

    if (x == 0 || x == XFREE_FULL)
        return false;
    /* Pairs with the CAS in remote_free: the blocks' next words are visible. */
    head = (struct gr_block *)(uintptr_t)gr_xchg_acquire(&s->xfree, 0);
    for (tail = head; tail->next != NULL; tail = tail->next)
        n++;
    tail->next = s->free;
    s->free = head;
    gr_store_relaxed(&s->used, gr_load_relaxed(&s->used) - n);
    return true;
}

/* Carve up to EXTEND_BYTES of never-used objects into the free list. */
static bool
span_extend(struct gr_span *s)
{
    size_t size = s->size, n = (s->limit - s->bump) / size, max = EXTEND_BYTES / size;
    struct gr_block *first;

    if (n == 0)
        return false;
    if (max == 0)
        max = 1;
    if (n > max)
        n = max;
    first = (struct gr_block *)s->bump;
    for (size_t i = 0; i + 1 < n; i++)
        ((struct gr_block *)(s->bump + i * size))->next =
            (struct gr_block *)(s->bump + (i + 1) * size);
    ((struct gr_block *)(s->bump + (n - 1) * size))->next = s->free;
    s->free = first;
    s->bump += n * size;
    return true;
}

static void
span_init_small(struct gr_span *s, unsigned cls, struct gr_mcache *c)
{
    size_t size = gr_class_size(cls);

    s->cls = (uint8_t)cls;
    s->size = (uint32_t)size;
    s->divmul = gr_class_divmul(size);
    s->limit = s->base + (s->npages * GR_HEAP_PAGE / size) * size;
    s->divcheck = gr_class_divcheck(size);
    s->bump = s->base;
    s->free = NULL;
    s->where = SPAN_CURRENT;
    s->flagged = false;
    gr_store_relaxed(&s->used, 0);
    gr_store_relaxed(&s->xfree, 0);
    gr_store_relaxed(&s->owner, c);
    gr_store_release(&s->objbytes, (uint32_t)(s->limit - s->base));
}

/*
 * The span has no free object: flag it, so that the next free by another thread announces it
 * (XFREE_FULL). A span stays flagged from the flag until the cache takes its announcement
 * (take_announced clears flagged), so it is never flagged twice and never on the announced
 * stack twice, even when the announcing thread is slow to push it. False when a free from
 * another thread got in first: collect it.
 */
static bool
span_flag_full(struct gr_span *s)
{
    uint64_t empty = 0;

    if (s->flagged)
        return true; /* still flagged, or its announcement is on its way */
    if (!gr_cas(&s->xfree, &empty, XFREE_FULL))
        return false;
    s->flagged = true;
    return true;
}

/* Undo XFREE_FULL ourselves. False when a free got there first: the span is then announced
 * (or about to be), and must stay the owner's until the announcement is taken. */
static bool
span_unflag(struct gr_span *s)
{
    uint64_t full = XFREE_FULL;

    if (!s->flagged)
        return true;
    if (!gr_cas(&s->xfree, &full, 0))
        return false;
    s->flagged = false;
    return true;
}

static void
partial_push(struct gr_mcache *c, struct gr_span *s)
{
    unsigned cls = s->cls;

    s->where = SPAN_PARTIAL;
    s->prev = NULL;
    s->next = c->partial[cls];
    if (s->next != NULL)
        s->next->prev = s;
    c->partial[cls] = s;
    c->npartial[cls]++;
}

static void
partial_remove(struct gr_mcache *c, struct gr_span *s)
{
    unsigned cls = s->cls;

    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        c->partial[cls] = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
    c->npartial[cls]--;
}

/* A central list takes an unowned span with free objects. */
static void
central_put(struct gr_span *s)
{
    struct central *ct = &central[s->cls];

    gr_lock(&ct->lock);
    s->where = SPAN_CENTRAL;
    s->prev = NULL;
    s->next = ct->partial;
    ct->partial = s;
    gr_owner_inc(&ct->npartial);
    gr_unlock(&ct->lock);
}

/*
 * An owned span that is not current has free objects again: keep it on the partial list,
 * give it back to the heap when every object is free and the list has others, or to the
 * central list when the cache holds enough of its class.
 */
static void
span_settle(struct gr_mcache *c, struct gr_span *s)
{
    unsigned cls = s->cls;

    if (s->where == SPAN_FULL) {
        /* Announced, but the cache took those frees while the span was current. */
        if (s->free == NULL && span_flag_full(s))
            return;
        if (s->free == NULL) /* a free raced in */
            span_collect(s);
        partial_push(c, s);
    }
    if (gr_load_relaxed(&s->used) == 0 && c->npartial[cls] > 1 && span_unflag(s)) {
        partial_remove(c, s);
        gr_store_relaxed(&s->owner, NULL);
        gr_heap_free(s);
    } else if (c->npartial[cls] > PARTIAL_MAX && span_unflag(s)) {
        partial_remove(c, s);
        gr_store_relaxed(&s->owner, NULL);
        central_put(s);
    }
}

/*
 * A cache lets go of span s, unflagged, which it no longer lists: empty, to the heap; with
 * free objects, to its class's central list; with none, it stays the cache's, full and
 * flagged, so the next free into it announces it as usual.
 */
static void
span_release(struct gr_span *s)
{
    span_collect(s);
    if (gr_load_relaxed(&s->used) == 0) {
        gr_store_relaxed(&s->owner, NULL);
        gr_heap_free(s);
        return;
    }
    if (s->free == NULL && s->bump >= s->limit) {
        if (span_flag_full(s)) {
            s->where = SPAN_FULL;
            return;
        }
        span_collect(s); /* a free raced in */
    }
    gr_store_relaxed(&s->owner, NULL);
    central_put(s);
}

/* Take the spans other threads announced: their frees are now the cache's to reuse. */
static GR_NOINLINE void
take_announced(struct gr_mcache *c)
{
    /* Pairs with the release CAS in announce: anext and the flag's clearing are visible. */
    struct gr_span *s = gr_xchg_acquire(&c->announced, NULL), *next;

    for (; s != NULL; s = next) {
        next = s->anext;
        s->flagged = false;
        span_collect(s);
        if (s->where != SPAN_CURRENT)
            span_settle(c, s);
    }
}

/* A span of class cls for cache c, with something to allocate: from the central list, or
 * new from the heap. NULL when memory is exhausted. */
static struct gr_span *
central_get(unsigned cls, struct gr_mcache *c)
{
    struct central *ct = &central[cls];
    struct gr_span *s;

    if (gr_load_relaxed(&ct->npartial) != 0) {
        gr_lock(&ct->lock);
        while ((s = ct->partial) != NULL) {
            ct->partial = s->next;
            gr_owner_dec(&ct->npartial);
            s->next = NULL;
            span_collect(s);
            if (s->free != NULL || s->bump < s->limit) {
                s->where = SPAN_CURRENT;
                gr_store_relaxed(&s->owner, c);
                gr_unlock(&ct->lock);
                return s;
            }
            /* Nothing free after all (cannot happen: a central span has free objects). */
            gr_throw("malloc: a span on a central list has no free object");
        }
        gr_unlock(&ct->lock);
    }
    if (gr_load_relaxed(&canary_key) == 0)
        canary_init();
    s = gr_heap_alloc(gr_class_npages(cls), GR_HEAP_PAGE, SPAN_SMALL);
    if (s == NULL)
        return NULL;
    span_init_small(s, cls, c);
    return s;
}

/*
 * Allocate from class cls of cache c when the current span's free list is empty: take the
 * span's thread frees, carve more of it, or set it aside full and take another (the cache's
 * own partial spans first, then the central list, then the heap). NULL when memory is
 * exhausted. Requires: c is the caller's (its P's, with mallocing set, or a locked shared one).
 */
static void *
cache_refill(struct gr_mcache *c, unsigned cls)
{
    struct gr_span *s = c->alloc[cls];

    if (gr_load_relaxed(&c->announced) != NULL)
        take_announced(c);
    if (s == NULL)
        s = &empty_span;
    while (s != &empty_span) {
        if (s->free != NULL || span_collect(s) || span_extend(s))
            return span_pop(s);
        /* Out of objects: keep it, flagged, so the next free by another thread tells us. */
        if (span_flag_full(s)) {
            s->where = SPAN_FULL;
            break;
        }
    }
    c->alloc[cls] = &empty_span;
    s = c->partial[cls];
    if (s != NULL) {
        partial_remove(c, s);
        s->where = SPAN_CURRENT;
        span_collect(s);
    } else {
        s = central_get(cls, c);
        if (s == NULL)
            return NULL;
        if (s->free == NULL)
            span_extend(s);
    }
    c->alloc[cls] = s;
    return span_pop(s);
}

static inline void *
cache_alloc(struct gr_mcache *c, unsigned cls)
{
    struct gr_span *s = c->alloc[cls];

    if (s != NULL && s->free != NULL)
        return span_pop(s);
    return cache_refill(c, cls);
}

/* Empty cache c (its owner's) of everything with free objects: current and partial spans go
 * through span_release. Full spans stay, as do spans whose announcement is on its way. */
static void
cache_flush(struct gr_mcache *c)
{
    if (gr_load_relaxed(&c->announced) != NULL)
        take_announced(c);
    for (unsigned cls = 0; cls < GR_NCLASS; cls++) {
        struct gr_span *s = c->alloc[cls], *next;

        if (s != &empty_span && span_unflag(s)) {
            c->alloc[cls] = &empty_span;
            span_release(s);
        }
        for (s = c->partial[cls]; s != NULL; s = next) {
            next = s->next;
            if (span_unflag(s)) {
                partial_remove(c, s);
                span_release(s);
            }
        }
    }
}

#define IDLE_FLUSH_NS 100000000LL /* a P's cache is emptied at most this often when it idles */

void
gr_malloc_p_idle(struct p *pp, int64_t now, bool force)
{
    struct m *mp = gr_getm();

    if (!force && now - pp->mcache.flushed_at < IDLE_FLUSH_NS)
        return;
    pp->mcache.flushed_at = now;
    mp->mallocing = true;
    gr_signal_fence();
    cache_flush(&pp->mcache);
    gr_signal_fence();
    mp->mallocing = false;
}

/* ---- Paths by context. */

/* The calling M, when it may use its P's cache: a G or g0 of an M holding a P, not inside
 * the allocator already (a signal handler that interrupted it). */
static inline struct m *
cache_m(void)
{
    struct m *mp;

    if (gr_curg == NULL) /* not an M: before boot, or a thread glibc started */
        return NULL;
    mp = gr_getm();
    if (mp->p == NULL || mp->mallocing)
        return NULL;
    return mp;
}

/*
 * A safe point: sysmon asked the running G to yield and the signal found it in here. Not when
 * libc or ld.so called: they allocate while holding their own locks (ld.so's dl_load_lock in
 * dlopen, libc's stdio and unwinder locks), which are not the runtime's: a G parked holding
 * one would stop every G that next takes it with its M, unseen, and sysmon could not start a
 * thread to run the holder (pthread_create takes ld.so's TLS lock). The request stays; the
 * G yields at its next hook or its next allocation from the program.
 */
static GR_NOINLINE void
safepoint(const void *caller)
{
    struct g *gp = gr_current();

    if (gp != NULL && gr_load_relaxed(&gp->status) == G_RUNNING && gp->inhandler == 0 &&
        gr_getm()->p != NULL && !gr_preempt_pc_in_system((uintptr_t)caller))
        gr_preempt_yield_now();
}

static GR_NOINLINE void *
small_shared(unsigned cls)
{
    unsigned i = (unsigned)(gr_get_tp() >> 12) % GR_NSHARED;
    struct shared_cache *sc;
    void *b;

    for (unsigned k = 0;; k++) {
        sc = &shared[(i + k) % GR_NSHARED];
        if (gr_trylock(&sc->lock))
            break;
        if (k == GR_NSHARED - 1) {
            sc = &shared[i];
            gr_lock(&sc->lock);
            break;
        }
    }
    b = cache_alloc(&sc->cache, cls);
    gr_unlock(&sc->lock);
    return b;
}

/* safepoint, then b: for gr_malloc's fast path, which must end in a tail call. */
static GR_NOINLINE void *
safepoint_with(void *b, const void *caller)
{
    safepoint(caller);
    return b;
}

/* The signal never preempts inside the runtime: a G looping on malloc or free yields here,
 * holding no allocator lock. */
static inline void
preempt_point(struct m *mp, const void *caller)
{
    if (gr_unlikely(gr_load_relaxed(&mp->preempt)))
        safepoint(caller);
}

/* The fast path: an object of class cls from mp's P's cache, or NULL when the current span
 * has none free. Requires: mp == cache_m(). */
static inline void *
cache_pop(struct m *mp, unsigned cls, const void *caller)
{
    struct gr_span *s;
    void *b = NULL;

    mp->mallocing = true;
    gr_signal_fence();
    s = mp->p->mcache.alloc[cls];
    if (gr_likely(s->free != NULL))
        b = span_pop(s);
    gr_signal_fence();
    mp->mallocing = false;
    if (b != NULL)
        preempt_point(mp, caller);
    return b;
}

static GR_NOINLINE void *
small_slow(struct m *mp, unsigned cls, const void *caller)
{
    void *b;

    if (gr_unlikely(gr_gc_leak)) /* the P caches stay empty: see the file's header */
        return small_shared(cls);
    mp->mallocing = true;
    gr_signal_fence();
    b = cache_refill(&mp->p->mcache, cls);
    gr_signal_fence();
    mp->mallocing = false;
    preempt_point(mp, caller);
    return b;
}

static inline void *
small_alloc(unsigned cls, const void *caller)
{
    struct m *mp = cache_m();
    void *b;

    if (gr_unlikely(mp == NULL))
        return small_shared(cls);
    b = cache_pop(mp, cls, caller);
    return b != NULL ? b : small_slow(mp, cls, caller);
}

static void *
large_alloc(size_t n, size_t align, bool zero, const void *caller)
{
    struct gr_span *s;
    size_t bytes;
    struct m *mp;

    if (n > (size_t)PTRDIFF_MAX - GR_HUGE_MIN) {
        errno = ENOMEM;
        return NULL;
    }
    bytes = gr_round_up(n, GR_HEAP_PAGE);
    if (bytes >= GR_HUGE_MIN) {
        s = gr_heap_alloc_huge(bytes, align);
        return s != NULL ? (void *)s->base : NULL; /* a fresh mapping is zero */
    }
    s = gr_heap_alloc(bytes / GR_HEAP_PAGE, align, SPAN_LARGE);
    if (s == NULL)
        return NULL;
    if (zero && s->needzero)
        memset((void *)s->base, 0, bytes);
    mp = cache_m();
    if (mp != NULL)
        preempt_point(mp, caller);
    return (void *)s->base;
}

void
gr_malloc_preempt_point(const void *caller)
{
    struct m *mp = cache_m();

    if (mp != NULL)
        preempt_point(mp, caller);
}

/* GREENRUN_GC=leak's malloc: every call comes here (the P caches stay empty). */
static GR_NOINLINE void *
leak_malloc(size_t n, const void *caller)
{
    void *b;

    if (n <= GR_SMALL_MAX) {
        b = small_alloc(gr_size_class(n), caller);
        if (gr_unlikely(b == NULL))
            errno = ENOMEM;
    } else {
        b = large_alloc(n, GR_HEAP_PAGE, false, caller);
    }
    gr_gc_record(b, n);
    gr_gc_poll(b, caller);
    gr_malloc_preempt_point(caller);
    return b;
}

/* Everything but the fast path of gr_malloc. */
static GR_NOINLINE void *
malloc_slow(size_t n, const void *caller)
{
    /* The caches of the Ps stay empty then: every call comes here. */
    if (gr_unlikely(gr_malloc_system)) {
        void *b = gr_real.malloc(n);
        gr_malloc_preempt_point(caller);
        return b;
    }
    if (gr_unlikely(gr_gc_leak))
        return leak_malloc(n, caller);
    if (gr_likely(n <= GR_SMALL_MAX)) {
        void *b = small_alloc(gr_size_class(n), caller);
        if (gr_unlikely(b == NULL))
            errno = ENOMEM;
        return b;
    }
    return large_alloc(n, GR_HEAP_PAGE, false, caller);
}

/* The fast path, a leaf: a G on a P whose span of the class has a free object (cache_m and
 * cache_pop written out, the P read once: nothing can take it from a running G). */
void *
gr_malloc(size_t n, const void *caller)
{
    struct gr_span *s;
    struct gr_block *b;
    struct m *mp;
    struct p *pp;

    if (gr_unlikely(n > GR_SMALL_MAX) || gr_curg == NULL)
        return malloc_slow(n, caller);
    mp = gr_getm();
    pp = mp->p;
    if (gr_unlikely(pp == NULL || mp->mallocing))
        return malloc_slow(n, caller);
    mp->mallocing = true;
    gr_signal_fence();
    s = pp->mcache.alloc[gr_size_class(n)];
    b = s->free;
    if (gr_likely(b != NULL)) {
        s->free = b->next;
        b->canary = 0;
        gr_owner_inc(&s->used);
    }
    gr_signal_fence();
    mp->mallocing = false;
    if (gr_unlikely(b == NULL))
        return malloc_slow(n, caller);
    if (gr_unlikely(gr_load_relaxed(&mp->preempt)))
        return safepoint_with(b, caller); /* a tail call: the fast path keeps no frame */
    return b;
}

void *
gr_calloc(size_t nmemb, size_t size, const void *caller)
{
    size_t n;
    void *b;

    if (__builtin_mul_overflow(nmemb, size, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    if (n > GR_SMALL_MAX) {
        b = large_alloc(n, GR_HEAP_PAGE, true, caller);
    } else {
        b = small_alloc(gr_size_class(n), caller);
        if (b == NULL) {
            errno = ENOMEM;
            return NULL;
        }
        memset(b, 0, n);
    }
    if (gr_unlikely(gr_gc_leak)) {
        gr_gc_record(b, n);
        gr_gc_poll(b, caller);
    }
    return b;
}

void *
gr_malloc_aligned(size_t align, size_t n, const void *caller)
{
    if (align <= 16)
        return gr_malloc(n, caller);
    if (n > (size_t)PTRDIFF_MAX) {
        errno = ENOMEM;
        return NULL;
    }
    if (align <= 4096) {
        size_t want = gr_round_up(n == 0 ? 1 : n, align);
        if (want <= GR_SMALL_MAX) {
            /* A class whose size is a multiple of align has every object aligned: spans
             * start on a page. The powers of two are classes, so the search ends. */
            unsigned cls = gr_size_class(want);
            void *b;
            while (gr_class_size(cls) % align != 0)
                cls++;
            b = small_alloc(cls, caller);
            if (b == NULL)
                errno = ENOMEM;
            if (gr_unlikely(gr_gc_leak)) {
                gr_gc_record(b, n);
                gr_gc_poll(b, caller);
            }
            return b;
        }
    }
    if (align > ((size_t)1 << 40)) {
        errno = ENOMEM;
        return NULL;
    }
    void *b =
        large_alloc(n == 0 ? 1 : n, align < GR_HEAP_PAGE ? GR_HEAP_PAGE : align, false, caller);
    if (gr_unlikely(gr_gc_leak)) {
        gr_gc_record(b, n);
        gr_gc_poll(b, caller);
    }
    return b;
}

/* ---- Checks and frees. */

static GR_COLD GR_NORETURN void
misuse(const char *fn, const char *what, const void *p, const char *detail, size_t size,
       const void *block, const void *caller)
{
    char where[256] = "";
    Dl_info info;

    if (caller != NULL && dladdr(caller, &info) != 0 && info.dli_fname != NULL) {
        const char *obj = strrchr(info.dli_fname, '/');
        obj = obj != NULL ? obj + 1 : info.dli_fname;
        if (info.dli_sname != NULL)
            gr_snprint(where, sizeof(where), " %s+0x%lx in %s", info.dli_sname,
                       (unsigned long)((uintptr_t)caller - (uintptr_t)info.dli_saddr), obj);
        else
            gr_snprint(where, sizeof(where), " %s+0x%lx", obj,
                       (unsigned long)((uintptr_t)caller - (uintptr_t)info.dli_fbase));
    }
    if (block != NULL)
        gr_print("greenrun: %s(): %s %p: %s the %zu-byte block at %p (called from %p%s)\n", fn,
                 what, p, detail, size, block, caller, where);
    else if (size != 0)
        gr_print("greenrun: %s(): %s %p: %s %zu-byte block (called from %p%s)\n", fn, what, p,
                 detail, size, caller, where);
    else
        gr_print("greenrun: %s(): %s %p: %s (called from %p%s)\n", fn, what, p, detail, caller,
                 where);
    abort();
}

/*
 * The span of object p, checked: p must start an object in use. On misuse, reports in the
 * name of fn and aborts.
 */
static inline __attribute__((always_inline)) struct gr_span *
checked_span(void *p, const char *fn, const void *caller)
{
    uintptr_t a = (uintptr_t)p, off;
    struct gr_span *s = gr_heap_span_of(a);
    int state;

    if (gr_unlikely(s == NULL))
        misuse(fn, "invalid pointer", p, "not allocated by greenrun", 0, NULL, caller);
    state = gr_load_acquire(&s->state);
    off = a - s->base;
    if (gr_likely(state == SPAN_SMALL)) {
        struct gr_block *b = p;
        uint32_t idx = (uint32_t)(((uint64_t)off * s->divmul) >> 32);
        uintptr_t start = s->base + (uintptr_t)idx * s->size;
        /* One unsigned compare: below base (a stale entry) or past the last object. */
        if (gr_unlikely(off >= s->limit - s->base || start != a)) {
            if (a < s->base || off >= s->npages * GR_HEAP_PAGE)
                misuse(fn, "invalid pointer", p, "not allocated by greenrun", 0, NULL, caller);
            if (a >= s->limit)
                misuse(fn, "invalid pointer", p, "past the last object of a span of", s->size, NULL,
                       caller);
            misuse(fn, "invalid pointer", p, "inside", s->size, (void *)start, caller);
        }
        if (gr_unlikely(b->canary == block_canary(b)))
            misuse(fn, "double free of", p, "a", s->size, NULL, caller);
        return s;
    }
    if (gr_unlikely(a < s->base || off >= s->npages * GR_HEAP_PAGE))
        misuse(fn, "invalid pointer", p, "not allocated by greenrun", 0, NULL, caller);
    if (gr_likely(state == SPAN_LARGE || state == SPAN_HUGE)) {
        if (gr_unlikely(off != 0))
            misuse(fn, "invalid pointer", p, "inside", s->npages * GR_HEAP_PAGE, (void *)s->base,
                   caller);
        return s;
    }
    misuse(fn, "double free of", p, "a free page, no longer a", 0, NULL, caller);
}

/*
 * The free that found a span flagged full tells its owner, pushing it on the owner's
 * announced stack; a span nobody owns any more (a fork child's orphans) goes to its central
 * list. Only the free that cleared the flag gets here, so a span is pushed once.
 */
static GR_NOINLINE void
announce(struct gr_span *s)
{
    struct gr_mcache *c = gr_load_relaxed(&s->owner);
    struct gr_span *head;

    if (c == NULL) {
        central_put(s);
        return;
    }
    head = gr_load_relaxed(&c->announced);
    do
        s->anext = head;
    while (!gr_cas_release(&c->announced, &head, s));
}

/* A free that found the world stopped by the leak check waits until it restarts. */
static GR_NOINLINE GR_COLD void
world_wait(void)
{
    while (gr_load_acquire(&world_stopped) != 0)
        gr_sys_futex_wait(gr_atomic_word(&world_stopped), 1, -1);
}

/* A free by a thread that does not own the span. */
static GR_NOINLINE void
remote_free(struct gr_span *s, struct gr_block *b)
{
    uint64_t old;

    /* Pairs with the store in gr_malloc_world_stop: once the leak check has stopped the world
     * no free changes a span's lists (in leak mode every small free comes here). */
    if (gr_unlikely(gr_load_acquire(&world_stopped) != 0))
        world_wait();
    old = gr_load_relaxed(&s->xfree);
    for (;;) {
        b->next = (old & XFREE_FULL) != 0 ? NULL : (struct gr_block *)(uintptr_t)old;
        if (gr_cas(&s->xfree, &old, (uint64_t)(uintptr_t)b))
            break;
    }
    if ((old & XFREE_FULL) != 0)
        announce(s);
}

static void
large_free(struct gr_span *s)
{
    int saved = errno;

    /* In GC mode a collection may stop the world while this free waits for the heap's lock,
     * the program's last pointer already gone: no record says it is freed, not leaked. */
    if (gr_unlikely(gr_gc_leak))
        s->gc_size = 0;

    if (gr_load_relaxed(&s->state) == SPAN_HUGE)
        gr_heap_free_huge(s);
    else
        gr_heap_free(s);
    errno = saved;
}

/* Every free the fast path does not take: NULL, large and huge blocks, and misuse (checked
 * again in full, and reported). */
static GR_NOINLINE void
free_slow(void *p, void *caller)
{
    struct gr_span *s;
    struct gr_block *b = p;

    if (p == NULL)
        return;
    if (gr_unlikely(gr_malloc_system) && !gr_malloc_owns(p)) {
        gr_real.free(p);
        gr_malloc_preempt_point(caller);
        return;
    }
    s = checked_span(p, "free", caller);
    if (gr_load_relaxed(&s->state) != SPAN_SMALL) {
        large_free(s);
        return;
    }
    b->canary = block_canary(b);
    remote_free(s, b); /* unreachable: the fast path takes every good small free */
}

/* A local free that left a span not current with free objects again: out of line, so the
 * fast path needs no frame. Requires: mp->mallocing, and s owned by mp's P's cache. */
static GR_NOINLINE void
free_settle(struct m *mp, struct gr_span *s, const void *caller)
{
    span_settle(&mp->p->mcache, s);
    gr_signal_fence();
    mp->mallocing = false;
    preempt_point(mp, caller);
}

/*
 * The fast path: a small object of a span this P's cache owns. The checks are checked_span's,
 * written for the common case: a pointer that is not the start of an object in use (or NULL:
 * no span maps page 0) goes to free_slow, which names the misuse. Every other ending is a
 * tail call, so the path takes no frame.
 */
void
gr_free(void *p, void *caller)
{
    uintptr_t a = (uintptr_t)p, off, canary;
    struct gr_block *b = p;
    struct gr_span *s;
    struct m *mp;
    struct p *pp;

    s = gr_heap_span_of(a);
    if (gr_unlikely(s == NULL))
        return free_slow(p, caller);
    /* One compare bounds the offset and says the span is small (objbytes is 0 otherwise);
     * then the offset must be a multiple of the size, by multiplication (heap.h). */
    off = a - s->base;
    if (gr_unlikely(off >= gr_load_acquire(&s->objbytes) || off * s->divcheck >= s->divcheck))
        return free_slow(p, caller);
    canary = block_canary(b);
    if (gr_unlikely(b->canary == canary))
        return free_slow(p, caller);
    b->canary = canary;
    if (gr_unlikely(gr_curg == NULL))
        return remote_free(s, b);
    mp = gr_getm();
    pp = mp->p;
    if (gr_unlikely(pp == NULL || mp->mallocing))
        return remote_free(s, b);
    mp->mallocing = true;
    gr_signal_fence();
    if (gr_unlikely(gr_load_relaxed(&s->owner) != &pp->mcache)) {
        gr_signal_fence();
        mp->mallocing = false;
        return remote_free(s, b);
    }
    b->next = s->free;
    s->free = b;
    gr_owner_dec(&s->used);
    if (gr_unlikely(s->where != SPAN_CURRENT) &&
        (s->where == SPAN_FULL || gr_load_relaxed(&s->used) == 0))
        return free_settle(mp, s, caller);
    gr_signal_fence();
    mp->mallocing = false;
    preempt_point(mp, caller);
}

static size_t
usable(struct gr_span *s)
{
    return gr_load_relaxed(&s->state) == SPAN_SMALL ? s->size : s->npages * GR_HEAP_PAGE;
}

size_t
gr_malloc_usable_size(void *p, void *caller)
{
    if (p == NULL)
        return 0;
    return usable(checked_span(p, "malloc_usable_size", caller));
}

void
gr_malloc_free_any(void *p)
{
    if (p != NULL && !gr_malloc_owns(p))
        gr_real.free(p);
    else
        gr_free(p, __builtin_return_address(0));
}

bool
gr_malloc_owns(const void *p)
{
    struct gr_span *s = gr_heap_span_of((uintptr_t)p);

    return s != NULL && (uintptr_t)p >= s->base &&
           (uintptr_t)p - s->base < s->npages * GR_HEAP_PAGE &&
           gr_load_relaxed(&s->state) >= SPAN_SMALL;
}

/* realloc kept the block where it was: leak mode records its new size and stack. */
static inline void *
realloc_stay(void *p, size_t n, const void *caller)
{
    if (gr_unlikely(gr_gc_leak)) {
        gr_gc_record(p, n);
        gr_gc_poll(p, caller);
    }
    return p;
}

void *
gr_realloc(void *p, size_t n, void *caller)
{
    struct gr_span *s;
    size_t have;
    void *q;

    if (p == NULL)
        return gr_malloc(n, caller);
    if (n == 0) {
        gr_free(p, caller);
        return NULL;
    }
    if (gr_unlikely(gr_heap_span_of((uintptr_t)p) == NULL) && gr_tls_dtv_embedded(p)) {
        /* glibc grows the running G's DTV, which lives in the G's pages: it moves here. */
        size_t have_dtv = GR_DTV_EMBED * sizeof(struct gr_dtv_slot);
        q = gr_malloc(n, caller);
        if (q != NULL)
            memcpy(q, p, n < have_dtv ? n : have_dtv);
        return q;
    }
    s = checked_span(p, "realloc", caller);
    have = usable(s);
    if (gr_load_relaxed(&s->state) == SPAN_SMALL) {
        /* Stay when the class would be the same or the block shrinks by less than half. */
        if (n <= have && (n > GR_SMALL_MAX / 2 || gr_size_class(n) == s->cls || n > have / 2))
            return realloc_stay(p, n, caller);
    } else if (n <= have) {
        if (n > have / 2)
            return realloc_stay(p, n, caller);
    } else if (n > GR_SMALL_MAX && n < GR_HUGE_MIN) {
        /* Growing a large block: leave room for the next steps (a quarter of the size, as
         * jemalloc's classes do), so a buffer grown a little at a time moves seldom. */
        size_t step = (size_t)1 << (63 - __builtin_clzll((unsigned long long)n) - 2);
        size_t target = gr_round_up(gr_round_up(n, step), GR_HEAP_PAGE);
        if (gr_load_relaxed(&s->state) == SPAN_LARGE &&
            gr_heap_grow_in_place(s, target / GR_HEAP_PAGE))
            return realloc_stay(p, n, caller);
        q = large_alloc(target, GR_HEAP_PAGE, false, caller);
        if (q == NULL)
            return NULL;
        if (gr_unlikely(gr_gc_leak)) {
            gr_gc_record(q, n);
            gr_gc_poll(q, caller);
        }
        memcpy(q, p, have);
        gr_free(p, caller);
        return q;
    }
    q = gr_malloc(n, caller);
    if (q == NULL)
        return NULL;
    memcpy(q, p, n < have ? n : have);
    gr_free(p, caller);
    return q;
}

/* ---- Returning memory. */

/* Return the central lists' spans whose objects are all free to the heap. */
static bool
sweep_central(void)
{
    bool any = false;

    for (unsigned cls = 0; cls < GR_NCLASS; cls++) {
        struct central *ct = &central[cls];
        struct gr_span **pp;

        if (gr_load_relaxed(&ct->npartial) == 0)
            continue;
        gr_lock(&ct->lock);
        for (pp = &ct->partial; *pp != NULL;) {
            struct gr_span *s = *pp;
            span_collect(s);
            if (gr_load_relaxed(&s->used) == 0) {
                *pp = s->next;
                gr_owner_dec(&ct->npartial);
                s->next = NULL;
                gr_heap_free(s);
                any = true;
            } else {
                pp = &s->next;
            }
        }
        gr_unlock(&ct->lock);
    }
    return any;
}

void
gr_malloc_background(int64_t now)
{
    if (now - gr_load_relaxed(&last_sweep) < SWEEP_EVERY_NS)
        return;
    gr_store_relaxed(&last_sweep, now);
    sweep_central();
    gr_heap_scavenge(now, false);
}

bool
gr_malloc_trim(void)
{
    bool any = sweep_central();

    return gr_heap_scavenge(gr_nanotime(), true) > 0 || any;
}

/* ---- Statistics. */

static void
count_span(struct gr_span *s, void *arg)
{
    struct gr_malloc_stats *st = arg;

    if (gr_load_relaxed(&s->state) != SPAN_SMALL)
        return;
    st->class_objects[s->cls] += gr_load_relaxed(&s->used);
    st->class_spans[s->cls]++;
    st->small_spans += s->npages * GR_HEAP_PAGE;
    st->inuse += (uint64_t)gr_load_relaxed(&s->used) * s->size;
}

/* Leak mode: every small free is a remote one, counted only when a cache takes it back;
 * statistics take them back first, so the bytes in use follow the program's frees. */
static void
collect_remote_frees(void)
{
    for (unsigned i = 0; i < GR_NSHARED; i++) {
        struct gr_mcache *c = &shared[i].cache;
        gr_lock(&shared[i].lock);
        if (gr_load_relaxed(&c->announced) != NULL)
            take_announced(c);
        for (unsigned cls = 0; cls < GR_NCLASS; cls++) {
            if (c->alloc[cls] != NULL && c->alloc[cls] != &empty_span)
                span_collect(c->alloc[cls]);
            for (struct gr_span *s = c->partial[cls]; s != NULL; s = s->next)
                span_collect(s);
        }
        gr_unlock(&shared[i].lock);
    }
    for (unsigned cls = 0; cls < GR_NCLASS; cls++) {
        struct central *ct = &central[cls];
        if (gr_load_relaxed(&ct->npartial) == 0)
            continue;
        gr_lock(&ct->lock);
        for (struct gr_span *s = ct->partial; s != NULL; s = s->next)
            span_collect(s);
        gr_unlock(&ct->lock);
    }
}

void
gr_malloc_stats(struct gr_malloc_stats *st)
{
    struct gr_heap_stats hs;

    if (gr_unlikely(gr_gc_leak))
        collect_remote_frees();
    memset(st, 0, sizeof(*st));
    gr_heap_stats(&hs);
    gr_heap_each_span(count_span, st);
    st->mapped = hs.mapped;
    st->retained = hs.retained;
    st->released = hs.released;
    st->nlarge = hs.nlarge;
    st->large_bytes = hs.large_bytes;
    st->nhuge = hs.nhuge;
    st->huge_bytes = hs.huge_bytes;
    st->scavenged_total = hs.scavenged_total;
    st->inuse += hs.large_bytes + hs.huge_bytes;
}

void
gr_malloc_print_stats(void)
{
    struct gr_malloc_stats st;

    gr_malloc_stats(&st);
    gr_print("greenrun: heap: in use %lu KiB (small spans %lu KiB, %lu large objects %lu KiB, "
             "%lu huge %lu KiB), mapped %lu KiB, retained %lu KiB, returned %lu KiB "
             "(%lu KiB returned in all)\n",
             (unsigned long)(st.inuse >> 10), (unsigned long)(st.small_spans >> 10),
             (unsigned long)st.nlarge, (unsigned long)(st.large_bytes >> 10),
             (unsigned long)st.nhuge, (unsigned long)(st.huge_bytes >> 10),
             (unsigned long)(st.mapped >> 10), (unsigned long)(st.retained >> 10),
             (unsigned long)(st.released >> 10), (unsigned long)(st.scavenged_total >> 10));
    for (unsigned cls = 0; cls < GR_NCLASS; cls++)
        if (st.class_spans[cls] != 0)
            gr_print("greenrun: heap: class %zu B: %lu objects in use, %lu spans\n",
                     gr_class_size(cls), (unsigned long)st.class_objects[cls],
                     (unsigned long)st.class_spans[cls]);
}

/* ---- The leak check's stop (gc.c). */

void
gr_malloc_world_stop(void)
{
    /* Pairs with the load-acquire in remote_free. */
    gr_store(&world_stopped, 1);
    gr_malloc_fork_prepare();
}

void
gr_malloc_world_start(void)
{
    gr_malloc_fork_parent();
    gr_store_release(&world_stopped, 0);
    gr_sys_futex_wake(gr_atomic_word(&world_stopped), INT32_MAX);
}

static inline void
bit_clear(uint64_t *bits, uint32_t i)
{
    bits[i >> 6] &= ~((uint64_t)1 << (i & 63));
}

uint32_t
gr_malloc_span_live(struct gr_span *s, uint64_t *live)
{
    uint32_t n = (uint32_t)((s->bump - s->base) / s->size), count = 0;
    uint64_t x = gr_load_relaxed(&s->xfree);

    for (uint32_t i = 0; i < n; i++)
        live[i >> 6] |= (uint64_t)1 << (i & 63);
    for (struct gr_block *b = s->free; b != NULL; b = b->next)
        bit_clear(live, (uint32_t)(((uint64_t)((uintptr_t)b - s->base) * s->divmul) >> 32));
    if (x != 0 && x != XFREE_FULL)
        for (struct gr_block *b = (struct gr_block *)(uintptr_t)x; b != NULL; b = b->next)
            bit_clear(live, (uint32_t)(((uint64_t)((uintptr_t)b - s->base) * s->divmul) >> 32));
    for (uint32_t i = 0; i < n; i++) {
        struct gr_block *b = (struct gr_block *)(s->base + (uintptr_t)i * s->size);
        if ((live[i >> 6] >> (i & 63) & 1) == 0)
            continue;
        /* Freed, its free held back at remote_free's stop. */
        if (b->canary == block_canary(b))
            bit_clear(live, i);
        else
            count++;
    }
    return count;
}

/* ---- fork. */

void
gr_malloc_fork_prepare(void)
{
    gr_gc_fork_prepare();
    for (unsigned i = 0; i < GR_NSHARED; i++)
        gr_lock_untracked(&shared[i].lock);
    for (unsigned cls = 0; cls < GR_NCLASS; cls++)
        gr_lock_untracked(&central[cls].lock);
    gr_heap_fork_prepare();
}

void
gr_malloc_fork_parent(void)
{
    gr_heap_fork_parent();
    for (unsigned cls = GR_NCLASS; cls-- > 0;)
        gr_unlock_untracked(&central[cls].lock);
    for (unsigned i = GR_NSHARED; i-- > 0;)
        gr_unlock_untracked(&shared[i].lock);
    gr_gc_fork_parent();
}

/* Give up a cache another thread may have been using at the fork: its spans are left to
 * nobody (their objects stay valid; a flagged span goes to its central list at the next
 * free into it, the others are lost to the child). */
static void
orphan_cache(struct gr_mcache *c)
{
    for (unsigned cls = 0; cls < GR_NCLASS; cls++) {
        if (c->alloc[cls] != NULL && c->alloc[cls] != &empty_span)
            gr_store_relaxed(&c->alloc[cls]->owner, NULL);
        c->alloc[cls] = &empty_span;
        for (struct gr_span *s = c->partial[cls]; s != NULL; s = s->next)
            gr_store_relaxed(&s->owner, NULL);
        c->partial[cls] = NULL;
        c->npartial[cls] = 0;
    }
    gr_store_relaxed(&c->announced, NULL);
}

void
gr_malloc_fork_child(void)
{
    struct m *mp = gr_curg != NULL ? gr_getm() : NULL;

    gr_heap_fork_child();
    gr_gc_fork_child();
    /* A collection may have announced its stop, then waited for the locks fork held: the
     * child has no collection, so its frees must not wait for one. */
    gr_store_relaxed(&world_stopped, 0);
    for (unsigned cls = 0; cls < GR_NCLASS; cls++)
        gr_lock_reset(&central[cls].lock);
    for (unsigned i = 0; i < GR_NSHARED; i++)
        gr_lock_reset(&shared[i].lock);
    /* The P caches of the Ms that are gone may have been in the middle of an operation. */
    if (!gr_sched_booted())
        return;
    for (int i = 0; i < gr_nallp(); i++) {
        struct p *pp = gr_sched.allp[i];
        if (mp != NULL && (pp == mp->p || pp == mp->oldp))
            continue;
        orphan_cache(&pp->mcache);
    }
}
