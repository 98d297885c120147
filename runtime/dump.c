/*
 * runtime/dump.c: the thread dump (Go's goroutine traceback on SIGQUIT, the JVM's thread
 * dump): every G with its id, name, state and wait reason, how long it has been in that
 * state, the M and P it is on, and its symbolized backtrace.
 *
 * Where a backtrace comes from (unwind.c does the unwinding):
 *  - a parked or runnable G: the frame its last switch left at ctx.sp (ctx_amd64.S), whose
 *    return address is in the runtime function that switched;
 *  - a G in syscall mode: the frame of the function that entered it (g->syscallpc and kin,
 *    syscall.c), which does not move while the call sleeps in the kernel;
 *  - the G that asked for the dump (greenrun_dump on a G): its own registers;
 *  - a G running on another M: none, it is marked running; unless that M sleeps in the kernel
 *    (a call no hook saw, whose record /proc/<tid>/syscall keeps): then from that record's
 *    stack pointer and pc, kept only if the record is the same after the walk.
 * Nothing stops the world: a G may run again while its stack is read. Its registers are
 * copied under the glock, then checked against its status again; libunwind checks what it
 * reads and unwind.c keeps to the G's stack, so a G that moved on costs its backtrace some
 * frames, never a fault.
 *
 * SIGQUIT: while the program leaves it at its default (hooks/signal.c keeps reporting
 * SIG_DFL), the kernel runs gr_dump_sigquit, which only sets a flag and wakes sysmon. sysmon
 * starts a thread of glibc's (not an M) that writes the dump to stderr, then exits the
 * process with status 2 under GREENRUN_QUIT=exit. The dump calls libc (libunwind, dladdr,
 * getsockname), which may take glibc's locks, so it runs neither in the handler nor on
 * sysmon: a G that sleeps holding such a lock stalls the dump, not the scheduler.
 *
 * Locks: the glock while copying the Gs (g.c's attr_lock, a leaf, for names). quit_pending
 * and dumping are lock-free.
 */
#include "runtime/dump.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include "runtime/arch.h"
#include "runtime/atomic.h"
#include "runtime/blockrec.h"
#include "runtime/boot.h"
#include "runtime/control.h"
#include "runtime/debug.h"
#include "runtime/g.h"
#include "runtime/libc.h"
#include "runtime/mem.h"
#include "runtime/proc.h"
#include "runtime/sched.h"
#include "runtime/sys.h"
#include "runtime/sysmon.h"
#include "runtime/unwind.h"

#define DUMP_STACK_SIZE (1024 * 1024) /* the dumping thread's: frames of names, libunwind */

static int quit_mode;                     /* GR_QUIT_*; written at boot */
static struct gr_atomic_u32 quit_pending; /* atomic: SIGQUIT asked for a dump */
static struct gr_atomic_u32 dumping;      /* atomic: the SIGQUIT thread runs */

/* What the dump prints of one G, copied under the glock. */
struct gsnap {
    uint64_t goid;
    int32_t tid;
    uint32_t status;
    const char *reason; /* G_WAITING's */
    int32_t waitfd;
    int64_t since;
    int32_t mid, pid, oldpid; /* -1: none */
    pid_t mtid;               /* G_RUNNING, G_SYSCALL: its M's OS thread */
    bool self;                /* the G writing the dump */
    bool wired;               /* G_WAITING in the kernel, on an M of its own (wire.c) */
    char name[16];
    struct gr_regs regs; /* pc 0: no backtrace */
    uintptr_t lo, hi;    /* its stack */
};

/* ---- Copying the Gs. */

/* The registers of gp's last switch (ctx_amd64.S's frame), or false if it has none that can
 * be trusted: its saved stack pointer must lie inside its stack. */
