/*
 * runtime/proc.c: the scheduler: boot, G creation and exit, park/ready, schedule() and
 * findrunnable(), idle Ms and Ps (Go's proc.go, in C).
 *
 * Every M runs m_loop() on its g0: find a runnable G, switch to it, and when the G switches
 * back, finish what it asked for (m->after: park, yield, exit). g0 runs with whatever FS the
 * last G left installed and so never reads TLS; it installs its own block (m->ownfs) only
 * before sleeping and before releasing a dead G's block.
 *
 * Spinning Ms (Go's protocol): an M looking for work without finding it yet is "spinning"
 * and counted in gr_sched.nmspinning. gr_wakep() starts a new spinning M only when there is
 * an idle P and nobody spins, so a burst of wakeups starts at most one M at a time; an M
 * that stops spinning with work in sight starts the next one. The last spinning M to give up
 * re-checks every run queue after decrementing nmspinning, which pairs with the check of
 * nmspinning in gr_wakep() after a runq_put: between them no queued G is left unseen.
 *
 * Timers: each P has a heap. Ms run their P's due timers at every schedule, and idle Ms run
 * any P's due timers. An idle M with nothing to do sleeps on its note; the first of them to
 * go idle while timers are pending sleeps until the earliest one (gr_sched.sleep_until), and
 * gr_timer_added() wakes it when an earlier timer arrives.
 *
 * Locks: gr_sched.lock (idle lists, global queue) is taken after bucket and timer locks.
 */
#include "runtime/sched.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "runtime/atomic.h"
#include "runtime/blockrec.h"
#include "runtime/boot.h"
#include "runtime/ctx.h"
#include "runtime/debug.h"
#include "runtime/libc.h"
#include "runtime/mem.h"
#include "runtime/netpoll.h"
#include "runtime/runq.h"
#include "runtime/sema.h"
#include "runtime/stack.h"
#include "runtime/sys.h"
#include "runtime/sysmon.h"
#include "runtime/timer.h"
#include "runtime/tls.h"

#define MAX_M            10000
#define G0_STACK_SIZE    (1024 * 1024)
#define FAKE_TID_BASE    0x400000

struct gr_sched gr_sched;
__thread struct g *gr_curg __attribute__((tls_model("initial-exec")));

static bool booted;
static struct m m0;

static void m_loop(struct m *mp) GR_NORETURN;

bool
gr_sched_booted(void)
{
    return gr_load_acquire(&booted);
}

/* ---- Idle lists (gr_sched.lock held). */

static void
pidle_put(struct p *pp)
{
    gr_store(&pp->status, P_IDLE);
    pp->m = NULL;
    pp->link = gr_sched.pidle;
    gr_sched.pidle = pp;
    gr_xadd(&gr_sched.npidle, 1);
}

/*
 * Spare Ps. An M can sleep in the kernel while holding its P, in a call the runtime does not
 * see (a glibc-internal lock held by a parked G, a system call issued directly). sysmon then
 * starts a spare P, beyond GREENRUN_PROCS, so the other Gs keep running; the spare retires
 * as soon as the stuck P moves again, at its next pass through the scheduler. Spares are
 * never on the idle list.
 */
static void
spare_put(struct p *pp)
{
    struct g *gp;

    /* Its local Gs go to the global queue: the spare may not run again soon. */
    while ((gp = gr_runq_get(pp)) != NULL)
        gr_globrunq_put(gp);
    gr_store(&pp->status, P_IDLE);
    pp->m = NULL;
    pp->stuck = NULL;
    pp->link = gr_sched.pspare;
    gr_sched.pspare = pp;
}

/* Where a retiring spare's timers go: the P it stood in for. */
static struct p *
spare_heir(struct p *pp)
{
    return pp->stuck != NULL ? pp->stuck : gr_sched.allp[0];
}

/*
 * A spare no longer needed leaves mp: its timers go to the P it stood in for (whose Gs would
 * otherwise not see them due), then it joins the spare list. Requires: gr_sched.lock not
 * held (timer heaps come first in the lock order).
 */
static void
spare_retire(struct m *mp, struct p *pp)
{
    gr_timers_move(pp, spare_heir(pp));
    gr_lock(&gr_sched.lock);
    mp->p = NULL;
    spare_put(pp);
    gr_unlock(&gr_sched.lock);
}

/* Give up a P. Requires: gr_sched.lock held. */
static void
p_release(struct p *pp)
{
    if (pp->spare)
        spare_put(pp);
    else
        pidle_put(pp);
}

/* Is spare pp still needed? Requires: gr_sched.lock held. */
static bool
spare_needed(struct p *pp)
{
    struct p *sp = pp->stuck;

    return sp != NULL && gr_load(&sp->status) == P_RUNNING &&
           gr_load_relaxed(&sp->schedtick) == pp->stuck_tick;
}

static struct p *
pidle_get(void)
{
    struct p *pp = gr_sched.pidle;

    if (pp != NULL) {
        gr_sched.pidle = pp->link;
        gr_xadd(&gr_sched.npidle, -1);
    }
    return pp;
}

static void
midle_put(struct m *mp)
{
    mp->schedlink = gr_sched.midle;
    gr_sched.midle = mp;
    gr_sched.nmidle++;
}

static struct m *
midle_get(void)
{
    struct m *mp = gr_sched.midle;

    if (mp != NULL) {
        gr_sched.midle = mp->schedlink;
        gr_sched.nmidle--;
    }
    return mp;
}

static bool
midle_remove(struct m *mp)
{
    for (struct m **pp = &gr_sched.midle; *pp != NULL; pp = &(*pp)->schedlink) {
        if (*pp == mp) {
            *pp = mp->schedlink;
            gr_sched.nmidle--;
            return true;
        }
    }
    return false;
}

static void
acquirep(struct m *mp, struct p *pp)
{
    if (pp->m != NULL || gr_load(&pp->status) != P_IDLE)
        gr_throw("acquirep: P is not idle");
    mp->p = pp;
    pp->m = mp;
    gr_store(&pp->status, P_RUNNING);
}

static uint32_t
fastrand(struct p *pp)
{
    uint32_t x = pp->fastrand;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    pp->fastrand = x;
    return x;
}

