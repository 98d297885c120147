/*
 * runtime/cputime.c: the CPU time of each G, behind CLOCK_THREAD_CPUTIME_ID and the clocks
 * pthread_getcpuclockid hands out (hooks/tid.c).
 *
 * The kernel keeps CPU time per OS thread (M), so a G's is charged run by run, when the run
 * ends. Reading an OS thread's CPU clock is a system call (the vDSO has no CPU clocks; about
 * 0.7 us on this project's machine, three times a whole switch), so a run is charged in one
 * of two ways:
 *  - a run of GR_CPUTIME_SHORT_NS or more, or one whose call in syscall mode may have slept
 *    in the kernel, reads the M's clock: it is charged what that clock advanced since it was
 *    last read, less what short runs were charged since, and never more than the run's wall
 *    time;
 *  - a shorter run is charged its wall time (the monotonic clock, vDSO). That is its CPU time
 *    unless the kernel took the OS thread away during the run, and then the error is below
 *    the threshold.
 * A call in syscall mode "may have slept" when it lasted GR_CPUTIME_SYSCALL_NS or more (a
 * sleep in the kernel and the wakeup after it take longer than that), or when the short
 * calls charged as CPU time since the clock was last read add up to GR_CPUTIME_SHORT_NS:
 * a server's pread of a cached page, or a write to a socket, then costs no clock read of
 * its own (a read per such call was most of the system calls a thread-per-connection
 * server made beyond its I/O), and a short call that did sleep is overcharged by less than
 * GR_CPUTIME_SYSCALL_NS, at most GR_CPUTIME_SHORT_NS between two reads of the clock.
 * The read thus costs at most about 0.7% of a G's running time, and nothing in programs that
 * switch often with short runs. Time the M spends between runs (the scheduler, handlers on
 * g0) goes to the next long run, within that run's wall-time cap.
 *
 * A G's figure is cpu_ns, plus, while it runs (cpu_m), the part of the current run so far:
 * its M's clock since cpu_mark less cpu_est, kept between 0 and the wall time since
 * cpu_start. cpu_est is the M's CPU time since cpu_mark that is already accounted for: the
 * short runs' charges, and what a G reading its own clock found from before its run
 * (own_cputime). Another thread reads these under the M's sequence count cpu_seq, and reads that
 * M's clock by its tid, as any thread of the process may. A reader never sees a G's figure
 * go down.
 *
 * Locks: none. Every field is written by its M alone, inside cpu_seq.
 */
#include "runtime/cputime.h"

#include <errno.h>

#include "runtime/api.h"
#include "runtime/arch.h"
#include "runtime/atomic.h"
#include "runtime/proc.h"
#include "runtime/sys.h"

/* A writer makes the count odd, then even again; readers retry around an odd or changed one. */
static void
seq_begin(struct m *mp)
{
    gr_store_relaxed(&mp->cpu_seq, gr_load_relaxed(&mp->cpu_seq) + 1);
    /* Pairs with the acquire fence before a reader's second look at the count. */
    gr_fence_release();
}

static void
seq_end(struct m *mp)
{
    /* Pairs with the acquire load of a reader's first look. */
    gr_store_release(&mp->cpu_seq, gr_load_relaxed(&mp->cpu_seq) + 1);
}

static int64_t
clamp(int64_t v, int64_t hi)
{
    if (v < 0)
        return 0;
    return v < hi ? v : hi;
}

void
gr_cputime_m_init(struct m *mp)
{
    int64_t t = gr_sys_thread_cputime(0);

    gr_store_relaxed(&mp->cpu_mark, t > 0 ? t : 0);
    gr_store_relaxed(&mp->cpu_est, 0);
}

void
gr_cputime_switch_in(struct m *mp, struct g *gp, int64_t now)
{
    seq_begin(mp);
    gr_store_relaxed(&mp->cpu_start, now);
    gr_store_relaxed(&gp->cpu_m, mp);
    seq_end(mp);
    mp->cpu_sys = false;
}

int64_t
gr_cputime_switch_out(struct m *mp, struct g *gp)
{
    int64_t now = gr_nanotime();
    int64_t run = now - gr_load_relaxed(&mp->cpu_start), charge;

    seq_begin(mp);
    if (run < GR_CPUTIME_SHORT_NS && !mp->cpu_sys) {
        charge = run > 0 ? run : 0;
        gr_store_relaxed(&mp->cpu_est, gr_load_relaxed(&mp->cpu_est) + charge);
    } else {
        int64_t t = gr_sys_thread_cputime(0);
        if (t < 0) {
            charge = run; /* cannot happen: the calling thread's own clock */
        } else {
            charge = clamp(t - gr_load_relaxed(&mp->cpu_mark) - gr_load_relaxed(&mp->cpu_est), run);
            gr_store_relaxed(&mp->cpu_mark, t);
        }
        gr_store_relaxed(&mp->cpu_est, 0);
        mp->cpu_sys_wall = 0;
    }
    gr_store_relaxed(&gp->cpu_ns, gr_load_relaxed(&gp->cpu_ns) + charge);
    /* Pairs with the acquire load of cpu_m in gr_g_cputime: cpu_ns comes with it. */
    gr_store_release(&gp->cpu_m, NULL);
    seq_end(mp);
    return now;
}

