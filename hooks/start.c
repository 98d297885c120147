/*
 * hooks/start.c: __libc_start_main, where the runtime boots: every library is initialised by
 * then and the initial thread is still the only one (DESIGN.md "Boot order").
 */
#include "hooks/hook.h"

GR_EXPORT int
__libc_start_main(int (*main_fn)(int, char **, char **), int argc, char **argv,
                  void (*init)(void), void (*fini)(void), void (*rtld_fini)(void),
                  void *stack_end)
{
    gr_boot();
    return gr_real.__libc_start_main(main_fn, argc, argv, init, fini, rtld_fini, stack_end);
}