static bool
switch_regs(struct g *gp, struct gr_regs *r)
{
    uintptr_t sp = gr_raw_load_relaxed(&gp->ctx.sp);
    const uintptr_t *f = (const uintptr_t *)sp;

    if (sp < (uintptr_t)gp->stack_lo || sp + 8 * 8 > (uintptr_t)gp->stack_hi)
        return false;
    r->r15 = gr_raw_load_relaxed(&f[1]);
    r->r14 = gr_raw_load_relaxed(&f[2]);
    r->r13 = gr_raw_load_relaxed(&f[3]);
    r->r12 = gr_raw_load_relaxed(&f[4]);
    r->bx = gr_raw_load_relaxed(&f[5]);
    r->bp = gr_raw_load_relaxed(&f[6]);
    r->pc = gr_raw_load_relaxed(&f[7]);
    r->sp = sp + 8 * 8;
    return true;
}

static void
snap_one(struct g *gp, struct g *self, struct gsnap *s)
{
    struct m *mp;
    struct p *pp;

    memset(s, 0, sizeof(*s));
    s->goid = gp->goid;
    s->tid = gp->tid;
    /* Pairs with gr_casgstatus: what the G wrote before its move comes with the status. */
    s->status = gr_load_acquire(&gp->status);
    s->since = gr_load_relaxed(&gp->since);
    s->waitfd = -1;
    s->mid = s->pid = s->oldpid = -1;
    s->self = gp == self;
    s->lo = (uintptr_t)gp->stack_lo;
    s->hi = (uintptr_t)gp->stack_hi;
    gr_g_getname(gp, s->name);
    mp = gr_load_relaxed(&gp->m);
    if (mp != NULL && (s->status == G_RUNNING || s->status == G_SYSCALL)) {
        s->mid = mp->id;
        s->mtid = mp->tid;
        pp = gr_raw_load_relaxed(&mp->p); /* its M's own field: a hint */
        if (pp != NULL)
            s->pid = pp->id;
        pp = gr_raw_load_relaxed(&mp->oldp);
        if (s->status == G_SYSCALL && pp != NULL)
            s->oldpid = pp->id;
    }
    switch (s->status) {
    case G_WAITING:
        s->reason = gr_load_relaxed(&gp->waitreason);
        s->waitfd = gr_load_relaxed(&gp->waitfd);
        /* A G wired to its M waits in the kernel on that M (sema.c), not switched out. */
        s->wired = gr_load_relaxed(&gp->lockedm) != NULL;
        if (!s->wired && !switch_regs(gp, &s->regs))
            s->regs.pc = 0;
        break;
    case G_RUNNABLE: /* a parked or runnable G's registers are its last switch's */
        if (!switch_regs(gp, &s->regs))
            s->regs.pc = 0;
        break;
    case G_SYSCALL:
        s->regs.pc = gr_load_relaxed(&gp->syscallpc);
        s->regs.sp = gr_load_relaxed(&gp->syscallsp);
        s->regs.bp = gr_load_relaxed(&gp->syscallbp);
        break;
    default:
        break;
    }
    /* Moved while copied (woken, or out of its call): its registers may be stale. */
    if (gr_load_acquire(&gp->status) != s->status && !s->self)
        s->regs.pc = 0;
}

/* Copy every G into at most cap entries of s; returns how many Gs there are. */
static int
snap_all(struct gsnap *s, int cap)
{
    struct g *self = gr_current();
    int n = 0;

    gr_lock(&gr_sched.glock);
    for (struct g *gp = gr_sched.allg; gp != NULL; gp = gp->allnext) {
        if (n < cap)
            snap_one(gp, self, &s[n]);
        n++;
    }
    gr_unlock(&gr_sched.glock);
    return n;
}

/* ---- Printing one G. */

/* "socket 127.0.0.1:8080 <- 127.0.0.1:41234", "pipe", "file": what fd is. */
static void
sockaddr_text(const struct sockaddr_storage *ss, socklen_t len, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN];

    if (len == 0) {
        gr_snprint(buf, size, "?");
    } else if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        gr_snprint(buf, size, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        gr_snprint(buf, size, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
    } else if (ss->ss_family == AF_UNIX) {
        const struct sockaddr_un *a = (const struct sockaddr_un *)ss;
        bool named = len > offsetof(struct sockaddr_un, sun_path) && a->sun_path[0] != '\0';
        gr_snprint(buf, size, "unix%s%s", named ? ":" : "", named ? a->sun_path : "");
    } else {
        gr_snprint(buf, size, "family %d", (int)ss->ss_family);
    }
}