/* ---- M creation and wakeup. */

/* Open the calling thread's /proc/thread-self/{stat,syscall} as mp's (sysmon reads them). */
static void
m_open_proc(struct m *mp)
{
    mp->statfd = gr_fd_reserve(gr_sys_open("/proc/thread-self/stat", 0));
    mp->sysfd = gr_fd_reserve(gr_sys_open("/proc/thread-self/syscall", 0));
}

/* Close what m_open_proc opened (a fork child: they name threads of the parent). */
static void
m_close_proc(struct m *mp)
{
    int *fds[2] = { &mp->statfd, &mp->sysfd };

    for (int i = 0; i < 2; i++) {
        if (*fds[i] >= 0) {
            gr_fd_release(*fds[i]);
            gr_syscall1(SYS_close, *fds[i]);
        }
        *fds[i] = -1;
    }
}

char
gr_m_kstate(struct m *mp)
{
    char buf[256];
    ssize_t n;
    char *rp = NULL;

    if (mp->statfd < 0)
        return 0;
    n = gr_sys_pread(mp->statfd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* "tid (comm) S ...": the state follows the last ')', as comm may hold one. */
    for (char *q = buf; *q != '\0'; q++)
        if (*q == ')')
            rp = q;
    return rp != NULL && rp[1] == ' ' ? rp[2] : 0;
}

static void *
mstart(void *arg)
{
    struct m *mp = arg;

    if (gr_sys_set_gs((uintptr_t)mp) != 0)
        gr_throw("mstart: cannot set the GS base");
    mp->tid = gr_sys_gettid();
    mp->ownfs = gr_get_tp();
    mp->sysdesc = mp->ownfs;
    mp->fs_cur = mp->ownfs;
    gr_curg = &mp->g0;                 /* marks this block as an M's (see gr_current) */
    m_open_proc(mp);
    gr_sys_sigprocmask(SIG_SETMASK, NULL, &mp->sigmask_cur);
    if (mp->nextp != NULL) {
        acquirep(mp, mp->nextp);
        mp->nextp = NULL;
    }
    m_loop(mp);
}

static struct m *
m_alloc(void)
{
    struct m *mp = gr_mem_alloc(sizeof(struct m));

    if (mp == NULL)
        return NULL;
    mp->self = mp;
    mp->statfd = mp->sysfd = -1;       /* opened by the thread itself (mstart) */
    gr_lock(&gr_sched.lock);
    mp->id = gr_sched.mcount++;
    gr_unlock(&gr_sched.lock);
    /* Push onto allm; the list only grows. */
    mp->alllink = gr_load(&gr_sched.allm);
    while (!gr_cas(&gr_sched.allm, &mp->alllink, mp))
        ;
    return mp;
}

/* Start an OS thread for pp. False when no thread could be created. */
static bool
newm(struct p *pp, bool spinning, bool sysmon, void *(*start)(void *))
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
    mp->spinning = spinning;
    mp->is_sysmon = sysmon;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, G0_STACK_SIZE);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* Ms start with every signal blocked; the mask of the G they run is applied on switch. */
    sigfillset(&all);
    gr_sys_sigprocmask(SIG_SETMASK, &all, &old);
    err = gr_real.pthread_create(&t, &attr, start != NULL ? start : mstart, mp);
    gr_sys_sigprocmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return err == 0;
}

/*
 * Run some M on pp (or on an idle P when pp is NULL). spinning: the new M counts as
 * spinning (the caller already incremented nmspinning).
 */
static void
startm(struct p *pp, bool spinning)
{
    struct m *mp;

    gr_lock(&gr_sched.lock);
    if (pp == NULL) {
        pp = pidle_get();
        if (pp == NULL) {
            gr_unlock(&gr_sched.lock);
            if (spinning)
                gr_xadd(&gr_sched.nmspinning, -1);
            return;
        }
    }
    mp = midle_get();
    if (mp != NULL) {
        if (mp == gr_sched.sleeper) {
            gr_sched.sleeper = NULL;
            gr_store(&gr_sched.sleep_until, 0);
        }
        /* Under the lock, so that a timed-out stopm() sees it (see stopm). */
        mp->spinning = spinning;
        mp->nextp = pp;
    }
    gr_unlock(&gr_sched.lock);
    if (mp == NULL) {
        if (!newm(pp, spinning, false, NULL)) {
            gr_lock(&gr_sched.lock);
            p_release(pp);
            gr_unlock(&gr_sched.lock);
            if (spinning)
                gr_xadd(&gr_sched.nmspinning, -1);
        }
        return;
    }
    gr_note_wakeup(&mp->park);
}

void
gr_wakep(void)
{
    uint32_t zero = 0;

    if (gr_load(&gr_sched.npidle) == 0)
        return;
    if (gr_load(&gr_sched.nmspinning) != 0 || !gr_cas(&gr_sched.nmspinning, &zero, 1))
        return;
    startm(NULL, true);
}

/* Called by gr_timer_add: make sure some M will wake up for a timer at when. */
void
gr_timer_added(int64_t when)
{
    int64_t until = gr_load(&gr_sched.sleep_until);

    if (gr_load(&gr_sched.netpolling) && when < gr_load(&gr_sched.poll_until)) {
        gr_netpoll_break();
        return;
    }

    if (until != 0) {
        if (when < until) {
            gr_lock(&gr_sched.lock);
            struct m *mp = gr_sched.sleeper;
            if (mp != NULL && when < gr_sched.sleep_until) {
                gr_sched.sleep_until = 0;
                gr_sched.sleeper = NULL;
                gr_note_wakeup(&mp->park);
            }
            gr_unlock(&gr_sched.lock);
        }
        return;
    }
    gr_wakep();
}

/* ---- Ready and park. */

static void spare_again(void);

