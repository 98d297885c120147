/*
 * runtime/stack.c: stack mappings, guard budget and the pool of dead Gs.
 *
 * Each mapping costs one VMA, two when it has a guard page (PROT_NONE splits it). With
 * vm.max_map_count at 65530, 100,000 guarded stacks cannot exist, so guards are given while
 * fewer than a quarter of max_map_count are live; beyond that the scheduler checks the G's
 * stack pointer whenever it switches out (g.c, gr_g_check_stack), and unguarded neighbours
 * merge into one mapping.
 * Stacks are MAP_NORESERVE and committed lazily: an 8 MiB stack costs what it touches.
 *
 * Lock: pool_lock (leaf) protects the pool lists.
 */
#include "runtime/stack.h"

#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

#include "runtime/atomic.h"
#include "runtime/debug.h"
#include "runtime/lock.h"
#include "runtime/mem.h"
#include "runtime/sched.h"
#include "runtime/sys.h"
#include "runtime/tls.h"

#define POOL_CLASSES 8
#define POOL_MAX     1024 /* dead Gs kept per class */
#define POOL_WARM    16   /* of which keep their stack pages; the rest give them back */

struct gr_atomic_i32 gr_stack_guards;
struct gr_atomic_i32 gr_stack_unguarded;

struct pool {
    size_t size; /* mapping size, 0 = unused class */
    size_t guard;
    struct g *list; /* linked through schedlink */
    int32_t n;
};

static struct gr_mutex pool_lock = GR_MUTEX_INIT(GR_RANK_STACKPOOL);
static struct pool pools[POOL_CLASSES]; /* protected by pool_lock */
static size_t default_size;
static int32_t guard_budget;

static long
read_long_file(const char *path, long dflt)
{
    char buf[32];
    long v = 0;
    int fd = gr_sys_open(path, 0);
    ssize_t n;

    if (fd < 0)
        return dflt;
    n = gr_sys_read(fd, buf, sizeof(buf) - 1);
    gr_sys_close(fd);
    if (n <= 0)
        return dflt;
    for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
        v = v * 10 + (buf[i] - '0');
    return v > 0 ? v : dflt;
}

void
gr_stack_init(size_t dflt)
{
    default_size = dflt;
    guard_budget = (int32_t)(read_long_file("/proc/sys/vm/max_map_count", 65530) / 4);
}

size_t
gr_stack_default(void)
{
    return default_size;
}

static struct g *
g_at_top(void *map, size_t size)
{
    uintptr_t top = (uintptr_t)map + size - gr_tls_block_size();
    return (struct g *)gr_round_down(top - sizeof(struct g), 64);
}

/* Reset a pooled G for reuse; keeps the stack description. */
static void
g_reset(struct g *gp)
{
    void *map = gp->map_lo;
    size_t size = gp->map_size, guard = gp->guard;

    memset(gp, 0, sizeof(*gp));
    gp->map_lo = map;
    gp->map_size = size;
    gp->guard = guard;
    gp->stack_lo = (char *)map + guard;
    gp->stack_hi = (void *)gr_round_down((uintptr_t)gp, 16);
}

struct g *
gr_stack_galloc(size_t size, size_t guard)
{
    struct g *gp = NULL;
    char *map;

    gr_lock(&pool_lock);
    for (int i = 0; i < POOL_CLASSES; i++) {
        if (pools[i].size == size && pools[i].guard == guard && pools[i].list != NULL) {
            gp = pools[i].list;
            pools[i].list = gp->schedlink;
            pools[i].n--;
            break;
        }
    }
    gr_unlock(&pool_lock);
    if (gp != NULL) {
        /* The previous G's TLS block and descriptor must not leak into the next one, but
         * glibc malloc's arena and tcache do carry over (tls.c, probe_malloc_words). */
        size_t tls = gr_tls_block_size();
        uintptr_t words[2] = { 0, 0 };
        for (int i = 0; i < gr_tls.nmalloc; i++)
            words[i] = *(uintptr_t *)(gp->tp + gr_tls.malloc_off[i]);
        memset((char *)gp->map_lo + gp->map_size - tls, 0, tls);
        g_reset(gp);
        gp->malloc_words[0] = words[0];
        gp->malloc_words[1] = words[1];
        return gp;
    }

    map = gr_mem_map(size);
    if (map == NULL)
        return NULL;
    /* The top pages (TLS block, struct g, first stack frames) are touched at once: commit
     * them in one call rather than one page fault each (faults are costly under a VM). */
    gr_sys_madvise((char *)map + size - 2 * GR_PAGE, 2 * GR_PAGE, 23 /* MADV_POPULATE_WRITE */);
    gp = g_at_top(map, size);
    gp->map_lo = map;
    gp->map_size = size;
    if (guard > 0 && gr_xadd(&gr_stack_guards, 1) < guard_budget) {
        if (gr_sys_mprotect(map, guard, PROT_NONE) != 0) {
            gr_xadd(&gr_stack_guards, -1);
            guard = 0;
        }
    } else {
        if (guard > 0)
            gr_xadd(&gr_stack_guards, -1);
        guard = 0;
    }
    gp->guard = guard;
    if (guard == 0)
        gr_xadd(&gr_stack_unguarded, 1);
    g_reset(gp);
    return gp;
}

void
gr_stack_gfree(struct g *gp)
{
    struct pool *pl = NULL;

    gr_lock(&pool_lock);
    for (int i = 0; i < POOL_CLASSES && pl == NULL; i++)
        if (pools[i].size == gp->map_size && pools[i].guard == gp->guard)
            pl = &pools[i];
    for (int i = 0; i < POOL_CLASSES && pl == NULL; i++) {
        if (pools[i].size == 0) {
            pl = &pools[i];
            pl->size = gp->map_size;
            pl->guard = gp->guard;
        }
    }
    if (pl != NULL && pl->n >= POOL_WARM && pl->n < POOL_MAX) {
        /* Beyond a few warm ones, a pooled G keeps only its top pages: a server whose threads
         * each touched a deep stack would otherwise hold all of it in the pool. Trimmed
         * before it is listed: once listed, another M may take it and g_reset clears its
         * fields, and a trim read from them (map_lo 0) would discard every mapping below. */
        char *lo = (char *)gp->map_lo + gp->guard;
        char *keep = (char *)gr_round_down((uintptr_t)gp, GR_PAGE) - GR_PAGE;
        gr_unlock(&pool_lock);
        if (keep > lo)
            gr_sys_madvise(lo, (size_t)(keep - lo), 4 /* MADV_DONTNEED */);
        gr_lock(&pool_lock);
    }
    if (pl != NULL && pl->n < POOL_MAX) {
        gp->schedlink = pl->list;
        pl->list = gp;
        pl->n++;
        gr_unlock(&pool_lock);
        return;
    }
    gr_unlock(&pool_lock);
    if (gp->guard > 0)
        gr_xadd(&gr_stack_guards, -1);
    else
        gr_xadd(&gr_stack_unguarded, -1);
    gr_mem_unmap(gp->map_lo, gp->map_size);
}

void
gr_stack_fork_child(void)
{
    gr_lock_reset(&pool_lock);
}
