/*
 * runtime/leaf.h: libc's leaf functions (memcpy, strlen, ...), where the preemption signal
 * may stop a G that called one from its own code (leaf.c).
 */
#ifndef GR_RUNTIME_LEAF_H
#define GR_RUNTIME_LEAF_H

#include <stdbool.h>
#include <stdint.h>

/* Find the functions' extents in libc's unwind table. Once, at boot, before preemption. */
void gr_leaf_init(void);
/* Is pc inside one of them? Context: signal handlers too. */
bool gr_leaf_pc(uintptr_t pc);
/* The start of the libc function pc is in (from libc's unwind table), or 0 when pc is not in
 * libc. Context: any (no lock, no allocation). */
uintptr_t gr_leaf_libc_function(uintptr_t pc);

#endif
