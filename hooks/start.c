/*
 * hooks/start.c: __libc_start_main, where the runtime boots: every library is initialised by
 * then and the initial thread is still the only one (DESIGN.md "Boot order").
 *
 * Locks: none.
 */
#include "hooks/hook.h"

static int (*program_main)(int, char **, char **);

static int
main_trampoline(int argc, char **argv, char **envp)
{
    return gr_run_main(program_main, argc, argv, envp);
}

GR_EXPORT int
__libc_start_main(int (*main_fn)(int, char **, char **), int argc, char **argv, void (*init)(void),
                  void (*fini)(void), void (*rtld_fini)(void), void *stack_end)
{
    gr_boot();
    if (gr_hook_native())
        return gr_real.__libc_start_main(main_fn, argc, argv, init, fini, rtld_fini, stack_end);
    program_main = main_fn;
    return gr_real.__libc_start_main(main_trampoline, argc, argv, init, fini, rtld_fini, stack_end);
}
