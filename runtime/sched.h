/*
 * runtime/sched.h: the types of G, M, P and the scheduler's global state (Go's runtime2.go).
 * Types and the two global objects only; each file that acts on them has its own header
 * (proc.h, g.h, m.h, syscall.h, spare.h, ...).
 *
 * A G is a user thread: stack, saved context, TLS block (its own thread descriptor). An M is an
 * OS thread; its g0 runs the scheduler on the M's own stack. A P is a logical processor: a run
 * queue and a timer heap; an M needs a P to run Gs. Every shared field names what protects it.
 *
 * Reaching the current one:
 *  - gr_getm() (GS base) is the running M on any OS thread the runtime owns.
 *  - gr_curg is an initial-exec __thread variable, so it lives in each G's TLS block and
 *    names that G; on g0 the installed FS may still be the previous G's block, so g0 never
 *    reads it (HACKING.md: "g0 is TLS-free"). gr_current() (proc.h) is the check hooks use.
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

#define GR_PROCS_MAX  1024      /* GREENRUN_PROCS at most (preload/config.h agrees) */
#define GR_SPARES_MAX 64        /* spare Ps at most (spare.c) */

/*
 * A G's status (g->status). Every move is one gr_casgstatus (proc.c), which throws on a move
 * not listed here or a G not in the expected state:
 *   IDLE -> RUNNABLE (newproc) -> RUNNING (execute)
 *   RUNNING -> WAITING (park) -> RUNNABLE (ready; or at once, when unlockf says no)
 *   RUNNING -> RUNNABLE (yield, preemption)
 *   RUNNING -> SYSCALL (entersyscall) -> RUNNING (exitsyscall with a P) or RUNNABLE (without)
 *   RUNNING -> DEAD (exit; a dead G is reset to IDLE when its stack is reused)
 * The main G starts RUNNING.
 */
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

    /* Start and result. */
    void *(*fn)(void *);
    void *arg;
    void *result;
    bool exiting;                /* owner G: pthread_exit set result (else an unwind = cancel) */

    /* Parking. */
    const char *waitreason;      /* owner G while running; read racily by dumps */
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
    struct gr_lockstack locks;   /* owner M: gr_mutexes it holds (debug builds, lock.c) */
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
    struct p *allp[GR_PROCS_MAX + GR_SPARES_MAX]; /* immutable after boot: Ps, then spares */
    struct p *pspare;            /* protected by lock: spare Ps not in use */
    struct p *stuckp;            /* atomic: the P a spare last stood in for (a hint) */
    uint64_t stuckp_tick;        /* atomic: its schedtick then */
    struct m *allm;              /* atomic push-front list */
    struct m *m0;                /* immutable: the M of the initial thread */

    uint64_t goidgen;            /* atomic */
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

#endif /* GR_RUNTIME_SCHED_H */
