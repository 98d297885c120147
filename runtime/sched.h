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
#include "runtime/atomic.h"
#include "runtime/base.h"
#include "runtime/lock.h"
#include "runtime/malloc.h"
#include "runtime/timer.h"
#include "runtime/tls.h"

#define GR_PROCS_MAX  1024 /* GREENRUN_PROCS at most (preload/config.h agrees) */
#define GR_SPARES_MAX 1024 /* spare Ps at most, made as Ms get stuck (spare.c) */

/*
 * A G's status (g->status). Every move is one gr_casgstatus (g.c), which throws on a move
 * not listed here or a G not in the expected state:
 *   IDLE -> RUNNABLE (newproc) -> RUNNING (execute)
 *   RUNNING -> WAITING (park) -> RUNNABLE (ready; or at once, when unlockf says no)
 *   RUNNING -> RUNNABLE (yield, preemption)
 *   RUNNING -> SYSCALL (entersyscall) -> RUNNING (exitsyscall with a P) or RUNNABLE (without)
 *   RUNNING -> DEAD (exit; a dead G is reset to IDLE when its stack is reused)
 * The main G starts RUNNING. A G wired to its M (wire.c) makes the WAITING -> RUNNABLE ->
 * RUNNING moves itself, around a wait in the kernel (sema.c), and never leaves its M.
 */
enum {
    G_IDLE,     /* just allocated, not yet started */
    G_RUNNABLE, /* on a run queue */
    G_RUNNING,  /* running user code on an M with a P */
    G_WAITING,  /* parked; only gr_ready() moves it on */
    G_SYSCALL,  /* in a blocking call, between gr_entersyscall and gr_exitsyscall */
    G_DEAD,     /* exited; waits for join or reuse */
};

enum {
    P_IDLE,
    P_RUNNING,
    P_SYSCALL, /* its M is in a blocking call; sysmon may hand it to another M */
};

/* What g0 does with the G that just switched to it (m->after). */
enum {
    AFTER_NONE,
    AFTER_PARK,        /* gopark: call m->unlockf, then the G stays parked unless it says no */
    AFTER_YIELD,       /* put the G on the global queue */
    AFTER_YIELD_LOCAL, /* put the G at the tail of the local queue */
    AFTER_EXIT,        /* the G finished: release its TLS, wake its joiner or free it */
    AFTER_EXITSYSCALL, /* back from a blocking call with no P free: queue the G globally */
};

/* Join state of a G (g->joinstate). */
enum {
    JOIN_JOINABLE,
    JOIN_DETACHED,
    JOIN_EXITED, /* exited, joinable: result valid, waits for pthread_join */
    JOIN_JOINED, /* a joiner has claimed it */
};

struct gr_tracebuf;

struct gr_ctx {
    uintptr_t sp; /* saved stack pointer; the switch pushes the rest */
};

struct g {
    struct gr_ctx ctx;              /* owner: the M switching to or from this G */
    uintptr_t tp;                   /* immutable while alive: thread pointer (TLS block) */
    GR_ATOMIC_PTR(struct m) m;      /* atomic: M running this G, or NULL; set by that M */
    struct gr_atomic_u32 status;    /* atomic: G_*, moved by gr_casgstatus only */
    struct gr_atomic_u32 joinstate; /* atomic: JOIN_*; the word joiners wait on (g.c) */
    uint64_t goid;                  /* immutable */
    int32_t tid; /* the thread id the program sees (gettid), also in its descriptor: the process
                    id for the main G, else 0x400000 and up, never a kernel tid (g.c); set
                    before the G is linked, then changed only by the fork child */
    struct g *tidnext;          /* the tid table's chain; protected by g.c's tid_lock */
    struct g **tidprev;         /* the link to it in that chain; protected by tid_lock */
    struct gr_atomic_u32 holds; /* atomic: callers acting on it by tid (gr_g_hold_tid),
                                   taken under g.c's tid_lock; once gr_gfree has unlinked
                                   it, the last to let go releases its memory (g.c) */
    struct g *schedlink;        /* global run queue / free list link; owner of that list */
    bool cpubound;              /* owner: its last run ended in a preemption, so its M arms
                                   the preemption timer when it runs it (preempt.c) */

