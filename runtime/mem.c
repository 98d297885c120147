/*
 * runtime/mem.c: a small size-class allocator for runtime structures (see mem.h).
 *
 * Classes are multiples of 64 bytes up to 4 KiB, each a LIFO free list; blocks are never
 * returned to the system. Everything is under one lock: the runtime allocates rarely (a G
 * struct per new G beyond the free-G caches, a timer heap when it grows).
 * Lock: mem_lock, a leaf: nothing else is taken while holding it.
 */
#include "runtime/mem.h"

#include <string.h>
#include <sys/mman.h>

#include "runtime/base.h"
#include "runtime/debug.h"
#include "runtime/lock.h"
#include "runtime/sys.h"

#define CLASS_SHIFT 6
#define CLASS_MAX   4096
#define NCLASS      (CLASS_MAX >> CLASS_SHIFT)
#define CHUNK       (1UL << 20)

struct freeblock {
    struct freeblock *next;
};

static struct gr_mutex mem_lock = GR_MUTEX_INIT(GR_RANK_MEM);
static struct freeblock *freelist[NCLASS + 1]; /* protected by mem_lock */
static char *chunk_cur;                        /* protected by mem_lock */
static char *chunk_end;

void *
gr_mem_map(size_t size)
{
    void *p = gr_sys_mmap(NULL, size, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if ((uintptr_t)p >= (uintptr_t)-4095)
        return NULL;
    return p;
}

void
gr_mem_unmap(void *p, size_t size)
{
    gr_sys_munmap(p, size);
}

void *
gr_mem_alloc(size_t size)
{
    size_t cls, rsize;
    void *p;

    if (size > CLASS_MAX) {
        rsize = gr_round_up(size, GR_PAGE);
        return gr_mem_map(rsize);
    }
    cls = (gr_round_up(size == 0 ? 1 : size, 1 << CLASS_SHIFT)) >> CLASS_SHIFT;
    rsize = cls << CLASS_SHIFT;
    gr_lock(&mem_lock);
    if (freelist[cls] != NULL) {
        p = freelist[cls];
        freelist[cls] = freelist[cls]->next;
        gr_unlock(&mem_lock);
        memset(p, 0, rsize);
        return p;
    }
    if (chunk_cur == NULL || (size_t)(chunk_end - chunk_cur) < rsize) {
        char *c = gr_mem_map(CHUNK);
        if (c == NULL) {
            gr_unlock(&mem_lock);
            return NULL;
        }
        chunk_cur = c;
        chunk_end = c + CHUNK;
    }
    p = chunk_cur;
    chunk_cur += rsize;
    gr_unlock(&mem_lock);
    return p; /* fresh mapping: already zero */
}

void
gr_mem_free(void *p, size_t size)
{
    size_t cls;

    if (p == NULL)
        return;
    if (size > CLASS_MAX) {
        gr_mem_unmap(p, gr_round_up(size, GR_PAGE));
        return;
    }
    cls = (gr_round_up(size == 0 ? 1 : size, 1 << CLASS_SHIFT)) >> CLASS_SHIFT;
    gr_lock(&mem_lock);
    ((struct freeblock *)p)->next = freelist[cls];
    freelist[cls] = p;
    gr_unlock(&mem_lock);
}

void
gr_mem_fork_child(void)
{
    gr_lock_reset(&mem_lock);
}
