/*
 * hooks/blocking.c: calls that may sleep in the kernel and that no poller can turn into a
 * park: opening files (a FIFO's open waits for the other end), waiting for children, syncing,
 * allocating and locking files, positioned file I/O, draining a terminal, System V IPC and
 * POSIX message queues.
 * Each runs between gr_entersyscall and gr_exitsyscall, so sysmon hands the P to another M
 * while it lasts; errno is the G's own throughout (DESIGN.md "Blocking calls the runtime
 * cannot avoid").
 */
#include <fcntl.h>
#include <stdarg.h>
#include <mqueue.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "hooks/hook.h"
#include "hooks/tid.h"

#define IN_SYSCALL GR_HOOK_IN_SYSCALL

/* ---- Opening: open(2)'s third argument is read only when the flags need a mode. A path
 * /proc/self/task/TID/... of a thread's id opens its OS thread's (hooks/tid.c). */

#define PROC_PATH(path) \
    char proc_buf_[96]; \
    (path) = gr_hook_proc_path((path), proc_buf_, sizeof(proc_buf_))

#define OPEN_MODE(flags, mode)                   \
    do {                                         \
        (mode) = 0;                              \
        if ((flags) & (O_CREAT | __O_TMPFILE)) { \
            va_list ap_;                         \
            va_start(ap_, flags);                \
            (mode) = va_arg(ap_, mode_t);        \
            va_end(ap_);                         \
        }                                        \
    } while (0)

GR_EXPORT int
open(const char *path, int flags, ...)
{
    mode_t mode;

    OPEN_MODE(flags, mode);
    PROC_PATH(path);
    if (flags & O_NONBLOCK)
        return gr_real.open(path, flags, mode);
    IN_SYSCALL(int, gr_real.open(path, flags, mode));
}

GR_EXPORT int
open64(const char *path, int flags, ...)
{
    mode_t mode;

    OPEN_MODE(flags, mode);
    PROC_PATH(path);
    if (flags & O_NONBLOCK)
        return gr_real.open64(path, flags, mode);
    IN_SYSCALL(int, gr_real.open64(path, flags, mode));
}

GR_EXPORT int
openat(int dirfd, const char *path, int flags, ...)
{
    mode_t mode;

    OPEN_MODE(flags, mode);
    PROC_PATH(path);
    if (flags & O_NONBLOCK)
        return gr_real.openat(dirfd, path, flags, mode);
    IN_SYSCALL(int, gr_real.openat(dirfd, path, flags, mode));
}

GR_EXPORT int
openat64(int dirfd, const char *path, int flags, ...)
{
    mode_t mode;

    OPEN_MODE(flags, mode);
    PROC_PATH(path);
    if (flags & O_NONBLOCK)
        return gr_real.openat64(dirfd, path, flags, mode);
    IN_SYSCALL(int, gr_real.openat64(dirfd, path, flags, mode));
}

GR_EXPORT int
creat(const char *path, mode_t mode)
{
    IN_SYSCALL(int, gr_real.creat(path, mode));
}

GR_EXPORT int
creat64(const char *path, mode_t mode)
{
    IN_SYSCALL(int, gr_real.creat64(path, mode));
}

/* The fortified entry points: glibc checks the flags (a mode-less O_CREAT aborts). */
GR_EXPORT int
__open_2(const char *path, int flags)
{
    PROC_PATH(path);
    if (flags & O_NONBLOCK)
        return gr_real.__open_2(path, flags);
    IN_SYSCALL(int, gr_real.__open_2(path, flags));
}

GR_EXPORT int
__open64_2(const char *path, int flags)
{
    PROC_PATH(path);
    if (flags & O_NONBLOCK)
        return gr_real.__open64_2(path, flags);
    IN_SYSCALL(int, gr_real.__open64_2(path, flags));
}

GR_EXPORT int
__openat_2(int dirfd, const char *path, int flags)
{
    PROC_PATH(path);
    if (flags & O_NONBLOCK)
        return gr_real.__openat_2(dirfd, path, flags);
    IN_SYSCALL(int, gr_real.__openat_2(dirfd, path, flags));
}

GR_EXPORT int
__openat64_2(int dirfd, const char *path, int flags)
{
    PROC_PATH(path);
    if (flags & O_NONBLOCK)
        return gr_real.__openat64_2(dirfd, path, flags);
    IN_SYSCALL(int, gr_real.__openat64_2(dirfd, path, flags));
}

/* ---- Children, files, IPC. */

