/*
 * runtime/m.c: Ms, the OS threads that run Gs (Go's newm, mstart, mcommoninit): creating one
 * with glibc's pthread_create, the set-up every M does on itself first (m_init_self, shared
 * with sysmon and M0), and g0, an M's scheduler context, for the Ms that start with a G of
 * their own (M0, the fork child's M).
 *
 * An M finds itself through the GS base (gr_getm()); its g0 runs on the M's own stack and
 * TLS, except M0's and the fork child's, which get a fresh stack and block (gr_m_build_g0).
 *
 * The runtime keeps no descriptor of its own open that the program did not make it need
 * (docs/design.md "The runtime's descriptors"): an M's /proc stat is opened, read and closed
 * each time sysmon (or a thread query) asks for its state, which works after a privilege drop
 * too. Only GREENRUN_DEBUG=blocking keeps one per M, /proc/thread-self/syscall for the
 * report, opened by the thread itself at its start: once the process drops privileges that
 * file can no longer be opened.
 *
 * Locks: none of its own. gr_sched.mcount and the allm list change under gr_sched.lock and
 * by atomic push; struct m fields say who owns them (sched.h).
 */
#include "runtime/m.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>

#include "runtime/atomic.h"
#include "runtime/boot.h"
#include "runtime/cputime.h"
#include "runtime/ctx.h"
#include "runtime/debug.h"
#include "runtime/libc.h"
#include "runtime/mem.h"
#include "runtime/preempt.h"
#include "runtime/proc.h"
#include "runtime/signal.h"
#include "runtime/sys.h"
#include "runtime/tls.h"
#include "runtime/wire.h"

#define MAX_M         10000 /* as Go: Ms block in calls no hook sees */
#define G0_STACK_SIZE (1024 * 1024)

static struct m m0;

/* With GREENRUN_DEBUG=blocking only: open the calling thread's /proc/thread-self/syscall as
 * mp's, for sysmon's report of blocking calls (blockrec.c). */
void
gr_m_open_proc(struct m *mp)
{
    if (gr_opts.blocking)
        mp->sysfd = gr_fd_reserve(gr_sys_open("/proc/thread-self/syscall", 0));
}

/* Close what gr_m_open_proc opened (a fork child: it names a thread of the parent). */
void
gr_m_close_proc(struct m *mp)
{
    if (mp->sysfd >= 0) {
        gr_fd_release(mp->sysfd);
        gr_syscall1(SYS_close, mp->sysfd);
    }
    mp->sysfd = -1;
}

char
gr_m_kstate(struct m *mp)
{
    char buf[256];
    ssize_t n;
    char *rp = NULL;
    int fd;

    /* Opened for this one read: a descriptor kept open would be visible to the program. */
    gr_snprint(buf, sizeof(buf), "/proc/self/task/%d/stat", (int)mp->tid);
    fd = gr_sys_open(buf, O_RDONLY);
    if (fd < 0)
        return 0;
    n = gr_sys_pread(fd, buf, sizeof(buf) - 1, 0);
    gr_sys_close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* "tid (comm) S ...": the state follows the last ')', as comm may hold one. */
    for (char *q = buf; *q != '\0'; q++)
        if (*q == ')')
            rp = q;
    return rp != NULL && rp[1] == ' ' ? rp[2] : 0;
}

/*
 * The first steps of every M on its own OS thread: find itself through GS, learn its tid and
 * its own TLS block, mark that block as an M's (gr_curg = g0, see gr_current), open its
 * /proc files (not sysmon's: nobody reads them) and read its signal mask. 0, or -errno when
 * GS cannot be set (nothing else was done then).
 * Context: the new OS thread, before it runs anything else.
 */
int
gr_m_init_self(struct m *mp)
{
    int err = gr_sys_set_gs((uintptr_t)mp);

    if (err != 0)
        return err;
    mp->tid = gr_sys_gettid();
    mp->ownfs = gr_get_tp();
    mp->sysdesc = mp->ownfs;
    mp->fs_cur = mp->ownfs;
    gr_curg = &mp->g0;
    if (!mp->is_sysmon)
        gr_m_open_proc(mp);
    mp->ptimer = -1;
    if (!mp->is_sysmon)
        gr_preempt_timer_init(mp); /* sysmon runs no G */
    gr_sys_sigprocmask(SIG_SETMASK, NULL, &mp->sigmask_cur);
    gr_cputime_m_init(mp);
    gr_signal_altstack_init(mp);
    if (mp != &m0)
        gr_wire_m_start(); /* not a wired M's real-time policy, inherited by its threads */
    return 0;
}

