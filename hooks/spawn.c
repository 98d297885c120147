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
    if (err == 0 && !gr_native())
        gr_hook_fd_forked(false);
    return err;
}

GR_EXPORT int
posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *acts,
            const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    int err;

    if (gr_hook_g() == NULL)
        return spawn_done(gr_real.posix_spawn(pid, path, acts, attr, argv, envp));
    gr_entersyscall();
    err = gr_real.posix_spawn(pid, path, acts, attr, argv, envp);
    gr_exitsyscall();
    return spawn_done(err);
}

GR_EXPORT int
posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *acts,
             const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    int err;

    if (gr_hook_g() == NULL)
        return spawn_done(gr_real.posix_spawnp(pid, file, acts, attr, argv, envp));
    gr_entersyscall();
    err = gr_real.posix_spawnp(pid, file, acts, attr, argv, envp);
    gr_exitsyscall();
    return spawn_done(err);
}

/* glibc's system() spawns the shell and waits for it with its own internal calls. */
GR_EXPORT int
system(const char *cmd)
{
    if (cmd != NULL && !gr_hook_native())
        gr_hook_fd_forked(false);
    GR_HOOK_IN_SYSCALL(int, gr_real.system(cmd));
}
