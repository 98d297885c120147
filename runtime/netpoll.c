/*
 * runtime/netpoll.c: the netpoller (Go's netpoll.go), independent of the OS poller
 * (netpoll_epoll.c implements the backend contract of netpoll.h).
 *
 * State: one struct polldesc per descriptor (fdtab.h); per direction (rd, wr) an edge count
 * (seq) and a hint of how many wait (nwait). Waiters are wait-table waiters (sema.h) keyed by
 * the direction's address, in FIFO order, of two kinds:
 *  - WT_IO, a consumer G (read, write, accept, connect, the program's epoll_wait), waiting
 *    with gr_wq_wait (so deadlines and pthread_cancel come from the wait table);
 *  - WT_POLL, a proxy of a G in poll/select waiting on several directions at once; the proxies
 *    point at the G's struct pollgroup, whose own waiter (key: the group) the G parks on.
 *
 * Edge (an epoll event for the current generation): seq++, then, if anybody waits, under the
 * bucket lock: wake the oldest consumer and fire every proxy. A consumer that parks
 * re-checks, under the same bucket lock, that seq and gen still equal its snapshot taken
 * before its attempt, so no edge between attempt and park is lost. Baton: a consumer woken by
 * an edge whose attempt succeeds wakes the next consumer (gr_netpoll_pass). Close: gen++,
 * then every waiter is woken (consumers see the new gen and return EBADF).
 *
 * The lock-free fast path of an edge (no waiter: no lock at all) is a Dekker pair:
 * the waiter increments nwait, then reads seq (under the bucket lock); the edge increments seq,
 * then reads nwait; all seq_cst, so at least one of them sees the other.
 *
 * Proxies: firing one removes it from its list (bucket lock held), counts the group's
 * inflight, and after dropping that lock wakes the group's waiter under the group's bucket
 * lock, then uncounts inflight. The polling G, once awake, removes its remaining proxies
 * (each under its bucket lock) and waits for inflight to reach 0 before its stack frame,
 * which holds the group and the proxies, goes away. Two bucket locks are never held at once.
 *
 * Locks: wait-table buckets (sema.c); pd->lock (registration, resets: never held with a
 * bucket lock); init_lock (leaf). Fork: gr_netpoll_fork_child (from the runtime's atfork
 * child handler, and lazily when a registration finds itself in a child) gives the child its
 * own poller. A vfork child never reaches here: inside vfork every hook passes straight to
 * glibc (hooks/spawn.c).
 */
#include "runtime/netpoll.h"

#include <errno.h>
#include <string.h>

#include "runtime/arch.h"
#include "runtime/atomic.h"
#include "runtime/debug.h"
#include "runtime/proc.h"
#include "runtime/sched.h"
#include "runtime/sys.h"
#include "runtime/trace.h"

#define WT_IO   1u
#define WT_POLL 2u

#define MAX_EVENTS 128

struct pollgroup {
    struct gr_waiter gw;           /* the polling G's own wait, key: the group */
    uint32_t fired;                /* protected by the group's bucket lock */
    uint32_t parked;               /* protected by the group's bucket lock: gw was queued */
    struct gr_atomic_u32 inflight; /* atomic: firers still touching this group */
};

static struct gr_atomic_u32 inited;   /* atomic: the backend exists; store-release publishes it */
static struct gr_atomic_u32 inst;     /* atomic: poller instance, bumped by a fork child's reinit */
static struct gr_atomic_i32 nwaiting; /* atomic: Gs parked on I/O */
static struct gr_atomic_i32 owner_pid; /* atomic; written under init_lock: the poller's process */
static struct gr_mutex init_lock = GR_MUTEX_INIT(GR_RANK_NETPOLL_INIT);

bool
gr_netpoll_inited(void)
{
    return gr_load_acquire(&inited) != 0;
}

int32_t
gr_netpoll_waiters(void)
{
    return gr_load(&nwaiting);
}