static void
ready_on(struct g *gp, struct p *pp)
{
    uint32_t st = G_WAITING;

    if (!gr_cas(&gp->status, &st, G_RUNNABLE))
        gr_throw("gr_ready: G is not waiting");
    if (pp != NULL) {
        /* A G readied by another runs next, as Go's ready(); a batch from the poller queues
         * in the order the kernel reported it, or the last of every batch would overtake
         * the rest and service grows unfair (Go's injectglist). */
        gr_runq_put(pp, gp, !gr_getm()->polling);
    } else {
        gr_lock(&gr_sched.lock);
        gr_globrunq_put(gp);
        gr_unlock(&gr_sched.lock);
    }
    gr_wakep();
    if (pp == NULL && gr_load(&gr_sched.npidle) == 0)
        spare_again();
}

void
gr_ready(struct g *gp)
{
    /* On an M (a G, or g0), the M's P; elsewhere the global queue. */
    ready_on(gp, gr_curg != NULL ? gr_getm()->p : NULL);
}

/* Switch from the running G to g0 of its M, which then performs mp->after. */
static void
switch_to_g0(struct g *gp, int after)
{
    struct m *mp = gp->m;

    mp->after = after;
    mp->prevg = gp;
    gr_ctx_switch(&gp->ctx, &mp->g0.ctx);
}

static void deliver_pending_signals(struct g *gp);

/*
 * Back on the G after a switch: deliver signals sent to it meanwhile, and act on an
 * asynchronous cancellation that could not be delivered while it was off an M.
 */
static inline void
resumed(struct g *gp)
{
    if ((gr_load_relaxed(&gp->sigpending) & ~gp->sigmask) != 0)
        deliver_pending_signals(gp);
    /* glibc's bits: async type 0x2 and canceling 0x4 or canceled 0x8 set; disabled 0x1 and
     * exiting 0x10 not. glibc marks an asynchronous cancel only "canceling" and lets the
     * signal handler mark it canceled; the signal may have missed the G. */
    int *ch = gr_tls_cancelhandling(gp->tp);
    int v = gr_load_relaxed(ch);
    if ((v & 0x13) == 0x2 && (v & 0xc) != 0) {
        gr_fetch_or(ch, 0xc);
        pthread_testcancel();
    }
}

void
gr_park(bool (*unlockf)(struct g *gp, void *arg), void *arg, const char *reason)
{
    struct g *gp = gr_curg;
    struct m *mp = gp->m;

    gp->waitreason = reason;
    mp->unlockf = unlockf;
    mp->unlockarg = arg;
    switch_to_g0(gp, AFTER_PARK);
    resumed(gp);
}

void
gr_yield(void)
{
    struct g *gp = gr_curg;

    switch_to_g0(gp, AFTER_YIELD_LOCAL);
    resumed(gp);
}

void
gr_yield_global(void)
{
    struct g *gp = gr_curg;

    switch_to_g0(gp, AFTER_YIELD);
    resumed(gp);
}

static void
deliver_pending_signals(struct g *gp)
{
    gr_signal_deliver(gp);
}

/* ---- Blocking calls. */

void
gr_entersyscall(void)
{
    struct g *gp = gr_curg;
    struct m *mp = gp->m;
    struct p *pp = mp->p;

    pp->syscalltick++;
    gr_store(&gp->status, G_SYSCALL);
    mp->oldp = pp;
    mp->p = NULL;
    pp->m = NULL;
    /* From here sysmon may take pp (P_SYSCALL -> P_IDLE); pairs with the CAS below. */
    gr_store(&pp->status, P_SYSCALL);
}

/*
 * After a blocking call, on its own P again: should the G let others run first? Yes when a
 * timer of the P is overdue, or when Gs wait and this one has had the P for a slice. A G
 * that makes short blocking calls back to back (a file written in 1 MB pieces) otherwise
 * never reaches the scheduler, and sysmon, which hands a P on during one long call, wakes
 * too seldom to catch any one short call. It yields to the global queue, as Go's Gosched:
 * back on the local queue it would run again before a G readied to the global queue by an
 * M without a P, which the scheduler looks at only every 61st round.
 */
#define SYSCALL_SLICE_NS 1000000LL

static bool
exit_yield_due(struct p *pp)
{
    int64_t when = gr_load_relaxed(&pp->timers.next_when), now;
    bool queued = !gr_runq_empty(pp) || gr_load_relaxed(&gr_sched.runqsize) > 0;

    if (when == INT64_MAX && !queued)
        return false;
    now = gr_nanotime();
    return when <= now || (queued && now - pp->runstart >= SYSCALL_SLICE_NS);
}

void
gr_exitsyscall(void)
{
    struct g *gp = gr_curg;
    struct m *mp = gp->m;
    struct p *pp = mp->oldp;
    uint32_t st = P_SYSCALL;

    mp->oldp = NULL;
    if (gr_cas(&pp->status, &st, P_RUNNING)) {
        pp->m = mp;
        mp->p = pp;
        gr_store(&gp->status, G_RUNNING);
        if (exit_yield_due(pp))
            gr_yield_global();
        return;
    }
    /* sysmon gave our P away: take any idle one, or wait in the global queue. */
    gr_lock(&gr_sched.lock);
    pp = pidle_get();
    gr_unlock(&gr_sched.lock);
    if (pp != NULL) {
        acquirep(mp, pp);
        gr_store(&gp->status, G_RUNNING);
        /* As on the fast path: sysmon may take the P during every call of a series. */
        if (exit_yield_due(pp))
            gr_yield_global();
        return;
    }
    switch_to_g0(gp, AFTER_EXITSYSCALL);
    resumed(gp);
}

long
gr_blocking_syscall6(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
    long r;

    gr_entersyscall();
    r = gr_syscall6(nr, a1, a2, a3, a4, a5, a6);
    gr_exitsyscall();
    return r;
}

/* A P taken from a blocking call: run it if there is work, else make it idle. */
static void
handoffp(struct p *pp)
{
    uint32_t zero = 0;

    pp->m = NULL;
    if (!gr_runq_empty(pp) || gr_load_relaxed(&gr_sched.runqsize) > 0) {
        startm(pp, false);
        return;
    }
    if (gr_load(&gr_sched.nmspinning) + gr_load(&gr_sched.npidle) == 0 &&
        gr_cas(&gr_sched.nmspinning, &zero, 1)) {
        startm(pp, true);
        return;
    }
    if (pp->spare)
        gr_timers_move(pp, spare_heir(pp));     /* a spare in the list runs no timers */
    gr_lock(&gr_sched.lock);
    p_release(pp);
    gr_unlock(&gr_sched.lock);
    if (gr_load(&pp->timers.next_when) != INT64_MAX)
        gr_timer_added(gr_load(&pp->timers.next_when));
}

