/*
 * runtime/g.c: the life of a G (Go's newproc, goexit, gfput): creation on a pooled stack with
 * its own TLS block, the first code it runs (g_entry, a miniature of nptl's start_thread),
 * exit (TLS and key destructors on the G, then its block released on g0), and the join and
 * detach state machine of pthread_join/pthread_detach.
 *
 * Join states (g->joinstate, atomic; the word joiners wait on in the wait table):
 *   JOINABLE --exit--> EXITED --join claims--> JOINED (the joiner frees the G)
 *   JOINABLE --detach--> DETACHED --exit--> freed by g0
 *   EXITED --detach--> DETACHED (freed by the detacher)
 * Every change is a CAS, so exactly one of exit, join and detach frees the G. A freed G keeps
 * its last state until its stack is reused, so a stale pthread_t reads as glibc's does: JOINED
 * is glibc's descriptor with tid -1 (ESRCH for most calls), a detached G that exited is
 * DETACHED and dead (EINVAL). A G's status (sched.h) moves only through gr_casgstatus, at the
 * end of this file.
 *
 * Thread ids: a G's tid is what gettid() returns for it. The main G has the process id, as
 * the initial thread natively; every other G has 0x400000 + its goid, above PID_MAX_LIMIT
 * (2^22), so it never names a kernel thread, here or in another process: a call that takes a
 * tid finds the G (gr_g_hold_tid) or, for any other tid, reaches the kernel, which knows it
 * or says ESRCH. The tid is also in the G's descriptor (glibc's owner id of its recursive
 * locks), and it never changes while the G lives: only the fork child gives the forking G
 * the child's process id, as the kernel does to the forking thread. Live Gs are found by tid
 * in a hashed table beside allg.
 *
 * Locks: gr_sched.glock (rank glock): the allg list, and what walks it (static TLS images
 * copied into every live G, signals passed to a parked G); tid_lock (rank leaf): the tid
 * table; attr_lock (rank leaf): a G's name, nice value and CPU set. A G's scheduling policy
 * is wire.c's.
 */
#include "runtime/g.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "runtime/atomic.h"
#include "runtime/cancel.h"
#include "runtime/boot.h"
#include "runtime/cputime.h"
#include "runtime/ctx.h"
#include "runtime/debug.h"
#include "runtime/m.h"
#include "runtime/mem.h"
#include "runtime/proc.h"
#include "runtime/sema.h"
#include "runtime/signal.h"
#include "runtime/stack.h"
#include "runtime/sys.h"
#include "runtime/tls.h"
#include "runtime/trace.h"
#include "runtime/wire.h"

static void g_inherit_attrs(struct g *gp, struct g *cur);
static void g_free_attrs(struct g *gp);

/*
 * Live Gs by tid; protected by tid_lock. A signal handler may look a tid up (tgkill, a
 * thread's CPU clock) on an M interrupted while it holds the lock: m->tidlock says so, set
 * before taking and cleared after releasing, and the lookup then reports no G rather than
 * wait for itself (the caller falls back on the kernel).
 *
 * The table doubles whenever it holds 16 times as many Gs as buckets: a lookup walks about
 * 16 Gs whatever their number, an insert and a removal (doubly linked) cost nothing more,
 * and the buckets cost half a byte per G (a blocked thread's memory is counted in bytes).
 * Tids are consecutive, so their low bits spread them. The table never shrinks.
 */
#define TID_BUCKETS_MIN 4096
#define TID_BUCKETS_MAX (1u << 24)
#define TID_LOAD        16
static struct g *tid_first[TID_BUCKETS_MIN];
static struct g **tidtab = tid_first; /* protected by tid_lock */
static uint32_t tidbuckets = TID_BUCKETS_MIN;
static uint32_t tidcount;
static struct gr_mutex tid_lock = GR_MUTEX_INIT(GR_RANK_LEAF);

