/*
 * runtime/sched.h: G, M, P and the scheduler's global state.
 *
 * A G is a user thread: stack, saved context, TLS block (its own thread descriptor). An M is an
 * OS thread; its g0 runs the scheduler on the M's own stack. A P is a logical processor: a run
 * queue and a timer heap; an M needs a P to run Gs. Every shared field names what protects it.
 *
 * Reaching the current one:
 *  - gr_getm() (GS base) is the running M on any OS thread the runtime owns.
 *  - gr_curg is an initial-exec __thread variable, so it lives in each G's TLS block and
 *    names that G; on g0 the installed FS may still be the previous G's block, so g0 never
 *    reads it (HACKING.md: "g0 is TLS-free"). gr_current() is the check hooks use.
 */
#ifndef GR_RUNTIME_SCHED_H
#define GR_RUNTIME_SCHED_H

#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <sys/types.h>

#include "runtime/arch.h"
#include "runtime/base.h"
#include "runtime/lock.h"
#include "runtime/timer.h"

enum {
    G_IDLE,          /* just allocated, not yet started */
    G_RUNNABLE,      /* on a run queue */
    G_RUNNING,       /* running user code on an M with a P */
    G_WAITING,       /* parked; only gr_ready() moves it on */
    G_SYSCALL,       /* in a blocking call, between gr_entersyscall and gr_exitsyscall */
    G_DEAD,          /* exited; waits for join or reuse */
};

enum {
    P_IDLE,
    P_RUNNING,
    P_SYSCALL,       /* its M is in a blocking call; sysmon may hand it to another M */
};

/* What g0 does with the G that just switched to it (m->after). */
enum {
    AFTER_NONE,
    AFTER_PARK,      /* gopark: call m->unlockf, then the G stays parked unless it says no */
    AFTER_YIELD,     /* put the G on the global queue */
    AFTER_YIELD_LOCAL, /* put the G at the tail of the local queue */
    AFTER_EXIT,      /* the G finished: release its TLS, wake its joiner or free it */
    AFTER_EXITSYSCALL, /* back from a blocking call with no P free: queue the G globally */
};

/* Join state of a G (g->joinstate). */
enum {
    JOIN_JOINABLE,
    JOIN_DETACHED,
    JOIN_EXITED,     /* exited, joinable: result valid, waits for pthread_join */
    JOIN_JOINED,     /* a joiner has claimed it */
};

struct gr_ctx {
    uintptr_t sp;                /* saved stack pointer; the switch pushes the rest */
};

struct g {
    struct gr_ctx ctx;           /* owner: the M switching to or from this G */
    uintptr_t tp;                /* immutable while alive: thread pointer (TLS block) */
    struct m *m;                 /* M running this G, NULL otherwise; set by that M */
    uint32_t status;             /* atomic: G_* */
    uint32_t joinstate;          /* atomic: JOIN_*; the futex-like word joiners wait on */
    uint64_t goid;               /* immutable */
    int32_t tid;                 /* immutable: the fake TID in the descriptor, 0x400000+ */
    struct g *schedlink;         /* global run queue / free list link; owner of that list */

    /* Stack. */
    void *map_lo;                /* immutable: the mapping (NULL for a user-supplied stack) */
    size_t map_size;
    void *stack_lo;              /* immutable: usable stack [stack_lo, stack_hi) */
    void *stack_hi;
    void *stack_top;             /* immutable: end of the stack block, TLS block included */
    size_t guard;                /* bytes of guard below stack_lo inside the mapping */
    bool user_stack;             /* pthread_attr_setstack: the program owns the memory */
    bool is_main;                /* the program's initial thread */
    bool lockedm;                /* wired to its M (not yet used) */

    /* Start and result. */
    void *(*fn)(void *);
    void *arg;
    void *result;
    bool exiting;                /* owner G: pthread_exit set result (else an unwind = cancel) */

    /* Parking. */
    const char *waitreason;      /* owner G while running; read racily by dumps */
    int64_t waitsince;
    uint64_t sigmask;            /* owner G: blocked signals (the M applies it on switch-in) */
    uint64_t sigpending;         /* atomic: signals sent by pthread_kill while not running */
    uint64_t sigdelivered;       /* owner G: signals raised on it since gr_signal_eintr */
    uint64_t sigwait_set;        /* atomic: signals a sigwait of this G waits for, or 0 */
    uint64_t sigforeign;         /* atomic: process signals handled elsewhere that end its wait */
    struct gr_mutex siglock;     /* sigq */
    struct gr_sigq *sigq;        /* protected by siglock: values of queued signals (sigqueue) */