/*
 * True in the process that made the poller. A child that did not run the atfork handler
 * (_Fork, raw clone) still shares the parent's epoll instance; a vfork child even shares its
 * memory. Neither may touch the parent's registrations or waiters.
 */
static bool
owner_process(void)
{
    return gr_load_relaxed(&owner_pid) == gr_sys_getpid();
}

static int
ensure_init(void)
{
    int err = 0;

    if (gr_load_acquire(&inited)) {
        if (!owner_process())
            gr_netpoll_fork_child();
        return gr_load_acquire(&inited) ? 0 : -ENOMEM;
    }
    gr_lock(&init_lock);
    if (!gr_load_relaxed(&inited)) {
        err = gr_np_init();
        if (err == 0) {
            gr_store_relaxed(&owner_pid, gr_sys_getpid());
            gr_store_release(&inited, 1); /* pairs with gr_netpoll_inited */
        }
    }
    gr_unlock(&init_lock);
    return err;
}

void
gr_netpoll_break(void)
{
    if (gr_load_acquire(&inited))
        gr_np_break();
}

void
gr_netpoll_fork_child(void)
{
    if (gr_load_relaxed(&owner_pid) == gr_sys_getpid())
        return; /* done already (the runtime's and fd.c's handlers) */
    /* Only this thread exists now: locks held by others at the fork are void. */
    gr_lock_reset(&init_lock);
    gr_fdtab_fork_child();
    gr_lock(&init_lock);
    if (gr_load_relaxed(&inited) && gr_load_relaxed(&owner_pid) != gr_sys_getpid()) {
        gr_xadd(&inst, 1); /* every registration is now stale */
        if (gr_np_reinit() == 0)
            gr_store_relaxed(&owner_pid, gr_sys_getpid());
        else
            gr_store(&inited, 0); /* the next registration tries again */
        gr_store(&nwaiting, 0);
    }
    gr_unlock(&init_lock);
}

static inline struct gr_pdir *
dir_of(struct polldesc *pd, unsigned dir)
{
    return dir == GR_POLL_READ ? &pd->rd : &pd->wr;
}

/* ---- Registration. */

int
gr_netpoll_arm(int fd, struct polldesc *pd, uint32_t gen)
{
    int err;

    if (gr_load_acquire(&pd->reg) == PD_REG_OK && gr_load_relaxed(&pd->gen) == gen &&
        gr_load_relaxed(&pd->reg_inst) == gr_load_relaxed(&inst))
        return 0;
    if ((err = ensure_init()) != 0)
        return err;
    gr_lock(&pd->lock);
    if (gr_load_relaxed(&pd->gen) != gen) {
        err = -EBADF;
    } else if (gr_load_relaxed(&pd->reg) == PD_REG_NOTPOLLABLE) {
        err = -EPERM;
    } else if (gr_load_relaxed(&pd->reg) == PD_REG_OK &&
               gr_load_relaxed(&pd->reg_inst) == gr_load_relaxed(&inst)) {
        err = 0;
    } else {
        err = gr_np_arm(fd, (uint64_t)gen << 32 | (uint32_t)fd);
        if (err == 0) {
            gr_store_relaxed(&pd->reg_inst, gr_load_relaxed(&inst));
            gr_store_release(&pd->reg, (uint8_t)PD_REG_OK);
        } else if (err == -EPERM) {
            gr_store_release(&pd->reg, (uint8_t)PD_REG_NOTPOLLABLE);
        }
    }
    gr_unlock(&pd->lock);
    return err;
}

/* ---- Waking. */