/* False when this M is inside tid_lock already (a signal handler interrupted it there). */
static bool
tid_lock_take(void)
{
    struct m *mp = gr_curg != NULL ? gr_getm() : NULL;

    if (mp != NULL) {
        if (mp->tidlock)
            return false;
        mp->tidlock = true;
        gr_signal_fence(); /* seen by a handler on this M before the lock is taken */
    }
    gr_lock(&tid_lock);
    return true;
}

static void
tid_lock_drop(void)
{
    struct m *mp = gr_curg != NULL ? gr_getm() : NULL;

    gr_unlock(&tid_lock);
    if (mp != NULL) {
        gr_signal_fence();
        mp->tidlock = false;
    }
}

static struct g **
tid_bucket(int32_t tid)
{
    return &tidtab[(uint32_t)tid & (tidbuckets - 1)];
}

/* Put gp at the front of its chain. Requires: tid_lock held. */
static void
tid_push(struct g *gp)
{
    struct g **b = tid_bucket(gp->tid);

    gp->tidnext = *b;
    gp->tidprev = b;
    if (*b != NULL)
        (*b)->tidprev = &gp->tidnext;
    *b = gp;
}

/* Double the table. Its memory is mapped directly (gr_mem_map takes no lock); without it the
 * chains grow longer, which costs time only. Requires: tid_lock held. */
static void
tid_grow(void)
{
    uint32_t oldn = tidbuckets;
    struct g **old = tidtab, **tab = gr_mem_map((size_t)oldn * 2 * sizeof(*tab));

    if (tab == NULL)
        return;
    tidtab = tab;
    tidbuckets = oldn * 2;
    for (uint32_t i = 0; i < oldn; i++) {
        for (struct g *gp = old[i], *next; gp != NULL; gp = next) {
            next = gp->tidnext;
            tid_push(gp);
        }
    }
    if (old != tid_first)
        gr_mem_unmap(old, (size_t)oldn * sizeof(*old));
}

static void
tid_insert(struct g *gp)
{
    if (!tid_lock_take())
        gr_throw("tid table: entered twice");
    if (tidcount >= TID_LOAD * tidbuckets && tidbuckets < TID_BUCKETS_MAX)
        tid_grow();
    tid_push(gp);
    tidcount++;
    tid_lock_drop();
}

static void
tid_remove(struct g *gp)
{
    if (!tid_lock_take())
        gr_throw("tid table: entered twice");
    *gp->tidprev = gp->tidnext;
    if (gp->tidnext != NULL)
        gp->tidnext->tidprev = gp->tidprev;
    tidcount--;
    tid_lock_drop();
}

static void
g_link(struct g *gp)
{
    gr_lock(&gr_sched.glock);
    tid_insert(gp);
    gp->allnext = gr_sched.allg;
    gp->allprev = NULL;
    if (gr_sched.allg != NULL)
        gr_sched.allg->allprev = gp;
    gr_sched.allg = gp;
    gr_owner_inc(&gr_sched.ng);
    gr_unlock(&gr_sched.glock);
}

static void
g_unlink(struct g *gp)
{
    gr_lock(&gr_sched.glock);
    tid_remove(gp);
    if (gp->allprev != NULL)
        gp->allprev->allnext = gp->allnext;
    else
        gr_sched.allg = gp->allnext;
    if (gp->allnext != NULL)
        gp->allnext->allprev = gp->allprev;
    gr_owner_dec(&gr_sched.ng);
    gr_unlock(&gr_sched.glock);
}

/*
 * Set the bottom unwind buffer of a thread, as nptl's start_thread does: pthread_exit and
 * cancellation unwind to it. The buffer is glibc's cancellation buffer, smaller than a
 * sigjmp_buf (as in pthread_cleanup_push), which GCC takes for an overflow; __sigsetjmp does
 * not write past it. r is 0 the first time, nonzero when unwound to.
 */