#define RETAKE_AFTER_NS   20000LL
#define RETAKE_IDLE_NS    10000000LL

int
gr_retake(int64_t now)
{
    int n = 0;

    for (int i = 0; i < gr_sched.nallp; i++) {
        struct p *pp = gr_sched.allp[i];
        uint32_t tick, st = P_SYSCALL;

        if (gr_load(&pp->status) != P_SYSCALL)
            continue;
        tick = gr_load_relaxed(&pp->syscalltick);
        if (pp->sysmon_tick != tick) {
            pp->sysmon_tick = tick;
            pp->sysmon_when = now;
            continue;
        }
        if (now - pp->sysmon_when < RETAKE_AFTER_NS)
            continue;
        /* Nothing waits and others are free to take new work: leave it a while (Go). */
        if (gr_runq_empty(pp) && gr_load_relaxed(&gr_sched.runqsize) == 0 &&
            gr_load(&gr_sched.nmspinning) + gr_load(&gr_sched.npidle) > 0 &&
            now - pp->sysmon_when < RETAKE_IDLE_NS)
            continue;
        if (!gr_cas(&pp->status, &st, P_IDLE))
            continue;
        n++;
        handoffp(pp);
    }
    return n;
}

bool
gr_start_spare(struct p *stuck)
{
    struct p *pp;

    gr_lock(&gr_sched.lock);
    for (int i = gr_sched.nprocs; i < gr_sched.nallp; i++)
        if (gr_sched.allp[i]->stuck == stuck) {
            gr_unlock(&gr_sched.lock);
            return false;                /* one spare per stuck P */
        }
    pp = gr_sched.pspare;
    if (pp == NULL) {
        gr_unlock(&gr_sched.lock);
        return false;
    }
    gr_sched.pspare = pp->link;
    pp->stuck = stuck;
    pp->stuck_tick = gr_load_relaxed(&stuck->schedtick);
    gr_store(&gr_sched.stuckp_tick, pp->stuck_tick);
    gr_store(&gr_sched.stuckp, stuck);
    gr_unlock(&gr_sched.lock);
    startm(pp, false);
    return true;
}

/*
 * New work and no idle P. A spare retires when it runs out of work; if the P it stood in for
 * is still stuck on the same schedule, start one again now rather than after sysmon has
 * watched the P for milliseconds once more (a 1 ms ticker next to a long unseen call got a
 * third of its ticks). Requires: gr_sched.lock not held.
 */
static void
spare_again(void)
{
    struct p *sp = gr_load(&gr_sched.stuckp);

    if (sp == NULL)
        return;
    if (gr_load(&sp->status) != P_RUNNING ||
        gr_load_relaxed(&sp->schedtick) != gr_load(&gr_sched.stuckp_tick)) {
        gr_cas(&gr_sched.stuckp, &sp, NULL);       /* it moved on: forget it */
        return;
    }
    gr_start_spare(sp);
}

/* ---- G creation and exit. */

static void
g_link(struct g *gp)
{
    gr_lock(&gr_sched.glock);
    gp->allnext = gr_sched.allg;
    gp->allprev = NULL;
    if (gr_sched.allg != NULL)
        gr_sched.allg->allprev = gp;
    gr_sched.allg = gp;
    gr_sched.ng++;
    gr_unlock(&gr_sched.glock);
}

static void
g_unlink(struct g *gp)
{
    gr_lock(&gr_sched.glock);
    if (gp->allprev != NULL)
        gp->allprev->allnext = gp->allnext;
    else
        gr_sched.allg = gp->allnext;
    if (gp->allnext != NULL)
        gp->allnext->allprev = gp->allprev;
    gr_sched.ng--;
    gr_unlock(&gr_sched.glock);
}

/*
 * The first code of every G, on its own stack and TLS. Nothing local is used after the
 * setjmp returns a second time: the G is found again through gr_curg.
 */
static void
g_entry(void *arg)
{
    __pthread_unwind_buf_t ub;
    void *result;

    (void)arg;
    gr_tls_on_start();
    if (gr_load_relaxed(&gr_curg->sigpending) != 0)
        deliver_pending_signals(gr_curg);
    /* As nptl's start_thread: pthread_exit and cancellation unwind to here. The buffer is
     * glibc's cancellation buffer, smaller than a sigjmp_buf, as in pthread_cleanup_push. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-overflow"
    int unwound = __sigsetjmp((struct __jmp_buf_tag *)(void *)ub.__cancel_jmp_buf, 0);
#pragma GCC diagnostic pop
    if (unwound == 0) {
        __pthread_register_cancel(&ub);
        result = gr_curg->fn(gr_curg->arg);
    } else {
        /* Unwound: by pthread_exit (which set the result), or by cancellation. */
        result = gr_curg->exiting ? gr_curg->result : PTHREAD_CANCELED;
    }
    gr_goexit(result);
}

