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
#include "runtime/debug.h"
#include "runtime/gc.h"
#include "runtime/libc.h"
#include "runtime/malloc.h"
#include "runtime/sema.h"
#include "runtime/sys.h"

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
    if (gr_libc_resolve(&missing) != 0) {
        char why[128];
        gr_snprint(why, sizeof(why), "this libc has no %s", missing);
        gr_go_native(why);
    } else {
        /* glibc's functions are known now: new objects may go to them. */
        gr_malloc_system = cfg.malloc_system;
        gr_gc_configure(cfg.gc, cfg.gc_report);
    }
}

__attribute__((destructor)) static void
gr_destructor(void)
{
    /* -z initfirst makes this destructor the last: the program's exit handlers and the other
     * libraries' destructors have run, so what they freed is not reported. */
    gr_gc_exit();
    gr_print_stats();
    gr_print_blocking();
}
