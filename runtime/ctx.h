/*
 * runtime/ctx.h: the context switch (ctx_<arch>.S) and new-context setup (ctx_<arch>.c).
 *
 * gr_ctx_switch saves the callee-saved registers and the floating-point control state on the
 * current stack, stores the stack pointer in *save and resumes *load. It does not touch FS:
 * the scheduler installs a G's thread pointer before switching to it, on g0, where no code
 * reads TLS.
 */
#ifndef GR_RUNTIME_CTX_H
#define GR_RUNTIME_CTX_H

#include <stddef.h>

#include "runtime/sched.h"

void gr_ctx_switch(struct gr_ctx *save, struct gr_ctx *load);

/*
 * Prepare ctx so that the first switch to it calls entry(arg) on the stack that ends at top
 * (exclusive), with the caller's floating-point control state. entry must never return.
 */
void gr_ctx_make(struct gr_ctx *ctx, void *top, void (*entry)(void *), void *arg);

/* The first code of every context gr_ctx_make builds: the bottom frame of a G's stack, where
 * unwinders stop (its return address follows the call of entry, the last thing it does). */
void gr_ctx_trampoline(void);
#define GR_CTX_TRAMPOLINE_SIZE 16 /* bytes of code, the call included */

#endif /* GR_RUNTIME_CTX_H */
