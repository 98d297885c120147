/*
 * runtime/ctx_amd64.c: building the first frame of a new context (see ctx_amd64.S).
 *
 * Locks: none.
 */
#include "runtime/ctx.h"

#include <stdint.h>

void
gr_ctx_make(struct gr_ctx *ctx, void *top, void (*entry)(void *), void *arg)
{
    uintptr_t sp = (uintptr_t)top & ~(uintptr_t)15; /* after the ret: 16-byte aligned */
    uint64_t *f;
    uint32_t mxcsr;
    uint16_t fcw;

    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(fcw));
    sp -= 8 * 8;
    f = (uint64_t *)sp;
    f[0] = (uint64_t)mxcsr | ((uint64_t)fcw << 32);
    f[1] = 0;                          /* r15 */
    f[2] = 0;                          /* r14 */
    f[3] = (uint64_t)(uintptr_t)entry; /* r13 */
    f[4] = (uint64_t)(uintptr_t)arg;   /* r12 */
    f[5] = 0;                          /* rbx */
    f[6] = 0;                          /* rbp */
    f[7] = (uint64_t)(uintptr_t)gr_ctx_trampoline;
    ctx->sp = sp;
}
