/*
 * runtime/control.c: the control socket (see control.h).
 *
 * The SIGQUIT handler notes a client's request (gr_control_attach_signal); sysmon starts the
 * control thread on its next round (gr_control_sysmon), once in the process's life. The thread
 * is an M without a P, like sysmon: it makes its system calls directly and runs no G, so a
 * program whose Ps are all stuck still answers. It checks the directory before trusting it (a
 * directory, not a link, the user's own, mode 0700), binds PID.sock there, and serves one
 * command per connection: "dump" (every G, dump.c), "report" (the blocking profile,
 * blockrec.c), "top" (counters as "name value" lines, which the launcher turns into rates).
 *
 * Locks: none of its own. What it serves takes what those take (the glock for top's count).
 */
#include "runtime/control.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include "runtime/atomic.h"
#include "runtime/blockrec.h"
#include "runtime/boot.h"
#include "runtime/debug.h"
#include "runtime/dump.h"
#include "runtime/lock.h"
#include "runtime/m.h"
#include "runtime/proc.h"
#include "runtime/sched.h"
#include "runtime/sys.h"
#include "runtime/sysmon.h"

enum { CTL_NONE, CTL_ASKED, CTL_STARTED };

static struct gr_atomic_u32 state; /* atomic: CTL_*; only sysmon moves ASKED -> STARTED */
static struct sockaddr_un addr;    /* written by the control thread before it listens */
static struct gr_atomic_i32 listen_fd = { -1 }; /* atomic: the listening socket, or -1 */
static struct gr_atomic_i32 bound_pid; /* atomic: the pid whose socket this process bound */

bool
gr_control_attach_signal(const siginfo_t *si)
{
    uint32_t none = CTL_NONE;
    uid_t me;

    if (si == NULL || si->si_code != SI_QUEUE || si->si_value.sival_int != GR_CONTROL_ATTACH)
        return false;
    me = (uid_t)gr_syscall0(SYS_getuid);
    if (si->si_uid != me && si->si_uid != 0)
        return true; /* somebody else's request: neither a dump nor a socket */
    if (gr_cas(&state, &none, CTL_ASKED))
        gr_sysmon_kick();
    return true;
}

/* "top": the scheduler's counters now, one "name value" per line. */
static void
top(int fd)
{
    int ng[G_DEAD + 1] = { 0 }, nsyscall_p = 0, nrunning_p = 0, nidle_p = 0;
    uint32_t runq = 0;

    gr_lock(&gr_sched.glock);
    for (struct g *gp = gr_sched.allg; gp != NULL; gp = gp->allnext) {
        uint32_t st = gr_load_relaxed(&gp->status);
        if (st <= G_DEAD)
            ng[st]++;
    }
    gr_unlock(&gr_sched.glock);
    for (int i = 0; i < gr_nallp(); i++) {
        struct p *pp = gr_sched.allp[i];
        uint32_t st = gr_load(&pp->status);

        runq += gr_load(&pp->runqtail) - gr_load(&pp->runqhead);
        nsyscall_p += st == P_SYSCALL;
        nrunning_p += st == P_RUNNING;
        nidle_p += st == P_IDLE;
    }
    gr_fdprint(fd, "uptime_ns %ld\n", (long)gr_nanotime());
    gr_fdprint(fd, "procs %d\nps_running %d\nps_syscall %d\nps_idle %d\n", gr_sched.nprocs,
               nrunning_p, nsyscall_p, nidle_p);
    gr_fdprint(fd, "gs_runnable %d\ngs_running %d\ngs_waiting %d\ngs_syscall %d\ngs_dead %d\n",
               ng[G_RUNNABLE], ng[G_RUNNING], ng[G_WAITING], ng[G_SYSCALL], ng[G_DEAD]);
    gr_fdprint(fd, "runq_local %u\nrunq_global %d\n", runq, gr_load_relaxed(&gr_sched.runqsize));
    gr_fdprint(fd, "ms %d\nms_idle %d\nms_spinning %u\n", gr_load(&gr_sched.mcount),
               gr_load_relaxed(&gr_sched.nmidle), gr_load(&gr_sched.nmspinning));
    gr_fdprint(fd, "switches %lu\nsteals %lu\ncreated %lu\nlive %d\n",
               (unsigned long)gr_load_relaxed(&gr_sched.nswitch),
               (unsigned long)gr_load_relaxed(&gr_sched.nsteal),
               (unsigned long)gr_load_relaxed(&gr_sched.ncreated),
               gr_load_relaxed(&gr_sched.nlive));
}

