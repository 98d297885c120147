/*
 * runtime/sys.h: the operating-system primitives the runtime uses, as a small contract.
 *
 * Every function returns 0 (or a non-negative result) on success and -errno on failure, and
 * never writes errno: they are raw system calls, usable on g0, before boot and in signal
 * handlers. sys_linux.c implements them.
 */
#ifndef GR_RUNTIME_SYS_H
#define GR_RUNTIME_SYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct timespec;

/* Futex on a private 32-bit word. wait: sleeps while *addr == val, until woken or deadline
 * (absolute CLOCK_MONOTONIC ns; -1 = none). Returns 0, -EAGAIN, -ETIMEDOUT or -EINTR. */
int gr_sys_futex_wait(const uint32_t *addr, uint32_t val, int64_t deadline);
int gr_sys_futex_wake(const uint32_t *addr, int n);
/* The same, on a word another process may share (no FUTEX_PRIVATE_FLAG). */
long gr_sys_futex(const uint32_t *addr, int op, uint32_t val, const struct timespec *ts,
                  const uint32_t *addr2, uint32_t val3);

void *gr_sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int gr_sys_munmap(void *addr, size_t len);
int gr_sys_mprotect(void *addr, size_t len, int prot);
int gr_sys_madvise(void *addr, size_t len, int advice);

ssize_t gr_sys_write(int fd, const void *buf, size_t len);
ssize_t gr_sys_read(int fd, void *buf, size_t len);
ssize_t gr_sys_pread(int fd, void *buf, size_t len, off_t off);
int gr_sys_open(const char *path, int flags);
int gr_sys_close(int fd);
/* Create a new file for appending (O_EXCL: never an existing file or a symbolic link), with
 * mode; returns the descriptor (close-on-exec) or -errno. */
int gr_sys_create_excl(const char *path, int mode);

pid_t gr_sys_gettid(void);
pid_t gr_sys_getpid(void);
int gr_sys_tgkill(pid_t pid, pid_t tid, int sig);
/* A CLOCK_MONOTONIC POSIX timer that sends sig to thread tid with value as its sigval. Its
 * kernel id (>= 0), or -errno. */
int gr_sys_thread_timer_create(pid_t tid, int sig, int value);
/* Arm timer id to expire once at the CLOCK_MONOTONIC time when (ns); 0 disarms. 0 or -errno. */
int gr_sys_timer_arm(int id, int64_t when);
int gr_sys_sched_yield(void);
int gr_sys_sigprocmask(int how, const void *set, void *old);
/* The kernel's struct sigaction (x86_64), for gr_sys_rt_sigaction. */
struct gr_ksigaction {
    void *handler;
    unsigned long flags;
    void *restorer;
    uint64_t mask;
};
int gr_sys_rt_sigaction(int sig, const struct gr_ksigaction *act, struct gr_ksigaction *old);
void gr_sys_exit_group(int code) __attribute__((noreturn));

/*
 * The runtime's own descriptors (epoll, eventfd, /proc files) live in a high range, CLOEXEC,
 * out of the program's way; the descriptor hooks refuse to close or replace them.
 * gr_fd_reserve moves fd there (closing the original) and returns the new one, or -errno;
 * a negative fd is passed back unchanged.
 */
int gr_fd_reserve(int fd);
/*
 * Grow the descriptor table over the reserved range while the process has one thread (boot):
 * the kernel grows a table that threads share only after an RCU grace period, milliseconds
 * on a busy machine, which the first reservation (the netpoller's, made by a G that holds its
 * P and the netpoller's init lock) would spend asleep, with other Gs queued behind the lock.
 */
void gr_fd_reserve_init(void);
bool gr_fd_is_runtime(int fd);
/* Forget a reserved descriptor the runtime closes itself (the caller closes it). */
void gr_fd_release(int fd);

/* Learn what the CPU offers (FSGSBASE); once, at boot, before the first switch. With
 * use_fsgsbase false, FS is switched with arch_prctl even where wrfsbase would work
 * (GREENRUN_DEBUG=fs=arch_prctl: both paths tested on one machine). */
void gr_sys_init(bool use_fsgsbase);
bool gr_sys_fsgsbase(void);

/* Thread-pointer registers (x86_64: FS for TLS, GS for the runtime's M). gr_sys_set_fs uses
 * wrfsbase where the kernel allows it, arch_prctl elsewhere. */
int gr_sys_set_fs(uintptr_t base);
int gr_sys_set_gs(uintptr_t base);

/* The name of system call nr on this machine ("read"), or NULL when the runtime has none. */
const char *gr_sys_name(long nr);

/* Monotonic and realtime clocks in nanoseconds (vDSO). */
int64_t gr_nanotime(void);
int64_t gr_walltime(void);
/* CLOCK_MONOTONIC as of the last timer tick (a few ms behind at most), for stamps that need no
 * more: a fifth of gr_nanotime's cost on this project's machine (8 ns against 40). */
int64_t gr_nanotime_coarse(void);
/*
 * Read the clocks through fn, glibc's clock_gettime (the vDSO), from now on: until the real
 * functions are resolved, and where fn is NULL, the clocks are system calls. The runtime
 * interposes clock_gettime itself, so it must not reach it by name. Context: the constructor.
 */
void gr_sys_use_clock(int (*fn)(clockid_t, struct timespec *));
/* The CPU time of OS thread tid of this process (0: the calling one) in ns, or -errno (a
 * system call: the kernel keeps it; about 0.7 us on this project's machine). Context: any. */
int64_t gr_sys_thread_cputime(pid_t tid);
/* The CPU clock id of OS thread tid, as the kernel encodes it (pthread_getcpuclockid). */
clockid_t gr_sys_thread_clockid(pid_t tid);

#endif /* GR_RUNTIME_SYS_H */
