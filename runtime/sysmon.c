/*
 * runtime/sysmon.c: the monitor thread (Go's sysmon): a real OS thread without a P.
 *
 * It sleeps 20 us, doubling up to 10 ms while there is nothing to do, and on each round:
 *  - wakes an M when runnable Gs wait while Ps are idle and nobody spins (a lost wakeup
 *    in the spinning protocol would otherwise leave work stranded until the next event),
 *    and when an idle P's timer is due while no M sleeps for the timers;
 *  - prints the scheduler trace every GREENRUN_DEBUG=schedtrace=MS;
 *  - hands Ps in blocking calls to other Ms (gr_retake), preempts Gs that run 10 ms while
 *    others wait (1 ms while a woken G or a due timer waits), starts spare Ps for Ms stuck
 *    in the kernel, and records the calls the runtime never saw that keep an M asleep
 *    (blockrec.c);
 *  - resends SIGCANCEL to a G whose asynchronous cancellation found it inside the runtime
 *    (gr_cancel_retry);
 *  - starts the control thread once a client asked for it (control.c).
 *
 * Locks: none of its own; what it calls takes gr_sched.lock and timer heaps.
 */
#include "runtime/sysmon.h"

#include "runtime/atomic.h"
#include "runtime/blockrec.h"
#include "runtime/boot.h"
#include "runtime/cancel.h"
#include "runtime/control.h"
#include "runtime/debug.h"
#include "runtime/dump.h"
#include "runtime/gc.h"
#include "runtime/leaf.h"
#include "runtime/netpoll.h"
#include "runtime/m.h"
#include "runtime/preempt.h"
#include "runtime/proc.h"
#include "runtime/runq.h"
#include "runtime/sched.h"
#include "runtime/sigroute.h"
#include "runtime/spare.h"
#include "runtime/stack.h"
#include "runtime/sys.h"
#include "runtime/syscall.h"
#include "runtime/trace.h"

#define SYSMON_MIN_SLEEP 20000LL    /* 20 us */
#define SYSMON_MAX_SLEEP 10000000LL /* 10 ms */

static int64_t schedtrace_ns;
static struct gr_note sysmon_note; /* sysmon sleeps here between rounds */

void
gr_sysmon_kick(void)
{
    gr_note_wakeup(&sysmon_note);
}
static int64_t boot_time;

void
gr_sysmon_config(int64_t schedtrace_ms)
{
    schedtrace_ns = schedtrace_ms * 1000000LL;
}

static void
schedtrace(void)
{
    int64_t ms = (gr_nanotime() - boot_time) / 1000000LL;
    char line[512];
    size_t n;

    n = gr_snprint(line, sizeof(line),
                   "SCHED %ldms: procs=%d idleprocs=%u threads=%d spinningthreads=%u "
                   "idlethreads=%d runqueue=%d gs=%d live=%d [",
                   (long)ms, gr_sched.nprocs, gr_load(&gr_sched.npidle), gr_load(&gr_sched.mcount),
                   gr_load(&gr_sched.nmspinning), gr_load_relaxed(&gr_sched.nmidle),
                   gr_load_relaxed(&gr_sched.runqsize), gr_load_relaxed(&gr_sched.ng),
                   gr_load_relaxed(&gr_sched.nlive));
    for (int i = 0; i < gr_sched.nprocs && n + 16 < sizeof(line); i++) {
        struct p *pp = gr_sched.allp[i];
        uint32_t len = gr_load(&pp->runqtail) - gr_load(&pp->runqhead);
        n += gr_snprint(line + n, sizeof(line) - n, i == 0 ? "%u" : " %u", len);
    }
    gr_print("%s]\n", line);
}

/*
 * How long one G may keep its P while others wait. A G readied or made on the P (its run
 * queue), or a timer due there, waits at most PREEMPT_WAKEUP_NS: those are the wakeups a
 * program notices (a new thread's start, a sleep's return, a poller's answer). Gs that were
 * themselves preempted wait on the global queue and share the Ps in Go's 10 ms slices, so
 * CPU-bound Gs do not pay for switches nobody is waiting for. A request the signal could not
 * act on (the G was in libc or the runtime) is repeated after PREEMPT_RETRY_NS.
 */
#define PREEMPT_AFTER_NS  10000000LL /* 10 ms, as Go's forcePreemptNS */
#define PREEMPT_WAKEUP_NS 1000000LL
#define PREEMPT_RETRY_NS  250000LL