static void
fd_text(int fd, char *buf, size_t size)
{
    struct sockaddr_storage me, peer;
    socklen_t mlen = sizeof(me), plen = sizeof(peer);
    char a[128], b[128];
    struct stat st;

    if (gr_syscall2(SYS_fstat, fd, &st) != 0) {
        gr_snprint(buf, size, "closed");
        return;
    }
    if (S_ISFIFO(st.st_mode)) {
        gr_snprint(buf, size, "pipe");
    } else if (S_ISSOCK(st.st_mode)) {
        if (gr_syscall3(SYS_getsockname, fd, &me, &mlen) != 0)
            mlen = 0;
        if (gr_syscall3(SYS_getpeername, fd, &peer, &plen) != 0)
            plen = 0;
        sockaddr_text(&me, mlen, a, sizeof(a));
        if (plen != 0) {
            sockaddr_text(&peer, plen, b, sizeof(b));
            gr_snprint(buf, size, "socket %s <- %s", a, b);
        } else {
            gr_snprint(buf, size, "socket %s", a);
        }
    } else if (S_ISCHR(st.st_mode)) {
        gr_snprint(buf, size, "character device");
    } else {
        gr_snprint(buf, size, "file");
    }
}

/* The system call an M sleeps in, from /proc: its name, or "" when it runs or is unknown. */
static void
syscall_name(pid_t mtid, char *buf, size_t size)
{
    char path[64], text[32];
    const char *name;
    ssize_t n;
    long nr = 0;
    int fd;

    buf[0] = '\0';
    gr_snprint(path, sizeof(path), "/proc/self/task/%d/syscall", (int)mtid);
    fd = gr_sys_open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    n = gr_sys_read(fd, text, sizeof(text) - 1);
    gr_sys_close(fd);
    if (n <= 0 || text[0] < '0' || text[0] > '9')
        return; /* "running", or a thread that is gone */
    text[n] = '\0';
    for (int i = 0; text[i] >= '0' && text[i] <= '9'; i++)
        nr = nr * 10 + (text[i] - '0');
    name = gr_sys_name(nr);
    if (name != NULL)
        gr_snprint(buf, size, "%s", name);
    else
        gr_snprint(buf, size, "syscall %ld", nr);
}

/* "waiting: mutex", "waiting: IO read on fd 5 (pipe)", "syscall: wait4", "running"... */
static void
state_text(const struct gsnap *s, char *buf, size_t size)
{
    char what[320], call[32];

    switch (s->status) {
    case G_IDLE:
        gr_snprint(buf, size, "runnable: not started");
        break;
    case G_RUNNABLE:
        gr_snprint(buf, size, "runnable");
        break;
    case G_RUNNING:
        gr_snprint(buf, size, "running");
        break;
    case G_WAITING:
        if (s->waitfd >= 0) {
            fd_text(s->waitfd, what, sizeof(what));
            gr_snprint(buf, size, "waiting: %s on fd %d (%s)", s->reason != NULL ? s->reason : "IO",
                       s->waitfd, what);
        } else {
            gr_snprint(buf, size, "waiting: %s", s->reason != NULL ? s->reason : "?");
        }
        break;
    case G_SYSCALL:
        syscall_name(s->mtid, call, sizeof(call));
        gr_snprint(buf, size, "syscall%s%s", call[0] != '\0' ? ": " : "", call);
        break;
    case G_DEAD:
        gr_snprint(buf, size, "exited, not joined");
        break;
    default:
        gr_snprint(buf, size, "status %u", s->status);
        break;
    }
}

/*
 * A running G whose M sleeps in the kernel is in a call no hook saw: the registers to unwind
 * it from, out of the M's /proc/<tid>/syscall (the kernel's record of the call it sleeps in).
 * False when the M runs, or the file cannot be read.
 */
static bool
kernel_regs(const struct gsnap *s, struct gr_regs *r, long *nr)
{
    char path[64];
    uintptr_t sp, pc;
    bool ok;
    int fd;

    gr_snprint(path, sizeof(path), "/proc/self/task/%d/syscall", (int)s->mtid);
    fd = gr_sys_open(path, O_RDONLY);
    ok = gr_blockrec_read(fd, nr, &sp, &pc);
    if (fd >= 0)
        gr_sys_close(fd);
    if (!ok)
        return false;
    memset(r, 0, sizeof(*r));
    r->pc = pc;
    r->sp = sp;
    return true;
}