GR_EXPORT pid_t
waitpid(pid_t pid, int *status, int options)
{
    if (options & WNOHANG)
        return gr_real.waitpid(pid, status, options);
    IN_SYSCALL(pid_t, gr_real.waitpid(pid, status, options));
}

GR_EXPORT pid_t
wait(int *status)
{
    IN_SYSCALL(pid_t, gr_real.wait(status));
}

GR_EXPORT pid_t
wait4(pid_t pid, int *status, int options, struct rusage *ru)
{
    if (options & WNOHANG)
        return gr_real.wait4(pid, status, options, ru);
    IN_SYSCALL(pid_t, gr_real.wait4(pid, status, options, ru));
}

GR_EXPORT int
waitid(idtype_t type, id_t id, siginfo_t *info, int options)
{
    if (options & WNOHANG)
        return gr_real.waitid(type, id, info, options);
    IN_SYSCALL(int, gr_real.waitid(type, id, info, options));
}

GR_EXPORT int
fsync(int fd)
{
    IN_SYSCALL(int, gr_real.fsync(fd));
}

GR_EXPORT int
fdatasync(int fd)
{
    IN_SYSCALL(int, gr_real.fdatasync(fd));
}

GR_EXPORT int
flock(int fd, int op)
{
    if (op & LOCK_NB)
        return gr_real.flock(fd, op);
    IN_SYSCALL(int, gr_real.flock(fd, op));
}

GR_EXPORT int
lockf(int fd, int cmd, off_t len)
{
    if (cmd != F_LOCK)
        return gr_real.lockf(fd, cmd, len);
    IN_SYSCALL(int, gr_real.lockf(fd, cmd, len));
}

GR_EXPORT ssize_t
pread(int fd, void *buf, size_t n, off_t off)
{
    IN_SYSCALL(ssize_t, gr_real.pread(fd, buf, n, off));
}

GR_EXPORT ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
    IN_SYSCALL(ssize_t, gr_real.pwrite(fd, buf, n, off));
}

GR_EXPORT ssize_t
pread64(int fd, void *buf, size_t n, off_t off)
{
    IN_SYSCALL(ssize_t, gr_real.pread64(fd, buf, n, off));
}

GR_EXPORT ssize_t
pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    IN_SYSCALL(ssize_t, gr_real.pwrite64(fd, buf, n, off));
}

GR_EXPORT ssize_t
preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
    IN_SYSCALL(ssize_t, gr_real.preadv(fd, iov, cnt, off));
}

GR_EXPORT ssize_t
pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    IN_SYSCALL(ssize_t, gr_real.pwritev(fd, iov, cnt, off));
}

/* Between regular files only (pipes and sockets get EINVAL): nothing to poll. */
GR_EXPORT ssize_t
copy_file_range(int in, off64_t *off_in, int out, off64_t *off_out, size_t len, unsigned int flags)
{
    IN_SYSCALL(ssize_t, gr_real.copy_file_range(in, off_in, out, off_out, len, flags));
}

GR_EXPORT ssize_t
msgrcv(int id, void *msg, size_t size, long type, int flags)
{
    if (flags & IPC_NOWAIT)
        return gr_real.msgrcv(id, msg, size, type, flags);
    IN_SYSCALL(ssize_t, gr_real.msgrcv(id, msg, size, type, flags));
}

GR_EXPORT int
msgsnd(int id, const void *msg, size_t size, int flags)
{
    if (flags & IPC_NOWAIT)
        return gr_real.msgsnd(id, msg, size, flags);
    IN_SYSCALL(int, gr_real.msgsnd(id, msg, size, flags));
}

GR_EXPORT int
semop(int id, struct sembuf *ops, size_t n)
{
    IN_SYSCALL(int, gr_real.semop(id, ops, n));
}

GR_EXPORT int
semtimedop(int id, struct sembuf *ops, size_t n, const struct timespec *timeout)
{
    IN_SYSCALL(int, gr_real.semtimedop(id, ops, n, timeout));
}

GR_EXPORT pid_t
wait3(int *status, int options, struct rusage *ru)
{
    if (options & WNOHANG)
        return gr_real.wait3(status, options, ru);
    IN_SYSCALL(pid_t, gr_real.wait3(status, options, ru));
}

GR_EXPORT int
lockf64(int fd, int cmd, off64_t len)
{
    if (cmd != F_LOCK)
        return gr_real.lockf64(fd, cmd, len);
    IN_SYSCALL(int, gr_real.lockf64(fd, cmd, len));
}

/* ---- More positioned I/O: the fortified, 64-bit and flagged forms. */