    /* Stack. */
    void *map_lo; /* immutable: the mapping (NULL for a user-supplied stack) */
    size_t map_size;
    void *stack_lo; /* immutable: usable stack [stack_lo, stack_hi) */
    void *stack_hi;
    void *stack_top; /* immutable: end of the stack block, TLS block included */
    size_t guard;    /* bytes of guard below stack_lo inside the mapping */
    bool user_stack; /* pthread_attr_setstack: the program owns the memory */
    bool is_main;    /* the program's initial thread */

    /* Start and result. */
    void *(*fn)(void *);
    void *arg;
    void *result; /* owner G; its joiner reads it after the JOIN_EXITED CAS */
    bool exiting; /* owner G: pthread_exit set result (else an unwind = cancel) */

    /* Parking. */
    GR_ATOMIC_PTR(const char)
    waitreason;                  /* atomic: written by the G as it parks, read by
                                    queries (greenrun_thread_info) */
    struct gr_atomic_i32 waitfd; /* atomic: the descriptor a G parked in the netpoller
                                    waits on, else -1; written by the G (netpoll.c) */
    struct gr_atomic_i64 since;  /* atomic: when the G last changed between running,
                                    waiting or runnable and syscall mode (monotonic ns; the
                                    coarse clock on entering syscall mode); written by its M,
                                    read by the thread dump */
    /* Where the G entered syscall mode (Go's syscallsp, syscallpc): its caller's frame, for
     * the thread dump to unwind while it sleeps in the kernel. Atomic: written by the G before
     * its status says G_SYSCALL; the dump reads them while it does, as a hint (dump.c). */
    struct gr_atomic_u64 syscallpc, syscallsp, syscallbp;
    struct gr_atomic_u64 sigmask;    /* atomic: blocked signals; written by the G itself,
                                        read by senders (the M applies it on switch-in) */
    struct gr_atomic_u64 sigpending; /* atomic; written under siglock: signals pending for it */
    uint64_t sigdelivered;           /* owner G: signals raised on it since gr_signal_eintr */
    uint32_t handlers_run;           /* owner G (and the wrapper on its M): handlers run on it */
    uint32_t suspend_seen;           /* owner G: handlers_run when its masked wait began */
    bool suspending;                 /* owner G: in sigsuspend, or pselect, ppoll, epoll_pwait
                                        with a mask: a handler run since ends its waits */
    uint32_t inhandler;   /* owner G: depth of the program's signal handlers running on it
                             (gr_signal_wrapper); no hook parks and nothing yields then */
    bool handler_handoff; /* owner G: no handler running on it interrupted the runtime in
                             the middle of something (its allocator, a run queue): a wait in
                             one may let the P go (sema.c) */
    stack_t altstack;     /* owner G: its sigaltstack (ss_flags SS_DISABLE: none), installed on
                             the M while it runs there (signal.c) */
    struct gr_atomic_u64 sigwait_set; /* atomic: signals a sigwait of this G waits for, or 0 */
    struct gr_atomic_u32 sigkickable; /* atomic: 1 while the G is in a call in syscall mode;
                                         written by the G (syscall.c), read by senders */
    struct gr_mutex siglock;          /* rank leaf: sigq, and sigpending's bits set or cleared
                                         with it */
    struct gr_sigq *sigq; /* protected by siglock: values of pending signals (sigqueue, real-time
                             signals, process signals) */

    /* Every wait of the G (interrupted by cancels and signals): written under the wait-table
     * bucket of waitkey; read without it as a hint, then checked again under it (sema.c). */
    GR_ATOMIC_PTR(const void) waitkey;
    GR_ATOMIC_PTR(struct gr_waiter) waiting;

    uint32_t gc_recording;     /* owner G: its inhandler depth while it unwinds for the leak
                                  mode's record, else 0 (gc.c): an allocation nested at that
                                  depth is the unwinder's, deeper a handler's */
    void *robust_held;         /* owner G: robust mutexes it holds (hooks/mutex.c) */
    uintptr_t malloc_words[2]; /* glibc malloc's arena and tcache of this stack's last G */
    char name[16];             /* protected by g.c's attr_lock */
    int nice;                  /* protected by g.c's attr_lock: reported back, not used */
    void *affinity;            /* protected by g.c's attr_lock: the CPU set it asked for
                                  (GR_AFFINITY_BYTES of gr_mem), or NULL: its M's */