int
gr_run_main(int (*main_fn)(int, char **, char **), int argc, char **argv, char **envp)
{
    __pthread_unwind_buf_t ub;

    if (gr_curg == NULL || !gr_curg->is_main)
        return main_fn(argc, argv, envp);
    /* pthread_exit in main unwinds to here instead of to glibc's frame, which would end the
     * initial OS thread (M0) under the scheduler's feet. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-overflow"
    int unwound = __sigsetjmp((struct __jmp_buf_tag *)(void *)ub.__cancel_jmp_buf, 0);
#pragma GCC diagnostic pop
    if (unwound == 0) {
        __pthread_register_cancel(&ub);
        return main_fn(argc, argv, envp);
    }
    gr_goexit(gr_curg->exiting ? gr_curg->result : PTHREAD_CANCELED);
}

int
gr_newproc(const struct gr_gattr *attr, void *(*fn)(void *), void *arg, struct g **out)
{
    struct g *cur = gr_current();
    struct g *gp;
    size_t size, guard;
    uint64_t goid;
    void *top;

    goid = gr_xadd(&gr_sched.goidgen, 1) + 1;
    guard = gr_round_up(attr->guard_size, GR_PAGE);
    if (attr->stack_addr != NULL) {
        gp = gr_mem_alloc(sizeof(struct g));
        if (gp == NULL)
            return EAGAIN;
        gp->user_stack = true;
        gp->stack_lo = attr->stack_addr;
        top = (char *)attr->stack_addr + attr->stack_size;
        gp->stack_hi = (void *)gr_round_down((uintptr_t)top - gr_tls_block_size(), 16);
        guard = 0;
    } else {
        size = attr->stack_size != 0 ? attr->stack_size : gr_stack_default();
        size = gr_round_up(size, GR_PAGE) + guard;
        gp = gr_stack_galloc(size, guard);
        if (gp == NULL)
            return EAGAIN;
        top = (char *)gp->map_lo + gp->map_size;
        guard = gp->guard;
    }
    gp->stack_top = top;
    gp->goid = goid;
    gp->tid = (int32_t)(FAKE_TID_BASE + goid % (0x7fffffff - FAKE_TID_BASE));
    gp->tp = gr_tls_create(top, gp, gp->tid, gp->user_stack ? gp->stack_lo : (char *)gp->map_lo + guard,
                           (size_t)((char *)top - (char *)gp->stack_lo), guard);
    if (gp->tp != 0) {
        for (int i = 0; i < gr_tls.nmalloc; i++)
            *(uintptr_t *)(gp->tp + gr_tls.malloc_off[i]) = gp->malloc_words[i];
    }
    if (gp->tp == 0) {
        if (gp->user_stack)
            gr_mem_free(gp, sizeof(struct g));
        else
            gr_stack_gfree(gp);
        return EAGAIN;
    }
    gp->fn = fn;
    gp->arg = arg;
    gp->joinstate = attr->detached ? JOIN_DETACHED : JOIN_JOINABLE;
    gp->sigmask = cur != NULL ? cur->sigmask : 0;
    gr_ctx_make(&gp->ctx, gp->stack_hi, g_entry, gp);
    gp->status = G_WAITING;        /* ready_on() moves it to runnable */
    g_link(gp);
    int32_t live = gr_xadd(&gr_sched.nlive, 1) + 1;
    if (live > gr_load_relaxed(&gr_sched.peaklive))
        gr_store_relaxed(&gr_sched.peaklive, live);
    gr_xadd_relaxed(&gr_sched.ncreated, 1);
    *out = gp;
    ready_on(gp, cur != NULL ? cur->m->p : NULL);
    return 0;
}

static void (*gexit_fns[4])(struct g *);

void
gr_on_gexit(void (*fn)(struct g *gp))
{
    for (size_t i = 0; i < GR_ARRAY_LEN(gexit_fns); i++) {
        if (gexit_fns[i] == NULL) {
            gexit_fns[i] = fn;
            return;
        }
    }
    gr_throw("gr_on_gexit: too many exit functions");
}

void
gr_goexit(void *result)
{
    struct g *gp = gr_curg;

    gp->result = result;
    gr_tls_run_dtors(gp->tp);
    for (size_t i = 0; i < GR_ARRAY_LEN(gexit_fns) && gexit_fns[i] != NULL; i++)
        gexit_fns[i](gp);
    /* As nptl: the last thread to exit ends the process with status 0. */
    if (gr_xadd(&gr_sched.nlive, -1) == 1)
        exit(0);
    switch_to_g0(gp, AFTER_EXIT);
    gr_throw("gr_goexit: dead G resumed");
}

void
gr_gfree(struct g *gp)
{
    g_unlink(gp);
    if (gp->is_main)
        return;                          /* the initial thread's stack is the process's */
    if (gp->user_stack)
        gr_mem_free(gp, sizeof(struct g));
    else
        gr_stack_gfree(gp);
}

struct g *
gr_g_from_tp(uintptr_t tp)
{
    if (tp == 0 || !gr_sched_booted())
        return NULL;
    return *(struct g **)(tp + gr_tls.curg_off);
}

int
gr_g_info(struct g *gp, struct gr_ginfo *gi)
{
    struct m *mp;

    /* An M's g0 (goid 0) answers for the OS thread glibc lists, not for a G. */
    if (gp == NULL || gp->goid == 0)
        return -ESRCH;
    gi->status = gr_load(&gp->status);
    gi->waitreason = gi->status == G_WAITING ? gp->waitreason : NULL;
    gi->mtid = 0;
    gi->masleep = false;
    mp = gr_load(&gp->m);
    if (mp != NULL && (gi->status == G_RUNNING || gi->status == G_SYSCALL)) {
        gi->mtid = mp->tid;
        if (gi->status == G_SYSCALL) {
            char st = gr_m_kstate(mp);
            gi->masleep = st == 'S' || st == 'D';
        }
    }
    return 0;
}

/* Install the M's own TLS block (g0 keeps the last G's otherwise; see the file comment). */
static void
install_ownfs(struct m *mp)
{
    if (mp->fs_cur != mp->ownfs) {
        gr_sys_set_fs(mp->ownfs);
        mp->fs_cur = mp->ownfs;
    }
}

/* On g0, after a G finished: release its TLS, then hand it to its joiner or free it. */
static void
g_dead(struct m *mp, struct g *gp)
{
    uint32_t js;

    install_ownfs(mp);
    if (!gp->is_main)
        gr_tls_destroy(gp->tp);
    gr_store(&gp->status, G_DEAD);
    js = JOIN_JOINABLE;
    if (gr_cas(&gp->joinstate, &js, JOIN_EXITED)) {
        gr_futex_wake(&gp->joinstate, INT32_MAX, ~0u);
        return;
    }
    if (js == JOIN_DETACHED)
        gr_gfree(gp);
}

/* ---- The scheduler loop (g0). */

/*
 * A G without a guard page is checked each time it switches out: its saved stack pointer
 * must still be inside its stack. (A canary word at the stack's end would cost a resident
 * page per G; the stack pointer costs nothing.)
 */