/* One connection: check the peer, read one command line, answer, close. */
static void
serve(int fd, uid_t me)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    struct timeval tv = { .tv_sec = 2 };
    char cmd[32];
    ssize_t n = 0, r;

    if (gr_syscall6(SYS_getsockopt, fd, SOL_SOCKET, SO_PEERCRED, (long)&cred, (long)&len, 0) != 0 ||
        (cred.uid != me && cred.uid != 0)) {
        gr_fdprint(fd, "greenrun: permission denied\n");
        return;
    }
    gr_syscall6(SYS_setsockopt, fd, SOL_SOCKET, SO_RCVTIMEO, (long)&tv, (long)sizeof(tv), 0);
    while (n < (ssize_t)sizeof(cmd) - 1 && (r = gr_sys_read(fd, cmd + n, 1)) == 1 && cmd[n] != '\n')
        n++;
    cmd[n] = '\0';
    if (strcmp(cmd, "dump") == 0)
        gr_dump_write(fd);
    else if (strcmp(cmd, "report") == 0 && gr_opts.blocking)
        gr_blockrec_write(fd);
    else if (strcmp(cmd, "report") == 0)
        gr_fdprint(fd, "greenrun: the blocking profile is off in this process: start it with "
                       "GREENRUN_DEBUG=blocking or GREENRUN_REPORT=path\n");
    else if (strcmp(cmd, "top") == 0)
        top(fd);
    else
        gr_fdprint(fd, "greenrun: unknown command \"%s\"; accepted: dump, report, top\n", cmd);
}

/* The directory must be the user's own, a real directory, mode 0700: else nobody may trust a
 * socket in it. Creates it when missing. */
static bool
dir_ok(const char *dir, uid_t me)
{
    struct stat st;
    long r;

    r = gr_syscall2(SYS_mkdir, dir, 0700);
    if (r != 0 && r != -EEXIST)
        return false;
    if (gr_syscall4(SYS_newfstatat, AT_FDCWD, dir, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return false;
    return S_ISDIR(st.st_mode) && st.st_uid == me && (st.st_mode & 0777) == 0700;
}

static void *
control_main(void *arg)
{
    struct m *mp = arg;
    uid_t me = (uid_t)gr_syscall0(SYS_getuid);
    char dir[64];
    int pid = (int)gr_sys_getpid(), fd;

    if (gr_m_init_self(mp) != 0)
        gr_throw("control: cannot set the GS base");
    gr_snprint(dir, sizeof(dir), GR_CONTROL_DIR_FMT, (unsigned)me);
    if (!dir_ok(dir, me)) {
        gr_print("greenrun: control: %s is not a directory of mode 0700 owned by uid %u; no "
                 "control socket\n",
                 dir, (unsigned)me);
        return NULL;
    }
    addr.sun_family = AF_UNIX;
    gr_snprint(addr.sun_path, sizeof(addr.sun_path), "%s/%d.sock", dir, pid);
    fd = gr_fd_reserve((int)gr_syscall3(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd < 0)
        return NULL;
    gr_syscall1(SYS_unlink, addr.sun_path); /* a stale socket of an earlier process */
    if (gr_syscall3(SYS_bind, fd, &addr, sizeof(addr)) != 0 ||
        gr_syscall2(SYS_listen, fd, 8) != 0) {
        gr_print("greenrun: control: cannot listen on %s\n", addr.sun_path);
        gr_fd_release(fd);
        gr_sys_close(fd);
        return NULL;
    }
    gr_store(&bound_pid, pid);
    gr_store(&listen_fd, fd);
    for (;;) {
        int c = (int)gr_syscall4(SYS_accept4, fd, NULL, NULL, SOCK_CLOEXEC);

        if (c == -EINTR || c == -ECONNABORTED)
            continue;
        if (c < 0)
            break;
        serve(c, me);
        gr_sys_close(c);
    }
    return NULL;
}

void
gr_control_sysmon(void)
{
    uint32_t asked = CTL_ASKED;

    if (gr_load_relaxed(&state) != CTL_ASKED)
        return;
    if (getauxval(AT_SECURE) != 0) {
        gr_store(&state, CTL_STARTED); /* never for a set-uid program */
        return;
    }
    if (gr_cas(&state, &asked, CTL_STARTED) && !gr_newm(NULL, false, true, control_main))
        gr_print("greenrun: control: cannot start the control thread\n");
}

void
gr_control_exit(void)
{
    if (gr_load(&listen_fd) >= 0 && gr_load(&bound_pid) == (int)gr_sys_getpid())
        gr_syscall1(SYS_unlink, addr.sun_path);
}

void
gr_control_fork_child(void)
{
    int fd = gr_load(&listen_fd);

    if (fd >= 0) {
        gr_fd_release(fd);
        gr_sys_close(fd);
    }
    gr_store(&listen_fd, -1);
    gr_store(&state, CTL_NONE);
}