    /* Interruptible waits (cancellation): protected by the wait-table bucket of waitkey. */
    const void *waitkey;
    struct gr_waiter *waiting;

    void *robust_held;           /* owner G: robust mutexes it holds (hooks/mutex.c) */
    uintptr_t malloc_words[2];   /* glibc malloc's arena and tcache of this stack's last G */
    char name[16];               /* protected by the name lock in hooks/thread.c */
    int sched_policy;            /* accepted and reported back, not used */
    int sched_priority;
    struct g *allnext;           /* gr_sched.allg list; protected by gr_sched.glock */
    struct g *allprev;
};

struct p {
    int32_t id;                  /* immutable */
    uint32_t status;             /* atomic: P_IDLE/P_RUNNING */
    struct m *m;                 /* owner M, NULL when idle */
    struct p *link;              /* idle list; protected by gr_sched.lock */
    uint64_t schedtick;          /* owner: incremented at every schedule */
    int64_t runstart;            /* owner: when the running G was scheduled */
    uint32_t syscalltick;        /* owner: incremented at every entersyscall */
    uint32_t sysmon_tick;        /* sysmon only: syscalltick when it last looked */
    int64_t sysmon_when;         /* sysmon only: when it saw that tick first */
    uint64_t sysmon_schedtick;   /* sysmon only: schedtick when it last looked */
    int64_t sysmon_schedwhen;    /* sysmon only: when it saw that schedtick first */
    int64_t sysmon_asleep;       /* sysmon only: when it first saw the M asleep, or 0 */
    /* A call the runtime never saw, holding this P's M (sysmon.c, blockrec.c). */
    int64_t sysmon_blocked;      /* sysmon only: when it first saw the M asleep in it, or 0 */
    long sysmon_blocked_nr;      /* sysmon only: its system call number (-1: outside one) */
    uintptr_t sysmon_blocked_pc; /* sysmon only: its user return address */
    bool sysmon_blocked_rec;     /* sysmon only: recorded in blockrec (seen twice) */
    uint32_t fastrand;           /* owner */

    uint32_t runqhead;           /* atomic; advanced by the owner and by stealers (CAS) */
    uint32_t runqtail;           /* atomic store-release; written by the owner only */
    struct g *runnext;           /* atomic: next G to run, ahead of the queue */
    struct g *runq[256];         /* slots between head and tail belong to the queue */

    struct gr_timers timers;     /* own lock */

    /* Spare Ps stand in for a P whose M is stuck in the kernel (see proc.c). */
    bool spare;                  /* immutable */
    struct p *stuck;             /* protected by gr_sched.lock: the P this one stands in for */
    uint64_t stuck_tick;         /* its schedtick when the spare was started */

    struct g *gfree;             /* owner: dead Gs with stacks, for reuse */
    int32_t gfreecnt;
} GR_ALIGNED(GR_CACHELINE);

struct m {
    struct m *self;              /* immutable; first field: %gs:0 */
    int32_t id;                  /* immutable */
    pid_t tid;                   /* immutable: the OS thread id */
    struct g g0;                 /* the scheduler's context: the M's own stack and TLS */
    struct g *curg;              /* owner: the user G running, NULL on g0 */
    struct p *p;                 /* owner: attached P */
    struct p *nextp;             /* set by whoever wakes this M with a P to run */
    struct p *oldp;              /* owner: the P it held when it entered a blocking call */
    uintptr_t fs_cur;            /* owner: the thread pointer installed in FS */
    uintptr_t ownfs;             /* immutable: this M's own TLS block (g0's) */
    uintptr_t sysdesc;           /* immutable: the descriptor glibc lists for this OS thread */
    uint64_t sigmask_cur;        /* owner: signal mask installed on the OS thread */
    bool spinning;               /* owner; counted in gr_sched.nmspinning */
    bool is_sysmon;              /* immutable */
    bool polling;                /* owner: in gr_netpoll; what it readies queues at the tail */
    uint32_t preempt;            /* atomic: sysmon asked the running G to yield */
    struct g *cancel_target;     /* atomic: the G an asynchronous cancel signal is for */
    int statfd;                  /* immutable: /proc/thread-self/stat of this M, or -1 */
    int sysfd;                   /* immutable: /proc/thread-self/syscall of this M, or -1 */
    struct gr_note park;         /* idle M sleeps here */
    struct m *schedlink;         /* idle list; protected by gr_sched.lock */
    struct m *alllink;           /* immutable once linked */