static void
check_stack(struct g *gp)
{
    if (!gp->is_main && gp->ctx.sp < (uintptr_t)gp->stack_lo + 256) {
        gr_print("greenrun: thread %lu overflowed its %lu-byte stack\n",
                 (unsigned long)gp->goid,
                 (unsigned long)((char *)gp->stack_top - (char *)gp->stack_lo));
        gr_throw("stack overflow");
    }
}

/* What the G that just switched to g0 asked for. */
static void
after_switch(struct m *mp)
{
    struct g *gp = mp->prevg;
    int after = mp->after;

    mp->prevg = NULL;
    mp->after = AFTER_NONE;
    mp->curg = NULL;
    check_stack(gp);
    switch (after) {
    case AFTER_PARK: {
        bool (*unlockf)(struct g *, void *) = mp->unlockf;
        gp->m = NULL;
        gp->waitsince = 0;
        gr_store(&gp->status, G_WAITING);
        mp->unlockf = NULL;
        if (unlockf != NULL && !unlockf(gp, mp->unlockarg)) {
            gr_store(&gp->status, G_RUNNABLE);
            gr_runq_put(mp->p, gp, true);
        }
        break;
    }
    case AFTER_YIELD:
    case AFTER_EXITSYSCALL:            /* back from a blocking call with no P: wait globally */
        gp->m = NULL;
        gr_store(&gp->status, G_RUNNABLE);
        gr_lock(&gr_sched.lock);
        gr_globrunq_put(gp);
        gr_unlock(&gr_sched.lock);
        break;
    case AFTER_YIELD_LOCAL:
        gp->m = NULL;
        gr_store(&gp->status, G_RUNNABLE);
        gr_runq_put(mp->p, gp, false);
        break;
    case AFTER_EXIT:
        gp->m = NULL;
        g_dead(mp, gp);
        break;
    default:
        gr_throw("after_switch: unknown request");
    }
}

static void
execute(struct m *mp, struct g *gp)
{
    gp->m = mp;
    mp->curg = gp;
    gr_store(&gp->status, G_RUNNING);
    gr_store_relaxed(&mp->preempt, 0);       /* a request was for the G that switched out */
    mp->p->schedtick++;
    mp->p->runstart = gr_nanotime();
    if (gp->sigmask != mp->sigmask_cur) {
        gr_sys_sigprocmask(SIG_SETMASK, &gp->sigmask, NULL);
        mp->sigmask_cur = gp->sigmask;
    }
    if (gp->tp != mp->fs_cur) {
        gr_sys_set_fs(gp->tp);
        mp->fs_cur = gp->tp;
    }
    gr_xadd_relaxed(&gr_sched.nswitch, 1);
    gr_ctx_switch(&mp->g0.ctx, &gp->ctx);
    after_switch(mp);
}

/* Earliest timer of all Ps, and run the due ones of every P (any M may). */
static int64_t
run_all_timers(int64_t now)
{
    int64_t next = INT64_MAX;

    for (int i = 0; i < gr_sched.nallp; i++) {
        int64_t w = gr_timers_run(gr_sched.allp[i], now);
        if (w < next)
            next = w;
    }
    return next;
}

static void
stop_spinning(struct m *mp)
{
    if (mp->spinning) {
        mp->spinning = false;
        if (gr_xadd(&gr_sched.nmspinning, -1) == 1) {
            /* We were the last spinner: someone must look for work left behind. */
            gr_wakep();
        }
    }
}

static bool
any_runq_nonempty(void)
{
    for (int i = 0; i < gr_sched.nallp; i++)
        if (gr_runq_stealable(gr_sched.allp[i]))
            return true;
    return gr_load_relaxed(&gr_sched.runqsize) != 0;
}

/* Sleep an M without a P until woken with one (mp->nextp) or until deadline. */
static void
stopm(struct m *mp, int64_t deadline)
{
    gr_lock(&gr_sched.lock);
    if (mp->nextp == NULL) {
        midle_put(mp);
        if (deadline != INT64_MAX &&
            (gr_sched.sleeper == NULL || deadline < gr_sched.sleep_until)) {
            gr_sched.sleeper = mp;
            gr_store(&gr_sched.sleep_until, deadline);
        } else {
            deadline = INT64_MAX;
        }
    }
    gr_unlock(&gr_sched.lock);
    install_ownfs(mp);
    gr_note_sleep(&mp->park, deadline == INT64_MAX ? -1 : deadline);
    gr_lock(&gr_sched.lock);
    if (mp->nextp == NULL)
        midle_remove(mp);
    if (gr_sched.sleeper == mp) {
        gr_sched.sleeper = NULL;
        gr_store(&gr_sched.sleep_until, 0);
    }
    gr_unlock(&gr_sched.lock);
    gr_note_clear(&mp->park);
    if (mp->nextp != NULL) {
        acquirep(mp, mp->nextp);
        mp->nextp = NULL;
    }
}

/*
 * Nothing to run and no P: block in the netpoller if nobody else does (it then also serves
 * the nearest timer), else sleep on the M's note.
 */
static void
idle(struct m *mp, int64_t next)
{
    uint32_t zero = 0;

    if (gr_netpoll_inited() && (gr_netpoll_waiters() > 0 || next != INT64_MAX) &&
        gr_cas(&gr_sched.netpolling, &zero, 1)) {
        gr_store(&gr_sched.poll_until, next);
        install_ownfs(mp);
        mp->polling = true;
        gr_netpoll(next);
        mp->polling = false;
        gr_store(&gr_sched.lastpoll, gr_nanotime());
        gr_store(&gr_sched.poll_until, 0);
        gr_store(&gr_sched.netpolling, 0);
        return;
    }
    stopm(mp, next);
}

/* Poll without blocking when Gs wait on I/O and nobody polled lately. */
static void
netpoll_nonblock(void)
{
    if (gr_netpoll_inited() && gr_netpoll_waiters() > 0 && !gr_load(&gr_sched.netpolling)) {
        struct m *mp = gr_getm();
        mp->polling = true;
        gr_netpoll(0);
        mp->polling = false;
        gr_store(&gr_sched.lastpoll, gr_nanotime());
    }
}

