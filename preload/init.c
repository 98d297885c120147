/*
 * preload/init.c: the shared object's constructor and destructor.
 *
 * libgreenrun.so is linked with -z initfirst, so this constructor runs before every other
 * library's and before libc has finished initialising itself (DESIGN.md "Boot order"). It only
 * reads GREENRUN_* from its envp argument (never getenv) and resolves the real functions; a
 * bad value stops the program here, before it runs. The runtime boots later, in the
 * __libc_start_main hook (runtime/boot.c).
 */
#include "preload/config.h"
#include "runtime/boot.h"
#include "runtime/control.h"
#include "runtime/debug.h"
#include "runtime/dump.h"
#include "runtime/gc.h"
#include "runtime/libc.h"
#include "runtime/malloc.h"
#include "runtime/sema.h"
#include "runtime/sys.h"
#include "runtime/trace.h"

#include <errno.h>
#include <sys/auxv.h>

/* Start the timeline (GREENRUN_TRACE): never for a set-user-ID or set-group-ID program, whose
 * environment someone else chose; a file that cannot be created leaves the program untraced. */
static void
trace_start(const char *path)
{
    const char *why;
    int err;

    if (getauxval(AT_SECURE) != 0) {
        gr_print("greenrun: GREENRUN_TRACE ignored: the program runs set-user-ID or "
                 "set-group-ID\n");
        return;
    }
    err = gr_trace_open(path);
    if (err == 0)
        return;
    switch (-err) {
    case EEXIST:
        why = "the file exists";
        break;
    case ENOENT:
        why = "no such directory";
        break;
    case EACCES:
        why = "permission denied";
        break;
    case ENAMETOOLONG:
        why = "the name is too long";
        break;
    default:
        why = "cannot create it";
        break;
    }
    gr_print("greenrun: GREENRUN_TRACE=\"%s\": %s (errno %d); expected a new file in an "
             "existing directory; running without a trace\n",
             path, why, -err);
}

__attribute__((constructor)) static void
gr_constructor(int argc, char **argv, char **envp)
{
    struct gr_config cfg;
    char err[256];
    const char *missing = NULL;

    (void)argc;
    (void)argv;
    /* First of all handlers: the allocator's prepare runs after every other (which may
     * malloc), its child handler first (DESIGN.md "fork"). */
    pthread_atfork(gr_malloc_fork_prepare, gr_malloc_fork_parent, gr_malloc_fork_child);
    gr_sema_init();
    if (gr_config_parse(&cfg, envp, err, sizeof(err)) != 0) {
        gr_print("%s\n", err);
        gr_sys_exit_group(2);
    }
    gr_opts.procs = cfg.procs;
    gr_opts.stack_size = cfg.stack_size;
    gr_opts.schedtrace_ms = cfg.schedtrace_ms;
    gr_opts.banner = cfg.banner;
    gr_opts.stats = cfg.stats;
    gr_opts.blocking = cfg.blocking || cfg.report_path != NULL;
    gr_opts.blocking_print = cfg.blocking;
    if (cfg.blocking_live)
        gr_opts.blocking_live_ns = cfg.live_threshold_ns > 0 ? cfg.live_threshold_ns : 10000000LL;
    gr_opts.report_path = cfg.report_path;
    gr_opts.fs_syscall = cfg.fs_syscall;
    gr_opts.quit = cfg.quit_exit ? GR_QUIT_EXIT : GR_QUIT_DUMP;
    if (cfg.trace != NULL)
        trace_start(cfg.trace);
    if (gr_libc_resolve(&missing) != 0) {
        char why[128];
        gr_snprint(why, sizeof(why), "this libc has no %s", missing);
        gr_go_native(why);
    } else {
        /* glibc's functions are known now: new objects may go to them. */
        gr_malloc_system = cfg.malloc_system;
        gr_gc_configure(cfg.gc, cfg.gc_report);
        gr_gc_pacer(cfg.gc_percent, cfg.gctrace);
    }
}

__attribute__((destructor)) static void
gr_destructor(void)
{
    gr_trace_finish();
    /* -z initfirst makes this destructor the last: the program's exit handlers and the other
     * libraries' destructors have run, so what they freed is not reported. */
    gr_gc_exit();
    gr_print_stats();
    gr_print_blocking();
    gr_control_exit();
}