/* Fire one group (its proxy was removed and counted in inflight). Returns Gs readied. */
static int
group_fire(struct pollgroup *grp)
{
    struct gr_bucket *b = gr_wq_lock(grp);
    struct g *gp = NULL;

    grp->fired = 1;
    if (grp->parked && gr_load(&grp->gw.wake) == GR_WAKE_NONE)
        gp = gr_wq_wake_later(b, &grp->gw, GR_WAKE_NORMAL);
    gr_wq_unlock(b);
    gr_xadd(&grp->inflight, -1); /* the last touch of grp: the G may now return */
    /* Readied last, so that it finds no firer on its way (a woken G that waited for this M,
     * descheduled by the kernel, would burn the CPU it needs). */
    if (gp != NULL)
        gr_ready(gp);
    return gp != NULL;
}

/*
 * An edge on d (all = false), or a close (all = true: wake everybody). Returns Gs readied.
 * Context: any M, g0 and sysmon included; must not park.
 */
static int
dir_wake(struct gr_pdir *d, bool all)
{
    struct gr_waiter *w, *next, *fired = NULL;
    struct gr_bucket *b;
    bool consumer = false;
    int n = 0;

    if (!all)
        gr_xadd(&d->seq, 1); /* then read nwait: the Dekker pair (header) */
    if (gr_load(&d->nwait) == 0)
        return 0;
    b = gr_wq_lock(d);
    for (w = gr_wq_first(b, d); w != NULL; w = next) {
        next = w->next;
        if (w->bitset == WT_POLL) {
            struct pollgroup *grp = (struct pollgroup *)w->data;
            gr_wq_remove(b, w);
            gr_store(&w->wake, GR_WAKE_NORMAL);
            gr_xadd(&grp->inflight, 1);
            w->knext = fired;
            fired = w;
        } else if (all || !consumer) {
            gr_wq_wake(b, w, GR_WAKE_NORMAL);
            consumer = true;
            n++;
        }
    }
    gr_wq_unlock(b);
    while (fired != NULL) {
        struct pollgroup *grp = (struct pollgroup *)fired->data;
        next = fired->knext; /* read before group_fire releases the memory */
        n += group_fire(grp);
        fired = next;
    }
    return n;
}

void
gr_netpoll_pass(struct gr_pollticket *t)
{
    struct gr_pdir *d;
    struct gr_bucket *b;
    struct gr_waiter *w;

    if (!t->woken)
        return;
    t->woken = false;
    d = dir_of(t->pd, t->dir);
    if (gr_load(&d->nwait) == 0)
        return;
    b = gr_wq_lock(d);
    for (w = gr_wq_first(b, d); w != NULL; w = w->next) {
        if (w->bitset == WT_IO) {
            gr_wq_wake(b, w, GR_WAKE_NORMAL);
            break;
        }
    }
    gr_wq_unlock(b);
}

int
gr_netpoll(int64_t until)
{
    struct gr_np_event ev[MAX_EVENTS];
    int n, ready = 0;

    if (!gr_load_acquire(&inited))
        return 0;
    n = gr_np_wait(ev, MAX_EVENTS, until);
    for (int i = 0; i < n; i++) {
        int fd = (int)(uint32_t)ev[i].token;
        uint32_t gen = (uint32_t)(ev[i].token >> 32);
        struct polldesc *pd = gr_fdtab_peek(fd);

        if (pd == NULL || gr_load(&pd->gen) != gen)
            continue; /* a closed generation: stale */
        if (ev[i].dirs & GR_POLL_READ)
            ready += dir_wake(&pd->rd, false);
        if (ev[i].dirs & GR_POLL_WRITE)
            ready += dir_wake(&pd->wr, false);
    }
    if (ready > 0)
        GR_TRACE(GR_EV_NETPOLL, 0, (uint64_t)ready, 0);
    return ready;
}

/* ---- Waiting, one direction. */