void
gr_cputime_syscall_exit(struct m *mp)
{
    int64_t wall = gr_nanotime() - mp->cpu_sys_start;

    if (wall >= GR_CPUTIME_SYSCALL_NS) {
        mp->cpu_sys = true;
        return;
    }
    mp->cpu_sys_wall += wall > 0 ? wall : 0;
    if (mp->cpu_sys_wall >= GR_CPUTIME_SHORT_NS)
        mp->cpu_sys = true;
}

void
gr_cputime_adopt_main(struct m *mp, struct g *gp)
{
    /* The initial thread's clock counts from the start of the process, and so does its
     * first run (start 0: the wall-time cap never bites). */
    gr_store_relaxed(&mp->cpu_mark, 0);
    gr_store_relaxed(&mp->cpu_est, 0);
    gr_cputime_switch_in(mp, gp, 0);
}

void
gr_cputime_fork_child(struct m *mp, struct g *gp)
{
    /* The child's thread is new: its clock, and the G's figure, start again at zero. */
    gr_store_relaxed(&mp->cpu_seq, 0);
    gr_store_relaxed(&gp->cpu_ns, 0);
    gr_store_relaxed(&mp->cpu_mark, 0);
    gr_store_relaxed(&mp->cpu_est, 0);
    gr_cputime_switch_in(mp, gp, 0);
}

/*
 * The running G reads its own clock. What the M's clock advanced since it was last read,
 * beyond this run's wall time so far, is the M's own from before the run (its g0's time
 * between runs, since no run read the clock): left in, it would reach the run's figure
 * later, once the kernel had taken the thread away for as long, and the G's clock would grow
 * faster than the CPU it used. It is charged to no G (counted in cpu_est), so from here the
 * figure grows as the run's CPU time does. Readers on other threads see the figure capped at
 * the wall time before and at least as much after, so it never goes down.
 */
static int64_t
own_cputime(struct m *mp, struct g *gp)
{
    int64_t t = gr_sys_thread_cputime(0), now = gr_nanotime();
    int64_t acc = gr_load_relaxed(&gp->cpu_ns);
    int64_t wall = now - gr_load_relaxed(&mp->cpu_start);
    int64_t run = t - gr_load_relaxed(&mp->cpu_mark) - gr_load_relaxed(&mp->cpu_est);

    if (t < 0)
        return acc;
    if (run > wall) {
        seq_begin(mp);
        gr_store_relaxed(&mp->cpu_est, gr_load_relaxed(&mp->cpu_est) + run - wall);
        seq_end(mp);
        run = wall;
    }
    return acc + (run > 0 ? run : 0);
}

int64_t
gr_g_cputime(struct g *gp)
{
    if (gp == gr_current() && gr_load_relaxed(&gp->cpu_m) == gr_getm())
        return own_cputime(gr_getm(), gp);
    for (;;) {
        /* Pairs with the store-release in gr_cputime_switch_out. */
        struct m *mp = gr_load_acquire(&gp->cpu_m);
        if (mp == NULL)
            return gr_load_relaxed(&gp->cpu_ns);
        /* Pairs with the store-release of seq_end. */
        uint32_t seq = gr_load_acquire(&mp->cpu_seq);
        if (seq & 1) {
            gr_cpu_relax();
            continue;
        }
        int64_t acc = gr_load_relaxed(&gp->cpu_ns);
        int64_t mark = gr_load_relaxed(&mp->cpu_mark);
        int64_t est = gr_load_relaxed(&mp->cpu_est);
        int64_t start = gr_load_relaxed(&mp->cpu_start);
        struct m *again = gr_load_relaxed(&gp->cpu_m);
        int64_t t = gr_sys_thread_cputime(mp->tid);
        int64_t now = gr_nanotime();
        /* Pairs with the release fence of seq_begin. */
        gr_fence_acquire();
        if (gr_load_relaxed(&mp->cpu_seq) != seq || again != mp)
            continue;
        if (t < 0)
            return acc;
        return acc + clamp(t - mark - est, now - start);
    }
}