/* Find a G to run; blocks until there is one. Returns with mp->p held. */
static struct g *
findrunnable(struct m *mp)
{
    struct g *gp;

    for (;;) {
        struct p *pp = mp->p;
        int64_t now, next;

        if (pp == NULL) {
            /* Woken without a P (timer sleeper): run timers, then try for a P. */
            next = run_all_timers(gr_nanotime());
            gr_lock(&gr_sched.lock);
            pp = gr_sched.runqsize > 0 ? pidle_get() : NULL;
            gr_unlock(&gr_sched.lock);
            if (pp == NULL) {
                idle(mp, next);
                continue;
            }
            acquirep(mp, pp);
        }

        if (pp->spare) {
            gr_lock(&gr_sched.lock);
            bool needed = spare_needed(pp);
            gr_unlock(&gr_sched.lock);
            if (!needed) {
                spare_retire(mp, pp);
                stop_spinning(mp);
                continue;
            }
        }
        now = gr_nanotime();
        gr_timers_run(pp, now);
        if (pp->schedtick % 61 == 0 && gr_load_relaxed(&gr_sched.runqsize) > 0) {
            gr_lock(&gr_sched.lock);
            gp = gr_globrunq_get(pp, 1);
            gr_unlock(&gr_sched.lock);
            if (gp != NULL)
                goto found;
        }
        gp = gr_runq_get(pp);
        if (gp != NULL)
            goto found;
        if (gr_load_relaxed(&gr_sched.runqsize) > 0) {
            gr_lock(&gr_sched.lock);
            gp = gr_globrunq_get(pp, 0);
            gr_unlock(&gr_sched.lock);
            if (gp != NULL)
                goto found;
        }
        next = run_all_timers(now);
        netpoll_nonblock();
        gp = gr_runq_get(pp);
        if (gp != NULL)
            goto found;

        /* Steal, as a spinning M, unless half of the busy Ps already have spinners. */
        if (mp->spinning || 2 * gr_load(&gr_sched.nmspinning) <
                                gr_sched.nprocs - gr_load(&gr_sched.npidle)) {
            if (!mp->spinning) {
                mp->spinning = true;
                gr_xadd(&gr_sched.nmspinning, 1);
            }
            for (int round = 0; round < 4; round++) {
                uint32_t n = (uint32_t)gr_sched.nallp;
                uint32_t off = fastrand(pp) % n;
                for (uint32_t i = 0; i < n; i++) {
                    struct p *victim = gr_sched.allp[(off + i) % n];
                    if (victim == pp)
                        continue;
                    gp = gr_runq_steal(pp, victim, round == 3);
                    if (gp != NULL)
                        goto found;
                }
            }
        }

        /* Nothing: give the P back and sleep. A spare's timers go to the P it stood in for. */
        if (pp->spare)
            gr_timers_move(pp, spare_heir(pp));
        gr_lock(&gr_sched.lock);
        if (gr_sched.runqsize > 0) {
            gp = gr_globrunq_get(pp, 0);
            gr_unlock(&gr_sched.lock);
            goto found;
        }
        mp->p = NULL;
        p_release(pp);
        gr_unlock(&gr_sched.lock);

        if (mp->spinning) {
            mp->spinning = false;
            gr_xadd(&gr_sched.nmspinning, -1);
            /* Pairs with gr_wakep()'s load of nmspinning after a runq_put. */
            if (any_runq_nonempty()) {
                gr_lock(&gr_sched.lock);
                pp = pidle_get();
                gr_unlock(&gr_sched.lock);
                if (pp != NULL) {
                    acquirep(mp, pp);
                    mp->spinning = true;
                    gr_xadd(&gr_sched.nmspinning, 1);
                    continue;
                }
            }
        }
        next = run_all_timers(gr_nanotime());
        if (gr_load_relaxed(&gr_sched.runqsize) > 0) {
            gr_lock(&gr_sched.lock);
            pp = pidle_get();
            gr_unlock(&gr_sched.lock);
            if (pp != NULL) {
                acquirep(mp, pp);
                continue;
            }
        }
        idle(mp, next);
        continue;
found:
        stop_spinning(mp);
        return gp;
    }
}

static void
m_loop(struct m *mp)
{
    for (;;) {
        struct g *gp = findrunnable(mp);
        execute(mp, gp);
    }
}

static void
g0_entry(void *arg)
{
    struct m *mp = arg;

    /* First switch from the G this M was running: finish its request, then schedule. */
    after_switch(mp);
    m_loop(mp);
}

/*
 * Give an M that runs a G of its own from the start (M0, or the fork child's M) a g0: a
 * fresh stack and TLS block, with a context that starts in g0_entry at the G's first switch.
 */
static bool
build_g0(struct m *mp)
{
    void *map = gr_mem_map(G0_STACK_SIZE);
    uintptr_t tp;

    if (map == NULL)
        return false;
    tp = gr_tls_create((char *)map + G0_STACK_SIZE, &mp->g0, FAKE_TID_BASE, map,
                       G0_STACK_SIZE, 0);
    if (tp == 0)
        return false;
    mp->ownfs = tp;
    mp->g0.tp = tp;
    gr_ctx_make(&mp->g0.ctx, (void *)gr_round_down(tp + gr_tls.desc_size - gr_tls.static_size
                                                   - 64, 16), g0_entry, mp);
    return true;
}


/* ---- fork: the child keeps one M, running the forking G (DESIGN.md "fork and exec"). */

/*
 * Runs in the child, first of the atfork child handlers (or from the _Fork hook, which runs
 * none), on the forking G. Every other thread is gone: their Ms, their Gs, their waits and
 * timers. glibc recycled every listed descriptor but the calling G's, the M's own stack and
 * TLS included, so the M gets a fresh g0; the G's descriptor is now the one glibc lists for
 * this thread. Every M's /proc files name threads of the parent: all are closed, the M's
 * own reopened.
 */