int
gr_netpoll_wait(struct gr_pollticket *t, int64_t deadline, const char *reason)
{
    struct polldesc *pd = t->pd;
    struct gr_pdir *d = dir_of(pd, t->dir);
    struct gr_bucket *b;
    struct gr_waiter w;
    uint32_t r;
    int err;

    t->woken = false;
    err = gr_netpoll_arm(t->fd, pd, t->gen);
    if (err != 0)
        return err;
    gr_xadd(&d->nwait, 1); /* then read seq: the Dekker pair (header) */
    b = gr_wq_lock(d);
    if (gr_load(&pd->gen) != t->gen) {
        gr_wq_unlock(b);
        gr_xadd(&d->nwait, -1);
        return -EBADF;
    }
    if (gr_load(&d->seq) != t->seq) {
        /* An edge since the attempt: retry, and pass the baton if that succeeds. */
        gr_wq_unlock(b);
        gr_xadd(&d->nwait, -1);
        t->woken = true;
        return 0;
    }
    w.bitset = WT_IO;
    w.data = 0;
    gr_wq_push(b, &w, d, false);
    gr_xadd(&nwaiting, 1);
    if (w.gp != NULL) /* for the thread dump: "IO read on fd N" */
        gr_store_relaxed(&w.gp->waitfd, t->fd);
    r = gr_wq_wait(b, &w, deadline, GR_WQ_CANCEL | GR_WQ_SIGNAL, reason, NULL, NULL);
    if (w.gp != NULL)
        gr_store_relaxed(&w.gp->waitfd, -1);
    gr_xadd(&nwaiting, -1);
    gr_xadd(&d->nwait, -1);
    if (gr_load(&pd->gen) != t->gen)
        return -EBADF;
    if (gr_wake_errno(r) != 0)
        return gr_wake_errno(r);
    t->woken = true;
    return 0;
}

/* ---- Waiting, several descriptors. */

int
gr_netpoll_prepare(struct gr_pollent *e, int n)
{
    for (int i = 0; i < n; i++) {
        struct polldesc *pd = gr_fdtab_get(e[i].fd);
        uint32_t gen;
        int err;

        e[i].linked[0] = e[i].linked[1] = false;
        if (pd == NULL) {
            if (e[i].fd >= 0)
                return -E2BIG;
            e[i].pd = NULL;
            continue;
        }
        gen = gr_load(&pd->gen);
        err = gr_netpoll_arm(e[i].fd, pd, gen);
        if (err == -EPERM || err == -EBADF) {
            e[i].pd = NULL; /* not pollable (always ready), or closed (POLLNVAL) */
            continue;
        }
        if (err != 0)
            return -E2BIG; /* no memory, epoll's watch limit: wait in the kernel */
        e[i].pd = pd;
        e[i].gen = gen;
        e[i].seq[0] = gr_load(&pd->rd.seq);
        e[i].seq[1] = gr_load(&pd->wr.seq);
    }
    return 0;
}

static void
unlink_proxies(struct gr_pollent *e, int n)
{
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 2; k++) {
            struct gr_pdir *d;
            struct gr_bucket *b;
            if (!e[i].linked[k])
                continue;
            d = k == 0 ? &e[i].pd->rd : &e[i].pd->wr;
            b = gr_wq_lock(d);
            if (gr_load(&e[i].w[k].wake) == GR_WAKE_NONE)
                gr_wq_remove(b, &e[i].w[k]);
            gr_wq_unlock(b);
            gr_xadd(&d->nwait, -1);
            e[i].linked[k] = false;
        }
    }
}

