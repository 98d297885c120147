/*
 * runtime/fork.c: the fork child keeps one M, running the forking G (DESIGN.md "fork and
 * exec").
 *
 * Locks: none; in the child only this thread exists, so every runtime lock is reset.
 */
#include "runtime/fork.h"

#include <string.h>
#include <sys/syscall.h>

#include "runtime/blockrec.h"
#include "runtime/boot.h"
#include "runtime/control.h"
#include "runtime/cputime.h"
#include "runtime/debug.h"
#include "runtime/dump.h"
#include "runtime/g.h"
#include "runtime/m.h"
#include "runtime/mem.h"
#include "runtime/netpoll.h"
#include "runtime/preempt.h"
#include "runtime/proc.h"
#include "runtime/sema.h"
#include "runtime/sigroute.h"
#include "runtime/stack.h"
#include "runtime/sys.h"
#include "runtime/sysmon.h"
#include "runtime/tls.h"
#include "runtime/trace.h"

#define RSEQ_FLAG_UNREGISTER 1
#define RSEQ_SIG             0x53053053 /* glibc's signature for x86_64 */

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

    gr_trace_fork_child(); /* the trace file is the parent's */
    if (!gr_sched_booted())
        return;
    if (gp == NULL) {
        gr_go_native_quiet(); /* forked from a thread the runtime does not own */
        return;
    }
    mp = gr_getm();
    /* The kernel's rseq area for this thread lies in the recycled descriptor. */
    gr_syscall4(SYS_rseq, gr_tls.rseq_cpu_off != 0 ? mp->sysdesc + gr_tls.rseq_cpu_off - 4 : 0, 32,
                RSEQ_FLAG_UNREGISTER, RSEQ_SIG);

    gr_lock_reset(&gr_sched.lock);
    gr_lock_reset(&gr_sched.glock);
    gr_sema_fork_child();
    gr_mem_fork_child();
    gr_stack_fork_child();
    gr_blockrec_fork_child();
    gr_dump_fork_child();
    gr_control_fork_child();

    for (struct m *om = gr_load(&gr_sched.allm); om != NULL; om = om->alllink)
        gr_m_close_proc(om);
    mp->tid = gr_sys_gettid();
    mp->sysdesc = gp->tp;
    mp->alllink = NULL;
    mp->spinning = false;
    mp->schedlink = NULL;
    gr_store_relaxed(&mp->preempt, 0);
    gr_preempt_timer_init(mp); /* the parent's timers are not the child's */
    gr_store_relaxed(&mp->cancel_target, NULL);
    gr_note_clear(&mp->park);
    gr_m_open_proc(mp);
    if (!gr_m_build_g0(mp))
        gr_throw("fork child: cannot build a scheduler stack");

    gr_store_relaxed(&gr_sched.allm, mp);
    gr_store_relaxed(&gr_sched.mcount, 1);
    gr_sched.midle = NULL;
    gr_store_relaxed(&gr_sched.nmidle, 0);
    gr_store_relaxed(&gr_sched.nmspinning, 0);
    gr_sched.sleeper = NULL;
    gr_store_relaxed(&gr_sched.sleep_until, 0);
    gr_store_relaxed(&gr_sched.netpolling, 0);
    gr_sched.runqhead = gr_sched.runqtail = gr_sched.runqwake = NULL;
    gr_store_relaxed(&gr_sched.nrunqwake, 0);
    gr_store_relaxed(&gr_sched.runqsize, 0);
    gr_sched.pidle = NULL;
    gr_store_relaxed(&gr_sched.npidle, 0);
    gr_sched.pspare = NULL;
    gr_store_relaxed(&gr_sched.stuckp, NULL);
    gr_lock(&gr_sched.lock);
    for (int i = gr_nallp() - 1; i >= 0; i--) {
        struct p *pp = gr_sched.allp[i];
        gr_lock_reset(&pp->timers.lock);
        pp->timers.len = 0;
        gr_store_relaxed(&pp->timers.next_when, INT64_MAX);
        gr_store_relaxed(&pp->runqhead, 0);
        gr_store_relaxed(&pp->runqtail, 0);
        gr_store_relaxed(&pp->runnext, NULL);
        pp->stuck = NULL;
        pp->sysmon_blocked = 0; /* the parent's sysmon was following it */
        pp->sysmon_blocked_rec = false;
        if (pp == mp->p)
            continue;
        gr_store_relaxed(&pp->status, P_IDLE);
        gr_store_relaxed(&pp->m, NULL);
        if (pp->spare) {
            pp->link = gr_sched.pspare;
            gr_sched.pspare = pp;
        } else {
            gr_pidle_put(pp);
        }
    }
    gr_unlock(&gr_sched.lock);
    gp->allnext = gp->allprev = NULL;
    gr_sched.allg = gp;
    gr_g_fork_child(gp);
    gr_cputime_fork_child(mp, gp);
    gr_store_relaxed(&gr_sched.ng, 1);
    gr_store_relaxed(&gr_sched.nlive, 1);
    gr_sigroute_fork_child(gp);
    gr_netpoll_fork_child();
    if (!gr_newm(NULL, false, true, gr_sysmon_main))
        gr_print("greenrun: warning: cannot start sysmon in the fork child\n");
    else
        gr_sigroute_start();
}