void
gr_fork_child(void)
{
    struct g *gp = gr_current();
    struct m *mp;

    if (!gr_sched_booted())
        return;
    if (gp == NULL) {
        gr_go_native_quiet();            /* forked from a thread the runtime does not own */
        return;
    }
    mp = gp->m;
    /* The kernel's rseq area for this thread lies in the recycled descriptor. */
    gr_syscall4(SYS_rseq, gr_tls.rseq_cpu_off != 0 ? mp->sysdesc + gr_tls.rseq_cpu_off - 4 : 0,
                32, 1 /* RSEQ_FLAG_UNREGISTER */, 0x53053053);

    memset(&gr_sched.lock, 0, sizeof(gr_sched.lock));
    memset(&gr_sched.glock, 0, sizeof(gr_sched.glock));
    gr_sema_fork_child();
    gr_mem_fork_child();
    gr_stack_fork_child();
    gr_blockrec_fork_child();

    for (struct m *om = gr_sched.allm; om != NULL; om = om->alllink)
        m_close_proc(om);
    mp->tid = gr_sys_gettid();
    mp->sysdesc = gp->tp;
    mp->alllink = NULL;
    mp->spinning = false;
    mp->schedlink = NULL;
    mp->preempt = 0;
    gr_note_clear(&mp->park);
    m_open_proc(mp);
    if (!build_g0(mp))
        gr_throw("fork child: cannot build a scheduler stack");

    gr_sched.allm = mp;
    gr_sched.mcount = 1;
    gr_sched.midle = NULL;
    gr_sched.nmidle = 0;
    gr_sched.nmspinning = 0;
    gr_sched.sleeper = NULL;
    gr_sched.sleep_until = 0;
    gr_sched.netpolling = 0;
    gr_sched.runqhead = gr_sched.runqtail = NULL;
    gr_sched.runqsize = 0;
    gr_sched.pidle = NULL;
    gr_sched.npidle = 0;
    gr_sched.pspare = NULL;
    gr_sched.stuckp = NULL;
    for (int i = gr_sched.nallp - 1; i >= 0; i--) {
        struct p *pp = gr_sched.allp[i];
        memset(&pp->timers.lock, 0, sizeof(pp->timers.lock));
        pp->timers.len = 0;
        pp->timers.next_when = INT64_MAX;
        pp->runqhead = pp->runqtail = 0;
        pp->runnext = NULL;
        pp->stuck = NULL;
        pp->sysmon_blocked = 0;          /* the parent's sysmon was following it */
        pp->sysmon_blocked_rec = false;
        if (pp == mp->p)
            continue;
        pp->status = P_IDLE;
        pp->m = NULL;
        if (pp->spare) {
            pp->link = gr_sched.pspare;
            gr_sched.pspare = pp;
        } else {
            pidle_put(pp);
        }
    }
    gp->allnext = gp->allprev = NULL;
    gr_sched.allg = gp;
    gr_sched.ng = 1;
    gr_sched.nlive = 1;
    gr_netpoll_fork_child();
    if (!newm(NULL, false, true, gr_sysmon_main))
        gr_print("greenrun: warning: cannot start sysmon in the fork child\n");
}

/* ---- Boot. */

static int
detect_procs(void)
{
    cpu_set_t set;

    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    return 1;
}


int
gr_boot_sched(int nprocs)
{
    struct g *mg;

    if (nprocs <= 0)
        nprocs = detect_procs();
    if (nprocs > (int)GR_ARRAY_LEN(gr_sched.allp))
        nprocs = (int)GR_ARRAY_LEN(gr_sched.allp);
    gr_sched.nprocs = nprocs;
    gr_sched.nallp = nprocs + (nprocs < 64 ? nprocs : 64);
    for (int i = 0; i < gr_sched.nallp; i++) {
        struct p *pp = gr_mem_alloc(sizeof(struct p));
        if (pp == NULL)
            return -1;
        pp->id = i;
        pp->fastrand = 0x9e3779b9u * (uint32_t)(i + 1);
        pp->timers.next_when = INT64_MAX;
        gr_sched.allp[i] = pp;
        if (i >= nprocs) {
            pp->spare = true;
            pp->link = gr_sched.pspare;
            gr_sched.pspare = pp;
        }
    }

    gr_sys_init();

    /* M0: the initial thread. Its g0 gets a fresh stack and TLS block of its own. */
    m0.self = &m0;
    if (gr_sys_set_gs((uintptr_t)&m0) != 0)
        return -1;
    m0.tid = gr_sys_gettid();
    m_open_proc(&m0);
    m0.sysdesc = gr_get_tp();
    m0.fs_cur = m0.sysdesc;
    gr_sys_sigprocmask(SIG_SETMASK, NULL, &m0.sigmask_cur);
    if (!build_g0(&m0))
        return -1;
    m0.alllink = NULL;
    gr_sched.allm = &m0;
    gr_sched.m0 = &m0;
    gr_sched.mcount = 1;

    /* The main G: the initial thread's own stack and descriptor. */
    mg = gr_mem_alloc(sizeof(struct g));
    if (mg == NULL)
        return -1;
    mg->tp = m0.sysdesc;
    mg->is_main = true;
    mg->goid = gr_xadd(&gr_sched.goidgen, 1) + 1;
    mg->joinstate = JOIN_JOINABLE;
    mg->sigmask = m0.sigmask_cur;
    mg->m = &m0;
    mg->status = G_RUNNING;
    g_link(mg);
    gr_sched.nlive = 1;
    gr_sched.peaklive = 1;
    gr_curg = mg;
    m0.curg = mg;
    acquirep(&m0, gr_sched.allp[0]);
    for (int i = nprocs - 1; i >= 1; i--)
        pidle_put(gr_sched.allp[i]);

    gr_store_release(&booted, true);
    pthread_atfork(NULL, NULL, gr_fork_child);
    if (!newm(NULL, false, true, gr_sysmon_main))
        gr_print("greenrun: warning: cannot start sysmon\n");
    return 0;
}

/* Until the netpoller lands (runtime/netpoll.c), the scheduler sees an idle one. */
__attribute__((weak)) bool gr_netpoll_inited(void) { return false; }
__attribute__((weak)) int32_t gr_netpoll_waiters(void) { return 0; }
__attribute__((weak)) int gr_netpoll(int64_t until) { (void)until; return 0; }
__attribute__((weak)) void gr_netpoll_break(void) { }
