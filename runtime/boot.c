/*
 * runtime/boot.c: the runtime's boot (Go's schedinit), on the initial thread.
 *
 * Order: probe glibc's thread descriptor, size the stacks, wrap glibc's SIGSETXID handler,
 * install the preemption handler, create the Ps, adopt the initial thread as M0 running the
 * main G, register the fork handler, start sysmon. It runs from the __libc_start_main hook,
 * once every library is initialised and while the initial thread is the only one, or earlier
 * from a pthread_create in a library constructor. Any failure before the first G exists
 * leaves the program running natively, with one line on stderr saying why.
 *
 * Locks: boot_lock (rank boot), held for the whole boot: a second thread that calls in
 * meanwhile waits, then sees the state settled.
 */
#include "runtime/boot.h"

#include <pthread.h>
#include <sched.h>

#include "runtime/atomic.h"
#include "runtime/blockrec.h"
#include "runtime/debug.h"
#include "runtime/dump.h"
#include "runtime/fork.h"
#include "runtime/g.h"
#include "runtime/gc.h"
#include "runtime/libc.h"
#include "runtime/lock.h"
#include "runtime/m.h"
#include "runtime/mem.h"
#include "runtime/preempt.h"
#include "runtime/proc.h"
#include "runtime/sigroute.h"
#include "runtime/stack.h"
#include "runtime/sys.h"
#include "runtime/sysmon.h"
#include "runtime/tls.h"
#include "runtime/trace.h"

#ifndef GR_VERSION
#define GR_VERSION "0.1.0"
#endif

struct gr_atomic_i32 gr_state = { GR_STATE_PRE_INIT };
struct gr_opts gr_opts;

static struct gr_mutex boot_lock = GR_MUTEX_INIT(GR_RANK_BOOT);

void
gr_go_native(const char *why)
{
    gr_print("greenrun: %s; running natively\n", why);
    gr_store(&gr_state, GR_STATE_NATIVE);
}

static size_t
default_stack_size(void)
{
    pthread_attr_t attr;
    size_t size = 8 << 20;

    if (gr_opts.stack_size != 0)
        return gr_opts.stack_size;
    /* glibc's own default: RLIMIT_STACK, or its architecture default when unlimited. */
    if (pthread_getattr_default_np(&attr) == 0) {
        pthread_attr_getstacksize(&attr, &size);
        pthread_attr_destroy(&attr);
    }
    return size;
}

void
gr_go_native_quiet(void)
{
    gr_store(&gr_state, GR_STATE_NATIVE);
}

static struct gr_atomic_u8 booted; /* atomic: store-release once the scheduler runs */

bool
gr_sched_booted(void)
{
    return gr_load_acquire(&booted);
}

static int
detect_procs(void)
{
    cpu_set_t set;

    if (gr_real.sched_getaffinity(0, sizeof(set), &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    return 1;
}

/* The Ps: nprocs of them, and as many spares again to begin with (spare.c makes more). */
static int
make_ps(int nprocs)
{
    int nallp = nprocs + (nprocs < GR_SPARES_MAX ? nprocs : GR_SPARES_MAX);

    gr_sched.nprocs = nprocs;
    for (int i = 0; i < nallp; i++) {
        struct p *pp = gr_p_new(i);
        if (pp == NULL)
            return -1;
        gr_sched.allp[i] = pp;
        gr_store_relaxed(&gr_sched.nallp, i + 1);
        if (i >= nprocs) {
            pp->spare = true;
            pp->link = gr_sched.pspare;
            gr_sched.pspare = pp;
        }
    }
    return 0;
}

/* Boot the scheduler: Ps, M0 running the main G, sysmon. 0, or -1 (nothing started yet). */
static int
boot_sched(int nprocs)
{
    struct m *m0;
    struct g *mg;

    if (nprocs <= 0)
        nprocs = detect_procs();
    if (nprocs > GR_PROCS_MAX)
        nprocs = GR_PROCS_MAX;
    if (make_ps(nprocs) != 0)
        return -1;
    gr_sys_init(!gr_opts.fs_syscall);
    gr_fd_reserve_init();
    m0 = gr_m_adopt_initial();
    if (m0 == NULL || (mg = gr_g_adopt_main(m0)) == NULL)
        return -1;
    gr_sigroute_leader(mg);
    gr_acquirep(m0, gr_sched.allp[0]);
    gr_lock(&gr_sched.lock);
    for (int i = nprocs - 1; i >= 1; i--)
        gr_pidle_put(gr_sched.allp[i]);
    gr_unlock(&gr_sched.lock);

    gr_store_release(&booted, true);
    pthread_atfork(NULL, NULL, gr_fork_child);
    gr_blockrec_config(gr_opts.blocking_live_ns, gr_opts.report_path);
    if (gr_opts.blocking && !gr_newm(NULL, false, true, gr_blockrec_reporter_main))
        gr_print("greenrun: warning: cannot start the blocking reporter\n");
    if (!gr_newm(NULL, false, true, gr_sysmon_main))
        gr_print("greenrun: warning: cannot start sysmon\n");
    else
        gr_sigroute_start();
    gr_trace_start_writer();
    return 0;
}

void
gr_boot(void)
{
    if (gr_load_acquire(&gr_state) != GR_STATE_PRE_INIT)
        return;
    if (gr_sys_gettid() != gr_sys_getpid())
        return;
    gr_lock(&boot_lock);
    if (gr_load_relaxed(&gr_state) != GR_STATE_PRE_INIT) {
        gr_unlock(&boot_lock);
        return;
    }
    if (gr_tls_probe() != 0) {
        gr_go_native("unsupported glibc thread descriptor layout");
    } else {
        gr_stack_init(default_stack_size());
        gr_sysmon_config(gr_opts.schedtrace_ms);
        if (gr_tls_setxid_init() != 0 || gr_preempt_init() != 0 || boot_sched(gr_opts.procs) != 0) {
            gr_go_native("cannot set up the scheduler");
        } else {
            gr_store_release(&gr_state, GR_STATE_RUNNING);
            gr_dump_boot(gr_opts.quit);
            gr_gc_boot();
            if (gr_opts.banner)
                gr_print("greenrun: active, version %s, %d procs, pid %d, switches with %s\n",
                         GR_VERSION, gr_sched.nprocs, (int)gr_sys_getpid(),
                         gr_sys_fsgsbase() ? "wrfsbase" : "arch_prctl");
        }
    }
    gr_unlock(&boot_lock);
}

void
gr_print_stats(void)
{
    if (!gr_opts.stats || gr_load(&gr_state) != GR_STATE_RUNNING)
        return;
    gr_print("greenrun: stats: threads created %lu, peak live %d, switches %lu, steals %lu, "
             "Ms %d, guard pages %d, unguarded stacks %d\n",
             (unsigned long)gr_load_relaxed(&gr_sched.ncreated),
             gr_load_relaxed(&gr_sched.peaklive), (unsigned long)gr_load_relaxed(&gr_sched.nswitch),
             (unsigned long)gr_load_relaxed(&gr_sched.nsteal), gr_load(&gr_sched.mcount),
             gr_load(&gr_stack_guards), gr_load(&gr_stack_unguarded));
    if (!gr_malloc_system)
        gr_malloc_print_stats();
}

void
gr_print_blocking(void)
{
    if (!gr_opts.blocking || gr_load(&gr_state) != GR_STATE_RUNNING)
        return;
    gr_blockrec_report(gr_opts.blocking_print);
}