/* The backtrace of a running G asleep in a call no hook saw, unwound from the kernel's record
 * while the thread sleeps; 0 frames (and a word why) when it woke meanwhile. */
static int
unwind_asleep(struct gr_outbuf *o, const struct gsnap *s, const struct gr_regs *r, long nr,
              struct gr_frame *f, struct gr_symcache *sc)
{
    const char *name = nr >= 0 ? gr_sys_name(nr) : NULL;
    struct gr_regs r2;
    long nr2;
    int n;

    gr_outbuf_put(o, "\t(asleep in the kernel in %s, a call no hook saw)\n",
                  name != NULL ? name :
                  nr < 0       ? "no system call" :
                                 "a system call");
    n = gr_unwind(r, s->lo, s->hi, f, GR_UNWIND_DEPTH, sc);
    /* The stack did not move under the walk if the kernel still says the same. */
    if (n > 0 && (!kernel_regs(s, &r2, &nr2) || nr2 != nr || r2.sp != r->sp || r2.pc != r->pc)) {
        gr_outbuf_put(o, "\t(it woke while the dump walked its stack: no backtrace)\n");
        n = 0;
    }
    return n;
}

static void
print_one(struct gr_outbuf *o, const struct gsnap *s, int64_t now, struct gr_frame *f,
          struct gr_symcache *sc)
{
    struct gr_regs kr;
    long knr;
    char state[384], where[48];
    int64_t d = now - s->since;
    int n = 0;

    state_text(s, state, sizeof(state));
    if (d < 0)
        d = 0;
    where[0] = '\0';
    if (s->mid >= 0 && s->pid >= 0)
        gr_snprint(where, sizeof(where), ", M%d P%d", s->mid, s->pid);
    else if (s->mid >= 0 && s->oldpid >= 0)
        gr_snprint(where, sizeof(where), ", M%d, left P%d", s->mid, s->oldpid);
    else if (s->mid >= 0)
        gr_snprint(where, sizeof(where), ", M%d", s->mid);
    int ms = (int)(d / 1000000LL % 1000); /* gr_print has no field widths */
    char frac[4] = { (char)('0' + ms / 100), (char)('0' + ms / 10 % 10), (char)('0' + ms % 10),
                     '\0' };
    gr_outbuf_put(o, "\nthread %lu (tid %d)%s%s%s [%s, %lld.%s s%s]:\n", (unsigned long)s->goid,
                  (int)s->tid, s->name[0] != '\0' ? " \"" : "", s->name,
                  s->name[0] != '\0' ? "\"" : "", state, (long long)(d / 1000000000LL), frac,
                  where);
    if (s->self)
        n = gr_unwind_self(f, GR_UNWIND_DEPTH, sc);
    else if (s->status == G_RUNNING && s->mtid > 0 && kernel_regs(s, &kr, &knr))
        n = unwind_asleep(o, s, &kr, knr, f, sc);
    else if (s->status == G_RUNNING)
        gr_outbuf_put(o, "\t(running on its M: no backtrace)\n");
    else if (s->wired)
        gr_outbuf_put(o, "\t(waiting in the kernel on its own M: no backtrace)\n");
    else if (s->regs.pc != 0)
        n = gr_unwind(&s->regs, s->lo, s->hi, f, GR_UNWIND_DEPTH, sc);
    else if (s->status == G_WAITING || s->status == G_RUNNABLE || s->status == G_SYSCALL)
        gr_outbuf_put(o, "\t(it moved on while the dump copied it: no backtrace)\n");
    for (int i = 0; i < n; i++) {
        char line[GR_UNWIND_NAME + 160];
        gr_unwind_format(&f[i], line, sizeof(line));
        gr_outbuf_put(o, "\t%s\n", line);
    }
    if (n == GR_UNWIND_DEPTH)
        gr_outbuf_put(o, "\t...\n");
}