    /* Scheduling policy (wire.c): a G under SCHED_FIFO or SCHED_RR is wired to an M. */
    int sched_policy;   /* protected by wire.c's lock: reported, and run under */
    int sched_priority; /* protected by wire.c's lock */
    GR_ATOMIC_PTR(struct m)
    lockedm;                       /* atomic: the M it is wired to, or NULL; written by
                                      that M under wire.c's lock */
    struct gr_atomic_u32 wirereq;  /* atomic: another thread changed the policy; the G
                                      wires or unwires itself at its next hook or switch */
    struct gr_atomic_i32 waitprio; /* atomic: real-time priority, 0 for other policies;
                                      the wait table queues waiters by it */
    uint32_t *tpp;                 /* owner G: counts of priority-protect mutexes held,
                                      per ceiling (wire.c), or NULL */
    struct gr_atomic_i32 tppmax;   /* atomic: the highest ceiling held, 0 for none;
                                      written by the G under wire.c's lock */
    struct g *allnext;             /* gr_sched.allg list; protected by gr_sched.glock */
    struct g *allprev;

    /* CPU time (cputime.c). Written by the M that runs the G, inside that M's cpu_seq. */
    struct gr_atomic_i64 cpu_ns; /* atomic: CPU time charged to it so far */
    GR_ATOMIC_PTR(struct m)
    cpu_m; /* atomic: the M whose clock runs for it now, or NULL; store-release after cpu_ns
              when it switches out */

    /* glibc's DTV of the G's TLS block when it fits: in the G's own pages, not the heap
     * (tls.c). Written by gr_tls_create, then by glibc on the G itself. */
    struct gr_dtv_slot dtv[GR_DTV_EMBED];
};

struct p {
    int32_t id;                  /* immutable */
    struct gr_atomic_u32 status; /* atomic: P_IDLE/P_RUNNING/P_SYSCALL; sysmon CASes
                                    P_SYSCALL -> P_IDLE to take it (syscall.c) */
    GR_ATOMIC_PTR(struct m)
    m;                                /* atomic: its M, NULL when idle or in a syscall; written
                                         by whoever hands the P over, read by sysmon */
    struct p *link;                   /* idle list; protected by gr_sched.lock */
    struct gr_atomic_u64 schedtick;   /* atomic: incremented by its M at every schedule,
                                         read by sysmon and spares */
    int64_t runstart;                 /* owner: when the running G was scheduled */
    struct gr_atomic_u32 syscalltick; /* atomic: incremented by its M at every entersyscall,
                                         read by sysmon */
    uint32_t sysmon_tick;             /* sysmon only: syscalltick when it last looked */
    int64_t sysmon_when;              /* sysmon only: when it saw that tick first */
    uint64_t sysmon_schedtick;        /* sysmon only: schedtick when it last looked */
    int64_t sysmon_schedwhen;         /* sysmon only: when it saw that schedtick first, or
                                         last asked its M to switch */
    int64_t sysmon_runsince;          /* sysmon only: when it saw that schedtick first */
    int64_t sysmon_asleep;            /* sysmon only: when it first saw the M asleep, or 0 */
    /* A call the runtime never saw, holding this P's M (sysmon.c, blockrec.c). */
    int64_t sysmon_blocked;      /* sysmon only: when it first saw the M asleep in it, or 0 */
    long sysmon_blocked_nr;      /* sysmon only: its system call number (-1: outside one;
                                    GR_BLOCKREC_RUNNING: running, not preemptible) */
    uintptr_t sysmon_blocked_pc; /* sysmon only: its user return address */
    uintptr_t sysmon_blocked_sp; /* sysmon only: the stack pointer it sleeps with */
    bool sysmon_blocked_rec;     /* sysmon only: recorded in blockrec (seen twice) */
    uint32_t fastrand;           /* owner */

    struct gr_atomic_u32 runqhead;   /* atomic: advanced by the owner and by stealers (CAS) */
    struct gr_atomic_u32 runqtail;   /* atomic: store-release by the owner only */
    GR_ATOMIC_PTR(struct g) runnext; /* atomic: next G to run, ahead of the queue */
    struct g *runq[256];             /* slots between head and tail belong to the queue */

    struct gr_timers timers; /* own lock */
    struct gr_mcache mcache; /* owner: the allocator's cache (malloc.c) */

    /* Spare Ps stand in for a P whose M is stuck in the kernel (spare.c). */
    bool spare;          /* immutable */
    struct p *stuck;     /* protected by gr_sched.lock: the P this one stands in for;
                            its own M reads it without (set before the M gets it) */
    uint64_t stuck_tick; /* protected by gr_sched.lock: stuck's schedtick then */
} GR_ALIGNED(GR_CACHELINE);