/* clang-format off */
#define UNWIND_SETJMP(r, ub)                                                   \
    _Pragma("GCC diagnostic push")                                             \
    _Pragma("GCC diagnostic ignored \"-Wstringop-overflow\"")                  \
    (r) = __sigsetjmp((struct __jmp_buf_tag *)(void *)(ub).__cancel_jmp_buf, 0); \
    _Pragma("GCC diagnostic pop")
/* clang-format on */

/*
 * The first code of every G, on its own stack and TLS. Nothing local is used after the
 * setjmp returns a second time: the G is found again through gr_curg.
 */
static void
g_entry(void *arg)
{
    __pthread_unwind_buf_t ub;
    void *result;
    int unwound;

    (void)arg;
    gr_tls_on_start();
    if ((gr_load_relaxed(&gr_curg->sigpending) | gr_load_relaxed(&gr_sched.sigheld)) != 0)
        gr_signal_deliver(gr_curg);
    UNWIND_SETJMP(unwound, ub);
    if (unwound == 0) {
        __pthread_register_cancel(&ub);
        result = gr_curg->fn(gr_curg->arg);
    } else {
        /* Unwound: by pthread_exit (which set the result), or by cancellation. */
        gr_cancel_unwound(gr_curg);
        result = gr_curg->exiting ? gr_curg->result : PTHREAD_CANCELED;
    }
    gr_goexit(result);
}

uintptr_t gr_main_caller;

int
gr_run_main(int (*main_fn)(int, char **, char **), int argc, char **argv, char **envp)
{
    __pthread_unwind_buf_t ub;
    int unwound;

    if (gr_curg == NULL || !gr_curg->is_main)
        return main_fn(argc, argv, envp);
    gr_main_caller = (uintptr_t)__builtin_return_address(0);
    /* pthread_exit in main unwinds to here instead of to glibc's frame, which would end the
     * initial OS thread (M0) under the scheduler's feet. */
    UNWIND_SETJMP(unwound, ub);
    if (unwound == 0) {
        __pthread_register_cancel(&ub);
        return main_fn(argc, argv, envp);
    }
    gr_cancel_unwound(gr_curg);
    gr_goexit(gr_curg->exiting ? gr_curg->result : PTHREAD_CANCELED);
}

