/*
 * runtime/syscall.h: blocking calls in syscall mode (syscall.c).
 */
#ifndef GR_RUNTIME_SYSCALL_H
#define GR_RUNTIME_SYSCALL_H

#include <stdint.h>

struct p;

/*
 * Bracket a call that may block in the kernel: the P is left in P_SYSCALL, and sysmon
 * hands it to another M if the call lasts and there is work. gr_exitsyscall takes the P
 * back, or another idle one, or parks the G until one is free. Context: user G; between the
 * two, the G must not call into the runtime.
 */
void gr_entersyscall(void);
void gr_exitsyscall(void);
/*
 * gr_entersyscall for a call that will almost surely sleep (a process-shared object's wait in
 * glibc): the P is handed to another M at once, with its run queue, instead of after sysmon
 * has watched the call for 20 us (Go's entersyscallblock). End it with gr_exitsyscall.
 */
void gr_entersyscallblock(void);

/*
 * A raw system call that may sleep in the kernel, made in syscall mode (Go's Syscall beside
 * RawSyscall): the kernel's result, -errno on failure; errno is not touched.
 * Requires: a user G with a P (a hook's gr_hook_g() was not NULL).
 */
long gr_blocking_syscall6(long nr, long a1, long a2, long a3, long a4, long a5, long a6);
#define gr_blocking_syscall1(n, a)    gr_blocking_syscall6((n), (long)(a), 0, 0, 0, 0, 0)
#define gr_blocking_syscall2(n, a, b) gr_blocking_syscall6((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define gr_blocking_syscall3(n, a, b, c) \
    gr_blocking_syscall6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define gr_blocking_syscall4(n, a, b, c, d) \
    gr_blocking_syscall6((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)

/* Hand pp, taken from its M (P_IDLE, no M), to an M if there is work, else make it idle.
 * Context: any; no lock held. */
void gr_handoffp(struct p *pp);

/* sysmon: take back Ps that sit in blocking calls while work waits. Returns how many. */
int gr_retake(int64_t now);

#endif /* GR_RUNTIME_SYSCALL_H */