int
gr_netpoll_wait_any(struct gr_pollent *e, int n, int64_t deadline, const char *reason)
{
    struct pollgroup grp;
    struct gr_bucket *b;
    uint32_t r = GR_WAKE_NORMAL;
    bool early = false;

    grp.fired = 0;
    grp.parked = 0;
    gr_store_relaxed(&grp.inflight, 0);
    for (int i = 0; i < n && !early; i++) {
        struct polldesc *pd = e[i].pd;
        if (pd == NULL)
            continue;
        for (int k = 0; k < 2; k++) {
            unsigned dir = k == 0 ? GR_POLL_READ : GR_POLL_WRITE;
            struct gr_pdir *d = dir_of(pd, dir);
            struct gr_waiter *w = &e[i].w[k];
            if (!(e[i].dirs & dir))
                continue;
            gr_xadd(&d->nwait, 1); /* then read seq: the Dekker pair (header) */
            b = gr_wq_lock(d);
            if (gr_load(&pd->gen) != e[i].gen || gr_load(&d->seq) != e[i].seq[k]) {
                gr_wq_unlock(b);
                gr_xadd(&d->nwait, -1);
                early = true;
                break;
            }
            gr_wq_push(b, w, d, false);
            w->bitset = WT_POLL;
            w->data = (uintptr_t)&grp;
            e[i].linked[k] = true;
            gr_wq_unlock(b);
        }
    }
    if (!early) {
        b = gr_wq_lock(&grp);
        if (grp.fired) {
            gr_wq_unlock(b);
        } else {
            grp.parked = 1;
            gr_wq_push(b, &grp.gw, &grp, false);
            gr_xadd(&nwaiting, 1);
            r = gr_wq_wait(b, &grp.gw, deadline, GR_WQ_CANCEL | GR_WQ_SIGNAL, reason, NULL, NULL);
            gr_xadd(&nwaiting, -1);
        }
    }
    unlink_proxies(e, n);
    /* Firers still on their way to grp: they hold no lock we could wait on; it is short. */
    for (int spins = 0; gr_load(&grp.inflight) != 0; spins++) {
        if (spins < 100)
            gr_cpu_relax();
        else
            gr_yield();
    }
    return gr_wake_errno(r);
}

/* ---- Descriptor lifetime. */

static void
evict(struct polldesc *pd)
{
    dir_wake(&pd->rd, true);
    dir_wake(&pd->wr, true);
}

void
gr_netpoll_fd_new(int fd, const struct pd_facts *facts)
{
    struct polldesc *pd = gr_fdtab_get(fd);

    if (pd == NULL)
        return;
    /* A registration of an older file under this number (closed behind our back) cannot be
     * removed any more: its events carry the old generation and are dropped. */
    gr_lock(&pd->lock);
    gr_fdtab_reset_locked(pd, facts);
    gr_unlock(&pd->lock);
    evict(pd);
}

void
gr_netpoll_fd_close(int fd)
{
    struct polldesc *pd = gr_fdtab_peek(fd);

    if (pd == NULL)
        return;
    /* A child still sharing the parent's poller (or memory) must leave them alone; asked
     * only when there is something of theirs to touch. */
    if ((gr_load_relaxed(&pd->reg) == PD_REG_OK || gr_load(&pd->rd.nwait) != 0 ||
         gr_load(&pd->wr.nwait) != 0) &&
        gr_load_acquire(&inited) && !owner_process())
        return;
    gr_lock(&pd->lock);
    if (gr_load_relaxed(&pd->reg) == PD_REG_OK &&
        gr_load_relaxed(&pd->reg_inst) == gr_load_relaxed(&inst))
        gr_np_disarm(fd);
    gr_fdtab_reset_locked(pd, NULL);
    gr_unlock(&pd->lock);
    evict(pd);
}

void
gr_netpoll_fd_dup(int oldfd, int newfd)
{
    struct polldesc *old = gr_fdtab_peek(oldfd);
    struct pd_facts f = { .kind = PD_KIND_UNKNOWN, .nonblock = PD_NB_UNKNOWN };

    if (old != NULL) {
        uint8_t known;
        gr_fdtab_unshare(old);
        gr_lock(&old->lock);
        f.kind = gr_load_relaxed(&old->kind);
        f.stream = gr_load_relaxed(&old->stream);
        known = gr_load_relaxed(&old->timeo_known);
        if (known == 3) {
            f.timeo_known = true;
            f.rcvtimeo = gr_load_relaxed(&old->rcvtimeo);
            f.sndtimeo = gr_load_relaxed(&old->sndtimeo);
        }
        gr_unlock(&old->lock);
    }
    gr_netpoll_fd_new(newfd, &f);
}
