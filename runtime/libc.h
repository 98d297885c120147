/*
 * runtime/libc.h: the real libc functions behind every interposed name (libc.def).
 *
 * gr_real is filled by gr_libc_resolve() with dlsym/dlvsym(RTLD_NEXT) before boot, so hooks
 * and the runtime reach glibc's own implementation without recursing into the hooks. An entry
 * listed with a version newer than GLIBC_2.34 is NULL when this libc lacks the name.
 */
#ifndef GR_RUNTIME_LIBC_H
#define GR_RUNTIME_LIBC_H

#include <dlfcn.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <grp.h>
#include <link.h>
#include <malloc.h>
#include <mqueue.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <termios.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

int __libc_start_main(int (*main)(int, char **, char **), int argc, char **argv, void (*init)(void),
                      void (*fini)(void), void (*rtld_fini)(void), void *stack_end);

/* glibc's fortified entry points (declared by its headers only under _FORTIFY_SOURCE). */
ssize_t __read_chk(int fd, void *buf, size_t nbytes, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
                       struct sockaddr *addr, socklen_t *addrlen);
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);
ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen);
ssize_t __pread64_chk(int fd, void *buf, size_t n, off64_t off, size_t buflen);
int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t nfds, const struct timespec *timeout, const sigset_t *ss,
                size_t fdslen);

/* glibc 2.36 added pidfd_send_signal (sys/pidfd.h, not included by the headers above). */
int pidfd_send_signal(int pidfd, int sig, siginfo_t *info, unsigned int flags);
/* glibc 2.35 added epoll_pwait2; older headers do not declare it (libc.c: newer_than_floor). */
int epoll_pwait2(int epfd, struct epoll_event *events, int maxevents,
                 const struct timespec *timeout, const sigset_t *ss);

/* Some interposed names are deprecated (pthread_yield, pthread_mutex_consistent_np): they
 * still exist, and binaries still call them. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
/* mallinfo is deprecated in glibc's headers; the table still needs its type. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
struct gr_real {
#define HOOK(fam, name, ver) __typeof__(&name) name;
#define COMPAT(fam, name, old, new)
#include "runtime/libc.def"
#undef COMPAT
#undef HOOK
};
#pragma GCC diagnostic pop

/* The old version of each COMPAT name. */
struct gr_real_compat {
#define HOOK(fam, name, ver)
#define COMPAT(fam, name, old, new) __typeof__(&name) name;
#include "runtime/libc.def"
#undef COMPAT
#undef HOOK
};
#pragma GCC diagnostic pop

extern struct gr_real gr_real;
extern struct gr_real_compat gr_real_compat;

/*
 * The two definitions of a COMPAT name in its hook file: GR_COMPAT_NEW(name) becomes
 * name@@new and GR_COMPAT_OLD(name) name@old; the implementation names stay local
 * (scripts/gen-exports.sh).
 */
#define GR_COMPAT_NEW(name) gr_compat_new_##name
#define GR_COMPAT_OLD(name) gr_compat_old_##name
#define GR_COMPAT_SYMVER(name, old, new)                         \
    __typeof__(name) gr_compat_new_##name, gr_compat_old_##name; \
    __asm__(".symver gr_compat_new_" #name ", " #name "@@" new); \
    __asm__(".symver gr_compat_old_" #name ", " #name "@" old)

/* Resolve every entry; returns 0, or -1 naming the first missing one in *missing. */
int gr_libc_resolve(const char **missing);

#endif /* GR_RUNTIME_LIBC_H */