struct m {
    struct m *self; /* immutable; first field: %gs:0 */
    int32_t id;     /* immutable */
    pid_t tid;      /* immutable: the OS thread id */
    struct g g0;    /* the scheduler's context: the M's own stack and TLS */
    GR_ATOMIC_PTR(struct g)
    curg;                            /* atomic: the user G running, NULL on g0; written by the
                                        M, read by sysmon */
    struct p *p;                     /* owner: attached P */
    struct p *nextp;                 /* the P to run when woken: set before the thread starts,
                                        or under gr_sched.lock while the M is idle (the note's
                                        wakeup publishes it); the M reads and clears it */
    struct g *nextg;                 /* a G to run wired, without a P (wire.c): set and read
                                        as nextp */
    struct g *lockedg;               /* owner: the G wired to this M, or NULL (wire.c) */
    struct p *oldp;                  /* owner: the P it held when it entered a blocking call */
    uintptr_t fs_cur;                /* owner: the thread pointer installed in FS */
    uintptr_t ownfs;                 /* immutable: this M's own TLS block (g0's) */
    uintptr_t sysdesc;               /* immutable: the descriptor glibc lists for this OS thread */
    struct gr_atomic_u64 pthread;    /* atomic: the same, stored by newm once pthread_create
                                        returns (0 for M0 and before): the leak check's for an M
                                        that has not run yet (gc.c) */
    uint64_t sigmask_cur;            /* owner: signal mask installed on the OS thread */
    stack_t altstack_cur;            /* owner: alternate signal stack installed on the OS thread */
    bool spinning;                   /* counted in gr_sched.nmspinning; written by the M, or by
                                        gr_startm under gr_sched.lock while the M is idle */
    bool is_sysmon;                  /* immutable */
    bool polling;                    /* owner: in gr_netpoll; what it readies queues at the tail */
    bool mallocing;                  /* owner: inside the allocator's use of p's cache; a signal
                                        handler's nested call then takes the shared path */
    struct gr_atomic_u32 preempt;    /* atomic: sysmon or the timer asked the G to yield */
    struct gr_atomic_u64 refused_pc; /* atomic: where the preemption signal last found the G
                                        and had to leave it (libc, ld.so, the runtime) */
    /* The POSIX timer that sends this M the preemption signal (preempt.c), or -1: immutable
     * (the fork child's M creates its own). When it expires: INT64_MAX while disarmed; atomic,
     * written by the M and its signal handler only. */
    int ptimer;
    struct gr_atomic_i64 ptimer_when;
    /* atomic: the G that preempt's request is for, written before preempt (release); the
     * request lapses once another G runs on the M (preempt.c) */
    GR_ATOMIC_PTR(struct g) preempt_g;
    GR_ATOMIC_PTR(struct g)
    cancel_target;            /* atomic: a G with an asynchronous cancel to act on, set when it
                                 runs or is sent the signal here, cleared when it acts; a stale
                                 value is harmless (compared, never dereferenced) (cancel.c) */
    int64_t sysmon_cancel_at; /* sysmon only: when it last resent SIGCANCEL here */
    int sysfd; /* immutable: /proc/thread-self/syscall of this M (GREENRUN_DEBUG=blocking), or -1 */
    struct gr_note park;           /* idle M sleeps here */
    struct gr_lockstack locks;     /* owner M: gr_mutexes it holds (debug builds, lock.c) */
    struct gr_atomic_u32 lockwait; /* atomic: set while it sleeps on a gr_mutex (lock.c), so
                                      that sysmon starts no spare P for it */
    struct m *schedlink;           /* idle list; protected by gr_sched.lock */
    struct m *alllink;             /* immutable once linked */

    /* CPU accounting of the G it runs (cputime.c): written by the M inside cpu_seq (odd while
     * it writes), read by others under it. */
    struct gr_atomic_u32 cpu_seq;
    struct gr_atomic_i64 cpu_mark;  /* atomic: this OS thread's CPU clock when last read */
    struct gr_atomic_i64 cpu_est;   /* atomic: wall time charged to short runs since then */
    struct gr_atomic_i64 cpu_start; /* atomic: when the G it runs started running (monotonic) */
    bool cpu_sys;                   /* owner: the G running entered syscall mode in this run */
    int64_t syscall_since;          /* owner: when the G entered syscall mode (only with the
                                       blocking profile on: GREENRUN_DEBUG=blocking or
                                       GREENRUN_REPORT) */
    uint64_t syscall_schedtick;     /* owner: its P's schedtick then (the profile only) */
    bool tidlock;                   /* owner: taking or holding g.c's tid_lock (signal handlers
                                       on this M must not wait for it) */