#define BLOCKED_CONFIRM_NS 1000000LL /* seen asleep twice this far apart: a blocking call */

/*
 * pp is P_RUNNING on an unmoved schedule and its M sleeps in the kernel: a call the runtime
 * never saw (hooked calls leave the P in P_SYSCALL). The first sighting reads what the call
 * is; the second, 1 ms or more later, records it (once could be a brief lock wait).
 */
static void
blocked_seen(struct p *pp, struct m *mp, int64_t now)
{
    if (pp->sysmon_blocked == 0) {
        /* What the M sleeps in, from its /proc/thread-self/syscall (open only with the
         * blocking profile on, m.c); nothing when it runs again or the file is not open. */
        if (gr_blockrec_read(mp->sysfd, &pp->sysmon_blocked_nr, &pp->sysmon_blocked_sp,
                             &pp->sysmon_blocked_pc))
            pp->sysmon_blocked = now;
        return;
    }
    if (!pp->sysmon_blocked_rec && now - pp->sysmon_blocked >= BLOCKED_CONFIRM_NS) {
        struct g *gp = gr_load(&mp->curg);
        struct gr_blockrec_call c = {
            .nr = pp->sysmon_blocked_nr,
            .pc = pp->sysmon_blocked_pc,
            .sp = pp->sysmon_blocked_sp,
            .sysfd = mp->sysfd,
        };

        /* The G's stack bounds the unwind of the sleeping thread (blockrec.c); none known
         * when the M runs no G. */
        if (gp != NULL) {
            c.lo = (uintptr_t)gp->stack_lo;
            c.hi = (uintptr_t)gp->stack_hi;
        }
        gr_blockrec_begin(pp->id, &c, pp->sysmon_blocked);
        pp->sysmon_blocked_rec = true;
    }
}

/* The call blocked_seen followed on pp is over (the P moved, or its M runs). */
static void
blocked_end(struct p *pp, int64_t now)
{
    if (pp->sysmon_blocked == 0)
        return;
    if (pp->sysmon_blocked_rec)
        gr_blockrec_end(pp->id, now);
    pp->sysmon_blocked = 0;
    pp->sysmon_blocked_rec = false;
}

/*
 * The G on pp has run since sysmon_runsince although sysmon asked it to switch: the preemption
 * signal found it every time where it may not stop it (libc, ld.so, the runtime: refused_pc).
 * After UNPREEMPTIBLE_AFTER_NS that is a blocking site of its own kind (GREENRUN_DEBUG=
 * blocking), keyed by the libc function (from libc's unwind table) or the pc itself.
 */
#define UNPREEMPTIBLE_AFTER_NS 50000000LL

static void
unpreemptible_seen(struct p *pp, struct m *mp, int64_t now)
{
    uintptr_t pc = (uintptr_t)gr_load_relaxed(&mp->refused_pc), fn;

    gr_store_relaxed(&mp->refused_pc, 0); /* the next request's answer, not this one's */
    /* Refused inside the runtime: the G yields at the runtime's next safe point. */
    if (pc == 0 || !gr_preempt_pc_in_system(pc))
        return;
    if (pp->sysmon_blocked != 0 || now - pp->sysmon_runsince < UNPREEMPTIBLE_AFTER_NS)
        return;
    fn = gr_leaf_libc_function(pc);
    pp->sysmon_blocked = pp->sysmon_runsince;
    pp->sysmon_blocked_nr = GR_BLOCKREC_RUNNING;
    pp->sysmon_blocked_pc = fn != 0 ? fn : pc;
    gr_blockrec_begin(pp->id,
                      &(struct gr_blockrec_call){
                          .nr = GR_BLOCKREC_RUNNING, .pc = pp->sysmon_blocked_pc, .sysfd = -1 },
                      pp->sysmon_blocked);
    pp->sysmon_blocked_rec = true;
}

/* Does a wakeup wait behind pp: a G readied or made there, or a timer due on it? */
static bool
wakeups_wait(struct p *pp, int64_t now)
{
    return !gr_runq_empty(pp) || gr_load(&pp->timers.next_when) <= now;
}

/*
 * Do Gs wait behind pp: queued anywhere, or due on its timers? A stuck P's timers wait for
 * another M too: when every other M sleeps without a deadline, nobody else would run them.
 */
static bool
others_wait(struct p *pp, int64_t now)
{
    return gr_load_relaxed(&gr_sched.runqsize) > 0 || wakeups_wait(pp, now);
}