static void *
mstart(void *arg)
{
    struct m *mp = arg;

    if (gr_m_init_self(mp) != 0)
        gr_throw("mstart: cannot set the GS base");
    if (mp->nextp != NULL) {
        gr_acquirep(mp, mp->nextp);
        mp->nextp = NULL;
    }
    gr_schedule(mp);
}

static struct m *
m_alloc(void)
{
    struct m *mp = gr_mem_alloc(sizeof(struct m));

    if (mp == NULL)
        return NULL;
    mp->self = mp;
    mp->sysfd = -1; /* opened by the thread itself (mstart), if at all */
    gr_lock(&gr_sched.lock);
    mp->id = gr_load_relaxed(&gr_sched.mcount);
    gr_store_relaxed(&gr_sched.mcount, mp->id + 1);
    gr_unlock(&gr_sched.lock);
    /* Push onto allm; the list only grows. */
    mp->alllink = gr_load(&gr_sched.allm);
    while (!gr_cas(&gr_sched.allm, &mp->alllink, mp))
        ;
    return mp;
}

/* Start an OS thread for pp, or for gp to run wired. False when none could be created. */
static bool
newm(struct p *pp, struct g *gp, bool spinning, bool sysmon, void *(*start)(void *))
{
    pthread_attr_t attr;
    pthread_t t;
    struct m *mp;
    sigset_t all, old;
    int err;

    if (gr_load(&gr_sched.mcount) >= MAX_M)
        return false;
    mp = m_alloc();
    if (mp == NULL)
        return false;
    mp->nextp = pp;
    mp->nextg = gp;
    mp->spinning = spinning;
    mp->is_sysmon = sysmon;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, G0_STACK_SIZE);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* Ms start with every signal blocked; the mask of the G they run is applied on switch. */
    sigfillset(&all);
    gr_sys_sigprocmask(SIG_SETMASK, &all, &old);
    err = gr_real.pthread_create(&t, &attr, start != NULL ? start : mstart, mp);
    if (err == 0)
        gr_store_relaxed(&mp->pthread, (uintptr_t)t);
    gr_sys_sigprocmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return err == 0;
}

bool
gr_newm(struct p *pp, bool spinning, bool sysmon, void *(*start)(void *))
{
    return newm(pp, NULL, spinning, sysmon, start);
}

bool
gr_newm_g(struct g *gp)
{
    return newm(NULL, gp, false, false, NULL);
}

/* Install the M's own TLS block (g0 keeps the last G's otherwise; see the file comment). */
void
gr_m_install_ownfs(struct m *mp)
{
    if (mp->fs_cur != mp->ownfs) {
        if (gr_sys_set_fs(mp->ownfs) != 0)
            gr_throw("install_ownfs: cannot install the M's TLS block");
        mp->fs_cur = mp->ownfs;
    }
}

static void
g0_entry(void *arg)
{
    struct m *mp = arg;

    /* First switch from the G this M was running: finish its request, then schedule. */
    gr_after_switch(mp);
    gr_schedule(mp);
}

/*
 * Give an M that runs a G of its own from the start (M0, or the fork child's M) a g0: a
 * fresh stack and TLS block, with a context that starts in g0_entry at the G's first switch.
 */
bool
gr_m_build_g0(struct m *mp)
{
    void *map = gr_mem_map(G0_STACK_SIZE);
    uintptr_t tp;

    if (map == NULL)
        return false;
    tp = gr_tls_create((char *)map + G0_STACK_SIZE, &mp->g0, GR_FAKE_TID_BASE, map, G0_STACK_SIZE,
                       0);
    if (tp == 0)
        return false;
    mp->ownfs = tp;
    mp->g0.tp = tp;
    gr_ctx_make(&mp->g0.ctx,
                (void *)gr_round_down(tp + gr_tls.desc_size - gr_tls.static_size - 64, 16),
                g0_entry, mp);
    return true;
}

/*
 * Adopt the initial thread as M0. It keeps running the program on its own stack and
 * descriptor (the main G, g.c) and gets a g0 of its own. NULL when that cannot be done
 * (boot then runs natively). Context: boot, on the initial thread, before any other M.
 */
struct m *
gr_m_adopt_initial(void)
{
    m0.self = &m0;
    if (gr_m_init_self(&m0) != 0 || !gr_m_build_g0(&m0))
        return NULL;
    m0.alllink = NULL;
    gr_store(&gr_sched.allm, &m0);
    gr_sched.m0 = &m0;
    gr_store_relaxed(&gr_sched.mcount, 1);
    return &m0;
}