    /* Handoff from a G switching to g0 (owner M). */
    int after;
    struct g *prevg;
    bool (*unlockf)(struct g *gp, void *arg);
    void *unlockarg;

    /* Signals (signal.c). */
    struct gr_atomic_u64 kicksigs; /* atomic: sent to this M for the G in a call in syscall
                                      mode on it; the wrapper clears each as it runs */
    struct gr_atomic_u32 kicking;  /* atomic: senders between their look at the G and their
                                      tgkill; the G leaving its call waits for 0 */
    int raising;                   /* owner: the signal the M raises on its G, or 0 */

    GR_ATOMIC_PTR(struct gr_tracebuf)
    trace; /* atomic: its GREENRUN_TRACE buffer, or NULL; set once by the M (trace.c) */
};

struct gr_sched {
    struct gr_mutex lock;            /* rank sched: the fields up to runqsize, pspare, sleeper */
    struct m *midle;                 /* protected by lock: idle Ms */
    struct gr_atomic_i32 nmidle;     /* atomic: written under lock, read by schedtrace */
    struct gr_atomic_i32 mcount;     /* atomic: Ms created; written under lock */
    struct p *pidle;                 /* protected by lock: idle Ps */
    struct gr_atomic_u32 npidle;     /* atomic: written under lock, read without it */
    struct gr_atomic_u32 nmspinning; /* atomic */
    struct g *runqhead;              /* protected by lock: the global run queue */
    struct g *runqtail;
    struct gr_atomic_i32 runqsize; /* atomic: written under lock, read without it as a hint */
    /* protected by lock: the last of the wakeups at the head of the global queue, or NULL;
     * their number is nrunqwake (atomic: written under lock, read without it as a hint) */
    struct g *runqwake;
    struct gr_atomic_i32 nrunqwake;

    int32_t nprocs;             /* immutable after boot: GREENRUN_PROCS */
    struct gr_atomic_i32 nallp; /* atomic: nprocs plus the spare Ps made so far; grows under
                                   lock (spare.c), never shrinks; read with gr_nallp() */
    struct p *allp[GR_PROCS_MAX + GR_SPARES_MAX]; /* Ps, then spares: allp[i] is written once,
                                                     before nallp passes i */
    struct p *pspare;                             /* protected by lock: spare Ps not in use */
    GR_ATOMIC_PTR(struct p) stuckp;   /* atomic: the P a spare last stood in for (a hint) */
    struct gr_atomic_u64 stuckp_tick; /* atomic: its schedtick then */
    GR_ATOMIC_PTR(struct m) allm;     /* atomic: push-front list of every M, never shrinks */
    struct m *m0;                     /* immutable: the M of the initial thread */

    struct gr_atomic_u64 goidgen; /* atomic */
    struct gr_atomic_i32 nlive;   /* atomic: user Gs alive; the last one to exit calls exit(0) */

    struct gr_atomic_i64 sleep_until; /* atomic: deadline of the M sleeping with a timeout,
                                         or 0; written under lock */
    struct gr_atomic_u32 netpolling;  /* atomic: 1 while an M blocks in gr_netpoll */
    struct gr_atomic_i64 poll_until;  /* atomic: its deadline (INT64_MAX = none) */
    struct gr_atomic_i64 lastpoll;    /* atomic: when the netpoller was last polled */
    struct m *sleeper;                /* protected by lock: the M sleeping until sleep_until */

    struct gr_mutex glock;   /* rank glock: the allg list (g.c) */
    struct g *allg;          /* protected by glock */
    struct gr_atomic_i32 ng; /* atomic: written under glock, read by schedtrace */

    struct gr_atomic_u64 sigheld; /* atomic: process signals no G could take yet (sigroute.c) */

    /* Counters for stats (atomic, relaxed). */
    struct gr_atomic_u64 nswitch;
    struct gr_atomic_u64 ncreated;
    struct gr_atomic_u64 nsteal;
    struct gr_atomic_i32 peaklive;
};

extern struct gr_sched gr_sched;
extern __thread struct g *gr_curg __attribute__((tls_model("initial-exec")));

#endif /* GR_RUNTIME_SCHED_H */