int
gr_newproc(const struct gr_gattr *attr, void *(*fn)(void *), void *arg, pthread_t *thread)
{
    struct g *cur = gr_current();
    struct g *gp;
    size_t size, guard;
    uint64_t goid;
    void *top;
    int policy, priority, err;

    /* The kernel judges a real-time policy before anything is made, as glibc's create. */
    err = gr_wire_prepare(attr, cur, &policy, &priority);
    if (err != 0)
        return -err;
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
    gp->tid = (int32_t)(GR_FAKE_TID_BASE + goid % (0x7fffffff - GR_FAKE_TID_BASE));
    gp->tp =
        gr_tls_create(top, gp, gp->tid, gp->user_stack ? gp->stack_lo : (char *)gp->map_lo + guard,
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
    gr_lock_init(&gp->siglock, GR_RANK_LEAF);
    gp->altstack.ss_flags = SS_DISABLE; /* as a new thread's */
    gp->fn = fn;
    gp->arg = arg;
    if (cur != NULL)
        g_inherit_attrs(gp, cur);
    gr_store_relaxed(&gp->joinstate, attr->detached ? JOIN_DETACHED : JOIN_JOINABLE);
    gr_store_relaxed(&gp->sigmask, attr->has_sigmask ? attr->sigmask & ~GR_SIG_UNBLOCKABLE :
                                   cur != NULL       ? gr_load_relaxed(&cur->sigmask) :
                                                       0);
    gr_ctx_make(&gp->ctx, gp->stack_hi, g_entry, gp);
    gr_store_relaxed(&gp->waitfd, -1);
    gr_store_relaxed(&gp->since, gr_nanotime());
    gr_store_relaxed(&gp->status, G_IDLE); /* not shared yet; gr_ready_new queues it */
    g_link(gp);
    int32_t live = gr_xadd(&gr_sched.nlive, 1) + 1;
    if (live > gr_load_relaxed(&gr_sched.peaklive))
        gr_store_relaxed(&gr_sched.peaklive, live);
    gr_xadd_relaxed(&gr_sched.ncreated, 1);
    GR_TRACE(GR_EV_GO_CREATE, 0, goid, cur != NULL ? cur->goid : 0);
    *thread = (pthread_t)gp->tp;
    if (gr_wire_newg(gp, policy, priority))
        gr_startm_g(gp); /* real-time: on an OS thread of its own at once */
    else
        gr_ready_new(gp);
    return 0;
}

static void (*gexit_fns[4])(struct g *);

/* ---- Finding a G by tid. */

struct g *
gr_g_hold_tid(pid_t tid)
{
    struct g *found = NULL;

    if (tid <= 0 || !gr_sched_booted() || !tid_lock_take())
        return NULL;
    for (struct g *gp = *tid_bucket(tid); gp != NULL; gp = gp->tidnext) {
        /* An exited G waiting for its joiner has no thread left, as natively. */
        if (gp->tid == tid && gr_load(&gp->status) != G_DEAD) {
            gr_xadd(&gp->holds, 1);
            found = gp;
            break;
        }
    }
    tid_lock_drop();
    return found;
}

/* Set in holds once the G is freed: the last holder to let go then releases its memory. */
#define HOLD_FREED 0x80000000u

static void g_release_mem(struct g *gp);

void
gr_g_release(struct g *gp)
{
    if (gr_xadd(&gp->holds, -1) == HOLD_FREED + 1)
        g_release_mem(gp);
}

pid_t
gr_g_tid(struct g *gp)
{
    return gp->tid;
}

pid_t
gr_g_ostid(struct g *gp)
{
    struct m *mp = gr_load(&gp->m);
    uint32_t st = gr_load(&gp->status);

    return mp != NULL && (st == G_RUNNING || st == G_SYSCALL) ? mp->tid : 0;
}

pthread_t
gr_g_thread(struct g *gp)
{
    return (pthread_t)gp->tp;
}

void
gr_g_fork_child(struct g *gp)
{
    /* Only this thread is left: its holders are gone, and it is the process's first thread,
     * whose id is the process id (glibc's fork stored it in the descriptor already). */
    gr_lock_reset(&tid_lock);
    gr_getm()->tidlock = false;
    if (tidtab != tid_first)
        gr_mem_unmap(tidtab, (size_t)tidbuckets * sizeof(*tidtab));
    memset(tid_first, 0, sizeof(tid_first));
    tidtab = tid_first;
    tidbuckets = TID_BUCKETS_MIN;
    tidcount = 0;
    gr_store_relaxed(&gp->holds, 0);
    gp->tid = gr_sys_getpid();
    tid_insert(gp);
}

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
    gr_wire_exit(gp); /* its M, if wired, returns to SCHED_OTHER and to the scheduler */
    /* As nptl: the last thread to exit ends the process with status 0. */
    if (gr_xadd(&gr_sched.nlive, -1) == 1)
        exit(0);
    gr_switch_to_g0(gp, AFTER_EXIT);
    gr_throw("goexit: dead G resumed");
}

void
gr_gfree(struct g *gp)
{
    g_unlink(gp);
    /* Unlinked, it can no longer be found by tid; a call that found it before and still acts
     * on it (gr_g_hold_tid) releases its memory when it lets go. */
    if (gr_xadd(&gp->holds, HOLD_FREED) != 0)
        return;
    g_release_mem(gp);
}

static void
g_release_mem(struct g *gp)
{
    g_free_attrs(gp);
    if (gp->is_main)
        return; /* the initial thread's stack is the process's */
    if (gp->user_stack)
        gr_mem_free(gp, sizeof(struct g));
    else
        gr_stack_gfree(gp);
}

