/*
 * runtime/arch_amd64.h: what the scheduler needs from x86_64, besides the context switch
 * (ctx_amd64.S).
 *
 * The running M is found through the GS base, which the runtime sets once per OS thread to
 * point at its struct m (glibc and the program leave GS alone on x86_64). FS is the thread
 * pointer of whichever G's TLS block is installed; on g0 it may still be the previous G's, so
 * code running on g0 never touches TLS (see HACKING.md, "g0 is TLS-free").
 */
#ifndef GR_RUNTIME_ARCH_AMD64_H
#define GR_RUNTIME_ARCH_AMD64_H

#include <stdint.h>

struct m;

/* The M running this code; valid on every OS thread the runtime created or adopted. */
static inline struct m *
gr_getm(void)
{
    struct m *mp;

    __asm__ volatile("movq %%gs:0, %0" : "=r"(mp));
    return mp;
}

/* The installed thread pointer (the TLS block of the current G, or the previous one on g0). */
static inline uintptr_t
gr_get_tp(void)
{
    uintptr_t tp;

    __asm__("movq %%fs:0, %0" : "=r"(tp));
    return tp;
}

static inline void
gr_cpu_relax(void)
{
    __builtin_ia32_pause();
}

static inline uint64_t
gr_cputicks(void)
{
    uint32_t lo, hi;

    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/*
 * Raw system call: returns the kernel's value (negative errno on failure) and never touches
 * errno, so it is safe on g0 and in signal handlers.
 */
static inline long
gr_syscall6(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
    long ret;
    register long r10 __asm__("r10") = a4;
    register long r8 __asm__("r8") = a5;
    register long r9 __asm__("r9") = a6;

    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

#define gr_syscall0(n)          gr_syscall6((n), 0, 0, 0, 0, 0, 0)
#define gr_syscall1(n, a)       gr_syscall6((n), (long)(a), 0, 0, 0, 0, 0)
#define gr_syscall2(n, a, b)    gr_syscall6((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define gr_syscall3(n, a, b, c) gr_syscall6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define gr_syscall4(n, a, b, c, d) \
    gr_syscall6((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)

#endif /* GR_RUNTIME_ARCH_AMD64_H */