/*
 * Look at every P that has not moved for PREEMPT_WAKEUP_NS. Its M asleep in the kernel:
 * record the call (blocked_seen) and, while others wait, start a spare P. Its M running one G
 * for a slice while others wait: ask it to switch.
 */
static int
preempt_long_runners(int64_t now)
{
    int n = 0;

    for (int i = 0; i < gr_nallp(); i++) {
        struct p *pp = gr_sched.allp[i];
        uint64_t tick = gr_load_relaxed(&pp->schedtick);
        struct m *mp;
        int64_t slice;
        bool waiting;

        if (gr_load(&pp->status) != P_RUNNING) {
            pp->sysmon_schedtick = tick;
            pp->sysmon_schedwhen = now;
            pp->sysmon_runsince = now;
            blocked_end(pp, now);
            continue;
        }
        if (pp->sysmon_schedtick != tick) {
            pp->sysmon_schedtick = tick;
            pp->sysmon_schedwhen = now;
            pp->sysmon_runsince = now;
            pp->sysmon_asleep = 0;
            blocked_end(pp, now);
            continue;
        }
        if (now - pp->sysmon_schedwhen < PREEMPT_WAKEUP_NS)
            continue;
        mp = gr_load(&pp->m);
        if (mp == NULL || gr_load(&mp->curg) == NULL) {
            blocked_end(pp, now);
            continue;
        }
        waiting = others_wait(pp, now);
        if (!waiting && !gr_opts.blocking) {
            /* Nothing to do for pp whatever its M does: do not look (each look opens a
             * /proc file, m.c). Sightings start over when others wait. */
            pp->sysmon_asleep = 0;
            continue;
        }
        if (gr_load_relaxed(&mp->lockwait)) {
            /* Asleep on one of the runtime's own locks: its holder runs, or sleeps where it
             * gets a spare of its own. A spare here would most likely run a G that queues on
             * the same lock, and the next spare another (malloc_threads_churn grew 25 under
             * outside load, each holder descheduled by the kernel for milliseconds). */
            pp->sysmon_asleep = 0;
            continue;
        }
        if (gr_m_kstate(mp) != 'R') {
            if (pp->sysmon_blocked_nr == GR_BLOCKREC_RUNNING)
                blocked_end(pp, now); /* it ran on, and now sleeps in the kernel */
            blocked_seen(pp, mp, now);
            if (!waiting)
                continue;
            /* Asleep in the kernel with the P, seen twice 1 ms apart on the same schedule:
             * let a spare P run the others meanwhile. (Once could be a brief lock wait.) */
            if (pp->sysmon_asleep == 0) {
                pp->sysmon_asleep = now;
            } else if (now - pp->sysmon_asleep >= 1000000LL && gr_start_spare(pp)) {
                if (pp->sysmon_blocked_rec)
                    gr_blockrec_spare(pp->id);
                pp->sysmon_asleep = 0;
                n++;
            }
            continue;
        }
        pp->sysmon_asleep = 0;
        if (pp->sysmon_blocked_nr != GR_BLOCKREC_RUNNING)
            blocked_end(pp, now);
        if (!waiting)
            continue;
        slice = wakeups_wait(pp, now) ? PREEMPT_WAKEUP_NS : PREEMPT_AFTER_NS;
        if (now - pp->sysmon_schedwhen < slice)
            continue;
        unpreemptible_seen(pp, mp, now);
        gr_preempt_m(mp);
        /* A wakeup waits: ask again soon if the G does not switch. */
        pp->sysmon_schedwhen = slice == PREEMPT_WAKEUP_NS ? now - slice + PREEMPT_RETRY_NS : now;
        n++;
    }
    return n;
}

static bool
work_stranded(void)
{
    if (gr_load(&gr_sched.npidle) == 0 || gr_load(&gr_sched.nmspinning) != 0)
        return false;
    if (gr_load_relaxed(&gr_sched.runqsize) > 0)
        return true;
    /* Only what an idle M could take: a running P's runnext is its own (runq.c), and
     * counting it woke an M for nothing about every other round of a ping-pong. */
    for (int i = 0; i < gr_nallp(); i++)
        if (gr_runq_stealable(gr_sched.allp[i]))
            return true;
    return false;
}

/* The earliest timer of the Ps in the given status (P_SYSCALL, P_IDLE), or INT64_MAX. */
static int64_t
earliest_timer_of(uint32_t status)
{
    int64_t due = INT64_MAX;

    for (int i = 0; i < gr_nallp(); i++) {
        struct p *pp = gr_sched.allp[i];
        if (gr_load(&pp->status) == status) {
            int64_t w = gr_load_relaxed(&pp->timers.next_when);
            if (w < due)
                due = w;
        }
    }
    return due;
}

