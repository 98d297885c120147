/*
 * runtime/sys_linux.c: the sys.h contract on Linux, with raw system calls.
 *
 * The clocks go through libc's clock_gettime, which uses the vDSO and only touches errno on
 * failure; CLOCK_MONOTONIC and CLOCK_REALTIME cannot fail, so that is safe on g0.
 */
#include "runtime/sys.h"

#include <asm/prctl.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>

#include "runtime/arch.h"
#include "runtime/base.h"


int
gr_sys_futex_wait(const uint32_t *addr, uint32_t val, int64_t deadline)
{
    struct timespec ts;
    long r;

    if (deadline >= 0) {
        /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline: no drift on EINTR. */
        ts.tv_sec = deadline / GR_NSEC_PER_SEC;
        ts.tv_nsec = deadline % GR_NSEC_PER_SEC;
        r = gr_syscall6(SYS_futex, (long)addr, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, val,
                        (long)&ts, 0, FUTEX_BITSET_MATCH_ANY);
    } else {
        r = gr_syscall4(SYS_futex, addr, FUTEX_WAIT | FUTEX_PRIVATE_FLAG, val, 0);
    }
    return (int)r;
}

int
gr_sys_futex_wake(const uint32_t *addr, int n)
{
    return (int)gr_syscall3(SYS_futex, addr, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n);
}

long
gr_sys_futex(const uint32_t *addr, int op, uint32_t val, const struct timespec *ts,
             const uint32_t *addr2, uint32_t val3)
{
    return gr_syscall6(SYS_futex, (long)addr, op, val, (long)ts, (long)addr2, val3);
}

void *
gr_sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return (void *)gr_syscall6(SYS_mmap, (long)addr, (long)len, prot, flags, fd, off);
}

int
gr_sys_munmap(void *addr, size_t len)
{
    return (int)gr_syscall2(SYS_munmap, addr, len);
}

int
gr_sys_mprotect(void *addr, size_t len, int prot)
{
    return (int)gr_syscall3(SYS_mprotect, addr, len, prot);
}

int
gr_sys_madvise(void *addr, size_t len, int advice)
{
    return (int)gr_syscall3(SYS_madvise, addr, len, advice);
}

ssize_t
gr_sys_write(int fd, const void *buf, size_t len)
{
    return gr_syscall3(SYS_write, fd, buf, len);
}

ssize_t
gr_sys_read(int fd, void *buf, size_t len)
{
    return gr_syscall3(SYS_read, fd, buf, len);
}

int
gr_sys_open(const char *path, int flags)
{
    return (int)gr_syscall4(SYS_openat, AT_FDCWD, path, flags | O_CLOEXEC, 0);
}

int
gr_sys_close(int fd)
{
    return (int)gr_syscall1(SYS_close, fd);
}

pid_t
gr_sys_gettid(void)
{
    return (pid_t)gr_syscall0(SYS_gettid);
}

pid_t
gr_sys_getpid(void)
{
    return (pid_t)gr_syscall0(SYS_getpid);
}

int
gr_sys_tgkill(pid_t pid, pid_t tid, int sig)
{
    return (int)gr_syscall3(SYS_tgkill, pid, tid, sig);
}

int
gr_sys_sched_yield(void)
{
    return (int)gr_syscall0(SYS_sched_yield);
}

int
gr_sys_sigprocmask(int how, const void *set, void *old)
{
    return (int)gr_syscall4(SYS_rt_sigprocmask, how, set, old, 8);
}

int
gr_sys_rt_sigaction(int sig, const void *act, void *old)
{
    return (int)gr_syscall4(SYS_rt_sigaction, sig, act, old, 8);
}

void
gr_sys_exit_group(int code)
{
    for (;;)
        gr_syscall1(SYS_exit_group, code);
}

int
gr_sys_set_fs(uintptr_t base)
{
    return (int)gr_syscall2(SYS_arch_prctl, ARCH_SET_FS, base);
}

int
gr_sys_set_gs(uintptr_t base)
{
    return (int)gr_syscall2(SYS_arch_prctl, ARCH_SET_GS, base);
}

int64_t
gr_nanotime(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * GR_NSEC_PER_SEC + ts.tv_nsec;
}

int64_t
gr_walltime(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * GR_NSEC_PER_SEC + ts.tv_nsec;
}