GR_EXPORT ssize_t
__pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen)
{
    IN_SYSCALL(ssize_t, gr_real.__pread_chk(fd, buf, n, off, buflen));
}

GR_EXPORT ssize_t
__pread64_chk(int fd, void *buf, size_t n, off64_t off, size_t buflen)
{
    IN_SYSCALL(ssize_t, gr_real.__pread64_chk(fd, buf, n, off, buflen));
}

GR_EXPORT ssize_t
preadv64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
    IN_SYSCALL(ssize_t, gr_real.preadv64(fd, iov, cnt, off));
}

GR_EXPORT ssize_t
pwritev64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
    IN_SYSCALL(ssize_t, gr_real.pwritev64(fd, iov, cnt, off));
}

/* RWF_NOWAIT asks for no wait at all: straight through. */
GR_EXPORT ssize_t
preadv2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
    if (flags & RWF_NOWAIT)
        return gr_real.preadv2(fd, iov, cnt, off, flags);
    IN_SYSCALL(ssize_t, gr_real.preadv2(fd, iov, cnt, off, flags));
}

GR_EXPORT ssize_t
pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
    if (flags & RWF_NOWAIT)
        return gr_real.pwritev2(fd, iov, cnt, off, flags);
    IN_SYSCALL(ssize_t, gr_real.pwritev2(fd, iov, cnt, off, flags));
}

GR_EXPORT ssize_t
preadv64v2(int fd, const struct iovec *iov, int cnt, off64_t off, int flags)
{
    if (flags & RWF_NOWAIT)
        return gr_real.preadv64v2(fd, iov, cnt, off, flags);
    IN_SYSCALL(ssize_t, gr_real.preadv64v2(fd, iov, cnt, off, flags));
}

GR_EXPORT ssize_t
pwritev64v2(int fd, const struct iovec *iov, int cnt, off64_t off, int flags)
{
    if (flags & RWF_NOWAIT)
        return gr_real.pwritev64v2(fd, iov, cnt, off, flags);
    IN_SYSCALL(ssize_t, gr_real.pwritev64v2(fd, iov, cnt, off, flags));
}

/* ---- Flushing and allocating file space, draining a terminal. */

GR_EXPORT void
sync(void)
{
    if (gr_hook_g() == NULL) {
        gr_real.sync();
        return;
    }
    gr_entersyscall();
    gr_real.sync();
    gr_exitsyscall();
}

GR_EXPORT int
syncfs(int fd)
{
    IN_SYSCALL(int, gr_real.syncfs(fd));
}

GR_EXPORT int
sync_file_range(int fd, off64_t off, off64_t n, unsigned int flags)
{
    IN_SYSCALL(int, gr_real.sync_file_range(fd, off, n, flags));
}

GR_EXPORT int
msync(void *addr, size_t len, int flags)
{
    if (!(flags & MS_SYNC))
        return gr_real.msync(addr, len, flags);
    IN_SYSCALL(int, gr_real.msync(addr, len, flags));
}

GR_EXPORT int
fallocate(int fd, int mode, off_t off, off_t len)
{
    IN_SYSCALL(int, gr_real.fallocate(fd, mode, off, len));
}

GR_EXPORT int
fallocate64(int fd, int mode, off64_t off, off64_t len)
{
    IN_SYSCALL(int, gr_real.fallocate64(fd, mode, off, len));
}

GR_EXPORT int
tcdrain(int fd)
{
    IN_SYSCALL(int, gr_real.tcdrain(fd));
}

/* ---- POSIX message queues: a blocking queue descriptor waits in the kernel. */

GR_EXPORT ssize_t
mq_receive(mqd_t q, char *msg, size_t len, unsigned int *prio)
{
    IN_SYSCALL(ssize_t, gr_real.mq_receive(q, msg, len, prio));
}

GR_EXPORT int
mq_send(mqd_t q, const char *msg, size_t len, unsigned int prio)
{
    IN_SYSCALL(int, gr_real.mq_send(q, msg, len, prio));
}

GR_EXPORT ssize_t
mq_timedreceive(mqd_t q, char *msg, size_t len, unsigned int *prio, const struct timespec *abstime)
{
    IN_SYSCALL(ssize_t, gr_real.mq_timedreceive(q, msg, len, prio, abstime));
}

GR_EXPORT int
mq_timedsend(mqd_t q, const char *msg, size_t len, unsigned int prio,
             const struct timespec *abstime)
{
    IN_SYSCALL(int, gr_real.mq_timedsend(q, msg, len, prio, abstime));
}
