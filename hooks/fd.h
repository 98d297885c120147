/*
 * hooks/fd.h: what the I/O hook files share (fd.c implements it).
 */
#ifndef GR_HOOKS_FD_H
#define GR_HOOKS_FD_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

/* A raw system call result to the libc convention: -1 with errno, or the value. */
static inline long
gr_hook_ret(long r)
{
    if (r < 0) {
        errno = (int)-r;
        return -1;
    }
    return r;
}

/*
 * fd was just created by a call of this process (socket, accept, pipe...): start its new
 * generation, "sole", with what the call tells. timeo_known: its SO_RCVTIMEO/SO_SNDTIMEO
 * are known to be unset (a new socket; not an accepted one, which may inherit them).
 */
void gr_hook_fd_new(int fd, uint8_t kind, bool nonblock, uint8_t stream, bool timeo_known);

/* A process was forked (or spawned) sharing this process's descriptions: what the atfork
 * handlers do, for _Fork, vfork and posix_spawn, which run none. In the child (child true),
 * the poller is the parent's and is replaced. */
void gr_hook_fd_forked(bool child);

#endif /* GR_HOOKS_FD_H */
