/*
 * runtime/mem.h: the runtime's own memory for its structures (G, M, timer heaps).
 *
 * It never calls malloc: the runtime runs where malloc may not (g0 with a foreign TLS block,
 * inside glibc's locks). Memory is zeroed. Small sizes come from per-size free lists carved
 * from 1 MiB chunks; large ones are mapped directly.
 */
#ifndef GR_RUNTIME_MEM_H
#define GR_RUNTIME_MEM_H

#include <stddef.h>

void *gr_mem_alloc(size_t size);
void gr_mem_free(void *p, size_t size);

/* Reserve and release address space for stacks: PROT_READ|PROT_WRITE, lazily committed. */
void *gr_mem_map(size_t size);
void gr_mem_unmap(void *p, size_t size);

/* In a fork child: the lock may have been held by a thread that is gone. */
void gr_mem_fork_child(void);

#endif /* GR_RUNTIME_MEM_H */