int
gr_dump_write(int fd)
{
    struct gr_outbuf *o;
    struct gsnap *s;
    struct gr_frame *f;
    struct gr_symcache *sc;
    int cap, n;
    size_t size;
    int64_t now;

    /* Room for Gs made while the buffer is mapped; any beyond are counted, not shown. */
    cap = gr_load(&gr_sched.ng) + 64;
    size = sizeof(*o) + sizeof(*sc) + sizeof(*f) * GR_UNWIND_DEPTH + sizeof(*s) * (size_t)cap;
    o = gr_mem_map(size); /* zeroed: the cache starts empty */
    if (o == NULL)
        return -ENOMEM;
    sc = (struct gr_symcache *)(o + 1);
    f = (struct gr_frame *)(sc + 1);
    s = (struct gsnap *)(f + GR_UNWIND_DEPTH);
    o->fd = fd;
    n = snap_all(s, cap);
    now = gr_nanotime();
    gr_outbuf_put(o, "greenrun: thread dump of pid %d: %d threads, %d Ms, %d Ps\n",
                  (int)gr_sys_getpid(), n, gr_load(&gr_sched.mcount), gr_sched.nprocs);
    if (!gr_unwind_available())
        gr_outbuf_put(o, "greenrun: no backtraces: libunwind.so.8 cannot be loaded\n");
    for (int i = 0; i < n && i < cap; i++)
        print_one(o, &s[i], now, f, sc);
    if (n > cap)
        gr_outbuf_put(o, "\n(%d more threads made during the dump)\n", n - cap);
    gr_outbuf_put(o, "\ngreenrun: end of thread dump\n");
    gr_outbuf_flush(o);
    int err = o->err;
    gr_mem_unmap(o, size);
    return err;
}

/* ---- SIGQUIT. */

void
gr_dump_sigquit(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    /* `greenrun dump PID` and its kin ask for the control socket this way (control.h). */
    if (gr_control_attach_signal(si))
        return;
    gr_store(&quit_pending, 1);
    gr_sysmon_kick();
}

static void *
quit_main(void *arg)
{
    (void)arg;
    gr_dump_write(2);
    if (quit_mode == GR_QUIT_EXIT)
        gr_sys_exit_group(2);
    gr_store(&dumping, 0);
    return NULL;
}

void
gr_dump_fork_child(void)
{
    gr_store(&dumping, 0);
    gr_unwind_fork_child();
}

void
gr_dump_sysmon(void)
{
    pthread_attr_t attr;
    sigset_t all, old;
    pthread_t t;
    int err;

    if (gr_load_relaxed(&quit_pending) == 0 || gr_load(&dumping) != 0)
        return; /* none asked, or one runs: the request waits for the next round */
    gr_store(&quit_pending, 0);
    gr_store(&dumping, 1);
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, DUMP_STACK_SIZE);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* Signals are for the program's threads: the dumping thread takes none. */
    sigfillset(&all);
    gr_sys_sigprocmask(SIG_SETMASK, &all, &old);
    err = gr_real.pthread_create(&t, &attr, quit_main, NULL);
    gr_sys_sigprocmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (err != 0) {
        gr_print("greenrun: SIGQUIT: cannot start the thread dump (error %d)\n", err);
        if (quit_mode == GR_QUIT_EXIT)
            gr_sys_exit_group(2);
        gr_store(&dumping, 0);
    }
}

bool
gr_dump_takes(int sig, const struct sigaction *act, struct sigaction *mine)
{
    if (sig != SIGQUIT || act->sa_handler != SIG_DFL || !gr_sched_booted())
        return false;
    memset(mine, 0, sizeof(*mine));
    mine->sa_sigaction = gr_dump_sigquit;
    mine->sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&mine->sa_mask);
    return true;
}

void
gr_dump_boot(int mode)
{
    struct sigaction cur, mine;

    quit_mode = mode;
    if (gr_real.sigaction(SIGQUIT, NULL, &cur) == 0 && gr_dump_takes(SIGQUIT, &cur, &mine))
        gr_real.sigaction(SIGQUIT, &mine, NULL); /* not when ignored or caught already */
}
