/*
 * runtime/stack.h: G stacks and the G structures that live at their top.
 *
 * A stack mapping holds, from high to low addresses: the TLS block (static TLS and the
 * descriptor), the struct g, then the stack, then a guard page (or nothing, beyond the
 * mapping budget: the scheduler then checks the stack pointer at every switch).
 * Dead Gs keep their mapping and are reused whole, like Go's gfree lists.
 */
#ifndef GR_RUNTIME_STACK_H
#define GR_RUNTIME_STACK_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/atomic.h"

struct g;

/* A dead G with a stack of size bytes (mapping size, guard included) and guard bytes of guard,
 * fields zeroed except the stack description. NULL when memory is exhausted. */
struct g *gr_stack_galloc(size_t size, size_t guard);
/* Return a dead G to the pool, or unmap it when the pool is full. */
void gr_stack_gfree(struct g *gp);
/* The default stack size for threads whose attributes set none. */
size_t gr_stack_default(void);
void gr_stack_init(size_t default_size);

/* Counters for stats. */
extern struct gr_atomic_i32 gr_stack_guards;    /* atomic: mappings with a guard page */
extern struct gr_atomic_i32 gr_stack_unguarded; /* atomic: mappings without one (budget spent) */

/* In a fork child: the lock may have been held by a thread that is gone. */
void gr_stack_fork_child(void);

#endif /* GR_RUNTIME_STACK_H */