/*
 * The earliest timer of a P whose M is in a blocking call: nobody runs it until sysmon hands
 * the P on, so sysmon wakes for it rather than after its backed-off sleep (up to 10 ms).
 */
static int64_t
timers_behind_syscalls(void)
{
    return earliest_timer_of(P_SYSCALL);
}

/*
 * The earliest timer of an idle P when no M sleeps for the timers (no timer sleeper, nobody
 * in the netpoller): the sleeper woke at its deadline or was taken to run a P, ran a G that
 * blocked in the kernel, and the other idle Ms sleep without a deadline (proc.c's stopm).
 * sysmon then starts an M for them when they are due.
 */
static int64_t
idle_timers_unwatched(void)
{
    if (gr_load(&gr_sched.sleep_until) != 0 || gr_load(&gr_sched.netpolling) != 0 ||
        gr_load(&gr_sched.npidle) == 0)
        return INT64_MAX;
    return earliest_timer_of(P_IDLE);
}

/*
 * When the next wakeup waiting behind a running P will have waited PREEMPT_WAKEUP_NS: sysmon
 * looks then rather than after its backed-off sleep.
 */
static int64_t
wakeups_due(int64_t now)
{
    int64_t due = INT64_MAX;

    for (int i = 0; i < gr_nallp(); i++) {
        struct p *pp = gr_sched.allp[i];
        int64_t w, t;

        if (gr_load(&pp->status) != P_RUNNING)
            continue;
        w = pp->sysmon_schedwhen + PREEMPT_WAKEUP_NS;
        if (gr_runq_empty(pp)) {
            t = gr_load_relaxed(&pp->timers.next_when);
            if (t == INT64_MAX)
                continue;
            if (t > w)
                w = t;
        }
        if (w < due)
            due = w;
    }
    return due < now ? now : due;
}

void *
gr_sysmon_main(void *arg)
{
    struct m *mp = arg;
    int64_t delay = SYSMON_MIN_SLEEP, next_trace, until, due;

    if (gr_m_init_self(mp) != 0)
        gr_throw("sysmon: cannot set the GS base");
    boot_time = gr_nanotime();
    next_trace = schedtrace_ns > 0 ? boot_time + schedtrace_ns : INT64_MAX;
    until = boot_time + delay;
    for (;;) {
        int64_t now;

        gr_note_sleep(&sysmon_note, until);
        gr_note_clear(&sysmon_note);
        gr_trace_safepoint(mp);
        now = gr_nanotime();
        gr_sigroute_sysmon();
        gr_dump_sysmon();
        gr_gc_sysmon();
        gr_malloc_background(now);
        if (gr_opts.blocking)
            gr_blockrec_live(now);
        gr_control_sysmon();
        if (gr_retake(now) > 0 || preempt_long_runners(now) > 0) {
            delay = SYSMON_MIN_SLEEP;
        } else if (work_stranded() || idle_timers_unwatched() <= now) {
            gr_wakep();
            delay = SYSMON_MIN_SLEEP;
        } else if (delay < SYSMON_MAX_SLEEP) {
            delay *= 2;
        }
        /* Nobody polled for 10 ms while Gs wait on I/O (every P busy): poll for them. */
        if (gr_netpoll_inited() && gr_netpoll_waiters() > 0 && !gr_load(&gr_sched.netpolling) &&
            now - gr_load(&gr_sched.lastpoll) > 10000000LL) {
            gr_store(&gr_sched.lastpoll, now);
            if (gr_netpoll(0) > 0) {
                gr_wakep();
                delay = SYSMON_MIN_SLEEP;
            }
        }
        if (now >= next_trace) {
            schedtrace();
            next_trace = now + schedtrace_ns;
        }
        until = now + delay;
        if (next_trace < until)
            until = next_trace;
        due = timers_behind_syscalls();
        if (due < until)
            until = due;
        due = idle_timers_unwatched();
        if (due < until)
            until = due;
        due = wakeups_due(now);
        if (due < until)
            until = due;
        /* A G with an asynchronous cancel noted, which no signal found in user code yet. */
        if (gr_cancel_retry(now) > 0 && now + 1000000LL < until)
            until = now + 1000000LL;
        if (until < now + SYSMON_MIN_SLEEP)
            until = now + SYSMON_MIN_SLEEP;
    }
    return NULL;
}