    /* Handoff from a G switching to g0 (owner M). */
    int after;
    struct g *prevg;
    bool (*unlockf)(struct g *gp, void *arg);
    void *unlockarg;
};

struct gr_sched {
    struct gr_mutex lock;        /* idle Ps and Ms, global run queue, counts below */
    struct m *midle;
    int32_t nmidle;
    int32_t mcount;
    struct p *pidle;
    uint32_t npidle;             /* atomic; written under lock */
    uint32_t nmspinning;         /* atomic */
    struct g *runqhead;
    struct g *runqtail;
    int32_t runqsize;            /* protected by lock; read racily as a hint */

    int32_t nprocs;              /* immutable after boot: GREENRUN_PROCS */
    int32_t nallp;               /* immutable after boot: nprocs plus the spare Ps */
    struct p *allp[1024 + 64];   /* immutable after boot: the Ps, then the spares */
    struct p *pspare;            /* protected by lock: spare Ps not in use */
    struct p *stuckp;            /* atomic: the P a spare last stood in for (a hint) */
    uint64_t stuckp_tick;        /* atomic: its schedtick then */
    struct m *allm;              /* atomic push-front list */
    struct m *m0;                /* immutable: the M of the initial thread */

    uint64_t goidgen;            /* atomic */
    int32_t ngsys;               /* unused */
    int32_t nlive;               /* atomic: user Gs alive; the last one to exit calls exit(0) */

    int64_t sleep_until;         /* atomic: deadline of the M sleeping with a timeout, or 0 */
    uint32_t netpolling;         /* atomic: 1 while an M blocks in gr_netpoll */
    int64_t poll_until;          /* atomic: its deadline (INT64_MAX = none) */
    int64_t lastpoll;            /* atomic: when the netpoller was last polled */
    struct m *sleeper;           /* protected by lock: the M sleeping until sleep_until */

    struct gr_mutex glock;       /* allg list */
    struct g *allg;
    int32_t ng;

    /* Counters for stats (atomic, relaxed). */
    uint64_t nswitch;
    uint64_t ncreated;
    uint64_t nsteal;
    int32_t peaklive;
};

extern struct gr_sched gr_sched;
extern __thread struct g *gr_curg __attribute__((tls_model("initial-exec")));

bool gr_sched_booted(void);

/*
 * The running user G, or NULL on g0, on an OS thread the runtime does not own, before boot.
 * gr_curg is NULL exactly on threads the runtime does not own; on an M's own blocks it names
 * the M's g0, so gr_curg != NULL means gr_getm() is valid.
 */
static inline struct g *
gr_current(void)
{
    struct g *gp = gr_curg;

    if (gp == NULL || gr_getm()->curg != gp)
        return NULL;
    return gp;
}

/*
 * Park the running G. On g0, unlockf(gp, arg) runs; if it returns false the G is made runnable
 * again at once. Whoever readies the G must be able to find it only after unlockf released
 * their lock: that is what makes park/ready free of lost wakeups.
 * Context: user G.
 */
void gr_park(bool (*unlockf)(struct g *gp, void *arg), void *arg, const char *reason);
/* Make a parked G runnable on the current M's P (or the global queue). Context: any. */
void gr_ready(struct g *gp);
/* Yield the P to other runnable Gs. Context: user G. */
void gr_yield(void);
/*
 * Signals sent to a G (pthread_kill, pthread_sigqueue). gr_signal_send records sig (with
 * info when non-NULL) as pending for gp and wakes it if it waits interruptibly or in
 * sigwait; an unblocked signal is raised on the G's own M when it runs. gr_signal_take
 * removes one pending signal of set (the lowest) for sigwait, filling *info; 0 if none.
 */
void gr_signal_send(struct g *gp, int sig, const siginfo_t *info);
int gr_signal_take(struct g *gp, uint64_t set, siginfo_t *info);
/* A process signal was handled on g0: let one G parked interruptibly see it (as the thread
 * it would have interrupted natively). gr_signal_orphan: async-signal-safe; sysmon runs
 * gr_signal_pass_orphans. */
void gr_signal_orphan(int sig);
void gr_signal_pass_orphans(void);
/* Raise gp's pending signals that its mask no longer blocks. Context: gp itself. */
void gr_signal_deliver(struct g *gp);

