/*
 * runtime/sys_linux.c: the sys.h contract on Linux, with raw system calls.
 *
 * The clocks go through libc's clock_gettime, which uses the vDSO and only touches errno on
 * failure; CLOCK_MONOTONIC and CLOCK_REALTIME cannot fail, so that is safe on g0. The hook of
 * clock_gettime (hooks/tid.c) hands it over once the real functions are resolved; before
 * that, the clocks are system calls.
 *
 * Locks: none; the table of reserved descriptors is lock-free.
 */
#include "runtime/sys.h"

#include <asm/prctl.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>

#include "runtime/arch.h"
#include "runtime/atomic.h"
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

ssize_t
gr_sys_pread(int fd, void *buf, size_t len, off_t off)
{
    return gr_syscall4(SYS_pread64, fd, buf, len, off);
}

/* ---- Reserved descriptors. */

#define MAX_RESERVED 256

static struct gr_atomic_i32 reserved[MAX_RESERVED];  /* atomic slots; 0 = free (fd 0 is never
                                                       reserved) */
static struct gr_atomic_i32 reserved_floor = { -1 }; /* atomic: lowest reserved fd, -1 = none */

/* The bottom of the reserved range: the top MAX_RESERVED descriptors of the current limit. */
static long
reserve_base(void)
{
    struct rlimit {
        unsigned long cur, max;
    } rl;

    if (gr_syscall4(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, &rl) != 0 || rl.cur > (1UL << 20))
        rl.cur = 1024;
    return (long)rl.cur > 2 * MAX_RESERVED ? (long)rl.cur - MAX_RESERVED : (long)rl.cur / 2;
}

void
gr_fd_reserve_init(void)
{
    int fd = gr_sys_open("/", O_PATH);
    long nfd;

    if (fd < 0)
        return;
    nfd = gr_syscall3(SYS_fcntl, fd, F_DUPFD_CLOEXEC, reserve_base());
    if (nfd >= 0)
        gr_sys_close((int)nfd);
    gr_sys_close(fd);
}

int
gr_fd_reserve(int fd)
{
    long nfd;

    if (fd < 0)
        return fd;
    nfd = gr_syscall3(SYS_fcntl, fd, F_DUPFD_CLOEXEC, reserve_base());
    if (nfd < 0)
        nfd = gr_syscall3(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 3); /* keep it, low if need be */
    if (nfd < 0)
        return fd;
    gr_syscall1(SYS_close, fd);
    for (int i = 0; i < MAX_RESERVED; i++) {
        int zero = 0;
        if (gr_cas(&reserved[i], &zero, (int)nfd))
            break;
    }
    for (;;) {
        int floor = gr_load(&reserved_floor);
        if (floor >= 0 && floor <= nfd)
            break;
        if (gr_cas(&reserved_floor, &floor, (int)nfd))
            break;
    }
    return (int)nfd;
}

bool
gr_fd_is_runtime(int fd)
{
    int floor = gr_load_relaxed(&reserved_floor);

    if (floor < 0 || fd < floor)
        return false;
    for (int i = 0; i < MAX_RESERVED; i++)
        if (gr_load_relaxed(&reserved[i]) == fd)
            return true;
    return false;
}

void
gr_fd_release(int fd)
{
    for (int i = 0; i < MAX_RESERVED; i++) {
        int v = fd;
        if (gr_cas(&reserved[i], &v, 0))
            return;
    }
}

int
gr_sys_open(const char *path, int flags)
{
    return (int)gr_syscall4(SYS_openat, AT_FDCWD, path, flags | O_CLOEXEC, 0);
}

