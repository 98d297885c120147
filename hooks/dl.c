/*
 * hooks/dl.c: dlopen and dl_iterate_phdr.
 *
 * A module that uses the initial-exec TLS model (DF_STATIC_TLS) and is loaded after threads
 * exist gets a slot in the static TLS area of every thread, which glibc fills only in the
 * threads it lists (the Ms): after the real dlopen the runtime copies the module's TLS image
 * into every live G (gr_tls_spread_static). The module's own constructors ran in the
 * dlopening G before the copy and saw zeros there; that much is documented.
 *
 * dl_iterate_phdr runs its callbacks holding ld.so's lock, which the leak mode's unwinder
 * (libunwind) takes inside malloc: gr_gc_iterate_phdr keeps the two apart (runtime/gc.c).
 *
 * Locks: none of its own (runtime/tls.c).
 */
#include <dlfcn.h>
#include <link.h>

#include "hooks/hook.h"

GR_EXPORT void *
dlopen(const char *file, int mode)
{
    void *h = gr_real.dlopen(file, mode);

    if (h != NULL && gr_sched_booted() && !gr_hook_native())
        gr_tls_spread_static(h);
    return h;
}

GR_EXPORT int
dl_iterate_phdr(int (*callback)(struct dl_phdr_info *info, size_t size, void *data), void *data)
{
    if (!gr_gc_leak)
        return gr_real.dl_iterate_phdr(callback, data);
    return gr_gc_iterate_phdr(callback, data);
}