struct g *
gr_g_from_thread(pthread_t thread)
{
    uintptr_t tp = (uintptr_t)thread;

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
    gi->waitreason = gi->status == G_WAITING ? gr_load_relaxed(&gp->waitreason) : NULL;
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

/* On g0, after a G finished: release its TLS, then hand it to its joiner or free it
 * (the header's join states). */
void
gr_g_dead(struct m *mp, struct g *gp)
{
    uint32_t js;

    gr_m_install_ownfs(mp);
    if (!gp->is_main)
        gr_tls_destroy(gp->tp);
    gr_casgstatus(gp, G_RUNNING, G_DEAD);
    js = JOIN_JOINABLE;
    if (gr_cas(&gp->joinstate, &js, JOIN_EXITED)) {
        gr_futex_wake(gr_atomic_word(&gp->joinstate), INT32_MAX, ~0u);
        return;
    }
    if (js == JOIN_DETACHED)
        gr_gfree(gp);
}

/*
 * A G without a guard page is checked each time it switches out: its saved stack pointer
 * must still be inside its stack. (A canary word at the stack's end would cost a resident
 * page per G; the stack pointer costs nothing.)
 */
void
gr_g_check_stack(struct g *gp)
{
    if (!gp->is_main && gp->ctx.sp < (uintptr_t)gp->stack_lo + 256) {
        gr_print("greenrun: thread %lu overflowed its %lu-byte stack\n", (unsigned long)gp->goid,
                 (unsigned long)((char *)gp->stack_top - (char *)gp->stack_lo));
        gr_throw("stack overflow");
    }
}

int
gr_join(struct g *gp, void **ret, int64_t deadline)
{
    struct g *self = gr_current();
    bool waited = false;

    for (;;) {
        uint32_t js = gr_load(&gp->joinstate);
        int r;

        /* As glibc's tryjoin: a thread that has not exited, or a stale handle (tid -1 there,
         * not 0), is EBUSY before anything else. */
        if (deadline == 0 && (js == JOIN_JOINED || gr_load(&gp->status) != G_DEAD))
            return -EBUSY;
        /* Then glibc's order: a stale handle, a detached thread, the caller itself. A joiner
         * that waited and lost the claim to another gets EINVAL, as glibc's second joiner. */
        if (js == JOIN_JOINED)
            return waited ? -EINVAL : -ESRCH;
        if (js == JOIN_DETACHED)
            return -EINVAL;
        if (gp == self)
            return -EDEADLK;
        if (js == JOIN_EXITED) {
            if (!gr_cas(&gp->joinstate, &js, JOIN_JOINED))
                continue;
            if (ret != NULL)
                *ret = gp->result;
            gr_gfree(gp);
            return 0;
        }
        if (deadline == 0)
            return -EBUSY;
        if (self != NULL && gr_cancel_pending(self))
            return -ECANCELED;
        waited = true;
        r = gr_futex_wait(gr_atomic_word(&gp->joinstate), JOIN_JOINABLE, ~0u, deadline,
                          GR_WQ_CANCEL | GR_WQ_SIGNAL, "join");
        if (r == -ETIMEDOUT || r == -ECANCELED)
            return r;
    }
}

int
gr_detach(struct g *gp)
{
    uint32_t js = gr_load(&gp->joinstate);

    for (;;) {
        switch (js) {
        case JOIN_JOINABLE:
            if (gr_cas(&gp->joinstate, &js, JOIN_DETACHED))
                return 0;
            break;
        case JOIN_EXITED:
            if (gr_cas(&gp->joinstate, &js, JOIN_DETACHED)) {
                gr_gfree(gp);
                return 0;
            }
            break;
        case JOIN_JOINED:
            return -ESRCH; /* joined: a stale handle */
        default:
            return -EINVAL; /* detached already */
        }
    }
}

bool
gr_g_joined(struct g *gp)
{
    return gr_load(&gp->joinstate) == JOIN_JOINED;
}

extern void *__libc_stack_end; /* ld.so: the top of the initial thread's stack */

#define MAIN_STACK_MAX (4ULL << 30) /* an unlimited RLIMIT_STACK counts as 4 GiB */

/* The initial thread's stack: from the top the kernel gave it down to RLIMIT_STACK. */
static void
main_stack_bounds(struct g *mg)
{
    struct {
        unsigned long cur, max;
    } rl;
    uintptr_t hi = gr_round_up((uintptr_t)__libc_stack_end, GR_PAGE);
    unsigned long size = MAIN_STACK_MAX;

    if (gr_syscall4(SYS_prlimit64, 0, RLIMIT_STACK, 0, &rl) == 0 && rl.cur < size)
        size = rl.cur;
    if (size > hi)
        size = hi;
    mg->stack_lo = (void *)(hi - size);
    mg->stack_hi = (void *)hi;
}

struct g *
gr_g_adopt_main(struct m *mp)
{
    struct g *mg = gr_mem_alloc(sizeof(struct g));

    if (mg == NULL)
        return NULL;
    mg->tp = mp->sysdesc;
    mg->is_main = true;
    mg->tid = gr_sys_getpid(); /* the initial thread's, already in its descriptor */
    long prio = gr_syscall2(SYS_getpriority, PRIO_PROCESS, 0);
    mg->nice = prio > 0 ? 20 - (int)prio : 0; /* the system call answers 20 - nice */
    main_stack_bounds(mg);
    mg->altstack = mp->altstack_cur; /* the initial thread's, if it set one before boot */
    gr_lock_init(&mg->siglock, GR_RANK_LEAF);
    mg->goid = gr_xadd(&gr_sched.goidgen, 1) + 1;
    gr_store_relaxed(&mg->joinstate, JOIN_JOINABLE);
    gr_store_relaxed(&mg->sigmask, mp->sigmask_cur);
    gr_store_relaxed(&mg->m, mp);
    gr_store_relaxed(&mg->status, G_RUNNING);
    gr_store_relaxed(&mg->waitfd, -1);
    gr_store_relaxed(&mg->since, gr_nanotime());
    g_link(mg);
    gr_store_relaxed(&gr_sched.nlive, 1);
    gr_store_relaxed(&gr_sched.peaklive, 1);
    gr_curg = mg;
    gr_store_relaxed(&mp->curg, mg);
    gr_cputime_adopt_main(mp, mg);
    gr_wire_boot_main(mg); /* started under a real-time policy (chrt): keep it, wired */
    return mg;
}

/* ---- A G's attributes, for the hooks (api.h). */

/* Every G's name, nice value and CPU set (its scheduling policy is wire.c's). */
static struct gr_mutex attr_lock = GR_MUTEX_INIT(GR_RANK_LEAF);

/* A new G starts with its creator's nice value and CPU set, as a new thread natively. */
static void
g_inherit_attrs(struct g *gp, struct g *cur)
{
    void *set;
    bool has;

    gr_lock(&attr_lock);
    gp->nice = cur->nice;
    has = cur->affinity != NULL;
    gr_unlock(&attr_lock);
    if (!has || (set = gr_mem_alloc(GR_AFFINITY_BYTES)) == NULL)
        return;
    gr_lock(&attr_lock);
    if (cur->affinity != NULL) {
        memcpy(set, cur->affinity, GR_AFFINITY_BYTES);
        gp->affinity = set;
        set = NULL;
    }
    gr_unlock(&attr_lock);
    if (set != NULL)
        gr_mem_free(set, GR_AFFINITY_BYTES);
}

static void
g_free_attrs(struct g *gp)
{
    if (gp->affinity != NULL) {
        gr_mem_free(gp->affinity, GR_AFFINITY_BYTES);
        gp->affinity = NULL;
    }
}

void
gr_g_exiting(void *result)
{
    struct g *gp = gr_curg;

    gp->result = result;
    gp->exiting = true;
}

bool
gr_g_exited(struct g *gp)
{
    return gr_load(&gp->status) == G_DEAD;
}

bool
gr_g_stack(struct g *gp, struct gr_gstack *st)
{
    if (gp->is_main)
        return false;
    st->lo = gp->stack_lo;
    st->size = (size_t)((char *)gp->stack_top - (char *)gp->stack_lo);
    st->guard = gp->guard;
    st->detached = gr_load(&gp->joinstate) == JOIN_DETACHED;
    return true;
}

int
gr_g_setname(struct g *gp, const char *name)
{
    size_t len = strlen(name);

    if (len >= sizeof(gp->name))
        return -ERANGE;
    gr_lock(&attr_lock);
    memcpy(gp->name, name, len + 1);
    gr_unlock(&attr_lock);
    return 0;
}

void
gr_g_getname(struct g *gp, char name[16])
{
    gr_lock(&attr_lock);
    memcpy(name, gp->name, sizeof(gp->name));
    gr_unlock(&attr_lock);
}

int
gr_g_nice(struct g *gp)
{
    gr_lock(&attr_lock);
    int nice = gp->nice;
    gr_unlock(&attr_lock);
    return nice;
}

void
gr_g_setnice(struct g *gp, int nice)
{
    gr_lock(&attr_lock);
    gp->nice = nice;
    gr_unlock(&attr_lock);
}

bool
gr_g_getaffinity(struct g *gp, void *set)
{
    bool have;

    gr_lock(&attr_lock);
    have = gp->affinity != NULL;
    if (have)
        memcpy(set, gp->affinity, GR_AFFINITY_BYTES);
    gr_unlock(&attr_lock);
    return have;
}

int
gr_g_setaffinity(struct g *gp, const void *set)
{
    void *mine = gr_mem_alloc(GR_AFFINITY_BYTES);

    if (mine == NULL)
        return -ENOMEM;
    memcpy(mine, set, GR_AFFINITY_BYTES);
    gr_lock(&attr_lock);
    void *old = gp->affinity;
    gp->affinity = mine;
    gr_unlock(&attr_lock);
    if (old != NULL)
        gr_mem_free(old, GR_AFFINITY_BYTES);
    return 0;
}

void **
gr_g_robust_list(struct g *gp)
{
    return &gp->robust_held;
}

/* ---- G status. */

static const char *const gstatus_names[] = {
    [G_IDLE] = "idle",       [G_RUNNABLE] = "runnable", [G_RUNNING] = "running",
    [G_WAITING] = "waiting", [G_SYSCALL] = "syscall",   [G_DEAD] = "dead",
};

static const char *
gstatus_name(uint32_t st)
{
    return st < GR_ARRAY_LEN(gstatus_names) ? gstatus_names[st] : "?";
}

bool
gr_gstatus_move_ok(uint32_t from, uint32_t to)
{
    switch (from) {
    case G_IDLE:
        return to == G_RUNNABLE; /* newproc */
    case G_RUNNABLE:
        return to == G_RUNNING; /* execute */
    case G_RUNNING:
        return to == G_WAITING || to == G_RUNNABLE || /* park, yield */
               to == G_SYSCALL || to == G_DEAD;       /* entersyscall, exit */
    case G_WAITING:
        return to == G_RUNNABLE; /* ready, or a park that did not */
    case G_SYSCALL:
        return to == G_RUNNING || to == G_RUNNABLE; /* exitsyscall, with a P or without */
    default:
        return false; /* a dead G is only ever reset */
    }
}

void
gr_casgstatus_fail(struct g *gp, uint32_t from, uint32_t to, uint32_t found)
{
    gr_print("greenrun: g%lu: status %s -> %s, found %s\n", (unsigned long)gp->goid,
             gstatus_name(from), gstatus_name(to), gstatus_name(found));
    gr_throw("casgstatus: bad G status transition");
}
