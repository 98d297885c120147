/*
 * hooks/spawn.c: creating processes from a G (DESIGN.md "fork and exec").
 *
 * fork itself is not hooked: the runtime's reset hangs off an atfork child handler registered
 * at boot, which also serves daemon() and forkpty(), whose fork bypasses the PLT. _Fork runs
 * no atfork handlers, so its hook runs the same reset. vfork is interposed in assembly
 * (vfork_amd64.S) around the helpers below. posix_spawn, posix_spawnp and system sleep in
 * the kernel until the child has exec'd (CLONE_VFORK), system until it has exited too: they
 * run in syscall mode. Every process created shares the descriptions open at that moment,
 * so no descriptor is "sole" after it (hooks/fd.c).
 *
 * Locks: none.
 */
#include <spawn.h>
#include <stdlib.h>
#include <unistd.h>

#include "hooks/fd.h"
#include "hooks/hook.h"

__thread unsigned char gr_hook_vforking;
static __thread unsigned char vfork_in_syscall;

/* Declared for the assembly only. */
void gr_vfork_enter(void);
pid_t gr_vfork_leave(long ret);

/* Before the vfork system call, on the calling G. */
void
gr_vfork_enter(void)
{
    if (gr_hook_g() != NULL) {
        gr_entersyscall();
        vfork_in_syscall = 1;
    }
    gr_hook_vforking = 1;
}

/* In the parent once the child has exec'd or exited: ret is the system call's result. */
pid_t
gr_vfork_leave(long ret)
{
    gr_hook_vforking = 0;
    if (vfork_in_syscall) {
        vfork_in_syscall = 0;
        gr_exitsyscall();
    }
    if (ret < 0) {
        errno = (int)-ret;
        return -1;
    }
    if (!gr_native())
        gr_hook_fd_forked(false);
    return (pid_t)ret;
}

GR_EXPORT pid_t
_Fork(void)
{
    pid_t pid = gr_real._Fork();

    if (pid < 0 || gr_hook_native())
        return pid;
    if (pid == 0)
        gr_fork_child();
    gr_hook_fd_forked(pid == 0);
    return pid;
}

static int
spawn_done(int err)
{
    if (err == 0 && !gr_hook_native())
        gr_hook_fd_forked(false);
    return err;
}

typedef int spawn_fn(pid_t *, const char *, const posix_spawn_file_actions_t *,
                     const posix_spawnattr_t *, char *const[], char *const[]);

/* The child runs until it has exec'd while this M waits in the kernel: syscall mode. */
static int
spawn_with(spawn_fn *fn, pid_t *pid, const char *file, const posix_spawn_file_actions_t *acts,
           const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    int err;

    if (gr_hook_g() == NULL)
        return spawn_done(fn(pid, file, acts, attr, argv, envp));
    gr_entersyscall();
    err = fn(pid, file, acts, attr, argv, envp);
    gr_exitsyscall();
    return spawn_done(err);
}

/* Both ABIs of posix_spawn and posix_spawnp (runtime/libc.def, COMPAT). */
GR_COMPAT_SYMVER(posix_spawn, "GLIBC_2.2.5", "GLIBC_2.15");
GR_COMPAT_SYMVER(posix_spawnp, "GLIBC_2.2.5", "GLIBC_2.15");

GR_EXPORT int
GR_COMPAT_NEW(posix_spawn)(pid_t *pid, const char *path, const posix_spawn_file_actions_t *acts,
                           const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    return spawn_with(gr_real.posix_spawn, pid, path, acts, attr, argv, envp);
}

GR_EXPORT int
GR_COMPAT_OLD(posix_spawn)(pid_t *pid, const char *path, const posix_spawn_file_actions_t *acts,
                           const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    return spawn_with(gr_real_compat.posix_spawn, pid, path, acts, attr, argv, envp);
}

GR_EXPORT int
GR_COMPAT_NEW(posix_spawnp)(pid_t *pid, const char *file, const posix_spawn_file_actions_t *acts,
                            const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    return spawn_with(gr_real.posix_spawnp, pid, file, acts, attr, argv, envp);
}

GR_EXPORT int
GR_COMPAT_OLD(posix_spawnp)(pid_t *pid, const char *file, const posix_spawn_file_actions_t *acts,
                            const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    return spawn_with(gr_real_compat.posix_spawnp, pid, file, acts, attr, argv, envp);
}

/* glibc's system() spawns the shell and waits for it with its own internal calls. */
GR_EXPORT int
system(const char *cmd)
{
    if (cmd != NULL && !gr_hook_native())
        gr_hook_fd_forked(false);
    GR_HOOK_IN_SYSCALL(int, gr_real.system(cmd));
}
