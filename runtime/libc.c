/*
 * runtime/libc.c: resolution of the real functions (see libc.h).
 */
#include "runtime/libc.h"

#include <dlfcn.h>

struct gr_real gr_real;
struct gr_real_compat gr_real_compat;

int
gr_libc_resolve(const char **missing)
{
    void *p;

#define HOOK(fam, name, ver)                                         \
    p = (ver)[0] != '\0' ? dlvsym(RTLD_NEXT, #name, ver) : NULL;     \
    if (p == NULL)                                                   \
        p = dlsym(RTLD_NEXT, #name);                                 \
    if (p == NULL) {                                                 \
        *missing = #name;                                            \
        return -1;                                                   \
    }                                                                \
    gr_real.name = (__typeof__(gr_real.name))p;
#define COMPAT(fam, name, old, new)                                  \
    p = dlvsym(RTLD_NEXT, #name, old);                               \
    if (p == NULL) {                                                 \
        *missing = #name "@" old;                                    \
        return -1;                                                   \
    }                                                                \
    gr_real_compat.name = (__typeof__(gr_real_compat.name))p;
#include "runtime/libc.def"
#undef COMPAT
#undef HOOK
    return 0;
}