/*
 * After a wait that a signal interrupted (GR_WAKE_SIGNAL): the handlers have run; true when
 * the call must fail with EINTR (one had no SA_RESTART), false when it restarts. Context: G.
 */
bool gr_signal_eintr(struct g *gp);
/* Yield to the global queue (preemption: let every P see the G). Context: user G. */
void gr_yield_global(void);

/*
 * Bracket a call that may block in the kernel: the P is left in P_SYSCALL, and sysmon
 * hands it to another M if the call lasts and there is work. gr_exitsyscall takes the P
 * back, or another idle one, or parks the G until one is free. Context: user G; between the
 * two, the G must not call into the runtime.
 */
void gr_entersyscall(void);
void gr_exitsyscall(void);

/*
 * A raw system call that may sleep in the kernel, made in syscall mode (Go's Syscall beside
 * RawSyscall): the kernel's result, -errno on failure; errno is not touched.
 * Requires: a user G with a P (a hook's gr_hook_g() was not NULL).
 */
long gr_blocking_syscall6(long nr, long a1, long a2, long a3, long a4, long a5, long a6);
#define gr_blocking_syscall1(n, a) gr_blocking_syscall6((n), (long)(a), 0, 0, 0, 0, 0)
#define gr_blocking_syscall2(n, a, b) gr_blocking_syscall6((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define gr_blocking_syscall3(n, a, b, c) \
    gr_blocking_syscall6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define gr_blocking_syscall4(n, a, b, c, d) \
    gr_blocking_syscall6((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)

/* In a fork child, on the forking G: reset to one M running it, a fresh g0, no other G, and
 * restart sysmon (DESIGN.md "fork and exec"). Registered as the first atfork child handler. */
void gr_fork_child(void);
/* sysmon: take back Ps that sit in blocking calls while work waits. Returns how many. */
int gr_retake(int64_t now);
/* sysmon: pp's M is stuck in the kernel holding it while work waits: start a spare P. */
bool gr_start_spare(struct p *stuck);

/* Start a new G running fn(arg) and queue it. Returns 0 or a positive errno. */
struct gr_gattr {
    size_t stack_size;           /* 0 = default */
    void *stack_addr;            /* user stack (lowest address), with stack_size; or NULL */
    size_t guard_size;
    bool detached;
    bool has_sigmask;
};
int gr_newproc(const struct gr_gattr *attr, void *(*fn)(void *), void *arg, struct g **out);
/* Run the program's main on the main G, so that pthread_exit from main ends only the G. */
int gr_run_main(int (*main_fn)(int, char **, char **), int argc, char **argv, char **envp);
/* Finish the current G with result: runs TLS and key destructors, never returns. */
GR_NORETURN void gr_goexit(void *result);
/* Register fn to run on every exiting G, on the G, after its TLS destructors. */
void gr_on_gexit(void (*fn)(struct g *gp));
/* Release a dead G's stack and descriptor (after join, or at exit when detached). */
void gr_gfree(struct g *gp);

/* What a G is doing, for the public greenrun_thread_info (preload/greenrun.h). */
struct gr_ginfo {
    uint32_t status;             /* G_* */
    const char *waitreason;      /* G_WAITING: a static string, else NULL */
    pid_t mtid;                  /* G_RUNNING, G_SYSCALL: its M's OS thread, else 0 */
    bool masleep;                /* G_SYSCALL: that M sleeps in the kernel */
};
/* Fill gi about gp: 0, or -ESRCH when gp is not a user G. Context: any M; racy snapshot. */
int gr_g_info(struct g *gp, struct gr_ginfo *gi);
/* The scheduling state letter of mp's OS thread in /proc (R, S, D...), or 0 when unknown. */
char gr_m_kstate(struct m *mp);

/* Map a pthread_t (the descriptor address) to its G; NULL if it is not one of ours. */
struct g *gr_g_from_tp(uintptr_t tp);


/* Wake an idle P if there is work and nobody is spinning (Go's wakep). */
void gr_wakep(void);

/* Schedtrace line (sysmon). */
void gr_schedtrace(bool detailed);

/* Boot the scheduler: Ps, M0, the main G and sysmon. 0 or -1. */
int gr_boot_sched(int nprocs);
/* Called by gr_timer_add: make sure an M wakes up for a timer at when. */
void gr_timer_added(int64_t when);

/* The P the calling M holds, or NULL. Context: any M. */
static inline struct p *
gr_curp(void)
{
    return gr_getm()->p;
}

#endif /* GR_RUNTIME_SCHED_H */