int
gr_sys_create_excl(const char *path, int mode)
{
    return (int)gr_syscall4(SYS_openat, AT_FDCWD, path,
                            O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, mode);
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
gr_sys_thread_timer_create(pid_t tid, int sig, int value)
{
    struct sigevent ev;
    int id = -1;
    long rc;

    memset(&ev, 0, sizeof(ev));
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = sig;
    ev.sigev_value.sival_int = value;
    ev._sigev_un._tid = tid;
    rc = gr_syscall3(SYS_timer_create, CLOCK_MONOTONIC, (long)&ev, (long)&id);
    return rc < 0 ? (int)rc : id;
}

int
gr_sys_timer_arm(int id, int64_t when)
{
    struct itimerspec its;

    memset(&its, 0, sizeof(its));
    its.it_value.tv_sec = when / GR_NSEC_PER_SEC;
    its.it_value.tv_nsec = when % GR_NSEC_PER_SEC;
    return (int)gr_syscall4(SYS_timer_settime, id, TIMER_ABSTIME, (long)&its, 0);
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
gr_sys_rt_sigaction(int sig, const struct gr_ksigaction *act, struct gr_ksigaction *old)
{
    return (int)gr_syscall4(SYS_rt_sigaction, sig, act, old, 8);
}

void
gr_sys_exit_group(int code)
{
    for (;;)
        gr_syscall1(SYS_exit_group, code);
}

/*
 * Whether the CPU and kernel let user code write FS directly (wrfsbase: nanoseconds, where
 * arch_prctl is a system call; Linux 5.9+ sets HWCAP2_FSGSBASE when it enables them). Read
 * once at boot; false until then, and with GREENRUN_DEBUG=fs=arch_prctl.
 */
static bool have_fsgsbase;

void
gr_sys_init(bool use_fsgsbase)
{
    have_fsgsbase = use_fsgsbase && (getauxval(AT_HWCAP2) & 2 /* HWCAP2_FSGSBASE */) != 0;
}

bool
gr_sys_fsgsbase(void)
{
    return have_fsgsbase;
}

int
gr_sys_set_fs(uintptr_t base)
{
    if (have_fsgsbase) {
        __asm__ volatile("wrfsbase %0" : : "r"(base) : "memory");
        return 0;
    }
    return (int)gr_syscall2(SYS_arch_prctl, ARCH_SET_FS, base);
}

int
gr_sys_set_gs(uintptr_t base)
{
    return (int)gr_syscall2(SYS_arch_prctl, ARCH_SET_GS, base);
}

/* glibc's clock_gettime, or NULL before the real functions are resolved. Written once in the
 * constructor, before any other thread exists. */
static int (*clock_fn)(clockid_t, struct timespec *);

void
gr_sys_use_clock(int (*fn)(clockid_t, struct timespec *))
{
    clock_fn = fn;
}

static int64_t
read_clock(clockid_t clock)
{
    struct timespec ts;

    if (clock_fn != NULL)
        clock_fn(clock, &ts);
    else
        gr_syscall2(SYS_clock_gettime, clock, (long)&ts);
    return ts.tv_sec * GR_NSEC_PER_SEC + ts.tv_nsec;
}

int64_t
gr_nanotime(void)
{
    return read_clock(CLOCK_MONOTONIC);
}

int64_t
gr_nanotime_coarse(void)
{
    return read_clock(CLOCK_MONOTONIC_COARSE);
}

int64_t
gr_walltime(void)
{
    return read_clock(CLOCK_REALTIME);
}

/* The kernel's encoding of a thread's CPU clock (include/linux/posix-timers.h):
 * (~tid << 3) | CPUCLOCK_PERTHREAD_MASK | CPUCLOCK_SCHED. */
clockid_t
gr_sys_thread_clockid(pid_t tid)
{
    return (clockid_t)(((uint32_t)~tid << 3) | 4 | 2);
}

int64_t
gr_sys_thread_cputime(pid_t tid)
{
    struct timespec ts;
    long r =
        gr_syscall2(SYS_clock_gettime,
                    tid == 0 ? CLOCK_THREAD_CPUTIME_ID : gr_sys_thread_clockid(tid), (long)&ts);

    if (r != 0)
        return r;
    return ts.tv_sec * GR_NSEC_PER_SEC + ts.tv_nsec;
}

/* System calls that can sleep, by name, for reports. Legacy calls some architectures lack
 * (open, poll, select, pause, epoll_wait) are listed only where they exist. */
static const struct {
    long nr;
    const char *name;
} sys_names[] = {
/* clang-format off */
#define SYSNAME(name) { SYS_##name, #name },
    SYSNAME(read) SYSNAME(write) SYSNAME(readv) SYSNAME(writev) SYSNAME(pread64)
    SYSNAME(pwrite64) SYSNAME(preadv) SYSNAME(pwritev) SYSNAME(openat) SYSNAME(close)
    SYSNAME(ioctl) SYSNAME(fcntl) SYSNAME(flock) SYSNAME(fsync) SYSNAME(fdatasync)
    SYSNAME(sync) SYSNAME(syncfs) SYSNAME(msync) SYSNAME(ppoll) SYSNAME(pselect6)
    SYSNAME(epoll_pwait) SYSNAME(futex) SYSNAME(nanosleep) SYSNAME(clock_nanosleep)
    SYSNAME(wait4) SYSNAME(waitid) SYSNAME(accept) SYSNAME(accept4) SYSNAME(connect)
    SYSNAME(recvfrom) SYSNAME(sendto) SYSNAME(recvmsg) SYSNAME(sendmsg) SYSNAME(recvmmsg)
    SYSNAME(sendmmsg) SYSNAME(sendfile) SYSNAME(splice) SYSNAME(copy_file_range)
    SYSNAME(msgrcv) SYSNAME(msgsnd) SYSNAME(semop) SYSNAME(semtimedop)
    SYSNAME(rt_sigsuspend) SYSNAME(rt_sigtimedwait) SYSNAME(getrandom) SYSNAME(io_getevents)
    SYSNAME(io_uring_enter) SYSNAME(mmap) SYSNAME(munmap) SYSNAME(mprotect) SYSNAME(madvise)
    SYSNAME(sched_yield) SYSNAME(newfstatat) SYSNAME(statx) SYSNAME(mkdirat) SYSNAME(unlinkat)
    SYSNAME(renameat2)
#ifdef SYS_open
    SYSNAME(open)
#endif
#ifdef SYS_poll
    SYSNAME(poll)
#endif
#ifdef SYS_select
    SYSNAME(select)
#endif
#ifdef SYS_pause
    SYSNAME(pause)
#endif
#ifdef SYS_epoll_wait
    SYSNAME(epoll_wait)
#endif
#undef SYSNAME
    /* clang-format on */
};

const char *
gr_sys_name(long nr)
{
    for (size_t i = 0; i < GR_ARRAY_LEN(sys_names); i++)
        if (sys_names[i].nr == nr)
            return sys_names[i].name;
    return NULL;
}
